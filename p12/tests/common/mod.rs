//! Test certificates: a root CA, an issuing CA and a client certificate (RSA-2048 or P-256).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};

pub struct Fixture {
    pub key_der: Vec<u8>,
    pub cert_der: Vec<u8>,
    /// The issuing CA, then the root.
    pub chain: Vec<Vec<u8>>,
}

pub fn make(rsa: bool) -> Fixture {
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("root key");
    let mut root = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "テスト ルート CA");
    root.distinguished_name = dn;
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root_cert = root.self_signed(&root_key).expect("root");
    let sub_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("sub key");
    let mut sub = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "テスト 発行 CA");
    sub.distinguished_name = dn;
    sub.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let sub_cert = sub
        .signed_by(&sub_key, &Issuer::from_params(&root, &root_key))
        .expect("sub");
    let key = if rsa {
        KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
    } else {
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
    }
    .expect("leaf key");
    let mut leaf = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "山田 太郎");
    leaf.distinguished_name = dn;
    let cert = leaf
        .signed_by(&key, &Issuer::from_params(&sub, &sub_key))
        .expect("leaf");
    Fixture {
        key_der: key.serialize_der(),
        cert_der: cert.der().to_vec(),
        chain: vec![sub_cert.der().to_vec(), root_cert.der().to_vec()],
    }
}
