//! Console sign-in, sessions and the lockout (閉塞).
//!
//! - Only masters and admins sign in; general users have no password.
//! - A sign-in with a login ID over 64 bytes or a password over 1 KiB is refused before anything
//!   is looked up, hashed or written ([`lockout`]).
//! - A wrong password counts against the login ID; the 5th in a row locks it for a while
//!   (15 min, doubling with each lock until a successful sign-in, at most 24 h; [`lockout`]).
//!   The permanent lock (閉塞) is set only by a master or admin. Unknown login IDs are counted
//!   the same way in their own table (every malformed one under one key; rows are forgotten
//!   after a quiet day), and a dummy hash is verified for them, so neither the message nor the
//!   time taken tells whether a login ID exists.
//! - The session token is 256 random bits in an HttpOnly cookie; the database keeps only its
//!   SHA-256. A new token is made at every sign-in (rotation); a session ends after the idle
//!   timeout, after its absolute lifetime (12 h by default) or at sign-out.

pub mod lockout;
pub mod otp;
pub mod password;

use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::{parse_ts, ts};
use crate::Backend;
use certdesk_domain::AuditAction;
use certdesk_domain::AuthError;
use certdesk_domain::SetupError;
use certdesk_domain::{LoginId, Role};
use lockout::{Counter, Failure};
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The name of the session cookie over plain HTTP (loopback only).
pub const SESSION_COOKIE: &str = "certdesk_session";

/// The name of the session cookie over TLS: the `__Host-` prefix makes the browser keep it
/// only if it is `Secure`, `Path=/` and has no `Domain`, so no other host can set or shadow it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-certdesk_session";

/// The session cookie's name: [`SECURE_SESSION_COOKIE`] over TLS, else [`SESSION_COOKIE`].
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// A session token as the cookie carries it. Not `Serialize`; its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn from_cookie(value: &str) -> Option<SessionToken> {
        (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| SessionToken(value.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(***)")
    }
}

/// The signed-in console user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: i64,
    pub login_id: String,
    pub name: String,
    pub role: Role,
}

impl CurrentUser {
    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.id,
            login_id: self.login_id.clone(),
        }
    }
}

/// What a session cookie turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionLookup {
    Valid(CurrentUser),
    /// It existed but was idle too long; it is now deleted.
    Expired,
    /// Unknown token (signed out, rotated, or made up).
    Unknown,
    /// The password was right, but the session serves only the next step: the one-time
    /// password, or (when the policy requires one and the user has none) its enrolment.
    Pending(PendingSignIn),
}

/// A session that waits for the one-time password or its enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    pub user: CurrentUser,
    pub next: certdesk_domain::otp::SignInNext,
}

pub(crate) fn create_session(
    conn: &Connection,
    user_id: i64,
    now: OffsetDateTime,
) -> Result<SessionToken, ServiceError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = SessionToken(hex::encode(bytes));
    conn.execute(
        "INSERT INTO sessions (token_sha256, user_id, created_at, last_seen_at) VALUES (?1, ?2, ?3, ?3)",
        params![token.digest(), user_id, ts(now)],
    )?;
    Ok(token)
}

/// A console account as sign-in sees it.
struct Account {
    user: CurrentUser,
    hash: Option<password::PasswordHash>,
    counter: Counter,
    /// The permanent lock (閉塞) set by a master or admin.
    locked: bool,
}

/// Reads a wrong-password counter from its three columns.
fn counter_from(failures: u32, step: u32, until: Option<String>) -> Result<Counter, ServiceError> {
    Ok(Counter {
        failures,
        step,
        locked_until: until.as_deref().map(parse_ts).transpose()?,
    })
}

