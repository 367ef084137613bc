#!/usr/bin/python3
"""One of two clients that use one ferrohsm store at the same time through
`ferrohsm serve` and p11-kit's client module.

Usage: serve_client.py CLIENT_MODULE TOKEN_LABEL PIN NAME PEER DIR [TIMEOUT]

With P11_KIT_SERVER_ADDRESS set. Both clients log in, each makes a token key pair
labelled `serve-NAME` and signs its name with it, then they meet at a barrier
(files in DIR), so that both are connected and logged in at once. While both stay
connected, each finds the key the other made, lists both, and checks the other's
signature with it; then they meet at a second barrier before they log out, so
neither leaves while the other is still working.

Prints one `ok`/`FAIL` line per check, each naming the client; exits 1 when any
check failed. A client that fails leaves DIR/NAME.failed so that its peer stops
waiting for it.
"""

import hashlib
import os
import sys
import time

import PyKCS11
from PyKCS11 import Mechanism

from p11check import check, fail, failures, find_slot, load, ok, one, rv_name


def digest(text):
    return hashlib.sha256(text.encode()).digest()


def wait_for(directory, peer, stage, timeout):
    """Waits for DIR/PEER.STAGE; False when the peer failed or timed out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(directory, f"{peer}.{stage}")):
            return True
        if os.path.exists(os.path.join(directory, f"{peer}.failed")):
            return False
        time.sleep(0.05)
    return False


def mark(directory, name, stage, content=b""):
    tmp = os.path.join(directory, f".{name}.{stage}")
    with open(tmp, "wb") as f:
        f.write(content)
    os.rename(tmp, os.path.join(directory, f"{name}.{stage}"))


# What the client is doing, for the message when a call fails.
step = "C_Initialize through p11-kit's client module"


def main():
    global step
    module, token_label, pin, name, peer, directory = sys.argv[1:7]
    timeout = float(sys.argv[7]) if len(sys.argv) > 7 else 60.0
    me = f"[{name}]"

    lib = load(module)
    step = "C_GetSlotList and C_GetTokenInfo"
    slot = find_slot(lib, token_label)
    if not check(f"{me} sees the token {token_label} through p11-kit's client module", slot is not None):
        return False
    step = "C_OpenSession and C_Login"
    session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    session.login(pin)
    ok(f"{me} opens a session and logs in")
    step = "C_GenerateKeyPair"

    label = f"serve-{name}"
    ec_params = bytes.fromhex("06082a8648ce3d030107")
    pub, priv = session.generateKeyPair(
        [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
            (PyKCS11.CKA_TOKEN, True),
            (PyKCS11.CKA_VERIFY, True),
            (PyKCS11.CKA_LABEL, label),
            (PyKCS11.CKA_EC_PARAMS, ec_params),
        ],
        [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
            (PyKCS11.CKA_TOKEN, True),
            (PyKCS11.CKA_PRIVATE, True),
            (PyKCS11.CKA_SIGN, True),
            (PyKCS11.CKA_LABEL, label),
        ],
        mecha=PyKCS11.MechanismECGENERATEKEYPAIR,
    )
    ok(f"{me} makes the token key pair {label}")

    # p11-kit's RPC (0.24) forwards only mechanisms on its own list, which has
    # CKM_ECDSA but not CKM_ECDSA_SHA256: hash here, sign the digest there.
    step = "C_Sign and C_Verify"
    ecdsa = Mechanism(PyKCS11.CKM_ECDSA)
    sig = bytes(session.sign(priv, digest(name), ecdsa))
    check(f"{me} signs with it and C_Verify accepts", session.verify(pub, digest(name), sig, ecdsa))
    mark(directory, name, "ready", sig)

    if not check(f"{me} both clients are connected and logged in at once", wait_for(directory, peer, "ready", timeout),
                 f"{peer} failed or did not arrive within {timeout:.0f} s"):
        return False

    with open(os.path.join(directory, f"{peer}.ready"), "rb") as f:
        peer_sig = f.read()
    step = "finding and using the other client's key"
    peer_pub = one(session, [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_LABEL, f"serve-{peer}")])
    ok(f"{me} finds the public key serve-{peer} that the other client made")
    check(
        f"{me} verifies the other client's signature with that key",
        session.verify(peer_pub, digest(peer), peer_sig, ecdsa),
    )
    labels = set()
    for h in session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)]):
        labels.add(session.getAttributeValue(h, [PyKCS11.CKA_LABEL])[0])
    check(
        f"{me} lists both clients' private keys",
        {label, f"serve-{peer}"} <= labels,
        f"private keys seen: {sorted(labels)}",
    )

    mark(directory, name, "done")
    if not check(f"{me} the other client finished while this one was connected", wait_for(directory, peer, "done", timeout)):
        return False
    step = "C_Logout"
    session.logout()
    session.closeSession()
    ok(f"{me} logs out")
    return True


if __name__ == "__main__":
    name, directory = sys.argv[4], sys.argv[6]
    try:
        done = main()
    except Exception as e:  # a step could not run: say which error, count it
        fail(f"[{name}] ran to its end", f"{step}: {rv_name(e)}")
        done = False
    if not done:
        mark(directory, name, "failed")
    sys.exit(1 if not done or failures() else 0)
