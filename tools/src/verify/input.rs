//! Reading the verifier's inputs: certificates, bundles, CMS and requests, as DER or PEM.

use der::asn1::{Any, BitString, Int, OctetString};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::name::Name;
use x509_cert::request::CertReq;
use x509_cert::time::Validity;

use super::oids::RawOid;

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }`,
/// with the TBS kept as it was read.
#[derive(Sequence)]
struct CertDer {
    tbs: Any,
    alg: AlgorithmIdentifierOwned,
    sig: BitString,
}

/// `TBSCertificate` (RFC 5280 4.1), with extension ids as [`RawOid`]s (see
/// [`super::oids`] for why).
#[derive(Sequence)]
struct TbsDer {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    serial: Int,
    alg: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    spki: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    issuer_uid: Option<BitString>,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    subject_uid: Option<BitString>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<ExtDer>>,
}

/// `Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }`.
#[derive(Sequence)]
struct ExtDer {
    id: RawOid,
    #[asn1(default = "Default::default")]
    critical: bool,
    value: OctetString,
}

/// A certificate extension.
#[derive(Clone, Debug)]
pub struct Extension {
    /// `extnID`.
    pub id: RawOid,
    /// `critical`.
    pub critical: bool,
    /// The DER inside `extnValue`.
    pub value: Vec<u8>,
}

/// A certificate with the bytes it was read from.
#[derive(Clone, Debug)]
pub struct Cert {
    /// The DER as read.
    pub der: Vec<u8>,
    /// The DER of `tbsCertificate`, what the signature covers.
    pub tbs_der: Vec<u8>,
    /// `signatureAlgorithm`.
    pub sig_alg: AlgorithmIdentifierOwned,
    /// The signature value.
    pub signature: Vec<u8>,
    /// `tbsCertificate.signature`: must equal `sig_alg`.
    pub tbs_sig_alg: AlgorithmIdentifierOwned,
    /// The serial number's INTEGER content octets.
    pub serial: Vec<u8>,
    /// Issuer name.
    pub issuer: Name,
    /// Subject name.
    pub subject: Name,
    /// Validity.
    pub validity: Validity,
    /// The certified key.
    pub spki: SubjectPublicKeyInfoOwned,
    /// Extensions, in order.
    pub extensions: Vec<Extension>,
}

impl Cert {
    /// Decodes one DER certificate; refuses anything that is not DER.
    pub fn from_der(der: &[u8]) -> Result<Cert, String> {
        let c = CertDer::from_der(der).map_err(|e| format!("not a DER X.509 certificate: {e}"))?;
        let tbs_der = c.tbs.to_der().map_err(|e| e.to_string())?;
        let t = TbsDer::from_der(&tbs_der).map_err(|e| format!("not a DER X.509 certificate: {e}"))?;
        // der refuses trailing data and non-canonical lengths; equality of the
        // re-encoding also rejects other non-DER (e.g. a BOOLEAN TRUE that is not 0xff).
        if t.to_der().map_err(|e| e.to_string())? != tbs_der || c.to_der().map_err(|e| e.to_string())? != der {
            return Err("the certificate is not in DER (it re-encodes differently)".into());
        }
        if t.version != Some(2) {
            return Err("not an X.509 v3 certificate".into());
        }
        let signature = c.sig.as_bytes().ok_or("the signature is not a whole number of bytes")?.to_vec();
        Ok(Cert {
            der: der.to_vec(),
            tbs_der,
            sig_alg: c.alg,
            signature,
            tbs_sig_alg: t.alg,
            serial: t.serial.as_bytes().to_vec(),
            issuer: t.issuer,
            subject: t.subject,
            validity: t.validity,
            spki: t.spki,
            extensions: t
                .extensions
                .unwrap_or_default()
                .into_iter()
                .map(|e| Extension { id: e.id, critical: e.critical, value: e.value.as_bytes().to_vec() })
                .collect(),
        })
    }

    /// The subject for messages: its common name in quotes when it has one (ours
    /// name the device serial there), else the RFC 4514 string.
    pub fn subject(&self) -> String {
        short_name(&self.subject)
    }

    /// The issuer for messages, as [`Cert::subject`].
    pub fn issuer(&self) -> String {
        short_name(&self.issuer)
    }

    /// The extension `id`, if present once (twice is an error).
    pub fn extension(&self, id: &RawOid) -> Result<Option<&Extension>, String> {
        let mut found = self.extensions.iter().filter(|e| e.id == *id);
        let first = found.next();
        if found.next().is_some() {
            return Err(format!("{} has the extension {id} twice", self.subject()));
        }
        Ok(first)
    }
}

/// A name for messages: `"CN"` when there is a common name, else RFC 4514.
pub fn short_name(name: &Name) -> String {
    match name.common_name() {
        Ok(Some(cn)) => format!("\"{}\"", cn.value()),
        _ => format!("\"{name}\""),
    }
}

/// The PEM blocks in `text`, as (label, DER).
pub fn pem_blocks(text: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "PEM input is not text".to_string())?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start..];
        let label_end = after[11..].find("-----").ok_or("a PEM BEGIN line without its closing dashes")? + 11;
        let label = &after[11..label_end];
        let end_marker = format!("-----END {label}-----");
        let end = after.find(&end_marker).ok_or_else(|| format!("a PEM block {label} without its END line"))?;
        let block = &after[..end + end_marker.len()];
        let (got, der) = der::pem::decode_vec(block.as_bytes()).map_err(|e| format!("PEM block {label}: {e}"))?;
        out.push((got.to_string(), der));
        rest = &after[end + end_marker.len()..];
    }
    Ok(out)
}

/// Is this PEM (it has a BEGIN line)?
pub fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// DER items laid end to end (as a DER bundle of certificates is).
fn der_items(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let header = <der::Header as FromDerPartial>::from_der_partial(bytes)?;
        let total = header_len(bytes)? + usize::try_from(header.length()).map_err(|e| e.to_string())?;
        if total > bytes.len() {
            return Err("a DER item runs past the end of the input".into());
        }
        out.push(bytes[..total].to_vec());
        bytes = &bytes[total..];
    }
    Ok(out)
}

/// The length of the tag and length octets at the start of `bytes`.
fn header_len(bytes: &[u8]) -> Result<usize, String> {
    let first = *bytes.get(1).ok_or("a DER item cut short")?;
    Ok(if first < 0x80 { 2 } else { 2 + usize::from(first & 0x7f) })
}

trait FromDerPartial {
    fn from_der_partial(bytes: &[u8]) -> Result<der::Header, String>;
}

impl FromDerPartial for der::Header {
    fn from_der_partial(bytes: &[u8]) -> Result<der::Header, String> {
        let mut reader = der::SliceReader::new(bytes).map_err(|e| e.to_string())?;
        der::Header::decode(&mut reader).map_err(|e| format!("not DER: {e}"))
    }
}

/// Every certificate in a PEM bundle (`CERTIFICATE` blocks; other blocks are an
/// error) or in DER certificates laid end to end.
pub fn certificates(bytes: &[u8]) -> Result<Vec<Cert>, String> {
    if is_pem(bytes) {
        pem_blocks(bytes)?
            .into_iter()
            .map(|(label, der)| {
                if label == "CERTIFICATE" {
                    Cert::from_der(&der)
                } else {
                    Err(format!("a PEM block {label} where certificates were expected"))
                }
            })
            .collect()
    } else {
        der_items(bytes)?.iter().map(|d| Cert::from_der(d)).collect()
    }
}

/// An attestation as read: its DER, PEM decoded.
pub enum Attestation {
    /// A key attestation certificate.
    Certificate(Box<Cert>),
    /// CMS `ContentInfo` (signed evidence), DER.
    Evidence(Vec<u8>),
}

/// Reads an attestation: a certificate or CMS, DER or PEM (`CERTIFICATE`, `CMS`,
/// `PKCS7`).
pub fn attestation(bytes: &[u8]) -> Result<Attestation, String> {
    let der = if is_pem(bytes) {
        let mut blocks = pem_blocks(bytes)?;
        if blocks.len() != 1 {
            return Err(format!("{} PEM blocks where one attestation was expected", blocks.len()));
        }
        let (label, der) = blocks.remove(0);
        match label.as_str() {
            "CERTIFICATE" => return Cert::from_der(&der).map(|c| Attestation::Certificate(Box::new(c))),
            "CMS" | "PKCS7" => return Ok(Attestation::Evidence(der)),
            other => return Err(format!("a PEM block {other}, neither CERTIFICATE nor CMS")),
        }
    } else {
        bytes.to_vec()
    };
    // A Certificate starts SEQUENCE { SEQUENCE (tbs) ...; a ContentInfo starts
    // SEQUENCE { OBJECT IDENTIFIER ...: the second tag tells them apart.
    let second = der_second_tag(&der).ok_or("the attestation is neither PEM nor DER")?;
    match second {
        0x30 => Cert::from_der(&der).map(|c| Attestation::Certificate(Box::new(c))),
        0x06 => Ok(Attestation::Evidence(der)),
        _ => Err("the attestation is neither a certificate nor CMS".into()),
    }
}

fn der_second_tag(der: &[u8]) -> Option<u8> {
    if der.first() != Some(&0x30) {
        return None;
    }
    der.get(header_len(der).ok()?).copied()
}

/// A PKCS#10 request as read, DER or PEM (`CERTIFICATE REQUEST`, `NEW CERTIFICATE
/// REQUEST`), with its DER.
pub fn request(bytes: &[u8]) -> Result<(CertReq, Vec<u8>), String> {
    let der = if is_pem(bytes) {
        let mut blocks = pem_blocks(bytes)?;
        if blocks.len() != 1 {
            return Err(format!("{} PEM blocks where one request was expected", blocks.len()));
        }
        let (label, der) = blocks.remove(0);
        if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
            return Err(format!("a PEM block {label}, not CERTIFICATE REQUEST"));
        }
        der
    } else {
        bytes.to_vec()
    };
    let req = CertReq::from_der(&der).map_err(|e| format!("not a PKCS#10 request: {e}"))?;
    Ok((req, der))
}

/// `der` as PEM with `label`, 64 columns.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).expect("PEM encoding of bytes cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_and_blocks() {
        let a = to_pem("CERTIFICATE", &[0x30, 0x00]);
        let b = to_pem("CMS", &[0x30, 0x03, 0x06, 0x01, 0x00]);
        let both = format!("junk\n{a}between\n{b}");
        let blocks = pem_blocks(both.as_bytes()).unwrap();
        assert_eq!(
            blocks,
            vec![("CERTIFICATE".into(), vec![0x30, 0x00]), ("CMS".into(), vec![0x30, 0x03, 0x06, 0x01, 0x00])]
        );
        assert!(is_pem(a.as_bytes()));
        assert!(!is_pem(&[0x30, 0x00]));
    }

    #[test]
    fn der_items_split() {
        let items = der_items(&[0x30, 0x00, 0x04, 0x01, 0xaa]).unwrap();
        assert_eq!(items, vec![vec![0x30, 0x00], vec![0x04, 0x01, 0xaa]]);
        assert!(der_items(&[0x30, 0x05, 0x00]).is_err());
    }
}
