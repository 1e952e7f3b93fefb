//! The integration-test harness: the real router on a loopback port, a real SQLite file in a
//! fresh temporary directory, and an HTTP client that keeps cookies like a browser and sends
//! the `Origin` a browser would.

pub mod cfssl;
pub mod tls;

use certdesk_backend::{Backend, Clock, Settings};
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    pub backend: Backend,
    pub client: reqwest::Client,
    now: Arc<Mutex<OffsetDateTime>>,
    _dir: tempfile::TempDir,
}

/// Starts certdesk on `127.0.0.1:0` with a fresh data directory and a clock the test moves.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with settings changed first (e.g. the attempt limits).
pub async fn spawn_app_with(change: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Arc::new(Mutex::new(OffsetDateTime::now_utc()));
    let clock_now = Arc::clone(&now);
    let clock = Clock::from_fn(move || *clock_now.lock().expect("clock"));
    let mut settings = Settings::new(dir.path());
    change(&mut settings);
    let backend = Backend::open(settings, clock).expect("backend opens");
    let site_root = dir.path().join("site");
    let router = certdesk_server::web::router(backend.clone(), &site_root);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum_serve(listener, router).await;
    });
    TestApp {
        base: format!("http://{addr}"),
        backend,
        client: client(),
        now,
        _dir: dir,
    }
}

/// Served like `certdesk serve`: with the peer address, which the attempt limit counts.
async fn axum_serve(listener: tokio::net::TcpListener, router: axum::Router) {
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).await.expect("server runs");
}

/// A client like a browser tab: it keeps cookies and does not follow redirects (tests look
/// at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl TestApp {
    /// The SQLite file of this app, for assertions on what it recorded.
    pub fn database(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.backend.settings().database_path()).expect("database")
    }

    pub fn advance(&self, by: Duration) {
        *self.now.lock().expect("clock") += by;
    }

    /// Puts the test clock at `at` (backwards too).
    pub fn set_now(&self, at: OffsetDateTime) {
        *self.now.lock().expect("clock") = at;
    }

    /// POSTs a server function that takes JSON, as the console's pages do.
    pub async fn post_json(&self, function: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}/api/{function}", self.base))
            .header("origin", &self.base)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// POSTs a server function as a same-origin form post from the console's pages.
    pub async fn post(&self, function: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.post_with(&self.client, function, form).await
    }

    pub async fn post_with(
        &self,
        client: &reqwest::Client,
        function: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        client
            .post(format!("{}/api/{function}", self.base))
            .header("origin", &self.base)
            .form(form)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }

    /// Runs the first-run setup through the server function.
    pub async fn set_up(&self) -> reqwest::Response {
        self.post("setup", &setup_form()).await
    }
}

pub fn setup_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("org_name", "株式会社テスト商事"),
        ("group_id", "G0001"),
        ("bank_code", "0001"),
        ("login_id", "master01"),
        ("name", "山田 太郎"),
        ("email", "taro@example.co.jp"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ]
}

/// The `code` of a server function's error body.
pub async fn error_code(resp: reqwest::Response) -> String {
    let body: serde_json::Value = resp.json().await.expect("json error body");
    body["code"].as_str().expect("code").to_string()
}
