//! Signed evidence: CMS `SignedData` (RFC 5652) over JSON claims.
//!
//! Checked here: the content is `SignedData` with one signer; the encapsulated content
//! type is `id-ferro-evidence` and the content present; the signed attributes hold
//! exactly one contentType equal to it and one messageDigest equal to the digest of
//! the content; the signature over the DER of the signed attributes verifies with the
//! signer's certificate. The chain above the signer is [`super::chain`]'s.
//!
//! The `cms` crate cannot decode our `eContentType` (its arc exceeds 32 bits, see
//! [`super::oids`]), so the structure is read here, element by element.

use der::asn1::{Any, Int, ObjectIdentifier as Oid, OctetString};
use der::{Decode, Reader, Sequence, Tag, Tagged};
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use x509_cert::name::Name;

use super::input::Cert;
use super::oids::RawOid;
use super::{Check, Failure, oids, sig};

fn fail(detail: impl Into<String>) -> Failure {
    Failure::new(Check::Evidence, detail)
}

/// One TLV: its tag, the whole encoding, and the value octets.
struct Tlv {
    tag: Tag,
    whole: Vec<u8>,
    value: Vec<u8>,
}

/// The TLVs laid end to end in `bytes`.
fn tlvs(bytes: &[u8]) -> Result<Vec<Tlv>, Failure> {
    let mut out = Vec::new();
    let mut reader = der::SliceReader::new(bytes).map_err(|e| fail(e.to_string()))?;
    while !reader.is_finished() {
        let start = u32::from(reader.position()) as usize;
        let header = der::Header::decode(&mut reader).map_err(|e| fail(format!("not DER: {e}")))?;
        let value = reader.read_vec(header.length()).map_err(|e| fail(format!("not DER: {e}")))?;
        let end = u32::from(reader.position()) as usize;
        out.push(Tlv { tag: header.tag(), whole: bytes[start..end].to_vec(), value });
    }
    Ok(out)
}

fn ctx(number: u32, constructed: bool) -> Tag {
    Tag::ContextSpecific { constructed, number: der::TagNumber(number) }
}

/// `ContentInfo ::= SEQUENCE { contentType, content [0] EXPLICIT ANY }`.
#[derive(Sequence)]
struct ContentInfoDer {
    content_type: Oid,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: Any,
}

/// `EncapsulatedContentInfo ::= SEQUENCE { eContentType, eContent [0] EXPLICIT OCTET STRING OPTIONAL }`.
#[derive(Sequence)]
struct EncapDer {
    e_content_type: RawOid,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    e_content: Option<OctetString>,
}

/// `IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER }`.
#[derive(Sequence)]
struct IssuerSerialDer {
    issuer: Name,
    serial: Int,
}

/// `Attribute ::= SEQUENCE { attrType, attrValues SET OF ANY }` (values as raw TLVs).
#[derive(Sequence)]
struct AttributeDer {
    oid: RawOid,
    values: Any,
}

/// How the signer names its certificate.
enum SignerId {
    IssuerSerial { issuer: Name, serial: Vec<u8> },
    KeyId(Vec<u8>),
}

/// Evidence taken apart.
pub struct Evidence {
    /// The certificates the CMS carries.
    pub certs: Vec<Cert>,
    /// The signed content: the JSON claims.
    pub content: Vec<u8>,
    signer: SignerId,
    digest_alg: Oid,
    signed_attrs_der: Vec<u8>,
    signature_alg: AlgorithmIdentifierOwned,
    signature: Vec<u8>,
}

