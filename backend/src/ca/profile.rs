//! The issuing profile: validity, renewal window, key type, names and CRL period of the
//! certificates certdesk issues (defaults until a master saves one).

use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::ts;
use crate::Backend;
use certdesk_domain::profile::{IssuingProfile, KeyType};
use certdesk_domain::AuditAction;
use rusqlite::{params, Connection, OptionalExtension};

pub(crate) fn load_profile(conn: &Connection) -> Result<IssuingProfile, ServiceError> {
    let row = conn
        .query_row(
            "SELECT validity_days, renewal_window_days, key_type, friendly_name_template, ca_name, crl_next_update_days
             FROM issuing_profile WHERE id = 1",
            [],
            |r| {
                Ok((r.get::<_, u32>(0)?, r.get::<_, u32>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?, r.get::<_, u32>(5)?))
            },
        )
        .optional()?;
    Ok(match row {
        Some((
            validity_days,
            renewal_window_days,
            key_type,
            friendly_name_template,
            ca_name,
            crl_next_update_days,
        )) => IssuingProfile {
            validity_days,
            renewal_window_days,
            key_type: KeyType::parse(&key_type).unwrap_or(KeyType::Rsa2048),
            friendly_name_template,
            ca_name,
            crl_next_update_days,
        },
        None => IssuingProfile::default(),
    })
}

impl Backend {
    /// The organisation's issuing profile (defaults until saved).
    pub async fn issuing_profile(&self) -> Result<IssuingProfile, ServiceError> {
        self.db().run(|conn| load_profile(conn)).await
    }

    /// Saves the issuing profile; audited.
    pub async fn update_issuing_profile(
        &self,
        profile: IssuingProfile,
        actor: Actor,
    ) -> Result<(), ServiceError> {
        profile.validate()?;
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                tx.execute(
                    "INSERT INTO issuing_profile (id, validity_days, renewal_window_days, key_type, friendly_name_template,
                                                  ca_name, crl_next_update_days, updated_at)
                     VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO UPDATE SET validity_days = ?1, renewal_window_days = ?2, key_type = ?3,
                        friendly_name_template = ?4, ca_name = ?5, crl_next_update_days = ?6, updated_at = ?7",
                    params![profile.validity_days, profile.renewal_window_days, profile.key_type.as_str(),
                        profile.friendly_name_template.trim(), profile.ca_name.trim(), profile.crl_next_update_days, ts(now)],
                )?;
                audit::record(&tx, now, &actor, AuditAction::ProfileUpdate, Some("issuing profile"), Outcome::Success,
                    serde_json::to_value(&profile).unwrap_or_default())?;
                tx.commit()?;
                Ok(())
            })
            .await
    }
}
