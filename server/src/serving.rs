//! How `certdesk serve` serves: the plan made from the command line before anything is opened
//! ([`plan`], whose refusals are `E-SERVE-*`), then the console's listener (TLS, or plain HTTP
//! on loopback / behind a proxy), the check page's TLS listener, and the task that keeps their
//! certificate current (renewal from the embedded CA, `SIGHUP` reload of `--tls-cert`).

use crate::cli::ServeArgs;
use crate::tls::{check_config, console_config, peer_addr, CheckPeer, SharedConfig, TlsListener};
use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::serve::ListenerExt;
use axum::Router;
use certdesk_backend::tls::{load_tls_files, setup_time_certificate, ServerCertificate};
use certdesk_backend::{Backend, ServiceError};
use certdesk_domain::serve::ServeError;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Where the console's TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// Issued by the embedded CA (a self-signed one until setup has made the CA).
    Embedded,
    /// `--tls-cert` and `--tls-key`.
    Files { cert: PathBuf, key: PathBuf },
}

/// What `serve` will do, decided from the command line alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub listen: SocketAddr,
    /// `Some` when the console itself speaks TLS.
    pub tls: Option<CertSource>,
    pub behind_proxy: bool,
    /// The public URL's host (IPv6 without brackets).
    pub public_host: String,
    /// The names and addresses the server certificate must carry.
    pub hosts: Vec<String>,
    /// The check page: where it listens and the URL people open.
    pub check: Option<(SocketAddr, String)>,
}

fn unbracketed(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

/// The plan for `args`, or the refusal that says how to serve safely.
pub fn plan(args: &ServeArgs) -> Result<Plan, ServeError> {
    let listen = args.listen;
    let raw = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{listen}"));
    let url = url::Url::parse(&raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| ServeError::PublicUrl { url: raw.clone() })?;
    let https = url.scheme() == "https";
    let url_host = url.host_str().unwrap_or_default().to_string();
    let public_host = unbracketed(&url_host);
    let public_port = url.port_or_known_default().unwrap_or(listen.port());
    let files = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(CertSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (None, None) => None,
        _ => return Err(ServeError::TlsOptions),
    };
    if files.is_some() && (!https || args.behind_proxy) {
        return Err(ServeError::TlsOptions);
    }
    if args.behind_proxy && !listen.ip().is_loopback() {
        return Err(ServeError::ProxyNotLoopback {
            listen: listen.to_string(),
        });
    }
    if !https && !args.behind_proxy && !listen.ip().is_loopback() {
        return Err(ServeError::PlainHttpOnLan {
            listen: listen.to_string(),
        });
    }
    let tls = (https && !args.behind_proxy).then(|| files.clone().unwrap_or(CertSource::Embedded));
    let check = match (args.check_listen, tls.is_some()) {
        (Some(at), _) => Some((at, at.port())),
        (None, true) => {
            let port = if listen.port() == 0 {
                0
            } else {
                listen.port().saturating_add(1)
            };
            Some((
                SocketAddr::new(listen.ip(), port),
                public_port.saturating_add(1),
            ))
        }
        (None, false) => None,
    };
    if let Some((at, _)) = check {
        if at == listen && at.port() != 0 {
            return Err(ServeError::CheckListen {
                detail: format!("{at} is the console's --listen"),
            });
        }
    }
    let mut hosts = vec![public_host.to_ascii_lowercase()];
    for ip in [Some(listen.ip()), check.map(|(at, _)| at.ip())]
        .into_iter()
        .flatten()
    {
        if !ip.is_unspecified() && !hosts.contains(&ip.to_string()) {
            hosts.push(ip.to_string());
        }
    }
    Ok(Plan {
        listen,
        tls,
        behind_proxy: args.behind_proxy,
        public_host,
        hosts,
        check: check.map(|(at, port)| (at, format!("https://{url_host}:{port}/check"))),
    })
}

/// The check page's URL `args` give (for the settings, before the plan is acted on).
pub fn check_url(args: &ServeArgs) -> Option<String> {
    plan(args).ok().and_then(|p| p.check.map(|(_, url)| url))
}

/// With `--behind-proxy`: the client address the attempt limit counts is the last address of
/// `X-Forwarded-For` (the one the proxy added), believed only from a loopback peer.
async fn forwarded_client(mut req: Request, next: Next) -> Response {
    let from_loopback = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|c| c.0.ip().is_loopback());
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|s| s.trim().parse::<IpAddr>().ok());
    if let (true, Some(ip)) = (from_loopback, forwarded) {
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    next.run(req).await
}

