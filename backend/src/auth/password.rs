//! Password hashing with argon2id.
//!
//! Parameters: memory 19 MiB (19,456 KiB), 2 iterations, 1 lane — the OWASP Password Storage
//! Cheat Sheet's first recommended argon2id configuration, i.e. its minimum. Hashes are PHC
//! strings, so a later change of parameters still verifies old hashes.
//! Hashing and verifying take tens of milliseconds and 19 MiB each: they run only through
//! [`Hashers::run`], which holds one of a few permits (one per core) on a blocking thread and
//! refuses at once with `E-AUTH-009` when none is free. Without that cap, 512 concurrent
//! failed sign-ins would take ~9.5 GB and stall every other request behind them; with it the
//! memory is bounded by `permits × 19 MiB` whatever the load. [`hash`] and [`verify`] take a
//! [`HashPermit`] so that no caller can skip the gate.

use crate::error::ServiceError;
use argon2::password_hash::{rand_core::OsRng, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use certdesk_domain::AuthError;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// At most this many hashes at once, however many cores: argon2 then never holds more than
/// 4 × 19 MiB = 76 MiB, and 4 verifications of ~30 ms answer over 100 sign-ins a second,
/// far more than an office of 100 needs.
pub const MAX_PERMITS: usize = 4;

/// The gate in front of argon2: at most `permits` hashes or verifications at once, one
/// [`Backend`](crate::Backend) each (so the test servers in one process do not share it).
#[derive(Debug, Clone)]
pub struct Hashers {
    permits: Arc<Semaphore>,
}

impl Hashers {
    /// One permit per core (more would only queue on the CPU while holding 19 MiB each), at
    /// most [`MAX_PERMITS`].
    pub fn per_core() -> Hashers {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Hashers::with_permits(cores.min(MAX_PERMITS))
    }

    pub fn with_permits(permits: usize) -> Hashers {
        Hashers {
            permits: Arc::new(Semaphore::new(permits.max(1))),
        }
    }

    /// Takes a permit, or refuses at once with `E-AUTH-009` (never queues), then runs `work`
    /// on a blocking thread. The permit is released when `work` ends, even if the request
    /// that asked for it was dropped meanwhile.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&HashPermit) -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let permit = self
            .try_permit()
            .ok_or(ServiceError::from(AuthError::HashingBusy))?;
        tokio::task::spawn_blocking(move || work(&permit))
            .await
            .map_err(|e| ServiceError::Internal(format!("password hashing task failed: {e}")))
    }

    /// A permit if one is free now (for work already on a blocking thread, such as warming
    /// the dummy hash at start).
    pub fn try_permit(&self) -> Option<HashPermit> {
        Arc::clone(&self.permits)
            .try_acquire_owned()
            .ok()
            .map(|held| HashPermit { _held: held })
    }
}

/// Proof that the holder may run argon2 now (see [`Hashers`]).
#[derive(Debug)]
pub struct HashPermit {
    _held: OwnedSemaphorePermit,
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .unwrap_or_else(|_| unreachable!("constant argon2 parameters are within argon2's bounds"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with a fresh random salt.
pub fn hash(password: &str, _: &HashPermit) -> PasswordHash {
    let salt = SaltString::generate(&mut OsRng);
    let phc = hasher()
        .hash_password(password.as_bytes(), &salt)
        .unwrap_or_else(|_| unreachable!("hashing with valid params and salt cannot fail"))
        .to_string();
    PasswordHash(phc)
}

/// True if `password` matches `hash`. A malformed stored hash never matches.
pub fn verify(password: &str, hash: &PasswordHash, _: &HashPermit) -> bool {
    match argon2::PasswordHash::new(&hash.0) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the login ID is unknown, so that the
/// time a failed sign-in takes does not tell whether the login ID exists.
pub fn dummy_hash(permit: &HashPermit) -> PasswordHash {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    hash(&hex::encode(bytes), permit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_states_its_parameters() {
        let p = Hashers::with_permits(1)
            .try_permit()
            .expect("a free permit");
        let h = hash("correct horse battery", &p);
        assert!(verify("correct horse battery", &h, &p));
        assert!(!verify("correct horse batterY", &h, &p));
        assert!(h.as_stored().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(format!("{h:?}"), "PasswordHash(***)");
    }

    #[test]
    fn a_malformed_stored_hash_never_matches() {
        let p = Hashers::with_permits(1)
            .try_permit()
            .expect("a free permit");
        assert!(!verify(
            "",
            &PasswordHash::from_stored("not a hash".into()),
            &p
        ));
    }

    #[tokio::test]
    async fn when_every_permit_is_taken_hashing_is_refused_at_once_with_e_auth_006() {
        let hashers = Hashers::with_permits(2);
        let held = [hashers.try_permit(), hashers.try_permit()];
        assert!(held.iter().all(Option::is_some));
        let refused = hashers.run(|p| hash("correct horse battery", p)).await;
        assert!(
            matches!(refused, Err(ServiceError::Auth(AuthError::HashingBusy))),
            "{refused:?}"
        );
        drop(held);
        let h = hashers
            .run(|p| hash("correct horse battery", p))
            .await
            .expect("a permit is free again");
        assert!(hashers
            .run(move |p| verify("correct horse battery", &h, p))
            .await
            .expect("free"));
    }
}
