//! Session management (PKCS#11 §5.6).

use std::sync::Arc;

use cryptoki_sys::*;

use super::{Ops, Session, Token};
use crate::error::{Result, err};
use crate::module::{Module, app};

/// `C_OpenSession`.
pub fn open_session(m: &Module, slot: CK_SLOT_ID, flags: CK_FLAGS) -> Result<CK_SESSION_HANDLE> {
    if flags & CKF_SERIAL_SESSION == 0 {
        return Err(err(CKR_SESSION_PARALLEL_NOT_SUPPORTED, "CKF_SERIAL_SESSION must be set"));
    }
    let token = m.token(slot)?;
    let rw = flags & CKF_RW_SESSION != 0;
    // Sessions on an uninitialised token are allowed (the spec does not forbid
    // them): p11-kit's server stops exporting tokens at the first slot whose
    // C_OpenSession fails. Nothing can be stored there until C_InitToken.
    let mut st = token.write();
    if !rw && st.so_logged_in() {
        return Err(err(CKR_SESSION_READ_WRITE_SO_EXISTS, "the SO is logged in: only R/W sessions"));
    }
    st.sessions += 1;
    if rw {
        st.rw_sessions += 1;
    }
    let tok = token.clone();
    let app = app();
    // Registered under the token's lock, so that no one sees the session without
    // its application.
    let handle =
        m.add_session(|handle| Session { handle, token: tok, app, rw, ops: parking_lot::Mutex::new(Ops::default()) });
    st.session_apps.insert(handle, app);
    Ok(handle)
}

/// Ends a session that was already unregistered: destroys its session objects, and
/// logs its application out of the token when it was the application's last one
/// there (§5.6: "when the last session is closed, the user is logged out").
fn end(m: &Module, token: &Arc<Token>, session: &Session) {
    let mut st = token.write();
    let owned = st.objects.owned_by(session.handle);
    let objects: Vec<_> = owned.iter().filter_map(|&h| st.objects.get(h).cloned()).collect();
    super::audit::report_usage(m, token.partition, super::audit::role_of(&st), &objects);
    for h in owned {
        st.objects.remove(h);
    }
    st.session_apps.remove(&session.handle);
    st.sessions = st.sessions.saturating_sub(1);
    if session.rw {
        st.rw_sessions = st.rw_sessions.saturating_sub(1);
    }
    if m.app_sessions(token.slot_id).0 == 0 && st.login().is_some() {
        // The session is gone whatever the log says; a failed write is reported in
        // the module's log, and the store's own error shows in the next call.
        let role = super::audit::role_of(&st);
        super::audit::report_token_usage(m, token.partition, &st);
        let p =
            super::audit::Pending { partition: token.partition, role, event: "logout", object: None, result: CKR_OK };
        let reason = [("reason", ferrohsm_store::audit::Value::Str("last_session_closed"))];
        if let Err(e) = super::audit::write_with(m, &p, &reason) {
            log::error!("slot {}: the audit entry of an implicit logout was not written: {e}", token.slot_id);
        }
        super::login::drop_login(&mut st);
    }
}

/// `C_CloseSession`.
pub fn close_session(m: &Module, handle: CK_SESSION_HANDLE) -> Result<()> {
    let session = m.take_session(handle)?;
    end(m, &session.token, &session);
    Ok(())
}

/// `C_CloseAllSessions`: the calling application's sessions on `slot`.
pub fn close_all_sessions(m: &Module, slot: CK_SLOT_ID) -> Result<()> {
    m.token(slot)?;
    for s in m.take_sessions_of(Some(slot)) {
        end(m, &s.token, &s);
    }
    Ok(())
}

/// Ends an application (a client of the server that went away, or that called
/// `C_Finalize`): closes its sessions on every token, which logs it out.
pub fn end_app(m: &Module) {
    for s in m.take_sessions_of(None) {
        end(m, &s.token, &s);
    }
}

/// `C_GetSessionInfo`.
pub fn get_session_info(m: &Module, handle: CK_SESSION_HANDLE) -> Result<CK_SESSION_INFO> {
    let s = m.session(handle)?;
    let st = s.token.state.read();
    Ok(CK_SESSION_INFO {
        slotID: s.token.slot_id,
        state: s.state(&st),
        flags: CKF_SERIAL_SESSION | if s.rw { CKF_RW_SESSION } else { 0 },
        ulDeviceError: 0,
    })
}

/// `C_SessionCancel` (3.0): ends the operations named by `flags`.
pub fn session_cancel(m: &Module, handle: CK_SESSION_HANDLE, flags: CK_FLAGS) -> Result<()> {
    let s = m.session(handle)?;
    let mut ops = s.ops.lock();
    if flags & CKF_FIND_OBJECTS != 0 {
        ops.find = None;
    }
    if flags & CKF_DIGEST != 0 {
        ops.digest = None;
    }
    if flags & CKF_ENCRYPT != 0 {
        ops.encrypt = None;
    }
    if flags & CKF_DECRYPT != 0 {
        ops.decrypt = None;
    }
    if flags & CKF_SIGN != 0 {
        ops.sign = None;
    }
    if flags & CKF_VERIFY != 0 {
        // C_VerifyInit's or C_VerifySignatureInit's: the session's one verification.
        ops.verify = None;
        ops.verify_signature = None;
    }
    if flags & CKF_MESSAGE_SIGN != 0 {
        ops.message_sign = None;
    }
    if flags & CKF_MESSAGE_VERIFY != 0 {
        ops.message_verify = None;
    }
    Ok(())
}
