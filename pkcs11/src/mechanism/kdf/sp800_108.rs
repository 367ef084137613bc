//! NIST SP 800-108 KDFs (PKCS#11 v3.0 "SP800-108 Key Derivation"):
//! `CKM_SP800_108_COUNTER_KDF` (§5.1), `CKM_SP800_108_FEEDBACK_KDF` (§5.2) and
//! `CKM_SP800_108_DOUBLE_PIPELINE_KDF` (§5.3), with HMAC-SHA-1 to HMAC-SHA-512 or
//! AES-CMAC as the PRF.
//!
//! The PRF input is the `CK_PRF_DATA_PARAM` list, concatenated in order, with the
//! iteration variable (counter mode: the counter; feedback: `K(i-1)`; double
//! pipeline: `A(i)`), the optional counter and the DKM length filled in.
//!
//! Rules this token checks (`CKR_MECHANISM_PARAM_INVALID` otherwise): exactly one
//! iteration variable, with a `CK_SP800_108_COUNTER_FORMAT` in counter mode and
//! none in the others; `CK_SP800_108_COUNTER` only outside counter mode, at most
//! once; at most one DKM length; byte arrays not empty; counters 8 to 32 bits wide
//! and DKM lengths 8 to 64 bits, whole bytes; `CK_SP800_108_KEY_HANDLE` is not
//! supported. Every output key needs a length (`CKA_VALUE_LEN`, or a key type
//! that fixes it: `CKR_TEMPLATE_INCOMPLETE`). Each key starts on a fresh PRF
//! segment, as the spec's "Deriving Additional Keys" requires.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{CounterFormat, DataParam, Inputs, Prf, PrfKind, Sp800108Params, value_of};
use crate::crypto::{HashAlg, Provider};
use crate::error::{Result, err};
use crate::mechanism::{Mechanism, Param};

/// Base key types: generic secrets and HMAC keys for the HMAC PRFs, AES keys
/// for CMAC.
pub const KEY_TYPES: &[CK_KEY_TYPE] =
    &[CKK_GENERIC_SECRET, CKK_AES, CKK_SHA_1_HMAC, CKK_SHA224_HMAC, CKK_SHA256_HMAC, CKK_SHA384_HMAC, CKK_SHA512_HMAC];

/// The PRF of `prfType`, and the key types it takes.
fn prf_kind(mech: &Mechanism, prf: CK_MECHANISM_TYPE) -> Result<(PrfKind, &'static [CK_KEY_TYPE])> {
    Ok(match prf {
        CKM_SHA_1_HMAC => (PrfKind::Hmac(HashAlg::Sha1), &[CKK_GENERIC_SECRET, CKK_SHA_1_HMAC]),
        CKM_SHA224_HMAC => (PrfKind::Hmac(HashAlg::Sha224), &[CKK_GENERIC_SECRET, CKK_SHA224_HMAC]),
        CKM_SHA256_HMAC => (PrfKind::Hmac(HashAlg::Sha256), &[CKK_GENERIC_SECRET, CKK_SHA256_HMAC]),
        CKM_SHA384_HMAC => (PrfKind::Hmac(HashAlg::Sha384), &[CKK_GENERIC_SECRET, CKK_SHA384_HMAC]),
        CKM_SHA512_HMAC => (PrfKind::Hmac(HashAlg::Sha512), &[CKK_GENERIC_SECRET, CKK_SHA512_HMAC]),
        CKM_AES_CMAC => (PrfKind::Cmac, &[CKK_AES]),
        _ => return Err(mech.bad_param("the PRF must be CKM_SHA_1_HMAC to CKM_SHA512_HMAC or CKM_AES_CMAC")),
    })
}

/// `value` in `bits` (a multiple of 8), big- or little-endian; `None` when it does
/// not fit.
fn encode(value: u64, bits: u64, little_endian: bool) -> Option<Vec<u8>> {
    let n = (bits / 8) as usize;
    if bits < 64 && value >> bits != 0 {
        return None;
    }
    let be = value.to_be_bytes();
    let mut v = be[8 - n..].to_vec();
    if little_endian {
        v.reverse();
    }
    Some(v)
}

fn check_counter(mech: &Mechanism, c: &CounterFormat) -> Result<()> {
    if !c.bits.is_multiple_of(8) || !(8..=32).contains(&c.bits) {
        return Err(mech.bad_param("a counter is 8, 16, 24 or 32 bits wide"));
    }
    Ok(())
}

/// Checks the data parameter list against the mode's rules.
fn check_data(mech: &Mechanism, data: &[DataParam]) -> Result<()> {
    let counter_mode = mech.ty == CKM_SP800_108_COUNTER_KDF;
    let (mut iter, mut counters, mut dkms) = (0, 0, 0);
    for d in data {
        match d {
            DataParam::Iteration(f) => {
                iter += 1;
                match (counter_mode, f) {
                    (true, Some(c)) => check_counter(mech, c)?,
                    (false, None) => {}
                    (true, None) => return Err(mech.bad_param("the iteration variable needs a counter format")),
                    (false, Some(_)) => return Err(mech.bad_param("the iteration variable takes no value here")),
                }
            }
            DataParam::Counter(c) => {
                if counter_mode {
                    return Err(mech.bad_param("CK_SP800_108_COUNTER is not allowed in counter mode"));
                }
                check_counter(mech, c)?;
                counters += 1;
            }
            DataParam::DkmLength(f) => {
                if !f.bits.is_multiple_of(8) || !(8..=64).contains(&f.bits) {
                    return Err(mech.bad_param("a DKM length is 8 to 64 bits wide, whole bytes"));
                }
                if ![CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS].contains(&f.method) {
                    return Err(mech.bad_param("unknown DKM length method"));
                }
                dkms += 1;
            }
            DataParam::Bytes(b) => {
                if b.is_empty() {
                    return Err(mech.bad_param("an empty byte array"));
                }
            }
        }
    }
    if iter != 1 {
        return Err(mech.bad_param("exactly one CK_SP800_108_ITERATION_VARIABLE is required"));
    }
    if counters > 1 || dkms > 1 {
        return Err(mech.bad_param("at most one counter and one DKM length"));
    }
    Ok(())
}

