//! The axum router: the routes in groups by who may use them, each group one `Router`
//! merged into the whole, so that adding a route is one line in its group:
//!
//! | group | who | what runs before the handler |
//! |---|---|---|
//! | [`public::assets`]: health, stylesheet, wasm bundle, `/ca/*` | anyone | nothing |
//! | [`public::forms`]: pickup download | anyone | cross-site check, session, attempt limit |
//! | [`downloads`]: certificates, CSVs, distribution files, `/ca/cfssl/*` | signed-in ([`ConsoleUser`]) | cross-site check, session |
//! | [`console`]: pages and server functions | pages by the page rules; server functions check themselves | cross-site check, session, page rules; attempt limit for `sign_in`, `setup` |
//!
//! Around all of them: the Host allowlist (421) and the security headers ([`headers`]).
//! What the checks do is in [`access`]; the attempt limit on anonymous routes that check a
//! secret (sign-in, setup, pickup) is in [`limits`]; every refusal and failure is a [`WebError`].

mod access;
mod bundle;
mod console;
mod downloads;
pub mod enroll;
pub mod enroll_assets;
mod error;
mod headers;
mod limits;
mod public;

pub use access::{is_same_origin, ConsoleUser, Master};
pub use error::WebError;
pub use limits::{limit_attempts, AttemptLimiter};

use axum::body::HttpBody as _;
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::Router;
use certdesk_backend::Backend;
use leptos::config::LeptosOptions;
use std::path::{Path, PathBuf};
use tower_http::set_header::SetResponseHeaderLayer;

/// The wasm bundle's name: `pkg/certdesk.js` and `pkg/certdesk_bg.wasm` under the site root.
pub const OUTPUT_NAME: &str = "certdesk";

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub backend: Backend,
}

impl axum::extract::FromRef<AppState> for Backend {
    fn from_ref(state: &AppState) -> Self {
        state.backend.clone()
    }
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Where the wasm bundle is looked for when no `--site-root` is given: `./target/site` if it
/// exists, else the workspace's `target/site` (where `scripts/build-wasm` writes it).
pub fn default_site_root() -> PathBuf {
    let local = PathBuf::from("target/site");
    if local.join("pkg").exists() {
        local
    } else {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/site"))
    }
}

/// The whole console as one router.
pub fn router(backend: Backend, site_root: &Path) -> Router {
    let leptos_options = bundle::leptos_options(site_root);
    let state = AppState {
        leptos_options,
        backend: backend.clone(),
    };
    let attempts = AttemptLimiter::new(backend.settings().attempt_limits);
    let with_session = Router::new()
        .merge(public::forms(&attempts))
        .merge(enroll::routes(&attempts))
        .merge(downloads::routes())
        .merge(console::routes(&state, &attempts))
        .layer(middleware::from_fn_with_state(
            backend.clone(),
            access::resolve_session,
        ))
        .layer(middleware::from_fn_with_state(
            backend.clone(),
            access::refuse_cross_site,
        ));
    Router::new()
        .merge(public::assets(site_root))
        .merge(crate::enroll_page::routes(site_root))
        .route(
            crate::sheet::PRINT_SCRIPT_PATH,
            axum::routing::get(crate::sheet::print_script),
        )
        .merge(with_session)
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // Every route: a body over the limit is refused with 413 (coded) before a handler
        // reads it; one without a length stops being read at the limit.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            certdesk_app::error::MAX_REQUEST_BYTES,
        ))
        .layer(middleware::map_response(coded_too_large))
        // A body whose declared length is over the limit is read to its end and dropped first
        // (up to DRAIN_BYTES, for DRAIN_TIME at most): a client still sending then reads the
        // 413 instead of a connection reset (a browser's upload of a file that is too big).
        .layer(middleware::from_fn(drain_oversized))
        // Outside everything: a foreign Host is refused before any handler (421), and every
        // answer, that one too, gets the security headers.
        .layer(middleware::from_fn_with_state(
            backend.clone(),
            headers::refuse_foreign_host,
        ))
        .layer(middleware::from_fn_with_state(
            backend,
            headers::security_headers,
        ))
        .with_state(state)
}

/// A declared body up to this size over the limit is read and dropped before the 413.
const DRAIN_BYTES: u64 = 4 * certdesk_app::error::MAX_REQUEST_BYTES as u64;
/// The longest a refused body is read for before the 413 is sent anyway.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// A request whose `Content-Length` is over the limit is refused with the coded 413 without
/// reaching a handler. Answered at once, a client still sending its body gets a reset instead
/// of the answer (the kernel drops the unread bytes and resets the connection); so a body up
/// to `DRAIN_BYTES` is first read and dropped (never kept: one frame at a time), for at most
/// `DRAIN_TIME`, and the answer closes the connection. A larger one is answered at once.
async fn drain_oversized(request: axum::extract::Request, next: middleware::Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(length) = declared.filter(|n| *n > certdesk_app::error::MAX_REQUEST_BYTES as u64)
    else {
        return next.run(request).await;
    };
    if length <= DRAIN_BYTES {
        let mut body = request.into_body();
        let drain = std::future::poll_fn(|cx| loop {
            match std::pin::Pin::new(&mut body).poll_frame(cx) {
                std::task::Poll::Ready(Some(Ok(_))) => continue,
                std::task::Poll::Ready(_) => return std::task::Poll::Ready(()),
                std::task::Poll::Pending => return std::task::Poll::Pending,
            }
        });
        let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
    }
    let mut response = too_large();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The coded 413 (`E-WEB-004`).
fn too_large() -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        axum::Json(certdesk_app::error::UiError::too_large(None)),
    )
        .into_response()
}

/// A limit layer's bare 413 as the coded error body every refusal has (`E-WEB-004`); the
/// console's router and the check listener's renewal routes both map their answers with it.
pub(crate) async fn coded_too_large(response: Response) -> Response {
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE
        || response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.to_str().is_ok_and(|t| t.starts_with("application/json")))
    {
        return response;
    }
    too_large()
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found")
}

/// A file to save, never cached.
fn attachment(file_name: &str, content_type: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bytes,
    )
        .into_response()
}
