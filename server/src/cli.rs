//! The command line: `certdesk [serve]`, `certdesk setup`, `certdesk users unlock`,
//! `certdesk users reset-otp`.
//! Messages to people are printed in Japanese, then English.

use crate::web;
use certdesk_backend::Actor;
use certdesk_backend::SetupInput;
use certdesk_backend::{Backend, Clock, ServiceError, Settings};
use certdesk_domain::userfile::{ExportEncoding, ImportMode};
use certdesk_domain::Role;
use certdesk_domain::SessionPolicy;
use certdesk_domain::SetupError;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "certdesk",
    version,
    about = "certdesk: client certificates for business internet banking / インターネットバンキング用クライアント証明書の管理"
)]
pub struct Cli {
    /// Data directory (SQLite database, CA keys).
    #[arg(
        long,
        env = "CERTDESK_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of `serve`, which runs when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// The process's command line, as [`Cli::try_parse_args`] reads it; exits with clap's
    /// message on an error (and for `--help`, `--version`).
    pub fn parse_args() -> Cli {
        Cli::try_parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses a command line. The global option `--data-dir` goes before or after the command
    /// (`certdesk --data-dir DIR setup …` as well as `certdesk setup … --data-dir DIR`);
    /// `serve`'s options go after `serve`, or without a command at all; before a command they
    /// are refused (`certdesk --listen ADDR users …`: the option would be silently ignored).
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(args)?;
        if let Some((name, _)) = matches.subcommand() {
            let serve_only = ServeArgs::augment_args(clap::Command::new("serve"));
            let given = serve_only.get_arguments().find(|a| {
                matches.value_source(a.get_id().as_str())
                    == Some(clap::parser::ValueSource::CommandLine)
            });
            if let Some(arg) = given {
                let option = arg.get_long().unwrap_or(arg.get_id().as_str());
                return Err(command.error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "--{option} は serve のオプションです。{name} の前には置けません / --{option} is an option of `serve`: it cannot go before `{name}`"
                    ),
                ));
            }
        }
        Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the console (the default).
    Serve(ServeArgs),
    /// Create the organisation and its master user without a browser (headless installs).
    /// The password is read from CERTDESK_MASTER_PASSWORD, or asked for twice.
    Setup(SetupArgs),
    /// The embedded CA.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Users, from the server's shell.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Renewal notices.
    Notices {
        #[command(subcommand)]
        command: NoticesCommand,
    },
    /// Write an encrypted backup (database snapshot, master key, CA key) to one file. The
    /// passphrase is read from CERTDESK_BACKUP_PASSPHRASE, or asked for twice.
    Backup(crate::backup_cli::BackupArgs),
    /// Restore a backup into an empty data directory (--data-dir).
    Restore(crate::backup_cli::RestoreArgs),
    /// Certificates, from the server's shell (the same rules and audit log as the pages).
    /// Exit code 0: all done, 3: partly refused, 1: refused.
    Certs {
        #[command(subcommand)]
        command: crate::certs_cli::CertsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum NoticesCommand {
    /// Run the daily notice job once, then try to send the mail it queued (and any mail that
    /// is due for a retry). The server does this by itself at start-up and every day.
    Run {
        /// TEST ONLY (debug builds): move the clock by this many days.
        #[cfg(debug_assertions)]
        #[arg(long, hide = true, default_value_t = 0)]
        test_clock_offset_days: i64,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CERTDESK_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// The URL people use to reach the console; `https://...` makes cookies Secure.
    #[arg(long, env = "CERTDESK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Minutes without a request after which a console session ends.
    #[arg(long, env = "CERTDESK_SESSION_IDLE_MINUTES", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub session_idle_minutes: u32,
    /// Hours after sign-in at which a console session ends, however busy (absolute lifetime).
    #[arg(long, env = "CERTDESK_SESSION_MAX_HOURS", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(1..=168))]
    pub session_max_hours: u32,
    /// Behind a TLS reverse proxy: plain HTTP on a loopback --listen only; the client address
    /// is taken from X-Forwarded-For, believed from loopback only.
    #[arg(long, env = "CERTDESK_BEHIND_PROXY")]
    pub behind_proxy: bool,
    /// TLS certificate (PEM, chain after it) to serve instead of one from the embedded CA;
    /// read again on SIGHUP. Needs --tls-key and an https:// --public-url.
    #[arg(long, env = "CERTDESK_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "CERTDESK_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Where the certificate check page (/check, TLS) listens. Default with TLS: the
    /// console's port + 1.
    #[arg(long, env = "CERTDESK_CHECK_LISTEN")]
    pub check_listen: Option<SocketAddr>,
    /// Folder with `pkg/certdesk.js` and `pkg/certdesk_bg.wasm`.
    #[arg(long, env = "CERTDESK_SITE_ROOT")]
    pub site_root: Option<PathBuf>,
    /// Folder for scheduled backups (certdesk-<time>.age, encrypted with
    /// CERTDESK_BACKUP_PASSPHRASE); none unless given.
    #[arg(long, env = "CERTDESK_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Interval of scheduled backups: 30m, 12h, 24h, 7d.
    #[arg(long, env = "CERTDESK_BACKUP_EVERY", default_value = "24h",
          value_parser = crate::backup_cli::parse_interval)]
    pub backup_every: Duration,
    /// How many scheduled backups to keep (the oldest beyond are deleted).
    #[arg(long, env = "CERTDESK_BACKUP_KEEP", default_value_t = 14,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub backup_keep: u32,
    /// TEST ONLY: move the server's clock by this many days (to reach a renewal window).
    /// Compiled into debug builds only (the test and browser suites run those): a release
    /// build has no such flag or variable, so a production clock cannot be moved.
    #[cfg(debug_assertions)]
    #[arg(
        long,
        env = "CERTDESK_TEST_CLOCK_OFFSET_DAYS",
        hide = true,
        default_value_t = 0
    )]
    pub test_clock_offset_days: i64,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    #[arg(long)]
    pub org_name: String,
    #[arg(long)]
    pub group_id: String,
    #[arg(long)]
    pub bank_code: String,
    #[arg(long)]
    pub login_id: String,
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub email: String,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the embedded CA now (it is otherwise made right after setup).
    Init,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add an admin or general user.
    Add {
        login_id: String,
        name: String,
        email: String,
        /// admin or general
        #[arg(long, value_enum, default_value_t = RoleArg::General)]
        role: RoleArg,
    },
    /// Unlock (閉塞解除) an account locked after wrong passwords.
    Unlock {
        /// The login ID to unlock.
        login_id: String,
    },
    /// Remove a user's one-time password and recovery codes (e.g. the last master lost the
    /// device); the user enrols again at the next sign-in when the policy requires it.
    ResetOtp {
        /// The login ID whose one-time password is removed.
        login_id: String,
    },
    /// Import users from a CSV file (UTF-8 or Shift_JIS). Without --yes only the preview is
    /// printed and nothing is written.
    Import {
        file: PathBuf,
        /// add (add only) or update (add and update by login ID)
        #[arg(long, value_enum, default_value_t = ImportModeArg::Add)]
        mode: ImportModeArg,
        /// The sheet of a workbook (.xlsx, .xlsm, .xls, .ods) to read; the first if absent.
        #[arg(long)]
        sheet: Option<String>,
        /// Write the users (one transaction; refused if the preview has any problem).
        #[arg(long)]
        yes: bool,
    },
    /// Export the users with their current certificate as CSV or an .xlsx workbook.
    Export {
        /// Where to write; standard output if absent.
        #[arg(long)]
        output: Option<PathBuf>,
        /// utf8 (with BOM) or sjis
        #[arg(long, value_enum, default_value_t = EncodingArg::Utf8)]
        encoding: EncodingArg,
        /// csv or xlsx; xlsx when --output ends in .xlsx, else csv.
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
    },
}

