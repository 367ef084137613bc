//! Sessions: opening, closing, their information, and use from many threads.

#[macro_use]
mod common;

use common::*;

#[test]
fn sessions_open_close_and_describe_themselves() {
    let h = Hsm::fresh();
    h.init_token(0, SO_PIN, "t");
    assert_eq!(h.try_open(0, 0), Err(CKR_SESSION_PARALLEL_NOT_SUPPORTED));
    assert_eq!(h.try_open(9, CKF_SERIAL_SESSION), Err(CKR_SLOT_ID_INVALID));
    let ro = h.open(0, false);
    let rw = h.open(0, true);
    let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(C_GetSessionInfo, rw, &mut info), CKR_OK);
    assert_eq!((info.slotID, info.state, info.flags), (0, CKS_RW_PUBLIC_SESSION, CKF_SERIAL_SESSION | CKF_RW_SESSION));
    assert_eq!(call!(C_GetSessionInfo, ro, &mut info), CKR_OK);
    assert_eq!((info.state, info.flags), (CKS_RO_PUBLIC_SESSION, CKF_SERIAL_SESSION));
    let t = h.token_info(0);
    assert_eq!((t.ulSessionCount, t.ulRwSessionCount), (2, 1));
    assert_eq!(call!(C_CloseSession, ro), CKR_OK);
    assert_eq!(call!(C_CloseSession, ro), CKR_SESSION_HANDLE_INVALID);
    assert_eq!(call!(C_GetSessionInfo, ro, &mut info), CKR_SESSION_HANDLE_INVALID);
    assert_eq!(h.token_info(0).ulSessionCount, 1);
    assert_eq!(call!(C_CloseAllSessions, 0), CKR_OK);
    assert_eq!(call!(C_GetSessionInfo, rw, &mut info), CKR_SESSION_HANDLE_INVALID);
    assert_eq!(call!(C_CloseAllSessions, 9), CKR_SLOT_ID_INVALID);
    assert_eq!(h.token_info(0).ulSessionCount, 0);
}

#[test]
fn an_uninitialised_token_takes_sessions_but_stores_nothing() {
    let h = Hsm::fresh();
    let s = h.open(0, true);
    assert_eq!(h.create(s, &data("x", true)), Err(CKR_USER_NOT_LOGGED_IN));
    assert_eq!(h.login(s, CKU_SO, SO_PIN), CKR_USER_PIN_NOT_INITIALIZED);
    // It must be closed before C_InitToken.
    assert_eq!(h.try_init_token(0, SO_PIN, "t"), CKR_SESSION_EXISTS);
    assert_eq!(call!(C_CloseSession, s), CKR_OK);
    h.init_token(0, SO_PIN, "t");
}

#[test]
fn session_objects_are_shared_by_the_application_and_end_with_their_session() {
    let (h, s) = Hsm::ready();
    let other = h.open(0, false);
    let o = h.create(s, &data("temp", false)).unwrap();
    assert_eq!(h.get(other, o, CKA_LABEL).unwrap(), b"temp");
    assert_eq!(call!(C_CloseSession, s), CKR_OK);
    assert_eq!(h.get(other, o, CKA_LABEL), Err(CKR_OBJECT_HANDLE_INVALID));
}

#[test]
fn operations_are_cancelled_by_c_session_cancel() {
    let (_h, s) = Hsm::ready();
    let mut m = CK_MECHANISM { mechanism: CKM_SHA256, pParameter: std::ptr::null_mut(), ulParameterLen: 0 };
    assert_eq!(call!(C_DigestInit, s, &mut m), CKR_OK);
    let cancel = f3().C_SessionCancel.unwrap();
    assert_eq!(unsafe { cancel(s, CKF_DIGEST) }, CKR_OK);
    assert_eq!(call!(C_DigestUpdate, s, b"x".as_ptr() as *mut _, 1), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(call!(C_DigestInit, s, &mut m), CKR_OK, "a new digest can start");
}

#[test]
fn many_threads_use_many_sessions_at_once() {
    let (h, s) = Hsm::ready();
    let h = &h;
    let kept: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..50 {
                        let s = h.open(0, true);
                        let o = h.create(s, &data(&format!("t{t}-{i}"), i % 2 == 0)).unwrap();
                        assert_eq!(h.get(s, o, CKA_LABEL).unwrap(), format!("t{t}-{i}").as_bytes());
                        let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
                        assert_eq!(call!(C_GetSessionInfo, s, &mut info), CKR_OK);
                        assert_eq!(info.state, CKS_RW_USER_FUNCTIONS, "login is shared");
                        if i % 2 == 0 {
                            mine.push(o);
                            assert_eq!(call!(C_CloseSession, s), CKR_OK);
                        } else {
                            // Session objects go with the session.
                            assert_eq!(call!(C_CloseSession, s), CKR_OK);
                        }
                    }
                    mine
                })
            })
            .collect();
        threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(kept.len(), 200);
    // `s` kept the login alive all along.
    let all = h.find(s, &Tmpl::new().class(CKO_DATA));
    assert_eq!(all.len(), 200, "token objects stay, session objects went");
    let mut sorted = kept.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 200, "handles are unique");
}
