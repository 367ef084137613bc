#!/usr/bin/python3
"""PyKCS11 against ferrohsm: log in, make keys, sign, verify, encrypt, wrap; check
the results with the `cryptography` module (OpenSSL underneath).

Usage: pykcs11_basic.py MODULE TOKEN_LABEL PIN OUTDIR

Prints one `ok`/`FAIL` line per check (ci/interop.sh counts them); exits 1 when
any check failed. Leaves in OUTDIR the EC public key (ec-pub.pem), the message
(msg.bin) and its ECDSA-SHA256 signature in DER (msg.sig.der), so that the
caller can verify them once more with `openssl dgst`.

Run with Debian's python3 (packages python3-pykcs11 and python3-cryptography).
"""

import os
import sys

import PyKCS11
from PyKCS11 import AES_GCM_Mechanism, Mechanism, RSA_PSS_Mechanism, RSAOAEPMechanism
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from p11check import check, ec_public_key, fail, find_slot, finish, load, ok, raw_ecdsa_to_der, rsa_public_key, rv_name


def main():
    module, token_label, pin, outdir = sys.argv[1:5]
    lib = load(module)
    ok("PyKCS11 loads the module (C_Initialize)")

    slot = find_slot(lib, token_label)
    if not check(f"finds the token labelled {token_label}", slot is not None):
        return
    session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    session.login(pin)
    ok("opens a R/W session and logs in as the user")

    message = os.urandom(3000)
    with open(os.path.join(outdir, "msg.bin"), "wb") as f:
        f.write(message)

    # --- EC P-256: generate, sign, verify (token, cryptography, openssl) ---
    pub, priv = session.generateKeyPair(
        [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
            (PyKCS11.CKA_TOKEN, True),
            (PyKCS11.CKA_VERIFY, True),
            (PyKCS11.CKA_LABEL, "py-ec"),
            (PyKCS11.CKA_ID, b"\x70\x01"),
            (PyKCS11.CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107")),
        ],
        [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
            (PyKCS11.CKA_TOKEN, True),
            (PyKCS11.CKA_PRIVATE, True),
            (PyKCS11.CKA_SENSITIVE, True),
            (PyKCS11.CKA_SIGN, True),
            (PyKCS11.CKA_LABEL, "py-ec"),
            (PyKCS11.CKA_ID, b"\x70\x01"),
        ],
        mecha=PyKCS11.MechanismECGENERATEKEYPAIR,
    )
    ok("C_GenerateKeyPair makes an EC P-256 token key pair")

    sensitive, extractable = session.getAttributeValue(priv, [PyKCS11.CKA_SENSITIVE, PyKCS11.CKA_EXTRACTABLE])
    check("the private key is sensitive and not extractable", sensitive and not extractable)

    ecdsa = Mechanism(PyKCS11.CKM_ECDSA_SHA256)
    sig = bytes(session.sign(priv, message, ecdsa))
    check("C_Sign with CKM_ECDSA_SHA256 returns r || s (64 bytes)", len(sig) == 64, f"{len(sig)} bytes")
    check("C_Verify accepts the signature", session.verify(pub, message, sig, ecdsa))
    check("C_Verify rejects it over other data", not session.verify(pub, message + b"x", sig, ecdsa))

    pk = ec_public_key(session, pub)
    try:
        pk.verify(raw_ecdsa_to_der(sig), message, ec.ECDSA(hashes.SHA256()))
        ok("cryptography verifies the ECDSA-SHA256 signature with CKA_EC_POINT")
    except InvalidSignature:
        fail("cryptography verifies the ECDSA-SHA256 signature with CKA_EC_POINT", "InvalidSignature")
    with open(os.path.join(outdir, "ec-pub.pem"), "wb") as f:
        f.write(pk.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with open(os.path.join(outdir, "msg.sig.der"), "wb") as f:
        f.write(raw_ecdsa_to_der(sig))

    # The key persisted: a fresh search by label finds one private key.
    found = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_LABEL, "py-ec")])
    check("C_FindObjects finds the private key by label", len(found) == 1, f"{len(found)} found")

    # --- RSA-2048: PSS signature checked by cryptography ---
    rpub, rpriv = session.generateKeyPair(
        [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA),
            (PyKCS11.CKA_TOKEN, False),
            (PyKCS11.CKA_VERIFY, True),
            (PyKCS11.CKA_WRAP, True),
            (PyKCS11.CKA_MODULUS_BITS, 2048),
            (PyKCS11.CKA_PUBLIC_EXPONENT, (0x01, 0x00, 0x01)),
        ],
        [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA),
            (PyKCS11.CKA_TOKEN, False),
            (PyKCS11.CKA_SIGN, True),
            (PyKCS11.CKA_DECRYPT, True),
            (PyKCS11.CKA_UNWRAP, True),
            (PyKCS11.CKA_SENSITIVE, True),
        ],
        mecha=PyKCS11.MechanismRSAGENERATEKEYPAIR,
    )
    ok("C_GenerateKeyPair makes an RSA-2048 session key pair")
    pss = RSA_PSS_Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS_PSS, PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256, 32)
    rsig = bytes(session.sign(rpriv, message, pss))
    check("C_Verify accepts the SHA256-RSA-PKCS-PSS signature", session.verify(rpub, message, rsig, pss))
    try:
        rsa_public_key(session, rpub).verify(
            rsig,
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
        ok("cryptography verifies the RSA-PSS signature with CKA_MODULUS")
    except InvalidSignature:
        fail("cryptography verifies the RSA-PSS signature with CKA_MODULUS", "InvalidSignature")

    # --- AES-256-GCM with a key of known value, both directions ---
    key = os.urandom(32)
    aes = session.createObject(
        [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
            (PyKCS11.CKA_TOKEN, False),
            (PyKCS11.CKA_ENCRYPT, True),
            (PyKCS11.CKA_DECRYPT, True),
            (PyKCS11.CKA_EXTRACTABLE, True),
            (PyKCS11.CKA_VALUE, key),
        ]
    )
    iv, aad = os.urandom(12), b"ferrohsm interop"
    gcm = AES_GCM_Mechanism(iv, aad, 128)
    ct = bytes(session.encrypt(aes, message, gcm))
    check("C_Encrypt with CKM_AES_GCM appends a 16-byte tag", len(ct) == len(message) + 16)
    try:
        check("cryptography's AESGCM decrypts the token's ciphertext", AESGCM(key).decrypt(iv, ct, aad) == message)
    except Exception as e:  # InvalidTag
        fail("cryptography's AESGCM decrypts the token's ciphertext", repr(e))
    iv2 = os.urandom(12)
    ct2 = AESGCM(key).encrypt(iv2, message, aad)
    pt = bytes(session.decrypt(aes, ct2, AES_GCM_Mechanism(iv2, aad, 128)))
    check("C_Decrypt with CKM_AES_GCM opens cryptography's ciphertext", pt == message)
    bad = bytearray(ct2)
    bad[5] ^= 1
    try:
        session.decrypt(aes, bytes(bad), AES_GCM_Mechanism(iv2, aad, 128))
        fail("C_Decrypt with CKM_AES_GCM refuses a tampered ciphertext", "it decrypted")
    except PyKCS11.PyKCS11Error as e:
        check(
            "C_Decrypt with CKM_AES_GCM refuses a tampered ciphertext (CKR_ENCRYPTED_DATA_INVALID)",
            e.value == PyKCS11.CKR_ENCRYPTED_DATA_INVALID,
            rv_name(e),
        )

    # --- RSA-OAEP key wrapping (pkcs11-tool 0.23 cannot pass OAEP parameters to C_WrapKey) ---
    oaep = RSAOAEPMechanism(PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256)
    wrapped = bytes(session.wrapKey(rpub, aes, oaep))
    check("C_WrapKey with CKM_RSA_PKCS_OAEP (SHA-256) wraps the AES key", len(wrapped) == 256, f"{len(wrapped)} bytes")
    check(
        "C_Decrypt with the RSA private key gives back the AES key's value",
        bytes(session.decrypt(rpriv, wrapped, oaep)) == key,
    )
    unwrapped = session.unwrapKey(
        rpriv,
        wrapped,
        [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
            (PyKCS11.CKA_TOKEN, False),
            (PyKCS11.CKA_ENCRYPT, True),
        ],
        oaep,
    )
    iv3 = os.urandom(12)
    ct3 = bytes(session.encrypt(unwrapped, message, AES_GCM_Mechanism(iv3, b"", 128)))
    try:
        check("C_UnwrapKey (OAEP): the unwrapped key encrypts as the original", AESGCM(key).decrypt(iv3, ct3, b"") == message)
    except Exception as e:  # InvalidTag
        fail("C_UnwrapKey (OAEP): the unwrapped key encrypts as the original", repr(e))

    session.logout()
    session.closeSession()
    ok("logs out and closes the session")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a check could not even run: say why, count it
        fail("the PyKCS11 script ran to its end", rv_name(e))
    finish()
