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

use super::block::{BlockCipher, BlockOp, Mode};
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

impl BlockCipher<BLOCK> for Box<dyn AesKey> {
    const NAME: &'static str = "AES";
    fn ecb_encrypt(&self, data: &mut [u8]) -> Result<()> {
        (**self).ecb_encrypt(data)
    }
    fn ecb_decrypt(&self, data: &mut [u8]) -> Result<()> {
        (**self).ecb_decrypt(data)
    }
    fn cbc_encrypt(&self, iv: &mut [u8; BLOCK], data: &mut [u8]) -> Result<()> {
        (**self).cbc_encrypt(iv, data)
    }
    fn cbc_decrypt(&self, iv: &mut [u8; BLOCK], data: &mut [u8]) -> Result<()> {
        (**self).cbc_decrypt(iv, data)
    }
}
