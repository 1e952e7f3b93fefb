//! Backups of an installation (`E-BACKUP-NNN`): the rules of the passphrase, and every reason a
//! backup or a restore is refused. No I/O here: the backend's `backup` module writes and reads
//! the files.

use crate::error::error_codes;
use crate::lang::Message;

/// The shortest passphrase a backup may be encrypted with (characters). The file holds the CA
/// key and the master key; a careful administrator keeps the passphrase in a password manager
/// or a sealed envelope, so length costs nothing.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// The environment variable a script gives the passphrase in.
pub const PASSPHRASE_ENV: &str = "CERTDESK_BACKUP_PASSPHRASE";

error_codes! {
    /// A backup or restore that is refused (`E-BACKUP-NNN`). Nothing was written under the
    /// final name, and the existing data is untouched.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum BackupError {
        /// The passphrase is shorter than [`MIN_PASSPHRASE_CHARS`].
        WeakPassphrase { min: usize } = "E-BACKUP-001" => "the passphrase must have at least {min} characters",
        /// The two passphrases typed on the terminal differ.
        PassphraseMismatch = "E-BACKUP-002" => "the two passphrases differ",
        /// No passphrase: no terminal to ask on and no CERTDESK_BACKUP_PASSPHRASE.
        NoPassphrase = "E-BACKUP-003" => "no passphrase given (no terminal, CERTDESK_BACKUP_PASSPHRASE not set)",
        /// The file does not open with this passphrase.
        WrongPassphrase = "E-BACKUP-004" => "the backup does not open with this passphrase",
        /// The file was altered or cut short (an authentication check failed).
        Damaged = "E-BACKUP-005" => "the backup file is damaged (altered or truncated)",
        /// Not a certdesk backup (not an age file, or no certdesk manifest in it).
        NotABackup = "E-BACKUP-006" => "the file is not a certdesk backup",
        /// The backup was made by a newer certdesk (a newer database schema).
        NewerSchema { found: i64, supported: i64 } = "E-BACKUP-007" => "the backup has schema {found}, this certdesk knows up to {supported}",
        /// Restore into a directory that already holds something, without `--replace`.
        TargetNotEmpty { dir: String } = "E-BACKUP-008" => "the data directory {dir} is not empty",
        /// The disk filled up while writing.
        NoSpace { dir: String } = "E-BACKUP-009" => "no space left on the device of {dir}",
        /// The file cannot be read or written (missing, permissions, a directory...).
        File { path: String, detail: String } = "E-BACKUP-010" => "cannot use {path}: {detail}",
        /// There is nothing to back up: no certdesk database in the data directory.
        NoDatabase { dir: String } = "E-BACKUP-011" => "no certdesk database in {dir}",
        /// The restored database fails SQLite's integrity check or the CA key does not open.
        Inconsistent { detail: String } = "E-BACKUP-012" => "the restored data is not consistent: {detail}",
        /// Settings → Scheduled backups: the folder is not an absolute path.
        ScheduleDirRelative { dir: String } = "E-BACKUP-013" => "the backup folder {dir} is not an absolute path",
        /// Settings → Scheduled backups: the folder is the data directory or inside it.
        ScheduleDirInData { dir: String } = "E-BACKUP-014" => "the backup folder {dir} is inside the data directory",
        /// Settings → Scheduled backups: the path exists and is not a folder, or its parent
        /// folder does not exist.
        ScheduleDirUnusable { dir: String } = "E-BACKUP-015" => "the backup folder {dir} cannot be used",
        /// Settings → Scheduled backups: the interval is not a number and a unit from 1m to 366d.
        ScheduleInterval { given: String } = "E-BACKUP-016" => "the backup interval {given} is not from 1m to 366d",
        /// Settings → Scheduled backups: how many to keep is not a whole number from 1 to 1000.
        ScheduleKeep { given: String } = "E-BACKUP-017" => "how many backups to keep ({given}) is not from 1 to 1000",
    }
}

