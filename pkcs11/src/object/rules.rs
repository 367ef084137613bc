//! The attribute rules: one declarative table per object class, read only here.
//!
//! Flags follow the footnotes of PKCS#11 v3.0 §4.2, Table 10 ("Common footnotes
//! for object attribute tables"):
//!
//! | flag | footnote |
//! |---|---|
//! | [`REQUIRED`] | 1: must be specified when the object is created with `C_CreateObject` |
//! | [`NO_CREATE`] | 2: must not be specified when the object is created with `C_CreateObject` |
//! | [`GEN_REQUIRED`] | 3: must be specified when the object is generated |
//! | [`NO_GEN`] | 4: must not be specified when the object is generated |
//! | [`UNWRAP_REQUIRED`] | 5: must be specified when the object is unwrapped |
//! | [`NO_UNWRAP`] | 6: must not be specified when the object is unwrapped |
//! | [`SECRET`] | 7: cannot be revealed if the object has `CKA_SENSITIVE` true or `CKA_EXTRACTABLE` false |
//! | [`SETTABLE`] | 8: may be modified after creation with `C_SetAttributeValue`, or in `C_CopyObject` |
//! | [`ONLY_TO_TRUE`] | 11: may be modified, but only to true (and 12 for `CKA_WRAP_WITH_TRUSTED`) |
//! | [`ONLY_TO_FALSE`] | 12 / §4.4: may be modified, but only to false (`CKA_EXTRACTABLE`, `CKA_COPYABLE`) |
//! | [`SO_ONLY_TRUE`] | 10: only the SO can set it to true (`CKA_TRUSTED`) |
//!
//! plus [`COPY_SETTABLE`] (§4.4: "`CKA_TOKEN`, `CKA_PRIVATE` and `CKA_MODIFIABLE` can be
//! changed in the process of copying an object") and [`TOKEN_SET`] for attributes the
//! token alone sets (`CKA_LOCAL`, `CKA_ALWAYS_SENSITIVE`, `CKA_UNIQUE_ID`, ...).
//!
//! [`SECRET`] attributes are also always sealed at rest, whatever the object's
//! `CKA_PRIVATE`.

use std::collections::HashMap;

use cryptoki_sys::*;
use once_cell::sync::Lazy;

use crate::vendor::*;

/// Must be specified at `C_CreateObject` (footnote 1).
pub const REQUIRED: u32 = 1 << 0;
/// Must not be specified at `C_CreateObject` (footnote 2).
pub const NO_CREATE: u32 = 1 << 1;
/// Must be specified at generation (footnote 3).
pub const GEN_REQUIRED: u32 = 1 << 2;
/// Must not be specified at generation (footnote 4).
pub const NO_GEN: u32 = 1 << 3;
/// Must be specified at unwrap (footnote 5).
pub const UNWRAP_REQUIRED: u32 = 1 << 4;
/// Must not be specified at unwrap (footnote 6).
pub const NO_UNWRAP: u32 = 1 << 5;
/// Key material: hidden when sensitive or unextractable, always sealed (footnote 7).
pub const SECRET: u32 = 1 << 6;
/// Modifiable with `C_SetAttributeValue` and in a copy template (footnote 8).
pub const SETTABLE: u32 = 1 << 7;
/// May appear in a `C_CopyObject` template though not settable afterwards.
pub const COPY_SETTABLE: u32 = 1 << 8;
/// Once set, may only change to true (footnote 11).
pub const ONLY_TO_TRUE: u32 = 1 << 9;
/// Once set, may only change to false.
pub const ONLY_TO_FALSE: u32 = 1 << 10;
/// Only the SO may set it to true (footnote 10).
pub const SO_ONLY_TRUE: u32 = 1 << 11;
/// Set by the token; never by a caller.
pub const TOKEN_SET: u32 = NO_CREATE | NO_GEN | NO_UNWRAP;
/// Set by the token at creation, from the key value (footnotes 2, 4, 6 with a value).
pub const DERIVED: u32 = TOKEN_SET;

