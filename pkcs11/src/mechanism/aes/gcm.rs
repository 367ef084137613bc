//! `CKM_AES_GCM` with `CK_GCM_PARAMS` (NIST SP 800-38D).
//!
//! - IVs of any length from 1 byte: 12 bytes is the fast path, the provider's own
//!   AES-GCM; other lengths derive J0 with GHASH (SP 800-38D §7.1 step 2) and run
//!   GCM here, on the provider's AES-CTR and the `ghash` crate.
//! - Tags of 128, 120, 112, 104, 96, 64 and 32 bits (SP 800-38D §5.2.1.2); short
//!   tags are the leading bytes of the full tag.
//! - Encryption may be multi-part and streams: each part's ciphertext comes out
//!   at once, the tag at `C_EncryptFinal`.
//! - Decryption never releases plaintext before the tag is checked: parts are
//!   collected, and `C_DecryptFinal` checks the tag and returns all the plaintext.
//!   A wrong tag is `CKR_ENCRYPTED_DATA_INVALID`.

use std::sync::Arc;

use cryptoki_sys::*;
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use zeroize::Zeroizing;

use super::ctr::Keystream;
use crate::crypto::sym::{AesKey, BLOCK, ct_eq};
use crate::error::{Result, err};
use crate::mechanism::{CryptOp, Mechanism, Param};

/// The tag lengths SP 800-38D §5.2.1.2 allows, in bits.
const TAG_BITS: [u64; 7] = [32, 64, 96, 104, 112, 120, 128];
/// SP 800-38D §5.2.1.1: at most 2^39 - 256 bits of plaintext.
const MAX_TEXT: u64 = (1 << 36) - 32;

/// Checks `CK_GCM_PARAMS` and makes the operation.
pub(super) fn op(
    mech: &Mechanism,
    encrypt: bool,
    key: impl FnOnce() -> Result<Arc<Box<dyn AesKey>>>,
) -> Result<Box<dyn CryptOp>> {
    let Param::Gcm { iv, aad, tag_bits } = &mech.param else {
        return Err(mech.bad_param("the parameter is a CK_GCM_PARAMS"));
    };
    if iv.is_empty() || iv.len() as u64 > u64::from(u32::MAX) {
        return Err(mech.bad_param("the IV is 1 to 2^32 - 1 bytes"));
    }
    if !TAG_BITS.contains(tag_bits) {
        return Err(mech.bad_param("ulTagBits must be 128, 120, 112, 104, 96, 64 or 32"));
    }
    Ok(Box::new(Gcm {
        key: key()?,
        iv: iv.clone(),
        aad: aad.clone(),
        tag_len: (*tag_bits / 8) as usize,
        encrypt,
        stream: None,
        collected: Zeroizing::new(Vec::new()),
    }))
}

struct Gcm {
    key: Arc<Box<dyn AesKey>>,
    iv: Vec<u8>,
    aad: Vec<u8>,
    tag_len: usize,
    encrypt: bool,
    /// Multi-part encryption.
    stream: Option<Stream>,
    /// Multi-part decryption: the ciphertext and tag so far.
    collected: Zeroizing<Vec<u8>>,
}

/// The state of a multi-part encryption.
struct Stream {
    ghash: GHash,
    ctr: Keystream,
    /// E(K, J0), which masks the tag.
    mask: Zeroizing<[u8; BLOCK]>,
    /// Ciphertext of the current partial block, not yet hashed.
    pending: [u8; BLOCK],
    pending_len: usize,
    text_len: u64,
}

impl Gcm {
    fn fast_iv(&self) -> Option<&[u8; 12]> {
        self.iv.as_slice().try_into().ok()
    }

    fn key(&self) -> &dyn AesKey {
        &**self.key
    }

    /// GHASH keyed with H = E(K, 0^128), J0 (SP 800-38D §7.1 steps 1 and 2), and
    /// the keystream from inc32(J0).
    fn start(&self) -> Result<(GHash, Zeroizing<[u8; BLOCK]>, Keystream)> {
        let mut h = Zeroizing::new([0u8; BLOCK]);
        self.key().ecb_encrypt(&mut h[..])?;
        let ghash = GHash::new(&ghash::Key::from(*h));
        let mut j0 = [0u8; BLOCK];
        if let Some(iv) = self.fast_iv() {
            j0[..12].copy_from_slice(iv);
            j0[15] = 1;
        } else {
            let mut g = ghash.clone();
            g.update_padded(&self.iv);
            let mut len = [0u8; BLOCK];
            len[8..].copy_from_slice(&(self.iv.len() as u64 * 8).to_be_bytes());
            g.update(&[len.into()]);
            j0 = g.finalize().into();
        }
        let mut mask = Zeroizing::new(j0);
        self.key().ecb_encrypt(&mut mask[..])?;
        let mut ghash = ghash;
        ghash.update_padded(&self.aad);
        // The text starts at inc32(J0).
        let mut first = j0;
        let low = u32::from_be_bytes(first[12..].try_into().expect("4 bytes")).wrapping_add(1);
        first[12..].copy_from_slice(&low.to_be_bytes());
        Ok((ghash, mask, Keystream::new(first, 32, true)))
    }

