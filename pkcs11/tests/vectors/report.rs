//! Bookkeeping: what each vector file gave, printed one summary line per file, and
//! the verdict of a family.
//!
//! Every case ends as one of: passed; failed (listed with its id and what happened);
//! skipped (by a rule named in the reason, counted per reason); and, for Wycheproof's
//! "acceptable" cases, accepted or rejected (either passes, both are counted).

use std::collections::BTreeMap;
use std::fmt::Display;

use cryptoki_sys::*;

use crate::data::hex;
use crate::driver::{Fail, rv_name};

/// What the vector says a case is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Must succeed with the expected output.
    Valid,
    /// Must be refused, with one of the family's codes.
    Invalid,
    /// Either, but a success must give the expected output.
    Acceptable,
}

impl Expect {
    /// Wycheproof's `result` field.
    pub fn wycheproof(result: &str) -> Self {
        match result {
            "valid" => Expect::Valid,
            "invalid" => Expect::Invalid,
            "acceptable" => Expect::Acceptable,
            other => panic!("unknown Wycheproof result {other:?}"),
        }
    }
}

/// What running a case gave.
#[derive(Debug)]
pub enum Outcome {
    /// Every call succeeded and every output was the expected one.
    Ok,
    /// The calls succeeded but an output was wrong (the message says which).
    Wrong(String),
    /// A call failed.
    Refused(Fail),
}

impl From<Result<(), Fail>> for Outcome {
    fn from(r: Result<(), Fail>) -> Self {
        match r {
            Ok(()) => Outcome::Ok,
            Err(f) => Outcome::Refused(f),
        }
    }
}

/// An output that is not the expected one.
pub fn differs(what: impl Display, got: &[u8], want: &[u8]) -> Outcome {
    Outcome::Wrong(format!("{what}: got {}, want {}", hex(got), hex(want)))
}

