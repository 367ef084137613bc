//! The pure-Rust provider, on RustCrypto crates.

mod ec;
mod rsa;
mod sym;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ferrohsm_store::{AeadKey, Cipher};
use hmac::{Hmac, Mac};
use sha2::Digest;
use zeroize::Zeroizing;

use super::{HashAlg, Hasher, Provider};
use crate::error::{Result, err};
use cryptoki_sys::*;

/// RustCrypto.
pub struct RustCrypto;

/// ML-DSA and ML-KEM: the shared RustCrypto implementation (see `crypto::pqc`).
impl crate::crypto::PqcOps for RustCrypto {}

struct Ctx<D: Digest + Send>(D);

impl<D: Digest + Send> Hasher for Ctx<D> {
    fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        self.0.finalize().to_vec()
    }
}

struct GcmKey(Aes256Gcm);

impl AeadKey for GcmKey {
    fn seal(&self, nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        self.0
            .encrypt(&Nonce::from(*nonce), Payload { msg: plaintext, aad })
            .expect("AES-GCM seal of an in-memory buffer cannot fail")
    }

    fn open(&self, nonce: &[u8; 12], aad: &[u8], ct_tag: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        self.0.decrypt(&Nonce::from(*nonce), Payload { msg: ct_tag, aad }).ok().map(Zeroizing::new)
    }
}

impl Cipher for RustCrypto {
    fn key(&self, raw: &[u8; 32]) -> Box<dyn AeadKey> {
        Box::new(GcmKey(Aes256Gcm::new(&(*raw).into())))
    }

    fn fill_random(&self, out: &mut [u8]) {
        getrandom::fill(out).expect("system random generator failed");
    }

    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        sha2::Sha256::digest(data).into()
    }
}

fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

impl Provider for RustCrypto {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn hasher(&self, alg: HashAlg) -> Box<dyn Hasher> {
        match alg {
            HashAlg::Sha1 => Box::new(Ctx(sha1::Sha1::new())),
            HashAlg::Sha224 => Box::new(Ctx(sha2::Sha224::new())),
            HashAlg::Sha256 => Box::new(Ctx(sha2::Sha256::new())),
            HashAlg::Sha384 => Box::new(Ctx(sha2::Sha384::new())),
            HashAlg::Sha512 => Box::new(Ctx(sha2::Sha512::new())),
        }
    }

    fn hmac(&self, alg: HashAlg, key: &[u8], data: &[u8]) -> Vec<u8> {
        match alg {
            HashAlg::Sha1 => mac::<Hmac<sha1::Sha1>>(key, data),
            HashAlg::Sha224 => mac::<Hmac<sha2::Sha224>>(key, data),
            HashAlg::Sha256 => mac::<Hmac<sha2::Sha256>>(key, data),
            HashAlg::Sha384 => mac::<Hmac<sha2::Sha384>>(key, data),
            HashAlg::Sha512 => mac::<Hmac<sha2::Sha512>>(key, data),
        }
    }

    fn aes_ecb_encrypt(&self, key: &[u8], data: &mut [u8]) -> Result<()> {
        use aes::cipher::BlockCipherEncrypt;
        fn run<C: BlockCipherEncrypt + aes::cipher::KeyInit>(key: &[u8], data: &mut [u8]) {
            let c = C::new_from_slice(key).expect("length checked by the caller");
            for block in data.chunks_exact_mut(16) {
                c.encrypt_block(block.try_into().expect("16-byte chunk"));
            }
        }
        if !data.len().is_multiple_of(16) {
            return Err(err(CKR_DATA_LEN_RANGE, "AES-ECB takes whole blocks"));
        }
        match key.len() {
            16 => run::<aes::Aes128>(key, data),
            24 => run::<aes::Aes192>(key, data),
            32 => run::<aes::Aes256>(key, data),
            _ => return Err(err(CKR_KEY_SIZE_RANGE, "AES keys are 16, 24 or 32 bytes")),
        }
        Ok(())
    }
}
