//! The `ferrohsm` command line, run as a program against fresh stores.

mod common;

use common::*;

/// Not a test on its own: the PKCS#11 side of other tests ([`helper_main`]).
#[test]
fn helper() {
    helper_main();
}

/// `C_GetSlotList` through the module, as (slot id, description).
fn slot_list(store: &Store) -> Vec<(u64, String)> {
    store
        .helper("slots", &[])
        .iter()
        .map(|l| {
            let rest = l.strip_prefix("slot ").unwrap();
            let (id, desc) = rest.split_once(' ').unwrap();
            let desc = desc.split(" | ").next().unwrap().to_owned();
            (id.parse().unwrap(), desc)
        })
        .collect()
}

fn ids(slots: &[(u64, Vec<String>)]) -> Vec<u64> {
    slots.iter().map(|s| s.0).collect()
}

#[test]
fn status_on_a_fresh_store_shows_two_slots_admin_last() {
    let store = Store::new();
    let out = store.ok(&["status"]);
    let first = out.lines().next().unwrap();
    assert_eq!(first, format!("store:   {}", store.path().display()));
    assert!(out.contains(&format!("module:  {}", module_path().canonicalize().unwrap().display())), "{out}");
    assert!(out.contains("library: ferrohsm software HSM"), "{out}");
    let slots = status_slots(&out);
    assert_eq!(ids(&slots), vec![0, 65535], "{out}");
    for (id, lines) in &slots {
        assert!(lines[0].starts_with("token:        uninitialised"), "slot {id}: {lines:?}");
    }
    assert!(out.contains("slot 65535: ferrohsm admin token"), "{out}");
}

#[test]
fn device_init_then_partition_create_adds_a_slot() {
    let store = Store::new();
    store.init_device();
    let out = store.ok(&["status"]);
    let slots = status_slots(&out);
    let admin = &slots.last().unwrap().1;
    assert!(
        admin.contains(&"token:        \"device\" (serial ".to_owned())
            || admin[0].starts_with("token:        \"device\""),
        "{admin:?}"
    );
    assert!(admin.contains(&"initialised:  yes".to_owned()), "{admin:?}");
    // The admin token holds one partition object per partition, and the device's
    // attestation keys: root, device and audit, each a public key, a private key
    // and a certificate (role objects are public so anyone can read the chain).
    assert!(admin.contains(&"objects:      11 public".to_owned()), "{admin:?}");

    let slot = store.create_partition("payments", &["--min-pin-len", "6"]);
    assert_eq!(slot, 1);

    let out = store.ok(&["status"]);
    let slots = status_slots(&out);
    assert_eq!(ids(&slots), vec![0, 1, 65535], "{out}");
    assert!(slots[1].1[0].starts_with("token:        uninitialised"), "{out}");

    // The module itself lists it (C_GetSlotList, C_GetSlotInfo).
    let listed = slot_list(&store);
    assert_eq!(
        listed,
        vec![
            (0, "ferrohsm partition 0".to_owned()),
            (1, "ferrohsm partition 1".to_owned()),
            (65535, "ferrohsm admin token".to_owned()),
        ]
    );

    let rows = list_rows(&store.ok(&["partition", "list"]));
    let row = rows.iter().find(|r| r.slot == 1).expect("slot 1 listed");
    assert_eq!(row.label, "payments");
    assert_eq!(row.min_pin, "6");
}

