//! Renewal notices against a real SMTP server: aiosmtpd (PyPI, pinned in scripts/test) on a
//! loopback port, with tests/tools/smtp_sink.py saving each message. The daily job runs
//! twice at each moment (and once more from a second backend on the same database, as after
//! a restart); exactly one mail per certificate and threshold must arrive.

use certdesk_backend::Actor;
use certdesk_backend::Operation;
use certdesk_backend::{Backend, Clock, Settings};
use certdesk_domain::notices::{NotificationSettings, SmtpSecurity};
use certdesk_domain::profile::JST;
use certdesk_domain::Role;
use certdesk_tests::{error_code, spawn_app, spawn_app_with, TestApp};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use time::{Duration, OffsetDateTime};

/// aiosmtpd with the sink handler; killed when dropped.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

async fn start_sink() -> SmtpSink {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools");
    let child = Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "smtp_sink.Sink",
        ])
        .arg(dir.path())
        .env("PYTHONPATH", &tools)
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 runs (scripts/test installs aiosmtpd==1.4.6)");
    let sink = SmtpSink { child, port, dir };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return sink;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("aiosmtpd did not listen on {port}: is it installed (python3 -m pip install aiosmtpd==1.4.6)?");
}

/// The messages the sink saved, in arrival order.
fn received(dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("sink dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json"))
        .collect()
}

fn settings_for(port: u16) -> NotificationSettings {
    NotificationSettings {
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        smtp_security: SmtpSecurity::None,
        mail_from: "certdesk@example.co.jp".into(),
        ..NotificationSettings::default()
    }
}

async fn issue(app: &TestApp, login: &str) -> (i64, OffsetDateTime) {
    let id = app
        .backend
        .create_user(
            login,
            &format!("{login} 様"),
            &format!("{login}@example.co.jp"),
            Role::General,
            Actor::Cli,
        )
        .await
        .expect("user");
    let cert = app
        .backend
        .apply_certificate_operation(id, Operation::Issue, Actor::Cli)
        .await
        .expect("issue")
        .expect("certificate");
    (id, certdesk_backend::parse_ts(&cert.not_after).expect("ts"))
}

/// Runs the job twice and sends what it queued.
async fn run_twice(app: &TestApp) -> (u32, u32) {
    let first = app.backend.run_notice_job().await.expect("job");
    let second = app.backend.run_notice_job().await.expect("job again");
    assert_eq!(
        second.recorded, 0,
        "the second run at the same moment records nothing"
    );
    let round = app.backend.send_due_mail().await.expect("send");
    assert_eq!(round.failed, 0);
    (first.recorded, round.sent)
}

fn jst_date(at: OffsetDateTime) -> String {
    at.to_offset(JST).date().to_string()
}

