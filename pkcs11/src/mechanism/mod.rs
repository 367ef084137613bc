//! The mechanism registry. Each family registers its mechanisms with their
//! `CK_MECHANISM_INFO` and the constructors of their operations; the one registry
//! feeds `C_GetMechanismList`, `C_GetMechanismInfo` and every `*Init`, so the list
//! cannot drift from what works.
//!
//! Families: [`digest`], [`rsa`], [`ec`] (ECDSA, ECDH, EdDSA), [`aes`], [`hmac`]
//! (HMAC and generic secrets), [`des`] (3DES), [`encrypt_data`] (key derivation by
//! data encryption), [`kdf`] (HKDF, SP 800-108, PBKDF2, the simple derivations),
//! [`mldsa`] (ML-DSA, PKCS#11 3.2), [`mlkem`] (ML-KEM, PKCS#11 3.2).

pub mod aes;
pub mod block;
pub mod des;
pub mod digest;
pub mod ec;
pub mod encrypt_data;
pub mod hmac;
pub mod kdf;
pub mod mldsa;
pub mod mlkem;
pub mod ops;
pub mod pqc_pkcs8;
pub mod pqc_sign;
pub mod public_key_info;
pub mod rsa;
pub mod slhdsa;

use std::collections::BTreeMap;

use cryptoki_sys::*;

use crate::crypto::Provider;
use crate::error::{Attr, Mech, Result, err};
use crate::object::{Attrs, Object, Shape};
pub use ops::{CryptOp, SignOp, VerifyOp};

/// A mechanism as a caller passed it, its parameter copied out of the caller's
/// memory and decoded (by the FFI layer, which knows the C layouts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mechanism {
    /// `CKM_*`.
    pub ty: CK_MECHANISM_TYPE,
    /// The parameter.
    pub param: Param,
}

/// Decoded mechanism parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    /// No parameter.
    None,
    /// A parameter that is a plain byte string (an IV, a `CK_BYTE` array), or one of a
    /// mechanism this build does not decode.
    Bytes(Vec<u8>),
    /// A `CK_ULONG` parameter (`CK_MAC_GENERAL_PARAMS`, `CK_RSA_PKCS_PSS`'s salt...).
    Ulong(u64),
    /// `CK_GCM_PARAMS`.
    Gcm {
        /// The IV.
        iv: Vec<u8>,
        /// Additional authenticated data.
        aad: Vec<u8>,
        /// Tag length in bits.
        tag_bits: u64,
    },
    /// `CK_RSA_PKCS_OAEP_PARAMS`.
    Oaep {
        /// `CKM_SHA*` hash.
        hash: CK_MECHANISM_TYPE,
        /// `CKG_MGF1_*`.
        mgf: CK_ULONG,
        /// The label (`CKZ_DATA_SPECIFIED` source data); empty when none.
        label: Vec<u8>,
    },
    /// `CK_RSA_PKCS_PSS_PARAMS`.
    Pss {
        /// `CKM_SHA*` hash.
        hash: CK_MECHANISM_TYPE,
        /// `CKG_MGF1_*`.
        mgf: CK_ULONG,
        /// Salt length in bytes.
        salt_len: u64,
    },
    /// `CK_ECDH1_DERIVE_PARAMS`.
    Ecdh {
        /// `CKD_*`.
        kdf: CK_ULONG,
        /// Shared info for the KDF.
        shared_data: Vec<u8>,
        /// The other party's public value (a point, raw or DER OCTET STRING).
        public_data: Vec<u8>,
    },
    /// `CK_AES_CTR_PARAMS`.
    Ctr {
        /// Bits of the counter block that are the counter.
        counter_bits: u64,
        /// The initial counter block.
        block: [u8; 16],
    },
    /// `CK_SIGN_ADDITIONAL_CONTEXT` (PKCS#11 3.2: `CKM_ML_DSA`, `CKM_HASH_ML_DSA_*`).
    SignContext {
        /// `CKH_HEDGE_PREFERRED`, `CKH_HEDGE_REQUIRED` or `CKH_DETERMINISTIC_REQUIRED`.
        hedge: u64,
        /// The context string (at most 255 bytes).
        context: Vec<u8>,
    },
    /// `CK_HASH_SIGN_ADDITIONAL_CONTEXT` (PKCS#11 3.2: `CKM_HASH_ML_DSA`).
    HashSignContext {
        /// As in [`Param::SignContext`].
        hedge: u64,
        /// The context string.
        context: Vec<u8>,
        /// The `CKM_*` hash whose value is the input.
        hash: CK_MECHANISM_TYPE,
    },
    /// `CK_EDDSA_PARAMS`.
    Eddsa {
        /// Pre-hash (Ed25519ph).
        prehash: bool,
        /// Context (Ed25519ctx); empty when none.
        context: Vec<u8>,
    },
    /// `CK_KEY_DERIVATION_STRING_DATA` (the `*_ECB_ENCRYPT_DATA` derivations: `iv`
    /// empty), `CK_DES_CBC_ENCRYPT_DATA_PARAMS` or `CK_AES_CBC_ENCRYPT_DATA_PARAMS`.
    EncryptData {
        /// The CBC IV (8 or 16 bytes); empty for ECB.
        iv: Vec<u8>,
        /// The data to encrypt.
        data: Vec<u8>,
    },
    /// `CK_HKDF_PARAMS`.
    Hkdf(kdf::HkdfParams),
    /// `CK_SP800_108_KDF_PARAMS` or `CK_SP800_108_FEEDBACK_KDF_PARAMS`.
    Sp800108(kdf::Sp800108Params),
    /// `CK_PKCS5_PBKD2_PARAMS2`.
    Pbkdf2(kdf::Pbkdf2Params),
}

