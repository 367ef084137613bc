//! Partitions as objects (`CKO_FERRO_PARTITION`).
//!
//! The admin token shows one partition object per partition (itself included); its
//! SO creates a partition with `C_CreateObject`, changes its label and policy with
//! `C_SetAttributeValue` and removes it with `C_DestroyObject`. Each user partition
//! shows its own partition object, which its SO may change. The objects are views of
//! the partition records: they are rebuilt from the store, never stored themselves.
//!
//! Locking: these functions are called with no token lock held, and take one
//! token's lock at a time.

use std::sync::Arc;

use cryptoki_sys::*;
use ferrohsm_store::audit::Value;
use ferrohsm_store::{ADMIN_PARTITION, PartitionRecord};

use super::objects::ctx;
use super::{POLICY_ATTRS, Policy, Session, Token, audit};
use crate::error::{Result, err};
use crate::module::{Module, hex};
use crate::object::attr::{bool_value, ulong_value};
use crate::object::build::{self, Op};
use crate::object::{Attrs, Lifetime, Object, Template};
use crate::vendor::*;

/// The attributes of the partition object for `rec`, as seen from `viewer`.
fn attrs_of(rec: &PartitionRecord, viewer_is_admin: bool) -> Attrs {
    let policy = Policy::of(rec);
    let mut a = Attrs::default();
    a.set(CKA_CLASS, ulong_value(CKO_FERRO_PARTITION as u64));
    a.set(CKA_TOKEN, bool_value(true));
    a.set(CKA_PRIVATE, bool_value(false));
    a.set(CKA_MODIFIABLE, bool_value(true));
    // Only the admin token removes partitions, and never itself.
    a.set(CKA_DESTROYABLE, bool_value(viewer_is_admin && rec.id != ADMIN_PARTITION));
    a.set(CKA_LABEL, rec.label.clone());
    a.set(CKA_UNIQUE_ID, hex(&rec.serial).into_bytes());
    a.set(CKA_FERRO_SLOT_ID, ulong_value(u64::from(rec.id)));
    a.set(CKA_FERRO_POLICY_ALLOW_EXPORT, bool_value(policy.allow_export));
    a.set(CKA_FERRO_POLICY_KEY_INVALIDATION, bool_value(policy.key_invalidation));
    a.set(CKA_FERRO_POLICY_READ_ONLY, bool_value(policy.read_only));
    a.set(CKA_FERRO_POLICY_MAX_PIN_FAILURES, ulong_value(u64::from(policy.max_pin_failures)));
    a.set(CKA_FERRO_POLICY_MIN_PIN_LEN, ulong_value(policy.min_pin_len as u64));
    a
}

/// Puts (or replaces) the object for `rec` in `token`, keeping its handle.
fn show(m: &Module, token: &Token, rec: &PartitionRecord) {
    let mut st = token.write();
    let existing = st.objects.iter().find(|o| o.lifetime == Lifetime::Partition(rec.id)).map(|o| o.handle);
    let handle = existing.unwrap_or_else(|| m.new_handle());
    let attrs = attrs_of(rec, token.admin);
    st.objects.insert(Arc::new(Object::new(handle, Lifetime::Partition(rec.id), attrs)));
}

/// The admin token.
fn admin(m: &Module) -> Result<Arc<Token>> {
    m.token(ADMIN_PARTITION as CK_SLOT_ID)
}

/// Rebuilds the partition objects of partition `id` (in the admin token and in
/// the partition itself) from the store, and the partition's cached record.
pub fn refresh(m: &Module, id: u32) {
    let Ok(rec) = m.store.partition(id) else {
        return;
    };
    if let Ok(own) = m.token(id as CK_SLOT_ID) {
        own.write().record = rec.clone();
        show(m, &own, &rec);
    }
    if id != ADMIN_PARTITION
        && let Ok(admin) = admin(m)
    {
        show(m, &admin, &rec);
    }
}

/// Builds every partition object (at load).
pub fn refresh_all(m: &Module) {
    for t in m.tokens() {
        refresh(m, t.partition);
    }
}

/// Checks the values of policy attributes in a (normalised) template.
fn check_policy(t: &Template) -> Result<()> {
    if let Some(n) = t.ulong(CKA_FERRO_POLICY_MIN_PIN_LEN)?
        && !(1..=super::MAX_PIN_LEN as u64).contains(&n)
    {
        return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "minimum PIN length must be 1 to 255"));
    }
    if let Some(n) = t.ulong(CKA_FERRO_POLICY_MAX_PIN_FAILURES)?
        && !(1..=u64::from(u32::MAX)).contains(&n)
    {
        return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "maximum PIN failures must be at least 1"));
    }
    Ok(())
}

/// The SO of the admin token (the device SO) is logged in.
fn device_so(m: &Module) -> bool {
    admin(m).is_ok_and(|a| a.state.read().so_logged_in())
}

