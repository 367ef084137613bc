//! `ferrohsm audit export|verify` and `attest device|partition|verify` against the
//! built module: an export verifies; a log tampered with in the store (an entry
//! deleted, edited, moved, the end cut off) is reported at its first break by a
//! fresh export's verification; a rewrite that hides itself from a fresh export is
//! caught by an attestation saved earlier.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use sha2::{Digest, Sha256};

/// Not a test on its own: the PKCS#11 side of the tests below, in a child process
/// (see `common`). Does nothing unless `FERROHSM_TEST_HELPER` names an action:
///
/// - `activity`: slot 0 initialised (SO PIN [`PART_SO_PIN`], user PIN
///   [`USER_PIN`]), a failed user login, a login, an AES key generated and a data
///   object created, a logout.
/// - `paged`: the whole log exported by the library in pages of 4 entries, to
///   `FERROHSM_TEST_OUT`/log.jsonl and log.att; reports the number of pages.
#[test]
fn helper() {
    let Ok(action) = std::env::var("FERROHSM_TEST_HELPER") else {
        return;
    };
    let module = std::env::var("FERROHSM_MODULE").expect("FERROHSM_MODULE");
    let ctx = Pkcs11::new(module).expect("load the module");
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
    let slot = |id: u64| ctx.get_all_slots().unwrap().into_iter().find(|s| s.id() == id).expect("slot");
    match action.as_str() {
        "activity" => {
            let s0 = slot(0);
            ctx.init_token(s0, &AuthPin::from(PART_SO_PIN), "audited").expect("C_InitToken");
            let s = ctx.open_rw_session(s0).unwrap();
            s.login(UserType::So, Some(&AuthPin::from(PART_SO_PIN))).expect("SO login");
            s.init_pin(&AuthPin::from(USER_PIN)).expect("C_InitPIN");
            s.logout().unwrap();
            assert!(s.login(UserType::User, Some(&AuthPin::from("wrong-pin-000"))).is_err());
            s.login(UserType::User, Some(&AuthPin::from(USER_PIN))).expect("user login");
            s.generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(true),
                    Attribute::Label(b"k".to_vec()),
                ],
            )
            .expect("C_GenerateKey");
            s.create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Label(b"note".to_vec()),
                Attribute::Value(b"hello".to_vec()),
            ])
            .expect("C_CreateObject");
            s.logout().unwrap();
            println!("REPORT done");
        }
        "paged" => {
            let out = PathBuf::from(std::env::var("FERROHSM_TEST_OUT").expect("FERROHSM_TEST_OUT"));
            let s = ctx.open_rw_session(slot(ferrohsm_tools::vendor::ADMIN_SLOT)).unwrap();
            s.login(UserType::So, Some(&AuthPin::from(SO_PIN))).expect("device SO login");
            let key = ferrohsm_tools::audit::signing_key(&s, ferrohsm_tools::audit::ROLE_AUDIT).unwrap();
            let mut lines = String::new();
            let x = ferrohsm_tools::audit::export_paged(&s, key, b"paged", None, 4, |l| {
                lines.push_str(l);
                lines.push('\n');
                Ok(())
            })
            .expect("export");
            std::fs::write(out.join("log.jsonl"), lines).unwrap();
            std::fs::write(out.join("log.att"), &x.attestation).unwrap();
            println!("REPORT pages {}", x.pages);
        }
        other => panic!("unknown helper action {other}"),
    }
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// A store with a device, a second partition and some activity in partition 0;
/// the root pinned from it in `root.pem` beside the store.
fn busy_store() -> (Store, PathBuf) {
    let st = Store::new();
    st.init_device();
    st.create_partition("second", &[]);
    st.helper("activity", &[]);
    let root = st.dir.path().join("root.pem");
    let chain = st.dir.path().join("chain.pem");
    st.ok(&["attest", "chain", "--slot", "0", "-o", p(&chain), "--root", p(&root)]);
    (st, root)
}

