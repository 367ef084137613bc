//! The claims about a key: decoded from the certificate extension (DER, the ASN.1
//! module of docs/attestation.md) or from the evidence (JSON, its schema there), into
//! one [`Claims`] value.
//!
//! This parser is written from the specification, not from the module's encoder, so
//! that it checks the format. Absent claims stay `None`: unknown, never false.

use der::asn1::{GeneralizedTime, OctetString};
use der::{Decode, DecodeValue, FixedTag, Header, Reader, Sequence, Tag};
use serde_json::{Map, Value};

use super::names::{class_name, key_type_name, mechanism_name};
use super::oids::{RawOid, curve_name};

/// Everything an attestation says about the key, its partition and the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The format version (1).
    pub version: u64,
    /// The verifier's nonce; absent in birth certificates.
    pub nonce: Option<Vec<u8>>,
    /// When the statement was made, `YYYY-MM-DDThh:mm:ssZ`.
    pub time: String,
    /// The device.
    pub device: DeviceClaims,
    /// The partition (slot) holding the key.
    pub partition: PartitionClaims,
    /// The key.
    pub key: KeyClaims,
}

/// How the device protects keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Keys in the memory of a process and in files encrypted at rest: ferrohsm.
    Software,
    /// Keys in hardware (never said by ferrohsm).
    Hardware,
}

impl std::fmt::Display for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protection::Software => "software",
            Protection::Hardware => "hardware",
        })
    }
}

/// `DeviceClaims`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceClaims {
    /// The device serial, 16 hex digits.
    pub serial: String,
    /// "ferrohsm".
    pub software: String,
    /// The module's version.
    pub version: String,
    /// The crypto provider ("aws-lc" or "rustcrypto").
    pub provider: String,
    /// How keys are protected.
    pub protection: Protection,
}

/// `PartitionClaims`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionClaims {
    /// The slot id.
    pub id: u64,
    /// The token serial number.
    pub serial: String,
    /// The token label.
    pub label: String,
    /// The partition's policy.
    pub policy: PartitionPolicy,
}

/// `PolicyClaims`: the partition's policy when the statement was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionPolicy {
    /// The partition may wrap out extractable keys.
    pub allow_export: bool,
    /// Destroy moves keys to the SO's trash.
    pub key_invalidation: bool,
    /// No create, modify or destroy.
    pub read_only: bool,
    /// Failed logins before a PIN locks.
    pub max_pin_failures: u64,
    /// Shortest PIN.
    pub min_pin_len: u64,
}

/// Where a key came from (`CKA_FERRO_ORIGIN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Generated in the token.
    Generated,
    /// Imported in plaintext (`C_CreateObject`).
    Imported,
    /// Unwrapped.
    Unwrapped,
    /// Derived.
    Derived,
    /// Replicated from another device.
    Replicated,
    /// Copied (`C_CopyObject`).
    Copied,
}

impl Origin {
    fn from_number(n: u64) -> Option<Origin> {
        Some(match n {
            1 => Origin::Generated,
            2 => Origin::Imported,
            3 => Origin::Unwrapped,
            4 => Origin::Derived,
            5 => Origin::Replicated,
            6 => Origin::Copied,
            _ => return None,
        })
    }

    fn from_name(s: &str) -> Option<Origin> {
        Some(match s {
            "generated" => Origin::Generated,
            "imported" => Origin::Imported,
            "unwrapped" => Origin::Unwrapped,
            "derived" => Origin::Derived,
            "replicated" => Origin::Replicated,
            "copied" => Origin::Copied,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::Generated => "generated",
            Origin::Imported => "imported",
            Origin::Unwrapped => "unwrapped",
            Origin::Derived => "derived",
            Origin::Replicated => "replicated",
            Origin::Copied => "copied",
        })
    }
}

