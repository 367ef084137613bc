//! [`crate::crypto::SymOps`] for RustCrypto.

use super::RustCrypto;
use crate::crypto::SymOps;

impl SymOps for RustCrypto {}
