//! The certificate lifecycle rules of DOMAIN.md, with the time passed in:
//!
//! - one valid certificate per login ID; at most 100 valid certificates per organisation;
//! - renewal only from `not_after - renewal window` until `not_after`; renewing supersedes;
//! - an expired certificate cannot be renewed, only a new one issued;
//! - revoking needs an RFC 5280 reason; reissue = revoke (if still valid) + issue;
//! - locked or deleted users get no new certificate.
//!
//! A certificate is valid from `not_before` through `not_after` inclusive (RFC 5280
//! §4.1.2.5), so it is expired only after the `not_after` instant.

use crate::error::error_codes;
use crate::lang::Message;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

/// At most this many valid certificates per organisation: 1 master + 99 others.
pub const MAX_VALID_CERTIFICATES: u32 = 100;

/// What a stored certificate is, before time is taken into account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StoredState {
    /// Issued and not revoked or superseded (it may have expired since).
    Issued,
    Revoked,
    /// Replaced by a renewal.
    Superseded,
    /// Expired, and replaced by a newly issued certificate.
    Expired,
}

impl StoredState {
    pub fn as_str(self) -> &'static str {
        match self {
            StoredState::Issued => "valid",
            StoredState::Revoked => "revoked",
            StoredState::Superseded => "superseded",
            StoredState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<StoredState> {
        match s {
            "valid" => Some(StoredState::Issued),
            "revoked" => Some(StoredState::Revoked),
            "superseded" => Some(StoredState::Superseded),
            "expired" => Some(StoredState::Expired),
            _ => None,
        }
    }
}

/// What a certificate is at a given instant, as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CertificateState {
    Valid,
    Revoked,
    Expired,
    Superseded,
}

impl CertificateState {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateState::Valid => "valid",
            CertificateState::Revoked => "revoked",
            CertificateState::Expired => "expired",
            CertificateState::Superseded => "superseded",
        }
    }
}

/// The facts about one certificate that the rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateFacts {
    pub state: StoredState,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl CertificateFacts {
    /// The state at `now`.
    pub fn state_at(&self, now: OffsetDateTime) -> CertificateState {
        match self.state {
            StoredState::Revoked => CertificateState::Revoked,
            StoredState::Superseded => CertificateState::Superseded,
            StoredState::Expired => CertificateState::Expired,
            StoredState::Issued if now > self.not_after => CertificateState::Expired,
            StoredState::Issued => CertificateState::Valid,
        }
    }

    /// Whole days from `now` until `not_after` (negative once expired).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }
}

/// The part of the issuing profile the rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecyclePolicy {
    /// Validity of a new certificate in days (default 366).
    pub validity_days: u32,
    /// Renewal opens this many days before `not_after` (default 40).
    pub renewal_window_days: u32,
}

impl Default for LifecyclePolicy {
    fn default() -> Self {
        LifecyclePolicy {
            validity_days: 366,
            renewal_window_days: 40,
        }
    }
}

impl LifecyclePolicy {
    /// The instant renewal of a certificate ending at `not_after` opens.
    pub fn renewal_opens_at(&self, not_after: OffsetDateTime) -> OffsetDateTime {
        not_after - Duration::days(i64::from(self.renewal_window_days))
    }

    /// `not_before` and `not_after` of a certificate issued at `now`.
    pub fn validity_from(&self, now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
        (now, now + Duration::days(i64::from(self.validity_days)))
    }
}

/// RFC 5280 §5.3.1 reasons an administrator may give for a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 6] = [
        RevocationReason::KeyCompromise,
        RevocationReason::Superseded,
        RevocationReason::AffiliationChanged,
        RevocationReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::Unspecified,
    ];

    /// The RFC 5280 CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::PrivilegeWithdrawn => 9,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "key_compromise",
            RevocationReason::AffiliationChanged => "affiliation_changed",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessation_of_operation",
            RevocationReason::PrivilegeWithdrawn => "privilege_withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<RevocationReason> {
        RevocationReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label(self) -> Message {
        let (ja, en) = match self {
            RevocationReason::Unspecified => ("理由を特定しない", "Unspecified"),
            RevocationReason::KeyCompromise => {
                ("鍵の漏えい・PCの紛失", "Key compromise (lost or stolen PC)")
            }
            RevocationReason::AffiliationChanged => ("所属の変更", "Affiliation changed"),
            RevocationReason::Superseded => (
                "新しい証明書に置き換え(PC入替・再インストール)",
                "Superseded (new PC, OS reinstalled)",
            ),
            RevocationReason::CessationOfOperation => ("利用終了", "Cessation of operation"),
            RevocationReason::PrivilegeWithdrawn => ("権限の取り消し", "Privilege withdrawn"),
        };
        Message::new(ja, en)
    }
}

