//! HKDF (RFC 5869): `CKM_HKDF_DERIVE`, `CKM_HKDF_DATA` (PKCS#11 v3.0 "HKDF
//! mechanisms") and `CKM_HKDF_KEY_GEN`.
//!
//! - Extract: `PRK = HMAC(salt, IKM)`; a null salt is `HashLen` zero bytes (which
//!   HMAC treats exactly as an empty salt). Expand: `T(i) = HMAC(PRK, T(i-1) ||
//!   info || i)`, at most 255 blocks.
//! - The base key may be of any length when extracting (RFC 5869's own cases use
//!   22- and 80-byte IKM). Expanding without extracting takes the base key as the
//!   PRK, which RFC 5869 §2.3 wants at least `HashLen` bytes long.
//! - Extract only: the output is the PRK; `CKA_VALUE_LEN`, if given, must be
//!   `HashLen`. With expand, `CKA_VALUE_LEN` is required (`CKR_TEMPLATE_INCOMPLETE`)
//!   and at most `255 * HashLen` (`CKR_TEMPLATE_INCONSISTENT`).

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{HkdfParams, Inputs, Salt, hash_of, value_of};
use crate::crypto::{HashAlg, Provider};
use crate::error::{Result, err};
use crate::mechanism::{Mechanism, Param};
use crate::object::Attrs;

/// RFC 5869 extract.
pub fn extract(p: &dyn Provider, hash: HashAlg, salt: &[u8], ikm: &[u8]) -> Zeroizing<Vec<u8>> {
    let zeros = vec![0u8; hash.output_len()];
    let salt = if salt.is_empty() { &zeros[..] } else { salt };
    Zeroizing::new(p.hmac(hash, salt, ikm))
}

/// RFC 5869 expand; `len` at most `255 * HashLen` (checked by the caller).
pub fn expand(p: &dyn Provider, hash: HashAlg, prk: &[u8], info: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut okm = Zeroizing::new(Vec::with_capacity(len + hash.output_len()));
    let mut t = Zeroizing::new(Vec::new());
    let mut i: u8 = 0;
    while okm.len() < len {
        i = i.checked_add(1).ok_or_else(|| err(CKR_TEMPLATE_INCONSISTENT, "HKDF output too long"))?;
        let mut m = p.hmac_start(hash, prk);
        m.update(&t)?;
        m.update(info)?;
        m.update(&[i])?;
        t = Zeroizing::new(m.finish()?);
        okm.extend_from_slice(&t);
    }
    okm.truncate(len);
    Ok(okm)
}

/// `C_DeriveKey` with `CKM_HKDF_DERIVE` or `CKM_HKDF_DATA`.
pub fn derive(p: &dyn Provider, mech: &Mechanism, inputs: &Inputs<'_>) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    let Param::Hkdf(params) = &mech.param else {
        return Err(mech.bad_param("takes a CK_HKDF_PARAMS"));
    };
    let HkdfParams { extract: ext, expand: exp, hash, salt, info } = params;
    let hash = hash_of(mech, *hash)?;
    let h = hash.output_len();
    let [out] = inputs.outputs else {
        return Err(mech.bad_param("makes one key"));
    };
    let ikm = value_of(inputs.base)?;
    let prk = match (ext, salt) {
        (false, _) => Zeroizing::new(ikm.to_vec()),
        (true, Salt::Null) => extract(p, hash, &[], ikm),
        (true, Salt::Data(s)) => extract(p, hash, s, ikm),
        (true, Salt::Key(_)) => {
            let key = inputs.other.ok_or_else(|| mech.bad_param("no salt key"))?;
            extract(p, hash, value_of(key)?, ikm)
        }
    };
    match (ext, exp) {
        (false, false) => Err(mech.bad_param("bExtract or bExpand must be true")),
        (true, false) => match out.len {
            Some(n) if n != h => {
                Err(err(CKR_TEMPLATE_INCONSISTENT, format!("extract only makes {h} bytes, not CKA_VALUE_LEN {n}")))
            }
            _ => Ok(vec![prk]),
        },
        (_, true) => {
            if !ext && prk.len() < h {
                return Err(err(CKR_KEY_SIZE_RANGE, format!("expanding needs a PRK of at least {h} bytes")));
            }
            let len = out
                .wanted()
                .ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, "HKDF expand needs CKA_VALUE_LEN in the template"))?;
            if len == 0 || len > 255 * h {
                return Err(err(CKR_TEMPLATE_INCONSISTENT, format!("HKDF expands to 1 to {} bytes", 255 * h)));
            }
            Ok(vec![expand(p, hash, &prk, info, len)?])
        }
    }
}

/// `CKM_HKDF_KEY_GEN`: a random `CKK_HKDF` key of `CKA_VALUE_LEN` bytes (required).
pub fn generate(p: &dyn Provider, mech: &Mechanism, attrs: &Attrs) -> Result<Zeroizing<Vec<u8>>> {
    mech.no_parameter()?;
    let len = attrs.ulong(CKA_VALUE_LEN).ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required"))?;
    if !(1..=super::MAX_KEY as u64).contains(&len) {
        return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, format!("CKA_VALUE_LEN {len}: 1 to {} bytes", super::MAX_KEY)));
    }
    let mut v = Zeroizing::new(vec![0u8; len as usize]);
    p.fill_random(&mut v);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// RFC 5869 A.1, on every provider.
    #[test]
    fn rfc5869_case_1() {
        for name in crate::crypto::available() {
            let p = crate::crypto::select(Some(name)).unwrap();
            let prk = extract(p.as_ref(), HashAlg::Sha256, &unhex("000102030405060708090a0b0c"), &[0x0b; 22]);
            assert_eq!(*prk, unhex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"));
            let okm = expand(p.as_ref(), HashAlg::Sha256, &prk, &unhex("f0f1f2f3f4f5f6f7f8f9"), 42).unwrap();
            assert_eq!(
                *okm,
                unhex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
            );
        }
    }
}