/// Decodes CMS evidence and checks its structure, content type and digest; the
/// signature needs the signer's certificate ([`Evidence::signer`], then
/// [`Evidence::verify_signature`]).
pub fn parse(der: &[u8]) -> Result<Evidence, Failure> {
    let ci = ContentInfoDer::from_der(der).map_err(|e| Failure::new(Check::Input, format!("not DER CMS: {e}")))?;
    if ci.content_type != oids::SIGNED_DATA {
        return Err(fail(format!("the CMS content type is {}, not signedData", ci.content_type)));
    }
    if ci.content.tag() != Tag::Sequence {
        return Err(fail("the SignedData is not a SEQUENCE"));
    }
    let items = tlvs(ci.content.value())?;
    let mut it = items.iter().peekable();
    let mut next = |what: &str| it.next().ok_or_else(|| fail(format!("the SignedData ends before its {what}")));
    let _version = next("version")?;
    let _digests = next("digestAlgorithms")?;
    let encap = EncapDer::from_der(&next("encapContentInfo")?.whole)
        .map_err(|e| fail(format!("the encapContentInfo does not decode: {e}")))?;
    if encap.e_content_type != *oids::EVIDENCE {
        return Err(fail(format!(
            "the signed content type is {}, not id-ferro-evidence ({})",
            encap.e_content_type,
            *oids::EVIDENCE
        )));
    }
    let content = encap.e_content.ok_or_else(|| fail("the evidence is detached: the CMS holds no content"))?;
    let content = content.as_bytes().to_vec();

    let mut certs = Vec::new();
    let mut rest: Vec<&Tlv> = Vec::new();
    let mut it = items.iter().skip(3);
    for t in it.by_ref() {
        if t.tag == ctx(0, true) {
            for c in tlvs(&t.value)? {
                // CertificateChoices: only `certificate` (a SEQUENCE) is of use here.
                if c.tag == Tag::Sequence {
                    certs.push(Cert::from_der(&c.whole).map_err(|e| fail(format!("a certificate in the CMS: {e}")))?);
                }
            }
        } else if t.tag == ctx(1, true) {
            // crls: not used.
        } else {
            rest.push(t);
        }
    }
    let [signer_infos] = rest[..] else {
        return Err(fail("the SignedData does not end with its signerInfos"));
    };
    if signer_infos.tag != Tag::Set {
        return Err(fail("the signerInfos are not a SET"));
    }
    let signers = tlvs(&signer_infos.value)?;
    let [si] = &signers[..] else {
        return Err(fail(format!("the evidence has {} signers; it should have one", signers.len())));
    };

    // SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0] IMPLICIT
    //   OPTIONAL, signatureAlgorithm, signature OCTET STRING, unsignedAttrs [1] OPTIONAL }
    let parts = tlvs(&si.value)?;
    let mut p = parts.iter();
    let mut next = |what: &str| p.next().ok_or_else(|| fail(format!("the SignerInfo ends before its {what}")));
    let _version = next("version")?;
    let sid = next("sid")?;
    let signer = if sid.tag == Tag::Sequence {
        let ias = IssuerSerialDer::from_der(&sid.whole).map_err(|e| fail(format!("the signer id: {e}")))?;
        SignerId::IssuerSerial { issuer: ias.issuer, serial: ias.serial.as_bytes().to_vec() }
    } else if sid.tag == ctx(0, false) {
        SignerId::KeyId(sid.value.clone())
    } else {
        return Err(fail("the signer id is neither issuerAndSerialNumber nor subjectKeyIdentifier"));
    };
    let digest_alg = AlgorithmIdentifierOwned::from_der(&next("digestAlgorithm")?.whole)
        .map_err(|e| fail(format!("the digest algorithm: {e}")))?
        .oid;
    let attrs = next("signedAttrs")?;
    if attrs.tag != ctx(0, true) {
        return Err(fail("the signer has no signed attributes"));
    }
    let signature_alg = AlgorithmIdentifierOwned::from_der(&next("signatureAlgorithm")?.whole)
        .map_err(|e| fail(format!("the signature algorithm: {e}")))?;
    let signature = OctetString::from_der(&next("signature")?.whole)
        .map_err(|e| fail(format!("the signature: {e}")))?
        .as_bytes()
        .to_vec();

    // RFC 5652 5.4: the signature covers the signed attributes with the SET OF tag,
    // not the [0] IMPLICIT tag they carry in SignerInfo: the same octets, retagged.
    let mut signed_attrs_der = attrs.whole.clone();
    signed_attrs_der[0] = 0x31;

    let mut content_type = Vec::new();
    let mut message_digest = Vec::new();
    for a in tlvs(&attrs.value)? {
        let a = AttributeDer::from_der(&a.whole).map_err(|e| fail(format!("a signed attribute: {e}")))?;
        if a.values.tag() != Tag::Set {
            return Err(fail(format!("the values of signed attribute {} are not a SET", a.oid)));
        }
        let values = tlvs(a.values.value())?;
        if a.oid.is(&oids::CONTENT_TYPE) {
            content_type.push(values);
        } else if a.oid.is(&oids::MESSAGE_DIGEST) {
            message_digest.push(values);
        }
    }
    let single = |found: Vec<Vec<Tlv>>, name: &str| -> Result<Vec<u8>, Failure> {
        match &found[..] {
            [values] => match &values[..] {
                [v] => Ok(v.whole.clone()),
                _ => Err(fail(format!("the {name} attribute must hold one value"))),
            },
            [] => Err(fail(format!("the signed attributes lack {name}"))),
            _ => Err(fail(format!("the signed attributes hold {name} more than once"))),
        }
    };
    let ct = RawOid::from_der(&single(content_type, "contentType")?)
        .map_err(|e| fail(format!("the contentType attribute does not decode: {e}")))?;
    if ct != encap.e_content_type {
        return Err(fail(format!("the contentType attribute ({ct}) differs from the signed content's type")));
    }
    let md = OctetString::from_der(&single(message_digest, "messageDigest")?)
        .map_err(|e| fail(format!("the messageDigest attribute does not decode: {e}")))?;
    let digest = match digest_alg {
        oids::SHA256 => Sha256::digest(&content).to_vec(),
        oids::SHA384 => Sha384::digest(&content).to_vec(),
        oids::SHA512 => Sha512::digest(&content).to_vec(),
        other => return Err(fail(format!("unsupported digest algorithm {other}"))),
    };
    if md.as_bytes() != digest.as_slice() {
        return Err(Failure::new(
            Check::Signature,
            "the messageDigest attribute does not match the content: the claims were changed after signing",
        ));
    }
    Ok(Evidence { certs, content, signer, digest_alg, signed_attrs_der, signature_alg, signature })
}

