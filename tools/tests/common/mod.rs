//! Test harness: runs the built `ferrohsm` binary against a fresh store in a temporary
//! directory, with the module built by this same `cargo test`.
//!
//! The module lets one process at a time open a store, so each test has its own
//! store and never runs two processes on it at once.
//!
//! Checks that need PKCS#11 from the test's side (`C_GetSlotList`, seeding objects)
//! run in a child: this test binary re-run with `--exact helper` and the store in
//! its environment. The module reads `FERROHSM_STORE` at `C_Initialize`, and setting
//! the variable in a process whose tests run on many threads is not sound.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

/// The device SO PIN the tests use.
pub const SO_PIN: &str = "device-so-1234";
/// A partition SO PIN.
pub const PART_SO_PIN: &str = "part-so-5678";
/// A user PIN.
pub const USER_PIN: &str = "user-9012";

/// The module to test with: `FERROHSM_TEST_MODULE`, else the one this `cargo test`
/// built (the dev-dependency on ferrohsm-pkcs11 puts it in `target/<profile>/deps/`),
/// else `target/<profile>/libferrohsm_pkcs11.so`, else the other profile's.
pub fn module_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FERROHSM_TEST_MODULE") {
        return PathBuf::from(p);
    }
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_ferrohsm"));
    let profile = exe.parent().expect("target/<profile>");
    let target = profile.parent().expect("target/");
    let candidates = [
        profile.join("deps/libferrohsm_pkcs11.so"),
        profile.join("libferrohsm_pkcs11.so"),
        target.join("debug/libferrohsm_pkcs11.so"),
        target.join("release/libferrohsm_pkcs11.so"),
    ];
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => p.clone(),
        None => panic!(
            "libferrohsm_pkcs11.so not found (looked at {candidates:?}): run \
             `cargo build -p ferrohsm-pkcs11` first"
        ),
    }
}

/// A fresh store and a way to run `ferrohsm` on it.
pub struct Store {
    pub dir: tempfile::TempDir,
}

impl Store {
    pub fn new() -> Store {
        Store { dir: tempfile::tempdir().expect("tempdir") }
    }

    /// The store directory (created by the module on first use).
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// A command with this store and the test module, and none of the caller's
    /// ferrohsm settings.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env("FERROHSM_STORE", self.path())
            .env("FERROHSM_MODULE", module_path())
            .env_remove("FERROHSM_CONF")
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env_remove("FERROHSM_PIN")
            .env_remove("FERROHSM_SO_PIN")
            .env_remove("FERROHSM_LOG")
            .stdin(Stdio::null());
        c
    }

    /// Runs `ferrohsm args...` to the end.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// Runs `ferrohsm args...` with extra environment variables.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(Path::new(env!("CARGO_BIN_EXE_ferrohsm")));
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("run ferrohsm");
        let run = Run::from(out, format!("ferrohsm {}", args.join(" ")));
        // No command ever prints a PIN, whatever happens.
        for pin in [SO_PIN, PART_SO_PIN, USER_PIN, "wrong-pin-000"] {
            assert!(!run.stdout.contains(pin) && !run.stderr.contains(pin), "{} printed a PIN:\n{run:?}", run.what);
        }
        run
    }

    /// Runs `ferrohsm args...` and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, Some(0), "{} failed:\n{r:?}", r.what);
        r.stdout
    }

    /// `device init` with [`SO_PIN`].
    pub fn init_device(&self) {
        let out = self.ok(&["device", "init", "--label", "device", "--so-pin", SO_PIN]);
        assert!(out.contains("initialised"), "{out}");
    }

    /// `partition create --label label extra...`; returns the new slot.
    pub fn create_partition(&self, label: &str, extra: &[&str]) -> u64 {
        let mut args = vec!["partition", "create", "--label", label, "--so-pin", SO_PIN];
        args.extend_from_slice(extra);
        let out = self.ok(&args);
        created_slot(&out)
    }

    /// Runs a PKCS#11 helper (see `tests/cli.rs`) in a child process on this store
    /// and returns its report lines.
    pub fn helper(&self, action: &str, env: &[(&str, &str)]) -> Vec<String> {
        let exe = std::env::current_exe().expect("test binary");
        let mut c = self.command(&exe);
        c.args(["helper", "--exact", "--nocapture", "--test-threads=1"]).env("FERROHSM_TEST_HELPER", action);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("run the helper");
        let run = Run::from(out, format!("helper {action}"));
        assert_eq!(run.code, Some(0), "helper {action} failed:\n{run:?}");
        run.stdout
            .lines()
            // With --nocapture, libtest's "test helper ... " shares the first line.
            .filter_map(|l| l.find("REPORT ").map(|i| l[i + "REPORT ".len()..].to_owned()))
            .collect()
    }
}

/// What a finished process left.
pub struct Run {
    pub what: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output, what: String) -> Run {
        Run {
            what,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: exit {:?}\n--- stdout\n{}--- stderr\n{}", self.what, self.code, self.stdout, self.stderr)
    }
}

