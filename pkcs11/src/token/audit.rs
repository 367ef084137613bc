//! What the token writes to the audit log (docs/audit.md lists the events).
//!
//! The store keeps the log (`ferrohsm_store::audit`); this module names the events and
//! who did them. An entry never holds a PIN, a key byte or data: only the partition,
//! the role, the event, the object's `CKA_UNIQUE_ID` and the result.
//!
//! Entries are written before the call returns, and a change to objects is written
//! in the same store transaction as its entries: a call that returned `CKR_OK` has its
//! entry on disk. When the entry cannot be written, the call fails.

use std::sync::Arc;

use cryptoki_sys::*;
use ferrohsm_store::Role;
use ferrohsm_store::audit::{Event, Value};

use super::TokenState;
use crate::error::Result;
use crate::module::Module;
use crate::object::{Attrs, Lifetime, Object};
use crate::vendor::{CKA_FERRO_ATTESTS, CKA_FERRO_ORIGIN, Origin};

/// Nobody logged in.
pub const PUBLIC: &str = "public";
/// The user.
pub const USER: &str = "user";
/// The partition's security officer (on the admin token, the device SO).
pub const SO: &str = "so";
/// The device SO, acting on a partition from the admin token.
pub const DEVICE_SO: &str = "device_so";

/// Who the calling application is on this token.
pub fn role_of(st: &TokenState) -> &'static str {
    if st.so_logged_in() {
        SO
    } else if st.user_logged_in() {
        USER
    } else {
        PUBLIC
    }
}

/// The name of a store role.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::So => SO,
        Role::User => USER,
    }
}

/// The name of a return value, as the log writes it.
pub fn result_name(rv: CK_RV) -> &'static str {
    crate::names::rv(rv).unwrap_or("CKR_VENDOR_DEFINED")
}

/// The `CKA_UNIQUE_ID` of an object, as text.
pub fn unique_id(attrs: &Attrs) -> Option<String> {
    attrs.get(CKA_UNIQUE_ID).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The event that making this object is: from its class and its origin, which the
/// token set (never the caller's template). An attestation certificate the token
/// made is `attestation_made`, and names the key it attests.
pub fn creation_event(attrs: &Attrs) -> (&'static str, Option<String>) {
    if let Some(key) = attrs.get(CKA_FERRO_ATTESTS) {
        return ("attestation_made", Some(String::from_utf8_lossy(key).into_owned()));
    }
    let is_key = matches!(
        attrs.ulong(CKA_CLASS).map(|c| c as CK_OBJECT_CLASS),
        Some(CKO_PRIVATE_KEY | CKO_PUBLIC_KEY | CKO_SECRET_KEY)
    );
    let event = match attrs.ulong(CKA_FERRO_ORIGIN) {
        _ if !is_key => "object_create",
        Some(o) if o == Origin::Generated as u64 => "key_generate",
        Some(o) if o == Origin::Unwrapped as u64 => "key_unwrap",
        Some(o) if o == Origin::Derived as u64 => "key_derive",
        Some(o) if o == Origin::Copied as u64 => "key_copy",
        _ => "key_import",
    };
    (event, unique_id(attrs))
}

/// The event that destroying this object is.
pub fn destruction_event(attrs: &Attrs) -> (&'static str, Option<String>) {
    let is_key = matches!(
        attrs.ulong(CKA_CLASS).map(|c| c as CK_OBJECT_CLASS),
        Some(CKO_PRIVATE_KEY | CKO_PUBLIC_KEY | CKO_SECRET_KEY)
    );
    (if is_key { "key_destroy" } else { "object_destroy" }, unique_id(attrs))
}

/// An event about to be written: the owned parts of an [`Event`].
#[derive(Clone, Debug)]
pub struct Pending {
    /// Its partition.
    pub partition: u32,
    /// Who.
    pub role: &'static str,
    /// What.
    pub event: &'static str,
    /// The object's unique id.
    pub object: Option<String>,
    /// The result.
    pub result: CK_RV,
}

impl Pending {
    /// The event for the store.
    pub fn event(&self) -> Event<'_> {
        Event {
            partition: self.partition,
            role: self.role,
            event: self.event,
            object: self.object.as_deref(),
            result: result_name(self.result),
            extra: &[],
        }
    }
}

