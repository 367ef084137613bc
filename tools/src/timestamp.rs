//! RFC 3161 timestamps through PKCS#11: what `ferrohsm timestamp` does. The tool
//! hashes the file, writes a `TimeStampReq`, has the partition's timestamp key sign
//! it (`C_SignInit(CKM_FERRO_TIMESTAMP, timestamp key)`, `C_Sign(request)`), checks
//! that the token answers that request, and wraps it in a `TimeStampResp`.
//!
//! The structures are declared here, apart from the module's: the TSTInfo's policy
//! is our `id-ferro-tsaPolicy`, a 128-bit arc, read as a [`RawOid`].

use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use der::asn1::{AnyRef, GeneralizedTime, IntRef, Null, ObjectIdentifier, OctetStringRef, UintRef};
use der::{Decode, Encode, Sequence};
use sha2::Digest;
use spki::AlgorithmIdentifierRef;

use crate::error::{Doing, Error, Result};
use crate::vendor::{CKA_FERRO_KEY_ROLE, CKM_FERRO_TIMESTAMP, ulong_attr};
use crate::verify::oids::{FERRO_ARC, RawOid};

/// `CKA_FERRO_KEY_ROLE` of the timestamp key.
pub const ROLE_TIMESTAMP: u64 = 4;

/// `id-ferro-tsaPolicy`, dotted.
pub fn tsa_policy() -> String {
    format!("{FERRO_ARC}.4")
}

/// The hash a request's imprint is made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    /// By name: `sha256`, `sha384`, `sha512`.
    pub fn parse(s: &str) -> Option<Hash> {
        match s.to_ascii_lowercase().as_str() {
            "sha256" | "sha-256" => Some(Hash::Sha256),
            "sha384" | "sha-384" => Some(Hash::Sha384),
            "sha512" | "sha-512" => Some(Hash::Sha512),
            _ => None,
        }
    }

    /// The name as the command line takes it.
    pub fn name(self) -> &'static str {
        match self {
            Hash::Sha256 => "sha256",
            Hash::Sha384 => "sha384",
            Hash::Sha512 => "sha512",
        }
    }

    /// The OID (RFC 5754 §2).
    fn oid(self) -> ObjectIdentifier {
        ObjectIdentifier::new_unwrap(match self {
            Hash::Sha256 => "2.16.840.1.101.3.4.2.1",
            Hash::Sha384 => "2.16.840.1.101.3.4.2.2",
            Hash::Sha512 => "2.16.840.1.101.3.4.2.3",
        })
    }

    /// The hash of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// A DER `TimeStampReq` (RFC 3161 §2.4.1) for `digest` made with `hash`: version 1,
/// the imprint with NULL parameters (as `openssl ts -query` writes it), no policy
/// (the TSA's own), `nonce` as a positive INTEGER if given, certReq true (so the
/// token carries the TSA's certificate and its chain).
pub fn request(hash: Hash, digest: &[u8], nonce: Option<&[u8]>) -> Result<Vec<u8>> {
    let encoding = |e: der::Error| Error::Unexpected(format!("encoding the timestamp request: {e}"));
    let null = Null.to_der().map_err(encoding)?;
    let imprint = MessageImprint {
        hash_algorithm: AlgorithmIdentifierRef {
            oid: hash.oid(),
            parameters: Some(AnyRef::from_der(&null).map_err(encoding)?),
        },
        hashed_message: OctetStringRef::new(digest).map_err(encoding)?,
    };
    // The nonce as a positive INTEGER: UintRef adds the zero byte a set top bit needs.
    let nonce_der = nonce.map(|n| UintRef::new(n)?.to_der()).transpose().map_err(encoding)?;
    TimeStampReq {
        version: 1,
        message_imprint: imprint,
        req_policy: None,
        nonce: nonce_der.as_deref().map(IntRef::from_der).transpose().map_err(encoding)?,
        cert_req: true,
    }
    .to_der()
    .map_err(encoding)
}

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// The imprint's hash algorithm, by name when it is one we know.
    pub hash: String,
    /// The hashed message.
    pub digest: Vec<u8>,
    /// The policy asked for, if any.
    pub policy: Option<RawOid>,
    /// The nonce, as its INTEGER's content bytes.
    pub nonce: Option<Vec<u8>>,
    /// Whether it asks for the TSA's certificate.
    pub cert_req: bool,
}

