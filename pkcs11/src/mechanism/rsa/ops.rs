//! RSA operations: parameters, lengths and key sizes checked here, the arithmetic done
//! by the provider's parsed key.
//!
//! Input lengths (PKCS#11 v3.0 mechanisms §2.1, tables "CKM_RSA_PKCS", "CKM_RSA_X_509",
//! ..., with `k` the modulus length in bytes):
//!
//! | mechanism | sign / encrypt input | verify signature / decrypt input |
//! |---|---|---|
//! | `CKM_RSA_PKCS` | at most `k - 11` | `k` |
//! | `CKM_RSA_X_509` | at most `k` (value below `n`) | `k` |
//! | `CKM_RSA_PKCS_PSS` | `hLen` (a hash) | `k` |
//! | `CKM_RSA_PKCS_OAEP` | at most `k - 2 hLen - 2` | `k` |
//! | `CKM_SHA*_RSA_PKCS(_PSS)` | any (multi-part) | `k` |
//!
//! The single-part mechanisms also accept `*Update` calls: the parts are collected up to
//! the limit (beyond it: `CKR_DATA_LEN_RANGE`, or `CKR_ENCRYPTED_DATA_LEN_RANGE` for a
//! ciphertext) and processed at `*Final`.

use std::sync::Arc;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::keys::private_parts;
use super::{MAX_BITS, MIN_BITS};
use crate::crypto::rsa::{
    OaepParams, PrivateKey, PssParams, PublicKey, below, bit_len, digest_info_prefix, max_pss_salt, strip,
};
use crate::crypto::{HashAlg, Hasher, Provider};
use crate::error::{Mech, Result, err};
use crate::mechanism::ops::Collect;
use crate::mechanism::{CryptOp, Mechanism, Param, SignOp, VerifyOp};
use crate::object::Object;

/// A provider's parsed key with the modulus the checks need; cached on the object.
struct Parsed<K: ?Sized> {
    key: Box<K>,
    /// The modulus, without leading zeros.
    n: Vec<u8>,
    /// Its length in bytes.
    k: usize,
}

/// The modulus size of an RSA key object, checked against the mechanisms' range
/// (`CKR_KEY_SIZE_RANGE`). Done before parsing, which costs more.
fn key_bits(key: &Object) -> Result<usize> {
    let bits = bit_len(key.attrs.get(CKA_MODULUS).unwrap_or_default());
    if !(MIN_BITS..=MAX_BITS).contains(&bits) {
        return Err(err(
            CKR_KEY_SIZE_RANGE,
            format!("RSA operations take {MIN_BITS} to {MAX_BITS}-bit keys, not {bits}"),
        ));
    }
    Ok(bits)
}

fn private_key(provider: &dyn Provider, key: &Object) -> Result<Arc<Parsed<dyn PrivateKey>>> {
    key.parsed(|attrs| {
        let parts = private_parts(attrs)?;
        let key = provider.rsa_private_key(&parts)?;
        Ok(Parsed { key, k: parts.n.len(), n: parts.n })
    })
}

fn public_key(provider: &dyn Provider, key: &Object) -> Result<Arc<Parsed<dyn PublicKey>>> {
    key.parsed(|attrs| {
        let n = strip(attrs.get(CKA_MODULUS).unwrap_or_default());
        let e = attrs.get(CKA_PUBLIC_EXPONENT).unwrap_or_default();
        Ok(Parsed { key: provider.rsa_public_key(n, e)?, n: n.to_vec(), k: n.len() })
    })
}

/// The hash of a `CKM_SHA*` mechanism in a parameter.
fn hash_of(mech: &Mechanism, hash: CK_MECHANISM_TYPE) -> Result<HashAlg> {
    HashAlg::from_mechanism(hash).ok_or_else(|| mech.bad_param("hashAlg is not CKM_SHA_1 .. CKM_SHA512"))
}

