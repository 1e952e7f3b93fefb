//! Certificate use cases with the embedded CA: issue, renew, revoke, reissue, CRLs, and the
//! views the Certificates page needs.
//!
//! Crash safety: a key is generated before the transaction (it is only a key), but the
//! certificate is signed *inside* the transaction that inserts its row, its sealed key and its
//! audit row. If the commit fails or the process dies first, the signed bytes never left the
//! process, so no certificate exists that the database does not know. The partial unique
//! index `certificates_one_valid_per_user` makes a re-run after a crash unable to create a
//! second valid certificate for anyone.

pub mod bulk;
pub mod dashboard;

use crate::ca::{self, CaName, EmbeddedCa, LeafRequest, RevokedEntry};
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::{parse_ts, ts};
use crate::store::secrets::Purpose;
use crate::Backend;
use certdesk_domain::external_ca::{CaBackendKind, CaBackendView};
use certdesk_domain::lifecycle::{
    self, CertificateFacts, CertificateState, Holder, LifecycleError, RevocationReason, StoredState,
};
use certdesk_domain::profile::{certificate_cn, with_bank_code, IssuingProfile, KeyType};
use certdesk_domain::AuditAction;
use certdesk_domain::{SetupError, UserError};
use rcgen::KeyPair;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// The CA and profile a run issues with.
#[derive(Clone)]
pub(crate) struct Issuing {
    pub ca: Arc<EmbeddedCa>,
    pub profile: IssuingProfile,
}

/// What an administrator asks for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    Issue,
    Renew,
    Revoke(Option<RevocationReason>),
    Reissue(Option<RevocationReason>),
}

impl Operation {
    pub(crate) fn needs_key(self) -> bool {
        !matches!(self, Operation::Revoke(_))
    }

    pub fn name(self) -> &'static str {
        match self {
            Operation::Issue => "issue",
            Operation::Renew => "renew",
            Operation::Revoke(_) => "revoke",
            Operation::Reissue(_) => "reissue",
        }
    }

    pub fn reason(self) -> Option<RevocationReason> {
        match self {
            Operation::Revoke(r) | Operation::Reissue(r) => r,
            Operation::Issue | Operation::Renew => None,
        }
    }

    /// From the stored name and reason.
    pub fn parse(name: &str, reason: Option<&str>) -> Option<Operation> {
        let reason = reason.and_then(RevocationReason::parse);
        match name {
            "issue" => Some(Operation::Issue),
            "renew" => Some(Operation::Renew),
            "revoke" => Some(Operation::Revoke(reason)),
            "reissue" => Some(Operation::Reissue(reason)),
            _ => None,
        }
    }
}

pub use certdesk_domain::views::{CertificateView, UserCertificates};

pub(crate) const CERT_COLUMNS: &str =
    "c.id, c.user_id, u.login_id, c.serial, c.subject, c.key_type, c.friendly_name,
     c.not_before, c.not_after, c.state, c.via, c.issued_at, c.issued_by, c.revoked_at,
     c.revocation_reason, c.sha256";

pub(crate) fn read_view(
    r: &rusqlite::Row<'_>,
    now: OffsetDateTime,
    profile: &IssuingProfile,
) -> rusqlite::Result<CertificateView> {
    read_view_at(r, 0, now, profile)
}

