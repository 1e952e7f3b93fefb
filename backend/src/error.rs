//! The backend's error type. Every code family lives in one domain enum that declares each
//! code once (`certdesk_domain::error::error_codes!`); `ServiceError` wraps them, and adds only
//! what needs the backend: the users-file import refusals (`E-CSV-020`, `E-CSV-021`, beside
//! the other `E-CSV` codes of the users file) and storage and internal errors (`E-SYS-*`),
//! which keep their detail for the log and show a generic message.

use certdesk_domain::backup::BackupError;
use certdesk_domain::distribution::{DistributionError, PickupRefusal};
use certdesk_domain::enrolment::EnrolmentError;
use certdesk_domain::external_ca::{CaError, CaSettingsError};
use certdesk_domain::lifecycle::LifecycleError;
use certdesk_domain::notices::{MailError, NoticeSettingsError};
use certdesk_domain::otp::OtpError;
use certdesk_domain::profile::ProfileError;
use certdesk_domain::serve::ServeError;
use certdesk_domain::userfile::{ExportError, FileError};
use certdesk_domain::{AuthError, Message, SetupError, UserError, ValidationError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input broke a domain rule.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// A certificate action was refused (`E-CERT`): a lifecycle rule, or what it needs is
    /// missing.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// An issuing-profile field breaks its rule.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// First-run setup refused (`E-SETUP`).
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Sign-in, session or role refused (`E-AUTH`).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A change to the users refused (`E-USER`).
    #[error(transparent)]
    User(#[from] UserError),
    /// A users file rejected as a whole (too large, binary, unknown encoding, ...).
    #[error(transparent)]
    UserFile(#[from] FileError),
    /// An export that cannot be written in the asked encoding.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A users file with problems cannot be imported; nothing was written.
    #[error("{} the file has {problems} problem(s); nothing was written", self.code())]
    ImportHasProblems { problems: usize },
    /// The file or the users changed between preview and import.
    #[error("{} the file or the users changed since the preview", self.code())]
    ImportStale,
    /// Distribution refused (`E-DIST`): a typed `.p12` password, or nothing to hand out.
    #[error(transparent)]
    Distribution(#[from] DistributionError),
    /// The pickup page refused a download.
    #[error(transparent)]
    Pickup(#[from] PickupRefusal),
    /// Sending a mail failed at one step (connect, TLS, authentication, recipient, message).
    #[error(transparent)]
    Mail(#[from] MailError),
    /// A notification setting breaks its rule.
    #[error(transparent)]
    NoticeSettings(#[from] NoticeSettingsError),
    /// The external CA failed; the variant names the step.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// An external CA setting breaks its rule.
    #[error(transparent)]
    CaSettings(#[from] CaSettingsError),
    /// A one-time password refused (`E-OTP`).
    #[error(transparent)]
    Otp(#[from] OtpError),
    /// `certdesk serve` refused to start (`E-SERVE`): unsafe serving, or unusable TLS files.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// A backup or restore refused (`E-BACKUP`).
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// Self-service enrolment or self-renewal refused (`E-ENROLL`).
    #[error(transparent)]
    Enrolment(#[from] EnrolmentError),
    /// SQLite failed.
    #[error("{code} database error: {0}", code = self.code())]
    Database(#[from] rusqlite::Error),
    /// Anything else that is our fault.
    #[error("{code} internal error: {0}", code = self.code())]
    Internal(String),
}

impl ServiceError {
    /// The stable code shown to people and written to the log.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Validation(v) => v.code(),
            ServiceError::Lifecycle(l) => l.code(),
            ServiceError::Profile(p) => p.code(),
            ServiceError::Setup(e) => e.code(),
            ServiceError::Auth(e) => e.code(),
            ServiceError::User(e) => e.code(),
            ServiceError::UserFile(e) => e.code(),
            ServiceError::Export(e) => e.code(),
            ServiceError::ImportHasProblems { .. } => "E-CSV-020",
            ServiceError::ImportStale => "E-CSV-021",
            ServiceError::Distribution(e) => e.code(),
            ServiceError::Pickup(p) => p.code(),
            ServiceError::Mail(e) => e.code(),
            ServiceError::NoticeSettings(e) => e.code(),
            ServiceError::Ca(e) => e.code(),
            ServiceError::CaSettings(e) => e.code(),
            ServiceError::Otp(e) => e.code(),
            ServiceError::Serve(e) => e.code(),
            ServiceError::Backup(e) => e.code(),
            ServiceError::Enrolment(e) => e.code(),
            ServiceError::Database(_) => "E-SYS-001",
            ServiceError::Internal(_) => "E-SYS-002",
        }
    }

    /// The input field the error is about, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ServiceError::User(e) => e.field().map(|f| f.name()),
            ServiceError::Auth(AuthError::WrongCurrentPassword) => Some("current_password"),
            ServiceError::Validation(v) => Some(v.field().name()),
            ServiceError::Profile(p) => Some(p.field()),
            ServiceError::NoticeSettings(e) => Some(e.field()),
            ServiceError::CaSettings(e) => Some(e.field()),
            ServiceError::UserFile(_)
            | ServiceError::ImportHasProblems { .. }
            | ServiceError::ImportStale => Some("file"),
            ServiceError::Distribution(e) => e.field(),
            ServiceError::Otp(e) => e.field(),
            ServiceError::Backup(e) => e.field(),
            ServiceError::Enrolment(e) => e.field(),
            ServiceError::Pickup(PickupRefusal::WrongPassword { .. }) => Some("password"),
            ServiceError::Setup(SetupError::TokenMissing | SetupError::TokenWrong) => {
                Some("setup_token")
            }
            _ => None,
        }
    }

    /// How many seconds the client should wait before trying again (the `Retry-After`
    /// header), for refusals that pass by themselves.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ServiceError::Auth(AuthError::HashingBusy) => Some(1),
            ServiceError::Auth(AuthError::TooManyAttempts { retry_after_secs }) => {
                Some(*retry_after_secs)
            }
            _ => None,
        }
    }

    /// True for errors whose detail must go to the log only.
    pub fn is_internal(&self) -> bool {
        matches!(self, ServiceError::Database(_) | ServiceError::Internal(_))
    }

    /// What happened and what to do, in both languages. Never contains internal detail.
    pub fn message(&self) -> Message {
        match self {
            ServiceError::Validation(v) => v.message(),
            ServiceError::Lifecycle(l) => l.message(),
            ServiceError::Profile(p) => p.message(),
            ServiceError::Setup(e) => e.message(),
            ServiceError::Auth(e) => e.message(),
            ServiceError::User(e) => e.message(),
            ServiceError::UserFile(e) => e.message(),
            ServiceError::Export(e) => e.message(),
            ServiceError::ImportHasProblems { problems } => Message::new(
                format!("ファイルに{problems}件の問題があるため取り込みませんでした(何も書き込んでいません)。一覧の行・列を直して、もう一度プレビューしてください。"),
                format!("The file has {problems} problem(s), so nothing was imported. Fix the rows and columns listed, then preview again."),
            ),
            ServiceError::ImportStale => Message::new(
                "プレビューの後にファイルまたは利用者が変わりました(何も書き込んでいません)。もう一度プレビューしてから取り込んでください。",
                "The file or the users changed after the preview, so nothing was written. Preview again, then import.",
            ),
            ServiceError::Distribution(e) => e.message(),
            ServiceError::Pickup(p) => p.message(),
            ServiceError::Mail(e) => e.message(),
            ServiceError::NoticeSettings(e) => e.message(),
            ServiceError::Ca(e) => e.message(),
            ServiceError::CaSettings(e) => e.message(),
            ServiceError::Otp(e) => e.message(),
            ServiceError::Serve(e) => e.message(),
            ServiceError::Backup(e) => e.message(),
            ServiceError::Enrolment(e) => e.message(),
            ServiceError::Database(_) | ServiceError::Internal(_) => Message::new(
                "内部エラーが発生しました。時間をおいて再度お試しください。続く場合はサーバのログを確認してください。",
                "An internal error occurred. Try again later; if it persists, check the server log.",
            ),
        }
    }
}
