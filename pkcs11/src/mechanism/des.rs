//! Triple DES mechanisms (PKCS#11 v3.0 current mechanisms, "Triple-DES" and "DES3
//! CMAC"), for card management: `CKM_DES2_KEY_GEN`, `CKM_DES3_KEY_GEN`,
//! `CKM_DES3_ECB`, `CKM_DES3_CBC`, `CKM_DES3_CBC_PAD`, `CKM_DES3_CMAC` and
//! `CKM_DES3_CMAC_GENERAL`, on keys of type `CKK_DES2` (16 bytes, K1 K2 K1) and
//! `CKK_DES3` (24 bytes).
//!
//! - `CK_MECHANISM_INFO` gives key sizes in bytes, as for AES: 16 for DES2 key
//!   generation, 24 for DES3, 16 to 24 for the ciphers and MACs.
//! - Parity: generated keys have odd parity (FIPS 46-3). Imported and derived keys
//!   are kept byte for byte as given: the cipher ignores the parity bits, so a key
//!   with wrong parity encrypts exactly as its corrected form, and its check value
//!   is the same; keeping the bytes means `CKA_VALUE` (when readable) is what the
//!   caller imported or what the derivation computed.
//! - Generation refuses degenerate keys (K1 = K2, or K2 = K3), which would be
//!   single DES; with random keys that happens with probability 2^-56 and is
//!   drawn again.
//! - Wrapping with 3DES is not offered (no `CKF_WRAP`).
//!
//! The block cipher is [`crate::crypto::des`], shared by both providers.

use std::sync::Arc;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::block::{BlockCipher, BlockOp, Mode};
use super::hmac::{MacSign, MacVerify};
use super::{CryptOp, Entry, Mechanism, Param, Registry, SignOp, VerifyOp};
use crate::crypto::Provider;
use crate::crypto::des::{DES_BLOCK, Des3Key, set_odd_parity};
use crate::error::{Mech, Result, err};
use crate::object::{Attrs, Object};

/// Smallest 3DES key (two-key), in bytes.
pub const MIN_KEY: CK_ULONG = 16;
/// Largest 3DES key (three-key), in bytes.
pub const MAX_KEY: CK_ULONG = 24;
/// The key types every 3DES mechanism takes.
pub const DES3_KEYS: &[CK_KEY_TYPE] = &[CKK_DES2, CKK_DES3];

/// The length in bytes of a key of type `kt`, for the key types whose length the
/// type fixes (the derivation mechanisms need it when a template has no
/// `CKA_VALUE_LEN`).
pub fn fixed_key_len(kt: CK_KEY_TYPE) -> Option<usize> {
    match kt {
        CKK_DES2 => Some(16),
        CKK_DES3 => Some(24),
        _ => None,
    }
}

/// Registers the 3DES mechanisms.
pub fn register(r: &mut Registry, _provider: &dyn Provider) {
    r.insert(CKM_DES2_KEY_GEN, Entry { generate_key: Some((CKK_DES2, generate)), ..Entry::new(16, 16, CKF_GENERATE) });
    r.insert(CKM_DES3_KEY_GEN, Entry { generate_key: Some((CKK_DES3, generate)), ..Entry::new(24, 24, CKF_GENERATE) });
    for ty in [CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_CBC_PAD] {
        r.insert(
            ty,
            Entry {
                key_types: DES3_KEYS,
                encrypt: Some(encrypt),
                decrypt: Some(decrypt),
                ..Entry::new(MIN_KEY, MAX_KEY, CKF_ENCRYPT | CKF_DECRYPT)
            },
        );
    }
    for ty in [CKM_DES3_CMAC, CKM_DES3_CMAC_GENERAL] {
        r.insert(
            ty,
            Entry {
                key_types: DES3_KEYS,
                sign: Some(sign),
                verify: Some(verify),
                ..Entry::new(MIN_KEY, MAX_KEY, CKF_SIGN | CKF_VERIFY)
            },
        );
    }
}

/// `CKM_DES2_KEY_GEN` and `CKM_DES3_KEY_GEN`: the length is the type's; a
/// `CKA_VALUE_LEN` in the template must agree with it.
fn generate(provider: &dyn Provider, mech: &Mechanism, attrs: &Attrs) -> Result<Zeroizing<Vec<u8>>> {
    mech.no_parameter()?;
    let len = if mech.ty == CKM_DES2_KEY_GEN { 16 } else { 24 };
    if attrs.ulong(CKA_VALUE_LEN).is_some_and(|n| n != len as u64) {
        return Err(err(CKR_TEMPLATE_INCONSISTENT, format!("CKA_VALUE_LEN: {} makes {len}-byte keys", Mech(mech.ty))));
    }
    let mut value = Zeroizing::new(vec![0u8; len]);
    loop {
        provider.fill_random(&mut value);
        set_odd_parity(&mut value);
        let k: Vec<&[u8]> = value.chunks(DES_BLOCK).collect();
        if k[0] != k[1] && k.get(2).is_none_or(|k3| *k3 != k[1]) {
            return Ok(value);
        }
    }
}

