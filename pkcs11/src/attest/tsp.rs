//! RFC 3161 timestamps (docs/attestation.md, "Timestamps"): the request a caller
//! gives `C_Sign` under `CKM_FERRO_TIMESTAMP`, and the `TimeStampToken` that the
//! partition's timestamp key signs.
//!
//! The structures are mirrored here rather than taken from RustCrypto's `x509-tsp`:
//! a TSTInfo's `policy` is our `id-ferro-tsaPolicy`, whose 128-bit arc a const-oid
//! OID cannot hold ([`super::oid`]). Only what the module writes and reads is
//! declared; the rest of RFC 3161 (accuracy, ordering, extensions) it never writes.

use cryptoki_sys::{CKR_DATA_INVALID, CKR_DATA_LEN_RANGE};
use der::asn1::{AnyRef, GeneralizedTime, IntRef, ObjectIdentifier, OctetStringRef, SetOfVec, UintRef};
use der::{Any, Decode, Encode, Sequence, Tag, TagNumber, Tagged};
use sha2::Digest;
use spki::AlgorithmIdentifierRef;
use x509_cert::attr::Attribute;

use super::oid::{self, Oid};
use super::{Signer, cms, encoding, x509};
use crate::error::{Result, err};

/// The most data `C_Sign` takes: a TimeStampReq without extensions (which we refuse)
/// is well under 200 bytes; this leaves room for long nonces and stray encodings
/// without letting a caller make the token buffer megabytes.
pub const MAX_INPUT: usize = 1024;

/// The hash of a message imprint: what the caller hashed its data with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImprintHash {
    /// SHA-256, 32 bytes.
    Sha256,
    /// SHA-384, 48 bytes.
    Sha384,
    /// SHA-512, 64 bytes.
    Sha512,
}

impl ImprintHash {
    /// The hash whose OID this is (RFC 5754 §2), if we take it.
    fn of_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            oid::SHA256 => Some(Self::Sha256),
            oid::SHA384 => Some(Self::Sha384),
            oid::SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The hash of a bare hash of `len` bytes.
    fn of_len(len: usize) -> Option<Self> {
        match len {
            32 => Some(Self::Sha256),
            48 => Some(Self::Sha384),
            64 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Its OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha256 => oid::SHA256,
            Self::Sha384 => oid::SHA384,
            Self::Sha512 => oid::SHA512,
        }
    }

    /// The length of its output.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Its name, for logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }
}

/// What to timestamp: the caller's data, read by [`Request::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The `MessageImprint`, DER, exactly as the caller sent it: RFC 3161 §2.4.2 wants
    /// the TSTInfo's to be the same value.
    pub imprint: Vec<u8>,
    /// Its hash algorithm.
    pub hash: ImprintHash,
    /// The nonce, as its DER INTEGER (tag, length, value), echoed as it came.
    pub nonce: Option<Vec<u8>>,
    /// Whether the token carries the TSA's certificate and the chain above it.
    pub cert_req: bool,
}

