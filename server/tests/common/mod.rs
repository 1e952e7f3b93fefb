//! What the tests of the real `certdesk` binary share: running it on a data folder with the
//! passphrases in the environment, reading its answers, a small organisation, and
//! `certdesk serve` on a loopback port.
// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// The binary Cargo built, or CERTDESK_BIN (a copy, when the target folder is shared).
pub fn bin() -> String {
    std::env::var("CERTDESK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_certdesk").to_string())
}
pub const PASSPHRASE: &str = "a long backup passphrase";
pub const MASTER_PASSWORD: &str = "correct horse battery";

/// `certdesk ARGS` on the data folder `dir`, with the passphrases in the environment.
pub fn certdesk(dir: &Path, args: &[&str]) -> Output {
    certdesk_with(dir, args, PASSPHRASE)
}

pub fn certdesk_with(dir: &Path, args: &[&str], passphrase: &str) -> Output {
    run_certdesk(&mut Command::new(bin()), dir, args, passphrase)
}

/// `command ARGS` (the binary, or a wrapper running it) on the data folder `dir`, with the
/// passphrases in the environment.
pub fn run_certdesk(command: &mut Command, dir: &Path, args: &[&str], passphrase: &str) -> Output {
    command
        .args(args)
        .env("CERTDESK_DATA_DIR", dir)
        .env("CERTDESK_BACKUP_PASSPHRASE", passphrase)
        .env("CERTDESK_MASTER_PASSWORD", MASTER_PASSWORD)
        .env_remove("CERTDESK_MASTER_KEY")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("certdesk runs")
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs and expects exit code `code`; returns stdout.
pub fn expect(dir: &Path, args: &[&str], code: i32) -> String {
    let out = certdesk(dir, args);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A refusal: exit 1, the code on stderr in both languages.
pub fn refused(out: &Output, code: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", text(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches(code).count(), 2, "{}", text(out));
}

/// `certdesk setup` for the test organisation (master01).
pub const SETUP: &[&str] = &[
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

/// An organisation with three users (two of them with certificates).
pub fn set_up(dir: &Path) {
    expect(dir, SETUP, 0);
    for (id, name) in [
        ("taro0001", "佐藤 太郎"),
        ("hana0002", "鈴木 花子"),
        ("jiro0003", "田中 次郎"),
    ] {
        expect(
            dir,
            &["users", "add", id, name, &format!("{id}@example.co.jp")],
            0,
        );
    }
}

pub fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("certdesk.sqlite3")).expect("database")
}

pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `certdesk serve` on a loopback port, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn start(dir: &Path) -> Server {
        Server::start_with(dir, &[])
    }

    pub fn start_with(dir: &Path, extra: &[&str]) -> Server {
        let site = dir.parent().expect("parent").join("site");
        let mut child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--site-root"])
            .arg(&site)
            .args(extra)
            .env("CERTDESK_BACKUP_PASSPHRASE", PASSPHRASE)
            .env("CERTDESK_DATA_DIR", dir)
            .env_remove("CERTDESK_MASTER_KEY")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines.next().expect("a line").expect("utf-8");
            if let Some(at) = line.find("listening on ") {
                break line[at + "listening on ".len()..]
                    .trim_end_matches('/')
                    .to_string();
            }
        };
        // reqwest's rustls takes the process's provider, as in the server.
        certdesk_backend::tls::install_crypto_provider();
        Server { child, base }
    }

    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    pub async fn sign_in(&self, client: &reqwest::Client) -> reqwest::StatusCode {
        client
            .post(format!("{}/api/sign_in", self.base))
            .header("origin", &self.base)
            .form(&[("login_id", "master01"), ("password", MASTER_PASSWORD)])
            .send()
            .await
            .expect("sign-in")
            .status()
    }

    /// A master's session (`master01`).
    pub async fn signed_in(&self) -> reqwest::Client {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let status = client
            .post(format!("{}/api/sign_in", self.base))
            .header("origin", &self.base)
            .form(&[("login_id", "master01"), ("password", MASTER_PASSWORD)])
            .send()
            .await
            .expect("sign-in")
            .status();
        assert_eq!(status, 200, "sign-in");
        client
    }

    pub async fn dashboard(&self, client: &reqwest::Client) -> serde_json::Value {
        client
            .post(format!("{}/api/dashboard", self.base))
            .header("origin", &self.base)
            .send()
            .await
            .expect("dashboard")
            .json()
            .await
            .expect("json")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
