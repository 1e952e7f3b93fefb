//! The lifecycle through the embedded CA, checked with the real `openssl` command line.

use certdesk_backend::Actor;
use certdesk_backend::Operation;
use certdesk_domain::lifecycle::{CertificateState, RevocationReason};
use certdesk_domain::profile::{IssuingProfile, KeyType};
use certdesk_domain::Role;
use certdesk_tests::{error_code, spawn_app, TestApp};
use std::path::Path;
use std::process::Command;
use time::Duration;

async fn app_with_user() -> (TestApp, i64) {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let id = app
        .backend
        .create_user(
            "taro0001",
            "佐藤 太郎",
            "taro@example.co.jp",
            Role::General,
            Actor::Cli,
        )
        .await
        .expect("user");
    (app, id)
}

async fn fetch(app: &TestApp, path: &str) -> String {
    let r = app.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.expect("body")
}

/// Saves what `path` serves as `dir/file`.
async fn save(app: &TestApp, dir: &Path, file: &str, path: &str) {
    std::fs::write(dir.join(file), fetch(app, path).await).expect("write");
}

/// `openssl verify -crl_check` of `cert` against ca.pem and crl.pem in `dir`.
fn verify_with_crl(dir: &Path, cert: &str) -> (bool, String) {
    openssl(
        dir,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            "crl.pem",
            cert,
        ],
    )
}

/// Runs openssl with `args`; returns (success, stdout + stderr).
fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn an_issued_certificate_verifies_with_openssl_and_fails_after_revocation() {
    let (app, user) = app_with_user().await;
    let cert = app
        .backend
        .apply_certificate_operation(user, Operation::Issue, Actor::Cli)
        .await
        .expect("issue")
        .expect("a certificate");
    assert_eq!(cert.state, CertificateState::Valid);
    assert_eq!(cert.serial.len(), 32, "128-bit serial in hex");
    assert_eq!(cert.days_left, 366);

    let dir = tempfile::tempdir().expect("tempdir");
    save(&app, dir.path(), "ca.pem", "/ca/ca.pem").await;
    save(
        &app,
        dir.path(),
        "cert.pem",
        &format!("/certificates/{}/cert.pem", cert.serial),
    )
    .await;

    let (ok, text) = openssl(dir.path(), &["verify", "-CAfile", "ca.pem", "cert.pem"]);
    assert!(ok && text.contains("cert.pem: OK"), "{text}");
    let (ok, text) = openssl(
        dir.path(),
        &[
            "verify",
            "-purpose",
            "sslclient",
            "-CAfile",
            "ca.pem",
            "cert.pem",
        ],
    );
    assert!(ok && text.contains("cert.pem: OK"), "{text}");

    let (_, text) = openssl(
        dir.path(),
        &[
            "x509", "-in", "cert.pem", "-noout", "-text", "-nameopt", "utf8",
        ],
    );
    // The CRL distribution point is the public URL's (the harness serves at its own port).
    let crl_uri = format!("URI:{}/ca/crl.der", app.base);
    for expected in [
        "CA:FALSE",
        "Digital Signature",
        "TLS Web Client Authentication",
        "X509v3 Authority Key Identifier",
        "X509v3 Subject Key Identifier",
        crl_uri.as_str(),
        "O=(0001)株式会社テスト商事, OU=(0001)certdesk CA - G1, CN=taro0001 A001 ",
        "Public-Key: (2048 bit)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let (_, serial) = openssl(
        dir.path(),
        &["x509", "-in", "cert.pem", "-noout", "-serial"],
    );
    assert_eq!(
        serial
            .trim()
            .trim_start_matches("serial=")
            .to_ascii_lowercase()
            .trim_start_matches('0'),
        cert.serial.trim_start_matches('0')
    );

    // Before revocation the CRL check passes.
    save(&app, dir.path(), "crl.pem", "/ca/crl.pem").await;
    let (ok, text) = verify_with_crl(dir.path(), "cert.pem");
    assert!(ok, "{text}");

    app.backend
        .apply_certificate_operation(
            user,
            Operation::Revoke(Some(RevocationReason::KeyCompromise)),
            Actor::Cli,
        )
        .await
        .expect("revoke");
    save(&app, dir.path(), "crl.pem", "/ca/crl.pem").await;
    let (ok, text) = verify_with_crl(dir.path(), "cert.pem");
    assert!(!ok, "a revoked certificate must not verify: {text}");
    assert!(text.contains("certificate revoked"), "{text}");

    let (_, crl) = openssl(dir.path(), &["crl", "-in", "crl.pem", "-noout", "-text"]);
    assert!(crl.contains("Key Compromise"), "{crl}");
    assert!(
        crl.contains("X509v3 CRL Number: \n                2"),
        "{crl}"
    );
    assert!(crl.contains(&cert.serial.to_ascii_uppercase()), "{crl}");
    let (ok, text) = openssl(
        dir.path(),
        &["crl", "-in", "crl.pem", "-noout", "-CAfile", "ca.pem"],
    );
    assert!(ok && text.contains("verify OK"), "{text}");

    let actions: Vec<String> = app
        .backend
        .audit_entries(20)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    for expected in [
        "ca_create",
        "certificate_issue",
        "certificate_revoke",
        "crl_publish",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} audited: {actions:?}"
        );
    }
}

