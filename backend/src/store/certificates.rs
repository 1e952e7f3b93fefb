//! The `certificates` table and the steps every lifecycle operation is made of, each a function
//! taking the transaction it belongs to: read the user's standing ([`load_subject`]), mark
//! expired certificates ([`sweep_expired`]), record a revocation ([`record_revocation`]),
//! supersede a renewed certificate ([`supersede`]), store an issued one with its sealed key and
//! audit row ([`insert_issued`]) and finish a bulk run's item ([`finish_run_item`]).
//!
//! Both ways of running an operation (signing inside the transaction with the embedded CA, or
//! asking a CA over the network between transactions; see `certificates::flow`) and the
//! embedded CA's own register (`ca::register`) are written with these steps, so no step is
//! written twice.

use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::{parse_ts, ts};
use crate::store::secrets::{MasterKey, Purpose};
use certdesk_domain::external_ca::CaBackendKind;
use certdesk_domain::lifecycle::{
    renewal_open, CertificateFacts, Holder, RevocationReason, StoredState,
};
use certdesk_domain::profile::{IssuingProfile, KeyType};
use certdesk_domain::views::CertificateView;
use certdesk_domain::AuditAction;
use certdesk_domain::SetupError;
use certdesk_domain::UserError;
use certdesk_domain::{Operation, OperationKind};
use rusqlite::{params, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The columns [`read_view`] reads, with `c` the certificate and `u` its user.
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
pub(crate) fn read_view_at(
    r: &rusqlite::Row<'_>,
    at: usize,
    now: OffsetDateTime,
    profile: &IssuingProfile,
) -> rusqlite::Result<CertificateView> {
    let not_before: String = r.get(at + 7)?;
    let not_after: String = r.get(at + 8)?;
    let state: String = r.get(at + 9)?;
    let via: String = r.get(at + 10)?;
    let bad = |e: ServiceError| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
    let facts = CertificateFacts {
        state: StoredState::parse(&state).unwrap_or(StoredState::Revoked),
        not_before: parse_ts(&not_before).map_err(bad)?,
        not_after: parse_ts(&not_after).map_err(bad)?,
    };
    let policy = profile.lifecycle();
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
        // A CHECKed column: issue, renew or reissue.
        via: OperationKind::parse(&via).unwrap_or(OperationKind::Issue),
        issued_at: r.get(at + 11)?,
        issued_by: r.get(at + 12)?,
        revoked_at: r.get(at + 13)?,
        revocation_reason: r.get(at + 14)?,
        sha256: r.get(at + 15)?,
        renewal_opens: ts(policy.renewal_opens_at(facts.not_after)),
        renewable: renewal_open(&facts, &policy, now),
    })
}

/// One certificate as the pages show it.
pub(crate) fn view_by_id(
    tx: &Transaction<'_>,
    id: i64,
    now: OffsetDateTime,
    profile: &IssuingProfile,
) -> Result<CertificateView, ServiceError> {
    Ok(tx.query_row(
        &format!(
            "SELECT {CERT_COLUMNS} FROM certificates c JOIN users u ON u.id = c.user_id WHERE c.id = ?1"
        ),
        [id],
        |r| read_view(r, now, profile),
    )?)
}

/// Marks issued certificates whose `not_after` has passed as expired.
pub(crate) fn sweep_expired(tx: &Transaction<'_>, now: OffsetDateTime) -> Result<(), ServiceError> {
    tx.execute(
        "UPDATE certificates SET state = 'expired', ended_at = ?1 WHERE state = 'valid' AND not_after < ?1",
        [ts(now)],
    )?;
    Ok(())
}

/// The user's newest certificate.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub id: i64,
    pub serial: String,
    pub facts: CertificateFacts,
}

/// What the lifecycle rules need to know about one user, read in the operation's transaction.
pub(crate) struct Subject {
    pub login_id: String,
    pub holder: Holder,
    pub org_name: String,
    pub bank_code: String,
    pub current: Option<Current>,
    /// Valid certificates in the organisation.
    pub valid_count: u32,
    /// The sequence number of the user's next certificate (it goes into the CN).
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
        .ok_or(UserError::NotFound {
            login_id: format!("#{user_id}"),
        })?;
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
        Some((id, serial, state, nb, na)) => Some(Current {
            id,
            serial,
            facts: CertificateFacts {
                state: StoredState::parse(&state).ok_or_else(|| {
                    ServiceError::Internal(format!("unknown certificate state {state:?}"))
                })?,
                not_before: parse_ts(&nb)?,
                not_after: parse_ts(&na)?,
            },
        }),
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

/// A revocation to record: which certificate, why, as part of what, at which CA.
pub(crate) struct Revocation<'a> {
    pub certificate_id: i64,
    pub serial: &'a str,
    pub login_id: &'a str,
    pub reason: RevocationReason,
    /// The operation it is part of (`revoke`, `reissue`), or what revoked it (`ca_interface`).
    pub as_part_of: &'a str,
    pub ca: CaBackendKind,
}

