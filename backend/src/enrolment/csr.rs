//! The holder's certificate request (PKCS#10): decoded, parsed as strict DER, its signature
//! checked with its own key (proof of possession) through aws-lc-rs, and its key held to the
//! organisation's key type. Its subject, attributes and requested extensions are ignored: the
//! certificate says what certdesk's profile says.

use base64::Engine;
use certdesk_domain::enrolment::{EnrolmentError, MAX_CSR_BASE64, MAX_CSR_BYTES};
use certdesk_domain::profile::KeyType;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_PKCS1_SHA256WITHRSA,
    OID_SIG_ECDSA_WITH_SHA256,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

/// The holder's key, as the flow needs it: its SubjectPublicKeyInfo and the request itself
/// (an external CA wants the request, signed by the key).
#[derive(Debug, Clone)]
pub struct HolderKey {
    pub spki_der: Vec<u8>,
    pub csr_der: Vec<u8>,
}

/// The request's base64 text (standard alphabet; whitespace allowed) as DER, within the size
/// limit.
pub fn decode(text: &str) -> Result<Vec<u8>, EnrolmentError> {
    let too_large = EnrolmentError::CsrTooLarge { max: MAX_CSR_BYTES };
    // Counted before anything is decoded: the body cap is larger than a request may be.
    if text.len() > MAX_CSR_BASE64 + 1024 {
        return Err(too_large);
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() > MAX_CSR_BASE64 {
        return Err(too_large);
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| EnrolmentError::CsrMalformed)?;
    if der.len() > MAX_CSR_BYTES {
        return Err(too_large);
    }
    Ok(der)
}

/// Checks a request for a key of `expected` type and returns the key. Every refusal is coded
/// and nothing is kept.
pub fn check(der: &[u8], expected: KeyType) -> Result<HolderKey, EnrolmentError> {
    if der.len() > MAX_CSR_BYTES {
        return Err(EnrolmentError::CsrTooLarge { max: MAX_CSR_BYTES });
    }
    let (rest, csr) =
        X509CertificationRequest::from_der(der).map_err(|_| EnrolmentError::CsrMalformed)?;
    if !rest.is_empty() {
        return Err(EnrolmentError::CsrMalformed);
    }
    let info = &csr.certification_request_info;
    let spki = &info.subject_pki;
    let key_alg = &spki.algorithm.algorithm;
    let found = if *key_alg == OID_PKCS1_RSAENCRYPTION {
        KeyType::Rsa2048
    } else if *key_alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        if curve.as_ref() != Some(&OID_EC_P256) {
            return Err(EnrolmentError::KeyType { expected });
        }
        KeyType::EcdsaP256
    } else {
        return Err(EnrolmentError::KeyType { expected });
    };
    if found != expected {
        return Err(EnrolmentError::KeyType { expected });
    }
    let sig_alg = &csr.signature_algorithm.algorithm;
    let verifier: &'static dyn aws_lc_rs::signature::VerificationAlgorithm = match found {
        KeyType::Rsa2048 => {
            let bits = match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => rsa.key_size(),
                _ => return Err(EnrolmentError::CsrMalformed),
            };
            if bits != 2048 {
                return Err(EnrolmentError::RsaSize { bits });
            }
            if *sig_alg != OID_PKCS1_SHA256WITHRSA {
                return Err(EnrolmentError::CsrAlgorithm);
            }
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256
        }
        KeyType::EcdsaP256 => {
            if *sig_alg != OID_SIG_ECDSA_WITH_SHA256 {
                return Err(EnrolmentError::CsrAlgorithm);
            }
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1
        }
    };
    // Proof of possession: the request info signed by the key it names.
    aws_lc_rs::signature::UnparsedPublicKey::new(verifier, &spki.subject_public_key.data)
        .verify(info.raw, &csr.signature_value.data)
        .map_err(|_| EnrolmentError::CsrSignature)?;
    Ok(HolderKey {
        spki_der: spki.raw.to_vec(),
        csr_der: der.to_vec(),
    })
}

/// For an external CA that copies what the subject holds beyond the names certdesk gives
/// (cfssl fills C, ST, L and serialNumber from the request): the request's subject may hold
/// only CN, O and OU, which certdesk's own names replace.
pub fn check_subject_for_external_ca(der: &[u8]) -> Result<(), EnrolmentError> {
    use x509_parser::oid_registry::{
        OID_X509_COMMON_NAME, OID_X509_ORGANIZATIONAL_UNIT, OID_X509_ORGANIZATION_NAME,
    };
    let (_, csr) =
        X509CertificationRequest::from_der(der).map_err(|_| EnrolmentError::CsrMalformed)?;
    let mut other: Vec<String> = csr
        .certification_request_info
        .subject
        .iter_attributes()
        .filter(|a| {
            let t = a.attr_type();
            *t != OID_X509_COMMON_NAME
                && *t != OID_X509_ORGANIZATION_NAME
                && *t != OID_X509_ORGANIZATIONAL_UNIT
        })
        .map(|a| {
            x509_parser::objects::oid2abbrev(a.attr_type(), x509_parser::objects::oid_registry())
                .map(str::to_string)
                .unwrap_or_else(|_| a.attr_type().to_id_string())
        })
        .collect();
    other.sort();
    other.dedup();
    if other.is_empty() {
        Ok(())
    } else {
        Err(EnrolmentError::CsrSubjectFields {
            fields: other.join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        CertificateParams, KeyPair, PublicKeyData, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
    };

    fn csr(key: &KeyPair) -> Vec<u8> {
        let params = CertificateParams::new(vec!["ignored.example".to_string()])
            .unwrap_or_else(|_| unreachable!("a constant name"));
        params
            .serialize_request(key)
            .unwrap_or_else(|_| unreachable!("a fresh key signs"))
            .der()
            .to_vec()
    }

    #[test]
    fn a_p256_request_signed_by_its_key_is_accepted_and_a_changed_one_is_not() {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let der = csr(&key);
        let holder = check(&der, KeyType::EcdsaP256).expect("accepted");
        assert_eq!(holder.spki_der, key.subject_public_key_info());
        assert_eq!(
            check(&der, KeyType::Rsa2048).expect_err("refused"),
            EnrolmentError::KeyType {
                expected: KeyType::Rsa2048
            }
        );
        let mut broken = der.clone();
        let last = broken.len() - 1;
        broken[last] ^= 1;
        assert!(matches!(
            check(&broken, KeyType::EcdsaP256),
            Err(EnrolmentError::CsrSignature | EnrolmentError::CsrMalformed)
        ));
        let mut trailing = der;
        trailing.push(0);
        assert_eq!(
            check(&trailing, KeyType::EcdsaP256).expect_err("refused"),
            EnrolmentError::CsrMalformed
        );
    }

    #[test]
    fn another_curve_is_another_key_type() {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("key");
        assert_eq!(
            check(&csr(&key), KeyType::EcdsaP256).expect_err("refused"),
            EnrolmentError::KeyType {
                expected: KeyType::EcdsaP256
            }
        );
    }

    #[test]
    fn base64_is_decoded_within_the_limit() {
        assert_eq!(decode("AQID").expect("decodes"), vec![1, 2, 3]);
        assert_eq!(
            decode("AQ ID\n").expect("whitespace ignored"),
            vec![1, 2, 3]
        );
        assert_eq!(
            decode("!!").expect_err("refused"),
            EnrolmentError::CsrMalformed
        );
        let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; MAX_CSR_BYTES + 1]);
        assert_eq!(
            decode(&big).expect_err("refused"),
            EnrolmentError::CsrTooLarge { max: MAX_CSR_BYTES }
        );
    }
}
