//! The operations mechanisms provide: one object per `*Init`, fed by the session.
//!
//! The session layer ([`crate::token::crypto`]) owns the PKCS#11 protocol: operation
//! state, the length query, `CKR_BUFFER_TOO_SMALL` and ending the operation on error.
//! Mechanisms only compute.

use zeroize::Zeroizing;

use crate::error::Result;

/// Encryption or decryption.
pub trait CryptOp: Send {
    /// An upper bound on what [`CryptOp::update`] returns for `input_len` more bytes.
    fn update_len(&self, input_len: usize) -> usize;
    /// Absorbs input, returns the output it completes.
    fn update(&mut self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// An upper bound on what [`CryptOp::finish`] returns.
    fn finish_len(&self) -> usize;
    /// Ends the operation and returns the last output (padding, tag, held-back bytes).
    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>>;
    /// An upper bound for a single-part call on `input_len` bytes.
    fn one_shot_len(&self, input_len: usize) -> usize {
        self.update_len(input_len) + self.finish_len()
    }
    /// A single-part call. Mechanisms that are single-part only override it (and
    /// refuse [`CryptOp::update`]).
    fn one_shot(&mut self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = self.update(input)?;
        out.extend_from_slice(&self.finish()?);
        Ok(out)
    }
}

/// Signing and MACs.
pub trait SignOp: Send {
    /// The signature's length (exact, or an upper bound).
    fn sign_len(&self) -> usize;
    /// Whether [`SignOp::sign_len`] is exact. When it is not (an attestation, whose
    /// length depends on its content and signature), a length query computes the
    /// result and keeps it, so the query answers the length of the very bytes the
    /// next call returns.
    fn len_is_exact(&self) -> bool {
        true
    }
    /// Absorbs data.
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// Ends the operation and returns the signature.
    fn finish(&mut self) -> Result<Vec<u8>>;
}

/// Verification.
pub trait VerifyOp: Send {
    /// Absorbs data.
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// Ends the operation: `Ok` when the signature is valid, else
    /// `CKR_SIGNATURE_INVALID` or `CKR_SIGNATURE_LEN_RANGE`.
    fn finish(&mut self, signature: &[u8]) -> Result<()>;
}

/// A [`SignOp`] / [`VerifyOp`] helper for mechanisms that take their input in one
/// piece (raw ECDSA, `CKM_RSA_PKCS`, EdDSA): it collects the parts, up to `max`.
#[derive(Default)]
pub struct Collect {
    data: Zeroizing<Vec<u8>>,
    max: usize,
}

impl Collect {
    /// Collects at most `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { data: Zeroizing::new(Vec::new()), max }
    }

    /// Adds a part; more than `max` bytes in all is `CKR_DATA_LEN_RANGE`.
    pub fn push(&mut self, part: &[u8]) -> Result<()> {
        if self.data.len() + part.len() > self.max {
            return Err(crate::error::err(cryptoki_sys::CKR_DATA_LEN_RANGE, "input too long for this mechanism"));
        }
        self.data.extend_from_slice(part);
        Ok(())
    }

    /// The data collected.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}
