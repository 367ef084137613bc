//! The audit log and the device and partition attestations through PKCS#11: what
//! `ferrohsm audit export`, `attest device` and `attest partition` do on the token.
//!
//! Each is `C_SignInit` with a vendor mechanism on the token's own signing key (the
//! audit key on the admin token, a partition's attestation key on that partition)
//! and `C_Sign` with the request as data (docs/audit.md, "The request").

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::MechanismType;
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use serde_json::Value;

use crate::error::{Doing, Error, Result};
use crate::vendor::*;
use crate::verify::{evidence, hex};

/// The most sequence numbers one log attestation covers.
pub const PAGE: u64 = 10_000;

/// `CKA_FERRO_KEY_ROLE` of the audit key (admin token).
pub const ROLE_AUDIT: u64 = 5;
/// `CKA_FERRO_KEY_ROLE` of a partition's attestation key.
pub const ROLE_PARTITION: u64 = 3;

/// The private key with `CKA_FERRO_KEY_ROLE = role` that `session` sees.
pub fn signing_key(session: &Session, role: u64) -> Result<ObjectHandle> {
    let t = [Attribute::Class(ObjectClass::PRIVATE_KEY), ulong_attr(CKA_FERRO_KEY_ROLE, role)];
    let found = session.find_objects(&t).doing(format!("finding the role {role} key (C_FindObjects)"))?;
    match found[..] {
        [h] => Ok(h),
        _ => Err(Error::NotFound(format!(
            "{} private keys with CKA_FERRO_KEY_ROLE {role} on this token; expected one",
            found.len()
        ))),
    }
}

fn mechanism(value: u64) -> Result<Mechanism<'static>> {
    let ty = MechanismType::new_vendor_defined(value)
        .map_err(|e| Error::Other(format!("vendor mechanism {value:#x}: {e}")))?;
    Ok(Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(ty, None)))
}

/// Which attestation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// `CKM_FERRO_LOG_ATTEST`.
    Log,
    /// `CKM_FERRO_DEVICE_ATTEST`.
    Device,
    /// `CKM_FERRO_PARTITION_ATTEST`.
    Partition,
}

impl Which {
    fn mechanism(self) -> (u64, &'static str) {
        match self {
            Which::Log => (CKM_FERRO_LOG_ATTEST, "CKM_FERRO_LOG_ATTEST"),
            Which::Device => (CKM_FERRO_DEVICE_ATTEST, "CKM_FERRO_DEVICE_ATTEST"),
            Which::Partition => (CKM_FERRO_PARTITION_ATTEST, "CKM_FERRO_PARTITION_ATTEST"),
        }
    }
}

/// A request as docs/audit.md writes it: the members given, in order.
pub fn request(nonce: &[u8], from: Option<u64>, to: Option<u64>, partition: Option<u64>) -> String {
    let mut parts = vec![format!("\"nonce\":\"{}\"", hex::encode(nonce))];
    for (name, v) in [("from", from), ("to", to), ("partition", partition)] {
        if let Some(v) = v {
            parts.push(format!("\"{name}\":{v}"));
        }
    }
    format!("{{{}}}", parts.join(","))
}

/// One attestation: `C_SignInit(mechanism, key)`, `C_Sign(request)`. DER CMS.
pub fn attest(session: &Session, which: Which, key: ObjectHandle, request: &[u8]) -> Result<Vec<u8>> {
    let (m, name) = which.mechanism();
    session.sign(&mechanism(m)?, key, request).doing(format!("making the attestation ({name}, C_SignInit/C_Sign)"))
}

/// The JSON document inside an attestation (not verified: the verifier does that).
pub fn document(der: &[u8]) -> Result<Value> {
    let ev = evidence::parse(der).map_err(|f| Error::Unexpected(format!("the module's attestation: {f}")))?;
    serde_json::from_slice(&ev.content).map_err(|e| Error::Unexpected(format!("the attestation's document: {e}")))
}

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    /// How many entries.
    pub entries: u64,
    /// The last one's sequence number (the attested head).
    pub head: u64,
    /// The attestation of the last page, whose head is the last entry.
    pub attestation: Vec<u8>,
    /// How many attestations were made.
    pub pages: u64,
}

/// Exports the log (the whole log on the admin token as the device SO, a
/// partition's entries as its SO), from its first entry, in log attestations of at
/// most [`PAGE`] sequence numbers each, handing each line to `write`. The last
/// page's attestation covers the head at the time it was made: the export ends
/// there (the attestations' own entries come after).
pub fn export(
    session: &Session,
    key: ObjectHandle,
    nonce: &[u8],
    partition: Option<u64>,
    write: impl FnMut(&str) -> Result<()>,
) -> Result<Exported> {
    export_paged(session, key, nonce, partition, PAGE, write)
}

/// [`export`] with pages of `page` sequence numbers (1 to [`PAGE`]).
pub fn export_paged(
    session: &Session,
    key: ObjectHandle,
    nonce: &[u8],
    partition: Option<u64>,
    page: u64,
    mut write: impl FnMut(&str) -> Result<()>,
) -> Result<Exported> {
    let page = page.clamp(1, PAGE);
    let mut from = 1;
    let mut entries = 0;
    let mut pages = 0;
    loop {
        let req = request(nonce, Some(from), Some(from + page - 1), partition);
        let der = attest(session, Which::Log, key, req.as_bytes())?;
        pages += 1;
        let doc = document(&der)?;
        let lines =
            doc["entries"].as_array().ok_or_else(|| Error::Unexpected("a log attestation without entries".into()))?;
        for l in lines {
            write(l.as_str().ok_or_else(|| Error::Unexpected("an entry that is not a string".into()))?)?;
            entries += 1;
        }
        let to = doc["to"].as_u64().unwrap_or(0);
        let head = doc["head"]["seq"].as_u64().unwrap_or(0);
        if to >= head {
            return Ok(Exported { entries, head, attestation: der, pages });
        }
        from = to + 1;
    }
}
