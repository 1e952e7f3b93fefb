//! Server functions of the dashboard, the Certificates page's filter and Settings →
//! Notifications.

// A settings form posts one field per argument.
#![allow(clippy::too_many_arguments)]

use crate::error::UiError;
use certdesk_domain::notices::NotificationSettings;
use certdesk_domain::views::{DashboardView, UserCertificates};
use leptos::prelude::*;

/// Everything the dashboard shows.
#[server(prefix = "/api", endpoint = "dashboard", output = crate::codec::JsonOut)]
pub async fn load_dashboard() -> Result<DashboardView, UiError> {
    let backend = super::ssr::backend()?;
    super::ssr::console_user()?;
    Ok(backend.dashboard().await?)
}

/// The Certificates page's list, only the users of `filter` (a dashboard bucket) if given.
#[server(prefix = "/api", endpoint = "certificate_overview_in", input = leptos::server_fn::codec::Json, output = crate::codec::JsonOut)]
pub async fn certificate_overview_in(
    filter: Option<String>,
) -> Result<Vec<UserCertificates>, UiError> {
    use certdesk_domain::dashboard::Bucket;
    let backend = super::ssr::backend()?;
    super::ssr::console_user()?;
    let filter = filter.as_deref().and_then(Bucket::parse);
    Ok(backend.certificate_overview_in(filter).await?)
}

/// "Renew all in the window": starts one bulk renewal; returns the run's id.
#[server(prefix = "/api", endpoint = "renew_all_in_window", output = crate::codec::JsonOut)]
pub async fn renew_all_in_window() -> Result<i64, UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    Ok(backend.start_renewal_of_window(user.actor()).await?)
}

/// The notification settings (never the SMTP password).
#[server(prefix = "/api", endpoint = "notification_settings", output = crate::codec::JsonOut)]
pub async fn load_notification_settings() -> Result<NotificationSettings, UiError> {
    let backend = super::ssr::backend()?;
    super::ssr::console_user()?;
    Ok(backend.notification_settings().await?)
}

/// Saves the notification settings (masters only). Checkboxes arrive only when ticked;
/// numbers arrive as typed so that a wrong entry is reported next to its field.
#[server(prefix = "/api", endpoint = "save_notification_settings", output = crate::codec::JsonOut)]
pub async fn save_notification_settings(
    email_enabled: Option<String>,
    first_days: String,
    second_days: String,
    notify_user: Option<String>,
    notify_admins: Option<String>,
    extra_recipients: String,
    daily_hour: String,
    smtp_host: String,
    smtp_port: String,
    smtp_security: String,
    smtp_username: String,
    smtp_password: Option<String>,
    clear_password: Option<String>,
    mail_from: String,
) -> Result<(), UiError> {
    use certdesk_backend::ServiceError;
    use certdesk_domain::notices::{NoticeSettingsError as E, SmtpSecurity};
    use certdesk_domain::Role;
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    if user.role != Role::Master {
        return Err(ServiceError::Auth(certdesk_domain::AuthError::Forbidden).into());
    }
    super::ssr::require_step_up(&user).await?;
    fn number<T: std::str::FromStr>(text: &str, e: E) -> Result<T, ServiceError> {
        text.trim().parse::<T>().map_err(|_| ServiceError::from(e))
    }
    let settings = NotificationSettings {
        email_enabled: email_enabled.is_some(),
        first_days: number(&first_days, E::Thresholds)?,
        second_days: number(&second_days, E::Thresholds)?,
        notify_user: notify_user.is_some(),
        notify_admins: notify_admins.is_some(),
        extra_recipients,
        daily_hour: number(&daily_hour, E::Hour)?,
        smtp_host,
        smtp_port: number(&smtp_port, E::Port)?,
        smtp_security: SmtpSecurity::parse(&smtp_security).unwrap_or(SmtpSecurity::StartTls),
        smtp_username,
        smtp_password_set: false,
        mail_from,
    };
    backend
        .update_notification_settings(
            settings,
            smtp_password,
            clear_password.is_some(),
            user.actor(),
        )
        .await?;
    Ok(())
}

/// Sends a test mail with the saved settings to the signed-in user's own address; `to` may
/// only repeat it (another address: `E-NOTICE-008`). Answers the address it went to.
#[server(prefix = "/api", endpoint = "send_test_mail", output = crate::codec::JsonOut)]
pub async fn send_test_mail(to: Option<String>) -> Result<String, UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    Ok(backend.send_test_mail(to, user.actor()).await?)
}
