//! The measurements: one list of named rows, each a function run against one module.
//!
//! To add a row (the crypto rows of issue 3: ECDSA P-256 and RSA-2048 sign and verify,
//! AES-256-GCM on 1 MiB, two-thread scaling), write a `fn(&mut Bench) -> Outcome` and add
//! a [`Measurement`] to [`MEASUREMENTS`]; the table picks it up. Keys a row needs are made
//! through [`Bench::session`] like the objects here; [`per_call`] times anything.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use cryptoki_sys::*;

use crate::p11::{self, FALSE, Mechanism, Module, TRUE, Template};

/// Object counts, repetitions and time budgets of one run.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Token objects created by the timed create row.
    pub create: usize,
    /// Token objects in the store for the find and init+login rows.
    pub pool: usize,
    /// Fresh processes for the init+login row (the median is reported).
    pub login_runs: usize,
    /// Time given to each per-call row, after warm-up.
    pub budget: Duration,
}

impl Config {
    /// The counts of issue 2: 1,000 creates, 10,000 objects, 5 logins.
    pub const FULL: Config = Config { create: 1_000, pool: 10_000, login_runs: 5, budget: Duration::from_secs(2) };
    /// A smoke run.
    pub const QUICK: Config = Config { create: 200, pool: 2_000, login_runs: 3, budget: Duration::from_millis(300) };

    /// [`Config::QUICK`] or [`Config::FULL`].
    pub fn new(quick: bool) -> Config {
        if quick { Config::QUICK } else { Config::FULL }
    }
}

/// What a row's number means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    /// Operations per second; higher is better.
    PerSecond,
    /// Microseconds per call; lower is better.
    Micros,
    /// Milliseconds; lower is better.
    Millis,
}

impl Unit {
    /// Whether a higher value is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Unit::PerSecond)
    }
}

/// The speed ferrohsm must reach on a row.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// At least this many times the named peer's rate.
    TimesPeer(&'static str, f64),
    /// Strictly below this value (in the row's unit).
    Below(f64),
    /// At least this value (in the row's unit).
    #[expect(dead_code, reason = "for the crypto rows of issue 3, e.g. ECDSA P-256 sign ≥ 25,000/s")]
    AtLeast(f64),
}

/// One row's value for one module, or why it has none.
pub type Outcome = Result<f64, String>;

/// One row of the table.
pub struct Measurement {
    /// Stable key in the per-module result files.
    pub id: &'static str,
    /// The row's label, given the run's counts.
    pub title: fn(&Config) -> String,
    /// The unit of the number.
    pub unit: Unit,
    /// Issue 2's target for ferrohsm, where it sets one.
    pub target: Option<Target>,
    /// Runs it on the module behind `bench`.
    pub run: fn(&mut Bench) -> Outcome,
}

/// Every row, in table order. The init+login row runs last: it needs the module finalised.
pub const MEASUREMENTS: &[Measurement] = &[
    Measurement {
        id: "create",
        title: |c| format!("create {} token objects (objects/s)", thousands(c.create)),
        unit: Unit::PerSecond,
        target: Some(Target::TimesPeer("softhsm", 5.0)),
        run: create,
    },
    Measurement {
        id: "find",
        title: |c| format!("find by label among {} token objects (finds/s)", thousands(c.pool)),
        unit: Unit::PerSecond,
        target: Some(Target::TimesPeer("softhsm", 100.0)),
        run: find,
    },
    Measurement {
        id: "get_attribute",
        title: |_| "C_GetAttributeValue, CKA_LABEL (µs/call)".to_string(),
        unit: Unit::Micros,
        target: Some(Target::Below(2.0)),
        run: get_attribute,
    },
    Measurement {
        id: "digest",
        title: |_| "C_DigestInit + C_Digest, SHA-256 of 64 bytes (µs/call)".to_string(),
        unit: Unit::Micros,
        target: Some(Target::Below(2.0)),
        run: digest,
    },
    Measurement {
        id: "init_login",
        title: |c| format!("C_Initialize + C_OpenSession + C_Login, {} objects (ms)", thousands(c.pool)),
        unit: Unit::Millis,
        target: Some(Target::Below(300.0)),
        run: init_login,
    },
];

