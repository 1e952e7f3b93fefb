//! The domain's errors: `error_codes!`, which declares an error enum with each variant's
//! stable code written once, and the code families that are not about one area of the domain:
//! input that breaks a rule of form ([`ValidationError`], with the field it concerns),
//! first-run setup ([`SetupError`]), sign-in and sessions ([`AuthError`]) and users
//! ([`UserError`]).

use crate::lang::Message;
use serde::{Deserialize, Serialize};

/// Declares an error enum whose every variant writes its stable code once, next to a short
/// English text for the log:
///
/// ```ignore
/// error_codes! {
///     /// Doc of the enum.
///     #[derive(Debug, Clone, PartialEq, Eq)]
///     pub enum ProfileError {
///         /// Doc of the variant.
///         Validity = "E-PROF-001" => "validity must be 1 to 3650 days",
///         Thresholds { max: u32 } = "E-PROF-009" => "at most {max}",
///     }
/// }
/// ```
///
/// It gives the enum, `code()`, `CODES` (every code, in declaration order; a code may repeat
/// when several variants share it), `Display` as "CODE text" (the text may name the variant's
/// fields, `{max}`), and `std::error::Error`. The message in both languages stays a plain
/// `message()` next to it.
macro_rules! error_codes {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident $({ $($field:ident : $fty:ty),* $(,)? })? = $code:literal => $text:literal
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $(
                $(#[$vmeta])*
                $variant $({ $($field: $fty),* })?,
            )*
        }

        impl $name {
            /// Every code of this enum, in declaration order.
            pub const CODES: &'static [&'static str] = &[$($code),*];

            /// The stable code shown to people and written to the log.
            pub fn code(&self) -> &'static str {
                match self {
                    $($name::$variant { .. } => $code,)*
                }
            }
        }

        impl ::core::fmt::Display for $name {
            #[allow(unused_variables)]
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.code())?;
                f.write_str(" ")?;
                match self {
                    $($name::$variant $({ $($field),* })? => write!(f, $text),)*
                }
            }
        }

        impl ::std::error::Error for $name {}
    };
}
pub(crate) use error_codes;

/// The input field a [`ValidationError`] is about; the UI shows the message next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    OrganisationName,
    GroupId,
    BankCode,
    LoginId,
    PersonName,
    Email,
    Password,
    PasswordConfirmation,
}

impl Field {
    /// The form field's `name`, as used in HTML forms and server-function arguments.
    pub fn name(self) -> &'static str {
        match self {
            Field::OrganisationName => "org_name",
            Field::GroupId => "group_id",
            Field::BankCode => "bank_code",
            Field::LoginId => "login_id",
            Field::PersonName => "name",
            Field::Email => "email",
            Field::Password => "password",
            Field::PasswordConfirmation => "password_confirm",
        }
    }
}

error_codes! {
    /// Input that breaks a domain rule. Every variant has a stable code (`E-VAL-NNN`) and a
    /// message in both languages that says how to fix the input.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum ValidationError {
        /// Organisation name empty, too long, or with control characters.
        OrganisationName { max: usize } = "E-VAL-001" => "organisation name must be 1 to {max} characters without control characters",
        /// Group ID is not 4 to 20 ASCII letters and digits.
        GroupId = "E-VAL-002" => "group ID must be 4 to 20 ASCII letters or digits",
        /// Bank code is not exactly four digits.
        BankCode = "E-VAL-003" => "bank code must be exactly 4 digits",
        /// Login ID breaks the login ID rule.
        LoginId = "E-VAL-004" => "login ID must be 6 to 12 ASCII letters, digits, '_' or '-'",
        /// A person's name is empty, too long, or has control characters.
        PersonName { max: usize } = "E-VAL-005" => "name must be 1 to {max} characters without control characters",
        /// E-mail address is not of the form local@domain.
        Email = "E-VAL-006" => "e-mail address is not valid",
        /// Password shorter than the minimum.
        PasswordTooShort { min: usize } = "E-VAL-007" => "password must be at least {min} characters",
        /// Password longer than the maximum.
        PasswordTooLong { max: usize } = "E-VAL-008" => "password must be at most {max} characters",
        /// The two password fields differ.
        PasswordMismatch = "E-VAL-009" => "the two passwords differ",
    }
}

