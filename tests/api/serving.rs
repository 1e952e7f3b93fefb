//! Serving the console beyond loopback (issue 16, items 2–4), attacked over HTTP: the Host
//! allowlist (421), the Origin check against the public URL, the first-run setup token, and
//! the headers every answer carries (HSTS, CSP with the page's nonce, no-store on /api/*,
//! COOP, the session cookie's name and `Secure` by scheme).

use certdesk_backend::{AttemptLimits, AttemptRate, SETUP_TOKEN_FILE};
use certdesk_tests::{
    client, error_code, setup_form, spawn_app, spawn_app_at, spawn_app_named, TestApp, PASSWORD,
};
use std::time::Duration;

/// The raw `Set-Cookie` values of an answer.
pub(crate) fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

pub(crate) fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

// --- Host allowlist -------------------------------------------------------------------------

#[tokio::test]
async fn a_request_for_a_foreign_host_is_answered_421_before_any_handler() {
    let app = spawn_app().await;
    let port = app.base.rsplit(':').next().expect("port").to_string();
    for (path, host) in [
        ("/", "evil.example".to_string()),
        ("/health", format!("evil.example:{port}")),
        ("/setup", "127.0.0.1".to_string()),
        (
            "/ca/ca.pem",
            format!("127.0.0.1:{}", port.parse::<u16>().expect("port") + 1),
        ),
        ("/pkg/certdesk.js", format!("192.168.1.5:{port}")),
    ] {
        let r = app
            .client
            .get(format!("{}{path}", app.base))
            .header("host", &host)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 421, "{path} with Host {host}");
        assert!(header(&r, "content-security-policy").is_some());
        let body: serde_json::Value = r.json().await.expect("coded JSON");
        assert_eq!(body["code"], "E-WEB-005", "{path}");
        let en = body["message"]["en"].as_str().expect("en");
        assert!(en.contains(&host) && en.contains(&app.base), "{en}");
        assert!(body["message"]["ja"]
            .as_str()
            .expect("ja")
            .contains("開き直して"));
    }
    // A state-changing request for a foreign host changes nothing.
    let r = app
        .client
        .post(format!("{}/api/setup", app.base))
        .header("host", "evil.example")
        .header("origin", "http://evil.example")
        .form(&setup_form())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 421);
    assert!(app.backend.needs_setup(), "nothing was created");
    // The loopback names of the listen port are the console's own.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let r = app
            .client
            .get(format!("{}/health", app.base))
            .header("host", &host)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{host}");
    }
}

#[tokio::test]
async fn with_a_public_url_only_its_authority_is_served() {
    let app = spawn_app_named("certdesk.test", |_| {}).await;
    assert_eq!(app.get("/health").await.status(), 200);
    let loopback = app.base.replace("certdesk.test", "127.0.0.1");
    let r = client()
        .get(format!("{loopback}/health"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 421, "the loopback name is not the public URL");
    assert_eq!(error_code(r).await, "E-WEB-005");
}

// --- Origin (CSRF) --------------------------------------------------------------------------

/// POSTs the setup form with these `Origin` / `Sec-Fetch-Site` headers.
async fn post_setup(app: &TestApp, origin: Option<&str>, site: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(format!("{}/api/setup", app.base))
        .form(&setup_form());
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    if let Some(s) = site {
        req = req.header("sec-fetch-site", s);
    }
    req.send().await.expect("post")
}

#[tokio::test]
async fn an_origin_that_differs_in_scheme_or_port_is_refused() {
    let app = spawn_app().await;
    let port: u16 = app
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let other_port = format!("http://127.0.0.1:{}", port + 1);
    let https = app.base.replace("http://", "https://");
    for origin in [
        other_port.as_str(),
        https.as_str(),
        "http://127.0.0.1",
        "null",
    ] {
        let r = post_setup(&app, Some(origin), None).await;
        assert_eq!(r.status(), 403, "{origin}");
        assert_eq!(error_code(r).await, "E-AUTH-005", "{origin}");
        // A same-origin fetch with a foreign Origin is no better.
        let r = post_setup(&app, Some(origin), Some("same-origin")).await;
        assert_eq!(error_code(r).await, "E-AUTH-005", "{origin} + same-origin");
    }
    assert!(app.backend.needs_setup(), "nothing was created");

    // Over TLS the origin must be https, on the public URL's port.
    let tls = spawn_app_at(|addr| format!("https://{addr}")).await;
    assert!(tls.origin.starts_with("https://"));
    let plain = tls.origin.replace("https://", "http://");
    let r = post_setup(&tls, Some(&plain), None).await;
    assert_eq!(error_code(r).await, "E-AUTH-005");
    assert!(tls.backend.needs_setup());
    let r = post_setup(&tls, Some(&tls.origin), None).await;
    assert_eq!(r.status(), 200, "the public URL's own origin");
}

#[tokio::test]
async fn sec_fetch_site_none_on_a_post_is_refused() {
    let app = spawn_app().await;
    let r = post_setup(&app, None, Some("none")).await;
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "E-AUTH-005");
    let r = post_setup(&app, Some(&app.base), Some("none")).await;
    assert_eq!(
        error_code(r).await,
        "E-AUTH-005",
        "even with a matching Origin"
    );
    assert!(app.backend.needs_setup(), "nothing was created");
    let r = post_setup(&app, Some(&app.base), Some("same-origin")).await;
    assert_eq!(r.status(), 200);
}