/// `12345` as `12,345`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One module under measurement, and the state rows share: a logged-in R/W session and
/// the token objects made so far (labels `bench-000000`, `bench-000001`, ...).
pub struct Bench {
    /// The module.
    pub p11: Module,
    /// Where it was loaded from (the init+login row loads it again in a child process).
    pub module_path: PathBuf,
    /// The token's slot.
    pub slot: CK_SLOT_ID,
    /// The user PIN.
    pub pin: Vec<u8>,
    /// Counts and budgets.
    pub config: Config,
    session: Option<CK_SESSION_HANDLE>,
    initialized: bool,
    objects: Vec<CK_OBJECT_HANDLE>,
}

impl Bench {
    /// Loads the module, initialises it and finds the token labelled `token_label`.
    pub fn new(module_path: PathBuf, token_label: &str, pin: &[u8], config: Config) -> Result<Bench, String> {
        let p11 = Module::load(&module_path)?;
        p11.initialize().map_err(|e| e.to_string())?;
        let slot = find_slot(&p11, token_label)?;
        Ok(Bench {
            p11,
            module_path,
            slot,
            pin: pin.to_vec(),
            config,
            session: None,
            initialized: true,
            objects: Vec::new(),
        })
    }

    /// The logged-in R/W session, opened (and the module initialised) on first use.
    pub fn session(&mut self) -> p11::Result<CK_SESSION_HANDLE> {
        if let Some(s) = self.session {
            return Ok(s);
        }
        if !self.initialized {
            self.p11.initialize()?;
            self.initialized = true;
        }
        let s = self.p11.open_session(self.slot, true)?;
        match self.p11.login(s, CKU_USER, &self.pin) {
            Ok(()) => {}
            Err(e) if e.rv == CKR_USER_ALREADY_LOGGED_IN => {}
            Err(e) => return Err(e),
        }
        self.session = Some(s);
        Ok(s)
    }

    /// Closes every session (ending any operation a failed row left active); the next
    /// [`Bench::session`] opens a new one and logs in again. Errors are ignored: this is
    /// cleanup after a failure.
    pub fn reset_session(&mut self) {
        if self.session.take().is_some() {
            let _ = self.p11.close_all_sessions(self.slot);
        }
    }

    /// Logs out, closes every session and finalises the module, so that another process
    /// may open the store (ferrohsm's sled store admits one process at a time).
    pub fn release(&mut self) -> p11::Result<()> {
        if let Some(s) = self.session.take() {
            self.p11.logout(s)?;
            self.p11.close_all_sessions(self.slot)?;
        }
        if self.initialized {
            self.p11.finalize()?;
            self.initialized = false;
        }
        // Handles need not survive C_Finalize.
        self.objects.clear();
        Ok(())
    }

    /// Creates the next `n` token objects and returns how long that took.
    fn create_objects(&mut self, n: usize) -> p11::Result<Duration> {
        let s = self.session()?;
        let class: CK_ULONG = CKO_DATA;
        let start = Instant::now();
        for _ in 0..n {
            let i = self.objects.len();
            let label = object_label(i);
            let value = object_value(i);
            let template = Template::new()
                .ulong(CKA_CLASS, &class)
                .bool(CKA_TOKEN, &TRUE)
                // Explicit, because the default differs between modules (SoftHSM's is
                // true): the same public object everywhere.
                .bool(CKA_PRIVATE, &FALSE)
                .bytes(CKA_LABEL, label.as_bytes())
                .bytes(CKA_VALUE, &value);
            let handle = self.p11.create_object(s, &template)?;
            self.objects.push(handle);
        }
        Ok(start.elapsed())
    }

    /// Makes sure the token holds at least `n` of the bench's objects.
    fn ensure_objects(&mut self, n: usize) -> p11::Result<()> {
        if self.objects.len() < n {
            self.create_objects(n - self.objects.len())?;
        }
        Ok(())
    }
}

/// The label of the bench's `i`-th token object.
fn object_label(i: usize) -> String {
    format!("bench-{i:06}")
}

