#!/usr/bin/env bash
# Drives stock pkcs11-tool (OpenSC) against the built ferrohsm module on a fresh
# store in a temporary directory, and asserts what comes back: exit statuses,
# labels present or absent, bytes compared with cmp, digests compared with
# `openssl dgst`. Every pkcs11-tool call is its own process, so everything read
# back was persisted by an earlier process.
#
# Prints one line per check and a closing `N passed, N failed` line; exits 1 when
# any check failed, 2 when it cannot run at all.
#
# Module: $FERROHSM_MODULE, else target/release/libferrohsm_pkcs11.so under the
# repository root (built with cargo when missing). The birth-certificate checks
# also run `ferrohsm serve` ($FERROHSM_BIN, else target/release/ferrohsm, built
# when missing) and read through p11-kit's client module; one call goes through
# OpenSC's pkcs11-spy.
#
# docs/pkcs11-tool.md shows each command with its output.

set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() {
    echo "pkcs11-tool.sh: $*" >&2
    exit 2
}

# --- Tools -------------------------------------------------------------------

install_pkg() {
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "pkcs11-tool.sh: installing $1 with apt-get" >&2
    $sudo apt-get install -y "$1" >&2 || die "cannot install $1; install it and retry"
}
command -v pkcs11-tool >/dev/null || install_pkg opensc
command -v openssl >/dev/null || install_pkg openssl
command -v cmp >/dev/null || die "cmp (diffutils) is missing"
command -v p11-kit >/dev/null || install_pkg p11-kit
# find_lib NAME: the first of the usual places for a PKCS#11 module NAME.
find_lib() {
    local d
    for d in /usr/lib/x86_64-linux-gnu/pkcs11 /usr/lib/aarch64-linux-gnu/pkcs11 /usr/lib64/pkcs11 /usr/lib/pkcs11 \
        /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64; do
        [ -f "$d/$1" ] && echo "$d/$1" && return 0
    done
    return 1
}
CLIENT=$(find_lib p11-kit-client.so) ||
    { install_pkg p11-kit-modules; CLIENT=$(find_lib p11-kit-client.so) || die "p11-kit-client.so not found"; }
# OpenSC's call logger, shipped with pkcs11-tool (Debian: opensc-pkcs11).
SPY=$(find_lib pkcs11-spy.so) || die "pkcs11-spy.so (OpenSC) not found"

if [ -n "${FERROHSM_MODULE:-}" ]; then
    MODULE=$FERROHSM_MODULE
    [ -f "$MODULE" ] || die "FERROHSM_MODULE=$MODULE does not exist"
else
    MODULE=$REPO/target/release/libferrohsm_pkcs11.so
    if [ ! -f "$MODULE" ]; then
        echo "pkcs11-tool.sh: building $MODULE" >&2
        (cd "$REPO" && cargo build --release -p ferrohsm-pkcs11 >&2) || die "cargo build failed"
    fi
fi
if [ -n "${FERROHSM_BIN:-}" ]; then
    FERROHSM=$FERROHSM_BIN
    [ -x "$FERROHSM" ] || die "FERROHSM_BIN=$FERROHSM is not an executable"
else
    FERROHSM=$REPO/target/release/ferrohsm
    if [ ! -x "$FERROHSM" ]; then
        echo "pkcs11-tool.sh: building $FERROHSM" >&2
        (cd "$REPO" && cargo build --release -p ferrohsm-tools >&2) || die "cargo build failed"
    fi
fi

# --- A fresh store, isolated from any user configuration ----------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferrohsm-pkcs11-tool.XXXXXX") || die "mktemp failed"
SERVE_PID=""
trap '[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
export FERROHSM_STORE=$WORK/store
export XDG_CONFIG_HOME=$WORK/config
unset FERROHSM_CONF FERROHSM_LOG FERROHSM_PROVIDER
cd "$WORK" || die "cannot enter $WORK"

SO_PIN=12345678
DEVICE_SO_PIN=11223344
NEW_SO_PIN=87654321
PIN=123456
NEW_PIN=654321
TOKEN_LABEL=ferro-ci

# --- Check helpers --------------------------------------------------------------

PASSED=0
FAILED=0
OUT=""
ERR=""
RC=0

