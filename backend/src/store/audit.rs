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

/// A target longer than this many characters is cut (the log is append-only, and a target
/// may come from anyone, e.g. a typed login ID).
pub const TARGET_MAX_CHARS: usize = 128;
/// A detail (JSON text) longer than this many characters is cut.
pub const DETAIL_MAX_CHARS: usize = 4096;

/// The target as stored: at most [`TARGET_MAX_CHARS`] characters, a cut one ending in `…`.
fn cut_target(target: &str) -> std::borrow::Cow<'_, str> {
    if target.chars().count() <= TARGET_MAX_CHARS {
        return target.into();
    }
    let kept: String = target.chars().take(TARGET_MAX_CHARS - 1).collect();
    format!("{kept}…").into()
}

/// The detail as stored: the JSON text, or when too long a JSON object that says so and
/// keeps the start of it (`{"cut": true, "chars": n, "start": "..."}`).
fn cut_detail(detail: &serde_json::Value) -> String {
    let text = detail.to_string();
    let chars = text.chars().count();
    if chars <= DETAIL_MAX_CHARS {
        return text;
    }
    // Leave room for the wrapper and the escaping of the kept start.
    let start: String = text.chars().take(DETAIL_MAX_CHARS / 4).collect();
    serde_json::json!({"cut": true, "chars": chars, "start": start}).to_string()
}

/// Appends one audit row. `detail` is JSON and must never contain a secret. A long target or
/// detail is cut to a fixed length and marked as cut.
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
            target.map(cut_target),
            match outcome {
                Outcome::Success => "success",
                Outcome::Failure => "failure",
            },
            cut_detail(&detail)
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

    #[test]
    fn long_targets_and_details_are_cut_and_marked() {
        assert_eq!(cut_target("master01"), "master01");
        let long = "é".repeat(1000);
        let cut = cut_target(&long);
        assert_eq!(cut.chars().count(), TARGET_MAX_CHARS);
        assert!(cut.ends_with('…'));

        let small = serde_json::json!({"reason": "x"});
        assert_eq!(cut_detail(&small), small.to_string());
        let big = serde_json::json!({"text": "\"".repeat(100_000)});
        let stored = cut_detail(&big);
        assert!(
            stored.chars().count() <= DETAIL_MAX_CHARS,
            "{}",
            stored.len()
        );
        let parsed: serde_json::Value = serde_json::from_str(&stored).expect("still JSON");
        assert_eq!(parsed["cut"], true);
        assert_eq!(parsed["chars"], big.to_string().chars().count());
    }
}