/// Marks the certificate revoked, with its audit row.
pub(crate) fn record_revocation(
    tx: &Transaction<'_>,
    now: OffsetDateTime,
    actor: &Actor,
    r: &Revocation<'_>,
) -> Result<(), ServiceError> {
    tx.execute(
        "UPDATE certificates SET state = 'revoked', revoked_at = ?1, revocation_reason = ?2 WHERE id = ?3",
        params![ts(now), r.reason.as_str(), r.certificate_id],
    )?;
    audit::record(
        tx,
        now,
        actor,
        AuditAction::CertificateRevoke,
        Some(r.login_id),
        Outcome::Success,
        serde_json::json!({"serial": r.serial, "reason": r.reason.as_str(), "reason_code": r.reason.code(),
            "as_part_of": r.as_part_of, "ca": r.ca.as_str()}),
    )
}

/// Marks a renewed certificate superseded. False if it was no longer valid (revoked or ended
/// while a CA was answering).
pub(crate) fn supersede(
    tx: &Transaction<'_>,
    now: OffsetDateTime,
    certificate_id: i64,
) -> Result<bool, ServiceError> {
    Ok(tx.execute(
        "UPDATE certificates SET state = 'superseded', ended_at = ?1 WHERE id = ?2 AND state = 'valid'",
        params![ts(now), certificate_id],
    )? > 0)
}

/// A certificate a CA issued, to be stored.
pub(crate) struct Issued<'a> {
    pub user_id: i64,
    pub login_id: &'a str,
    pub op: Operation,
    pub serial: &'a str,
    pub seq: u32,
    pub subject: &'a str,
    pub key_type: KeyType,
    pub friendly_name: &'a str,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub der: &'a [u8],
    /// The certificate it replaces (renewal, reissue).
    pub replaces: Option<&'a Current>,
    pub ca: CaBackendKind,
    /// The `ca_requests` row, when the certificate came through one.
    pub request: Option<i64>,
}

/// Stores an issued certificate and its private key (sealed, in `certificate_keys`, until it
/// is handed out), with the audit row `certificate_<op>`. Returns its id.
pub(crate) fn insert_issued(
    tx: &Transaction<'_>,
    now: OffsetDateTime,
    actor: &Actor,
    master: &MasterKey,
    c: &Issued<'_>,
    key_pem: Option<&str>,
) -> Result<i64, ServiceError> {
    // No private key: its holder made it (self-service enrolment) and certdesk never saw it.
    let key_origin = if key_pem.is_some() {
        "server"
    } else {
        "holder"
    };
    tx.execute(
        "INSERT INTO certificates (user_id, serial, seq, subject, key_type, friendly_name, not_before, not_after,
                                   state, cert_der, sha256, via, replaces_id, issued_at, issued_by, ca_kind, key_origin)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'valid', ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![c.user_id, c.serial, c.seq, c.subject, c.key_type.as_str(), c.friendly_name,
            ts(c.not_before), ts(c.not_after), c.der, hex::encode(Sha256::digest(c.der)), c.op.name(),
            c.replaces.map(|r| r.id), ts(now), actor.columns().1, c.ca.as_str(), key_origin],
    )?;
    let id = tx.last_insert_rowid();
    if let Some(key_pem) = key_pem {
        let sealed = master.seal(
            Purpose::CertificateKeys,
            &format!("certificate {id}"),
            key_pem.as_bytes(),
        )?;
        tx.execute(
            "INSERT INTO certificate_keys (certificate_id, sealed, created_at) VALUES (?1, ?2, ?3)",
            params![id, sealed, ts(now)],
        )?;
    }
    audit::record(
        tx,
        now,
        actor,
        AuditAction::certificate(c.op.kind()),
        Some(c.login_id),
        Outcome::Success,
        serde_json::json!({"serial": c.serial, "not_after": ts(c.not_after), "key_type": c.key_type.as_str(), "key_origin": key_origin,
            "replaces": c.replaces.map(|r| r.serial.clone()), "ca": c.ca.as_str(), "request": c.request}),
    )?;
    Ok(id)
}

/// Marks the user's item of bulk run `run` done, in the transaction of the operation itself,
/// so that a resumed run skips exactly what was done.
pub(crate) fn finish_run_item(
    tx: &Transaction<'_>,
    now: OffsetDateTime,
    run: Option<i64>,
    user_id: i64,
    serial: Option<&str>,
) -> Result<(), ServiceError> {
    if let Some(job) = run {
        tx.execute(
            "UPDATE bulk_job_items SET status = 'done', serial = ?1, finished_at = ?2
             WHERE job_id = ?3 AND user_id = ?4",
            params![serial, ts(now), job, user_id],
        )?;
    }
    Ok(())
}

/// The CA that issued the user's valid certificate, if any.
pub(crate) fn current_issuer(
    conn: &rusqlite::Connection,
    user_id: i64,
) -> Result<Option<CaBackendKind>, ServiceError> {
    let kind: Option<String> = conn
        .query_row(
            "SELECT ca_kind FROM certificates WHERE user_id = ?1 AND state = 'valid' ORDER BY id DESC LIMIT 1",
            [user_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(kind.and_then(|k| CaBackendKind::parse(&k)))
}
