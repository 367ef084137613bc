//! Key derivation by data encryption (PKCS#11 v3.0 current mechanisms, "Key
//! derivation by data encryption – DES & AES"): `CKM_DES3_ECB_ENCRYPT_DATA`,
//! `CKM_DES3_CBC_ENCRYPT_DATA`, `CKM_AES_ECB_ENCRYPT_DATA` and
//! `CKM_AES_CBC_ENCRYPT_DATA`. The derived key's value is the encryption of the
//! parameter's data under the base key; this is how Global Platform and payment
//! systems diversify a master key per card (the card serial encrypted under the
//! master key).
//!
//! - Parameters: `CK_KEY_DERIVATION_STRING_DATA` (ECB), `CK_DES_CBC_ENCRYPT_DATA_PARAMS`
//!   and `CK_AES_CBC_ENCRYPT_DATA_PARAMS` (an IV and the data), decoded into
//!   [`Param::EncryptData`] by the FFI layer.
//! - The data must be a non-empty whole number of blocks (8 bytes for 3DES, 16 for
//!   AES): no padding is applied. Otherwise `CKR_DATA_LEN_RANGE`.
//! - Length: `CKA_VALUE_LEN` from the template, else the length the key type fixes
//!   (DES2 16, DES3 24), else the whole encryption. The value is the leading bytes
//!   of the encryption; asking for more than the data gives is
//!   `CKR_TEMPLATE_INCONSISTENT`.
//! - Attributes and provenance are set by `C_DeriveKey`
//!   ([`crate::token::keys::derive_key`]): `CKA_LOCAL` false, origin derived,
//!   `CKA_ALWAYS_SENSITIVE` and `CKA_NEVER_EXTRACTABLE` only when the base key had
//!   them and the new key keeps them.
//! - A derived 3DES key keeps the bytes computed (no parity adjustment; see
//!   [`super::des`]).

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{Entry, Mechanism, Param, Registry};
use crate::crypto::Provider;
use crate::crypto::des::DES_BLOCK;
use crate::crypto::sym::BLOCK;
use crate::error::{Mech, Result, err};
use crate::object::Object;

/// Registers the four derivation mechanisms.
pub fn register(r: &mut Registry, _provider: &dyn Provider) {
    for ty in [CKM_DES3_ECB_ENCRYPT_DATA, CKM_DES3_CBC_ENCRYPT_DATA] {
        r.insert(
            ty,
            Entry {
                key_types: super::des::DES3_KEYS,
                derive: Some(derive),
                ..Entry::new(super::des::MIN_KEY, super::des::MAX_KEY, CKF_DERIVE)
            },
        );
    }
    for ty in [CKM_AES_ECB_ENCRYPT_DATA, CKM_AES_CBC_ENCRYPT_DATA] {
        r.insert(
            ty,
            Entry {
                key_types: &[CKK_AES],
                derive: Some(derive),
                ..Entry::new(super::aes::MIN_KEY, super::aes::MAX_KEY, CKF_DERIVE)
            },
        );
    }
}

/// `C_DeriveKey`: encrypts the data under the base key and keeps `len` bytes.
fn derive(provider: &dyn Provider, mech: &Mechanism, base: &Object, len: Option<usize>) -> Result<Zeroizing<Vec<u8>>> {
    let (block, cbc) = match mech.ty {
        CKM_DES3_ECB_ENCRYPT_DATA => (DES_BLOCK, false),
        CKM_DES3_CBC_ENCRYPT_DATA => (DES_BLOCK, true),
        CKM_AES_ECB_ENCRYPT_DATA => (BLOCK, false),
        CKM_AES_CBC_ENCRYPT_DATA => (BLOCK, true),
        other => return Err(err(CKR_MECHANISM_INVALID, format!("{} is not an encrypt-data derivation", Mech(other)))),
    };
    let (iv, data) = match &mech.param {
        Param::EncryptData { iv, data } if iv.len() == if cbc { block } else { 0 } => (iv, data),
        _ if cbc => return Err(mech.bad_param("the parameter is an IV of one block and the data")),
        _ => return Err(mech.bad_param("the parameter is CK_KEY_DERIVATION_STRING_DATA")),
    };
    if data.is_empty() || !data.len().is_multiple_of(block) {
        return Err(err(
            CKR_DATA_LEN_RANGE,
            format!("{}: the data is {} bytes, not a whole number of {block}-byte blocks", Mech(mech.ty), data.len()),
        ));
    }
    let mut out = Zeroizing::new(data.clone());
    if block == DES_BLOCK {
        let key = super::des::key(provider, base)?;
        if cbc {
            key.cbc_encrypt(&mut iv.as_slice().try_into().expect("8 bytes"), &mut out);
        } else {
            key.ecb_encrypt(&mut out);
        }
    } else {
        let key = super::aes::key(provider, base)?;
        if cbc {
            key.cbc_encrypt(&mut iv.as_slice().try_into().expect("16 bytes"), &mut out)?;
        } else {
            key.ecb_encrypt(&mut out)?;
        }
    }
    match len {
        Some(n) if n > out.len() => Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            format!("{}: a {n}-byte key from {} bytes of data", Mech(mech.ty), out.len()),
        )),
        Some(n) => {
            out.truncate(n);
            Ok(out)
        }
        None => Ok(out),
    }
}
