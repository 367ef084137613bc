//! `CKM_AES_KEY_WRAP` (RFC 3394, SP 800-38F KW) and `CKM_AES_KEY_WRAP_KWP`
//! (RFC 5649, SP 800-38F KWP), for encryption and for `C_WrapKey` / `C_UnwrapKey`.
//!
//! The spec gives both an optional IV parameter (8 bytes for KW, 4 for KWP). This
//! token takes no parameter or the default value of the RFC; any other IV is
//! `CKR_MECHANISM_PARAM_INVALID` (neither provider offers a custom one).
//!
//! Key wrap is a single-part computation; `*Update` collects the parts and `*Final`
//! computes, so a multi-part caller loses nothing.

use std::sync::Arc;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use crate::crypto::sym::{AesKey, KW_IV, KWP_IV};
use crate::error::{Result, err};
use crate::mechanism::{CryptOp, Mechanism, Param};

pub(super) fn op(
    mech: &Mechanism,
    encrypt: bool,
    key: impl FnOnce() -> Result<Arc<Box<dyn AesKey>>>,
) -> Result<Box<dyn CryptOp>> {
    let padded = mech.ty == CKM_AES_KEY_WRAP_KWP;
    let default: &[u8] = if padded { &KWP_IV } else { &KW_IV };
    match &mech.param {
        Param::None => {}
        Param::Bytes(iv) if iv.is_empty() || iv.as_slice() == default => {}
        _ => return Err(mech.bad_param("only the RFC's default IV is supported")),
    }
    Ok(Box::new(Wrap { key: key()?, padded, encrypt, collected: Zeroizing::new(Vec::new()) }))
}

struct Wrap {
    key: Arc<Box<dyn AesKey>>,
    padded: bool,
    encrypt: bool,
    collected: Zeroizing<Vec<u8>>,
}

impl Wrap {
    fn run(&self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let n = input.len();
        match (self.padded, self.encrypt) {
            // RFC 3394 §2: at least two 64-bit blocks.
            (false, true) if n < 16 || !n.is_multiple_of(8) => {
                Err(err(CKR_DATA_LEN_RANGE, "AES-KW takes a multiple of 8 bytes, at least 16"))
            }
            // RFC 5649 §3: 1 to 2^32 - 1 bytes.
            (true, true) if n == 0 || n as u64 > u64::from(u32::MAX) => {
                Err(err(CKR_DATA_LEN_RANGE, "AES-KWP takes 1 to 2^32 - 1 bytes"))
            }
            (false, false) if n < 24 || !n.is_multiple_of(8) => {
                Err(err(CKR_ENCRYPTED_DATA_LEN_RANGE, "AES-KW output is a multiple of 8 bytes, at least 24"))
            }
            (true, false) if n < 16 || !n.is_multiple_of(8) => {
                Err(err(CKR_ENCRYPTED_DATA_LEN_RANGE, "AES-KWP output is a multiple of 8 bytes, at least 16"))
            }
            (padded, true) => Ok(Zeroizing::new(self.key.wrap(padded, input)?)),
            (padded, false) => self.key.unwrap(padded, input),
        }
    }

    /// The output length for `n` bytes of input: exact, except for KWP unwrapping,
    /// whose padding (0 to 7 bytes) is known only after decryption.
    fn len_for(&self, n: usize) -> usize {
        match (self.padded, self.encrypt) {
            (false, true) => n + 8,
            (true, true) => n.div_ceil(8) * 8 + 8,
            (_, false) => n.saturating_sub(8),
        }
    }
}

impl CryptOp for Wrap {
    fn update_len(&self, _input_len: usize) -> usize {
        0
    }

    fn update(&mut self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.collected.extend_from_slice(input);
        Ok(Zeroizing::new(Vec::new()))
    }

    fn finish_len(&self) -> usize {
        self.len_for(self.collected.len())
    }

    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        let data = std::mem::take(&mut self.collected);
        self.run(&data)
    }

    fn one_shot_len(&self, input_len: usize) -> usize {
        self.len_for(input_len)
    }

    fn one_shot(&mut self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.run(input)
    }
}
