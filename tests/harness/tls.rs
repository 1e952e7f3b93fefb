//! The console served as `certdesk serve --public-url https://...` does it: the real TLS
//! listeners (console and check page) of `certdesk_server::serving`, on loopback ports, with
//! the backend (database, clock) of a [`TestApp`].

use crate::TestApp;
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
    let console_port = free_port();
    let check_port = free_port();
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
    TlsServer {
        console: format!("https://localhost:{console_port}"),
        check: format!("https://localhost:{check_port}/check"),
        console_port,
        check_port,
    }
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