#[test]
fn partition_set_changes_the_policy() {
    let store = Store::new();
    store.init_device();
    let slot = store.create_partition("p", &[]).to_string();
    let before = list_rows(&store.ok(&["partition", "list"]));
    let before = before.iter().find(|r| r.slot.to_string() == slot).unwrap();
    assert_eq!(before.read_only, "no");

    let out = store.ok(&[
        "partition",
        "set",
        &slot,
        "--label",
        "renamed",
        "--read-only",
        "true",
        "--max-pin-failures",
        "3",
        "--min-pin-len",
        "8",
        "--key-invalidation",
        "yes",
        "--allow-export",
        "no",
        "--so-pin",
        SO_PIN,
    ]);
    assert!(out.contains("changed"), "{out}");

    let rows = list_rows(&store.ok(&["partition", "list"]));
    let row = rows.iter().find(|r| r.slot.to_string() == slot).unwrap();
    assert_eq!(
        *row,
        Row {
            slot: slot.parse().unwrap(),
            label: "renamed".into(),
            min_pin: "8".into(),
            max_failures: "3".into(),
            read_only: "yes".into(),
            allow_export: "no".into(),
            key_invalidation: "yes".into(),
        }
    );
    // Other partitions are untouched.
    let zero = rows.iter().find(|r| r.slot == 0).unwrap();
    assert_eq!(zero.read_only, "no");

    // A value the module rejects is an error naming the CK_RV, and changes nothing.
    let r = store.run(&["partition", "set", &slot, "--min-pin-len", "0", "--so-pin", SO_PIN]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("CKR_ATTRIBUTE_VALUE_INVALID"), "{r:?}");
    let rows = list_rows(&store.ok(&["partition", "list"]));
    assert_eq!(rows.iter().find(|r| r.slot.to_string() == slot).unwrap().min_pin, "8");
}

#[test]
fn partition_delete_removes_the_slot() {
    let store = Store::new();
    store.init_device();
    let a = store.create_partition("a", &[]);
    let b = store.create_partition("b", &[]);
    assert_eq!((a, b), (1, 2));

    // Not on a terminal, --yes is required; nothing is removed without it.
    let r = store.run(&["partition", "delete", "1", "--so-pin", SO_PIN]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("--yes"), "{r:?}");
    assert_eq!(ids(&status_slots(&store.ok(&["status"]))), vec![0, 1, 2, 65535]);

    let out = store.ok(&["partition", "delete", "1", "--yes", "--so-pin", SO_PIN]);
    assert!(out.contains("deleted partition 1 \"a\""), "{out}");
    assert_eq!(ids(&status_slots(&store.ok(&["status"]))), vec![0, 2, 65535]);
    let listed: Vec<u64> = slot_list(&store).into_iter().map(|s| s.0).collect();
    assert_eq!(listed, vec![0, 2, 65535]);
    let rows = list_rows(&store.ok(&["partition", "list"]));
    assert_eq!(rows.iter().map(|r| r.slot).collect::<Vec<_>>(), vec![0, 2, 65535]);

    // Gone is gone; the admin token cannot be removed.
    let r = store.run(&["partition", "delete", "1", "--yes", "--so-pin", SO_PIN]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("no partition in slot 1"), "{r:?}");
    let r = store.run(&["partition", "delete", "65535", "--yes", "--so-pin", SO_PIN]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("cannot be removed"), "{r:?}");
}