/// A line of a report: the label in 20 columns, then the value.
fn row(label: &str, value: &str) -> String {
    format!("{label:<20}{value}")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// `audit export` of the whole log into `dir`: (log.jsonl, log.att).
fn export(st: &Store, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let log = dir.join(format!("{name}.jsonl"));
    let att = dir.join(format!("{name}.att"));
    let out = st.ok(&["audit", "export", "-o", p(&log), "--attestation", p(&att), "--so-pin", SO_PIN]);
    assert!(out.contains("exported ") && out.contains("wrote the log attestation"), "{out}");
    (log, att)
}

/// `audit verify log --attestation att... --root root`.
fn verify(st: &Store, log: &Path, atts: &[&Path], root: &Path) -> Run {
    let mut args = vec!["audit", "verify", p(log), "--root", p(root)];
    for a in atts {
        args.extend(["--attestation", p(a)]);
    }
    st.run(&args)
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log).unwrap().lines().map(str::to_string).collect()
}

fn seq_of(line: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(line).unwrap()["seq"].as_u64().unwrap()
}

/// A copy of `st`'s store (the module closed: no process runs on it).
fn copy_of(st: &Store) -> Store {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let new = Store::new();
    copy(&st.path(), &new.path());
    let root = st.dir.path().join("root.pem");
    std::fs::copy(root, new.dir.path().join("root.pem")).unwrap();
    new
}

/// Rewrites the raw log with the store closed (as store/tests/audit.rs does): sled
/// on `<store>/db`, tree "audit", keys the big-endian sequence numbers.
fn tamper(st: &Store, f: impl FnOnce(&sled::Tree, &sled::Tree)) {
    let db = sled::open(st.path().join("db")).unwrap();
    f(&db.open_tree("audit").unwrap(), &db.open_tree("audit_heads").unwrap());
    db.flush().unwrap();
}

