//! `ferrohsm device init`: `C_InitToken` on the admin token.

use std::path::Path;

use super::{load, pin};
use crate::Failure;
use ferrohsm_tools::error::{Doing, Error};
use ferrohsm_tools::token;

/// Initialises the admin token with `label`, setting the device SO PIN. Refuses an
/// initialised admin token unless `force` (re-initialising needs the current SO PIN
/// and wipes the admin token's objects).
pub fn init(module: Option<&Path>, label: &str, force: bool, so_pin: Option<String>) -> Result<(), Failure> {
    if label.len() > 32 {
        return Err(Failure::Usage(format!("a label is at most 32 bytes; \"{label}\" has {}", label.len())));
    }
    let (_, ctx) = load(module)?;
    let slot = token::admin_slot(&ctx)?;
    let ti = ctx.get_token_info(slot).doing("reading the admin token (C_GetTokenInfo)")?;
    if ti.token_initialized() && !force {
        return Err(Error::Other(format!(
            "the admin token is already initialised (label \"{}\"); re-initialising wipes its \
             objects and needs the current device SO PIN: pass --force to do it",
            ti.label()
        ))
        .into());
    }
    // A new PIN is asked twice; re-initialising asks for the current one, once.
    let pin = pin::get(so_pin, pin::DEVICE_SO, !ti.token_initialized())?;
    ctx.init_token(slot, &token::auth_pin(&pin), label)
        .doing(format!("initialising the admin token, slot {} (C_InitToken)", slot.id()))?;
    println!("admin token (slot {}) initialised with label \"{label}\"; the device SO PIN is set", slot.id());
    Ok(())
}
