//! `certdesk certs …`: the certificate lifecycle for scripts, through the same flow, rules,
//! codes and audit log as the Certificates page (`Backend::apply_certificate_operation`), with
//! the shell as the actor (`cli`).
//!
//! Exit codes: 0 every login ID done; 3 some done and some refused (partial); 1 refused or
//! failed as a whole (nothing done); 2 a usage error (clap).

use certdesk_backend::{Actor, Backend, Clock, ServiceError, Settings};
use certdesk_domain::distribution::P12Profile;
use certdesk_domain::lifecycle::{CertificateState, RevocationReason};
use certdesk_domain::views::UserCertificates;
use certdesk_domain::{Operation, SetupError};
use clap::{Args, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Every login ID done.
pub const EXIT_OK: i32 = 0;
/// Refused or failed as a whole: nothing done.
pub const EXIT_REFUSED: i32 = 1;
/// Some login IDs done, some refused.
pub const EXIT_PARTIAL: i32 = 3;

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// List users with their newest certificate.
    List {
        /// Only certificates that end within this many days (valid ones).
        #[arg(long)]
        expiring_within: Option<u32>,
        /// Only certificates in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        #[arg(long, value_enum, default_value_t = FormatArg::Table)]
        format: FormatArg,
    },
    /// Issue a first certificate to users without a valid one.
    Issue(Targets),
    /// Renew certificates inside their renewal window.
    Renew(Targets),
    /// Revoke the users' valid certificates and issue new ones.
    Reissue(Targets),
    /// Revoke the users' valid certificates.
    Revoke {
        #[arg(required = true)]
        login_ids: Vec<String>,
        /// unspecified, key_compromise, affiliation_changed, superseded,
        /// cessation_of_operation, privilege_withdrawn
        #[arg(long, value_parser = parse_reason)]
        reason: Option<RevocationReason>,
    },
    /// Open self-service enrolments (as the Distribution page's enrolment-code channel, all or
    /// nothing): one line per user, `login_id  group_id  number  code  expires_at`, tab
    /// separated. The codes are shown only here; hand each slip to its user.
    Enrol {
        #[arg(required = true)]
        login_ids: Vec<String>,
        /// For users holding a valid certificate: it is revoked (superseded) when the new one
        /// is issued.
        #[arg(long)]
        reissue: bool,
    },
    /// Write a user's certificate and key as a password-protected .p12 file (as the page's
    /// download: the key is delivered, and erased after the re-download window).
    Export {
        login_id: String,
        #[arg(long, short)]
        output: PathBuf,
        #[arg(long, value_enum, default_value_t = ProfileArg::Modern)]
        profile: ProfileArg,
        /// A file whose first line is the .p12 password; without it a password is generated
        /// and printed once.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct Targets {
    /// Login IDs (one result line each).
    #[arg(
        required_unless_present = "all_eligible",
        conflicts_with = "all_eligible"
    )]
    pub login_ids: Vec<String>,
    /// Every user the operation applies to now (issue: no valid certificate; renew: inside
    /// the renewal window; reissue: a valid certificate).
    #[arg(long)]
    pub all_eligible: bool,
    /// Why the current certificate is revoked (reissue).
    #[arg(long, value_parser = parse_reason)]
    pub reason: Option<RevocationReason>,
}

fn parse_reason(s: &str) -> Result<RevocationReason, String> {
    RevocationReason::parse(s).ok_or_else(|| {
        "one of unspecified, key_compromise, affiliation_changed, superseded, cessation_of_operation, privilege_withdrawn".into()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    Valid,
    Expired,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    Modern,
    Compatible,
}

fn report(prefix: &str, e: &ServiceError) {
    let m = e.message();
    eprintln!(
        "{prefix}{}: {}\n{prefix}{}: {}",
        e.code(),
        m.ja,
        e.code(),
        m.en
    );
}

/// Runs a `certs` command; returns the exit code.
pub async fn run(data_dir: PathBuf, command: CertsCommand) -> i32 {
    let backend = match open(data_dir).await {
        Ok(b) => b,
        Err(e) => {
            report("", &e);
            return EXIT_REFUSED;
        }
    };
    let result = match command {
        CertsCommand::List {
            expiring_within,
            state,
            format,
        } => list(&backend, expiring_within, state, format).await,
        CertsCommand::Issue(t) => apply(&backend, t, |_| Operation::Issue).await,
        CertsCommand::Renew(t) => apply(&backend, t, |_| Operation::Renew).await,
        CertsCommand::Reissue(t) => apply(&backend, t, Operation::Reissue).await,
        CertsCommand::Revoke { login_ids, reason } => {
            let targets = Targets {
                login_ids,
                all_eligible: false,
                reason,
            };
            apply(&backend, targets, Operation::Revoke).await
        }
        CertsCommand::Export {
            login_id,
            output,
            profile,
            password_file,
        } => export(&backend, &login_id, output, profile, password_file).await,
        CertsCommand::Enrol { login_ids, reissue } => enrol(&backend, login_ids, reissue).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report("", &e);
            EXIT_REFUSED
        }
    }
}

/// The installation in `data_dir`, with its CA loaded (made, as `serve` would, if missing).
async fn open(data_dir: PathBuf) -> Result<Backend, ServiceError> {
    if !data_dir.join("certdesk.sqlite3").is_file() {
        return Err(SetupError::NotSetUp.into());
    }
    let backend = Backend::open(Settings::new(data_dir), Clock::system())?;
    if backend.needs_setup() {
        return Err(SetupError::NotSetUp.into());
    }
    backend.ensure_ca(Actor::Cli).await?;
    Ok(backend)
}

fn state_name(u: &UserCertificates) -> &'static str {
    u.current
        .as_ref()
        .map(|c| c.state.as_str())
        .unwrap_or("none")
}