/// The hash of a `CKG_MGF1_*` generator.
fn mgf_of(mech: &Mechanism, mgf: CK_ULONG) -> Result<HashAlg> {
    Ok(match mgf {
        CKG_MGF1_SHA1 => HashAlg::Sha1,
        CKG_MGF1_SHA224 => HashAlg::Sha224,
        CKG_MGF1_SHA256 => HashAlg::Sha256,
        CKG_MGF1_SHA384 => HashAlg::Sha384,
        CKG_MGF1_SHA512 => HashAlg::Sha512,
        _ => return Err(mech.bad_param("mgf is not CKG_MGF1_SHA1 .. CKG_MGF1_SHA512")),
    })
}

/// Checks `CK_RSA_PKCS_PSS_PARAMS` (§2.1.14): a known hash, the mechanism's own for the
/// `SHA*_` variants; MGF1 with any of the hashes; a salt that fits the key
/// (`sLen <= emLen - hLen - 2`, RFC 8017 §9.1.1).
fn pss_params(mech: &Mechanism, own_hash: Option<HashAlg>, bits: usize) -> Result<PssParams> {
    let Param::Pss { hash, mgf, salt_len } = mech.param else {
        return Err(mech.bad_param("needs CK_RSA_PKCS_PSS_PARAMS"));
    };
    let hash = hash_of(mech, hash)?;
    if own_hash.is_some_and(|h| h != hash) {
        return Err(mech.bad_param("hashAlg must be the mechanism's hash"));
    }
    let mgf = mgf_of(mech, mgf)?;
    let max = max_pss_salt(bits, hash).unwrap_or(0);
    if salt_len > max as u64 {
        return Err(mech.bad_param(&format!("sLen {salt_len} is more than {max}, the most this key allows")));
    }
    Ok(PssParams { hash, mgf, salt_len: salt_len as usize })
}

/// A signature mechanism: what is done to the data, and the padding.
#[derive(Clone, Copy)]
enum Scheme {
    /// EMSA-PKCS1-v1_5 with T given (`CKM_RSA_PKCS`) or built from the hash.
    Pkcs1,
    /// No padding (`CKM_RSA_X_509`).
    Raw,
    /// EMSA-PSS.
    Pss(PssParams),
}

/// The hash (for the `SHA*_` mechanisms) and padding of a signature mechanism.
fn sig_scheme(mech: &Mechanism, bits: usize) -> Result<(Option<HashAlg>, Scheme)> {
    let plain = |hash, scheme| mech.no_parameter().map(|()| (hash, scheme));
    match mech.ty {
        CKM_RSA_PKCS => plain(None, Scheme::Pkcs1),
        CKM_RSA_X_509 => plain(None, Scheme::Raw),
        CKM_SHA1_RSA_PKCS => plain(Some(HashAlg::Sha1), Scheme::Pkcs1),
        CKM_SHA224_RSA_PKCS => plain(Some(HashAlg::Sha224), Scheme::Pkcs1),
        CKM_SHA256_RSA_PKCS => plain(Some(HashAlg::Sha256), Scheme::Pkcs1),
        CKM_SHA384_RSA_PKCS => plain(Some(HashAlg::Sha384), Scheme::Pkcs1),
        CKM_SHA512_RSA_PKCS => plain(Some(HashAlg::Sha512), Scheme::Pkcs1),
        CKM_RSA_PKCS_PSS => Ok((None, Scheme::Pss(pss_params(mech, None, bits)?))),
        m => {
            let hash = match m {
                CKM_SHA1_RSA_PKCS_PSS => HashAlg::Sha1,
                CKM_SHA224_RSA_PKCS_PSS => HashAlg::Sha224,
                CKM_SHA256_RSA_PKCS_PSS => HashAlg::Sha256,
                CKM_SHA384_RSA_PKCS_PSS => HashAlg::Sha384,
                CKM_SHA512_RSA_PKCS_PSS => HashAlg::Sha512,
                _ => return Err(err(CKR_MECHANISM_INVALID, format!("{} is not an RSA signature", Mech(m)))),
            };
            Ok((Some(hash), Scheme::Pss(pss_params(mech, Some(hash), bits)?)))
        }
    }
}

