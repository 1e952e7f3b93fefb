//! Reading certificates and private keys in pure Rust (issue 17; OpenSSL did this before):
//! PEM blocks, X.509 fields through `x509-parser`, keys and signatures through `aws-lc-rs`,
//! the crypto library rcgen, rustls and lettre already use. Each function keeps what the
//! OpenSSL call it replaces did (`X509::from_pem` reads the first `CERTIFICATE` block and skips
//! others, `stack_from_pem` reads them all, `PKey::private_key_from_pem` takes PKCS#8, PKCS#1
//! and SEC1), so that callers keep their behaviour and error codes.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use time::OffsetDateTime;
use x509_parser::asn1_rs::Tag;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::pem::Pem;

/// The PEM blocks of `pem` with one of `labels`, decoded, in order. A block that is present but
/// broken is an error.
fn blocks(pem: &[u8], labels: &[&str]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for block in Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| format!("PEM: {e}"))?;
        if labels.contains(&block.label.as_str()) {
            out.push(block.contents);
        }
    }
    Ok(out)
}

const CERTIFICATE_LABELS: &[&str] = &["CERTIFICATE", "X509 CERTIFICATE"];

/// Every certificate of a PEM text (DER, in order), each one read; none is not an error.
pub fn certificates_der(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let ders = blocks(pem, CERTIFICATE_LABELS)?;
    for der in &ders {
        parse(der)?;
    }
    Ok(ders)
}

/// The first certificate of a PEM text (DER).
pub fn first_certificate_der(pem: &[u8]) -> Result<Vec<u8>, String> {
    let der = blocks(pem, CERTIFICATE_LABELS)?
        .into_iter()
        .next()
        .ok_or_else(|| "no certificate in the PEM text".to_string())?;
    parse(&der)?;
    Ok(der)
}

/// A DER certificate, read.
pub fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| format!("X.509: {e}"))
}

/// OpenSSL's short names of the usual name attributes (what `subject_of` wrote before).
fn short_name(oid: &str) -> &'static str {
    match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.13" => "description",
        "2.5.4.15" => "businessCategory",
        "2.5.4.17" => "postalCode",
        "2.5.4.41" => "name",
        "2.5.4.42" => "GN",
        "2.5.4.43" => "initials",
        "2.5.4.44" => "generationQualifier",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "2.5.4.97" => "organizationIdentifier",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.3.6.1.4.1.311.60.2.1.1" => "jurisdictionL",
        "1.3.6.1.4.1.311.60.2.1.2" => "jurisdictionST",
        "1.3.6.1.4.1.311.60.2.1.3" => "jurisdictionC",
        _ => "?",
    }
}

/// An attribute value as UTF-8, as OpenSSL's `ASN1_STRING_to_UTF8` converts it (BMPString is
/// UTF-16BE, UniversalString UTF-32BE, T61String Latin-1); empty when it is no string.
fn text(value: &x509_parser::asn1_rs::Any<'_>) -> String {
    let data: &[u8] = value.data;
    match value.tag() {
        Tag::BmpString => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).unwrap_or_default()
        }
        Tag::UniversalString => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect::<Option<String>>()
            .unwrap_or_default(),
        Tag::TeletexString => data.iter().map(|&b| char::from(b)).collect(),
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => std::str::from_utf8(data).unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

/// The subject's attributes in the certificate's order: (OID in dotted form, value).
pub fn subject_entries(cert: &X509Certificate<'_>) -> Vec<(String, String)> {
    cert.subject()
        .iter_attributes()
        .map(|a| (a.attr_type().to_id_string(), text(a.attr_value())))
        .collect()
}

/// The subject as one line (`O=..., OU=..., CN=...`, in the certificate's order).
pub fn subject_line(cert: &X509Certificate<'_>) -> String {
    subject_entries(cert)
        .into_iter()
        .map(|(oid, value)| format!("{}={value}", short_name(&oid)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The serial in lower-case hex with whole bytes and no leading zero bytes (`0a1b`).
pub fn serial_hex(cert: &X509Certificate<'_>) -> String {
    let raw = cert.raw_serial();
    let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
    if start == raw.len() {
        return "00".into();
    }
    hex::encode(&raw[start..])
}

/// An X.509 time as an instant.
pub fn instant(t: x509_parser::time::ASN1Time) -> OffsetDateTime {
    t.to_datetime()
}

/// Whether the certificate has a subject alternative name extension.
pub fn has_subject_alt_names(cert: &X509Certificate<'_>) -> bool {
    cert.extensions()
        .iter()
        .any(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_SUBJECT_ALT_NAME)
}

/// The certificate's alternative names: DNS names and IP addresses (raw octets); `None`
/// without the extension (or when it cannot be read).
pub fn subject_alt_names(cert: &X509Certificate<'_>) -> Option<Vec<AltName>> {
    let ext = cert.subject_alternative_name().ok()??;
    Some(
        ext.value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(AltName::Dns(d.to_string())),
                GeneralName::IPAddress(ip) => Some(AltName::Ip(ip.to_vec())),
                _ => None,
            })
            .collect(),
    )
}

/// One alternative name of [`subject_alt_names`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AltName {
    Dns(String),
    Ip(Vec<u8>),
}