/// The value an attribute gets when the template does not give one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// No value: the attribute is absent unless given (or computed by the token).
    None,
    /// Empty byte string.
    Empty,
    /// A `CK_BBOOL`.
    Bool(bool),
    /// A `CK_ULONG`.
    Ulong(u64),
}

/// One attribute's rule.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// The attribute.
    pub ty: CK_ATTRIBUTE_TYPE,
    /// Footnote flags.
    pub flags: u32,
    /// Default value.
    pub default: DefaultValue,
}

impl Rule {
    /// Whether the rule has `flag`.
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag == flag
    }
}

const fn r(ty: CK_ATTRIBUTE_TYPE, flags: u32, default: DefaultValue) -> Rule {
    Rule { ty, flags, default }
}

use DefaultValue::{Bool as B, Empty as E, None as N, Ulong as U};

/// Table 4 (common) and Table 5 (storage objects).
const STORAGE: &[Rule] = &[
    r(CKA_CLASS, REQUIRED, N),
    r(CKA_TOKEN, COPY_SETTABLE, B(false)),
    // The default for keys is overridden per class below.
    r(CKA_PRIVATE, COPY_SETTABLE, B(false)),
    r(CKA_MODIFIABLE, COPY_SETTABLE, B(true)),
    r(CKA_LABEL, SETTABLE, E),
    r(CKA_COPYABLE, COPY_SETTABLE | ONLY_TO_FALSE, B(true)),
    r(CKA_DESTROYABLE, COPY_SETTABLE, B(true)),
    r(CKA_UNIQUE_ID, TOKEN_SET, N),
    r(CKA_FERRO_ORIGIN, TOKEN_SET, N),
    r(CKA_FERRO_CREATED, TOKEN_SET, N),
];

/// Table 28: data objects.
const DATA: &[Rule] = &[r(CKA_APPLICATION, SETTABLE, E), r(CKA_OBJECT_ID, SETTABLE, E), r(CKA_VALUE, SETTABLE, E)];

/// Table 21 (common certificate attributes) and Table 23 (X.509 public key certificates).
const X509: &[Rule] = &[
    r(CKA_CERTIFICATE_TYPE, REQUIRED, N),
    r(CKA_TRUSTED, SETTABLE | SO_ONLY_TRUE, B(false)),
    r(CKA_CERTIFICATE_CATEGORY, SETTABLE, U(0)),
    r(CKA_CHECK_VALUE, DERIVED, N),
    r(CKA_START_DATE, SETTABLE, E),
    r(CKA_END_DATE, SETTABLE, E),
    r(CKA_PUBLIC_KEY_INFO, 0, E),
    // Subject, issuer and serial are taken from CKA_VALUE when absent (see build.rs).
    r(CKA_SUBJECT, 0, N),
    r(CKA_ID, SETTABLE, E),
    r(CKA_ISSUER, SETTABLE, N),
    r(CKA_SERIAL_NUMBER, SETTABLE, N),
    r(CKA_VALUE, REQUIRED, N),
    r(CKA_URL, 0, E),
    r(CKA_HASH_OF_SUBJECT_PUBLIC_KEY, 0, E),
    r(CKA_HASH_OF_ISSUER_PUBLIC_KEY, 0, E),
    r(CKA_JAVA_MIDP_SECURITY_DOMAIN, 0, U(0)),
    r(CKA_NAME_HASH_ALGORITHM, 0, U(CKM_SHA_1)),
    r(CKA_FERRO_ATTESTS, TOKEN_SET, N),
    r(CKA_FERRO_KEY_ROLE, TOKEN_SET, N),
];

/// Table 25: common key attributes.
const KEY: &[Rule] = &[
    r(CKA_KEY_TYPE, REQUIRED | UNWRAP_REQUIRED, N),
    r(CKA_ID, SETTABLE, E),
    r(CKA_START_DATE, SETTABLE, E),
    r(CKA_END_DATE, SETTABLE, E),
    r(CKA_DERIVE, SETTABLE, B(false)),
    r(CKA_LOCAL, TOKEN_SET, N),
    r(CKA_KEY_GEN_MECHANISM, TOKEN_SET, N),
    r(CKA_ALLOWED_MECHANISMS, 0, E),
    r(CKA_FERRO_KEY_ROLE, TOKEN_SET, N),
    r(CKA_FERRO_USAGE_COUNT, TOKEN_SET, N),
];

