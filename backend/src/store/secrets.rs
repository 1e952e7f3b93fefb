//! Keys at rest.
//!
//! One 256-bit master key per installation, from `CERTDESK_MASTER_KEY` (64 hex digits) or
//! else from `<data dir>/master.key` (created at first start with mode 0600). Keep that file
//! out of backups of the data directory, or set the variable, to separate key and data.
//! Purpose keys are derived from it with HKDF-SHA256 ("certdesk ca key v1", "certdesk
//! certificate keys v1", "certdesk smtp password v1"); records are sealed with AES-256-GCM under a fresh random nonce, with
//! the record's identity as associated data, so a sealed blob cannot be moved to another row.
//! Sealed format: `nonce (12 bytes) || ciphertext || tag (16 bytes)`.

use crate::error::ServiceError;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use std::path::Path;

/// What a sealing key is for; each purpose has its own derived key.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    CaKey,
    CertificateKeys,
    Deliveries,
    /// The SMTP password of the notification settings.
    SmtpPassword,
    /// A user's one-time password secret.
    OtpSecret,
    /// The private key of the console's TLS server certificate (`<data dir>/tls/`).
    ServerKey,
}

impl Purpose {
    fn info(self) -> &'static [u8] {
        match self {
            Purpose::CaKey => b"certdesk ca key v1",
            Purpose::CertificateKeys => b"certdesk certificate keys v1",
            Purpose::Deliveries => b"certdesk deliveries v1",
            Purpose::SmtpPassword => b"certdesk smtp password v1",
            Purpose::OtpSecret => b"certdesk otp secret v1",
            Purpose::ServerKey => b"certdesk server key v1",
        }
    }
}

/// The installation's master key. Its `Debug` does not show it.
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

fn internal(what: &str) -> impl Fn(std::io::Error) -> ServiceError + '_ {
    move |e| ServiceError::Internal(format!("{what}: {e}"))
}

impl MasterKey {
    /// From the environment, or the key file in `data_dir` (made on first use, mode 0600).
    pub fn load_or_create(data_dir: &Path) -> Result<MasterKey, ServiceError> {
        if let Ok(hex_key) = std::env::var("CERTDESK_MASTER_KEY") {
            return MasterKey::from_hex(hex_key.trim()).ok_or_else(|| {
                ServiceError::Internal("CERTDESK_MASTER_KEY must be 64 hex digits".into())
            });
        }
        let path = data_dir.join("master.key");
        if path.exists() {
            warn_if_readable_by_others(&path);
            let text =
                std::fs::read_to_string(&path).map_err(internal("cannot read master.key"))?;
            return MasterKey::from_hex(text.trim()).ok_or_else(|| {
                ServiceError::Internal(format!("{} is not 64 hex digits", path.display()))
            });
        }
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| ServiceError::Internal("no randomness for the master key".into()))?;
        write_private_file(&path, hex::encode(key).as_bytes())?;
        Ok(MasterKey(key))
    }

    fn from_hex(text: &str) -> Option<MasterKey> {
        let bytes = hex::decode(text).ok()?;
        Some(MasterKey(bytes.try_into().ok()?))
    }

    fn key_for(&self, purpose: Purpose) -> LessSafeKey {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"certdesk");
        let prk = salt.extract(&self.0);
        let info = [purpose.info()];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 output length"));
        LessSafeKey::new(UnboundKey::from(okm))
    }

    /// Encrypts `plain` for `purpose`, bound to `record` (e.g. "certificate 42").
    pub fn seal(
        &self,
        purpose: Purpose,
        record: &str,
        plain: &[u8],
    ) -> Result<Vec<u8>, ServiceError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| ServiceError::Internal("no randomness for a nonce".into()))?;
        let mut buf = plain.to_vec();
        self.key_for(purpose)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(record.as_bytes()),
                &mut buf,
            )
            .map_err(|_| ServiceError::Internal("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypts what [`MasterKey::seal`] made for the same purpose and record.
    pub fn open(
        &self,
        purpose: Purpose,
        record: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, ServiceError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(ServiceError::Internal(format!(
                "sealed {record} is too short"
            )));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| ServiceError::Internal("bad nonce".into()))?;
        let mut buf = body.to_vec();
        let plain = self
            .key_for(purpose)
            .open_in_place(nonce, Aad::from(record.as_bytes()), &mut buf)
            .map_err(|_| {
                ServiceError::Internal(format!(
                    "cannot open sealed {record}: wrong master key (CERTDESK_MASTER_KEY or master.key) or damaged data"
                ))
            })?;
        Ok(plain.to_vec())
    }
}

/// Logs a warning when `path` (the master key) can be read or written by anyone but its
/// owner: certdesk does not change a key file it did not make, but says so at start.
#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                file.path = %path.display(),
                file.mode = format!("{mode:o}"),
                "the master key is readable by others than its owner: run chmod 600 on it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Writes a file only the owner can read (mode 0600 on Unix), failing if it exists.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), ServiceError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(internal("cannot create private file"))?;
    file.write_all(contents)
        .map_err(internal("cannot write private file"))?;
    file.sync_all()
        .map_err(internal("cannot sync private file"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_for_the_same_purpose_and_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = MasterKey::load_or_create(dir.path()).expect("key");
        let sealed = key
            .seal(Purpose::CertificateKeys, "certificate 1", b"secret")
            .expect("seal");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            key.open(Purpose::CertificateKeys, "certificate 1", &sealed)
                .expect("open"),
            b"secret"
        );
        assert!(key
            .open(Purpose::CertificateKeys, "certificate 2", &sealed)
            .is_err());
        assert!(key.open(Purpose::CaKey, "certificate 1", &sealed).is_err());
        let again = key
            .seal(Purpose::CertificateKeys, "certificate 1", b"secret")
            .expect("seal");
        assert_ne!(sealed, again, "a fresh nonce each time");
    }

    #[cfg(unix)]
    #[test]
    fn the_master_key_file_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let a = MasterKey::load_or_create(dir.path()).expect("key");
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = MasterKey::load_or_create(dir.path()).expect("key");
        let sealed = a.seal(Purpose::CaKey, "ca", b"k").expect("seal");
        assert_eq!(b.open(Purpose::CaKey, "ca", &sealed).expect("open"), b"k");
    }
}
