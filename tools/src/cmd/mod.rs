//! The commands, one file each, and the PIN prompt they share.

pub mod attest;
pub mod audit;
pub mod csr;
pub mod device;
pub mod keys;
pub mod partition;
pub mod pin;
pub mod serve;
pub mod status;
pub mod timestamp;

use std::path::{Path, PathBuf};

use cryptoki::context::Pkcs11;
use ferrohsm_tools::Result;
use ferrohsm_tools::module;

/// Finds and loads the module.
pub fn load(explicit: Option<&Path>) -> Result<(PathBuf, Pkcs11)> {
    let path = module::find(explicit)?;
    let ctx = module::load(&path)?;
    Ok((path, ctx))
}

/// "yes" or "no".
pub fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
