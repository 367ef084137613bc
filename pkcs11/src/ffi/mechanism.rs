//! Copying and decoding `CK_MECHANISM` parameters. The C layouts (and their
//! pointers) stay here; the rest of the module sees [`Param`].

use std::ptr;

use cryptoki_sys::*;

use super::{bytes, template};
use crate::error::{Mech, Result, err};
use crate::mechanism::kdf::{self, CounterFormat, DataParam, DkmFormat, HkdfParams, Salt};
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
            | CKM_SLH_DSA
            | CKM_HASH_ML_DSA_SHA224
            | CKM_HASH_ML_DSA_SHA256
            | CKM_HASH_ML_DSA_SHA384
            | CKM_HASH_ML_DSA_SHA512
            | CKM_HASH_ML_DSA_SHA3_224
            | CKM_HASH_ML_DSA_SHA3_256
            | CKM_HASH_ML_DSA_SHA3_384
            | CKM_HASH_ML_DSA_SHA3_512
            | CKM_HASH_ML_DSA_SHAKE128
            | CKM_HASH_ML_DSA_SHAKE256
            | CKM_HASH_SLH_DSA_SHA224
            | CKM_HASH_SLH_DSA_SHA256
            | CKM_HASH_SLH_DSA_SHA384
            | CKM_HASH_SLH_DSA_SHA512
            | CKM_HASH_SLH_DSA_SHA3_224
            | CKM_HASH_SLH_DSA_SHA3_256
            | CKM_HASH_SLH_DSA_SHA3_384
            | CKM_HASH_SLH_DSA_SHA3_512
            | CKM_HASH_SLH_DSA_SHAKE128
            | CKM_HASH_SLH_DSA_SHAKE256 => {
                let c: CK_SIGN_ADDITIONAL_CONTEXT = read(ty, pp, len)?;
                Param::SignContext { hedge: c.hedgeVariant as u64, context: inner(ty, c.pContext, c.ulContextLen)? }
            }
            CKM_HASH_ML_DSA | CKM_HASH_SLH_DSA => {
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
            CKM_HKDF_DERIVE | CKM_HKDF_DATA => Param::Hkdf(hkdf(ty, pp, len)?),
            CKM_SP800_108_COUNTER_KDF | CKM_SP800_108_DOUBLE_PIPELINE_KDF => {
                let k: CK_SP800_108_KDF_PARAMS = read(ty, pp, len)?;
                Param::Sp800108(kdf::Sp800108Params {
                    prf: k.prfType,
                    data: data_params(ty, k.pDataParams, k.ulNumberOfDataParams)?,
                    iv: Vec::new(),
                    additional: additional_templates(ty, k.pAdditionalDerivedKeys, k.ulAdditionalDerivedKeys)?,
                })
            }
            CKM_SP800_108_FEEDBACK_KDF => {
                let k: CK_SP800_108_FEEDBACK_KDF_PARAMS = read(ty, pp, len)?;
                Param::Sp800108(kdf::Sp800108Params {
                    prf: k.prfType,
                    data: data_params(ty, k.pDataParams, k.ulNumberOfDataParams)?,
                    iv: inner(ty, k.pIV, k.ulIVLen)?,
                    additional: additional_templates(ty, k.pAdditionalDerivedKeys, k.ulAdditionalDerivedKeys)?,
                })
            }
            CKM_PKCS5_PBKD2 => Param::Pbkdf2(pbkdf2(ty, pp, len)?),
            CKM_CONCATENATE_BASE_AND_KEY => {
                let h: CK_OBJECT_HANDLE = read(ty, pp, len)?;
                Param::Ulong(h as u64)
            }
            CKM_EXTRACT_KEY_FROM_KEY => {
                let b: CK_EXTRACT_PARAMS = read(ty, pp, len)?;
                Param::Ulong(b as u64)
            }
            CKM_CONCATENATE_BASE_AND_DATA | CKM_CONCATENATE_DATA_AND_BASE | CKM_XOR_BASE_AND_DATA => {
                let d: CK_KEY_DERIVATION_STRING_DATA = read(ty, pp, len)?;
                Param::Bytes(inner(ty, d.pData, d.ulLen)?)
            }
            _ => Param::Bytes(inner(ty, pp, len)?),
        }
    };
    Ok(Mechanism { ty, param })
}

/// The most entries this module takes in a parameter's array (data parameters,
/// additional derived keys): far more than any KDF encoding needs, and a bound on
/// what a bad count can make us read.
const MAX_ENTRIES: CK_ULONG = 64;

