//! Unit tests: the structure written for each profile, the refusals. The round trips through
//! an independent reader are in `tests/read_back.rs`, the third-party importers in
//! `tests/importers.rs`.

use super::*;
use der::{Reader, BMP_STRING, CONTEXT_0, INTEGER, OCTET_STRING, OID, SEQUENCE, SET};
use rand::rngs::OsRng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256, PKCS_ED25519, PKCS_RSA_SHA256,
};

const NAME: &str = "山田 太郎 - 銀行 証明書";
const JA_PASSWORD: &str = "証明書パスワード2026";

struct Fixture {
    key_der: Vec<u8>,
    cert_der: Vec<u8>,
    ca_der: Vec<u8>,
}

fn fixture(alg: &'static rcgen::SignatureAlgorithm) -> Fixture {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("ca key");
    let mut ca_params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "test CA");
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let key = if alg == &PKCS_RSA_SHA256 {
        KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_2048)
    } else {
        KeyPair::generate_for(alg)
    }
    .expect("leaf key");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "山田 太郎");
    params.distinguished_name = dn;
    let cert = params
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .expect("leaf cert");
    Fixture {
        key_der: key.serialize_der(),
        cert_der: cert.der().to_vec(),
        ca_der: ca_cert.der().to_vec(),
    }
}

fn write(f: &Fixture, password: &str, profile: P12Profile) -> Result<Vec<u8>, P12Error> {
    let chain = vec![f.ca_der.clone()];
    write_p12(
        &P12Input {
            key_pkcs8_der: &f.key_der,
            cert_der: &f.cert_der,
            ca_chain_der: &chain,
            friendly_name: NAME,
            password,
        },
        profile,
        &mut OsRng,
    )
}

/// The elements of a constructed element's content.
fn items(content: &[u8]) -> Vec<(u8, &[u8])> {
    let mut r = Reader::new(content);
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(r.next_any().expect("DER"));
    }
    out
}

