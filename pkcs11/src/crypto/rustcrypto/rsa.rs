//! [`crate::crypto::RsaOps`] for RustCrypto.

use super::RustCrypto;
use crate::crypto::RsaOps;

impl RsaOps for RustCrypto {}
