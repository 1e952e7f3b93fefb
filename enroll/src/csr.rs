//! The PKCS#10 certification request (RFC 2986), in DER types: the request info around the
//! public key WebCrypto exported, and the request around the signature WebCrypto made.
//! Pure Rust, no browser: tested on the host.

use der::asn1::{BitString, Null};
use der::{Decode, Encode};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use std::str::FromStr;
use x509_cert::attr::Attributes;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};

/// sha256WithRSAEncryption (RFC 4055).
pub const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// ecdsa-with-SHA256 (RFC 5758).
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// The subject the request carries. The server ignores it (it names the holder from its own
/// records), so it says only where the request came from.
pub const PLACEHOLDER_SUBJECT: &str = "CN=certdesk self-service enrolment";

/// The two key types an organisation's profile can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa2048,
    EcdsaP256,
}

impl KeyType {
    /// `rsa2048` or `ecdsa_p256`, as `/api/enroll/profile` names them.
    pub fn parse(s: &str) -> Option<KeyType> {
        match s {
            "rsa2048" => Some(KeyType::Rsa2048),
            "ecdsa_p256" => Some(KeyType::EcdsaP256),
            _ => None,
        }
    }

    fn signature_algorithm(self) -> AlgorithmIdentifierOwned {
        match self {
            // RFC 4055 §5: the parameters of the RSA signature algorithms are NULL.
            KeyType::Rsa2048 => AlgorithmIdentifierOwned {
                oid: SHA256_WITH_RSA,
                parameters: Some(Null.into()),
            },
            // RFC 5758 §3.2: absent for ECDSA.
            KeyType::EcdsaP256 => AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
        }
    }
}

/// The request info for the exported SubjectPublicKeyInfo: version 1, the placeholder
/// subject, no attributes.
pub fn request_info(spki_der: &[u8]) -> Result<CertReqInfo, der::Error> {
    let public_key = SubjectPublicKeyInfoOwned::from_der(spki_der)?;
    Ok(CertReqInfo {
        version: Version::V1,
        subject: Name::from_str(PLACEHOLDER_SUBJECT)?,
        public_key,
        attributes: Attributes::new(),
    })
}

/// The DER of the signed request. `signature` is what WebCrypto's `sign` gave: the PKCS#1
/// v1.5 signature for RSA, `r || s` (IEEE P1363) for ECDSA, which X.509 wants as the DER
/// `Ecdsa-Sig-Value`.
pub fn request_der(
    info: CertReqInfo,
    key_type: KeyType,
    signature: &[u8],
) -> Result<Vec<u8>, der::Error> {
    let signature = match key_type {
        KeyType::Rsa2048 => signature.to_vec(),
        KeyType::EcdsaP256 => ecdsa_sig_value(signature)?,
    };
    CertReq {
        info,
        algorithm: key_type.signature_algorithm(),
        signature: BitString::from_bytes(&signature)?,
    }
    .to_der()
}

/// `r || s` (two big-endian integers of equal length) as `Ecdsa-Sig-Value ::= SEQUENCE { r
/// INTEGER, s INTEGER }` (RFC 3279 §2.2.3).
pub fn ecdsa_sig_value(raw: &[u8]) -> Result<Vec<u8>, der::Error> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(der::ErrorKind::Length {
            tag: der::Tag::Sequence,
        }
        .into());
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let r = der::asn1::UintRef::new(r)?;
    let s = der::asn1::UintRef::new(s)?;
    let body = [r.to_der()?, s.to_der()?].concat();
    der::asn1::AnyRef::new(der::Tag::Sequence, &body)?.to_der()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_integers_are_minimal_and_positive() {
        // r has its high bit set (a 0x00 goes before it), s has leading zeros (dropped).
        let mut raw = vec![0x80; 32];
        raw.extend([0u8; 31]);
        raw.push(0x05);
        let der = ecdsa_sig_value(&raw).expect("encodes");
        let mut expected = vec![0x30, 2 + 33 + 3, 0x02, 33, 0x00];
        expected.extend([0x80; 32]);
        expected.extend([0x02, 1, 0x05]);
        assert_eq!(der, expected);
        assert!(ecdsa_sig_value(&[1, 2, 3]).is_err());
        assert!(ecdsa_sig_value(&[]).is_err());
    }

    #[test]
    fn the_info_carries_the_key_and_nothing_else() {
        // An Ed25519 SPKI is enough to see the structure (the key type is not looked at here).
        let spki_der = [
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ]
        .iter()
        .copied()
        .chain([7u8; 32])
        .collect::<Vec<_>>();
        let info = request_info(&spki_der).expect("info");
        assert_eq!(info.public_key.to_der().expect("der"), spki_der);
        assert!(info.attributes.is_empty());
        assert_eq!(info.subject.to_string(), PLACEHOLDER_SUBJECT);
        let req = request_der(info, KeyType::EcdsaP256, &[1u8; 64]).expect("request");
        let back = CertReq::from_der(&req).expect("reads back");
        assert_eq!(back.algorithm.oid, ECDSA_WITH_SHA256);
        assert!(request_info(&spki_der[..10]).is_err());
    }
}
