//! Server functions: thin wrappers that take the backend from context, call one use case and
//! map its error. Their paths are stable (`/api/<name>`) so tests and scripts can call them.

// Form posts map one field to one argument; `setup` has eight fields. The `#[server]` macro
// copies no attribute onto the client stub it generates, so the allowance sits here.
#![allow(clippy::too_many_arguments)]

use crate::error::UiError;
use certdesk_domain::Role;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What every console page's header shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderInfo {
    pub org_name: String,
    pub group_id: String,
    pub login_id: String,
    pub user_name: String,
    pub role: Role,
}

/// Users by role, for the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCountsView {
    pub total: u32,
    pub masters: u32,
    pub admins: u32,
    pub generals: u32,
    pub locked: u32,
}

/// One audit-log row as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub success: bool,
    pub detail: String,
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Reaching the backend and the request from inside a server function.
    use crate::error::UiError;
    use axum::http::header::{HeaderValue, SET_COOKIE};
    use axum::http::request::Parts;
    use certdesk_backend::{cookie_header, RequestSession};
    use certdesk_backend::{Backend, CurrentUser, ServiceError, SessionToken};
    use leptos::prelude::*;

    pub fn backend() -> Result<Backend, UiError> {
        use_context::<Backend>()
            .ok_or_else(|| ServiceError::Internal("backend missing from context".into()).into())
    }

    /// The session the request's cookie resolved to (set by the server's middleware).
    pub fn request_session() -> RequestSession {
        use_context::<Parts>()
            .and_then(|p| p.extensions.get::<RequestSession>().cloned())
            .unwrap_or_default()
    }

    /// The signed-in master or admin, or `E-AUTH-003`; a session that still waits for the
    /// one-time password (`E-OTP-004`) or its enrolment (`E-OTP-005`) serves nothing else.
    pub fn console_user() -> Result<CurrentUser, UiError> {
        let session = request_session();
        if let Some(pending) = session.pending {
            return Err(ServiceError::from(super::otp::pending_refusal(pending.next)).into());
        }
        session
            .user
            .ok_or_else(|| ServiceError::Auth(certdesk_domain::AuthError::NotSignedIn).into())
    }

    /// The signed-in user, after a one-time password checked within the step-up window
    /// (`E-OTP-006` otherwise): for issuing, reissuing, revoking, exporting keys and changing
    /// the CA, mail or OTP settings.
    pub async fn stepped_up_user() -> Result<CurrentUser, UiError> {
        let user = console_user()?;
        require_step_up(&user).await?;
        Ok(user)
    }

    /// [`stepped_up_user`]'s check, for a user already found (e.g. by [`master_user`]).
    pub async fn require_step_up(user: &CurrentUser) -> Result<(), UiError> {
        Ok(backend()?
            .require_fresh_otp(user, request_session().token)
            .await?)
    }

    /// The signed-in master, or `E-AUTH-003` / `E-AUTH-004`.
    pub fn master_user() -> Result<CurrentUser, UiError> {
        let user = console_user()?;
        if user.role != certdesk_domain::Role::Master {
            return Err(ServiceError::Auth(certdesk_domain::AuthError::Forbidden).into());
        }
        Ok(user)
    }

    /// Sets (or with `None`, clears) the session cookie on the response.
    pub fn set_session_cookie(backend: &Backend, token: Option<&SessionToken>) {
        let value = cookie_header(token, backend.settings().secure_cookies);
        if let (Some(opts), Ok(value)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            HeaderValue::from_str(&value),
        ) {
            opts.append_header(SET_COOKIE, value);
        }
    }
}

