//! Who may make a request, decided once per request:
//!
//! 1. **Cross-site requests** ([`refuse_cross_site`]): a request that changes state (any
//!    method but GET/HEAD/OPTIONS) must prove it comes from the console's own pages: an
//!    `Origin` equal to the public URL's (scheme, host and port) and to the `Host`, or without
//!    an `Origin`, `Sec-Fetch-Site: same-origin`. A `Sec-Fetch-Site` other than `same-origin`
//!    (`none` too: a typed address or a bookmark never posts) is refused, whatever the
//!    `Origin`. Otherwise it is refused with `E-AUTH-005`.
//!    Together with the SameSite=Strict session cookie this is the CSRF protection (OWASP's
//!    "verifying origin with standard headers").
//! 2. **Session** ([`resolve_session`]): the cookie is resolved once and the result put in
//!    the request's extensions as a [`RequestSession`], for server functions and for the
//!    extractors below; an expired session's cookie is cleared.
//! 3. **Who the handler serves**: a handler that needs a signed-in console user takes a
//!    [`ConsoleUser`] (or a [`Master`]) argument; without one the request is refused with
//!    `E-AUTH-003` (or `E-AUTH-004`) before the handler runs.

use super::error::WebError;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use certdesk_backend::Actor;
use certdesk_backend::{cookie_header, token_from_cookie_header, RequestSession};
use certdesk_backend::{Backend, CurrentUser, ServiceError, Serving, SessionLookup};
use certdesk_domain::AuthError;
use certdesk_domain::Role;

/// Refuses a state-changing request that does not come from the console's own pages.
pub async fn refuse_cross_site(
    State(backend): State<Backend>,
    req: Request,
    next: Next,
) -> Response {
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers().get(header::HOST)?.to_str().ok());
    if changes_state && !is_same_origin(req.headers(), host, &backend.settings().serving) {
        tracing::warn!(http.path = %req.uri().path(), "cross-site request refused");
        return WebError::from(ServiceError::from(AuthError::CrossSiteRequest)).into_response();
    }
    next.run(req).await
}

/// True if a state-changing request comes from the console's own pages (see the module
/// documentation); `host` is the authority the request names.
pub fn is_same_origin(headers: &HeaderMap, host: Option<&str>, serving: &Serving) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let site = text("sec-fetch-site");
    if site.is_some_and(|s| s != "same-origin") {
        return false;
    }
    match text("origin") {
        Some(origin) => serving.allows_origin(origin, host),
        None => site == Some("same-origin"),
    }
}

/// Resolves the session cookie into a [`RequestSession`] in the request's extensions, and
/// clears the cookie of a session that expired.
pub async fn resolve_session(
    State(backend): State<Backend>,
    mut req: Request,
    next: Next,
) -> Response {
    let secure = backend.settings().secure_cookies;
    let token = req
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| token_from_cookie_header(v, secure));
    let mut session = RequestSession {
        token: token.clone(),
        ..RequestSession::default()
    };
    if let Some(token) = token {
        match backend.resolve_session(token).await {
            Ok(SessionLookup::Valid(user)) => session.user = Some(user),
            Ok(SessionLookup::Expired) => session.expired = true,
            Ok(SessionLookup::Unknown) => {}
            Ok(SessionLookup::Pending(pending)) => session.pending = Some(pending),
            Err(e) => return WebError::from(e).into_response(),
        }
    }
    let expired = session.expired;
    req.extensions_mut().insert(session);
    let mut resp = next.run(req).await;
    if expired {
        clear_cookie_unless_renewed(&backend, &mut resp);
    }
    resp
}