/// Reads `--tls-cert`/`--tls-key` once, so that a bad file refuses the start before the data
/// directory is opened.
pub fn check_files(plan: &Plan, now: time::OffsetDateTime) -> Result<(), ServiceError> {
    if let Some(CertSource::Files { cert, key }) = &plan.tls {
        load_tls_files(cert, key, &plan.public_host, now)?;
    }
    Ok(())
}

fn tls_failed(e: String) -> ServiceError {
    ServiceError::Internal(e)
}

/// The certificate to serve now.
async fn certificate(
    backend: &Backend,
    source: &CertSource,
    plan: &Plan,
) -> Result<ServerCertificate, ServiceError> {
    match source {
        CertSource::Files { cert, key } => {
            load_tls_files(cert, key, &plan.public_host, backend.clock().now())
        }
        CertSource::Embedded => match backend.server_certificate(plan.hosts.clone()).await? {
            Some(cert) => Ok(cert),
            None => {
                let hosts = plan.hosts.clone();
                let now = backend.clock().now();
                tokio::task::spawn_blocking(move || setup_time_certificate(&hosts, now))
                    .await
                    .map_err(|e| ServiceError::Internal(e.to_string()))?
            }
        },
    }
}

/// Serves the console (and the check page) until Ctrl-C or SIGTERM.
pub async fn run(backend: Backend, app: Router, plan: Plan) -> Result<(), ServiceError> {
    let app = if plan.behind_proxy {
        app.layer(middleware::from_fn(forwarded_client))
    } else {
        app
    };
    let tcp = tokio::net::TcpListener::bind(plan.listen)
        .await
        .map_err(|e| ServiceError::Internal(format!("cannot listen on {}: {e}", plan.listen)))?;
    let addr = tcp
        .local_addr()
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let source = plan.tls.clone().unwrap_or(CertSource::Embedded);
    let needs_cert = plan.tls.is_some() || plan.check.is_some();
    let cert = if needs_cert {
        Some(certificate(&backend, &source, &plan).await?)
    } else {
        None
    };
    let console = match (&plan.tls, &cert) {
        (Some(_), Some(cert)) => Some(SharedConfig::new(console_config(cert).map_err(tls_failed)?)),
        _ => None,
    };
    let mut check_server = None;
    let mut check_shared = None;
    if let (Some((at, url)), Some(cert)) = (&plan.check, &cert) {
        let roots = backend.client_certificate_roots().await;
        let shared = SharedConfig::new(check_config(cert, &roots).map_err(tls_failed)?);
        let tcp = tokio::net::TcpListener::bind(*at)
            .await
            .map_err(|e| ServiceError::Internal(format!("cannot listen on {at}: {e}")))?;
        let local = tcp
            .local_addr()
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let listener = TlsListener::spawn(
            tcp,
            shared.clone(),
            "check",
            CheckPeer {
                addr: local,
                certificate: None,
            },
            CheckPeer::of,
        )
        .tap_io(|_| {});
        let router = crate::check::router(backend.clone());
        tracing::info!(listen.addr = %local, url = %url, "the check page is serving");
        println!(
            "certdesk: 証明書の確認ページ / certificate check page: {url} (https://{local}/check)"
        );
        check_server = Some(tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<CheckPeer>(),
            )
            .with_graceful_shutdown(crate::cli::shutdown_signal())
            .await
        }));
        check_shared = Some(shared);
    }
    if let Some(cert) = &cert {
        println!(
            "certdesk: サーバ証明書 / server certificate SHA-256 {} (有効期限 / valid until {})",
            cert.sha256,
            certdesk_backend::ts(cert.not_after)
        );
        // Registered before serving starts, so that a SIGHUP never finds the default action
        // (which ends the process).
        #[cfg(unix)]
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        #[cfg(not(unix))]
        let hangup = None;
        tokio::spawn(keep_certificates(
            hangup,
            backend.clone(),
            source,
            plan.clone(),
            console.clone(),
            check_shared,
            cert.sha256.clone(),
        ));
    }
    tracing::info!(listen.addr = %addr, tls = console.is_some(), data.dir = %backend.settings().data_dir.display(), "certdesk is serving");
    let result = match console {
        Some(shared) => {
            println!("certdesk: https://{addr}/ で待ち受けています(TLS) / listening on https://{addr}/ (TLS)");
            let listener =
                TlsListener::spawn(tcp, shared, "console", addr, peer_addr).tap_io(|_| {});
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(crate::cli::shutdown_signal())
            .await
        }
        None => {
            println!("certdesk: http://{addr}/ で待ち受けています / listening on http://{addr}/");
            axum::serve(tcp, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(crate::cli::shutdown_signal())
                .await
        }
    };
    if let Some(check) = check_server {
        check.abort();
    }
    result.map_err(|e| ServiceError::Internal(format!("server failed: {e}")))
}

