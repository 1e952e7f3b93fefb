//! Benchmark: "issue 99 certificates in one bulk action" and "issue + bulk bundle" (the
//! certificates handed out as one ZIP of password-protected `.p12` files with the password
//! sheet), certdesk against the OpenSSL command-line baseline, on the same machine in the
//! same run.
//!
//! What it measures:
//!
//! * **certdesk**, for RSA-2048 and for ECDSA P-256: the wall-clock time of
//!   `Backend::run_bulk` for one bulk *issue* run over 99 fresh users (key generation, signing
//!   by the embedded CA, sealing the key, storing, auditing: everything the bulk action does).
//!   Setting up the organisation and the CA, creating the users and recording the run are not
//!   timed. **Issue + bundle** adds `prepare_bundle` (a generated password and a modern
//!   `.p12` per user, the ZIP, the sealed password sheet) and the download of the ZIP, which
//!   must hold 99 `.p12` files; this is what the baseline script does too. Each repetition uses a fresh data directory and 99 fresh users; the run must
//!   report 99 done, or the benchmark panics.
//! * **baseline**: `bulk-openssl.sh 99 <fresh dir> rsa|ec` (what an administrator does by hand
//!   with OpenSSL 3: CA, then key, CSR, signature and PKCS#12 per user), timed as a whole. The
//!   script must exit successfully and print 99 as its last line, or the benchmark panics.
//!   Without `CERTDESK_BENCH_RUNS` it runs once per key type, and three times if the first run
//!   took less than 30 s.
//!
//! It prints the median and every run in seconds, then the speed-up (baseline time / certdesk
//! time) against the targets: RSA-2048 >= 5x, ECDSA P-256 >= 10x. A missed target is printed
//! as "BELOW target"; it does not fail the benchmark.
//!
//! Run it with:
//!
//! ```text
//! cargo bench -p certdesk-tests --bench bulk_issue
//! ```
//!
//! Environment:
//!
//! * `CERTDESK_BENCH_RUNS`: repetitions per key type (default 3 for certdesk; when set, the
//!   baseline also runs exactly this many times).
//! * `CERTDESK_BENCH_BASELINE`: path of the baseline script (default
//!   `../shared/bench/bulk-openssl.sh` next to the workspace).

use certdesk_backend::Actor;
use certdesk_backend::Operation;
use certdesk_backend::SetupInput;
use certdesk_backend::{Backend, Clock, Settings};
use certdesk_domain::distribution::P12Profile;
use certdesk_domain::profile::{IssuingProfile, KeyType};
use certdesk_domain::Role;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How many certificates one bulk action issues.
const USERS: usize = 99;
/// certdesk repetitions per key type unless `CERTDESK_BENCH_RUNS` says otherwise.
const DEFAULT_RUNS: usize = 3;
/// A baseline run shorter than this is repeated (to three runs) unless the runs are given.
const BASELINE_REPEAT_BELOW: Duration = Duration::from_secs(30);
const DEFAULT_BASELINE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/bench/bulk-openssl.sh"
);
const PASSWORD: &str = "bench password 0001";

/// One key type: how certdesk names it, how the script names it, and the target speed-up.
struct Case {
    label: &'static str,
    key_type: KeyType,
    script_arg: &'static str,
    target: f64,
}

