//! AES mechanisms (PKCS#11 v3.0 current mechanisms, sections "AES" to "AES Key
//! Wrap"):
//! `CKM_AES_KEY_GEN`, `CKM_AES_ECB`, `CKM_AES_CBC`, `CKM_AES_CBC_PAD`,
//! `CKM_AES_CTR`, `CKM_AES_GCM`, `CKM_AES_KEY_WRAP`, `CKM_AES_KEY_WRAP_KWP`,
//! `CKM_AES_CMAC` and `CKM_AES_CMAC_GENERAL`.
//!
//! Key sizes in `CK_MECHANISM_INFO` are in bytes (16 to 32), as the spec says for
//! AES. The provider supplies the primitives on a prepared key, which is cached
//! with the key object; the modes' PKCS#11 rules live here and in the submodules.

mod cmac;
mod ctr;
mod gcm;
mod wrap;

use std::sync::Arc;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{CryptOp, Entry, Mechanism, Param, Registry};
use crate::crypto::Provider;
use crate::crypto::sym::{AesKey, BLOCK};
use crate::error::{Mech, Result, err};
use crate::object::{Attrs, Object};

/// Smallest AES key, in bytes.
pub const MIN_KEY: CK_ULONG = 16;
/// Largest AES key, in bytes.
pub const MAX_KEY: CK_ULONG = 32;
/// The key type every AES mechanism takes.
const AES: &[CK_KEY_TYPE] = &[CKK_AES];

/// Registers the AES mechanisms.
pub fn register(r: &mut Registry, _provider: &dyn Provider) {
    r.insert(
        CKM_AES_KEY_GEN,
        Entry { generate_key: Some((CKK_AES, generate)), ..Entry::new(MIN_KEY, MAX_KEY, CKF_GENERATE) },
    );
    // The spec's mechanisms-versus-functions table marks all of these for
    // encryption and for wrapping.
    let both = CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP;
    for ty in
        [CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_CTR, CKM_AES_GCM, CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_KWP]
    {
        r.insert(
            ty,
            Entry {
                key_types: AES,
                encrypt: Some(encrypt),
                decrypt: Some(decrypt),
                ..Entry::new(MIN_KEY, MAX_KEY, both)
            },
        );
    }
    for ty in [CKM_AES_CMAC, CKM_AES_CMAC_GENERAL] {
        r.insert(
            ty,
            Entry {
                key_types: AES,
                sign: Some(cmac::sign),
                verify: Some(cmac::verify),
                ..Entry::new(MIN_KEY, MAX_KEY, CKF_SIGN | CKF_VERIFY)
            },
        );
    }
}

/// `CKM_AES_KEY_GEN` ("AES key generation"): `CKA_VALUE_LEN` (required by the rule table) must
/// be 16, 24 or 32.
fn generate(provider: &dyn Provider, mech: &Mechanism, attrs: &Attrs) -> Result<Zeroizing<Vec<u8>>> {
    mech.no_parameter()?;
    let len = attrs.ulong(CKA_VALUE_LEN).ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required"))?;
    if ![16, 24, 32].contains(&len) {
        return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, format!("CKA_VALUE_LEN {len}: an AES key is 16, 24 or 32 bytes")));
    }
    let mut value = Zeroizing::new(vec![0u8; len as usize]);
    provider.fill_random(&mut value);
    Ok(value)
}

/// The prepared form of an AES key object, made once and cached with the object.
pub(crate) fn key(provider: &dyn Provider, obj: &Object) -> Result<Arc<Box<dyn AesKey>>> {
    let parse = |attrs: &Attrs| -> Result<Box<dyn AesKey>> {
        let value = attrs.get(CKA_VALUE).ok_or_else(|| err(CKR_KEY_HANDLE_INVALID, "the key has no value"))?;
        provider.aes_key(value)
    };
    match obj.cache.get() {
        // Another family cached its own form of this object: work uncached.
        Some(c) if !(**c).is::<Box<dyn AesKey>>() => Ok(Arc::new(parse(&obj.attrs)?)),
        _ => obj.parsed(parse),
    }
}

/// `C_EncryptInit` (and `C_WrapKey`) for every AES cipher mechanism.
fn encrypt(provider: &dyn Provider, mech: &Mechanism, obj: &Object) -> Result<Box<dyn CryptOp>> {
    crypt(provider, mech, obj, true)
}

/// `C_DecryptInit` (and `C_UnwrapKey`) for every AES cipher mechanism.
fn decrypt(provider: &dyn Provider, mech: &Mechanism, obj: &Object) -> Result<Box<dyn CryptOp>> {
    crypt(provider, mech, obj, false)
}

fn crypt(provider: &dyn Provider, mech: &Mechanism, obj: &Object, encrypt: bool) -> Result<Box<dyn CryptOp>> {
    // Parameters are checked before the key is prepared.
    let op: Box<dyn CryptOp> = match mech.ty {
        CKM_AES_ECB => {
            mech.no_parameter()?;
            Box::new(BlockOp::new(key(provider, obj)?, Mode::Ecb, encrypt, [0; BLOCK]))
        }
        CKM_AES_CBC | CKM_AES_CBC_PAD => {
            let iv = match &mech.param {
                Param::Bytes(iv) if iv.len() == BLOCK => iv.as_slice().try_into().expect("16 bytes"),
                _ => return Err(mech.bad_param("the parameter is a 16-byte IV")),
            };
            let mode = if mech.ty == CKM_AES_CBC { Mode::Cbc } else { Mode::CbcPad };
            Box::new(BlockOp::new(key(provider, obj)?, mode, encrypt, iv))
        }
        CKM_AES_CTR => ctr::op(mech, || key(provider, obj))?,
        CKM_AES_GCM => gcm::op(mech, encrypt, || key(provider, obj))?,
        CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_KWP => wrap::op(mech, encrypt, || key(provider, obj))?,
        other => return Err(err(CKR_MECHANISM_INVALID, format!("{} is not an AES cipher", Mech(other)))),
    };
    Ok(op)
}

