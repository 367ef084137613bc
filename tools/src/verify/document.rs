//! Device, partition and log attestations (docs/audit.md, "Attestations"): CMS
//! `SignedData` over a JSON document, signed by the device's audit key or by a
//! partition's attestation key, whose certificate chains to the device root.
//!
//! [`verify`] checks, in this order: the CMS structure and digest ([`Check::Input`],
//! [`Check::Evidence`]), the path from the signer to the pinned root and every
//! signature, validity, constraint and purpose on it (as for key evidence), the
//! document (its type, version and fields: [`Check::Claims`]), that the key that
//! signed is the one this kind of attestation is signed by ([`Check::Signer`]), the
//! nonce, and for a log attestation that its entries chain from its `start` and end
//! at its head when they reach it ([`Check::Log`]).

use std::time::SystemTime;

use serde_json::Value;

use super::input::{self, Attestation, Cert};
use super::{Check, Failure, chain, evidence, hex, time_text};

/// Which attestation a document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `ferrohsm-device-attestation`.
    Device,
    /// `ferrohsm-partition-attestation`.
    Partition,
    /// `ferrohsm-log-attestation`.
    Log,
}

impl Kind {
    /// The document's `type`.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Device => "ferrohsm-device-attestation",
            Kind::Partition => "ferrohsm-partition-attestation",
            Kind::Log => "ferrohsm-log-attestation",
        }
    }

    fn of(type_name: &str) -> Option<Kind> {
        [Kind::Device, Kind::Partition, Kind::Log].into_iter().find(|k| k.type_name() == type_name)
    }

    fn words(self) -> &'static str {
        match self {
            Kind::Device => "device attestation",
            Kind::Partition => "partition attestation",
            Kind::Log => "log attestation",
        }
    }
}

/// The kind of attestation `bytes` (DER or PEM) hold, when they are CMS evidence
/// over one of these documents; `None` for anything else (a key attestation, or
/// not an attestation). Nothing is verified here.
pub fn kind_of(bytes: &[u8]) -> Option<Kind> {
    let Ok(Attestation::Evidence(der)) = input::attestation(bytes) else { return None };
    let ev = evidence::parse(&der).ok()?;
    let v: Value = serde_json::from_slice(&ev.content).ok()?;
    Kind::of(v.get("type")?.as_str()?)
}

/// The head of a log or of a partition's entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The last entry's sequence number.
    pub seq: u64,
    /// SHA-256 of its line.
    pub hash: [u8; 32],
}

/// A verified attestation: the document and what was checked.
#[derive(Clone, Debug)]
pub struct Document {
    /// Which one.
    pub kind: Kind,
    /// The JSON document, as signed.
    pub json: Value,
    /// When it was made (`time`).
    pub time: String,
    /// Its nonce.
    pub nonce: Vec<u8>,
    /// Whether a nonce was given and matched.
    pub nonce_checked: bool,
    /// The device serial it names.
    pub device_serial: String,
    /// Subjects from the signer up to the pinned root.
    pub path: Vec<String>,
    /// The time validity was checked at.
    pub at: SystemTime,
}

impl Document {
    /// A log attestation's scope: `None` for the whole log, else the partition.
    pub fn scope(&self) -> Option<u64> {
        self.json["scope"]["partition"].as_u64()
    }

    /// A log attestation's head (or a device or partition attestation's log head).
    pub fn head(&self) -> Head {
        let h = match self.kind {
            Kind::Log => &self.json["head"],
            Kind::Device => &self.json["state"]["log_head"],
            Kind::Partition => &self.json["log_head"],
        };
        // Checked by [`verify`].
        Head { seq: h["seq"].as_u64().unwrap_or(0), hash: hash_of(&h["hash"]).unwrap_or([0; 32]) }
    }