/// The 32-byte value of the `i`-th object (distinct per object; its content is irrelevant).
fn object_value(i: usize) -> [u8; 32] {
    let mut v = [0u8; 32];
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for b in v.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    v
}

/// The slot whose token is labelled `label`.
pub fn find_slot(p11: &Module, label: &str) -> Result<CK_SLOT_ID, String> {
    let slots = p11.slot_list(true).map_err(|e| e.to_string())?;
    for &slot in &slots {
        if p11.token_label(slot).map_err(|e| e.to_string())? == label {
            return Ok(slot);
        }
    }
    Err(format!("no token labelled '{label}' among slots {slots:?}"))
}

/// Seconds per call of `op`: warm up and calibrate for a tenth of `budget`, then time
/// batches of about 10 ms for `budget` (at least 5 batches), and take the median batch.
pub fn per_call(budget: Duration, mut op: impl FnMut() -> p11::Result<()>) -> p11::Result<f64> {
    let warm = budget / 10;
    let start = Instant::now();
    let mut calls = 0u64;
    while calls < 3 || start.elapsed() < warm {
        op()?;
        calls += 1;
    }
    let per = start.elapsed().as_secs_f64() / calls as f64;
    let batch = ((0.010 / per) as u64).max(1);
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 5 || start.elapsed() < budget {
        let t = Instant::now();
        for _ in 0..batch {
            op()?;
        }
        samples.push(t.elapsed().as_secs_f64() / batch as f64);
    }
    Ok(median(&mut samples))
}

/// The median of `v` (the mean of the two middle values when even).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn fail(e: p11::Error) -> String {
    e.to_string()
}

/// Row: create `config.create` token data objects in a logged-in R/W session.
fn create(b: &mut Bench) -> Outcome {
    let n = b.config.create;
    let took = b.create_objects(n).map_err(fail)?;
    Ok(n as f64 / took.as_secs_f64())
}

/// Row: with `config.pool` token objects in the store, one find by a (unique) label:
/// C_FindObjectsInit({CKA_LABEL}), C_FindObjects, C_FindObjectsFinal. The labels looked
/// for walk the whole pool in a scattered order.
fn find(b: &mut Bench) -> Outcome {
    b.ensure_objects(b.config.pool).map_err(fail)?;
    let s = b.session().map_err(fail)?;
    let labels: Vec<String> = (0..b.config.pool).map(object_label).collect();
    let (p11, objects) = (&b.p11, &b.objects);
    // A stride coprime with the pool size visits every label once per lap.
    let stride = 7919 % labels.len().max(1);
    let mut next = 0usize;
    let secs = per_call(b.config.budget, || {
        let i = next;
        next = (next + stride) % labels.len();
        p11.find_objects_init(s, &Template::new().bytes(CKA_LABEL, labels[i].as_bytes()))?;
        let mut found = [0; 2];
        let n = p11.find_objects(s, &mut found);
        p11.find_objects_final(s)?;
        if n? != 1 || found[0] != objects[i] {
            // Wrong answers make the speed meaningless.
            return Err(p11::Error { call: "C_FindObjects (not exactly the one object)", rv: CKR_GENERAL_ERROR });
        }
        Ok(())
    })
    .map_err(fail)?;
    Ok(1.0 / secs)
}

/// Row: C_GetAttributeValue of CKA_LABEL, one attribute, buffer provided, on a token object.
fn get_attribute(b: &mut Bench) -> Outcome {
    b.ensure_objects(1).map_err(fail)?;
    let s = b.session().map_err(fail)?;
    let object = b.objects[b.objects.len() / 2];
    let mut buf = [0u8; 64];
    let secs = per_call(b.config.budget, || {
        let n = b.p11.get_attribute(s, object, CKA_LABEL, &mut buf)?;
        debug_assert_eq!(n, 12);
        Ok(())
    })
    .map_err(fail)?;
    Ok(secs * 1e6)
}