impl BackupError {
    pub fn message(&self) -> Message {
        match self {
            BackupError::WeakPassphrase { min } => Message::new(
                format!("バックアップのパスフレーズは{min}文字以上にしてください(何も書き込んでいません)。"),
                format!("Use a backup passphrase of at least {min} characters (nothing was written)."),
            ),
            BackupError::PassphraseMismatch => Message::new(
                "2回入力したパスフレーズが一致しません(何も書き込んでいません)。もう一度実行してください。",
                "The two passphrases you typed differ (nothing was written). Run the command again.",
            ),
            BackupError::NoPassphrase => Message::new(
                "パスフレーズがありません。端末で実行するか、環境変数 CERTDESK_BACKUP_PASSPHRASE に設定してください。",
                "No passphrase. Run the command on a terminal, or set CERTDESK_BACKUP_PASSPHRASE.",
            ),
            BackupError::WrongPassphrase => Message::new(
                "このパスフレーズではバックアップを開けません(何も書き込んでいません)。バックアップを作成したときのパスフレーズを入力してください。",
                "The backup does not open with this passphrase (nothing was written). Enter the passphrase the backup was made with.",
            ),
            BackupError::Damaged => Message::new(
                "バックアップファイルが壊れています(改変または途中で切れています)。何も書き込んでいません。別のバックアップ(前回の世代)を使ってください。",
                "The backup file is damaged (altered or cut short); nothing was written. Use another backup (an earlier one).",
            ),
            BackupError::NotABackup => Message::new(
                "certdesk のバックアップファイルではありません(何も書き込んでいません)。certdesk backup で作成したファイルを指定してください。",
                "This is not a certdesk backup file (nothing was written). Give a file made by certdesk backup.",
            ),
            BackupError::NewerSchema { found, supported } => Message::new(
                format!("このバックアップは新しい certdesk で作成されています(スキーマ {found}、この certdesk は {supported} まで)。何も書き込んでいません。同じか新しい版の certdesk で復元してください。"),
                format!("This backup was made by a newer certdesk (schema {found}; this certdesk knows up to {supported}). Nothing was written. Restore it with the same or a newer certdesk."),
            ),
            BackupError::TargetNotEmpty { dir } => Message::new(
                format!("データディレクトリ {dir} は空ではありません(何も書き込んでいません)。空のディレクトリを指定するか、--replace を付けてください(元のデータは横に退避します)。"),
                format!("The data directory {dir} is not empty (nothing was written). Give an empty directory, or add --replace (the old data is moved aside)."),
            ),
            BackupError::NoSpace { dir } => Message::new(
                format!("{dir} のディスクがいっぱいです。書きかけのファイルは削除し、以前のバックアップはそのままです。空きを作ってからもう一度実行してください。"),
                format!("The disk of {dir} is full. The partial file was removed and earlier backups are untouched. Free some space and run it again."),
            ),
            BackupError::File { path, detail } => Message::new(
                format!("{path} を読み書きできません({detail})。パスと権限を確認してください。"),
                format!("Cannot read or write {path} ({detail}). Check the path and its permissions."),
            ),
            BackupError::NoDatabase { dir } => Message::new(
                format!("{dir} に certdesk のデータベースがありません。--data-dir(または CERTDESK_DATA_DIR)を確認してください。"),
                format!("There is no certdesk database in {dir}. Check --data-dir (or CERTDESK_DATA_DIR)."),
            ),
            BackupError::Inconsistent { detail } => Message::new(
                format!("復元したデータの検査に失敗しました({detail})。何も置き換えていません。別のバックアップを使ってください。"),
                format!("The restored data failed its check ({detail}). Nothing was replaced. Use another backup."),
            ),
            BackupError::ScheduleDirRelative { dir } => Message::new(
                format!("バックアップの保存先「{dir}」は絶対パスではありません(保存していません)。/var/backups/certdesk のように / から始まるパスを入力してください。"),
                format!("The backup folder \"{dir}\" is not an absolute path (nothing was saved). Enter a path starting with /, such as /var/backups/certdesk."),
            ),
            BackupError::ScheduleDirInData { dir } => Message::new(
                format!("バックアップの保存先「{dir}」はデータディレクトリの中です(保存していません)。PCが壊れたときに一緒に失われないよう、別のディスクなどデータディレクトリの外を指定してください。"),
                format!("The backup folder \"{dir}\" is inside the data directory (nothing was saved). Choose a folder outside it, ideally on another disk, so the backups survive the loss of the data."),
            ),
            BackupError::ScheduleDirUnusable { dir } => Message::new(
                format!("バックアップの保存先「{dir}」は使えません(ファイルであるか、親フォルダがありません)。保存していません。既存のフォルダか、既存のフォルダの中の新しいフォルダ名を入力してください。"),
                format!("The backup folder \"{dir}\" cannot be used (it is a file, or its parent folder does not exist); nothing was saved. Enter an existing folder, or a new folder inside an existing one."),
            ),
            BackupError::ScheduleInterval { given } => Message::new(
                format!("バックアップの間隔「{given}」が正しくありません(保存していません)。数字と単位(m=分、h=時間、d=日)で、1m から 366d までを入力してください(例: 24h)。"),
                format!("The backup interval \"{given}\" is not valid (nothing was saved). Enter a number and a unit (m minutes, h hours, d days) from 1m to 366d, such as 24h."),
            ),
            BackupError::ScheduleKeep { given } => Message::new(
                format!("保存するバックアップの数「{given}」が正しくありません(保存していません)。1 から 1000 までの整数を入力してください。"),
                format!("How many backups to keep (\"{given}\") is not valid (nothing was saved). Enter a whole number from 1 to 1000."),
            ),
        }
    }
}

