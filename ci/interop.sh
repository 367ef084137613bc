#!/usr/bin/env bash
# The interop suite (issue 5): drives the software people already run against the
# built ferrohsm module on a fresh store, and asserts real results: signatures that
# OpenSSL verifies, TLS handshakes that complete and carry data, bytes that match.
#
#   1a. ci/pkcs11-tool.sh, run as it is: token, PINs, certificates and data
#       objects, random, digests, deletion, PIN lock (its own fresh store).
#   1b. pkcs11-tool: key pairs (RSA-2048/3072, P-256/384/521), AES keys, public
#       keys read back, signatures, encryption, ECDH, wrap and unwrap, and the
#       tool's own self-tests (--test --login, --test-ec).
#   2.  OpenSSL 3 through the libp11 engine, with pkcs11: URIs: certificates and
#       CSRs, s_server over TLS 1.3 and 1.2, pkeyutl sign, decrypt and derive, cms.
#   3.  GnuTLS: p11tool lists, generates, test-signs, stores a certificate and sets
#       up a token alone; certtool signs certificates that both libraries accept.
#   4.  p11-kit: pkcs11/ferrohsm.module installed per user and seen by p11-kit;
#       one store shared by `ferrohsm serve` with two clients at once.
#   5.  Python: PyKCS11 logs in, makes keys, signs, verifies, AES-GCM, OAEP wrap.
#
# docs/interop.md shows each command with its output. Parts 1b to 5 share one
# store, in that order (later parts use the keys made in 1b); `ferrohsm serve`
# runs last, since while it runs only its clients may open the store.
#
# Usage: ci/interop.sh [--no-pkcs11-tool-sh]
#   --no-pkcs11-tool-sh  skip part 1a (ci/test.sh runs ci/pkcs11-tool.sh just before)
#
# Module: $FERROHSM_MODULE, else target/release/libferrohsm_pkcs11.so; the CLI:
# $FERROHSM_BIN, else target/release/ferrohsm; built with cargo when missing.
# Installs the Debian packages it needs when a tool is missing.
#
# Prints one line per check and a closing `N passed, N failed` line; exits 1 when
# any check failed, 2 when it cannot run at all.

set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
START=$(date +%s)

RUN_PKCS11_TOOL_SH=1
for arg in "$@"; do
    case $arg in
    --no-pkcs11-tool-sh) RUN_PKCS11_TOOL_SH=0 ;;
    *)
        echo "usage: ci/interop.sh [--no-pkcs11-tool-sh]" >&2
        exit 2
        ;;
    esac
done

die() {
    echo "interop.sh: $*" >&2
    exit 2
}

# --- Tools ---------------------------------------------------------------------------

ARCH_LIB=/usr/lib/$(uname -m)-linux-gnu
ENGINE=$ARCH_LIB/engines-3/pkcs11.so
CLIENT_MODULE=$ARCH_LIB/pkcs11/p11-kit-client.so
# Debian's python3 has python3-pykcs11; a python3 earlier in PATH (pyenv) may not.
PY=/usr/bin/python3

need=()
command -v pkcs11-tool >/dev/null || need+=(opensc)
command -v openssl >/dev/null || need+=(openssl)
[ -f "$ENGINE" ] || need+=(libengine-pkcs11-openssl)
command -v p11tool >/dev/null && command -v certtool >/dev/null || need+=(gnutls-bin)
command -v p11-kit >/dev/null || need+=(p11-kit)
[ -f "$CLIENT_MODULE" ] || need+=(p11-kit-modules)
[ -x "$PY" ] || need+=(python3)
"$PY" -c 'import PyKCS11' 2>/dev/null || need+=(python3-pykcs11)
"$PY" -c 'import cryptography' 2>/dev/null || need+=(python3-cryptography)
command -v cmp >/dev/null || need+=(diffutils)
command -v setpriv >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "interop.sh: installing ${need[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq "${need[@]}" >&2 || die "cannot install ${need[*]}; install them and retry"
fi

MODULE=${FERROHSM_MODULE:-$REPO/target/release/libferrohsm_pkcs11.so}
FERROHSM=${FERROHSM_BIN:-$REPO/target/release/ferrohsm}
if [ ! -f "$MODULE" ] || [ ! -x "$FERROHSM" ]; then
    [ -n "${FERROHSM_MODULE:-}" ] && [ ! -f "$MODULE" ] && die "FERROHSM_MODULE=$MODULE does not exist"
    [ -n "${FERROHSM_BIN:-}" ] && [ ! -x "$FERROHSM" ] && die "FERROHSM_BIN=$FERROHSM does not exist"
    echo "interop.sh: building the module and the CLI (release)" >&2
    (cd "$REPO" && cargo build --release -p ferrohsm-pkcs11 -p ferrohsm-tools >&2) || die "cargo build failed"
fi
MODULE=$(cd "$(dirname "$MODULE")" && pwd)/$(basename "$MODULE")

# --- A fresh store, isolated from any user configuration ------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferrohsm-interop.XXXXXX") || die "mktemp failed"
# On exit, stop the background jobs of this shell still running (servers, clients).
cleanup() {
    local jobs_left
    jobs_left=$(jobs -pr)
    # shellcheck disable=SC2086 # one PID per word
    [ -n "$jobs_left" ] && kill $jobs_left 2>/dev/null
    wait 2>/dev/null
    # FERROHSM_INTEROP_KEEP=DIR keeps a copy of the work directory (store, outputs), to
    # look at a failure or to redo a recipe of docs/interop.md.
    [ -n "${FERROHSM_INTEROP_KEEP:-}" ] && cp -a "$WORK" "$FERROHSM_INTEROP_KEEP"
    rm -rf "$WORK"
}
trap cleanup EXIT
export FERROHSM_STORE=$WORK/store
export XDG_CONFIG_HOME=$WORK/config
unset FERROHSM_CONF FERROHSM_LOG FERROHSM_PROVIDER OPENSSL_CONF P11_KIT_SERVER_ADDRESS GNUTLS_PIN
cd "$WORK" || die "cannot enter $WORK"

TOKEN=interop
SO_PIN=12345678
PIN=123456

# --- Check helpers (those of ci/pkcs11-tool.sh) ------------------------------------------

PASSED=0
FAILED=0
OUT=""
ERR=""
RC=0

