//! The certificates of the chain and of attested keys (docs/attestation.md,
//! "Certificate profile"), PKCS#10 requests for the device key, and what the module
//! reads back from certificates.
//!
//! The certificate structures are mirrored here rather than taken from `x509-cert`:
//! its `TbsCertificate` can only be built through its builder (which signs with a
//! `signature::Signer`, not with our provider), and its `Extension` holds a const-oid
//! OID, which cannot be our `id-ferro-keyAttestation` ([`super::oid`]). The parts
//! that fit (names, validity, the standard extensions, PKCS#10) are `x509-cert`'s.

use cryptoki_sys::CKR_GENERAL_ERROR;
use der::asn1::{AnyRef, BitString, BitStringRef, OctetString, OctetStringRef, PrintableStringRef, SetOfVec, UintRef};
use der::oid::AssociatedOid;
use der::{Any, DateTime, Decode, Encode, Sequence, Tag};
use sha1::{Digest, Sha1};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::request::{CertReq, CertReqInfo};
use x509_cert::time::{Time, Validity};

use super::oid::{self, Oid};
use super::{Signer, encoding, parsing};
use crate::error::{Result, err};

/// The organization of every name: `O=ferrohsm`.
pub const ORGANIZATION: &str = "ferrohsm";

/// How long the certificates of the chain last: 30 years (calendar years).
pub const CHAIN_YEARS: u16 = 30;

/// The subject of a certificate: `O=ferrohsm`, then `OU` (when present), `CN` and
/// `serialNumber`, one attribute per RDN in that order; `serialNumber` is a
/// PrintableString (X.520), the others UTF8String.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// `CN`.
    pub common_name: String,
    /// `OU`: the partition's serial, for partition keys and attested keys.
    pub organizational_unit: Option<String>,
    /// `serialNumber`: the device serial.
    pub serial_number: String,
}

impl Subject {
    /// `CN=ferrohsm root <device serial>`.
    pub fn root(device_serial: &str) -> Self {
        Self::device_wide(format!("ferrohsm root {device_serial}"), device_serial)
    }

    /// `CN=ferrohsm device <device serial>`.
    pub fn device(device_serial: &str) -> Self {
        Self::device_wide(format!("ferrohsm device {device_serial}"), device_serial)
    }

    /// `CN=ferrohsm audit <device serial>`.
    pub fn audit(device_serial: &str) -> Self {
        Self::device_wide(format!("ferrohsm audit {device_serial}"), device_serial)
    }

    /// `CN=ferrohsm partition <id> attestation`, `OU=<partition serial>`.
    pub fn partition_attestation(slot_id: u64, partition_serial: &str, device_serial: &str) -> Self {
        Self::in_partition(format!("ferrohsm partition {slot_id} attestation"), partition_serial, device_serial)
    }

    /// `CN=ferrohsm partition <id> timestamp`, `OU=<partition serial>`.
    pub fn timestamp(slot_id: u64, partition_serial: &str, device_serial: &str) -> Self {
        Self::in_partition(format!("ferrohsm partition {slot_id} timestamp"), partition_serial, device_serial)
    }

    /// `CN=ferrohsm attested key <unique id>`, `OU=<partition serial>`.
    pub fn attested_key(unique_id: &str, partition_serial: &str, device_serial: &str) -> Self {
        Self::in_partition(format!("ferrohsm attested key {unique_id}"), partition_serial, device_serial)
    }

    fn device_wide(common_name: String, device_serial: &str) -> Self {
        Self { common_name, organizational_unit: None, serial_number: device_serial.into() }
    }

    fn in_partition(common_name: String, partition_serial: &str, device_serial: &str) -> Self {
        Self { common_name, organizational_unit: Some(partition_serial.into()), serial_number: device_serial.into() }
    }

