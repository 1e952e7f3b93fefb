//! Scheduled backups in the server (`serve --backup-dir DIR [--backup-every 24h]
//! [--backup-keep 14]`, or Settings → Scheduled backups, which wins once saved: see
//! [`super::settings`]): one task, so one backup at a time, reading the schedule in effect
//! before each run and woken when it is saved; each run writes
//! `certdesk-<UTC time>.age` into the folder with [`super::create_backup`] (audited, actor
//! `system`), then deletes the oldest of those files beyond the newest `keep`. The first run is
//! due one interval after the last successful backup in the audit log (at once if there was
//! none, or it is overdue).

use super::{create_backup, BackupInfo};
use crate::error::ServiceError;
use crate::store::audit::Actor;
use crate::store::db::parse_ts;
use crate::Backend;
use certdesk_domain::backup::BackupStatus;
use rusqlite::OptionalExtension;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// What `serve` was told about scheduled backups.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub dir: PathBuf,
    pub every: Duration,
    pub keep: usize,
    pub passphrase: String,
}

const PREFIX: &str = "certdesk-";
const SUFFIX: &str = ".age";

/// The scheduled backups in `dir`, oldest first (their names sort by time).
fn scheduled_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .map(|n| n.to_string_lossy())
                        .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// One scheduled backup now, then the oldest beyond `keep` removed. Returns what was written.
pub async fn run_once(backend: &Backend, schedule: &Schedule) -> Result<BackupInfo, ServiceError> {
    let now = backend.clock().now();
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .map_err(|e| ServiceError::Internal(format!("time format: {e}")))?;
    let dir = schedule.dir.clone();
    let output = dir.join(format!("{PREFIX}{stamp}{SUFFIX}"));
    let data_dir = backend.settings().data_dir.clone();
    let passphrase = schedule.passphrase.clone();
    let keep = schedule.keep.max(1);
    let result: Result<BackupInfo, ServiceError> = tokio::task::spawn_blocking(move || {
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(|e| super::io_error(&dir, &e))?;
            crate::restrict_to_owner(&dir, 0o700)?;
        }
        let info = create_backup(&data_dir, &output, &passphrase, &Actor::System, now)?;
        let files = scheduled_files(&dir);
        for old in files.iter().take(files.len().saturating_sub(keep)) {
            if let Err(e) = std::fs::remove_file(old) {
                tracing::warn!(file = %old.display(), error = %e, "cannot remove an old backup");
            }
        }
        Ok(info)
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("backup task failed: {e}")))?;
    match &result {
        Ok(info) => {
            tracing::info!(file = %info.path.display(), bytes = info.bytes, "scheduled backup written")
        }
        Err(e) => {
            tracing::error!(error.code = e.code(), error.detail = %e, "scheduled backup failed")
        }
    }
    result
}

/// Runs [`run_once`] whenever one is due under the schedule in effect (read before each
/// run; a save on the Settings page wakes it). Never returns.
pub async fn run(backend: Backend, passphrase: String) {
    loop {
        let schedule = match backend.backup_schedule().await {
            Ok(Some(s)) => Schedule {
                dir: s.dir,
                every: s.every,
                keep: usize::try_from(s.keep).unwrap_or(14),
                passphrase: passphrase.clone(),
            },
            Ok(None) => {
                backend.backup_wake().notified().await;
                continue;
            }
            Err(e) => {
                tracing::error!(error.code = e.code(), error.detail = %e, "cannot read the backup schedule");
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                continue;
            }
        };
        let wait = match backend.backup_status(Some(schedule.every)).await {
            Ok(BackupStatus {
                last_success_at: Some(at),
                ..
            }) => match parse_ts(&at) {
                Ok(at) => (at + schedule.every) - backend.clock().now(),
                Err(_) => Duration::ZERO,
            },
            _ => Duration::ZERO,
        };
        if wait > Duration::ZERO {
            tokio::select! {
                () = tokio::time::sleep(wait.unsigned_abs()) => {}
                () = backend.backup_wake().notified() => continue,
            }
        }
        if run_once(&backend, &schedule).await.is_err() {
            // Try again in an hour (or sooner if the interval is shorter), not in a loop.
            let retry = std::cmp::min(schedule.every, Duration::hours(1));
            tokio::select! {
                () = tokio::time::sleep(retry.unsigned_abs()) => {}
                () = backend.backup_wake().notified() => {}
            }
        }
    }
}

impl Backend {
    /// The newest backup in the audit log (successful and failed), and whether the dashboard
    /// should warn: the last one failed, or (with a schedule of `every`) the last success is
    /// older than twice the interval or there is none.
    pub async fn backup_status(
        &self,
        every: Option<Duration>,
    ) -> Result<BackupStatus, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let last = |outcome: &str| -> Result<Option<(String, String)>, ServiceError> {
                    Ok(conn
                        .query_row(
                            "SELECT at, detail FROM audit_log WHERE action = 'backup' AND outcome = ?1 ORDER BY id DESC LIMIT 1",
                            [outcome],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?)
                };
                let success = last("success")?;
                let failure = last("failure")?;
                let last_success_bytes = success.as_ref().and_then(|(_, d)| {
                    serde_json::from_str::<serde_json::Value>(d).ok()?["bytes"].as_u64()
                });
                let last_success_at = success.map(|(at, _)| at);
                let last_failure_at = failure.map(|(at, _)| at);
                let failed = match (&last_success_at, &last_failure_at) {
                    (Some(s), Some(f)) => f > s,
                    (None, Some(_)) => true,
                    _ => false,
                };
                let overdue = match (every, &last_success_at) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(every), Some(at)) => parse_ts(at)
                        .map(|at: OffsetDateTime| now - at > every * 2)
                        .unwrap_or(true),
                };
                Ok(BackupStatus {
                    scheduled: every.is_some(),
                    last_success_at,
                    last_success_bytes,
                    last_failure_at,
                    warn: failed || overdue,
                })
            })
            .await
    }
}