/// The roles `certdesk users add` may give: a master is made only by a master, in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    General,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::General => Role::General,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// `certdesk users import --mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportModeArg {
    /// Add new users only.
    #[value(alias = "add_only")]
    Add,
    /// Add new users and update existing ones by login ID.
    #[value(alias = "add_and_update")]
    Update,
}

impl From<ImportModeArg> for ImportMode {
    fn from(mode: ImportModeArg) -> ImportMode {
        match mode {
            ImportModeArg::Add => ImportMode::AddOnly,
            ImportModeArg::Update => ImportMode::AddAndUpdate,
        }
    }
}

/// `certdesk users export --encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EncodingArg {
    /// UTF-8 with BOM.
    #[value(alias = "utf-8")]
    Utf8,
    /// Shift_JIS (CP932).
    #[value(aliases = ["shift_jis", "cp932"])]
    Sjis,
}

impl From<EncodingArg> for ExportEncoding {
    fn from(encoding: EncodingArg) -> ExportEncoding {
        match encoding {
            EncodingArg::Utf8 => ExportEncoding::Utf8Bom,
            EncodingArg::Sjis => ExportEncoding::ShiftJis,
        }
    }
}

/// `certdesk users export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// CSV (the encoding is `--encoding`).
    Csv,
    /// An Excel workbook (.xlsx) of text cells.
    Xlsx,
}

