//! `ferrohsm csr` through the real module: requests signed by token keys of every
//! type, which openssl and the verifier accept.

mod common;

use std::process::Command;

use common::*;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

/// The keys `keys` makes: (CKA_ID hex, label, what).
const KEYS: &[(&str, &str, &str)] =
    &[("01", "ec256", "P-256"), ("02", "ec384", "P-384"), ("03", "rsa2048", "RSA"), ("04", "ed", "Ed25519")];

/// Not a test on its own: the PKCS#11 side, run in a child (see `common`).
/// `keys`: initialise slot 0 and generate [`KEYS`] as the user.
#[test]
fn helper() {
    let Ok(action) = std::env::var("FERROHSM_TEST_HELPER") else {
        return;
    };
    assert_eq!(action, "keys");
    let ctx = Pkcs11::new(std::env::var("FERROHSM_MODULE").unwrap()).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    let slot = ctx.get_all_slots().unwrap()[0];
    ctx.init_token(slot, &AuthPin::from(PART_SO_PIN), "keys").unwrap();
    let s = ctx.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&AuthPin::from(PART_SO_PIN))).unwrap();
    s.init_pin(&AuthPin::from(USER_PIN)).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&AuthPin::from(USER_PIN))).unwrap();
    for (id, label, what) in KEYS {
        let common = |private: bool| {
            let mut t = vec![
                Attribute::Token(true),
                Attribute::Id(vec![u8::from_str_radix(id, 16).unwrap()]),
                Attribute::Label(label.as_bytes().to_vec()),
            ];
            if private {
                t.extend([Attribute::Sign(true), Attribute::Sensitive(true), Attribute::Extractable(false)]);
            } else {
                t.push(Attribute::Verify(true));
            }
            t
        };
        let (m, mut public) = match *what {
            "P-256" => (
                Mechanism::EccKeyPairGen,
                vec![Attribute::EcParams(vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07])],
            ),
            "P-384" => {
                (Mechanism::EccKeyPairGen, vec![Attribute::EcParams(vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22])])
            }
            "RSA" => (Mechanism::RsaPkcsKeyPairGen, vec![Attribute::ModulusBits(2048.into())]),
            _ => (Mechanism::EccEdwardsKeyPairGen, vec![Attribute::EcParams(vec![0x06, 0x03, 0x2b, 0x65, 0x70])]),
        };
        public.extend(common(false));
        s.generate_key_pair(&m, &public, &common(true)).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
    println!("REPORT keys");
}

#[test]
fn requests_signed_by_every_key_type_verify() {
    let store = Store::new();
    store.helper("keys", &[]);
    for (id, label, what) in KEYS {
        let out = store.dir.path().join(format!("{label}.pem"));
        let r = store.run(&[
            "csr",
            "--slot",
            "0",
            "--id",
            id,
            "--subject",
            "/CN=app.example/O=Example",
            "-o",
            out.to_str().unwrap(),
            "--pin",
            USER_PIN,
        ]);
        assert_eq!(r.code, Some(0), "{what}: {r:?}");
        assert!(r.stdout.contains("wrote a request for /CN=app.example/O=Example"), "{r:?}");
        let o = Command::new("openssl").args(["req", "-verify", "-noout", "-in"]).arg(&out).output().unwrap();
        assert!(o.status.success(), "{what}: openssl req -verify: {}", String::from_utf8_lossy(&o.stderr));
        let text = Command::new("openssl").args(["req", "-noout", "-subject", "-in"]).arg(&out).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&text.stdout).trim(), "subject=CN = app.example, O = Example", "{what}");
        // The verifier's own check of the request's signature.
        let req =
            ferrohsm_tools::verify::csr::parse(&std::fs::read(&out).unwrap()).unwrap_or_else(|f| panic!("{what}: {f}"));
        assert_eq!(req.subject, "/CN=app.example/O=Example");
    }
    // By label, and DER output.
    let out = store.dir.path().join("by-label.der");
    let r = store.run(&[
        "csr",
        "--slot",
        "0",
        "--label",
        "ec256",
        "--subject",
        "CN=x",
        "-o",
        out.to_str().unwrap(),
        "--pin",
        USER_PIN,
    ]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(std::fs::read(&out).unwrap()[0], 0x30);
    // No such key; a bad subject; a wrong PIN.
    let r = store.run(&[
        "csr",
        "--slot",
        "0",
        "--id",
        "99",
        "--subject",
        "CN=x",
        "-o",
        out.to_str().unwrap(),
        "--pin",
        USER_PIN,
    ]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("no key with id 99"), "{r:?}");
    let r = store.run(&[
        "csr",
        "--slot",
        "0",
        "--id",
        "01",
        "--subject",
        "nonsense",
        "-o",
        out.to_str().unwrap(),
        "--pin",
        USER_PIN,
    ]);
    assert_eq!(r.code, Some(2), "{r:?}");
    let r = store.run(&[
        "csr",
        "--slot",
        "0",
        "--id",
        "01",
        "--subject",
        "CN=x",
        "-o",
        out.to_str().unwrap(),
        "--pin",
        "wrong-pin-000",
    ]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("CKR_PIN_INCORRECT"), "{r:?}");
}
