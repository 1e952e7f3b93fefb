//! Sign-in rules: the lockout after wrong passwords (閉塞) and the session idle timeout.

use time::{Duration, OffsetDateTime};

/// After this many wrong passwords in a row an account is locked until a master unlocks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_consecutive_failures: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_consecutive_failures: 5,
        }
    }
}

/// What a wrong password does to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Still open; `failures` wrong passwords in a row so far.
    StillOpen { failures: u32 },
    /// This failure locked the account.
    LockedNow { failures: u32 },
}

impl LockoutPolicy {
    /// The outcome of one more wrong password after `previous_failures` in a row.
    pub fn after_failure(&self, previous_failures: u32) -> FailureOutcome {
        let failures = previous_failures.saturating_add(1);
        if failures >= self.max_consecutive_failures {
            FailureOutcome::LockedNow { failures }
        } else {
            FailureOutcome::StillOpen { failures }
        }
    }
}

/// How long a console session lives without a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_timeout: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle_timeout: Duration::minutes(30),
        }
    }
}

impl SessionPolicy {
    /// A session last used at `last_seen` has expired at `now` once the idle timeout has
    /// passed in full: at exactly `last_seen + idle_timeout` it is expired.
    pub fn is_expired(&self, last_seen: OffsetDateTime, now: OffsetDateTime) -> bool {
        now >= last_seen + self.idle_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_fifth_wrong_password_in_a_row_locks_the_account() {
        let p = LockoutPolicy::default();
        assert_eq!(
            p.after_failure(0),
            FailureOutcome::StillOpen { failures: 1 }
        );
        assert_eq!(
            p.after_failure(3),
            FailureOutcome::StillOpen { failures: 4 }
        );
        assert_eq!(
            p.after_failure(4),
            FailureOutcome::LockedNow { failures: 5 }
        );
        assert_eq!(
            p.after_failure(u32::MAX),
            FailureOutcome::LockedNow { failures: u32::MAX }
        );
    }

    #[test]
    fn a_session_expires_at_the_idle_timeout_instant_and_not_a_second_before() {
        let p = SessionPolicy::default();
        let seen = datetime!(2026-11-23 09:00:00 UTC);
        assert!(!p.is_expired(seen, seen + Duration::minutes(30) - Duration::seconds(1)));
        assert!(p.is_expired(seen, seen + Duration::minutes(30)));
    }
}
