//! Backups: one file, encrypted to a passphrase with age (scrypt recipient), holding a tar of
//! `manifest.json` (certdesk version, schema version, each file's size and SHA-256), a
//! consistent snapshot of the database (`VACUUM INTO` in one read transaction, so the running
//! console keeps writing), the master key and the sealed CA key.
//!
//! Writing: to a hidden temporary file next to the output, fsynced, then renamed and the
//! folder fsynced, so a crash or `kill -9` leaves the previous backup untouched and nothing
//! under the final name. Restoring: into a hidden staging folder next to the data directory;
//! every check (passphrase, age's authentication of every chunk and of the end of the file,
//! the manifest's sizes and digests, the schema version, SQLite's integrity check, the CA key
//! opening under the restored master key) passes before the staging folder is renamed to the
//! data directory. On any refusal the staging folder is removed and the data directory is
//! untouched.

pub mod schedule;
pub mod settings;
pub mod warning;

use crate::error::ServiceError;
use crate::store::audit::{self, Actor, Outcome};
use crate::store::db::ts;
use crate::store::migrations::MIGRATIONS;
use crate::{Backend, Clock, Settings};
use age::secrecy::SecretString;
use certdesk_domain::backup::BackupError;
use certdesk_domain::AuditAction;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// What the first entry of every backup says.
pub const FORMAT: &str = "certdesk-backup";
pub const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
const DATABASE: &str = "certdesk.sqlite3";
const MASTER_KEY: &str = "master.key";
const CA_KEY: &str = "ca/ca-key.sealed";
/// The only paths a backup may hold besides the manifest (nothing else is ever extracted).
const KNOWN_FILES: [&str; 3] = [DATABASE, MASTER_KEY, CA_KEY];
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// How every age file (v1) begins.
const AGE_MAGIC: &[u8; 21] = b"age-encryption.org/v1";

/// The first entry of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub certdesk_version: String,
    /// The highest migration applied to the database in the backup.
    pub schema_version: i64,
    pub created_at: String,
    /// `file` (`master.key`) or `env` (`CERTDESK_MASTER_KEY`): where the key came from.
    pub master_key_from: String,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A backup written.
#[derive(Debug, Clone)]
pub struct BackupInfo {
    pub path: PathBuf,
    /// Size of the encrypted file.
    pub bytes: u64,
    /// Size of the database snapshot in it.
    pub database_bytes: u64,
    pub manifest: Manifest,
}

/// A restore done.
#[derive(Debug, Clone)]
pub struct RestoreInfo {
    pub manifest: Manifest,
    /// The schema after migrating forward (equal to the backup's when it was current).
    pub schema_version: i64,
    /// Where the old data directory was moved (`--replace`).
    pub moved_aside: Option<PathBuf>,
    pub users: i64,
    pub certificates: i64,
}

/// The newest schema this certdesk knows.
pub fn latest_schema() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// Test hook, not used by certdesk itself: creates the database `path` migrated only up to
/// migration `version`, as an older certdesk left it, so that a test can fill it, pack it with
/// the real `certdesk backup` and show that a restore migrates it forward.
#[doc(hidden)]
pub fn create_database_at_schema(path: &Path, version: i64) -> Result<(), ServiceError> {
    let mut conn = crate::store::db::open(path)?;
    crate::store::migrations::apply_up_to(&mut conn, OffsetDateTime::now_utc(), version)
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// An I/O failure on `path`, as people read it (a full disk is its own code).
fn io_error(path: &Path, e: &std::io::Error) -> ServiceError {
    if e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(path);
        return BackupError::NoSpace { dir: shown(dir) }.into();
    }
    BackupError::File {
        path: shown(path),
        detail: e.to_string(),
    }
    .into()
}

/// A SQLite failure while making the snapshot in `data_dir` (a full disk is its own code).
fn sqlite_error(data_dir: &Path, e: rusqlite::Error) -> ServiceError {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        return BackupError::NoSpace {
            dir: shown(data_dir),
        }
        .into();
    }
    e.into()
}

/// Removes a file (or a folder tree) when dropped, unless kept.
struct Cleanup {
    path: PathBuf,
    dir: bool,
    keep: bool,
}