/// Clears the session cookie, unless the response sets a new one (a sign-in with the old
/// cookie still in the browser must keep the new session).
fn clear_cookie_unless_renewed(backend: &Backend, resp: &mut Response) {
    let secure = backend.settings().secure_cookies;
    let sets_new = resp.headers().get_all(header::SET_COOKIE).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            token_from_cookie_header(v.split(';').next().unwrap_or(""), secure).is_some()
        })
    });
    if sets_new {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(&cookie_header(None, secure)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The session [`resolve_session`] found, or none (a route outside its layer).
pub fn request_session(parts: &Parts) -> Option<&RequestSession> {
    parts.extensions.get::<RequestSession>()
}

/// The signed-in console user (a master or an admin), as a handler argument.
/// Refused with `E-AUTH-003` when the request has no valid session.
#[derive(Debug, Clone)]
pub struct ConsoleUser(pub CurrentUser);

impl ConsoleUser {
    /// Who the audit log records for this request.
    pub fn actor(&self) -> Actor {
        self.0.actor()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ConsoleUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, WebError> {
        request_session(parts)
            .and_then(|s| s.user.clone())
            .map(ConsoleUser)
            .ok_or_else(|| ServiceError::from(AuthError::NotSignedIn).into())
    }
}

/// The signed-in master, as a handler argument. Refused with `E-AUTH-003` without a
/// session, `E-AUTH-004` for an admin.
#[derive(Debug, Clone)]
pub struct Master(pub CurrentUser);

impl Master {
    /// Who the audit log records for this request.
    pub fn actor(&self) -> Actor {
        self.0.actor()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Master {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        let ConsoleUser(user) = ConsoleUser::from_request_parts(parts, state).await?;
        if user.role != Role::Master {
            return Err(ServiceError::from(AuthError::Forbidden).into());
        }
        Ok(Master(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_is_proven_by_the_public_origin_or_sec_fetch_site() {
        let serving = Serving::default();
        let host = Some("127.0.0.1:3000");
        let same = |pairs: &[(&'static str, &'static str)]| {
            is_same_origin(&headers(pairs), host, &serving)
        };
        assert!(same(&[("sec-fetch-site", "same-origin")]));
        assert!(same(&[("origin", "http://127.0.0.1:3000")]));
        assert!(same(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "http://127.0.0.1:3000")
        ]));
        assert!(!same(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://127.0.0.1:3000")
        ]));
        assert!(!same(&[("sec-fetch-site", "same-site")]));
        assert!(!same(&[("sec-fetch-site", "none")]));
        assert!(!same(&[
            ("sec-fetch-site", "none"),
            ("origin", "http://127.0.0.1:3000")
        ]));
        assert!(!same(&[("origin", "http://evil.example")]));
        assert!(!same(&[("origin", "https://127.0.0.1:3000")]));
        assert!(!same(&[("origin", "http://127.0.0.1:3001")]));
        assert!(!same(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "http://evil.example")
        ]));
        assert!(!same(&[]));
        assert!(!same(&[("origin", "null")]));
    }

    fn parts_signed_in_as(role: Option<Role>) -> Parts {
        let mut req = Request::new(axum::body::Body::empty());
        let user = role.map(|role| CurrentUser {
            id: 7,
            login_id: "master01".into(),
            name: "管理 花子".into(),
            role,
        });
        req.extensions_mut().insert(RequestSession {
            user,
            ..RequestSession::default()
        });
        req.into_parts().0
    }

    fn status_of(rejection: WebError) -> StatusCode {
        rejection.into_response().status()
    }

    #[tokio::test]
    async fn a_console_user_is_whoever_the_session_names() {
        let mut parts = parts_signed_in_as(Some(Role::Admin));
        let ConsoleUser(user) = ConsoleUser::from_request_parts(&mut parts, &())
            .await
            .expect("signed in");
        assert_eq!(user.login_id, "master01");
    }

    #[tokio::test]
    async fn without_a_session_the_console_user_is_refused_with_401() {
        let mut parts = parts_signed_in_as(None);
        let rejection = ConsoleUser::from_request_parts(&mut parts, &())
            .await
            .expect_err("refused");
        assert_eq!(status_of(rejection), StatusCode::UNAUTHORIZED);
        let mut outside = Request::new(axum::body::Body::empty()).into_parts().0;
        let rejection = ConsoleUser::from_request_parts(&mut outside, &())
            .await
            .expect_err("refused");
        assert_eq!(status_of(rejection), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn only_a_master_is_a_master() {
        let mut master = parts_signed_in_as(Some(Role::Master));
        assert!(Master::from_request_parts(&mut master, &()).await.is_ok());
        let mut admin = parts_signed_in_as(Some(Role::Admin));
        let rejection = Master::from_request_parts(&mut admin, &())
            .await
            .expect_err("refused");
        assert_eq!(status_of(rejection), StatusCode::FORBIDDEN);
        let mut nobody = parts_signed_in_as(None);
        let rejection = Master::from_request_parts(&mut nobody, &())
            .await
            .expect_err("refused");
        assert_eq!(status_of(rejection), StatusCode::UNAUTHORIZED);
    }
}
