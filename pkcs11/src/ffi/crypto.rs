//! Cryptographic functions (§5.8 to §5.15) and the message-based functions of 3.0.

use std::ffi::c_void;

use cryptoki_sys::*;

use super::{bytes, bytes_mut, capacity, guard, mechanism, template, write, write_output};
use crate::error::err;
use crate::mechanism::Param;
use crate::module;
use crate::token::crypto::{self as ops, Dir};
use crate::token::{digest, keys, message, random};

/// `C_DigestInit`. `pMechanism` must be readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DigestInit(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM) -> CK_RV {
    guard("C_DigestInit", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let mech = unsafe { mechanism(pMechanism)? };
        digest::digest_init(&m, hSession, &mech)
    })
}

/// `C_Digest`. `pData` holds `ulDataLen` bytes; `pDigest` is null (length query) or
/// holds `*pulDigestLen` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Digest(
    hSession: CK_SESSION_HANDLE,
    pData: *mut CK_BYTE,
    ulDataLen: CK_ULONG,
    pDigest: *mut CK_BYTE,
    pulDigestLen: *mut CK_ULONG,
) -> CK_RV {
    guard("C_Digest", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let (data, cap) = unsafe { (bytes(pData, ulDataLen)?, capacity(pDigest, pulDigestLen)?) };
        let out = digest::digest(&m, hSession, data, cap)?;
        // SAFETY: forwarded contract.
        unsafe { write_output(pDigest, pulDigestLen, out) }
    })
}

/// `C_DigestUpdate`. `pPart` holds `ulPartLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DigestUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: *mut CK_BYTE,
    ulPartLen: CK_ULONG,
) -> CK_RV {
    guard("C_DigestUpdate", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let data = unsafe { bytes(pPart, ulPartLen)? };
        digest::digest_update(&m, hSession, data)
    })
}

/// `C_DigestKey`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DigestKey(hSession: CK_SESSION_HANDLE, hKey: CK_OBJECT_HANDLE) -> CK_RV {
    guard("C_DigestKey", || digest::digest_key(&*module::get()?, hSession, hKey))
}

/// `C_DigestFinal`. `pDigest` is null (length query) or holds `*pulDigestLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DigestFinal(
    hSession: CK_SESSION_HANDLE,
    pDigest: *mut CK_BYTE,
    pulDigestLen: *mut CK_ULONG,
) -> CK_RV {
    guard("C_DigestFinal", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let cap = unsafe { capacity(pDigest, pulDigestLen)? };
        let out = digest::digest_final(&m, hSession, cap)?;
        // SAFETY: forwarded contract.
        unsafe { write_output(pDigest, pulDigestLen, out) }
    })
}

/// `C_SeedRandom`. `pSeed` holds `ulSeedLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SeedRandom(hSession: CK_SESSION_HANDLE, pSeed: *mut CK_BYTE, ulSeedLen: CK_ULONG) -> CK_RV {
    guard("C_SeedRandom", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let seed = unsafe { bytes(pSeed, ulSeedLen)? };
        random::seed_random(&m, hSession, seed)
    })
}

/// `C_GenerateRandom`. `RandomData` holds `ulRandomLen` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GenerateRandom(
    hSession: CK_SESSION_HANDLE,
    RandomData: *mut CK_BYTE,
    ulRandomLen: CK_ULONG,
) -> CK_RV {
    guard("C_GenerateRandom", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let out = unsafe { bytes_mut(RandomData, ulRandomLen)? };
        random::generate_random(&m, hSession, out)
    })
}

