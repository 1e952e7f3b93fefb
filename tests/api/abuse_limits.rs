//! Anonymous routes under attack from outside: a flood of wrong sign-ins must neither exhaust
//! memory (argon2 takes 19 MiB a run) nor stall signed-in users, and sign-in, setup and the
//! pickup download are refused beyond a per-address and an overall budget.
//!
//! Clients bind to loopback aliases (127.0.0.2, ...: Linux routes all of 127/8 to `lo`), so
//! the server sees distinct peer addresses. Where a test is about one limit, the other limits
//! are set through `Settings::attempt_limits` so that the outcome does not depend on time:
//! a budget of N per hour is N now.

use certdesk_backend::{AttemptLimits, AttemptRate};
use certdesk_tests::{spawn_app_with, TestApp, PASSWORD};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

fn limits(per_client: u32, overall: u32) -> AttemptLimits {
    AttemptLimits {
        per_client: AttemptRate {
            burst: per_client,
            period: HOUR,
        },
        overall: AttemptRate {
            burst: overall,
            period: HOUR,
        },
    }
}

/// A set-up console (the master signed in on `app.client`) with these attempt limits.
async fn app_with(limits: AttemptLimits) -> TestApp {
    let app = spawn_app_with(|s| s.attempt_limits = limits).await;
    assert_eq!(app.set_up().await.status(), 200);
    app
}

/// A client whose requests come from 127.0.0.`last`.
fn client_at(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn sign_in_from(
    app: &TestApp,
    client: &reqwest::Client,
    login_id: &str,
    password: &str,
) -> reqwest::Response {
    app.post_with(
        client,
        "sign_in",
        &[("login_id", login_id), ("password", password)],
    )
    .await
}

fn audit_rows(app: &TestApp, action: &str) -> i64 {
    app.database()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE action = ?1",
            [action],
            |r| r.get(0),
        )
        .expect("count")
}

