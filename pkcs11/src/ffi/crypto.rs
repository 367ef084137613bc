//! Cryptographic functions (§5.8 to §5.15) and the message-based functions of 3.0.

use std::ffi::c_void;

use cryptoki_sys::*;

use super::{bytes, bytes_mut, capacity, guard, mechanism, write_output};
use crate::error::err;
use crate::module;
use crate::token::{digest, random};

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

/// Functions whose mechanisms are not in this build yet: each checks that the
/// module is initialised and returns `CKR_FUNCTION_NOT_SUPPORTED`.
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
type A = *mut CK_ATTRIBUTE;
type V = *mut c_void;

not_supported! {
    C_EncryptInit(S, M, H);
    C_Encrypt(S, B, L, B, LP);
    C_EncryptUpdate(S, B, L, B, LP);
    C_EncryptFinal(S, B, LP);
    C_DecryptInit(S, M, H);
    C_Decrypt(S, B, L, B, LP);
    C_DecryptUpdate(S, B, L, B, LP);
    C_DecryptFinal(S, B, LP);
    C_SignInit(S, M, H);
    C_Sign(S, B, L, B, LP);
    C_SignUpdate(S, B, L);
    C_SignFinal(S, B, LP);
    C_SignRecoverInit(S, M, H);
    C_SignRecover(S, B, L, B, LP);
    C_VerifyInit(S, M, H);
    C_Verify(S, B, L, B, L);
    C_VerifyUpdate(S, B, L);
    C_VerifyFinal(S, B, L);
    C_VerifyRecoverInit(S, M, H);
    C_VerifyRecover(S, B, L, B, LP);
    C_DigestEncryptUpdate(S, B, L, B, LP);
    C_DecryptDigestUpdate(S, B, L, B, LP);
    C_SignEncryptUpdate(S, B, L, B, LP);
    C_DecryptVerifyUpdate(S, B, L, B, LP);
    C_GenerateKey(S, M, A, L, *mut H);
    C_GenerateKeyPair(S, M, A, L, A, L, *mut H, *mut H);
    C_WrapKey(S, M, H, H, B, LP);
    C_UnwrapKey(S, M, H, B, L, A, L, *mut H);
    C_DeriveKey(S, M, H, A, L, *mut H);
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
    C_MessageSignInit(S, M, H);
    C_SignMessage(S, V, L, B, L, B, LP);
    C_SignMessageBegin(S, V, L);
    C_SignMessageNext(S, V, L, B, L, B, LP);
    C_MessageSignFinal(S);
    C_MessageVerifyInit(S, M, H);
    C_VerifyMessage(S, V, L, B, L, B, L);
    C_VerifyMessageBegin(S, V, L);
    C_VerifyMessageNext(S, V, L, B, L, B, L);
    C_MessageVerifyFinal(S);
}
