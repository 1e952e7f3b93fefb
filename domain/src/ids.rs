//! Parsed values: once a value of these types exists, it follows its rule
//! ("parse, don't validate").

use crate::error::ValidationError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
#[cfg(not(target_arch = "wasm32"))]
use unicode_normalization::UnicodeNormalization;

/// Longest organisation name accepted.
pub const ORGANISATION_NAME_MAX: usize = 100;
/// Longest person name accepted.
pub const PERSON_NAME_MAX: usize = 100;
/// Shortest password accepted for console sign-in.
pub const PASSWORD_MIN: usize = 12;
/// Longest password accepted (argon2 would take any length; this bounds the work per request).
pub const PASSWORD_MAX: usize = 128;

/// Text as people typed it, normalised to NFC (on the server: see [`nfc`]), trimmed, and checked for length and control
/// characters. Length counts Unicode scalar values, so 「山田 太郎」 is 5.
fn display_text(raw: &str, max: usize) -> Option<String> {
    let text = nfc(raw.trim());
    let len = text.chars().count();
    if len == 0 || len > max || text.chars().any(char::is_control) {
        return None;
    }
    Some(text)
}

#[cfg(not(target_arch = "wasm32"))]
fn nfc(text: &str) -> String {
    text.nfc().collect()
}

/// In the browser (wasm32) the text is kept as it is: there these types only re-read names the
/// server sent, already normalised, and the server parses whatever the browser sends again.
/// The normalisation tables would be 110 KB of the browser bundle (62 KB gzip; issue 16).
#[cfg(target_arch = "wasm32")]
fn nfc(text: &str) -> String {
    text.to_string()
}

/// A login ID: 6 to 12 ASCII letters, digits, `_` or `-`. Kept as entered; unique per
/// organisation without regard to case, through [`LoginId::key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoginId(String);