/// The subject key identifier, if the certificate has one.
pub fn subject_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
}

/// Whether `cert` carries a valid signature of the key in `issuer`.
pub fn signed_by(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    cert.verify_signature(Some(issuer.public_key())).is_ok()
}

/// A private key read from PEM: PKCS#8 DER and its public key (SubjectPublicKeyInfo DER).
pub struct PrivateKey {
    pub pkcs8_der: Vec<u8>,
    pub spki_der: Vec<u8>,
}

const EC_ALGORITHMS: [&signature::EcdsaSigningAlgorithm; 3] = [
    &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
    &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
    &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
];

fn rsa_key(key: RsaKeyPair) -> Result<PrivateKey, String> {
    let pkcs8: Pkcs8V1Der<'static> = key.as_der().map_err(|e| e.to_string())?;
    let spki: PublicKeyX509Der<'static> = key.public_key().as_der().map_err(|e| e.to_string())?;
    Ok(PrivateKey {
        pkcs8_der: pkcs8.as_ref().to_vec(),
        spki_der: spki.as_ref().to_vec(),
    })
}

fn ec_key(key: EcdsaKeyPair) -> Result<PrivateKey, String> {
    let pkcs8 = key.to_pkcs8v1().map_err(|e| e.to_string())?;
    let spki: PublicKeyX509Der<'static> = key.public_key().as_der().map_err(|e| e.to_string())?;
    Ok(PrivateKey {
        pkcs8_der: pkcs8.as_ref().to_vec(),
        spki_der: spki.as_ref().to_vec(),
    })
}

/// The first private key of a PEM text: PKCS#8 (`PRIVATE KEY`: RSA, ECDSA P-256/384/521,
/// Ed25519), PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`); PKCS#8 is kept as it is.
pub fn private_key_from_pem(pem: &[u8]) -> Result<PrivateKey, String> {
    let mut found = None;
    for block in Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| format!("PEM: {e}"))?;
        if ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"].contains(&block.label.as_str()) {
            found = Some(block);
            break;
        }
    }
    let block = found.ok_or_else(|| "no private key in the PEM text".to_string())?;
    let der = &block.contents[..];
    let unsupported = || format!("unsupported or broken {}", block.label);
    match block.label.as_str() {
        "RSA PRIVATE KEY" => rsa_key(RsaKeyPair::from_der(der).map_err(|e| e.to_string())?),
        "EC PRIVATE KEY" => EC_ALGORITHMS
            .iter()
            .find_map(|alg| EcdsaKeyPair::from_private_key_der(alg, der).ok())
            .ok_or_else(unsupported)
            .and_then(ec_key),
        _ => {
            let spki = if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
                rsa_key(k)?.spki_der
            } else if let Some(k) = EC_ALGORITHMS
                .iter()
                .find_map(|alg| EcdsaKeyPair::from_pkcs8(alg, der).ok())
            {
                ec_key(k)?.spki_der
            } else if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                let spki: PublicKeyX509Der<'static> =
                    k.public_key().as_der().map_err(|e| e.to_string())?;
                spki.as_ref().to_vec()
            } else {
                return Err(unsupported());
            };
            Ok(PrivateKey {
                pkcs8_der: der.to_vec(),
                spki_der: spki,
            })
        }
    }
}

/// Whether `key` is the private half of the certificate's public key (OpenSSL's
/// `public_eq`): the same SubjectPublicKeyInfo, or the same algorithm and key bits.
pub fn key_matches(cert: &X509Certificate<'_>, key: &PrivateKey) -> bool {
    let spki = cert.public_key();
    if spki.raw == key.spki_der.as_slice() {
        return true;
    }
    use x509_parser::prelude::FromDer;
    match x509_parser::x509::SubjectPublicKeyInfo::from_der(&key.spki_der) {
        Ok((_, other)) => {
            other.algorithm.algorithm == spki.algorithm.algorithm
                && other.subject_public_key.data == spki.subject_public_key.data
        }
        Err(_) => false,
    }
}

