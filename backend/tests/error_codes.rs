//! The README's Errors and code tables against the code: every code an error can carry is
//! mentioned in README.md, and every `E-XXX-NNN` the README mentions is a code an error has.
//! Ranges (`E-CA-020`–`024`, `E-VAL-004..006`) and lists (`E-USER-002/003`) count for every
//! code they name.

use certdesk_backend::ServiceError;
use certdesk_domain::backup::BackupError;
use certdesk_domain::distribution::{DistributionError, PickupRefusal};
use certdesk_domain::enrolment::EnrolmentError;
use certdesk_domain::external_ca::{CaError, CaSettingsError};
use certdesk_domain::lifecycle::LifecycleError;
use certdesk_domain::notices::{MailError, NoticeSettingsError};
use certdesk_domain::otp::OtpError;
use certdesk_domain::profile::ProfileError;
use certdesk_domain::serve::ServeError;
use certdesk_domain::userfile::{self, ExportError, FileError};
use certdesk_domain::{AuthError, SetupError, UserError, ValidationError};
use std::collections::BTreeSet;

/// The codes a `ServiceError` variant can carry: one arm per variant, so a new variant does
/// not compile until it says where its codes come from.
fn codes_of(e: &ServiceError) -> Vec<&'static str> {
    match e {
        ServiceError::Validation(_) => ValidationError::CODES.to_vec(),
        ServiceError::Lifecycle(_) => LifecycleError::CODES.to_vec(),
        ServiceError::Profile(_) => ProfileError::CODES.to_vec(),
        ServiceError::Setup(_) => SetupError::CODES.to_vec(),
        ServiceError::Auth(_) => AuthError::CODES.to_vec(),
        ServiceError::User(_) => UserError::CODES.to_vec(),
        ServiceError::UserFile(_) => file_errors().iter().map(FileError::code).collect(),
        ServiceError::Export(_) => export_errors().iter().map(ExportError::code).collect(),
        ServiceError::Distribution(_) => DistributionError::CODES.to_vec(),
        ServiceError::Pickup(_) => PickupRefusal::CODES.to_vec(),
        ServiceError::Mail(_) => MailError::CODES.to_vec(),
        ServiceError::NoticeSettings(_) => NoticeSettingsError::CODES.to_vec(),
        ServiceError::Ca(_) => CaError::CODES.to_vec(),
        ServiceError::CaSettings(_) => CaSettingsError::CODES.to_vec(),
        ServiceError::Otp(_) => OtpError::CODES.to_vec(),
        ServiceError::Serve(_) => ServeError::CODES.to_vec(),
        ServiceError::Backup(_) => BackupError::CODES.to_vec(),
        ServiceError::Enrolment(_) => EnrolmentError::CODES.to_vec(),
        ServiceError::ImportHasProblems { .. }
        | ServiceError::ImportStale
        | ServiceError::Database(_)
        | ServiceError::Internal(_) => vec![e.code()],
    }
}

/// One `ServiceError` of each variant.
fn one_of_each() -> Vec<ServiceError> {
    vec![
        ValidationError::GroupId.into(),
        LifecycleError::CaNotReady.into(),
        ProfileError::Validity.into(),
        SetupError::NotSetUp.into(),
        AuthError::Forbidden.into(),
        UserError::LastMaster.into(),
        FileError::Empty.into(),
        export_errors().remove(0).into(),
        ServiceError::ImportHasProblems { problems: 1 },
        ServiceError::ImportStale,
        DistributionError::DeliveryGone.into(),
        PickupRefusal::Locked.into(),
        MailError::Auth.into(),
        NoticeSettingsError::Hour.into(),
        CaError::ProxyAuth.into(),
        CaSettingsError::Url.into(),
        OtpError::WrongCode.into(),
        ServeError::TlsOptions.into(),
        BackupError::Damaged.into(),
        EnrolmentError::NotReady.into(),
        rusqlite::Error::QueryReturnedNoRows.into(),
        ServiceError::Internal("x".into()),
    ]
}

/// Every `FileError` (the users file's enum keeps its codes in `code()`, not in a list).
fn file_errors() -> Vec<FileError> {
    let all = vec![
        FileError::TooLarge { bytes: 2, max: 1 },
        FileError::Binary,
        FileError::UnknownEncoding,
        FileError::Empty,
        FileError::MissingColumns { missing: vec![] },
        FileError::DuplicateColumn {
            column: 2,
            name: "x".into(),
        },
        FileError::TooManyRows { rows: 2, max: 1 },
        FileError::NotAWorkbook { name: "x".into() },
        FileError::Encrypted,
        FileError::WorkbookTooLarge { what: "x".into() },
        FileError::SheetNotFound {
            sheet: "x".into(),
            sheets: vec![],
        },
        FileError::EmptySheet {
            sheet: "x".into(),
            others: vec![],
        },
        FileError::ExtensionMismatch {
            name: "x".into(),
            actual: "y".into(),
        },
        FileError::MergedHeader {
            sheet: "x".into(),
            range: "A1:B1".into(),
        },
    ];
    for e in &all {
        // Does not compile when a variant is added: add it to the list above too.
        match e {
            FileError::TooLarge { .. }
            | FileError::Binary
            | FileError::UnknownEncoding
            | FileError::Empty
            | FileError::MissingColumns { .. }
            | FileError::DuplicateColumn { .. }
            | FileError::TooManyRows { .. }
            | FileError::NotAWorkbook { .. }
            | FileError::Encrypted
            | FileError::WorkbookTooLarge { .. }
            | FileError::SheetNotFound { .. }
            | FileError::EmptySheet { .. }
            | FileError::ExtensionMismatch { .. }
            | FileError::MergedHeader { .. } => {}
        }
    }
    all
}

