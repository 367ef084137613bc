//! Log, device and partition attestation through the built module (issue 6,
//! docs/audit.md, "Attestations"): `CKM_FERRO_LOG_ATTEST`, `CKM_FERRO_DEVICE_ATTEST`
//! and `CKM_FERRO_PARTITION_ATTEST`.
//!
//! Every attestation is checked by `openssl cms -verify` against the root read from
//! the admin token, and its JSON field by field against what the test did and what
//! the store holds (read with the module finalised: the store has one opener).

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::ptr;

use common::*;
use ferrohsm_store::audit::{Entry, Head, ZERO, check_chain, check_partition_chain};
use ferrohsm_store::{KdfParams, Store};
use serde_json::Value;

// Vendor constants, as DESIGN.md fixes them.
const CKM_FERRO_PARTITION_ATTEST: CK_MECHANISM_TYPE = 0xC648_0003;
const CKM_FERRO_DEVICE_ATTEST: CK_MECHANISM_TYPE = 0xC648_0004;
const CKM_FERRO_LOG_ATTEST: CK_MECHANISM_TYPE = 0xC648_0005;

const ROLE_ROOT: CK_ULONG = 1;
const ROLE_DEVICE: CK_ULONG = 2;
const ROLE_PARTITION: CK_ULONG = 3;
const ROLE_TIMESTAMP: CK_ULONG = 4;
const ROLE_AUDIT: CK_ULONG = 5;

const ZEROS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn sha256(b: &[u8]) -> [u8; 32] {
    <sha2::Sha256 as sha2::Digest>::digest(b).into()
}

// ---------------------------------------------------------------------------
// Helpers

fn data_ptr(data: &[u8]) -> *mut u8 {
    if data.is_empty() { ptr::null_mut() } else { data.as_ptr() as *mut u8 }
}

/// `C_SignInit(ty, key)` then `C_Sign(data)`, a length query first; the length
/// answered must be the length of the bytes the next call returns.
fn attest(s: CK_SESSION_HANDLE, ty: CK_MECHANISM_TYPE, key: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    match call!(C_SignInit, s, &mut mech(ty), key) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut n: CK_ULONG = 0;
    match call!(C_Sign, s, data_ptr(data), data.len() as CK_ULONG, ptr::null_mut(), &mut n) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    assert!(n > 0, "the length query answers a length");
    let mut out = vec![0u8; n as usize];
    let mut got = n;
    assert_rv!(call!(C_Sign, s, data_ptr(data), data.len() as CK_ULONG, out.as_mut_ptr(), &mut got), CKR_OK);
    assert_eq!(got, n, "the length query answered the length of the bytes returned");
    Ok(out)
}

/// The one object of `class` with `CKA_FERRO_KEY_ROLE` = `role` that `s` sees.
fn by_role(h: &Hsm, s: CK_SESSION_HANDLE, class: CK_OBJECT_CLASS, role: CK_ULONG) -> CK_OBJECT_HANDLE {
    let all = h.find(s, &Tmpl::new().class(class).ulong(CKA_FERRO_KEY_ROLE, role));
    assert_eq!(all.len(), 1, "one object of class {class:#x} and role {role}");
    all[0]
}

/// The device root (PEM file in `dir`), read from the admin token as anyone can.
fn root_pem(h: &Hsm, dir: &Path) -> PathBuf {
    let a = h.open(ADMIN_SLOT, true);
    let der = h.get(a, by_role(h, a, CKO_CERTIFICATE, ROLE_ROOT), CKA_VALUE).unwrap();
    assert_rv!(call!(C_CloseSession, a), CKR_OK);
    let p = dir.join("root.pem");
    std::fs::write(&p, openssl(&["x509", "-inform", "DER", "-outform", "PEM"], &der)).unwrap();
    p
}

/// `openssl cms -verify -CAfile root.pem` of an attestation: it must verify; the JSON
/// it prints.
fn verified(h: &Hsm, der: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let root = root_pem(h, dir.path());
    let att = dir.path().join("att.der");
    std::fs::write(&att, der).unwrap();
    let r = run_openssl(
        &["cms", "-verify", "-inform", "DER", "-in", path(&att), "-CAfile", path(&root), "-purpose", "any"],
        &[],
    );
    assert!(r.ok && r.stderr.contains("Verification successful"), "openssl cms -verify: {}", r.stderr);
    serde_json::from_slice(&r.stdout).expect("the content is JSON")
}

/// What the store says, read with the module finalised; the module is initialised
/// again afterwards (every login is gone then).
fn with_store<T>(h: &mut Hsm, f: impl FnOnce(&Store) -> T) -> T {
    h.finalize();
    let provider = ferrohsm_pkcs11::crypto::select(None).unwrap();
    let store = Store::open(h.dir.path(), provider, KdfParams::DEFAULT).unwrap();
    let out = f(&store);
    drop(store);
    h.initialize();
    out
}

fn all_entries(store: &Store) -> Vec<Entry> {
    store.audit_entries(1, u64::MAX, None).unwrap().into_iter().map(Result::unwrap).collect()
}

