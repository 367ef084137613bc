//! The claims about a key: the ASN.1 module `FerroAttestation` of docs/attestation.md
//! as Rust types (the DER of the `id-ferro-keyAttestation` extension), and the same
//! claims as the JSON of signed evidence.
//!
//! Every OPTIONAL is an `Option`: `None` means the token does not know, never false.
//! The module fills these structs from what the token recorded; this file only
//! encodes them.

use cryptoki_sys::{CK_ULONG, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_SECRET_KEY};
use der::asn1::{GeneralizedTime, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Enumerated, Sequence};
use serde::Serialize;

use super::{encoding, parsing};
use crate::crypto::ec::Curve;
use crate::error::{Error, Result};
use crate::vendor;

/// The `version` of [`KeyAttestation`]: `INTEGER (1)`.
pub const VERSION: u8 = 1;

/// ```asn1
/// KeyAttestation ::= SEQUENCE {
///     version        INTEGER (1),
///     nonce          [0] IMPLICIT OCTET STRING OPTIONAL,   -- absent in birth certificates
///     time           GeneralizedTime,                       -- when the statement was made
///     device         DeviceClaims,
///     partition      PartitionClaims,
///     key            KeyClaims
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct KeyAttestation {
    /// Always [`VERSION`].
    pub version: u8,
    /// The verifier's nonce (0 to 64 bytes); absent in birth certificates.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub nonce: Option<OctetString>,
    /// When the statement was made (see [`time`]).
    pub time: GeneralizedTime,
    /// The device.
    pub device: DeviceClaims,
    /// The partition the key lives in.
    pub partition: PartitionClaims,
    /// The key.
    pub key: KeyClaims,
}

/// ```asn1
/// DeviceClaims ::= SEQUENCE {
///     serial         UTF8String,          -- 16 hex digits
///     software       UTF8String,          -- "ferrohsm"
///     version        UTF8String,          -- the module's version, e.g. "0.1.0"
///     provider       UTF8String,          -- "aws-lc" or "rustcrypto"
///     protection     ENUMERATED { software(0), hardware(1) }   -- always software
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence, Serialize)]
pub struct DeviceClaims {
    /// The device serial: 16 hex digits.
    pub serial: String,
    /// `"ferrohsm"`.
    pub software: String,
    /// The module's version, e.g. `"0.1.0"`.
    pub version: String,
    /// The crypto provider: `"aws-lc"` or `"rustcrypto"`.
    pub provider: String,
    /// Always [`Protection::Software`].
    pub protection: Protection,
}

/// `ENUMERATED { software(0), hardware(1) }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enumerated, Serialize)]
#[repr(u8)]
#[serde(rename_all = "lowercase")]
pub enum Protection {
    /// Keys in the memory of a process, sealed at rest under software keys.
    Software = 0,
    /// Keys in certified hardware (never ferrohsm).
    Hardware = 1,
}

/// ```asn1
/// PartitionClaims ::= SEQUENCE {
///     id             INTEGER,             -- the slot id
///     serial         UTF8String,          -- the token serial number
///     label          UTF8String,
///     policy         PolicyClaims
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence, Serialize)]
pub struct PartitionClaims {
    /// The slot id.
    pub id: u64,
    /// The token serial number.
    pub serial: String,
    /// The token label.
    pub label: String,
    /// The partition's policy.
    pub policy: PolicyClaims,
}

/// ```asn1
/// PolicyClaims ::= SEQUENCE {
///     allowExport      BOOLEAN,
///     keyInvalidation  BOOLEAN,
///     readOnly         BOOLEAN,
///     maxPinFailures   INTEGER,
///     minPinLen        INTEGER
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence, Serialize)]
pub struct PolicyClaims {
    /// `CKA_FERRO_POLICY_ALLOW_EXPORT`.
    pub allow_export: bool,
    /// `CKA_FERRO_POLICY_KEY_INVALIDATION`.
    pub key_invalidation: bool,
    /// `CKA_FERRO_POLICY_READ_ONLY`.
    pub read_only: bool,
    /// `CKA_FERRO_POLICY_MAX_PIN_FAILURES`.
    pub max_pin_failures: u64,
    /// `CKA_FERRO_POLICY_MIN_PIN_LEN`.
    pub min_pin_len: u64,
}

