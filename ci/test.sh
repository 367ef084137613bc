#!/usr/bin/env bash
# The test command (README.md): formatting, lints, the unsafe fence, every test of
# the workspace on both crypto providers, stock pkcs11-tool against the module, and
# the interop suite (OpenSSL, GnuTLS, p11-kit, PyKCS11; ci/interop.sh).
# Installs what it needs (ci/deps.sh). Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
ci/deps.sh

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "unsafe stays in pkcs11/src/ffi"
# Code uses of `unsafe` (blocks, fns, impls, externs, attributes), not comments or lints.
uses='(^|[^a-z_])unsafe[[:space:]]*(\{|fn |impl|extern|trait|\()'
outside=$(grep -rnE --include='*.rs' "$uses" pkcs11/src store/src tools/src | grep -v '^pkcs11/src/ffi/' | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' || true)
if [ -n "$outside" ]; then
    echo "unsafe outside the FFI layer:" >&2
    echo "$outside" >&2
    exit 1
fi
echo "ok: $(grep -rhE --include='*.rs' "$uses" pkcs11/src/ffi | wc -l) uses, all in pkcs11/src/ffi"

step "tests, default provider (aws-lc)"
cargo test --workspace

step "tests, pure-Rust provider (rustcrypto)"
cargo test -p ferrohsm-pkcs11 --no-default-features --features rustcrypto

step "both providers built in, unit tests of each"
cargo test -p ferrohsm-pkcs11 --all-features --lib

step "pkcs11-tool"
cargo build --release -p ferrohsm-pkcs11 -p ferrohsm-tools
ci/pkcs11-tool.sh

step "interop: pkcs11-tool, OpenSSL, GnuTLS, p11-kit and ferrohsm serve, PyKCS11"
# ci/pkcs11-tool.sh (the suite's part 1a) ran just above.
ci/interop.sh --no-pkcs11-tool-sh

step "all passed"