macro_rules! init_fn {
    ($(#[$doc:meta])* $name:ident => $inner:path) => {
        $(#[$doc])*
        /// `pMechanism` must be readable (its parameter as its length says).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM, hKey: CK_OBJECT_HANDLE) -> CK_RV {
            guard(stringify!($name), || {
                let m = module::get()?;
                // SAFETY: forwarded contract.
                let mech = unsafe { mechanism(pMechanism)? };
                $inner(&m, hSession, &mech, hKey)
            })
        }
    };
}

init_fn!(
    /// `C_EncryptInit`.
    C_EncryptInit => ops::encrypt_init
);
init_fn!(
    /// `C_DecryptInit`.
    C_DecryptInit => ops::decrypt_init
);
init_fn!(
    /// `C_SignInit`.
    C_SignInit => ops::sign_init
);
init_fn!(
    /// `C_VerifyInit`.
    C_VerifyInit => ops::verify_init
);

/// A single-part or update call: input in, output by the length-query protocol.
///
/// # Safety
/// `pIn` holds `ulIn` bytes; `pOut` is null or holds `*pulOut` writable bytes.
unsafe fn in_out(
    pIn: *mut CK_BYTE,
    ulIn: CK_ULONG,
    pOut: *mut CK_BYTE,
    pulOut: *mut CK_ULONG,
    f: impl FnOnce(&[u8], Option<usize>) -> crate::error::Result<crate::token::Output>,
) -> crate::error::Result<()> {
    // SAFETY: forwarded contract.
    let (input, cap) = unsafe { (bytes(pIn, ulIn)?, capacity(pOut, pulOut)?) };
    let out = f(input, cap)?;
    // SAFETY: forwarded contract.
    unsafe { write_output(pOut, pulOut, out) }
}

/// A `*Final` call: output by the length-query protocol.
///
/// # Safety
/// `pOut` is null or holds `*pulOut` writable bytes.
unsafe fn out_only(
    pOut: *mut CK_BYTE,
    pulOut: *mut CK_ULONG,
    f: impl FnOnce(Option<usize>) -> crate::error::Result<crate::token::Output>,
) -> crate::error::Result<()> {
    // SAFETY: forwarded contract.
    let cap = unsafe { capacity(pOut, pulOut)? };
    let out = f(cap)?;
    // SAFETY: forwarded contract.
    unsafe { write_output(pOut, pulOut, out) }
}

macro_rules! in_out_fn {
    ($(#[$doc:meta])* $name:ident, $f:expr) => {
        $(#[$doc])*
        /// Input: `ulIn` bytes at `pIn`. Output: null (length query) or `*pulOut` bytes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            hSession: CK_SESSION_HANDLE,
            pIn: *mut CK_BYTE,
            ulIn: CK_ULONG,
            pOut: *mut CK_BYTE,
            pulOut: *mut CK_ULONG,
        ) -> CK_RV {
            guard(stringify!($name), || {
                let m = module::get()?;
                // SAFETY: forwarded contract.
                unsafe { in_out(pIn, ulIn, pOut, pulOut, |input, cap| $f(&m, hSession, input, cap)) }
            })
        }
    };
}

macro_rules! final_fn {
    ($(#[$doc:meta])* $name:ident, $f:expr) => {
        $(#[$doc])*
        /// Output: null (length query) or `*pulOut` bytes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(hSession: CK_SESSION_HANDLE, pOut: *mut CK_BYTE, pulOut: *mut CK_ULONG) -> CK_RV {
            guard(stringify!($name), || {
                let m = module::get()?;
                // SAFETY: forwarded contract.
                unsafe { out_only(pOut, pulOut, |cap| $f(&m, hSession, cap)) }
            })
        }
    };
}

in_out_fn!(
    /// `C_Encrypt`.
    C_Encrypt, |m, s, i, c| ops::crypt(m, s, Dir::Encrypt, i, c)
);
in_out_fn!(
    /// `C_EncryptUpdate`.
    C_EncryptUpdate, |m, s, i, c| ops::crypt_update(m, s, Dir::Encrypt, i, c)
);
final_fn!(
    /// `C_EncryptFinal`.
    C_EncryptFinal, |m, s, c| ops::crypt_final(m, s, Dir::Encrypt, c)
);
in_out_fn!(
    /// `C_Decrypt`.
    C_Decrypt, |m, s, i, c| ops::crypt(m, s, Dir::Decrypt, i, c)
);
in_out_fn!(
    /// `C_DecryptUpdate`.
    C_DecryptUpdate, |m, s, i, c| ops::crypt_update(m, s, Dir::Decrypt, i, c)
);
final_fn!(
    /// `C_DecryptFinal`.
    C_DecryptFinal, |m, s, c| ops::crypt_final(m, s, Dir::Decrypt, c)
);
in_out_fn!(
    /// `C_Sign`.
    C_Sign, ops::sign
);
final_fn!(
    /// `C_SignFinal`.
    C_SignFinal, ops::sign_final
);

/// `C_SignUpdate`. `pPart` holds `ulPartLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignUpdate(hSession: CK_SESSION_HANDLE, pPart: *mut CK_BYTE, ulPartLen: CK_ULONG) -> CK_RV {
    guard("C_SignUpdate", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let part = unsafe { bytes(pPart, ulPartLen)? };
        ops::sign_update(&m, hSession, part)
    })
}

/// `C_Verify`. `pData` holds `ulDataLen` bytes, `pSignature` `ulSignatureLen`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Verify(
    hSession: CK_SESSION_HANDLE,
    pData: *mut CK_BYTE,
    ulDataLen: CK_ULONG,
    pSignature: *mut CK_BYTE,
    ulSignatureLen: CK_ULONG,
) -> CK_RV {
    guard("C_Verify", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let (data, sig) = unsafe { (bytes(pData, ulDataLen)?, bytes(pSignature, ulSignatureLen)?) };
        ops::verify(&m, hSession, data, sig)
    })
}

