//! AES mechanisms: `CKM_AES_KEY_GEN`, `CKM_AES_ECB`, `CKM_AES_CBC`,
//! `CKM_AES_CBC_PAD`, `CKM_AES_CTR`, `CKM_AES_GCM`, `CKM_AES_KEY_WRAP`,
//! `CKM_AES_KEY_WRAP_KWP`, `CKM_AES_CMAC` and `CKM_AES_CMAC_GENERAL`.

use super::Registry;
use crate::crypto::Provider;

/// Registers the AES mechanisms.
pub fn register(_r: &mut Registry, _provider: &dyn Provider) {}
