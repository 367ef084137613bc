//! Key encapsulation (PKCS#11 3.2 §5.20): `C_EncapsulateKey`, `C_DecapsulateKey`.
//! Reached through the 3.2 function list (`C_GetInterface`), and exported by name.

use cryptoki_sys::*;

use super::{bytes, capacity, guard, mechanism, template, write, write_output};
use crate::error::err;
use crate::module;
use crate::token::kem;

/// `C_EncapsulateKey`. `pMechanism` must be readable; `pTemplate` holds
/// `ulAttributeCount` attributes; `pulCiphertextLen` must be readable and writable;
/// `pCiphertext` is null (a length query: the ciphertext's length is written to
/// `*pulCiphertextLen` and no key is made) or holds `*pulCiphertextLen` writable
/// bytes. On success the ciphertext is written and the new key's handle goes to
/// `*phKey`, which must then be writable.
///
/// Returns `CKR_BUFFER_TOO_SMALL` (with the length needed, no key made) when the
/// buffer is short; `CKR_KEY_FUNCTION_NOT_PERMITTED` when the key's
/// `CKA_ENCAPSULATE` is false; `CKR_KEY_TYPE_INCONSISTENT` for a key of another type.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_EncapsulateKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: *mut CK_MECHANISM,
    hPublicKey: CK_OBJECT_HANDLE,
    pTemplate: *mut CK_ATTRIBUTE,
    ulAttributeCount: CK_ULONG,
    pCiphertext: *mut CK_BYTE,
    pulCiphertextLen: *mut CK_ULONG,
    phKey: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_EncapsulateKey", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let (mech, t, cap) = unsafe {
            (mechanism(pMechanism)?, template(pTemplate, ulAttributeCount)?, capacity(pCiphertext, pulCiphertextLen)?)
        };
        if cap.is_some() && phKey.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "null phKey"));
        }
        let (out, handle) = kem::encapsulate_key(&m, hSession, &mech, hPublicKey, &t, cap)?;
        // SAFETY: `capacity` checked the length pointer; the inner function produced
        // data only when it fits `*pulCiphertextLen`.
        unsafe { write_output(pCiphertext, pulCiphertextLen, out)? };
        match handle {
            // SAFETY: checked for null above (a key is made only with a buffer).
            Some(h) => unsafe { write(phKey, h) },
            None => Ok(()),
        }
    })
}

/// `C_DecapsulateKey`. `pMechanism` must be readable; `pTemplate` holds
/// `ulAttributeCount` attributes; `pCiphertext` holds `ulCiphertextLen` readable
/// bytes; `phKey` must be writable.
///
/// Returns `CKR_ENCRYPTED_DATA_LEN_RANGE` for a ciphertext of the wrong length. A
/// ciphertext of the right length that was not made for this key gives a key all
/// the same (ML-KEM's implicit rejection), unequal to the sender's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DecapsulateKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: *mut CK_MECHANISM,
    hPrivateKey: CK_OBJECT_HANDLE,
    pTemplate: *mut CK_ATTRIBUTE,
    ulAttributeCount: CK_ULONG,
    pCiphertext: *mut CK_BYTE,
    ulCiphertextLen: CK_ULONG,
    phKey: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_DecapsulateKey", || {
        let m = module::get()?;
        if phKey.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "null phKey"));
        }
        // SAFETY: forwarded contract.
        let (mech, t, ct) = unsafe {
            (mechanism(pMechanism)?, template(pTemplate, ulAttributeCount)?, bytes(pCiphertext, ulCiphertextLen)?)
        };
        let h = kem::decapsulate_key(&m, hSession, &mech, hPrivateKey, &t, ct)?;
        // SAFETY: checked for null; writable by contract.
        unsafe { write(phKey, h) }
    })
}