impl LoginId {
    pub fn parse(raw: &str) -> Result<LoginId, ValidationError> {
        let s = raw.trim();
        let ok = (6..=12).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(LoginId(s.to_string()))
        } else {
            Err(ValidationError::LoginId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form that uniqueness is checked on.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for LoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`, so that `{:<12}` lines it up as it does a `&str`.
        f.pad(&self.0)
    }
}

/// A bank code (金融機関コード): exactly four ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankCode(String);

impl BankCode {
    pub fn parse(raw: &str) -> Result<BankCode, ValidationError> {
        let s = raw.trim();
        if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(BankCode(s.to_string()))
        } else {
            Err(ValidationError::BankCode)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An organisation's group ID (グループID): 4 to 20 ASCII letters and digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupId(String);

impl GroupId {
    pub fn parse(raw: &str) -> Result<GroupId, ValidationError> {
        let s = raw.trim();
        if (4..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(GroupId(s.to_string()))
        } else {
            Err(ValidationError::GroupId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An organisation's name, as shown in the header and in certificate subjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationName(String);

impl OrganisationName {
    pub fn parse(raw: &str) -> Result<OrganisationName, ValidationError> {
        display_text(raw, ORGANISATION_NAME_MAX)
            .map(OrganisationName)
            .ok_or(ValidationError::OrganisationName {
                max: ORGANISATION_NAME_MAX,
            })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's name; kanji and kana are kept as entered (NFC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<PersonName, ValidationError> {
        display_text(raw, PERSON_NAME_MAX)
            .map(PersonName)
            .ok_or(ValidationError::PersonName {
                max: PERSON_NAME_MAX,
            })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address: one `@`, a local part of printable ASCII without spaces, and a domain of
/// at least two dot-separated labels of letters, digits and hyphens. At most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, ValidationError> {
        let s = raw.trim();
        let valid = || -> Option<()> {
            if s.len() > 254 {
                return None;
            }
            let (local, domain) = s.split_once('@')?;
            let local_ok = !local.is_empty()
                && local.len() <= 64
                && local.bytes().all(|b| b.is_ascii_graphic() && b != b'@')
                && !local.starts_with('.')
                && !local.ends_with('.')
                && !local.contains("..");
            let labels: Vec<&str> = domain.split('.').collect();
            let domain_ok = labels.len() >= 2
                && labels.iter().all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            (local_ok && domain_ok).then_some(())
        };
        valid()
            .map(|_| Email(s.to_string()))
            .ok_or(ValidationError::Email)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A console password that meets the policy. Deliberately neither `Display` nor `Serialize`,
/// and its `Debug` does not show the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Checks a new password and its confirmation against the policy.
    pub fn parse_new(raw: &str, confirmation: &str) -> Result<Password, ValidationError> {
        let len = raw.chars().count();
        if len < PASSWORD_MIN {
            return Err(ValidationError::PasswordTooShort { min: PASSWORD_MIN });
        }
        if len > PASSWORD_MAX {
            return Err(ValidationError::PasswordTooLong { max: PASSWORD_MAX });
        }
        if raw != confirmation {
            return Err(ValidationError::PasswordMismatch);
        }
        Ok(Password(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Serde for the parsed text types: written as the plain string, and parsed again on the way
/// in, so a value that crosses to the browser and back still follows its rule.
macro_rules! serde_as_parsed_text {
    ($($ty:ident),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
                let text = String::deserialize(deserializer)?;
                $ty::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

serde_as_parsed_text!(LoginId, PersonName, Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_ids_of_6_and_12_characters_are_accepted() {
        assert_eq!(
            LoginId::parse("abc_12").map(|l| l.key()),
            Ok("abc_12".into())
        );
        assert!(LoginId::parse("ABCDEFGH-123").is_ok());
    }

    #[test]
    fn login_ids_of_5_or_13_characters_or_other_symbols_are_refused() {
        for bad in [
            "abc12",
            "abcdefgh-1234",
            "taro.yamada",
            "山田太郎abcd",
            "abc 123",
            "",
        ] {
            assert_eq!(LoginId::parse(bad), Err(ValidationError::LoginId), "{bad}");
        }
    }

    #[test]
    fn login_id_uniqueness_key_ignores_case() {
        let a = LoginId::parse("TaroY01").expect("valid");
        let b = LoginId::parse("taroy01").expect("valid");
        assert_ne!(a, b);
        assert_eq!(a.key(), b.key());
        assert_eq!(a.as_str(), "TaroY01");
    }

    #[test]
    fn bank_code_is_exactly_four_digits() {
        assert_eq!(
            BankCode::parse(" 0001 ").map(|b| b.as_str().to_string()),
            Ok("0001".into())
        );
        for bad in ["001", "00001", "00a1", "０００１", ""] {
            assert_eq!(
                BankCode::parse(bad),
                Err(ValidationError::BankCode),
                "{bad}"
            );
        }
    }

    #[test]
    fn group_id_is_4_to_20_ascii_alphanumerics() {
        assert!(GroupId::parse("G001").is_ok());
        assert!(GroupId::parse("ABCDEFGHIJ0123456789").is_ok());
        for bad in ["G01", "ABCDEFGHIJ01234567890", "G-001", ""] {
            assert_eq!(GroupId::parse(bad), Err(ValidationError::GroupId), "{bad}");
        }
    }

    #[test]
    fn names_keep_japanese_text_and_are_normalised_to_nfc() {
        // "ガ" written as カ + combining voiced mark becomes the single precomposed character.
        let name = PersonName::parse("山田 太郎 \u{30AB}\u{3099}").expect("valid");
        assert_eq!(name.as_str(), "山田 太郎 ガ");
        assert_eq!(name.as_str().chars().count(), 7);
    }

    #[test]
    fn names_over_the_limit_or_with_control_characters_are_refused() {
        let long = "あ".repeat(PERSON_NAME_MAX + 1);
        assert!(PersonName::parse(&"あ".repeat(PERSON_NAME_MAX)).is_ok());
        assert_eq!(
            PersonName::parse(&long),
            Err(ValidationError::PersonName {
                max: PERSON_NAME_MAX
            })
        );
        assert!(PersonName::parse("a\u{0007}b").is_err());
        assert!(OrganisationName::parse("   ").is_err());
    }

    #[test]
    fn email_addresses() {
        for good in ["taro@example.co.jp", "a.b+tag@mail.example.com"] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "taro",
            "taro@",
            "@example.com",
            "taro@example",
            "ta ro@example.com",
            "a@b@c.jp",
            "taro@-x.jp",
            "a..b@x.jp",
        ] {
            assert_eq!(Email::parse(bad), Err(ValidationError::Email), "{bad}");
        }
    }

    #[test]
    fn passwords_follow_the_length_policy_and_must_match_their_confirmation() {
        let ok = "correct horse";
        assert!(Password::parse_new(ok, ok).is_ok());
        assert_eq!(
            Password::parse_new("short", "short"),
            Err(ValidationError::PasswordTooShort { min: PASSWORD_MIN })
        );
        let long = "x".repeat(PASSWORD_MAX + 1);
        assert_eq!(
            Password::parse_new(&long, &long),
            Err(ValidationError::PasswordTooLong { max: PASSWORD_MAX })
        );
        assert_eq!(
            Password::parse_new(ok, "correct horsE"),
            Err(ValidationError::PasswordMismatch)
        );
    }

    #[test]
    fn parsed_text_is_parsed_again_when_deserialised() {
        use serde::de::value::{Error, StrDeserializer};
        use serde::de::IntoDeserializer;
        fn read<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, Error> {
            let de: StrDeserializer<'_, Error> = text.into_deserializer();
            T::deserialize(de)
        }
        assert_eq!(
            read::<LoginId>("TaroY01").map(|l| l.key()),
            Ok("taroy01".into())
        );
        assert!(read::<LoginId>("abc").is_err());
        assert_eq!(
            read::<PersonName>(" 山田 \u{30AB}\u{3099}").map(|n| n.0),
            Ok("山田 ガ".to_string())
        );
        assert!(read::<Email>("taro@").is_err());
    }

    #[test]
    fn a_login_id_lines_up_in_formatted_output_like_text() {
        let id = LoginId::parse("TaroY01").expect("valid");
        assert_eq!(format!("[{id:<8}]"), "[TaroY01 ]");
    }

    #[test]
    fn password_debug_does_not_show_the_text() {
        let p = Password::parse_new("correct horse", "correct horse").expect("valid");
        assert_eq!(format!("{p:?}"), "Password(***)");
    }
}