    /// A log attestation's entries (the lines, as hashed).
    pub fn entries(&self) -> Vec<&str> {
        self.json["entries"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
    }

    /// A log attestation's range: `from` and `to`.
    pub fn range(&self) -> (u64, u64) {
        (self.json["from"].as_u64().unwrap_or(0), self.json["to"].as_u64().unwrap_or(0))
    }
}

fn claims(detail: impl Into<String>) -> Failure {
    Failure::new(Check::Claims, detail)
}

/// 64 hex digits.
pub fn hash_of(v: &Value) -> Option<[u8; 32]> {
    let s = v.as_str()?;
    if s.len() != 64 {
        return None;
    }
    hex::decode(s).ok()?.try_into().ok()
}

/// What a field must be.
type Test = fn(&Value) -> bool;

/// The fields a document must have, by path, and what they must be.
fn required(kind: Kind) -> Vec<(&'static str, Test)> {
    let u64_: Test = Value::is_u64;
    let hash: Test = |v| hash_of(v).is_some();
    let string: Test = Value::is_string;
    let array: Test = Value::is_array;
    let null_or_u64: Test = |v| v.is_null() || v.is_u64();
    match kind {
        Kind::Log => vec![
            ("device/serial", string),
            ("scope/partition", null_or_u64),
            ("from", u64_),
            ("to", u64_),
            ("start", hash),
            ("head/seq", u64_),
            ("head/hash", hash),
            ("entries", array),
        ],
        Kind::Device => vec![
            ("config/partitions", array),
            ("config/store/pin_kdf/algorithm", string),
            ("state/software", string),
            ("state/version", string),
            ("state/provider", string),
            ("state/device_serial", string),
            ("state/objects", Value::is_object),
            ("state/log_head/seq", u64_),
            ("state/log_head/hash", hash),
        ],
        Kind::Partition => vec![
            ("device/serial", string),
            ("partition/id", u64_),
            ("partition/serial", string),
            ("partition/label", string),
            ("partition/policy", Value::is_object),
            ("so/pin_set", Value::is_boolean),
            ("user/pin_set", Value::is_boolean),
            ("keys", array),
            ("log_head/seq", u64_),
            ("log_head/hash", hash),
        ],
    }
}

fn field<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('/').fold(v, |v, k| &v[k])
}

/// A certificate subject's attribute (`CN`, `OU`, `serialNumber`) as text.
fn name_attr(c: &Cert, oid: der::asn1::ObjectIdentifier) -> Option<String> {
    c.subject.by_oid::<x509_cert::ext::pkix::name::DirectoryString>(oid).ok()?.map(|d| d.value().into_owned())
}

/// Whether `signer` is the key this document must be signed by: the device's audit
/// key (`CN=ferrohsm audit <serial>`), or for a partition's own attestation and log
/// the partition's attestation key (`CN=ferrohsm partition <id> attestation`,
/// `OU=<partition serial>`), the device serial in `serialNumber` either way.
fn check_signer(kind: Kind, doc: &Value, serial: &str, signer: &Cert) -> Result<(), Failure> {
    use const_oid::db::rfc4519::{COMMON_NAME, ORGANIZATIONAL_UNIT_NAME, SERIAL_NUMBER};
    let cn = name_attr(signer, COMMON_NAME).unwrap_or_default();
    let ou = name_attr(signer, ORGANIZATIONAL_UNIT_NAME);
    let sn = name_attr(signer, SERIAL_NUMBER).unwrap_or_default();
    let fail = |why: String| Err(Failure::new(Check::Signer, why));
    if sn != serial {
        return fail(format!(
            "the signer {} is a key of device {sn}, but the document is about device {serial}",
            signer.subject()
        ));
    }
    if cn == format!("ferrohsm audit {serial}") {
        return Ok(());
    }
    // A partition's own attestation key, for its own partition only.
    let partition = match kind {
        Kind::Partition => doc["partition"]["id"].as_u64().map(|id| (id, doc["partition"]["serial"].as_str())),
        Kind::Log => doc["scope"]["partition"].as_u64().map(|id| (id, None)),
        Kind::Device => None,
    };
    match partition {
        Some((id, serial)) if cn == format!("ferrohsm partition {id} attestation") => match serial {
            Some(s) if ou.as_deref() != Some(s) => fail(format!(
                "the signer {} is the attestation key of the partition with serial {}, not of partition {id} ({s})",
                signer.subject(),
                ou.unwrap_or_default()
            )),
            _ => Ok(()),
        },
        _ => fail(format!(
            "a {} is signed by the device's audit key{}; {} signed this one",
            kind.words(),
            match partition {
                Some((id, _)) => format!(" or partition {id}'s attestation key"),
                None => String::new(),
            },
            signer.subject()
        )),
    }
}

