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
use crate::store::db::{checkpoint_truncate, parse_ts, ts};
use crate::store::secrets::{MasterKey, Purpose};
use crate::users::acts_as_master;
use crate::Backend;
use certdesk_domain::distribution::DistributionError;
use certdesk_domain::distribution::{
    check_typed_password, generate_password, normalise_pickup_number, pickup_number, within_window,
    P12Profile, PickupRefusal, PICKUP_MAX_FAILURES, REDOWNLOAD_WINDOW,
};
use certdesk_domain::lifecycle::LifecycleError;
use certdesk_domain::lifecycle::MAX_VALID_CERTIFICATES;
use certdesk_domain::userfile::csv_cell;
use certdesk_domain::views::{DeliveryCreated, DistributionRow, KeyCustody, PickupView, Slip};
use certdesk_domain::AuditAction;
use certdesk_domain::AuthError;
use certdesk_domain::UserError;
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

/// `N` bytes from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], ServiceError> {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| ServiceError::Internal("no randomness".into()))?;
    Ok(out)
}

/// A random byte source for the domain's generators (pickup and enrolment numbers, codes,
/// passwords), refilled from the OS as it is used.
pub(crate) fn random_source() -> Result<impl FnMut() -> u8, ServiceError> {
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
        .ok_or(ServiceError::from(UserError::NotFound {
            login_id: format!("#{user_id}"),
        }))?;
    let (Some(id), login_id, name, Some(serial), Some(friendly), Some(der), sealed, first) = row
    else {
        return Err(ServiceError::from(DistributionError::NoValidCertificate {
            login_id: row.1,
        }));
    };
    let holder_made: bool = conn.query_row(
        "SELECT key_origin = 'holder' FROM certificates WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?;
    if holder_made {
        return Err(certdesk_domain::enrolment::EnrolmentError::KeyWithHolder { login_id }.into());
    }
    let first = first.as_deref().map(parse_ts).transpose()?;
    let Some(sealed) = sealed.filter(|_| within_window(first, now)) else {
        return Err(ServiceError::from(DistributionError::KeyGone { login_id }));
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

/// Masters and admins (not locked), the command line and certdesk itself.
pub(crate) fn is_console_user(conn: &Connection, actor: &Actor) -> Result<bool, ServiceError> {
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
    .ok_or(ServiceError::from(DistributionError::DeliveryGone))
}

/// At most this many users in one distribution request: an organisation holds at most 100
/// valid certificates.
pub const MAX_PER_REQUEST: usize = MAX_VALID_CERTIFICATES as usize;

/// The selection without repeats (first occurrence kept), or why it cannot be handed out.
fn distinct_selection(user_ids: Vec<i64>) -> Result<Vec<i64>, ServiceError> {
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<i64> = user_ids.into_iter().filter(|id| seen.insert(*id)).collect();
    if ids.is_empty() {
        return Err(ServiceError::from(LifecycleError::EmptySelection));
    }
    if ids.len() > MAX_PER_REQUEST {
        return Err(ServiceError::from(DistributionError::TooManySelected {
            count: ids.len(),
            max: MAX_PER_REQUEST,
        }));
    }
    Ok(ids)
}

/// Refuses to start a run while another of the organisation has not finished: a certificate
/// run (`E-CERT-013`, resumed runs included) or a bundle being built (`E-DIST-006`).
pub(crate) fn refuse_if_run_in_progress(conn: &Connection) -> Result<(), ServiceError> {
    let job: Option<i64> = conn
        .query_row(
            "SELECT id FROM bulk_jobs WHERE finished_at IS NULL ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(job) = job {
        return Err(ServiceError::from(LifecycleError::RunInProgress { job }));
    }
    let run: Option<i64> = conn
        .query_row(
            "SELECT id FROM bundle_runs WHERE finished_at IS NULL ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match run {
        Some(run) => Err(ServiceError::from(DistributionError::BundleInProgress {
            run,
        })),
        None => Ok(()),
    }
}

/// Whether the key of a certificate read earlier is still kept and may still be handed out.
fn still_kept(
    conn: &Connection,
    certificate_id: i64,
    login_id: &str,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, ServiceError> {
    let first: Option<Option<String>> = conn
        .query_row(
            "SELECT k.first_delivered_at FROM certificates c JOIN certificate_keys k ON k.certificate_id = c.id
             WHERE c.id = ?1 AND c.state = 'valid' AND c.not_after > ?2",
            params![certificate_id, ts(now)],
            |r| r.get(0),
        )
        .optional()?;
    let gone = || {
        ServiceError::from(DistributionError::KeyGone {
            login_id: login_id.to_string(),
        })
    };
    let first = first.ok_or_else(gone)?;
    let first = first.as_deref().map(parse_ts).transpose()?;
    if within_window(first, now) {
        Ok(first)
    } else {
        Err(gone())
    }
}

/// Records a delivery's items and audits one `delivery_<kind>` per user.
#[allow(clippy::too_many_arguments)]
fn record_items(
    tx: &Connection,
    delivery_id: i64,
    items: &[(i64, String)],
    kind: Kind,
    profile: P12Profile,
    actor: &Actor,
    now: OffsetDateTime,
    run: Option<i64>,
) -> Result<(), ServiceError> {
    for (certificate_id, login_id) in items {
        tx.execute(
            "INSERT INTO delivery_items (delivery_id, certificate_id) VALUES (?1, ?2)",
            params![delivery_id, certificate_id],
        )?;
        let mut detail = serde_json::json!({"delivery": delivery_id, "profile": profile.as_str()});
        if let Some(run) = run {
            detail["run"] = serde_json::json!(run);
        }
        audit::record(
            tx,
            now,
            actor,
            AuditAction::delivery(kind.as_str()).expect("every delivery kind has an audit action"),
            Some(login_id),
            Outcome::Success,
            detail,
        )?;
    }
    Ok(())
}

/// Opens pickups (one transaction: no file is built now). A newer pickup for the same
/// certificate replaces an open one.
fn open_pickups(
    conn: &mut Connection,
    master: &MasterKey,
    user_ids: Vec<i64>,
    profile: P12Profile,
    actor: &Actor,
    now: OffsetDateTime,
    mut password_for: impl FnMut(&str) -> Result<String, ServiceError>,
) -> Result<DeliveryCreated, ServiceError> {
    let mut random = random_source()?;
    let tx = conn.transaction()?;
    if !is_console_user(&tx, actor)? {
        return Err(ServiceError::from(AuthError::Forbidden));
    }
    let token = hex::encode(random_bytes::<16>()?);
    let mut slips = Vec::new();
    let mut items = Vec::new();
    for user_id in &user_ids {
        let c = keyed_certificate(&tx, master, *user_id, None, now)?;
        let password = password_for(&c.login_id)?;
        tx.execute(
            "UPDATE pickups SET closed_at = ?1, closed_reason = 'replaced' WHERE certificate_id = ?2 AND closed_at IS NULL",
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
        items.push((c.certificate_id, c.login_id.clone()));
        slips.push(Slip {
            login_id: c.login_id,
            name: c.name,
            serial: c.serial,
            file_name: String::new(),
            pickup_number: Some(number),
            password,
        });
    }
    let json = serde_json::to_vec(&slips).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let sealed_sheet = master.seal(
        Purpose::Deliveries,
        &format!("delivery {token} sheet"),
        &json,
    )?;
    let expires = now + REDOWNLOAD_WINDOW;
    tx.execute(
        "INSERT INTO deliveries (token, kind, profile, file_name, sealed_file, sealed_sheet, items, created_at, created_by, expires_at)
         VALUES (?1, 'pickup', ?2, NULL, NULL, ?3, ?4, ?5, ?6, ?7)",
        params![token, profile.as_str(), sealed_sheet, slips.len(), ts(now), actor.columns().1, ts(expires)],
    )?;
    let delivery_id = tx.last_insert_rowid();
    record_items(
        &tx,
        delivery_id,
        &items,
        Kind::Pickup,
        profile,
        actor,
        now,
        None,
    )?;
    tx.commit()?;
    Ok(DeliveryCreated {
        token,
        kind: Kind::Pickup.as_str().to_string(),
        profile,
        file_name: None,
        expires_at: ts(expires),
        slips,
    })
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
                    return Err(ServiceError::from(AuthError::Forbidden));
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

    /// Days an unopened pickup stays open (then it closes and its key is erased).
    pub async fn pickup_expiry_days(&self) -> Result<u32, ServiceError> {
        self.db()
            .run(|conn| {
                Ok(conn.query_row(
                    "SELECT pickup_expiry_days FROM distribution_settings WHERE id = 1",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
    }

    /// Sets how many days an unopened pickup stays open, 1–365 (masters only).
    pub async fn set_pickup_expiry_days(
        &self,
        days: u32,
        actor: Actor,
    ) -> Result<(), ServiceError> {
        if !(1..=365).contains(&days) {
            return Err(ServiceError::from(DistributionError::PickupExpiryRange));
        }
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !acts_as_master(&tx, &actor)? {
                    return Err(ServiceError::from(AuthError::Forbidden));
                }
                tx.execute(
                    "UPDATE distribution_settings SET pickup_expiry_days = ?1 WHERE id = 1",
                    [days],
                )?;
                audit::record(
                    &tx,
                    now,
                    &actor,
                    AuditAction::DistributionSettings,
                    None,
                    Outcome::Success,
                    serde_json::json!({"pickup_expiry_days": days}),
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

    /// Prepares a delivery for `user_ids` (deduplicated, at most [`MAX_PER_REQUEST`]). Keys
    /// are read and unsealed in one short transaction, the `.p12` files are built without the
    /// database, and the delivery is recorded in a second transaction that first checks every
    /// key is still kept. A bundle is a run: one at a time per organisation (with certificate
    /// runs). The work runs on its own task, so a request that goes away never leaves a run
    /// unfinished.
    async fn prepare(
        &self,
        user_ids: Vec<i64>,
        profile: P12Profile,
        kind: Kind,
        actor: Actor,
        password_for: impl FnMut(&str) -> Result<String, ServiceError> + Send + 'static,
    ) -> Result<DeliveryCreated, ServiceError> {
        let user_ids = distinct_selection(user_ids)?;
        let me = self.clone();
        tokio::spawn(async move {
            me.prepare_now(user_ids, profile, kind, actor, password_for)
                .await
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("distribution task failed: {e}")))?
    }

    async fn prepare_now(
        &self,
        user_ids: Vec<i64>,
        profile: P12Profile,
        kind: Kind,
        actor: Actor,
        mut password_for: impl FnMut(&str) -> Result<String, ServiceError> + Send + 'static,
    ) -> Result<DeliveryCreated, ServiceError> {
        let ca = self
            .ca()
            .ok_or(ServiceError::from(LifecycleError::CaNotReady))?;
        let master = self.master_key();
        let now = self.clock().now();
        if kind == Kind::Pickup {
            // Pickups build no file now (the `.p12` is made at the download): one transaction.
            return self
                .db()
                .run(move |conn| {
                    open_pickups(conn, &master, user_ids, profile, &actor, now, password_for)
                })
                .await;
        }
        // 1. Read and unseal, and for a bundle claim the organisation's one run.
        let read_actor = actor.clone();
        let read_master = std::sync::Arc::clone(&master);
        let (run, keyed) = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !is_console_user(&tx, &read_actor)? {
                    return Err(ServiceError::from(AuthError::Forbidden));
                }
                let mut keyed = Vec::with_capacity(user_ids.len());
                for user_id in &user_ids {
                    keyed.push(keyed_certificate(&tx, &read_master, *user_id, None, now)?);
                }
                let run = if kind == Kind::Bundle {
                    refuse_if_run_in_progress(&tx)?;
                    tx.execute(
                        "INSERT INTO bundle_runs (actor, users, started_at) VALUES (?1, ?2, ?3)",
                        params![read_actor.columns().1, keyed.len(), ts(now)],
                    )?;
                    Some(tx.last_insert_rowid())
                } else {
                    None
                };
                tx.commit()?;
                Ok((run, keyed))
            })
            .await?;
        let made = self
            .build_and_record(
                keyed,
                profile,
                kind,
                actor,
                now,
                ca,
                master,
                &mut password_for,
                run,
            )
            .await;
        if let Some(run) = run {
            let outcome = if made.is_ok() { "made" } else { "failed" };
            let finished = ts(self.clock().now());
            self.db()
                .run(move |conn| {
                    conn.execute(
                        "UPDATE bundle_runs SET finished_at = ?1, outcome = ?2 WHERE id = ?3 AND finished_at IS NULL",
                        params![finished, outcome, run],
                    )?;
                    Ok(())
                })
                .await?;
        }
        made
    }

    /// The second and third steps of [`Backend::prepare_now`]: build the files on a blocking
    /// thread, then record the delivery.
    #[allow(clippy::too_many_arguments)]
    async fn build_and_record(
        &self,
        keyed: Vec<KeyedCertificate>,
        profile: P12Profile,
        kind: Kind,
        actor: Actor,
        now: OffsetDateTime,
        ca: std::sync::Arc<crate::ca::EmbeddedCa>,
        master: std::sync::Arc<MasterKey>,
        password_for: &mut (impl FnMut(&str) -> Result<String, ServiceError> + Send),
        run: Option<i64>,
    ) -> Result<DeliveryCreated, ServiceError> {
        let mut slips = Vec::with_capacity(keyed.len());
        for c in &keyed {
            slips.push(Slip {
                login_id: c.login_id.clone(),
                name: c.name.clone(),
                serial: c.serial.clone(),
                file_name: format!("{}.p12", c.login_id),
                pickup_number: None,
                password: password_for(&c.login_id)?,
            });
        }
        let token = hex::encode(random_bytes::<16>()?);
        let record = format!("delivery {token}");
        let build_slips = slips.clone();
        let build_master = std::sync::Arc::clone(&master);
        let (file_name, sealed_file, sealed_sheet, items) =
            tokio::task::spawn_blocking(move || {
                let mut files = Vec::with_capacity(keyed.len());
                for (c, slip) in keyed.iter().zip(&build_slips) {
                    files.push((
                        slip.file_name.clone(),
                        build_for(c, ca.cert_der(), &slip.password, profile)?,
                    ));
                }
                let (file_name, file) = match kind {
                    Kind::Bundle => (format!("certdesk-{}.zip", now.date()), zip_files(&files)?),
                    Kind::Single | Kind::Pickup => files
                        .pop()
                        .ok_or(ServiceError::from(LifecycleError::EmptySelection))?,
                };
                let sealed_file =
                    build_master.seal(Purpose::Deliveries, &format!("{record} file"), &file)?;
                // A single file's password is the admin's (typed) or shown once: not kept.
                let sealed_sheet = match kind {
                    Kind::Single | Kind::Pickup => None,
                    Kind::Bundle => {
                        let json = serde_json::to_vec(&build_slips)
                            .map_err(|e| ServiceError::Internal(e.to_string()))?;
                        Some(build_master.seal(
                            Purpose::Deliveries,
                            &format!("{record} sheet"),
                            &json,
                        )?)
                    }
                };
                let items: Vec<(i64, String)> = keyed
                    .iter()
                    .map(|c| (c.certificate_id, c.login_id.clone()))
                    .collect();
                Ok::<_, ServiceError>((file_name, sealed_file, sealed_sheet, items))
            })
            .await
            .map_err(|e| ServiceError::Internal(format!("pkcs12 task failed: {e}")))??;
        let expires = now + REDOWNLOAD_WINDOW;
        let slip_count = slips.len();
        let record_token = token.clone();
        let record_file_name = file_name.clone();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                // The keys may have been erased (or the certificates revoked) while the files
                // were built: then nothing is recorded.
                for (certificate_id, login_id) in &items {
                    still_kept(&tx, *certificate_id, login_id, now)?;
                }
                tx.execute(
                    "INSERT INTO deliveries (token, kind, profile, file_name, sealed_file, sealed_sheet, items, created_at, created_by, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![record_token, kind.as_str(), profile.as_str(), record_file_name, sealed_file, sealed_sheet,
                        slip_count, ts(now), actor.columns().1, ts(expires)],
                )?;
                let delivery_id = tx.last_insert_rowid();
                record_items(&tx, delivery_id, &items, kind, profile, &actor, now, run)?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        Ok(DeliveryCreated {
            token,
            kind: kind.as_str().to_string(),
            profile,
            file_name: Some(file_name),
            expires_at: ts(expires),
            slips,
        })
    }

    /// Finishes bundle runs a stopped process left unfinished (called at start-up: a bundle
    /// is built within its request, so it cannot resume). Returns how many there were.
    pub async fn abandon_bundle_runs(&self) -> Result<usize, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                Ok(conn.execute(
                    "UPDATE bundle_runs SET finished_at = ?1, outcome = 'abandoned' WHERE finished_at IS NULL",
                    [ts(now)],
                )?)
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
                    return Err(ServiceError::from(AuthError::Forbidden));
                }
                let LiveDelivery { id, kind, file_name, sealed_file, .. } = live_delivery(&tx, &token, now)?;
                let (Some(file_name), Some(sealed)) = (file_name, sealed_file) else {
                    return Err(ServiceError::from(DistributionError::DeliveryGone));
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
                    return Err(ServiceError::from(AuthError::Forbidden));
                }
                let LiveDelivery {
                    id, sealed_sheet, ..
                } = live_delivery(&tx, &token, now)?;
                let sealed =
                    sealed_sheet.ok_or(ServiceError::from(DistributionError::DeliveryGone))?;
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
        // The installation check page, when `serve` runs one (both languages).
        let (check_ja, check_en) = match &self.settings().check_url {
            Some(url) => (
                format!("インストールの確認: {url} (インストール後にこのページを開くと、証明書が正しく入っているかを確認できます)\n"),
                format!("Installation check: {url} (open it after importing to see that the certificate is installed correctly)\n"),
            ),
            None => (String::new(), String::new()),
        };
        let queued = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !is_console_user(&tx, &actor)? {
                    return Err(ServiceError::from(AuthError::Forbidden));
                }
                let LiveDelivery { id, kind, sealed_sheet, .. } = live_delivery(&tx, &token, now)?;
                let sealed = sealed_sheet.filter(|_| kind == "pickup").ok_or(ServiceError::from(DistributionError::DeliveryGone))?;
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
                         最初のダウンロードから24時間以内なら再度ダウンロードできます。更新・再発行の後は古い証明書を削除してください。\n\
                         {check_ja}\n\
                         ----\n\nDear {name},\n\nYour client certificate for internet banking is ready.\n\n\
                         Pickup page: {pickup_url}\nGroup ID: {group}\nCertificate number: {number}\n\
                         Pickup password: on the slip your administrator hands you separately (never in this mail).\n\n\
                         Open the downloaded .p12 file and import it with the pickup password. The download works again for\n\
                         24 hours after the first one. After a renewal or reissue, delete the old certificate.\n{check_en}",
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
    /// download; an unopened pickup expires after the organisation's setting (14 days by
    /// default). Every refusal is the same `E-PICKUP-001` (unknown number, wrong password,
    /// locked, expired, already retrieved), so numbers and passwords cannot be probed; wrong
    /// passwords on a real number are still counted, and the 5th locks it until an admin
    /// resets it (the console shows the lock). The file is built between two short
    /// transactions, without the database.
    pub async fn pickup_download(
        &self,
        group_id: String,
        number: String,
        password: String,
    ) -> Result<DeliveredFile, ServiceError> {
        let ca = self
            .ca()
            .ok_or(ServiceError::from(LifecycleError::CaNotReady))?;
        let master = self.master_key();
        let now = self.clock().now();
        let unavailable = || ServiceError::Pickup(PickupRefusal::Unavailable);
        let typed = password.clone();
        // 1. Check the request (counting a wrong password), read and unseal the key.
        let checked = self
            .db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let org_group: Option<String> = tx
                    .query_row("SELECT group_id FROM organisation WHERE id = 1", [], |r| r.get(0))
                    .optional()?;
                let expiry_days: i64 = tx.query_row(
                    "SELECT pickup_expiry_days FROM distribution_settings WHERE id = 1",
                    [],
                    |r| r.get(0),
                )?;
                let number = normalise_pickup_number(&number);
                // Computed for every request, known number or not.
                let given = pickup_hash(number.as_deref().unwrap_or(""), &typed);
                let (Some(org_group), Some(number)) = (org_group, number) else {
                    return Ok(None);
                };
                if !org_group.eq_ignore_ascii_case(group_id.trim()) {
                    return Ok(None);
                }
                let pickup = tx
                    .query_row(
                        "SELECT p.id, p.password_sha256, p.profile, p.failures, p.locked_at IS NOT NULL, p.first_download_at, p.created_at, c.user_id, u.login_id, c.id
                         FROM pickups p JOIN certificates c ON c.id = p.certificate_id JOIN users u ON u.id = c.user_id
                         WHERE p.number = ?1 AND p.closed_at IS NULL",
                        [&number],
                        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, u32>(3)?,
                                r.get::<_, bool>(4)?, r.get::<_, Option<String>>(5)?, r.get::<_, String>(6)?, r.get::<_, i64>(7)?,
                                r.get::<_, String>(8)?, r.get::<_, i64>(9)?)),
                    )
                    .optional()?;
                let Some((pickup_id, hash, profile, failures, locked, first, created, user_id, login_id, certificate_id)) = pickup else {
                    return Ok(None);
                };
                if locked {
                    return Ok(None);
                }
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
                    return Ok(None);
                }
                let first = first.as_deref().map(parse_ts).transpose()?;
                if first.is_none() && now >= parse_ts(&created)? + time::Duration::days(expiry_days) {
                    return Ok(None);
                }
                if !within_window(first, now) {
                    return Ok(None);
                }
                match keyed_certificate(&tx, &master, user_id, Some(certificate_id), now) {
                    Ok(c) => Ok(Some((pickup_id, profile, c))),
                    Err(ServiceError::Distribution(DistributionError::KeyGone { .. }) | ServiceError::Distribution(DistributionError::NoValidCertificate { .. })) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
        let Some((pickup_id, profile, c)) = checked else {
            return Err(unavailable());
        };
        // 2. Build the file without the database.
        let profile = P12Profile::parse(&profile).unwrap_or_default();
        let (c, bytes) = tokio::task::spawn_blocking(move || {
            let bytes = build_for(&c, ca.cert_der(), &password, profile);
            (c, bytes)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("pkcs12 task failed: {e}")))?;
        let bytes = bytes?;
        // 3. Record the download, if the pickup and the key are still there.
        let file_name = format!("{}.p12", c.login_id);
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let open: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM pickups WHERE id = ?1 AND closed_at IS NULL AND locked_at IS NULL)",
                    [pickup_id],
                    |r| r.get(0),
                )?;
                if !open {
                    return Err(unavailable());
                }
                let first = match still_kept(&tx, c.certificate_id, &c.login_id, now) {
                    Ok(first) => first,
                    Err(ServiceError::Distribution(DistributionError::KeyGone { .. })) => return Err(unavailable()),
                    Err(e) => return Err(e),
                };
                tx.execute(
                    "UPDATE pickups SET failures = 0, first_download_at = coalesce(first_download_at, ?1) WHERE id = ?2",
                    params![ts(now), pickup_id],
                )?;
                mark_delivered(&tx, now, &Actor::Anonymous, (c.certificate_id, &c.login_id, &c.serial), first.is_none(), "pickup")?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        Ok(DeliveredFile {
            file_name,
            content_type: "application/x-pkcs12",
            bytes,
        })
    }

    /// Clears a locked pickup's wrong-password count (masters and admins).
    pub async fn reset_pickup(&self, user_id: i64, actor: Actor) -> Result<(), ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !is_console_user(&tx, &actor)? {
                    return Err(ServiceError::from(AuthError::Forbidden));
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
    /// unopened pickups past their expiry (the pickup closes and its key goes), and prepared
    /// files and sheets that expired. Each erasure is audited. When anything was erased, the
    /// WAL is checkpointed and truncated, so no older copy of those pages stays on disk (with
    /// `secure_delete` the pages themselves are zeroed). Returns how many keys were erased.
    pub async fn sweep_distribution(&self) -> Result<usize, ServiceError> {
        let now = self.clock().now();
        self.db()
            .run(move |conn| {
                let tx = conn.transaction()?;
                let expiry_days: i64 = tx.query_row(
                    "SELECT pickup_expiry_days FROM distribution_settings WHERE id = 1",
                    [],
                    |r| r.get(0),
                )?;
                let mut stmt = tx.prepare(
                    "SELECT p.id, p.number, p.certificate_id, u.login_id
                     FROM pickups p JOIN certificates c ON c.id = p.certificate_id JOIN users u ON u.id = c.user_id
                     WHERE p.closed_at IS NULL AND p.first_download_at IS NULL AND p.created_at <= ?1",
                )?;
                let expired_pickups = stmt
                    .query_map([ts(now - time::Duration::days(expiry_days))], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                drop(stmt);
                let mut pickup_expired = std::collections::HashSet::new();
                for (pickup_id, number, certificate_id, login_id) in &expired_pickups {
                    tx.execute(
                        "UPDATE pickups SET closed_at = ?1, closed_reason = 'expired' WHERE id = ?2",
                        params![ts(now), pickup_id],
                    )?;
                    audit::record(&tx, now, &Actor::System, AuditAction::PickupExpire, Some(login_id), Outcome::Success,
                        serde_json::json!({"number": number, "days": expiry_days}))?;
                    pickup_expired.insert(*certificate_id);
                }
                let cutoff = ts(now - REDOWNLOAD_WINDOW);
                let mut stmt = tx.prepare(
                    "SELECT k.certificate_id, u.login_id, c.serial,
                            CASE WHEN c.state != 'valid' OR c.not_after <= ?2 THEN 'certificate_ended' ELSE 'window_closed' END,
                            k.first_delivered_at IS NOT NULL AND k.first_delivered_at <= ?1 OR c.state != 'valid' OR c.not_after <= ?2
                     FROM certificate_keys k JOIN certificates c ON c.id = k.certificate_id JOIN users u ON u.id = c.user_id",
                )?;
                let gone = stmt
                    .query_map(params![cutoff, ts(now)], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, bool>(4)?))
                    })?
                    .filter_map(|row| match row {
                        Ok((id, login_id, serial, why, due)) if due => Some(Ok((id, login_id, serial, why))),
                        Ok((id, login_id, serial, _, _)) if pickup_expired.contains(&id) => {
                            Some(Ok((id, login_id, serial, "pickup_expired".to_string())))
                        }
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    })
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
                let erased_any = !gone.is_empty() || expired > 0 || !expired_pickups.is_empty();
                if erased_any && !checkpoint_truncate(conn)? {
                    tracing::warn!("a reader kept the WAL checkpoint after an erasure from completing; the next sweep retries");
                }
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
