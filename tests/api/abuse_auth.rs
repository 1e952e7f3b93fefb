//! Issue 15 (items 1, 3, 8): what anyone on the LAN can do to sign-in and sessions, attacked
//! from outside over real HTTP: oversized sign-ins, made-up login IDs, locking out the last
//! master, sessions that never end, and password changes.

use certdesk_backend::{AttemptLimits, AttemptRate};
use certdesk_tests::{client, error_code, spawn_app_with, TestApp, PASSWORD};
use time::macros::datetime;
use time::Duration;

const NEW_PASSWORD: &str = "a brand new passphrase";

/// Set up (client signed in as master01) at 2026-11-23 10:30 JST.
/// A set-up console whose attempt limits are out of the way: these tests attack what a sign-in
/// stores and locks (the limits have their own tests in `abuse_limits.rs`).
async fn master_app() -> TestApp {
    let app = spawn_app_with(|s| {
        let many = AttemptRate {
            burst: 10_000,
            period: std::time::Duration::from_secs(3600),
        };
        s.attempt_limits = AttemptLimits {
            per_client: many,
            overall: many,
        };
    })
    .await;
    app.set_now(datetime!(2026-11-23 01:30:00 UTC));
    assert_eq!(app.set_up().await.status(), 200);
    app
}

async fn sign_in_with(
    app: &TestApp,
    c: &reqwest::Client,
    login: &str,
    password: &str,
) -> reqwest::Response {
    app.post_with(c, "sign_in", &[("login_id", login), ("password", password)])
        .await
}

/// The whole error body: code, field, message in both languages.
async fn error_body(r: reqwest::Response) -> serde_json::Value {
    r.json().await.expect("json error body")
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.database()
        .query_row(sql, [], |r| r.get(0))
        .expect("count")
}

/// Bytes of the SQLite file and its write-ahead log.
fn database_bytes(app: &TestApp) -> u64 {
    let db = app.backend.settings().database_path();
    let wal = db.with_file_name("certdesk.sqlite3-wal");
    [db, wal]
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

#[tokio::test]
async fn two_hundred_sign_ins_with_1_mb_login_ids_grow_the_database_by_less_than_64_kb() {
    let app = master_app().await;
    let stranger = client();
    let audit_rows = count(&app, "SELECT count(*) FROM audit_log");
    let before = database_bytes(&app);
    let huge = "a".repeat(1024 * 1024);
    for attempt in 0..200 {
        let r = sign_in_with(&app, &stranger, &huge, "wrong password!").await;
        assert_eq!(r.status(), 413, "attempt {attempt}");
        assert_eq!(error_code(r).await, "E-AUTH-007", "attempt {attempt}");
    }
    let grown = database_bytes(&app).saturating_sub(before);
    assert!(grown < 64 * 1024, "the database grew by {grown} bytes");
    assert_eq!(
        count(&app, "SELECT count(*) FROM audit_log"),
        audit_rows,
        "nothing audited"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM unknown_login_failures"),
        0
    );

    // A password over 1 KiB is refused the same way, before any hashing or writing.
    let r = sign_in_with(&app, &stranger, "master01", &"p".repeat(1025)).await;
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r).await, "E-AUTH-007");
    assert_eq!(count(&app, "SELECT count(*) FROM audit_log"), audit_rows);
    assert_eq!(
        count(
            &app,
            "SELECT failed_logins FROM users WHERE login_key = 'master01'"
        ),
        0
    );
}

#[tokio::test]
async fn malformed_login_ids_share_one_counter_and_unknown_ones_are_forgotten_after_a_quiet_day() {
    let app = master_app().await;
    let stranger = client();
    for i in 0..10 {
        let login = format!("not a login id #{i} {}", "x".repeat(30));
        let r = sign_in_with(&app, &stranger, &login, "wrong password!").await;
        let code = error_code(r).await;
        let expected = if i < 4 { "E-AUTH-001" } else { "E-AUTH-006" };
        assert_eq!(code, expected, "attempt {i}");
    }
    assert_eq!(
        count(&app, "SELECT count(*) FROM unknown_login_failures"),
        1,
        "every malformed login ID is counted under one key"
    );
    for login in ["nobody01", "nobody02", "nobody03"] {
        let r = sign_in_with(&app, &stranger, login, "wrong password!").await;
        assert_eq!(error_code(r).await, "E-AUTH-001");
    }
    assert_eq!(
        count(&app, "SELECT count(*) FROM unknown_login_failures"),
        4
    );

    // A day and a minute later, the next failure finds the old counters gone.
    app.advance(Duration::hours(24) + Duration::minutes(1));
    let r = sign_in_with(&app, &stranger, "nobody99", "wrong password!").await;
    assert_eq!(error_code(r).await, "E-AUTH-001");
    assert_eq!(
        count(&app, "SELECT count(*) FROM unknown_login_failures"),
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM unknown_login_failures WHERE login_key = 'nobody99'"
        ),
        1
    );
}

