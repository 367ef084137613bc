//! The audit log in the store: entries chain, survive a restart, and any change made
//! to them behind the store's back breaks the chain where it was made.

mod common;

use std::path::Path;

use ferrohsm_store::audit::{self, Break, Entry, Event, Head, Value, ZERO, check_chain, check_partition_chain};
use sha2::{Digest, Sha256};

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn ev(partition: u32, event: &'static str) -> Event<'static> {
    Event { partition, role: "user", event, object: None, result: "CKR_OK", extra: &[] }
}

fn lines(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.line.as_str()).collect()
}

fn all(store: &ferrohsm_store::Store) -> Vec<Entry> {
    store.audit_entries(1, u64::MAX, None).unwrap().into_iter().map(Result::unwrap).collect()
}

/// Logs `n` events alternating between partitions 0 and 1 (one per call), and
/// closes the store.
fn logged(dir: &Path, n: u64) {
    let store = common::open(dir);
    for i in 0..n {
        store.audit(&[ev((i % 2) as u32, "login")]).unwrap();
    }
}

/// Rewrites the raw log tree with the store closed.
fn tamper(dir: &Path, f: impl FnOnce(&sled::Tree)) {
    let db = sled::open(dir.join("db")).unwrap();
    f(&db.open_tree("audit").unwrap());
    db.flush().unwrap();
}

fn check(dir: &Path) -> Result<Head, Break> {
    let store = common::open(dir);
    let entries = all(&store);
    check_chain(&lines(&entries), 1, ZERO, Some(store.audit_head(None).unwrap()), sha256)
}

#[test]
fn entries_chain_over_the_log_and_within_each_partition() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    assert_eq!(store.audit_head(None).unwrap(), Head { seq: 0, hash: ZERO }, "a fresh store has an empty log");
    let extra = [("mechanism", Value::Str("CKM_ECDSA")), ("count", Value::Int(41))];
    let first = store.audit(&[ev(0, "login"), Event { object: Some("k1"), extra: &extra, ..ev(1, "key_usage") }]);
    let first = first.unwrap();
    let second = store.audit(&[ev(0, "logout")]).unwrap();
    assert_eq!(first.iter().chain(&second).map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    for e in first.iter().chain(&second) {
        assert_eq!(e.hash, sha256(e.line.as_bytes()), "an entry's hash is SHA-256 of its line");
    }
    assert!(first[1].line.contains(r#""object":"k1","result":"CKR_OK","mechanism":"CKM_ECDSA","count":41,"#));

    let entries = all(&store);
    assert_eq!(entries, [first.clone(), second.clone()].concat(), "what is read is what was written");
    let head = store.audit_head(None).unwrap();
    assert_eq!(head, Head { seq: 3, hash: second[0].hash });
    assert_eq!(check_chain(&lines(&entries), 1, ZERO, Some(head), sha256), Ok(head));
    // A later piece of the log checks from the hash before it.
    assert_eq!(check_chain(&lines(&entries[1..]), 2, entries[0].hash, Some(head), sha256), Ok(head));

    // Partition 0's entries (1 and 3) chain by pprev, with its own head.
    let p0: Vec<Entry> = store.audit_entries(1, 100, Some(0)).unwrap().into_iter().map(Result::unwrap).collect();
    assert_eq!(p0.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 3]);
    let h0 = store.audit_head(Some(0)).unwrap();
    assert_eq!(h0, Head { seq: 3, hash: entries[2].hash });
    assert_eq!(check_partition_chain(&lines(&p0), Some(h0), sha256), Ok(h0));
    assert_eq!(store.audit_head(Some(1)).unwrap(), Head { seq: 2, hash: entries[1].hash });
    assert_eq!(store.audit_head(Some(7)).unwrap(), Head { seq: 0, hash: ZERO }, "no entries, empty head");
    // Partition 0's chain does not pass as the whole log.
    assert_eq!(check_chain(&lines(&p0), 1, ZERO, None, sha256), Err(Break::Sequence { expected: 2, found: 3 }));
}

#[test]
fn the_log_survives_a_restart_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    logged(dir.path(), 3);
    let store = common::open(dir.path());
    let after = store.audit(&[ev(1, "login")]).unwrap();
    assert_eq!(after[0].seq, 4);
    let entries = all(&store);
    assert_eq!(entries.len(), 4);
    let head = store.audit_head(None).unwrap();
    assert_eq!(check_chain(&lines(&entries), 1, ZERO, Some(head), sha256).map(|h| h.seq), Ok(4));
}

