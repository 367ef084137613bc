//! Roles and PINs: C_Login, C_Logout, C_InitPIN, C_SetPIN, with the spec's return
//! codes, shared login state, and PIN counters and locks.

#[macro_use]
mod common;

use std::ptr;

use common::*;

fn set_pin(s: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> CK_RV {
    call!(C_SetPIN, s, old.as_ptr() as *mut _, old.len() as CK_ULONG, new.as_ptr() as *mut _, new.len() as CK_ULONG)
}

fn init_pin(s: CK_SESSION_HANDLE, pin: &[u8]) -> CK_RV {
    call!(C_InitPIN, s, pin.as_ptr() as *mut _, pin.len() as CK_ULONG)
}

fn state(s: CK_SESSION_HANDLE) -> CK_STATE {
    let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(C_GetSessionInfo, s, &mut info), CKR_OK);
    info.state
}

#[test]
fn login_state_is_shared_by_the_sessions_of_a_slot() {
    let h = Hsm::fresh();
    h.init_token(0, SO_PIN, "t");
    h.init_user(0, USER_PIN);
    let a = h.open(0, false);
    let b = h.open(0, true);
    assert_eq!((state(a), state(b)), (CKS_RO_PUBLIC_SESSION, CKS_RW_PUBLIC_SESSION));
    assert_eq!(h.login(a, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!((state(a), state(b)), (CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS));
    // Logged in through a, b sees the user's private objects.
    let o = h.create(b, &data("mine", true).bool(CKA_PRIVATE, true)).unwrap();
    assert_eq!(h.find(a, &Tmpl::new().label("mine")), vec![o]);
    assert_eq!(h.login(b, CKU_USER, USER_PIN), CKR_USER_ALREADY_LOGGED_IN);
    assert_eq!(h.login(b, CKU_SO, SO_PIN), CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    assert_eq!(call!(C_Logout, b), CKR_OK);
    assert_eq!(state(a), CKS_RO_PUBLIC_SESSION);
    assert_eq!(call!(C_Logout, a), CKR_USER_NOT_LOGGED_IN);
    assert!(h.find(a, &Tmpl::new().label("mine")).is_empty(), "private again");
}

#[test]
fn closing_the_last_session_logs_out() {
    let h = Hsm::fresh();
    h.init_token(0, SO_PIN, "t");
    h.init_user(0, USER_PIN);
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    h.create(s, &data("p", true).bool(CKA_PRIVATE, true)).unwrap();
    assert_eq!(call!(C_CloseSession, s), CKR_OK);
    let s = h.open(0, false);
    assert_eq!(state(s), CKS_RO_PUBLIC_SESSION);
    assert!(h.find(s, &Tmpl::new().label("p")).is_empty());
    // Same with C_CloseAllSessions.
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(call!(C_CloseAllSessions, 0), CKR_OK);
    let s = h.open(0, false);
    assert_eq!(state(s), CKS_RO_PUBLIC_SESSION);
}

#[test]
fn the_so_needs_read_write_sessions() {
    let h = Hsm::fresh();
    h.init_token(0, SO_PIN, "t");
    let ro = h.open(0, false);
    let rw = h.open(0, true);
    assert_eq!(h.login(rw, CKU_SO, SO_PIN), CKR_SESSION_READ_ONLY_EXISTS);
    assert_eq!(call!(C_CloseSession, ro), CKR_OK);
    assert_eq!(h.login(rw, CKU_SO, SO_PIN), CKR_OK);
    assert_eq!(state(rw), CKS_RW_SO_FUNCTIONS);
    assert_eq!(h.try_open(0, CKF_SERIAL_SESSION), Err(CKR_SESSION_READ_WRITE_SO_EXISTS));
    // The SO cannot create private objects and does not see them.
    assert_eq!(h.create(rw, &data("x", true).bool(CKA_PRIVATE, true)), Err(CKR_USER_NOT_LOGGED_IN));
    assert!(h.create(rw, &data("y", true)).is_ok());
}

#[test]
fn bad_user_types_and_missing_pins_are_reported() {
    let h = Hsm::fresh();
    h.init_token(0, SO_PIN, "t");
    let s = h.open(0, true);
    assert_eq!(h.login(s, 7, USER_PIN), CKR_USER_TYPE_INVALID);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_USER_PIN_NOT_INITIALIZED);
    assert_eq!(h.login(s, CKU_CONTEXT_SPECIFIC, USER_PIN), CKR_USER_NOT_LOGGED_IN);
    assert_eq!(call!(C_Login, 999, CKU_USER, USER_PIN.as_ptr() as *mut _, 4), CKR_SESSION_HANDLE_INVALID);
    assert_eq!(call!(C_Logout, s), CKR_USER_NOT_LOGGED_IN);
    assert_eq!(init_pin(s, USER_PIN), CKR_USER_NOT_LOGGED_IN);
    assert_eq!(set_pin(s, USER_PIN, b"another-pin"), CKR_USER_PIN_NOT_INITIALIZED);
    // The 3.0 C_LoginUser: no user names on this token.
    let login_user = f3().C_LoginUser.unwrap();
    let name = b"alice";
    let rv = unsafe {
        login_user(s, CKU_SO, SO_PIN.as_ptr() as *mut _, SO_PIN.len() as CK_ULONG, name.as_ptr() as *mut _, 5)
    };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
    let rv = unsafe { login_user(s, CKU_SO, SO_PIN.as_ptr() as *mut _, SO_PIN.len() as CK_ULONG, ptr::null_mut(), 0) };
    assert_eq!(rv, CKR_OK);
    // Context-specific login with nothing waiting for it. (Close `s` first: the SO
    // login of `init_user` lasts while any session of the slot is open.)
    assert_eq!(call!(C_Logout, s), CKR_OK);
    assert_eq!(call!(C_CloseSession, s), CKR_OK);
    h.init_user(0, USER_PIN);
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(h.login(s, CKU_CONTEXT_SPECIFIC, USER_PIN), CKR_OPERATION_NOT_INITIALIZED);
}

#[test]
fn pins_change_and_their_lengths_are_checked() {
    let h = Hsm::fresh();
    h.init_token(0, SO_PIN, "t");
    let so = h.open(0, true);
    assert_eq!(h.login(so, CKU_SO, SO_PIN), CKR_OK);
    assert_eq!(init_pin(so, b"123"), CKR_PIN_LEN_RANGE);
    assert_eq!(init_pin(so, USER_PIN), CKR_OK);
    assert_ne!(h.token_info(0).flags & CKF_USER_PIN_INITIALIZED, 0);
    // The SO changes the SO PIN while logged in.
    assert_eq!(set_pin(so, b"not-the-so-pin", b"new-so-pin"), CKR_PIN_INCORRECT);
    assert_eq!(set_pin(so, SO_PIN, b"new-so-pin"), CKR_OK);
    assert_eq!(call!(C_Logout, so), CKR_OK);
    assert_eq!(h.login(so, CKU_SO, SO_PIN), CKR_PIN_INCORRECT);
    assert_eq!(h.login(so, CKU_SO, b"new-so-pin"), CKR_OK);
    assert_eq!(call!(C_Logout, so), CKR_OK);
    // Not logged in: C_SetPIN changes the user PIN, in R/W sessions only.
    let ro = h.open(0, false);
    assert_eq!(set_pin(ro, USER_PIN, b"second-user-pin"), CKR_SESSION_READ_ONLY);
    assert_eq!(call!(C_CloseSession, ro), CKR_OK);
    assert_eq!(set_pin(so, USER_PIN, b"abc"), CKR_PIN_LEN_RANGE);
    assert_eq!(set_pin(so, USER_PIN, b"second-user-pin"), CKR_OK);
    assert_eq!(h.login(so, CKU_USER, USER_PIN), CKR_PIN_INCORRECT);
    assert_eq!(h.login(so, CKU_USER, b"second-user-pin"), CKR_OK);
    // Logged in: the user changes their own PIN; private objects stay readable.
    let o = h.create(so, &data("secret", true).bool(CKA_PRIVATE, true)).unwrap();
    assert_eq!(set_pin(so, b"second-user-pin", b"third-user-pin"), CKR_OK);
    assert_eq!(call!(C_Logout, so), CKR_OK);
    assert_eq!(h.login(so, CKU_USER, b"third-user-pin"), CKR_OK);
    let found = h.find(so, &Tmpl::new().label("secret"));
    assert_eq!(found.len(), 1);
    assert_eq!(h.get(so, found[0], CKA_VALUE).unwrap(), b"some data");
    let _ = o;
}

#[test]
fn the_so_resets_the_user_pin_and_private_objects_survive() {
    let h = Hsm::fresh();
    h.init_token(0, SO_PIN, "t");
    h.init_user(0, USER_PIN);
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    h.create(s, &data("kept", true).bool(CKA_PRIVATE, true)).unwrap();
    assert_eq!(call!(C_Logout, s), CKR_OK);
    assert_eq!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    assert_eq!(init_pin(s, b"reset-pin"), CKR_OK);
    assert_eq!(call!(C_Logout, s), CKR_OK);
    assert_eq!(h.login(s, CKU_USER, b"reset-pin"), CKR_OK);
    assert_eq!(h.find(s, &Tmpl::new().label("kept")).len(), 1, "the master key did not change");
}

#[test]
fn failed_logins_count_then_lock_and_the_flags_say_so() {
    let mut h = Hsm::fresh();
    h.init_token(0, SO_PIN, "t");
    h.init_user(0, USER_PIN);
    let mut s = h.open(0, true);
    // Ten failures by default.
    for i in 1..=10 {
        assert_eq!(h.login(s, CKU_USER, b"wrong-pin"), CKR_PIN_INCORRECT, "attempt {i}");
        let flags = h.token_info(0).flags;
        assert_ne!(flags & CKF_USER_PIN_COUNT_LOW, 0, "after {i}");
        assert_eq!(flags & CKF_USER_PIN_FINAL_TRY != 0, i == 9, "final try after {i}");
        if i == 5 {
            // The counter survives a restart.
            h.restart();
            s = h.open(0, true);
        }
    }
    let s = h.open(0, true);
    assert_ne!(h.token_info(0).flags & CKF_USER_PIN_LOCKED, 0);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_PIN_LOCKED, "even the right PIN");
    h.restart();
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_PIN_LOCKED);
    // The SO unlocks by setting a new PIN.
    assert_eq!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    assert_eq!(init_pin(s, b"fresh-pin"), CKR_OK);
    assert_eq!(call!(C_Logout, s), CKR_OK);
    let flags = h.token_info(0).flags;
    assert_eq!(flags & (CKF_USER_PIN_LOCKED | CKF_USER_PIN_COUNT_LOW), 0);
    assert_eq!(h.login(s, CKU_USER, b"fresh-pin"), CKR_OK);
}