#[tokio::test]
async fn the_daily_job_mails_once_per_certificate_and_threshold_even_when_run_twice_and_after_a_restart(
) {
    let sink = start_sink().await;
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    app.backend
        .update_notification_settings(settings_for(sink.port), None, false, Actor::Cli)
        .await
        .expect("settings");
    let (_, a_expires) = issue(&app, "taro0001").await;
    app.advance(Duration::days(30));
    let (_, b_expires) = issue(&app, "hanako01").await;

    // Nothing is due yet.
    assert_eq!(run_twice(&app).await, (0, 0));

    // taro0001 enters the 40-day window; hanako01 has 70 days left.
    app.set_now(a_expires - Duration::days(40) + Duration::hours(1));
    assert_eq!(run_twice(&app).await, (1, 1));

    // 34 days later: taro0001 is 7 days from expiry, hanako01 enters the window.
    app.advance(Duration::days(34));
    assert_eq!(run_twice(&app).await, (2, 2));

    // A restart: another backend on the same database finds nothing new.
    let now = app.backend.clock().now();
    let restarted = Backend::open(
        Settings::new(app.backend.settings().data_dir.clone()),
        Clock::fixed(now),
    )
    .expect("reopen");
    assert_eq!(restarted.run_notice_job().await.expect("job").recorded, 0);
    assert_eq!(restarted.send_due_mail().await.expect("send").sent, 0);

    let mails = received(sink.dir.path());
    let summary: Vec<(String, String)> = mails
        .iter()
        .map(|m| {
            (
                m["to"].as_str().unwrap_or_default().to_string(),
                m["subject"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(mails.len(), 3, "{summary:#?}");
    let expect = [
        ("taro0001", 40, a_expires),
        ("taro0001", 7, a_expires),
        ("hanako01", 40, b_expires),
    ];
    for (m, (login, days, expires)) in mails.iter().zip(expect) {
        let address = format!("{login}@example.co.jp");
        assert_eq!(m["to"], address.as_str(), "{m}");
        assert_eq!(m["cc"], "taro@example.co.jp", "the master in copy: {m}");
        let rcpt: Vec<&str> = m["rcpt_tos"]
            .as_array()
            .expect("rcpt")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(rcpt, [address.as_str(), "taro@example.co.jp"]);
        assert_eq!(m["mail_from"], "certdesk@example.co.jp");
        let subject = m["subject"].as_str().expect("subject");
        assert!(
            subject.contains(&format!("{days}日以内です: {login}")),
            "{subject}"
        );
        assert!(
            subject.contains(&format!("within {days} days: {login}")),
            "{subject}"
        );
        let body = m["body"].as_str().expect("body");
        let date = jst_date(expires);
        assert!(body.contains(&format!("有効期限: {date}")), "{body}");
        assert!(body.contains(&format!("Expires: {date}")), "{body}");
        assert!(
            body.find("様").expect("ja") < body.find("Dear").expect("en"),
            "Japanese first"
        );
    }

    // The dashboard lists the three notices as sent, and no failure.
    let d = app.backend.dashboard().await.expect("dashboard");
    assert_eq!(d.notices.len(), 3);
    assert!(
        d.notices.iter().all(|n| n.mail_status == "sent"),
        "{:?}",
        d.notices
    );
    assert!(d.mail_failures.is_empty());
}

#[tokio::test]
async fn a_failed_send_is_kept_for_a_retry_with_its_code_and_does_not_block_the_job() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let closed = free_port();
    app.backend
        .update_notification_settings(
            settings_for(closed),
            Some("s3cret-smtp".into()),
            false,
            Actor::Cli,
        )
        .await
        .expect("settings");
    let (_, expires) = issue(&app, "taro0001").await;
    app.set_now(expires - Duration::days(10));
    let run = app
        .backend
        .run_notice_job()
        .await
        .expect("the job itself succeeds");
    assert_eq!((run.recorded, run.queued), (1, 1));
    let round = app.backend.send_due_mail().await.expect("send");
    assert_eq!((round.sent, round.failed), (0, 1));
    let d = app.backend.dashboard().await.expect("dashboard");
    assert_eq!(d.mail_failures.len(), 1);
    let f = &d.mail_failures[0];
    assert_eq!((f.error_code.as_str(), f.attempts), ("E-MAIL-001", 1));
    assert!(f.next_attempt_at.is_some(), "it will be tried again");
    assert!(f.message.en.contains(&format!("127.0.0.1:{closed}")));
    // Not due again until the backoff has passed.
    assert_eq!(app.backend.send_due_mail().await.expect("send").failed, 0);
    app.advance(Duration::minutes(2));
    assert_eq!(app.backend.send_due_mail().await.expect("send").failed, 1);

    // The password is sealed: not in the settings, the audit log or the database file.
    let s = app.backend.notification_settings().await.expect("settings");
    assert!(s.smtp_password_set);
    let audit = app.backend.audit_entries(50).await.expect("audit");
    assert!(audit.iter().all(|e| !e.detail.contains("s3cret-smtp")));
    let path = app.backend.settings().database_path();
    let wal = path.with_extension("sqlite3-wal");
    for file in [path, wal] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(11).any(|w| w == b"s3cret-smtp"),
            "{}",
            file.display()
        );
    }
}

#[tokio::test]
async fn without_an_smtp_server_mail_waits_with_e_mail_006_and_uses_up_no_attempt() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let (_, expires) = issue(&app, "taro0001").await;
    app.set_now(expires - Duration::days(3));
    assert_eq!(app.backend.run_notice_job().await.expect("job").queued, 1);
    assert_eq!(app.backend.send_due_mail().await.expect("send").failed, 1);
    let d = app.backend.dashboard().await.expect("dashboard");
    let f = &d.mail_failures[0];
    assert_eq!((f.error_code.as_str(), f.attempts), ("E-MAIL-006", 0));
    assert!(f.next_attempt_at.is_some());
    assert_eq!(
        d.notices[0].threshold_days, 7,
        "first seen inside both thresholds: the nearer one"
    );
    // The moved clock ended the session: sign in again (the sign-in page drops the old cookie).
    app.get("/login").await;
    let r = app
        .post(
            "sign_in",
            &[
                ("login_id", "master01"),
                ("password", certdesk_tests::PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app.post("send_test_mail", &[]).await;
    assert_eq!(error_code(r).await, "E-MAIL-006");
}

#[tokio::test]
async fn the_test_mail_reports_success_or_the_coded_error() {
    let sink = start_sink().await;
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let form = |port: u16| {
        vec![
            ("email_enabled", "on".to_string()),
            ("first_days", "40".to_string()),
            ("second_days", "7".to_string()),
            ("notify_user", "on".to_string()),
            ("extra_recipients", String::new()),
            ("daily_hour", "8".to_string()),
            ("smtp_host", "127.0.0.1".to_string()),
            ("smtp_port", port.to_string()),
            ("smtp_security", "none".to_string()),
            ("smtp_username", String::new()),
            ("smtp_password", String::new()),
            ("mail_from", "certdesk@example.co.jp".to_string()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post("save_notification_settings", &pairs).await
        }
    };
    assert_eq!(post(form(sink.port)).await.status(), 200);
    let r = app.post("send_test_mail", &[]).await;
    assert_eq!(r.status(), 200);
    let mails = received(sink.dir.path());
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0]["to"], "taro@example.co.jp",
        "to the signed-in user"
    );
    assert!(mails[0]["subject"]
        .as_str()
        .expect("subject")
        .contains("Test mail"));

    assert_eq!(post(form(free_port())).await.status(), 200);
    // Test mail goes only to the signed-in user (another address: E-NOTICE-008, abuse_misc).
    let r = app.post("send_test_mail", &[]).await;
    assert_eq!(r.status(), 502);
    assert_eq!(error_code(r).await, "E-MAIL-001");

    // A wrong threshold is reported on its field.
    let mut bad = form(sink.port);
    bad[2].1 = "50".into();
    let r = post(bad).await;
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        (body["code"].as_str(), body["field"].as_str()),
        (Some("E-NOTICE-001"), Some("first_days"))
    );
}

#[tokio::test]
async fn pickup_notices_are_mailed_to_each_user_without_the_password() {
    let sink = start_sink().await;
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    app.backend
        .update_notification_settings(settings_for(sink.port), None, false, Actor::Cli)
        .await
        .expect("settings");
    let (id, _) = issue(&app, "taro0001").await;
    let created = app
        .backend
        .prepare_pickups(
            vec![id],
            certdesk_domain::distribution::P12Profile::Modern,
            Actor::Cli,
        )
        .await
        .expect("pickup");
    let slip = &created.slips[0];
    let number = slip.pickup_number.clone().expect("number");
    let r = app
        .post("mail_pickups", &[("token", created.token.as_str())])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("body"), "1");
    assert_eq!(app.backend.send_due_mail().await.expect("send").sent, 1);
    let mails = received(sink.dir.path());
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m["to"], "taro0001@example.co.jp");
    let body = m["body"].as_str().expect("body");
    assert!(
        body.contains(&number) && body.contains("G0001") && body.contains("/pickup"),
        "{body}"
    );
    assert!(
        !body.contains(&slip.password),
        "the pickup password never goes by mail"
    );
    let audit = app.backend.audit_entries(50).await.expect("audit");
    assert!(audit
        .iter()
        .any(|a| a.action == "pickup_mail" && a.target.as_deref() == Some("taro0001")));
}

