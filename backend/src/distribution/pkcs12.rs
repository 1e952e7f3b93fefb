//! PKCS#12 (`.p12`) files for issued client certificates: the private key, the client
//! certificate and the CA certificate, protected by the download password.
//!
//! Why the `openssl` crate (0.10, linked to the system OpenSSL 3 from Debian's `libssl-dev`),
//! see `/work/shared/research/pkcs12.md` for the measurements on this machine:
//! - `p12` (0.6, last release 2022) can only write RC2-40 for the certificates (3DES for the
//!   key, SHA-1 MAC, all fixed). OpenSSL 3 rejects RC2 without `-legacy`, and curl fails to
//!   load such a file (`0308010C unsupported`), so it cannot be used at all.
//! - `p12-keystore` (0.4) writes the certificate's subject text as the certificate bag's
//!   friendlyName and puts the given name only on the key bag; Windows shows the certificate's,
//!   so users would see the DN instead of the name we chose.
//! - RustCrypto's `pkcs12` (0.2.0-pre) only parses; a hand-written builder on
//!   `pkcs5`/`cms`/`hmac`/`des` worked but is ~110 lines of our own cryptographic code to
//!   maintain.
//! - `openssl` (`PKCS12_create` + `PKCS12_set_mac`) lets us choose the key and certificate
//!   encryption, the MAC digest and the iteration counts, sets the friendlyName on both the
//!   key bag and the certificate bag, links them with a localKeyId (SHA-1 of the
//!   certificate), and adds the CA certificates without a name. It was accepted by OpenSSL 3,
//!   NSS, Python `cryptography`, GnuTLS and curl for both profiles.
//!
//! Text encoding (RFC 7292): OpenSSL 3 turns the UTF-8 password into a big-endian BMPString
//! for the PKCS#12 key derivation (3DES and the MAC; `PKCS12_key_gen_utf8`), gives PBKDF2 the
//! UTF-8 octets (PBES2 takes octets), and writes the friendlyName as a BMPString converted
//! from UTF-8 (`PKCS12_add_friendlyname_utf8`). Japanese passwords and names were verified with
//! `openssl pkcs12`, NSS `pk12util` and Python `cryptography` (`tests/tools/check-p12.sh`).
//! Passwords with characters outside the BMP (emoji) are refused: a BMPString cannot hold them
//! and importers disagree on how to derive keys from them. Generate printable ASCII passwords.
//! OpenSSL also refuses such characters in a friendlyName ("illegal characters"), and they do
//! occur in Japanese names (U+20BB7 "𠮷" of 𠮷田): [`bmp_friendly_name`] replaces each with
//! U+FFFD so that issuing never fails over a display name.
//!
//! Never RC2 (OpenSSL 3 and curl reject it) and never PBMAC1 (RFC 9579; most importers,
//! including OpenSSL before 3.4, cannot read it).
//!
//! Cost: iterations are spent for the certificates, the key and the MAC, and the MAC twice (the
//! crate's `build2` lets `PKCS12_create` compute one, then replaces it with `PKCS12_set_mac` for
//! the chosen digest). Measured (release, RSA-2048 + CA): modern ≈ 5.7 ms, compatible ≈ 1.8 ms,
//! far below RSA key generation. Call it on a blocking thread together with key generation.

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::x509::X509;

/// How the `.p12` is protected (a domain type: the pages show and choose it).
pub use certdesk_domain::distribution::P12Profile;

/// Iterations for the key and certificate encryption, and for the MAC.
pub fn iterations(profile: P12Profile) -> u32 {
    match profile {
        P12Profile::Modern => 10_000,
        P12Profile::Compatible => 2_048,
    }
}

/// (key and certificate encryption, MAC digest)
fn algorithms(profile: P12Profile) -> (Nid, MessageDigest) {
    match profile {
        // With a cipher NID, OpenSSL 3 writes PBES2 with PBKDF2 and hmacWithSHA256 as PRF.
        P12Profile::Modern => (Nid::AES_256_CBC, MessageDigest::sha256()),
        P12Profile::Compatible => (
            Nid::PBE_WITHSHA1AND3_KEY_TRIPLEDES_CBC,
            MessageDigest::sha1(),
        ),
    }
}