/// `C_VerifyUpdate`. `pPart` holds `ulPartLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifyUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: *mut CK_BYTE,
    ulPartLen: CK_ULONG,
) -> CK_RV {
    guard("C_VerifyUpdate", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let part = unsafe { bytes(pPart, ulPartLen)? };
        ops::verify_update(&m, hSession, part)
    })
}

/// `C_VerifyFinal`. `pSignature` holds `ulSignatureLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifyFinal(
    hSession: CK_SESSION_HANDLE,
    pSignature: *mut CK_BYTE,
    ulSignatureLen: CK_ULONG,
) -> CK_RV {
    guard("C_VerifyFinal", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let sig = unsafe { bytes(pSignature, ulSignatureLen)? };
        ops::verify_final(&m, hSession, sig)
    })
}

/// `C_GenerateKey`. `pTemplate` holds `ulCount` attributes; `phKey` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GenerateKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: *mut CK_MECHANISM,
    pTemplate: *mut CK_ATTRIBUTE,
    ulCount: CK_ULONG,
    phKey: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_GenerateKey", || {
        let m = module::get()?;
        if phKey.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "null phKey"));
        }
        // SAFETY: forwarded contract.
        let (mech, t) = unsafe { (mechanism(pMechanism)?, template(pTemplate, ulCount)?) };
        let h = keys::generate_key(&m, hSession, &mech, &t)?;
        // SAFETY: checked for null; writable by contract.
        unsafe { write(phKey, h) }
    })
}

/// `C_GenerateKeyPair`. Each template holds its count of attributes; both handle
/// pointers must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GenerateKeyPair(
    hSession: CK_SESSION_HANDLE,
    pMechanism: *mut CK_MECHANISM,
    pPublicKeyTemplate: *mut CK_ATTRIBUTE,
    ulPublicKeyAttributeCount: CK_ULONG,
    pPrivateKeyTemplate: *mut CK_ATTRIBUTE,
    ulPrivateKeyAttributeCount: CK_ULONG,
    phPublicKey: *mut CK_OBJECT_HANDLE,
    phPrivateKey: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_GenerateKeyPair", || {
        let m = module::get()?;
        if phPublicKey.is_null() || phPrivateKey.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "null key handle pointer"));
        }
        // SAFETY: forwarded contract.
        let (mech, public, private) = unsafe {
            (
                mechanism(pMechanism)?,
                template(pPublicKeyTemplate, ulPublicKeyAttributeCount)?,
                template(pPrivateKeyTemplate, ulPrivateKeyAttributeCount)?,
            )
        };
        let (h_pub, h_priv) = keys::generate_key_pair(&m, hSession, &mech, &public, &private)?;
        // SAFETY: checked for null; writable by contract.
        unsafe {
            write(phPublicKey, h_pub)?;
            write(phPrivateKey, h_priv)
        }
    })
}

