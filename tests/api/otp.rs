//! One-time passwords over real HTTP: enrolment, the sign-in's second step (skew, replay,
//! recovery codes, the shared temporary lock), time sync, the policy and the step-up. Codes
//! are computed here from the Base32 secret the page shows, at the test clock's time.

use certdesk_backend::{Actor, Operation};
use certdesk_domain::otp::{base32_decode, code_at, step_at};
use certdesk_domain::Role;
use certdesk_tests::{error_code, spawn_app, TestApp, PASSWORD};
use time::Duration;

async fn ok_json(r: reqwest::Response) -> serde_json::Value {
    let status = r.status();
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

fn step_now(app: &TestApp) -> i64 {
    step_at(app.backend.clock().now().unix_timestamp())
}

/// The code of the step `delta` steps away from the server's now.
fn code(app: &TestApp, secret: &[u8], delta: i64) -> String {
    code_at(secret, step_now(app) + delta).expect("after 1970")
}

/// Sets up the organisation (signed in as master01) and enrols master01; returns the secret
/// and the recovery codes.
async fn enrolled_app() -> (TestApp, Vec<u8>, Vec<String>) {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let started = ok_json(app.post("otp_enrol_start", &[]).await).await;
    let secret = base32_decode(started["secret"].as_str().expect("secret")).expect("base32");
    assert_eq!(secret.len(), 20);
    assert!(started["qr_svg"].as_str().expect("svg").starts_with("<svg"));
    let codes = ok_json(
        app.post("otp_enrol_confirm", &[("code", &code(&app, &secret, 0))])
            .await,
    )
    .await;
    let codes: Vec<String> = codes
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_string())
        .collect();
    (app, secret, codes)
}

async fn sign_in(app: &TestApp) -> serde_json::Value {
    ok_json(
        app.post(
            "sign_in",
            &[("login_id", "master01"), ("password", PASSWORD)],
        )
        .await,
    )
    .await
}

async fn second_step(app: &TestApp, typed: &str) -> reqwest::Response {
    app.post("otp_sign_in", &[("code", typed)]).await
}

fn audit_count(app: &TestApp, action: &str) -> i64 {
    app.database()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE action = ?1",
            [action],
            |r| r.get(0),
        )
        .expect("count")
}

#[tokio::test]
async fn enrolment_needs_one_correct_code_and_a_wrong_one_keeps_the_old_state() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    assert_eq!(
        error_code(app.post("otp_enrol_confirm", &[("code", "123456")]).await).await,
        "E-OTP-008"
    );
    let started = ok_json(app.post("otp_enrol_start", &[]).await).await;
    let secret = base32_decode(started["secret"].as_str().expect("secret")).expect("base32");
    let wrong = format!(
        "{:06}",
        (code(&app, &secret, 0).parse::<u32>().expect("n") + 1) % 1_000_000
    );
    let r = app.post("otp_enrol_confirm", &[("code", &wrong)]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(r).await, "E-OTP-001");
    for malformed in ["12345", "12345a", "1234567"] {
        assert_eq!(
            error_code(app.post("otp_enrol_confirm", &[("code", malformed)]).await).await,
            "E-OTP-002"
        );
    }
    let page = ok_json(app.post("otp_page", &[]).await).await;
    assert_eq!(page["enrolled"], false);
    // Nothing changed: signing in again needs no code.
    assert_eq!(app.post("sign_out", &[]).await.status(), 200);
    assert_eq!(sign_in(&app).await, "done");

    let codes = ok_json(
        app.post("otp_enrol_confirm", &[("code", &code(&app, &secret, 0))])
            .await,
    )
    .await;
    assert_eq!(codes.as_array().expect("codes").len(), 10);
    let page = ok_json(app.post("otp_page", &[]).await).await;
    assert_eq!(page["enrolled"], true);
    assert_eq!(page["recovery_left"], 10);
    assert_eq!(audit_count(&app, "otp_enrol"), 1);
    let stored: i64 = app
        .database()
        .query_row(
            "SELECT COUNT(*) FROM otp_recovery_codes WHERE code_sha256 LIKE ?1",
            [format!("%{}%", codes[0].as_str().expect("code"))],
            |r| r.get(0),
        )
        .expect("query");
    assert_eq!(stored, 0, "recovery codes are stored hashed");
}

