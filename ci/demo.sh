#!/usr/bin/env bash
# Builds the module and the tool, then shows the module working for real with
# stock pkcs11-tool and openssl on a fresh store in a temporary directory: a token,
# objects, random, digest, an EC key pair whose signature openssl verifies, and the
# key's birth certificate, which openssl and `ferrohsm attest verify` check against
# the device's chain.
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
FERROHSM=$PWD/target/release/ferrohsm
run() { echo "\$ $*"; "$@"; echo; }
p11 --login --pin 123456 --keypairgen --key-type EC:prime256v1 --label signer --id 02
p11 --login --pin 123456 --sign -m ECDSA --signature-format openssl --id 02 \
    --input-file "$WORK/msg.sha256" --output-file "$WORK/msg.sig"
p11 --read-object --type pubkey --label signer --output-file "$WORK/signer.der"
openssl pkey -pubin -inform DER -in "$WORK/signer.der" -out "$WORK/signer.pem"
run openssl pkeyutl -verify -pubin -inkey "$WORK/signer.pem" -in "$WORK/msg.sha256" -sigfile "$WORK/msg.sig"
# The key's birth certificate, made by C_GenerateKeyPair, and the device's chain.
p11 --read-object --type cert --label attestation:signer --output-file "$WORK/att.der"
run "$FERROHSM" device init --label device --so-pin 11223344
run "$FERROHSM" attest chain --slot 0 -o "$WORK/chain.pem" --root "$WORK/root.pem"
openssl x509 -inform DER -in "$WORK/att.der" -out "$WORK/att.pem"
run openssl verify -CAfile "$WORK/root.pem" -untrusted "$WORK/chain.pem" "$WORK/att.pem"
run "$FERROHSM" attest verify "$WORK/att.der" --root "$WORK/root.pem" --chain "$WORK/chain.pem"
run "$FERROHSM" status
