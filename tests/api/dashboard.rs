//! The dashboard over HTTP with certificates at known distances from expiry: the counts, the
//! filtered list each count links to, "renew all in the window" and its CSV result.

use certdesk_backend::Actor;
use certdesk_backend::Operation;
use certdesk_domain::lifecycle::RevocationReason;
use certdesk_domain::profile::IssuingProfile;
use certdesk_domain::views::{BulkStatus, DashboardView, UserCertificates};
use certdesk_domain::Role;
use certdesk_tests::{error_code, spawn_app, TestApp};
use time::{Duration, OffsetDateTime};

/// Issues a certificate to a new user `login` so that it has `left` until expiry at `now`
/// (366-day validity), by issuing it at `now - (366 days - left)`.
async fn user_with_certificate(
    app: &TestApp,
    now: OffsetDateTime,
    login: &str,
    left: Duration,
) -> i64 {
    let id = add_user(app, login).await;
    app.set_now(now - (Duration::days(366) - left));
    app.backend
        .apply_certificate_operation(id, Operation::Issue, Actor::Cli)
        .await
        .expect("issue");
    app.set_now(now);
    id
}

async fn add_user(app: &TestApp, login: &str) -> i64 {
    app.backend
        .create_user(
            login,
            login,
            &format!("{login}@example.co.jp"),
            Role::General,
            Actor::Cli,
        )
        .await
        .expect("user")
}

/// Users in every bucket at `now`: valid 2, window 2, expiring7 1, expired 1, revoked 1,
/// never issued 2 (one of them the master).
async fn fixture() -> (TestApp, OffsetDateTime) {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let now = app.backend.clock().now();
    user_with_certificate(&app, now, "val00001", Duration::days(300)).await;
    // One second more than the window: renewal is not open yet.
    user_with_certificate(
        &app,
        now,
        "val00002",
        Duration::days(40) + Duration::seconds(1),
    )
    .await;
    // Exactly the window: renewal opens at this instant.
    user_with_certificate(&app, now, "win00001", Duration::days(40)).await;
    user_with_certificate(&app, now, "win00002", Duration::days(20)).await;
    user_with_certificate(&app, now, "exp70001", Duration::days(3)).await;
    user_with_certificate(&app, now, "old00001", Duration::days(-1)).await;
    let revoked = user_with_certificate(&app, now, "rev00001", Duration::days(200)).await;
    app.backend
        .apply_certificate_operation(
            revoked,
            Operation::Revoke(Some(RevocationReason::KeyCompromise)),
            Actor::Cli,
        )
        .await
        .expect("revoke");
    add_user(&app, "none0001").await;
    (app, now)
}

async fn dashboard(app: &TestApp) -> DashboardView {
    let r = app.post("dashboard", &[]).await;
    assert_eq!(r.status(), 200);
    r.json().await.expect("dashboard json")
}

async fn filtered(app: &TestApp, filter: &str) -> Vec<String> {
    let r = app
        .post_json(
            "certificate_overview_in",
            serde_json::json!({ "filter": filter }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let users: Vec<UserCertificates> = r.json().await.expect("json");
    users.into_iter().map(|u| u.login_id).collect()
}

#[tokio::test]
async fn counts_follow_the_window_and_expiry_boundaries_and_each_count_lists_its_users() {
    let (app, _) = fixture().await;
    let d = dashboard(&app).await;
    let c = d.counts;
    assert_eq!(
        (c.valid, c.window, c.expiring7, c.expired, c.revoked, c.none),
        (2, 2, 1, 1, 1, 2)
    );
    assert_eq!(d.renewal_window_days, 40);
    assert_eq!(filtered(&app, "window").await, ["win00001", "win00002"]);
    assert_eq!(filtered(&app, "valid").await, ["val00001", "val00002"]);
    assert_eq!(filtered(&app, "expiring7").await, ["exp70001"]);
    assert_eq!(filtered(&app, "expired").await, ["old00001"]);
    assert_eq!(filtered(&app, "revoked").await, ["rev00001"]);
    assert_eq!(filtered(&app, "none").await, ["master01", "none0001"]);
    assert_eq!(
        filtered(&app, "nonsense").await.len(),
        9,
        "an unknown filter shows all"
    );

    // The next expiries, soonest first, with days left; the chart counts the same five.
    let soonest: Vec<(&str, i64)> = d
        .upcoming
        .iter()
        .map(|u| (u.login_id.as_str(), u.days_left))
        .collect();
    assert_eq!(
        soonest,
        [
            ("exp70001", 3),
            ("win00002", 20),
            ("win00001", 40),
            ("val00002", 40),
            ("val00001", 300)
        ]
    );
    assert_eq!(d.weeks.len(), 57);
    assert_eq!(d.weeks.iter().map(|w| w.count).sum::<u32>(), 5);
}

#[tokio::test]
async fn renew_all_in_the_window_renews_exactly_those_users_and_the_result_downloads_as_csv() {
    let (app, _) = fixture().await;
    let status = renew_all(&app).await;
    let job = status.job_id;
    assert!(status.finished);
    assert_eq!((status.total, status.done, status.failed), (3, 3, 0));
    let c = dashboard(&app).await.counts;
    assert_eq!((c.valid, c.window, c.expiring7), (5, 0, 0));

    let csv = app.get(&format!("/bulk/{job}/result.csv")).await;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let bytes = csv.bytes().await.expect("body");
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "UTF-8 with BOM");
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].ends_with("run,operation,started_at,finished_at,login_id,name,status,serial,error_code,message_ja,message_en,item_finished_at"));
    for login in ["win00001", "win00002", "exp70001"] {
        assert!(
            lines.iter().any(|l| l.contains(&format!(",{login},"))
                && l.contains(",renew,")
                && l.contains(",done,")),
            "{login}: {text}"
        );
    }

    // Nothing is left in the window: a second click is refused as an empty selection.
    let again = app.post("renew_all_in_window", &[]).await;
    assert_eq!(error_code(again).await, "E-CERT-011");
}

