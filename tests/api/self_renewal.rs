//! Self-renewal on the check listener (issue 17), against the real TLS listeners: curl presents
//! the holder's certificate (made by "the browser", here rcgen, through `/api/enroll`) and
//! posts a new request to `/check/renew`; refusals outside the window, for a certificate that
//! is not current, with the setting off and from another origin; both routes' attempt limit.

use crate::enroll::{b64, csr_der, open, openssl_compare, rsa2048, user};
use base64::Engine;
use certdesk_backend::{Actor, AttemptLimits, AttemptRate, Operation};
use certdesk_domain::enrolment::{EnrolmentSettings, SelfRenewalOffer};
use certdesk_domain::lifecycle::RevocationReason;
use certdesk_tests::tls::{spawn_tls_app, spawn_tls_app_with};
use certdesk_tests::TestApp;
use std::path::Path;
use std::process::Command;
use time::Duration;

/// Enrols `login` through the TLS console; writes `<login>.pem` (certificate and key) in `dir`.
async fn enrolled_holder(app: &TestApp, dir: &Path, login: &str) -> (i64, Vec<u8>) {
    let id = user(app, login).await;
    let slip = open(app, id, false).await;
    let key = rsa2048();
    let r = crate::enroll::enrol(app, &slip, &slip.code, &b64(&csr_der(&key))).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    let cert = base64::engine::general_purpose::STANDARD
        .decode(body["certificate"].as_str().expect("certificate"))
        .expect("base64");
    let pem = certdesk_backend::pem("CERTIFICATE", &cert) + &key.serialize_pem();
    std::fs::write(dir.join(format!("{login}.pem")), pem).expect("write");
    (id, cert)
}

/// Moves the test clock 336 days on, into the renewal window of a 366-day certificate (the last
/// 40 days), and checks the check page now offers the renewal for `old`.
async fn into_the_window(app: &TestApp, old: &[u8]) {
    app.advance(Duration::days(366 - 30));
    let report = app
        .backend
        .check_certificate(Some(old.to_vec()))
        .await
        .expect("report");
    assert_eq!(report.self_renewal, SelfRenewalOffer::Offered);
}

/// curl POSTs `body` to `url` presenting `cert` (or none) with `origin`: `(status, body)`.
fn curl_post(
    dir: &Path,
    url: &str,
    cert: Option<&str>,
    origin: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let (status, json, _) = curl_post_from(dir, None, url, cert, origin, body);
    (status, json)
}

