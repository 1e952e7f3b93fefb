//! The edges of backup and restore through the real `certdesk` binary (the restore drill and
//! the other refusals are in `operations.rs`): a full disk during a backup (a real small tmpfs,
//! for the backup's folder, for the data directory, and under a scheduled backup), a backup of
//! an older schema restored and migrated forward, refused restores with `--replace` leaving the
//! existing installation in place, and the per-ID codes of the `certs` commands.
//!
//! The full disks are real: a tmpfs of a few hundred KiB mounted in a mount namespace of its
//! own (`unshare -rm`, which needs no root where user namespaces are allowed, as on the test
//! machines; the tests fail with the reason where it is not), filled with a file until the
//! kernel answers ENOSPC. No error is injected: the real writer meets the real full disk.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

fn rows(dir: &Path, sql: &str) -> Vec<Vec<String>> {
    let conn = db(dir);
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => "NULL".to_string(),
                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                    rusqlite::types::ValueRef::Real(v) => v.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                    rusqlite::types::ValueRef::Blob(b) => format!("{b:?}"),
                })
            })
            .collect()
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

/// Every table but the audit log, row by row.
fn contents(dir: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    let tables: Vec<String> = rows(
        dir,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'audit_log' ORDER BY name",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    tables
        .into_iter()
        .map(|t| {
            let r = rows(dir, &format!("SELECT * FROM \"{t}\" ORDER BY rowid"));
            (t, r)
        })
        .collect()
}

/// A real small disk: a tmpfs of `size` on `mount_point`, in a mount namespace of its own
/// kept by a sleeping process; reached from here through `/proc/<pid>/root<mount_point>` (the
/// namespace's view of the path). It vanishes with the process, whatever happens to the test.
struct SmallDisk {
    holder: Child,
    /// The mount point as the namespace sees it.
    inside: PathBuf,
    /// The same folder from here.
    path: PathBuf,
}

impl SmallDisk {
    fn mount(mount_point: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(mount_point).expect("mount point");
        let mut holder = Command::new("unshare")
            .args([
                "-rm",
                "sh",
                "-c",
                r#"mount -t tmpfs -o size="$1" tmpfs "$0" && echo mounted && exec sleep 3600"#,
            ])
            .arg(mount_point)
            .arg(size)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) runs");
        let mut line = String::new();
        let _ = BufReader::new(holder.stdout.take().expect("stdout")).read_line(&mut line);
        if line.trim() != "mounted" {
            let mut stderr = String::new();
            let _ = holder
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut stderr);
            let _ = holder.kill();
            let _ = holder.wait();
            panic!(
                "cannot mount a small tmpfs in a mount namespace of its own (unshare -rm needs \
                 user namespaces): {stderr}"
            );
        }
        let path = PathBuf::from(format!(
            "/proc/{}/root{}",
            holder.id(),
            mount_point.display()
        ));
        SmallDisk {
            holder,
            inside: mount_point.to_path_buf(),
            path,
        }
    }

    /// `certdesk ARGS` inside the disk's mount namespace (`nsenter`) on the data folder `dir`
    /// as seen there (the mount point's path): SQLite resolves the `/proc/<pid>/root` link
    /// to the path outside, so a database on the small disk is only reached from inside.
    fn certdesk(&self, dir: &Path, args: &[&str]) -> Output {
        let pid = self.holder.id().to_string();
        let mut command = Command::new("nsenter");
        command
            .args(["-t", &pid, "-U", "-m", "--preserve-credentials", "--"])
            .arg(bin());
        run_certdesk(&mut command, dir, args, PASSPHRASE)
    }

    /// Writes `name` until the disk is full (the kernel says ENOSPC), then gives back `leave`
    /// bytes of it.
    fn fill(&self, name: &str, leave: u64) {
        let path = self.path.join(name);
        let mut file = std::fs::File::create(&path).expect("filler");
        let block = vec![0x5au8; 4096];
        let mut written = 0u64;
        let err = loop {
            match file.write(&block) {
                Ok(n) => written += n as u64,
                Err(e) => break e,
            }
            assert!(written < 64 << 20, "the small disk is not small");
        };
        assert_eq!(err.raw_os_error(), Some(28), "ENOSPC: {err}");
        file.set_len(written.saturating_sub(leave))
            .expect("give some back");
        file.sync_all().expect("sync");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The audit log's `backup` rows: (actor, outcome, detail).
fn backup_audit(dir: &Path) -> Vec<Vec<String>> {
    rows(
        dir,
        "SELECT actor, outcome, detail FROM audit_log WHERE action = 'backup' ORDER BY id",
    )
}

#[test]
fn a_full_disk_under_the_backup_file_is_e_backup_009_leaves_nothing_and_the_next_backup_works() {
    let root = tempfile::tempdir().expect("tempdir");
    let live = root.path().join("live");
    set_up(&live);
    expect(&live, &["certs", "issue", "taro0001", "hana0002"], 0);
    let disk = SmallDisk::mount(&root.path().join("disk"), "1m");
    let file = disk.path.join("certdesk.age");
    let file_arg = file.to_str().expect("utf-8");
    // The previous backup, on the small disk; then the disk fills up with other files.
    expect(&live, &["backup", "-o", file_arg], 0);
    let previous = std::fs::read(&file).expect("read");
    assert!(
        previous.len() > 64 << 10,
        "the backup is larger than what is left"
    );
    disk.fill("other-files", 16 << 10);
    let data_before = rows(
        &live,
        "SELECT u.login_id, c.serial, c.state FROM users u LEFT JOIN certificates c ON c.user_id = u.id ORDER BY u.id, c.id",
    );

    let out = certdesk(&live, &["backup", "-o", file_arg]);
    refused(&out, "E-BACKUP-009");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ディスクがいっぱい") && stderr.contains("is full"),
        "{stderr}"
    );
    // Nothing half-written: the previous backup whole, no temporary file beside it.
    assert_eq!(entries(&disk.path), vec!["certdesk.age", "other-files"]);
    assert_eq!(std::fs::read(&file).expect("read"), previous);
    // The database untouched (no snapshot left beside it), the failure audited with its code.
    assert!(
        entries(&live).iter().all(|n| !n.contains("snapshot")),
        "{:?}",
        entries(&live)
    );
    let check: String = db(&live)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(check, "ok");
    assert_eq!(
        rows(
            &live,
            "SELECT u.login_id, c.serial, c.state FROM users u LEFT JOIN certificates c ON c.user_id = u.id ORDER BY u.id, c.id",
        ),
        data_before
    );
    let audited = backup_audit(&live);
    let last = audited.last().expect("rows");
    assert_eq!((last[0].as_str(), last[1].as_str()), ("cli", "failure"));
    assert!(last[2].contains("E-BACKUP-009"), "{last:?}");

    // Space freed: the next backup works, replaces the previous one and restores.
    std::fs::remove_file(disk.path.join("other-files")).expect("free");
    expect(&live, &["backup", "-o", file_arg], 0);
    assert_eq!(entries(&disk.path), vec!["certdesk.age"]);
    assert_ne!(std::fs::read(&file).expect("read"), previous);
    let target = root.path().join("target");
    expect(&target, &["restore", file_arg], 0);
    assert_eq!(
        rows(
            &target,
            "SELECT u.login_id, c.serial, c.state FROM users u LEFT JOIN certificates c ON c.user_id = u.id ORDER BY u.id, c.id",
        ),
        data_before
    );
}