/// Table 26: public keys.
const PUBLIC: &[Rule] = &[
    r(CKA_PRIVATE, COPY_SETTABLE, B(false)),
    r(CKA_SUBJECT, SETTABLE, E),
    r(CKA_ENCRYPT, SETTABLE, B(true)),
    r(CKA_VERIFY, SETTABLE, B(true)),
    r(CKA_VERIFY_RECOVER, SETTABLE, B(false)),
    r(CKA_WRAP, SETTABLE, B(true)),
    r(CKA_TRUSTED, SETTABLE | SO_ONLY_TRUE, B(false)),
    r(CKA_WRAP_TEMPLATE, 0, E),
    // "MAY be empty, DEFAULT derived from the underlying public key data".
    r(CKA_PUBLIC_KEY_INFO, 0, E),
];

/// Table 29: private keys.
const PRIVATE: &[Rule] = &[
    r(CKA_PRIVATE, COPY_SETTABLE, B(true)),
    r(CKA_SUBJECT, SETTABLE, E),
    r(CKA_SENSITIVE, SETTABLE | ONLY_TO_TRUE, B(true)),
    r(CKA_DECRYPT, SETTABLE, B(true)),
    r(CKA_SIGN, SETTABLE, B(true)),
    r(CKA_SIGN_RECOVER, SETTABLE, B(false)),
    r(CKA_UNWRAP, SETTABLE, B(true)),
    r(CKA_EXTRACTABLE, SETTABLE | ONLY_TO_FALSE, B(false)),
    r(CKA_ALWAYS_SENSITIVE, TOKEN_SET, N),
    r(CKA_NEVER_EXTRACTABLE, TOKEN_SET, N),
    r(CKA_WRAP_WITH_TRUSTED, SETTABLE | ONLY_TO_TRUE, B(false)),
    r(CKA_UNWRAP_TEMPLATE, 0, E),
    r(CKA_ALWAYS_AUTHENTICATE, SETTABLE, B(false)),
    // Footnote 8: "MAY be manually set"; empty by default.
    r(CKA_PUBLIC_KEY_INFO, SETTABLE, E),
    r(CKA_FERRO_INVALIDATED, TOKEN_SET, N),
];

/// Table 36: secret keys.
const SECRET_KEY: &[Rule] = &[
    r(CKA_PRIVATE, COPY_SETTABLE, B(true)),
    r(CKA_SENSITIVE, SETTABLE | ONLY_TO_TRUE, B(true)),
    r(CKA_ENCRYPT, SETTABLE, B(true)),
    r(CKA_DECRYPT, SETTABLE, B(true)),
    r(CKA_SIGN, SETTABLE, B(true)),
    r(CKA_VERIFY, SETTABLE, B(true)),
    r(CKA_WRAP, SETTABLE, B(true)),
    r(CKA_UNWRAP, SETTABLE, B(true)),
    r(CKA_EXTRACTABLE, SETTABLE | ONLY_TO_FALSE, B(false)),
    r(CKA_ALWAYS_SENSITIVE, TOKEN_SET, N),
    r(CKA_NEVER_EXTRACTABLE, TOKEN_SET, N),
    r(CKA_CHECK_VALUE, DERIVED, N),
    r(CKA_WRAP_WITH_TRUSTED, SETTABLE | ONLY_TO_TRUE, B(false)),
    r(CKA_TRUSTED, SETTABLE | SO_ONLY_TRUE, B(false)),
    r(CKA_WRAP_TEMPLATE, 0, E),
    r(CKA_UNWRAP_TEMPLATE, 0, E),
    r(CKA_FERRO_INVALIDATED, TOKEN_SET, N),
];