/// `C_WrapKey`. `pWrappedKey` is null (length query) or holds `*pulWrappedKeyLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_WrapKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: *mut CK_MECHANISM,
    hWrappingKey: CK_OBJECT_HANDLE,
    hKey: CK_OBJECT_HANDLE,
    pWrappedKey: *mut CK_BYTE,
    pulWrappedKeyLen: *mut CK_ULONG,
) -> CK_RV {
    guard("C_WrapKey", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let mech = unsafe { mechanism(pMechanism)? };
        // SAFETY: forwarded contract.
        unsafe {
            out_only(pWrappedKey, pulWrappedKeyLen, |cap| keys::wrap_key(&m, hSession, &mech, hWrappingKey, hKey, cap))
        }
    })
}

/// `C_UnwrapKey`. `pWrappedKey` holds `ulWrappedKeyLen` bytes; `pTemplate`
/// `ulAttributeCount` attributes; `phKey` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_UnwrapKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: *mut CK_MECHANISM,
    hUnwrappingKey: CK_OBJECT_HANDLE,
    pWrappedKey: *mut CK_BYTE,
    ulWrappedKeyLen: CK_ULONG,
    pTemplate: *mut CK_ATTRIBUTE,
    ulAttributeCount: CK_ULONG,
    phKey: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_UnwrapKey", || {
        let m = module::get()?;
        if phKey.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "null phKey"));
        }
        // SAFETY: forwarded contract.
        let (mech, wrapped, t) = unsafe {
            (mechanism(pMechanism)?, bytes(pWrappedKey, ulWrappedKeyLen)?, template(pTemplate, ulAttributeCount)?)
        };
        let h = keys::unwrap_key(&m, hSession, &mech, hUnwrappingKey, wrapped, &t)?;
        // SAFETY: checked for null; writable by contract.
        unsafe { write(phKey, h) }
    })
}

/// `C_DeriveKey`. `pTemplate` holds `ulAttributeCount` attributes; `phKey` must be writable,
/// and so must the `phKey` of every `CK_DERIVED_KEY` an SP 800-108 parameter lists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DeriveKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: *mut CK_MECHANISM,
    hBaseKey: CK_OBJECT_HANDLE,
    pTemplate: *mut CK_ATTRIBUTE,
    ulAttributeCount: CK_ULONG,
    phKey: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_DeriveKey", || {
        let m = module::get()?;
        if phKey.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "null phKey"));
        }
        // SAFETY: forwarded contract.
        let (mech, t) = unsafe { (mechanism(pMechanism)?, template(pTemplate, ulAttributeCount)?) };
        // SP 800-108's additional keys have their own phKey in the parameter.
        let (h, additional) = match keys::derive_keys(&m, hSession, &mech, hBaseKey, &t) {
            Ok(r) => r,
            Err(e) => {
                // SAFETY: `pMechanism` decoded above.
                unsafe { super::mechanism::write_additional_keys(pMechanism, None) };
                return Err(e);
            }
        };
        // SAFETY: `pMechanism` decoded above; its phKeys writable by contract.
        unsafe { super::mechanism::write_additional_keys(pMechanism, Some(&additional)) };
        // SAFETY: checked for null; writable by contract.
        unsafe { write(phKey, h) }
    })
}

