//! Bulk certificate runs for a selection of users, with progress, resumable after a restart.
//!
//! A run is stored first (job + one item per user). The runner generates keys on as many
//! blocking threads as there are cores, while the database work (sign, store, audit, mark the
//! item done: one transaction per user) goes one user at a time. A refused or failed user is
//! marked with its error code and the run goes on. At start-up, runs that had not finished are
//! resumed ([`Backend::resume_bulk_runs`]); items already done are not touched again.

use crate::ca;
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::ts;
use crate::Backend;
use certdesk_domain::lifecycle::LifecycleError;
use certdesk_domain::AuditAction;
use certdesk_domain::{Operation, OperationKind};
use rusqlite::{params, OptionalExtension};
use tokio::task::JoinSet;

pub use certdesk_domain::views::{BulkItem, BulkStatus, RunItemStatus};

/// The operation of a stored run (`bulk_jobs.operation` is a CHECKed column).
fn stored_operation(name: &str, reason: Option<&str>) -> Result<Operation, ServiceError> {
    let kind = OperationKind::parse(name)
        .ok_or_else(|| ServiceError::Internal(format!("unknown bulk operation {name}")))?;
    Ok(Operation::new(
        kind,
        reason.and_then(certdesk_domain::lifecycle::RevocationReason::parse),
    ))
}