fn int(content: &[u8]) -> u64 {
    content.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

fn assert_encryption(alg_id: &[u8], profile: P12Profile) {
    let parts = items(alg_id);
    match profile {
        P12Profile::Modern => {
            assert_eq!(parts[0].1, oid::PBES2, "PBES2");
            let params = items(parts[1].1);
            let kdf = items(params[0].1);
            assert_eq!(kdf[0].1, oid::PBKDF2, "PBKDF2");
            let kdf_params = items(kdf[1].1);
            assert_eq!(kdf_params.len(), 3, "salt, iterations, prf (no keyLength)");
            assert_eq!(kdf_params[0], (OCTET_STRING, &kdf_params[0].1[..]));
            assert_eq!(kdf_params[0].1.len(), SALT_LEN, "PBKDF2 salt length");
            assert_eq!(int(kdf_params[1].1), 10_000, "PBKDF2 iterations");
            assert_eq!(items(kdf_params[2].1)[0].1, oid::HMAC_SHA256, "PRF");
            let scheme = items(params[1].1);
            assert_eq!(scheme[0].1, oid::AES_256_CBC, "AES-256-CBC");
            assert_eq!(scheme[1].1.len(), 16, "AES IV");
        }
        P12Profile::Compatible => {
            assert_eq!(
                parts[0].1,
                oid::PBE_SHA1_3DES,
                "pbeWithSHAAnd3-KeyTripleDES-CBC"
            );
            let params = items(parts[1].1);
            assert_eq!(params[0].1.len(), SALT_LEN, "PBE salt length");
            assert_eq!(int(params[1].1), 2_048, "iterations");
        }
    }
}

/// (friendlyName, localKeyId) from a bag's attribute SET; checks the SET is sorted.
fn attributes(set: &[u8]) -> (String, Vec<u8>) {
    let attrs = items(set);
    assert_eq!(attrs.len(), 2);
    let encoded: Vec<Vec<u8>> = attrs.iter().map(|(t, c)| der::tlv(*t, c)).collect();
    let mut sorted = encoded.clone();
    sorted.sort();
    assert_eq!(encoded, sorted, "SET OF sorted (DER)");
    let mut name = None;
    let mut key_id = None;
    for (_, attr) in attrs {
        let attr = items(attr);
        let values = items(attr[1].1);
        assert_eq!(values.len(), 1);
        if attr[0].1 == oid::FRIENDLY_NAME {
            assert_eq!(values[0].0, BMP_STRING, "BMPString");
            let units: Vec<u16> = values[0]
                .1
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            name = Some(String::from_utf16(&units).expect("UTF-16"));
        } else if attr[0].1 == oid::LOCAL_KEY_ID {
            assert_eq!(values[0].0, OCTET_STRING);
            key_id = Some(values[0].1.to_vec());
        }
    }
    (name.expect("friendlyName"), key_id.expect("localKeyId"))
}

/// Walks the PFX: version, MAC, the encrypted certificate safe, the key bag and its attributes.
fn assert_structure(pfx_der: &[u8], profile: P12Profile, cert_der: &[u8]) {
    let pfx = items(der::single(pfx_der, SEQUENCE).expect("one PFX"));
    assert_eq!(pfx.len(), 3);
    assert_eq!(pfx[0], (INTEGER, &[3u8][..]), "PFX version 3");
    let mac = items(pfx[2].1);
    let digest_info = items(mac[0].1);
    let digest_alg = items(digest_info[0].1);
    let (digest, len) = match profile {
        P12Profile::Modern => (oid::SHA256, 32),
        P12Profile::Compatible => (oid::SHA1, 20),
    };
    assert_eq!(digest_alg[0].1, digest, "MAC digest");
    assert_eq!(digest_info[1].1.len(), len, "MAC length");
    assert_eq!(mac[1].1.len(), SALT_LEN, "MAC salt length");
    assert_eq!(
        int(mac[2].1),
        u64::from(iterations(profile)),
        "MAC iterations"
    );

    let auth_safe = items(pfx[1].1);
    assert_eq!(auth_safe[0].1, oid::DATA);
    let octets = der::single(auth_safe[1].1, OCTET_STRING).expect("[0] OCTET STRING");
    let safes = items(der::single(octets, SEQUENCE).expect("AuthenticatedSafe"));
    assert_eq!(safes.len(), 2, "certificates, then the key");

    let certs = items(safes[0].1);
    assert_eq!(certs[0].1, oid::ENCRYPTED_DATA);
    let enc_data = items(der::single(certs[1].1, SEQUENCE).expect("EncryptedData"));
    assert_eq!(enc_data[0], (INTEGER, &[0u8][..]));
    let eci = items(enc_data[1].1);
    assert_eq!(eci[0].1, oid::DATA);
    assert_encryption(eci[1].1, profile);
    assert_eq!(
        eci[2].0,
        der::CONTEXT_0_PRIMITIVE,
        "[0] IMPLICIT encryptedContent"
    );

    let key = items(safes[1].1);
    assert_eq!(key[0].1, oid::DATA);
    let octets = der::single(key[1].1, OCTET_STRING).expect("[0] OCTET STRING");
    let bags = items(der::single(octets, SEQUENCE).expect("SafeContents"));
    assert_eq!(bags.len(), 1);
    let bag = items(bags[0].1);
    assert_eq!(bag[0].1, oid::SHROUDED_KEY_BAG, "only the key is in clear");
    assert_eq!(bag[1].0, CONTEXT_0);
    let epki = items(der::single(bag[1].1, SEQUENCE).expect("EncryptedPrivateKeyInfo"));
    assert_encryption(epki[0].1, profile);
    assert_eq!(bag[2].0, SET);
    let (name, key_id) = attributes(bag[2].1);
    assert_eq!(name, NAME, "key bag friendlyName");
    assert_eq!(
        key_id,
        Sha1::digest(cert_der).to_vec(),
        "localKeyId = SHA-1(cert)"
    );
    assert_eq!(items(eci[1].1)[0].0, OID);
}

#[test]
fn both_profiles_write_the_expected_structure() {
    let f = fixture(&PKCS_ECDSA_P256_SHA256);
    for profile in P12Profile::ALL {
        let der = write(&f, JA_PASSWORD, profile).expect("write");
        assert_structure(&der, profile, &f.cert_der);
        // Fresh salts and IVs each time.
        assert_ne!(der, write(&f, JA_PASSWORD, profile).expect("write"));
    }
}

#[test]
fn rsa_keys_are_accepted() {
    let f = fixture(&PKCS_RSA_SHA256);
    for profile in P12Profile::ALL {
        let der = write(&f, "Abcdefgh2345wxyz", profile).expect("write");
        assert_structure(&der, profile, &f.cert_der);
    }
}

#[test]
fn iterations_are_those_of_today() {
    assert_eq!(iterations(P12Profile::Modern), 10_000);
    assert_eq!(iterations(P12Profile::Compatible), 2_048);
}

#[test]
fn a_name_outside_the_bmp_is_written_with_a_replacement_character() {
    assert_eq!(bmp_friendly_name(NAME), NAME);
    assert_eq!(bmp_friendly_name("𠮷田 花子"), "\u{FFFD}田 花子");
    assert_eq!(bmp_friendly_name("😀"), "\u{FFFD}");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let f = fixture(&PKCS_ECDSA_P256_SHA256);
    let other = fixture(&PKCS_ECDSA_P256_SHA256);
    let rsa = fixture(&PKCS_RSA_SHA256);
    let other_rsa = fixture(&PKCS_RSA_SHA256);
    let ed = fixture(&PKCS_ED25519);
    let chain = vec![f.ca_der.clone()];
    let base = P12Input {
        key_pkcs8_der: &f.key_der,
        cert_der: &f.cert_der,
        ca_chain_der: &chain,
        friendly_name: NAME,
        password: "Abcdefgh2345wxyz",
    };
    let err =
        |i: &P12Input<'_>| write_p12(i, P12Profile::Modern, &mut OsRng).expect_err("must fail");
    let password = |password| P12Input { password, ..base };
    assert_eq!(err(&password("")), P12Error::Password("empty"));
    assert_eq!(err(&password("a\0b")), P12Error::Password("contains NUL"));
    assert_eq!(
        err(&password("pass😀word")),
        P12Error::Password("has characters outside the Basic Multilingual Plane")
    );
    let name = |friendly_name| P12Input {
        friendly_name,
        ..base
    };
    assert_eq!(err(&name("")), P12Error::FriendlyName("empty"));
    assert_eq!(err(&name("a\0b")), P12Error::FriendlyName("contains NUL"));
    assert!(matches!(
        err(&P12Input {
            key_pkcs8_der: b"junk",
            ..base
        }),
        P12Error::Key(_)
    ));
    assert!(matches!(
        err(&P12Input {
            cert_der: b"junk",
            ..base
        }),
        P12Error::Certificate(_)
    ));
    let bad_chain = vec![f.ca_der.clone(), b"junk".to_vec()];
    assert!(matches!(
        err(&P12Input {
            ca_chain_der: &bad_chain,
            ..base
        }),
        P12Error::CaCertificate { index: 1, .. }
    ));
    // Keys that are not the certificate's: same curve, RSA of the same size, another type.
    for key in [&other.key_der, &rsa.key_der, &ed.key_der] {
        assert_eq!(
            err(&P12Input {
                key_pkcs8_der: key,
                ..base
            }),
            P12Error::KeyMismatch
        );
    }
    assert_eq!(
        err(&P12Input {
            key_pkcs8_der: &other_rsa.key_der,
            cert_der: &rsa.cert_der,
            ..base
        }),
        P12Error::KeyMismatch
    );
    // The matching pairs of each type pass.
    for g in [&rsa, &ed] {
        write_p12(
            &P12Input {
                key_pkcs8_der: &g.key_der,
                cert_der: &g.cert_der,
                ..base
            },
            P12Profile::Compatible,
            &mut OsRng,
        )
        .expect("a matching key");
    }
    // Every truncation of the key and the certificate is an error, never a panic.
    for cut in 0..f.key_der.len() {
        assert!(write_p12(
            &P12Input {
                key_pkcs8_der: &f.key_der[..cut],
                ..base
            },
            P12Profile::Compatible,
            &mut OsRng
        )
        .is_err());
    }
    for cut in 0..f.cert_der.len() {
        assert!(write_p12(
            &P12Input {
                cert_der: &f.cert_der[..cut],
                ..base
            },
            P12Profile::Compatible,
            &mut OsRng
        )
        .is_err());
    }
}

#[test]
fn an_ec_key_without_its_public_point_is_checked_by_curve() {
    // ECPrivateKey without [1] publicKey, as some exporters write: same algorithm and curve
    // are accepted (the point cannot be compared without EC arithmetic), another curve not.
    let f = fixture(&PKCS_ECDSA_P256_SHA256);
    let pki = items(der::single(&f.key_der, SEQUENCE).expect("PKCS#8"));
    let ec = items(der::single(pki[2].1, SEQUENCE).expect("ECPrivateKey"));
    let stripped_ec = der::sequence(&[&der::tlv(ec[0].0, ec[0].1), &der::tlv(ec[1].0, ec[1].1)]);
    let strip = |alg: &[u8]| {
        der::sequence(&[
            &der::tlv(pki[0].0, pki[0].1),
            alg,
            &der::octet_string(&stripped_ec),
        ])
    };
    let same_curve = strip(&der::tlv(pki[1].0, pki[1].1));
    let p384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    let other_curve = strip(&der::sequence(&[
        &der::oid(oid::EC_PUBLIC_KEY),
        &der::oid(p384),
    ]));
    let chain = vec![f.ca_der.clone()];
    let input = |key: &[u8]| {
        write_p12(
            &P12Input {
                key_pkcs8_der: key,
                cert_der: &f.cert_der,
                ca_chain_der: &chain,
                friendly_name: NAME,
                password: "x",
            },
            P12Profile::Compatible,
            &mut OsRng,
        )
    };
    input(&same_curve).expect("same curve");
    assert_eq!(input(&other_curve), Err(P12Error::KeyMismatch));
}

#[test]
fn the_debug_output_hides_the_key_and_the_password() {
    let input = P12Input {
        key_pkcs8_der: b"secret key",
        cert_der: b"",
        ca_chain_der: &[],
        friendly_name: "n",
        password: "hunter2",
    };
    let text = format!("{input:?}");
    assert!(
        !text.contains("hunter2") && !text.contains("115, 101"),
        "{text}"
    );
}
