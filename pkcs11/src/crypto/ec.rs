//! The provider operations for elliptic curves: P-256, P-384, P-521 (ECDSA, ECDH) and Ed25519.

/// elliptic curves: P-256, P-384, P-521 (ECDSA, ECDH) and Ed25519, as each provider implements them.
pub trait EcOps {}
