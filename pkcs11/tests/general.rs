//! General-purpose functions and the C ABI itself: initialisation (with every
//! argument form), re-initialisation, fork, interfaces, and bad pointers.

#[macro_use]
mod common;

use std::ffi::c_void;
use std::ptr;

use common::*;

fn init_args(flags: CK_FLAGS) -> CK_C_INITIALIZE_ARGS {
    CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags,
        pReserved: ptr::null_mut(),
    }
}

unsafe extern "C" fn create_mutex(m: *mut *mut c_void) -> CK_RV {
    unsafe { *m = Box::into_raw(Box::new(0u8)) as *mut c_void };
    CKR_OK
}
unsafe extern "C" fn destroy_mutex(m: *mut c_void) -> CK_RV {
    drop(unsafe { Box::from_raw(m as *mut u8) });
    CKR_OK
}
unsafe extern "C" fn lock_mutex(_: *mut c_void) -> CK_RV {
    CKR_OK
}

#[test]
fn initialize_accepts_null_os_locking_and_callbacks_and_rejects_bad_args() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    use_store(dir.path());
    let cases: Vec<(Box<dyn Fn() -> CK_C_INITIALIZE_ARGS>, CK_RV)> = vec![
        (Box::new(|| init_args(CKF_OS_LOCKING_OK)), CKR_OK),
        (Box::new(|| init_args(0)), CKR_OK),
        (
            Box::new(|| CK_C_INITIALIZE_ARGS {
                CreateMutex: Some(create_mutex),
                DestroyMutex: Some(destroy_mutex),
                LockMutex: Some(lock_mutex),
                UnlockMutex: Some(lock_mutex),
                ..init_args(0)
            }),
            CKR_OK,
        ),
        (
            Box::new(|| CK_C_INITIALIZE_ARGS {
                CreateMutex: Some(create_mutex),
                DestroyMutex: Some(destroy_mutex),
                LockMutex: Some(lock_mutex),
                UnlockMutex: Some(lock_mutex),
                ..init_args(CKF_OS_LOCKING_OK)
            }),
            CKR_OK,
        ),
        // Some callbacks but not all.
        (Box::new(|| CK_C_INITIALIZE_ARGS { CreateMutex: Some(create_mutex), ..init_args(0) }), CKR_ARGUMENTS_BAD),
        (Box::new(|| CK_C_INITIALIZE_ARGS { pReserved: 8 as *mut c_void, ..init_args(0) }), CKR_ARGUMENTS_BAD),
    ];
    for (i, (args, want)) in cases.iter().enumerate() {
        let mut a = args();
        let rv = call!(C_Initialize, &mut a as *mut _ as *mut c_void);
        assert_eq!(rv, *want, "case {i}");
        if rv == CKR_OK {
            let mut n = 0;
            assert_eq!(call!(C_GetSlotList, CK_TRUE, ptr::null_mut(), &mut n), CKR_OK);
            assert_eq!(n, 2);
            assert_eq!(call!(C_Finalize, ptr::null_mut()), CKR_OK);
        }
    }
    assert_eq!(call!(C_Initialize, ptr::null_mut()), CKR_OK);
    assert_eq!(call!(C_Initialize, ptr::null_mut()), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    assert_eq!(call!(C_Finalize, ptr::dangling_mut::<c_void>()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_Finalize, ptr::null_mut()), CKR_OK);
    assert_eq!(call!(C_Finalize, ptr::null_mut()), CKR_CRYPTOKI_NOT_INITIALIZED);
}

#[test]
fn calls_before_initialize_say_so() {
    let _g = lock();
    let mut n = 0;
    assert_eq!(call!(C_GetSlotList, CK_FALSE, ptr::null_mut(), &mut n), CKR_CRYPTOKI_NOT_INITIALIZED);
    let mut info: CK_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(C_GetInfo, &mut info), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_eq!(call!(C_CloseSession, 1), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_eq!(call!(C_SignInit, 1, ptr::null_mut(), 1), CKR_CRYPTOKI_NOT_INITIALIZED);
}

#[test]
fn finalize_then_initialize_keeps_the_data() {
    let (mut h, s) = Hsm::ready();
    let o = h.create(s, &data("kept", true)).unwrap();
    let uid = h.get(s, o, CKA_UNIQUE_ID).unwrap();
    h.restart();
    let s = h.open(0, false);
    let found = h.find(s, &Tmpl::new().label("kept"));
    assert_eq!(found.len(), 1);
    assert_eq!(h.get(s, found[0], CKA_UNIQUE_ID).unwrap(), uid, "unique id is stable");
}

#[test]
fn get_info_describes_the_library() {
    let _h = Hsm::fresh();
    let mut info: CK_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(C_GetInfo, &mut info), CKR_OK);
    assert_eq!((info.cryptokiVersion.major, info.cryptokiVersion.minor), (3, 0));
    assert_eq!(&info.manufacturerID[..8], b"ferrohsm");
    assert!(info.manufacturerID[8..].iter().all(|&c| c == b' '), "blank padded");
    assert_eq!(call!(C_GetInfo, ptr::null_mut()), CKR_ARGUMENTS_BAD);
}

