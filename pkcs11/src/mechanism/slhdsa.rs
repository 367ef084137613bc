//! SLH-DSA (FIPS 205) as PKCS#11 3.2 defines it: `CKM_SLH_DSA_KEY_PAIR_GEN` and
//! `CKM_SLH_DSA` (pure, with `CK_SIGN_ADDITIONAL_CONTEXT`).
//!
//! Keys: `CKK_SLH_DSA`, the parameter set in `CKA_PARAMETER_SET` (`CKP_SLH_DSA_SHA2_128S`
//! to `CKP_SLH_DSA_SHAKE_256F`); the public key (PK.seed ‖ PK.root) in the public
//! key's `CKA_VALUE`, the private key (SK.seed ‖ SK.prf ‖ PK.seed ‖ PK.root) in the
//! private key's `CKA_VALUE`, secret (sealed at rest, see object/rules.rs).
//! HashSLH-DSA (FIPS 205 §10.2.2): `CKM_HASH_SLH_DSA` (the caller's hash, with
//! `CK_HASH_SIGN_ADDITIONAL_CONTEXT`) and `CKM_HASH_SLH_DSA_SHA224` to `_SHAKE256`
//! (hashing here), M' built as for HashML-DSA (mechanism/pqc_sign.rs).

use std::sync::Arc;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::pqc_sign::{Family, Input, Request, request};
use super::{Entry, Mechanism, Registry, SignOp, VerifyOp, pqc_pkcs8, public_key_info};
use crate::crypto::Provider;
use crate::crypto::slhdsa::SlhDsaSet;
use crate::error::{Result, err};
use crate::object::{Attrs, Object, Shape};

/// The most a `CKM_SLH_DSA` operation collects of a multi-part message (the crate
/// reads M' twice: for the randomizer and for the message digest).
pub const MAX_MESSAGE: usize = 64 << 20;

/// Key sizes in `CK_MECHANISM_INFO`: the range of `CKP_SLH_DSA_*` values, as for ML-DSA
/// (PKCS#11 3.2 gives no unit).
const MIN: CK_ULONG = CKP_SLH_DSA_SHA2_128S;
const MAX: CK_ULONG = CKP_SLH_DSA_SHAKE_256F;

/// `CKM_SLH_DSA_KEY_PAIR_GEN`.
pub const KEY_GEN_INFO: CK_MECHANISM_INFO =
    CK_MECHANISM_INFO { ulMinKeySize: MIN, ulMaxKeySize: MAX, flags: CKF_GENERATE_KEY_PAIR };
/// `CKM_SLH_DSA`, `CKM_HASH_SLH_DSA` and the HashSLH-DSA mechanisms.
pub const SIGN_INFO: CK_MECHANISM_INFO =
    CK_MECHANISM_INFO { ulMinKeySize: MIN, ulMaxKeySize: MAX, flags: CKF_SIGN | CKF_VERIFY };

/// HashSLH-DSA: the caller-hash mechanism and the fixed-hash ones, in
/// `pqc_sign::PRE_HASHES` order.
const FAMILY: Family = Family {
    caller_hash: CKM_HASH_SLH_DSA,
    hashed: [
        CKM_HASH_SLH_DSA_SHA224,
        CKM_HASH_SLH_DSA_SHA256,
        CKM_HASH_SLH_DSA_SHA384,
        CKM_HASH_SLH_DSA_SHA512,
        CKM_HASH_SLH_DSA_SHA3_224,
        CKM_HASH_SLH_DSA_SHA3_256,
        CKM_HASH_SLH_DSA_SHA3_384,
        CKM_HASH_SLH_DSA_SHA3_512,
        CKM_HASH_SLH_DSA_SHAKE128,
        CKM_HASH_SLH_DSA_SHAKE256,
    ],
};