#[test]
fn a_success_clears_the_counter() {
    let h = Hsm::fresh();
    h.init_token(0, SO_PIN, "t");
    h.init_user(0, USER_PIN);
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, b"wrong-pin"), CKR_PIN_INCORRECT);
    assert_ne!(h.token_info(0).flags & CKF_USER_PIN_COUNT_LOW, 0);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(h.token_info(0).flags & CKF_USER_PIN_COUNT_LOW, 0);
}

#[test]
fn the_so_pin_locks_too_and_the_limit_is_the_partition_policy() {
    let h = Hsm::fresh();
    h.init_token(0, SO_PIN, "t");
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    let policy = h.find(s, &Tmpl::new().class(CKO_FERRO_PARTITION))[0];
    assert_eq!(h.set(s, policy, &Tmpl::new().ulong(CKA_FERRO_POLICY_MAX_PIN_FAILURES, 2)), CKR_OK);
    assert_eq!(call!(C_Logout, s), CKR_OK);
    assert_eq!(h.login(s, CKU_SO, b"wrong-so"), CKR_PIN_INCORRECT);
    assert_ne!(h.token_info(0).flags & CKF_SO_PIN_FINAL_TRY, 0);
    assert_eq!(h.login(s, CKU_SO, b"wrong-so"), CKR_PIN_INCORRECT);
    assert_ne!(h.token_info(0).flags & CKF_SO_PIN_LOCKED, 0);
    assert_eq!(h.login(s, CKU_SO, SO_PIN), CKR_PIN_LOCKED);
    // A locked SO PIN also blocks re-initialisation.
    assert_eq!(call!(C_CloseSession, s), CKR_OK);
    assert_eq!(h.try_init_token(0, SO_PIN, "again"), CKR_PIN_LOCKED);
}

