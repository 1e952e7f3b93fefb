//! Settling requests to an external CA whose answer was lost: by revoking the serial
//! certdesk proposed (see the domain's `authority::reconcile`), at start-up for requests a
//! stopped process left pending, before a user's next request, and in the periodic job.

use crate::ca::settings::{load_stored, sent_to, EMBEDDED};
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::ts;
use crate::Backend;
use certdesk_domain::authority::{
    reconcile, reconcile_grace, CertificateAuthority, Reconciliation,
};
use certdesk_domain::external_ca::CaError;
use certdesk_domain::lifecycle::RevocationReason;
use certdesk_domain::AuditAction;
use rusqlite::params;
use std::time::Duration;

/// What a reconciliation run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Lost answers whose certificate was found by serial and revoked at the CA.
    pub revoked_at_ca: usize,
    /// Requests the CA never turned into a certificate.
    pub never_issued: usize,
    /// Requests the CA cannot be asked about by serial (it picks its own serials).
    pub cannot_tell: usize,
    /// Requests left because the CA did not answer the revoke.
    pub unreachable: usize,
    /// The longest wait before a request can be settled.
    pub waiting: Option<Duration>,
}

impl Backend {
    /// Requests the start-up job finds still pending (the process stopped while waiting for
    /// the CA) become `unanswered`. Returns how many.
    pub async fn settle_ca_requests(&self) -> Result<usize, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let n = tx.execute(
                    "UPDATE ca_requests SET state = 'unanswered', finished_at = ?1 WHERE state = 'pending'",
                    [ts(now)],
                )?;
                if n > 0 {
                    audit::record(&tx, now, &Actor::System, AuditAction::CaRequestUnanswered, None, Outcome::Failure,
                        serde_json::json!({"requests": n, "why": "stopped while waiting for the CA"}))?;
                }
                tx.commit()?;
                Ok(n)
            })
            .await
    }

    /// Settles requests whose answer was lost (state `unanswered`, with a proposed serial) by
    /// revoking that serial at `ca` (see [`reconcile`]). With `user`, only that user's, and a
    /// request that may still reach the CA stops the caller with E-CA-012; without, every one
    /// (the periodic job), and the CA being unreachable is left for the next run.
    pub async fn reconcile_requests<C: CertificateAuthority>(
        &self,
        ca: &C,
        user: Option<i64>,
    ) -> Result<ReconcileReport, ServiceError> {
        let (open, honoured, total_timeout_s, here) = self
            .db()
            .run(move |conn| {
                let stored = load_stored(conn)?;
                let open: Vec<(i64, String, String, String, Option<String>, String)> = conn
                    .prepare(
                        "SELECT r.id, r.proposed_serial, coalesce(r.finished_at, r.created_at), u.login_id, r.sent_to, r.cn
                           FROM ca_requests r JOIN users u ON u.id = r.user_id
                          WHERE r.state = 'unanswered' AND r.proposed_serial IS NOT NULL
                            AND (?1 IS NULL OR r.user_id = ?1) ORDER BY r.id",
                    )?
                    .query_map([user], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
                    .collect::<Result<_, _>>()?;
                Ok((open, stored.serials_honoured, stored.view.cfssl.total_timeout_s, sent_to(&stored.view)))
            })
            .await?;
        let grace = reconcile_grace(Duration::from_secs(u64::from(total_timeout_s.max(1))));
        let mut report = ReconcileReport::default();
        for (id, serial, since, login_id, request_sent_to, cn) in open {
            let now = self.clock().now();
            let age = (now - crate::store::db::parse_ts(&since)?)
                .try_into()
                .unwrap_or(Duration::ZERO);
            // What was learnt of serials holds only for the CA and profile the request went to.
            if request_sent_to.as_deref() == Some(EMBEDDED) {
                // Signed in this process and not stored: the certificate never left it.
                self.close_request(id, &login_id, "never_issued", now)
                    .await?;
                report.never_issued += 1;
                continue;
            }
            let honoured_there = match request_sent_to {
                Some(to) if to == here => honoured,
                Some(_) => None,
                // Kept after a failed commit: the certificate exists, only its revocation is due.
                None => None,
            };
            let revoked = ca.revoke(&serial, RevocationReason::Superseded).await;
            let (state, action) = match reconcile(&revoked, honoured_there, age, grace) {
                Some(Reconciliation::RevokedAtCa) => {
                    ("reconciled", AuditAction::CaRequestReconciled)
                }
                Some(Reconciliation::NeverIssued) => {
                    ("never_issued", AuditAction::CaRequestNeverIssued)
                }
                Some(Reconciliation::Wait { retry_after }) => {
                    report.waiting = report.waiting.max(Some(retry_after));
                    continue;
                }
                Some(Reconciliation::CannotTell) if user.is_some() => {
                    // Reported to the CA operator with its CN; the user may go on.
                    report.cannot_tell += 1;
                    ("orphan", AuditAction::CaRequestUnanswered)
                }
                Some(Reconciliation::CannotTell) => {
                    report.cannot_tell += 1;
                    continue;
                }
                None => {
                    let e = revoked.err().unwrap_or(CaError::NotSent {
                        detail: "revoke".into(),
                    });
                    if user.is_some() {
                        return Err(e.into());
                    }
                    // The CA does not answer: the rest waits for the next run.
                    tracing::warn!(ca.request = id, error.code = e.code(), error.detail = %e, "lost answers not settled yet");
                    report.unreachable += 1;
                    break;
                }
            };
            self.db()
                .run(move |conn| {
                    let tx = conn.transaction()?;
                    let changed = tx.execute(
                        "UPDATE ca_requests SET state = ?1, finished_at = ?2 WHERE id = ?3 AND state = 'unanswered'",
                        params![state, ts(now), id],
                    )?;
                    if changed > 0 {
                        let details = match state {
                            "orphan" => serde_json::json!({"request": id, "cn": cn, "proposed_serial": serial,
                                "remedy": "the CA may hold a certificate with this CN that certdesk never received; revoke it at the CA"}),
                            _ => serde_json::json!({"request": id, "serial": serial, "revoked_at_ca": state == "reconciled"}),
                        };
                        let outcome = if state == "orphan" { Outcome::Failure } else { Outcome::Success };
                        audit::record(&tx, now, &Actor::System, action, Some(&login_id), outcome, details)?;
                    }
                    tx.commit()?;
                    Ok(())
                })
                .await?;
            match state {
                "reconciled" => report.revoked_at_ca += 1,
                "never_issued" => report.never_issued += 1,
                _ => {}
            }
        }
        if let (Some(user_wait), Some(_)) = (report.waiting, user) {
            return Err(CaError::InFlight {
                retry_after_s: user_wait.as_secs().max(1),
            }
            .into());
        }
        Ok(report)
    }

    async fn close_request(
        &self,
        id: i64,
        login_id: &str,
        state: &'static str,
        now: time::OffsetDateTime,
    ) -> Result<(), ServiceError> {
        let target = login_id.to_string();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if tx.execute(
                    "UPDATE ca_requests SET state = ?1, finished_at = ?2 WHERE id = ?3 AND state = 'unanswered'",
                    params![state, ts(now), id],
                )? > 0
                {
                    audit::record(&tx, now, &Actor::System, AuditAction::CaRequestNeverIssued, Some(&target), Outcome::Success,
                        serde_json::json!({"request": id, "why": "signed by the embedded CA and not stored"}))?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// The periodic job: settles every lost answer with the cfssl settings (nothing to do
    /// without unanswered requests).
    pub async fn reconcile_ca_requests(&self) -> Result<ReconcileReport, ServiceError> {
        let open: i64 = self
            .db()
            .run(|conn| {
                Ok(conn.query_row(
                    "SELECT count(*) FROM ca_requests WHERE state = 'unanswered' AND proposed_serial IS NOT NULL",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await?;
        if open == 0 {
            return Ok(ReconcileReport::default());
        }
        let client = self.stored_cfssl_client().await?;
        self.reconcile_requests(&client, None).await
    }
}
