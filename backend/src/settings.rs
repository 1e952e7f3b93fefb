//! Run-time settings of one installation, from the command line or the environment.

use certdesk_domain::SessionPolicy;
use std::path::PathBuf;

/// How long a console session lives at most, unless `serve --session-max-hours` says otherwise.
pub const DEFAULT_SESSION_MAX_AGE: time::Duration = time::Duration::hours(12);

#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the SQLite file (and later the CA's key) live. Default `./data`.
    pub data_dir: PathBuf,
    /// Console sessions end after this long without a request. Default 30 minutes.
    pub session: SessionPolicy,
    /// Console sessions end this long after the sign-in, however busy. Default 12 hours.
    pub session_max_age: time::Duration,
    /// Set the `Secure` attribute on cookies: true when the console is reached over TLS
    /// (its public URL starts with `https://`).
    pub secure_cookies: bool,
    /// The URL people and relying parties reach the console at; certificates point their CRL
    /// distribution point at `<public_url>/ca/crl.der`. Default `http://127.0.0.1:3000`.
    pub public_url: String,
}

impl Settings {
    pub fn new(data_dir: impl Into<PathBuf>) -> Settings {
        Settings {
            data_dir: data_dir.into(),
            session: SessionPolicy::default(),
            session_max_age: DEFAULT_SESSION_MAX_AGE,
            secure_cookies: false,
            public_url: "http://127.0.0.1:3000".into(),
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("certdesk.sqlite3")
    }
}
