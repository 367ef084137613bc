//! ML-DSA (FIPS 204) as PKCS#11 3.2 defines it (§6.67): `CKM_ML_DSA_KEY_PAIR_GEN`,
//! `CKM_ML_DSA` (pure, with `CK_SIGN_ADDITIONAL_CONTEXT`), `CKM_HASH_ML_DSA` (the
//! caller's hash, with `CK_HASH_SIGN_ADDITIONAL_CONTEXT`) and
//! `CKM_HASH_ML_DSA_SHA224` to `_SHA512`, `_SHA3_224` to `_SHA3_512`, `_SHAKE128` and
//! `_SHAKE256` (HashML-DSA, hashing here).
//!
//! Keys: `CKK_ML_DSA`, the parameter set in `CKA_PARAMETER_SET` (`CKP_ML_DSA_44`,
//! `_65`, `_87`); the public key (pkEncode) in the public key's `CKA_VALUE`; the
//! seed ξ in the private key's `CKA_SEED` and the expanded key (skEncode) in its
//! `CKA_VALUE`, both secret (sealed at rest, see object/rules.rs). The constants are
//! cryptoki-sys 0.5's, generated from the OASIS PKCS#11 3.2 headers; docs/mechanisms-pqc.md
//! lists them with the values checked against OpenSC's `pkcs11.h`.

use std::sync::Arc;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::pqc_sign::{Family, Input, Request, request};
use super::{Entry, Mechanism, Registry, SignOp, VerifyOp, pqc_pkcs8, public_key_info};
use crate::crypto::Provider;
use crate::crypto::pqc::{MlDsaSet, MlDsaSigner, MlDsaVerifier};
use crate::error::{Error, Result, err};
use crate::object::{Attrs, Object, Shape};

/// The most a pure ML-DSA operation collects of a multi-part message: ML-DSA reads
/// the message once, but through μ = H(tr ‖ M'), which the crate takes whole.
pub const MAX_MESSAGE: usize = 64 << 20;

/// Key sizes in `CK_MECHANISM_INFO`: the parameter sets, `CKP_ML_DSA_44` to
/// `CKP_ML_DSA_87`, as kryoptic reports them (PKCS#11 3.2 gives no unit).
const MIN: CK_ULONG = CKP_ML_DSA_44;
const MAX: CK_ULONG = CKP_ML_DSA_87;

/// `CKM_ML_DSA_KEY_PAIR_GEN`.
pub const KEY_GEN_INFO: CK_MECHANISM_INFO =
    CK_MECHANISM_INFO { ulMinKeySize: MIN, ulMaxKeySize: MAX, flags: CKF_GENERATE_KEY_PAIR };
/// The signing mechanisms.
pub const SIGN_INFO: CK_MECHANISM_INFO =
    CK_MECHANISM_INFO { ulMinKeySize: MIN, ulMaxKeySize: MAX, flags: CKF_SIGN | CKF_VERIFY };

/// HashML-DSA: the caller-hash mechanism and the fixed-hash ones, in
/// `pqc_sign::PRE_HASHES` order.
const FAMILY: Family = Family {
    caller_hash: CKM_HASH_ML_DSA,
    hashed: [
        CKM_HASH_ML_DSA_SHA224,
        CKM_HASH_ML_DSA_SHA256,
        CKM_HASH_ML_DSA_SHA384,
        CKM_HASH_ML_DSA_SHA512,
        CKM_HASH_ML_DSA_SHA3_224,
        CKM_HASH_ML_DSA_SHA3_256,
        CKM_HASH_ML_DSA_SHA3_384,
        CKM_HASH_ML_DSA_SHA3_512,
        CKM_HASH_ML_DSA_SHAKE128,
        CKM_HASH_ML_DSA_SHAKE256,
    ],
};

/// Registers the ML-DSA mechanisms. Both providers offer all of them.
pub fn register(r: &mut Registry, _provider: &dyn Provider) {
    let entry = |i: CK_MECHANISM_INFO| Entry::new(i.ulMinKeySize, i.ulMaxKeySize, i.flags);
    r.insert(CKM_ML_DSA_KEY_PAIR_GEN, Entry { generate_key_pair: Some((CKK_ML_DSA, generate)), ..entry(KEY_GEN_INFO) });
    for m in FAMILY.signing(CKM_ML_DSA) {
        r.insert(m, Entry { key_types: &[CKK_ML_DSA], sign: Some(sign), verify: Some(verify), ..entry(SIGN_INFO) });
    }
}

/// The parameter set of a key's (or template's) `CKA_PARAMETER_SET`.
pub fn parameter_set(attrs: &Attrs) -> Result<MlDsaSet> {
    public_key_info::parameter_set(attrs, "ML-DSA", MlDsaSet::from_ckp)
}

fn fill_public_key_info(attrs: &mut Attrs, set: MlDsaSet, public: &[u8]) -> Result<()> {
    public_key_info::fill(attrs, public_key_info::without_parameters(set.oid(), public)?)
}

