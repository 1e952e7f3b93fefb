//! Settings → Scheduled backups. Precedence: what a master saved on the page wins; until
//! something is saved, `serve --backup-dir/--backup-every/--backup-keep` are in effect (the
//! command line gives the defaults, for an installation set up by its env file). Saving an
//! empty folder turns scheduled backups off. The running schedule reads this before every
//! run and is woken by a save, so a change needs no restart.

use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::ts;
use crate::Backend;
use certdesk_domain::backup::{
    format_interval, parse_interval, parse_keep, BackupError, BackupScheduleView, ScheduleSource,
};
use certdesk_domain::AuditAction;
use rusqlite::{params, OptionalExtension};
use std::path::{Component, Path, PathBuf};
use time::Duration;

/// The schedule in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleInEffect {
    pub dir: PathBuf,
    pub every: Duration,
    pub keep: u32,
}

/// The saved row: (dir, interval, keep).
type Saved = (String, Duration, u32);

impl Backend {
    async fn saved_backup_schedule(&self) -> Result<Option<Saved>, ServiceError> {
        self.db()
            .run(|conn| {
                Ok(conn
                    .query_row(
                        "SELECT dir, every_minutes, keep FROM backup_settings WHERE id = 1",
                        [],
                        |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                Duration::minutes(r.get::<_, i64>(1)?),
                                r.get::<_, u32>(2)?,
                            ))
                        },
                    )
                    .optional()?)
            })
            .await
    }

    /// The schedule in effect: the saved one, else the command line's, else none.
    pub async fn backup_schedule(&self) -> Result<Option<ScheduleInEffect>, ServiceError> {
        Ok(match self.saved_backup_schedule().await? {
            Some((dir, _, _)) if dir.is_empty() => None,
            Some((dir, every, keep)) => Some(ScheduleInEffect {
                dir: PathBuf::from(dir),
                every,
                keep,
            }),
            None => {
                let s = self.settings();
                match (&s.backup_dir, s.backup_every) {
                    (Some(dir), Some(every)) => Some(ScheduleInEffect {
                        dir: dir.clone(),
                        every,
                        keep: s.backup_keep,
                    }),
                    _ => None,
                }
            }
        })
    }

    /// The interval of scheduled backups in effect (none: no schedule), for the dashboard's
    /// and the daily mail's warning.
    pub async fn backup_interval(&self) -> Result<Option<Duration>, ServiceError> {
        Ok(self.backup_schedule().await?.map(|s| s.every))
    }

    /// Settings → Scheduled backups as the page shows it.
    pub async fn backup_schedule_view(&self) -> Result<BackupScheduleView, ServiceError> {
        let s = self.settings();
        let default_every = s.backup_every.unwrap_or(Duration::hours(24));
        let (dir, every, keep, source) = match self.saved_backup_schedule().await? {
            Some((dir, every, keep)) => (dir, every, keep, ScheduleSource::Saved),
            None => match &s.backup_dir {
                Some(dir) => (
                    dir.display().to_string(),
                    default_every,
                    s.backup_keep,
                    ScheduleSource::CommandLine,
                ),
                None => (
                    String::new(),
                    default_every,
                    s.backup_keep,
                    ScheduleSource::None,
                ),
            },
        };
        Ok(BackupScheduleView {
            dir,
            every: format_interval(every),
            keep,
            source,
            passphrase_set: s.backup_passphrase_set,
        })
    }

    /// Saves Settings → Scheduled backups (masters; the caller checks the role), audited, and
    /// wakes the running schedule. Every value is checked first; a refusal writes nothing.
    pub async fn update_backup_schedule(
        &self,
        dir: &str,
        every: &str,
        keep: &str,
        actor: Actor,
    ) -> Result<BackupScheduleView, ServiceError> {
        let dir = dir.trim().to_string();
        if !dir.is_empty() {
            check_dir(&dir, &self.settings().data_dir)?;
        }
        let every = parse_interval(every)?;
        let keep = parse_keep(keep)?;
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                tx.execute(
                    "INSERT INTO backup_settings (id, dir, every_minutes, keep, updated_at) VALUES (1, ?1, ?2, ?3, ?4)
                     ON CONFLICT(id) DO UPDATE SET dir = ?1, every_minutes = ?2, keep = ?3, updated_at = ?4",
                    params![dir, every.whole_minutes(), keep, ts(now)],
                )?;
                audit::record(
                    &tx,
                    now,
                    &actor,
                    AuditAction::BackupScheduleUpdate,
                    Some("backup"),
                    Outcome::Success,
                    serde_json::json!({"dir": dir, "every": format_interval(every), "keep": keep}),
                )?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        self.backup_wake().notify_one();
        self.backup_schedule_view().await
    }
}

/// `path` without `.` and with `..` applied, without asking the file system.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` with symbolic links resolved as far as it exists.
fn resolved(path: &Path) -> PathBuf {
    let path = lexical(path);
    let mut existing = path.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let mut out = real;
            out.extend(rest.iter().rev());
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return path,
        }
    }
}

/// An absolute folder outside the data directory that exists or can be made in an existing
/// folder.
fn check_dir(dir: &str, data_dir: &Path) -> Result<(), BackupError> {
    let path = Path::new(dir);
    if !path.is_absolute() {
        return Err(BackupError::ScheduleDirRelative { dir: dir.into() });
    }
    let data = resolved(&std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.into()));
    if resolved(path).starts_with(&data) {
        return Err(BackupError::ScheduleDirInData { dir: dir.into() });
    }
    let usable = if path.exists() {
        path.is_dir()
    } else {
        lexical(path).parent().is_some_and(Path::is_dir)
    };
    if !usable {
        return Err(BackupError::ScheduleDirUnusable { dir: dir.into() });
    }
    Ok(())
}
