//! Copying and decoding `CK_MECHANISM` parameters. The C layouts (and their
//! pointers) stay here; the rest of the module sees [`Param`].

use std::ptr;

use cryptoki_sys::*;

use super::bytes;
use crate::error::{Mech, Result, err};
use crate::mechanism::{Mechanism, Param};

/// Reads a parameter struct `T` whose size must be exactly `len`.
///
/// # Safety
/// `p` must point to `len` readable bytes.
unsafe fn read<T>(ty: CK_MECHANISM_TYPE, p: *const u8, len: CK_ULONG) -> Result<T> {
    if p.is_null() || len as usize != size_of::<T>() {
        return Err(err(CKR_MECHANISM_PARAM_INVALID, format!("{}: parameter of the wrong size", Mech(ty))));
    }
    // SAFETY: `len` readable bytes by contract, and `len` is the struct's size.
    Ok(unsafe { ptr::read_unaligned(p as *const T) })
}

/// A pointer-and-length pair inside a parameter, as a parameter error.
unsafe fn inner(ty: CK_MECHANISM_TYPE, p: *const u8, len: CK_ULONG) -> Result<Vec<u8>> {
    // SAFETY: forwarded contract.
    unsafe { bytes(p, len) }
        .map(<[u8]>::to_vec)
        .map_err(|_| err(CKR_MECHANISM_PARAM_INVALID, format!("{}: null pointer with a length", Mech(ty))))
}

/// The 2.40 `CK_GCM_PARAMS` without `ulIvBits`, which some applications still pass.
#[repr(C)]
#[derive(Clone, Copy)]
struct GcmParamsV240 {
    p_iv: *mut CK_BYTE,
    ul_iv_len: CK_ULONG,
    p_aad: *mut CK_BYTE,
    ul_aad_len: CK_ULONG,
    ul_tag_bits: CK_ULONG,
}

