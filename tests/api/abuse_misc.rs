//! Issue 15 items 5, 6, 10 and 11, attacked from outside over real HTTP: a master changed by
//! an admin's import, stored secrets sent to a new destination, external CA URLs that would
//! leak keys or reach metadata services, a CA answer without end, request bodies over the
//! limit, test mail to strangers, and the modes of the data files.

use certdesk_backend::Actor;
use certdesk_backend::{Backend, Clock, Settings};
use certdesk_domain::Role;
use certdesk_tests::cfssl::{fault_proxy, Fault};
use certdesk_tests::{client, error_code, spawn_app, TestApp, PASSWORD};

async fn master_app() -> TestApp {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    app
}

/// A second browser signed in as a new admin `admin001`.
async fn admin_client(app: &TestApp) -> reqwest::Client {
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
    admin
}

/// Posts a users file as the Users page does, with `client`'s session.
async fn import_as(
    app: &TestApp,
    client: &reqwest::Client,
    file: &str,
    commit: Option<&serde_json::Value>,
) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(file.as_bytes().to_vec())
        .file_name("users.csv")
        .mime_str("text/csv")
        .expect("mime");
    let mut form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("mode", "add_and_update");
    match commit {
        Some(preview) => {
            form = form.text("commit", "1").text(
                "sha256",
                preview["sha256"].as_str().expect("sha").to_string(),
            );
            for key in ["adds", "updates", "unchanged"] {
                form = form.text(key, preview["plan"][key].to_string());
            }
        }
        None => form = form.text("commit", "0"),
    }
    client
        .post(format!("{}/api/import_users", app.base))
        .header("origin", &app.base)
        .multipart(form)
        .send()
        .await
        .expect("request")
}

fn master_row(app: &TestApp) -> (String, String) {
    app.database()
        .query_row(
            "SELECT name, email FROM users WHERE login_id = 'master01'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("master")
}

fn audit_count(app: &TestApp, action: &str) -> i64 {
    app.database()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = ?1",
            [action],
            |r| r.get(0),
        )
        .expect("audit")
}

