//! Sign-in, lockout and sessions against a real SQLite file in a temporary directory.

use certdesk_backend::Actor;
use certdesk_backend::SetupInput;
use certdesk_backend::{Backend, Clock, ServiceError, SessionLookup, Settings};
use certdesk_domain::UserError;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

const PASSWORD: &str = "correct horse battery";

struct TestBackend {
    backend: Backend,
    now: Arc<Mutex<OffsetDateTime>>,
    _dir: tempfile::TempDir,
}

impl TestBackend {
    fn advance(&self, by: Duration) {
        let mut now = self.now.lock().expect("clock");
        *now += by;
    }
}

fn setup_input() -> SetupInput {
    SetupInput {
        org_name: "株式会社テスト商事".into(),
        group_id: "G0001".into(),
        bank_code: "0001".into(),
        login_id: "master01".into(),
        name: "山田 太郎".into(),
        email: "taro@example.co.jp".into(),
        password: PASSWORD.into(),
        password_confirm: PASSWORD.into(),
    }
}

async fn backend() -> TestBackend {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Arc::new(Mutex::new(OffsetDateTime::now_utc()));
    let clock_now = Arc::clone(&now);
    let clock = Clock::from_fn(move || *clock_now.lock().expect("clock"));
    let backend = Backend::open(Settings::new(dir.path()), clock).expect("open");
    TestBackend {
        backend,
        now,
        _dir: dir,
    }
}

async fn set_up_backend() -> TestBackend {
    let t = backend().await;
    t.backend
        .set_up(setup_input(), Actor::Anonymous)
        .await
        .expect("setup");
    t
}

async fn audit_actions(b: &Backend) -> Vec<(String, String)> {
    let mut rows = b.audit_entries(100).await.expect("audit");
    rows.reverse();
    rows.into_iter().map(|r| (r.action, r.outcome)).collect()
}

#[tokio::test]
async fn setup_creates_the_master_signs_in_and_is_audited_and_refused_the_second_time() {
    let t = backend().await;
    assert!(t.backend.needs_setup());
    let (token, user) = t
        .backend
        .set_up(setup_input(), Actor::Anonymous)
        .await
        .expect("setup");
    assert_eq!(user.login_id, "master01");
    assert_eq!(user.name, "山田 太郎");
    assert!(!t.backend.needs_setup());
    assert!(
        matches!(t.backend.resolve_session(token).await, Ok(SessionLookup::Valid(u)) if u == user)
    );
    let again = t.backend.set_up(setup_input(), Actor::Anonymous).await;
    assert_eq!(again.expect_err("refused").code(), "E-SETUP-001");
    // Setup also creates the embedded CA and its first CRL, each audited.
    assert_eq!(
        audit_actions(&t.backend).await,
        vec![
            ("setup".into(), "success".into()),
            ("ca_create".into(), "success".into()),
            ("crl_publish".into(), "success".into()),
        ]
    );
    assert!(t.backend.ca_certificate_der().is_some());
}

#[tokio::test]
async fn setup_rejects_a_bad_bank_code_with_its_field_and_writes_nothing() {
    let t = backend().await;
    let mut input = setup_input();
    input.bank_code = "12a4".into();
    let err = t
        .backend
        .set_up(input, Actor::Anonymous)
        .await
        .expect_err("refused");
    assert_eq!(err.code(), "E-VAL-003");
    assert_eq!(err.field(), Some("bank_code"));
    assert!(t.backend.needs_setup());
    assert!(t.backend.organisation().await.expect("query").is_none());
}

#[tokio::test]
async fn five_wrong_passwords_in_a_row_lock_the_account_for_a_while_or_until_unlocked() {
    let t = set_up_backend().await;
    for i in 1..=4 {
        let err = t
            .backend
            .sign_in("master01", "wrong password!", None)
            .await
            .expect_err("wrong");
        assert_eq!(err.code(), "E-AUTH-001", "attempt {i}");
    }
    let err = t
        .backend
        .sign_in("master01", "wrong password!", None)
        .await
        .expect_err("wrong");
    assert_eq!(err.code(), "E-AUTH-006");
    // Even the right password is refused while locked.
    let err = t
        .backend
        .sign_in("master01", PASSWORD, None)
        .await
        .expect_err("locked");
    assert_eq!(err.code(), "E-AUTH-006");
    // A temporary lock is not the permanent 閉塞 a master or admin sets.
    assert_eq!(t.backend.user_counts().await.expect("counts").locked, 0);
    assert_eq!(t.backend.temporary_locks().await.expect("locks").len(), 1);

    t.backend
        .unlock_user("MASTER01", Actor::Cli)
        .await
        .expect("unlock");
    let (_, user) = t
        .backend
        .sign_in("Master01", PASSWORD, None)
        .await
        .expect("signs in");
    assert_eq!(user.login_id, "master01");

    let actions = audit_actions(&t.backend).await;
    let lock_at = actions
        .iter()
        .position(|a| a.0 == "lock_temporary")
        .expect("lock audited");
    assert_eq!(actions[lock_at - 1], ("sign_in".into(), "failure".into()));
    assert_eq!(
        actions[actions.len() - 2],
        ("unlock".into(), "success".into())
    );
    assert_eq!(
        actions[actions.len() - 1],
        ("sign_in".into(), "success".into())
    );
}