/// Prints a service error as people read it: code, Japanese, English.
pub fn report(e: &ServiceError) {
    let m = e.message();
    eprintln!("{}: {}\n{}: {}", e.code(), m.ja, e.code(), m.en);
    if e.is_internal() {
        eprintln!("detail: {e}");
    }
}

fn settings(data_dir: PathBuf, serve: Option<&ServeArgs>) -> Settings {
    let mut s = Settings::new(data_dir);
    if let Some(args) = serve {
        s.session = SessionPolicy {
            idle_timeout: Duration::minutes(i64::from(args.session_idle_minutes)),
        };
        s.session_max_age = Duration::hours(i64::from(args.session_max_hours));
        s.serve_at(args.listen, args.public_url.as_deref());
        s.check_url = crate::serving::check_url(args);
        s.backup_every = args.backup_dir.as_ref().map(|_| args.backup_every);
        s.backup_dir = args.backup_dir.clone();
        s.backup_keep = args.backup_keep;
        s.backup_passphrase_set =
            std::env::var_os(certdesk_domain::backup::PASSPHRASE_ENV).is_some();
    }
    s
}

/// Runs the command line; the exit code is 0 on success, 1 on a refused or failed action.
pub async fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        None => serve(cli.data_dir, cli.serve).await,
        Some(Command::Serve(args)) => serve(cli.data_dir, args).await,
        Some(Command::Setup(args)) => setup(cli.data_dir, args).await,
        Some(Command::Users {
            command: UsersCommand::Unlock { login_id },
        }) => unlock(cli.data_dir, &login_id).await,
        Some(Command::Users {
            command: UsersCommand::ResetOtp { login_id },
        }) => reset_otp(cli.data_dir, &login_id).await,
        Some(Command::Users {
            command:
                UsersCommand::Add {
                    login_id,
                    name,
                    email,
                    role,
                },
        }) => add_user(cli.data_dir, &login_id, &name, &email, role.into()).await,
        Some(Command::Users {
            command:
                UsersCommand::Import {
                    file,
                    mode,
                    sheet,
                    yes,
                },
        }) => import_users(cli.data_dir, &file, sheet.as_deref(), mode.into(), yes).await,
        Some(Command::Users {
            command:
                UsersCommand::Export {
                    output,
                    encoding,
                    format,
                },
        }) => export_users(cli.data_dir, output.as_deref(), encoding.into(), format).await,
        Some(Command::Ca {
            command: CaCommand::Init,
        }) => ca_init(cli.data_dir).await,
        Some(Command::Notices { command }) => notices_run(cli.data_dir, command.clock()).await,
        Some(Command::Backup(args)) => crate::backup_cli::backup(cli.data_dir, args).await,
        Some(Command::Restore(args)) => crate::backup_cli::restore(cli.data_dir, args).await,
        Some(Command::Certs { command }) => {
            return crate::certs_cli::run(cli.data_dir, command).await
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            report(&e);
            1
        }
    }
}

impl NoticesCommand {
    /// The clock of `notices run`: the system's (moved only in a debug build, for tests).
    fn clock(&self) -> Clock {
        match self {
            #[cfg(debug_assertions)]
            NoticesCommand::Run {
                test_clock_offset_days,
            } => test_clock(*test_clock_offset_days),
            #[cfg(not(debug_assertions))]
            NoticesCommand::Run {} => Clock::system(),
        }
    }
}

impl ServeArgs {
    /// The server's clock: the system's (moved only in a debug build, for tests).
    fn clock(&self) -> Clock {
        #[cfg(debug_assertions)]
        let clock = test_clock(self.test_clock_offset_days);
        #[cfg(not(debug_assertions))]
        let clock = Clock::system();
        clock
    }
}