/// `KeyClaims`. Names as the JSON claims spell them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyClaims {
    /// `"private"`, `"public"`, `"secret"`.
    pub class: String,
    /// The `CKK_` name without its prefix: `"RSA"`, `"EC"`, `"EC_EDWARDS"`, `"AES"`, …
    pub key_type: String,
    /// RSA modulus bits, EC curve bits, secret key bits.
    pub bits: Option<u64>,
    /// `"P-256"`, `"P-384"`, `"P-521"`, `"Ed25519"` (or the OID).
    pub curve: Option<String>,
    /// `CKA_ID`.
    pub id: Vec<u8>,
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_UNIQUE_ID`.
    pub unique_id: String,
    /// Where the key came from.
    pub origin: Origin,
    /// `CKA_FERRO_CREATED`, `YYYY-MM-DDThh:mm:ssZ`.
    pub created: Option<String>,
    /// The security attributes.
    pub security: SecurityClaims,
    /// The usage flags.
    pub usage: UsageClaims,
    /// `CKA_ALLOWED_MECHANISMS` as `CKM_` names; `None`: any mechanism.
    pub allowed_mechanisms: Option<Vec<String>>,
    /// `CKA_CHECK_VALUE` of secret keys.
    pub check_value: Option<Vec<u8>>,
    /// The key's SubjectPublicKeyInfo (DER), from the evidence's `public_key_info`.
    /// The certificate form has none here: the certificate's own key is the key.
    pub public_key_info: Option<Vec<u8>>,
}

/// `SecurityClaims`: each present only when the token knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Sequence)]
pub struct SecurityClaims {
    /// `CKA_LOCAL`.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub local: Option<bool>,
    /// `CKA_SENSITIVE`.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub sensitive: Option<bool>,
    /// `CKA_ALWAYS_SENSITIVE`.
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    pub always_sensitive: Option<bool>,
    /// `CKA_EXTRACTABLE`.
    #[asn1(context_specific = "3", tag_mode = "IMPLICIT", optional = "true")]
    pub extractable: Option<bool>,
    /// `CKA_NEVER_EXTRACTABLE`.
    #[asn1(context_specific = "4", tag_mode = "IMPLICIT", optional = "true")]
    pub never_extractable: Option<bool>,
    /// `CKA_MODIFIABLE`.
    #[asn1(context_specific = "5", tag_mode = "IMPLICIT", optional = "true")]
    pub modifiable: Option<bool>,
    /// `CKA_PRIVATE`.
    #[asn1(context_specific = "6", tag_mode = "IMPLICIT", optional = "true")]
    pub private: Option<bool>,
}

/// `UsageClaims`: each present only when the token knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Sequence)]
pub struct UsageClaims {
    /// `CKA_ENCRYPT`.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub encrypt: Option<bool>,
    /// `CKA_DECRYPT`.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub decrypt: Option<bool>,
    /// `CKA_SIGN`.
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    pub sign: Option<bool>,
    /// `CKA_VERIFY`.
    #[asn1(context_specific = "3", tag_mode = "IMPLICIT", optional = "true")]
    pub verify: Option<bool>,
    /// `CKA_WRAP`.
    #[asn1(context_specific = "4", tag_mode = "IMPLICIT", optional = "true")]
    pub wrap: Option<bool>,
    /// `CKA_UNWRAP`.
    #[asn1(context_specific = "5", tag_mode = "IMPLICIT", optional = "true")]
    pub unwrap: Option<bool>,
    /// `CKA_DERIVE`.
    #[asn1(context_specific = "6", tag_mode = "IMPLICIT", optional = "true")]
    pub derive: Option<bool>,
}

// ---------------------------------------------------------------------------------
// DER: the value of the id-ferro-keyAttestation extension.

/// An `ENUMERATED` value, kept as its number so that an unknown value is reported by
/// the verifier rather than lost in a decoding error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Enumerated(u64);

impl<'a> DecodeValue<'a> for Enumerated {
    type Error = der::Error;
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        // Same content rules as INTEGER (X.690 8.4); values here are small and >= 0.
        let v = <u64 as DecodeValue>::decode_value(reader, header)?;
        Ok(Enumerated(v))
    }
}

impl der::EncodeValue for Enumerated {
    fn value_len(&self) -> der::Result<der::Length> {
        self.0.value_len()
    }
    fn encode_value(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        self.0.encode_value(writer)
    }
}

impl FixedTag for Enumerated {
    const TAG: Tag = Tag::Enumerated;
}

/// ```asn1
/// KeyAttestation ::= SEQUENCE {
///     version INTEGER (1), nonce [0] IMPLICIT OCTET STRING OPTIONAL,
///     time GeneralizedTime, device DeviceClaims, partition PartitionClaims, key KeyClaims }
/// ```
#[derive(Sequence)]
struct KeyAttestationDer {
    version: u64,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    nonce: Option<OctetString>,
    time: GeneralizedTime,
    device: DeviceDer,
    partition: PartitionDer,
    key: KeyDer,
}