/// The prepared form of a 3DES key object, made once and cached with the object.
pub(crate) fn key(provider: &dyn Provider, obj: &Object) -> Result<Arc<Des3Key>> {
    let parse = |attrs: &Attrs| -> Result<Des3Key> {
        let value = attrs.get(CKA_VALUE).ok_or_else(|| err(CKR_KEY_HANDLE_INVALID, "the key has no value"))?;
        provider.des3_key(value)
    };
    match obj.cache.get() {
        // Another family cached its own form of this object: work uncached.
        Some(c) if !(**c).is::<Des3Key>() => Ok(Arc::new(parse(&obj.attrs)?)),
        _ => obj.parsed(parse),
    }
}

/// `C_EncryptInit` for the 3DES ciphers.
fn encrypt(provider: &dyn Provider, mech: &Mechanism, obj: &Object) -> Result<Box<dyn CryptOp>> {
    crypt(provider, mech, obj, true)
}

/// `C_DecryptInit` for the 3DES ciphers.
fn decrypt(provider: &dyn Provider, mech: &Mechanism, obj: &Object) -> Result<Box<dyn CryptOp>> {
    crypt(provider, mech, obj, false)
}

fn crypt(provider: &dyn Provider, mech: &Mechanism, obj: &Object, encrypt: bool) -> Result<Box<dyn CryptOp>> {
    let (mode, iv) = match mech.ty {
        CKM_DES3_ECB => {
            mech.no_parameter()?;
            (Mode::Ecb, [0; DES_BLOCK])
        }
        CKM_DES3_CBC | CKM_DES3_CBC_PAD => {
            let iv = match &mech.param {
                Param::Bytes(iv) if iv.len() == DES_BLOCK => iv.as_slice().try_into().expect("8 bytes"),
                _ => return Err(mech.bad_param("the parameter is an 8-byte IV")),
            };
            (if mech.ty == CKM_DES3_CBC { Mode::Cbc } else { Mode::CbcPad }, iv)
        }
        other => return Err(err(CKR_MECHANISM_INVALID, format!("{} is not a 3DES cipher", Mech(other)))),
    };
    Ok(Box::new(BlockOp::new(key(provider, obj)?, mode, encrypt, iv)))
}

impl BlockCipher<DES_BLOCK> for Des3Key {
    const NAME: &'static str = "3DES";
    fn ecb_encrypt(&self, data: &mut [u8]) -> Result<()> {
        Des3Key::ecb_encrypt(self, data);
        Ok(())
    }
    fn ecb_decrypt(&self, data: &mut [u8]) -> Result<()> {
        Des3Key::ecb_decrypt(self, data);
        Ok(())
    }
    fn cbc_encrypt(&self, iv: &mut [u8; DES_BLOCK], data: &mut [u8]) -> Result<()> {
        Des3Key::cbc_encrypt(self, iv, data);
        Ok(())
    }
    fn cbc_decrypt(&self, iv: &mut [u8; DES_BLOCK], data: &mut [u8]) -> Result<()> {
        Des3Key::cbc_decrypt(self, iv, data);
        Ok(())
    }
}

/// The MAC length a CMAC mechanism asks for: 8, or `CK_MAC_GENERAL_PARAMS` 1 to 8.
fn mac_len(mech: &Mechanism) -> Result<usize> {
    match (mech.ty, &mech.param) {
        (CKM_DES3_CMAC, _) => mech.no_parameter().map(|()| DES_BLOCK),
        (_, Param::Ulong(n)) if (1..=DES_BLOCK as u64).contains(n) => Ok(*n as usize),
        _ => Err(mech.bad_param("the MAC length (CK_MAC_GENERAL_PARAMS) is 1 to 8 bytes")),
    }
}

/// `C_SignInit` for `CKM_DES3_CMAC` and `CKM_DES3_CMAC_GENERAL`.
fn sign(provider: &dyn Provider, mech: &Mechanism, obj: &Object) -> Result<Box<dyn SignOp>> {
    let len = mac_len(mech)?;
    Ok(Box::new(MacSign::new(key(provider, obj)?.cmac(), len)))
}

/// `C_VerifyInit` for `CKM_DES3_CMAC` and `CKM_DES3_CMAC_GENERAL`.
fn verify(provider: &dyn Provider, mech: &Mechanism, obj: &Object) -> Result<Box<dyn VerifyOp>> {
    let len = mac_len(mech)?;
    Ok(Box::new(MacVerify::new(key(provider, obj)?.cmac(), len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_odd_parity_and_distinct_halves() {
        for name in crate::crypto::available() {
            let p = crate::crypto::select(Some(name)).unwrap();
            for ty in [CKM_DES2_KEY_GEN, CKM_DES3_KEY_GEN] {
                let k = generate(p.as_ref(), &Mechanism::new(ty), &Attrs::default()).unwrap();
                assert_eq!(k.len(), if ty == CKM_DES2_KEY_GEN { 16 } else { 24 });
                assert!(crate::crypto::des::has_odd_parity(&k));
                assert_ne!(k[..8], k[8..16]);
            }
        }
    }
}
