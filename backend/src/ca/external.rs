//! Issuing through an external CA (cfssl), and its settings.
//!
//! The network call never happens inside a SQLite transaction. One operation is:
//! 1. one transaction: the lifecycle rules, and a `ca_requests` row (pending) with the CN and
//!    the SHA-256 of the public key asked for, audited;
//! 2. for revoke / reissue: `revoke` at the CA, then one transaction that records it;
//! 3. for issue / renew / reissue: `sign` (or `authsign`) with a CSR made here, then one
//!    transaction that stores the certificate, its sealed key (the same `certificate_keys`, so
//!    distribution works unchanged), the audit row, and marks the request done.
//!
//! A certificate counts as issued only once step 3 committed. A request the CA may have acted
//! on without a usable answer (timeout, 5xx, broken body) stays `unanswered`: cfssl 1.2 has
//! no endpoint to look a certificate up by subject or key, so certdesk cannot fetch it later;
//! it keeps the CN and key hash for the CA operator, reports it at the next request for that
//! user (audit `ca_request_unanswered`), and never stores a second valid certificate (the
//! partial unique index). If the CA answered but the commit failed, the new certificate is
//! revoked at the CA at once and the request is marked `orphan`.

use crate::ca::cfssl::{CfsslClient, CfsslConfig, ProxyConfig};
use crate::certificates::{
    load_profile, load_subject, read_view, sweep_expired, Operation, CERT_COLUMNS,
};
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::ts;
use crate::store::secrets::Purpose;
use crate::Backend;
use certdesk_domain::authority::{
    reconcile, reconcile_grace, CertificateAuthority, CertificateOrder, Reconciliation,
};
use certdesk_domain::external_ca::{
    parse_auth_key, CaBackendKind, CaBackendView, CaCheckStep, CaError, CaSettingsError,
    CfsslSettings, KeySource, RetryPolicy,
};
use certdesk_domain::lifecycle::{self, RevocationReason};
use certdesk_domain::profile::{certificate_cn, with_bank_code};
use certdesk_domain::views::CertificateView;
use certdesk_domain::AuditAction;
use certdesk_domain::Message;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData};
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};
use std::time::Duration;
use time::OffsetDateTime;

/// What the Settings page saves. An empty `auth_key` or `proxy_password` keeps the stored one.
#[derive(Debug, Clone, Default)]
pub struct CaBackendInput {
    pub kind: CaBackendKind,
    pub cfssl: CfsslSettings,
    pub auth_key: String,
    pub proxy_password: String,
}

struct Stored {
    view: CaBackendView,
    auth_key_sealed: Option<Vec<u8>>,
    proxy_password_sealed: Option<Vec<u8>>,
    /// Whether the CA's answers carried the serial certdesk proposed (`None`: not seen yet).
    serials_honoured: Option<bool>,
}

fn load_stored(conn: &rusqlite::Connection) -> Result<Stored, ServiceError> {
    let row = conn
        .query_row(
            "SELECT kind, url, profile, auth_key_sealed, connect_timeout_s, total_timeout_s, proxy_url, proxy_user,
                    proxy_password_sealed, ca_bundle_pem, key_source, serials_honoured FROM ca_backend WHERE id = 1",
            [],
            |r| {
                Ok(Stored {
                    view: CaBackendView {
                        kind: CaBackendKind::parse(&r.get::<_, String>(0)?).unwrap_or_default(),
                        cfssl: CfsslSettings {
                            url: r.get(1)?,
                            profile: r.get(2)?,
                            connect_timeout_s: r.get(4)?,
                            total_timeout_s: r.get(5)?,
                            proxy_url: r.get(6)?,
                            proxy_user: r.get(7)?,
                            ca_bundle_pem: r.get(9)?,
                            key_source: KeySource::parse(&r.get::<_, String>(10)?).unwrap_or_default(),
                        },
                        auth_key_set: r.get::<_, Option<Vec<u8>>>(3)?.is_some(),
                        proxy_password_set: r.get::<_, Option<Vec<u8>>>(8)?.is_some(),
                    },
                    auth_key_sealed: r.get(3)?,
                    proxy_password_sealed: r.get(8)?,
                    serials_honoured: r.get(11)?,
                })
            },
        )
        .optional()?;
    Ok(row.unwrap_or_else(|| Stored {
        view: CaBackendView {
            cfssl: CfsslSettings {
                connect_timeout_s: 5,
                total_timeout_s: 30,
                ..CfsslSettings::default()
            },
            ..CaBackendView::default()
        },
        auth_key_sealed: None,
        proxy_password_sealed: None,
        serials_honoured: None,
    }))
}

/// The pending request of step 1.
struct Plan {
    login_id: String,
    current: Option<(i64, String)>,
    revoke_reason: Option<RevocationReason>,
    request: Option<Request>,
}

struct Request {
    id: i64,
    seq: u32,
    order: CertificateOrder,
    key_source: KeySource,
    friendly_name: String,
}