    /// The name as `x509-cert` models it.
    fn to_rdn_sequence(&self) -> Result<RdnSequence> {
        let utf8 = |s: &str| Any::new(Tag::Utf8String, s.as_bytes());
        let printable = PrintableStringRef::new(&self.serial_number)
            .map_err(|_| err(CKR_GENERAL_ERROR, "the device serial is not a PrintableString"))?;
        let mut atvs = vec![(oid::AT_ORGANIZATION, utf8(ORGANIZATION))];
        if let Some(ou) = &self.organizational_unit {
            atvs.push((oid::AT_ORGANIZATIONAL_UNIT, utf8(ou)));
        }
        atvs.push((oid::AT_COMMON_NAME, utf8(&self.common_name)));
        atvs.push((oid::AT_SERIAL_NUMBER, Any::encode_from(&printable)));
        let mut name = RdnSequence::default();
        for (oid, value) in atvs {
            let mut rdn = RelativeDistinguishedName::default();
            rdn.insert(AttributeTypeAndValue { oid, value: value.map_err(encoding)? }).map_err(encoding)?;
            name.push(rdn);
        }
        Ok(name)
    }

    /// The DER `Name`.
    pub fn to_der(&self) -> Result<Vec<u8>> {
        self.to_rdn_sequence()?.to_der().map_err(encoding)
    }
}

/// The certificate profiles of docs/attestation.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Profile {
    /// The device root: self-signed, CA, path length 2.
    Root,
    /// The device key: CA, path length 1.
    Device,
    /// A partition attestation key: CA, path length 0 (it issues attested keys).
    PartitionAttestation,
    /// The audit key: signs evidence of the device and its log.
    Audit,
    /// A partition's timestamp key (RFC 3161).
    Timestamp,
    /// An attested key: the claims (DER [`super::claims::KeyAttestation`]) in the
    /// `id-ferro-keyAttestation` extension.
    AttestedKey {
        /// The extension's value.
        claims_der: Vec<u8>,
    },
}

/// What a certificate needs of its issuer: its name and key identifier. Parse it
/// once ([`Issuer::from_cert`]) and keep it to issue many certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issuer {
    name: Vec<u8>,
    key_id: Vec<u8>,
}

impl Issuer {
    /// The issuer whose certificate is `cert` (DER): its subject, and its subject key
    /// identifier (or, when it has none, the SHA-1 of its public key, RFC 5280
    /// §4.2.1.2 method 1, as ours are made).
    pub fn from_cert(cert: &[u8]) -> Result<Self> {
        let tbs = CertificateView::parse(cert)?.tbs_certificate;
        let key_id = match tbs.extension(&Oid::from(&SubjectKeyIdentifier::OID)) {
            Some((_, value)) => {
                <&OctetStringRef>::from_der(value).map_err(parsing("the issuer's key identifier"))?.as_bytes().to_vec()
            }
            None => key_identifier(&tbs.subject_public_key_info).to_vec(),
        };
        Ok(Self { name: tbs.subject.to_der().map_err(encoding)?, key_id })
    }

    /// The issuer's name (DER).
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The issuer's key identifier.
    pub fn key_id(&self) -> &[u8] {
        &self.key_id
    }
}

/// Issues a certificate by the profile table: for `subject_spki` (DER
/// SubjectPublicKeyInfo), issued by `issuer` (its certificate; `None` for the
/// self-signed root, which `signer` must then be the key of), signed by `signer`, with
/// serial `serial` (16 random bytes, read as a positive integer), valid from `now`
/// (Unix seconds) for 30 years, or until 99991231235959Z for an attested key.
pub fn issue(
    profile: &Profile,
    subject: &Subject,
    subject_spki: &[u8],
    issuer: Option<&[u8]>,
    signer: &dyn Signer,
    serial: [u8; 16],
    now: u64,
) -> Result<Vec<u8>> {
    let issuer = issuer.map(Issuer::from_cert).transpose()?;
    issue_with(profile, subject, subject_spki, issuer.as_ref(), signer, serial, now)
}