/// What a signature operation has taken in.
enum Input {
    /// The data itself (single-part mechanisms), up to the mechanism's limit.
    Whole(Collect),
    /// A running hash (the `SHA*_` mechanisms).
    Hashed(HashAlg, Box<dyn Hasher>),
}

/// The data as the padding takes it.
enum Message {
    Whole(Collect),
    Hash(HashAlg, Vec<u8>),
}

impl Input {
    fn new(provider: &dyn Provider, hash: Option<HashAlg>, scheme: Scheme, k: usize) -> Self {
        match (hash, scheme) {
            (Some(alg), _) => Input::Hashed(alg, provider.hasher(alg)),
            (None, Scheme::Pkcs1) => Input::Whole(Collect::new(k - 11)),
            (None, Scheme::Raw) => Input::Whole(Collect::new(k)),
            (None, Scheme::Pss(p)) => Input::Whole(Collect::new(p.hash.output_len())),
        }
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        match self {
            Input::Whole(c) => c.push(data),
            Input::Hashed(_, h) => {
                h.update(data);
                Ok(())
            }
        }
    }

    /// Ends the input (an operation finishes once).
    fn take(&mut self) -> Message {
        match std::mem::replace(self, Input::Whole(Collect::default())) {
            Input::Whole(c) => Message::Whole(c),
            Input::Hashed(alg, h) => Message::Hash(alg, h.finish()),
        }
    }
}

impl Message {
    /// EMSA-PKCS1-v1_5's T: the data itself, or the `DigestInfo` of the hash.
    fn t(&self) -> Zeroizing<Vec<u8>> {
        match self {
            Message::Whole(c) => Zeroizing::new(c.data().to_vec()),
            Message::Hash(alg, h) => {
                let mut t = Zeroizing::new(digest_info_prefix(*alg).to_vec());
                t.extend_from_slice(h);
                t
            }
        }
    }

    /// The message hash PSS signs: the data (which must be a hash of the parameter's
    /// length) or the hash computed.
    fn m_hash(&self, p: &PssParams) -> Result<&[u8]> {
        match self {
            Message::Whole(c) if c.data().len() != p.hash.output_len() => {
                Err(err(CKR_DATA_LEN_RANGE, format!("CKM_RSA_PKCS_PSS signs a {}-byte hash", p.hash.output_len())))
            }
            Message::Whole(c) => Ok(c.data()),
            Message::Hash(_, h) => Ok(h),
        }
    }
}

/// `data` as `k` bytes (leading zeros added), for raw RSA.
fn left_pad(data: &[u8], k: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; k]);
    out[k - data.len()..].copy_from_slice(data);
    out
}

struct Sign {
    key: Arc<Parsed<dyn PrivateKey>>,
    input: Input,
    scheme: Scheme,
}

impl SignOp for Sign {
    fn sign_len(&self) -> usize {
        self.key.k
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        let msg = self.input.take();
        let key = &self.key;
        match self.scheme {
            Scheme::Pkcs1 => key.key.sign_pkcs1(&msg.t()),
            Scheme::Pss(p) => key.key.sign_pss(&p, msg.m_hash(&p)?),
            Scheme::Raw => {
                let block = left_pad(&msg.t(), key.k);
                if !below(&block, &key.n) {
                    return Err(err(CKR_DATA_INVALID, "CKM_RSA_X_509: the data is not below the modulus"));
                }
                Ok(key.key.raw(&block)?.to_vec())
            }
        }
    }
}

struct Verify {
    key: Arc<Parsed<dyn PublicKey>>,
    input: Input,
    scheme: Scheme,
}