impl Request {
    /// Reads `C_Sign`'s data: a DER `TimeStampReq`, or a bare SHA-256, SHA-384 or
    /// SHA-512 hash (32, 48 or 64 bytes; then certReq is true and there is no nonce).
    ///
    /// Data that parses as a TimeStampReq is one (a 64-byte request exists; a real
    /// hash that happens to be a well-formed request is a 2^-48 chance at most: it
    /// must start `30 3e 02 01 01 30`). Otherwise data of a hash's length is a hash;
    /// other data that starts like a DER SEQUENCE (0x30) is a malformed request,
    /// `CKR_DATA_INVALID`; anything else, or nothing, or more than [`MAX_INPUT`]
    /// bytes, is `CKR_DATA_LEN_RANGE`.
    ///
    /// A request is refused (`CKR_DATA_INVALID`) unless: version 1; the imprint's
    /// hash is SHA-256, SHA-384 or SHA-512, parameters absent or NULL, with a hash of
    /// that length; `reqPolicy`, if present, is `id-ferro-tsaPolicy`; no extensions
    /// (RFC 3161 §2.4.1: a TSA refuses extensions it does not know, and we know none).
    pub fn parse(data: &[u8]) -> Result<Self> {
        if data.is_empty() || data.len() > MAX_INPUT {
            return Err(err(
                CKR_DATA_LEN_RANGE,
                format!("a timestamp request is 1 to {MAX_INPUT} bytes, not {}", data.len()),
            ));
        }
        let parsed = TimeStampReq::from_der(data);
        let req = match (parsed, ImprintHash::of_len(data.len())) {
            (Ok(req), _) => req,
            (Err(_), Some(hash)) => return Self::bare(hash, data),
            (Err(e), None) if data[0] == 0x30 => {
                return Err(err(CKR_DATA_INVALID, format!("not a DER TimeStampReq: {e}")));
            }
            (Err(_), None) => {
                return Err(err(
                    CKR_DATA_LEN_RANGE,
                    format!(
                        "{} bytes are neither a TimeStampReq nor a SHA-256, SHA-384 or SHA-512 hash (32, 48, 64 bytes)",
                        data.len()
                    ),
                ));
            }
        };
        if req.version != 1 {
            return Err(err(CKR_DATA_INVALID, format!("TimeStampReq version {}; only v1 exists", req.version)));
        }
        if let Some(policy) = req.req_policy
            && policy != oid::TSA_POLICY
        {
            return Err(err(
                CKR_DATA_INVALID,
                format!("the request asks for TSA policy {policy}; this TSA's is {}", oid::TSA_POLICY),
            ));
        }
        if req.extensions.is_some() {
            return Err(err(CKR_DATA_INVALID, "the request has extensions; this TSA takes none"));
        }
        let imprint_der = req.message_imprint.to_der().map_err(encoding)?;
        let imprint = MessageImprint::from_der(&imprint_der)
            .map_err(|e| err(CKR_DATA_INVALID, format!("the request's messageImprint: {e}")))?;
        let hash = ImprintHash::of_oid(&imprint.hash_algorithm.oid).ok_or_else(|| {
            err(
                CKR_DATA_INVALID,
                format!(
                    "the imprint's hash is {}; this TSA takes SHA-256, SHA-384 and SHA-512",
                    imprint.hash_algorithm.oid
                ),
            )
        })?;
        // RFC 5754 §2: parameters absent (preferred) or NULL.
        if imprint.hash_algorithm.parameters.is_some_and(|p| p.tag() != Tag::Null || !p.value().is_empty()) {
            return Err(err(CKR_DATA_INVALID, "the imprint's hash algorithm has parameters other than NULL"));
        }
        if imprint.hashed_message.as_bytes().len() != hash.output_len() {
            return Err(err(
                CKR_DATA_INVALID,
                format!(
                    "a {} imprint of {} bytes; it is {}",
                    hash.name(),
                    imprint.hashed_message.as_bytes().len(),
                    hash.output_len()
                ),
            ));
        }
        Ok(Self {
            imprint: imprint_der,
            hash,
            nonce: req.nonce.map(|n| n.to_der()).transpose().map_err(encoding)?,
            cert_req: req.cert_req,
        })
    }

    /// A bare hash: its imprint (parameters absent, as RFC 5754 prefers), certReq.
    fn bare(hash: ImprintHash, digest: &[u8]) -> Result<Self> {
        let imprint = MessageImprint {
            hash_algorithm: AlgorithmIdentifierRef { oid: hash.oid(), parameters: None },
            hashed_message: OctetStringRef::new(digest).map_err(encoding)?,
        };
        Ok(Self { imprint: imprint.to_der().map_err(encoding)?, hash, nonce: None, cert_req: true })
    }
}