/// `C_VerifySignatureInit` (PKCS#11 3.2). `pMechanism` is null (ends the session's
/// verification operation) or readable as for `C_VerifyInit`; `pSignature` holds
/// `ulSignatureLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifySignatureInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: *mut CK_MECHANISM,
    hKey: CK_OBJECT_HANDLE,
    pSignature: *mut CK_BYTE,
    ulSignatureLen: CK_ULONG,
) -> CK_RV {
    guard("C_VerifySignatureInit", || {
        let m = module::get()?;
        if pMechanism.is_null() {
            return ops::verify_signature_init(&m, hSession, None, hKey, &[]);
        }
        // SAFETY: forwarded contract.
        let (mech, sig) = unsafe { (mechanism(pMechanism)?, bytes(pSignature, ulSignatureLen)?) };
        ops::verify_signature_init(&m, hSession, Some(&mech), hKey, sig)
    })
}

/// `C_VerifySignature` (PKCS#11 3.2). `pData` holds `ulDataLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifySignature(
    hSession: CK_SESSION_HANDLE,
    pData: *mut CK_BYTE,
    ulDataLen: CK_ULONG,
) -> CK_RV {
    guard("C_VerifySignature", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let data = unsafe { bytes(pData, ulDataLen)? };
        ops::verify_signature(&m, hSession, data)
    })
}

/// `C_VerifySignatureUpdate` (PKCS#11 3.2). `pPart` holds `ulPartLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifySignatureUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: *mut CK_BYTE,
    ulPartLen: CK_ULONG,
) -> CK_RV {
    guard("C_VerifySignatureUpdate", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let part = unsafe { bytes(pPart, ulPartLen)? };
        ops::verify_signature_update(&m, hSession, part)
    })
}

/// `C_VerifySignatureFinal` (PKCS#11 3.2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifySignatureFinal(hSession: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_VerifySignatureFinal", || ops::verify_signature_final(&*module::get()?, hSession))
}

/// The parameter of one message (`pParameter`, `ulParameterLen` of the message-based
/// functions), decoded as a parameter of the process's mechanism `ty`: none when
/// `ulParameterLen` is 0; a null pointer with a length is `CKR_ARGUMENTS_BAD`.
///
/// # Safety
/// `p` is null or points to `len` readable bytes laid out as the parameter of `ty`
/// (inner pointers as `CK_MECHANISM`'s, see [`mechanism`]).
unsafe fn message_param(p: *mut c_void, len: CK_ULONG, ty: CK_MECHANISM_TYPE) -> crate::error::Result<Param> {
    if len == 0 {
        return Ok(Param::None);
    }
    if p.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "null pParameter with a length"));
    }
    let m = CK_MECHANISM { mechanism: ty, pParameter: p, ulParameterLen: len };
    // SAFETY: forwarded contract.
    Ok(unsafe { mechanism(&m)? }.param)
}

init_fn!(
    /// `C_MessageSignInit` (PKCS#11 3.0).
    C_MessageSignInit => message::message_sign_init
);
init_fn!(
    /// `C_MessageVerifyInit` (PKCS#11 3.0).
    C_MessageVerifyInit => message::message_verify_init
);

/// `C_SignMessage` (PKCS#11 3.0). `pParameter` as [`message_param`]; `pData` holds
/// `ulDataLen` bytes; `pSignature` is null (length query) or holds
/// `*pulSignatureLen` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignMessage(
    hSession: CK_SESSION_HANDLE,
    pParameter: *mut c_void,
    ulParameterLen: CK_ULONG,
    pData: *mut CK_BYTE,
    ulDataLen: CK_ULONG,
    pSignature: *mut CK_BYTE,
    pulSignatureLen: *mut CK_ULONG,
) -> CK_RV {
    guard("C_SignMessage", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let param = |ty| unsafe { message_param(pParameter, ulParameterLen, ty) };
        // SAFETY: forwarded contract.
        unsafe {
            in_out(pData, ulDataLen, pSignature, pulSignatureLen, |data, cap| {
                message::sign_message(&m, hSession, param, data, cap)
            })
        }
    })
}

