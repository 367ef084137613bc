//! The provider operations for RSA: key generation, PKCS#1 v1.5, PSS, OAEP, raw RSA,
//! key import checks.
//!
//! Each provider parses a key once ([`RsaOps::rsa_private_key`], [`RsaOps::rsa_public_key`];
//! the mechanism layer caches the result on the object) and returns a [`PrivateKey`] or
//! [`PublicKey`] that only computes: lengths, parameters and the key's size are checked by
//! the mechanism layer before it calls in.
//!
//! What is shared by both providers lives here, on RustCrypto's `rsa` crate:
//!
//! - [`SoftPrivate`] and [`SoftPublic`], complete implementations of the two key traits.
//!   The `rustcrypto` provider uses them for everything; the `aws-lc` provider for what
//!   aws-lc-rs does not expose (raw RSA, PKCS#1 v1.5 signatures over SHA-1 and SHA-224
//!   or over arbitrary data, PSS with another salt length or MGF hash, OAEP with
//!   SHA-224 or an MGF hash other than the label hash);
//! - EMSA-PSS with an independent MGF1 hash (RFC 8017 §9.1), which the `rsa` crate does
//!   not offer, and a constant-time EME-PKCS1-v1_5 decoding (RFC 8017 §7.2.2) that
//!   reports every bad ciphertext the same way (the `rsa` crate does implicit rejection
//!   instead, which PKCS#11 has no place for);
//! - the import checks ([`complete_private`]) and the DER encodings: PKCS#1
//!   `RSAPrivateKey` / `RSAPublicKey`, PKCS#8 `PrivateKeyInfo`, X.509
//!   `SubjectPublicKeyInfo`.

use ::rsa::pkcs1;
use ::rsa::rand_core::UnwrapErr;
use ::rsa::traits::{PrivateKeyParts, PublicKeyParts};
use ::rsa::{BoxedUint, Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, hazmat};
use cryptoki_sys::*;
use der::asn1::{AnyRef, BitStringRef, OctetStringRef, UintRef};
use der::{Decode, Encode};
use getrandom::SysRng;
use zeroize::{Zeroize, Zeroizing};

use super::HashAlg;
use crate::error::{Result, err};

/// The smallest modulus an imported key may have, in bits. Operations need
/// [`crate::mechanism::rsa`]'s minimum (2048); smaller keys may be stored (a legacy
/// public key next to its certificate) but not used.
pub const IMPORT_MIN_BITS: usize = 1024;
/// The largest modulus, in bits, for import and for every operation: RSA costs grow
/// with the cube of the size, and aws-lc refuses more.
pub const MAX_BITS: usize = 8192;
/// The largest public exponent: `2^33 - 1`, the bound of aws-lc and the `rsa` crate
/// (larger exponents make verification a denial-of-service vector).
pub const MAX_PUBLIC_EXPONENT: u64 = (1 << 33) - 1;

/// An RSA private key's components (PKCS#1 `RSAPrivateKey` without its version), each
/// an unsigned big-endian integer without leading zeros.
pub struct PrivateParts {
    /// Modulus `n`.
    pub n: Vec<u8>,
    /// Public exponent `e`.
    pub e: Vec<u8>,
    /// Private exponent `d`.
    pub d: Zeroizing<Vec<u8>>,
    /// First prime `p`.
    pub p: Zeroizing<Vec<u8>>,
    /// Second prime `q`.
    pub q: Zeroizing<Vec<u8>>,
    /// `d mod (p - 1)`.
    pub dp: Zeroizing<Vec<u8>>,
    /// `d mod (q - 1)`.
    pub dq: Zeroizing<Vec<u8>>,
    /// `q^-1 mod p`.
    pub qinv: Zeroizing<Vec<u8>>,
}

/// RSASSA-PSS parameters (PKCS#11 `CK_RSA_PKCS_PSS_PARAMS`, RFC 8017 §9.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PssParams {
    /// The message hash.
    pub hash: HashAlg,
    /// The MGF1 hash.
    pub mgf: HashAlg,
    /// Salt length in bytes.
    pub salt_len: usize,
}

/// RSAES-OAEP parameters (PKCS#11 `CK_RSA_PKCS_OAEP_PARAMS`, RFC 8017 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OaepParams<'a> {
    /// The label hash.
    pub hash: HashAlg,
    /// The MGF1 hash.
    pub mgf: HashAlg,
    /// The label (empty when none).
    pub label: &'a [u8],
}