/// `DeviceClaims ::= SEQUENCE { serial, software, version, provider UTF8String, protection ENUMERATED }`
#[derive(Sequence)]
struct DeviceDer {
    serial: String,
    software: String,
    version: String,
    provider: String,
    protection: Enumerated,
}

/// `PartitionClaims ::= SEQUENCE { id INTEGER, serial UTF8String, label UTF8String, policy PolicyClaims }`
#[derive(Sequence)]
struct PartitionDer {
    id: u64,
    serial: String,
    label: String,
    policy: PolicyDer,
}

/// `PolicyClaims ::= SEQUENCE { allowExport, keyInvalidation, readOnly BOOLEAN, maxPinFailures, minPinLen INTEGER }`
#[derive(Sequence)]
struct PolicyDer {
    allow_export: bool,
    key_invalidation: bool,
    read_only: bool,
    max_pin_failures: u64,
    min_pin_len: u64,
}

/// `KeyClaims` (see the module in docs/attestation.md).
#[derive(Sequence)]
struct KeyDer {
    class: u64,
    key_type: u64,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    bits: Option<u64>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    curve: Option<RawOid>,
    id: OctetString,
    label: String,
    unique_id: String,
    origin: Enumerated,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    created: Option<GeneralizedTime>,
    security: SecurityClaims,
    usage: UsageClaims,
    #[asn1(context_specific = "3", tag_mode = "IMPLICIT", optional = "true")]
    allowed_mechanisms: Option<Vec<u64>>,
    #[asn1(context_specific = "4", tag_mode = "IMPLICIT", optional = "true")]
    check_value: Option<OctetString>,
}

fn time_string(t: &GeneralizedTime) -> String {
    t.to_date_time().to_string()
}

/// Decodes the DER value of the `id-ferro-keyAttestation` extension.
pub fn from_der(bytes: &[u8]) -> Result<Claims, String> {
    let d = KeyAttestationDer::from_der(bytes).map_err(|e| format!("the KeyAttestation DER does not decode: {e}"))?;
    if d.version != 1 {
        return Err(format!("KeyAttestation version {} (this verifier knows version 1)", d.version));
    }
    let protection = match d.device.protection.0 {
        0 => Protection::Software,
        1 => Protection::Hardware,
        n => return Err(format!("device.protection is {n}, neither software(0) nor hardware(1)")),
    };
    let origin = Origin::from_number(d.key.origin.0)
        .ok_or_else(|| format!("key.origin is {}, not one of the values 1 to 6", d.key.origin.0))?;
    Ok(Claims {
        version: d.version,
        nonce: d.nonce.map(|n| n.as_bytes().to_vec()),
        time: time_string(&d.time),
        device: DeviceClaims {
            serial: d.device.serial,
            software: d.device.software,
            version: d.device.version,
            provider: d.device.provider,
            protection,
        },
        partition: PartitionClaims {
            id: d.partition.id,
            serial: d.partition.serial,
            label: d.partition.label,
            policy: PartitionPolicy {
                allow_export: d.partition.policy.allow_export,
                key_invalidation: d.partition.policy.key_invalidation,
                read_only: d.partition.policy.read_only,
                max_pin_failures: d.partition.policy.max_pin_failures,
                min_pin_len: d.partition.policy.min_pin_len,
            },
        },
        key: KeyClaims {
            class: class_name(d.key.class),
            key_type: key_type_name(d.key.key_type),
            bits: d.key.bits,
            curve: d.key.curve.as_ref().map(curve_name),
            id: d.key.id.as_bytes().to_vec(),
            label: d.key.label,
            unique_id: d.key.unique_id,
            origin,
            created: d.key.created.as_ref().map(time_string),
            security: d.key.security,
            usage: d.key.usage,
            allowed_mechanisms: d.key.allowed_mechanisms.map(|v| v.into_iter().map(mechanism_name).collect()),
            check_value: d.key.check_value.map(|c| c.as_bytes().to_vec()),
            public_key_info: None,
        },
    })
}

