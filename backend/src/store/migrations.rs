//! Numbered SQL files from `migrations/`, compiled into the binary and applied at start-up in
//! order. `schema_migrations` records each one with its SHA-256, so an edited migration that
//! was already applied is reported instead of silently ignored.

use crate::error::ServiceError;
use crate::store::db::ts;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// `(version, name, sql)`, in the order they apply. A test checks this list against the folder.
/// Versions increase but may skip a number that a parallel branch has reserved (0005).
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "0001_foundation.sql",
        include_str!("../../../migrations/0001_foundation.sql"),
    ),
    (
        2,
        "0002_certificates.sql",
        include_str!("../../../migrations/0002_certificates.sql"),
    ),
    (
        3,
        "0003_bulk_jobs.sql",
        include_str!("../../../migrations/0003_bulk_jobs.sql"),
    ),
    (
        4,
        "0004_distribution.sql",
        include_str!("../../../migrations/0004_distribution.sql"),
    ),
    (
        5,
        "0005_notices.sql",
        include_str!("../../../migrations/0005_notices.sql"),
    ),
    (
        6,
        "0006_external_ca.sql",
        include_str!("../../../migrations/0006_external_ca.sql"),
    ),
    (
        7,
        "0007_ca_interface.sql",
        include_str!("../../../migrations/0007_ca_interface.sql"),
    ),
    (
        8,
        "0008_sign_in_backoff.sql",
        include_str!("../../../migrations/0008_sign_in_backoff.sql"),
    ),
    (
        9,
        "0009_distribution_limits.sql",
        include_str!("../../../migrations/0009_distribution_limits.sql"),
    ),
    (
        10,
        "0010_otp.sql",
        include_str!("../../../migrations/0010_otp.sql"),
    ),
    (
        11,
        "0011_enrolments.sql",
        include_str!("../../../migrations/0011_enrolments.sql"),
    ),
    (
        15,
        "0015_backup_settings.sql",
        include_str!("../../../migrations/0015_backup_settings.sql"),
    ),
];

/// Applies every migration not yet recorded, each in its own transaction.
pub fn apply(conn: &mut Connection, now: OffsetDateTime) -> Result<(), ServiceError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version     INTEGER PRIMARY KEY,
             name        TEXT NOT NULL,
             sha256      TEXT NOT NULL,
             applied_at  TEXT NOT NULL
         );",
    )?;
    for &(version, name, sql) in MIGRATIONS {
        let digest = hex::encode(Sha256::digest(sql.as_bytes()));
        let recorded: Option<String> = conn
            .query_row(
                "SELECT sha256 FROM schema_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?;
        match recorded {
            Some(ref d) if *d == digest => continue,
            Some(d) => {
                return Err(ServiceError::Internal(format!(
                    "migration {name} was applied with SHA-256 {d} but the file now has {digest}; \
                     migrations must never be edited once released, add a new one instead"
                )))
            }
            None => {}
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES (?1, ?2, ?3, ?4)",
            params![version, name, digest, ts(now)],
        )?;
        tx.commit()?;
        tracing::info!(
            migration.version = version,
            migration.name = name,
            "applied migration"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_the_migrations_folder_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations folder")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| m.1.to_string()).collect();
        assert_eq!(files, listed);
        assert!(
            MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0),
            "versions increase"
        );
        for m in MIGRATIONS {
            assert!(m.1.starts_with(&format!("{:04}_", m.0)));
        }
    }

    #[test]
    fn applying_twice_changes_nothing_and_records_each_migration_once() {
        let mut conn = Connection::open_in_memory().expect("db");
        let now = OffsetDateTime::now_utc();
        apply(&mut conn, now).expect("first");
        apply(&mut conn, now).expect("second");
        let n: i64 = conn
            .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, MIGRATIONS.len() as i64);
    }

    #[test]
    fn an_edited_migration_is_reported() {
        let mut conn = Connection::open_in_memory().expect("db");
        apply(&mut conn, OffsetDateTime::now_utc()).expect("apply");
        conn.execute(
            "UPDATE schema_migrations SET sha256 = 'x' WHERE version = 1",
            [],
        )
        .expect("tamper");
        let err = apply(&mut conn, OffsetDateTime::now_utc()).expect_err("must refuse");
        assert_eq!(err.code(), "E-SYS-002");
        assert!(err.to_string().contains("0001_foundation.sql"));
    }

    #[test]
    fn the_audit_log_refuses_updates_and_deletes() {
        let mut conn = Connection::open_in_memory().expect("db");
        apply(&mut conn, OffsetDateTime::now_utc()).expect("apply");
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, outcome) VALUES ('t', 'system', 'x', 'success')",
            [],
        )
        .expect("insert");
        assert!(conn
            .execute("UPDATE audit_log SET action = 'y'", [])
            .is_err());
        assert!(conn.execute("DELETE FROM audit_log", []).is_err());
    }
}