/// Reads a DER `TimeStampReq` (one that `openssl ts -query` wrote, say). Checks
/// only that it parses: the module decides what it takes.
pub fn read_request(der: &[u8]) -> Result<RequestInfo> {
    let req = TimeStampReq::from_der(der).map_err(|e| Error::Other(format!("not a DER TimeStampReq: {e}")))?;
    let oid = req.message_imprint.hash_algorithm.oid;
    let hash = [Hash::Sha256, Hash::Sha384, Hash::Sha512]
        .into_iter()
        .find(|h| h.oid() == oid)
        .map_or_else(|| oid.to_string(), |h| h.name().to_string());
    Ok(RequestInfo {
        hash,
        digest: req.message_imprint.hashed_message.as_bytes().to_vec(),
        policy: req.req_policy,
        nonce: req.nonce.map(|n| n.as_bytes().to_vec()),
        cert_req: req.cert_req,
    })
}

/// An INTEGER's content bytes as `openssl ts -text` prints a positive one: `0x`,
/// upper-case hex, without the sign byte.
pub fn integer_hex(bytes: &[u8]) -> String {
    let trimmed = match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => bytes,
    };
    format!("0x{}", crate::verify::hex::encode(trimmed).to_uppercase())
}

/// The partition's timestamp key: the private key with `CKA_FERRO_KEY_ROLE` 4
/// (public: found without a login).
pub fn find_key(session: &Session) -> Result<ObjectHandle> {
    let t = [Attribute::Class(ObjectClass::PRIVATE_KEY), ulong_attr(CKA_FERRO_KEY_ROLE, ROLE_TIMESTAMP)];
    let found = session.find_objects(&t).doing("finding the timestamp key (C_FindObjects)")?;
    match found[..] {
        [h] => Ok(h),
        [] => Err(Error::NotFound("this slot has no timestamp key (CKA_FERRO_KEY_ROLE 4): is it a partition?".into())),
        _ => Err(Error::Unexpected(format!("{} timestamp keys in one partition", found.len()))),
    }
}

/// `C_SignInit(CKM_FERRO_TIMESTAMP, key)` and `C_Sign(request)`: the DER
/// `TimeStampToken`.
pub fn sign(session: &Session, key: ObjectHandle, request: &[u8]) -> Result<Vec<u8>> {
    let ty = MechanismType::new_vendor_defined(CKM_FERRO_TIMESTAMP)
        .map_err(|e| Error::Other(format!("vendor mechanism {CKM_FERRO_TIMESTAMP:#x}: {e}")))?;
    let mechanism = Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(ty, None));
    session.sign(&mechanism, key, request).doing("timestamping (CKM_FERRO_TIMESTAMP, C_SignInit/C_Sign)")
}

/// What a token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// The TSA's policy.
    pub policy: RawOid,
    /// The serial number, as its big-endian bytes (no leading zeros).
    pub serial: Vec<u8>,
    /// When, as the token says it (`YYYY-MM-DDThh:mm:ssZ`).
    pub gen_time: String,
    /// The MessageImprint, DER.
    pub imprint: Vec<u8>,
    /// The nonce, as its INTEGER's content bytes, if any.
    pub nonce: Option<Vec<u8>>,
}

impl TokenInfo {
    /// The serial in hex, as `openssl ts -reply -text` prints it (`0x..`).
    pub fn serial_hex(&self) -> String {
        integer_hex(&self.serial)
    }
}