fn find_account(conn: &Connection, login_key: &str) -> Result<Option<Account>, ServiceError> {
    let row = conn
        .query_row(
            "SELECT id, login_id, name, role, password_hash, failed_logins, locked_at IS NOT NULL,
                    lockout_step, locked_until
             FROM users WHERE login_key = ?1 AND deleted_at IS NULL",
            [login_key],
            |r| {
                let role: String = r.get(3)?;
                Ok((
                    (
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        role,
                    ),
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, u32>(5)?,
                    r.get::<_, bool>(6)?,
                    r.get::<_, u32>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            },
        )
        .optional()?;
    let Some(((id, login_id, name, role), hash, failures, locked, step, until)) = row else {
        return Ok(None);
    };
    let Some(role) = Role::parse(&role) else {
        return Ok(None);
    };
    Ok(Some(Account {
        user: CurrentUser {
            id,
            login_id,
            name,
            role,
        },
        // General users never sign in: treat them as having no password.
        hash: hash
            .filter(|_| role.may_sign_in_to_console())
            .map(password::PasswordHash::from_stored),
        counter: counter_from(failures, step, until)?,
        locked,
    }))
}

/// The wrong-password counter of a console user.
pub(crate) fn user_counter(conn: &Connection, user_id: i64) -> Result<Counter, ServiceError> {
    let (failures, step, until) = conn.query_row(
        "SELECT failed_logins, lockout_step, locked_until FROM users WHERE id = ?1",
        [user_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    counter_from(failures, step, until)
}

/// Counts one wrong password against a user (no temporary lock running) inside the caller's
/// transaction. The caller audits its own refusal, then [`audit_temporary_lock`].
pub(crate) fn count_user_failure(
    tx: &Connection,
    now: OffsetDateTime,
    user_id: i64,
    counter: Counter,
) -> Result<Failure, ServiceError> {
    let failure = counter.after_failure(now);
    let next = failure.counter();
    tx.execute(
        "UPDATE users SET failed_logins = ?1, lockout_step = ?2, locked_until = ?3 WHERE id = ?4",
        params![next.failures, next.step, next.locked_until.map(ts), user_id],
    )?;
    Ok(failure)
}

/// Audits the temporary lock a failure caused (if it caused one).
pub(crate) fn audit_temporary_lock(
    tx: &Connection,
    now: OffsetDateTime,
    failure: Failure,
    target: &str,
) -> Result<(), ServiceError> {
    if let Failure::LockedNow { until, counter } = failure {
        audit::record(
            tx,
            now,
            &Actor::System,
            AuditAction::LockTemporary,
            Some(target),
            Outcome::Success,
            serde_json::json!({"until": ts(until), "step": counter.step}),
        )?;
    }
    Ok(())
}

/// Forgets the counters of unknown login IDs that saw no failure for a day and hold no lock.
fn forget_old_unknown_ids(tx: &Connection, now: OffsetDateTime) -> Result<(), ServiceError> {
    tx.execute(
        "DELETE FROM unknown_login_failures
         WHERE last_failed_at < ?1 AND (locked_until IS NULL OR locked_until <= ?2)",
        params![ts(now - lockout::UNKNOWN_ID_MEMORY), ts(now)],
    )?;
    Ok(())
}

impl Backend {
    /// Signs a master or admin in. On success the old session (if a cookie was presented) is
    /// deleted and a new one made. Every attempt is audited, except one whose inputs are over
    /// the limits: it is refused before anything is looked up or written.
    pub async fn sign_in(
        &self,
        login_id: &str,
        password_text: &str,
        previous: Option<SessionToken>,
    ) -> Result<(SessionToken, CurrentUser), ServiceError> {
        if self.needs_setup() {
            return Err(ServiceError::from(SetupError::NotSetUp));
        }
        if !lockout::within_limits(login_id, password_text) {
            return Err(ServiceError::from(AuthError::SignInTooLong));
        }
        let typed = login_id.trim().to_string();
        let key = LoginId::parse(&typed).map(|l| l.key()).ok();
        let account = match key.clone() {
            Some(k) => self.db().run(move |conn| find_account(conn, &k)).await?,
            None => None,
        };

        // Verify on a blocking thread, against the dummy hash when there is nothing to verify
        // (it takes a permit too). No permit free: refused before anything is written.
        let hash = account.as_ref().and_then(|a| a.hash.clone());
        let me = self.clone();
        let pw = password_text.to_string();
        let password_ok = self
            .hashers()
            .run(move |permit| {
                let hash = hash.unwrap_or_else(|| me.inner_dummy_hash(permit));
                password::verify(&pw, &hash, permit)
            })
            .await?
            && account.as_ref().is_some_and(|a| a.hash.is_some());

        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let target = Some(typed.as_str());
                let result = match account {
                    Some(acc) if acc.hash.is_some() => {
                        let actor = acc.user.actor();
                        if acc.locked {
                            audit::record(&tx, now, &actor, AuditAction::SignIn, target, Outcome::Failure,
                                serde_json::json!({"reason": "locked"}))?;
                            Err(ServiceError::from(AuthError::AccountLocked))
                        } else if let Some(until) = acc.counter.locked_at(now) {
                            audit::record(&tx, now, &Actor::Anonymous, AuditAction::SignIn, target, Outcome::Failure,
                                serde_json::json!({"reason": "locked_temporarily", "until": ts(until)}))?;
                            Err(ServiceError::from(AuthError::TemporarilyLocked { until }))
                        } else if password_ok {
                            // With a one-time password, only the code resets the count (otp.rs).
                            let enrolled = otp::is_enrolled(&tx, acc.user.id)?;
                            if !enrolled {
                                tx.execute(
                                    "UPDATE users SET failed_logins = 0, lockout_step = 0, locked_until = NULL
                                     WHERE id = ?1",
                                    [acc.user.id],
                                )?;
                            }
                            if let Some(old) = previous {
                                tx.execute(
                                    "DELETE FROM sessions WHERE token_sha256 = ?1",
                                    [old.digest()],
                                )?;
                            }
                            let token = create_session(&tx, acc.user.id, now)?;
                            let detail = if enrolled {
                                otp::mark_pending(&tx, &token)?;
                                serde_json::json!({"next": "one_time_password"})
                            } else {
                                serde_json::json!({})
                            };
                            audit::record(&tx, now, &actor, AuditAction::SignIn, target, Outcome::Success,
                                detail)?;
                            Ok((token, acc.user))
                        } else {
                            let failure = count_user_failure(&tx, now, acc.user.id, acc.counter)?;
                            let counter = failure.counter();
                            audit::record(&tx, now, &Actor::Anonymous, AuditAction::SignIn, target,
                                Outcome::Failure,
                                serde_json::json!({"reason": "wrong_password", "failures": counter.failures, "step": counter.step}))?;
                            audit_temporary_lock(&tx, now, failure, &typed)?;
                            Err(failure.refusal(AuthError::SignInFailed).into())
                        }
                    }
                    _ => {
                        // Unknown login ID (or one that may not sign in): count it the same
                        // way; every malformed one under one key.
                        forget_old_unknown_ids(&tx, now)?;
                        let counted_key = key.unwrap_or_else(|| lockout::MALFORMED_KEY.to_string());
                        let stored = tx
                            .query_row(
                                "SELECT failures, lockout_step, locked_until
                                 FROM unknown_login_failures WHERE login_key = ?1",
                                [&counted_key],
                                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                            )
                            .optional()?;
                        let counter = match stored {
                            Some((failures, step, until)) => counter_from(failures, step, until)?,
                            None => Counter { failures: 0, step: 0, locked_until: None },
                        };
                        if let Some(until) = counter.locked_at(now) {
                            audit::record(&tx, now, &Actor::Anonymous, AuditAction::SignIn, target, Outcome::Failure,
                                serde_json::json!({"reason": "unknown_login_id", "until": ts(until)}))?;
                            Err(ServiceError::from(AuthError::TemporarilyLocked { until }))
                        } else {
                            let failure = counter.after_failure(now);
                            let next = failure.counter();
                            tx.execute(
                                "INSERT INTO unknown_login_failures (login_key, failures, last_failed_at, lockout_step, locked_until)
                                 VALUES (?1, ?2, ?3, ?4, ?5)
                                 ON CONFLICT (login_key) DO UPDATE
                                 SET failures = ?2, last_failed_at = ?3, lockout_step = ?4, locked_until = ?5",
                                params![counted_key, next.failures, ts(now), next.step, next.locked_until.map(ts)],
                            )?;
                            audit::record(&tx, now, &Actor::Anonymous, AuditAction::SignIn, target, Outcome::Failure,
                                serde_json::json!({"reason": "unknown_login_id"}))?;
                            Err(failure.refusal(AuthError::SignInFailed).into())
                        }
                    }
                };
                // Failures are committed too: the counter and the audit row must stay.
                tx.commit()?;
                result
            })
            .await
    }
    /// Makes the dummy hash now (the server calls this at start, on a blocking thread), so
    /// that even the first failed sign-in takes no longer than the others.
    /// Skipped when every hashing permit is taken; the first sign-in then makes it.
    pub fn prepare_sign_in(&self) {
        if let Some(permit) = self.hashers().try_permit() {
            self.inner_dummy_hash(&permit);
        }
    }

    pub(crate) fn inner_dummy_hash(&self, permit: &password::HashPermit) -> password::PasswordHash {
        self.inner
            .dummy_hash
            .get_or_init(|| password::dummy_hash(permit))
            .clone()
    }

    /// Looks a session cookie up; a valid session's idle timer restarts, an expired one (idle
    /// too long, or older than the absolute lifetime) is deleted.
    pub async fn resolve_session(
        &self,
        token: SessionToken,
    ) -> Result<SessionLookup, ServiceError> {
        let now = self.clock().now();
        let policy = self.settings().session;
        let max_age = self.settings().session_max_age;
        self.db()
            .run(move |conn| {
                let digest = token.digest();
                let row = conn
                    .query_row(
                        "SELECT s.last_seen_at, u.id, u.login_id, u.name, u.role,
                                u.locked_at IS NOT NULL OR u.deleted_at IS NOT NULL, s.created_at,
                                s.otp_pending,
                                EXISTS (SELECT 1 FROM otp_enrolments o
                                        WHERE o.user_id = u.id AND o.secret_sealed IS NOT NULL)
                         FROM sessions s JOIN users u ON u.id = s.user_id
                         WHERE s.token_sha256 = ?1",
                        [&digest],
                        |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, i64>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, String>(3)?,
                                r.get::<_, String>(4)?,
                                r.get::<_, bool>(5)?,
                                r.get::<_, String>(6)?,
                                (r.get::<_, bool>(7)?, r.get::<_, bool>(8)?),
                            ))
                        },
                    )
                    .optional()?;
                let Some((
                    last_seen,
                    id,
                    login_id,
                    name,
                    role,
                    blocked,
                    created,
                    (otp_pending, enrolled),
                )) = row
                else {
                    return Ok(SessionLookup::Unknown);
                };
                let role = Role::parse(&role);
                let expired = policy.is_expired(parse_ts(&last_seen)?, now)
                    || now >= parse_ts(&created)? + max_age;
                match role {
                    Some(role) if !expired && !blocked && role.may_sign_in_to_console() => {
                        conn.execute(
                            "UPDATE sessions SET last_seen_at = ?1 WHERE token_sha256 = ?2",
                            params![ts(now), digest],
                        )?;
                        let user = CurrentUser {
                            id,
                            login_id,
                            name,
                            role,
                        };
                        use certdesk_domain::otp::SignInNext;
                        let next = if otp_pending {
                            SignInNext::Code
                        } else if !enrolled && otp::load_settings(conn)?.policy.requires(role) {
                            SignInNext::Enrol
                        } else {
                            SignInNext::Done
                        };
                        Ok(match next {
                            SignInNext::Done => SessionLookup::Valid(user),
                            next => SessionLookup::Pending(PendingSignIn { user, next }),
                        })
                    }
                    _ => {
                        conn.execute("DELETE FROM sessions WHERE token_sha256 = ?1", [digest])?;
                        Ok(SessionLookup::Expired)
                    }
                }
            })
            .await
    }

    /// Ends a session and audits it.
    pub async fn sign_out(
        &self,
        token: SessionToken,
        user: CurrentUser,
    ) -> Result<(), ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                tx.execute(
                    "DELETE FROM sessions WHERE token_sha256 = ?1",
                    [token.digest()],
                )?;
                audit::record(
                    &tx,
                    now,
                    &user.actor(),
                    AuditAction::SignOut,
                    Some(&user.login_id),
                    Outcome::Success,
                    serde_json::json!({}),
                )?;
                tx.commit()?;
                Ok(())
            })
            .await
    }
}

