//! One-time passwords (TOTP, RFC 6238) for masters and admins: enrolment, the sign-in's
//! second step, time sync, recovery codes, the policy, the reset and the step-up.
//!
//! - The secret (160 random bits) is sealed with the master key, bound to its user. A new
//!   enrolment is kept apart (`pending_sealed`) until one correct code confirms it, so a wrong
//!   first code keeps the old state.
//! - A code is accepted for the expected step (now + the stored drift) and one step either
//!   side; a step at or before the newest accepted one is refused (no replay).
//! - Wrong codes, wrong recovery codes and unmatched time-sync pairs count toward the same
//!   temporary lock as wrong passwords ([`super::lockout`]); the lock also ends every session
//!   still waiting for a code.
//! - A correct password for an enrolled user does not reset the wrong-password count: only a
//!   correct second factor does (otherwise a known password would reopen the code guessing).
//! - Recovery codes: 10, single-use, stored as SHA-256 of `user id:code`.

use super::{audit_temporary_lock, count_user_failure, user_counter, CurrentUser, SessionToken};
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::{parse_ts, ts};
use crate::store::secrets::{MasterKey, Purpose};
use crate::Backend;
use certdesk_domain::otp::{self, Code, OtpError, OtpPolicy, SecondFactor};
use certdesk_domain::{AuditAction, AuthError, LoginId, UserError};
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// The policy and the step-up window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpSettings {
    pub policy: OtpPolicy,
    pub step_up_minutes: u32,
}

/// One user's one-time password state, as the OTP page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpStatus {
    pub enrolled: bool,
    pub recovery_left: u32,
    /// Seconds the device clock was found to be off by the last time sync.
    pub drift_secs: i64,
}

/// A started enrolment: the secret to put into the authenticator app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpEnrolment {
    /// Base32, in groups of four.
    pub secret: String,
    pub uri: String,
    /// The `otpauth://` URI as an inline SVG QR code.
    pub qr_svg: String,
}

fn record(user_id: i64) -> String {
    format!("otp user {user_id}")
}

fn recovery_hash(user_id: i64, normalised: &str) -> String {
    hex::encode(Sha256::digest(format!("{user_id}:{normalised}").as_bytes()))
}

pub(crate) fn load_settings(conn: &Connection) -> Result<OtpSettings, ServiceError> {
    let (policy, minutes): (String, u32) = conn.query_row(
        "SELECT policy, step_up_minutes FROM otp_settings WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(OtpSettings {
        policy: OtpPolicy::parse(&policy).unwrap_or_default(),
        step_up_minutes: minutes,
    })
}

/// True if the user has a confirmed one-time password.
pub(crate) fn is_enrolled(conn: &Connection, user_id: i64) -> Result<bool, ServiceError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM otp_enrolments WHERE user_id = ?1 AND secret_sealed IS NOT NULL)",
        [user_id],
        |r| r.get(0),
    )?)
}

/// Marks a new session as waiting for the code.
pub(crate) fn mark_pending(conn: &Connection, token: &SessionToken) -> Result<(), ServiceError> {
    conn.execute(
        "UPDATE sessions SET otp_pending = 1 WHERE token_sha256 = ?1",
        [token.digest()],
    )?;
    Ok(())
}

/// The session passed a code now: it serves everything, and step-up starts from now.
fn mark_checked(
    conn: &Connection,
    token: &SessionToken,
    now: OffsetDateTime,
) -> Result<(), ServiceError> {
    conn.execute(
        "UPDATE sessions SET otp_pending = 0, otp_checked_at = ?1 WHERE token_sha256 = ?2",
        params![ts(now), token.digest()],
    )?;
    Ok(())
}

/// What a second factor proved.
enum Checked {
    Code,
    Recovery { left: u32 },
    Resynced { offset_steps: i64 },
}

/// What is checked.
enum Factor {
    Typed(SecondFactor),
    Pair(Code, Code),
}

