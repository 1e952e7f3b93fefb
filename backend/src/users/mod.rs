//! Users: add, edit, delete (soft), lock and unlock, console passwords, counts.
//!
//! Who may do what: masters and admins manage users; only a master may touch a master or give
//! the master role (an admin cannot promote anyone to master), and the last unlocked master can
//! never be deleted, locked or demoted. The command line on the server acts as a master.

pub mod import;

use crate::auth::password::Hashers;
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::ts;
use crate::Backend;
use certdesk_domain::{Email, LoginId, Password, PersonName, Role};
use rusqlite::Connection;
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

/// The role in column `index` of a `users` row: the one place a stored role is read back. The
/// column is CHECKed to the names [`Role::as_str`] writes, so another value is a broken
/// database and fails the query rather than becoming some role.
pub(crate) fn stored_role(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Role> {
    let text: String = row.get(index)?;
    Role::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("stored role {text:?} is not a role").into(),
        )
    })
}

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
                let id = insert_user(
                    &tx, now, &login_id, &name, &email, role, None, &actor, "direct",
                )?;
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
                    Ok((stored_role(r, 0)?, r.get::<_, u32>(1)?, r.get::<_, u32>(2)?))
                })?;
                for row in rows {
                    let (role, n, locked) = row?;
                    counts.locked += locked;
                    match role {
                        Role::Master => counts.masters = n,
                        Role::Admin => counts.admins = n,
                        Role::General => counts.generals = n,
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
                let role = tx
                    .query_row("SELECT role FROM users WHERE login_key = ?1 AND deleted_at IS NULL", [&key], |r| stored_role(r, 0))
                    .optional()?
                    .ok_or_else(|| ServiceError::UserNotFound { login_id: typed.clone() })?;
                if role == Role::Master {
                    if !acts_as_master(&tx, &actor)? {
                        return Err(ServiceError::Forbidden);
                    }
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
            let role = self
                .db()
                .run(move |conn| {
                    Ok(conn
                        .query_row("SELECT role FROM users WHERE id = ?1", [id], |r| {
                            stored_role(r, 0)
                        })
                        .optional()?)
                })
                .await?;
            if role != Some(Role::Master) {
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

/// True if the actor may act as a master: a signed-in master, or the server's command line
/// and certdesk itself.
pub(crate) fn acts_as_master(conn: &Connection, actor: &Actor) -> Result<bool, ServiceError> {
    Ok(match actor {
        Actor::User { id, .. } => {
            let role = conn
                .query_row(
                    "SELECT role FROM users WHERE id = ?1 AND deleted_at IS NULL",
                    [id],
                    |r| stored_role(r, 0),
                )
                .optional()?;
            role == Some(Role::Master)
        }
        Actor::Cli | Actor::System => true,
        Actor::Anonymous => false,
    })
}

/// A live user as stored.
struct Target {
    login_id: String,
    name: String,
    email: String,
    role: Role,
}

fn load_target(conn: &Connection, user_id: i64) -> Result<Target, ServiceError> {
    conn.query_row(
        "SELECT login_id, name, email, role FROM users WHERE id = ?1 AND deleted_at IS NULL",
        [user_id],
        |r| {
            Ok(Target {
                login_id: r.get(0)?,
                name: r.get(1)?,
                email: r.get(2)?,
                role: stored_role(r, 3)?,
            })
        },
    )
    .optional()?
    .ok_or(ServiceError::UserNotFound {
        login_id: format!("#{user_id}"),
    })
}

/// Masters other than `user_id` that are live and unlocked.
fn other_open_masters(conn: &Connection, user_id: i64) -> Result<u32, ServiceError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM users WHERE role = 'master' AND deleted_at IS NULL AND locked_at IS NULL AND id != ?1",
        [user_id],
        |r| r.get(0),
    )?)
}

/// Inserts a user inside the caller's transaction (limit and uniqueness checked).
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_user(
    tx: &Connection,
    now: time::OffsetDateTime,
    login_id: &LoginId,
    name: &PersonName,
    email: &Email,
    role: Role,
    password_hash: Option<String>,
    actor: &Actor,
    via: &str,
) -> Result<i64, ServiceError> {
    if role != Role::Master {
        let others: u32 = tx.query_row(
            "SELECT count(*) FROM users WHERE deleted_at IS NULL AND role != 'master'",
            [],
            |r| r.get(0),
        )?;
        if others >= MAX_OTHER_USERS {
            return Err(ServiceError::UserLimit {
                max: MAX_OTHER_USERS,
            });
        }
    }
    let taken: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE login_key = ?1 AND deleted_at IS NULL)",
        [login_id.key()],
        |r| r.get(0),
    )?;
    if taken {
        return Err(ServiceError::LoginIdTaken {
            login_id: login_id.as_str().to_string(),
        });
    }
    tx.execute(
        "INSERT INTO users (login_id, login_key, name, email, role, password_hash, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![login_id.as_str(), login_id.key(), name.as_str(), email.as_str(), role.as_str(), password_hash, ts(now)],
    )?;
    let id = tx.last_insert_rowid();
    tx.execute(
        "DELETE FROM unknown_login_failures WHERE login_key = ?1",
        [login_id.key()],
    )?;
    audit::record(
        tx,
        now,
        actor,
        "user_create",
        Some(login_id.as_str()),
        Outcome::Success,
        serde_json::json!({"role": role.as_str(), "via": via}),
    )?;
    Ok(id)
}

