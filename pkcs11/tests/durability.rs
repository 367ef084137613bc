//! The store's guarantees, driven through the built module: no secret at rest in
//! the clear; a mutation acknowledged with `CKR_OK` survives a SIGKILL; a store
//! opens cleanly after a kill at any moment; a second process gets a clear error;
//! PIN failure counters persist across processes; damage is reported, never a
//! crash; many threads at once lose nothing.
//!
//! What needs a second process re-executes this test binary:
//! `current_exe --exact child_process_entry --nocapture --test-threads=1` with
//! `FERROHSM_DURABILITY_ROLE` naming what to do (see [`child`]) and
//! `FERROHSM_STORE` naming the store. Without the variable the entry test returns
//! at once, so it passes as a normal test. A child reports on stdout, one line per
//! event, `@@ WORD args`, flushed as it happens.
//!
//! The kill tests are randomised; each prints its seed, and
//! `FERROHSM_DURABILITY_SEED=<seed>` replays it.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::ptr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

const ROLE_VAR: &str = "FERROHSM_DURABILITY_ROLE";
const ENTRY: &str = "child_process_entry";
/// How long any child may take before it counts as hung.
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);

/// The value stored in the data object labelled `label`.
fn value_for(label: &str) -> Vec<u8> {
    format!("value of {label} (durability)").into_bytes()
}

/// A data object holding [`value_for`] its label.
fn data_obj(label: &str, private: bool) -> Tmpl {
    Tmpl::new().class(CKO_DATA).token(true).bool(CKA_PRIVATE, private).label(label).bytes(CKA_VALUE, &value_for(label))
}

