//! General-purpose functions (§5.4) and the interface functions of PKCS#11 3.0
//! (with the 3.2 interface).

use std::cell::UnsafeCell;
use std::ffi::{CStr, c_void};
use std::path::Path;
use std::sync::Once;

use cryptoki_sys::*;

use super::{crypto::*, guard, kem::*, object::*, session::*, slot::*, write};
use crate::error::err;
use crate::module;
use crate::token::general::get_info;

/// Closes file descriptors inherited from the parent that point into `store`, so
/// that the parent's lock on it goes away when the parent closes it.
fn close_inherited(store: &Path) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .filter(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok_and(|t| t.starts_with(store)))
        .collect();
    for fd in fds {
        // SAFETY: closing a descriptor we inherited and no longer use; nothing in
        // this process refers to the abandoned store any more.
        unsafe { libc::close(fd) };
    }
}

extern "C" fn after_fork_in_child() {
    module::mark_forked();
}

static ATFORK: Once = Once::new();

/// `C_Initialize`. `pInitArgs` may be null or point to a `CK_C_INITIALIZE_ARGS`.
/// Mutex callbacks are accepted (all four or none); the module's own locks are
/// operating-system primitives, which is what `CKF_OS_LOCKING_OK` asks for and
/// what the callbacks exist to provide. `pReserved` must be null.
///
/// Returns `CKR_FUNCTION_FAILED` (with one line on stderr) when the store cannot be
/// opened, e.g. because another process has it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Initialize(pInitArgs: *mut c_void) -> CK_RV {
    guard("C_Initialize", || {
        if !pInitArgs.is_null() {
            // SAFETY: non-null, points to CK_C_INITIALIZE_ARGS by the spec's contract.
            let args = unsafe { std::ptr::read_unaligned(pInitArgs as *const CK_C_INITIALIZE_ARGS) };
            if !args.pReserved.is_null() {
                return Err(err(CKR_ARGUMENTS_BAD, "pReserved must be NULL"));
            }
            let given = [
                args.CreateMutex.is_some(),
                args.DestroyMutex.is_some(),
                args.LockMutex.is_some(),
                args.UnlockMutex.is_some(),
            ];
            if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
                return Err(err(CKR_ARGUMENTS_BAD, "give all four mutex callbacks or none"));
            }
        }
        ATFORK.call_once(|| {
            // SAFETY: registers a plain function that only stores an atomic flag.
            unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        });
        if let Some(path) = module::abandon_inherited() {
            close_inherited(&path);
        }
        module::initialize().map_err(|e| {
            if e.rv() == CKR_CRYPTOKI_ALREADY_INITIALIZED {
                return e;
            }
            eprintln!("ferrohsm: C_Initialize: {}", e.message());
            // C_Initialize may return only these (PKCS#11 §5.4); a damaged or
            // unreadable store is a function failure here.
            match e.rv() {
                CKR_ARGUMENTS_BAD
                | CKR_CANT_LOCK
                | CKR_FUNCTION_FAILED
                | CKR_GENERAL_ERROR
                | CKR_HOST_MEMORY
                | CKR_NEED_TO_CREATE_THREADS => e,
                _ => crate::error::Error::new(CKR_FUNCTION_FAILED).context(e.message()),
            }
        })
    })
}

/// `C_Finalize`. `pReserved` must be null.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Finalize(pReserved: *mut c_void) -> CK_RV {
    guard("C_Finalize", || {
        if !pReserved.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "pReserved must be NULL"));
        }
        module::finalize()
    })
}

/// `C_GetInfo`. `pInfo` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetInfo(pInfo: *mut CK_INFO) -> CK_RV {
    guard("C_GetInfo", || {
        module::get()?;
        // SAFETY: checked for null; writable by contract.
        unsafe { write(pInfo, get_info()) }
    })
}