# p11 ARGS...: runs pkcs11-tool on the module; sets OUT (stdout), ERR (stderr), RC.
p11() {
    OUT=$(pkcs11-tool --module "$MODULE" "$@" 2>"$WORK/stderr")
    RC=$?
    ERR=$(cat "$WORK/stderr")
}

# p11c ARGS...: pkcs11-tool on p11-kit's client module, through `ferrohsm serve`.
p11c() {
    OUT=$(P11_KIT_SERVER_ADDRESS="unix:path=$WORK/p11.sock" pkcs11-tool --module "$CLIENT" "$@" 2>"$WORK/stderr")
    RC=$?
    ERR=$(cat "$WORK/stderr")
}

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
# refused PATTERN: the last call failed and said PATTERN (e.g. a CKR_ name).
refused() { [ "$RC" -ne 0 ] && grep -qF -- "$1" <<<"$ERR"; }
out_has() { grep -qF -- "$1" <<<"$OUT"; }
out_lacks() { ! grep -qF -- "$1" <<<"$OUT"; }

# --- Test material ---------------------------------------------------------------

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout cert.key -subj "/CN=ferrohsm ci/O=ferrohsm" -days 30 \
    -outform DER -out cert.der 2>/dev/null || die "openssl could not make a certificate"
head -c 300 /dev/urandom >public.bin
head -c 200 /dev/urandom >private.bin
head -c 200000 /dev/urandom >message.bin

echo "module: $MODULE"
echo "store:  $FERROHSM_STORE"

# --- Slots on a fresh store --------------------------------------------------------

p11 --list-slots
check "--list-slots on a fresh store succeeds" succeeded
slot_lines=$(grep '^Slot ' <<<"$OUT")
check "--list-slots: two slots" [ "$(wc -l <<<"$slot_lines")" -eq 2 ]
check "--list-slots: slot 0 (user partition) is listed first" \
    grep -q '^Slot 0 (0x0): ferrohsm partition 0' <<<"$(head -n 1 <<<"$slot_lines")"
check "--list-slots: slot 0 is uninitialised" \
    eval 'grep -A1 "^Slot 0 (0x0)" <<<"$OUT" | grep -q "token state: *uninitialized"'
check "--list-slots: the admin token (0xffff) is listed last" \
    grep -q '^Slot [0-9]* (0xffff): ferrohsm admin token' <<<"$(tail -n 1 <<<"$slot_lines")"

# OpenSC's pkcs11-spy logs every call and writes its own function list into the
# CK_INTERFACE that C_GetInterface returns.
OUT=$(PKCS11SPY=$MODULE PKCS11SPY_OUTPUT=$WORK/spy.log pkcs11-tool --module "$SPY" --list-slots 2>"$WORK/stderr")
RC=$?
ERR=$(cat "$WORK/stderr")
check "--list-slots through OpenSC's pkcs11-spy works (it writes into the CK_INTERFACE returned)" \
    eval 'succeeded && out_has "ferrohsm partition 0" && grep -q "C_GetSlotList" "$WORK/spy.log"'

# --- Token and PINs -------------------------------------------------------------------

p11 --init-token --label "$TOKEN_LABEL" --so-pin "$SO_PIN"
check "--init-token (no --slot) succeeds" succeeded
check "--init-token says the token was initialised" out_has "Token successfully initialized"

p11 --list-token-slots
check "-T shows the token label" out_has "token label        : $TOKEN_LABEL"
check "-T shows 'token initialized'" out_has "token initialized"
check "-T has no 'PIN initialized' before --init-pin" out_lacks "PIN initialized"

p11 --init-pin --login --login-type so --so-pin 00000000 --pin "$PIN"
check "--init-pin with a wrong SO PIN is refused (CKR_PIN_INCORRECT)" refused CKR_PIN_INCORRECT

p11 --init-pin --login --login-type so --so-pin "$SO_PIN" --pin "$PIN"
check "--init-pin (SO login) succeeds" succeeded
check "--init-pin says the user PIN was set" out_has "User PIN successfully initialized"

p11 --list-token-slots
check "-T shows the label and 'PIN initialized'" \
    eval 'out_has "token label        : $TOKEN_LABEL" && out_has "PIN initialized"'