fn find_raw(s: CK_SESSION_HANDLE, t: &Tmpl) -> Result<Vec<CK_OBJECT_HANDLE>, CK_RV> {
    let mut a = t.attrs();
    let rv = call!(C_FindObjectsInit, s, a.as_mut_ptr(), a.len() as CK_ULONG);
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = Vec::new();
    loop {
        let mut buf = [0 as CK_OBJECT_HANDLE; 64];
        let mut n = 0;
        let rv = call!(C_FindObjects, s, buf.as_mut_ptr(), buf.len() as CK_ULONG, &mut n);
        if rv != CKR_OK {
            call!(C_FindObjectsFinal, s);
            return Err(rv);
        }
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    match call!(C_FindObjectsFinal, s) {
        CKR_OK => Ok(out),
        rv => Err(rv),
    }
}

fn get_raw(s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, CK_RV> {
    let mut a = CK_ATTRIBUTE { type_: ty, pValue: ptr::null_mut(), ulValueLen: 0 };
    match call!(C_GetAttributeValue, s, o, &mut a, 1) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut buf = vec![0u8; a.ulValueLen as usize];
    a.pValue = buf.as_mut_ptr() as *mut _;
    match call!(C_GetAttributeValue, s, o, &mut a, 1) {
        CKR_OK => {
            buf.truncate(a.ulValueLen as usize);
            Ok(buf)
        }
        rv => Err(rv),
    }
}

fn ulong_of(v: &[u8]) -> CK_ULONG {
    CK_ULONG::from_ne_bytes(v.try_into().expect("a CK_ULONG"))
}

// ---------------------------------------------------------------------------
// The child side.

#[test]
fn child_process_entry() {
    let Ok(role) = std::env::var(ROLE_VAR) else { return };
    child::run(&role);
}

/// What a child process does. Each role reports every return code and never
/// asserts: the parent judges.
///
/// - `init`: `C_Initialize` only.
/// - `login`: `C_Initialize`, then `C_Login` (`DUR_USER` = `user` | `so`,
///   `DUR_PIN`) on a R/W session of slot 0.
/// - `open`: `C_Initialize`, `TOKEN rv serial flags` of slot 0, user login, then
///   lists every object it can see
///   (`OBJ ok|bad label` for data objects, checking the value against
///   [`value_for`]; `KEY label` for secret keys), then `C_Finalize`.
/// - `create` | `destroy` | `relabel`: user login, `READY`, then for each `n` in
///   `DUR_START..DUR_END` creates `obj-n` / destroys `d-n` / relabels `s-n` to
///   `r-n`, and after each `CKR_OK` says `ACK n`; `END` when done.
mod child {
    use super::*;

    fn say(msg: std::fmt::Arguments<'_>) {
        // One write per line; the leading newline keeps the line clear of
        // libtest's own "test ... " output.
        let line = format!("\n@@ {msg}\n");
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }

    macro_rules! say {
        ($($t:tt)*) => { say(format_args!($($t)*)) };
    }

    fn var(name: &str) -> String {
        std::env::var(name).unwrap_or_default()
    }

    fn num(name: &str) -> u64 {
        var(name).parse().unwrap_or(0)
    }

    fn open_session() -> Option<CK_SESSION_HANDLE> {
        let mut s = 0;
        let rv = call!(C_OpenSession, 0, CKF_SERIAL_SESSION | CKF_RW_SESSION, ptr::null_mut(), None, &mut s);
        say!("SESSION {rv:#x}");
        (rv == CKR_OK).then_some(s)
    }

    fn login(s: CK_SESSION_HANDLE) -> CK_RV {
        let pin = var("DUR_PIN");
        let user = if var("DUR_USER") == "so" { CKU_SO } else { CKU_USER };
        let rv = call!(C_Login, s, user, pin.as_ptr() as *mut _, pin.len() as CK_ULONG);
        say!("LOGIN {rv:#x}");
        rv
    }

    pub fn run(role: &str) {
        let rv = call!(C_Initialize, ptr::null_mut());
        say!("INIT {rv:#x}");
        if rv != CKR_OK {
            return;
        }
        match role {
            "init" => {}
            "login" => {
                if let Some(s) = open_session() {
                    login(s);
                }
            }
            "open" => {
                let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
                let rv = call!(C_GetTokenInfo, 0, &mut info);
                let serial = String::from_utf8_lossy(&info.serialNumber).trim().to_string();
                say!("TOKEN {rv:#x} {serial} {:#x}", info.flags);
                if let Some(s) = open_session()
                    && login(s) == CKR_OK
                {
                    list(s);
                }
            }
            "create" | "destroy" | "relabel" => {
                if let Some(s) = open_session()
                    && login(s) == CKR_OK
                {
                    say!("READY");
                    work(role, s, num("DUR_START"), num("DUR_END"));
                }
            }
            other => say!("ERR unknown role {other}"),
        }
        let rv = call!(C_Finalize, ptr::null_mut());
        say!("FINALIZE {rv:#x}");
    }

    fn list(s: CK_SESSION_HANDLE) {
        let found = match find_raw(s, &Tmpl::new()) {
            Ok(f) => f,
            Err(rv) => {
                say!("FIND {rv:#x}");
                return;
            }
        };
        for o in found {
            let class = get_raw(s, o, CKA_CLASS).map(|v| ulong_of(&v));
            let label = get_raw(s, o, CKA_LABEL).map(|l| String::from_utf8_lossy(&l).into_owned());
            match (class, label) {
                (Ok(CKO_DATA), Ok(label)) => {
                    let ok = get_raw(s, o, CKA_VALUE).is_ok_and(|v| v == value_for(&label));
                    say!("OBJ {} {label}", if ok { "ok" } else { "bad" });
                }
                (Ok(CKO_SECRET_KEY), Ok(label)) => say!("KEY {label}"),
                (Ok(_), Ok(_)) => {}
                (c, l) => say!("UNREADABLE {o} {c:?} {l:?}"),
            }
        }
        say!("LISTED");
    }

    fn work(role: &str, s: CK_SESSION_HANDLE, start: u64, end: u64) {
        for n in start..end {
            let rv = match role {
                "create" => {
                    let mut h = 0;
                    let t = data_obj(&format!("obj-{n}"), n % 2 == 0);
                    let mut a = t.attrs();
                    call!(C_CreateObject, s, a.as_mut_ptr(), a.len() as CK_ULONG, &mut h)
                }
                _ => {
                    let from = if role == "destroy" { format!("d-{n}") } else { format!("s-{n}") };
                    let found = match find_raw(s, &Tmpl::new().label(&from)) {
                        Ok(f) => f,
                        Err(rv) => {
                            say!("ERR {n} find {rv:#x}");
                            return;
                        }
                    };
                    if found.len() != 1 {
                        say!("ERR {n} found {} objects labelled {from}", found.len());
                        return;
                    }
                    if role == "destroy" {
                        call!(C_DestroyObject, s, found[0])
                    } else {
                        let t = Tmpl::new().label(&format!("r-{n}"));
                        let mut a = t.attrs();
                        call!(C_SetAttributeValue, s, found[0], a.as_mut_ptr(), a.len() as CK_ULONG)
                    }
                }
            };
            if rv != CKR_OK {
                say!("ERR {n} {role} {rv:#x}");
                return;
            }
            say!("ACK {n}");
        }
        say!("END");
    }
}

// ---------------------------------------------------------------------------
// The parent side: spawning, watching and judging children.

/// A running child.
struct Proc {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    said: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

/// A child that has ended.
#[derive(Debug)]
struct Finished {
    status: ExitStatus,
    timed_out: bool,
    said: Vec<String>,
    stderr: String,
}

fn spawn(role: &str, store: &Path, vars: &[(&str, String)]) -> Proc {
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.args(["--exact", ENTRY, "--nocapture", "--test-threads=1"])
        .env(ROLE_VAR, role)
        .env("FERROHSM_STORE", store)
        .env_remove("FERROHSM_LOG")
        .env_remove("FERROHSM_CONF")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn a child");
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                // Only whole lines count: a line cut by the kill says nothing.
                Ok(n) if n > 0 && line.ends_with('\n') => {
                    if let Some(i) = line.find("@@ ") {
                        let _ = tx.send(line[i + 3..].trim_end().to_string());
                    }
                }
                _ => break,
            }
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    Proc { child, lines: rx, said: Vec::new(), stderr: Some(stderr) }
}

impl Proc {
    /// The next line, or `None` when the child closed its stdout.
    fn next(&mut self) -> Option<String> {
        match self.lines.recv_timeout(CHILD_TIMEOUT) {
            Ok(l) => {
                self.said.push(l.clone());
                Some(l)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                panic!("child said nothing for {CHILD_TIMEOUT:?} (hung?); so far: {:?}", self.said)
            }
        }
    }

    /// Waits for a line starting with `word` (or the end of output).
    fn wait_for(&mut self, word: &str) -> Option<String> {
        while let Some(l) = self.next() {
            if l.starts_with(word) {
                return Some(l);
            }
        }
        None
    }

    fn collect(mut self, timed_out: bool) -> Finished {
        let status = self.child.wait().expect("wait for the child");
        // The reader ends at EOF: everything the child wrote before it died.
        self.said.extend(self.lines.iter());
        let stderr = self.stderr.take().unwrap().join().unwrap_or_default();
        Finished { status, timed_out, said: self.said, stderr }
    }

    /// SIGKILL now.
    fn kill(mut self) -> Finished {
        let _ = self.child.kill(); // SIGKILL on Unix
        self.collect(false)
    }

    /// Waits for the child to end by itself, killing it after [`CHILD_TIMEOUT`].
    fn wait(mut self) -> Finished {
        let deadline = Instant::now() + CHILD_TIMEOUT;
        loop {
            if self.child.try_wait().expect("try_wait").is_some() {
                return self.collect(false);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.collect(true);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Runs a child to its end.
fn run_child(role: &str, store: &Path, vars: &[(&str, String)]) -> Finished {
    spawn(role, store, vars).wait()
}

impl Finished {
    /// The child was neither hung nor killed by a signal and its test passed.
    fn assert_clean(&self, what: &str) {
        assert!(!self.timed_out, "{what}: the child hung (killed after {CHILD_TIMEOUT:?}): {self:#?}");
        assert!(
            self.status.signal().is_none(),
            "{what}: the child died of signal {:?}: {self:#?}",
            self.status.signal()
        );
        assert!(self.status.success(), "{what}: the child failed: {self:#?}");
    }

    /// The rest of the first line starting with `word`.
    fn get(&self, word: &str) -> Option<&str> {
        self.said.iter().find_map(|l| l.strip_prefix(word).map(str::trim))
    }

    /// The `CK_RV` reported on the line starting with `word`.
    fn rv(&self, word: &str) -> Option<CK_RV> {
        self.get(word).map(|v| CK_RV::from_str_radix(v.trim_start_matches("0x"), 16).expect("a hex CK_RV"))
    }

    fn acked(&self) -> Vec<u64> {
        self.said.iter().filter_map(|l| l.strip_prefix("ACK ")).map(|n| n.parse().expect("ACK n")).collect()
    }

    /// The module's stderr lines (the test harness writes nothing there).
    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| !l.trim().is_empty()).collect()
    }
}

/// A small PRNG (xorshift64*), seeded from the clock or `FERROHSM_DURABILITY_SEED`.
struct Rng(u64);

impl Rng {
    fn seeded(test: &str) -> Self {
        let seed = std::env::var("FERROHSM_DURABILITY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
            (t.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
        });
        eprintln!("{test}: seed {seed} (replay with FERROHSM_DURABILITY_SEED={seed})");
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

// ---------------------------------------------------------------------------
// 1. No secret at rest in the clear.

#[test]
fn no_secret_pin_or_private_attribute_reaches_the_store_in_the_clear() {
    const USER: &[u8] = b"Usr-PIN-q7Zx8303";
    const SO: &[u8] = b"SO-PIN-Wm4vK2119";
    const PRIV_LABEL: &[u8] = b"private-label-9f4e2d77";
    const PRIV_LABEL_2: &[u8] = b"renamed-private-label-51c8ab";
    const PRIV_VALUE: &[u8] = b"PRIVATE-DATA-VALUE-3b61c0e8a4";
    const PUB_LABEL: &[u8] = b"public-label-6d0a93ff";
    // Distinctive, non-repeating key bytes.
    let aes: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37).wrapping_add(0x91) ^ 0x5A).collect();
    let generic: Vec<u8> = (0..24u8).map(|i| i.wrapping_mul(53).wrapping_add(0x17) ^ 0xC3).collect();
    let ec_private: Vec<u8> = (0..32u8).map(|i| 0x3C ^ i.wrapping_mul(29).wrapping_add(7)).collect();
    let ec_public: Vec<u8> = (0..32u8).map(|i| 0x2B ^ i.wrapping_mul(71).wrapping_add(3)).collect();
    const P256: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

    let mut h = Hsm::fresh();
    h.init_token(0, SO, "at-rest");
    {
        let s = h.open(0, true);
        assert_eq!(h.login(s, CKU_SO, SO), CKR_OK);
        assert_eq!(call!(C_InitPIN, s, USER.as_ptr() as *mut _, USER.len() as CK_ULONG), CKR_OK);
        assert_eq!(call!(C_CloseSession, s), CKR_OK);
    }
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER), CKR_OK);
    let private_data = h
        .create(
            s,
            &Tmpl::new()
                .class(CKO_DATA)
                .token(true)
                .bool(CKA_PRIVATE, true)
                .bytes(CKA_LABEL, PRIV_LABEL)
                .bytes(CKA_VALUE, PRIV_VALUE),
        )
        .expect("private data object");
    // A label change of a private object: neither label may reach the store.
    assert_eq!(h.set(s, private_data, &Tmpl::new().bytes(CKA_LABEL, PRIV_LABEL_2)), CKR_OK);
    h.create(s, &aes_key("aes-private", &aes).bool(CKA_PRIVATE, true)).expect("private AES key");
    h.create(
        s,
        &Tmpl::new()
            .class(CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
            .token(true)
            .label("generic-public")
            .bool(CKA_PRIVATE, false)
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, true)
            .bytes(CKA_VALUE, &generic),
    )
    .expect("public non-sensitive secret key");
    for (label, private, value) in [("ec-private", true, &ec_private), ("ec-public-object", false, &ec_public)] {
        h.create(
            s,
            &Tmpl::new()
                .class(CKO_PRIVATE_KEY)
                .ulong(CKA_KEY_TYPE, CKK_EC)
                .token(true)
                .label(label)
                .bool(CKA_PRIVATE, private)
                .bytes(CKA_EC_PARAMS, P256)
                .bytes(CKA_VALUE, value),
        )
        .unwrap_or_else(|rv| panic!("EC private key {label}: {rv:#x}"));
    }
    h.create(s, &Tmpl::new().class(CKO_DATA).token(true).bool(CKA_PRIVATE, false).bytes(CKA_LABEL, PUB_LABEL))
        .expect("public data object");
    h.finalize();

    let mut secrets: Vec<(&str, &[u8])> = vec![
        ("user PIN", USER),
        ("SO PIN", SO),
        ("private object's label", PRIV_LABEL),
        ("private object's new label", PRIV_LABEL_2),
        ("private data value", PRIV_VALUE),
        ("private AES key", &aes),
        ("public non-sensitive secret key", &generic),
        ("private EC key (private object)", &ec_private),
        ("private EC key (public object)", &ec_public),
    ];
    // Halves of the keys too: a partial leak is a leak.
    let halves: Vec<(String, Vec<u8>)> =
        [("AES", &aes), ("generic", &generic), ("EC", &ec_private), ("EC2", &ec_public)]
            .iter()
            .flat_map(|(n, k)| {
                let m = k.len() / 2;
                [(format!("{n} key, first half"), k[..m].to_vec()), (format!("{n} key, second half"), k[m..].to_vec())]
            })
            .collect();
    secrets.extend(halves.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
    let files = h.store_files();
    assert!(files.iter().any(|f| f.ends_with("device.key")), "store files: {files:?}");
    // The control: the grep works, and public labels are stored as they are.
    assert!(h.store_contains(PUB_LABEL), "the public data object's label should be in the store: the grep is broken");
    let leaks: Vec<&str> = secrets.iter().filter(|(_, v)| h.store_contains(v)).map(|(n, _)| *n).collect();
    assert!(leaks.is_empty(), "in the clear in the store files: {leaks:?}");

    // And everything is still there, readable after a restart.
    h.initialize();
    let s = h.open(0, false);
    assert_eq!(h.find(s, &Tmpl::new().bytes(CKA_LABEL, PRIV_LABEL_2)).len(), 0, "private: invisible before login");
    let generic_key = h.find(s, &Tmpl::new().label("generic-public"));
    assert_eq!(generic_key.len(), 1);
    assert_eq!(h.get(s, generic_key[0], CKA_VALUE).unwrap(), generic, "device-sealed value reads back");
    assert_eq!(h.login(s, CKU_USER, USER), CKR_OK);
    let found = h.find(s, &Tmpl::new().bytes(CKA_LABEL, PRIV_LABEL_2));
    assert_eq!(found.len(), 1);
    assert_eq!(h.get(s, found[0], CKA_VALUE).unwrap(), PRIV_VALUE);
    for label in ["aes-private", "ec-private", "ec-public-object"] {
        assert_eq!(h.find(s, &Tmpl::new().label(label)).len(), 1, "{label} after restart");
    }
}

// ---------------------------------------------------------------------------
// 2. SIGKILL right after CKR_OK loses nothing.

/// When a round's child is killed.
#[derive(Clone, Copy, Debug)]
enum KillAt {
    /// After this many `ACK` lines (right after a `CKR_OK`).
    Acks(usize),
    /// This long after the child said `READY` (logged in): anywhere, mid-write included.
    AfterReady(Duration),
    /// This long after spawning: possibly inside `C_Initialize` or `C_Login`.
    AfterSpawn(Duration),
}

/// Times measured in earlier rounds, to aim the random kills.
struct Pace {
    /// From spawning to `READY`.
    startup: Duration,
    /// From `READY` to the first `ACK` (the first write after an open is slower).
    first_op: Duration,
    /// Each later operation.
    per_op: Duration,
}

impl Pace {
    fn new() -> Self {
        Pace {
            startup: Duration::from_millis(150),
            first_op: Duration::from_millis(20),
            per_op: Duration::from_micros(300),
        }
    }
}

/// A plan for round `round` (cycling through the three kinds).
fn plan(rng: &mut Rng, round: usize, pace: &Pace) -> KillAt {
    match round % 3 {
        0 => KillAt::Acks(rng.range(20, 201) as usize),
        1 => {
            let span = (pace.first_op + pace.per_op * 200).as_micros() as u64;
            KillAt::AfterReady(Duration::from_micros(rng.range(0, span)))
        }
        _ => {
            let span = (pace.startup + pace.first_op + pace.per_op * 100).as_micros() as u64;
            KillAt::AfterSpawn(Duration::from_micros(rng.range(0, span)))
        }
    }
}

/// Runs one child of `role` over `start..end` and kills it as `kill` says.
/// Returns what it acknowledged and whether it finished on its own.
fn kill_round(store: &Path, role: &str, start: u64, end: u64, kill: KillAt, pace: &mut Pace) -> (Vec<u64>, bool) {
    let vars = [
        ("DUR_PIN", String::from_utf8(USER_PIN.to_vec()).unwrap()),
        ("DUR_START", start.to_string()),
        ("DUR_END", end.to_string()),
    ];
    let spawned = Instant::now();
    let mut p = spawn(role, store, &vars);
    match kill {
        KillAt::Acks(n) => {
            let mut acks = 0;
            let (mut ready, mut first) = (None, None);
            while let Some(l) = p.next() {
                if l == "READY" {
                    ready = Some(Instant::now());
                    pace.startup = spawned.elapsed();
                }
                if l.starts_with("ACK ") {
                    acks += 1;
                    if acks == 1 {
                        first = Some(Instant::now());
                        if let Some(r) = ready {
                            pace.first_op = r.elapsed();
                        }
                    }
                    if acks == n {
                        if let Some(f) = first {
                            pace.per_op = f.elapsed() / n.saturating_sub(1).max(1) as u32;
                        }
                        break;
                    }
                }
                if l == "END" || l.starts_with("ERR") {
                    break;
                }
            }
        }
        KillAt::AfterReady(d) => {
            p.wait_for("READY");
            std::thread::sleep(d);
        }
        KillAt::AfterSpawn(d) => std::thread::sleep(d),
    }
    let f = p.kill();
    let what = format!("{role} {start}..{end}, kill {kill:?}");
    assert!(!f.said.iter().any(|l| l.starts_with("ERR")), "{what}: the child reported an error: {f:#?}");
    for word in ["INIT", "SESSION", "LOGIN"] {
        if let Some(rv) = f.rv(word) {
            assert_eq!(rv, CKR_OK, "{what}: {word}: {f:#?}");
        }
    }
    let finished = f.said.iter().any(|l| l == "END");
    match f.status.signal() {
        Some(libc::SIGKILL) => {}
        None if f.status.success() => {}
        _ => panic!("{what}: the child died otherwise than by our SIGKILL: {f:#?}"),
    }
    let acked = f.acked();
    assert!(acked.windows(2).all(|w| w[1] == w[0] + 1), "{what}: acks out of order: {acked:?}");
    eprintln!("{what}: {} acknowledged{}", acked.len(), if finished { ", finished before the kill" } else { "" });
    (acked, finished)
}

/// The object the child may have been working on when it died: the one after the
/// last acknowledged (its change may or may not have landed, but atomically).
fn in_flight(acked: &[u64], finished: bool, start: u64) -> Option<u64> {
    (!finished).then(|| acked.last().map_or(start, |n| n + 1))
}

/// Opens the store after a kill (it must open cleanly and a login must work) and
/// returns every data object: label → values.
fn reopen_and_list(h: &mut Hsm, what: &str) -> (CK_SESSION_HANDLE, BTreeMap<String, Vec<Vec<u8>>>) {
    let rv = h.try_initialize();
    assert_eq!(rv, CKR_OK, "{what}: C_Initialize after the kill must succeed");
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK, "{what}: login after the kill");
    let mut all: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for o in h.find(s, &Tmpl::new().class(CKO_DATA)) {
        let label = String::from_utf8(h.get(s, o, CKA_LABEL).unwrap()).unwrap();
        let value = h.get(s, o, CKA_VALUE).unwrap();
        all.entry(label).or_default().push(value);
    }
    (s, all)
}

fn count(all: &BTreeMap<String, Vec<Vec<u8>>>, label: &str) -> usize {
    all.get(label).map_or(0, Vec::len)
}

/// A store with slot 0 initialised ([`SO_PIN`], [`USER_PIN`]) and `pool` data objects
/// labelled `prefix-n`, finalised so a child can open it.
fn store_with_pool(prefix: &str, pool: u64) -> Hsm {
    let (mut h, s) = Hsm::ready();
    for n in 0..pool {
        let label = format!("{prefix}-{n}");
        h.create(s, &data_obj(&label, n % 3 != 0)).unwrap_or_else(|rv| panic!("create {label}: {rv:#x}"));
    }
    h.finalize();
    h
}

#[test]
fn sigkill_right_after_create_returns_loses_nothing() {
    const CREATE_ROUNDS: usize = 12;
    let mut rng = Rng::seeded("create");
    let mut h = store_with_pool("unused", 0);
    let store = h.dir.path().to_path_buf();
    let mut pace = Pace::new();
    // Every object acknowledged (or seen after a kill) must exist, exactly once,
    // from then on; every in-flight object not seen must never appear.
    let mut must: BTreeSet<u64> = BTreeSet::new();
    let mut never: BTreeSet<u64> = BTreeSet::new();
    // Kills that fell after an operation's write and before its ACK was printed.
    let mut landed = 0;
    for round in 0..CREATE_ROUNDS {
        let (start, end) = (round as u64 * 1000, round as u64 * 1000 + 1000);
        let kill = plan(&mut rng, round, &pace);
        let (acked, finished) = kill_round(&store, "create", start, end, kill, &mut pace);
        must.extend(&acked);
        let what = format!("create round {round} ({kill:?})");
        let (_, all) = reopen_and_list(&mut h, &what);
        if let Some(n) = in_flight(&acked, finished, start) {
            match count(&all, &format!("obj-{n}")) {
                0 => never.insert(n),
                1 => {
                    landed += 1;
                    must.insert(n)
                }
                k => panic!("{what}: the in-flight obj-{n} exists {k} times"),
            };
        }
        for n in &must {
            let label = format!("obj-{n}");
            assert_eq!(all.get(&label), Some(&vec![value_for(&label)]), "{what}: acknowledged {label}");
        }
        for n in &never {
            assert_eq!(count(&all, &format!("obj-{n}")), 0, "{what}: obj-{n} came back");
        }
        let total: usize = all.values().map(Vec::len).sum();
        assert_eq!(total, must.len(), "{what}: objects that nobody acknowledged: {:?}", {
            let known: BTreeSet<String> = must.iter().map(|n| format!("obj-{n}")).collect();
            all.keys().filter(|l| !known.contains(*l)).collect::<Vec<_>>()
        });
        h.finalize();
    }
    eprintln!(
        "create: {} objects survive {CREATE_ROUNDS} kills; {landed} kills fell between a write and its ACK",
        must.len()
    );
}

#[test]
fn sigkill_right_after_destroy_returns_loses_nothing() {
    const ROUND: u64 = 260;
    const ROUNDS: usize = 6;
    let mut rng = Rng::seeded("destroy");
    let mut h = store_with_pool("d", ROUND * ROUNDS as u64);
    let store = h.dir.path().to_path_buf();
    let mut pace = Pace::new();
    let mut gone: BTreeSet<u64> = BTreeSet::new();
    let mut landed = 0;
    for round in 0..ROUNDS {
        let (start, end) = (round as u64 * ROUND, (round as u64 + 1) * ROUND);
        let kill = plan(&mut rng, round, &pace);
        let (acked, finished) = kill_round(&store, "destroy", start, end, kill, &mut pace);
        gone.extend(&acked);
        let what = format!("destroy round {round} ({kill:?})");
        let (_, all) = reopen_and_list(&mut h, &what);
        let flight = in_flight(&acked, finished, start);
        if let Some(n) = flight {
            match count(&all, &format!("d-{n}")) {
                0 => {
                    landed += 1;
                    gone.insert(n)
                }
                1 => false,
                k => panic!("{what}: the in-flight d-{n} exists {k} times"),
            };
        }
        for n in 0..ROUND * ROUNDS as u64 {
            let label = format!("d-{n}");
            if gone.contains(&n) {
                assert_eq!(count(&all, &label), 0, "{what}: {label} was destroyed (acknowledged) but is back");
            } else {
                // Untouched, or in flight earlier and seen kept.
                assert_eq!(all.get(&label), Some(&vec![value_for(&label)]), "{what}: {label} was never destroyed");
            }
        }
        assert_eq!(all.values().map(Vec::len).sum::<usize>(), (ROUND * ROUNDS as u64) as usize - gone.len(), "{what}");
        h.finalize();
    }
    eprintln!(
        "destroy: {} destroyed across {ROUNDS} kills; {landed} kills fell between a write and its ACK",
        gone.len()
    );
}

#[test]
fn sigkill_right_after_set_attribute_value_returns_loses_nothing() {
    const ROUND: u64 = 260;
    const ROUNDS: usize = 6;
    let mut rng = Rng::seeded("relabel");
    let mut h = store_with_pool("s", ROUND * ROUNDS as u64);
    let store = h.dir.path().to_path_buf();
    let mut pace = Pace::new();
    let mut changed: BTreeSet<u64> = BTreeSet::new();
    let mut landed = 0;
    for round in 0..ROUNDS {
        let (start, end) = (round as u64 * ROUND, (round as u64 + 1) * ROUND);
        let kill = plan(&mut rng, round, &pace);
        let (acked, finished) = kill_round(&store, "relabel", start, end, kill, &mut pace);
        changed.extend(&acked);
        let what = format!("relabel round {round} ({kill:?})");
        let (_, all) = reopen_and_list(&mut h, &what);
        if let Some(n) = in_flight(&acked, finished, start) {
            let (old, new) = (count(&all, &format!("s-{n}")), count(&all, &format!("r-{n}")));
            assert_eq!(old + new, 1, "{what}: the in-flight s-{n} must be either relabelled or not, once");
            if new == 1 {
                landed += 1;
                changed.insert(n);
            }
        }
        for n in 0..ROUND * ROUNDS as u64 {
            let (old, new) = (format!("s-{n}"), format!("r-{n}"));
            let value = vec![value_for(&old)];
            if changed.contains(&n) {
                assert_eq!(all.get(&new), Some(&value), "{what}: acknowledged relabel of {old} to {new}");
                assert_eq!(count(&all, &old), 0, "{what}: {old} is back after its acknowledged relabel");
            } else {
                assert_eq!(all.get(&old), Some(&value), "{what}: {old} was never relabelled");
                assert_eq!(count(&all, &new), 0, "{what}: {new} appeared");
            }
        }
        assert_eq!(all.values().map(Vec::len).sum::<usize>(), (ROUND * ROUNDS as u64) as usize, "{what}");
        h.finalize();
    }
    eprintln!(
        "relabel: {} relabelled across {ROUNDS} kills; {landed} kills fell between a write and its ACK",
        changed.len()
    );
}

// ---------------------------------------------------------------------------
// 3. A second process gets a clear error.

#[test]
fn a_second_process_gets_a_clear_error_and_the_first_keeps_working() {
    let (mut h, s) = Hsm::ready();
    h.create(s, &data_obj("before", true)).unwrap();
    let store = h.dir.path().to_path_buf();

    let f = run_child("init", &store, &[]);
    f.assert_clean("second process");
    assert_eq!(f.rv("INIT"), Some(CKR_FUNCTION_FAILED), "second process: {f:#?}");
    let lines = f.stderr_lines();
    assert_eq!(lines.len(), 1, "one line on stderr: {lines:?}");
    assert!(lines[0].contains(&store.display().to_string()), "the line names the store: {}", lines[0]);
    assert!(lines[0].contains("ferrohsm serve"), "the line names `ferrohsm serve`: {}", lines[0]);

    // This process is not disturbed.
    h.create(s, &data_obj("after", false)).unwrap();
    assert_eq!(h.find(s, &Tmpl::new().label("before")).len(), 1);
    h.restart();
    let s = h.open(0, false);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    for label in ["before", "after"] {
        let o = h.find(s, &Tmpl::new().label(label));
        assert_eq!(o.len(), 1, "{label}");
        assert_eq!(h.get(s, o[0], CKA_VALUE).unwrap(), value_for(label));
    }
    // Once this process lets go, another one opens the store.
    h.finalize();
    let f = run_child("init", &store, &[]);
    f.assert_clean("after the first process finalised");
    assert_eq!(f.rv("INIT"), Some(CKR_OK), "{f:#?}");
    assert_eq!(f.rv("FINALIZE"), Some(CKR_OK), "{f:#?}");
    assert!(f.stderr_lines().is_empty(), "{f:#?}");
}

// ---------------------------------------------------------------------------
// 4. PIN failure counters persist across processes.

fn login_in_child(store: &Path, user: &str, pin: &[u8]) -> CK_RV {
    let vars = [("DUR_USER", user.to_string()), ("DUR_PIN", String::from_utf8(pin.to_vec()).unwrap())];
    let f = run_child("login", store, &vars);
    f.assert_clean("login child");
    assert_eq!(f.rv("INIT"), Some(CKR_OK), "{f:#?}");
    assert_eq!(f.rv("SESSION"), Some(CKR_OK), "{f:#?}");
    f.rv("LOGIN").unwrap_or_else(|| panic!("no login: {f:#?}"))
}

/// The user and SO PIN flags of slot 0, read in this process after a restart.
fn pin_flags_now(h: &mut Hsm) -> CK_FLAGS {
    assert_eq!(h.try_initialize(), CKR_OK);
    let f = h.token_info(0).flags;
    h.finalize();
    f & (CKF_USER_PIN_COUNT_LOW
        | CKF_USER_PIN_FINAL_TRY
        | CKF_USER_PIN_LOCKED
        | CKF_SO_PIN_COUNT_LOW
        | CKF_SO_PIN_FINAL_TRY
        | CKF_SO_PIN_LOCKED)
}

#[test]
fn pin_failure_counters_and_the_lock_persist_across_processes() {
    const WRONG: &[u8] = b"wrong-pin-0000";
    const NEW_PIN: &[u8] = b"new-user-pin-77";
    let mut h = Hsm::fresh();
    h.init_token(0, SO_PIN, "pins");
    h.init_user(0, USER_PIN);
    // The partition's SO sets its policy: 3 failures lock.
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    let part = h.find(s, &Tmpl::new().class(CKO_FERRO_PARTITION));
    assert_eq!(part.len(), 1, "the partition's own partition object");
    assert_eq!(h.set(s, part[0], &Tmpl::new().ulong(CKA_FERRO_POLICY_MAX_PIN_FAILURES, 3)), CKR_OK);
    assert_eq!(h.get_ulong(s, part[0], CKA_FERRO_POLICY_MAX_PIN_FAILURES), 3);
    assert_eq!(call!(C_CloseSession, s), CKR_OK);
    h.restart();
    let s = h.open(0, false);
    let part = h.find(s, &Tmpl::new().class(CKO_FERRO_PARTITION));
    assert_eq!(h.get_ulong(s, part[0], CKA_FERRO_POLICY_MAX_PIN_FAILURES), 3, "the policy persists");
    h.finalize();
    let store = h.dir.path().to_path_buf();
    assert_eq!(pin_flags_now(&mut h), 0);

    // A failure, then a success in another process: the success clears the count.
    assert_eq!(login_in_child(&store, "user", WRONG), CKR_PIN_INCORRECT);
    assert_eq!(pin_flags_now(&mut h), CKF_USER_PIN_COUNT_LOW);
    assert_eq!(login_in_child(&store, "user", USER_PIN), CKR_OK);
    assert_eq!(pin_flags_now(&mut h), 0, "a right PIN clears the count");

    // Each failure in its own process counts.
    assert_eq!(login_in_child(&store, "user", WRONG), CKR_PIN_INCORRECT);
    assert_eq!(pin_flags_now(&mut h), CKF_USER_PIN_COUNT_LOW, "after 1 of 3");
    assert_eq!(login_in_child(&store, "user", WRONG), CKR_PIN_INCORRECT);
    assert_eq!(pin_flags_now(&mut h), CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY, "after 2 of 3");
    let third = login_in_child(&store, "user", WRONG);
    assert!(third == CKR_PIN_INCORRECT || third == CKR_PIN_LOCKED, "third failure: {third:#x}");
    // COUNT_LOW stays set on a locked PIN: "an incorrect PIN has been entered at
    // least once since the last successful authentication" is still true.
    assert_eq!(pin_flags_now(&mut h), CKF_USER_PIN_LOCKED | CKF_USER_PIN_COUNT_LOW, "after 3 of 3");
    // Locked: the right PIN is refused, in another process and in this one.
    assert_eq!(login_in_child(&store, "user", USER_PIN), CKR_PIN_LOCKED);
    assert_eq!(h.try_initialize(), CKR_OK);
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_PIN_LOCKED);
    assert_eq!(h.token_info(0).flags & CKF_USER_PIN_LOCKED, CKF_USER_PIN_LOCKED);
    // The SO PIN has its own counter.
    h.finalize();
    assert_eq!(login_in_child(&store, "so", WRONG), CKR_PIN_INCORRECT);
    assert_eq!(pin_flags_now(&mut h), CKF_USER_PIN_LOCKED | CKF_USER_PIN_COUNT_LOW | CKF_SO_PIN_COUNT_LOW);

    // The SO unlocks the user with C_InitPIN (its own good login clears its count).
    assert_eq!(h.try_initialize(), CKR_OK);
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    assert_eq!(call!(C_InitPIN, s, NEW_PIN.as_ptr() as *mut _, NEW_PIN.len() as CK_ULONG), CKR_OK);
    assert_eq!(call!(C_Logout, s), CKR_OK);
    assert_eq!(h.token_info(0).flags & (CKF_USER_PIN_LOCKED | CKF_USER_PIN_COUNT_LOW), 0);
    assert_eq!(h.login(s, CKU_USER, NEW_PIN), CKR_OK);
    h.finalize();
    assert_eq!(pin_flags_now(&mut h), 0, "unlocked, and the SO count cleared by its login");
    assert_eq!(login_in_child(&store, "user", NEW_PIN), CKR_OK);
    assert_eq!(login_in_child(&store, "user", USER_PIN), CKR_PIN_INCORRECT, "the old PIN is gone");
}

// ---------------------------------------------------------------------------
// 5. Damage is reported, not a crash, and does not lose other data.

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap(); // keeps the mode
        }
    }
}