/// [`curl_post`] from the loopback address `from` (e.g. `127.0.0.2`: Linux routes all of
/// 127/8 to `lo`, so the server sees it as the peer), or curl's default; also returns the
/// response's header lines.
fn curl_post_from(
    dir: &Path,
    from: Option<&str>,
    url: &str,
    cert: Option<&str>,
    origin: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value, String) {
    std::fs::write(dir.join("req.json"), body.to_string()).expect("write");
    for stale in ["answer.json", "headers.txt"] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    let mut args = vec![
        "-sS",
        "--cacert",
        "ca.pem",
        "-o",
        "answer.json",
        "-D",
        "headers.txt",
        "-w",
        "%{http_code}",
        "-H",
        "content-type: application/json",
        "--data-binary",
        "@req.json",
    ];
    let origin_header = format!("origin: {origin}");
    args.extend(["-H", &origin_header]);
    if let Some(c) = cert {
        args.extend(["--cert", c]);
    }
    if let Some(address) = from {
        // `localhost` may resolve to ::1 first, which an IPv4 source cannot reach.
        args.extend(["-4", "--interface", address]);
    }
    args.push(url);
    let out = Command::new("curl")
        .args(&args)
        .current_dir(dir)
        .output()
        .expect("curl must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: u16 = String::from_utf8_lossy(&out.stdout)
        .parse()
        .expect("status");
    let text = std::fs::read_to_string(dir.join("answer.json")).unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    let headers = std::fs::read_to_string(dir.join("headers.txt")).unwrap_or_default();
    (status, json, headers)
}

fn state_of(app: &TestApp, cert_der: &[u8]) -> String {
    app.database()
        .query_row(
            "SELECT state FROM certificates WHERE cert_der = ?1",
            [cert_der],
            |r| r.get(0),
        )
        .expect("state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holder_renews_with_the_presented_certificate_inside_the_window_only() {
    let (app, tls) = spawn_tls_app(&[]).await;
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), &tls.ca_pem).expect("ca");
    let (_, old) = enrolled_holder(&app, d, "renew001").await;
    let renew = tls.check.replace("/check", "/check/renew");
    let origin = tls.check.trim_end_matches("/check").to_string();
    let new_key = rsa2048();
    let new_csr = csr_der(&new_key);
    let request = serde_json::json!({"csr": b64(&new_csr)});

    // Fresh: current, but the window is not open (E-CERT-003 with the date it opens).
    let report = app
        .backend
        .check_certificate(Some(old.clone()))
        .await
        .expect("report");
    assert!(
        matches!(report.self_renewal, SelfRenewalOffer::NotOpenYet { .. }),
        "{:?}",
        report.self_renewal
    );
    let (status, body) = curl_post(d, &renew, Some("renew001.pem"), &origin, &request);
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("E-CERT-003")),
        "{body}"
    );
    assert!(
        body["message"]["en"]
            .as_str()
            .unwrap_or("")
            .contains("Renewal opens on"),
        "{body}"
    );

    // Into the window (the last 40 days of 366).
    into_the_window(&app, &old).await;
    // Another origin, no certificate: refused.
    let (status, body) = curl_post(
        d,
        &renew,
        Some("renew001.pem"),
        "https://evil.example",
        &request,
    );
    assert_eq!((status, body["code"].as_str()), (403, Some("E-ENROLL-017")));
    let (status, body) = curl_post(d, &renew, None, &origin, &request);
    assert_eq!((status, body["code"].as_str()), (403, Some("E-ENROLL-016")));
    // A bad request: nothing issued.
    let (_, body) = curl_post(
        d,
        &renew,
        Some("renew001.pem"),
        &origin,
        &serde_json::json!({"csr": "AAAA"}),
    );
    assert_eq!(body["code"].as_str(), Some("E-ENROLL-006"));
    let issued = |app: &TestApp| -> i64 {
        app.database()
            .query_row("SELECT count(*) FROM certificates", [], |r| r.get(0))
            .expect("count")
    };
    assert_eq!(issued(&app), 1);

    // Renewed: the new certificate holds the new key; the old one is superseded, not revoked.
    let (status, first) = curl_post(d, &renew, Some("renew001.pem"), &origin, &request);
    assert_eq!(status, 200, "{first}");
    let first_der = base64::engine::general_purpose::STANDARD
        .decode(first["certificate"].as_str().expect("certificate"))
        .expect("base64");
    let (cert_key, csr_key, subject, _) = openssl_compare(&first_der, &new_csr);
    assert_eq!(cert_key, csr_key);
    assert!(subject.contains("CN=renew001"), "{subject}");
    assert_eq!(state_of(&app, &old), "superseded");
    assert_eq!(state_of(&app, &first_der), "valid");

    // The download was lost: the old certificate may try again; the unconfirmed one is revoked.
    let report = app
        .backend
        .check_certificate(Some(old.clone()))
        .await
        .expect("report");
    assert_eq!(report.self_renewal, SelfRenewalOffer::Offered);
    let (status, second) = curl_post(d, &renew, Some("renew001.pem"), &origin, &request);
    assert_eq!(status, 200, "{second}");
    assert_eq!(state_of(&app, &first_der), "revoked");
    let (status, body) = curl_post(
        d,
        &format!("{renew}/confirm"),
        Some("renew001.pem"),
        &origin,
        &serde_json::json!({"confirm_token": first["confirm_token"]}),
    );
    assert_eq!((status, body["code"].as_str()), (401, Some("E-ENROLL-014")));
    let (status, _) = curl_post(
        d,
        &format!("{renew}/confirm"),
        Some("renew001.pem"),
        &origin,
        &serde_json::json!({"confirm_token": second["confirm_token"]}),
    );
    assert_eq!(status, 204);
    // Confirmed: no more renewals from the old certificate.
    let (status, body) = curl_post(d, &renew, Some("renew001.pem"), &origin, &request);
    assert_eq!((status, body["code"].as_str()), (403, Some("E-ENROLL-016")));
    for (action, n) in [
        ("self_renewal_issue", 2),
        ("self_renewal_confirm", 1),
        ("certificate_renew", 1),
    ] {
        let got: i64 = app
            .database()
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = ?1",
                [action],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(got, n, "{action}");
    }
    assert_eq!(
        app.backend
            .dashboard()
            .await
            .expect("dashboard")
            .self_renewed,
        1
    );
    let kept: i64 = app
        .database()
        .query_row("SELECT count(*) FROM certificate_keys", [], |r| r.get(0))
        .expect("count");
    assert_eq!(kept, 0, "no private key of a holder is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_expired_and_switched_off_are_not_renewed() {
    let (app, tls) = spawn_tls_app(&[]).await;
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), &tls.ca_pem).expect("ca");
    let (revoked_id, revoked) = enrolled_holder(&app, d, "renew002").await;
    let (_, current) = enrolled_holder(&app, d, "renew003").await;
    app.backend
        .apply_certificate_operation(
            revoked_id,
            Operation::Revoke(Some(RevocationReason::KeyCompromise)),
            Actor::Cli,
        )
        .await
        .expect("revoked");
    let renew = tls.check.replace("/check", "/check/renew");
    let origin = tls.check.trim_end_matches("/check").to_string();
    let request = serde_json::json!({"csr": b64(&csr_der(&rsa2048()))});
    app.advance(Duration::days(366 - 30));

    let report = app
        .backend
        .check_certificate(Some(revoked))
        .await
        .expect("report");
    assert_eq!(report.self_renewal, SelfRenewalOffer::NotOffered);
    let (status, body) = curl_post(d, &renew, Some("renew002.pem"), &origin, &request);
    assert_eq!((status, body["code"].as_str()), (403, Some("E-ENROLL-016")));
    // A master turns self-renewal off.
    app.backend
        .set_enrolment_settings(
            EnrolmentSettings {
                validity_days: 14,
                self_renewal: false,
            },
            Actor::Cli,
        )
        .await
        .expect("off");
    let report = app
        .backend
        .check_certificate(Some(current.clone()))
        .await
        .expect("report");
    assert_eq!(report.self_renewal, SelfRenewalOffer::Disabled);
    let (status, body) = curl_post(d, &renew, Some("renew003.pem"), &origin, &request);
    assert_eq!((status, body["code"].as_str()), (403, Some("E-ENROLL-015")));
    // Expired (the test clock past its end): not offered, refused.
    app.backend
        .set_enrolment_settings(EnrolmentSettings::default(), Actor::Cli)
        .await
        .expect("on");
    app.advance(Duration::days(31));
    let report = app
        .backend
        .check_certificate(Some(current.clone()))
        .await
        .expect("report");
    assert_eq!(report.self_renewal, SelfRenewalOffer::NotOffered);
    let (status, body) = curl_post(d, &renew, Some("renew003.pem"), &origin, &request);
    assert_eq!((status, body["code"].as_str()), (403, Some("E-ENROLL-016")));
    let issued: i64 = app
        .database()
        .query_row("SELECT count(*) FROM certificates", [], |r| r.get(0))
        .expect("count");
    assert_eq!(issued, 2, "nothing issued on any refusal");
}

