//! The one place the backend reads the time; tests pass a fixed or shifted clock instead.

use std::sync::Arc;
use time::{Duration, OffsetDateTime};

#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    /// The system clock, in UTC.
    pub fn system() -> Clock {
        Clock(Arc::new(OffsetDateTime::now_utc))
    }

    /// The system clock moved by `offset` (used by tests that need a later date).
    pub fn shifted(offset: Duration) -> Clock {
        Clock(Arc::new(move || OffsetDateTime::now_utc() + offset))
    }

    /// Any function of no arguments, e.g. a clock a test moves by hand.
    pub fn from_fn(f: impl Fn() -> OffsetDateTime + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }

    /// Always the same instant.
    pub fn fixed(at: OffsetDateTime) -> Clock {
        Clock(Arc::new(move || at))
    }

    /// The current instant, to the microsecond: the precision timestamps are stored with, so
    /// that what is written reads back equal.
    pub fn now(&self) -> OffsetDateTime {
        let t = (self.0)();
        t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
            .unwrap_or_else(|_| unreachable!("a truncated nanosecond is still in range"))
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}