impl ValidationError {
    /// The field the error is about.
    pub fn field(&self) -> Field {
        match self {
            ValidationError::OrganisationName { .. } => Field::OrganisationName,
            ValidationError::GroupId => Field::GroupId,
            ValidationError::BankCode => Field::BankCode,
            ValidationError::LoginId => Field::LoginId,
            ValidationError::PersonName { .. } => Field::PersonName,
            ValidationError::Email => Field::Email,
            ValidationError::PasswordTooShort { .. } | ValidationError::PasswordTooLong { .. } => {
                Field::Password
            }
            ValidationError::PasswordMismatch => Field::PasswordConfirmation,
        }
    }

    /// What is wrong and how to fix it, in both languages.
    pub fn message(&self) -> Message {
        match self {
            ValidationError::OrganisationName { max } => Message::new(
                format!("組織名は1〜{max}文字で入力してください(制御文字は使えません)。"),
                format!(
                    "Enter an organisation name of 1 to {max} characters (no control characters)."
                ),
            ),
            ValidationError::GroupId => Message::new(
                "グループIDは半角英数字4〜20文字で入力してください。",
                "Enter a group ID of 4 to 20 ASCII letters or digits.",
            ),
            ValidationError::BankCode => Message::new(
                "金融機関コードは半角数字4桁で入力してください(例: 0001)。",
                "Enter the bank code as exactly 4 digits (for example 0001).",
            ),
            ValidationError::LoginId => Message::new(
                "ログインIDは半角英数字と「_」「-」で6〜12文字にしてください。",
                "Use 6 to 12 characters for the login ID: ASCII letters, digits, '_' or '-'.",
            ),
            ValidationError::PersonName { max } => Message::new(
                format!("氏名は1〜{max}文字で入力してください(制御文字は使えません)。"),
                format!("Enter a name of 1 to {max} characters (no control characters)."),
            ),
            ValidationError::Email => Message::new(
                "メールアドレスの形式が正しくありません(例: taro@example.co.jp)。",
                "The e-mail address is not valid (for example taro@example.co.jp).",
            ),
            ValidationError::PasswordTooShort { min } => Message::new(
                format!("パスワードは{min}文字以上にしてください。"),
                format!("Use a password of at least {min} characters."),
            ),
            ValidationError::PasswordTooLong { max } => Message::new(
                format!("パスワードは{max}文字以下にしてください。"),
                format!("Use a password of at most {max} characters."),
            ),
            ValidationError::PasswordMismatch => Message::new(
                "確認用パスワードが一致しません。同じパスワードをもう一度入力してください。",
                "The confirmation does not match. Type the same password twice.",
            ),
        }
    }
}

error_codes! {
    /// First-run setup refused (`E-SETUP-NNN`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum SetupError {
        /// The first-run setup was already done; the setup page is gone.
        AlreadySetUp = "E-SETUP-001" => "the organisation is already set up",
        /// An action needs the organisation, and setup has not run yet.
        NotSetUp = "E-SETUP-002" => "the organisation is not set up yet",
        /// The console is reachable from other machines and the setup form came without the
        /// one-time setup token.
        TokenMissing = "E-SETUP-003" => "the setup token is missing",
        /// The setup token does not match the one `serve` printed.
        TokenWrong = "E-SETUP-004" => "the setup token is wrong",
    }
}

impl SetupError {
    /// What happened and what to do, in both languages.
    pub fn message(&self) -> Message {
        match self {
            SetupError::AlreadySetUp => Message::new(
                "初期設定は完了しています。サインインしてください。",
                "Setup is already complete. Please sign in.",
            ),
            SetupError::NotSetUp => Message::new(
                "初期設定がまだです。ブラウザで初期設定ページを開いてください。",
                "Setup has not been done yet. Open the setup page in the browser first.",
            ),
            SetupError::TokenMissing => Message::new(
                "セットアップトークンを入力してください。certdesk serve を起動した端末に表示されたトークン、またはデータディレクトリの setup-token ファイルの内容です(何も登録していません)。",
                "Enter the setup token: the one certdesk serve printed on its terminal, also in the setup-token file in the data directory (nothing was created).",
            ),
            SetupError::TokenWrong => Message::new(
                "セットアップトークンが違います。certdesk serve を起動した端末に表示された最新のトークン(データディレクトリの setup-token ファイル)を入力してください。再起動すると新しいトークンになります(何も登録していません)。",
                "The setup token is wrong. Enter the latest token certdesk serve printed on its terminal (also in the setup-token file in the data directory); a restart makes a new one (nothing was created).",
            ),
        }
    }
}