/// The longest PBKDF2 password this module takes. It also keeps a 2.40
/// `CK_PKCS5_PBKD2_PARAMS` (whose `ulPasswordLen` is a pointer, and which has the
/// same size as the 3.0 `CK_PKCS5_PBKD2_PARAMS2` wherever a pointer and a
/// `CK_ULONG` are the same size) from being read as a huge length: a pointer's
/// value is never this small.
pub(crate) const MAX_PASSWORD: CK_ULONG = 4096;

/// `CK_HKDF_PARAMS`. The salt is read only when extracting and the info only when
/// expanding, as the spec says they are ignored otherwise.
///
/// # Safety
/// As [`mechanism`].
unsafe fn hkdf(ty: CK_MECHANISM_TYPE, pp: *const u8, len: CK_ULONG) -> Result<HkdfParams> {
    // SAFETY: forwarded contract; `read` checks the size.
    let h: CK_HKDF_PARAMS = unsafe { read(ty, pp, len)? };
    let (extract, expand) = (h.bExtract != 0, h.bExpand != 0);
    let salt = match (extract, h.ulSaltType) {
        (false, _) => Salt::Null,
        (true, CKF_HKDF_SALT_NULL) => Salt::Null,
        // SAFETY: `pSalt` points to `ulSaltLen` bytes by contract.
        (true, CKF_HKDF_SALT_DATA) => Salt::Data(unsafe { inner(ty, h.pSalt, h.ulSaltLen)? }),
        (true, CKF_HKDF_SALT_KEY) => Salt::Key(h.hSaltKey),
        _ => return Err(err(CKR_MECHANISM_PARAM_INVALID, format!("{}: unknown ulSaltType", Mech(ty)))),
    };
    // SAFETY: `pInfo` points to `ulInfoLen` bytes by contract.
    let info = if expand { unsafe { inner(ty, h.pInfo, h.ulInfoLen)? } } else { Vec::new() };
    Ok(HkdfParams { extract, expand, hash: h.prfHashMechanism, salt, info })
}

/// Checks an array pointer and count of a parameter.
fn array<T>(ty: CK_MECHANISM_TYPE, p: *const T, count: CK_ULONG) -> Result<usize> {
    if count > MAX_ENTRIES || (count > 0 && p.is_null()) {
        return Err(err(CKR_MECHANISM_PARAM_INVALID, format!("{}: bad array pointer or count", Mech(ty))));
    }
    Ok(count as usize)
}

/// The `CK_PRF_DATA_PARAM` array of an SP 800-108 parameter.
///
/// # Safety
/// `p` points to `count` readable `CK_PRF_DATA_PARAM`s whose `pValue`s point to
/// `ulValueLen` bytes.
unsafe fn data_params(ty: CK_MECHANISM_TYPE, p: *const CK_PRF_DATA_PARAM, count: CK_ULONG) -> Result<Vec<DataParam>> {
    let n = array(ty, p, count)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: `i < count` elements, readable by contract.
        let d = unsafe { ptr::read_unaligned(p.add(i)) };
        let (v, l) = (d.pValue as *const u8, d.ulValueLen);
        // SAFETY (every arm): `v` points to `l` bytes by contract; `read` checks the size.
        out.push(unsafe {
            match d.type_ {
                CK_SP800_108_ITERATION_VARIABLE if v.is_null() && l == 0 => DataParam::Iteration(None),
                CK_SP800_108_ITERATION_VARIABLE => DataParam::Iteration(Some(counter(read(ty, v, l)?))),
                CK_SP800_108_COUNTER => DataParam::Counter(counter(read(ty, v, l)?)),
                CK_SP800_108_DKM_LENGTH => {
                    let f: CK_SP800_108_DKM_LENGTH_FORMAT = read(ty, v, l)?;
                    DataParam::DkmLength(DkmFormat {
                        method: f.dkmLengthMethod,
                        little_endian: f.bLittleEndian != 0,
                        bits: f.ulWidthInBits as u64,
                    })
                }
                CK_SP800_108_BYTE_ARRAY => DataParam::Bytes(inner(ty, v, l)?),
                other => {
                    return Err(err(
                        CKR_MECHANISM_PARAM_INVALID,
                        format!("{}: data parameter type {other} is not supported", Mech(ty)),
                    ));
                }
            }
        });
    }
    Ok(out)
}

fn counter(c: CK_SP800_108_COUNTER_FORMAT) -> CounterFormat {
    CounterFormat { little_endian: c.bLittleEndian != 0, bits: c.ulWidthInBits as u64 }
}

