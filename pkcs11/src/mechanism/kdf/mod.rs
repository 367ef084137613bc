//! Key derivation: HKDF (RFC 5869, PKCS#11 v3.0 §2.43... "HKDF mechanisms"), the
//! SP 800-108 KDFs (counter, feedback, double pipeline), PBKDF2 (PKCS #5 v2.1,
//! `CKM_PKCS5_PBKD2`) and the simple derivations of PKCS#11 v3.0 §2.41
//! (concatenation, XOR, extraction).
//!
//! Everything here is built on the provider's HMAC and AES-CMAC, so both
//! providers run the same construction and only the primitives differ (aws-lc-rs
//! has HKDF and PBKDF2 of its own, but not SP 800-108, and its HKDF cannot start
//! from a PRK: one construction for every case is easier to check).
//!
//! The token layer ([`crate::token::kdf`]) resolves the keys a parameter names,
//! builds every output's attributes and stores the results; the functions here
//! only compute bytes. docs/mechanisms-kdf.md describes the choices.

pub mod hkdf;
pub mod pbkdf2;
pub mod simple;
pub mod sp800_108;

use std::fmt;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{Entry, Mechanism, Registry};
use crate::crypto::{HashAlg, Provider};
use crate::error::{Result, err};
use crate::object::Object;
use crate::object::attr::Template;

/// Bytes that must not show in logs or `Debug` output (a password); wiped on drop.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub Zeroizing<Vec<u8>>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Where HKDF's salt comes from (`CK_HKDF_PARAMS.ulSaltType`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Salt {
    /// `CKF_HKDF_SALT_NULL`: a hash-length zero salt.
    Null,
    /// `CKF_HKDF_SALT_DATA`: these bytes.
    Data(Vec<u8>),
    /// `CKF_HKDF_SALT_KEY`: the value of this secret key.
    Key(CK_OBJECT_HANDLE),
}

/// `CK_HKDF_PARAMS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HkdfParams {
    /// `bExtract`.
    pub extract: bool,
    /// `bExpand`.
    pub expand: bool,
    /// `prfHashMechanism`: `CKM_SHA_1`, `CKM_SHA224`... `CKM_SHA512`.
    pub hash: CK_MECHANISM_TYPE,
    /// The salt.
    pub salt: Salt,
    /// `pInfo`.
    pub info: Vec<u8>,
}

/// `CK_SP800_108_COUNTER_FORMAT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterFormat {
    /// `bLittleEndian`.
    pub little_endian: bool,
    /// `ulWidthInBits`.
    pub bits: u64,
}

/// `CK_SP800_108_DKM_LENGTH_FORMAT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DkmFormat {
    /// `dkmLengthMethod`: `CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS` or `_SUM_OF_SEGMENTS`.
    pub method: CK_ULONG,
    /// `bLittleEndian`.
    pub little_endian: bool,
    /// `ulWidthInBits`.
    pub bits: u64,
}

/// One `CK_PRF_DATA_PARAM`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataParam {
    /// `CK_SP800_108_ITERATION_VARIABLE`: in counter mode with its format; in
    /// feedback and double pipeline mode without one (`None`).
    Iteration(Option<CounterFormat>),
    /// `CK_SP800_108_COUNTER` (feedback and double pipeline only).
    Counter(CounterFormat),
    /// `CK_SP800_108_DKM_LENGTH`.
    DkmLength(DkmFormat),
    /// `CK_SP800_108_BYTE_ARRAY`.
    Bytes(Vec<u8>),
}

/// `CK_SP800_108_KDF_PARAMS` and `CK_SP800_108_FEEDBACK_KDF_PARAMS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sp800108Params {
    /// `prfType`: `CKM_SHA_1_HMAC`... `CKM_SHA512_HMAC` or `CKM_AES_CMAC`.
    pub prf: CK_MECHANISM_TYPE,
    /// `pDataParams`.
    pub data: Vec<DataParam>,
    /// `pIV` (feedback mode only; empty otherwise).
    pub iv: Vec<u8>,
    /// The templates of `pAdditionalDerivedKeys`, in order. (The FFI layer keeps
    /// the `phKey` pointers and writes the handles back.)
    pub additional: Vec<Template>,
}