error_codes! {
    /// Sign-in, session or permission refused (`E-AUTH-NNN`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum AuthError {
        /// Wrong login ID or password (never says which).
        SignInFailed = "E-AUTH-001" => "sign-in failed",
        /// The account is locked after too many wrong passwords (or an unknown ID was tried as
        /// often).
        AccountLocked = "E-AUTH-002" => "account locked",
        /// No session, or it expired.
        NotSignedIn = "E-AUTH-003" => "not signed in",
        /// Signed in, but the role may not do this.
        Forbidden = "E-AUTH-004" => "not allowed for this role",
        /// A state-changing request that did not come from the console's own pages.
        CrossSiteRequest = "E-AUTH-005" => "cross-site request refused",
        /// Locked for a while after 5 wrong passwords in a row (growing back-off); a lock set
        /// by a master or admin is `AccountLocked`.
        TemporarilyLocked { until: time::OffsetDateTime } = "E-AUTH-006" => "temporarily locked until {until}",
        /// A login ID over 64 bytes or a password over 1 KiB: refused before anything is
        /// stored or hashed.
        SignInTooLong = "E-AUTH-007" => "login ID or password too long",
        /// Changing one's own password with a wrong current one.
        WrongCurrentPassword = "E-AUTH-008" => "current password wrong",
        /// Every password-hashing slot is taken: refused at once, not queued.
        HashingBusy = "E-AUTH-009" => "password checking is busy",
        /// Too many sign-in, setup or pickup attempts from this address, or from everyone.
        TooManyAttempts { retry_after_secs: u64 } = "E-AUTH-010" => "too many attempts; retry after {retry_after_secs} s",
    }
}

impl AuthError {
    /// What happened and what to do, in both languages.
    pub fn message(&self) -> Message {
        match self {
            AuthError::SignInFailed => Message::new(
                "ログインIDまたはパスワードが正しくありません。5回続けて間違えるとアカウントは閉塞されます。",
                "The login ID or password is incorrect. After 5 wrong passwords in a row the account is locked.",
            ),
            AuthError::AccountLocked => Message::new(
                "このアカウントは閉塞されています。マスターユーザに閉塞解除を依頼してください。",
                "This account is locked. Ask a master user to unlock it.",
            ),
            AuthError::NotSignedIn => Message::new(
                "サインインしていないか、一定時間操作がなかったためサインアウトしました。もう一度サインインしてください。",
                "You are not signed in, or you were signed out after a period without activity. Please sign in again.",
            ),
            AuthError::Forbidden => Message::new(
                "この操作を行う権限がありません。マスターユーザに依頼してください。",
                "Your role may not do this. Ask a master user.",
            ),
            AuthError::CrossSiteRequest => Message::new(
                "他のサイトからの要求のため拒否しました。certdeskの画面から操作してください。",
                "The request came from another site and was refused. Use certdesk's own pages.",
            ),
            AuthError::TemporarilyLocked { until } => {
                let until = crate::notices::jst_minute(*until);
                Message::new(
                    format!("このアカウントは5回続けてパスワードを間違えたため一時的に閉塞中です({until} まで、日本時間)。その時刻を過ぎてから正しいパスワードでサインインするか、マスターユーザに閉塞解除を依頼してください。"),
                    format!("This account is locked until {until} (Japan time) after 5 wrong passwords in a row. Sign in with the right password after that time, or ask a master user to unlock it."),
                )
            }
            AuthError::SignInTooLong => Message::new(
                "ログインIDまたはパスワードが長すぎます(ログインIDは64バイト、パスワードは1,024バイトまで)。正しいログインIDとパスワードを入力してください。",
                "The login ID or password is far too long (login ID at most 64 bytes, password at most 1,024 bytes). Enter your real login ID and password.",
            ),
            AuthError::HashingBusy => Message::new(
                "サーバが混み合っているため、パスワードを確認できませんでした。数秒待ってから、もう一度お試しください。",
                "The server is busy and could not check the password. Wait a few seconds, then try again.",
            ),
            AuthError::TooManyAttempts { retry_after_secs } => Message::new(
                format!("短い時間に試行が多すぎます。{retry_after_secs}秒ほど待ってから、もう一度お試しください。"),
                format!("Too many attempts in a short time. Wait about {retry_after_secs} seconds, then try again."),
            ),
            AuthError::WrongCurrentPassword => Message::new(
                "現在のパスワードが正しくありません(何も変更していません)。自分のパスワードを変えるには現在のパスワードを入力してください。5回続けて間違えると一時的に閉塞されます。",
                "The current password is wrong; nothing was changed. Enter your current password to change your own. After 5 wrong passwords in a row the account is locked for a while.",
            ),
        }
    }
}

