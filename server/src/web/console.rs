//! The console: the Leptos pages and the server functions they call, and where a page
//! request may go ([`page_rules`]). Server functions check the session themselves (through
//! the [`RequestSession`] in the request's extensions) and answer with an error code, never a
//! redirect.

use super::limits::{limit_attempts, AttemptLimiter};
use super::AppState;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use certdesk_app::{shell, App};
use certdesk_backend::Backend;
use certdesk_backend::RequestSession;
use certdesk_domain::otp::SignInNext;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};

/// Where the server functions are served (the `prefix` of every `#[server]` in `app`).
const SERVER_FN_PREFIX: &str = "/api/";

/// The server functions anyone may call that check a secret: they take the attempt limit
/// ([`limit_attempts`]). A new one is one more name here.
const LIMITED_SERVER_FNS: &[&str] = &["sign_in", "setup", "otp_sign_in", "otp_resync"];

/// The pages, the server functions, and the not-found answer for any other path.
pub(super) fn routes(state: &AppState, attempts: &AttemptLimiter) -> Router<AppState> {
    let context_backend = state.backend.clone();
    let leptos_options = state.leptos_options.clone();
    Router::new()
        .leptos_routes_with_context(
            state,
            generate_route_list(App),
            move || provide_context(context_backend.clone()),
            move || shell(leptos_options.clone()),
        )
        .fallback(super::not_found)
        .layer(middleware::from_fn_with_state(
            attempts.clone(),
            limit_server_fns,
        ))
        .layer(middleware::from_fn_with_state(
            state.backend.clone(),
            page_rules,
        ))
}

/// Passes the server functions in [`LIMITED_SERVER_FNS`] through [`limit_attempts`].
async fn limit_server_fns(
    State(attempts): State<AttemptLimiter>,
    req: Request,
    next: Next,
) -> Response {
    let limited = req
        .uri()
        .path()
        .strip_prefix(SERVER_FN_PREFIX)
        .is_some_and(|name| LIMITED_SERVER_FNS.contains(&name));
    if limited {
        limit_attempts(State(attempts), req, next).await
    } else {
        next.run(req).await
    }
}

/// Sends a page request where it may go (see [`page_redirect`]); anything else passes.
async fn page_rules(State(backend): State<Backend>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if req.method() == Method::GET && !path.starts_with(SERVER_FN_PREFIX) {
        let session = req.extensions().get::<RequestSession>();
        if let Some(pending) = session.and_then(|s| s.pending.as_ref()) {
            if let Some(target) = pending_redirect(path, pending.next) {
                return Redirect::to(target).into_response();
            }
            return next.run(req).await;
        }
        let signed_in = session.is_some_and(|s| s.user.is_some());
        let expired = session.is_some_and(|s| s.expired);
        if let Some(target) = page_redirect(path, backend.needs_setup(), signed_in, expired) {
            return Redirect::to(target).into_response();
        }
    }
    next.run(req).await
}

/// Where a page request is sent instead, if anywhere: before setup everything leads to
/// `/setup`; after it `/setup` is gone (it leads to `/login`, or home when signed in); the
/// pickup page is for general users (no console sign-in); every other page needs a session.
fn page_redirect(
    path: &str,
    needs_setup: bool,
    signed_in: bool,
    expired: bool,
) -> Option<&'static str> {
    if needs_setup {
        (path != "/setup").then_some("/setup")
    } else if path == "/setup" {
        Some(if signed_in { "/" } else { "/login" })
    } else if path == "/pickup" {
        None
    } else if !signed_in && path != "/login" {
        Some(if expired {
            "/login?expired=1"
        } else {
            "/login"
        })
    } else if signed_in && path == "/login" {
        Some("/")
    } else {
        None
    }
}

/// Where a session that passed the password but waits for the one-time password (sign-in
/// page, code step) or its enrolment (the One-time password page) may go: nowhere else.
fn pending_redirect(path: &str, next: SignInNext) -> Option<&'static str> {
    match next {
        SignInNext::Enrol => (path != "/otp").then_some("/otp"),
        SignInNext::Code | SignInNext::Done => (path != "/login").then_some("/login?step=code"),
    }
}

#[cfg(test)]
mod tests {
    use super::page_redirect;

    #[test]
    fn a_session_waiting_for_its_one_time_password_reaches_only_its_step() {
        use super::{pending_redirect, SignInNext};
        assert_eq!(
            pending_redirect("/", SignInNext::Code),
            Some("/login?step=code")
        );
        assert_eq!(pending_redirect("/login", SignInNext::Code), None);
        assert_eq!(pending_redirect("/users", SignInNext::Enrol), Some("/otp"));
        assert_eq!(pending_redirect("/otp", SignInNext::Enrol), None);
    }

    #[test]
    fn before_setup_every_page_leads_to_setup() {
        assert_eq!(page_redirect("/", true, false, false), Some("/setup"));
        assert_eq!(page_redirect("/login", true, false, false), Some("/setup"));
        assert_eq!(page_redirect("/setup", true, false, false), None);
    }

    #[test]
    fn after_setup_the_setup_page_is_gone() {
        assert_eq!(page_redirect("/setup", false, false, false), Some("/login"));
        assert_eq!(page_redirect("/setup", false, true, false), Some("/"));
    }

    #[test]
    fn console_pages_need_a_session_and_the_pickup_page_does_not() {
        assert_eq!(page_redirect("/users", false, false, false), Some("/login"));
        assert_eq!(
            page_redirect("/users", false, false, true),
            Some("/login?expired=1")
        );
        assert_eq!(page_redirect("/users", false, true, false), None);
        assert_eq!(page_redirect("/pickup", false, false, false), None);
        assert_eq!(page_redirect("/login", false, false, false), None);
        assert_eq!(page_redirect("/login", false, true, false), Some("/"));
    }
}