/// Writes events that go with no object change.
pub fn write(m: &Module, pending: &[Pending]) -> Result<()> {
    let events: Vec<Event<'_>> = pending.iter().map(Pending::event).collect();
    m.store.audit(&events)?;
    Ok(())
}

/// Writes one event with extra fields.
pub fn write_with(m: &Module, p: &Pending, extra: &[(&str, Value<'_>)]) -> Result<()> {
    m.store.audit(&[Event { extra, ..p.event() }])?;
    Ok(())
}

/// One event, written now.
pub fn record(
    m: &Module,
    partition: u32,
    role: &'static str,
    event: &'static str,
    object: Option<String>,
    result: CK_RV,
) -> Result<()> {
    write(m, &[Pending { partition, role, event, object, result }])
}

/// Key usage is reported at most this often per key while it is being used (and
/// always when its application logs out, its session ends, or the module finalizes).
pub const USAGE_PERIOD: u64 = 60;

/// Counts one operation started with `key` in `partition`, and writes its
/// `key_usage` entry when one is due. Counting is two atomic adds; an entry is
/// written at most once per [`USAGE_PERIOD`] per key. A failed write is logged and
/// the count kept for the next report: the operation goes on.
pub fn key_used(m: &Module, partition: u32, st_role: impl FnOnce() -> &'static str, key: &Arc<Object>) {
    if !m.count_usage {
        return;
    }
    if key.usage.count(crate::time::now(), USAGE_PERIOD) {
        report_usage(m, partition, st_role(), std::slice::from_ref(key));
    }
}

/// Writes `key_usage` entries for the keys among `objects` with uncounted uses (and
/// their totals, for token keys), in one transaction. Failures are logged and the
/// counts kept.
pub fn report_usage(m: &Module, partition: u32, role: &'static str, objects: &[Arc<Object>]) {
    if !m.count_usage {
        return;
    }
    let mut taken = Vec::new();
    for o in objects {
        let (pending, total) = o.usage.take();
        if pending > 0 {
            taken.push((o, pending, total));
        }
    }
    if taken.is_empty() {
        return;
    }
    let now = crate::time::now();
    let uids: Vec<Option<String>> = taken.iter().map(|(o, ..)| unique_id(&o.attrs)).collect();
    let counts: Vec<[(&str, Value<'_>); 1]> = taken.iter().map(|(_, n, _)| [("count", Value::Int(*n))]).collect();
    let events: Vec<Event<'_>> = taken
        .iter()
        .zip(&uids)
        .zip(&counts)
        .map(|((_, uid), count)| Event {
            partition,
            role,
            event: "key_usage",
            object: uid.as_deref(),
            result: result_name(CKR_OK),
            extra: count,
        })
        .collect();
    let totals: Vec<(u32, u64, u64)> = taken
        .iter()
        .filter_map(|(o, _, total)| match o.lifetime {
            Lifetime::Token(oid) => Some((partition, oid, *total)),
            _ => None,
        })
        .collect();
    match m.store.audit_usage(&totals, &events) {
        Ok(_) => {
            for (o, ..) in &taken {
                o.usage.reported_at.store(now, std::sync::atomic::Ordering::Relaxed);
            }
        }
        Err(e) => {
            log::error!("partition {partition}: key usage not written to the audit log (kept for later): {e}");
            for (o, pending, _) in &taken {
                o.usage.restore(*pending);
            }
        }
    }
}

/// Reports the usage of every object of a token that the calling application can
/// see, as `role` (at logout, when its last session closes, at finalize).
pub fn report_token_usage(m: &Module, partition: u32, st: &TokenState) {
    if !m.count_usage {
        return;
    }
    let role = role_of(st);
    let used: Vec<Arc<Object>> =
        st.objects.iter().filter(|o| o.usage.pending.load(std::sync::atomic::Ordering::Relaxed) > 0).cloned().collect();
    report_usage(m, partition, role, &used);
}