/// The certificate the CA returned, read.
struct Received {
    der: Vec<u8>,
    serial: String,
    subject: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

fn internal(what: &'static str) -> impl Fn(openssl::error::ErrorStack) -> CaError {
    move |e| CaError::Unparsable {
        detail: format!("{what}: {e}"),
    }
}

fn asn1_time(t: &openssl::asn1::Asn1TimeRef) -> Result<OffsetDateTime, CaError> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).map_err(internal("time"))?;
    let d = epoch.diff(t).map_err(internal("time"))?;
    Ok(OffsetDateTime::UNIX_EPOCH
        + time::Duration::days(i64::from(d.days))
        + time::Duration::seconds(i64::from(d.secs)))
}

/// Reads the CA's PEM answer and checks that it certifies `key`.
fn read_certificate(pem: &str, key: &KeyPair) -> Result<Received, CaError> {
    let cert = openssl::x509::X509::from_pem(pem.as_bytes()).map_err(internal("certificate"))?;
    let spki = cert
        .public_key()
        .and_then(|k| k.public_key_to_der())
        .map_err(internal("public key"))?;
    if spki != key.subject_public_key_info() {
        return Err(CaError::Mismatch {
            detail: "another public key than the request's".into(),
        });
    }
    let serial = cert
        .serial_number()
        .to_bn()
        .and_then(|bn| bn.to_hex_str().map(|h| even_hex(&h)))
        .map_err(internal("serial"))?;
    let subject = crate::ca::cfssl::subject_of(&cert);
    Ok(Received {
        der: cert.to_der().map_err(internal("certificate"))?,
        serial,
        subject,
        not_before: asn1_time(cert.not_before())?,
        not_after: asn1_time(cert.not_after())?,
    })
}

fn csr_pem(key: &KeyPair, o: &str, ou: &str, cn: &str) -> Result<String, ServiceError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, o);
    dn.push(DnType::OrganizationalUnitName, ou);
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params
        .serialize_request(key)
        .and_then(|csr| csr.pem())
        .map_err(|e| ServiceError::Internal(format!("CSR: {e}")))
}

impl Backend {
    /// The CA settings for the Settings page (secrets only as "set").
    pub async fn ca_backend(&self) -> Result<CaBackendView, ServiceError> {
        self.db().run(|conn| Ok(load_stored(conn)?.view)).await
    }

