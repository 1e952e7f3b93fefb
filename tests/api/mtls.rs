//! A `.p12` exported by certdesk logs in to a real web server: Debian's nginx asks for a
//! client certificate from certdesk's CA and checks certdesk's CRL; curl presents the `.p12`.
//! Accepted while valid, refused after revocation once nginx has reloaded the new CRL.

use certdesk_backend::Actor;
use certdesk_backend::Operation;
use certdesk_domain::lifecycle::RevocationReason;
use certdesk_domain::OperationKind;
use certdesk_tests::{spawn_app, TestApp};
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn run(dir: &Path, program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/test installs it): {e}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts nginx in the foreground with the config in `dir` and waits for its port.
fn start_nginx(dir: &Path, port: u16) -> Nginx {
    let child = Command::new("nginx")
        .args([
            "-p",
            &dir.display().to_string(),
            "-c",
            "nginx.conf",
            "-e",
            "error.log",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx must be installed (scripts/test installs it)");
    let nginx = Nginx(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return nginx;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "nginx did not listen: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}

/// `curl` with the `.p12`; returns (HTTP status, body).
fn curl(dir: &Path, port: u16, p12: &str, password: &str) -> (String, String) {
    let out = run(
        dir,
        "curl",
        &[
            "-sS",
            "--cert-type",
            "P12",
            "--cert",
            &format!("{p12}:{password}"),
            "--cacert",
            "server.crt",
            "-o",
            "body.txt",
            "-w",
            "%{http_code}",
            &format!("https://127.0.0.1:{port}/"),
        ],
    );
    let status = String::from_utf8_lossy(&out.stdout).to_string();
    let body = std::fs::read_to_string(dir.join("body.txt")).unwrap_or_default();
    assert!(
        out.status.success(),
        "curl failed: {status} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (status, body)
}

async fn save(app: &TestApp, dir: &Path, file: &str, path: &str) {
    let r = app.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    std::fs::write(dir.join(file), r.bytes().await.expect("body")).expect("write");
}

#[tokio::test]
async fn nginx_accepts_the_exported_p12_while_valid_and_refuses_it_after_revocation() {
    let app = spawn_app().await;
    assert_eq!(app.set_up().await.status(), 200);
    let (id, password, file) = app.issue_single_file("taro0001", "佐藤 太郎").await;

    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    save(&app, d, "taro0001.p12", &file).await;
    save(&app, d, "ca.pem", "/ca/ca.pem").await;
    save(&app, d, "crl.pem", "/ca/crl.pem").await;

    // The web server's own certificate (not certdesk's business) and its configuration.
    let out = run(
        d,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    std::fs::create_dir_all(d.join("tmp")).expect("tmp dir");
    let conf = format!(
        "daemon off;\nmaster_process off;\npid nginx.pid;\nerror_log error.log;\nevents {{}}\n\
         http {{\n  access_log off;\n  client_body_temp_path tmp;\n  proxy_temp_path tmp;\n  fastcgi_temp_path tmp;\n  uwsgi_temp_path tmp;\n  scgi_temp_path tmp;\n\
           server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate server.crt;\n    ssl_certificate_key server.key;\n\
             ssl_client_certificate ca.pem;\n    ssl_verify_client on;\n    ssl_crl crl.pem;\n\
             location / {{ return 200 \"hello $ssl_client_s_dn\\n\"; }}\n  }}\n}}\n"
    );
    std::fs::write(d.join("nginx.conf"), conf).expect("conf");

    let nginx = start_nginx(d, port);
    let (status, body) = curl(d, port, "taro0001.p12", &password);
    assert_eq!(status, "200", "{body}");
    assert!(
        body.contains("CN=taro0001 A001"),
        "nginx saw the client certificate: {body}"
    );

    // Revoke; nginx reloads the new CRL (a restart, since it runs without a master process).
    app.backend
        .apply_certificate_operation(
            id,
            Operation::new(
                OperationKind::parse("revoke").expect("op"),
                RevocationReason::parse("key_compromise"),
            ),
            Actor::Cli,
        )
        .await
        .expect("revoke");
    save(&app, d, "crl.pem", "/ca/crl.pem").await;
    drop(nginx);
    let _nginx = start_nginx(d, port);
    let (status, body) = curl(d, port, "taro0001.p12", &password);
    assert_eq!(status, "400", "a revoked certificate is refused: {body}");
    assert!(body.contains("certificate"), "{body}");
}