/// The backup warning of the dashboard goes to the masters in the daily notice mail: with a
/// daily schedule and no backup yet; not again the same day (a restart re-runs the job); not
/// after a fresh backup; again once the last backup is older than twice the interval.
#[tokio::test]
async fn the_daily_mail_warns_the_masters_when_backups_are_overdue_once_a_day() {
    use certdesk_domain::backup::WARNING_MAIL_SUBJECT;
    let sink = start_sink().await;
    let backups = tempfile::tempdir().expect("tempdir");
    let backup_dir = backups.path().to_path_buf();
    let app = spawn_app_with(move |s| {
        s.backup_dir = Some(backup_dir);
        s.backup_every = Some(Duration::days(1));
    })
    .await;
    assert_eq!(app.set_up().await.status(), 200);
    app.backend
        .update_notification_settings(settings_for(sink.port), None, false, Actor::Cli)
        .await
        .expect("settings");
    // An admin, who gets no backup warning (masters only).
    app.backend
        .create_user(
            "admin001",
            "管理 花子",
            "hanako@example.co.jp",
            Role::Admin,
            Actor::Cli,
        )
        .await
        .expect("admin");

    // No backup yet with a daily schedule: one warning, however often the job runs today.
    app.backend.run_notice_job().await.expect("job");
    app.advance(Duration::hours(3));
    app.backend.run_notice_job().await.expect("job again");
    assert_eq!(app.backend.send_due_mail().await.expect("send").sent, 1);
    let mails = received(sink.dir.path());
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let m = &mails[0];
    assert_eq!(m["to"], "taro@example.co.jp", "{m}");
    assert_eq!(m["subject"], WARNING_MAIL_SUBJECT, "{m}");
    let body = m["body"].as_str().expect("body");
    assert!(body.contains("バックアップはまだありません"), "{body}");
    assert!(body.contains("No backup yet"), "{body}");
    assert!(body.contains("overdue"), "{body}");

    // A backup now: the next days' jobs stay quiet while it is fresh.
    let data_dir = app.backend.settings().data_dir.clone();
    let out = tempfile::tempdir().expect("tempdir");
    certdesk_backend::backup::create_backup(
        &data_dir,
        &out.path().join("b.age"),
        "correct horse battery staple",
        &Actor::Cli,
        app.backend.clock().now(),
    )
    .expect("backup");
    app.advance(Duration::days(1));
    app.backend.run_notice_job().await.expect("job");
    assert_eq!(app.backend.send_due_mail().await.expect("send").sent, 0);
    assert!(
        !app.backend
            .dashboard()
            .await
            .expect("dashboard")
            .backup
            .warn
    );

    // Two days and a bit after that backup: overdue, warned again.
    app.advance(Duration::days(1) + Duration::hours(1));
    app.backend.run_notice_job().await.expect("job");
    assert!(
        app.backend
            .dashboard()
            .await
            .expect("dashboard")
            .backup
            .warn
    );
    assert_eq!(app.backend.send_due_mail().await.expect("send").sent, 1);
    let mails = received(sink.dir.path());
    assert_eq!(mails.len(), 2);
    let body = mails[1]["body"].as_str().expect("body");
    assert!(body.contains("最終バックアップ:"), "{body}");
    assert!(body.contains("Last backup:"), "{body}");
    assert!(body.contains("older than twice the interval"), "{body}");
}

/// Without a schedule and without a failed backup there is nothing to warn about.
#[tokio::test]
async fn no_backup_warning_without_a_schedule_or_a_failure() {
    let sink = start_sink().await;
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    app.backend
        .update_notification_settings(settings_for(sink.port), None, false, Actor::Cli)
        .await
        .expect("settings");
    app.backend.run_notice_job().await.expect("job");
    assert_eq!(app.backend.send_due_mail().await.expect("send").sent, 0);
}
