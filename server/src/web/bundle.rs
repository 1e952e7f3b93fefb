//! The browser bundle under `/pkg` and the icon.
//!
//! `scripts/lib.sh build_wasm` writes one of two bundles into the site root:
//! - the release bundle (`scripts/run`, the e2e suite): `pkg/certdesk.HASH.js` and
//!   `pkg/certdesk.HASH.wasm`, each with a `.br` and a `.gz` made at build time, and
//!   `hash.txt` (`js: HASH`, `wasm: HASH`). The pages then name the hashed files (Leptos'
//!   `hash_files`), so a file's content never changes under its name: it is sent with the
//!   brotli or gzip file the browser accepts and cached for a year (`immutable`);
//! - the dev bundle: `pkg/certdesk.js` and `pkg/certdesk_bg.wasm`, compressed on the fly and
//!   revalidated on every use (`no-cache`), since a rebuild reuses the names.

use super::{AppState, OUTPUT_NAME};
use axum::extract::Request;
use axum::http::header::{self, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use std::path::Path;
use std::sync::Arc;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;

/// Written by `build_wasm wasm-release` next to `pkg/`: the content hashes of the two files.
pub const HASH_FILE: &str = "hash.txt";

/// A year: the longest lifetime caches honour, for files whose name changes with their content.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

const FAVICON_ICO: &[u8] = include_bytes!("../../assets/favicon.ico");
const FAVICON_SVG: &str = include_str!("../../assets/favicon.svg");

/// Leptos' options for the site root: hashed file names when the release bundle's `hash.txt`
/// is there. Leptos looks for the hash file beside the executable; an absolute path makes it
/// the site root's instead (`Path::join` keeps an absolute path as it is).
pub(super) fn leptos_options(site_root: &Path) -> LeptosOptions {
    let hash_file = std::path::absolute(site_root.join(HASH_FILE))
        .ok()
        .filter(|p| p.is_file());
    let builder = LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg");
    let options = match &hash_file {
        Some(path) => builder
            .hash_files(true)
            .hash_file(Arc::from(path.to_string_lossy().as_ref()))
            .build(),
        None => builder.build(),
    };
    let dev_bundle = site_root.join("pkg").join(format!("{OUTPUT_NAME}.js"));
    if hash_file.is_none() && !dev_bundle.exists() {
        tracing::warn!(
            site.root = %site_root.display(),
            "wasm bundle not found: pages render but buttons will not work until scripts/lib.sh build_wasm has run"
        );
    }
    options
}

/// `/pkg/*`: the precompressed file the browser accepts (brotli, else gzip, else the file),
/// with the cache lifetime its name allows.
pub(super) fn pkg(site_root: &Path) -> Router<AppState> {
    hashed_files(site_root.join("pkg"), OUTPUT_NAME)
}

/// A bundle's directory whose release files are named `NAME.HASH.js` / `NAME.HASH.wasm` (the
/// console's `/pkg`, the enrolment page's `/enroll/pkg`): served as `/pkg` is.
pub(crate) fn hashed_files<S: Clone + Send + Sync + 'static>(
    dir: std::path::PathBuf,
    name: &'static str,
) -> Router<S> {
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    Router::new()
        // The dev bundle has no precompressed files: compressed per request. A response that
        // already has a Content-Encoding (a precompressed file) is left as it is.
        .fallback_service(
            tower::ServiceBuilder::new()
                .layer(CompressionLayer::new())
                .service(files),
        )
        .layer(middleware::from_fn(move |request, next| {
            cache_headers(name, request, next)
        }))
}

/// `/favicon.ico` and `/favicon.svg`, embedded in the binary (the pages link the SVG; browsers
/// still ask for the `.ico` on their own).
pub(super) fn icons() -> Router<AppState> {
    Router::new()
        .route(
            "/favicon.ico",
            get(|| async { icon("image/x-icon", FAVICON_ICO) }),
        )
        .route(
            "/favicon.svg",
            get(|| async { icon("image/svg+xml", FAVICON_SVG.as_bytes()) }),
        )
}

fn icon(content_type: &'static str, bytes: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The icon changes only with the binary: a day, then the browser asks again.
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        bytes,
    )
        .into_response()
}

/// `immutable` for a hashed name that was found; `no-cache` for everything else under `/pkg`
/// (the dev bundle's fixed names, and answers that are not the file).
async fn cache_headers(name: &'static str, request: Request, next: Next) -> Response {
    let hashed = request
        .uri()
        .path()
        .rsplit('/')
        .next()
        .is_some_and(|file| is_hashed_name(name, file));
    let mut response = next.run(request).await;
    let found = response.status().is_success() || response.status().as_u16() == 304;
    let value = if hashed && found {
        IMMUTABLE
    } else {
        "no-cache"
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    // The body depends on Accept-Encoding: shared caches must keep one copy per encoding.
    if !headers.contains_key(header::VARY) {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// `<bundle>.<16 hex digits>.js` or `.wasm`, as `build_wasm` names the release bundle, and the
/// console's lazy parts beside it (`chunk_N.HASH.wasm`, `split_*.HASH.wasm`, their loader
/// `__wasm_split.HASH.js` and manifest `__wasm_split_manifest.HASH.json`, one hash for all).
pub(crate) fn is_hashed_name(bundle: &str, name: &str) -> bool {
    let mut parts = name.rsplitn(3, '.');
    let (Some(ext), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let ours = stem == bundle
        || matches!(stem, "__wasm_split" | "__wasm_split_manifest")
        || stem
            .strip_prefix("chunk_")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        || stem.starts_with("split_");
    let ext_ok = match stem {
        "__wasm_split_manifest" => ext == "json",
        "__wasm_split" => ext == "js",
        s if s == bundle => matches!(ext, "js" | "wasm"),
        _ => ext == "wasm",
    };
    ours && ext_ok && hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::is_hashed_name;

    #[test]
    fn only_the_release_bundles_names_are_hashed() {
        let is_hashed_name = |name| is_hashed_name("certdesk", name);
        assert!(is_hashed_name("certdesk.0123456789abcdef.js"));
        assert!(is_hashed_name("certdesk.0123456789abcdef.wasm"));
        assert!(!is_hashed_name("certdesk.js"));
        assert!(!is_hashed_name("certdesk_bg.wasm"));
        assert!(!is_hashed_name("certdesk.0123456789abcdef.js.br"));
        assert!(!is_hashed_name("certdesk.0123456789abcdeg.js"));
        assert!(!is_hashed_name("certdesk.0123456789abcde.wasm"));
        assert!(!is_hashed_name("other.0123456789abcdef.js"));
        // The lazy routes' parts, their loader and manifest (one hash for the whole bundle).
        assert!(is_hashed_name("chunk_12.0123456789abcdef.wasm"));
        assert!(is_hashed_name(
            "split___users_route_view_1262.0123456789abcdef.wasm"
        ));
        assert!(is_hashed_name("__wasm_split.0123456789abcdef.js"));
        assert!(is_hashed_name(
            "__wasm_split_manifest.0123456789abcdef.json"
        ));
        assert!(!is_hashed_name("chunk_12.wasm"));
        assert!(!is_hashed_name("chunk_.0123456789abcdef.wasm"));
        assert!(!is_hashed_name("chunk_12.0123456789abcdef.js"));
        assert!(!is_hashed_name("__wasm_split.______________________.js"));
        assert!(!is_hashed_name("__wasm_split_manifest.json"));
    }
}
