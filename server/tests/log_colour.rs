//! The binary's log as a file or pipe receives it: no ANSI escape codes; colour only on a
//! terminal (a pseudo-terminal from util-linux `script`), and not there either with `NO_COLOR`.
//!
//! Each run is `certdesk --data-dir DIR serve --listen ADDR` on a port this test holds, so the
//! server logs its start-up (the missing wasm bundle is a warning) and then stops at once
//! ("cannot listen").

use std::net::TcpListener;
use std::process::Command;

const ESC: u8 = 0x1b;

struct Run {
    output: Vec<u8>,
    _dir: tempfile::TempDir,
    _port: TcpListener,
}

/// Runs the binary as described above; `tty` puts it under a pseudo-terminal.
fn run(tty: bool, no_color: Option<&str>) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = port.local_addr().expect("addr").to_string();
    let bin = env!("CARGO_BIN_EXE_certdesk");
    let data = dir.path().join("data");
    let site = dir.path().join("site");
    let args = [
        "--data-dir",
        data.to_str().expect("utf-8 path"),
        "serve",
        "--listen",
        &addr,
        "--site-root",
        site.to_str().expect("utf-8 path"),
    ];
    let mut cmd = if tty {
        // `script -qec CMD /dev/null`: CMD's standard streams are a pseudo-terminal; what it
        // writes there comes out on script's standard output.
        let line = std::iter::once(bin)
            .chain(args)
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut c = Command::new("script");
        c.args(["-qec", &line, "/dev/null"]);
        c
    } else {
        let mut c = Command::new(bin);
        c.args(args);
        c
    };
    cmd.env("CERTDESK_LOG", "info").env_remove("NO_COLOR");
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let out = cmd.output().expect("runs");
    let mut output = out.stdout;
    output.extend_from_slice(&out.stderr);
    Run {
        output,
        _dir: dir,
        _port: port,
    }
}

fn text(run: &Run) -> String {
    String::from_utf8_lossy(&run.output).into_owned()
}

#[test]
fn a_log_written_to_a_pipe_has_no_escape_codes() {
    let piped = run(false, None);
    let log = text(&piped);
    assert!(
        log.contains("WARN"),
        "the start-up warning is logged: {log}"
    );
    assert!(
        log.contains("cannot listen"),
        "the run stops at listen: {log}"
    );
    assert!(!piped.output.contains(&ESC), "no ANSI escape in: {log:?}");
}

#[test]
fn colour_on_a_terminal_unless_no_color() {
    if Command::new("script").arg("--version").output().is_err() {
        panic!("util-linux `script` is needed (Debian's bsdutils)");
    }
    let coloured = run(true, None);
    assert!(
        coloured.output.contains(&ESC),
        "colour on a terminal: {:?}",
        text(&coloured)
    );
    let plain = run(true, Some("1"));
    assert!(text(&plain).contains("WARN"), "{}", text(&plain));
    assert!(
        !plain.output.contains(&ESC),
        "NO_COLOR=1 on a terminal: {:?}",
        text(&plain)
    );
}
