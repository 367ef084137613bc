//! Object management (PKCS#11 §5.7): create, copy, destroy, attributes, find.

use std::sync::Arc;

use cryptoki_sys::*;
use ferrohsm_store::{MasterKey, NewAttr, Seal};
use zeroize::Zeroizing;

use super::{Session, TokenState, audit, partition};
use crate::error::{Result, err};
use crate::module::Module;
use crate::object::attr::{Kind, bool_value, kind, ulong_value};
use crate::object::build::{self, Ctx, Op, is_secret};
use crate::object::{Attrs, Lifetime, Object, Template};
use crate::vendor::{
    CKA_FERRO_ATTESTS, CKA_FERRO_INVALIDATED, CKA_FERRO_KEY_ROLE, CKA_FERRO_USAGE_COUNT, CKO_FERRO_PARTITION,
};

/// A find in progress: the matches, taken when it started.
pub struct Find {
    results: Vec<CK_OBJECT_HANDLE>,
    pos: usize,
}

/// One attribute as `C_GetAttributeValue` reports it.
#[derive(Debug, PartialEq, Eq)]
pub enum AttrOut {
    /// The value (canonical form).
    Value(Zeroizing<Vec<u8>>),
    /// Key material that stays inside (`CKR_ATTRIBUTE_SENSITIVE`).
    Sensitive,
    /// Not an attribute of this object (`CKR_ATTRIBUTE_TYPE_INVALID`).
    Invalid,
}

/// The build context for a session.
pub fn ctx<'a>(m: &'a Module, st: &TokenState) -> Ctx<'a> {
    Ctx {
        provider: m.provider.as_ref(),
        so: st.so_logged_in(),
        unique_id: m.unique_id(),
        now: crate::time::stamp(crate::time::now()),
        export: st.policy().allow_export,
    }
}

/// The object `handle` as this session may see it.
pub fn object(st: &TokenState, handle: CK_OBJECT_HANDLE) -> Result<Arc<Object>> {
    match st.objects.get(handle) {
        Some(o) if st.visible(o) => Ok(o.clone()),
        _ => Err(err(CKR_OBJECT_HANDLE_INVALID, format!("no object {handle}"))),
    }
}

/// Checks that a session may write an object that is (or becomes) `token` / `private`.
pub fn check_write(s: &Session, st: &TokenState, token: bool, private: bool) -> Result<()> {
    if token && !st.record.initialized {
        return Err(err(CKR_USER_NOT_LOGGED_IN, "initialise the token (C_InitToken) before storing objects"));
    }
    if private && !st.user_logged_in() {
        return Err(err(CKR_USER_NOT_LOGGED_IN, "private objects need the user logged in"));
    }
    if token && !s.rw {
        return Err(err(CKR_SESSION_READ_ONLY, "token objects need a read/write session"));
    }
    if token && st.policy().read_only {
        return Err(err(CKR_TOKEN_WRITE_PROTECTED, "the partition is read-only"));
    }
    Ok(())
}

/// How each attribute of an object is kept at rest. Every attribute of a private
/// object is sealed under the partition master key (a PIN unlocks it); the key
/// material of a public object under the device key (PKCS#11 lets anyone use public
/// objects without a login); nothing else is secret.
pub fn stored(attrs: &Attrs) -> Vec<NewAttr<'_>> {
    let private = attrs.bool(CKA_PRIVATE).unwrap_or(true);
    let shape = crate::object::shape_of(attrs.ulong(CKA_CLASS).unwrap_or(0) as CK_OBJECT_CLASS, |t| attrs.ulong(t));
    let seal = |ty| match (private, is_secret(shape, ty)) {
        (true, _) => Seal::Partition,
        (false, true) => Seal::Device,
        (false, false) => Seal::None,
    };
    attrs.iter().map(|(ty, value)| NewAttr { ty: ty as u64, value, seal: seal(ty) }).collect()
}

/// Writes a token object's record.
pub fn persist(m: &Module, partition: u32, oid: u64, attrs: &Attrs, master: Option<&MasterKey>) -> Result<()> {
    m.store.put_object(partition, oid, &stored(attrs), master)?;
    Ok(())
}

/// Adds a new object made by this session: stores it if it is a token object,
/// indexes it, and returns its handle.
pub fn insert_new(m: &Module, s: &Session, st: &mut TokenState, attrs: Attrs) -> Result<CK_OBJECT_HANDLE> {
    Ok(insert_many(m, s, st, vec![attrs])?[0])
}