impl Mechanism {
    /// A mechanism without a parameter.
    pub fn new(ty: CK_MECHANISM_TYPE) -> Self {
        Self { ty, param: Param::None }
    }

    /// Fails unless the mechanism came without a parameter.
    pub fn no_parameter(&self) -> Result<()> {
        match self.param {
            Param::None => Ok(()),
            _ => Err(self.bad_param("takes no parameter")),
        }
    }

    /// `CKR_MECHANISM_PARAM_INVALID` with a reason.
    pub fn bad_param(&self, why: &str) -> crate::error::Error {
        err(CKR_MECHANISM_PARAM_INVALID, format!("{}: {why}", Mech(self.ty)))
    }
}

/// What an operation is for: the `CKF_*` flag of `CK_MECHANISM_INFO` and the key's
/// usage attribute that must be true.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// `CKF_ENCRYPT`, `CKA_ENCRYPT`.
    Encrypt,
    /// `CKF_DECRYPT`, `CKA_DECRYPT`.
    Decrypt,
    /// `CKF_SIGN`, `CKA_SIGN`.
    Sign,
    /// `CKF_VERIFY`, `CKA_VERIFY`.
    Verify,
    /// `CKF_WRAP`, `CKA_WRAP`.
    Wrap,
    /// `CKF_UNWRAP`, `CKA_UNWRAP`.
    Unwrap,
    /// `CKF_DERIVE`, `CKA_DERIVE`.
    Derive,
    /// `CKF_ENCAPSULATE`, `CKA_ENCAPSULATE` (PKCS#11 3.2).
    Encapsulate,
    /// `CKF_DECAPSULATE`, `CKA_DECAPSULATE` (PKCS#11 3.2).
    Decapsulate,
    /// `CKF_MESSAGE_SIGN`, `CKA_SIGN` (message-based signing, PKCS#11 3.0 §5.14).
    MessageSign,
    /// `CKF_MESSAGE_VERIFY`, `CKA_VERIFY` (message-based verification, §5.16).
    MessageVerify,
}

impl Use {
    /// The mechanism flag.
    pub fn flag(self) -> CK_FLAGS {
        match self {
            Use::Encrypt => CKF_ENCRYPT,
            Use::Decrypt => CKF_DECRYPT,
            Use::Sign => CKF_SIGN,
            Use::Verify => CKF_VERIFY,
            Use::Wrap => CKF_WRAP,
            Use::Unwrap => CKF_UNWRAP,
            Use::Derive => CKF_DERIVE,
            Use::Encapsulate => CKF_ENCAPSULATE,
            Use::Decapsulate => CKF_DECAPSULATE,
            Use::MessageSign => CKF_MESSAGE_SIGN,
            Use::MessageVerify => CKF_MESSAGE_VERIFY,
        }
    }