/// What the server's middleware found for a request, handed to the server functions.
#[derive(Debug, Clone, Default)]
pub struct RequestSession {
    /// The token the cookie carried, if well-formed.
    pub token: Option<SessionToken>,
    /// The signed-in user, if the session is valid.
    pub user: Option<CurrentUser>,
    /// The cookie named a session that had just expired.
    pub expired: bool,
    /// The session waits for the one-time password or its enrolment (`user` is then `None`).
    pub pending: Option<PendingSignIn>,
}

/// The `Set-Cookie` value for the session cookie: HttpOnly, SameSite=Strict, Path=/; over
/// TLS `Secure` and named `__Host-certdesk_session`. With `None` it clears the cookie.
pub fn cookie_header(token: Option<&SessionToken>, secure: bool) -> String {
    let name = session_cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    match token {
        Some(t) => format!(
            "{name}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
            t.expose()
        ),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// Reads the session cookie out of a `Cookie:` header value: only the name used over TLS
/// (`secure`) or only the plain one, never the other.
pub fn token_from_cookie_header(header: &str, secure: bool) -> Option<SessionToken> {
    let wanted = session_cookie_name(secure);
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .and_then(|(_, value)| SessionToken::from_cookie(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_httponly_strict_and_secure_only_over_tls() {
        let token = SessionToken("a".repeat(64));
        let plain = cookie_header(Some(&token), false);
        assert_eq!(
            plain,
            format!(
                "certdesk_session={}; Path=/; HttpOnly; SameSite=Strict",
                "a".repeat(64)
            )
        );
        let tls = cookie_header(Some(&token), true);
        assert!(tls.starts_with("__Host-certdesk_session="), "{tls}");
        assert!(
            tls.ends_with("; Path=/; HttpOnly; SameSite=Strict; Secure"),
            "{tls}"
        );
        assert!(cookie_header(None, false).contains("Max-Age=0"));
        assert!(cookie_header(None, true).starts_with("__Host-certdesk_session=;"));
    }

    #[test]
    fn only_well_formed_tokens_are_read_from_cookies() {
        let good = "0123456789abcdef".repeat(4);
        assert_eq!(
            token_from_cookie_header(&format!("x=1; certdesk_session={good}"), false)
                .map(|t| t.expose().to_string()),
            Some(good.clone())
        );
        assert!(token_from_cookie_header("certdesk_session=short", false).is_none());
        assert!(
            token_from_cookie_header(&format!("certdesk_session={}", "z".repeat(64)), false)
                .is_none()
        );
        // Over TLS only the __Host- cookie counts, and over plain HTTP only the plain one.
        assert!(token_from_cookie_header(&format!("certdesk_session={good}"), true).is_none());
        assert!(
            token_from_cookie_header(&format!("__Host-certdesk_session={good}"), false).is_none()
        );
        assert!(
            token_from_cookie_header(&format!("__Host-certdesk_session={good}"), true).is_some()
        );
    }
}
