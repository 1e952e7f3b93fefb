//! Users: add, edit, delete (soft), lock and unlock, console passwords, counts.
//!
//! Who may do what: masters and admins manage users; only a master may touch a master or give
//! the master role (an admin cannot promote anyone to master), and the last unlocked master can
//! never be deleted, locked or demoted. The command line on the server acts as a master.

pub mod import;
pub mod workbook;
pub mod xlsx;

use crate::auth::SessionToken;
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::ts;
use crate::Backend;
use certdesk_domain::AuditAction;
use certdesk_domain::{AuthError, UserError};
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
        Err(_) => Err(ServiceError::User(UserError::NotFound { login_id: typed })),
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
            return Err(UserError::RoleNotAllowed {
                role: role.as_str().to_string(),
            }
            .into());
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
                .ok_or(ServiceError::User(UserError::NotFound { login_id: typed }))
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
                    .ok_or_else(|| ServiceError::User(UserError::NotFound { login_id: typed.clone() }))?;
                if role == Role::Master {
                    if !acts_as_master(&tx, &actor)? {
                        return Err(AuthError::Forbidden.into());
                    }
                    let open_masters: u32 = tx.query_row(
                        "SELECT count(*) FROM users WHERE role = 'master' AND deleted_at IS NULL AND locked_at IS NULL",
                        [],
                        |r| r.get(0),
                    )?;
                    if open_masters <= 1 {
                        return Err(UserError::LastMaster.into());
                    }
                }
                tx.execute(
                    "UPDATE users SET locked_at = coalesce(locked_at, ?1), updated_at = ?1 WHERE login_key = ?2 AND deleted_at IS NULL",
                    params![ts(now), key],
                )?;
                tx.execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE login_key = ?1 AND deleted_at IS NULL)", [&key])?;
                audit::record(&tx, now, &actor, AuditAction::Lock, Some(&typed), Outcome::Success, serde_json::json!({"by": "administrator"}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Unlocks (閉塞解除) an account, the permanent lock and a temporary one alike, and clears
    /// its wrong-password count (the back-off step stays until a successful sign-in). Allowed
    /// to masters and to the command line on the server.
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
                return Err(AuthError::Forbidden.into());
            }
        }
        let (typed, key) = lookup_key(login_id)?;
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let changed = tx.execute(
                    "UPDATE users SET locked_at = NULL, locked_until = NULL, failed_logins = 0, updated_at = ?1
                     WHERE login_key = ?2 AND deleted_at IS NULL",
                    params![ts(now), key],
                )?;
                if changed == 0 {
                    return Err(UserError::NotFound { login_id: typed }.into());
                }
                audit::record(
                    &tx,
                    now,
                    &actor,
                    AuditAction::Unlock,
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

/// A running temporary lock (一時的な閉塞), for the Users page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporaryLock {
    pub user_id: i64,
    /// The lock's end, `YYYY-MM-DD hh:mm` in Japan time.
    pub until_jst: String,
}

impl Backend {
    /// The users whose temporary lock has not ended yet.
    pub async fn temporary_locks(&self) -> Result<Vec<TemporaryLock>, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT id, locked_until FROM users
                     WHERE deleted_at IS NULL AND locked_until > ?1 ORDER BY id",
                )?;
                let rows = stmt
                    .query_map([ts(now)], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                rows.into_iter()
                    .map(|(user_id, until)| {
                        Ok(TemporaryLock {
                            user_id,
                            until_jst: certdesk_domain::notices::jst_minute(
                                crate::store::db::parse_ts(&until)?,
                            ),
                        })
                    })
                    .collect()
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
    .ok_or(ServiceError::User(UserError::NotFound {
        login_id: format!("#{user_id}"),
    }))
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
            return Err(UserError::Limit {
                max: MAX_OTHER_USERS,
            }
            .into());
        }
    }
    let taken: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE login_key = ?1 AND deleted_at IS NULL)",
        [login_id.key()],
        |r| r.get(0),
    )?;
    if taken {
        return Err(UserError::LoginIdTaken {
            login_id: login_id.as_str().to_string(),
        }
        .into());
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
        AuditAction::UserCreate,
        Some(login_id.as_str()),
        Outcome::Success,
        serde_json::json!({"role": role.as_str(), "via": via}),
    )?;
    Ok(id)
}