    /// The key attribute that allows it.
    pub fn attribute(self) -> CK_ATTRIBUTE_TYPE {
        match self {
            Use::Encrypt => CKA_ENCRYPT,
            Use::Decrypt => CKA_DECRYPT,
            Use::Sign | Use::MessageSign => CKA_SIGN,
            Use::Verify | Use::MessageVerify => CKA_VERIFY,
            Use::Wrap => CKA_WRAP,
            Use::Unwrap => CKA_UNWRAP,
            Use::Derive => CKA_DERIVE,
            Use::Encapsulate => CKA_ENCAPSULATE,
            Use::Decapsulate => CKA_DECAPSULATE,
        }
    }
}

/// Makes an encryption or decryption operation.
pub type MakeCrypt = fn(&dyn Provider, &Mechanism, &Object) -> Result<Box<dyn CryptOp>>;
/// Makes a signing (or MAC) operation.
pub type MakeSign = fn(&dyn Provider, &Mechanism, &Object) -> Result<Box<dyn SignOp>>;
/// Makes a verification operation.
pub type MakeVerify = fn(&dyn Provider, &Mechanism, &Object) -> Result<Box<dyn VerifyOp>>;
/// Generates a secret key's value for the attributes built from the template.
pub type GenerateKey = fn(&dyn Provider, &Mechanism, &Attrs) -> Result<zeroize::Zeroizing<Vec<u8>>>;
/// Generates a key pair: fills the key material into the public and private
/// attributes built from the templates.
pub type GenerateKeyPair = fn(&dyn Provider, &Mechanism, &mut Attrs, &mut Attrs) -> Result<()>;
/// Makes an attestation: a signing operation about the key named in `C_SignInit`,
/// signed by a key of the token's own (its attestation key), so it needs the module
/// and the session, not only the provider. The named key needs no `CKA_SIGN`.
pub type MakeAttest =
    fn(&crate::module::Module, &crate::token::Session, &Mechanism, &std::sync::Arc<Object>) -> Result<Box<dyn SignOp>>;
/// Derives a secret from a base key; `len` is the `CKA_VALUE_LEN` asked for, if any.
pub type Derive = fn(&dyn Provider, &Mechanism, &Object, Option<usize>) -> Result<zeroize::Zeroizing<Vec<u8>>>;

