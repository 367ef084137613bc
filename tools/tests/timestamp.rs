//! `ferrohsm timestamp`: the real module signs, the binary writes the response, and
//! `openssl ts` reads and verifies it against the root that `ferrohsm attest chain`
//! reads from the token.
//!
//! Needs openssl (installed by ci/deps.sh): without it these tests skip, except
//! under CI=true, where they fail (see `common::have_tool`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

const POLICY: &str = "2.25.36854759746227648345030761591017072291.4";

/// Not a test on its own: the PKCS#11 side, run in a child (see `common`).
///
/// `user`: initialise slot 0's token ("tsa") and set its user PIN. `tsa-cert`: write
/// slot 0's timestamp certificate (PEM) to `FERROHSM_TEST_OUT`.
#[test]
fn helper() {
    let Ok(action) = std::env::var("FERROHSM_TEST_HELPER") else {
        return;
    };
    let ctx = Pkcs11::new(std::env::var("FERROHSM_MODULE").unwrap()).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    let slot = ctx.get_all_slots().unwrap().into_iter().find(|s| s.id() == 0).expect("slot 0");
    if action == "tsa-cert" {
        // The timestamp certificate, read with no login, written as PEM to FERROHSM_TEST_OUT.
        let s = ctx.open_ro_session(slot).unwrap();
        let t = [Attribute::Class(ObjectClass::CERTIFICATE), Attribute::Label(b"ferrohsm timestamp".to_vec())];
        let found = s.find_objects(&t).unwrap();
        assert_eq!(found.len(), 1);
        let der = match &s.get_attributes(found[0], &[AttributeType::Value]).unwrap()[..] {
            [Attribute::Value(v)] => v.clone(),
            other => panic!("{other:?}"),
        };
        let pem = ferrohsm_tools::verify::input::to_pem("CERTIFICATE", &der);
        std::fs::write(std::env::var("FERROHSM_TEST_OUT").unwrap(), pem).unwrap();
        println!("REPORT tsa-cert");
        return;
    }
    assert_eq!(action, "user");
    ctx.init_token(slot, &AuthPin::from(PART_SO_PIN), "tsa").unwrap();
    let s = ctx.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&AuthPin::from(PART_SO_PIN))).unwrap();
    s.init_pin(&AuthPin::from(USER_PIN)).unwrap();
    println!("REPORT user");
}

/// A store with the device initialised and slot 0 ready for its user.
fn store() -> Store {
    let store = Store::new();
    store.init_device();
    store.helper("user", &[]);
    store
}

fn file(store: &Store, name: &str) -> PathBuf {
    store.dir.path().join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `openssl args...` in `dir`: (success, stdout + stderr).
fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("run openssl");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The value of `label:` in the command's output.
fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(label).and_then(|v| v.strip_prefix(':')).map(str::trim))
        .unwrap_or_else(|| panic!("no {label}: in\n{out}"))
}

/// `timestamp FILE extra... -o OUT` as the user; stdout.
fn timestamp(store: &Store, data: &Path, extra: &[&str], out: &Path) -> String {
    let mut a = vec!["timestamp", s(data), "--pin", USER_PIN, "-o", s(out)];
    a.extend_from_slice(extra);
    store.ok(&a)
}

