//! Built-in HTTPS: rustls (aws-lc-rs) server configurations that can be swapped while serving
//! ([`SharedConfig`]: a renewed or reloaded certificate is used by new connections, the open
//! ones keep theirs), and [`TlsListener`], an `axum::serve` listener that does each handshake
//! in its own task (with a time limit), so a slow or garbage connection never holds up the
//! others or the server, and is logged in at most one line.
//!
//! The console's listener never asks for a client certificate. The check page's listener
//! asks for one (optional), naming the CAs certdesk issues from, and accepts whatever is
//! presented once the client has proved it holds the key ([`PresentedAnyCertificate`]): whether
//! certdesk issued it is the check page's question, answered from its own register, so a
//! certificate from elsewhere is "not issued by this organisation", never a failed handshake.

use axum::serve::Listener;
use certdesk_backend::tls::ServerCertificate;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::ServerConnection;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// How long a client has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A server configuration the listener reads at each new connection.
#[derive(Clone)]
pub struct SharedConfig(Arc<RwLock<Arc<ServerConfig>>>);

impl SharedConfig {
    pub fn new(config: ServerConfig) -> SharedConfig {
        SharedConfig(Arc::new(RwLock::new(Arc::new(config))))
    }

    pub fn current(&self) -> Arc<ServerConfig> {
        match self.0.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    pub fn replace(&self, config: ServerConfig) {
        match self.0.write() {
            Ok(mut g) => *g = Arc::new(config),
            Err(p) => *p.into_inner() = Arc::new(config),
        }
    }
}

/// The console's configuration: `cert`, HTTP/1.1, no client certificate.
pub fn console_config(cert: &ServerCertificate) -> Result<ServerConfig, String> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain(cert), key(cert))
        .map_err(|e| format!("the server certificate cannot be used: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The check page's configuration: `cert`, HTTP/1.1, an optional client certificate from
/// the CAs `roots` (DER) name.
pub fn check_config(cert: &ServerCertificate, roots: &[Vec<u8>]) -> Result<ServerConfig, String> {
    let provider = provider();
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        // A root the store cannot read is left out of the hints; checking does not need it.
        let _ = store.add(CertificateDer::from(root.clone()));
    }
    let verifier = PresentedAnyCertificate {
        hints: store.subjects(),
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(chain(cert), key(cert))
        .map_err(|e| format!("the server certificate cannot be used: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn chain(cert: &ServerCertificate) -> Vec<CertificateDer<'static>> {
    cert.chain_der
        .iter()
        .map(|d| CertificateDer::from(d.clone()))
        .collect()
}

fn key(cert: &ServerCertificate) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone()))
}

/// Asks for a client certificate from `hints`, does not insist, and accepts any certificate
/// whose holder signs the handshake with its key (the signature is checked; the path is not).
#[derive(Debug)]
struct PresentedAnyCertificate {
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PresentedAnyCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A TLS listener for `axum::serve`; `A` is what handlers get as `ConnectInfo` (wrap the
/// listener with `tap_io` for that): the peer's address, or more (see [`CheckPeer`]).
pub struct TlsListener<A> {
    connections: mpsc::Receiver<(TlsStream<TcpStream>, A)>,
    local: A,
}

impl<A: Clone + Send + Sync + 'static> TlsListener<A> {
    /// Accepts on `tcp` and hands over each connection once its handshake (with the
    /// configuration current at that moment) has succeeded. `peer` makes the `A` of a
    /// connection.
    pub fn spawn(
        tcp: TcpListener,
        config: SharedConfig,
        name: &'static str,
        local: A,
        peer: fn(SocketAddr, &ServerConnection) -> A,
    ) -> TlsListener<A> {
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                let (stream, addr) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little, keep serving.
                        tracing::warn!(listener = name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let _ = stream.set_nodelay(true);
                let acceptor = tokio_rustls::TlsAcceptor::from(config.current());
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let info = peer(addr, tls.get_ref().1);
                            let _ = tx.send((tls, info)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::info!(listener = name, peer = %addr, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::info!(listener = name, peer = %addr, "TLS handshake timed out");
                        }
                    }
                });
            }
        });
        TlsListener {
            connections: rx,
            local,
        }
    }
}

impl<A: Clone + Send + Sync + 'static> Listener for TlsListener<A> {
    type Io = TlsStream<TcpStream>;
    type Addr = A;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            // The accepting task ended (it never does while the listener lives).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local.clone())
    }
}

/// The peer of a check-page connection: its address and the certificate it presented (DER).
#[derive(Debug, Clone)]
pub struct CheckPeer {
    pub addr: SocketAddr,
    pub certificate: Option<Arc<Vec<u8>>>,
}

impl CheckPeer {
    pub fn of(addr: SocketAddr, connection: &ServerConnection) -> CheckPeer {
        CheckPeer {
            addr,
            certificate: connection
                .peer_certificates()
                .and_then(|certs| certs.first())
                .map(|c| Arc::new(c.as_ref().to_vec())),
        }
    }
}

/// The peer address only (the console's listener).
pub fn peer_addr(addr: SocketAddr, _: &ServerConnection) -> SocketAddr {
    addr
}
