//! The embedded CA's register: the CA itself (made once the organisation exists, loaded at
//! every start), what it revoked, and the CRLs it publishes. Its register of certificates is
//! certdesk's own `certificates` table (rows with `ca_kind = 'embedded'`).

use crate::ca::embedded::{CaName, EmbeddedCa, RevokedEntry};
use crate::ca::profile::load_profile;
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::certificates::{record_revocation, Revocation};
use crate::store::db::{parse_ts, ts};
use crate::Backend;
use certdesk_domain::external_ca::CaBackendKind;
use certdesk_domain::lifecycle::LifecycleError;
use certdesk_domain::lifecycle::RevocationReason;
use certdesk_domain::profile::{with_bank_code, IssuingProfile};
use certdesk_domain::AuditAction;
use rusqlite::{params, OptionalExtension, Transaction};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Signs and stores the CRL listing every revoked certificate that has not yet expired.
pub(crate) fn publish_crl_in(
    tx: &Transaction<'_>,
    ca: &EmbeddedCa,
    profile: &IssuingProfile,
    now: OffsetDateTime,
    actor: &Actor,
    why: &str,
) -> Result<u64, ServiceError> {
    let number: u64 = tx.query_row("SELECT coalesce(max(number), 0) + 1 FROM crls", [], |r| {
        r.get(0)
    })?;
    let mut stmt = tx.prepare(
        "SELECT serial, revoked_at, revocation_reason FROM certificates
         WHERE state = 'revoked' AND not_after >= ?1 AND ca_kind = 'embedded' ORDER BY id",
    )?;
    let entries = stmt
        .query_map([ts(now)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|(serial, at, reason)| {
            Ok(RevokedEntry {
                serial: hex::decode(&serial)
                    .map_err(|e| ServiceError::Internal(format!("bad serial {serial}: {e}")))?,
                revoked_at: parse_ts(&at)?,
                reason_code: reason
                    .as_deref()
                    .and_then(RevocationReason::parse)
                    .map_or(0, |r| r.code()),
            })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    let next_update = now + Duration::days(i64::from(profile.crl_next_update_days));
    let der = ca.sign_crl(number, now, next_update, &entries)?;
    tx.execute(
        "INSERT INTO crls (number, this_update, next_update, entries, der) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![number, ts(now), ts(next_update), entries.len(), der],
    )?;
    audit::record(
        tx,
        now,
        actor,
        AuditAction::CrlPublish,
        Some(&format!("CRL {number}")),
        Outcome::Success,
        serde_json::json!({"number": number, "entries": entries.len(), "next_update": ts(next_update), "why": why}),
    )?;
    Ok(number)
}

impl Backend {
    /// Loads the embedded CA, or creates it once the organisation exists. Called at start-up,
    /// after setup, and by `certdesk ca init`. Returns true if it created one.
    pub async fn ensure_ca(&self, actor: Actor) -> Result<bool, ServiceError> {
        if self.ca().is_some() {
            return Ok(false);
        }
        let key_path = self.settings().data_dir.join("ca").join("ca-key.sealed");
        let now = self.clock().now();
        let stored = self
            .db()
            .run(|conn| {
                let ca = conn
                    .query_row(
                        "SELECT dn_o, dn_ou, dn_cn, cert_der FROM ca WHERE id = 1",
                        [],
                        |r| {
                            Ok((
                                CaName {
                                    o: r.get(0)?,
                                    ou: r.get(1)?,
                                    cn: r.get(2)?,
                                },
                                r.get::<_, Vec<u8>>(3)?,
                            ))
                        },
                    )
                    .optional()?;
                let org = conn
                    .query_row(
                        "SELECT name, bank_code FROM organisation WHERE id = 1",
                        [],
                        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                    )
                    .optional()?;
                Ok((ca, org, load_profile(conn)?))
            })
            .await?;
        let master = self.master_key();
        let (created, ca) = match stored {
            (Some((name, der)), _, _) => {
                let ca = tokio::task::spawn_blocking(move || {
                    EmbeddedCa::load(&name, der, &master, &key_path)
                })
                .await
                .map_err(|e| ServiceError::Internal(format!("CA task failed: {e}")))??;
                (false, ca)
            }
            (None, None, _) => return Ok(false),
            (None, Some((org_name, bank_code)), profile) => {
                let name = CaName {
                    o: with_bank_code(&bank_code, &org_name),
                    ou: with_bank_code(&bank_code, &format!("{} - G1", profile.ca_name)),
                    cn: format!("{} - G1", profile.ca_name),
                };
                let path = key_path.clone();
                let n = name.clone();
                let ca = tokio::task::spawn_blocking(move || {
                    EmbeddedCa::create(&n, now, &master, &path)
                })
                .await
                .map_err(|e| ServiceError::Internal(format!("CA task failed: {e}")))??;
                let der = ca.cert_der().to_vec();
                let key_file = key_path.to_string_lossy().into_owned();
                let ca = Arc::new(ca);
                let ca_for_crl = Arc::clone(&ca);
                let result = self
                    .db()
                    .run(move |conn| {
                        let tx = conn.transaction()?;
                        tx.execute(
                            "INSERT INTO ca (id, dn_o, dn_ou, dn_cn, cert_der, key_file, created_at) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
                            params![name.o, name.ou, name.cn, der, key_file, ts(now)],
                        )?;
                        audit::record(&tx, now, &actor, AuditAction::CaCreate, Some(&name.cn), Outcome::Success,
                            serde_json::json!({"o": name.o, "ou": name.ou, "key": "RSA-3072"}))?;
                        let profile = load_profile(&tx)?;
                        publish_crl_in(&tx, &ca_for_crl, &profile, now, &actor, "ca_created")?;
                        tx.commit()?;
                        Ok(())
                    })
                    .await;
                if let Err(e) = result {
                    // Keep no key file for a CA the database does not know.
                    let _ = std::fs::remove_file(&key_path);
                    return Err(e);
                }
                self.set_ca(Arc::clone(&ca));
                return Ok(true);
            }
        };
        self.set_ca(Arc::new(ca));
        Ok(created)
    }

    pub(crate) fn ready_ca(&self) -> Result<Arc<EmbeddedCa>, ServiceError> {
        self.ca().ok_or(LifecycleError::CaNotReady.into())
    }

    /// The CA certificate (DER), for relying parties.
    pub fn ca_certificate_der(&self) -> Option<Vec<u8>> {
        self.ca().map(|ca| ca.cert_der().to_vec())
    }

    /// The newest CRL (DER).
    pub async fn latest_crl(&self) -> Result<Option<Vec<u8>>, ServiceError> {
        self.db()
            .run(|conn| {
                Ok(conn
                    .query_row(
                        "SELECT der FROM crls ORDER BY number DESC LIMIT 1",
                        [],
                        |r| r.get(0),
                    )
                    .optional()?)
            })
            .await
    }

    /// Re-signs the CRL if the newest is older than `max_age` (the daily job); returns the new
    /// number if it published one.
    pub async fn refresh_crl(&self, max_age: Duration) -> Result<Option<u64>, ServiceError> {
        let Ok(ca) = self.ready_ca() else {
            return Ok(None);
        };
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let last: Option<String> = tx
                    .query_row(
                        "SELECT this_update FROM crls ORDER BY number DESC LIMIT 1",
                        [],
                        |r| r.get(0),
                    )
                    .optional()?;
                let due = match last {
                    Some(at) => parse_ts(&at)? + max_age <= now,
                    None => true,
                };
                if !due {
                    return Ok(None);
                }
                let profile = load_profile(&tx)?;
                let n = publish_crl_in(&tx, &ca, &profile, now, &Actor::System, "scheduled")?;
                tx.commit()?;
                Ok(Some(n))
            })
            .await
    }

    /// The embedded CA's register: revokes the certificate it issued with `serial_hex` (if
    /// still valid) and publishes a CRL. False if it never issued that serial.
    pub async fn revoke_by_serial(
        &self,
        serial_hex: &str,
        reason: RevocationReason,
    ) -> Result<bool, ServiceError> {
        let ca = self.ready_ca()?;
        let now = self.clock().now();
        let serial = serial_hex.to_ascii_lowercase();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let found: Option<(i64, String, String)> = tx
                    .query_row(
                        "SELECT c.id, c.state, u.login_id FROM certificates c JOIN users u ON u.id = c.user_id
                          WHERE c.serial = ?1 AND c.ca_kind = 'embedded'",
                        [&serial],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?;
                let Some((id, state, login_id)) = found else {
                    return Ok(false);
                };
                if state == "valid" {
                    let revocation = Revocation {
                        certificate_id: id,
                        serial: &serial,
                        login_id: &login_id,
                        reason,
                        as_part_of: "ca_interface",
                        ca: CaBackendKind::Embedded,
                    };
                    record_revocation(&tx, now, &Actor::System, &revocation)?;
                    let profile = load_profile(&tx)?;
                    publish_crl_in(&tx, &ca, &profile, now, &Actor::System, "revoke")?;
                }
                tx.commit()?;
                Ok(true)
            })
            .await
    }
}
