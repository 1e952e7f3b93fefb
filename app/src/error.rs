//! The UI's error type: what crosses from a server function to the page. It carries the
//! stable code, the field it concerns (so the page shows it next to that field) and the
//! message in both languages. Built from the backend's `ServiceError` on the server, where
//! the detail is logged once; the detail itself never reaches the browser.

use certdesk_domain::Message;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code} {}", message.en)]
pub struct UiError {
    /// Stable code, e.g. `E-AUTH-001`.
    pub code: String,
    /// The form field's name, when the error is about one input.
    pub field: Option<String>,
    pub message: Message,
}

impl UiError {
    /// Codes of errors that happen between the browser and the server (`E-WEB-NNN`).
    fn transport(code: &str, message: Message) -> UiError {
        UiError {
            code: code.to_string(),
            field: None,
            message,
        }
    }
}

impl FromServerFnError for UiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => UiError::transport(
                "E-WEB-001",
                Message::new(
                    "サーバに接続できませんでした。certdeskが起動しているか確認して、もう一度お試しください。",
                    "Could not reach the server. Check that certdesk is running and try again.",
                ),
            ),
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::Deserialization(_)
            | ServerFnErrorErr::Serialization(_)
            | ServerFnErrorErr::MissingArg(_) => UiError::transport(
                "E-WEB-002",
                Message::new(
                    "送信内容を読み取れませんでした。ページを再読み込みしてから、もう一度お試しください。",
                    "The request could not be read. Reload the page and try again.",
                ),
            ),
            _ => UiError::transport(
                "E-WEB-003",
                Message::new(
                    "予期しない通信エラーが発生しました。ページを再読み込みしてください。",
                    "An unexpected communication error occurred. Reload the page.",
                ),
            ),
        }
    }
}

/// The HTTP status a refused or failed request answers with.
#[cfg(feature = "ssr")]
pub fn http_status(e: &certdesk_backend::ServiceError) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    use certdesk_backend::ServiceError as E;
    match e {
        E::Validation(_) | E::Profile(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::Lifecycle(_) => StatusCode::CONFLICT,
        E::CaNotReady => StatusCode::SERVICE_UNAVAILABLE,
        E::CertificateNotFound { .. } | E::BulkNotFound { .. } => StatusCode::NOT_FOUND,
        E::EmptySelection => StatusCode::UNPROCESSABLE_ENTITY,
        E::AlreadySetUp | E::NotSetUp => StatusCode::CONFLICT,
        E::SignInFailed | E::NotSignedIn => StatusCode::UNAUTHORIZED,
        E::AccountLocked | E::Forbidden | E::CrossSiteRequest => StatusCode::FORBIDDEN,
        E::HashingBusy => StatusCode::SERVICE_UNAVAILABLE,
        E::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        E::UserNotFound { .. } => StatusCode::NOT_FOUND,
        E::UserLimit { .. } | E::LoginIdTaken { .. } | E::LastMaster => StatusCode::CONFLICT,
        E::RoleNotAllowed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        E::UserHasCertificate { .. } | E::ImportStale => StatusCode::CONFLICT,
        E::P12Password(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::NoValidCertificate { .. } | E::KeyGone { .. } => StatusCode::CONFLICT,
        E::DeliveryGone => StatusCode::GONE,
        E::Pickup(p) => match p {
            certdesk_domain::distribution::PickupRefusal::Unavailable => StatusCode::GONE,
            certdesk_domain::distribution::PickupRefusal::Locked => StatusCode::FORBIDDEN,
            certdesk_domain::distribution::PickupRefusal::WrongPassword { .. } => {
                StatusCode::UNAUTHORIZED
            }
        },
        E::UserFile(certdesk_domain::userfile::FileError::TooLarge { .. }) => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        E::UserFile(_) | E::Export(_) | E::ImportHasProblems { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        E::NoticeSettings(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::Mail(_) => StatusCode::BAD_GATEWAY,
        E::Ca(_) => StatusCode::BAD_GATEWAY,
        E::CaSettings(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::Database(_) | E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Inside a server function this also sets the response's status (through Leptos'
/// `ResponseOptions`), so that scripts and tests see 401, 403, 422... and not only the body.
#[cfg(feature = "ssr")]
impl From<certdesk_backend::ServiceError> for UiError {
    fn from(e: certdesk_backend::ServiceError) -> Self {
        if let Some(opts) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            opts.set_status(http_status(&e));
            if let Some(secs) = e.retry_after_secs() {
                opts.insert_header(axum::http::header::RETRY_AFTER, secs.into());
            }
        }
        if e.is_internal() {
            tracing::error!(error.code = e.code(), error.detail = %e, "request failed");
        } else {
            tracing::info!(error.code = e.code(), "request refused");
        }
        UiError {
            code: e.code().to_string(),
            field: e.field().map(str::to_string),
            message: e.message(),
        }
    }
}