/// The system clock moved by `offset_days` (0: not moved), with a warning when moved.
#[cfg(debug_assertions)]
fn test_clock(offset_days: i64) -> Clock {
    if offset_days == 0 {
        return Clock::system();
    }
    tracing::warn!(days = offset_days, "TEST ONLY: the clock is moved");
    Clock::shifted(Duration::days(offset_days))
}

async fn serve(data_dir: PathBuf, mut args: ServeArgs) -> Result<(), ServiceError> {
    // `--listen HOST:0` (any free port): the port is chosen now, so that the public URL, the
    // Host allowlist and the check page's port name the port the console really answers on.
    if args.listen.port() == 0 {
        let free = std::net::TcpListener::bind(args.listen)
            .and_then(|l| l.local_addr())
            .map_err(|e| {
                ServiceError::Internal(format!("cannot listen on {}: {e}", args.listen))
            })?;
        args.listen.set_port(free.port());
    }
    // Refused before anything is opened or written.
    let plan = crate::serving::plan(&args)?;
    let clock = args.clock();
    crate::serving::check_files(&plan, clock.now())?;
    let backend = Backend::open(settings(data_dir, Some(&args)), clock)?;
    let warm = backend.clone();
    tokio::task::spawn_blocking(move || warm.prepare_sign_in());
    backend.ensure_ca(Actor::System).await?;
    certdesk_backend::jobs::start(&backend).await?;
    print_setup_token(&backend)?;
    crate::backup_cli::start_schedule(&backend, &args)?;
    let site_root = args
        .site_root
        .clone()
        .unwrap_or_else(web::default_site_root);
    let app = web::router(backend.clone(), &site_root);
    crate::serving::run(backend, app, plan).await
}

/// Before setup, on a console other machines can reach: a new one-time setup token, printed
/// here only (and kept in `<data dir>/setup-token`) for whoever started `serve`.
fn print_setup_token(backend: &Backend) -> Result<(), ServiceError> {
    if let Some(token) = backend.issue_setup_token()? {
        let file = backend
            .settings()
            .data_dir
            .join(certdesk_backend::SETUP_TOKEN_FILE);
        println!(
            "初期設定にはセットアップトークンが必要です: {token}\n(ファイル {0} にもあります。初期設定が終わると削除されます)\nThe setup page asks for this setup token: {token}\n(also in {0}; deleted once setup is done)",
            file.display()
        );
    }
    Ok(())
}

async fn notices_run(data_dir: PathBuf, clock: Clock) -> Result<(), ServiceError> {
    let backend = Backend::open(settings(data_dir, None), clock)?;
    if backend.needs_setup() {
        return Err(SetupError::NotSetUp.into());
    }
    let run = backend.run_notice_job().await?;
    let mail = backend.send_due_mail().await?;
    println!(
        "通知 {} 件を記録、メール {} 通を送信待ちにしました。送信 {} 通、失敗 {} 通。\nRecorded {} notice(s), queued {} mail(s); sent {}, failed {}.",
        run.recorded, run.queued, mail.sent, mail.failed, run.recorded, run.queued, mail.sent, mail.failed
    );
    Ok(())
}

async fn ca_init(data_dir: PathBuf) -> Result<(), ServiceError> {
    let backend = Backend::open(settings(data_dir, None), Clock::system())?;
    if backend.needs_setup() {
        return Err(SetupError::NotSetUp.into());
    }
    if backend.ensure_ca(Actor::Cli).await? {
        println!("認証局(CA)を作成しました。\nCreated the CA.");
    } else {
        println!("認証局(CA)は作成済みです。\nThe CA already exists.");
    }
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

fn read_master_password() -> Result<(String, String), ServiceError> {
    if let Ok(pw) = std::env::var("CERTDESK_MASTER_PASSWORD") {
        return Ok((pw.clone(), pw));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|e| {
            ServiceError::Internal(format!(
                "cannot read the password from the terminal ({e}); set CERTDESK_MASTER_PASSWORD instead"
            ))
        })
    };
    let first = ask("マスターユーザのパスワード / master password: ")?;
    let second = ask("もう一度 / again: ")?;
    Ok((first, second))
}