/// `CK_PKCS5_PBKD2_PARAMS2` with `CKZ_SALT_SPECIFIED`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pbkdf2Params {
    /// The salt.
    pub salt: Vec<u8>,
    /// The iteration count.
    pub iterations: u64,
    /// `CKP_PKCS5_PBKD2_HMAC_*`.
    pub prf: CK_ULONG,
    /// The password.
    pub password: Secret,
}

/// One key (or data object) a derivation makes: what its template asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Out {
    /// `CKA_VALUE_LEN` from the template (for `CKM_HKDF_DATA`, the template's
    /// `CKA_VALUE_LEN`, which the data object itself does not keep).
    pub len: Option<usize>,
    /// `CKA_KEY_TYPE` (`None` for a data object).
    pub key_type: Option<CK_KEY_TYPE>,
}

impl Out {
    /// The length asked for, or the one the key type fixes.
    pub fn wanted(&self) -> Option<usize> {
        self.len.or_else(|| self.key_type.and_then(fixed_len))
    }
}

/// Key types whose length is fixed by the type (PKCS#11's "well-defined length").
pub fn fixed_len(kt: CK_KEY_TYPE) -> Option<usize> {
    match kt {
        CKK_DES => Some(8),
        CKK_DES2 => Some(16),
        CKK_DES3 => Some(24),
        _ => None,
    }
}

/// What a derivation works on: the base key, the other key its parameter names
/// (HKDF's salt key, `CKM_CONCATENATE_BASE_AND_KEY`'s key), and its outputs (the
/// `C_DeriveKey` template first, then any additional keys).
pub struct Inputs<'a> {
    /// The base key.
    pub base: &'a Object,
    /// The other key, when the parameter names one ([`other_key`]).
    pub other: Option<&'a Object>,
    /// The outputs.
    pub outputs: &'a [Out],
}

/// Derives the value of every output, in order.
pub type DeriveKeys = fn(&dyn Provider, &Mechanism, &Inputs<'_>) -> Result<Vec<Zeroizing<Vec<u8>>>>;

/// The handle of another key the mechanism's parameter names, which the token
/// resolves before deriving.
pub fn other_key(mech: &Mechanism) -> Option<CK_OBJECT_HANDLE> {
    match (&mech.param, mech.ty) {
        (super::Param::Hkdf(HkdfParams { extract: true, salt: Salt::Key(h), .. }), _) => Some(*h),
        (super::Param::Ulong(h), CKM_CONCATENATE_BASE_AND_KEY) => Some(*h as CK_OBJECT_HANDLE),
        _ => None,
    }
}

/// The templates of the additional keys a mechanism makes (SP 800-108).
pub fn additional_templates(mech: &Mechanism) -> &[Template] {
    match &mech.param {
        super::Param::Sp800108(p) => &p.additional,
        _ => &[],
    }
}

/// A key's value, or `CKR_KEY_HANDLE_INVALID`.
pub fn value_of(key: &Object) -> Result<&[u8]> {
    key.attrs.get(CKA_VALUE).ok_or_else(|| err(CKR_KEY_HANDLE_INVALID, "the key has no value"))
}

/// The hash of a digest mechanism, for HKDF's `prfHashMechanism`.
fn hash_of(mech: &Mechanism, hash: CK_MECHANISM_TYPE) -> Result<HashAlg> {
    HashAlg::from_mechanism(hash)
        .ok_or_else(|| mech.bad_param("the hash must be CKM_SHA_1 or CKM_SHA224 to CKM_SHA512"))
}

/// A pseudo-random function keyed once: HMAC with a hash, or AES-CMAC.
pub struct Prf<'a> {
    provider: &'a dyn Provider,
    kind: PrfKind,
    key: Zeroizing<Vec<u8>>,
    aes: Option<Box<dyn crate::crypto::sym::AesKey>>,
}

/// The PRF families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrfKind {
    /// HMAC (RFC 2104) with a hash.
    Hmac(HashAlg),
    /// AES-CMAC (SP 800-38B).
    Cmac,
}