macro_rules! function_list {
    ($ty:ident { $($extra:ident),* }) => {
        $ty {
            version: CK_VERSION { major: 0, minor: 0 },
            C_Initialize: Some(C_Initialize),
            C_Finalize: Some(C_Finalize),
            C_GetInfo: Some(C_GetInfo),
            C_GetFunctionList: Some(C_GetFunctionList),
            C_GetSlotList: Some(C_GetSlotList),
            C_GetSlotInfo: Some(C_GetSlotInfo),
            C_GetTokenInfo: Some(C_GetTokenInfo),
            C_GetMechanismList: Some(C_GetMechanismList),
            C_GetMechanismInfo: Some(C_GetMechanismInfo),
            C_InitToken: Some(C_InitToken),
            C_InitPIN: Some(C_InitPIN),
            C_SetPIN: Some(C_SetPIN),
            C_OpenSession: Some(C_OpenSession),
            C_CloseSession: Some(C_CloseSession),
            C_CloseAllSessions: Some(C_CloseAllSessions),
            C_GetSessionInfo: Some(C_GetSessionInfo),
            C_GetOperationState: Some(C_GetOperationState),
            C_SetOperationState: Some(C_SetOperationState),
            C_Login: Some(C_Login),
            C_Logout: Some(C_Logout),
            C_CreateObject: Some(C_CreateObject),
            C_CopyObject: Some(C_CopyObject),
            C_DestroyObject: Some(C_DestroyObject),
            C_GetObjectSize: Some(C_GetObjectSize),
            C_GetAttributeValue: Some(C_GetAttributeValue),
            C_SetAttributeValue: Some(C_SetAttributeValue),
            C_FindObjectsInit: Some(C_FindObjectsInit),
            C_FindObjects: Some(C_FindObjects),
            C_FindObjectsFinal: Some(C_FindObjectsFinal),
            C_EncryptInit: Some(C_EncryptInit),
            C_Encrypt: Some(C_Encrypt),
            C_EncryptUpdate: Some(C_EncryptUpdate),
            C_EncryptFinal: Some(C_EncryptFinal),
            C_DecryptInit: Some(C_DecryptInit),
            C_Decrypt: Some(C_Decrypt),
            C_DecryptUpdate: Some(C_DecryptUpdate),
            C_DecryptFinal: Some(C_DecryptFinal),
            C_DigestInit: Some(C_DigestInit),
            C_Digest: Some(C_Digest),
            C_DigestUpdate: Some(C_DigestUpdate),
            C_DigestKey: Some(C_DigestKey),
            C_DigestFinal: Some(C_DigestFinal),
            C_SignInit: Some(C_SignInit),
            C_Sign: Some(C_Sign),
            C_SignUpdate: Some(C_SignUpdate),
            C_SignFinal: Some(C_SignFinal),
            C_SignRecoverInit: Some(C_SignRecoverInit),
            C_SignRecover: Some(C_SignRecover),
            C_VerifyInit: Some(C_VerifyInit),
            C_Verify: Some(C_Verify),
            C_VerifyUpdate: Some(C_VerifyUpdate),
            C_VerifyFinal: Some(C_VerifyFinal),
            C_VerifyRecoverInit: Some(C_VerifyRecoverInit),
            C_VerifyRecover: Some(C_VerifyRecover),
            C_DigestEncryptUpdate: Some(C_DigestEncryptUpdate),
            C_DecryptDigestUpdate: Some(C_DecryptDigestUpdate),
            C_SignEncryptUpdate: Some(C_SignEncryptUpdate),
            C_DecryptVerifyUpdate: Some(C_DecryptVerifyUpdate),
            C_GenerateKey: Some(C_GenerateKey),
            C_GenerateKeyPair: Some(C_GenerateKeyPair),
            C_WrapKey: Some(C_WrapKey),
            C_UnwrapKey: Some(C_UnwrapKey),
            C_DeriveKey: Some(C_DeriveKey),
            C_SeedRandom: Some(C_SeedRandom),
            C_GenerateRandom: Some(C_GenerateRandom),
            C_GetFunctionStatus: Some(C_GetFunctionStatus),
            C_CancelFunction: Some(C_CancelFunction),
            C_WaitForSlotEvent: Some(C_WaitForSlotEvent),
            $($extra: Some($extra),)*
        }
    };
}