/// A parsed RSA private key. Inputs have the lengths the mechanism layer checked: `k`
/// is the modulus length in bytes.
pub trait PrivateKey: Send + Sync {
    /// RSASSA-PKCS1-v1_5 signature (RFC 8017 §8.2.1) where `t` is the encoded
    /// `DigestInfo` (EMSA-PKCS1-v1_5 step 2's T) or, for `CKM_RSA_PKCS`, any data of at
    /// most `k - 11` bytes.
    fn sign_pkcs1(&self, t: &[u8]) -> Result<Vec<u8>>;
    /// RSASSA-PSS signature (RFC 8017 §8.1.1) of a message hash.
    fn sign_pss(&self, p: &PssParams, m_hash: &[u8]) -> Result<Vec<u8>>;
    /// RSAES-PKCS1-v1_5 decryption of `k` bytes. Every bad ciphertext gives
    /// `CKR_ENCRYPTED_DATA_INVALID`, decided in constant time.
    fn decrypt_pkcs1(&self, c: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// RSAES-OAEP decryption of `k` bytes. Every bad ciphertext gives
    /// `CKR_ENCRYPTED_DATA_INVALID`.
    fn decrypt_oaep(&self, p: &OaepParams<'_>, c: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// RSADP / RSASP1 (RFC 8017 §5.1.2, §5.2.1) on `k` bytes whose value is below `n`:
    /// returns `k` bytes. Blinded.
    fn raw(&self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

/// A parsed RSA public key. Signatures and inputs have the lengths the mechanism layer
/// checked.
pub trait PublicKey: Send + Sync {
    /// RSASSA-PKCS1-v1_5 verification (RFC 8017 §8.2.2) of `t` (see
    /// [`PrivateKey::sign_pkcs1`]): `CKR_SIGNATURE_INVALID` unless valid.
    fn verify_pkcs1(&self, t: &[u8], sig: &[u8]) -> Result<()>;
    /// RSASSA-PSS verification (RFC 8017 §8.1.2) of a message hash.
    fn verify_pss(&self, p: &PssParams, m_hash: &[u8], sig: &[u8]) -> Result<()>;
    /// RSAES-PKCS1-v1_5 encryption of at most `k - 11` bytes.
    fn encrypt_pkcs1(&self, m: &[u8]) -> Result<Vec<u8>>;
    /// RSAES-OAEP encryption of at most `k - 2 hLen - 2` bytes.
    fn encrypt_oaep(&self, p: &OaepParams<'_>, m: &[u8]) -> Result<Vec<u8>>;
    /// RSAEP / RSAVP1 on `k` bytes whose value is below `n`: returns `k` bytes.
    fn raw(&self, input: &[u8]) -> Result<Vec<u8>>;
}

/// RSA, as each provider implements it.
pub trait RsaOps {
    /// Generates a key pair with a modulus of `bits` bits and public exponent `e`
    /// (both already checked against the mechanism's limits).
    fn rsa_generate(&self, bits: usize, e: u64) -> Result<PrivateParts>;
    /// Parses a complete private key (as generation or [`complete_private`] made it).
    fn rsa_private_key(&self, parts: &PrivateParts) -> Result<Box<dyn PrivateKey>>;
    /// Parses a public key from its modulus and exponent (big-endian).
    fn rsa_public_key(&self, n: &[u8], e: &[u8]) -> Result<Box<dyn PublicKey>>;
}

// ---------------------------------------------------------------------------------------
// Small helpers.

/// A big-endian integer without its leading zero bytes.
pub fn strip(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[i..]
}

/// The bit length of a big-endian integer.
pub fn bit_len(b: &[u8]) -> usize {
    let b = strip(b);
    match b.first() {
        None => 0,
        Some(top) => b.len() * 8 - top.leading_zeros() as usize,
    }
}

/// A secret integer's minimal big-endian bytes, with the temporaries wiped.
fn secret_bytes(x: &BoxedUint) -> Zeroizing<Vec<u8>> {
    let mut full = x.to_be_bytes();
    let out = Zeroizing::new(strip(&full).to_vec());
    full.zeroize();
    out
}

/// I2OSP (RFC 8017 §4.1) of a value below `n` into `k` bytes. The integer's storage is
/// at least `k` bytes wide (it has the modulus's precision), so this is a fixed copy.
fn i2osp(x: &BoxedUint, k: usize) -> Zeroizing<Vec<u8>> {
    let mut full = x.to_be_bytes();
    let out = Zeroizing::new(full[full.len() - k..].to_vec());
    full.zeroize();
    out
}

/// The bytes of one hash of the concatenation of `parts`.
pub fn hash(alg: HashAlg, parts: &[&[u8]]) -> Vec<u8> {
    use sha2::Digest;
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut d = D::new();
        for p in parts {
            d.update(p);
        }
        d.finalize().to_vec()
    }
    match alg {
        HashAlg::Sha1 => run::<sha1::Sha1>(parts),
        HashAlg::Sha224 => run::<sha2::Sha224>(parts),
        HashAlg::Sha256 => run::<sha2::Sha256>(parts),
        HashAlg::Sha384 => run::<sha2::Sha384>(parts),
        HashAlg::Sha512 => run::<sha2::Sha512>(parts),
    }
}

/// The DER prefix of a `DigestInfo` for `alg` (RFC 8017 §9.2, note 1): the encoding of
/// T is this prefix followed by the hash.
pub fn digest_info_prefix(alg: HashAlg) -> &'static [u8] {
    match alg {
        HashAlg::Sha1 => &[0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14],
        HashAlg::Sha224 => &[
            0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04,
            0x1c,
        ],
        HashAlg::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
            0x20,
        ],
        HashAlg::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04,
            0x30,
        ],
        HashAlg::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04,
            0x40,
        ],
    }
}

/// When `t` is exactly a standard `DigestInfo`, its hash algorithm and hash.
pub fn split_digest_info(t: &[u8]) -> Option<(HashAlg, &[u8])> {
    [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512, HashAlg::Sha1, HashAlg::Sha224].into_iter().find_map(|alg| {
        let prefix = digest_info_prefix(alg);
        (t.len() == prefix.len() + alg.output_len() && t.starts_with(prefix)).then(|| (alg, &t[prefix.len()..]))
    })
}

/// MGF1 (RFC 8017 §B.2.1): XORs the mask generated from `seed` into `out`.
fn mgf1_xor(alg: HashAlg, seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in out.chunks_mut(alg.output_len()).enumerate() {
        let c = (counter as u32).to_be_bytes();
        let mut t = hash(alg, &[seed, &c]);
        for (o, m) in chunk.iter_mut().zip(t.iter()) {
            *o ^= m;
        }
        t.zeroize();
    }
}

