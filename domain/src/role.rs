//! Roles of the people an organisation has (DOMAIN.md, "Who uses the console").

use serde::{Deserialize, Serialize};

/// A user's role. Only masters and admins sign in to the console. Serde writes the same names
/// as [`Role::as_str`] (`"master"`, `"admin"`, `"general"`), the JSON the pages always saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    Admin,
    General,
}

impl Role {
    /// The value stored in the database and used in CSV files.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Admin => "admin",
            Role::General => "general",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "master" => Some(Role::Master),
            "admin" => Some(Role::Admin),
            "general" => Some(Role::General),
            _ => None,
        }
    }

    /// General users only receive certificates; they never sign in to the console.
    pub fn may_sign_in_to_console(self) -> bool {
        matches!(self, Role::Master | Role::Admin)
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            Role::Master => "マスターユーザ",
            Role::Admin => "管理者ユーザ",
            Role::General => "一般ユーザ",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Role::Master => "Master",
            Role::Admin => "Admin",
            Role::General => "General",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_masters_and_admins_sign_in_to_the_console() {
        assert!(Role::Master.may_sign_in_to_console());
        assert!(Role::Admin.may_sign_in_to_console());
        assert!(!Role::General.may_sign_in_to_console());
    }

    #[test]
    fn stored_names_round_trip() {
        for role in [Role::Master, Role::Admin, Role::General] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Master"), None);
    }

    #[test]
    fn serde_uses_the_stored_names() {
        use serde::de::value::{Error, StrDeserializer};
        use serde::de::IntoDeserializer;
        for role in [Role::Master, Role::Admin, Role::General] {
            let de: StrDeserializer<'_, Error> = role.as_str().into_deserializer();
            assert_eq!(Role::deserialize(de), Ok(role));
        }
        let de: StrDeserializer<'_, Error> = "Master".into_deserializer();
        assert!(Role::deserialize(de).is_err());
    }
}
