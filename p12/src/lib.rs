//! certdesk's PKCS#12 (`.p12`) writer, used by the server (files it makes from keys it holds)
//! and by the browser (wasm: `/enroll` and the check page's renewal, where the key never leaves
//! the employee's PC). Pure Rust on RustCrypto primitives (`sha1`, `sha2`, `hmac`, `pbkdf2`,
//! `aes`, `des`, `cbc`); no OpenSSL, no OS randomness: the caller passes the RNG.
//!
//! It writes exactly two profiles ([`P12Profile`]), the measurements behind them are in the
//! backend's `distribution::pkcs12` module doc:
//! - **modern**: key bag and certificate SafeContents under PBES2 (PBKDF2-HMAC-SHA256,
//!   AES-256-CBC), MAC HMAC-SHA256 with the PKCS#12 key derivation over SHA-256, 10,000
//!   iterations each;
//! - **compatible**: both under pbeWithSHAAnd3-KeyTripleDES-CBC, MAC HMAC-SHA1, 2,048
//!   iterations (macOS Keychain, iOS, older Windows).
//!
//! The layout is the one OpenSSL's `PKCS12_create` writes, which every importer we test reads:
//! an AuthenticatedSafe of (1) an EncryptedData holding the certificate bags: the client
//! certificate with a friendlyName and a localKeyId, then the CA certificates without
//! attributes, and (2) a Data holding the pkcs8ShroudedKeyBag with the same friendlyName and
//! localKeyId. localKeyId is the SHA-1 of the client certificate's DER. Every salt (PBKDF2,
//! PKCS#12 PBE, MAC) is [`SALT_LEN`] = 16 random bytes (RFC 8018 asks for at least 8; NIST SP
//! 800-132 for at least 16); the AES and 3DES IVs are random / derived as the schemes say.
//!
//! Text (RFC 7292 B.1, as OpenSSL 3 does it): the PKCS#12 key derivation (3DES key and IV, MAC
//! key) takes the password as a BMPString with two zero octets; PBKDF2 takes its UTF-8 octets.
//! Passwords with characters outside the Basic Multilingual Plane are refused (a BMPString
//! cannot hold them and importers disagree on what to do). Such characters in the friendly
//! name (U+20BB7 "𠮷" of 𠮷田) become U+FFFD, see [`bmp_friendly_name`].

mod der;
mod kdf;

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockEncryptMut, KeyIvInit};
use hmac::Mac;
use sha1::Sha1;
use sha2::digest::core_api::BlockSizeUser;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use zeroize::Zeroizing;

/// How the `.p12` is protected (a domain type: the pages show and choose it).
pub use certdesk_domain::distribution::P12Profile;
/// The RNG traits [`write_p12`] takes (rand_core 0.6, as `rand` 0.8's `OsRng` implements).
pub use rand_core;

/// Length of every salt written (PBKDF2, PKCS#12 PBE and MAC).
pub const SALT_LEN: usize = 16;

/// Iterations for the key and certificate encryption, and for the MAC.
pub fn iterations(profile: P12Profile) -> u32 {
    match profile {
        P12Profile::Modern => 10_000,
        P12Profile::Compatible => 2_048,
    }
}

/// What goes into one `.p12` file.
pub struct P12Input<'a> {
    /// The client's private key, PKCS#8 PrivateKeyInfo DER (rcgen's `KeyPair::serialize_der`,
    /// WebCrypto's `exportKey("pkcs8")`).
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

