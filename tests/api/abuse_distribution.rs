//! Distribution attacked from outside (issue 15, items 4, 7 and 9): erased keys leave no bytes
//! in the database file or its WAL; a request with repeated or too many users; a second run
//! while one is unfinished; probing pickup numbers and passwords; unopened pickups that are
//! never collected.

use certdesk_backend::Actor;
use certdesk_backend::Operation;
use certdesk_domain::distribution::P12Profile;
use certdesk_domain::Role;
use certdesk_tests::{error_code, spawn_app, TestApp};
use std::io::Read;
use time::Duration;

/// Adds a user and issues their certificate; returns the user's id.
async fn issued(app: &TestApp, login: &str) -> i64 {
    let id = app
        .backend
        .create_user(
            login,
            "佐藤 太郎",
            "u@example.co.jp",
            Role::General,
            Actor::Cli,
        )
        .await
        .expect("user");
    app.backend
        .apply_certificate_operation(id, Operation::Issue, Actor::Cli)
        .await
        .expect("issue")
        .expect("a certificate");
    id
}

async fn json(r: reqwest::Response) -> serde_json::Value {
    let status = r.status();
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.database()
        .query_row(sql, [], |r| r.get(0))
        .expect("count")
}

/// Pieces of `blob` (48 bytes each, spread over it): a blob longer than a page is split over
/// overflow pages, so the scan looks for pieces rather than the whole.
fn pieces(blob: &[u8]) -> Vec<&[u8]> {
    let step = (blob.len() / 8).max(1);
    (0..blob.len().saturating_sub(48))
        .step_by(step)
        .map(|at| &blob[at..at + 48])
        .collect()
}

/// How many of `blob`'s pieces are anywhere in the database file or its WAL.
fn pieces_on_disk(app: &TestApp, blob: &[u8]) -> usize {
    let db = app.backend.settings().database_path();
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let mut bytes = std::fs::read(&db).expect("database file");
    bytes.extend(std::fs::read(&wal).unwrap_or_default());
    pieces(blob)
        .into_iter()
        .filter(|p| bytes.windows(p.len()).any(|w| w == *p))
        .count()
}

#[tokio::test]
async fn an_erased_key_and_an_erased_file_leave_no_bytes_in_the_database_file_or_the_wal() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let id = issued(&app, "taro0001").await;
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
    assert_eq!(
        app.get(&format!("/distribution/{token}/file"))
            .await
            .status(),
        200
    );
    let (sealed_key, sealed_file): (Vec<u8>, Vec<u8>) = {
        let db = app.database();
        let key = db
            .query_row("SELECT sealed FROM certificate_keys", [], |r| r.get(0))
            .expect("a sealed key");
        let file = db
            .query_row("SELECT sealed_file FROM deliveries", [], |r| r.get(0))
            .expect("a sealed file");
        (key, file)
    };
    // The scan finds them while they are kept.
    let all = pieces(&sealed_key).len();
    assert!(all >= 8);
    assert_eq!(
        pieces_on_disk(&app, &sealed_key),
        all,
        "the scan sees the key"
    );
    assert_eq!(
        pieces_on_disk(&app, &sealed_file),
        pieces(&sealed_file).len(),
        "the scan sees the file"
    );

    // 24 hours after the first download the sweep erases both.
    app.advance(Duration::hours(25));
    let run = certdesk_backend::jobs::sweep::run_once(&app.backend).await;
    assert_eq!(run.keys_erased.expect("sweep"), 1);
    assert_eq!(count(&app, "SELECT count(*) FROM certificate_keys"), 0);
    assert_eq!(pieces_on_disk(&app, &sealed_key), 0, "no piece of the key");
    assert_eq!(
        pieces_on_disk(&app, &sealed_file),
        0,
        "no piece of the file"
    );
}

#[tokio::test]
async fn more_than_100_users_in_one_request_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let audit_before = count(&app, "SELECT count(*) FROM audit_log");
    let ids: Vec<i64> = (1..=101).collect();
    for function in ["prepare_bundle", "prepare_pickups"] {
        let r = app
            .post_json(
                function,
                serde_json::json!({"user_ids": ids, "profile": "modern"}),
            )
            .await;
        assert_eq!(r.status(), 422, "{function}");
        assert_eq!(error_code(r).await, "E-DIST-005", "{function}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM deliveries"), 0);
    assert_eq!(count(&app, "SELECT count(*) FROM pickups"), 0);
    assert_eq!(count(&app, "SELECT count(*) FROM audit_log"), audit_before);
}