/// Keeps the served certificate current: from the embedded CA, checked every hour (every 5
/// seconds until setup has made the CA) and renewed 30 days before it ends; from files, read
/// again on `SIGHUP` (a bad file is logged and the old certificate kept). The check page's
/// CA names are refreshed with it.
#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

async fn keep_certificates(
    mut hangup: Hangup,
    backend: Backend,
    source: CertSource,
    plan: Plan,
    console: Option<SharedConfig>,
    check: Option<SharedConfig>,
    mut served: String,
) {
    let mut roots = backend.client_certificate_roots().await;
    loop {
        let from_ca = !backend.needs_setup();
        let wait = if from_ca || source != CertSource::Embedded {
            Duration::from_secs(3600)
        } else {
            Duration::from_secs(5)
        };
        #[cfg(unix)]
        let reload = async {
            match hangup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let reload = {
            let _ = &mut hangup;
            std::future::pending::<()>()
        };
        let signalled = tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            _ = reload => true,
        };
        if source == CertSource::Embedded && backend.needs_setup() {
            // Keep the one self-signed certificate of this run until the CA exists.
            continue;
        }
        if matches!(source, CertSource::Files { .. }) && !signalled {
            let fresh = backend.client_certificate_roots().await;
            if fresh == roots {
                continue;
            }
            roots = fresh;
        }
        let cert = match certificate(&backend, &source, &plan).await {
            Ok(cert) => cert,
            Err(e) => {
                let m = e.message();
                tracing::error!(code = e.code(), error = %e, "{} / {}: the served certificate is kept", m.ja, m.en);
                continue;
            }
        };
        let fresh_roots = backend.client_certificate_roots().await;
        if cert.sha256 == served && fresh_roots == roots {
            continue;
        }
        roots = fresh_roots;
        if let Some(shared) = &console {
            match console_config(&cert) {
                Ok(config) => shared.replace(config),
                Err(e) => {
                    tracing::error!(error = %e, "the new certificate cannot be used; the served one is kept");
                    continue;
                }
            }
        }
        if let Some(shared) = &check {
            if let Ok(config) = check_config(&cert, &roots) {
                shared.replace(config);
            }
        }
        if cert.sha256 != served {
            tracing::info!(sha256 = %cert.sha256, not_after = %certdesk_backend::ts(cert.not_after), signalled, "serving a new certificate");
            served = cert.sha256;
        }
    }
}
