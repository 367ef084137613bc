//! HMAC and generic secrets: `CKM_GENERIC_SECRET_KEY_GEN`, `CKM_SHA_1_HMAC` to
//! `CKM_SHA512_HMAC` and their `_GENERAL` forms.

use super::Registry;
use crate::crypto::Provider;

/// Registers the HMAC mechanisms.
pub fn register(_r: &mut Registry, _provider: &dyn Provider) {}
