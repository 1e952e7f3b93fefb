//! Distribution over real HTTP: every kind of `.p12` certdesk makes (single, bundle, pickup;
//! modern and compatible; RSA and ECDSA; ASCII and Japanese passwords) is imported by three
//! tools nobody here wrote (`tests/tools/check-p12.sh`: OpenSSL 3, NSS pk12util, Python
//! cryptography); the 24-hour window, key erasure and the pickup lock.

use certdesk_backend::Actor;
use certdesk_backend::Operation;
use certdesk_domain::lifecycle::RevocationReason;
use certdesk_domain::profile::KeyType;
use certdesk_domain::OperationKind;
use certdesk_domain::Role;
use certdesk_tests::{error_code, spawn_app, TestApp, PASSWORD};
use std::io::Read;
use std::path::Path;
use std::process::Command;
use time::Duration;

const CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/check-p12.sh");

async fn set_key_type(app: &TestApp, key_type: KeyType) {
    let mut profile = app.backend.issuing_profile().await.expect("profile");
    profile.key_type = key_type;
    app.backend
        .update_issuing_profile(profile, Actor::Cli)
        .await
        .expect("profile saved");
}

/// Adds a user and issues their certificate; returns (user id, friendly name).
async fn issued(app: &TestApp, login: &str, name: &str) -> (i64, String) {
    let id = app
        .backend
        .create_user(login, name, "u@example.co.jp", Role::General, Actor::Cli)
        .await
        .expect("user");
    let view = app
        .backend
        .apply_certificate_operation(id, Operation::Issue, Actor::Cli)
        .await
        .expect("issue")
        .expect("a certificate");
    (id, view.friendly_name)
}

