//! `ferrohsm keys trash|restore|purge`: the partition SO's side of key invalidation
//! (docs/policy.md). With `CKA_FERRO_POLICY_KEY_INVALIDATION` on, a user's
//! `C_DestroyObject` of a token key invalidates it; the SO lists such keys (metadata
//! only), restores one, or purges it for good.

use std::path::Path;

use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::{Session, UserType};

use super::{load, pin};
use crate::Failure;
use ferrohsm_tools::error::{Doing, Error};
use ferrohsm_tools::token;
use ferrohsm_tools::vendor::{CKA_FERRO_INVALIDATED, bool_attr};

/// One invalidated key, as the SO sees it.
struct Trashed {
    handle: ObjectHandle,
    unique_id: String,
    class: String,
    key_type: String,
    label: String,
    id: String,
}

fn so_session(module: Option<&Path>, slot: u64, so_pin: Option<String>) -> Result<Session, Failure> {
    let (_, ctx) = load(module)?;
    let pin = pin::get(so_pin, pin::PARTITION_SO, false)?;
    let s = token::slot(&ctx, slot)?;
    Ok(token::login_rw(&ctx, s, UserType::So, &pin, "the partition SO")?)
}

fn trashed(session: &Session) -> Result<Vec<Trashed>, Error> {
    let handles = session
        .find_objects(&[bool_attr(CKA_FERRO_INVALIDATED, true)])
        .doing("finding the invalidated keys (C_FindObjects)")?;
    let mut out = Vec::new();
    for handle in handles {
        let attrs = session
            .get_attributes(
                handle,
                &[
                    AttributeType::UniqueId,
                    AttributeType::Class,
                    AttributeType::KeyType,
                    AttributeType::Label,
                    AttributeType::Id,
                ],
            )
            .doing("reading an invalidated key's attributes (C_GetAttributeValue)")?;
        let mut t = Trashed {
            handle,
            unique_id: String::new(),
            class: String::new(),
            key_type: String::new(),
            label: String::new(),
            id: String::new(),
        };
        for a in attrs {
            match a {
                Attribute::UniqueId(v) => t.unique_id = String::from_utf8_lossy(&v).into_owned(),
                Attribute::Class(c) => t.class = c.to_string(),
                Attribute::KeyType(k) => t.key_type = k.to_string(),
                Attribute::Label(v) => t.label = String::from_utf8_lossy(&v).into_owned(),
                Attribute::Id(v) => t.id = v.iter().map(|b| format!("{b:02x}")).collect(),
                _ => {}
            }
        }
        out.push(t);
    }
    Ok(out)
}

fn find(session: &Session, unique_id: &str) -> Result<Trashed, Failure> {
    trashed(session)?.into_iter().find(|t| t.unique_id == unique_id).ok_or_else(|| {
        Failure::Usage(format!(
            "no invalidated key with unique id {unique_id} in this partition (`ferrohsm keys trash` lists them)"
        ))
    })
}

/// `keys trash --slot N`: the partition's invalidated keys.
pub fn trash(module: Option<&Path>, slot: u64, so_pin: Option<String>) -> Result<(), Failure> {
    let session = so_session(module, slot, so_pin)?;
    let keys = trashed(&session)?;
    if keys.is_empty() {
        println!("no invalidated keys in slot {slot}");
        return Ok(());
    }
    println!("{:<32} {:<16} {:<8} {:<10} label", "unique id", "class", "type", "id");
    for k in &keys {
        println!("{:<32} {:<16} {:<8} {:<10} {}", k.unique_id, k.class, k.key_type, k.id, k.label);
    }
    println!("{} invalidated key(s): `ferrohsm keys restore` or `ferrohsm keys purge` with a unique id", keys.len());
    Ok(())
}

/// `keys restore --slot N UNIQUE_ID`: `C_SetAttributeValue(CKA_FERRO_INVALIDATED = false)`.
pub fn restore(module: Option<&Path>, slot: u64, unique_id: &str, so_pin: Option<String>) -> Result<(), Failure> {
    let session = so_session(module, slot, so_pin)?;
    let k = find(&session, unique_id)?;
    session
        .update_attributes(k.handle, &[bool_attr(CKA_FERRO_INVALIDATED, false)])
        .doing("restoring the key (C_SetAttributeValue of CKA_FERRO_INVALIDATED)")?;
    println!("restored the {} \"{}\" ({unique_id}): its users find and use it again", k.class, k.label);
    Ok(())
}

/// `keys purge --slot N UNIQUE_ID`: `C_DestroyObject` of an invalidated key, as the SO.
pub fn purge(module: Option<&Path>, slot: u64, unique_id: &str, so_pin: Option<String>) -> Result<(), Failure> {
    let session = so_session(module, slot, so_pin)?;
    let k = find(&session, unique_id)?;
    session.destroy_object(k.handle).doing("purging the key (C_DestroyObject)")?;
    println!("purged the {} \"{}\" ({unique_id}): it is gone for good", k.class, k.label);
    Ok(())
}
