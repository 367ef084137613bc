#!/usr/bin/env bash
# Installs what the tests and scripts need when it is missing (Debian packages).
# Sourced or run by ci/test.sh and ci/demo.sh; safe to run again.
set -eu

need=()
command -v pkcs11-tool >/dev/null || need+=(opensc)
command -v softhsm2-util >/dev/null || need+=(softhsm2)
command -v p11-kit >/dev/null || need+=(p11-kit)
[ -e /usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so ] || [ -e /usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so ] || need+=(p11-kit-modules)
command -v openssl >/dev/null || need+=(openssl)
# tools/tests/serve.rs drives `ferrohsm serve` with PyKCS11 clients.
/usr/bin/python3 -c 'import PyKCS11' 2>/dev/null || need+=(python3-pykcs11)
command -v cmp >/dev/null || need+=(diffutils)
command -v cc >/dev/null || need+=(gcc)
command -v cmake >/dev/null || need+=(cmake)

if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "ci/deps.sh: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq "${need[@]}" >&2
fi
