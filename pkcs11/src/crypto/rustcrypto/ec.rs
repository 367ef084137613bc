//! [`crate::crypto::EcOps`] for RustCrypto.

use super::RustCrypto;
use crate::crypto::EcOps;

impl EcOps for RustCrypto {}
