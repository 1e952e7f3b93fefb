//! The domain's CA interface ([`CertificateAuthority`]) for the embedded CA, and the choice of
//! implementation per organisation and per certificate.
//!
//! The cfssl implementation is [`crate::ca::cfssl::CfsslClient`]. The lifecycle flow
//! (`certificates::flow`) signs with the embedded CA inside the SQLite transaction that records
//! the certificate (a local signature that is not committed never left the process, so a crash
//! cannot leave a certificate the database does not know); with any other CA it goes through
//! this interface, which both implementations pass (see the tests in
//! `tests/api/external_ca.rs`).

use crate::ca::cfssl::{subject_line, CfsslClient};
use crate::ca::{pem, EmbeddedCa, LeafRequest};
use crate::error::ServiceError;
use crate::Backend;
use certdesk_domain::authority::{
    CaHealth, CertificateAuthority, CertificateOrder, ServerKeyIssued,
};
use certdesk_domain::external_ca::{CaBackendKind, CaError};
use certdesk_domain::lifecycle::LifecycleError;
use certdesk_domain::lifecycle::RevocationReason;
use std::sync::Arc;

/// The embedded CA behind the interface. Its register of certificates is certdesk's own
/// database; its CRL is the newest one certdesk published.
#[derive(Clone)]
pub struct EmbeddedAuthority {
    ca: Arc<EmbeddedCa>,
    backend: Backend,
}

/// A failure inside certdesk (database, signing) seen through the interface: logged with its
/// detail here, since the caller only sees the CA error.
fn internal(e: ServiceError) -> CaError {
    tracing::error!(error.code = e.code(), error.detail = %e, "embedded CA failed");
    CaError::Unparsable {
        detail: e.to_string(),
    }
}

impl EmbeddedAuthority {
    fn leaf(&self, order: &CertificateOrder) -> Result<LeafRequest, CaError> {
        leaf_request(order, &self.backend.settings().public_url)
    }
}

/// What the embedded CA signs for `order`, with its CRL distribution point under `public_url`.
pub(crate) fn leaf_request(
    order: &CertificateOrder,
    public_url: &str,
) -> Result<LeafRequest, CaError> {
    let bytes = hex::decode(&order.serial_hex).map_err(|e| CaError::Unparsable {
        detail: format!("serial {}: {e}", order.serial_hex),
    })?;
    let serial: [u8; 16] = bytes.try_into().map_err(|_| CaError::Unparsable {
        detail: "the embedded CA uses 16-byte serials".into(),
    })?;
    Ok(LeafRequest {
        serial,
        o: order.o.clone(),
        ou: order.ou.clone(),
        cn: order.cn.clone(),
        not_before: order.not_before,
        not_after: order.not_after,
        crl_url: format!("{}/ca/crl.der", public_url.trim_end_matches('/')),
    })
}

impl CertificateAuthority for EmbeddedAuthority {
    fn kind(&self) -> CaBackendKind {
        CaBackendKind::Embedded
    }

    async fn health(&self) -> Result<CaHealth, CaError> {
        Ok(CaHealth {
            ca_subject: subject_line(&pem("CERTIFICATE", self.ca.cert_der()))?,
        })
    }

    async fn ca_certificate_pem(&self) -> Result<String, CaError> {
        Ok(pem("CERTIFICATE", self.ca.cert_der()))
    }