/// The codes that count as the right kind of refusal for a family's invalid cases.
#[derive(Clone, Copy)]
pub enum Refusal {
    /// Any of these codes.
    Codes(&'static [CK_RV]),
    /// Any of these codes, or a refused key: `CKR_ATTRIBUTE_VALUE_INVALID`,
    /// `CKR_DOMAIN_PARAMS_INVALID`, `CKR_PUBLIC_KEY_INVALID` or `CKR_KEY_SIZE_RANGE`
    /// from `C_CreateObject` or an `*Init` (a vector's key may be what is wrong).
    OrBadKey(&'static [CK_RV]),
    /// Any failure but the ones that mean the module itself broke (`GENERAL_ERROR`,
    /// `DEVICE_ERROR`, `HOST_MEMORY`): a failed derive.
    AnyButBroken,
}

impl Refusal {
    pub fn allows(&self, f: Fail) -> bool {
        let rv = f.rv;
        match self {
            Refusal::Codes(c) => c.contains(&rv),
            Refusal::OrBadKey(c) => {
                let key_call = f.at.contains("C_CreateObject") || f.at.contains("Init");
                c.contains(&rv)
                    || key_call
                        && matches!(
                            rv,
                            CKR_ATTRIBUTE_VALUE_INVALID
                                | CKR_DOMAIN_PARAMS_INVALID
                                | CKR_PUBLIC_KEY_INVALID
                                | CKR_KEY_SIZE_RANGE
                        )
            }
            Refusal::AnyButBroken => !matches!(rv, CKR_OK | CKR_GENERAL_ERROR | CKR_DEVICE_ERROR | CKR_HOST_MEMORY),
        }
    }

    fn describe(&self) -> String {
        match self {
            Refusal::Codes(c) => c.iter().map(|&rv| rv_name(rv)).collect::<Vec<_>>().join(" or "),
            Refusal::OrBadKey(c) => {
                let mut v: Vec<String> = c.iter().map(|&rv| rv_name(rv)).collect();
                v.push("a refused key".into());
                v.join(" or ")
            }
            Refusal::AnyButBroken => "a refusal other than CKR_GENERAL_ERROR, CKR_DEVICE_ERROR, CKR_HOST_MEMORY".into(),
        }
    }
}

/// Signature checks: the spec's two codes for a bad signature.
pub const BAD_SIGNATURE: Refusal = Refusal::Codes(&[CKR_SIGNATURE_INVALID, CKR_SIGNATURE_LEN_RANGE]);

/// One file's results.
pub struct FileReport {
    pub file: String,
    what: String,
    passed: usize,
    failed: Vec<String>,
    skipped: BTreeMap<String, usize>,
    accepted: usize,
    rejected: usize,
    refusals: BTreeMap<String, usize>,
}

impl FileReport {
    pub fn new(file: &str, what: impl Display) -> Self {
        Self {
            file: file.to_string(),
            what: what.to_string(),
            passed: 0,
            failed: Vec::new(),
            skipped: BTreeMap::new(),
            accepted: 0,
            rejected: 0,
            refusals: BTreeMap::new(),
        }
    }

    pub fn pass(&mut self) {
        self.passed += 1;
    }

    pub fn fail(&mut self, id: impl Display, why: impl Display) {
        self.failed.push(format!("{id}: {why}"));
    }

    pub fn skip(&mut self, reason: impl Display) {
        *self.skipped.entry(reason.to_string()).or_default() += 1;
    }

    /// Judges a case against what the vector expects.
    pub fn judge(&mut self, id: impl Display, expect: Expect, outcome: Outcome, refusal: Refusal) {
        match (expect, outcome) {
            (Expect::Valid, Outcome::Ok) => self.pass(),
            (Expect::Valid, Outcome::Wrong(w)) => self.fail(id, w),
            (Expect::Valid, Outcome::Refused(f)) => self.fail(id, format!("valid case refused: {f}")),
            (Expect::Invalid, Outcome::Ok) => self.fail(id, "invalid case accepted"),
            (Expect::Invalid, Outcome::Wrong(w)) => self.fail(id, format!("invalid case accepted ({w})")),
            (Expect::Invalid | Expect::Acceptable, Outcome::Refused(f)) if refusal.allows(f) => {
                *self.refusals.entry(rv_name(f.rv)).or_default() += 1;
                if expect == Expect::Acceptable {
                    self.rejected += 1;
                }
                self.pass();
            }
            (Expect::Invalid | Expect::Acceptable, Outcome::Refused(f)) => {
                self.fail(id, format!("refused with the wrong code: {f}, want {}", refusal.describe()))
            }
            (Expect::Acceptable, Outcome::Ok) => {
                self.accepted += 1;
                self.pass();
            }
            (Expect::Acceptable, Outcome::Wrong(w)) => self.fail(id, format!("acceptable case accepted, but {w}")),
        }
    }

    pub fn failures(&self) -> usize {
        self.failed.len()
    }

    /// The summary line, then each failure and each skip reason.
    pub fn print(&self, module: &str) {
        let skipped: usize = self.skipped.values().sum();
        let mut line = format!(
            "vectors[{module}] {} ({}): {} passed, {} failed, {} skipped",
            self.file,
            self.what,
            self.passed,
            self.failed.len(),
            skipped
        );
        if self.accepted + self.rejected > 0 {
            line += &format!("; acceptable: {} accepted, {} rejected", self.accepted, self.rejected);
        }
        if !self.refusals.is_empty() {
            let r: Vec<String> = self.refusals.iter().map(|(k, v)| format!("{k} x{v}")).collect();
            line += &format!("; refusals: {}", r.join(", "));
        }
        println!("{line}");
        for f in &self.failed {
            println!("    FAILED {f}");
        }
        for (why, n) in &self.skipped {
            println!("    skipped {n}: {why}");
        }
    }
}

/// A family's files; [`Family::finish`] prints them and fails the test when any case
/// failed.
pub struct Family {
    pub module: String,
    files: Vec<FileReport>,
    started: std::time::Instant,
}

impl Family {
    pub fn new(module: &str) -> Self {
        Self { module: module.to_string(), files: Vec::new(), started: std::time::Instant::now() }
    }

    pub fn add(&mut self, r: FileReport) {
        r.print(&self.module);
        self.files.push(r);
    }

    pub fn finish(self, family: &str) {
        let failed: Vec<String> = self
            .files
            .iter()
            .filter(|f| f.failures() > 0)
            .map(|f| format!("{} ({} failed)", f.file, f.failures()))
            .collect();
        println!(
            "vectors[{}] family {family}: {} files in {:.1} s",
            self.module,
            self.files.len(),
            self.started.elapsed().as_secs_f64()
        );
        assert!(failed.is_empty(), "{family} vectors failed on {}: {}", self.module, failed.join(", "));
    }
}
