//! ECB, CBC and CBC with PKCS#7 padding over any block cipher, single- and
//! multi-part: the block modes of AES ([`super::aes`], 16-byte blocks) and 3DES
//! ([`super::des`], 8-byte blocks). Input that does not complete a block waits for
//! the next part; padded decryption holds back a last whole block until `Final`.

use std::sync::Arc;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::CryptOp;
use crate::error::{Error, Result, err};

/// A prepared block cipher key with blocks of `N` bytes.
pub trait BlockCipher<const N: usize>: Send + Sync {
    /// The cipher's name in error messages ("AES", "3DES").
    const NAME: &'static str;
    /// ECB encryption in place (whole blocks).
    fn ecb_encrypt(&self, data: &mut [u8]) -> Result<()>;
    /// ECB decryption in place (whole blocks).
    fn ecb_decrypt(&self, data: &mut [u8]) -> Result<()>;
    /// CBC encryption in place (whole blocks); `iv` becomes the last ciphertext block.
    fn cbc_encrypt(&self, iv: &mut [u8; N], data: &mut [u8]) -> Result<()>;
    /// CBC decryption in place (whole blocks); `iv` becomes the last ciphertext block.
    fn cbc_decrypt(&self, iv: &mut [u8; N], data: &mut [u8]) -> Result<()>;
}

/// The block modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// ECB: whole blocks.
    Ecb,
    /// CBC: whole blocks.
    Cbc,
    /// CBC with PKCS#7 padding (RFC 5652 §6.3), always 1 to `N` bytes.
    CbcPad,
}

/// One encryption or decryption in a block mode.
pub struct BlockOp<K, const N: usize> {
    key: Arc<K>,
    mode: Mode,
    encrypt: bool,
    /// The CBC chaining value.
    iv: [u8; N],
    /// Input not yet processed: less than a block, or (padded decryption) up to
    /// one whole block held back because it may be the last.
    buf: Zeroizing<Vec<u8>>,
}

impl<K: BlockCipher<N>, const N: usize> BlockOp<K, N> {
    /// A new operation; `iv` is ignored in ECB mode.
    pub fn new(key: Arc<K>, mode: Mode, encrypt: bool, iv: [u8; N]) -> Self {
        Self { key, mode, encrypt, iv, buf: Zeroizing::new(Vec::with_capacity(N)) }
    }

    /// Padded decryption cannot release the last block before `Final`: only then
    /// is it known to be the last, and its padding removed.
    fn holds_back(&self) -> bool {
        self.mode == Mode::CbcPad && !self.encrypt
    }

    /// How many of `total` bytes of input can be processed now.
    fn ready(&self, total: usize) -> usize {
        let whole = total / N * N;
        if self.holds_back() && whole == total { whole.saturating_sub(N) } else { whole }
    }

    fn process(&mut self, data: &mut [u8]) -> Result<()> {
        match (self.mode, self.encrypt) {
            (Mode::Ecb, true) => self.key.ecb_encrypt(data),
            (Mode::Ecb, false) => self.key.ecb_decrypt(data),
            (_, true) => self.key.cbc_encrypt(&mut self.iv, data),
            (_, false) => self.key.cbc_decrypt(&mut self.iv, data),
        }
    }

    fn length_error(&self) -> Error {
        if self.encrypt {
            err(CKR_DATA_LEN_RANGE, format!("the data is not a whole number of {} blocks", K::NAME))
        } else {
            err(CKR_ENCRYPTED_DATA_LEN_RANGE, format!("the ciphertext is not a whole number of {} blocks", K::NAME))
        }
    }
}

/// Removes PKCS#7 padding from the last block, in time independent of the padding
/// (it is a decryption result). `None` when the padding is malformed.
pub fn unpad<const N: usize>(block: &[u8]) -> Option<usize> {
    let p = block[N - 1];
    let mut bad = u8::from(p == 0) | u8::from(p as usize > N);
    for (i, b) in block.iter().enumerate() {
        let in_pad = u8::from(N - i <= p as usize);
        bad |= in_pad & u8::from(*b != p);
    }
    (std::hint::black_box(bad) == 0).then(|| N - p as usize)
}

