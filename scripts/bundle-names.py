#!/usr/bin/env python3
"""bundle-names.py STAGE NAME: gives the release bundle in STAGE its content-hashed names.

STAGE holds what build_wasm made: NAME.js, NAME.wasm (the main module, after wasm-opt), the
lazy routes' parts (*.wasm, from certdesk-bindgen --split), their loader
__wasm_split.______________________.js and __wasm_split_manifest.json.

The main module's glue imports the loader and the loader imports the glue, so no file can
name another by a hash of its own content. One hash (the first 16 hex digits of SHA-256 over
every file's name and content) names them all instead: any change to any file gives every
file a new name, so each name still stands for one content and can be cached for a year.

Renames every file to STEM.HASH.EXT, rewrites the names inside the glue, the loader and the
manifest, and writes STAGE/hash.txt (js, wasm, split and manifest lines, as Leptos' hydration
scripts read it). Prints the hash.
"""

import hashlib
import json
import os
import sys

LOADER = "__wasm_split.______________________.js"
MANIFEST = "__wasm_split_manifest.json"


def main():
    stage, name = sys.argv[1], sys.argv[2]
    files = sorted(os.listdir(stage))
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.encode() + b"\0")
        with open(os.path.join(stage, f), "rb") as fh:
            digest.update(fh.read())
    h = digest.hexdigest()[:16]

    def hashed(f):
        stem, ext = f.rsplit(".", 1)
        if f == LOADER:
            stem = "__wasm_split"
        return f"{stem}.{h}.{ext}"

    def rewrite(f, pairs):
        path = os.path.join(stage, f)
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        for old, new in pairs:
            if old not in text:
                sys.exit(f"bundle-names: {f} does not name {old}")
            text = text.replace(old, new)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)

    parts = [f for f in files if f.endswith(".wasm") and f != f"{name}.wasm"]
    if parts:
        # Only the import statements: the same string is also the key of the wasm module's
        # imports, which the module names as it was built.
        rewrite(f"{name}.js", [(f'from "./{LOADER}"', f'from "./{hashed(LOADER)}"')])
        rewrite(LOADER, [(f'from "./{name}.js"', f'from "./{name}.{h}.js"')]
                + [(f'"./{p}"', f'"./{hashed(p)}"') for p in parts])
        with open(os.path.join(stage, MANIFEST), encoding="utf-8") as fh:
            manifest = json.load(fh)
        manifest = {k: [f"{stem}.{h}" for stem in v] for k, v in manifest.items()}
        with open(os.path.join(stage, MANIFEST), "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True)
    for f in files:
        os.rename(os.path.join(stage, f), os.path.join(stage, hashed(f)))
    with open(os.path.join(stage, "hash.txt"), "w", encoding="utf-8") as fh:
        fh.write(f"js: {h}\nwasm: {h}\n")
        if parts:
            fh.write(f"split: {h}\nmanifest: {h}\n")
    print(h)


if __name__ == "__main__":
    main()