error_codes! {
    /// A change to the users refused (`E-USER-NNN`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum UserError {
        /// No user with this login ID.
        NotFound { login_id: String } = "E-USER-001" => "no user with login ID {login_id}",
        /// The organisation already has the most users besides the master.
        Limit { max: u32 } = "E-USER-002" => "at most {max} users besides the master",
        /// The login ID is used by another user (case-insensitive).
        LoginIdTaken { login_id: String } = "E-USER-003" => "login ID {login_id} is taken",
        /// The last master cannot be locked, deleted or demoted.
        LastMaster = "E-USER-004" => "the last master cannot be locked, deleted or demoted",
        /// A role that cannot be given (unknown, or master outside setup).
        RoleNotAllowed { role: String } = "E-USER-005" => "role {role} cannot be given",
        /// A master's role cannot be changed by an import.
        MasterRoleKept { login_id: String } = "E-USER-006" => "the role of the master {login_id} cannot be changed by import",
        /// A user who still holds a valid certificate cannot be deleted.
        HasCertificate { login_id: String } = "E-USER-008" => "{login_id} still holds a valid certificate",
    }
}

impl UserError {
    /// The form field the error is about, if any.
    pub fn field(&self) -> Option<Field> {
        match self {
            UserError::LoginIdTaken { .. } => Some(Field::LoginId),
            UserError::NotFound { .. }
            | UserError::Limit { .. }
            | UserError::LastMaster
            | UserError::RoleNotAllowed { .. }
            | UserError::MasterRoleKept { .. }
            | UserError::HasCertificate { .. } => None,
        }
    }

    /// What happened and what to do, in both languages.
    pub fn message(&self) -> Message {
        match self {
            UserError::NotFound { login_id } => Message::new(
                format!("ログインID「{login_id}」のユーザはいません。ログインIDを確認してください。"),
                format!("There is no user with login ID '{login_id}'. Check the login ID."),
            ),
            UserError::Limit { max } => Message::new(
                format!("マスターユーザ以外の利用者は{max}名までです。不要な利用者を削除してから追加してください。"),
                format!("At most {max} users besides the master. Delete a user who no longer needs access, then add."),
            ),
            UserError::LoginIdTaken { login_id } => Message::new(
                format!("ログインID「{login_id}」は既に使われています(大文字・小文字は区別しません)。別のIDにしてください。"),
                format!("Login ID '{login_id}' is already used (case is ignored). Choose another one."),
            ),
            UserError::LastMaster => Message::new(
                "最後のマスターユーザは閉塞・削除・降格できません。先に別のマスターユーザを用意してください。",
                "The last master user cannot be locked, deleted or demoted. Make another master first.",
            ),
            UserError::RoleNotAllowed { role } => Message::new(
                format!("権限「{role}」は指定できません。admin(管理者ユーザ)または general(一般ユーザ)を指定してください。"),
                format!("Role '{role}' cannot be given here. Use admin or general."),
            ),
            UserError::MasterRoleKept { login_id } => Message::new(
                format!(
                    "「{login_id}」はマスターユーザです。マスターユーザの権限はインポートでは変えられません。\
                     ファイルの権限を master に戻し、権限の変更は利用者ページで行ってください。"
                ),
                format!(
                    "'{login_id}' is the master; a master's role cannot be changed by import. \
                     Put master back in the file and change roles on the Users page."
                ),
            ),
            UserError::HasCertificate { login_id } => Message::new(
                format!("「{login_id}」には有効な証明書があるため削除できません。先に証明書ページで失効させてください。"),
                format!("'{login_id}' still holds a valid certificate and cannot be deleted. Revoke it on the Certificates page first."),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_displays_its_code_then_its_text_with_the_fields_filled_in() {
        assert_eq!(
            ValidationError::OrganisationName { max: 200 }.to_string(),
            "E-VAL-001 organisation name must be 1 to 200 characters without control characters"
        );
        assert_eq!(
            UserError::LoginIdTaken {
                login_id: "tanaka01".into()
            }
            .to_string(),
            "E-USER-003 login ID tanaka01 is taken"
        );
        assert_eq!(AuthError::Forbidden.code(), "E-AUTH-004");
    }

    #[test]
    fn codes_lists_every_code_in_declaration_order() {
        assert_eq!(
            SetupError::CODES,
            &["E-SETUP-001", "E-SETUP-002", "E-SETUP-003", "E-SETUP-004"]
        );
        assert_eq!(ValidationError::CODES.len(), 9);
        assert_eq!(
            ValidationError::CODES[8],
            ValidationError::PasswordMismatch.code()
        );
    }
}
