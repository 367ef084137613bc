//! The `ferrohsm` command line, run as a program against fresh stores.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

/// Not a test on its own: the PKCS#11 side of other tests, run in a child process
/// (see `common`). Does nothing unless `FERROHSM_TEST_HELPER` names an action:
///
/// - `slots`: one `REPORT slot ID DESCRIPTION | LABEL | initialised` per slot.
/// - `seed`: on slot `FERROHSM_TEST_SLOT`, initialise the token (SO PIN
///   [`PART_SO_PIN`], label "seeded"), set the user PIN [`USER_PIN`], and create one
///   public and one private data object.
#[test]
fn helper() {
    let Ok(action) = std::env::var("FERROHSM_TEST_HELPER") else {
        return;
    };
    let module = std::env::var("FERROHSM_MODULE").expect("FERROHSM_MODULE");
    let ctx = Pkcs11::new(module).expect("load the module");
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
    match action.as_str() {
        "slots" => {
            for slot in ctx.get_all_slots().expect("C_GetSlotList") {
                let si = ctx.get_slot_info(slot).expect("C_GetSlotInfo");
                let ti = ctx.get_token_info(slot).expect("C_GetTokenInfo");
                println!(
                    "REPORT slot {} {} | {} | {}",
                    slot.id(),
                    si.slot_description(),
                    ti.label(),
                    ti.token_initialized()
                );
            }
        }
        "seed" => {
            let id: u64 = std::env::var("FERROHSM_TEST_SLOT").expect("FERROHSM_TEST_SLOT").parse().unwrap();
            let slot = ctx.get_all_slots().unwrap().into_iter().find(|s| s.id() == id).expect("slot");
            ctx.init_token(slot, &AuthPin::from(PART_SO_PIN), "seeded").expect("C_InitToken");
            let s = ctx.open_rw_session(slot).unwrap();
            s.login(UserType::So, Some(&AuthPin::from(PART_SO_PIN))).expect("SO login");
            s.init_pin(&AuthPin::from(USER_PIN)).expect("C_InitPIN");
            s.logout().unwrap();
            s.login(UserType::User, Some(&AuthPin::from(USER_PIN))).expect("user login");
            for (label, private) in [("public-data", false), ("private-data", true)] {
                s.create_object(&[
                    Attribute::Class(cryptoki::object::ObjectClass::DATA),
                    Attribute::Token(true),
                    Attribute::Private(private),
                    Attribute::Label(label.as_bytes().to_vec()),
                    Attribute::Value(b"hello".to_vec()),
                ])
                .expect("C_CreateObject");
            }
            println!("REPORT seeded {id}");
        }
        other => panic!("unknown helper action {other}"),
    }
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
    let Some(client) = p11_kit_client() else { return };
    if !have_tool("p11-kit") {
        return;
    }
    let store = Store::new();
    store.init_device();
    store.helper("seed", &[("FERROHSM_TEST_SLOT", "0")]);
    let slot = store.create_partition("second", &[]);
    store.helper("seed", &[("FERROHSM_TEST_SLOT", &slot.to_string())]);

    let socket = store.dir.path().join("p11.sock");
    let mut serve = store
        .command(Path::new(env!("CARGO_BIN_EXE_ferrohsm")))
        .args(["serve", "--socket", socket.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferrohsm serve");
    let start = Instant::now();
    while !socket.exists() {
        if start.elapsed() > Duration::from_secs(20) || serve.try_wait().unwrap().is_some() {
            let _ = serve.kill();
            let out = serve.wait_with_output().unwrap();
            panic!(
                "no socket from ferrohsm serve:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // A client through p11-kit sees every ferrohsm token, admin token last.
    let address = format!("unix:path={}", socket.display());
    let seen = store.helper("slots", &[("FERROHSM_MODULE", client), ("P11_KIT_SERVER_ADDRESS", &address)]);
    // p11-kit renumbers slots from 0; the descriptions and labels are ferrohsm's.
    let described: Vec<String> =
        seen.iter().map(|l| l.split_once(' ').unwrap().1.split_once(' ').unwrap().1.to_owned()).collect();
    assert_eq!(
        described,
        vec![
            "ferrohsm partition 0 | seeded | true".to_owned(),
            "ferrohsm partition 1 | seeded | true".to_owned(),
            "ferrohsm admin token | device | true".to_owned(),
        ],
        "{seen:?}"
    );

    // SIGTERM stops it (the tool exec'd p11-kit, so the signal reaches it directly).
    let pid = serve.id().to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let out = serve.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("export P11_KIT_SERVER_ADDRESS={address}")), "{stdout}");
    assert!(stdout.contains(client), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");
    assert!(!socket.exists(), "p11-kit removes its socket on SIGTERM");
}

#[test]
fn serve_warns_when_an_uninitialised_token_hides_later_ones() {
    if !have_tool("p11-kit") {
        return;
    }
    let store = Store::new();
    let socket = store.dir.path().join("p11.sock");
    let mut serve = store
        .command(Path::new(env!("CARGO_BIN_EXE_ferrohsm")))
        .args(["serve", "--socket", socket.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start ferrohsm serve");
    let start = Instant::now();
    while !socket.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::process::Command::new("kill").args(["-TERM", &serve.id().to_string()]).status();
    let _ = serve.try_wait();
    let out = serve.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("warning: slot 0 is not initialised") && stdout.contains("slot(s) 65535"), "{stdout}");
}