/// Registers the SLH-DSA mechanisms. Both providers offer them (shared crate).
pub fn register(r: &mut Registry, _provider: &dyn Provider) {
    let entry = |i: CK_MECHANISM_INFO| Entry::new(i.ulMinKeySize, i.ulMaxKeySize, i.flags);
    r.insert(
        CKM_SLH_DSA_KEY_PAIR_GEN,
        Entry { generate_key_pair: Some((CKK_SLH_DSA, generate)), ..entry(KEY_GEN_INFO) },
    );
    for m in FAMILY.signing(CKM_SLH_DSA) {
        r.insert(m, Entry { key_types: &[CKK_SLH_DSA], sign: Some(sign), verify: Some(verify), ..entry(SIGN_INFO) });
    }
}

/// The parameter set of a key's (or template's) `CKA_PARAMETER_SET`.
pub fn parameter_set(attrs: &Attrs) -> Result<SlhDsaSet> {
    public_key_info::parameter_set(attrs, "SLH-DSA", SlhDsaSet::from_ckp)
}

/// Fills or checks `CKA_PUBLIC_KEY_INFO`: RFC 9909's `id-slh-dsa-*` without
/// parameters, the raw public key as the BIT STRING.
fn fill_public_key_info(attrs: &mut Attrs, set: SlhDsaSet, public: &[u8]) -> Result<()> {
    public_key_info::fill(attrs, public_key_info::without_parameters(set.oid(), public)?)
}

/// `C_GenerateKeyPair`: the parameter set from the templates' `CKA_PARAMETER_SET`
/// (as for ML-DSA); SK.seed,
/// SK.prf and PK.seed fresh from the system generator (FIPS 205 Algorithm 21).
fn generate(_p: &dyn Provider, mech: &Mechanism, public: &mut Attrs, private: &mut Attrs) -> Result<()> {
    mech.no_parameter()?;
    let set = parameter_set(public_key_info::parameter_set_template(public, private)?)?;
    let mut seeds = Zeroizing::new(vec![0u8; 3 * set.n()]);
    getrandom::fill(&mut seeds).map_err(|_| err(CKR_FUNCTION_FAILED, "system random generator failed"))?;
    let (pk, mut sk) = set.keygen(&seeds).ok_or_else(|| err(CKR_GENERAL_ERROR, "SLH-DSA key generation failed"))?;
    let info = public_key_info::without_parameters(set.oid(), &pk)?;
    public_key_info::stamp_pair(public, private, set.ckp() as u64, info, pk)?;
    private.set(CKA_VALUE, std::mem::take(&mut *sk));
    Ok(())
}

/// Checks an imported SLH-DSA key and fills `CKA_PUBLIC_KEY_INFO`: a public key of
/// 2n bytes; a private key of 4n bytes whose PK.root its seeds give (FIPS 205 §9.1
/// recomputed). Bad values are `CKR_ATTRIBUTE_VALUE_INVALID`.
pub fn validate_import(shape: Shape, attrs: &mut Attrs) -> Result<()> {
    let set = parameter_set(attrs)?;
    let value = Zeroizing::new(attrs.get(CKA_VALUE).unwrap_or_default().to_vec());
    match shape {
        Shape::Public(_) => {
            if value.len() != set.public_len() || !set.public_key_decodes(&value) {
                return Err(err(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    format!("CKA_VALUE: an {} public key has {} bytes", set.name(), set.public_len()),
                ));
            }
            fill_public_key_info(attrs, set, &value)
        }
        Shape::Private(_) => {
            if value.len() != set.private_len() {
                return Err(err(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    format!("CKA_VALUE: an {} private key has {} bytes", set.name(), set.private_len()),
                ));
            }
            if !set.private_key_is_consistent(&value) {
                return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE: PK.root is not the one the seeds give"));
            }
            let pk = value[2 * set.n()..].to_vec();
            fill_public_key_info(attrs, set, &pk)
        }
        _ => Ok(()),
    }
}

/// A key's parameter set and value, read once per object.
struct Key {
    set: SlhDsaSet,
    value: Zeroizing<Vec<u8>>,
}

