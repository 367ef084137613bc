//! `CKM_AES_CTR`, and the counter-mode keystream that GCM shares.

use std::sync::Arc;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use crate::crypto::sym::{AesKey, BLOCK};
use crate::error::{Result, err};
use crate::mechanism::{CryptOp, Mechanism, Param};

/// A counter-mode keystream over the low `bits` bits of a counter block, applied
/// across calls of any length (a partial block's unused keystream waits for the
/// next call).
///
/// Two counter rules:
/// - `CKM_AES_CTR` ("AES with Counter" in the spec): the counter must not
///   overflow its bits. "If an attempt to encrypt/decrypt is made which will
///   cause an overflow of the counter block's counter bits, then the mechanism
///   shall return CKR_DATA_LEN_RANGE"; the final post-increment may overflow.
///   With 2 counter bits starting at 1, three blocks can be processed.
/// - GCM's `inc32` (SP 800-38D §6.2) wraps the low 32 bits modulo 2^32.
pub(super) struct Keystream {
    counter: [u8; BLOCK],
    /// The counter bits of the block.
    mask: u128,
    /// Whether the counter wraps (GCM) rather than refusing to (CTR).
    wraps: bool,
    /// Blocks the counter has left before it would overflow (CTR).
    left: u128,
    /// The keystream of the last partial block, and how much of it is used.
    ks: Zeroizing<[u8; BLOCK]>,
    used: usize,
}

impl Keystream {
    /// A keystream starting at `counter`, counting in its low `bits` bits (1 to 128).
    pub(super) fn new(counter: [u8; BLOCK], bits: u32, wraps: bool) -> Self {
        let mask = if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 };
        let value = u128::from_be_bytes(counter) & mask;
        let left = if wraps { u128::MAX } else { (mask - value).saturating_add(1) };
        Self { counter, mask, wraps, left, ks: Zeroizing::new([0; BLOCK]), used: BLOCK }
    }

    /// Counter blocks that `len` more bytes need.
    fn blocks_for(&self, len: usize) -> u128 {
        len.saturating_sub(BLOCK - self.used).div_ceil(BLOCK) as u128
    }

    /// Moves the counter on by `n` blocks, within its bits.
    fn advance(&mut self, n: u128) {
        let c = u128::from_be_bytes(self.counter);
        let v = (c & self.mask).wrapping_add(n) & self.mask;
        self.counter = ((c & !self.mask) | v).to_be_bytes();
        if !self.wraps {
            self.left -= n;
        }
    }

    /// XORs the next `data.len()` bytes of keystream into `data`.
    pub(super) fn apply(&mut self, key: &dyn AesKey, data: &mut [u8]) -> Result<()> {
        let need = self.blocks_for(data.len());
        if !self.wraps && need > self.left {
            return Err(err(
                CKR_DATA_LEN_RANGE,
                format!("the counter would overflow its bits: {} more blocks allowed, {need} needed", self.left),
            ));
        }
        // What is left of the last partial block's keystream.
        let k = (BLOCK - self.used).min(data.len());
        for (d, s) in data[..k].iter_mut().zip(&self.ks[self.used..]) {
            *d ^= s;
        }
        self.used += k;
        let data = &mut data[k..];
        let whole = data.len() / BLOCK * BLOCK;
        let (mut body, tail) = data.split_at_mut(whole);
        // Whole blocks, in runs during which the counter bits do not wrap (the
        // provider increments the whole block).
        while !body.is_empty() {
            let value = u128::from_be_bytes(self.counter) & self.mask;
            let until_wrap = (self.mask - value).saturating_add(1);
            let n = (body.len() / BLOCK).min(usize::try_from(until_wrap).unwrap_or(usize::MAX));
            let (run, rest) = body.split_at_mut(n * BLOCK);
            key.ctr_xor(&self.counter, run)?;
            self.advance(n as u128);
            body = rest;
        }
        if !tail.is_empty() {
            self.ks.fill(0);
            key.ctr_xor(&self.counter, &mut self.ks[..])?;
            for (d, s) in tail.iter_mut().zip(self.ks.iter()) {
                *d ^= s;
            }
            self.used = tail.len();
            self.advance(1);
        }
        Ok(())
    }
}

