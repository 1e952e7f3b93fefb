//! Server functions of the one-time password: the sign-in's second step and time sync (both
//! anonymous-rate-limited like `sign_in`), enrolment, step-up, the policy and a master's reset.

use crate::error::UiError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the One-time password page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpPageData {
    pub login_id: String,
    pub enrolled: bool,
    pub recovery_left: u32,
    pub drift_secs: i64,
    /// The policy requires a one-time password of this user, who has none yet.
    pub must_enrol: bool,
    pub is_master: bool,
    pub policy: certdesk_domain::otp::OtpPolicy,
    pub step_up_minutes: u32,
}

/// A started enrolment (the secret is shown once more only by starting again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentView {
    pub secret: String,
    pub uri: String,
    pub qr_svg: String,
}

/// The answer to the sign-in's second step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondStepDone {
    /// Recovery codes left, when one was used.
    pub recovery_left: Option<u32>,
}

/// Why a waiting session refuses everything else.
#[cfg(feature = "ssr")]
pub fn pending_refusal(next: certdesk_domain::otp::SignInNext) -> certdesk_domain::otp::OtpError {
    use certdesk_domain::otp::{OtpError, SignInNext};
    match next {
        SignInNext::Enrol => OtpError::EnrolmentRequired,
        SignInNext::Code | SignInNext::Done => OtpError::CodeRequired,
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use crate::error::UiError;
    use certdesk_backend::{CurrentUser, ServiceError, SessionToken};
    use certdesk_domain::otp::{OtpError, SignInNext};

    /// The session waiting for the code, with its user.
    pub fn waiting_for_code() -> Result<(CurrentUser, SessionToken), UiError> {
        let session = super::super::ssr::request_session();
        match (session.pending, session.token) {
            (Some(p), Some(token)) if p.next == SignInNext::Code => Ok((p.user, token)),
            _ => Err(ServiceError::from(OtpError::NoSignInPending).into()),
        }
    }

    /// A signed-in user, or one the policy sends to enrolment.
    pub fn enrolling_user() -> Result<(CurrentUser, SessionToken), UiError> {
        let session = super::super::ssr::request_session();
        let user = match session.pending {
            Some(p) if p.next == SignInNext::Enrol => p.user,
            _ => super::super::ssr::console_user()?,
        };
        let token = session.token.ok_or_else(|| {
            UiError::from(ServiceError::Auth(certdesk_domain::AuthError::NotSignedIn))
        })?;
        Ok((user, token))
    }
}

/// The second step of the sign-in: a code, or a recovery code.
#[server(prefix = "/api", endpoint = "otp_sign_in", output = crate::codec::JsonOut)]
pub async fn otp_sign_in(code: String) -> Result<SecondStepDone, UiError> {
    let backend = super::ssr::backend()?;
    let (user, token) = ssr::waiting_for_code()?;
    let recovery_left = backend.otp_sign_in(&user, token, &code).await?;
    Ok(SecondStepDone { recovery_left })
}

/// Time sync: the code shown now and the next one. At sign-in it completes the sign-in.
#[server(prefix = "/api", endpoint = "otp_resync", output = crate::codec::JsonOut)]
pub async fn otp_resync(code: String, next_code: String) -> Result<(), UiError> {
    let backend = super::ssr::backend()?;
    let (user, token) = match ssr::waiting_for_code() {
        Ok(found) => found,
        Err(_) => {
            let user = super::ssr::console_user()?;
            let token = super::ssr::request_session().token.ok_or_else(|| {
                UiError::from(certdesk_backend::ServiceError::Auth(
                    certdesk_domain::AuthError::NotSignedIn,
                ))
            })?;
            (user, token)
        }
    };
    backend.otp_resync(&user, token, &code, &next_code).await?;
    Ok(())
}

/// The user's one-time password state and the settings.
#[server(prefix = "/api", endpoint = "otp_page", output = crate::codec::JsonOut)]
pub async fn otp_page() -> Result<OtpPageData, UiError> {
    let backend = super::ssr::backend()?;
    let (user, _) = ssr::enrolling_user()?;
    let status = backend.otp_status(&user).await?;
    let settings = backend.otp_settings().await?;
    Ok(OtpPageData {
        login_id: user.login_id.clone(),
        enrolled: status.enrolled,
        recovery_left: status.recovery_left,
        drift_secs: status.drift_secs,
        must_enrol: !status.enrolled && settings.policy.requires(user.role),
        is_master: user.role == certdesk_domain::Role::Master,
        policy: settings.policy,
        step_up_minutes: settings.step_up_minutes,
    })
}

/// Starts an enrolment: a new secret as QR code and Base32. Replacing a one-time password
/// that exists needs a fresh code (step-up).
#[server(prefix = "/api", endpoint = "otp_enrol_start", output = crate::codec::JsonOut)]
pub async fn otp_enrol_start() -> Result<EnrolmentView, UiError> {
    let backend = super::ssr::backend()?;
    let (user, token) = ssr::enrolling_user()?;
    backend.require_fresh_otp(&user, Some(token)).await?;
    let e = backend.otp_enrol_start(&user).await?;
    Ok(EnrolmentView {
        secret: e.secret,
        uri: e.uri,
        qr_svg: e.qr_svg,
    })
}

/// Completes the enrolment with one correct code; returns the 10 recovery codes, once.
#[server(prefix = "/api", endpoint = "otp_enrol_confirm", output = crate::codec::JsonOut)]
pub async fn otp_enrol_confirm(code: String) -> Result<Vec<String>, UiError> {
    let backend = super::ssr::backend()?;
    let (user, token) = ssr::enrolling_user()?;
    Ok(backend.otp_enrol_confirm(&user, token, &code).await?)
}

/// Step-up: checks a fresh code for this session.
#[server(prefix = "/api", endpoint = "otp_step_up", output = crate::codec::JsonOut)]
pub async fn otp_step_up(code: String) -> Result<(), UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::console_user()?;
    let token = super::ssr::request_session().token.ok_or_else(|| {
        UiError::from(certdesk_backend::ServiceError::Auth(
            certdesk_domain::AuthError::NotSignedIn,
        ))
    })?;
    backend.otp_step_up(&user, token, &code).await?;
    Ok(())
}

/// The policy and the step-up window (masters only, after a fresh code).
#[server(prefix = "/api", endpoint = "save_otp_settings", output = crate::codec::JsonOut)]
pub async fn save_otp_settings(policy: String, step_up_minutes: String) -> Result<(), UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::stepped_up_user().await?;
    backend
        .set_otp_settings(&policy, &step_up_minutes, &user)
        .await?;
    Ok(())
}

/// Removes another user's one-time password (masters only, after a fresh code).
#[server(prefix = "/api", endpoint = "reset_otp", output = crate::codec::JsonOut)]
pub async fn reset_otp(login_id: String) -> Result<(), UiError> {
    let backend = super::ssr::backend()?;
    let user = super::ssr::stepped_up_user().await?;
    if user.role != certdesk_domain::Role::Master {
        return Err(
            certdesk_backend::ServiceError::Auth(certdesk_domain::AuthError::Forbidden).into(),
        );
    }
    backend.reset_otp(&login_id, user.actor()).await?;
    Ok(())
}
