//! The self-service enrolment API on the console listener (issue 17; the `/enroll` page's
//! script calls it). No console sign-in: group ID, enrolment number and one-time code open an
//! enrolment. JSON in and out; every refusal is the coded JSON error body (`E-ENROLL-*`).
//!
//! - `GET /api/enroll/profile`: the key type, the default `.p12` protection, the check URL.
//! - `POST /api/enroll`: `{group_id, number, code, csr}` (CSR as base64 DER) → the certificate,
//!   its chain and a confirmation token.
//! - `POST /api/enroll/confirm`: `{group_id, number, confirm_token}` → 204.
//!
//! The POSTs take the attempt limit (they check a secret) and a 64 KiB body cap (a request is
//! at most 16 KiB of DER); they pass the cross-site check of the group they are merged into
//! (`Origin` must be the console's public URL).

use super::error::WebError;
use super::limits::{limit_attempts, AttemptLimiter};
use super::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use certdesk_backend::{Backend, Enrolled, ServiceError};
use certdesk_domain::enrolment::EnrolmentError;

/// The largest body the enrolment POSTs read.
pub const MAX_ENROLL_BODY: usize = 64 * 1024;

/// The enrolment routes.
pub(super) fn routes(attempts: &AttemptLimiter) -> Router<AppState> {
    let limited = || middleware::from_fn_with_state(attempts.clone(), limit_attempts);
    let capped = axum::extract::DefaultBodyLimit::max(MAX_ENROLL_BODY);
    Router::new()
        .route("/api/enroll", post(enrol).layer(limited()))
        .route("/api/enroll/confirm", post(confirm).layer(limited()))
        .layer(capped)
        .route("/api/enroll/profile", get(profile))
}

/// A JSON body, or `E-ENROLL-006` (the only thing that can be wrong with it is the request).
pub fn read_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ServiceError> {
    serde_json::from_slice(body).map_err(|_| ServiceError::from(EnrolmentError::CsrMalformed))
}

/// The answer to an issue (here) or a self-renewal (on the check listener).
pub fn enrolled_json(e: &Enrolled) -> Result<Response, ServiceError> {
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let not_after = e
        .not_after
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|err| ServiceError::Internal(format!("not_after: {err}")))?;
    let body = serde_json::json!({
        "login_id": e.login_id,
        "friendly_name": e.friendly_name,
        "certificate": b64(&e.certificate_der),
        "chain": e.chain_der.iter().map(|c| b64(c)).collect::<Vec<_>>(),
        "p12_profile": e.p12_profile.as_str(),
        "not_after": not_after,
        "confirm_token": e.confirm_token,
    });
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response())
}

async fn profile(State(b): State<Backend>) -> Result<Response, WebError> {
    let p = b.enrolment_profile().await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({
            "key_type": p.key_type.as_str(),
            "p12_profile": p.p12_profile.as_str(),
            "check_url": p.check_url,
        })),
    )
        .into_response())
}

#[derive(serde::Deserialize)]
struct EnrolBody {
    group_id: String,
    number: String,
    code: String,
    csr: String,
}

async fn enrol(State(b): State<Backend>, body: Bytes) -> Result<Response, WebError> {
    let form: EnrolBody = read_json(&body)?;
    let enrolled = b
        .enrol(form.group_id, form.number, form.code, form.csr)
        .await?;
    Ok(enrolled_json(&enrolled)?)
}

#[derive(serde::Deserialize)]
struct ConfirmBody {
    group_id: String,
    number: String,
    confirm_token: String,
}

async fn confirm(State(b): State<Backend>, body: Bytes) -> Result<Response, WebError> {
    let form: ConfirmBody = read_json(&body)?;
    b.confirm_enrolment(form.group_id, form.number, form.confirm_token)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
