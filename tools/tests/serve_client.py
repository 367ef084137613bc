"""A client of `ferrohsm serve`, run by tools/tests/serve.rs: PyKCS11 on p11-kit's
client module (P11_KIT_SERVER_ADDRESS set by the test). One action per run; it
prints REPORT lines for the test to check and exits non-zero on any surprise.

Actions (argv[1]):
  keys LABEL ID DIR PIN   log in, wait until the other client is logged in too
                          (DIR/*.ready), make an EC P-256 key pair, find it, sign
                          sha256("hello LABEL") with CKM_ECDSA, write DIR/LABEL.pub
                          (SubjectPublicKeyInfo DER) and DIR/LABEL.sig (DER ECDSA)
  hold DIR PIN            log in as user, make a private session object, open a
                          second session, write the first handle to DIR/held, then
                          wait for DIR/release (or to be killed)
  probe DIR               not logged in: use the handle in DIR/held, look for
                          private objects, report the sessions on the token
  sessions                report the token's session count
  calls PIN               AES, HMAC, digests, RSA OAEP and PSS, multi-part signing,
                          objects (create, set, find, destroy), a sensitive
                          attribute refused, seeding and random
"""

import os
import sys
import time

import PyKCS11
from PyKCS11 import LowLevel as LL

CLIENT = os.environ["FERROHSM_CLIENT_MODULE"]


def wait_for(pred, what, timeout=30):
    end = time.time() + timeout
    while not pred():
        if time.time() > end:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.05)


def report(*words):
    print("REPORT", *words, flush=True)


def open_lib():
    lib = PyKCS11.PyKCS11Lib()
    lib.load(CLIENT)
    slot = lib.getSlotList(tokenPresent=True)[0]
    return lib, slot


def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b


def ecdsa_der(raw):
    half = len(raw) // 2
    body = der_int(raw[:half]) + der_int(raw[half:])
    return b"\x30" + bytes([len(body)]) + body


P256_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


def keys(label, key_id, folder, pin):
    lib, slot = open_lib()
    s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    s.login(pin)
    open(os.path.join(folder, label + ".ready"), "w").close()
    wait_for(lambda: len([f for f in os.listdir(folder) if f.endswith(".ready")]) >= 2, "the other client")
    report("both-connected", label)
    ident = bytes.fromhex(key_id)
    pub_t = [
        (PyKCS11.CKA_TOKEN, True),
        (PyKCS11.CKA_VERIFY, True),
        (PyKCS11.CKA_LABEL, label),
        (PyKCS11.CKA_ID, ident),
        (PyKCS11.CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107")),
    ]
    priv_t = [
        (PyKCS11.CKA_TOKEN, True),
        (PyKCS11.CKA_PRIVATE, True),
        (PyKCS11.CKA_SIGN, True),
        (PyKCS11.CKA_SENSITIVE, True),
        (PyKCS11.CKA_LABEL, label),
        (PyKCS11.CKA_ID, ident),
    ]
    s.generateKeyPair(pub_t, priv_t, mecha=PyKCS11.Mechanism(PyKCS11.CKM_EC_KEY_PAIR_GEN, None))
    found = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_LABEL, label)])
    if len(found) != 1:
        sys.exit(f"expected one private key {label}, found {len(found)}")
    labels = sorted(
        bytes(s.getAttributeValue(o, [PyKCS11.CKA_LABEL], allAsBinary=True)[0]).decode()
        for o in s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])
    )
    report("private-keys", label, ",".join(labels))
    pub = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_ID, ident)])[0]
    point = bytes(s.getAttributeValue(pub, [PyKCS11.CKA_EC_POINT], allAsBinary=True)[0])
    # CKA_EC_POINT is a DER OCTET STRING holding the uncompressed point.
    assert point[0] == 0x04 and point[1] == 65, point.hex()
    with open(os.path.join(folder, label + ".pub"), "wb") as f:
        f.write(P256_SPKI_PREFIX + point[2:])
    digest = s.digest(f"hello {label}".encode(), PyKCS11.Mechanism(PyKCS11.CKM_SHA256, None))
    sig = bytes(s.sign(found[0], bytes(digest), PyKCS11.Mechanism(PyKCS11.CKM_ECDSA, None)))
    with open(os.path.join(folder, label + ".sig"), "wb") as f:
        f.write(ecdsa_der(sig))
    info = s.getSessionInfo()
    report("state", label, info.state)
    s.logout()
    s.closeSession()
    report("done", label)


