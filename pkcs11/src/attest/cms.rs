//! Signed evidence: CMS SignedData (RFC 5652) over a document, as
//! docs/attestation.md's CMS profile says.
//!
//! `ContentInfo`, `SignedData` and `EncapsulatedContentInfo` are mirrored here: the
//! `cms` crate's `eContentType` is a const-oid OID, which cannot be our
//! `id-ferro-evidence` ([`super::oid`]). The SignerInfo and its parts are the `cms`
//! crate's.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::signed_data::{SignerIdentifier, SignerInfo};
use cryptoki_sys::CKR_GENERAL_ERROR;
use der::asn1::{AnyRef, ObjectIdentifier, OctetString, OctetStringRef, SetOfVec};
use der::{Any, DateTime, Decode, Encode, Sequence, Tag};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use super::oid::{self, Oid};
use super::{Signer, encoding, parsing, x509};
use crate::error::{Result, err};

/// SignedData in a ContentInfo (DER), with:
///
/// - `encapContentInfo`: `content_type` and `content`;
/// - one SignerInfo: `sid` the issuerAndSerialNumber of `signer_cert`, the digest of
///   the signer's algorithm (SHA-256 for `ecdsa-with-SHA256`), signed attributes
///   contentType, signingTime (`now`, Unix seconds) and messageDigest, the signature
///   by `signer` (the key of `signer_cert`);
/// - `certificates`: `certs` (DER; the signer's certificate and its chain), in the
///   order DER gives a SET OF.
pub fn signed_data(
    content_type: &Oid<'_>,
    content: &[u8],
    signer_cert: &[u8],
    certs: &[Vec<u8>],
    signer: &dyn Signer,
    now: u64,
) -> Result<Vec<u8>> {
    signed_data_with(content_type, content, signer_cert, Some(certs), Vec::new(), signer, now)
}

/// [`signed_data`] with `extra` signed attributes beside the three it always writes
/// (a timestamp token's signingCertificateV2), and with the certificate set optional:
/// `None` leaves the `certificates` field out (RFC 3161 §2.4.1, a request without
/// certReq).
pub fn signed_data_with(
    content_type: &Oid<'_>,
    content: &[u8],
    signer_cert: &[u8],
    certs: Option<&[Vec<u8>]>,
    extra: Vec<Attribute>,
    signer: &dyn Signer,
    now: u64,
) -> Result<Vec<u8>> {
    let signature_algorithm = signer.algorithm();
    let (digest_oid, digest) = digest(&signature_algorithm.oid, content)?;
    let digest_alg = AlgorithmIdentifierOwned { oid: digest_oid, parameters: None };

    let time = Time::from(DateTime::from_unix_duration(std::time::Duration::from_secs(now)).map_err(encoding)?);
    let mut signed_attrs = SetOfVec::new();
    for (oid, value) in [
        (oid::AA_CONTENT_TYPE, Any::new(Tag::ObjectIdentifier, content_type.as_bytes())),
        (oid::AA_SIGNING_TIME, Any::encode_from(&time)),
        (oid::AA_MESSAGE_DIGEST, Any::new(Tag::OctetString, digest)),
    ] {
        let values = SetOfVec::try_from(vec![value.map_err(encoding)?]).map_err(encoding)?;
        signed_attrs.insert(Attribute { oid, values }).map_err(encoding)?;
    }
    for a in extra {
        signed_attrs.insert(a).map_err(encoding)?;
    }
    // RFC 5652 §5.4: the signature covers the DER of the attributes as a SET OF (tag
    // 0x31), not as the [0] IMPLICIT they are written with.
    let signature = signer.sign(&signed_attrs.to_der().map_err(encoding)?)?;

    let (issuer, serial) = x509::issuer_and_serial(signer_cert)?;
    let signer_info = SignerInfo {
        version: CmsVersion::V1, // sid is issuerAndSerialNumber
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: Name::from_der(&issuer).map_err(parsing("the signer certificate's issuer"))?,
            serial_number: SerialNumber::from_der(&serial).map_err(parsing("the signer certificate's serial"))?,
        }),
        digest_alg: digest_alg.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm,
        signature: OctetString::new(signature).map_err(encoding)?,
        unsigned_attrs: None,
    };

    let certificates = match certs {
        Some(certs) => {
            let mut set = SetOfVec::new();
            for c in certs {
                set.insert(AnyRef::from_der(c).map_err(parsing("a certificate of the chain"))?).map_err(encoding)?;
            }
            Some(set)
        }
        None => None,
    };
    ContentInfo {
        content_type: oid::CT_SIGNED_DATA,
        content: SignedData {
            // RFC 5652 §5.1: 3 when eContentType is not id-data.
            version: if content_type.is(&oid::CT_DATA) { CmsVersion::V1 } else { CmsVersion::V3 },
            digest_algorithms: SetOfVec::try_from(vec![digest_alg]).map_err(encoding)?,
            encap_content_info: EncapsulatedContentInfo {
                e_content_type: *content_type,
                e_content: Some(OctetStringRef::new(content).map_err(encoding)?),
            },
            certificates,
            signer_infos: SetOfVec::try_from(vec![signer_info]).map_err(encoding)?,
        },
    }
    .to_der()
    .map_err(encoding)
}

/// The digest that goes with an ECDSA signature algorithm, and `content`'s digest.
fn digest(signature_algorithm: &ObjectIdentifier, content: &[u8]) -> Result<(ObjectIdentifier, Vec<u8>)> {
    Ok(match *signature_algorithm {
        oid::ECDSA_WITH_SHA256 => (oid::SHA256, sha2::Sha256::digest(content).to_vec()),
        oid::ECDSA_WITH_SHA384 => (oid::SHA384, sha2::Sha384::digest(content).to_vec()),
        oid::ECDSA_WITH_SHA512 => (oid::SHA512, sha2::Sha512::digest(content).to_vec()),
        other => return Err(err(CKR_GENERAL_ERROR, format!("CMS: no digest for signature algorithm {other}"))),
    })
}

/// ```asn1
/// ContentInfo ::= SEQUENCE {
///     contentType ContentType,
///     content [0] EXPLICIT ANY DEFINED BY contentType }
/// ```
/// Here always `id-signedData`.
#[derive(Sequence)]
struct ContentInfo<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: SignedData<'a>,
}

/// ```asn1
/// SignedData ::= SEQUENCE {
///     version CMSVersion,
///     digestAlgorithms DigestAlgorithmIdentifiers,
///     encapContentInfo EncapsulatedContentInfo,
///     certificates [0] IMPLICIT CertificateSet OPTIONAL,
///     crls [1] IMPLICIT RevocationInfoChoices OPTIONAL,
///     signerInfos SignerInfos }
/// ```
/// We write no CRLs; the certificates are DER already.
#[derive(Sequence)]
struct SignedData<'a> {
    version: CmsVersion,
    digest_algorithms: SetOfVec<AlgorithmIdentifierOwned>,
    encap_content_info: EncapsulatedContentInfo<'a>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true", optional = "true")]
    certificates: Option<SetOfVec<AnyRef<'a>>>,
    signer_infos: SetOfVec<SignerInfo>,
}

/// ```asn1
/// EncapsulatedContentInfo ::= SEQUENCE {
///     eContentType ContentType,
///     eContent [0] EXPLICIT OCTET STRING OPTIONAL }
/// ```
#[derive(Sequence)]
struct EncapsulatedContentInfo<'a> {
    e_content_type: Oid<'a>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    e_content: Option<&'a OctetStringRef>,
}
