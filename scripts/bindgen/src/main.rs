//! `certdesk-bindgen IN.wasm OUT_DIR NAME [--release] [--split]`: writes `NAME.js` and
//! `NAME_bg.wasm` for `--target web`, as Leptos' hydration script loads them. With `--release`
//! the wasm keeps no `name` and no `producers` section (the names alone were 4.5 MB of the
//! bundle); DWARF is never kept.
//!
//! With `--split` the input (linked with `--emit-relocs`) is first cut at its `#[lazy]`
//! functions (Leptos' lazy routes) by `wasm_split_cli_support`, the library cargo-leptos
//! uses: the main module goes through wasm-bindgen as above; each lazy part becomes its own
//! `OUT_DIR/*.wasm`, fetched by `OUT_DIR/__wasm_split.js` the first time it is needed, and
//! `OUT_DIR/__wasm_split_manifest.json` names the files each lazy part needs (the server
//! preloads them for the route a page was rendered for).
//!
//! Why not `cargo install wasm-bindgen-cli --locked`: the CLI's own lockfile names releases of
//! its dependencies that a registry mirror may not serve, and without `--locked` they float.
//! This tool uses the same library the CLI is built on, pinned by our Cargo.lock.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The loader's file name as the main module imports it (Leptos' placeholder, which
/// `scripts/bundle-names.py` replaces with the bundle's hash in a release build).
const LOADER: &str = "__wasm_split.______________________.js";
/// The lazy parts and the files each needs, as Leptos reads it.
const MANIFEST: &str = "__wasm_split_manifest.json";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut flag = |name: &str| match args.iter().position(|a| a == name) {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    };
    let release = flag("--release");
    let split = flag("--split");
    let [input, out_dir, name] = args.as_slice() else {
        eprintln!("usage: certdesk-bindgen IN.wasm OUT_DIR NAME [--release] [--split]");
        return ExitCode::from(2);
    };
    let out_dir = Path::new(out_dir);
    let input = if split {
        match split_lazy_parts(Path::new(input), out_dir, name) {
            Ok(main) => main,
            Err(e) => {
                eprintln!("wasm split failed: {e:#}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        PathBuf::from(input)
    };
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    let result = bindgen
        .input_path(&input)
        .out_name(name)
        .typescript(false)
        .keep_debug(false)
        .remove_name_section(release)
        .remove_producers_section(release)
        // The lazy parts call the main module's functions by their linker names.
        .keep_lld_exports(split)
        .demangle(!split)
        .web(true)
        .and_then(|b| b.generate(out_dir));
    if split {
        // Only an intermediate file: wasm-bindgen has written NAME_bg.wasm from it.
        let _ = std::fs::remove_file(&input);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasm-bindgen failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Cuts `input` at its split points into `out_dir`; returns the main module's path.
fn split_lazy_parts(input: &Path, out_dir: &Path, name: &str) -> Result<PathBuf, String> {
    let wasm = std::fs::read(input).map_err(|e| format!("{}: {e}", input.display()))?;
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let main_out = out_dir.join(format!("{name}_split_main.wasm"));
    let link_name = format!("./{LOADER}");
    let main_module = format!("./{name}.js");
    let mut opts = wasm_split_cli_support::Options::new(&wasm);
    opts.output_dir = out_dir;
    opts.main_out_path = &main_out;
    opts.link_name = &link_name;
    opts.main_module = &main_module;
    let split = wasm_split_cli_support::transform(opts).map_err(|e| format!("{e:#}"))?;
    // The parts keep the input's custom sections (names and relocations only the splitter
    // needed); the browser needs none of them, and wasm-opt warns about their stale entries.
    for part in &split.split_modules {
        let bytes = std::fs::read(part).map_err(|e| format!("{}: {e}", part.display()))?;
        let bytes = without_custom_sections(&bytes)
            .ok_or_else(|| format!("{}: not a wasm module the splitter wrote", part.display()))?;
        std::fs::write(part, bytes).map_err(|e| format!("{}: {e}", part.display()))?;
    }
    // Sorted, so that the same input gives the same manifest.
    let parts: std::collections::BTreeMap<_, _> = split.prefetch_map.into_iter().collect();
    let manifest = serde_json::to_string_pretty(&parts).map_err(|e| e.to_string())?;
    std::fs::write(out_dir.join(MANIFEST), manifest).map_err(|e| format!("{MANIFEST}: {e}"))?;
    Ok(main_out)
}

/// The module with its custom sections (id 0) left out; `None` if it is not a wasm module.
fn without_custom_sections(wasm: &[u8]) -> Option<Vec<u8>> {
    const HEADER: usize = 8;
    if wasm.len() < HEADER || &wasm[..4] != b"\0asm" {
        return None;
    }
    let mut out = wasm[..HEADER].to_vec();
    let mut at = HEADER;
    while at < wasm.len() {
        let id = wasm[at];
        let (len, len_bytes) = leb128_u32(&wasm[at + 1..])?;
        let end = (at + 1 + len_bytes).checked_add(len as usize)?;
        if end > wasm.len() {
            return None;
        }
        if id != 0 {
            out.extend_from_slice(&wasm[at..end]);
        }
        at = end;
    }
    Some(out)
}

/// An unsigned LEB128 number at the start of `bytes`, and how many bytes it took.
fn leb128_u32(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value: u32 = 0;
    for (i, &b) in bytes.iter().enumerate().take(5) {
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{leb128_u32, without_custom_sections};

    #[test]
    fn custom_sections_are_left_out_and_the_rest_kept() {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        // A custom section "name" (id 0) of 5 bytes, then a type section (id 1) of 1 byte.
        wasm.extend_from_slice(&[0, 5, 4, b'n', b'a', b'm', b'e']);
        wasm.extend_from_slice(&[1, 1, 0]);
        let out = without_custom_sections(&wasm).expect("a module");
        assert_eq!(out, b"\0asm\x01\0\0\0\x01\x01\0");
        assert!(without_custom_sections(b"\0asm\x01\0\0\0\x01\x05\0").is_none());
        assert!(without_custom_sections(b"not wasm").is_none());
        assert_eq!(leb128_u32(&[0xe5, 0x8e, 0x26]), Some((624_485, 3)));
    }
}
