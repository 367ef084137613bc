//! `ferrohsm serve` with real clients: p11-kit's client module
//! (`p11-kit-client.so`) loaded by pkcs11-tool and by PyKCS11 scripts
//! (`serve_client.py`), several processes at once, as users run them.
//!
//! The tools are Debian's (opensc, python3-pykcs11, p11-kit-modules, openssl); a
//! test whose tool is missing is skipped, or fails under `CI=true`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Not a test on its own: the PKCS#11 side of other tests ([`helper_main`]).
#[test]
fn helper() {
    helper_main();
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/serve_client.py");

fn python() -> &'static str {
    if Path::new("/usr/bin/python3").is_file() { "/usr/bin/python3" } else { "python3" }
}

/// Whether everything these tests use is installed (skips or, under CI, fails).
fn tools_present() -> bool {
    let pykcs11 = Command::new(python()).args(["-c", "import PyKCS11"]).output().is_ok_and(|o| o.status.success());
    let runs = |p: &str, arg: &str| Command::new(p).arg(arg).output().is_ok();
    have("p11-kit's client module (p11-kit-modules)", p11_kit_client().is_some())
        && have("python3 with PyKCS11 (python3-pykcs11)", pykcs11)
        && have("pkcs11-tool (opensc)", runs("pkcs11-tool", "--help"))
        && have("openssl", runs("openssl", "version"))
}

/// A store whose slot 0 is initialised with [`USER_PIN`] and holds a public and a
/// private data object, served.
fn served() -> (Store, Serve) {
    let store = Store::new();
    store.helper("seed", &[("FERROHSM_TEST_SLOT", "0")]);
    let serve = Serve::start(&store, &[]);
    (store, serve)
}