#[test]
fn interfaces_offer_3_2_3_0_and_2_40() {
    let _g = lock();
    type GetList = unsafe extern "C" fn(*mut CK_INTERFACE, *mut CK_ULONG) -> CK_RV;
    let get_list: GetList = f3().C_GetInterfaceList.unwrap();
    let get = f3().C_GetInterface.unwrap();
    let mut n = 0;
    assert_eq!(unsafe { get_list(ptr::null_mut(), &mut n) }, CKR_OK);
    assert_eq!(n, 3);
    let mut small = [CK_INTERFACE { pInterfaceName: ptr::null_mut(), pFunctionList: ptr::null_mut(), flags: 0 }; 1];
    let mut one = 1;
    assert_eq!(unsafe { get_list(small.as_mut_ptr(), &mut one) }, CKR_BUFFER_TOO_SMALL);
    assert_eq!(one, 3);
    let mut list = [small[0]; 3];
    assert_eq!(unsafe { get_list(list.as_mut_ptr(), &mut n) }, CKR_OK);
    let versions: Vec<(u8, u8)> = list
        .iter()
        .map(|i| unsafe {
            let name = std::ffi::CStr::from_ptr(i.pInterfaceName as *const _);
            assert_eq!(name.to_bytes(), b"PKCS 11");
            let v = *(i.pFunctionList as *const CK_VERSION);
            (v.major, v.minor)
        })
        .collect();
    assert_eq!(versions, vec![(3, 0), (3, 2), (2, 40)]);

    // The default (no name, no version) is 3.0, which interposers such as OpenSC's
    // pkcs11-spy know; 3.2 is found by its version, and its list starts as the 3.0
    // list does.
    let mut default = ptr::null_mut();
    assert_eq!(unsafe { get(ptr::null_mut(), ptr::null_mut(), &mut default, 0) }, CKR_OK);
    assert_eq!(unsafe { *((*default).pFunctionList as *const CK_VERSION) }.minor, 0, "the default is 3.0");
    let mut v32 = CK_VERSION { major: 3, minor: 2 };
    let mut out = ptr::null_mut();
    assert_eq!(unsafe { get(c"PKCS 11".as_ptr() as *mut _, &mut v32, &mut out, 0) }, CKR_OK);
    let l32 = unsafe { &*((*out).pFunctionList as *const CK_FUNCTION_LIST_3_2) };
    assert_eq!((l32.version.major, l32.version.minor), (3, 2));
    assert_eq!(l32.C_Login.map(|p| p as usize), f3().C_Login.map(|p| p as usize));
    assert_eq!(l32.C_MessageVerifyFinal.map(|p| p as usize), f3().C_MessageVerifyFinal.map(|p| p as usize));
    assert!(l32.C_EncapsulateKey.is_some() && l32.C_DecapsulateKey.is_some());
    // Every field of the 3.2 list is set.
    let words = unsafe {
        std::slice::from_raw_parts(
            (l32 as *const CK_FUNCTION_LIST_3_2 as *const u8).add(size_of::<CK_VERSION>().next_multiple_of(8))
                as *const usize,
            (size_of::<CK_FUNCTION_LIST_3_2>() - 8) / 8,
        )
    };
    assert_eq!(words.len(), 68 + 24 + 12);
    assert!(words.iter().all(|&w| w != 0), "a function pointer of the 3.2 list is missing");
    // (tests/kem.rs calls the 3.2 functions on an initialised module.)
    let mut v30 = CK_VERSION { major: 3, minor: 0 };
    assert_eq!(unsafe { get(c"PKCS 11".as_ptr() as *mut _, &mut v30, &mut out, 0) }, CKR_OK);
    assert_eq!(unsafe { *((*out).pFunctionList as *const CK_VERSION) }.minor, 0);
    assert_eq!(out, default, "3.0 by its version is the default");

    let mut out = ptr::null_mut();
    let mut v240 = CK_VERSION { major: 2, minor: 40 };
    assert_eq!(unsafe { get(c"PKCS 11".as_ptr() as *mut _, &mut v240, &mut out, 0) }, CKR_OK);
    assert_eq!(unsafe { *((*out).pFunctionList as *const CK_VERSION) }.minor, 40);
    assert_eq!(unsafe { get(c"Vendor".as_ptr() as *mut _, ptr::null_mut(), &mut out, 0) }, CKR_ARGUMENTS_BAD);
    let mut v9 = CK_VERSION { major: 9, minor: 9 };
    assert_eq!(unsafe { get(ptr::null_mut(), &mut v9, &mut out, 0) }, CKR_ARGUMENTS_BAD);
    assert_eq!(unsafe { get(ptr::null_mut(), ptr::null_mut(), &mut out, CKF_INTERFACE_FORK_SAFE,) }, CKR_ARGUMENTS_BAD);
    assert_eq!(unsafe { get(ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), 0) }, CKR_ARGUMENTS_BAD);
    // The 3.0 list and the 2.40 list share their 2.40 functions.
    assert_eq!(f3().C_Login.map(|p| p as usize), f().C_Login.map(|p| p as usize));
}

