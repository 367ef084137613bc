//! The message encoding that ML-DSA (FIPS 204) and SLH-DSA (FIPS 205) share: their
//! PKCS#11 3.2 parameters (`CK_SIGN_ADDITIONAL_CONTEXT`,
//! `CK_HASH_SIGN_ADDITIONAL_CONTEXT`), the pre-hash functions with their OIDs, and
//! M' for the pure and the pre-hash ("Hash") variants, which the two standards build
//! the same way.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{Mechanism, Param, ops::Collect};
use crate::crypto::sha3::Sha3Alg;
use crate::crypto::{HashAlg, Hasher, Provider};
use crate::error::{Result, err};

/// A signature family's mechanisms, for [`request`].
pub struct Family {
    /// The mechanism whose caller gives the hash (`CKM_HASH_ML_DSA`,
    /// `CKM_HASH_SLH_DSA`).
    pub caller_hash: CK_MECHANISM_TYPE,
    /// The mechanisms that hash here, in the order of [`PRE_HASHES`].
    pub hashed: [CK_MECHANISM_TYPE; 10],
}

impl Family {
    /// Every signing mechanism of the family: pure, caller's hash, fixed hashes.
    pub fn signing(&self, pure: CK_MECHANISM_TYPE) -> impl Iterator<Item = CK_MECHANISM_TYPE> + '_ {
        [pure, self.caller_hash].into_iter().chain(self.hashed)
    }
}

/// The ten fixed pre-hashes, in the order of the `CKM_HASH_*_SHA224` ...
/// `_SHAKE256` mechanisms of both families.
pub const PRE_HASHES: [PreHash; 10] = [
    PreHash::Sha2(HashAlg::Sha224),
    PreHash::Sha2(HashAlg::Sha256),
    PreHash::Sha2(HashAlg::Sha384),
    PreHash::Sha2(HashAlg::Sha512),
    PreHash::Sha3(Sha3Alg::Sha3_224),
    PreHash::Sha3(Sha3Alg::Sha3_256),
    PreHash::Sha3(Sha3Alg::Sha3_384),
    PreHash::Sha3(Sha3Alg::Sha3_512),
    PreHash::Sha3(Sha3Alg::Shake128),
    PreHash::Sha3(Sha3Alg::Shake256),
];

/// A pre-hash function (FIPS 204 §5.4, FIPS 205 §10.2.2): SHA-2 from the provider,
/// SHA-3 and SHAKE from the shared `sha3`/`shake` crates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreHash {
    /// SHA-224 to SHA-512.
    Sha2(HashAlg),
    /// SHA3-224 to SHA3-512, SHAKE128 (256 bits), SHAKE256 (512 bits).
    Sha3(Sha3Alg),
}

impl PreHash {
    /// The hash `CK_HASH_SIGN_ADDITIONAL_CONTEXT.hash` names for `CKM_HASH_ML_DSA`
    /// and `CKM_HASH_SLH_DSA`.
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

