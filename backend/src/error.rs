//! The backend's error type. Every variant has a stable code and a message in both languages;
//! storage and internal errors keep their detail for the log and show a generic message.

use certdesk_domain::distribution::{PasswordRule, PickupRefusal};
use certdesk_domain::external_ca::{CaError, CaSettingsError};
use certdesk_domain::lifecycle::LifecycleError;
use certdesk_domain::notices::{MailError, NoticeSettingsError};
use certdesk_domain::profile::ProfileError;
use certdesk_domain::userfile::{ExportError, FileError};
use certdesk_domain::{Message, ValidationError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input broke a domain rule.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// A certificate lifecycle rule refused the action.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// An issuing-profile field breaks its rule.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The embedded CA does not exist yet (setup not done) or could not be loaded.
    #[error("E-CERT-009 the CA is not ready")]
    CaNotReady,
    /// No certificate with this serial.
    #[error("E-CERT-010 no certificate with serial {serial}")]
    CertificateNotFound { serial: String },
    /// A bulk action with no user selected.
    #[error("E-CERT-011 no user selected")]
    EmptySelection,
    /// No bulk run with this id.
    #[error("E-CERT-012 no bulk run {job}")]
    BulkNotFound { job: i64 },
    /// The first-run setup was already done; the setup page is gone.
    #[error("E-SETUP-001 the organisation is already set up")]
    AlreadySetUp,
    /// An action needs the organisation, and setup has not run yet.
    #[error("E-SETUP-002 the organisation is not set up yet")]
    NotSetUp,
    /// Wrong login ID or password (never says which).
    #[error("E-AUTH-001 sign-in failed")]
    SignInFailed,
    /// The account is locked after too many wrong passwords (or an unknown ID was tried as often).
    #[error("E-AUTH-002 account locked")]
    AccountLocked,
    /// No session, or it expired.
    #[error("E-AUTH-003 not signed in")]
    NotSignedIn,
    /// Signed in, but the role may not do this.
    #[error("E-AUTH-004 not allowed for this role")]
    Forbidden,
    /// A state-changing request that did not come from the console's own pages.
    #[error("E-AUTH-005 cross-site request refused")]
    CrossSiteRequest,
    /// Every password-hashing permit is taken (a flood of sign-ins); refused at once, not queued.
    #[error("E-AUTH-006 password checking is busy")]
    HashingBusy,
    /// Too many sign-in, setup or pickup attempts from this address, or from everyone at once.
    #[error("E-AUTH-007 too many attempts; retry after {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    /// No user with this login ID.
    #[error("E-USER-001 no user with login ID {login_id}")]
    UserNotFound { login_id: String },
    /// The organisation already has 99 users besides the master.
    #[error("E-USER-002 at most {max} users besides the master")]
    UserLimit { max: u32 },
    /// The login ID is used by another user (case-insensitive).
    #[error("E-USER-003 login ID {login_id} is taken")]
    LoginIdTaken { login_id: String },
    /// The last master cannot be locked, deleted or demoted.
    #[error("E-USER-004 the last master cannot be locked, deleted or demoted")]
    LastMaster,
    /// A role that cannot be given here (unknown, or master outside setup).
    #[error("E-USER-005 role {role} cannot be given")]
    RoleNotAllowed { role: String },
    /// A user who still holds a valid certificate cannot be deleted.
    #[error("E-USER-008 {login_id} still holds a valid certificate")]
    UserHasCertificate { login_id: String },
    /// A users file rejected as a whole (too large, binary, unknown encoding, ...).
    #[error(transparent)]
    UserFile(#[from] FileError),
    /// An export that cannot be written in the asked encoding.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A users file with problems cannot be imported; nothing was written.
    #[error("E-CSV-020 the file has {problems} problem(s); nothing was written")]
    ImportHasProblems { problems: usize },
    /// The file or the users changed between preview and import.
    #[error("E-CSV-021 the file or the users changed since the preview")]
    ImportStale,
    /// A typed `.p12` password breaks the rule.
    #[error(transparent)]
    P12Password(#[from] PasswordRule),
    /// The user holds no valid certificate to hand out.
    #[error("E-DIST-002 {login_id} holds no valid certificate")]
    NoValidCertificate { login_id: String },
    /// The key was erased (re-download window closed, or never kept).
    #[error("E-DIST-003 the key of {login_id} is no longer kept")]
    KeyGone { login_id: String },
    /// A prepared download expired or never existed.
    #[error("E-DIST-004 this download expired or does not exist")]
    DeliveryGone,
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
    /// SQLite failed.
    #[error("E-SYS-001 database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// Anything else that is our fault.
    #[error("E-SYS-002 internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Validation(v) => v.code(),
            ServiceError::Lifecycle(l) => l.code(),
            ServiceError::Profile(p) => p.code(),
            ServiceError::CaNotReady => "E-CERT-009",
            ServiceError::CertificateNotFound { .. } => "E-CERT-010",
            ServiceError::EmptySelection => "E-CERT-011",
            ServiceError::BulkNotFound { .. } => "E-CERT-012",
            ServiceError::AlreadySetUp => "E-SETUP-001",
            ServiceError::NotSetUp => "E-SETUP-002",
            ServiceError::SignInFailed => "E-AUTH-001",
            ServiceError::AccountLocked => "E-AUTH-002",
            ServiceError::NotSignedIn => "E-AUTH-003",
            ServiceError::Forbidden => "E-AUTH-004",
            ServiceError::CrossSiteRequest => "E-AUTH-005",
            ServiceError::HashingBusy => "E-AUTH-006",
            ServiceError::TooManyAttempts { .. } => "E-AUTH-007",
            ServiceError::UserNotFound { .. } => "E-USER-001",
            ServiceError::UserLimit { .. } => "E-USER-002",
            ServiceError::LoginIdTaken { .. } => "E-USER-003",
            ServiceError::LastMaster => "E-USER-004",
            ServiceError::RoleNotAllowed { .. } => "E-USER-005",
            ServiceError::UserHasCertificate { .. } => "E-USER-008",
            ServiceError::UserFile(e) => e.code(),
            ServiceError::Export(e) => e.code(),
            ServiceError::ImportHasProblems { .. } => "E-CSV-020",
            ServiceError::ImportStale => "E-CSV-021",
            ServiceError::P12Password(e) => e.code(),
            ServiceError::NoValidCertificate { .. } => "E-DIST-002",
            ServiceError::KeyGone { .. } => "E-DIST-003",
            ServiceError::DeliveryGone => "E-DIST-004",
            ServiceError::Pickup(p) => p.code(),
            ServiceError::Mail(e) => e.code(),
            ServiceError::NoticeSettings(e) => e.code(),
            ServiceError::Ca(e) => e.code(),
            ServiceError::CaSettings(e) => e.code(),
            ServiceError::Database(_) => "E-SYS-001",
            ServiceError::Internal(_) => "E-SYS-002",
        }
    }

    /// The input field the error is about, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ServiceError::LoginIdTaken { .. } => Some("login_id"),
            ServiceError::Validation(v) => Some(v.field().name()),
            ServiceError::Profile(p) => Some(p.field()),
            ServiceError::NoticeSettings(e) => Some(e.field()),
            ServiceError::CaSettings(e) => Some(e.field()),
            ServiceError::UserFile(_)
            | ServiceError::ImportHasProblems { .. }
            | ServiceError::ImportStale => Some("file"),
            ServiceError::P12Password(_)
            | ServiceError::Pickup(PickupRefusal::WrongPassword { .. }) => Some("password"),
            _ => None,
        }
    }

    /// How many seconds the client should wait before trying again (the `Retry-After`
    /// header), for refusals that pass by themselves.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ServiceError::HashingBusy => Some(1),
            ServiceError::TooManyAttempts { retry_after_secs } => Some(*retry_after_secs),
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
            ServiceError::CaNotReady => Message::new(
                "認証局(CA)が準備できていません。初期設定を済ませてから、サーバを再起動してください。",
                "The CA is not ready. Finish setup, then restart the server; the log says more.",
            ),
            ServiceError::CertificateNotFound { serial } => Message::new(
                format!("シリアル番号 {serial} の証明書はありません。"),
                format!("There is no certificate with serial {serial}."),
            ),
            ServiceError::EmptySelection => Message::new(
                "利用者が選択されていません。一覧のチェックボックスで選んでから実行してください。",
                "No user is selected. Tick users in the list, then run the action.",
            ),
            ServiceError::BulkNotFound { job } => Message::new(
                format!("一括処理 {job} は見つかりません。"),
                format!("There is no bulk run {job}."),
            ),
            ServiceError::AlreadySetUp => Message::new(
                "初期設定は完了しています。サインインしてください。",
                "Setup is already complete. Please sign in.",
            ),
            ServiceError::NotSetUp => Message::new(
                "初期設定がまだです。ブラウザで初期設定ページを開いてください。",
                "Setup has not been done yet. Open the setup page in the browser first.",
            ),
            ServiceError::SignInFailed => Message::new(
                "ログインIDまたはパスワードが正しくありません。5回続けて間違えるとアカウントは閉塞されます。",
                "The login ID or password is incorrect. After 5 wrong passwords in a row the account is locked.",
            ),
            ServiceError::AccountLocked => Message::new(
                "このアカウントは閉塞されています。マスターユーザに閉塞解除を依頼してください。",
                "This account is locked. Ask a master user to unlock it.",
            ),
            ServiceError::NotSignedIn => Message::new(
                "サインインしていないか、一定時間操作がなかったためサインアウトしました。もう一度サインインしてください。",
                "You are not signed in, or you were signed out after a period without activity. Please sign in again.",
            ),
            ServiceError::Forbidden => Message::new(
                "この操作を行う権限がありません。マスターユーザに依頼してください。",
                "Your role may not do this. Ask a master user.",
            ),
            ServiceError::CrossSiteRequest => Message::new(
                "他のサイトからの要求のため拒否しました。certdeskの画面から操作してください。",
                "The request came from another site and was refused. Use certdesk's own pages.",
            ),
            ServiceError::HashingBusy => Message::new(
                "サーバが混み合っているため、パスワードを確認できませんでした。数秒待ってから、もう一度お試しください。",
                "The server is busy and could not check the password. Wait a few seconds, then try again.",
            ),
            ServiceError::TooManyAttempts { retry_after_secs } => Message::new(
                format!("短い時間に試行が多すぎます。{retry_after_secs}秒ほど待ってから、もう一度お試しください。"),
                format!("Too many attempts in a short time. Wait about {retry_after_secs} seconds, then try again."),
            ),
            ServiceError::UserNotFound { login_id } => Message::new(
                format!("ログインID「{login_id}」のユーザはいません。ログインIDを確認してください。"),
                format!("There is no user with login ID '{login_id}'. Check the login ID."),
            ),
            ServiceError::UserLimit { max } => Message::new(
                format!("マスターユーザ以外の利用者は{max}名までです。不要な利用者を削除してから追加してください。"),
                format!("At most {max} users besides the master. Delete a user who no longer needs access, then add."),
            ),
            ServiceError::LoginIdTaken { login_id } => Message::new(
                format!("ログインID「{login_id}」は既に使われています(大文字・小文字は区別しません)。別のIDにしてください。"),
                format!("Login ID '{login_id}' is already used (case is ignored). Choose another one."),
            ),
            ServiceError::LastMaster => Message::new(
                "最後のマスターユーザは閉塞・削除・降格できません。先に別のマスターユーザを用意してください。",
                "The last master user cannot be locked, deleted or demoted. Make another master first.",
            ),
            ServiceError::RoleNotAllowed { role } => Message::new(
                format!("権限「{role}」は指定できません。admin(管理者ユーザ)または general(一般ユーザ)を指定してください。"),
                format!("Role '{role}' cannot be given here. Use admin or general."),
            ),
            ServiceError::UserHasCertificate { login_id } => Message::new(
                format!("「{login_id}」には有効な証明書があるため削除できません。先に証明書ページで失効させてください。"),
                format!("'{login_id}' still holds a valid certificate and cannot be deleted. Revoke it on the Certificates page first."),
            ),
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
            ServiceError::P12Password(e) => e.message(),
            ServiceError::NoValidCertificate { login_id } => Message::new(
                format!("「{login_id}」には有効な証明書がありません。証明書ページで発行してから配付してください。"),
                format!("'{login_id}' holds no valid certificate. Issue one on the Certificates page, then distribute it."),
            ),
            ServiceError::KeyGone { login_id } => Message::new(
                format!("「{login_id}」の秘密鍵は保管されていません(受け取り後24時間を過ぎたため消去済み、または保管なし)。再発行すると新しい証明書を配付できます。"),
                format!("The private key of '{login_id}' is no longer kept (erased 24 hours after the first download, or never kept). Reissue the certificate to hand out a new one."),
            ),
            ServiceError::DeliveryGone => Message::new(
                "このダウンロードは有効期限(24時間)が切れたか、存在しません。配付ページでもう一度作成してください。",
                "This download expired (after 24 hours) or does not exist. Prepare it again on the Distribution page.",
            ),
            ServiceError::Pickup(p) => p.message(),
            ServiceError::Mail(e) => e.message(),
            ServiceError::NoticeSettings(e) => e.message(),
            ServiceError::Ca(e) => e.message(),
            ServiceError::CaSettings(e) => e.message(),
            ServiceError::Database(_) | ServiceError::Internal(_) => Message::new(
                "内部エラーが発生しました。時間をおいて再度お試しください。続く場合はサーバのログを確認してください。",
                "An internal error occurred. Try again later; if it persists, check the server log.",
            ),
        }
    }
}
