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

use super::{Entry, Mechanism, Param, Registry, SignOp, VerifyOp, ops::Collect, pqc_pkcs8, public_key_info};
use crate::crypto::pqc::{MlDsaSet, MlDsaSigner, MlDsaVerifier};
use crate::crypto::sha3::Sha3Alg;
use crate::crypto::{HashAlg, Hasher, Provider};
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

/// The HashML-DSA mechanisms with a fixed hash, and their hashes.
const HASHED: [(CK_MECHANISM_TYPE, PreHash); 10] = [
    (CKM_HASH_ML_DSA_SHA224, PreHash::Sha2(HashAlg::Sha224)),
    (CKM_HASH_ML_DSA_SHA256, PreHash::Sha2(HashAlg::Sha256)),
    (CKM_HASH_ML_DSA_SHA384, PreHash::Sha2(HashAlg::Sha384)),
    (CKM_HASH_ML_DSA_SHA512, PreHash::Sha2(HashAlg::Sha512)),
    (CKM_HASH_ML_DSA_SHA3_224, PreHash::Sha3(Sha3Alg::Sha3_224)),
    (CKM_HASH_ML_DSA_SHA3_256, PreHash::Sha3(Sha3Alg::Sha3_256)),
    (CKM_HASH_ML_DSA_SHA3_384, PreHash::Sha3(Sha3Alg::Sha3_384)),
    (CKM_HASH_ML_DSA_SHA3_512, PreHash::Sha3(Sha3Alg::Sha3_512)),
    (CKM_HASH_ML_DSA_SHAKE128, PreHash::Sha3(Sha3Alg::Shake128)),
    (CKM_HASH_ML_DSA_SHAKE256, PreHash::Sha3(Sha3Alg::Shake256)),
];

/// A HashML-DSA pre-hash function (FIPS 204 §5.4): SHA-2 from the provider,
/// SHA-3 and SHAKE from the shared `sha3`/`shake` crates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PreHash {
    Sha2(HashAlg),
    Sha3(Sha3Alg),
}

impl PreHash {
    /// The hash `CK_HASH_SIGN_ADDITIONAL_CONTEXT.hash` names for `CKM_HASH_ML_DSA`.
    /// PKCS#11 3.2 has no SHAKE digest mechanism, so SHAKE cannot be named there.
    fn from_mechanism(m: CK_MECHANISM_TYPE) -> Option<Self> {
        Some(match m {
            CKM_SHA224 => PreHash::Sha2(HashAlg::Sha224),
            CKM_SHA256 => PreHash::Sha2(HashAlg::Sha256),
            CKM_SHA384 => PreHash::Sha2(HashAlg::Sha384),
            CKM_SHA512 => PreHash::Sha2(HashAlg::Sha512),
            CKM_SHA3_224 => PreHash::Sha3(Sha3Alg::Sha3_224),
            CKM_SHA3_256 => PreHash::Sha3(Sha3Alg::Sha3_256),
            CKM_SHA3_384 => PreHash::Sha3(Sha3Alg::Sha3_384),
            CKM_SHA3_512 => PreHash::Sha3(Sha3Alg::Sha3_512),
            _ => return None,
        })
    }

    fn output_len(self) -> usize {
        match self {
            PreHash::Sha2(h) => h.output_len(),
            PreHash::Sha3(h) => h.output_len(),
        }
    }

    fn hasher(self, provider: &dyn Provider) -> Box<dyn Hasher> {
        match self {
            PreHash::Sha2(h) => provider.hasher(h),
            PreHash::Sha3(h) => h.hasher(),
        }
    }

