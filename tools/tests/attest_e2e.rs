//! Attestation end to end: the real module makes the chain, the attestations, the
//! requests and the device's CSR; the `ferrohsm` binary reads and verifies them;
//! openssl checks what a relying party with stock tools would check, and plays the
//! outside CA that certifies the device key.
//!
//! Needs openssl (installed by ci/deps.sh): without it these tests skip, except
//! under CI=true, where they fail (see `common::have_tool`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

/// P-256's OID, DER, as `CKA_EC_PARAMS`.
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The device certificate's extensions, as docs/attestation.md tells an outside CA.
const DEVICE_EXT: &str = "basicConstraints = critical, CA:TRUE, pathlen:1
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
extendedKeyUsage = 2.25.36854759746227648345030761591017072291.3, emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// An outside CA's intermediate.
const INTERMEDIATE_EXT: &str = "basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// Not a test on its own: the PKCS#11 side, run in a child (see `common`).
///
/// `keys`: on slot `FERROHSM_TEST_SLOT` (default 0), initialise the token (label
/// "payments"), set the user PIN, generate EC P-256 key pairs "mykey" (id 01) and
/// "other" (id 03), and import an EC P-256 private key "imported" (id 02) with
/// `C_CreateObject`.
#[test]
fn helper() {
    let Ok(action) = std::env::var("FERROHSM_TEST_HELPER") else {
        return;
    };
    assert_eq!(action, "keys");
    let id: u64 = std::env::var("FERROHSM_TEST_SLOT").map(|s| s.parse().unwrap()).unwrap_or(0);
    let ctx = Pkcs11::new(std::env::var("FERROHSM_MODULE").unwrap()).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    let slot = ctx.get_all_slots().unwrap().into_iter().find(|s| s.id() == id).expect("slot");
    ctx.init_token(slot, &AuthPin::from(PART_SO_PIN), "payments").unwrap();
    let s = ctx.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&AuthPin::from(PART_SO_PIN))).unwrap();
    s.init_pin(&AuthPin::from(USER_PIN)).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&AuthPin::from(USER_PIN))).unwrap();
    for (id, label) in [(1u8, "mykey"), (3, "other")] {
        let named = |mut t: Vec<Attribute>| {
            t.extend([Attribute::Token(true), Attribute::Id(vec![id]), Attribute::Label(label.into())]);
            t
        };
        s.generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &named(vec![Attribute::EcParams(P256.to_vec()), Attribute::Verify(true)]),
            &named(vec![Attribute::Sign(true), Attribute::Sensitive(true), Attribute::Extractable(false)]),
        )
        .expect("C_GenerateKeyPair");
    }
    s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(P256.to_vec()),
        Attribute::Value(vec![0x42; 32]),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Id(vec![2]),
        Attribute::Label(b"imported".to_vec()),
    ])
    .expect("C_CreateObject of a private key");
    println!("REPORT keys {id}");
}

/// A store with the device initialised and slot 0 holding the helper's keys.
fn store_with_keys() -> Store {
    let store = Store::new();
    store.init_device();
    store.helper("keys", &[]);
    store
}

