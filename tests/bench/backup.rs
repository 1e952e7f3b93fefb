//! Benchmark: backup and restore of an installation with 100 users and 100,000 certificates of
//! history (each user 999 ended certificates and one valid, written with SQL; each row carries
//! 1,200 random bytes as its DER, the size of a real RSA-2048 client certificate).
//!
//! It prints the database size, the time and size of `backup::create_backup` (the code
//! `certdesk backup` runs), the time of `backup::restore_backup` into a fresh folder, and the
//! console's response time (`POST /api/dashboard`, signed in, one request after another)
//! quiet and while the backup runs. Targets: backup and restore each under 3 s, the file under
//! 1.5 times the database, the console's p99 during a backup under 20 ms. A missed target is
//! printed as "BELOW target"; it does not fail the benchmark.
//!
//! ```text
//! cargo bench -p certdesk-tests --bench backup
//! ```

use certdesk_backend::backup::{create_backup, restore_backup};
use certdesk_backend::{ts, Actor, Clock};
use certdesk_domain::Role;
use certdesk_tests::{spawn_app, TestApp};
use rusqlite::params;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USERS: usize = 100;
const HISTORY_PER_USER: usize = 999;
const PASSPHRASE: &str = "a long backup passphrase";

#[tokio::main]
async fn main() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200, "setup");
    let started = Instant::now();
    let certificates = fill(&app).await;
    let data_dir = app.backend.settings().data_dir.clone();
    let db_path = app.backend.settings().database_path();
    {
        let conn = rusqlite::Connection::open(&db_path).expect("db");
        let _: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .expect("checkpoint");
    }
    let db_bytes = std::fs::metadata(&db_path).expect("db").len();
    println!(
        "{USERS} users, {certificates} certificates written in {:.1} s; database {:.1} MiB",
        started.elapsed().as_secs_f64(),
        mib(db_bytes)
    );

    let (quiet_median, quiet_p99) = time_dashboard(&app, None).await;
    println!("console quiet:            POST /api/dashboard  median {quiet_median:>7.2} ms  p99 {quiet_p99:>7.2} ms");

    // The backup on a blocking thread, the console timed until it ends.
    let out_dir = tempfile::tempdir().expect("tempdir");
    let file = out_dir.path().join("bench.age");
    let done = Arc::new(AtomicBool::new(false));
    let backup = {
        let (data_dir, file, done) = (data_dir.clone(), file.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let started = Instant::now();
            let info = create_backup(
                &data_dir,
                &file,
                PASSPHRASE,
                &Actor::Cli,
                time::OffsetDateTime::now_utc(),
            )
            .expect("backup");
            done.store(true, Ordering::Release);
            (info, started.elapsed())
        })
    };
    let (busy_median, busy_p99) = time_dashboard(&app, Some(&done)).await;
    let (info, backup_time) = backup.join().expect("backup thread");
    let ratio = info.bytes as f64 / db_bytes as f64;
    println!(
        "backup:   {:>6.2} s  (target < 3 s: {})  file {:.1} MiB = {ratio:.2} x the database (target < 1.5: {})",
        backup_time.as_secs_f64(),
        verdict(backup_time.as_secs_f64(), 3.0),
        mib(info.bytes),
        verdict(ratio, 1.5)
    );
    println!(
        "console during the backup: POST /api/dashboard  median {busy_median:>7.2} ms  p99 {busy_p99:>7.2} ms  (target p99 < 20 ms: {})",
        verdict(busy_p99, 20.0)
    );

    let target = out_dir.path().join("restored");
    let started = Instant::now();
    let restored = restore_backup(&file, &target, PASSPHRASE, false, Clock::system())
        .await
        .expect("restore");
    let restore_time = started.elapsed();
    assert_eq!(restored.certificates as usize, certificates);
    println!(
        "restore:  {:>6.2} s  (target < 3 s: {})",
        restore_time.as_secs_f64(),
        verdict(restore_time.as_secs_f64(), 3.0)
    );
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn verdict(value: f64, target: f64) -> &'static str {
    if value < target {
        "meets target"
    } else {
        "BELOW target"
    }
}

/// Median and p99 (ms) of `POST /api/dashboard`: 300 requests, or (with `until`) requests
/// until it is set (at least 20).
async fn time_dashboard(app: &TestApp, until: Option<&AtomicBool>) -> (f64, f64) {
    let mut times = Vec::new();
    loop {
        let started = Instant::now();
        let r = app.post("dashboard", &[]).await;
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await.expect("body");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        let enough = match until {
            None => times.len() >= 300,
            Some(flag) => flag.load(Ordering::Acquire) && times.len() >= 20,
        };
        if enough {
            break;
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

/// 99 users besides the master, and 1,000 certificates each (999 ended, one valid).
async fn fill(app: &TestApp) -> usize {
    for i in 1..USERS {
        let login = format!("bench{i:03}");
        app.backend
            .create_user(
                &login,
                &format!("利用者 {i}"),
                &format!("{login}@example.co.jp"),
                Role::General,
                Actor::Cli,
            )
            .await
            .expect("user");
    }
    let now = app.backend.clock().now();
    let path = app.backend.settings().database_path();
    tokio::task::spawn_blocking(move || {
        let mut conn = rusqlite::Connection::open(path).expect("db");
        conn.busy_timeout(Duration::from_secs(30)).expect("timeout");
        let tx = conn.transaction().expect("tx");
        let users: Vec<i64> = {
            let mut stmt = tx.prepare("SELECT id FROM users ORDER BY id").expect("users");
            let ids = stmt
                .query_map([], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("ids");
            ids
        };
        let mut insert = tx
            .prepare(
                "INSERT INTO certificates (user_id, serial, seq, subject, key_type, friendly_name, not_before, not_after, state,
                     cert_der, sha256, via, issued_at, issued_by)
                 VALUES (?1, ?2, ?3, 'CN=bench', 'rsa2048', 'bench', ?4, ?5, ?6, randomblob(1200), ?7, 'renew', ?4, 'bench')",
            )
            .expect("insert");
        let mut written = 0;
        for &user in &users {
            for k in 0..=HISTORY_PER_USER {
                let valid = k == HISTORY_PER_USER;
                let not_after = if valid {
                    now + time::Duration::days(200)
                } else {
                    now - time::Duration::days(((HISTORY_PER_USER - k) as i64) * 5)
                };
                let not_before = not_after - time::Duration::days(366);
                let serial = format!("{user:08x}{k:024x}");
                insert
                    .execute(params![
                        user,
                        serial,
                        k as i64 + 1,
                        ts(not_before),
                        ts(not_after),
                        if valid { "valid" } else { "superseded" },
                        format!("{:064x}", written),
                    ])
                    .expect("row");
                written += 1;
            }
        }
        drop(insert);
        tx.commit().expect("commit");
        written
    })
    .await
    .expect("writer")
}
