//! Users: what the foundation needs (counts for the dashboard, unlock). The Users page
//! fills this in later.

use crate::audit::{self, Actor, Outcome};
use crate::db::ts;
use crate::error::ServiceError;
use crate::Backend;
use certdesk_domain::{LoginId, Role};
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

impl Backend {
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
        let typed = login_id.trim().to_string();
        let key = LoginId::parse(&typed)
            .map_err(|_| ServiceError::UserNotFound {
                login_id: typed.clone(),
            })?
            .key();
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
