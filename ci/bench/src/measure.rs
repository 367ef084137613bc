//! The measurements: one list of named rows, each a function run against one module.
//!
//! To add a row, write a `fn(&mut Bench) -> Outcome` and add a [`Measurement`] to
//! [`MEASUREMENTS`]; the table picks it up. Rows run in the list's order in one process;
//! [`per_call`] times anything.
//!
//! The rows of issue 2 time the token and its store; the crypto rows of issue 3 time
//! signatures and encryption with token keys that each module generates itself, with the
//! same mechanism and the same templates everywhere ([`Bench::ec_key`], [`Bench::rsa_key`],
//! [`Bench::aes_key`]).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use cryptoki_sys::*;

use crate::cpu;
use crate::p11::{self, FALSE, GcmParams, Mechanism, Module, TRUE, Template};

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
    /// Gigabytes (10^9 bytes) per second; higher is better.
    GigabytesPerSecond,
    /// A ratio of two rates of the same module; higher is better.
    Times,
}

impl Unit {
    /// Whether a higher value is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Unit::PerSecond | Unit::GigabytesPerSecond | Unit::Times)
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
    /// The target for ferrohsm (issue 2's or issue 3's), where one is set.
    pub target: Option<Target>,
    /// Runs it on the module behind `bench`.
    pub run: fn(&mut Bench) -> Outcome,
    /// How many CPUs the row keeps busy (the bench's threads; the module's work runs in
    /// them). A row is marked when other processes crowded those CPUs.
    pub threads: usize,
    /// Runs before the other rows, on the freshly initialised token (which then holds only
    /// the keys these rows make): the crypto rows, so that they time the cryptography and
    /// not how a module finds a key among thousands of objects.
    pub first: bool,
    /// A mechanism the row needs: a module that does not list it (`C_GetMechanismList`)
    /// skips the row, which shows as "–" (ferrohsm's vendor mechanisms, which no peer has).
    pub needs: Option<CK_MECHANISM_TYPE>,
}

/// [`MEASUREMENTS`] in the order they run: those marked [`Measurement::first`], then the
/// others, each group in table order.
pub fn run_order() -> impl Iterator<Item = &'static Measurement> {
    MEASUREMENTS.iter().filter(|m| m.first).chain(MEASUREMENTS.iter().filter(|m| !m.first))
}

