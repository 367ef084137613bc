//! A partition's security policy (issue 7): key invalidation, export control and
//! read-only partitions, through the built module.

#[macro_use]
mod common;

use common::*;

/// Sets policy attributes as the partition's SO, then closes the SO session.
fn set_policy(h: &Hsm, t: Tmpl) {
    let so = h.open(0, true);
    assert_rv!(h.login(so, CKU_SO, SO_PIN), CKR_OK);
    let policy = h.find(so, &Tmpl::new().class(CKO_FERRO_PARTITION))[0];
    assert_rv!(h.set(so, policy, &t), CKR_OK);
    assert_rv!(call!(C_CloseSession, so), CKR_OK);
}

fn ec_pair(h: &Hsm, s: CK_SESSION_HANDLE, label: &str) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let public = Tmpl::new().token(true).label(label).bytes(CKA_EC_PARAMS, P256);
    let private = Tmpl::new().token(true).label(label).bool(CKA_SIGN, true);
    h.generate_pair(s, CKM_EC_KEY_PAIR_GEN, &public, &private).expect("EC key pair")
}

fn sign_init(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> CK_RV {
    let rv = call!(C_SignInit, s, &mut mech(CKM_ECDSA), key);
    if rv == CKR_OK {
        let mut digest = [1u8; 32];
        let mut sig = [0u8; 64];
        let mut n = 64;
        assert_rv!(call!(C_Sign, s, digest.as_mut_ptr(), 32, sig.as_mut_ptr(), &mut n), CKR_OK);
    }
    rv
}

/// The partition attestation's JSON, made in an SO session (the CMS content, read with
/// openssl).
fn partition_attestation(so: CK_SESSION_HANDLE) -> serde_json::Value {
    let key = {
        let t = Tmpl::new().class(CKO_PRIVATE_KEY).label("ferrohsm partition attestation");
        let mut a = t.attrs();
        assert_rv!(call!(C_FindObjectsInit, so, a.as_mut_ptr(), a.len() as CK_ULONG), CKR_OK);
        let mut h = 0;
        let mut n = 0;
        assert_rv!(call!(C_FindObjects, so, &mut h, 1, &mut n), CKR_OK);
        assert_rv!(call!(C_FindObjectsFinal, so), CKR_OK);
        assert_eq!(n, 1, "the partition attestation key");
        h
    };
    assert_rv!(call!(C_SignInit, so, &mut mech(0xC648_0003), key), CKR_OK);
    let mut n: CK_ULONG = 0;
    assert_rv!(call!(C_Sign, so, std::ptr::null_mut(), 0, std::ptr::null_mut(), &mut n), CKR_OK);
    let mut out = vec![0u8; n as usize];
    assert_rv!(call!(C_Sign, so, std::ptr::null_mut(), 0, out.as_mut_ptr(), &mut n), CKR_OK);
    out.truncate(n as usize);
    let dir = tempfile::tempdir().unwrap();
    let der = dir.path().join("p.der");
    std::fs::write(&der, &out).unwrap();
    let json = std::process::Command::new("openssl")
        .args(["cms", "-verify", "-noverify", "-inform", "DER", "-in", der.to_str().unwrap()])
        .output()
        .expect("openssl");
    assert!(json.status.success(), "{}", String::from_utf8_lossy(&json.stderr));
    serde_json::from_slice(&json.stdout).expect("the attestation's JSON")
}

fn so_session(h: &Hsm) -> CK_SESSION_HANDLE {
    let so = h.open(0, true);
    assert_rv!(h.login(so, CKU_SO, SO_PIN), CKR_OK);
    so
}

fn user_session(h: &Hsm) -> CK_SESSION_HANDLE {
    let s = h.open(0, true);
    assert_rv!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    s
}

fn private_keys(h: &Hsm, s: CK_SESSION_HANDLE, label: &str) -> Vec<CK_OBJECT_HANDLE> {
    h.find(s, &Tmpl::new().class(CKO_PRIVATE_KEY).label(label))
}

/// The audit events of the store's log, in order (the module finalised to read it,
/// then initialised again).
fn logged_events(h: &mut Hsm) -> Vec<String> {
    h.finalize();
    let provider = ferrohsm_pkcs11::crypto::select(None).unwrap();
    let store = ferrohsm_store::Store::open(h.dir.path(), provider, ferrohsm_store::KdfParams::DEFAULT).unwrap();
    let events = store
        .audit_entries(1, u64::MAX, None)
        .unwrap()
        .into_iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.unwrap().line).unwrap()["event"].as_str().unwrap().to_owned()
        })
        .collect();
    drop(store);
    h.initialize();
    events
}