/// What the rules need to know about the person a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub locked: bool,
    pub deleted: bool,
}

error_codes! {
    /// A certificate action was refused (`E-CERT-NNN`): a lifecycle rule forbids it, or what
    /// it needs is missing (the CA, the certificate, a selection, the bulk run). Each variant
    /// has a message that says what to do instead.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum LifecycleError {
        AlreadyHasValid { not_after: Date } = "E-CERT-001" => "the user already has a valid certificate until {not_after}",
        OrganisationLimit { max: u32 } = "E-CERT-002" => "the organisation has {max} valid certificates",
        RenewalNotOpen { opens_on: Date } = "E-CERT-003" => "renewal opens on {opens_on}",
        ExpiredCannotRenew { expired_on: Date } = "E-CERT-004" => "the certificate expired on {expired_on}; it cannot be renewed",
        HolderLocked = "E-CERT-005" => "the user is locked",
        HolderDeleted = "E-CERT-006" => "the user is deleted",
        NoValidCertificate = "E-CERT-007" => "there is no valid certificate to renew or revoke",
        ReasonRequired = "E-CERT-008" => "a revocation reason is required",
        /// The embedded CA does not exist yet (setup not done) or could not be loaded.
        CaNotReady = "E-CERT-009" => "the CA is not ready",
        /// No certificate with this serial.
        CertificateNotFound { serial: String } = "E-CERT-010" => "no certificate with serial {serial}",
        /// A bulk action with no user selected.
        EmptySelection = "E-CERT-011" => "no user selected",
        /// No bulk run with this id.
        BulkNotFound { job: i64 } = "E-CERT-012" => "no bulk run {job}",
        /// A certificate run of the organisation has not finished (resumed runs count too).
        RunInProgress { job: i64 } = "E-CERT-013" => "certificate run {job} is in progress",
    }
}

impl LifecycleError {
    pub fn message(&self) -> Message {
        match self {
            LifecycleError::AlreadyHasValid { not_after } => Message::new(
                format!("このユーザには{not_after}まで有効な証明書があります。期限が近ければ「更新」、PCの入替・紛失なら「再発行」を選んでください。"),
                format!("This user already has a certificate valid until {not_after}. Renew it when renewal opens, or reissue it if the PC was replaced or lost."),
            ),
            LifecycleError::OrganisationLimit { max } => Message::new(
                format!("有効な証明書は組織あたり{max}枚までです。使われていない証明書を失効させてから発行してください。"),
                format!("An organisation may hold at most {max} valid certificates. Revoke one that is no longer used, then issue."),
            ),
            LifecycleError::RenewalNotOpen { opens_on } => Message::new(
                format!("更新は{opens_on}から可能です。それまでは現在の証明書をお使いください。"),
                format!("Renewal opens on {opens_on}. Until then, keep using the current certificate."),
            ),
            LifecycleError::ExpiredCannotRenew { expired_on } => Message::new(
                format!("証明書は{expired_on}に有効期限が切れたため更新できません。「発行」で新しい証明書を発行してください。"),
                format!("The certificate expired on {expired_on} and cannot be renewed. Issue a new certificate instead."),
            ),
            LifecycleError::HolderLocked => Message::new(
                "このユーザは閉塞中のため証明書を発行できません。先に閉塞を解除してください。",
                "This user is locked and gets no new certificate. Unlock the user first.",
            ),
            LifecycleError::HolderDeleted => Message::new(
                "削除されたユーザには証明書を発行できません。",
                "A deleted user gets no new certificate.",
            ),
            LifecycleError::NoValidCertificate => Message::new(
                "有効な証明書がありません。「発行」で新しい証明書を発行してください。",
                "There is no valid certificate. Issue a new one instead.",
            ),
            LifecycleError::ReasonRequired => Message::new(
                "失効の理由を選んでください。",
                "Choose a reason for the revocation.",
            ),
            LifecycleError::CaNotReady => Message::new(
                "認証局(CA)が準備できていません。初期設定を済ませてから、サーバを再起動してください。",
                "The CA is not ready. Finish setup, then restart the server; the log says more.",
            ),
            LifecycleError::CertificateNotFound { serial } => Message::new(
                format!("シリアル番号 {serial} の証明書はありません。"),
                format!("There is no certificate with serial {serial}."),
            ),
            LifecycleError::EmptySelection => Message::new(
                "利用者が選択されていません。一覧のチェックボックスで選んでから実行してください。",
                "No user is selected. Tick users in the list, then run the action.",
            ),
            LifecycleError::BulkNotFound { job } => Message::new(
                format!("一括処理 {job} は見つかりません。"),
                format!("There is no bulk run {job}."),
            ),
            LifecycleError::RunInProgress { job } => Message::new(
                format!("一括処理 #{job} がまだ終わっていません(何も開始していません)。同時に実行できる一括処理は1つです。証明書ページで #{job} の進み具合を確認し、終わってからもう一度実行してください。"),
                format!("Run #{job} has not finished yet, so nothing was started: one run at a time. Follow run #{job} on the Certificates page and try again when it has finished."),
            ),
        }
    }
}

