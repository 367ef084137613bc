//! The mechanism registry: per mechanism its `CK_MECHANISM_INFO`. Each family
//! registers itself; the one list here feeds `C_GetMechanismList`,
//! `C_GetMechanismInfo` and the checks of every `*Init`, so they cannot drift.

pub mod digest;

use std::collections::BTreeMap;

use cryptoki_sys::*;

use crate::crypto::Provider;
use crate::error::{Mech, Result, err};

/// A mechanism as a caller passed it: type and parameter bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mechanism {
    /// `CKM_*`.
    pub ty: CK_MECHANISM_TYPE,
    /// The parameter, copied out of the caller's memory (empty when none).
    pub param: Vec<u8>,
}

impl Mechanism {
    /// Fails unless the mechanism came without a parameter.
    pub fn no_parameter(&self) -> Result<()> {
        if self.param.is_empty() {
            Ok(())
        } else {
            Err(err(CKR_MECHANISM_PARAM_INVALID, format!("{} takes no parameter", Mech(self.ty))))
        }
    }
}

/// Every mechanism this build offers.
pub struct Registry {
    mechs: BTreeMap<CK_MECHANISM_TYPE, CK_MECHANISM_INFO>,
}

impl Registry {
    /// Builds the registry for a provider.
    pub fn new(provider: &dyn Provider) -> Self {
        let mut r = Self { mechs: BTreeMap::new() };
        digest::register(&mut r, provider);
        r
    }

    /// Adds a mechanism.
    pub fn add(&mut self, ty: CK_MECHANISM_TYPE, min: CK_ULONG, max: CK_ULONG, flags: CK_FLAGS) {
        self.mechs.insert(ty, CK_MECHANISM_INFO { ulMinKeySize: min, ulMaxKeySize: max, flags });
    }

    /// `C_GetMechanismList`.
    pub fn list(&self) -> Vec<CK_MECHANISM_TYPE> {
        self.mechs.keys().copied().collect()
    }

    /// `C_GetMechanismInfo`.
    pub fn info(&self, ty: CK_MECHANISM_TYPE) -> Result<CK_MECHANISM_INFO> {
        self.mechs.get(&ty).copied().ok_or_else(|| err(CKR_MECHANISM_INVALID, format!("{} is not supported", Mech(ty))))
    }

    /// Fails unless `ty` is offered for the function `flag` (`CKF_DIGEST`, `CKF_SIGN`, ...).
    pub fn check(&self, ty: CK_MECHANISM_TYPE, flag: CK_FLAGS) -> Result<()> {
        if self.info(ty)?.flags & flag == flag {
            Ok(())
        } else {
            Err(err(CKR_MECHANISM_INVALID, format!("{} does not do this operation", Mech(ty))))
        }
    }
}
