//! What an administrator (or a script) asks the certificate lifecycle to do for one user.
//!
//! [`Operation`] travels as this one type from the page through the server function, the bulk
//! run and the database (`bulk_jobs.operation`, `ca_requests.operation` and
//! `certificates.via` are CHECKed columns holding [`OperationKind::as_str`]) to the audit row.
//! On the wire it is `{"operation": "revoke", "reason": "key_compromise"}`.

use crate::lang::Message;
use crate::lifecycle::{LifecycleError, RevocationReason};
use serde::{Deserialize, Serialize};

/// One lifecycle operation, with the revocation reason where the operation revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "OperationForm", try_from = "OperationForm")]
pub enum Operation {
    Issue,
    Renew,
    Revoke(Option<RevocationReason>),
    Reissue(Option<RevocationReason>),
}

/// The operation without its reason: what `bulk_jobs.operation` stores, and how a certificate
/// was made (`certificates.via`: issue, renew or reissue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    Issue,
    Renew,
    Revoke,
    Reissue,
}

/// The wire and storage form of an [`Operation`]: its kind and an optional reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationForm {
    pub operation: OperationKind,
    #[serde(default)]
    pub reason: Option<RevocationReason>,
}

impl OperationKind {
    pub const ALL: [OperationKind; 4] = [
        OperationKind::Issue,
        OperationKind::Renew,
        OperationKind::Revoke,
        OperationKind::Reissue,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Issue => "issue",
            OperationKind::Renew => "renew",
            OperationKind::Revoke => "revoke",
            OperationKind::Reissue => "reissue",
        }
    }

    pub fn parse(s: &str) -> Option<OperationKind> {
        OperationKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// As people read it (buttons, history, bulk results).
    pub fn label(self) -> Message {
        match self {
            OperationKind::Issue => Message::new("発行", "Issue"),
            OperationKind::Renew => Message::new("更新", "Renew"),
            OperationKind::Revoke => Message::new("失効", "Revoke"),
            OperationKind::Reissue => Message::new("再発行", "Reissue"),
        }
    }
}

impl Operation {
    /// The operation of `kind` with `reason` (ignored for issue and renew).
    pub fn new(kind: OperationKind, reason: Option<RevocationReason>) -> Operation {
        match kind {
            OperationKind::Issue => Operation::Issue,
            OperationKind::Renew => Operation::Renew,
            OperationKind::Revoke => Operation::Revoke(reason),
            OperationKind::Reissue => Operation::Reissue(reason),
        }
    }

    pub fn kind(self) -> OperationKind {
        match self {
            Operation::Issue => OperationKind::Issue,
            Operation::Renew => OperationKind::Renew,
            Operation::Revoke(_) => OperationKind::Revoke,
            Operation::Reissue(_) => OperationKind::Reissue,
        }
    }

    /// The stored name of its kind.
    pub fn name(self) -> &'static str {
        self.kind().as_str()
    }

    pub fn reason(self) -> Option<RevocationReason> {
        match self {
            Operation::Revoke(r) | Operation::Reissue(r) => r,
            Operation::Issue | Operation::Renew => None,
        }
    }

    /// True if it makes a new certificate (and so needs a key).
    pub fn issues(self) -> bool {
        !matches!(self, Operation::Revoke(_))
    }

    /// True if it may revoke the user's current certificate.
    pub fn revokes(self) -> bool {
        matches!(self, Operation::Revoke(_) | Operation::Reissue(_))
    }

    /// A run for many users must say why it revokes (a single reissue of an expired
    /// certificate needs no reason, a bulk run cannot know in advance).
    pub fn check_for_bulk(self) -> Result<(), LifecycleError> {
        match self {
            Operation::Revoke(None) | Operation::Reissue(None) => {
                Err(LifecycleError::ReasonRequired)
            }
            _ => Ok(()),
        }
    }
}

impl From<Operation> for OperationForm {
    fn from(op: Operation) -> OperationForm {
        OperationForm {
            operation: op.kind(),
            reason: op.reason(),
        }
    }
}

impl From<OperationForm> for Operation {
    fn from(form: OperationForm) -> Operation {
        Operation::new(form.operation, form.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_travels_as_its_kind_and_reason() {
        let op = Operation::Revoke(Some(RevocationReason::KeyCompromise));
        let json = serde_json::to_string(&op).expect("serialise");
        assert_eq!(json, r#"{"operation":"revoke","reason":"key_compromise"}"#);
        assert_eq!(serde_json::from_str::<Operation>(&json).expect("read"), op);
        let issue: Operation =
            serde_json::from_str(r#"{"operation":"issue","reason":null}"#).expect("read");
        assert_eq!(issue, Operation::Issue);
        assert!(serde_json::from_str::<Operation>(r#"{"operation":"burn"}"#).is_err());
    }

    #[test]
    fn every_kind_round_trips_through_its_stored_name() {
        for kind in OperationKind::ALL {
            assert_eq!(OperationKind::parse(kind.as_str()), Some(kind));
            assert_eq!(Operation::new(kind, None).kind(), kind);
        }
    }

    #[test]
    fn stored_reason_names_are_the_wire_names() {
        for reason in RevocationReason::ALL {
            let json = serde_json::to_string(&reason).expect("serialise");
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
    }
}
