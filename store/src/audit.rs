//! The audit log: append-only, hash-chained, in the store.
//!
//! Each entry is one line of JSON, written once and never changed. Its fields come in a
//! fixed order, and it names the hash of the entry before it (`prev`) and of the entry
//! before it in the same partition (`pprev`):
//!
//! ```text
//! {"seq":7,"time":"2026-11-22T13:00:00Z","partition":1,"role":"user","event":"login","object":null,"result":"CKR_OK","prev":"<64 hex>","pprev":"<64 hex>"}
//! ```
//!
//! An entry's hash is SHA-256 of its line's bytes, exactly as stored and exported (no
//! newline). So the whole log is one chain, and each partition's entries are a chain of
//! their own that can be checked without the others'. The first entry, and a partition's
//! first, link to 32 zero bytes. A verifier needs nothing but the lines (and, against
//! truncation, a signed head): `sha256sum` of line `n` is `prev` of line `n + 1`.
//!
//! The store keeps the head of the log and of each partition (last sequence number and
//! hash) beside the entries, written in the same transaction, so a log cut short in the
//! store does not match its head.

use std::fmt::Write as _;

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::codec::{Reader, Writer};
use crate::{Cipher, Error, Result, Store, now};

/// The hash that the first entry, and a partition's first entry, link to.
pub const ZERO: [u8; 32] = [0; 32];

/// A field value beyond the fixed ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A JSON string.
    Str(&'a str),
    /// A JSON number (an unsigned integer).
    Int(u64),
}

/// One event, as the caller describes it. The store adds the sequence number, the
/// time and the two links.
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    /// The partition it happened in.
    pub partition: u32,
    /// Who did it: `"public"`, `"user"`, `"so"`, `"device"`...
    pub role: &'a str,
    /// What happened: `"login"`, `"key_generate"`...
    pub event: &'a str,
    /// The `CKA_UNIQUE_ID` of the object it concerns, if any.
    pub object: Option<&'a str>,
    /// How it ended: a `CKR_*` name.
    pub result: &'a str,
    /// Further fields, in this order, after the fixed ones. Names must not repeat
    /// the fixed ones' (`seq`, `time`, `partition`, `role`, `event`, `object`,
    /// `result`, `prev`, `pprev`).
    pub extra: &'a [(&'a str, Value<'a>)],
}

/// An entry as stored: its sequence number, its line and the line's hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// From 1, no gaps.
    pub seq: u64,
    /// The JSON line, as hashed.
    pub line: String,
    /// SHA-256 of `line`.
    pub hash: [u8; 32],
}

/// The end of a chain: the last entry's sequence number and hash (0 and [`ZERO`] for
/// an empty one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The last entry's sequence number.
    pub seq: u64,
    /// The last entry's hash.
    pub hash: [u8; 32],
}

impl Head {
    const EMPTY: Head = Head { seq: 0, hash: ZERO };

    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u64(self.seq).fixed(&self.hash);
        w.finish()
    }

    fn decode(b: &[u8]) -> Result<Self> {
        let mut r = Reader::new(b, "audit head");
        let seq = r.u64()?;
        let hash = r.fixed::<32>()?;
        r.end()?;
        Ok(Head { seq, hash })
    }
}

/// Key of the whole log's head in the heads tree; a partition's is its id (4 bytes).
const ALL: &[u8] = b"all";

/// Fixed field names, which extra fields may not reuse.
const FIXED: [&str; 9] = ["seq", "time", "partition", "role", "event", "object", "result", "prev", "pprev"];

