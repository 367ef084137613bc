//! PBKDF2 (PKCS #5 v2.1 §5.2, RFC 8018): `CKM_PKCS5_PBKD2`, through
//! `C_GenerateKey` with a `CK_PKCS5_PBKD2_PARAMS2`.
//!
//! PRFs `CKP_PKCS5_PBKD2_HMAC_SHA1`, `_SHA224`, `_SHA256`, `_SHA384`, `_SHA512`;
//! salt source `CKZ_SALT_SPECIFIED` only; at least one iteration. The key's
//! length is `CKA_VALUE_LEN` (required, 1 to 512 bytes) or, for a key type that
//! fixes it, implied.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{Out, Pbkdf2Params};
use crate::crypto::{HashAlg, Provider};
use crate::error::{Result, err};
use crate::mechanism::{Mechanism, Param};
use crate::object::Attrs;

/// The most iterations one call may ask for: a bound on the time a caller can make
/// the token spend (about a minute on one core with SHA-512).
pub const MAX_ITERATIONS: u64 = 10_000_000;

/// PBKDF2 with HMAC-`hash`.
pub fn pbkdf2(
    p: &dyn Provider,
    hash: HashAlg,
    password: &[u8],
    salt: &[u8],
    iterations: u64,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    let h = hash.output_len();
    let mut out = Zeroizing::new(Vec::with_capacity(len + h));
    let mut block: u32 = 0;
    while out.len() < len {
        block += 1;
        let mut m = p.hmac_start(hash, password);
        m.update(salt)?;
        m.update(&block.to_be_bytes())?;
        let mut u = Zeroizing::new(m.finish()?);
        let mut t = u.clone();
        for _ in 1..iterations {
            u = Zeroizing::new(p.hmac(hash, password, &u));
            for (a, b) in t.iter_mut().zip(u.iter()) {
                *a ^= b;
            }
        }
        out.extend_from_slice(&t);
    }
    out.truncate(len);
    Ok(out)
}

/// `C_GenerateKey` with `CKM_PKCS5_PBKD2`.
pub fn generate(p: &dyn Provider, mech: &Mechanism, attrs: &Attrs) -> Result<Zeroizing<Vec<u8>>> {
    let Param::Pbkdf2(Pbkdf2Params { salt, iterations, prf, password }) = &mech.param else {
        return Err(mech.bad_param("takes a CK_PKCS5_PBKD2_PARAMS2"));
    };
    let hash = match *prf {
        CKP_PKCS5_PBKD2_HMAC_SHA1 => HashAlg::Sha1,
        CKP_PKCS5_PBKD2_HMAC_SHA224 => HashAlg::Sha224,
        CKP_PKCS5_PBKD2_HMAC_SHA256 => HashAlg::Sha256,
        CKP_PKCS5_PBKD2_HMAC_SHA384 => HashAlg::Sha384,
        CKP_PKCS5_PBKD2_HMAC_SHA512 => HashAlg::Sha512,
        _ => return Err(mech.bad_param("the PRF must be CKP_PKCS5_PBKD2_HMAC_SHA1 or _SHA224 to _SHA512")),
    };
    if !(1..=MAX_ITERATIONS).contains(iterations) {
        return Err(mech.bad_param("1 to 10,000,000 iterations"));
    }
    let kt = attrs.ulong(CKA_KEY_TYPE).map(|k| k as CK_KEY_TYPE);
    let out = Out { len: attrs.ulong(CKA_VALUE_LEN).map(|n| n as usize), key_type: kt };
    let len = out.wanted().ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required"))?;
    if !(1..=super::MAX_KEY as usize).contains(&len) {
        return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, format!("CKA_VALUE_LEN {len}: 1 to {} bytes", super::MAX_KEY)));
    }
    pbkdf2(p, hash, &password.0, salt, *iterations, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6070 case 2, on every provider.
    #[test]
    fn rfc6070_two_iterations() {
        for name in crate::crypto::available() {
            let p = crate::crypto::select(Some(name)).unwrap();
            let dk = pbkdf2(p.as_ref(), HashAlg::Sha1, b"password", b"salt", 2, 20).unwrap();
            let hex: String = dk.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957", "{name}");
        }
    }
}
