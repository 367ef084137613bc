#!/usr/bin/env bash
# ci/bench.sh: measure ferrohsm beside SoftHSM and kryoptic, on this machine, in one run,
# and print one markdown table (docs/performance.md explains the rows and the targets).
#
#   ci/bench.sh                 full run: all four columns
#   ci/bench.sh --quick         smaller counts and time budgets, for a smoke run
#   ci/bench.sh --only ferrohsm one column (ferrohsm, ferrohsm-rustcrypto, softhsm or
#                               kryoptic); repeatable
#   ci/bench.sh --build-only    install and build everything, measure nothing
#   ci/bench.sh --check         exit 1 when ferrohsm misses a target of issue 2 or 3
#
# ferrohsm is built once with both crypto providers (cargo feature `rustcrypto` beside the
# default `aws-lc`) and measured twice, each time on its own fresh store:
# FERROHSM_PROVIDER=aws-lc for the column "ferrohsm" (the one the targets are for) and
# FERROHSM_PROVIDER=rustcrypto for "ferrohsm (rustcrypto)". FERROHSM_CONF names an empty
# configuration file, so that no configuration of the user's changes what is measured.
#
# It exits non-zero when a module cannot be measured at all; a row that fails on one
# module (a call a peer does not support, say) shows as "failed" in the table instead.
# --check needs SoftHSM in the run: two targets are multiples of SoftHSM's rate.
#
# What it needs and installs when missing: Debian packages (softhsm2, libssl-dev,
# libclang-dev, libsqlite3-dev, pkg-config) through apt-get, and kryoptic, built once from
# crates.io as a cdylib against the system OpenSSL in a cache directory outside the repo
# (${XDG_CACHE_HOME:-$HOME/.cache}/ferrohsm-bench/kryoptic-<version>).
#
# Each module gets a fresh store in a temporary directory and the same token label, PINs
# and object counts. The bench binary (ci/bench, crate ferrohsm-bench) talks to every
# module through its raw CK_FUNCTION_LIST; nothing here knows a module's internals.
set -euo pipefail

KRYOPTIC_VERSION=1.5.4
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
TOKEN_LABEL=bench
SO_PIN=87654321
USER_PIN=12345678

quick=0
build_only=0
check=()
only=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --build-only) build_only=1 ;;
        --check) check=(--check) ;;
        --only)
            [ $# -ge 2 ] || { echo "--only needs a module name" >&2; exit 2; }
            only+=("$2")
            shift
            ;;
        --only=*) only+=("${1#--only=}") ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[ ${#only[@]} -gt 0 ] || only=(ferrohsm ferrohsm-rustcrypto softhsm kryoptic)
for m in "${only[@]}"; do
    case "$m" in
        ferrohsm | ferrohsm-rustcrypto | softhsm | kryoptic) ;;
        *) echo "unknown module '$m': ferrohsm, ferrohsm-rustcrypto, softhsm or kryoptic" >&2; exit 2 ;;
    esac
done
wants() { local m; for m in "${only[@]}"; do [ "$m" = "$1" ] && return 0; done; return 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/ferrohsm-bench
started=$(date +%s)
say() { echo "bench: $*" >&2; }

# --- system packages ------------------------------------------------------------------
install_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}
packages=(pkg-config)
wants softhsm && packages+=(softhsm2)
wants kryoptic && packages+=(libssl-dev libclang-dev libsqlite3-dev)
install_packages "${packages[@]}"

