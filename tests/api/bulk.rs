//! Bulk runs: every user gets a result, refusals are named, re-runs and resumed runs never
//! make a second valid certificate.

use certdesk_backend::Actor;
use certdesk_backend::Operation;
use certdesk_domain::lifecycle::RevocationReason;
use certdesk_domain::Role;
use certdesk_tests::spawn_app;

async fn users(app: &certdesk_tests::TestApp, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let login = format!("staff{i:03}");
        ids.push(
            app.backend
                .create_user(
                    &login,
                    &format!("社員 {i}"),
                    &format!("{login}@example.co.jp"),
                    Role::General,
                    Actor::Cli,
                )
                .await
                .expect("user"),
        );
    }
    ids
}

async fn valid_certificates(app: &certdesk_tests::TestApp) -> usize {
    app.backend
        .certificate_overview()
        .await
        .expect("overview")
        .iter()
        .filter(|u| {
            u.current
                .as_ref()
                .is_some_and(|c| c.state == certdesk_domain::lifecycle::CertificateState::Valid)
        })
        .count()
}

#[tokio::test]
async fn a_bulk_issue_reports_each_user_and_a_rerun_creates_nothing_twice() {
    let app = spawn_app().await;
    app.set_up().await;
    let ids = users(&app, 5).await;
    app.backend
        .lock_user("staff002", Actor::Cli)
        .await
        .expect("lock");

    let job = app
        .backend
        .create_bulk(ids.clone(), Operation::Issue, Actor::Cli)
        .await
        .expect("job");
    let status = app.backend.run_bulk(job).await.expect("run");
    assert!(status.finished);
    assert_eq!((status.total, status.done, status.failed), (5, 4, 1));
    let locked = status
        .items
        .iter()
        .find(|i| i.login_id == "staff002")
        .expect("item");
    assert_eq!(locked.error_code.as_deref(), Some("E-CERT-005"));
    assert!(status
        .items
        .iter()
        .filter(|i| i.status.as_str() == "done")
        .all(|i| i.serial.as_ref().is_some_and(|s| s.len() == 32)));
    assert_eq!(valid_certificates(&app).await, 4);

    let again = app
        .backend
        .create_bulk(ids, Operation::Issue, Actor::Cli)
        .await
        .expect("job");
    let status = app.backend.run_bulk(again).await.expect("run");
    assert_eq!((status.done, status.failed), (0, 5));
    let codes: Vec<&str> = status
        .items
        .iter()
        .filter_map(|i| i.error_code.as_deref())
        .collect();
    assert_eq!(
        codes.iter().filter(|c| **c == "E-CERT-001").count(),
        4,
        "{codes:?}"
    );
    assert_eq!(valid_certificates(&app).await, 4);
}

#[tokio::test]
async fn an_unfinished_run_is_resumed_after_a_restart() {
    let app = spawn_app().await;
    app.set_up().await;
    let ids = users(&app, 3).await;
    // A run recorded but never processed: what a crash right after "start" leaves behind.
    let job = app
        .backend
        .create_bulk(ids, Operation::Issue, Actor::Cli)
        .await
        .expect("job");
    assert_eq!(app.backend.resume_bulk_runs().await.expect("resume"), 1);
    let mut status = app.backend.bulk_status(job).await.expect("status");
    for _ in 0..200 {
        if status.finished {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        status = app.backend.bulk_status(job).await.expect("status");
    }
    assert!(status.finished);
    assert_eq!(status.done, 3);
    assert_eq!(
        app.backend.resume_bulk_runs().await.expect("resume"),
        0,
        "nothing left to resume"
    );
}

#[tokio::test]
async fn a_bulk_revoke_needs_a_reason_and_an_empty_selection_is_refused() {
    let app = spawn_app().await;
    app.set_up().await;
    let ids = users(&app, 2).await;
    let err = app
        .backend
        .create_bulk(ids.clone(), Operation::Revoke(None), Actor::Cli)
        .await
        .expect_err("reason");
    assert_eq!(err.code(), "E-CERT-008");
    let err = app
        .backend
        .create_bulk(vec![], Operation::Issue, Actor::Cli)
        .await
        .expect_err("empty");
    assert_eq!(err.code(), "E-CERT-011");

    let job = app
        .backend
        .create_bulk(ids.clone(), Operation::Issue, Actor::Cli)
        .await
        .expect("job");
    app.backend.run_bulk(job).await.expect("run");
    let job = app
        .backend
        .create_bulk(
            ids,
            Operation::Revoke(Some(RevocationReason::CessationOfOperation)),
            Actor::Cli,
        )
        .await
        .expect("job");
    let status = app.backend.run_bulk(job).await.expect("run");
    assert_eq!(status.done, 2);
    assert_eq!(valid_certificates(&app).await, 0);
}
