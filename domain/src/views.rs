//! Plain data the pages show, shared by the server (which fills it) and the browser (which
//! renders it). No rules here.

use crate::distribution::P12Profile;
use crate::lifecycle::CertificateState;
use crate::role::Role;
use crate::userfile::{Encoding, ImportMode, ImportPlan, Separator};
use serde::{Deserialize, Serialize};

/// One certificate as the pages show it. Timestamps are UTC, `YYYY-MM-DDThh:mm:ss.ffffffZ`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateView {
    pub id: i64,
    pub user_id: i64,
    pub login_id: String,
    pub serial: String,
    pub subject: String,
    pub key_type: String,
    pub friendly_name: String,
    pub not_before: String,
    pub not_after: String,
    pub state: CertificateState,
    pub days_left: i64,
    /// How it was made: issue, renew or reissue.
    pub via: crate::OperationKind,
    pub issued_at: String,
    pub issued_by: String,
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
    pub sha256: String,
    pub renewal_opens: String,
    /// Valid and inside the renewal window now.
    pub renewable: bool,
}

impl CertificateView {
    /// The SHA-256 fingerprint as `AB:CD:...`, as certificate viewers show it.
    pub fn fingerprint(&self) -> String {
        self.sha256
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// A user and their newest certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCertificates {
    pub user_id: i64,
    pub login_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub locked: bool,
    /// Has a console password (masters and admins need one to sign in).
    pub has_password: bool,
    pub current: Option<CertificateView>,
}

/// What a users file would do, shown before anything is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportPreview {
    /// SHA-256 of the file's bytes (hex); the commit must present the same file.
    pub sha256: String,
    pub file_name: String,
    pub bytes: usize,
    pub encoding: Encoding,
    pub separator: Separator,
    /// Data rows read (blank rows not counted).
    pub records: u32,
    pub ignored_columns: Vec<String>,
    /// For a workbook: the sheet read and every sheet's name (the preview offers the choice).
    #[serde(default)]
    pub sheet: Option<crate::userfile::SheetChoice>,
    /// Login IDs and e-mail addresses folded to half-width, shown beside the original.
    #[serde(default)]
    pub folded: Vec<crate::userfile::FoldedValue>,
    pub mode: ImportMode,
    pub plan: ImportPlan,
    /// True once the rows were written (one transaction).
    pub committed: bool,
}

/// Where a certificate's private key stands (issue 7's key custody).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum KeyCustody {
    /// Sealed, never downloaded.
    Held,
    /// Downloaded first at `first`; downloadable again until `until`.
    InWindow { first: String, until: String },
    /// Erased (window over, or the certificate ended) or never kept.
    Erased,
}

/// A pickup as the Distribution page shows it (never the password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickupView {
    pub number: String,
    pub profile: P12Profile,
    pub created_at: String,
    pub first_download_at: Option<String>,
    pub failures: u32,
    pub locked: bool,
}

/// One user's line on the Distribution page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionRow {
    pub user_id: i64,
    pub login_id: String,
    pub name: String,
    pub email: String,
    /// The valid certificate, if any: (serial, not_after).
    pub serial: Option<String>,
    pub not_after: Option<String>,
    pub key: KeyCustody,
    pub pickup: Option<PickupView>,
}

/// One slip of a password sheet: who, which file, which password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slip {
    pub login_id: String,
    pub name: String,
    pub serial: String,
    /// The `.p12` file name (bundles), or empty for pickups.
    pub file_name: String,
    /// The pickup certificate number, for pickups.
    pub pickup_number: Option<String>,
    pub password: String,
}

/// What preparing a delivery returns. Passwords appear here once; bundles and pickups keep
/// them (sealed) for the password sheet until the delivery expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCreated {
    pub token: String,
    /// `single`, `bundle` or `pickup`.
    pub kind: String,
    pub profile: P12Profile,
    pub file_name: Option<String>,
    pub expires_at: String,
    pub slips: Vec<Slip>,
}

/// Where one user's item of a bulk run stands (`bulk_job_items.status`, a CHECKed column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunItemStatus {
    Pending,
    Done,
    Failed,
}

impl RunItemStatus {
    pub const ALL: [RunItemStatus; 3] = [
        RunItemStatus::Pending,
        RunItemStatus::Done,
        RunItemStatus::Failed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunItemStatus::Pending => "pending",
            RunItemStatus::Done => "done",
            RunItemStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<RunItemStatus> {
        RunItemStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// One user's line in a bulk run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkItem {
    pub user_id: i64,
    pub login_id: String,
    pub status: RunItemStatus,
    pub serial: Option<String>,
    pub error_code: Option<String>,
    pub message_ja: Option<String>,
    pub message_en: Option<String>,
}

/// A bulk run's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkStatus {
    pub job_id: i64,
    pub operation: crate::OperationKind,
    pub total: u32,
    pub done: u32,
    pub failed: u32,
    pub finished: bool,
    pub items: Vec<BulkItem>,
}

/// One of the next expiries, as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpcomingExpiry {
    pub user_id: i64,
    pub login_id: String,
    pub name: String,
    pub serial: String,
    pub not_after: String,
    pub days_left: i64,
    pub bucket: crate::dashboard::Bucket,
}

/// Everything the dashboard shows, from one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardView {
    /// Users (not deleted) by bucket; see `dashboard::bucket`.
    pub counts: crate::dashboard::BucketCounts,
    pub renewal_window_days: u32,
    /// Expiries per week (JST weeks from Monday) for the next 13 months.
    pub weeks: Vec<crate::dashboard::WeekBar>,
    /// The next expiries (valid certificates, soonest first), at most 20.
    pub upcoming: Vec<UpcomingExpiry>,
    /// The newest renewal notices.
    pub notices: Vec<crate::notices::NoticeView>,
    /// Mail that failed and is waiting for its next try, or was given up.
    pub mail_failures: Vec<crate::notices::MailFailureView>,
    /// Bulk runs that have not finished (e.g. resumed after a restart).
    pub running_jobs: Vec<i64>,
    /// The last backup, and whether it warns.
    #[serde(default)]
    pub backup: crate::backup::BackupStatus,
    /// Valid certificates their holders renewed by themselves on the check page (issue 17).
    #[serde(default)]
    pub self_renewed: u32,
}

/// The date part of a stored timestamp.
pub fn date_part(ts: &str) -> &str {
    ts.get(..10).unwrap_or(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_colon_separated_upper_case_pairs() {
        let v = CertificateView {
            id: 1,
            user_id: 1,
            login_id: "a".into(),
            serial: "s".into(),
            subject: "x".into(),
            key_type: "rsa2048".into(),
            friendly_name: "f".into(),
            not_before: "n".into(),
            not_after: "2027-11-24T06:50:01.888455Z".into(),
            state: CertificateState::Valid,
            days_left: 1,
            via: crate::OperationKind::Issue,
            issued_at: "i".into(),
            issued_by: "b".into(),
            revoked_at: None,
            revocation_reason: None,
            sha256: "ab01ff".into(),
            renewal_opens: "r".into(),
            renewable: false,
        };
        assert_eq!(v.fingerprint(), "AB:01:FF");
        assert_eq!(date_part(&v.not_after), "2027-11-24");
    }
}