/// Every row, in table order. They run in [`run_order`]: the crypto rows first, on the
/// fresh token; then the store rows in this order, the init+login row last (it needs the
/// module finalised).
pub const MEASUREMENTS: &[Measurement] = &[
    Measurement {
        id: "create",
        title: |c| format!("create {} token objects (objects/s)", thousands(c.create)),
        unit: Unit::PerSecond,
        target: Some(Target::TimesPeer("softhsm", 5.0)),
        run: create,
        threads: 1,
        first: false,
        needs: None,
    },
    Measurement {
        id: "find",
        title: |c| format!("find by label among {} token objects (finds/s)", thousands(c.pool)),
        unit: Unit::PerSecond,
        target: Some(Target::TimesPeer("softhsm", 100.0)),
        run: find,
        threads: 1,
        first: false,
        needs: None,
    },
    Measurement {
        id: "get_attribute",
        title: |_| "C_GetAttributeValue, CKA_LABEL (µs/call)".to_string(),
        unit: Unit::Micros,
        target: Some(Target::Below(2.0)),
        run: get_attribute,
        threads: 1,
        first: false,
        needs: None,
    },
    Measurement {
        id: "digest",
        title: |_| "C_DigestInit + C_Digest, SHA-256 of 64 bytes (µs/call)".to_string(),
        unit: Unit::Micros,
        target: Some(Target::Below(2.0)),
        run: digest,
        threads: 1,
        first: false,
        needs: None,
    },
    Measurement {
        id: "ecdsa_p256_sign",
        title: |_| "ECDSA P-256 sign, CKM_ECDSA of a SHA-256 hash (signatures/s)".to_string(),
        unit: Unit::PerSecond,
        target: Some(Target::AtLeast(25_000.0)),
        run: ecdsa_sign,
        threads: 1,
        first: true,
        needs: None,
    },
    Measurement {
        id: "ecdsa_p256_verify",
        title: |_| "ECDSA P-256 verify, CKM_ECDSA of a SHA-256 hash (verifications/s)".to_string(),
        unit: Unit::PerSecond,
        target: Some(Target::AtLeast(8_000.0)),
        run: ecdsa_verify,
        threads: 1,
        first: true,
        needs: None,
    },
    Measurement {
        id: "rsa2048_sign",
        title: |_| "RSA-2048 sign, CKM_SHA256_RSA_PKCS of 32 bytes (signatures/s)".to_string(),
        unit: Unit::PerSecond,
        target: Some(Target::AtLeast(800.0)),
        run: rsa_sign,
        threads: 1,
        first: true,
        needs: None,
    },
    Measurement {
        id: "rsa2048_verify",
        title: |_| "RSA-2048 verify, CKM_SHA256_RSA_PKCS of 32 bytes (verifications/s)".to_string(),
        unit: Unit::PerSecond,
        target: Some(Target::AtLeast(20_000.0)),
        run: rsa_verify,
        threads: 1,
        first: true,
        needs: None,
    },
    Measurement {
        id: "mldsa65_sign",
        title: |_| "ML-DSA-65 sign, CKM_ML_DSA of 32 bytes, hedged (signatures/s)".to_string(),
        unit: Unit::PerSecond,
        target: None,
        run: mldsa_sign,
        threads: 1,
        first: true,
        needs: Some(CKM_ML_DSA),
    },
    Measurement {
        id: "mldsa65_verify",
        title: |_| "ML-DSA-65 verify, CKM_ML_DSA of 32 bytes (verifications/s)".to_string(),
        unit: Unit::PerSecond,
        target: None,
        run: mldsa_verify,
        threads: 1,
        first: true,
        needs: Some(CKM_ML_DSA),
    },
    Measurement {
        id: "mlkem768_encapsulate",
        title: |_| "ML-KEM-768 C_EncapsulateKey to a 32-byte session key, + C_DestroyObject (per second)".to_string(),
        unit: Unit::PerSecond,
        target: None,
        run: mlkem_encapsulate,
        threads: 1,
        first: true,
        needs: Some(CKM_ML_KEM),
    },
    Measurement {
        id: "mlkem768_decapsulate",
        title: |_| "ML-KEM-768 C_DecapsulateKey to a 32-byte session key, + C_DestroyObject (per second)".to_string(),
        unit: Unit::PerSecond,
        target: None,
        run: mlkem_decapsulate,
        threads: 1,
        first: true,
        needs: Some(CKM_ML_KEM),
    },
    Measurement {
        id: "aes256_gcm_1mib",
        title: |_| "AES-256-GCM encrypt, 1 MiB single-part (GB/s)".to_string(),
        unit: Unit::GigabytesPerSecond,
        target: Some(Target::AtLeast(2.0)),
        run: aes_gcm_encrypt,
        threads: 1,
        first: true,
        needs: None,
    },
    Measurement {
        id: "ecdsa_p256_sign_2threads",
        title: |_| "ECDSA P-256 sign, two threads at once, total (signatures/s)".to_string(),
        unit: Unit::PerSecond,
        target: None,
        run: ecdsa_sign_two_threads,
        threads: 2,
        first: true,
        needs: None,
    },
    Measurement {
        id: "ecdsa_p256_sign_scaling",
        title: |_| "ECDSA P-256 sign, two threads over one thread (×)".to_string(),
        unit: Unit::Times,
        target: Some(Target::AtLeast(1.8)),
        run: ecdsa_sign_scaling,
        threads: 2,
        first: true,
        needs: None,
    },
    Measurement {
        id: "key_attestation",
        title: |_| {
            "key attestation certificate of an EC P-256 key, CKM_FERRO_KEY_ATTEST_CERT with a 32-byte nonce (µs)"
                .to_string()
        },
        unit: Unit::Micros,
        target: Some(Target::Below(1_000.0)),
        run: key_attestation,
        threads: 1,
        first: true,
        needs: Some(CKM_FERRO_KEY_ATTEST_CERT),
    },
    Measurement {
        id: "ec_p256_keygen",
        title: |_| {
            "EC P-256 token key pair generation, with its attestation certificate where the module attests \
             (pairs/s)"
                .to_string()
        },
        unit: Unit::PerSecond,
        target: Some(Target::AtLeast(1_000.0)),
        run: ec_keygen,
        threads: 1,
        first: true,
        needs: None,
    },
    Measurement {
        id: "ecdsa_p256_sign_usage",
        title: |_| "ECDSA P-256 sign with key usage counted in the audit log, over not counted (×)".to_string(),
        unit: Unit::Times,
        target: Some(Target::AtLeast(0.95)),
        run: ecdsa_sign_usage,
        threads: 1,
        first: true,
        // ferrohsm's own configuration switch (`audit_key_usage`): only a module that
        // lists ferrohsm's attestation mechanism is ferrohsm.
        needs: Some(CKM_FERRO_KEY_ATTEST_CERT),
    },
    Measurement {
        id: "init_login",
        title: |c| format!("C_Initialize + C_OpenSession + C_Login, {} objects (ms)", thousands(c.pool)),
        unit: Unit::Millis,
        target: Some(Target::Below(300.0)),
        run: init_login,
        threads: 1,
        first: false,
        needs: None,
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
    /// The token's label (children find the slot by it).
    pub token_label: String,
    /// The token's slot.
    pub slot: CK_SLOT_ID,
    /// The user PIN.
    pub pin: Vec<u8>,
    /// Counts and budgets.
    pub config: Config,
    session: Option<CK_SESSION_HANDLE>,
    initialized: bool,
    objects: Vec<CK_OBJECT_HANDLE>,
    keys: Keys,
    others: Option<f64>,
    mechanisms: Option<Vec<CK_MECHANISM_TYPE>>,
}

/// A key pair's two token objects.
#[derive(Clone, Copy, Debug)]
pub struct KeyPair {
    /// The public key (`CKA_VERIFY`).
    pub public: CK_OBJECT_HANDLE,
    /// The private key (`CKA_SIGN`).
    pub private: CK_OBJECT_HANDLE,
}

/// Results the crypto rows share, each made once per run: the keys (or why the module
/// could not make them, so a failure is not retried row after row) and the two-thread
/// measurement, which gives two rows.
#[derive(Default)]
struct Keys {
    ec: Option<Result<KeyPair, String>>,
    rsa: Option<Result<KeyPair, String>>,
    mldsa: Option<Result<KeyPair, String>>,
    mlkem: Option<Result<KeyPair, String>>,
    aes: Option<Result<CK_OBJECT_HANDLE, String>>,
    scaling: Option<Result<Scaling, String>>,
}

impl Keys {
    /// Forgets the keys made (not the failures to make one: those are not retried).
    fn forget_handles(&mut self) {
        if matches!(self.ec, Some(Ok(_))) {
            self.ec = None;
        }
        if matches!(self.rsa, Some(Ok(_))) {
            self.rsa = None;
        }
        if matches!(self.mldsa, Some(Ok(_))) {
            self.mldsa = None;
        }
        if matches!(self.mlkem, Some(Ok(_))) {
            self.mlkem = None;
        }
        if matches!(self.aes, Some(Ok(_))) {
            self.aes = None;
        }
    }
}

/// One thread's and two threads' signing rates, measured together, and the CPUs other
/// processes kept busy meanwhile.
#[derive(Clone, Copy, Debug)]
struct Scaling {
    one: f64,
    two: f64,
    others: Option<f64>,
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
            token_label: token_label.to_string(),
            slot,
            pin: pin.to_vec(),
            config,
            session: None,
            initialized: true,
            objects: Vec::new(),
            keys: Keys::default(),
            others: None,
            mechanisms: None,
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
            // Closing the last session logs the user out, and a module may then let go of
            // the handles of private objects: keys are made again when next needed.
            self.keys.forget_handles();
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
        self.keys = Keys::default();
        Ok(())
    }

    /// The CPUs other processes kept busy during the part of the row just run that
    /// counts, where the row measured it itself (see [`crate::cpu`]); the caller
    /// measures around the whole row otherwise.
    pub fn take_others(&mut self) -> Option<f64> {
        self.others.take()
    }

    /// Whether the token lists `mechanism` (`C_GetMechanismList`, asked once).
    pub fn offers(&mut self, mechanism: CK_MECHANISM_TYPE) -> Result<bool, String> {
        if self.mechanisms.is_none() {
            self.mechanisms = Some(self.p11.mechanism_list(self.slot).map_err(fail)?);
        }
        Ok(self.mechanisms.as_ref().expect("set above").contains(&mechanism))
    }

    /// The token's ECDSA P-256 key pair, generated on first use ([`generate_ec_p256`]).
    pub fn ec_key(&mut self) -> Result<KeyPair, String> {
        if self.keys.ec.is_none() {
            let made =
                self.session().and_then(|s| timed_keygen("EC P-256 key pair", || generate_ec_p256(&self.p11, s)));
            self.keys.ec = Some(made.map_err(|e| format!("key generation: {e}")));
        }
        self.keys.ec.clone().expect("set above")
    }

    /// The token's RSA-2048 key pair, generated on first use ([`generate_rsa_2048`]).
    pub fn rsa_key(&mut self) -> Result<KeyPair, String> {
        if self.keys.rsa.is_none() {
            let made =
                self.session().and_then(|s| timed_keygen("RSA-2048 key pair", || generate_rsa_2048(&self.p11, s)));
            self.keys.rsa = Some(made.map_err(|e| format!("key generation: {e}")));
        }
        self.keys.rsa.clone().expect("set above")
    }

    /// The token's ML-DSA-65 key pair, generated on first use ([`generate_ml_dsa_65`]).
    pub fn mldsa_key(&mut self) -> Result<KeyPair, String> {
        if self.keys.mldsa.is_none() {
            let made =
                self.session().and_then(|s| timed_keygen("ML-DSA-65 key pair", || generate_ml_dsa_65(&self.p11, s)));
            self.keys.mldsa = Some(made.map_err(|e| format!("key generation: {e}")));
        }
        self.keys.mldsa.clone().expect("set above")
    }

    /// The token's ML-KEM-768 key pair, generated on first use ([`generate_ml_kem_768`]).
    /// `public` encapsulates, `private` decapsulates.
    pub fn mlkem_key(&mut self) -> Result<KeyPair, String> {
        if self.keys.mlkem.is_none() {
            let made =
                self.session().and_then(|s| timed_keygen("ML-KEM-768 key pair", || generate_ml_kem_768(&self.p11, s)));
            self.keys.mlkem = Some(made.map_err(|e| format!("key generation: {e}")));
        }
        self.keys.mlkem.clone().expect("set above")
    }

    /// The token's AES-256 key, generated on first use ([`generate_aes_256`]).
    pub fn aes_key(&mut self) -> Result<CK_OBJECT_HANDLE, String> {
        if self.keys.aes.is_none() {
            let made = self.session().and_then(|s| timed_keygen("AES-256 key", || generate_aes_256(&self.p11, s)));
            self.keys.aes = Some(made.map_err(|e| format!("key generation: {e}")));
        }
        self.keys.aes.clone().expect("set above")
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

/// The 32 bytes the RSA rows sign with `CKM_SHA256_RSA_PKCS` (which hashes them first).
const MESSAGE: [u8; 32] = *b"ferrohsm-bench: 32 bytes to sign";

/// The SHA-256 hash of [`MESSAGE`]: what the ECDSA rows sign with `CKM_ECDSA`, which
/// takes the hash from the caller (SoftHSM 2.6 has no `CKM_ECDSA_SHA256`, and `CKM_ECDSA`
/// is what libp11 and most PKCS#11 consumers call).
const MESSAGE_SHA256: [u8; 32] = [
    0x8d, 0xfe, 0x97, 0xd1, 0x96, 0x98, 0xce, 0x64, 0xaa, 0x6f, 0x04, 0xc9, 0x5a, 0x9c, 0x1b, 0xf5, 0x5f, 0xad, 0xb4,
    0xb7, 0xfd, 0x95, 0xfd, 0xdc, 0xc4, 0xac, 0xf7, 0xbc, 0x67, 0x6a, 0x7a, 0x77,
];

/// `CKA_EC_PARAMS` of P-256: the DER of its named-curve OID, 1.2.840.10045.3.1.7.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

/// An ECDSA P-256 signature in PKCS#11's r || s form.
const ECDSA_P256_SIGNATURE_LEN: usize = 64;

/// An RSA-2048 signature.
const RSA_2048_SIGNATURE_LEN: usize = 256;

/// An ML-DSA-65 signature's length (FIPS 204 Table 2).
const ML_DSA_65_SIGNATURE_LEN: usize = 3309;

/// An ML-KEM-768 ciphertext's length (FIPS 203 Table 3).
const ML_KEM_768_CIPHERTEXT_LEN: usize = 1088;

/// The plaintext of the AES-GCM row: 1 MiB.
const GCM_DATA_LEN: usize = 1 << 20;

/// The AES-GCM tag: 16 bytes.
const GCM_TAG_LEN: usize = 16;

/// ferrohsm's vendor mechanism (DESIGN.md): `C_SignInit` on a key, `C_Sign` over a
/// nonce of up to 64 bytes gives a DER X.509 certificate of the key's public key with
/// the token's claims about it, signed by the partition's attestation key.
pub const CKM_FERRO_KEY_ATTEST_CERT: CK_MECHANISM_TYPE = 0xC648_0001;

/// The nonce of the attestation row: 32 bytes, as a CA's challenge would be.
const NONCE: [u8; 32] = *b"ferrohsm-bench: 32 bytes, nonce!";

/// Room for an attestation certificate (about 700 bytes for a P-256 key).
const ATTESTATION_ROOM: usize = 4096;

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The private half of every key pair: a token object, private, sensitive and not
/// extractable (what an HSM key is), for signing.
fn private_key_template(label: &'static [u8]) -> Template<'static> {
    Template::new()
        .bool(CKA_TOKEN, &TRUE)
        .bool(CKA_PRIVATE, &TRUE)
        .bool(CKA_SENSITIVE, &TRUE)
        .bool(CKA_EXTRACTABLE, &FALSE)
        .bool(CKA_SIGN, &TRUE)
        .bytes(CKA_LABEL, label)
}

/// Generates the token's ECDSA P-256 key pair: `C_GenerateKeyPair(CKM_EC_KEY_PAIR_GEN)`,
/// both halves token objects, the curve by its OID.
pub fn generate_ec_p256(p11: &Module, s: CK_SESSION_HANDLE) -> p11::Result<KeyPair> {
    generate_ec_p256_labelled(p11, s, b"bench-ecdsa-p256")
}

/// [`generate_ec_p256`] with another label.
fn generate_ec_p256_labelled(p11: &Module, s: CK_SESSION_HANDLE, label: &'static [u8]) -> p11::Result<KeyPair> {
    let public = Template::new()
        .bool(CKA_TOKEN, &TRUE)
        .bool(CKA_PRIVATE, &FALSE)
        .bool(CKA_VERIFY, &TRUE)
        .bytes(CKA_EC_PARAMS, &P256_PARAMS)
        .bytes(CKA_LABEL, label);
    let (public, private) =
        p11.generate_key_pair(s, &Mechanism::new(CKM_EC_KEY_PAIR_GEN), &public, &private_key_template(label))?;
    Ok(KeyPair { public, private })
}

/// Generates the token's RSA-2048 key pair: `C_GenerateKeyPair(CKM_RSA_PKCS_KEY_PAIR_GEN)`,
/// both halves token objects, public exponent 65537.
pub fn generate_rsa_2048(p11: &Module, s: CK_SESSION_HANDLE) -> p11::Result<KeyPair> {
    const LABEL: &[u8] = b"bench-rsa-2048";
    const BITS: CK_ULONG = 2048;
    const EXPONENT: [u8; 3] = [0x01, 0x00, 0x01];
    let public = Template::new()
        .bool(CKA_TOKEN, &TRUE)
        .bool(CKA_PRIVATE, &FALSE)
        .bool(CKA_VERIFY, &TRUE)
        .ulong(CKA_MODULUS_BITS, &BITS)
        .bytes(CKA_PUBLIC_EXPONENT, &EXPONENT)
        .bytes(CKA_LABEL, LABEL);
    let (public, private) =
        p11.generate_key_pair(s, &Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN), &public, &private_key_template(LABEL))?;
    Ok(KeyPair { public, private })
}

/// Generates the token's ML-DSA-65 key pair: `C_GenerateKeyPair(CKM_ML_DSA_KEY_PAIR_GEN)`,
/// both halves token objects, the parameter set in the public template (PKCS#11 3.2).
pub fn generate_ml_dsa_65(p11: &Module, s: CK_SESSION_HANDLE) -> p11::Result<KeyPair> {
    const LABEL: &[u8] = b"bench-ml-dsa-65";
    const SET: CK_ULONG = CKP_ML_DSA_65;
    let public = Template::new()
        .bool(CKA_TOKEN, &TRUE)
        .bool(CKA_PRIVATE, &FALSE)
        .bool(CKA_VERIFY, &TRUE)
        .ulong(CKA_PARAMETER_SET, &SET)
        .bytes(CKA_LABEL, LABEL);
    let (public, private) =
        p11.generate_key_pair(s, &Mechanism::new(CKM_ML_DSA_KEY_PAIR_GEN), &public, &private_key_template(LABEL))?;
    Ok(KeyPair { public, private })
}

/// Generates the token's ML-KEM-768 key pair: `C_GenerateKeyPair(CKM_ML_KEM_KEY_PAIR_GEN)`,
/// both halves token objects, `CKA_ENCAPSULATE` / `CKA_DECAPSULATE` true.
pub fn generate_ml_kem_768(p11: &Module, s: CK_SESSION_HANDLE) -> p11::Result<KeyPair> {
    const LABEL: &[u8] = b"bench-ml-kem-768";
    const SET: CK_ULONG = CKP_ML_KEM_768;
    let public = Template::new()
        .bool(CKA_TOKEN, &TRUE)
        .bool(CKA_PRIVATE, &FALSE)
        .bool(CKA_ENCAPSULATE, &TRUE)
        .ulong(CKA_PARAMETER_SET, &SET)
        .bytes(CKA_LABEL, LABEL);
    let private = Template::new()
        .bool(CKA_TOKEN, &TRUE)
        .bool(CKA_PRIVATE, &TRUE)
        .bool(CKA_SENSITIVE, &TRUE)
        .bool(CKA_EXTRACTABLE, &FALSE)
        .bool(CKA_DECAPSULATE, &TRUE)
        .bytes(CKA_LABEL, LABEL);
    let (public, private) = p11.generate_key_pair(s, &Mechanism::new(CKM_ML_KEM_KEY_PAIR_GEN), &public, &private)?;
    Ok(KeyPair { public, private })
}

/// Generates the token's AES-256 key: `C_GenerateKey(CKM_AES_KEY_GEN)`, a token object,
/// private, sensitive, not extractable, for encryption and decryption.
pub fn generate_aes_256(p11: &Module, s: CK_SESSION_HANDLE) -> p11::Result<CK_OBJECT_HANDLE> {
    const CLASS: CK_ULONG = CKO_SECRET_KEY;
    const KEY_TYPE: CK_ULONG = CKK_AES;
    const LEN: CK_ULONG = 32;
    let template = Template::new()
        .ulong(CKA_CLASS, &CLASS)
        .ulong(CKA_KEY_TYPE, &KEY_TYPE)
        .ulong(CKA_VALUE_LEN, &LEN)
        .bool(CKA_TOKEN, &TRUE)
        .bool(CKA_PRIVATE, &TRUE)
        .bool(CKA_SENSITIVE, &TRUE)
        .bool(CKA_EXTRACTABLE, &FALSE)
        .bool(CKA_ENCRYPT, &TRUE)
        .bool(CKA_DECRYPT, &TRUE)
        .bytes(CKA_LABEL, b"bench-aes-256");
    p11.generate_key(s, &Mechanism::new(CKM_AES_KEY_GEN), &template)
}

/// Runs a key generation and reports its time on standard error (it is not a row: one
/// generation is no measurement, but a slow one is worth seeing).
fn timed_keygen<T>(what: &str, generate: impl FnOnce() -> p11::Result<T>) -> p11::Result<T> {
    let start = Instant::now();
    let key = generate()?;
    eprintln!("    generated the {what} in {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
    Ok(key)
}

/// Signs `data` once with `mechanism` and checks that the module verifies the
/// signature with the public key and rejects it once altered: a wrong answer makes the
/// speed meaningless. Returns the signature.
fn checked_signature(
    b: &mut Bench,
    key: KeyPair,
    mechanism: CK_MECHANISM_TYPE,
    data: &[u8],
    len: usize,
) -> Result<Vec<u8>, String> {
    let s = b.session().map_err(fail)?;
    let mechanism = Mechanism::new(mechanism);
    let mut signature = vec![0u8; len];
    b.p11.sign_init(s, &mechanism, key.private).map_err(fail)?;
    let n = b.p11.sign(s, data, &mut signature).map_err(fail)?;
    if n != len {
        return Err(format!("C_Sign gave a signature of {n} bytes, not {len}"));
    }
    b.p11.verify_init(s, &mechanism, key.public).map_err(fail)?;
    b.p11.verify(s, data, &signature).map_err(|e| format!("its own signature: {e}"))?;
    let mut altered = signature.clone();
    altered[len / 2] ^= 0x01;
    b.p11.verify_init(s, &mechanism, key.public).map_err(fail)?;
    match b.p11.verify(s, data, &altered) {
        Err(e) if e.rv == CKR_SIGNATURE_INVALID => Ok(signature),
        Ok(()) => Err("C_Verify accepted an altered signature".to_string()),
        Err(e) => Err(format!("an altered signature: {e}, not CKR_SIGNATURE_INVALID")),
    }
}

/// Signatures per second: C_SignInit(`mechanism`, private key) + C_Sign of `data` into a
/// buffer of the signature's size, both every call.
fn sign_rate(b: &mut Bench, key: KeyPair, mechanism: CK_MECHANISM_TYPE, data: &[u8], len: usize) -> Outcome {
    checked_signature(b, key, mechanism, data, len)?;
    let s = b.session().map_err(fail)?;
    let mechanism = Mechanism::new(mechanism);
    // Allocated once, outside the measured calls (ML-DSA signatures are kilobytes).
    let mut signature = vec![0u8; len];
    let signature = &mut signature[..];
    let p11 = &b.p11;
    let secs = per_call(b.config.budget, || {
        p11.sign_init(s, &mechanism, key.private)?;
        if p11.sign(s, data, signature)? != len {
            return Err(p11::Error { call: "C_Sign (signature of another length)", rv: CKR_GENERAL_ERROR });
        }
        Ok(())
    })
    .map_err(fail)?;
    Ok(1.0 / secs)
}

/// Verifications per second: C_VerifyInit(`mechanism`, public key) + C_Verify of a valid
/// signature of `data` made by the module beforehand, both every call.
fn verify_rate(b: &mut Bench, key: KeyPair, mechanism: CK_MECHANISM_TYPE, data: &[u8], len: usize) -> Outcome {
    let signature = checked_signature(b, key, mechanism, data, len)?;
    let s = b.session().map_err(fail)?;
    let mechanism = Mechanism::new(mechanism);
    let p11 = &b.p11;
    let secs = per_call(b.config.budget, || {
        p11.verify_init(s, &mechanism, key.public)?;
        p11.verify(s, data, &signature)
    })
    .map_err(fail)?;
    Ok(1.0 / secs)
}

/// Checks, through the module's own `C_Digest`, that [`MESSAGE_SHA256`] is the SHA-256
/// hash of [`MESSAGE`] (the bench has no hash of its own).
fn check_message_hash(b: &mut Bench) -> Result<(), String> {
    let s = b.session().map_err(fail)?;
    let mut hash = [0u8; 32];
    b.p11.digest_init(s, &Mechanism::new(CKM_SHA256)).map_err(fail)?;
    b.p11.digest(s, &MESSAGE, &mut hash).map_err(fail)?;
    if hash != MESSAGE_SHA256 {
        return Err("the module's SHA-256 of the message is not MESSAGE_SHA256".to_string());
    }
    Ok(())
}

/// Row: ECDSA P-256 signatures per second with the token's private key.
fn ecdsa_sign(b: &mut Bench) -> Outcome {
    let key = b.ec_key()?;
    check_message_hash(b)?;
    sign_rate(b, key, CKM_ECDSA, &MESSAGE_SHA256, ECDSA_P256_SIGNATURE_LEN)
}

/// Row: ECDSA P-256 verifications per second with the token's public key.
fn ecdsa_verify(b: &mut Bench) -> Outcome {
    let key = b.ec_key()?;
    verify_rate(b, key, CKM_ECDSA, &MESSAGE_SHA256, ECDSA_P256_SIGNATURE_LEN)
}

/// Row: RSA-2048 PKCS#1 v1.5 signatures per second with the token's private key.
fn rsa_sign(b: &mut Bench) -> Outcome {
    let key = b.rsa_key()?;
    sign_rate(b, key, CKM_SHA256_RSA_PKCS, &MESSAGE, RSA_2048_SIGNATURE_LEN)
}

/// Row: RSA-2048 PKCS#1 v1.5 verifications per second with the token's public key.
fn rsa_verify(b: &mut Bench) -> Outcome {
    let key = b.rsa_key()?;
    verify_rate(b, key, CKM_SHA256_RSA_PKCS, &MESSAGE, RSA_2048_SIGNATURE_LEN)
}

/// Row: ML-DSA-65 signatures per second (pure ML-DSA, no parameter: hedged, empty
/// context) with the token's private key.
fn mldsa_sign(b: &mut Bench) -> Outcome {
    let key = b.mldsa_key()?;
    sign_rate(b, key, CKM_ML_DSA, &MESSAGE, ML_DSA_65_SIGNATURE_LEN)
}

/// Row: ML-DSA-65 verifications per second with the token's public key.
fn mldsa_verify(b: &mut Bench) -> Outcome {
    let key = b.mldsa_key()?;
    verify_rate(b, key, CKM_ML_DSA, &MESSAGE, ML_DSA_65_SIGNATURE_LEN)
}

/// The template of the shared secret's key in the ML-KEM rows: a 32-byte generic
/// secret session key.
fn shared_secret_template() -> Template<'static> {
    const CLASS: CK_ULONG = CKO_SECRET_KEY;
    const KEY_TYPE: CK_ULONG = CKK_GENERIC_SECRET;
    Template::new()
        .ulong(CKA_CLASS, &CLASS)
        .ulong(CKA_KEY_TYPE, &KEY_TYPE)
        .bool(CKA_TOKEN, &FALSE)
        .bool(CKA_SENSITIVE, &TRUE)
}

/// Encapsulates once and checks that decapsulation gives the same secret and that an
/// altered ciphertext does not (ML-KEM's implicit rejection), comparing the `CKA_VALUE`
/// of extractable, non-sensitive session keys made for the check: a wrong answer makes
/// the speed meaningless. Returns a ciphertext for the decapsulation row.
fn checked_encapsulation(b: &mut Bench, key: KeyPair) -> Result<Vec<u8>, String> {
    let s = b.session().map_err(fail)?;
    let mechanism = Mechanism::new(CKM_ML_KEM);
    const CLASS: CK_ULONG = CKO_SECRET_KEY;
    const KEY_TYPE: CK_ULONG = CKK_GENERIC_SECRET;
    let readable = Template::new()
        .ulong(CKA_CLASS, &CLASS)
        .ulong(CKA_KEY_TYPE, &KEY_TYPE)
        .bool(CKA_TOKEN, &FALSE)
        .bool(CKA_SENSITIVE, &FALSE)
        .bool(CKA_EXTRACTABLE, &TRUE);
    let mut ciphertext = vec![0u8; ML_KEM_768_CIPHERTEXT_LEN];
    let (n, sent) = b.p11.encapsulate_key(s, &mechanism, key.public, &readable, &mut ciphertext).map_err(fail)?;
    if n != ML_KEM_768_CIPHERTEXT_LEN {
        return Err(format!("C_EncapsulateKey gave a ciphertext of {n} bytes, not {ML_KEM_768_CIPHERTEXT_LEN}"));
    }
    let got = b.p11.decapsulate_key(s, &mechanism, key.private, &readable, &ciphertext).map_err(fail)?;
    let mut altered = ciphertext.clone();
    altered[n / 2] ^= 0x01;
    let other = b.p11.decapsulate_key(s, &mechanism, key.private, &readable, &altered).map_err(fail)?;
    let value = |k| {
        let mut v = [0u8; 64];
        b.p11.get_attribute(s, k, CKA_VALUE, &mut v).map(|n| v[..n].to_vec()).map_err(fail)
    };
    let (a, c, d) = (value(sent)?, value(got)?, value(other)?);
    for k in [sent, got, other] {
        b.p11.destroy_object(s, k).map_err(fail)?;
    }
    if a.len() != 32 || a != c {
        return Err("C_DecapsulateKey gave another secret than C_EncapsulateKey".to_string());
    }
    if d == a {
        return Err("an altered ciphertext gave the same secret".to_string());
    }
    Ok(ciphertext)
}

/// Row: ML-KEM-768 encapsulations per second with the token's public key:
/// C_EncapsulateKey (a 32-byte generic secret session key) + C_DestroyObject of that key,
/// both every call (the destroy keeps the session from filling with keys).
fn mlkem_encapsulate(b: &mut Bench) -> Outcome {
    let key = b.mlkem_key()?;
    checked_encapsulation(b, key)?;
    let s = b.session().map_err(fail)?;
    let mechanism = Mechanism::new(CKM_ML_KEM);
    let template = shared_secret_template();
    let mut ciphertext = vec![0u8; ML_KEM_768_CIPHERTEXT_LEN];
    let p11 = &b.p11;
    let secs = per_call(b.config.budget, || {
        let (_, k) = p11.encapsulate_key(s, &mechanism, key.public, &template, &mut ciphertext)?;
        p11.destroy_object(s, k)
    })
    .map_err(fail)?;
    Ok(1.0 / secs)
}

/// Row: ML-KEM-768 decapsulations per second with the token's private key, of a
/// ciphertext the module made: C_DecapsulateKey + C_DestroyObject, both every call.
fn mlkem_decapsulate(b: &mut Bench) -> Outcome {
    let key = b.mlkem_key()?;
    let ciphertext = checked_encapsulation(b, key)?;
    let s = b.session().map_err(fail)?;
    let mechanism = Mechanism::new(CKM_ML_KEM);
    let template = shared_secret_template();
    let p11 = &b.p11;
    let secs = per_call(b.config.budget, || {
        let k = p11.decapsulate_key(s, &mechanism, key.private, &template, &ciphertext)?;
        p11.destroy_object(s, k)
    })
    .map_err(fail)?;
    Ok(1.0 / secs)
}

/// Row: microseconds per key attestation certificate of the token's EC P-256 key:
/// C_SignInit(CKM_FERRO_KEY_ATTEST_CERT, private key) + C_Sign of a 32-byte nonce into a
/// buffer with room to spare, both every call. Checked once first: the output is a DER
/// SEQUENCE that holds the key's public point and the nonce.
fn key_attestation(b: &mut Bench) -> Outcome {
    let key = b.ec_key()?;
    let s = b.session().map_err(fail)?;
    let mechanism = Mechanism::new(CKM_FERRO_KEY_ATTEST_CERT);
    // CKA_EC_POINT is the DER OCTET STRING of the 65-byte uncompressed point.
    let mut point = [0u8; 128];
    let n = b.p11.get_attribute(s, key.public, CKA_EC_POINT, &mut point).map_err(fail)?;
    let point = &point[n.saturating_sub(65)..n];
    let mut certificate = vec![0u8; ATTESTATION_ROOM];
    b.p11.sign_init(s, &mechanism, key.private).map_err(fail)?;
    let n = b.p11.sign(s, &NONCE, &mut certificate).map_err(fail)?;
    let certificate = &certificate[..n];
    if certificate.first() != Some(&0x30) || !contains(certificate, point) || !contains(certificate, &NONCE) {
        return Err("C_Sign gave no certificate of the key with the nonce".to_string());
    }
    let mut out = vec![0u8; ATTESTATION_ROOM];
    let p11 = &b.p11;
    let secs = per_call(b.config.budget, || {
        p11.sign_init(s, &mechanism, key.private)?;
        // The ECDSA signature's DER varies by a byte or two; anything further off is
        // not the same certificate.
        if p11.sign(s, &NONCE, &mut out)?.abs_diff(n) > 4 || out[0] != 0x30 {
            return Err(p11::Error { call: "C_Sign (not a certificate like the first)", rv: CKR_GENERAL_ERROR });
        }
        Ok(())
    })
    .map_err(fail)?;
    Ok(secs * 1e6)
}

/// The label of the key pairs the key generation row makes.
const KEYGEN_LABEL: &[u8] = b"bench-keygen";

/// Row: EC P-256 token key pairs generated per second, with the templates of
/// [`generate_ec_p256`]; on a module that attests (lists CKM_FERRO_KEY_ATTEST_CERT) each
/// pair comes with its attestation certificate (`attestation:<label>`), which the row
/// checks were made. The pairs are destroyed afterwards (and, with them, their
/// certificates, which the row checks too), so later rows see the token as before.
fn ec_keygen(b: &mut Bench) -> Outcome {
    let attests = b.offers(CKM_FERRO_KEY_ATTEST_CERT)?;
    let s = b.session().map_err(fail)?;
    let p11 = &b.p11;
    let mut made = Vec::new();
    let timed = per_call(b.config.budget, || {
        made.push(generate_ec_p256_labelled(p11, s, KEYGEN_LABEL)?);
        Ok(())
    });
    let mut label = b"attestation:".to_vec();
    label.extend_from_slice(KEYGEN_LABEL);
    let certificates = || count_certificates(p11, s, &label);
    let born = if attests { Some(certificates().map_err(fail)?) } else { None };
    for pair in &made {
        p11.destroy_object(s, pair.private).map_err(fail)?;
        p11.destroy_object(s, pair.public).map_err(fail)?;
    }
    let secs = timed.map_err(fail)?;
    if let Some(born) = born {
        if born != made.len() {
            return Err(format!("{} key pairs came with {born} attestation certificates", made.len()));
        }
        let left = certificates().map_err(fail)?;
        if left != 0 {
            return Err(format!("{left} attestation certificates outlived their keys"));
        }
    }
    Ok(1.0 / secs)
}

/// How many certificates labelled `label` the token holds.
fn count_certificates(p11: &Module, s: CK_SESSION_HANDLE, label: &[u8]) -> p11::Result<usize> {
    let class: CK_ULONG = CKO_CERTIFICATE;
    p11.find_objects_init(s, &Template::new().ulong(CKA_CLASS, &class).bytes(CKA_LABEL, label))?;
    let mut found = [0 as CK_OBJECT_HANDLE; 1024];
    let mut total = 0;
    let counted = loop {
        match p11.find_objects(s, &mut found) {
            Ok(0) => break Ok(total),
            Ok(n) => total += n,
            Err(e) => break Err(e),
        }
    };
    p11.find_objects_final(s)?;
    counted
}

/// The IV of the `n`-th AES-GCM encryption: 12 bytes, a new one every call (a module may
/// refuse to reuse an IV with a key, and nobody should).
fn gcm_iv(n: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..4].copy_from_slice(b"bnch");
    iv[4..].copy_from_slice(&n.to_be_bytes());
    iv
}

/// Row: AES-256-GCM encryption of 1 MiB, single-part: C_EncryptInit(CKM_AES_GCM with a
/// 12-byte IV, no AAD, a 128-bit tag) + C_Encrypt into a buffer of 1 MiB + 16 bytes, both
/// every call; gigabytes (10^9 bytes) of plaintext per second.
fn aes_gcm_encrypt(b: &mut Bench) -> Outcome {
    let key = b.aes_key()?;
    let s = b.session().map_err(fail)?;
    let plain: Vec<u8> = (0..GCM_DATA_LEN).map(|i| (i % 251) as u8).collect();
    let mut sealed = vec![0u8; GCM_DATA_LEN + GCM_TAG_LEN];
    let mut calls = 0u64;
    let p11 = &b.p11;
    let mut encrypt = |out: &mut [u8]| -> p11::Result<usize> {
        calls += 1;
        let iv = gcm_iv(calls);
        let params = GcmParams::new(&iv, &[], GCM_TAG_LEN * 8);
        p11.encrypt_init(s, &params.mechanism(), key)?;
        p11.encrypt(s, &plain, out)
    };

    // Once, untimed: the ciphertext has the right length and decrypts to the plaintext.
    let n = encrypt(&mut sealed).map_err(fail)?;
    if n != sealed.len() {
        return Err(format!("C_Encrypt gave {n} bytes, not {}", sealed.len()));
    }
    // As large as the ciphertext: SoftHSM asks for that much room, tag included.
    let mut opened = vec![0u8; sealed.len()];
    let iv = gcm_iv(1);
    let params = GcmParams::new(&iv, &[], GCM_TAG_LEN * 8);
    p11.decrypt_init(s, &params.mechanism(), key).map_err(fail)?;
    let n = p11.decrypt(s, &sealed, &mut opened).map_err(fail)?;
    if n != GCM_DATA_LEN || opened[..n] != plain[..] {
        return Err("C_Decrypt did not give the plaintext back".to_string());
    }

    let secs = per_call(b.config.budget, || {
        if encrypt(&mut sealed)? != GCM_DATA_LEN + GCM_TAG_LEN {
            return Err(p11::Error { call: "C_Encrypt (ciphertext of another length)", rv: CKR_GENERAL_ERROR });
        }
        Ok(())
    })
    .map_err(fail)?;
    Ok(GCM_DATA_LEN as f64 / secs / 1e9)
}

/// Row: ECDSA P-256 signatures per second of two threads signing at once, each in its own
/// session, with the same private key (see [`thread_scaling`]).
fn ecdsa_sign_two_threads(b: &mut Bench) -> Outcome {
    Ok(thread_scaling(b)?.two)
}

/// Row: the two-thread rate over the one-thread rate, measured together (see
/// [`thread_scaling`]).
fn ecdsa_sign_scaling(b: &mut Bench) -> Outcome {
    let r = thread_scaling(b)?;
    Ok(r.two / r.one)
}

/// Rounds of one thread, then two threads, in [`thread_scaling`]. Alternating spreads a
/// burst of other work on the machine over both.
const SCALING_ROUNDS: u32 = 4;

/// One thread's and two threads' ECDSA P-256 signing rates (C_SignInit(CKM_ECDSA) +
/// C_Sign of [`MESSAGE_SHA256`], as in the one-thread row), measured once per run and shared by
/// the two rows. Two new R/O sessions of the logged-in application: one thread uses the
/// first; two threads use one each, started together. After a short warm-up of both,
/// [`SCALING_ROUNDS`] rounds each time one thread, then two, for `budget / rounds` each;
/// each rate is the median over the rounds of the signatures made over the time taken.
fn thread_scaling(b: &mut Bench) -> Result<Scaling, String> {
    if b.keys.scaling.is_none() {
        let measured = measure_scaling(b);
        b.keys.scaling = Some(measured);
    }
    let scaling = b.keys.scaling.clone().expect("set above")?;
    // Both rows report the machine's state during the rounds, not during their own call.
    b.others = scaling.others;
    Ok(scaling)
}

fn measure_scaling(b: &mut Bench) -> Result<Scaling, String> {
    let key = b.ec_key()?;
    checked_signature(b, key, CKM_ECDSA, &MESSAGE_SHA256, ECDSA_P256_SIGNATURE_LEN)?;
    let (p11, slot) = (&b.p11, b.slot);
    let first = p11.open_session(slot, false).map_err(fail)?;
    let second = p11.open_session(slot, false);
    let result = second.map_err(fail).and_then(|second| {
        let sessions = [first, second];
        let slice = b.config.budget / SCALING_ROUNDS;
        let run = |n: usize, time: Duration| sign_in_threads(p11, &sessions[..n], key.private, time).map_err(fail);
        run(2, b.config.budget / 10)?;
        let (mut one, mut two) = (Vec::new(), Vec::new());
        let before = cpu::Snapshot::now();
        for _ in 0..SCALING_ROUNDS {
            one.push(run(1, slice)?);
            two.push(run(2, slice)?);
        }
        let others = before.and_then(|a| a.others_until(&cpu::Snapshot::now()?));
        let _ = p11.close_session(second);
        let (one, two) = (median(&mut one), median(&mut two));
        eprintln!(
            "    ECDSA P-256 sign: one thread {one:.0}/s, two threads {two:.0}/s; other processes used {} CPUs",
            others.map_or("?".to_string(), |o| format!("{o:.2}"))
        );
        Ok(Scaling { one, two, others })
    });
    let _ = p11.close_session(first);
    result
}

/// Signs in one thread per session, all started together, for `time` each: signatures
/// per second of them all (every signature made, over the longest thread's time).
fn sign_in_threads(
    p11: &Module,
    sessions: &[CK_SESSION_HANDLE],
    key: CK_OBJECT_HANDLE,
    time: Duration,
) -> p11::Result<f64> {
    let start = Barrier::new(sessions.len());
    std::thread::scope(|scope| {
        let threads: Vec<_> = sessions
            .iter()
            .map(|&s| {
                let start = &start;
                scope.spawn(move || -> p11::Result<(u64, Duration)> {
                    let mechanism = Mechanism::new(CKM_ECDSA);
                    let mut signature = [0u8; ECDSA_P256_SIGNATURE_LEN];
                    start.wait();
                    let t = Instant::now();
                    let mut n = 0u64;
                    while n == 0 || t.elapsed() < time {
                        p11.sign_init(s, &mechanism, key)?;
                        p11.sign(s, &MESSAGE_SHA256, &mut signature)?;
                        n += 1;
                    }
                    Ok((n, t.elapsed()))
                })
            })
            .collect();
        let (mut total, mut longest) = (0u64, Duration::ZERO);
        for thread in threads {
            let (n, took) = thread.join().expect("a signing thread panicked")?;
            total += n;
            longest = longest.max(took);
        }
        Ok(total as f64 / longest.as_secs_f64())
    })
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

/// Row: ECDSA P-256 signing with ferrohsm's key usage counting on, over the same with
/// it off (`audit_key_usage = false`), as a ratio: issue 6 asks that counting cost at
/// most 5%. Each rate is measured in a child process that loads the module with its
/// configuration (the parent's `FERROHSM_CONF`, or a copy with counting off), makes a
/// key pair, signs for the row's budget and destroys the pair; on, off, on, off, and
/// the ratio of the medians. The parent lets go of the store first (one process at a
/// time).
fn ecdsa_sign_usage(b: &mut Bench) -> Outcome {
    b.release().map_err(fail)?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("ferrohsm-bench-usage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let off = dir.join("ferrohsm.toml");
    let base = std::env::var_os("FERROHSM_CONF").and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    std::fs::write(&off, format!("{base}\naudit_key_usage = false\n")).map_err(|e| e.to_string())?;
    let rate = |counting: bool| -> Result<f64, String> {
        let mut child = Command::new(&exe);
        child.arg("sign-rate").arg("--module").arg(&b.module_path).args(["--token-label", &b.token_label]);
        child.arg("--pin").arg(String::from_utf8_lossy(&b.pin).as_ref());
        if b.config.budget < Config::FULL.budget {
            child.arg("--quick");
        }
        if !counting {
            child.env("FERROHSM_CONF", &off);
        }
        let out = child.output().map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(format!("sign-rate: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim().parse().map_err(|_| format!("sign-rate printed '{}'", text.trim()))
    };
    let (mut on, mut off_rates) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        on.push(rate(true)?);
        off_rates.push(rate(false)?);
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("    signatures/s with key usage counted: {on:.0?}; not counted: {off_rates:.0?}");
    Ok(median(&mut on) / median(&mut off_rates))
}

/// The child of the key usage row: ECDSA P-256 signatures per second with a key pair of
/// its own, which it destroys afterwards.
pub fn sign_rate_once(module_path: PathBuf, token_label: &str, pin: &[u8], config: Config) -> Result<f64, String> {
    let mut b = Bench::new(module_path, token_label, pin, config)?;
    let rate = ecdsa_sign(&mut b)?;
    let key = b.ec_key()?;
    let s = b.session().map_err(fail)?;
    b.p11.destroy_object(s, key.private).map_err(fail)?;
    b.p11.destroy_object(s, key.public).map_err(fail)?;
    b.release().map_err(fail)?;
    Ok(rate)
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
    fn crypto_rows_run_first_and_init_login_last() {
        let order: Vec<&str> = run_order().map(|m| m.id).collect();
        assert_eq!(order.len(), MEASUREMENTS.len());
        assert_eq!(order.first(), Some(&"ecdsa_p256_sign"));
        assert_eq!(order.last(), Some(&"init_login"));
        let first = order.iter().take_while(|id| MEASUREMENTS.iter().any(|m| m.id == **id && m.first)).count();
        assert_eq!(first, MEASUREMENTS.iter().filter(|m| m.first).count());
        // The scaling rows share one measurement; the ratio row comes after the rate row.
        let at = |id: &str| order.iter().position(|x| *x == id).unwrap();
        assert!(at("ecdsa_p256_sign_2threads") < at("ecdsa_p256_sign_scaling"));
    }

    #[test]
    fn every_gcm_iv_is_new() {
        assert_ne!(gcm_iv(1), gcm_iv(2));
        assert_ne!(gcm_iv(1), gcm_iv(1 << 40));
        assert_eq!(gcm_iv(3).len(), 12);
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