/// Row: C_DigestInit(CKM_SHA256) + C_Digest of 64 bytes, each call.
fn digest(b: &mut Bench) -> Outcome {
    let s = b.session().map_err(fail)?;
    let data = [0x5Au8; 64];
    let mut out = [0u8; 32];
    let mechanism = Mechanism::new(CKM_SHA256);
    let secs = per_call(b.config.budget, || {
        b.p11.digest_init(s, &mechanism)?;
        b.p11.digest(s, &data, &mut out)?;
        Ok(())
    })
    .map_err(fail)?;
    Ok(secs * 1e6)
}

/// Row: in a fresh process, on a store of `config.pool` objects, C_Initialize +
/// C_OpenSession + user C_Login (timed in the child by [`login_once`]; median of runs).
fn init_login(b: &mut Bench) -> Outcome {
    b.ensure_objects(b.config.pool).map_err(fail)?;
    b.release().map_err(fail)?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // Per run: C_Initialize, C_OpenSession, C_Login (ms).
    let mut runs: Vec<[f64; 3]> = Vec::new();
    for _ in 0..b.config.login_runs {
        let out = Command::new(&exe)
            .arg("login-once")
            .arg("--module")
            .arg(&b.module_path)
            .args(["--slot", &b.slot.to_string()])
            .arg("--pin")
            .arg(String::from_utf8_lossy(&b.pin).as_ref())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!("login-once: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        let parsed: Vec<f64> = stdout.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        let [init, open, login] = parsed[..] else {
            return Err(format!("login-once printed '{}'", stdout.trim()));
        };
        runs.push([init, open, login]);
    }
    let mut totals: Vec<f64> = runs.iter().map(|r| r.iter().sum()).collect();
    let phase = |i: usize| median(&mut runs.iter().map(|r| r[i]).collect::<Vec<_>>());
    let (init, open, login) = (phase(0), phase(1), phase(2));
    eprintln!(
        "    init+login runs (ms): {totals:.1?}; medians: C_Initialize {init:.1}, C_OpenSession {open:.2}, C_Login {login:.1}"
    );
    Ok(median(&mut totals))
}

/// The child of the init+login row: loads the module, then times C_Initialize,
/// C_OpenSession (R/W) and C_Login(CKU_USER). Returns milliseconds for each of the three
/// calls. Loading the library (dlopen) and cleaning up afterwards are not timed.
pub fn login_once(module_path: &std::path::Path, slot: CK_SLOT_ID, pin: &[u8]) -> Result<[f64; 3], String> {
    let p11 = Module::load(module_path)?;
    let t0 = Instant::now();
    p11.initialize().map_err(fail)?;
    let t1 = Instant::now();
    let s = p11.open_session(slot, true).map_err(fail)?;
    let t2 = Instant::now();
    p11.login(s, CKU_USER, pin).map_err(fail)?;
    let t3 = Instant::now();
    p11.logout(s).map_err(fail)?;
    p11.close_all_sessions(slot).map_err(fail)?;
    p11.finalize().map_err(fail)?;
    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
    Ok([ms(t0, t1), ms(t1, t2), ms(t2, t3)])
}

/// Initialises the token in `slot` for the bench: C_InitToken, SO login, C_InitPIN.
pub fn init_token(p11: &Module, slot: CK_SLOT_ID, label: &str, so_pin: &[u8], pin: &[u8]) -> p11::Result<()> {
    p11.init_token(slot, so_pin, label)?;
    let s = p11.open_session(slot, true)?;
    p11.login(s, CKU_SO, so_pin)?;
    p11.init_pin(s, pin)?;
    p11.logout(s)?;
    p11.close_all_sessions(slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn labels_are_unique_and_values_differ() {
        assert_eq!(object_label(7), "bench-000007");
        assert_ne!(object_value(1), object_value(2));
    }

    #[test]
    fn per_call_times_and_propagates_errors() {
        let secs = per_call(Duration::from_millis(20), || Ok(())).unwrap();
        assert!(secs < 1e-3);
        let mut n = 0;
        let err = per_call(Duration::from_millis(20), || {
            n += 1;
            if n > 10 { Err(p11::Error { call: "C_Test", rv: CKR_GENERAL_ERROR }) } else { Ok(()) }
        });
        assert_eq!(err.unwrap_err().call, "C_Test");
    }
}