/// Reads [`CERT_COLUMNS`] starting at column `at`.
fn read_view_at(
    r: &rusqlite::Row<'_>,
    at: usize,
    now: OffsetDateTime,
    profile: &IssuingProfile,
) -> rusqlite::Result<CertificateView> {
    let not_before: String = r.get(at + 7)?;
    let not_after: String = r.get(at + 8)?;
    let state: String = r.get(at + 9)?;
    let bad = |e: ServiceError| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
    let facts = CertificateFacts {
        state: StoredState::parse(&state).unwrap_or(StoredState::Revoked),
        not_before: parse_ts(&not_before).map_err(bad)?,
        not_after: parse_ts(&not_after).map_err(bad)?,
    };
    Ok(CertificateView {
        id: r.get(at)?,
        user_id: r.get(at + 1)?,
        login_id: r.get(at + 2)?,
        serial: r.get(at + 3)?,
        subject: r.get(at + 4)?,
        key_type: r.get(at + 5)?,
        friendly_name: r.get(at + 6)?,
        not_before,
        not_after,
        state: facts.state_at(now),
        days_left: facts.days_left(now),
        via: r.get(at + 10)?,
        issued_at: r.get(at + 11)?,
        issued_by: r.get(at + 12)?,
        revoked_at: r.get(at + 13)?,
        revocation_reason: r.get(at + 14)?,
        sha256: r.get(at + 15)?,
        renewal_opens: ts(profile.lifecycle().renewal_opens_at(facts.not_after)),
        renewable: facts.state_at(now) == CertificateState::Valid
            && now >= profile.lifecycle().renewal_opens_at(facts.not_after),
    })
}

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

/// Marks issued certificates whose `not_after` has passed as expired.
pub(crate) fn sweep_expired(tx: &Transaction<'_>, now: OffsetDateTime) -> Result<(), ServiceError> {
    tx.execute(
        "UPDATE certificates SET state = 'expired', ended_at = ?1 WHERE state = 'valid' AND not_after < ?1",
        [ts(now)],
    )?;
    Ok(())
}

pub(crate) struct Subject {
    pub login_id: String,
    pub holder: Holder,
    pub org_name: String,
    pub bank_code: String,
    pub current: Option<(i64, String, CertificateFacts)>,
    pub valid_count: u32,
    pub next_seq: u32,
}

