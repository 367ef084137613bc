//! The simple derivations of PKCS#11 v3.0 "Miscellaneous simple key derivation
//! mechanisms": `CKM_CONCATENATE_BASE_AND_KEY`, `CKM_CONCATENATE_BASE_AND_DATA`,
//! `CKM_CONCATENATE_DATA_AND_BASE`, `CKM_XOR_BASE_AND_DATA` and
//! `CKM_EXTRACT_KEY_FROM_KEY`.
//!
//! Lengths follow the spec's four cases: no length and no fixed-length type gives
//! the whole result (the concatenation, or the shorter of key and data for XOR;
//! `CKR_TEMPLATE_INCOMPLETE` for extraction, which has no natural length); a
//! length takes that many leading bytes; a length longer than the material is
//! `CKR_TEMPLATE_INCONSISTENT`. The sensitivity rules are applied by the token
//! layer, which builds the attributes.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{Inputs, value_of};
use crate::crypto::Provider;
use crate::error::{Result, err};
use crate::mechanism::{Mechanism, Param};

/// Base (and other) key types: every secret key this build stores.
pub const KEY_TYPES: &[CK_KEY_TYPE] = &[
    CKK_GENERIC_SECRET,
    CKK_AES,
    CKK_SHA_1_HMAC,
    CKK_SHA224_HMAC,
    CKK_SHA256_HMAC,
    CKK_SHA384_HMAC,
    CKK_SHA512_HMAC,
    CKK_HKDF,
];

/// `CK_EXTRACT_PARAMS` example of the spec: bits 21.. of 0x329F84A9 are 0x9526.
/// Bit 0 is the most significant bit of the first byte; the bits wrap around.
pub fn extract_bits(value: &[u8], first_bit: u64, len: usize) -> Zeroizing<Vec<u8>> {
    let total = value.len() as u64 * 8;
    let bit = |b: u64| {
        let b = b % total;
        (value[(b / 8) as usize] >> (7 - b % 8)) & 1
    };
    let mut out = Zeroizing::new(vec![0u8; len]);
    for (i, byte) in out.iter_mut().enumerate() {
        for j in 0..8u64 {
            *byte = (*byte << 1) | bit(first_bit + i as u64 * 8 + j);
        }
    }
    out
}

/// `C_DeriveKey` with one of the simple mechanisms.
pub fn derive(_p: &dyn Provider, mech: &Mechanism, inputs: &Inputs<'_>) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    let [out] = inputs.outputs else {
        return Err(mech.bad_param("makes one key"));
    };
    let base = value_of(inputs.base)?;
    let data = || match &mech.param {
        Param::Bytes(d) => Ok(d.as_slice()),
        _ => Err(mech.bad_param("takes a CK_KEY_DERIVATION_STRING_DATA")),
    };
    let material: Zeroizing<Vec<u8>> = match mech.ty {
        CKM_CONCATENATE_BASE_AND_KEY => {
            let other = inputs.other.ok_or_else(|| mech.bad_param("takes the handle of a secret key"))?;
            Zeroizing::new([base, value_of(other)?].concat())
        }
        CKM_CONCATENATE_BASE_AND_DATA => Zeroizing::new([base, data()?].concat()),
        CKM_CONCATENATE_DATA_AND_BASE => Zeroizing::new([data()?, base].concat()),
        CKM_XOR_BASE_AND_DATA => Zeroizing::new(base.iter().zip(data()?).map(|(a, b)| a ^ b).collect()),
        CKM_EXTRACT_KEY_FROM_KEY => {
            let Param::Ulong(first) = mech.param else {
                return Err(mech.bad_param("takes a CK_EXTRACT_PARAMS (the first bit)"));
            };
            let len =
                out.wanted().ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, "give CKA_VALUE_LEN for the extracted key"))?;
            if len == 0 || len > base.len() {
                return Err(err(CKR_TEMPLATE_INCONSISTENT, "the extracted key is longer than the base key"));
            }
            if first >= base.len() as u64 * 8 {
                return Err(mech.bad_param("the first bit is past the end of the base key"));
            }
            return Ok(vec![extract_bits(base, first, len)]);
        }
        _ => return Err(mech.bad_param("not a simple derivation")),
    };
    match out.wanted() {
        None if material.is_empty() => Err(err(CKR_TEMPLATE_INCONSISTENT, "the derivation gives no bytes")),
        None => Ok(vec![material]),
        Some(n) if n == 0 || n > material.len() => Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            format!("CKA_VALUE_LEN {n}: the derivation gives {} bytes", material.len()),
        )),
        Some(n) => Ok(vec![Zeroizing::new(material[..n].to_vec())]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the spec's "Extraction of one key from another key".
    #[test]
    fn the_spec_example() {
        assert_eq!(*extract_bits(&[0x32, 0x9f, 0x84, 0xa9], 21, 2), vec![0x95, 0x26]);
        // Wrapping around: starting at bit 24 for 2 bytes reads 0xa9 then 0x32.
        assert_eq!(*extract_bits(&[0x32, 0x9f, 0x84, 0xa9], 24, 2), vec![0xa9, 0x32]);
    }
}
