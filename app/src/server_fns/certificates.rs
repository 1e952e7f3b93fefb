//! Server functions of the Certificates and Settings pages. Every certificate action, for one
//! user or many, is a bulk run: the page polls its progress and shows a result per user.

use crate::error::UiError;
use certdesk_domain::lifecycle::RevocationReason;
use certdesk_domain::profile::IssuingProfile;
use certdesk_domain::views::{BulkStatus, CertificateView, UserCertificates};
use certdesk_domain::OperationKind;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A certificate and the history of its user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateDetail {
    pub certificate: CertificateView,
    pub history: Vec<CertificateView>,
}

/// Every user with their newest certificate.
#[server(prefix = "/api", endpoint = "certificate_overview", output = crate::codec::JsonOut)]
pub async fn certificate_overview() -> Result<Vec<UserCertificates>, UiError> {
    let backend = super::ssr::backend()?;
    super::ssr::console_user()?;
    Ok(backend.certificate_overview().await?)
}

/// Starts issue / renew / revoke / reissue for the given users; returns the run's id.
#[server(prefix = "/api", endpoint = "start_certificate_run", input = leptos::server_fn::codec::Json, output = crate::codec::JsonOut)]
pub async fn start_certificate_run(
    user_ids: Vec<i64>,
    operation: OperationKind,
    reason: Option<RevocationReason>,
) -> Result<i64, UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    // Issue, reissue and revoke (one or many) need a fresh one-time password; renewal does not.
    if operation != OperationKind::Renew {
        super::ssr::require_step_up(&user).await?;
    }
    let op = certdesk_domain::Operation::new(operation, reason);
    Ok(backend.start_bulk(user_ids, op, user.actor()).await?)
}

/// Progress and per-user results of a run.
#[server(prefix = "/api", endpoint = "certificate_run_status", input = leptos::server_fn::codec::Json, output = crate::codec::JsonOut)]
pub async fn certificate_run_status(job_id: i64) -> Result<BulkStatus, UiError> {
    let backend = super::ssr::backend()?;
    super::ssr::console_user()?;
    Ok(backend.bulk_status(job_id).await?)
}

/// One certificate by serial, with its user's history.
#[server(prefix = "/api", endpoint = "certificate_detail", input = leptos::server_fn::codec::Json, output = crate::codec::JsonOut)]
pub async fn load_certificate_detail(serial: String) -> Result<CertificateDetail, UiError> {
    let backend = super::ssr::backend()?;
    super::ssr::console_user()?;
    let (certificate, history) = backend.certificate_detail(serial).await?;
    Ok(CertificateDetail {
        certificate,
        history,
    })
}

/// The issuing profile.
#[server(prefix = "/api", endpoint = "issuing_profile", output = crate::codec::JsonOut)]
pub async fn load_issuing_profile() -> Result<IssuingProfile, UiError> {
    let backend = super::ssr::backend()?;
    super::ssr::console_user()?;
    Ok(backend.issuing_profile().await?)
}

/// Saves the issuing profile (masters only). Numbers arrive as typed, so that a wrong entry
/// is reported next to its field.
#[server(prefix = "/api", endpoint = "save_issuing_profile", output = crate::codec::JsonOut)]
pub async fn save_issuing_profile(
    validity_days: String,
    renewal_window_days: String,
    key_type: String,
    friendly_name_template: String,
    ca_name: String,
    crl_next_update_days: String,
) -> Result<(), UiError> {
    use certdesk_backend::ServiceError;
    use certdesk_domain::profile::{KeyType, ProfileError};
    use certdesk_domain::Role;
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    if user.role != Role::Master {
        return Err(ServiceError::Auth(certdesk_domain::AuthError::Forbidden).into());
    }
    let number = |text: &str, e: ProfileError| {
        text.trim()
            .parse::<u32>()
            .map_err(|_| ServiceError::from(e))
    };
    let profile = IssuingProfile {
        validity_days: number(&validity_days, ProfileError::Validity)?,
        renewal_window_days: number(&renewal_window_days, ProfileError::RenewalWindow)?,
        key_type: KeyType::parse(&key_type).unwrap_or(KeyType::Rsa2048),
        friendly_name_template,
        ca_name,
        crl_next_update_days: number(&crl_next_update_days, ProfileError::CrlNextUpdate)?,
    };
    backend
        .update_issuing_profile(profile, user.actor())
        .await?;
    Ok(())
}

/// The CA the organisation issues with and the external CA's settings (secrets only as
/// "set").
#[server(prefix = "/api", endpoint = "ca_backend", output = crate::codec::JsonOut)]
pub async fn load_ca_backend() -> Result<certdesk_domain::external_ca::CaBackendView, UiError> {
    let backend = super::ssr::backend()?;
    super::ssr::console_user()?;
    Ok(backend.ca_backend().await?)
}

/// Saves the CA choice (masters only). An empty HMAC key or proxy password keeps the stored
/// one; timeouts arrive as typed so that a wrong entry is reported next to its field.
#[server(prefix = "/api", endpoint = "save_ca_backend", output = crate::codec::JsonOut)]
pub async fn save_ca_backend(
    kind: String,
    url: String,
    profile: String,
    auth_key: String,
    connect_timeout_s: String,
    total_timeout_s: String,
    proxy_url: String,
    proxy_user: String,
    proxy_password: String,
    ca_bundle_pem: String,
    #[server(default)] key_source: String,
) -> Result<(), UiError> {
    use certdesk_backend::CaBackendInput;
    use certdesk_backend::ServiceError;
    use certdesk_domain::external_ca::{CaBackendKind, CaSettingsError, CfsslSettings, KeySource};
    let backend = super::ssr::backend()?;
    let user = super::ssr::master_user()?;
    super::ssr::require_step_up(&user).await?;
    let seconds = |text: &str| {
        text.trim()
            .parse::<u32>()
            .map_err(|_| ServiceError::from(CaSettingsError::Timeouts))
    };
    let input = CaBackendInput {
        kind: CaBackendKind::parse(&kind).unwrap_or_default(),
        cfssl: CfsslSettings {
            url,
            profile,
            connect_timeout_s: seconds(&connect_timeout_s)?,
            total_timeout_s: seconds(&total_timeout_s)?,
            proxy_url,
            proxy_user,
            ca_bundle_pem,
            key_source: KeySource::parse(&key_source).unwrap_or_default(),
        },
        auth_key,
        proxy_password,
    };
    Ok(backend.update_ca_backend(input, user.actor()).await?)
}

/// "Test connection" with the saved settings (masters only): each step with its code.
#[server(prefix = "/api", endpoint = "test_ca_connection", output = crate::codec::JsonOut)]
pub async fn test_ca_connection() -> Result<Vec<certdesk_domain::external_ca::CaCheckStep>, UiError>
{
    let backend = super::ssr::backend()?;
    super::ssr::master_user()?;
    Ok(backend.test_ca_connection().await?)
}