fn check(file: &Path, password: &str, friendly: &str, profile: &str) {
    let out = Command::new("bash")
        .args([
            CHECK,
            &file.display().to_string(),
            password,
            friendly,
            profile,
        ])
        .output()
        .expect("run check-p12.sh");
    assert!(
        out.status.success(),
        "{} ({profile}) failed the importers:\n{}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn json(r: reqwest::Response) -> serde_json::Value {
    let status = r.status();
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

async fn post_json(app: &TestApp, function: &str, body: serde_json::Value) -> reqwest::Response {
    app.client
        .post(format!("{}/api/{function}", app.base))
        .header("origin", &app.base)
        .json(&body)
        .send()
        .await
        .expect("request")
}

async fn download(app: &TestApp, path: &str) -> reqwest::Response {
    app.get(path).await
}

async fn bytes_ok(app: &TestApp, path: &str) -> Vec<u8> {
    let r = download(app, path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.bytes().await.expect("body").to_vec()
}

#[tokio::test]
async fn every_kind_of_file_is_imported_by_openssl_nss_and_python() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let dir = tempfile::tempdir().expect("tmp");
    let mut checked = 0;
    for key_type in [KeyType::Rsa2048, KeyType::EcdsaP256] {
        set_key_type(&app, key_type).await;
        let k = key_type.as_str();
        for profile in ["modern", "compatible"] {
            // Single, with a Japanese typed password and with a generated one.
            let (single, friendly) =
                issued(&app, &format!("s{}{}", &k[..3], &profile[..3]), "山田 太郎").await;
            for typed in ["証明書パスワード2026", ""] {
                let created = json(
                    app.post(
                        "prepare_single",
                        &[
                            ("user_id", &single.to_string()),
                            ("profile", profile),
                            ("password", typed),
                        ],
                    )
                    .await,
                )
                .await;
                let password = if typed.is_empty() {
                    let slips = created["slips"].as_array().expect("slips");
                    assert_eq!(slips.len(), 1, "a generated password is shown once");
                    slips[0]["password"].as_str().expect("password").to_string()
                } else {
                    assert!(
                        created["slips"].as_array().expect("slips").is_empty(),
                        "a typed password is not echoed"
                    );
                    typed.to_string()
                };
                let token = created["token"].as_str().expect("token");
                let file = dir
                    .path()
                    .join(format!("{k}-{profile}-single-{}.p12", typed.len()));
                std::fs::write(
                    &file,
                    bytes_ok(&app, &format!("/distribution/{token}/file")).await,
                )
                .expect("write");
                check(&file, &password, &friendly, profile);
                checked += 1;
            }

            // Bundle of two: one ZIP, the passwords only in the separate CSV.
            let (b1, f1) = issued(
                &app,
                &format!("b1{}{}", &k[..3], &profile[..3]),
                "佐藤 花子",
            )
            .await;
            let (b2, f2) = issued(
                &app,
                &format!("b2{}{}", &k[..3], &profile[..3]),
                "鈴木 一郎",
            )
            .await;
            let created = json(
                post_json(
                    &app,
                    "prepare_bundle",
                    serde_json::json!({"user_ids": [b1, b2], "profile": profile}),
                )
                .await,
            )
            .await;
            let token = created["token"].as_str().expect("token").to_string();
            let zip_bytes = bytes_ok(&app, &format!("/distribution/{token}/file")).await;
            let csv = String::from_utf8(
                bytes_ok(&app, &format!("/distribution/{token}/passwords.csv")).await,
            )
            .expect("utf-8");
            let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).expect("a zip");
            assert_eq!(zip.len(), 2);
            for (slip, friendly) in created["slips"]
                .as_array()
                .expect("slips")
                .iter()
                .zip([&f1, &f2])
            {
                let login = slip["login_id"].as_str().expect("login");
                let password = slip["password"].as_str().expect("password");
                assert!(
                    csv.contains(&format!("{login},")) && csv.contains(password),
                    "{csv}"
                );
                let mut p12 = Vec::new();
                zip.by_name(&format!("{login}.p12"))
                    .expect("member")
                    .read_to_end(&mut p12)
                    .expect("read");
                let file = dir.path().join(format!("{k}-{profile}-bundle-{login}.p12"));
                std::fs::write(&file, &p12).expect("write");
                check(&file, password, friendly, profile);
                checked += 1;
            }
            for i in 0..zip.len() {
                let name = zip.by_index(i).expect("member").name().to_string();
                assert!(
                    name.ends_with(".p12"),
                    "only .p12 files in the ZIP, found {name}"
                );
            }
            let sheet =
                String::from_utf8(bytes_ok(&app, &format!("/distribution/{token}/sheet")).await)
                    .expect("html");
            assert_eq!(sheet.matches("class=\"slip\"").count(), 2);

            // Pickup: the file comes protected by the pickup password.
            let (p, friendly) =
                issued(&app, &format!("p{}{}", &k[..3], &profile[..3]), "髙橋 一郎").await;
            let created = json(
                post_json(
                    &app,
                    "prepare_pickups",
                    serde_json::json!({"user_ids": [p], "profile": profile}),
                )
                .await,
            )
            .await;
            let slip = &created["slips"][0];
            let number = slip["pickup_number"].as_str().expect("number");
            let password = slip["password"].as_str().expect("password");
            let r = pickup(&app, "G0001", number, password).await;
            assert_eq!(r.status(), 200);
            let file = dir.path().join(format!("{k}-{profile}-pickup.p12"));
            std::fs::write(&file, r.bytes().await.expect("body")).expect("write");
            check(&file, password, &friendly, profile);
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * 2 * (2 + 2 + 1));

    // No password and no key in the audit log.
    let audit = app.backend.audit_entries(500).await.expect("audit");
    assert!(audit.iter().any(|a| a.action == "key_download"));
    assert!(audit
        .iter()
        .all(|a| !a.detail.contains("password") && !a.detail.contains("PRIVATE KEY")));
}

async fn sign_in_again(app: &TestApp) {
    let r = app
        .post(
            "sign_in",
            &[("login_id", "master01"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 200);
}

async fn pickup(app: &TestApp, group: &str, number: &str, password: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/pickup/download", app.base))
        .header("origin", &app.base)
        .form(&[
            ("group_id", group),
            ("number", number),
            ("password", password),
        ])
        .send()
        .await
        .expect("request")
}

/// The refusal code a pickup answer carries (the page is redirected to `?error=CODE`).
fn refusal(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), 303, "a refusal goes back to the page");
    let location = r.headers()["location"].to_str().expect("ascii").to_string();
    assert!(location.starts_with("/pickup?error="), "{location}");
    r.headers()["x-certdesk-error"]
        .to_str()
        .expect("ascii")
        .to_string()
}

#[tokio::test]
async fn a_pickup_works_again_for_24_hours_then_the_key_is_erased() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let (id, _) = issued(&app, "taro0001", "佐藤 太郎").await;
    let created = json(
        post_json(
            &app,
            "prepare_pickups",
            serde_json::json!({"user_ids": [id], "profile": "modern"}),
        )
        .await,
    )
    .await;
    let number = created["slips"][0]["pickup_number"]
        .as_str()
        .expect("number")
        .to_string();
    let password = created["slips"][0]["password"]
        .as_str()
        .expect("password")
        .to_string();

    // Unknown numbers and wrong group IDs look like "not created yet or already retrieved".
    assert_eq!(
        refusal(&pickup(&app, "G0001", "0000-0000-0000", &password).await),
        "E-PICKUP-001"
    );
    assert_eq!(
        refusal(&pickup(&app, "G9999", &number, &password).await),
        "E-PICKUP-001"
    );

    // Typed with spaces instead of hyphens, it is the same number.
    let spaced = number.replace('-', " ");
    assert_eq!(
        pickup(&app, "g0001", &spaced, &password).await.status(),
        200
    );
    app.advance(Duration::hours(23));
    assert_eq!(
        pickup(&app, "G0001", &number, &password).await.status(),
        200,
        "again within 24 hours"
    );
    app.advance(Duration::hours(1));
    assert_eq!(
        refusal(&pickup(&app, "G0001", &number, &password).await),
        "E-PICKUP-001"
    );

    // The sweep erases the key and says so in the audit log; the admin export refuses too
    // (after signing in again: a day without activity ended the session).
    sign_in_again(&app).await;
    assert_eq!(app.backend.sweep_distribution().await.expect("sweep"), 1);
    let audit = app.backend.audit_entries(50).await.expect("audit");
    assert!(audit
        .iter()
        .any(|a| a.action == "key_erase" && a.target.as_deref() == Some("taro0001")));
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
    assert_eq!(r.status(), 409);
    assert_eq!(error_code(r).await, "E-DIST-003");
}

#[tokio::test]
async fn five_wrong_pickup_passwords_lock_the_number_until_an_admin_resets_it() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let (id, _) = issued(&app, "taro0001", "佐藤 太郎").await;
    let created = json(
        post_json(
            &app,
            "prepare_pickups",
            serde_json::json!({"user_ids": [id], "profile": "compatible"}),
        )
        .await,
    )
    .await;
    let number = created["slips"][0]["pickup_number"]
        .as_str()
        .expect("number")
        .to_string();
    let password = created["slips"][0]["password"]
        .as_str()
        .expect("password")
        .to_string();
    // Every refusal is the one an unknown number gets (tests/api/abuse_distribution.rs);
    // the 5th wrong password still locks the number.
    for _ in 1..=5 {
        let r = pickup(&app, "G0001", &number, "wrong-password").await;
        assert_eq!(refusal(&r), "E-PICKUP-001");
        assert_eq!(
            r.headers()["location"].to_str().expect("ascii"),
            format!("/pickup?error=E-PICKUP-001&group_id=G0001&number={number}")
        );
    }
    assert_eq!(
        refusal(&pickup(&app, "G0001", &number, &password).await),
        "E-PICKUP-001",
        "even the right one"
    );
    assert_eq!(
        app.post("reset_pickup", &[("user_id", &id.to_string())])
            .await
            .status(),
        200
    );
    assert_eq!(
        pickup(&app, "G0001", &number, &password).await.status(),
        200
    );

    // After a reissue the pickup stays bound to its (now revoked) certificate: it never hands
    // out the new certificate's key.
    app.backend
        .apply_certificate_operation(
            id,
            Operation::new(
                OperationKind::parse("reissue").expect("op"),
                RevocationReason::parse("key_compromise"),
            ),
            Actor::Cli,
        )
        .await
        .expect("reissue");
    assert_eq!(
        refusal(&pickup(&app, "G0001", &number, &password).await),
        "E-PICKUP-001"
    );
}