/// The PKCS#11 2.40 function list.
static FUNCTIONS_2_40: CK_FUNCTION_LIST = {
    let mut f = function_list!(CK_FUNCTION_LIST {});
    f.version = CK_VERSION { major: 2, minor: 40 };
    f
};

/// The PKCS#11 3.0 function list.
static FUNCTIONS_3_0: CK_FUNCTION_LIST_3_0 = {
    let mut f = function_list!(CK_FUNCTION_LIST_3_0 {
        C_GetInterfaceList,
        C_GetInterface,
        C_LoginUser,
        C_SessionCancel,
        C_MessageEncryptInit,
        C_EncryptMessage,
        C_EncryptMessageBegin,
        C_EncryptMessageNext,
        C_MessageEncryptFinal,
        C_MessageDecryptInit,
        C_DecryptMessage,
        C_DecryptMessageBegin,
        C_DecryptMessageNext,
        C_MessageDecryptFinal,
        C_MessageSignInit,
        C_SignMessage,
        C_SignMessageBegin,
        C_SignMessageNext,
        C_MessageSignFinal,
        C_MessageVerifyInit,
        C_VerifyMessage,
        C_VerifyMessageBegin,
        C_VerifyMessageNext,
        C_MessageVerifyFinal
    });
    f.version = CK_VERSION { major: 3, minor: 0 };
    f
};

/// The PKCS#11 3.2 function list: the 3.0 list followed by the 3.2 functions.
/// `C_EncapsulateKey` and `C_DecapsulateKey` work; the others return
/// `CKR_FUNCTION_NOT_SUPPORTED` (ffi/crypto.rs).
static FUNCTIONS_3_2: CK_FUNCTION_LIST_3_2 = {
    let mut f = function_list!(CK_FUNCTION_LIST_3_2 {
        C_GetInterfaceList,
        C_GetInterface,
        C_LoginUser,
        C_SessionCancel,
        C_MessageEncryptInit,
        C_EncryptMessage,
        C_EncryptMessageBegin,
        C_EncryptMessageNext,
        C_MessageEncryptFinal,
        C_MessageDecryptInit,
        C_DecryptMessage,
        C_DecryptMessageBegin,
        C_DecryptMessageNext,
        C_MessageDecryptFinal,
        C_MessageSignInit,
        C_SignMessage,
        C_SignMessageBegin,
        C_SignMessageNext,
        C_MessageSignFinal,
        C_MessageVerifyInit,
        C_VerifyMessage,
        C_VerifyMessageBegin,
        C_VerifyMessageNext,
        C_MessageVerifyFinal,
        C_EncapsulateKey,
        C_DecapsulateKey,
        C_VerifySignatureInit,
        C_VerifySignature,
        C_VerifySignatureUpdate,
        C_VerifySignatureFinal,
        C_GetSessionValidationFlags,
        C_AsyncComplete,
        C_AsyncGetID,
        C_AsyncJoin,
        C_WrapKeyAuthenticated,
        C_UnwrapKeyAuthenticated
    });
    f.version = CK_VERSION { major: 3, minor: 2 };
    f
};

/// A `CK_INTERFACE` in a static: its pointers point to other statics and are never
/// written through.
#[repr(transparent)]
struct Interface(CK_INTERFACE);
// SAFETY: the pointers refer to immutable statics.
unsafe impl Sync for Interface {}

const INTERFACE_NAME: &CStr = c"PKCS 11";

/// The interfaces. The first is the default that `C_GetInterface` returns for a null
/// version (PKCS#11 3.2 §5.4.6 leaves the default to the token): 3.0, which every
/// 3.0-aware caller and interposer knows. OpenSC's pkcs11-spy, given 3.2 as the
/// default, stops logging (it wraps only the versions it knows); callers that want
/// the 3.2 functions (`C_EncapsulateKey`, `C_DecapsulateKey`) ask for 3.2 by version,
/// or take it from `C_GetInterfaceList`. The 3.2 list starts with the 3.0 list's
/// fields in the same order.
static INTERFACES: [Interface; 3] = [
    Interface(CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTIONS_3_0 as *const CK_FUNCTION_LIST_3_0 as *mut c_void,
        flags: 0,
    }),
    Interface(CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTIONS_3_2 as *const CK_FUNCTION_LIST_3_2 as *mut c_void,
        flags: 0,
    }),
    Interface(CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTIONS_2_40 as *const CK_FUNCTION_LIST as *mut c_void,
        flags: 0,
    }),
];

