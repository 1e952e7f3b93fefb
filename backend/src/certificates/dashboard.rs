//! The expiry dashboard: counts by bucket, the weekly chart, the next expiries, notices and
//! failed mail, in a few indexed queries (one row per user, one per valid certificate), so
//! that a long certificate history does not slow it down. Also the `?filter=` of the
//! Certificates page, "renew all in the window", and a bulk run's result as CSV.

use crate::certificates::{load_profile, Operation, UserCertificates};
use crate::error::ServiceError;
use crate::store::audit::Actor;
use crate::store::db::{parse_ts, ts};
use crate::Backend;
use certdesk_domain::dashboard::{
    bucket, weekly_expiries, Bucket, BucketCounts, CHART_WEEKS, UPCOMING_LIMIT,
};
use certdesk_domain::lifecycle::{
    renewal_open, CertificateFacts, CertificateState, LifecycleError, LifecyclePolicy, StoredState,
};
use certdesk_domain::notices::{MailError, MailFailureView, NoticeView};
use certdesk_domain::profile::JST;
use certdesk_domain::userfile::csv_cell;
use certdesk_domain::views::{CertificateView, DashboardView, UpcomingExpiry};
use certdesk_domain::Message;
use rusqlite::{params, Connection, OptionalExtension};
use time::{Duration, OffsetDateTime};

/// How many notices and failed mails the dashboard lists.
const NOTICE_LIMIT: u32 = 20;

fn facts(state: &str, not_before: &str, not_after: &str) -> Result<CertificateFacts, ServiceError> {
    Ok(CertificateFacts {
        state: StoredState::parse(state).ok_or_else(|| {
            ServiceError::Internal(format!("unknown certificate state {state:?}"))
        })?,
        not_before: parse_ts(not_before)?,
        not_after: parse_ts(not_after)?,
    })
}

/// The bucket of a user as the Certificates page shows them (same rule as the counts).
pub fn bucket_of_view(
    current: Option<&CertificateView>,
    policy: &LifecyclePolicy,
    now: OffsetDateTime,
) -> Result<Bucket, ServiceError> {
    let Some(c) = current else {
        return Ok(bucket(None, policy, now));
    };
    let stored = match c.state {
        CertificateState::Valid | CertificateState::Expired => StoredState::Issued,
        CertificateState::Revoked => StoredState::Revoked,
        CertificateState::Superseded => StoredState::Superseded,
    };
    let f = CertificateFacts {
        state: stored,
        not_before: parse_ts(&c.not_before)?,
        not_after: parse_ts(&c.not_after)?,
    };
    Ok(bucket(Some(&f), policy, now))
}

/// Every user (not deleted) with the bucket of their newest certificate and whether it can be
/// renewed now: one indexed step per user (`certificates_user_newest`).
fn user_buckets(
    conn: &Connection,
    policy: &LifecyclePolicy,
    now: OffsetDateTime,
) -> Result<Vec<(i64, Bucket, bool)>, ServiceError> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, c.state, c.not_before, c.not_after
         FROM users u
         LEFT JOIN certificates c ON c.id = (SELECT max(id) FROM certificates WHERE user_id = u.id)
         WHERE u.deleted_at IS NULL",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, state, nb, na)| {
            let current = match (state, nb, na) {
                (Some(s), Some(nb), Some(na)) => Some(facts(&s, &nb, &na)?),
                _ => None,
            };
            let renewable = current
                .as_ref()
                .is_some_and(|c| renewal_open(c, policy, now));
            Ok((id, bucket(current.as_ref(), policy, now), renewable))
        })
        .collect()
}