/// A TimeStampToken (RFC 3161 §2.4.2) for `req`: CMS SignedData (DER) over the
/// TSTInfo { version 1, policy `id-ferro-tsaPolicy`, the request's imprint, `serial`,
/// genTime `now` (UTC, whole seconds), the request's nonce, tsa the subject of
/// `tsa_cert` }, signed by `signer` (the key of `tsa_cert`) with the signed
/// attributes contentType (`id-ct-TSTInfo`), signingTime, messageDigest and
/// signingCertificateV2 (RFC 5035, SHA-256 of `tsa_cert` with its issuer and
/// serial). With certReq the certificate set holds `tsa_cert` and `chain`; without,
/// RFC 3161 §2.4.1 says it must be absent, and it is.
pub fn token(
    req: &Request,
    serial: u64,
    now: u64,
    tsa_cert: &[u8],
    chain: &[Vec<u8>],
    signer: &dyn Signer,
) -> Result<Vec<u8>> {
    let tsa_name = x509::subject_of(tsa_cert)?;
    let serial_bytes = serial.to_be_bytes();
    let nonce = req.nonce.as_deref().map(IntRef::from_der).transpose().map_err(encoding)?;
    let gen_time = GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(now)).map_err(encoding)?;
    let tst_info = TstInfo {
        version: 1,
        policy: oid::TSA_POLICY,
        message_imprint: AnyRef::from_der(&req.imprint).map_err(encoding)?,
        serial_number: UintRef::new(&serial_bytes).map_err(encoding)?,
        gen_time,
        nonce,
        // GeneralName directoryName: [4], explicit because Name is a CHOICE.
        tsa: Some(AnyRef::new(directory_name_tag(), &tsa_name).map_err(encoding)?),
    }
    .to_der()
    .map_err(encoding)?;

    let mut certs = vec![tsa_cert.to_vec()];
    certs.extend(chain.iter().cloned());
    cms::signed_data_with(
        &Oid::from(&oid::CT_TST_INFO),
        &tst_info,
        tsa_cert,
        req.cert_req.then_some(certs.as_slice()),
        vec![signing_certificate_v2(tsa_cert)?],
        signer,
        now,
    )
}

/// The tag of a GeneralName's `directoryName [4]`.
fn directory_name_tag() -> Tag {
    Tag::ContextSpecific { constructed: true, number: TagNumber(4) }
}

/// The `signingCertificateV2` attribute (RFC 5035 §3) for `cert`: one ESSCertIDv2,
/// hash SHA-256 (the default, so not written), with issuerSerial.
fn signing_certificate_v2(cert: &[u8]) -> Result<Attribute> {
    let (issuer, serial) = x509::issuer_and_serial(cert)?;
    let hash = sha2::Sha256::digest(cert);
    let value = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            cert_hash: OctetStringRef::new(&hash).map_err(encoding)?,
            issuer_serial: IssuerSerial {
                issuer: vec![AnyRef::new(directory_name_tag(), &issuer).map_err(encoding)?],
                serial_number: AnyRef::from_der(&serial).map_err(encoding)?,
            },
        }],
    };
    let values = SetOfVec::try_from(vec![Any::encode_from(&value).map_err(encoding)?]).map_err(encoding)?;
    Ok(Attribute { oid: oid::AA_SIGNING_CERTIFICATE_V2, values })
}

// The ASN.1 of RFC 3161 §2.4 and RFC 5035 §3.

/// ```asn1
/// TimeStampReq ::= SEQUENCE  {
///    version                  INTEGER  { v1(1) },
///    messageImprint           MessageImprint,
///    reqPolicy                TSAPolicyId              OPTIONAL,
///    nonce                    INTEGER                  OPTIONAL,
///    certReq                  BOOLEAN                  DEFAULT FALSE,
///    extensions               [0] IMPLICIT Extensions  OPTIONAL  }
/// ```
/// The imprint is kept as its encoding, to be echoed.
#[derive(Sequence)]
struct TimeStampReq<'a> {
    version: u8,
    message_imprint: AnyRef<'a>,
    #[asn1(optional = "true")]
    req_policy: Option<Oid<'a>>,
    #[asn1(optional = "true")]
    nonce: Option<IntRef<'a>>,
    #[asn1(default = "Default::default")]
    cert_req: bool,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true", optional = "true")]
    extensions: Option<Vec<AnyRef<'a>>>,
}

/// ```asn1
/// MessageImprint ::= SEQUENCE  {
///    hashAlgorithm            AlgorithmIdentifier,
///    hashedMessage            OCTET STRING  }
/// ```
#[derive(Sequence)]
struct MessageImprint<'a> {
    hash_algorithm: AlgorithmIdentifierRef<'a>,
    hashed_message: &'a OctetStringRef,
}