/// `C_GenerateKeyPair` (PKCS#11 3.2 §6.67.4): the parameter set comes from the public
/// template's `CKA_PARAMETER_SET` (or the private one's when only it has one); a
/// fresh seed ξ from the system generator makes the pair.
fn generate(p: &dyn Provider, mech: &Mechanism, public: &mut Attrs, private: &mut Attrs) -> Result<()> {
    mech.no_parameter()?;
    let set = parameter_set(public_key_info::parameter_set_template(public, private)?)?;
    let mut seed = Zeroizing::new([0u8; MlDsaSet::SEED_LEN]);
    getrandom::fill(&mut *seed).map_err(|_| err(CKR_FUNCTION_FAILED, "system random generator failed"))?;
    let (pk, mut sk) = p.ml_dsa_keygen(set, &*seed)?;
    let info = public_key_info::without_parameters(set.oid(), &pk)?;
    public_key_info::stamp_pair(public, private, set.ckp() as u64, info, pk)?;
    private.set(CKA_SEED, seed.to_vec());
    private.set(CKA_VALUE, std::mem::take(&mut *sk));
    Ok(())
}

/// Checks an imported ML-DSA key and fills `CKA_PUBLIC_KEY_INFO`.
///
/// - Public key: `CKA_VALUE` must be a public key of the set's length that decodes.
/// - Private key: `CKA_SEED` (32 bytes) and/or `CKA_VALUE` (the expanded key); when
///   both are given they must be the same key. Only the seed given: the expanded key
///   is computed, so `CKA_VALUE` is always there.
///
/// Bad values are `CKR_ATTRIBUTE_VALUE_INVALID`; neither given is
/// `CKR_TEMPLATE_INCOMPLETE`.
pub fn validate_import(provider: &dyn Provider, shape: Shape, attrs: &mut Attrs) -> Result<()> {
    let set = parameter_set(attrs)?;
    match shape {
        Shape::Public(_) => {
            let pk = attrs.get(CKA_VALUE).unwrap_or_default().to_vec();
            if pk.len() != set.public_len() {
                return Err(err(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    format!("CKA_VALUE: an {} public key has {} bytes", set.name(), set.public_len()),
                ));
            }
            provider.ml_dsa_verifying_key(set, &pk)?;
            fill_public_key_info(attrs, set, &pk)
        }
        Shape::Private(_) => {
            let seed = attrs.get(CKA_SEED).filter(|v| !v.is_empty()).map(<[u8]>::to_vec).map(Zeroizing::new);
            let value = attrs.get(CKA_VALUE).filter(|v| !v.is_empty()).map(<[u8]>::to_vec).map(Zeroizing::new);
            if seed.is_none() && value.is_none() {
                return Err(err(CKR_TEMPLATE_INCOMPLETE, "an ML-DSA private key needs CKA_SEED or CKA_VALUE"));
            }
            if let Some(v) = &value
                && v.len() != set.private_len()
            {
                return Err(err(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    format!("CKA_VALUE: an {} private key has {} bytes", set.name(), set.private_len()),
                ));
            }
            let signer = provider.ml_dsa_signing_key(
                set,
                seed.as_deref().map(|v| v.as_slice()),
                value.as_deref().map(|v| v.as_slice()),
            )?;
            if let (Some(s), None) = (&seed, &value) {
                let (_, mut sk) = provider.ml_dsa_keygen(set, s)?;
                attrs.set(CKA_VALUE, std::mem::take(&mut *sk));
            }
            fill_public_key_info(attrs, set, &signer.public_key())
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

struct PrivateKey {
    set: MlDsaSet,
    key: Box<dyn MlDsaSigner>,
}

struct PublicKey {
    set: MlDsaSet,
    key: Box<dyn MlDsaVerifier>,
}

fn private_key(provider: &dyn Provider, key: &Object) -> Result<Arc<PrivateKey>> {
    key.parsed(|attrs| {
        let set = parameter_set(attrs)?;
        let seed = attrs.get(CKA_SEED).filter(|v| !v.is_empty());
        let value = attrs.get(CKA_VALUE).filter(|v| !v.is_empty());
        Ok(PrivateKey { set, key: provider.ml_dsa_signing_key(set, seed, value)? })
    })
    .map_err(damaged)
}

fn public_key(provider: &dyn Provider, key: &Object) -> Result<Arc<PublicKey>> {
    key.parsed(|attrs| {
        let set = parameter_set(attrs)?;
        let pk = attrs.get(CKA_VALUE).unwrap_or_default();
        Ok(PublicKey { set, key: provider.ml_dsa_verifying_key(set, pk)? })
    })
    .map_err(damaged)
}

struct Sign {
    key: Arc<PrivateKey>,
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
        let m_prime = self.input.m_prime(&self.request)?;
        let mut rnd = Zeroizing::new([0u8; 32]);
        if !self.request.deterministic {
            getrandom::fill(&mut *rnd).map_err(|_| err(CKR_FUNCTION_FAILED, "system random generator failed"))?;
        }
        Ok(self.key.key.sign_internal(&[&m_prime], &rnd))
    }
}

struct Verify {
    key: Arc<PublicKey>,
    request: Request,
    input: Input,
}

impl VerifyOp for Verify {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }

    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let m_prime = self.input.m_prime(&self.request)?;
        let want = self.key.set.signature_len();
        if signature.len() != want {
            return Err(err(
                CKR_SIGNATURE_LEN_RANGE,
                format!("the signature has {} bytes, not {want}", signature.len()),
            ));
        }
        if self.key.key.verify_internal(&m_prime, signature) {
            Ok(())
        } else {
            Err(err(CKR_SIGNATURE_INVALID, "the ML-DSA signature does not verify"))
        }
    }
}

