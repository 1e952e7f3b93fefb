//! The expiry dashboard's rules: which bucket a user falls in, and the weekly expiry chart.
//!
//! The dashboard's counts and the Certificates page's `?filter=` use the same function,
//! [`bucket`], so a count and the list it links to always agree. Buckets are exclusive: every
//! user (not deleted) is in exactly one, decided by their newest certificate:
//!
//! | bucket | newest certificate at `now` |
//! |---|---|
//! | [`Bucket::None`] | none (never issued) |
//! | [`Bucket::Revoked`] | revoked |
//! | [`Bucket::Expired`] | past its `not_after` instant (or marked expired) |
//! | [`Bucket::Expiring7`] | valid, and `now >= not_after - 7 days` (through the expiry instant) |
//! | [`Bucket::Window`] | valid, inside the renewal window, more than 7 days left |
//! | [`Bucket::Valid`] | valid, renewal not open yet |
//!
//! "In the renewal window" starts at the same instant renewal opens
//! ([`LifecyclePolicy::renewal_opens_at`]); a certificate is valid through `not_after`
//! inclusive (RFC 5280), so at the expiry instant it is still "expiring within 7 days".

use crate::lifecycle::{renewal_open, CertificateFacts, CertificateState, LifecyclePolicy};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

/// "Expiring within 7 days": the dashboard's second threshold.
pub const EXPIRING_SOON_DAYS: i64 = 7;

/// The expiry chart covers this many weeks (13 months ≈ 57 weeks).
pub const CHART_WEEKS: usize = 57;

/// How many upcoming expiries the dashboard lists.
pub const UPCOMING_LIMIT: usize = 20;

/// Which count of the dashboard a user is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Bucket {
    Valid,
    Window,
    Expiring7,
    Expired,
    Revoked,
    None,
}

impl Bucket {
    /// In the order the dashboard shows them.
    pub const ALL: [Bucket; 6] = [
        Bucket::Valid,
        Bucket::Window,
        Bucket::Expiring7,
        Bucket::Expired,
        Bucket::Revoked,
        Bucket::None,
    ];

    /// The name used in `?filter=` and in `data-testid`s.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Valid => "valid",
            Bucket::Window => "window",
            Bucket::Expiring7 => "expiring7",
            Bucket::Expired => "expired",
            Bucket::Revoked => "revoked",
            Bucket::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Bucket> {
        Bucket::ALL.into_iter().find(|b| b.as_str() == s.trim())
    }
}

/// The bucket of a user whose newest certificate is `current`, at `now`.
pub fn bucket(
    current: Option<&CertificateFacts>,
    policy: &LifecyclePolicy,
    now: OffsetDateTime,
) -> Bucket {
    let Some(c) = current else {
        return Bucket::None;
    };
    match c.state_at(now) {
        CertificateState::Revoked => Bucket::Revoked,
        CertificateState::Expired => Bucket::Expired,
        // A renewal makes a newer certificate, so a superseded one is never the newest;
        // should it be, the user holds no certificate.
        CertificateState::Superseded => Bucket::None,
        CertificateState::Valid if now >= c.not_after - Duration::days(EXPIRING_SOON_DAYS) => {
            Bucket::Expiring7
        }
        CertificateState::Valid if renewal_open(c, policy, now) => Bucket::Window,
        CertificateState::Valid => Bucket::Valid,
    }
}

/// How many users are in each bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketCounts {
    pub valid: u32,
    pub window: u32,
    pub expiring7: u32,
    pub expired: u32,
    pub revoked: u32,
    pub none: u32,
    /// Users whose certificate can be renewed now ([`renewal_open`]): the banner's number and
    /// the users "Renew all in the window" renews. With a renewal window shorter than
    /// [`EXPIRING_SOON_DAYS`] this is fewer than `window + expiring7`.
    #[serde(default)]
    pub renewable: u32,
}

impl BucketCounts {
    /// Counts a user in bucket `b`, and as renewable when renewal is open for them.
    pub fn add(&mut self, b: Bucket, renewable: bool) {
        *self.slot(b) += 1;
        self.renewable += u32::from(renewable);
    }