# run COMMAND...: runs it; sets OUT (stdout), ERR (stderr), RC.
run() {
    OUT=$("$@" 2>"$WORK/stderr" </dev/null)
    RC=$?
    ERR=$(cat "$WORK/stderr")
}
# p11 ARGS...: pkcs11-tool on the module.
p11() { run pkcs11-tool --module "$MODULE" "$@"; }
# ossl ARGS...: openssl with the libp11 engine configured for the module.
ossl() { run env OPENSSL_CONF="$WORK/engine.cnf" openssl "$@"; }

pass() {
    PASSED=$((PASSED + 1))
    printf 'ok    %s\n' "$1"
}

# fail DESCRIPTION [DETAIL]: records a failure, with the last call's output.
fail() {
    FAILED=$((FAILED + 1))
    printf 'FAIL  %s%s\n' "$1" "${2:+ ($2)}"
    printf '%s\n' "$OUT" "$ERR" | grep -v '^Using slot' | sed -e '/^$/d' -e 's/^/      | /' | head -n 20
}

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}

succeeded() { [ "$RC" -eq 0 ]; }
refused() { [ "$RC" -ne 0 ] && grep -qF -- "$1" <<<"$ERR"; }
out_has() { grep -qF -- "$1" <<<"$OUT"; }
out_lacks() { ! grep -qF -- "$1" <<<"$OUT"; }
all_has() { grep -qF -- "$1" <<<"$OUT$ERR"; }
# same FILE1 FILE2: both exist, are not empty, and hold the same bytes.
same() { [ -s "$1" ] && [ -s "$2" ] && cmp -s "$1" "$2"; }
hex() { od -An -tx1 -v "$1" | tr -d ' \n'; }
# xxd_r: hex on stdin to bytes on stdout (xxd -r -p, without needing xxd).
xxd_r() { "$PY" -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()))'; }

# sub DESCRIPTION COMMAND...: runs a script that prints ok/FAIL lines itself, and
# counts them; a script that fails without a FAIL line counts as one failure.
sub() {
    local desc=$1 out rc ok_n fail_n
    shift
    out=$("$@" 2>&1)
    rc=$?
    printf '%s\n' "$out" | grep -E '^(ok|FAIL) ' || true
    ok_n=$(grep -c '^ok ' <<<"$out")
    fail_n=$(grep -c '^FAIL ' <<<"$out")
    PASSED=$((PASSED + ok_n))
    FAILED=$((FAILED + fail_n))
    if [ "$rc" -ne 0 ] && [ "$fail_n" -eq 0 ]; then
        OUT=$out ERR=""
        fail "$desc exits 0" "exit $rc"
    fi
}

section() { printf '\n== %s\n' "$*"; }

# free_port: a loopback TCP port nobody listens on now.
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_line FILE TEXT SECONDS: waits until FILE has a line with TEXT.
wait_for_line() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

echo "module: $MODULE"
echo "cli:    $FERROHSM"
echo "store:  $FERROHSM_STORE"

# --- Test material ------------------------------------------------------------------------

head -c 100000 /dev/urandom >msg.bin
head -c 100000 /dev/urandom >other.bin
openssl dgst -sha256 -binary msg.bin >msg.sha256
openssl dgst -sha384 -binary msg.bin >msg.sha384
head -c 32 /dev/urandom >kek.bin          # an AES-256 key-encryption key
head -c 16 /dev/urandom >target.bin       # an AES-128 key to wrap
head -c 32 /dev/urandom >aes-known.bin    # an AES-256 key of known value
head -c 32 /dev/urandom >newkey.bin       # wrapped by OpenSSL, unwrapped by the token
head -c 32 /dev/urandom >newkey2.bin      # the same, under RSA
head -c 100 /dev/urandom >small.bin       # fits RSA encryption
IV=000102030405060708090a0b0c0d0e0f

# ==========================================================================================
if [ "$RUN_PKCS11_TOOL_SH" -eq 1 ]; then
    section "1a. pkcs11-tool: ci/pkcs11-tool.sh (token, PINs, objects, random, digests, deletion)"
    sub "ci/pkcs11-tool.sh" env FERROHSM_MODULE="$MODULE" "$REPO/ci/pkcs11-tool.sh"
fi

# ==========================================================================================
section "1b. pkcs11-tool: keys, signatures, encryption, ECDH, wrapping, self-tests"

p11 --init-token --label "$TOKEN" --so-pin "$SO_PIN"
check "--init-token on a fresh store" succeeded
p11 --init-pin --login --login-type so --so-pin "$SO_PIN" --pin "$PIN"
check "--init-pin" succeeded

# Key pairs: key type, CKA_ID, label, what pkcs11-tool prints for the public key.
while IFS='|' read -r type id label shows; do
    p11 --login --pin "$PIN" --keypairgen --key-type "$type" --id "$id" --label "$label"
    check "--keypairgen --key-type $type" eval 'succeeded && out_has "Key pair generated" && out_has "$shows"'
done <<'EOF'
rsa:2048|01|rsa2048|RSA 2048 bits
rsa:3072|02|rsa3072|RSA 3072 bits
EC:secp256r1|03|ec256|EC_PARAMS:  06082a8648ce3d030107
EC:secp384r1|04|ec384|EC_PARAMS:  06052b81040022
EC:secp521r1|05|ec521|EC_PARAMS:  06052b81040023
EOF
p11 --login --pin "$PIN" --list-objects --type privkey
keys_ok=1
for label in rsa2048 rsa3072 ec256 ec384 ec521; do
    grep -A4 "label:      $label\$" <<<"$OUT" | grep -q "Access:  *sensitive, always sensitive, never extractable, local" || keys_ok=0
done
check "the generated private keys are sensitive, always sensitive, never extractable, local" [ "$keys_ok" -eq 1 ]

p11 --login --pin "$PIN" --keygen --key-type AES:32 --id 10 --label aes256
check "--keygen --key-type AES:32" eval 'succeeded && out_has "AES length 32"'
p11 --login --pin "$PIN" --keygen --key-type AES:16 --id 11 --label aes128
check "--keygen --key-type AES:16" eval 'succeeded && out_has "AES length 16"'