    /// The full tag: GHASH over the (already absorbed) AAD and `ct`, the lengths,
    /// masked with E(K, J0).
    fn tag(&self, mut ghash: GHash, mask: &[u8; BLOCK], ct: &[u8], text_len: u64) -> [u8; BLOCK] {
        ghash.update_padded(ct);
        let mut len = [0u8; BLOCK];
        len[..8].copy_from_slice(&(self.aad.len() as u64 * 8).to_be_bytes());
        len[8..].copy_from_slice(&(text_len * 8).to_be_bytes());
        ghash.update(&[len.into()]);
        let mut t: [u8; BLOCK] = ghash.finalize().into();
        for (a, b) in t.iter_mut().zip(mask) {
            *a ^= b;
        }
        t
    }

    fn seal(&self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if input.len() as u64 > MAX_TEXT {
            return Err(err(CKR_DATA_LEN_RANGE, "AES-GCM takes at most 2^36 - 32 bytes"));
        }
        let n = input.len();
        // One output buffer: the provider writes the ciphertext straight into it.
        let mut out = Zeroizing::new(vec![0u8; n + self.tag_len]);
        let tag = match self.fast_iv() {
            Some(iv) => self.key().gcm_seal(iv, &self.aad, input, &mut out[..n])?,
            None => {
                let (ghash, mask, mut ctr) = self.start()?;
                out[..n].copy_from_slice(input);
                ctr.apply(self.key(), &mut out[..n])?;
                self.tag(ghash, &mask, &out[..n], n as u64)
            }
        };
        out[n..].copy_from_slice(&tag[..self.tag_len]);
        Ok(out)
    }

    fn open(&self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if input.len() < self.tag_len {
            return Err(err(CKR_ENCRYPTED_DATA_LEN_RANGE, "shorter than the AES-GCM tag"));
        }
        let (ct, tag) = input.split_at(input.len() - self.tag_len);
        if ct.len() as u64 > MAX_TEXT {
            return Err(err(CKR_ENCRYPTED_DATA_LEN_RANGE, "AES-GCM takes at most 2^36 - 32 bytes"));
        }
        let mut out = Zeroizing::new(vec![0u8; ct.len()]);
        match (self.fast_iv(), <&[u8; BLOCK]>::try_from(tag)) {
            (Some(iv), Ok(tag)) => self.key().gcm_open(iv, &self.aad, ct, tag, &mut out)?,
            _ => {
                let (ghash, mask, mut ctr) = self.start()?;
                let want = self.tag(ghash, &mask, ct, ct.len() as u64);
                if !ct_eq(&want[..self.tag_len], tag) {
                    return Err(err(CKR_ENCRYPTED_DATA_INVALID, "the AES-GCM tag does not match"));
                }
                out.copy_from_slice(ct);
                ctr.apply(self.key(), &mut out)?;
            }
        }
        Ok(out)
    }
}

impl Stream {
    /// Hashes ciphertext, keeping a partial block for the next call.
    fn absorb(&mut self, mut ct: &[u8]) {
        if self.pending_len > 0 {
            let take = (BLOCK - self.pending_len).min(ct.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&ct[..take]);
            self.pending_len += take;
            ct = &ct[take..];
            if self.pending_len < BLOCK {
                return;
            }
            self.ghash.update_padded(&self.pending);
            self.pending_len = 0;
        }
        let whole = ct.len() / BLOCK * BLOCK;
        self.ghash.update_padded(&ct[..whole]);
        self.pending[..ct.len() - whole].copy_from_slice(&ct[whole..]);
        self.pending_len = ct.len() - whole;
    }
}

impl CryptOp for Gcm {
    fn update_len(&self, input_len: usize) -> usize {
        if self.encrypt { input_len } else { 0 }
    }

    fn update(&mut self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if !self.encrypt {
            if (self.collected.len() + input.len()) as u64 > MAX_TEXT + BLOCK as u64 {
                return Err(err(CKR_ENCRYPTED_DATA_LEN_RANGE, "AES-GCM takes at most 2^36 - 32 bytes"));
            }
            self.collected.extend_from_slice(input);
            return Ok(Zeroizing::new(Vec::new()));
        }
        if self.stream.is_none() {
            let (ghash, mask, ctr) = self.start()?;
            self.stream = Some(Stream { ghash, ctr, mask, pending: [0; BLOCK], pending_len: 0, text_len: 0 });
        }
        let key = Arc::clone(&self.key);
        let s = self.stream.as_mut().expect("made above");
        if s.text_len + input.len() as u64 > MAX_TEXT {
            return Err(err(CKR_DATA_LEN_RANGE, "AES-GCM takes at most 2^36 - 32 bytes"));
        }
        let mut out = Zeroizing::new(input.to_vec());
        s.ctr.apply(&**key, &mut out)?;
        s.absorb(&out);
        s.text_len += input.len() as u64;
        Ok(out)
    }

    fn finish_len(&self) -> usize {
        if self.encrypt { self.tag_len } else { self.collected.len().saturating_sub(self.tag_len) }
    }

    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        if !self.encrypt {
            let data = std::mem::take(&mut self.collected);
            return self.open(&data);
        }
        let Some(s) = self.stream.take() else {
            // No part at all: the empty message.
            return self.seal(&[]);
        };
        let tail = s.pending;
        let tag = self.tag(s.ghash, &s.mask, &tail[..s.pending_len], s.text_len);
        Ok(Zeroizing::new(tag[..self.tag_len].to_vec()))
    }

    fn one_shot_len(&self, input_len: usize) -> usize {
        if self.encrypt { input_len + self.tag_len } else { input_len.saturating_sub(self.tag_len) }
    }

    fn one_shot(&mut self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if self.encrypt { self.seal(input) } else { self.open(input) }
    }
}
