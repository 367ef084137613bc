//! `ferrohsm status`: the store, the module, the library, and every slot.

use std::path::Path;

use cryptoki::context::Pkcs11;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::slot::{Slot, TokenInfo};

use super::pin;
use super::yes_no;
use crate::Failure;
use ferrohsm_tools::error::{Doing, Error, Result};
use ferrohsm_tools::token;

/// Runs `status`. With `login_slot`, also logs in as user there (PIN from `pin_flag`,
/// the environment or the terminal) and counts private objects.
pub fn run(module: Option<&Path>, login_slot: Option<u64>, pin_flag: Option<String>) -> Result<(), Failure> {
    let settings = ferrohsm_store::config::resolve().map_err(|e| Error::Other(format!("finding the store: {e}")))?;
    println!("store:   {}", settings.store.display());
    if let Some(c) = &settings.config_path {
        println!("config:  {}", c.display());
    }
    let (path, ctx) = super::load(module)?;
    println!("module:  {}", path.display());
    let info = ctx.get_library_info().doing("reading library info (C_GetInfo)")?;
    println!(
        "library: {} {} by {} (Cryptoki {})",
        info.library_description(),
        info.library_version(),
        info.manufacturer_id(),
        info.cryptoki_version()
    );

    let slots = ctx.get_all_slots().doing("listing slots (C_GetSlotList)")?;
    if let Some(n) = login_slot
        && !slots.iter().any(|s| s.id() == n)
    {
        return Err(Error::NotFound(format!("no slot {n} in this store")).into());
    }
    // Ask for the PIN before printing slots, so the prompt does not land mid-table.
    let pin = match login_slot {
        Some(_) => Some(pin::get(pin_flag, pin::USER, false)?),
        None => None,
    };
    println!("slots:   {}", slots.len());

    let mut failed = None;
    for slot in slots {
        let pin = pin.as_ref().map(|p| p.as_str()).filter(|_| login_slot == Some(slot.id()));
        if let Err(e) = show_slot(&ctx, slot, pin) {
            // Keep going: the other slots are still worth seeing. The first error is
            // reported at the end (and sets the exit status); any later ones now.
            if failed.is_some() {
                eprintln!("ferrohsm: {e}");
            } else {
                failed = Some(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn show_slot(ctx: &Pkcs11, slot: Slot, user_pin: Option<&str>) -> Result<()> {
    let id = slot.id();
    let si = ctx.get_slot_info(slot).doing(format!("reading slot {id} (C_GetSlotInfo)"))?;
    println!();
    println!("slot {id}: {}", si.slot_description());
    let ti = ctx.get_token_info(slot).doing(format!("reading the token in slot {id} (C_GetTokenInfo)"))?;
    if !ti.token_initialized() {
        println!("  token:        uninitialised (serial {})", ti.serial_number());
        return Ok(());
    }
    println!("  token:        \"{}\" (serial {}, model {})", ti.label(), ti.serial_number(), ti.model());
    println!("  initialised:  yes");
    println!("  user PIN:     {}", if ti.user_pin_initialized() { "set" } else { "not set" });
    println!("  PIN flags:    {}", pin_flags(&ti));
    println!("  read-only:    {}", yes_no(ti.write_protected()));
    println!(
        "  sessions:     {} ({} read/write)",
        ti.session_count().map_or("?".into(), |n| n.to_string()),
        ti.rw_session_count().map_or("?".into(), |n| n.to_string())
    );

    let session = ctx.open_ro_session(slot).doing(format!("opening a session on slot {id} (C_OpenSession)"))?;
    let public = token::count(&session, &[])?;
    let Some(pin) = user_pin else {
        println!("  objects:      {public} public");
        return Ok(());
    };
    match token::login(ctx, &session, slot, UserType::User, pin, "user") {
        Ok(()) => {
            let private = token::count(&session, &[Attribute::Private(true)])?;
            println!("  objects:      {public} public, {private} private");
            // Logging out is tidy but not essential: closing the session does it.
            let _ = session.logout();
            Ok(())
        }
        Err(e) => {
            println!("  objects:      {public} public (private: not counted)");
            Err(e)
        }
    }
}

/// The PIN state flags of a token, in words.
fn pin_flags(ti: &TokenInfo) -> String {
    let flags = [
        (ti.user_pin_locked(), "user PIN locked"),
        (ti.user_pin_final_try(), "user PIN final try"),
        (ti.user_pin_count_low(), "user PIN count low"),
        (ti.user_pin_to_be_changed(), "user PIN to be changed"),
        (ti.so_pin_locked(), "SO PIN locked"),
        (ti.so_pin_final_try(), "SO PIN final try"),
        (ti.so_pin_count_low(), "SO PIN count low"),
        (ti.so_pin_to_be_changed(), "SO PIN to be changed"),
    ];
    let on: Vec<&str> = flags.iter().filter(|f| f.0).map(|f| f.1).collect();
    if on.is_empty() { "none".into() } else { on.join(", ") }
}
