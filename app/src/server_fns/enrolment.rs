//! Server functions of self-service enrolment in the console (issue 17): the Distribution
//! page's fourth channel (open enrolments, reset a locked one, mail the notices), the
//! master's enrolment settings. The printable
//! slips are a page the server renders from what the browser posts (`POST /enrolment/sheet`),
//! since the codes are kept nowhere but in the answer to "open" and "reset".

use crate::error::UiError;
use certdesk_domain::enrolment::{EnrolmentRow, EnrolmentSettings, EnrolmentSlip};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the Distribution page shows about enrolments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentListing {
    /// Every enrolment not replaced, newest first (never a code).
    pub rows: Vec<EnrolmentRow>,
    /// Users whose valid certificate has a key its holder made (no server-made file).
    pub holder_keys: Vec<i64>,
}

#[server(prefix = "/api", endpoint = "enrolment_overview", output = crate::codec::JsonOut)]
pub async fn enrolment_overview() -> Result<EnrolmentListing, UiError> {
    let backend = super::ssr::backend()?;
    super::ssr::console_user()?;
    Ok(EnrolmentListing {
        rows: backend.list_enrolments().await?,
        holder_keys: backend.holder_key_users().await?,
    })
}

/// Opens one enrolment per user (a reissue for users holding a valid certificate when
/// `reissue`); the slips with the codes are returned once.
#[server(prefix = "/api", endpoint = "open_enrolments", input = leptos::server_fn::codec::Json, output = crate::codec::JsonOut)]
pub async fn open_enrolments(
    user_ids: Vec<i64>,
    reissue: bool,
) -> Result<Vec<EnrolmentSlip>, UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::stepped_up_user().await?;
    Ok(backend
        .open_enrolments(user.actor(), user_ids, reissue)
        .await?)
}

/// Unlocks an unused enrolment with a new code and validity; its new slip is returned once.
#[server(prefix = "/api", endpoint = "reset_enrolment", output = crate::codec::JsonOut)]
pub async fn reset_enrolment(user_id: i64) -> Result<EnrolmentSlip, UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    Ok(backend.reset_enrolment(user.actor(), user_id).await?)
}

/// Mails each user the enrolment page, group ID and number (never the code).
#[server(prefix = "/api", endpoint = "mail_enrolments", input = leptos::server_fn::codec::Json, output = crate::codec::JsonOut)]
pub async fn mail_enrolments(user_ids: Vec<i64>) -> Result<u32, UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    Ok(backend
        .mail_enrolment_notices(user.actor(), user_ids)
        .await?)
}

/// The enrolment validity and the self-renewal switch.
#[server(prefix = "/api", endpoint = "enrolment_settings", output = crate::codec::JsonOut)]
pub async fn load_enrolment_settings() -> Result<EnrolmentSettings, UiError> {
    let backend = super::ssr::backend()?;
    super::ssr::console_user()?;
    Ok(backend.enrolment_settings().await?)
}

/// Saves the enrolment settings (masters only). The days arrive as typed, so that a wrong
/// entry is answered with `E-ENROLL-012` at its field; the checkbox arrives only when ticked.
#[server(prefix = "/api", endpoint = "save_enrolment_settings", output = crate::codec::JsonOut)]
pub async fn save_enrolment_settings(
    validity_days: String,
    self_renewal: Option<String>,
) -> Result<(), UiError> {
    use certdesk_backend::ServiceError;
    use certdesk_domain::enrolment::EnrolmentError;
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    let validity_days = validity_days
        .trim()
        .parse::<u32>()
        .map_err(|_| ServiceError::from(EnrolmentError::ValidityRange))?;
    backend
        .set_enrolment_settings(
            EnrolmentSettings {
                validity_days,
                self_renewal: self_renewal.is_some(),
            },
            user.actor(),
        )
        .await?;
    Ok(())
}