#[test]
fn a_timestamp_from_the_command_line_verifies_with_openssl() {
    if !have_tool("openssl") {
        return;
    }
    let store = store();
    let dir = store.dir.path();
    let data = file(&store, "contract.txt");
    std::fs::write(&data, b"the contract, as signed\n").unwrap();
    let other = file(&store, "forged.txt");
    std::fs::write(&other, b"the contract, as changed\n").unwrap();
    // The root, read from the token and pinned by the relying party.
    let (chain, root) = (file(&store, "chain.pem"), file(&store, "root.pem"));
    store.ok(&["attest", "chain", "--slot", "0", "-o", s(&chain), "--root", s(&root)]);

    let mut serials = Vec::new();
    for (hash, openssl_name) in [("sha256", "sha256"), ("sha384", "sha384"), ("sha512", "sha512")] {
        let tsr = file(&store, &format!("contract-{hash}.tsr"));
        let out = timestamp(&store, &data, &["--hash", hash, "--nonce"], &tsr);
        assert!(field(&out, "imprint").starts_with(&format!("{hash} ")), "{out}");
        assert_eq!(field(&out, "policy"), POLICY);
        assert!(out.contains("wrote the timestamp response ("), "{out}");
        let serial = field(&out, "serial").to_string();
        let nonce = field(&out, "nonce").to_string();
        let time = field(&out, "time").to_string();
        assert!(time.ends_with('Z') && time.len() == 20, "{time}");

        // openssl reads the response as it is (no -token_in) and finds what the
        // command printed.
        let (ok, text) = openssl(dir, &["ts", "-reply", "-in", s(&tsr), "-text"]);
        assert!(ok, "{text}");
        assert!(text.contains("Status: Granted."), "{text}");
        assert!(text.contains(&format!("Policy OID: {POLICY}\n")), "{text}");
        assert!(text.contains(&format!("Hash Algorithm: {openssl_name}\n")), "{text}");
        assert!(text.contains(&format!("Serial number: {serial}\n")), "{text}");
        assert!(text.contains(&format!("Nonce: {nonce}\n")), "{text}");

        // It verifies against the data and the pinned root alone: the token carries
        // the timestamp and device certificates.
        let (ok, said) = openssl(dir, &["ts", "-verify", "-data", s(&data), "-in", s(&tsr), "-CAfile", s(&root)]);
        assert!(ok && said.contains("Verification: OK"), "{hash}: {said}");
        // Not against other data.
        let (ok, said) = openssl(dir, &["ts", "-verify", "-data", s(&other), "-in", s(&tsr), "-CAfile", s(&root)]);
        assert!(!ok && said.contains("message imprint mismatch"), "{hash}: {said}");
        // Not against another root.
        let (ok, said) = openssl(dir, &["ts", "-verify", "-data", s(&data), "-in", s(&tsr), "-CAfile", s(&chain)]);
        assert!(!ok, "{hash}: the partition chain is not the root: {said}");
        serials.push(u64::from_str_radix(serial.trim_start_matches("0x"), 16).unwrap());
    }
    // Each run is a new process that opens the store afresh: the serials go on.
    assert_eq!(serials, vec![serials[0], serials[0] + 1, serials[0] + 2]);

    // --token writes the bare token, which openssl reads with -token_in.
    let tst = file(&store, "contract.tst");
    let out = timestamp(&store, &data, &["--token"], &tst);
    assert!(out.contains("wrote the timestamp token ("), "{out}");
    assert!(!out.contains("nonce:"), "no nonce without --nonce: {out}");
    let (ok, said) =
        openssl(dir, &["ts", "-verify", "-data", s(&data), "-in", s(&tst), "-token_in", "-CAfile", s(&root)]);
    assert!(ok && said.contains("Verification: OK"), "{said}");
    let (ok, _) = openssl(dir, &["ts", "-verify", "-data", s(&data), "-in", s(&tst), "-CAfile", s(&root)]);
    assert!(!ok, "a bare token is not a response");
}

