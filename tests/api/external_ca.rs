//! The lifecycle through a real cfssl (Debian's golang-cfssl), checked with `openssl verify`
//! against cfssl's CA, and every fault between certdesk and the CA mapped to its code with
//! nothing recorded as issued.

use certdesk_backend::audit::Actor;
use certdesk_backend::certificates::Operation;
use certdesk_backend::external_ca::CaBackendInput;
use certdesk_domain::external_ca::{CaBackendKind, CfsslSettings};
use certdesk_domain::lifecycle::{CertificateState, RevocationReason};
use certdesk_domain::Role;
use certdesk_tests::cfssl::{fault_proxy, start_cfssl, Cfssl, Fault, AUTH_PROFILE};
use certdesk_tests::{spawn_app, TestApp};
use std::process::Command;
use std::time::Duration;

async fn app_with_users(n: usize) -> (TestApp, Vec<i64>) {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let mut ids = Vec::new();
    for i in 0..n {
        let id = app
            .backend
            .create_user(
                &format!("user{i:04}"),
                "佐藤 太郎",
                &format!("u{i}@example.co.jp"),
                Role::General,
                Actor::Cli,
            )
            .await
            .expect("user");
        ids.push(id);
    }
    (app, ids)
}

/// Points the organisation at `url` (cfssl or a proxy in front of it).
async fn use_cfssl(app: &TestApp, url: &str, key_hex: &str, total_timeout_s: u32) {
    app.backend
        .update_ca_backend(
            CaBackendInput {
                kind: CaBackendKind::Cfssl,
                cfssl: CfsslSettings {
                    url: url.into(),
                    profile: AUTH_PROFILE.into(),
                    connect_timeout_s: 1,
                    total_timeout_s,
                    ..CfsslSettings::default()
                },
                auth_key: key_hex.into(),
                proxy_password: String::new(),
            },
            Actor::Cli,
        )
        .await
        .expect("settings saved");
}

/// `openssl verify -CAfile <cfssl's ca.pem>` of the certificate with `serial`.
async fn verify(app: &TestApp, cfssl: &Cfssl, serial: &str) -> (bool, String) {
    let der = app
        .backend
        .certificate_der(serial.to_string())
        .await
        .expect("der");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("c.der"), der).expect("write");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("openssl");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    assert!(run(&["x509", "-inform", "DER", "-in", "c.der", "-out", "c.pem"]).0);
    let ca = cfssl.ca_pem();
    run(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        ca.to_str().expect("path"),
        "c.pem",
    ])
}

fn issued_count(app: &TestApp) -> i64 {
    app.database()
        .query_row("SELECT count(*) FROM certificates", [], |r| r.get(0))
        .expect("count")
}