    /// The DER of the hash's OID (FIPS 204 Algorithm 4, step 10ff: OID in M'):
    /// 06 09 60 86 48 01 65 03 04 02 xx, 2.16.840.1.101.3.4.2.xx (NIST CSOR), with
    /// xx as FIPS 204 §5.4 lists it.
    fn oid_der(self) -> [u8; 11] {
        let arc = match self {
            PreHash::Sha2(HashAlg::Sha256) => 0x01,
            PreHash::Sha2(HashAlg::Sha384) => 0x02,
            PreHash::Sha2(HashAlg::Sha512) => 0x03,
            PreHash::Sha2(HashAlg::Sha224) => 0x04,
            PreHash::Sha2(HashAlg::Sha1) => unreachable!("HashML-DSA never takes SHA-1 (from_mechanism, HASHED)"),
            PreHash::Sha3(Sha3Alg::Sha3_224) => 0x07,
            PreHash::Sha3(Sha3Alg::Sha3_256) => 0x08,
            PreHash::Sha3(Sha3Alg::Sha3_384) => 0x09,
            PreHash::Sha3(Sha3Alg::Sha3_512) => 0x0a,
            PreHash::Sha3(Sha3Alg::Shake128) => 0x0b,
            PreHash::Sha3(Sha3Alg::Shake256) => 0x0c,
        };
        [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, arc]
    }
}

/// Registers the ML-DSA mechanisms. Both providers offer all of them.
pub fn register(r: &mut Registry, _provider: &dyn Provider) {
    let entry = |i: CK_MECHANISM_INFO| Entry::new(i.ulMinKeySize, i.ulMaxKeySize, i.flags);
    r.insert(CKM_ML_DSA_KEY_PAIR_GEN, Entry { generate_key_pair: Some((CKK_ML_DSA, generate)), ..entry(KEY_GEN_INFO) });
    for m in [CKM_ML_DSA, CKM_HASH_ML_DSA].into_iter().chain(HASHED.iter().map(|(m, _)| *m)) {
        r.insert(m, Entry { key_types: &[CKK_ML_DSA], sign: Some(sign), verify: Some(verify), ..entry(SIGN_INFO) });
    }
}

/// The parameter set of a key's (or template's) `CKA_PARAMETER_SET`.
pub fn parameter_set(attrs: &Attrs) -> Result<MlDsaSet> {
    let v = attrs
        .ulong(CKA_PARAMETER_SET)
        .ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, "an ML-DSA key needs CKA_PARAMETER_SET"))?;
    MlDsaSet::from_ckp(v).ok_or_else(|| {
        err(CKR_ATTRIBUTE_VALUE_INVALID, format!("CKA_PARAMETER_SET {v} is not an ML-DSA parameter set"))
    })
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
    fill_public_key_info(public, set, &pk)?;
    fill_public_key_info(private, set, &pk)?;
    public.set(CKA_PARAMETER_SET, (set.ckp() as u64).to_le_bytes().to_vec());
    public.set(CKA_VALUE, pk);
    private.set(CKA_PARAMETER_SET, (set.ckp() as u64).to_le_bytes().to_vec());
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

/// What the mechanism and its parameter ask for.
struct Request {
    /// `CKH_*`: whether the signature is randomised.
    deterministic: bool,
    /// The context string.
    context: Vec<u8>,
    /// `None`: pure ML-DSA. `Some((hash, true))`: HashML-DSA hashing the message
    /// here; `Some((hash, false))`: the input is already the hash.
    prehash: Option<(PreHash, bool)>,
}

