use certdesk_backend::Actor;
use certdesk_tests::{client, error_code, spawn_app, TestApp, PASSWORD};
use time::Duration;

async fn signed_out_app() -> TestApp {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    assert_eq!(app.post("sign_out", &[]).await.status(), 200);
    app
}

async fn sign_in(app: &TestApp, password: &str) -> reqwest::Response {
    app.post(
        "sign_in",
        &[("login_id", "master01"), ("password", password)],
    )
    .await
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_until_the_lock_ends_or_an_unlock() {
    let app = signed_out_app().await;
    for _ in 0..4 {
        let r = sign_in(&app, "wrong password!").await;
        assert_eq!(r.status(), 401);
        assert_eq!(error_code(r).await, "E-AUTH-001");
    }
    let r = sign_in(&app, "wrong password!").await;
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "E-AUTH-006");
    assert_eq!(
        error_code(sign_in(&app, PASSWORD).await).await,
        "E-AUTH-006"
    );

    app.backend
        .unlock_user("master01", Actor::Cli)
        .await
        .expect("unlock");
    assert_eq!(sign_in(&app, PASSWORD).await.status(), 200);
    assert_eq!(app.get("/").await.status(), 200);
}

#[tokio::test]
async fn an_unknown_login_id_is_answered_exactly_like_a_wrong_password() {
    let app = signed_out_app().await;
    for attempt in 1..=6 {
        let known = sign_in(&app, "wrong password!").await;
        let unknown = app
            .post(
                "sign_in",
                &[("login_id", "nobody99"), ("password", "wrong password!")],
            )
            .await;
        assert_eq!(known.status(), unknown.status(), "attempt {attempt}");
        assert_eq!(
            known.text().await.expect("body"),
            unknown.text().await.expect("body"),
            "attempt {attempt}"
        );
    }
}

#[tokio::test]
async fn sign_in_rotates_the_session_cookie() {
    let app = signed_out_app().await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let cookie_of = |r: &reqwest::Response| {
        r.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .split(';')
            .next()
            .expect("pair")
            .to_string()
    };
    let form = [("login_id", "master01"), ("password", PASSWORD)];
    let first = app.post_with(&plain, "sign_in", &form).await;
    let first_cookie = cookie_of(&first);
    let second = plain
        .post(format!("{}/api/sign_in", app.base))
        .header("origin", &app.base)
        .header("cookie", &first_cookie)
        .form(&form)
        .send()
        .await
        .expect("post");
    let second_cookie = cookie_of(&second);
    assert_ne!(first_cookie, second_cookie);
    let with = |c: String| {
        plain
            .get(format!("{}/", app.base))
            .header("cookie", c)
            .send()
    };
    assert_eq!(
        with(first_cookie).await.expect("get").headers()["location"],
        "/login"
    );
    assert_eq!(with(second_cookie).await.expect("get").status(), 200);
}

#[tokio::test]
async fn an_idle_session_expires_and_the_page_says_why() {
    let app = spawn_app().await;
    app.set_up().await;
    app.advance(Duration::minutes(29));
    assert_eq!(app.get("/").await.status(), 200);
    app.advance(Duration::minutes(30));
    let r = app.get("/").await;
    assert_eq!(r.headers()["location"], "/login?expired=1");
    assert!(r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .contains("Max-Age=0"));
    let r = app.post("user_counts", &[]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(r).await, "E-AUTH-003");
}

#[tokio::test]
async fn server_functions_need_a_session() {
    let app = spawn_app().await;
    app.set_up().await;
    let stranger = client();
    for function in ["user_counts", "audit_log", "shell_info"] {
        let r = app.post_with(&stranger, function, &[]).await;
        assert_eq!(r.status(), 401, "{function}");
        assert_eq!(error_code(r).await, "E-AUTH-003", "{function}");
    }
    let counts: serde_json::Value = app
        .post("user_counts", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(counts["total"], 1);
    assert_eq!(counts["masters"], 1);
}

#[tokio::test]
async fn sign_out_ends_the_session_and_is_audited() {
    let app = spawn_app().await;
    app.set_up().await;
    let r = app.post("sign_out", &[]).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .contains("Max-Age=0"));
    assert_eq!(app.get("/").await.headers()["location"], "/login");
    let actions: Vec<String> = app
        .backend
        .audit_entries(10)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["sign_out", "crl_publish", "ca_create", "setup"]);
}

#[tokio::test]
async fn state_changing_requests_from_other_sites_are_refused() {
    let app = spawn_app().await;
    let url = format!("{}/api/setup", app.base);
    let form = certdesk_tests::setup_form();
    let cases: [(&str, Option<&str>, Option<&str>); 3] = [
        ("foreign origin", Some("http://evil.example"), None),
        ("cross-site fetch", Some(&app.base), Some("cross-site")),
        ("no origin at all", None, None),
    ];
    for (name, origin, site) in cases {
        let mut req = app.client.post(&url).form(&form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        let r = req.send().await.expect("post");
        assert_eq!(r.status(), 403, "{name}");
        assert_eq!(error_code(r).await, "E-AUTH-005", "{name}");
    }
    assert!(app.backend.needs_setup(), "nothing was created");
    let r = app
        .client
        .post(&url)
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn signing_in_with_an_expired_cookie_keeps_the_new_session() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    app.advance(Duration::minutes(31));
    // The browser still sends the expired cookie with the sign-in.
    let r = sign_in(&app, PASSWORD).await;
    assert_eq!(r.status(), 200);
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(
        cookies.len(),
        1,
        "only the new session cookie, not also a clearing one: {cookies:?}"
    );
    assert_eq!(app.get("/audit").await.status(), 200);
}
