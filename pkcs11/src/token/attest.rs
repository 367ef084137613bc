//! Attestation inside the token: the device's chain of keys (root, device key,
//! audit key on the admin token; an attestation key and a timestamp key in every
//! partition), the attestation mechanisms, birth certificates, the device CSR and
//! the import of an outside CA's certificate. docs/attestation.md is the
//! specification; [`crate::attest`] encodes what it says.
//!
//! The chain's keys are token objects like any other, marked by
//! `CKA_FERRO_KEY_ROLE`: public (so an SO session can name them and they work
//! without a login; their key material is sealed under the device key file),
//! sensitive, not extractable, not modifiable, not destroyable, not copyable, and
//! limited by `CKA_ALLOWED_MECHANISMS` to the mechanisms of this module.

use std::sync::Arc;

use cryptoki_sys::*;

use super::objects::ctx;
use super::{Session, Token, TokenState};
use crate::attest::claims::{
    DeviceClaims, KeyAttestation, KeyClaims, Origin, PartitionClaims, PolicyClaims, Protection, SecurityClaims,
    UsageClaims, VERSION, octets, time,
};
use crate::attest::x509::{self, Issuer, Profile, Subject};
use crate::attest::{EcSigner, cms, oid};
use crate::crypto::Provider;
use crate::crypto::ec::{Curve, EcSigningKey};
use crate::error::{Result, err};
use crate::mechanism::ec::params::{curve_of, curve_oid};
use crate::mechanism::{Entry, Mechanism, Registry, SignOp};
use crate::module::{Module, hex};
use crate::object::attr::{Template, bool_value, ulong_value};
use crate::object::build::{self, Op};
use crate::object::{Attrs, Lifetime, Object, Shape};
use crate::vendor::*;
use ferrohsm_store::ADMIN_PARTITION;
use ferrohsm_store::audit::Value;

/// The mechanisms the chain's keys may be named in (`CKA_ALLOWED_MECHANISMS`).
pub const MECHANISMS: &[CK_MECHANISM_TYPE] = &[
    CKM_FERRO_KEY_ATTEST_CERT,
    CKM_FERRO_KEY_ATTEST_EVIDENCE,
    CKM_FERRO_PARTITION_ATTEST,
    CKM_FERRO_DEVICE_ATTEST,
    CKM_FERRO_LOG_ATTEST,
    CKM_FERRO_TIMESTAMP,
    CKM_FERRO_DEVICE_CSR,
];

/// The longest nonce an attestation takes (docs/attestation.md).
pub const MAX_NONCE: usize = 64;

/// Key types a certificate attestation covers (it certifies a public key).
const ASYMMETRIC: &[CK_KEY_TYPE] = &[CKK_RSA, CKK_EC, CKK_EC_EDWARDS];
/// Key types signed evidence covers: every key this build stores.
const ANY_KEY: &[CK_KEY_TYPE] = &[
    CKK_RSA,
    CKK_EC,
    CKK_EC_EDWARDS,
    CKK_GENERIC_SECRET,
    CKK_AES,
    CKK_SHA_1_HMAC,
    CKK_SHA224_HMAC,
    CKK_SHA256_HMAC,
    CKK_SHA384_HMAC,
    CKK_SHA512_HMAC,
    CKK_DES2,
    CKK_DES3,
    CKK_HKDF,
];

/// Registers the attestation mechanisms (with the other families, in
/// [`Registry::new`]).
pub fn register(r: &mut Registry) {
    let entry =
        |key_types: &'static [CK_KEY_TYPE], make| Entry { key_types, attest: Some(make), ..Entry::new(0, 0, CKF_SIGN) };
    r.insert(CKM_FERRO_KEY_ATTEST_CERT, entry(ASYMMETRIC, key_attestation));
    r.insert(CKM_FERRO_KEY_ATTEST_EVIDENCE, entry(ANY_KEY, key_attestation));
    r.insert(CKM_FERRO_DEVICE_CSR, entry(&[CKK_EC], device_csr));
}