#[tokio::test]
async fn refusals_are_named_and_prepared_files_expire() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let none = app
        .backend
        .create_user(
            "nocert01",
            "未発行 花子",
            "n@example.co.jp",
            Role::General,
            Actor::Cli,
        )
        .await
        .expect("user");
    let r = app
        .post(
            "prepare_single",
            &[
                ("user_id", &none.to_string()),
                ("profile", "modern"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(error_code(r).await, "E-DIST-002");
    let (id, _) = issued(&app, "taro0001", "佐藤 太郎").await;
    let r = app
        .post(
            "prepare_single",
            &[
                ("user_id", &id.to_string()),
                ("profile", "modern"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let e: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("E-DIST-001"), Some("password"))
    );
    assert_eq!(
        error_code(
            post_json(
                &app,
                "prepare_bundle",
                serde_json::json!({"user_ids": [], "profile": "modern"})
            )
            .await
        )
        .await,
        "E-CERT-011"
    );

    let created = json(
        app.post(
            "prepare_single",
            &[
                ("user_id", &id.to_string()),
                ("profile", "modern"),
                ("password", ""),
            ],
        )
        .await,
    )
    .await;
    let token = created["token"].as_str().expect("token");
    app.advance(Duration::hours(24));
    sign_in_again(&app).await;
    let r = download(&app, &format!("/distribution/{token}/file")).await;
    assert_eq!(r.status(), 410);
    assert_eq!(error_code(r).await, "E-DIST-004");
    // Never downloaded, so the key is still held: a new file can be prepared.
    assert_eq!(
        app.post(
            "prepare_single",
            &[
                ("user_id", &id.to_string()),
                ("profile", "modern"),
                ("password", "")
            ]
        )
        .await
        .status(),
        200
    );

    // A revoked certificate's key goes at the next sweep.
    app.backend
        .apply_certificate_operation(
            id,
            Operation::new(
                OperationKind::parse("revoke").expect("op"),
                RevocationReason::parse("key_compromise"),
            ),
            Actor::Cli,
        )
        .await
        .expect("revoke");
    assert_eq!(app.backend.sweep_distribution().await.expect("sweep"), 1);

    // Signed out: no downloads.
    assert_eq!(app.post("sign_out", &[]).await.status(), 200);
    assert_eq!(
        error_code(download(&app, &format!("/distribution/{token}/file")).await).await,
        "E-AUTH-003"
    );
}
