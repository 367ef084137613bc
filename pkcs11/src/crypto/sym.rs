//! The provider operations for symmetric: AES modes, AES key wrap, CMAC, and HMAC with any key length.

/// symmetric: AES modes, AES key wrap, CMAC, and HMAC with any key length, as each provider implements them.
pub trait SymOps {}