/// `C_SignInit` for the ML-DSA mechanisms.
pub fn sign(provider: &dyn Provider, mech: &Mechanism, key: &Object) -> Result<Box<dyn SignOp>> {
    let request = request(mech, &FAMILY)?;
    let key = private_key(provider, key)?;
    let input = Input::new(provider, &request, MAX_MESSAGE);
    Ok(Box::new(Sign { key, request, input }))
}

/// `C_VerifyInit` for the ML-DSA mechanisms.
pub fn verify(provider: &dyn Provider, mech: &Mechanism, key: &Object) -> Result<Box<dyn VerifyOp>> {
    let request = request(mech, &FAMILY)?;
    let key = public_key(provider, key)?;
    let input = Input::new(provider, &request, MAX_MESSAGE);
    Ok(Box::new(Verify { key, request, input }))
}

/// `C_WrapKey`: the private key as PKCS#8, its seed when it has one (RFC 9881 §6).
pub fn encode_private_key(key: &Object) -> Result<Zeroizing<Vec<u8>>> {
    pqc_pkcs8::encode_seeded(parameter_set(&key.attrs)?.oid(), &key.attrs)
}

/// `C_UnwrapKey`: the parameter set, seed and/or expanded key of a PKCS#8 ML-DSA key.
pub fn decode_private_key(der: &[u8]) -> Result<Attrs> {
    pqc_pkcs8::decode_seeded(der, |oid| {
        let set = MlDsaSet::ALL.into_iter().find(|s| s.oid() == oid)?;
        Some(pqc_pkcs8::Sizes { ckp: set.ckp(), seed: MlDsaSet::SEED_LEN, expanded: set.private_len() })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::HashAlg;
    use crate::crypto::sha3::Sha3Alg;
    use crate::mechanism::Param;
    use crate::mechanism::pqc_sign::PreHash;

    fn request(m: &Mechanism) -> Result<Request> {
        super::request(m, &FAMILY)
    }

    #[test]
    fn parameters_are_read_as_pkcs11_3_2_says() {
        let m = |ty, param| Mechanism { ty, param };
        let r = request(&m(CKM_ML_DSA, Param::None)).unwrap();
        assert!(!r.deterministic && r.context.is_empty() && r.prehash.is_none());
        let det = Param::SignContext { hedge: CKH_DETERMINISTIC_REQUIRED as u64, context: b"ctx".to_vec() };
        let r = request(&m(CKM_ML_DSA, det.clone())).unwrap();
        assert!(r.deterministic);
        assert_eq!(r.context, b"ctx");
        let r = request(&m(CKM_HASH_ML_DSA_SHA384, det.clone())).unwrap();
        assert_eq!(r.prehash, Some((PreHash::Sha2(HashAlg::Sha384), true)));
        let r = request(&m(CKM_HASH_ML_DSA_SHAKE256, Param::None)).unwrap();
        assert_eq!(r.prehash, Some((PreHash::Sha3(Sha3Alg::Shake256), true)));
        assert_eq!(request(&m(CKM_HASH_ML_DSA, det)).err().unwrap().rv(), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(request(&m(CKM_HASH_ML_DSA, Param::None)).err().unwrap().rv(), CKR_MECHANISM_PARAM_INVALID);
        let hashed = Param::HashSignContext { hedge: 0, context: vec![], hash: CKM_SHA256 };
        assert_eq!(
            request(&m(CKM_HASH_ML_DSA, hashed)).unwrap().prehash,
            Some((PreHash::Sha2(HashAlg::Sha256), false))
        );
        let sha3 = Param::HashSignContext { hedge: 0, context: vec![], hash: CKM_SHA3_384 };
        assert_eq!(
            request(&m(CKM_HASH_ML_DSA, sha3)).unwrap().prehash,
            Some((PreHash::Sha3(Sha3Alg::Sha3_384), false))
        );
        let long = Param::SignContext { hedge: 0, context: vec![0; 256] };
        assert_eq!(request(&m(CKM_ML_DSA, long)).err().unwrap().rv(), CKR_MECHANISM_PARAM_INVALID);
        let odd = Param::SignContext { hedge: 7, context: vec![] };
        assert_eq!(request(&m(CKM_ML_DSA, odd)).err().unwrap().rv(), CKR_MECHANISM_PARAM_INVALID);
        let sha1 = Param::HashSignContext { hedge: 0, context: vec![], hash: CKM_SHA_1 };
        assert_eq!(request(&m(CKM_HASH_ML_DSA, sha1)).err().unwrap().rv(), CKR_MECHANISM_PARAM_INVALID);
    }
}
