//! ferrohsm's tools as a library: finding and loading the module, slot and session
//! helpers, and partition management, all through PKCS#11 (the `cryptoki` crate).
//!
//! The `ferrohsm` command line is a thin layer over this, and so is the attestation
//! verifier that a CA can call offline ([`verify`]).
//!
//! - [`module`]: where the module is and how it is loaded.
//! - [`attest`]: key attestations, the chain and attested requests through PKCS#11.
//! - [`audit`]: log, device and partition attestations through PKCS#11, and the
//!   export of the audit log.
//! - [`token`]: slots, the admin token, sessions with a role logged in, counting.
//! - [`partition`]: `CKO_FERRO_PARTITION` objects on the admin token.
//! - [`timestamp`]: RFC 3161 timestamps by a partition's timestamp key.
//! - [`vendor`]: the vendor constants and raw attribute helpers.
//! - [`error`]: one error type; each `CK_RV` in plain words.
//! - [`verify`]: the attestation verifier (certificates, CMS evidence, attested
//!   requests, device, partition and log attestations, exported logs), independent
//!   of the module's own attestation code.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attest;
pub mod audit;
pub mod error;
pub mod module;
pub mod partition;
pub mod timestamp;
pub mod token;
pub mod vendor;
pub mod verify;

pub use error::{Error, Result};
