//! The browser bundle as `/pkg` serves it (issue 16, item 6): the release bundle's hashed
//! files, precompressed at build time, sent as the browser's `Accept-Encoding` asks and cached
//! for a year; the pages name the hashed files. The dev bundle (fixed names) is revalidated.
//! The files here stand in for `build_wasm`'s output: what is checked is which file is sent.

use certdesk_tests::{spawn_app_with, TestApp};
use std::path::Path;

const JS: &str = "certdesk.0123456789abcdef.js";
const WASM: &str = "certdesk.fedcba9876543210.wasm";
/// A lazy route's part and the parts' loader, named with the bundle's hash by `build_wasm`.
const PART: &str = "split___users_route_view_1262.0123456789abcdef.wasm";
const LOADER: &str = "__wasm_split.0123456789abcdef.js";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The release bundle as `build_wasm wasm-release` lays it out, under `site`.
fn release_bundle(site: &Path) {
    let pkg = site.join("pkg");
    std::fs::create_dir_all(&pkg).expect("pkg");
    for (name, body) in [
        (JS, "js"),
        (WASM, "wasm"),
        (PART, "part"),
        (LOADER, "loader"),
    ] {
        std::fs::write(pkg.join(name), format!("{body}: identity")).expect("file");
        std::fs::write(pkg.join(format!("{name}.br")), format!("{body}: brotli")).expect("br");
        std::fs::write(pkg.join(format!("{name}.gz")), format!("{body}: gzip")).expect("gz");
    }
    std::fs::write(
        site.join("hash.txt"),
        "js: 0123456789abcdef\nwasm: fedcba9876543210\n",
    )
    .expect("hash.txt");
}

async fn fetch(app: &TestApp, path: &str, accept_encoding: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.base))
        .header("accept-encoding", accept_encoding)
        .send()
        .await
        .expect("request")
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii").to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_release_bundle_is_sent_precompressed_as_accepted_and_cached_for_a_year() {
    let app = spawn_app_with(|s| release_bundle(&s.data_dir.join("site"))).await;
    for (file, kind, content_type) in [
        (JS, "js", "text/javascript"),
        (WASM, "wasm", "application/wasm"),
        (PART, "part", "application/wasm"),
        (LOADER, "loader", "text/javascript"),
    ] {
        let path = format!("/pkg/{file}");
        for (accept, encoding, body) in [
            ("gzip, deflate, br, zstd", "br", "brotli"),
            ("br", "br", "brotli"),
            ("gzip, deflate", "gzip", "gzip"),
            ("identity", "", "identity"),
            ("br;q=0, gzip", "gzip", "gzip"),
        ] {
            let r = fetch(&app, &path, accept).await;
            assert_eq!(r.status(), 200, "{path} {accept}");
            assert_eq!(header(&r, "content-encoding"), encoding, "{path} {accept}");
            assert!(
                header(&r, "content-type").starts_with(content_type),
                "{path}: {}",
                header(&r, "content-type")
            );
            assert_eq!(header(&r, "cache-control"), IMMUTABLE, "{path} {accept}");
            assert!(
                header(&r, "vary")
                    .to_ascii_lowercase()
                    .contains("accept-encoding"),
                "{path} {accept}"
            );
            assert_eq!(
                r.text().await.expect("body"),
                format!("{kind}: {body}"),
                "{path} {accept}"
            );
        }
    }
    // A name that is not there is not cached for a year.
    for missing in [
        "/pkg/certdesk.00000000000000ff.js",
        "/pkg/chunk_9.00000000000000ff.wasm",
    ] {
        let missing = fetch(&app, missing, "br").await;
        assert_eq!(missing.status(), 404);
        assert_eq!(header(&missing, "cache-control"), "no-cache");
    }

    // The pages load the hashed files (Leptos' hydration script gets both names).
    let before_setup = app.get("/setup").await.text().await.expect("page");
    assert_eq!(app.set_up().await.status(), 200);
    let after_setup = app.get("/").await.text().await.expect("page");
    for (page, html) in [("/setup", before_setup), ("/", after_setup)] {
        assert!(html.contains(&format!("/pkg/{JS}")), "{page}: {html}");
        assert!(
            html.contains("/pkg/certdesk.fedcba9876543210.wasm"),
            "{page}: {html}"
        );
        assert!(!html.contains("certdesk_bg.wasm"), "{page}");
    }
}

#[tokio::test]
async fn the_dev_bundle_is_compressed_on_the_fly_and_revalidated() {
    let app = spawn_app_with(|s| {
        let pkg = s.data_dir.join("site").join("pkg");
        std::fs::create_dir_all(&pkg).expect("pkg");
        std::fs::write(pkg.join("certdesk.js"), "export default 1;\n".repeat(200)).expect("js");
        std::fs::write(pkg.join("certdesk_bg.wasm"), vec![0u8; 4096]).expect("wasm");
    })
    .await;
    let r = fetch(&app, "/pkg/certdesk.js", "gzip").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-encoding"), "gzip");
    assert_eq!(header(&r, "cache-control"), "no-cache");
    let r = fetch(&app, "/pkg/certdesk_bg.wasm", "identity").await;
    assert_eq!(header(&r, "content-encoding"), "");
    assert_eq!(header(&r, "cache-control"), "no-cache");
    assert_eq!(r.bytes().await.expect("body").len(), 4096);
    let html = app.get("/setup").await.text().await.expect("page");
    assert!(html.contains("/pkg/certdesk.js"), "{html}");
    assert!(html.contains("/pkg/certdesk_bg.wasm"), "{html}");
}
