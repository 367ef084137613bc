//! An exported audit log checked against its log attestations (docs/audit.md):
//! what `ferrohsm audit verify` does.
//!
//! The export is the log's lines, one entry each, from the first; beside it, one or
//! more log attestations. [`verify_export`] checks, in order:
//!
//! 1. every attestation ([`super::document::verify`]: signature, chain to the pinned
//!    root, its own entries), and that they all cover the same scope;
//! 2. the chain of the lines: sequence numbers and links (`prev` for the whole log,
//!    `pprev` for one partition's entries), reporting the first break by its
//!    sequence number;
//! 3. every line an attestation carries is the export's line of that number;
//! 4. every attested head is in the export (an earlier attestation's head too: a log
//!    cut short, or rewritten after it, is caught here), and the newest attestation's
//!    head is the export's last entry.
//!
//! The links are checked here, independently of the store's own code.

use std::fmt;
use std::time::SystemTime;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::document::{self, Document, Kind};
use super::{Check, Failure, hex};

/// SHA-256.
pub fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// What the chain needs of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    /// `seq`.
    pub seq: u64,
    /// `partition`.
    pub partition: u64,
    /// `prev`: the hash of entry `seq - 1`.
    pub prev: [u8; 32],
    /// `pprev`: the hash of the partition's entry before.
    pub pprev: [u8; 32],
}

/// Reads the fields the chain needs from a line.
pub fn parse_line(line: &str) -> Result<Line, String> {
    let v: Value = serde_json::from_str(line).map_err(|_| "a line that is not a JSON entry".to_string())?;
    let seq = v["seq"].as_u64().ok_or("an entry without a seq")?;
    let partition = v["partition"].as_u64().ok_or_else(|| format!("entry {seq} has no partition"))?;
    let prev = document::hash_of(&v["prev"]).ok_or_else(|| format!("entry {seq} has no valid prev"))?;
    let pprev = document::hash_of(&v["pprev"]).ok_or_else(|| format!("entry {seq} has no valid pprev"))?;
    Ok(Line { seq, partition, prev, pprev })
}

/// Why an export failed: the check, the entry where it shows (when there is one),
/// and what was found.
#[derive(Debug)]
pub struct LogFailure {
    /// [`Check::Log`] for the entries; the attestation's own check otherwise.
    pub check: Check,
    /// The sequence number of the first entry that breaks.
    pub seq: Option<u64>,
    /// What was found, in words.
    pub detail: String,
}

impl fmt::Display for LogFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "{}: entry {seq}: {}", self.check, self.detail),
            None => write!(f, "{}: {}", self.check, self.detail),
        }
    }
}

impl std::error::Error for LogFailure {}

fn broken(seq: u64, detail: impl Into<String>) -> LogFailure {
    LogFailure { check: Check::Log, seq: Some(seq), detail: detail.into() }
}

/// A verified export.
#[derive(Debug)]
pub struct LogSummary {
    /// `None` for the whole log, else the partition.
    pub scope: Option<u64>,
    /// How many entries.
    pub entries: usize,
    /// The first and last sequence numbers.
    pub first: u64,
    /// The last sequence number: the newest attested head.
    pub last: u64,
    /// The last entry's hash.
    pub last_hash: [u8; 32],
    /// The attestations, newest last.
    pub attestations: Vec<Document>,
}

impl LogSummary {
    /// A readable report.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let mut line = |label: &str, value: String| out.push_str(&format!("{label:<20}{value}\n"));
        line(
            "log:",
            match self.scope {
                None => "the whole log".into(),
                Some(p) => format!("partition {p}'s entries"),
            },
        );
        line("entries:", format!("{} (sequence numbers {} to {})", self.entries, self.first, self.last));
        line("chain:", "every entry links to the one before it".into());
        line("head:", format!("entry {}, {}", self.last, hex::encode(&self.last_hash)));
        for (i, a) in self.attestations.iter().enumerate() {
            let h = a.head();
            line(
                if i == 0 { "attested:" } else { "" },
                format!(
                    "head entry {} at {} by {}{}",
                    h.seq,
                    a.time,
                    a.path.first().map(String::as_str).unwrap_or_default(),
                    if a.nonce_checked { ", nonce as expected" } else { "" }
                ),
            );
        }
        if let Some(a) = self.attestations.last() {
            for (i, name) in a.path.iter().enumerate().skip(1) {
                let root = if i + 1 == a.path.len() { " (pinned root)" } else { "" };
                line(if i == 1 { "chain to root:" } else { "" }, format!("{name}{root}"));
            }
        }
        out
    }
}

