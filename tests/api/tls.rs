//! Built-in HTTPS and the installation check page, against the real TLS listeners of
//! `certdesk serve` (`certdesk_server::serving`): the console's certificate from the embedded
//! CA, plain HTTP on the TLS port, garbage connections, the start-up refusals (`E-SERVE-*`),
//! `--tls-cert` reloaded on SIGHUP, and curl (Debian) presenting certificates to `/check`.

use certdesk_backend::{Actor, Operation};
use certdesk_domain::lifecycle::RevocationReason;
use certdesk_tests::tls::{client_trusting, free_port, serve_tls_on, spawn_tls_app};
use certdesk_tests::TestApp;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use time::Duration;

fn run(dir: &Path, program: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/test installs it): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_speaks_tls_with_the_embedded_cas_certificate_and_plain_http_gets_only_an_alert(
) {
    // Signed in over TLS by a client trusting certdesk's CA only (no system roots).
    let (app, tls) = spawn_tls_app(&[]).await;
    let r = app.get("/ca/ca.pem").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body").to_vec(), tls.ca_pem);
    assert_eq!(app.post("dashboard", &[]).await.status(), 200);
    // A client that does not trust the CA refuses the certificate.
    let stranger = reqwest::Client::builder().build().expect("client");
    assert!(stranger
        .get(format!("{}/ca/ca.pem", tls.console))
        .send()
        .await
        .is_err());
    // The server certificate's issuance is audited.
    let issued: i64 = app
        .database()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'server_certificate_issue'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(issued, 1);

    // Plain HTTP on the TLS port: nothing but a TLS alert record (content type 21).
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", tls.console_port)).expect("tcp");
    raw.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    raw.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    assert_eq!(answer.first(), Some(&0x15), "a TLS alert: {answer:?}");
    assert!(answer.len() <= 7, "only the alert: {answer:?}");
    assert!(!String::from_utf8_lossy(&answer).contains("HTTP"));
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/", tls.console_port))
        .send()
        .await;
    assert!(plain.is_err(), "no HTTP answer on the TLS port");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_abandoned_handshakes_do_not_stop_the_server() {
    let (_app, tls) = spawn_tls_app(&[]).await;
    let ca = tls.ca_pem.clone();
    let mut open = Vec::new();
    for i in 0..50u8 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", tls.console_port)).expect("tcp");
        if i % 2 == 0 {
            let _ = s.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, i, i, i]);
        } else {
            let _ = s.write_all(&[i; 300]);
        }
        open.push(s);
    }
    // The check listener too.
    for _ in 0..10 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", tls.check_port)).expect("tcp");
        let _ = s.write_all(b"\x00\x01garbage");
    }
    let r = client_trusting(&ca)
        .get(format!("{}/ca/ca.pem", tls.console))
        .send()
        .await
        .expect("still serving while 50 bad connections are open");
    assert_eq!(r.status(), 200);
    drop(open);
}

fn serve_args(args: &[&str]) -> certdesk_server::cli::ServeArgs {
    let cli = <certdesk_server::cli::Cli as clap::Parser>::try_parse_from(
        ["certdesk", "serve"].iter().chain(args),
    )
    .expect("parses");
    match cli.command {
        Some(certdesk_server::cli::Command::Serve(a)) => a,
        other => panic!("{other:?}"),
    }
}