/// Why a `.p12` could not be made. On the server all are internal errors (the inputs come
/// from our own CA and password generator); in the browser the password checks come first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P12Error {
    #[error("the private key is not PKCS#8 DER: {0}")]
    Key(&'static str),
    #[error("the client certificate is not X.509 DER: {0}")]
    Certificate(&'static str),
    #[error("CA certificate {index} is not X.509 DER: {reason}")]
    CaCertificate { index: usize, reason: &'static str },
    #[error("the private key does not belong to the client certificate")]
    KeyMismatch,
    #[error("the password is unusable: {0}")]
    Password(&'static str),
    #[error("the friendly name is unusable: {0}")]
    FriendlyName(&'static str),
}

/// The friendly name as it is written: characters outside the Basic Multilingual Plane, which a
/// BMPString cannot hold, become U+FFFD REPLACEMENT CHARACTER.
pub fn bmp_friendly_name(name: &str) -> Cow<'_, str> {
    if name.chars().all(|c| u32::from(c) <= 0xFFFF) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(
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

/// Checks the password: not empty, no NUL, nothing outside the BMP.
pub fn check_password(password: &str) -> Result<(), P12Error> {
    if password.is_empty() {
        return Err(P12Error::Password("empty"));
    }
    if password.contains('\0') {
        return Err(P12Error::Password("contains NUL"));
    }
    if password.chars().any(|c| u32::from(c) > 0xFFFF) {
        return Err(P12Error::Password(
            "has characters outside the Basic Multilingual Plane",
        ));
    }
    Ok(())
}

mod oid {
    pub const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    pub const ENCRYPTED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];
    pub const SHROUDED_KEY_BAG: &[u8] = &[
        0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x02,
    ];
    pub const CERT_BAG: &[u8] = &[
        0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x03,
    ];
    pub const X509_CERTIFICATE: &[u8] =
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x16, 0x01];
    pub const FRIENDLY_NAME: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x14];
    pub const LOCAL_KEY_ID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x15];
    pub const PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
    pub const PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
    pub const HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
    pub const AES_256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
    pub const PBE_SHA1_3DES: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03];
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    pub const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
}

/// Builds a `.p12` with the key, the certificate and the CA chain under `input.password`.
/// The friendly name goes through [`bmp_friendly_name`]; salts and the AES IV come from `rng`.
pub fn write_p12(
    input: &P12Input<'_>,
    profile: P12Profile,
    rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng),
) -> Result<Vec<u8>, P12Error> {
    check_password(input.password)?;
    if input.friendly_name.is_empty() {
        return Err(P12Error::FriendlyName("empty"));
    }
    if input.friendly_name.contains('\0') {
        return Err(P12Error::FriendlyName("contains NUL"));
    }
    let key = keys::private_key(input.key_pkcs8_der).map_err(P12Error::Key)?;
    let spki = keys::certificate_spki(input.cert_der).map_err(P12Error::Certificate)?;
    if !keys::belong_together(&key, &spki) {
        return Err(P12Error::KeyMismatch);
    }
    for (index, ca) in input.ca_chain_der.iter().enumerate() {
        keys::certificate_spki(ca).map_err(|reason| P12Error::CaCertificate { index, reason })?;
    }

    let secrets = Secrets::new(input.password, profile);
    let attributes = der::set_of(vec![
        attribute(
            oid::FRIENDLY_NAME,
            der::bmp_string(&bmp_friendly_name(input.friendly_name)),
        ),
        attribute(
            oid::LOCAL_KEY_ID,
            der::octet_string(&Sha1::digest(input.cert_der)),
        ),
    ]);

    // (1) The certificates, encrypted: the client's with the attributes, the CAs without.
    let mut cert_bags = vec![cert_bag(input.cert_der, Some(&attributes))];
    cert_bags.extend(input.ca_chain_der.iter().map(|ca| cert_bag(ca, None)));
    let (algorithm, encrypted) =
        secrets.encrypt(&cert_bags.concat(), rng, |c| der::tlv(der::SEQUENCE, c));
    let encrypted_content_info = der::sequence(&[
        &der::oid(oid::DATA),
        &algorithm,
        &der::tlv(der::CONTEXT_0_PRIMITIVE, &encrypted),
    ]);
    let certificates = der::sequence(&[
        &der::oid(oid::ENCRYPTED_DATA),
        &der::explicit0(&der::sequence(&[&der::uint(0), &encrypted_content_info])),
    ]);

    // (2) The key, shrouded, in a Data.
    let (algorithm, encrypted) = secrets.encrypt(input.key_pkcs8_der, rng, |c| c.to_vec());
    let key_bag = der::sequence(&[
        &der::oid(oid::SHROUDED_KEY_BAG),
        &der::explicit0(&der::sequence(&[
            &algorithm,
            &der::octet_string(&encrypted),
        ])),
        &attributes,
    ]);
    let key_safe = der::sequence(&[&key_bag]);
    let key = der::sequence(&[
        &der::oid(oid::DATA),
        &der::explicit0(&der::octet_string(&key_safe)),
    ]);

    let auth_safe = der::sequence(&[&certificates, &key]);
    let mac_data = secrets.mac(&auth_safe, rng);
    Ok(der::sequence(&[
        &der::uint(3),
        &der::sequence(&[
            &der::oid(oid::DATA),
            &der::explicit0(&der::octet_string(&auth_safe)),
        ]),
        &mac_data,
    ]))
}