/// What to check.
#[derive(Clone, Debug, Default)]
pub struct Export<'a> {
    /// The exported lines, in order.
    pub lines: &'a [String],
    /// Log attestations (DER or PEM): the one the export came with, and any saved
    /// earlier.
    pub attestations: &'a [Vec<u8>],
    /// The pinned root.
    pub root: &'a [u8],
    /// Untrusted chain certificates.
    pub chain: &'a [Vec<u8>],
    /// The nonce the newest attestation must carry.
    pub nonce: Option<&'a [u8]>,
    /// The time to check validity at (default now).
    pub at: Option<SystemTime>,
}

/// Verifies an export; see the module documentation.
pub fn verify_export(x: &Export<'_>) -> Result<LogSummary, LogFailure> {
    let attestation_failure = |f: Failure| LogFailure { check: f.check, seq: None, detail: f.detail };
    if x.attestations.is_empty() {
        return Err(LogFailure { check: Check::Input, seq: None, detail: "no log attestation given".into() });
    }
    let mut docs = Vec::new();
    for a in x.attestations {
        let d = document::verify_signed(a, x.root, x.chain, None, x.at).map_err(attestation_failure)?;
        if d.kind != Kind::Log {
            return Err(LogFailure {
                check: Check::Input,
                seq: None,
                detail: format!("a {:?} attestation where a log attestation was expected", d.kind),
            });
        }
        docs.push(d);
    }
    // Newest last: by head, then by time.
    docs.sort_by(|a, b| (a.head().seq, &a.time).cmp(&(b.head().seq, &b.time)));
    let scope = docs[0].scope();
    if let Some(d) = docs.iter().find(|d| d.scope() != scope) {
        return Err(LogFailure {
            check: Check::Input,
            seq: None,
            detail: format!("the attestations cover different scopes ({:?} and {:?})", scope, d.scope()),
        });
    }
    if let Some(want) = x.nonce {
        let newest = docs.last().expect("one at least");
        if newest.nonce != want {
            return Err(LogFailure {
                check: Check::Nonce,
                seq: None,
                detail: format!(
                    "the attestation's nonce is {}, not the expected {}",
                    hex::encode(&newest.nonce),
                    hex::encode(want)
                ),
            });
        }
        docs.last_mut().expect("one at least").nonce_checked = true;
    }

    // The chain of the lines, from the first entry of the log (or the partition's).
    let mut hashes: Vec<(u64, [u8; 32])> = Vec::with_capacity(x.lines.len());
    let mut last: Option<(u64, [u8; 32])> = None;
    for (i, line) in x.lines.iter().enumerate() {
        let expected = last.map_or(1, |(s, _)| s + 1);
        let l = parse_line(line).map_err(|why| broken(expected, format!("not an entry ({why})")))?;
        let prev_hash = last.map_or([0; 32], |(_, h)| h);
        match scope {
            None => {
                if l.seq != expected {
                    // Moved, when the entry expected comes later; else missing (or
                    // repeated, when an earlier number comes again).
                    let later = x.lines[i + 1..].iter().any(|m| parse_line(m).is_ok_and(|m| m.seq == expected));
                    let detail = if later || l.seq < expected {
                        format!("out of order: entry {} is in its place (entries were moved or repeated)", l.seq)
                    } else if l.seq > expected + 1 {
                        format!(
                            "missing, and so are the entries up to {} (the next line is entry {})",
                            l.seq - 1,
                            l.seq
                        )
                    } else {
                        format!("missing (the next line is entry {})", l.seq)
                    };
                    return Err(broken(expected, detail));
                }
                if l.prev != prev_hash {
                    return Err(broken(l.seq, link_break(l.seq, last.map(|(s, _)| s))));
                }
            }
            Some(p) => {
                if l.partition != p {
                    return Err(broken(
                        l.seq,
                        format!("an entry of partition {}, in partition {p}'s log", l.partition),
                    ));
                }
                if last.is_some_and(|(s, _)| l.seq <= s) {
                    let before = last.map_or(0, |(s, _)| s);
                    return Err(broken(
                        l.seq,
                        format!("out of order: it comes after entry {before} (entries were moved or repeated)"),
                    ));
                }
                if l.pprev != prev_hash {
                    return Err(broken(l.seq, link_break(l.seq, last.map(|(s, _)| s))));
                }
            }
        }
        let h = sha256(line.as_bytes());
        hashes.push((l.seq, h));
        last = Some((l.seq, h));
    }
    let line_of = |seq: u64| hashes.binary_search_by_key(&seq, |(s, _)| *s).ok();

    // What each attestation carries is what the export holds, and its head is in
    // the export: a log cut short (and perhaps rewritten after) since shows here.
    let (last_seq, last_hash) = last.unwrap_or((0, [0; 32]));
    for d in &docs {
        let head = d.head();
        // The first attested entry the export does not hold as attested.
        let mut first_diff = None;
        for attested in d.entries() {
            let seq = parse_line(attested).map(|l| l.seq).unwrap_or(0);
            match line_of(seq) {
                Some(i) if x.lines[i] == attested => {}
                Some(_) => {
                    first_diff = Some((seq, "differs from the copy"));
                    break;
                }
                None => {
                    first_diff = Some((seq, "is missing from the export but is"));
                    break;
                }
            }
        }
        if head.seq > last_seq {
            let (seq, also) = match first_diff {
                Some((seq, _)) if seq <= last_seq => (
                    seq,
                    format!("; entry {seq} already differs from the attested copy: the log was rewritten from there"),
                ),
                _ => (last_seq + 1, String::new()),
            };
            return Err(broken(
                seq,
                format!(
                    "missing: the log is truncated, it ends at entry {last_seq} but the attestation made at {} \
                     covers it up to entry {}{also}",
                    d.time, head.seq
                ),
            ));
        }
        if let Some((seq, what)) = first_diff {
            return Err(broken(seq, format!("{what} in the attestation made at {}", d.time)));
        }
        match line_of(head.seq) {
            _ if head.seq == 0 => {}
            None => return Err(broken(head.seq, format!("the head attested at {} is not in the export", d.time))),
            Some(i) if hashes[i].1 != head.hash => {
                return Err(broken(
                    head.seq,
                    format!("differs from the head attested at {}: the log was rewritten after it", d.time),
                ));
            }
            Some(_) => {}
        }
    }
    let newest = docs.last().expect("one at least").head();
    if newest.seq != last_seq {
        return Err(broken(
            newest.seq + 1,
            format!(
                "not covered by an attestation: the export goes on past the newest attested head (entry {}) to \
                 entry {last_seq}",
                newest.seq
            ),
        ));
    }
    Ok(LogSummary {
        scope,
        entries: x.lines.len(),
        first: hashes.first().map_or(0, |(s, _)| *s),
        last: last_seq,
        last_hash,
        attestations: docs,
    })
}

fn link_break(seq: u64, before: Option<u64>) -> String {
    match before {
        Some(b) => format!(
            "does not link to entry {b} (its link is not the hash of entry {b}'s line): entry {b} was changed, \
             or entries were removed or inserted between them"
        ),
        None => format!("the first line, entry {seq}, does not start the chain: entries before it were removed"),
    }
}

/// Reads an export: one entry a line (a trailing newline is not part of a line).
pub fn read_lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}