impl VerifyOp for Verify {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }

    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let msg = self.input.take();
        let key = &self.key;
        if signature.len() != key.k {
            return Err(err(CKR_SIGNATURE_LEN_RANGE, format!("an RSA signature here has {} bytes", key.k)));
        }
        match self.scheme {
            Scheme::Pkcs1 => key.key.verify_pkcs1(&msg.t(), signature),
            Scheme::Pss(p) => key.key.verify_pss(&p, msg.m_hash(&p)?, signature),
            Scheme::Raw => {
                // §2.1.7: the recovered block must equal the data with leading zeros.
                let invalid = || err(CKR_SIGNATURE_INVALID, "CKM_RSA_X_509 signature does not verify");
                if !below(signature, &key.n) {
                    return Err(invalid());
                }
                let recovered = key.key.raw(signature)?;
                if recovered != *left_pad(&msg.t(), key.k) {
                    return Err(invalid());
                }
                Ok(())
            }
        }
    }
}

/// `C_SignInit` for every RSA signature mechanism.
pub fn sign(provider: &dyn Provider, mech: &Mechanism, key: &Object) -> Result<Box<dyn SignOp>> {
    let bits = key_bits(key)?;
    let (hash, scheme) = sig_scheme(mech, bits)?;
    let key = private_key(provider, key)?;
    let input = Input::new(provider, hash, scheme, key.k);
    Ok(Box::new(Sign { key, input, scheme }))
}

/// `C_VerifyInit` for every RSA signature mechanism.
pub fn verify(provider: &dyn Provider, mech: &Mechanism, key: &Object) -> Result<Box<dyn VerifyOp>> {
    let bits = key_bits(key)?;
    let (hash, scheme) = sig_scheme(mech, bits)?;
    let key = public_key(provider, key)?;
    let input = Input::new(provider, hash, scheme, key.k);
    Ok(Box::new(Verify { key, input, scheme }))
}

/// An encryption mechanism's padding.
enum Padding {
    /// RSAES-PKCS1-v1_5.
    Pkcs1,
    /// None (`CKM_RSA_X_509`).
    Raw,
    /// RSAES-OAEP.
    Oaep { hash: HashAlg, mgf: HashAlg, label: Vec<u8> },
}

impl Padding {
    /// Checks the mechanism's parameter: none for PKCS#1 v1.5 and raw RSA;
    /// `CK_RSA_PKCS_OAEP_PARAMS` (§2.1.8) for OAEP, with any SHA for the label hash and
    /// for MGF1, and the label from `CKZ_DATA_SPECIFIED` (the FFI layer refuses other
    /// sources).
    fn of(mech: &Mechanism) -> Result<Self> {
        match mech.ty {
            CKM_RSA_PKCS => mech.no_parameter().map(|()| Padding::Pkcs1),
            CKM_RSA_X_509 => mech.no_parameter().map(|()| Padding::Raw),
            CKM_RSA_PKCS_OAEP => {
                let Param::Oaep { hash, mgf, label } = &mech.param else {
                    return Err(mech.bad_param("needs CK_RSA_PKCS_OAEP_PARAMS"));
                };
                Ok(Padding::Oaep { hash: hash_of(mech, *hash)?, mgf: mgf_of(mech, *mgf)?, label: label.clone() })
            }
            m => Err(err(CKR_MECHANISM_INVALID, format!("{} is not an RSA cipher", Mech(m)))),
        }
    }

    /// The largest plaintext for a `k`-byte modulus.
    fn max_plaintext(&self, k: usize) -> usize {
        match self {
            Padding::Pkcs1 => k - 11,
            Padding::Raw => k,
            // k >= 256 and hLen <= 64: this cannot underflow.
            Padding::Oaep { hash, .. } => k - 2 * hash.output_len() - 2,
        }
    }

    fn oaep(&self) -> Option<OaepParams<'_>> {
        match self {
            Padding::Oaep { hash, mgf, label } => Some(OaepParams { hash: *hash, mgf: *mgf, label }),
            _ => None,
        }
    }
}