#[test]
fn a_user_s_destroy_invalidates_and_the_so_restores_or_purges() {
    let (mut h, s) = Hsm::ready();
    assert_rv!(call!(C_CloseSession, s), CKR_OK);
    set_policy(&h, Tmpl::new().bool(CKA_FERRO_POLICY_KEY_INVALIDATION, true));
    let s = user_session(&h);
    let (public, private) = ec_pair(&h, s, "k");
    assert_rv!(sign_init(s, private), CKR_OK);
    assert_rv!(h.destroy(s, private), CKR_OK, "the user's destroy succeeds");
    assert!(private_keys(&h, s, "k").is_empty(), "the user no longer finds the key");
    assert_rv!(sign_init(s, private), CKR_KEY_HANDLE_INVALID, "nor uses it");
    assert_eq!(h.find(s, &Tmpl::new().class(CKO_PUBLIC_KEY).label("k")), [public], "the public key is another key");
    assert_eq!(
        h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:k")).len(),
        1,
        "its birth certificate stays"
    );
    assert_rv!(call!(C_CloseSession, s), CKR_OK);

    // Invalidation is kept in the store.
    h.restart();
    let s = user_session(&h);
    assert!(private_keys(&h, s, "k").is_empty(), "still invalidated after a restart");
    assert_rv!(call!(C_CloseSession, s), CKR_OK);

    // The SO finds it (metadata, never values), cannot use it, and restores it.
    let so = so_session(&h);
    let doc = partition_attestation(so);
    let listed: Vec<&serde_json::Value> = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["label"] == "k" && k["class"] == "CKO_PRIVATE_KEY")
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["invalidated"], true, "the partition attestation shows the key invalidated");
    let found = private_keys(&h, so, "k");
    assert_eq!(found.len(), 1, "the SO finds the invalidated key");
    let k = found[0];
    assert!(h.get_bool(so, k, CKA_FERRO_INVALIDATED));
    assert_rv!(rv(h.get(so, k, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE);
    assert_rv!(sign_init(so, k), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_rv!(rv(h.copy(so, k, &Tmpl::new())), CKR_ACTION_PROHIBITED);
    assert_rv!(h.set(so, k, &Tmpl::new().label("other")), CKR_ACTION_PROHIBITED, "restoring is the one change");
    assert_rv!(h.set(so, k, &Tmpl::new().bool(CKA_FERRO_INVALIDATED, false)), CKR_OK);
    assert!(private_keys(&h, so, "k").is_empty(), "restored: a private key the SO does not see");
    assert_rv!(call!(C_CloseSession, so), CKR_OK);

    let s = user_session(&h);
    let k = private_keys(&h, s, "k");
    assert_eq!(k.len(), 1, "the user has it back");
    assert_rv!(sign_init(s, k[0]), CKR_OK);
    // Invalidated again, then purged by the SO: gone for good, certificate with it.
    assert_rv!(h.destroy(s, k[0]), CKR_OK);
    assert_rv!(call!(C_CloseSession, s), CKR_OK);
    let so = so_session(&h);
    let public = h.find(so, &Tmpl::new().class(CKO_PUBLIC_KEY).label("k"))[0]; // new handles since the restart
    assert_rv!(h.destroy(so, public), CKR_ACTION_PROHIBITED, "the SO purges invalidated keys only");
    let k = private_keys(&h, so, "k")[0];
    assert_rv!(h.destroy(so, k), CKR_OK);
    assert!(private_keys(&h, so, "k").is_empty());
    assert!(h.find(so, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:k")).is_empty());
    assert_rv!(call!(C_CloseSession, so), CKR_OK);
    h.restart();
    let s = user_session(&h);
    assert!(private_keys(&h, s, "k").is_empty(), "purged");
    assert_rv!(call!(C_CloseSession, s), CKR_OK);

    let events = logged_events(&mut h);
    let steps: Vec<&str> = events
        .iter()
        .map(String::as_str)
        .filter(|e| ["key_invalidate", "key_restore", "key_purge"].contains(e))
        .collect();
    assert_eq!(steps, ["key_invalidate", "key_restore", "key_invalidate", "key_purge"]);
}

#[test]
fn without_the_policy_a_destroy_destroys() {
    let (h, s) = Hsm::ready();
    let (_, private) = ec_pair(&h, s, "gone");
    assert_rv!(h.destroy(s, private), CKR_OK);
    assert_rv!(call!(C_Logout, s), CKR_OK);
    assert_rv!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    assert!(private_keys(&h, s, "gone").is_empty(), "nothing left for the SO to find");
}

#[test]
fn with_export_off_no_key_is_extractable_and_none_leaves() {
    let (h, s) = Hsm::ready();
    // Made while export is allowed: extractable and not sensitive, so readable.
    let kek = h
        .generate_key(
            s,
            CKM_AES_KEY_GEN,
            &Tmpl::new().token(true).label("kek").ulong(CKA_VALUE_LEN, 32).bool(CKA_WRAP, true),
        )
        .unwrap();
    let open_key =
        h.create(s, &aes_key("open", &[7u8; 16]).bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true)).unwrap();
    assert_eq!(h.get(s, open_key, CKA_VALUE).unwrap(), [7u8; 16]);
    assert!(h.wrap_key(s, CKM_AES_KEY_WRAP, kek, open_key).is_ok());
    assert_rv!(call!(C_CloseSession, s), CKR_OK);

    set_policy(&h, Tmpl::new().bool(CKA_FERRO_POLICY_ALLOW_EXPORT, false));
    let s = user_session(&h);
    // Private objects get new handles after the user logged out.
    let (kek, open_key) = (h.find(s, &Tmpl::new().label("kek"))[0], h.find(s, &Tmpl::new().label("open"))[0]);
    assert_rv!(rv(h.get(s, open_key, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE, "no value leaves");
    assert_rv!(rv(h.wrap_key(s, CKM_AES_KEY_WRAP, kek, open_key)), CKR_KEY_UNEXTRACTABLE, "nor is wrapped");
    // Nothing new may be extractable, however it is made.
    let extractable = Tmpl::new().token(true).ulong(CKA_VALUE_LEN, 16).bool(CKA_EXTRACTABLE, true);
    assert_rv!(rv(h.generate_key(s, CKM_AES_KEY_GEN, &extractable)), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_rv!(rv(h.create(s, &aes_key("x", &[1u8; 16]).bool(CKA_EXTRACTABLE, true))), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_rv!(rv(h.copy(s, open_key, &Tmpl::new())), CKR_ATTRIBUTE_VALUE_INVALID, "a copy would be extractable");
    let public = Tmpl::new().token(true).bytes(CKA_EC_PARAMS, P256);
    let private = Tmpl::new().token(true).bool(CKA_EXTRACTABLE, true);
    assert_rv!(rv(h.generate_pair(s, CKM_EC_KEY_PAIR_GEN, &public, &private)), CKR_ATTRIBUTE_VALUE_INVALID);
    // By default keys are made non-extractable, which the policy allows.
    let k = h.generate_key(s, CKM_AES_KEY_GEN, &Tmpl::new().token(true).ulong(CKA_VALUE_LEN, 16)).unwrap();
    assert!(!h.get_bool(s, k, CKA_EXTRACTABLE));
    assert_rv!(call!(C_CloseSession, s), CKR_OK);

    // Export back on: the old key's value is readable again.
    set_policy(&h, Tmpl::new().bool(CKA_FERRO_POLICY_ALLOW_EXPORT, true));
    let s = user_session(&h);
    let open_key = h.find(s, &Tmpl::new().label("open"))[0];
    assert_eq!(h.get(s, open_key, CKA_VALUE).unwrap(), [7u8; 16]);
}

#[test]
fn a_read_only_partition_refuses_every_change_and_says_so() {
    let (mut h, s) = Hsm::ready();
    let kept = h.create(s, &data("kept", true)).unwrap();
    assert_rv!(call!(C_CloseSession, s), CKR_OK);
    set_policy(&h, Tmpl::new().bool(CKA_FERRO_POLICY_READ_ONLY, true));
    assert_ne!(h.token_info(0).flags & CKF_WRITE_PROTECTED, 0, "C_GetTokenInfo says so");
    let s = user_session(&h);
    assert_rv!(rv(h.create(s, &data("new", true))), CKR_TOKEN_WRITE_PROTECTED);
    assert_rv!(
        rv(h.generate_key(s, CKM_AES_KEY_GEN, &Tmpl::new().token(true).ulong(CKA_VALUE_LEN, 16))),
        CKR_TOKEN_WRITE_PROTECTED
    );
    assert_rv!(h.set(s, kept, &Tmpl::new().label("renamed")), CKR_TOKEN_WRITE_PROTECTED);
    assert_rv!(rv(h.copy(s, kept, &Tmpl::new())), CKR_TOKEN_WRITE_PROTECTED);
    assert_rv!(h.destroy(s, kept), CKR_TOKEN_WRITE_PROTECTED);
    // Session objects do not change the token (PKCS#11: write protection is about
    // token objects), so they are allowed.
    assert!(h.create(s, &data("scratch", false)).is_ok());
    assert_rv!(call!(C_CloseSession, s), CKR_OK);
    assert_rv!(h.try_init_token(0, SO_PIN, "again"), CKR_TOKEN_WRITE_PROTECTED);
    h.restart();
    let s = user_session(&h);
    assert_eq!(h.find(s, &Tmpl::new().label("kept")).len(), 1, "nothing was changed");
}
