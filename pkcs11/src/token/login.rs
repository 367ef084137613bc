//! Login and PINs (PKCS#11 §5.6): `C_Login`, `C_Logout`, `C_InitPIN`, `C_SetPIN`.
//!
//! A PIN is never compared: it derives the key that unwraps the partition master
//! key, and AES-GCM's tag check decides (constant time). Failures are counted in
//! the store, so they persist across processes.

use std::sync::Arc;

use cryptoki_sys::*;
use ferrohsm_store::{MasterKey, Role};

use super::{Login, TokenState, audit, load_objects};
use crate::error::{Result, err};
use crate::module::{Module, app};
use crate::object::Lifetime;

/// Checks `pin` for `role` and returns the master key. The partition record is
/// re-read either way (the failure counter or the login time changed). A wrong or
/// locked PIN is audited as a failed `event` (and `pin_locked` when this failure
/// locked it); the caller audits success.
pub fn verify_pin(
    m: &Module,
    partition: u32,
    st: &mut TokenState,
    role: Role,
    pin: &[u8],
    event: &'static str,
) -> Result<MasterKey> {
    let max = st.policy().max_pin_failures;
    let r = m.store.login(partition, role, pin, max);
    if let Ok(rec) = m.store.partition(partition) {
        st.record = rec;
    }
    let who = audit::role_name(role);
    let failed = |result| audit::Pending { partition, role: who, event, object: None, result };
    match &r {
        Err(ferrohsm_store::Error::PinIncorrect { locked, .. }) => {
            let mut events = vec![failed(CKR_PIN_INCORRECT)];
            if *locked {
                log::warn!("partition {partition}: {role:?} PIN locked after {max} failures");
                events.push(audit::Pending { event: "pin_locked", result: CKR_OK, ..failed(CKR_OK) });
            }
            audit::write(m, &events)?;
        }
        Err(ferrohsm_store::Error::PinLocked) => audit::write(m, &[failed(CKR_PIN_LOCKED)])?,
        _ => {}
    }
    Ok(r?)
}

/// `C_Login`.
pub fn login(m: &Module, session: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
    let s = m.session(session)?;
    let role = match user {
        CKU_SO => Role::So,
        CKU_USER => Role::User,
        CKU_CONTEXT_SPECIFIC => return context_login(m, &s, pin),
        _ => return Err(err(CKR_USER_TYPE_INVALID, format!("user type {user}"))),
    };
    let token = s.token.clone();
    let mut st = token.write();
    if let Some(l) = st.login() {
        return Err(if l.user == user {
            err(CKR_USER_ALREADY_LOGGED_IN, "already logged in")
        } else {
            err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "another user is logged in")
        });
    }
    if role == Role::So && m.app_sessions(token.slot_id).1 > 0 {
        return Err(err(CKR_SESSION_READ_ONLY_EXISTS, "close the read-only sessions before an SO login"));
    }
    if role == Role::User && st.record.user.is_none() {
        return Err(err(CKR_USER_PIN_NOT_INITIALIZED, "the user PIN is not set"));
    }
    let master = Arc::new(verify_pin(m, token.partition, &mut st, role, pin, "login")?);
    audit::record(m, token.partition, audit::role_name(role), "login", None, CKR_OK)?;
    // The private token objects are loaded once, by the first login of any
    // application: the user's, or the SO's (who sees invalidated keys among them,
    // metadata only, and no other private object).
    if st.logins.is_empty() {
        load_objects(m, token.partition, &mut st, Some(&master))?;
    }
    st.logins.push((app(), Login { user, master }));
    log::info!("slot {}: {role:?} logged in", token.slot_id);
    Ok(())
}

/// `C_Login(CKU_CONTEXT_SPECIFIC)`: the user proves presence again for an operation
/// whose key has `CKA_ALWAYS_AUTHENTICATE` (§4.9). A wrong PIN counts as a failure.
fn context_login(m: &Module, s: &super::Session, pin: &[u8]) -> Result<()> {
    if !s.token.state.read().user_logged_in() {
        return Err(err(CKR_USER_NOT_LOGGED_IN, "context-specific login needs the user logged in"));
    }
    if !super::crypto::waits_for_context_login(s) {
        return Err(err(CKR_OPERATION_NOT_INITIALIZED, "no operation waits for re-authentication"));
    }
    {
        let mut st = s.token.write();
        verify_pin(m, s.token.partition, &mut st, Role::User, pin, "context_login")?;
        audit::record(m, s.token.partition, audit::USER, "context_login", None, CKR_OK)?;
    }
    super::crypto::context_login_done(s);
    Ok(())
}

