//! The through-the-CA strategy of the lifecycle flow (see `flow.rs`): an external CA is
//! involved, so the network call never happens inside a SQLite transaction. One operation is:
//! 1. one transaction: the lifecycle rules, and a `ca_requests` row (pending) with the CN and
//!    the SHA-256 of the public key asked for, audited;
//! 2. for revoke / reissue: `revoke` at the CA that issued the current certificate, then one
//!    transaction that records it;
//! 3. for issue / renew / reissue: `sign` (or `authsign`) with a CSR made here, or the CA makes
//!    the key, then one transaction that stores the certificate, its sealed key (the same
//!    `certificate_keys`, so distribution works unchanged), the audit row, and marks the
//!    request done.
//!
//! A certificate counts as issued only once step 3 committed. A request the CA may have acted
//! on without a usable answer (timeout, 5xx, broken body) stays `unanswered` and is settled by
//! its serial (`ca::reconcile`); the partial unique index keeps a second valid certificate
//! out. If the CA answered but the commit failed, the new certificate is revoked at the CA at
//! once and the request is marked `orphan`.

use crate::ca::authority::Authority;
use crate::ca::profile::load_profile;
use crate::ca::settings::{load_stored, sent_to, EMBEDDED};
use crate::certificates::flow::{check, order_for, NewKey, Step};
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::certificates::{
    finish_run_item, insert_issued, load_subject, record_revocation, supersede, sweep_expired,
    view_by_id, Current, Issued, Revocation,
};
use crate::store::db::ts;
use crate::Backend;
use certdesk_domain::authority::{CertificateAuthority, CertificateOrder};
use certdesk_domain::external_ca::{CaBackendKind, CaError, KeySource};
use certdesk_domain::lifecycle::RevocationReason;
use certdesk_domain::views::CertificateView;
use certdesk_domain::AuditAction;
use certdesk_domain::Operation;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData};
use rusqlite::params;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The pending request of step 1.
struct Plan {
    login_id: String,
    current: Option<Current>,
    revoke_reason: Option<RevocationReason>,
    request: Option<Request>,
}

struct Request {
    id: i64,
    seq: u32,
    order: CertificateOrder,
    key_source: KeySource,
    friendly_name: String,
}

/// The certificate the CA returned, read.
struct Received {
    der: Vec<u8>,
    serial: String,
    subject: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

fn internal(what: &'static str) -> impl Fn(String) -> CaError {
    move |e| CaError::Unparsable {
        detail: format!("{what}: {e}"),
    }
}

/// Reads the CA's PEM answer and checks that it certifies the key `spki_der`. With `names`
/// (a holder's request, whose subject and extensions certdesk ignores) the subject must be
/// exactly O, OU and CN of the order and the certificate must name no alternative names.
fn read_certificate(
    pem: &str,
    spki_der: &[u8],
    names: Option<&CertificateOrder>,
) -> Result<Received, CaError> {
    let der =
        crate::x509::first_certificate_der(pem.as_bytes()).map_err(internal("certificate"))?;
    let cert = crate::x509::parse(&der).map_err(internal("certificate"))?;
    if cert.public_key().raw != spki_der {
        return Err(CaError::Mismatch {
            detail: "another public key than the request's".into(),
        });
    }
    if let Some(order) = names {
        // O, OU and CN by their OIDs.
        let mut expected = vec![
            ("2.5.4.10".to_string(), order.o.clone()),
            ("2.5.4.11".to_string(), order.ou.clone()),
            ("2.5.4.3".to_string(), order.cn.clone()),
        ];
        let mut got = crate::x509::subject_entries(&cert);
        expected.sort();
        got.sort();
        if got != expected || crate::x509::has_subject_alt_names(&cert) {
            return Err(CaError::Mismatch {
                detail: "the certificate names more or other than certdesk asked for".into(),
            });
        }
    }
    let serial = crate::x509::serial_hex(&cert);
    let subject = crate::ca::cfssl::subject_of(&cert);
    let not_before = crate::x509::instant(cert.validity().not_before);
    let not_after = crate::x509::instant(cert.validity().not_after);
    Ok(Received {
        der: der.clone(),
        serial,
        subject,
        not_before,
        not_after,
    })
}

fn csr_pem(key: &KeyPair, o: &str, ou: &str, cn: &str) -> Result<String, ServiceError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, o);
    dn.push(DnType::OrganizationalUnitName, ou);
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params
        .serialize_request(key)
        .and_then(|csr| csr.pem())
        .map_err(|e| ServiceError::Internal(format!("CSR: {e}")))
}