/// The templates of a `CK_DERIVED_KEY` array; every `phKey` must be writable
/// (checked for null here, written by [`write_additional_keys`]).
///
/// # Safety
/// `p` points to `count` readable `CK_DERIVED_KEY`s with valid templates.
unsafe fn additional_templates(
    ty: CK_MECHANISM_TYPE,
    p: *const CK_DERIVED_KEY,
    count: CK_ULONG,
) -> Result<Vec<crate::object::attr::Template>> {
    let n = array(ty, p, count)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: `i < count` elements, readable by contract.
        let d = unsafe { ptr::read_unaligned(p.add(i)) };
        if d.phKey.is_null() {
            return Err(err(CKR_MECHANISM_PARAM_INVALID, format!("{}: an additional key has no phKey", Mech(ty))));
        }
        // SAFETY: the template is readable by contract.
        out.push(unsafe { template(d.pTemplate, d.ulAttributeCount)? });
    }
    Ok(out)
}

/// Writes the handles of SP 800-108's additional keys into their `phKey`s (or
/// `CK_INVALID_HANDLE` into every one when the derivation failed, as the spec
/// asks). Does nothing for other mechanisms.
///
/// # Safety
/// `p` is the mechanism [`mechanism`] decoded successfully, unchanged since.
pub(crate) unsafe fn write_additional_keys(p: *const CK_MECHANISM, handles: Option<&[CK_OBJECT_HANDLE]>) {
    if p.is_null() {
        return;
    }
    // SAFETY: readable by contract.
    let m = unsafe { ptr::read_unaligned(p) };
    let (keys, count) = match m.mechanism {
        CKM_SP800_108_COUNTER_KDF | CKM_SP800_108_DOUBLE_PIPELINE_KDF
            if m.ulParameterLen as usize == size_of::<CK_SP800_108_KDF_PARAMS>() && !m.pParameter.is_null() =>
        {
            // SAFETY: decoded before with this size.
            let k = unsafe { ptr::read_unaligned(m.pParameter as *const CK_SP800_108_KDF_PARAMS) };
            (k.pAdditionalDerivedKeys as *const CK_DERIVED_KEY, k.ulAdditionalDerivedKeys)
        }
        CKM_SP800_108_FEEDBACK_KDF
            if m.ulParameterLen as usize == size_of::<CK_SP800_108_FEEDBACK_KDF_PARAMS>()
                && !m.pParameter.is_null() =>
        {
            // SAFETY: decoded before with this size.
            let k = unsafe { ptr::read_unaligned(m.pParameter as *const CK_SP800_108_FEEDBACK_KDF_PARAMS) };
            (k.pAdditionalDerivedKeys as *const CK_DERIVED_KEY, k.ulAdditionalDerivedKeys)
        }
        _ => return,
    };
    if keys.is_null() || count > MAX_ENTRIES {
        return;
    }
    for i in 0..count as usize {
        // SAFETY: `i < count` elements, checked when decoding (non-null phKey).
        let d = unsafe { ptr::read_unaligned(keys.add(i)) };
        if !d.phKey.is_null() {
            let h = handles.and_then(|h| h.get(i).copied()).unwrap_or(CK_INVALID_HANDLE);
            // SAFETY: writable by contract.
            unsafe { ptr::write_unaligned(d.phKey, h) };
        }
    }
}

/// `CK_PKCS5_PBKD2_PARAMS2` (PKCS#11 v3.0). See [`MAX_PASSWORD`] for the 2.40 struct.
///
/// # Safety
/// As [`mechanism`].
unsafe fn pbkdf2(ty: CK_MECHANISM_TYPE, pp: *const u8, len: CK_ULONG) -> Result<kdf::Pbkdf2Params> {
    // SAFETY: forwarded contract; `read` checks the size.
    let k: CK_PKCS5_PBKD2_PARAMS2 = unsafe { read(ty, pp, len)? };
    if k.saltSource != CKZ_SALT_SPECIFIED {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            format!("{}: the salt source must be CKZ_SALT_SPECIFIED", Mech(ty)),
        ));
    }
    if k.ulPasswordLen > MAX_PASSWORD {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            format!(
                "{}: ulPasswordLen is over {MAX_PASSWORD} (a 2.40 CK_PKCS5_PBKD2_PARAMS, whose ulPasswordLen is a pointer, is not accepted: pass CK_PKCS5_PBKD2_PARAMS2)",
                Mech(ty)
            ),
        ));
    }
    // SAFETY: `pSaltSourceData` and `pPassword` point to their lengths by contract.
    let (salt, password) = unsafe {
        (
            inner(ty, k.pSaltSourceData as *const u8, k.ulSaltSourceDataLen)?,
            inner(ty, k.pPassword as *const u8, k.ulPasswordLen)?,
        )
    };
    Ok(kdf::Pbkdf2Params {
        salt,
        iterations: k.iterations as u64,
        prf: k.prf,
        password: kdf::Secret(zeroize::Zeroizing::new(password)),
    })
}
