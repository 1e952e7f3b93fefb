//! The temporary lock after wrong passwords (一時的な閉塞) and the limits on what a sign-in
//! may send.
//!
//! The 5th wrong password in a row (the domain's [`LockoutPolicy`]) locks the login ID for
//! 15 minutes; each further lock before a successful sign-in lasts twice as long as the one
//! before, at most 24 hours. When a lock ends the count of wrong passwords starts again at 0;
//! the back-off step is kept until a successful sign-in. Unknown login IDs go through the same
//! steps (in their own table), so the answer never tells whether a login ID exists.

use certdesk_domain::auth::FailureOutcome;
use certdesk_domain::{AuthError, LockoutPolicy};
use time::{Duration, OffsetDateTime};

/// A sign-in with a longer login ID is refused before anything is looked up or written
/// (login IDs have at most 12 characters; the size of an input is not a secret).
pub const MAX_LOGIN_ID_BYTES: usize = 64;
/// A sign-in (or a current password) longer than this is refused before it is hashed.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The first temporary lock lasts this long; each next one twice as long as the one before.
pub const FIRST_LOCK: Duration = Duration::minutes(15);
/// No temporary lock lasts longer than this.
pub const LONGEST_LOCK: Duration = Duration::hours(24);
/// A counter of an unknown login ID is forgotten after a day without a failure (and when it
/// holds no running lock), so made-up login IDs do not pile up in the database.
pub const UNKNOWN_ID_MEMORY: Duration = Duration::hours(24);
/// Every login ID that breaks the login-ID rule is counted under this one key; it cannot be a
/// real key, since `*` is not allowed in login IDs.
pub const MALFORMED_KEY: &str = "*malformed*";

/// True if a sign-in's inputs are small enough to be looked at.
pub fn within_limits(login_id: &str, password: &str) -> bool {
    login_id.len() <= MAX_LOGIN_ID_BYTES && password.len() <= MAX_PASSWORD_BYTES
}

/// How long the temporary lock at `step` (0 for the first since the last successful sign-in)
/// lasts: 15 min, 30 min, 1 h, ... at most 24 h.
pub fn lock_duration(step: u32) -> Duration {
    let factor = 1i64.checked_shl(step.min(32)).unwrap_or(i64::MAX);
    FIRST_LOCK
        .checked_mul(i32::try_from(factor).unwrap_or(i32::MAX))
        .map_or(LONGEST_LOCK, |d| d.min(LONGEST_LOCK))
}

/// The wrong-password state of one login ID (known or unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Wrong passwords in a row since the last lock ended (or the last success).
    pub failures: u32,
    /// Temporary locks since the last successful sign-in.
    pub step: u32,
    /// The running temporary lock ends at this instant.
    pub locked_until: Option<OffsetDateTime>,
}

/// What one more wrong password does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Counted; still open.
    Counted { counter: Counter },
    /// This failure locked the login ID until `until`.
    LockedNow {
        counter: Counter,
        until: OffsetDateTime,
    },
}

impl Failure {
    /// The counter after this failure, to be stored.
    pub fn counter(self) -> Counter {
        match self {
            Failure::Counted { counter } | Failure::LockedNow { counter, .. } => counter,
        }
    }

    /// The answer to the person: `counted` while still open, the temporary lock (with its end)
    /// once this failure locked the login ID.
    pub fn refusal(self, counted: AuthError) -> AuthError {
        match self {
            Failure::Counted { .. } => counted,
            Failure::LockedNow { until, .. } => AuthError::TemporarilyLocked { until },
        }
    }
}

impl Counter {
    /// The running temporary lock's end, if it has not ended at `now`.
    pub fn locked_at(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.locked_until.filter(|until| now < *until)
    }

    /// One more wrong password at `now`, when no temporary lock is running.
    pub fn after_failure(&self, now: OffsetDateTime) -> Failure {
        match LockoutPolicy::default().after_failure(self.failures) {
            FailureOutcome::StillOpen { failures } => Failure::Counted {
                counter: Counter { failures, ..*self },
            },
            FailureOutcome::LockedNow { .. } => {
                let until = now + lock_duration(self.step);
                Failure::LockedNow {
                    counter: Counter {
                        failures: 0,
                        step: self.step.saturating_add(1),
                        locked_until: Some(until),
                    },
                    until,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn locks_last_15_minutes_then_double_up_to_a_day() {
        let minutes: Vec<i64> = (0..9).map(|s| lock_duration(s).whole_minutes()).collect();
        assert_eq!(minutes, [15, 30, 60, 120, 240, 480, 960, 1440, 1440]);
        assert_eq!(lock_duration(u32::MAX), LONGEST_LOCK);
    }

    #[test]
    fn the_fifth_wrong_password_locks_for_the_step_and_the_count_starts_again() {
        let now = datetime!(2026-11-23 01:30:00 UTC);
        let mut c = Counter {
            failures: 0,
            step: 0,
            locked_until: None,
        };
        for expected in 1..=4 {
            match c.after_failure(now) {
                Failure::Counted { counter } => {
                    assert_eq!(counter.failures, expected);
                    c = counter;
                }
                other => panic!("locked too early: {other:?}"),
            }
        }
        let Failure::LockedNow { counter, until } = c.after_failure(now) else {
            panic!("the 5th locks");
        };
        assert_eq!(until, datetime!(2026-11-23 01:45:00 UTC));
        assert_eq!(counter.failures, 0);
        assert_eq!(counter.step, 1);
        assert_eq!(counter.locked_at(until - Duration::seconds(1)), Some(until));
        assert_eq!(counter.locked_at(until), None, "it ends at the instant");
        let again = Counter {
            failures: 4,
            ..counter
        };
        assert!(matches!(
            again.after_failure(until),
            Failure::LockedNow { until: u, .. } if u == until + Duration::minutes(30)
        ));
    }

    #[test]
    fn inputs_over_the_limits_are_refused_at_the_byte() {
        assert!(within_limits(&"a".repeat(64), &"p".repeat(1024)));
        assert!(!within_limits(&"a".repeat(65), "p"));
        assert!(!within_limits("a", &"p".repeat(1025)));
    }
}
