//! RSA mechanisms: `CKM_RSA_PKCS_KEY_PAIR_GEN`, `CKM_RSA_PKCS`, `CKM_RSA_X_509`,
//! `CKM_SHA*_RSA_PKCS`, `CKM_RSA_PKCS_PSS` and `CKM_SHA*_RSA_PKCS_PSS`,
//! `CKM_RSA_PKCS_OAEP`; RSA key import checks and PKCS#8 for wrapping.

use cryptoki_sys::*;

use super::Registry;
use crate::crypto::Provider;
use crate::error::{Result, err};
use crate::object::{Attrs, Object, Shape};

/// Registers the RSA mechanisms.
pub fn register(_r: &mut Registry, _provider: &dyn Provider) {}

/// Checks an imported RSA key's components and fills `CKA_PUBLIC_KEY_INFO`.
pub fn validate_import(_provider: &dyn Provider, _shape: Shape, _attrs: &mut Attrs) -> Result<()> {
    Ok(())
}

/// An RSA private key as PKCS#8 DER.
pub fn encode_private_key(_provider: &dyn Provider, _key: &Object) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    Err(err(CKR_KEY_NOT_WRAPPABLE, "RSA keys cannot be wrapped yet"))
}

/// An RSA private key's attributes from PKCS#8 DER.
pub fn decode_private_key(_provider: &dyn Provider, _der: &[u8]) -> Result<Attrs> {
    Err(err(CKR_WRAPPED_KEY_INVALID, "RSA keys cannot be unwrapped yet"))
}