/// The `CK_INTERFACE`s that `C_GetInterface` hands out, in the order of
/// [`INTERFACES`]: copies in writable memory, because callers write into them.
/// OpenSC's pkcs11-spy replaces `pFunctionList` in the interface it receives with
/// its own list (C modules keep their interfaces in writable statics); in
/// [`INTERFACES`], which the linker puts in read-only memory, that write killed the
/// process with SIGSEGV. The module never reads these copies back: what it
/// matches and lists comes from [`INTERFACES`], so a caller's write changes only
/// what later callers in the same process receive, as with a C module.
#[repr(transparent)]
struct Handed(UnsafeCell<CK_INTERFACE>);
// SAFETY: the module only hands out pointers to the cells and never reads or
// writes them after initialisation; what callers do through those pointers is
// theirs, as in C.
unsafe impl Sync for Handed {}

static HANDED: [Handed; 3] = [
    Handed(UnsafeCell::new(INTERFACES[0].0)),
    Handed(UnsafeCell::new(INTERFACES[1].0)),
    Handed(UnsafeCell::new(INTERFACES[2].0)),
];

fn interface_version(i: &Interface) -> CK_VERSION {
    // Every function list starts with its CK_VERSION.
    // SAFETY: `pFunctionList` points to one of our static function lists.
    unsafe { *(i.0.pFunctionList as *const CK_VERSION) }
}

/// `C_GetFunctionList`: the 2.40 list. `ppFunctionList` must be writable. Works
/// before `C_Initialize`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetFunctionList(ppFunctionList: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    guard("C_GetFunctionList", || {
        // SAFETY: checked for null; writable by contract.
        unsafe { write(ppFunctionList, &FUNCTIONS_2_40 as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST) }
    })
}

/// `C_GetInterfaceList`: PKCS#11 3.2, 3.0 and 2.40, with the length-query protocol.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetInterfaceList(pInterfacesList: *mut CK_INTERFACE, pulCount: *mut CK_ULONG) -> CK_RV {
    guard("C_GetInterfaceList", || {
        let list: Vec<CK_INTERFACE> = INTERFACES.iter().map(|i| i.0).collect();
        // SAFETY: forwarded contract.
        unsafe { super::write_list(pInterfacesList, pulCount, &list) }
    })
}

/// `C_GetInterface`: by name (`"PKCS 11"` or null), version (null: the default, 3.0) and
/// flags (every requested flag must be offered; we offer none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetInterface(
    pInterfaceName: *mut CK_UTF8CHAR,
    pVersion: *mut CK_VERSION,
    ppInterface: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> CK_RV {
    guard("C_GetInterface", || {
        if ppInterface.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "null ppInterface"));
        }
        if !pInterfaceName.is_null() {
            // SAFETY: a non-null name is a NUL-terminated string by the spec's contract.
            let name = unsafe { CStr::from_ptr(pInterfaceName as *const std::ffi::c_char) };
            if name != INTERFACE_NAME {
                return Err(err(CKR_ARGUMENTS_BAD, "no interface of that name"));
            }
        }
        // SAFETY: a non-null version is readable by contract.
        let want = (!pVersion.is_null()).then(|| unsafe { std::ptr::read_unaligned(pVersion) });
        let found = INTERFACES.iter().position(|i| {
            let v = interface_version(i);
            want.is_none_or(|w| w.major == v.major && w.minor == v.minor) && i.0.flags & flags == flags
        });
        let i = found.ok_or_else(|| err(CKR_ARGUMENTS_BAD, "no interface with that version and flags"))?;
        // SAFETY: checked non-null; writable by contract. The pointer is to writable
        // memory (see `HANDED`).
        unsafe { write(ppInterface, HANDED[i].0.get()) }
    })
}
