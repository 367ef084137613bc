//! Log, device and partition attestation (docs/audit.md, "Attestations"):
//! `CKM_FERRO_LOG_ATTEST`, `CKM_FERRO_DEVICE_ATTEST` and `CKM_FERRO_PARTITION_ATTEST`.
//!
//! Each is a fresh attestation through `C_SignInit` / `C_Sign`, with no mechanism
//! parameter. The key named in `C_SignInit` is the key that signs: the audit key
//! (role 5) on the admin token, a partition's attestation key (role 3) on that
//! partition. The mechanism checks who is logged in: the device SO on the admin
//! token, the partition's SO on a partition. `C_Sign`'s data is the request: a
//! nonce, or a JSON object with `nonce`, `from`, `to` and `partition`. The result
//! is a CMS SignedData over a JSON document, with the chain in its certificates,
//! and making it writes an `attestation_made` entry to the log.
//!
//! Nothing secret goes into a document: PIN *states* (set, locked, failures), never
//! PINs; key *metadata*, never a key value. The inventory of a partition's keys
//! reads only the attributes it lists, from the store, with the caller's master key
//! for private objects.

use std::collections::BTreeMap;
use std::sync::Arc;

use cryptoki_sys::*;
use ferrohsm_store::audit::{Head, Value, ZERO, hex, rfc3339};
use ferrohsm_store::{ADMIN_PARTITION, MasterKey, PartitionRecord, PinRecord, StoredValue};
use serde::{Deserialize, Serialize};

use super::attest::{RoleKey, device_chain, device_serial, role_key};
use super::audit::{DEVICE_SO, Pending, SO};
use super::{Policy, Session, Token};
use crate::attest::{cms, oid};
use crate::crypto::Provider;
use crate::error::{Result, err};
use crate::mechanism::{Entry, Mechanism, Registry, SignOp, check_allowed};
use crate::module::Module;
use crate::object::{Attrs, Object};
use crate::vendor::*;

/// The most entries one log attestation carries (docs/audit.md, "The request").
pub const MAX_ENTRIES: u64 = 10_000;

/// The longest nonce (as for key attestation).
pub const MAX_NONCE: usize = super::attest::MAX_NONCE;

/// The longest request `C_Sign` takes: a JSON request with a 64-byte nonce and
/// every member fits with room to spare.
pub const MAX_REQUEST: usize = 1024;

/// The document format's version.
const VERSION: u32 = 1;

/// Registers the three mechanisms (from [`Registry::new`]). They sign with the
/// token's own P-256 keys.
pub fn register(r: &mut Registry) {
    let entry = || Entry { key_types: &[CKK_EC], attest: Some(make), ..Entry::new(256, 256, CKF_SIGN) };
    r.insert(CKM_FERRO_PARTITION_ATTEST, entry());
    r.insert(CKM_FERRO_DEVICE_ATTEST, entry());
    r.insert(CKM_FERRO_LOG_ATTEST, entry());
}

/// Which attestation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Log,
    Device,
    Partition,
}

impl Kind {
    fn of(mech: CK_MECHANISM_TYPE) -> Result<Kind> {
        match mech {
            CKM_FERRO_LOG_ATTEST => Ok(Kind::Log),
            CKM_FERRO_DEVICE_ATTEST => Ok(Kind::Device),
            CKM_FERRO_PARTITION_ATTEST => Ok(Kind::Partition),
            _ => Err(err(CKR_MECHANISM_INVALID, "not a device, partition or log attestation")),
        }
    }

    fn mechanism_name(self) -> &'static str {
        match self {
            Kind::Log => "CKM_FERRO_LOG_ATTEST",
            Kind::Device => "CKM_FERRO_DEVICE_ATTEST",
            Kind::Partition => "CKM_FERRO_PARTITION_ATTEST",
        }
    }
}

