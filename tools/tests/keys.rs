//! `ferrohsm keys trash|restore|purge`: the partition SO's side of key invalidation,
//! with keys made and destroyed by stock pkcs11-tool as the user.

mod common;

use common::*;

/// `pkcs11-tool --module M args...` on the store; stdout, after checking success.
fn p11(store: &Store, args: &[&str]) -> String {
    let module = module_path();
    let mut c = store.command(std::path::Path::new("pkcs11-tool"));
    c.arg("--module").arg(&module).args(args);
    let out = c.output().expect("run pkcs11-tool");
    assert!(out.status.success(), "pkcs11-tool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn private_keys(store: &Store, slot: &str) -> String {
    p11(store, &["--slot", slot, "--login", "--pin", USER_PIN, "--list-objects", "--type", "privkey"])
}

#[test]
fn the_so_lists_restores_and_purges_invalidated_keys() {
    if !have_tool("pkcs11-tool") {
        return;
    }
    let store = Store::new();
    store.init_device();
    let slot = store.create_partition("trashy", &["--key-invalidation", "true"]).to_string();
    p11(&store, &["--slot", &slot, "--init-token", "--label", "trashy", "--so-pin", PART_SO_PIN]);
    p11(
        &store,
        &["--slot", &slot, "--login", "--login-type", "so", "--so-pin", PART_SO_PIN, "--init-pin", "--pin", USER_PIN],
    );
    for label in ["k1", "k2"] {
        p11(
            &store,
            &[
                "--slot",
                &slot,
                "--login",
                "--pin",
                USER_PIN,
                "--keypairgen",
                "--key-type",
                "EC:prime256v1",
                "--label",
                label,
            ],
        );
        p11(
            &store,
            &["--slot", &slot, "--login", "--pin", USER_PIN, "--delete-object", "--type", "privkey", "--label", label],
        );
    }
    assert!(!private_keys(&store, &slot).contains("label:      k1"), "the user no longer sees an invalidated key");

    let list = store.ok(&["keys", "trash", "--slot", &slot, "--so-pin", PART_SO_PIN]);
    assert!(list.contains("2 invalidated key(s)"), "{list}");
    let uid_of = |label: &str| {
        list.lines()
            .find(|l| l.ends_with(&format!(" {label}")))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("{label} in {list}"))
            .to_string()
    };
    let (k1, k2) = (uid_of("k1"), uid_of("k2"));
    assert!(list.contains("CKO_PRIVATE_KEY") || list.contains("private"), "{list}");

    let out = store.ok(&["keys", "restore", "--slot", &slot, &k1, "--so-pin", PART_SO_PIN]);
    assert!(out.contains("restored"), "{out}");
    assert!(private_keys(&store, &slot).contains("label:      k1"), "k1 is back for the user");

    let out = store.ok(&["keys", "purge", "--slot", &slot, &k2, "--so-pin", PART_SO_PIN]);
    assert!(out.contains("purged"), "{out}");
    let list = store.ok(&["keys", "trash", "--slot", &slot, "--so-pin", PART_SO_PIN]);
    assert!(list.contains("no invalidated keys"), "{list}");

    // A unique id that is not in the trash is a usage error, and nothing changes.
    let r = store.run(&["keys", "purge", "--slot", &slot, &k1, "--so-pin", PART_SO_PIN]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("no invalidated key with unique id"), "{r:?}");
    assert!(private_keys(&store, &slot).contains("label:      k1"));
}