#[tokio::test]
async fn repeated_users_in_one_request_get_one_file_and_one_pickup_each() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let a = issued(&app, "taro0001").await;
    let b = issued(&app, "hana0002").await;
    // 300 entries, 2 users: under the limit once repeats are gone.
    let mut ids = vec![a; 150];
    ids.extend(vec![b; 150]);
    let created = json(
        app.post_json(
            "prepare_bundle",
            serde_json::json!({"user_ids": ids, "profile": "modern"}),
        )
        .await,
    )
    .await;
    assert_eq!(created["slips"].as_array().expect("slips").len(), 2);
    let token = created["token"].as_str().expect("token");
    let zip = app
        .get(&format!("/distribution/{token}/file"))
        .await
        .bytes()
        .await
        .expect("zip");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).expect("a zip");
    let mut names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).expect("member").name().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["hana0002.p12", "taro0001.p12"]);
    let mut p12 = Vec::new();
    zip.by_name("taro0001.p12")
        .expect("member")
        .read_to_end(&mut p12)
        .expect("read");
    assert!(!p12.is_empty());

    let created = json(
        app.post_json(
            "prepare_pickups",
            serde_json::json!({"user_ids": [a, a, b, a], "profile": "modern"}),
        )
        .await,
    )
    .await;
    assert_eq!(created["slips"].as_array().expect("slips").len(), 2);
    assert_eq!(count(&app, "SELECT count(*) FROM pickups"), 2);
}

#[tokio::test]
async fn a_second_run_is_refused_while_one_is_unfinished_and_names_it() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let a = issued(&app, "taro0001").await;
    let b = app
        .backend
        .create_user(
            "hana0002",
            "鈴木 花子",
            "h@example.co.jp",
            Role::General,
            Actor::Cli,
        )
        .await
        .expect("user");
    // A run recorded and not finished: what a restart leaves until it has resumed.
    let job = app
        .backend
        .create_bulk(vec![b], Operation::Issue, Actor::Cli)
        .await
        .expect("job");
    let runs = count(&app, "SELECT count(*) FROM bulk_jobs");
    let r = app
        .post_json(
            "start_certificate_run",
            serde_json::json!({"user_ids": [a], "operation": "renew", "reason": null}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["code"], "E-CERT-013");
    assert_eq!(body["run"], job, "the page can follow the run: {body}");
    assert!(
        body["message"]["en"]
            .as_str()
            .expect("en")
            .contains(&format!("#{job}")),
        "{body}"
    );
    let r = app
        .post_json(
            "prepare_bundle",
            serde_json::json!({"user_ids": [a], "profile": "modern"}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(error_code(r).await, "E-CERT-013");
    assert_eq!(count(&app, "SELECT count(*) FROM bulk_jobs"), runs);
    assert_eq!(count(&app, "SELECT count(*) FROM deliveries"), 0);

    // Once it has finished, a bundle is made.
    app.backend.run_bulk(job).await.expect("run");
    json(
        app.post_json(
            "prepare_bundle",
            serde_json::json!({"user_ids": [a, b], "profile": "modern"}),
        )
        .await,
    )
    .await;

    // A bundle being built holds the organisation's one run the same way.
    app.database()
        .execute(
            "INSERT INTO bundle_runs (actor, users, started_at) VALUES ('master01', 2, '2026-01-01T00:00:00.000000Z')",
            [],
        )
        .expect("a bundle in progress");
    let r = app
        .post_json(
            "start_certificate_run",
            serde_json::json!({"user_ids": [a], "operation": "renew", "reason": null}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(error_code(r).await, "E-DIST-006");
    let r = app
        .post_json(
            "prepare_bundle",
            serde_json::json!({"user_ids": [a], "profile": "modern"}),
        )
        .await;
    assert_eq!(error_code(r).await, "E-DIST-006");
    // A single file is not a run.
    json(
        app.post(
            "prepare_single",
            &[
                ("user_id", &a.to_string()),
                ("profile", "modern"),
                ("password", ""),
            ],
        )
        .await,
    )
    .await;
    // At start-up a bundle left unfinished by a stopped process is abandoned.
    assert_eq!(app.backend.abandon_bundle_runs().await.expect("abandon"), 1);
    json(
        app.post_json(
            "prepare_bundle",
            serde_json::json!({"user_ids": [a], "profile": "modern"}),
        )
        .await,
    )
    .await;
}

async fn pickup(app: &TestApp, number: &str, password: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/pickup/download", app.base))
        .header("origin", &app.base)
        .form(&[
            ("group_id", "G0001"),
            ("number", number),
            ("password", password),
        ])
        .send()
        .await
        .expect("request")
}

/// Everything a refused pickup answer shows: status, location, code header and body.
async fn answer(r: reqwest::Response) -> (u16, String, String, Vec<u8>) {
    let status = r.status().as_u16();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_string())
            .unwrap_or_default()
    };
    // The form's own group ID and number come back in the location (so that only the password
    // is typed again; tests/api/frictions.rs); the rest is the same for every refusal.
    let location = header("location");
    let location = location
        .split("&group_id=")
        .next()
        .unwrap_or_default()
        .to_string();
    let code = header("x-certdesk-error");
    (
        status,
        location,
        code,
        r.bytes().await.expect("body").to_vec(),
    )
}

/// Opens a pickup for `user` (as the command line would); returns (number, password).
async fn open_pickup(app: &TestApp, user: i64) -> (String, String) {
    let created = app
        .backend
        .prepare_pickups(vec![user], P12Profile::Modern, Actor::Cli)
        .await
        .expect("pickup");
    let slip = &created.slips[0];
    (
        slip.pickup_number.clone().expect("number"),
        slip.password.clone(),
    )
}

#[tokio::test]
async fn a_wrong_password_a_locked_number_and_an_unknown_number_get_the_same_answer() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let id = issued(&app, "taro0001").await;
    let (number, password) = open_pickup(&app, id).await;
    let unknown = if number == "1111-1111-1111" {
        "2222-2222-2222"
    } else {
        "1111-1111-1111"
    };
    let expected = answer(pickup(&app, unknown, &password).await).await;
    assert_eq!(expected.0, 303);
    assert_eq!(expected.1, "/pickup?error=E-PICKUP-001");
    assert_eq!(expected.2, "E-PICKUP-001");
    for attempt in 1..=5 {
        assert_eq!(
            answer(pickup(&app, &number, "wrong-password-1").await).await,
            expected,
            "wrong password, attempt {attempt}"
        );
    }
    // Counted and locked all the same (the console shows it)...
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM pickups WHERE failures = 5 AND locked_at IS NOT NULL"
        ),
        1
    );
    // ...while the answer, even to the right password, stays the one an unknown number gets.
    assert_eq!(
        answer(pickup(&app, &number, &password).await).await,
        expected
    );
    assert_eq!(
        answer(pickup(&app, unknown, "wrong-password-1").await).await,
        expected
    );
    assert_eq!(
        app.post("reset_pickup", &[("user_id", &id.to_string())])
            .await
            .status(),
        200
    );
    assert_eq!(pickup(&app, &number, &password).await.status(), 200);
}