#[tokio::test]
async fn sign_in_asks_for_the_code_and_a_used_code_is_refused() {
    let (app, secret, _) = enrolled_app().await;
    assert_eq!(app.post("sign_out", &[]).await.status(), 200);
    assert_eq!(sign_in(&app).await, "code");
    // The password alone opens nothing.
    let r = app.post("user_counts", &[]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "E-OTP-004");
    let page = app.get("/").await;
    assert_eq!(page.headers()["location"], "/login?step=code");

    // The code of the enrolment's step was used already.
    let r = second_step(&app, &code(&app, &secret, 0)).await;
    assert_eq!(r.status(), 409);
    assert_eq!(error_code(r).await, "E-OTP-003");

    app.advance(Duration::seconds(30));
    let full_width: String = code(&app, &secret, 0)
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).expect("digit"))
        .collect();
    let done = ok_json(second_step(&app, &full_width).await).await;
    assert_eq!(done["recovery_left"], serde_json::Value::Null);
    assert_eq!(app.post("user_counts", &[]).await.status(), 200);
    assert_eq!(audit_count(&app, "otp_sign_in"), 1);

    // The same code again, in a new sign-in within its window: refused.
    assert_eq!(app.post("sign_out", &[]).await.status(), 200);
    assert_eq!(sign_in(&app).await, "code");
    assert_eq!(
        error_code(second_step(&app, &code(&app, &secret, 0)).await).await,
        "E-OTP-003"
    );
}

#[tokio::test]
async fn one_step_of_skew_is_accepted_and_two_are_refused() {
    let (app, secret, _) = enrolled_app().await;
    app.advance(Duration::minutes(5));
    for (delta, accepted) in [(-2, false), (2, false), (-1, true), (1, true)] {
        assert_eq!(app.post("sign_out", &[]).await.status(), 200);
        assert_eq!(sign_in(&app).await, "code");
        let r = second_step(&app, &code(&app, &secret, delta)).await;
        if accepted {
            assert_eq!(r.status(), 200, "{delta} steps");
        } else {
            assert_eq!(error_code(r).await, "E-OTP-001", "{delta} steps");
        }
        app.advance(Duration::minutes(2));
    }
}

#[tokio::test]
async fn a_recovery_code_works_once_and_says_how_many_are_left() {
    let (app, _, codes) = enrolled_app().await;
    assert_eq!(app.post("sign_out", &[]).await.status(), 200);
    assert_eq!(sign_in(&app).await, "code");
    let done = ok_json(second_step(&app, &codes[3].to_lowercase()).await).await;
    assert_eq!(done["recovery_left"], 9);
    assert_eq!(app.post("user_counts", &[]).await.status(), 200);
    assert_eq!(audit_count(&app, "otp_recovery_code_used"), 1);

    assert_eq!(app.post("sign_out", &[]).await.status(), 200);
    assert_eq!(sign_in(&app).await, "code");
    let r = second_step(&app, &codes[3]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(r).await, "E-OTP-010");
}