/// Copies a caller's `CK_MECHANISM`, decoding the parameters of the mechanisms that
/// have structured ones.
///
/// # Safety
/// When `p` is non-null it must point to a readable `CK_MECHANISM` whose
/// `pParameter` (when non-null) points to `ulParameterLen` readable bytes, and whose
/// inner pointers (IVs, AAD, labels...) point to as many bytes as their lengths say.
pub(crate) unsafe fn mechanism(p: *const CK_MECHANISM) -> Result<Mechanism> {
    if p.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "null mechanism"));
    }
    // SAFETY: non-null, readable by contract.
    let m = unsafe { ptr::read_unaligned(p) };
    let (ty, pp, len) = (m.mechanism, m.pParameter as *const u8, m.ulParameterLen);
    if pp.is_null() && len == 0 {
        return Ok(Mechanism { ty, param: Param::None });
    }
    // SAFETY (every arm): `pp` points to `len` bytes, and inner pointers to their
    // lengths, by contract; `read` checks the size.
    let param = unsafe {
        match ty {
            CKM_AES_GCM => {
                if len as usize == size_of::<GcmParamsV240>() {
                    let g: GcmParamsV240 = read(ty, pp, len)?;
                    Param::Gcm {
                        iv: inner(ty, g.p_iv, g.ul_iv_len)?,
                        aad: inner(ty, g.p_aad, g.ul_aad_len)?,
                        tag_bits: g.ul_tag_bits as u64,
                    }
                } else {
                    let g: CK_GCM_PARAMS = read(ty, pp, len)?;
                    Param::Gcm {
                        iv: inner(ty, g.pIv, g.ulIvLen)?,
                        aad: inner(ty, g.pAAD, g.ulAADLen)?,
                        tag_bits: g.ulTagBits as u64,
                    }
                }
            }
            CKM_RSA_PKCS_OAEP => {
                let o: CK_RSA_PKCS_OAEP_PARAMS = read(ty, pp, len)?;
                let label = match o.source {
                    0 => Vec::new(),
                    CKZ_DATA_SPECIFIED => inner(ty, o.pSourceData as *const u8, o.ulSourceDataLen)?,
                    _ => return Err(err(CKR_MECHANISM_PARAM_INVALID, "OAEP source must be CKZ_DATA_SPECIFIED")),
                };
                Param::Oaep { hash: o.hashAlg, mgf: o.mgf, label }
            }
            CKM_RSA_PKCS_PSS
            | CKM_SHA1_RSA_PKCS_PSS
            | CKM_SHA224_RSA_PKCS_PSS
            | CKM_SHA256_RSA_PKCS_PSS
            | CKM_SHA384_RSA_PKCS_PSS
            | CKM_SHA512_RSA_PKCS_PSS => {
                let s: CK_RSA_PKCS_PSS_PARAMS = read(ty, pp, len)?;
                Param::Pss { hash: s.hashAlg, mgf: s.mgf, salt_len: s.sLen as u64 }
            }
            CKM_ECDH1_DERIVE | CKM_ECDH1_COFACTOR_DERIVE => {
                let e: CK_ECDH1_DERIVE_PARAMS = read(ty, pp, len)?;
                Param::Ecdh {
                    kdf: e.kdf,
                    shared_data: inner(ty, e.pSharedData, e.ulSharedDataLen)?,
                    public_data: inner(ty, e.pPublicData, e.ulPublicDataLen)?,
                }
            }
            CKM_AES_CTR => {
                let c: CK_AES_CTR_PARAMS = read(ty, pp, len)?;
                Param::Ctr { counter_bits: c.ulCounterBits as u64, block: c.cb }
            }
            CKM_EDDSA => {
                let e: CK_EDDSA_PARAMS = read(ty, pp, len)?;
                Param::Eddsa { prehash: e.phFlag != 0, context: inner(ty, e.pContextData, e.ulContextDataLen)? }
            }
            CKM_DES3_ECB_ENCRYPT_DATA | CKM_AES_ECB_ENCRYPT_DATA => {
                let d: CK_KEY_DERIVATION_STRING_DATA = read(ty, pp, len)?;
                Param::EncryptData { iv: Vec::new(), data: inner(ty, d.pData, d.ulLen)? }
            }
            CKM_DES3_CBC_ENCRYPT_DATA => {
                let d: CK_DES_CBC_ENCRYPT_DATA_PARAMS = read(ty, pp, len)?;
                Param::EncryptData { iv: d.iv.to_vec(), data: inner(ty, d.pData, d.length)? }
            }
            CKM_AES_CBC_ENCRYPT_DATA => {
                let d: CK_AES_CBC_ENCRYPT_DATA_PARAMS = read(ty, pp, len)?;
                Param::EncryptData { iv: d.iv.to_vec(), data: inner(ty, d.pData, d.length)? }
            }
            CKM_ML_DSA
            | CKM_HASH_ML_DSA_SHA224
            | CKM_HASH_ML_DSA_SHA256
            | CKM_HASH_ML_DSA_SHA384
            | CKM_HASH_ML_DSA_SHA512
            | CKM_HASH_ML_DSA_SHA3_224
            | CKM_HASH_ML_DSA_SHA3_256
            | CKM_HASH_ML_DSA_SHA3_384
            | CKM_HASH_ML_DSA_SHA3_512
            | CKM_HASH_ML_DSA_SHAKE128
            | CKM_HASH_ML_DSA_SHAKE256 => {
                let c: CK_SIGN_ADDITIONAL_CONTEXT = read(ty, pp, len)?;
                Param::SignContext { hedge: c.hedgeVariant as u64, context: inner(ty, c.pContext, c.ulContextLen)? }
            }
            CKM_HASH_ML_DSA => {
                let c: CK_HASH_SIGN_ADDITIONAL_CONTEXT = read(ty, pp, len)?;
                Param::HashSignContext {
                    hedge: c.hedgeVariant as u64,
                    context: inner(ty, c.pContext, c.ulContextLen)?,
                    hash: c.hash,
                }
            }
            CKM_AES_CMAC_GENERAL
            | CKM_DES3_CMAC_GENERAL
            | CKM_SHA_1_HMAC_GENERAL
            | CKM_SHA224_HMAC_GENERAL
            | CKM_SHA256_HMAC_GENERAL
            | CKM_SHA384_HMAC_GENERAL
            | CKM_SHA512_HMAC_GENERAL => {
                let n: CK_MAC_GENERAL_PARAMS = read(ty, pp, len)?;
                Param::Ulong(n as u64)
            }
            _ => Param::Bytes(inner(ty, pp, len)?),
        }
    };
    Ok(Mechanism { ty, param })
}