/// A budget of `per_client` attempts an hour per address (everyone's out of the way): within
/// a test it is that many, whatever the time.
fn attempt_limits(per_client: u32) -> AttemptLimits {
    let hour = std::time::Duration::from_secs(3600);
    AttemptLimits {
        per_client: AttemptRate {
            burst: per_client,
            period: hour,
        },
        overall: AttemptRate {
            burst: 10_000,
            period: hour,
        },
    }
}

fn audit_rows(app: &TestApp, action: &str) -> i64 {
    app.database()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = ?1",
            [action],
            |r| r.get(0),
        )
        .expect("count")
}

/// What a renewal or its confirmation writes: certificates, renewals (and which are
/// confirmed), and their audit rows.
fn renewal_writes(app: &TestApp) -> [i64; 6] {
    let count = |sql: &str| -> i64 { app.database().query_row(sql, [], |r| r.get(0)).expect(sql) };
    [
        count("SELECT count(*) FROM certificates"),
        count("SELECT count(*) FROM self_renewals"),
        count("SELECT count(*) FROM self_renewals WHERE confirmed_at IS NOT NULL"),
        audit_rows(app, "self_renewal_issue"),
        audit_rows(app, "self_renewal_confirm"),
        audit_rows(app, "certificate_renew"),
    ]
}

/// The `Retry-After` seconds among curl's dumped header lines.
fn retry_after(headers: &str) -> u64 {
    headers
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("retry-after")
                .then(|| value.trim().parse().expect("seconds"))
        })
        .unwrap_or_else(|| panic!("a Retry-After header in:\n{headers}"))
}

