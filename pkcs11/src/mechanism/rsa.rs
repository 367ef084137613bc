//! RSA mechanisms: `CKM_RSA_PKCS_KEY_PAIR_GEN`, `CKM_RSA_PKCS`, `CKM_RSA_X_509`,
//! `CKM_SHA*_RSA_PKCS`, `CKM_RSA_PKCS_PSS` and `CKM_SHA*_RSA_PKCS_PSS`,
//! `CKM_RSA_PKCS_OAEP`; RSA key import checks and PKCS#8 for wrapping.
//!
//! PKCS#11 v3.0 mechanisms §2.1. [`ops`] checks parameters, lengths and key sizes and
//! feeds the provider's parsed key ([`crate::crypto::rsa`]); [`keys`] makes, imports,
//! encodes and decodes keys. docs/mechanisms-rsa.md describes the choices.

mod keys;
mod ops;

use cryptoki_sys::*;

pub use keys::{decode_private_key, encode_private_key, validate_import};

use super::{Entry, Registry};
use crate::crypto::Provider;

/// The smallest modulus any RSA operation or generation accepts, in bits (NIST SP
/// 800-131A: 2048 bits at least since 2014). Smaller keys may be imported but not used.
pub const MIN_BITS: usize = 2048;
/// The largest modulus, in bits.
pub const MAX_BITS: usize = crate::crypto::rsa::MAX_BITS;

/// The key types of every RSA mechanism.
const KEY_TYPES: &[CK_KEY_TYPE] = &[CKK_RSA];

/// The hashed PKCS#1 v1.5 and PSS signature mechanisms.
const HASHED: &[CK_MECHANISM_TYPE] = &[
    CKM_SHA1_RSA_PKCS,
    CKM_SHA224_RSA_PKCS,
    CKM_SHA256_RSA_PKCS,
    CKM_SHA384_RSA_PKCS,
    CKM_SHA512_RSA_PKCS,
    CKM_RSA_PKCS_PSS,
    CKM_SHA1_RSA_PKCS_PSS,
    CKM_SHA224_RSA_PKCS_PSS,
    CKM_SHA256_RSA_PKCS_PSS,
    CKM_SHA384_RSA_PKCS_PSS,
    CKM_SHA512_RSA_PKCS_PSS,
];

/// Registers the RSA mechanisms. Both providers do all of them (the `aws-lc` provider
/// with the `rsa` crate for what aws-lc lacks), so the list does not depend on it.
pub fn register(r: &mut Registry, _provider: &dyn Provider) {
    let entry = |flags| Entry { key_types: KEY_TYPES, ..Entry::new(MIN_BITS as CK_ULONG, MAX_BITS as CK_ULONG, flags) };
    r.insert(
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        Entry { generate_key_pair: Some((CKK_RSA, keys::generate)), ..entry(CKF_GENERATE_KEY_PAIR) },
    );
    let all = Entry {
        encrypt: Some(ops::encrypt),
        decrypt: Some(ops::decrypt),
        sign: Some(ops::sign),
        verify: Some(ops::verify),
        ..entry(0)
    };
    let crypt = CKF_ENCRYPT | CKF_DECRYPT;
    let sign = CKF_SIGN | CKF_VERIFY;
    let wrap = CKF_WRAP | CKF_UNWRAP;
    r.insert(CKM_RSA_PKCS, Entry { info: entry(crypt | sign | wrap).info, ..all });
    r.insert(CKM_RSA_X_509, Entry { info: entry(crypt | sign).info, ..all });
    for &m in HASHED {
        r.insert(m, Entry { info: entry(sign).info, encrypt: None, decrypt: None, ..all });
    }
    r.insert(CKM_RSA_PKCS_OAEP, Entry { info: entry(crypt | wrap).info, sign: None, verify: None, ..all });
}