fn key(key: &Object, len: fn(SlhDsaSet) -> usize) -> Result<Arc<Key>> {
    key.parsed(|attrs| {
        let set = parameter_set(attrs)?;
        let value = Zeroizing::new(attrs.get(CKA_VALUE).unwrap_or_default().to_vec());
        if value.len() != len(set) {
            return Err(err(CKR_GENERAL_ERROR, "the stored SLH-DSA key has the wrong length"));
        }
        Ok(Key { set, value })
    })
    .map_err(|e| match e.rv() {
        CKR_ATTRIBUTE_VALUE_INVALID | CKR_TEMPLATE_INCOMPLETE => {
            err(CKR_GENERAL_ERROR, format!("the stored key is not usable: {}", e.message()))
        }
        _ => e,
    })
}

struct Sign {
    key: Arc<Key>,
    request: Request,
    input: Input,
}

impl SignOp for Sign {
    fn sign_len(&self) -> usize {
        self.key.set.signature_len()
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        let set = self.key.set;
        let m_prime = self.input.m_prime(&self.request)?;
        // opt_rand fresh, or PK.seed (the crate's None) when deterministic (FIPS 205
        // Algorithms 22 and 23).
        let mut rnd = Zeroizing::new(vec![0u8; set.n()]);
        let rnd = if self.request.deterministic {
            None
        } else {
            getrandom::fill(&mut rnd).map_err(|_| err(CKR_FUNCTION_FAILED, "system random generator failed"))?;
            Some(rnd.as_slice())
        };
        set.sign_internal(&self.key.value, &[&m_prime], rnd)
            .ok_or_else(|| err(CKR_GENERAL_ERROR, "the stored SLH-DSA key is not usable"))
    }
}

struct Verify {
    key: Arc<Key>,
    request: Request,
    input: Input,
}

impl VerifyOp for Verify {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }

    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let set = self.key.set;
        let m_prime = self.input.m_prime(&self.request)?;
        let want = set.signature_len();
        if signature.len() != want {
            return Err(err(
                CKR_SIGNATURE_LEN_RANGE,
                format!("the signature has {} bytes, not {want}", signature.len()),
            ));
        }
        if set.verify_internal(&self.key.value, &[&m_prime], signature) {
            Ok(())
        } else {
            Err(err(CKR_SIGNATURE_INVALID, "the SLH-DSA signature does not verify"))
        }
    }
}

/// `C_SignInit` for the SLH-DSA mechanisms.
pub fn sign(provider: &dyn Provider, mech: &Mechanism, k: &Object) -> Result<Box<dyn SignOp>> {
    let request = request(mech, &FAMILY)?;
    let key = key(k, SlhDsaSet::private_len)?;
    let input = Input::new(provider, &request, MAX_MESSAGE);
    Ok(Box::new(Sign { key, request, input }))
}

/// `C_VerifyInit` for the SLH-DSA mechanisms.
pub fn verify(provider: &dyn Provider, mech: &Mechanism, k: &Object) -> Result<Box<dyn VerifyOp>> {
    let request = request(mech, &FAMILY)?;
    let key = key(k, SlhDsaSet::public_len)?;
    let input = Input::new(provider, &request, MAX_MESSAGE);
    Ok(Box::new(Verify { key, request, input }))
}

/// `C_WrapKey`: the private key as PKCS#8, the raw key as `privateKey` (RFC 9909 §6).
pub fn encode_private_key(key: &Object) -> Result<Zeroizing<Vec<u8>>> {
    pqc_pkcs8::encode(parameter_set(&key.attrs)?.oid(), key.attrs.get(CKA_VALUE).unwrap_or_default())
}

/// `C_UnwrapKey`: the parameter set and value of a PKCS#8 SLH-DSA key (its length
/// and PK.root are `validate_import`'s checks).
pub fn decode_private_key(der: &[u8]) -> Result<Attrs> {
    pqc_pkcs8::decode_raw(der, |oid| {
        crate::crypto::slhdsa::ALL.into_iter().find(|(_, s)| s.oid() == oid).map(|(c, _)| c)
    })
}