/// The stored lines, by sequence number.
fn stored(log: &sled::Tree) -> Vec<(u64, String)> {
    log.iter()
        .map(|kv| {
            let (k, v) = kv.unwrap();
            (u64::from_be_bytes(k.as_ref().try_into().unwrap()), String::from_utf8(v.to_vec()).unwrap())
        })
        .collect()
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Runs `audit export` on a tampered store and `audit verify` on what it wrote: it
/// must fail, and say `want` (each of them).
fn fresh_export_reports(st: &Store, want: &[&str]) -> String {
    let (log, att) = export(st, st.dir.path(), "fresh");
    let r = verify(st, &log, &[&att], &st.dir.path().join("root.pem"));
    assert_eq!(r.code, Some(1), "a tampered log must fail:\n{r:?}");
    assert!(r.stderr.contains("NOT verified: log: entry "), "{r:?}");
    for w in want {
        assert!(r.stderr.contains(w), "{w:?} not in:\n{r:?}");
    }
    r.stderr
}

#[test]
fn an_export_verifies_and_device_and_partition_attestations_are_summarised() {
    let (st, root) = busy_store();
    let dir = st.dir.path();
    let (log, att) = export(&st, dir, "log");
    let r = verify(&st, &log, &[&att], &root);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("verified: the entries chain"), "{r:?}");
    let all = lines(&log);
    assert_eq!(seq_of(&all[0]), 1);
    for (i, l) in all.iter().enumerate() {
        assert_eq!(seq_of(l), i as u64 + 1, "consecutive entries");
    }
    let n = all.len();
    assert!(r.stdout.contains(&row("entries:", &format!("{n} (sequence numbers 1 to {n})"))), "{r:?}");
    // What the helper did is in the export, and no PIN is.
    assert!(
        all.iter().any(|l| l.contains(r#""role":"user","event":"login","object":null,"result":"CKR_PIN_INCORRECT""#))
    );
    assert!(all.iter().any(|l| l.contains(r#""event":"key_generate""#)));
    for pin in [SO_PIN, PART_SO_PIN, USER_PIN, "wrong-pin-000"] {
        assert!(!std::fs::read_to_string(&log).unwrap().contains(pin));
        assert!(!String::from_utf8_lossy(&std::fs::read(&att).unwrap()).contains(pin));
    }
    // Another device's root is not this one.
    let other = Store::new();
    other.init_device();
    let other_root = other.dir.path().join("other-root.pem");
    other.ok(&["attest", "chain", "--slot", "0", "-o", p(&other.dir.path().join("c.pem")), "--root", p(&other_root)]);
    let r = verify(&st, &log, &[&att], &other_root);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("NOT verified: chain:"), "{r:?}");
    // The nonce, when the verifier has one.
    let r = st.run(&["audit", "verify", p(&log), "--attestation", p(&att), "--root", p(&root), "--nonce", "00"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("nonce:"), "{r:?}");

    // A partition's SO exports its partition's entries only.
    let plog = dir.join("p0.jsonl");
    let patt = dir.join("p0.att");
    let args = ["audit", "export", "--slot", "0", "-o", p(&plog), "--attestation", p(&patt), "--so-pin", PART_SO_PIN];
    let out = st.ok(&args);
    assert!(out.contains("entries of partition 0 (up to entry"), "{out}");
    let r = verify(&st, &plog, &[&patt], &root);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("partition 0's entries"), "{r:?}");
    let part = lines(&plog);
    assert!(!part.is_empty() && part.len() < all.len() + 2);
    for l in &part {
        assert!(l.contains(r#","partition":0,"#), "only partition 0: {l}");
    }

    // Device and partition attestations, summarised by `attest verify`.
    let dev = dir.join("device.der");
    st.ok(&["attest", "device", "--nonce", "c0ffee", "-o", p(&dev), "--so-pin", SO_PIN]);
    let out = st.ok(&["attest", "verify", p(&dev), "--root", p(&root), "--nonce", "c0ffee"]);
    for want in [
        row("attestation:", "device attestation (CMS)"),
        row("nonce:", "c0ffee (as expected)"),
        row("partition:", "slot 0 \"audited\""),
        row("partition:", "slot 1 \"second\""),
        row("partition:", "slot 65535 \"device\""),
        row("  user PIN:", "set, not locked, 0 failed attempt(s)"),
        row("signed by:", "\"ferrohsm audit "),
        "verified: the attestation chains to the pinned root".into(),
    ] {
        assert!(out.contains(&want), "{want:?} not in:\n{out}");
    }
    let part_att = dir.join("partition.pem");
    st.ok(&["attest", "partition", "--slot", "0", "-o", p(&part_att), "--so-pin", PART_SO_PIN]);
    let out = st.ok(&["attest", "verify", p(&part_att), "--root", p(&root)]);
    for want in [
        row("attestation:", "partition attestation (CMS)"),
        row("partition:", "slot 0 \"audited\""),
        row("user PIN:", "set, not locked, 0 failed attempt(s), last login "),
        row("", "- SECRET_KEY AES \"k\""),
        row("signed by:", "\"ferrohsm partition 0 attestation\""),
    ] {
        assert!(out.contains(&want), "{want:?} not in:\n{out}");
    }
    // The wrong nonce, and a key attestation option, are refused.
    let r = st.run(&["attest", "verify", p(&dev), "--root", p(&root), "--nonce", "00"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("NOT verified: nonce:"), "{r:?}");
    let r = st.run(&["attest", "verify", p(&dev), "--root", p(&root), "--allow-imported"]);
    assert_eq!(r.code, Some(2), "{r:?}");
}

#[test]
fn an_export_in_many_pages_verifies() {
    let (st, root) = busy_store();
    let dir = st.dir.path();
    let report = st.helper("paged", &[("FERROHSM_TEST_OUT", p(dir))]);
    let pages: u64 = report[0].strip_prefix("pages ").unwrap().parse().unwrap();
    let all = lines(&dir.join("log.jsonl"));
    assert!(pages >= 3 && pages as usize >= all.len() / 4, "{pages} pages for {} entries", all.len());
    let r = verify(&st, &dir.join("log.jsonl"), &[&dir.join("log.att")], &root);
    assert_eq!(r.code, Some(0), "{r:?}");
}

/// Each change to the stored log, made with the module closed, is reported by the
/// verification of a fresh export, at the entry where it shows.
#[test]
fn tampering_with_the_stored_log_is_reported() {
    let (st, _) = busy_store();
    let (log, _) = export(&st, st.dir.path(), "before");
    let n = lines(&log).len() as u64;

    // Deleted: the entry of the failed login.
    let t = copy_of(&st);
    let mut gone = 0;
    tamper(&t, |log, _| {
        gone = stored(log).into_iter().find(|(_, l)| l.contains("CKR_PIN_INCORRECT")).unwrap().0;
        log.remove(key(gone)).unwrap();
    });
    fresh_export_reports(&t, &[&format!("log: entry {gone}: missing (the next line is entry {})", gone + 1)]);

    // Edited: the failed login turned into a success.
    let t = copy_of(&st);
    let mut edited = 0;
    tamper(&t, |log, _| {
        let (seq, line) = stored(log).into_iter().find(|(_, l)| l.contains("CKR_PIN_INCORRECT")).unwrap();
        edited = seq;
        log.insert(key(seq), line.replace("CKR_PIN_INCORRECT", "CKR_OK").as_bytes()).unwrap();
    });
    fresh_export_reports(&t, &[&format!("log: entry {}: does not link to entry {edited}", edited + 1), "was changed"]);

    // Reordered: two entries swapped.
    let t = copy_of(&st);
    let k = n / 2;
    tamper(&t, |log, _| {
        let a = log.get(key(k)).unwrap().unwrap();
        let b = log.get(key(k + 1)).unwrap().unwrap();
        log.insert(key(k), b).unwrap();
        log.insert(key(k + 1), a).unwrap();
    });
    fresh_export_reports(&t, &[&format!("log: entry {k}: out of order: entry {} is in its place", k + 1)]);

    // Truncated: the last entries removed (the stored head left as it was).
    let t = copy_of(&st);
    let mut last = 0;
    tamper(&t, |log, _| {
        let all = stored(log);
        last = all.last().unwrap().0;
        for (seq, _) in &all[all.len() - 5..] {
            log.remove(key(*seq)).unwrap();
        }
    });
    fresh_export_reports(
        &t,
        &[&format!(
            "log: entry {}: missing, and so are the entries up to {last} (the next line is entry {})",
            last - 4,
            last + 1
        )],
    );
}

/// Someone who rewrites the stored heads with the log can cut its end off so that a
/// fresh export is consistent: an attestation saved before shows the truncation.
/// And an exported file cut short fails against its own attestation.
#[test]
fn an_attestation_saved_earlier_shows_a_truncation() {
    let (st, root) = busy_store();
    let (old_log, old_att) = export(&st, st.dir.path(), "before");
    let attested = lines(&old_log).len() as u64;

    // The export file cut short.
    let short = st.dir.path().join("short.jsonl");
    let mut kept = lines(&old_log);
    kept.truncate(kept.len() - 3);
    std::fs::write(&short, kept.join("\n") + "\n").unwrap();
    let r = verify(&st, &short, &[&old_att], &root);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "log: entry {}: missing: the log is truncated, it ends at entry {} but the attestation made at",
            attested - 2,
            attested - 3
        )),
        "{r:?}"
    );

    // The store's log and heads rolled back by ten entries past the attested head.
    let t = copy_of(&st);
    tamper(&t, |log, heads| {
        let all = stored(log);
        let keep = attested as usize - 10;
        for (seq, _) in &all[keep..] {
            log.remove(key(*seq)).unwrap();
        }
        let head = |seq: u64, line: &str| [seq.to_le_bytes().as_slice(), &sha256(line.as_bytes())].concat();
        let (seq, line) = &all[keep - 1];
        heads.clear().unwrap();
        heads.insert("all", head(*seq, line)).unwrap();
        let mut partitions = std::collections::BTreeMap::new();
        for (seq, line) in &all[..keep] {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            partitions.insert(v["partition"].as_u64().unwrap() as u32, head(*seq, line));
        }
        for (p, h) in partitions {
            heads.insert(p.to_be_bytes(), h).unwrap();
        }
    });
    let (log, att) = export(&t, t.dir.path(), "after");
    let t_root = t.dir.path().join("root.pem");
    let r = verify(&t, &log, &[&att], &t_root);
    assert_eq!(r.code, Some(0), "the rewrite is consistent on its own (docs/audit.md says so):\n{r:?}");
    assert!((lines(&log).len() as u64) < attested, "the rewritten log is shorter than what was attested before");
    let r = verify(&t, &log, &[&att, &old_att], &t_root);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("missing: the log is truncated, it ends at entry"), "{r:?}");
    assert!(r.stderr.contains(&format!("covers it up to entry {attested}")), "{r:?}");
}