/// A hex number (as serials are stored) in decimal; the hex may have a leading `-`.
pub fn hex_to_decimal(hex: &str) -> Result<String, String> {
    let (negative, digits) = match hex.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, hex),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("not a hexadecimal number".into());
    }
    // Little-endian limbs of 10^9.
    let mut limbs: Vec<u64> = vec![0];
    for b in digits.bytes() {
        let mut carry = u64::from(char::from(b).to_digit(16).unwrap_or(0));
        for limb in limbs.iter_mut() {
            let v = *limb * 16 + carry;
            *limb = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        while carry > 0 {
            limbs.push(carry % 1_000_000_000);
            carry /= 1_000_000_000;
        }
    }
    let mut out = String::new();
    let mut iter = limbs.iter().rev();
    if let Some(first) = iter.next() {
        out.push_str(&first.to_string());
    }
    for limb in iter {
        out.push_str(&format!("{limb:09}"));
    }
    if negative && out != "0" {
        out.insert(0, '-');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData, SanType};

    /// Runs the `openssl` command line in `dir`; its stdout.
    fn openssl(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command (Debian package openssl)");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
        out.stdout
    }

    #[test]
    fn pkcs1_and_sec1_keys_from_openssl_become_the_pkcs8_openssl_writes() {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path();
        openssl(d, &["genrsa", "-traditional", "-out", "rsa.pem", "2048"]);
        openssl(
            d,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "ec.pem",
            ],
        );
        for (file, label) in [("rsa.pem", "RSA PRIVATE KEY"), ("ec.pem", "EC PRIVATE KEY")] {
            let pem = std::fs::read(d.join(file)).expect("key");
            assert!(
                String::from_utf8_lossy(&pem).contains(label),
                "{file} is {label}"
            );
            let key = private_key_from_pem(&pem).expect(label);
            let cert_pem = openssl(
                d,
                &[
                    "req", "-new", "-x509", "-key", file, "-subj", "/CN=a", "-days", "1",
                ],
            );
            let der = first_certificate_der(&cert_pem).expect("certificate");
            let cert = parse(&der).expect("parse");
            assert!(key_matches(&cert, &key), "{label} matches its certificate");
            // The same key as OpenSSL's PKCS#8 of it (read back by aws-lc-rs through rcgen).
            let pkcs8 = openssl(d, &["pkey", "-in", file, "-outform", "DER"]);
            let ours = KeyPair::try_from(key.pkcs8_der.clone()).expect("ours");
            let theirs = KeyPair::try_from(pkcs8).expect("OpenSSL's");
            assert_eq!(
                ours.subject_public_key_info(),
                theirs.subject_public_key_info(),
                "{label}"
            );
            let spki = openssl(d, &["pkey", "-in", file, "-pubout", "-outform", "DER"]);
            assert_eq!(
                key.spki_der, spki,
                "{label}: the public key as OpenSSL writes it"
            );
        }
    }

    #[test]
    fn hex_serials_in_decimal() {
        assert_eq!(hex_to_decimal("0").expect("hex"), "0");
        assert_eq!(hex_to_decimal("3B9ACA00").expect("hex"), "1000000000");
        assert_eq!(hex_to_decimal("-ff").expect("hex"), "-255");
        assert!(hex_to_decimal("").is_err());
        assert!(hex_to_decimal("12xyz").is_err());
    }

    #[test]
    fn keys_in_every_pem_form_match_their_certificate() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let mut params = CertificateParams::new(vec!["a.example".into()]).expect("params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "銀行");
        dn.push(DnType::CommonName, "a");
        params.distinguished_name = dn;
        params
            .subject_alt_names
            .push(SanType::IpAddress([10, 0, 0, 5].into()));
        let cert = params.self_signed(&key).expect("cert");
        let pem = format!("junk\n{}{}", key.serialize_pem(), cert.pem());
        let der = first_certificate_der(pem.as_bytes()).expect("certificate");
        assert_eq!(der, cert.der().to_vec());
        let parsed = parse(&der).expect("parse");
        assert_eq!(subject_line(&parsed), "O=銀行, CN=a");
        assert!(has_subject_alt_names(&parsed));
        assert_eq!(
            subject_alt_names(&parsed).expect("SANs"),
            vec![
                AltName::Dns("a.example".into()),
                AltName::Ip(vec![10, 0, 0, 5])
            ]
        );
        assert!(signed_by(&parsed, &parsed));
        let read = private_key_from_pem(pem.as_bytes()).expect("key");
        assert_eq!(read.pkcs8_der, key.serialize_der());
        assert!(key_matches(&parsed, &read));
        let other = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let other = private_key_from_pem(other.serialize_pem().as_bytes()).expect("key");
        assert!(!key_matches(&parsed, &other));
        assert!(private_key_from_pem(cert.pem().as_bytes()).is_err());
        assert!(certificates_der(b"no PEM here").expect("empty").is_empty());
        assert!(first_certificate_der(b"no PEM here").is_err());
    }
}