/// The most entries one read returns, so that a caller cannot ask for the whole log
/// in one piece of memory by accident.
pub const MAX_READ: u64 = 100_000;

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// `YYYY-MM-DDThh:mm:ssZ`.
pub fn rfc3339(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = crate::time::civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The line of an entry: the event's fields in their fixed order, then its extra
/// fields, then the links.
pub fn render(seq: u64, time: u64, e: &Event<'_>, prev: &[u8; 32], pprev: &[u8; 32]) -> String {
    let mut s = String::with_capacity(256);
    let _ = write!(s, "{{\"seq\":{seq},\"time\":\"{}\",\"partition\":{}", rfc3339(time), e.partition);
    s.push_str(",\"role\":");
    json_str(&mut s, e.role);
    s.push_str(",\"event\":");
    json_str(&mut s, e.event);
    s.push_str(",\"object\":");
    match e.object {
        Some(o) => json_str(&mut s, o),
        None => s.push_str("null"),
    }
    s.push_str(",\"result\":");
    json_str(&mut s, e.result);
    for (name, v) in e.extra {
        s.push(',');
        json_str(&mut s, name);
        s.push(':');
        match v {
            Value::Str(v) => json_str(&mut s, v),
            Value::Int(v) => {
                let _ = write!(s, "{v}");
            }
        }
    }
    let _ = write!(s, ",\"prev\":\"{}\",\"pprev\":\"{}\"}}", hex(prev), hex(pprev));
    s
}

/// Whether the event's extra fields keep clear of the fixed ones (a caller's bug
/// otherwise: the names are the module's own constants).
fn extra_fields_ok(e: &Event<'_>) -> bool {
    e.extra.iter().all(|(name, _)| !FIXED.contains(name))
}

fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<Error>>;

/// Appends `events` inside a transaction over the log and its heads, all with the
/// time `time`.
pub(crate) fn append(
    log: &TransactionalTree,
    heads: &TransactionalTree,
    cipher: &dyn Cipher,
    time: u64,
    events: &[Event<'_>],
) -> TxResult<Vec<Entry>> {
    let head = |key: &[u8]| -> TxResult<Head> {
        match heads.get(key)? {
            Some(v) => Head::decode(&v).map_err(ConflictableTransactionError::Abort),
            None => Ok(Head::EMPTY),
        }
    };
    let mut all = head(ALL)?;
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let pkey = e.partition.to_be_bytes();
        let part = head(&pkey)?;
        let seq = all.seq + 1;
        let line = render(seq, time, e, &all.hash, &part.hash);
        let hash = cipher.sha256(line.as_bytes());
        log.insert(&seq_key(seq), line.as_bytes())?;
        all = Head { seq, hash };
        heads.insert(&pkey, all.encode())?;
        out.push(Entry { seq, line, hash });
    }
    if !events.is_empty() {
        heads.insert(ALL, all.encode())?;
    }
    Ok(out)
}

impl Store {
    /// Appends events to the log, in order, in one transaction and one flush: when
    /// this returns `Ok`, they survive a crash. Returns the new entries.
    pub fn audit(&self, events: &[Event<'_>]) -> Result<Vec<Entry>> {
        debug_assert!(events.iter().all(extra_fields_ok), "an audit field reuses a fixed name");
        let _order = self.audit_lock.lock();
        let time = now();
        let entries = (&self.audit, &self.audit_heads)
            .transaction(|(log, heads)| append(log, heads, self.cipher.as_ref(), time, events))
            .map_err(Error::from)?;
        self.flush()?;
        Ok(entries)
    }

    /// Writes key usage: each token key's total (partition, object id, total) and the
    /// `key_usage` entries that report the operations since the last ones, in one
    /// transaction and one flush.
    pub fn audit_usage(&self, totals: &[(u32, u64, u64)], events: &[Event<'_>]) -> Result<Vec<Entry>> {
        let _order = self.audit_lock.lock();
        let time = now();
        let entries = (&self.usage, &self.audit, &self.audit_heads)
            .transaction(|(usage, log, heads)| {
                for &(partition, object, total) in totals {
                    usage.insert(&crate::object_key(partition, object), &total.to_le_bytes())?;
                }
                append(log, heads, self.cipher.as_ref(), time, events)
            })
            .map_err(Error::from)?;
        self.flush()?;
        Ok(entries)
    }

    /// The usage totals of a partition's token keys, by object id (keys never used
    /// are absent). A damaged value counts as absent.
    pub fn usage_totals(&self, partition: u32) -> Result<std::collections::HashMap<u64, u64>> {
        let mut out = std::collections::HashMap::new();
        for kv in self.usage.scan_prefix(partition.to_be_bytes()) {
            let (k, v) = kv?;
            if let (Ok(oid), Ok(total)) = (crate::object_id_of(&k), <[u8; 8]>::try_from(v.as_ref())) {
                out.insert(oid, u64::from_le_bytes(total));
            }
        }
        Ok(out)
    }

    /// The head of the whole log (`None`) or of one partition's entries.
    pub fn audit_head(&self, partition: Option<u32>) -> Result<Head> {
        let v = match partition {
            None => self.audit_heads.get(ALL)?,
            Some(p) => self.audit_heads.get(p.to_be_bytes())?,
        };
        v.map_or(Ok(Head::EMPTY), |v| Head::decode(&v))
    }

    /// The entries with sequence numbers `from..=to` (at most [`MAX_READ`] of them),
    /// in order, of every partition (`None`) or of one. An entry that is not valid
    /// UTF-8 is returned as an error in its place. What the store holds is returned
    /// as it is: checking the chain is the verifier's job.
    pub fn audit_entries(&self, from: u64, to: u64, partition: Option<u32>) -> Result<Vec<Result<Entry>>> {
        let to = to.min(from.saturating_add(MAX_READ - 1));
        let mut out = Vec::new();
        for kv in self.audit.range(seq_key(from)..=seq_key(to)) {
            let (k, v) = kv?;
            let seq = u64::from_be_bytes(
                k.as_ref().try_into().map_err(|_| Error::Corrupt("audit entry key has the wrong length".into()))?,
            );
            let entry = String::from_utf8(v.to_vec())
                .map_err(|_| Error::Corrupt(format!("audit entry {seq} is not UTF-8")))
                .map(|line| Entry { seq, hash: self.cipher.sha256(line.as_bytes()), line });
            if let Some(p) = partition {
                match &entry {
                    Ok(e) if partition_of(&e.line) != Some(p) => continue,
                    _ => {}
                }
            }
            out.push(entry);
        }
        Ok(out)
    }

    /// The last entry before sequence number `seq`, of every partition (`None`) or
    /// of one, if there is one: its hash is what the next entry of that scope links
    /// to (the `start` of a range). Entries that are not UTF-8 are passed over.
    pub fn audit_entry_before(&self, seq: u64, partition: Option<u32>) -> Result<Option<Entry>> {
        for kv in self.audit.range(..seq_key(seq)).rev() {
            let (k, v) = kv?;
            let seq = u64::from_be_bytes(
                k.as_ref().try_into().map_err(|_| Error::Corrupt("audit entry key has the wrong length".into()))?,
            );
            let Ok(line) = String::from_utf8(v.to_vec()) else { continue };
            if partition.is_some_and(|p| partition_of(&line) != Some(p)) {
                continue;
            }
            return Ok(Some(Entry { seq, hash: self.cipher.sha256(line.as_bytes()), line }));
        }
        Ok(None)
    }
}

/// The `partition` field of a line this module rendered.
pub fn partition_of(line: &str) -> Option<u32> {
    let rest = line.split_once(",\"partition\":")?.1;
    let end = rest.find(',')?;
    rest[..end].parse().ok()
}

/// Where a chain of lines breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Break {
    /// An entry's sequence number is not the one expected (missing, repeated or
    /// reordered entries).
    Sequence {
        /// The sequence number expected.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// An entry's link does not name the hash of the entry before it.
    Link {
        /// The entry whose link is wrong.
        seq: u64,
    },
    /// A line is not one this module renders (fields missing, out of order, bad hex).
    Malformed {
        /// The position of the line (from 0).
        index: usize,
    },
    /// The last entry is not the head.
    Head {
        /// The head's sequence number.
        head: u64,
        /// The last entry's.
        last: u64,
    },
}

/// The `seq`, `prev` and `pprev` of a line.
pub fn links(line: &str) -> Option<(u64, [u8; 32], [u8; 32])> {
    let seq = line.strip_prefix("{\"seq\":")?;
    let seq: u64 = seq[..seq.find(',')?].parse().ok()?;
    let tail = line.strip_suffix("\"}")?;
    let (rest, pprev) = tail.rsplit_once(",\"pprev\":\"")?;
    let (_, prev) = rest.rsplit_once(",\"prev\":\"")?;
    let prev = prev.strip_suffix('"')?;
    Some((seq, unhex(prev)?, unhex(pprev)?))
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Checks consecutive entries of the whole log, the first linking to `start` (the
/// hash of the entry before it, [`ZERO`] from the beginning) and numbered
/// `first_seq`, the last being `head` when given. `hash` is SHA-256.
pub fn check_chain(
    lines: &[&str],
    first_seq: u64,
    start: [u8; 32],
    head: Option<Head>,
    hash: impl Fn(&[u8]) -> [u8; 32],
) -> std::result::Result<Head, Break> {
    let mut expect = Head { seq: first_seq.saturating_sub(1), hash: start };
    for (index, line) in lines.iter().enumerate() {
        let (seq, prev, _) = links(line).ok_or(Break::Malformed { index })?;
        if seq != expect.seq + 1 {
            return Err(Break::Sequence { expected: expect.seq + 1, found: seq });
        }
        if prev != expect.hash {
            return Err(Break::Link { seq });
        }
        expect = Head { seq, hash: hash(line.as_bytes()) };
    }
    match head {
        Some(h) if h != expect => Err(Break::Head { head: h.seq, last: expect.seq }),
        _ => Ok(expect),
    }
}

/// Checks one partition's entries, from its first: each `pprev` names the hash of the
/// one before (sequence numbers increase but have gaps, the other partitions'
/// entries), and the last is `head` when given.
pub fn check_partition_chain(
    lines: &[&str],
    head: Option<Head>,
    hash: impl Fn(&[u8]) -> [u8; 32],
) -> std::result::Result<Head, Break> {
    let mut expect = Head::EMPTY;
    for (index, line) in lines.iter().enumerate() {
        let (seq, _, pprev) = links(line).ok_or(Break::Malformed { index })?;
        if seq <= expect.seq {
            return Err(Break::Sequence { expected: expect.seq + 1, found: seq });
        }
        if pprev != expect.hash {
            return Err(Break::Link { seq });
        }
        expect = Head { seq, hash: hash(line.as_bytes()) };
    }
    match head {
        Some(h) if h != expect => Err(Break::Head { head: h.seq, last: expect.seq }),
        _ => Ok(expect),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(partition: u32, event: &'a str, extra: &'a [(&'a str, Value<'a>)]) -> Event<'a> {
        Event { partition, role: "user", event, object: None, result: "CKR_OK", extra }
    }

    #[test]
    fn lines_have_a_fixed_shape() {
        let e = Event {
            partition: 3,
            role: "so",
            event: "key_generate",
            object: Some("0a1b"),
            result: "CKR_OK",
            extra: &[("mechanism", Value::Str("CKM_EC_KEY_PAIR_GEN")), ("count", Value::Int(12))],
        };
        let line = render(9, 1_795_309_323, &e, &[0x11; 32], &ZERO);
        assert_eq!(
            line,
            format!(
                "{{\"seq\":9,\"time\":\"2026-11-22T01:02:03Z\",\"partition\":3,\"role\":\"so\",\
                 \"event\":\"key_generate\",\"object\":\"0a1b\",\"result\":\"CKR_OK\",\
                 \"mechanism\":\"CKM_EC_KEY_PAIR_GEN\",\"count\":12,\"prev\":\"{}\",\"pprev\":\"{}\"}}",
                "11".repeat(32),
                "00".repeat(32)
            )
        );
        assert_eq!(links(&line), Some((9, [0x11; 32], ZERO)));
        assert_eq!(partition_of(&line), Some(3));
    }

    #[test]
    fn strings_are_escaped() {
        let e = Event { object: Some("a\"b\\c\nd\u{1}"), ..ev(0, "x", &[]) };
        let line = render(1, 0, &e, &ZERO, &ZERO);
        assert!(line.contains(r#""object":"a\"b\\c\nd\u0001""#), "{line}");
        assert_eq!(links(&line).map(|l| l.0), Some(1));
    }

    #[test]
    fn malformed_lines_have_no_links() {
        for bad in ["", "{}", "{\"seq\":x,", "{\"seq\":1,\"prev\":\"00\",\"pprev\":\"00\"}"] {
            assert_eq!(links(bad), None, "{bad}");
        }
    }

    #[test]
    fn extra_fields_cannot_shadow_fixed_ones() {
        assert!(!extra_fields_ok(&ev(0, "x", &[("prev", Value::Int(1))])));
        assert!(extra_fields_ok(&ev(0, "x", &[("count", Value::Int(1))])));
    }
}