/// PKCS12Attribute: SEQUENCE { attrId, SET OF value } with one value.
fn attribute(id: &[u8], value: Vec<u8>) -> Vec<u8> {
    der::sequence(&[&der::oid(id), &der::set_of(vec![value])])
}

/// SafeBag { certBag, [0] CertBag { x509Certificate, [0] OCTET STRING }, attributes? }
fn cert_bag(cert_der: &[u8], attributes: Option<&[u8]>) -> Vec<u8> {
    let value = der::explicit0(&der::sequence(&[
        &der::oid(oid::X509_CERTIFICATE),
        &der::explicit0(&der::octet_string(cert_der)),
    ]));
    der::sequence(&[
        &der::oid(oid::CERT_BAG),
        &value,
        attributes.unwrap_or_default(),
    ])
}

/// The password in the two forms the schemes take, and the profile's choices.
struct Secrets<'a> {
    utf8: &'a str,
    bmp: Zeroizing<Vec<u8>>,
    profile: P12Profile,
    iterations: u32,
}

impl<'a> Secrets<'a> {
    fn new(password: &'a str, profile: P12Profile) -> Self {
        Self {
            utf8: password,
            bmp: kdf::bmp_password(password),
            profile,
            iterations: iterations(profile),
        }
    }

    fn salt(rng: &mut impl rand_core::RngCore) -> [u8; SALT_LEN] {
        let mut salt = [0; SALT_LEN];
        rng.fill_bytes(&mut salt);
        salt
    }

    /// Encrypts `frame(plaintext)`; returns (AlgorithmIdentifier DER, ciphertext).
    fn encrypt(
        &self,
        plaintext: &[u8],
        rng: &mut impl rand_core::RngCore,
        frame: impl Fn(&[u8]) -> Vec<u8>,
    ) -> (Vec<u8>, Vec<u8>) {
        let plaintext = Zeroizing::new(frame(plaintext));
        let salt = Self::salt(rng);
        match self.profile {
            P12Profile::Modern => {
                let mut iv = [0u8; 16];
                rng.fill_bytes(&mut iv);
                let mut key = Zeroizing::new([0u8; 32]);
                pbkdf2::pbkdf2_hmac::<Sha256>(
                    self.utf8.as_bytes(),
                    &salt,
                    self.iterations,
                    &mut *key,
                );
                let ciphertext = cbc::Encryptor::<aes::Aes256>::new(&(*key).into(), &iv.into())
                    .encrypt_padded_vec_mut::<Pkcs7>(&plaintext);
                // PBES2-params { keyDerivationFunc PBKDF2 { salt, iterations, prf
                // hmacWithSHA256 }, encryptionScheme aes256-CBC { iv } }; keyLength is left
                // out (AES-256 fixes it), as OpenSSL writes it.
                let kdf = der::sequence(&[
                    &der::oid(oid::PBKDF2),
                    &der::sequence(&[
                        &der::octet_string(&salt),
                        &der::uint(self.iterations),
                        &der::sequence(&[&der::oid(oid::HMAC_SHA256), &der::null()]),
                    ]),
                ]);
                let scheme = der::sequence(&[&der::oid(oid::AES_256_CBC), &der::octet_string(&iv)]);
                let algorithm =
                    der::sequence(&[&der::oid(oid::PBES2), &der::sequence(&[&kdf, &scheme])]);
                (algorithm, ciphertext)
            }
            P12Profile::Compatible => {
                let derive = |purpose, len| {
                    kdf::derive::<Sha1>(&self.bmp, &salt, purpose, self.iterations, len)
                };
                let key = derive(kdf::Purpose::EncryptionKey, 24);
                let iv = derive(kdf::Purpose::Iv, 8);
                let ciphertext = cbc::Encryptor::<des::TdesEde3>::new(
                    key.as_slice().into(),
                    iv.as_slice().into(),
                )
                .encrypt_padded_vec_mut::<Pkcs7>(&plaintext);
                let algorithm = der::sequence(&[
                    &der::oid(oid::PBE_SHA1_3DES),
                    &der::sequence(&[&der::octet_string(&salt), &der::uint(self.iterations)]),
                ]);
                (algorithm, ciphertext)
            }
        }
    }

