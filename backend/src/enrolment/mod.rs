//! Self-service enrolment (issue 17): the employee's browser makes the key and sends only a
//! PKCS#10 request; certdesk certifies it through the one lifecycle flow, with whichever CA is
//! in use, and never sees the private key (`certificates.key_origin = 'holder'`, no
//! `certificate_keys` row).
//!
//! - An administrator opens one enrolment per user ([`Backend::open_enrolments`]): a number
//!   and a one-time code (printed on a slip; only the SHA-256 of number and code is kept, like
//!   a pickup password: 60 random bits behind a lock after 5 wrong codes and the attempt limit,
//!   so a slow hash would add nothing but load), valid for a setting (14 days by default).
//! - `POST /api/enroll` ([`Backend::enrol`]) checks the code (a wrong one is counted; unknown
//!   numbers and wrong codes give the same `E-ENROLL-002`), then the request, then issues. The
//!   code stays usable until the browser confirms ([`Backend::confirm_enrolment`]); a retry
//!   before that revokes the unconfirmed certificate (superseded) and issues another.
//! - On the check page, a holder whose presented certificate is current and in its renewal
//!   window renews it ([`Backend::self_renew`], then [`Backend::confirm_self_renewal`]).

pub mod csr;

use crate::ca::profile::load_profile;
use crate::distribution::{is_console_user, random_bytes, random_source};
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::{parse_ts, ts};
use crate::users::acts_as_master;
use crate::Backend;
use certdesk_domain::authority::CertificateAuthority;
use certdesk_domain::distribution::{DistributionError, P12Profile};
use certdesk_domain::enrolment::{
    check_validity_days, expires_at, generate_code, generate_number, normalise_code,
    normalise_number, EnrolmentError, EnrolmentOperation, EnrolmentProfile, EnrolmentRow,
    EnrolmentSettings, EnrolmentSlip, EnrolmentState, SelfRenewalOffer, SelfRenewalRefusal,
    MAX_FAILURES,
};
use certdesk_domain::lifecycle::{RevocationReason, MAX_VALID_CERTIFICATES};
use certdesk_domain::views::CertificateView;
use certdesk_domain::{AuditAction, AuthError, Operation, UserError};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// What the browser gets back after an issue or a self-renewal: the certificate, its chain,
/// and the token that confirms the download.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub login_id: String,
    pub friendly_name: String,
    pub certificate_der: Vec<u8>,
    pub chain_der: Vec<Vec<u8>>,
    pub p12_profile: P12Profile,
    pub not_after: OffsetDateTime,
    /// 256 random bits, hex; only its SHA-256 is kept.
    pub confirm_token: String,
    pub serial: String,
}

fn code_hash(number: &str, code: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"certdesk enrolment v1\0");
    h.update(number.as_bytes());
    h.update(b"\0");
    h.update(code.as_bytes());
    hex::encode(h.finalize())
}

fn token_hash(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"certdesk enrolment confirm v1\0");
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

