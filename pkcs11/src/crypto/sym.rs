//! The provider operations for symmetric cryptography: AES (block modes, counter
//! mode, GCM with a 96-bit IV, key wrap), CMAC, and HMAC with keys of any length.
//!
//! Providers supply primitives on a prepared key; the PKCS#11 rules (padding,
//! counter limits, streaming, GCM with other IV lengths and short tags) live once,
//! in [`crate::mechanism::aes`] and [`crate::mechanism::hmac`], on top of them.
//! This file also holds the provider-independent pieces both providers may use:
//! RFC 3394 / RFC 5649 over a block cipher, and a constant-time comparison.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::HashAlg;
use crate::error::{Result, err};

/// An AES block: 16 bytes.
pub const BLOCK: usize = 16;

/// The default initial value of RFC 3394 §2.2.3.1.
pub const KW_IV: [u8; 8] = [0xA6; 8];
/// The constant half of the alternative initial value of RFC 5649 §3.
pub const KWP_IV: [u8; 4] = [0xA6, 0x59, 0x59, 0xA6];

/// Symmetric operations, as each provider implements them.
pub trait SymOps {
    /// Prepares an AES key of 16, 24 or 32 bytes (`CKR_KEY_SIZE_RANGE` otherwise):
    /// its key schedules, made once per key object and cached with it.
    fn aes_key(&self, key: &[u8]) -> Result<Box<dyn AesKey>>;
    /// Starts an HMAC (RFC 2104) under a key of any length.
    fn hmac_start(&self, alg: HashAlg, key: &[u8]) -> Box<dyn Mac>;
    /// Prepares a 3DES key of 16 or 24 bytes (`CKR_KEY_SIZE_RANGE` otherwise). Both
    /// providers use the shared RustCrypto implementation in [`super::des`]: aws-lc-rs
    /// has no 3DES in its safe API.
    fn des3_key(&self, key: &[u8]) -> Result<super::des::Des3Key> {
        super::des::Des3Key::new(key)
    }
}

/// A running MAC.
pub trait Mac: Send {
    /// Absorbs data.
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// The full-length MAC.
    fn finish(self: Box<Self>) -> Result<Vec<u8>>;
}