/// The code, the Retry-After seconds and the message of a refusal.
async fn refusal(resp: reqwest::Response) -> (String, u64, String, String) {
    let retry_after = resp
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    let body: serde_json::Value = resp.json().await.expect("json body");
    (
        body["code"].as_str().expect("code").to_string(),
        retry_after,
        body["message"]["ja"].as_str().expect("ja").to_string(),
        body["message"]["en"].as_str().expect("en").to_string(),
    )
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// The attempt limits are set out of the way here (a budget of 10,000), so that every one of
/// the 200 requests reaches the password check: what is tested is the cap on argon2 itself.
/// Without it the 200 would run at once (~3.8 GB).
#[tokio::test]
async fn two_hundred_concurrent_wrong_sign_ins_stay_under_150_mb_and_the_dashboard_still_answers() {
    const FLOOD: usize = 200;
    const CLIENTS: u8 = 8;
    let app = Arc::new(app_with(limits(10_000, 10_000)).await);
    let clients: Vec<_> = (0..CLIENTS).map(|i| client_at(2 + i)).collect();
    let sign_ins_before = audit_rows(&app, "sign_in");

    // Sample the resident set while the flood runs; the peak is what a server must survive.
    let baseline = vm_rss_kib();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(async move {
        let mut peak = vm_rss_kib();
        let mut tick = tokio::time::interval(Duration::from_millis(2));
        loop {
            tokio::select! {
                _ = tick.tick() => peak = peak.max(vm_rss_kib()),
                _ = stopped.changed() => return peak.max(vm_rss_kib()),
            }
        }
    });

    let start = Arc::new(tokio::sync::Barrier::new(FLOOD + 1));
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..FLOOD {
        let (app, client, start) = (
            Arc::clone(&app),
            clients[i % clients.len()].clone(),
            Arc::clone(&start),
        );
        flood.spawn(async move {
            start.wait().await;
            let r = sign_in_from(&app, &client, &format!("nobody{i:03}"), "wrong password!").await;
            let status = r.status().as_u16();
            let retry_after = r.headers().get("retry-after").cloned();
            let body: serde_json::Value = r.json().await.expect("json body");
            (
                status,
                body["code"].as_str().unwrap_or("").to_string(),
                retry_after,
            )
        });
    }
    start.wait().await;
    let dashboard = app.post("dashboard", &[]).await;
    assert_eq!(
        dashboard.status(),
        200,
        "a signed-in dashboard call answers during the flood"
    );

    let (mut wrong, mut busy) = (0, 0);
    while let Some(answer) = flood.join_next().await {
        match answer.expect("request task") {
            (401, code, _) if code == "E-AUTH-001" => wrong += 1,
            (503, code, Some(retry_after)) if code == "E-AUTH-009" => {
                assert_eq!(retry_after, "1");
                busy += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    stop.send(true).expect("sampler runs");
    let peak = sampler.await.expect("sampler");
    let growth_mib = peak.saturating_sub(baseline) / 1024;
    eprintln!(
        "flood of {FLOOD}: {wrong} checked (E-AUTH-001), {busy} busy (E-AUTH-009); resident {} MiB before, peak {} MiB (+{growth_mib} MiB)",
        baseline / 1024,
        peak / 1024
    );
    assert!(
        growth_mib < 150,
        "resident memory grew by {growth_mib} MiB (baseline {} MiB)",
        baseline / 1024
    );
    assert_eq!(wrong + busy, FLOOD);
    assert!(
        busy > 0,
        "200 at once are more than the permits: some must be refused as busy"
    );
    // A busy refusal writes nothing: only the checked attempts are in the audit log.
    assert_eq!(audit_rows(&app, "sign_in") - sign_ins_before, wrong as i64);
    // The master is not locked out by the flood and can still sign in.
    assert_eq!(
        sign_in_from(&app, &clients[0], "master01", PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn sign_ins_beyond_an_addresss_budget_are_refused_with_429_and_write_nothing() {
    let app = app_with(limits(3, 10_000)).await;
    let (a, b) = (client_at(2), client_at(3));
    for _ in 0..3 {
        assert_eq!(
            sign_in_from(&app, &a, "master01", "wrong password!")
                .await
                .status(),
            401
        );
    }
    let written = audit_rows(&app, "sign_in");
    let failures: u32 = app
        .database()
        .query_row(
            "SELECT failed_logins FROM users WHERE login_id = 'master01'",
            [],
            |r| r.get(0),
        )
        .expect("failures");

    let r = sign_in_from(&app, &a, "master01", "wrong password!").await;
    assert_eq!(r.status(), 429);
    let (code, retry_after, ja, en) = refusal(r).await;
    assert_eq!(code, "E-AUTH-010");
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert!(
        ja.contains("待って") && en.contains("try again"),
        "{ja} / {en}"
    );
    // Even the right password waits: the limit counts attempts, not failures.
    assert_eq!(
        sign_in_from(&app, &a, "master01", PASSWORD).await.status(),
        429
    );

    assert_eq!(
        audit_rows(&app, "sign_in"),
        written,
        "a refused attempt writes nothing"
    );
    let failures_after: u32 = app
        .database()
        .query_row(
            "SELECT failed_logins FROM users WHERE login_id = 'master01'",
            [],
            |r| r.get(0),
        )
        .expect("failures");
    assert_eq!(failures_after, failures, "nor counts against the account");

    // Another address has its own budget.
    assert_eq!(
        sign_in_from(&app, &b, "master01", PASSWORD).await.status(),
        200
    );
}

#[tokio::test]
async fn attempts_from_many_addresses_are_refused_once_the_overall_budget_is_spent() {
    // 5 overall: the setup took one.
    let app = app_with(limits(10_000, 5)).await;
    for last in 2..=5 {
        let r = sign_in_from(&app, &client_at(last), "nobody99", "wrong password!").await;
        assert_eq!(r.status(), 401, "127.0.0.{last}");
    }
    for last in 6..=8 {
        let r = sign_in_from(&app, &client_at(last), "nobody99", "wrong password!").await;
        assert_eq!(r.status(), 429, "127.0.0.{last}");
        assert_eq!(refusal(r).await.0, "E-AUTH-010");
    }
    // Signed-in work is not an attempt: the master's console still answers.
    assert_eq!(app.post("dashboard", &[]).await.status(), 200);
}

#[tokio::test]
async fn setup_attempts_are_limited_too() {
    let app = spawn_app_with(|s| s.attempt_limits = limits(1, 10_000)).await;
    let client = client_at(2);
    let bad = [("org_name", ""), ("password", "short")];
    let first = app.post_with(&client, "setup", &bad).await;
    assert_ne!(first.status(), 429, "the first attempt is answered");
    let second = app
        .post_with(&client, "setup", &certdesk_tests::setup_form())
        .await;
    assert_eq!(second.status(), 429);
    assert_eq!(refusal(second).await.0, "E-AUTH-010");
    assert!(app.backend.needs_setup(), "nothing was set up");
}

#[tokio::test]
async fn pickup_downloads_are_limited_per_address_and_a_browser_gets_a_page_to_read() {
    let app = app_with(limits(2, 10_000)).await;
    let client = client_at(2);
    let pickup = |accept: &'static str| {
        client
            .post(format!("{}/pickup/download", app.base))
            .header("origin", &app.base)
            .header("accept", accept)
            .form(&[
                ("group_id", "G0001"),
                ("number", "0000-0000-0000"),
                ("password", "not the password"),
            ])
            .send()
    };
    for _ in 0..2 {
        let r = pickup("*/*").await.expect("request");
        assert_eq!(
            r.status(),
            303,
            "answered: back to the page with the refusal"
        );
    }
    let r = pickup("*/*").await.expect("request");
    assert_eq!(r.status(), 429);
    assert_eq!(refusal(r).await.0, "E-AUTH-010");

    let page = pickup("text/html,application/xhtml+xml,*/*;q=0.8")
        .await
        .expect("request");
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    let html = page.text().await.expect("body");
    assert!(
        html.contains("E-AUTH-010") && html.contains("待って") && html.contains("try again"),
        "{html}"
    );
    assert!(
        html.contains("href=\"/pickup\""),
        "a way back to the pickup page"
    );
}

/// The enrolment API (`POST /api/enroll`, anonymous) takes the same attempt budget: beyond it
/// an address gets 429 `E-AUTH-010` with `Retry-After`, the refused request is not counted as
/// a wrong code, and another address is still answered.
#[tokio::test]
async fn enrolment_attempts_are_limited_per_address_and_a_refused_one_is_not_counted() {
    use certdesk_backend::Actor;
    let app = app_with(limits(3, 10_000)).await;
    let user = app
        .backend
        .create_user(
            "enrol001",
            "登録 一郎",
            "enrol001@example.co.jp",
            certdesk_domain::Role::General,
            Actor::Cli,
        )
        .await
        .expect("user");
    let slip = app
        .backend
        .open_enrolments(Actor::Cli, vec![user], false)
        .await
        .expect("opened")
        .remove(0);
    let enrol = |client: &reqwest::Client| {
        client
            .post(format!("{}/api/enroll", app.base))
            .header("origin", &app.base)
            .json(&serde_json::json!({
                "group_id": slip.group_id,
                "number": slip.number,
                "code": "AAAA-AAAA-AAAA",
                "csr": "AAAA",
            }))
            .send()
    };
    let failures = |app: &TestApp| -> i64 {
        app.database()
            .query_row("SELECT failures FROM enrolments", [], |r| r.get(0))
            .expect("failures")
    };
    let attacker = client_at(5);
    for _ in 0..3 {
        let r = enrol(&attacker).await.expect("request");
        assert_eq!(certdesk_tests::error_code(r).await, "E-ENROLL-002");
    }
    assert_eq!(failures(&app), 3);
    let r = enrol(&attacker).await.expect("request");
    assert_eq!(r.status(), 429);
    let (code, retry_after, _, _) = refusal(r).await;
    assert_eq!(code, "E-AUTH-010");
    assert!(retry_after > 0);
    assert_eq!(failures(&app), 3, "a refused attempt is not counted");
    // Another PC on the LAN is still answered.
    let r = enrol(&client_at(6)).await.expect("request");
    assert_eq!(certdesk_tests::error_code(r).await, "E-ENROLL-002");
    assert_eq!(failures(&app), 4);
}