pub(crate) fn load_subject(tx: &Transaction<'_>, user_id: i64) -> Result<Subject, ServiceError> {
    let (login_id, locked, deleted): (String, bool, bool) = tx
        .query_row(
            "SELECT login_id, locked_at IS NOT NULL, deleted_at IS NOT NULL FROM users WHERE id = ?1",
            [user_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or(UserError::NotFound { login_id: format!("#{user_id}") })?;
    let (org_name, bank_code): (String, String) = tx
        .query_row(
            "SELECT name, bank_code FROM organisation WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or(SetupError::NotSetUp)?;
    let current = tx
        .query_row(
            "SELECT id, serial, state, not_before, not_after FROM certificates WHERE user_id = ?1 ORDER BY id DESC LIMIT 1",
            [user_id],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?)),
        )
        .optional()?;
    let current = match current {
        Some((id, serial, state, nb, na)) => Some((
            id,
            serial,
            CertificateFacts {
                state: StoredState::parse(&state).ok_or_else(|| {
                    ServiceError::Internal(format!("unknown certificate state {state:?}"))
                })?,
                not_before: parse_ts(&nb)?,
                not_after: parse_ts(&na)?,
            },
        )),
        None => None,
    };
    let valid_count: u32 = tx.query_row(
        "SELECT count(*) FROM certificates WHERE state = 'valid'",
        [],
        |r| r.get(0),
    )?;
    let next_seq: u32 = tx.query_row(
        "SELECT coalesce(max(seq), 0) + 1 FROM certificates WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )?;
    Ok(Subject {
        login_id,
        holder: Holder { locked, deleted },
        org_name,
        bank_code,
        current,
        valid_count,
        next_seq,
    })
}

/// Signs and stores the CRL listing every revoked certificate that has not yet expired.
fn publish_crl_in(
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

    fn ready_ca(&self) -> Result<Arc<EmbeddedCa>, ServiceError> {
        self.ca()
            .ok_or(ServiceError::Lifecycle(LifecycleError::CaNotReady))
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

    /// Applies one lifecycle operation to one user. With the embedded CA it is one
    /// transaction with its audit rows; with an external CA see [`crate::ca::external`]. A
    /// revocation goes to the CA that issued the certificate, whichever CA issues now.
    pub async fn apply_certificate_operation(
        &self,
        user_id: i64,
        op: Operation,
        actor: Actor,
    ) -> Result<Option<CertificateView>, ServiceError> {
        self.apply_routed(user_id, op, actor, None).await
    }

    /// The CA that issued the user's valid certificate, if any.
    pub(crate) async fn current_issuer(
        &self,
        user_id: i64,
    ) -> Result<Option<CaBackendKind>, ServiceError> {
        self.db()
            .run(move |conn| {
                let kind: Option<String> = conn
                    .query_row(
                        "SELECT ca_kind FROM certificates WHERE user_id = ?1 AND state = 'valid' ORDER BY id DESC LIMIT 1",
                        [user_id],
                        |r| r.get(0),
                    )
                    .optional()?;
                Ok(kind.and_then(|k| CaBackendKind::parse(&k)))
            })
            .await
    }

    pub(crate) async fn apply_routed(
        &self,
        user_id: i64,
        op: Operation,
        actor: Actor,
        bulk_job: Option<i64>,
    ) -> Result<Option<CertificateView>, ServiceError> {
        let settings = self.ca_backend().await?;
        let active = settings.kind;
        let issuer = self.current_issuer(user_id).await?;
        match (op, issuer) {
            (Operation::Revoke(_), Some(kind)) => {
                self.apply_with(kind, &settings, user_id, op, actor, bulk_job)
                    .await
            }
            (Operation::Reissue(_), Some(kind)) if kind != active => {
                // Revoked at the CA that issued it, the new one from the CA in use, as one
                // reissue (the generic flow over both implementations of the CA interface).
                let (old, new) = (self.authority(kind).await?, self.authority(active).await?);
                let key = match ca::key_made_here(op.needs_key(), active, &settings) {
                    true => Some(
                        ca::generate_key_off_thread(self.issuing_profile().await?.key_type).await?,
                    ),
                    false => None,
                };
                self.apply_through(user_id, op, actor, key, &old, &new, bulk_job)
                    .await
            }
            _ => {
                self.apply_with(active, &settings, user_id, op, actor, bulk_job)
                    .await
            }
        }
    }

    /// `op` with the CA of `kind`.
    async fn apply_with(
        &self,
        kind: CaBackendKind,
        settings: &CaBackendView,
        user_id: i64,
        op: Operation,
        actor: Actor,
        bulk_job: Option<i64>,
    ) -> Result<Option<CertificateView>, ServiceError> {
        let profile = self.issuing_profile().await?;
        let key = match ca::key_made_here(op.needs_key(), kind, settings) {
            true => Some(ca::generate_key_off_thread(profile.key_type).await?),
            false => None,
        };
        match kind {
            CaBackendKind::Cfssl => {
                let client = self.stored_cfssl_client().await?;
                self.apply_external(user_id, op, actor, key, &client, bulk_job)
                    .await
            }
            CaBackendKind::Embedded => {
                let ca = self.ready_ca()?;
                self.apply_with_key(user_id, op, actor, key, &Issuing { ca, profile }, bulk_job)
                    .await
            }
        }
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
                    tx.execute(
                        "UPDATE certificates SET state = 'revoked', revoked_at = ?1, revocation_reason = ?2 WHERE id = ?3",
                        params![ts(now), reason.as_str(), id],
                    )?;
                    audit::record(&tx, now, &Actor::System, AuditAction::CertificateRevoke, Some(&login_id), Outcome::Success,
                        serde_json::json!({"serial": serial, "reason": reason.as_str(), "reason_code": reason.code(),
                            "as_part_of": "ca_interface"}))?;
                    let profile = load_profile(&tx)?;
                    publish_crl_in(&tx, &ca, &profile, now, &Actor::System, "revoke")?;
                }
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    pub(crate) async fn apply_with_key(
        &self,
        user_id: i64,
        op: Operation,
        actor: Actor,
        key: Option<KeyPair>,
        issuing: &Issuing,
        bulk_job: Option<i64>,
    ) -> Result<Option<CertificateView>, ServiceError> {
        let (ca, profile) = (Arc::clone(&issuing.ca), issuing.profile.clone());
        let now = self.clock().now();
        let master = self.master_key();
        let crl_url = format!(
            "{}/ca/crl.der",
            self.settings().public_url.trim_end_matches('/')
        );
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                sweep_expired(&tx, now)?;
                let s = load_subject(&tx, user_id)?;
                let current = s.current.as_ref().map(|c| &c.2);
                let policy = profile.lifecycle();
                let revoke_reason = match op {
                    Operation::Issue => {
                        lifecycle::check_issue(s.holder, current, s.valid_count, now)?;
                        None
                    }
                    Operation::Renew => {
                        lifecycle::check_renew(s.holder, current, &policy, now)?;
                        None
                    }
                    Operation::Revoke(reason) => Some(lifecycle::check_revoke(current, reason)?),
                    Operation::Reissue(reason) => {
                        lifecycle::check_reissue(s.holder, current, reason, s.valid_count, now)?
                    }
                };
                let target = s.login_id.clone();
                if let (Some(reason), Some((old_id, old_serial, _))) = (revoke_reason, &s.current) {
                    tx.execute(
                        "UPDATE certificates SET state = 'revoked', revoked_at = ?1, revocation_reason = ?2 WHERE id = ?3",
                        params![ts(now), reason.as_str(), old_id],
                    )?;
                    audit::record(&tx, now, &actor, AuditAction::CertificateRevoke, Some(&target), Outcome::Success,
                        serde_json::json!({"serial": old_serial, "reason": reason.as_str(), "reason_code": reason.code(), "as_part_of": op.name()}))?;
                }
                let mut new_id = None;
                if let Some(key) = key {
                    let replaces = s.current.as_ref().map(|c| c.0);
                    if op == Operation::Renew {
                        tx.execute(
                            "UPDATE certificates SET state = 'superseded', ended_at = ?1 WHERE id = ?2",
                            params![ts(now), replaces],
                        )?;
                    }
                    let serial = ca::random_serial()?;
                    let (not_before, not_after) = policy.validity_from(now);
                    let request = LeafRequest {
                        serial,
                        o: with_bank_code(&s.bank_code, &s.org_name),
                        ou: with_bank_code(&s.bank_code, &format!("{} - G1", profile.ca_name)),
                        cn: certificate_cn(&s.login_id, s.next_seq, now),
                        not_before,
                        not_after,
                        crl_url: crl_url.clone(),
                    };
                    let der = ca.sign_client_certificate(&request, &key)?;
                    let serial_hex = hex::encode(serial);
                    let subject = format!("O={}, OU={}, CN={}", request.o, request.ou, request.cn);
                    tx.execute(
                        "INSERT INTO certificates (user_id, serial, seq, subject, key_type, friendly_name, not_before, not_after,
                                                   state, cert_der, sha256, via, replaces_id, issued_at, issued_by)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'valid', ?9, ?10, ?11, ?12, ?13, ?14)",
                        params![user_id, serial_hex, s.next_seq, subject, profile.key_type.as_str(),
                            profile.friendly_name(&s.org_name, &s.login_id), ts(not_before), ts(not_after),
                            der, hex::encode(Sha256::digest(&der)), op.name(), replaces, ts(now), actor.columns().1],
                    )?;
                    let id = tx.last_insert_rowid();
                    let sealed = master.seal(Purpose::CertificateKeys, &format!("certificate {id}"), key.serialize_pem().as_bytes())?;
                    tx.execute(
                        "INSERT INTO certificate_keys (certificate_id, sealed, created_at) VALUES (?1, ?2, ?3)",
                        params![id, sealed, ts(now)],
                    )?;
                    audit::record(&tx, now, &actor, AuditAction::certificate(op.name()).expect("every operation has an audit action"), Some(&target), Outcome::Success,
                        serde_json::json!({"serial": serial_hex, "not_after": ts(not_after), "key_type": profile.key_type.as_str(), "replaces": s.current.as_ref().map(|c| c.1.clone())}))?;
                    new_id = Some(id);
                }
                if revoke_reason.is_some() {
                    publish_crl_in(&tx, &ca, &profile, now, &actor, op.name())?;
                }
                let view = match new_id {
                    Some(id) => Some(tx.query_row(
                        &format!("SELECT {CERT_COLUMNS} FROM certificates c JOIN users u ON u.id = c.user_id WHERE c.id = ?1"),
                        [id],
                        |r| read_view(r, now, &profile),
                    )?),
                    None => None,
                };
                if let Some(job) = bulk_job {
                    // Same transaction as the certificate: a resumed run skips exactly this.
                    tx.execute(
                        "UPDATE bulk_job_items SET status = 'done', serial = ?1, finished_at = ?2
                         WHERE job_id = ?3 AND user_id = ?4",
                        params![view.as_ref().map(|v| v.serial.clone()), ts(now), job, user_id],
                    )?;
                }
                tx.commit()?;
                Ok(view)
            })
            .await
    }

    /// Every user (not deleted) with their newest certificate, by login ID.
    pub async fn certificate_overview(&self) -> Result<Vec<UserCertificates>, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let profile = load_profile(conn)?;
                // One query: each user with their newest certificate (if any), columns 7.. are
                // CERT_COLUMNS.
                let mut stmt = conn.prepare(&format!(
                    "SELECT u.id, u.login_id, u.name, u.role, u.locked_at IS NOT NULL, u.email, u.password_hash IS NOT NULL, {CERT_COLUMNS}
                     FROM users u
                     LEFT JOIN certificates c ON c.id = (SELECT max(id) FROM certificates WHERE user_id = u.id)
                     WHERE u.deleted_at IS NULL ORDER BY u.login_key"
                ))?;
                let out = stmt
                    .query_map([], |r| {
                        let has_certificate = r.get::<_, Option<i64>>(7)?.is_some();
                        Ok(UserCertificates {
                            user_id: r.get(0)?,
                            login_id: r.get(1)?,
                            name: r.get(2)?,
                            email: r.get(5)?,
                            role: r.get(3)?,
                            locked: r.get(4)?,
                            has_password: r.get(6)?,
                            current: if has_certificate { Some(read_view_at(r, 7, now, &profile)?) } else { None },
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(out)
            })
            .await
    }

    /// One certificate by serial, and the history of its user (newest first).
    pub async fn certificate_detail(
        &self,
        serial: String,
    ) -> Result<(CertificateView, Vec<CertificateView>), ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let profile = load_profile(conn)?;
                let sql = format!(
                    "SELECT {CERT_COLUMNS} FROM certificates c JOIN users u ON u.id = c.user_id"
                );
                let cert = conn
                    .query_row(
                        &format!("{sql} WHERE c.serial = ?1"),
                        [serial.to_ascii_lowercase()],
                        |r| read_view(r, now, &profile),
                    )
                    .optional()?
                    .ok_or(LifecycleError::CertificateNotFound { serial })?;
                let mut stmt =
                    conn.prepare(&format!("{sql} WHERE c.user_id = ?1 ORDER BY c.id DESC"))?;
                let history = stmt
                    .query_map([cert.user_id], |r| read_view(r, now, &profile))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((cert, history))
            })
            .await
    }

    /// The certificate's DER bytes by serial.
    pub async fn certificate_der(&self, serial: String) -> Result<Vec<u8>, ServiceError> {
        self.db()
            .run(move |conn| {
                conn.query_row(
                    "SELECT cert_der FROM certificates WHERE serial = ?1",
                    [serial.to_ascii_lowercase()],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or(ServiceError::Lifecycle(
                    LifecycleError::CertificateNotFound { serial },
                ))
            })
            .await
    }
}