/// Both renewal routes take the attempt limit, attacked from outside over mutual TLS: an
/// address's first attempts are answered whatever they come to (here refused outside the
/// window, E-CERT-003, or for an unknown confirmation, E-ENROLL-014); beyond its budget it gets
/// 429 E-AUTH-010 with `Retry-After` even for a renewal that would now be issued, and the
/// refused renewal or confirmation writes nothing. Another address is still answered. Another
/// origin is refused as before, ahead of the limit (so it spends no attempt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_attempts_beyond_an_addresss_budget_are_refused_with_429_and_write_nothing() {
    const BUDGET: u32 = 3;
    const FLOODER: Option<&str> = Some("127.0.0.2");
    const NEIGHBOUR: Option<&str> = Some("127.0.0.3");
    let (app, tls) = spawn_tls_app_with(&[], |s| s.attempt_limits = attempt_limits(BUDGET)).await;
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), &tls.ca_pem).expect("ca");
    let (_, old) = enrolled_holder(&app, d, "renew010").await;
    let renew = tls.check.replace("/check", "/check/renew");
    let confirm = format!("{renew}/confirm");
    let origin = tls.check.trim_end_matches("/check").to_string();
    let request = serde_json::json!({"csr": b64(&csr_der(&rsa2048()))});
    let unknown_token = serde_json::json!({"confirm_token": "AAAA-AAAA-AAAA"});
    let holder = Some("renew010.pem");

    // Another origin, more often than the budget: refused before the limit is taken.
    for _ in 0..=BUDGET {
        let (status, body, _) =
            curl_post_from(d, FLOODER, &renew, holder, "https://evil.example", &request);
        assert_eq!((status, body["code"].as_str()), (403, Some("E-ENROLL-017")));
    }
    // Within the budget: answered, each refused for its own reason.
    for _ in 0..BUDGET - 1 {
        let (status, body, _) = curl_post_from(d, FLOODER, &renew, holder, &origin, &request);
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("E-CERT-003")),
            "{body}"
        );
    }
    let (status, body, _) = curl_post_from(d, FLOODER, &confirm, holder, &origin, &unknown_token);
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("E-ENROLL-014")),
        "{body}"
    );

    // Into the window: a renewal let through would now be issued.
    into_the_window(&app, &old).await;
    let written = renewal_writes(&app);

    // Beyond the budget: 429 E-AUTH-010 in both languages with Retry-After, on both routes.
    for (url, body) in [(&renew, &request), (&confirm, &unknown_token)] {
        let (status, refusal, headers) = curl_post_from(d, FLOODER, url, holder, &origin, body);
        assert_eq!(status, 429, "{url}: {}", refusal["code"]);
        assert_eq!(refusal["code"].as_str(), Some("E-AUTH-010"), "{refusal}");
        let (ja, en) = (
            refusal["message"]["ja"].as_str().unwrap_or(""),
            refusal["message"]["en"].as_str().unwrap_or(""),
        );
        assert!(
            ja.contains("待って") && en.contains("try again"),
            "{ja} / {en}"
        );
        assert!((1..=3600).contains(&retry_after(&headers)), "{headers}");
    }
    // Another origin is still refused as before, not as over the limit.
    let (status, body, _) =
        curl_post_from(d, FLOODER, &renew, holder, "https://evil.example", &request);
    assert_eq!((status, body["code"].as_str()), (403, Some("E-ENROLL-017")));
    assert_eq!(
        renewal_writes(&app),
        written,
        "a refused attempt writes nothing"
    );
    assert_eq!(state_of(&app, &old), "valid");

    // Another PC on the LAN has its own budget: the same request renews.
    let (status, renewed, _) = curl_post_from(d, NEIGHBOUR, &renew, holder, &origin, &request);
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(state_of(&app, &old), "superseded");
    let token = serde_json::json!({"confirm_token": renewed["confirm_token"]});
    // The right token from the flooded address is refused by the limit and confirms nothing.
    let (status, body, _) = curl_post_from(d, FLOODER, &confirm, holder, &origin, &token);
    assert_eq!((status, body["code"].as_str()), (429, Some("E-AUTH-010")));
    let unconfirmed = renewal_writes(&app);
    assert_eq!(
        (unconfirmed[2], unconfirmed[4]),
        (0, 0),
        "nothing confirmed"
    );
    let (status, body, _) = curl_post_from(d, NEIGHBOUR, &confirm, holder, &origin, &token);
    assert_eq!(status, 204, "{body}");
    assert_eq!(audit_rows(&app, "self_renewal_confirm"), 1);
}