#[test]
fn a_full_disk_under_the_data_directory_stops_the_snapshot_with_e_backup_009_and_keeps_the_database(
) {
    let root = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::mount(&root.path().join("disk"), "2m");
    // The data folder on the small disk: `live` for certdesk (inside), `seen` from here.
    let live = disk.inside.join("live");
    let seen = disk.path.join("live");
    let on_disk = |args: &[&str], code: i32| {
        let out = disk.certdesk(&live, args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
        out
    };
    on_disk(common::SETUP, 0);
    on_disk(
        &[
            "users",
            "add",
            "taro0001",
            "佐藤 太郎",
            "taro@example.co.jp",
        ],
        0,
    );
    on_disk(&["certs", "issue", "taro0001"], 0);
    // The database as it is now, read from a copy on the ordinary disk.
    let copy_of_live = |name: &str| {
        let copy = root.path().join(name);
        std::fs::create_dir(&copy).expect("mkdir");
        for file in ["certdesk.sqlite3", "certdesk.sqlite3-wal"] {
            if seen.join(file).exists() {
                std::fs::copy(seen.join(file), copy.join(file)).expect("copy");
            }
        }
        copy
    };
    let before = copy_of_live("before");
    // Fill the disk: the snapshot (as large as the database) no longer fits beside it.
    let database_bytes = std::fs::metadata(seen.join("certdesk.sqlite3"))
        .expect("meta")
        .len();
    disk.fill("other-files", database_bytes / 4);
    let file = root.path().join("certdesk.age");
    let file_arg = file.to_str().expect("utf-8");

    let out = on_disk(&["backup", "-o", file_arg], 1);
    refused(&out, "E-BACKUP-009");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(live.to_str().expect("utf-8")),
        "names the full disk's folder: {}",
        text(&out)
    );
    assert!(!file.exists());
    assert!(
        entries(root.path()).iter().all(|n| !n.starts_with('.')),
        "{:?}",
        entries(root.path())
    );
    // The database untouched: no snapshot left beside it, integrity intact, every table as
    // it was; the audit log only gained the failure, if the full disk let it be written.
    assert!(
        entries(&seen).iter().all(|n| !n.contains("snapshot")),
        "{:?}",
        entries(&seen)
    );
    let after = copy_of_live("after");
    let check: String = db(&after)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(check, "ok");
    assert_eq!(contents(&after), contents(&before));
    let audit = |dir: &Path| rows(dir, "SELECT * FROM audit_log ORDER BY id");
    let (audit_before, audit_after) = (audit(&before), audit(&after));
    assert_eq!(audit_after[..audit_before.len()], audit_before[..]);
    assert!(audit_after.len() <= audit_before.len() + 1);

    // Space freed: the next backup works and restores.
    std::fs::remove_file(disk.path.join("other-files")).expect("free");
    on_disk(&["backup", "-o", file_arg], 0);
    let target = root.path().join("target");
    expect(&target, &["restore", file_arg], 0);
    for sql in [
        "SELECT * FROM users ORDER BY id",
        "SELECT * FROM certificates ORDER BY id",
    ] {
        assert_eq!(rows(&target, sql), rows(&before, sql), "{sql}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_backup_onto_a_full_disk_fails_audited_keeps_the_older_ones_and_the_dashboard_warns(
) {
    let root = tempfile::tempdir().expect("tempdir");
    let live = root.path().join("live");
    set_up(&live);
    let disk = SmallDisk::mount(&root.path().join("disk"), "1m");
    let backups = disk.path.join("backups");
    std::fs::create_dir(&backups).expect("mkdir");
    let older = backups.join("certdesk-20200101T000000Z.age");
    std::fs::write(&older, b"an older scheduled backup").expect("write");
    disk.fill("other-files", 16 << 10);

    let server = Server::start_with(
        &live,
        &[
            "--backup-dir",
            backups.to_str().expect("utf-8"),
            "--backup-every",
            "1h",
            "--backup-keep",
            "1",
        ],
    );
    // The first run is due at once, and fails on the full disk.
    let started = Instant::now();
    let failure = loop {
        if let Some(row) = backup_audit(&live).into_iter().next() {
            break row;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no backup run");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        (failure[0].as_str(), failure[1].as_str()),
        ("system", "failure")
    );
    assert!(failure[2].contains("E-BACKUP-009"), "{failure:?}");
    // No partial file; the older backup not pruned by a run that failed.
    assert_eq!(
        entries(&backups),
        vec!["certdesk-20200101T000000Z.age".to_string()]
    );
    assert_eq!(
        std::fs::read(&older).expect("read"),
        b"an older scheduled backup"
    );
    let admin = server.signed_in().await;
    let status = &server.dashboard(&admin).await["backup"];
    assert_eq!(status["warn"], true, "{status}");
    assert!(status["last_failure_at"].is_string(), "{status}");
    assert!(status["last_success_at"].is_null(), "{status}");
    drop(server);
    // The page's words for it (the dashboard's banner and the masters' mail share them).
    let status: certdesk_domain::backup::BackupStatus =
        serde_json::from_value(status.clone()).expect("status");
    let summary = status.summary();
    assert!(
        summary.en.contains("The latest backup failed"),
        "{}",
        summary.en
    );
    assert!(summary.ja.contains("失敗しました"), "{}", summary.ja);
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for name in entries(dir) {
        let path = dir.join(&name);
        if path.is_dir() {
            for (inner, bytes) in tree(&path) {
                out.push((format!("{name}/{inner}"), bytes));
            }
        } else {
            out.push((name, std::fs::read(&path).expect("read")));
        }
    }
    out
}

/// An installation as an older certdesk (schema 6, before the CA interface, sign-in backoff,
/// pickup limits, one-time passwords and backup settings changed or added tables) left it:
/// the database made by the real migration runner stopped at migration 6, holding the rows
/// of a real installation (set up, users, certificates issued and revoked by the current
/// binary) in the columns schema 6 had; packed by the real `certdesk backup`, restored by
/// the real `certdesk restore`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_an_older_schema_is_migrated_forward_on_restore_and_the_console_serves_it() {
    const OLD: i64 = 6;
    let root = tempfile::tempdir().expect("tempdir");
    let live = root.path().join("live");
    set_up(&live);
    expect(&live, &["certs", "issue", "taro0001", "hana0002"], 0);
    expect(
        &live,
        &["certs", "revoke", "hana0002", "--reason", "key_compromise"],
        0,
    );

    // The older installation: its database at schema 6, its keys those of `live`.
    let old = root.path().join("old");
    std::fs::create_dir_all(old.join("ca")).expect("mkdir");
    for file in ["master.key", "ca/ca-key.sealed"] {
        std::fs::copy(live.join(file), old.join(file)).expect("copy");
    }
    certdesk_backend::backup::create_database_at_schema(&old.join("certdesk.sqlite3"), OLD)
        .expect("schema 6");
    {
        let conn = db(&old);
        conn.execute(
            "ATTACH DATABASE ?1 AS cur",
            [live.join("certdesk.sqlite3").to_str().expect("utf-8")],
        )
        .expect("attach");
        let names = |sql: &str| -> Vec<String> {
            let mut stmt = conn.prepare(sql).expect("prepare");
            stmt.query_map([], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("names")
        };
        let tables = names(
            "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'",
        );
        for table in tables {
            let current = names(&format!(
                "SELECT name FROM cur.pragma_table_info('{table}')"
            ));
            let columns: Vec<String> = names(&format!(
                "SELECT name FROM main.pragma_table_info('{table}')"
            ))
            .into_iter()
            .filter(|c| current.contains(c))
            .map(|c| format!("\"{c}\""))
            .collect();
            let columns = columns.join(", ");
            conn.execute(
                &format!("INSERT OR REPLACE INTO main.\"{table}\" ({columns}) SELECT {columns} FROM cur.\"{table}\""),
                [],
            )
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        }
    }
    let version = |dir: &Path| -> i64 {
        db(dir)
            .query_row("SELECT max(version) FROM schema_migrations", [], |r| {
                r.get(0)
            })
            .expect("version")
    };
    let has_column = |dir: &Path, table: &str, column: &str| -> bool {
        db(dir)
            .query_row(
                &format!("SELECT count(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
                [column],
                |r| r.get::<_, i64>(0),
            )
            .expect("column")
            > 0
    };
    assert_eq!(version(&old), OLD);
    assert!(!has_column(&old, "users", "locked_until"));
    assert!(!has_column(&old, "certificates", "ca_kind"));
    let users =
        "SELECT id, login_id, name, email, role, password_hash, deleted_at FROM users ORDER BY id";
    let certificates = "SELECT id, user_id, serial, state, not_after, cert_der, revoked_at, revocation_reason FROM certificates ORDER BY id";
    assert_eq!(rows(&old, users), rows(&live, users));
    assert_eq!(rows(&old, certificates), rows(&live, certificates));

    // Packed by the real command, which backs up without migrating.
    let file = root.path().join("old.age");
    let file_arg = file.to_str().expect("utf-8");
    let stdout = expect(&old, &["backup", "-o", file_arg], 0);
    assert!(stdout.contains(&format!("schema {OLD})")), "{stdout}");
    assert_eq!(version(&old), OLD);

    // Restored: migrated forward, said so, the rows there.
    let latest = certdesk_backend::backup::latest_schema();
    assert!(latest > OLD);
    let target = root.path().join("target");
    let stdout = expect(&target, &["restore", file_arg], 0);
    assert!(
        stdout.contains(&format!("schema migrated {OLD} → {latest}")),
        "{stdout}"
    );
    assert_eq!(version(&target), latest);
    assert!(has_column(&target, "users", "locked_until"));
    assert!(has_column(&target, "certificates", "ca_kind"));
    let applied = rows(
        &target,
        "SELECT version FROM schema_migrations ORDER BY version",
    );
    assert!(applied.len() > OLD as usize, "{applied:?}");
    assert_eq!(rows(&target, users), rows(&live, users));
    assert_eq!(rows(&target, certificates), rows(&live, certificates));
    let kinds = rows(&target, "SELECT DISTINCT ca_kind FROM certificates");
    assert_eq!(kinds, vec![vec!["embedded".to_string()]]);
    let list = |dir: &Path| expect(dir, &["certs", "list", "--format", "json"], 0);
    assert_eq!(list(&target), list(&live));

    // The console starts on it: the master signs in and sees the dashboard.
    let server = Server::start_with(&target, &[]);
    let admin = server.signed_in().await;
    let dashboard = server.dashboard(&admin).await;
    assert!(dashboard.is_object(), "{dashboard}");
    drop(server);
    // The CA key opens and the serials go on: a new certificate on the restored copy.
    expect(&target, &["certs", "issue", "jiro0003"], 0);
    let serials = rows(&target, "SELECT serial FROM certificates ORDER BY id");
    assert_eq!(serials.len(), 3);
    assert!(!rows(&live, "SELECT serial FROM certificates").contains(&serials[2]));
}

/// The refusals of a restore with `--replace` (a flipped byte, a cut file, the wrong
/// passphrase, a newer schema) leave the installation being replaced exactly where and as it
/// was; only a good file moves it aside.
#[test]
fn a_refused_restore_with_replace_leaves_the_existing_installation_in_place() {
    let root = tempfile::tempdir().expect("tempdir");
    let live = root.path().join("live");
    set_up(&live);
    expect(&live, &["certs", "issue", "taro0001"], 0);
    let good = root.path().join("good.age");
    expect(&live, &["backup", "-o", good.to_str().expect("utf-8")], 0);
    let bytes = std::fs::read(&good).expect("read");
    let flipped = root.path().join("flipped.age");
    let mut altered = bytes.clone();
    altered[bytes.len() / 2] ^= 0x01;
    std::fs::write(&flipped, altered).expect("write");
    let cut = root.path().join("cut.age");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).expect("write");
    db(&live)
        .execute(
            "INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES (9999, '9999_future.sql', 'x', '2030-01-01T00:00:00.000000Z')",
            [],
        )
        .expect("future migration");
    let future = root.path().join("future.age");
    expect(&live, &["backup", "-o", future.to_str().expect("utf-8")], 0);

    // The installation to be replaced.
    let other = root.path().join("other");
    set_up(&other);
    let before = tree(&other);
    for (file, passphrase, code) in [
        (&flipped, PASSPHRASE, "E-BACKUP-005"),
        (&cut, PASSPHRASE, "E-BACKUP-005"),
        (&good, "not the right passphrase", "E-BACKUP-004"),
        (&future, PASSPHRASE, "E-BACKUP-007"),
    ] {
        let out = certdesk_with(
            &other,
            &["restore", file.to_str().expect("utf-8"), "--replace"],
            passphrase,
        );
        refused(&out, code);
        assert!(tree(&other) == before, "{code}: the installation changed");
        assert!(
            entries(root.path())
                .iter()
                .all(|n| !n.starts_with('.') && !n.contains("before-restore")),
            "{code}: {:?}",
            entries(root.path())
        );
    }
    expect(
        &other,
        &["restore", good.to_str().expect("utf-8"), "--replace"],
        0,
    );
    let aside: Vec<String> = entries(root.path())
        .into_iter()
        .filter(|n| n.starts_with("other.before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", entries(root.path()));
    assert!(
        tree(&root.path().join(&aside[0])) == before,
        "moved aside whole"
    );
    let serials = rows(&other, "SELECT serial FROM certificates");
    assert_eq!(serials.len(), 1, "the backup's certificate");
}

/// `certs` commands refuse per login ID with the codes the pages give (E-USER-001 unknown,
/// E-CERT-001 already valid, E-CERT-003 renewal not open yet, E-CERT-007 no valid certificate, E-CERT-008 a revocation
/// without a reason), write nothing for the
/// refused IDs, and exit 1 when every ID was refused, 3 when only some were.
#[test]
fn certs_commands_refuse_each_login_id_with_the_pages_code() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("d");
    set_up(&dir);
    expect(&dir, &["certs", "issue", "taro0001"], 0);
    let certificates = "SELECT serial, state FROM certificates ORDER BY id";
    let before = rows(&dir, certificates);

    let out = certdesk(
        &dir,
        &["certs", "renew", "taro0001", "jiro0003", "nobody99"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (id, code) in [
        ("taro0001", "E-CERT-003"),
        ("jiro0003", "E-CERT-007"),
        ("nobody99", "E-USER-001"),
    ] {
        assert!(
            stdout.contains(&format!("{id}\t{code}\t")),
            "{id}: {stdout}"
        );
        assert!(
            stderr.contains(&format!("{id}: {code}: ")),
            "{id}: {stderr}"
        );
    }
    let out = certdesk(
        &dir,
        &[
            "certs",
            "revoke",
            "jiro0003",
            "nobody99",
            "--reason",
            "key_compromise",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("jiro0003\tE-CERT-007\t"), "{stdout}");
    assert!(stdout.contains("nobody99\tE-USER-001\t"), "{stdout}");
    // Without a reason, as on the page: the reason is asked for first.
    let out = certdesk(&dir, &["certs", "revoke", "taro0001"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("taro0001\tE-CERT-008\t"), "{stdout}");
    assert_eq!(rows(&dir, certificates), before, "nothing written");

    // Some done, some refused: 3, and only the eligible one changed.
    let out = certdesk(&dir, &["certs", "issue", "taro0001", "jiro0003"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("taro0001\tE-CERT-001\t"), "{stdout}");
    assert!(stdout.contains("jiro0003\tok\tissue"), "{stdout}");
    let after = rows(
        &dir,
        "SELECT u.login_id, c.state FROM certificates c JOIN users u ON u.id = c.user_id ORDER BY c.id",
    );
    assert_eq!(
        after,
        vec![
            vec!["taro0001".to_string(), "valid".to_string()],
            vec!["jiro0003".to_string(), "valid".to_string()],
        ]
    );
}