/// `C_SignInit` of one of the three: checks the key (the token's own signing key
/// for this mechanism) and the login (the token's SO).
fn make(m: &Module, s: &Session, mech: &Mechanism, key: &Arc<Object>) -> Result<Box<dyn SignOp>> {
    mech.no_parameter()?;
    let kind = Kind::of(mech.ty)?;
    let admin = s.token.admin;
    if kind == Kind::Device && !admin {
        return Err(err(
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "device attestation is made on the admin token and signed by the audit key",
        ));
    }
    let (role, role_name) = if admin {
        (KeyRole::Audit, "the audit key")
    } else {
        (KeyRole::PartitionAttestation, "the partition's attestation key")
    };
    if key.class() != CKO_PRIVATE_KEY || key.attrs.ulong(CKA_FERRO_KEY_ROLE) != Some(role as u64) {
        return Err(err(CKR_KEY_FUNCTION_NOT_PERMITTED, format!("{} is signed by {role_name}", kind.mechanism_name())));
    }
    if key.attrs.bool(CKA_SIGN) != Some(true) {
        return Err(err(CKR_KEY_FUNCTION_NOT_PERMITTED, "the key's CKA_SIGN is false"));
    }
    check_allowed(key, mech.ty)?;
    let st = s.token.state.read();
    if !st.so_logged_in() {
        let who = if admin { "the device SO" } else { "the partition's SO" };
        return Err(err(CKR_USER_NOT_LOGGED_IN, format!("{} needs {who}", kind.mechanism_name())));
    }
    let signer = role_key(&st, role).ok_or_else(|| err(CKR_GENERAL_ERROR, "the signing key has no certificate"))?;
    if signer.key.handle != key.handle {
        return Err(err(CKR_KEY_FUNCTION_NOT_PERMITTED, format!("{} is signed by {role_name}", kind.mechanism_name())));
    }
    drop(st);
    Ok(Box::new(DocAttest {
        kind,
        provider: m.provider.clone(),
        token: s.token.clone(),
        signer,
        chain: device_chain(m)?,
        data: Vec::new(),
    }))
}

/// An attestation between `C_SignInit` and the `C_Sign` that makes it.
struct DocAttest {
    kind: Kind,
    provider: Arc<dyn Provider>,
    /// The session's token.
    token: Arc<Token>,
    /// The key that signs, with its certificate.
    signer: RoleKey,
    /// The certificates above the signer's.
    chain: Vec<Vec<u8>>,
    /// The request, as `C_Sign` / `C_SignUpdate` gave it.
    data: Vec<u8>,
}

