//! Slot and token management (§5.5).

use cryptoki_sys::*;

use super::{bytes, guard, write, write_list};
use crate::error::err;
use crate::module;
use crate::token::{login, slot};

/// `C_GetSlotList`. `pSlotList` null: length query; `pulCount` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetSlotList(
    _tokenPresent: CK_BBOOL,
    pSlotList: *mut CK_SLOT_ID,
    pulCount: *mut CK_ULONG,
) -> CK_RV {
    guard("C_GetSlotList", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        unsafe { write_list(pSlotList, pulCount, &slot::get_slot_list(&m)) }
    })
}

/// `C_GetSlotInfo`. `pInfo` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetSlotInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_SLOT_INFO) -> CK_RV {
    guard("C_GetSlotInfo", || {
        let m = module::get()?;
        let info = slot::get_slot_info(&m, slotID)?;
        // SAFETY: checked for null; writable by contract.
        unsafe { write(pInfo, info) }
    })
}

/// `C_GetTokenInfo`. `pInfo` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetTokenInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_TOKEN_INFO) -> CK_RV {
    guard("C_GetTokenInfo", || {
        let m = module::get()?;
        let info = slot::get_token_info(&m, slotID)?;
        // SAFETY: checked for null; writable by contract.
        unsafe { write(pInfo, info) }
    })
}

/// `C_GetMechanismList`. Length-query protocol on `pMechanismList`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetMechanismList(
    slotID: CK_SLOT_ID,
    pMechanismList: *mut CK_MECHANISM_TYPE,
    pulCount: *mut CK_ULONG,
) -> CK_RV {
    guard("C_GetMechanismList", || {
        let m = module::get()?;
        let list = slot::get_mechanism_list(&m, slotID)?;
        // SAFETY: forwarded contract.
        unsafe { write_list(pMechanismList, pulCount, &list) }
    })
}

/// `C_GetMechanismInfo`. `pInfo` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetMechanismInfo(
    slotID: CK_SLOT_ID,
    type_: CK_MECHANISM_TYPE,
    pInfo: *mut CK_MECHANISM_INFO,
) -> CK_RV {
    guard("C_GetMechanismInfo", || {
        let m = module::get()?;
        let info = slot::get_mechanism_info(&m, slotID, type_)?;
        // SAFETY: checked for null; writable by contract.
        unsafe { write(pInfo, info) }
    })
}

/// `C_InitToken`. `pPin` points to `ulPinLen` bytes; `pLabel` to 32 blank-padded bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_InitToken(
    slotID: CK_SLOT_ID,
    pPin: *mut CK_UTF8CHAR,
    ulPinLen: CK_ULONG,
    pLabel: *mut CK_UTF8CHAR,
) -> CK_RV {
    guard("C_InitToken", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let pin = unsafe { bytes(pPin, ulPinLen)? };
        if pin.is_empty() {
            return Err(err(CKR_ARGUMENTS_BAD, "this token has no protected authentication path: give a PIN"));
        }
        if pLabel.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "null label"));
        }
        // SAFETY: the label is 32 readable bytes by the spec's contract.
        let label: [u8; 32] = unsafe { std::ptr::read_unaligned(pLabel as *const [u8; 32]) };
        slot::init_token(&m, slotID, pin, &label)
    })
}

/// `C_InitPIN`. `pPin` points to `ulPinLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_InitPIN(hSession: CK_SESSION_HANDLE, pPin: *mut CK_UTF8CHAR, ulPinLen: CK_ULONG) -> CK_RV {
    guard("C_InitPIN", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let pin = unsafe { bytes(pPin, ulPinLen)? };
        if pPin.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "this token has no protected authentication path: give a PIN"));
        }
        login::init_pin(&m, hSession, pin)
    })
}

/// `C_SetPIN`. Both PINs point to their lengths in bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SetPIN(
    hSession: CK_SESSION_HANDLE,
    pOldPin: *mut CK_UTF8CHAR,
    ulOldLen: CK_ULONG,
    pNewPin: *mut CK_UTF8CHAR,
    ulNewLen: CK_ULONG,
) -> CK_RV {
    guard("C_SetPIN", || {
        let m = module::get()?;
        if pOldPin.is_null() || pNewPin.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "this token has no protected authentication path: give PINs"));
        }
        // SAFETY: forwarded contract.
        let (old, new) = unsafe { (bytes(pOldPin, ulOldLen)?, bytes(pNewPin, ulNewLen)?) };
        login::set_pin(&m, hSession, old, new)
    })
}

/// `C_WaitForSlotEvent`: slots do not change by themselves (partitions appear only
/// through calls), so there are no events to wait for.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_WaitForSlotEvent(
    _flags: CK_FLAGS,
    _pSlot: *mut CK_SLOT_ID,
    _pReserved: *mut std::ffi::c_void,
) -> CK_RV {
    guard("C_WaitForSlotEvent", || {
        module::get()?;
        Err(err(CKR_FUNCTION_NOT_SUPPORTED, "no slot events"))
    })
}