/// `CK_AES_CTR_PARAMS`: "ulCounterBits ... shall be such that 0 < ulCounterBits
/// <= 128"; outside that, `CKR_MECHANISM_PARAM_INVALID`.
pub(super) fn op(mech: &Mechanism, key: impl FnOnce() -> Result<Arc<Box<dyn AesKey>>>) -> Result<Box<dyn CryptOp>> {
    let Param::Ctr { counter_bits, block } = &mech.param else {
        return Err(mech.bad_param("the parameter is a CK_AES_CTR_PARAMS"));
    };
    if !(1..=128).contains(counter_bits) {
        return Err(mech.bad_param("ulCounterBits must be 1 to 128"));
    }
    Ok(Box::new(Ctr { key: key()?, stream: Keystream::new(*block, *counter_bits as u32, false) }))
}

/// Counter mode: encryption and decryption are the same; every byte comes out at
/// once.
struct Ctr {
    key: Arc<Box<dyn AesKey>>,
    stream: Keystream,
}

impl CryptOp for Ctr {
    fn update_len(&self, input_len: usize) -> usize {
        input_len
    }

    fn update(&mut self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(input.to_vec());
        self.stream.apply(&**self.key, &mut out)?;
        Ok(out)
    }

    fn finish_len(&self) -> usize {
        0
    }

    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{available, select};

    /// The keystream for each counter, block by block through ECB.
    fn expected(key: &dyn AesKey, counters: &[u128]) -> Vec<u8> {
        let mut out: Vec<u8> = counters.iter().flat_map(|c| c.to_be_bytes()).collect();
        key.ecb_encrypt(&mut out).unwrap();
        out
    }

    #[test]
    fn the_counter_stays_in_its_bits_and_never_overflows() {
        for name in available() {
            let p = select(Some(name)).unwrap();
            let key = p.aes_key(&[9u8; 16]).unwrap();
            let k = key.as_ref();
            // The spec's example: 2 counter bits starting at 1 allow 3 blocks.
            let start = 0xAAAA_0000_0000_0000_0000_0000_0000_0001u128;
            let mut s = Keystream::new(start.to_be_bytes(), 2, false);
            let mut data = vec![0u8; 48];
            s.apply(k, &mut data).unwrap();
            assert_eq!(data, expected(k, &[start, start + 1, start + 2]), "{name}");
            assert_eq!(s.apply(k, &mut [0u8; 1]).unwrap_err().rv(), CKR_DATA_LEN_RANGE);
            let mut s = Keystream::new(start.to_be_bytes(), 2, false);
            assert_eq!(s.apply(k, &mut [0u8; 49]).unwrap_err().rv(), CKR_DATA_LEN_RANGE);
            // A run of whole blocks carries across bytes inside the counter bits,
            // and odd-sized parts continue the keystream.
            let start = 0x0102_0304_0506_0708_0000_0000_FFFF_FFFEu128;
            let want = expected(k, &[start, start + 1, start + 2, start + 3]);
            let mut s = Keystream::new(start.to_be_bytes(), 64, false);
            let mut got = vec![0u8; 64];
            for part in got.chunks_mut(7) {
                s.apply(k, part).unwrap();
            }
            assert_eq!(got, want, "{name}");
            // 128 counter bits up to the very last counter value.
            let start = u128::MAX - 1;
            let mut s = Keystream::new(start.to_be_bytes(), 128, false);
            let mut data = vec![0u8; 32];
            s.apply(k, &mut data).unwrap();
            assert_eq!(data, expected(k, &[start, u128::MAX]), "{name}");
            assert!(s.apply(k, &mut [0u8; 1]).is_err());
            // GCM's inc32 wraps the low 32 bits and leaves the rest.
            let start = 0x0102_0304_0506_0708_090A_0B0C_FFFF_FFFFu128;
            let wrapped = 0x0102_0304_0506_0708_090A_0B0C_0000_0000u128;
            let mut s = Keystream::new(start.to_be_bytes(), 32, true);
            let mut data = vec![0u8; 40];
            s.apply(k, &mut data).unwrap();
            let mut want = expected(k, &[start, wrapped, wrapped + 1]);
            want.truncate(40);
            assert_eq!(data, want, "{name}");
        }
    }
}