/// OpenSC's pkcs11-spy (`spy_interface_function_list`) writes its own function
/// list into the `CK_INTERFACE` that `C_GetInterface` returned. A module whose
/// interfaces sat in read-only memory killed the process (SIGSEGV) there.
#[test]
fn the_interface_handed_out_is_writable_as_pkcs11_spy_expects() {
    let _g = lock();
    let get = f3().C_GetInterface.unwrap();
    type GetList = unsafe extern "C" fn(*mut CK_INTERFACE, *mut CK_ULONG) -> CK_RV;
    let get_list: GetList = f3().C_GetInterfaceList.unwrap();
    let mut out: *mut CK_INTERFACE = ptr::null_mut();
    assert_eq!(unsafe { get(c"PKCS 11".as_ptr() as *mut _, ptr::null_mut(), &mut out, 0) }, CKR_OK);
    let ours = unsafe { (*out).pFunctionList };
    // What the spy does: put its own list in (any other address will do here).
    let spy = f() as *const CK_FUNCTION_LIST as *mut c_void;
    unsafe { (*out).pFunctionList = spy };
    assert_eq!(unsafe { (*out).pFunctionList }, spy);
    // The module's own answers do not change: it never reads the copy back.
    let mut list = [CK_INTERFACE { pInterfaceName: ptr::null_mut(), pFunctionList: ptr::null_mut(), flags: 0 }; 3];
    let mut n = 3;
    assert_eq!(unsafe { get_list(list.as_mut_ptr(), &mut n) }, CKR_OK);
    assert_eq!(list[0].pFunctionList, ours);
    // The default is the 3.0 interface.
    let mut v30 = CK_VERSION { major: 3, minor: 0 };
    let mut again: *mut CK_INTERFACE = ptr::null_mut();
    assert_eq!(unsafe { get(ptr::null_mut(), &mut v30, &mut again, 0) }, CKR_OK);
    assert_eq!(again, out, "the same interface, found by its version, not by what the caller wrote");
    unsafe { (*out).pFunctionList = ours };
}

#[test]
fn every_function_of_the_2_40_list_is_present() {
    let _g = lock();
    let l = f();
    assert_eq!((l.version.major, l.version.minor), (2, 40));
    // Every field is an Option<fn>: none may be None.
    let words = unsafe {
        std::slice::from_raw_parts(
            (l as *const CK_FUNCTION_LIST as *const u8).add(size_of::<CK_VERSION>().next_multiple_of(8))
                as *const usize,
            (size_of::<CK_FUNCTION_LIST>() - 8) / 8,
        )
    };
    assert_eq!(words.len(), 68);
    assert!(words.iter().all(|&w| w != 0), "a function pointer is missing");
    let words3 = unsafe {
        std::slice::from_raw_parts(
            (f3() as *const CK_FUNCTION_LIST_3_0 as *const u8).add(8) as *const usize,
            (size_of::<CK_FUNCTION_LIST_3_0>() - 8) / 8,
        )
    };
    assert!(words3.iter().all(|&w| w != 0), "a 3.0 function pointer is missing");
}