fn files_under(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
    }
    out
}

/// The largest file under `<store>/db` (sled's log, `db/db`).
fn largest_db_file(store: &Path) -> PathBuf {
    files_under(&store.join("db")).into_iter().max_by_key(|f| std::fs::metadata(f).unwrap().len()).unwrap()
}

/// Labels (data objects and secret keys) the `open` child listed, and whether every
/// data object's value was right.
fn listed(f: &Finished) -> (BTreeSet<String>, Vec<String>) {
    let mut labels = BTreeSet::new();
    let mut bad = Vec::new();
    for l in &f.said {
        if let Some(rest) = l.strip_prefix("OBJ ") {
            let (state, label) = rest.split_once(' ').unwrap();
            if state != "ok" {
                bad.push(label.to_string());
            }
            labels.insert(label.to_string());
        } else if let Some(label) = l.strip_prefix("KEY ") {
            labels.insert(label.to_string());
        } else if l.starts_with("UNREADABLE") {
            bad.push(l.clone());
        }
    }
    (labels, bad)
}

fn open_in_child(store: &Path) -> Finished {
    let f = run_child("open", store, &[("DUR_PIN", String::from_utf8(USER_PIN.to_vec()).unwrap())]);
    f.assert_clean(&format!("open {}", store.display()));
    f
}

