//! The organisation's issuing profile and the names it gives certificates.

use crate::error::error_codes;
use crate::lang::Message;
use crate::lifecycle::LifecyclePolicy;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};

/// Key algorithm of issued certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyType {
    /// RSA 2048 with SHA-256: the default, accepted by every Windows version.
    Rsa2048,
    /// ECDSA P-256 with SHA-256.
    EcdsaP256,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa2048",
            KeyType::EcdsaP256 => "ecdsa_p256",
        }
    }

    pub fn parse(s: &str) -> Option<KeyType> {
        match s {
            "rsa2048" => Some(KeyType::Rsa2048),
            "ecdsa_p256" => Some(KeyType::EcdsaP256),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "RSA 2048",
            KeyType::EcdsaP256 => "ECDSA P-256",
        }
    }
}

/// The per-organisation settings that shape issued certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuingProfile {
    pub validity_days: u32,
    pub renewal_window_days: u32,
    pub key_type: KeyType,
    /// With `<organisation>` and `<login ID>` placeholders; Windows shows it.
    pub friendly_name_template: String,
    /// Goes into the CA's OU: `(bank code)<CA name> - G1`.
    pub ca_name: String,
    /// A CRL's nextUpdate is this many days after its thisUpdate.
    pub crl_next_update_days: u32,
}

impl Default for IssuingProfile {
    fn default() -> Self {
        IssuingProfile {
            validity_days: 366,
            renewal_window_days: 40,
            key_type: KeyType::Rsa2048,
            friendly_name_template: "<organisation> <login ID>".into(),
            ca_name: "certdesk CA".into(),
            crl_next_update_days: 7,
        }
    }
}

error_codes! {
    /// A profile field that breaks its rule (`E-PROF-NNN`), with a remedy.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum ProfileError {
        Validity = "E-PROF-001" => "validity must be 1 to 3650 days",
        RenewalWindow = "E-PROF-002" => "renewal window must be at least 1 day and shorter than the validity",
        FriendlyName = "E-PROF-003" => "friendly-name template must be 1 to 64 characters",
        CaName = "E-PROF-004" => "CA name must be 1 to 40 printable ASCII characters",
        CrlNextUpdate = "E-PROF-005" => "CRL next update must be 1 to 30 days",
    }
}

impl ProfileError {
    /// The form field's name.
    pub fn field(&self) -> &'static str {
        match self {
            ProfileError::Validity => "validity_days",
            ProfileError::RenewalWindow => "renewal_window_days",
            ProfileError::FriendlyName => "friendly_name_template",
            ProfileError::CaName => "ca_name",
            ProfileError::CrlNextUpdate => "crl_next_update_days",
        }
    }

    pub fn message(&self) -> Message {
        match self {
            ProfileError::Validity => Message::new(
                "有効期間は1〜3650日で入力してください(標準は366日)。",
                "Enter a validity of 1 to 3650 days (366 is the usual).",
            ),
            ProfileError::RenewalWindow => Message::new(
                "更新可能期間は1日以上、有効期間より短くしてください(標準は40日)。",
                "Enter a renewal window of at least 1 day and shorter than the validity (40 is the usual).",
            ),
            ProfileError::FriendlyName => Message::new(
                "フレンドリ名は1〜64文字にしてください。<organisation> と <login ID> が使えます。",
                "Use 1 to 64 characters for the friendly name; <organisation> and <login ID> are replaced.",
            ),
            ProfileError::CaName => Message::new(
                "CA名は半角英数字・記号で1〜40文字にしてください。",
                "Use 1 to 40 printable ASCII characters for the CA name.",
            ),
            ProfileError::CrlNextUpdate => Message::new(
                "CRLの次回更新は1〜30日で入力してください(標準は7日)。",
                "Enter 1 to 30 days for the CRL's next update (7 is the usual).",
            ),
        }
    }
}