/// ```asn1
/// KeyClaims ::= SEQUENCE {
///     class          INTEGER,                      -- CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_SECRET_KEY
///     keyType        INTEGER,                      -- CKK_*
///     bits           [0] IMPLICIT INTEGER OPTIONAL,    -- RSA modulus bits, EC curve bits, secret key bits
///     curve          [1] IMPLICIT OBJECT IDENTIFIER OPTIONAL,  -- EC and Edwards keys
///     id             OCTET STRING,                 -- CKA_ID
///     label          UTF8String,                   -- CKA_LABEL
///     uniqueId       UTF8String,                   -- CKA_UNIQUE_ID
///     origin         ENUMERATED { generated(1), imported(2), unwrapped(3),
///                                 derived(4), replicated(5), copied(6) },
///     created        [2] IMPLICIT GeneralizedTime OPTIONAL,  -- CKA_FERRO_CREATED
///     security       SecurityClaims,
///     usage          UsageClaims,
///     allowedMechanisms [3] IMPLICIT SEQUENCE OF INTEGER OPTIONAL,  -- absent: any
///     checkValue     [4] IMPLICIT OCTET STRING OPTIONAL  -- CKA_CHECK_VALUE of secret keys
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct KeyClaims {
    /// `CKA_CLASS`: `CKO_PRIVATE_KEY`, `CKO_PUBLIC_KEY` or `CKO_SECRET_KEY`.
    pub class: CK_ULONG,
    /// `CKA_KEY_TYPE`.
    pub key_type: CK_ULONG,
    /// RSA modulus bits, EC curve bits, secret key bits.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub bits: Option<u64>,
    /// The named curve of EC and Edwards keys.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub curve: Option<ObjectIdentifier>,
    /// `CKA_ID`.
    pub id: OctetString,
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_UNIQUE_ID`.
    pub unique_id: String,
    /// How the key came to be (`CKA_FERRO_ORIGIN`).
    pub origin: Origin,
    /// `CKA_FERRO_CREATED`.
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    pub created: Option<GeneralizedTime>,
    /// The security attributes.
    pub security: SecurityClaims,
    /// The usage flags.
    pub usage: UsageClaims,
    /// `CKA_ALLOWED_MECHANISMS`; absent: any mechanism.
    #[asn1(context_specific = "3", tag_mode = "IMPLICIT", optional = "true")]
    pub allowed_mechanisms: Option<Vec<CK_ULONG>>,
    /// `CKA_CHECK_VALUE` of secret keys.
    #[asn1(context_specific = "4", tag_mode = "IMPLICIT", optional = "true")]
    pub check_value: Option<OctetString>,
}

/// `ENUMERATED { generated(1), imported(2), unwrapped(3), derived(4), replicated(5), copied(6) }`,
/// the values of `CKA_FERRO_ORIGIN` ([`vendor::Origin`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enumerated, Serialize)]
#[repr(u8)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Origin {
    Generated = 1,
    Imported = 2,
    Unwrapped = 3,
    Derived = 4,
    Replicated = 5,
    Copied = 6,
}

impl From<vendor::Origin> for Origin {
    fn from(o: vendor::Origin) -> Self {
        match o {
            vendor::Origin::Generated => Origin::Generated,
            vendor::Origin::Imported => Origin::Imported,
            vendor::Origin::Unwrapped => Origin::Unwrapped,
            vendor::Origin::Derived => Origin::Derived,
            vendor::Origin::Replicated => Origin::Replicated,
            vendor::Origin::Copied => Origin::Copied,
        }
    }
}

/// ```asn1
/// SecurityClaims ::= SEQUENCE {
///     local             [0] IMPLICIT BOOLEAN OPTIONAL,
///     sensitive         [1] IMPLICIT BOOLEAN OPTIONAL,
///     alwaysSensitive   [2] IMPLICIT BOOLEAN OPTIONAL,
///     extractable       [3] IMPLICIT BOOLEAN OPTIONAL,
///     neverExtractable  [4] IMPLICIT BOOLEAN OPTIONAL,
///     modifiable        [5] IMPLICIT BOOLEAN OPTIONAL,
///     private           [6] IMPLICIT BOOLEAN OPTIONAL
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Sequence, Serialize)]
#[allow(missing_docs)]
pub struct SecurityClaims {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<bool>,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub always_sensitive: Option<bool>,
    #[asn1(context_specific = "3", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extractable: Option<bool>,
    #[asn1(context_specific = "4", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub never_extractable: Option<bool>,
    #[asn1(context_specific = "5", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modifiable: Option<bool>,
    #[asn1(context_specific = "6", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
}

/// ```asn1
/// UsageClaims ::= SEQUENCE {
///     encrypt    [0] IMPLICIT BOOLEAN OPTIONAL,
///     decrypt    [1] IMPLICIT BOOLEAN OPTIONAL,
///     sign       [2] IMPLICIT BOOLEAN OPTIONAL,
///     verify     [3] IMPLICIT BOOLEAN OPTIONAL,
///     wrap       [4] IMPLICIT BOOLEAN OPTIONAL,
///     unwrap     [5] IMPLICIT BOOLEAN OPTIONAL,
///     derive     [6] IMPLICIT BOOLEAN OPTIONAL
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Sequence, Serialize)]
#[allow(missing_docs)]
pub struct UsageClaims {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypt: Option<bool>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decrypt: Option<bool>,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign: Option<bool>,
    #[asn1(context_specific = "3", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<bool>,
    #[asn1(context_specific = "4", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap: Option<bool>,
    #[asn1(context_specific = "5", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unwrap: Option<bool>,
    #[asn1(context_specific = "6", tag_mode = "IMPLICIT", optional = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derive: Option<bool>,
}

