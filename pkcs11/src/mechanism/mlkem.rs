//! ML-KEM (FIPS 203) as PKCS#11 3.2 defines it: `CKM_ML_KEM_KEY_PAIR_GEN` and
//! `CKM_ML_KEM` through `C_EncapsulateKey` / `C_DecapsulateKey`.
//!
//! Keys: `CKK_ML_KEM`, the parameter set in `CKA_PARAMETER_SET` (`CKP_ML_KEM_512`,
//! `_768`, `_1024`); the encapsulation key (ek) in the public key's `CKA_VALUE`;
//! the seed d‖z in the private key's `CKA_SEED` and the expanded decapsulation key
//! (dk) in its `CKA_VALUE`, both secret (sealed at rest, see object/rules.rs). The
//! token layer ([`crate::token::kem`]) turns the shared secret into a key object.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{Entry, Mechanism, Registry, pqc_pkcs8, public_key_info};
use crate::crypto::Provider;
use crate::crypto::pqc::MlKemSet;
use crate::error::{Error, Result, err};
use crate::object::{Attrs, Object, Shape};

/// Key sizes in `CK_MECHANISM_INFO`: the parameter sets, `CKP_ML_KEM_512` to
/// `CKP_ML_KEM_1024`, as for ML-DSA (PKCS#11 3.2 gives these fields no unit).
const MIN: CK_ULONG = CKP_ML_KEM_512;
const MAX: CK_ULONG = CKP_ML_KEM_1024;

/// `CKM_ML_KEM_KEY_PAIR_GEN`.
pub const KEY_GEN_INFO: CK_MECHANISM_INFO =
    CK_MECHANISM_INFO { ulMinKeySize: MIN, ulMaxKeySize: MAX, flags: CKF_GENERATE_KEY_PAIR };
/// `CKM_ML_KEM`.
pub const KEM_INFO: CK_MECHANISM_INFO =
    CK_MECHANISM_INFO { ulMinKeySize: MIN, ulMaxKeySize: MAX, flags: CKF_ENCAPSULATE | CKF_DECAPSULATE };

/// Registers the ML-KEM mechanisms. Both providers offer them.
pub fn register(r: &mut Registry, _provider: &dyn Provider) {
    let entry = |i: CK_MECHANISM_INFO| Entry::new(i.ulMinKeySize, i.ulMaxKeySize, i.flags);
    r.insert(CKM_ML_KEM_KEY_PAIR_GEN, Entry { generate_key_pair: Some((CKK_ML_KEM, generate)), ..entry(KEY_GEN_INFO) });
    r.insert(
        CKM_ML_KEM,
        Entry {
            key_types: &[CKK_ML_KEM],
            encapsulate: Some((ciphertext_len, encapsulate)),
            decapsulate: Some(decapsulate),
            ..entry(KEM_INFO)
        },
    );
}

/// The parameter set of a key's (or template's) `CKA_PARAMETER_SET`.
pub fn parameter_set(attrs: &Attrs) -> Result<MlKemSet> {
    public_key_info::parameter_set(attrs, "ML-KEM", MlKemSet::from_ckp)
}

fn fill_public_key_info(attrs: &mut Attrs, set: MlKemSet, public: &[u8]) -> Result<()> {
    public_key_info::fill(attrs, public_key_info::without_parameters(set.oid(), public)?)
}

/// `C_GenerateKeyPair` (PKCS#11 3.2 §6.68): the parameter set comes from the public
/// template's `CKA_PARAMETER_SET` (or the private one's when only it has one); a
/// fresh seed d‖z from the system generator makes the pair.
fn generate(p: &dyn Provider, mech: &Mechanism, public: &mut Attrs, private: &mut Attrs) -> Result<()> {
    mech.no_parameter()?;
    let set = parameter_set(public_key_info::parameter_set_template(public, private)?)?;
    let mut seed = Zeroizing::new([0u8; MlKemSet::SEED_LEN]);
    getrandom::fill(&mut *seed).map_err(|_| err(CKR_FUNCTION_FAILED, "system random generator failed"))?;
    let (ek, mut dk) = p.ml_kem_keygen(set, &*seed)?;
    let info = public_key_info::without_parameters(set.oid(), &ek)?;
    public_key_info::stamp_pair(public, private, set.ckp() as u64, info, ek)?;
    private.set(CKA_SEED, seed.to_vec());
    private.set(CKA_VALUE, std::mem::take(&mut *dk));
    Ok(())
}

