//! `CKM_FERRO_TIMESTAMP`: a partition as an RFC 3161 time-stamping authority
//! (docs/attestation.md, "Timestamps"). [`crate::attest::tsp`] reads the request and
//! encodes the token; this module checks who asks and with which key, hands out the
//! serial number and writes the audit entry.
//!
//! `C_SignInit(CKM_FERRO_TIMESTAMP, hKey)` names the partition's timestamp key
//! (`CKA_FERRO_KEY_ROLE` 4, the private key); `C_Sign` takes a DER `TimeStampReq` or
//! a bare SHA-256/384/512 hash and returns a DER `TimeStampToken`.
//!
//! Who may: the user. The timestamp key is `CKA_PRIVATE` false, like every key of
//! the chain, so that the chain can be read and an SO session can name the
//! attestation keys; that is no reason to let anyone sign with it. A timestamp is a
//! signature the partition makes in its own name and a line in its audit log, so it
//! needs the partition's user logged in, as any other signature with a partition's
//! private key does (an SO session gets `CKR_USER_NOT_LOGGED_IN` too: PKCS#11's SO
//! does no cryptography).

use std::sync::Arc;

use cryptoki_sys::*;
use ferrohsm_store::audit::Value;

use super::attest::{RoleKey, device_chain, role_key};
use super::{Session, Token};
use crate::attest::tsp::{self, Request};
use crate::crypto::Provider;
use crate::error::{Result, err};
use crate::mechanism::{Entry, Mechanism, Registry, SignOp, Use};
use crate::module::Module;
use crate::object::Object;
use crate::vendor::{CKA_FERRO_KEY_ROLE, CKM_FERRO_TIMESTAMP, KeyRole};

/// The key size of the timestamp key (P-256), in `C_GetMechanismInfo`'s unit for EC
/// keys: bits.
const KEY_BITS: CK_ULONG = 256;

/// An upper bound on a token's length, for a length query's caller that does not
/// ask first (the query itself answers the exact length): the TSTInfo (under 500
/// bytes), the signer information (under 400) and three certificates of under 1 KiB.
const MAX_TOKEN: usize = 8 * 1024;

/// Registers `CKM_FERRO_TIMESTAMP` (from [`Registry::new`]). It signs (`CKF_SIGN`)
/// with an EC key of 256 bits: the only key it takes is the partition's P-256
/// timestamp key.
pub fn register(r: &mut Registry) {
    r.insert(
        CKM_FERRO_TIMESTAMP,
        Entry { key_types: &[CKK_EC], attest: Some(timestamp_init), ..Entry::new(KEY_BITS, KEY_BITS, CKF_SIGN) },
    );
}

/// `C_SignInit(CKM_FERRO_TIMESTAMP, key)`.
///
/// - the admin token has no timestamp key: `CKR_MECHANISM_INVALID` (it does not list
///   the mechanism either);
/// - `key` must be the partition's timestamp private key: another class is
///   `CKR_KEY_TYPE_INCONSISTENT`, another private key `CKR_KEY_FUNCTION_NOT_PERMITTED`;
///   its `CKA_SIGN` and `CKA_ALLOWED_MECHANISMS` are checked as for any signature;
/// - the user must be logged in: `CKR_USER_NOT_LOGGED_IN`.
fn timestamp_init(m: &Module, s: &Session, mech: &Mechanism, key: &Arc<Object>) -> Result<Box<dyn SignOp>> {
    mech.no_parameter()?;
    if s.token.admin {
        return Err(err(CKR_MECHANISM_INVALID, "timestamps are made in user partitions; the admin token has no TSA"));
    }
    if key.class() != CKO_PRIVATE_KEY {
        return Err(err(CKR_KEY_TYPE_INCONSISTENT, "a timestamp is signed with the timestamp key's private key"));
    }
    if key.attrs.ulong(CKA_FERRO_KEY_ROLE) != Some(KeyRole::Timestamp as u64) {
        return Err(err(
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "only the partition's timestamp key (CKA_FERRO_KEY_ROLE 4) signs timestamps",
        ));
    }
    m.mechanisms.check_key(mech.ty, Use::Sign, key)?;
    let (signer, audit) = {
        let st = s.token.state.read();
        if !st.user_logged_in() {
            return Err(err(CKR_USER_NOT_LOGGED_IN, "a timestamp needs the user logged in"));
        }
        let signer = role_key(&st, KeyRole::Timestamp)
            .filter(|r| r.key.handle == key.handle)
            .ok_or_else(|| err(CKR_GENERAL_ERROR, "the timestamp key has no certificate"))?;
        let audit = super::audit::Pending {
            partition: s.token.partition,
            role: super::audit::role_of(&st),
            event: "timestamp_made",
            object: super::audit::unique_id(&key.attrs),
            result: CKR_OK,
        };
        (signer, audit)
    };
    // Unlike the attestations, which name a key they do not use, this one signs with
    // the key it names: it counts as a use of it.
    super::audit::key_used(m, s.token.partition, || audit.role, key);
    Ok(Box::new(Timestamp {
        provider: m.provider.clone(),
        token: s.token.clone(),
        signer,
        chain: device_chain(m)?,
        data: Vec::new(),
        audit,
    }))
}

/// A timestamp in the making: the request's bytes as they come in.
struct Timestamp {
    provider: Arc<dyn Provider>,
    token: Arc<Token>,
    /// The partition's timestamp key and its certificate.
    signer: RoleKey,
    /// The certificates above it: the device's and the root (or an outside CA's chain).
    chain: Vec<Vec<u8>>,
    data: Vec<u8>,
    audit: super::audit::Pending,
}

impl SignOp for Timestamp {
    fn sign_len(&self) -> usize {
        MAX_TOKEN
    }
    fn len_is_exact(&self) -> bool {
        false
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        if self.data.len() + data.len() > tsp::MAX_INPUT {
            return Err(err(CKR_DATA_LEN_RANGE, format!("a timestamp request is at most {} bytes", tsp::MAX_INPUT)));
        }
        self.data.extend_from_slice(data);
        Ok(())
    }
    /// Called once per token: a length query keeps the token for the call that
    /// fetches it, so a serial number is taken once and the bytes do not change.
    fn finish(&mut self) -> Result<Vec<u8>> {
        let req = Request::parse(&self.data)?;
        if !self.token.state.read().user_logged_in() {
            return Err(err(CKR_USER_NOT_LOGGED_IN, "the user logged out before the timestamp was made"));
        }
        let m = crate::module::get()?;
        let serial = m.store.next_timestamp_serial()?;
        let now = crate::time::now();
        let out = self.signer.with_signer(self.provider.as_ref(), |s| {
            tsp::token(&req, serial, now, self.signer.cert_der(), &self.chain, s)
        })?;
        super::audit::write_with(
            &m,
            &self.audit,
            &[("serial", Value::Int(serial)), ("hash", Value::Str(req.hash.name()))],
        )?;
        log::info!("slot {}: timestamp serial {serial} ({})", self.token.slot_id, req.hash.name());
        Ok(out)
    }
}