/// `C_LoginUser` (3.0): this token has no user names.
pub fn login_user(m: &Module, session: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8], name: &[u8]) -> Result<()> {
    if !name.is_empty() {
        return Err(err(CKR_ARGUMENTS_BAD, "this token has no user names"));
    }
    login(m, session, user, pin)
}

/// Forgets the calling application's login (PKCS#11 §5.6, `C_Logout`): its private
/// session objects are destroyed; when no application is left logged in (as the
/// user or the SO), the private token objects leave memory and their handles become invalid for
/// good. The master key is dropped (and zeroized when the last reference goes).
pub fn drop_login(st: &mut TokenState) {
    let app = app();
    st.logins.retain(|(a, _)| *a != app);
    let everyone = st.logins.is_empty();
    let apps = std::mem::take(&mut st.session_apps);
    let removed = st.objects.remove_where(|o| match o.lifetime {
        Lifetime::Partition(_) => false,
        Lifetime::Token(_) => everyone && o.private(),
        Lifetime::Session(h) => o.private() && (everyone || apps.get(&h) == Some(&app)),
    });
    st.session_apps = apps;
    for o in &removed {
        if let Lifetime::Token(oid) = o.lifetime {
            st.handles.remove(&oid);
            st.locked_private += 1;
        }
    }
}

/// `C_Logout`.
pub fn logout(m: &Module, session: CK_SESSION_HANDLE) -> Result<()> {
    let s = m.session(session)?;
    let mut st = s.token.write();
    if st.login().is_none() {
        return Err(err(CKR_USER_NOT_LOGGED_IN, "nobody is logged in"));
    }
    audit::report_token_usage(m, s.token.partition, &st);
    audit::record(m, s.token.partition, audit::role_of(&st), "logout", None, CKR_OK)?;
    drop_login(&mut st);
    Ok(())
}

/// `C_InitPIN`: the SO sets (or resets and unlocks) the user PIN.
pub fn init_pin(m: &Module, session: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
    let s = m.session(session)?;
    let mut st = s.token.write();
    if !st.so_logged_in() {
        return Err(err(CKR_USER_NOT_LOGGED_IN, "C_InitPIN needs the SO logged in"));
    }
    if !s.rw {
        return Err(err(CKR_SESSION_READ_ONLY, "C_InitPIN needs a read/write session"));
    }
    st.policy().check_pin(pin)?;
    let master = st.master().cloned().expect("a logged-in token has its master key");
    st.record = m.store.set_pin(s.token.partition, Role::User, pin, &master)?;
    audit::record(m, s.token.partition, audit::SO, "user_pin_init", None, CKR_OK)?;
    log::info!("slot {}: user PIN set by the SO", s.token.slot_id);
    Ok(())
}

/// `C_SetPIN`: changes the PIN of whoever is logged in, or the user PIN when
/// nobody is.
pub fn set_pin(m: &Module, session: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Result<()> {
    let s = m.session(session)?;
    if !s.rw {
        return Err(err(CKR_SESSION_READ_ONLY, "C_SetPIN needs a read/write session"));
    }
    let mut st = s.token.write();
    let role = if st.so_logged_in() { Role::So } else { Role::User };
    if role == Role::User && st.record.user.is_none() {
        return Err(err(CKR_USER_PIN_NOT_INITIALIZED, "the user PIN is not set"));
    }
    // The new PIN's length is checked first, so a bad new PIN costs no attempt.
    st.policy().check_pin(new)?;
    let master = verify_pin(m, s.token.partition, &mut st, role, old, "pin_change")?;
    st.record = m.store.set_pin(s.token.partition, role, new, &master)?;
    audit::record(m, s.token.partition, audit::role_name(role), "pin_change", None, CKR_OK)?;
    log::info!("slot {}: {role:?} PIN changed", s.token.slot_id);
    Ok(())
}