/// What goes into one `.p12` file.
pub struct P12Input<'a> {
    /// The client's private key, PKCS#8 DER (rcgen's `KeyPair::serialize_der`).
    pub key_pkcs8_der: &'a [u8],
    /// The client certificate, DER.
    pub cert_der: &'a [u8],
    /// The issuing CA certificate(s), DER, stored without a friendly name.
    pub ca_chain_der: &'a [Vec<u8>],
    /// Shown by Windows and Keychain for the certificate; set on the key and the certificate.
    pub friendly_name: &'a str,
    /// The download password (UTF-8).
    pub password: &'a str,
}

impl std::fmt::Debug for P12Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P12Input")
            .field("key_pkcs8_der", &"***")
            .field("cert_der_len", &self.cert_der.len())
            .field("ca_chain_len", &self.ca_chain_der.len())
            .field("friendly_name", &self.friendly_name)
            .field("password", &"***")
            .finish()
    }
}

/// Why a `.p12` could not be made. All are internal errors (the caller's E-SYS-002): the
/// inputs come from our own CA and password generator.
#[derive(Debug, thiserror::Error)]
pub enum P12Error {
    #[error("the private key is not PKCS#8 DER OpenSSL can read: {0}")]
    Key(#[source] openssl::error::ErrorStack),
    #[error("the client certificate is not DER OpenSSL can read: {0}")]
    Certificate(#[source] openssl::error::ErrorStack),
    #[error("CA certificate {index} is not DER OpenSSL can read: {source}")]
    CaCertificate {
        index: usize,
        #[source]
        source: openssl::error::ErrorStack,
    },
    #[error("the private key does not belong to the client certificate")]
    KeyMismatch,
    #[error("the password is unusable: {0}")]
    Password(&'static str),
    #[error("the friendly name is unusable: {0}")]
    FriendlyName(&'static str),
    #[error("OpenSSL could not build the PKCS#12 file: {0}")]
    Build(#[source] openssl::error::ErrorStack),
}

/// The friendly name as it is written: characters outside the Basic Multilingual Plane, which a
/// BMPString cannot hold (OpenSSL refuses them), become U+FFFD REPLACEMENT CHARACTER.
pub fn bmp_friendly_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.chars().all(|c| u32::from(c) <= 0xFFFF) {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(
            name.chars()
                .map(|c| {
                    if u32::from(c) <= 0xFFFF {
                        c
                    } else {
                        '\u{FFFD}'
                    }
                })
                .collect(),
        )
    }
}

/// Builds a `.p12` with the key, the certificate and the CA chain under `input.password`.
/// The friendly name goes through [`bmp_friendly_name`].
pub fn build_p12(input: &P12Input<'_>, profile: P12Profile) -> Result<Vec<u8>, P12Error> {
    // The openssl crate panics on an interior NUL (CString::new(..).unwrap()): check first.
    if input.password.is_empty() {
        return Err(P12Error::Password("empty"));
    }
    if input.password.contains('\0') {
        return Err(P12Error::Password("contains NUL"));
    }
    if input.password.chars().any(|c| u32::from(c) > 0xFFFF) {
        return Err(P12Error::Password(
            "has characters outside the Basic Multilingual Plane",
        ));
    }
    if input.friendly_name.is_empty() {
        return Err(P12Error::FriendlyName("empty"));
    }
    if input.friendly_name.contains('\0') {
        return Err(P12Error::FriendlyName("contains NUL"));
    }

    let pkey = PKey::private_key_from_pkcs8(input.key_pkcs8_der).map_err(P12Error::Key)?;
    let cert = X509::from_der(input.cert_der).map_err(P12Error::Certificate)?;
    let cert_key = cert.public_key().map_err(P12Error::Certificate)?;
    if !cert_key.public_eq(&pkey) {
        return Err(P12Error::KeyMismatch);
    }
    let mut chain = Stack::new().map_err(P12Error::Build)?;
    for (index, der) in input.ca_chain_der.iter().enumerate() {
        let ca = X509::from_der(der).map_err(|source| P12Error::CaCertificate { index, source })?;
        chain.push(ca).map_err(P12Error::Build)?;
    }

    let (cipher, mac_md) = algorithms(profile);
    let rounds = iterations(profile);
    let mut builder = Pkcs12::builder();
    builder
        .name(&bmp_friendly_name(input.friendly_name))
        .pkey(&pkey)
        .cert(&cert)
        .key_algorithm(cipher)
        .cert_algorithm(cipher)
        .key_iter(rounds)
        .mac_iter(rounds)
        .mac_md(mac_md);
    if !input.ca_chain_der.is_empty() {
        builder.ca(chain);
    }
    let p12 = builder.build2(input.password).map_err(P12Error::Build)?;
    p12.to_der().map_err(P12Error::Build)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
        PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
    };

    const NAME: &str = "山田 太郎 - 銀行 証明書";
    const JA_PASSWORD: &str = "証明書パスワード2026";

    struct Fixture {
        key_der: Vec<u8>,
        cert_der: Vec<u8>,
        ca_der: Vec<u8>,
    }

    fn fixture(rsa: bool) -> Fixture {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("ca key");
        let mut ca_params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "test CA");
        ca_params.distinguished_name = dn;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let key = if rsa {
            KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        } else {
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
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

    fn build(f: &Fixture, password: &str, profile: P12Profile) -> Vec<u8> {
        build_named(f, NAME, password, profile)
    }

    fn build_named(f: &Fixture, name: &str, password: &str, profile: P12Profile) -> Vec<u8> {
        let chain = vec![f.ca_der.clone()];
        build_p12(
            &P12Input {
                key_pkcs8_der: &f.key_der,
                cert_der: &f.cert_der,
                ca_chain_der: &chain,
                friendly_name: name,
                password,
            },
            profile,
        )
        .expect("build")
    }

    // --- a minimal DER reader, enough to look at the structure OpenSSL wrote ---

    /// (tag, content, rest)
    fn tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = input[0];
        let (len, header) = match input[1] {
            n if n < 0x80 => (usize::from(n), 2),
            n => {
                let count = usize::from(n & 0x7f);
                let len = input[2..2 + count]
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                (len, 2 + count)
            }
        };
        (tag, &input[header..header + len], &input[header + len..])
    }

    fn items(mut input: &[u8]) -> Vec<(u8, &[u8])> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let (tag, content, rest) = tlv(input);
            out.push((tag, content));
            input = rest;
        }
        out
    }

    fn int(content: &[u8]) -> u64 {
        content.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b))
    }

    const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    const OID_ENCRYPTED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];
    const OID_SHROUDED_KEY_BAG: &[u8] = &[
        0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x02,
    ];
    const OID_FRIENDLY_NAME: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x14];
    const OID_LOCAL_KEY_ID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x15];
    const OID_PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
    const OID_PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
    const OID_HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
    const OID_AES_256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
    const OID_PBE_SHA1_3DES: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03];
    const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];

    /// Checks an encryption AlgorithmIdentifier against the profile; returns nothing, panics.
    fn assert_encryption(alg_id: &[u8], profile: P12Profile) {
        let parts = items(alg_id);
        match profile {
            P12Profile::Modern => {
                assert_eq!(parts[0].1, OID_PBES2, "PBES2");
                let params = items(parts[1].1);
                let kdf = items(params[0].1);
                assert_eq!(kdf[0].1, OID_PBKDF2, "PBKDF2");
                let kdf_params = items(kdf[1].1);
                assert_eq!(kdf_params[0].1.len(), 8, "PBKDF2 salt length");
                assert_eq!(int(kdf_params[1].1), 10_000, "PBKDF2 iterations");
                let prf = kdf_params
                    .iter()
                    .find(|(tag, _)| *tag == 0x30)
                    .expect("prf");
                assert_eq!(items(prf.1)[0].1, OID_HMAC_SHA256, "PRF");
                let scheme = items(params[1].1);
                assert_eq!(scheme[0].1, OID_AES_256_CBC, "AES-256-CBC");
            }
            P12Profile::Compatible => {
                assert_eq!(
                    parts[0].1, OID_PBE_SHA1_3DES,
                    "pbeWithSHAAnd3-KeyTripleDES-CBC"
                );
                let params = items(parts[1].1);
                assert_eq!(int(params[1].1), 2_048, "iterations");
            }
        }
    }

    /// Walks the PFX: MAC, the encrypted certificate safe, the key bag and its attributes.
    fn assert_structure(der: &[u8], profile: P12Profile, cert_der: &[u8]) {
        let (_, pfx, rest) = tlv(der);
        assert!(rest.is_empty());
        let pfx = items(pfx);
        assert_eq!(pfx[0].1, &[3], "PFX version 3");
        // MacData
        let mac = items(pfx[2].1);
        let digest_info = items(mac[0].1);
        let digest_alg = items(digest_info[0].1);
        let (oid, len) = match profile {
            P12Profile::Modern => (OID_SHA256, 32),
            P12Profile::Compatible => (OID_SHA1, 20),
        };
        assert_eq!(digest_alg[0].1, oid, "MAC digest");
        assert_eq!(digest_info[1].1.len(), len, "MAC length");
        assert_eq!(mac[1].1.len(), 8, "MAC salt length");
        assert_eq!(
            int(mac[2].1),
            u64::from(iterations(profile)),
            "MAC iterations"
        );
        // authSafe: data → AuthenticatedSafe
        let auth_safe = items(pfx[1].1);
        assert_eq!(auth_safe[0].1, OID_DATA);
        let (_, octets, _) = tlv(auth_safe[1].1);
        let (_, safes, _) = tlv(octets);
        let mut saw_encrypted_certs = false;
        let mut saw_key = false;
        for (_, content_info) in items(safes) {
            let ci = items(content_info);
            if ci[0].1 == OID_ENCRYPTED_DATA {
                // EncryptedData { version, EncryptedContentInfo { type, alg, [0] content } }
                let (_, enc_data, _) = tlv(ci[1].1);
                let eci = items(items(enc_data)[1].1);
                assert_encryption(eci[1].1, profile);
                saw_encrypted_certs = true;
            } else {
                assert_eq!(ci[0].1, OID_DATA);
                let (_, octets, _) = tlv(ci[1].1);
                let (_, bags, _) = tlv(octets);
                for (_, bag) in items(bags) {
                    let bag = items(bag);
                    assert_eq!(bag[0].1, OID_SHROUDED_KEY_BAG, "only the key is in clear");
                    let (_, epki, _) = tlv(bag[1].1);
                    assert_encryption(items(epki)[0].1, profile);
                    let mut name = None;
                    let mut key_id = None;
                    for (_, attr) in items(bag[2].1) {
                        let attr = items(attr);
                        let value = items(attr[1].1)[0];
                        if attr[0].1 == OID_FRIENDLY_NAME {
                            assert_eq!(value.0, 0x1e, "BMPString");
                            let units: Vec<u16> = value
                                .1
                                .chunks(2)
                                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                                .collect();
                            name = Some(String::from_utf16(&units).expect("UTF-16"));
                        } else if attr[0].1 == OID_LOCAL_KEY_ID {
                            key_id = Some(value.1.to_vec());
                        }
                    }
                    assert_eq!(name.as_deref(), Some(NAME), "key bag friendlyName");
                    assert_eq!(
                        key_id.as_deref(),
                        Some(&openssl::sha::sha1(cert_der)[..]),
                        "key bag localKeyId is the certificate's SHA-1"
                    );
                    saw_key = true;
                }
            }
        }
        assert!(saw_encrypted_certs && saw_key);
    }

    fn round_trip(rsa: bool, password: &str, profile: P12Profile) {
        let f = fixture(rsa);
        let der = build(&f, password, profile);
        assert_structure(&der, profile, &f.cert_der);

        let parsed = Pkcs12::from_der(&der)
            .expect("DER")
            .parse2(password)
            .expect("MAC and decryption");
        let key = parsed.pkey.expect("key");
        let original = PKey::private_key_from_pkcs8(&f.key_der).expect("original key");
        assert_eq!(
            key.private_key_to_pkcs8().expect("pkcs8"),
            original.private_key_to_pkcs8().expect("pkcs8"),
            "same private key"
        );
        let cert = parsed.cert.expect("cert");
        assert_eq!(cert.to_der().expect("der"), f.cert_der, "same certificate");
        assert_eq!(
            cert.alias(),
            Some(NAME.as_bytes()),
            "certificate friendlyName"
        );
        let ca = parsed.ca.expect("CA chain");
        assert_eq!(ca.len(), 1);
        let ca_cert = ca.iter().next().expect("CA");
        assert_eq!(
            ca_cert.to_der().expect("der"),
            f.ca_der,
            "same CA certificate"
        );
        assert_eq!(ca_cert.alias(), None, "the CA has no friendlyName");

        assert!(
            Pkcs12::from_der(&der)
                .expect("DER")
                .parse2("wrong password")
                .is_err(),
            "a wrong password is refused"
        );
    }

    #[test]
    fn modern_rsa_with_a_japanese_password_round_trips() {
        round_trip(true, JA_PASSWORD, P12Profile::Modern);
    }

    #[test]
    fn compatible_rsa_with_a_japanese_password_round_trips() {
        round_trip(true, JA_PASSWORD, P12Profile::Compatible);
    }

    #[test]
    fn modern_ecdsa_with_an_ascii_password_round_trips() {
        round_trip(false, "Abcdefgh2345wxyz", P12Profile::Modern);
    }

    #[test]
    fn compatible_ecdsa_with_an_ascii_password_round_trips() {
        round_trip(false, "Abcdefgh2345wxyz", P12Profile::Compatible);
    }

    #[test]
    fn a_name_outside_the_bmp_is_written_with_a_replacement_character() {
        assert_eq!(bmp_friendly_name(NAME), NAME);
        assert_eq!(bmp_friendly_name("𠮷田 花子"), "\u{FFFD}田 花子");
        let f = fixture(false);
        let der = build_named(&f, "𠮷田 花子", "Abcdefgh2345wxyz", P12Profile::Modern);
        let parsed = Pkcs12::from_der(&der)
            .expect("DER")
            .parse2("Abcdefgh2345wxyz")
            .expect("parse");
        let cert = parsed.cert.expect("cert");
        assert_eq!(cert.alias(), Some("\u{FFFD}田 花子".as_bytes()));
    }

    #[test]
    fn profile_names_round_trip() {
        for profile in P12Profile::ALL {
            assert_eq!(P12Profile::parse(profile.as_str()), Some(profile));
            let json = serde_json::to_string(&profile).expect("json");
            assert_eq!(json, format!("\"{}\"", profile.as_str()));
        }
        assert_eq!(P12Profile::parse("legacy"), None);
        assert_eq!(P12Profile::parse("Modern"), None);
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let f = fixture(false);
        let other = fixture(false);
        let chain = vec![f.ca_der.clone()];
        let base = P12Input {
            key_pkcs8_der: &f.key_der,
            cert_der: &f.cert_der,
            ca_chain_der: &chain,
            friendly_name: NAME,
            password: "Abcdefgh2345wxyz",
        };
        let p = P12Profile::Modern;
        let err = |i: &P12Input<'_>| build_p12(i, p).expect_err("must fail");
        assert!(matches!(
            err(&P12Input {
                password: "",
                ..base
            }),
            P12Error::Password(_)
        ));
        assert!(matches!(
            err(&P12Input {
                password: "a\0b",
                ..base
            }),
            P12Error::Password(_)
        ));
        assert!(matches!(
            err(&P12Input {
                password: "pass😀word",
                ..base
            }),
            P12Error::Password(_)
        ));
        assert!(matches!(
            err(&P12Input {
                friendly_name: "a\0b",
                ..base
            }),
            P12Error::FriendlyName(_)
        ));
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
        assert!(matches!(
            err(&P12Input {
                key_pkcs8_der: &other.key_der,
                ..base
            }),
            P12Error::KeyMismatch
        ));
        let bad_chain = vec![b"junk".to_vec()];
        assert!(matches!(
            err(&P12Input {
                ca_chain_der: &bad_chain,
                ..base
            }),
            P12Error::CaCertificate { index: 0, .. }
        ));
    }
}
