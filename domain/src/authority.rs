//! The CA interface: what certdesk asks of a certificate authority, whichever one it is.
//!
//! Two implementations live in the backend: the embedded CA (certdesk's own key, the default)
//! and cfssl's HTTP API. The lifecycle rules do not depend on which one answers; this module
//! also holds the pure decision of how a request whose answer was lost is settled by its serial
//! number (see [`reconcile`]).
//!
//! No I/O here: the methods return futures the implementations fill in.

use crate::external_ca::{CaBackendKind, CaError};
use crate::lifecycle::RevocationReason;
use crate::profile::KeyType;
use std::future::Future;
use std::time::Duration;
use time::OffsetDateTime;

/// What a certificate should say; the CA may add what its profile prescribes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateOrder {
    pub o: String,
    pub ou: String,
    pub cn: String,
    /// The serial certdesk proposes (lower-case hex, positive, at most 20 octets). An embedded
    /// CA always uses it; cfssl uses it when its profile lets clients choose serials, which is
    /// what lets a lost answer be found again by serial.
    pub serial_hex: String,
    /// Validity for a CA that takes it from the order (the embedded CA); cfssl takes it from
    /// its profile.
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The key to generate when the CA makes the key ([`CertificateAuthority::issue_with_server_key`]).
    pub key_type: KeyType,
}

/// A certificate whose key the CA generated.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerKeyIssued {
    pub certificate_pem: String,
    pub private_key_pem: String,
}

impl std::fmt::Debug for ServerKeyIssued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKeyIssued")
            .field("certificate_pem", &self.certificate_pem)
            .field("private_key_pem", &"***")
            .finish()
    }
}

/// What a health check learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaHealth {
    /// The CA certificate's subject, as one line.
    pub ca_subject: String,
}

/// A certificate authority certdesk can issue with.
///
/// Errors are [`CaError`]s, so every failure has its `E-CA-NNN` code and remedy, whichever CA
/// it came from. `revoke` of a serial the CA does not know answers [`CaError::UnknownSerial`].
pub trait CertificateAuthority: Send + Sync {
    fn kind(&self) -> CaBackendKind;

    /// Whether the CA answers, and with which CA certificate.
    fn health(&self) -> impl Future<Output = Result<CaHealth, CaError>> + Send;

    /// The CA certificate (PEM), for relying parties and `openssl verify`.
    fn ca_certificate_pem(&self) -> impl Future<Output = Result<String, CaError>> + Send;

    /// Certifies the key of `csr_pem` (the key stays with certdesk). Returns the certificate (PEM).
    fn issue_from_csr(
        &self,
        csr_pem: &str,
        order: &CertificateOrder,
    ) -> impl Future<Output = Result<String, CaError>> + Send;

    /// Makes a key and its certificate at the CA.
    fn issue_with_server_key(
        &self,
        order: &CertificateOrder,
    ) -> impl Future<Output = Result<ServerKeyIssued, CaError>> + Send;

    /// Records the revocation of `serial_hex` at the CA (its CRL and OCSP follow from it).
    fn revoke(
        &self,
        serial_hex: &str,
        reason: RevocationReason,
    ) -> impl Future<Output = Result<(), CaError>> + Send;

    /// The CA's current CRL (DER), or [`CaError::NotOffered`] if the CA does not publish one
    /// through this interface.
    fn crl_der(&self) -> impl Future<Output = Result<Vec<u8>, CaError>> + Send;
}

/// How long after a lost answer certdesk waits before it believes the CA never made the
/// certificate: twice the request's total timeout, at least a minute. A request can sit in a
/// proxy after the client gave up on it.
pub fn reconcile_grace(total_timeout: Duration) -> Duration {
    (total_timeout * 2).max(Duration::from_secs(60))
}

/// How a request whose answer was lost ends, decided from revoking its proposed serial at the CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconciliation {
    /// The CA had made the certificate; it is now revoked there, so it is neither a second
    /// valid certificate nor an orphan.
    RevokedAtCa,
    /// The CA does not know the serial, uses client serials, and the grace period is over:
    /// the request never became a certificate.
    NeverIssued,
    /// The CA does not know the serial yet, but the request may still arrive: ask again later.
    Wait { retry_after: Duration },
    /// The CA does not know the serial and is not known to use client serials: certdesk
    /// cannot tell; the request is reported to the operator with its CN and key hash.
    CannotTell,
}

/// Settles a lost answer from the outcome of `revoke(proposed serial)`. `serials_honoured` is
/// what the CA showed on earlier answers (`None`: never seen). `None` means the revoke itself
/// failed for another reason (the CA is unreachable): try again later.
pub fn reconcile(
    revoke: &Result<(), CaError>,
    serials_honoured: Option<bool>,
    age: Duration,
    grace: Duration,
) -> Option<Reconciliation> {
    match revoke {
        Ok(()) => Some(Reconciliation::RevokedAtCa),
        Err(CaError::UnknownSerial { .. }) => Some(match serials_honoured {
            Some(true) if age >= grace => Reconciliation::NeverIssued,
            Some(true) => Reconciliation::Wait {
                retry_after: grace - age,
            },
            _ => Reconciliation::CannotTell,
        }),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown() -> Result<(), CaError> {
        Err(CaError::UnknownSerial {
            serial: "01".into(),
        })
    }

    #[test]
    fn grace_is_twice_the_timeout_and_at_least_a_minute() {
        assert_eq!(
            reconcile_grace(Duration::from_secs(5)),
            Duration::from_secs(60)
        );
        assert_eq!(
            reconcile_grace(Duration::from_secs(90)),
            Duration::from_secs(180)
        );
    }

    #[test]
    fn a_lost_answer_is_settled_by_its_serial() {
        let grace = Duration::from_secs(60);
        let (young, old) = (Duration::from_secs(10), Duration::from_secs(61));
        assert_eq!(
            reconcile(&Ok(()), None, young, grace),
            Some(Reconciliation::RevokedAtCa),
            "found and revoked: settled whatever is known of serials"
        );
        assert_eq!(
            reconcile(&unknown(), Some(true), old, grace),
            Some(Reconciliation::NeverIssued)
        );
        assert_eq!(
            reconcile(&unknown(), Some(true), young, grace),
            Some(Reconciliation::Wait {
                retry_after: Duration::from_secs(50)
            })
        );
        assert_eq!(
            reconcile(&unknown(), Some(false), old, grace),
            Some(Reconciliation::CannotTell),
            "a CA that picks its own serials cannot be asked by ours"
        );
        assert_eq!(
            reconcile(&unknown(), None, old, grace),
            Some(Reconciliation::CannotTell)
        );
        let down = Err(CaError::ConnectFailed {
            detail: "refused".into(),
        });
        assert_eq!(reconcile(&down, Some(true), old, grace), None);
    }

    #[test]
    fn a_server_key_is_not_printed() {
        let issued = ServerKeyIssued {
            certificate_pem: "CERT".into(),
            private_key_pem: "SECRET KEY".into(),
        };
        let shown = format!("{issued:?}");
        assert!(shown.contains("CERT") && !shown.contains("SECRET"));
    }
}