#[test]
fn wrong_so_pin_exits_1_with_a_clear_message() {
    let store = Store::new();
    store.init_device();
    let r = store.run(&["partition", "create", "--label", "x", "--so-pin", "wrong-pin-000"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    let line = r.stderr.trim_end();
    assert!(!line.contains('\n'), "one line: {r:?}");
    assert!(line.starts_with("ferrohsm: logging in as device SO"), "{r:?}");
    assert!(line.contains("wrong PIN (CKR_PIN_INCORRECT)"), "{r:?}");
    // The failure is on record, and the token's flags say so.
    assert!(line.contains("the SO PIN has failed logins on record"), "{r:?}");
    // Nothing was created.
    assert_eq!(ids(&status_slots(&store.ok(&["status"]))), vec![0, 65535]);
}

#[test]
fn usage_errors_exit_2() {
    let store = Store::new();
    store.init_device();
    // No PIN from flag, environment or terminal.
    let r = store.run(&["partition", "create", "--label", "x"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("--so-pin") && r.stderr.contains("FERROHSM_SO_PIN"), "{r:?}");
    // Nothing to change.
    let r = store.run(&["partition", "set", "0", "--so-pin", SO_PIN]);
    assert_eq!(r.code, Some(2), "{r:?}");
    // --pin needs --slot; a bad boolean; an unknown command; a label too long.
    for args in [
        &["status", "--pin", "1234"][..],
        &["partition", "set", "0", "--read-only", "maybe"],
        &["frobnicate"],
        &["partition", "create", "--label", &"x".repeat(33), "--so-pin", SO_PIN],
    ] {
        let r = store.run(args);
        assert_eq!(r.code, Some(2), "{r:?}");
    }
}

#[test]
fn pins_come_from_the_environment() {
    let store = Store::new();
    let r = store.run_with(&["device", "init", "--label", "env"], &[("FERROHSM_SO_PIN", SO_PIN)]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let r = store.run_with(&["partition", "create", "--label", "from-env"], &[("FERROHSM_SO_PIN", SO_PIN)]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(created_slot(&r.stdout), 1);
    // The flag wins over the environment.
    let r = store.run_with(
        &["partition", "create", "--label", "y", "--so-pin", "wrong-pin-000"],
        &[("FERROHSM_SO_PIN", SO_PIN)],
    );
    assert_eq!(r.code, Some(1), "{r:?}");
}

#[test]
fn admin_commands_need_an_initialised_device() {
    let store = Store::new();
    // Listing needs no login: partition objects are public, even before init.
    let out = store.ok(&["partition", "list"]);
    assert!(out.lines().any(|l| l.starts_with("0 ")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("65535 ")), "{out}");
    let r = store.run(&["partition", "create", "--label", "x", "--so-pin", SO_PIN]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("ferrohsm device init"), "{r:?}");
    store.init_device();
    // Initialising again needs --force.
    let r = store.run(&["device", "init", "--label", "again", "--so-pin", SO_PIN]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("--force"), "{r:?}");
}

#[test]
fn status_counts_private_objects_after_user_login() {
    let store = Store::new();
    store.helper("seed", &[("FERROHSM_TEST_SLOT", "0")]);

    let out = store.ok(&["status"]);
    let slots = status_slots(&out);
    let zero = &slots[0].1;
    assert!(zero.contains(&"user PIN:     set".to_owned()), "{out}");
    assert!(zero.contains(&"PIN flags:    none".to_owned()), "{out}");
    assert!(zero.contains(&"read-only:    no".to_owned()), "{out}");
    assert!(zero.contains(&"sessions:     0 (0 read/write)".to_owned()), "{out}");
    // Public: the data object, the partition's own policy object, and its
    // attestation and timestamp keys (public key, private key, certificate each).
    assert!(zero.contains(&"objects:      8 public".to_owned()), "{out}");

    let out = store.ok(&["status", "--slot", "0", "--pin", USER_PIN]);
    let zero = &status_slots(&out)[0].1;
    assert!(zero.contains(&"objects:      8 public, 1 private".to_owned()), "{out}");

    // A wrong user PIN: exit 1, the rest of the status still shown, and the token
    // then reports the failed login.
    let r = store.run_with(&["status", "--slot", "0"], &[("FERROHSM_PIN", "wrong-pin-000")]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("logging in as user on slot 0"), "{r:?}");
    assert!(r.stderr.contains("CKR_PIN_INCORRECT"), "{r:?}");
    assert_eq!(ids(&status_slots(&r.stdout)), vec![0, 65535], "{r:?}");
    let out = store.ok(&["status"]);
    assert!(status_slots(&out)[0].1.contains(&"PIN flags:    user PIN count low".to_owned()), "{out}");

    // A slot that does not exist.
    let r = store.run(&["status", "--slot", "9", "--pin", USER_PIN]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("no slot 9"), "{r:?}");
}

#[test]
fn read_only_policy_shows_in_status() {
    let store = Store::new();
    store.helper("seed", &[("FERROHSM_TEST_SLOT", "0")]);
    store.init_device();
    store.ok(&["partition", "set", "0", "--read-only", "on", "--so-pin", SO_PIN]);
    let out = store.ok(&["status"]);
    let slots = status_slots(&out);
    assert!(slots[0].1.contains(&"read-only:    yes".to_owned()), "{out}");
    assert!(slots[1].1.contains(&"read-only:    no".to_owned()), "{out}");
}

#[test]
fn module_flag_and_environment() {
    let store = Store::new();
    // A module named in the environment must exist: no silent fallback.
    let r = store.run_with(&["status"], &[("FERROHSM_MODULE", "/nonexistent/libx.so")]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("/nonexistent/libx.so"), "{r:?}");
    assert!(r.stderr.contains("FERROHSM_MODULE"), "{r:?}");
    // --module wins over the environment.
    let module = module_path();
    let r = store
        .run_with(&["--module", module.to_str().unwrap(), "status"], &[("FERROHSM_MODULE", "/nonexistent/libx.so")]);
    assert_eq!(r.code, Some(0), "{r:?}");
    // A file that is not a PKCS#11 module.
    let bogus = store.dir.path().join("bogus.so");
    std::fs::write(&bogus, b"not a library").unwrap();
    let r = store.run(&["--module", bogus.to_str().unwrap(), "status"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("cannot load module"), "{r:?}");
}

#[test]
fn serve_exports_every_token_through_p11_kit() {
    if !have("p11-kit's client module", p11_kit_client().is_some()) {
        return;
    }
    let client = p11_kit_client().unwrap();
    let store = Store::new();
    store.init_device();
    store.helper("seed", &[("FERROHSM_TEST_SLOT", "0")]);
    let slot = store.create_partition("second", &[]);
    store.helper("seed", &[("FERROHSM_TEST_SLOT", &slot.to_string())]);

    let serve = Serve::start(&store, &[]);
    let meta = std::fs::metadata(&serve.socket).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "only the owner may connect");

    // A client through p11-kit sees every ferrohsm token, admin token last, with
    // ferrohsm's own slot ids (no proxy renumbers them).
    let address = serve.address();
    let seen = store.helper("slots", &[("FERROHSM_MODULE", client), ("P11_KIT_SERVER_ADDRESS", &address)]);
    assert_eq!(
        seen,
        vec![
            "slot 0 ferrohsm partition 0 | seeded | true".to_owned(),
            format!("slot {slot} ferrohsm partition {slot} | seeded | true"),
            "slot 65535 ferrohsm admin token | device | true".to_owned(),
        ],
        "{seen:?}"
    );

    // A second server on the same socket is refused while the first runs.
    let second = store.run(&["serve", "--socket", serve.socket.to_str().unwrap()]);
    assert_eq!(second.code, Some(1), "{second:?}");
    assert!(second.stderr.contains("a server already listens"), "{second:?}");

    // SIGTERM stops it, and it removes its socket.
    let socket = serve.socket.clone();
    let out = serve.stop();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(&format!("export P11_KIT_SERVER_ADDRESS={address}")), "{out:?}");
    assert!(out.stdout.contains(client), "{out:?}");
    assert!(out.stdout.contains("stopped; socket removed, store closed"), "{out:?}");
    assert!(!socket.exists(), "serve removes its socket on SIGTERM");
    // The store is closed: the tool opens it again.
    store.ok(&["status"]);
}

/// p11-kit's own server stopped listing tokens at the first uninitialised one; ours
/// exports every slot, and `--module` is accepted (serve serves its built-in module).
#[test]
fn serve_exports_the_tokens_after_an_uninitialised_one() {
    if !have("p11-kit's client module", p11_kit_client().is_some()) {
        return;
    }
    let client = p11_kit_client().unwrap();
    let store = Store::new();
    // A stale socket left by a server that did not stop is replaced.
    let socket = store.dir.path().join("p11.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let serve = Serve::start(&store, &[]);
    let seen = store.helper("slots", &[("FERROHSM_MODULE", client), ("P11_KIT_SERVER_ADDRESS", &serve.address())]);
    let ids: Vec<&str> = seen.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(ids, ["0", "65535"], "{seen:?}");
    let out = serve.stop();
    assert!(!out.stdout.contains("warning"), "{out:?}");

    let explicit = module_path();
    let serve = Serve::start(&store, &["--module", explicit.to_str().unwrap()]);
    let out = serve.stop();
    assert!(out.stdout.contains("serve does not load"), "{out:?}");
}