fn check_holder(holder: Holder) -> Result<(), LifecycleError> {
    if holder.deleted {
        return Err(LifecycleError::HolderDeleted);
    }
    if holder.locked {
        return Err(LifecycleError::HolderLocked);
    }
    Ok(())
}

/// May a new certificate be issued to `holder`, whose newest certificate is `current`, in an
/// organisation with `valid_in_organisation` valid certificates at `now`?
pub fn check_issue(
    holder: Holder,
    current: Option<&CertificateFacts>,
    valid_in_organisation: u32,
    now: OffsetDateTime,
) -> Result<(), LifecycleError> {
    check_holder(holder)?;
    if let Some(c) = current {
        if c.state_at(now) == CertificateState::Valid {
            return Err(LifecycleError::AlreadyHasValid {
                not_after: c.not_after.date(),
            });
        }
    }
    if valid_in_organisation >= MAX_VALID_CERTIFICATES {
        return Err(LifecycleError::OrganisationLimit {
            max: MAX_VALID_CERTIFICATES,
        });
    }
    Ok(())
}

/// May `current` be renewed at `now`? Renewal opens `renewal_window_days` before
/// `not_after` and closes at `not_after` (inclusive).
pub fn check_renew(
    holder: Holder,
    current: Option<&CertificateFacts>,
    policy: &LifecyclePolicy,
    now: OffsetDateTime,
) -> Result<(), LifecycleError> {
    check_holder(holder)?;
    let c = current.ok_or(LifecycleError::NoValidCertificate)?;
    match c.state_at(now) {
        CertificateState::Valid => {}
        CertificateState::Expired => {
            return Err(LifecycleError::ExpiredCannotRenew {
                expired_on: c.not_after.date(),
            })
        }
        CertificateState::Revoked | CertificateState::Superseded => {
            return Err(LifecycleError::NoValidCertificate)
        }
    }
    if !renewal_open(c, policy, now) {
        return Err(LifecycleError::RenewalNotOpen {
            opens_on: policy.renewal_opens_at(c.not_after).date(),
        });
    }
    Ok(())
}

/// Whether `c` can be renewed at `now`: it is valid and its renewal window has opened
/// (`renewal_window_days` before `not_after`, through `not_after`). The one rule behind
/// [`check_renew`], the Certificates list's "renewable" badge, the dashboard's window count and
/// "Renew all in the window".
pub fn renewal_open(c: &CertificateFacts, policy: &LifecyclePolicy, now: OffsetDateTime) -> bool {
    c.state_at(now) == CertificateState::Valid && now >= policy.renewal_opens_at(c.not_after)
}

/// May `current` be revoked for `reason`? Any issued certificate may, expired or not.
pub fn check_revoke(
    current: Option<&CertificateFacts>,
    reason: Option<RevocationReason>,
) -> Result<RevocationReason, LifecycleError> {
    let reason = reason.ok_or(LifecycleError::ReasonRequired)?;
    match current {
        Some(c) if c.state == StoredState::Issued => Ok(reason),
        _ => Err(LifecycleError::NoValidCertificate),
    }
}

