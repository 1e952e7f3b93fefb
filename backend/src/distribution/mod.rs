//! Distribution: `.p12` files for one user, bundles (a ZIP of `.p12` files and a separate
//! password sheet) and MaiNet-style pickups, plus the custody of the private keys.
//!
//! Key custody: a key made at issuance stays in `certificate_keys`, sealed with AES-256-GCM
//! under a key derived from the installation's master key (a fresh nonce per record, bound to
//! the certificate's id), until 24 hours after its first download by any channel; then
//! [`Backend::sweep_distribution`] deletes the row and audits `key_erase`. Keys of certificates
//! that ended (revoked, superseded, expired) are erased at the next sweep. A prepared file
//! (which holds the key, encrypted under its password) lives sealed in `deliveries` for 24
//! hours and is then erased too. Keys and passwords never reach a log or the audit log; a
//! password appears only in the answer that makes it, and for bundles and pickups in the
//! sealed password sheet until the delivery expires.

pub mod pkcs12;

use crate::distribution::pkcs12::{build_p12, P12Input};
use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::{parse_ts, ts};
use crate::store::secrets::{MasterKey, Purpose};
use crate::users::acts_as_master;
use crate::Backend;
use certdesk_domain::distribution::DistributionError;
use certdesk_domain::distribution::{
    check_typed_password, generate_password, normalise_pickup_number, pickup_number, within_window,
    P12Profile, PickupRefusal, PICKUP_MAX_FAILURES, REDOWNLOAD_WINDOW,
};
use certdesk_domain::lifecycle::LifecycleError;
use certdesk_domain::userfile::csv_cell;
use certdesk_domain::views::{DeliveryCreated, DistributionRow, KeyCustody, PickupView, Slip};
use certdesk_domain::AuditAction;
use certdesk_domain::{AuthError, UserError};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use std::io::Write;
use time::OffsetDateTime;

/// A file to hand out.
#[derive(Debug)]
pub struct DeliveredFile {
    pub file_name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], ServiceError> {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| ServiceError::Internal("no randomness".into()))?;
    Ok(out)
}

/// A random byte source for the domain's generators.
fn random_source() -> Result<impl FnMut() -> u8, ServiceError> {
    let mut pool = random_bytes::<64>()?;
    let mut at = 0usize;
    Ok(move || {
        if at == pool.len() {
            // A second pool is as good as the first; a failure here would be a broken RNG.
            if aws_lc_rs::rand::fill(&mut pool).is_err() {
                pool = [0u8; 64];
            }
            at = 0;
        }
        at += 1;
        pool[at - 1]
    })
}

fn pickup_hash(number: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"certdesk pickup v1\0");
    h.update(number.as_bytes());
    h.update(b"\0");
    h.update(password.as_bytes());
    hex::encode(h.finalize())
}

/// What one `.p12` needs from the database.
struct KeyedCertificate {
    certificate_id: i64,
    login_id: String,
    name: String,
    serial: String,
    friendly_name: String,
    cert_der: Vec<u8>,
    key_pem: Vec<u8>,
    first_delivered_at: Option<OffsetDateTime>,
}

