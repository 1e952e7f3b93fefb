//! Renewal notices and their e-mail.
//!
//! * The **daily job** ([`Backend::run_notice_job`]) finds valid certificates that reached a
//!   threshold (default 40 and 7 days before expiry) and records one notice per certificate
//!   and threshold, in one transaction with its audit row and the queued mail. The unique
//!   index `notices_once_per_threshold` makes "never twice" hold across restarts and runs.
//!   `jobs::notices` runs it at start-up and then every day at the configured hour in Japan
//!   time (fixed +09:00; Japan has no daylight saving time).
//! * The **sender** ([`Backend::send_due_mail`] once, `jobs::mail` as a loop)
//!   sends queued mail; a failure is stored with its `E-MAIL-*` code and tried again with
//!   backoff, and never blocks the job. After `MAX_MAIL_ATTEMPTS` a mail is given up; the
//!   dashboard shows both.
//! * The **settings** live in one row; the SMTP password is sealed with its own HKDF purpose
//!   and appears in no log, audit row or response.

pub mod mail;

use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::{parse_ts, ts};
use crate::store::secrets::Purpose;
use crate::Backend;
use certdesk_domain::lifecycle::{CertificateFacts, StoredState};
use certdesk_domain::notices::{
    due_threshold, notice_mail, retry_delay, test_mail, MailError, NoticeFacts, NoticeMail,
    NoticeSettingsError, NotificationSettings, SmtpSecurity, MAX_MAIL_ATTEMPTS,
};
use certdesk_domain::AuditAction;
use certdesk_domain::UserError;
use mail::SmtpConfig;
use rusqlite::{params, Connection, OptionalExtension};
use time::{Duration, OffsetDateTime};

const PASSWORD_RECORD: &str = "smtp password";

/// What one run of the daily job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoticeRun {
    /// Notices recorded now.
    pub recorded: u32,
    /// Mails queued now.
    pub queued: u32,
}

/// What one pass of the sender did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailRound {
    pub sent: u32,
    pub failed: u32,
}