/// Adds several objects made by one call (a key pair and its attestation), all or
/// none: every check first, then the token objects in one store batch.
pub fn insert_many(m: &Module, s: &Session, st: &mut TokenState, all: Vec<Attrs>) -> Result<Vec<CK_OBJECT_HANDLE>> {
    for a in &all {
        check_write(s, st, a.bool(CKA_TOKEN) == Some(true), a.bool(CKA_PRIVATE) != Some(false))?;
    }
    let mut lifetimes = Vec::with_capacity(all.len());
    let mut writes = Vec::new();
    for a in &all {
        if a.bool(CKA_TOKEN) == Some(true) {
            let oid = m.store.new_object_id()?;
            writes.push((oid, stored(a)));
            lifetimes.push(Lifetime::Token(oid));
        } else {
            lifetimes.push(Lifetime::Session(s.handle));
        }
    }
    let role = audit::role_of(st);
    let pending: Vec<audit::Pending> = all
        .iter()
        .map(|a| {
            let (event, object) = audit::creation_event(a);
            audit::Pending { partition: s.token.partition, role, event, object, result: CKR_OK }
        })
        .collect();
    let events: Vec<_> = pending.iter().map(audit::Pending::event).collect();
    if !writes.is_empty() {
        m.store.put_objects_logged(s.token.partition, &writes, st.master().map(|k| k.as_ref()), &events)?;
    } else {
        m.store.audit(&events)?;
    }
    drop(writes);
    let mut handles = Vec::with_capacity(all.len());
    for (attrs, lifetime) in all.into_iter().zip(lifetimes) {
        let handle = match lifetime {
            Lifetime::Token(oid) => st.handle_for(m, oid),
            _ => m.new_handle(),
        };
        st.objects.insert(Arc::new(Object::new(handle, lifetime, attrs)));
        handles.push(handle);
    }
    Ok(handles)
}

/// `C_CreateObject`.
pub fn create_object(m: &Module, session: CK_SESSION_HANDLE, template: &Template) -> Result<CK_OBJECT_HANDLE> {
    let s = m.session(session)?;
    if template.ulong(CKA_CLASS)? == Some(CKO_FERRO_PARTITION as u64) {
        return partition::create(m, &s, template);
    }
    if template.ulong(CKA_CLASS)? == Some(CKO_CERTIFICATE as u64) && template.get(CKA_FERRO_KEY_ROLE).is_some() {
        return super::attest::import_certificate(m, &s, template);
    }
    let mut st = s.token.write();
    let mut attrs = build::build(template, None, None, Op::Create, &ctx(m, &st))?;
    let class = attrs.ulong(CKA_CLASS).unwrap_or(0) as CK_OBJECT_CLASS;
    if let Some(shape) = crate::object::shape_of(class, |t| attrs.ulong(t)) {
        // Imported key material must be consistent (and gets its public key info).
        crate::mechanism::validate_import(m.provider.as_ref(), shape, &mut attrs)?;
    }
    let handle = insert_new(m, &s, &mut st, attrs)?;
    log::debug!("slot {}: created object {handle}", s.token.slot_id);
    Ok(handle)
}

/// `C_CopyObject`.
pub fn copy_object(
    m: &Module,
    session: CK_SESSION_HANDLE,
    handle: CK_OBJECT_HANDLE,
    template: &Template,
) -> Result<CK_OBJECT_HANDLE> {
    let s = m.session(session)?;
    let mut st = s.token.write();
    let obj = object(&st, handle)?;
    if matches!(obj.lifetime, Lifetime::Partition(_)) {
        return Err(err(CKR_ACTION_PROHIBITED, "partitions cannot be copied"));
    }
    if obj.invalidated() {
        return Err(err(CKR_ACTION_PROHIBITED, "an invalidated key is restored or purged, not copied"));
    }
    let attrs = build::copy(&obj, template, &ctx(m, &st))?;
    insert_new(m, &s, &mut st, attrs)
}

