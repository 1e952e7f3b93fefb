//! Routes open to anyone, without a console session: the health check, the stylesheet, the
//! wasm bundle, the embedded CA's certificate and CRL ([`assets`], served as they are), and
//! the pickup page's download form ([`forms`], which changes state and so passes the
//! cross-site check and the session like every other request).

use super::error::WebError;
use super::limits::{limit_attempts, AttemptLimiter};
use super::AppState;
use axum::extract::{Form, Path as UrlPath, State};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use certdesk_backend::certificate_der;
use certdesk_backend::{pem, Backend, ServiceError};
use certdesk_domain::authority::CertificateAuthority;
use certdesk_domain::external_ca::{CaBackendKind, CaError};
use certdesk_domain::lifecycle::LifecycleError;
use std::path::Path;

const STYLESHEET: &str = include_str!("../../../style/main.css");

/// Served as they are: no session is looked up, no page rule applies.
pub(super) fn assets(site_root: &Path) -> Router<AppState> {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/style/main.css", get(stylesheet))
        .route("/ca/{file}", get(embedded_ca_file))
        .merge(super::bundle::icons())
        .nest("/pkg", super::bundle::pkg(site_root))
}

/// Forms people post without signing in to the console; each checks a secret, so each takes
/// the attempt limit.
pub(super) fn forms(attempts: &AttemptLimiter) -> Router<AppState> {
    let limited = || middleware::from_fn_with_state(attempts.clone(), limit_attempts);
    Router::new().route("/pickup/download", post(pickup_download).layer(limited()))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
}

/// The embedded CA's certificate and CRL are public: relying parties (the bank's servers,
/// nginx) fetch them without a session, and its CRL is the distribution point in the
/// certificates it issues.
async fn embedded_ca_file(
    State(b): State<Backend>,
    UrlPath(file): UrlPath<String>,
) -> Result<Response, WebError> {
    ca_file(b, CaBackendKind::Embedded, &file).await
}

/// `ca.pem`, `ca.der`, `crl.der` or `crl.pem` of a CA, asked through the CA interface
/// (`E-CA-013` when the CA does not publish its CRL that way, as Debian's cfssl 1.2).
pub(super) async fn ca_file(
    b: Backend,
    kind: CaBackendKind,
    file: &str,
) -> Result<Response, WebError> {
    let authority = b.authority(kind).await?;
    let answer = match file {
        "ca.pem" => authority
            .ca_certificate_pem()
            .await
            .map(|pem| ("application/x-pem-file", pem.into_bytes())),
        "ca.der" => authority
            .ca_certificate_pem()
            .await
            .and_then(|pem| certificate_der(&pem))
            .map(|der| ("application/pkix-cert", der)),
        "crl.der" => authority
            .crl_der()
            .await
            .map(|der| ("application/pkix-crl", der)),
        "crl.pem" => authority
            .crl_der()
            .await
            .map(|der| ("application/x-pem-file", pem("X509 CRL", &der).into_bytes())),
        _ => return Ok(StatusCode::NOT_FOUND.into_response()),
    };
    match answer {
        Ok((content_type, body)) => {
            Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
        }
        // The embedded CA before its first CRL: not ready, as before the interface.
        Err(CaError::NotOffered { .. }) if kind == CaBackendKind::Embedded => {
            Err(ServiceError::from(LifecycleError::CaNotReady).into())
        }
        Err(e) => Err(ServiceError::from(e).into()),
    }
}

#[derive(Debug, serde::Deserialize)]
struct PickupForm {
    group_id: String,
    number: String,
    password: String,
}

/// The pickup page's form: the `.p12`, or back to the page with the refusal's code.
async fn pickup_download(
    State(b): State<Backend>,
    Form(form): Form<PickupForm>,
) -> Result<Response, WebError> {
    match b
        .pickup_download(form.group_id.clone(), form.number.clone(), form.password)
        .await
    {
        Ok(f) => Ok(super::attachment(&f.file_name, f.content_type, f.bytes)),
        Err(ServiceError::Pickup(refusal)) => {
            // One answer for every refusal (the backend only gives `E-PICKUP-001`): nothing
            // about attempts left goes back, so numbers and passwords cannot be probed.
            // The group ID and the number go back so that only the password is typed again
            // (never the password itself; each cut to 64 characters).
            let kept = |value: &str| value.trim().chars().take(64).collect::<String>();
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("error", refusal.code())
                .append_pair("group_id", &kept(&form.group_id))
                .append_pair("number", &kept(&form.number))
                .finish();
            let mut resp = Redirect::to(&format!("/pickup?{query}")).into_response();
            resp.headers_mut()
                .insert("x-certdesk-error", HeaderValue::from_static(refusal.code()));
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}