async fn list(
    backend: &Backend,
    expiring_within: Option<u32>,
    state: Option<StateArg>,
    format: FormatArg,
) -> Result<i32, ServiceError> {
    let rows: Vec<UserCertificates> = backend
        .certificate_overview()
        .await?
        .into_iter()
        .filter(|u| match (state, &u.current) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(s), Some(c)) => {
                c.state
                    == match s {
                        StateArg::Valid => CertificateState::Valid,
                        StateArg::Expired => CertificateState::Expired,
                        StateArg::Revoked => CertificateState::Revoked,
                    }
            }
        })
        .filter(|u| match (expiring_within, &u.current) {
            (None, _) => true,
            (Some(days), Some(c)) => {
                c.state == CertificateState::Valid && c.days_left <= i64::from(days)
            }
            (Some(_), None) => false,
        })
        .collect();
    let mut out = std::io::stdout().lock();
    let written = match format {
        FormatArg::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|u| {
                    let c = u.current.as_ref();
                    serde_json::json!({
                        "login_id": u.login_id, "name": u.name, "email": u.email,
                        "state": state_name(u),
                        "serial": c.map(|c| &c.serial), "not_before": c.map(|c| &c.not_before),
                        "not_after": c.map(|c| &c.not_after), "days_left": c.map(|c| c.days_left),
                        "renewable": c.map(|c| c.renewable), "sha256": c.map(|c| &c.sha256),
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::Value::Array(items))
        }
        FormatArg::Csv => {
            let mut text =
                String::from("login_id,name,state,serial,not_before,not_after,days_left\r\n");
            for u in &rows {
                let c = u.current.as_ref();
                let cell = |s: &str| {
                    if s.contains([',', '"', '\n', '\r']) {
                        format!("\"{}\"", s.replace('"', "\"\""))
                    } else {
                        s.to_string()
                    }
                };
                text.push_str(&format!(
                    "{},{},{},{},{},{},{}\r\n",
                    cell(&u.login_id),
                    cell(&u.name),
                    state_name(u),
                    c.map(|c| c.serial.as_str()).unwrap_or(""),
                    c.map(|c| c.not_before.as_str()).unwrap_or(""),
                    c.map(|c| c.not_after.as_str()).unwrap_or(""),
                    c.map(|c| c.days_left.to_string()).unwrap_or_default(),
                ));
            }
            out.write_all(text.as_bytes())
        }
        FormatArg::Table => {
            let mut r = writeln!(
                out,
                "{:<12}  {:<8}  {:<40}  {:<27}  {:>5}  name",
                "login_id", "state", "serial", "not_after", "days"
            );
            for u in &rows {
                let c = u.current.as_ref();
                r = r.and_then(|()| {
                    writeln!(
                        out,
                        "{:<12}  {:<8}  {:<40}  {:<27}  {:>5}  {}",
                        u.login_id,
                        state_name(u),
                        c.map(|c| c.serial.as_str()).unwrap_or("-"),
                        c.map(|c| c.not_after.as_str()).unwrap_or("-"),
                        c.map(|c| c.days_left.to_string()).unwrap_or_default(),
                        u.name
                    )
                });
            }
            r
        }
    };
    written.map_err(|e| ServiceError::Internal(format!("cannot write the list: {e}")))?;
    Ok(EXIT_OK)
}

