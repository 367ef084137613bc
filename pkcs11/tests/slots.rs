//! Slots as partitions: the slot list, slot and token information, partition
//! management from the admin token, and partition policy.

#[macro_use]
mod common;

use std::ptr;

use common::*;

fn label(info: &CK_TOKEN_INFO) -> String {
    String::from_utf8_lossy(&info.label).trim_end().to_string()
}

/// Logs the device SO in on the admin token (initialising it first).
fn device_so(h: &Hsm) -> CK_SESSION_HANDLE {
    h.init_token(ADMIN_SLOT, SO_PIN, "device");
    let s = h.open(ADMIN_SLOT, true);
    assert_eq!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    s
}

fn partition(label: &str) -> Tmpl {
    Tmpl::new().class(CKO_FERRO_PARTITION).token(true).label(label)
}

fn partition_object(h: &Hsm, s: CK_SESSION_HANDLE, slot: CK_SLOT_ID) -> CK_OBJECT_HANDLE {
    let all = h.find(s, &Tmpl::new().class(CKO_FERRO_PARTITION).ulong(CKA_FERRO_SLOT_ID, slot));
    assert_eq!(all.len(), 1, "one partition object for slot {slot}");
    all[0]
}

#[test]
fn a_fresh_store_lists_one_uninitialised_partition_then_the_admin_token() {
    let h = Hsm::fresh();
    assert_eq!(h.slots(), vec![0, ADMIN_SLOT]);
    let info = h.token_info(0);
    assert_eq!(info.flags & CKF_TOKEN_INITIALIZED, 0);
    assert_ne!(info.flags & CKF_RNG, 0);
    assert_ne!(info.flags & CKF_LOGIN_REQUIRED, 0);
    assert_eq!(&info.manufacturerID[..8], b"ferrohsm");
    let serial = String::from_utf8_lossy(&info.serialNumber).to_string();
    assert_eq!(serial.len(), 16);
    assert!(serial.bytes().all(|c| c.is_ascii_hexdigit()), "{serial}");
    let admin = h.token_info(ADMIN_SLOT);
    assert_eq!(String::from_utf8_lossy(&admin.model).trim_end(), "ferrohsm admin");
    assert_ne!(admin.serialNumber, info.serialNumber, "each partition has its own serial");

    let mut slot: CK_SLOT_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(C_GetSlotInfo, 0, &mut slot), CKR_OK);
    assert_ne!(slot.flags & CKF_TOKEN_PRESENT, 0);
    assert_eq!(slot.flags & CKF_REMOVABLE_DEVICE, 0);
    assert_eq!(call!(C_GetSlotInfo, 7, &mut slot), CKR_SLOT_ID_INVALID);
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(C_GetTokenInfo, 7, &mut info), CKR_SLOT_ID_INVALID);
}

#[test]
fn the_slot_list_follows_the_length_query_protocol() {
    let h = Hsm::fresh();
    let mut n = 0;
    assert_eq!(call!(C_GetSlotList, CK_TRUE, ptr::null_mut(), &mut n), CKR_OK);
    assert_eq!(n, 2);
    let mut one = [0 as CK_SLOT_ID; 1];
    let mut cap = 1;
    assert_eq!(call!(C_GetSlotList, CK_FALSE, one.as_mut_ptr(), &mut cap), CKR_BUFFER_TOO_SMALL);
    assert_eq!(cap, 2, "the count needed is returned");
    drop(h);
}

#[test]
fn slot_ids_and_serials_are_stable_across_restarts_and_init() {
    let mut h = Hsm::fresh();
    let before = h.token_info(0).serialNumber;
    h.init_token(0, SO_PIN, "first");
    h.restart();
    assert_eq!(h.slots(), vec![0, ADMIN_SLOT]);
    assert_eq!(h.token_info(0).serialNumber, before);
    assert_eq!(label(&h.token_info(0)), "first");
}