/// A prepared AES key. Every method that takes whole blocks is called with whole
/// blocks only (the mechanisms check lengths and choose the error codes).
pub trait AesKey: Send + Sync {
    /// Key length in bytes.
    fn key_len(&self) -> usize;
    /// ECB encryption in place.
    fn ecb_encrypt(&self, data: &mut [u8]) -> Result<()>;
    /// ECB decryption in place.
    fn ecb_decrypt(&self, data: &mut [u8]) -> Result<()>;
    /// CBC encryption in place; `iv` becomes the last ciphertext block, so that a
    /// following call continues the chain.
    fn cbc_encrypt(&self, iv: &mut [u8; BLOCK], data: &mut [u8]) -> Result<()>;
    /// CBC decryption in place; `iv` becomes the last ciphertext block.
    fn cbc_decrypt(&self, iv: &mut [u8; BLOCK], data: &mut [u8]) -> Result<()>;
    /// XORs the counter-mode keystream starting at counter block `counter` into
    /// `data` (any length; a last partial block uses the start of its keystream
    /// block). The counter is the whole block, incremented as a 128-bit big-endian
    /// integer (SP 800-38A appendix B.1 with m = 128); callers never let it pass
    /// 2^128 - 1.
    fn ctr_xor(&self, counter: &[u8; BLOCK], data: &mut [u8]) -> Result<()>;
    /// AES-GCM (SP 800-38D) with a 96-bit IV: encrypts `plain` into `out` (the same
    /// length) and returns the full 128-bit tag.
    fn gcm_seal(&self, iv: &[u8; 12], aad: &[u8], plain: &[u8], out: &mut [u8]) -> Result<[u8; BLOCK]>;
    /// AES-GCM with a 96-bit IV and a full 128-bit tag: checks the tag and, only
    /// when it matches, decrypts `ct` into `out` (the same length). A wrong tag is
    /// `CKR_ENCRYPTED_DATA_INVALID`.
    fn gcm_open(&self, iv: &[u8; 12], aad: &[u8], ct: &[u8], tag: &[u8; BLOCK], out: &mut [u8]) -> Result<()>;
    /// AES key wrap with the default IV: RFC 3394 (`padded` false; `input` a
    /// multiple of 8 bytes, at least 16) or RFC 5649 (`padded`; at least 1 byte).
    fn wrap(&self, padded: bool, input: &[u8]) -> Result<Vec<u8>>;
    /// The inverse of [`AesKey::wrap`]; a failed integrity check is
    /// `CKR_ENCRYPTED_DATA_INVALID`.
    fn unwrap(&self, padded: bool, input: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// Starts an AES-CMAC (SP 800-38B, RFC 4493).
    fn cmac(&self) -> Result<Box<dyn Mac>>;
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn integrity_failed() -> crate::error::Error {
    err(CKR_ENCRYPTED_DATA_INVALID, "the wrapped data failed the integrity check")
}

/// RFC 3394 §2.2.1 wrapping (the index-based form) with initial value `iv`, over
/// the block cipher of `key`, for providers without a native key wrap of some key
/// size. `input` is a multiple of 8 bytes and at least 8 (RFC 5649 uses one block).
pub fn kw_wrap_with(key: &dyn AesKey, iv: [u8; 8], input: &[u8]) -> Result<Vec<u8>> {
    let n = input.len() / 8;
    // Holds key data until the last round: zeroized if a round fails.
    let mut out = Zeroizing::new(vec![0u8; 8 + input.len()]);
    out[8..].copy_from_slice(input);
    let mut a = iv;
    let mut b = Zeroizing::new([0u8; BLOCK]);
    for j in 0..6u64 {
        for i in 1..=n {
            b[..8].copy_from_slice(&a);
            b[8..].copy_from_slice(&out[8 * i..8 * i + 8]);
            key.ecb_encrypt(&mut b[..])?;
            let t = (n as u64) * j + i as u64;
            a.copy_from_slice(&b[..8]);
            for (x, y) in a.iter_mut().zip(t.to_be_bytes()) {
                *x ^= y;
            }
            out[8 * i..8 * i + 8].copy_from_slice(&b[8..]);
        }
    }
    out[..8].copy_from_slice(&a);
    Ok(std::mem::take(&mut *out))
}

/// RFC 3394 §2.2.2 unwrapping: returns the initial value found and the key data.
/// The caller checks the initial value.
pub fn kw_unwrap_with(key: &dyn AesKey, input: &[u8]) -> Result<([u8; 8], Zeroizing<Vec<u8>>)> {
    let n = input.len() / 8 - 1;
    let mut a: [u8; 8] = input[..8].try_into().expect("8 bytes");
    let mut r = Zeroizing::new(input[8..].to_vec());
    let mut b = Zeroizing::new([0u8; BLOCK]);
    for j in (0..6u64).rev() {
        for i in (1..=n).rev() {
            let t = (n as u64) * j + i as u64;
            for (x, y) in a.iter_mut().zip(t.to_be_bytes()) {
                *x ^= y;
            }
            b[..8].copy_from_slice(&a);
            b[8..].copy_from_slice(&r[8 * (i - 1)..8 * i]);
            key.ecb_decrypt(&mut b[..])?;
            a.copy_from_slice(&b[..8]);
            r[8 * (i - 1)..8 * i].copy_from_slice(&b[8..]);
        }
    }
    Ok((a, r))
}

/// RFC 3394 wrapping with the default IV over the block cipher of `key`.
pub fn kw_wrap(key: &dyn AesKey, input: &[u8]) -> Result<Vec<u8>> {
    kw_wrap_with(key, KW_IV, input)
}

/// RFC 3394 unwrapping with the default IV over the block cipher of `key`.
pub fn kw_unwrap(key: &dyn AesKey, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let (a, r) = kw_unwrap_with(key, input)?;
    if !ct_eq(&a, &KW_IV) {
        return Err(integrity_failed());
    }
    Ok(r)
}

/// RFC 5649 §4.1 wrapping over the block cipher of `key`.
pub fn kwp_wrap(key: &dyn AesKey, input: &[u8]) -> Result<Vec<u8>> {
    let mli = u32::try_from(input.len()).map_err(|_| err(CKR_DATA_LEN_RANGE, "KWP takes at most 2^32 - 1 bytes"))?;
    let mut aiv = [0u8; 8];
    aiv[..4].copy_from_slice(&KWP_IV);
    aiv[4..].copy_from_slice(&mli.to_be_bytes());
    let mut padded = Zeroizing::new(input.to_vec());
    padded.resize(input.len().div_ceil(8) * 8, 0);
    if padded.len() == 8 {
        // One 64-bit block: a single AES block, AIV || P.
        let mut b = Zeroizing::new([0u8; BLOCK]);
        b[..8].copy_from_slice(&aiv);
        b[8..].copy_from_slice(&padded);
        key.ecb_encrypt(&mut b[..])?;
        return Ok(b.to_vec());
    }
    kw_wrap_with(key, aiv, &padded)
}

/// RFC 5649 §4.2 unwrapping over the block cipher of `key`: the initial value, the
/// length and the zero padding are all checked.
pub fn kwp_unwrap(key: &dyn AesKey, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let (a, p) = if input.len() == BLOCK {
        let mut b = Zeroizing::new([0u8; BLOCK]);
        b.copy_from_slice(input);
        key.ecb_decrypt(&mut b[..])?;
        (b[..8].try_into().expect("8 bytes"), Zeroizing::new(b[8..].to_vec()))
    } else {
        kw_unwrap_with(key, input)?
    };
    let mli = u32::from_be_bytes(a[4..].try_into().expect("4 bytes")) as usize;
    let ok_iv = ct_eq(&a[..4], &KWP_IV);
    let ok_len = mli <= p.len() && mli + 8 > p.len();
    if !(ok_iv && ok_len && p[mli.min(p.len())..].iter().all(|b| *b == 0)) {
        return Err(integrity_failed());
    }
    let mut p = p;
    p.truncate(mli);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{available, select};

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// RFC 3394 §4.1, 4.2, 4.6 and RFC 5649 §6, through the generic code and
    /// through every provider's own key wrap.
    #[test]
    fn key_wrap_matches_the_rfc_examples() {
        let kek = unhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
        let kw = [
            (16, "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"),
            (24, "00112233445566778899AABBCCDDEEFF", "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"),
            (
                32,
                "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
                "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21",
            ),
        ];
        let kwp_kek = unhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
        let kwp = [
            (
                "c37b7e6492584340bed12207808941155068f738",
                "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
            ),
            ("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
        ];
        for name in available() {
            let p = select(Some(name)).unwrap();
            for (klen, pt, ct) in kw {
                let k = p.aes_key(&kek[..klen]).unwrap();
                let (pt, ct) = (unhex(pt), unhex(ct));
                assert_eq!(k.wrap(false, &pt).unwrap(), ct, "{name} KW-{klen}");
                assert_eq!(kw_wrap(k.as_ref(), &pt).unwrap(), ct, "generic KW-{klen}");
                assert_eq!(k.unwrap(false, &ct).unwrap().as_slice(), pt, "{name} KW-{klen}");
                assert_eq!(kw_unwrap(k.as_ref(), &ct).unwrap().as_slice(), pt);
                let mut bad = ct.clone();
                bad[3] ^= 1;
                assert_eq!(k.unwrap(false, &bad).unwrap_err().rv(), CKR_ENCRYPTED_DATA_INVALID);
            }
            let k = p.aes_key(&kwp_kek).unwrap();
            for (pt, ct) in kwp {
                let (pt, ct) = (unhex(pt), unhex(ct));
                assert_eq!(k.wrap(true, &pt).unwrap(), ct, "{name} KWP");
                assert_eq!(kwp_wrap(k.as_ref(), &pt).unwrap(), ct, "generic KWP");
                assert_eq!(k.unwrap(true, &ct).unwrap().as_slice(), pt);
                assert_eq!(kwp_unwrap(k.as_ref(), &ct).unwrap().as_slice(), pt);
                let mut bad = ct.clone();
                bad[0] ^= 1;
                assert_eq!(k.unwrap(true, &bad).unwrap_err().rv(), CKR_ENCRYPTED_DATA_INVALID);
            }
        }
    }

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }
}