/// ```asn1
/// TSTInfo ::= SEQUENCE  {
///    version                  INTEGER  { v1(1) },
///    policy                   TSAPolicyId,
///    messageImprint           MessageImprint,
///    serialNumber             INTEGER,
///    genTime                  GeneralizedTime,
///    accuracy                 Accuracy                 OPTIONAL,
///    ordering                 BOOLEAN             DEFAULT FALSE,
///    nonce                    INTEGER                  OPTIONAL,
///    tsa                      [0] GeneralName          OPTIONAL,
///    extensions               [1] IMPLICIT Extensions  OPTIONAL   }
/// ```
/// We write no accuracy (the time is the host's clock, which the token cannot
/// vouch for), ordering false (so absent) and no extensions.
#[derive(Sequence)]
struct TstInfo<'a> {
    version: u8,
    policy: Oid<'a>,
    message_imprint: AnyRef<'a>,
    serial_number: UintRef<'a>,
    gen_time: GeneralizedTime,
    #[asn1(optional = "true")]
    nonce: Option<IntRef<'a>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<AnyRef<'a>>,
}

/// ```asn1
/// SigningCertificateV2 ::=  SEQUENCE {
///    certs        SEQUENCE OF ESSCertIDv2,
///    policies     SEQUENCE OF PolicyInformation OPTIONAL }
/// ```
#[derive(Sequence)]
struct SigningCertificateV2<'a> {
    certs: Vec<EssCertIdV2<'a>>,
}

/// ```asn1
/// ESSCertIDv2 ::=  SEQUENCE {
///    hashAlgorithm           AlgorithmIdentifier DEFAULT {algorithm id-sha256},
///    certHash                Hash,
///    issuerSerial            IssuerSerial OPTIONAL }
/// ```
/// Always SHA-256, so `hashAlgorithm` is never written (DER omits a default).
#[derive(Sequence)]
struct EssCertIdV2<'a> {
    cert_hash: &'a OctetStringRef,
    issuer_serial: IssuerSerial<'a>,
}

/// ```asn1
/// IssuerSerial ::= SEQUENCE {
///    issuer                   GeneralNames,
///    serialNumber             CertificateSerialNumber }
/// ```
#[derive(Sequence)]
struct IssuerSerial<'a> {
    issuer: Vec<AnyRef<'a>>,
    serial_number: AnyRef<'a>,
}

#[cfg(test)]
mod tests {
    use cryptoki_sys::CK_RV;

    use super::*;

    fn rv<T>(r: Result<T>) -> CK_RV {
        r.err().map(|e| e.rv()).unwrap_or(cryptoki_sys::CKR_OK)
    }