/// [`issue`] with the issuer already parsed: what the module does for every attested
/// key, so that the partition attestation certificate is parsed once.
pub fn issue_with(
    profile: &Profile,
    subject: &Subject,
    subject_spki: &[u8],
    issuer: Option<&Issuer>,
    signer: &dyn Signer,
    serial: [u8; 16],
    now: u64,
) -> Result<Vec<u8>> {
    let spki = SubjectPublicKeyInfoRef::from_der(subject_spki).map_err(parsing("the subject's public key"))?;
    let subject_name = subject.to_der()?;
    let key_id = key_identifier(&spki);
    let (issuer_name, authority_key_id) = match (profile, issuer) {
        (Profile::Root, None) => (subject_name.as_slice(), None),
        (Profile::Root, Some(_)) => return Err(err(CKR_GENERAL_ERROR, "the root certificate is self-signed")),
        (_, Some(i)) => (i.name.as_slice(), Some(i.key_id.as_slice())),
        (_, None) => return Err(err(CKR_GENERAL_ERROR, "only the root certificate is self-signed")),
    };

    let extensions = extensions(profile, &key_id, authority_key_id)?;
    let not_before = DateTime::from_unix_duration(std::time::Duration::from_secs(now)).map_err(encoding)?;
    let not_after = match profile {
        Profile::AttestedKey { .. } => Time::INFINITY,
        _ => Time::from(plus_years(not_before, CHAIN_YEARS)?),
    };
    let algorithm = signer.algorithm();
    let tbs = TbsCertificate {
        version: 2, // v3
        serial_number: UintRef::new(&serial).map_err(encoding)?,
        signature: algorithm.clone(),
        issuer: AnyRef::from_der(issuer_name).map_err(encoding)?,
        validity: Validity::new(Time::from(not_before), not_after),
        subject: AnyRef::from_der(&subject_name).map_err(encoding)?,
        subject_public_key_info: spki,
        extensions,
    }
    .to_der()
    .map_err(encoding)?;
    let signature = signer.sign(&tbs)?;
    Certificate {
        tbs_certificate: AnyRef::from_der(&tbs).map_err(encoding)?,
        signature_algorithm: algorithm,
        signature: BitStringRef::from_bytes(&signature).map_err(encoding)?,
    }
    .to_der()
    .map_err(encoding)
}

/// The extensions of a profile, in the order of the table.
fn extensions(
    profile: &Profile,
    key_id: &[u8; 20],
    authority_key_id: Option<&[u8]>,
) -> Result<Vec<Extension<'static>>> {
    use KeyUsages::*;
    let ca = |path_len| BasicConstraints { ca: true, path_len_constraint: Some(path_len) };
    let end_entity = BasicConstraints { ca: false, path_len_constraint: None };
    let attestation_purposes = [oid::KP_ATTESTATION, Oid::from(&oid::KP_EMAIL_PROTECTION)];
    let time_stamping = [Oid::from(&oid::KP_TIME_STAMPING)];

    let mut exts = Vec::with_capacity(5);
    let (basic, usage, purposes): (_, _, Option<(&[Oid<'static>], bool)>) = match profile {
        Profile::Root => (Some(ca(2)), Some(KeyCertSign | CRLSign), None),
        Profile::Device => {
            (Some(ca(1)), Some(KeyCertSign | CRLSign | DigitalSignature), Some((&attestation_purposes, false)))
        }
        Profile::PartitionAttestation => {
            (Some(ca(0)), Some(KeyCertSign | DigitalSignature), Some((&attestation_purposes, false)))
        }
        Profile::Audit => (Some(end_entity), Some(DigitalSignature.into()), Some((&attestation_purposes, false))),
        // RFC 3161 §2.3: the only purpose, critical.
        Profile::Timestamp => (Some(end_entity), Some(DigitalSignature.into()), Some((&time_stamping, true))),
        Profile::AttestedKey { .. } => (None, None, None),
    };
    if let Some(b) = basic {
        exts.push(Extension::new(Oid::from(&BasicConstraints::OID), true, b.to_der())?);
    }
    if let Some(u) = usage {
        exts.push(Extension::new(Oid::from(&KeyUsage::OID), true, KeyUsage(u).to_der())?);
    }
    if let Some((purposes, critical)) = purposes {
        exts.push(Extension::new(Oid::from(&ExtendedKeyUsage::OID), critical, purposes.to_vec().to_der())?);
    }
    if !matches!(profile, Profile::AttestedKey { .. }) {
        let ski = SubjectKeyIdentifier(OctetString::new(key_id.as_slice()).map_err(encoding)?);
        exts.push(Extension::new(Oid::from(&SubjectKeyIdentifier::OID), false, ski.to_der())?);
    }
    if let Some(aki) = authority_key_id {
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(aki).map_err(encoding)?),
            ..Default::default()
        };
        exts.push(Extension::new(Oid::from(&AuthorityKeyIdentifier::OID), false, aki.to_der())?);
    }
    if let Profile::AttestedKey { claims_der } = profile {
        exts.push(Extension::new(oid::KEY_ATTESTATION, false, Ok(claims_der.clone()))?);
    }
    Ok(exts)
}

