use certdesk_tests::{client, error_code, setup_form, spawn_app};

#[tokio::test]
async fn a_fresh_installation_sends_every_page_to_setup() {
    let app = spawn_app().await;
    for path in ["/", "/login", "/audit", "/users", "/nowhere"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/setup", "{path}");
    }
    let r = app.get("/setup").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("初期設定"));
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn setup_signs_the_master_in_with_an_httponly_strict_cookie_and_the_setup_page_is_gone() {
    let app = spawn_app().await;
    let r = app.set_up().await;
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(cookie.starts_with("certdesk_session="), "{cookie}");
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Strict"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP on loopback: {cookie}"
    );

    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("body");
    assert!(
        html.contains("株式会社テスト商事"),
        "organisation name in the header"
    );
    assert!(html.contains("山田 太郎"));

    let r = app.get("/setup").await;
    assert_eq!(
        (r.status().as_u16(), r.headers()["location"].to_str().ok()),
        (303, Some("/"))
    );
    let anonymous = client();
    let r = anonymous
        .get(format!("{}/setup", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["location"], "/login");
}

#[tokio::test]
async fn setup_a_second_time_is_refused_with_e_setup_001() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let other = client();
    let r = app.post_with(&other, "setup", &setup_form()).await;
    assert_eq!(r.status(), 409);
    assert_eq!(error_code(r).await, "E-SETUP-001");
}

#[tokio::test]
async fn a_bad_bank_code_is_reported_with_its_field_and_nothing_is_created() {
    let app = spawn_app().await;
    let mut form = setup_form();
    form.retain(|(k, _)| *k != "bank_code");
    form.push(("bank_code", "12a4"));
    let r = app.post("setup", &form).await;
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["code"], "E-VAL-003");
    assert_eq!(body["field"], "bank_code");
    assert!(body["message"]["ja"].as_str().expect("ja").contains("4桁"));
    assert!(body["message"]["en"]
        .as_str()
        .expect("en")
        .contains("4 digits"));
    assert_eq!(app.get("/").await.headers()["location"], "/setup");
}

#[tokio::test]
async fn mismatched_password_confirmation_names_the_confirmation_field() {
    let app = spawn_app().await;
    let mut form = setup_form();
    form.retain(|(k, _)| *k != "password_confirm");
    form.push(("password_confirm", "something else!"));
    let body: serde_json::Value = app.post("setup", &form).await.json().await.expect("json");
    assert_eq!(
        (body["code"].as_str(), body["field"].as_str()),
        (Some("E-VAL-009"), Some("password_confirm"))
    );
}
