//! Users: what the foundation needs (counts for the dashboard, unlock). The Users page
//! fills this in later.

use crate::audit::{self, Actor, Outcome};
use crate::db::ts;
use crate::error::ServiceError;
use crate::Backend;
use certdesk_domain::{Email, LoginId, PersonName, Role};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

/// Users by role and lock state, for the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCounts {
    pub masters: u32,
    pub admins: u32,
    pub generals: u32,
    pub locked: u32,
}

impl UserCounts {
    pub fn total(&self) -> u32 {
        self.masters + self.admins + self.generals
    }
}

/// The login ID as typed (trimmed) and its lookup key; a login ID that breaks the rule cannot
/// exist, so it is reported as not found.
fn lookup_key(login_id: &str) -> Result<(String, String), ServiceError> {
    let typed = login_id.trim().to_string();
    match LoginId::parse(&typed) {
        Ok(id) => Ok((typed, id.key())),
        Err(_) => Err(ServiceError::UserNotFound { login_id: typed }),
    }
}

/// At most this many users besides the master (DOMAIN.md: 1 master + 99 others).
pub const MAX_OTHER_USERS: u32 = 99;

impl Backend {
    /// Adds an admin or general user (no console password yet). Returns the new user's id.
    pub async fn create_user(
        &self,
        login_id: &str,
        name: &str,
        email: &str,
        role: Role,
        actor: Actor,
    ) -> Result<i64, ServiceError> {
        let login_id = LoginId::parse(login_id)?;
        let name = PersonName::parse(name)?;
        let email = Email::parse(email)?;
        if role == Role::Master {
            return Err(ServiceError::RoleNotAllowed {
                role: role.as_str().to_string(),
            });
        }
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let others: u32 = tx.query_row(
                    "SELECT count(*) FROM users WHERE deleted_at IS NULL AND role != 'master'",
                    [],
                    |r| r.get(0),
                )?;
                if others >= MAX_OTHER_USERS {
                    return Err(ServiceError::UserLimit { max: MAX_OTHER_USERS });
                }
                let taken: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM users WHERE login_key = ?1 AND deleted_at IS NULL)",
                    [login_id.key()],
                    |r| r.get(0),
                )?;
                if taken {
                    return Err(ServiceError::LoginIdTaken { login_id: login_id.as_str().to_string() });
                }
                tx.execute(
                    "INSERT INTO users (login_id, login_key, name, email, role, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    params![login_id.as_str(), login_id.key(), name.as_str(), email.as_str(), role.as_str(), ts(now)],
                )?;
                let id = tx.last_insert_rowid();
                tx.execute("DELETE FROM unknown_login_failures WHERE login_key = ?1", [login_id.key()])?;
                audit::record(&tx, now, &actor, "user_create", Some(login_id.as_str()), Outcome::Success,
                    serde_json::json!({"role": role.as_str()}))?;
                tx.commit()?;
                Ok(id)
            })
            .await
    }

    /// The id of the (not deleted) user with this login ID.
    pub async fn user_id(&self, login_id: &str) -> Result<i64, ServiceError> {
        let (typed, key) = lookup_key(login_id)?;
        self.db()
            .run(move |conn| {
                conn.query_row(
                    "SELECT id FROM users WHERE login_key = ?1 AND deleted_at IS NULL",
                    [key],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or(ServiceError::UserNotFound { login_id: typed })
            })
            .await
    }

    pub async fn user_counts(&self) -> Result<UserCounts, ServiceError> {
        self.db()
            .run(|conn| {
                let mut counts = UserCounts::default();
                let mut stmt = conn.prepare(
                    "SELECT role, count(*), sum(locked_at IS NOT NULL)
                     FROM users WHERE deleted_at IS NULL GROUP BY role",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, u32>(1)?,
                        r.get::<_, u32>(2)?,
                    ))
                })?;
                for row in rows {
                    let (role, n, locked) = row?;
                    counts.locked += locked;
                    match Role::parse(&role) {
                        Some(Role::Master) => counts.masters = n,
                        Some(Role::Admin) => counts.admins = n,
                        Some(Role::General) => counts.generals = n,
                        None => {}
                    }
                }
                Ok(counts)
            })
            .await
    }

    /// Locks (閉塞) an account: it cannot sign in and gets no new certificate. The last
    /// unlocked master can never be locked.
    pub async fn lock_user(&self, login_id: &str, actor: Actor) -> Result<(), ServiceError> {
        let (typed, key) = lookup_key(login_id)?;
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let role: String = tx
                    .query_row("SELECT role FROM users WHERE login_key = ?1 AND deleted_at IS NULL", [&key], |r| r.get(0))
                    .optional()?
                    .ok_or_else(|| ServiceError::UserNotFound { login_id: typed.clone() })?;
                if role == Role::Master.as_str() {
                    let open_masters: u32 = tx.query_row(
                        "SELECT count(*) FROM users WHERE role = 'master' AND deleted_at IS NULL AND locked_at IS NULL",
                        [],
                        |r| r.get(0),
                    )?;
                    if open_masters <= 1 {
                        return Err(ServiceError::LastMaster);
                    }
                }
                tx.execute(
                    "UPDATE users SET locked_at = coalesce(locked_at, ?1), updated_at = ?1 WHERE login_key = ?2 AND deleted_at IS NULL",
                    params![ts(now), key],
                )?;
                tx.execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE login_key = ?1 AND deleted_at IS NULL)", [&key])?;
                audit::record(&tx, now, &actor, "lock", Some(&typed), Outcome::Success, serde_json::json!({"by": "administrator"}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Unlocks (閉塞解除) an account and clears its wrong-password count. Allowed to masters
    /// and to the command line on the server.
    pub async fn unlock_user(&self, login_id: &str, actor: Actor) -> Result<(), ServiceError> {
        if let Actor::User { id, .. } = &actor {
            let id = *id;
            let role: Option<String> = self
                .db()
                .run(move |conn| {
                    Ok(conn
                        .query_row("SELECT role FROM users WHERE id = ?1", [id], |r| r.get(0))
                        .optional()?)
                })
                .await?;
            if role.as_deref() != Some(Role::Master.as_str()) {
                return Err(ServiceError::Forbidden);
            }
        }
        let (typed, key) = lookup_key(login_id)?;
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let changed = tx.execute(
                    "UPDATE users SET locked_at = NULL, failed_logins = 0, updated_at = ?1
                     WHERE login_key = ?2 AND deleted_at IS NULL",
                    params![ts(now), key],
                )?;
                if changed == 0 {
                    return Err(ServiceError::UserNotFound { login_id: typed });
                }
                audit::record(
                    &tx,
                    now,
                    &actor,
                    "unlock",
                    Some(&typed),
                    Outcome::Success,
                    serde_json::json!({}),
                )?;
                tx.commit()?;
                Ok(())
            })
            .await
    }
}
