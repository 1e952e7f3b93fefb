//! The SQLite database: opening it with the pragmas certdesk relies on, running work on a
//! blocking thread, and the one timestamp format used in every table.

use crate::error::ServiceError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Opens the database file with WAL journaling, foreign keys on and a busy timeout, so that
/// the command line (e.g. `certdesk users unlock`) can write while the server runs.
/// `secure_delete` is on, so deleted rows and overwritten values (erased private keys, sealed
/// files and sheets) are zeroed in their pages instead of left in free space; see
/// [`checkpoint_truncate`] for the copies in the WAL.
pub fn open(path: &Path) -> Result<Connection, ServiceError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Copies every WAL frame into the database file and truncates the WAL to zero bytes, so that
/// older versions of pages (which may still hold erased keys) no longer exist anywhere on
/// disk. Called after anything secret was erased. Returns false when a reader kept the
/// checkpoint from completing (the next one catches up).
pub fn checkpoint_truncate(conn: &Connection) -> Result<bool, ServiceError> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    Ok(busy == 0)
}

/// One connection shared by the server. certdesk serves one organisation of at most 100
/// users, so a single connection behind a mutex is enough; every use runs on tokio's blocking
/// pool and never across an `.await`.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    pub fn new(conn: Connection) -> Db {
        Db {
            conn: Arc::new(Mutex::new(conn)),
        }
    }

    /// Runs `work` with the connection on a blocking thread.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ServiceError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| ServiceError::Internal("database mutex poisoned".into()))?;
            work(&mut guard)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("database task failed: {e}")))?
    }
}

const TS_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// Formats an instant as stored: UTC, microseconds, fixed width.
pub fn ts(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(TS_FORMAT)
        .unwrap_or_else(|_| unreachable!("the fixed format has only fields every date has"))
}

/// Reads an instant written by [`ts`].
pub fn parse_ts(text: &str) -> Result<OffsetDateTime, ServiceError> {
    PrimitiveDateTime::parse(text, TS_FORMAT)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|e| ServiceError::Internal(format!("bad timestamp {text:?} in database: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_are_fixed_width_utc_and_round_trip() {
        let at = datetime!(2026-11-23 15:04:05.000007 +09:00);
        let text = ts(at);
        assert_eq!(text, "2026-11-23T06:04:05.000007Z");
        assert_eq!(parse_ts(&text).expect("parses"), at);
    }

    #[test]
    fn a_new_database_uses_wal_and_foreign_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = open(&dir.path().join("t.sqlite3")).expect("opens");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("pragma");
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .expect("pragma");
        let secure: i64 = conn
            .query_row("PRAGMA secure_delete", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(mode, "wal");
        assert_eq!(fk, 1);
        assert_eq!(secure, 1);
    }
}