/// Reads the parameter (PKCS#11 3.2 §6.67.5, §6.67.6). No parameter is hedged
/// signing with an empty context; `CKM_HASH_ML_DSA` needs its parameter to know the
/// hash.
fn request(mech: &Mechanism) -> Result<Request> {
    let fixed = HASHED.iter().find(|(m, _)| *m == mech.ty).map(|(_, h)| *h);
    let (hedge, context, hash) = match (&mech.param, mech.ty) {
        (Param::None, CKM_HASH_ML_DSA) => return Err(mech.bad_param("needs CK_HASH_SIGN_ADDITIONAL_CONTEXT")),
        (Param::None, _) => (CKH_HEDGE_PREFERRED as u64, Vec::new(), None),
        (Param::SignContext { hedge, context }, ty) if ty != CKM_HASH_ML_DSA => (*hedge, context.clone(), None),
        (Param::HashSignContext { hedge, context, hash }, CKM_HASH_ML_DSA) => {
            let h = PreHash::from_mechanism(*hash).ok_or_else(|| {
                mech.bad_param("the hash must be CKM_SHA224 to CKM_SHA512 or CKM_SHA3_224 to CKM_SHA3_512")
            })?;
            (*hedge, context.clone(), Some(h))
        }
        _ => {
            return Err(mech.bad_param(
                "takes CK_SIGN_ADDITIONAL_CONTEXT (CK_HASH_SIGN_ADDITIONAL_CONTEXT for CKM_HASH_ML_DSA) or nothing",
            ));
        }
    };
    let deterministic = match hedge as CK_ULONG {
        CKH_HEDGE_PREFERRED | CKH_HEDGE_REQUIRED => false,
        CKH_DETERMINISTIC_REQUIRED => true,
        _ => return Err(mech.bad_param("hedgeVariant must be a CKH_HEDGE_* or CKH_DETERMINISTIC_REQUIRED")),
    };
    if context.len() > 255 {
        return Err(mech.bad_param("an ML-DSA context has at most 255 bytes"));
    }
    let prehash = match (fixed, hash) {
        (Some(h), _) => Some((h, true)),
        (None, Some(h)) => Some((h, false)),
        (None, None) => None,
    };
    Ok(Request { deterministic, context, prehash })
}

/// The input as it arrives: the message (pure), its running hash (HashML-DSA with
/// a fixed hash), or the caller's hash (`CKM_HASH_ML_DSA`).
enum Input {
    Collect(Collect),
    Hashing(Option<Box<dyn Hasher>>),
}

impl Input {
    fn new(provider: &dyn Provider, r: &Request) -> Self {
        match r.prehash {
            Some((h, true)) => Input::Hashing(Some(h.hasher(provider))),
            Some((h, false)) => Input::Collect(Collect::new(h.output_len())),
            None => Input::Collect(Collect::new(MAX_MESSAGE)),
        }
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        match self {
            Input::Collect(c) => c.push(data),
            Input::Hashing(Some(h)) => {
                h.update(data);
                Ok(())
            }
            Input::Hashing(None) => Err(err(CKR_OPERATION_NOT_INITIALIZED, "the operation has finished")),
        }
    }

    /// M' (FIPS 204 Algorithm 2 step 10, Algorithm 4 step 23) as one buffer.
    fn m_prime(&mut self, r: &Request) -> Result<Zeroizing<Vec<u8>>> {
        let ctx = &r.context;
        let mut out = Zeroizing::new(Vec::new());
        match (r.prehash, self) {
            (None, Input::Collect(c)) => {
                out.extend_from_slice(&[0, ctx.len() as u8]);
                out.extend_from_slice(ctx);
                out.extend_from_slice(c.data());
            }
            (Some((h, _)), input) => {
                let digest = match input {
                    Input::Hashing(hasher) => hasher
                        .take()
                        .ok_or_else(|| err(CKR_OPERATION_NOT_INITIALIZED, "the operation has finished"))?
                        .finish(),
                    Input::Collect(c) => {
                        if c.data().len() != h.output_len() {
                            return Err(err(
                                CKR_DATA_LEN_RANGE,
                                format!("CKM_HASH_ML_DSA with {h:?} takes a {}-byte hash", h.output_len()),
                            ));
                        }
                        c.data().to_vec()
                    }
                };
                out.extend_from_slice(&[1, ctx.len() as u8]);
                out.extend_from_slice(ctx);
                out.extend_from_slice(&h.oid_der());
                out.extend_from_slice(&digest);
            }
            (None, Input::Hashing(_)) => unreachable!("pure ML-DSA collects the message"),
        }
        Ok(out)
    }
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
    let request = request(mech)?;
    let key = private_key(provider, key)?;
    let input = Input::new(provider, &request);
    Ok(Box::new(Sign { key, request, input }))
}

/// `C_VerifyInit` for the ML-DSA mechanisms.
pub fn verify(provider: &dyn Provider, mech: &Mechanism, key: &Object) -> Result<Box<dyn VerifyOp>> {
    let request = request(mech)?;
    let key = public_key(provider, key)?;
    let input = Input::new(provider, &request);
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