impl BackupError {
    /// The Settings form field a schedule error is about.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            BackupError::ScheduleDirRelative { .. }
            | BackupError::ScheduleDirInData { .. }
            | BackupError::ScheduleDirUnusable { .. } => Some("backup_dir"),
            BackupError::ScheduleInterval { .. } => Some("backup_every"),
            BackupError::ScheduleKeep { .. } => Some("backup_keep"),
            _ => None,
        }
    }
}

/// The interval of scheduled backups as typed (`serve --backup-every`, Settings): a number and
/// a unit (`m`, `h`, `d`), from 1 minute to 366 days.
pub fn parse_interval(text: &str) -> Result<time::Duration, BackupError> {
    let bad = || BackupError::ScheduleInterval {
        given: text.trim().to_string(),
    };
    let s = text.trim();
    let (number, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = number.trim().parse().map_err(|_| bad())?;
    let d = match unit {
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        _ => return Err(bad()),
    };
    if d < time::Duration::minutes(1) || d > time::Duration::days(366) {
        return Err(bad());
    }
    Ok(d)
}

/// An interval as [`parse_interval`] reads it, in the largest whole unit (`1440m` → `1d`).
pub fn format_interval(d: time::Duration) -> String {
    let m = d.whole_minutes();
    if m % 1440 == 0 {
        format!("{}d", m / 1440)
    } else if m % 60 == 0 {
        format!("{}h", m / 60)
    } else {
        format!("{m}m")
    }
}

/// How many scheduled backups to keep, as typed: 1 to 1000.
pub fn parse_keep(text: &str) -> Result<u32, BackupError> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|k| (1..=1000).contains(k))
        .ok_or_else(|| BackupError::ScheduleKeep {
            given: text.trim().to_string(),
        })
}

/// Where the schedule in effect comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScheduleSource {
    /// Saved on the Settings page (wins over the command line).
    Saved,
    /// `serve --backup-dir/--backup-every/--backup-keep` (nothing saved on the page yet).
    CommandLine,
    /// Neither: no scheduled backups.
    None,
}

/// Settings → Scheduled backups as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupScheduleView {
    /// Empty: scheduled backups are off.
    pub dir: String,
    /// As typed: `24h`.
    pub every: String,
    pub keep: u32,
    pub source: ScheduleSource,
    /// The server has CERTDESK_BACKUP_PASSPHRASE (without it no scheduled backup can run).
    pub passphrase_set: bool,
}

/// Checks a passphrase (and, when typed twice, that both agree).
pub fn check_passphrase(first: &str, again: &str) -> Result<(), BackupError> {
    if first != again {
        return Err(BackupError::PassphraseMismatch);
    }
    if first.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(BackupError::WeakPassphrase {
            min: MIN_PASSPHRASE_CHARS,
        });
    }
    Ok(())
}

/// The dashboard's "last backup" line: from the audit log's newest `backup` rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupStatus {
    /// `serve --backup-dir` is set.
    pub scheduled: bool,
    pub last_success_at: Option<String>,
    /// Size of that backup file.
    pub last_success_bytes: Option<u64>,
    pub last_failure_at: Option<String>,
    /// The last backup failed, or (scheduled) the last success is older than twice the
    /// interval, or there is none.
    pub warn: bool,
}

impl BackupStatus {
    /// "Last backup: date, size", and why it warns.
    pub fn summary(&self) -> Message {
        let size = |b: u64| match b {
            b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / 1_048_576.0),
            b => format!("{:.1} KiB", b as f64 / 1024.0),
        };
        let (mut ja, mut en) = match (&self.last_success_at, self.last_success_bytes) {
            (Some(at), bytes) => {
                let at = at.get(..16).unwrap_or(at).replace('T', " ");
                let s = bytes.map(size).unwrap_or_default();
                (
                    format!("最終バックアップ: {at} UTC、{s}"),
                    format!("Last backup: {at} UTC, {s}"),
                )
            }
            (None, _) => (
                "バックアップはまだありません".to_string(),
                "No backup yet".to_string(),
            ),
        };
        let failed = match (&self.last_success_at, &self.last_failure_at) {
            (Some(s), Some(f)) => f > s,
            (None, Some(_)) => true,
            _ => false,
        };
        if failed {
            ja.push_str(
                "。直近のバックアップは失敗しました。サーバのログと監査ログを確認してください。",
            );
            en.push_str(". The latest backup failed: check the server log and the audit log.");
        } else if self.warn {
            ja.push_str("。定期バックアップが予定どおり取れていません(間隔の2倍を超えています)。");
            en.push_str(". Scheduled backups are overdue (older than twice the interval).");
        } else if !self.scheduled {
            ja.push_str("(定期バックアップは未設定: 設定ページ「定期バックアップ」)");
            en.push_str(" (no scheduled backups: Settings → Scheduled backups)");
        }
        Message::new(ja, en)
    }
}