#[test]
fn reads_are_bounded_and_ranged() {
    let dir = tempfile::tempdir().unwrap();
    logged(dir.path(), 5);
    let store = common::open(dir.path());
    let some = store.audit_entries(2, 4, None).unwrap();
    assert_eq!(some.into_iter().map(|e| e.unwrap().seq).collect::<Vec<_>>(), [2, 3, 4]);
    assert!(store.audit_entries(6, u64::MAX, None).unwrap().is_empty());
    assert!(store.audit_entries(4, 2, None).unwrap().is_empty(), "an empty range");
}

/// The entry before a sequence number, in the whole log and in one partition: what
/// a range of either starts from.
#[test]
fn the_entry_before_a_range_is_found_per_scope() {
    let dir = tempfile::tempdir().unwrap();
    logged(dir.path(), 6);
    let store = common::open(dir.path());
    let entries = all(&store);
    assert_eq!(store.audit_entry_before(1, None).unwrap(), None, "nothing comes before entry 1");
    assert_eq!(store.audit_entry_before(4, None).unwrap().as_ref(), Some(&entries[2]));
    assert_eq!(store.audit_entry_before(u64::MAX, None).unwrap().as_ref(), entries.last());
    // Partition 1 has entries 2, 4 and 6; partition 0 has 1, 3 and 5.
    assert_eq!(store.audit_entry_before(4, Some(1)).unwrap().as_ref(), Some(&entries[1]));
    assert_eq!(store.audit_entry_before(5, Some(1)).unwrap().as_ref(), Some(&entries[3]));
    assert_eq!(store.audit_entry_before(2, Some(1)).unwrap(), None);
    assert_eq!(store.audit_entry_before(2, Some(0)).unwrap().as_ref(), Some(&entries[0]));
    assert_eq!(store.audit_entry_before(9, Some(7)).unwrap(), None, "a partition with no entries");
    // Its hash is the link of the scope's next entry.
    let (_, _, pprev) = audit::links(&entries[5].line).unwrap();
    assert_eq!(store.audit_entry_before(6, Some(1)).unwrap().unwrap().hash, pprev);
}

#[test]
fn an_edited_entry_breaks_the_link_after_it() {
    let dir = tempfile::tempdir().unwrap();
    logged(dir.path(), 4);
    tamper(dir.path(), |t| {
        let v = t.get(2u64.to_be_bytes()).unwrap().unwrap();
        let edited = String::from_utf8(v.to_vec()).unwrap().replace("\"login\"", "\"logout\"");
        t.insert(2u64.to_be_bytes(), edited.as_bytes()).unwrap();
    });
    assert_eq!(check(dir.path()), Err(Break::Link { seq: 3 }));
}

#[test]
fn an_edited_last_entry_no_longer_matches_the_head() {
    let dir = tempfile::tempdir().unwrap();
    logged(dir.path(), 4);
    tamper(dir.path(), |t| {
        let v = t.get(4u64.to_be_bytes()).unwrap().unwrap();
        let edited = String::from_utf8(v.to_vec()).unwrap().replace("CKR_OK", "CKR_PIN_INCORRECT");
        t.insert(4u64.to_be_bytes(), edited.as_bytes()).unwrap();
    });
    assert_eq!(check(dir.path()), Err(Break::Head { head: 4, last: 4 }));
}

#[test]
fn a_deleted_entry_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    logged(dir.path(), 4);
    tamper(dir.path(), |t| {
        t.remove(2u64.to_be_bytes()).unwrap();
    });
    assert_eq!(check(dir.path()), Err(Break::Sequence { expected: 2, found: 3 }));
}

#[test]
fn a_truncated_log_falls_short_of_its_head() {
    let dir = tempfile::tempdir().unwrap();
    logged(dir.path(), 4);
    tamper(dir.path(), |t| {
        t.remove(4u64.to_be_bytes()).unwrap();
        t.remove(3u64.to_be_bytes()).unwrap();
    });
    assert_eq!(check(dir.path()), Err(Break::Head { head: 4, last: 2 }));
}