/// `C_SignMessageBegin` (PKCS#11 3.0). `pParameter` as [`message_param`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignMessageBegin(
    hSession: CK_SESSION_HANDLE,
    pParameter: *mut c_void,
    ulParameterLen: CK_ULONG,
) -> CK_RV {
    guard("C_SignMessageBegin", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let param = |ty| unsafe { message_param(pParameter, ulParameterLen, ty) };
        message::sign_message_begin(&m, hSession, param)
    })
}

/// `C_SignMessageNext` (PKCS#11 3.0). `pParameter` as [`message_param`];
/// `pDataPart` holds `ulDataPartLen` bytes. A null `pulSignatureLen`: more parts
/// follow (`pSignature` is ignored). Else this is the last part and the signature
/// comes back as `C_SignMessage`'s does.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignMessageNext(
    hSession: CK_SESSION_HANDLE,
    pParameter: *mut c_void,
    ulParameterLen: CK_ULONG,
    pDataPart: *mut CK_BYTE,
    ulDataPartLen: CK_ULONG,
    pSignature: *mut CK_BYTE,
    pulSignatureLen: *mut CK_ULONG,
) -> CK_RV {
    guard("C_SignMessageNext", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let param = |ty| unsafe { message_param(pParameter, ulParameterLen, ty) };
        if pulSignatureLen.is_null() {
            // SAFETY: forwarded contract.
            let part = unsafe { bytes(pDataPart, ulDataPartLen)? };
            return message::sign_message_next(&m, hSession, param, part);
        }
        // SAFETY: forwarded contract.
        unsafe {
            in_out(pDataPart, ulDataPartLen, pSignature, pulSignatureLen, |part, cap| {
                message::sign_message_last(&m, hSession, param, part, cap)
            })
        }
    })
}

/// `C_MessageSignFinal` (PKCS#11 3.0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_MessageSignFinal(hSession: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_MessageSignFinal", || message::message_sign_final(&*module::get()?, hSession))
}

/// `C_VerifyMessage` (PKCS#11 3.0). `pParameter` as [`message_param`]; `pData`
/// holds `ulDataLen` bytes, `pSignature` `ulSignatureLen`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifyMessage(
    hSession: CK_SESSION_HANDLE,
    pParameter: *mut c_void,
    ulParameterLen: CK_ULONG,
    pData: *mut CK_BYTE,
    ulDataLen: CK_ULONG,
    pSignature: *mut CK_BYTE,
    ulSignatureLen: CK_ULONG,
) -> CK_RV {
    guard("C_VerifyMessage", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let param = |ty| unsafe { message_param(pParameter, ulParameterLen, ty) };
        // SAFETY: forwarded contract.
        let (data, sig) = unsafe { (bytes(pData, ulDataLen)?, bytes(pSignature, ulSignatureLen)?) };
        message::verify_message(&m, hSession, param, data, sig)
    })
}

/// `C_VerifyMessageBegin` (PKCS#11 3.0). `pParameter` as [`message_param`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifyMessageBegin(
    hSession: CK_SESSION_HANDLE,
    pParameter: *mut c_void,
    ulParameterLen: CK_ULONG,
) -> CK_RV {
    guard("C_VerifyMessageBegin", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let param = |ty| unsafe { message_param(pParameter, ulParameterLen, ty) };
        message::verify_message_begin(&m, hSession, param)
    })
}

/// `C_VerifyMessageNext` (PKCS#11 3.0). `pParameter` as [`message_param`];
/// `pDataPart` holds `ulDataPartLen` bytes. A null `pSignature`: more parts follow;
/// else it holds `ulSignatureLen` bytes, the signature checked with this last part.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifyMessageNext(
    hSession: CK_SESSION_HANDLE,
    pParameter: *mut c_void,
    ulParameterLen: CK_ULONG,
    pDataPart: *mut CK_BYTE,
    ulDataPartLen: CK_ULONG,
    pSignature: *mut CK_BYTE,
    ulSignatureLen: CK_ULONG,
) -> CK_RV {
    guard("C_VerifyMessageNext", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let param = |ty| unsafe { message_param(pParameter, ulParameterLen, ty) };
        // SAFETY: forwarded contract.
        let part = unsafe { bytes(pDataPart, ulDataPartLen)? };
        // SAFETY: forwarded contract.
        let sig = if pSignature.is_null() { None } else { Some(unsafe { bytes(pSignature, ulSignatureLen)? }) };
        message::verify_message_next(&m, hSession, param, part, sig)
    })
}