#[test]
fn null_pointers_are_arguments_bad_never_a_crash() {
    let (h, s) = Hsm::ready();
    let o = h.create(s, &data("d", false)).unwrap();
    assert_eq!(call!(C_GetSlotList, CK_FALSE, n(), n()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_GetSlotInfo, 0, n()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_GetTokenInfo, 0, n()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_GetMechanismList, 0, n(), n()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_GetMechanismInfo, 0, CKM_SHA256, n()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_OpenSession, 0, CKF_SERIAL_SESSION, n(), None, n()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_GetSessionInfo, s, n()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_Login, s, CKU_USER, n(), 4), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_InitToken, 0, n(), 0, n()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_SetPIN, s, n(), 3, n(), 3), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_CreateObject, s, n(), 1, n()), CKR_ARGUMENTS_BAD);
    let mut handle = 0;
    assert_eq!(call!(C_CreateObject, s, n(), 2, &mut handle), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_GetAttributeValue, s, o, n(), 1), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_SetAttributeValue, s, o, n(), 1), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_FindObjectsInit, s, n(), 3), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_GetObjectSize, s, o, n()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_DigestInit, s, n()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_GenerateRandom, s, n(), 16), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(C_SeedRandom, s, n(), 16), CKR_ARGUMENTS_BAD);
    // An attribute whose value pointer is null but says it has bytes.
    let mut a = CK_ATTRIBUTE { type_: CKA_LABEL, pValue: n(), ulValueLen: 5 };
    assert_eq!(call!(C_SetAttributeValue, s, o, &mut a, 1), CKR_ARGUMENTS_BAD);
    // A CK_ULONG attribute of the wrong size.
    let mut class = [0u8; 4];
    let mut a = CK_ATTRIBUTE { type_: CKA_CLASS, pValue: class.as_mut_ptr() as *mut _, ulValueLen: 4 };
    assert_eq!(call!(C_CreateObject, s, &mut a, 1, &mut handle), CKR_ATTRIBUTE_VALUE_INVALID);
    // The module is still fine.
    assert_eq!(h.get(s, o, CKA_LABEL).unwrap(), b"d");
}

#[test]
fn a_forked_child_initialises_again() {
    let mut h = Hsm::fresh();
    h.init_token(0, SO_PIN, "forks");
    h.init_user(0, USER_PIN);
    // The parent holds the store open: a child's C_Initialize gets a clean error,
    // not a hang and not CKR_CRYPTOKI_ALREADY_INITIALIZED.
    match unsafe { libc::fork() } {
        0 => {
            let mut n = 0;
            let before = call!(C_GetSlotList, CK_FALSE, ptr::null_mut(), &mut n);
            let rv = call!(C_Initialize, ptr::null_mut());
            let code = if before == CKR_CRYPTOKI_NOT_INITIALIZED && rv == CKR_FUNCTION_FAILED { 0 } else { 1 };
            unsafe { libc::_exit(code) };
        }
        pid => assert_eq!(wait(pid), 0, "child with the store held by the parent"),
    }
    // After the parent finalises, a child initialises and uses the token, and the
    // parent sees the child's work afterwards.
    h.finalize();
    match unsafe { libc::fork() } {
        0 => {
            let ok = call!(C_Initialize, ptr::null_mut()) == CKR_OK
                && {
                    let s = h.open(0, true);
                    h.login(s, CKU_USER, USER_PIN) == CKR_OK && h.create(s, &data("from-child", true)).is_ok()
                }
                && call!(C_Finalize, ptr::null_mut()) == CKR_OK;
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        pid => assert_eq!(wait(pid), 0, "child after the parent finalised"),
    }
    h.initialize();
    let s = h.open(0, false);
    assert_eq!(h.find(s, &Tmpl::new().label("from-child")).len(), 1);
    // The parent holds it again, forks, then finalises: the child, which closed
    // its inherited descriptors, can then open the store.
    let (rd, wr) = pipe();
    let (back_rd, back_wr) = pipe();
    match unsafe { libc::fork() } {
        0 => {
            let first = call!(C_Initialize, ptr::null_mut());
            unsafe { libc::write(back_wr, b"x".as_ptr() as *const _, 1) }; // tried once
            let mut b = [0u8];
            unsafe { libc::read(rd, b.as_mut_ptr() as *mut _, 1) }; // the parent finalised
            let second = call!(C_Initialize, ptr::null_mut());
            let mut n = 0;
            let listed = call!(C_GetSlotList, CK_FALSE, ptr::null_mut(), &mut n);
            let ok = first == CKR_FUNCTION_FAILED && second == CKR_OK && listed == CKR_OK && n == 2;
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        pid => {
            let mut b = [0u8];
            unsafe { libc::read(back_rd, b.as_mut_ptr() as *mut _, 1) };
            h.finalize();
            unsafe { libc::write(wr, b"x".as_ptr() as *const _, 1) };
            assert_eq!(wait(pid), 0, "child after the parent finalised post-fork");
        }
    }
}

fn n<T>() -> *mut T {
    ptr::null_mut()
}

fn wait(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "child crashed: status {status}");
    libc::WEXITSTATUS(status)
}

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}
