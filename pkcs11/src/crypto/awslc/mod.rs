//! The default provider, on aws-lc-rs.

mod ec;
mod rsa;
mod sym;

use aws_lc_rs::{aead, cipher, digest, hmac, rand};
use cryptoki_sys::*;
use ferrohsm_store::{AeadKey, Cipher};
use zeroize::Zeroizing;

use super::{HashAlg, Hasher, Provider};
use crate::error::{Result, err};

/// aws-lc-rs.
pub struct AwsLc;

/// ML-DSA and ML-KEM: the shared RustCrypto implementation (see `crypto::pqc`).
impl crate::crypto::PqcOps for AwsLc {}

fn algorithm(alg: HashAlg) -> &'static digest::Algorithm {
    match alg {
        HashAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        HashAlg::Sha224 => &digest::SHA224,
        HashAlg::Sha256 => &digest::SHA256,
        HashAlg::Sha384 => &digest::SHA384,
        HashAlg::Sha512 => &digest::SHA512,
    }
}

struct Ctx(digest::Context);

impl Hasher for Ctx {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        self.0.finish().as_ref().to_vec()
    }
}

struct GcmKey(aead::LessSafeKey);

impl AeadKey for GcmKey {
    fn seal(&self, nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(plaintext.len() + 16);
        buf.extend_from_slice(plaintext);
        self.0
            .seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(*nonce), aead::Aad::from(aad), &mut buf)
            .expect("AES-GCM seal of an in-memory buffer cannot fail");
        buf
    }

    fn open(&self, nonce: &[u8; 12], aad: &[u8], ct_tag: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let mut buf = Zeroizing::new(ct_tag.to_vec());
        let n = self
            .0
            .open_in_place(aead::Nonce::assume_unique_for_key(*nonce), aead::Aad::from(aad), &mut buf)
            .ok()?
            .len();
        buf.truncate(n);
        Some(buf)
    }
}

impl Cipher for AwsLc {
    fn key(&self, raw: &[u8; 32]) -> Box<dyn AeadKey> {
        let key = aead::UnboundKey::new(&aead::AES_256_GCM, raw).expect("a 32-byte AES-256 key is valid");
        Box::new(GcmKey(aead::LessSafeKey::new(key)))
    }

    fn fill_random(&self, out: &mut [u8]) {
        // The system generator failing is unrecoverable; the FFI guard turns the
        // panic into CKR_GENERAL_ERROR.
        rand::fill(out).expect("aws-lc random generator failed");
    }

    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
        out
    }
}

impl Provider for AwsLc {
    fn name(&self) -> &'static str {
        "aws-lc"
    }

    fn hasher(&self, alg: HashAlg) -> Box<dyn Hasher> {
        Box::new(Ctx(digest::Context::new(algorithm(alg))))
    }

    fn hmac(&self, alg: HashAlg, key: &[u8], data: &[u8]) -> Vec<u8> {
        let a = match alg {
            HashAlg::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha224 => hmac::HMAC_SHA224,
            HashAlg::Sha256 => hmac::HMAC_SHA256,
            HashAlg::Sha384 => hmac::HMAC_SHA384,
            HashAlg::Sha512 => hmac::HMAC_SHA512,
        };
        hmac::sign(&hmac::Key::new(a, key), data).as_ref().to_vec()
    }

    fn aes_ecb_encrypt(&self, key: &[u8], data: &mut [u8]) -> Result<()> {
        let alg = match key.len() {
            16 => &cipher::AES_128,
            24 => &cipher::AES_192,
            32 => &cipher::AES_256,
            _ => return Err(err(CKR_KEY_SIZE_RANGE, "AES keys are 16, 24 or 32 bytes")),
        };
        let bad = |_| err(CKR_GENERAL_ERROR, "AES-ECB failed");
        let k = cipher::EncryptingKey::ecb(cipher::UnboundCipherKey::new(alg, key).map_err(bad)?).map_err(bad)?;
        k.less_safe_encrypt(data, cipher::EncryptionContext::None).map_err(bad)?;
        Ok(())
    }
}
