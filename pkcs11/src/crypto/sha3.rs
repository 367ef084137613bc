//! SHA-3 and SHAKE (FIPS 202) for both providers, from RustCrypto's `sha3` and
//! `shake` crates (issue 8 allows a shared crate where aws-lc-rs lacks something:
//! aws-lc-rs 1.19 exposes no SHA-3 digest). Only HashML-DSA uses them so far, so
//! they are not in [`super::HashAlg`] and no `CKM_SHA3_*` digest is offered.

use ::sha3::Digest;
use shake::digest::{ExtendableOutput, Update};

use super::Hasher;

/// The SHA-3 family functions HashML-DSA pre-hashes with (FIPS 204 §5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sha3Alg {
    /// SHA3-224.
    Sha3_224,
    /// SHA3-256.
    Sha3_256,
    /// SHA3-384.
    Sha3_384,
    /// SHA3-512.
    Sha3_512,
    /// SHAKE128 with 256 bits of output (FIPS 204 §5.4).
    Shake128,
    /// SHAKE256 with 512 bits of output (FIPS 204 §5.4).
    Shake256,
}

impl Sha3Alg {
    /// Output length in bytes (for SHAKE, the length FIPS 204 §5.4 fixes).
    pub const fn output_len(self) -> usize {
        match self {
            Sha3Alg::Sha3_224 => 28,
            Sha3Alg::Sha3_256 | Sha3Alg::Shake128 => 32,
            Sha3Alg::Sha3_384 => 48,
            Sha3Alg::Sha3_512 | Sha3Alg::Shake256 => 64,
        }
    }

    /// A running hash.
    pub fn hasher(self) -> Box<dyn Hasher> {
        match self {
            Sha3Alg::Sha3_224 => Box::new(Fixed(::sha3::Sha3_224::new())),
            Sha3Alg::Sha3_256 => Box::new(Fixed(::sha3::Sha3_256::new())),
            Sha3Alg::Sha3_384 => Box::new(Fixed(::sha3::Sha3_384::new())),
            Sha3Alg::Sha3_512 => Box::new(Fixed(::sha3::Sha3_512::new())),
            Sha3Alg::Shake128 => Box::new(Xof(shake::Shake128::default(), 32)),
            Sha3Alg::Shake256 => Box::new(Xof(shake::Shake256::default(), 64)),
        }
    }
}

struct Fixed<D>(D);

impl<D: Digest + Send> Hasher for Fixed<D> {
    fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }

    fn finish(self: Box<Self>) -> Vec<u8> {
        self.0.finalize().to_vec()
    }
}

struct Xof<X>(X, usize);

impl<X: Update + ExtendableOutput + Send> Hasher for Xof<X> {
    fn update(&mut self, data: &[u8]) {
        Update::update(&mut self.0, data);
    }

    fn finish(self: Box<Self>) -> Vec<u8> {
        let mut out = vec![0u8; self.1];
        self.0.finalize_xof_into(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(alg: Sha3Alg, data: &[u8]) -> String {
        let mut h = alg.hasher();
        h.update(data);
        h.finish().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// FIPS 202 examples (NIST CSRC "Example Values"), empty input.
    #[test]
    fn empty_input_gives_the_published_digests() {
        assert_eq!(digest(Sha3Alg::Sha3_256, b""), "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
        assert_eq!(digest(Sha3Alg::Shake128, b""), "7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26");
        assert_eq!(
            digest(Sha3Alg::Shake256, b""),
            "46b9dd2b0ba88d13233b3feb743eeb243fcd52ea62b81b82b50c27646ed5762fd75dc4ddd8c0f200cb05019d67b592f6fc821c49479ab48640292eacb3b7c4be"
        );
        assert_eq!(digest(Sha3Alg::Sha3_224, b"").len(), 56);
        assert_eq!(digest(Sha3Alg::Sha3_384, b"").len(), 96);
        assert_eq!(digest(Sha3Alg::Sha3_512, b"").len(), 128);
    }
}