// ---------------------------------------------------------------------------------
// JSON: the eContent of the evidence.

/// Reads JSON objects with messages that name the claim (`key.security.local`).
struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    fn root(v: &'a Value) -> Result<Obj<'a>, String> {
        match v {
            Value::Object(map) => Ok(Obj { path: String::new(), map }),
            _ => Err("the claims are not a JSON object".into()),
        }
    }

    fn name(&self, k: &str) -> String {
        if self.path.is_empty() { k.to_string() } else { format!("{}.{k}", self.path) }
    }

    fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    fn need(&self, k: &str) -> Result<&'a Value, String> {
        self.get(k).ok_or_else(|| format!("the claim {} is missing", self.name(k)))
    }

    fn obj(&self, k: &str) -> Result<Obj<'a>, String> {
        match self.need(k)? {
            Value::Object(map) => Ok(Obj { path: self.name(k), map }),
            _ => Err(format!("{} is not an object", self.name(k))),
        }
    }

    fn opt_obj(&self, k: &str) -> Result<Option<Obj<'a>>, String> {
        if self.get(k).is_none() { Ok(None) } else { self.obj(k).map(Some) }
    }

    fn str(&self, k: &str) -> Result<String, String> {
        self.need(k)?.as_str().map(str::to_owned).ok_or_else(|| format!("{} is not a string", self.name(k)))
    }

    fn opt_str(&self, k: &str) -> Result<Option<String>, String> {
        if self.get(k).is_none() { Ok(None) } else { self.str(k).map(Some) }
    }

    fn u64(&self, k: &str) -> Result<u64, String> {
        self.need(k)?.as_u64().ok_or_else(|| format!("{} is not a non-negative integer", self.name(k)))
    }

    fn opt_u64(&self, k: &str) -> Result<Option<u64>, String> {
        if self.get(k).is_none() { Ok(None) } else { self.u64(k).map(Some) }
    }

    fn bool(&self, k: &str) -> Result<bool, String> {
        self.need(k)?.as_bool().ok_or_else(|| format!("{} is not a JSON boolean", self.name(k)))
    }

    fn opt_bool(&self, k: &str) -> Result<Option<bool>, String> {
        if self.get(k).is_none() { Ok(None) } else { self.bool(k).map(Some) }
    }

    fn hex(&self, k: &str) -> Result<Vec<u8>, String> {
        let s = self.str(k)?;
        super::hex::decode(&s).map_err(|e| format!("{} is not lowercase hex: {e}", self.name(k)))
    }

    fn opt_hex(&self, k: &str) -> Result<Option<Vec<u8>>, String> {
        if self.get(k).is_none() { Ok(None) } else { self.hex(k).map(Some) }
    }

    fn time(&self, k: &str) -> Result<String, String> {
        let s = self.str(k)?;
        let t: der::DateTime =
            s.parse().map_err(|_| format!("{} is not a time YYYY-MM-DDThh:mm:ssZ: {s:?}", self.name(k)))?;
        Ok(t.to_string())
    }
}

