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
    /// Where the server listens: `http://127.0.0.1:PORT`.
    pub base: String,
    /// The `Origin` its own pages send: the public URL's (`base` unless set otherwise).
    pub origin: String,
    pub backend: Backend,
    pub client: reqwest::Client,
    now: Arc<Mutex<OffsetDateTime>>,
    _dir: tempfile::TempDir,
}

/// Starts certdesk on `127.0.0.1:0` with a fresh data directory and a clock the test moves.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with settings changed first (e.g. the attempt limits). The settings come
/// served like `certdesk serve --listen 127.0.0.1:PORT` without a public URL
/// ([`Settings::serve_at`]); `change` may serve them otherwise (see [`spawn_app_at`]).
pub async fn spawn_app_with(change: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Arc::new(Mutex::new(OffsetDateTime::now_utc()));
    let clock_now = Arc::clone(&now);
    let clock = Clock::from_fn(move || *clock_now.lock().expect("clock"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let mut settings = Settings::new(dir.path());
    settings.serve_at(addr, None);
    change(&mut settings);
    let backend = Backend::open(settings, clock).expect("backend opens");
    // As `serve` does at start: the one-time setup token, when other machines can reach it.
    backend.issue_setup_token().expect("setup token");
    let site_root = dir.path().join("site");
    let router = certdesk_server::web::router(backend.clone(), &site_root);
    tokio::spawn(async move {
        axum_serve(listener, router).await;
    });
    let origin = origin_of(&backend.settings().public_url);
    TestApp {
        base: format!("http://{addr}"),
        origin,
        backend,
        client: client(),
        now,
        _dir: dir,
    }
}

/// [`spawn_app`] reached at the public URL `public_url(listen address)` (e.g.
/// `https://127.0.0.1:PORT`, or a name the tests send as `Host`). The server still speaks
/// plain HTTP on the loopback port (`base`); requests carry the public URL's `Origin`.
pub async fn spawn_app_at(public_url: impl FnOnce(std::net::SocketAddr) -> String) -> TestApp {
    spawn_app_with(|s| {
        let listen: std::net::SocketAddr = s
            .public_url
            .trim_start_matches("http://")
            .parse()
            .expect("listen address");
        s.serve_at(listen, Some(&public_url(listen)));
    })
    .await
}

/// [`spawn_app_with`] reached at `http://{host}:PORT`, as from another PC on the LAN: the
/// client resolves `host` to the loopback port, so requests name it in `Host` and `Origin`,
/// and `base` is that URL. A non-loopback host makes the console reachable from other
/// machines (the setup page then needs the setup token).
pub async fn spawn_app_named(host: &str, change: impl FnOnce(&mut Settings)) -> TestApp {
    let mut app = spawn_app_with(|s| {
        let listen: std::net::SocketAddr = s
            .public_url
            .trim_start_matches("http://")
            .parse()
            .expect("listen address");
        s.serve_at(listen, Some(&format!("http://{host}:{}", listen.port())));
        change(s);
    })
    .await;
    let listen: std::net::SocketAddr = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("listen address");
    app.base = format!("http://{host}:{}", listen.port());
    app.client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(host, listen)
        .build()
        .expect("client");
    app
}

/// `scheme://host[:port]` of a URL, as a browser sends it in `Origin`.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let authority = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{authority}")
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
    /// A general user `login` with a certificate issued by the embedded CA and one `.p12`
    /// prepared for it as the Distribution page does (modern profile, generated password):
    /// `(user id, password, "/distribution/<token>/file")`.
    pub async fn issue_single_file(&self, login: &str, name: &str) -> (i64, String, String) {
        use certdesk_backend::{Actor, Operation};
        let id = self
            .backend
            .create_user(
                login,
                name,
                &format!("{login}@example.co.jp"),
                certdesk_domain::Role::General,
                Actor::Cli,
            )
            .await
            .expect("user");
        self.backend
            .apply_certificate_operation(id, Operation::Issue, Actor::Cli)
            .await
            .expect("issue");
        let r = self
            .post(
                "prepare_single",
                &[
                    ("user_id", &id.to_string()),
                    ("profile", "modern"),
                    ("password", ""),
                ],
            )
            .await;
        assert_eq!(r.status(), 200);
        let created: serde_json::Value = r.json().await.expect("json");
        let password = created["slips"][0]["password"]
            .as_str()
            .expect("password")
            .to_string();
        let token = created["token"].as_str().expect("token");
        (id, password, format!("/distribution/{token}/file"))
    }

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
            .header("origin", &self.origin)
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
            .header("origin", &self.origin)
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
