//! Self-service enrolment over HTTP against the real server (issue 17): the key is made by the
//! "browser" (here rcgen, as the holder), only its PKCS#10 request is sent, and the issued
//! certificate is checked with openssl. Every refusal of the issue's "Bad input" has its code
//! and stores nothing.

use base64::Engine;
use certdesk_backend::{Actor, CaBackendInput, Operation};
use certdesk_domain::enrolment::EnrolmentSlip;
use certdesk_domain::external_ca::{CaBackendKind, CfsslSettings};
use certdesk_domain::lifecycle::RevocationReason;
use certdesk_domain::Role;
use certdesk_tests::cfssl::{start_cfssl, AUTH_PROFILE};
use certdesk_tests::{error_code, spawn_app, TestApp};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData, RsaKeySize,
    SignatureAlgorithm, SigningKey, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use std::path::Path;
use std::process::Command;

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn rsa2048() -> KeyPair {
    KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).expect("RSA key")
}

/// A request as a browser might send it: a subject and a SAN certdesk must ignore.
pub fn csr_der(key: &impl SigningKey) -> Vec<u8> {
    let mut params = CertificateParams::new(vec!["evil.example".to_string()]).expect("params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Someone Else");
    dn.push(DnType::OrganizationName, "Evil Corp");
    dn.push(DnType::CountryName, "US");
    params.distinguished_name = dn;
    params
        .serialize_request(key)
        .expect("request")
        .der()
        .to_vec()
}

/// Signs with one key while naming another: a request without proof of possession.
struct Impostor<'a> {
    named: &'a KeyPair,
    signer: &'a KeyPair,
}

impl PublicKeyData for Impostor<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.named.der_bytes()
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.named.algorithm()
    }
}

impl SigningKey for Impostor<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.signer.sign(msg)
    }
}

pub async fn app_with_user(login: &str) -> (TestApp, i64) {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let id = user(&app, login).await;
    (app, id)
}

pub async fn user(app: &TestApp, login: &str) -> i64 {
    app.backend
        .create_user(
            login,
            "登録 花子",
            &format!("{login}@example.co.jp"),
            Role::General,
            Actor::Cli,
        )
        .await
        .expect("user")
}

pub async fn open(app: &TestApp, id: i64, reissue: bool) -> EnrolmentSlip {
    app.backend
        .open_enrolments(Actor::Cli, vec![id], reissue)
        .await
        .expect("opened")
        .remove(0)
}

pub async fn enrol(
    app: &TestApp,
    slip: &EnrolmentSlip,
    code: &str,
    csr: &str,
) -> reqwest::Response {
    app.post_json(
        "enroll",
        serde_json::json!({"group_id": slip.group_id, "number": slip.number, "code": code, "csr": csr}),
    )
    .await
}

fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// openssl's view of the issued certificate and the request: `(cert pubkey, csr pubkey, subject, text)`.
pub fn openssl_compare(cert_der: &[u8], csr: &[u8]) -> (String, String, String, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::write(d.join("cert.der"), cert_der).expect("write");
    std::fs::write(d.join("req.der"), csr).expect("write");
    (
        run(
            d,
            "openssl",
            &[
                "x509", "-inform", "DER", "-in", "cert.der", "-noout", "-pubkey",
            ],
        ),
        run(
            d,
            "openssl",
            &[
                "req", "-inform", "DER", "-in", "req.der", "-noout", "-pubkey",
            ],
        ),
        run(
            d,
            "openssl",
            &[
                "x509", "-inform", "DER", "-in", "cert.der", "-noout", "-subject", "-nameopt",
                "RFC2253",
            ],
        ),
        run(
            d,
            "openssl",
            &[
                "x509", "-inform", "DER", "-in", "cert.der", "-noout", "-text",
            ],
        ),
    )
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.database()
        .query_row(sql, [], |r| r.get(0))
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_certifies_the_browsers_key_and_certdesk_keeps_no_private_key() {
    let (app, id) = app_with_user("hanako01").await;
    let r = app.get("/api/enroll/profile").await;
    assert_eq!(r.status(), 200);
    let profile: serde_json::Value = r.json().await.expect("json");
    assert_eq!(profile["key_type"], "rsa2048");
    assert_eq!(profile["p12_profile"], "modern");

    let slip = open(&app, id, false).await;
    assert_eq!(slip.code.len(), 14, "ABCD-EFGH-JKLM");
    let key = rsa2048();
    let csr = csr_der(&key);
    // The code typed in lower case with spaces still opens it.
    let typed = slip.code.to_lowercase().replace('-', " ");
    let r = enrol(&app, &slip, &typed, &b64(&csr)).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["login_id"], "hanako01");
    assert_eq!(body["p12_profile"], "modern");
    assert_eq!(body["chain"].as_array().map(Vec::len), Some(1));
    let cert = base64::engine::general_purpose::STANDARD
        .decode(body["certificate"].as_str().expect("certificate"))
        .expect("base64");
    let (cert_key, csr_key, subject, text) = openssl_compare(&cert, &csr);
    assert_eq!(cert_key, csr_key, "the certificate holds the browser's key");
    assert!(subject.contains("CN=hanako01"), "{subject}");
    assert!(
        !subject.contains("Evil") && !subject.contains("Someone") && !subject.contains("C=US"),
        "{subject}"
    );
    assert!(
        !text.contains("evil.example"),
        "the request's SAN is ignored"
    );

    // Recorded as made by its holder, with no stored key (the SQL check of the issue).
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM certificates WHERE key_origin = 'holder' AND state = 'valid'"
        ),
        1
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM certificate_keys k JOIN certificates c ON c.id = k.certificate_id WHERE c.key_origin = 'holder'"),
        0
    );
    assert_eq!(count(&app, "SELECT count(*) FROM certificate_keys"), 0);
    // The Distribution page makes no server file for it.
    let r = app
        .post(
            "prepare_single",
            &[
                ("user_id", &id.to_string()),
                ("profile", "modern"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(error_code(r).await, "E-ENROLL-018");

    // Confirmed: the enrolment is used; the code answers "used" from then on.
    let token = body["confirm_token"].as_str().expect("token");
    let wrong = app
        .post_json("enroll/confirm", serde_json::json!({"group_id": slip.group_id, "number": slip.number, "confirm_token": "00"}))
        .await;
    assert_eq!(error_code(wrong).await, "E-ENROLL-014");
    let r = app
        .post_json("enroll/confirm", serde_json::json!({"group_id": slip.group_id, "number": slip.number, "confirm_token": token}))
        .await;
    assert_eq!(r.status(), 204);
    let r = enrol(&app, &slip, &slip.code, &b64(&csr_der(&rsa2048()))).await;
    assert_eq!(error_code(r).await, "E-ENROLL-004");
    assert_eq!(count(&app, "SELECT count(*) FROM certificates"), 1);
    for action in [
        "enrolment_open",
        "certificate_issue",
        "enrolment_issue",
        "enrolment_confirm",
    ] {
        assert_eq!(
            count(
                &app,
                &format!("SELECT count(*) FROM audit_log WHERE action = '{action}'")
            ),
            1,
            "{action}"
        );
    }
    // The code is never stored or logged.
    let plain = slip.code.replace('-', "");
    let audit: String = app
        .database()
        .query_row("SELECT group_concat(detail, ' ') FROM audit_log", [], |r| {
            r.get(0)
        })
        .expect("audit");
    assert!(!audit.contains(&plain) && !audit.contains(&slip.code));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_has_its_code_and_nothing_is_issued_or_counted() {
    let (app, id) = app_with_user("hanako02").await;
    let slip = open(&app, id, false).await;
    let key = rsa2048();
    let other = rsa2048();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "signed by another key",
            b64(&csr_der(&Impostor {
                named: &key,
                signer: &other,
            })),
            "E-ENROLL-008",
        ),
        (
            "another key type",
            b64(&csr_der(
                &KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key"),
            )),
            "E-ENROLL-009",
        ),
        (
            "another RSA size",
            b64(&csr_der(
                &KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_3072).expect("key"),
            )),
            "E-ENROLL-010",
        ),
        (
            "malformed DER",
            b64(&[0x30, 0x82, 0x01, 0x00, 0x02, 0x01]),
            "E-ENROLL-006",
        ),
        ("not base64", "@@@not base64@@@".to_string(), "E-ENROLL-006"),
        (
            "over 16 KiB",
            b64(&vec![0x30; 16 * 1024 + 1]),
            "E-ENROLL-007",
        ),
    ];
    for (what, csr, code) in &cases {
        let r = enrol(&app, &slip, &slip.code, csr).await;
        let status = r.status();
        assert_eq!(error_code(r).await, *code, "{what}");
        assert!(status.is_client_error(), "{what}: {status}");
    }
    // A well-formed request whose signature was altered.
    let mut altered = csr_der(&key);
    let last = altered.len() - 1;
    altered[last] ^= 0x55;
    let r = enrol(&app, &slip, &slip.code, &b64(&altered)).await;
    assert_eq!(error_code(r).await, "E-ENROLL-008");
    // A body far over the cap is refused before it is read. The server then closes that
    // connection, so this goes through a client of its own (the next request must not reuse
    // the closed connection from the shared pool).
    let r = certdesk_tests::client()
        .post(format!("{}/api/enroll", app.base))
        .header("origin", &app.origin)
        .json(&serde_json::json!({"group_id": "G0001", "number": slip.number, "code": slip.code, "csr": "A".repeat(200_000)}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 413);
    // A post from another site is refused.
    let r = app
        .client
        .post(format!("{}/api/enroll", app.base))
        .header("origin", "https://evil.example")
        .json(&serde_json::json!({"group_id": slip.group_id, "number": slip.number, "code": slip.code, "csr": b64(&csr_der(&key))}))
        .send()
        .await
        .expect("request");
    assert_eq!(error_code(r).await, "E-AUTH-005");

    assert_eq!(count(&app, "SELECT count(*) FROM certificates"), 0);
    assert_eq!(count(&app, "SELECT count(*) FROM ca_requests"), 0);
    assert_eq!(
        count(&app, "SELECT failures FROM enrolments"),
        0,
        "a right code is not counted"
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM enrolments WHERE pending_certificate_id IS NOT NULL"
        ),
        0
    );
    // The code still works afterwards.
    let r = enrol(&app, &slip, &slip.code, &b64(&csr_der(&key))).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_numbers_and_wrong_codes_answer_alike_and_five_wrong_codes_lock_until_reset() {
    let (app, id) = app_with_user("hanako03").await;
    let slip = open(&app, id, false).await;
    let csr = b64(&csr_der(&rsa2048()));
    let answer = |r: reqwest::Response| async move { (r.status(), r.text().await.expect("body")) };
    let mut unknown = slip.clone();
    unknown.number = if slip.number.starts_with('9') {
        "1111-2222-3333"
    } else {
        "9999-8888-7777"
    }
    .into();
    let unknown_answer = answer(enrol(&app, &unknown, &slip.code, &csr).await).await;
    let mut wrong_group = slip.clone();
    wrong_group.group_id = "G9999".into();
    let group_answer = answer(enrol(&app, &wrong_group, &slip.code, &csr).await).await;
    let wrong_answer = answer(enrol(&app, &slip, "AAAA-BBBB-CCCC", &csr).await).await;
    assert_eq!(unknown_answer, wrong_answer, "same status and body");
    assert_eq!(group_answer, wrong_answer);
    assert!(wrong_answer.1.contains("E-ENROLL-002"));
    assert_eq!(
        count(&app, "SELECT failures FROM enrolments"),
        1,
        "only the real number counts"
    );
    for _ in 0..4 {
        let r = enrol(&app, &slip, "AAAA-BBBB-CCCC", &csr).await;
        assert_eq!(error_code(r).await, "E-ENROLL-002");
    }
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM enrolments WHERE locked_at IS NOT NULL"
        ),
        1
    );
    // Locked: a wrong code still answers as for an unknown number; the right one hears "locked".
    let r = enrol(&app, &slip, "AAAA-BBBB-CCCC", &csr).await;
    assert_eq!(answer(r).await, wrong_answer);
    let r = enrol(&app, &slip, &slip.code, &csr).await;
    assert_eq!(error_code(r).await, "E-ENROLL-003");
    assert_eq!(count(&app, "SELECT count(*) FROM certificates"), 0);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM audit_log WHERE action = 'enrolment_lock'"
        ),
        1
    );
    // An admin resets it: a new code, the old one gone.
    let listed = app.backend.list_enrolments().await.expect("list");
    assert_eq!(listed[0].state.as_str(), "locked");
    let fresh = app
        .backend
        .reset_enrolment(Actor::Cli, id)
        .await
        .expect("reset");
    assert_eq!(fresh.number, slip.number);
    assert_ne!(fresh.code, slip.code);
    let r = enrol(&app, &slip, &slip.code, &csr).await;
    assert_eq!(error_code(r).await, "E-ENROLL-002");
    let r = enrol(&app, &fresh, &fresh.code, &csr).await;
    assert_eq!(r.status(), 200);
    let nobody = app
        .backend
        .reset_enrolment(Actor::Anonymous, id)
        .await
        .expect_err("anonymous");
    assert_eq!(nobody.code(), "E-AUTH-004");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_expires_after_its_validity_and_the_setting_is_1_to_90_days() {
    let (app, id) = app_with_user("hanako04").await;
    let settings = app.backend.enrolment_settings().await.expect("settings");
    assert_eq!((settings.validity_days, settings.self_renewal), (14, true));
    let mut bad = settings;
    bad.validity_days = 91;
    let e = app
        .backend
        .set_enrolment_settings(bad, Actor::Cli)
        .await
        .expect_err("91");
    assert_eq!(e.code(), "E-ENROLL-012");
    let slip = open(&app, id, false).await;
    app.advance(time::Duration::days(14));
    let r = enrol(&app, &slip, &slip.code, &b64(&csr_der(&rsa2048()))).await;
    assert_eq!(error_code(r).await, "E-ENROLL-005");
    assert_eq!(count(&app, "SELECT count(*) FROM certificates"), 0);
    assert_eq!(
        app.backend.list_enrolments().await.expect("list")[0]
            .state
            .as_str(),
        "expired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reissue_revokes_the_old_certificate_only_when_the_new_one_is_issued() {
    let (app, id) = app_with_user("hanako05").await;
    let old = app
        .backend
        .apply_certificate_operation(id, Operation::Issue, Actor::Cli)
        .await
        .expect("issued")
        .expect("a certificate");
    let refused = app
        .backend
        .open_enrolments(Actor::Cli, vec![id], false)
        .await
        .expect_err("holds a valid certificate");
    assert_eq!(refused.code(), "E-ENROLL-013");
    assert_eq!(count(&app, "SELECT count(*) FROM enrolments"), 0);
    let slip = open(&app, id, true).await;
    let state = |serial: &str| -> String {
        app.database()
            .query_row(
                "SELECT state FROM certificates WHERE serial = ?1",
                [serial],
                |r| r.get(0),
            )
            .expect("state")
    };
    assert_eq!(
        state(&old.serial),
        "valid",
        "still valid while the enrolment waits"
    );
    let r = enrol(&app, &slip, &slip.code, &b64(&csr_der(&rsa2048()))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(state(&old.serial), "revoked");
    assert_eq!(
        count(&app, "SELECT count(*) FROM certificates WHERE state = 'valid' AND key_origin = 'holder' AND via = 'reissue'"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_before_confirmation_supersedes_the_unsaved_certificate() {
    let (app, id) = app_with_user("hanako06").await;
    let slip = open(&app, id, false).await;
    let first: serde_json::Value = enrol(&app, &slip, &slip.code, &b64(&csr_der(&rsa2048())))
        .await
        .json()
        .await
        .expect("json");
    // The tab was closed before the download: the same code again.
    let r = enrol(&app, &slip, &slip.code, &b64(&csr_der(&rsa2048()))).await;
    assert_eq!(r.status(), 200);
    let second: serde_json::Value = r.json().await.expect("json");
    assert_ne!(first["certificate"], second["certificate"]);
    let rows: Vec<(String, Option<String>)> = app
        .database()
        .prepare("SELECT state, revocation_reason FROM certificates ORDER BY id")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        rows,
        vec![
            ("revoked".to_string(), Some("superseded".to_string())),
            ("valid".to_string(), None)
        ]
    );
    let confirm = |token: &serde_json::Value| {
        app.post_json(
            "enroll/confirm",
            serde_json::json!({"group_id": slip.group_id, "number": slip.number, "confirm_token": token}),
        )
    };
    assert_eq!(
        error_code(confirm(&first["confirm_token"]).await).await,
        "E-ENROLL-014"
    );
    assert_eq!(confirm(&second["confirm_token"]).await.status(), 204);
    let _ = RevocationReason::Superseded;
}

/// A stop between issuing and binding the certificate to the enrolment (two transactions)
/// leaves a valid holder-made certificate the enrolment does not point at. The same code
/// still works: that certificate is treated as the unsaved one and superseded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_issued_but_never_bound_to_its_enrolment_is_replaced_by_a_retry() {
    let (app, id) = app_with_user("hanako07").await;
    let slip = open(&app, id, false).await;
    let r = enrol(&app, &slip, &slip.code, &b64(&csr_der(&rsa2048()))).await;
    assert_eq!(r.status(), 200);
    // As the server left it had it stopped after step 3.
    app.database()
        .execute(
            "UPDATE enrolments SET pending_certificate_id = NULL, confirm_sha256 = NULL",
            [],
        )
        .expect("unbind");
    let r = enrol(&app, &slip, &slip.code, &b64(&csr_der(&rsa2048()))).await;
    assert_eq!(r.status(), 200, "the code still works");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM certificates WHERE state = 'valid'"
        ),
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM certificates WHERE revocation_reason = 'superseded'"
        ),
        1
    );
    // A certificate that is not this enrolment's (its key made by the server, issued while
    // the enrolment was open) is still refused: replacing it needs a reissue.
    let (app, id) = app_with_user("hanako08").await;
    let slip = open(&app, id, false).await;
    app.backend
        .apply_certificate_operation(id, certdesk_backend::Operation::Issue, Actor::Cli)
        .await
        .expect("issue");
    let r = enrol(&app, &slip, &slip.code, &b64(&csr_der(&rsa2048()))).await;
    assert_eq!(error_code(r).await, "E-ENROLL-013");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cfssl_certifies_the_holders_request_under_certdesks_subject() {
    let cfssl = start_cfssl();
    let (app, id) = app_with_user("hanako07").await;
    app.backend
        .update_ca_backend(
            CaBackendInput {
                kind: CaBackendKind::Cfssl,
                cfssl: CfsslSettings {
                    url: cfssl.url(),
                    profile: AUTH_PROFILE.into(),
                    connect_timeout_s: 1,
                    total_timeout_s: 10,
                    ..CfsslSettings::default()
                },
                auth_key: cfssl.auth_key_hex.clone(),
                proxy_password: String::new(),
            },
            Actor::Cli,
        )
        .await
        .expect("cfssl in use");
    let slip = open(&app, id, false).await;
    // cfssl would copy C=US from the request: refused before anything is sent or stored.
    let r = enrol(&app, &slip, &slip.code, &b64(&csr_der(&rsa2048()))).await;
    let code = error_code(r).await;
    assert_eq!(code, "E-ENROLL-020");
    assert_eq!(count(&app, "SELECT count(*) FROM ca_requests"), 0);
    assert_eq!(cfssl.count("good"), 0);
    // A request naming itself (CN, O) with a SAN: certdesk's names replace them, the SAN goes.
    let key = rsa2048();
    let mut params = CertificateParams::new(vec!["evil.example".to_string()]).expect("params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Someone Else");
    dn.push(DnType::OrganizationName, "Evil Corp");
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&key)
        .expect("request")
        .der()
        .to_vec();
    let r = enrol(&app, &slip, &slip.code, &b64(&csr)).await;
    let status = r.status();
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    let cert = base64::engine::general_purpose::STANDARD
        .decode(body["certificate"].as_str().expect("certificate"))
        .expect("base64");
    let (cert_key, csr_key, subject, text) = openssl_compare(&cert, &csr);
    assert_eq!(cert_key, csr_key);
    assert!(subject.contains("CN=hanako07"), "{subject}");
    assert!(
        !subject.contains("Evil") && !subject.contains("C=US"),
        "{subject}"
    );
    assert!(!text.contains("evil.example"), "{text}");
    // openssl verify against cfssl's CA, with the chain the browser got.
    let dir = tempfile::tempdir().expect("tmp");
    let chain: Vec<String> = body["chain"]
        .as_array()
        .expect("chain")
        .iter()
        .map(|c| {
            let der = base64::engine::general_purpose::STANDARD
                .decode(c.as_str().expect("der"))
                .expect("base64");
            certdesk_backend::pem("CERTIFICATE", &der)
        })
        .collect();
    std::fs::write(dir.path().join("chain.pem"), chain.join("")).expect("write");
    std::fs::write(
        dir.path().join("cert.pem"),
        certdesk_backend::pem("CERTIFICATE", &cert),
    )
    .expect("write");
    let out = run(
        dir.path(),
        "openssl",
        &["verify", "-CAfile", "chain.pem", "cert.pem"],
    );
    assert!(out.contains("cert.pem: OK"), "{out}");
    let serial: String = app
        .database()
        .query_row(
            "SELECT serial FROM certificates WHERE key_origin = 'holder' AND ca_kind = 'cfssl'",
            [],
            |r| r.get(0),
        )
        .expect("a cfssl certificate made by its holder");
    assert_eq!(cfssl.status_of(&serial).expect("at cfssl").0, "good");
    assert_eq!(count(&app, "SELECT count(*) FROM certificate_keys"), 0);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM ca_requests WHERE state = 'done'"
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notice_mail_names_the_page_and_the_number_but_never_the_code() {
    let (app, id) = app_with_user("hanako08").await;
    let slip = open(&app, id, false).await;
    let queued = app
        .backend
        .mail_enrolment_notices(Actor::Cli, vec![id])
        .await
        .expect("queued");
    assert_eq!(queued, 1);
    let (to, body): (String, String) = app
        .database()
        .query_row("SELECT to_addresses, body FROM mail_outbox", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("mail");
    assert_eq!(to, "hanako08@example.co.jp");
    assert!(
        body.contains("/enroll") && body.contains(&slip.number),
        "{body}"
    );
    assert!(!body.contains(&slip.code) && !body.contains(&slip.code.replace('-', "")));
    let refused = app
        .backend
        .mail_enrolment_notices(Actor::Anonymous, vec![id])
        .await
        .expect_err("anonymous");
    assert_eq!(refused.code(), "E-AUTH-004");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_p256_profile_takes_a_p256_request_and_refuses_rsa() {
    use certdesk_domain::profile::{IssuingProfile, KeyType};
    let (app, id) = app_with_user("hanako09").await;
    let current = app.backend.issuing_profile().await.expect("profile");
    app.backend
        .update_issuing_profile(
            IssuingProfile {
                key_type: KeyType::EcdsaP256,
                ..current
            },
            Actor::Cli,
        )
        .await
        .expect("profile");
    let profile: serde_json::Value = app
        .get("/api/enroll/profile")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(profile["key_type"], "ecdsa_p256");
    let slip = open(&app, id, false).await;
    let r = enrol(&app, &slip, &slip.code, &b64(&csr_der(&rsa2048()))).await;
    assert_eq!(error_code(r).await, "E-ENROLL-009");
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let csr = csr_der(&key);
    let r = enrol(&app, &slip, &slip.code, &b64(&csr)).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    let cert = base64::engine::general_purpose::STANDARD
        .decode(body["certificate"].as_str().expect("certificate"))
        .expect("base64");
    let (cert_key, csr_key, _, text) = openssl_compare(&cert, &csr);
    assert_eq!(cert_key, csr_key);
    assert!(
        text.contains("prime256v1") || text.contains("P-256"),
        "{text}"
    );
}
