//! The cfssl client over HTTPS (rustls on aws-lc-rs): it trusts the CA bundle it is given and
//! refuses, as a connection failure (E-CA-001), a server that nothing it trusts vouches for
//! (the system's roots do not hold the test CA); the system's roots are those of
//! `SSL_CERT_FILE` when it is set, as with OpenSSL.

use super::cfssl::{CfsslClient, CfsslConfig};
use certdesk_domain::external_ca::RetryPolicy;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

/// A test CA's PEM, and an HTTPS server on 127.0.0.1 with a certificate from it that answers
/// every request with cfssl's `info` envelope.
fn https_cfssl() -> (String, u16) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .expect("server certificate");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .expect("server config");
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let conn = rustls::ServerConnection::new(config.clone()).expect("connection");
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then as many body bytes as announced.
            let complete = |r: &[u8]| {
                let text = String::from_utf8_lossy(r);
                let Some((head, body)) = text.split_once("\r\n\r\n") else {
                    return false;
                };
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                body.len() >= length
            };
            let mut ok = true;
            while !complete(&request) {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        ok = false;
                        break;
                    }
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            if ok {
                let body =
                    r#"{"success":true,"result":{"certificate":"PEM"},"errors":[],"messages":[]}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes());
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        }
    });
    (ca.pem(), port)
}

fn client(port: u16, bundle: Option<String>) -> CfsslClient {
    CfsslClient::new(CfsslConfig {
        url: format!("https://127.0.0.1:{port}"),
        profile: "client".into(),
        auth_key: None,
        connect_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_secs(10),
        proxy: None,
        ca_bundle_pem: bundle,
        retry: RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        },
    })
    .expect("client")
}

#[tokio::test]
async fn the_ca_bundle_is_trusted_and_nothing_else_vouches_for_a_private_ca() {
    let (ca_pem, port) = https_cfssl();
    assert_eq!(
        client(port, Some(ca_pem.clone()))
            .info()
            .await
            .expect("info over HTTPS"),
        "PEM"
    );
    let refused = client(port, None).info().await.expect_err("untrusted");
    assert_eq!(refused.code(), "E-CA-001", "{refused}");
    // The system's roots are read where OpenSSL reads them: SSL_CERT_FILE names the file.
    let dir = tempfile::tempdir().expect("dir");
    let roots = dir.path().join("roots.pem");
    std::fs::write(&roots, &ca_pem).expect("roots");
    std::env::set_var("SSL_CERT_FILE", &roots);
    let system = client(port, None);
    std::env::remove_var("SSL_CERT_FILE");
    assert_eq!(
        system
            .info()
            .await
            .expect("info, CA among the system's roots"),
        "PEM"
    );
    let (other_ca, _) = https_cfssl();
    let refused = client(port, Some(other_ca))
        .info()
        .await
        .expect_err("another CA's bundle");
    assert_eq!(refused.code(), "E-CA-001", "{refused}");
}