# Public keys read back parse in OpenSSL as the keys asked for.
while IFS='|' read -r id label shows; do
    if [ "$label" = ec384 ]; then
        # pkcs11-tool 0.23's --read-object fails on every P-384 public key ("cannot
        # create EVP_PKEY"; SoftHSM's too): build the SubjectPublicKeyInfo from the
        # CKA_EC_POINT that --list-objects prints (a DER OCTET STRING, 04 61 ...).
        # (--list-objects ignores --id: take the EC_POINT printed above the label.)
        p11 --list-objects --type pubkey
        point=$(grep -B3 "label:      $label\$" <<<"$OUT" | sed -n 's/^ *EC_POINT: *0461\(04[0-9a-f]*\)$/\1/p')
        printf '%s' "3076301006072a8648ce3d020106052b81040022036200$point" | xxd_r >"$label.pub.der"
    else
        p11 --read-object --type pubkey --id "$id" -o "$label.pub.der"
    fi
    run openssl pkey -pubin -inform DER -in "$label.pub.der" -text -noout
    check "public key $label read back: OpenSSL reads $shows" eval 'succeeded && out_has "$shows"'
    openssl pkey -pubin -inform DER -in "$label.pub.der" -out "$label.pub.pem" 2>/dev/null
done <<'EOF'
01|rsa2048|Public-Key: (2048 bit)
02|rsa3072|Public-Key: (3072 bit)
03|ec256|NIST CURVE: P-256
04|ec384|NIST CURVE: P-384
05|ec521|NIST CURVE: P-521
EOF

# Signatures made by the token, verified by OpenSSL with the public keys read back.
p11 --login --pin "$PIN" --sign --id 01 -m SHA256-RSA-PKCS -i msg.bin -o rsa2048.sig
run openssl dgst -sha256 -verify rsa2048.pub.pem -signature rsa2048.sig msg.bin
check "SHA256-RSA-PKCS (RSA-2048): openssl dgst verifies" eval 'succeeded && out_has "Verified OK"'
run openssl dgst -sha256 -verify rsa2048.pub.pem -signature rsa2048.sig other.bin
check "... and rejects it over other data" eval '! succeeded && out_has "Verification failure"'
p11 --login --pin "$PIN" --sign --id 02 -m SHA256-RSA-PKCS -i msg.bin -o rsa3072.sig
run openssl dgst -sha256 -verify rsa3072.pub.pem -signature rsa3072.sig msg.bin
check "SHA256-RSA-PKCS (RSA-3072): openssl dgst verifies" eval 'succeeded && out_has "Verified OK"'

p11 --login --pin "$PIN" --sign --id 01 -m RSA-PKCS-PSS --hash-algorithm SHA256 --mgf MGF1-SHA256 \
    --salt-len 32 -i msg.sha256 -o pss.sig
run openssl pkeyutl -verify -pubin -inkey rsa2048.pub.pem -in msg.sha256 -sigfile pss.sig \
    -pkeyopt rsa_padding_mode:pss -pkeyopt digest:sha256 -pkeyopt rsa_pss_saltlen:32
check "RSA-PKCS-PSS (SHA-256 digest, MGF1-SHA256, salt 32): openssl pkeyutl verifies" \
    eval 'succeeded && out_has "Signature Verified Successfully"'
p11 --login --pin "$PIN" --sign --id 02 -m SHA384-RSA-PKCS-PSS --mgf MGF1-SHA384 -i msg.bin -o pss384.sig
run openssl dgst -sha384 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48 \
    -verify rsa3072.pub.pem -signature pss384.sig msg.bin
check "SHA384-RSA-PKCS-PSS (RSA-3072): openssl dgst verifies" eval 'succeeded && out_has "Verified OK"'