/// A file in the store's temporary directory.
fn file(store: &Store, name: &str) -> PathBuf {
    store.dir.path().join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `openssl WORDS... EXTRA...` in `dir` (`words` split at spaces; `extra` as
/// they are, for values with spaces) and expects success; returns stdout + stderr.
fn openssl(dir: &Path, words: &str, extra: &[&str]) -> String {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(words.split_whitespace())
        .args(extra)
        .output()
        .expect("run openssl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "openssl {words} {extra:?}: {text}");
    text
}

/// `attest verify ARGS...`; the run, for its exit code and output.
fn verify(store: &Store, args: &[&str]) -> Run {
    let mut a = vec!["attest", "verify"];
    a.extend_from_slice(args);
    store.run(&a)
}

/// Expects `attest verify` to exit 0 with the summary.
fn verified(store: &Store, args: &[&str]) -> String {
    let r = verify(store, args);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.ends_with("verified: the attestation chains to the pinned root and the key meets the policy\n"),
        "{r:?}"
    );
    r.stdout
}

/// Expects `attest verify` to exit `code`, naming `check` on standard error.
fn refused(store: &Store, args: &[&str], code: i32, check: &str) -> Run {
    let r = verify(store, args);
    assert_eq!(r.code, Some(code), "{r:?}");
    assert!(r.stderr.starts_with(&format!("ferrohsm: NOT verified: {check}: ")), "{r:?}");
    r
}

/// `attest key --slot SLOT --label LABEL extra... -o OUT` as the user.
fn attest_key(store: &Store, slot: &str, label: &str, extra: &[&str], out: &Path) -> String {
    let mut a = vec!["attest", "key", "--slot", slot, "--label", label, "--pin", USER_PIN, "-o", s(out)];
    a.extend_from_slice(extra);
    store.ok(&a)
}

/// `attest chain --slot SLOT`: writes `chain-NAME.pem` and `root-NAME.pem`.
fn read_chain(store: &Store, slot: &str, name: &str) -> (PathBuf, PathBuf) {
    let (chain, root) = (file(store, &format!("chain-{name}.pem")), file(store, &format!("root-{name}.pem")));
    store.ok(&["attest", "chain", "--slot", slot, "-o", s(&chain), "--root", s(&root)]);
    (chain, root)
}

#[test]
fn the_chain_and_fresh_attestations_verify() {
    if !have_tool("openssl") {
        return;
    }
    let store = store_with_keys();
    let dir = store.dir.path();
    let (chain, root) = read_chain(&store, "0", "device");
    let text = std::fs::read_to_string(&chain).unwrap();
    assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 2, "{text}");
    // The root is the device's own: self-signed, named after the device.
    let subject = openssl(dir, "x509 -noout -subject -issuer -in root-device.pem", &[]);
    let lines: Vec<&str> = subject.lines().collect();
    assert!(lines[0].starts_with("subject=O = ferrohsm, CN = ferrohsm root "), "{subject}");
    assert_eq!(lines[0]["subject=".len()..], lines[1]["issuer=".len()..], "self-signed: {subject}");

    // A certificate with no nonce: the token puts an empty one in.
    let att = file(&store, "att.der");
    let out = attest_key(&store, "0", "mykey", &[], &att);
    assert!(out.starts_with("wrote the key attestation certificate of the CKO_PRIVATE_KEY with label \"mykey\""));
    let summary = verified(&store, &[s(&att), "--root", s(&root), "--chain", s(&chain)]);
    for want in [
        "attestation:        key attestation certificate\n",
        "nonce:              empty (a fresh attestation without a nonce)\n",
        "protection:         software",
        "partition:          slot 0 \"payments\"",
        "key:                private EC P-256, 256 bits\n",
        "label:              \"mykey\"\n",
        "id:                 01\n",
        "origin:             generated\n",
        "security:           local yes, sensitive yes, always sensitive yes, extractable no, never extractable yes",
        "(pinned root)\n",
        "policy:             met (generated, local, sensitive, never extractable)\n",
    ] {
        assert!(summary.contains(want), "{want:?} not in\n{summary}");
    }
    // openssl checks the same path, with no help from ferrohsm.
    openssl(dir, "x509 -inform DER -in att.der -out att.pem", &[]);
    let ok = openssl(dir, "verify -CAfile root-device.pem -untrusted chain-device.pem att.pem", &[]);
    assert_eq!(ok.trim(), "att.pem: OK");

    // With a nonce, PEM out.
    let att_n = file(&store, "att-nonce.pem");
    attest_key(&store, "0", "mykey", &["--nonce", "00112233"], &att_n);
    assert!(std::fs::read_to_string(&att_n).unwrap().starts_with("-----BEGIN CERTIFICATE-----\n"));
    let summary = verified(&store, &[s(&att_n), "--root", s(&root), "--chain", s(&chain), "--nonce", "00112233"]);
    assert!(summary.contains("nonce:              00112233 (as expected)\n"), "{summary}");
    // Another nonce: exit 1, the claims still shown.
    let r = refused(&store, &[s(&att_n), "--root", s(&root), "--chain", s(&chain), "--nonce", "0011"], 1, "nonce");
    assert!(r.stderr.contains("the attestation's nonce is 00112233, not the expected 0011"), "{r:?}");
    assert!(r.stdout.contains("label:              \"mykey\""), "{r:?}");
    // The empty nonce is not the nonce asked for.
    refused(&store, &[s(&att), "--root", s(&root), "--chain", s(&chain), "--nonce", "00112233"], 1, "nonce");

    // Evidence, with and without a nonce: it carries its own chain.
    let ev = file(&store, "ev.der");
    let out = attest_key(&store, "0", "mykey", &["--evidence", "--nonce", "abcdef"], &ev);
    assert!(out.starts_with("wrote the key evidence (CMS) of the CKO_PRIVATE_KEY"), "{out}");
    let summary = verified(&store, &[s(&ev), "--root", s(&root), "--nonce", "abcdef"]);
    assert!(summary.starts_with("attestation:        signed key evidence (CMS)\n"), "{summary}");
    assert!(summary.contains("nonce:              abcdef (as expected)\n"), "{summary}");
    refused(&store, &[s(&ev), "--root", s(&root), "--nonce", "abcd"], 1, "nonce");
    let ev_pem = file(&store, "ev.pem");
    attest_key(&store, "0", "mykey", &["--evidence"], &ev_pem);
    assert!(std::fs::read_to_string(&ev_pem).unwrap().starts_with("-----BEGIN CMS-----\n"));
    verified(&store, &[s(&ev_pem), "--root", s(&root)]);
    let cms = openssl(dir, "cms -verify -inform DER -in ev.der -CAfile root-device.pem", &[]);
    assert!(cms.contains("CMS Verification successful") && cms.contains("\"mykey\""), "{cms}");

    // A root the device does not chain to: exit 1, for either form.
    let keygen = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -days 30";
    openssl(dir, keygen, &["-keyout", "stranger.key", "-out", "stranger.pem", "-subj", "/CN=stranger root"]);
    let stranger = file(&store, "stranger.pem");
    let r = refused(&store, &[s(&att), "--root", s(&stranger), "--chain", s(&chain)], 1, "chain");
    assert!(r.stderr.contains("neither the pinned root (\"stranger root\")"), "{r:?}");
    refused(&store, &[s(&ev), "--root", s(&stranger)], 1, "chain");
    // Without the chain, a certificate does not reach the root.
    refused(&store, &[s(&att), "--root", s(&root)], 1, "chain");
}

#[test]
fn an_imported_key_fails_the_default_policy() {
    let store = store_with_keys();
    let (chain, root) = read_chain(&store, "0", "device");
    for (name, extra) in [("imported.der", &[][..]), ("imported.p7", &["--evidence"][..])] {
        let att = file(&store, name);
        attest_key(&store, "0", "imported", extra, &att);
        let base = [s(&att), "--root", s(&root), "--chain", s(&chain)];
        // Sound, but the key was not made here: exit 3, the summary says why.
        let r = refused(&store, &base, 3, "policy");
        for want in [
            "origin:             imported\n",
            "security:           local no, sensitive yes, always sensitive no, extractable no, never extractable no",
            "policy:             NOT met (generated, local, sensitive, never extractable)\n",
            "- key.origin is imported, the policy requires generated (--allow-imported accepts other origins)\n",
            "- key.security.local is false, the policy requires true (--allow-imported)\n",
            "- key.security.never_extractable is false, the policy requires true (--allow-extractable)\n",
        ] {
            assert!(r.stdout.contains(want), "{name}: {want:?} not in\n{r:?}");
        }
        // An imported key was once outside the token, so it is never "never
        // extractable": accepting it takes both relaxations.
        let mut a = base.to_vec();
        a.push("--allow-imported");
        let r = refused(&store, &a, 3, "policy");
        assert!(r.stdout.contains("policy:             NOT met (sensitive, never extractable)\n"), "{r:?}");
        a.push("--allow-extractable");
        let summary = verified(&store, &a);
        assert!(summary.contains("policy:             met (sensitive)\n"), "{summary}");
    }
}

#[test]
fn an_attested_request_verifies_with_openssl_and_the_verifier() {
    if !have_tool("openssl") {
        return;
    }
    let store = store_with_keys();
    let dir = store.dir.path();
    let (_, root) = read_chain(&store, "0", "device");
    let req = file(&store, "req.pem");
    let csr = |key: &str, out: &Path, extra: &[&str]| {
        let mut a = vec!["csr", "--slot", "0", "--label", key, "--subject", "/CN=app.example/O=Example", "--attest"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["-o", s(out), "--pin", USER_PIN]);
        let out = store.ok(&a);
        assert!(out.contains("with its attestation and chain (id-aa-attestation)"), "{out}");
    };
    csr("mykey", &req, &[]);
    let ok = openssl(dir, "req -verify -noout -in req.pem", &[]);
    assert!(ok.contains("verify OK"), "{ok}");
    // openssl shows the attribute by its number.
    let text = openssl(dir, "req -noout -text -in req.pem", &[]);
    assert!(text.contains("1.2.840.113549.1.9.16.2.59"), "{text}");
    let summary = verified(&store, &["--csr", s(&req), "--root", s(&root)]);
    assert!(
        summary.starts_with(
            "attestation:        key attestation certificate, from the request's id-aa-attestation attribute\n"
        ),
        "{summary}"
    );
    assert!(summary.contains("request:            /CN=app.example/O=Example: its key is the attested key\n"));

    // Evidence with the CA's nonce, DER.
    let req2 = file(&store, "req2.der");
    csr("mykey", &req2, &["--evidence", "--nonce", "c0ffee"]);
    openssl(dir, "req -verify -noout -inform DER -in req2.der", &[]);
    let summary = verified(&store, &["--csr", s(&req2), "--root", s(&root), "--nonce", "c0ffee"]);
    assert!(summary.starts_with("attestation:        signed key evidence (CMS), from the request"), "{summary}");
    refused(&store, &["--csr", s(&req2), "--root", s(&root), "--nonce", "c0ffef"], 1, "nonce");

    // Another key's attestation beside this request: not about the request's key.
    let other = file(&store, "other.der");
    attest_key(&store, "0", "other", &[], &other);
    let (chain, _) = read_chain(&store, "0", "again");
    let r = refused(&store, &[s(&other), "--csr", s(&req), "--root", s(&root), "--chain", s(&chain)], 1, "key match");
    assert!(r.stderr.contains("the attestation is about another key"), "{r:?}");
}

#[test]
fn the_device_key_certified_by_an_outside_ca() {
    if !have_tool("openssl") {
        return;
    }
    let store = store_with_keys();
    let dir = store.dir.path();
    let (_, device_root) = read_chain(&store, "0", "device");

    // The device's request, made inside the module, for the device key.
    let r = store.run(&["device", "csr", "-o", "dev-req.pem", "--so-pin", "wrong-pin-000"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("CKR_PIN_INCORRECT"), "{r:?}");
    let req = file(&store, "dev-req.pem");
    let out = store.ok(&["device", "csr", "-o", s(&req), "--so-pin", SO_PIN]);
    assert!(out.starts_with("wrote the device key's request for /O=ferrohsm/CN=ferrohsm device "), "{out}");
    assert!(openssl(dir, "req -verify -noout -in dev-req.pem", &[]).contains("verify OK"));
    // Its key is the one the device certificate (the last of the chain) certifies.
    let old_chain = std::fs::read_to_string(file(&store, "chain-device.pem")).unwrap();
    std::fs::write(file(&store, "old-device.pem"), &old_chain[old_chain.rfind("-----BEGIN").unwrap()..]).unwrap();
    assert_eq!(
        openssl(dir, "req -noout -pubkey -in dev-req.pem", &[]),
        openssl(dir, "x509 -noout -pubkey -in old-device.pem", &[])
    );

    // The outside CA: a root and an issuing CA, with openssl.
    std::fs::write(file(&store, "device.ext"), DEVICE_EXT).unwrap();
    std::fs::write(file(&store, "intermediate.ext"), INTERMEDIATE_EXT).unwrap();
    openssl(
        dir,
        "req -x509 -newkey rsa:2048 -nodes -keyout ca-root.key -days 3650 -out ca-root.pem \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        &["-subj", "/O=Example CA/CN=Example Root CA"],
    );
    let request = "req -new -newkey ec -nodes -pkeyopt ec_paramgen_curve:P-256";
    openssl(
        dir,
        request,
        &["-keyout", "ca-int.key", "-out", "ca-int.csr", "-subj", "/O=Example CA/CN=Example Issuing CA"],
    );
    let issue = |req: &str, ca: &str, ext: &str, out: &str| {
        let words = format!("x509 -req -in {req} -CA {ca}.pem -CAkey {ca}.key -set_serial 0x1234 -days 3650");
        openssl(dir, &words, &["-extfile", ext, "-out", out]);
    };
    issue("ca-int.csr", "ca-root", "intermediate.ext", "ca-int.pem");
    issue("dev-req.pem", "ca-int", "device.ext", "dev.pem");
    let ca_chain = file(&store, "ca-chain.pem");
    let bundle =
        [std::fs::read(file(&store, "ca-int.pem")).unwrap(), std::fs::read(file(&store, "ca-root.pem")).unwrap()];
    std::fs::write(&ca_chain, bundle.concat()).unwrap();
    let dev = file(&store, "dev.pem");

    // A certificate with the right extensions for some other key is refused before
    // anything is installed.
    openssl(dir, request, &["-keyout", "impostor.key", "-out", "impostor.csr", "-subj", "/O=ferrohsm/CN=impostor"]);
    issue("impostor.csr", "ca-int", "device.ext", "impostor.pem");
    let impostor = file(&store, "impostor.pem");
    let r = store.run(&["device", "import-cert", s(&impostor), "--chain", s(&ca_chain), "--so-pin", SO_PIN]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(
        r.stderr.trim_end(),
        "ferrohsm: the certificate is not fit for the device key: key match: \"impostor\" certifies another \
         key, not this device's key",
        "{r:?}"
    );
    // A chain that stops short of a root is refused too.
    let ca_int = file(&store, "ca-int.pem");
    let r = store.run(&["device", "import-cert", s(&dev), "--chain", s(&ca_int), "--so-pin", SO_PIN]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("give the CA's whole chain with --chain"), "{r:?}");
    // Nothing changed: the chain still ends at the device's own root.
    let (_, root) = read_chain(&store, "0", "unchanged");
    assert_eq!(std::fs::read(&root).unwrap(), std::fs::read(&device_root).unwrap());

    let out = store.ok(&["device", "import-cert", s(&dev), "--chain", s(&ca_chain), "--so-pin", SO_PIN]);
    assert_eq!(
        out.lines().collect::<Vec<_>>()[1..],
        [
            "installed: \"Example Issuing CA\"",
            "installed: \"Example Root CA\"",
            "attestations now chain to \"Example Root CA\": relying parties pin that root"
        ]
    );

    // The token's chain now goes through the outside CA, up to its root.
    let (chain, root) = read_chain(&store, "0", "outside");
    assert_eq!(std::fs::read(&root).unwrap(), std::fs::read(file(&store, "ca-root.pem")).unwrap());
    let text = std::fs::read_to_string(&chain).unwrap();
    assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 3, "{text}");

    // A fresh attestation verifies against the outside root, not the old one.
    let att = file(&store, "att.der");
    attest_key(&store, "0", "mykey", &["--nonce", "0102"], &att);
    let summary = verified(&store, &[s(&att), "--root", s(&root), "--chain", s(&chain), "--nonce", "0102"]);
    assert!(summary.contains("<- \"Example Issuing CA\"\n                    <- \"Example Root CA\" (pinned root)\n"));
    refused(&store, &[s(&att), "--root", s(&device_root), "--chain", s(&chain), "--nonce", "0102"], 1, "chain");
    openssl(dir, "x509 -inform DER -in att.der -out att.pem", &[]);
    openssl(dir, "verify -CAfile root-outside.pem -untrusted chain-outside.pem att.pem", &[]);
    let ev = file(&store, "ev.der");
    attest_key(&store, "0", "mykey", &["--evidence"], &ev);
    verified(&store, &[s(&ev), "--root", s(&root)]);
    refused(&store, &[s(&ev), "--root", s(&device_root)], 1, "chain");
    openssl(dir, "cms -verify -inform DER -in ev.der -CAfile root-outside.pem -out /dev/null", &[]);

    // A partition made afterwards gets keys certified by the same device key.
    let slot = store.create_partition("later", &[]).to_string();
    store.helper("keys", &[("FERROHSM_TEST_SLOT", &slot)]);
    let (chain, _) = read_chain(&store, &slot, "later");
    let att = file(&store, "later.der");
    attest_key(&store, &slot, "mykey", &[], &att);
    verified(&store, &[s(&att), "--root", s(&root), "--chain", s(&chain)]);

    // The device's request still works, now under the outside CA's certificate.
    store.ok(&["device", "csr", "-o", s(&file(&store, "dev-req2.pem")), "--so-pin", SO_PIN]);
}

/// `ferrohsm serve` on the store, stopped (SIGTERM) when dropped.
struct Served {
    child: std::process::Child,
    address: String,
}

impl Served {
    fn start(store: &Store) -> Served {
        let socket = file(store, "p11.sock");
        let mut child = store
            .command(Path::new(env!("CARGO_BIN_EXE_ferrohsm")))
            .args(["serve", "--socket", s(&socket)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start ferrohsm serve");
        let start = std::time::Instant::now();
        while !socket.exists() {
            assert!(child.try_wait().unwrap().is_none(), "ferrohsm serve ended without a socket");
            assert!(start.elapsed() < std::time::Duration::from_secs(20), "no socket from ferrohsm serve");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Served { child, address: format!("unix:path={}", socket.display()) }
    }

    /// `ferrohsm --module CLIENT args...` through the server.
    fn run(&self, store: &Store, client: &str, args: &[&str]) -> Run {
        let mut a = vec!["--module", client];
        a.extend_from_slice(args);
        store.run_with(&a, &[("P11_KIT_SERVER_ADDRESS", &self.address)])
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// Through `ferrohsm serve` and p11-kit's client module, which forwards neither our
/// mechanisms nor CKM_ECDSA_SHA256: the tool still finds the admin token, reads the same chain, and writes an attested
/// request signed with CKM_ECDSA over its own digest, carrying the birth
/// certificate.
#[test]
fn through_p11_kit_the_chain_and_an_attested_request() {
    let Some(client) = p11_kit_client() else { return };
    if !have_tool("p11-kit") {
        return;
    }
    let store = store_with_keys();
    let (local_chain, local_root) = read_chain(&store, "0", "local");
    let served = Served::start(&store);
    let status = served.run(&store, client, &["status"]);
    assert_eq!(status.code, Some(0), "{status:?}");
    let slot = status_slots(&status.stdout)
        .into_iter()
        .find(|(_, lines)| lines.iter().any(|l| l.starts_with("token:        \"payments\"")))
        .map(|(id, _)| id.to_string())
        .expect("the partition through p11-kit");
    assert_eq!(slot, "0", "ferrohsm serve keeps the module's slot ids (p11-kit's own server renumbered them)");

    let (chain, root) = (file(&store, "chain-remote.pem"), file(&store, "root-remote.pem"));
    let r = served.run(&store, client, &["attest", "chain", "--slot", &slot, "-o", s(&chain), "--root", s(&root)]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(std::fs::read(&chain).unwrap(), std::fs::read(&local_chain).unwrap());
    assert_eq!(std::fs::read(&root).unwrap(), std::fs::read(&local_root).unwrap());

    // A fresh attestation does not cross, so with no nonce the request carries the
    // key's birth certificate.
    let r = served.run(
        &store,
        client,
        &["attest", "key", "--slot", &slot, "--label", "mykey", "--pin", USER_PIN, "-o", s(&file(&store, "x.der"))],
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("CKR_MECHANISM_INVALID"), "{r:?}");
    let req = file(&store, "req-remote.pem");
    let subject = "/CN=app.example/O=Example";
    let args = [
        "csr",
        "--slot",
        &slot,
        "--label",
        "mykey",
        "--subject",
        subject,
        "--attest",
        "-o",
        s(&req),
        "--pin",
        USER_PIN,
    ];
    let r = served.run(&store, client, &args);
    assert_eq!(r.code, Some(0), "{r:?}");
    if have_tool("openssl") {
        let ok = openssl(store.dir.path(), "req -verify -noout -in req-remote.pem", &[]);
        assert!(ok.contains("verify OK"), "{ok}");
    }
    let summary = verified(&store, &["--csr", s(&req), "--root", s(&local_root)]);
    assert!(summary.contains("nonce:              none (birth certificate)\n"), "{summary}");
    assert!(
        summary.contains("request:            /CN=app.example/O=Example: its key is the attested key\n"),
        "{summary}"
    );
    // A nonce needs a fresh attestation, which does not cross: refused, not a
    // birth certificate in its place.
    let mut args = args.to_vec();
    args.extend(["--nonce", "00112233"]);
    let r = served.run(&store, client, &args);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("CKR_MECHANISM_INVALID"), "{r:?}");
}