const CASES: [Case; 2] = [
    Case {
        label: "RSA-2048",
        key_type: KeyType::Rsa2048,
        script_arg: "rsa",
        target: 5.0,
    },
    Case {
        label: "ECDSA P-256",
        key_type: KeyType::EcdsaP256,
        script_arg: "ec",
        target: 10.0,
    },
];

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench` (and any filter); this benchmark has nothing to filter.
    let runs_override = runs_from_env();
    let certdesk_runs = runs_override.unwrap_or(DEFAULT_RUNS);
    let script = baseline_script();

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "machine: {cores} cores; {}; baseline: {}",
        openssl_version().await,
        script.display()
    );

    let mut certdesk = Vec::new();
    let mut with_bundle = Vec::new();
    for case in &CASES {
        let mut times = Vec::new();
        let mut bundle_times = Vec::new();
        for run in 1..=certdesk_runs {
            let (t, b) = certdesk_bulk_issue(case.key_type).await;
            eprintln!(
                "  certdesk {} run {run}/{certdesk_runs}: issue {:.2} s, issue + bundle {:.2} s",
                case.label,
                t.as_secs_f64(),
                b.as_secs_f64()
            );
            times.push(t);
            bundle_times.push(b);
        }
        println!(
            "certdesk bulk issue {USERS} x {}: {}",
            case.label,
            summary(&times)
        );
        println!(
            "certdesk issue + bulk bundle {USERS} x {}: {}",
            case.label,
            summary(&bundle_times)
        );
        certdesk.push(median(&times));
        with_bundle.push(median(&bundle_times));
    }

    let mut baseline = Vec::new();
    for case in &CASES {
        let mut times = vec![openssl_bulk_issue(&script, case.script_arg).await];
        let wanted = runs_override.unwrap_or(if times[0] < BASELINE_REPEAT_BELOW {
            3
        } else {
            1
        });
        eprintln!(
            "  openssl {} run 1/{wanted}: {:.2} s",
            case.label,
            times[0].as_secs_f64()
        );
        while times.len() < wanted {
            let t = openssl_bulk_issue(&script, case.script_arg).await;
            eprintln!(
                "  openssl {} run {}/{wanted}: {:.2} s",
                case.label,
                times.len() + 1,
                t.as_secs_f64()
            );
            times.push(t);
        }
        println!(
            "openssl baseline (bulk-openssl.sh {USERS} {}) x {}: {}",
            case.script_arg,
            case.label,
            summary(&times)
        );
        baseline.push(median(&times));
    }

    for ((case, bundle), baseline) in CASES.iter().zip(&with_bundle).zip(&baseline) {
        println!(
            "issue + bulk bundle {}: certdesk {bundle:.2} s vs openssl {baseline:.2} s ({:.1}x)",
            case.label,
            baseline / bundle
        );
    }
    for ((case, certdesk), baseline) in CASES.iter().zip(&certdesk).zip(&baseline) {
        let ratio = baseline / certdesk;
        let verdict = if ratio >= case.target {
            "meets target"
        } else {
            "BELOW target"
        };
        println!(
            "speed-up {}: {ratio:.1}x (openssl {baseline:.2} s / certdesk {certdesk:.2} s; target >= {}x: {verdict})",
            case.label, case.target
        );
    }
}

/// `CERTDESK_BENCH_RUNS`, if set: a positive number of repetitions.
fn runs_from_env() -> Option<usize> {
    let raw = std::env::var("CERTDESK_BENCH_RUNS").ok()?;
    let runs: usize = raw
        .trim()
        .parse()
        .expect("CERTDESK_BENCH_RUNS must be a positive whole number");
    assert!(runs > 0, "CERTDESK_BENCH_RUNS must be at least 1");
    Some(runs)
}

/// The baseline script, checked to exist before anything is timed.
fn baseline_script() -> PathBuf {
    let path = std::env::var_os("CERTDESK_BENCH_BASELINE")
        .map_or_else(|| PathBuf::from(DEFAULT_BASELINE), PathBuf::from);
    assert!(
        path.is_file(),
        "baseline script not found at {} (set CERTDESK_BENCH_BASELINE)",
        path.display()
    );
    path.canonicalize()
        .expect("the baseline script's path resolves")
}

async fn openssl_version() -> String {
    match tokio::process::Command::new("openssl")
        .arg("version")
        .output()
        .await
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => "openssl: version unknown".to_string(),
    }
}

/// One certdesk repetition: a fresh data directory, organisation, CA and 99 users; only the
/// bulk run itself is timed.
async fn certdesk_bulk_issue(key_type: KeyType) -> (Duration, Duration) {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let backend = Backend::open(Settings::new(dir.path()), Clock::system())
        .expect("the backend opens a fresh data directory");
    backend
        .set_up(
            SetupInput {
                org_name: "Bench Corp".into(),
                group_id: "G0001".into(),
                bank_code: "0001".into(),
                login_id: "master01".into(),
                name: "Bench Master".into(),
                email: "master01@example.com".into(),
                password: PASSWORD.into(),
                password_confirm: PASSWORD.into(),
            },
            Actor::Cli,
        )
        .await
        .expect("first-run setup succeeds");
    backend
        .update_issuing_profile(
            IssuingProfile {
                key_type,
                ..Default::default()
            },
            Actor::Cli,
        )
        .await
        .expect("the issuing profile is saved");
    let mut user_ids = Vec::with_capacity(USERS);
    for i in 1..=USERS {
        let login = format!("user{i:03}");
        let id = backend
            .create_user(
                &login,
                &format!("Bench User {i:03}"),
                &format!("{login}@example.com"),
                Role::General,
                Actor::Cli,
            )
            .await
            .expect("a bench user is created");
        user_ids.push(id);
    }
    let job = backend
        .create_bulk(user_ids.clone(), Operation::Issue, Actor::Cli)
        .await
        .expect("the bulk run is recorded");

    let started = Instant::now();
    let status = backend.run_bulk(job).await.expect("the bulk run completes");
    let elapsed = started.elapsed();

    let failed: Vec<String> = status
        .items
        .iter()
        .filter(|i| i.status.as_str() != "done")
        .map(|i| {
            format!(
                "{}: {} {}",
                i.login_id,
                i.status.as_str(),
                i.error_code.as_deref().unwrap_or("-")
            )
        })
        .collect();
    assert!(
        status.finished && status.done as usize == USERS && status.failed == 0,
        "bulk issue did not issue {USERS} certificates: done {}, failed {}, finished {}; {failed:?}",
        status.done,
        status.failed,
        status.finished
    );
    let bundle = backend
        .prepare_bundle(user_ids, P12Profile::Modern, Actor::Cli)
        .await
        .expect("the bundle is prepared");
    let zip = backend
        .delivery_file(bundle.token, Actor::Cli)
        .await
        .expect("the bundle downloads");
    let with_bundle = started.elapsed();
    let members = zip::ZipArchive::new(std::io::Cursor::new(zip.bytes))
        .expect("a ZIP")
        .len();
    assert_eq!(members, USERS, "one .p12 per user in the bundle");
    assert_eq!(
        bundle.slips.len(),
        USERS,
        "one password per user on the sheet"
    );
    drop(backend);
    drop(dir);
    (elapsed, with_bundle)
}

/// One baseline repetition in a fresh output directory, timed as a whole.
async fn openssl_bulk_issue(script: &Path, key: &str) -> Duration {
    let out = tempfile::tempdir().expect("a temporary output directory");
    let started = Instant::now();
    let output = tokio::process::Command::new("bash")
        .arg(script)
        .arg(USERS.to_string())
        .arg(out.path())
        .arg(key)
        .output()
        .await
        .expect("bash runs the baseline script");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "baseline script ({key}) failed with {}: {stderr}",
        output.status
    );
    let last = stdout.lines().last().map(str::trim);
    assert_eq!(
        last,
        Some(USERS.to_string().as_str()),
        "baseline script ({key}) did not report {USERS} .p12 files; stdout: {stdout}; stderr: {stderr}"
    );
    drop(out);
    elapsed
}

fn median(times: &[Duration]) -> f64 {
    let mut secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    secs.sort_by(f64::total_cmp);
    let mid = secs.len() / 2;
    if secs.len().is_multiple_of(2) {
        (secs[mid - 1] + secs[mid]) / 2.0
    } else {
        secs[mid]
    }
}

/// "3.41 s (median of 3 runs; runs: 3.52, 3.41, 3.38 s)"
fn summary(times: &[Duration]) -> String {
    let runs: Vec<String> = times
        .iter()
        .map(|t| format!("{:.2}", t.as_secs_f64()))
        .collect();
    let n = times.len();
    format!(
        "{:.2} s (median of {n} run{}; runs: {} s)",
        median(times),
        if n == 1 { "" } else { "s" },
        runs.join(", ")
    )
}