fn json(e: &Entry) -> Value {
    serde_json::from_str(&e.line).unwrap()
}

/// The `attestation_made` entries of `mechanism`, in order.
fn made<'a>(entries: &'a [Entry], mechanism: &str) -> Vec<&'a Entry> {
    entries
        .iter()
        .filter(|e| {
            let v = json(e);
            v["event"] == "attestation_made" && v["mechanism"] == mechanism
        })
        .collect()
}

fn hex_of(b: &[u8]) -> String {
    hex(b)
}

fn uid(h: &Hsm, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> String {
    String::from_utf8(h.get(s, o, CKA_UNIQUE_ID).unwrap()).unwrap()
}

fn token_serial(h: &Hsm, slot: CK_SLOT_ID) -> String {
    String::from_utf8_lossy(&h.token_info(slot).serialNumber).trim_end().to_string()
}

fn provider() -> String {
    std::env::var("FERROHSM_PROVIDER")
        .unwrap_or_else(|_| if cfg!(feature = "aws-lc") { "aws-lc" } else { "rustcrypto" }.to_string())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A document's `time`, checked to be now (within a minute).
fn check_time(v: &Value) {
    let t: der::DateTime = v.as_str().expect("a time").parse().expect("YYYY-MM-DDThh:mm:ssZ");
    let secs = t.unix_duration().as_secs();
    assert!(secs.abs_diff(unix_now()) < 60, "the time {v} is now");
}

fn ec_pair(h: &Hsm, s: CK_SESSION_HANDLE, label: &str) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let public = Tmpl::new().token(true).label(label).bytes(CKA_EC_PARAMS, P256).bool(CKA_VERIFY, true);
    let private = Tmpl::new().token(true).label(label).bytes(CKA_ID, &[0x42]).bool(CKA_SIGN, true);
    h.generate_pair(s, CKM_EC_KEY_PAIR_GEN, &public, &private).unwrap_or_else(|rv| panic!("pair: {rv:#x}"))
}

/// The device SO's session on the admin token, initialised already.
fn device_so_again(h: &Hsm) -> CK_SESSION_HANDLE {
    let s = h.open(ADMIN_SLOT, true);
    assert_rv!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    s
}

/// The device SO creates a partition; returns its slot.
fn new_partition(h: &Hsm, so: CK_SESSION_HANDLE, label: &str, policy: Tmpl) -> CK_SLOT_ID {
    let mut t = Tmpl::new().class(CKO_FERRO_PARTITION).token(true).label(label);
    t.0.extend(policy.0);
    let obj = h.create(so, &t).unwrap_or_else(|rv| panic!("partition: {rv:#x}"));
    h.get_ulong(so, obj, CKA_FERRO_SLOT_ID)
}

/// `CK_ULONG`s of an attribute value.
fn ulongs(v: &[u8]) -> Vec<CK_ULONG> {
    v.chunks_exact(size_of::<CK_ULONG>()).map(|c| CK_ULONG::from_ne_bytes(c.try_into().unwrap())).collect()
}

/// A key's unique id, creation time and security attributes, as the token shows
/// them (`None`: the key has no such attribute).
struct Shown {
    unique_id: String,
    created: String,
    flags: Vec<(&'static str, Option<bool>)>,
}

fn shown(h: &Hsm, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> Shown {
    let flag = |ty| h.get(s, o, ty).ok().map(|v| v[0] != 0);
    Shown {
        unique_id: uid(h, s, o),
        created: String::from_utf8(h.get(s, o, CKA_FERRO_CREATED).unwrap()).unwrap(),
        flags: vec![
            ("local", flag(CKA_LOCAL)),
            ("sensitive", flag(CKA_SENSITIVE)),
            ("always_sensitive", flag(CKA_ALWAYS_SENSITIVE)),
            ("extractable", flag(CKA_EXTRACTABLE)),
            ("never_extractable", flag(CKA_NEVER_EXTRACTABLE)),
            ("private", flag(CKA_PRIVATE)),
            ("modifiable", flag(CKA_MODIFIABLE)),
        ],
    }
}

/// Asserts that no PIN, and none of `secrets` (raw or hex), is in `out`.
fn nothing_secret(out: &[u8], secrets: &[&[u8]]) {
    let contains = |needle: &[u8]| out.windows(needle.len()).any(|w| w == needle);
    for pin in [SO_PIN, USER_PIN, b"wrong-pin-1".as_slice()] {
        assert!(!contains(pin), "a PIN in an attestation");
    }
    for s in secrets {
        assert!(!contains(s), "a key value in an attestation");
        assert!(!contains(hex(s).as_bytes()), "a key value, in hex, in an attestation");
    }
}

// ---------------------------------------------------------------------------
// Registry and keys

/// `C_GetMechanismList` lists the three on the admin token, and the log and
/// partition attestations on a partition (device attestation is the admin token's
/// alone: C_GetMechanismInfo there is CKR_MECHANISM_INVALID); C_GetMechanismInfo
/// says they sign; the keys that sign them allow them in `CKA_ALLOWED_MECHANISMS`.
#[test]
fn the_mechanisms_are_listed_and_their_keys_allow_them() {
    let (h, s) = Hsm::ready();
    let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
    assert_rv!(call!(C_GetMechanismInfo, 0, CKM_FERRO_DEVICE_ATTEST, &mut info), CKR_MECHANISM_INVALID);
    let everywhere = [CKM_FERRO_LOG_ATTEST, CKM_FERRO_PARTITION_ATTEST];
    let admin = [CKM_FERRO_LOG_ATTEST, CKM_FERRO_DEVICE_ATTEST, CKM_FERRO_PARTITION_ATTEST];
    for (slot, offered) in [(0, &everywhere[..]), (ADMIN_SLOT, &admin[..])] {
        let mut n = 0;
        assert_rv!(call!(C_GetMechanismList, slot, ptr::null_mut(), &mut n), CKR_OK);
        let mut list = vec![0; n as usize];
        assert_rv!(call!(C_GetMechanismList, slot, list.as_mut_ptr(), &mut n), CKR_OK);
        assert_eq!(slot == 0, !list.contains(&CKM_FERRO_DEVICE_ATTEST), "slot {slot}");
        for &m in offered {
            assert!(list.contains(&m), "slot {slot} lists {m:#x}");
            let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
            assert_rv!(call!(C_GetMechanismInfo, slot, m, &mut info), CKR_OK);
            assert_eq!(info.flags, CKF_SIGN, "{m:#x} signs, and only that");
            assert_eq!((info.ulMinKeySize, info.ulMaxKeySize), (256, 256), "{m:#x}: P-256 keys sign");
        }
    }
    let so = h.device_so();
    let audit = h.get(so, by_role(&h, so, CKO_PRIVATE_KEY, ROLE_AUDIT), CKA_ALLOWED_MECHANISMS).unwrap();
    for m in [CKM_FERRO_LOG_ATTEST, CKM_FERRO_DEVICE_ATTEST, CKM_FERRO_PARTITION_ATTEST] {
        assert!(ulongs(&audit).contains(&m), "the audit key allows {m:#x}");
    }
    let part = h.get(s, by_role(&h, s, CKO_PRIVATE_KEY, ROLE_PARTITION), CKA_ALLOWED_MECHANISMS).unwrap();
    for m in [CKM_FERRO_LOG_ATTEST, CKM_FERRO_PARTITION_ATTEST] {
        assert!(ulongs(&part).contains(&m), "the partition attestation key allows {m:#x}");
    }
}

// ---------------------------------------------------------------------------
// Log attestation

/// docs/audit.md, "Log attestation": the device SO's attestation of the whole log
/// holds the log's lines exactly as the store holds them, from the first, and the
/// head; making it is logged.
#[test]
fn the_whole_log_is_attested_as_the_store_holds_it() {
    let (mut h, s) = Hsm::ready();
    ec_pair(&h, s, "k1");
    assert_rv!(call!(C_Logout, s), CKR_OK);
    let so = h.device_so();
    let key = by_role(&h, so, CKO_PRIVATE_KEY, ROLE_AUDIT);
    let der = attest(so, CKM_FERRO_LOG_ATTEST, key, b"nonce-1").unwrap();
    let doc = verified(&h, &der);
    nothing_secret(&der, &[]);

    let (entries, serial) = with_store(&mut h, |st| (all_entries(st), hex_of(&st.device().unwrap().serial)));
    let own = made(&entries, "CKM_FERRO_LOG_ATTEST");
    assert_eq!(own.len(), 1, "one entry for one attestation (the length query made none)");
    let own = json(own[0]);
    assert_eq!(
        (&own["partition"], &own["role"], &own["object"], &own["result"]),
        (&Value::from(65535), &Value::from("so"), &Value::Null, &Value::from("CKR_OK"))
    );
    // The attestation covers the log up to the entry before its own.
    let n = own["seq"].as_u64().unwrap() - 1;
    assert_eq!(doc["type"], "ferrohsm-log-attestation");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["nonce"], hex(b"nonce-1"));
    check_time(&doc["time"]);
    assert_eq!(doc["device"]["serial"], serial);
    assert_eq!(doc["scope"]["partition"], Value::Null);
    assert_eq!((doc["from"].as_u64(), doc["to"].as_u64()), (Some(1), Some(n)));
    assert_eq!(doc["start"], ZEROS);
    let last = &entries[n as usize - 1];
    assert_eq!(doc["head"]["seq"], n);
    assert_eq!(doc["head"]["hash"], hex(&last.hash));
    let lines: Vec<&str> = doc["entries"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let stored: Vec<&str> = entries[..n as usize].iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, stored, "the entries are the store's lines, byte for byte");
    let head = Head { seq: n, hash: last.hash };
    assert_eq!(check_chain(&lines, 1, ZERO, Some(head), sha256), Ok(head));
    // What the test did is there: the key pair made in partition 0.
    assert!(lines.iter().any(|l| l.contains(r#""partition":0,"role":"user","event":"key_generate""#)));
}

/// A range: `from` and `to` choose the entries; `start` is the hash of the entry
/// before `from`; the head is still the log's.
#[test]
fn a_range_of_the_log_starts_from_the_entry_before_it() {
    let (mut h, s) = Hsm::ready();
    assert_rv!(call!(C_Logout, s), CKR_OK);
    let so = h.device_so();
    let key = by_role(&h, so, CKO_PRIVATE_KEY, ROLE_AUDIT);
    let der = attest(so, CKM_FERRO_LOG_ATTEST, key, br#"{"nonce":"0a0b","from":2,"to":5}"#).unwrap();
    let doc = verified(&h, &der);
    let entries = with_store(&mut h, all_entries);
    let own = json(made(&entries, "CKM_FERRO_LOG_ATTEST")[0]);
    let head_seq = own["seq"].as_u64().unwrap() - 1;
    assert_eq!(doc["nonce"], "0a0b");
    assert_eq!((doc["from"].as_u64(), doc["to"].as_u64()), (Some(2), Some(5)));
    assert_eq!(doc["start"], hex(&entries[0].hash));
    assert_eq!(doc["head"]["seq"], head_seq);
    assert_eq!(doc["head"]["hash"], hex(&entries[head_seq as usize - 1].hash));
    let lines: Vec<&str> = doc["entries"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(lines, entries[1..5].iter().map(|e| e.line.as_str()).collect::<Vec<_>>());
    assert!(check_chain(&lines, 2, entries[0].hash, None, sha256).is_ok());

    // `to` past the head stops at the head; `from` alone runs to it.
    let so = device_so_again(&h);
    let key = by_role(&h, so, CKO_PRIVATE_KEY, ROLE_AUDIT);
    let doc = verified(&h, &attest(so, CKM_FERRO_LOG_ATTEST, key, br#"{"from":3,"to":9000}"#).unwrap());
    let to = doc["to"].as_u64().unwrap();
    assert_eq!(to, doc["head"]["seq"].as_u64().unwrap());
    assert_eq!(doc["entries"].as_array().unwrap().len() as u64, to - 2);
    assert_eq!(doc["nonce"], "", "no nonce asked for");
}

/// A partition's SO attests its partition's log: only that partition's entries,
/// chained by `pprev`, up to the partition's head; the device SO may ask for one
/// partition's entries too.
#[test]
fn a_partition_s_log_holds_only_its_entries() {
    let (mut h, s) = Hsm::ready();
    ec_pair(&h, s, "k0");
    assert_rv!(call!(C_Logout, s), CKR_OK);
    assert_rv!(call!(C_CloseSession, s), CKR_OK);
    let so = h.device_so();
    let second = new_partition(&h, so, "second", Tmpl::new());
    h.init_token(second, SO_PIN, "second");
    let pso = h.open(0, true);
    assert_rv!(h.login(pso, CKU_SO, SO_PIN), CKR_OK);
    let key = by_role(&h, pso, CKO_PRIVATE_KEY, ROLE_PARTITION);
    let der = attest(pso, CKM_FERRO_LOG_ATTEST, key, br#"{"nonce":"ff"}"#).unwrap();
    let doc = verified(&h, &der);
    // The device SO, for the second partition.
    let audit = by_role(&h, so, CKO_PRIVATE_KEY, ROLE_AUDIT);
    let req = format!(r#"{{"partition":{second}}}"#);
    let doc2 = verified(&h, &attest(so, CKM_FERRO_LOG_ATTEST, audit, req.as_bytes()).unwrap());

    let entries = with_store(&mut h, all_entries);
    let own: Vec<Value> = made(&entries, "CKM_FERRO_LOG_ATTEST").into_iter().map(json).collect();
    assert_eq!(own.len(), 2);
    assert_eq!((&own[0]["partition"], &own[0]["role"]), (&Value::from(0), &Value::from("so")));
    assert_eq!((&own[1]["partition"], &own[1]["role"]), (&Value::from(second), &Value::from("device_so")));
    for (doc, partition, before) in
        [(&doc, 0, own[0]["seq"].as_u64().unwrap()), (&doc2, second, own[1]["seq"].as_u64().unwrap())]
    {
        assert_eq!(doc["scope"]["partition"], partition);
        let mine: Vec<&Entry> =
            entries.iter().filter(|e| e.seq < before && json(e)["partition"] == partition).collect();
        assert!(!mine.is_empty());
        let lines: Vec<&str> = doc["entries"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        assert_eq!(lines, mine.iter().map(|e| e.line.as_str()).collect::<Vec<_>>(), "partition {partition}");
        let last = mine.last().unwrap();
        let head = Head { seq: last.seq, hash: last.hash };
        assert_eq!(
            (doc["head"]["seq"].as_u64(), doc["head"]["hash"].as_str()),
            (Some(last.seq), Some(&*hex(&last.hash)))
        );
        assert_eq!(check_partition_chain(&lines, Some(head), sha256), Ok(head));
        assert_eq!(doc["start"], ZEROS);
    }
    // Other partitions' entries exist but are not there.
    assert!(entries.iter().any(|e| json(e)["partition"] == 65535));
}

/// The length query computes the attestation once: a buffer too small gets
/// `CKR_BUFFER_TOO_SMALL` with the exact length, the next call returns those bytes,
/// and the log gets one entry.
#[test]
fn the_length_protocol_makes_one_attestation() {
    let (mut h, s) = Hsm::ready();
    assert_rv!(call!(C_Logout, s), CKR_OK);
    let so = h.device_so();
    let key = by_role(&h, so, CKO_PRIVATE_KEY, ROLE_AUDIT);
    assert_rv!(call!(C_SignInit, so, &mut mech(CKM_FERRO_DEVICE_ATTEST), key), CKR_OK);
    let nonce = b"n";
    let mut n: CK_ULONG = 0;
    assert_rv!(call!(C_Sign, so, data_ptr(nonce), 1, ptr::null_mut(), &mut n), CKR_OK);
    let mut small = vec![0u8; n as usize - 1];
    let mut got = small.len() as CK_ULONG;
    assert_rv!(call!(C_Sign, so, data_ptr(nonce), 1, small.as_mut_ptr(), &mut got), CKR_BUFFER_TOO_SMALL);
    assert_eq!(got, n, "the exact length again");
    let mut out = vec![0u8; n as usize];
    assert_rv!(call!(C_Sign, so, data_ptr(nonce), 1, out.as_mut_ptr(), &mut got), CKR_OK);
    assert_eq!(got, n);
    let doc = verified(&h, &out);
    assert_eq!(doc["nonce"], "6e");
    // The operation ended with the bytes.
    assert_rv!(call!(C_Sign, so, data_ptr(nonce), 1, out.as_mut_ptr(), &mut got), CKR_OPERATION_NOT_INITIALIZED);
    let entries = with_store(&mut h, all_entries);
    assert_eq!(made(&entries, "CKM_FERRO_DEVICE_ATTEST").len(), 1);
}

// ---------------------------------------------------------------------------
// Device attestation

/// docs/audit.md, "Device attestation": every partition with its label, policy and
/// PIN states (after failed logins and a lock), the store's PIN KDF, and the
/// device's state: software, provider, serial, object counts, the log head.
#[test]
fn the_device_attestation_says_how_the_device_is_configured() {
    let (mut h, s) = Hsm::ready();
    assert_rv!(call!(C_Logout, s), CKR_OK);
    for _ in 0..2 {
        assert_rv!(h.login(s, CKU_USER, b"wrong-pin-1"), CKR_PIN_INCORRECT);
    }
    assert_rv!(call!(C_CloseSession, s), CKR_OK);
    let so = h.device_so();
    let policy = Tmpl::new()
        .ulong(CKA_FERRO_POLICY_MAX_PIN_FAILURES, 3)
        .ulong(CKA_FERRO_POLICY_MIN_PIN_LEN, 6)
        .bool(CKA_FERRO_POLICY_ALLOW_EXPORT, false)
        .bool(CKA_FERRO_POLICY_KEY_INVALIDATION, true);
    let second = new_partition(&h, so, "second", policy);
    h.init_token(second, SO_PIN, "second");
    let p = h.open(second, true);
    for _ in 0..3 {
        assert_rv!(h.login(p, CKU_SO, b"wrong-pin-1"), CKR_PIN_INCORRECT);
    }
    assert_ne!(h.token_info(second).flags & CKF_SO_PIN_LOCKED, 0, "the second partition's SO PIN is locked");
    let serials: Vec<String> = [0, second, ADMIN_SLOT].iter().map(|s| token_serial(&h, *s)).collect();
    let key = by_role(&h, so, CKO_PRIVATE_KEY, ROLE_AUDIT);
    let nonce = [0xa5u8; 64];
    let der = attest(so, CKM_FERRO_DEVICE_ATTEST, key, &nonce).unwrap();
    let doc = verified(&h, &der);
    nothing_secret(&der, &[]);

    let (entries, serial, counts) = with_store(&mut h, |st| {
        let counts: Vec<usize> = [0, second as u32, 0xFFFF].iter().map(|p| st.count_objects(*p)).collect();
        (all_entries(st), hex_of(&st.device().unwrap().serial), counts)
    });
    assert_eq!(doc["type"], "ferrohsm-device-attestation");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["nonce"], hex(&nonce));
    check_time(&doc["time"]);
    let parts = doc["config"]["partitions"].as_array().unwrap();
    let ids: Vec<u64> = parts.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [0, second, ADMIN_SLOT], "every partition, in slot order");
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p["slot"], p["id"]);
        assert_eq!(p["serial"], serials[i]);
        assert_eq!(p["initialized"], true);
    }
    assert_eq!(parts.iter().map(|p| p["label"].as_str().unwrap()).collect::<Vec<_>>(), ["test", "second", "device"]);
    let pin = |set: bool, locked: bool, failures: u64| serde_json::json!({"pin_set": set, "locked": locked, "failures": failures});
    assert_eq!(parts[0]["so"], pin(true, false, 0));
    assert_eq!(parts[0]["user"], pin(true, false, 2), "two failed user logins");
    assert_eq!(parts[1]["so"], pin(true, true, 3), "locked after three");
    assert_eq!(parts[1]["user"], pin(false, false, 0), "no user PIN yet");
    assert_eq!(parts[2]["so"], pin(true, false, 0));
    assert_eq!(
        parts[0]["policy"],
        serde_json::json!({"allow_export": true, "key_invalidation": false, "read_only": false,
                           "max_pin_failures": 10, "min_pin_len": 4})
    );
    assert_eq!(
        parts[1]["policy"],
        serde_json::json!({"allow_export": false, "key_invalidation": true, "read_only": false,
                           "max_pin_failures": 3, "min_pin_len": 6})
    );
    let kdf = KdfParams::DEFAULT;
    assert_eq!(
        doc["config"]["store"]["pin_kdf"],
        serde_json::json!({"algorithm": "argon2id", "m_kib": kdf.m_kib, "t": kdf.t, "p": kdf.p})
    );
    assert_eq!(doc["config"]["store"]["audit_key_usage"], true, "key usage is counted by default");
    let state = &doc["state"];
    assert_eq!(state["software"], "ferrohsm");
    assert_eq!(state["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(state["provider"], provider());
    assert!(state["build"].as_str().unwrap().contains(std::env::consts::ARCH), "{}", state["build"]);
    assert_eq!(state["device_serial"], serial);
    assert!(state["uptime_seconds"].as_u64().unwrap() < 600);
    let mut objects = serde_json::Map::new();
    for (p, n) in [(0, counts[0]), (second, counts[1]), (ADMIN_SLOT, counts[2])] {
        objects.insert(p.to_string(), Value::from(n));
    }
    let objects = Value::Object(objects);
    assert_eq!(state["objects"], objects, "object counts as the store holds them");
    let own = json(made(&entries, "CKM_FERRO_DEVICE_ATTEST")[0]);
    let head = &entries[own["seq"].as_u64().unwrap() as usize - 2];
    assert_eq!(state["log_head"], serde_json::json!({"seq": head.seq, "hash": hex(&head.hash)}));
    assert_eq!((&own["partition"], &own["role"]), (&Value::from(65535), &Value::from("so")));
}

// ---------------------------------------------------------------------------
// Partition attestation

/// docs/audit.md, "Partition attestation": the partition's configuration, its PIN
/// states and last login, every token key with its origin and security attributes
/// (no value), and its log head. The device SO, who has no key to the partition's
/// private objects, gets the public keys and a count of what it could not read.
#[test]
fn the_partition_attestation_lists_its_keys_and_their_origins() {
    let (mut h, s) = Hsm::ready();
    let (public, private) = ec_pair(&h, s, "signer");
    let aes = |label: &str, extra: Tmpl| {
        let mut t = Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_AES).token(true).label(label);
        t.0.extend(extra.0);
        t
    };
    let generated = h
        .generate_key(s, CKM_AES_KEY_GEN, &aes("gen", Tmpl::new().ulong(CKA_VALUE_LEN, 32).bool(CKA_EXTRACTABLE, true)))
        .unwrap();
    let value = [0x5cu8; 32];
    let imported = h.create(s, &aes("imported", Tmpl::new().bytes(CKA_VALUE, &value))).unwrap();
    let copied = h.copy(s, generated, &Tmpl::new().label("copy")).unwrap();
    h.create(s, &data("note", true).bool(CKA_PRIVATE, true)).unwrap();
    let handles = [public, private, generated, imported, copied];
    // What the token says of each key, as the user sees it.
    let shown: Vec<Shown> = handles.iter().map(|o| shown(&h, s, *o)).collect();
    assert_rv!(call!(C_Logout, s), CKR_OK);
    assert_rv!(call!(C_CloseSession, s), CKR_OK);

    let pso = h.open(0, true);
    assert_rv!(h.login(pso, CKU_SO, SO_PIN), CKR_OK);
    let key = by_role(&h, pso, CKO_PRIVATE_KEY, ROLE_PARTITION);
    let der = attest(pso, CKM_FERRO_PARTITION_ATTEST, key, b"part").unwrap();
    let doc = verified(&h, &der);
    nothing_secret(&der, &[&value]);
    let so = h.device_so();
    let audit = by_role(&h, so, CKO_PRIVATE_KEY, ROLE_AUDIT);
    let der2 = attest(so, CKM_FERRO_PARTITION_ATTEST, audit, br#"{"partition":0,"nonce":"01"}"#).unwrap();
    let doc2 = verified(&h, &der2);
    nothing_secret(&der2, &[&value]);

    let serial = token_serial(&h, 0);
    let (entries, device_serial) = with_store(&mut h, |st| (all_entries(st), hex_of(&st.device().unwrap().serial)));
    assert_eq!(doc["type"], "ferrohsm-partition-attestation");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["nonce"], hex(b"part"));
    check_time(&doc["time"]);
    assert_eq!(doc["device"]["serial"], device_serial);
    assert_eq!(
        doc["partition"],
        serde_json::json!({"id": 0, "slot": 0, "label": "test", "serial": serial, "initialized": true,
            "policy": {"allow_export": true, "key_invalidation": false, "read_only": false,
                       "max_pin_failures": 10, "min_pin_len": 4}})
    );
    assert_eq!(doc["so"], serde_json::json!({"pin_set": true, "locked": false, "failures": 0}));
    assert_eq!(
        (&doc["user"]["pin_set"], &doc["user"]["locked"], &doc["user"]["failures"]),
        (&Value::from(true), &Value::from(false), &Value::from(0))
    );
    check_time(&doc["user"]["last_login"]);
    assert!(doc.get("private_objects_unread").is_none(), "the partition's SO reads every object");

    let keys = doc["keys"].as_array().unwrap();
    let find = |u: &str| keys.iter().find(|k| k["unique_id"] == u).unwrap_or_else(|| panic!("key {u} listed"));
    // The user's keys and the partition's own (attestation and timestamp keys).
    assert_eq!(keys.len(), shown.len() + 4, "{keys:#?}");
    let own_roles: Vec<&str> = keys.iter().filter_map(|k| k["role"].as_str()).collect();
    assert_eq!(own_roles.len(), 4);
    assert!(own_roles.iter().filter(|r| **r == "partition_attestation").count() == 2);
    assert!(own_roles.iter().filter(|r| **r == "timestamp").count() == 2);
    let want = [
        // class, type, label, id, origin
        ("CKO_PUBLIC_KEY", "CKK_EC", "signer", "", "generated"),
        ("CKO_PRIVATE_KEY", "CKK_EC", "signer", "42", "generated"),
        ("CKO_SECRET_KEY", "CKK_AES", "gen", "", "generated"),
        ("CKO_SECRET_KEY", "CKK_AES", "imported", "", "imported"),
        ("CKO_SECRET_KEY", "CKK_AES", "copy", "", "copied"),
    ];
    for (t, w) in shown.iter().zip(want) {
        let k = find(&t.unique_id);
        assert_eq!((k["class"].as_str(), k["key_type"].as_str()), (Some(w.0), Some(w.1)), "{k}");
        assert_eq!((k["label"].as_str(), k["id"].as_str()), (Some(w.2), Some(w.3)), "{k}");
        assert_eq!(k["origin"], w.4, "{k}");
        for (name, v) in &t.flags {
            assert_eq!(k[*name], v.map_or(Value::Null, Value::from), "{name} of {k}");
        }
        assert_eq!(k["created"], t.created, "{k}");
        for no in ["value", "CKA_VALUE", "private_value"] {
            assert!(k.get(no).is_none(), "no value: {k}");
        }
    }
    // Their origins say what the test did.
    assert_eq!(find(&shown[3].unique_id)["local"], false, "an imported key is not local");
    assert_eq!(find(&shown[1].unique_id)["never_extractable"], true);

    // The log head is the partition's, before the attestation's own entry.
    let own: Vec<Value> = made(&entries, "CKM_FERRO_PARTITION_ATTEST").into_iter().map(json).collect();
    assert_eq!(own.len(), 2);
    assert_eq!((&own[0]["partition"], &own[0]["role"]), (&Value::from(0), &Value::from("so")));
    assert_eq!((&own[1]["partition"], &own[1]["role"]), (&Value::from(0), &Value::from("device_so")));
    let before = own[0]["seq"].as_u64().unwrap();
    let head = entries.iter().rfind(|e| e.seq < before && json(e)["partition"] == 0).unwrap();
    assert_eq!(doc["log_head"], serde_json::json!({"seq": head.seq, "hash": hex(&head.hash)}));

    // The device SO's: the same partition, the public keys only.
    assert_eq!(doc2["nonce"], "01");
    assert_eq!(doc2["partition"], doc["partition"]);
    let public_keys: Vec<&Value> = keys.iter().filter(|k| k["private"] == false).collect();
    assert_eq!(doc2["keys"].as_array().unwrap().iter().collect::<Vec<_>>(), public_keys);
    // The private key, three AES keys and the private data object.
    assert_eq!(doc2["private_objects_unread"], 5);
}

// ---------------------------------------------------------------------------
// Refusals

/// Who may ask, with which key, and what a request may say.
#[test]
fn the_wrong_role_key_or_request_is_refused() {
    let (mut h, s) = Hsm::ready();
    let (user_public, _) = ec_pair(&h, s, "mine");
    let part_key = by_role(&h, s, CKO_PRIVATE_KEY, ROLE_PARTITION);
    // The user is not the partition's SO.
    for m in [CKM_FERRO_LOG_ATTEST, CKM_FERRO_PARTITION_ATTEST] {
        assert_rv!(rv(attest(s, m, part_key, b"")), CKR_USER_NOT_LOGGED_IN, "user: {m:#x}");
    }
    assert_rv!(call!(C_Logout, s), CKR_OK);
    // Nobody logged in.
    assert_rv!(rv(attest(s, CKM_FERRO_LOG_ATTEST, part_key, b"")), CKR_USER_NOT_LOGGED_IN, "public session");
    assert_rv!(call!(C_CloseSession, s), CKR_OK);

    let pso = h.open(0, true);
    assert_rv!(h.login(pso, CKU_SO, SO_PIN), CKR_OK);
    let part_public = by_role(&h, pso, CKO_PUBLIC_KEY, ROLE_PARTITION);
    let timestamp = by_role(&h, pso, CKO_PRIVATE_KEY, ROLE_TIMESTAMP);
    // Keys that do not sign these.
    for (key, what) in [(timestamp, "the timestamp key"), (part_public, "a public key"), (user_public, "a user's key")]
    {
        for m in [CKM_FERRO_LOG_ATTEST, CKM_FERRO_PARTITION_ATTEST] {
            assert_rv!(rv(attest(pso, m, key, b"")), CKR_KEY_FUNCTION_NOT_PERMITTED, "{what}: {m:#x}");
        }
    }
    // Device attestation is the admin token's.
    assert_rv!(rv(attest(pso, CKM_FERRO_DEVICE_ATTEST, part_key, b"")), CKR_KEY_FUNCTION_NOT_PERMITTED);
    // Bad requests.
    let bad: &[(CK_MECHANISM_TYPE, &[u8], CK_RV)] = &[
        (CKM_FERRO_LOG_ATTEST, &[1; 65], CKR_DATA_LEN_RANGE),
        (CKM_FERRO_LOG_ATTEST, br#"{"bogus":1}"#, CKR_DATA_INVALID),
        (CKM_FERRO_LOG_ATTEST, br#"{"nonce":"xyz"}"#, CKR_DATA_INVALID),
        (CKM_FERRO_LOG_ATTEST, br#"{"from":1,"to":10001}"#, CKR_DATA_INVALID),
        (CKM_FERRO_LOG_ATTEST, br#"{"from":9,"to":3}"#, CKR_DATA_INVALID),
        (CKM_FERRO_LOG_ATTEST, br#"{"partition":65535}"#, CKR_DATA_INVALID),
        (CKM_FERRO_PARTITION_ATTEST, br#"{"partition":65535}"#, CKR_DATA_INVALID),
        (CKM_FERRO_PARTITION_ATTEST, br#"{"from":1}"#, CKR_DATA_INVALID),
        (CKM_FERRO_LOG_ATTEST, b"{\"nonce\":", CKR_OK),
    ];
    for (m, data, want) in bad {
        let got = rv(attest(pso, *m, part_key, data));
        assert_rv!(got, *want, "{m:#x} {}", String::from_utf8_lossy(data));
        // A refused C_Sign ended the operation.
        let mut n = 0;
        assert_rv!(call!(C_Sign, pso, ptr::null_mut(), 0, ptr::null_mut(), &mut n), CKR_OPERATION_NOT_INITIALIZED);
    }
    // A mechanism parameter.
    let mut p = [0u8; 4];
    let mut with_param =
        CK_MECHANISM { mechanism: CKM_FERRO_LOG_ATTEST, pParameter: p.as_mut_ptr() as *mut _, ulParameterLen: 4 };
    assert_rv!(call!(C_SignInit, pso, &mut with_param, part_key), CKR_MECHANISM_PARAM_INVALID);

    // On the admin token: the device SO, the audit key, and a partition that exists.
    let so = h.device_so();
    let audit = by_role(&h, so, CKO_PRIVATE_KEY, ROLE_AUDIT);
    for role in [ROLE_ROOT, ROLE_DEVICE] {
        let k = by_role(&h, so, CKO_PRIVATE_KEY, role);
        assert_rv!(rv(attest(so, CKM_FERRO_DEVICE_ATTEST, k, b"")), CKR_KEY_FUNCTION_NOT_PERMITTED, "role {role}");
    }
    for (m, data) in [
        (CKM_FERRO_PARTITION_ATTEST, &b""[..]),
        (CKM_FERRO_PARTITION_ATTEST, br#"{"partition":77}"#),
        (CKM_FERRO_LOG_ATTEST, br#"{"partition":77}"#),
        (CKM_FERRO_DEVICE_ATTEST, br#"{"partition":0}"#),
        (CKM_FERRO_DEVICE_ATTEST, br#"{"to":3}"#),
    ] {
        assert_rv!(rv(attest(so, m, audit, data)), CKR_DATA_INVALID, "{m:#x} {}", String::from_utf8_lossy(data));
    }
    // A partition's SO cannot name the audit key (it is the admin token's object).
    assert_rv!(call!(C_SignInit, pso, &mut mech(CKM_FERRO_DEVICE_ATTEST), audit), CKR_KEY_HANDLE_INVALID);
    // The device SO logged out between C_SignInit and C_Sign.
    assert_rv!(call!(C_SignInit, so, &mut mech(CKM_FERRO_DEVICE_ATTEST), audit), CKR_OK);
    assert_rv!(call!(C_Logout, so), CKR_OK);
    let mut n = 0;
    assert_rv!(call!(C_Sign, so, ptr::null_mut(), 0, ptr::null_mut(), &mut n), CKR_USER_NOT_LOGGED_IN);

    // Refusals leave no entry; the one request that was a nonce did.
    let entries = with_store(&mut h, all_entries);
    let made: Vec<&Entry> =
        entries.iter().filter(|e| json(e)["event"] == "attestation_made" && !json(e)["mechanism"].is_null()).collect();
    assert_eq!(made.len(), 1, "{made:#?}");
    assert_eq!(json(made[0])["mechanism"], "CKM_FERRO_LOG_ATTEST");
}