/// Checks a second factor of `user` inside the caller's transaction; a failure is counted
/// (and audited) here, and the caller commits in both cases.
fn check_factor(
    tx: &Connection,
    key: &MasterKey,
    now: OffsetDateTime,
    user: &CurrentUser,
    factor: Factor,
    purpose: &str,
) -> Result<Checked, ServiceError> {
    let row: Option<(Option<Vec<u8>>, i64, Option<i64>)> = tx
        .query_row(
            "SELECT secret_sealed, offset_steps, last_step FROM otp_enrolments WHERE user_id = ?1",
            [user.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((Some(sealed), offset, last_step)) = row else {
        return Err(OtpError::NotEnrolled.into());
    };
    let counter = user_counter(tx, user.id)?;
    if let Some(until) = counter.locked_at(now) {
        return Err(AuthError::TemporarilyLocked { until }.into());
    }
    let secret = key.open(Purpose::OtpSecret, &record(user.id), &sealed)?;
    let now_step = otp::step_at(now.unix_timestamp());
    let last = last_step.unwrap_or(i64::MIN);
    let (outcome, refusal) = match factor {
        Factor::Typed(SecondFactor::Code(code)) => {
            match otp::matching_step(&secret, &code, now_step + offset) {
                Some(step) if step <= last => (None, OtpError::Replayed),
                Some(step) => {
                    tx.execute(
                        "UPDATE otp_enrolments SET last_step = ?1 WHERE user_id = ?2",
                        params![step, user.id],
                    )?;
                    (Some(Checked::Code), OtpError::WrongCode)
                }
                None => (None, OtpError::WrongCode),
            }
        }
        Factor::Typed(SecondFactor::Recovery(text)) => {
            let used = tx.execute(
                "UPDATE otp_recovery_codes SET used_at = ?1
                 WHERE user_id = ?2 AND code_sha256 = ?3 AND used_at IS NULL",
                params![ts(now), user.id, recovery_hash(user.id, &text)],
            )?;
            if used == 1 {
                let left: u32 = tx.query_row(
                    "SELECT COUNT(*) FROM otp_recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
                    [user.id],
                    |r| r.get(0),
                )?;
                (
                    Some(Checked::Recovery { left }),
                    OtpError::WrongRecoveryCode,
                )
            } else {
                (None, OtpError::WrongRecoveryCode)
            }
        }
        Factor::Pair(first, second) => match otp::resync_step(&secret, &first, &second, now_step) {
            Some(step) if step - 1 <= last => (None, OtpError::Replayed),
            Some(step) => {
                let offset_steps = step - now_step;
                tx.execute(
                    "UPDATE otp_enrolments SET last_step = ?1, offset_steps = ?2 WHERE user_id = ?3",
                    params![step, offset_steps, user.id],
                )?;
                (
                    Some(Checked::Resynced { offset_steps }),
                    OtpError::PairNotFound,
                )
            }
            None => (None, OtpError::PairNotFound),
        },
    };
    if let Some(checked) = outcome {
        tx.execute(
            "UPDATE users SET failed_logins = 0, lockout_step = 0, locked_until = NULL WHERE id = ?1",
            [user.id],
        )?;
        return Ok(checked);
    }
    if refusal == OtpError::Replayed {
        // A used code is not a guess: refused and audited, not counted.
        audit::record(
            tx,
            now,
            &user.actor(),
            AuditAction::OtpCodeFailed,
            Some(&user.login_id),
            Outcome::Failure,
            serde_json::json!({"reason": "replayed", "during": purpose}),
        )?;
        return Err(refusal.into());
    }
    let failure = count_user_failure(tx, now, user.id, counter)?;
    let next = failure.counter();
    audit::record(
        tx,
        now,
        &user.actor(),
        AuditAction::OtpCodeFailed,
        Some(&user.login_id),
        Outcome::Failure,
        serde_json::json!({"reason": refusal.code(), "during": purpose,
            "failures": next.failures, "step": next.step}),
    )?;
    audit_temporary_lock(tx, now, failure, &user.login_id)?;
    match failure {
        super::lockout::Failure::LockedNow { until, .. } => {
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND otp_pending = 1",
                [user.id],
            )?;
            Err(AuthError::TemporarilyLocked { until }.into())
        }
        super::lockout::Failure::Counted { .. } => Err(refusal.into()),
    }
}

/// Draws the `otpauth://` URI as an SVG QR code (no XML declaration: it goes inline).
fn qr_svg(uri: &str) -> Result<String, ServiceError> {
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| ServiceError::Internal(format!("QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    Ok(match svg.find("<svg") {
        Some(at) => svg[at..].to_string(),
        None => svg,
    })
}

fn grouped(base32: &str) -> String {
    base32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Backend {
    /// The policy and the step-up window.
    pub async fn otp_settings(&self) -> Result<OtpSettings, ServiceError> {
        self.db().run(|conn| load_settings(conn)).await
    }

    /// Changes the policy and the step-up window (masters only; audited).
    pub async fn set_otp_settings(
        &self,
        policy: &str,
        step_up_minutes: &str,
        user: &CurrentUser,
    ) -> Result<(), ServiceError> {
        if user.role != certdesk_domain::Role::Master {
            return Err(AuthError::Forbidden.into());
        }
        let policy = OtpPolicy::parse(policy).ok_or(OtpError::Setting { field: "policy" })?;
        let minutes = step_up_minutes
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|m| otp::STEP_UP_MINUTES.contains(m))
            .ok_or(OtpError::Setting {
                field: "step_up_minutes",
            })?;
        let now = self.clock().now();
        let actor = user.actor();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let before = load_settings(&tx)?;
                tx.execute(
                    "UPDATE otp_settings SET policy = ?1, step_up_minutes = ?2 WHERE id = 1",
                    params![policy.as_str(), minutes],
                )?;
                audit::record(&tx, now, &actor, AuditAction::OtpSettingsUpdate, None, Outcome::Success,
                    serde_json::json!({"policy": policy.as_str(), "step_up_minutes": minutes,
                        "before": {"policy": before.policy.as_str(), "step_up_minutes": before.step_up_minutes}}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// The user's own one-time password state.
    pub async fn otp_status(&self, user: &CurrentUser) -> Result<OtpStatus, ServiceError> {
        let id = user.id;
        self.db()
            .run(move |conn| {
                let offset: Option<i64> = conn
                    .query_row(
                        "SELECT offset_steps FROM otp_enrolments
                         WHERE user_id = ?1 AND secret_sealed IS NOT NULL",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?;
                let left: u32 = conn.query_row(
                    "SELECT COUNT(*) FROM otp_recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
                    [id],
                    |r| r.get(0),
                )?;
                Ok(OtpStatus {
                    enrolled: offset.is_some(),
                    recovery_left: if offset.is_some() { left } else { 0 },
                    drift_secs: offset.unwrap_or(0) * otp::STEP_SECS,
                })
            })
            .await
    }

    /// Starts (or restarts) an enrolment: a fresh secret, kept apart until confirmed.
    pub async fn otp_enrol_start(&self, user: &CurrentUser) -> Result<OtpEnrolment, ServiceError> {
        let mut secret = [0u8; otp::SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let sealed = self
            .master_key()
            .seal(Purpose::OtpSecret, &record(user.id), &secret)?;
        let group = self
            .organisation()
            .await?
            .map(|o| o.group_id)
            .unwrap_or_default();
        let issuer = format!("certdesk {group}");
        let uri = otp::otpauth_uri(issuer.trim(), &user.login_id, &secret);
        let svg = qr_svg(&uri)?;
        let now = self.clock().now();
        let id = user.id;
        self.db()
            .run(move |conn| {
                conn.execute(
                    "INSERT INTO otp_enrolments (user_id, pending_sealed, started_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (user_id) DO UPDATE SET pending_sealed = ?2, started_at = ?3",
                    params![id, sealed, ts(now)],
                )?;
                Ok(())
            })
            .await?;
        Ok(OtpEnrolment {
            secret: grouped(&otp::base32_encode(&secret)),
            uri,
            qr_svg: svg,
        })
    }

    /// Completes an enrolment with one correct code; returns the 10 recovery codes (shown
    /// once). A wrong code keeps the old state (and is not counted: the session already
    /// passed the password, and the secret is new).
    pub async fn otp_enrol_confirm(
        &self,
        user: &CurrentUser,
        token: SessionToken,
        typed: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let code = Code::parse(typed)?;
        let now = self.clock().now();
        let key = self.master_key();
        let user = user.clone();
        let mut codes = Vec::with_capacity(otp::RECOVERY_CODES);
        for _ in 0..otp::RECOVERY_CODES {
            let mut random = [0u8; otp::RECOVERY_LEN];
            rand::rngs::OsRng.fill_bytes(&mut random);
            codes.push(otp::recovery_code(&random));
        }
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let pending: Option<Vec<u8>> = tx
                    .query_row(
                        "SELECT pending_sealed FROM otp_enrolments WHERE user_id = ?1",
                        [user.id],
                        |r| r.get(0),
                    )
                    .optional()?
                    .flatten();
                let Some(sealed) = pending else {
                    return Err(OtpError::NoEnrolmentStarted.into());
                };
                let secret = key.open(Purpose::OtpSecret, &record(user.id), &sealed)?;
                let now_step = otp::step_at(now.unix_timestamp());
                let Some(step) = otp::matching_step(&secret, &code, now_step) else {
                    audit::record(&tx, now, &user.actor(), AuditAction::OtpCodeFailed, Some(&user.login_id),
                        Outcome::Failure, serde_json::json!({"reason": OtpError::WrongCode.code(), "during": "enrolment"}))?;
                    tx.commit()?;
                    return Err(OtpError::WrongCode.into());
                };
                tx.execute(
                    "UPDATE otp_enrolments SET secret_sealed = pending_sealed, pending_sealed = NULL,
                         offset_steps = 0, last_step = ?1, enrolled_at = ?2 WHERE user_id = ?3",
                    params![step, ts(now), user.id],
                )?;
                tx.execute("DELETE FROM otp_recovery_codes WHERE user_id = ?1", [user.id])?;
                for c in &codes {
                    let normalised = otp::normalise_recovery(c)
                        .unwrap_or_else(|| unreachable!("made from the recovery alphabet"));
                    tx.execute(
                        "INSERT INTO otp_recovery_codes (user_id, code_sha256) VALUES (?1, ?2)",
                        params![user.id, recovery_hash(user.id, &normalised)],
                    )?;
                }
                mark_checked(&tx, &token, now)?;
                audit::record(&tx, now, &user.actor(), AuditAction::OtpEnrol, Some(&user.login_id),
                    Outcome::Success, serde_json::json!({"recovery_codes": codes.len()}))?;
                tx.commit()?;
                Ok(codes)
            })
            .await
    }

    /// The sign-in's second step: a code or a recovery code for the session waiting for it.
    /// Returns the recovery codes left when one was used.
    pub async fn otp_sign_in(
        &self,
        user: &CurrentUser,
        token: SessionToken,
        typed: &str,
    ) -> Result<Option<u32>, ServiceError> {
        let factor = SecondFactor::parse(typed)?;
        self.pass_factor(user, token, Factor::Typed(factor), "sign_in")
            .await
    }

    /// Time sync (時刻同期): two consecutive codes, searched within ±10 minutes; the drift is
    /// stored. At sign-in it also completes the sign-in.
    pub async fn otp_resync(
        &self,
        user: &CurrentUser,
        token: SessionToken,
        first: &str,
        second: &str,
    ) -> Result<(), ServiceError> {
        let first = Code::parse(first)?;
        let second = Code::parse(second).map_err(|_| {
            // The second field is the one to fix.
            ServiceError::from(OtpError::Malformed)
        })?;
        self.pass_factor(user, token, Factor::Pair(first, second), "time_sync")
            .await
            .map(drop)
    }

    /// Step-up: a fresh code for a session already signed in.
    pub async fn otp_step_up(
        &self,
        user: &CurrentUser,
        token: SessionToken,
        typed: &str,
    ) -> Result<(), ServiceError> {
        let code = Code::parse(typed)?;
        self.pass_factor(
            user,
            token,
            Factor::Typed(SecondFactor::Code(code)),
            "step_up",
        )
        .await
        .map(drop)
    }

    async fn pass_factor(
        &self,
        user: &CurrentUser,
        token: SessionToken,
        factor: Factor,
        purpose: &'static str,
    ) -> Result<Option<u32>, ServiceError> {
        let now = self.clock().now();
        let key = self.master_key();
        let user = user.clone();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let pending: bool = tx
                    .query_row(
                        "SELECT otp_pending FROM sessions WHERE token_sha256 = ?1",
                        [token.digest()],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(false);
                let result = check_factor(&tx, &key, now, &user, factor, purpose);
                let answer = match result {
                    Ok(checked) => {
                        mark_checked(&tx, &token, now)?;
                        let (action, detail, left) = match checked {
                            Checked::Code if pending => (AuditAction::OtpSignIn, serde_json::json!({}), None),
                            Checked::Code => (AuditAction::OtpStepUp, serde_json::json!({}), None),
                            Checked::Recovery { left } => (AuditAction::OtpRecoveryCodeUsed,
                                serde_json::json!({"left": left, "during": purpose}), Some(left)),
                            Checked::Resynced { offset_steps } => (AuditAction::OtpTimeSync,
                                serde_json::json!({"drift_secs": offset_steps * otp::STEP_SECS, "during": purpose}), None),
                        };
                        audit::record(&tx, now, &user.actor(), action, Some(&user.login_id), Outcome::Success, detail)?;
                        Ok(left)
                    }
                    Err(e) => Err(e),
                };
                tx.commit()?;
                answer
            })
            .await
    }

    /// Refuses with `E-OTP-006` when the user has a one-time password and the session's last
    /// correct code is older than the step-up window. Users without one pass (the policy
    /// decides who must have one).
    pub async fn require_fresh_otp(
        &self,
        user: &CurrentUser,
        token: Option<SessionToken>,
    ) -> Result<(), ServiceError> {
        let now = self.clock().now();
        let id = user.id;
        self.db()
            .run(move |conn| {
                if !is_enrolled(conn, id)? {
                    return Ok(());
                }
                let settings = load_settings(conn)?;
                let checked: Option<String> = match token {
                    Some(t) => conn
                        .query_row(
                            "SELECT otp_checked_at FROM sessions WHERE token_sha256 = ?1",
                            [t.digest()],
                            |r| r.get(0),
                        )
                        .optional()?
                        .flatten(),
                    None => None,
                };
                let window = Duration::minutes(i64::from(settings.step_up_minutes));
                match checked.as_deref().map(parse_ts).transpose()? {
                    Some(at) if now < at + window => Ok(()),
                    _ => Err(OtpError::StepUpRequired {
                        minutes: settings.step_up_minutes,
                    }
                    .into()),
                }
            })
            .await
    }

    /// Removes a user's one-time password and recovery codes (a master for another user, or
    /// `certdesk users reset-otp` from the shell). The user enrols again at the next sign-in
    /// when the policy requires it. Sessions waiting for a code end.
    pub async fn reset_otp(&self, login_id: &str, actor: Actor) -> Result<(), ServiceError> {
        let typed = login_id.trim().to_string();
        let not_found = || UserError::NotFound {
            login_id: typed.clone(),
        };
        let key = LoginId::parse(&typed).map_err(|_| not_found())?.key();
        let now = self.clock().now();
        let target = typed.clone();
        let missing = not_found();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let id: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM users WHERE login_key = ?1 AND deleted_at IS NULL",
                        [&key],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(id) = id else {
                    return Err(missing.into());
                };
                let removed = tx.execute("DELETE FROM otp_enrolments WHERE user_id = ?1", [id])?;
                if removed == 0 {
                    return Err(OtpError::NotEnrolled.into());
                }
                tx.execute("DELETE FROM otp_recovery_codes WHERE user_id = ?1", [id])?;
                tx.execute(
                    "DELETE FROM sessions WHERE user_id = ?1 AND otp_pending = 1",
                    [id],
                )?;
                audit::record(
                    &tx,
                    now,
                    &actor,
                    AuditAction::OtpReset,
                    Some(&target),
                    Outcome::Success,
                    serde_json::json!({}),
                )?;
                tx.commit()?;
                Ok(())
            })
            .await
    }
}