/// A key with `CKA_ALWAYS_AUTHENTICATE` signs only after `C_Login(CKU_CONTEXT_SPECIFIC)`
/// following each `C_SignInit` (§4.9), and a wrong PIN there counts as a failure.
#[test]
fn always_authenticate_keys_need_a_context_login_per_operation() {
    let (h, s) = Hsm::ready();
    let p256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let public = Tmpl::new().bytes(CKA_EC_PARAMS, &p256);
    let private = Tmpl::new().bool(CKA_ALWAYS_AUTHENTICATE, true);
    let (mut p, mut q) = (public.attrs(), private.attrs());
    let mut m = CK_MECHANISM { mechanism: CKM_EC_KEY_PAIR_GEN, pParameter: ptr::null_mut(), ulParameterLen: 0 };
    let (mut pub_key, mut key) = (0, 0);
    let rv = call!(C_GenerateKeyPair, s, &mut m, p.as_mut_ptr(), 1, q.as_mut_ptr(), 1, &mut pub_key, &mut key);
    assert_eq!(rv, CKR_OK);
    let mut ecdsa = CK_MECHANISM { mechanism: CKM_ECDSA_SHA256, pParameter: ptr::null_mut(), ulParameterLen: 0 };
    let mut sig = [0u8; 64];
    let mut n = 64;
    let data = b"needs presence";
    // Without the context login: refused, and the operation ends.
    assert_eq!(call!(C_SignInit, s, &mut ecdsa, key), CKR_OK);
    let rv = call!(C_Sign, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, sig.as_mut_ptr(), &mut n);
    assert_eq!(rv, CKR_USER_NOT_LOGGED_IN);
    assert_eq!(call!(C_SignUpdate, s, data.as_ptr() as *mut _, 1), CKR_OPERATION_NOT_INITIALIZED);
    // With it: works, once.
    assert_eq!(call!(C_SignInit, s, &mut ecdsa, key), CKR_OK);
    assert_eq!(h.login(s, CKU_CONTEXT_SPECIFIC, b"wrong-pin"), CKR_PIN_INCORRECT);
    assert_ne!(h.token_info(0).flags & CKF_USER_PIN_COUNT_LOW, 0, "a wrong context PIN counts");
    assert_eq!(h.login(s, CKU_CONTEXT_SPECIFIC, USER_PIN), CKR_OK);
    let rv = call!(C_Sign, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, sig.as_mut_ptr(), &mut n);
    assert_eq!(rv, CKR_OK);
    assert_eq!(call!(C_VerifyInit, s, &mut ecdsa, pub_key), CKR_OK);
    let rv = call!(C_Verify, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, sig.as_mut_ptr(), n);
    assert_eq!(rv, CKR_OK);
    // The next operation needs its own.
    assert_eq!(call!(C_SignInit, s, &mut ecdsa, key), CKR_OK);
    let rv = call!(C_Sign, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, sig.as_mut_ptr(), &mut n);
    assert_eq!(rv, CKR_USER_NOT_LOGGED_IN);
}