fn load_settings(
    conn: &Connection,
) -> Result<(NotificationSettings, Option<Vec<u8>>), ServiceError> {
    let row = conn
        .query_row(
            "SELECT email_enabled, first_days, second_days, notify_user, notify_admins, extra_recipients, daily_hour,
                    smtp_host, smtp_port, smtp_security, smtp_username, smtp_password_sealed, mail_from
             FROM notification_settings WHERE id = 1",
            [],
            |r| {
                let security: String = r.get(9)?;
                let sealed: Option<Vec<u8>> = r.get(11)?;
                Ok((
                    NotificationSettings {
                        email_enabled: r.get(0)?,
                        first_days: r.get(1)?,
                        second_days: r.get(2)?,
                        notify_user: r.get(3)?,
                        notify_admins: r.get(4)?,
                        extra_recipients: r.get(5)?,
                        daily_hour: r.get(6)?,
                        smtp_host: r.get(7)?,
                        smtp_port: r.get(8)?,
                        smtp_security: SmtpSecurity::parse(&security).unwrap_or(SmtpSecurity::StartTls),
                        smtp_username: r.get(10)?,
                        smtp_password_set: sealed.is_some(),
                        mail_from: r.get(12)?,
                    },
                    sealed,
                ))
            },
        )
        .optional()?;
    Ok(row.unwrap_or_default())
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

/// To: the certificate's user; Cc: masters and admins, then the extra addresses; each address
/// once (case ignored). Without the user, the first copy recipient becomes To.
fn recipients(
    settings: &NotificationSettings,
    user_email: &str,
    admins: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    let mut keep = |a: &str| !a.trim().is_empty() && seen.insert(a.trim().to_ascii_lowercase());
    let mut to = Vec::new();
    if settings.notify_user && keep(user_email) {
        to.push(user_email.trim().to_string());
    }
    let mut cc = Vec::new();
    if settings.notify_admins {
        cc.extend(
            admins
                .iter()
                .filter(|a| keep(a))
                .map(|a| a.trim().to_string()),
        );
    }
    let extra = settings.extra_recipient_list().unwrap_or_default();
    cc.extend(extra.iter().filter(|a| keep(a)).cloned());
    if to.is_empty() && !cc.is_empty() {
        to.push(cc.remove(0));
    }
    (to, cc)
}

/// Builds and sends one mail; without a server or sender that is `E-MAIL-006`, before any
/// address is looked at.
async fn deliver(
    config: &SmtpConfig,
    to: &[String],
    cc: &[String],
    m: &NoticeMail,
) -> Result<(), mail::SendFailure> {
    if config.host.trim().is_empty() || config.from.trim().is_empty() {
        return Err(mail::SendFailure {
            error: MailError::NotConfigured,
            detail: "no SMTP host or sender in Settings".into(),
        });
    }
    let message = mail::build_message(&config.from, to, cc, m)?;
    mail::send(config, &message).await
}

impl Backend {
    /// The notification settings (defaults until saved).
    pub async fn notification_settings(&self) -> Result<NotificationSettings, ServiceError> {
        self.db().run(|conn| Ok(load_settings(conn)?.0)).await
    }

    /// Saves the notification settings; audited without the password. `password`: `Some` to
    /// set a new one, `None` to keep the stored one while the SMTP host, port and user stay
    /// (otherwise it is dropped, audited as `secret_dropped`); `clear_password` removes it.
    pub async fn update_notification_settings(
        &self,
        settings: NotificationSettings,
        password: Option<String>,
        clear_password: bool,
        actor: Actor,
    ) -> Result<(), ServiceError> {
        settings.validate()?;
        let now = self.clock().now();
        let sealed = match password.filter(|p| !p.is_empty()) {
            Some(p) => Some(self.master_key().seal(
                Purpose::SmtpPassword,
                PASSWORD_RECORD,
                p.as_bytes(),
            )?),
            None => None,
        };
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let (before, stored) = load_settings(&tx)?;
                // The stored password belongs to the server and user it was typed for: a new
                // host, port or user drops it unless it is typed again.
                let same_destination = before.smtp_host.trim().eq_ignore_ascii_case(settings.smtp_host.trim())
                    && before.smtp_port == settings.smtp_port
                    && before.smtp_username.trim() == settings.smtp_username.trim();
                let kept = stored.filter(|_| same_destination);
                let dropped = sealed.is_none() && !clear_password && before.smtp_password_set && !same_destination;
                let password = if clear_password { None } else { sealed.or(kept) };
                let s = &settings;
                tx.execute(
                    "INSERT INTO notification_settings (id, email_enabled, first_days, second_days, notify_user, notify_admins,
                        extra_recipients, daily_hour, smtp_host, smtp_port, smtp_security, smtp_username, smtp_password_sealed,
                        mail_from, updated_at)
                     VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                     ON CONFLICT (id) DO UPDATE SET email_enabled = ?1, first_days = ?2, second_days = ?3, notify_user = ?4,
                        notify_admins = ?5, extra_recipients = ?6, daily_hour = ?7, smtp_host = ?8, smtp_port = ?9,
                        smtp_security = ?10, smtp_username = ?11, smtp_password_sealed = ?12, mail_from = ?13, updated_at = ?14",
                    params![s.email_enabled, s.first_days, s.second_days, s.notify_user, s.notify_admins,
                        s.extra_recipients.trim(), s.daily_hour, s.smtp_host.trim(), s.smtp_port, s.smtp_security.as_str(),
                        s.smtp_username.trim(), password, s.mail_from.trim(), ts(now)],
                )?;
                let mut detail = serde_json::to_value(s).unwrap_or_default();
                detail["smtp_password_set"] = serde_json::Value::Bool(password.is_some());
                detail["smtp_password_dropped"] = serde_json::Value::Bool(dropped);
                audit::record(&tx, now, &actor, AuditAction::NotificationSettingsUpdate, Some("notifications"), Outcome::Success, detail)?;
                if dropped {
                    audit::record(&tx, now, &actor, AuditAction::SecretDropped, Some("notifications"), Outcome::Success,
                        serde_json::json!({"dropped": ["smtp_password"], "reason": "destination changed",
                            "smtp_host": s.smtp_host.trim(), "smtp_port": s.smtp_port, "smtp_username": s.smtp_username.trim()}))?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// The daily job, once: records due notices and queues their mail.
    pub async fn run_notice_job(&self) -> Result<NoticeRun, ServiceError> {
        let now = self.clock().now();
        let console_url = self.settings().public_url.clone();
        let run = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let (settings, _) = load_settings(&tx)?;
                let Some(org) = tx
                    .query_row("SELECT name FROM organisation WHERE id = 1", [], |r| r.get::<_, String>(0))
                    .optional()?
                else {
                    return Ok(NoticeRun::default());
                };
                let thresholds = settings.thresholds();
                let horizon = now + Duration::days(i64::from(thresholds[0].max(thresholds[1])));
                let mut stmt = tx.prepare(
                    "SELECT c.id, c.user_id, c.serial, c.not_before, c.not_after, u.login_id, u.name, u.email
                     FROM certificates c JOIN users u ON u.id = c.user_id
                     WHERE c.state = 'valid' AND c.not_after >= ?1 AND c.not_after <= ?2 AND u.deleted_at IS NULL
                     ORDER BY c.not_after",
                )?;
                let candidates = stmt
                    .query_map(params![ts(now), ts(horizon)], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, String>(5)?,
                            r.get::<_, String>(6)?,
                            r.get::<_, String>(7)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                drop(stmt);
                let mut stmt = tx.prepare(
                    "SELECT email FROM users WHERE role IN ('master', 'admin') AND deleted_at IS NULL ORDER BY id",
                )?;
                let admins = stmt
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                drop(stmt);
                let mut run = NoticeRun::default();
                let mut recorded = Vec::new();
                for (cert_id, user_id, serial, nb, na, login_id, name, email) in candidates {
                    let facts = CertificateFacts {
                        state: StoredState::Issued,
                        not_before: parse_ts(&nb)?,
                        not_after: parse_ts(&na)?,
                    };
                    let Some(threshold) = due_threshold(&facts, &thresholds, now) else {
                        continue;
                    };
                    let inserted = tx.execute(
                        "INSERT OR IGNORE INTO notices (certificate_id, user_id, threshold_days, not_after, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![cert_id, user_id, threshold, na, ts(now)],
                    )?;
                    if inserted == 0 {
                        continue;
                    }
                    let notice_id = tx.last_insert_rowid();
                    run.recorded += 1;
                    recorded.push(serde_json::json!({"login_id": login_id, "serial": serial, "threshold_days": threshold}));
                    if !settings.email_enabled {
                        continue;
                    }
                    let (to, cc) = recipients(&settings, &email, &admins);
                    if to.is_empty() {
                        continue;
                    }
                    let m = notice_mail(
                        &NoticeFacts {
                            organisation: &org,
                            login_id: &login_id,
                            name: &name,
                            serial: &serial,
                            not_after: facts.not_after,
                            threshold_days: threshold,
                            console_url: &console_url,
                        },
                        now,
                    );
                    tx.execute(
                        "INSERT INTO mail_outbox (notice_id, to_addresses, cc_addresses, subject, body, next_attempt_at, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                        params![notice_id, to.join(", "), cc.join(", "), m.subject, m.body, ts(now)],
                    )?;
                    run.queued += 1;
                }
                if run.recorded > 0 {
                    audit::record(&tx, now, &Actor::System, AuditAction::NoticesRecord, Some("notices"), Outcome::Success,
                        serde_json::json!({"notices": recorded, "mails": run.queued}))?;
                }
                tx.commit()?;
                Ok(run)
            })
            .await?;
        let warned = self.queue_backup_warning(now).await?;
        if run.queued > 0 || warned {
            self.mail_wake().notify_one();
        }
        Ok(run)
    }

    fn smtp_config(
        &self,
        settings: &NotificationSettings,
        sealed: Option<&[u8]>,
    ) -> Result<SmtpConfig, ServiceError> {
        let password = match sealed {
            Some(s) => Some(
                String::from_utf8(self.master_key().open(
                    Purpose::SmtpPassword,
                    PASSWORD_RECORD,
                    s,
                )?)
                .map_err(|_| ServiceError::Internal("sealed SMTP password is not UTF-8".into()))?,
            ),
            None => None,
        };
        Ok(SmtpConfig {
            host: settings.smtp_host.clone(),
            port: settings.smtp_port,
            security: settings.smtp_security,
            username: settings.smtp_username.clone(),
            password,
            from: settings.mail_from.clone(),
        })
    }

    /// Sends the mail that is due now, once each; returns what happened. A failure is stored
    /// with its code and the next try's time (or given up), never returned as an error.
    pub async fn send_due_mail(&self) -> Result<MailRound, ServiceError> {
        let now = self.clock().now();
        let (settings, sealed, due) = self
            .db()
            .run(move |conn| {
                let (settings, sealed) = load_settings(conn)?;
                let mut stmt = conn.prepare(
                    "SELECT id, to_addresses, cc_addresses, subject, body, attempts FROM mail_outbox
                     WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT 50",
                )?;
                let due = stmt
                    .query_map([ts(now)], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            NoticeMail {
                                subject: r.get(3)?,
                                body: r.get(4)?,
                            },
                            r.get::<_, u32>(5)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((settings, sealed, due))
            })
            .await?;
        let mut round = MailRound::default();
        if due.is_empty() {
            return Ok(round);
        }
        let config = self.smtp_config(&settings, sealed.as_deref())?;
        for (id, to, cc, m, attempts) in due {
            let result = deliver(&config, &split(&to), &split(&cc), &m).await;
            let now = self.clock().now();
            match result {
                Ok(()) => {
                    round.sent += 1;
                    self.db()
                        .run(move |conn| {
                            let tx = conn.transaction()?;
                            tx.execute(
                                "UPDATE mail_outbox SET status = 'sent', sent_at = ?1, attempts = attempts + 1 WHERE id = ?2",
                                params![ts(now), id],
                            )?;
                            audit::record(&tx, now, &Actor::System, AuditAction::NoticeMailSent, Some(&to), Outcome::Success,
                                serde_json::json!({"mail": id, "cc": cc, "subject": m.subject}))?;
                            tx.commit()?;
                            Ok(())
                        })
                        .await?;
                }
                Err(f) => {
                    round.failed += 1;
                    if matches!(f.error, MailError::NotConfigured) {
                        tracing::info!(
                            mail.id = id,
                            error.code = f.error.code(),
                            "mail waits for SMTP settings"
                        );
                    } else {
                        tracing::warn!(mail.id = id, error.code = f.error.code(), error.detail = %f.detail, "mail not sent");
                    }
                    self.record_mail_failure(id, attempts, &f.error, &to, now)
                        .await?;
                }
            }
        }
        Ok(round)
    }

    async fn record_mail_failure(
        &self,
        id: i64,
        attempts: u32,
        error: &MailError,
        to: &str,
        now: OffsetDateTime,
    ) -> Result<(), ServiceError> {
        let code = error.code().to_string();
        let json = serde_json::to_string(error).unwrap_or_default();
        let to = to.to_string();
        // "No SMTP server" is not the server's fault: wait for the settings without using up
        // attempts.
        let not_configured = matches!(error, MailError::NotConfigured);
        let attempts = if not_configured {
            attempts
        } else {
            attempts + 1
        };
        let next = if not_configured {
            Some(Duration::hours(1))
        } else if error.is_permanent() || attempts >= MAX_MAIL_ATTEMPTS {
            None
        } else {
            retry_delay(attempts)
        };
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                match next {
                    Some(delay) => tx.execute(
                        "UPDATE mail_outbox SET attempts = ?1, last_error_code = ?2, last_error = ?3, next_attempt_at = ?4 WHERE id = ?5",
                        params![attempts, code, json, ts(now + delay), id],
                    )?,
                    None => {
                        audit::record(&tx, now, &Actor::System, AuditAction::NoticeMailGivenUp, Some(&to), Outcome::Failure,
                            serde_json::json!({"mail": id, "code": code, "attempts": attempts}))?;
                        tx.execute(
                            "UPDATE mail_outbox SET status = 'failed', attempts = ?1, last_error_code = ?2, last_error = ?3 WHERE id = ?4",
                            params![attempts, code, json, id],
                        )?
                    }
                };
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Sends a test mail with the stored settings, now, to the signed-in user's own address,
    /// and says how it went (`E-MAIL-*` on failure; audited either way). `to` may only repeat
    /// that address (case ignored): any other is refused with `E-NOTICE-008` before anything is
    /// sent or written, so the console cannot be used to mail others. The server's command
    /// line and certdesk itself have no address and must give one. Returns the address.
    pub async fn send_test_mail(
        &self,
        to: Option<String>,
        actor: Actor,
    ) -> Result<String, ServiceError> {
        let typed = to.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        let to = match &actor {
            Actor::User { id, .. } => {
                let own = self.user_email(*id).await?;
                match typed {
                    Some(t) if !t.eq_ignore_ascii_case(own.trim()) => {
                        return Err(NoticeSettingsError::TestMailRecipient.into())
                    }
                    _ => own.trim().to_string(),
                }
            }
            Actor::Cli | Actor::System => {
                typed.ok_or(ServiceError::from(NoticeSettingsError::TestMailRecipient))?
            }
            Actor::Anonymous => return Err(certdesk_domain::AuthError::NotSignedIn.into()),
        };
        let (settings, sealed, org) = self
            .db()
            .run(|conn| {
                let (s, sealed) = load_settings(conn)?;
                let org: String = conn
                    .query_row("SELECT name FROM organisation WHERE id = 1", [], |r| {
                        r.get(0)
                    })
                    .optional()?
                    .unwrap_or_default();
                Ok((s, sealed, org))
            })
            .await?;
        let config = self.smtp_config(&settings, sealed.as_deref())?;
        let now = self.clock().now();
        let m = test_mail(&org, now);
        let result = deliver(&config, std::slice::from_ref(&to), &[], &m).await;
        let (outcome, code) = match &result {
            Ok(()) => (Outcome::Success, None),
            Err(f) => {
                tracing::warn!(error.code = f.error.code(), error.detail = %f.detail, "test mail not sent");
                (Outcome::Failure, Some(f.error.code()))
            }
        };
        let target = to.clone();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                audit::record(&tx, now, &actor, AuditAction::MailTest, Some(&target), outcome,
                    serde_json::json!({"code": code, "server": format!("{}:{}", settings.smtp_host, settings.smtp_port)}))?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        result.map_err(|f| ServiceError::from(f.error))?;
        Ok(to)
    }

    /// The e-mail address of a user (for the test mail's default recipient).
    pub async fn user_email(&self, user_id: i64) -> Result<String, ServiceError> {
        self.db()
            .run(move |conn| {
                conn.query_row("SELECT email FROM users WHERE id = ?1", [user_id], |r| {
                    r.get(0)
                })
                .optional()?
                .ok_or(ServiceError::User(UserError::NotFound {
                    login_id: format!("#{user_id}"),
                }))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_is_to_and_admins_and_extras_are_copied_once_each() {
        let s = NotificationSettings {
            extra_recipients: "boss@example.jp, Admin@example.jp".into(),
            ..NotificationSettings::default()
        };
        let (to, cc) = recipients(
            &s,
            "taro@example.jp",
            &["admin@example.jp".into(), "taro@example.jp".into()],
        );
        assert_eq!(to, vec!["taro@example.jp"]);
        assert_eq!(cc, vec!["admin@example.jp", "boss@example.jp"]);
        let only_admins = NotificationSettings {
            notify_user: false,
            ..NotificationSettings::default()
        };
        let (to, cc) = recipients(
            &only_admins,
            "taro@example.jp",
            &["a@example.jp".into(), "b@example.jp".into()],
        );
        assert_eq!(
            (to, cc),
            (
                vec!["a@example.jp".to_string()],
                vec!["b@example.jp".to_string()]
            )
        );
    }
}
