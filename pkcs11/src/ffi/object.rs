//! Object management (§5.7).

use cryptoki_sys::*;

use super::{guard, template, write, write_attributes};
use crate::error::{Error, err};
use crate::module;
use crate::token::objects;

/// `C_CreateObject`. `pTemplate` holds `ulCount` attributes; `phObject` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_CreateObject(
    hSession: CK_SESSION_HANDLE,
    pTemplate: *mut CK_ATTRIBUTE,
    ulCount: CK_ULONG,
    phObject: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_CreateObject", || {
        let m = module::get()?;
        if phObject.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "null phObject"));
        }
        // SAFETY: forwarded contract.
        let t = unsafe { template(pTemplate, ulCount)? };
        let h = objects::create_object(&m, hSession, &t)?;
        // SAFETY: checked for null; writable by contract.
        unsafe { write(phObject, h) }
    })
}

/// `C_CopyObject`. `pTemplate` holds `ulCount` attributes; `phNewObject` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_CopyObject(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pTemplate: *mut CK_ATTRIBUTE,
    ulCount: CK_ULONG,
    phNewObject: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_CopyObject", || {
        let m = module::get()?;
        if phNewObject.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "null phNewObject"));
        }
        // SAFETY: forwarded contract.
        let t = unsafe { template(pTemplate, ulCount)? };
        let h = objects::copy_object(&m, hSession, hObject, &t)?;
        // SAFETY: checked for null; writable by contract.
        unsafe { write(phNewObject, h) }
    })
}

/// `C_DestroyObject`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DestroyObject(hSession: CK_SESSION_HANDLE, hObject: CK_OBJECT_HANDLE) -> CK_RV {
    guard("C_DestroyObject", || objects::destroy_object(&*module::get()?, hSession, hObject))
}

/// `C_GetObjectSize`. `pulSize` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetObjectSize(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pulSize: *mut CK_ULONG,
) -> CK_RV {
    guard("C_GetObjectSize", || {
        let n = objects::get_object_size(&*module::get()?, hSession, hObject)?;
        // SAFETY: checked for null; writable by contract.
        unsafe { write(pulSize, n as CK_ULONG) }
    })
}

/// `C_GetAttributeValue`. `pTemplate` holds `ulCount` attributes, each with a
/// `pValue` that is null (length query) or points to `ulValueLen` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetAttributeValue(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pTemplate: *mut CK_ATTRIBUTE,
    ulCount: CK_ULONG,
) -> CK_RV {
    guard("C_GetAttributeValue", || {
        let m = module::get()?;
        if pTemplate.is_null() && ulCount > 0 {
            return Err(err(CKR_ARGUMENTS_BAD, "null template"));
        }
        if ulCount > super::MAX_LEN / size_of::<CK_ATTRIBUTE>() as CK_ULONG {
            return Err(err(CKR_ARGUMENTS_BAD, "oversized template"));
        }
        let types: Vec<CK_ATTRIBUTE_TYPE> = (0..ulCount as usize)
            // SAFETY: `pTemplate` holds `ulCount` attributes.
            .map(|i| unsafe { std::ptr::read_unaligned(pTemplate.add(i)) }.type_)
            .collect();
        let answers = objects::get_attribute_value(&m, hSession, hObject, &types)?;
        // SAFETY: forwarded contract.
        match unsafe { write_attributes(pTemplate, answers) } {
            CKR_OK => Ok(()),
            rv => Err(Error::new(rv)),
        }
    })
}

/// `C_SetAttributeValue`. `pTemplate` holds `ulCount` attributes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SetAttributeValue(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pTemplate: *mut CK_ATTRIBUTE,
    ulCount: CK_ULONG,
) -> CK_RV {
    guard("C_SetAttributeValue", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let t = unsafe { template(pTemplate, ulCount)? };
        objects::set_attribute_value(&m, hSession, hObject, &t)
    })
}

/// `C_FindObjectsInit`. `pTemplate` holds `ulCount` attributes (none: every object).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_FindObjectsInit(
    hSession: CK_SESSION_HANDLE,
    pTemplate: *mut CK_ATTRIBUTE,
    ulCount: CK_ULONG,
) -> CK_RV {
    guard("C_FindObjectsInit", || {
        let m = module::get()?;
        // SAFETY: forwarded contract.
        let t = unsafe { template(pTemplate, ulCount)? };
        objects::find_objects_init(&m, hSession, &t)
    })
}

/// `C_FindObjects`. `phObject` holds `ulMaxObjectCount` writable handles;
/// `pulObjectCount` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_FindObjects(
    hSession: CK_SESSION_HANDLE,
    phObject: *mut CK_OBJECT_HANDLE,
    ulMaxObjectCount: CK_ULONG,
    pulObjectCount: *mut CK_ULONG,
) -> CK_RV {
    guard("C_FindObjects", || {
        let m = module::get()?;
        if pulObjectCount.is_null() || (phObject.is_null() && ulMaxObjectCount > 0) {
            return Err(err(CKR_ARGUMENTS_BAD, "null output"));
        }
        let found = objects::find_objects(&m, hSession, ulMaxObjectCount.min(super::MAX_LEN) as usize)?;
        for (i, h) in found.iter().enumerate() {
            // SAFETY: `phObject` holds `ulMaxObjectCount >= found.len()` handles.
            unsafe { std::ptr::write_unaligned(phObject.add(i), *h) };
        }
        // SAFETY: checked for null; writable by contract.
        unsafe { write(pulObjectCount, found.len() as CK_ULONG) }
    })
}

/// `C_FindObjectsFinal`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_FindObjectsFinal(hSession: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_FindObjectsFinal", || objects::find_objects_final(&*module::get()?, hSession))
}