async fn setup(data_dir: PathBuf, args: SetupArgs) -> Result<(), ServiceError> {
    let backend = Backend::open(settings(data_dir, None), Clock::system())?;
    if !backend.needs_setup() {
        return Err(SetupError::AlreadySetUp.into());
    }
    let (password, password_confirm) = read_master_password()?;
    let input = SetupInput {
        org_name: args.org_name,
        group_id: args.group_id,
        bank_code: args.bank_code,
        login_id: args.login_id,
        name: args.name,
        email: args.email,
        password,
        password_confirm,
    };
    let (_, user) = backend.set_up(input, Actor::Cli).await?;
    println!(
        "初期設定が完了しました。マスターユーザ「{0}」でサインインできます。\nSetup complete. Sign in as master user '{0}'.",
        user.login_id
    );
    Ok(())
}

async fn add_user(
    data_dir: PathBuf,
    login_id: &str,
    name: &str,
    email: &str,
    role: Role,
) -> Result<(), ServiceError> {
    let backend = Backend::open(settings(data_dir, None), Clock::system())?;
    if backend.needs_setup() {
        return Err(SetupError::NotSetUp.into());
    }
    backend
        .create_user(login_id, name, email, role, Actor::Cli)
        .await?;
    println!(
        "利用者「{0}」を追加しました。\nAdded user '{0}'.",
        login_id.trim()
    );
    Ok(())
}

async fn unlock(data_dir: PathBuf, login_id: &str) -> Result<(), ServiceError> {
    let backend = Backend::open(settings(data_dir, None), Clock::system())?;
    backend.unlock_user(login_id, Actor::Cli).await?;
    println!(
        "「{0}」の閉塞を解除しました。\nUnlocked '{0}'.",
        login_id.trim()
    );
    Ok(())
}

async fn reset_otp(data_dir: PathBuf, login_id: &str) -> Result<(), ServiceError> {
    let backend = Backend::open(settings(data_dir, None), Clock::system())?;
    backend.reset_otp(login_id, Actor::Cli).await?;
    println!(
        "「{0}」のワンタイムパスワードをリセットしました。次回のサインイン後に登録し直してください。\nReset the one-time password of '{0}'. Set it up again after the next sign-in.",
        login_id.trim()
    );
    Ok(())
}

async fn import_users(
    data_dir: PathBuf,
    file: &std::path::Path,
    sheet: Option<&str>,
    mode: ImportMode,
    commit: bool,
) -> Result<(), ServiceError> {
    use certdesk_domain::userfile::{column_letters, FileError, RowAction, MAX_WORKBOOK_BYTES};
    let size = std::fs::metadata(file)
        .map_err(|e| ServiceError::Internal(format!("cannot read {}: {e}", file.display())))?
        .len();
    // The largest workbook; a text file's own limit (1 MiB) is checked once its content is known.
    if size > MAX_WORKBOOK_BYTES as u64 {
        return Err(FileError::TooLarge {
            bytes: usize::try_from(size).unwrap_or(usize::MAX),
            max: MAX_WORKBOOK_BYTES,
        }
        .into());
    }
    let bytes = std::fs::read(file)
        .map_err(|e| ServiceError::Internal(format!("cannot read {}: {e}", file.display())))?;
    let backend = Backend::open(settings(data_dir, None), Clock::system())?;
    if backend.needs_setup() {
        return Err(SetupError::NotSetUp.into());
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sheet = sheet.map(str::to_string);
    let preview = backend
        .preview_user_import_sheet(name.clone(), bytes.clone(), sheet.clone(), mode, Actor::Cli)
        .await?;
    println!(
        "{}: {} / {} rows / 追加 add {} · 更新 update {} · 変更なし unchanged {} · 問題 problems {}",
        preview.file_name,
        preview.encoding.label(),
        preview.records,
        preview.plan.adds,
        preview.plan.updates,
        preview.plan.unchanged,
        preview.plan.problems.len()
    );
    if let Some(s) = &preview.sheet {
        println!(
            "シート sheet: {} (全シート all sheets: {})",
            s.name,
            s.all.join(", ")
        );
    }
    for f in &preview.folded {
        println!(
            "  row {:>4}  {} ({}): {} → {} (全角を半角に / full-width folded)",
            f.row,
            f.cell(),
            f.column_name,
            f.original,
            f.folded
        );
    }
    for row in &preview.plan.rows {
        let action = match &row.action {
            RowAction::Add => "add".to_string(),
            RowAction::Update { changed } => format!("update ({})", changed.join(", ")),
            RowAction::Unchanged => "unchanged".to_string(),
        };
        println!("  row {:>4}  {:<12}  {}", row.row, row.login_id, action);
    }
    for p in &preview.plan.problems {
        let column = match (p.column, &p.column_name) {
            (Some(n), Some(name)) => format!(
                ", column {} ({name}), cell {}{}",
                column_letters(n),
                column_letters(n),
                p.row
            ),
            (Some(n), None) => format!(", column {}", column_letters(n)),
            _ => String::new(),
        };
        eprintln!(
            "  row {}{column}: {}: {}\n      {}",
            p.row, p.code, p.message.ja, p.message.en
        );
    }
    if !commit {
        println!("プレビューのみです(何も書き込んでいません)。取り込むには --yes を付けてください。\nPreview only, nothing was written. Add --yes to import.");
        return if preview.plan.problems.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::ImportHasProblems {
                problems: preview.plan.problems.len(),
            })
        };
    }
    let done = backend
        .commit_user_import_sheet(
            name,
            bytes,
            sheet,
            mode,
            preview.sha256.clone(),
            None,
            Actor::Cli,
        )
        .await?;
    println!(
        "取り込みました: 追加 {} 件、更新 {} 件、変更なし {} 件。\nImported: {} added, {} updated, {} unchanged.",
        done.plan.adds, done.plan.updates, done.plan.unchanged, done.plan.adds, done.plan.updates, done.plan.unchanged
    );
    Ok(())
}

