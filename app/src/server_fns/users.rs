//! Server functions of the Users page: list, add, edit, password, delete, lock, unlock, and
//! the CSV import (preview, then commit of the same file). Exports are plain downloads
//! (`/users/export.csv`, `/users/template.csv`) served by the server crate.

use crate::error::UiError;
use certdesk_domain::views::{ImportPreview, UserCertificates};
use leptos::prelude::*;
use leptos::server_fn::codec::{MultipartData, MultipartFormData};
use serde::{Deserialize, Serialize};

/// A user's running temporary lock (一時的な閉塞), as the Users page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporaryLockView {
    pub user_id: i64,
    /// `YYYY-MM-DD hh:mm`, Japan time.
    pub until_jst: String,
}

/// Every live user with their current certificate.
#[server(prefix = "/api", endpoint = "users_list", output = crate::codec::JsonOut)]
pub async fn users_list() -> Result<Vec<UserCertificates>, UiError> {
    let backend = super::ssr::backend()?;
    super::ssr::console_user()?;
    Ok(backend.certificate_overview().await?)
}

/// Adds a user. `password` only for masters and admins, and may stay empty. `role` is the
/// form's text (`master`, `admin`, `general`), read into a `Role` here so that anything else
/// is refused as the backend always refused it (`E-USER-005`, naming what was sent).
#[server(prefix = "/api", endpoint = "add_user", output = crate::codec::JsonOut)]
pub async fn add_user(
    login_id: String,
    name: String,
    email: String,
    role: String,
    password: String,
    password_confirm: String,
) -> Result<(), UiError> {
    use certdesk_backend::{role_from_form, NewUser};
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    let input = NewUser {
        login_id,
        name,
        email,
        role: role_from_form(&role)?,
        password,
        password_confirm,
    };
    backend.add_user(input, user.actor()).await?;
    Ok(())
}

/// Changes name, e-mail and role.
#[server(prefix = "/api", endpoint = "update_user", output = crate::codec::JsonOut)]
pub async fn update_user(
    user_id: i64,
    name: String,
    email: String,
    role: String,
) -> Result<(), UiError> {
    use certdesk_backend::{role_from_form, UserChanges};
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    let changes = UserChanges {
        user_id,
        name,
        email,
        role: role_from_form(&role)?,
    };
    backend.update_user(changes, user.actor()).await?;
    Ok(())
}

/// Sets a master's or admin's console password. For one's own, `current_password` is
/// checked and every other session of the user ends (this one stays).
#[server(prefix = "/api", endpoint = "set_user_password", output = crate::codec::JsonOut)]
pub async fn set_user_password(
    user_id: i64,
    #[server(default)] current_password: String,
    password: String,
    password_confirm: String,
) -> Result<(), UiError> {
    use certdesk_backend::PasswordChange;
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    let change = PasswordChange {
        current_password,
        password,
        password_confirm,
    };
    let keep = super::ssr::request_session().token;
    backend
        .set_console_password(user_id, change, user.actor(), keep)
        .await?;
    Ok(())
}

/// The running temporary locks (after wrong passwords), with their end in Japan time.
#[server(prefix = "/api", endpoint = "temporary_locks", output = crate::codec::JsonOut)]
pub async fn temporary_locks() -> Result<Vec<TemporaryLockView>, UiError> {
    let backend = super::ssr::backend()?;
    super::ssr::console_user()?;
    Ok(backend
        .temporary_locks()
        .await?
        .into_iter()
        .map(|l| TemporaryLockView {
            user_id: l.user_id,
            until_jst: l.until_jst,
        })
        .collect())
}

/// Soft-deletes a user.
#[server(prefix = "/api", endpoint = "delete_user", output = crate::codec::JsonOut)]
pub async fn delete_user(user_id: i64) -> Result<(), UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    backend.delete_user(user_id, user.actor()).await?;
    Ok(())
}

