//! Password hashing with argon2id.
//!
//! Parameters: memory 19 MiB (19,456 KiB), 2 iterations, 1 lane — the OWASP Password Storage
//! Cheat Sheet's first recommended argon2id configuration, i.e. its minimum. Hashes are PHC
//! strings, so a later change of parameters still verifies old hashes.
//! Hashing and verifying take tens of milliseconds: call them on a blocking thread.

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

/// A PHC string. Deliberately not `Serialize` and not `Display`.
#[derive(Clone)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_stored(phc: String) -> PasswordHash {
        PasswordHash(phc)
    }

    pub fn as_stored(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .unwrap_or_else(|_| unreachable!("constant argon2 parameters are within argon2's bounds"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with a fresh random salt.
pub fn hash(password: &str) -> PasswordHash {
    let salt = SaltString::generate(&mut OsRng);
    let phc = hasher()
        .hash_password(password.as_bytes(), &salt)
        .unwrap_or_else(|_| unreachable!("hashing with valid params and salt cannot fail"))
        .to_string();
    PasswordHash(phc)
}

/// True if `password` matches `hash`. A malformed stored hash never matches.
pub fn verify(password: &str, hash: &PasswordHash) -> bool {
    match argon2::PasswordHash::new(&hash.0) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the login ID is unknown, so that the
/// time a failed sign-in takes does not tell whether the login ID exists.
pub fn dummy_hash() -> PasswordHash {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    hash(&hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_states_its_parameters() {
        let h = hash("correct horse battery");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert!(h.as_stored().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(format!("{h:?}"), "PasswordHash(***)");
    }

    #[test]
    fn a_malformed_stored_hash_never_matches() {
        assert!(!verify("", &PasswordHash::from_stored("not a hash".into())));
    }
}