/// The valid certificate of `user_id` with its key, or the reason there is none. With
/// `certificate_id`, only that certificate counts (a pickup stays bound to the certificate it
/// was opened for, never a newer one after a renewal).
fn keyed_certificate(
    conn: &Connection,
    master: &MasterKey,
    user_id: i64,
    certificate_id: Option<i64>,
    now: OffsetDateTime,
) -> Result<KeyedCertificate, ServiceError> {
    let row = conn
        .query_row(
            "SELECT c.id, u.login_id, u.name, c.serial, c.friendly_name, c.cert_der, k.sealed, k.first_delivered_at
             FROM users u
             LEFT JOIN certificates c ON c.user_id = u.id AND c.state = 'valid' AND c.not_after > ?2
                                         AND (?3 IS NULL OR c.id = ?3)
             LEFT JOIN certificate_keys k ON k.certificate_id = c.id
             WHERE u.id = ?1 AND u.deleted_at IS NULL",
            params![user_id, ts(now), certificate_id],
            |r| {
                Ok((
                    r.get::<_, Option<i64>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<Vec<u8>>>(5)?,
                    r.get::<_, Option<Vec<u8>>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            },
        )
        .optional()?
        .ok_or(UserError::NotFound {
            login_id: format!("#{user_id}"),
        })?;
    let (Some(id), login_id, name, Some(serial), Some(friendly), Some(der), sealed, first) = row
    else {
        return Err(DistributionError::NoValidCertificate { login_id: row.1 }.into());
    };
    let first = first.as_deref().map(parse_ts).transpose()?;
    let Some(sealed) = sealed.filter(|_| within_window(first, now)) else {
        return Err(DistributionError::KeyGone { login_id }.into());
    };
    let key_pem = master.open(
        Purpose::CertificateKeys,
        &format!("certificate {id}"),
        &sealed,
    )?;
    Ok(KeyedCertificate {
        certificate_id: id,
        login_id,
        name,
        serial,
        friendly_name: friendly,
        cert_der: der,
        key_pem,
        first_delivered_at: first,
    })
}

fn build_for(
    c: &KeyedCertificate,
    ca_der: &[u8],
    password: &str,
    profile: P12Profile,
) -> Result<Vec<u8>, ServiceError> {
    let pem = std::str::from_utf8(&c.key_pem)
        .map_err(|_| ServiceError::Internal("stored key is not PEM".into()))?;
    let key = rcgen::KeyPair::from_pem(pem)
        .map_err(|e| ServiceError::Internal(format!("stored key unreadable: {e}")))?;
    let chain = [ca_der.to_vec()];
    build_p12(
        &P12Input {
            key_pkcs8_der: &key.serialize_der(),
            cert_der: &c.cert_der,
            ca_chain_der: &chain,
            friendly_name: &c.friendly_name,
            password,
        },
        profile,
    )
    .map_err(|e| ServiceError::Internal(format!("pkcs12: {e}")))
}

/// Marks a key as delivered (first time only) and audits the download. `first` is whether
/// this is the key's first download.
fn mark_delivered(
    tx: &Connection,
    now: OffsetDateTime,
    actor: &Actor,
    (certificate_id, login_id, serial): (i64, &str, &str),
    first: bool,
    channel: &str,
) -> Result<(), ServiceError> {
    if first {
        tx.execute(
            "UPDATE certificate_keys SET first_delivered_at = ?1 WHERE certificate_id = ?2 AND first_delivered_at IS NULL",
            params![ts(now), certificate_id],
        )?;
    }
    audit::record(
        tx,
        now,
        actor,
        AuditAction::KeyDownload,
        Some(login_id),
        Outcome::Success,
        serde_json::json!({"serial": serial, "channel": channel, "first": first}),
    )?;
    Ok(())
}

/// The slips of a delivery's sealed password sheet.
fn open_sheet(master: &MasterKey, token: &str, sealed: &[u8]) -> Result<Vec<Slip>, ServiceError> {
    let json = master.open(
        Purpose::Deliveries,
        &format!("delivery {token} sheet"),
        sealed,
    )?;
    serde_json::from_slice(&json).map_err(|e| ServiceError::Internal(format!("sheet: {e}")))
}

fn is_console_user(conn: &Connection, actor: &Actor) -> Result<bool, ServiceError> {
    Ok(match actor {
        Actor::User { id, .. } => conn
            .query_row(
                "SELECT role IN ('master', 'admin') FROM users WHERE id = ?1 AND deleted_at IS NULL AND locked_at IS NULL",
                [id],
                |r| r.get::<_, bool>(0),
            )
            .optional()?
            .unwrap_or(false),
        Actor::Cli | Actor::System => true,
        Actor::Anonymous => false,
    })
}

/// The password sheet as CSV, UTF-8 with BOM (Excel).
pub fn slips_csv(slips: &[Slip]) -> Vec<u8> {
    let mut out = vec![0xef, 0xbb, 0xbf];
    let mut text = String::from("login_id,name,serial,file_name,pickup_number,password\r\n");
    for s in slips {
        let cells = [
            csv_cell(&s.login_id),
            csv_cell(&s.name),
            csv_cell(&s.serial),
            csv_cell(&s.file_name),
            csv_cell(s.pickup_number.as_deref().unwrap_or("")),
            csv_cell(&s.password),
        ];
        text.push_str(&cells.join(","));
        text.push_str("\r\n");
    }
    out.extend_from_slice(text.as_bytes());
    out
}

fn zip_files(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, ServiceError> {
    let internal = |e: &dyn std::fmt::Display| ServiceError::Internal(format!("zip: {e}"));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    // .p12 files are encrypted, so compressing them gains nothing.
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in files {
        zip.start_file(name.as_str(), options)
            .map_err(|e| internal(&e))?;
        zip.write_all(bytes).map_err(|e| internal(&e))?;
    }
    Ok(zip.finish().map_err(|e| internal(&e))?.into_inner())
}

/// A live delivery: id, kind, file name, sealed file, sealed sheet.
struct LiveDelivery {
    id: i64,
    kind: String,
    file_name: Option<String>,
    sealed_file: Option<Vec<u8>>,
    sealed_sheet: Option<Vec<u8>>,
}

/// The live delivery with this token, or `E-DIST-004`.
fn live_delivery(
    conn: &Connection,
    token: &str,
    now: OffsetDateTime,
) -> Result<LiveDelivery, ServiceError> {
    conn.query_row(
        "SELECT id, kind, file_name, sealed_file, sealed_sheet FROM deliveries
         WHERE token = ?1 AND erased_at IS NULL AND expires_at > ?2",
        params![token, ts(now)],
        |r| {
            Ok(LiveDelivery {
                id: r.get(0)?,
                kind: r.get(1)?,
                file_name: r.get(2)?,
                sealed_file: r.get(3)?,
                sealed_sheet: r.get(4)?,
            })
        },
    )
    .optional()?
    .ok_or(ServiceError::Distribution(DistributionError::DeliveryGone))
}

impl Backend {
    /// The organisation's default `.p12` protection.
    pub async fn default_p12_profile(&self) -> Result<P12Profile, ServiceError> {
        self.db()
            .run(|conn| {
                let s: String = conn.query_row(
                    "SELECT default_profile FROM distribution_settings WHERE id = 1",
                    [],
                    |r| r.get(0),
                )?;
                Ok(P12Profile::parse(&s).unwrap_or_default())
            })
            .await
    }

    /// Sets the default `.p12` protection (masters only).
    pub async fn set_default_p12_profile(
        &self,
        profile: P12Profile,
        actor: Actor,
    ) -> Result<(), ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !acts_as_master(&tx, &actor)? {
                    return Err(AuthError::Forbidden.into());
                }
                tx.execute(
                    "UPDATE distribution_settings SET default_profile = ?1 WHERE id = 1",
                    [profile.as_str()],
                )?;
                audit::record(
                    &tx,
                    now,
                    &actor,
                    AuditAction::DistributionSettings,
                    None,
                    Outcome::Success,
                    serde_json::json!({"default_profile": profile.as_str()}),
                )?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Every live user with their valid certificate, key custody and open pickup.
    pub async fn distribution_overview(&self) -> Result<Vec<DistributionRow>, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT u.id, u.login_id, u.name, u.email, c.serial, c.not_after,
                            k.certificate_id IS NOT NULL, k.first_delivered_at,
                            p.number, p.profile, p.created_at, p.first_download_at, p.failures, p.locked_at IS NOT NULL
                     FROM users u
                     LEFT JOIN certificates c ON c.user_id = u.id AND c.state = 'valid' AND c.not_after > ?1
                     LEFT JOIN certificate_keys k ON k.certificate_id = c.id
                     LEFT JOIN pickups p ON p.certificate_id = c.id AND p.closed_at IS NULL
                     WHERE u.deleted_at IS NULL ORDER BY u.login_key",
                )?;
                let rows = stmt
                    .query_map([ts(now)], |r| {
                        let has_key: bool = r.get(6)?;
                        let first: Option<String> = r.get(7)?;
                        let number: Option<String> = r.get(8)?;
                        Ok((
                            DistributionRow {
                                user_id: r.get(0)?,
                                login_id: r.get(1)?,
                                name: r.get(2)?,
                                email: r.get(3)?,
                                serial: r.get(4)?,
                                not_after: r.get(5)?,
                                key: KeyCustody::Erased,
                                pickup: match number {
                                    Some(number) => Some(PickupView {
                                        number,
                                        profile: P12Profile::parse(&r.get::<_, String>(9)?)
                                            .unwrap_or_default(),
                                        created_at: r.get(10)?,
                                        first_download_at: r.get(11)?,
                                        failures: r.get(12)?,
                                        locked: r.get(13)?,
                                    }),
                                    None => None,
                                },
                            },
                            has_key,
                            first,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut out = Vec::with_capacity(rows.len());
                for (mut row, has_key, first) in rows {
                    row.key = match (has_key, first) {
                        (false, _) => KeyCustody::Erased,
                        (true, None) => KeyCustody::Held,
                        (true, Some(first)) => {
                            let at = parse_ts(&first)?;
                            if within_window(Some(at), now) {
                                KeyCustody::InWindow {
                                    until: ts(at + REDOWNLOAD_WINDOW),
                                    first,
                                }
                            } else {
                                KeyCustody::Erased
                            }
                        }
                    };
                    out.push(row);
                }
                Ok(out)
            })
            .await
    }

    /// Prepares `<login ID>.p12` for one user under a typed password, or a generated one
    /// (returned once, in the answer only).
    pub async fn prepare_single(
        &self,
        user_id: i64,
        profile: P12Profile,
        typed_password: Option<String>,
        actor: Actor,
    ) -> Result<DeliveryCreated, ServiceError> {
        let typed = typed_password.filter(|p| !p.is_empty());
        if let Some(p) = &typed {
            check_typed_password(p)?;
        }
        let generated = typed.is_none();
        let password = match typed {
            Some(p) => p,
            None => generate_password(random_source()?),
        };
        let created = self
            .prepare(vec![user_id], profile, Kind::Single, actor, move |_| {
                Ok(password.clone())
            })
            .await?;
        Ok(DeliveryCreated {
            // A typed password is the admin's own; only a generated one is shown back.
            slips: if generated { created.slips } else { Vec::new() },
            ..created
        })
    }

    /// Prepares a ZIP of `.p12` files, one generated password each, and the password sheet.
    pub async fn prepare_bundle(
        &self,
        user_ids: Vec<i64>,
        profile: P12Profile,
        actor: Actor,
    ) -> Result<DeliveryCreated, ServiceError> {
        let mut random = random_source()?;
        self.prepare(user_ids, profile, Kind::Bundle, actor, move |_| {
            Ok(generate_password(&mut random))
        })
        .await
    }

    /// Opens pickups: each user gets a certificate number and a one-time pickup password.
    /// A newer pickup for the same certificate replaces an open one.
    pub async fn prepare_pickups(
        &self,
        user_ids: Vec<i64>,
        profile: P12Profile,
        actor: Actor,
    ) -> Result<DeliveryCreated, ServiceError> {
        let mut random = random_source()?;
        self.prepare(user_ids, profile, Kind::Pickup, actor, move |_| {
            Ok(generate_password(&mut random))
        })
        .await
    }

    async fn prepare(
        &self,
        user_ids: Vec<i64>,
        profile: P12Profile,
        kind: Kind,
        actor: Actor,
        mut password_for: impl FnMut(&str) -> Result<String, ServiceError> + Send + 'static,
    ) -> Result<DeliveryCreated, ServiceError> {
        if user_ids.is_empty() {
            return Err(LifecycleError::EmptySelection.into());
        }
        let ca = self.ca().ok_or(LifecycleError::CaNotReady)?;
        let master = self.master_key();
        let now = self.clock().now();
        let mut random = random_source()?;
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !is_console_user(&tx, &actor)? {
                    return Err(AuthError::Forbidden.into());
                }
                let token = hex::encode(random_bytes::<16>()?);
                let mut slips = Vec::new();
                let mut files = Vec::new();
                let mut certificate_ids = Vec::new();
                for user_id in &user_ids {
                    let c = keyed_certificate(&tx, &master, *user_id, None, now)?;
                    let password = password_for(&c.login_id)?;
                    let file_name = format!("{}.p12", c.login_id);
                    let mut slip = Slip {
                        login_id: c.login_id.clone(),
                        name: c.name.clone(),
                        serial: c.serial.clone(),
                        file_name: file_name.clone(),
                        pickup_number: None,
                        password: password.clone(),
                    };
                    match kind {
                        Kind::Single | Kind::Bundle => {
                            files.push((file_name, build_for(&c, ca.cert_der(), &password, profile)?));
                        }
                        Kind::Pickup => {
                            tx.execute(
                                "UPDATE pickups SET closed_at = ?1 WHERE certificate_id = ?2 AND closed_at IS NULL",
                                params![ts(now), c.certificate_id],
                            )?;
                            let number = loop {
                                let candidate = pickup_number(&mut random);
                                let taken: bool = tx.query_row(
                                    "SELECT EXISTS (SELECT 1 FROM pickups WHERE number = ?1)",
                                    [&candidate],
                                    |r| r.get(0),
                                )?;
                                if !taken {
                                    break candidate;
                                }
                            };
                            tx.execute(
                                "INSERT INTO pickups (certificate_id, number, password_sha256, profile, created_at, created_by)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                params![c.certificate_id, number, pickup_hash(&number, &password), profile.as_str(), ts(now), actor.columns().1],
                            )?;
                            slip.file_name = String::new();
                            slip.pickup_number = Some(number);
                        }
                    }
                    certificate_ids.push((c.certificate_id, c.login_id.clone()));
                    slips.push(slip);
                }
                let (file_name, file) = match kind {
                    Kind::Single => {
                        let (name, bytes) = files.pop().ok_or(LifecycleError::EmptySelection)?;
                        (Some(name), Some(bytes))
                    }
                    Kind::Bundle => (
                        Some(format!("certdesk-{}.zip", now.date())),
                        Some(zip_files(&files)?),
                    ),
                    Kind::Pickup => (None, None),
                };
                let record = format!("delivery {token}");
                let sealed_file = file
                    .map(|f| master.seal(Purpose::Deliveries, &format!("{record} file"), &f))
                    .transpose()?;
                // A single file's password is the admin's (typed) or shown once: not kept.
                let sealed_sheet = match kind {
                    Kind::Single => None,
                    Kind::Bundle | Kind::Pickup => {
                        let json = serde_json::to_vec(&slips)
                            .map_err(|e| ServiceError::Internal(e.to_string()))?;
                        Some(master.seal(Purpose::Deliveries, &format!("{record} sheet"), &json)?)
                    }
                };
                let expires = now + REDOWNLOAD_WINDOW;
                tx.execute(
                    "INSERT INTO deliveries (token, kind, profile, file_name, sealed_file, sealed_sheet, items, created_at, created_by, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![token, kind.as_str(), profile.as_str(), file_name, sealed_file, sealed_sheet,
                        slips.len(), ts(now), actor.columns().1, ts(expires)],
                )?;
                let delivery_id = tx.last_insert_rowid();
                for (certificate_id, login_id) in &certificate_ids {
                    tx.execute(
                        "INSERT INTO delivery_items (delivery_id, certificate_id) VALUES (?1, ?2)",
                        params![delivery_id, certificate_id],
                    )?;
                    audit::record(
                        &tx,
                        now,
                        &actor,
                        AuditAction::delivery(kind.as_str()).expect("every delivery kind has an audit action"),
                        Some(login_id),
                        Outcome::Success,
                        serde_json::json!({"delivery": delivery_id, "profile": profile.as_str()}),
                    )?;
                }
                tx.commit()?;
                Ok(DeliveryCreated {
                    token,
                    kind: kind.as_str().to_string(),
                    profile,
                    file_name,
                    expires_at: ts(expires),
                    slips,
                })
            })
            .await
    }

    /// The prepared file (`.p12` or ZIP); its download counts as delivering each key in it.
    pub async fn delivery_file(
        &self,
        token: String,
        actor: Actor,
    ) -> Result<DeliveredFile, ServiceError> {
        let master = self.master_key();
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !is_console_user(&tx, &actor)? {
                    return Err(AuthError::Forbidden.into());
                }
                let LiveDelivery { id, kind, file_name, sealed_file, .. } = live_delivery(&tx, &token, now)?;
                let (Some(file_name), Some(sealed)) = (file_name, sealed_file) else {
                    return Err(DistributionError::DeliveryGone.into());
                };
                let bytes = master.open(Purpose::Deliveries, &format!("delivery {token} file"), &sealed)?;
                let mut stmt = tx.prepare(
                    "SELECT c.id, u.login_id, c.serial, k.first_delivered_at FROM delivery_items d
                     JOIN certificates c ON c.id = d.certificate_id JOIN users u ON u.id = c.user_id
                     LEFT JOIN certificate_keys k ON k.certificate_id = c.id WHERE d.delivery_id = ?1",
                )?;
                let items = stmt
                    .query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<String>>(3)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                drop(stmt);
                for (certificate_id, login_id, serial, first) in items {
                    mark_delivered(&tx, now, &actor, (certificate_id, &login_id, &serial), first.is_none(), &kind)?;
                }
                tx.commit()?;
                let content_type = if kind == "bundle" { "application/zip" } else { "application/x-pkcs12" };
                Ok(DeliveredFile { file_name, content_type, bytes })
            })
            .await
    }

    /// The password sheet of a bundle or pickup delivery (while it lives).
    pub async fn delivery_sheet(
        &self,
        token: String,
        actor: Actor,
    ) -> Result<Vec<Slip>, ServiceError> {
        let master = self.master_key();
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !is_console_user(&tx, &actor)? {
                    return Err(AuthError::Forbidden.into());
                }
                let LiveDelivery {
                    id, sealed_sheet, ..
                } = live_delivery(&tx, &token, now)?;
                let sealed = sealed_sheet.ok_or(DistributionError::DeliveryGone)?;
                let slips = open_sheet(&master, &token, &sealed)?;
                audit::record(
                    &tx,
                    now,
                    &actor,
                    AuditAction::PasswordSheet,
                    None,
                    Outcome::Success,
                    serde_json::json!({"delivery": id, "slips": slips.len()}),
                )?;
                tx.commit()?;
                Ok(slips)
            })
            .await
    }

    /// Queues one e-mail per pickup of a delivery, to the user's address: group ID,
    /// certificate number, the pickup page's address and the import steps, in Japanese with
    /// English below. The pickup password is deliberately not in it: it stays on the printed
    /// sheet (a second channel), and mail bodies are kept in the outbox, where a password must
    /// never be. Returns how many mails were queued.
    pub async fn mail_pickup_notices(
        &self,
        token: String,
        actor: Actor,
    ) -> Result<u32, ServiceError> {
        let master = self.master_key();
        let now = self.clock().now();
        let pickup_url = format!(
            "{}/pickup",
            self.settings().public_url.trim_end_matches('/')
        );
        let queued = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !is_console_user(&tx, &actor)? {
                    return Err(AuthError::Forbidden.into());
                }
                let LiveDelivery { id, kind, sealed_sheet, .. } = live_delivery(&tx, &token, now)?;
                let sealed = sealed_sheet.filter(|_| kind == "pickup").ok_or(DistributionError::DeliveryGone)?;
                let slips = open_sheet(&master, &token, &sealed)?;
                let (org, group): (String, String) =
                    tx.query_row("SELECT name, group_id FROM organisation WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
                let mut queued = 0u32;
                for slip in &slips {
                    let Some(number) = &slip.pickup_number else { continue };
                    let email: String = tx.query_row(
                        "SELECT email FROM users WHERE login_id = ?1 AND deleted_at IS NULL",
                        [&slip.login_id],
                        |r| r.get(0),
                    )?;
                    let subject = format!("【{org}】証明書の受け取りのご案内 / Your certificate is ready for pickup");
                    let body = format!(
                        "{name} 様\n\nインターネットバンキング用のクライアント証明書を受け取れます。\n\n\
                         受取ページ: {pickup_url}\nグループID: {group}\n証明書番号: {number}\n\
                         受取パスワード: 管理者から別途お渡しする通知書に記載しています(このメールには記載しません)。\n\n\
                         ダウンロードした .p12 ファイルを開き、受取パスワードを入力して取り込んでください。\n\
                         最初のダウンロードから24時間以内なら再度ダウンロードできます。更新・再発行の後は古い証明書を削除してください。\n\n\
                         ----\n\nDear {name},\n\nYour client certificate for internet banking is ready.\n\n\
                         Pickup page: {pickup_url}\nGroup ID: {group}\nCertificate number: {number}\n\
                         Pickup password: on the slip your administrator hands you separately (never in this mail).\n\n\
                         Open the downloaded .p12 file and import it with the pickup password. The download works again for\n\
                         24 hours after the first one. After a renewal or reissue, delete the old certificate.\n",
                        name = slip.name,
                    );
                    tx.execute(
                        "INSERT INTO mail_outbox (to_addresses, subject, body, next_attempt_at, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?4)",
                        params![email, subject, body, ts(now)],
                    )?;
                    audit::record(&tx, now, &actor, AuditAction::PickupMail, Some(&slip.login_id), Outcome::Success,
                        serde_json::json!({"delivery": id, "number": number}))?;
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

    /// The self-service pickup: group ID, certificate number and pickup password give the
    /// `.p12` (protected by the pickup password). Works again for 24 hours after the first
    /// download; 5 wrong passwords lock the number until an admin resets it.
    pub async fn pickup_download(
        &self,
        group_id: String,
        number: String,
        password: String,
    ) -> Result<DeliveredFile, ServiceError> {
        let ca = self.ca().ok_or(LifecycleError::CaNotReady)?;
        let master = self.master_key();
        let now = self.clock().now();
        let result = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let org_group: Option<String> = tx
                    .query_row("SELECT group_id FROM organisation WHERE id = 1", [], |r| r.get(0))
                    .optional()?;
                let number = normalise_pickup_number(&number);
                let (Some(org_group), Some(number)) = (org_group, number) else {
                    return Ok(Err(ServiceError::Pickup(PickupRefusal::Unavailable)));
                };
                if !org_group.eq_ignore_ascii_case(group_id.trim()) {
                    return Ok(Err(ServiceError::Pickup(PickupRefusal::Unavailable)));
                }
                let pickup = tx
                    .query_row(
                        "SELECT p.id, p.password_sha256, p.profile, p.failures, p.locked_at IS NOT NULL, p.first_download_at, c.user_id, u.login_id, c.id
                         FROM pickups p JOIN certificates c ON c.id = p.certificate_id JOIN users u ON u.id = c.user_id
                         WHERE p.number = ?1 AND p.closed_at IS NULL",
                        [&number],
                        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, u32>(3)?,
                                r.get::<_, bool>(4)?, r.get::<_, Option<String>>(5)?, r.get::<_, i64>(6)?, r.get::<_, String>(7)?, r.get::<_, i64>(8)?)),
                    )
                    .optional()?;
                let Some((pickup_id, hash, profile, failures, locked, first, user_id, login_id, certificate_id)) = pickup else {
                    return Ok(Err(ServiceError::Pickup(PickupRefusal::Unavailable)));
                };
                if locked {
                    return Ok(Err(ServiceError::Pickup(PickupRefusal::Locked)));
                }
                let given = pickup_hash(&number, &password);
                if aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), hash.as_bytes()).is_err() {
                    let failures = failures + 1;
                    let lock = failures >= PICKUP_MAX_FAILURES;
                    tx.execute(
                        "UPDATE pickups SET failures = ?1, locked_at = CASE WHEN ?2 THEN ?3 ELSE locked_at END WHERE id = ?4",
                        params![failures, lock, ts(now), pickup_id],
                    )?;
                    audit::record(&tx, now, &Actor::Anonymous, if lock { AuditAction::PickupLock } else { AuditAction::PickupDownload },
                        Some(&login_id), Outcome::Failure, serde_json::json!({"number": number, "failures": failures}))?;
                    tx.commit()?;
                    return Ok(Err(if lock {
                        ServiceError::Pickup(PickupRefusal::Locked)
                    } else {
                        ServiceError::Pickup(PickupRefusal::WrongPassword { left: PICKUP_MAX_FAILURES - failures })
                    }));
                }
                let first = first.as_deref().map(parse_ts).transpose()?;
                if !within_window(first, now) {
                    return Ok(Err(ServiceError::Pickup(PickupRefusal::Unavailable)));
                }
                let c = match keyed_certificate(&tx, &master, user_id, Some(certificate_id), now) {
                    Ok(c) => c,
                    Err(ServiceError::Distribution(DistributionError::KeyGone { .. }) | ServiceError::Distribution(DistributionError::NoValidCertificate { .. })) => {
                        return Ok(Err(ServiceError::Pickup(PickupRefusal::Unavailable)))
                    }
                    Err(e) => return Err(e),
                };
                let profile = P12Profile::parse(&profile).unwrap_or_default();
                let bytes = build_for(&c, ca.cert_der(), &password, profile)?;
                tx.execute(
                    "UPDATE pickups SET failures = 0, first_download_at = coalesce(first_download_at, ?1) WHERE id = ?2",
                    params![ts(now), pickup_id],
                )?;
                mark_delivered(&tx, now, &Actor::Anonymous, (c.certificate_id, &c.login_id, &c.serial), c.first_delivered_at.is_none(), "pickup")?;
                tx.commit()?;
                Ok(Ok(DeliveredFile {
                    file_name: format!("{}.p12", c.login_id),
                    content_type: "application/x-pkcs12",
                    bytes,
                }))
            })
            .await?;
        result
    }

    /// Clears a locked pickup's wrong-password count (masters and admins).
    pub async fn reset_pickup(&self, user_id: i64, actor: Actor) -> Result<(), ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !is_console_user(&tx, &actor)? {
                    return Err(AuthError::Forbidden.into());
                }
                let row: Option<(i64, String)> = tx
                    .query_row(
                        "SELECT p.id, u.login_id FROM pickups p JOIN certificates c ON c.id = p.certificate_id
                         JOIN users u ON u.id = c.user_id WHERE c.user_id = ?1 AND p.closed_at IS NULL",
                        [user_id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let (pickup_id, login_id) = row.ok_or(ServiceError::Pickup(PickupRefusal::Unavailable))?;
                tx.execute("UPDATE pickups SET failures = 0, locked_at = NULL WHERE id = ?1", [pickup_id])?;
                audit::record(&tx, now, &actor, AuditAction::PickupReset, Some(&login_id), Outcome::Success, serde_json::json!({}))?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Erases what must not stay: keys whose window closed, keys of certificates that ended,
    /// and prepared files and sheets that expired. Each erasure is audited. Returns how many
    /// keys were erased.
    pub async fn sweep_distribution(&self) -> Result<usize, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let cutoff = ts(now - REDOWNLOAD_WINDOW);
                let mut stmt = tx.prepare(
                    "SELECT k.certificate_id, u.login_id, c.serial,
                            CASE WHEN c.state != 'valid' OR c.not_after <= ?2 THEN 'certificate_ended' ELSE 'window_closed' END
                     FROM certificate_keys k JOIN certificates c ON c.id = k.certificate_id JOIN users u ON u.id = c.user_id
                     WHERE (k.first_delivered_at IS NOT NULL AND k.first_delivered_at <= ?1)
                        OR c.state != 'valid' OR c.not_after <= ?2",
                )?;
                let gone = stmt
                    .query_map(params![cutoff, ts(now)], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                drop(stmt);
                for (certificate_id, login_id, serial, why) in &gone {
                    tx.execute("DELETE FROM certificate_keys WHERE certificate_id = ?1", [certificate_id])?;
                    audit::record(&tx, now, &Actor::System, AuditAction::KeyErase, Some(login_id), Outcome::Success,
                        serde_json::json!({"serial": serial, "reason": why}))?;
                }
                let expired = tx.execute(
                    "UPDATE deliveries SET sealed_file = NULL, sealed_sheet = NULL, erased_at = ?1
                     WHERE erased_at IS NULL AND expires_at <= ?1",
                    [ts(now)],
                )?;
                if expired > 0 {
                    audit::record(&tx, now, &Actor::System, AuditAction::DeliveryErase, None, Outcome::Success,
                        serde_json::json!({"deliveries": expired}))?;
                }
                tx.commit()?;
                Ok(gone.len())
            })
            .await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Single,
    Bundle,
    Pickup,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Single => "single",
            Kind::Bundle => "bundle",
            Kind::Pickup => "pickup",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_sheet_is_excel_csv_with_formulas_escaped() {
        let slips = vec![Slip {
            login_id: "-abc123".into(),
            name: "山田, 太郎".into(),
            serial: "ab".into(),
            file_name: "-abc123.p12".into(),
            pickup_number: None,
            password: "=Pass\"word".into(),
        }];
        let csv = slips_csv(&slips);
        assert!(csv.starts_with(&[0xef, 0xbb, 0xbf]));
        let text = String::from_utf8(csv[3..].to_vec()).expect("utf-8");
        assert_eq!(
            text,
            "login_id,name,serial,file_name,pickup_number,password\r\n'-abc123,\"山田, 太郎\",ab,'-abc123.p12,,\"'=Pass\"\"word\"\r\n"
        );
    }

    #[test]
    fn pickup_hashes_depend_on_number_and_password() {
        let a = pickup_hash("1234-5678-9012", "pw");
        assert_ne!(a, pickup_hash("1234-5678-9013", "pw"));
        assert_ne!(a, pickup_hash("1234-5678-9012", "pX"));
        assert_eq!(a.len(), 64);
    }
}