/// What the Users page sends to add a user.
#[derive(Clone, Serialize, Deserialize)]
pub struct NewUser {
    pub login_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// Console password for masters and admins; empty for none (can be set later).
    pub password: String,
    pub password_confirm: String,
}

/// The console password as `***` (empty when none was typed), so a logged input shows none.
impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &str| if s.is_empty() { "" } else { "***" };
        f.debug_struct("NewUser")
            .field("login_id", &self.login_id)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("password", &redacted(&self.password))
            .field("password_confirm", &redacted(&self.password_confirm))
            .finish()
    }
}

/// A new console password, and for one's own the current one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordChange {
    /// Needed (and checked) only when users change their own password.
    pub current_password: String,
    pub password: String,
    pub password_confirm: String,
}

/// May `actor` set the console password of `target`? Users may set their own, masters (and
/// the command line) anyone's; only roles that sign in have one.
fn authorize_password_set(
    conn: &Connection,
    target: &Target,
    own: bool,
    actor: &Actor,
) -> Result<(), ServiceError> {
    if !own && !acts_as_master(conn, actor)? {
        return Err(ServiceError::from(AuthError::Forbidden));
    }
    if !target.role.may_sign_in_to_console() {
        return Err(ServiceError::from(UserError::RoleNotAllowed {
            role: target.role.as_str().to_string(),
        }));
    }
    Ok(())
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
    Role::parse(raw.trim()).ok_or_else(|| {
        ServiceError::User(UserError::RoleNotAllowed {
            role: raw.trim().to_string(),
        })
    })
}