/// A time for the claims, from Unix seconds (whole seconds, as DER requires).
pub fn time(unix_secs: u64) -> Result<GeneralizedTime> {
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(unix_secs)).map_err(encoding)
}

/// A byte string claim (nonce, `CKA_ID`, check value).
pub fn octets(bytes: &[u8]) -> Result<OctetString> {
    OctetString::new(bytes).map_err(encoding)
}

impl KeyAttestation {
    /// The DER of the claims: the value of the `id-ferro-keyAttestation` extension.
    pub fn to_der(&self) -> Result<Vec<u8>> {
        Encode::to_der(self).map_err(encoding)
    }

    /// Parses the DER of the claims (`CKR_FUNCTION_FAILED` when it does not parse).
    pub fn from_der(der: &[u8]) -> Result<Self> {
        <Self as Decode>::from_der(der).map_err(parsing("the key attestation extension"))
    }

    /// The same claims as the JSON of signed evidence (`"type": "key"`), compact.
    /// `public_key_info` is the key's SubjectPublicKeyInfo (DER) for public and
    /// private keys (`key.public_key_info`); the DER claims do not carry it, as a
    /// certificate carries the key itself.
    pub fn to_json(&self, public_key_info: Option<&[u8]>) -> Result<String> {
        let k = &self.key;
        let json = Json {
            version: self.version,
            r#type: "key",
            nonce: self.nonce.as_ref().map(|n| hex(n.as_bytes())),
            time: self.time.to_date_time().to_string(),
            device: &self.device,
            partition: &self.partition,
            key: JsonKey {
                class: class_name(k.class),
                r#type: key_type_name(k.key_type),
                bits: k.bits,
                curve: k.curve.as_ref().map(curve_name),
                public_key_info: public_key_info.map(hex),
                id: hex(k.id.as_bytes()),
                label: &k.label,
                unique_id: &k.unique_id,
                origin: k.origin,
                created: k.created.map(|t| t.to_date_time().to_string()),
                check_value: k.check_value.as_ref().map(|c| hex(c.as_bytes())),
                security: &k.security,
                usage: &k.usage,
                allowed_mechanisms: k
                    .allowed_mechanisms
                    .as_ref()
                    .map(|m| m.iter().map(|&m| mechanism_name(m)).collect()),
            },
        };
        serde_json::to_string(&json).map_err(|e| Error::new(cryptoki_sys::CKR_GENERAL_ERROR).context(e.to_string()))
    }
}

/// The JSON document (docs/attestation.md, "The JSON claims"), in the doc's order.
#[derive(Serialize)]
struct Json<'a> {
    version: u8,
    r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    time: String,
    device: &'a DeviceClaims,
    partition: &'a PartitionClaims,
    key: JsonKey<'a>,
}

#[derive(Serialize)]
struct JsonKey<'a> {
    class: String,
    r#type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    bits: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    curve: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key_info: Option<String>,
    id: String,
    label: &'a str,
    unique_id: &'a str,
    origin: Origin,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    check_value: Option<String>,
    security: &'a SecurityClaims,
    usage: &'a UsageClaims,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_mechanisms: Option<Vec<String>>,
}

/// Lowercase hex, as the JSON carries byte strings.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// An unnamed value: `0x...`.
fn unnamed(v: CK_ULONG) -> String {
    format!("{v:#x}")
}

/// `key.class`: `"private"`, `"public"`, `"secret"`.
fn class_name(class: CK_ULONG) -> String {
    match class {
        CKO_PRIVATE_KEY => "private".into(),
        CKO_PUBLIC_KEY => "public".into(),
        CKO_SECRET_KEY => "secret".into(),
        other => unnamed(other),
    }
}

/// `key.type`: the `CKK_` name without its prefix.
fn key_type_name(key_type: CK_ULONG) -> String {
    match crate::names::key_type(key_type) {
        Some(n) => n.trim_start_matches("CKK_").into(),
        None => unnamed(key_type),
    }
}

/// `key.curve`: `"P-256"`, `"P-384"`, `"P-521"`, `"Ed25519"`; another curve by its OID.
fn curve_name(oid: &ObjectIdentifier) -> String {
    match crate::mechanism::ec::params::curve_of_oid(oid) {
        Some(Curve::P256) => "P-256".into(),
        Some(Curve::P384) => "P-384".into(),
        Some(Curve::P521) => "P-521".into(),
        Some(Curve::Ed25519) => "Ed25519".into(),
        None => oid.to_string(),
    }
}

/// `allowed_mechanisms`: `CKM_` names, or `0x...`.
fn mechanism_name(m: CK_ULONG) -> String {
    match crate::names::mechanism(m) {
        Some(n) => n.into(),
        None => unnamed(m),
    }
}