p11 --login --pin "$PIN" --list-objects
check "--login with the user PIN succeeds" succeeded

p11 --login --pin 999999 --list-objects
check "a wrong user PIN is refused (CKR_PIN_INCORRECT)" refused CKR_PIN_INCORRECT
p11 --list-token-slots
check "-T shows 'user PIN count low' after a failed login" out_has "user PIN count low"
p11 --login --pin "$PIN" --list-objects
p11 --list-token-slots
check "a good login clears 'user PIN count low'" out_lacks "user PIN count low"

p11 --change-pin --pin "$PIN" --new-pin "$NEW_PIN"
check "--change-pin succeeds" succeeded
p11 --login --pin "$PIN" --list-objects
check "the old user PIN fails after --change-pin" refused CKR_PIN_INCORRECT
p11 --login --pin "$NEW_PIN" --list-objects
check "the new user PIN works after --change-pin" succeeded

# pkcs11-tool opens R/O sessions unless told otherwise; an SO login then fails as
# the spec says (C_Login: CKR_SESSION_READ_ONLY_EXISTS).
p11 --login --login-type so --so-pin "$SO_PIN" --list-objects
check "SO login in a R/O session is refused (CKR_SESSION_READ_ONLY_EXISTS)" \
    refused CKR_SESSION_READ_ONLY_EXISTS

p11 --change-pin --login --login-type so --so-pin "$SO_PIN" --new-pin "$NEW_SO_PIN"
check "--change-pin as SO changes the SO PIN" succeeded
p11 --login --login-type so --so-pin "$SO_PIN" --session-rw --list-objects
check "the old SO PIN fails afterwards" refused CKR_PIN_INCORRECT
p11 --login --login-type so --so-pin "$NEW_SO_PIN" --session-rw --list-objects
check "the new SO PIN works" succeeded
p11 --login --pin "$NEW_PIN" --list-objects
check "the user PIN is unchanged by the SO PIN change" succeeded

# --- Objects ------------------------------------------------------------------------------

p11 --login --pin "$NEW_PIN" --write-object cert.der --type cert --id c1c2 --label ci-cert
check "--write-object --type cert succeeds" succeeded

p11 --write-object public.bin --type data --label ci-public --application-label ci-app
check "--write-object --type data (public, no login) succeeds" succeeded

p11 --write-object private.bin --type data --label ci-private --private
check "--write-object --type data --private without login is refused (CKR_USER_NOT_LOGGED_IN)" \
    refused CKR_USER_NOT_LOGGED_IN

p11 --login --pin "$NEW_PIN" --write-object private.bin --type data --label ci-private --private
check "--write-object --type data --private (logged in) succeeds" succeeded

# A new process sees what the earlier ones wrote: the store is persistent.
p11 --list-objects
check "--list-objects (no login) succeeds" succeeded
check "--list-objects (no login) shows the certificate" out_has "label:      ci-cert"
check "--list-objects (no login) shows the public data object" out_has "label:          'ci-public'"
check "--list-objects (no login) shows the data object's application" out_has "application:    'ci-app'"
check "--list-objects (no login) hides the private data object" out_lacks "ci-private"
check "--list-objects shows the partition policy object (vendor class 0xC6480001)" \
    out_has "type 3326607361"
check "the certificate has CKA_SUBJECT (subject line, no --subject given)" \
    out_has "subject:    DN: CN=ferrohsm ci, O=ferrohsm"
check "the certificate has the CKA_ID given" out_has "ID:         c1c2"

p11 --login --pin "$NEW_PIN" --list-objects
check "--list-objects after login shows the private data object" out_has "label:          'ci-private'"
check "--list-objects after login marks it private" \
    eval 'grep -A4 "ci-private" <<<"$OUT" | grep -q "flags:.*private"'
check "--list-objects after login still shows the certificate and public data" \
    eval 'out_has "ci-cert" && out_has "ci-public"'

p11 --read-object --type cert --id c1c2 -o read-cert-id.der
check "--read-object --type cert --id succeeds" succeeded
check "--read-object --type cert --id returns the DER written" cmp -s cert.der read-cert-id.der
p11 --read-object --type cert --label ci-cert -o read-cert-label.der
check "--read-object --type cert --label returns the DER written" \
    eval 'succeeded && cmp -s cert.der read-cert-label.der'
