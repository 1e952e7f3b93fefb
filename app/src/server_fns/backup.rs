//! Server functions of Settings → Scheduled backups (masters only).

use crate::error::UiError;
use certdesk_domain::backup::BackupScheduleView;
use leptos::prelude::*;

/// The schedule as the page shows it (masters only: it names a folder on the server).
#[server(prefix = "/api", endpoint = "backup_schedule", output = crate::codec::JsonOut)]
pub async fn load_backup_schedule() -> Result<BackupScheduleView, UiError> {
    let backend = super::ssr::backend()?;
    super::ssr::master_user()?;
    Ok(backend.backup_schedule_view().await?)
}

/// Saves the schedule (masters, after the second factor like the other settings). Values
/// arrive as typed so that a wrong one is reported next to its field; an empty folder turns
/// scheduled backups off.
#[server(prefix = "/api", endpoint = "save_backup_schedule", output = crate::codec::JsonOut)]
pub async fn save_backup_schedule(
    backup_dir: String,
    backup_every: String,
    backup_keep: String,
) -> Result<BackupScheduleView, UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::master_user()?;
    super::ssr::require_step_up(&user).await?;
    Ok(backend
        .update_backup_schedule(&backup_dir, &backup_every, &backup_keep, user.actor())
        .await?)
}