impl IssuingProfile {
    /// Checks every field; the first broken rule is returned.
    pub fn validate(&self) -> Result<(), ProfileError> {
        if !(1..=3650).contains(&self.validity_days) {
            return Err(ProfileError::Validity);
        }
        if self.renewal_window_days < 1 || self.renewal_window_days >= self.validity_days {
            return Err(ProfileError::RenewalWindow);
        }
        let n = self.friendly_name_template.trim().chars().count();
        if n == 0 || n > 64 || self.friendly_name_template.chars().any(char::is_control) {
            return Err(ProfileError::FriendlyName);
        }
        let ca = self.ca_name.trim();
        if ca.is_empty() || ca.len() > 40 || !ca.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(ProfileError::CaName);
        }
        if !(1..=30).contains(&self.crl_next_update_days) {
            return Err(ProfileError::CrlNextUpdate);
        }
        Ok(())
    }

    pub fn lifecycle(&self) -> LifecyclePolicy {
        LifecyclePolicy {
            validity_days: self.validity_days,
            renewal_window_days: self.renewal_window_days,
        }
    }

    /// The friendly name of a certificate for `login_id`.
    pub fn friendly_name(&self, organisation: &str, login_id: &str) -> String {
        self.friendly_name_template
            .trim()
            .replace("<organisation>", organisation)
            .replace("<login ID>", login_id)
    }
}

/// Japan Standard Time, in which the CN's issue timestamp is written.
pub const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(o) => o,
    Err(_) => panic!("+09:00 is a valid offset"),
};

/// The CN of a client certificate: `<login ID> A<seq 3 digits> <YYYYMMDDhhmmssffffff>` with the
/// issue time in JST, as in the field (`logid031 A001 20200304153656560435`).
pub fn certificate_cn(login_id: &str, seq: u32, issued_at: OffsetDateTime) -> String {
    let t = issued_at.to_offset(JST);
    format!(
        "{login_id} A{seq:03} {:04}{:02}{:02}{:02}{:02}{:02}{:06}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// `(bank code)name`, the way the field writes O and OU.
pub fn with_bank_code(bank_code: &str, name: &str) -> String {
    format!("({bank_code}){name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_cn_carries_login_id_sequence_and_jst_timestamp_with_microseconds() {
        let at = datetime!(2020-03-04 06:36:56.560435 UTC);
        assert_eq!(
            certificate_cn("logid031", 1, at),
            "logid031 A001 20200304153656560435"
        );
        assert_eq!(
            certificate_cn("taro01", 12, at),
            "taro01 A012 20200304153656560435"
        );
    }

    #[test]
    fn the_default_profile_is_366_days_40_day_window_rsa() {
        let p = IssuingProfile::default();
        assert_eq!(
            (p.validity_days, p.renewal_window_days, p.key_type),
            (366, 40, KeyType::Rsa2048)
        );
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(
            p.friendly_name("itoshin Business Banking", "taro01"),
            "itoshin Business Banking taro01"
        );
    }

    #[test]
    fn each_profile_rule_has_its_error() {
        let base = IssuingProfile::default();
        let cases = [
            (
                IssuingProfile {
                    validity_days: 0,
                    ..base.clone()
                },
                ProfileError::Validity,
            ),
            (
                IssuingProfile {
                    validity_days: 3651,
                    ..base.clone()
                },
                ProfileError::Validity,
            ),
            (
                IssuingProfile {
                    renewal_window_days: 366,
                    ..base.clone()
                },
                ProfileError::RenewalWindow,
            ),
            (
                IssuingProfile {
                    renewal_window_days: 0,
                    ..base.clone()
                },
                ProfileError::RenewalWindow,
            ),
            (
                IssuingProfile {
                    friendly_name_template: " ".into(),
                    ..base.clone()
                },
                ProfileError::FriendlyName,
            ),
            (
                IssuingProfile {
                    ca_name: "認証局".into(),
                    ..base.clone()
                },
                ProfileError::CaName,
            ),
            (
                IssuingProfile {
                    crl_next_update_days: 31,
                    ..base.clone()
                },
                ProfileError::CrlNextUpdate,
            ),
        ];
        for (profile, expected) in cases {
            assert_eq!(profile.validate(), Err(expected.clone()), "{profile:?}");
            assert!(expected.code().starts_with("E-PROF-"));
        }
    }

    #[test]
    fn key_types_round_trip() {
        for k in [KeyType::Rsa2048, KeyType::EcdsaP256] {
            assert_eq!(KeyType::parse(k.as_str()), Some(k));
        }
    }
}