check "the certificate read back parses as the one made" \
    eval '[ "$(openssl x509 -inform DER -in read-cert-id.der -noout -fingerprint -sha256)" = "$(openssl x509 -inform DER -in cert.der -noout -fingerprint -sha256)" ]'

p11 --read-object --type data --label ci-public -o read-public.bin
check "--read-object --type data (public) returns the bytes written" \
    eval 'succeeded && cmp -s public.bin read-public.bin'

p11 --read-object --type data --label ci-private -o read-private-nologin.bin
check "--read-object of the private data object without login finds nothing" \
    refused "object not found"
p11 --login --pin "$NEW_PIN" --read-object --type data --label ci-private -o read-private.bin
check "--read-object --type data (private, logged in) returns the bytes written" \
    eval 'succeeded && cmp -s private.bin read-private.bin'

p11 --read-object --type cert --label no-such-cert -o nothing.der
check "--read-object of a missing object fails" refused "object not found"

# --- Random and digests ----------------------------------------------------------------------

p11 --generate-random 64 -o random1.bin
check "--generate-random 64 succeeds" succeeded
check "--generate-random 64 gives 64 bytes" [ "$(stat -c %s random1.bin)" -eq 64 ]
p11 --generate-random 64 -o random2.bin
check "two --generate-random runs differ" eval '[ "$(stat -c %s random2.bin)" -eq 64 ] && ! cmp -s random1.bin random2.bin'
p11 --generate-random 5000 -o random3.bin
check "--generate-random 5000 gives 5000 bytes" \
    eval 'succeeded && [ "$(stat -c %s random3.bin)" -eq 5000 ]'