/// Reads a token's TSTInfo (no signature check: `openssl ts -verify` or any RFC 3161
/// verifier does that with the chain).
pub fn read_token(der: &[u8]) -> Result<TokenInfo> {
    let bad = |what: &str, e: der::Error| Error::Unexpected(format!("the timestamp token's {what}: {e}"));
    let ci = ContentInfo::from_der(der).map_err(|e| bad("ContentInfo", e))?;
    let sd: SignedData<'_> = ci.content.decode_as().map_err(|e| bad("SignedData", e))?;
    let tst = TstInfo::from_der(sd.encap_content_info.e_content.as_bytes()).map_err(|e| bad("TSTInfo", e))?;
    Ok(TokenInfo {
        policy: tst.policy,
        serial: tst.serial_number.as_bytes().to_vec(),
        gen_time: tst.gen_time.to_date_time().to_string(),
        imprint: tst.message_imprint.to_der().map_err(|e| bad("messageImprint", e))?,
        nonce: tst.nonce.map(|n| n.as_bytes().to_vec()),
    })
}

/// Checks that `token` answers `request` (RFC 3161 §2.4.2): the same imprint, the
/// same nonce, our policy.
pub fn check_answer(request: &[u8], token: &TokenInfo) -> Result<()> {
    let req =
        TimeStampReq::from_der(request).map_err(|e| Error::Unexpected(format!("re-reading our own request: {e}")))?;
    let imprint = req.message_imprint.to_der().map_err(|e| Error::Unexpected(e.to_string()))?;
    if token.imprint != imprint {
        return Err(Error::Unexpected("the token's message imprint is not the request's".into()));
    }
    // The module echoes the INTEGER as it came: compare the encodings.
    if token.nonce.as_deref() != req.nonce.map(|n| n.as_bytes()) {
        return Err(Error::Unexpected("the token does not echo the request's nonce".into()));
    }
    if token.policy.to_string() != tsa_policy() {
        return Err(Error::Unexpected(format!("the token's policy is {}, not {}", token.policy, tsa_policy())));
    }
    Ok(())
}

/// A `TimeStampResp` (RFC 3161 §2.4.2) with status granted (0) and `token`: what
/// `openssl ts -reply` and `-verify` read by default (`-in`, no `-token_in`).
pub fn response(token: &[u8]) -> Result<Vec<u8>> {
    let encoding = |e: der::Error| Error::Unexpected(format!("encoding the timestamp response: {e}"));
    TimeStampResp { status: PkiStatusInfo { status: 0 }, time_stamp_token: AnyRef::from_der(token).map_err(encoding)? }
        .to_der()
        .map_err(encoding)
}

// The ASN.1 of RFC 3161 §2.4, as far as the tool writes and reads it.

/// ```asn1
/// TimeStampReq ::= SEQUENCE  {
///    version          INTEGER  { v1(1) },
///    messageImprint   MessageImprint,
///    reqPolicy        TSAPolicyId              OPTIONAL,
///    nonce            INTEGER                  OPTIONAL,
///    certReq          BOOLEAN                  DEFAULT FALSE,
///    extensions       [0] IMPLICIT Extensions  OPTIONAL  }
/// ```
/// The tool writes no policy and no extensions (and reads requests without them:
/// the module takes none).
#[derive(Sequence)]
struct TimeStampReq<'a> {
    version: u8,
    message_imprint: MessageImprint<'a>,
    #[asn1(optional = "true")]
    req_policy: Option<RawOid>,
    #[asn1(optional = "true")]
    nonce: Option<IntRef<'a>>,
    #[asn1(default = "Default::default")]
    cert_req: bool,
}

/// ```asn1
/// MessageImprint ::= SEQUENCE  {
///    hashAlgorithm    AlgorithmIdentifier,
///    hashedMessage    OCTET STRING  }
/// ```
#[derive(Sequence)]
struct MessageImprint<'a> {
    hash_algorithm: AlgorithmIdentifierRef<'a>,
    hashed_message: &'a OctetStringRef,
}

/// ```asn1
/// TimeStampResp ::= SEQUENCE  {
///    status           PKIStatusInfo,
///    timeStampToken   TimeStampToken     OPTIONAL  }
/// ```
#[derive(Sequence)]
struct TimeStampResp<'a> {
    status: PkiStatusInfo,
    time_stamp_token: AnyRef<'a>,
}