    /// Saves the CA choice and the external CA's settings; audited without secrets.
    pub async fn update_ca_backend(
        &self,
        input: CaBackendInput,
        actor: Actor,
    ) -> Result<(), ServiceError> {
        if input.kind == CaBackendKind::Cfssl {
            input.cfssl.validate()?;
        }
        let auth_key = match input.auth_key.trim() {
            "" => None,
            text => Some(parse_auth_key(text)?),
        };
        let now = self.clock().now();
        let master = self.master_key();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let stored = load_stored(&tx)?;
                let auth_key_sealed = match &auth_key {
                    Some(k) => Some(master.seal(Purpose::CaKey, "cfssl auth key", hex::encode(k).as_bytes())?),
                    None => stored.auth_key_sealed,
                };
                let proxy_password_sealed = match input.proxy_password.as_str() {
                    "" => stored.proxy_password_sealed,
                    p => Some(master.seal(Purpose::CaKey, "ca proxy password", p.as_bytes())?),
                };
                let c = &input.cfssl;
                tx.execute(
                    "INSERT INTO ca_backend (id, kind, url, profile, auth_key_sealed, connect_timeout_s, total_timeout_s,
                                             proxy_url, proxy_user, proxy_password_sealed, ca_bundle_pem, updated_at, key_source)
                     VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT (id) DO UPDATE SET kind = ?1, url = ?2, profile = ?3, auth_key_sealed = ?4,
                        connect_timeout_s = ?5, total_timeout_s = ?6, proxy_url = ?7, proxy_user = ?8,
                        proxy_password_sealed = ?9, ca_bundle_pem = ?10, updated_at = ?11, key_source = ?12,
                        serials_honoured = CASE WHEN url = ?2 AND profile = ?3 THEN serials_honoured END",
                    params![input.kind.as_str(), c.url.trim(), c.profile.trim(), auth_key_sealed, c.connect_timeout_s,
                        c.total_timeout_s, c.proxy_url.trim(), c.proxy_user.trim(), proxy_password_sealed,
                        c.ca_bundle_pem.trim(), ts(now), c.key_source.as_str()],
                )?;
                audit::record(&tx, now, &actor, AuditAction::CaBackendUpdate, Some(input.kind.as_str()), Outcome::Success,
                    serde_json::json!({"kind": input.kind.as_str(), "url": c.url.trim(), "profile": c.profile.trim(),
                        "auth_key_changed": auth_key.is_some(), "proxy_url": c.proxy_url.trim(),
                        "proxy_password_changed": !input.proxy_password.is_empty(), "key_source": c.key_source.as_str(),
                        "connect_timeout_s": c.connect_timeout_s, "total_timeout_s": c.total_timeout_s}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// The external CA's client when the organisation issues with cfssl, else `None`.
    pub async fn external_ca(&self) -> Result<Option<CfsslClient>, ServiceError> {
        let stored = self.db().run(|conn| load_stored(conn)).await?;
        if stored.view.kind != CaBackendKind::Cfssl {
            return Ok(None);
        }
        Ok(Some(self.cfssl_client(stored)?))
    }

    /// The cfssl client from the stored settings whichever CA is chosen now (certificates it
    /// issued are revoked there after a switch back); E-CA-020 if no URL was ever saved.
    pub async fn stored_cfssl_client(&self) -> Result<CfsslClient, ServiceError> {
        let stored = self.db().run(|conn| load_stored(conn)).await?;
        if stored.view.cfssl.url.trim().is_empty() {
            return Err(CaSettingsError::Url.into());
        }
        self.cfssl_client(stored)
    }

    fn cfssl_client(&self, stored: Stored) -> Result<CfsslClient, ServiceError> {
        let master = self.master_key();
        let c = stored.view.cfssl;
        let auth_key = match stored.auth_key_sealed {
            Some(sealed) => {
                let text = master.open(Purpose::CaKey, "cfssl auth key", &sealed)?;
                Some(parse_auth_key(&String::from_utf8_lossy(&text))?)
            }
            None => None,
        };
        let proxy = match c.proxy_url.trim() {
            "" => None,
            url => Some(ProxyConfig {
                url: url.to_string(),
                user: c.proxy_user.clone(),
                password: match stored.proxy_password_sealed {
                    Some(sealed) => String::from_utf8_lossy(&master.open(
                        Purpose::CaKey,
                        "ca proxy password",
                        &sealed,
                    )?)
                    .into_owned(),
                    None => String::new(),
                },
            }),
        };
        Ok(CfsslClient::new(CfsslConfig {
            url: c.url,
            profile: c.profile,
            auth_key,
            connect_timeout: Duration::from_secs(u64::from(c.connect_timeout_s)),
            total_timeout: Duration::from_secs(u64::from(c.total_timeout_s)),
            proxy,
            ca_bundle_pem: Some(c.ca_bundle_pem).filter(|p| !p.trim().is_empty()),
            retry: RetryPolicy::default(),
        })?)
    }

    /// "Test connection": settings, then `info` (connect + the CA certificate), then the
    /// authentication (an `authsign` cfssl refuses after checking the token). Stops at the
    /// first failed step.
    pub async fn test_ca_connection(&self) -> Result<Vec<CaCheckStep>, ServiceError> {
        let stored = self.db().run(|conn| load_stored(conn)).await?;
        let mut steps = Vec::new();
        let ok = |step: &str, ja: String, en: String| CaCheckStep {
            step: step.into(),
            ok: true,
            code: None,
            message: Message::new(ja, en),
        };
        let failed = |step: &str, e: &ServiceError| CaCheckStep {
            step: step.into(),
            ok: false,
            code: Some(e.code().to_string()),
            message: e.message(),
        };
        let has_key = stored.auth_key_sealed.is_some();
        let client = match self.cfssl_client(stored) {
            Ok(c) => c,
            Err(e) => {
                steps.push(failed("settings", &e));
                return Ok(steps);
            }
        };
        steps.push(ok(
            "settings",
            "設定を読み込みました。".into(),
            "Settings read.".into(),
        ));
        match CertificateAuthority::health(&client).await {
            Ok(health) => {
                let subject = health.ca_subject;
                steps.push(ok(
                    "info",
                    format!("CAに接続し、CA証明書を受け取りました: {subject}"),
                    format!("Connected; the CA sent its certificate: {subject}"),
                ));
            }
            Err(e) => {
                steps.push(failed("info", &e.into()));
                return Ok(steps);
            }
        }
        match client.check_auth().await {
            Ok(()) if has_key => steps.push(ok(
                "auth",
                "HMAC認証キーがCAに受け付けられました(authsign)。".into(),
                "The CA accepted the HMAC key (authsign).".into(),
            )),
            Ok(()) => steps.push(ok(
                "auth",
                "HMAC認証キーは未設定です。認証なしの sign を使います。".into(),
                "No HMAC key is set; the unauthenticated sign endpoint is used.".into(),
            )),
            Err(e) => steps.push(failed("auth", &e.into())),
        }
        Ok(steps)
    }

    /// Requests the start-up job finds still pending (the process stopped while waiting for
    /// the CA) become `unanswered`. Returns how many.
    pub async fn settle_ca_requests(&self) -> Result<usize, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let n = tx.execute(
                    "UPDATE ca_requests SET state = 'unanswered', finished_at = ?1 WHERE state = 'pending'",
                    [ts(now)],
                )?;
                if n > 0 {
                    audit::record(&tx, now, &Actor::System, AuditAction::CaRequestUnanswered, None, Outcome::Failure,
                        serde_json::json!({"requests": n, "why": "stopped while waiting for the CA"}))?;
                }
                tx.commit()?;
                Ok(n)
            })
            .await
    }

    /// One lifecycle operation through a CA behind the interface (see the module
    /// documentation). `ca` must be the CA that issued the user's current certificate when the
    /// operation revokes it.
    pub(crate) async fn apply_external<C: CertificateAuthority>(
        &self,
        user_id: i64,
        op: Operation,
        actor: Actor,
        key: Option<KeyPair>,
        ca: &C,
        bulk_job: Option<i64>,
    ) -> Result<Option<CertificateView>, ServiceError> {
        self.apply_through(user_id, op, actor, key, ca, ca, bulk_job)
            .await
    }

    /// [`Self::apply_external`] with the revocation at `revoke_at` and the new certificate
    /// from `ca`: a reissue after the organisation switched CAs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn apply_through<R: CertificateAuthority, C: CertificateAuthority>(
        &self,
        user_id: i64,
        op: Operation,
        actor: Actor,
        key: Option<KeyPair>,
        revoke_at: &R,
        ca: &C,
        bulk_job: Option<i64>,
    ) -> Result<Option<CertificateView>, ServiceError> {
        // Lost answers of this user's earlier requests first: settled by serial, or wait. A
        // revocation never waits for that (a compromised key must not). Only cfssl is asked:
        // the embedded CA never has a lost answer.
        if ca.kind() == CaBackendKind::Cfssl {
            if op.needs_key() {
                self.reconcile_requests(ca, Some(user_id)).await?;
            } else if let Err(e) = self.reconcile_requests(ca, Some(user_id)).await {
                tracing::warn!(error.code = e.code(), error.detail = %e, "lost answers not settled before a revocation");
            }
        }
        let issuer = ca.kind();
        let now = self.clock().now();
        let key_hash = key
            .as_ref()
            .map(|k| hex::encode(Sha256::digest(k.subject_public_key_info())));
        let proposed_serial = hex::encode(crate::ca::random_serial()?);
        let a = actor.clone();
        let plan = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                sweep_expired(&tx, now)?;
                let s = load_subject(&tx, user_id)?;
                let profile = load_profile(&tx)?;
                let stored = load_stored(&tx)?;
                let key_source = stored.view.cfssl.key_source;
                let sent_to = match issuer {
                    CaBackendKind::Cfssl => sent_to(&stored.view),
                    CaBackendKind::Embedded => EMBEDDED.to_string(),
                };
                let current = s.current.as_ref().map(|c| &c.2);
                let revoke_reason = match op {
                    Operation::Issue => {
                        lifecycle::check_issue(s.holder, current, s.valid_count, now)?;
                        None
                    }
                    Operation::Renew => {
                        lifecycle::check_renew(s.holder, current, &profile.lifecycle(), now)?;
                        None
                    }
                    Operation::Revoke(reason) => Some(lifecycle::check_revoke(current, reason)?),
                    Operation::Reissue(reason) => {
                        lifecycle::check_reissue(s.holder, current, reason, s.valid_count, now)?
                    }
                };
                let request = if op.needs_key() {
                    let open_by_serial: i64 = tx.query_row(
                        "SELECT count(*) FROM ca_requests WHERE user_id = ?1 AND state = 'unanswered' AND proposed_serial IS NOT NULL",
                        [user_id],
                        |r| r.get(0),
                    )?;
                    if open_by_serial > 0 {
                        // Lost just now (by a concurrent operation): settled by serial first.
                        return Err(CaError::InFlight { retry_after_s: 60 }.into());
                    }
                    let earlier: Vec<(i64, String)> = tx
                        .prepare("SELECT id, cn FROM ca_requests WHERE user_id = ?1 AND state = 'unanswered'")?
                        .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<Result<_, _>>()?;
                    for (id, cn) in earlier {
                        tx.execute("UPDATE ca_requests SET state = 'orphan' WHERE id = ?1", [id])?;
                        audit::record(&tx, now, &a, AuditAction::CaRequestUnanswered, Some(&s.login_id), Outcome::Failure,
                            serde_json::json!({"request": id, "cn": cn,
                                "remedy": "the CA may hold a certificate with this CN that certdesk never received; revoke it at the CA"}))?;
                    }
                    let cn = certificate_cn(&s.login_id, s.next_seq, now);
                    let proposed = (key_source == KeySource::Csr).then_some(proposed_serial);
                    let inserted = tx.execute(
                        "INSERT INTO ca_requests (user_id, operation, cn, public_key_sha256, proposed_serial, state, created_at, sent_to)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)",
                        params![user_id, op.name(), cn, key_hash, proposed, ts(now), sent_to],
                    );
                    match inserted {
                        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                            return Err(CaError::InFlight { retry_after_s: 30 }.into());
                        }
                        other => other?,
                    };
                    let id = tx.last_insert_rowid();
                    audit::record(&tx, now, &a, AuditAction::CaRequest, Some(&s.login_id), Outcome::Success,
                        serde_json::json!({"request": id, "operation": op.name(), "cn": cn, "public_key_sha256": key_hash,
                            "proposed_serial": proposed, "key_source": key_source.as_str()}))?;
                    let (not_before, not_after) = profile.lifecycle().validity_from(now);
                    Some(Request {
                        id,
                        seq: s.next_seq,
                        order: CertificateOrder {
                            o: with_bank_code(&s.bank_code, &s.org_name),
                            ou: with_bank_code(&s.bank_code, &format!("{} - G1", profile.ca_name)),
                            cn,
                            serial_hex: proposed.unwrap_or_default(),
                            not_before,
                            not_after,
                            key_type: profile.key_type,
                        },
                        key_source,
                        friendly_name: profile.friendly_name(&s.org_name, &s.login_id),
                    })
                } else {
                    None
                };
                tx.commit()?;
                Ok(Plan {
                    login_id: s.login_id,
                    current: s.current.map(|c| (c.0, c.1)),
                    revoke_reason,
                    request,
                })
            })
            .await?;

        if let (Some(reason), Some((old_id, old_serial))) =
            (plan.revoke_reason, plan.current.clone())
        {
            if let Err(e) = revoke_at.revoke(&old_serial, reason).await {
                self.fail_request(&plan, &actor, &e, "revoke").await?;
                return Err(e.into());
            }
            let (a, target) = (actor.clone(), plan.login_id.clone());
            let finishes_item = plan.request.is_none();
            let ca_name = revoke_at.kind().as_str();
            let recorded = self.db()
                .run(move |conn| {
                    let tx = conn.transaction()?;
                    tx.execute(
                        "UPDATE certificates SET state = 'revoked', revoked_at = ?1, revocation_reason = ?2 WHERE id = ?3",
                        params![ts(now), reason.as_str(), old_id],
                    )?;
                    audit::record(&tx, now, &a, AuditAction::CertificateRevoke, Some(&target), Outcome::Success,
                        serde_json::json!({"serial": old_serial, "reason": reason.as_str(), "reason_code": reason.code(),
                            "as_part_of": op.name(), "ca": ca_name}))?;
                    if let (Some(job), true) = (bulk_job, finishes_item) {
                        tx.execute(
                            "UPDATE bulk_job_items SET status = 'done', finished_at = ?1 WHERE job_id = ?2 AND user_id = ?3",
                            params![ts(now), job, user_id],
                        )?;
                    }
                    tx.commit()?;
                    Ok(())
                })
                .await;
            if let Err(e) = recorded {
                // Revoked at the CA (doing it again is harmless) but not recorded here.
                return self.abandon(&plan, &actor, e).await;
            }
        }

        let Some(request) = plan.request.as_ref() else {
            return Ok(None);
        };
        // The key source is the one recorded with the request (a bulk run may have started
        // with another): a CSR needs a key made here.
        let key = match (request.key_source, key) {
            (KeySource::Csr, None) => {
                let key_type = request.order.key_type;
                match crate::ca::generate_key_off_thread(key_type).await {
                    Ok(k) => Some(k),
                    Err(e) => return self.abandon(&plan, &actor, e).await,
                }
            }
            (_, key) => key,
        };
        // `Err((error, serial))`: with a serial when the CA did send a certificate.
        let answer: Result<(Received, KeyPair), (CaError, Option<String>)> =
            match (request.key_source, key) {
                (KeySource::Csr, Some(key)) => {
                    let csr =
                        match csr_pem(&key, &request.order.o, &request.order.ou, &request.order.cn)
                        {
                            Ok(csr) => csr,
                            Err(e) => return self.abandon(&plan, &actor, e).await,
                        };
                    match ca.issue_from_csr(&csr, &request.order).await {
                        Ok(pem) => read_certificate(&pem, &key)
                            .map(|r| (r, key))
                            .map_err(|e| (e, pem_serial(&pem))),
                        Err(e) => Err((e, None)),
                    }
                }
                (_, _) => match ca.issue_with_server_key(&request.order).await {
                    Ok(issued) => server_key(&issued.private_key_pem)
                        .and_then(|key| {
                            read_certificate(&issued.certificate_pem, &key).map(|r| (r, key))
                        })
                        .map_err(|e| (e, pem_serial(&issued.certificate_pem))),
                    Err(e) => Err((e, None)),
                },
            };
        let (received, key) = match answer {
            Ok(r) => r,
            Err((e, Some(serial))) => {
                // The CA made a certificate certdesk will not store: revoke it there at once;
                // if that fails, the periodic job keeps trying by its serial.
                let revoked = ca
                    .revoke(&serial, RevocationReason::Superseded)
                    .await
                    .is_ok();
                self.fail_request(&plan, &actor, &e, "sign").await?;
                self.settle_refused(request.id, &plan.login_id, &serial, revoked)
                    .await?;
                return Err(e.into());
            }
            Err((e, None)) => {
                self.fail_request(&plan, &actor, &e, "sign").await?;
                if e.outcome_unknown() {
                    // The CA may have made it: try at once to find it by serial and revoke it.
                    let _ = self.reconcile_requests(ca, Some(user_id)).await;
                }
                return Err(e.into());
            }
        };
        let serial = received.serial.clone();
        let honoured = (request.key_source == KeySource::Csr)
            .then(|| same_serial(&request.order.serial_hex, &serial));
        let master = self.master_key();
        let (a, target, request_id, seq) = (
            actor.clone(),
            plan.login_id.clone(),
            request.id,
            request.seq,
        );
        let (friendly_name, key_type) = (
            request.friendly_name.clone(),
            request.order.key_type.as_str().to_string(),
        );
        let replaces = plan.current.as_ref().map(|c| c.0);
        let replaces_serial = plan.current.as_ref().map(|c| c.1.clone());
        let ca_name = ca.kind().as_str();
        let stored = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let profile = load_profile(&tx)?;
                if op == Operation::Renew {
                    let superseded = tx.execute(
                        "UPDATE certificates SET state = 'superseded', ended_at = ?1 WHERE id = ?2 AND state = 'valid'",
                        params![ts(now), replaces],
                    )?;
                    if superseded == 0 {
                        // Revoked (or ended) while the CA was answering: the rules no longer
                        // allow this renewal; the new certificate is taken back below.
                        let s = load_subject(&tx, user_id)?;
                        lifecycle::check_renew(s.holder, s.current.as_ref().map(|c| &c.2), &profile.lifecycle(), now)?;
                        return Err(ServiceError::Internal("the renewed certificate changed while the CA answered".into()));
                    }
                }
                let r = &received;
                tx.execute(
                    "INSERT INTO certificates (user_id, serial, seq, subject, key_type, friendly_name, not_before, not_after,
                                               state, cert_der, sha256, via, replaces_id, issued_at, issued_by, ca_kind)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'valid', ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                    params![user_id, r.serial, seq, r.subject, key_type, friendly_name, ts(r.not_before), ts(r.not_after),
                        r.der, hex::encode(Sha256::digest(&r.der)), op.name(), replaces, ts(now), a.columns().1, ca_name],
                )?;
                let id = tx.last_insert_rowid();
                let sealed = master.seal(Purpose::CertificateKeys, &format!("certificate {id}"), key.serialize_pem().as_bytes())?;
                tx.execute(
                    "INSERT INTO certificate_keys (certificate_id, sealed, created_at) VALUES (?1, ?2, ?3)",
                    params![id, sealed, ts(now)],
                )?;
                tx.execute(
                    "UPDATE ca_requests SET state = 'done', serial = ?1, certificate_id = ?2, finished_at = ?3,
                            public_key_sha256 = ?5 WHERE id = ?4",
                    params![r.serial, id, ts(now), request_id, hex::encode(Sha256::digest(key.subject_public_key_info()))],
                )?;
                if let Some(honoured) = honoured {
                    tx.execute("UPDATE ca_backend SET serials_honoured = ?1 WHERE id = 1", [honoured])?;
                }
                audit::record(&tx, now, &a, AuditAction::certificate(op.name()).expect("every operation has an audit action"), Some(&target), Outcome::Success,
                    serde_json::json!({"serial": r.serial, "not_after": ts(r.not_after), "key_type": key_type,
                        "replaces": replaces_serial, "ca": ca_name, "request": request_id}))?;
                let view = tx.query_row(
                    &format!("SELECT {CERT_COLUMNS} FROM certificates c JOIN users u ON u.id = c.user_id WHERE c.id = ?1"),
                    [id],
                    |row| read_view(row, now, &profile),
                )?;
                if let Some(job) = bulk_job {
                    tx.execute(
                        "UPDATE bulk_job_items SET status = 'done', serial = ?1, finished_at = ?2 WHERE job_id = ?3 AND user_id = ?4",
                        params![view.serial, ts(now), job, user_id],
                    )?;
                }
                tx.commit()?;
                Ok(view)
            })
            .await;
        match stored {
            Ok(view) => Ok(Some(view)),
            Err(e) => {
                // The CA made a certificate the database does not hold: take it back.
                let revoked = ca.revoke(&serial, RevocationReason::Superseded).await;
                tracing::error!(ca.serial = %serial, error.code = e.code(), error.detail = %e,
                    revoked_at_ca = revoked.is_ok(), "certificate from the CA not stored");
                let (a, target) = (actor.clone(), plan.login_id.clone());
                let code = e.code();
                // Revoked at the CA: settled. Not (the CA did not answer): `unanswered` with
                // its serial, so the periodic job revokes it later.
                let state = if revoked.is_ok() {
                    "reconciled"
                } else {
                    "unanswered"
                };
                self.db()
                    .run(move |conn| {
                        let tx = conn.transaction()?;
                        tx.execute(
                            "UPDATE ca_requests SET state = ?5, serial = ?1, proposed_serial = ?1, sent_to = NULL, error_code = ?2,
                                    finished_at = ?3 WHERE id = ?4",
                            params![serial, code, ts(now), request_id, state],
                        )?;
                        audit::record(&tx, now, &a, AuditAction::CaRequestOrphan, Some(&target), Outcome::Failure,
                            serde_json::json!({"request": request_id, "serial": serial, "revoked_at_ca": revoked.is_ok()}))?;
                        tx.commit()?;
                        Ok(())
                    })
                    .await?;
                Err(e)
            }
        }
    }

    /// Settles requests whose answer was lost (state `unanswered`, with a proposed serial) by
    /// revoking that serial at `ca` (see [`reconcile`]). With `user`, only that user's, and a
    /// request that may still reach the CA stops the caller with E-CA-012; without, every one
    /// (the periodic job), and the CA being unreachable is left for the next run.
    pub async fn reconcile_requests<C: CertificateAuthority>(
        &self,
        ca: &C,
        user: Option<i64>,
    ) -> Result<ReconcileReport, ServiceError> {
        let (open, honoured, total_timeout_s, here) = self
            .db()
            .run(move |conn| {
                let stored = load_stored(conn)?;
                let open: Vec<(i64, String, String, String, Option<String>, String)> = conn
                    .prepare(
                        "SELECT r.id, r.proposed_serial, coalesce(r.finished_at, r.created_at), u.login_id, r.sent_to, r.cn
                           FROM ca_requests r JOIN users u ON u.id = r.user_id
                          WHERE r.state = 'unanswered' AND r.proposed_serial IS NOT NULL
                            AND (?1 IS NULL OR r.user_id = ?1) ORDER BY r.id",
                    )?
                    .query_map([user], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
                    .collect::<Result<_, _>>()?;
                Ok((open, stored.serials_honoured, stored.view.cfssl.total_timeout_s, sent_to(&stored.view)))
            })
            .await?;
        let grace = reconcile_grace(Duration::from_secs(u64::from(total_timeout_s.max(1))));
        let mut report = ReconcileReport::default();
        for (id, serial, since, login_id, request_sent_to, cn) in open {
            let now = self.clock().now();
            let age = (now - crate::store::db::parse_ts(&since)?)
                .try_into()
                .unwrap_or(Duration::ZERO);
            // What was learnt of serials holds only for the CA and profile the request went to.
            if request_sent_to.as_deref() == Some(EMBEDDED) {
                // Signed in this process and not stored: the certificate never left it.
                self.close_request(id, &login_id, "never_issued", now)
                    .await?;
                report.never_issued += 1;
                continue;
            }
            let honoured_there = match request_sent_to {
                Some(to) if to == here => honoured,
                Some(_) => None,
                // Kept after a failed commit: the certificate exists, only its revocation is due.
                None => None,
            };
            let revoked = ca.revoke(&serial, RevocationReason::Superseded).await;
            let (state, action) = match reconcile(&revoked, honoured_there, age, grace) {
                Some(Reconciliation::RevokedAtCa) => {
                    ("reconciled", AuditAction::CaRequestReconciled)
                }
                Some(Reconciliation::NeverIssued) => {
                    ("never_issued", AuditAction::CaRequestNeverIssued)
                }
                Some(Reconciliation::Wait { retry_after }) => {
                    report.waiting = report.waiting.max(Some(retry_after));
                    continue;
                }
                Some(Reconciliation::CannotTell) if user.is_some() => {
                    // Reported to the CA operator with its CN; the user may go on.
                    report.cannot_tell += 1;
                    ("orphan", AuditAction::CaRequestUnanswered)
                }
                Some(Reconciliation::CannotTell) => {
                    report.cannot_tell += 1;
                    continue;
                }
                None => {
                    let e = revoked.err().unwrap_or(CaError::NotSent {
                        detail: "revoke".into(),
                    });
                    if user.is_some() {
                        return Err(e.into());
                    }
                    // The CA does not answer: the rest waits for the next run.
                    tracing::warn!(ca.request = id, error.code = e.code(), error.detail = %e, "lost answers not settled yet");
                    report.unreachable += 1;
                    break;
                }
            };
            self.db()
                .run(move |conn| {
                    let tx = conn.transaction()?;
                    let changed = tx.execute(
                        "UPDATE ca_requests SET state = ?1, finished_at = ?2 WHERE id = ?3 AND state = 'unanswered'",
                        params![state, ts(now), id],
                    )?;
                    if changed > 0 {
                        let details = match state {
                            "orphan" => serde_json::json!({"request": id, "cn": cn, "proposed_serial": serial,
                                "remedy": "the CA may hold a certificate with this CN that certdesk never received; revoke it at the CA"}),
                            _ => serde_json::json!({"request": id, "serial": serial, "revoked_at_ca": state == "reconciled"}),
                        };
                        let outcome = if state == "orphan" { Outcome::Failure } else { Outcome::Success };
                        audit::record(&tx, now, &Actor::System, action, Some(&login_id), outcome, details)?;
                    }
                    tx.commit()?;
                    Ok(())
                })
                .await?;
            match state {
                "reconciled" => report.revoked_at_ca += 1,
                "never_issued" => report.never_issued += 1,
                _ => {}
            }
        }
        if let (Some(user_wait), Some(_)) = (report.waiting, user) {
            return Err(CaError::InFlight {
                retry_after_s: user_wait.as_secs().max(1),
            }
            .into());
        }
        Ok(report)
    }

    async fn close_request(
        &self,
        id: i64,
        login_id: &str,
        state: &'static str,
        now: time::OffsetDateTime,
    ) -> Result<(), ServiceError> {
        let target = login_id.to_string();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if tx.execute(
                    "UPDATE ca_requests SET state = ?1, finished_at = ?2 WHERE id = ?3 AND state = 'unanswered'",
                    params![state, ts(now), id],
                )? > 0
                {
                    audit::record(&tx, now, &Actor::System, AuditAction::CaRequestNeverIssued, Some(&target), Outcome::Success,
                        serde_json::json!({"request": id, "why": "signed by the embedded CA and not stored"}))?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// The periodic job: settles every lost answer with the cfssl settings (nothing to do
    /// without unanswered requests).
    pub async fn reconcile_ca_requests(&self) -> Result<ReconcileReport, ServiceError> {
        let open: i64 = self
            .db()
            .run(|conn| {
                Ok(conn.query_row(
                    "SELECT count(*) FROM ca_requests WHERE state = 'unanswered' AND proposed_serial IS NOT NULL",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await?;
        if open == 0 {
            return Ok(ReconcileReport::default());
        }
        let client = self.stored_cfssl_client().await?;
        self.reconcile_requests(&client, None).await
    }

    /// A failure before the request reached the CA, or of recording what the CA did: the
    /// request ends `failed` (never left pending) and the error is returned.
    async fn abandon(
        &self,
        plan: &Plan,
        actor: &Actor,
        e: ServiceError,
    ) -> Result<Option<CertificateView>, ServiceError> {
        let now = self.clock().now();
        let request = plan.request.as_ref().map(|r| r.id);
        let (a, target, code, detail) = (
            actor.clone(),
            plan.login_id.clone(),
            e.code(),
            e.to_string(),
        );
        let recorded = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if let Some(id) = request {
                    tx.execute(
                        "UPDATE ca_requests SET state = 'failed', error_code = ?1, finished_at = ?2 WHERE id = ?3 AND state = 'pending'",
                        params![code, ts(now), id],
                    )?;
                }
                audit::record(&tx, now, &a, AuditAction::CaSign, Some(&target), Outcome::Failure,
                    serde_json::json!({"request": request, "code": code, "detail": detail, "state": "failed"}))?;
                tx.commit()?;
                Ok(())
            })
            .await;
        if let Err(r) = recorded {
            tracing::error!(error.code = r.code(), error.detail = %r, "could not record a failed CA request");
        }
        Err(e)
    }

    /// The CA sent a certificate certdesk refused to store (it does not match, or its key is
    /// unreadable): settled if it was revoked there at once, otherwise `unanswered` with its
    /// serial so the periodic job revokes it.
    async fn settle_refused(
        &self,
        request_id: i64,
        login_id: &str,
        serial: &str,
        revoked: bool,
    ) -> Result<(), ServiceError> {
        let now = self.clock().now();
        let (target, serial) = (login_id.to_string(), serial.to_string());
        let state = if revoked { "reconciled" } else { "unanswered" };
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                tx.execute(
                    "UPDATE ca_requests SET state = ?1, serial = ?2, proposed_serial = ?2, sent_to = NULL WHERE id = ?3",
                    params![state, serial, request_id],
                )?;
                audit::record(&tx, now, &Actor::System, AuditAction::CaAnswerRefused, Some(&target), Outcome::Failure,
                    serde_json::json!({"request": request_id, "serial": serial, "revoked_at_ca": revoked}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Marks the plan's request failed (or unanswered, when the CA may have acted) with its
    /// audit row.
    async fn fail_request(
        &self,
        plan: &Plan,
        actor: &Actor,
        e: &CaError,
        step: &'static str,
    ) -> Result<(), ServiceError> {
        let now = self.clock().now();
        let request = plan.request.as_ref().map(|r| r.id);
        let state = if step == "sign" && e.outcome_unknown() {
            "unanswered"
        } else {
            "failed"
        };
        let (a, target, code, detail) = (
            actor.clone(),
            plan.login_id.clone(),
            e.code(),
            e.to_string(),
        );
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if let Some(id) = request {
                    tx.execute(
                        "UPDATE ca_requests SET state = ?1, error_code = ?2, finished_at = ?3 WHERE id = ?4",
                        params![state, code, ts(now), id],
                    )?;
                }
                audit::record(&tx, now, &a, AuditAction::ca_failure(step).expect("a CA request fails at sign or revoke"), Some(&target), Outcome::Failure,
                    serde_json::json!({"request": request, "code": code, "detail": detail, "state": state}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }
}

/// The serial (lower-case hex) of a PEM certificate, if it can be read.
fn pem_serial(pem: &str) -> Option<String> {
    let cert = openssl::x509::X509::from_pem(pem.as_bytes()).ok()?;
    let hex = cert.serial_number().to_bn().ok()?.to_hex_str().ok()?;
    Some(even_hex(&hex))
}

/// Lower-case hex with whole bytes, as serials are stored (`0a1b`, not `a1b`), so that a
/// serial decodes to the bytes of the certificate's serial number.
fn even_hex(hex: &str) -> String {
    let lower = hex.to_ascii_lowercase();
    if lower.len() % 2 == 1 {
        format!("0{lower}")
    } else {
        lower
    }
}

/// What a reconciliation run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Lost answers whose certificate was found by serial and revoked at the CA.
    pub revoked_at_ca: usize,
    /// Requests the CA never turned into a certificate.
    pub never_issued: usize,
    /// Requests the CA cannot be asked about by serial (it picks its own serials).
    pub cannot_tell: usize,
    /// Requests left because the CA did not answer the revoke.
    pub unreachable: usize,
    /// The longest wait before a request can be settled.
    pub waiting: Option<Duration>,
}

/// `sent_to` of a request the embedded CA signed: it never left the process.
const EMBEDDED: &str = "embedded";

/// Which CA a request went to: what `serials_honoured` was learnt for.
fn sent_to(view: &CaBackendView) -> String {
    format!("{} {}", view.cfssl.url.trim(), view.cfssl.profile.trim())
}

/// Whether the certificate's serial is the one proposed (both hex, compared as numbers).
fn same_serial(proposed_hex: &str, got_hex: &str) -> bool {
    let trim = |h: &str| h.trim_start_matches('0').to_ascii_lowercase();
    !proposed_hex.is_empty() && trim(proposed_hex) == trim(got_hex)
}

/// The CA's key (PEM in PKCS#1, SEC1 or PKCS#8) as the key pair certdesk stores.
fn server_key(pem: &str) -> Result<KeyPair, CaError> {
    let pkcs8 = openssl::pkey::PKey::private_key_from_pem(pem.as_bytes())
        .and_then(|k| k.private_key_to_pem_pkcs8())
        .map_err(internal("the CA's private key"))?;
    KeyPair::from_pem(&String::from_utf8_lossy(&pkcs8)).map_err(|e| CaError::Unparsable {
        detail: format!("the CA's private key: {e}"),
    })
}