/// Locks (閉塞) a user.
#[server(prefix = "/api", endpoint = "lock_user", output = crate::codec::JsonOut)]
pub async fn lock_user(login_id: String) -> Result<(), UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    backend.lock_user(&login_id, user.actor()).await?;
    Ok(())
}

/// Unlocks (閉塞解除) a user (masters only).
#[server(prefix = "/api", endpoint = "unlock_user", output = crate::codec::JsonOut)]
pub async fn unlock_user(login_id: String) -> Result<(), UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    backend.unlock_user(&login_id, user.actor()).await?;
    Ok(())
}

/// The largest multipart field other than the file (`mode`, `sha256`, counts: a few bytes).
#[cfg(feature = "ssr")]
const MAX_FIELD_BYTES: usize = 1024;

/// A users file: with `commit` = `1` imports it (all rows or none), else previews it.
/// Multipart fields: `file`, `mode` (`add_only` / `add_and_update`), `sheet` (a workbook's
/// sheet; empty for the first), `commit`, and for a
/// commit the preview's `sha256`, `adds`, `updates`, `unchanged`.
#[server(prefix = "/api", endpoint = "import_users", input = MultipartFormData, output = crate::codec::JsonOut)]
pub async fn import_users(data: MultipartData) -> Result<ImportPreview, UiError> {
    use certdesk_backend::PlanCounts;
    use certdesk_backend::ServiceError;
    use certdesk_domain::userfile::{FileError, ImportMode, MAX_WORKBOOK_BYTES};
    use std::collections::HashMap;

    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    let mut multipart = data
        .into_inner()
        .ok_or_else(|| ServiceError::Internal("multipart data missing".into()))?;
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut fields: HashMap<String, String> = HashMap::new();
    let bad = |e: &dyn std::fmt::Display| ServiceError::Internal(format!("multipart: {e}"));
    while let Some(mut field) = multipart.next_field().await.map_err(|e| bad(&e))? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let file_name = field.file_name().unwrap_or("users.csv").to_string();
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|e| bad(&e))? {
                bytes.extend_from_slice(&chunk);
                // Stop reading at once: the limit is the limit.
                // (A text file's own limit, 1 MiB, is checked once its content is known.)
                if bytes.len() > MAX_WORKBOOK_BYTES {
                    return Err(ServiceError::from(FileError::TooLarge {
                        bytes: bytes.len(),
                        max: MAX_WORKBOOK_BYTES,
                    })
                    .into());
                }
            }
            file = Some((file_name, bytes));
        } else {
            // The other fields are short (mode, a hash, counts): read each up to its limit.
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|e| bad(&e))? {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_FIELD_BYTES {
                    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
                        opts.set_status(axum::http::StatusCode::PAYLOAD_TOO_LARGE);
                    }
                    return Err(UiError::too_large(Some(name)));
                }
            }
            fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    let (file_name, bytes) = file
        .filter(|(name, _)| !name.is_empty())
        .ok_or(ServiceError::UserFile(FileError::Empty))?;
    let field = |name: &str| {
        fields
            .get(name)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mode = ImportMode::parse(&field("mode")).unwrap_or(ImportMode::AddOnly);
    let sheet = Some(field("sheet")).filter(|s| !s.is_empty());
    if field("commit") == "1" {
        let count = |name: &str| field(name).parse::<u32>().ok();
        let expected = match (count("adds"), count("updates"), count("unchanged")) {
            (Some(adds), Some(updates), Some(unchanged)) => Some(PlanCounts {
                adds,
                updates,
                unchanged,
            }),
            _ => None,
        };
        Ok(backend
            .commit_user_import_sheet(
                file_name,
                bytes,
                sheet,
                mode,
                field("sha256"),
                expected,
                user.actor(),
            )
            .await?)
    } else {
        Ok(backend
            .preview_user_import_sheet(file_name, bytes, sheet, mode, user.actor())
            .await?)
    }
}
