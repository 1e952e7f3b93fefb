//! The browser bundle holds no JSON parser of its own (issue 16: at most 400 KB gzip): every
//! server function answers with `output = crate::codec::JsonOut` and every resource is made by
//! `crate::codec::page_resource`, both read in the browser by `JSON.parse`. One server function
//! with server_fn's default output, or one `Resource::new` (Leptos' serde_json codec), would
//! bring serde_json's deserialiser back into the bundle (about 20 KB gzip); this test names it.
//! Likewise every form is the app's `ActionForm` (`components/form.rs`): Leptos' own would
//! bring serde_qs' deserialiser back (about 16 KB gzip).

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("app/src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn app_sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files.sort();
    assert!(files.len() > 10, "app/src not found: {files:?}");
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("source is UTF-8");
            (p, text)
        })
        .collect()
}

/// The `#[server(...)]` attributes of server functions (not `#[server(default)]` on an
/// argument), each with its line number.
fn server_attributes(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[server(") {
        let line = text[..text.len() - rest.len() + at].lines().count() + 1;
        let after = &rest[at..];
        let end = after.find(")]").expect("a #[server(...)] attribute ends");
        let attribute = after[..end + 2].to_string();
        if attribute != "#[server(default)]" {
            found.push((line, attribute));
        }
        rest = &after[end + 2..];
    }
    found
}

#[test]
fn every_server_function_answers_with_json_out() {
    let mut count = 0;
    let mut wrong = Vec::new();
    for (path, text) in app_sources() {
        for (line, attribute) in server_attributes(&text) {
            count += 1;
            if !attribute.contains("output = crate::codec::JsonOut") {
                wrong.push(format!("{}:{line}: {attribute}", path.display()));
            }
        }
    }
    assert!(count >= 40, "only {count} server functions found");
    assert!(
        wrong.is_empty(),
        "server functions without `output = crate::codec::JsonOut`:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_resource_is_a_page_resource() {
    let mut wrong = Vec::new();
    for (path, text) in app_sources() {
        if path.ends_with("codec.rs") {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            for made in [
                "Resource::new(",
                "Resource::new_blocking(",
                "ArcResource::new",
            ] {
                // A `LocalResource` runs only in the browser and is never serialised.
                if line.contains(made) && !line.contains("LocalResource::new") {
                    wrong.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "resources not made by crate::codec::page_resource:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_form_is_the_apps_action_form() {
    let mut forms = 0;
    let mut wrong = Vec::new();
    for (path, text) in app_sources() {
        if !text.contains("<ActionForm") {
            continue;
        }
        forms += 1;
        if !text.contains("use crate::components::ActionForm;")
            && !text.contains("use super::ActionForm;")
        {
            wrong.push(path.display().to_string());
        }
    }
    assert!(forms >= 5, "only {forms} files with forms found");
    assert!(
        wrong.is_empty(),
        "files whose <ActionForm> is Leptos' own (import crate::components::ActionForm):\n{}",
        wrong.join("\n")
    );
}