/// What the Users page sends to add a user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewUser {
    pub login_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// Console password for masters and admins; empty for none (can be set later).
    pub password: String,
    pub password_confirm: String,
}

/// What the Users page sends to change a user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserChanges {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
}

/// A role as a form sends it (`master`, `admin`, `general`); anything else is refused with the
/// text as given (`E-USER-005`).
pub fn role_from_form(raw: &str) -> Result<Role, ServiceError> {
    Role::parse(raw.trim()).ok_or_else(|| ServiceError::RoleNotAllowed {
        role: raw.trim().to_string(),
    })
}

/// Hashes a new console password (under a hashing permit), or `None` when both fields are empty.
async fn optional_password(
    hashers: &Hashers,
    password: &str,
    confirm: &str,
) -> Result<Option<String>, ServiceError> {
    if password.is_empty() && confirm.is_empty() {
        return Ok(None);
    }
    let password = Password::parse_new(password, confirm)?;
    hashers
        .run(move |permit| {
            crate::auth::password::hash(password.expose(), permit)
                .as_stored()
                .to_string()
        })
        .await
        .map(Some)
}

impl Backend {
    /// Adds a user from the Users page. The master role only by a master; a console password
    /// is kept only for roles that sign in.
    pub async fn add_user(&self, input: NewUser, actor: Actor) -> Result<i64, ServiceError> {
        let login_id = LoginId::parse(&input.login_id)?;
        let name = PersonName::parse(&input.name)?;
        let email = Email::parse(&input.email)?;
        let role = input.role;
        let hash = if role.may_sign_in_to_console() {
            optional_password(self.hashers(), &input.password, &input.password_confirm).await?
        } else {
            None
        };
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if role == Role::Master && !acts_as_master(&tx, &actor)? {
                    return Err(ServiceError::RoleNotAllowed {
                        role: role.as_str().to_string(),
                    });
                }
                let id = insert_user(
                    &tx, now, &login_id, &name, &email, role, hash, &actor, "console",
                )?;
                tx.commit()?;
                Ok(id)
            })
            .await
    }

    /// Changes a user's name, e-mail and role. Only a master may change a master or make one;
    /// the last open master is never demoted. Sessions end when the role can no longer sign in.
    pub async fn update_user(
        &self,
        changes: UserChanges,
        actor: Actor,
    ) -> Result<(), ServiceError> {
        let name = PersonName::parse(&changes.name)?;
        let email = Email::parse(&changes.email)?;
        let role = changes.role;
        let user_id = changes.user_id;
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let target = load_target(&tx, user_id)?;
                let master_involved = target.role == Role::Master || role == Role::Master;
                if master_involved && !acts_as_master(&tx, &actor)? {
                    return Err(if role == Role::Master && target.role != Role::Master {
                        ServiceError::RoleNotAllowed { role: role.as_str().to_string() }
                    } else {
                        ServiceError::Forbidden
                    });
                }
                if target.role == Role::Master && role != Role::Master && other_open_masters(&tx, user_id)? == 0 {
                    return Err(ServiceError::LastMaster);
                }
                let mut changed = Vec::new();
                if target.name != name.as_str() { changed.push("name"); }
                if target.email != email.as_str() { changed.push("email"); }
                if target.role != role { changed.push("role"); }
                if changed.is_empty() {
                    return Ok(());
                }
                tx.execute(
                    "UPDATE users SET name = ?1, email = ?2, role = ?3, updated_at = ?4 WHERE id = ?5",
                    params![name.as_str(), email.as_str(), role.as_str(), ts(now), user_id],
                )?;
                if !role.may_sign_in_to_console() {
                    tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
                }
                audit::record(&tx, now, &actor, "user_update", Some(&target.login_id), Outcome::Success,
                    serde_json::json!({"changed": changed, "role_from": target.role.as_str(), "role_to": role.as_str(), "via": "console"}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Sets a master's or admin's console password (by a master, or by the user themself).
    pub async fn set_console_password(
        &self,
        user_id: i64,
        password: String,
        password_confirm: String,
        actor: Actor,
    ) -> Result<(), ServiceError> {
        let password = Password::parse_new(&password, &password_confirm)?;
        let hash = self
            .hashers()
            .run(move |permit| {
                crate::auth::password::hash(password.expose(), permit)
                    .as_stored()
                    .to_string()
            })
            .await?;
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let target = load_target(&tx, user_id)?;
                let own = matches!(&actor, Actor::User { id, .. } if *id == user_id);
                if !own && !acts_as_master(&tx, &actor)? {
                    return Err(ServiceError::Forbidden);
                }
                if !target.role.may_sign_in_to_console() {
                    return Err(ServiceError::RoleNotAllowed { role: target.role.as_str().to_string() });
                }
                tx.execute(
                    "UPDATE users SET password_hash = ?1, failed_logins = 0, updated_at = ?2 WHERE id = ?3",
                    params![hash, ts(now), user_id],
                )?;
                // Other sessions of that user end; a user changing their own keeps this one.
                if !own {
                    tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
                }
                audit::record(&tx, now, &actor, "password_set", Some(&target.login_id), Outcome::Success, serde_json::json!({}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Soft-deletes a user: kept for the audit trail, gone from every list, login ID free
    /// again. Refused while the user holds a valid certificate (revoke it first), and for the
    /// last open master.
    pub async fn delete_user(&self, user_id: i64, actor: Actor) -> Result<(), ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let target = load_target(&tx, user_id)?;
                if target.role == Role::Master {
                    if !acts_as_master(&tx, &actor)? {
                        return Err(ServiceError::Forbidden);
                    }
                    if other_open_masters(&tx, user_id)? == 0 {
                        return Err(ServiceError::LastMaster);
                    }
                }
                if matches!(&actor, Actor::User { id, .. } if *id == user_id) {
                    return Err(ServiceError::Forbidden);
                }
                let holds_valid: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM certificates WHERE user_id = ?1 AND state = 'valid' AND not_after > ?2)",
                    params![user_id, ts(now)],
                    |r| r.get(0),
                )?;
                if holds_valid {
                    return Err(ServiceError::UserHasCertificate { login_id: target.login_id });
                }
                tx.execute("UPDATE users SET deleted_at = ?1, updated_at = ?1 WHERE id = ?2", params![ts(now), user_id])?;
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
                audit::record(&tx, now, &actor, "user_delete", Some(&target.login_id), Outcome::Success,
                    serde_json::json!({"role": target.role.as_str()}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }
}