/// The largest PSS salt for a modulus of `bits` bits and hash `alg`:
/// `emLen - hLen - 2` with `emLen = ceil((bits - 1) / 8)` (RFC 8017 §9.1.1 step 3).
pub fn max_pss_salt(bits: usize, alg: HashAlg) -> Option<usize> {
    (bits.saturating_sub(1)).div_ceil(8).checked_sub(alg.output_len() + 2)
}

/// EMSA-PSS-ENCODE (RFC 8017 §9.1.1) with a random salt.
fn emsa_pss_encode(p: &PssParams, m_hash: &[u8], em_bits: usize) -> Result<Vec<u8>> {
    let h_len = p.hash.output_len();
    let em_len = em_bits.div_ceil(8);
    if m_hash.len() != h_len || em_len < h_len + p.salt_len + 2 {
        return Err(err(CKR_FUNCTION_FAILED, "PSS encoding: lengths do not fit"));
    }
    let mut salt = vec![0u8; p.salt_len];
    getrandom::fill(&mut salt).map_err(|_| err(CKR_FUNCTION_FAILED, "system random generator failed"))?;
    let h = hash(p.hash, &[&[0u8; 8], m_hash, &salt]);
    let db_len = em_len - h_len - 1;
    let mut em = vec![0u8; em_len];
    em[db_len - p.salt_len - 1] = 0x01;
    em[db_len - p.salt_len..db_len].copy_from_slice(&salt);
    mgf1_xor(p.mgf, &h, &mut em[..db_len]);
    em[0] &= 0xff >> (8 * em_len - em_bits);
    em[db_len..em_len - 1].copy_from_slice(&h);
    em[em_len - 1] = 0xbc;
    Ok(em)
}

/// EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with a known salt length. Public data only, so
/// no constant-time care is needed.
fn emsa_pss_verify(p: &PssParams, m_hash: &[u8], em: &[u8], em_bits: usize) -> bool {
    let h_len = p.hash.output_len();
    let em_len = em.len();
    if m_hash.len() != h_len || em_len != em_bits.div_ceil(8) || em_len < h_len + p.salt_len + 2 {
        return false;
    }
    if em[em_len - 1] != 0xbc {
        return false;
    }
    let db_len = em_len - h_len - 1;
    let top_mask = 0xffu8 >> (8 * em_len - em_bits);
    if em[0] & !top_mask != 0 {
        return false;
    }
    let h = &em[db_len..em_len - 1];
    let mut db = em[..db_len].to_vec();
    mgf1_xor(p.mgf, h, &mut db);
    db[0] &= top_mask;
    let ps_len = db_len - p.salt_len - 1;
    if db[..ps_len].iter().any(|b| *b != 0) || db[ps_len] != 0x01 {
        return false;
    }
    let salt = &db[ps_len + 1..];
    hash(p.hash, &[&[0u8; 8], m_hash, salt]) == h
}

/// Constant-time helpers on `u32` masks (all ones or all zeros), in the manner of
/// BoringSSL's `constant_time_*`. `black_box` keeps the optimiser from turning masks
/// back into branches.
mod ct {
    use core::hint::black_box;

    /// All ones when `a == b`.
    pub fn eq(a: u32, b: u32) -> u32 {
        let x = a ^ b;
        let zero = !(x | x.wrapping_neg()) >> 31;
        black_box(0u32.wrapping_sub(zero))
    }

    /// All ones when `a >= b` (both below `2^31`).
    pub fn ge(a: u32, b: u32) -> u32 {
        let borrow = a.wrapping_sub(b) >> 31;
        black_box(0u32.wrapping_sub(borrow ^ 1))
    }

    /// `a` where `mask` is all ones, else `b`.
    pub fn select(mask: u32, a: u32, b: u32) -> u32 {
        (mask & a) | (!mask & b)
    }
}

/// EME-PKCS1-v1_5 decoding (RFC 8017 §7.2.2 step 3) of `em` (`k` bytes). Looks at every
/// byte whatever their values and decides once at the end, so its timing does not
/// depend on where the padding is wrong: returns the plaintext, or `None` for any
/// malformed encoding.
fn eme_pkcs1_decode(em: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if em.len() < 11 {
        return None;
    }
    let mut good = ct::eq(em[0] as u32, 0) & ct::eq(em[1] as u32, 2);
    let mut looking = u32::MAX;
    let mut zero_index = 0u32;
    for (i, b) in em.iter().enumerate().skip(2) {
        let is_zero = ct::eq(*b as u32, 0);
        zero_index = ct::select(looking & is_zero, i as u32, zero_index);
        looking &= !is_zero;
    }
    // A separator was found, after at least eight bytes of padding.
    good &= !looking;
    good &= ct::ge(zero_index, 2 + 8);
    if core::hint::black_box(good) != u32::MAX {
        return None;
    }
    Some(Zeroizing::new(em[zero_index as usize + 1..].to_vec()))
}

// ---------------------------------------------------------------------------------------
// DER encodings.

fn der_failed(e: der::Error) -> crate::error::Error {
    err(CKR_FUNCTION_FAILED, format!("DER encoding: {e}"))
}

fn uint(b: &[u8]) -> Result<UintRef<'_>> {
    UintRef::new(b).map_err(der_failed)
}

/// The PKCS#1 `RSAPublicKey` DER of `(n, e)`.
pub fn public_key_der(n: &[u8], e: &[u8]) -> Result<Vec<u8>> {
    pkcs1::RsaPublicKey { modulus: uint(n)?, public_exponent: uint(e)? }.to_der().map_err(der_failed)
}

