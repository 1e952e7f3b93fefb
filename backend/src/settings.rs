//! Run-time settings of one installation, from the command line or the environment.

use crate::serving::Serving;
use certdesk_domain::SessionPolicy;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// How many anonymous attempts (sign-in, setup, pickup download) are answered, per
    /// client address and for everyone together. Default [`AttemptLimits::default`].
    pub attempt_limits: AttemptLimits,
    /// Who may address the console (`Host`, `Origin`), over TLS or not, reachable from other
    /// machines or not. Set with [`Settings::serve_at`]; default `127.0.0.1:3000`.
    pub serving: Serving,
    /// The installation check page's URL (`https://<public host>:<port>/check`) when `serve`
    /// runs one; shown on the pickup page, the password sheet and the pickup e-mail.
    pub check_url: Option<String>,
    /// The interval of scheduled backups (`serve --backup-dir`), for the dashboard's warning.
    pub backup_every: Option<time::Duration>,
    /// `serve --backup-dir`: the folder of scheduled backups until Settings saves one.
    pub backup_dir: Option<PathBuf>,
    /// `serve --backup-keep`: how many scheduled backups to keep until Settings saves it.
    pub backup_keep: u32,
    /// The server has CERTDESK_BACKUP_PASSPHRASE, so scheduled backups can run.
    pub backup_passphrase_set: bool,
}

impl Settings {
    pub fn new(data_dir: impl Into<PathBuf>) -> Settings {
        Settings {
            data_dir: data_dir.into(),
            session: SessionPolicy::default(),
            session_max_age: DEFAULT_SESSION_MAX_AGE,
            secure_cookies: false,
            public_url: "http://127.0.0.1:3000".into(),
            attempt_limits: AttemptLimits::default(),
            serving: Serving::default(),
            check_url: None,
            backup_every: None,
            backup_dir: None,
            backup_keep: 14,
            backup_passphrase_set: false,
        }
    }

    /// The console listens on `listen` and people reach it at `public_url` (none: at the
    /// listen address): sets the public URL, `Secure` cookies and [`Settings::serving`].
    pub fn serve_at(&mut self, listen: SocketAddr, public_url: Option<&str>) {
        self.serving = Serving::new(listen, public_url);
        self.secure_cookies = self.serving.tls();
        self.public_url = public_url
            .map(str::to_string)
            .unwrap_or_else(|| format!("http://{listen}"));
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("certdesk.sqlite3")
    }
}

/// A token bucket: `burst` attempts at once, then one more every `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptRate {
    pub burst: u32,
    pub period: Duration,
}

/// Per client address: a burst of 20, then 1 a second. The console is served to an office
/// where about 100 staff may share one NAT'd address: on the morning certificates are handed
/// out a room of people picks up at once (20 at once), and all 99 are through within two
/// minutes at one a second. Only masters and admins sign in, a few times a day; a typo is
/// never refused. One address guessing passwords gets 3,600 tries an hour, against the
/// lockout of 5 per login ID.
pub const PER_CLIENT_ATTEMPTS: AttemptRate = AttemptRate {
    burst: 20,
    period: Duration::from_secs(1),
};

/// Everyone together: a burst of 50, then 10 a second. Each attempt may run argon2 (19 MiB,
/// tens of ms); 10 a second is a fraction of one core, so many addresses at once (a worm on
/// the LAN, a misbehaving script) leave the server answering signed-in users, and a whole
/// office arriving at once (50) still gets through.
pub const OVERALL_ATTEMPTS: AttemptRate = AttemptRate {
    burst: 50,
    period: Duration::from_millis(100),
};

/// The two buckets every anonymous attempt passes: its client address's, then everyone's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimits {
    pub per_client: AttemptRate,
    pub overall: AttemptRate,
}

impl Default for AttemptLimits {
    fn default() -> AttemptLimits {
        AttemptLimits {
            per_client: PER_CLIENT_ATTEMPTS,
            overall: OVERALL_ATTEMPTS,
        }
    }
}