impl<K: BlockCipher<N> + 'static, const N: usize> CryptOp for BlockOp<K, N> {
    fn update_len(&self, input_len: usize) -> usize {
        self.ready(self.buf.len() + input_len)
    }

    fn update(&mut self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let n = self.ready(self.buf.len() + input.len());
        let from_buf = n.min(self.buf.len());
        let from_input = n - from_buf;
        let mut out = Zeroizing::new(Vec::with_capacity(n));
        out.extend_from_slice(&self.buf[..from_buf]);
        out.extend_from_slice(&input[..from_input]);
        self.buf.drain(..from_buf);
        self.buf.extend_from_slice(&input[from_input..]);
        self.process(&mut out)?;
        Ok(out)
    }

    fn finish_len(&self) -> usize {
        match (self.mode, self.encrypt) {
            (Mode::CbcPad, true) => N,
            // At least one byte of the last block is padding.
            (Mode::CbcPad, false) => self.buf.len().saturating_sub(1),
            _ => 0,
        }
    }

    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        match (self.mode, self.encrypt) {
            (Mode::CbcPad, true) => {
                let p = N - self.buf.len();
                let mut last = std::mem::take(&mut self.buf);
                last.resize(N, p as u8);
                self.process(&mut last)?;
                Ok(last)
            }
            (Mode::CbcPad, false) => {
                if self.buf.len() != N {
                    return Err(self.length_error());
                }
                let mut last = std::mem::take(&mut self.buf);
                self.process(&mut last)?;
                let n = unpad::<N>(&last)
                    .ok_or_else(|| err(CKR_ENCRYPTED_DATA_INVALID, "the PKCS#7 padding is malformed"))?;
                last.truncate(n);
                Ok(last)
            }
            _ if !self.buf.is_empty() => Err(self.length_error()),
            _ => Ok(Zeroizing::new(Vec::new())),
        }
    }

    fn one_shot_len(&self, input_len: usize) -> usize {
        match (self.mode, self.encrypt) {
            (Mode::CbcPad, true) => (input_len / N + 1) * N,
            (Mode::CbcPad, false) => input_len.saturating_sub(1),
            _ => input_len,
        }
    }

    fn one_shot(&mut self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let whole = input.len().is_multiple_of(N);
        // Unpadded modes take whole blocks; padded decryption at least one.
        if (self.mode != Mode::CbcPad || !self.encrypt) && !whole || (self.holds_back() && input.is_empty()) {
            return Err(self.length_error());
        }
        let mut out = self.update(input)?;
        out.extend_from_slice(&self.finish()?);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs7_padding_is_checked_on_16_byte_blocks() {
        let mut b = [7u8; 16];
        assert_eq!(unpad::<16>(&b), Some(9));
        b[15] = 16;
        assert_eq!(unpad::<16>(&b), None, "not all sixteen bytes are 16");
        assert_eq!(unpad::<16>(&[16u8; 16]), Some(0));
        b[15] = 0;
        assert_eq!(unpad::<16>(&b), None);
        b[15] = 17;
        assert_eq!(unpad::<16>(&b), None);
        let mut c = [0xAAu8; 16];
        c[15] = 1;
        assert_eq!(unpad::<16>(&c), Some(15));
        c[14] = 2;
        c[15] = 2;
        assert_eq!(unpad::<16>(&c), Some(14));
        c[13] = 3;
        c[14] = 2;
        c[15] = 3;
        assert_eq!(unpad::<16>(&c), None);
    }

    #[test]
    fn pkcs7_padding_is_checked_on_8_byte_blocks() {
        assert_eq!(unpad::<8>(&[1, 2, 3, 4, 5, 3, 3, 3]), Some(5));
        assert_eq!(unpad::<8>(&[8; 8]), Some(0));
        assert_eq!(unpad::<8>(&[1, 2, 3, 4, 5, 6, 7, 0]), None);
        assert_eq!(unpad::<8>(&[9; 8]), None);
        assert_eq!(unpad::<8>(&[1, 2, 3, 4, 5, 6, 2, 3]), None);
    }
}