/// Decodes the JSON claims of key evidence.
pub fn from_json(bytes: &[u8]) -> Result<Claims, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("the evidence is not JSON: {e}"))?;
    let root = Obj::root(&v)?;
    let version = root.u64("version")?;
    if version != 1 {
        return Err(format!("evidence version {version} (this verifier knows version 1)"));
    }
    let kind = root.str("type")?;
    if kind != "key" {
        return Err(format!("evidence of type {kind:?}, not a key attestation (\"key\")"));
    }
    let device = root.obj("device")?;
    let protection = match device.str("protection")?.as_str() {
        "software" => Protection::Software,
        "hardware" => Protection::Hardware,
        other => return Err(format!("device.protection is {other:?}, neither \"software\" nor \"hardware\"")),
    };
    let partition = root.obj("partition")?;
    let policy = partition.obj("policy")?;
    let key = root.obj("key")?;
    let origin_name = key.str("origin")?;
    let origin =
        Origin::from_name(&origin_name).ok_or_else(|| format!("key.origin is {origin_name:?}, not a known origin"))?;
    let security = match key.opt_obj("security")? {
        Some(s) => SecurityClaims {
            local: s.opt_bool("local")?,
            sensitive: s.opt_bool("sensitive")?,
            always_sensitive: s.opt_bool("always_sensitive")?,
            extractable: s.opt_bool("extractable")?,
            never_extractable: s.opt_bool("never_extractable")?,
            modifiable: s.opt_bool("modifiable")?,
            private: s.opt_bool("private")?,
        },
        None => SecurityClaims::default(),
    };
    let usage = match key.opt_obj("usage")? {
        Some(u) => UsageClaims {
            encrypt: u.opt_bool("encrypt")?,
            decrypt: u.opt_bool("decrypt")?,
            sign: u.opt_bool("sign")?,
            verify: u.opt_bool("verify")?,
            wrap: u.opt_bool("wrap")?,
            unwrap: u.opt_bool("unwrap")?,
            derive: u.opt_bool("derive")?,
        },
        None => UsageClaims::default(),
    };
    let allowed_mechanisms = match key.get("allowed_mechanisms") {
        None => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|m| m.as_str().map(str::to_owned).ok_or("key.allowed_mechanisms holds a non-string".to_string()))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err("key.allowed_mechanisms is not an array".into()),
    };
    Ok(Claims {
        version,
        nonce: root.opt_hex("nonce")?,
        time: root.time("time")?,
        device: DeviceClaims {
            serial: device.str("serial")?,
            software: device.str("software")?,
            version: device.str("version")?,
            provider: device.str("provider")?,
            protection,
        },
        partition: PartitionClaims {
            id: partition.u64("id")?,
            serial: partition.str("serial")?,
            label: partition.str("label")?,
            policy: PartitionPolicy {
                allow_export: policy.bool("allow_export")?,
                key_invalidation: policy.bool("key_invalidation")?,
                read_only: policy.bool("read_only")?,
                max_pin_failures: policy.u64("max_pin_failures")?,
                min_pin_len: policy.u64("min_pin_len")?,
            },
        },
        key: KeyClaims {
            class: key.str("class")?,
            key_type: key.str("type")?,
            bits: key.opt_u64("bits")?,
            curve: key.opt_str("curve")?,
            id: key.hex("id")?,
            label: key.str("label")?,
            unique_id: key.str("unique_id")?,
            origin,
            created: match key.get("created") {
                Some(_) => Some(key.time("created")?),
                None => None,
            },
            security,
            usage,
            allowed_mechanisms,
            check_value: key.opt_hex("check_value")?,
            public_key_info: key.opt_hex("public_key_info")?,
        },
    })
}
