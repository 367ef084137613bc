//! `CKM_AES_CMAC` and `CKM_AES_CMAC_GENERAL` (NIST SP 800-38B, RFC 4493): sign and
//! verify, single- and multi-part. The general form takes `CK_MAC_GENERAL_PARAMS`,
//! the MAC length in bytes, 1 to 16; the MAC is the leading bytes of the full one.

use cryptoki_sys::*;

use crate::crypto::Provider;
use crate::crypto::sym::BLOCK;
use crate::error::Result;
use crate::mechanism::hmac::{MacSign, MacVerify};
use crate::mechanism::{Mechanism, Param, SignOp, VerifyOp};
use crate::object::Object;

/// The MAC length the mechanism asks for.
fn mac_len(mech: &Mechanism) -> Result<usize> {
    match (mech.ty, &mech.param) {
        (CKM_AES_CMAC, _) => mech.no_parameter().map(|()| BLOCK),
        (_, Param::Ulong(n)) if (1..=BLOCK as u64).contains(n) => Ok(*n as usize),
        _ => Err(mech.bad_param("the MAC length (CK_MAC_GENERAL_PARAMS) is 1 to 16 bytes")),
    }
}

/// `C_SignInit`.
pub(super) fn sign(provider: &dyn Provider, mech: &Mechanism, obj: &Object) -> Result<Box<dyn SignOp>> {
    let len = mac_len(mech)?;
    Ok(Box::new(MacSign::new(super::key(provider, obj)?.cmac()?, len)))
}

/// `C_VerifyInit`.
pub(super) fn verify(provider: &dyn Provider, mech: &Mechanism, obj: &Object) -> Result<Box<dyn VerifyOp>> {
    let len = mac_len(mech)?;
    Ok(Box::new(MacVerify::new(super::key(provider, obj)?.cmac()?, len)))
}