/// RFC 5280 §4.2.1.2 method 1: the SHA-1 of the subjectPublicKey BIT STRING's bits.
fn key_identifier(spki: &SubjectPublicKeyInfoRef<'_>) -> [u8; 20] {
    Sha1::digest(spki.subject_public_key.raw_bytes()).into()
}

/// The same time `years` calendar years later (29 February becomes 28 February).
fn plus_years(t: DateTime, years: u16) -> Result<DateTime> {
    let year = t.year() + years;
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let day = if t.month() == 2 && t.day() == 29 && !leap { 28 } else { t.day() };
    DateTime::new(year, t.month(), day, t.hour(), t.minutes(), t.seconds()).map_err(encoding)
}

/// A PKCS#10 request (RFC 2986) for `spki` (DER SubjectPublicKeyInfo), with no
/// attributes, signed by `signer` (the key of `spki`): what `ferrohsm device csr`
/// writes for an outside CA.
pub fn csr(subject: &Subject, spki: &[u8], signer: &dyn Signer) -> Result<Vec<u8>> {
    let info = CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: Name::from_der(&subject.to_der()?).map_err(encoding)?,
        public_key: SubjectPublicKeyInfoOwned::from_der(spki).map_err(parsing("the public key"))?,
        attributes: SetOfVec::new(),
    };
    let signature = signer.sign(&info.to_der().map_err(encoding)?)?;
    CertReq { info, algorithm: signer.algorithm(), signature: BitString::from_bytes(&signature).map_err(encoding)? }
        .to_der()
        .map_err(encoding)
}

/// The SubjectPublicKeyInfo (DER) of a certificate.
pub fn spki_of(cert: &[u8]) -> Result<Vec<u8>> {
    CertificateView::parse(cert)?.tbs_certificate.subject_public_key_info.to_der().map_err(encoding)
}

/// The subject (DER Name) of a certificate.
pub fn subject_of(cert: &[u8]) -> Result<Vec<u8>> {
    CertificateView::parse(cert)?.tbs_certificate.subject.to_der().map_err(encoding)
}

/// Whether the certificate `cert` is for the public key `spki` (both DER): what
/// `ferrohsm device import-cert` checks. Compares the encodings, which DER makes
/// unique.
pub fn spki_matches(cert: &[u8], spki: &[u8]) -> Result<bool> {
    let ours = CertificateView::parse(cert)?.tbs_certificate.subject_public_key_info;
    Ok(ours.to_der().map_err(encoding)? == spki)
}

/// The extension `id` of a certificate, if it has it: (critical, value).
pub fn extension(cert: &[u8], id: &Oid<'_>) -> Result<Option<(bool, Vec<u8>)>> {
    Ok(CertificateView::parse(cert)?.tbs_certificate.extension(id).map(|(c, v)| (c, v.to_vec())))
}

// The ASN.1 of RFC 5280 §4.1, for writing.

/// ```asn1
/// Certificate ::= SEQUENCE {
///     tbsCertificate       TBSCertificate,
///     signatureAlgorithm   AlgorithmIdentifier,
///     signatureValue       BIT STRING }
/// ```
/// `tbsCertificate` is the DER that was signed, kept as it is.
#[derive(Sequence)]
struct Certificate<'a> {
    tbs_certificate: AnyRef<'a>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitStringRef<'a>,
}

