//! What the store's tests share: a cipher on RustCrypto (the product uses its crypto
//! provider) and a store opened with cheap KDF parameters.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ferrohsm_store::{AeadKey, Cipher, KdfParams, Store};
use sha2::Digest;
use zeroize::Zeroizing;

/// A test cipher on RustCrypto's AES-GCM (the product uses its crypto provider).
pub struct TestCipher;
struct TestKey(Aes256Gcm);

impl Cipher for TestCipher {
    fn key(&self, raw: &[u8; 32]) -> Box<dyn AeadKey> {
        Box::new(TestKey(Aes256Gcm::new_from_slice(raw).unwrap()))
    }
    fn fill_random(&self, out: &mut [u8]) {
        getrandom::fill(out).unwrap();
    }
    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        sha2::Sha256::digest(data).into()
    }
}

impl AeadKey for TestKey {
    fn seal(&self, nonce: &[u8; 12], aad: &[u8], pt: &[u8]) -> Vec<u8> {
        self.0.encrypt(&Nonce::from(*nonce), Payload { msg: pt, aad }).unwrap()
    }
    fn open(&self, nonce: &[u8; 12], aad: &[u8], ct: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        self.0.decrypt(&Nonce::from(*nonce), Payload { msg: ct, aad }).ok().map(Zeroizing::new)
    }
}

/// Cheap KDF parameters: these tests are about the store, not Argon2's cost.
pub const FAST: KdfParams = KdfParams { m_kib: 64, t: 1, p: 1 };

pub fn open(dir: &Path) -> Store {
    Store::open(dir, Arc::new(TestCipher), FAST).unwrap()
}