impl Backend {
    /// Everything the dashboard shows.
    pub async fn dashboard(&self) -> Result<DashboardView, ServiceError> {
        let now = self.clock().now();
        let backup = self.backup_status(self.backup_interval().await?).await?;
        self.db()
            .run(move |conn| {
                let profile = load_profile(conn)?;
                let policy = profile.lifecycle();
                let mut counts = BucketCounts::default();
                for (_, b, renewable) in user_buckets(conn, &policy, now)? {
                    counts.add(b, renewable);
                }
                // Valid certificates not yet past their expiry (at most 100), soonest first,
                // through the partial index on not_after.
                let chart_end = now + Duration::weeks(CHART_WEEKS as i64 + 1);
                let mut stmt = conn.prepare_cached(
                    "SELECT c.user_id, u.login_id, u.name, c.serial, c.not_before, c.not_after
                     FROM certificates c JOIN users u ON u.id = c.user_id
                     WHERE c.state = 'valid' AND c.not_after >= ?1 AND c.not_after < ?2 AND u.deleted_at IS NULL
                     ORDER BY c.not_after",
                )?;
                let valid = stmt
                    .query_map(params![ts(now), ts(chart_end)], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, String>(5)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut not_afters = Vec::with_capacity(valid.len());
                let mut upcoming = Vec::new();
                for (user_id, login_id, name, serial, nb, na) in valid {
                    let f = facts("valid", &nb, &na)?;
                    not_afters.push(f.not_after);
                    if upcoming.len() < UPCOMING_LIMIT {
                        upcoming.push(UpcomingExpiry {
                            user_id,
                            login_id,
                            name,
                            serial,
                            days_left: f.days_left(now),
                            bucket: bucket(Some(&f), &policy, now),
                            not_after: na,
                        });
                    }
                }
                let weeks = weekly_expiries(not_afters, now, JST);
                let self_renewed: u32 = conn.query_row(
                    "SELECT count(*) FROM self_renewals s JOIN certificates c ON c.id = s.new_certificate_id
                     WHERE s.replaced_at IS NULL AND c.state = 'valid' AND c.not_after > ?1",
                    [ts(now)],
                    |r| r.get(0),
                )?;
                Ok(DashboardView {
                    counts,
                    renewal_window_days: profile.renewal_window_days,
                    weeks,
                    upcoming,
                    notices: recent_notices(conn)?,
                    mail_failures: mail_failures(conn)?,
                    running_jobs: running_jobs(conn)?,
                    backup,
                    self_renewed,
                })
            })
            .await
    }

    /// The Certificates page's list, only the users in `filter` (all when `None`).
    pub async fn certificate_overview_in(
        &self,
        filter: Option<Bucket>,
    ) -> Result<Vec<UserCertificates>, ServiceError> {
        let all = self.certificate_overview().await?;
        let Some(filter) = filter else {
            return Ok(all);
        };
        let now = self.clock().now();
        let policy = self.issuing_profile().await?.lifecycle();
        let mut out = Vec::new();
        for u in all {
            if bucket_of_view(u.current.as_ref(), &policy, now)? == filter {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// Users whose certificate can be renewed now (the renewal rule, `renewal_open`).
    pub async fn users_in_renewal_window(&self) -> Result<Vec<i64>, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let policy = load_profile(conn)?.lifecycle();
                Ok(user_buckets(conn, &policy, now)?
                    .into_iter()
                    .filter(|&(_, _, renewable)| renewable)
                    .map(|(id, _, _)| id)
                    .collect())
            })
            .await
    }

    /// "Renew all in the window": one bulk renewal run over every user in the window.
    pub async fn start_renewal_of_window(&self, actor: Actor) -> Result<i64, ServiceError> {
        let ids = self.users_in_renewal_window().await?;
        self.start_bulk(ids, Operation::Renew, actor).await
    }

    /// A bulk run's result, one line per user, as CSV in UTF-8 with BOM (Excel opens it).
    pub async fn bulk_result_csv(&self, job: i64) -> Result<Vec<u8>, ServiceError> {
        let rows = self.bulk_result_rows(job).await?;
        let mut out = String::from("\u{feff}");
        out.push_str(&BULK_RESULT_HEADER.join(","));
        out.push_str("\r\n");
        for cells in rows {
            let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
        Ok(out.into_bytes())
    }

    /// The same as [`Backend::bulk_result_csv`], as an `.xlsx` workbook of text cells.
    pub async fn bulk_result_xlsx(&self, job: i64) -> Result<Vec<u8>, ServiceError> {
        let rows = self.bulk_result_rows(job).await?;
        crate::users::xlsx::write_table("result", &BULK_RESULT_HEADER, &rows)
    }

    /// A bulk run's result: one row of [`BULK_RESULT_HEADER`] cells per user.
    async fn bulk_result_rows(&self, job: i64) -> Result<Vec<Vec<String>>, ServiceError> {
        self.db()
            .run(move |conn| {
                let (operation, created_at, finished_at): (String, String, Option<String>) = conn
                    .query_row(
                        "SELECT operation, created_at, finished_at FROM bulk_jobs WHERE id = ?1",
                        [job],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?
                    .ok_or(LifecycleError::BulkNotFound { job })?;
                let mut stmt = conn.prepare(
                    "SELECT u.login_id, u.name, i.status, i.serial, i.error_code, i.message_ja, i.message_en, i.finished_at
                     FROM bulk_job_items i JOIN users u ON u.id = i.user_id WHERE i.job_id = ?1 ORDER BY i.position",
                )?;
                let rows = stmt.query_map([job], |r| {
                    (0..8)
                        .map(|i| r.get::<_, Option<String>>(i).map(Option::unwrap_or_default))
                        .collect::<Result<Vec<String>, _>>()
                })?;
                let mut out = Vec::new();
                for row in rows {
                    let mut cells = vec![
                        job.to_string(),
                        operation.clone(),
                        created_at.clone(),
                        finished_at.clone().unwrap_or_default(),
                    ];
                    cells.extend(row?);
                    out.push(cells);
                }
                Ok(out)
            })
            .await
    }
}

/// The columns of a bulk run's result (CSV and `.xlsx`).
const BULK_RESULT_HEADER: [&str; 12] = [
    "run",
    "operation",
    "started_at",
    "finished_at",
    "login_id",
    "name",
    "status",
    "serial",
    "error_code",
    "message_ja",
    "message_en",
    "item_finished_at",
];

fn recent_notices(conn: &Connection) -> Result<Vec<NoticeView>, ServiceError> {
    let mut stmt = conn.prepare_cached(
        "SELECT n.id, u.login_id, c.serial, n.threshold_days, n.not_after, n.created_at,
                coalesce((SELECT status FROM mail_outbox m WHERE m.notice_id = n.id ORDER BY m.id DESC LIMIT 1), 'none')
         FROM notices n JOIN users u ON u.id = n.user_id JOIN certificates c ON c.id = n.certificate_id
         ORDER BY n.id DESC LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([NOTICE_LIMIT], |r| {
            Ok(NoticeView {
                id: r.get(0)?,
                login_id: r.get(1)?,
                serial: r.get(2)?,
                threshold_days: r.get(3)?,
                not_after: r.get(4)?,
                created_at: r.get(5)?,
                mail_status: r.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The error a failed mail row stores (JSON of `MailError`), as people read it.
pub(crate) fn stored_mail_error(code: &str, json: Option<&str>) -> Message {
    json.and_then(|j| serde_json::from_str::<MailError>(j).ok())
        .map(|e| e.message())
        .unwrap_or_else(|| {
            Message::new(
                format!("送信に失敗しました({code})。"),
                format!("Sending failed ({code})."),
            )
        })
}

fn mail_failures(conn: &Connection) -> Result<Vec<MailFailureView>, ServiceError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, to_addresses, cc_addresses, subject, attempts, next_attempt_at, status, last_error_code, last_error
         FROM mail_outbox WHERE last_error_code IS NOT NULL AND status <> 'sent' ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([NOTICE_LIMIT], |r| {
            let to: String = r.get(1)?;
            let cc: String = r.get(2)?;
            let status: String = r.get(6)?;
            let code: String = r.get(7)?;
            let json: Option<String> = r.get(8)?;
            Ok(MailFailureView {
                id: r.get(0)?,
                recipients: if cc.is_empty() {
                    to
                } else {
                    format!("{to}, {cc}")
                },
                subject: r.get(3)?,
                attempts: r.get(4)?,
                next_attempt_at: (status == "pending").then(|| r.get(5)).transpose()?,
                message: stored_mail_error(&code, json.as_deref()),
                error_code: code,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn running_jobs(conn: &Connection) -> Result<Vec<i64>, ServiceError> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM bulk_jobs WHERE finished_at IS NULL ORDER BY id")?;
    let jobs = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(jobs)
}