/// Table 2 of the mechanisms document: RSA public keys.
const RSA_PUBLIC: &[Rule] = &[
    r(CKA_MODULUS, REQUIRED | NO_GEN, N),
    r(CKA_MODULUS_BITS, NO_CREATE | GEN_REQUIRED, N),
    r(CKA_PUBLIC_EXPONENT, REQUIRED, N),
];

/// RSA private keys. `CKA_PUBLIC_EXPONENT` and the CRT values are optional at import.
const RSA_PRIVATE: &[Rule] = &[
    r(CKA_MODULUS, REQUIRED | NO_GEN | NO_UNWRAP, N),
    r(CKA_PUBLIC_EXPONENT, NO_GEN | NO_UNWRAP, N),
    r(CKA_PRIVATE_EXPONENT, REQUIRED | NO_GEN | NO_UNWRAP | SECRET, N),
    r(CKA_PRIME_1, NO_GEN | NO_UNWRAP | SECRET, N),
    r(CKA_PRIME_2, NO_GEN | NO_UNWRAP | SECRET, N),
    r(CKA_EXPONENT_1, NO_GEN | NO_UNWRAP | SECRET, N),
    r(CKA_EXPONENT_2, NO_GEN | NO_UNWRAP | SECRET, N),
    r(CKA_COEFFICIENT, NO_GEN | NO_UNWRAP | SECRET, N),
];

/// EC (and Edwards) public keys.
const EC_PUBLIC: &[Rule] = &[r(CKA_EC_PARAMS, REQUIRED | GEN_REQUIRED, N), r(CKA_EC_POINT, REQUIRED | NO_GEN, N)];

/// EC (and Edwards) private keys.
const EC_PRIVATE: &[Rule] =
    &[r(CKA_EC_PARAMS, REQUIRED | NO_GEN | NO_UNWRAP, N), r(CKA_VALUE, REQUIRED | NO_GEN | NO_UNWRAP | SECRET, N)];

/// ML-DSA and ML-KEM public keys (PKCS#11 3.2 §6.67.2, §6.68.2): the parameter set
/// and the public key in `CKA_VALUE`.
const PQC_PUBLIC: &[Rule] = &[r(CKA_PARAMETER_SET, REQUIRED | GEN_REQUIRED, N), r(CKA_VALUE, REQUIRED | NO_GEN, N)];

/// ML-DSA and ML-KEM private keys (PKCS#11 3.2 §6.67.3, §6.68.3): the seed and the
/// expanded key, either or both at import (checked by the mechanism family), both
/// secret. The parameter set comes from the public template at generation.
const PQC_PRIVATE: &[Rule] = &[
    r(CKA_PARAMETER_SET, REQUIRED | NO_GEN | NO_UNWRAP, N),
    r(CKA_SEED, NO_GEN | NO_UNWRAP | SECRET, N),
    r(CKA_VALUE, NO_GEN | NO_UNWRAP | SECRET, N),
];

/// SLH-DSA private keys: the private key (SK.seed ‖ SK.prf ‖ PK.seed ‖ PK.root) in
/// `CKA_VALUE`, secret; no seed attribute (PKCS#11 3.2 gives SLH-DSA none).
const SLH_PRIVATE: &[Rule] =
    &[r(CKA_PARAMETER_SET, REQUIRED | NO_GEN | NO_UNWRAP, N), r(CKA_VALUE, REQUIRED | NO_GEN | NO_UNWRAP | SECRET, N)];

/// ML-KEM public keys add `CKA_ENCAPSULATE` and `CKA_ENCAPSULATE_TEMPLATE`
/// (PKCS#11 3.2 Table 26; the template, like `CKA_UNWRAP_TEMPLATE`, is fixed once
/// the key exists).
const KEM_PUBLIC: &[Rule] = &[r(CKA_ENCAPSULATE, SETTABLE, B(true)), r(CKA_ENCAPSULATE_TEMPLATE, 0, E)];
/// ML-KEM private keys add `CKA_DECAPSULATE` and `CKA_DECAPSULATE_TEMPLATE`
/// (PKCS#11 3.2 Table 29).
const KEM_PRIVATE: &[Rule] = &[r(CKA_DECAPSULATE, SETTABLE, B(true)), r(CKA_DECAPSULATE_TEMPLATE, 0, E)];