impl Backend {
    /// Records a run for `user_ids` and starts it in the background. Returns the run's id.
    pub async fn start_bulk(
        &self,
        user_ids: Vec<i64>,
        op: Operation,
        actor: Actor,
    ) -> Result<i64, ServiceError> {
        let job = self.create_bulk(user_ids, op, actor).await?;
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.run_bulk(job).await {
                tracing::error!(bulk.job = job, error.code = e.code(), error.detail = %e, "bulk run stopped");
            }
        });
        Ok(job)
    }

    /// Records a run without starting it.
    pub async fn create_bulk(
        &self,
        mut user_ids: Vec<i64>,
        op: Operation,
        actor: Actor,
    ) -> Result<i64, ServiceError> {
        user_ids.sort_unstable();
        user_ids.dedup();
        if user_ids.is_empty() {
            return Err(LifecycleError::EmptySelection.into());
        }
        op.check_for_bulk()?;
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                // One unfinished run per organisation (a resumed run counts): refused, nothing written.
                crate::distribution::refuse_if_run_in_progress(&tx)?;
                let (actor_id, actor_name) = actor.columns();
                tx.execute(
                    "INSERT INTO bulk_jobs (operation, reason, actor_user_id, actor, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![op.name(), op.reason().map(|r| r.as_str()), actor_id, actor_name, ts(now)],
                )?;
                let job = tx.last_insert_rowid();
                for (position, user_id) in user_ids.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO bulk_job_items (job_id, user_id, position) VALUES (?1, ?2, ?3)",
                        params![job, user_id, position],
                    )?;
                }
                audit::record(&tx, now, &actor, AuditAction::BulkStart, Some(&format!("bulk {job}")), Outcome::Success,
                    serde_json::json!({"operation": op.name(), "users": user_ids.len()}))?;
                tx.commit()?;
                Ok(job)
            })
            .await
    }

    /// Runs (or resumes) a run until every item is done or failed.
    pub async fn run_bulk(&self, job: i64) -> Result<BulkStatus, ServiceError> {
        let (op, actor, pending) = self
            .db()
            .run(move |conn| {
                let (name, reason, actor_id, actor): (String, Option<String>, Option<i64>, String) = conn.query_row(
                    "SELECT operation, reason, actor_user_id, actor FROM bulk_jobs WHERE id = ?1",
                    [job],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?;
                let op = stored_operation(&name, reason.as_deref())?;
                let actor = match (actor_id, actor.as_str()) {
                    (Some(id), login_id) => Actor::User { id, login_id: login_id.to_string() },
                    (None, "cli") => Actor::Cli,
                    _ => Actor::System,
                };
                let mut stmt = conn.prepare(
                    "SELECT user_id FROM bulk_job_items WHERE job_id = ?1 AND status = 'pending' ORDER BY position",
                )?;
                let pending = stmt.query_map([job], |r| r.get::<_, i64>(0))?.collect::<Result<Vec<_>, _>>()?;
                Ok((op, actor, pending))
            })
            .await?;
        // A run keeps the CA and profile it started with; with an external CA each user is
        // one request.
        let lane = self.lane().await?;
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let key_type = lane.profile.key_type;
        // The CA makes the key (cfssl newcert), or none is needed: nothing to generate here.
        let needs_key = lane.makes_key(op);
        let mut queue = pending.into_iter();
        let mut keys = JoinSet::new();
        loop {
            while keys.len() < parallel {
                let Some(user_id) = queue.next() else { break };
                keys.spawn_blocking(move || {
                    (user_id, needs_key.then(|| ca::generate_key(key_type)))
                });
            }
            let Some(joined) = keys.join_next().await else {
                break;
            };
            let (user_id, key) =
                joined.map_err(|e| ServiceError::Internal(format!("key task failed: {e}")))?;
            let result = match key.transpose() {
                Err(e) => Err(e),
                Ok(key) => self
                    .apply_in_run(
                        user_id,
                        op,
                        actor.clone(),
                        Some(job),
                        key.map(super::flow::NewKey::Server),
                        &lane,
                    )
                    .await
                    .map(|_| ()),
            };
            if let Err(e) = result {
                self.mark_bulk_failed(job, user_id, &e).await?;
            }
        }
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                conn.execute(
                    "UPDATE bulk_jobs SET finished_at = coalesce(finished_at, ?1) WHERE id = ?2",
                    params![ts(now), job],
                )?;
                Ok(())
            })
            .await?;
        self.bulk_status(job).await
    }

    async fn mark_bulk_failed(
        &self,
        job: i64,
        user_id: i64,
        e: &ServiceError,
    ) -> Result<(), ServiceError> {
        if e.is_internal() {
            tracing::error!(bulk.job = job, user.id = user_id, error.code = e.code(), error.detail = %e, "bulk item failed");
        }
        let code = e.code().to_string();
        let m = e.message();
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                conn.execute(
                    "UPDATE bulk_job_items SET status = 'failed', error_code = ?1, message_ja = ?2, message_en = ?3, finished_at = ?4
                     WHERE job_id = ?5 AND user_id = ?6 AND status = 'pending'",
                    params![code, m.ja, m.en, ts(now), job, user_id],
                )?;
                Ok(())
            })
            .await
    }

    /// Progress and per-user results of a run.
    pub async fn bulk_status(&self, job: i64) -> Result<BulkStatus, ServiceError> {
        self.db()
            .run(move |conn| {
                let (operation, finished): (String, bool) = conn
                    .query_row("SELECT operation, finished_at IS NOT NULL FROM bulk_jobs WHERE id = ?1", [job], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?
                    .ok_or(LifecycleError::BulkNotFound { job })?;
                let mut stmt = conn.prepare(
                    "SELECT i.user_id, u.login_id, i.status, i.serial, i.error_code, i.message_ja, i.message_en
                     FROM bulk_job_items i JOIN users u ON u.id = i.user_id WHERE i.job_id = ?1 ORDER BY i.position",
                )?;
                let items = stmt
                    .query_map([job], |r| {
                        Ok(BulkItem {
                            user_id: r.get(0)?,
                            login_id: r.get(1)?,
                            status: r.get::<_, String>(2).map(|s| RunItemStatus::parse(&s).unwrap_or(RunItemStatus::Failed))?,
                            serial: r.get(3)?,
                            error_code: r.get(4)?,
                            message_ja: r.get(5)?,
                            message_en: r.get(6)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let count = |s| items.iter().filter(|i| i.status == s).count() as u32;
                Ok(BulkStatus {
                    job_id: job,
                    operation: stored_operation(&operation, None)?.kind(),
                    total: items.len() as u32,
                    done: count(RunItemStatus::Done),
                    failed: count(RunItemStatus::Failed),
                    finished,
                    items,
                })
            })
            .await
    }

    /// Resumes every run that had not finished (called at start-up).
    pub async fn resume_bulk_runs(&self) -> Result<usize, ServiceError> {
        let jobs: Vec<i64> = self
            .db()
            .run(|conn| {
                let mut stmt =
                    conn.prepare("SELECT id FROM bulk_jobs WHERE finished_at IS NULL ORDER BY id")?;
                let jobs = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(jobs)
            })
            .await?;
        for &job in &jobs {
            tracing::info!(bulk.job = job, "resuming an unfinished bulk run");
            let me = self.clone();
            tokio::spawn(async move {
                if let Err(e) = me.run_bulk(job).await {
                    tracing::error!(bulk.job = job, error.code = e.code(), error.detail = %e, "resumed bulk run stopped");
                }
            });
        }
        Ok(jobs.len())
    }
}
