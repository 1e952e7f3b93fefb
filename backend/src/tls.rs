//! What built-in HTTPS needs from the backend: the console's server certificate from the
//! embedded CA (issued at start, kept in `<data dir>/tls/` with its key sealed like the CA's,
//! renewed 30 days before it ends), the checks of a certificate and key given as PEM files
//! (`E-SERVE-004`..`008`), the roots the check page asks client certificates from, and the
//! check page's use case ([`Backend::check_certificate`]).

use crate::ca::server_profile::server_params;
use crate::ca::{generate_key, random_serial};
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::{parse_ts, ts};
use crate::store::secrets::{write_private_file, MasterKey, Purpose};
use crate::x509::{self as cert_read, AltName};
use crate::Backend;
use certdesk_domain::authority::CertificateAuthority;
use certdesk_domain::external_ca::CaBackendKind;
use certdesk_domain::lifecycle::StoredState;
use certdesk_domain::profile::KeyType;
use certdesk_domain::serve::{
    classify, CheckVerdict, CurrentCertificate, KnownCertificate, ServeError,
};
use certdesk_domain::AuditAction;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;

/// Makes aws-lc-rs (rustls' provider for the built-in HTTPS, as for rcgen and lettre) the
/// process's rustls provider, which reqwest takes for the external CA's HTTPS. Called when the
/// backend opens; calling it again does nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A server certificate issued by the embedded CA is valid this long.
pub const SERVER_CERT_DAYS: i64 = 365;
/// ... and replaced this long before it ends.
pub const SERVER_CERT_RENEW_BEFORE: Duration = Duration::days(30);

/// A certificate chain and its key, ready for rustls.
#[derive(Clone)]
pub struct ServerCertificate {
    /// DER, the server's certificate first.
    pub chain_der: Vec<Vec<u8>>,
    /// PKCS#8 DER.
    pub key_der: Vec<u8>,
    pub not_after: OffsetDateTime,
    /// SHA-256 of the server's certificate, hex (printed so that people can compare).
    pub sha256: String,
}

impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCertificate")
            .field("sha256", &self.sha256)
            .field("not_after", &self.not_after)
            .field("key", &"***")
            .finish()
    }
}

fn internal(what: &str) -> impl Fn(String) -> ServiceError + '_ {
    move |e| ServiceError::Internal(format!("{what}: {e}"))
}

/// The certificate's alternative name as DNS name (OpenSSL's `GeneralName::dnsname`).
fn dnsname(n: &AltName) -> Option<&str> {
    match n {
        AltName::Dns(d) => Some(d),
        AltName::Ip(_) => None,
    }
}

/// The certificate's alternative name as IP octets (OpenSSL's `GeneralName::ipaddress`).
fn ipaddress(n: &AltName) -> Option<&[u8]> {
    match n {
        AltName::Ip(b) => Some(b),
        AltName::Dns(_) => None,
    }
}

/// Whether the certificate names `host` (a DNS name, one-label wildcards too, or an IP).
fn names_host(cert: &X509Certificate<'_>, host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip: Option<std::net::IpAddr> = bare.parse().ok();
    let host = bare.to_ascii_lowercase();
    let Some(names) = cert_read::subject_alt_names(cert) else {
        return false;
    };
    names.iter().any(|n| {
        if let (Some(ip), Some(bytes)) = (ip, ipaddress(n)) {
            return match ip {
                std::net::IpAddr::V4(v4) => bytes == v4.octets(),
                std::net::IpAddr::V6(v6) => bytes == v6.octets(),
            };
        }
        let Some(dns) = dnsname(n).map(str::to_ascii_lowercase) else {
            return false;
        };
        if ip.is_some() {
            return false;
        }
        match dns.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => dns == host,
        }
    })
}

