//! Server functions of the Distribution page: the overview, preparing a single `.p12`, a
//! bundle (ZIP + password sheet) or pickups, resetting a locked pickup, the default
//! protection and the expiry of unopened pickups. The files themselves are downloads served by the server crate
//! (`/distribution/<token>/file`, `/passwords.csv`, `/sheet`) and the pickup form posts to
//! `/pickup/download`.

use crate::error::UiError;
use certdesk_domain::distribution::P12Profile;
use certdesk_domain::views::{DeliveryCreated, DistributionRow};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the Distribution page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionData {
    pub rows: Vec<DistributionRow>,
    pub default_profile: P12Profile,
    pub group_id: String,
    /// Days an unopened pickup stays open (then its key is erased).
    pub pickup_expiry_days: u32,
}

#[cfg(feature = "ssr")]
fn profile(text: &str) -> Result<P12Profile, UiError> {
    P12Profile::parse(text).ok_or_else(|| {
        certdesk_backend::ServiceError::Internal(format!("unknown profile {text:?}")).into()
    })
}

#[server(prefix = "/api", endpoint = "distribution_overview", output = crate::codec::JsonOut)]
pub async fn distribution_overview() -> Result<DistributionData, UiError> {
    use certdesk_backend::ServiceError;
    let backend = super::ssr::backend()?;
    super::ssr::console_user()?;
    let org = backend
        .organisation()
        .await?
        .ok_or(ServiceError::from(certdesk_domain::SetupError::NotSetUp))?;
    Ok(DistributionData {
        rows: backend.distribution_overview().await?,
        default_profile: backend.default_p12_profile().await?,
        group_id: org.group_id,
        pickup_expiry_days: backend.pickup_expiry_days().await?,
    })
}

/// One user's `.p12` under a typed password, or a generated one (returned once).
#[server(prefix = "/api", endpoint = "prepare_single", output = crate::codec::JsonOut)]
pub async fn prepare_single(
    user_id: i64,
    profile: String,
    password: String,
) -> Result<DeliveryCreated, UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::stepped_up_user().await?;
    let profile = self::profile(&profile)?;
    let typed = Some(password).filter(|p| !p.is_empty());
    Ok(backend
        .prepare_single(user_id, profile, typed, user.actor())
        .await?)
}

/// A ZIP with one `.p12` per user; the passwords come separately (CSV and printable sheet).
#[server(prefix = "/api", endpoint = "prepare_bundle", input = leptos::server_fn::codec::Json, output = crate::codec::JsonOut)]
pub async fn prepare_bundle(
    user_ids: Vec<i64>,
    profile: String,
) -> Result<DeliveryCreated, UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::stepped_up_user().await?;
    let profile = self::profile(&profile)?;
    Ok(backend
        .prepare_bundle(user_ids, profile, user.actor())
        .await?)
}

/// Pickups: a certificate number and a one-time pickup password per user.
#[server(prefix = "/api", endpoint = "prepare_pickups", input = leptos::server_fn::codec::Json, output = crate::codec::JsonOut)]
pub async fn prepare_pickups(
    user_ids: Vec<i64>,
    profile: String,
) -> Result<DeliveryCreated, UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::stepped_up_user().await?;
    let profile = self::profile(&profile)?;
    Ok(backend
        .prepare_pickups(user_ids, profile, user.actor())
        .await?)
}

/// Unlocks a pickup locked after wrong passwords.
#[server(prefix = "/api", endpoint = "reset_pickup", output = crate::codec::JsonOut)]
pub async fn reset_pickup(user_id: i64) -> Result<(), UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    backend.reset_pickup(user_id, user.actor()).await?;
    Ok(())
}

/// The organisation's default protection (masters only).
#[server(prefix = "/api", endpoint = "save_default_profile", output = crate::codec::JsonOut)]
pub async fn save_default_profile(profile: String) -> Result<(), UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    let profile = self::profile(&profile)?;
    backend
        .set_default_p12_profile(profile, user.actor())
        .await?;
    Ok(())
}

/// How many days an unopened pickup stays open, 1–365 (masters only).
#[server(prefix = "/api", endpoint = "save_pickup_expiry", output = crate::codec::JsonOut)]
pub async fn save_pickup_expiry(days: u32) -> Result<(), UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    backend.set_pickup_expiry_days(days, user.actor()).await?;
    Ok(())
}

/// E-mails each pickup's group ID, number and the pickup page (never the password).
#[server(prefix = "/api", endpoint = "mail_pickups", output = crate::codec::JsonOut)]
pub async fn mail_pickups(token: String) -> Result<u32, UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    Ok(backend.mail_pickup_notices(token, user.actor()).await?)
}