/// Opens `store` in a child and asserts everything in `expected` is there, intact.
fn assert_opens_with_everything(store: &Path, expected: &BTreeSet<String>, what: &str) {
    let f = open_in_child(store);
    assert_eq!(f.rv("INIT"), Some(CKR_OK), "{what}: {f:#?}");
    assert_eq!(f.rv("LOGIN"), Some(CKR_OK), "{what}: {f:#?}");
    let (labels, bad) = listed(&f);
    assert!(bad.is_empty(), "{what}: damaged objects {bad:?}");
    assert_eq!(&labels, expected, "{what}: every object, nothing else");
    assert_eq!(f.rv("FINALIZE"), Some(CKR_OK), "{what}: {f:#?}");
}

/// Opens `store` in a child and asserts C_Initialize fails with
/// `CKR_FUNCTION_FAILED` and one stderr line containing every word of `mentions`.
fn assert_refused(store: &Path, mentions: &[&str], what: &str) -> String {
    let f = open_in_child(store);
    assert_eq!(f.rv("INIT"), Some(CKR_FUNCTION_FAILED), "{what}: {f:#?}");
    let lines = f.stderr_lines();
    assert_eq!(lines.len(), 1, "{what}: one line on stderr: {lines:?}");
    for m in mentions {
        assert!(lines[0].contains(m), "{what}: the message should mention {m:?}: {}", lines[0]);
    }
    lines[0].to_string()
}

