//! The embedded CA: a self-signed root made with rcgen at first start (or `certdesk ca init`),
//! whose private key lives only in this process and, at rest, in a sealed file
//! (`<data dir>/ca/ca-key.sealed`, mode 0600, AES-256-GCM under the master key, see
//! [`crate::store::secrets`]). The CA signs client certificates and CRLs.
//!
//! rcgen is built with its aws-lc-rs backend: the default `ring` backend cannot generate RSA
//! keys, and RSA-2048 is the default key type of issued certificates.

use crate::error::ServiceError;
use crate::store::secrets::{write_private_file, MasterKey, Purpose};
use certdesk_domain::external_ca::{CaBackendKind, CaBackendView, KeySource};
use certdesk_domain::profile::KeyType;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevokedCertParams, SerialNumber, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use std::path::Path;
use time::{Duration, OffsetDateTime};

/// The CA's distinguished name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaName {
    pub o: String,
    pub ou: String,
    pub cn: String,
}

impl CaName {
    fn dn(&self) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, self.o.as_str());
        dn.push(DnType::OrganizationalUnitName, self.ou.as_str());
        dn.push(DnType::CommonName, self.cn.as_str());
        dn
    }
}

/// The loaded CA: its key (in memory only), its certificate, the parameters rcgen needs to
/// sign as this issuer.
pub struct EmbeddedCa {
    key: KeyPair,
    params: CertificateParams,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for EmbeddedCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedCa").field("key", &"***").finish()
    }
}

/// A client certificate's content, decided by the use case.
#[derive(Debug, Clone)]
pub struct LeafRequest {
    pub serial: [u8; 16],
    pub o: String,
    pub ou: String,
    pub cn: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub crl_url: String,
}

/// One revoked certificate for a CRL.
#[derive(Debug, Clone)]
pub struct RevokedEntry {
    pub serial: Vec<u8>,
    pub revoked_at: OffsetDateTime,
    pub reason_code: u8,
}

fn ca_err(what: &str) -> impl Fn(rcgen::Error) -> ServiceError + '_ {
    move |e| ServiceError::Internal(format!("{what}: {e}"))
}

fn ca_params(
    name: &CaName,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name.dn();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = not_before;
    params.not_after = not_after;
    params.key_identifier_method = KeyIdMethod::Sha256;
    params
}

/// A fresh key of `key_type`. RSA-2048 takes tens of milliseconds: call on a blocking thread.
pub fn generate_key(key_type: KeyType) -> Result<KeyPair, ServiceError> {
    match key_type {
        KeyType::Rsa2048 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048),
        KeyType::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
    }
    .map_err(ca_err("key generation failed"))
}

/// [`generate_key`] on a blocking thread, for async callers.
pub async fn generate_key_off_thread(key_type: KeyType) -> Result<KeyPair, ServiceError> {
    tokio::task::spawn_blocking(move || generate_key(key_type))
        .await
        .map_err(|e| ServiceError::Internal(format!("key task failed: {e}")))?
}

/// Whether `op` with the CA of `kind` needs a key made here: not when cfssl makes it
/// (`newcert`), never for a plain revocation.
pub fn key_made_here(needs_key: bool, kind: CaBackendKind, settings: &CaBackendView) -> bool {
    needs_key && !(kind == CaBackendKind::Cfssl && settings.cfssl.key_source == KeySource::Ca)
}

/// 128 random bits for a serial number.
pub fn random_serial() -> Result<[u8; 16], ServiceError> {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut serial = [0u8; 16];
    SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| ServiceError::Internal("no randomness for a serial".into()))?;
    Ok(serial)
}

impl EmbeddedCa {
    /// Makes a new CA (RSA-3072, SHA-256, 10 years) and seals its key into `key_path`.
    pub fn create(
        name: &CaName,
        now: OffsetDateTime,
        master: &MasterKey,
        key_path: &Path,
    ) -> Result<EmbeddedCa, ServiceError> {
        let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
            .map_err(ca_err("CA key generation failed"))?;
        let mut params = ca_params(name, now, now + Duration::days(3650));
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        let cert = params
            .self_signed(&key)
            .map_err(ca_err("CA self-signature failed"))?;
        if let Some(dir) = key_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                ServiceError::Internal(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let sealed = master.seal(Purpose::CaKey, "ca key", key.serialize_pem().as_bytes())?;
        write_private_file(key_path, &sealed)?;
        Ok(EmbeddedCa {
            key,
            params,
            cert_der: cert.der().to_vec(),
        })
    }

    /// Loads the CA from its certificate (kept in the database) and its sealed key file.
    pub fn load(
        name: &CaName,
        cert_der: Vec<u8>,
        master: &MasterKey,
        key_path: &Path,
    ) -> Result<EmbeddedCa, ServiceError> {
        let sealed = std::fs::read(key_path).map_err(|e| {
            ServiceError::Internal(format!(
                "cannot read the CA key {}: {e}",
                key_path.display()
            ))
        })?;
        let pem_bytes = master.open(Purpose::CaKey, "ca key", &sealed)?;
        let pem_text = String::from_utf8(pem_bytes)
            .map_err(|_| ServiceError::Internal("the CA key is not PEM text".into()))?;
        let key = KeyPair::from_pem(&pem_text).map_err(ca_err("CA key is not readable"))?;
        // Validity does not matter for signing as this issuer; DN and key do.
        let params = ca_params(name, OffsetDateTime::UNIX_EPOCH, OffsetDateTime::UNIX_EPOCH);
        Ok(EmbeddedCa {
            key,
            params,
            cert_der,
        })
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub(super) fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// Signs a client certificate for `leaf_key`: digitalSignature, clientAuth, CA:false,
    /// authority and subject key identifiers, the console's CRL distribution point.
    pub fn sign_client_certificate(
        &self,
        req: &LeafRequest,
        leaf_key: &impl rcgen::PublicKeyData,
    ) -> Result<Vec<u8>, ServiceError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, req.o.as_str());
        dn.push(DnType::OrganizationalUnitName, req.ou.as_str());
        dn.push(DnType::CommonName, req.cn.as_str());
        params.distinguished_name = dn;
        params.serial_number = Some(SerialNumber::from_slice(&req.serial));
        params.not_before = req.not_before;
        params.not_after = req.not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::Sha256;
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![req.crl_url.clone()],
        }];
        let cert = params
            .signed_by(leaf_key, &self.issuer())
            .map_err(ca_err("signing the certificate failed"))?;
        Ok(cert.der().to_vec())
    }

    /// Signs a CRL with `number`, valid from `this_update` to `next_update`.
    pub fn sign_crl(
        &self,
        number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        revoked: &[RevokedEntry],
    ) -> Result<Vec<u8>, ServiceError> {
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&r.serial),
                    revocation_time: r.revoked_at,
                    reason_code: Some(reason(r.reason_code)),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&self.issuer())
            .map_err(ca_err("signing the CRL failed"))?;
        Ok(crl.der().to_vec())
    }
}

fn reason(code: u8) -> rcgen::RevocationReason {
    use rcgen::RevocationReason as R;
    match code {
        1 => R::KeyCompromise,
        3 => R::AffiliationChanged,
        4 => R::Superseded,
        5 => R::CessationOfOperation,
        9 => R::PrivilegeWithdrawn,
        _ => R::Unspecified,
    }
}

/// PEM text of DER bytes with the given label.
pub fn pem(label: &str, der: &[u8]) -> String {
    use std::fmt::Write;
    let b64 = base64_encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        let _ = writeln!(out, "{}", String::from_utf8_lossy(chunk));
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

pub(crate) fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(T[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
        }
    }
}