/// The X.509 `SubjectPublicKeyInfo` DER of `(n, e)` (RFC 3279 §2.3.1: `rsaEncryption`
/// with NULL parameters), for `CKA_PUBLIC_KEY_INFO`.
pub fn public_key_info(n: &[u8], e: &[u8]) -> Result<Vec<u8>> {
    let key = public_key_der(n, e)?;
    spki::SubjectPublicKeyInfoRef {
        algorithm: spki::AlgorithmIdentifierRef { oid: pkcs1::ALGORITHM_OID, parameters: Some(AnyRef::NULL) },
        subject_public_key: BitStringRef::from_bytes(&key).map_err(der_failed)?,
    }
    .to_der()
    .map_err(der_failed)
}

impl PrivateParts {
    /// The PKCS#1 `RSAPrivateKey` DER.
    pub fn to_pkcs1_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let key = pkcs1::RsaPrivateKey {
            modulus: uint(&self.n)?,
            public_exponent: uint(&self.e)?,
            private_exponent: uint(&self.d)?,
            prime1: uint(&self.p)?,
            prime2: uint(&self.q)?,
            exponent1: uint(&self.dp)?,
            exponent2: uint(&self.dq)?,
            coefficient: uint(&self.qinv)?,
            other_prime_infos: None,
        };
        key.to_der().map(Zeroizing::new).map_err(der_failed)
    }

    /// The PKCS#8 `PrivateKeyInfo` DER (RFC 5208; `rsaEncryption`, NULL parameters).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let inner = self.to_pkcs1_der()?;
        let info = pkcs8::PrivateKeyInfoRef::new(
            spki::AlgorithmIdentifierRef { oid: pkcs1::ALGORITHM_OID, parameters: Some(AnyRef::NULL) },
            OctetStringRef::new(&inner).map_err(der_failed)?,
        );
        info.to_der().map(Zeroizing::new).map_err(der_failed)
    }

    /// Reads a PKCS#8 `PrivateKeyInfo` holding a two-prime RSA key. Anything else is
    /// `CKR_WRAPPED_KEY_INVALID` (the one use that meets foreign input is `C_UnwrapKey`).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let bad = |why: &str| err(CKR_WRAPPED_KEY_INVALID, format!("not an RSA PKCS#8 key: {why}"));
        let info = pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|e| bad(&e.to_string()))?;
        if info.algorithm.oid != pkcs1::ALGORITHM_OID {
            return Err(bad("the algorithm is not rsaEncryption"));
        }
        let key = pkcs1::RsaPrivateKeyRef::from_der(info.private_key.as_bytes()).map_err(|e| bad(&e.to_string()))?;
        if key.other_prime_infos.is_some() {
            return Err(bad("multi-prime keys are not supported"));
        }
        let secret = |u: UintRef<'_>| Zeroizing::new(u.as_bytes().to_vec());
        Ok(Self {
            n: key.modulus.as_bytes().to_vec(),
            e: key.public_exponent.as_bytes().to_vec(),
            d: secret(key.private_exponent),
            p: secret(key.prime1),
            q: secret(key.prime2),
            dp: secret(key.exponent1),
            dq: secret(key.exponent2),
            qinv: secret(key.coefficient),
        })
    }

    /// The components of an `rsa` crate key (which has its CRT values precomputed).
    fn of(key: &::rsa::RsaPrivateKey) -> Result<Self> {
        let missing = || err(CKR_FUNCTION_FAILED, "RSA key without CRT values");
        let primes = key.primes();
        if primes.len() != 2 {
            return Err(err(CKR_FUNCTION_FAILED, "not a two-prime RSA key"));
        }
        let mut qinv = key.crt_coefficient().ok_or_else(missing)?;
        let out = Self {
            n: strip(&key.n_bytes()).to_vec(),
            e: strip(&key.e_bytes()).to_vec(),
            d: secret_bytes(key.d()),
            p: secret_bytes(primes[0].as_ref()),
            q: secret_bytes(primes[1].as_ref()),
            dp: secret_bytes(key.dp().ok_or_else(missing)?),
            dq: secret_bytes(key.dq().ok_or_else(missing)?),
            qinv: secret_bytes(&qinv),
        };
        qinv.zeroize();
        Ok(out)
    }

    /// The `rsa` crate's key (it checks the components and precomputes the CRT values).
    fn to_rsa(&self) -> Result<::rsa::RsaPrivateKey> {
        let u = BoxedUint::from_be_slice_vartime;
        ::rsa::RsaPrivateKey::from_components(u(&self.n), u(&self.e), u(&self.d), vec![u(&self.p), u(&self.q)])
            .map_err(|e| err(CKR_FUNCTION_FAILED, format!("RSA key rejected: {e}")))
    }
}

// ---------------------------------------------------------------------------------------
// Generation and import checks.

/// Generates a key pair with the `rsa` crate (any size from 1024 bits; slow for large
/// sizes: it is the `rustcrypto` provider's generator, and the `aws-lc` provider's for
/// the sizes and exponents aws-lc does not generate).
pub fn generate(bits: usize, e: u64) -> Result<PrivateParts> {
    let mut rng = UnwrapErr(SysRng);
    let key = ::rsa::RsaPrivateKey::new_with_exp(&mut rng, bits, BoxedUint::from(e))
        .map_err(|e| err(CKR_FUNCTION_FAILED, format!("RSA key generation failed: {e}")))?;
    PrivateParts::of(&key)
}