/// `C_DestroyObject`. Destroying a private key also destroys its attestation
/// certificates (the objects whose `CKA_FERRO_ATTESTS` names it).
pub fn destroy_object(m: &Module, session: CK_SESSION_HANDLE, handle: CK_OBJECT_HANDLE) -> Result<()> {
    let s = m.session(session)?;
    let obj = object(&s.token.state.read(), handle)?;
    if let Lifetime::Partition(id) = obj.lifetime {
        return partition::destroy(m, &s, &obj, id);
    }
    let mut st = s.token.write();
    // Look again under the write lock: another thread may have destroyed it.
    let obj = object(&st, handle)?;
    if obj.attrs.bool(CKA_DESTROYABLE) == Some(false) {
        return Err(err(CKR_ACTION_PROHIBITED, "object is not destroyable"));
    }
    // Key invalidation: a user's destroy of a token key marks it instead; the SO's
    // destroy of an invalidated key purges it.
    let purge = obj.invalidated();
    if !purge && obj.is_key() && matches!(obj.lifetime, Lifetime::Token(_)) && st.policy().key_invalidation {
        if st.so_logged_in() {
            return Err(err(
                CKR_ACTION_PROHIBITED,
                "with key invalidation on, keys are destroyed by the user (invalidated), then purged by the SO",
            ));
        }
        return set_invalidated(m, &s, &mut st, &obj, true);
    }
    let mut doomed = vec![obj.clone()];
    if let Some(uid) = obj.attrs.get(CKA_UNIQUE_ID).filter(|_| obj.class() == CKO_PRIVATE_KEY) {
        let certs =
            st.objects.find(&[(CKA_FERRO_ATTESTS, uid.to_vec())], |_| true, |o, t, v| o.attrs.get(t) == Some(v));
        doomed.extend(certs.into_iter().filter_map(|h| st.objects.get(h).cloned()));
    }
    let oids: Vec<u64> = doomed
        .iter()
        .filter_map(|o| match o.lifetime {
            Lifetime::Token(oid) => Some(oid),
            _ => None,
        })
        .collect();
    let role = audit::role_of(&st);
    let pending: Vec<audit::Pending> = doomed
        .iter()
        .map(|o| {
            let (event, object) = audit::destruction_event(&o.attrs);
            let event = if purge && o.handle == obj.handle { "key_purge" } else { event };
            audit::Pending { partition: s.token.partition, role, event, object, result: CKR_OK }
        })
        .collect();
    let events: Vec<_> = pending.iter().map(audit::Pending::event).collect();
    if !oids.is_empty() {
        // The SO purges an invalidated private key without the user.
        check_write(&s, &st, true, obj.private() && !purge)?;
        m.store.delete_objects_logged(s.token.partition, &oids, &events)?;
    } else {
        m.store.audit(&events)?;
    }
    for o in doomed {
        if let Lifetime::Token(oid) = o.lifetime {
            st.handles.remove(&oid);
        }
        st.objects.remove(o.handle);
    }
    Ok(())
}

/// Marks a token key invalidated (a user's `C_DestroyObject` under the key
/// invalidation policy) or restores it (the SO's `C_SetAttributeValue` of
/// `CKA_FERRO_INVALIDATED` false): the changed object is written with its audit entry.
fn set_invalidated(m: &Module, s: &Session, st: &mut TokenState, obj: &Arc<Object>, invalidated: bool) -> Result<()> {
    // The user invalidates (the key is visible to them), the SO restores: whoever it
    // is holds the master key that seals a private key's record.
    check_write(s, st, true, false)?;
    let Lifetime::Token(oid) = obj.lifetime else {
        return Err(err(CKR_GENERAL_ERROR, "only token keys are invalidated"));
    };
    let mut attrs = obj.attrs.clone();
    attrs.set(CKA_FERRO_INVALIDATED, bool_value(invalidated));
    let event = audit::Pending {
        partition: s.token.partition,
        role: audit::role_of(st),
        event: if invalidated { "key_invalidate" } else { "key_restore" },
        object: audit::unique_id(&attrs),
        result: CKR_OK,
    };
    m.store.put_objects_logged(
        s.token.partition,
        &[(oid, stored(&attrs))],
        st.master().map(|k| k.as_ref()),
        &[event.event()],
    )?;
    st.objects.insert(Arc::new(Object::with_usage(obj.handle, obj.lifetime, attrs, obj.usage.clone())));
    Ok(())
}