/// The ciphertext length an encapsulation with a public key will have (for the
/// length query of `C_EncapsulateKey`, which makes no key).
pub type CiphertextLen = fn(&Mechanism, &Object) -> Result<usize>;
/// Encapsulates with a public key: (ciphertext, shared secret).
pub type Encapsulate = fn(&dyn Provider, &Mechanism, &Object) -> Result<(Vec<u8>, zeroize::Zeroizing<Vec<u8>>)>;
/// Decapsulates a ciphertext with a private key: the shared secret.
pub type Decapsulate = fn(&dyn Provider, &Mechanism, &Object, &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>>;

/// One mechanism: its info and what it can do. Wrapping and unwrapping reuse the
/// encryption and decryption constructors.
#[derive(Clone, Copy)]
pub struct Entry {
    /// `CK_MECHANISM_INFO`.
    pub info: CK_MECHANISM_INFO,
    /// Key types it works with (empty: no key).
    pub key_types: &'static [CK_KEY_TYPE],
    /// Encryption (and wrapping).
    pub encrypt: Option<MakeCrypt>,
    /// Decryption (and unwrapping).
    pub decrypt: Option<MakeCrypt>,
    /// Signing and MACs.
    pub sign: Option<MakeSign>,
    /// Verification.
    pub verify: Option<MakeVerify>,
    /// `C_GenerateKey`.
    pub generate_key: Option<(CK_KEY_TYPE, GenerateKey)>,
    /// `C_GenerateKeyPair`.
    pub generate_key_pair: Option<(CK_KEY_TYPE, GenerateKeyPair)>,
    /// `C_DeriveKey`.
    pub derive: Option<Derive>,
    /// Attestations, through `C_SignInit` / `C_Sign`.
    pub attest: Option<MakeAttest>,
    /// `C_DeriveKey` for the key derivation family ([`kdf`]): other keys named by
    /// the parameter, several outputs, data objects.
    pub derive_keys: Option<kdf::DeriveKeys>,
    /// `C_EncapsulateKey` (PKCS#11 3.2).
    pub encapsulate: Option<(CiphertextLen, Encapsulate)>,
    /// `C_DecapsulateKey` (PKCS#11 3.2).
    pub decapsulate: Option<Decapsulate>,
}

impl Entry {
    /// An entry with only its info; families fill in the rest with struct update.
    pub const fn new(min: CK_ULONG, max: CK_ULONG, flags: CK_FLAGS) -> Self {
        Self {
            info: CK_MECHANISM_INFO { ulMinKeySize: min, ulMaxKeySize: max, flags },
            key_types: &[],
            encrypt: None,
            decrypt: None,
            sign: None,
            verify: None,
            generate_key: None,
            generate_key_pair: None,
            derive: None,
            attest: None,
            derive_keys: None,
            encapsulate: None,
            decapsulate: None,
        }
    }
}

/// Every mechanism this build offers.
pub struct Registry {
    mechs: BTreeMap<CK_MECHANISM_TYPE, Entry>,
}

impl Registry {
    /// Builds the registry for a provider: the list of families.
    pub fn new(provider: &dyn Provider) -> Self {
        let mut r = Self { mechs: BTreeMap::new() };
        digest::register(&mut r, provider);
        rsa::register(&mut r, provider);
        ec::register(&mut r, provider);
        aes::register(&mut r, provider);
        hmac::register(&mut r, provider);
        des::register(&mut r, provider);
        encrypt_data::register(&mut r, provider);
        mldsa::register(&mut r, provider);
        kdf::register(&mut r, provider);
        mlkem::register(&mut r, provider);
        slhdsa::register(&mut r, provider);
        crate::token::attest::register(&mut r);
        crate::token::timestamp::register(&mut r);
        crate::token::audit_attest::register(&mut r);
        r
    }

    /// Adds a mechanism with only its info.
    pub fn add(&mut self, ty: CK_MECHANISM_TYPE, min: CK_ULONG, max: CK_ULONG, flags: CK_FLAGS) {
        self.mechs.insert(ty, Entry::new(min, max, flags));
    }

    /// Adds a mechanism. Every mechanism that signs (verifies) through a
    /// [`SignOp`] ([`VerifyOp`]) also signs (verifies) messages: the message-based
    /// functions make one such operation per message (token/message.rs), so the
    /// flags are set here and cannot drift from what works. Attestations, which sign
    /// about a key rather than with it, do not.
    pub fn insert(&mut self, ty: CK_MECHANISM_TYPE, mut entry: Entry) {
        if entry.sign.is_some() {
            entry.info.flags |= CKF_MESSAGE_SIGN;
        }
        if entry.verify.is_some() {
            entry.info.flags |= CKF_MESSAGE_VERIFY;
        }
        self.mechs.insert(ty, entry);
    }

    /// `C_GetMechanismList`.
    pub fn list(&self) -> Vec<CK_MECHANISM_TYPE> {
        self.mechs.keys().copied().collect()
    }

    /// The entry of `ty`.
    pub fn entry(&self, ty: CK_MECHANISM_TYPE) -> Result<&Entry> {
        self.mechs.get(&ty).ok_or_else(|| err(CKR_MECHANISM_INVALID, format!("{} is not supported", Mech(ty))))
    }

    /// `C_GetMechanismInfo`.
    pub fn info(&self, ty: CK_MECHANISM_TYPE) -> Result<CK_MECHANISM_INFO> {
        Ok(self.entry(ty)?.info)
    }

    /// Fails unless `ty` is offered for the function `flag` (`CKF_DIGEST`, `CKF_SIGN`, ...).
    pub fn check(&self, ty: CK_MECHANISM_TYPE, flag: CK_FLAGS) -> Result<&Entry> {
        let e = self.entry(ty)?;
        if e.info.flags & flag == flag {
            Ok(e)
        } else {
            Err(err(CKR_MECHANISM_INVALID, format!("{} does not do this operation", Mech(ty))))
        }
    }

    /// Checks that `key` may be used with `mech` for `usage` (PKCS#11 §5.8 onwards):
    /// the mechanism does it, the key's class and type fit, its usage attribute
    /// allows it, and `CKA_ALLOWED_MECHANISMS` (when not empty) lists the mechanism.
    pub fn check_key(&self, mech: CK_MECHANISM_TYPE, usage: Use, key: &Object) -> Result<&Entry> {
        let e = self.check(mech, usage.flag())?;
        let kt = key.attrs.ulong(CKA_KEY_TYPE).map(|k| k as CK_KEY_TYPE);
        if !matches!(key.shape(), Some(Shape::Public(_) | Shape::Private(_) | Shape::Secret(_))) {
            return Err(err(CKR_KEY_HANDLE_INVALID, "not a key"));
        }
        if !kt.is_some_and(|k| e.key_types.contains(&k)) {
            return Err(err(CKR_KEY_TYPE_INCONSISTENT, format!("{} does not take this key type", Mech(mech))));
        }
        let attr = usage.attribute();
        if key.attrs.bool(attr) != Some(true) {
            return Err(err(CKR_KEY_FUNCTION_NOT_PERMITTED, format!("the key's {} is false", Attr(attr))));
        }
        check_allowed(key, mech)?;
        Ok(e)
    }
}

/// `CKA_ALLOWED_MECHANISMS`: when present and not empty, the mechanism must be listed.
pub fn check_allowed(key: &Object, mech: CK_MECHANISM_TYPE) -> Result<()> {
    match key.attrs.get(CKA_ALLOWED_MECHANISMS) {
        Some(list) if !list.is_empty() => {
            let allowed =
                list.chunks_exact(8).any(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")) == mech as u64);
            if allowed {
                Ok(())
            } else {
                Err(err(CKR_MECHANISM_INVALID, format!("{} is not in the key's CKA_ALLOWED_MECHANISMS", Mech(mech))))
            }
        }
        _ => Ok(()),
    }
}

/// Checks a key's size against a mechanism's `ulMinKeySize` / `ulMaxKeySize`
/// (`size` in the mechanism's unit: bits for RSA and EC, bytes for AES and HMAC).
pub fn check_key_size(info: &CK_MECHANISM_INFO, size: usize) -> Result<()> {
    let size = size as CK_ULONG;
    if size < info.ulMinKeySize || (info.ulMaxKeySize != 0 && size > info.ulMaxKeySize) {
        return Err(err(
            CKR_KEY_SIZE_RANGE,
            format!("key size {size} is outside {}..={}", info.ulMinKeySize, info.ulMaxKeySize),
        ));
    }
    Ok(())
}

/// Checks (and completes) the key material of an imported key: components consistent
/// with each other, the public half matching the private half, `CKA_PUBLIC_KEY_INFO`
/// filled in. Called by `C_CreateObject` for key objects.
pub fn validate_import(provider: &dyn Provider, shape: Shape, attrs: &mut Attrs) -> Result<()> {
    match shape {
        Shape::Public(CKK_RSA) | Shape::Private(CKK_RSA) => rsa::validate_import(provider, shape, attrs),
        Shape::Public(CKK_EC | CKK_EC_EDWARDS) | Shape::Private(CKK_EC | CKK_EC_EDWARDS) => {
            ec::validate_import(provider, shape, attrs)
        }
        Shape::Public(CKK_ML_DSA) | Shape::Private(CKK_ML_DSA) => mldsa::validate_import(provider, shape, attrs),
        Shape::Public(CKK_ML_KEM) | Shape::Private(CKK_ML_KEM) => mlkem::validate_import(provider, shape, attrs),
        Shape::Public(CKK_SLH_DSA) | Shape::Private(CKK_SLH_DSA) => slhdsa::validate_import(shape, attrs),
        _ => Ok(()),
    }
}

/// A private key as PKCS#8 `PrivateKeyInfo` DER, for `C_WrapKey`.
pub fn encode_private_key(provider: &dyn Provider, key: &Object) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    match key.shape() {
        Some(Shape::Private(CKK_RSA)) => rsa::encode_private_key(provider, key),
        Some(Shape::Private(CKK_EC | CKK_EC_EDWARDS)) => ec::encode_private_key(provider, key),
        Some(Shape::Private(CKK_ML_DSA)) => mldsa::encode_private_key(key),
        Some(Shape::Private(CKK_ML_KEM)) => mlkem::encode_private_key(key),
        Some(Shape::Private(CKK_SLH_DSA)) => slhdsa::encode_private_key(key),
        _ => Err(err(CKR_KEY_NOT_WRAPPABLE, "this key type cannot be wrapped")),
    }
}

/// The attributes of a private key from PKCS#8 `PrivateKeyInfo` DER, for
/// `C_UnwrapKey`. `key_type` is the template's `CKA_KEY_TYPE`.
pub fn decode_private_key(provider: &dyn Provider, key_type: CK_KEY_TYPE, der: &[u8]) -> Result<Attrs> {
    match key_type {
        CKK_RSA => rsa::decode_private_key(provider, der),
        CKK_EC | CKK_EC_EDWARDS => ec::decode_private_key(provider, key_type, der),
        CKK_ML_DSA => mldsa::decode_private_key(der),
        CKK_ML_KEM => mlkem::decode_private_key(der),
        CKK_SLH_DSA => slhdsa::decode_private_key(der),
        _ => Err(err(CKR_TEMPLATE_INCONSISTENT, "this key type cannot be unwrapped as a private key")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `C_GetMechanismInfo` tells the truth: a flag is set exactly when the entry can
    /// do that operation, for every mechanism of every provider in the build.
    #[test]
    fn flags_match_what_each_mechanism_can_do() {
        for name in crate::crypto::available() {
            let provider = crate::crypto::select(Some(name)).unwrap();
            let r = Registry::new(provider.as_ref());
            assert!(!r.list().is_empty());
            for ty in r.list() {
                let e = r.entry(ty).unwrap();
                let f = e.info.flags;
                let m = Mech(ty);
                let digest = crate::crypto::HashAlg::from_mechanism(ty).is_some();
                assert_eq!(f & CKF_DIGEST != 0, digest, "{name} {m}: CKF_DIGEST");
                assert_eq!(e.encrypt.is_some(), f & (CKF_ENCRYPT | CKF_WRAP) != 0, "{name} {m}: encrypt/wrap");
                assert_eq!(e.decrypt.is_some(), f & (CKF_DECRYPT | CKF_UNWRAP) != 0, "{name} {m}: decrypt/unwrap");
                assert_eq!(e.sign.is_some() || e.attest.is_some(), f & CKF_SIGN != 0, "{name} {m}: CKF_SIGN");
                assert!(e.sign.is_none() || e.attest.is_none(), "{name} {m}: one signing constructor");
                assert_eq!(e.verify.is_some(), f & CKF_VERIFY != 0, "{name} {m}: CKF_VERIFY");
                assert_eq!(e.sign.is_some(), f & CKF_MESSAGE_SIGN != 0, "{name} {m}: CKF_MESSAGE_SIGN");
                assert_eq!(e.verify.is_some(), f & CKF_MESSAGE_VERIFY != 0, "{name} {m}: CKF_MESSAGE_VERIFY");
                assert_eq!(e.generate_key.is_some(), f & CKF_GENERATE != 0, "{name} {m}: CKF_GENERATE");
                assert_eq!(e.generate_key_pair.is_some(), f & CKF_GENERATE_KEY_PAIR != 0, "{name} {m}: pair");
                assert_eq!(
                    e.derive.is_some() || e.derive_keys.is_some(),
                    f & CKF_DERIVE != 0,
                    "{name} {m}: CKF_DERIVE"
                );
                assert_eq!(e.encapsulate.is_some(), f & CKF_ENCAPSULATE != 0, "{name} {m}: CKF_ENCAPSULATE");
                assert_eq!(e.decapsulate.is_some(), f & CKF_DECAPSULATE != 0, "{name} {m}: CKF_DECAPSULATE");
                let uses_key = f
                    & !(CKF_DIGEST | CKF_GENERATE | CKF_GENERATE_KEY_PAIR)
                    & (CKF_ENCRYPT
                        | CKF_DECRYPT
                        | CKF_SIGN
                        | CKF_VERIFY
                        | CKF_WRAP
                        | CKF_UNWRAP
                        | CKF_DERIVE
                        | CKF_ENCAPSULATE
                        | CKF_DECAPSULATE)
                    != 0;
                assert_eq!(!e.key_types.is_empty(), uses_key, "{name} {m}: key types");
                if e.info.ulMaxKeySize != 0 {
                    assert!(e.info.ulMinKeySize <= e.info.ulMaxKeySize, "{name} {m}: sizes");
                }
            }
        }
    }
}
