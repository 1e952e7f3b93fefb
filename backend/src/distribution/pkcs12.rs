//! PKCS#12 (`.p12`) files for issued client certificates: the private key, the client
//! certificate and the CA certificate, protected by the download password.
//!
//! Written by our own workspace crate `certdesk-p12` (`p12/`), the same code the browser runs
//! (wasm) when an employee enrols and the key never reaches the server. Why our own crate, see
//! `/work/shared/research/pkcs12.md` for the measurements on this machine:
//! - the browser needs the writer too, and the `openssl` crate (used here before) cannot be
//!   built for wasm32;
//! - `p12` (0.6, last release 2022) can only write RC2-40 for the certificates (3DES for the
//!   key, SHA-1 MAC, all fixed). OpenSSL 3 rejects RC2 without `-legacy`, and curl fails to
//!   load such a file (`0308010C unsupported`), so it cannot be used at all;
//! - `p12-keystore` (0.4) writes the certificate's subject text as the certificate bag's
//!   friendlyName and puts the given name only on the key bag; Windows shows the certificate's,
//!   so users would see the DN instead of the name we chose. (Its reader is independent of our
//!   writer: the crate's property test reads every file back with it.)
//! - RustCrypto's `pkcs12` (0.2.0-pre) only parses; its builder is an open upstream PR.
//!
//! So `certdesk-p12` is a small writer (the DER layout `PKCS12_create` writes, ~400 lines with
//! the key/certificate check) on RustCrypto primitives: `pbkdf2`, `hmac`, `sha1`/`sha2`,
//! `aes`/`des`, `cbc`, and the RFC 7292 key derivation checked against OpenSSL's vectors. Its
//! files are checked with OpenSSL 3 (`openssl pkcs12`), NSS `pk12util` and Python
//! `cryptography` (`tests/tools/check-p12.sh`), and read back with `p12-keystore` in the tests
//! below and in `p12/`.
//!
//! Profiles: modern = PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) for the key and the certificates,
//! HMAC-SHA256 MAC, 10,000 iterations; compatible = pbeWithSHAAnd3-KeyTripleDES-CBC for both,
//! HMAC-SHA1 MAC, 2,048 iterations. friendlyName and localKeyId (SHA-1 of the certificate) on the
//! key bag and the client certificate bag; the CA certificates without attributes. Salts are
//! 16 random bytes (OpenSSL writes 8). Never RC2 (OpenSSL 3 and curl reject it) and never
//! PBMAC1 (RFC 9579; most importers, including OpenSSL before 3.4, cannot read it).
//!
//! Text encoding (RFC 7292, as OpenSSL 3 does it): the UTF-8 password becomes a big-endian
//! BMPString for the PKCS#12 key derivation (3DES and the MAC), PBKDF2 gets the UTF-8 octets
//! (PBES2 takes octets), and the friendlyName is written as a BMPString. Japanese passwords and
//! names were verified with `openssl pkcs12`, NSS `pk12util` and Python `cryptography`.
//! Passwords with characters outside the BMP (emoji) are refused: a BMPString cannot hold them
//! and importers disagree on how to derive keys from them. Generate printable ASCII passwords.
//! Such characters do occur in Japanese names (U+20BB7 "𠮷" of 𠮷田): `bmp_friendly_name`
//! replaces each with U+FFFD so that issuing never fails over a display name.
//!
//! Cost: iterations are spent for the certificates, the key and the MAC. Measured (release,
//! RSA-2048 + CA, `cargo bench -p certdesk-p12`): see the README; far below RSA key generation.
//! Call it on a blocking thread together with key generation.

/// How the `.p12` is protected (a domain type: the pages show and choose it).
pub use certdesk_domain::distribution::P12Profile;
/// What goes into one `.p12` file, and why one could not be made. (`certdesk_p12` also has
/// `iterations(profile)` and `bmp_friendly_name(name)`, the name as it is written.)
pub use certdesk_p12::{P12Error, P12Input};

/// Builds a `.p12` with the key, the certificate and the CA chain under `input.password`
/// (salts and IVs from the operating system's RNG). The friendly name goes through
/// [`certdesk_p12::bmp_friendly_name`].
pub fn build_p12(input: &P12Input<'_>, profile: P12Profile) -> Result<Vec<u8>, P12Error> {
    certdesk_p12::write_p12(input, profile, &mut rand::rngs::OsRng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use certdesk_p12::{bmp_friendly_name, iterations};
    use p12_keystore::Pkcs12Archive;
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
                assert_eq!(kdf_params[0].1.len(), 16, "PBKDF2 salt length");
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
        assert_eq!(mac[1].1.len(), 16, "MAC salt length");
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
                        Some(sha1(cert_der).as_slice()),
                        "key bag localKeyId is the certificate's SHA-1"
                    );
                    saw_key = true;
                }
            }
        }
        assert!(saw_encrypted_certs && saw_key);
    }

    fn sha1(data: &[u8]) -> Vec<u8> {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
            .as_ref()
            .to_vec()
    }

    /// What a reader we did not write (`p12-keystore`) finds in the file: the key, the
    /// certificate that goes with it (the bag with the key's localKeyId, as OpenSSL's
    /// `PKCS12_parse` picks it) and the other certificates (the CA chain).
    struct Parsed {
        key_pkcs8: Vec<u8>,
        cert_der: Vec<u8>,
        cert_name: Option<String>,
        ca: Vec<(Vec<u8>, Option<String>)>,
    }

    fn parse(der: &[u8], password: &str) -> Result<Parsed, String> {
        let archive = Pkcs12Archive::from_pkcs12(der, password).map_err(|e| e.to_string())?;
        assert_eq!(archive.keys.len(), 1, "one key");
        let key = &archive.keys[0];
        let key_id = key.local_key_id.as_ref().map(|id| id.as_ref().to_vec());
        let (mine, ca): (Vec<_>, Vec<_>) = archive
            .certs
            .iter()
            .partition(|c| key_id.is_some() && c.local_key_id.as_deref() == key_id.as_deref());
        assert_eq!(mine.len(), 1, "one certificate with the key's localKeyId");
        Ok(Parsed {
            key_pkcs8: key.key.as_der().to_vec(),
            cert_der: mine[0].cert.as_der().to_vec(),
            cert_name: mine[0].friendly_name.clone(),
            ca: ca
                .iter()
                .map(|c| (c.cert.as_der().to_vec(), c.friendly_name.clone()))
                .collect(),
        })
    }

    fn round_trip(rsa: bool, password: &str, profile: P12Profile) {
        let f = fixture(rsa);
        let der = build(&f, password, profile);
        assert_structure(&der, profile, &f.cert_der);

        let parsed = parse(&der, password).expect("MAC and decryption");
        assert_eq!(parsed.key_pkcs8, f.key_der, "same private key");
        assert_eq!(parsed.cert_der, f.cert_der, "same certificate");
        assert_eq!(
            parsed.cert_name.as_deref(),
            Some(NAME),
            "certificate friendlyName"
        );
        assert_eq!(parsed.ca.len(), 1);
        let (ca_der, ca_name) = &parsed.ca[0];
        assert_eq!(ca_der, &f.ca_der, "same CA certificate");
        assert_eq!(ca_name, &None, "the CA has no friendlyName");

        assert!(
            parse(&der, "wrong password").is_err(),
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
        let parsed = parse(&der, "Abcdefgh2345wxyz").expect("parse");
        assert_eq!(parsed.cert_name.as_deref(), Some("\u{FFFD}田 花子"));
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