/// Generic secrets, HMAC keys and AES keys. `CKA_VALUE_LEN` is accepted at import
/// when it matches the value (many tools send it), and computed otherwise.
/// `CKA_VALUE_LEN` may also be given at unwrap: mechanisms that pad to whole blocks
/// without a length (AES-ECB, AES-CBC) need it to cut the padding (§5.14).
const SECRET_VALUE: &[Rule] =
    &[r(CKA_VALUE, REQUIRED | NO_GEN | NO_UNWRAP | SECRET, N), r(CKA_VALUE_LEN, GEN_REQUIRED, N)];

/// 3DES keys (`CKK_DES2`, `CKK_DES3`): the type fixes the length, so
/// `CKA_VALUE_LEN` is never required; it is accepted when it matches the value and
/// computed otherwise, as for the other secret keys.
const DES_VALUE: &[Rule] = &[r(CKA_VALUE, REQUIRED | NO_GEN | NO_UNWRAP | SECRET, N), r(CKA_VALUE_LEN, 0, N)];

/// ferrohsm partitions.
const PARTITION: &[Rule] = &[
    r(CKA_CLASS, REQUIRED, N),
    r(CKA_TOKEN, 0, B(true)),
    r(CKA_PRIVATE, 0, B(false)),
    r(CKA_MODIFIABLE, NO_CREATE, B(true)),
    r(CKA_DESTROYABLE, NO_CREATE, B(true)),
    r(CKA_LABEL, SETTABLE, E),
    r(CKA_UNIQUE_ID, TOKEN_SET, N),
    r(CKA_FERRO_SLOT_ID, TOKEN_SET, N),
    r(CKA_FERRO_POLICY_ALLOW_EXPORT, SETTABLE, B(true)),
    r(CKA_FERRO_POLICY_KEY_INVALIDATION, SETTABLE, B(false)),
    r(CKA_FERRO_POLICY_READ_ONLY, SETTABLE, B(false)),
    r(CKA_FERRO_POLICY_MAX_PIN_FAILURES, SETTABLE, U(10)),
    r(CKA_FERRO_POLICY_MIN_PIN_LEN, SETTABLE, U(4)),
];

/// The rule set of one kind of object, sorted by attribute type.
#[derive(Debug)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    fn build(parts: &[&[Rule]]) -> Self {
        // Later parts override earlier ones (a class refines the common rules).
        let mut rules: Vec<Rule> = Vec::new();
        for part in parts {
            for rule in *part {
                match rules.iter_mut().find(|x| x.ty == rule.ty) {
                    Some(x) => *x = *rule,
                    None => rules.push(*rule),
                }
            }
        }
        rules.sort_by_key(|x| x.ty);
        Self { rules }
    }

    /// The rule for `ty`, if the attribute is valid for this kind of object.
    pub fn get(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&Rule> {
        self.rules.binary_search_by_key(&ty, |x| x.ty).ok().map(|i| &self.rules[i])
    }

    /// Every rule, in attribute order.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }
}

/// What an object is, for rule lookup: class and key or certificate type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// `CKO_DATA`.
    Data,
    /// `CKO_CERTIFICATE` of `CKC_X_509`.
    X509,
    /// `CKO_PUBLIC_KEY` of a key type.
    Public(CK_KEY_TYPE),
    /// `CKO_PRIVATE_KEY` of a key type.
    Private(CK_KEY_TYPE),
    /// `CKO_SECRET_KEY` of a key type.
    Secret(CK_KEY_TYPE),
    /// `CKO_FERRO_PARTITION`.
    Partition,
}

/// Key types this build stores, per class.
pub const ASYMMETRIC_KEY_TYPES: &[CK_KEY_TYPE] =
    &[CKK_RSA, CKK_EC, CKK_EC_EDWARDS, CKK_ML_DSA, CKK_ML_KEM, CKK_SLH_DSA];