printf 'abc' >abc.txt
for input in abc.txt message.bin; do
    for pair in SHA-1:sha1 SHA224:sha224 SHA256:sha256 SHA384:sha384 SHA512:sha512; do
        mech=${pair%%:*}
        alg=${pair##*:}
        p11 --hash -m "$mech" -i "$input" -o digest.bin
        want=$(openssl dgst "-$alg" -binary "$input" | od -An -tx1 | tr -d ' \n')
        got=$(od -An -tx1 digest.bin 2>/dev/null | tr -d ' \n')
        check "--hash -m $mech of $input equals openssl dgst -$alg" \
            eval 'succeeded && [ -n "$got" ] && [ "$got" = "$want" ]'
    done
done

p11 --list-mechanisms
check "--list-mechanisms lists SHA-1 and SHA256 as digests" \
    eval 'out_has "SHA-1, digest" && out_has "SHA256, digest"'

# --- Deletion ------------------------------------------------------------------------------------

p11 --login --pin "$NEW_PIN" --delete-object --type cert --id c1c2
check "--delete-object --type cert succeeds" succeeded
p11 --delete-object --type data --label ci-public
check "--delete-object --type data (public, no login) succeeds" succeeded
p11 --delete-object --type data --label ci-private
check "--delete-object of the private data object without login finds nothing" \
    refused "object not found"
p11 --login --pin "$NEW_PIN" --delete-object --type data --label ci-private
check "--delete-object --type data (private, logged in) succeeds" succeeded

p11 --login --pin "$NEW_PIN" --list-objects
check "--list-objects after deletion succeeds" succeeded
check "the deleted certificate is gone" out_lacks "ci-cert"
check "the deleted public data object is gone" out_lacks "ci-public"
check "the deleted private data object is gone" out_lacks "ci-private"
check "the policy object is still there" out_has "type 3326607361"
p11 --read-object --type cert --id c1c2 -o gone.der
check "--read-object of the deleted certificate fails" refused "object not found"

# --- Birth certificates, checked with stock tools ---------------------------------------------------

# The admin token (slot 65535) holds the device and root certificates; it must be
# initialised to open sessions on it. The chain itself was made on first use.
p11 --slot 65535 --init-token --label ci-device --so-pin "$DEVICE_SO_PIN"
check "--init-token on the admin token (--slot 65535) succeeds" succeeded

p11 --login --pin "$NEW_PIN" --keypairgen --key-type EC:prime256v1 --label mykey --id 0101
check "--keypairgen EC P-256 --label mykey succeeds" succeeded
key_uid=$(grep -A8 '^Private Key Object' <<<"$OUT" | sed -n 's/^ *Unique ID: *//p' | head -n 1)

p11 --list-objects --type cert
check "its birth certificate attestation:mykey is listed with no login" out_has "label:      attestation:mykey"
check "the birth certificate has an empty CKA_ID (no ID line)" \
    eval '! grep -A5 "label:      attestation:mykey" <<<"$OUT" | grep -q "^  ID:"'
check "the birth certificate's subject names the private key's unique id" \
    eval '[ -n "$key_uid" ] && grep -A1 "label:      attestation:mykey" <<<"$OUT" | grep -q "CN=ferrohsm attested key $key_uid/"'

p11 --read-object --type cert --label attestation:mykey -o att.der
check "--read-object --type cert --label attestation:mykey succeeds" eval 'succeeded && [ -s att.der ]'
p11 --read-object --type cert --label "ferrohsm partition attestation" -o part.der
check "the partition attestation certificate is read from the partition" eval 'succeeded && [ -s part.der ]'
p11 --slot 65535 --read-object --type cert --label "ferrohsm device" -o device.der
check "the device certificate is read from the admin token" eval 'succeeded && [ -s device.der ]'
p11 --slot 65535 --read-object --type cert --label "ferrohsm root" -o root.der
check "the root certificate is read from the admin token" eval 'succeeded && [ -s root.der ]'

for f in att part device root; do openssl x509 -inform DER -in $f.der -out $f.pem 2>/dev/null; done
cat part.pem device.pem >chain.pem
OUT=$(openssl verify -CAfile root.pem -untrusted chain.pem att.pem 2>&1)
check "openssl verify -CAfile root.pem -untrusted chain.pem att.pem says OK" \
    eval '[ "$OUT" = "att.pem: OK" ]'
OUT=$(openssl verify -CAfile root.pem att.pem 2>&1)
check "... and without the chain it does not" out_lacks "att.pem: OK"
p11 --read-object --type pubkey --label mykey -o mykey-pub.der
openssl x509 -in att.pem -noout -pubkey 2>/dev/null | openssl pkey -pubin -outform DER -out att-pub.der 2>/dev/null
check "the birth certificate certifies mykey's public key" \
    eval 'succeeded && [ -s att-pub.der ] && cmp -s att-pub.der mykey-pub.der'
OUT=$(openssl asn1parse -inform DER -in att.der 2>&1)
check "the birth certificate carries the key attestation extension (2.25.3685...291.1)" \
    out_has ":2.25.36854759746227648345030761591017072291.1"
OUT=$(openssl x509 -in att.pem -noout -text 2>&1)
check "... and the extension is not critical (openssl x509 -text)" \
    eval 'out_has "2.25.36854759746227648345030761591017072291.1: " && out_lacks "291.1: critical"'

# The same through `ferrohsm serve`: p11-kit passes certificates (and vendor
# attributes) but not vendor mechanisms, so birth certificates are the way through.
"$FERROHSM" --module "$MODULE" serve --socket "$WORK/p11.sock" >"$WORK/serve.out" 2>&1 &
SERVE_PID=$!
for _ in $(seq 200); do [ -S "$WORK/p11.sock" ] && break; sleep 0.05; done
OUT=$(cat "$WORK/serve.out")
check "ferrohsm serve starts and listens" [ -S "$WORK/p11.sock" ]

p11c --list-slots
check "through p11-kit, --list-slots shows the partition and the admin token" \
    eval 'out_has "token label        : $TOKEN_LABEL" && out_has "token label        : ci-device"'
p11c --token-label "$TOKEN_LABEL" --read-object --type cert --label attestation:mykey -o remote-att.der
check "through p11-kit, the birth certificate reads back byte for byte" \
    eval 'succeeded && cmp -s att.der remote-att.der'
p11c --token-label "$TOKEN_LABEL" --read-object --type cert --label "ferrohsm partition attestation" -o remote-part.der
remote_ok=$RC
p11c --token-label ci-device --read-object --type cert --label "ferrohsm device" -o remote-device.der
remote_ok=$((remote_ok + RC))
p11c --token-label ci-device --read-object --type cert --label "ferrohsm root" -o remote-root.der
remote_ok=$((remote_ok + RC))
check "through p11-kit, the chain certificates read back byte for byte" \
    eval '[ "$remote_ok" -eq 0 ] && cmp -s part.der remote-part.der && cmp -s device.der remote-device.der && cmp -s root.der remote-root.der'
for f in att part device root; do openssl x509 -inform DER -in remote-$f.der -out remote-$f.pem 2>/dev/null; done
cat remote-part.pem remote-device.pem >remote-chain.pem
OUT=$(openssl verify -CAfile remote-root.pem -untrusted remote-chain.pem remote-att.pem 2>&1)
check "through p11-kit, openssl verify of what was read there says OK" \
    eval '[ "$OUT" = "remote-att.pem: OK" ]'

kill "$SERVE_PID" 2>/dev/null
wait "$SERVE_PID" 2>/dev/null
SERVE_PID=""
OUT=$(cat "$WORK/serve.out")
check "ferrohsm serve stops on SIGTERM and removes its socket" [ ! -e "$WORK/p11.sock" ]
# The store is free again once the server's copies of the module have let it go
# (p11-kit's per-connection children may outlive the server by a moment).
for _ in $(seq 100); do
    p11 --list-token-slots
    succeeded && break
    sleep 0.05
done
check "the store is free for pkcs11-tool again within 5 s of the server stopping" succeeded

# The birth certificate goes with its key.
p11 --login --pin "$NEW_PIN" --delete-object --type privkey --label mykey
check "--delete-object --type privkey --label mykey succeeds" succeeded
p11 --list-objects --type cert
check "... and attestation:mykey is gone with it" eval 'succeeded && out_lacks "attestation:mykey"'
check "... while the chain certificates stay" out_has "label:      ferrohsm partition attestation"

# --- Failed logins persist and lock the PIN; the SO unlocks it ----------------------------------

# The default policy locks the user PIN after 10 failures (CKA_FERRO_POLICY_MAX_PIN_FAILURES).
for _ in 1 2 3 4 5 6 7 8 9; do p11 --login --pin 999999 --list-objects; done
p11 --list-token-slots
check "-T shows 'final user PIN try' after 9 failed logins (in 9 processes)" \
    out_has "final user PIN try"
p11 --login --pin 999999 --list-objects
p11 --list-token-slots
check "-T shows 'user PIN locked' after the 10th" out_has "user PIN locked"
p11 --login --pin "$NEW_PIN" --list-objects
check "the right user PIN is refused once locked (CKR_PIN_LOCKED)" refused CKR_PIN_LOCKED
p11 --init-pin --login --login-type so --so-pin "$NEW_SO_PIN" --pin "$PIN"
check "--init-pin by the SO unlocks the user" succeeded
p11 --login --pin "$PIN" --list-objects
check "the PIN set by the SO works" succeeded
p11 --list-token-slots
check "-T no longer shows the PIN locked" out_lacks "user PIN locked"

# --- Re-initialisation wipes the partition ------------------------------------------------------------

p11 --write-object public.bin --type data --label ci-survivor
check "--write-object before re-initialisation succeeds" succeeded
p11 --init-token --label ci-again --so-pin "$SO_PIN"
check "--init-token again with a wrong SO PIN is refused (CKR_PIN_INCORRECT)" refused CKR_PIN_INCORRECT
p11 --list-objects
check "... and leaves the objects alone" out_has "ci-survivor"
p11 --init-token --label ci-again --so-pin "$NEW_SO_PIN"
check "--init-token again with the SO PIN succeeds" succeeded
p11 --list-token-slots
check "-T shows the new label and no user PIN after re-initialisation" \
    eval 'out_has "token label        : ci-again" && out_lacks "PIN initialized"'
p11 --list-objects
check "re-initialisation removed the partition's objects" \
    eval 'succeeded && out_lacks "ci-survivor"'
check "... but kept the partition's attestation certificate (the chain survives C_InitToken)" \
    out_has "label:      ferrohsm partition attestation"
p11 --read-object --type cert --label "ferrohsm partition attestation" -o part-after.der
check "... byte for byte" eval 'succeeded && cmp -s part.der part-after.der'

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
