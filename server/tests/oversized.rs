//! A body over the request limit, sent all at once by a client that is still sending when the
//! server decides (a browser uploading a file that is too big), against the real `certdesk
//! serve` (its multi-threaded runtime): the client reads the coded 413 (`E-WEB-004`, ja + en)
//! instead of a reset connection, every time, and nothing is written.

mod common;

use common::{set_up, Server};

#[tokio::test]
async fn a_body_over_the_limit_sent_at_once_is_answered_413_every_time() {
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join("data");
    set_up(&dir);
    let server = Server::start(&dir);
    let before = audit_rows(&dir);
    let body = vec![b'a'; 7 * 1024 * 1024];
    for path in ["/api/sign_in", "/api/enroll", "/pickup/download"] {
        for attempt in 0..5 {
            // A fresh connection each time, as a browser's upload would often have.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("client");
            let r = client
                .post(format!("{}{path}", server.base))
                .header("origin", &server.base)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("{path} #{attempt}: no answer read: {e:?}"));
            assert_eq!(r.status(), 413, "{path} #{attempt}");
            let refusal: serde_json::Value = r.json().await.expect("a coded body");
            assert_eq!(refusal["code"], "E-WEB-004", "{path}: {refusal}");
            assert!(
                refusal["message"]["ja"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
                    && refusal["message"]["en"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty()),
                "{refusal}"
            );
        }
    }
    assert_eq!(audit_rows(&dir), before, "a refused request writes nothing");
}

fn audit_rows(dir: &std::path::Path) -> i64 {
    common::db(dir)
        .query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
        .expect("count")
}

/// Writes a POST to `/api/sign_in` declaring `declared` bytes but sending only `sent`, then
/// stops sending; the status line of the answer, read within `wait`.
fn stalled_post(base: &str, declared: u64, sent: usize, wait: std::time::Duration) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(wait)).expect("timeout");
    write!(
        stream,
        "POST /api/sign_in HTTP/1.1\r\nHost: {addr}\r\nOrigin: {base}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {declared}\r\n\r\n"
    )
    .expect("headers");
    stream
        .write_all(&vec![b'a'; sent])
        .expect("part of the body");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The drain's own limits, attacked: a declared body beyond what is drained (24 MiB) is refused
/// at once without waiting for it, and one that is drained but never finishes (the sender
/// stalls) is answered 413 when the drain gives up, instead of holding the connection.
#[tokio::test]
async fn the_drain_neither_waits_for_a_huge_body_nor_for_a_stalled_one() {
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join("data");
    set_up(&dir);
    let server = Server::start(&dir);
    let before = audit_rows(&dir);
    let base = server.base.clone();
    let (huge, stalled) = tokio::task::spawn_blocking(move || {
        let huge = stalled_post(&base, 1 << 30, 1024, std::time::Duration::from_secs(5));
        let stalled = stalled_post(&base, 10 << 20, 1024, std::time::Duration::from_secs(30));
        (huge, stalled)
    })
    .await
    .expect("thread");
    assert!(
        huge.starts_with("HTTP/1.1 413"),
        "a 1 GiB declaration: {huge:?}"
    );
    assert!(
        stalled.starts_with("HTTP/1.1 413"),
        "a stalled 10 MiB body: {stalled:?}"
    );
    assert_eq!(audit_rows(&dir), before, "a refused request writes nothing");
}