/// Builds the store every damage case starts from: public and private data
/// objects and two secret keys, finalised. Returns it with the expected labels and
/// slot 0's serial number.
fn damage_fixture() -> (Hsm, BTreeSet<String>, String) {
    let (mut h, s) = Hsm::ready();
    let mut expected = BTreeSet::new();
    for i in 0..20 {
        for (prefix, private) in [("pub", false), ("priv", true)] {
            let label = format!("{prefix}-{i}");
            h.create(s, &data_obj(&label, private)).unwrap();
            expected.insert(label);
        }
    }
    h.create(s, &aes_key("aes", &[7u8; 32]).bool(CKA_PRIVATE, true)).unwrap();
    h.create(
        s,
        &aes_key("aes-public", &[9u8; 16])
            .bool(CKA_PRIVATE, false)
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, true),
    )
    .unwrap();
    expected.extend(["aes".to_string(), "aes-public".to_string()]);
    let serial = String::from_utf8_lossy(&h.token_info(0).serialNumber).trim().to_string();
    h.finalize();
    (h, expected, serial)
}

#[test]
fn a_bad_device_key_file_is_refused_with_a_clear_message_and_loses_nothing() {
    let (h, expected, _) = damage_fixture();
    let store = h.dir.path().to_path_buf();
    let key = store.join("device.key");
    let key_name = key.display().to_string();
    assert_opens_with_everything(&store, &expected, "intact");

    // (a) Readable by others: refused, naming chmod; fixed, it opens with everything.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let msg = assert_refused(&store, &["chmod", &key_name], "device.key mode 0644");
    eprintln!("device.key 0644: {msg}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_opens_with_everything(&store, &expected, "device.key back to 0600");

    // (b) Missing: refused, naming the file; the store is not re-created over it.
    let bytes = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    let msg = assert_refused(&store, &[&key_name], "device.key missing");
    eprintln!("device.key missing: {msg}");
    assert!(!key.exists(), "a missing device key must not be replaced by a new one");
    // Wrong length: refused too.
    std::fs::write(&key, &bytes[..16]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let msg = assert_refused(&store, &[&key_name], "device.key of 16 bytes");
    eprintln!("device.key short: {msg}");
    std::fs::write(&key, &bytes).unwrap();
    assert_opens_with_everything(&store, &expected, "device.key restored");
}

/// One way of damaging the database.
struct Damage {
    name: &'static str,
    /// Damages the store; false when there is nothing to damage (no snapshot yet).
    apply: fn(&Path) -> bool,
}

/// Garbage (deterministic, non-zero) over `len` bytes of `file` from `at`.
fn garbage(file: &Path, at: u64, len: usize) {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    let junk: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(151).wrapping_add(77) | 1).collect();
    f.write_all(&junk).unwrap();
    f.sync_all().unwrap();
}

/// Where the written part of a file ends (sled preallocates segments with zeros).
fn written_len(file: &Path) -> u64 {
    let b = std::fs::read(file).unwrap();
    b.iter().rposition(|&x| x != 0).map_or(0, |i| i as u64 + 1)
}

fn snapshot_file(store: &Path) -> Option<PathBuf> {
    files_under(&store.join("db"))
        .into_iter()
        .find(|f| f.file_name().is_some_and(|n| n.to_string_lossy().starts_with("snap.")))
}

fn truncate(file: &Path, len: u64) {
    std::fs::OpenOptions::new().write(true).open(file).unwrap().set_len(len).unwrap();
}

const DAMAGES: &[Damage] = &[
    Damage {
        name: "(c) 4 KiB of garbage in the middle of the largest db file",
        apply: |s| {
            let f = largest_db_file(s);
            let len = std::fs::metadata(&f).unwrap().len();
            garbage(&f, len / 2, 4096);
            true
        },
    },
    Damage {
        name: "(c) 4 KiB of garbage in the middle of the written part of the largest db file",
        apply: |s| {
            let f = largest_db_file(s);
            garbage(&f, written_len(&f) / 2, 4096);
            true
        },
    },
    Damage {
        name: "(c) 64 bytes of garbage in the middle of the written part of the largest db file",
        apply: |s| {
            let f = largest_db_file(s);
            garbage(&f, written_len(&f) / 2, 64);
            true
        },
    },
    Damage {
        name: "(c) 64 bytes of garbage 300 bytes before the end of the written part of the largest db file",
        apply: |s| {
            let f = largest_db_file(s);
            garbage(&f, written_len(&f).saturating_sub(300), 64);
            true
        },
    },
    Damage {
        name: "(c) garbage over the first 4 KiB of the largest db file",
        apply: |s| {
            garbage(&largest_db_file(s), 0, 4096);
            true
        },
    },
    Damage {
        name: "(c) garbage in the middle of the snapshot file",
        apply: |s| {
            let Some(f) = snapshot_file(s) else { return false };
            let len = std::fs::metadata(&f).unwrap().len();
            garbage(&f, len / 2, 64.min(len as usize / 2));
            true
        },
    },
    Damage {
        name: "(d) the largest db file truncated to half its written part",
        apply: |s| {
            let f = largest_db_file(s);
            truncate(&f, written_len(&f) / 2);
            true
        },
    },
    Damage {
        name: "(d) the largest db file truncated to 0 bytes",
        apply: |s| {
            truncate(&largest_db_file(s), 0);
            true
        },
    },
    Damage {
        name: "(d) the snapshot file truncated to half",
        apply: |s| {
            let Some(f) = snapshot_file(s) else { return false };
            let len = std::fs::metadata(&f).unwrap().len();
            truncate(&f, len / 2);
            true
        },
    },
    Damage {
        name: "(d) db/conf truncated to 0 bytes",
        apply: |s| {
            truncate(&s.join("db/conf"), 0);
            true
        },
    },
];

/// What corrupting the database does. The test requires that the module answers:
/// C_Initialize returns one of its own error codes with a message on stderr, or it
/// opens the same device (same token serial, still initialised, the user PIN works)
/// and serves objects that are all intact. Never a crash, a hang, a panic, a
/// damaged object served as good, or the device silently replaced by a fresh one.
///
/// What it did when this test was written (sled 0.34.7; the fixture's log is ~50 KB
/// in `db/db`; sled writes its first snapshot, `db/snap.*`, when a store is opened
/// again, not while the first process writes):
/// - No snapshot yet ("as first written"):
///   - garbage (64 B or 4 KiB) in the middle of the log, or the log cut to half:
///     C_Initialize returns CKR_OK, nothing on stderr, and only the objects
///     written before the damaged spot are there (25 of 42). sled takes a checksum
///     failure for a torn write at the end of its log and drops everything after
///     it, so the loss is silent. Allowed here ("serve whatever survives").
///   - garbage 300 bytes before the end: the last object is dropped, silently (41/42).
///   - garbage over the log's first 4 KiB, or the log cut to 0 bytes: sled opens an
///     empty database, the store finds no device record and creates a fresh device
///     (new serial, uninitialised token, the old `device.key` kept). C_Initialize
///     returns CKR_OK with nothing on stderr, the user login says
///     CKR_USER_PIN_NOT_INITIALIZED, every object is gone. FAILS: a bug.
/// - With a snapshot ("after a reopen", with or without writes after it):
///   - damage to the log before the snapshot's LSN (middle, start, cut to half or
///     to 0) or to the snapshot itself: C_Initialize fails with a message ("store
///     database: Read corrupted data at file offset ...", sled's own "unexpected
///     corruption encountered in storage snapshot file ..." or "corrupt snapshot
///     file found"), but returns CKR_DEVICE_ERROR, which is not among
///     C_Initialize's return values. FAILS: a bug (it should be CKR_FUNCTION_FAILED).
///   - garbage in the log's last bytes, written after the snapshot: the objects
///     written there are dropped silently (51 of 52), as without a snapshot.
///   - garbage in the zero-filled, unwritten half of the log file: no effect.
/// - `db/conf` emptied: sled warns ("empty/corrupt configuration file found") and
///   rewrites it; everything is there.
#[test]
fn a_damaged_database_is_reported_or_served_never_a_crash() {
    let (mut h, expected, serial) = damage_fixture();
    let describe = |store: &Path| -> Vec<String> {
        files_under(store)
            .iter()
            .map(|f| {
                format!("{} ({} bytes)", f.strip_prefix(store).unwrap().display(), std::fs::metadata(f).unwrap().len())
            })
            .collect()
    };
    // Three starting points: the store as the process that wrote it left it (sled
    // has written no snapshot yet); the same store after one more open and close
    // (sled then has a snapshot beside its log); and that store with more objects
    // written after the snapshot.
    let first_write = tempfile::tempdir().unwrap();
    copy_dir(h.dir.path(), first_write.path());
    assert_opens_with_everything(h.dir.path(), &expected, "before the damage");
    let reopened = tempfile::tempdir().unwrap();
    copy_dir(h.dir.path(), reopened.path());
    h.initialize();
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    let mut expected_later = expected.clone();
    for i in 0..10 {
        let label = format!("later-{i}");
        h.create(s, &data_obj(&label, i % 2 == 0)).unwrap();
        expected_later.insert(label);
    }
    h.finalize();
    let states = [
        ("as first written", first_write.path(), &expected),
        ("after a reopen", reopened.path(), &expected),
        ("after a reopen and 10 more objects", h.dir.path(), &expected_later),
    ];
    let mut violations = Vec::new();
    for (state, pristine, expected) in states {
        eprintln!("store {state}: {:?}", describe(pristine));
        for d in DAMAGES {
            let work = tempfile::tempdir().unwrap();
            let store = work.path().join("store");
            copy_dir(pristine, &store);
            if !(d.apply)(&store) {
                eprintln!("store {state}, {}: nothing to damage", d.name);
                continue;
            }
            // Twice: the first open may recover (or make things worse); the second
            // shows what the first left behind.
            let mut before = Vec::new();
            for attempt in 1..=2 {
                let what = format!("store {state}, {} (open #{attempt})", d.name);
                let (outcome, problems) = judge_damaged_open(&store, expected, &serial);
                eprintln!("{what}: {outcome}");
                // A second open that goes wrong the same way says nothing new.
                let new: Vec<_> = problems.iter().filter(|p| !before.contains(*p)).cloned().collect();
                violations.extend(new.into_iter().map(|p| format!("{what}: {p}")));
                before = problems;
            }
        }
        // The undamaged copy still opens with everything.
        assert_opens_with_everything(pristine, expected, &format!("undamaged store {state}"));
    }
    assert!(violations.is_empty(), "damage handled badly:\n{}", violations.join("\n"));
}

/// Opens a damaged store in a child: what happened, and what was wrong with it.
fn judge_damaged_open(store: &Path, expected: &BTreeSet<String>, serial: &str) -> (String, Vec<String>) {
    let f = run_child("open", store, &[("DUR_PIN", String::from_utf8(USER_PIN.to_vec()).unwrap())]);
    let mut problems = Vec::new();
    if f.timed_out {
        problems.push(format!("the child hung: {f:?}"));
    }
    if let Some(sig) = f.status.signal() {
        problems.push(format!("the child died of signal {sig}: {f:?}"));
    } else if !f.status.success() {
        problems.push(format!("the child failed: {f:?}"));
    }
    if f.stderr.contains("panicked") {
        problems.push(format!("a panic inside the module: {:?}", f.stderr));
    }
    let Some(init) = f.rv("INIT") else {
        problems.push(format!("no C_Initialize result: {f:?}"));
        return ("no answer".into(), problems);
    };
    if init != CKR_OK {
        // PKCS#11 §5.4: C_Initialize returns nothing else (a store it cannot open
        // is CKR_FUNCTION_FAILED, as for a store in use or a bad key file).
        let allowed = [
            CKR_FUNCTION_FAILED,
            CKR_GENERAL_ERROR,
            CKR_HOST_MEMORY,
            CKR_ARGUMENTS_BAD,
            CKR_CANT_LOCK,
            CKR_NEED_TO_CREATE_THREADS,
        ];
        if !allowed.contains(&init) {
            problems.push(format!("C_Initialize returned {init:#x}, which is not a return value of C_Initialize"));
        }
        let lines = f.stderr_lines();
        if !lines.iter().any(|l| l.starts_with("ferrohsm: C_Initialize:")) {
            problems.push(format!("C_Initialize failed ({init:#x}) without saying why: {:?}", f.stderr));
        }
        return (format!("C_Initialize {init:#x}: {}", lines.join(" | ")), problems);
    }
    let shown: Vec<&str> = f.get("TOKEN").unwrap_or("").split_whitespace().collect();
    let flags = shown.get(2).and_then(|x| CK_FLAGS::from_str_radix(x.trim_start_matches("0x"), 16).ok()).unwrap_or(0);
    if shown.get(1) != Some(&serial) || flags & CKF_TOKEN_INITIALIZED == 0 {
        problems.push(format!(
            "C_Initialize returned CKR_OK, but slot 0 holds another token (serial {:?}, flags {flags:#x}; \
             was {serial:?}, initialised): the damaged device was silently replaced by a fresh one",
            shown.get(1)
        ));
    }
    let login = f.rv("LOGIN");
    if login != Some(CKR_OK) && problems.is_empty() {
        problems.push(format!("opened, but the user login returns {login:x?}"));
    }
    let (labels, bad) = listed(&f);
    if !bad.is_empty() {
        problems.push(format!("damaged objects served as good: {bad:?}"));
    }
    let strangers: Vec<_> = labels.difference(expected).collect();
    if !strangers.is_empty() {
        problems.push(format!("objects nobody made: {strangers:?}"));
    }
    if f.rv("FINALIZE") != Some(CKR_OK) {
        problems.push(format!("C_Finalize: {f:?}"));
    }
    let outcome = format!(
        "C_Initialize CKR_OK; token {}; login {:#x}; {} of {} objects served intact{}",
        f.get("TOKEN").unwrap_or("?"),
        login.unwrap_or(CKR_OK),
        labels.len(),
        expected.len(),
        if f.stderr.is_empty() { String::new() } else { format!("; stderr: {:?}", f.stderr.trim()) }
    );
    (outcome, problems)
}

// ---------------------------------------------------------------------------
// 6. Many threads at once.

#[test]
fn eight_threads_create_find_read_and_destroy_at_once_and_a_restart_agrees() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 200;
    let (mut h, _s) = Hsm::ready();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let h = &h;
            scope.spawn(move || {
                // Its own session; the user login is the token's, shared by all.
                let s = h.open(0, true);
                let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
                assert_eq!(call!(C_GetSessionInfo, s, &mut info), CKR_OK);
                assert_eq!(info.state, CKS_RW_USER_FUNCTIONS, "thread {t}: the login is shared");
                for j in 0..PER_THREAD {
                    let label = format!("mt-{t}-{j}");
                    let tmpl = data_obj(&label, (t + j) % 2 == 0).bytes(CKA_APPLICATION, b"mt");
                    h.create(s, &tmpl).unwrap_or_else(|rv| panic!("thread {t}: create {label}: {rv:#x}"));
                    let found = h.find(s, &Tmpl::new().label(&label));
                    assert_eq!(found.len(), 1, "thread {t}: find {label}");
                    assert_eq!(h.get(s, found[0], CKA_VALUE).unwrap(), value_for(&label), "thread {t}: read {label}");
                    if j % 2 == 1 {
                        // Destroy the even one before it.
                        let prev = format!("mt-{t}-{}", j - 1);
                        let found = h.find(s, &Tmpl::new().label(&prev));
                        assert_eq!(found.len(), 1, "thread {t}: find {prev}");
                        assert_eq!(h.get(s, found[0], CKA_VALUE).unwrap(), value_for(&prev));
                        assert_eq!(h.destroy(s, found[0]), CKR_OK, "thread {t}: destroy {prev}");
                        assert!(h.find(s, &Tmpl::new().label(&prev)).is_empty(), "thread {t}: {prev} destroyed");
                    }
                    if j % 50 == 0 {
                        let n = h.find(s, &Tmpl::new().bytes(CKA_APPLICATION, b"mt")).len();
                        assert!(n <= THREADS * PER_THREAD, "thread {t}: {n} objects");
                    }
                }
                assert_eq!(call!(C_CloseSession, s), CKR_OK);
            });
        }
    });
    eprintln!("{THREADS} threads x {PER_THREAD} creates + {} destroys: {:?}", PER_THREAD / 2, started.elapsed());
    let expected: BTreeSet<String> =
        (0..THREADS).flat_map(|t| (0..PER_THREAD).filter(|j| j % 2 == 1).map(move |j| format!("mt-{t}-{j}"))).collect();
    let check = |h: &Hsm, s, when: &str| {
        let found = h.find(s, &Tmpl::new().bytes(CKA_APPLICATION, b"mt"));
        assert_eq!(found.len(), expected.len(), "{when}: exact count");
        let mut labels = BTreeSet::new();
        for o in found {
            let label = String::from_utf8(h.get(s, o, CKA_LABEL).unwrap()).unwrap();
            assert_eq!(h.get(s, o, CKA_VALUE).unwrap(), value_for(&label), "{when}: {label}");
            labels.insert(label);
        }
        assert_eq!(labels, expected, "{when}: exactly the objects not destroyed");
    };
    let s = h.open(0, false);
    check(&h, s, "before restart");
    h.restart();
    let s = h.open(0, false);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    check(&h, s, "after restart");
}
