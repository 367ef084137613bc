//! Partitions, managed as `CKO_FERRO_PARTITION` objects on the admin token.
//!
//! The module's semantics (pkcs11/src/token/partition.rs): the admin token shows one
//! public partition object per partition, itself included. The device SO creates a
//! partition with `C_CreateObject`, changes its label and policy with
//! `C_SetAttributeValue`, and removes it with `C_DestroyObject`. Reading needs no
//! login.

use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;

use crate::error::{Doing, Error, Result};
use crate::vendor::*;

/// A partition's policy. In a template, `None` leaves a value as it is (or at the
/// module's default on creation); read from the token, every value is present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// `CKA_FERRO_POLICY_MIN_PIN_LEN`: shortest PIN accepted.
    pub min_pin_len: Option<u64>,
    /// `CKA_FERRO_POLICY_MAX_PIN_FAILURES`: failed logins before a PIN locks.
    pub max_pin_failures: Option<u64>,
    /// `CKA_FERRO_POLICY_READ_ONLY`: no create, modify or destroy.
    pub read_only: Option<bool>,
    /// `CKA_FERRO_POLICY_ALLOW_EXPORT`: the partition may wrap out extractable keys.
    pub allow_export: Option<bool>,
    /// `CKA_FERRO_POLICY_KEY_INVALIDATION`: destroy moves keys to the SO's trash.
    pub key_invalidation: Option<bool>,
}

impl Policy {
    /// No value is set.
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }

    /// The attributes for the values that are set.
    pub fn attributes(&self) -> Vec<Attribute> {
        let mut t = Vec::new();
        if let Some(n) = self.min_pin_len {
            t.push(ulong_attr(CKA_FERRO_POLICY_MIN_PIN_LEN, n));
        }
        if let Some(n) = self.max_pin_failures {
            t.push(ulong_attr(CKA_FERRO_POLICY_MAX_PIN_FAILURES, n));
        }
        if let Some(b) = self.read_only {
            t.push(bool_attr(CKA_FERRO_POLICY_READ_ONLY, b));
        }
        if let Some(b) = self.allow_export {
            t.push(bool_attr(CKA_FERRO_POLICY_ALLOW_EXPORT, b));
        }
        if let Some(b) = self.key_invalidation {
            t.push(bool_attr(CKA_FERRO_POLICY_KEY_INVALIDATION, b));
        }
        t
    }
}

/// A partition as its object on the admin token shows it.
#[derive(Clone, Debug)]
pub struct Partition {
    /// The object's handle in the session that read it.
    pub handle: ObjectHandle,
    /// `CKA_FERRO_SLOT_ID`.
    pub slot: u64,
    /// `CKA_LABEL` (the token label), lossily decoded.
    pub label: String,
    /// The policy, every value present (a missing one reads as unknown).
    pub policy: Policy,
    /// `CKA_DESTROYABLE`: false for the admin token itself.
    pub destroyable: bool,
}

/// The attributes read from a partition object.
fn wanted() -> Vec<AttributeType> {
    [
        CKA_FERRO_SLOT_ID,
        CKA_FERRO_POLICY_MIN_PIN_LEN,
        CKA_FERRO_POLICY_MAX_PIN_FAILURES,
        CKA_FERRO_POLICY_READ_ONLY,
        CKA_FERRO_POLICY_ALLOW_EXPORT,
        CKA_FERRO_POLICY_KEY_INVALIDATION,
    ]
    .into_iter()
    .map(AttributeType::VendorDefined)
    .chain([AttributeType::Label, AttributeType::Destroyable])
    .collect()
}

/// Reads the partition object `handle`.
pub fn read(session: &Session, handle: ObjectHandle) -> Result<Partition> {
    let attrs = session.get_attributes(handle, &wanted()).doing("reading a partition object (C_GetAttributeValue)")?;
    let mut slot = None;
    let mut p = Partition { handle, slot: 0, label: String::new(), policy: Policy::default(), destroyable: false };
    for a in attrs {
        match a {
            Attribute::Label(l) => p.label = String::from_utf8_lossy(&l).into_owned(),
            Attribute::Destroyable(b) => p.destroyable = b,
            Attribute::VendorDefined((AttributeType::VendorDefined(ty), v)) => match ty {
                CKA_FERRO_SLOT_ID => slot = ulong_value(&v),
                CKA_FERRO_POLICY_MIN_PIN_LEN => p.policy.min_pin_len = ulong_value(&v),
                CKA_FERRO_POLICY_MAX_PIN_FAILURES => p.policy.max_pin_failures = ulong_value(&v),
                CKA_FERRO_POLICY_READ_ONLY => p.policy.read_only = bool_value(&v),
                CKA_FERRO_POLICY_ALLOW_EXPORT => p.policy.allow_export = bool_value(&v),
                CKA_FERRO_POLICY_KEY_INVALIDATION => p.policy.key_invalidation = bool_value(&v),
                _ => {}
            },
            _ => {}
        }
    }
    p.slot = slot.ok_or_else(|| Error::Unexpected(format!("partition object {handle} has no CKA_FERRO_SLOT_ID")))?;
    Ok(p)
}

/// Every partition object `session` sees, by slot (so the admin token comes last).
pub fn list(session: &Session) -> Result<Vec<Partition>> {
    let handles = session.find_objects(&[partition_class()]).doing("finding partition objects (C_FindObjects)")?;
    let mut out = handles.into_iter().map(|h| read(session, h)).collect::<Result<Vec<_>>>()?;
    out.sort_by_key(|p| p.slot);
    Ok(out)
}

/// The partition of slot `slot`.
pub fn find(session: &Session, slot: u64) -> Result<Partition> {
    list(session)?
        .into_iter()
        .find(|p| p.slot == slot)
        .ok_or_else(|| Error::NotFound(format!("no partition in slot {slot}")))
}

/// Creates a partition (device SO, read/write session on the admin token) and
/// returns it as the module shows it, with its new slot.
pub fn create(session: &Session, label: &str, policy: &Policy) -> Result<Partition> {
    let mut template = vec![
        partition_class(),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    template.extend(policy.attributes());
    let handle = session.create_object(&template).doing("creating the partition (C_CreateObject)")?;
    read(session, handle)
}

/// Changes a partition's label and/or policy (device SO, read/write session).
pub fn update(session: &Session, partition: &Partition, label: Option<&str>, policy: &Policy) -> Result<()> {
    let mut template = policy.attributes();
    if let Some(l) = label {
        template.push(Attribute::Label(l.as_bytes().to_vec()));
    }
    session
        .update_attributes(partition.handle, &template)
        .doing(format!("changing partition {} (C_SetAttributeValue)", partition.slot))
}

/// Removes a partition, its token and all its objects (device SO, read/write session).
pub fn delete(session: &Session, partition: &Partition) -> Result<()> {
    session.destroy_object(partition.handle).doing(format!("removing partition {} (C_DestroyObject)", partition.slot))
}
