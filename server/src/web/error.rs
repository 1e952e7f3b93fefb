//! The web layer's one error type. Handlers of the plain routes and the middleware return
//! [`WebError`]; it wraps the backend's [`ServiceError`] and turns into the same response a
//! server function's error does: the status from [`http_status`], a JSON body the Leptos
//! client decodes into a [`UiError`] (stable code, both languages). The detail of an
//! internal error is logged once, by the conversion into `UiError`, and never sent.

use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use certdesk_app::error::{http_status, UiError};
use certdesk_backend::ServiceError;

/// A refused or failed request.
#[derive(Debug)]
pub struct WebError(ServiceError);

impl From<ServiceError> for WebError {
    fn from(error: ServiceError) -> Self {
        WebError(error)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = http_status(&self.0);
        let retry_after = self.0.retry_after_secs();
        let ui = UiError::from(self.0);
        let body = serde_json::to_string(&ui).unwrap_or_default();
        let mut resp = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    async fn body_of(error: ServiceError) -> (StatusCode, String) {
        let resp = WebError::from(error).into_response();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, String::from_utf8(bytes.to_vec()).expect("utf-8"))
    }

    #[tokio::test]
    async fn a_refusal_answers_with_its_status_and_code() {
        let (status, body) = body_of(certdesk_domain::AuthError::NotSignedIn.into()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let ui: UiError = serde_json::from_str(&body).expect("a UiError");
        assert_eq!(ui.code, "E-AUTH-003");
    }

    #[tokio::test]
    async fn a_refusal_that_passes_by_itself_says_when_to_retry() {
        let resp = WebError::from(ServiceError::from(
            certdesk_domain::AuthError::TooManyAttempts {
                retry_after_secs: 7,
            },
        ))
        .into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
    }

    #[tokio::test]
    async fn the_detail_of_an_internal_error_is_never_sent() {
        let (status, body) =
            body_of(ServiceError::Internal("disk /secret/path is full".into())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.contains("/secret/path"), "{body}");
    }
}
