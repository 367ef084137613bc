//! Elliptic-curve mechanisms: `CKM_EC_KEY_PAIR_GEN`, `CKM_ECDSA`,
//! `CKM_ECDSA_SHA*`, `CKM_ECDH1_DERIVE`, `CKM_ECDH1_COFACTOR_DERIVE`,
//! `CKM_EC_EDWARDS_KEY_PAIR_GEN`, `CKM_EDDSA`; EC key import checks and PKCS#8.

use cryptoki_sys::*;

use super::Registry;
use crate::crypto::Provider;
use crate::error::{Result, err};
use crate::object::{Attrs, Object, Shape};

/// Registers the EC mechanisms.
pub fn register(_r: &mut Registry, _provider: &dyn Provider) {}

/// Checks an imported EC or Edwards key and fills `CKA_PUBLIC_KEY_INFO`.
pub fn validate_import(_provider: &dyn Provider, _shape: Shape, _attrs: &mut Attrs) -> Result<()> {
    Ok(())
}

/// An EC or Edwards private key as PKCS#8 DER.
pub fn encode_private_key(_provider: &dyn Provider, _key: &Object) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    Err(err(CKR_KEY_NOT_WRAPPABLE, "EC keys cannot be wrapped yet"))
}

/// An EC or Edwards private key's attributes from PKCS#8 DER.
pub fn decode_private_key(_provider: &dyn Provider, _key_type: CK_KEY_TYPE, _der: &[u8]) -> Result<Attrs> {
    Err(err(CKR_WRAPPED_KEY_INVALID, "EC keys cannot be unwrapped yet"))
}