    pub fn get(&self, b: Bucket) -> u32 {
        match b {
            Bucket::Valid => self.valid,
            Bucket::Window => self.window,
            Bucket::Expiring7 => self.expiring7,
            Bucket::Expired => self.expired,
            Bucket::Revoked => self.revoked,
            Bucket::None => self.none,
        }
    }

    fn slot(&mut self, b: Bucket) -> &mut u32 {
        match b {
            Bucket::Valid => &mut self.valid,
            Bucket::Window => &mut self.window,
            Bucket::Expiring7 => &mut self.expiring7,
            Bucket::Expired => &mut self.expired,
            Bucket::Revoked => &mut self.revoked,
            Bucket::None => &mut self.none,
        }
    }

    pub fn total(&self) -> u32 {
        Bucket::ALL.into_iter().map(|b| self.get(b)).sum()
    }
}

/// The Monday (in `offset`'s calendar, e.g. JST) of the week `at` falls in.
pub fn week_start(at: OffsetDateTime, offset: time::UtcOffset) -> Date {
    let d = at.to_offset(offset).date();
    d - Duration::days(i64::from(d.weekday().number_days_from_monday()))
}

/// One bar of the chart: certificates expiring in the week starting `week_start` (Monday).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekBar {
    /// `YYYY-MM-DD` of the Monday.
    pub week_start: String,
    pub count: u32,
}