#[tokio::test]
async fn renewal_opens_40_days_before_expiry_and_supersedes_the_old_certificate() {
    let (app, user) = app_with_user().await;
    let first = app
        .backend
        .apply_certificate_operation(user, Operation::Issue, Actor::Cli)
        .await
        .expect("issue")
        .expect("cert");

    app.advance(Duration::days(366 - 41));
    let err = app
        .backend
        .apply_certificate_operation(user, Operation::Renew, Actor::Cli)
        .await
        .expect_err("too early");
    assert_eq!(err.code(), "E-CERT-003");
    assert!(
        err.message().en.starts_with("Renewal opens on "),
        "{}",
        err.message().en
    );

    app.advance(Duration::days(1));
    let renewed = app
        .backend
        .apply_certificate_operation(user, Operation::Renew, Actor::Cli)
        .await
        .expect("renew")
        .expect("cert");
    assert_ne!(renewed.serial, first.serial);
    assert!(
        renewed.subject.contains("CN=taro0001 A002 "),
        "{}",
        renewed.subject
    );
    let (_, history) = app
        .backend
        .certificate_detail(renewed.serial.clone())
        .await
        .expect("detail");
    let states: Vec<CertificateState> = history.iter().map(|c| c.state).collect();
    assert_eq!(
        states,
        [CertificateState::Valid, CertificateState::Superseded]
    );
}

#[tokio::test]
async fn an_expired_certificate_is_not_renewed_but_a_new_one_is_issued() {
    let (app, user) = app_with_user().await;
    app.backend
        .apply_certificate_operation(user, Operation::Issue, Actor::Cli)
        .await
        .expect("issue");
    app.advance(Duration::days(367));
    let err = app
        .backend
        .apply_certificate_operation(user, Operation::Renew, Actor::Cli)
        .await
        .expect_err("expired");
    assert_eq!(err.code(), "E-CERT-004");
    let again = app
        .backend
        .apply_certificate_operation(user, Operation::Issue, Actor::Cli)
        .await
        .expect("issue")
        .expect("cert");
    let (_, history) = app
        .backend
        .certificate_detail(again.serial)
        .await
        .expect("detail");
    let states: Vec<CertificateState> = history.iter().map(|c| c.state).collect();
    assert_eq!(states, [CertificateState::Valid, CertificateState::Expired]);
}

#[tokio::test]
async fn reissue_revokes_and_issues_in_one_step_and_ecdsa_keys_verify_too() {
    let (app, user) = app_with_user().await;
    let profile = IssuingProfile {
        key_type: KeyType::EcdsaP256,
        ..IssuingProfile::default()
    };
    app.backend
        .update_issuing_profile(profile, Actor::Cli)
        .await
        .expect("profile");
    let first = app
        .backend
        .apply_certificate_operation(user, Operation::Issue, Actor::Cli)
        .await
        .expect("issue")
        .expect("cert");
    assert_eq!(first.key_type, "ecdsa_p256");

    let err = app
        .backend
        .apply_certificate_operation(user, Operation::Reissue(None), Actor::Cli)
        .await
        .expect_err("reason");
    assert_eq!(err.code(), "E-CERT-008");
    let second = app
        .backend
        .apply_certificate_operation(
            user,
            Operation::Reissue(Some(RevocationReason::Superseded)),
            Actor::Cli,
        )
        .await
        .expect("reissue")
        .expect("cert");
    let (_, history) = app
        .backend
        .certificate_detail(second.serial.clone())
        .await
        .expect("detail");
    let states: Vec<CertificateState> = history.iter().map(|c| c.state).collect();
    assert_eq!(states, [CertificateState::Valid, CertificateState::Revoked]);

    let dir = tempfile::tempdir().expect("tempdir");
    save(&app, dir.path(), "ca.pem", "/ca/ca.pem").await;
    save(
        &app,
        dir.path(),
        "new.pem",
        &format!("/certificates/{}/cert.pem", second.serial),
    )
    .await;
    save(
        &app,
        dir.path(),
        "old.pem",
        &format!("/certificates/{}/cert.pem", first.serial),
    )
    .await;
    save(&app, dir.path(), "crl.pem", "/ca/crl.pem").await;
    let verify = |f: &str| {
        openssl(
            dir.path(),
            &[
                "verify",
                "-crl_check",
                "-purpose",
                "sslclient",
                "-CAfile",
                "ca.pem",
                "-CRLfile",
                "crl.pem",
                f,
            ],
        )
    };
    assert!(verify("new.pem").0, "{}", verify("new.pem").1);
    let (ok, text) = verify("old.pem");
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    let (_, text) = openssl(dir.path(), &["x509", "-in", "new.pem", "-noout", "-text"]);
    assert!(text.contains("ASN1 OID: prime256v1"), "{text}");
}