impl Cleanup {
    fn file(path: PathBuf) -> Cleanup {
        Cleanup {
            path,
            dir: false,
            keep: false,
        }
    }
    fn dir(path: PathBuf) -> Cleanup {
        Cleanup {
            path,
            dir: true,
            keep: false,
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = if self.dir {
            std::fs::remove_dir_all(&self.path)
        } else {
            std::fs::remove_file(&self.path)
        };
    }
}

fn create_private_new(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// fsyncs a folder, so that a rename in it survives a power cut.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `dir/.<name>.<what>-<pid>`: a hidden sibling of `path`.
fn hidden_sibling(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "certdesk".into());
    parent_of(path).join(format!(".{name}.{what}-{}", std::process::id()))
}

fn sha256_of(path: &Path) -> Result<(u64, String), ServiceError> {
    let mut file = std::fs::File::open(path).map_err(|e| io_error(path, &e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| io_error(path, &e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// The master key as stored in `master.key` (64 hex digits), and where it came from: the
/// environment wins, as in `MasterKey::load_or_create`. Never creates one.
fn master_key_text(data_dir: &Path) -> Result<(String, &'static str), ServiceError> {
    let (text, from) = match std::env::var("CERTDESK_MASTER_KEY") {
        Ok(v) => (v, "env"),
        Err(_) => {
            let path = data_dir.join(MASTER_KEY);
            (
                std::fs::read_to_string(&path).map_err(|e| io_error(&path, &e))?,
                "file",
            )
        }
    };
    let text = text.trim().to_string();
    match hex::decode(&text) {
        Ok(bytes) if bytes.len() == 32 => Ok((text, from)),
        _ => Err(ServiceError::Internal(
            "the master key is not 64 hex digits".into(),
        )),
    }
}

/// Writes an encrypted backup of the installation in `data_dir` to `output` and records it in
/// the audit log (a failure too, when the database can be reached).
pub fn create_backup(
    data_dir: &Path,
    output: &Path,
    passphrase: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<BackupInfo, ServiceError> {
    let database = data_dir.join(DATABASE);
    if !database.is_file() {
        return Err(BackupError::NoDatabase {
            dir: shown(data_dir),
        }
        .into());
    }
    let result = write_backup(data_dir, output, passphrase, now);
    let file_name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (outcome, detail) = match &result {
        Ok(info) => (
            Outcome::Success,
            serde_json::json!({"file": shown(&info.path), "bytes": info.bytes,
                "database_bytes": info.database_bytes, "schema": info.manifest.schema_version}),
        ),
        Err(e) => (
            Outcome::Failure,
            serde_json::json!({"file": shown(output), "code": e.code()}),
        ),
    };
    let logged = crate::store::db::open(&database).and_then(|conn| {
        audit::record(
            &conn,
            now,
            actor,
            AuditAction::Backup,
            Some(&file_name),
            outcome,
            detail,
        )
    });
    if let Err(e) = logged {
        tracing::warn!(error.detail = %e, "the backup could not be recorded in the audit log");
    }
    result
}

fn write_backup(
    data_dir: &Path,
    output: &Path,
    passphrase: &str,
    now: OffsetDateTime,
) -> Result<BackupInfo, ServiceError> {
    let database = data_dir.join(DATABASE);
    // 1. The snapshot: one read transaction of the live database, beside it (0700 folder).
    let snapshot = hidden_sibling(&database, "snapshot");
    let _ = std::fs::remove_file(&snapshot);
    let snapshot_guard = Cleanup::file(snapshot.clone());
    let schema_version = {
        let conn = rusqlite::Connection::open_with_flags(
            &database,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let target = snapshot.to_string_lossy().into_owned();
        conn.execute("VACUUM INTO ?1", [&target])
            .map_err(|e| sqlite_error(data_dir, e))?;
        drop(conn);
        crate::restrict_to_owner(&snapshot, 0o600)?;
        let snap = rusqlite::Connection::open_with_flags(
            &snapshot,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let v: Option<i64> =
            snap.query_row("SELECT max(version) FROM schema_migrations", [], |r| {
                r.get(0)
            })?;
        v.unwrap_or(0)
    };
    // 2. The keys.
    let (master_hex, master_key_from) = master_key_text(data_dir)?;
    let ca_key = data_dir.join(CA_KEY);
    let ca_key = ca_key.is_file().then_some(ca_key);

    let (database_bytes, database_sha) = sha256_of(&snapshot)?;
    let mut files = vec![FileEntry {
        path: DATABASE.into(),
        bytes: database_bytes,
        sha256: database_sha,
    }];
    files.push(FileEntry {
        path: MASTER_KEY.into(),
        bytes: master_hex.len() as u64,
        sha256: hex::encode(Sha256::digest(master_hex.as_bytes())),
    });
    if let Some(path) = &ca_key {
        let (bytes, sha256) = sha256_of(path)?;
        files.push(FileEntry {
            path: CA_KEY.into(),
            bytes,
            sha256,
        });
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        certdesk_version: env!("CARGO_PKG_VERSION").into(),
        schema_version,
        created_at: ts(now),
        master_key_from: master_key_from.into(),
        files,
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ServiceError::Internal(format!("manifest: {e}")))?;

    // 3. The encrypted file, under a hidden temporary name next to the output.
    let temporary = hidden_sibling(output, "tmp");
    let _ = std::fs::remove_file(&temporary);
    let file = create_private_new(&temporary).map_err(|e| io_error(&temporary, &e))?;
    let temporary_guard = Cleanup::file(temporary.clone());
    let io = |e: std::io::Error| io_error(&temporary, &e);
    let encryptor = age::Encryptor::with_user_passphrase(SecretString::from(passphrase.to_owned()));
    let sealed = encryptor
        .wrap_output(BufWriter::with_capacity(1 << 20, file))
        .map_err(io)?;
    let mut tar = tar::Builder::new(sealed);
    let mtime = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    let append = |tar: &mut tar::Builder<_>, name: &str, bytes: u64, data: &mut dyn Read| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes);
        header.set_mode(0o600);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, data)
    };
    append(
        &mut tar,
        MANIFEST,
        manifest_json.len() as u64,
        &mut manifest_json.as_slice(),
    )
    .map_err(io)?;
    let mut snapshot_file = std::fs::File::open(&snapshot).map_err(|e| io_error(&snapshot, &e))?;
    append(&mut tar, DATABASE, database_bytes, &mut snapshot_file).map_err(io)?;
    append(
        &mut tar,
        MASTER_KEY,
        master_hex.len() as u64,
        &mut master_hex.as_bytes(),
    )
    .map_err(io)?;
    if let (Some(path), Some(entry)) = (&ca_key, manifest.files.get(2)) {
        let mut f = std::fs::File::open(path).map_err(|e| io_error(path, &e))?;
        append(&mut tar, CA_KEY, entry.bytes, &mut f).map_err(io)?;
    }
    let sealed = tar.into_inner().map_err(io)?;
    let buffered = sealed.finish().map_err(io)?;
    let file = buffered
        .into_inner()
        .map_err(|e| io_error(&temporary, e.error()))?;
    file.sync_all().map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    drop(file);
    drop(snapshot_guard);
    // 4. In place: rename, then make the rename durable.
    std::fs::rename(&temporary, output).map_err(|e| io_error(output, &e))?;
    let mut temporary_guard = temporary_guard;
    temporary_guard.keep = true;
    sync_dir(&parent_of(output)).map_err(|e| io_error(output, &e))?;
    Ok(BackupInfo {
        path: output.to_path_buf(),
        bytes,
        database_bytes,
        manifest,
    })
}

/// Refuses a restore into `data_dir` when it holds anything (unless `replace`): a file, or a
/// folder with any entry.
pub fn check_restore_target(data_dir: &Path, replace: bool) -> Result<(), ServiceError> {
    if replace {
        return Ok(());
    }
    let empty = match std::fs::read_dir(data_dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(_) => false,
    };
    if empty {
        Ok(())
    } else {
        Err(BackupError::TargetNotEmpty {
            dir: shown(data_dir),
        }
        .into())
    }
}

fn decrypt_error(e: age::DecryptError) -> ServiceError {
    use age::DecryptError as D;
    match e {
        D::DecryptionFailed | D::NoMatchingKeys | D::KeyDecryptionFailed => {
            BackupError::WrongPassphrase.into()
        }
        D::InvalidMac | D::InvalidHeader | D::ExcessiveWork { .. } => BackupError::Damaged.into(),
        D::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => BackupError::Damaged.into(),
        _ => BackupError::NotABackup.into(),
    }
}

/// An error while reading the decrypted stream: age's authentication failed (an altered or
/// cut file), or the tar inside is not ours.
fn payload_error(e: &std::io::Error) -> ServiceError {
    match e.kind() {
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
            BackupError::Damaged.into()
        }
        _ => BackupError::NotABackup.into(),
    }
}

/// Restores `file` into `data_dir` (see the module documentation for the order of checks).
pub async fn restore_backup(
    file: &Path,
    data_dir: &Path,
    passphrase: &str,
    replace: bool,
    clock: Clock,
) -> Result<RestoreInfo, ServiceError> {
    check_restore_target(data_dir, replace)?;
    let staging = hidden_sibling(data_dir, "restoring");
    let _ = std::fs::remove_dir_all(&staging);
    let (file_owned, staging_owned, pass) =
        (file.to_path_buf(), staging.clone(), passphrase.to_owned());
    let mut staging_guard = Cleanup::dir(staging.clone());
    let manifest = tokio::task::spawn_blocking(move || extract(&file_owned, &staging_owned, &pass))
        .await
        .map_err(|e| ServiceError::Internal(format!("restore task failed: {e}")))??;

    // Checks of the restored data, in the staging folder.
    let backup_key =
        std::fs::read_to_string(staging.join(MASTER_KEY)).map_err(|e| io_error(&staging, &e))?;
    if let Ok(env_key) = std::env::var("CERTDESK_MASTER_KEY") {
        if env_key.trim() != backup_key.trim() {
            return Err(BackupError::Inconsistent {
                detail: "CERTDESK_MASTER_KEY is set to another key than the backup's; unset it (the restored master.key is used)".into(),
            }
            .into());
        }
    }
    {
        let conn = rusqlite::Connection::open(staging.join(DATABASE))?;
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(BackupError::Inconsistent {
                detail: format!("SQLite integrity check: {check}"),
            }
            .into());
        }
    }
    // Migrates an older schema forward, and opens the CA key under the restored master key.
    let backend = Backend::open(Settings::new(&staging), clock)?;
    let has_ca: bool = backend
        .db()
        .run(|conn| Ok(conn.query_row("SELECT count(*) > 0 FROM ca", [], |r| r.get(0))?))
        .await?;
    if has_ca {
        backend
            .ensure_ca(Actor::Cli)
            .await
            .map_err(|e| BackupError::Inconsistent {
                detail: format!("the CA key does not open ({})", e.code()),
            })?;
    }
    let now = backend.clock().now();
    let detail = serde_json::json!({
        "file": shown(file),
        "created_at": manifest.created_at,
        "certdesk_version": manifest.certdesk_version,
        "schema_from": manifest.schema_version,
        "schema_to": latest_schema(),
    });
    let target = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (users, certificates) = backend
        .db()
        .run(move |conn| {
            audit::record(
                conn,
                now,
                &Actor::Cli,
                AuditAction::Restore,
                Some(&target),
                Outcome::Success,
                detail,
            )?;
            let users: i64 = conn.query_row(
                "SELECT count(*) FROM users WHERE deleted_at IS NULL",
                [],
                |r| r.get(0),
            )?;
            let certificates: i64 =
                conn.query_row("SELECT count(*) FROM certificates", [], |r| r.get(0))?;
            crate::store::db::checkpoint_truncate(conn)?;
            Ok((users, certificates))
        })
        .await?;
    drop(backend);
    for entry in ["", "ca"] {
        let _ = sync_dir(&staging.join(entry));
    }
    for name in KNOWN_FILES {
        if let Ok(f) = std::fs::File::open(staging.join(name)) {
            f.sync_all().map_err(|e| io_error(&staging, &e))?;
        }
    }

    // In place: the old folder aside (--replace) or an empty one removed, then the rename.
    let mut moved_aside = None;
    if data_dir.exists() {
        let empty = std::fs::read_dir(data_dir)
            .map(|mut e| e.next().is_none())
            .unwrap_or(false);
        if empty {
            std::fs::remove_dir(data_dir).map_err(|e| io_error(data_dir, &e))?;
        } else {
            let stamp = now
                .format(time::macros::format_description!(
                    "[year][month][day]T[hour][minute][second]Z"
                ))
                .unwrap_or_else(|_| now.unix_timestamp().to_string());
            let mut aside = data_dir.as_os_str().to_owned();
            aside.push(format!(".before-restore-{stamp}"));
            let aside = PathBuf::from(aside);
            std::fs::rename(data_dir, &aside).map_err(|e| io_error(data_dir, &e))?;
            moved_aside = Some(aside);
        }
    }
    std::fs::rename(&staging, data_dir).map_err(|e| io_error(data_dir, &e))?;
    staging_guard.keep = true;
    let _ = sync_dir(&parent_of(data_dir));
    Ok(RestoreInfo {
        manifest,
        schema_version: latest_schema(),
        moved_aside,
        users,
        certificates,
    })
}

/// Decrypts `file` and writes its entries into the new folder `staging`, checking the
/// manifest first and every file against it; reads the stream to its end so that age checks
/// the last chunk (a cut file is refused).
fn extract(file: &Path, staging: &Path, passphrase: &str) -> Result<Manifest, ServiceError> {
    let mut input = std::fs::File::open(file).map_err(|e| io_error(file, &e))?;
    // Not an age file at all (not a damaged one): its first line says so.
    let mut magic = [0u8; AGE_MAGIC.len()];
    if input.read_exact(&mut magic).is_err() || magic != *AGE_MAGIC {
        return Err(BackupError::NotABackup.into());
    }
    let input = std::fs::File::open(file).map_err(|e| io_error(file, &e))?;
    let decryptor = age::Decryptor::new_buffered(BufReader::with_capacity(1 << 20, input))
        .map_err(decrypt_error)?;
    if !decryptor.is_scrypt() {
        return Err(BackupError::NotABackup.into());
    }
    let identity = age::scrypt::Identity::new(SecretString::from(passphrase.to_owned()));
    let plain = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(decrypt_error)?;
    let mut archive = tar::Archive::new(plain);
    let mut entries = archive.entries().map_err(|e| payload_error(&e))?;

    // The manifest, before anything is written.
    let mut first = entries
        .next()
        .ok_or(BackupError::NotABackup)?
        .map_err(|e| payload_error(&e))?;
    let first_path = first.path().map_err(|e| payload_error(&e))?.into_owned();
    if first_path != Path::new(MANIFEST) || first.size() > MAX_MANIFEST_BYTES {
        return Err(BackupError::NotABackup.into());
    }
    let mut text = Vec::new();
    first
        .read_to_end(&mut text)
        .map_err(|e| payload_error(&e))?;
    drop(first);
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|_| BackupError::NotABackup)?;
    if manifest.format != FORMAT || manifest.format_version != FORMAT_VERSION {
        return Err(BackupError::NotABackup.into());
    }
    if manifest.schema_version > latest_schema() {
        return Err(BackupError::NewerSchema {
            found: manifest.schema_version,
            supported: latest_schema(),
        }
        .into());
    }
    let required = [DATABASE, MASTER_KEY];
    if manifest
        .files
        .iter()
        .any(|f| !KNOWN_FILES.contains(&f.path.as_str()))
        || required
            .iter()
            .any(|r| !manifest.files.iter().any(|f| f.path == *r))
    {
        return Err(BackupError::NotABackup.into());
    }

    create_private_dir(staging).map_err(|e| io_error(staging, &e))?;
    let mut seen: Vec<String> = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| payload_error(&e))?;
        let path = entry
            .path()
            .map_err(|e| payload_error(&e))?
            .to_string_lossy()
            .into_owned();
        let Some(expected) = manifest.files.iter().find(|f| f.path == path) else {
            return Err(BackupError::NotABackup.into());
        };
        if seen.contains(&path) {
            return Err(BackupError::NotABackup.into());
        }
        let target = staging.join(&path);
        if path == CA_KEY {
            create_private_dir(&staging.join("ca")).map_err(|e| io_error(staging, &e))?;
        }
        let mut out = create_private_new(&target).map_err(|e| io_error(&target, &e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(|e| payload_error(&e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| io_error(&target, &e))?;
            total += n as u64;
        }
        if total != expected.bytes || hex::encode(hasher.finalize()) != expected.sha256 {
            return Err(BackupError::Damaged.into());
        }
        seen.push(path);
    }
    // What is left (tar's end blocks): reading it to the end makes age verify the file's last
    // chunk, so a file cut at a chunk boundary is refused too.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| payload_error(&e))?;
    if manifest.files.iter().any(|f| !seen.contains(&f.path)) {
        return Err(BackupError::Damaged.into());
    }
    Ok(manifest)
}