/// Checks a log attestation's own entries: consecutive from `from` (the whole log)
/// or increasing within `from..=to` and of that partition, each linking to the one
/// before, the first to `start`; and when they reach the head, the last is it.
fn check_entries(doc: &Value) -> Result<(), Failure> {
    let fail = |detail: String| Failure::new(Check::Log, detail);
    let scope = doc["scope"]["partition"].as_u64();
    let (from, to) = (doc["from"].as_u64().unwrap_or(0), doc["to"].as_u64().unwrap_or(0));
    let head = (doc["head"]["seq"].as_u64().unwrap_or(0), hash_of(&doc["head"]["hash"]).unwrap_or([0; 32]));
    let mut prev = hash_of(&doc["start"]).unwrap_or([0; 32]);
    let mut last = from.saturating_sub(1);
    let entries = doc["entries"].as_array().map(Vec::as_slice).unwrap_or_default();
    for e in entries {
        let line = e.as_str().ok_or_else(|| fail("an entry is not a string".into()))?;
        let l = super::log::parse_line(line).map_err(|why| fail(format!("after entry {last}: {why}")))?;
        let ok_seq = match scope {
            None => l.seq == last + 1,
            Some(p) => l.seq > last && l.partition == p,
        };
        if !ok_seq || l.seq > to {
            return Err(fail(format!("entry {} does not belong after entry {last} in this attestation", l.seq)));
        }
        let link = if scope.is_some() { l.pprev } else { l.prev };
        if link != prev {
            return Err(fail(format!("entry {} does not link to the entry before it", l.seq)));
        }
        prev = super::log::sha256(line.as_bytes());
        last = l.seq;
    }
    if scope.is_none() && last != to && !(entries.is_empty() && to < from) {
        return Err(fail(format!("the entries end at {last}, but the attestation says they run to {to}")));
    }
    if to >= head.0 && head.0 >= from && (last != head.0 || prev != head.1) {
        return Err(fail(format!("the entries reach the head (entry {}) but do not end with it", head.0)));
    }
    Ok(())
}

/// Verifies a device, partition or log attestation (DER or PEM) against the pinned
/// `root`; `chain` holds more untrusted certificates (the CMS carries its own). A
/// log attestation's entries are checked against each other too.
pub fn verify(
    bytes: &[u8],
    root: &[u8],
    chain_certs: &[Vec<u8>],
    nonce: Option<&[u8]>,
    at: Option<SystemTime>,
) -> Result<Document, Failure> {
    let doc = verify_signed(bytes, root, chain_certs, nonce, at)?;
    if doc.kind == Kind::Log {
        check_entries(&doc.json)?;
    }
    Ok(doc)
}

