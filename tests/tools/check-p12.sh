#!/usr/bin/env bash
# Checks a .p12 made by certdesk (backend/src/pkcs12.rs) with three independent importers:
#   1. OpenSSL 3 CLI   `openssl pkcs12 -info` (no -legacy): MAC, key/cert encryption, iterations,
#                      no RC2/PBMAC1, a private key, the client and CA certificates, a friendlyName
#                      on both the key bag and the client certificate bag, the same localKeyID.
#   2. NSS             `pk12util -i` into a fresh database, `certutil -L/-K`: the certificate's
#                      nickname (friendlyName) and its private key.
#   3. Python          `cryptography`'s `load_pkcs12`: key, certificate, key matches certificate,
#                      CA among the additional certificates (verifies the signature), friendlyName
#                      equal to the expected UTF-8 bytes.
#
# Usage: tests/tools/check-p12.sh FILE PASSWORD EXPECTED_FRIENDLY_NAME PROFILE
#   PROFILE is `modern` (PBES2/PBKDF2-HMAC-SHA256/AES-256-CBC, MAC SHA-256, 10,000 iterations) or
#   `compatible` (pbeWithSHAAnd3-KeyTripleDES-CBC, MAC SHA-1, 2,048 iterations).
# Exits 0 when every check passes, 1 when a check fails (each failure printed), 2 on bad usage or
# a missing tool. Installs nothing. Needs: openssl (3.x), pk12util and certutil (Debian
# libnss3-tools), python3 with cryptography >= 36.
set -euo pipefail

usage() {
    echo "usage: $0 FILE PASSWORD EXPECTED_FRIENDLY_NAME modern|compatible" >&2
    exit 2
}
[[ $# -eq 4 ]] || usage
FILE=$1
PASSWORD=$2
EXPECTED_NAME=$3
PROFILE=$4

case "$PROFILE" in
    modern)
        ITER=10000
        MAC_LINE="MAC: sha256, Iteration $ITER"
        ENC_DESC="PBES2, PBKDF2, AES-256-CBC, Iteration $ITER, PRF hmacWithSHA256"
        ;;
    compatible)
        ITER=2048
        MAC_LINE="MAC: sha1, Iteration $ITER"
        ENC_DESC="pbeWithSHA1And3-KeyTripleDES-CBC, Iteration $ITER"
        ;;
    *) echo "check-p12: unknown profile '$PROFILE'" >&2; usage ;;
esac
[[ -f "$FILE" ]] || { echo "check-p12: no such file: $FILE" >&2; exit 2; }

missing=0
need() { # tool, where it comes from
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "check-p12: missing tool: $1 ($2)" >&2
        missing=1
    fi
}
need openssl "Debian package openssl"
need pk12util "Debian package libnss3-tools"
need certutil "Debian package libnss3-tools"
need python3 "Debian package python3"
if [[ $missing -eq 0 ]] && ! python3 -c 'from cryptography.hazmat.primitives.serialization.pkcs12 import load_pkcs12' 2>/dev/null; then
    echo "check-p12: missing Python package: cryptography >= 36 (pip install cryptography)" >&2
    missing=1
fi
[[ $missing -eq 0 ]] || exit 2