    /// The DER of the hash's OID (FIPS 204 Algorithm 4 and FIPS 205 Algorithm 23
    /// put it in M'):
    /// 06 09 60 86 48 01 65 03 04 02 xx, 2.16.840.1.101.3.4.2.xx (NIST CSOR), with
    /// xx as FIPS 204 §5.4 lists it.
    fn oid_der(self) -> [u8; 11] {
        let arc = match self {
            PreHash::Sha2(HashAlg::Sha256) => 0x01,
            PreHash::Sha2(HashAlg::Sha384) => 0x02,
            PreHash::Sha2(HashAlg::Sha512) => 0x03,
            PreHash::Sha2(HashAlg::Sha224) => 0x04,
            PreHash::Sha2(HashAlg::Sha1) => {
                unreachable!("no pre-hash is SHA-1 (from_mechanism and the families' tables)")
            }
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

/// What the mechanism and its parameter ask for.
pub struct Request {
    /// `CKH_*`: whether the signature is randomised.
    pub deterministic: bool,
    /// The context string.
    pub context: Vec<u8>,
    /// `None`: pure signing. `Some((hash, true))`: the pre-hash variant hashing the
    /// message here; `Some((hash, false))`: the input is already the hash.
    pub prehash: Option<(PreHash, bool)>,
}

/// Reads the parameter (PKCS#11 3.2 §6.67.5, §6.67.6 for ML-DSA, the same for
/// SLH-DSA). No parameter is hedged signing with an empty context; the family's
/// caller-hash mechanism needs its parameter to know the hash.
pub fn request(mech: &Mechanism, family: &Family) -> Result<Request> {
    let fixed = family.hashed.iter().position(|m| *m == mech.ty).map(|i| PRE_HASHES[i]);
    let caller_hash = family.caller_hash;
    let (hedge, context, hash) = match (&mech.param, mech.ty) {
        (Param::None, ty) if ty == caller_hash => {
            return Err(mech.bad_param("needs CK_HASH_SIGN_ADDITIONAL_CONTEXT"));
        }
        (Param::None, _) => (CKH_HEDGE_PREFERRED as u64, Vec::new(), None),
        (Param::SignContext { hedge, context }, ty) if ty != caller_hash => (*hedge, context.clone(), None),
        (Param::HashSignContext { hedge, context, hash }, ty) if ty == caller_hash => {
            let h = PreHash::from_mechanism(*hash).ok_or_else(|| {
                mech.bad_param("the hash must be CKM_SHA224 to CKM_SHA512 or CKM_SHA3_224 to CKM_SHA3_512")
            })?;
            (*hedge, context.clone(), Some(h))
        }
        _ => {
            return Err(mech.bad_param(
                "takes CK_SIGN_ADDITIONAL_CONTEXT (CK_HASH_SIGN_ADDITIONAL_CONTEXT for the CKM_HASH_* mechanism) or nothing",
            ));
        }
    };
    let deterministic = match hedge as CK_ULONG {
        CKH_HEDGE_PREFERRED | CKH_HEDGE_REQUIRED => false,
        CKH_DETERMINISTIC_REQUIRED => true,
        _ => return Err(mech.bad_param("hedgeVariant must be a CKH_HEDGE_* or CKH_DETERMINISTIC_REQUIRED")),
    };
    if context.len() > 255 {
        return Err(mech.bad_param("a context has at most 255 bytes"));
    }
    let prehash = match (fixed, hash) {
        (Some(h), _) => Some((h, true)),
        (None, Some(h)) => Some((h, false)),
        (None, None) => None,
    };
    Ok(Request { deterministic, context, prehash })
}

/// The input as it arrives: the message (pure), its running hash (a pre-hash
/// variant with a fixed hash), or the caller's hash (`CKM_HASH_ML_DSA`,
/// `CKM_HASH_SLH_DSA`).
pub enum Input {
    /// The message, or the caller's hash.
    Collect(Collect),
    /// The running pre-hash; `None` once finished.
    Hashing(Option<Box<dyn Hasher>>),
}

impl Input {
    /// For a request; a pure message is collected up to `max_message` bytes.
    pub fn new(provider: &dyn Provider, r: &Request, max_message: usize) -> Self {
        match r.prehash {
            Some((h, true)) => Input::Hashing(Some(h.hasher(provider))),
            Some((h, false)) => Input::Collect(Collect::new(h.output_len())),
            None => Input::Collect(Collect::new(max_message)),
        }
    }

    /// Adds a part of the input.
    pub fn update(&mut self, data: &[u8]) -> Result<()> {
        match self {
            Input::Collect(c) => c.push(data),
            Input::Hashing(Some(h)) => {
                h.update(data);
                Ok(())
            }
            Input::Hashing(None) => Err(err(CKR_OPERATION_NOT_INITIALIZED, "the operation has finished")),
        }
    }

    /// M' as one buffer: 0 ‖ |ctx| ‖ ctx ‖ M (FIPS 204 Algorithm 2, FIPS 205
    /// Algorithm 22), or 1 ‖ |ctx| ‖ ctx ‖ OID ‖ PH(M) (FIPS 204 Algorithm 4, FIPS
    /// 205 Algorithm 23).
    pub fn m_prime(&mut self, r: &Request) -> Result<Zeroizing<Vec<u8>>> {
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
                                format!("with {h:?} the input is a {}-byte hash", h.output_len()),
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
            (None, Input::Hashing(_)) => unreachable!("pure signing collects the message"),
        }
        Ok(out)
    }
}