/// [`verify`] without the check of a log attestation's entries: for a verifier that
/// checks them line by line against an export ([`super::log`]), which reports
/// where the log breaks rather than only that the attestation's copy does.
pub fn verify_signed(
    bytes: &[u8],
    root: &[u8],
    chain_certs: &[Vec<u8>],
    nonce: Option<&[u8]>,
    at: Option<SystemTime>,
) -> Result<Document, Failure> {
    let at = at.unwrap_or_else(SystemTime::now);
    let input = |e: String| Failure::new(Check::Input, e);
    let root = {
        let mut certs = input::certificates(root).map_err(|e| input(format!("the root: {e}")))?;
        if certs.len() != 1 {
            return Err(input(format!("the root file holds {} certificates; pin exactly one", certs.len())));
        }
        certs.remove(0)
    };
    let mut pool = Vec::new();
    for bundle in chain_certs {
        pool.extend(input::certificates(bundle).map_err(|e| input(format!("the chain: {e}")))?);
    }
    let der = match input::attestation(bytes).map_err(input)? {
        Attestation::Evidence(der) => der,
        Attestation::Certificate(_) => {
            return Err(input("a certificate: a key attestation, not a device, partition or log attestation".into()));
        }
    };
    let ev = evidence::parse(&der)?;
    let mut all = ev.certs.clone();
    all.extend(pool.iter().cloned());
    let signer = ev.signer(&pool)?.clone();
    let path = chain::build(&signer, &all, &root)?;
    ev.verify_signature(&signer)?;
    chain::check(&path, chain::Leaf::EvidenceSigner, at)?;

    let json: Value =
        serde_json::from_slice(&ev.content).map_err(|e| claims(format!("the signed content is not JSON: {e}")))?;
    let type_name = json["type"].as_str().unwrap_or_default();
    let kind = Kind::of(type_name).ok_or_else(|| {
        claims(format!("the document's type is {:?}: not a device, partition or log attestation", json["type"]))
    })?;
    if json["version"] != 1 {
        return Err(claims(format!("{} version {} (this verifier reads version 1)", kind.words(), json["version"])));
    }
    for (path, ok) in required(kind) {
        if !ok(field(&json, path)) {
            return Err(claims(format!("the {} has no valid {path}", kind.words())));
        }
    }
    let time = json["time"].as_str().ok_or_else(|| claims("the document has no time"))?.to_string();
    let got_nonce = json["nonce"]
        .as_str()
        .and_then(|n| hex::decode(n).ok())
        .ok_or_else(|| claims("the document's nonce is not hex"))?;
    let device_serial = match kind {
        Kind::Device => json["state"]["device_serial"].as_str(),
        _ => json["device"]["serial"].as_str(),
    }
    .unwrap_or_default()
    .to_string();

    check_signer(kind, &json, &device_serial, &signer)?;
    let mut nonce_checked = false;
    if let Some(want) = nonce {
        if got_nonce != want {
            return Err(Failure::new(
                Check::Nonce,
                format!(
                    "the attestation's nonce is {}, not the expected {}",
                    hex::encode(&got_nonce),
                    hex::encode(want)
                ),
            ));
        }
        nonce_checked = true;
    }
    Ok(Document {
        kind,
        json,
        time,
        nonce: got_nonce,
        nonce_checked,
        device_serial,
        path: path.iter().map(Cert::subject).collect(),
        at,
    })
}

