//! Session management (§5.6), login, and the legacy parallel functions.

use std::ffi::c_void;

use cryptoki_sys::*;

use super::{bytes, guard, write};
use crate::error::err;
use crate::module;
use crate::token::{login, session};

/// `C_OpenSession`. `phSession` must be writable; the notification callback is
/// never called (no notifications are defined for these sessions).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_OpenSession(
    slotID: CK_SLOT_ID,
    flags: CK_FLAGS,
    _pApplication: *mut c_void,
    _Notify: CK_NOTIFY,
    phSession: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    guard("C_OpenSession", || {
        let m = module::get()?;
        if phSession.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "null phSession"));
        }
        let h = session::open_session(&m, slotID, flags)?;
        // SAFETY: checked for null; writable by contract.
        unsafe { write(phSession, h) }
    })
}

/// `C_CloseSession`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_CloseSession(hSession: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_CloseSession", || session::close_session(&*module::get()?, hSession))
}

/// `C_CloseAllSessions`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_CloseAllSessions(slotID: CK_SLOT_ID) -> CK_RV {
    guard("C_CloseAllSessions", || session::close_all_sessions(&*module::get()?, slotID))
}

/// `C_GetSessionInfo`. `pInfo` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetSessionInfo(hSession: CK_SESSION_HANDLE, pInfo: *mut CK_SESSION_INFO) -> CK_RV {
    guard("C_GetSessionInfo", || {
        let info = session::get_session_info(&*module::get()?, hSession)?;
        // SAFETY: checked for null; writable by contract.
        unsafe { write(pInfo, info) }
    })
}

/// `C_GetOperationState`: not supported (operation state holds key material).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetOperationState(
    hSession: CK_SESSION_HANDLE,
    _p: *mut CK_BYTE,
    _l: *mut CK_ULONG,
) -> CK_RV {
    guard("C_GetOperationState", || {
        module::get()?.session(hSession)?;
        Err(err(CKR_FUNCTION_NOT_SUPPORTED, "operation state is not exported"))
    })
}

/// `C_SetOperationState`: not supported.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SetOperationState(
    hSession: CK_SESSION_HANDLE,
    _p: *mut CK_BYTE,
    _l: CK_ULONG,
    _e: CK_OBJECT_HANDLE,
    _a: CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_SetOperationState", || {
        module::get()?.session(hSession)?;
        Err(err(CKR_FUNCTION_NOT_SUPPORTED, "operation state is not imported"))
    })
}

/// `C_Login`. `pPin` points to `ulPinLen` bytes (there is no protected
/// authentication path, so it must not be null).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Login(
    hSession: CK_SESSION_HANDLE,
    userType: CK_USER_TYPE,
    pPin: *mut CK_UTF8CHAR,
    ulPinLen: CK_ULONG,
) -> CK_RV {
    guard("C_Login", || {
        let m = module::get()?;
        if pPin.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "this token has no protected authentication path: give a PIN"));
        }
        // SAFETY: forwarded contract.
        let pin = unsafe { bytes(pPin, ulPinLen)? };
        login::login(&m, hSession, userType, pin)
    })
}

/// `C_LoginUser` (3.0). The user name must be empty: this token has none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_LoginUser(
    hSession: CK_SESSION_HANDLE,
    userType: CK_USER_TYPE,
    pPin: *mut CK_UTF8CHAR,
    ulPinLen: CK_ULONG,
    pUsername: *mut CK_UTF8CHAR,
    ulUsernameLen: CK_ULONG,
) -> CK_RV {
    guard("C_LoginUser", || {
        let m = module::get()?;
        if pPin.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "give a PIN"));
        }
        // SAFETY: forwarded contract.
        let (pin, name) = unsafe { (bytes(pPin, ulPinLen)?, bytes(pUsername, ulUsernameLen)?) };
        login::login_user(&m, hSession, userType, pin, name)
    })
}

/// `C_Logout`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Logout(hSession: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_Logout", || login::logout(&*module::get()?, hSession))
}

/// `C_SessionCancel` (3.0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SessionCancel(hSession: CK_SESSION_HANDLE, flags: CK_FLAGS) -> CK_RV {
    guard("C_SessionCancel", || session::session_cancel(&*module::get()?, hSession, flags))
}

/// `C_GetFunctionStatus`: legacy; functions never run in parallel.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetFunctionStatus(hSession: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_GetFunctionStatus", || {
        module::get()?.session(hSession)?;
        Err(err(CKR_FUNCTION_NOT_PARALLEL, "legacy function"))
    })
}

/// `C_CancelFunction`: legacy; functions never run in parallel.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_CancelFunction(hSession: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_CancelFunction", || {
        module::get()?.session(hSession)?;
        Err(err(CKR_FUNCTION_NOT_PARALLEL, "legacy function"))
    })
}
