//! Settings → Scheduled backups over HTTP: a master saves them (audited), bad values are
//! refused with their code and field and write nothing, admins can neither read nor save
//! them, the saved settings win over `serve --backup-dir/--backup-every/--backup-keep`, and
//! the running schedule follows a save without a restart.

use certdesk_backend::Actor;
use certdesk_domain::Role;
use certdesk_tests::{client, spawn_app, spawn_app_with, TestApp, PASSWORD};
use std::path::Path;
use time::Duration;

async fn master_app() -> TestApp {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    app
}

async fn save(app: &TestApp, dir: &str, every: &str, keep: &str) -> reqwest::Response {
    app.post(
        "save_backup_schedule",
        &[
            ("backup_dir", dir),
            ("backup_every", every),
            ("backup_keep", keep),
        ],
    )
    .await
}

fn audit_count(app: &TestApp) -> i64 {
    app.database()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'backup_schedule_update'",
            [],
            |r| r.get(0),
        )
        .expect("audit")
}

fn saved_rows(app: &TestApp) -> i64 {
    app.database()
        .query_row("SELECT count(*) FROM backup_settings", [], |r| r.get(0))
        .expect("rows")
}

#[tokio::test]
async fn a_master_saves_the_schedule_and_it_is_audited_and_in_effect() {
    let app = master_app().await;
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("backups");
    let r = save(&app, dir.to_str().expect("utf-8"), " 12h ", "7").await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["dir"], dir.to_str().expect("utf-8"));
    assert_eq!(v["every"], "12h");
    assert_eq!(v["keep"], 7);
    assert_eq!(v["source"], "Saved");

    let loaded: serde_json::Value = app
        .post("backup_schedule", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(loaded, v);
    assert_eq!(
        app.backend.backup_interval().await.expect("interval"),
        Some(Duration::hours(12))
    );
    assert_eq!(audit_count(&app), 1);
    let detail: String = app
        .database()
        .query_row(
            "SELECT detail FROM audit_log WHERE action = 'backup_schedule_update'",
            [],
            |r| r.get(0),
        )
        .expect("detail");
    let detail: serde_json::Value = serde_json::from_str(&detail).expect("json");
    assert_eq!(detail["every"], "12h");
    assert_eq!(detail["keep"], 7);
    // Scheduled and no backup yet: the dashboard warns now.
    assert!(
        app.backend
            .dashboard()
            .await
            .expect("dashboard")
            .backup
            .warn
    );

    // An empty folder turns scheduled backups off.
    assert_eq!(save(&app, "  ", "12h", "7").await.status(), 200);
    assert_eq!(app.backend.backup_interval().await.expect("interval"), None);
    assert!(
        !app.backend
            .dashboard()
            .await
            .expect("dashboard")
            .backup
            .warn
    );
    assert_eq!(audit_count(&app), 2);
}

#[tokio::test]
async fn bad_values_are_refused_with_their_code_and_field_and_nothing_is_written() {
    let app = master_app().await;
    let out = tempfile::tempdir().expect("tempdir");
    let file = out.path().join("a-file");
    std::fs::write(&file, b"x").expect("file");
    let good = out.path().to_str().expect("utf-8").to_string();
    let data_dir = app.backend.settings().data_dir.clone();
    let inside = data_dir.join("backups");
    let sneaky = format!(
        "{}/../{}/backups",
        data_dir.display(),
        data_dir.file_name().expect("name").to_string_lossy()
    );
    let missing_parent = out.path().join("no/such/folder");
    let cases: Vec<(String, &str, &str, &str, &str)> = vec![
        ("backups".into(), "24h", "14", "E-BACKUP-013", "backup_dir"),
        (
            inside.display().to_string(),
            "24h",
            "14",
            "E-BACKUP-014",
            "backup_dir",
        ),
        (
            data_dir.display().to_string(),
            "24h",
            "14",
            "E-BACKUP-014",
            "backup_dir",
        ),
        (sneaky, "24h", "14", "E-BACKUP-014", "backup_dir"),
        (
            file.display().to_string(),
            "24h",
            "14",
            "E-BACKUP-015",
            "backup_dir",
        ),
        (
            missing_parent.display().to_string(),
            "24h",
            "14",
            "E-BACKUP-015",
            "backup_dir",
        ),
        (good.clone(), "0m", "14", "E-BACKUP-016", "backup_every"),
        (good.clone(), "24", "14", "E-BACKUP-016", "backup_every"),
        (good.clone(), "367d", "14", "E-BACKUP-016", "backup_every"),
        (good.clone(), "24h", "0", "E-BACKUP-017", "backup_keep"),
        (good.clone(), "24h", "1001", "E-BACKUP-017", "backup_keep"),
        (good.clone(), "24h", "many", "E-BACKUP-017", "backup_keep"),
    ];
    for (dir, every, keep, code, field) in cases {
        let r = save(&app, &dir, every, keep).await;
        assert_eq!(r.status(), 422, "{dir} {every} {keep}");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["code"], code, "{dir} {every} {keep}: {body}");
        assert_eq!(body["field"], field, "{body}");
        let ja = body["message"]["ja"].as_str().expect("ja");
        let en = body["message"]["en"].as_str().expect("en");
        assert!(ja.contains("保存していません"), "{ja}");
        assert!(en.contains("nothing was saved"), "{en}");
    }
    assert_eq!(saved_rows(&app), 0);
    assert_eq!(audit_count(&app), 0);
    assert!(!Path::new(&inside).exists());
}

