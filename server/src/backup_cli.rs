//! `certdesk backup` and `certdesk restore`: the encrypted backup file of an installation
//! (see `certdesk_backend::backup`). The passphrase comes from CERTDESK_BACKUP_PASSPHRASE, or
//! is asked on the terminal (twice for a backup).

use certdesk_backend::backup::{self, BackupInfo};
use certdesk_backend::{Actor, Clock, ServiceError};
use certdesk_domain::backup::{check_passphrase, BackupError, PASSPHRASE_ENV};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write (replaced only once the new one is complete).
    #[arg(long, short)]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file made by `certdesk backup`.
    pub file: PathBuf,
    /// Restore even if the data directory is not empty: the old one is first moved aside to
    /// `<data dir>.before-restore-<time>`.
    #[arg(long)]
    pub replace: bool,
}

/// The passphrase: from the environment, else typed (twice when `confirm`).
pub fn read_passphrase(confirm: bool) -> Result<String, ServiceError> {
    if let Ok(pass) = std::env::var(PASSPHRASE_ENV) {
        check_passphrase(&pass, &pass)?;
        return Ok(pass);
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map_err(|_| ServiceError::from(BackupError::NoPassphrase))
    };
    let first = ask("バックアップのパスフレーズ / backup passphrase: ")?;
    if confirm {
        let again = ask("もう一度 / again: ")?;
        check_passphrase(&first, &again)?;
    }
    Ok(first)
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

pub async fn backup(data_dir: PathBuf, args: BackupArgs) -> Result<(), ServiceError> {
    if !data_dir.join("certdesk.sqlite3").is_file() {
        return Err(BackupError::NoDatabase {
            dir: data_dir.display().to_string(),
        }
        .into());
    }
    let passphrase = read_passphrase(true)?;
    let now = Clock::system().now();
    let output = args.output.clone();
    let info: BackupInfo = tokio::task::spawn_blocking(move || {
        backup::create_backup(&data_dir, &output, &passphrase, &Actor::Cli, now)
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("backup task failed: {e}")))??;
    println!(
        "バックアップを作成しました: {path}({bytes}、データベース {db}、スキーマ {schema})。パスフレーズがないと復元できません。\nBackup written: {path} ({bytes}, database {db}, schema {schema}). It cannot be restored without the passphrase.",
        path = info.path.display(),
        bytes = size(info.bytes),
        db = size(info.database_bytes),
        schema = info.manifest.schema_version,
    );
    Ok(())
}

pub async fn restore(data_dir: PathBuf, args: RestoreArgs) -> Result<(), ServiceError> {
    // Refused before the passphrase is even asked for.
    backup::check_restore_target(&data_dir, args.replace)?;
    if !args.file.is_file() {
        return Err(BackupError::File {
            path: args.file.display().to_string(),
            detail: "not a file".into(),
        }
        .into());
    }
    let passphrase = read_passphrase(false)?;
    let info = backup::restore_backup(
        &args.file,
        &data_dir,
        &passphrase,
        args.replace,
        Clock::system(),
    )
    .await?;
    let migrated = if info.schema_version != info.manifest.schema_version {
        format!(
            "(スキーマ {} → {} に移行 / schema migrated {} → {})",
            info.manifest.schema_version,
            info.schema_version,
            info.manifest.schema_version,
            info.schema_version
        )
    } else {
        String::new()
    };
    println!(
        "{dir} に復元しました: {created} 時点、certdesk {version}、利用者 {users} 人、証明書 {certs} 件{migrated}。\nRestored into {dir}: as of {created}, certdesk {version}, {users} user(s), {certs} certificate(s){migrated}.",
        dir = data_dir.display(),
        created = info.manifest.created_at,
        version = info.manifest.certdesk_version,
        users = info.users,
        certs = info.certificates,
    );
    if let Some(aside) = &info.moved_aside {
        println!(
            "元のデータは {0} に移しました。\nThe old data was moved to {0}.",
            aside.display()
        );
    }
    if info.manifest.master_key_from == "env" {
        println!("このバックアップの元の環境ではマスターキーを CERTDESK_MASTER_KEY で与えていました。復元先では master.key に書き出しています。\nThe backed-up installation took its master key from CERTDESK_MASTER_KEY; the restored copy has it in master.key.");
    }
    Ok(())
}

/// `--backup-every`: a number and a unit (`m`, `h`, `d`), from 1 minute to 366 days (the
/// Settings page's rule: [`certdesk_domain::backup::parse_interval`]).
pub fn parse_interval(s: &str) -> Result<time::Duration, String> {
    certdesk_domain::backup::parse_interval(s)
        .map_err(|_| "a number and a unit from 1m to 366d: 30m, 12h, 24h, 7d".to_string())
}

/// Starts the scheduled backups task when the server has CERTDESK_BACKUP_PASSPHRASE (a server
/// has no terminal to ask on); it follows `serve --backup-dir` or, once saved, Settings →
/// Scheduled backups. `--backup-dir` without the passphrase is refused.
pub fn start_schedule(
    backend: &certdesk_backend::Backend,
    args: &crate::cli::ServeArgs,
) -> Result<(), ServiceError> {
    let passphrase = match std::env::var(PASSPHRASE_ENV) {
        Ok(p) => p,
        Err(_) if args.backup_dir.is_some() => return Err(BackupError::NoPassphrase.into()),
        Err(_) => {
            tracing::info!("no scheduled backups: CERTDESK_BACKUP_PASSPHRASE is not set");
            return Ok(());
        }
    };
    check_passphrase(&passphrase, &passphrase)?;
    match &args.backup_dir {
        Some(dir) => {
            tracing::info!(backup.dir = %dir.display(), backup.every = %args.backup_every, backup.keep = args.backup_keep, "scheduled backups (unless Settings saved others)")
        }
        None => tracing::info!("scheduled backups as Settings says"),
    }
    tokio::spawn(certdesk_backend::backup::schedule::run(
        backend.clone(),
        passphrase,
    ));
    Ok(())
}