#[tokio::test]
async fn issue_renew_reissue_and_revoke_go_through_cfssl_and_verify_with_openssl() {
    let cfssl = start_cfssl();
    let (app, users) = app_with_users(1).await;
    let user = users[0];
    use_cfssl(&app, &cfssl.url(), &cfssl.auth_key_hex, 10).await;

    let first = app
        .backend
        .apply_certificate_operation(user, Operation::Issue, Actor::Cli)
        .await
        .expect("issue")
        .expect("a certificate");
    let (ok, out) = verify(&app, &cfssl, &first.serial).await;
    assert!(ok, "{out}");
    assert!(
        first.subject.contains("CN=user0000 A001 "),
        "{}",
        first.subject
    );
    assert_eq!(cfssl.status_of(&first.serial).expect("at cfssl").0, "good");
    let (not_before, not_after) = (
        time::OffsetDateTime::parse(
            &first.not_before,
            &time::format_description::well_known::Rfc3339,
        )
        .expect("nb"),
        time::OffsetDateTime::parse(
            &first.not_after,
            &time::format_description::well_known::Rfc3339,
        )
        .expect("na"),
    );
    assert_eq!(
        (not_after - not_before).whole_days(),
        366,
        "cfssl profile: 8784 h"
    );

    // Renewal opens 40 days before expiry.
    app.advance(time::Duration::days(330));
    let renewed = app
        .backend
        .apply_certificate_operation(user, Operation::Renew, Actor::Cli)
        .await
        .expect("renew")
        .expect("a certificate");
    assert!(verify(&app, &cfssl, &renewed.serial).await.0);
    let (old, _) = app
        .backend
        .certificate_detail(first.serial.clone())
        .await
        .expect("detail");
    assert_eq!(old.state, CertificateState::Superseded);

    let reissued = app
        .backend
        .apply_certificate_operation(
            user,
            Operation::Reissue(Some(RevocationReason::KeyCompromise)),
            Actor::Cli,
        )
        .await
        .expect("reissue")
        .expect("a certificate");
    assert!(verify(&app, &cfssl, &reissued.serial).await.0);
    assert_eq!(
        cfssl.status_of(&renewed.serial).expect("at cfssl"),
        ("revoked".into(), 1)
    );

    let none = app
        .backend
        .apply_certificate_operation(
            user,
            Operation::Revoke(Some(RevocationReason::CessationOfOperation)),
            Actor::Cli,
        )
        .await
        .expect("revoke");
    assert!(none.is_none());
    assert_eq!(
        cfssl.status_of(&reissued.serial).expect("at cfssl"),
        ("revoked".into(), 5)
    );
    let overview = app.backend.certificate_overview().await.expect("overview");
    let current = overview
        .iter()
        .find(|u| u.user_id == user)
        .and_then(|u| u.current.clone());
    assert_eq!(current.expect("newest").state, CertificateState::Revoked);
    // Every request finished, with its certificate.
    let open: i64 = app
        .database()
        .query_row(
            "SELECT count(*) FROM ca_requests WHERE state <> 'done'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(open, 0);
}

#[tokio::test]
async fn each_fault_between_certdesk_and_cfssl_maps_to_its_code_and_records_nothing() {
    let cfssl = start_cfssl();
    let (app, users) = app_with_users(1).await;
    let user = users[0];
    let cases = [
        (Fault::Refuse, "E-CA-001", "failed"),
        (
            Fault::Delay(Duration::from_millis(2500)),
            "E-CA-002",
            "unanswered",
        ),
        (Fault::Status500, "E-CA-003", "unanswered"),
        (Fault::WrongContentType, "E-CA-004", "unanswered"),
        (Fault::GarbageJson, "E-CA-005", "unanswered"),
        (Fault::Truncate, "E-CA-010", "unanswered"),
    ];
    for (fault, code, state) in cases {
        let url = fault_proxy(cfssl.addr, fault).await;
        use_cfssl(&app, &url, &cfssl.auth_key_hex, 1).await;
        // Through a bulk run, as the Certificates page does: it shows code and message per user.
        let job = app
            .backend
            .create_bulk(vec![user], Operation::Issue, Actor::Cli)
            .await
            .expect("job");
        let status = app.backend.run_bulk(job).await.expect("run");
        let item = &status.items[0];
        assert_eq!(item.status, "failed", "{fault:?}");
        assert_eq!(
            item.error_code.as_deref(),
            Some(code),
            "{fault:?}: {item:?}"
        );
        assert!(item.message_en.as_deref().is_some_and(|m| !m.is_empty()));
        assert!(item.message_ja.as_deref().is_some_and(|m| !m.is_empty()));
        assert_eq!(
            issued_count(&app),
            0,
            "{fault:?}: nothing recorded as issued"
        );
        let recorded: (String, String) = app
            .database()
            .query_row(
                "SELECT state, error_code FROM ca_requests ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("request row");
        assert_eq!(recorded, (state.to_string(), code.to_string()), "{fault:?}");
    }
    // The same path without a fault issues, and still only one valid certificate exists.
    let url = fault_proxy(cfssl.addr, Fault::Pass).await;
    use_cfssl(&app, &url, &cfssl.auth_key_hex, 5).await;
    let cert = app
        .backend
        .apply_certificate_operation(user, Operation::Issue, Actor::Cli)
        .await
        .expect("issue")
        .expect("a certificate");
    assert!(verify(&app, &cfssl, &cert.serial).await.0);
    assert_eq!(issued_count(&app), 1);
    // Earlier unanswered requests are reported as possible orphans at the CA, not forgotten.
    let orphans: i64 = app
        .database()
        .query_row(
            "SELECT count(*) FROM ca_requests WHERE state = 'orphan'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(orphans, 5);
}

#[tokio::test]
async fn a_wrong_hmac_key_is_an_authentication_failure_and_test_connection_names_the_step() {
    let cfssl = start_cfssl();
    let (app, users) = app_with_users(1).await;
    use_cfssl(&app, &cfssl.url(), &"ab".repeat(16), 5).await;
    let err = app
        .backend
        .apply_certificate_operation(users[0], Operation::Issue, Actor::Cli)
        .await
        .expect_err("refused");
    assert_eq!(err.code(), "E-CA-007");
    assert_eq!(issued_count(&app), 0);
    let steps = app.backend.test_ca_connection().await.expect("steps");
    let summary: Vec<(&str, bool, Option<&str>)> = steps
        .iter()
        .map(|s| (s.step.as_str(), s.ok, s.code.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            ("settings", true, None),
            ("info", true, None),
            ("auth", false, Some("E-CA-007"))
        ]
    );

    use_cfssl(&app, &cfssl.url(), &cfssl.auth_key_hex, 5).await;
    let steps = app.backend.test_ca_connection().await.expect("steps");
    assert!(steps.iter().all(|s| s.ok), "{steps:?}");
    assert_eq!(steps.len(), 3);
    let refused = fault_proxy(cfssl.addr, Fault::Refuse).await;
    use_cfssl(&app, &refused, &cfssl.auth_key_hex, 5).await;
    let steps = app.backend.test_ca_connection().await.expect("steps");
    assert_eq!(
        steps.last().and_then(|s| s.code.as_deref()),
        Some("E-CA-001")
    );
}

#[tokio::test]
async fn a_proxy_with_user_and_password_is_used_and_a_wrong_password_is_named() {
    let cfssl = start_cfssl();
    let (app, users) = app_with_users(1).await;
    let proxy = fault_proxy(cfssl.addr, Fault::ProxyAuth("certdesk:s3cret")).await;
    let settings = |password: &str| CaBackendInput {
        kind: CaBackendKind::Cfssl,
        cfssl: CfsslSettings {
            url: cfssl.url(),
            profile: AUTH_PROFILE.into(),
            connect_timeout_s: 2,
            total_timeout_s: 5,
            proxy_url: proxy.clone(),
            proxy_user: "certdesk".into(),
            ..CfsslSettings::default()
        },
        auth_key: cfssl.auth_key_hex.clone(),
        proxy_password: password.into(),
    };
    app.backend
        .update_ca_backend(settings("wrong"), Actor::Cli)
        .await
        .expect("saved");
    let err = app
        .backend
        .apply_certificate_operation(users[0], Operation::Issue, Actor::Cli)
        .await
        .expect_err("407");
    assert_eq!(err.code(), "E-CA-008");
    app.backend
        .update_ca_backend(settings("s3cret"), Actor::Cli)
        .await
        .expect("saved");
    let cert = app
        .backend
        .apply_certificate_operation(users[0], Operation::Issue, Actor::Cli)
        .await
        .expect("issue through the proxy")
        .expect("a certificate");
    assert!(verify(&app, &cfssl, &cert.serial).await.0);
    // The password is sealed, never stored or shown in clear.
    let view = app.backend.ca_backend().await.expect("view");
    assert!(view.proxy_password_set && view.auth_key_set);
    let stored: Vec<u8> = app
        .database()
        .query_row("SELECT proxy_password_sealed FROM ca_backend", [], |r| {
            r.get(0)
        })
        .expect("sealed");
    assert!(!stored.windows(6).any(|w| w == b"s3cret"));
}

#[tokio::test]
async fn the_settings_page_saves_the_ca_choice_and_tests_the_connection_step_by_step() {
    let cfssl = start_cfssl();
    let (app, _) = app_with_users(0).await;
    let page = app.get("/settings").await.text().await.expect("page");
    assert!(
        page.contains("発行に使う認証局"),
        "the section is on the page"
    );
    let timeout = app
        .post(
            "save_ca_backend",
            &[
                ("kind", "cfssl"),
                ("url", &cfssl.url()),
                ("profile", AUTH_PROFILE),
                ("auth_key", &cfssl.auth_key_hex),
                ("connect_timeout_s", "ten"),
                ("total_timeout_s", "30"),
                ("proxy_url", ""),
                ("proxy_user", ""),
                ("proxy_password", ""),
                ("ca_bundle_pem", ""),
            ],
        )
        .await;
    assert_eq!(timeout.status(), 422);
    let body: serde_json::Value = timeout.json().await.expect("json");
    assert_eq!(body["code"], "E-CA-023");
    assert_eq!(body["field"], "ca_total_timeout_s");
    let saved = app
        .post(
            "save_ca_backend",
            &[
                ("kind", "cfssl"),
                ("url", &cfssl.url()),
                ("profile", AUTH_PROFILE),
                ("auth_key", &cfssl.auth_key_hex),
                ("connect_timeout_s", "5"),
                ("total_timeout_s", "30"),
                ("proxy_url", ""),
                ("proxy_user", ""),
                ("proxy_password", ""),
                ("ca_bundle_pem", ""),
            ],
        )
        .await;
    assert_eq!(saved.status(), 200);
    let view: serde_json::Value = app
        .post("ca_backend", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(view["kind"], "Cfssl");
    assert_eq!(view["auth_key_set"], true);
    assert!(
        !view.to_string().contains(&cfssl.auth_key_hex),
        "the key is never sent back"
    );
    let steps: serde_json::Value = app
        .post("test_ca_connection", &[])
        .await
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = steps
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["ok"] == true)
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(names, ["settings", "info", "auth"]);
}

#[tokio::test]
async fn a_bulk_run_against_a_slow_ca_goes_on_user_by_user_and_reports_each_failure() {
    let cfssl = start_cfssl();
    let (app, users) = app_with_users(3).await;
    let slow = fault_proxy(cfssl.addr, Fault::Delay(Duration::from_millis(1500))).await;
    use_cfssl(&app, &slow, &cfssl.auth_key_hex, 1).await;
    let job = app
        .backend
        .create_bulk(users.clone(), Operation::Issue, Actor::Cli)
        .await
        .expect("job");
    let status = app.backend.run_bulk(job).await.expect("run");
    assert!(status.finished);
    assert_eq!((status.total, status.done, status.failed), (3, 0, 3));
    assert!(status
        .items
        .iter()
        .all(|i| i.error_code.as_deref() == Some("E-CA-002")));
    assert_eq!(issued_count(&app), 0);
    // Once the CA answers in time, the same users are issued, one valid certificate each.
    use_cfssl(&app, &cfssl.url(), &cfssl.auth_key_hex, 10).await;
    let job = app
        .backend
        .create_bulk(users, Operation::Issue, Actor::Cli)
        .await
        .expect("job");
    let status = app.backend.run_bulk(job).await.expect("run");
    assert_eq!((status.done, status.failed), (3, 0), "{:?}", status.items);
    assert_eq!(issued_count(&app), 3);
}