#[test]
fn the_device_so_creates_changes_and_removes_partitions() {
    let mut h = Hsm::fresh();
    let so = device_so(&h);
    let t = partition("payments")
        .ulong(CKA_FERRO_POLICY_MIN_PIN_LEN, 6)
        .ulong(CKA_FERRO_POLICY_MAX_PIN_FAILURES, 5)
        .bool(CKA_FERRO_POLICY_ALLOW_EXPORT, false);
    let obj = h.create(so, &t).unwrap();
    assert_eq!(h.get_ulong(so, obj, CKA_FERRO_SLOT_ID), 1);
    // The new slot shows up at once, before the admin token.
    assert_eq!(h.slots(), vec![0, 1, ADMIN_SLOT]);
    let info = h.token_info(1);
    assert_eq!(label(&info), "payments");
    assert_eq!(info.ulMinPinLen, 6);
    assert_eq!(info.flags & CKF_TOKEN_INITIALIZED, 0);
    // Policy read back, defaults filled in.
    assert!(!h.get_bool(so, obj, CKA_FERRO_POLICY_ALLOW_EXPORT));
    assert!(!h.get_bool(so, obj, CKA_FERRO_POLICY_READ_ONLY));
    assert_eq!(h.get_ulong(so, obj, CKA_FERRO_POLICY_MAX_PIN_FAILURES), 5);
    // Change it.
    assert_eq!(h.set(so, obj, &Tmpl::new().ulong(CKA_FERRO_POLICY_MIN_PIN_LEN, 8)), CKR_OK);
    assert_eq!(h.token_info(1).ulMinPinLen, 8);
    // Values out of range and read-only attributes are refused.
    assert_eq!(h.set(so, obj, &Tmpl::new().ulong(CKA_FERRO_POLICY_MIN_PIN_LEN, 0)), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_eq!(h.set(so, obj, &Tmpl::new().ulong(CKA_FERRO_SLOT_ID, 9)), CKR_ATTRIBUTE_READ_ONLY);
    // Every partition, the admin token too, has an object on the admin token.
    assert_eq!(h.find(so, &Tmpl::new().class(CKO_FERRO_PARTITION)).len(), 3);
    // It persists.
    h.restart();
    assert_eq!(h.slots(), vec![0, 1, ADMIN_SLOT]);
    assert_eq!(h.token_info(1).ulMinPinLen, 8);
    let so = h.open(ADMIN_SLOT, true);
    assert_eq!(h.login(so, CKU_SO, SO_PIN), CKR_OK);
    let obj = partition_object(&h, so, 1);
    // The admin token's own partition object cannot be destroyed.
    let own = partition_object(&h, so, ADMIN_SLOT);
    assert_eq!(h.destroy(so, own), CKR_ACTION_PROHIBITED);
    // Remove partition 1: its slot disappears, and its sessions end.
    let victim = h.open(1, false);
    assert_eq!(h.destroy(so, obj), CKR_OK);
    assert_eq!(h.slots(), vec![0, ADMIN_SLOT]);
    let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(C_GetSessionInfo, victim, &mut info), CKR_SESSION_HANDLE_INVALID);
    h.restart();
    assert_eq!(h.slots(), vec![0, ADMIN_SLOT]);
    // Slot ids are never reused.
    let so = h.open(ADMIN_SLOT, true);
    assert_eq!(h.login(so, CKU_SO, SO_PIN), CKR_OK);
    let again = h.create(so, &partition("again")).unwrap();
    assert_eq!(h.get_ulong(so, again, CKA_FERRO_SLOT_ID), 2);
}