/// Secret key types this build stores.
pub const SECRET_KEY_TYPES: &[CK_KEY_TYPE] = &[
    CKK_GENERIC_SECRET,
    CKK_AES,
    CKK_SHA_1_HMAC,
    CKK_SHA224_HMAC,
    CKK_SHA256_HMAC,
    CKK_SHA384_HMAC,
    CKK_SHA512_HMAC,
    CKK_DES2,
    CKK_DES3,
    CKK_HKDF,
];

static TABLES: Lazy<HashMap<Shape, Rules>> = Lazy::new(|| {
    let mut t = HashMap::new();
    t.insert(Shape::Data, Rules::build(&[STORAGE, DATA]));
    t.insert(Shape::X509, Rules::build(&[STORAGE, X509]));
    t.insert(Shape::Partition, Rules::build(&[PARTITION]));
    for &kt in ASYMMETRIC_KEY_TYPES {
        let (public, private, public_extra, private_extra): (&[Rule], &[Rule], &[Rule], &[Rule]) = match kt {
            CKK_RSA => (RSA_PUBLIC, RSA_PRIVATE, &[], &[]),
            CKK_ML_DSA => (PQC_PUBLIC, PQC_PRIVATE, &[], &[]),
            CKK_ML_KEM => (PQC_PUBLIC, PQC_PRIVATE, KEM_PUBLIC, KEM_PRIVATE),
            CKK_SLH_DSA => (PQC_PUBLIC, SLH_PRIVATE, &[], &[]),
            _ => (EC_PUBLIC, EC_PRIVATE, &[], &[]),
        };
        t.insert(Shape::Public(kt), Rules::build(&[STORAGE, KEY, PUBLIC, public, public_extra]));
        t.insert(Shape::Private(kt), Rules::build(&[STORAGE, KEY, PRIVATE, private, private_extra]));
    }
    for &kt in SECRET_KEY_TYPES {
        let value = if matches!(kt, CKK_DES2 | CKK_DES3) { DES_VALUE } else { SECRET_VALUE };
        t.insert(Shape::Secret(kt), Rules::build(&[STORAGE, KEY, SECRET_KEY, value]));
    }
    t
});

/// The rules for a shape, or `None` when this build does not store such objects.
pub fn rules(shape: Shape) -> Option<&'static Rules> {
    TABLES.get(&shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_is_secret_and_provenance_is_token_set() {
        let p = rules(Shape::Private(CKK_RSA)).unwrap();
        assert!(p.get(CKA_PRIVATE_EXPONENT).unwrap().has(SECRET));
        assert!(!p.get(CKA_MODULUS).unwrap().has(SECRET));
        for ty in [CKA_LOCAL, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_UNIQUE_ID, CKA_FERRO_ORIGIN] {
            assert!(p.get(ty).unwrap().has(TOKEN_SET), "{ty:#x}");
        }
        let s = rules(Shape::Secret(CKK_AES)).unwrap();
        assert!(s.get(CKA_VALUE).unwrap().has(SECRET));
        assert_eq!(s.get(CKA_PRIVATE).unwrap().default, DefaultValue::Bool(true));
        assert!(s.get(CKA_MODULUS).is_none());
        let m = rules(Shape::Private(CKK_ML_DSA)).unwrap();
        assert!(m.get(CKA_SEED).unwrap().has(SECRET));
        assert!(m.get(CKA_VALUE).unwrap().has(SECRET));
        assert!(!rules(Shape::Public(CKK_ML_DSA)).unwrap().get(CKA_VALUE).unwrap().has(SECRET));
        assert!(rules(Shape::Private(CKK_ML_KEM)).unwrap().get(CKA_SEED).unwrap().has(SECRET));
        let d = rules(Shape::Data).unwrap();
        assert!(!d.get(CKA_VALUE).unwrap().has(SECRET));
        assert_eq!(d.get(CKA_PRIVATE).unwrap().default, DefaultValue::Bool(false));
    }
}
