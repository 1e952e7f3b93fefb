//! The domain's one error type: input that breaks a rule, with the field it concerns.

use crate::lang::Message;
use serde::{Deserialize, Serialize};

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

/// Input that breaks a domain rule. Every variant has a stable code (`E-VAL-NNN`) and a
/// message in both languages that says how to fix the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Organisation name empty, too long, or with control characters.
    #[error(
        "E-VAL-001 organisation name must be 1 to {max} characters without control characters"
    )]
    OrganisationName { max: usize },
    /// Group ID is not 4 to 20 ASCII letters and digits.
    #[error("E-VAL-002 group ID must be 4 to 20 ASCII letters or digits")]
    GroupId,
    /// Bank code is not exactly four digits.
    #[error("E-VAL-003 bank code must be exactly 4 digits")]
    BankCode,
    /// Login ID breaks the login ID rule.
    #[error("E-VAL-004 login ID must be 6 to 12 ASCII letters, digits, '_' or '-'")]
    LoginId,
    /// A person's name is empty, too long, or has control characters.
    #[error("E-VAL-005 name must be 1 to {max} characters without control characters")]
    PersonName { max: usize },
    /// E-mail address is not of the form local@domain.
    #[error("E-VAL-006 e-mail address is not valid")]
    Email,
    /// Password shorter than the minimum.
    #[error("E-VAL-007 password must be at least {min} characters")]
    PasswordTooShort { min: usize },
    /// Password longer than the maximum.
    #[error("E-VAL-008 password must be at most {max} characters")]
    PasswordTooLong { max: usize },
    /// The two password fields differ.
    #[error("E-VAL-009 the two passwords differ")]
    PasswordMismatch,
}

impl ValidationError {
    /// The stable code shown to people and written to the log.
    pub fn code(&self) -> &'static str {
        match self {
            ValidationError::OrganisationName { .. } => "E-VAL-001",
            ValidationError::GroupId => "E-VAL-002",
            ValidationError::BankCode => "E-VAL-003",
            ValidationError::LoginId => "E-VAL-004",
            ValidationError::PersonName { .. } => "E-VAL-005",
            ValidationError::Email => "E-VAL-006",
            ValidationError::PasswordTooShort { .. } => "E-VAL-007",
            ValidationError::PasswordTooLong { .. } => "E-VAL-008",
            ValidationError::PasswordMismatch => "E-VAL-009",
        }
    }

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
