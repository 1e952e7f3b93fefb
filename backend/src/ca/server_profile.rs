//! The console's TLS server certificate, signed by the embedded CA: ECDSA P-256 key,
//! digitalSignature, serverAuth, CA:false, the given host names and IP addresses as subject
//! alternative names (and the first as CN).

use super::embedded::EmbeddedCa;
use crate::error::ServiceError;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod,
    KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;

/// One subject alternative name: an IP address when `host` reads as one, else a DNS name.
pub(crate) fn san(host: &str) -> Result<SanType, ServiceError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let name = rcgen::string::Ia5String::try_from(host.to_ascii_lowercase())
        .map_err(|e| ServiceError::Internal(format!("host name {host}: {e}")))?;
    Ok(SanType::DnsName(name))
}

/// The parameters of a server certificate for `hosts` (at least one).
pub(crate) fn server_params(
    hosts: &[String],
    serial: &[u8; 16],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, ServiceError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        hosts.first().map(String::as_str).unwrap_or("certdesk"),
    );
    params.distinguished_name = dn;
    params.subject_alt_names = hosts.iter().map(|h| san(h)).collect::<Result<_, _>>()?;
    params.serial_number = Some(SerialNumber::from_slice(serial));
    params.not_before = not_before;
    params.not_after = not_after;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.key_identifier_method = KeyIdMethod::Sha256;
    Ok(params)
}

impl EmbeddedCa {
    /// Signs the console's server certificate for `key`.
    pub(crate) fn sign_server_certificate(
        &self,
        params: &CertificateParams,
        key: &impl rcgen::PublicKeyData,
    ) -> Result<Vec<u8>, ServiceError> {
        let cert = params
            .signed_by(key, &self.issuer())
            .map_err(|e| ServiceError::Internal(format!("signing the server certificate: {e}")))?;
        Ok(cert.der().to_vec())
    }
}
