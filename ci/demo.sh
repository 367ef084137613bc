#!/usr/bin/env bash
# Builds the module and the tool, then shows the module working for real with
# stock pkcs11-tool on a fresh store in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/deps.sh
cargo build --release -p ferrohsm-pkcs11 -p ferrohsm-tools
MODULE=$PWD/target/release/libferrohsm_pkcs11.so
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferrohsm-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export FERROHSM_STORE=$WORK/store
p11() { echo "\$ pkcs11-tool $*"; pkcs11-tool --module "$MODULE" "$@"; echo; }

p11 --list-slots
p11 --init-token --label demo --so-pin 12345678
p11 --login --login-type so --so-pin 12345678 --init-pin --pin 123456
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=demo -keyout "$WORK/key.pem" -outform DER -out "$WORK/cert.der" 2>/dev/null
p11 --login --pin 123456 --write-object "$WORK/cert.der" --type cert --id 01 --label demo-cert
echo "a secret note" > "$WORK/note.txt"
p11 --login --pin 123456 --write-object "$WORK/note.txt" --type data --label note --private
p11 --login --pin 123456 --list-objects
p11 --read-object --type cert --label demo-cert --output-file "$WORK/back.der"
cmp "$WORK/cert.der" "$WORK/back.der" && echo "certificate read back: identical bytes"
echo
p11 --generate-random 16 --output-file "$WORK/rand.bin"
echo "random: $(od -An -tx1 "$WORK/rand.bin" | tr -d ' \n')"
echo
echo "hello" > "$WORK/msg"
p11 --hash -m SHA256 --input-file "$WORK/msg" --output-file "$WORK/msg.sha256"
echo "SHA-256 by the token:  $(od -An -tx1 "$WORK/msg.sha256" | tr -d ' \n')"
echo "SHA-256 by openssl:    $(openssl dgst -sha256 -r "$WORK/msg" | cut -d' ' -f1)"
echo
echo "\$ ferrohsm status"
target/release/ferrohsm status