fn same(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

fn load_settings(conn: &Connection) -> Result<EnrolmentSettings, ServiceError> {
    Ok(conn.query_row(
        "SELECT validity_days, self_renewal FROM enrolment_settings WHERE id = 1",
        [],
        |r| {
            Ok(EnrolmentSettings {
                validity_days: r.get(0)?,
                self_renewal: r.get(1)?,
            })
        },
    )?)
}

fn org_group(conn: &Connection) -> Result<Option<String>, ServiceError> {
    Ok(conn
        .query_row("SELECT group_id FROM organisation WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?)
}

/// The user's valid certificate (id), if one is in date.
fn valid_certificate(
    conn: &Connection,
    user_id: i64,
    now: OffsetDateTime,
) -> Result<Option<i64>, ServiceError> {
    Ok(conn
        .query_row(
            "SELECT id FROM certificates WHERE user_id = ?1 AND state = 'valid' AND not_after > ?2",
            params![user_id, ts(now)],
            |r| r.get(0),
        )
        .optional()?)
}

/// Whether `certificate_id` is a holder-made certificate issued since enrolment `enrolment_id`
/// opened that no enrolment and no self-renewal holds: what a stop between issuing (step 3 of
/// [`Backend::enrol`]) and binding (step 4) leaves. A retry with the code replaces it.
fn unbound_holder_certificate(
    conn: &Connection,
    certificate_id: i64,
    enrolment_id: i64,
) -> Result<bool, ServiceError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM certificates c JOIN enrolments e ON e.id = ?2
             WHERE c.id = ?1 AND c.user_id = e.user_id AND c.key_origin = 'holder'
               AND c.issued_at >= e.created_at
               AND NOT EXISTS (SELECT 1 FROM enrolments o WHERE o.pending_certificate_id = c.id)
               AND NOT EXISTS (SELECT 1 FROM self_renewals s WHERE s.new_certificate_id = c.id)",
            params![certificate_id, enrolment_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Opens one enrolment for `user_id` inside `tx` (replacing an unused one), returning its slip.
#[allow(clippy::too_many_arguments)]
fn open_one(
    tx: &rusqlite::Transaction<'_>,
    actor: &Actor,
    user_id: i64,
    operation: EnrolmentOperation,
    group_id: &str,
    validity_days: u32,
    now: OffsetDateTime,
) -> Result<EnrolmentSlip, ServiceError> {
    let (login_id, name): (String, String) = tx
        .query_row(
            "SELECT login_id, name FROM users WHERE id = ?1 AND deleted_at IS NULL",
            [user_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or(UserError::NotFound {
            login_id: format!("#{user_id}"),
        })?;
    tx.execute(
        "UPDATE enrolments SET closed_at = ?1 WHERE user_id = ?2 AND used_at IS NULL AND closed_at IS NULL",
        params![ts(now), user_id],
    )?;
    let mut random = random_source()?;
    let number = loop {
        let candidate = generate_number(&mut random);
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM enrolments WHERE number = ?1)",
            [&candidate],
            |r| r.get(0),
        )?;
        if !taken {
            break candidate;
        }
        random = random_source()?;
    };
    let mut code_random = random_source()?;
    let code = generate_code(&mut code_random);
    let plain = normalise_code(&code)
        .ok_or_else(|| ServiceError::Internal("a generated code does not read back".into()))?;
    let until = expires_at(now, validity_days);
    tx.execute(
        "INSERT INTO enrolments (user_id, number, code_sha256, operation, created_at, created_by, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![user_id, number, code_hash(&number, &plain), operation.as_str(), ts(now), actor.columns().1, ts(until)],
    )?;
    audit::record(
        tx,
        now,
        actor,
        AuditAction::EnrolmentOpen,
        Some(&login_id),
        Outcome::Success,
        serde_json::json!({"number": number, "operation": operation.as_str(), "expires_at": ts(until)}),
    )?;
    Ok(EnrolmentSlip {
        user_id,
        login_id,
        name,
        group_id: group_id.to_string(),
        number,
        code,
        expires_at: ts(until),
        operation,
    })
}

/// What a presented certificate allows on the check page, with the facts the renewal needs.
pub(crate) struct RenewalStanding {
    pub offer: SelfRenewalOffer,
    pub certificate_id: i64,
    pub user_id: i64,
    pub login_id: String,
    /// An unconfirmed renewal made from this certificate (its `self_renewals` id): a retry
    /// replaces it.
    pub pending: Option<i64>,
}

/// The self-renewal standing of the certificate with id `certificate_id`.
pub(crate) fn renewal_standing(
    conn: &Connection,
    certificate_id: i64,
    now: OffsetDateTime,
) -> Result<RenewalStanding, ServiceError> {
    let (user_id, login_id, state, not_after): (i64, String, String, String) = conn.query_row(
        "SELECT c.user_id, u.login_id, c.state, c.not_after FROM certificates c JOIN users u ON u.id = c.user_id
         WHERE c.id = ?1",
        [certificate_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let not_after = parse_ts(&not_after)?;
    let pending: Option<i64> = conn
        .query_row(
            "SELECT s.id FROM self_renewals s JOIN certificates n ON n.id = s.new_certificate_id
             WHERE s.old_certificate_id = ?1 AND s.confirmed_at IS NULL AND s.replaced_at IS NULL
               AND n.state = 'valid' AND n.not_after > ?2",
            params![certificate_id, ts(now)],
            |r| r.get(0),
        )
        .optional()?;
    let in_date = not_after > now;
    let current = state == "valid" && in_date;
    let retry = pending.is_some() && in_date;
    let settings = load_settings(conn)?;
    let offer = if !current && !retry {
        SelfRenewalOffer::NotOffered
    } else if !settings.self_renewal {
        SelfRenewalOffer::Disabled
    } else if retry {
        SelfRenewalOffer::Offered
    } else {
        let opens = load_profile(conn)?.lifecycle().renewal_opens_at(not_after);
        if now < opens {
            SelfRenewalOffer::NotOpenYet {
                opens_on: opens.date(),
            }
        } else {
            SelfRenewalOffer::Offered
        }
    };
    Ok(RenewalStanding {
        offer,
        certificate_id,
        user_id,
        login_id,
        pending,
    })
}

/// The certificate certdesk issued with exactly the bytes `der`, if any.
fn presented_certificate(conn: &Connection, der: &[u8]) -> Result<Option<i64>, ServiceError> {
    let sha = hex::encode(Sha256::digest(der));
    Ok(conn
        .query_row(
            "SELECT id FROM certificates WHERE sha256 = ?1 AND cert_der = ?2",
            params![sha, der],
            |r| r.get(0),
        )
        .optional()?)
}

impl Backend {
    /// The enrolment validity and the self-renewal switch.
    pub async fn enrolment_settings(&self) -> Result<EnrolmentSettings, ServiceError> {
        self.db().run(|conn| load_settings(conn)).await
    }

    /// Sets the enrolment validity (1–90 days) and the self-renewal switch (masters only).
    pub async fn set_enrolment_settings(
        &self,
        settings: EnrolmentSettings,
        actor: Actor,
    ) -> Result<(), ServiceError> {
        check_validity_days(settings.validity_days)?;
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !acts_as_master(&tx, &actor)? {
                    return Err(AuthError::Forbidden.into());
                }
                tx.execute(
                    "UPDATE enrolment_settings SET validity_days = ?1, self_renewal = ?2 WHERE id = 1",
                    params![settings.validity_days, settings.self_renewal],
                )?;
                audit::record(
                    &tx,
                    now,
                    &actor,
                    AuditAction::EnrolmentSettings,
                    None,
                    Outcome::Success,
                    serde_json::json!({"validity_days": settings.validity_days, "self_renewal": settings.self_renewal}),
                )?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Opens one enrolment per selected user (masters and admins), in one transaction: a
    /// refusal for any user makes none. A user who holds a valid certificate is refused
    /// (`E-ENROLL-013`) unless `reissue`; then the old certificate is revoked only when the
    /// new one is issued. An unused enrolment of the same user is replaced. The codes appear
    /// only in the returned slips.
    pub async fn open_enrolments(
        &self,
        actor: Actor,
        user_ids: Vec<i64>,
        reissue: bool,
    ) -> Result<Vec<EnrolmentSlip>, ServiceError> {
        if self.ca().is_none() {
            return Err(EnrolmentError::NotReady.into());
        }
        let mut ids = user_ids;
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Err(certdesk_domain::lifecycle::LifecycleError::EmptySelection.into());
        }
        let max = MAX_VALID_CERTIFICATES as usize;
        if ids.len() > max {
            return Err(DistributionError::TooManySelected {
                count: ids.len(),
                max,
            }
            .into());
        }
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !is_console_user(&tx, &actor)? {
                    return Err(AuthError::Forbidden.into());
                }
                let group = org_group(&tx)?.ok_or(EnrolmentError::NotReady)?;
                let settings = load_settings(&tx)?;
                let mut slips = Vec::with_capacity(ids.len());
                for user_id in ids {
                    let operation = match valid_certificate(&tx, user_id, now)? {
                        Some(_) if !reissue => {
                            let login_id: String = tx
                                .query_row(
                                    "SELECT login_id FROM users WHERE id = ?1",
                                    [user_id],
                                    |r| r.get(0),
                                )
                                .optional()?
                                .unwrap_or_else(|| format!("#{user_id}"));
                            return Err(EnrolmentError::HasValidCertificate { login_id }.into());
                        }
                        Some(_) => EnrolmentOperation::Reissue,
                        None => EnrolmentOperation::Issue,
                    };
                    slips.push(open_one(
                        &tx,
                        &actor,
                        user_id,
                        operation,
                        &group,
                        settings.validity_days,
                        now,
                    )?);
                }
                tx.commit()?;
                Ok(slips)
            })
            .await
    }

    /// Every enrolment not replaced, newest first (never a code).
    pub async fn list_enrolments(&self) -> Result<Vec<EnrolmentRow>, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT e.id, e.user_id, u.login_id, u.name, e.number, e.operation, e.failures, e.locked_at IS NOT NULL,
                            e.used_at, e.created_at, e.expires_at, c.serial
                     FROM enrolments e JOIN users u ON u.id = e.user_id
                     LEFT JOIN certificates c ON c.id = e.pending_certificate_id AND e.used_at IS NULL
                     WHERE e.closed_at IS NULL AND u.deleted_at IS NULL ORDER BY e.id DESC",
                )?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok((
                            (r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?),
                            (r.get::<_, String>(4)?, r.get::<_, String>(5)?, r.get::<_, u32>(6)?, r.get::<_, bool>(7)?),
                            (r.get::<_, Option<String>>(8)?, r.get::<_, String>(9)?, r.get::<_, String>(10)?, r.get::<_, Option<String>>(11)?),
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                rows.into_iter()
                    .map(|((id, user_id, login_id, name), (number, operation, failures, locked), (used_at, created_at, expires, pending))| {
                        let state = EnrolmentState::at(used_at.is_some(), locked, parse_ts(&expires)?, now);
                        Ok(EnrolmentRow {
                            id,
                            user_id,
                            login_id,
                            name,
                            number,
                            operation: EnrolmentOperation::parse(&operation).unwrap_or(EnrolmentOperation::Issue),
                            state,
                            failures,
                            created_at,
                            expires_at: expires,
                            used_at,
                            pending_serial: pending,
                        })
                    })
                    .collect()
            })
            .await
    }

    /// Resets the unused enrolment of `user_id` (masters and admins): unlocked, a new code, a
    /// new validity from now. The slip with the new code is returned; the old code stops
    /// working.
    pub async fn reset_enrolment(
        &self,
        actor: Actor,
        user_id: i64,
    ) -> Result<EnrolmentSlip, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !is_console_user(&tx, &actor)? {
                    return Err(AuthError::Forbidden.into());
                }
                let group = org_group(&tx)?.ok_or(EnrolmentError::NotReady)?;
                let settings = load_settings(&tx)?;
                let row: Option<(i64, String, String, String, Option<i64>)> = tx
                    .query_row(
                        "SELECT e.id, e.number, e.operation, u.login_id, e.pending_certificate_id FROM enrolments e JOIN users u ON u.id = e.user_id
                         WHERE e.user_id = ?1 AND e.used_at IS NULL AND e.closed_at IS NULL AND u.deleted_at IS NULL",
                        [user_id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                    )
                    .optional()?;
                let Some((id, number, operation, login_id, _)) = row else {
                    let login_id: String = tx
                        .query_row("SELECT login_id FROM users WHERE id = ?1", [user_id], |r| r.get(0))
                        .optional()?
                        .unwrap_or_else(|| format!("#{user_id}"));
                    return Err(EnrolmentError::NoEnrolment { login_id }.into());
                };
                let name: String = tx.query_row("SELECT name FROM users WHERE id = ?1", [user_id], |r| r.get(0))?;
                let code = generate_code(random_source()?);
                let plain = normalise_code(&code)
                    .ok_or_else(|| ServiceError::Internal("a generated code does not read back".into()))?;
                let until = expires_at(now, settings.validity_days);
                tx.execute(
                    "UPDATE enrolments SET code_sha256 = ?1, failures = 0, locked_at = NULL, expires_at = ?2 WHERE id = ?3",
                    params![code_hash(&number, &plain), ts(until), id],
                )?;
                audit::record(&tx, now, &actor, AuditAction::EnrolmentReset, Some(&login_id), Outcome::Success,
                    serde_json::json!({"number": number, "expires_at": ts(until)}))?;
                tx.commit()?;
                Ok(EnrolmentSlip {
                    user_id,
                    login_id,
                    name,
                    group_id: group,
                    number,
                    code,
                    expires_at: ts(until),
                    operation: EnrolmentOperation::parse(&operation).unwrap_or(EnrolmentOperation::Issue),
                })
            })
            .await
    }

    /// Queues one mail per unused enrolment of the selected users: the enrolment page's
    /// address, the group ID and the number, never the code (it stays on the printed slip).
    /// Returns how many were queued.
    pub async fn mail_enrolment_notices(
        &self,
        actor: Actor,
        user_ids: Vec<i64>,
    ) -> Result<u32, ServiceError> {
        let now = self.clock().now();
        let enrol_url = format!(
            "{}/enroll",
            self.settings().public_url.trim_end_matches('/')
        );
        let queued = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !is_console_user(&tx, &actor)? {
                    return Err(AuthError::Forbidden.into());
                }
                let (org, group): (String, String) =
                    tx.query_row("SELECT name, group_id FROM organisation WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
                let mut queued = 0u32;
                for user_id in user_ids {
                    let row: Option<(String, String, String, String, String)> = tx
                        .query_row(
                            "SELECT u.login_id, u.name, u.email, e.number, e.expires_at FROM enrolments e JOIN users u ON u.id = e.user_id
                             WHERE e.user_id = ?1 AND e.used_at IS NULL AND e.closed_at IS NULL AND u.deleted_at IS NULL",
                            [user_id],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                        )
                        .optional()?;
                    let Some((login_id, name, email, number, until)) = row else { continue };
                    let until = certdesk_domain::notices::jst_minute(parse_ts(&until)?);
                    let subject = format!("【{org}】証明書の登録のご案内 / Enrol for your certificate");
                    let body = format!(
                        "{name} 様\n\nインターネットバンキング用のクライアント証明書を、お使いのブラウザで作成・登録できます。\n\n\
                         登録ページ: {enrol_url}\nグループID: {group}\n登録番号: {number}\n\
                         登録コード: 管理者から別途お渡しする通知書に記載しています(このメールには記載しません)。\n\
                         有効期限: {until}(日本時間)\n\n\
                         秘密鍵はお使いのブラウザの中で作られ、サーバには送られません。ダウンロードした .p12 ファイルを取り込んでください。\n\n\
                         ----\n\nDear {name},\n\nYou can now make and enrol your client certificate for internet banking in your browser.\n\n\
                         Enrolment page: {enrol_url}\nGroup ID: {group}\nEnrolment number: {number}\n\
                         Enrolment code: on the slip your administrator hands you separately (never in this mail).\n\
                         Valid until: {until} (Japan time)\n\n\
                         The private key is made inside your browser and never sent to the server. Import the downloaded .p12 file.\n",
                    );
                    tx.execute(
                        "INSERT INTO mail_outbox (to_addresses, subject, body, next_attempt_at, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?4)",
                        params![email, subject, body, ts(now)],
                    )?;
                    audit::record(&tx, now, &actor, AuditAction::EnrolmentMail, Some(&login_id), Outcome::Success,
                        serde_json::json!({"number": number}))?;
                    queued += 1;
                }
                tx.commit()?;
                Ok(queued)
            })
            .await?;
        if queued > 0 {
            self.mail_wake().notify_one();
        }
        Ok(queued)
    }

    /// What the browser needs before it makes a key: the key type, the default `.p12`
    /// protection and the check page's address. `E-ENROLL-001` before setup.
    pub async fn enrolment_profile(&self) -> Result<EnrolmentProfile, ServiceError> {
        if self.ca().is_none() {
            return Err(EnrolmentError::NotReady.into());
        }
        let key_type = self.issuing_profile().await?.key_type;
        let p12_profile = self.default_p12_profile().await?;
        Ok(EnrolmentProfile {
            key_type,
            p12_profile,
            check_url: self.settings().check_url.clone(),
        })
    }

    /// The chain an issued certificate goes with: the CA certificate(s) of the CA in use.
    async fn chain_for_holder(&self) -> Result<Vec<Vec<u8>>, ServiceError> {
        let pem = self.active_authority().await?.ca_certificate_pem().await?;
        crate::x509::certificates_der(pem.as_bytes())
            .map_err(|e| ServiceError::Internal(format!("CA chain: {e}")))
    }

    /// The answer for an issued certificate.
    async fn enrolled(
        &self,
        view: &CertificateView,
        confirm_token: String,
    ) -> Result<Enrolled, ServiceError> {
        let der = self.certificate_der(view.serial.clone()).await?;
        Ok(Enrolled {
            login_id: view.login_id.clone(),
            friendly_name: view.friendly_name.clone(),
            certificate_der: der,
            chain_der: self.chain_for_holder().await?,
            p12_profile: self.default_p12_profile().await?,
            not_after: parse_ts(&view.not_after)?,
            confirm_token,
            serial: view.serial.clone(),
        })
    }

    /// `POST /api/enroll`: group ID, number and code open the enrolment; the request (base64
    /// DER) is checked and certified. Unknown number, wrong group ID and wrong code all answer
    /// `E-ENROLL-002` after the same work (the hash is computed for every request); a wrong
    /// code on a real number is counted and the 5th locks it. Locked, used and expired are
    /// told only to whoever typed the right code. Nothing is stored on any refusal but the
    /// count of wrong codes.
    pub async fn enrol(
        &self,
        group_id: String,
        number: String,
        code: String,
        csr_base64: String,
    ) -> Result<Enrolled, ServiceError> {
        if self.ca().is_none() {
            return Err(EnrolmentError::NotReady.into());
        }
        let der = csr::decode(&csr_base64)?;
        let now = self.clock().now();
        // 1. The enrolment (a wrong code counted and committed).
        let found = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let org = org_group(&tx)?;
                let number = normalise_number(&number);
                let code = normalise_code(&code);
                // Computed for every request, known number or not.
                let given = code_hash(number.as_deref().unwrap_or(""), code.as_deref().unwrap_or(""));
                let (Some(org), Some(number)) = (org, number) else {
                    return Err(EnrolmentError::Unavailable.into());
                };
                if !org.eq_ignore_ascii_case(group_id.trim()) {
                    return Err(EnrolmentError::Unavailable.into());
                }
                let row = tx
                    .query_row(
                        "SELECT e.id, e.user_id, u.login_id, e.code_sha256, e.failures, e.locked_at IS NOT NULL, e.used_at IS NOT NULL,
                                e.expires_at, e.operation, e.pending_certificate_id
                         FROM enrolments e JOIN users u ON u.id = e.user_id
                         WHERE e.number = ?1 AND e.closed_at IS NULL AND u.deleted_at IS NULL",
                        [&number],
                        |r| Ok((
                            (r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?),
                            (r.get::<_, u32>(4)?, r.get::<_, bool>(5)?, r.get::<_, bool>(6)?),
                            (r.get::<_, String>(7)?, r.get::<_, String>(8)?, r.get::<_, Option<i64>>(9)?),
                        )),
                    )
                    .optional()?;
                let Some(((id, user_id, login_id, hash), (failures, locked, used), (expires, operation, pending))) = row else {
                    return Err(EnrolmentError::Unavailable.into());
                };
                if code.is_none() || !same(&given, &hash) {
                    if !locked && !used {
                        let failures = failures + 1;
                        let lock = failures >= MAX_FAILURES;
                        tx.execute(
                            "UPDATE enrolments SET failures = ?1, locked_at = CASE WHEN ?2 THEN ?3 ELSE locked_at END WHERE id = ?4",
                            params![failures, lock, ts(now), id],
                        )?;
                        let action = if lock { AuditAction::EnrolmentLock } else { AuditAction::EnrolmentRefused };
                        audit::record(&tx, now, &Actor::Anonymous, action, Some(&login_id), Outcome::Failure,
                            serde_json::json!({"number": number, "failures": failures}))?;
                        tx.commit()?;
                    }
                    return Err(EnrolmentError::Unavailable.into());
                }
                if used {
                    return Err(EnrolmentError::Used.into());
                }
                if locked {
                    return Err(EnrolmentError::Locked.into());
                }
                if now >= parse_ts(&expires)? {
                    return Err(EnrolmentError::Expired.into());
                }
                let operation = EnrolmentOperation::parse(&operation).unwrap_or(EnrolmentOperation::Issue);
                let key_type = load_profile(&tx)?.key_type;
                // What the flow is asked to do: a first certificate, or the replacement of the
                // valid one (the unconfirmed one of an earlier try, or the old one of a reissue).
                let op = match valid_certificate(&tx, user_id, now)? {
                    None => Operation::Issue,
                    Some(c) if Some(c) == pending => Operation::Reissue(Some(RevocationReason::Superseded)),
                    // Issued by this enrolment but never bound to it (the server stopped
                    // between issuing and binding): an unsaved certificate like the above.
                    Some(c) if unbound_holder_certificate(&tx, c, id)? => {
                        Operation::Reissue(Some(RevocationReason::Superseded))
                    }
                    Some(_) if operation == EnrolmentOperation::Reissue => {
                        Operation::Reissue(Some(RevocationReason::Superseded))
                    }
                    Some(_) => return Err(EnrolmentError::HasValidCertificate { login_id }.into()),
                };
                Ok((id, user_id, login_id, number, op, key_type, pending))
            })
            .await?;
        let (enrolment_id, user_id, login_id, number, op, key_type, pending) = found;
        // 2. The request: parsed, its signature checked, its key held to the profile.
        let holder = tokio::task::spawn_blocking(move || csr::check(&der, key_type))
            .await
            .map_err(|e| ServiceError::Internal(format!("CSR task failed: {e}")))??;
        // 3. Issued through the one flow, with the holder as the actor.
        let actor = Actor::User {
            id: user_id,
            login_id: login_id.clone(),
        };
        let view = self
            .apply_for_holder(user_id, op, actor.clone(), holder)
            .await?;
        // 4. Bound to the enrolment until the browser confirms.
        let token = hex::encode(random_bytes::<32>()?);
        let (hash, certificate_id, serial) = (token_hash(&token), view.id, view.serial.clone());
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                tx.execute(
                    "UPDATE enrolments SET pending_certificate_id = ?1, confirm_sha256 = ?2, failures = 0 WHERE id = ?3",
                    params![certificate_id, hash, enrolment_id],
                )?;
                audit::record(&tx, now, &actor, AuditAction::EnrolmentIssue, Some(&login_id), Outcome::Success,
                    serde_json::json!({"number": number, "serial": serial, "operation": op.name(), "retry": pending.is_some()}))?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        self.enrolled(&view, token).await
    }

    /// `POST /api/enroll/confirm`: the browser offered the file; the enrolment is used.
    pub async fn confirm_enrolment(
        &self,
        group_id: String,
        number: String,
        confirm_token: String,
    ) -> Result<(), ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let given = token_hash(confirm_token.trim());
                let unknown = || ServiceError::from(EnrolmentError::ConfirmUnknown);
                let org = org_group(&tx)?.ok_or_else(unknown)?;
                let number = normalise_number(&number).ok_or_else(unknown)?;
                if !org.eq_ignore_ascii_case(group_id.trim()) {
                    return Err(unknown());
                }
                let row: Option<(i64, Option<String>, String, Option<String>)> = tx
                    .query_row(
                        "SELECT e.id, e.confirm_sha256, u.login_id, c.serial FROM enrolments e JOIN users u ON u.id = e.user_id
                         LEFT JOIN certificates c ON c.id = e.pending_certificate_id
                         WHERE e.number = ?1 AND e.closed_at IS NULL AND e.used_at IS NULL",
                        [&number],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .optional()?;
                let Some((id, Some(hash), login_id, serial)) = row else {
                    return Err(unknown());
                };
                if !same(&given, &hash) {
                    return Err(unknown());
                }
                tx.execute("UPDATE enrolments SET used_at = ?1 WHERE id = ?2", params![ts(now), id])?;
                audit::record(&tx, now, &Actor::Anonymous, AuditAction::EnrolmentConfirm, Some(&login_id), Outcome::Success,
                    serde_json::json!({"number": number, "serial": serial}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// `POST /check/renew`: the holder of the presented certificate (DER) renews it with a key
    /// their browser made. Refused unless the certificate is current, its renewal window is
    /// open (`E-CERT-003` with the date it opens) and self-renewal is on. The old certificate
    /// is superseded by the flow as every renewal is (it is not revoked, so it keeps working
    /// until it is deleted); a retry before confirmation revokes the unconfirmed new one
    /// (superseded) and issues another.
    pub async fn self_renew(
        &self,
        presented: Option<Vec<u8>>,
        csr_base64: String,
    ) -> Result<Enrolled, ServiceError> {
        if self.ca().is_none() {
            return Err(EnrolmentError::NotReady.into());
        }
        let der = csr::decode(&csr_base64)?;
        let now = self.clock().now();
        let standing = self
            .db()
            .run(move |conn| {
                let Some(der) = presented else {
                    return Err(EnrolmentError::NotCurrent.into());
                };
                let Some(id) = presented_certificate(conn, &der)? else {
                    return Err(EnrolmentError::NotCurrent.into());
                };
                let standing = renewal_standing(conn, id, now)?;
                match standing.offer.refusal() {
                    None => {}
                    Some(SelfRenewalRefusal::NotOpenYet(e)) => return Err(e.into()),
                    Some(SelfRenewalRefusal::Enrolment(e)) => return Err(e.into()),
                }
                let key_type = load_profile(conn)?.key_type;
                Ok((standing, key_type))
            })
            .await?;
        let (standing, key_type) = standing;
        let holder = tokio::task::spawn_blocking(move || csr::check(&der, key_type))
            .await
            .map_err(|e| ServiceError::Internal(format!("CSR task failed: {e}")))??;
        let actor = Actor::User {
            id: standing.user_id,
            login_id: standing.login_id.clone(),
        };
        let op = match standing.pending {
            Some(_) => Operation::Reissue(Some(RevocationReason::Superseded)),
            None => Operation::Renew,
        };
        let view = self
            .apply_for_holder(standing.user_id, op, actor.clone(), holder)
            .await?;
        let token = hex::encode(random_bytes::<32>()?);
        let hash = token_hash(&token);
        let (new_id, serial) = (view.id, view.serial.clone());
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if let Some(pending) = standing.pending {
                    tx.execute("UPDATE self_renewals SET replaced_at = ?1 WHERE id = ?2", params![ts(now), pending])?;
                }
                tx.execute(
                    "INSERT INTO self_renewals (user_id, old_certificate_id, new_certificate_id, confirm_sha256, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![standing.user_id, standing.certificate_id, new_id, hash, ts(now)],
                )?;
                audit::record(&tx, now, &actor, AuditAction::SelfRenewalIssue, Some(&standing.login_id), Outcome::Success,
                    serde_json::json!({"serial": serial, "old_certificate": standing.certificate_id, "retry": standing.pending.is_some()}))?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        self.enrolled(&view, token).await
    }

    /// `POST /check/renew/confirm`: the new file was offered; the renewal takes effect (the
    /// renewal can no longer be tried again from the old certificate).
    pub async fn confirm_self_renewal(
        &self,
        presented: Option<Vec<u8>>,
        confirm_token: String,
    ) -> Result<(), ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let given = token_hash(confirm_token.trim());
                let unknown = || ServiceError::from(EnrolmentError::ConfirmUnknown);
                let der = presented.ok_or(EnrolmentError::NotCurrent)?;
                let old = presented_certificate(&tx, &der)?.ok_or(EnrolmentError::NotCurrent)?;
                let row: Option<(i64, String, String, String)> = tx
                    .query_row(
                        "SELECT s.id, s.confirm_sha256, u.login_id, n.serial FROM self_renewals s
                         JOIN users u ON u.id = s.user_id JOIN certificates n ON n.id = s.new_certificate_id
                         WHERE s.old_certificate_id = ?1 AND s.confirmed_at IS NULL AND s.replaced_at IS NULL",
                        [old],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .optional()?;
                let Some((id, hash, login_id, serial)) = row else {
                    return Err(unknown());
                };
                if !same(&given, &hash) {
                    return Err(unknown());
                }
                tx.execute("UPDATE self_renewals SET confirmed_at = ?1 WHERE id = ?2", params![ts(now), id])?;
                let actor = Actor::User { id: tx.query_row("SELECT user_id FROM self_renewals WHERE id = ?1", [id], |r| r.get(0))?, login_id: login_id.clone() };
                audit::record(&tx, now, &actor, AuditAction::SelfRenewalConfirm, Some(&login_id), Outcome::Success,
                    serde_json::json!({"serial": serial}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }
}