/// A client command with the server's address.
fn client(serve: &Serve, program: &str) -> Command {
    let mut c = Command::new(program);
    c.env("P11_KIT_SERVER_ADDRESS", serve.address())
        .env("FERROHSM_CLIENT_MODULE", p11_kit_client().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn script(serve: &Serve, args: &[&str]) -> Command {
    let mut c = client(serve, python());
    c.arg(SCRIPT).args(args);
    c
}

/// Waits for a client and returns its REPORT lines; fails the test on a non-zero exit.
fn reports(what: &str, child: Child) -> Vec<String> {
    let out = child.wait_with_output().unwrap();
    check(what, &out);
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.strip_prefix("REPORT ").map(str::to_owned)).collect()
}

fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The token's session count, as a fresh client sees it (its own session included).
fn sessions(serve: &Serve) -> u64 {
    let r = reports("sessions", script(serve, &["sessions"]).spawn().unwrap());
    r[0].strip_prefix("sessions ").unwrap().parse().unwrap()
}

#[test]
fn two_clients_at_once_make_list_and_use_keys() {
    if !tools_present() {
        return;
    }
    let (store, serve) = served();
    let dir = store.dir.path().join("clients");
    std::fs::create_dir(&dir).unwrap();
    let d = dir.to_str().unwrap();
    // Each logs in and waits until the other is logged in too: both connections,
    // both logins, at the same time; then each makes, finds and uses its key.
    let alice = script(&serve, &["keys", "alice", "0a", d, USER_PIN]).spawn().unwrap();
    let bob = script(&serve, &["keys", "bob", "0b", d, USER_PIN]).spawn().unwrap();
    let (alice, bob) = (reports("alice", alice), reports("bob", bob));
    for (name, r) in [("alice", &alice), ("bob", &bob)] {
        assert!(r.contains(&format!("both-connected {name}")), "{r:?}");
        assert!(r.contains(&format!("done {name}")), "{r:?}");
        let keys = r.iter().find_map(|l| l.strip_prefix(&format!("private-keys {name} "))).unwrap();
        assert!(keys.split(',').any(|k| k == name), "{name} does not find its key: {r:?}");
        // OpenSSL checks each signature against the public key the token gave.
        let pem = Command::new("openssl")
            .args(["pkey", "-pubin", "-inform", "DER", "-in"])
            .arg(dir.join(format!("{name}.pub")))
            .arg("-out")
            .arg(dir.join(format!("{name}.pem")))
            .output()
            .unwrap();
        check("openssl pkey", &pem);
        let data = dir.join(format!("{name}.txt"));
        std::fs::write(&data, format!("hello {name}")).unwrap();
        let verify = Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(dir.join(format!("{name}.pem")))
            .arg("-signature")
            .arg(dir.join(format!("{name}.sig")))
            .arg(&data)
            .output()
            .unwrap();
        check("openssl dgst -verify", &verify);
        assert!(String::from_utf8_lossy(&verify.stdout).contains("Verified OK"));
    }

    // Stock pkcs11-tool, three processes at once: each makes a key pair.
    let client_so = p11_kit_client().unwrap();
    let tools: Vec<Child> = (1..=3)
        .map(|i| {
            let label = format!("tool{i}");
            let id = format!("2{i}");
            client(&serve, "pkcs11-tool")
                .args(["--module", client_so, "--slot", "0", "--login", "--pin", USER_PIN, "--keypairgen"])
                .args(["--key-type", "EC:prime256v1", "--label", &label, "--id", &id])
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, t) in tools.into_iter().enumerate() {
        check(&format!("pkcs11-tool --keypairgen {}", i + 1), &t.wait_with_output().unwrap());
    }
    let list = client(&serve, "pkcs11-tool")
        .args([
            "--module",
            client_so,
            "--slot",
            "0",
            "--login",
            "--pin",
            USER_PIN,
            "--list-objects",
            "--type",
            "privkey",
        ])
        .output()
        .unwrap();
    check("pkcs11-tool --list-objects", &list);
    let listed = String::from_utf8_lossy(&list.stdout);
    for label in ["alice", "bob", "tool1", "tool2", "tool3"] {
        assert!(listed.contains(&format!("label:      {label}\n")), "{label} missing:\n{listed}");
    }
    drop(serve);
}

#[test]
fn each_client_is_its_own_application() {
    if !tools_present() {
        return;
    }
    let (store, serve) = served();
    let dir = store.dir.path().join("clients");
    std::fs::create_dir(&dir).unwrap();
    let d = dir.to_str().unwrap();
    // One client logs in as the user and keeps its sessions open...
    let holder = script(&serve, &["hold", d, USER_PIN]).spawn().unwrap();
    wait_for(&dir.join("held"));
    // ...the other is not logged in, and holds the first one's session handle.
    let probe = reports("probe", script(&serve, &["probe", d]).spawn().unwrap());
    std::fs::write(dir.join("release"), b"").unwrap();
    let held = reports("holder", holder);

    assert!(held.contains(&"held-session-info 3".to_owned()), "CKS_RW_USER_FUNCTIONS: {held:?}");
    assert!(held.contains(&"held-sees-private 2".to_owned()), "its session object and private-data: {held:?}");
    // The other client's login is not ours: a public session, no private objects.
    assert!(probe.contains(&"own-state 0".to_owned()), "CKS_RO_PUBLIC_SESSION: {probe:?}");
    assert!(probe.contains(&"probe-sees-private 0".to_owned()), "{probe:?}");
    assert!(probe.contains(&"probe-sees-data public-data".to_owned()), "{probe:?}");
    // Its session handle is no session of ours, whatever we call with it.
    assert!(probe.contains(&"own-handle-differs True".to_owned()), "{probe:?}");
    for call in ["info", "find", "close"] {
        assert!(probe.contains(&format!("their-handle-{call} CKR_SESSION_HANDLE_INVALID")), "{probe:?}");
    }
    // The holder's 2 sessions and the probe's own.
    assert!(probe.contains(&"sessions 3".to_owned()), "{probe:?}");
    assert!(held.contains(&"released".to_owned()), "its sessions survived the probe: {held:?}");
}

#[test]
fn a_client_killed_mid_session_is_logged_out_and_its_sessions_closed() {
    if !tools_present() {
        return;
    }
    let (store, serve) = served();
    let dir = store.dir.path().join("clients");
    std::fs::create_dir(&dir).unwrap();
    let mut holder = script(&serve, &["hold", dir.to_str().unwrap(), USER_PIN]).spawn().unwrap();
    wait_for(&dir.join("held"));
    assert_eq!(sessions(&serve), 3, "the holder's 2 sessions and ours");
    holder.kill().unwrap();
    let _ = holder.wait();
    let start = Instant::now();
    loop {
        let n = sessions(&serve);
        if n == 1 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "still {n} sessions after the client died");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = serve.stop();
    // Every connection ended, the killed one included, and said what that did.
    let ended = out.stderr.lines().filter(|l| l.contains("its sessions are closed and its login is gone")).count();
    let opened = out.stderr.lines().filter(|l| l.ends_with(" opened")).count();
    assert!(opened >= 2 && ended == opened, "{out:?}");
}

/// A raw connection to the server.
fn raw(socket: &PathBuf) -> std::os::unix::net::UnixStream {
    let s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]
fn the_server_keeps_serving_after_garbage() {
    if !tools_present() {
        return;
    }
    use std::io::{Read, Write};
    let (_store, serve) = served();

    // A well-framed message whose body is garbage: answered with an error, and the
    // connection goes on.
    let mut s = raw(&serve.socket);
    s.write_all(&[0]).unwrap();
    let mut v = [9u8];
    s.read_exact(&mut v).unwrap();
    assert_eq!(v, [0], "protocol version 0");
    let body = b"\x00\x00\x00\x03\xff\xff\xff\xfe garbage";
    let mut frame = Vec::new();
    frame.extend_from_slice(&0x10u32.to_be_bytes());
    frame.extend_from_slice(&0u32.to_be_bytes());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(body);
    s.write_all(&frame).unwrap();
    let mut header = [0u8; 12];
    s.read_exact(&mut header).unwrap();
    assert_eq!(&header[..4], &0x10u32.to_be_bytes(), "the reply carries the request's code");
    let mut reply = vec![0u8; u32::from_be_bytes(header[8..].try_into().unwrap()) as usize];
    s.read_exact(&mut reply).unwrap();
    // Call id 0 (an error), signature "u", CKR_DEVICE_ERROR.
    assert_eq!(reply, [&[0, 0, 0, 0, 0, 0, 0, 1, b'u'][..], &0x30u64.to_be_bytes()].concat());

    // A header announcing 4 GiB: that connection is closed.
    s.write_all(&[0xff; 12]).unwrap();
    assert_eq!(s.read(&mut [0u8; 1]).unwrap(), 0);

    // Noise from the first byte, and a connection that stops mid-header.
    let mut n = raw(&serve.socket);
    let _ = n.write_all(&[0x42; 300]);
    let mut t = raw(&serve.socket);
    t.write_all(&[0, 0, 0]).unwrap();
    drop(t);

    // Real clients are still served, while the noisy connection lingers.
    assert_eq!(sessions(&serve), 1);
    let list = client(&serve, "pkcs11-tool").args(["--module", p11_kit_client().unwrap(), "-L"]).output().unwrap();
    check("pkcs11-tool -L", &list);
    assert!(String::from_utf8_lossy(&list.stdout).contains("ferrohsm admin token"));
    drop(n);
    let out = serve.stop();
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn the_calls_applications_make_work_through_serve() {
    if !tools_present() {
        return;
    }
    let (_store, serve) = served();
    let r = reports("calls", script(&serve, &["calls", USER_PIN]).spawn().unwrap());
    for check in ["aes-ecb", "hmac", "digest-multipart", "rsa", "objects", "sensitive-random"] {
        assert!(r.contains(&format!("{check} ok")), "{check}: {r:?}");
    }
    // pkcs11-tool's own self-test, through p11-kit's client.
    let test = client(&serve, "pkcs11-tool")
        .args(["--module", p11_kit_client().unwrap(), "--slot", "0", "--login", "--pin", USER_PIN, "--test"])
        .output()
        .unwrap();
    check("pkcs11-tool --test", &test);
    let out = String::from_utf8_lossy(&test.stdout);
    assert!(out.contains("No errors"), "{out}");
}

#[test]
fn connections_past_max_clients_are_refused() {
    if !tools_present() {
        return;
    }
    use std::io::Read;
    let store = Store::new();
    let serve = {
        // `Serve::start` takes global options only; --max-clients is serve's own.
        let socket = store.dir.path().join("p11.sock");
        let mut c = store.command(Path::new(env!("CARGO_BIN_EXE_ferrohsm")));
        c.args(["serve", "--socket", socket.to_str().unwrap(), "--max-clients", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = c.spawn().unwrap();
        let start = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "no socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        Serve { child: Some(child), socket }
    };
    // The probe connections above may still be counted: wait until one fits.
    let start = Instant::now();
    let first = loop {
        let s = raw(&serve.socket);
        std::thread::sleep(Duration::from_millis(100));
        s.set_nonblocking(true).unwrap();
        match (&s).read(&mut [0u8; 1]) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break s,
            _ => assert!(start.elapsed() < Duration::from_secs(10), "no connection accepted"),
        }
    };
    first.set_nonblocking(false).unwrap();
    let mut second = raw(&serve.socket);
    assert_eq!(second.read(&mut [0u8; 1]).unwrap(), 0, "the second connection is closed at once");
    drop(first);
    let out = serve.stop();
    assert!(out.stderr.contains("refusing a connection: 1 clients are connected"), "{out:?}");
}