impl<'a> Prf<'a> {
    /// A PRF under `key` (for CMAC, a 16-, 24- or 32-byte AES key).
    pub fn new(provider: &'a dyn Provider, kind: PrfKind, key: &[u8]) -> Result<Self> {
        let aes = match kind {
            PrfKind::Cmac => Some(provider.aes_key(key)?),
            PrfKind::Hmac(_) => None,
        };
        Ok(Self { provider, kind, key: Zeroizing::new(key.to_vec()), aes })
    }

    /// Output length in bytes.
    pub fn output_len(&self) -> usize {
        match self.kind {
            PrfKind::Hmac(h) => h.output_len(),
            PrfKind::Cmac => crate::crypto::sym::BLOCK,
        }
    }

    /// The PRF of the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>> {
        let mut m = match (&self.kind, &self.aes) {
            (PrfKind::Hmac(h), _) => self.provider.hmac_start(*h, &self.key),
            (PrfKind::Cmac, Some(aes)) => aes.cmac()?,
            (PrfKind::Cmac, None) => return Err(err(CKR_GENERAL_ERROR, "CMAC without a key")),
        };
        for p in parts {
            m.update(p)?;
        }
        Ok(Zeroizing::new(m.finish()?))
    }
}

/// The largest base (or generated) key, in bytes. `ulMinKeySize` / `ulMaxKeySize`
/// are in bytes, as for HMAC, except for SP 800-108, where the spec says bits.
const MAX_KEY: CK_ULONG = 512;

/// Registers the key derivation mechanisms. Both providers offer all of them.
pub fn register(r: &mut Registry, _provider: &dyn Provider) {
    let derive = |key_types: &'static [CK_KEY_TYPE], f: DeriveKeys, min: CK_ULONG| Entry {
        key_types,
        derive_keys: Some(f),
        ..Entry::new(min, MAX_KEY, CKF_DERIVE)
    };
    r.insert(CKM_HKDF_DERIVE, derive(&[CKK_GENERIC_SECRET, CKK_HKDF], hkdf::derive, 1));
    r.insert(CKM_HKDF_DATA, derive(&[CKK_GENERIC_SECRET, CKK_HKDF], hkdf::derive, 1));
    r.insert(
        CKM_HKDF_KEY_GEN,
        Entry { generate_key: Some((CKK_HKDF, hkdf::generate)), ..Entry::new(1, MAX_KEY, CKF_GENERATE) },
    );
    // §2.42: for these, ulMinKeySize / ulMaxKeySize are the base key's size in bits.
    for m in [CKM_SP800_108_COUNTER_KDF, CKM_SP800_108_FEEDBACK_KDF, CKM_SP800_108_DOUBLE_PIPELINE_KDF] {
        r.insert(
            m,
            Entry {
                key_types: sp800_108::KEY_TYPES,
                derive_keys: Some(sp800_108::derive),
                ..Entry::new(8, MAX_KEY * 8, CKF_DERIVE)
            },
        );
    }
    r.insert(
        CKM_PKCS5_PBKD2,
        Entry { generate_key: Some((CKK_GENERIC_SECRET, pbkdf2::generate)), ..Entry::new(1, MAX_KEY, CKF_GENERATE) },
    );
    for m in [
        CKM_CONCATENATE_BASE_AND_KEY,
        CKM_CONCATENATE_BASE_AND_DATA,
        CKM_CONCATENATE_DATA_AND_BASE,
        CKM_XOR_BASE_AND_DATA,
        CKM_EXTRACT_KEY_FROM_KEY,
    ] {
        r.insert(m, derive(simple::KEY_TYPES, simple::derive, 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = Secret(Zeroizing::new(b"hunter2".to_vec()));
        assert_eq!(format!("{s:?}"), "Secret(7 bytes)");
    }

    #[test]
    fn fixed_lengths() {
        let o = Out { len: None, key_type: Some(CKK_DES3) };
        assert_eq!(o.wanted(), Some(24));
        assert_eq!(Out { len: Some(5), key_type: Some(CKK_DES3) }.wanted(), Some(5));
        assert_eq!(Out { len: None, key_type: Some(CKK_AES) }.wanted(), None);
    }
}