impl Backend {
    /// One lifecycle operation with the revocation at `revoke_at` (the CA that issued the
    /// current certificate) and the new certificate, if any, from `issue_by` (the CA in use).
    pub(crate) async fn apply_through_ca(
        &self,
        step: Step,
        key: Option<NewKey>,
        revoke_at: &Authority,
        issue_by: Option<&Authority>,
    ) -> Result<Option<CertificateView>, ServiceError> {
        let Step {
            user_id,
            op,
            actor,
            run: bulk_job,
        } = step;
        // The CA requests go to (the one that issues, else the one that revokes).
        let ca = issue_by.unwrap_or(revoke_at);
        // cfssl copies subject fields certdesk does not name from the request: such a
        // holder's request is refused before anything is recorded or sent.
        if let (Some(NewKey::Holder(h)), CaBackendKind::Cfssl) = (&key, ca.kind()) {
            crate::enrolment::csr::check_subject_for_external_ca(&h.csr_der)?;
        }
        // Lost answers of this user's earlier requests first: settled by serial, or wait. A
        // revocation never waits for that (a compromised key must not). Only cfssl is asked:
        // the embedded CA never has a lost answer.
        if ca.kind() == CaBackendKind::Cfssl {
            if op.issues() {
                self.reconcile_requests(ca, Some(user_id)).await?;
            } else if let Err(e) = self.reconcile_requests(ca, Some(user_id)).await {
                tracing::warn!(error.code = e.code(), error.detail = %e, "lost answers not settled before a revocation");
            }
        }
        let issuer = ca.kind();
        let now = self.clock().now();
        let key_hash = key
            .as_ref()
            .map(|k| hex::encode(Sha256::digest(k.spki_der())));
        // A holder's key always goes to the CA as the holder's own request.
        let holder = matches!(key, Some(NewKey::Holder(_)));
        let proposed_serial = hex::encode(crate::ca::random_serial()?);
        let a = actor.clone();
        let plan = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                sweep_expired(&tx, now)?;
                let s = load_subject(&tx, user_id)?;
                let profile = load_profile(&tx)?;
                let stored = load_stored(&tx)?;
                let key_source = match holder {
                    true => KeySource::Csr,
                    false => stored.view.cfssl.key_source,
                };
                let sent_to = match issuer {
                    CaBackendKind::Cfssl => sent_to(&stored.view),
                    CaBackendKind::Embedded => EMBEDDED.to_string(),
                };
                let revoke_reason = check(op, &s, &profile, now)?;
                let request = if op.issues() {
                    let open_by_serial: i64 = tx.query_row(
                        "SELECT count(*) FROM ca_requests WHERE user_id = ?1 AND state = 'unanswered' AND proposed_serial IS NOT NULL",
                        [user_id],
                        |r| r.get(0),
                    )?;
                    if open_by_serial > 0 {
                        // Lost just now (by a concurrent operation): settled by serial first.
                        return Err(CaError::InFlight { retry_after_s: 60 }.into());
                    }
                    let earlier: Vec<(i64, String)> = tx
                        .prepare("SELECT id, cn FROM ca_requests WHERE user_id = ?1 AND state = 'unanswered'")?
                        .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<Result<_, _>>()?;
                    for (id, cn) in earlier {
                        tx.execute("UPDATE ca_requests SET state = 'orphan' WHERE id = ?1", [id])?;
                        audit::record(&tx, now, &a, AuditAction::CaRequestUnanswered, Some(&s.login_id), Outcome::Failure,
                            serde_json::json!({"request": id, "cn": cn,
                                "remedy": "the CA may hold a certificate with this CN that certdesk never received; revoke it at the CA"}))?;
                    }
                    let proposed = (key_source == KeySource::Csr).then_some(proposed_serial);
                    let order = order_for(&s, &profile, now, proposed.clone().unwrap_or_default());
                    let cn = order.cn.clone();
                    let inserted = tx.execute(
                        "INSERT INTO ca_requests (user_id, operation, cn, public_key_sha256, proposed_serial, state, created_at, sent_to)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)",
                        params![user_id, op.name(), cn, key_hash, proposed, ts(now), sent_to],
                    );
                    match inserted {
                        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                            return Err(CaError::InFlight { retry_after_s: 30 }.into());
                        }
                        other => other?,
                    };
                    let id = tx.last_insert_rowid();
                    audit::record(&tx, now, &a, AuditAction::CaRequest, Some(&s.login_id), Outcome::Success,
                        serde_json::json!({"request": id, "operation": op.name(), "cn": cn, "public_key_sha256": key_hash,
                            "proposed_serial": proposed, "key_source": key_source.as_str()}))?;
                    Some(Request {
                        id,
                        seq: s.next_seq,
                        order,
                        key_source,
                        friendly_name: profile.friendly_name(&s.org_name, &s.login_id),
                    })
                } else {
                    None
                };
                tx.commit()?;
                Ok(Plan {
                    login_id: s.login_id,
                    current: s.current,
                    revoke_reason,
                    request,
                })
            })
            .await?;

        if let (Some(reason), Some(current)) = (plan.revoke_reason, plan.current.clone()) {
            if let Err(e) = revoke_at.revoke(&current.serial, reason).await {
                self.fail_request(&plan, &actor, &e, "revoke").await?;
                return Err(e.into());
            }
            let (a, target) = (actor.clone(), plan.login_id.clone());
            let finishes_item = plan.request.is_none();
            let ca_kind = revoke_at.kind();
            let recorded = self
                .db()
                .run(move |conn| {
                    let tx = conn.transaction()?;
                    let revocation = Revocation {
                        certificate_id: current.id,
                        serial: &current.serial,
                        login_id: &target,
                        reason,
                        as_part_of: op.name(),
                        ca: ca_kind,
                    };
                    record_revocation(&tx, now, &a, &revocation)?;
                    if finishes_item {
                        finish_run_item(&tx, now, bulk_job, user_id, None)?;
                    }
                    tx.commit()?;
                    Ok(())
                })
                .await;
            if let Err(e) = recorded {
                // Revoked at the CA (doing it again is harmless) but not recorded here.
                return self.abandon(&plan, &actor, e).await;
            }
        }

        let Some(request) = plan.request.as_ref() else {
            return Ok(None);
        };
        // The key source is the one recorded with the request (a bulk run may have started
        // with another): a CSR needs a key made here.
        let key = match (request.key_source, key) {
            (KeySource::Csr, None) => {
                let key_type = request.order.key_type;
                match crate::ca::generate_key_off_thread(key_type).await {
                    Ok(k) => Some(NewKey::Server(k)),
                    Err(e) => return self.abandon(&plan, &actor, e).await,
                }
            }
            (_, key) => key,
        };
        // `Err((error, serial))`: with a serial when the CA did send a certificate.
        let answer: Result<(Received, NewKey), (CaError, Option<String>)> =
            match (request.key_source, key) {
                (KeySource::Csr, Some(key)) => {
                    let csr = match &key {
                        NewKey::Server(k) => {
                            csr_pem(k, &request.order.o, &request.order.ou, &request.order.cn)
                        }
                        NewKey::Holder(h) => Ok(crate::ca::pem("CERTIFICATE REQUEST", &h.csr_der)),
                    };
                    let csr = match csr {
                        Ok(csr) => csr,
                        Err(e) => return self.abandon(&plan, &actor, e).await,
                    };
                    let names = holder.then_some(&request.order);
                    match ca.issue_from_csr(&csr, &request.order).await {
                        Ok(pem) => read_certificate(&pem, &key.spki_der(), names)
                            .map(|r| (r, key))
                            .map_err(|e| (e, pem_serial(&pem))),
                        Err(e) => Err((e, None)),
                    }
                }
                (_, _) => match ca.issue_with_server_key(&request.order).await {
                    Ok(issued) => server_key(&issued.private_key_pem)
                        .and_then(|key| {
                            read_certificate(
                                &issued.certificate_pem,
                                &key.subject_public_key_info(),
                                None,
                            )
                            .map(|r| (r, NewKey::Server(key)))
                        })
                        .map_err(|e| (e, pem_serial(&issued.certificate_pem))),
                    Err(e) => Err((e, None)),
                },
            };
        let (received, key) = match answer {
            Ok(r) => r,
            Err((e, Some(serial))) => {
                // The CA made a certificate certdesk will not store: revoke it there at once;
                // if that fails, the periodic job keeps trying by its serial.
                let revoked = ca
                    .revoke(&serial, RevocationReason::Superseded)
                    .await
                    .is_ok();
                self.fail_request(&plan, &actor, &e, "sign").await?;
                self.settle_refused(request.id, &plan.login_id, &serial, revoked)
                    .await?;
                return Err(e.into());
            }
            Err((e, None)) => {
                self.fail_request(&plan, &actor, &e, "sign").await?;
                if e.outcome_unknown() {
                    // The CA may have made it: try at once to find it by serial and revoke it.
                    let _ = self.reconcile_requests(ca, Some(user_id)).await;
                }
                return Err(e.into());
            }
        };
        let serial = received.serial.clone();
        let honoured = (request.key_source == KeySource::Csr)
            .then(|| same_serial(&request.order.serial_hex, &serial));
        let master = self.master_key();
        let (a, target, request_id, seq) = (
            actor.clone(),
            plan.login_id.clone(),
            request.id,
            request.seq,
        );
        let (friendly_name, key_type) = (request.friendly_name.clone(), request.order.key_type);
        let replaces = plan.current.clone();
        let ca_kind = ca.kind();
        let stored = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let profile = load_profile(&tx)?;
                if let (Operation::Renew, Some(current)) = (op, &replaces) {
                    if !supersede(&tx, now, current.id)? {
                        // Revoked (or ended) while the CA was answering: the rules no longer
                        // allow this renewal; the new certificate is taken back below.
                        let s = load_subject(&tx, user_id)?;
                        check(op, &s, &profile, now)?;
                        return Err(ServiceError::Internal("the renewed certificate changed while the CA answered".into()));
                    }
                }
                let r = &received;
                let certificate = Issued {
                    user_id,
                    login_id: &target,
                    op,
                    serial: &r.serial,
                    seq,
                    subject: &r.subject,
                    key_type,
                    friendly_name: &friendly_name,
                    not_before: r.not_before,
                    not_after: r.not_after,
                    der: &r.der,
                    replaces: replaces.as_ref(),
                    ca: ca_kind,
                    request: Some(request_id),
                };
                let id = insert_issued(&tx, now, &a, &master, &certificate, key.server_pem().as_deref())?;
                tx.execute(
                    "UPDATE ca_requests SET state = 'done', serial = ?1, certificate_id = ?2, finished_at = ?3,
                            public_key_sha256 = ?5 WHERE id = ?4",
                    params![r.serial, id, ts(now), request_id, hex::encode(Sha256::digest(key.spki_der()))],
                )?;
                if let Some(honoured) = honoured {
                    tx.execute("UPDATE ca_backend SET serials_honoured = ?1 WHERE id = 1", [honoured])?;
                }
                let view = view_by_id(&tx, id, now, &profile)?;
                finish_run_item(&tx, now, bulk_job, user_id, Some(&view.serial))?;
                tx.commit()?;
                Ok(view)
            })
            .await;
        match stored {
            Ok(view) => Ok(Some(view)),
            Err(e) => {
                // The CA made a certificate the database does not hold: take it back.
                let revoked = ca.revoke(&serial, RevocationReason::Superseded).await;
                tracing::error!(ca.serial = %serial, error.code = e.code(), error.detail = %e,
                    revoked_at_ca = revoked.is_ok(), "certificate from the CA not stored");
                let (a, target) = (actor.clone(), plan.login_id.clone());
                let code = e.code();
                // Revoked at the CA: settled. Not (the CA did not answer): `unanswered` with
                // its serial, so the periodic job revokes it later.
                let state = if revoked.is_ok() {
                    "reconciled"
                } else {
                    "unanswered"
                };
                self.db()
                    .run(move |conn| {
                        let tx = conn.transaction()?;
                        tx.execute(
                            "UPDATE ca_requests SET state = ?5, serial = ?1, proposed_serial = ?1, sent_to = NULL, error_code = ?2,
                                    finished_at = ?3 WHERE id = ?4",
                            params![serial, code, ts(now), request_id, state],
                        )?;
                        audit::record(&tx, now, &a, AuditAction::CaRequestOrphan, Some(&target), Outcome::Failure,
                            serde_json::json!({"request": request_id, "serial": serial, "revoked_at_ca": revoked.is_ok()}))?;
                        tx.commit()?;
                        Ok(())
                    })
                    .await?;
                Err(e)
            }
        }
    }

    /// A failure before the request reached the CA, or of recording what the CA did: the
    /// request ends `failed` (never left pending) and the error is returned.
    async fn abandon(
        &self,
        plan: &Plan,
        actor: &Actor,
        e: ServiceError,
    ) -> Result<Option<CertificateView>, ServiceError> {
        let now = self.clock().now();
        let request = plan.request.as_ref().map(|r| r.id);
        let (a, target, code, detail) = (
            actor.clone(),
            plan.login_id.clone(),
            e.code(),
            e.to_string(),
        );
        let recorded = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if let Some(id) = request {
                    tx.execute(
                        "UPDATE ca_requests SET state = 'failed', error_code = ?1, finished_at = ?2 WHERE id = ?3 AND state = 'pending'",
                        params![code, ts(now), id],
                    )?;
                }
                audit::record(&tx, now, &a, AuditAction::CaSign, Some(&target), Outcome::Failure,
                    serde_json::json!({"request": request, "code": code, "detail": detail, "state": "failed"}))?;
                tx.commit()?;
                Ok(())
            })
            .await;
        if let Err(r) = recorded {
            tracing::error!(error.code = r.code(), error.detail = %r, "could not record a failed CA request");
        }
        Err(e)
    }

    /// The CA sent a certificate certdesk refused to store (it does not match, or its key is
    /// unreadable): settled if it was revoked there at once, otherwise `unanswered` with its
    /// serial so the periodic job revokes it.
    async fn settle_refused(
        &self,
        request_id: i64,
        login_id: &str,
        serial: &str,
        revoked: bool,
    ) -> Result<(), ServiceError> {
        let now = self.clock().now();
        let (target, serial) = (login_id.to_string(), serial.to_string());
        let state = if revoked { "reconciled" } else { "unanswered" };
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                tx.execute(
                    "UPDATE ca_requests SET state = ?1, serial = ?2, proposed_serial = ?2, sent_to = NULL WHERE id = ?3",
                    params![state, serial, request_id],
                )?;
                audit::record(&tx, now, &Actor::System, AuditAction::CaAnswerRefused, Some(&target), Outcome::Failure,
                    serde_json::json!({"request": request_id, "serial": serial, "revoked_at_ca": revoked}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Marks the plan's request failed (or unanswered, when the CA may have acted) with its
    /// audit row.
    async fn fail_request(
        &self,
        plan: &Plan,
        actor: &Actor,
        e: &CaError,
        step: &'static str,
    ) -> Result<(), ServiceError> {
        let now = self.clock().now();
        let request = plan.request.as_ref().map(|r| r.id);
        let state = if step == "sign" && e.outcome_unknown() {
            "unanswered"
        } else {
            "failed"
        };
        let (a, target, code, detail) = (
            actor.clone(),
            plan.login_id.clone(),
            e.code(),
            e.to_string(),
        );
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if let Some(id) = request {
                    tx.execute(
                        "UPDATE ca_requests SET state = ?1, error_code = ?2, finished_at = ?3 WHERE id = ?4",
                        params![state, code, ts(now), id],
                    )?;
                }
                audit::record(&tx, now, &a, AuditAction::ca_failure(step).expect("step is sign or revoke"), Some(&target), Outcome::Failure,
                    serde_json::json!({"request": request, "code": code, "detail": detail, "state": state}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }
}

/// The serial (lower-case hex) of a PEM certificate, if it can be read.
fn pem_serial(pem: &str) -> Option<String> {
    let der = crate::x509::first_certificate_der(pem.as_bytes()).ok()?;
    let cert = crate::x509::parse(&der).ok()?;
    Some(even_hex(&crate::x509::serial_hex(&cert)))
}

/// Lower-case hex with whole bytes, as serials are stored (`0a1b`, not `a1b`), so that a
/// serial decodes to the bytes of the certificate's serial number.
fn even_hex(hex: &str) -> String {
    let lower = hex.to_ascii_lowercase();
    if lower.len() % 2 == 1 {
        format!("0{lower}")
    } else {
        lower
    }
}

/// Whether the certificate's serial is the one proposed (both hex, compared as numbers).
fn same_serial(proposed_hex: &str, got_hex: &str) -> bool {
    let trim = |h: &str| h.trim_start_matches('0').to_ascii_lowercase();
    !proposed_hex.is_empty() && trim(proposed_hex) == trim(got_hex)
}

/// The CA's key (PEM in PKCS#1, SEC1 or PKCS#8) as the key pair certdesk stores.
fn server_key(pem: &str) -> Result<KeyPair, CaError> {
    let key = crate::x509::private_key_from_pem(pem.as_bytes())
        .map_err(internal("the CA's private key"))?;
    KeyPair::try_from(key.pkcs8_der).map_err(|e| CaError::Unparsable {
        detail: format!("the CA's private key: {e}"),
    })
}