impl Evidence {
    /// The signer's certificate, from the CMS set or `extra`.
    pub fn signer<'a>(&'a self, extra: &'a [Cert]) -> Result<&'a Cert, Failure> {
        let mut all = self.certs.iter().chain(extra);
        let found = match &self.signer {
            SignerId::IssuerSerial { issuer, serial } => all.find(|c| c.issuer == *issuer && c.serial == *serial),
            SignerId::KeyId(id) => all.find(|c| super::chain::subject_key_id(c).as_ref() == Some(id)),
        };
        found.ok_or_else(|| {
            Failure::new(Check::Chain, "the signer's certificate is neither in the CMS nor in the chain given")
        })
    }

    /// Verifies the signer's signature over the signed attributes.
    pub fn verify_signature(&self, signer: &Cert) -> Result<(), Failure> {
        // Some encoders name the key algorithm rather than ecdsa-with-SHAxxx; the
        // digest algorithm then says which hash. Ours names ecdsa-with-SHA256.
        let alg = if self.signature_alg.oid == oids::EC_PUBLIC_KEY {
            let oid = match self.digest_alg {
                oids::SHA256 => oids::ECDSA_SHA256,
                oids::SHA384 => oids::ECDSA_SHA384,
                _ => oids::ECDSA_SHA512,
            };
            AlgorithmIdentifierOwned { oid, parameters: None }
        } else {
            self.signature_alg.clone()
        };
        sig::verify(&signer.spki, &alg, &self.signed_attrs_der, &self.signature).map_err(|e| {
            Failure::new(
                Check::Signature,
                format!("the evidence signature by {} does not verify: {e}", signer.subject()),
            )
        })
    }
}