/// `C_CreateObject` of a `CKO_FERRO_PARTITION` on the admin token: adds a partition
/// and returns the handle of its object there.
pub fn create(m: &Module, s: &Session, template: &Template) -> Result<CK_OBJECT_HANDLE> {
    if !s.token.admin {
        return Err(err(CKR_ACTION_PROHIBITED, "partitions are created on the admin token"));
    }
    let (label, policy) = {
        let st = s.token.state.read();
        if !st.so_logged_in() {
            return Err(err(CKR_USER_NOT_LOGGED_IN, "creating a partition needs the device SO"));
        }
        if !s.rw {
            return Err(err(CKR_SESSION_READ_ONLY, "creating a partition needs a read/write session"));
        }
        let attrs = build::build(template, Some(CKO_FERRO_PARTITION), None, Op::Create, &ctx(m, &st))?;
        if attrs.bool(CKA_TOKEN) != Some(true) || attrs.bool(CKA_PRIVATE) != Some(false) {
            return Err(err(CKR_TEMPLATE_INCONSISTENT, "a partition is a public token object"));
        }
        let t = build::normalise(template)?;
        check_policy(&t)?;
        if attrs.get(CKA_LABEL).is_some_and(|l| l.len() > 32) {
            return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "a token label is at most 32 bytes"));
        }
        let policy: Vec<(u64, Vec<u8>)> =
            POLICY_ATTRS.iter().filter_map(|&ty| attrs.get(ty).map(|v| (ty as u64, v.to_vec()))).collect();
        (attrs.get(CKA_LABEL).unwrap_or_default().to_vec(), policy)
    };
    let rec = m.store.create_partition(&label, policy)?;
    audit::record(m, rec.id, audit::DEVICE_SO, "partition_create", None, CKR_OK)?;
    let token = m.add_token(rec.clone())?;
    refresh(m, rec.id);
    super::attest::ensure_partition_keys(m, &token)?;
    log::info!("partition {} created", rec.id);
    let st = s.token.state.read();
    st.objects
        .iter()
        .find(|o| o.lifetime == Lifetime::Partition(rec.id))
        .map(|o| o.handle)
        .ok_or_else(|| err(CKR_GENERAL_ERROR, "new partition object missing"))
}

/// `C_SetAttributeValue` on a partition object: label and policy. The device SO may
/// change any partition from the admin token; a partition's SO its own.
pub fn set(m: &Module, s: &Session, obj: &Object, id: u32, template: &Template) -> Result<()> {
    let allowed = {
        let st = s.token.state.read();
        st.so_logged_in() && (s.token.admin || s.token.partition == id)
    };
    if !allowed {
        return Err(err(CKR_USER_NOT_LOGGED_IN, "changing a partition needs its SO or the device SO"));
    }
    if !s.rw {
        return Err(err(CKR_SESSION_READ_ONLY, "changing a partition needs a read/write session"));
    }
    // The rule table checks which attributes may change; a read-only partition may
    // still have its policy changed, which is how read-only is lifted.
    let attrs = build::set(obj, template, true)?;
    check_policy(&build::normalise(template)?)?;
    let label = attrs.get(CKA_LABEL).unwrap_or_default().to_vec();
    if label.len() > 32 {
        return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "a token label is at most 32 bytes"));
    }
    m.store.update_partition(id, |rec| {
        rec.label = label;
        for &ty in POLICY_ATTRS {
            if let Some(v) = attrs.get(ty) {
                rec.set_policy_value(ty as u64, v.to_vec());
            }
        }
        Ok(())
    })?;
    let changed: Vec<String> = template
        .0
        .iter()
        .map(|&(ty, _)| crate::names::attribute(ty).map_or_else(|| format!("0x{ty:x}"), str::to_owned))
        .collect();
    let who = if s.token.admin { audit::DEVICE_SO } else { audit::SO };
    let event = audit::Pending { partition: id, role: who, event: "partition_change", object: None, result: CKR_OK };
    audit::write_with(m, &event, &[("attributes", Value::Str(&changed.join(",")))])?;
    refresh(m, id);
    log::info!("partition {id}: policy changed");
    Ok(())
}

/// `C_DestroyObject` on a partition object (admin token, device SO): removes the
/// partition, its objects and its slot. Its open sessions end.
pub fn destroy(m: &Module, s: &Session, obj: &Object, id: u32) -> Result<()> {
    if obj.attrs.bool(CKA_DESTROYABLE) != Some(true) {
        return Err(err(CKR_ACTION_PROHIBITED, "this partition object cannot be destroyed here"));
    }
    if !device_so(m) || !s.token.admin {
        return Err(err(CKR_USER_NOT_LOGGED_IN, "removing a partition needs the device SO"));
    }
    if !s.rw {
        return Err(err(CKR_SESSION_READ_ONLY, "removing a partition needs a read/write session"));
    }
    m.store.delete_partition(id)?;
    audit::record(m, id, audit::DEVICE_SO, "partition_delete", None, CKR_OK)?;
    m.remove_token(id as CK_SLOT_ID);
    s.token.write().objects.remove(obj.handle);
    log::info!("partition {id} removed");
    Ok(())
}