#[tokio::test]
async fn two_simultaneous_issues_for_one_user_make_exactly_one_certificate() {
    let (app, user) = app_with_user().await;
    let (a, b) = tokio::join!(
        app.backend
            .apply_certificate_operation(user, Operation::Issue, Actor::Cli),
        app.backend
            .apply_certificate_operation(user, Operation::Issue, Actor::Cli),
    );
    let codes: Vec<&str> = [&a, &b]
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.code()))
        .collect();
    assert_eq!(codes, ["E-CERT-001"], "one succeeds, one is refused");
    let overview = app.backend.certificate_overview().await.expect("overview");
    let taro = overview
        .iter()
        .find(|u| u.login_id == "taro0001")
        .expect("taro");
    let (_, history) = app
        .backend
        .certificate_detail(taro.current.as_ref().expect("cert").serial.clone())
        .await
        .expect("detail");
    assert_eq!(history.len(), 1);
}

#[tokio::test]
async fn locked_users_get_no_certificate_and_public_ca_files_need_no_session() {
    let (app, _) = app_with_user().await;
    let admin = app
        .backend
        .create_user(
            "hanako01",
            "鈴木 花子",
            "hanako@example.co.jp",
            Role::Admin,
            Actor::Cli,
        )
        .await
        .expect("admin");
    app.backend
        .lock_user("hanako01", Actor::Cli)
        .await
        .expect("lock");
    let err = app
        .backend
        .lock_user("master01", Actor::Cli)
        .await
        .expect_err("last master");
    assert_eq!(err.code(), "E-USER-004");
    let err = app
        .backend
        .apply_certificate_operation(admin, Operation::Issue, Actor::Cli)
        .await
        .expect_err("locked");
    assert_eq!(err.code(), "E-CERT-005");

    let anonymous = certdesk_tests::client();
    for path in ["/ca/ca.pem", "/ca/ca.der", "/ca/crl.der", "/ca/crl.pem"] {
        let r = anonymous
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = anonymous
        .get(format!("{}/certificates/00/cert.pem", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(r).await, "E-AUTH-003");
}

#[tokio::test]
async fn the_crl_is_re_signed_once_a_day_even_without_revocations() {
    let (app, _) = app_with_user().await;
    assert_eq!(
        app.backend
            .refresh_crl(Duration::days(1))
            .await
            .expect("refresh"),
        None,
        "fresh after setup"
    );
    app.advance(Duration::hours(25));
    assert_eq!(
        app.backend
            .refresh_crl(Duration::days(1))
            .await
            .expect("refresh"),
        Some(2)
    );
    assert_eq!(
        app.backend
            .refresh_crl(Duration::days(1))
            .await
            .expect("refresh"),
        None
    );
    let dir = tempfile::tempdir().expect("tempdir");
    save(&app, dir.path(), "crl.pem", "/ca/crl.pem").await;
    let (_, text) = openssl(dir.path(), &["crl", "-in", "crl.pem", "-noout", "-text"]);
    assert!(
        text.contains("X509v3 CRL Number: \n                2"),
        "{text}"
    );
    assert!(text.contains("No Revoked Certificates."), "{text}");
}

#[tokio::test]
async fn the_issuing_profile_form_names_the_wrong_field_and_only_masters_may_save() {
    let (app, _) = app_with_user().await;
    let form = |validity: &'static str, window: &'static str| {
        vec![
            ("validity_days", validity),
            ("renewal_window_days", window),
            ("key_type", "ecdsa_p256"),
            ("friendly_name_template", "<organisation> <login ID>"),
            ("ca_name", "certdesk CA"),
            ("crl_next_update_days", "7"),
        ]
    };
    let r = app.post("save_issuing_profile", &form("abc", "40")).await;
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        (body["code"].as_str(), body["field"].as_str()),
        (Some("E-PROF-001"), Some("validity_days"))
    );
    let body: serde_json::Value = app
        .post("save_issuing_profile", &form("366", "366"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["code"], "E-PROF-002");

    assert_eq!(
        app.post("save_issuing_profile", &form("200", "30"))
            .await
            .status(),
        200
    );
    let profile = app.backend.issuing_profile().await.expect("profile");
    assert_eq!(
        (
            profile.validity_days,
            profile.renewal_window_days,
            profile.key_type
        ),
        (200, 30, KeyType::EcdsaP256)
    );
}
