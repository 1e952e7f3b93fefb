//! The audit log: who did what, when, to what, and how it ended. Written with
//! [`record`] inside the transaction of the change it describes; read by the Audit log page.

use crate::error::ServiceError;
use crate::store::db::{self, ts};
use crate::Backend;
use certdesk_domain::AuditAction;
use rusqlite::{params, Connection};
use serde::Serialize;
use time::OffsetDateTime;

/// Who did it.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A signed-in console user (id, login ID at the time).
    User { id: i64, login_id: String },
    /// Someone not signed in (e.g. a failed sign-in).
    Anonymous,
    /// The `certdesk` command line on the server.
    Cli,
    /// certdesk itself (jobs).
    System,
}

impl Actor {
    /// The user id (if a console user) and the name the audit log records.
    pub(crate) fn columns(&self) -> (Option<i64>, String) {
        match self {
            Actor::User { id, login_id } => (Some(*id), login_id.clone()),
            Actor::Anonymous => (None, "anonymous".into()),
            Actor::Cli => (None, "cli".into()),
            Actor::System => (None, "system".into()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

/// Appends one audit row. `detail` is JSON and must never contain a secret.
pub fn record(
    conn: &Connection,
    at: OffsetDateTime,
    actor: &Actor,
    action: AuditAction,
    target: Option<&str>,
    outcome: Outcome,
    detail: serde_json::Value,
) -> Result<(), ServiceError> {
    let (actor_id, actor_name) = actor.columns();
    conn.execute(
        "INSERT INTO audit_log (at, actor_user_id, actor, action, target, outcome, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            ts(at),
            actor_id,
            actor_name,
            action.as_str(),
            target,
            match outcome {
                Outcome::Success => "success",
                Outcome::Failure => "failure",
            },
            detail.to_string()
        ],
    )?;
    Ok(())
}

/// One row as the Audit log page shows it. `action` is the stored name
/// ([`AuditAction::parse`] reads it back; a name this certdesk does not know stays as it is).
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub detail: String,
}

impl Backend {
    /// The newest `limit` audit rows, newest first.
    pub async fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>, ServiceError> {
        self.db()
            .run(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT id, at, actor, action, target, outcome, detail
                     FROM audit_log ORDER BY id DESC LIMIT ?1",
                )?;
                let rows = stmt
                    .query_map([limit], |r| {
                        Ok(AuditEntry {
                            id: r.get(0)?,
                            at: r.get(1)?,
                            actor: r.get(2)?,
                            action: r.get(3)?,
                            target: r.get(4)?,
                            outcome: r.get(5)?,
                            detail: r.get(6)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                // Validate the stored timestamps once here, so a corrupt row is reported.
                for row in &rows {
                    db::parse_ts(&row.at)?;
                }
                Ok(rows)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_serialises_as_its_stored_name() {
        for action in AuditAction::ALL {
            let json = serde_json::to_value(action).expect("an enum serialises");
            assert_eq!(json, serde_json::Value::from(action.as_str()), "{action:?}");
            let back: AuditAction = serde_json::from_value(json).expect("and reads back");
            assert_eq!(back, action);
        }
    }
}
