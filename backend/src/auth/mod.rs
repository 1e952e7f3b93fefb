//! Console sign-in, sessions and the lockout (閉塞).
//!
//! - Only masters and admins sign in; general users have no password.
//! - A wrong password counts against the login ID; the 5th in a row locks the account until a
//!   master unlocks it. Unknown login IDs are counted the same way in their own table, and a
//!   dummy hash is verified for them, so neither the message nor the time taken tells whether
//!   a login ID exists.
//! - The session token is 256 random bits in an HttpOnly cookie; the database keeps only its
//!   SHA-256. A new token is made at every sign-in (rotation); a session ends after the idle
//!   timeout or at sign-out.

pub mod password;

use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::{parse_ts, ts};
use crate::Backend;
use certdesk_domain::auth::FailureOutcome;
use certdesk_domain::{LockoutPolicy, LoginId, Role};
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "certdesk_session";

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

    fn digest(&self) -> String {
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
    failed_logins: u32,
    locked: bool,
}

fn find_account(conn: &Connection, login_key: &str) -> Result<Option<Account>, ServiceError> {
    Ok(conn
        .query_row(
            "SELECT id, login_id, name, role, password_hash, failed_logins, locked_at IS NOT NULL
             FROM users WHERE login_key = ?1 AND deleted_at IS NULL",
            [login_key],
            |r| {
                let role: String = r.get(3)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    role,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, u32>(5)?,
                    r.get::<_, bool>(6)?,
                ))
            },
        )
        .optional()?
        .and_then(|(id, login_id, name, role, hash, failed_logins, locked)| {
            let role = Role::parse(&role)?;
            Some(Account {
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
                failed_logins,
                locked,
            })
        }))
}