/// Runs "renew all in the window" and waits for it to finish.
async fn renew_all(app: &TestApp) -> BulkStatus {
    let r = app.post("renew_all_in_window", &[]).await;
    assert_eq!(r.status(), 200);
    let job: i64 = r.json().await.expect("job id");
    for _ in 0..600 {
        let status: BulkStatus = app
            .post_json(
                "certificate_run_status",
                serde_json::json!({ "job_id": job }),
            )
            .await
            .json()
            .await
            .expect("status");
        if status.finished {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("run {job} did not finish");
}

#[tokio::test]
async fn with_a_5_day_window_the_counts_the_list_and_renew_all_agree_with_what_renewal_allows() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let profile = IssuingProfile {
        renewal_window_days: 5,
        ..IssuingProfile::default()
    };
    app.backend
        .update_issuing_profile(profile, Actor::Cli)
        .await
        .expect("a 5-day window is allowed");
    let now = app.backend.clock().now();
    let mut users = Vec::new();
    for (login, days) in [
        ("day00010", 10),
        ("day00006", 6),
        ("day00005", 5),
        ("day00002", 2),
    ] {
        let id = user_with_certificate(&app, now, login, Duration::days(days)).await;
        users.push((login, id));
    }
    // What renewal allows, one user at a time (checked without renewing anyone: a renewal of
    // a user outside the window is refused with E-CERT-003 and changes nothing).
    let overview: Vec<UserCertificates> = app
        .post("certificate_overview", &[])
        .await
        .json()
        .await
        .expect("overview");
    let badge = |login: &str| {
        overview
            .iter()
            .find(|u| u.login_id == login)
            .and_then(|u| u.current.as_ref())
            .is_some_and(|c| c.renewable)
    };
    let mut allowed = Vec::new();
    for (login, _) in &users {
        if badge(login) {
            allowed.push(*login);
        }
    }
    assert_eq!(allowed, ["day00005", "day00002"], "the list's badge");
    let refused = app
        .backend
        .apply_certificate_operation(users[1].1, Operation::Renew, Actor::Cli)
        .await
        .expect_err("6 days left is outside a 5-day window");
    assert_eq!(refused.code(), "E-CERT-003");

    let d = dashboard(&app).await;
    assert_eq!(d.renewal_window_days, 5);
    assert_eq!(
        d.counts.renewable, 2,
        "the banner counts what renewal allows"
    );
    assert_eq!(
        (d.counts.valid, d.counts.window, d.counts.expiring7),
        (1, 0, 3)
    );
    assert!(filtered(&app, "window").await.is_empty());
    assert_eq!(
        filtered(&app, "expiring7").await,
        ["day00002", "day00005", "day00006"]
    );

    // Renew all renews exactly those two, and none of its items fails.
    let status = renew_all(&app).await;
    assert_eq!((status.total, status.done, status.failed), (2, 2, 0));
    let renewed: Vec<&str> = status.items.iter().map(|i| i.login_id.as_str()).collect();
    assert_eq!(renewed, ["day00005", "day00002"]);
    assert_eq!(dashboard(&app).await.counts.renewable, 0);
}

#[tokio::test]
async fn the_result_csv_and_the_dashboard_need_a_session() {
    let (app, _) = fixture().await;
    let stranger = certdesk_tests::client();
    let r = stranger
        .get(format!("{}/bulk/1/result.csv", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(
        r.status(),
        401,
        "a download answers with a code, not a redirect"
    );
    assert_eq!(error_code(r).await, "E-AUTH-003");
    let r = app.post_with(&stranger, "dashboard", &[]).await;
    assert_eq!(error_code(r).await, "E-AUTH-003");
    let r = app.get("/bulk/999/result.csv").await;
    assert_eq!(error_code(r).await, "E-CERT-012");
}

#[tokio::test]
async fn the_dashboard_page_is_complete_html_without_javascript() {
    let (app, _) = fixture().await;
    let r = app.get("/").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("body");
    assert!(
        html.contains(r#"data-testid="expiry-chart""#),
        "the chart is in the first HTML: {html}"
    );
    assert!(html.contains(r#"role="img""#));
    assert!(html.contains("週ごとの有効期限(今後13か月)"));
    assert!(html.contains(r#"href="/certificates?filter=window""#));
    let banner = html
        .split(r#"data-testid="window-count">"#)
        .nth(1)
        .and_then(|rest| rest.split("</strong>").next())
        .expect("the banner with its count");
    assert!(banner.contains('3'), "{banner}");
}
