//! Third-party importers: files of both profiles (RSA-2048 and P-256, a two-certificate CA
//! chain, a Japanese password and name) go through `tests/tools/check-p12.sh`: OpenSSL 3
//! `pkcs12 -info`, NSS `pk12util -i` + `certutil`, Python `cryptography`'s `load_pkcs12`.

mod common;

use certdesk_p12::{write_p12, P12Input, P12Profile};
use rand::rngs::OsRng;
use std::process::Command;

const CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/tools/check-p12.sh");
const PASSWORD: &str = "証明書パスワード2026";
const NAME: &str = "山田 太郎 - 銀行 証明書";

#[test]
fn openssl_nss_and_python_read_both_profiles() {
    let dir = tempfile::tempdir().expect("temp dir");
    for rsa in [true, false] {
        let f = common::make(rsa);
        for profile in P12Profile::ALL {
            let der = write_p12(
                &P12Input {
                    key_pkcs8_der: &f.key_der,
                    cert_der: &f.cert_der,
                    ca_chain_der: &f.chain,
                    friendly_name: NAME,
                    password: PASSWORD,
                },
                profile,
                &mut OsRng,
            )
            .expect("write");
            let file = dir.path().join(format!(
                "{}-{}.p12",
                if rsa { "rsa" } else { "p256" },
                profile.as_str()
            ));
            std::fs::write(&file, der).expect("write file");
            let out = Command::new("bash")
                .args([
                    CHECK,
                    &file.display().to_string(),
                    PASSWORD,
                    NAME,
                    profile.as_str(),
                ])
                .output()
                .expect("run check-p12.sh");
            assert!(
                out.status.success(),
                "{} failed the importers:\n{}\n{}",
                file.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