/// The PRF input for iteration `i` (from 1), with `chain` the feedback or
/// pipeline value; `iteration: false` leaves the iteration variable and the
/// counter out (double pipeline's `A(0)`).
fn input(data: &[DataParam], i: u64, chain: &[u8], dkm: u64, iteration: bool) -> Result<Zeroizing<Vec<u8>>> {
    let too_long = || err(CKR_TEMPLATE_INCONSISTENT, "more keying material than the counter or length width allows");
    let mut v = Zeroizing::new(Vec::new());
    for d in data {
        match d {
            DataParam::Iteration(_) | DataParam::Counter(_) if !iteration => {}
            DataParam::Iteration(Some(c)) | DataParam::Counter(c) => {
                v.extend_from_slice(&encode(i, c.bits, c.little_endian).ok_or_else(too_long)?)
            }
            DataParam::Iteration(None) => v.extend_from_slice(chain),
            DataParam::DkmLength(f) => v.extend_from_slice(&encode(dkm, f.bits, f.little_endian).ok_or_else(too_long)?),
            DataParam::Bytes(b) => v.extend_from_slice(b),
        }
    }
    Ok(v)
}

/// `C_DeriveKey` with one of the SP 800-108 mechanisms.
pub fn derive(p: &dyn Provider, mech: &Mechanism, inputs: &Inputs<'_>) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    let Param::Sp800108(Sp800108Params { prf, data, iv, .. }) = &mech.param else {
        return Err(mech.bad_param("takes a CK_SP800_108_KDF_PARAMS"));
    };
    let (kind, key_types) = prf_kind(mech, *prf)?;
    let kt = inputs.base.attrs.ulong(CKA_KEY_TYPE).unwrap_or(u64::MAX) as CK_KEY_TYPE;
    if !key_types.contains(&kt) {
        return Err(err(CKR_KEY_TYPE_INCONSISTENT, "the base key's type does not fit the PRF"));
    }
    check_data(mech, data)?;
    if !iv.is_empty() && mech.ty != CKM_SP800_108_FEEDBACK_KDF {
        return Err(mech.bad_param("only feedback mode takes an IV"));
    }
    let prf = Prf::new(p, kind, value_of(inputs.base)?)?;
    let h = prf.output_len();
    let mut lens = Vec::with_capacity(inputs.outputs.len());
    for o in inputs.outputs {
        match o.wanted() {
            Some(0) => return Err(err(CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN is 0")),
            Some(n) => lens.push(n),
            None => return Err(err(CKR_TEMPLATE_INCOMPLETE, "every derived key needs CKA_VALUE_LEN")),
        }
    }
    let segments: u64 = lens.iter().map(|n| n.div_ceil(h) as u64).sum();
    let dkm_bits = |method| {
        if method == CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS {
            segments * h as u64 * 8
        } else {
            lens.iter().sum::<usize>() as u64 * 8
        }
    };
    let dkm = data
        .iter()
        .find_map(|d| match d {
            DataParam::DkmLength(f) => Some(dkm_bits(f.method)),
            _ => None,
        })
        .unwrap_or(0);
    if segments > u32::MAX as u64 {
        return Err(err(CKR_TEMPLATE_INCONSISTENT, "too much keying material"));
    }
    // The stream of segments: K(1), K(2)...
    let mut chain: Zeroizing<Vec<u8>> = match mech.ty {
        CKM_SP800_108_FEEDBACK_KDF => Zeroizing::new(iv.clone()),
        CKM_SP800_108_DOUBLE_PIPELINE_KDF => input(data, 0, &[], dkm, false)?, // A(0)
        _ => Zeroizing::new(Vec::new()),
    };
    let mut stream = Vec::with_capacity(segments as usize);
    for i in 1..=segments {
        let k = match mech.ty {
            CKM_SP800_108_COUNTER_KDF => prf.mac(&[&input(data, i, &[], dkm, true)?])?,
            CKM_SP800_108_FEEDBACK_KDF => {
                let k = prf.mac(&[&input(data, i, &chain, dkm, true)?])?;
                chain = k.clone();
                k
            }
            _ => {
                chain = prf.mac(&[&chain])?; // A(i) = PRF(A(i-1))
                prf.mac(&[&input(data, i, &chain, dkm, true)?])?
            }
        };
        stream.push(k);
    }
    // Each key takes whole segments, in order.
    let mut out = Vec::with_capacity(lens.len());
    let mut next = 0;
    for n in lens {
        let take = n.div_ceil(h);
        let mut v = Zeroizing::new(Vec::with_capacity(take * h));
        for s in &stream[next..next + take] {
            v.extend_from_slice(s);
        }
        v.truncate(n);
        next += take;
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_encoded_in_their_width() {
        assert_eq!(encode(1, 8, false), Some(vec![1]));
        assert_eq!(encode(0x0102, 16, false), Some(vec![1, 2]));
        assert_eq!(encode(0x0102, 16, true), Some(vec![2, 1]));
        assert_eq!(encode(0x0102, 32, false), Some(vec![0, 0, 1, 2]));
        assert_eq!(encode(256, 8, false), None);
        assert_eq!(encode(u64::MAX, 64, false), Some(vec![0xff; 8]));
    }
}
