//! The installation check page's address (no sign-in: the pickup page shows it).

use crate::error::UiError;
use leptos::prelude::*;

/// `https://<public host>:<port>/check` when `serve` runs the check page, else `None`.
#[server(prefix = "/api", endpoint = "check_page_url", output = crate::codec::JsonOut)]
pub async fn check_page_url() -> Result<Option<String>, UiError> {
    Ok(super::ssr::backend()?.settings().check_url.clone())
}
