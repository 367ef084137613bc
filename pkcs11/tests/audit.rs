//! The audit log through the module: what a session does is in the store's log, in
//! order, chained, with who did it and how it ended, and no PIN in it.

#[macro_use]
mod common;

use std::ptr;

use common::*;
use ferrohsm_store::audit::{Entry, ZERO, check_chain, check_partition_chain};
use ferrohsm_store::{KdfParams, Store};

const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The log as the store holds it, read with the module finalised (the store allows
/// one opener); the module is initialised again afterwards.
fn log_of(h: &mut Hsm) -> (Vec<Entry>, Store) {
    h.finalize();
    let provider = ferrohsm_pkcs11::crypto::select(None).unwrap();
    let store = Store::open(h.dir.path(), provider, KdfParams::DEFAULT).unwrap();
    let entries = store.audit_entries(1, u64::MAX, None).unwrap().into_iter().map(Result::unwrap).collect();
    (entries, store)
}

fn field<'a>(line: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    &line[name]
}

/// (partition, role, event, result) of each entry.
fn summary(entries: &[Entry]) -> Vec<(u64, String, String, String)> {
    entries
        .iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_str(&e.line).expect("an entry is JSON");
            (
                field(&v, "partition").as_u64().unwrap(),
                field(&v, "role").as_str().unwrap().to_owned(),
                field(&v, "event").as_str().unwrap().to_owned(),
                field(&v, "result").as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn s(v: (u64, &str, &str, &str)) -> (u64, String, String, String) {
    (v.0, v.1.to_owned(), v.2.to_owned(), v.3.to_owned())
}

fn generate_pair(session: CK_SESSION_HANDLE, label: &str) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let public = Tmpl::new().token(true).label(label).bytes(CKA_EC_PARAMS, P256);
    let private = Tmpl::new().token(true).label(label).bool(CKA_SIGN, true);
    let mut m = CK_MECHANISM { mechanism: CKM_EC_KEY_PAIR_GEN, pParameter: ptr::null_mut(), ulParameterLen: 0 };
    let (mut pa, mut qa) = (public.attrs(), private.attrs());
    let (mut hp, mut hq) = (0, 0);
    let rv = call!(
        C_GenerateKeyPair,
        session,
        &mut m,
        pa.as_mut_ptr(),
        pa.len() as CK_ULONG,
        qa.as_mut_ptr(),
        qa.len() as CK_ULONG,
        &mut hp,
        &mut hq
    );
    assert_eq!(rv, CKR_OK);
    (hp, hq)
}

#[test]
fn a_session_s_work_is_logged_in_order_and_chained() {
    let mut h = Hsm::fresh();
    h.init_token(0, SO_PIN, "audit");
    h.init_user(0, USER_PIN);
    let sess = h.open(0, true);
    assert_eq!(h.login(sess, CKU_USER, b"wrong-pin-1234"), CKR_PIN_INCORRECT);
    assert_eq!(h.login(sess, CKU_USER, USER_PIN), CKR_OK);
    let (public, private) = generate_pair(sess, "audited");
    let key_id = String::from_utf8(h.get(sess, private, CKA_UNIQUE_ID).unwrap()).unwrap();
    let public_id = String::from_utf8(h.get(sess, public, CKA_UNIQUE_ID).unwrap()).unwrap();
    let data = h.create(sess, &data("note", true)).unwrap();
    let data_id = String::from_utf8(h.get(sess, data, CKA_UNIQUE_ID).unwrap()).unwrap();
    assert_eq!(h.destroy(sess, private), CKR_OK);
    assert_eq!(call!(C_Logout, sess), CKR_OK);
    assert_eq!(call!(C_CloseSession, sess), CKR_OK);

    let (entries, store) = log_of(&mut h);
    let mut want = vec![
        s((0, "so", "token_init", "CKR_OK")),
        s((0, "so", "login", "CKR_OK")),
        s((0, "so", "user_pin_init", "CKR_OK")),
        s((0, "so", "logout", "CKR_OK")),
        s((0, "user", "login", "CKR_PIN_INCORRECT")),
        s((0, "user", "login", "CKR_OK")),
    ];
    // The key pair and its birth certificate, in the order the module made them.
    let made = summary(&entries)[want.len()..want.len() + 3].to_vec();
    let mut made_sorted = made.clone();
    made_sorted.sort();
    assert_eq!(
        made_sorted,
        [
            s((0, "user", "attestation_made", "CKR_OK")),
            s((0, "user", "key_generate", "CKR_OK")),
            s((0, "user", "key_generate", "CKR_OK"))
        ]
    );
    want.extend(made);
    want.extend([
        s((0, "user", "object_create", "CKR_OK")),
        s((0, "user", "key_destroy", "CKR_OK")),
        s((0, "user", "object_destroy", "CKR_OK")),
        s((0, "user", "logout", "CKR_OK")),
    ]);
    assert_eq!(summary(&entries), want);

    // Objects are named by their unique ids; the birth certificate by its key's.
    let objects: Vec<serde_json::Value> =
        entries.iter().map(|e| serde_json::from_str::<serde_json::Value>(&e.line).unwrap()["object"].clone()).collect();
    for (i, w) in want.iter().enumerate() {
        match w.2.as_str() {
            "key_generate" => assert!(objects[i] == key_id.as_str() || objects[i] == public_id.as_str()),
            "attestation_made" | "key_destroy" => assert_eq!(objects[i], key_id.as_str()),
            "object_create" => assert_eq!(objects[i], data_id.as_str()),
            "object_destroy" => assert!(objects[i].is_string(), "the certificate's own id"),
            _ => assert!(objects[i].is_null(), "{}: no object", w.2),
        }
    }
    // The implicit logout says why.
    assert!(entries[3].line.contains(r#""reason":"last_session_closed""#));

    // The chain holds, over the log and within the partition, up to the stored heads.
    let sha = |b: &[u8]| -> [u8; 32] { <sha2::Sha256 as sha2::Digest>::digest(b).into() };
    let lines: Vec<&str> = entries.iter().map(|e| e.line.as_str()).collect();
    let head = store.audit_head(None).unwrap();
    assert_eq!(check_chain(&lines, 1, ZERO, Some(head), sha), Ok(head));
    assert_eq!(
        check_partition_chain(&lines, Some(store.audit_head(Some(0)).unwrap()), sha).map(|h| h.seq),
        Ok(head.seq)
    );

    // No PIN, right or wrong, reaches the log.
    for pin in [SO_PIN, USER_PIN, b"wrong-pin-1234".as_slice()] {
        let pin = std::str::from_utf8(pin).unwrap();
        assert!(!lines.iter().any(|l| l.contains(pin)), "a PIN in the log");
    }
    drop(store);
    h.initialize();
}

#[test]
fn a_locked_pin_and_partition_changes_are_logged_and_the_log_survives_reinitialisation() {
    let mut h = Hsm::fresh();
    h.init_token(0, SO_PIN, "audit");
    h.init_user(0, USER_PIN);
    // Lower the limit to 2 failures, as the partition's SO.
    let so = h.open(0, true);
    assert_eq!(h.login(so, CKU_SO, SO_PIN), CKR_OK);
    let policy = h.find(so, &Tmpl::new().class(CKO_FERRO_PARTITION))[0];
    assert_eq!(h.set(so, policy, &Tmpl::new().ulong(CKA_FERRO_POLICY_MAX_PIN_FAILURES, 2)), CKR_OK);
    assert_eq!(call!(C_CloseSession, so), CKR_OK);
    let sess = h.open(0, true);
    assert_eq!(h.login(sess, CKU_USER, b"wrong-1"), CKR_PIN_INCORRECT);
    assert_eq!(h.login(sess, CKU_USER, b"wrong-2"), CKR_PIN_INCORRECT);
    assert_eq!(h.login(sess, CKU_USER, USER_PIN), CKR_PIN_LOCKED);
    assert_eq!(call!(C_CloseSession, sess), CKR_OK);
    let before = log_of(&mut h).0.len();
    h.initialize();
    h.init_token(0, SO_PIN, "again");

    let (entries, store) = log_of(&mut h);
    drop(store);
    let got = summary(&entries);
    assert_eq!(got.len(), before + 1, "re-initialising the token keeps the log and adds to it");
    let tail: Vec<_> = got[got.len() - 7..].to_vec();
    assert_eq!(
        tail,
        [
            s((0, "so", "partition_change", "CKR_OK")),
            s((0, "so", "logout", "CKR_OK")),
            s((0, "user", "login", "CKR_PIN_INCORRECT")),
            s((0, "user", "login", "CKR_PIN_INCORRECT")),
            s((0, "user", "pin_locked", "CKR_OK")),
            s((0, "user", "login", "CKR_PIN_LOCKED")),
            s((0, "so", "token_init", "CKR_OK")),
        ]
    );
    let change = entries.iter().find(|e| e.line.contains("partition_change")).unwrap();
    assert!(change.line.contains(r#""attributes":"CKA_FERRO_POLICY_MAX_PIN_FAILURES""#), "{}", change.line);
    h.initialize();
}

fn sign_once(session: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) {
    let mut m = CK_MECHANISM { mechanism: CKM_ECDSA, pParameter: ptr::null_mut(), ulParameterLen: 0 };
    assert_eq!(call!(C_SignInit, session, &mut m, key), CKR_OK);
    let mut digest = [7u8; 32];
    let mut sig = [0u8; 64];
    let mut len = sig.len() as CK_ULONG;
    assert_eq!(call!(C_Sign, session, digest.as_mut_ptr(), 32, sig.as_mut_ptr(), &mut len), CKR_OK);
}

fn usage_entries(entries: &[Entry], key: &str) -> Vec<u64> {
    entries
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.line).unwrap())
        .filter(|v| v["event"] == "key_usage" && v["object"] == key)
        .map(|v| v["count"].as_u64().expect("a count"))
        .collect()
}

#[test]
fn key_usage_is_counted_and_reported_at_logout_and_finalize() {
    let mut h = Hsm::fresh();
    h.init_token(0, SO_PIN, "audit");
    h.init_user(0, USER_PIN);
    let sess = h.open(0, true);
    assert_eq!(h.login(sess, CKU_USER, USER_PIN), CKR_OK);
    let (_, key) = generate_pair(sess, "busy");
    let uid = String::from_utf8(h.get(sess, key, CKA_UNIQUE_ID).unwrap()).unwrap();
    for _ in 0..5 {
        sign_once(sess, key);
    }
    assert_eq!(h.get_ulong(sess, key, CKA_FERRO_USAGE_COUNT), 5);
    assert_eq!(call!(C_Logout, sess), CKR_OK);
    assert_eq!(call!(C_CloseSession, sess), CKR_OK);
    let (entries, store) = log_of(&mut h);
    assert_eq!(usage_entries(&entries, &uid), [5], "one summary at logout, not one per signature");
    let pos = |event: &str| entries.iter().rposition(|e| e.line.contains(&format!("\"event\":\"{event}\""))).unwrap();
    assert!(pos("key_usage") < pos("logout"), "the summary comes before the logout");
    drop(store);

    // The total survives a restart; uses after it are reported at C_Finalize.
    h.initialize();
    let sess = h.open(0, true);
    assert_eq!(h.login(sess, CKU_USER, USER_PIN), CKR_OK);
    let key = h.find(sess, &Tmpl::new().class(CKO_PRIVATE_KEY).label("busy"))[0];
    assert_eq!(h.get_ulong(sess, key, CKA_FERRO_USAGE_COUNT), 5);
    sign_once(sess, key);
    sign_once(sess, key);
    assert_eq!(h.get_ulong(sess, key, CKA_FERRO_USAGE_COUNT), 7);
    let (entries, store) = log_of(&mut h);
    assert_eq!(usage_entries(&entries, &uid), [5, 2]);
    drop(store);
    h.initialize();
}

#[test]
fn key_usage_counting_can_be_turned_off() {
    let mut h = Hsm::fresh();
    let conf = h.dir.path().join("ferrohsm.toml");
    std::fs::write(&conf, "audit_key_usage = false\n").unwrap();
    // SAFETY (environment): the harness lock is held by `h`.
    unsafe { std::env::set_var("FERROHSM_CONF", &conf) };
    h.restart();
    unsafe { std::env::remove_var("FERROHSM_CONF") };
    h.init_token(0, SO_PIN, "audit");
    h.init_user(0, USER_PIN);
    let sess = h.open(0, true);
    assert_eq!(h.login(sess, CKU_USER, USER_PIN), CKR_OK);
    let (_, key) = generate_pair(sess, "quiet");
    let uid = String::from_utf8(h.get(sess, key, CKA_UNIQUE_ID).unwrap()).unwrap();
    sign_once(sess, key);
    assert_eq!(h.get_ulong(sess, key, CKA_FERRO_USAGE_COUNT), 0, "not counted");
    let (entries, store) = log_of(&mut h);
    assert!(usage_entries(&entries, &uid).is_empty());
    assert!(entries.iter().any(|e| e.line.contains("\"event\":\"key_generate\"")), "the other events are still logged");
    drop(store);
    h.initialize();
}
