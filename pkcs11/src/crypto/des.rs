//! Triple DES (TDEA, NIST SP 800-67) and its CMAC (SP 800-38B), shared by both
//! providers.
//!
//! aws-lc-rs has no 3DES in its safe API (libcrypto has it, but reaching it through
//! `aws-lc-sys` would put `unsafe` outside `ffi/`), so both providers use RustCrypto's
//! `des` crate for the block cipher, as issue 8 allows. The modes (ECB, CBC) and CMAC
//! over its 64-bit block are written here: a few lines each, checked against the
//! CAVP TDES and SP 800-38B vectors.
//!
//! Timing: the `des` crate computes the S-boxes with table lookups indexed by
//! key-dependent data; it is not constant-time against an attacker who shares the
//! machine's caches. docs/mechanisms-symmetric.md says so.
//!
//! Keys are 24 bytes (keying option 1, three keys) or 16 (keying option 2,
//! K1 K2 K1). Parity bits (the low bit of each byte) are ignored by the cipher.

use des::TdesEde3;
use des::cipher::array::Array;
use des::cipher::consts::U8;
use des::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use std::sync::Arc;
use zeroize::Zeroizing;

use cryptoki_sys::*;

use super::sym::Mac;
use crate::error::{Result, err};

/// A TDEA block: 8 bytes.
pub const DES_BLOCK: usize = 8;

/// The CMAC constant R_64 (SP 800-38B §5.3): x^64 + x^4 + x^3 + x + 1.
const RB64: u8 = 0x1B;

/// A prepared 3DES key: its three DES key schedules (zeroized on drop by the `des`
/// crate's `zeroize` feature).
pub struct Des3Key {
    cipher: TdesEde3,
}

impl std::fmt::Debug for Des3Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Des3Key(..)")
    }
}

fn blocks(data: &mut [u8]) -> &mut [Array<u8, U8>] {
    let (blocks, rest) = Array::slice_as_chunks_mut(data);
    debug_assert!(rest.is_empty(), "whole blocks only");
    blocks
}

impl Des3Key {
    /// Prepares a 16- or 24-byte key (`CKR_KEY_SIZE_RANGE` otherwise). A 16-byte key
    /// is keying option 2: K3 = K1.
    pub fn new(key: &[u8]) -> Result<Self> {
        let mut k = Zeroizing::new([0u8; 24]);
        match key.len() {
            16 => {
                k[..16].copy_from_slice(key);
                k[16..].copy_from_slice(&key[..8]);
            }
            24 => k.copy_from_slice(key),
            n => return Err(err(CKR_KEY_SIZE_RANGE, format!("a 3DES key is 16 or 24 bytes, not {n}"))),
        }
        let cipher = TdesEde3::new_from_slice(&k[..]).map_err(|_| err(CKR_GENERAL_ERROR, "3DES key setup"))?;
        Ok(Self { cipher })
    }

    /// ECB encryption in place (whole blocks).
    pub fn ecb_encrypt(&self, data: &mut [u8]) {
        self.cipher.encrypt_blocks(blocks(data));
    }

    /// ECB decryption in place (whole blocks).
    pub fn ecb_decrypt(&self, data: &mut [u8]) {
        self.cipher.decrypt_blocks(blocks(data));
    }

    /// CBC encryption in place (whole blocks); `iv` becomes the last ciphertext block.
    pub fn cbc_encrypt(&self, iv: &mut [u8; DES_BLOCK], data: &mut [u8]) {
        for b in blocks(data) {
            for (x, y) in b.iter_mut().zip(iv.iter()) {
                *x ^= y;
            }
            self.cipher.encrypt_block(b);
            iv.copy_from_slice(b);
        }
    }

    /// CBC decryption in place (whole blocks); `iv` becomes the last ciphertext block.
    pub fn cbc_decrypt(&self, iv: &mut [u8; DES_BLOCK], data: &mut [u8]) {
        for b in blocks(data) {
            let c: [u8; DES_BLOCK] = (*b).into();
            self.cipher.decrypt_block(b);
            for (x, y) in b.iter_mut().zip(iv.iter()) {
                *x ^= y;
            }
            *iv = c;
        }
    }

    /// The check value of PKCS#11 v3.0 §2.8.1 (`CKA_CHECK_VALUE`): the first three
    /// bytes of the encryption of a zero block.
    pub fn check_value(&self) -> Vec<u8> {
        let mut b = [0u8; DES_BLOCK];
        self.ecb_encrypt(&mut b);
        b[..3].to_vec()
    }

    /// Starts a CMAC (SP 800-38B) under this key.
    pub fn cmac(self: &Arc<Self>) -> Box<dyn Mac> {
        let mut l = [0u8; DES_BLOCK];
        self.ecb_encrypt(&mut l);
        let k1 = Zeroizing::new(dbl(&l));
        let k2 = Zeroizing::new(dbl(&k1));
        l.fill(0);
        Box::new(Cmac {
            key: Arc::clone(self),
            k1,
            k2,
            state: [0; DES_BLOCK],
            buf: Zeroizing::new(Vec::with_capacity(DES_BLOCK)),
        })
    }
}