/// Every `ExportError`.
fn export_errors() -> Vec<ExportError> {
    let all = vec![ExportError::Unrepresentable {
        login_id: "x".into(),
        column: "name",
        character: '?',
    }];
    for e in &all {
        match e {
            ExportError::Unrepresentable { .. } => {}
        }
    }
    all
}

/// Every code certdesk can show, from the enums and the users file's row-problem codes.
fn every_code() -> BTreeSet<String> {
    let mut codes: BTreeSet<String> = one_of_each()
        .iter()
        .flat_map(codes_of)
        .map(str::to_string)
        .collect();
    for row_problem in [
        userfile::CODE_RAGGED_ROW,
        userfile::CODE_REQUIRED_EMPTY,
        userfile::CODE_UNKNOWN_ROLE,
        userfile::CODE_DUPLICATE_LOGIN_ID,
        userfile::CODE_UNCLOSED_QUOTE,
        userfile::CODE_NOT_TEXT,
        userfile::CODE_DATE_CELL,
        userfile::CODE_ERROR_VALUE,
        userfile::CODE_SECOND_HEADER,
    ] {
        codes.insert(row_problem.to_string());
    }
    codes
}

/// `NNN`: exactly three ASCII digits at the start of `s`, not followed by a fourth.
fn three_digits(s: &str) -> Option<u32> {
    let digits = s.get(..3)?;
    let more = s[3..].starts_with(|c: char| c.is_ascii_digit());
    (digits.bytes().all(|b| b.is_ascii_digit()) && !more).then(|| digits.parse().ok())?
}

/// Every code the text mentions, ranges and lists spelt out.
fn codes_in(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("E-") {
        let before = text.len() - rest.len() + at;
        rest = &rest[at + 2..];
        if text[..before].ends_with(|c: char| c.is_ascii_alphanumeric()) {
            continue;
        }
        let family_len = rest
            .find(|c: char| !c.is_ascii_uppercase())
            .unwrap_or(rest.len());
        let family = &rest[..family_len];
        let Some(after_family) = rest[family_len..].strip_prefix('-') else {
            continue;
        };
        let Some(first) = three_digits(after_family).filter(|_| !family.is_empty()) else {
            continue;
        };
        let code = |n: u32| format!("E-{family}-{n:03}");
        found.insert(code(first));
        let tail = after_family[3..].trim_start_matches('`');
        // A range: `E-CA-020`–`024`, E-VAL-004..006.
        let range_end = ["–", ".."]
            .iter()
            .find_map(|dash| tail.strip_prefix(dash))
            .map(|t| t.trim_start_matches('`'))
            .and_then(three_digits);
        if let Some(last) = range_end {
            found.extend((first..=last).map(code));
            continue;
        }
        // A list: E-USER-002/003/005.
        let mut list = &after_family[3..];
        while let Some(n) = list.strip_prefix('/').and_then(three_digits) {
            found.insert(code(n));
            list = &list[4..];
        }
    }
    found
}

fn readme() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    std::fs::read_to_string(path).expect("README.md next to the workspace's Cargo.toml")
}

#[test]
fn the_readme_mentions_every_code() {
    let mentioned = codes_in(&readme());
    let missing: Vec<_> = every_code().difference(&mentioned).cloned().collect();
    assert!(missing.is_empty(), "README.md does not mention {missing:?}");
}

#[test]
fn every_code_the_readme_mentions_exists() {
    // E-WEB-* are the browser/server connection's codes, defined by the app crate (which this
    // crate cannot see); every other family is defined here.
    let unknown: Vec<_> = codes_in(&readme())
        .difference(&every_code())
        .filter(|code| !code.starts_with("E-WEB-"))
        .cloned()
        .collect();
    assert!(
        unknown.is_empty(),
        "README.md mentions codes no error has: {unknown:?}"
    );
}

#[test]
fn ranges_and_lists_in_the_readme_count_for_every_code_they_name() {
    let codes = codes_in("`E-CA-020`–`022`, E-VAL-004..005, E-USER-002/003, (E-SYS-001).");
    let expected = [
        "E-CA-020",
        "E-CA-021",
        "E-CA-022",
        "E-SYS-001",
        "E-USER-002",
        "E-USER-003",
        "E-VAL-004",
        "E-VAL-005",
    ];
    assert_eq!(codes, expected.iter().map(|c| c.to_string()).collect());
    assert!(codes_in("E-CSV-* and E-X-1234 and NOTE-CA-001").is_empty());
}