/// Checks an imported ML-KEM key and fills `CKA_PUBLIC_KEY_INFO`.
///
/// - Public key: `CKA_VALUE` must be an encapsulation key of the set's length that
///   passes FIPS 203's check (§7.2).
/// - Private key: `CKA_SEED` (64 bytes, d‖z) and/or `CKA_VALUE` (the expanded
///   decapsulation key, checked as §7.3 says); when both are given they must be
///   the same key. Only the seed given: the expanded key is computed.
pub fn validate_import(provider: &dyn Provider, shape: Shape, attrs: &mut Attrs) -> Result<()> {
    let set = parameter_set(attrs)?;
    match shape {
        Shape::Public(_) => {
            let ek = attrs.get(CKA_VALUE).unwrap_or_default().to_vec();
            if ek.len() != set.public_len() {
                return Err(err(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    format!("CKA_VALUE: an {} public key has {} bytes", set.name(), set.public_len()),
                ));
            }
            // Encapsulating once runs the encapsulation key check.
            provider.ml_kem_encapsulate(set, &ek, &[0u8; 32])?;
            fill_public_key_info(attrs, set, &ek)
        }
        Shape::Private(_) => {
            let seed = attrs.get(CKA_SEED).filter(|v| !v.is_empty()).map(<[u8]>::to_vec).map(Zeroizing::new);
            let value = attrs.get(CKA_VALUE).filter(|v| !v.is_empty()).map(<[u8]>::to_vec).map(Zeroizing::new);
            if seed.is_none() && value.is_none() {
                return Err(err(CKR_TEMPLATE_INCOMPLETE, "an ML-KEM private key needs CKA_SEED or CKA_VALUE"));
            }
            if let Some(v) = &value
                && v.len() != set.private_len()
            {
                return Err(err(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    format!("CKA_VALUE: an {} private key has {} bytes", set.name(), set.private_len()),
                ));
            }
            let (ek, mut dk) = provider.ml_kem_check_private(
                set,
                seed.as_deref().map(|v| v.as_slice()),
                value.as_deref().map(|v| v.as_slice()),
            )?;
            if value.is_none() {
                attrs.set(CKA_VALUE, std::mem::take(&mut *dk));
            }
            fill_public_key_info(attrs, set, &ek)
        }
        _ => Ok(()),
    }
}

/// Key material that passed the import checks but that the provider refuses now
/// means the stored object is damaged.
fn damaged(e: Error) -> Error {
    match e.rv() {
        CKR_ATTRIBUTE_VALUE_INVALID | CKR_TEMPLATE_INCOMPLETE => {
            err(CKR_GENERAL_ERROR, format!("the stored key is not usable: {}", e.message()))
        }
        _ => e,
    }
}

/// The ciphertext length of an encapsulation with `key` (a public key).
fn ciphertext_len(mech: &Mechanism, key: &Object) -> Result<usize> {
    mech.no_parameter()?;
    Ok(parameter_set(&key.attrs).map_err(damaged)?.ciphertext_len())
}

/// ML-KEM.Encaps (FIPS 203 Algorithm 20) with fresh randomness m:
/// (ciphertext, shared secret).
fn encapsulate(p: &dyn Provider, mech: &Mechanism, key: &Object) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
    mech.no_parameter()?;
    if !matches!(key.shape(), Some(Shape::Public(_))) {
        return Err(err(CKR_KEY_TYPE_INCONSISTENT, "C_EncapsulateKey takes a public key"));
    }
    let set = parameter_set(&key.attrs).map_err(damaged)?;
    let ek = key.attrs.get(CKA_VALUE).unwrap_or_default();
    let mut m = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *m).map_err(|_| err(CKR_FUNCTION_FAILED, "system random generator failed"))?;
    p.ml_kem_encapsulate(set, ek, &m).map_err(damaged)
}

/// ML-KEM.Decaps (FIPS 203 Algorithm 21): the shared secret, or the
/// implicit-rejection secret for a ciphertext not made for this key. A ciphertext of
/// the wrong length is `CKR_ENCRYPTED_DATA_LEN_RANGE`.
fn decapsulate(p: &dyn Provider, mech: &Mechanism, key: &Object, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    mech.no_parameter()?;
    if !matches!(key.shape(), Some(Shape::Private(_))) {
        return Err(err(CKR_KEY_TYPE_INCONSISTENT, "C_DecapsulateKey takes a private key"));
    }
    let set = parameter_set(&key.attrs).map_err(damaged)?;
    if ciphertext.len() != set.ciphertext_len() {
        return Err(err(
            CKR_ENCRYPTED_DATA_LEN_RANGE,
            format!("an {} ciphertext has {} bytes, not {}", set.name(), set.ciphertext_len(), ciphertext.len()),
        ));
    }
    // The expanded key when there is one: expanding the seed again on every call
    // would cost a key generation. Import and generation made sure both agree.
    let value = key.attrs.get(CKA_VALUE).filter(|v| !v.is_empty());
    let seed = if value.is_none() { key.attrs.get(CKA_SEED).filter(|v| !v.is_empty()) } else { None };
    p.ml_kem_decapsulate(set, seed, value, ciphertext).map_err(damaged)
}

/// `C_WrapKey`: the private key as PKCS#8, its seed d ‖ z when it has one (RFC 9935 §6).
pub fn encode_private_key(key: &Object) -> Result<Zeroizing<Vec<u8>>> {
    pqc_pkcs8::encode_seeded(parameter_set(&key.attrs)?.oid(), &key.attrs)
}

/// `C_UnwrapKey`: the parameter set, seed and/or expanded key of a PKCS#8 ML-KEM key.
pub fn decode_private_key(der: &[u8]) -> Result<Attrs> {
    pqc_pkcs8::decode_seeded(der, |oid| {
        let set = MlKemSet::ALL.into_iter().find(|s| s.oid() == oid)?;
        Some(pqc_pkcs8::Sizes { ckp: set.ckp(), seed: MlKemSet::SEED_LEN, expanded: set.private_len() })
    })
}