/// Hashes a new console password (under a hashing permit), or `None` when both fields are empty.
async fn optional_password(
    hashers: &crate::auth::password::Hashers,
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
                    return Err(UserError::RoleNotAllowed {
                        role: role.as_str().to_string(),
                    }
                    .into());
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
                        ServiceError::User(UserError::RoleNotAllowed { role: role.as_str().to_string() })
                    } else {
                        ServiceError::Auth(AuthError::Forbidden)
                    });
                }
                if target.role == Role::Master && role != Role::Master && other_open_masters(&tx, user_id)? == 0 {
                    return Err(UserError::LastMaster.into());
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
                audit::record(&tx, now, &actor, AuditAction::UserUpdate, Some(&target.login_id), Outcome::Success,
                    serde_json::json!({"changed": changed, "role_from": target.role.as_str(), "role_to": role.as_str(), "via": "console"}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Sets a master's or admin's console password: by a master, or by the user themself. The
    /// caller's right is checked before any password is hashed. Changing one's own password
    /// needs the current one (a wrong one counts like a wrong sign-in) and ends every other
    /// session of that user, keeping `keep` (the caller's own); a password set by a master ends
    /// all of that user's sessions.
    pub async fn set_console_password(
        &self,
        user_id: i64,
        change: PasswordChange,
        actor: Actor,
        keep: Option<SessionToken>,
    ) -> Result<(), ServiceError> {
        let own = matches!(&actor, Actor::User { id, .. } if *id == user_id);
        // Who may do this, first: nothing below is worth hashing for a caller who may not.
        let check_actor = actor.clone();
        let (login_id, stored_hash) = self
            .db()
            .run(move |conn| {
                let target = load_target(conn, user_id)?;
                authorize_password_set(conn, &target, own, &check_actor)?;
                let hash: Option<String> = conn.query_row(
                    "SELECT password_hash FROM users WHERE id = ?1",
                    [user_id],
                    |r| r.get(0),
                )?;
                Ok((target.login_id, hash))
            })
            .await?;
        let password = Password::parse_new(&change.password, &change.password_confirm)?;
        if own {
            if change.current_password.len() > crate::auth::lockout::MAX_PASSWORD_BYTES {
                return Err(ServiceError::from(AuthError::SignInTooLong));
            }
            self.check_current_password(user_id, &login_id, stored_hash, change.current_password)
                .await?;
        }
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
                // Again inside the transaction that writes: the roles may have changed meanwhile.
                let target = load_target(&tx, user_id)?;
                authorize_password_set(&tx, &target, own, &actor)?;
                tx.execute(
                    "UPDATE users SET password_hash = ?1, failed_logins = 0, updated_at = ?2 WHERE id = ?3",
                    params![hash, ts(now), user_id],
                )?;
                // Every other session of that user ends; a user changing their own keeps this one.
                let kept = keep.filter(|_| own).map(|t| t.digest());
                let ended = tx.execute(
                    "DELETE FROM sessions WHERE user_id = ?1 AND token_sha256 IS NOT ?2",
                    params![user_id, kept],
                )?;
                audit::record(&tx, now, &actor, AuditAction::PasswordSet, Some(&target.login_id), Outcome::Success,
                    serde_json::json!({"own": own, "sessions_ended": ended}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Verifies the current password of a user changing their own. A wrong one is counted
    /// like a wrong sign-in (and may lock the account for a while); a running temporary lock
    /// refuses without verifying.
    async fn check_current_password(
        &self,
        user_id: i64,
        login_id: &str,
        stored_hash: Option<String>,
        current: String,
    ) -> Result<(), ServiceError> {
        let now = self.clock().now();
        let counter = self
            .db()
            .run(move |conn| crate::auth::user_counter(conn, user_id))
            .await?;
        if let Some(until) = counter.locked_at(now) {
            return Err(ServiceError::from(AuthError::TemporarilyLocked { until }));
        }
        let me = self.clone();
        let ok = self
            .hashers()
            .run(move |permit| {
                let hash = stored_hash
                    .map(crate::auth::password::PasswordHash::from_stored)
                    .unwrap_or_else(|| me.inner_dummy_hash(permit));
                crate::auth::password::verify(&current, &hash, permit)
            })
            .await?;
        if ok {
            return Ok(());
        }
        let login_id = login_id.to_string();
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                // Re-read: another request may have counted meanwhile.
                let counter = crate::auth::user_counter(&tx, user_id)?;
                let failure = match counter.locked_at(now) {
                    Some(until) => Err(ServiceError::from(AuthError::TemporarilyLocked { until })),
                    None => Ok(crate::auth::count_user_failure(&tx, now, user_id, counter)?),
                };
                audit::record(
                    &tx,
                    now,
                    &Actor::User {
                        id: user_id,
                        login_id: login_id.clone(),
                    },
                    AuditAction::PasswordSet,
                    Some(&login_id),
                    Outcome::Failure,
                    serde_json::json!({"reason": "wrong_current_password"}),
                )?;
                let refusal = match failure {
                    Err(locked) => locked,
                    Ok(failure) => {
                        crate::auth::audit_temporary_lock(&tx, now, failure, &login_id)?;
                        failure.refusal(AuthError::WrongCurrentPassword).into()
                    }
                };
                tx.commit()?;
                Err(refusal)
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
                        return Err(AuthError::Forbidden.into());
                    }
                    if other_open_masters(&tx, user_id)? == 0 {
                        return Err(UserError::LastMaster.into());
                    }
                }
                if matches!(&actor, Actor::User { id, .. } if *id == user_id) {
                    return Err(AuthError::Forbidden.into());
                }
                let holds_valid: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM certificates WHERE user_id = ?1 AND state = 'valid' AND not_after > ?2)",
                    params![user_id, ts(now)],
                    |r| r.get(0),
                )?;
                if holds_valid {
                    return Err(UserError::HasCertificate { login_id: target.login_id }.into());
                }
                tx.execute("UPDATE users SET deleted_at = ?1, updated_at = ?1 WHERE id = ?2", params![ts(now), user_id])?;
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
                audit::record(&tx, now, &actor, AuditAction::UserDelete, Some(&target.login_id), Outcome::Success,
                    serde_json::json!({"role": target.role.as_str()}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }
}
