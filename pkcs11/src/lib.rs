//! ferrohsm's PKCS#11 module.
//!
//! Layers, outside in: [`ffi`] (the C ABI: pointers, panics, `CK_RV`) → [`token`]
//! (slots, sessions, login; the safe function behind each `C_*`) → [`object`]
//! (classes and the attribute rule table) → [`mechanism`] (the registry) →
//! [`crypto`] (the provider trait) → `ferrohsm_store`.
//!
//! Only `ffi` may opt out of `deny(unsafe_code)`.

#![deny(unsafe_code)]
#![warn(missing_docs)]
// `CK_ULONG` is `u64` on this platform but `u32` on others: the casts are for portability.
#![allow(clippy::unnecessary_cast)]

pub mod attest;
pub mod crypto;
pub mod error;
pub mod ffi;
mod logging;
pub mod mechanism;
pub mod module;
mod names;
pub mod object;
pub mod rpc;
mod time;
pub mod token;
pub mod vendor;
