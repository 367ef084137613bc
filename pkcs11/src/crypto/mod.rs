//! The crypto provider: the one trait behind which every algorithm sits.
//!
//! Two implementations, both complete, selected at build time by cargo features and,
//! when both are built, at run time by `provider` in the config file or
//! `FERROHSM_PROVIDER`:
//!
//! - `aws-lc` (default): aws-lc-rs, constant-time and fast;
//! - `rustcrypto`: pure Rust, for builds without a C compiler.
//!
//! The provider is also the store's [`Cipher`], so encryption at rest runs on the
//! same code as everything else.

#[cfg(feature = "aws-lc")]
mod awslc;
pub mod des;
pub mod ec;
pub mod pqc;
pub mod rsa;
#[cfg(feature = "rustcrypto")]
mod rustcrypto;
pub mod sha3;
pub mod slhdsa;
pub mod sym;

use cryptoki_sys::*;
use ferrohsm_store::Cipher;

use crate::error::{Result, err};

#[cfg(not(any(feature = "aws-lc", feature = "rustcrypto")))]
compile_error!("build with at least one crypto provider: feature `aws-lc` or `rustcrypto`");

/// Hash functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-1 (legacy: digests and HMAC only).
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// Output length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha224 => 28,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The digest mechanism of this hash.
    pub fn from_mechanism(m: CK_MECHANISM_TYPE) -> Option<Self> {
        Some(match m {
            CKM_SHA_1 => HashAlg::Sha1,
            CKM_SHA224 => HashAlg::Sha224,
            CKM_SHA256 => HashAlg::Sha256,
            CKM_SHA384 => HashAlg::Sha384,
            CKM_SHA512 => HashAlg::Sha512,
            _ => return None,
        })
    }
}

/// A running hash.
pub trait Hasher: Send {
    /// Absorbs data.
    fn update(&mut self, data: &[u8]);
    /// Produces the digest.
    fn finish(self: Box<Self>) -> Vec<u8>;
}

pub use ec::EcOps;
pub use pqc::PqcOps;
pub use rsa::RsaOps;
pub use sym::SymOps;

/// Everything the module needs from a crypto library. The algorithm families are
/// separate traits ([`RsaOps`], [`EcOps`], [`SymOps`], [`PqcOps`]), one file each, implemented
/// by each provider in its own directory.
pub trait Provider: Cipher + RsaOps + EcOps + SymOps + PqcOps + Send + Sync {
    /// `"aws-lc"` or `"rustcrypto"`.
    fn name(&self) -> &'static str;
    /// Starts a hash.
    fn hasher(&self, alg: HashAlg) -> Box<dyn Hasher>;
    /// One-shot hash.
    fn hash(&self, alg: HashAlg, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher(alg);
        h.update(data);
        h.finish()
    }
    /// HMAC of `data` under `key`.
    fn hmac(&self, alg: HashAlg, key: &[u8], data: &[u8]) -> Vec<u8>;
    /// AES-ECB encryption in place (`data` a multiple of 16 bytes; key 16, 24 or 32 bytes).
    fn aes_ecb_encrypt(&self, key: &[u8], data: &mut [u8]) -> Result<()>;
}

/// The providers this build has, default first.
pub fn available() -> &'static [&'static str] {
    &[
        #[cfg(feature = "aws-lc")]
        "aws-lc",
        #[cfg(feature = "rustcrypto")]
        "rustcrypto",
    ]
}

/// Makes the provider called `name` (`None`: the default).
pub fn select(name: Option<&str>) -> Result<std::sync::Arc<dyn Provider>> {
    let name = name.unwrap_or(available()[0]);
    match name {
        #[cfg(feature = "aws-lc")]
        "aws-lc" => Ok(std::sync::Arc::new(awslc::AwsLc)),
        #[cfg(feature = "rustcrypto")]
        "rustcrypto" => Ok(std::sync::Arc::new(rustcrypto::RustCrypto)),
        other => Err(err(
            CKR_FUNCTION_FAILED,
            format!("crypto provider {other:?} is not in this build (it has {:?})", available()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-2 "abc" vectors; every provider in the build must agree.
    #[test]
    fn every_provider_hashes_abc() {
        let want = [
            (HashAlg::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (HashAlg::Sha224, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
            (HashAlg::Sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                HashAlg::Sha384,
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
            ),
            (
                HashAlg::Sha512,
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
        ];
        for name in available() {
            let p = select(Some(name)).unwrap();
            for (alg, hex) in want {
                let got: String = p.hash(alg, b"abc").iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(got, hex, "{name} {alg:?}");
                assert_eq!(got.len() / 2, alg.output_len());
            }
        }
    }

    /// RFC 4231 test case 2.
    #[test]
    fn every_provider_computes_hmac() {
        for name in available() {
            let p = select(Some(name)).unwrap();
            let mac = p.hmac(HashAlg::Sha256, b"Jefe", b"what do ya want for nothing?");
            let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "{name}");
        }
    }

    /// FIPS 197 appendix C.1 and C.3.
    #[test]
    fn every_provider_encrypts_an_aes_block() {
        let key: Vec<u8> = (0u8..32).collect();
        let pt: Vec<u8> = (0u8..16).map(|i| i * 0x11).collect();
        for name in available() {
            let p = select(Some(name)).unwrap();
            for (klen, hex) in [(16, "69c4e0d86a7b0430d8cdb78070b4c55a"), (32, "8ea2b7ca516745bfeafc49904b496089")] {
                let mut b = pt.clone();
                p.aes_ecb_encrypt(&key[..klen], &mut b).unwrap();
                let got: String = b.iter().map(|x| format!("{x:02x}")).collect();
                assert_eq!(got, hex, "{name} AES-{}", klen * 8);
            }
            assert!(p.aes_ecb_encrypt(&key[..15], &mut [0; 16]).is_err());
        }
    }

    #[test]
    fn every_provider_seals_and_opens() {
        for name in available() {
            let p = select(Some(name)).unwrap();
            let k = p.key(&[7u8; 32]);
            let ct = k.seal(&[1; 12], b"aad", b"hello");
            assert_eq!(ct.len(), 5 + 16);
            assert_eq!(k.open(&[1; 12], b"aad", &ct).unwrap().as_slice(), b"hello");
            assert!(k.open(&[1; 12], b"aae", &ct).is_none(), "{name}: AAD is bound");
            let mut bad = ct.clone();
            bad[0] ^= 1;
            assert!(k.open(&[1; 12], b"aad", &bad).is_none(), "{name}: tampering is caught");
        }
    }
}
