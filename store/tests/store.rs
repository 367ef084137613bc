//! The store on its own: records survive reopening, PINs lock, secrets never reach
//! the files in the clear.

mod common;

use std::path::Path;

use std::sync::Arc;

use common::{FAST, TestCipher, open};
use ferrohsm_store::{ADMIN_PARTITION, Error, NewAttr, PartitionKind, Role, Seal, Store, StoredValue};

fn grep(dir: &Path, needle: &[u8]) -> bool {
    walk(dir).iter().any(|f| std::fs::read(f).unwrap().windows(needle.len()).any(|w| w == needle))
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn fresh_store_has_one_user_partition_and_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let parts = store.partitions().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!((parts[0].id, parts[0].kind, parts[0].initialized), (0, PartitionKind::User, false));
    assert_eq!((parts[1].id, parts[1].kind), (ADMIN_PARTITION, PartitionKind::Admin));
    let serial = store.device().unwrap().serial;
    drop(store);
    assert_eq!(open(dir.path()).device().unwrap().serial, serial, "device serial is stable");
}

#[test]
fn a_second_open_reports_the_store_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    match Store::open(dir.path(), Arc::new(TestCipher), FAST) {
        Err(e @ Error::InUse { .. }) => assert!(e.to_string().contains("ferrohsm serve")),
        other => panic!("expected InUse, got {other:?}"),
    }
}

#[test]
fn partition_ids_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = store.create_partition(b"a", vec![]).unwrap();
    store.delete_partition(a.id).unwrap();
    let b = store.create_partition(b"b", vec![]).unwrap();
    assert_eq!((a.id, b.id), (1, 2));
    let ids: Vec<u32> = store.partitions().unwrap().iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![0, 2, ADMIN_PARTITION]);
}

#[test]
fn pins_unlock_the_master_key_count_failures_and_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (_, master) = store.init_token(0, b"so-pin", b"t", &[]).unwrap();
    store.set_pin(0, Role::User, b"user-pin", &master).unwrap();
    store
        .put_object(0, 1, &[NewAttr { ty: 0x11, value: b"secret-value-123", seal: Seal::Partition }], Some(&master))
        .unwrap();

    let m2 = store.login(0, Role::User, b"user-pin", 3).unwrap();
    let rec = store.objects(0).next().unwrap().unwrap().1;
    let sealed = &rec.attrs[0].1;
    assert!(matches!(sealed, StoredValue::Sealed(_)));
    assert_eq!(store.unseal(0, 1, 0x11, sealed, Some(&m2)).unwrap().as_slice(), b"secret-value-123");
    assert!(matches!(store.unseal(0, 1, 0x11, sealed, None), Err(Error::Locked)));
    // Bound to object and type: the same bytes under another id fail.
    assert!(store.unseal(0, 2, 0x11, sealed, Some(&m2)).is_err());
    assert!(store.unseal(0, 1, 0x12, sealed, Some(&m2)).is_err());

    assert!(matches!(store.login(0, Role::User, b"wrong", 3), Err(Error::PinIncorrect { failures: 1, locked: false })));
    drop(store);
    // The counter persists across a reopen.
    let store = open(dir.path());
    assert!(matches!(store.login(0, Role::User, b"wrong", 3), Err(Error::PinIncorrect { failures: 2, locked: false })));
    assert!(matches!(store.login(0, Role::User, b"wrong", 3), Err(Error::PinIncorrect { failures: 3, locked: true })));
    assert!(matches!(store.login(0, Role::User, b"user-pin", 3), Err(Error::PinLocked)));
    // The SO resets the user PIN and unlocks it.
    let so_master = store.login(0, Role::So, b"so-pin", 3).unwrap();
    store.set_pin(0, Role::User, b"new-pin", &so_master).unwrap();
    store.login(0, Role::User, b"new-pin", 3).unwrap();
}