/// `certs enrol`: the slips of the opened enrolments, or the refusal (nothing opened).
async fn enrol(
    backend: &Backend,
    login_ids: Vec<String>,
    reissue: bool,
) -> Result<i32, ServiceError> {
    let mut ids = Vec::with_capacity(login_ids.len());
    for login_id in &login_ids {
        ids.push(backend.user_id(login_id).await?);
    }
    let slips = backend.open_enrolments(Actor::Cli, ids, reissue).await?;
    for slip in slips {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            slip.login_id, slip.group_id, slip.number, slip.code, slip.expires_at
        );
    }
    Ok(EXIT_OK)
}

/// The login IDs `--all-eligible` stands for.
async fn eligible(backend: &Backend, op: Operation) -> Result<Vec<String>, ServiceError> {
    let all = backend.certificate_overview().await?;
    let valid = |u: &UserCertificates| {
        u.current
            .as_ref()
            .is_some_and(|c| c.state == CertificateState::Valid)
    };
    Ok(all
        .into_iter()
        .filter(|u| !u.locked)
        .filter(|u| match op {
            Operation::Issue => !valid(u),
            Operation::Renew => u.current.as_ref().is_some_and(|c| c.renewable),
            Operation::Reissue(_) | Operation::Revoke(_) => valid(u),
        })
        .map(|u| u.login_id)
        .collect())
}

async fn apply(
    backend: &Backend,
    targets: Targets,
    op: impl Fn(Option<RevocationReason>) -> Operation,
) -> Result<i32, ServiceError> {
    let op = op(targets.reason);
    let login_ids = if targets.all_eligible {
        eligible(backend, op).await?
    } else {
        targets.login_ids
    };
    if login_ids.is_empty() {
        println!(
            "対象の利用者はいません(何もしていません)。\nNo user to {} (nothing done).",
            op.name()
        );
        return Ok(EXIT_OK);
    }
    let total = login_ids.len();
    let progress = total > 1 && std::io::stderr().is_terminal();
    let (mut done, mut refused) = (0usize, 0usize);
    for (n, login_id) in login_ids.iter().enumerate() {
        if progress {
            eprint!("\r[{}/{total}] {login_id:<12}", n + 1);
        }
        let result = async {
            let user_id = backend.user_id(login_id).await?;
            backend
                .apply_certificate_operation(user_id, op, Actor::Cli)
                .await
        }
        .await;
        if progress {
            eprint!("\r{:<40}\r", "");
        }
        match result {
            Ok(Some(cert)) => {
                done += 1;
                println!(
                    "{login_id}\tok\t{}\t{}\t{}",
                    op.name(),
                    cert.serial,
                    cert.not_after
                );
            }
            Ok(None) => {
                done += 1;
                println!("{login_id}\tok\t{}", op.name());
            }
            Err(e) => {
                refused += 1;
                let m = e.message();
                println!("{login_id}\t{}\t{}", e.code(), m.en);
                eprintln!("{login_id}: {}: {}", e.code(), m.ja);
            }
        }
    }
    println!("完了 {done} 件、拒否 {refused} 件。\nDone {done}, refused {refused} (of {total}).");
    Ok(match (done, refused) {
        (_, 0) => EXIT_OK,
        (0, _) => EXIT_REFUSED,
        _ => EXIT_PARTIAL,
    })
}

/// The first line of the password file (a trailing newline is not part of the password).
fn read_password_file(path: &std::path::Path) -> Result<String, ServiceError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServiceError::Internal(format!("cannot read {}: {e}", path.display())))?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

async fn export(
    backend: &Backend,
    login_id: &str,
    output: PathBuf,
    profile: ProfileArg,
    password_file: Option<PathBuf>,
) -> Result<i32, ServiceError> {
    let typed = match &password_file {
        Some(path) => Some(read_password_file(path)?),
        None => None,
    };
    if typed.as_deref() == Some("") {
        return Err(certdesk_domain::distribution::DistributionError::PasswordLength.into());
    }
    let profile = match profile {
        ProfileArg::Modern => P12Profile::Modern,
        ProfileArg::Compatible => P12Profile::Compatible,
    };
    let user_id = backend.user_id(login_id).await?;
    let created = backend
        .prepare_single(user_id, profile, typed, Actor::Cli)
        .await?;
    let file = backend.delivery_file(created.token, Actor::Cli).await?;
    write_private(&output, &file.bytes)
        .map_err(|e| ServiceError::Internal(format!("cannot write {}: {e}", output.display())))?;
    println!(
        "{} を書き出しました({})。\nWrote {} ({}).",
        output.display(),
        profile.as_str(),
        output.display(),
        profile.as_str()
    );
    if let Some(slip) = created.slips.first() {
        println!(
            "パスワード(一度だけ表示します) / password (shown once): {}",
            slip.password
        );
    }
    Ok(EXIT_OK)
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