// --- Headers --------------------------------------------------------------------------------

#[tokio::test]
async fn hsts_is_sent_when_the_public_url_is_https_and_never_otherwise() {
    let plain = spawn_app().await;
    for path in ["/setup", "/health", "/ca/ca.pem"] {
        let r = plain.get(path).await;
        assert!(header(&r, "strict-transport-security").is_none(), "{path}");
    }
    let tls = spawn_app_at(|addr| format!("https://{addr}")).await;
    for path in ["/setup", "/health", "/login", "/style/main.css"] {
        let r = tls.get(path).await;
        assert_eq!(
            header(&r, "strict-transport-security").as_deref(),
            Some("max-age=31536000"),
            "{path}"
        );
    }
}

/// The nonce in a page's `Content-Security-Policy`, after checking the policy's script rules.
pub(crate) fn nonce_of(policy: &str) -> String {
    let script_src = policy
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .expect("script-src");
    assert!(!script_src.contains("'unsafe-inline'"), "{policy}");
    assert!(script_src.contains("'wasm-unsafe-eval'"), "{policy}");
    assert!(policy.contains("object-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    script_src
        .split_whitespace()
        .find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\''))
        .expect("a nonce")
        .to_string()
}

/// Every `<script` tag of `html` carries `nonce="{nonce}"`, and there is at least one.
pub(crate) fn assert_scripts_carry(html: &str, nonce: &str, page: &str) {
    let tags: Vec<&str> = html
        .match_indices("<script")
        .map(|(at, _)| &html[at..at + html[at..].find('>').expect("tag end")])
        .collect();
    assert!(!tags.is_empty(), "{page}: the hydration script");
    for tag in tags {
        assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "{page}: {tag}");
    }
}

#[tokio::test]
async fn pages_carry_a_csp_whose_nonce_is_on_every_script_tag() {
    let app = spawn_app().await;
    let r = app.get("/setup").await;
    let first = nonce_of(&header(&r, "content-security-policy").expect("CSP"));
    assert_scripts_carry(&r.text().await.expect("body"), &first, "/setup");
    let again = app.get("/setup").await;
    let second = nonce_of(&header(&again, "content-security-policy").expect("CSP"));
    assert_ne!(first, second, "a new nonce for every page");
    assert!(first.len() >= 16, "{first}");

    assert_eq!(app.set_up().await.status(), 200);
    // The dashboard renders async (its resources are streamed in inline scripts) and the
    // others in order; both kinds of page carry the nonce on every script.
    for path in [
        "/",
        "/users",
        "/certificates",
        "/audit",
        "/settings",
        "/distribution",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        let nonce = nonce_of(&header(&r, "content-security-policy").expect("CSP"));
        let html = r.text().await.expect("body");
        assert_scripts_carry(&html, &nonce, path);
        assert!(!html.contains(" onclick="), "{path}: no inline handler");
    }
    // Answers that are not pages get the policy without a nonce.
    let r = app.get("/health").await;
    let policy = header(&r, "content-security-policy").expect("CSP on every answer");
    assert!(
        policy.contains("script-src 'self' 'wasm-unsafe-eval'"),
        "{policy}"
    );
    // The password sheet's print button runs from a file of the console's own, not inline.
    let r = app.get("/sheet/print.js").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").is_some_and(|t| t.starts_with("text/javascript")));
    assert!(r.text().await.expect("body").contains("window.print()"));
}

