//! `ferrohsm partition create|list|set|delete`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use super::{load, pin, yes_no};
use crate::Failure;
use ferrohsm_tools::error::{Doing, Error};
use ferrohsm_tools::partition::{self, Partition, Policy};
use ferrohsm_tools::token;

/// `partition create`: prints the new partition's slot.
pub fn create(module: Option<&Path>, label: &str, policy: &Policy, so_pin: Option<String>) -> Result<(), Failure> {
    if label.len() > 32 {
        return Err(Failure::Usage(format!("a label is at most 32 bytes; \"{label}\" has {}", label.len())));
    }
    let (path, ctx) = load(module)?;
    let pin = pin::get(so_pin, pin::DEVICE_SO, false)?;
    let session = token::device_so(&ctx, &pin)?;
    let p = partition::create(&session, label, policy)?;
    println!("created partition \"{}\" in slot {}", p.label, p.slot);
    println!("  policy: {}", describe(&p.policy));
    println!(
        "Its token is not initialised yet; its SO does that, e.g.:\n  pkcs11-tool --module {} \
         --slot {} --init-token --label '{}' --so-pin ...",
        path.display(),
        p.slot,
        p.label
    );
    Ok(())
}

/// `partition list`: every partition object on the admin token, no login.
pub fn list(module: Option<&Path>) -> Result<(), Failure> {
    let (_, ctx) = load(module)?;
    let admin = token::admin_slot(&ctx)?;
    let session = ctx.open_ro_session(admin).doing("opening a session on the admin token (C_OpenSession)")?;
    let parts = partition::list(&session)?;
    print_table(&parts);
    Ok(())
}

/// `partition set SLOT`.
pub fn set(
    module: Option<&Path>,
    slot: u64,
    label: Option<&str>,
    policy: &Policy,
    so_pin: Option<String>,
) -> Result<(), Failure> {
    if policy.is_empty() && label.is_none() {
        return Err(Failure::Usage(
            "nothing to change: give --label or a policy flag (--min-pin-len, \
             --max-pin-failures, --read-only, --allow-export, --key-invalidation)"
                .into(),
        ));
    }
    if let Some(l) = label
        && l.len() > 32
    {
        return Err(Failure::Usage(format!("a label is at most 32 bytes; \"{l}\" has {}", l.len())));
    }
    let (_, ctx) = load(module)?;
    let pin = pin::get(so_pin, pin::DEVICE_SO, false)?;
    let session = token::device_so(&ctx, &pin)?;
    let p = partition::find(&session, slot)?;
    partition::update(&session, &p, label, policy)?;
    let now = partition::read(&session, p.handle)?;
    println!("partition {} \"{}\" changed", now.slot, now.label);
    println!("  policy: {}", describe(&now.policy));
    Ok(())
}

/// `partition delete SLOT`.
pub fn delete(module: Option<&Path>, slot: u64, yes: bool, so_pin: Option<String>) -> Result<(), Failure> {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(
            "deleting a partition destroys all its objects: pass --yes to confirm \
             (no terminal to ask on)"
                .into(),
        ));
    }
    let (_, ctx) = load(module)?;
    let pin = pin::get(so_pin, pin::DEVICE_SO, false)?;
    let session = token::device_so(&ctx, &pin)?;
    let p = partition::find(&session, slot)?;
    if !p.destroyable {
        return Err(Error::Other(format!(
            "partition {slot} \"{}\" cannot be removed (CKA_DESTROYABLE is false: it is the \
             admin token)",
            p.label
        ))
        .into());
    }
    if !yes && !confirm(&p)? {
        println!("not deleted");
        return Ok(());
    }
    partition::delete(&session, &p)?;
    println!("deleted partition {} \"{}\"", p.slot, p.label);
    Ok(())
}

fn confirm(p: &Partition) -> Result<bool, Failure> {
    print!("Delete partition {} \"{}\" and every object in it? Type the slot number to confirm: ", p.slot, p.label);
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Run(Error::Other(format!("reading the answer: {e}"))))?;
    Ok(line.trim() == p.slot.to_string())
}

fn show<T: ToString>(v: Option<T>) -> String {
    v.map_or("?".into(), |v| v.to_string())
}

fn show_bool(v: Option<bool>) -> String {
    v.map_or("?".into(), |b| yes_no(b).into())
}

/// A policy on one line.
fn describe(p: &Policy) -> String {
    format!(
        "min PIN length {}, max PIN failures {}, read-only {}, allow export {}, key invalidation {}",
        show(p.min_pin_len),
        show(p.max_pin_failures),
        show_bool(p.read_only),
        show_bool(p.allow_export),
        show_bool(p.key_invalidation)
    )
}

fn print_table(parts: &[Partition]) {
    let width = parts.iter().map(|p| p.label.chars().count()).max().unwrap_or(0).max("LABEL".len());
    let h = ["SLOT", "LABEL", "MIN-PIN", "MAX-FAILURES", "READ-ONLY", "ALLOW-EXPORT", "KEY-INVALIDATION"];
    println!("{:<6} {:<width$}  {:>7}  {:>12}  {:<9}  {:<12}  {}", h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
    for p in parts {
        let label = if p.label.is_empty() && !p.destroyable { "(admin)".to_string() } else { p.label.clone() };
        println!(
            "{:<6} {:<width$}  {:>7}  {:>12}  {:<9}  {:<12}  {}",
            p.slot,
            label,
            show(p.policy.min_pin_len),
            show(p.policy.max_pin_failures),
            show_bool(p.policy.read_only),
            show_bool(p.policy.allow_export),
            show_bool(p.policy.key_invalidation),
        );
    }
}