impl SignOp for DocAttest {
    fn sign_len(&self) -> usize {
        // An upper bound is not known (a log attestation holds up to 10,000 lines);
        // a length query computes the result (len_is_exact).
        16 * 1024
    }
    fn len_is_exact(&self) -> bool {
        false
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        if self.data.len() + data.len() > MAX_REQUEST {
            return Err(err(CKR_DATA_LEN_RANGE, "a nonce is at most 64 bytes, a request at most 1024"));
        }
        self.data.extend_from_slice(data);
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        // Called once per attestation: a length query keeps the result for the call
        // that fetches it, so the document, its signature and its log entry are
        // made once.
        let m = crate::module::get()?;
        let req = Request::parse(&self.data)?;
        if !self.token.state.read().so_logged_in() {
            return Err(err(CKR_USER_NOT_LOGGED_IN, "the SO logged out since C_SignInit"));
        }
        let now = crate::time::now();
        let (json, audit) = match self.kind {
            Kind::Log => self.log(&m, &req, now)?,
            Kind::Device => self.device(&m, &req, now)?,
            Kind::Partition => self.partition(&m, &req, now)?,
        };
        let mut certs = vec![self.signer.cert_der().to_vec()];
        certs.extend(self.chain.iter().cloned());
        let cert = self.signer.cert_der();
        let out = self.signer.with_signer(self.provider.as_ref(), |s| {
            cms::signed_data(&oid::EVIDENCE, json.as_bytes(), cert, &certs, s, now)
        })?;
        super::audit::write_with(&m, &audit, &[("mechanism", Value::Str(self.kind.mechanism_name()))])?;
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// The request

/// The members a JSON request may have (docs/audit.md, "The request").
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestJson {
    nonce: Option<String>,
    from: Option<u64>,
    to: Option<u64>,
    partition: Option<u64>,
}

/// A request, read.
#[derive(Debug, Default, PartialEq, Eq)]
struct Request {
    nonce: Vec<u8>,
    from: Option<u64>,
    to: Option<u64>,
    partition: Option<u64>,
}

impl Request {
    /// `C_Sign`'s data: UTF-8 text that begins with `{` and ends with `}` is a JSON
    /// request; anything else is the nonce itself.
    fn parse(data: &[u8]) -> Result<Request> {
        let is_json = data.first() == Some(&b'{') && data.last() == Some(&b'}') && std::str::from_utf8(data).is_ok();
        if !is_json {
            if data.len() > MAX_NONCE {
                return Err(err(CKR_DATA_LEN_RANGE, "an attestation nonce is at most 64 bytes"));
            }
            return Ok(Request { nonce: data.to_vec(), ..Request::default() });
        }
        let r: RequestJson = serde_json::from_slice(data).map_err(|e| {
            err(CKR_DATA_INVALID, format!("the request is not {{\"nonce\",\"from\",\"to\",\"partition\"}}: {e}"))
        })?;
        let nonce = match &r.nonce {
            Some(h) => unhex(h).ok_or_else(|| err(CKR_DATA_INVALID, "the request's nonce is not hex"))?,
            None => Vec::new(),
        };
        if nonce.len() > MAX_NONCE {
            return Err(err(CKR_DATA_LEN_RANGE, "an attestation nonce is at most 64 bytes"));
        }
        Ok(Request { nonce, from: r.from, to: r.to, partition: r.partition })
    }

    /// Refuses a log range where it means nothing.
    fn no_range(&self, what: &str) -> Result<()> {
        if self.from.is_some() || self.to.is_some() {
            return Err(err(CKR_DATA_INVALID, format!("from and to choose entries of a log attestation, not {what}")));
        }
        Ok(())
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// The range of sequence numbers a log attestation covers: `from..=to`, `to` at most
/// the head. Default: the last [`MAX_ENTRIES`] up to the head. `to < from` when
/// there is nothing in it.
fn range(from: Option<u64>, to: Option<u64>, head: u64) -> Result<(u64, u64)> {
    if from == Some(0) || to == Some(0) {
        return Err(err(CKR_DATA_INVALID, "sequence numbers start at 1"));
    }
    let (from, to) = match (from, to) {
        (Some(f), Some(t)) if t < f => return Err(err(CKR_DATA_INVALID, "to is before from")),
        (Some(f), Some(t)) if t - f >= MAX_ENTRIES => {
            return Err(err(CKR_DATA_INVALID, "at most 10,000 sequence numbers at once"));
        }
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, f.saturating_add(MAX_ENTRIES - 1)),
        (None, Some(t)) => (t.saturating_sub(MAX_ENTRIES - 1).max(1), t),
        (None, None) => (head.saturating_sub(MAX_ENTRIES - 1).max(1), head),
    };
    Ok((from, to.min(head)))
}

/// The partition a request names, as the device SO on the admin token may.
fn named_partition(m: &Module, req: &Request) -> Result<Option<Arc<Token>>> {
    match req.partition {
        None => Ok(None),
        Some(p) => {
            let slot = CK_SLOT_ID::try_from(p).map_err(|_| err(CKR_DATA_INVALID, "no such partition"))?;
            m.token(slot).map(Some).map_err(|_| err(CKR_DATA_INVALID, format!("no partition {p}")))
        }
    }
}

// ---------------------------------------------------------------------------
// The documents (their fields in the order docs/audit.md shows)

#[derive(Serialize)]
struct DeviceRef {
    serial: String,
}

#[derive(Serialize)]
struct HeadJson {
    seq: u64,
    hash: String,
}

impl From<Head> for HeadJson {
    fn from(h: Head) -> Self {
        HeadJson { seq: h.seq, hash: hex(&h.hash) }
    }
}

#[derive(Serialize)]
struct Scope {
    partition: Option<u32>,
}

#[derive(Serialize)]
struct LogDoc {
    #[serde(rename = "type")]
    ty: &'static str,
    version: u32,
    nonce: String,
    time: String,
    device: DeviceRef,
    scope: Scope,
    from: u64,
    to: u64,
    start: String,
    head: HeadJson,
    entries: Vec<String>,
}

#[derive(Serialize)]
struct PolicyJson {
    allow_export: bool,
    key_invalidation: bool,
    read_only: bool,
    max_pin_failures: u64,
    min_pin_len: u64,
}

impl From<Policy> for PolicyJson {
    fn from(p: Policy) -> Self {
        PolicyJson {
            allow_export: p.allow_export,
            key_invalidation: p.key_invalidation,
            read_only: p.read_only,
            max_pin_failures: u64::from(p.max_pin_failures),
            min_pin_len: p.min_pin_len as u64,
        }
    }
}

/// A PIN's state: never the PIN.
#[derive(Serialize)]
struct PinJson {
    pin_set: bool,
    locked: bool,
    failures: u32,
    /// The user's last successful login (partition attestation only).
    #[serde(skip_serializing_if = "Option::is_none")]
    last_login: Option<Option<String>>,
}

impl PinJson {
    fn of(pin: Option<&PinRecord>) -> Self {
        PinJson {
            pin_set: pin.is_some(),
            locked: pin.is_some_and(|p| p.locked),
            failures: pin.map_or(0, |p| p.failures),
            last_login: None,
        }
    }
}

/// A partition in a device attestation: its configuration and PIN states.
#[derive(Serialize)]
struct PartitionJson {
    id: u32,
    slot: u64,
    label: String,
    serial: String,
    initialized: bool,
    policy: PolicyJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    so: Option<PinJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<PinJson>,
}

impl PartitionJson {
    fn of(rec: &PartitionRecord) -> Self {
        PartitionJson {
            id: rec.id,
            slot: u64::from(rec.id),
            label: String::from_utf8_lossy(&rec.label).into_owned(),
            serial: hex(&rec.serial),
            initialized: rec.initialized,
            policy: Policy::of(rec).into(),
            so: Some(PinJson::of(rec.so.as_ref())),
            user: Some(PinJson::of(rec.user.as_ref())),
        }
    }
}

#[derive(Serialize)]
struct KdfJson {
    algorithm: &'static str,
    m_kib: u32,
    t: u32,
    p: u32,
}

#[derive(Serialize)]
struct StoreJson {
    pin_kdf: KdfJson,
    /// Whether key usage is counted into the log (`audit_key_usage`).
    audit_key_usage: bool,
}

#[derive(Serialize)]
struct ConfigJson {
    partitions: Vec<PartitionJson>,
    store: StoreJson,
}

#[derive(Serialize)]
struct StateJson {
    software: &'static str,
    version: &'static str,
    provider: String,
    build: String,
    device_serial: String,
    uptime_seconds: u64,
    objects: BTreeMap<String, usize>,
    log_head: HeadJson,
}

#[derive(Serialize)]
struct DeviceDoc {
    #[serde(rename = "type")]
    ty: &'static str,
    version: u32,
    nonce: String,
    time: String,
    config: ConfigJson,
    state: StateJson,
}

/// A key of a partition: metadata only.
#[derive(Serialize)]
struct KeyJson {
    unique_id: String,
    class: &'static str,
    key_type: String,
    label: String,
    id: String,
    origin: Option<&'static str>,
    local: Option<bool>,
    sensitive: Option<bool>,
    always_sensitive: Option<bool>,
    extractable: Option<bool>,
    never_extractable: Option<bool>,
    private: Option<bool>,
    modifiable: Option<bool>,
    created: Option<String>,
    /// The role of one of the device's own keys (`CKA_FERRO_KEY_ROLE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
}

#[derive(Serialize)]
struct PartitionDoc {
    #[serde(rename = "type")]
    ty: &'static str,
    version: u32,
    nonce: String,
    time: String,
    device: DeviceRef,
    partition: PartitionJson,
    so: PinJson,
    user: PinJson,
    keys: Vec<KeyJson>,
    /// Private objects the attestation could not read: the device SO does not hold
    /// a partition's master key.
    #[serde(skip_serializing_if = "Option::is_none")]
    private_objects_unread: Option<usize>,
    log_head: HeadJson,
}

fn to_json<T: Serialize>(doc: &T) -> Result<String> {
    serde_json::to_string(doc).map_err(|e| err(CKR_GENERAL_ERROR, format!("encoding the attestation: {e}")))
}

// ---------------------------------------------------------------------------
// Making them

impl DocAttest {
    /// Who the entry of an attestation of `partition` names: the SO of the token it
    /// was made on, or the device SO acting on a user partition.
    fn pending(&self, partition: u32) -> Pending {
        let role = if self.token.partition == partition { SO } else { DEVICE_SO };
        Pending { partition, role, event: "attestation_made", object: None, result: CKR_OK }
    }

    /// The whole log (admin token, unless the request names a partition) or the
    /// partition's own entries.
    fn log(&self, m: &Module, req: &Request, now: u64) -> Result<(String, Pending)> {
        let scope = if self.token.admin {
            named_partition(m, req)?.map(|t| t.partition)
        } else {
            if req.partition.is_some_and(|p| p != u64::from(self.token.partition)) {
                return Err(err(CKR_DATA_INVALID, "a partition's SO attests its own partition's log"));
            }
            Some(self.token.partition)
        };
        let head = m.store.audit_head(scope)?;
        let (from, to) = range(req.from, req.to, head.seq)?;
        let start = m.store.audit_entry_before(from, scope)?.map_or(ZERO, |e| e.hash);
        let mut entries = Vec::new();
        if to >= from {
            for e in m.store.audit_entries(from, to, scope)? {
                match e {
                    Ok(e) => entries.push(e.line),
                    // Left out: the verifier sees the gap in the chain.
                    Err(e) => log::warn!("log attestation: an entry is unreadable: {e}"),
                }
            }
        }
        let doc = LogDoc {
            ty: "ferrohsm-log-attestation",
            version: VERSION,
            nonce: hex(&req.nonce),
            time: rfc3339(now),
            device: DeviceRef { serial: device_serial(m)? },
            scope: Scope { partition: scope },
            from,
            to,
            start: hex(&start),
            head: head.into(),
            entries,
        };
        Ok((to_json(&doc)?, self.pending(scope.unwrap_or(ADMIN_PARTITION))))
    }

    /// The device's configuration and state (admin token).
    fn device(&self, m: &Module, req: &Request, now: u64) -> Result<(String, Pending)> {
        req.no_range("a device attestation")?;
        if req.partition.is_some() {
            return Err(err(CKR_DATA_INVALID, "a device attestation covers every partition; it names none"));
        }
        let records = m.store.partitions()?;
        let kdf = m.store.kdf();
        let objects = records.iter().map(|r| (r.id.to_string(), m.store.count_objects(r.id))).collect();
        let doc = DeviceDoc {
            ty: "ferrohsm-device-attestation",
            version: VERSION,
            nonce: hex(&req.nonce),
            time: rfc3339(now),
            config: ConfigJson {
                partitions: records.iter().map(PartitionJson::of).collect(),
                store: StoreJson {
                    pin_kdf: KdfJson { algorithm: "argon2id", m_kib: kdf.m_kib, t: kdf.t, p: kdf.p },
                    audit_key_usage: m.count_usage,
                },
            },
            state: StateJson {
                software: "ferrohsm",
                version: env!("CARGO_PKG_VERSION"),
                provider: m.provider.name().into(),
                build: build(),
                device_serial: device_serial(m)?,
                uptime_seconds: m.started.elapsed().as_secs(),
                objects,
                log_head: m.store.audit_head(None)?.into(),
            },
        };
        Ok((to_json(&doc)?, self.pending(ADMIN_PARTITION)))
    }

    /// One partition: the session's own, or (device SO) the one the request names.
    fn partition(&self, m: &Module, req: &Request, now: u64) -> Result<(String, Pending)> {
        req.no_range("a partition attestation")?;
        let token = if self.token.admin {
            named_partition(m, req)?.ok_or_else(|| {
                err(CKR_DATA_INVALID, "the device SO names the partition: {\"partition\":N} in the request")
            })?
        } else {
            if req.partition.is_some_and(|p| p != u64::from(self.token.partition)) {
                return Err(err(CKR_DATA_INVALID, "a partition's SO attests its own partition"));
            }
            self.token.clone()
        };
        let rec = m.store.partition(token.partition)?;
        // The caller's master key for that partition, when it has one (its SO).
        let master = if Arc::ptr_eq(&token, &self.token) { self.token.state.read().master().cloned() } else { None };
        let (keys, unread) = inventory(m, token.partition, master.as_deref())?;
        let mut user = PinJson::of(rec.user.as_ref());
        user.last_login = Some((rec.last_login != 0).then(|| rfc3339(rec.last_login)));
        let doc = PartitionDoc {
            ty: "ferrohsm-partition-attestation",
            version: VERSION,
            nonce: hex(&req.nonce),
            time: rfc3339(now),
            device: DeviceRef { serial: device_serial(m)? },
            partition: PartitionJson { so: None, user: None, ..PartitionJson::of(&rec) },
            so: PinJson::of(rec.so.as_ref()),
            user,
            keys,
            private_objects_unread: (unread > 0).then_some(unread),
            log_head: m.store.audit_head(Some(token.partition))?.into(),
        };
        Ok((to_json(&doc)?, self.pending(token.partition)))
    }
}

/// The build: profile and target.
fn build() -> String {
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    format!("{profile} {}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// The attributes a key's entry shows. No value, no key material: these are the
/// only attributes read from the store.
const METADATA: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CLASS,
    CKA_KEY_TYPE,
    CKA_LABEL,
    CKA_ID,
    CKA_UNIQUE_ID,
    CKA_LOCAL,
    CKA_SENSITIVE,
    CKA_ALWAYS_SENSITIVE,
    CKA_EXTRACTABLE,
    CKA_NEVER_EXTRACTABLE,
    CKA_PRIVATE,
    CKA_MODIFIABLE,
    CKA_FERRO_ORIGIN,
    CKA_FERRO_CREATED,
    CKA_FERRO_KEY_ROLE,
];

/// The partition's token keys, in creation order, and the number of private objects
/// that could not be read without `master`.
fn inventory(m: &Module, partition: u32, master: Option<&MasterKey>) -> Result<(Vec<KeyJson>, usize)> {
    let mut keys = Vec::new();
    let mut unread = 0;
    for item in m.store.objects(partition) {
        let (oid, rec) = match item {
            Ok(x) => x,
            Err(e) => {
                log::warn!("partition attestation: partition {partition}: an unreadable object record: {e}");
                continue;
            }
        };
        let mut attrs = Attrs::default();
        let mut locked = false;
        for (ty, v) in &rec.attrs {
            if !METADATA.contains(&(*ty as CK_ATTRIBUTE_TYPE)) {
                continue;
            }
            match m.store.unseal(partition, oid, *ty, v, master) {
                Ok(plain) => attrs.set(*ty as CK_ATTRIBUTE_TYPE, plain.to_vec()),
                Err(_) if matches!(v, StoredValue::Sealed(_)) && master.is_none() => locked = true,
                Err(e) => log::warn!("partition attestation: object {oid:#x}: {e}"),
            }
        }
        if locked {
            unread += 1;
            continue;
        }
        let class = attrs.ulong(CKA_CLASS).map(|c| c as CK_OBJECT_CLASS);
        let class = match class {
            Some(CKO_PRIVATE_KEY) => "CKO_PRIVATE_KEY",
            Some(CKO_PUBLIC_KEY) => "CKO_PUBLIC_KEY",
            Some(CKO_SECRET_KEY) => "CKO_SECRET_KEY",
            _ => continue,
        };
        keys.push(key_json(class, &attrs));
    }
    Ok((keys, unread))
}

fn text(attrs: &Attrs, ty: CK_ATTRIBUTE_TYPE) -> String {
    String::from_utf8_lossy(attrs.get(ty).unwrap_or_default()).into_owned()
}

fn key_json(class: &'static str, a: &Attrs) -> KeyJson {
    let key_type = a
        .ulong(CKA_KEY_TYPE)
        .map(|t| crate::names::key_type(t as CK_KEY_TYPE).map_or_else(|| format!("{t:#x}"), str::to_string));
    let origin = a.ulong(CKA_FERRO_ORIGIN).and_then(|o| {
        Some(match o {
            1 => "generated",
            2 => "imported",
            3 => "unwrapped",
            4 => "derived",
            5 => "replicated",
            6 => "copied",
            _ => return None,
        })
    });
    let role = a.ulong(CKA_FERRO_KEY_ROLE).and_then(|r| {
        Some(match r {
            1 => "root",
            2 => "device",
            3 => "partition_attestation",
            4 => "timestamp",
            5 => "audit",
            6 => "owner",
            7 => "identity",
            _ => return None,
        })
    });
    KeyJson {
        unique_id: text(a, CKA_UNIQUE_ID),
        class,
        key_type: key_type.unwrap_or_default(),
        label: text(a, CKA_LABEL),
        id: hex(a.get(CKA_ID).unwrap_or_default()),
        origin,
        local: a.bool(CKA_LOCAL),
        sensitive: a.bool(CKA_SENSITIVE),
        always_sensitive: a.bool(CKA_ALWAYS_SENSITIVE),
        extractable: a.bool(CKA_EXTRACTABLE),
        never_extractable: a.bool(CKA_NEVER_EXTRACTABLE),
        private: a.bool(CKA_PRIVATE),
        modifiable: a.bool(CKA_MODIFIABLE),
        created: a.get(CKA_FERRO_CREATED).map(|c| String::from_utf8_lossy(c).into_owned()),
        role,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rv<T: std::fmt::Debug>(r: Result<T>) -> CK_RV {
        r.expect_err("an error").rv()
    }

    #[test]
    fn a_request_is_a_nonce_or_a_json_object() {
        assert_eq!(Request::parse(b"").unwrap(), Request::default());
        assert_eq!(Request::parse(&[7; 64]).unwrap().nonce, vec![7; 64]);
        assert_eq!(rv(Request::parse(&[7; 65])), CKR_DATA_LEN_RANGE);
        let r = Request::parse(br#"{"nonce":"0aFF","from":3,"to":9,"partition":1}"#).unwrap();
        assert_eq!(r, Request { nonce: vec![0x0a, 0xff], from: Some(3), to: Some(9), partition: Some(1) });
        assert_eq!(Request::parse(b"{}").unwrap(), Request::default());
        // Bytes that are not UTF-8 are a nonce, whatever they start with.
        assert_eq!(Request::parse(b"{\xff}").unwrap().nonce, b"{\xff}");
        for bad in [
            &br#"{"nonce":"0"}"#[..],
            br#"{"nonce":"zz"}"#,
            br#"{"from":"1"}"#,
            br#"{"from":-1}"#,
            br#"{"other":1}"#,
            br#"{"from":1,"from":2}"#,
            b"{not json}",
        ] {
            assert_eq!(rv(Request::parse(bad)), CKR_DATA_INVALID, "{}", String::from_utf8_lossy(bad));
        }
        let long = format!(r#"{{"nonce":"{}"}}"#, "00".repeat(65));
        assert_eq!(rv(Request::parse(long.as_bytes())), CKR_DATA_LEN_RANGE);
    }

    #[test]
    fn ranges_default_to_the_last_ten_thousand_and_stop_at_the_head() {
        assert_eq!(range(None, None, 42).unwrap(), (1, 42));
        assert_eq!(range(None, None, 25_000).unwrap(), (15_001, 25_000));
        assert_eq!(range(None, None, 0).unwrap(), (1, 0), "an empty log");
        assert_eq!(range(Some(5), None, 42).unwrap(), (5, 42));
        assert_eq!(range(Some(5), None, 25_000).unwrap(), (5, 10_004));
        assert_eq!(range(None, Some(20), 42).unwrap(), (1, 20));
        assert_eq!(range(None, Some(20_000), 42).unwrap(), (10_001, 42));
        assert_eq!(range(Some(3), Some(500), 42).unwrap(), (3, 42), "to stops at the head");
        assert_eq!(range(Some(50), Some(60), 42).unwrap(), (50, 42), "nothing past the head");
        assert_eq!(range(Some(1), Some(10_000), 20_000).unwrap(), (1, 10_000));
        assert_eq!(rv(range(Some(1), Some(10_001), 20_000)), CKR_DATA_INVALID);
        assert_eq!(rv(range(Some(9), Some(8), 20)), CKR_DATA_INVALID);
        assert_eq!(rv(range(Some(0), None, 20)), CKR_DATA_INVALID);
        assert_eq!(rv(range(None, Some(0), 20)), CKR_DATA_INVALID);
    }
}