/// `C_MessageVerifyFinal` (PKCS#11 3.0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_MessageVerifyFinal(hSession: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_MessageVerifyFinal", || message::message_verify_final(&*module::get()?, hSession))
}

/// Functions whose mechanisms are not in this build yet: each checks that the
/// module is initialised and returns `CKR_FUNCTION_NOT_SUPPORTED`. (Signature with
/// recovery, the dual-function updates, message-based encryption and decryption,
/// and of 3.2 the session validation flags, the asynchronous functions and
/// authenticated wrapping.)
macro_rules! not_supported {
    ($( $name:ident ( $($ty:ty),* ); )*) => {
        $(
            #[doc = concat!("`", stringify!($name), "`: returns `CKR_FUNCTION_NOT_SUPPORTED` (no mechanism of this build uses it).")]
            #[unsafe(no_mangle)]
            #[allow(unused_variables)]
            pub unsafe extern "C" fn $name($(_: $ty),*) -> CK_RV {
                guard(stringify!($name), || {
                    module::get()?;
                    Err(err(CKR_FUNCTION_NOT_SUPPORTED, concat!(stringify!($name), " is not supported yet")))
                })
            }
        )*
    };
}

type S = CK_SESSION_HANDLE;
type H = CK_OBJECT_HANDLE;
type B = *mut CK_BYTE;
type L = CK_ULONG;
type LP = *mut CK_ULONG;
type M = *mut CK_MECHANISM;
type V = *mut c_void;

not_supported! {
    C_SignRecoverInit(S, M, H);
    C_SignRecover(S, B, L, B, LP);
    C_VerifyRecoverInit(S, M, H);
    C_VerifyRecover(S, B, L, B, LP);
    C_DigestEncryptUpdate(S, B, L, B, LP);
    C_DecryptDigestUpdate(S, B, L, B, LP);
    C_SignEncryptUpdate(S, B, L, B, LP);
    C_DecryptVerifyUpdate(S, B, L, B, LP);
    C_MessageEncryptInit(S, M, H);
    C_EncryptMessage(S, V, L, B, L, B, L, B, LP);
    C_EncryptMessageBegin(S, V, L, B, L);
    C_EncryptMessageNext(S, V, L, B, L, B, LP, CK_FLAGS);
    C_MessageEncryptFinal(S);
    C_MessageDecryptInit(S, M, H);
    C_DecryptMessage(S, V, L, B, L, B, L, B, LP);
    C_DecryptMessageBegin(S, V, L, B, L);
    C_DecryptMessageNext(S, V, L, B, L, B, LP, CK_FLAGS);
    C_MessageDecryptFinal(S);
    // PKCS#11 3.2 (C_EncapsulateKey / C_DecapsulateKey are in ffi/kem.rs, the
    // C_VerifySignature* functions above).
    C_GetSessionValidationFlags(S, CK_SESSION_VALIDATION_FLAGS_TYPE, *mut CK_FLAGS);
    C_AsyncComplete(S, *mut CK_UTF8CHAR, *mut CK_ASYNC_DATA);
    C_AsyncGetID(S, *mut CK_UTF8CHAR, LP);
    C_AsyncJoin(S, *mut CK_UTF8CHAR, L, B, L);
    C_WrapKeyAuthenticated(S, M, H, H, B, L, B, LP);
    C_UnwrapKeyAuthenticated(S, M, H, B, L, *mut CK_ATTRIBUTE, L, B, L, *mut H);
}