# --- kryoptic: a cdylib built once from crates.io, outside the repo ---------------------
# kryoptic's own crate is a cdylib only (no lib target to depend on), so a tiny wrapper
# crate re-exports kryoptic-lib's three entry points exactly as kryoptic's src/lib.rs does.
# Features: kryoptic's `minimal` is `kryoptic-lib/minimal` (sqlite store, AES, ECDSA/ECDH,
# hashes and HMAC, RSA), and `dynamic` links the system OpenSSL instead of building one.
kryoptic_so=$cache/kryoptic-$KRYOPTIC_VERSION/libkryoptic_pkcs11.so
kryoptic_manifest() {
    cat <<EOF
[package]
name = "kryoptic-bench-cdylib"
version = "0.0.0"
edition = "2024"
publish = false

[lib]
name = "kryoptic_pkcs11"
crate-type = ["cdylib"]
path = "src/lib.rs"

[dependencies]
kryoptic-lib = { version = "=$KRYOPTIC_VERSION", default-features = false, features = ["minimal", "dynamic"] }

[profile.release]
debug = 1

# Not part of any enclosing workspace.
[workspace]
EOF
}
build_kryoptic() {
    local dir=$cache/kryoptic-$KRYOPTIC_VERSION
    mkdir -p "$dir/src"
    # The cached build is reused while the recipe (this manifest) is unchanged.
    if [ -f "$kryoptic_so" ] && kryoptic_manifest | cmp -s - "$dir/Cargo.toml"; then
        return 0
    fi
    say "building kryoptic $KRYOPTIC_VERSION in $dir (once; about a minute on 2 cores)"
    kryoptic_manifest >"$dir/Cargo.toml"
    cat >"$dir/src/lib.rs" <<'EOF'
//! kryoptic's PKCS#11 entry points, as in kryoptic's own src/lib.rs (without FIPS).
use kryoptic_lib::fns::general::{fn_get_function_list, fn_get_interface, fn_get_interface_list};
use kryoptic_lib::pkcs11::*;

#[unsafe(no_mangle)]
pub extern "C" fn C_GetFunctionList(fnlist: CK_FUNCTION_LIST_PTR_PTR) -> CK_RV {
    fn_get_function_list(fnlist)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_GetInterface(
    interface_name: CK_UTF8CHAR_PTR,
    version: CK_VERSION_PTR,
    interface: CK_INTERFACE_PTR_PTR,
    flags: CK_FLAGS,
) -> CK_RV {
    fn_get_interface(interface_name, version, interface, flags)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_GetInterfaceList(interfaces_list: CK_INTERFACE_PTR, count: CK_ULONG_PTR) -> CK_RV {
    fn_get_interface_list(interfaces_list, count)
}
EOF
    rm -f "$kryoptic_so"
    (cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo build --release --quiet)
    cp "$dir/target/release/libkryoptic_pkcs11.so" "$kryoptic_so.tmp"
    mv "$kryoptic_so.tmp" "$kryoptic_so"
}
wants kryoptic && build_kryoptic

# --- ferrohsm and the bench binary ------------------------------------------------------
# Both providers in one library; FERROHSM_PROVIDER picks one at C_Initialize.
say "building ferrohsm (release, providers aws-lc and rustcrypto) and the bench binary"
(cd "$root" && cargo build --release --quiet -p ferrohsm-pkcs11 -p ferrohsm-bench --features ferrohsm-pkcs11/rustcrypto)
target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bench=$target_dir/release/ferrohsm-bench
ferrohsm_so=$target_dir/release/libferrohsm_pkcs11.so

if [ "$build_only" -eq 1 ]; then
    say "built; nothing measured (--build-only)"
    exit 0
fi

# --- fresh stores -----------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/ferrohsm-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

mode=()
[ "$quick" -eq 1 ] && mode=(--quick)
common=(--token-label "$TOKEN_LABEL" --pin "$USER_PIN")
results=()
broken=()

# Runs a command in the environment of one column: for the two ferrohsm columns, their
# own store and provider (and the empty configuration file).
printf '# ferrohsm-bench: an empty configuration, so every setting is the default\n' >"$work/ferrohsm.toml"
in_env() {
    local m=$1
    shift
    case "$m" in
        ferrohsm)
            FERROHSM_CONF=$work/ferrohsm.toml FERROHSM_STORE=$work/ferrohsm/store FERROHSM_PROVIDER=aws-lc "$@" ;;
        ferrohsm-rustcrypto)
            FERROHSM_CONF=$work/ferrohsm.toml FERROHSM_STORE=$work/ferrohsm-rustcrypto/store \
                FERROHSM_PROVIDER=rustcrypto "$@" ;;
        *) "$@" ;;
    esac
}

for m in ferrohsm ferrohsm-rustcrypto; do
    wants "$m" || continue
    # Slot 0 of a fresh store is its one uninitialised user partition.
    in_env "$m" "$bench" init --module "$ferrohsm_so" --slot 0 --label "$TOKEN_LABEL" --so-pin "$SO_PIN" --pin "$USER_PIN"
done
if wants softhsm; then
    mkdir -p "$work/softhsm/tokens"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
        "$work/softhsm/tokens" >"$work/softhsm/softhsm2.conf"
    export SOFTHSM2_CONF=$work/softhsm/softhsm2.conf
    softhsm2-util --init-token --free --label "$TOKEN_LABEL" --so-pin "$SO_PIN" --pin "$USER_PIN" >/dev/null
fi
if wants kryoptic; then
    mkdir -p "$work/kryoptic"
    printf '[[slots]]\nslot = 1\ndbtype = "sqlite"\ndbargs = "%s"\n' "$work/kryoptic/token.sql" >"$work/kryoptic/token.conf"
    export KRYOPTIC_CONF=$work/kryoptic/token.conf
    "$bench" init --module "$kryoptic_so" --slot 1 --label "$TOKEN_LABEL" --so-pin "$SO_PIN" --pin "$USER_PIN"
fi

# --- measure, one module at a time, one process each --------------------------------------
for m in ferrohsm ferrohsm-rustcrypto softhsm kryoptic; do
    wants "$m" || continue
    case "$m" in
        ferrohsm | ferrohsm-rustcrypto) so=$ferrohsm_so ;;
        softhsm) so=$SOFTHSM_MODULE ;;
        kryoptic) so=$kryoptic_so ;;
    esac
    say "measuring $m ($so)"
    t0=$(date +%s)
    if in_env "$m" "$bench" measure --name "$m" --module "$so" "${common[@]}" "${mode[@]}" --out "$work/$m.tsv"; then
        say "$m done in $(($(date +%s) - t0)) s"
        results+=("$m=$work/$m.tsv")
    else
        say "$m could not be measured"
        broken+=("$m")
    fi
done

status=0
"$bench" table "${mode[@]}" "${check[@]}" "${results[@]}" || status=$?
say "total $(($(date +%s) - started)) s"
if [ ${#broken[@]} -gt 0 ]; then
    say "not measured: ${broken[*]}"
    exit 1
fi
exit "$status"