for curve in 256:03 384:04 521:05; do
    bits=${curve%%:*}
    id=${curve##*:}
    p11 --login --pin "$PIN" --sign --id "$id" -m ECDSA-SHA256 --signature-format openssl -i msg.bin -o "ec$bits.sig"
    run openssl dgst -sha256 -verify "ec$bits.pub.pem" -signature "ec$bits.sig" msg.bin
    check "ECDSA-SHA256 (P-$bits): openssl dgst verifies" eval 'succeeded && out_has "Verified OK"'
done
p11 --login --pin "$PIN" --sign --id 04 -m ECDSA --signature-format openssl -i msg.sha384 -o ec384raw.sig
run openssl pkeyutl -verify -pubin -inkey ec384.pub.pem -in msg.sha384 -sigfile ec384raw.sig
check "ECDSA over a SHA-384 digest (P-384): openssl pkeyutl verifies" \
    eval 'succeeded && out_has "Signature Verified Successfully"'
p11 --login --pin "$PIN" --sign --id 03 -m ECDSA -i msg.sha256 -o ec256rs.sig
check "ECDSA (P-256) in PKCS#11's r || s form is 64 bytes" \
    eval 'succeeded && [ "$(stat -c %s ec256rs.sig)" -eq 64 ]'

p11 --login --pin "$PIN" --keypairgen --key-type EC:edwards25519 --id 06 --label ed25519
check "--keypairgen --key-type EC:edwards25519" eval 'succeeded && out_has "EC_EDWARDS"'
# pkcs11-tool writes EdDSA public keys in PEM (other types in DER).
p11 --read-object --type pubkey --id 06 -o ed25519.pub.pem
p11 --login --pin "$PIN" --sign --id 06 -m EDDSA -i msg.bin -o ed25519.sig
run openssl pkeyutl -verify -pubin -inkey ed25519.pub.pem -rawin -in msg.bin -sigfile ed25519.sig
check "EDDSA (Ed25519): openssl pkeyutl -rawin verifies" eval 'succeeded && out_has "Signature Verified Successfully"'
# libp11 0.4.12 (part 2) cannot list the keys of a token that holds an Ed25519 key
# ("Unable to enumerate public keys"; SoftHSM's too), so the pair goes now.
p11 --login --pin "$PIN" --delete-object --type privkey --id 06
check "--delete-object --type privkey (the Ed25519 key)" succeeded
p11 --login --pin "$PIN" --delete-object --type pubkey --id 06
check "--delete-object --type pubkey (the Ed25519 key)" succeeded
p11 --login --pin "$PIN" --list-objects
check "... both halves are gone" eval 'succeeded && out_lacks "EC_EDWARDS" && out_lacks "label:      ed25519"'

p11 --verify --id 03 -m ECDSA-SHA256 --signature-format openssl -i msg.bin --signature-file ec256.sig
check "--verify (ECDSA-SHA256, the token verifies)" out_has "Signature is valid"
p11 --verify --id 03 -m ECDSA-SHA256 --signature-format openssl -i other.bin --signature-file ec256.sig
check "--verify over other data says 'Invalid signature'" out_has "Invalid signature"
p11 --verify --id 01 -m SHA256-RSA-PKCS -i msg.bin --signature-file rsa2048.sig
check "--verify (SHA256-RSA-PKCS)" out_has "Signature is valid"

# AES-CBC-PAD: a key of known value, imported, against openssl enc both ways; a
# generated key (never leaves the token) round trip.
p11 --login --pin "$PIN" --write-object aes-known.bin --type secrkey --key-type AES:32 --id 12 --label aes-known
check "--write-object --type secrkey (AES-256 of known value)" succeeded
p11 --login --pin "$PIN" --encrypt --id 12 -m AES-CBC-PAD --iv "$IV" -i msg.bin -o cbc.enc
run openssl enc -d -aes-256-cbc -K "$(hex aes-known.bin)" -iv "$IV" -in cbc.enc -out cbc.dec
check "AES-CBC-PAD --encrypt: openssl enc -d gives the plaintext back" eval 'succeeded && same cbc.dec msg.bin'
openssl enc -e -aes-256-cbc -K "$(hex aes-known.bin)" -iv "$IV" -in msg.bin -out ossl.enc
p11 --login --pin "$PIN" --decrypt --id 12 -m AES-CBC-PAD --iv "$IV" -i ossl.enc -o ossl.dec
check "AES-CBC-PAD --decrypt of openssl enc's ciphertext" eval 'succeeded && same ossl.dec msg.bin'
p11 --login --pin "$PIN" --encrypt --id 10 -m AES-CBC-PAD --iv "$IV" -i msg.bin -o gen.enc
p11 --login --pin "$PIN" --decrypt --id 10 -m AES-CBC-PAD --iv "$IV" -i gen.enc -o gen.dec
check "AES-CBC-PAD round trip with a generated AES-256 key" eval 'succeeded && same gen.dec msg.bin && ! same gen.enc msg.bin'
echo "note  AES-GCM is checked in part 5 (PyKCS11): pkcs11-tool 0.23 cannot pass GCM parameters"

# RSA: OpenSSL encrypts to the public key, the token decrypts.
openssl pkeyutl -encrypt -pubin -inkey rsa2048.pub.pem -in small.bin -out oaep256.enc \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 2>/dev/null
p11 --login --pin "$PIN" --decrypt --id 01 -m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA256 \
    -i oaep256.enc -o oaep256.dec
check "RSA-PKCS-OAEP (SHA-256) --decrypt of openssl's ciphertext" eval 'succeeded && same oaep256.dec small.bin'
openssl pkeyutl -encrypt -pubin -inkey rsa3072.pub.pem -in small.bin -out oaep1.enc -pkeyopt rsa_padding_mode:oaep 2>/dev/null
p11 --login --pin "$PIN" --decrypt --id 02 -m RSA-PKCS-OAEP --hash-algorithm SHA-1 --mgf MGF1-SHA1 -i oaep1.enc -o oaep1.dec
check "RSA-PKCS-OAEP (SHA-1, OpenSSL's default) --decrypt, RSA-3072" eval 'succeeded && same oaep1.dec small.bin'
openssl pkeyutl -encrypt -pubin -inkey rsa2048.pub.pem -in small.bin -out pkcs1.enc 2>/dev/null
p11 --login --pin "$PIN" --decrypt --id 01 -m RSA-PKCS -i pkcs1.enc -o pkcs1.dec
check "RSA-PKCS (v1.5) --decrypt of openssl's ciphertext" eval 'succeeded && same pkcs1.dec small.bin'

# ECDH: the token and OpenSSL agree on the shared secret with an OpenSSL peer key.
for curve in 256:03:P-256 384:04:P-384 521:05:P-521; do
    IFS=: read -r bits id name <<<"$curve"
    openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$name" -out "peer$bits.pem" 2>/dev/null
    openssl pkey -in "peer$bits.pem" -pubout -outform DER -out "peer$bits.pub.der"
    openssl pkeyutl -derive -inkey "peer$bits.pem" -peerkey "ec$bits.pub.pem" -out "ecdh$bits.ossl" 2>/dev/null
    p11 --login --pin "$PIN" --derive -m ECDH1-DERIVE --id "$id" -i "peer$bits.pub.der" -o "ecdh$bits.tok"
    check "ECDH1-DERIVE ($name): the token's secret equals openssl pkeyutl -derive's" \
        eval 'succeeded && same "ecdh$bits.tok" "ecdh$bits.ossl"'
done

# Wrap and unwrap, checked against OpenSSL's AES key wrap (RFC 3394) and RSA.
p11 --login --pin "$PIN" --write-object kek.bin --type secrkey --key-type AES:32 --id 20 --label kek --usage-wrap
check "--write-object of an AES-256 wrapping key" succeeded
p11 --login --pin "$PIN" --write-object target.bin --type secrkey --key-type AES:16 --id 21 --label wrap-me --extractable
check "--write-object of an extractable AES-128 key" succeeded
p11 --login --pin "$PIN" --wrap -m AES-KEY-WRAP --id 20 --application-id 21 -o aeskw.wrapped
run openssl enc -d -id-aes256-wrap -K "$(hex kek.bin)" -iv A6A6A6A6A6A6A6A6 -in aeskw.wrapped -out aeskw.unwrapped
check "AES-KEY-WRAP --wrap: OpenSSL's id-aes256-wrap unwraps the key's value" \
    eval 'succeeded && [ "$(stat -c %s aeskw.wrapped)" -eq 24 ] && same aeskw.unwrapped target.bin'
p11 --login --pin "$PIN" --wrap -m AES-KEY-WRAP --id 20 --application-id 10 -o never.wrapped
check "--wrap of a non-extractable key is refused (CKR_KEY_UNEXTRACTABLE)" refused CKR_KEY_UNEXTRACTABLE
openssl enc -e -id-aes256-wrap -K "$(hex kek.bin)" -iv A6A6A6A6A6A6A6A6 -in newkey.bin -out newkey.wrapped
p11 --login --pin "$PIN" --unwrap -m AES-KEY-WRAP --id 20 -i newkey.wrapped --key-type AES: \
    --application-id 22 --application-label unwrapped-aes
check "AES-KEY-WRAP --unwrap of OpenSSL's wrapped key" eval 'succeeded && out_has "AES length 32"'
p11 --login --pin "$PIN" --encrypt --id 22 -m AES-CBC-PAD --iv "$IV" -i msg.bin -o unwrapped.enc
run openssl enc -d -aes-256-cbc -K "$(hex newkey.bin)" -iv "$IV" -in unwrapped.enc -out unwrapped.dec
check "... the unwrapped key encrypts as the key OpenSSL wrapped" eval 'succeeded && same unwrapped.dec msg.bin'
p11 --login --pin "$PIN" --wrap -m RSA-PKCS --id 01 --application-id 21 -o rsa.wrapped
p11 --login --pin "$PIN" --decrypt --id 01 -m RSA-PKCS -i rsa.wrapped -o rsa.unwrapped
check "RSA-PKCS --wrap under RSA-2048, and the private key decrypts the key's value" \
    eval 'succeeded && same rsa.unwrapped target.bin'
openssl pkeyutl -encrypt -pubin -inkey rsa2048.pub.pem -in newkey2.bin -out newkey2.wrapped 2>/dev/null
p11 --login --pin "$PIN" --unwrap -m RSA-PKCS --id 01 -i newkey2.wrapped --key-type AES: \
    --application-id 23 --application-label unwrapped-rsa
p11 --login --pin "$PIN" --encrypt --id 23 -m AES-CBC-PAD --iv "$IV" -i msg.bin -o unwrapped2.enc
run openssl enc -d -aes-256-cbc -K "$(hex newkey2.bin)" -iv "$IV" -in unwrapped2.enc -out unwrapped2.dec
check "RSA-PKCS --unwrap of an OpenSSL-encrypted key; it encrypts as that key" \
    eval 'succeeded && same unwrapped2.dec msg.bin'

p11 --login --pin "$PIN" --delete-object --type secrkey --id 22
check "--delete-object --type secrkey" succeeded
p11 --login --pin "$PIN" --list-objects --type secrkey
check "... the deleted key is gone, the others stay" eval 'out_lacks "unwrapped-aes" && out_has "unwrapped-rsa"'

# pkcs11-tool's own self-tests. Without --allow-sw it skips the signature tests,
# as no ferrohsm mechanism claims CKF_HW (docs/interop.md); with it, it runs them.
p11 --test --login --pin "$PIN"
check "--test --login: no errors" eval 'succeeded && all_has "No errors" && ! grep -q "ERR" <<<"$OUT$ERR"'
p11 --test --login --pin "$PIN" --allow-sw
check "--test --login --allow-sw: no errors, signature tests ran" \
    eval 'succeeded && all_has "No errors" && all_has "all 4 signature functions seem to work" && ! grep -q "ERR" <<<"$OUT$ERR"'
p11 --test-ec --login --pin "$PIN" --session-rw --key-type EC:prime256v1 --id 99 --label test-ec
check "--test-ec --login: generate, sign, change attributes, delete" eval 'succeeded && out_has "==> OK"'

# ==========================================================================================
section "2. OpenSSL $(openssl version | cut -d' ' -f2) with the libp11 engine (pkcs11: URIs)"

cat >engine.cnf <<EOF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE
MODULE_PATH = $MODULE
init = 0
[req]
distinguished_name = dn
[dn]
EOF
uri() { echo "pkcs11:token=$TOKEN;object=$1;type=$2${3:+?pin-value=$PIN}"; }

ossl engine -t pkcs11
check "openssl engine -t pkcs11: the engine loads the module" out_has "[ available ]"

for key in rsa2048 rsa3072 ec256 ec384 ec521; do
    ossl pkey -engine pkcs11 -inform engine -pubin -in "$(uri "$key" public)" -pubout -outform DER -out "$key.engine.der"
    check "the engine's public key $key equals pkcs11-tool's" eval 'succeeded && same "$key.engine.der" "$key.pub.der"'
done

for key in rsa2048 ec256 ec384; do
    ossl req -new -x509 -days 30 -engine pkcs11 -keyform engine -key "$(uri "$key" private pin)" \
        -subj "/CN=ferrohsm $key" -addext basicConstraints=critical,CA:TRUE -out "$key.crt"
    run openssl verify -CAfile "$key.crt" "$key.crt"
    check "req -x509 with the token key $key: openssl verify accepts the certificate" \
        eval 'succeeded && out_has "$key.crt: OK"'
    openssl x509 -in "$key.crt" -pubkey -noout 2>/dev/null | openssl pkey -pubin -outform DER -out "$key.crt.pub.der" 2>/dev/null
    check "... and it holds the token's public key" same "$key.crt.pub.der" "$key.pub.der"
done
for key in rsa3072 ec521; do
    ossl req -new -engine pkcs11 -keyform engine -key "$(uri "$key" private pin)" -subj "/CN=ferrohsm $key" -out "$key.csr"
    run openssl req -in "$key.csr" -verify -noout
    check "req -new (CSR) with the token key $key: openssl req -verify accepts it" \
        eval 'succeeded && all_has "verify OK"'
    openssl req -in "$key.csr" -pubkey -noout 2>/dev/null | openssl pkey -pubin -outform DER -out "$key.csr.pub.der" 2>/dev/null
    check "... and it holds the token's public key" same "$key.csr.pub.der" "$key.pub.der"
done

# tls KEY CERT SIGTYPE: s_server signs with the token key; s_client (no engine)
# connects over TLS 1.3 and TLS 1.2 and trusts only CERT. -rev sends back each line
# reversed; CLOSE ends the connection.
tls() {
    local key=$1 cert=$2 sig12=$3 port srv version sigs pid
    for _ in 1 2 3; do
        port=$(free_port)
        srv=$WORK/s_server.$key.out
        env OPENSSL_CONF="$WORK/engine.cnf" openssl s_server -engine pkcs11 -keyform engine \
            -key "$(uri "$key" private pin)" -cert "$cert" -accept "127.0.0.1:$port" -rev -naccept 2 \
            >"$srv" 2>&1 &
        pid=$!
        wait_for_line "$srv" ACCEPT 10 && break
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for version in 1.3 1.2; do
        sigs=()
        # In TLS 1.2, ask for PKCS#1 v1.5 with the RSA key (TLS 1.3 signs with PSS).
        [ "$version" = 1.2 ] && [ "${key#rsa}" != "$key" ] && sigs=(-sigalgs RSA+SHA256)
        OUT=$(printf 'hello %s over TLS %s\nCLOSE\n' "$key" "$version" |
            timeout 20 openssl s_client -connect "127.0.0.1:$port" "-tls${version/./_}" "${sigs[@]}" \
                -CAfile "$cert" -verify_return_error -ign_eof -brief 2>"$WORK/stderr")
        RC=$?
        ERR=$(cat "$WORK/stderr")
        local want_sig=$sig12
        [ "$version" = 1.3 ] && [ "${key#rsa}" != "$key" ] && want_sig=RSA-PSS
        check "s_server with the token key $key: TLS $version handshake ($want_sig), certificate verified, data echoed" \
            eval 'succeeded && grep -qF "Protocol version: TLSv$version" <<<"$ERR" && grep -qF "Verification: OK" <<<"$ERR" && grep -qF "Signature type: $want_sig" <<<"$ERR" && out_has "$(rev <<<"hello $key over TLS $version")"'
    done
    # -naccept 2: the server leaves after the two connections; make sure.
    timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}
tls rsa2048 rsa2048.crt RSA
tls ec256 ec256.crt ECDSA

ossl pkeyutl -engine pkcs11 -keyform engine -inkey "$(uri rsa2048 private pin)" -sign -in msg.sha256 \
    -pkeyopt digest:sha256 -out pkeyutl-rsa.sig
run openssl pkeyutl -verify -pubin -inkey rsa2048.pub.pem -in msg.sha256 -sigfile pkeyutl-rsa.sig -pkeyopt digest:sha256
check "pkeyutl -sign (RSA PKCS#1 v1.5, SHA-256): openssl verifies" eval 'succeeded && out_has "Signature Verified Successfully"'
ossl pkeyutl -engine pkcs11 -keyform engine -inkey "$(uri rsa3072 private pin)" -sign -in msg.sha256 \
    -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -out pkeyutl-pss.sig
run openssl pkeyutl -verify -pubin -inkey rsa3072.pub.pem -in msg.sha256 -sigfile pkeyutl-pss.sig \
    -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32
check "pkeyutl -sign (RSA-PSS, SHA-256): openssl verifies" eval 'succeeded && out_has "Signature Verified Successfully"'
ossl pkeyutl -engine pkcs11 -keyform engine -inkey "$(uri ec384 private pin)" -sign -in msg.sha384 -out pkeyutl-ec.sig
run openssl pkeyutl -verify -pubin -inkey ec384.pub.pem -in msg.sha384 -sigfile pkeyutl-ec.sig
check "pkeyutl -sign (ECDSA P-384): openssl verifies" eval 'succeeded && out_has "Signature Verified Successfully"'
ossl dgst -sha512 -engine pkcs11 -keyform engine -sign "$(uri ec521 private pin)" -out dgst-ec521.sig msg.bin
run openssl dgst -sha512 -verify ec521.pub.pem -signature dgst-ec521.sig msg.bin
check "dgst -sign (ECDSA P-521, SHA-512): openssl verifies" eval 'succeeded && out_has "Verified OK"'
ossl pkeyutl -engine pkcs11 -keyform engine -inkey "$(uri rsa2048 private pin)" -decrypt -in pkcs1.enc -out pkeyutl-pkcs1.dec
check "pkeyutl -decrypt (RSA PKCS#1 v1.5) gives the plaintext back" eval 'succeeded && same pkeyutl-pkcs1.dec small.bin'
ossl pkeyutl -engine pkcs11 -keyform engine -inkey "$(uri rsa2048 private pin)" -decrypt -in oaep256.enc \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -out pkeyutl-oaep.dec
check "pkeyutl -decrypt (RSA-OAEP, SHA-256) gives the plaintext back" eval 'succeeded && same pkeyutl-oaep.dec small.bin'
echo "signed through the token" >cms.txt
ossl cms -sign -nodetach -engine pkcs11 -keyform engine -inkey "$(uri ec256 private pin)" -signer ec256.crt \
    -in cms.txt -out cms.p7 -outform PEM
run openssl cms -verify -CAfile ec256.crt -in cms.p7 -inform PEM
check "cms -sign (S/MIME, ECDSA P-256): openssl cms -verify accepts it and returns the content" \
    eval 'succeeded && all_has "Verification successful" && out_has "signed through the token"'
openssl pkey -in peer256.pem -pubout -out peer256.pub.pem
ossl pkeyutl -engine pkcs11 -keyform engine -inkey "$(uri ec256 private pin)" -derive -peerkey peer256.pub.pem -out pkeyutl-ecdh.bin
check "pkeyutl -derive (ECDH P-256) equals OpenSSL's own derivation" eval 'succeeded && same pkeyutl-ecdh.bin ecdh256.ossl'

# ==========================================================================================
section "3. GnuTLS $(certtool --version | head -n 1 | awk '{print $NF}'): p11tool and certtool"

gnutls() { run env GNUTLS_PIN="$PIN" "$@"; }

gnutls p11tool --provider "$MODULE" --list-tokens
check "p11tool --list-tokens shows the token's URL" eval 'succeeded && out_has "manufacturer=ferrohsm;" && out_has ";token=$TOKEN"'
gnutls p11tool --provider "$MODULE" --list-all "pkcs11:token=$TOKEN"
check "p11tool --list-all without login shows public keys, not the user's private keys" \
    eval 'succeeded && out_has "object=rsa2048;type=public" && out_lacks "object=rsa2048;type=private"'
gnutls p11tool --provider "$MODULE" --login --list-all "pkcs11:token=$TOKEN"
check "p11tool --login --list-all shows the private keys" \
    eval 'succeeded && out_has "object=rsa2048;type=private" && out_has "object=ec521;type=private"'
gnutls p11tool --provider "$MODULE" --login --generate-privkey=ECDSA --curve=secp256r1 --label=gnutls-ec \
    --id=0a0b --outfile gnutls-ec.pub.pem "pkcs11:token=$TOKEN"
check "p11tool --generate-privkey=ECDSA (P-256) on the token" succeeded
gnutls p11tool --provider "$MODULE" --login --generate-privkey=RSA --bits=2048 --label=gnutls-rsa \
    --outfile gnutls-rsa.pub.pem "pkcs11:token=$TOKEN"
check "p11tool --generate-privkey=RSA (2048) on the token" succeeded
gnutls p11tool --provider "$MODULE" --login --list-privkeys "pkcs11:token=$TOKEN"
check "p11tool --list-privkeys shows both new keys" \
    eval 'out_has "object=gnutls-ec;type=private" && out_has "object=gnutls-rsa;type=private"'

while read -r key params; do
    # shellcheck disable=SC2086 # $params is one option or none
    gnutls p11tool --provider "$MODULE" --login --test-sign $params "pkcs11:token=$TOKEN;object=$key;type=private"
    check "p11tool --test-sign $params $key: signs, verifies with the private and the token's public key" \
        eval 'succeeded && [ "$(grep -c "\.\.\. ok" <<<"$OUT$ERR")" -eq 3 ]'
done <<'EOF'
rsa2048 --hash=SHA256
rsa3072 --sign-params=RSA-PSS
ec384 --hash=SHA384
gnutls-ec --hash=SHA256
EOF

cat >ca.tmpl <<EOF
cn = "ferrohsm gnutls CA"
serial = 1
expiration_days = 30
ca
cert_signing_key
EOF
cat >leaf.tmpl <<EOF
cn = "localhost"
serial = 2
expiration_days = 30
dns_name = "localhost"
tls_www_server
EOF
for key in gnutls-ec gnutls-rsa; do
    gnutls certtool --provider "$MODULE" --generate-self-signed --load-privkey "pkcs11:token=$TOKEN;object=$key;type=private" \
        --template ca.tmpl --outfile "$key.ca.crt"
    check "certtool --generate-self-signed with the token key $key" succeeded
    run certtool --verify --load-ca-certificate "$key.ca.crt" --infile "$key.ca.crt"
    check "... certtool --verify accepts it" eval 'succeeded && out_has "Verified."'
    run openssl verify -CAfile "$key.ca.crt" "$key.ca.crt"
    check "... openssl verify accepts it" eval 'succeeded && out_has "OK"'
    openssl x509 -in "$key.ca.crt" -pubkey -noout 2>/dev/null | openssl pkey -pubin -outform DER -out "$key.crt.pub.der" 2>/dev/null
    openssl pkey -pubin -in "$key.pub.pem" -outform DER -out "$key.pub.der" 2>/dev/null
    check "... and it holds the key p11tool generated" same "$key.crt.pub.der" "$key.pub.der"
done
gnutls p11tool --provider "$MODULE" --login --write --load-certificate gnutls-ec.ca.crt --label gnutls-ca \
    "pkcs11:token=$TOKEN"
check "p11tool --write --load-certificate stores the CA certificate on the token" succeeded
gnutls p11tool --provider "$MODULE" --export "pkcs11:token=$TOKEN;object=gnutls-ca;type=cert" --outfile exported.crt
check "p11tool --export reads back the same certificate" \
    eval 'succeeded && [ "$(openssl x509 -in exported.crt -outform DER | od -An -tx1)" = "$(openssl x509 -in gnutls-ec.ca.crt -outform DER | od -An -tx1)" ]'

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -subj /CN=localhost \
    -out leaf.csr 2>/dev/null
gnutls certtool --provider "$MODULE" --generate-certificate --load-request leaf.csr \
    --load-ca-privkey "pkcs11:token=$TOKEN;object=gnutls-rsa;type=private" --load-ca-certificate gnutls-rsa.ca.crt \
    --template leaf.tmpl --outfile leaf.crt
check "certtool --generate-certificate: the token's RSA CA key signs an OpenSSL CSR" succeeded
run certtool --verify --load-ca-certificate gnutls-rsa.ca.crt --infile leaf.crt
check "... certtool --verify accepts the chain" eval 'succeeded && out_has "Verified."'
run openssl verify -CAfile gnutls-rsa.ca.crt leaf.crt
check "... openssl verify accepts the chain" eval 'succeeded && out_has "leaf.crt: OK"'
run openssl verify -CAfile gnutls-ec.ca.crt leaf.crt
check "... and openssl rejects it under the other CA" eval '! succeeded'

# A token set up by GnuTLS alone, on a store of its own: init, PINs, a key, a signature.
GSTORE=$WORK/gnutls-store
gt() { run env FERROHSM_STORE="$GSTORE" "$@"; }
gt p11tool --provider "$MODULE" --list-token-urls
GURL=$(head -n 1 <<<"$OUT")
check "p11tool --list-token-urls on a fresh store: slot 0's token first, no label yet" \
    eval 'succeeded && [ "${GURL%%;token=}" != "$GURL" ]'
gt env GNUTLS_SO_PIN="$SO_PIN" p11tool --provider "$MODULE" --initialize --label gnutls-made "$GURL"
check "p11tool --initialize (token label, SO PIN)" eval 'succeeded && all_has "successfully initialized"'
GURL="pkcs11:token=gnutls-made"
gt env GNUTLS_SO_PIN="$SO_PIN" p11tool --provider "$MODULE" --initialize-pin --set-pin="$PIN" "$GURL"
check "p11tool --initialize-pin (SO login, user PIN)" succeeded
# (--set-so-pin names the SO PIN for --initialize; the new one comes from the environment.)
gt env GNUTLS_SO_PIN="$SO_PIN" GNUTLS_NEW_SO_PIN=87654321 p11tool --provider "$MODULE" --initialize-so-pin "$GURL"
check "p11tool --initialize-so-pin changes the SO PIN" succeeded
gt pkcs11-tool --module "$MODULE" --login --login-type so --so-pin 87654321 --session-rw --list-objects
check "... pkcs11-tool logs in as SO with the new SO PIN" succeeded
gt env GNUTLS_PIN="$PIN" p11tool --provider "$MODULE" --login --generate-privkey=ECDSA --curve=secp384r1 \
    --label gnutls-p384 "$GURL"
check "p11tool --generate-privkey=ECDSA (P-384) with the user PIN it set" succeeded
gt env GNUTLS_PIN="$PIN" p11tool --provider "$MODULE" --login --test-sign --hash=SHA384 "$GURL;object=gnutls-p384"
check "p11tool --test-sign with that key" eval 'succeeded && [ "$(grep -c "\.\.\. ok" <<<"$OUT$ERR")" -eq 3 ]'

# ==========================================================================================
section "5. Python: PyKCS11 $("$PY" -c 'import PyKCS11, importlib.metadata as m; print(m.version("PyKCS11"))' 2>/dev/null)"

mkdir -p py
sub "pykcs11_basic.py" "$PY" "$REPO/ci/interop/pykcs11_basic.py" "$MODULE" "$TOKEN" "$PIN" "$WORK/py"
run openssl dgst -sha256 -verify py/ec-pub.pem -signature py/msg.sig.der py/msg.bin
check "openssl dgst verifies the signature PyKCS11 made" eval 'succeeded && out_has "Verified OK"'

# ==========================================================================================
section "4. p11-kit $(dpkg-query -W -f '${Version}' p11-kit 2>/dev/null): module file, and one store shared by ferrohsm serve"

# p11-kit reads ~/.config/pkcs11/modules only for users other than root, so as root
# the per-user install is tried as nobody, with a store and a copy of the module
# nobody can read.
MODFILE=$REPO/pkcs11/ferrohsm.module
check "pkcs11/ferrohsm.module names the module" grep -q '^module: *libferrohsm_pkcs11.so$' "$MODFILE"
PK=$WORK/p11-kit-user
mkdir -p "$PK"
as_user() { env -i PATH=/usr/bin:/bin HOME="$PK" XDG_CONFIG_HOME="$PK/config" FERROHSM_STORE="$PK/store" "$@"; }
USER_MODULE=$MODULE
if [ "$(id -u)" -eq 0 ]; then
    chmod 711 "$WORK"
    cp "$MODULE" "$PK/libferrohsm_pkcs11.so"
    cp "$MODFILE" "$PK/ferrohsm.module"
    USER_MODULE=$PK/libferrohsm_pkcs11.so
    MODFILE=$PK/ferrohsm.module
    chown -R 65534:65534 "$PK"
    as_user() {
        setpriv --reuid=65534 --regid=65534 --clear-groups \
            env -i PATH=/usr/bin:/bin HOME="$PK" XDG_CONFIG_HOME="$PK/config" FERROHSM_STORE="$PK/store" "$@"
    }
fi
# The install command of docs/interop.md, for the user p11-kit will read.
run as_user sh -c 'mkdir -p "$XDG_CONFIG_HOME/pkcs11/modules" &&
    sed "s|^module:.*|module: $1|" "$2" >"$XDG_CONFIG_HOME/pkcs11/modules/ferrohsm.module"' sh "$USER_MODULE" "$MODFILE"
check "the per-user install command writes ferrohsm.module" \
    eval 'succeeded && grep -qx "module: $USER_MODULE" "$PK/config/pkcs11/modules/ferrohsm.module"'
run as_user p11-kit list-modules
check "p11-kit list-modules shows ferrohsm and its tokens" \
    eval 'succeeded && out_has "ferrohsm: $USER_MODULE" && out_has "library-manufacturer: ferrohsm" && out_has "model: ferrohsm admin"'
run as_user p11tool --list-tokens
check "p11tool finds the ferrohsm token through p11-kit's registry (no --provider)" \
    eval 'succeeded && out_has "manufacturer=ferrohsm;"'
run as_user pkcs11-tool --module "$ARCH_LIB/p11-kit-proxy.so" --list-slots
check "pkcs11-tool through p11-kit-proxy.so lists the ferrohsm slots" \
    eval 'succeeded && out_has "ferrohsm partition 0" && out_has "ferrohsm admin token"'

# ferrohsm serve: one store (this suite's), many processes through p11-kit's client.
SOCK=$WORK/serve/p11-kit.sock
"$FERROHSM" --module "$MODULE" serve --socket "$SOCK" >serve.out 2>&1 &
SERVE_PID=$!
wait_for_line serve.out "export P11_KIT_SERVER_ADDRESS=" 10
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
ADDRESS=$(sed -n 's/^.*export P11_KIT_SERVER_ADDRESS=\([^ ;]*\).*$/\1/p' serve.out | head -n 1)
OUT=$(cat serve.out) ERR=""
check "ferrohsm serve prints export P11_KIT_SERVER_ADDRESS=unix:path=$SOCK" \
    eval '[ "$ADDRESS" = "unix:path=$SOCK" ] && [ -S "$SOCK" ]'
client() { run env P11_KIT_SERVER_ADDRESS="$ADDRESS" "$@"; }

client pkcs11-tool --module "$CLIENT_MODULE" --list-token-slots
check "a client through p11-kit-client.so sees the token" eval 'succeeded && out_has "token label        : $TOKEN"'
client pkcs11-tool --module "$CLIENT_MODULE" --login --pin "$PIN" --list-objects --type privkey
check "... logs in and lists the keys made by the earlier parts (the same store)" \
    eval 'succeeded && out_has "label:      rsa2048" && out_has "label:      gnutls-ec"'
client pkcs11-tool --module "$CLIENT_MODULE" --login --pin "$PIN" --sign --id 03 -m ECDSA \
    --signature-format openssl -i msg.sha256 -o served.sig
run openssl pkeyutl -verify -pubin -inkey ec256.pub.pem -in msg.sha256 -sigfile served.sig
check "... signs with ECDSA P-256 through the server; openssl verifies" \
    eval 'succeeded && out_has "Signature Verified Successfully"'

# Two clients at once: both log in, make a key and sign, meet at a barrier, then
# each uses the other's key while both are still connected.
mkdir -p barrier
client_run() {
    env P11_KIT_SERVER_ADDRESS="$ADDRESS" "$PY" "$REPO/ci/interop/serve_client.py" \
        "$CLIENT_MODULE" "$TOKEN" "$PIN" "$1" "$2" "$WORK/barrier" 30 >"client-$1.out" 2>&1
}
client_run a b &
CA=$!
client_run b a &
CB=$!
wait "$CA"
RA=$?
wait "$CB"
RB=$?
sub "serve client a" sh -c 'cat "$1"; exit "$2"' sh client-a.out "$RA"
sub "serve client b" sh -c 'cat "$1"; exit "$2"' sh client-b.out "$RB"
OUT=$(cat client-a.out client-b.out) ERR=""
check "two PyKCS11 clients used the store at the same time through ferrohsm serve" \
    eval '[ "$RA" -eq 0 ] && [ "$RB" -eq 0 ]'

kill "$SERVE_PID" 2>/dev/null
wait "$SERVE_PID" 2>/dev/null
p11 --list-token-slots
check "once the server stops, the store opens directly again" eval 'succeeded && out_has "token label        : $TOKEN"'

# ==========================================================================================
echo
echo "interop.sh: $(($(date +%s) - START)) s"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