    /// MacData { DigestInfo { algorithm, digest }, macSalt, iterations }.
    fn mac(&self, auth_safe: &[u8], rng: &mut impl rand_core::RngCore) -> Vec<u8> {
        let salt = Self::salt(rng);
        let (digest_oid, mac) = match self.profile {
            P12Profile::Modern => (oid::SHA256, self.hmac::<Sha256>(&salt, auth_safe)),
            P12Profile::Compatible => (oid::SHA1, self.hmac::<Sha1>(&salt, auth_safe)),
        };
        der::sequence(&[
            &der::sequence(&[
                &der::sequence(&[&der::oid(digest_oid), &der::null()]),
                &der::octet_string(&mac),
            ]),
            &der::octet_string(&salt),
            &der::uint(self.iterations),
        ])
    }

    fn hmac<D: Digest + BlockSizeUser>(&self, salt: &[u8], data: &[u8]) -> Vec<u8> {
        let key = kdf::derive::<D>(
            &self.bmp,
            salt,
            kdf::Purpose::Mac,
            self.iterations,
            <D as Digest>::output_size(),
        );
        let mut mac = <hmac::SimpleHmac<D> as Mac>::new_from_slice(&key)
            .expect("HMAC takes keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
}

/// Reading the caller's key and certificate, only to check that they belong together.
mod keys {
    use super::der::{self, ReadError, Reader};
    use super::oid;

    pub struct PrivateKey<'a> {
        algorithm: &'a [u8],
        parameters: Option<(u8, &'a [u8])>,
        private_key: &'a [u8],
        /// PKCS#8 v2 `[1] publicKey` (BIT STRING content), if present.
        public_key: Option<&'a [u8]>,
    }

    pub struct Spki<'a> {
        algorithm: &'a [u8],
        parameters: Option<(u8, &'a [u8])>,
        /// The subjectPublicKey BIT STRING content (unused-bits octet first).
        public_key: &'a [u8],
    }

    /// AlgorithmIdentifier content: (OID content, parameters).
    fn algorithm(content: &[u8]) -> Result<(&[u8], Option<(u8, &[u8])>), ReadError> {
        let mut r = Reader::new(content);
        let id = r.next(der::OID)?;
        let parameters = if r.is_empty() {
            None
        } else {
            Some(r.next_any()?)
        };
        if !r.is_empty() {
            return Err("malformed AlgorithmIdentifier");
        }
        Ok((id, parameters))
    }

    pub fn private_key(input: &[u8]) -> Result<PrivateKey<'_>, ReadError> {
        let mut r = Reader::new(der::single(input, der::SEQUENCE)?);
        let version = r.next(der::INTEGER)?;
        if version != [0] && version != [1] {
            return Err("unknown PrivateKeyInfo version");
        }
        let (algorithm, parameters) = algorithm(r.next(der::SEQUENCE)?)?;
        let private_key = r.next(der::OCTET_STRING)?;
        r.next_if(der::CONTEXT_0)?;
        let public_key = r.next_if(0x81)?;
        if !r.is_empty() {
            return Err("unexpected data after the private key");
        }
        Ok(PrivateKey {
            algorithm,
            parameters,
            private_key,
            public_key,
        })
    }

    pub fn certificate_spki(input: &[u8]) -> Result<Spki<'_>, ReadError> {
        let mut cert = Reader::new(der::single(input, der::SEQUENCE)?);
        let mut tbs = Reader::new(cert.next(der::SEQUENCE)?);
        cert.next(der::SEQUENCE)?; // signatureAlgorithm
        cert.next(der::BIT_STRING)?; // signature
        if !cert.is_empty() {
            return Err("unexpected data after the signature");
        }
        tbs.next_if(der::CONTEXT_0)?; // version
        tbs.next(der::INTEGER)?; // serialNumber
        tbs.next(der::SEQUENCE)?; // signature
        tbs.next(der::SEQUENCE)?; // issuer
        tbs.next(der::SEQUENCE)?; // validity
        tbs.next(der::SEQUENCE)?; // subject
        let mut spki = Reader::new(tbs.next(der::SEQUENCE)?);
        let (algorithm, parameters) = algorithm(spki.next(der::SEQUENCE)?)?;
        let public_key = spki.next(der::BIT_STRING)?;
        Ok(Spki {
            algorithm,
            parameters,
            public_key,
        })
    }