FAILURES=()
fail() {
    FAILURES+=("$1")
    echo "FAIL [$1]" >&2
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------- 1. OpenSSL CLI
echo "== openssl: $(openssl version)"
if P12PASS=$PASSWORD openssl pkcs12 -info -in "$FILE" -passin env:P12PASS -noenc \
    >"$WORK/openssl.out" 2>&1; then
    # The MAC and encryption lines go to stderr, the bags and PEM blocks to stdout: both kept.
    # Text checks in Python only because the OpenSSL 3.0 CLI prints a non-ASCII friendlyName as
    # the low byte of each UTF-16 unit (garbled, not UTF-8); both renderings are accepted.
    if ! EXPECTED_NAME=$EXPECTED_NAME MAC_LINE=$MAC_LINE ENC_DESC=$ENC_DESC \
        python3 - "$WORK/openssl.out" <<'PY'
import os, sys

out = open(sys.argv[1], "rb").read()
expected = os.environ["EXPECTED_NAME"]
mac_line = os.environ["MAC_LINE"].encode()
enc_desc = os.environ["ENC_DESC"].encode()
# OpenSSL 3.0's rendering (OPENSSL_uni2asc, then "%s"): the low byte of each UTF-16BE code unit,
# cut at the first zero byte (U+4E00 "一" ends it; U+4E0A "上" prints a newline).
utf16 = expected.encode("utf-16-be")
garbled = bytes(utf16[i + 1] for i in range(0, len(utf16), 2)).split(b"\0")[0]
accepted = {expected.encode("utf-8"), garbled}
problems = []

def has(line):
    return any(l.strip() == line for l in out.split(b"\n"))

if not has(mac_line):
    problems.append(f"no line {mac_line.decode()!r}")
if not has(b"PKCS7 Encrypted data: " + enc_desc):
    problems.append(f"certificates not encrypted with {enc_desc.decode()!r}")
if not has(b"Shrouded Keybag: " + enc_desc):
    problems.append(f"key not encrypted with {enc_desc.decode()!r}")
# Only the descriptive lines: the PEM blocks are base64 of random keys and serials, and
# "RC2" turns up in base64 by chance (seen: one run in a few dozen).
import re
described = re.sub(rb"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----", b"", out, flags=re.S)
for bad in (b"RC2", b"rc2", b"PBMAC1"):
    if bad in described:
        problems.append(f"output mentions {bad.decode()}")

# One chunk per bag: each starts at a "Bag Attributes" line and ends with its PEM block. Raw
# byte search, not lines: a garbled name may contain a newline.
chunks = out.split(b"\nBag Attributes")[1:]
keys = [c for c in chunks if b"-----BEGIN PRIVATE KEY-----" in c or b"-----BEGIN ENCRYPTED PRIVATE KEY" in c]
certs = [c for c in chunks if b"-----BEGIN CERTIFICATE-----" in c]
if len(keys) != 1:
    problems.append(f"{len(keys)} private keys, expected 1")
if len(certs) < 2:
    problems.append(f"{len(certs)} certificates, expected the client's and the CA's")

def key_id(chunk):
    for l in chunk.split(b"\n"):
        if l.strip().startswith(b"localKeyID:"):
            return l.split(b":", 1)[1].strip()
    return None

def named(chunk):
    return sum(chunk.count(b"    friendlyName: " + name + b"\n") for name in accepted) == 1

leaf = [c for c in certs if key_id(c)]
if len(leaf) != 1:
    problems.append(f"{len(leaf)} certificates with a localKeyID, expected 1")
if keys and leaf:
    if key_id(keys[0]) != key_id(leaf[0]):
        problems.append(f"localKeyID of key {key_id(keys[0])} != certificate {key_id(leaf[0])}")
    for what, chunk in (("key bag", keys[0]), ("certificate bag", leaf[0])):
        if not named(chunk):
            got = [l for l in chunk.split(b"\n") if b"friendlyName" in l]
            problems.append(f"{what}: friendlyName {got!r}, expected {expected!r} (UTF-8 or {garbled!r})")
for p in problems:
    print(f"  openssl: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
    then
        fail "openssl pkcs12 -info: content does not match the $PROFILE profile"
    else
        echo "   ok: $MAC_LINE; $ENC_DESC; key + certificates; friendlyName on key and cert; localKeyID"
    fi
else
    sed 's/^/  openssl: /' "$WORK/openssl.out" >&2
    if grep -a -q -i 'RC2' "$WORK/openssl.out"; then
        fail "openssl pkcs12 -info: the file uses RC2 (OpenSSL 3 and curl reject it without -legacy)"
    else
        fail "openssl pkcs12 -info could not read the file (wrong password, MAC or decryption failed)"
    fi
fi

# ---------------------------------------------------------------- 2. NSS
echo "== nss: pk12util -i, certutil -L/-K"
DB="sql:$WORK/nssdb"
mkdir "$WORK/nssdb"
if ! certutil -N -d "$DB" --empty-password >"$WORK/nss.err" 2>&1; then
    sed 's/^/  nss: /' "$WORK/nss.err" >&2
    fail "certutil -N could not create an NSS database"
elif ! pk12util -i "$FILE" -d "$DB" -W "$PASSWORD" -K '' >"$WORK/nss.out" 2>&1; then
    sed 's/^/  nss: /' "$WORK/nss.out" >&2
    fail "pk12util -i could not import the file"
else
    nss_ok=1
    certutil -L -d "$DB" >"$WORK/nss.list" 2>&1 || true
    if ! certutil -L -d "$DB" -n "$EXPECTED_NAME" >/dev/null 2>&1; then
        sed 's/^/  nss: /' "$WORK/nss.list" >&2
        fail "NSS: no certificate with nickname '$EXPECTED_NAME' (certutil -L)"
        nss_ok=0
    fi
    # Certificates after the two header lines: the client's (u,u,u) and the CA's.
    ncerts=$(awk 'NR>3 && NF' "$WORK/nss.list" | wc -l)
    if [[ $ncerts -lt 2 ]]; then
        fail "NSS: $ncerts certificate(s) imported, expected the client's and the CA's"
        nss_ok=0
    fi
    certutil -K -d "$DB" >"$WORK/nss.keys" 2>&1 || true
    nkeys=$(grep -c '^<' "$WORK/nss.keys" || true)
    # A key listed under the certificate's nickname means NSS linked key and certificate.
    if [[ $nkeys -ne 1 ]] || ! grep -q -F -- "   $EXPECTED_NAME" "$WORK/nss.keys"; then
        sed 's/^/  nss: /' "$WORK/nss.keys" >&2
        fail "NSS: expected 1 private key linked to '$EXPECTED_NAME' (certutil -K)"
        nss_ok=0
    fi
    [[ $nss_ok -eq 0 ]] || echo "   ok: imported; nickname '$EXPECTED_NAME'; $ncerts certificates; key linked"
fi

# ---------------------------------------------------------------- 3. Python cryptography
echo "== python: cryptography $(python3 -c 'import cryptography; print(cryptography.__version__)')"
if ! P12PASS=$PASSWORD EXPECTED_NAME=$EXPECTED_NAME python3 - "$FILE" <<'PY'
import os, sys
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.hazmat.primitives.serialization.pkcs12 import load_pkcs12

problems = []
try:
    p12 = load_pkcs12(open(sys.argv[1], "rb").read(), os.environ["P12PASS"].encode("utf-8"))
except Exception as e:  # wrong MAC, unsupported algorithm, ...
    print(f"  python: load_pkcs12 failed: {e!r}", file=sys.stderr)
    sys.exit(1)
expected = os.environ["EXPECTED_NAME"].encode("utf-8")
if p12.key is None:
    problems.append("no private key")
if p12.cert is None:
    problems.append("no certificate")
else:
    cert = p12.cert.certificate
    if p12.cert.friendly_name != expected:
        problems.append(f"friendly name {p12.cert.friendly_name!r} != {expected!r} "
                        f"({expected.decode()!r} in UTF-8)")
    if p12.key is not None:
        pub = lambda k: k.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        if pub(p12.key.public_key()) != pub(cert.public_key()):
            problems.append("the private key does not match the certificate")
    if not p12.additional_certs:
        problems.append("no CA certificate in additional_certs")
    else:
        issuers = []
        for extra in p12.additional_certs:
            try:
                cert.verify_directly_issued_by(extra.certificate)
                issuers.append(extra)
            except Exception:
                pass
        if not issuers:
            problems.append("no additional certificate issued the client certificate")
for p in problems:
    print(f"  python: {p}", file=sys.stderr)
if not problems:
    print(f"   ok: key, certificate {p12.cert.certificate.subject.rfc4514_string()!r}, "
          f"{len(p12.additional_certs)} CA certificate(s), friendly name {expected.decode()!r}")
sys.exit(1 if problems else 0)
PY
then
    fail "python cryptography load_pkcs12 checks"
fi

if [[ ${#FAILURES[@]} -gt 0 ]]; then
    echo "check-p12: $FILE: ${#FAILURES[@]} check(s) failed:" >&2
    printf '  - %s\n' "${FAILURES[@]}" >&2
    exit 1
fi
echo "check-p12: $FILE: all checks passed ($PROFILE)"
