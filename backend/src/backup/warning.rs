//! The backup warning in the daily notice mail to masters: when the dashboard warns (the last
//! backup failed, or with a schedule the last success is older than twice the interval; the
//! rule is [`Backend::backup_status`]'s), the daily notice job queues one mail to every master,
//! at most one a day (a restart re-runs the job; the one already queued in the last 20 hours
//! counts).

use crate::error::ServiceError;
use crate::store::db::ts;
use crate::Backend;
use certdesk_domain::backup::{warning_mail, WARNING_MAIL_SUBJECT};
use rusqlite::{params, OptionalExtension};
use time::{Duration, OffsetDateTime};

impl Backend {
    /// Queues the backup warning for the masters if the dashboard warns and none was queued
    /// in the last 20 hours. Returns whether one was queued.
    pub(crate) async fn queue_backup_warning(
        &self,
        now: OffsetDateTime,
    ) -> Result<bool, ServiceError> {
        let every = self.backup_interval().await?;
        let status = self.backup_status(every).await?;
        if !status.warn {
            return Ok(false);
        }
        let console_url = self.settings().public_url.clone();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let enabled: bool = tx
                    .query_row("SELECT email_enabled FROM notification_settings WHERE id = 1", [], |r| r.get(0))
                    .optional()?
                    .unwrap_or(false);
                let Some(org) = tx
                    .query_row("SELECT name FROM organisation WHERE id = 1", [], |r| r.get::<_, String>(0))
                    .optional()?
                else {
                    return Ok(false);
                };
                if !enabled {
                    return Ok(false);
                }
                let already: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM mail_outbox WHERE notice_id IS NULL AND subject = ?1 AND created_at > ?2 LIMIT 1",
                        params![WARNING_MAIL_SUBJECT, ts(now - Duration::hours(20))],
                        |r| r.get(0),
                    )
                    .optional()?;
                if already.is_some() {
                    return Ok(false);
                }
                let mut stmt = tx.prepare(
                    "SELECT email FROM users WHERE role = 'master' AND deleted_at IS NULL AND email <> '' ORDER BY id",
                )?;
                let masters = stmt
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                drop(stmt);
                if masters.is_empty() {
                    return Ok(false);
                }
                let m = warning_mail(&org, &status, &console_url);
                tx.execute(
                    "INSERT INTO mail_outbox (notice_id, to_addresses, cc_addresses, subject, body, next_attempt_at, created_at)
                     VALUES (NULL, ?1, '', ?2, ?3, ?4, ?4)",
                    params![masters.join(", "), m.subject, m.body, ts(now)],
                )?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }
}