/// ```asn1
/// TBSCertificate ::= SEQUENCE {
///     version         [0]  EXPLICIT Version DEFAULT v1,
///     serialNumber         CertificateSerialNumber,
///     signature            AlgorithmIdentifier,
///     issuer               Name,
///     validity             Validity,
///     subject              Name,
///     subjectPublicKeyInfo SubjectPublicKeyInfo,
///     issuerUniqueID  [1]  IMPLICIT UniqueIdentifier OPTIONAL,
///     subjectUniqueID [2]  IMPLICIT UniqueIdentifier OPTIONAL,
///     extensions      [3]  EXPLICIT Extensions OPTIONAL }
/// ```
/// We write v3 (2) always, no unique identifiers, and always extensions; the names
/// are DER already.
#[derive(Sequence)]
struct TbsCertificate<'a> {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: u8,
    serial_number: UintRef<'a>,
    signature: AlgorithmIdentifierOwned,
    issuer: AnyRef<'a>,
    validity: Validity,
    subject: AnyRef<'a>,
    subject_public_key_info: SubjectPublicKeyInfoRef<'a>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT")]
    extensions: Vec<Extension<'a>>,
}

/// ```asn1
/// Extension ::= SEQUENCE {
///     extnID      OBJECT IDENTIFIER,
///     critical    BOOLEAN DEFAULT FALSE,
///     extnValue   OCTET STRING }
/// ```
#[derive(Sequence)]
struct Extension<'a> {
    extn_id: Oid<'a>,
    #[asn1(default = "Default::default")]
    critical: bool,
    extn_value: OctetString,
}

impl<'a> Extension<'a> {
    fn new(extn_id: Oid<'a>, critical: bool, value: der::Result<Vec<u8>>) -> Result<Self> {
        Ok(Self { extn_id, critical, extn_value: OctetString::new(value.map_err(encoding)?).map_err(encoding)? })
    }
}

// The same, for reading: any certificate, whatever its OIDs (const-oid would refuse
// ours), parts kept as their encodings.

/// A certificate as [`Certificate`], read.
#[derive(Sequence)]
struct CertificateView<'a> {
    tbs_certificate: TbsCertificateView<'a>,
    signature_algorithm: AnyRef<'a>,
    signature: AnyRef<'a>,
}

impl<'a> CertificateView<'a> {
    fn parse(cert: &'a [u8]) -> Result<Self> {
        Self::from_der(cert).map_err(parsing("the certificate"))
    }
}

/// A TBSCertificate as [`TbsCertificate`], read.
#[derive(Sequence)]
struct TbsCertificateView<'a> {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    serial_number: AnyRef<'a>,
    signature: AnyRef<'a>,
    issuer: AnyRef<'a>,
    validity: AnyRef<'a>,
    subject: AnyRef<'a>,
    subject_public_key_info: SubjectPublicKeyInfoRef<'a>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    issuer_unique_id: Option<BitStringRef<'a>>,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    subject_unique_id: Option<BitStringRef<'a>>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<ExtensionView<'a>>>,
}

impl<'a> TbsCertificateView<'a> {
    fn extension(&self, id: &Oid<'_>) -> Option<(bool, &'a [u8])> {
        let e = self.extensions.as_ref()?.iter().find(|e| e.extn_id == *id)?;
        Some((e.critical, e.extn_value.as_bytes()))
    }
}

/// An Extension as [`Extension`], read.
#[derive(Sequence)]
struct ExtensionView<'a> {
    extn_id: Oid<'a>,
    #[asn1(default = "Default::default")]
    critical: bool,
    extn_value: &'a OctetStringRef,
}

/// The issuer and serial number of a certificate (DER Name, DER INTEGER), for CMS.
pub(super) fn issuer_and_serial(cert: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let tbs = CertificateView::parse(cert)?.tbs_certificate;
    Ok((tbs.issuer.to_der().map_err(encoding)?, tbs.serial_number.to_der().map_err(encoding)?))
}
