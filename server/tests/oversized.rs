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