def hold(folder, pin):
    lib, slot = open_lib()
    s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    s.login(pin)
    s.createObject([
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA),
        (PyKCS11.CKA_TOKEN, False),
        (PyKCS11.CKA_PRIVATE, True),
        (PyKCS11.CKA_LABEL, "held-session-object"),
        (PyKCS11.CKA_VALUE, b"secret"),
    ])
    second = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    private = s.findObjects([(PyKCS11.CKA_PRIVATE, True)])
    report("held-sees-private", len(private))
    report("held-session-info", s.getSessionInfo().state)
    with open(os.path.join(folder, "held.tmp"), "w") as f:
        f.write(str(s.session.value()))
    os.rename(os.path.join(folder, "held.tmp"), os.path.join(folder, "held"))
    wait_for(lambda: os.path.exists(os.path.join(folder, "release")), "release", timeout=120)
    second.closeSession()
    s.logout()
    report("released")


def probe(folder):
    lib, slot = open_lib()
    s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    report("own-state", s.getSessionInfo().state)
    with open(os.path.join(folder, "held")) as f:
        theirs = int(f.read())
    report("own-handle-differs", s.session.value() != theirs)
    # The other client's session handle, sent as ours.
    handle = LL.CK_SESSION_HANDLE()
    handle.assign(theirs)
    info = LL.CK_SESSION_INFO()
    rv = lib.lib.C_GetSessionInfo(handle, info)
    report("their-handle-info", PyKCS11.CKR[rv])
    rv = lib.lib.C_FindObjectsInit(handle, LL.ckattrlist(0))
    report("their-handle-find", PyKCS11.CKR[rv])
    rv = lib.lib.C_CloseSession(handle)
    report("their-handle-close", PyKCS11.CKR[rv])
    private = s.findObjects([(PyKCS11.CKA_PRIVATE, True)])
    report("probe-sees-private", len(private))
    public = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA)])
    labels = sorted(bytes(s.getAttributeValue(o, [PyKCS11.CKA_LABEL], allAsBinary=True)[0]).decode() for o in public)
    report("probe-sees-data", ",".join(labels))
    report("sessions", lib.getTokenInfo(slot).ulSessionCount)
    s.closeSession()


def sessions():
    lib, slot = open_lib()
    s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    report("sessions", lib.getTokenInfo(slot).ulSessionCount)
    s.closeSession()


