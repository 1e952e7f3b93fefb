//! Self-renewal on the check listener (issue 17): the holder of a current certificate, in its
//! renewal window, renews it with a key their browser makes. Authenticated by the client
//! certificate the browser presented in the TLS handshake ([`CheckPeer`]); no console sign-in.
//!
//! - `POST /check/renew` `{csr}` → the same body as `POST /api/enroll`;
//! - `POST /check/renew/confirm` `{confirm_token}` → 204.
//!
//! Both check `Origin` (it must be the check page's own: `--check-listen`'s URL), take the
//! attempt limit and a 64 KiB body cap; refusals are the coded JSON error body.

use crate::tls::CheckPeer;
use crate::web::enroll::{enrolled_json, read_json, MAX_ENROLL_BODY};
use crate::web::{AttemptLimiter, WebError};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{self, HeaderMap};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use certdesk_backend::{Backend, ServiceError};
use certdesk_domain::enrolment::EnrolmentError;

/// The renewal routes, to merge into the check listener's router. Their attempt budget is the
/// check listener's own, of the same size as the console's (`Settings::attempt_limits`) but
/// apart from it: every request here already presents a certificate of ours, and an address
/// that spent the console's budget on sign-ins can still renew, and the other way round.
pub fn routes(backend: &Backend) -> Router<Backend> {
    let attempts = AttemptLimiter::new(backend.settings().attempt_limits);
    Router::new()
        .route("/check/renew", post(renew))
        .route("/check/renew/confirm", post(confirm))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_ENROLL_BODY))
        .layer(middleware::map_response(crate::web::coded_too_large))
        .layer(Extension(attempts))
}

/// Whether a POST comes from the check page itself: `Origin` is the check URL's origin (or,
/// without a configured check URL, `https://` and the `Host` asked for), and a browser's
/// `Sec-Fetch-Site`, when sent, says same-origin.
pub fn from_check_page(headers: &HeaderMap, check_url: Option<&str>) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s != "same-origin")
    {
        return false;
    }
    let Some(origin) = text(header::ORIGIN) else {
        return false;
    };
    let expected = match check_url {
        Some(url) => match url::Url::parse(url) {
            Ok(u) => u.origin().ascii_serialization(),
            Err(_) => return false,
        },
        None => match text(header::HOST) {
            Some(host) => format!("https://{}", host.to_ascii_lowercase()),
            None => return false,
        },
    };
    origin.eq_ignore_ascii_case(&expected)
}

/// The checks every renewal request passes first: the page's own origin, then the attempt limit.
fn admit(
    backend: &Backend,
    headers: &HeaderMap,
    peer: &CheckPeer,
    attempts: &AttemptLimiter,
) -> Result<(), ServiceError> {
    if !from_check_page(headers, backend.settings().check_url.as_deref()) {
        tracing::warn!("cross-origin renewal request refused");
        return Err(EnrolmentError::WrongOrigin.into());
    }
    attempts.check(Some(peer.addr))
}

#[derive(serde::Deserialize)]
struct RenewBody {
    csr: String,
}

async fn renew(
    State(backend): State<Backend>,
    ConnectInfo(peer): ConnectInfo<CheckPeer>,
    Extension(attempts): Extension<AttemptLimiter>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    admit(&backend, &headers, &peer, &attempts)?;
    let form: RenewBody = read_json(&body)?;
    let presented = peer.certificate.as_ref().map(|c| c.as_ref().clone());
    let enrolled = backend.self_renew(presented, form.csr).await?;
    Ok(enrolled_json(&enrolled)?)
}

#[derive(serde::Deserialize)]
struct ConfirmBody {
    confirm_token: String,
}

async fn confirm(
    State(backend): State<Backend>,
    ConnectInfo(peer): ConnectInfo<CheckPeer>,
    Extension(attempts): Extension<AttemptLimiter>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    admit(&backend, &headers, &peer, &attempts)?;
    let form: ConfirmBody = read_json(&body)?;
    let presented = peer.certificate.as_ref().map(|c| c.as_ref().clone());
    backend
        .confirm_self_renewal(presented, form.confirm_token)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn only_the_check_page_itself_may_post() {
        let url = Some("https://lan.example:8443/check");
        assert!(from_check_page(
            &headers(&[("origin", "https://lan.example:8443")]),
            url
        ));
        assert!(!from_check_page(
            &headers(&[("origin", "https://evil.example")]),
            url
        ));
        assert!(!from_check_page(&headers(&[]), url));
        assert!(!from_check_page(
            &headers(&[
                ("origin", "https://lan.example:8443"),
                ("sec-fetch-site", "cross-site")
            ]),
            url
        ));
        assert!(from_check_page(
            &headers(&[
                ("origin", "https://10.0.0.5:8443"),
                ("host", "10.0.0.5:8443")
            ]),
            None
        ));
    }
}