#[tokio::test]
async fn admins_can_neither_read_nor_save_the_schedule() {
    let app = master_app().await;
    let id = app
        .backend
        .create_user(
            "admin001",
            "鈴木 一郎",
            "admin@example.co.jp",
            Role::Admin,
            Actor::Cli,
        )
        .await
        .expect("admin");
    app.backend
        .set_console_password(
            id,
            certdesk_backend::PasswordChange {
                current_password: String::new(),
                password: PASSWORD.into(),
                password_confirm: PASSWORD.into(),
            },
            Actor::Cli,
            None,
        )
        .await
        .expect("password");
    let admin = client();
    let r = app
        .post_with(
            &admin,
            "sign_in",
            &[("login_id", "admin001"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().to_str().expect("utf-8");
    for (function, form) in [
        ("backup_schedule", vec![]),
        (
            "save_backup_schedule",
            vec![
                ("backup_dir", dir),
                ("backup_every", "1h"),
                ("backup_keep", "3"),
            ],
        ),
    ] {
        let r = app.post_with(&admin, function, &form).await;
        assert_eq!(r.status(), 403, "{function}");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["code"], "E-AUTH-004", "{function}: {body}");
    }
    // Signed out: nothing either.
    let r = app
        .post_with(
            &client(),
            "save_backup_schedule",
            &[
                ("backup_dir", dir),
                ("backup_every", "1h"),
                ("backup_keep", "3"),
            ],
        )
        .await;
    assert_ne!(r.status(), 200);
    assert_eq!(saved_rows(&app), 0);
    assert_eq!(audit_count(&app), 0);
}

#[tokio::test]
async fn the_command_line_is_in_effect_until_the_page_saves_and_the_schedule_follows_without_a_restart(
) {
    let cli_dir = tempfile::tempdir().expect("tempdir");
    let cli_path = cli_dir.path().to_path_buf();
    let app = spawn_app_with(move |s| {
        s.backup_dir = Some(cli_path);
        s.backup_every = Some(Duration::days(365));
        s.backup_keep = 5;
        s.backup_passphrase_set = true;
    })
    .await;
    assert_eq!(app.set_up().await.status(), 200);
    let v: serde_json::Value = app
        .post("backup_schedule", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["source"], "CommandLine");
    assert_eq!(v["dir"], cli_dir.path().to_str().expect("utf-8"));
    assert_eq!(v["every"], "365d");
    assert_eq!(v["keep"], 5);
    assert_eq!(v["passphrase_set"], true);

    // A backup a moment ago: under the command line's yearly schedule nothing is due.
    certdesk_backend::backup::create_backup(
        &app.backend.settings().data_dir,
        &cli_dir.path().join("manual.age"),
        "correct horse battery staple",
        &Actor::Cli,
        app.backend.clock().now(),
    )
    .expect("backup");
    tokio::spawn(certdesk_backend::backup::schedule::run(
        app.backend.clone(),
        "correct horse battery staple".into(),
    ));
    let page_dir = tempfile::tempdir().expect("tempdir");
    let target = page_dir.path().join("scheduled");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!target.exists(), "nothing due under the yearly schedule");

    // The page saves a schedule that is due now (the last backup is older than 1 minute):
    // the running task wakes and writes into the new folder, no restart.
    app.advance(Duration::minutes(2));
    let r = save(&app, target.to_str().expect("utf-8"), "1m", "2").await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["source"], "Saved");
    let mut written = Vec::new();
    for _ in 0..200 {
        written = std::fs::read_dir(&target)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("certdesk-"))
                    .collect()
            })
            .unwrap_or_default();
        if !written.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(
        written[0].starts_with("certdesk-") && written[0].ends_with(".age"),
        "{written:?}"
    );
    assert_eq!(
        std::fs::read_dir(cli_dir.path()).expect("dir").count(),
        1,
        "nothing more in the command line's folder"
    );
}
