//! Slots, tokens and sessions.

use cryptoki::context::Pkcs11;
use cryptoki::error::RvError;
use cryptoki::object::Attribute;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use crate::error::{Doing, Error, Result};
use crate::vendor::ADMIN_SLOT;

/// The slot with this id, if the module lists it.
pub fn slot(ctx: &Pkcs11, id: u64) -> Result<Slot> {
    ctx.get_all_slots()
        .doing("listing slots (C_GetSlotList)")?
        .into_iter()
        .find(|s| s.id() == id)
        .ok_or_else(|| Error::NotFound(format!("no slot {id} in this store")))
}

/// The model the module gives its admin token (`CK_TOKEN_INFO.model`).
pub const ADMIN_MODEL: &str = "ferrohsm admin";

/// The admin token's slot: slot 65535 on the module itself (and through `ferrohsm
/// serve`, which keeps slot ids); through a proxy that numbers the slots its own way
/// (p11-kit's own server numbers them from 0x11), the slot whose token has the model
/// [`ADMIN_MODEL`].
pub fn admin_slot(ctx: &Pkcs11) -> Result<Slot> {
    if let Ok(s) = slot(ctx, ADMIN_SLOT) {
        return Ok(s);
    }
    let slots = ctx.get_slots_with_token().doing("listing slots (C_GetSlotList)")?;
    slots.into_iter().find(|s| ctx.get_token_info(*s).is_ok_and(|t| t.model() == ADMIN_MODEL)).ok_or_else(|| {
        Error::Unexpected(format!(
            "the module lists no admin token (slot {ADMIN_SLOT}, or a token of model \"{ADMIN_MODEL}\"): \
             is this the ferrohsm module?"
        ))
    })
}

/// Makes a [`AuthPin`] from a PIN held by the caller.
///
/// The copy has exactly the PIN's length, so turning it into the boxed secret does
/// not reallocate (and leave an unzeroed buffer behind); `AuthPin` zeroizes on drop.
pub fn auth_pin(pin: &str) -> AuthPin {
    AuthPin::from(pin)
}

/// A read/write session on `slot` with `role` logged in.
///
/// `who` names the role in messages ("device SO", "partition SO", "user").
pub fn login_rw(ctx: &Pkcs11, slot: Slot, role: UserType, pin: &str, who: &str) -> Result<Session> {
    let session =
        ctx.open_rw_session(slot).doing(format!("opening a session on slot {} (C_OpenSession)", slot.id()))?;
    login(ctx, &session, slot, role, pin, who)?;
    Ok(session)
}

/// `C_Login` on `session` (of `slot`). After a wrong PIN, the error says what the
/// token's flags now tell about that PIN (count low, final try, locked).
pub fn login(ctx: &Pkcs11, session: &Session, slot: Slot, role: UserType, pin: &str, who: &str) -> Result<()> {
    let r =
        session.login(role, Some(&auth_pin(pin))).doing(format!("logging in as {who} on slot {} (C_Login)", slot.id()));
    match r {
        Err(Error::Pkcs11 { doing, rv: rv @ RvError::PinIncorrect, note: None }) => {
            Err(Error::Pkcs11 { doing, rv, note: pin_state(ctx, slot, role) })
        }
        r => r,
    }
}

/// What the token's flags say about the PIN of `role`, when they say anything.
pub fn pin_state(ctx: &Pkcs11, slot: Slot, role: UserType) -> Option<String> {
    let ti = ctx.get_token_info(slot).ok()?;
    let (whose, locked, final_try, low) = match role {
        UserType::So => ("SO", ti.so_pin_locked(), ti.so_pin_final_try(), ti.so_pin_count_low()),
        _ => ("user", ti.user_pin_locked(), ti.user_pin_final_try(), ti.user_pin_count_low()),
    };
    if locked {
        Some(format!("the {whose} PIN is now locked"))
    } else if final_try {
        Some(format!("one more wrong {whose} PIN locks it"))
    } else if low {
        Some(format!("the {whose} PIN has failed logins on record"))
    } else {
        None
    }
}

/// A read/write session on the admin token with the device SO logged in.
pub fn device_so(ctx: &Pkcs11, so_pin: &str) -> Result<Session> {
    let slot = admin_slot(ctx)?;
    let info = ctx.get_token_info(slot).doing("reading the admin token (C_GetTokenInfo)")?;
    if !info.token_initialized() {
        return Err(Error::Other(
            "the admin token is not initialised: run `ferrohsm device init --label NAME` first".into(),
        ));
    }
    login_rw(ctx, slot, UserType::So, so_pin, "device SO")
}

/// How many objects `session` finds with `template` (`C_FindObjects`).
pub fn count(session: &Session, template: &[Attribute]) -> Result<usize> {
    Ok(session.find_objects(template).doing("counting objects (C_FindObjects)")?.len())
}
