//! Printed figure (not a timed test): the time to write one `.p12` per profile, RSA-2048 key
//! plus one CA certificate, as the server and the browser do it.
//! Run: `cargo bench -p certdesk-p12` (release).

use certdesk_p12::{write_p12, P12Input, P12Profile};
use rand::rngs::OsRng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use std::time::{Duration, Instant};

fn main() {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("ca key");
    let mut ca_params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "bench CA");
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).expect("key");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "山田 太郎");
    params.distinguished_name = dn;
    let cert = params
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .expect("cert");
    let key_der = key.serialize_der();
    let chain = vec![ca.der().to_vec()];
    let input = P12Input {
        key_pkcs8_der: &key_der,
        cert_der: cert.der(),
        ca_chain_der: &chain,
        friendly_name: "山田 太郎 - 銀行 証明書",
        password: "証明書パスワード2026",
    };
    println!("certdesk-p12: one .p12 (RSA-2048 key, client + CA certificate), median of 51");
    for profile in P12Profile::ALL {
        let mut times: Vec<Duration> = (0..51)
            .map(|_| {
                let start = Instant::now();
                let der = write_p12(&input, profile, &mut OsRng).expect("write");
                let elapsed = start.elapsed();
                std::hint::black_box(der);
                elapsed
            })
            .collect();
        times.sort();
        let size = write_p12(&input, profile, &mut OsRng).expect("write").len();
        println!(
            "  {:<10} {:>7.2} ms  (min {:.2} ms, max {:.2} ms, {} bytes)",
            profile.as_str(),
            times[25].as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times[50].as_secs_f64() * 1e3,
            size
        );
    }
}