    /// Signs the CSR's key (its signature checked) with the order's name, serial and validity.
    async fn issue_from_csr(
        &self,
        csr_pem: &str,
        order: &CertificateOrder,
    ) -> Result<String, CaError> {
        let csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| {
            CaError::Refused {
                ca_code: 0,
                message: format!("CSR: {e}"),
            }
        })?;
        let der = self
            .ca
            .sign_client_certificate(&self.leaf(order)?, &csr.public_key)
            .map_err(internal)?;
        Ok(pem("CERTIFICATE", &der))
    }

    async fn issue_with_server_key(
        &self,
        order: &CertificateOrder,
    ) -> Result<ServerKeyIssued, CaError> {
        let key_type = order.key_type;
        let key = crate::ca::generate_key_off_thread(key_type)
            .await
            .map_err(internal)?;
        let der = self
            .ca
            .sign_client_certificate(&self.leaf(order)?, &key)
            .map_err(internal)?;
        Ok(ServerKeyIssued {
            certificate_pem: pem("CERTIFICATE", &der),
            private_key_pem: key.serialize_pem(),
        })
    }

    /// Marks the certificate revoked in certdesk's register and publishes a new CRL.
    async fn revoke(&self, serial_hex: &str, reason: RevocationReason) -> Result<(), CaError> {
        match self.backend.revoke_by_serial(serial_hex, reason).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(CaError::UnknownSerial {
                serial: serial_hex.to_string(),
            }),
            Err(e) => Err(internal(e)),
        }
    }

    async fn crl_der(&self) -> Result<Vec<u8>, CaError> {
        match self.backend.latest_crl().await {
            Ok(Some(der)) => Ok(der),
            Ok(None) => Err(CaError::NotOffered {
                what: "crl (none published yet)".into(),
            }),
            Err(e) => Err(internal(e)),
        }
    }
}

/// Either implementation, for callers that choose at run time.
#[derive(Clone)]
pub enum Authority {
    Embedded(EmbeddedAuthority),
    Cfssl(Box<CfsslClient>),
}

impl CertificateAuthority for Authority {
    fn kind(&self) -> CaBackendKind {
        match self {
            Authority::Embedded(a) => a.kind(),
            Authority::Cfssl(a) => a.kind(),
        }
    }

    async fn health(&self) -> Result<CaHealth, CaError> {
        match self {
            Authority::Embedded(a) => a.health().await,
            Authority::Cfssl(a) => CertificateAuthority::health(a.as_ref()).await,
        }
    }

    async fn ca_certificate_pem(&self) -> Result<String, CaError> {
        match self {
            Authority::Embedded(a) => a.ca_certificate_pem().await,
            Authority::Cfssl(a) => a.ca_certificate_pem().await,
        }
    }

    async fn issue_from_csr(
        &self,
        csr_pem: &str,
        order: &CertificateOrder,
    ) -> Result<String, CaError> {
        match self {
            Authority::Embedded(a) => a.issue_from_csr(csr_pem, order).await,
            Authority::Cfssl(a) => a.issue_from_csr(csr_pem, order).await,
        }
    }

    async fn issue_with_server_key(
        &self,
        order: &CertificateOrder,
    ) -> Result<ServerKeyIssued, CaError> {
        match self {
            Authority::Embedded(a) => a.issue_with_server_key(order).await,
            Authority::Cfssl(a) => a.issue_with_server_key(order).await,
        }
    }

    async fn revoke(&self, serial_hex: &str, reason: RevocationReason) -> Result<(), CaError> {
        match self {
            Authority::Embedded(a) => a.revoke(serial_hex, reason).await,
            Authority::Cfssl(a) => {
                CertificateAuthority::revoke(a.as_ref(), serial_hex, reason).await
            }
        }
    }

    async fn crl_der(&self) -> Result<Vec<u8>, CaError> {
        match self {
            Authority::Embedded(a) => a.crl_der().await,
            Authority::Cfssl(a) => a.crl_der().await,
        }
    }
}

impl Backend {
    /// The embedded CA behind the interface (it exists once `ensure_ca` ran).
    pub fn embedded_authority(&self) -> Result<EmbeddedAuthority, ServiceError> {
        Ok(EmbeddedAuthority {
            ca: self.ca().ok_or(LifecycleError::CaNotReady)?,
            backend: self.clone(),
        })
    }

    /// The CA of `kind`: the embedded one, or cfssl with the stored settings (also when the
    /// organisation has switched back, so certificates cfssl issued can still be revoked there).
    pub async fn authority(&self, kind: CaBackendKind) -> Result<Authority, ServiceError> {
        Ok(match kind {
            CaBackendKind::Embedded => Authority::Embedded(self.embedded_authority()?),
            CaBackendKind::Cfssl => Authority::Cfssl(Box::new(self.stored_cfssl_client().await?)),
        })
    }

    /// The CA the organisation issues with now.
    pub async fn active_authority(&self) -> Result<Authority, ServiceError> {
        let kind = self.ca_backend().await?.kind;
        self.authority(kind).await
    }
}
