//! Property test: whatever BMP password and name, both profiles, RSA or ECDSA, what
//! `write_p12` writes is read back by a reader we did not write (`p12-keystore` 0.4 on
//! RustCrypto's `der` 0.8, `pkcs5` 0.8 and `pkcs12` 0.2 key derivation): the MAC verifies,
//! the key and certificates decrypt to what went in, and the bags carry the expected
//! friendlyName and localKeyId. A wrong password is refused.

mod common;

use certdesk_p12::{bmp_friendly_name, write_p12, P12Error, P12Input, P12Profile};
use common::{make, Fixture};
use p12_keystore::Pkcs12Archive;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sha1::{Digest, Sha1};
use std::sync::OnceLock;

fn fixture(rsa: bool) -> &'static Fixture {
    static RSA: OnceLock<Fixture> = OnceLock::new();
    static EC: OnceLock<Fixture> = OnceLock::new();
    if rsa {
        RSA.get_or_init(|| make(true))
    } else {
        EC.get_or_init(|| make(false))
    }
}

/// Writes, reads back with p12-keystore, checks everything; returns the file.
fn round_trip(f: &Fixture, profile: P12Profile, password: &str, name: &str, seed: u64) -> Vec<u8> {
    let der = write_p12(
        &P12Input {
            key_pkcs8_der: &f.key_der,
            cert_der: &f.cert_der,
            ca_chain_der: &f.chain,
            friendly_name: name,
            password,
        },
        profile,
        &mut StdRng::seed_from_u64(seed),
    )
    .expect("write");
    let archive = Pkcs12Archive::from_pkcs12(&der, password).expect("MAC and decryption");
    let key_id = Sha1::digest(&f.cert_der).to_vec();
    let expected_name = bmp_friendly_name(name).into_owned();

    assert_eq!(archive.keys.len(), 1);
    let key = &archive.keys[0];
    assert_eq!(key.key.as_der(), &f.key_der[..], "the same private key");
    assert_eq!(key.friendly_name.as_deref(), Some(&*expected_name));
    assert_eq!(
        key.local_key_id.as_ref().map(|id| id.as_ref().to_vec()),
        Some(key_id.clone())
    );

    assert_eq!(archive.certs.len(), 1 + f.chain.len());
    let client = &archive.certs[0];
    assert_eq!(client.cert.as_der(), &f.cert_der[..]);
    assert_eq!(client.friendly_name.as_deref(), Some(&*expected_name));
    assert_eq!(client.local_key_id.as_deref(), Some(&key_id[..]));
    for (bag, ca) in archive.certs[1..].iter().zip(&f.chain) {
        assert_eq!(bag.cert.as_der(), &ca[..], "the CA chain, in order");
        assert_eq!(bag.friendly_name, None, "CA certificates carry no name");
        assert_eq!(bag.local_key_id, None);
    }
    der
}

fn profile() -> impl Strategy<Value = P12Profile> {
    prop_oneof![Just(P12Profile::Modern), Just(P12Profile::Compatible)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn what_is_written_is_read_back(
        profile in profile(),
        rsa in any::<bool>(),
        // Any BMP character but NUL (Rust chars exclude the surrogates).
        password in proptest::collection::vec(proptest::char::range('\u{1}', '\u{FFFF}'), 1..24)
            .prop_map(String::from_iter),
        // Any character but NUL, the supplementary planes included (they become U+FFFD).
        name in proptest::collection::vec(proptest::char::range('\u{1}', char::MAX), 1..40)
            .prop_map(String::from_iter),
        seed in any::<u64>(),
    ) {
        let f = fixture(rsa);
        let der = round_trip(f, profile, &password, &name, seed);
        let wrong = format!("{password}x");
        prop_assert!(Pkcs12Archive::from_pkcs12(&der, &wrong).is_err(), "a wrong password is refused");
    }

    #[test]
    fn passwords_outside_the_bmp_are_refused(
        profile in profile(),
        prefix in "[a-z]{0,8}",
        astral in proptest::char::range('\u{10000}', char::MAX),
    ) {
        let f = fixture(false);
        let password = format!("{prefix}{astral}");
        let result = write_p12(
            &P12Input {
                key_pkcs8_der: &f.key_der,
                cert_der: &f.cert_der,
                ca_chain_der: &f.chain,
                friendly_name: "n",
                password: &password,
            },
            profile,
            &mut StdRng::seed_from_u64(0),
        );
        prop_assert_eq!(
            result,
            Err(P12Error::Password("has characters outside the Basic Multilingual Plane"))
        );
    }
}

#[test]
fn japanese_password_and_names_outside_the_bmp() {
    for profile in P12Profile::ALL {
        for rsa in [true, false] {
            round_trip(
                fixture(rsa),
                profile,
                "証明書パスワード2026",
                "𠮷田 花子 - 銀行 証明書",
                7,
            );
        }
    }
}

#[test]
fn the_same_seed_writes_the_same_file() {
    // All randomness comes from the caller's RNG (no OS randomness inside).
    let f = fixture(false);
    for profile in P12Profile::ALL {
        let a = round_trip(f, profile, "pw", "n", 42);
        let b = round_trip(f, profile, "pw", "n", 42);
        let c = round_trip(f, profile, "pw", "n", 43);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