/// First-run setup: creates the organisation and its master user and signs the master in.
/// `setup_token` is needed when the console is reachable from other machines
/// ([`setup_token_required`]); the form sends it only then.
#[server(prefix = "/api", endpoint = "setup", output = crate::codec::JsonOut)]
pub async fn setup(
    org_name: String,
    group_id: String,
    bank_code: String,
    login_id: String,
    name: String,
    email: String,
    password: String,
    password_confirm: String,
    #[server(default)] setup_token: Option<String>,
) -> Result<(), UiError> {
    use certdesk_backend::{Actor, SetupInput};
    let backend = ssr::backend()?;
    let input = SetupInput {
        org_name,
        group_id,
        bank_code,
        login_id,
        name,
        email,
        password,
        password_confirm,
    };
    let (token, _) = backend
        .set_up_from_page(input, setup_token.as_deref(), Actor::Anonymous)
        .await?;
    ssr::set_session_cookie(&backend, Some(&token));
    Ok(())
}

/// True when the setup page must ask for the one-time setup token (the console is reachable
/// from other machines and setup is pending).
#[server(prefix = "/api", endpoint = "setup_token_required", output = crate::codec::JsonOut)]
pub async fn setup_token_required() -> Result<bool, UiError> {
    Ok(ssr::backend()?.setup_token_required())
}

/// Signs a master or admin in; a new session cookie replaces any old one. The answer says
/// what comes next: nothing, the one-time password, or its enrolment (policy).
#[server(prefix = "/api", endpoint = "sign_in", output = crate::codec::JsonOut)]
pub async fn sign_in(
    login_id: String,
    password: String,
) -> Result<certdesk_domain::otp::SignInNext, UiError> {
    use certdesk_backend::SessionLookup;
    use certdesk_domain::otp::SignInNext;
    let backend = ssr::backend()?;
    let previous = ssr::request_session().token;
    let (token, _) = backend.sign_in(&login_id, &password, previous).await?;
    ssr::set_session_cookie(&backend, Some(&token));
    Ok(match backend.resolve_session(token).await? {
        SessionLookup::Pending(p) => p.next,
        _ => SignInNext::Done,
    })
}

/// Ends the session.
#[server(prefix = "/api", endpoint = "sign_out", output = crate::codec::JsonOut)]
pub async fn sign_out() -> Result<(), UiError> {
    let backend = ssr::backend()?;
    let session = ssr::request_session();
    let user = session.user.or(session.pending.map(|p| p.user));
    if let (Some(token), Some(user)) = (session.token, user) {
        backend.sign_out(token, user).await?;
    }
    ssr::set_session_cookie(&backend, None);
    Ok(())
}

/// The organisation and the signed-in user, for the page header.
#[server(prefix = "/api", endpoint = "shell_info", output = crate::codec::JsonOut)]
pub async fn shell_info() -> Result<HeaderInfo, UiError> {
    use certdesk_backend::ServiceError;
    let backend = ssr::backend()?;
    let user = ssr::console_user()?;
    let org = backend
        .organisation()
        .await?
        .ok_or(ServiceError::from(certdesk_domain::SetupError::NotSetUp))?;
    Ok(HeaderInfo {
        org_name: org.name,
        group_id: org.group_id,
        login_id: user.login_id,
        user_name: user.name,
        role: user.role,
    })
}

/// Users by role and lock state.
#[server(prefix = "/api", endpoint = "user_counts", output = crate::codec::JsonOut)]
pub async fn user_counts() -> Result<UserCountsView, UiError> {
    let backend = ssr::backend()?;
    ssr::console_user()?;
    let c = backend.user_counts().await?;
    Ok(UserCountsView {
        total: c.total(),
        masters: c.masters,
        admins: c.admins,
        generals: c.generals,
        locked: c.locked,
    })
}

/// The newest audit rows.
#[server(prefix = "/api", endpoint = "audit_log", output = crate::codec::JsonOut)]
pub async fn audit_log() -> Result<Vec<AuditRow>, UiError> {
    let backend = ssr::backend()?;
    ssr::console_user()?;
    let rows = backend.audit_entries(200).await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditRow {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            target: r.target,
            success: r.outcome == "success",
            detail: r.detail,
        })
        .collect())
}

pub mod backup;
pub mod certificates;
pub mod check;
pub mod dashboard;
pub mod distribution;
pub mod enrolment;
pub mod otp;
pub mod users;
