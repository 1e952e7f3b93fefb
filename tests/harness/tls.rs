//! The console served as `certdesk serve --public-url https://...` does it: the real TLS
//! listeners (console and check page) of `certdesk_server::serving`, on loopback ports, with
//! the backend (database, clock) of a [`TestApp`].

use crate::{setup_form, spawn_app_with, TestApp, PASSWORD};
use certdesk_backend::{Actor, Settings, SetupInput};
use certdesk_server::cli::{Cli, Command};
use clap_free::parse_serve;

/// A TLS console and check page in front of a `TestApp`'s backend.
pub struct TlsServer {
    /// `https://localhost:PORT`
    pub console: String,
    /// `https://localhost:PORT/check`
    pub check: String,
    pub console_port: u16,
    pub check_port: u16,
    /// certdesk's CA certificate (PEM), which the clients trust.
    pub ca_pem: Vec<u8>,
    /// The same app's plain-HTTP loopback listener (the harness's own, for comparisons).
    pub plain: String,
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

mod clap_free {
    use super::*;
    /// `certdesk serve <args>` as the command line parses it.
    pub fn parse_serve(args: &[String]) -> certdesk_server::cli::ServeArgs {
        let cli = <Cli as clap::Parser>::try_parse_from(
            ["certdesk".to_string(), "serve".to_string()]
                .into_iter()
                .chain(args.iter().cloned()),
        )
        .expect("serve arguments parse");
        match cli.command {
            Some(Command::Serve(args)) => args,
            other => panic!("not serve: {other:?}"),
        }
    }
}

/// `serve --listen 127.0.0.1:P --public-url https://localhost:P --check-listen 127.0.0.1:Q`
/// plus `extra`, on `app`'s backend; returns once both ports answer.
pub async fn serve_tls(app: &TestApp, extra: &[&str]) -> TlsServer {
    serve_tls_on(app, free_port(), free_port(), extra).await
}

/// [`serve_tls`] on the given ports.
pub async fn serve_tls_on(
    app: &TestApp,
    console_port: u16,
    check_port: u16,
    extra: &[&str],
) -> TlsServer {
    let mut args: Vec<String> = vec![
        "--listen".into(),
        format!("127.0.0.1:{console_port}"),
        "--public-url".into(),
        format!("https://localhost:{console_port}"),
        "--check-listen".into(),
        format!("127.0.0.1:{check_port}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let serve = parse_serve(&args);
    let plan = certdesk_server::serving::plan(&serve).expect("a plan");
    let router = certdesk_server::web::router(app.backend.clone(), &app._dir.path().join("site"));
    let backend = app.backend.clone();
    tokio::spawn(async move {
        if let Err(e) = certdesk_server::serving::run(backend, router, plan).await {
            panic!("serving failed: {e}");
        }
    });
    for port in [console_port, check_port] {
        let mut up = false;
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                up = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert!(up, "port {port} did not open");
    }
    let ca_pem = embedded_ca_pem(app).await;
    TlsServer {
        console: format!("https://localhost:{console_port}"),
        check: format!("https://localhost:{check_port}/check"),
        console_port,
        check_port,
        ca_pem,
        plain: app.base.clone(),
    }
}

/// The embedded CA's certificate (empty before setup).
async fn embedded_ca_pem(app: &TestApp) -> Vec<u8> {
    use certdesk_domain::authority::CertificateAuthority;
    match app.backend.embedded_authority() {
        Ok(ca) => ca
            .ca_certificate_pem()
            .await
            .map(String::into_bytes)
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// A certdesk set up headless (as `certdesk setup` does) and served as
/// `serve --public-url https://localhost:P` with the check page on another port: the
/// returned app's `base` and `client` go to the TLS console (the client trusts certdesk's CA
/// only) and its settings carry that public URL, Secure cookies and the check page's URL.
/// The client is signed in as the master.
pub async fn spawn_tls_app(extra: &[&str]) -> (TestApp, TlsServer) {
    spawn_tls_app_with(extra, |_| {}).await
}

/// [`spawn_tls_app`] with settings changed first (e.g. the attempt limits), after the public
/// and check URLs are set.
pub async fn spawn_tls_app_with(
    extra: &[&str],
    change: impl FnOnce(&mut Settings),
) -> (TestApp, TlsServer) {
    let console_port = free_port();
    let check_port = free_port();
    let public = format!("https://localhost:{console_port}");
    let check_url = format!("https://localhost:{check_port}/check");
    let (p, c) = (public.clone(), check_url.clone());
    let mut app = spawn_app_with(move |s| {
        s.serve_at(([127, 0, 0, 1], console_port).into(), Some(&p));
        s.check_url = Some(c);
        change(s);
    })
    .await;
    set_up_headless(&app).await;
    let login_id = setup_form()
        .iter()
        .find(|(k, _)| *k == "login_id")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    let tls = serve_tls_on(&app, console_port, check_port, extra).await;
    app.base = public;
    app.client = client_trusting(&tls.ca_pem);
    let r = app
        .post(
            "sign_in",
            &[("login_id", login_id.as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 200, "sign-in over TLS");
    (app, tls)
}

/// A client that trusts only `ca_pem` (no system roots), keeps cookies, follows no redirects.
pub fn client_trusting(ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).expect("CA PEM"))
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Sets `app` up as `certdesk setup` does (no HTTP request, so no Host or Origin to match).
pub async fn set_up_headless(app: &TestApp) {
    let form = setup_form();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    };
    app.backend
        .set_up(
            SetupInput {
                org_name: field("org_name"),
                group_id: field("group_id"),
                bank_code: field("bank_code"),
                login_id: field("login_id"),
                name: field("name"),
                email: field("email"),
                password: PASSWORD.into(),
                password_confirm: PASSWORD.into(),
            },
            Actor::Cli,
        )
        .await
        .expect("headless setup");
}