#[tokio::test]
async fn wrong_passwords_lock_even_the_last_master_only_for_a_while_with_a_growing_back_off() {
    let app = master_app().await;
    let stranger = client();
    for _ in 0..4 {
        let r = sign_in_with(&app, &stranger, "master01", "wrong password!").await;
        assert_eq!(error_code(r).await, "E-AUTH-001");
    }
    // The 5th: locked until 10:45 Japan time (01:45 UTC), said in both languages.
    let r = sign_in_with(&app, &stranger, "master01", "wrong password!").await;
    assert_eq!(r.status(), 403);
    let body = error_body(r).await;
    assert_eq!(body["code"], "E-AUTH-006");
    let ja = body["message"]["ja"].as_str().expect("ja");
    let en = body["message"]["en"].as_str().expect("en");
    assert!(
        ja.contains("一時的に閉塞中") && ja.contains("2026-11-23 10:45"),
        "{ja}"
    );
    assert!(
        en.contains("locked until 2026-11-23 10:45 (Japan time)"),
        "{en}"
    );

    // The master's own session is not ended by someone else's guesses; the Users page shows
    // the kind of lock.
    let locks: serde_json::Value = app
        .post("temporary_locks", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(locks[0]["until_jst"], "2026-11-23 10:45");
    let users: serde_json::Value = app
        .post("users_list", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(users[0]["locked"], false, "not the permanent 閉塞");

    // Even the right password waits for the lock's end, and works at that instant.
    app.advance(Duration::minutes(15) - Duration::seconds(1));
    let r = sign_in_with(&app, &stranger, "master01", PASSWORD).await;
    assert_eq!(error_code(r).await, "E-AUTH-006");
    app.advance(Duration::seconds(1));

    // The next lock (no successful sign-in between) lasts 30 minutes: 10:45 + 30 = 11:15.
    for _ in 0..5 {
        sign_in_with(&app, &stranger, "master01", "wrong password!").await;
    }
    let r = sign_in_with(&app, &stranger, "master01", PASSWORD).await;
    let body = error_body(r).await;
    assert_eq!(body["code"], "E-AUTH-006");
    assert!(body["message"]["en"]
        .as_str()
        .expect("en")
        .contains("2026-11-23 11:15"));

    // After it, the right password signs in and resets the back-off: the next lock is 15 min.
    app.advance(Duration::minutes(30));
    assert_eq!(
        sign_in_with(&app, &stranger, "master01", PASSWORD)
            .await
            .status(),
        200
    );
    for _ in 0..5 {
        sign_in_with(&app, &stranger, "master01", "wrong password!").await;
    }
    let r = sign_in_with(&app, &stranger, "master01", PASSWORD).await;
    let body = error_body(r).await;
    assert!(body["message"]["en"]
        .as_str()
        .expect("en")
        .contains("2026-11-23 11:30"));

    // `unlock` lifts a temporary lock at once.
    app.backend
        .unlock_user("master01", certdesk_backend::Actor::Cli)
        .await
        .expect("unlock");
    assert_eq!(
        sign_in_with(&app, &stranger, "master01", PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_lock_set_by_a_master_stays_and_the_users_page_tells_the_two_kinds_apart() {
    let app = master_app().await;
    for login in ["admin001", "admin002"] {
        let r = app
            .post(
                "add_user",
                &[
                    ("login_id", login),
                    ("name", "管理 花子"),
                    ("email", "hanako@example.co.jp"),
                    ("role", "admin"),
                    ("password", PASSWORD),
                    ("password_confirm", PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    let stranger = client();
    for _ in 0..5 {
        sign_in_with(&app, &stranger, "admin001", "wrong password!").await;
    }
    assert_eq!(
        app.post("lock_user", &[("login_id", "admin002")])
            .await
            .status(),
        200
    );
    // A day later the wrong-password lock is over; the master's lock is not.
    app.advance(Duration::hours(25));
    let master = client();
    assert_eq!(
        sign_in_with(&app, &master, "master01", PASSWORD)
            .await
            .status(),
        200
    );
    let r = sign_in_with(&app, &stranger, "admin002", PASSWORD).await;
    assert_eq!(error_code(r).await, "E-AUTH-002");
    assert_eq!(
        sign_in_with(&app, &stranger, "admin001", PASSWORD)
            .await
            .status(),
        200
    );

    // While both are locked, the page's data says which lock each has.
    for _ in 0..5 {
        sign_in_with(&app, &client(), "admin001", "wrong password!").await;
    }
    let users: Vec<serde_json::Value> = app
        .post_with(&master, "users_list", &[])
        .await
        .json()
        .await
        .expect("json");
    let locks: Vec<serde_json::Value> = app
        .post_with(&master, "temporary_locks", &[])
        .await
        .json()
        .await
        .expect("json");
    let id_of = |login: &str| {
        users
            .iter()
            .find(|u| u["login_id"] == login)
            .expect("listed")["user_id"]
            .clone()
    };
    let locked_of = |login: &str| {
        users
            .iter()
            .find(|u| u["login_id"] == login)
            .expect("listed")["locked"]
            .clone()
    };
    assert_eq!(locked_of("admin002"), true);
    assert_eq!(locked_of("admin001"), false);
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0]["user_id"], id_of("admin001"));
}

#[tokio::test]
async fn a_session_ends_12_hours_after_sign_in_however_busy() {
    let app = master_app().await;
    // A request every 29 minutes keeps the idle timer from ending it...
    for _ in 0..24 {
        app.advance(Duration::minutes(29));
        assert_eq!(app.post("user_counts", &[]).await.status(), 200);
    }
    // ...11 h 36 min so far; at 11 h 59 min it still works, at 12 h it has ended.
    app.advance(Duration::minutes(23));
    assert_eq!(app.post("user_counts", &[]).await.status(), 200);
    app.advance(Duration::minutes(1));
    assert_eq!(app.get("/").await.headers()["location"], "/login?expired=1");
    let r = app.post("user_counts", &[]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(r).await, "E-AUTH-003");
}

async fn master_id(app: &TestApp) -> String {
    let users: Vec<serde_json::Value> = app
        .post("users_list", &[])
        .await
        .json()
        .await
        .expect("json");
    users[0]["user_id"].to_string()
}

#[tokio::test]
async fn changing_your_own_password_needs_the_current_one_and_ends_your_other_sessions() {
    let app = master_app().await;
    let id = master_id(&app).await;
    let other_browser = client();
    assert_eq!(
        sign_in_with(&app, &other_browser, "master01", PASSWORD)
            .await
            .status(),
        200
    );
    let change = |current: &'static str| {
        let id = id.clone();
        let app = &app;
        async move {
            app.post(
                "set_user_password",
                &[
                    ("user_id", id.as_str()),
                    ("current_password", current),
                    ("password", NEW_PASSWORD),
                    ("password_confirm", NEW_PASSWORD),
                ],
            )
            .await
        }
    };
    // Without the current password, or with a wrong one: refused, nothing changed.
    let r = app
        .post(
            "set_user_password",
            &[
                ("user_id", id.as_str()),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let body = error_body(r).await;
    assert_eq!(body["code"], "E-AUTH-008");
    assert_eq!(body["field"], "current_password");
    assert_eq!(
        error_code(change("wrong password!").await).await,
        "E-AUTH-008"
    );
    assert_eq!(
        app.post_with(&other_browser, "user_counts", &[])
            .await
            .status(),
        200
    );

    // With it: changed; this session stays, the other browser's ends.
    assert_eq!(change(PASSWORD).await.status(), 200);
    assert_eq!(app.post("user_counts", &[]).await.status(), 200);
    let r = app.post_with(&other_browser, "user_counts", &[]).await;
    assert_eq!(error_code(r).await, "E-AUTH-003");
    let stranger = client();
    assert_eq!(
        error_code(sign_in_with(&app, &stranger, "master01", PASSWORD).await).await,
        "E-AUTH-001"
    );
    assert_eq!(
        sign_in_with(&app, &stranger, "master01", NEW_PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn wrong_current_passwords_count_like_wrong_sign_ins() {
    let app = master_app().await;
    let id = master_id(&app).await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        let r = app
            .post(
                "set_user_password",
                &[
                    ("user_id", id.as_str()),
                    ("current_password", "wrong password!"),
                    ("password", NEW_PASSWORD),
                    ("password_confirm", NEW_PASSWORD),
                ],
            )
            .await;
        codes.push(error_code(r).await);
    }
    assert_eq!(
        codes,
        [
            "E-AUTH-008",
            "E-AUTH-008",
            "E-AUTH-008",
            "E-AUTH-008",
            "E-AUTH-006",
            "E-AUTH-006"
        ]
    );
    let r = sign_in_with(&app, &client(), "master01", PASSWORD).await;
    assert_eq!(error_code(r).await, "E-AUTH-006");
}

#[tokio::test]
async fn a_caller_who_may_not_set_that_password_is_refused_before_the_new_one_is_looked_at() {
    let app = master_app().await;
    let master = master_id(&app).await;
    let r = app
        .post(
            "add_user",
            &[
                ("login_id", "admin001"),
                ("name", "管理 花子"),
                ("email", "hanako@example.co.jp"),
                ("role", "admin"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let admin = client();
    assert_eq!(
        sign_in_with(&app, &admin, "admin001", PASSWORD)
            .await
            .status(),
        200
    );
    // An admin may not set a master's password: refused as such, even with a new password
    // that breaks the rules (it is never read, let alone hashed).
    let r = app
        .post_with(
            &admin,
            "set_user_password",
            &[
                ("user_id", master.as_str()),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "E-AUTH-004");
}