/// `--request` sends a request that openssl wrote, as it is: the token answers it
/// (openssl checks the nonce with `-queryfile`), with the certificates only when it
/// asked for them.
#[test]
fn a_request_from_openssl_is_sent_as_it_is() {
    if !have_tool("openssl") {
        return;
    }
    let store = store();
    let dir = store.dir.path();
    let data = file(&store, "data.txt");
    std::fs::write(&data, b"some data\n").unwrap();
    let (chain, root) = (file(&store, "chain.pem"), file(&store, "root.pem"));
    store.ok(&["attest", "chain", "--slot", "0", "-o", s(&chain), "--root", s(&root)]);
    // The timestamp certificate, for a token that does not carry it.
    let tsa = file(&store, "tsa.pem");

    for (cert, extra) in [(true, &["-cert"][..]), (false, &[][..])] {
        let tsq = file(&store, "data.tsq");
        let mut q = vec!["ts", "-query", "-data", s(&data), "-sha384", "-out", s(&tsq)];
        q.extend_from_slice(extra);
        let (ok, said) = openssl(dir, &q);
        assert!(ok, "{said}");
        let tsr = file(&store, "data.tsr");
        let out = store.ok(&["timestamp", "--request", s(&tsq), "--pin", USER_PIN, "-o", s(&tsr)]);
        assert!(field(&out, "imprint").starts_with("sha384 "), "{out}");
        assert!(field(&out, "nonce").starts_with("0x"), "openssl's nonce, echoed: {out}");
        let (ok, text) = openssl(dir, &["ts", "-query", "-in", s(&tsq), "-text"]);
        assert!(ok && text.contains(&format!("Nonce: {}\n", field(&out, "nonce"))), "{text}\n{out}");

        let mut v = vec!["ts", "-verify", "-queryfile", s(&tsq), "-in", s(&tsr), "-CAfile", s(&root)];
        if !cert {
            // No certificate in the token: the relying party brings the TSA's.
            let (ok, said) = openssl(dir, &v);
            assert!(!ok, "without certReq the token has no certificates: {said}");
            // The TSA's certificate, and the device's above it (in `attest chain`'s file).
            let ts_cert = store.helper("tsa-cert", &[("FERROHSM_TEST_OUT", s(&tsa))]);
            assert_eq!(ts_cert, ["tsa-cert"]);
            let both = [std::fs::read(&tsa).unwrap(), std::fs::read(&chain).unwrap()].concat();
            std::fs::write(&tsa, both).unwrap();
            v.extend(["-untrusted", s(&tsa)]);
        }
        let (ok, said) = openssl(dir, &v);
        assert!(ok && said.contains("Verification: OK"), "certReq {cert}: {said}");
    }

    // A request for another policy is the module's to refuse.
    let tsq = file(&store, "other.tsq");
    let (ok, said) =
        openssl(dir, &["ts", "-query", "-data", s(&data), "-sha256", "-tspolicy", "1.2.3.4", "-out", s(&tsq)]);
    assert!(ok, "{said}");
    let r = store.run(&["timestamp", "--request", s(&tsq), "--pin", USER_PIN, "-o", s(&file(&store, "x.tsr"))]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("CKR_DATA_INVALID"), "{r:?}");
}

#[test]
fn the_command_refuses_what_it_cannot_do() {
    let store = store();
    let data = file(&store, "a.txt");
    std::fs::write(&data, b"a").unwrap();
    let out = file(&store, "a.tsr");
    let r = store.run(&["timestamp", s(&data), "--hash", "md5", "--pin", USER_PIN, "-o", s(&out)]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("--hash md5: sha256, sha384 or sha512"), "{r:?}");
    let r = store.run(&["timestamp", s(&file(&store, "missing.txt")), "--pin", USER_PIN, "-o", s(&out)]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("missing.txt"), "{r:?}");
    let r = store.run(&["timestamp", s(&data), "--request", s(&data), "--pin", USER_PIN, "-o", s(&out)]);
    assert_eq!(r.code, Some(2), "FILE and --request: {r:?}");
    let r = store.run(&["timestamp", "--request", s(&data), "--hash", "sha512", "--pin", USER_PIN, "-o", s(&out)]);
    assert_eq!(r.code, Some(2), "--request and --hash: {r:?}");
    let r = store.run(&["timestamp", "--request", s(&data), "--pin", USER_PIN, "-o", s(&out)]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("not a DER TimeStampReq"), "{r:?}");
    let r = store.run(&["timestamp", s(&data), "--pin", "wrong-pin-000", "-o", s(&out)]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("CKR_PIN_INCORRECT"), "{r:?}");
    assert!(!out.exists(), "nothing written");
}