#[test]
fn swapped_entries_are_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    logged(dir.path(), 4);
    tamper(dir.path(), |t| {
        let two = t.get(2u64.to_be_bytes()).unwrap().unwrap();
        let three = t.get(3u64.to_be_bytes()).unwrap().unwrap();
        t.insert(2u64.to_be_bytes(), three).unwrap();
        t.insert(3u64.to_be_bytes(), two).unwrap();
    });
    assert_eq!(check(dir.path()), Err(Break::Sequence { expected: 2, found: 3 }));
}

#[test]
fn a_renumbered_forgery_still_breaks_the_links() {
    // Delete entry 2 and renumber 3 and 4 down: the sequence is whole again, but
    // entry 3 (now 2) names the hash of the deleted entry.
    let dir = tempfile::tempdir().unwrap();
    logged(dir.path(), 4);
    tamper(dir.path(), |t| {
        for seq in 3u64..=4 {
            let v = t.get(seq.to_be_bytes()).unwrap().unwrap();
            let line = String::from_utf8(v.to_vec()).unwrap();
            let renumbered = line.replacen(&format!("{{\"seq\":{seq},"), &format!("{{\"seq\":{},", seq - 1), 1);
            t.insert((seq - 1).to_be_bytes(), renumbered.as_bytes()).unwrap();
        }
        t.remove(4u64.to_be_bytes()).unwrap();
    });
    assert_eq!(check(dir.path()), Err(Break::Link { seq: 2 }));
}

#[test]
fn garbage_in_the_log_is_reported_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    logged(dir.path(), 3);
    tamper(dir.path(), |t| {
        t.insert(2u64.to_be_bytes(), &[0xff, 0xfe, 0x00][..]).unwrap();
    });
    let store = common::open(dir.path());
    let read = store.audit_entries(1, 10, None).unwrap();
    assert!(read[0].is_ok() && read[1].is_err() && read[2].is_ok(), "the bad entry is an error in its place");
    assert_eq!(check_chain(&["{not an entry}"], 1, ZERO, None, sha256), Err(Break::Malformed { index: 0 }));
}

#[test]
fn the_lines_check_with_sha256_alone() {
    // What docs/audit.md tells an auditor: the SHA-256 of a line, in hex, is the
    // next line's "prev".
    let dir = tempfile::tempdir().unwrap();
    logged(dir.path(), 2);
    let store = common::open(dir.path());
    let entries = all(&store);
    let digest = audit::hex(&Sha256::digest(entries[0].line.as_bytes()));
    assert!(entries[1].line.contains(&format!("\"prev\":\"{digest}\"")));
}

#[test]
fn object_changes_and_their_entries_are_written_together() {
    use ferrohsm_store::{Error, NewAttr, Seal};
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let id = store.new_object_id().unwrap();
    let attrs = vec![NewAttr { ty: 3, value: b"label", seal: Seal::None }];
    let made = store
        .put_objects_logged(0, &[(id, attrs)], None, &[Event { object: Some("u1"), ..ev(0, "object_create") }])
        .unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!(store.count_objects(0), 1);
    assert_eq!(store.audit_head(Some(0)).unwrap(), Head { seq: 1, hash: made[0].hash });

    // Sealing fails before anything is written: no object, no entry.
    let other = store.new_object_id().unwrap();
    let secret = vec![NewAttr { ty: 0x11, value: b"k", seal: Seal::Partition }];
    let refused = store.put_objects_logged(0, &[(other, secret)], None, &[ev(0, "object_create")]);
    assert!(matches!(refused, Err(Error::Locked)));
    assert_eq!(store.count_objects(0), 1);
    assert_eq!(store.audit_head(None).unwrap().seq, 1);

    let gone = store.delete_objects_logged(0, &[id], &[Event { object: Some("u1"), ..ev(0, "object_destroy") }]);
    assert_eq!(gone.unwrap()[0].seq, 2);
    assert_eq!(store.count_objects(0), 0);
    drop(store);
    assert_eq!(check(dir.path()).map(|h| h.seq), Ok(2));
}
