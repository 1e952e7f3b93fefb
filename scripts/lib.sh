# Shared steps of scripts/run and scripts/test. Everything comes from crates.io, npm or
# Debian's packages, at pinned versions; nothing is downloaded from anywhere else.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Where cargo builds: CARGO_TARGET_DIR if set (e.g. a worktree with its own), else ./target.
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac

# Leptos' erased view types for every cargo run of scripts/run and scripts/test, the server's
# as well as the browser's: they cut the browser bundle by a third (issue 16: at most 400 KB
# gzip), and they change the markup the server renders, which the browser must hydrate as it is.
# The lints and tests so build what is served. (A plain `cargo build` without it makes a server
# whose pages a bundle built here does not hydrate.)
case " ${RUSTFLAGS:-} " in
  *" --cfg erase_components "*) ;;
  *) export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--cfg erase_components" ;;
esac

say() { printf '\n==> %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The SMTP server the notice test starts (tests/tools/smtp_sink.py): aiosmtpd from PyPI,
# pinned with its dependencies.
ensure_smtp_sink() {
  apt_need python3 python3 python3-pip
  python3 -c 'import aiosmtpd' 2>/dev/null && return 0
  python3 -m pip --version >/dev/null 2>&1 || apt_need pip3 python3-pip
  say "installing aiosmtpd (PyPI, pinned)"
  local pins=(aiosmtpd==1.4.6 atpublic==9.0.0 attrs==26.1.0)
  python3 -m pip install --quiet --disable-pip-version-check "${pins[@]}" 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${pins[@]}"
}

# Python `cryptography` (PyPI, pinned), one of the three importers tests/tools/check-p12.sh runs.
ensure_p12_checkers() {
  python3 -c 'import cryptography, sys; sys.exit(cryptography.__version__ != "48.0.0")' 2>/dev/null && return 0
  python3 -m pip --version >/dev/null 2>&1 || apt_need pip3 python3-pip
  say "installing cryptography 48.0.0 (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check 'cryptography==48.0.0' 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages 'cryptography==48.0.0'
}

# Python `openpyxl` (PyPI, pinned with its one dependency): the third-party producer of the
# workbooks the users-import tests read (tests/api/workbooks.rs, tests/e2e/specs/workbooks.test.mjs).
ensure_openpyxl() {
  python3 -c 'import openpyxl, sys; sys.exit(openpyxl.__version__ != "3.1.5")' 2>/dev/null && return 0
  python3 -m pip --version >/dev/null 2>&1 || apt_need pip3 python3-pip
  say "installing openpyxl 3.1.5 (PyPI)"
  local pins=(openpyxl==3.1.5 et-xmlfile==2.0.0)
  python3 -m pip install --quiet --disable-pip-version-check "${pins[@]}" 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${pins[@]}"
}

# Debian packages, installed only when a command is missing: apt_need COMMAND PACKAGE...
apt_updated=0
apt_need() {
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  say "installing Debian packages: $*"
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Debian packages without a command of their own (libraries): apt_need_pkg PACKAGE...
apt_need_pkg() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} = 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# What building the server needs from Debian: nothing beyond the C compiler Rust links with.
# The server is pure Rust but for aws-lc-sys (rustls', rcgen's and lettre's crypto), which
# builds AWS-LC from its own sources; no OpenSSL (issue 17), so no libssl-dev or pkg-config.
ensure_build_deps() {
  :
}

# The wasm target for the hydrate half.
ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# The console's wasm links with its relocations kept: certdesk-bindgen --split needs them to cut
# the bundle at its lazy routes (the linker's flag; cargo keeps these artefacts apart from the
# other wasm32 builds', so neither rebuilds the other's). Not for the enrolment bundle, which is
# not split: wasm-opt cannot shrink a module that keeps its linking section (83 -> 256 KB gzip).
console_wasm_cargo() { RUSTFLAGS="$RUSTFLAGS -C link-arg=--emit-relocs" cargo "$@"; }

# The wasm-opt run of both release bundles. -Oz without inlining: with binaryen 108's default
# inlining the file shrinks but its gzip and brotli forms grow (885 -> 984 KB gzip); without it
# both shrink a little. The --enable flags are the features rustc's wasm32-unknown-unknown
# target turns on.
wasm_opt() {
  wasm-opt -Oz --always-inline-max-function-size=0 --one-caller-inline-max-function-size=0 \
    --flexible-inline-max-function-size=0 \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue "$1" -o "$2"
}

# FILE.br (brotli 11) and FILE.gz beside each FILE, as the server sends them. zopfli writes
# gzip that any browser reads, ~4 % smaller than `gzip --best` (20 s).
precompress() {
  local f
  for f in "$@"; do
    brotli --best --keep --force "$f"
    zopfli "$f"
  done
}

# Builds the browser half: app with `hydrate` for wasm32, then certdesk-bindgen --split (our
# own scripts/bindgen, pinned by Cargo.lock to the same wasm-bindgen release as the app): every
# page but the pickup page is a lazy route (app/src/routes.rs), whose part the browser fetches
# the first time it is shown, so what every page loads stays small.
# PROFILE is dev or wasm-release. Output in SITE_DIR (default $TARGET_DIR/site):
# - dev: pkg/certdesk.js + pkg/certdesk_bg.wasm, the parts (pkg/chunk_N.wasm,
#   pkg/split_*.wasm), their loader and manifest, as built (the server compresses on the fly);
# - wasm-release: no name/producers/debug sections, each module shrunk by Debian's wasm-opt,
#   then every file named with the bundle's hash (scripts/bundle-names.py:
#   pkg/certdesk.HASH.js, pkg/certdesk.HASH.wasm, pkg/__wasm_split.HASH.js, the parts'
#   pkg/STEM.HASH.wasm, pkg/__wasm_split_manifest.HASH.json), each with a .br and a .gz
#   (zopfli), and hash.txt naming them.
build_wasm() {
  local profile=${1:-dev} dir site=${SITE_DIR:-$TARGET_DIR/site} stage release=()
  ensure_wasm_target
  say "building the wasm bundle ($profile)"
  case "$profile" in dev) dir=debug ;; *) dir=$profile; release=(--release) ;; esac
  console_wasm_cargo build --locked -p certdesk-app --lib --target wasm32-unknown-unknown \
    --no-default-features --features hydrate --profile "$profile"
  cargo build --locked -p certdesk-bindgen
  stage=$(mktemp -d)
  "$TARGET_DIR/debug/certdesk-bindgen" "$TARGET_DIR/wasm32-unknown-unknown/$dir/certdesk_app.wasm" \
    "$stage" certdesk --split "${release[@]}"
  if [ "$profile" != dev ]; then
    apt_need wasm-opt binaryen
    apt_need brotli brotli
    apt_need zopfli zopfli
    apt_need python3 python3
    say "wasm-opt -Oz, content hashes, brotli and gzip (zopfli)"
    local f
    wasm_opt "$stage/certdesk_bg.wasm" "$stage/certdesk.wasm"
    # binaryen 108 points wasm-bindgen's externref table export at the function table.
    python3 scripts/wasm-table-exports.py "$stage/certdesk_bg.wasm" "$stage/certdesk.wasm"
    rm "$stage/certdesk_bg.wasm"
    for f in "$stage"/*.wasm; do
      [ "$f" = "$stage/certdesk.wasm" ] || wasm_opt "$f" "$f"
    done
    python3 scripts/bundle-names.py "$stage" certdesk >/dev/null
    precompress "$stage"/*.js "$stage"/*.wasm
  fi
  # The previous bundle goes (hashed or not), then the new one; hash.txt last.
  mkdir -p "$site/pkg"
  rm -rf "$site/hash.txt" "$site/pkg"/*
  local hash_txt=""
  [ -f "$stage/hash.txt" ] && hash_txt="$stage/hash.txt.keep" && mv "$stage/hash.txt" "$hash_txt"
  find "$stage" -mindepth 1 -maxdepth 1 ! -name hash.txt.keep -exec mv -t "$site/pkg" {} +
  [ -n "$hash_txt" ] && mv "$hash_txt" "$site/hash.txt"
  rm -rf "$stage"
}

# The release bundle's size as sent to a browser that takes gzip must stay at most 400 KB
# (issue 16; 400 000 bytes, the stricter reading), both for what every page loads (the glue,
# the main module and the lazy parts' loader: .js.gz + .wasm.gz + .js.gz) and for the heaviest
# page's first visit (that plus its lazy parts, the manifest's files). Each page's parts are
# printed too. Fails when a figure is over its limit.
check_bundle_size() {
  # One bundle of 527,256 bytes gzip / 409,210 brotli (2026-12-05) before every page but the
  # pickup page became a lazy route; then 255,668 / 215,750 for every page and 392,108 gzip
  # for the heaviest first visit (distribution). Brotli is held there (+~4 KB).
  local site=${SITE_DIR:-$TARGET_DIR/site} gz_limit=400000 br_limit=220000 page_limit=400000
  local raw=0 gz=0 br=0 f hash
  [ -f "$site/hash.txt" ] || { echo "no release bundle in $site (hash.txt missing)" >&2; return 1; }
  hash=$(sed -n 's/^js: *//p' "$site/hash.txt")
  for f in "$site/pkg/certdesk.$hash.js" "$site/pkg/certdesk.$hash.wasm" "$site/pkg/__wasm_split.$hash.js"; do
    raw=$((raw + $(stat -c %s "$f")))
    gz=$((gz + $(stat -c %s "$f.gz")))
    br=$((br + $(stat -c %s "$f.br")))
  done
  printf 'browser bundle, every page (glue + main module + loader): %d bytes raw, %d gzip (limit %d), %d brotli (limit %d)\n' \
    "$raw" "$gz" "$gz_limit" "$br" "$br_limit"
  local heaviest
  heaviest=$(python3 - "$site/pkg" "$hash" "$gz" <<'PY'
import json, os, sys
pkg, h, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
manifest = json.load(open(os.path.join(pkg, f"__wasm_split_manifest.{h}.json")))
heaviest = 0
for route, stems in sorted(manifest.items()):
    size = sum(os.path.getsize(os.path.join(pkg, f"{s}.wasm.gz")) for s in stems)
    name = route.strip("_").rsplit("_", 1)[0]
    print(f"  lazy part {name}: {size} bytes gzip in {len(stems)} files", file=sys.stderr)
    heaviest = max(heaviest, size)
print(first + heaviest)
PY
)
  printf 'the heaviest page'"'"'s first visit (every page'"'"'s files + its parts): %d bytes gzip (limit %d)\n' \
    "$heaviest" "$page_limit"
  if [ "$br" -gt "$br_limit" ] || [ "$gz" -gt "$gz_limit" ] || [ "$heaviest" -gt "$page_limit" ]; then
    echo "FAIL: the release bundle is over its limit ($gz bytes gzip, $br brotli; heaviest page $heaviest gzip)" >&2
    return 1
  fi
}