#[tokio::test]
async fn every_api_answer_is_no_store_and_every_answer_has_coop() {
    let app = spawn_app().await;
    // Refused, succeeded, and unknown server functions alike.
    let refused = app.post("shell_info", &[]).await;
    assert_eq!(refused.status(), 401);
    let done = app.set_up().await;
    assert_eq!(done.status(), 200);
    let ok = app.post("shell_info", &[]).await;
    assert_eq!(ok.status(), 200);
    let unknown = app.post("no_such_function", &[]).await;
    for (what, r) in [
        ("refused", &refused),
        ("done", &done),
        ("ok", &ok),
        ("unknown", &unknown),
    ] {
        assert_eq!(
            header(r, "cache-control").as_deref(),
            Some("no-store"),
            "{what}"
        );
        assert_eq!(
            header(r, "cross-origin-opener-policy").as_deref(),
            Some("same-origin"),
            "{what}"
        );
    }
    for path in ["/", "/health", "/ca/ca.pem", "/nowhere"] {
        let r = app.get(path).await;
        assert_eq!(
            header(&r, "cross-origin-opener-policy").as_deref(),
            Some("same-origin"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_session_cookie_is_host_prefixed_and_secure_over_tls_only() {
    let plain = spawn_app().await;
    let r = plain.set_up().await;
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with("certdesk_session="), "{cookies:?}");
    assert!(!cookies[0].contains("Secure"), "{cookies:?}");

    let tls = spawn_app_at(|addr| format!("https://{addr}")).await;
    let r = tls.set_up().await;
    assert_eq!(r.status(), 200);
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    assert!(cookie.starts_with("__Host-certdesk_session="), "{cookie}");
    // What the __Host- prefix demands: Secure, Path=/, no Domain.
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attrs.contains(&"Secure"), "{cookie}");
    assert!(attrs.contains(&"Path=/"), "{cookie}");
    assert!(attrs.contains(&"HttpOnly") && attrs.contains(&"SameSite=Strict"));
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");

    // Only the __Host- cookie opens a session over TLS; the same token under the plain name
    // does not.
    let pair = attrs[0];
    let token = pair.split_once('=').expect("pair").1;
    let with_cookie = |c: String| {
        client()
            .get(format!("{}/", tls.base))
            .header("cookie", c)
            .send()
    };
    let r = with_cookie(pair.to_string()).await.expect("get");
    assert_eq!(r.status(), 200);
    let r = with_cookie(format!("certdesk_session={token}"))
        .await
        .expect("get");
    assert_eq!(
        (r.status().as_u16(), header(&r, "location").as_deref()),
        (303, Some("/login"))
    );
    // Signing out clears the __Host- cookie, again Secure.
    let r = client()
        .post(format!("{}/api/sign_out", tls.base))
        .header("origin", &tls.origin)
        .header("cookie", pair)
        .send()
        .await
        .expect("post");
    let cleared = set_cookies(&r);
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("__Host-certdesk_session=;")
                && c.contains("Max-Age=0")
                && c.contains("Secure")),
        "{cleared:?}"
    );
}

// --- Setup token ----------------------------------------------------------------------------

fn token_path(app: &TestApp) -> std::path::PathBuf {
    app.backend.settings().data_dir.join(SETUP_TOKEN_FILE)
}

async fn setup_with_token(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut form = setup_form();
    if let Some(t) = token {
        form.push(("setup_token", t));
    }
    app.post("setup", &form).await
}

fn users_in(app: &TestApp) -> i64 {
    app.database()
        .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
        .expect("count")
}