fn yes_no(v: &Value) -> &'static str {
    match v.as_bool() {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

fn policy_text(p: &Value) -> String {
    format!(
        "allow export {}, key invalidation {}, read-only {}, max PIN failures {}, min PIN length {}",
        yes_no(&p["allow_export"]),
        yes_no(&p["key_invalidation"]),
        yes_no(&p["read_only"]),
        p["max_pin_failures"],
        p["min_pin_len"]
    )
}

fn pin_text(p: &Value) -> String {
    if p["pin_set"] != true {
        return "not set".into();
    }
    let mut s = format!(
        "set, {}, {} failed attempt(s)",
        if p["locked"] == true { "LOCKED" } else { "not locked" },
        p["failures"].as_u64().unwrap_or(0)
    );
    match &p["last_login"] {
        Value::String(t) => s.push_str(&format!(", last login {t}")),
        Value::Null if p.get("last_login").is_some() => s.push_str(", never logged in"),
        _ => {}
    }
    s
}

fn head_text(h: &Value) -> String {
    format!("entry {}, {}", h["seq"], h["hash"].as_str().unwrap_or_default())
}

fn partition_text(p: &Value) -> String {
    format!(
        "slot {} \"{}\" (serial {}){}",
        p["slot"],
        p["label"].as_str().unwrap_or_default(),
        p["serial"].as_str().unwrap_or_default(),
        if p["initialized"] == true { "" } else { ", not initialised" }
    )
}

impl Document {
    /// A readable report, one fact a line.
    pub fn report(&self) -> String {
        let j = &self.json;
        let mut out = String::new();
        let mut line = |label: &str, value: String| out.push_str(&format!("{label:<20}{value}\n"));
        let what = match self.kind {
            Kind::Log => match self.scope() {
                None => "log attestation (CMS), the whole log".to_string(),
                Some(p) => format!("log attestation (CMS), partition {p}'s entries"),
            },
            k => format!("{} (CMS)", k.words()),
        };
        line("attestation:", what);
        line("made:", self.time.clone());
        line(
            "nonce:",
            match (self.nonce.is_empty(), self.nonce_checked) {
                (true, _) => "none".into(),
                (false, true) => format!("{} (as expected)", hex::encode(&self.nonce)),
                (false, false) => format!("{} (not checked)", hex::encode(&self.nonce)),
            },
        );
        match self.kind {
            Kind::Device => {
                let s = &j["state"];
                line(
                    "device:",
                    format!(
                        "{} ({} {}, provider {}, build {})",
                        self.device_serial,
                        s["software"].as_str().unwrap_or_default(),
                        s["version"].as_str().unwrap_or_default(),
                        s["provider"].as_str().unwrap_or_default(),
                        s["build"].as_str().unwrap_or_default()
                    ),
                );
                line("uptime:", format!("{} s", s["uptime_seconds"]));
                let k = &j["config"]["store"]["pin_kdf"];
                line(
                    "PIN KDF:",
                    format!(
                        "{} m={} KiB t={} p={}",
                        k["algorithm"].as_str().unwrap_or_default(),
                        k["m_kib"],
                        k["t"],
                        k["p"]
                    ),
                );
                line("log head:", head_text(&s["log_head"]));
                for p in j["config"]["partitions"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    line("partition:", partition_text(p));
                    line("  policy:", policy_text(&p["policy"]));
                    line("  SO PIN:", pin_text(&p["so"]));
                    line("  user PIN:", pin_text(&p["user"]));
                    if let Some(n) = s["objects"].get(p["id"].to_string()) {
                        line("  objects:", n.to_string());
                    }
                }
            }
            Kind::Partition => {
                line("device:", self.device_serial.clone());
                line("partition:", partition_text(&j["partition"]));
                line("policy:", policy_text(&j["partition"]["policy"]));
                line("SO PIN:", pin_text(&j["so"]));
                line("user PIN:", pin_text(&j["user"]));
                let keys = j["keys"].as_array().map(Vec::as_slice).unwrap_or_default();
                let unread = match j["private_objects_unread"].as_u64() {
                    Some(n) => format!(" (and {n} private object(s) the signer could not read)"),
                    None => String::new(),
                };
                line("keys:", format!("{}{unread}", keys.len()));
                for k in keys {
                    let mut s = format!(
                        "{} {} \"{}\" {}, {}",
                        k["class"].as_str().unwrap_or_default().trim_start_matches("CKO_"),
                        k["key_type"].as_str().unwrap_or_default().trim_start_matches("CKK_"),
                        k["label"].as_str().unwrap_or_default(),
                        k["unique_id"].as_str().unwrap_or_default(),
                        k["origin"].as_str().unwrap_or("origin unknown"),
                    );
                    for (name, label) in [
                        ("local", "local"),
                        ("sensitive", "sensitive"),
                        ("extractable", "extractable"),
                        ("never_extractable", "never extractable"),
                        ("private", "private"),
                    ] {
                        if !k[name].is_null() {
                            s.push_str(&format!(", {label} {}", yes_no(&k[name])));
                        }
                    }
                    if let Some(r) = k["role"].as_str() {
                        s.push_str(&format!(" [{r}]"));
                    }
                    line("", format!("- {s}"));
                }
                line("log head:", head_text(&j["log_head"]));
            }
            Kind::Log => {
                line("device:", self.device_serial.clone());
                let (from, to) = self.range();
                line("range:", format!("entries {from} to {to}: {} entries", self.entries().len()));
                line("starts after:", j["start"].as_str().unwrap_or_default().to_string());
                line("head:", head_text(&j["head"]));
                line(
                    "entries:",
                    if to >= self.head().seq {
                        "chained, ending at the head".into()
                    } else {
                        "chained (the head is past this range)".into()
                    },
                );
            }
        }
        for (i, name) in self.path.iter().enumerate() {
            let role = if i + 1 == self.path.len() { " (pinned root)" } else { "" };
            line(if i == 0 { "signed by:" } else { "" }, format!("{}{name}{role}", if i == 0 { "" } else { "<- " }));
        }
        line("valid at:", time_text(self.at));
        out
    }
}