/// The block modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `CKM_AES_ECB`: whole blocks.
    Ecb,
    /// `CKM_AES_CBC`: whole blocks.
    Cbc,
    /// `CKM_AES_CBC_PAD`: PKCS#7 padding (RFC 5652 §6.3), always 1 to 16 bytes.
    CbcPad,
}

/// ECB, CBC and CBC with PKCS#7 padding, single- and multi-part. Input that does
/// not complete a block waits for the next part.
struct BlockOp {
    key: Arc<Box<dyn AesKey>>,
    mode: Mode,
    encrypt: bool,
    /// The CBC chaining value.
    iv: [u8; BLOCK],
    /// Input not yet processed: less than a block, or (padded decryption) up to
    /// one whole block held back because it may be the last.
    buf: Zeroizing<Vec<u8>>,
}

impl BlockOp {
    fn new(key: Arc<Box<dyn AesKey>>, mode: Mode, encrypt: bool, iv: [u8; BLOCK]) -> Self {
        Self { key, mode, encrypt, iv, buf: Zeroizing::new(Vec::with_capacity(BLOCK)) }
    }

    /// Padded decryption cannot release the last block before `Final`: only then
    /// is it known to be the last, and its padding removed.
    fn holds_back(&self) -> bool {
        self.mode == Mode::CbcPad && !self.encrypt
    }

    /// How many of `total` bytes of input can be processed now.
    fn ready(&self, total: usize) -> usize {
        let whole = total / BLOCK * BLOCK;
        if self.holds_back() && whole == total { whole.saturating_sub(BLOCK) } else { whole }
    }

    fn process(&mut self, data: &mut [u8]) -> Result<()> {
        match (self.mode, self.encrypt) {
            (Mode::Ecb, true) => self.key.ecb_encrypt(data),
            (Mode::Ecb, false) => self.key.ecb_decrypt(data),
            (_, true) => self.key.cbc_encrypt(&mut self.iv, data),
            (_, false) => self.key.cbc_decrypt(&mut self.iv, data),
        }
    }

    fn length_error(&self) -> crate::error::Error {
        if self.encrypt {
            err(CKR_DATA_LEN_RANGE, "the data is not a whole number of AES blocks")
        } else {
            err(CKR_ENCRYPTED_DATA_LEN_RANGE, "the ciphertext is not a whole number of AES blocks")
        }
    }
}

/// Removes PKCS#7 padding from the last block, in time independent of the padding
/// (it is a decryption result). `None` when the padding is malformed.
fn unpad(block: &[u8]) -> Option<usize> {
    let p = block[BLOCK - 1];
    let mut bad = u8::from(p == 0) | u8::from(p as usize > BLOCK);
    for (i, b) in block.iter().enumerate() {
        let in_pad = u8::from(BLOCK - i <= p as usize);
        bad |= in_pad & u8::from(*b != p);
    }
    (std::hint::black_box(bad) == 0).then(|| BLOCK - p as usize)
}

impl CryptOp for BlockOp {
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
            (Mode::CbcPad, true) => BLOCK,
            // At least one byte of the last block is padding.
            (Mode::CbcPad, false) => self.buf.len().saturating_sub(1),
            _ => 0,
        }
    }

    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        match (self.mode, self.encrypt) {
            (Mode::CbcPad, true) => {
                let p = BLOCK - self.buf.len();
                let mut last = std::mem::take(&mut self.buf);
                last.resize(BLOCK, p as u8);
                self.process(&mut last)?;
                Ok(last)
            }
            (Mode::CbcPad, false) => {
                if self.buf.len() != BLOCK {
                    return Err(self.length_error());
                }
                let mut last = std::mem::take(&mut self.buf);
                self.process(&mut last)?;
                let n =
                    unpad(&last).ok_or_else(|| err(CKR_ENCRYPTED_DATA_INVALID, "the PKCS#7 padding is malformed"))?;
                last.truncate(n);
                Ok(last)
            }
            _ if !self.buf.is_empty() => Err(self.length_error()),
            _ => Ok(Zeroizing::new(Vec::new())),
        }
    }

    fn one_shot_len(&self, input_len: usize) -> usize {
        match (self.mode, self.encrypt) {
            (Mode::CbcPad, true) => (input_len / BLOCK + 1) * BLOCK,
            (Mode::CbcPad, false) => input_len.saturating_sub(1),
            _ => input_len,
        }
    }

    fn one_shot(&mut self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let whole = input.len().is_multiple_of(BLOCK);
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
    fn pkcs7_padding_is_checked() {
        let mut b = [7u8; 16];
        assert_eq!(unpad(&b), Some(9));
        b[15] = 16;
        assert_eq!(unpad(&b), None, "not all sixteen bytes are 16");
        assert_eq!(unpad(&[16u8; 16]), Some(0));
        b[15] = 0;
        assert_eq!(unpad(&b), None);
        b[15] = 17;
        assert_eq!(unpad(&b), None);
        let mut c = [0xAAu8; 16];
        c[15] = 1;
        assert_eq!(unpad(&c), Some(15));
        c[14] = 2;
        c[15] = 2;
        assert_eq!(unpad(&c), Some(14));
        c[13] = 3;
        c[14] = 2;
        c[15] = 3;
        assert_eq!(unpad(&c), None);
    }
}
