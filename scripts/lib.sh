# Shared steps of scripts/run and scripts/test. Everything comes from crates.io, npm or
# Debian's packages, at pinned versions; nothing is downloaded from anywhere else.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '\n==> %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

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

# What building the server needs: the `openssl` crate links Debian's OpenSSL 3 (PKCS#12).
ensure_build_deps() {
  apt_need_pkg pkg-config libssl-dev
}

# The wasm target for the hydrate half.
ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# Builds the browser half: app with `hydrate` for wasm32, then wasm-bindgen (our own
# scripts/bindgen, pinned by Cargo.lock to the same wasm-bindgen release as the app).
# PROFILE is dev or wasm-release. Output: target/site/pkg/certdesk.js + certdesk_bg.wasm.
build_wasm() {
  local profile=${1:-dev} dir
  ensure_wasm_target
  say "building the wasm bundle ($profile)"
  cargo build --locked -p certdesk-app --lib --target wasm32-unknown-unknown \
    --no-default-features --features hydrate --profile "$profile"
  case "$profile" in dev) dir=debug ;; *) dir=$profile ;; esac
  cargo build --locked -p certdesk-bindgen
  mkdir -p target/site/pkg
  target/debug/certdesk-bindgen "target/wasm32-unknown-unknown/$dir/certdesk_app.wasm" target/site/pkg certdesk
}