#[tokio::test]
async fn an_admin_cannot_change_a_master_by_import_and_nothing_is_written() {
    let app = master_app().await;
    let admin = admin_client(&app).await;
    let before = master_row(&app);
    let file = "login_id,name,email,role\r\n\
                new00001,新人 一号,new1@example.co.jp,general\r\n\
                master01,乗っ取り 太郎,attacker@example.net,master\r\n";
    let r = import_as(&app, &admin, file, None).await;
    assert_eq!(r.status(), 200);
    let preview: serde_json::Value = r.json().await.expect("json");
    let problems = preview["plan"]["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        (
            problems[0]["row"].as_u64(),
            problems[0]["column"].as_u64(),
            problems[0]["code"].as_str()
        ),
        (Some(3), Some(2), Some("E-AUTH-004")),
        "the same code update_user answers an admin editing a master"
    );
    let r = import_as(&app, &admin, file, Some(&preview)).await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_code(r).await, "E-CSV-020");
    assert_eq!(master_row(&app), before, "the master is unchanged");
    assert_eq!(audit_count(&app, "user_import"), 0);
    let added: i64 = app
        .database()
        .query_row(
            "SELECT count(*) FROM users WHERE login_id = 'new00001'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(added, 0, "not even the good row");

    // Only the e-mail changed: the problem is on the e-mail column.
    let file = "login_id,name,email,role\r\nmaster01,山田 太郎,attacker@example.net,master\r\n";
    let preview: serde_json::Value = import_as(&app, &admin, file, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(preview["plan"]["problems"][0]["column"].as_u64(), Some(3));

    // A master may import the same change.
    let r = import_as(&app, &app.client, file, None).await;
    let preview: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        preview["plan"]["problems"].as_array().map(Vec::len),
        Some(0)
    );
    let r = import_as(&app, &app.client, file, Some(&preview)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(master_row(&app).1, "attacker@example.net");
}

fn ca_form(
    url: &str,
    auth_key: &str,
    proxy_user: &str,
    proxy_password: &str,
) -> Vec<(String, String)> {
    [
        ("kind", "cfssl"),
        ("url", url),
        ("profile", "client-auth"),
        ("auth_key", auth_key),
        ("connect_timeout_s", "1"),
        ("total_timeout_s", "10"),
        ("proxy_url", "http://127.0.0.1:3128"),
        ("proxy_user", proxy_user),
        ("proxy_password", proxy_password),
        ("ca_bundle_pem", ""),
        ("key_source", "csr"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn post_form(app: &TestApp, function: &str, form: &[(String, String)]) -> reqwest::Response {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    app.post(function, &pairs).await
}

const KEY: &str = "00112233445566778899aabbccddeeff";

#[tokio::test]
async fn a_changed_ca_url_or_proxy_drops_the_stored_secret_unless_typed_again() {
    let app = master_app().await;
    let url = "http://127.0.0.1:8888";
    let r = post_form(
        &app,
        "save_ca_backend",
        &ca_form(url, KEY, "proxyuser", "proxy-secret"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let set = |app: &TestApp| {
        let backend = app.backend.clone();
        async move {
            let v = backend.ca_backend().await.expect("view");
            (v.auth_key_set, v.proxy_password_set)
        }
    };
    assert_eq!(set(&app).await, (true, true));
    // Same destinations, secrets left empty: kept.
    let r = post_form(&app, "save_ca_backend", &ca_form(url, "", "proxyuser", "")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(set(&app).await, (true, true));
    assert_eq!(audit_count(&app, "secret_dropped"), 0);

    // A stolen session points the CA elsewhere: the HMAC key is not sent there.
    let elsewhere = "https://attacker.example.net:8888";
    let r = post_form(
        &app,
        "save_ca_backend",
        &ca_form(elsewhere, "", "proxyuser", ""),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(set(&app).await, (false, true));
    assert_eq!(audit_count(&app, "secret_dropped"), 1);

    // Typed again with the new URL: stored.
    let r = post_form(
        &app,
        "save_ca_backend",
        &ca_form(elsewhere, KEY, "proxyuser", ""),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(set(&app).await, (true, true));

    // Another proxy user: the proxy password goes.
    let r = post_form(
        &app,
        "save_ca_backend",
        &ca_form(elsewhere, "", "someone", ""),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(set(&app).await, (true, false));
    assert_eq!(audit_count(&app, "secret_dropped"), 2);
    let detail: String = app
        .database()
        .query_row(
            "SELECT detail FROM audit_log WHERE action = 'secret_dropped' ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("audit");
    assert!(
        detail.contains("proxy_password") && !detail.contains("proxy-secret"),
        "{detail}"
    );

    // Another proxy URL drops it too.
    let mut form = ca_form(elsewhere, "", "someone", "pw2");
    assert_eq!(
        post_form(&app, "save_ca_backend", &form).await.status(),
        200
    );
    assert_eq!(set(&app).await, (true, true));
    form[6].1 = "http://127.0.0.1:3129".into();
    form[8].1 = String::new();
    assert_eq!(
        post_form(&app, "save_ca_backend", &form).await.status(),
        200
    );
    assert_eq!(set(&app).await, (true, false));
}

fn smtp_form(host: &str, port: &str, user: &str, password: &str) -> Vec<(String, String)> {
    [
        ("email_enabled", "on"),
        ("first_days", "40"),
        ("second_days", "7"),
        ("notify_user", "on"),
        ("extra_recipients", ""),
        ("daily_hour", "8"),
        ("smtp_host", host),
        ("smtp_port", port),
        ("smtp_security", "starttls"),
        ("smtp_username", user),
        ("smtp_password", password),
        ("mail_from", "certdesk@example.co.jp"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[tokio::test]
async fn a_changed_smtp_host_port_or_user_drops_the_stored_password_unless_typed_again() {
    let app = master_app().await;
    let set = |app: &TestApp| {
        let backend = app.backend.clone();
        async move {
            backend
                .notification_settings()
                .await
                .expect("settings")
                .smtp_password_set
        }
    };
    let save = |form: Vec<(String, String)>| {
        let app = &app;
        async move {
            post_form(app, "save_notification_settings", &form)
                .await
                .status()
        }
    };
    assert_eq!(
        save(smtp_form(
            "smtp.example.co.jp",
            "587",
            "mailer",
            "smtp-secret"
        ))
        .await,
        200
    );
    assert!(set(&app).await);
    assert_eq!(
        save(smtp_form("SMTP.example.co.jp", "587", "mailer", "")).await,
        200
    );
    assert!(
        set(&app).await,
        "same destination (host case ignored): kept"
    );
    for (host, port, user) in [
        ("attacker.example.net", "587", "mailer"),
        ("smtp.example.co.jp", "2525", "mailer"),
        ("smtp.example.co.jp", "587", "other"),
    ] {
        assert_eq!(
            save(smtp_form(
                "smtp.example.co.jp",
                "587",
                "mailer",
                "smtp-secret"
            ))
            .await,
            200
        );
        assert!(set(&app).await);
        assert_eq!(save(smtp_form(host, port, user, "")).await, 200);
        assert!(!set(&app).await, "{host}:{port} {user}: dropped");
    }
    assert_eq!(audit_count(&app, "secret_dropped"), 3);
    // Typed again together with the new host: stored.
    assert_eq!(
        save(smtp_form("attacker.example.net", "587", "mailer", "typed")).await,
        200
    );
    assert!(set(&app).await);
}

#[tokio::test]
async fn ca_urls_that_leak_keys_or_bend_the_path_and_metadata_hosts_are_refused() {
    let app = master_app().await;
    let cases = [
        ("http://ca.example.co.jp:8888", "csr", "E-CA-025"),
        ("http://10.0.0.5:8888", "csr", "E-CA-025"),
        ("http://127.0.0.1:8888", "ca", "E-CA-025"),
        ("https://ca.example.co.jp/?next=", "csr", "E-CA-026"),
        ("https://ca.example.co.jp/x#", "csr", "E-CA-026"),
        ("https://user:pw@ca.example.co.jp", "csr", "E-CA-026"),
        ("https://169.254.169.254/latest", "csr", "E-CA-027"),
        ("https://[fe80::1]:8888", "csr", "E-CA-027"),
        ("https://[fd00:ec2::254]", "csr", "E-CA-027"),
        ("https://metadata.google.internal", "csr", "E-CA-027"),
        ("ca.example.co.jp", "csr", "E-CA-020"),
    ];
    for (url, key_source, code) in cases {
        let mut form = ca_form(url, "", "", "");
        form[10].1 = key_source.into();
        let r = post_form(&app, "save_ca_backend", &form).await;
        assert_eq!(r.status(), 422, "{url}");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(
            (body["code"].as_str(), body["field"].as_str()),
            (Some(code), Some("url")),
            "{url}"
        );
    }
    let view = app.backend.ca_backend().await.expect("view");
    assert_eq!(view.cfssl.url, "", "nothing written");
    assert_eq!(audit_count(&app, "ca_backend_update"), 0);
    // Loopback over http with certdesk making the keys stays allowed (the cfssl tests).
    let r = post_form(
        &app,
        "save_ca_backend",
        &ca_form("http://127.0.0.1:8888", "", "", ""),
    )
    .await;
    assert_eq!(r.status(), 200);

    // An SMTP server in the metadata range is refused too.
    for host in ["169.254.169.254", "fe80::1", "metadata.google.internal"] {
        let r = post_form(
            &app,
            "save_notification_settings",
            &smtp_form(host, "587", "", ""),
        )
        .await;
        assert_eq!(r.status(), 422, "{host}");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(
            (body["code"].as_str(), body["field"].as_str()),
            (Some("E-NOTICE-007"), Some("smtp_host"))
        );
    }
    assert_eq!(audit_count(&app, "notification_settings_update"), 0);
}

#[tokio::test]
async fn a_ca_answer_over_one_mebibyte_is_not_read() {
    let app = master_app().await;
    // Nothing upstream: the proxy answers by itself.
    let nowhere: std::net::SocketAddr = "127.0.0.1:9".parse().expect("addr");
    for declared in [true, false] {
        let url = fault_proxy(nowhere, Fault::HugeBody { declared }).await;
        let mut form = ca_form(&url, "", "", "");
        form[6].1 = String::new();
        assert_eq!(
            post_form(&app, "save_ca_backend", &form).await.status(),
            200
        );
        let r = app.post("test_ca_connection", &[]).await;
        assert_eq!(r.status(), 200);
        let steps: serde_json::Value = r.json().await.expect("json");
        let info = &steps[1];
        assert_eq!(
            (
                info["step"].as_str(),
                info["ok"].as_bool(),
                info["code"].as_str()
            ),
            (Some("info"), Some(false), Some("E-CA-015")),
            "declared length: {declared}"
        );
    }
}

#[tokio::test]
async fn a_request_body_over_the_limit_is_refused_with_413_and_writes_nothing() {
    let app = master_app().await;
    let users = |app: &TestApp| -> i64 {
        app.database()
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .expect("count")
    };
    let before = users(&app);
    let huge = "あ".repeat(7 * 1024 * 1024 / 3 + 1); // 7 MiB of UTF-8
    let r = app
        .post(
            "add_user",
            &[
                ("login_id", "big00001"),
                ("name", huge.as_str()),
                ("email", "big@example.co.jp"),
                ("role", "general"),
                ("password", ""),
                ("password_confirm", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r).await, "E-WEB-004");
    // Not only server functions: the sign-in page's form and a download route too.
    let r = app
        .client
        .post(format!("{}/api/sign_in", app.base))
        .header("origin", &app.base)
        .body(vec![b'a'; 7 * 1024 * 1024])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 413);
    assert_eq!(users(&app), before);

    // One multipart field of the import over its own limit: refused, nothing written.
    let part = reqwest::multipart::Part::bytes(
        "login_id,name,email,role\r\nnew00001,新人 一号,new1@example.co.jp,general\r\n"
            .as_bytes()
            .to_vec(),
    )
    .file_name("users.csv");
    let form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("mode", "x".repeat(64 * 1024))
        .text("commit", "0");
    let r = app
        .client
        .post(format!("{}/api/import_users", app.base))
        .header("origin", &app.base)
        .multipart(form)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        (body["code"].as_str(), body["field"].as_str()),
        (Some("E-WEB-004"), Some("mode"))
    );
    assert_eq!(users(&app), before);
    assert_eq!(audit_count(&app, "user_create"), 0);
}

#[tokio::test]
async fn a_test_mail_goes_only_to_the_signed_in_users_own_address() {
    let app = master_app().await;
    let r = app
        .post("send_test_mail", &[("to", "victim@example.net")])
        .await;
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        (body["code"].as_str(), body["field"].as_str()),
        (Some("E-NOTICE-008"), Some("to"))
    );
    assert_eq!(
        audit_count(&app, "mail_test"),
        0,
        "nothing sent, nothing written"
    );
    // The own address, in any case, is allowed (no SMTP server yet: E-MAIL-006).
    let r = app
        .post("send_test_mail", &[("to", "TARO@example.co.jp")])
        .await;
    assert_eq!(error_code(r).await, "E-MAIL-006");
    assert_eq!(audit_count(&app, "mail_test"), 1);
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_0700_and_the_database_files_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("dir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let backend = Backend::open(Settings::new(&data), Clock::system()).expect("opens");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    let db = backend.settings().database_path();
    assert_eq!(mode(&db), 0o600);
    for suffix in ["-wal", "-shm"] {
        let side = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        if side.exists() {
            assert_eq!(mode(&side), 0o600, "{suffix}");
        }
    }
    assert_eq!(mode(&data.join("master.key")), 0o600);
    drop(backend);
    // A database made wider by hand is put back at the next start.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let _again = Backend::open(Settings::new(&data), Clock::system()).expect("opens");
    assert_eq!(mode(&db), 0o600);
}
