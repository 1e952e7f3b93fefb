//! The headers and refusals of `serving.rs`, again over the real TLS listener of
//! `certdesk serve --public-url https://…` (rustls, the embedded CA's server certificate),
//! as a staff PC's browser meets them: HSTS, the CSP nonce on every script, COOP, no-store
//! on /api/*, the `__Host-` session cookie with `Secure`, 421 for a foreign `Host` (the TLS
//! name is right, the header is not), and an `Origin` of another scheme refused.

use crate::serving::{assert_scripts_carry, header, nonce_of, set_cookies};
use certdesk_tests::tls::{client_trusting, spawn_tls_app};
use certdesk_tests::{error_code, setup_form, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_every_answer_carries_the_serving_headers_and_the_limits_hold() {
    let (app, tls) = spawn_tls_app(&[]).await;

    // A page: HSTS, COOP, and a CSP whose nonce is on every script tag.
    let r = app.get("/").await;
    assert_eq!(r.status(), 200);
    let hsts = header(&r, "strict-transport-security").expect("HSTS over TLS");
    assert!(hsts.contains("max-age=31536000"), "{hsts}");
    assert_eq!(
        header(&r, "cross-origin-opener-policy").as_deref(),
        Some("same-origin")
    );
    let nonce = nonce_of(&header(&r, "content-security-policy").expect("CSP"));
    assert_scripts_carry(&r.text().await.expect("body"), &nonce, "/ over TLS");

    // A server function: no-store, HSTS.
    let r = app.post("dashboard", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    assert!(header(&r, "strict-transport-security").is_some());

    // Signing in again from a fresh browser: the session cookie is `__Host-` and `Secure`.
    let login_id = setup_form()
        .iter()
        .find(|(k, _)| *k == "login_id")
        .map(|(_, v)| v.to_string())
        .expect("login id");
    let fresh = client_trusting(&tls.ca_pem);
    let r = app
        .post_with(
            &fresh,
            "sign_in",
            &[("login_id", login_id.as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(
        cookies[0].starts_with("__Host-certdesk_session="),
        "{cookies:?}"
    );
    let attrs: Vec<&str> = cookies[0].split(';').map(str::trim).collect();
    assert!(
        attrs.contains(&"Secure") && attrs.contains(&"Path=/"),
        "{attrs:?}"
    );

    // A foreign Host over a good TLS connection (SNI localhost): 421 before any handler.
    let r = fresh
        .get(format!("{}/", tls.console))
        .header("host", "evil.example")
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 421);
    assert!(header(&r, "strict-transport-security").is_some());
    assert_eq!(error_code(r).await, "E-WEB-005");

    // An Origin of the same host and port over plain http is another origin: refused, and
    // nothing changes (the session still works).
    let r = fresh
        .post(format!("{}/api/sign_out", tls.console))
        .header(
            "origin",
            format!("http://localhost:{}", tls.console_port).as_str(),
        )
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "E-AUTH-005");
    let still = fresh
        .post(format!("{}/api/dashboard", tls.console))
        .header("origin", tls.console.as_str())
        .send()
        .await
        .expect("answer");
    assert_eq!(still.status(), 200, "the refused sign-out changed nothing");
}