#[tokio::test]
async fn a_right_password_resets_the_count_of_wrong_ones() {
    let t = set_up_backend().await;
    for _ in 0..4 {
        t.backend
            .sign_in("master01", "wrong password!", None)
            .await
            .expect_err("wrong");
    }
    t.backend
        .sign_in("master01", PASSWORD, None)
        .await
        .expect("right");
    for _ in 0..4 {
        let err = t
            .backend
            .sign_in("master01", "wrong password!", None)
            .await
            .expect_err("wrong");
        assert_eq!(err.code(), "E-AUTH-001");
    }
}

#[tokio::test]
async fn an_unknown_login_id_gets_the_same_answers_as_a_known_one() {
    let t = set_up_backend().await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..6 {
        known.push(
            t.backend
                .sign_in("master01", "wrong password!", None)
                .await
                .expect_err("x")
                .code(),
        );
        unknown.push(
            t.backend
                .sign_in("nobody99", "wrong password!", None)
                .await
                .expect_err("x")
                .code(),
        );
    }
    assert_eq!(known, unknown);
    assert_eq!(unknown.last(), Some(&"E-AUTH-006"));
    let malformed = t.backend.sign_in("x", "y", None).await.expect_err("x");
    assert_eq!(malformed.code(), "E-AUTH-001");
}

#[tokio::test]
async fn sign_in_rotates_the_session_and_sign_out_ends_it() {
    let t = set_up_backend().await;
    let (first, _) = t
        .backend
        .sign_in("master01", PASSWORD, None)
        .await
        .expect("in");
    let (second, user) = t
        .backend
        .sign_in("master01", PASSWORD, Some(first.clone()))
        .await
        .expect("in");
    assert_ne!(first, second);
    assert_eq!(
        t.backend.resolve_session(first).await.expect("lookup"),
        SessionLookup::Unknown
    );
    t.backend.sign_out(second.clone(), user).await.expect("out");
    assert_eq!(
        t.backend.resolve_session(second).await.expect("lookup"),
        SessionLookup::Unknown
    );
    assert_eq!(
        audit_actions(&t.backend).await.last(),
        Some(&("sign_out".into(), "success".into()))
    );
}

#[tokio::test]
async fn a_session_expires_after_30_idle_minutes_and_each_request_restarts_the_timer() {
    let t = set_up_backend().await;
    let (token, _) = t
        .backend
        .sign_in("master01", PASSWORD, None)
        .await
        .expect("in");
    t.advance(Duration::minutes(29));
    assert!(matches!(
        t.backend.resolve_session(token.clone()).await,
        Ok(SessionLookup::Valid(_))
    ));
    t.advance(Duration::minutes(29));
    assert!(matches!(
        t.backend.resolve_session(token.clone()).await,
        Ok(SessionLookup::Valid(_))
    ));
    t.advance(Duration::minutes(30));
    assert_eq!(
        t.backend
            .resolve_session(token.clone())
            .await
            .expect("lookup"),
        SessionLookup::Expired
    );
    assert_eq!(
        t.backend.resolve_session(token).await.expect("lookup"),
        SessionLookup::Unknown
    );
}

#[tokio::test]
async fn unlocking_an_unknown_login_id_says_so() {
    let t = set_up_backend().await;
    let err = t
        .backend
        .unlock_user("nobody99", Actor::Cli)
        .await
        .expect_err("unknown");
    assert!(matches!(
        err,
        ServiceError::User(UserError::NotFound { .. })
    ));
    assert_eq!(err.code(), "E-USER-001");
}

#[tokio::test]
async fn sign_in_before_setup_is_refused_with_its_own_code() {
    let t = backend().await;
    let err = t
        .backend
        .sign_in("master01", PASSWORD, None)
        .await
        .expect_err("no org");
    assert_eq!(err.code(), "E-SETUP-002");
}

#[tokio::test]
async fn a_general_user_cannot_sign_in_to_the_console() {
    let t = set_up_backend().await;
    t.backend
        .create_user(
            "general1",
            "一般 花子",
            "g@example.co.jp",
            certdesk_domain::Role::General,
            Actor::Cli,
        )
        .await
        .expect("user");
    for password in [PASSWORD, "", "anything at all"] {
        let err = t
            .backend
            .sign_in("general1", password, None)
            .await
            .expect_err("refused");
        assert_eq!(err.code(), "E-AUTH-001");
    }
}

#[tokio::test]
async fn a_second_master_cannot_be_added_outside_setup() {
    let t = set_up_backend().await;
    let err = t
        .backend
        .create_user(
            "master02",
            "二人目",
            "m2@example.co.jp",
            certdesk_domain::Role::Master,
            Actor::Cli,
        )
        .await
        .expect_err("refused");
    assert_eq!(err.code(), "E-USER-005");
}
