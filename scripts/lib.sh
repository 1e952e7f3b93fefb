# Shared steps of scripts/run and scripts/test. Everything comes from crates.io, npm or
# Debian's packages, at pinned versions; nothing is downloaded from anywhere else.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Where cargo builds: CARGO_TARGET_DIR if set (e.g. a worktree with its own), else ./target.
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac

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
# PROFILE is dev or wasm-release. Output: $TARGET_DIR/site/pkg/certdesk.js + certdesk_bg.wasm.
build_wasm() {
  local profile=${1:-dev} dir
  ensure_wasm_target
  say "building the wasm bundle ($profile)"
  cargo build --locked -p certdesk-app --lib --target wasm32-unknown-unknown \
    --no-default-features --features hydrate --profile "$profile"
  case "$profile" in dev) dir=debug ;; *) dir=$profile ;; esac
  cargo build --locked -p certdesk-bindgen
  mkdir -p "$TARGET_DIR/site/pkg"
  "$TARGET_DIR/debug/certdesk-bindgen" "$TARGET_DIR/wasm32-unknown-unknown/$dir/certdesk_app.wasm" \
    "$TARGET_DIR/site/pkg" certdesk
}