async fn export_users(
    data_dir: PathBuf,
    output: Option<&std::path::Path>,
    encoding: ExportEncoding,
    format: Option<FormatArg>,
) -> Result<(), ServiceError> {
    use std::io::Write;
    let backend = Backend::open(settings(data_dir, None), Clock::system())?;
    let named_xlsx = output.is_some_and(|p| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
    });
    let bytes = match format {
        Some(FormatArg::Xlsx) => backend.export_users_xlsx().await?,
        None if named_xlsx => backend.export_users_xlsx().await?,
        _ => backend.export_users_csv(encoding).await?,
    };
    let written = match output {
        Some(path) => std::fs::write(path, &bytes),
        None => std::io::stdout().write_all(&bytes),
    };
    written.map_err(|e| ServiceError::Internal(format!("cannot write the export: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn users(args: &[&str]) -> Result<UsersCommand, clap::Error> {
        let cli = Cli::try_parse_from(["certdesk", "users"].iter().chain(args))?;
        match cli.command {
            Some(Command::Users { command }) => Ok(command),
            other => panic!("not a users command: {other:?}"),
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_data_dir_goes_before_or_after_the_command() {
        let data_dir = |args: &[&str]| {
            Cli::try_parse_args(std::iter::once(&"certdesk").chain(args))
                .map(|cli| (cli.data_dir, cli.command))
        };
        let setup = [
            "setup",
            "--org-name",
            "株式会社テスト商事",
            "--group-id",
            "G0001",
            "--bank-code",
            "0001",
            "--login-id",
            "master01",
            "--name",
            "山田 太郎",
            "--email",
            "taro@example.co.jp",
        ];
        let before: Vec<&str> = ["--data-dir", "/srv/certdesk"]
            .iter()
            .chain(&setup)
            .copied()
            .collect();
        let after: Vec<&str> = setup
            .iter()
            .chain(&["--data-dir", "/srv/certdesk"])
            .copied()
            .collect();
        for args in [&before, &after] {
            let (dir, command) = data_dir(args).expect("parses");
            assert_eq!(dir, PathBuf::from("/srv/certdesk"), "{args:?}");
            assert!(matches!(command, Some(Command::Setup(_))), "{args:?}");
        }
        for args in [
            &["--data-dir", "d", "users", "unlock", "taro0001"][..],
            &["users", "--data-dir", "d", "unlock", "taro0001"],
            &["users", "unlock", "taro0001", "--data-dir", "d"],
        ] {
            let (dir, command) = data_dir(args).expect("parses");
            assert_eq!(dir, PathBuf::from("d"), "{args:?}");
            assert!(matches!(command, Some(Command::Users { .. })), "{args:?}");
        }
        // serve, named or not, takes its options and the data directory anywhere.
        let (dir, command) =
            data_dir(&["--data-dir", "d", "serve", "--listen", "127.0.0.1:4000"]).expect("parses");
        assert_eq!(dir, PathBuf::from("d"));
        assert!(matches!(command, Some(Command::Serve(a)) if a.listen.port() == 4000));
        let cli =
            Cli::try_parse_args(["certdesk", "--listen", "127.0.0.1:4001", "--data-dir", "d"])
                .expect("parses");
        assert!(cli.command.is_none());
        assert_eq!(
            (cli.data_dir, cli.serve.listen.port()),
            (PathBuf::from("d"), 4001)
        );
        // A serve option before a command would be silently ignored: refused.
        for args in [
            &["--listen", "127.0.0.1:4000", "users", "unlock", "taro0001"][..],
            &["--listen", "127.0.0.1:4000", "serve"],
        ] {
            let refused = data_dir(args).expect_err("serve's option before a command");
            assert_eq!(refused.kind(), clap::error::ErrorKind::ArgumentConflict);
            assert!(refused.to_string().contains("--listen"), "{refused}");
        }
    }

    #[test]
    fn a_session_lives_12_hours_unless_serve_says_otherwise() {
        let parsed = |args: &[&str]| {
            let cli =
                Cli::try_parse_from(["certdesk", "serve"].iter().chain(args)).expect("parses");
            match cli.command {
                Some(Command::Serve(serve)) => settings(PathBuf::from("d"), Some(&serve)),
                other => panic!("not serve: {other:?}"),
            }
        };
        assert_eq!(parsed(&[]).session_max_age, Duration::hours(12));
        assert_eq!(
            parsed(&["--session-max-hours", "2"]).session_max_age,
            Duration::hours(2)
        );
        assert!(Cli::try_parse_from(["certdesk", "serve", "--session-max-hours", "0"]).is_err());
    }

    #[test]
    fn a_user_is_added_as_general_unless_admin_is_asked_for() {
        let role = |args: &[&str]| match users(args).expect("parses") {
            UsersCommand::Add { role, .. } => Role::from(role),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            role(&["add", "taro0001", "佐藤 太郎", "t@example.jp"]),
            Role::General
        );
        assert_eq!(
            role(&[
                "add",
                "taro0001",
                "佐藤 太郎",
                "t@example.jp",
                "--role",
                "admin"
            ]),
            Role::Admin
        );
        assert!(users(&[
            "add",
            "taro0001",
            "佐藤 太郎",
            "t@example.jp",
            "--role",
            "master"
        ])
        .is_err());
    }

    #[test]
    fn import_modes_are_add_and_update_with_their_long_names() {
        let mode = |args: &[&str]| match users(args).expect("parses") {
            UsersCommand::Import { mode, .. } => ImportMode::from(mode),
            other => panic!("{other:?}"),
        };
        assert_eq!(mode(&["import", "u.csv"]), ImportMode::AddOnly);
        assert_eq!(
            mode(&["import", "u.csv", "--mode", "add_only"]),
            ImportMode::AddOnly
        );
        assert_eq!(
            mode(&["import", "u.csv", "--mode", "update"]),
            ImportMode::AddAndUpdate
        );
        assert_eq!(
            mode(&["import", "u.csv", "--mode", "add_and_update"]),
            ImportMode::AddAndUpdate
        );
        assert!(users(&["import", "u.csv", "--mode", "replace"]).is_err());
    }

    #[test]
    fn exports_are_utf8_unless_shift_jis_is_asked_for() {
        let encoding = |args: &[&str]| match users(args).expect("parses") {
            UsersCommand::Export { encoding, .. } => ExportEncoding::from(encoding),
            other => panic!("{other:?}"),
        };
        assert_eq!(encoding(&["export"]), ExportEncoding::Utf8Bom);
        assert_eq!(
            encoding(&["export", "--encoding", "utf8"]),
            ExportEncoding::Utf8Bom
        );
        for sjis in ["sjis", "shift_jis", "cp932"] {
            assert_eq!(
                encoding(&["export", "--encoding", sjis]),
                ExportEncoding::ShiftJis
            );
        }
    }
}