/// The subject of the backup warning in the daily notice mail to masters (also how the daily
/// job finds the one it already queued today).
pub const WARNING_MAIL_SUBJECT: &str =
    "[certdesk] バックアップを確認してください / Check the backups";

/// The backup warning mailed to masters by the daily notice job when `status.warn` (the
/// dashboard's rule and words: [`BackupStatus::summary`]).
pub fn warning_mail(
    organisation: &str,
    status: &BackupStatus,
    console_url: &str,
) -> crate::notices::NoticeMail {
    let summary = status.summary();
    crate::notices::NoticeMail {
        subject: WARNING_MAIL_SUBJECT.to_string(),
        body: format!(
            "{organisation} の certdesk のバックアップに問題があります。\n\
             \n\
             {ja}\n\
             \n\
             CA の鍵と全員の証明書の状態はバックアップがなければ失われます。certdesk の設定ページの\n\
             「定期バックアップ」とサーバのログを確認し、certdesk backup --output FILE で手動のバックアップも取れます。\n\
             \n\
             certdesk: {console_url}\n\
             \n\
             ----\n\
             \n\
             The backups of certdesk of {organisation} need attention.\n\
             \n\
             {en}\n\
             \n\
             Without a backup the CA key and every certificate's state are lost with the PC. Check\n\
             \"Scheduled backups\" on certdesk's Settings page and the server log; certdesk backup --output FILE\n\
             takes one by hand.\n\
             \n\
             certdesk: {console_url}\n",
            ja = summary.ja,
            en = summary.en,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passphrase_needs_twelve_characters_typed_the_same_twice() {
        assert_eq!(
            check_passphrase("short", "short"),
            Err(BackupError::WeakPassphrase { min: 12 })
        );
        // Characters, not bytes: 12 kana pass, 11 do not.
        assert!(check_passphrase("あいうえおかきくけこさし", "あいうえおかきくけこさし").is_ok());
        assert!(check_passphrase("あいうえおかきくけこさ", "あいうえおかきくけこさ").is_err());
        assert_eq!(
            check_passphrase("correct horse battery", "correct horse batterx"),
            Err(BackupError::PassphraseMismatch)
        );
    }

    #[test]
    fn intervals_are_a_number_and_a_unit_from_one_minute_to_366_days() {
        assert_eq!(parse_interval(" 24h "), Ok(time::Duration::hours(24)));
        assert_eq!(parse_interval("30m"), Ok(time::Duration::minutes(30)));
        assert_eq!(parse_interval("366d"), Ok(time::Duration::days(366)));
        for bad in ["", "0m", "367d", "24", "h", "1.5h", "-1h", "24x"] {
            assert_eq!(
                parse_interval(bad),
                Err(BackupError::ScheduleInterval {
                    given: bad.trim().into()
                }),
                "{bad}"
            );
        }
        assert_eq!(format_interval(time::Duration::days(1)), "1d");
        assert_eq!(format_interval(time::Duration::hours(12)), "12h");
        assert_eq!(format_interval(time::Duration::minutes(90)), "90m");
        assert_eq!(parse_keep("14"), Ok(14));
        assert!(
            parse_keep("0").is_err() && parse_keep("1001").is_err() && parse_keep("x").is_err()
        );
    }

    #[test]
    fn every_code_has_both_languages() {
        let all = [
            BackupError::WeakPassphrase { min: 12 },
            BackupError::PassphraseMismatch,
            BackupError::NoPassphrase,
            BackupError::WrongPassphrase,
            BackupError::Damaged,
            BackupError::NotABackup,
            BackupError::NewerSchema {
                found: 99,
                supported: 9,
            },
            BackupError::TargetNotEmpty { dir: "d".into() },
            BackupError::NoSpace { dir: "d".into() },
            BackupError::File {
                path: "p".into(),
                detail: "x".into(),
            },
            BackupError::NoDatabase { dir: "d".into() },
            BackupError::Inconsistent { detail: "x".into() },
            BackupError::ScheduleDirRelative { dir: "d".into() },
            BackupError::ScheduleDirInData { dir: "d".into() },
            BackupError::ScheduleDirUnusable { dir: "d".into() },
            BackupError::ScheduleInterval { given: "x".into() },
            BackupError::ScheduleKeep { given: "x".into() },
        ];
        assert_eq!(all.len(), BackupError::CODES.len());
        for e in all {
            let m = e.message();
            assert!(!m.ja.is_empty() && !m.en.is_empty(), "{}", e.code());
        }
    }
}