#[tokio::test]
async fn wrong_codes_count_toward_the_temporary_lock_of_wrong_passwords() {
    let (app, secret, _) = enrolled_app().await;
    app.advance(Duration::minutes(1));
    assert_eq!(app.post("sign_out", &[]).await.status(), 200);
    // A wrong password first: the count is shared.
    let r = app
        .post(
            "sign_in",
            &[("login_id", "master01"), ("password", "wrong password!")],
        )
        .await;
    assert_eq!(error_code(r).await, "E-AUTH-001");
    assert_eq!(sign_in(&app).await, "code");
    let wrong = format!(
        "{:06}",
        (code(&app, &secret, 0).parse::<u32>().expect("n") + 7) % 1_000_000
    );
    for _ in 0..3 {
        assert_eq!(
            error_code(second_step(&app, &wrong).await).await,
            "E-OTP-001"
        );
    }
    let r = second_step(&app, &wrong).await;
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "E-AUTH-006");
    // The waiting session ended with the lock; the right code does not help now.
    assert_eq!(
        error_code(second_step(&app, &code(&app, &secret, 0)).await).await,
        "E-OTP-011"
    );
    assert_eq!(audit_count(&app, "otp_code_failed"), 4);
    assert_eq!(audit_count(&app, "lock_temporary"), 1);
}

#[tokio::test]
async fn time_sync_finds_a_drifted_pair_within_ten_minutes_and_stores_the_drift() {
    let (app, secret, _) = enrolled_app().await;
    app.advance(Duration::minutes(1));
    assert_eq!(app.post("sign_out", &[]).await.status(), 200);
    assert_eq!(sign_in(&app).await, "code");
    // The device runs 5 minutes ahead.
    assert_eq!(
        error_code(second_step(&app, &code(&app, &secret, 10)).await).await,
        "E-OTP-001"
    );
    let far = app
        .post(
            "otp_resync",
            &[
                ("code", code(&app, &secret, 25).as_str()),
                ("next_code", code(&app, &secret, 26).as_str()),
            ],
        )
        .await;
    assert_eq!(far.status(), 422);
    assert_eq!(error_code(far).await, "E-OTP-009");
    let r = app
        .post(
            "otp_resync",
            &[
                ("code", code(&app, &secret, 10).as_str()),
                ("next_code", code(&app, &secret, 11).as_str()),
            ],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.expect("body"));
    let page = ok_json(app.post("otp_page", &[]).await).await;
    assert_eq!(page["drift_secs"], 330);
    assert_eq!(audit_count(&app, "otp_time_sync"), 1);

    // From now on the drifted device's codes pass.
    app.advance(Duration::minutes(2));
    assert_eq!(app.post("sign_out", &[]).await.status(), 200);
    assert_eq!(sign_in(&app).await, "code");
    assert_eq!(
        second_step(&app, &code(&app, &secret, 11)).await.status(),
        200
    );
}

#[tokio::test]
async fn a_required_policy_blocks_every_server_function_but_enrolment() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    assert_eq!(
        app.post(
            "save_otp_settings",
            &[("policy", "masters"), ("step_up_minutes", "10")]
        )
        .await
        .status(),
        200
    );
    // The master's own session now serves the enrolment only.
    let blocked: [(&str, &[(&str, &str)]); 12] = [
        ("shell_info", &[]),
        ("user_counts", &[]),
        ("audit_log", &[]),
        ("dashboard", &[]),
        ("users_list", &[]),
        ("certificate_overview", &[]),
        ("distribution_overview", &[]),
        ("issuing_profile", &[]),
        ("ca_backend", &[]),
        ("notification_settings", &[]),
        (
            "save_otp_settings",
            &[("policy", "optional"), ("step_up_minutes", "10")],
        ),
        ("otp_step_up", &[("code", "123456")]),
    ];
    for (function, form) in blocked {
        let r = app.post(function, form).await;
        assert_eq!(r.status(), 403, "{function}");
        assert_eq!(error_code(r).await, "E-OTP-005", "{function}");
    }
    let r = app
        .post_json(
            "prepare_bundle",
            serde_json::json!({"user_ids": [1], "profile": "modern"}),
        )
        .await;
    assert_eq!(error_code(r).await, "E-OTP-005");
    assert_eq!(app.get("/users").await.headers()["location"], "/otp");
    assert_eq!(app.get("/otp").await.status(), 200);

    // After sign-out and sign-in the password leads to the enrolment.
    assert_eq!(app.post("sign_out", &[]).await.status(), 200);
    assert_eq!(sign_in(&app).await, "enrol");
    let page = ok_json(app.post("otp_page", &[]).await).await;
    assert_eq!(page["must_enrol"], true);
    let started = ok_json(app.post("otp_enrol_start", &[]).await).await;
    let secret = base32_decode(started["secret"].as_str().expect("secret")).expect("base32");
    ok_json(
        app.post("otp_enrol_confirm", &[("code", &code(&app, &secret, 0))])
            .await,
    )
    .await;
    assert_eq!(app.post("user_counts", &[]).await.status(), 200);
}