impl Backend {
    /// Signs a master or admin in. On success the old session (if a cookie was presented) is
    /// deleted and a new one made. Every attempt is audited.
    pub async fn sign_in(
        &self,
        login_id: &str,
        password_text: &str,
        previous: Option<SessionToken>,
    ) -> Result<(SessionToken, CurrentUser), ServiceError> {
        if self.needs_setup() {
            return Err(ServiceError::NotSetUp);
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
        let policy = LockoutPolicy::default();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let target = Some(typed.as_str());
                let result = match account {
                    Some(acc) if acc.hash.is_some() => {
                        let actor = acc.user.actor();
                        if acc.locked {
                            audit::record(&tx, now, &actor, "sign_in", target, Outcome::Failure,
                                serde_json::json!({"reason": "locked"}))?;
                            Err(ServiceError::AccountLocked)
                        } else if password_ok {
                            tx.execute(
                                "UPDATE users SET failed_logins = 0 WHERE id = ?1",
                                [acc.user.id],
                            )?;
                            if let Some(old) = previous {
                                tx.execute(
                                    "DELETE FROM sessions WHERE token_sha256 = ?1",
                                    [old.digest()],
                                )?;
                            }
                            let token = create_session(&tx, acc.user.id, now)?;
                            audit::record(&tx, now, &actor, "sign_in", target, Outcome::Success,
                                serde_json::json!({}))?;
                            Ok((token, acc.user))
                        } else {
                            match policy.after_failure(acc.failed_logins) {
                                FailureOutcome::StillOpen { failures } => {
                                    tx.execute(
                                        "UPDATE users SET failed_logins = ?1 WHERE id = ?2",
                                        params![failures, acc.user.id],
                                    )?;
                                    audit::record(&tx, now, &Actor::Anonymous, "sign_in", target,
                                        Outcome::Failure,
                                        serde_json::json!({"reason": "wrong_password", "failures": failures}))?;
                                    Err(ServiceError::SignInFailed)
                                }
                                FailureOutcome::LockedNow { failures } => {
                                    tx.execute(
                                        "UPDATE users SET failed_logins = ?1, locked_at = ?2 WHERE id = ?3",
                                        params![failures, ts(now), acc.user.id],
                                    )?;
                                    tx.execute("DELETE FROM sessions WHERE user_id = ?1", [acc.user.id])?;
                                    audit::record(&tx, now, &Actor::Anonymous, "sign_in", target,
                                        Outcome::Failure,
                                        serde_json::json!({"reason": "wrong_password", "failures": failures}))?;
                                    audit::record(&tx, now, &Actor::System, "lock", target,
                                        Outcome::Success,
                                        serde_json::json!({"after_failures": failures}))?;
                                    Err(ServiceError::AccountLocked)
                                }
                            }
                        }
                    }
                    _ => {
                        // Unknown login ID (or one that may not sign in): count it the same way.
                        let counted_key = key.unwrap_or_else(|| typed.to_ascii_lowercase());
                        let previous: u32 = tx
                            .query_row(
                                "SELECT failures FROM unknown_login_failures WHERE login_key = ?1",
                                [&counted_key],
                                |r| r.get(0),
                            )
                            .optional()?
                            .unwrap_or(0);
                        let (failures, locked) = match policy.after_failure(previous) {
                            FailureOutcome::StillOpen { failures } => (failures, false),
                            FailureOutcome::LockedNow { failures } => (failures, true),
                        };
                        tx.execute(
                            "INSERT INTO unknown_login_failures (login_key, failures, last_failed_at)
                             VALUES (?1, ?2, ?3)
                             ON CONFLICT (login_key) DO UPDATE SET failures = ?2, last_failed_at = ?3",
                            params![counted_key, failures, ts(now)],
                        )?;
                        audit::record(&tx, now, &Actor::Anonymous, "sign_in", target, Outcome::Failure,
                            serde_json::json!({"reason": "unknown_login_id"}))?;
                        Err(if locked { ServiceError::AccountLocked } else { ServiceError::SignInFailed })
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

    fn inner_dummy_hash(&self, permit: &password::HashPermit) -> password::PasswordHash {
        self.inner
            .dummy_hash
            .get_or_init(|| password::dummy_hash(permit))
            .clone()
    }

    /// Looks a session cookie up; a valid session's idle timer restarts, an expired one is
    /// deleted.
    pub async fn resolve_session(
        &self,
        token: SessionToken,
    ) -> Result<SessionLookup, ServiceError> {
        let now = self.clock().now();
        let policy = self.settings().session;
        self.db()
            .run(move |conn| {
                let digest = token.digest();
                let row = conn
                    .query_row(
                        "SELECT s.last_seen_at, u.id, u.login_id, u.name, u.role,
                                u.locked_at IS NOT NULL OR u.deleted_at IS NOT NULL
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
                            ))
                        },
                    )
                    .optional()?;
                let Some((last_seen, id, login_id, name, role, blocked)) = row else {
                    return Ok(SessionLookup::Unknown);
                };
                let role = Role::parse(&role);
                let expired = policy.is_expired(parse_ts(&last_seen)?, now);
                match role {
                    Some(role) if !expired && !blocked && role.may_sign_in_to_console() => {
                        conn.execute(
                            "UPDATE sessions SET last_seen_at = ?1 WHERE token_sha256 = ?2",
                            params![ts(now), digest],
                        )?;
                        Ok(SessionLookup::Valid(CurrentUser {
                            id,
                            login_id,
                            name,
                            role,
                        }))
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
                    "sign_out",
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
}

/// The `Set-Cookie` value for the session cookie: HttpOnly, SameSite=Strict, Path=/, Secure
/// when the console is served over TLS. With `None` it clears the cookie.
pub fn cookie_header(token: Option<&SessionToken>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match token {
        Some(t) => format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
            t.expose()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// Reads the session cookie out of a `Cookie:` header value.
pub fn token_from_cookie_header(header: &str) -> Option<SessionToken> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
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
        assert!(cookie_header(Some(&token), true).ends_with("; Secure"));
        assert!(cookie_header(None, false).contains("Max-Age=0"));
    }

    #[test]
    fn only_well_formed_tokens_are_read_from_cookies() {
        let good = "0123456789abcdef".repeat(4);
        assert_eq!(
            token_from_cookie_header(&format!("x=1; certdesk_session={good}"))
                .map(|t| t.expose().to_string()),
            Some(good)
        );
        assert!(token_from_cookie_header("certdesk_session=short").is_none());
        assert!(
            token_from_cookie_header(&format!("certdesk_session={}", "z".repeat(64))).is_none()
        );
    }
}
