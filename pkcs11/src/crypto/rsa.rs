//! The provider operations for RSA: key generation, PKCS#1 v1.5, PSS, OAEP, raw RSA, key import checks.

/// RSA: key generation, PKCS#1 v1.5, PSS, OAEP, raw RSA, key import checks, as each provider implements them.
pub trait RsaOps {}