/// Expiries per week for [`CHART_WEEKS`] weeks from the week of `now`, in the calendar of
/// `offset` (JST for the console). Expiries before `now` or after the last week are left out.
pub fn weekly_expiries(
    not_afters: impl IntoIterator<Item = OffsetDateTime>,
    now: OffsetDateTime,
    offset: time::UtcOffset,
) -> Vec<WeekBar> {
    let first = week_start(now, offset);
    let mut counts = vec![0u32; CHART_WEEKS];
    for na in not_afters {
        if na < now {
            continue;
        }
        let days = (na.to_offset(offset).date() - first).whole_days();
        let week = usize::try_from(days / 7).unwrap_or(usize::MAX);
        if let Some(slot) = counts.get_mut(week) {
            *slot += 1;
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| WeekBar {
            week_start: (first + Duration::weeks(i as i64)).to_string(),
            count,
        })
        .collect()
}

/// Whether a week starts the first Monday of a month (the chart labels those).
pub fn starts_month(week_start: &str) -> bool {
    week_start
        .get(8..10)
        .and_then(|d| d.parse::<u8>().ok())
        .is_some_and(|d| d <= 7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::StoredState;
    use crate::profile::JST;
    use time::macros::datetime;

    const EXPIRY: OffsetDateTime = datetime!(2027-11-23 09:00:00 UTC);

    fn cert(state: StoredState) -> CertificateFacts {
        CertificateFacts {
            state,
            not_before: EXPIRY - Duration::days(366),
            not_after: EXPIRY,
        }
    }

    fn at(now: OffsetDateTime) -> Bucket {
        bucket(
            Some(&cert(StoredState::Issued)),
            &LifecyclePolicy::default(),
            now,
        )
    }

    #[test]
    fn a_user_without_a_certificate_is_never_issued() {
        assert_eq!(
            bucket(None, &LifecyclePolicy::default(), EXPIRY),
            Bucket::None
        );
    }

    #[test]
    fn the_window_starts_exactly_40_days_before_expiry() {
        let opens = EXPIRY - Duration::days(40);
        assert_eq!(at(opens - Duration::seconds(1)), Bucket::Valid);
        assert_eq!(at(opens), Bucket::Window);
        assert_eq!(at(opens + Duration::seconds(1)), Bucket::Window);
    }

    #[test]
    fn the_window_follows_the_profile() {
        let policy = LifecyclePolicy {
            validity_days: 366,
            renewal_window_days: 60,
        };
        let c = cert(StoredState::Issued);
        let opens = EXPIRY - Duration::days(60);
        assert_eq!(
            bucket(Some(&c), &policy, opens - Duration::seconds(1)),
            Bucket::Valid
        );
        assert_eq!(bucket(Some(&c), &policy, opens), Bucket::Window);
    }

    #[test]
    fn expiring_within_7_days_starts_exactly_7_days_before_expiry() {
        let seven = EXPIRY - Duration::days(7);
        assert_eq!(at(seven - Duration::seconds(1)), Bucket::Window);
        assert_eq!(at(seven), Bucket::Expiring7);
        assert_eq!(at(seven + Duration::seconds(1)), Bucket::Expiring7);
    }

    #[test]
    fn a_certificate_is_expiring_at_its_expiry_instant_and_expired_one_second_later() {
        assert_eq!(at(EXPIRY - Duration::seconds(1)), Bucket::Expiring7);
        assert_eq!(at(EXPIRY), Bucket::Expiring7);
        assert_eq!(at(EXPIRY + Duration::seconds(1)), Bucket::Expired);
    }

    #[test]
    fn stored_states_decide_before_dates() {
        let p = LifecyclePolicy::default();
        let early = EXPIRY - Duration::days(200);
        assert_eq!(
            bucket(Some(&cert(StoredState::Revoked)), &p, early),
            Bucket::Revoked
        );
        assert_eq!(
            bucket(Some(&cert(StoredState::Expired)), &p, early),
            Bucket::Expired
        );
        assert_eq!(
            bucket(Some(&cert(StoredState::Superseded)), &p, early),
            Bucket::None
        );
        assert_eq!(at(early), Bucket::Valid);
    }

    #[test]
    fn renewable_users_are_counted_by_the_renewal_rule_and_counts_add_up() {
        let mut counts = BucketCounts::default();
        for b in Bucket::ALL {
            counts.add(b, matches!(b, Bucket::Window | Bucket::Expiring7));
            assert_eq!(Bucket::parse(b.as_str()), Some(b));
        }
        counts.add(Bucket::Window, true);
        assert_eq!(counts.renewable, 3);
        assert_eq!(counts.total(), 7);
        assert_eq!(Bucket::parse("all"), None);
    }

    #[test]
    fn with_a_5_day_window_expiring_users_are_renewable_only_once_renewal_opens() {
        let policy = LifecyclePolicy {
            validity_days: 366,
            renewal_window_days: 5,
        };
        let c = cert(StoredState::Issued);
        for days_left in [10, 7, 6, 5, 4, 1, 0] {
            let now = EXPIRY - Duration::days(days_left);
            let allowed = crate::lifecycle::check_renew(
                crate::lifecycle::Holder {
                    locked: false,
                    deleted: false,
                },
                Some(&c),
                &policy,
                now,
            )
            .is_ok();
            assert_eq!(
                renewal_open(&c, &policy, now),
                allowed,
                "{days_left} days left"
            );
            assert_eq!(allowed, days_left <= 5, "{days_left} days left");
            let b = bucket(Some(&c), &policy, now);
            // Never in the window bucket (it is shorter than the 7-day one).
            assert_ne!(b, Bucket::Window, "{days_left} days left");
        }
    }

    #[test]
    fn expiries_are_counted_per_jst_week_from_the_current_week() {
        // 2026-11-23 is a Monday; 23:30 UTC on Sunday 22nd is already Monday in JST.
        let now = datetime!(2026-11-22 23:30:00 UTC);
        assert_eq!(week_start(now, JST).to_string(), "2026-11-23");
        let bars = weekly_expiries(
            [
                now - Duration::days(1),                       // already expired: left out
                datetime!(2026-11-29 14:59:59 UTC),            // Sunday 23:59:59 JST: week 0
                datetime!(2026-11-29 15:00:00 UTC),            // Monday 00:00 JST: week 1
                now + Duration::weeks(CHART_WEEKS as i64 + 1), // beyond the chart
            ],
            now,
            JST,
        );
        assert_eq!(bars.len(), CHART_WEEKS);
        assert_eq!(
            (bars[0].week_start.as_str(), bars[0].count),
            ("2026-11-23", 1)
        );
        assert_eq!(
            (bars[1].week_start.as_str(), bars[1].count),
            ("2026-11-30", 1)
        );
        assert_eq!(bars.iter().map(|b| b.count).sum::<u32>(), 2);
        assert!(starts_month("2026-12-07"));
        assert!(!starts_month("2026-12-08"));
    }
}
