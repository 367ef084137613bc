//! [`crate::crypto::RsaOps`] for RustCrypto: the shared implementation on the `rsa`
//! crate ([`SoftPrivate`], [`SoftPublic`]) for everything.

use super::RustCrypto;
use crate::crypto::RsaOps;
use crate::crypto::rsa::{self, PrivateKey, PrivateParts, PublicKey, SoftPrivate, SoftPublic};
use crate::error::Result;

impl RsaOps for RustCrypto {
    fn rsa_generate(&self, bits: usize, e: u64) -> Result<PrivateParts> {
        rsa::generate(bits, e)
    }

    fn rsa_private_key(&self, parts: &PrivateParts) -> Result<Box<dyn PrivateKey>> {
        Ok(Box::new(SoftPrivate::new(parts)?))
    }

    fn rsa_public_key(&self, n: &[u8], e: &[u8]) -> Result<Box<dyn PublicKey>> {
        Ok(Box::new(SoftPublic::new(n, e)?))
    }
}
