//! Operations through the real `certdesk` binary: the restore drill (back up while the server
//! serves, restore into a fresh folder, serve the copy), the refusals of a restore (flipped
//! byte, cut file, wrong passphrase, newer schema, non-empty folder), `kill -9` during a
//! backup, and the `certs` commands with their exit codes and `.p12` files read by OpenSSL and
//! NSS `pk12util`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

fn audit_rows(dir: &Path) -> Vec<(String, String, String, Option<String>, String)> {
    let conn = db(dir);
    let mut stmt = conn
        .prepare("SELECT at, actor, action, target, outcome FROM audit_log ORDER BY id")
        .expect("prepare");
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn serials(dir: &Path) -> Vec<String> {
    let conn = db(dir);
    let mut stmt = conn
        .prepare("SELECT serial FROM certificates ORDER BY id")
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_drill_the_restored_copy_serves_signs_in_and_continues_the_crl() {
    let root = tempfile::tempdir().expect("tempdir");
    let live = root.path().join("live");
    set_up(&live);
    expect(
        &live,
        &["certs", "issue", "taro0001", "hana0002", "jiro0003"],
        0,
    );
    expect(
        &live,
        &["certs", "revoke", "hana0002", "--reason", "key_compromise"],
        0,
    );
    let revoked: String = db(&live)
        .query_row(
            "SELECT c.serial FROM certificates c JOIN users u ON u.id = c.user_id WHERE u.login_id = 'hana0002'",
            [],
            |r| r.get(0),
        )
        .expect("revoked serial");

    // The server runs; a pickup is opened through the console.
    let server = Server::start(&live);
    let admin = server.client();
    assert_eq!(server.sign_in(&admin).await, 200);
    let taro: i64 = db(&live)
        .query_row(
            "SELECT id FROM users WHERE login_id = 'taro0001'",
            [],
            |r| r.get(0),
        )
        .expect("id");
    let created: serde_json::Value = admin
        .post(format!("{}/api/prepare_pickups", server.base))
        .header("origin", &server.base)
        .json(&serde_json::json!({"user_ids": [taro], "profile": "modern"}))
        .send()
        .await
        .expect("pickups")
        .json()
        .await
        .expect("json");
    let number = created["slips"][0]["pickup_number"]
        .as_str()
        .expect("number")
        .to_string();
    let pickup_password = created["slips"][0]["password"]
        .as_str()
        .expect("password")
        .to_string();

    // Back up while the server answers requests (the signed-in dashboard, the CRL).
    let busy = {
        let base = server.base.clone();
        let client = admin.clone();
        tokio::spawn(async move {
            let mut answered = 0u32;
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(2) || answered < 5 {
                for path in ["/", "/ca/crl.der"] {
                    let r = client
                        .get(format!("{base}{path}"))
                        .send()
                        .await
                        .expect("request");
                    assert_eq!(r.status(), 200, "{path}");
                    answered += 1;
                }
            }
            answered
        })
    };
    let file = root.path().join("certdesk.age");
    let out = tokio::task::spawn_blocking({
        let live = live.clone();
        let file = file.clone();
        move || {
            certdesk(
                &live,
                &["backup", "--output", file.to_str().expect("utf-8")],
            )
        }
    })
    .await
    .expect("backup task");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(busy.await.expect("requests") >= 5);
    drop(server);

    // Restore into a fresh folder and serve the copy.
    let copy = root.path().join("copy");
    let out = certdesk(&copy, &["restore", file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    assert!(
        entries(root.path()).iter().all(|n| !n.starts_with('.')),
        "no staging folder left: {:?}",
        entries(root.path())
    );

    // The certificate list and the audit log are those of the backup (plus the restore).
    let list = |dir: &Path| expect(dir, &["certs", "list", "--format", "json"], 0);
    assert_eq!(list(&live), list(&copy));
    let before = audit_rows(&live);
    let after = audit_rows(&copy);
    let (restore_row, restored) = after.split_last().expect("rows");
    assert_eq!(restore_row.2, "restore");
    assert_eq!(restore_row.1, "cli");
    assert!(!restored.is_empty());
    assert_eq!(restored, &before[..restored.len()]);
    // The live log records the backup itself.
    assert!(before
        .iter()
        .any(|r| r.2 == "backup" && r.4 == "success" && r.1 == "cli"));

    let crl_before: i64 = db(&copy)
        .query_row("SELECT max(number) FROM crls", [], |r| r.get(0))
        .expect("crl number");
    let server = Server::start(&copy);
    let admin = server.client();
    assert_eq!(server.sign_in(&admin).await, 200, "sign-in on the copy");

    // A pending pickup still downloads, and its .p12 opens.
    let r = server
        .client()
        .post(format!("{}/pickup/download", server.base))
        .header("origin", &server.base)
        .form(&[
            ("group_id", "G0001"),
            ("number", number.as_str()),
            ("password", pickup_password.as_str()),
        ])
        .send()
        .await
        .expect("pickup");
    assert_eq!(r.status(), 200);
    let p12 = root.path().join("picked-up.p12");
    std::fs::write(&p12, r.bytes().await.expect("body")).expect("write");
    let out = run(
        "openssl",
        &[
            "pkcs12",
            "-in",
            p12.to_str().expect("utf-8"),
            "-passin",
            &format!("pass:{pickup_password}"),
            "-nokeys",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    drop(server);

    // New serials do not collide with old ones; the CRL number goes on and keeps the
    // revoked serial.
    expect(
        &copy,
        &[
            "certs",
            "revoke",
            "jiro0003",
            "--reason",
            "affiliation_changed",
        ],
        0,
    );
    expect(&copy, &["certs", "issue", "hana0002"], 0);
    let old = serials(&live);
    let new = serials(&copy);
    assert_eq!(new.len(), old.len() + 1);
    assert!(!old.contains(new.last().expect("new serial")));
    let (crl_after, der): (i64, Vec<u8>) = db(&copy)
        .query_row(
            "SELECT number, der FROM crls ORDER BY number DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("crl");
    assert!(crl_after > crl_before, "{crl_after} > {crl_before}");
    let crl = root.path().join("crl.der");
    std::fs::write(&crl, der).expect("write");
    let out = run(
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            crl.to_str().expect("utf-8"),
            "-noout",
            "-text",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).to_ascii_uppercase();
    assert!(
        shown.contains(&revoked.to_ascii_uppercase()),
        "{revoked} in {shown}"
    );
}

/// A small installation and its backup.
fn backed_up(root: &Path) -> (PathBuf, PathBuf) {
    let live = root.join("live");
    set_up(&live);
    expect(&live, &["certs", "issue", "taro0001"], 0);
    let file = root.join("b.age");
    expect(&live, &["backup", "-o", file.to_str().expect("utf-8")], 0);
    (live, file)
}

#[test]
fn a_damaged_cut_or_wrongly_unlocked_backup_is_refused_and_nothing_is_written() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_, file) = backed_up(root.path());
    let bytes = std::fs::read(&file).expect("read");
    let target = root.path().join("target");
    let restore = |path: &Path, passphrase: &str| {
        certdesk_with(
            &target,
            &["restore", path.to_str().expect("utf-8")],
            passphrase,
        )
    };
    let nothing_written = || {
        assert!(!target.exists(), "the target was not created");
        assert!(
            entries(root.path()).iter().all(|n| !n.starts_with('.')),
            "no staging left: {:?}",
            entries(root.path())
        );
    };

    // One flipped bit: in the header, in the middle, in the last byte.
    for at in [40, bytes.len() / 2, bytes.len() - 1] {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x01;
        let path = root.path().join("flipped.age");
        std::fs::write(&path, &flipped).expect("write");
        let out = restore(&path, PASSPHRASE);
        assert_eq!(out.status.code(), Some(1), "byte {at}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("E-BACKUP-005") || stderr.contains("E-BACKUP-004"),
            "byte {at}: {stderr}"
        );
        if at != 40 {
            assert!(stderr.contains("E-BACKUP-005"), "byte {at}: {stderr}");
        }
        nothing_written();
    }
    // Cut short: mid-chunk, and at a 64 KiB chunk boundary past the header.
    for keep in [bytes.len() - 100, bytes.len() / 2] {
        let path = root.path().join("cut.age");
        std::fs::write(&path, &bytes[..keep]).expect("write");
        refused(&restore(&path, PASSPHRASE), "E-BACKUP-005");
        nothing_written();
    }
    refused(&restore(&file, "not the right passphrase"), "E-BACKUP-004");
    nothing_written();
    let path = root.path().join("plain.age");
    std::fs::write(&path, b"certdesk.sqlite3 is not a backup\n").expect("write");
    refused(&restore(&path, PASSPHRASE), "E-BACKUP-006");
    nothing_written();

    // The good file still restores.
    let out = restore(&file, PASSPHRASE);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_restore_refuses_a_non_empty_folder_unless_replace_moves_it_aside() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_, file) = backed_up(root.path());
    let target = root.path().join("target");
    std::fs::create_dir(&target).expect("mkdir");
    std::fs::write(target.join("notes.txt"), b"mine").expect("write");
    let out = certdesk(&target, &["restore", file.to_str().expect("utf-8")]);
    refused(&out, "E-BACKUP-008");
    assert_eq!(entries(&target), vec!["notes.txt"]);
    assert_eq!(
        std::fs::read(target.join("notes.txt")).expect("read"),
        b"mine"
    );

    let out = certdesk(
        &target,
        &["restore", file.to_str().expect("utf-8"), "--replace"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(target.join("certdesk.sqlite3").is_file());
    let aside: Vec<String> = entries(root.path())
        .into_iter()
        .filter(|n| n.starts_with("target.before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", entries(root.path()));
    assert_eq!(
        std::fs::read(root.path().join(&aside[0]).join("notes.txt")).expect("read"),
        b"mine"
    );
}

#[test]
fn a_backup_of_a_newer_schema_is_refused_and_an_empty_passphrase_too() {
    let root = tempfile::tempdir().expect("tempdir");
    let live = root.path().join("live");
    set_up(&live);
    db(&live)
        .execute(
            "INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES (9999, '9999_future.sql', 'x', '2030-01-01T00:00:00.000000Z')",
            [],
        )
        .expect("future migration");
    let file = root.path().join("future.age");
    let out = certdesk_with(
        &live,
        &["backup", "-o", file.to_str().expect("utf-8")],
        "short",
    );
    refused(&out, "E-BACKUP-001");
    assert!(!file.exists());
    expect(&live, &["backup", "-o", file.to_str().expect("utf-8")], 0);
    let target = root.path().join("target");
    let out = certdesk(&target, &["restore", file.to_str().expect("utf-8")]);
    refused(&out, "E-BACKUP-007");
    assert!(String::from_utf8_lossy(&out.stderr).contains("9999"));
    assert!(!target.exists());
}

#[test]
fn kill_9_during_a_backup_leaves_the_previous_backup_valid_and_nothing_under_its_name() {
    let root = tempfile::tempdir().expect("tempdir");
    let (live, file) = backed_up(root.path());
    let previous = std::fs::read(&file).expect("read");
    // A large database, made by SQL: 400 MiB of random pages.
    db(&live)
        .execute_batch(
            "CREATE TABLE filler (b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
             INSERT INTO filler SELECT randomblob(1048576) FROM n;",
        )
        .expect("filler");
    let mut child = Command::new(bin())
        .args(["backup", "-o", file.to_str().expect("utf-8")])
        .env("CERTDESK_DATA_DIR", &live)
        .env("CERTDESK_BACKUP_PASSPHRASE", PASSPHRASE)
        .env_remove("CERTDESK_MASTER_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("backup starts");
    let temporary = root.path().join(format!(".b.age.tmp-{}", child.id()));
    let started = Instant::now();
    // Part-way: the temporary file has grown past 32 MiB (of about 400).
    loop {
        let size = std::fs::metadata(&temporary).map(|m| m.len()).unwrap_or(0);
        if size > 32 << 20 {
            break;
        }
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the backup finished before it could be killed"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    assert_eq!(std::fs::read(&file).expect("read"), previous, "untouched");
    let names: Vec<String> = entries(root.path())
        .into_iter()
        .filter(|n| n.contains("b.age"))
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n == "b.age" || n.starts_with(".b.age.tmp-")),
        "{names:?}"
    );
    // The previous backup is still valid.
    let target = root.path().join("target");
    expect(&target, &["restore", file.to_str().expect("utf-8")], 0);
    let users: i64 = db(&target)
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .expect("users");
    assert_eq!(users, 4);
}

#[test]
fn certs_commands_follow_the_pages_rules_with_exit_codes_and_export_p12_files() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("d");
    set_up(&dir);
    // Partial: one issued, one unknown login ID (the page's code, per ID).
    let out = certdesk(&dir, &["certs", "issue", "taro0001", "nobody99"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("taro0001\tok\tissue"), "{stdout}");
    assert!(stdout.contains("nobody99\tE-USER-001"), "{stdout}");
    // Refused: already has a valid certificate; not in the renewal window.
    let out = certdesk(&dir, &["certs", "issue", "taro0001"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("taro0001\tE-CERT-"));
    let out = certdesk(&dir, &["certs", "renew", "taro0001"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = certdesk(
        &dir,
        &["certs", "revoke", "jiro0003", "--reason", "key_compromise"],
    );
    assert_eq!(out.status.code(), Some(1), "no certificate: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("jiro0003\tE-CERT-007"),
        "no certificate: {}",
        text(&out)
    );
    // Everyone eligible: the users without a valid certificate.
    let stdout = expect(&dir, &["certs", "issue", "--all-eligible"], 0);
    for id in ["hana0002", "jiro0003"] {
        assert!(stdout.contains(&format!("{id}\tok\tissue")), "{stdout}");
    }
    assert!(!stdout.contains("taro0001"), "{stdout}");
    // Usage errors are 2 (clap).
    assert_eq!(
        certdesk(&dir, &["certs", "revoke", "jiro0003", "--reason", "bored"])
            .status
            .code(),
        Some(2)
    );
    expect(
        &dir,
        &["certs", "revoke", "jiro0003", "--reason", "key_compromise"],
        0,
    );

    // Self-service enrolments: one slip line per user; refused for a user holding a valid
    // certificate unless it is a reissue (all or nothing).
    let slip = expect(&dir, &["certs", "enrol", "jiro0003"], 0);
    let fields: Vec<&str> = slip.trim_end().split('\t').collect();
    assert_eq!(fields.len(), 5, "{slip}");
    assert_eq!(fields[..2], ["jiro0003", "G0001"], "{slip}");
    assert_eq!(fields[2].len(), 14, "number NNNN-NNNN-NNNN: {slip}");
    assert_eq!(fields[3].len(), 14, "code XXXX-XXXX-XXXX: {slip}");
    let out = certdesk(&dir, &["certs", "enrol", "taro0001", "hana0002"]);
    refused(&out, "E-ENROLL-013");
    let slips = expect(
        &dir,
        &["certs", "enrol", "--reissue", "taro0001", "hana0002"],
        0,
    );
    assert_eq!(slips.lines().count(), 2, "{slips}");
    let opened: i64 = db(&dir)
        .query_row("SELECT count(*) FROM enrolments", [], |r| r.get(0))
        .expect("count");
    assert_eq!(opened, 3, "the refused command opened nothing");

    // Lists.
    let json: serde_json::Value = serde_json::from_str(&expect(
        &dir,
        &["certs", "list", "--format", "json", "--state", "valid"],
        0,
    ))
    .expect("json");
    let valid: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["login_id"].as_str().expect("id"))
        .collect();
    assert!(valid.contains(&"taro0001") && valid.contains(&"hana0002"));
    assert!(!valid.contains(&"jiro0003"));
    let csv = expect(
        &dir,
        &["certs", "list", "--format", "csv", "--state", "revoked"],
        0,
    );
    assert!(csv.starts_with("login_id,name,state,"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains("jiro0003"));
    let soon = expect(&dir, &["certs", "list", "--expiring-within", "7"], 0);
    assert_eq!(soon.lines().count(), 1, "only the header: {soon}");

    // Export with a password file (modern), and with a generated password (compatible).
    let pw = root.path().join("pw.txt");
    std::fs::write(&pw, "Export-Pass-2026\n").expect("write");
    let modern = root.path().join("taro.p12");
    expect(
        &dir,
        &[
            "certs",
            "export",
            "taro0001",
            "--output",
            modern.to_str().expect("utf-8"),
            "--password-file",
            pw.to_str().expect("utf-8"),
        ],
        0,
    );
    let compatible = root.path().join("hana.p12");
    let stdout = expect(
        &dir,
        &[
            "certs",
            "export",
            "hana0002",
            "-o",
            compatible.to_str().expect("utf-8"),
            "--profile",
            "compatible",
        ],
        0,
    );
    let generated = stdout
        .lines()
        .find_map(|l| l.split("(shown once): ").nth(1))
        .expect("password printed")
        .trim()
        .to_string();
    for (file, password) in [
        (&modern, "Export-Pass-2026"),
        (&compatible, generated.as_str()),
    ] {
        let path = file.to_str().expect("utf-8");
        let out = run(
            "openssl",
            &[
                "pkcs12",
                "-in",
                path,
                "-passin",
                &format!("pass:{password}"),
                "-info",
                "-nodes",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        let pem = String::from_utf8_lossy(&out.stdout);
        assert!(pem.contains("PRIVATE KEY") && pem.contains("CERTIFICATE"));
        let nss = tempfile::tempdir().expect("nss");
        let nssdb = format!("sql:{}", nss.path().display());
        let out = run("certutil", &["-N", "-d", &nssdb, "--empty-password"]);
        assert!(out.status.success(), "{}", text(&out));
        let out = run(
            "pk12util",
            &["-i", path, "-d", &nssdb, "-W", password, "-K", ""],
        );
        assert!(out.status.success(), "{}", text(&out));
        let out = run("certutil", &["-K", "-d", &nssdb]);
        assert!(out.status.success(), "{}", text(&out));
    }
    // A user without a valid certificate: the page's code.
    let out = certdesk(
        &dir,
        &[
            "certs",
            "export",
            "jiro0003",
            "-o",
            root.path().join("j.p12").to_str().expect("utf-8"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E-DIST-"));

    // The audit log says the shell did it, with the pages' actions.
    let rows = audit_rows(&dir);
    let by_cli = |action: &str| {
        rows.iter()
            .filter(|r| r.1 == "cli" && r.2 == action)
            .count()
    };
    assert!(by_cli("certificate_issue") >= 3);
    assert_eq!(by_cli("certificate_revoke"), 1);
    assert!(by_cli("delivery_single") >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_scheduled_backups_keeps_the_newest_and_the_dashboard_shows_the_last() {
    let root = tempfile::tempdir().expect("tempdir");
    let live = root.path().join("live");
    set_up(&live);
    let backups = root.path().join("backups");
    std::fs::create_dir(&backups).expect("mkdir");
    // Three older scheduled backups (names sort by time), and a file that is not one.
    for old in ["20200101T000000Z", "20200102T000000Z", "20200103T000000Z"] {
        std::fs::write(backups.join(format!("certdesk-{old}.age")), b"old").expect("write");
    }
    std::fs::write(backups.join("notes.txt"), b"mine").expect("write");

    // Without a passphrase in the environment the server refuses to start with a schedule.
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--backup-dir"])
        .arg(&backups)
        .env("CERTDESK_DATA_DIR", &live)
        .env_remove("CERTDESK_BACKUP_PASSPHRASE")
        .env_remove("CERTDESK_MASTER_KEY")
        .output()
        .expect("serve");
    refused(&out, "E-BACKUP-003");

    let server = Server::start_with(
        &live,
        &[
            "--backup-dir",
            backups.to_str().expect("utf-8"),
            "--backup-every",
            "1h",
            "--backup-keep",
            "2",
        ],
    );
    // The first backup is due at once (there was none).
    let started = Instant::now();
    let fresh = loop {
        let fresh: Vec<String> = entries(&backups)
            .into_iter()
            .filter(|n| n.starts_with("certdesk-2") && !n.starts_with("certdesk-2020"))
            .collect();
        if !fresh.is_empty() {
            break fresh;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no backup written"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Give the pruning a moment after the rename.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        entries(&backups),
        vec![
            "certdesk-20200103T000000Z.age".to_string(),
            fresh[0].clone(),
            "notes.txt".to_string()
        ]
    );
    let admin = server.client();
    assert_eq!(server.sign_in(&admin).await, 200);
    let dashboard: serde_json::Value = admin
        .post(format!("{}/api/dashboard", server.base))
        .header("origin", &server.base)
        .send()
        .await
        .expect("dashboard")
        .json()
        .await
        .expect("json");
    let status = &dashboard["backup"];
    assert_eq!(status["scheduled"], true, "{status}");
    assert_eq!(status["warn"], false, "{status}");
    assert!(status["last_success_bytes"].as_u64().expect("bytes") > 1000);
    drop(server);
    // The scheduled file restores, and the audit log names the system as the actor.
    let target = root.path().join("target");
    expect(
        &target,
        &["restore", backups.join(&fresh[0]).to_str().expect("utf-8")],
        0,
    );
    assert!(audit_rows(&live)
        .iter()
        .any(|r| r.1 == "system" && r.2 == "backup" && r.4 == "success"));
}
