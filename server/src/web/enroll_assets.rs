//! The enrolment bundle (issue 17): `scripts/lib.sh build_enroll_wasm` writes it into
//! `<site root>/enroll/` (see there), apart from the console's `/pkg`, so the console's bundle
//! does not carry it. Served under `/enroll/pkg/…` by the same code as `/pkg`
//! ([`super::bundle::hashed_files`]: precompressed files, `immutable` for hashed names), and the
//! page's script `enroll.js` (embedded in the binary) under `/enroll/enroll.HASH.js`.
//!
//! Both the console (`/enroll`) and the check listener (the renewal control) serve them: the
//! check page cannot load scripts from another origin under its policy.

use super::bundle::{hashed_files, IMMUTABLE};
use axum::extract::Path as UrlPath;
use axum::http::header;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The wasm bundle's name: `certdesk_enroll.js` and `certdesk_enroll_bg.wasm` (dev), or
/// `certdesk_enroll.HASH.js` and `.wasm` (release).
pub const BUNDLE_NAME: &str = "certdesk_enroll";

/// The page's script, the same on every page that enrols.
const SCRIPT: &str = include_str!("../../assets/enroll.js");

/// Where a page finds the enrolment code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollAssets {
    /// `/enroll/enroll.HASH.js`: the page's module script.
    pub script: String,
    /// The wasm-bindgen module, imported by the script.
    pub bundle_js: String,
    /// The wasm file the bundle instantiates.
    pub bundle_wasm: String,
}

impl EnrollAssets {
    /// The names under `site_root`: the release bundle's when its `enroll/hash.txt` is there,
    /// else the dev bundle's fixed names.
    pub fn load(site_root: &Path) -> EnrollAssets {
        let hashes = std::fs::read_to_string(site_root.join("enroll").join("hash.txt"))
            .ok()
            .and_then(|text| {
                let field = |key: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(key))
                        .map(|h| h.trim().to_string())
                        .filter(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                };
                Some((field("js:")?, field("wasm:")?))
            });
        let (bundle_js, bundle_wasm) = match hashes {
            Some((js, wasm)) => (
                format!("/enroll/pkg/{BUNDLE_NAME}.{js}.js"),
                format!("/enroll/pkg/{BUNDLE_NAME}.{wasm}.wasm"),
            ),
            None => {
                if !site_root
                    .join("enroll/pkg")
                    .join(format!("{BUNDLE_NAME}.js"))
                    .exists()
                {
                    tracing::warn!(
                        site.root = %site_root.display(),
                        "enrolment bundle not found: /enroll and the renewal control will not work until scripts/lib.sh build_enroll_wasm has run"
                    );
                }
                (
                    format!("/enroll/pkg/{BUNDLE_NAME}.js"),
                    format!("/enroll/pkg/{BUNDLE_NAME}_bg.wasm"),
                )
            }
        };
        EnrollAssets {
            script: format!("/enroll/{}", script_name()),
            bundle_js,
            bundle_wasm,
        }
    }
}

/// `enroll.<first 16 hex digits of its SHA-256>.js`.
fn script_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let digest = Sha256::digest(SCRIPT.as_bytes());
        format!("enroll.{}.js", &hex::encode(digest)[..16])
    })
}

/// The site root the console was started with, for the check listener's router (built later,
/// without it).
static SITE_ROOT: OnceLock<PathBuf> = OnceLock::new();

/// The enrolment assets of the site root the console serves (the default one if none was
/// set, as in tests that start only a check router).
pub fn current() -> Arc<EnrollAssets> {
    static ASSETS: OnceLock<Arc<EnrollAssets>> = OnceLock::new();
    ASSETS
        .get_or_init(|| Arc::new(EnrollAssets::load(&site_root())))
        .clone()
}

fn site_root() -> PathBuf {
    SITE_ROOT
        .get()
        .cloned()
        .unwrap_or_else(super::default_site_root)
}

/// `/enroll/pkg/*` and `/enroll/enroll.HASH.js` from `site_root` (the console's router; the
/// first call also records it for the check listener).
pub fn routes<S: Clone + Send + Sync + 'static>(site_root: &Path) -> Router<S> {
    let _ = SITE_ROOT.set(site_root.to_path_buf());
    files(site_root)
}

/// The same files for the check listener, from the console's site root.
pub fn routes_for_check<S: Clone + Send + Sync + 'static>() -> Router<S> {
    files(&site_root())
}

fn files<S: Clone + Send + Sync + 'static>(site_root: &Path) -> Router<S> {
    Router::new().route("/enroll/{file}", get(script)).nest(
        "/enroll/pkg",
        hashed_files(site_root.join("enroll").join("pkg"), BUNDLE_NAME),
    )
}

async fn script(UrlPath(file): UrlPath<String>) -> Response {
    if file != script_name() {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
        SCRIPT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_come_from_hash_txt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dev = EnrollAssets::load(dir.path());
        assert_eq!(dev.bundle_js, "/enroll/pkg/certdesk_enroll.js");
        assert_eq!(dev.bundle_wasm, "/enroll/pkg/certdesk_enroll_bg.wasm");
        std::fs::create_dir_all(dir.path().join("enroll")).expect("dir");
        std::fs::write(
            dir.path().join("enroll/hash.txt"),
            "js: 0123456789abcdef\nwasm: fedcba9876543210\n",
        )
        .expect("write");
        let release = EnrollAssets::load(dir.path());
        assert_eq!(
            release.bundle_js,
            "/enroll/pkg/certdesk_enroll.0123456789abcdef.js"
        );
        assert_eq!(
            release.bundle_wasm,
            "/enroll/pkg/certdesk_enroll.fedcba9876543210.wasm"
        );
        assert!(release.script.starts_with("/enroll/enroll.") && release.script.ends_with(".js"));
        assert_eq!(
            release.script.len(),
            "/enroll/enroll.0123456789abcdef.js".len()
        );
    }
}