/// The slot in `created partition "L" in slot N`.
pub fn created_slot(out: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("created partition"))
        .unwrap_or_else(|| panic!("no 'created partition' line in:\n{out}"));
    line.rsplit(' ').next().unwrap().parse().expect("slot number")
}

/// The slots of a `status` output, in order, with their lines (until the next slot).
pub fn status_slots(out: &str) -> Vec<(u64, Vec<String>)> {
    let mut slots: Vec<(u64, Vec<String>)> = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("slot ") {
            let id = rest.split(':').next().unwrap().parse().expect("slot id");
            slots.push((id, Vec::new()));
        } else if let Some((_, lines)) = slots.last_mut()
            && !line.is_empty()
        {
            lines.push(line.trim().to_owned());
        }
    }
    slots
}

/// One row of `partition list`.
#[derive(Debug, PartialEq, Eq)]
pub struct Row {
    pub slot: u64,
    pub label: String,
    pub min_pin: String,
    pub max_failures: String,
    pub read_only: String,
    pub allow_export: String,
    pub key_invalidation: String,
}

/// Parses `partition list` (the label may be empty or hold spaces: the policy
/// columns are read from the right).
pub fn list_rows(out: &str) -> Vec<Row> {
    let mut lines = out.lines();
    let header = lines.next().expect("header");
    assert!(header.starts_with("SLOT"), "{out}");
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let n = words.len();
            assert!(n >= 6, "short row {l:?}");
            Row {
                slot: words[0].parse().expect("slot"),
                label: words[1..n - 5].join(" "),
                min_pin: words[n - 5].into(),
                max_failures: words[n - 4].into(),
                read_only: words[n - 3].into(),
                allow_export: words[n - 2].into(),
                key_invalidation: words[n - 1].into(),
            }
        })
        .collect()
}

/// Whether `program` is on the `PATH`. A test that needs it skips without it, except
/// under CI (`CI=true`), where ci/deps.sh installs it: there a missing tool fails the
/// test instead of letting it pass having checked nothing.
pub fn have_tool(program: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    have(program, found)
}

/// Whether an outside tool a test needs is there (`found`), with the same rule as
/// [`have_tool`]: skipped without it, failed under `CI=true`.
pub fn have(tool: &str, found: bool) -> bool {
    if !found {
        missing(tool);
    }
    found
}

/// p11-kit's client module, where the distribution puts it (see [`have_tool`] for
/// what happens when it is missing).
pub fn p11_kit_client() -> Option<&'static str> {
    let found = [
        "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
        "/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so",
        "/usr/lib64/pkcs11/p11-kit-client.so",
        "/usr/lib/pkcs11/p11-kit-client.so",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file());
    if found.is_none() {
        missing("p11-kit-client.so (package p11-kit-modules)");
    }
    found
}

/// Panics under CI, where `what` must be installed; else says the test is skipped.
fn missing(what: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} is missing, and under CI=true that fails the test (ci/deps.sh installs it)");
    }
    eprintln!("skipped: {what} is not installed");
}

/// A running `ferrohsm serve` on a store; stopped with SIGTERM when dropped.
pub struct Serve {
    pub child: Option<std::process::Child>,
    pub socket: PathBuf,
}

impl Serve {
    /// Starts `ferrohsm global... serve --socket <store dir>/p11.sock` and waits for
    /// its socket.
    pub fn start(store: &Store, global: &[&str]) -> Serve {
        let socket = store.dir.path().join("p11.sock");
        let mut c = store.command(Path::new(env!("CARGO_BIN_EXE_ferrohsm")));
        c.args(global)
            .args(["serve", "--socket", socket.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("start ferrohsm serve");
        let start = std::time::Instant::now();
        // The socket answers (a stale socket file may be there before the server).
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            if start.elapsed() > std::time::Duration::from_secs(30) || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "no socket from ferrohsm serve:\n{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Serve { child: Some(child), socket }
    }

    /// `P11_KIT_SERVER_ADDRESS` for clients.
    pub fn address(&self) -> String {
        format!("unix:path={}", self.socket.display())
    }

    /// Stops the server with SIGTERM and returns what it printed.
    pub fn stop(mut self) -> Run {
        let child = self.child.take().unwrap();
        let pid = child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        Run::from(child.wait_with_output().unwrap(), "ferrohsm serve".into())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let _ = c.wait();
        }
    }
}

/// The PKCS#11 side of tests, run in a child process (see [`Store::helper`]): each
/// test binary that uses it has a `#[test] fn helper()` that calls this. Does nothing unless `FERROHSM_TEST_HELPER` names an action:
///
/// - `slots`: one `REPORT slot ID DESCRIPTION | LABEL | initialised` per slot.
/// - `seed`: on slot `FERROHSM_TEST_SLOT`, initialise the token (SO PIN
///   [`PART_SO_PIN`], label "seeded"), set the user PIN [`USER_PIN`], and create one
///   public and one private data object.
pub fn helper_main() {
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