    /// (modulus, publicExponent) from RSAPrivateKey or RSAPublicKey content.
    fn rsa_numbers(content: &[u8], private: bool) -> Option<(&[u8], &[u8])> {
        let mut r = Reader::new(der::single(content, der::SEQUENCE).ok()?);
        if private {
            r.next(der::INTEGER).ok()?;
        }
        Some((r.next(der::INTEGER).ok()?, r.next(der::INTEGER).ok()?))
    }

    /// ECPrivateKey: (curve parameters, publicKey BIT STRING content), each if present.
    #[allow(clippy::type_complexity)]
    fn ec_parts(content: &[u8]) -> Option<(Option<&[u8]>, Option<&[u8]>)> {
        let mut r = Reader::new(der::single(content, der::SEQUENCE).ok()?);
        r.next(der::INTEGER).ok()?;
        r.next(der::OCTET_STRING).ok()?;
        let curve = match r.next_if(der::CONTEXT_0).ok()? {
            Some(explicit) => Some(der::single(explicit, der::OID).ok()?),
            None => None,
        };
        let public = match r.next_if(der::CONTEXT_1).ok()? {
            Some(explicit) => Some(der::single(explicit, der::BIT_STRING).ok()?),
            None => None,
        };
        Some((curve, public))
    }

    /// Whether the key is the certificate's: the same algorithm, and the same public numbers
    /// where the key carries them (RSA always; EC keys when they hold their public point, as
    /// WebCrypto's and aws-lc's exports do; other algorithms through PKCS#8 v2's publicKey).
    pub fn belong_together(key: &PrivateKey<'_>, spki: &Spki<'_>) -> bool {
        if key.algorithm != spki.algorithm {
            return false;
        }
        if let Some(public) = key.public_key {
            if public != spki.public_key {
                return false;
            }
        }
        if key.algorithm == oid::RSA_ENCRYPTION {
            let Some(bits) = spki.public_key.strip_prefix(&[0]) else {
                return false;
            };
            return match (rsa_numbers(key.private_key, true), rsa_numbers(bits, false)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            };
        }
        if key.algorithm == oid::EC_PUBLIC_KEY {
            let Some((curve, public)) = ec_parts(key.private_key) else {
                return false;
            };
            let key_curve = match key.parameters {
                Some((der::OID, id)) => Some(id),
                _ => curve,
            };
            let cert_curve = match spki.parameters {
                Some((der::OID, id)) => Some(id),
                _ => None,
            };
            if key_curve.is_none() || key_curve != cert_curve {
                return false;
            }
            return public.is_none_or(|p| p == spki.public_key);
        }
        key.parameters.is_none() || key.parameters == spki.parameters
    }
}

#[cfg(test)]
mod tests;