#[test]
fn only_the_device_so_manages_partitions() {
    let h = Hsm::fresh();
    h.init_token(ADMIN_SLOT, SO_PIN, "device");
    h.init_user(ADMIN_SLOT, USER_PIN);
    let public = h.open(ADMIN_SLOT, true);
    assert_eq!(h.create(public, &partition("x")), Err(CKR_USER_NOT_LOGGED_IN));
    assert_eq!(h.login(public, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(h.create(public, &partition("x")), Err(CKR_USER_NOT_LOGGED_IN));
    assert_eq!(call!(C_Logout, public), CKR_OK);
    // Not on a user partition.
    h.init_token(0, SO_PIN, "user");
    let s0 = h.open(0, true);
    assert_eq!(h.login(s0, CKU_SO, SO_PIN), CKR_OK);
    assert_eq!(h.create(s0, &partition("x")), Err(CKR_ACTION_PROHIBITED));
    // Not as a private or session object.
    assert_eq!(h.login(public, CKU_SO, SO_PIN), CKR_OK);
    assert_eq!(h.create(public, &partition("x").bool(CKA_PRIVATE, true)), Err(CKR_TEMPLATE_INCONSISTENT));
    assert_eq!(h.create(public, &partition("x").token(false)), Err(CKR_TEMPLATE_INCONSISTENT));
    // Not in a read-only session (the SO has only R/W sessions, so check the rule
    // through a user partition's SO instead: see policy tests).
    assert_eq!(h.slots(), vec![0, ADMIN_SLOT], "nothing was created");
}

#[test]
fn a_partition_shows_its_own_policy_and_its_so_may_change_it() {
    let h = Hsm::fresh();
    h.init_token(0, SO_PIN, "p0");
    h.init_user(0, USER_PIN);
    let s = h.open(0, false);
    // Everyone sees it, without login.
    let obj = partition_object(&h, s, 0);
    assert_eq!(h.get_ulong(s, obj, CKA_FERRO_POLICY_MIN_PIN_LEN), 4);
    assert_eq!(h.get_ulong(s, obj, CKA_FERRO_POLICY_MAX_PIN_FAILURES), 10);
    assert_eq!(h.set(s, obj, &Tmpl::new().ulong(CKA_FERRO_POLICY_MIN_PIN_LEN, 6)), CKR_USER_NOT_LOGGED_IN);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(h.set(s, obj, &Tmpl::new().ulong(CKA_FERRO_POLICY_MIN_PIN_LEN, 6)), CKR_USER_NOT_LOGGED_IN);
    assert_eq!(h.destroy(s, obj), CKR_ACTION_PROHIBITED);
    assert_eq!(call!(C_Logout, s), CKR_OK);
    assert_eq!(call!(C_CloseSession, s), CKR_OK);
    let so = h.open(0, true);
    assert_eq!(h.login(so, CKU_SO, SO_PIN), CKR_OK);
    assert_eq!(h.set(so, obj, &Tmpl::new().ulong(CKA_FERRO_POLICY_MIN_PIN_LEN, 6)), CKR_OK);
    assert_eq!(h.token_info(0).ulMinPinLen, 6);
    // Setting a too-short user PIN is now refused.
    assert_eq!(call!(C_InitPIN, so, b"12345".as_ptr() as *mut _, 5), CKR_PIN_LEN_RANGE);
    assert_eq!(call!(C_InitPIN, so, b"123456".as_ptr() as *mut _, 6), CKR_OK);
}

#[test]
fn a_read_only_partition_refuses_every_change_of_token_objects() {
    let h = Hsm::fresh();
    h.init_token(0, SO_PIN, "ro");
    h.init_user(0, USER_PIN);
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    let kept = h.create(s, &data("kept", true)).unwrap();
    assert_eq!(call!(C_Logout, s), CKR_OK);
    assert_eq!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    let obj = partition_object(&h, s, 0);
    assert_eq!(h.set(s, obj, &Tmpl::new().bool(CKA_FERRO_POLICY_READ_ONLY, true)), CKR_OK);
    assert_ne!(h.token_info(0).flags & CKF_WRITE_PROTECTED, 0);
    assert_eq!(call!(C_Logout, s), CKR_OK);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(h.create(s, &data("new", true)), Err(CKR_TOKEN_WRITE_PROTECTED));
    assert_eq!(h.set(s, kept, &Tmpl::new().label("renamed")), CKR_TOKEN_WRITE_PROTECTED);
    assert_eq!(h.copy(s, kept, &Tmpl::new()), Err(CKR_TOKEN_WRITE_PROTECTED));
    assert_eq!(h.destroy(s, kept), CKR_TOKEN_WRITE_PROTECTED);
    // Session objects touch nothing on the partition.
    assert!(h.create(s, &data("scratch", false)).is_ok());
    // Nor may the token be re-initialised.
    assert_eq!(call!(C_CloseAllSessions, 0), CKR_OK);
    assert_eq!(h.try_init_token(0, SO_PIN, "wiped"), CKR_TOKEN_WRITE_PROTECTED);
    // Its SO lifts read-only through the policy object.
    let so = h.open(0, true);
    assert_eq!(h.login(so, CKU_SO, SO_PIN), CKR_OK);
    assert_eq!(h.set(so, obj, &Tmpl::new().bool(CKA_FERRO_POLICY_READ_ONLY, false)), CKR_OK);
    assert_eq!(h.token_info(0).flags & CKF_WRITE_PROTECTED, 0);
    assert_eq!(call!(C_Logout, so), CKR_OK);
    assert_eq!(h.login(so, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(h.destroy(so, kept), CKR_OK);
}

#[test]
fn reinitialising_wipes_that_partition_only_and_needs_the_so_pin() {
    let h = Hsm::fresh();
    let so = device_so(&h);
    h.create(so, &partition("other")).unwrap();
    assert_eq!(call!(C_CloseSession, so), CKR_OK);
    for slot in [0, 1] {
        h.init_token(slot, SO_PIN, "t");
        h.init_user(slot, USER_PIN);
        let s = h.open(slot, true);
        assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
        h.create(s, &data("private-one", true).bool(CKA_PRIVATE, true)).unwrap();
        h.create(s, &data("public-one", true)).unwrap();
        assert_eq!(call!(C_CloseSession, s), CKR_OK);
    }
    // Sessions open: refused.
    let s = h.open(0, false);
    assert_eq!(h.try_init_token(0, SO_PIN, "again"), CKR_SESSION_EXISTS);
    assert_eq!(call!(C_CloseSession, s), CKR_OK);
    // Wrong SO PIN: refused, and counted.
    assert_eq!(h.try_init_token(0, b"wrong-so-pin", "again"), CKR_PIN_INCORRECT);
    assert_ne!(h.token_info(0).flags & CKF_SO_PIN_COUNT_LOW, 0);
    h.init_token(0, SO_PIN, "again");
    let info = h.token_info(0);
    assert_eq!(label(&info), "again");
    assert_eq!(info.flags & CKF_USER_PIN_INITIALIZED, 0, "the user PIN is gone");
    assert_eq!(info.flags & CKF_SO_PIN_COUNT_LOW, 0, "the failure count is reset");
    let s = h.open(0, false);
    assert!(h.find(s, &Tmpl::new().label("public-one")).is_empty(), "partition 0 is empty");
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_USER_PIN_NOT_INITIALIZED);
    assert_eq!(call!(C_CloseSession, s), CKR_OK);
    // Partition 1 still has everything.
    let s1 = h.open(1, false);
    assert_eq!(h.find(s1, &Tmpl::new().label("public-one")).len(), 1);
    assert_eq!(h.login(s1, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(h.find(s1, &Tmpl::new().label("private-one")).len(), 1);
}

#[test]
fn the_first_init_checks_the_pin_length_and_the_label_is_blank_padded() {
    let h = Hsm::fresh();
    assert_eq!(h.try_init_token(0, b"123", "short"), CKR_PIN_LEN_RANGE);
    assert_eq!(h.try_init_token(0, &[b'x'; 256], "long"), CKR_PIN_LEN_RANGE);
    h.init_token(0, b"1234", "exactly thirty-two characters...");
    assert_eq!(label(&h.token_info(0)), "exactly thirty-two characters...");
}

#[test]
fn mechanisms_are_listed_and_described_per_slot() {
    let _h = Hsm::fresh();
    let mut n = 0;
    assert_eq!(call!(C_GetMechanismList, 0, ptr::null_mut(), &mut n), CKR_OK);
    let mut list = vec![0; n as usize];
    assert_eq!(call!(C_GetMechanismList, 0, list.as_mut_ptr(), &mut n), CKR_OK);
    for m in [CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512] {
        assert!(list.contains(&m), "{m:#x} listed");
        let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
        assert_eq!(call!(C_GetMechanismInfo, 0, m, &mut info), CKR_OK);
        assert_eq!(info.flags, CKF_DIGEST);
    }
    // Every listed mechanism has info; an unknown one is invalid.
    for m in &list {
        let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
        assert_eq!(call!(C_GetMechanismInfo, 0, *m, &mut info), CKR_OK, "{m:#x}");
    }
    let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(C_GetMechanismInfo, 0, 0x7fff_fff0, &mut info), CKR_MECHANISM_INVALID);
    assert_eq!(call!(C_GetMechanismList, 9, ptr::null_mut(), &mut n), CKR_SLOT_ID_INVALID);
    let mut one = [0; 1];
    let mut cap = 1;
    assert_eq!(call!(C_GetMechanismList, 0, one.as_mut_ptr(), &mut cap), CKR_BUFFER_TOO_SMALL);
    assert_eq!(cap as usize, list.len());
}

#[test]
fn the_token_clock_runs() {
    let h = Hsm::fresh();
    let info = h.token_info(0);
    assert_ne!(info.flags & CKF_CLOCK_ON_TOKEN, 0);
    let t = String::from_utf8_lossy(&info.utcTime).to_string();
    assert_eq!(t.len(), 16);
    assert!(t.starts_with("20") && t.ends_with("00") && t.bytes().all(|c| c.is_ascii_digit()), "{t}");
}
