//! certdesk's server-only half: configuration, the SQLite database and its migrations,
//! password hashing, sessions, and the use cases the console and the command line call.
//!
//! Which error type goes where: every public function here returns [`ServiceError`]; it wraps
//! the domain's `ValidationError`, adds the errors of sign-in and storage, and gives each a
//! stable code and a message in both languages. The detail of a storage error is logged where
//! it is turned into a response, never sent.
//!
//! Every change is one SQLite transaction together with its audit row ([`store::audit::record`]).

mod auth;
pub mod backup;
mod ca;
mod certificates;
mod clock;
mod distribution;
mod enrolment;
mod enrolment_console;
mod error;
pub mod jobs;
mod notices;
mod organisation;
mod serving;
mod settings;
mod setup_token;
mod store;
pub mod tls;
mod users;
mod x509;

// What other crates may use; everything else stays inside its area (`jobs` is public as the
// set of background jobs the server starts and tests run once).
pub use auth::otp::{OtpEnrolment, OtpSettings, OtpStatus};
pub use auth::{
    cookie_header, session_cookie_name, token_from_cookie_header, CurrentUser, PendingSignIn,
    RequestSession, SessionLookup, SessionToken,
};
pub use ca::authority::Authority;
pub use ca::cfssl::certificate_der;
pub use ca::settings::CaBackendInput;
pub use ca::{pem, random_serial};
pub use certificates::Operation;
pub use clock::Clock;
pub use distribution::slips_csv;
pub use enrolment::Enrolled;
pub use error::ServiceError;
pub use organisation::{Organisation, SetupInput};
pub use serving::Serving;
pub use settings::{AttemptLimits, AttemptRate, Settings};
pub use setup_token::SETUP_TOKEN_FILE;
pub use store::audit::Actor;
pub use store::db::{parse_ts, ts};
pub use users::import::PlanCounts;
pub use users::workbook::{read_upload as read_users_upload, MAX_EXPANDED_BYTES};
pub use users::{role_from_form, NewUser, PasswordChange, UserChanges};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

/// Everything a request handler needs: the database, the settings, the clock.
/// Cheap to clone.
#[derive(Clone)]
pub struct Backend {
    inner: Arc<Inner>,
}

struct Inner {
    db: store::db::Db,
    settings: Settings,
    clock: Clock,
    /// Made at the first sign-in, not at every start (the CLI opens the backend too).
    dummy_hash: OnceLock<auth::password::PasswordHash>,
    /// The cap on concurrent argon2 work (one permit per core).
    hashers: auth::password::Hashers,
    master_key: Arc<store::secrets::MasterKey>,
    /// The embedded CA, once the organisation exists (see `ensure_ca`).
    ca: RwLock<Option<Arc<ca::EmbeddedCa>>>,
    /// Set once the organisation exists; never unset (the setup page is gone for good).
    set_up: AtomicBool,
    /// Wakes the mail sender when notices queued mail.
    mail_wake: tokio::sync::Notify,
    /// Wakes scheduled backups when Settings → Scheduled backups changed.
    backup_wake: tokio::sync::Notify,
}

/// `path` with `suffix` appended to its file name (`certdesk.sqlite3-wal`).
fn sidecar(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Sets `path`'s mode (data directory 0700, database files 0600): the keys, the sealed secrets
/// and the audit log are for certdesk's own user only.
fn restrict_to_owner(path: &std::path::Path, mode: u32) -> Result<(), ServiceError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
            ServiceError::Internal(format!(
                "cannot set mode {mode:o} on {}: {e}",
                path.display()
            ))
        })?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Creates the database file with mode 0600 if it does not exist yet, so that it is never
/// readable by others, not even between its creation and the first `chmod`.
fn create_private(path: &std::path::Path) -> Result<(), ServiceError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop).map_err(|e| {
        ServiceError::Internal(format!("cannot create database {}: {e}", path.display()))
    })
}

impl Backend {
    /// Opens (creating if needed) the data directory and database, applies migrations. The
    /// directory gets mode 0700 and the database files 0600.
    pub fn open(settings: Settings, clock: Clock) -> Result<Backend, ServiceError> {
        tls::install_crypto_provider();
        std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
            ServiceError::Internal(format!(
                "cannot create data directory {}: {e}",
                settings.data_dir.display()
            ))
        })?;
        restrict_to_owner(&settings.data_dir, 0o700)?;
        let database = settings.database_path();
        create_private(&database)?;
        let mut conn = store::db::open(&database)?;
        // WAL and shared-memory files are made by SQLite with the database's mode; set them
        // (and the database, if it was made wider before) to 0600 all the same.
        for file in [
            database.clone(),
            sidecar(&database, "-wal"),
            sidecar(&database, "-shm"),
        ] {
            if file.exists() {
                restrict_to_owner(&file, 0o600)?;
            }
        }
        store::migrations::apply(&mut conn, clock.now())?;
        let set_up = organisation::exists(&conn)?;
        let master_key = Arc::new(store::secrets::MasterKey::load_or_create(
            &settings.data_dir,
        )?);
        Ok(Backend {
            inner: Arc::new(Inner {
                db: store::db::Db::new(conn),
                settings,
                clock,
                dummy_hash: OnceLock::new(),
                hashers: auth::password::Hashers::per_core(),
                master_key,
                ca: RwLock::new(None),
                set_up: AtomicBool::new(set_up),
                mail_wake: tokio::sync::Notify::new(),
                backup_wake: tokio::sync::Notify::new(),
            }),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub(crate) fn db(&self) -> &store::db::Db {
        &self.inner.db
    }

    /// True until the first-run setup has created the organisation.
    pub fn needs_setup(&self) -> bool {
        !self.inner.set_up.load(Ordering::Acquire)
    }

    pub(crate) fn hashers(&self) -> &auth::password::Hashers {
        &self.inner.hashers
    }

    pub(crate) fn master_key(&self) -> Arc<store::secrets::MasterKey> {
        Arc::clone(&self.inner.master_key)
    }

    pub(crate) fn ca(&self) -> Option<Arc<ca::EmbeddedCa>> {
        self.inner.ca.read().ok().and_then(|g| g.clone())
    }

    pub(crate) fn set_ca(&self, ca: Arc<ca::EmbeddedCa>) {
        if let Ok(mut g) = self.inner.ca.write() {
            *g = Some(ca);
        }
    }

    pub(crate) fn mail_wake(&self) -> &tokio::sync::Notify {
        &self.inner.mail_wake
    }

    pub(crate) fn backup_wake(&self) -> &tokio::sync::Notify {
        &self.inner.backup_wake
    }

    pub(crate) fn mark_set_up(&self) {
        self.inner.set_up.store(true, Ordering::Release);
    }
}