#[tokio::test]
async fn a_console_on_loopback_needs_no_setup_token() {
    let app = spawn_app().await;
    assert!(!token_path(&app).exists());
    let page = app.get("/setup").await.text().await.expect("body");
    assert!(!page.contains("data-testid=\"setup-token\""));
    assert_eq!(app.set_up().await.status(), 200);
}

#[tokio::test]
async fn a_console_other_machines_reach_is_set_up_only_with_the_token_serve_printed() {
    let app = spawn_app_named("certdesk.test", |_| {}).await;
    let path = token_path(&app);
    let token = std::fs::read_to_string(&path).expect("serve wrote the token");
    let token = token.trim().to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the token is for certdesk's own user");
    }
    // The page asks for it (in both languages).
    let page = app.get("/setup").await.text().await.expect("body");
    assert!(
        page.contains("data-testid=\"setup-token\""),
        "token field shown"
    );
    assert!(page.contains("name=\"setup_token\""));

    // Missing, empty, wrong: refused with the field named, nothing created.
    for (what, given, code) in [
        ("missing", None, "E-SETUP-003"),
        ("empty", Some(""), "E-SETUP-003"),
        ("wrong", Some("AAAAA-AAAAA-AAAAA-AAAAA"), "E-SETUP-004"),
        ("almost", Some(&token[..token.len() - 1]), "E-SETUP-004"),
    ] {
        let r = setup_with_token(&app, given).await;
        assert_eq!(r.status(), 403, "{what}");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["code"], code, "{what}");
        assert_eq!(body["field"], "setup_token", "{what}");
        for lang in ["ja", "en"] {
            let text = body["message"][lang].as_str().expect("message");
            assert!(text.contains("setup-token"), "{what}: {text}");
        }
        assert!(app.backend.needs_setup(), "{what}: nothing created");
        assert_eq!(users_in(&app), 0, "{what}");
    }
    assert!(path.exists(), "a refusal keeps the token");

    // The right one, typed in lower case with spaces for dashes: set up, file gone.
    let typed = token.to_lowercase().replace('-', " ");
    let r = setup_with_token(&app, Some(&typed)).await;
    assert_eq!(r.status(), 200);
    assert!(!app.backend.needs_setup());
    assert!(!path.exists(), "the token is deleted after setup");
    assert_eq!(app.get("/").await.status(), 200, "the master is signed in");
}

#[tokio::test]
async fn the_attempt_limit_still_holds_on_setup_with_the_token() {
    let hour = Duration::from_secs(3600);
    let limits = AttemptLimits {
        per_client: AttemptRate {
            burst: 3,
            period: hour,
        },
        overall: AttemptRate {
            burst: 1000,
            period: hour,
        },
    };
    let app = spawn_app_named("certdesk.test", |s| s.attempt_limits = limits).await;
    let token = std::fs::read_to_string(token_path(&app)).expect("token");
    for _ in 0..3 {
        let r = setup_with_token(&app, Some("WRONG")).await;
        assert_eq!(error_code(r).await, "E-SETUP-004");
    }
    // Even the right token waits once the bucket is empty.
    let r = setup_with_token(&app, Some(token.trim())).await;
    assert_eq!(r.status(), 429);
    assert!(header(&r, "retry-after").is_some());
    assert_eq!(error_code(r).await, "E-AUTH-010");
    assert!(app.backend.needs_setup());
}

#[tokio::test]
async fn the_headless_setup_needs_no_token() {
    let app = spawn_app_named("certdesk.test", |_| {}).await;
    assert!(app.backend.setup_token_required());
    let input = certdesk_backend::SetupInput {
        org_name: "株式会社テスト商事".into(),
        group_id: "G0001".into(),
        bank_code: "0001".into(),
        login_id: "master01".into(),
        name: "山田 太郎".into(),
        email: "taro@example.co.jp".into(),
        password: PASSWORD.into(),
        password_confirm: PASSWORD.into(),
    };
    // What `certdesk setup` calls.
    app.backend
        .set_up(input, certdesk_backend::Actor::Cli)
        .await
        .expect("set up without a token");
    assert!(!app.backend.setup_token_required());
    // The next start of `serve` removes the token left behind.
    assert!(token_path(&app).exists());
    assert_eq!(app.backend.issue_setup_token().expect("start"), None);
    assert!(!token_path(&app).exists());
}