/// May `holder` get a replacement (revoke what is issued, then issue) at `now`? The count
/// excludes the certificate that the reissue revokes.
pub fn check_reissue(
    holder: Holder,
    current: Option<&CertificateFacts>,
    reason: Option<RevocationReason>,
    valid_in_organisation: u32,
    now: OffsetDateTime,
) -> Result<Option<RevocationReason>, LifecycleError> {
    check_holder(holder)?;
    let revokes = current.filter(|c| c.state == StoredState::Issued);
    let reason = match revokes {
        Some(_) => Some(reason.ok_or(LifecycleError::ReasonRequired)?),
        None => None,
    };
    let counted_out =
        u32::from(revokes.is_some_and(|c| c.state_at(now) == CertificateState::Valid));
    if valid_in_organisation.saturating_sub(counted_out) >= MAX_VALID_CERTIFICATES {
        return Err(LifecycleError::OrganisationLimit {
            max: MAX_VALID_CERTIFICATES,
        });
    }
    Ok(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    const OPEN: Holder = Holder {
        locked: false,
        deleted: false,
    };
    const EXPIRY: OffsetDateTime = datetime!(2027-11-23 09:00:00 UTC);

    fn issued() -> CertificateFacts {
        CertificateFacts {
            state: StoredState::Issued,
            not_before: EXPIRY - Duration::days(366),
            not_after: EXPIRY,
        }
    }

    fn policy() -> LifecyclePolicy {
        LifecyclePolicy::default()
    }

    #[test]
    fn a_new_certificate_is_valid_for_366_days_by_default() {
        // 2026-11-22 + 366 days = 2027-11-23 (no 29 February in between).
        let now = datetime!(2026-11-22 09:00:00 UTC);
        assert_eq!(policy().validity_from(now), (now, EXPIRY));
    }

    #[test]
    fn renewal_is_allowed_40_days_before_expiry() {
        let now = EXPIRY - Duration::days(40);
        assert_eq!(check_renew(OPEN, Some(&issued()), &policy(), now), Ok(()));
    }

    #[test]
    fn renewal_is_refused_41_days_before_expiry_and_says_when_it_opens() {
        let now = EXPIRY - Duration::days(41);
        let err = check_renew(OPEN, Some(&issued()), &policy(), now).expect_err("too early");
        assert_eq!(
            err,
            LifecycleError::RenewalNotOpen {
                opens_on: date!(2027 - 10 - 14)
            }
        );
        assert_eq!(err.code(), "E-CERT-003");
        assert!(err.message().en.contains("Renewal opens on 2027-10-14"));
        assert!(err.message().ja.contains("2027-10-14から"));
    }

    #[test]
    fn renewal_one_second_before_the_window_is_refused() {
        let now = EXPIRY - Duration::days(40) - Duration::seconds(1);
        assert!(matches!(
            check_renew(OPEN, Some(&issued()), &policy(), now),
            Err(LifecycleError::RenewalNotOpen { .. })
        ));
    }

    #[test]
    fn renewal_at_the_expiry_instant_is_still_allowed_and_one_second_later_refused() {
        assert_eq!(
            check_renew(OPEN, Some(&issued()), &policy(), EXPIRY),
            Ok(())
        );
        let err = check_renew(
            OPEN,
            Some(&issued()),
            &policy(),
            EXPIRY + Duration::seconds(1),
        )
        .expect_err("expired");
        assert_eq!(
            err,
            LifecycleError::ExpiredCannotRenew {
                expired_on: date!(2027 - 11 - 23)
            }
        );
        assert_eq!(err.code(), "E-CERT-004");
    }

    #[test]
    fn a_certificate_is_valid_through_its_expiry_instant() {
        assert_eq!(issued().state_at(EXPIRY), CertificateState::Valid);
        assert_eq!(
            issued().state_at(EXPIRY + Duration::seconds(1)),
            CertificateState::Expired
        );
        assert_eq!(issued().days_left(EXPIRY - Duration::days(40)), 40);
    }

    #[test]
    fn a_revoked_or_superseded_certificate_cannot_be_renewed() {
        for state in [StoredState::Revoked, StoredState::Superseded] {
            let c = CertificateFacts { state, ..issued() };
            assert_eq!(
                check_renew(OPEN, Some(&c), &policy(), EXPIRY - Duration::days(1)),
                Err(LifecycleError::NoValidCertificate)
            );
        }
        assert_eq!(
            check_renew(OPEN, None, &policy(), EXPIRY),
            Err(LifecycleError::NoValidCertificate)
        );
    }

    #[test]
    fn a_second_valid_certificate_for_one_login_id_is_refused() {
        let now = EXPIRY - Duration::days(10);
        let err = check_issue(OPEN, Some(&issued()), 1, now).expect_err("has one");
        assert_eq!(err.code(), "E-CERT-001");
        assert!(err.message().en.contains("2027-11-23"));
    }

    #[test]
    fn after_expiry_a_new_certificate_may_be_issued() {
        assert_eq!(
            check_issue(OPEN, Some(&issued()), 1, EXPIRY + Duration::seconds(1)),
            Ok(())
        );
        let revoked = CertificateFacts {
            state: StoredState::Revoked,
            ..issued()
        };
        assert_eq!(
            check_issue(OPEN, Some(&revoked), 1, EXPIRY - Duration::days(100)),
            Ok(())
        );
    }

    #[test]
    fn the_100th_certificate_is_issued_and_the_101st_refused() {
        let now = EXPIRY - Duration::days(100);
        assert_eq!(check_issue(OPEN, None, 99, now), Ok(()));
        let err = check_issue(OPEN, None, 100, now).expect_err("limit");
        assert_eq!(err, LifecycleError::OrganisationLimit { max: 100 });
        assert_eq!(err.code(), "E-CERT-002");
    }

    #[test]
    fn locked_or_deleted_users_get_no_new_certificate() {
        let now = EXPIRY;
        let locked = Holder {
            locked: true,
            deleted: false,
        };
        let deleted = Holder {
            locked: false,
            deleted: true,
        };
        assert_eq!(
            check_issue(locked, None, 0, now),
            Err(LifecycleError::HolderLocked)
        );
        assert_eq!(
            check_issue(deleted, None, 0, now),
            Err(LifecycleError::HolderDeleted)
        );
        assert_eq!(
            check_renew(locked, Some(&issued()), &policy(), now),
            Err(LifecycleError::HolderLocked)
        );
        assert_eq!(
            check_reissue(
                locked,
                Some(&issued()),
                Some(RevocationReason::KeyCompromise),
                1,
                now
            ),
            Err(LifecycleError::HolderLocked)
        );
    }

    #[test]
    fn revocation_needs_a_reason_and_an_issued_certificate() {
        assert_eq!(
            check_revoke(Some(&issued()), None),
            Err(LifecycleError::ReasonRequired)
        );
        assert_eq!(
            check_revoke(Some(&issued()), Some(RevocationReason::KeyCompromise)),
            Ok(RevocationReason::KeyCompromise)
        );
        let revoked = CertificateFacts {
            state: StoredState::Revoked,
            ..issued()
        };
        assert_eq!(
            check_revoke(Some(&revoked), Some(RevocationReason::KeyCompromise)),
            Err(LifecycleError::NoValidCertificate)
        );
        assert_eq!(
            check_revoke(None, Some(RevocationReason::Unspecified)),
            Err(LifecycleError::NoValidCertificate)
        );
    }

    #[test]
    fn reissue_revokes_what_is_issued_and_works_even_at_the_limit() {
        let now = EXPIRY - Duration::days(200);
        assert_eq!(
            check_reissue(
                OPEN,
                Some(&issued()),
                Some(RevocationReason::KeyCompromise),
                100,
                now
            ),
            Ok(Some(RevocationReason::KeyCompromise))
        );
        assert_eq!(
            check_reissue(OPEN, Some(&issued()), None, 1, now),
            Err(LifecycleError::ReasonRequired)
        );
        // Nothing left to revoke: reissue is a plain issue, and needs no reason.
        assert_eq!(check_reissue(OPEN, None, None, 5, now), Ok(None));
        assert_eq!(
            check_reissue(OPEN, None, None, 100, now),
            Err(LifecycleError::OrganisationLimit { max: 100 })
        );
    }

    #[test]
    fn reasons_have_rfc_5280_codes_and_round_trip() {
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(RevocationReason::KeyCompromise.code(), 1);
        assert_eq!(RevocationReason::PrivilegeWithdrawn.code(), 9);
        assert_eq!(RevocationReason::parse("bogus"), None);
    }

    #[test]
    fn stored_states_round_trip() {
        for s in [
            StoredState::Issued,
            StoredState::Revoked,
            StoredState::Superseded,
            StoredState::Expired,
        ] {
            assert_eq!(StoredState::parse(s.as_str()), Some(s));
        }
    }
}
