//! Digest mechanisms: SHA-1 and SHA-2.

use cryptoki_sys::*;

use super::Registry;
use crate::crypto::Provider;

/// Registers `CKM_SHA_1` to `CKM_SHA512`.
pub fn register(r: &mut Registry, _provider: &dyn Provider) {
    for m in [CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512] {
        r.add(m, 0, 0, CKF_DIGEST);
    }
}