#[tokio::test]
async fn an_unopened_pickup_expires_after_the_setting_and_its_key_is_erased() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let opened = issued(&app, "taro0001").await;
    let unopened = issued(&app, "hana0002").await;
    let (n1, p1) = open_pickup(&app, opened).await;
    let (n2, p2) = open_pickup(&app, unopened).await;

    // 14 days by default: the last minute still works...
    app.advance(Duration::days(14) - Duration::minutes(1));
    assert_eq!(pickup(&app, &n1, &p1).await.status(), 200);
    // ...the 14th day's end does not, and the sweep closes it and erases its key.
    app.advance(Duration::minutes(1));
    let refused = answer(pickup(&app, &n2, &p2).await).await;
    assert_eq!(refused.2, "E-PICKUP-001");
    app.backend.sweep_distribution().await.expect("sweep");
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM certificate_keys k JOIN certificates c ON c.id = k.certificate_id WHERE c.user_id = {unopened}"
            )
        ),
        0
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM certificate_keys k JOIN certificates c ON c.id = k.certificate_id WHERE c.user_id = {opened}"
            )
        ),
        1,
        "the opened pickup's key stays for its 24 hours"
    );
    let audit = app.backend.audit_entries(50).await.expect("audit");
    assert!(audit
        .iter()
        .any(|a| a.action == "pickup_expire" && a.target.as_deref() == Some("hana0002")));
    assert!(audit.iter().any(|a| a.action == "key_erase"
        && a.target.as_deref() == Some("hana0002")
        && a.detail.contains("pickup_expired")));
}

#[tokio::test]
async fn the_pickup_expiry_is_a_master_setting_of_1_to_365_days() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    for bad in ["0", "366"] {
        let r = app.post("save_pickup_expiry", &[("days", bad)]).await;
        assert_eq!(r.status(), 422, "{bad}");
        assert_eq!(error_code(r).await, "E-DIST-007");
    }
    assert_eq!(app.backend.pickup_expiry_days().await.expect("days"), 14);
    assert_eq!(
        app.post("save_pickup_expiry", &[("days", "3")])
            .await
            .status(),
        200
    );
    assert_eq!(app.backend.pickup_expiry_days().await.expect("days"), 3);
    let id = issued(&app, "taro0001").await;
    let (number, password) = open_pickup(&app, id).await;
    app.advance(Duration::days(3));
    assert_eq!(
        answer(pickup(&app, &number, &password).await).await.2,
        "E-PICKUP-001"
    );
}
