//! The console's side of self-service enrolment over real HTTP (issue 17): who may call the
//! new server functions (the enrolment settings are the master's; an admin opens, resets and
//! mails enrolments), the settings' refusals at their field, and the printable slips
//! (`POST /enrolment/sheet`): signed in and same-origin only, anything but slips refused.

use certdesk_backend::{Actor, PasswordChange};
use certdesk_domain::enrolment::EnrolmentSettings;
use certdesk_domain::Role;
use certdesk_tests::{client, error_code, spawn_app, TestApp, PASSWORD};

async fn master_app() -> TestApp {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    app
}

/// A user with a console password, signed in on a client of their own.
async fn signed_in(app: &TestApp, login: &str, role: Role) -> (i64, reqwest::Client) {
    let id = app
        .backend
        .create_user(login, "鈴木 一郎", "suzuki@example.co.jp", role, Actor::Cli)
        .await
        .expect("user");
    app.backend
        .set_console_password(
            id,
            PasswordChange {
                current_password: String::new(),
                password: PASSWORD.into(),
                password_confirm: PASSWORD.into(),
            },
            Actor::Cli,
            None,
        )
        .await
        .expect("password");
    let c = client();
    let r = app
        .post_with(
            &c,
            "sign_in",
            &[("login_id", login), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 200);
    (id, c)
}

async fn general(app: &TestApp, login: &str) -> i64 {
    app.backend
        .create_user(
            login,
            "佐藤 花子",
            "sato@example.co.jp",
            Role::General,
            Actor::Cli,
        )
        .await
        .expect("user")
}

#[tokio::test]
async fn only_a_master_changes_the_enrolment_settings_and_out_of_range_days_are_refused_at_the_field(
) {
    let app = master_app().await;
    let (_, admin) = signed_in(&app, "admin001", Role::Admin).await;
    let before = app.backend.enrolment_settings().await.expect("settings");
    assert_eq!(before, EnrolmentSettings::default());

    // An admin may read them but not change them.
    let r = app.post_with(&admin, "enrolment_settings", &[]).await;
    assert_eq!(r.status(), 200);
    let r = app
        .post_with(
            &admin,
            "save_enrolment_settings",
            &[("validity_days", "30")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "E-AUTH-004");
    assert_eq!(
        app.backend.enrolment_settings().await.expect("settings"),
        before
    );

    // The master: 0, 91 and words are refused at the field, nothing is written.
    for days in ["0", "91", "fourteen", ""] {
        let r = app
            .post(
                "save_enrolment_settings",
                &[("validity_days", days), ("self_renewal", "on")],
            )
            .await;
        assert_eq!(r.status(), 422, "{days:?}");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["code"], "E-ENROLL-012", "{days:?}: {body}");
        assert_eq!(body["field"], "validity_days", "{days:?}: {body}");
    }
    assert_eq!(
        app.backend.enrolment_settings().await.expect("settings"),
        before
    );

    // 1 and 90 are the bounds; an unticked checkbox (absent) turns self-renewal off.
    for days in [1u32, 90] {
        let r = app
            .post(
                "save_enrolment_settings",
                &[("validity_days", &days.to_string())],
            )
            .await;
        assert_eq!(r.status(), 200, "{days}");
        assert_eq!(
            app.backend.enrolment_settings().await.expect("settings"),
            EnrolmentSettings {
                validity_days: days,
                self_renewal: false
            }
        );
    }

    // Signed out: neither read nor written.
    let anonymous = client();
    for function in ["enrolment_settings", "save_enrolment_settings"] {
        let r = app
            .post_with(&anonymous, function, &[("validity_days", "14")])
            .await;
        assert_eq!(r.status(), 401, "{function}");
        assert_eq!(error_code(r).await, "E-AUTH-003", "{function}");
    }
}

#[tokio::test]
async fn an_admin_opens_resets_and_mails_enrolments_and_the_signed_out_cannot() {
    let app = master_app().await;
    let (_, admin) = signed_in(&app, "admin001", Role::Admin).await;
    let user = general(&app, "hanako02").await;

    let anonymous = client();
    let open = serde_json::json!({"user_ids": [user], "reissue": false});
    let r = anonymous
        .post(format!("{}/api/open_enrolments", app.base))
        .header("origin", &app.origin)
        .json(&open)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(r).await, "E-AUTH-003");
    assert!(app
        .backend
        .list_enrolments()
        .await
        .expect("list")
        .is_empty());

    let r = admin
        .post(format!("{}/api/open_enrolments", app.base))
        .header("origin", &app.origin)
        .json(&open)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let slips: serde_json::Value = r.json().await.expect("json");
    assert_eq!(slips[0]["login_id"], "hanako02");
    assert_eq!(slips[0]["group_id"], "G0001");
    let code = slips[0]["code"].as_str().expect("code").to_string();

    // The overview never carries a code.
    let r = app.post_with(&admin, "enrolment_overview", &[]).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.expect("text");
    assert!(text.contains("hanako02") && !text.contains(&code), "{text}");

    let r = app
        .post_with(&admin, "reset_enrolment", &[("user_id", &user.to_string())])
        .await;
    assert_eq!(r.status(), 200);
    let reset: serde_json::Value = r.json().await.expect("json");
    assert_ne!(reset["code"].as_str().expect("code"), code);

    for function in ["reset_enrolment", "enrolment_overview"] {
        let r = app
            .post_with(&anonymous, function, &[("user_id", &user.to_string())])
            .await;
        assert_eq!(r.status(), 401, "{function}");
    }
    let r = admin
        .post(format!("{}/api/mail_enrolments", app.base))
        .header("origin", &app.origin)
        .json(&serde_json::json!({"user_ids": [user]}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<u32>().await.expect("count"), 1);
}

/// The slip fields as the Distribution page posts them.
fn slip_form(code: &str) -> Vec<(&'static str, String)> {
    vec![
        ("login_id", "hanako02".into()),
        ("name", "佐藤 <花子>".into()),
        ("group_id", "G0001".into()),
        ("number", "1234-5678-9012".into()),
        ("code", code.into()),
        ("expires_at", "2026-12-19T03:04:05Z".into()),
        ("operation", "issue".into()),
    ]
}

/// POSTs `form` to the slip sheet from `client` with this `Origin`.
async fn post_sheet(
    client: &reqwest::Client,
    url: &str,
    origin: &str,
    form: &[(&str, String)],
) -> reqwest::Response {
    client
        .post(url)
        .header("origin", origin)
        .form(form)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn the_slip_sheet_is_for_signed_in_same_origin_posts_of_slips_only() {
    let app = master_app().await;
    let url = format!("{}/enrolment/sheet", app.base);
    let form = slip_form("ABCD-EFGH-JKLM");

    let r = post_sheet(&app.client, &url, &app.origin, &form).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"].to_str().expect("ascii"),
        "no-store"
    );
    let html = r.text().await.expect("html");
    assert!(html.contains("ABCD-EFGH-JKLM") && html.contains("1234-5678-9012"));
    assert!(html.contains("佐藤 &lt;花子&gt;") && !html.contains("<花子>"));
    assert!(html.contains(&format!(
        "{}/enroll",
        app.backend.settings().public_url.trim_end_matches('/')
    )));
    assert!(html.contains("/sheet/print.js"));

    // Another site's form: refused before the handler.
    let r = post_sheet(&app.client, &url, "https://evil.example", &form).await;
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "E-AUTH-005");

    // Signed out.
    let r = post_sheet(&client(), &url, &app.origin, &form).await;
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(r).await, "E-AUTH-003");

    // Not slips.
    for body in [
        vec![("slips", "x".to_string())],
        slip_form("X")[..6].to_vec(),
    ] {
        let r = post_sheet(&app.client, &url, &app.origin, &body).await;
        assert_eq!(r.status(), 400);
        assert_eq!(error_code(r).await, "E-WEB-002");
    }
}