# Builds the enrolment page's own bundle (enroll/, issue 17): certdesk-enroll for wasm32, then
# wasm-bindgen as for the console. Loaded only by /enroll and the check page's renewal control,
# never by the console, so the console's bundle does not grow. PROFILE is dev or wasm-release.
# Output in SITE_DIR/enroll (default $TARGET_DIR/site/enroll):
# - dev: pkg/certdesk_enroll.js + pkg/certdesk_enroll_bg.wasm;
# - wasm-release: shrunk by wasm-opt like the console's, pkg/certdesk_enroll.HASH.js and
#   pkg/certdesk_enroll.HASH.wasm with their .br/.gz, and hash.txt naming them (the server
#   serves them under /enroll/pkg, cached for a year).
build_enroll_wasm() {
  local profile=${1:-dev} dir site=${SITE_DIR:-$TARGET_DIR/site} stage release=() name=certdesk_enroll
  ensure_wasm_target
  say "building the enrolment bundle ($profile)"
  case "$profile" in dev) dir=debug ;; *) dir=$profile; release=(--release) ;; esac
  cargo build --locked -p certdesk-enroll --lib --target wasm32-unknown-unknown --profile "$profile"
  cargo build --locked -p certdesk-bindgen
  stage=$(mktemp -d)
  "$TARGET_DIR/debug/certdesk-bindgen" "$TARGET_DIR/wasm32-unknown-unknown/$dir/$name.wasm" \
    "$stage" "$name" "${release[@]}"
  if [ "$profile" != dev ]; then
    apt_need wasm-opt binaryen
    apt_need brotli brotli
    apt_need zopfli zopfli
    apt_need python3 python3
    wasm_opt "$stage/${name}_bg.wasm" "$stage/$name.opt.wasm"
    python3 scripts/wasm-table-exports.py "$stage/${name}_bg.wasm" "$stage/$name.opt.wasm"
    local js_hash wasm_hash
    js_hash=$(sha256sum "$stage/$name.js" | cut -c1-16)
    wasm_hash=$(sha256sum "$stage/$name.opt.wasm" | cut -c1-16)
    mv "$stage/$name.js" "$stage/$name.$js_hash.js"
    mv "$stage/$name.opt.wasm" "$stage/$name.$wasm_hash.wasm"
    rm "$stage/${name}_bg.wasm"
    precompress "$stage/$name.$js_hash.js" "$stage/$name.$wasm_hash.wasm"
    printf 'js: %s\nwasm: %s\n' "$js_hash" "$wasm_hash" >"$stage/hash.txt"
  fi
  mkdir -p "$site/enroll/pkg"
  rm -rf "$site/enroll/hash.txt" "$site/enroll/pkg"/*
  [ -f "$stage/hash.txt" ] && mv "$stage/hash.txt" "$site/enroll/hash.txt.new"
  find "$stage" -mindepth 1 -maxdepth 1 -exec mv -t "$site/enroll/pkg" {} +
  [ -f "$site/enroll/hash.txt.new" ] && mv "$site/enroll/hash.txt.new" "$site/enroll/hash.txt"
  rm -rf "$stage"
}