def calls(pin):
    """The other calls a client makes, each checked by its result."""
    lib, slot = open_lib()
    s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    s.login(pin)
    M = PyKCS11.Mechanism
    # AES: generate, encrypt and decrypt single-part and multi-part (ECB).
    aes = s.generateKey([
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
        (PyKCS11.CKA_VALUE_LEN, 32), (PyKCS11.CKA_TOKEN, False), (PyKCS11.CKA_ENCRYPT, True),
        (PyKCS11.CKA_DECRYPT, True), (PyKCS11.CKA_LABEL, "aes"),
    ], M(PyKCS11.CKM_AES_KEY_GEN, None))
    plain = bytes(range(48))
    ct = bytes(s.encrypt(aes, plain, M(PyKCS11.CKM_AES_ECB, None)))
    assert len(ct) == 48 and ct != plain
    assert bytes(s.decrypt(aes, ct, M(PyKCS11.CKM_AES_ECB, None))) == plain
    report("aes-ecb", "ok")
    # HMAC-SHA256 with a generic secret: sign, verify, and a wrong MAC refused.
    key = s.generateKey([
        (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_GENERIC_SECRET),
        (PyKCS11.CKA_VALUE_LEN, 32), (PyKCS11.CKA_TOKEN, False), (PyKCS11.CKA_SIGN, True),
        (PyKCS11.CKA_VERIFY, True),
    ], M(PyKCS11.CKM_GENERIC_SECRET_KEY_GEN, None))
    mac = bytes(s.sign(key, b"message", M(PyKCS11.CKM_SHA256_HMAC, None)))
    assert len(mac) == 32
    assert s.verify(key, b"message", mac, M(PyKCS11.CKM_SHA256_HMAC, None))
    assert not s.verify(key, b"messagf", mac, M(PyKCS11.CKM_SHA256_HMAC, None))
    report("hmac", "ok")
    # Multi-part digest equals single-part.
    d = s.digestSession(M(PyKCS11.CKM_SHA256, None))
    d.update(b"hello ")
    d.update(b"world")
    assert bytes(d.final()) == bytes(s.digest(b"hello world", M(PyKCS11.CKM_SHA256, None)))
    report("digest-multipart", "ok")
    # RSA: OAEP with a label, PSS, and PKCS#1 multi-part signing.
    pub, priv = s.generateKeyPair(
        [(PyKCS11.CKA_TOKEN, False), (PyKCS11.CKA_MODULUS_BITS, 2048), (PyKCS11.CKA_ENCRYPT, True),
         (PyKCS11.CKA_VERIFY, True), (PyKCS11.CKA_PUBLIC_EXPONENT, (0x01, 0x00, 0x01))],
        [(PyKCS11.CKA_TOKEN, False), (PyKCS11.CKA_DECRYPT, True), (PyKCS11.CKA_SIGN, True)],
        mecha=M(PyKCS11.CKM_RSA_PKCS_KEY_PAIR_GEN, None))
    oaep = PyKCS11.RSAOAEPMechanism(PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256, b"label")
    ct = bytes(s.encrypt(pub, b"secret", oaep))
    assert bytes(s.decrypt(priv, ct, oaep)) == b"secret"
    pss = PyKCS11.RSA_PSS_Mechanism(PyKCS11.CKM_RSA_PKCS_PSS, PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256, 32)
    h = bytes(s.digest(b"data", M(PyKCS11.CKM_SHA256, None)))
    sig = bytes(s.sign(priv, h, pss))
    assert s.verify(pub, h, sig, pss)
    # Multi-part, through the low-level calls (a length query, then the signature).
    ll = lib.lib
    assert ll.C_SignInit(s.session, M(PyKCS11.CKM_SHA256_RSA_PKCS, None).to_native(), priv) == 0
    for part in (b"da", b"ta"):
        assert ll.C_SignUpdate(s.session, LL.ckbytelist(part)) == 0
    out = LL.ckbytelist()
    assert ll.C_SignFinal(s.session, out) == 0
    out = LL.ckbytelist([0] * len(out))
    assert ll.C_SignFinal(s.session, out) == 0
    sig2 = bytes(out)
    assert s.verify(pub, b"data", sig2, M(PyKCS11.CKM_SHA256_RSA_PKCS, None))
    report("rsa", "ok")
    # Objects: create, set, find, destroy. (PyKCS11 1.5 has no C_CopyObject.)
    obj = s.createObject([(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA), (PyKCS11.CKA_TOKEN, False),
                          (PyKCS11.CKA_LABEL, "one"), (PyKCS11.CKA_VALUE, b"v")])
    other = s.createObject([(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA), (PyKCS11.CKA_TOKEN, False),
                            (PyKCS11.CKA_LABEL, "two"), (PyKCS11.CKA_VALUE, b"w")])
    s.setAttributeValue(obj, [(PyKCS11.CKA_LABEL, "uno")])
    labels = sorted(bytes(s.getAttributeValue(o, [PyKCS11.CKA_LABEL], allAsBinary=True)[0]).decode()
                    for o in s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA), (PyKCS11.CKA_TOKEN, False)]))
    assert labels == ["two", "uno"], labels
    s.destroyObject(other)
    s.destroyObject(obj)
    assert not s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA), (PyKCS11.CKA_TOKEN, False)])
    report("objects", "ok")
    # Sensitive values stay in; random numbers come out.
    t = LL.ckattrlist(1)
    t[0].SetType(PyKCS11.CKA_PRIVATE_EXPONENT)
    rv = ll.C_GetAttributeValue(s.session, priv, t)
    assert rv == PyKCS11.CKR_ATTRIBUTE_SENSITIVE, PyKCS11.CKR.get(rv, rv)
    assert s.getAttributeValue(priv, [PyKCS11.CKA_PRIVATE_EXPONENT], allAsBinary=True) == [None]
    s.seedRandom(b"seed")
    assert len(bytes(s.generateRandom(64))) == 64
    report("sensitive-random", "ok")
    s.logout()
    s.closeSession()


def main():
    action = sys.argv[1]
    if action == "keys":
        keys(*sys.argv[2:6])
    elif action == "hold":
        hold(*sys.argv[2:4])
    elif action == "probe":
        probe(sys.argv[2])
    elif action == "sessions":
        sessions()
    elif action == "calls":
        calls(sys.argv[2])
    else:
        sys.exit(f"unknown action {action}")


if __name__ == "__main__":
    main()
