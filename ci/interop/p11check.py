"""Check helpers shared by the PyKCS11 scripts that ci/interop.sh runs.

Each check prints one line, `ok    DESCRIPTION` or `FAIL  DESCRIPTION (why)`, the
format of ci/interop.sh, which counts those lines. A script exits 1 when any
check failed.
"""

import sys

import PyKCS11

_failed = 0


def ok(desc):
    print(f"ok    {desc}", flush=True)


def fail(desc, why=""):
    global _failed
    _failed += 1
    print(f"FAIL  {desc}" + (f" ({why})" if why else ""), flush=True)


def check(desc, cond, why=""):
    """Records one check; returns the condition so that a caller can stop early."""
    if cond:
        ok(desc)
    else:
        fail(desc, why)
    return bool(cond)


def failures():
    """How many checks failed so far."""
    return _failed


def finish():
    sys.exit(1 if _failed else 0)


def rv_name(e):
    """A PyKCS11Error as its CKR_ name, e.g. 'CKR_DEVICE_ERROR (0x30)'."""
    if isinstance(e, PyKCS11.PyKCS11Error):
        return f"{PyKCS11.CKR.get(e.value, 'CKR_?')} (0x{e.value & 0xFFFFFFFF:x})"
    return f"{type(e).__name__}: {e}"


def load(module):
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    return lib


def find_slot(lib, token_label):
    """The slot whose token has this label, or None."""
    for slot in lib.getSlotList(tokenPresent=True):
        if lib.getTokenInfo(slot).label.strip() == token_label:
            return slot
    return None


def one(session, template):
    """The one object matching template; raises LookupError for none or several."""
    found = session.findObjects(template)
    if len(found) != 1:
        raise LookupError(f"{len(found)} objects match the template")
    return found[0]


def _der_octet_string(b):
    """The content of a DER OCTET STRING that spans all of b, else None."""
    if len(b) < 2 or b[0] != 0x04:
        return None
    if b[1] < 0x80:
        n, start = b[1], 2
    else:
        k = b[1] & 0x7F
        n, start = int.from_bytes(b[2 : 2 + k], "big"), 2 + k
    return b[start:] if start + n == len(b) else None


def ec_public_key(session, pub):
    """A `cryptography` public key made from a token EC public key object."""
    from cryptography.hazmat.primitives.asymmetric import ec

    params, point = session.getAttributeValue(pub, [PyKCS11.CKA_EC_PARAMS, PyKCS11.CKA_EC_POINT], allAsBinary=True)
    point = bytes(point)
    # CKA_EC_POINT is the DER encoding of an OCTET STRING holding the X9.62 point
    # (PKCS#11 3.0 mechanisms, elliptic curve public key objects); a bare point, as
    # some tokens return, is accepted too.
    inner = _der_octet_string(point)
    if inner is not None and inner[:1] in (b"\x02", b"\x03", b"\x04"):
        point = inner
    curves = {
        "06082a8648ce3d030107": ec.SECP256R1(),
        "06052b81040022": ec.SECP384R1(),
        "06052b81040023": ec.SECP521R1(),
    }
    return ec.EllipticCurvePublicKey.from_encoded_point(curves[bytes(params).hex()], point)


def rsa_public_key(session, pub):
    """A `cryptography` public key made from a token RSA public key object."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    n, e = session.getAttributeValue(pub, [PyKCS11.CKA_MODULUS, PyKCS11.CKA_PUBLIC_EXPONENT], allAsBinary=True)
    return rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"), int.from_bytes(bytes(n), "big")).public_key()


def raw_ecdsa_to_der(sig):
    """PKCS#11 ECDSA signatures are r || s; X.509 and `cryptography` want DER."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    sig = bytes(sig)
    half = len(sig) // 2
    return encode_dss_signature(int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big"))
