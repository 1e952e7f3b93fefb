//! What every answer passes through, outside every route:
//!
//! 1. **Host allowlist** ([`refuse_foreign_host`]): a request whose `Host` (or HTTP/2
//!    `:authority`) is not the console's address ([`Serving`]) is answered `421 Misdirected
//!    Request` with `E-WEB-005` before any handler runs, so a DNS-rebinding page never reaches
//!    the console under a name of its own.
//! 2. **Security headers** ([`security_headers`]): `Strict-Transport-Security` when served
//!    over TLS, `Cross-Origin-Opener-Policy: same-origin`, a Content-Security-Policy (pages set
//!    their own with the page's nonce; every other answer gets the one without), and
//!    `Cache-Control: no-store` on every `/api/*` answer.
//!
//! [`Serving`]: certdesk_backend::Serving

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use certdesk_app::csp::content_security_policy;
use certdesk_app::error::UiError;
use certdesk_backend::Backend;

/// HSTS for a year, over TLS only (a browser ignores it over plain HTTP anyway).
const HSTS: &str = "max-age=31536000";

/// The host the request names: HTTP/2's `:authority` (in the URI) or HTTP/1's `Host`.
fn requested_host(req: &Request) -> Option<&str> {
    req.uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers().get(header::HOST)?.to_str().ok())
}

/// Answers 421 (`E-WEB-005`) to a request for any other host than the console's.
pub async fn refuse_foreign_host(
    State(backend): State<Backend>,
    req: Request,
    next: Next,
) -> Response {
    let settings = backend.settings();
    let host = requested_host(&req).unwrap_or_default();
    if settings.serving.allows_host(host) {
        return next.run(req).await;
    }
    // The Host is chosen by whoever sent it: shown escaped by the JSON, logged in Debug form.
    let shown: String = host.chars().take(100).collect();
    tracing::warn!(http.host = ?shown, http.path = %req.uri().path(), "request for a foreign host refused");
    (
        StatusCode::MISDIRECTED_REQUEST,
        Json(UiError::misdirected(&shown, &settings.public_url)),
    )
        .into_response()
}

/// Adds the security headers every answer carries.
pub async fn security_headers(
    State(backend): State<Backend>,
    req: Request,
    next: Next,
) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    if api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if backend.settings().serving.tls() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        if let Ok(v) = HeaderValue::from_str(&content_security_policy(None)) {
            headers.insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    resp
}