/// The hosts a certificate's subject alternative names hold (DNS names and IPs as text).
fn san_hosts(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut hosts: Vec<String> = cert_read::subject_alt_names(cert)
        .map(|names| {
            names
                .iter()
                .filter_map(|n| {
                    dnsname(n).map(str::to_ascii_lowercase).or_else(|| {
                        ipaddress(n).and_then(|b| match b.len() {
                            4 => <[u8; 4]>::try_from(b)
                                .ok()
                                .map(|o| std::net::IpAddr::from(o).to_string()),
                            16 => <[u8; 16]>::try_from(b)
                                .ok()
                                .map(|o| std::net::IpAddr::from(o).to_string()),
                            _ => None,
                        })
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    hosts.sort();
    hosts
}

fn normalised(hosts: &[String]) -> Vec<String> {
    let mut out: Vec<String> = hosts
        .iter()
        .map(|h| {
            let bare = h.trim_start_matches('[').trim_end_matches(']');
            match bare.parse::<std::net::IpAddr>() {
                Ok(ip) => ip.to_string(),
                Err(_) => bare.to_ascii_lowercase(),
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Reads `--tls-cert` and `--tls-key`: PEM, the key the certificate's, valid at `now`, and
/// naming `host`. Every refusal names the file and the problem (`E-SERVE-004`..`008`).
pub fn load_tls_files(
    cert_path: &Path,
    key_path: &Path,
    host: &str,
    now: OffsetDateTime,
) -> Result<ServerCertificate, ServiceError> {
    let name = |p: &Path| p.display().to_string();
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| ServeError::TlsFileUnreadable {
            file: name(p),
            detail: e.to_string(),
        })
    };
    let cert_pem = read(cert_path)?;
    let key_pem = read(key_path)?;
    let chain = cert_read::certificates_der(&cert_pem).unwrap_or_default();
    let Some(leaf) = chain.first() else {
        return Err(ServeError::TlsNotPem {
            file: name(cert_path),
            expected: "certificate".into(),
        }
        .into());
    };
    let leaf = cert_read::parse(leaf).map_err(internal("certificate"))?;
    let key = cert_read::private_key_from_pem(&key_pem).map_err(|_| ServeError::TlsNotPem {
        file: name(key_path),
        expected: "private key".into(),
    })?;
    if !cert_read::key_matches(&leaf, &key) {
        return Err(ServeError::TlsKeyMismatch {
            cert: name(cert_path),
            key: name(key_path),
        }
        .into());
    }
    let not_before = cert_read::instant(leaf.validity().not_before);
    let not_after = cert_read::instant(leaf.validity().not_after);
    if now < not_before || now >= not_after {
        return Err(ServeError::TlsCertExpired {
            file: name(cert_path),
            not_after: ts(not_after),
        }
        .into());
    }
    if !names_host(&leaf, host) {
        return Err(ServeError::TlsHostNotInSans {
            file: name(cert_path),
            host: host.to_string(),
        }
        .into());
    }
    let chain_der = chain.clone();
    let key_der = key.pkcs8_der;
    Ok(ServerCertificate {
        sha256: hex::encode(Sha256::digest(&chain_der[0])),
        chain_der,
        key_der,
        not_after,
    })
}

/// A self-signed certificate for `hosts`, made in memory and never stored: what the console
/// shows before setup, while the embedded CA does not exist yet.
pub fn setup_time_certificate(
    hosts: &[String],
    now: OffsetDateTime,
) -> Result<ServerCertificate, ServiceError> {
    let key = generate_key(KeyType::EcdsaP256)?;
    let not_after = now + Duration::days(30);
    let params = server_params(
        hosts,
        &random_serial()?,
        now - Duration::hours(1),
        not_after,
    )?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| ServiceError::Internal(format!("self-signed certificate: {e}")))?;
    let der = cert.der().to_vec();
    Ok(ServerCertificate {
        sha256: hex::encode(Sha256::digest(&der)),
        chain_der: vec![der],
        key_der: key.serialize_der(),
        not_after,
    })
}

struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
}

impl TlsFiles {
    fn in_dir(data_dir: &Path) -> TlsFiles {
        let dir = data_dir.join("tls");
        TlsFiles {
            cert: dir.join("server-cert.pem"),
            key: dir.join("server-key.sealed"),
        }
    }

    /// The stored certificate when it is the CA's, for exactly `hosts`, and more than 30 days
    /// from its end.
    fn load_usable(
        &self,
        master: &MasterKey,
        ca_der: &[u8],
        hosts: &[String],
        now: OffsetDateTime,
    ) -> Result<Option<ServerCertificate>, ServiceError> {
        let (Ok(pem), Ok(sealed)) = (std::fs::read(&self.cert), std::fs::read(&self.key)) else {
            return Ok(None);
        };
        let Ok(der) = cert_read::first_certificate_der(&pem) else {
            return Ok(None);
        };
        let cert = cert_read::parse(&der).map_err(internal("server certificate"))?;
        let ca = cert_read::parse(ca_der).map_err(internal("CA certificate"))?;
        let same_issuer = cert.issuer().as_raw() == ca.subject().as_raw();
        let signed_by_ca = cert_read::signed_by(&cert, &ca);
        let not_after = cert_read::instant(cert.validity().not_after);
        if !same_issuer
            || !signed_by_ca
            || san_hosts(&cert) != normalised(hosts)
            || not_after - SERVER_CERT_RENEW_BEFORE <= now
        {
            return Ok(None);
        }
        let Ok(key_pem) = master.open(Purpose::ServerKey, "server key", &sealed) else {
            return Ok(None);
        };
        let key = cert_read::private_key_from_pem(&key_pem).map_err(internal("server key"))?;
        Ok(Some(ServerCertificate {
            sha256: hex::encode(Sha256::digest(&der)),
            key_der: key.pkcs8_der,
            chain_der: vec![der.clone()],
            not_after,
        }))
    }

    /// Replaces the stored pair (written beside, then renamed into place).
    fn store(&self, cert_pem: &str, sealed_key: &[u8]) -> Result<(), ServiceError> {
        if let Some(dir) = self.cert.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                ServiceError::Internal(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let io = |e: std::io::Error| ServiceError::Internal(format!("server certificate: {e}"));
        let key_new = self.key.with_extension("sealed.new");
        let _ = std::fs::remove_file(&key_new);
        write_private_file(&key_new, sealed_key)?;
        std::fs::rename(&key_new, &self.key).map_err(io)?;
        let cert_new = self.cert.with_extension("pem.new");
        std::fs::write(&cert_new, cert_pem).map_err(io)?;
        std::fs::rename(&cert_new, &self.cert).map_err(io)?;
        Ok(())
    }
}

/// What the check page shows: the verdict, and the presented certificate's own holder and
/// dates (only when certdesk issued it; never anyone else's).
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub verdict: CheckVerdict,
    pub login_id: Option<String>,
    pub name: Option<String>,
    pub serial: Option<String>,
    pub not_after: Option<OffsetDateTime>,
    /// Whether the page offers "Renew now" (issue 17): current, in its renewal window and
    /// self-renewal on; outside the window the date it opens (E-CERT-003).
    pub self_renewal: certdesk_domain::enrolment::SelfRenewalOffer,
}

impl Backend {
    /// The console's server certificate from the embedded CA for `hosts`: the stored one while
    /// it is usable, else a new one (stored, audited). `None` before setup (no CA yet).
    pub async fn server_certificate(
        &self,
        hosts: Vec<String>,
    ) -> Result<Option<ServerCertificate>, ServiceError> {
        let Some(ca) = self.ca() else {
            return Ok(None);
        };
        let files = TlsFiles::in_dir(&self.settings().data_dir);
        let master = self.master_key();
        let now = self.clock().now();
        let worker_hosts = hosts.clone();
        let issued = tokio::task::spawn_blocking(move || {
            if let Some(usable) = files.load_usable(&master, ca.cert_der(), &worker_hosts, now)? {
                return Ok::<_, ServiceError>((usable, None));
            }
            let key = generate_key(KeyType::EcdsaP256)?;
            let serial = random_serial()?;
            let not_after = now + Duration::days(SERVER_CERT_DAYS);
            let params =
                server_params(&worker_hosts, &serial, now - Duration::hours(1), not_after)?;
            let der = ca.sign_server_certificate(&params, &key)?;
            let sealed = master.seal(
                Purpose::ServerKey,
                "server key",
                key.serialize_pem().as_bytes(),
            )?;
            files.store(&crate::ca::pem("CERTIFICATE", &der), &sealed)?;
            let cert = ServerCertificate {
                sha256: hex::encode(Sha256::digest(&der)),
                chain_der: vec![der],
                key_der: key.serialize_der(),
                not_after,
            };
            Ok((cert, Some(hex::encode(serial))))
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("server certificate task: {e}")))??;
        let (cert, new_serial) = issued;
        if let Some(serial) = new_serial {
            let not_after = cert.not_after;
            self.db()
                .run(move |conn| {
                    audit::record(
                        conn,
                        now,
                        &Actor::System,
                        AuditAction::ServerCertificateIssue,
                        Some(&serial),
                        Outcome::Success,
                        serde_json::json!({"hosts": hosts, "not_after": ts(not_after)}),
                    )
                })
                .await?;
        }
        Ok(Some(cert))
    }

    /// The CA certificates (DER) the check page names when it asks for a client certificate:
    /// the embedded CA's, and the external CA's when certificates are issued through one and
    /// it answers.
    pub async fn client_certificate_roots(&self) -> Vec<Vec<u8>> {
        let mut roots: Vec<Vec<u8>> = self
            .ca()
            .map(|ca| ca.cert_der().to_vec())
            .into_iter()
            .collect();
        let external = async {
            let authority = self.authority(CaBackendKind::Cfssl).await.ok()?;
            let pem = authority.ca_certificate_pem().await.ok()?;
            cert_read::certificates_der(pem.as_bytes()).ok()
        };
        if self.active_ca_kind().await == Some(CaBackendKind::Cfssl) {
            if let Some(chain) = external.await {
                roots.extend(chain);
            }
        }
        roots
    }

    async fn active_ca_kind(&self) -> Option<CaBackendKind> {
        self.db()
            .run(|conn| {
                Ok(conn
                    .query_row("SELECT kind FROM ca_backend WHERE id = 1", [], |r| {
                        r.get::<_, String>(0)
                    })
                    .optional()?)
            })
            .await
            .ok()
            .flatten()
            .and_then(|k| CaBackendKind::parse(&k))
    }

    /// The check page's use case: what the certificate the browser presented (`presented`,
    /// DER, `None` when it sent none) is, told by the bytes certdesk stored when it issued it.
    /// Audited with the holder as actor (anonymous when none or not ours).
    pub async fn check_certificate(
        &self,
        presented: Option<Vec<u8>>,
    ) -> Result<CheckReport, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let sha = presented.as_deref().map(|d| hex::encode(Sha256::digest(d)));
                let row = match (&sha, &presented) {
                    (Some(sha), Some(der)) => conn
                        .query_row(
                            "SELECT c.id, c.user_id, u.login_id, u.name, c.serial, c.state, c.not_after
                             FROM certificates c JOIN users u ON u.id = c.user_id
                             WHERE c.sha256 = ?1 AND c.cert_der = ?2",
                            params![sha, der],
                            |r| {
                                Ok((
                                    r.get::<_, i64>(0)?,
                                    r.get::<_, i64>(1)?,
                                    r.get::<_, String>(2)?,
                                    r.get::<_, String>(3)?,
                                    r.get::<_, String>(4)?,
                                    r.get::<_, String>(5)?,
                                    r.get::<_, String>(6)?,
                                ))
                            },
                        )
                        .optional()?,
                    _ => None,
                };
                let mut row_id = None;
                let (known, report_parts) = match row {
                    None => (None, None),
                    Some((id, user_id, login_id, name, serial, state, not_after)) => {
                        let newer = conn
                            .query_row(
                                "SELECT serial, not_after FROM certificates
                                 WHERE user_id = ?1 AND state = 'valid' AND id != ?2",
                                params![user_id, id],
                                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                            )
                            .optional()?;
                        let newer = match newer {
                            Some((serial, until)) => Some(CurrentCertificate {
                                serial,
                                not_after: parse_ts(&until)?,
                            }),
                            None => None,
                        };
                        let not_after = parse_ts(&not_after)?;
                        let known = KnownCertificate {
                            state: StoredState::parse(&state).unwrap_or(StoredState::Revoked),
                            not_after,
                            newer,
                        };
                        row_id = Some(id);
                        (Some(known), Some((user_id, login_id, name, serial, not_after)))
                    }
                };
                let verdict = classify(presented.is_some(), known.as_ref(), now);
                let self_renewal = match &row_id {
                    Some(id) => crate::enrolment::renewal_standing(conn, *id, now)?.offer,
                    None => certdesk_domain::enrolment::SelfRenewalOffer::NotOffered,
                };
                let actor = match &report_parts {
                    Some((id, login_id, ..)) => Actor::User {
                        id: *id,
                        login_id: login_id.clone(),
                    },
                    None => Actor::Anonymous,
                };
                audit::record(
                    conn,
                    now,
                    &actor,
                    AuditAction::CertificateCheck,
                    report_parts.as_ref().map(|p| p.3.as_str()),
                    Outcome::Success,
                    serde_json::json!({"verdict": verdict.as_str(), "sha256": sha}),
                )?;
                Ok(match report_parts {
                    Some((_, login_id, name, serial, not_after)) => CheckReport {
                        verdict,
                        login_id: Some(login_id),
                        name: Some(name),
                        serial: Some(serial),
                        not_after: Some(not_after),
                        self_renewal,
                    },
                    None => CheckReport {
                        verdict,
                        login_id: None,
                        name: None,
                        serial: None,
                        not_after: None,
                        self_renewal,
                    },
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_and_ips_are_normalised_for_comparison() {
        assert_eq!(
            normalised(&["Certdesk.LAN".into(), "[::1]".into(), "10.0.0.5".into()]),
            vec!["10.0.0.5", "::1", "certdesk.lan"]
        );
    }
}
