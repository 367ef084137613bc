//! Reading the files of `test-vectors/`: CAVP response files (and the RFC and SP
//! example files written in the same `KEY = value` style), Wycheproof JSON, hex.

use std::collections::HashMap;
use std::path::PathBuf;

/// `test-vectors/` at the root of the workspace.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-vectors")
}

pub fn read(rel: &str) -> String {
    let p = dir().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim();
    assert!(s.len().is_multiple_of(2), "odd-length hex {s:?}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A big-endian integer without its leading zero bytes (Wycheproof writes integers
/// in two's complement, CAVP pads them).
pub fn trim(b: &[u8]) -> Vec<u8> {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b[i..].to_vec()
}

/// A big-endian integer left-padded (or trimmed of leading zeros) to `n` bytes.
pub fn pad(b: &[u8], n: usize) -> Vec<u8> {
    let t = trim(b);
    assert!(t.len() <= n, "integer of {} bytes does not fit in {n}", t.len());
    let mut v = vec![0u8; n - t.len()];
    v.extend_from_slice(&t);
    v
}

/// One record of a CAVP-style file, with the values of its section around it.
#[derive(Debug, Clone)]
pub struct Record {
    /// 1-based line of the record's first line, for messages.
    pub line: usize,
    /// `KEY = value` pairs: the section headers' (`[Keylen = 128]`), then the
    /// section-level records' (an RSA key's `n = ...`), then the record's own.
    values: HashMap<String, String>,
    /// Bare words: the section headers' (`[ENCRYPT]`, `[P-256,SHA-256]`) and the
    /// record's own (`FAIL`).
    pub flags: Vec<String>,
}

impl Record {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.values.get(k).map(|s| s.as_str())
    }
    /// A value; panics naming the line when missing.
    pub fn val(&self, k: &str) -> &str {
        self.get(k).unwrap_or_else(|| panic!("line {}: no {k}", self.line))
    }
    /// A hex value. CAVP writes some integers (P-521 coordinates, signatures) with an
    /// odd number of digits: those get a leading zero.
    pub fn bytes(&self, k: &str) -> Vec<u8> {
        let v = self.val(k);
        if v.len() % 2 == 1 { unhex(&format!("0{v}")) } else { unhex(v) }
    }
    pub fn num(&self, k: &str) -> usize {
        self.val(k).parse().unwrap_or_else(|_| panic!("line {}: {k} is not a number", self.line))
    }
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
    /// `COUNT = 3` as "COUNT 3 (line 120)", for failure lists.
    pub fn id(&self) -> String {
        for k in ["COUNT", "Count"] {
            if let Some(c) = self.get(k) {
                return format!("{k} {c} (line {})", self.line);
            }
        }
        format!("line {}", self.line)
    }
}

/// Parses a CAVP response file into its test cases: the records that have one of
/// `case_keys`. Other records are section-level values (an RSA key's `n`, `p`, `q`)
/// and flow into the cases after them, until the next section header. `#` lines
/// are comments, wherever they are.
pub fn rsp(text: &str, case_keys: &[&str]) -> Vec<Record> {
    let mut p = Rsp { case_keys, ..Default::default() };
    let mut last_was_header = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            p.flush();
            continue;
        }
        if line.starts_with('[') && p.cur.is_none() {
            if !last_was_header {
                p.header_values.clear();
                p.header_flags.clear();
                p.section_values.clear();
            }
            last_was_header = true;
            let inner = line.trim_start_matches('[').trim_end_matches(']');
            match inner.split_once('=') {
                Some((k, v)) => {
                    p.header_values.insert(k.trim().to_string(), v.trim().to_string());
                }
                None => p.header_flags.push(inner.trim().to_string()),
            }
            continue;
        }
        last_was_header = false;
        let c = p.cur.get_or_insert_with(|| Pending { line: i + 1, ..Default::default() });
        match line.split_once('=') {
            Some((k, v)) => c.values.push((k.trim().to_string(), v.trim().to_string())),
            None => c.flags.push(line.to_string()),
        }
    }
    p.flush();
    p.out
}

/// A record being read.
#[derive(Default)]
struct Pending {
    line: usize,
    values: Vec<(String, String)>,
    flags: Vec<String>,
}

/// The parser's state.
#[derive(Default)]
struct Rsp<'a> {
    case_keys: &'a [&'a str],
    header_values: HashMap<String, String>,
    header_flags: Vec<String>,
    section_values: HashMap<String, String>,
    cur: Option<Pending>,
    out: Vec<Record>,
}

impl Rsp<'_> {
    /// Ends the current record: a case, or section-level values.
    fn flush(&mut self) {
        let Some(Pending { line, values: kv, flags }) = self.cur.take() else { return };
        if kv.iter().any(|(k, _)| self.case_keys.contains(&k.as_str())) {
            let mut values = self.header_values.clone();
            values.extend(self.section_values.iter().map(|(k, v)| (k.clone(), v.clone())));
            values.extend(kv);
            let mut all = self.header_flags.clone();
            all.extend(flags);
            self.out.push(Record { line, values, flags: all });
        } else {
            self.section_values.extend(kv);
        }
    }
}

/// A Wycheproof file.
pub fn wycheproof(rel: &str) -> serde_json::Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A string field of a JSON object.
pub fn s<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("no string {k} in {v}"))
}

/// A hex field of a JSON object.
pub fn h(v: &serde_json::Value, k: &str) -> Vec<u8> {
    unhex(s(v, k))
}

/// A number field of a JSON object.
pub fn n(v: &serde_json::Value, k: &str) -> usize {
    v[k].as_u64().unwrap_or_else(|| panic!("no number {k} in {v}")) as usize
}

/// Every (group, test) of a Wycheproof file.
pub fn tests(v: &serde_json::Value) -> Vec<(&serde_json::Value, &serde_json::Value)> {
    let mut out = Vec::new();
    for g in v["testGroups"].as_array().expect("testGroups") {
        for t in g["tests"].as_array().expect("tests") {
            out.push((g, t));
        }
    }
    out
}

/// "tcId 12 (comment)".
pub fn tc(t: &serde_json::Value) -> String {
    let c = t["comment"].as_str().unwrap_or("");
    if c.is_empty() { format!("tcId {}", t["tcId"]) } else { format!("tcId {} ({c})", t["tcId"]) }
}
