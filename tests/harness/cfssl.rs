//! A real cfssl CA (Debian's `golang-cfssl`) for one test, and a fault proxy to put between
//! certdesk and it.
//!
//! [`start_cfssl`] does what `cfssl`'s own quick start does: `cfssl gencert -initca`, a config
//! with a client-auth signing profile (366 days) guarded by an HMAC key, a SQLite certificate
//! database (so `revoke` records revocations), then `cfssl serve` on a free loopback port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The signing profile with an HMAC key (authsign) that takes the serial certdesk proposes
/// (`ClientProvidesSerialNumbers`), so a lost answer can be found by serial.
pub const AUTH_PROFILE: &str = "client-auth";
/// A profile without authentication where cfssl picks serials (`sign`, and `newcert`, which
/// sends no serial).
pub const OPEN_PROFILE: &str = "client";

pub struct Cfssl {
    pub addr: SocketAddr,
    /// The HMAC key, in hex, as cfssl's config has it.
    pub auth_key_hex: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Drop for Cfssl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Cfssl {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// How many certificates cfssl's database holds with `status` ("good" / "revoked").
    pub fn count(&self, status: &str) -> i64 {
        let db = rusqlite::Connection::open(self.dir.path().join("certs.db")).expect("certs.db");
        db.query_row(
            "SELECT count(*) FROM certificates WHERE CAST(status AS TEXT) = ?1",
            [status],
            |r| r.get(0),
        )
        .expect("count")
    }

    /// cfssl's own record of a certificate: its status ("good" / "revoked") and reason.
    pub fn status_of(&self, serial_hex: &str) -> Option<(String, i64)> {
        let decimal = hex_to_decimal(serial_hex);
        let db = rusqlite::Connection::open(self.dir.path().join("certs.db")).expect("certs.db");
        db.query_row(
            "SELECT CAST(status AS TEXT), coalesce(reason, 0) FROM certificates WHERE CAST(serial_number AS TEXT) = ?1",
            [decimal],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    }
}

/// cfssl 1.2 keys its database by the decimal serial.
fn hex_to_decimal(hex: &str) -> String {
    let mut digits: Vec<u32> = vec![0]; // little-endian decimal digits
    for h in hex.chars().filter_map(|c| c.to_digit(16)) {
        let mut carry = h;
        for d in digits.iter_mut() {
            let v = *d * 16 + carry;
            *d = v % 10;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push(carry % 10);
            carry /= 10;
        }
    }
    digits
        .iter()
        .rev()
        .map(|d| char::from(b'0' + *d as u8))
        .collect()
}

/// A loopback port nothing listens on (yet). It is taken below Linux's ephemeral range (32768 and
/// up): a port from port 0, freed again, may be handed to another test's listener at once.
fn closed_port() -> u16 {
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    loop {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let port = 10_000 + (seed >> 8) % 20_000;
        let port = u16::try_from(port).expect("below 30000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Starts cfssl in a fresh directory; it stops when the value is dropped.
pub fn start_cfssl() -> Cfssl {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    std::fs::write(
        path.join("ca-csr.json"),
        r#"{"CN":"Test Issuing CA","key":{"algo":"rsa","size":2048},
           "names":[{"O":"(0001)Test Bank","OU":"(0001)Test CA - G1"}],"ca":{"expiry":"87600h"}}"#,
    )
    .expect("csr");
    let out = Command::new("cfssl")
        .args(["gencert", "-initca", "ca-csr.json"])
        .current_dir(path)
        .output()
        .expect("cfssl is installed (Debian package golang-cfssl; scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ca: serde_json::Value = serde_json::from_slice(&out.stdout).expect("gencert JSON");
    std::fs::write(path.join("ca.pem"), ca["cert"].as_str().expect("cert")).expect("ca.pem");
    std::fs::write(path.join("ca-key.pem"), ca["key"].as_str().expect("key")).expect("key");
    let auth_key_hex = hex_key();
    std::fs::write(
        path.join("config.json"),
        serde_json::json!({"signing": {
            "default": {"expiry": "8784h", "usages": ["digital signature", "client auth"]},
            "profiles": {
                "client": {"expiry": "8784h", "usages": ["digital signature", "client auth"]},
                AUTH_PROFILE: {"expiry": "8784h", "usages": ["digital signature", "client auth"], "auth_key": "primary",
                               "ClientProvidesSerialNumbers": true}
            }},
            "auth_keys": {"primary": {"type": "standard", "key": auth_key_hex}}
        })
        .to_string(),
    )
    .expect("config");
    let db = rusqlite::Connection::open(path.join("certs.db")).expect("certs.db");
    db.execute_batch(
        "CREATE TABLE certificates (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL, ca_label blob,
           status blob NOT NULL, reason int, expiry timestamp, revoked_at timestamp, pem blob NOT NULL,
           PRIMARY KEY(serial_number, authority_key_identifier));
         CREATE TABLE ocsp_responses (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL, body blob NOT NULL,
           expiry timestamp, PRIMARY KEY(serial_number, authority_key_identifier));",
    )
    .expect("schema");
    drop(db);
    std::fs::write(
        path.join("db.json"),
        serde_json::json!({"driver": "sqlite3", "data_source": path.join("certs.db")}).to_string(),
    )
    .expect("db.json");
    // Below the ephemeral range, so that no listener on port 0 takes it before cfssl does.
    let port = closed_port();
    let log = std::fs::File::create(path.join("serve.log")).expect("log");
    let child = Command::new("cfssl")
        .args(["serve", "-address", "127.0.0.1", "-port", &port.to_string()])
        .args([
            "-ca",
            "ca.pem",
            "-ca-key",
            "ca-key.pem",
            "-config",
            "config.json",
            "-db-config",
            "db.json",
        ])
        .current_dir(path)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("cfssl serve");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Cfssl {
        addr,
        auth_key_hex,
        dir,
        child,
    }
}

fn hex_key() -> String {
    let mut f = std::fs::File::open("/dev/urandom").expect("urandom");
    let mut key = [0u8; 16];
    std::io::Read::read_exact(&mut f, &mut key).expect("random");
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the fault proxy does with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwards untouched.
    Pass,
    /// Nothing listens on the port (connection refused).
    Refuse,
    /// Forwards after this pause.
    Delay(Duration),
    /// Answers 500 with a plain-text page.
    Status500,
    /// Forwards the head and only half of the body, then closes.
    Truncate,
    /// Forwards with `Content-Type: text/html`.
    WrongContentType,
    /// Answers 200 `application/json` with broken JSON.
    GarbageJson,
    /// An HTTP forward proxy that wants `Proxy-Authorization: Basic` of `user:password`.
    ProxyAuth(&'static str),
    /// Replaces the CSR of an unauthenticated `sign` with this one (PEM), so cfssl certifies
    /// another key than certdesk asked for.
    ReplaceCsr(&'static str),
    /// Answers 200 `application/json` with a 2 MiB body (a JSON string that never ends in
    /// time), with its `Content-Length` when `declared`, else chunked without a length.
    HugeBody { declared: bool },
}

/// The size of [`Fault::HugeBody`]'s answer: twice certdesk's 1 MiB cap.
pub const HUGE_BODY_BYTES: usize = 2 * 1024 * 1024;

fn huge_body(declared: bool) -> Vec<u8> {
    let mut body = b"{\"success\":true,\"result\":\"".to_vec();
    body.resize(HUGE_BODY_BYTES, b'A');
    let mut out = if declared {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes()
    } else {
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec()
    };
    if declared {
        out.extend_from_slice(&body);
    } else {
        for chunk in body.chunks(64 * 1024) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    }
    out
}

/// A fault proxy whose fault can be changed while certdesk keeps using the same URL (what
/// certdesk learnt about the CA belongs to its URL and profile).
pub struct FaultSwitch {
    pub url: String,
    fault: std::sync::Arc<std::sync::Mutex<Fault>>,
}

impl FaultSwitch {
    /// Applies to requests from now on. `Refuse` needs a closed port: use [`fault_proxy`].
    pub fn set(&self, fault: Fault) {
        assert_ne!(
            fault,
            Fault::Refuse,
            "a listening proxy cannot refuse connections"
        );
        *self.fault.lock().expect("fault") = fault;
    }
}

/// Starts a fault proxy for `upstream` whose fault [`FaultSwitch::set`] changes.
pub async fn switchable_fault_proxy(upstream: SocketAddr, fault: Fault) -> FaultSwitch {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let switch = FaultSwitch {
        url: format!("http://{addr}"),
        fault: std::sync::Arc::new(std::sync::Mutex::new(fault)),
    };
    switch.set(fault);
    let current = std::sync::Arc::clone(&switch.fault);
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let fault = *current.lock().expect("fault");
            tokio::spawn(serve(conn, upstream, fault));
        }
    });
    switch
}

/// Starts the fault proxy for `upstream`; returns its URL.
pub async fn fault_proxy(upstream: SocketAddr, fault: Fault) -> String {
    if fault == Fault::Refuse {
        return format!("http://127.0.0.1:{}", closed_port());
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(serve(conn, upstream, fault));
        }
    });
    format!("http://{addr}")
}

async fn read_request(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Some(buf);
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn forward(request: &[u8], upstream: SocketAddr) -> Vec<u8> {
    // One request per connection: ask cfssl to close after answering.
    let end = find(request, b"\r\n").unwrap_or(0);
    let mut req = request[..end + 2].to_vec();
    req.extend_from_slice(b"Connection: close\r\n");
    req.extend_from_slice(&request[end + 2..]);
    let mut up = TcpStream::connect(upstream).await.expect("upstream");
    up.write_all(&req).await.expect("forward");
    let mut answer = Vec::new();
    let _ = up.read_to_end(&mut answer).await;
    answer
}

async fn serve(mut conn: TcpStream, upstream: SocketAddr, fault: Fault) {
    let Some(request) = read_request(&mut conn).await else {
        return;
    };
    let answer = match fault {
        Fault::Pass | Fault::Refuse => forward(&request, upstream).await,
        Fault::Delay(pause) => {
            tokio::time::sleep(pause).await;
            forward(&request, upstream).await
        }
        Fault::Status500 => b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops!".to_vec(),
        Fault::HugeBody { declared } => huge_body(declared),
        Fault::GarbageJson => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{\"success\":tr".to_vec(),
        Fault::Truncate => {
            let a = forward(&request, upstream).await;
            let body_at = find(&a, b"\r\n\r\n").map_or(a.len(), |i| i + 4);
            let keep = body_at + (a.len() - body_at) / 2;
            a[..keep].to_vec()
        }
        Fault::ReplaceCsr(csr) => {
            let body_at = find(&request, b"\r\n\r\n").map_or(request.len(), |i| i + 4);
            // Text surgery, not a JSON round trip: the serial is a 128-bit number that
            // serde_json would turn into a float.
            let text = String::from_utf8_lossy(&request[body_at..]).into_owned();
            let key = "\"certificate_request\":\"";
            let Some(at) = text.find(key) else {
                // Not a sign request (a revoke): untouched.
                let answer = forward(&request, upstream).await;
                let _ = conn.write_all(&answer).await;
                let _ = conn.shutdown().await;
                return;
            };
            let start = at + key.len() - 1;
            let end = start + 1 + text[start + 1..].find('"').expect("end of the CSR");
            let body = format!(
                "{}{}{}",
                &text[..start],
                serde_json::Value::from(csr),
                &text[end + 1..]
            );
            let head = String::from_utf8_lossy(&request[..body_at]).into_owned();
            let head: String = head
                .split("\r\n")
                .map(|line| {
                    if line.to_ascii_lowercase().starts_with("content-length:") {
                        format!("Content-Length: {}", body.len())
                    } else {
                        line.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\r\n");
            let mut rewritten = head.into_bytes();
            rewritten.extend_from_slice(body.as_bytes());
            forward(&rewritten, upstream).await
        }
        Fault::WrongContentType => {
            let a = forward(&request, upstream).await;
            let text = String::from_utf8_lossy(&a).into_owned();
            text.replacen("Content-Type: application/json", "Content-Type: text/html", 1)
                .into_bytes()
        }
        Fault::ProxyAuth(expected) => {
            let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
            let wanted = format!("proxy-authorization: basic {}", base64(expected.as_bytes()).to_ascii_lowercase());
            if head.contains(&wanted) {
                forward(&request, upstream).await
            } else {
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            }
        }
    };
    let _ = conn.write_all(&answer).await;
    let _ = conn.shutdown().await;
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