struct Encrypt {
    key: Arc<Parsed<dyn PublicKey>>,
    padding: Padding,
    data: Collect,
}

impl CryptOp for Encrypt {
    fn update_len(&self, _input_len: usize) -> usize {
        0
    }

    fn update(&mut self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.data.push(input)?;
        Ok(Zeroizing::new(Vec::new()))
    }

    fn finish_len(&self) -> usize {
        self.key.k
    }

    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        let (key, m) = (&self.key, self.data.data());
        let out = match &self.padding {
            Padding::Pkcs1 => key.key.encrypt_pkcs1(m)?,
            Padding::Raw => {
                let block = left_pad(m, key.k);
                if !below(&block, &key.n) {
                    return Err(err(CKR_DATA_INVALID, "CKM_RSA_X_509: the data is not below the modulus"));
                }
                key.key.raw(&block)?
            }
            oaep @ Padding::Oaep { .. } => key.key.encrypt_oaep(&oaep.oaep().expect("OAEP"), m)?,
        };
        Ok(Zeroizing::new(out))
    }
}

struct Decrypt {
    key: Arc<Parsed<dyn PrivateKey>>,
    padding: Padding,
    data: Zeroizing<Vec<u8>>,
}

impl CryptOp for Decrypt {
    fn update_len(&self, _input_len: usize) -> usize {
        0
    }

    fn update(&mut self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if self.data.len() + input.len() > self.key.k {
            return Err(err(CKR_ENCRYPTED_DATA_LEN_RANGE, format!("an RSA ciphertext here has {} bytes", self.key.k)));
        }
        self.data.extend_from_slice(input);
        Ok(Zeroizing::new(Vec::new()))
    }

    fn finish_len(&self) -> usize {
        self.padding.max_plaintext(self.key.k)
    }

    /// The padding checks are the provider's, in constant time; every malformed
    /// ciphertext, and one not below the modulus, is `CKR_ENCRYPTED_DATA_INVALID`.
    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        let (key, c) = (&self.key, self.data.as_slice());
        if c.len() != key.k {
            return Err(err(CKR_ENCRYPTED_DATA_LEN_RANGE, format!("an RSA ciphertext here has {} bytes", key.k)));
        }
        match &self.padding {
            Padding::Pkcs1 => key.key.decrypt_pkcs1(c),
            Padding::Raw => {
                if !below(c, &key.n) {
                    return Err(err(CKR_ENCRYPTED_DATA_INVALID, "the ciphertext is not below the modulus"));
                }
                key.key.raw(c)
            }
            oaep @ Padding::Oaep { .. } => key.key.decrypt_oaep(&oaep.oaep().expect("OAEP"), c),
        }
    }
}

/// `C_EncryptInit` (and `C_WrapKey`) for `CKM_RSA_PKCS`, `CKM_RSA_X_509`, `CKM_RSA_PKCS_OAEP`.
pub fn encrypt(provider: &dyn Provider, mech: &Mechanism, key: &Object) -> Result<Box<dyn CryptOp>> {
    key_bits(key)?;
    let padding = Padding::of(mech)?;
    let key = public_key(provider, key)?;
    let data = Collect::new(padding.max_plaintext(key.k));
    Ok(Box::new(Encrypt { key, padding, data }))
}

/// `C_DecryptInit` (and `C_UnwrapKey`) for `CKM_RSA_PKCS`, `CKM_RSA_X_509`, `CKM_RSA_PKCS_OAEP`.
pub fn decrypt(provider: &dyn Provider, mech: &Mechanism, key: &Object) -> Result<Box<dyn CryptOp>> {
    key_bits(key)?;
    let padding = Padding::of(mech)?;
    let key = private_key(provider, key)?;
    let data = Zeroizing::new(Vec::with_capacity(key.k));
    Ok(Box::new(Decrypt { key, padding, data }))
}
