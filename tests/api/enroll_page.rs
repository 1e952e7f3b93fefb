//! The self-service enrolment page (issue 17) as the server gives it: `/enroll` without a
//! console session, refused with `E-WEB-006` over a plain-HTTP public URL other than the
//! loopback's; its script under its content hash; the enrolment bundle under `/enroll/pkg`
//! precompressed and cached for a year, by the same code as `/pkg` (the files here stand in for
//! `build_enroll_wasm`'s output).

use certdesk_tests::{spawn_app_named, spawn_app_with, TestApp};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

async fn get(app: &TestApp, path: &str, accept_encoding: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.base))
        .header("accept-encoding", accept_encoding)
        .send()
        .await
        .expect("request")
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii").to_string())
        .unwrap_or_default()
}

/// The value of `attr="…"` in `html` (the first one).
fn attribute(html: &str, attr: &str) -> String {
    let start = html.find(&format!("{attr}=\"")).expect(attr) + attr.len() + 2;
    html[start..][..html[start..].find('"').expect("closing quote")].to_string()
}

#[tokio::test]
async fn the_page_loads_its_hashed_script_and_the_release_bundle_without_a_session() {
    let app = spawn_app_with(|s| {
        let dir = s.data_dir.join("site/enroll");
        std::fs::create_dir_all(dir.join("pkg")).expect("pkg");
        for name in [
            "certdesk_enroll.0123456789abcdef.js",
            "certdesk_enroll.fedcba9876543210.wasm",
        ] {
            std::fs::write(dir.join("pkg").join(name), "identity").expect("file");
            std::fs::write(dir.join("pkg").join(format!("{name}.br")), "brotli").expect("br");
            std::fs::write(dir.join("pkg").join(format!("{name}.gz")), "gzip").expect("gz");
        }
        std::fs::write(
            dir.join("hash.txt"),
            "js: 0123456789abcdef\nwasm: fedcba9876543210\n",
        )
        .expect("hash.txt");
    })
    .await;
    let r = get(&app, "/enroll", "gzip").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), "no-store");
    let csp = header(&r, "content-security-policy");
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval';"),
        "{csp}"
    );
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let html = r.text().await.expect("page");
    assert!(html.contains("グループID / Group ID") && html.contains("登録コード / Enrolment code"));
    assert!(!html.contains("E-WEB-006"));
    // No inline script: the one script is a module file named by its content hash.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    let script = attribute(&html, "src");
    assert!(
        script.starts_with("/enroll/enroll.") && script.ends_with(".js") && script.len() == 34,
        "{script}"
    );
    assert_eq!(
        attribute(&html, "data-bundle-js"),
        "/enroll/pkg/certdesk_enroll.0123456789abcdef.js"
    );
    assert_eq!(
        attribute(&html, "data-bundle-wasm"),
        "/enroll/pkg/certdesk_enroll.fedcba9876543210.wasm"
    );

    let r = get(&app, &script, "gzip").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/javascript"));
    assert_eq!(header(&r, "cache-control"), IMMUTABLE);
    assert!(r.text().await.expect("js").contains("/api/enroll"));
    // Another hash is not this script.
    let r = get(&app, "/enroll/enroll.0000000000000000.js", "gzip").await;
    assert_eq!(r.status(), 404);

    for (accept, encoding, body) in [
        ("br, gzip", "br", "brotli"),
        ("gzip", "gzip", "gzip"),
        ("identity", "", "identity"),
    ] {
        let r = get(
            &app,
            "/enroll/pkg/certdesk_enroll.fedcba9876543210.wasm",
            accept,
        )
        .await;
        assert_eq!(r.status(), 200, "{accept}");
        assert_eq!(header(&r, "content-encoding"), encoding, "{accept}");
        assert_eq!(header(&r, "content-type"), "application/wasm");
        assert_eq!(header(&r, "cache-control"), IMMUTABLE, "{accept}");
        assert_eq!(r.text().await.expect("body"), body);
    }
    // A name that is not there is not cached for a year.
    let r = get(
        &app,
        "/enroll/pkg/certdesk_enroll.1111111111111111.wasm",
        "gzip",
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(header(&r, "cache-control"), "no-cache");
}

#[tokio::test]
async fn over_plain_http_on_the_lan_the_page_refuses_with_e_web_006_and_the_https_address() {
    let app = spawn_app_named("certs.example.test", |_| {}).await;
    let r = get(&app, "/enroll", "gzip").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("data-code=\"E-WEB-006\""), "{html}");
    assert!(html.contains("https://certs.example.test/enroll"), "{html}");
    assert!(html.contains("HTTPS が必要です") && html.contains("needs HTTPS"));
    // No form and no script: no key is ever made on such a page.
    assert!(
        !html.contains("<script") && !html.contains("id=\"code\""),
        "{html}"
    );
}