/// The components of a private key as a caller gave them to `C_CreateObject` (or as
/// `C_UnwrapKey` found them), big-endian. Only `n` and `d` are required.
pub struct GivenParts<'a> {
    /// `CKA_MODULUS`.
    pub n: &'a [u8],
    /// `CKA_PUBLIC_EXPONENT`.
    pub e: Option<&'a [u8]>,
    /// `CKA_PRIVATE_EXPONENT`.
    pub d: &'a [u8],
    /// `CKA_PRIME_1`.
    pub p: Option<&'a [u8]>,
    /// `CKA_PRIME_2`.
    pub q: Option<&'a [u8]>,
    /// `CKA_EXPONENT_1`.
    pub dp: Option<&'a [u8]>,
    /// `CKA_EXPONENT_2`.
    pub dq: Option<&'a [u8]>,
    /// `CKA_COEFFICIENT`.
    pub qinv: Option<&'a [u8]>,
}

/// Public exponents tried, in order, when an imported private key comes without one.
const USUAL_EXPONENTS: &[u64] = &[65537, 3, 5, 17, 257];

/// Checks a public key's values: modulus size and parity, exponent odd, at least 3, at
/// most [`MAX_PUBLIC_EXPONENT`], below the modulus. `CKR_ATTRIBUTE_VALUE_INVALID`
/// otherwise.
pub fn check_public(n: &[u8], e: &[u8]) -> Result<()> {
    let (n, e) = (strip(n), strip(e));
    let bits = bit_len(n);
    if !(IMPORT_MIN_BITS..=MAX_BITS).contains(&bits) {
        return Err(err(
            CKR_ATTRIBUTE_VALUE_INVALID,
            format!("CKA_MODULUS has {bits} bits; {IMPORT_MIN_BITS} to {MAX_BITS} are accepted"),
        ));
    }
    if n[n.len() - 1] & 1 == 0 {
        return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_MODULUS is even"));
    }
    let ev = exponent_value(e)
        .ok_or_else(|| err(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_PUBLIC_EXPONENT is larger than 2^33 - 1"))?;
    if ev < 3 || ev % 2 == 0 {
        return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_PUBLIC_EXPONENT must be odd and at least 3"));
    }
    Ok(())
}

/// The value of a public exponent, when it is at most [`MAX_PUBLIC_EXPONENT`].
pub fn exponent_value(e: &[u8]) -> Option<u64> {
    let e = strip(e);
    if e.len() > 8 {
        return None;
    }
    let v = e.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64);
    (v <= MAX_PUBLIC_EXPONENT).then_some(v)
}

/// Checks an imported private key and completes it: every component consistent with
/// the others (`n = p q`, `d e ≡ 1` modulo `p - 1` and `q - 1`, the CRT values right),
/// and the missing ones computed. Without the primes they are recovered from `n`, `e`
/// and `d` (NIST SP 800-56B rev. 2 appendix C.2, which needs `e > 2^16`); without `e`
/// the usual exponents are tried. An inconsistent key is `CKR_ATTRIBUTE_VALUE_INVALID`;
/// one that lacks what is needed to complete it, `CKR_TEMPLATE_INCOMPLETE`.
pub fn complete_private(g: &GivenParts<'_>) -> Result<PrivateParts> {
    let inconsistent = |why: &str| err(CKR_ATTRIBUTE_VALUE_INVALID, format!("inconsistent RSA private key: {why}"));
    let candidates: Vec<u64> = match g.e {
        Some(e) => {
            check_public(g.n, e)?;
            vec![exponent_value(e).expect("checked by check_public")]
        }
        None => {
            check_public(g.n, &[1, 0, 1])?;
            USUAL_EXPONENTS.to_vec()
        }
    };
    // Our copies of the secrets are wiped when done (the `rsa` crate wipes its key's).
    let primes = Zeroizing::new(match (g.p, g.q) {
        (Some(p), Some(q)) => vec![BoxedUint::from_be_slice_vartime(p), BoxedUint::from_be_slice_vartime(q)],
        (None, None) => Vec::new(),
        _ => return Err(err(CKR_TEMPLATE_INCOMPLETE, "give both CKA_PRIME_1 and CKA_PRIME_2, or neither")),
    });
    if strip(g.d).is_empty() {
        return Err(inconsistent("CKA_PRIVATE_EXPONENT is zero"));
    }
    let n = BoxedUint::from_be_slice_vartime(strip(g.n));
    let d = Zeroizing::new(BoxedUint::from_be_slice_vartime(strip(g.d)));
    // The first exponent that makes a valid key (with the primes given, or recovered).
    let key = candidates
        .iter()
        .find_map(|e| {
            ::rsa::RsaPrivateKey::from_components(n.clone(), BoxedUint::from(*e), (*d).clone(), primes.to_vec()).ok()
        })
        .ok_or_else(|| match (g.e, primes.is_empty()) {
            (None, _) => err(CKR_TEMPLATE_INCOMPLETE, "CKA_PUBLIC_EXPONENT is needed: no usual exponent fits the key"),
            (Some(_), true) => inconsistent("the primes cannot be recovered from n, e and d (give them)"),
            (Some(_), false) => inconsistent("n, e, d, p and q do not form an RSA key"),
        })?;
    let parts = PrivateParts::of(&key)?;
    for (given, computed, name) in [
        (g.dp, &parts.dp, "CKA_EXPONENT_1"),
        (g.dq, &parts.dq, "CKA_EXPONENT_2"),
        (g.qinv, &parts.qinv, "CKA_COEFFICIENT"),
    ] {
        if given.is_some_and(|v| strip(v) != computed.as_slice()) {
            return Err(inconsistent(&format!("{name} is wrong")));
        }
    }
    Ok(parts)
}

// ---------------------------------------------------------------------------------------
// The shared implementation on the `rsa` crate.

/// The `rsa` crate's blinding and padding randomness: the system generator.
fn rng() -> UnwrapErr<SysRng> {
    UnwrapErr(SysRng)
}

/// A private key on the `rsa` crate. Every private operation is blinded and checked
/// against a fault (`rsa_decrypt_and_check`).
pub struct SoftPrivate {
    key: ::rsa::RsaPrivateKey,
    n: Vec<u8>,
    bits: usize,
    k: usize,
}

impl SoftPrivate {
    /// Parses the components.
    pub fn new(parts: &PrivateParts) -> Result<Self> {
        let key = parts.to_rsa()?;
        let bits = key.n().bits() as usize;
        Ok(Self { key, n: strip(&parts.n).to_vec(), bits, k: bits.div_ceil(8) })
    }

    /// RSASP1 / RSADP on an integer below `n` of up to `k` bytes.
    fn private_op(&self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let mut c = BoxedUint::from_be_slice(input, self.key.n_bits_precision())
            .map_err(|_| err(CKR_FUNCTION_FAILED, "RSA input wider than the modulus"))?;
        let r = hazmat::rsa_decrypt_and_check(&self.key, Some(&mut rng()), &c);
        c.zeroize();
        let mut m = r.map_err(|e| err(CKR_FUNCTION_FAILED, format!("RSA private operation failed: {e}")))?;
        let out = i2osp(&m, self.k);
        m.zeroize();
        Ok(out)
    }
}

impl PrivateKey for SoftPrivate {
    fn sign_pkcs1(&self, t: &[u8]) -> Result<Vec<u8>> {
        if t.len() + 11 > self.k {
            return Err(err(CKR_DATA_LEN_RANGE, "PKCS#1 v1.5: at most k - 11 bytes are signed"));
        }
        self.key
            .sign_with_rng(&mut rng(), Pkcs1v15Sign::new_unprefixed(), t)
            .map_err(|e| err(CKR_FUNCTION_FAILED, format!("PKCS#1 v1.5 signature failed: {e}")))
    }

    fn sign_pss(&self, p: &PssParams, m_hash: &[u8]) -> Result<Vec<u8>> {
        let em = emsa_pss_encode(p, m_hash, self.bits - 1)?;
        Ok(self.private_op(&em)?.to_vec())
    }

    fn decrypt_pkcs1(&self, c: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let bad = || err(CKR_ENCRYPTED_DATA_INVALID, "bad PKCS#1 v1.5 ciphertext");
        if c.len() != self.k || !below(c, &self.n) {
            return Err(bad());
        }
        let em = self.private_op(c)?;
        eme_pkcs1_decode(&em).ok_or_else(bad)
    }

    fn decrypt_oaep(&self, p: &OaepParams<'_>, c: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        oaep_decrypt_table(&self.key, p, c)
            .map(Zeroizing::new)
            .map_err(|_| err(CKR_ENCRYPTED_DATA_INVALID, "bad OAEP ciphertext"))
    }

    fn raw(&self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.private_op(input)
    }
}

/// Whether the big-endian `x` is below the big-endian `n` (public values).
pub fn below(x: &[u8], n: &[u8]) -> bool {
    let (x, n) = (strip(x), strip(n));
    x.len() < n.len() || (x.len() == n.len() && x < n)
}

/// Runs `$body` with `$D` the digest type of `$alg`.
macro_rules! with_digest {
    ($alg:expr, $D:ident => $body:expr) => {
        match $alg {
            HashAlg::Sha1 => {
                type $D = sha1::Sha1;
                $body
            }
            HashAlg::Sha224 => {
                type $D = sha2::Sha224;
                $body
            }
            HashAlg::Sha256 => {
                type $D = sha2::Sha256;
                $body
            }
            HashAlg::Sha384 => {
                type $D = sha2::Sha384;
                $body
            }
            HashAlg::Sha512 => {
                type $D = sha2::Sha512;
                $body
            }
        }
    };
}

fn oaep_decrypt_table(key: &::rsa::RsaPrivateKey, p: &OaepParams<'_>, c: &[u8]) -> ::rsa::Result<Vec<u8>> {
    with_digest!(p.hash, H => with_digest!(p.mgf, M => {
        key.decrypt_blinded(&mut rng(), Oaep::<H, M>::new_with_mgf_hash_and_label(p.label), c)
    }))
}

fn oaep_encrypt_table(key: &::rsa::RsaPublicKey, p: &OaepParams<'_>, m: &[u8]) -> ::rsa::Result<Vec<u8>> {
    with_digest!(p.hash, H => with_digest!(p.mgf, M => {
        key.encrypt(&mut rng(), Oaep::<H, M>::new_with_mgf_hash_and_label(p.label), m)
    }))
}

/// A public key on the `rsa` crate.
pub struct SoftPublic {
    key: ::rsa::RsaPublicKey,
    bits: usize,
    k: usize,
}

impl SoftPublic {
    /// Parses `(n, e)` (checked by [`check_public`] at import).
    pub fn new(n: &[u8], e: &[u8]) -> Result<Self> {
        let key = ::rsa::RsaPublicKey::new_with_size_limits(
            BoxedUint::from_be_slice_vartime(strip(n)),
            BoxedUint::from_be_slice_vartime(strip(e)),
            IMPORT_MIN_BITS..=MAX_BITS,
        )
        .map_err(|e| err(CKR_FUNCTION_FAILED, format!("RSA public key rejected: {e}")))?;
        let bits = key.n().bits() as usize;
        Ok(Self { key, bits, k: bits.div_ceil(8) })
    }

    /// RSAEP / RSAVP1: `None` when the input is not below `n`.
    fn public_op(&self, input: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let s = BoxedUint::from_be_slice(input, self.key.n_bits_precision()).ok()?;
        if s >= *self.key.n().as_ref() {
            return None;
        }
        let m = hazmat::rsa_encrypt(&self.key, &s).ok()?;
        Some(i2osp(&m, self.k))
    }
}

impl PublicKey for SoftPublic {
    fn verify_pkcs1(&self, t: &[u8], sig: &[u8]) -> Result<()> {
        self.key
            .verify(Pkcs1v15Sign::new_unprefixed(), t, sig)
            .map_err(|_| err(CKR_SIGNATURE_INVALID, "PKCS#1 v1.5 signature does not verify"))
    }

    fn verify_pss(&self, p: &PssParams, m_hash: &[u8], sig: &[u8]) -> Result<()> {
        let invalid = || err(CKR_SIGNATURE_INVALID, "PSS signature does not verify");
        if sig.len() != self.k {
            return Err(invalid());
        }
        let em = self.public_op(sig).ok_or_else(invalid)?;
        // EM has emLen = ceil((bits - 1) / 8) bytes: one less than k when bits ≡ 1 mod 8.
        let em_bits = self.bits - 1;
        let skip = self.k - em_bits.div_ceil(8);
        if em[..skip].iter().any(|b| *b != 0) || !emsa_pss_verify(p, m_hash, &em[skip..], em_bits) {
            return Err(invalid());
        }
        Ok(())
    }

    fn encrypt_pkcs1(&self, m: &[u8]) -> Result<Vec<u8>> {
        if m.len() + 11 > self.k {
            return Err(err(CKR_DATA_LEN_RANGE, "PKCS#1 v1.5: at most k - 11 bytes are encrypted"));
        }
        self.key
            .encrypt(&mut rng(), Pkcs1v15Encrypt, m)
            .map_err(|e| err(CKR_FUNCTION_FAILED, format!("PKCS#1 v1.5 encryption failed: {e}")))
    }

    fn encrypt_oaep(&self, p: &OaepParams<'_>, m: &[u8]) -> Result<Vec<u8>> {
        if m.len() + 2 * p.hash.output_len() + 2 > self.k {
            return Err(err(CKR_DATA_LEN_RANGE, "OAEP: at most k - 2 hLen - 2 bytes are encrypted"));
        }
        oaep_encrypt_table(&self.key, p, m)
            .map_err(|e| err(CKR_FUNCTION_FAILED, format!("OAEP encryption failed: {e}")))
    }

    fn raw(&self, input: &[u8]) -> Result<Vec<u8>> {
        self.public_op(input)
            .map(|v| v.to_vec())
            .ok_or_else(|| err(CKR_DATA_INVALID, "the input is not below the modulus"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs1_type_2_decoding_accepts_only_well_formed_blocks() {
        let mut em = vec![0u8, 2];
        em.extend_from_slice(&[0x55; 8]);
        em.push(0);
        em.extend_from_slice(b"hi");
        assert_eq!(eme_pkcs1_decode(&em).unwrap().as_slice(), b"hi");
        // Empty message.
        let mut e2 = vec![0u8, 2];
        e2.extend_from_slice(&[0x55; 9]);
        e2.push(0);
        assert_eq!(eme_pkcs1_decode(&e2).unwrap().as_slice(), b"");
        // Seven bytes of padding; wrong first bytes; no separator.
        let mut short = vec![0u8, 2];
        short.extend_from_slice(&[0x55; 7]);
        short.extend_from_slice(&[0, 1, 2]);
        assert!(eme_pkcs1_decode(&short).is_none());
        let mut bad = em.clone();
        bad[1] = 1;
        assert!(eme_pkcs1_decode(&bad).is_none());
        bad = em.clone();
        bad[0] = 1;
        assert!(eme_pkcs1_decode(&bad).is_none());
        let none = [0u8, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        assert!(eme_pkcs1_decode(&none).is_none());
    }

    #[test]
    fn pss_encoding_verifies_for_every_modulus_width() {
        for em_bits in [2047usize, 2048, 2049, 2055] {
            let p = PssParams { hash: HashAlg::Sha256, mgf: HashAlg::Sha1, salt_len: 20 };
            let m_hash = hash(HashAlg::Sha256, &[b"abc"]);
            let em = emsa_pss_encode(&p, &m_hash, em_bits).unwrap();
            assert!(emsa_pss_verify(&p, &m_hash, &em, em_bits), "{em_bits}");
            let other = PssParams { salt_len: 21, ..p };
            assert!(!emsa_pss_verify(&other, &m_hash, &em, em_bits));
        }
    }

    #[test]
    fn digest_infos_are_recognised() {
        let mut t = digest_info_prefix(HashAlg::Sha384).to_vec();
        t.extend_from_slice(&[7; 48]);
        assert_eq!(split_digest_info(&t), Some((HashAlg::Sha384, &[7u8; 48][..])));
        t.push(0);
        assert_eq!(split_digest_info(&t), None);
        assert_eq!(bit_len(&[0, 0, 1, 0]), 9);
        assert!(below(&[0, 5], &[6]) && !below(&[6], &[0, 6]));
    }

    /// The DER encodings round-trip, and openssl reads (and checks) what we write.
    #[test]
    fn pkcs8_round_trips_and_is_standard() {
        let parts = generate(2048, 65537).unwrap();
        let der = parts.to_pkcs8_der().unwrap();
        let back = PrivateParts::from_pkcs8_der(&der).unwrap();
        assert_eq!((back.n, back.e), (parts.n.clone(), parts.e.clone()));
        for (a, b) in [(&back.d, &parts.d), (&back.p, &parts.p), (&back.q, &parts.q), (&back.qinv, &parts.qinv)] {
            assert_eq!(a, b);
        }
        let mut child = std::process::Command::new("openssl")
            .args(["pkey", "-inform", "DER", "-check", "-noout"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &der).unwrap();
        assert!(child.wait().unwrap().success(), "openssl accepts our PKCS#8");
        // Not RSA (the OID changed to RSASSA-PSS's), or not DER at all.
        let oid = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        let at = der.windows(oid.len()).position(|w| w == oid).unwrap();
        let mut other = der.to_vec();
        other[at + oid.len() - 1] = 0x0a;
        for bad in [&other[..], &der[..der.len() - 1], b"\x30\x00"] {
            assert_eq!(PrivateParts::from_pkcs8_der(bad).err().map(|e| e.rv()), Some(CKR_WRAPPED_KEY_INVALID));
        }
    }

    /// A key completed from n, e and d is the same key; bad values are refused.
    #[test]
    fn import_checks_complete_and_refuse() {
        let parts = generate(2048, 65537).unwrap();
        let given = |with_e: bool| GivenParts {
            n: &parts.n,
            e: with_e.then_some(parts.e.as_slice()),
            d: &parts.d,
            p: None,
            q: None,
            dp: None,
            dq: None,
            qinv: None,
        };
        for with_e in [true, false] {
            let c = complete_private(&given(with_e)).unwrap();
            assert_eq!(c.n, parts.n);
            assert_eq!(c.e, [1, 0, 1]);
            let primes = [c.p.clone(), c.q.clone()];
            assert!(primes.contains(&parts.p) && primes.contains(&parts.q));
        }
        let mut wrong = parts.d.to_vec();
        wrong[10] ^= 4;
        let bad = GivenParts { d: &wrong, ..given(true) };
        assert_eq!(complete_private(&bad).err().map(|e| e.rv()), Some(CKR_ATTRIBUTE_VALUE_INVALID));
        let bad = GivenParts { d: &wrong, ..given(false) };
        assert_eq!(complete_private(&bad).err().map(|e| e.rv()), Some(CKR_TEMPLATE_INCOMPLETE));
    }

    /// Every provider of the build signs, verifies, encrypts and decrypts with every
    /// padding, and each accepts what the others produce.
    #[test]
    fn every_provider_agrees_with_every_other() {
        use crate::crypto::{available, select};
        let parts = generate(2048, 65537).unwrap();
        let providers: Vec<_> = available().iter().map(|n| select(Some(n)).unwrap()).collect();
        let m_hash = hash(HashAlg::Sha256, &[b"message"]);
        let mut t = digest_info_prefix(HashAlg::Sha256).to_vec();
        t.extend_from_slice(&m_hash);
        let mut t224 = digest_info_prefix(HashAlg::Sha224).to_vec();
        t224.extend_from_slice(&hash(HashAlg::Sha224, &[b"message"]));
        let pss = [
            PssParams { hash: HashAlg::Sha256, mgf: HashAlg::Sha256, salt_len: 32 },
            PssParams { hash: HashAlg::Sha256, mgf: HashAlg::Sha1, salt_len: 0 },
        ];
        let oaep = [
            OaepParams { hash: HashAlg::Sha256, mgf: HashAlg::Sha256, label: b"" },
            OaepParams { hash: HashAlg::Sha384, mgf: HashAlg::Sha1, label: b"label" },
            OaepParams { hash: HashAlg::Sha224, mgf: HashAlg::Sha224, label: b"" },
        ];
        for signer in &providers {
            let sk = signer.rsa_private_key(&parts).unwrap();
            for other in &providers {
                let pk = other.rsa_public_key(&parts.n, &parts.e).unwrap();
                for t in [&t[..], &t224, b"any data"] {
                    let sig = sk.sign_pkcs1(t).unwrap();
                    pk.verify_pkcs1(t, &sig).unwrap();
                    assert_eq!(pk.verify_pkcs1(&t[1..], &sig).unwrap_err().rv(), CKR_SIGNATURE_INVALID);
                }
                for p in &pss {
                    let sig = sk.sign_pss(p, &m_hash).unwrap();
                    pk.verify_pss(p, &m_hash, &sig).unwrap();
                    let q = PssParams { salt_len: 20, ..*p };
                    assert_eq!(pk.verify_pss(&q, &m_hash, &sig).unwrap_err().rv(), CKR_SIGNATURE_INVALID);
                }
                for p in &oaep {
                    let c = pk.encrypt_oaep(p, b"secret").unwrap();
                    assert_eq!(sk.decrypt_oaep(p, &c).unwrap().as_slice(), b"secret");
                }
                let c = pk.encrypt_pkcs1(b"secret").unwrap();
                assert_eq!(sk.decrypt_pkcs1(&c).unwrap().as_slice(), b"secret");
                let c = pk.raw(&[7; 256]).unwrap();
                assert_eq!(sk.raw(&c).unwrap().as_slice(), &[7; 256]);
            }
        }
    }
}