/// Doubling in GF(2^64) (SP 800-38B §6.1 steps 2 and 3), in time independent of
/// the value.
fn dbl(x: &[u8; DES_BLOCK]) -> [u8; DES_BLOCK] {
    let v = u64::from_be_bytes(*x);
    let carry = (v >> 63) as u8;
    let mut out = (v << 1).to_be_bytes();
    out[DES_BLOCK - 1] ^= RB64 & carry.wrapping_neg();
    out
}

/// A running 3DES-CMAC. The last block is held back until `finish`: only then is
/// it known to be the last, to be masked with K1 or K2.
struct Cmac {
    key: Arc<Des3Key>,
    k1: Zeroizing<[u8; DES_BLOCK]>,
    k2: Zeroizing<[u8; DES_BLOCK]>,
    /// The CBC-MAC chaining value.
    state: [u8; DES_BLOCK],
    /// Up to one block of input not yet absorbed.
    buf: Zeroizing<Vec<u8>>,
}

impl Cmac {
    fn absorb(&mut self, block: &[u8]) {
        for (x, y) in self.state.iter_mut().zip(block) {
            *x ^= y;
        }
        self.key.ecb_encrypt(&mut self.state);
    }
}

impl Drop for Cmac {
    fn drop(&mut self) {
        self.state.fill(0);
    }
}

impl Mac for Cmac {
    fn update(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            if self.buf.len() == DES_BLOCK {
                let b: [u8; DES_BLOCK] = self.buf[..].try_into().expect("one block");
                self.absorb(&b);
                self.buf.clear();
            }
            let n = (DES_BLOCK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<u8>> {
        let mut last = Zeroizing::new([0u8; DES_BLOCK]);
        let n = self.buf.len();
        last[..n].copy_from_slice(&self.buf);
        let k = if n == DES_BLOCK {
            *self.k1
        } else {
            last[n] = 0x80;
            *self.k2
        };
        for (x, y) in last.iter_mut().zip(k) {
            *x ^= y;
        }
        let last = *last;
        self.absorb(&last);
        Ok(self.state.to_vec())
    }
}

/// Sets each byte's low bit so that the byte has an odd number of ones (FIPS 46-3
/// §1: "the 8th bit of each byte is an odd parity bit").
pub fn set_odd_parity(key: &mut [u8]) {
    for b in key {
        *b = (*b & 0xFE) | u8::from((*b >> 1).count_ones() % 2 == 0);
    }
}

/// Whether every byte has odd parity.
pub fn has_odd_parity(key: &[u8]) -> bool {
    key.iter().all(|b| b.count_ones() % 2 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// SP 800-38B appendix D.4 (three-key and two-key TDEA), also in
    /// test-vectors/misc/sp800-38b-3des.txt, fed in pieces of every size.
    #[test]
    fn cmac_matches_sp800_38b() {
        let msg = unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        let cases = [
            ("8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5", 0, "b7a688e122ffaf95"),
            ("8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5", 8, "8e8f293136283797"),
            ("8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5", 20, "743ddbe0ce2dc2ed"),
            ("8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5", 32, "33e6b1092400eae5"),
            ("4cf15134a2850dd58a3d10ba80570d38", 0, "bd2ebf9a3ba00361"),
            ("4cf15134a2850dd58a3d10ba80570d38", 8, "4ff2ab813c53ce83"),
            ("4cf15134a2850dd58a3d10ba80570d38", 20, "62dd1b471902bd4e"),
            ("4cf15134a2850dd58a3d10ba80570d38", 32, "31b1e431dabc4eb8"),
        ];
        for (key, len, want) in cases {
            let k = Arc::new(Des3Key::new(&unhex(key)).unwrap());
            for piece in 1..=9 {
                let mut m = k.cmac();
                for c in msg[..len].chunks(piece) {
                    m.update(c).unwrap();
                }
                assert_eq!(m.finish().unwrap(), unhex(want), "{key} {len} in pieces of {piece}");
            }
        }
    }

    #[test]
    fn parity() {
        let mut k = unhex("0001020304050607");
        assert!(!has_odd_parity(&k));
        set_odd_parity(&mut k);
        assert_eq!(k, unhex("0101020204040707"));
        assert!(has_odd_parity(&k));
    }

    #[test]
    fn key_sizes() {
        assert!(Des3Key::new(&[0; 16]).is_ok());
        assert!(Des3Key::new(&[0; 24]).is_ok());
        assert_eq!(Des3Key::new(&[0; 8]).unwrap_err().rv(), CKR_KEY_SIZE_RANGE);
        assert_eq!(Des3Key::new(&[0; 32]).unwrap_err().rv(), CKR_KEY_SIZE_RANGE);
    }
}