/// ```asn1
/// PKIStatusInfo ::= SEQUENCE {
///    status        PKIStatus,
///    statusString  PKIFreeText     OPTIONAL,
///    failInfo      PKIFailureInfo  OPTIONAL  }
/// ```
#[derive(Sequence)]
struct PkiStatusInfo {
    status: u8,
}

/// ContentInfo (RFC 5652 §3), the content left encoded.
#[derive(Sequence)]
struct ContentInfo<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: AnyRef<'a>,
}

/// SignedData (RFC 5652 §5.1), all but the content left encoded.
#[derive(Sequence)]
struct SignedData<'a> {
    version: u8,
    digest_algorithms: AnyRef<'a>,
    encap_content_info: EncapsulatedContentInfo<'a>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true", optional = "true")]
    certificates: Option<Vec<AnyRef<'a>>>,
    signer_infos: AnyRef<'a>,
}

/// EncapsulatedContentInfo (RFC 5652 §5.2).
#[derive(Sequence)]
struct EncapsulatedContentInfo<'a> {
    e_content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    e_content: &'a OctetStringRef,
}

/// ```asn1
/// TSTInfo ::= SEQUENCE  {
///    version          INTEGER  { v1(1) },
///    policy           TSAPolicyId,
///    messageImprint   MessageImprint,
///    serialNumber     INTEGER,
///    genTime          GeneralizedTime,
///    accuracy         Accuracy                 OPTIONAL,
///    ordering         BOOLEAN             DEFAULT FALSE,
///    nonce            INTEGER                  OPTIONAL,
///    tsa              [0] GeneralName          OPTIONAL,
///    extensions       [1] IMPLICIT Extensions  OPTIONAL   }
/// ```
#[derive(Sequence)]
struct TstInfo<'a> {
    version: u8,
    policy: RawOid,
    message_imprint: AnyRef<'a>,
    serial_number: UintRef<'a>,
    gen_time: GeneralizedTime,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<IntRef<'a>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<AnyRef<'a>>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true", optional = "true")]
    extensions: Option<Vec<AnyRef<'a>>>,
}

/// ```asn1
/// Accuracy ::= SEQUENCE {
///    seconds        INTEGER              OPTIONAL,
///    millis     [0] INTEGER  (1..999)    OPTIONAL,
///    micros     [1] INTEGER  (1..999)    OPTIONAL  }
/// ```
/// Read so that a token that has one parses; ferrohsm writes none.
#[derive(Sequence)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<u64>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_what_openssl_writes() {
        // openssl ts -query -digest <64 zeros as hex> -sha256 -cert -no_nonce, DER.
        let digest = [0u8; 32];
        let req = request(Hash::Sha256, &digest, None).unwrap();
        let mut want = vec![0x30, 0x39, 0x02, 0x01, 0x01, 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09];
        want.extend([0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20]);
        want.extend(digest);
        want.extend([0x01, 0x01, 0xff]);
        assert_eq!(req, want);
        // A nonce with its top bit set stays positive.
        let req = request(Hash::Sha512, &[1; 64], Some(&[0x80, 1])).unwrap();
        let back = TimeStampReq::from_der(&req).unwrap();
        assert_eq!(back.nonce.unwrap().as_bytes(), &[0, 0x80, 1]);
        assert!(req.windows(5).any(|w| w == [0x02, 0x03, 0x00, 0x80, 0x01]));
        let info = read_request(&req).unwrap();
        assert_eq!((info.hash.as_str(), info.cert_req, info.policy), ("sha512", true, None));
        assert_eq!(integer_hex(&info.nonce.unwrap()), "0x8001");
    }

    #[test]
    fn hashes_by_name() {
        for (s, h) in [("sha256", Hash::Sha256), ("SHA-384", Hash::Sha384), ("sha512", Hash::Sha512)] {
            assert_eq!(Hash::parse(s), Some(h));
            assert_eq!(Hash::parse(h.name()), Some(h));
        }
        assert_eq!(Hash::parse("sha1"), None);
        assert_eq!(Hash::Sha384.digest(b"abc").len(), 48);
    }
}
