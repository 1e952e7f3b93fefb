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
    /// The bulk run the error is about (`E-CERT-013`: the run that has not finished), so that
    /// the page can follow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<i64>,
}

impl UiError {
    /// Codes of errors that happen between the browser and the server (`E-WEB-NNN`).
    fn transport(code: &str, message: Message) -> UiError {
        UiError {
            code: code.to_string(),
            field: None,
            message,
            run: None,
        }
    }
}

/// The largest request body the server reads (every route): the users file (a workbook of
/// 5 MiB) with its multipart framing and form fields fits; anything larger is refused with 413
/// before a handler runs.
pub const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;

impl UiError {
    /// `E-WEB-004`: a request body, or one field of a form, over its limit; nothing was read
    /// further or written. `field` names the form field when one is known.
    pub fn too_large(field: Option<String>) -> UiError {
        UiError {
            code: "E-WEB-004".to_string(),
            field,
            message: Message::new(
                "送信内容が大きすぎるため受け付けませんでした(何も保存していません)。入力やファイルを小さくして、もう一度お試しください。",
                "The request is too large and was refused (nothing was saved). Send a smaller input or file and try again.",
            ),
            run: None,
        }
    }
}

impl UiError {
    /// `E-WEB-005`: the request's `Host` is not this console's address (a DNS rebinding page,
    /// a mistyped or stale address); answered with 421 before any handler runs. `host` is
    /// what the request named, `url` the address to use.
    pub fn misdirected(host: &str, url: &str) -> UiError {
        UiError::transport(
            "E-WEB-005",
            Message::new(
                format!("このアドレス(Host: {host})では certdesk を開けません。管理者が案内した URL({url})で開き直してください。"),
                format!("certdesk does not answer at this address (Host: {host}). Open it again at the URL your administrator gave ({url})."),
            ),
        )
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
    use certdesk_domain::distribution::{DistributionError, PickupRefusal};
    use certdesk_domain::lifecycle::LifecycleError;
    use certdesk_domain::userfile::FileError;
    use certdesk_domain::{AuthError, SetupError, UserError};
    match e {
        E::Validation(_) | E::Profile(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::Lifecycle(l) => match l {
            LifecycleError::CaNotReady => StatusCode::SERVICE_UNAVAILABLE,
            LifecycleError::CertificateNotFound { .. } | LifecycleError::BulkNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            LifecycleError::EmptySelection => StatusCode::UNPROCESSABLE_ENTITY,
            LifecycleError::RunInProgress { .. } => StatusCode::CONFLICT,
            LifecycleError::AlreadyHasValid { .. }
            | LifecycleError::OrganisationLimit { .. }
            | LifecycleError::RenewalNotOpen { .. }
            | LifecycleError::ExpiredCannotRenew { .. }
            | LifecycleError::HolderLocked
            | LifecycleError::HolderDeleted
            | LifecycleError::NoValidCertificate
            | LifecycleError::ReasonRequired => StatusCode::CONFLICT,
        },
        E::Setup(SetupError::AlreadySetUp | SetupError::NotSetUp) => StatusCode::CONFLICT,
        E::Setup(SetupError::TokenMissing | SetupError::TokenWrong) => StatusCode::FORBIDDEN,
        E::Auth(a) => match a {
            AuthError::SignInTooLong => StatusCode::PAYLOAD_TOO_LARGE,
            AuthError::WrongCurrentPassword => StatusCode::UNPROCESSABLE_ENTITY,
            AuthError::HashingBusy => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::SignInFailed | AuthError::NotSignedIn => StatusCode::UNAUTHORIZED,
            AuthError::AccountLocked
            | AuthError::TemporarilyLocked { .. }
            | AuthError::Forbidden
            | AuthError::CrossSiteRequest => StatusCode::FORBIDDEN,
        },
        E::User(u) => match u {
            UserError::NotFound { .. } => StatusCode::NOT_FOUND,
            UserError::Limit { .. }
            | UserError::LoginIdTaken { .. }
            | UserError::LastMaster
            | UserError::HasCertificate { .. } => StatusCode::CONFLICT,
            UserError::RoleNotAllowed { .. } | UserError::MasterRoleKept { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
        },
        E::ImportStale => StatusCode::CONFLICT,
        E::Distribution(d) => {
            match d {
                DistributionError::PasswordLength
                | DistributionError::PasswordOneKind
                | DistributionError::PasswordCharacters => StatusCode::UNPROCESSABLE_ENTITY,
                DistributionError::NoValidCertificate { .. }
                | DistributionError::KeyGone { .. } => StatusCode::CONFLICT,
                DistributionError::DeliveryGone => StatusCode::GONE,
                DistributionError::TooManySelected { .. }
                | DistributionError::PickupExpiryRange => StatusCode::UNPROCESSABLE_ENTITY,
                DistributionError::BundleInProgress { .. } => StatusCode::CONFLICT,
            }
        }
        E::Pickup(p) => match p {
            PickupRefusal::Unavailable => StatusCode::GONE,
            PickupRefusal::Locked => StatusCode::FORBIDDEN,
            PickupRefusal::WrongPassword { .. } => StatusCode::UNAUTHORIZED,
        },
        E::UserFile(FileError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
        E::UserFile(_) | E::Export(_) | E::ImportHasProblems { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        E::NoticeSettings(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::Mail(_) => StatusCode::BAD_GATEWAY,
        E::Ca(_) => StatusCode::BAD_GATEWAY,
        E::CaSettings(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::Otp(o) => otp_status(o),
        E::Backup(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::Enrolment(e) => enrolment_status(e),
        // Start-up refusals of `certdesk serve`: never an answer to a request.
        E::Database(_) | E::Internal(_) | E::Serve(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(feature = "ssr")]
fn enrolment_status(e: &certdesk_domain::enrolment::EnrolmentError) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    use certdesk_domain::enrolment::EnrolmentError as N;
    match e {
        N::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        N::Unavailable | N::ConfirmUnknown => StatusCode::UNAUTHORIZED,
        N::Locked | N::NotCurrent | N::SelfRenewalOff | N::WrongOrigin => StatusCode::FORBIDDEN,
        N::Used | N::Expired => StatusCode::GONE,
        N::CsrTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        N::CsrMalformed
        | N::CsrSignature
        | N::KeyType { .. }
        | N::RsaSize { .. }
        | N::CsrAlgorithm
        | N::CsrSubjectFields { .. }
        | N::ValidityRange => StatusCode::UNPROCESSABLE_ENTITY,
        N::HasValidCertificate { .. } | N::KeyWithHolder { .. } | N::NoEnrolment { .. } => {
            StatusCode::CONFLICT
        }
    }
}

#[cfg(feature = "ssr")]
fn otp_status(e: &certdesk_domain::otp::OtpError) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    use certdesk_domain::otp::OtpError as O;
    match e {
        O::WrongCode | O::WrongRecoveryCode | O::NoSignInPending => StatusCode::UNAUTHORIZED,
        O::Malformed | O::Setting { .. } | O::PairNotFound => StatusCode::UNPROCESSABLE_ENTITY,
        O::Replayed | O::NoEnrolmentStarted | O::NotEnrolled => StatusCode::CONFLICT,
        O::CodeRequired | O::EnrolmentRequired | O::StepUpRequired { .. } => StatusCode::FORBIDDEN,
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
            run: match &e {
                certdesk_backend::ServiceError::Lifecycle(
                    certdesk_domain::lifecycle::LifecycleError::RunInProgress { job },
                ) => Some(*job),
                _ => None,
            },
        }
    }
}