#[tokio::test]
async fn step_up_refuses_prepare_bundle_without_a_fresh_code_and_accepts_it_after() {
    let (app, secret, _) = enrolled_app().await;
    let id = app
        .backend
        .create_user(
            "sato0001",
            "佐藤 花子",
            "sato@example.co.jp",
            Role::General,
            Actor::Cli,
        )
        .await
        .expect("user");
    app.backend
        .apply_certificate_operation(id, Operation::Issue, Actor::Cli)
        .await
        .expect("issue")
        .expect("a certificate");
    let bundle = serde_json::json!({"user_ids": [id], "profile": "modern"});

    app.advance(Duration::minutes(11));
    let r = app.post_json("prepare_bundle", bundle.clone()).await;
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "E-OTP-006");
    let r = app
        .post_json(
            "start_certificate_run",
            serde_json::json!({"user_ids": [id], "operation": "revoke", "reason": "key_compromise"}),
        )
        .await;
    assert_eq!(error_code(r).await, "E-OTP-006");
    assert_eq!(audit_count(&app, "delivery_bundle"), 0);

    let wrong = format!(
        "{:06}",
        (code(&app, &secret, 0).parse::<u32>().expect("n") + 1) % 1_000_000
    );
    assert_eq!(
        error_code(app.post("otp_step_up", &[("code", &wrong)]).await).await,
        "E-OTP-001"
    );
    assert_eq!(
        app.post("otp_step_up", &[("code", &code(&app, &secret, 0))])
            .await
            .status(),
        200
    );
    let created = ok_json(app.post_json("prepare_bundle", bundle.clone()).await).await;
    assert!(created["token"].is_string());
    assert_eq!(audit_count(&app, "otp_step_up"), 1);

    // The window is the setting: 10 minutes later it has to be done again.
    app.advance(Duration::minutes(10));
    assert_eq!(
        error_code(app.post_json("prepare_bundle", bundle).await).await,
        "E-OTP-006"
    );
}

#[tokio::test]
async fn a_master_or_the_shell_resets_a_one_time_password_and_it_is_audited() {
    let (app, _, _) = enrolled_app().await;
    assert_eq!(app.post("sign_out", &[]).await.status(), 200);
    assert_eq!(sign_in(&app).await, "code");
    // The last master lost the device: `certdesk users reset-otp master01`.
    app.backend
        .reset_otp("master01", Actor::Cli)
        .await
        .expect("reset");
    assert_eq!(audit_count(&app, "otp_reset"), 1);
    assert_eq!(sign_in(&app).await, "done");
    let page = ok_json(app.post("otp_page", &[]).await).await;
    assert_eq!(page["enrolled"], false);
    assert_eq!(
        error_code(app.post("reset_otp", &[("login_id", "master01")]).await).await,
        "E-OTP-007"
    );
    assert_eq!(
        error_code(app.post("reset_otp", &[("login_id", "nobody99")]).await).await,
        "E-USER-001"
    );
}

#[tokio::test]
async fn the_code_step_goes_through_the_sign_in_attempt_limit() {
    let app = certdesk_tests::spawn_app_with(|s| {
        s.attempt_limits.per_client = certdesk_backend::AttemptRate {
            burst: 2,
            period: std::time::Duration::from_secs(3600),
        };
    })
    .await;
    let mut last = 0;
    for _ in 0..4 {
        last = app
            .post("otp_sign_in", &[("code", "123456")])
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
}