/// The certificate profile, subject and curve of each role.
fn role_spec(role: KeyRole) -> (Profile, Curve, &'static str) {
    match role {
        KeyRole::Root => (Profile::Root, Curve::P384, "ferrohsm root"),
        KeyRole::Device => (Profile::Device, Curve::P384, "ferrohsm device"),
        KeyRole::Audit => (Profile::Audit, Curve::P256, "ferrohsm audit"),
        KeyRole::PartitionAttestation => (Profile::PartitionAttestation, Curve::P256, "ferrohsm partition attestation"),
        KeyRole::Timestamp => (Profile::Timestamp, Curve::P256, "ferrohsm timestamp"),
        KeyRole::None | KeyRole::Owner | KeyRole::Identity => unreachable!("not a key of the chain"),
    }
}

/// One key of the chain as it stands in a token.
#[derive(Clone)]
pub struct RoleKey {
    /// The private key object.
    pub key: Arc<Object>,
    /// Its certificate object.
    pub cert: Arc<Object>,
}

impl RoleKey {
    /// The certificate's DER.
    pub fn cert_der(&self) -> &[u8] {
        self.cert.attrs.get(CKA_VALUE).unwrap_or_default()
    }

    /// A signer over this key, for certificates and CMS.
    pub(crate) fn with_signer<T>(
        &self,
        provider: &dyn Provider,
        f: impl FnOnce(&EcSigner<'_>) -> Result<T>,
    ) -> Result<T> {
        let curve = curve_of(&self.key.attrs)?;
        let parsed = self.key.parsed::<Box<dyn EcSigningKey>>(|attrs| {
            let d = attrs.get(CKA_VALUE).ok_or_else(|| err(CKR_GENERAL_ERROR, "attestation key without a value"))?;
            provider.ec_signing_key(curve, d)
        })?;
        let signer = EcSigner::new(provider, parsed.as_ref().as_ref(), curve)?;
        f(&signer)
    }

    /// The certificate parsed as an issuer (cached on the certificate object).
    fn issuer(&self) -> Result<Arc<Issuer>> {
        self.cert.parsed::<Issuer>(|attrs| Issuer::from_cert(attrs.get(CKA_VALUE).unwrap_or_default()))
    }
}

fn role_of(o: &Object) -> Option<u64> {
    o.attrs.ulong(CKA_FERRO_KEY_ROLE).filter(|r| *r != KeyRole::None as u64)
}

/// The key of `role` in a token, with its certificate.
pub fn role_key(st: &TokenState, role: KeyRole) -> Option<RoleKey> {
    let mut key = None;
    let mut cert = None;
    for o in st.objects.iter().filter(|o| role_of(o) == Some(role as u64)) {
        match o.class() {
            CKO_PRIVATE_KEY => key = Some(o.clone()),
            CKO_CERTIFICATE => cert = Some(o.clone()),
            _ => {}
        }
    }
    Some(RoleKey { key: key?, cert: cert? })
}

/// The certificates above the device key (the root, or an outside CA's chain), in
/// the order they were stored.
pub fn chain_certs(st: &TokenState) -> Vec<Vec<u8>> {
    let mut certs: Vec<_> = st
        .objects
        .iter()
        .filter(|o| o.class() == CKO_CERTIFICATE && role_of(o) == Some(KeyRole::Root as u64))
        .cloned()
        .collect();
    certs.sort_by_key(|o| o.handle);
    certs.iter().map(|o| o.attrs.get(CKA_VALUE).unwrap_or_default().to_vec()).collect()
}

/// The device serial, as every name and claim writes it.
pub fn device_serial(m: &Module) -> Result<String> {
    Ok(hex(&m.store.device()?.serial))
}

fn template(pairs: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>) -> Template {
    Template(pairs)
}

/// Makes a key of the chain in `token` (public key, private key, certificate) and
/// stores it. `issuer` signs its certificate; `None` makes a self-signed root.
fn make_role_key(
    m: &Module,
    token: &Token,
    st: &mut TokenState,
    role: KeyRole,
    issuer: Option<&RoleKey>,
) -> Result<RoleKey> {
    let (profile, curve, label) = role_spec(role);
    let serial = device_serial(m)?;
    let provider = m.provider.as_ref();
    // The label as the ID: applications pick keys by small IDs (01, 02, ...), which a
    // role number would collide with.
    let id = label.as_bytes().to_vec();
    let fixed = |extra: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>| {
        let mut t = vec![
            (CKA_TOKEN, bool_value(true)),
            (CKA_PRIVATE, bool_value(false)),
            (CKA_MODIFIABLE, bool_value(false)),
            (CKA_DESTROYABLE, bool_value(false)),
            (CKA_COPYABLE, bool_value(false)),
            (CKA_LABEL, label.as_bytes().to_vec()),
            (CKA_ID, id.clone()),
        ];
        t.extend(extra);
        template(t)
    };
    let ec_params = der::Encode::to_der(&curve_oid(curve)).map_err(|e| err(CKR_GENERAL_ERROR, e.to_string()))?;
    let allowed: Vec<u8> = MECHANISMS.iter().flat_map(|m| (*m as u64).to_le_bytes()).collect();
    // The public half verifies and nothing else (an EC key neither encrypts nor wraps).
    let public_t = fixed(vec![
        (CKA_EC_PARAMS, ec_params),
        (CKA_VERIFY, bool_value(true)),
        (CKA_ENCRYPT, bool_value(false)),
        (CKA_WRAP, bool_value(false)),
        (CKA_DERIVE, bool_value(false)),
    ]);
    let private_t = fixed(vec![
        (CKA_SENSITIVE, bool_value(true)),
        (CKA_EXTRACTABLE, bool_value(false)),
        (CKA_SIGN, bool_value(true)),
        (CKA_DECRYPT, bool_value(false)),
        (CKA_UNWRAP, bool_value(false)),
        (CKA_DERIVE, bool_value(false)),
        (CKA_ALLOWED_MECHANISMS, allowed),
    ]);
    let op = Op::Generate(CKM_EC_KEY_PAIR_GEN);
    let mut public = build::build(&public_t, Some(CKO_PUBLIC_KEY), Some(CKK_EC), op, &ctx(m, st))?;
    let mut private = build::build(&private_t, Some(CKO_PRIVATE_KEY), Some(CKK_EC), op, &ctx(m, st))?;
    let (_, generate) = m
        .mechanisms
        .entry(CKM_EC_KEY_PAIR_GEN)?
        .generate_key_pair
        .ok_or_else(|| err(CKR_GENERAL_ERROR, "no EC key generation"))?;
    generate(provider, &Mechanism::new(CKM_EC_KEY_PAIR_GEN), &mut public, &mut private)?;
    let spki = private.get(CKA_PUBLIC_KEY_INFO).unwrap_or_default().to_vec();
    let subject = match role {
        KeyRole::Root => Subject::root(&serial),
        KeyRole::Device => Subject::device(&serial),
        KeyRole::Audit => Subject::audit(&serial),
        KeyRole::PartitionAttestation => {
            Subject::partition_attestation(token.slot_id as u64, &hex(&st.record.serial), &serial)
        }
        _ => Subject::timestamp(token.slot_id as u64, &hex(&st.record.serial), &serial),
    };
    let mut cert_serial = [0u8; 16];
    provider.fill_random(&mut cert_serial);
    let now = crate::time::now();
    let der = match issuer {
        Some(i) => i.with_signer(provider, |s| {
            x509::issue_with(&profile, &subject, &spki, Some(&*i.issuer()?), s, cert_serial, now)
        })?,
        None => {
            // Self-signed: the new key signs its own certificate.
            let curve = curve_of(&private)?;
            let d = private.get(CKA_VALUE).ok_or_else(|| err(CKR_GENERAL_ERROR, "no private value"))?;
            let key = provider.ec_signing_key(curve, d)?;
            let signer = EcSigner::new(provider, key.as_ref(), curve)?;
            x509::issue_with(&profile, &subject, &spki, None, &signer, cert_serial, now)?
        }
    };
    let cert_t = fixed(vec![(CKA_CERTIFICATE_TYPE, ulong_value(CKC_X_509 as u64)), (CKA_VALUE, der)]);
    let mut cert = build::build(&cert_t, Some(CKO_CERTIFICATE), None, Op::Create, &ctx(m, st))?;
    for a in [&mut public, &mut private, &mut cert] {
        a.set(CKA_FERRO_KEY_ROLE, ulong_value(role as u64));
    }
    let handles = store_internal(m, token, st, vec![public, private, cert])?;
    let get = |h| st.objects.get(h).cloned().ok_or_else(|| err(CKR_GENERAL_ERROR, "new object missing"));
    log::info!("slot {}: made the {label} key", token.slot_id);
    Ok(RoleKey { key: get(handles[1])?, cert: get(handles[2])? })
}

/// Stores objects the module makes for itself (no session, no policy: a read-only
/// partition still gets its keys).
fn store_internal(m: &Module, token: &Token, st: &mut TokenState, all: Vec<Attrs>) -> Result<Vec<CK_OBJECT_HANDLE>> {
    let mut writes = Vec::new();
    let mut oids = Vec::new();
    for a in &all {
        let oid = m.store.new_object_id()?;
        writes.push((oid, super::objects::stored(a)));
        oids.push(oid);
    }
    m.store.put_objects(token.partition, &writes, None)?;
    drop(writes);
    let mut handles = Vec::new();
    for (attrs, oid) in all.into_iter().zip(oids) {
        let handle = st.handle_for(m, oid);
        st.objects.insert(Arc::new(Object::new(handle, Lifetime::Token(oid), attrs)));
        handles.push(handle);
    }
    Ok(handles)
}

/// Makes whatever keys of the chain are missing: the root, device and audit keys on
/// the admin token, the attestation and timestamp keys of every partition. Runs at
/// `C_Initialize`; a fresh store gets its whole chain then.
pub fn ensure_chain(m: &Module) -> Result<()> {
    let admin = m.token(ADMIN_PARTITION as CK_SLOT_ID)?;
    {
        let mut st = admin.write();
        let root = match role_key(&st, KeyRole::Root) {
            Some(r) => r,
            None => make_role_key(m, &admin, &mut st, KeyRole::Root, None)?,
        };
        let device = match role_key(&st, KeyRole::Device) {
            Some(d) => d,
            None => make_role_key(m, &admin, &mut st, KeyRole::Device, Some(&root))?,
        };
        if role_key(&st, KeyRole::Audit).is_none() {
            make_role_key(m, &admin, &mut st, KeyRole::Audit, Some(&device))?;
        }
    }
    for t in m.tokens().into_iter().filter(|t| !t.admin) {
        ensure_partition_keys(m, &t)?;
    }
    Ok(())
}

/// Makes a partition's attestation and timestamp keys if it has none.
pub fn ensure_partition_keys(m: &Module, token: &Token) -> Result<()> {
    let device = {
        let admin = m.token(ADMIN_PARTITION as CK_SLOT_ID)?;
        let st = admin.state.read();
        role_key(&st, KeyRole::Device).ok_or_else(|| err(CKR_GENERAL_ERROR, "the device key is missing"))?
    };
    let mut st = token.write();
    for role in [KeyRole::PartitionAttestation, KeyRole::Timestamp] {
        if role_key(&st, role).is_none() {
            make_role_key(m, token, &mut st, role, Some(&device))?;
        }
    }
    Ok(())
}

/// The certificates an attestation carries above its signer: the device's
/// certificate and what is above it.
pub(crate) fn device_chain(m: &Module) -> Result<Vec<Vec<u8>>> {
    let admin = m.token(ADMIN_PARTITION as CK_SLOT_ID)?;
    let st = admin.state.read();
    let device = role_key(&st, KeyRole::Device).ok_or_else(|| err(CKR_GENERAL_ERROR, "the device key is missing"))?;
    let mut chain = vec![device.cert_der().to_vec()];
    chain.extend(chain_certs(&st));
    Ok(chain)
}

// ---------------------------------------------------------------------------
// Claims

fn bool_claim(o: &Object, ty: CK_ATTRIBUTE_TYPE) -> Option<bool> {
    o.attrs.bool(ty)
}

/// The device's claims.
fn device_claims(m: &Module) -> Result<DeviceClaims> {
    Ok(DeviceClaims {
        serial: device_serial(m)?,
        software: "ferrohsm".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        provider: m.provider.name().into(),
        protection: Protection::Software,
    })
}

/// A partition's claims.
pub fn partition_claims(token: &Token, st: &TokenState) -> PartitionClaims {
    let p = st.policy();
    PartitionClaims {
        id: token.slot_id as u64,
        serial: hex(&st.record.serial),
        label: String::from_utf8_lossy(&st.record.label).into_owned(),
        policy: PolicyClaims {
            allow_export: p.allow_export,
            key_invalidation: p.key_invalidation,
            read_only: p.read_only,
            max_pin_failures: u64::from(p.max_pin_failures),
            min_pin_len: p.min_pin_len as u64,
        },
    }
}

/// Seconds since the epoch of a `YYYYMMDDhhmmssZ` stamp.
fn stamp_secs(stamp: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(stamp).ok()?;
    if s.len() != 15 || !s.ends_with('Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<u64>().ok();
    let dt = der::DateTime::new(
        n(0..4)? as u16,
        n(4..6)? as u8,
        n(6..8)? as u8,
        n(8..10)? as u8,
        n(10..12)? as u8,
        n(12..14)? as u8,
    )
    .ok()?;
    Some(dt.unix_duration().as_secs())
}

/// A key's claims: everything the token knows about it, nothing it does not.
pub fn key_claims(key: &Object) -> Result<KeyClaims> {
    let a = &key.attrs;
    let kt = a.ulong(CKA_KEY_TYPE).unwrap_or(0);
    let curve = match key.shape() {
        Some(Shape::Public(CKK_EC | CKK_EC_EDWARDS) | Shape::Private(CKK_EC | CKK_EC_EDWARDS)) => curve_of(a).ok(),
        _ => None,
    };
    let bits = match (kt as CK_KEY_TYPE, curve) {
        (_, Some(c)) => Some(c.bits() as u64),
        (CKK_RSA, _) => a.ulong(CKA_MODULUS_BITS).or_else(|| {
            a.get(CKA_MODULUS).map(|n| {
                let first = n.iter().position(|b| *b != 0).unwrap_or(n.len());
                ((n.len() - first) * 8) as u64
            })
        }),
        _ => a.ulong(CKA_VALUE_LEN).map(|n| n * 8),
    };
    let origin = match a.ulong(CKA_FERRO_ORIGIN) {
        Some(1) => Origin::Generated,
        Some(2) => Origin::Imported,
        Some(3) => Origin::Unwrapped,
        Some(4) => Origin::Derived,
        Some(5) => Origin::Replicated,
        Some(6) => Origin::Copied,
        _ => return Err(err(CKR_GENERAL_ERROR, "object without a known origin")),
    };
    let allowed = a
        .get(CKA_ALLOWED_MECHANISMS)
        .filter(|v| !v.is_empty())
        .map(|v| v.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")) as CK_ULONG).collect());
    Ok(KeyClaims {
        class: key.class(),
        key_type: kt as CK_ULONG,
        bits,
        curve: curve.map(curve_oid),
        id: octets(a.get(CKA_ID).unwrap_or_default())?,
        label: String::from_utf8_lossy(a.get(CKA_LABEL).unwrap_or_default()).into_owned(),
        unique_id: String::from_utf8_lossy(a.get(CKA_UNIQUE_ID).unwrap_or_default()).into_owned(),
        origin,
        created: a.get(CKA_FERRO_CREATED).and_then(stamp_secs).map(time).transpose()?,
        security: SecurityClaims {
            local: bool_claim(key, CKA_LOCAL),
            sensitive: bool_claim(key, CKA_SENSITIVE),
            always_sensitive: bool_claim(key, CKA_ALWAYS_SENSITIVE),
            extractable: bool_claim(key, CKA_EXTRACTABLE),
            never_extractable: bool_claim(key, CKA_NEVER_EXTRACTABLE),
            modifiable: bool_claim(key, CKA_MODIFIABLE),
            private: bool_claim(key, CKA_PRIVATE),
        },
        usage: UsageClaims {
            encrypt: bool_claim(key, CKA_ENCRYPT),
            decrypt: bool_claim(key, CKA_DECRYPT),
            sign: bool_claim(key, CKA_SIGN),
            verify: bool_claim(key, CKA_VERIFY),
            wrap: bool_claim(key, CKA_WRAP),
            unwrap: bool_claim(key, CKA_UNWRAP),
            derive: bool_claim(key, CKA_DERIVE),
        },
        allowed_mechanisms: allowed,
        check_value: a.get(CKA_CHECK_VALUE).filter(|_| key.class() == CKO_SECRET_KEY).map(octets).transpose()?,
    })
}

// ---------------------------------------------------------------------------
// Key attestation

/// What a key attestation needs, gathered at `C_SignInit`.
struct KeyAttest {
    provider: Arc<dyn Provider>,
    /// The partition's attestation key.
    signer: RoleKey,
    /// The certificates above it.
    chain: Vec<Vec<u8>>,
    device: DeviceClaims,
    partition: PartitionClaims,
    partition_serial: String,
    key: Arc<Object>,
    evidence: bool,
    nonce: Vec<u8>,
    /// The audit entry written when the attestation is made.
    audit: super::audit::Pending,
}

fn public_key_info(key: &Object) -> Result<Vec<u8>> {
    match key.attrs.get(CKA_PUBLIC_KEY_INFO) {
        Some(s) if !s.is_empty() => Ok(s.to_vec()),
        _ => Err(err(CKR_KEY_TYPE_INCONSISTENT, "the key has no public key to certify")),
    }
}

impl KeyAttest {
    fn claims(&self, nonce: Option<&[u8]>) -> Result<KeyAttestation> {
        Ok(KeyAttestation {
            version: VERSION,
            nonce: nonce.map(octets).transpose()?,
            time: time(crate::time::now())?,
            device: self.device.clone(),
            partition: self.partition.clone(),
            key: key_claims(&self.key)?,
        })
    }

    fn produce(&self) -> Result<Vec<u8>> {
        let p = self.provider.as_ref();
        let claims = self.claims(Some(&self.nonce))?;
        let now = crate::time::now();
        if self.evidence {
            let spki = self.key.attrs.get(CKA_PUBLIC_KEY_INFO).filter(|s| !s.is_empty());
            let json = claims.to_json(spki)?;
            let mut certs = vec![self.signer.cert_der().to_vec()];
            certs.extend(self.chain.iter().cloned());
            self.signer.with_signer(p, |s| {
                cms::signed_data(&oid::EVIDENCE, json.as_bytes(), self.signer.cert_der(), &certs, s, now)
            })
        } else {
            issue_key_certificate(p, &self.signer, &self.partition_serial, &self.device.serial, &self.key, &claims)
        }
    }
}

/// An attested-key certificate for `key` with `claims`.
fn issue_key_certificate(
    p: &dyn Provider,
    signer: &RoleKey,
    partition_serial: &str,
    device_serial: &str,
    key: &Object,
    claims: &KeyAttestation,
) -> Result<Vec<u8>> {
    let spki = public_key_info(key)?;
    let uid = String::from_utf8_lossy(key.attrs.get(CKA_UNIQUE_ID).unwrap_or_default()).into_owned();
    let subject = Subject::attested_key(&uid, partition_serial, device_serial);
    let mut serial = [0u8; 16];
    p.fill_random(&mut serial);
    let issuer = signer.issuer()?;
    let profile = Profile::AttestedKey { claims_der: claims.to_der()? };
    signer.with_signer(p, |s| x509::issue_with(&profile, &subject, &spki, Some(&issuer), s, serial, crate::time::now()))
}

impl SignOp for KeyAttest {
    fn sign_len(&self) -> usize {
        // An upper bound; the exact length comes from computing (len_is_exact).
        16 * 1024
    }
    fn len_is_exact(&self) -> bool {
        false
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        if self.nonce.len() + data.len() > MAX_NONCE {
            return Err(err(CKR_DATA_LEN_RANGE, "an attestation nonce is at most 64 bytes"));
        }
        self.nonce.extend_from_slice(data);
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        // Called once per attestation: a length query keeps the result for the call
        // that fetches it.
        let out = self.produce()?;
        let mechanism = if self.evidence { "CKM_FERRO_KEY_ATTEST_EVIDENCE" } else { "CKM_FERRO_KEY_ATTEST_CERT" };
        super::audit::write_with(&*crate::module::get()?, &self.audit, &[("mechanism", Value::Str(mechanism))])?;
        Ok(out)
    }
}

/// `C_SignInit` of `CKM_FERRO_KEY_ATTEST_CERT` / `_EVIDENCE`: `key` is the key to
/// attest; the partition's attestation key signs.
fn key_attestation(m: &Module, s: &Session, mech: &Mechanism, key: &Arc<Object>) -> Result<Box<dyn SignOp>> {
    mech.no_parameter()?;
    if s.token.admin {
        return Err(err(
            CKR_MECHANISM_INVALID,
            "keys are attested in user partitions; the admin token has no attestation key",
        ));
    }
    let evidence = mech.ty == CKM_FERRO_KEY_ATTEST_EVIDENCE;
    if !evidence {
        public_key_info(key)?;
    }
    let (signer, partition, partition_serial, audit) = {
        let st = s.token.state.read();
        let signer = role_key(&st, KeyRole::PartitionAttestation)
            .ok_or_else(|| err(CKR_GENERAL_ERROR, "the partition has no attestation key"))?;
        let audit = super::audit::Pending {
            partition: s.token.partition,
            role: super::audit::role_of(&st),
            event: "attestation_made",
            object: super::audit::unique_id(&key.attrs),
            result: CKR_OK,
        };
        (signer, partition_claims(&s.token, &st), hex(&st.record.serial), audit)
    };
    Ok(Box::new(KeyAttest {
        provider: m.provider.clone(),
        signer,
        chain: device_chain(m)?,
        device: device_claims(m)?,
        partition,
        partition_serial,
        key: key.clone(),
        evidence,
        nonce: Vec::new(),
        audit,
    }))
}

/// The birth certificate of a key pair generated in a partition: the attested-key
/// certificate without a nonce, as the attributes of a certificate object
/// (docs/attestation.md, "Birth certificates").
pub fn birth_certificate(m: &Module, s: &Session, st: &TokenState, private: &Attrs) -> Result<Option<Attrs>> {
    if s.token.admin {
        return Ok(None);
    }
    let Some(signer) = role_key(st, KeyRole::PartitionAttestation) else { return Ok(None) };
    // A transient object for the claims: the key's own attributes.
    let key = Object::new(0, Lifetime::Session(s.handle), private.clone());
    let claims = KeyAttestation {
        version: VERSION,
        nonce: None,
        time: time(crate::time::now())?,
        device: device_claims(m)?,
        partition: partition_claims(&s.token, st),
        key: key_claims(&key)?,
    };
    let der = issue_key_certificate(
        m.provider.as_ref(),
        &signer,
        &hex(&st.record.serial),
        &device_serial(m)?,
        &key,
        &claims,
    )?;
    let uid = private.get(CKA_UNIQUE_ID).unwrap_or_default().to_vec();
    let label = match private.get(CKA_LABEL) {
        Some(l) if !l.is_empty() => l.to_vec(),
        _ => uid.clone(),
    };
    let mut t = vec![
        (CKA_CERTIFICATE_TYPE, ulong_value(CKC_X_509 as u64)),
        (CKA_TOKEN, bool_value(private.bool(CKA_TOKEN) == Some(true))),
        (CKA_PRIVATE, bool_value(false)),
        (CKA_ID, Vec::new()),
        (CKA_VALUE, der),
    ];
    let mut full_label = b"attestation:".to_vec();
    full_label.extend_from_slice(&label);
    t.push((CKA_LABEL, full_label));
    let mut cert = build::build(&template(t), Some(CKO_CERTIFICATE), None, Op::Create, &ctx(m, st))?;
    cert.set(CKA_FERRO_ATTESTS, uid);
    Ok(Some(cert))
}

// ---------------------------------------------------------------------------
// The device's certificate: a CSR out, a certificate in

/// `C_SignInit(CKM_FERRO_DEVICE_CSR, device key)`: the device SO has the device key
/// certified by an outside CA. `C_Sign`'s data is the subject as a DER Name (empty:
/// the device's own name); the result a PKCS#10 request signed by the device key.
fn device_csr(m: &Module, s: &Session, mech: &Mechanism, key: &Arc<Object>) -> Result<Box<dyn SignOp>> {
    mech.no_parameter()?;
    if !s.token.admin || !s.token.state.read().so_logged_in() {
        return Err(err(CKR_USER_NOT_LOGGED_IN, "a device CSR needs the device SO"));
    }
    if role_of(key) != Some(KeyRole::Device as u64) || key.class() != CKO_PRIVATE_KEY {
        return Err(err(CKR_KEY_TYPE_INCONSISTENT, "a device CSR is for the device key"));
    }
    let st = s.token.state.read();
    let device = role_key(&st, KeyRole::Device).ok_or_else(|| err(CKR_GENERAL_ERROR, "the device key is missing"))?;
    Ok(Box::new(DeviceCsr { provider: m.provider.clone(), device, subject: Vec::new(), serial: device_serial(m)? }))
}

struct DeviceCsr {
    provider: Arc<dyn Provider>,
    device: RoleKey,
    subject: Vec<u8>,
    serial: String,
}

impl SignOp for DeviceCsr {
    fn sign_len(&self) -> usize {
        16 * 1024
    }
    fn len_is_exact(&self) -> bool {
        false
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.subject.extend_from_slice(data);
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        let spki = public_key_info(&self.device.key)?;
        let p = self.provider.as_ref();
        if self.subject.is_empty() {
            self.device.with_signer(p, |s| x509::csr(&Subject::device(&self.serial), &spki, s))
        } else {
            self.device.with_signer(p, |s| x509::csr_with_name(&self.subject, &spki, s))
        }
    }
}

/// `C_CreateObject` of a certificate with `CKA_FERRO_KEY_ROLE` on the admin token
/// (device SO): role 2 installs the device key's certificate from an outside CA
/// (its public key must be the device key's) and drops the certificates that were
/// above the old one; role 1 adds a certificate of the outside CA's chain above it.
pub fn import_certificate(m: &Module, s: &Session, template: &Template) -> Result<CK_OBJECT_HANDLE> {
    if !s.token.admin {
        return Err(err(CKR_ATTRIBUTE_READ_ONLY, "CKA_FERRO_KEY_ROLE is set by the token"));
    }
    let role = template.ulong(CKA_FERRO_KEY_ROLE)?.unwrap_or(0);
    let mut st = s.token.write();
    if !st.so_logged_in() {
        return Err(err(CKR_USER_NOT_LOGGED_IN, "installing the device's certificates needs the device SO"));
    }
    if !s.rw {
        return Err(err(CKR_SESSION_READ_ONLY, "installing the device's certificates needs a read/write session"));
    }
    let rest = Template(template.0.iter().filter(|(t, _)| *t != CKA_FERRO_KEY_ROLE).cloned().collect());
    let mut cert = build::build(&rest, Some(CKO_CERTIFICATE), None, Op::Create, &ctx(m, &st))?;
    let der = cert.get(CKA_VALUE).unwrap_or_default().to_vec();
    let spki = x509::spki_of(&der).map_err(|e| err(CKR_ATTRIBUTE_VALUE_INVALID, e.message()))?;
    let (label, remove_role) = match role {
        r if r == KeyRole::Device as u64 => {
            let device = role_key(&st, KeyRole::Device).ok_or_else(|| err(CKR_GENERAL_ERROR, "no device key"))?;
            if spki != public_key_info(&device.key)? {
                return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "the certificate is not for the device key"));
            }
            ("ferrohsm device", Some(KeyRole::Device as u64))
        }
        r if r == KeyRole::Root as u64 => ("ferrohsm chain", None),
        _ => {
            return Err(err(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "CKA_FERRO_KEY_ROLE: 1 (a CA certificate) or 2 (the device's)",
            ));
        }
    };
    if cert.get(CKA_LABEL).is_none_or(<[u8]>::is_empty) {
        cert.set(CKA_LABEL, label.as_bytes().to_vec());
    }
    if cert.get(CKA_ID).is_none_or(<[u8]>::is_empty) {
        cert.set(CKA_ID, label.as_bytes().to_vec());
    }
    for (ty, v) in [(CKA_MODIFIABLE, false), (CKA_DESTROYABLE, false), (CKA_TOKEN, true), (CKA_PRIVATE, false)] {
        cert.set(ty, bool_value(v));
    }
    cert.set(CKA_FERRO_KEY_ROLE, ulong_value(role));
    // A new device certificate replaces the old one and the chain above it.
    let doomed: Vec<Arc<Object>> = match remove_role {
        Some(_) => st
            .objects
            .iter()
            .filter(|o| o.class() == CKO_CERTIFICATE)
            .filter(|o| matches!(role_of(o), Some(r) if r == KeyRole::Device as u64 || r == KeyRole::Root as u64))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let oids: Vec<u64> = doomed
        .iter()
        .filter_map(|o| match o.lifetime {
            Lifetime::Token(oid) => Some(oid),
            _ => None,
        })
        .collect();
    let handle = store_internal(m, &s.token, &mut st, vec![cert])?[0];
    let event = if remove_role.is_some() { "device_certificate_change" } else { "chain_certificate_add" };
    super::audit::record(m, s.token.partition, super::audit::SO, event, None, CKR_OK)?;
    if !oids.is_empty() {
        m.store.delete_objects(s.token.partition, &oids)?;
    }
    for o in doomed {
        st.objects.remove(o.handle);
        if let Lifetime::Token(oid) = o.lifetime {
            st.handles.remove(&oid);
        }
    }
    log::info!("admin token: installed a certificate of role {role}");
    Ok(handle)
}