    /// A request as openssl ts -query writes it (parameters NULL).
    fn request(hash: ImprintHash, policy: Option<Oid<'_>>, nonce: Option<&[u8]>, cert_req: bool) -> Vec<u8> {
        let digest = vec![0xab; hash.output_len()];
        let null = AnyRef::from_der(&[0x05, 0x00]).unwrap();
        let imprint = MessageImprint {
            hash_algorithm: AlgorithmIdentifierRef { oid: hash.oid(), parameters: Some(null) },
            hashed_message: OctetStringRef::new(&digest).unwrap(),
        }
        .to_der()
        .unwrap();
        TimeStampReq {
            version: 1,
            message_imprint: AnyRef::from_der(&imprint).unwrap(),
            req_policy: policy,
            nonce: nonce.map(|n| IntRef::new(n).unwrap()),
            cert_req,
            extensions: None,
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn requests_are_read_and_their_parts_kept() {
        for hash in [ImprintHash::Sha256, ImprintHash::Sha384, ImprintHash::Sha512] {
            let der = request(hash, Some(oid::TSA_POLICY), Some(&[0x01, 0x02, 0x03, 0x04, 0x05]), true);
            let r = Request::parse(&der).unwrap();
            assert_eq!(r.hash, hash);
            assert!(r.cert_req);
            assert_eq!(r.nonce.as_deref(), Some(&[0x02, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05][..]));
            // The imprint, as sent (NULL parameters kept).
            let imprint = MessageImprint::from_der(&r.imprint).unwrap();
            assert_eq!(imprint.hash_algorithm.oid, hash.oid());
            assert!(imprint.hash_algorithm.parameters.is_some());
            assert_eq!(imprint.hashed_message.as_bytes(), vec![0xab; hash.output_len()]);
        }
        let r = Request::parse(&request(ImprintHash::Sha256, None, None, false)).unwrap();
        assert_eq!((r.nonce, r.cert_req), (None, false));
    }

    #[test]
    fn bare_hashes_are_read_by_length() {
        for hash in [ImprintHash::Sha256, ImprintHash::Sha384, ImprintHash::Sha512] {
            // Starting with 0x30 too: a hash is a hash when it is no request.
            let digest: Vec<u8> = (0..hash.output_len() as u8).map(|i| i.wrapping_add(0x30)).collect();
            let r = Request::parse(&digest).unwrap();
            assert_eq!((r.hash, r.cert_req, r.nonce.clone()), (hash, true, None));
            let imprint = MessageImprint::from_der(&r.imprint).unwrap();
            assert_eq!(imprint.hash_algorithm.parameters, None);
            assert_eq!(imprint.hashed_message.as_bytes(), digest);
        }
    }

    #[test]
    fn a_64_byte_request_is_a_request() {
        // SHA-256, NULL parameters, certReq and a 3-byte nonce: 64 bytes, the length
        // of a SHA-512 hash.
        let der = request(ImprintHash::Sha256, None, Some(&[0x01, 0x02, 0x03]), true);
        assert_eq!(der.len(), 64);
        let r = Request::parse(&der).unwrap();
        assert_eq!(r.hash, ImprintHash::Sha256);
    }

    #[test]
    fn bad_requests_are_refused() {
        let good = request(ImprintHash::Sha256, None, Some(&[0x42]), true);
        let mut v2 = good.clone();
        assert_eq!(&v2[2..5], &[0x02, 0x01, 0x01]);
        v2[4] = 2;
        assert_eq!(rv(Request::parse(&v2)), CKR_DATA_INVALID, "version 2");

        let other_policy = Oid::from(&oid::KP_TIME_STAMPING);
        let der = request(ImprintHash::Sha256, Some(other_policy), None, false);
        assert_eq!(rv(Request::parse(&der)), CKR_DATA_INVALID, "another policy");

        // A SHA-1 imprint.
        let digest = [0u8; 20];
        let sha1 = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
        let imprint = MessageImprint {
            hash_algorithm: AlgorithmIdentifierRef { oid: sha1, parameters: None },
            hashed_message: OctetStringRef::new(&digest).unwrap(),
        }
        .to_der()
        .unwrap();
        let with_imprint = |imprint: &[u8], extensions: Option<Vec<AnyRef<'_>>>| {
            TimeStampReq {
                version: 1,
                message_imprint: AnyRef::from_der(imprint).unwrap(),
                req_policy: None,
                nonce: None,
                cert_req: false,
                extensions,
            }
            .to_der()
            .unwrap()
        };
        assert_eq!(rv(Request::parse(&with_imprint(&imprint, None))), CKR_DATA_INVALID, "SHA-1");

        // A SHA-256 imprint of 20 bytes.
        let short = MessageImprint {
            hash_algorithm: AlgorithmIdentifierRef { oid: oid::SHA256, parameters: None },
            hashed_message: OctetStringRef::new(&digest).unwrap(),
        }
        .to_der()
        .unwrap();
        assert_eq!(rv(Request::parse(&with_imprint(&short, None))), CKR_DATA_INVALID, "short imprint");

        // Extensions.
        let ok = Request::parse(&good).unwrap().imprint;
        let ext = [0x30, 0x03, 0x06, 0x01, 0x2a];
        let der = with_imprint(&ok, Some(vec![AnyRef::from_der(&ext).unwrap()]));
        assert_eq!(rv(Request::parse(&der)), CKR_DATA_INVALID, "extensions");

        // Broken DER, trailing bytes.
        assert_eq!(rv(Request::parse(&good[..good.len() - 1])), CKR_DATA_INVALID, "truncated");
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(rv(Request::parse(&trailing)), CKR_DATA_INVALID, "trailing byte");

        // Lengths.
        assert_eq!(rv(Request::parse(&[])), CKR_DATA_LEN_RANGE, "nothing");
        assert_eq!(rv(Request::parse(&[0xab; 20])), CKR_DATA_LEN_RANGE, "a SHA-1 hash");
        assert_eq!(rv(Request::parse(&[0xab; 33])), CKR_DATA_LEN_RANGE, "33 bytes");
        assert_eq!(rv(Request::parse(&vec![0x30; MAX_INPUT + 1])), CKR_DATA_LEN_RANGE, "too long");
    }

    /// What a token holds, read back by the structures above.
    #[test]
    fn the_token_carries_the_request_and_names_its_signer() {
        use crate::crypto::ec::Curve;
        use crate::crypto::select;
        use crate::mechanism::ec::params::spki;

        let p = select(None).unwrap();
        let (d, q) = p.ec_generate(Curve::P256).unwrap();
        let key = p.ec_signing_key(Curve::P256, &d).unwrap();
        let signer = super::super::EcSigner::new(p.as_ref(), key.as_ref(), Curve::P256).unwrap();
        let spki = spki(Curve::P256, &q).unwrap();
        // A self-signed stand-in for the TSA certificate (the profile does not matter here).
        let subject = x509::Subject::root("0011223344556677");
        let cert = x509::issue(&x509::Profile::Root, &subject, &spki, None, &signer, [7; 16], 1_800_000_000).unwrap();

        let req = Request::parse(&request(ImprintHash::Sha384, None, Some(&[0x00, 0x99]), false)).unwrap();
        let open = |der: &[u8]| {
            let ci = ::cms::content_info::ContentInfo::from_der(der).unwrap();
            assert_eq!(ci.content_type, oid::CT_SIGNED_DATA);
            ci.content.decode_as::<::cms::signed_data::SignedData>().unwrap()
        };
        let sd = open(&token(&req, 258, 1_800_000_000, &cert, &[], &signer).unwrap());
        assert_eq!(sd.encap_content_info.econtent_type, oid::CT_TST_INFO);
        let content = sd.encap_content_info.econtent.unwrap();
        let tst_der = content.decode_as::<der::asn1::OctetString>().unwrap();
        let tst = TstInfo::from_der(tst_der.as_bytes()).unwrap();
        assert_eq!(tst.version, 1);
        assert_eq!(tst.policy, oid::TSA_POLICY);
        assert_eq!(tst.message_imprint.to_der().unwrap(), req.imprint);
        assert_eq!(tst.serial_number.as_bytes(), &[0x01, 0x02]);
        assert_eq!(tst.gen_time.to_unix_duration().as_secs(), 1_800_000_000);
        assert_eq!(tst.nonce.unwrap().to_der().unwrap(), req.nonce.clone().unwrap());
        let tsa = tst.tsa.unwrap();
        assert_eq!(tsa.tag(), directory_name_tag());
        assert_eq!(tsa.value(), x509::subject_of(&cert).unwrap());
        // No certReq: no certificate set (RFC 3161 §2.4.1).
        assert!(sd.certificates.is_none());
        // The signed attributes: contentType id-ct-TSTInfo and signingCertificateV2
        // naming the certificate by its SHA-256, issuer and serial.
        let si = sd.signer_infos.0.get(0).unwrap();
        let attrs = si.signed_attrs.as_ref().unwrap();
        let ess = attrs.iter().find(|a| a.oid == oid::AA_SIGNING_CERTIFICATE_V2).expect("signingCertificateV2");
        let ess = ess.values.get(0).unwrap().decode_as::<SigningCertificateV2<'_>>();
        let ess = ess.unwrap();
        assert_eq!(ess.certs.len(), 1);
        assert_eq!(ess.certs[0].cert_hash.as_bytes(), sha2::Sha256::digest(&cert).as_slice());
        let (issuer, serial) = x509::issuer_and_serial(&cert).unwrap();
        assert_eq!(ess.certs[0].issuer_serial.issuer[0].value(), issuer);
        assert_eq!(ess.certs[0].issuer_serial.serial_number.to_der().unwrap(), serial);
        let ct = attrs.iter().find(|a| a.oid == oid::AA_CONTENT_TYPE).unwrap();
        assert_eq!(ct.values.get(0).unwrap().decode_as::<ObjectIdentifier>().unwrap(), oid::CT_TST_INFO);

        // With certReq: the certificate and the chain.
        let with = Request { cert_req: true, ..req };
        let other = x509::issue(&x509::Profile::Root, &subject, &spki, None, &signer, [8; 16], 1_800_000_000).unwrap();
        let sd = open(&token(&with, 259, 1_800_000_000, &cert, &[other], &signer).unwrap());
        assert_eq!(sd.certificates.unwrap().0.len(), 2, "the certificate and the chain");
    }
}
