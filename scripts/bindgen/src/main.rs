//! `certdesk-bindgen IN.wasm OUT_DIR NAME [--release]`: writes `NAME.js` and `NAME_bg.wasm`
//! for `--target web`, as Leptos' hydration script loads them. With `--release` the wasm
//! keeps no `name` and no `producers` section (the names alone were 4.5 MB of the bundle);
//! DWARF is never kept.
//!
//! Why not `cargo install wasm-bindgen-cli --locked`: the CLI's own lockfile names releases of
//! its dependencies that a registry mirror may not serve, and without `--locked` they float.
//! This tool uses the same library the CLI is built on, pinned by our Cargo.lock.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let release = match args.iter().position(|a| a == "--release") {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    };
    let [input, out_dir, name] = args.as_slice() else {
        eprintln!("usage: certdesk-bindgen IN.wasm OUT_DIR NAME [--release]");
        return ExitCode::from(2);
    };
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    let result = bindgen
        .input_path(input)
        .out_name(name)
        .typescript(false)
        .keep_debug(false)
        .remove_name_section(release)
        .remove_producers_section(release)
        .web(true)
        .and_then(|b| b.generate(out_dir));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasm-bindgen failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