fn refusal(args: &[&str]) -> String {
    certdesk_server::serving::plan(&serve_args(args))
        .expect_err("refused")
        .code()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_ways_to_serve_are_refused_before_anything_is_written() {
    assert_eq!(refusal(&["--listen", "0.0.0.0:3000"]), "E-SERVE-001");
    assert_eq!(
        refusal(&[
            "--listen",
            "192.168.1.10:3000",
            "--public-url",
            "http://192.168.1.10:3000"
        ]),
        "E-SERVE-001"
    );
    assert_eq!(
        refusal(&[
            "--listen",
            "0.0.0.0:3000",
            "--behind-proxy",
            "--public-url",
            "https://c.example"
        ]),
        "E-SERVE-002"
    );
    assert_eq!(
        refusal(&[
            "--listen",
            "0.0.0.0:3000",
            "--public-url",
            "https://c.example",
            "--tls-cert",
            "a.pem"
        ]),
        "E-SERVE-003"
    );
    assert_eq!(
        refusal(&["--tls-cert", "a.pem", "--tls-key", "k.pem"]),
        "E-SERVE-003"
    );
    assert_eq!(refusal(&["--public-url", "ftp://x"]), "E-SERVE-009");
    // The safe ways: TLS on the LAN, plain HTTP on loopback, behind a proxy on loopback.
    let lan = certdesk_server::serving::plan(&serve_args(&[
        "--listen",
        "0.0.0.0:3000",
        "--public-url",
        "https://certdesk.example.lan:3000",
    ]))
    .expect("TLS on the LAN");
    assert!(lan.tls.is_some());
    assert_eq!(lan.hosts, vec!["certdesk.example.lan"]);
    assert_eq!(
        lan.check.map(|c| c.1).as_deref(),
        Some("https://certdesk.example.lan:3001/check")
    );
    let proxy = certdesk_server::serving::plan(&serve_args(&[
        "--listen",
        "127.0.0.1:3000",
        "--behind-proxy",
        "--public-url",
        "https://certdesk.example.lan",
    ]))
    .expect("behind a proxy");
    assert!(proxy.tls.is_none());

    // Through the command line: exit code 1, and no data directory is made.
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let cli = <certdesk_server::cli::Cli as clap::Parser>::try_parse_from([
        "certdesk",
        "serve",
        "--data-dir",
        &data.display().to_string(),
        "--listen",
        "0.0.0.0:0",
    ])
    .expect("parses");
    assert_eq!(certdesk_server::cli::run(cli).await, 1);
    assert!(!data.exists(), "nothing written on refusal");
}

/// A CA and a server certificate for `host` from it, valid from `from` to `until` days from
/// now; written as `<name>-ca.pem`, `<name>.pem`, `<name>.key`.
fn make_pair(dir: &Path, name: &str, host: &str, from: i64, until: i64) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let now = time::OffsetDateTime::now_utc();
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let key = KeyPair::generate().expect("key");
    let mut leaf = CertificateParams::new(vec![host.to_string()]).expect("params");
    leaf.not_before = now + Duration::days(from);
    leaf.not_after = now + Duration::days(until);
    let issuer = Issuer::new(ca, &ca_key);
    let cert = leaf.signed_by(&key, &issuer).expect("leaf");
    std::fs::write(dir.join(format!("{name}-ca.pem")), ca_cert.pem()).expect("write");
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("write");
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tls_files_are_refused_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    make_pair(d, "good", "localhost", -1, 30);
    make_pair(d, "other", "localhost", -1, 30);
    make_pair(d, "expired", "localhost", -40, -1);
    make_pair(d, "elsewhere", "intranet.example", -1, 30);
    std::fs::write(d.join("garbage.pem"), "not a certificate").expect("write");
    let p = |f: &str| d.join(f).display().to_string();
    let check = |cert: &str, key: &str| {
        let args = serve_args(&[
            "--public-url",
            "https://localhost:3000",
            "--tls-cert",
            &p(cert),
            "--tls-key",
            &p(key),
        ]);
        let plan = certdesk_server::serving::plan(&args).expect("plan");
        certdesk_server::serving::check_files(&plan, time::OffsetDateTime::now_utc())
    };
    assert!(check("good.pem", "good.key").is_ok());
    let refused = |cert: &str, key: &str, code: &str, names: &str| {
        let e = check(cert, key).expect_err("refused");
        assert_eq!(e.code(), code, "{cert} {key}: {e}");
        let m = e.message();
        assert!(
            m.en.contains(&p(names)) && m.ja.contains(&p(names)),
            "{m:?}"
        );
    };
    refused("missing.pem", "good.key", "E-SERVE-004", "missing.pem");
    refused("garbage.pem", "good.key", "E-SERVE-005", "garbage.pem");
    refused("good.pem", "garbage.pem", "E-SERVE-005", "garbage.pem");
    refused("good.pem", "other.key", "E-SERVE-006", "other.key");
    refused("expired.pem", "expired.key", "E-SERVE-007", "expired.pem");
    refused(
        "elsewhere.pem",
        "elsewhere.key",
        "E-SERVE-008",
        "elsewhere.pem",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_files_are_read_again_on_sighup_and_open_connections_keep_working() {
    let console_port = free_port();
    let app = certdesk_tests::spawn_app_with(move |s| {
        let public = format!("https://localhost:{console_port}");
        s.serve_at(([127, 0, 0, 1], console_port).into(), Some(&public));
    })
    .await;
    certdesk_tests::tls::set_up_headless(&app).await;
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    make_pair(d, "first", "localhost", -1, 30);
    make_pair(d, "second", "localhost", -1, 30);
    std::fs::copy(d.join("first.pem"), d.join("served.pem")).expect("copy");
    std::fs::copy(d.join("first.key"), d.join("served.key")).expect("copy");
    let cert = d.join("served.pem").display().to_string();
    let key = d.join("served.key").display().to_string();
    let tls = serve_tls_on(
        &app,
        console_port,
        free_port(),
        &["--tls-cert", &cert, "--tls-key", &key],
    )
    .await;
    let first_ca = std::fs::read(d.join("first-ca.pem")).expect("ca");
    let second_ca = std::fs::read(d.join("second-ca.pem")).expect("ca");
    let url = format!("{}/ca/ca.pem", tls.console);
    let kept = client_trusting(&first_ca);
    assert_eq!(kept.get(&url).send().await.expect("first").status(), 200);
    assert!(client_trusting(&second_ca).get(&url).send().await.is_err());

    std::fs::copy(d.join("second.pem"), d.join("served.pem")).expect("copy");
    std::fs::copy(d.join("second.key"), d.join("served.key")).expect("copy");
    let hup = Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .expect("kill");
    assert!(hup.success());
    let mut reloaded = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if client_trusting(&second_ca).get(&url).send().await.is_ok() {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "new connections get the new certificate");
    // The connection opened before the reload is still served (keep-alive, same client).
    assert_eq!(kept.get(&url).send().await.expect("kept").status(), 200);
}

/// Issues a certificate to a new user and saves its `.p12` as PEM (certificate and key) in
/// `dir/<login>.pem`; returns the user id.
async fn user_with_pem(app: &TestApp, dir: &Path, login: &str) -> i64 {
    let (id, password, file) = app.issue_single_file(login, "検査 太郎").await;
    let r = app.get(&file).await;
    assert_eq!(r.status(), 200);
    let p12 = format!("{login}.p12");
    std::fs::write(dir.join(&p12), r.bytes().await.expect("p12")).expect("write");
    run(
        dir,
        "openssl",
        &[
            "pkcs12",
            "-in",
            &p12,
            "-passin",
            &format!("pass:{password}"),
            "-nodes",
            "-out",
            &format!("{login}.pem"),
        ],
    );
    id
}

/// curl (Debian) asks the check page with `cert` (a PEM with key) or none; returns the body.
fn curl_check(dir: &Path, url: &str, cert: Option<&str>) -> String {
    let mut args = vec![
        "-sS",
        "--cacert",
        "ca.pem",
        "-o",
        "body.html",
        "-w",
        "%{http_code}",
    ];
    if let Some(c) = cert {
        args.extend(["--cert", c]);
    }
    args.push(url);
    let out = run(dir, "curl", &args);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    std::fs::read_to_string(dir.join("body.html")).expect("body")
}

fn verdict(body: &str) -> &str {
    let at = body.find("data-verdict=\"").expect("verdict") + 14;
    let end = body[at..].find('"').expect("end");
    &body[at..at + end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_page_tells_current_old_revoked_expired_foreign_and_none_apart() {
    let (app, tls) = spawn_tls_app(&[]).await;
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), &tls.ca_pem).expect("ca");

    let _current = user_with_pem(&app, d, "taro0001").await;
    let renewed = user_with_pem(&app, d, "jiro0002").await;
    app.backend
        .apply_certificate_operation(
            renewed,
            Operation::Reissue(Some(RevocationReason::Superseded)),
            Actor::Cli,
        )
        .await
        .expect("reissue");
    let revoked = user_with_pem(&app, d, "sabu0003").await;
    app.backend
        .apply_certificate_operation(
            revoked,
            Operation::Revoke(Some(RevocationReason::KeyCompromise)),
            Actor::Cli,
        )
        .await
        .expect("revoke");
    run(
        d,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "foreign.key",
            "-out",
            "foreign.crt",
            "-days",
            "30",
            "-subj",
            "/O=Another Org/CN=taro0001 A001",
        ],
    );

    let body = curl_check(d, &tls.check, Some("taro0001.pem"));
    assert_eq!(verdict(&body), "current", "{body}");
    assert!(body.contains("証明書は正しくインストールされています"));
    assert!(body.contains("taro0001") && !body.contains("jiro0002"));

    let body = curl_check(d, &tls.check, Some("jiro0002.pem"));
    assert_eq!(verdict(&body), "superseded", "{body}");
    assert!(body.contains("certmgr.msc") && body.contains("current-serial"));

    let body = curl_check(d, &tls.check, Some("sabu0003.pem"));
    assert_eq!(verdict(&body), "revoked", "{body}");

    let out = run(
        d,
        "curl",
        &[
            "-sS",
            "--cacert",
            "ca.pem",
            "--cert",
            "foreign.crt",
            "--key",
            "foreign.key",
            "-o",
            "body.html",
            &tls.check,
        ],
    );
    assert!(out.status.success());
    let body = std::fs::read_to_string(d.join("body.html")).expect("body");
    assert_eq!(verdict(&body), "foreign", "{body}");
    assert!(
        !body.contains("taro0001 A001") && !body.contains("dt>"),
        "nothing of ours shown: {body}"
    );

    let body = curl_check(d, &tls.check, None);
    assert_eq!(verdict(&body), "none", "{body}");
    assert!(body.contains("/pickup"));

    // The test clock past the certificate's end: expired.
    app.advance(Duration::days(3 * 366));
    let body = curl_check(d, &tls.check, Some("taro0001.pem"));
    assert_eq!(verdict(&body), "expired", "{body}");

    // Only GET.
    let out = run(
        d,
        "curl",
        &[
            "-sS",
            "--cacert",
            "ca.pem",
            "-X",
            "POST",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &tls.check,
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "405");

    // Every check is audited, the holder as actor.
    let rows: Vec<(String, String)> = {
        let db = app.database();
        let mut st = db
            .prepare("SELECT actor, detail FROM audit_log WHERE action = 'certificate_check' ORDER BY id")
            .expect("prepare");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect()
    };
    let actors: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        actors,
        [
            "taro0001",
            "jiro0002",
            "sabu0003",
            "anonymous",
            "anonymous",
            "taro0001"
        ]
    );
    assert!(rows[3].1.contains("foreign") && rows[4].1.contains("none"));
    assert!(rows[5].1.contains("expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_url_is_free_of_the_console_port() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    assert_eq!(
        refusal(&[
            "--listen",
            &listen,
            "--public-url",
            &format!("https://localhost:{port}"),
            "--check-listen",
            &listen
        ]),
        "E-SERVE-010"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_the_limits_count_the_forwarded_address_from_loopback() {
    use certdesk_backend::{AttemptLimits, AttemptRate};
    let hour = std::time::Duration::from_secs(3600);
    let rate = |burst| AttemptRate {
        burst,
        period: hour,
    };
    let port = free_port();
    let app = certdesk_tests::spawn_app_with(move |s| {
        s.attempt_limits = AttemptLimits {
            per_client: rate(2),
            overall: rate(10_000),
        };
        s.serve_at(
            ([127, 0, 0, 1], port).into(),
            Some("https://certdesk.example.lan"),
        );
    })
    .await;
    certdesk_tests::tls::set_up_headless(&app).await;
    let args = serve_args(&[
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--behind-proxy",
        "--public-url",
        "https://certdesk.example.lan",
    ]);
    let plan = certdesk_server::serving::plan(&args).expect("plan");
    assert!(plan.tls.is_none() && plan.check.is_none());
    let router = certdesk_server::web::router(app.backend.clone(), Path::new("/nonexistent"));
    let backend = app.backend.clone();
    tokio::spawn(async move { certdesk_server::serving::run(backend, router, plan).await });
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let client = reqwest::Client::new();
    let sign_in = |from: &'static str| {
        client
            .post(format!("{base}/api/sign_in"))
            // As a proxy forwards it: the public host, the browser's Origin, the client.
            .header("host", "certdesk.example.lan")
            .header("origin", "https://certdesk.example.lan")
            .header("x-forwarded-for", from)
            .form(&[("login_id", "master01"), ("password", "wrong password!")])
            .send()
    };
    // Two attempts per client: the proxy's third for 10.0.0.1 is refused, 10.0.0.2 is another client.
    for _ in 0..2 {
        let r = sign_in("203.0.113.9, 10.0.0.1").await.expect("answer");
        assert_ne!(r.status(), 429);
    }
    let r = sign_in("10.0.0.1").await.expect("answer");
    assert_eq!(r.status(), 429, "the forwarded client is counted");
    let r = sign_in("10.0.0.2").await.expect("answer");
    assert_ne!(r.status(), 429, "another forwarded client is not");
}