/// `C_GetAttributeValue`: one answer per requested type.
pub fn get_attribute_value(
    m: &Module,
    session: CK_SESSION_HANDLE,
    handle: CK_OBJECT_HANDLE,
    types: &[CK_ATTRIBUTE_TYPE],
) -> Result<Vec<AttrOut>> {
    let s = m.session(session)?;
    let (obj, export) = {
        let st = s.token.state.read();
        (object(&st, handle)?, st.policy().allow_export)
    };
    let shape = obj.shape();
    // A key's value leaves only when it is neither sensitive nor unextractable, the
    // partition allows export, and the key is not invalidated (the SO sees the
    // metadata of invalidated keys, never their values).
    let guarded = obj.guards_secrets() || !export || obj.invalidated();
    Ok(types
        .iter()
        .map(|&ty| {
            let secret = is_secret(shape, ty);
            match obj.attrs.get(ty) {
                Some(_) if secret && guarded => AttrOut::Sensitive,
                // The live count; the stored attribute is its value at creation.
                Some(_) if ty == CKA_FERRO_USAGE_COUNT => AttrOut::Value(Zeroizing::new(ulong_value(
                    obj.usage.total.load(std::sync::atomic::Ordering::Relaxed) as CK_ULONG,
                ))),
                Some(v) => AttrOut::Value(Zeroizing::new(v.to_vec())),
                None => AttrOut::Invalid,
            }
        })
        .collect())
}

/// `C_SetAttributeValue`.
pub fn set_attribute_value(
    m: &Module,
    session: CK_SESSION_HANDLE,
    handle: CK_OBJECT_HANDLE,
    template: &Template,
) -> Result<()> {
    let s = m.session(session)?;
    let obj = object(&s.token.state.read(), handle)?;
    if let Lifetime::Partition(id) = obj.lifetime {
        return partition::set(m, &s, &obj, id, template);
    }
    let mut st = s.token.write();
    let obj = object(&st, handle)?;
    if obj.invalidated() {
        // The SO sees invalidated keys; the one change allowed is restoring one.
        let restore = build::normalise(template)?.0 == [(CKA_FERRO_INVALIDATED, bool_value(false))];
        if !restore {
            return Err(err(
                CKR_ACTION_PROHIBITED,
                "an invalidated key takes one change: CKA_FERRO_INVALIDATED to false (restore)",
            ));
        }
        return set_invalidated(m, &s, &mut st, &obj, false);
    }
    check_write(&s, &st, obj.token(), obj.private())?;
    let attrs = build::set(&obj, template, st.so_logged_in())?;
    if let Lifetime::Token(oid) = obj.lifetime {
        persist(m, s.token.partition, oid, &attrs, st.master().map(|k| k.as_ref()))?;
    }
    st.objects.insert(Arc::new(Object::with_usage(handle, obj.lifetime, attrs, obj.usage.clone())));
    Ok(())
}

/// `C_GetObjectSize`: the bytes its attributes take (an estimate, as the spec allows).
pub fn get_object_size(m: &Module, session: CK_SESSION_HANDLE, handle: CK_OBJECT_HANDLE) -> Result<usize> {
    let s = m.session(session)?;
    Ok(object(&s.token.state.read(), handle)?.attrs.size())
}

/// `C_FindObjectsInit`.
pub fn find_objects_init(m: &Module, session: CK_SESSION_HANDLE, template: &Template) -> Result<()> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    if ops.find.is_some() {
        return Err(err(CKR_OPERATION_ACTIVE, "a find is already active"));
    }
    // Booleans compare by truth, not by byte (callers pass any non-zero CK_TRUE).
    let wanted: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)> = template
        .0
        .iter()
        .map(|(t, v)| match (kind(*t), v.as_slice()) {
            (Kind::Bool, [b]) => (*t, bool_value(*b != 0)),
            _ => (*t, v.clone()),
        })
        .collect();
    let st = s.token.state.read();
    let results = st.objects.find(
        &wanted,
        |o| st.visible(o),
        |o, ty, v| {
            // Key material never matches: a find must not become a guessing oracle.
            o.attrs.get(ty) == Some(v) && !is_secret(o.shape(), ty)
        },
    );
    ops.find = Some(Find { results, pos: 0 });
    Ok(())
}

/// `C_FindObjects`.
pub fn find_objects(m: &Module, session: CK_SESSION_HANDLE, max: usize) -> Result<Vec<CK_OBJECT_HANDLE>> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    let f = ops.find.as_mut().ok_or_else(|| err(CKR_OPERATION_NOT_INITIALIZED, "no find active"))?;
    let end = (f.pos + max).min(f.results.len());
    let out = f.results[f.pos..end].to_vec();
    f.pos = end;
    Ok(out)
}

/// `C_FindObjectsFinal`.
pub fn find_objects_final(m: &Module, session: CK_SESSION_HANDLE) -> Result<()> {
    let s = m.session(session)?;
    s.ops.lock().find.take().ok_or_else(|| err(CKR_OPERATION_NOT_INITIALIZED, "no find active"))?;
    Ok(())
}