#[test]
fn reinitialising_wipes_only_that_partition() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let other = store.create_partition(b"other", vec![]).unwrap();
    let (_, m0) = store.init_token(0, b"so", b"zero", &[]).unwrap();
    let (_, m1) = store.init_token(other.id, b"so", b"one", &[]).unwrap();
    store.put_object(0, 10, &[NewAttr { ty: 3, value: b"label", seal: Seal::None }], Some(&m0)).unwrap();
    store.put_object(other.id, 11, &[NewAttr { ty: 3, value: b"label", seal: Seal::None }], Some(&m1)).unwrap();
    store.put_object(0, 12, &[NewAttr { ty: 3, value: b"kept", seal: Seal::Device }], None).unwrap();
    store.init_token(0, b"so2", b"zero", &[12]).unwrap();
    // Only the object asked to be kept stays.
    let left: Vec<u64> = store.objects(0).map(|r| r.unwrap().0).collect();
    assert_eq!(left, vec![12]);
    assert_eq!(store.count_objects(other.id), 1);
    assert!(store.partition(0).unwrap().user.is_none());
}

#[test]
fn no_secret_byte_reaches_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let secret = b"\x8f\x13TOP-SECRET-KEY-MATERIAL\x01\x02\x03\x04";
    let pin = b"PIN-THAT-MUST-NOT-LEAK";
    {
        let store = open(dir.path());
        let (_, m) = store.init_token(0, pin, b"t", &[]).unwrap();
        store.set_pin(0, Role::User, pin, &m).unwrap();
        store
            .put_object(
                0,
                5,
                &[
                    NewAttr { ty: 3, value: b"public-label", seal: Seal::None },
                    NewAttr { ty: 0x11, value: secret, seal: Seal::Partition },
                    NewAttr { ty: 0x12, value: b"DEVICE-SEALED-SECRET", seal: Seal::Device },
                ],
                Some(&m),
            )
            .unwrap();
    }
    assert!(grep(dir.path(), b"public-label"), "the grep itself works");
    assert!(!grep(dir.path(), secret));
    assert!(!grep(dir.path(), pin));
    assert!(!grep(dir.path(), b"DEVICE-SEALED-SECRET"));
}

#[test]
fn device_sealed_values_open_without_a_pin_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store
            .put_object(0, 9, &[NewAttr { ty: 0x11, value: b"public key material", seal: Seal::Device }], None)
            .unwrap();
    }
    let store = open(dir.path());
    let (oid, rec) = store.objects(0).next().unwrap().unwrap();
    assert!(matches!(rec.attrs[0].1, StoredValue::DeviceSealed(_)));
    assert_eq!(store.unseal(0, oid, 0x11, &rec.attrs[0].1, None).unwrap().as_slice(), b"public key material");
}

#[test]
fn the_device_key_file_must_be_private_and_present() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let key = dir.path().join("device.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    match Store::open(dir.path(), Arc::new(TestCipher), FAST) {
        Err(e @ Error::KeyFile(_)) => assert!(e.to_string().contains("chmod 600"), "{e}"),
        other => panic!("expected KeyFile, got {other:?}"),
    }
    std::fs::remove_file(&key).unwrap();
    assert!(matches!(Store::open(dir.path(), Arc::new(TestCipher), FAST), Err(Error::KeyFile(_))));
}

#[test]
fn sealing_without_the_master_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let r = store.put_object(0, 1, &[NewAttr { ty: 0x11, value: b"k", seal: Seal::Partition }], None);
    assert!(matches!(r, Err(Error::Locked)));
    assert_eq!(store.count_objects(0), 0);
}

#[test]
fn several_objects_are_written_and_deleted_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let objs: Vec<(u64, Vec<NewAttr<'_>>)> =
        (1..=3).map(|i| (i, vec![NewAttr { ty: 3, value: b"x", seal: Seal::None }])).collect();
    store.put_objects(0, &objs, None).unwrap();
    assert_eq!(store.count_objects(0), 3);
    // A batch that cannot be sealed writes nothing.
    let bad = vec![
        (7, vec![NewAttr { ty: 3, value: b"y", seal: Seal::None }]),
        (8, vec![NewAttr { ty: 0x11, value: b"k", seal: Seal::Partition }]),
    ];
    assert!(matches!(store.put_objects(0, &bad, None), Err(Error::Locked)));
    assert_eq!(store.count_objects(0), 3);
    store.delete_objects(0, &[1, 3]).unwrap();
    let left: Vec<u64> = store.objects(0).map(|r| r.unwrap().0).collect();
    assert_eq!(left, vec![2]);
}

#[test]
fn timestamp_serials_increase_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let first: Vec<u64> = (0..3).map(|_| store.next_timestamp_serial().unwrap()).collect();
    assert_eq!(first, vec![1, 2, 3]);
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.next_timestamp_serial().unwrap(), 4, "the counter was on disk");
}
