//! PKCS#10 requests (RFC 2986) with attestations, as draft-ietf-lamps-csr-attestation
//! (version -29, September 2026) carries them:
//!
//! ```asn1
//! id-aa-attestation OBJECT IDENTIFIER ::= { id-aa 59 }   -- 1.2.840.113549.1.9.16.2.59
//! attr-attestations ATTRIBUTE ::= { TYPE AttestationBundle COUNTS MAX 1 IDENTIFIED BY id-aa-attestation }
//! AttestationBundle ::= SEQUENCE {
//!    attestations SEQUENCE SIZE (1..MAX) OF AttestationStatement,
//!    certs SEQUENCE SIZE (1..MAX) OF LimitedCertChoices OPTIONAL }
//! AttestationStatement ::= SEQUENCE {
//!    type   ATTESTATION-STATEMENT.&id({AttestationStatementSet}),
//!    stmt   ATTESTATION-STATEMENT.&Type({AttestationStatementSet}{@type}) }
//! ```
//!
//! ferrohsm's statements (docs/attestation.md, "Attested requests"): type
//! `id-ferro-keyAttestation` with the attestation certificate as `stmt`, or type
//! `id-ferro-evidence` with the CMS `ContentInfo` as `stmt`; `certs` holds the chain
//! above it (without the root, which the CA pins).

use std::str::FromStr;

use der::Tagged;
use der::asn1::{Any, BitString, SetOfVec};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::Attribute;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};

use super::input::{self, Attestation, Cert};
use super::oids::RawOid;
use super::{Check, Failure, oids, sig};

/// `AttestationStatement`.
#[derive(Clone, Debug, Sequence)]
pub struct AttestationStatement {
    /// What `stmt` is.
    pub r#type: RawOid,
    /// The statement.
    pub stmt: Any,
}

/// `AttestationBundle`. `certs` is kept as raw `CertificateChoices`; the verifier
/// uses the `certificate` alternative and skips `other`.
#[derive(Clone, Debug, Sequence)]
pub struct AttestationBundle {
    /// One or more statements.
    pub attestations: Vec<AttestationStatement>,
    /// Certificates to build paths with.
    #[asn1(optional = "true")]
    pub certs: Option<Vec<Any>>,
}

/// A request, checked: its signature verifies with its own key.
pub struct Request {
    /// The request.
    pub req: CertReq,
    /// Its subject, as `/CN=a/O=b`.
    pub subject: String,
}

/// Decodes a request (DER or PEM) and checks its own signature.
pub fn parse(bytes: &[u8]) -> Result<Request, Failure> {
    let (req, der) = input::request(bytes).map_err(|e| Failure::new(Check::Csr, e))?;
    if req.to_der().map_err(|e| Failure::new(Check::Csr, e.to_string()))? != der {
        return Err(Failure::new(Check::Csr, "the request is not in DER (it re-encodes differently)"));
    }
    let info = req.info.to_der().map_err(|e| Failure::new(Check::Csr, e.to_string()))?;
    let signature =
        req.signature.as_bytes().ok_or_else(|| Failure::new(Check::Csr, "the signature is not whole bytes"))?;
    sig::verify(&req.info.public_key, &req.algorithm, &info, signature).map_err(|e| {
        Failure::new(Check::Csr, format!("the request is not signed by its own key (proof of possession fails): {e}"))
    })?;
    let subject = slash_name(&req.info.subject);
    Ok(Request { req, subject })
}

impl Request {
    /// The attestation and the certificates carried in the request's
    /// `id-aa-attestation` attribute, if it has one: the first ferrohsm statement.
    pub fn attestation(&self) -> Result<Option<(Attestation, Vec<Cert>)>, Failure> {
        let bad = |d: String| Failure::new(Check::Csr, d);
        let found: Vec<&Attribute> =
            self.req.info.attributes.iter().filter(|a| a.oid == oids::AA_ATTESTATION).collect();
        let attr = match found[..] {
            [] => return Ok(None),
            [a] => a,
            _ => return Err(bad("the request has more than one id-aa-attestation attribute".into())),
        };
        let [value] = attr.values.iter().collect::<Vec<_>>()[..] else {
            return Err(bad("the id-aa-attestation attribute must hold exactly one AttestationBundle".into()));
        };
        let bundle: AttestationBundle =
            value.decode_as().map_err(|e| bad(format!("the AttestationBundle does not decode: {e}")))?;
        let mut certs = Vec::new();
        for c in bundle.certs.iter().flatten() {
            if c.tag() == der::Tag::Sequence {
                let der = c.to_der().map_err(|e| bad(e.to_string()))?;
                certs.push(Cert::from_der(&der).map_err(|e| bad(format!("a certificate in the bundle: {e}")))?);
            }
        }
        for st in &bundle.attestations {
            let der = st.stmt.to_der().map_err(|e| bad(e.to_string()))?;
            if st.r#type == *oids::KEY_ATTESTATION {
                let c = Cert::from_der(&der).map_err(|e| bad(format!("the attestation certificate: {e}")))?;
                return Ok(Some((Attestation::Certificate(Box::new(c)), certs)));
            }
            if st.r#type == *oids::EVIDENCE {
                return Ok(Some((Attestation::Evidence(der), certs)));
            }
        }
        Err(bad("the request's AttestationBundle holds no ferrohsm attestation".into()))
    }
}

/// The `id-aa-attestation` attribute for `attestation`, with `chain` in `certs`.
pub fn attestation_attribute(attestation: &Attestation, chain: &[Cert]) -> der::Result<Attribute> {
    let (r#type, stmt) = match attestation {
        Attestation::Certificate(c) => (oids::KEY_ATTESTATION.clone(), Any::from_der(&c.der)?),
        Attestation::Evidence(der) => (oids::EVIDENCE.clone(), Any::from_der(der)?),
    };
    let certs = if chain.is_empty() {
        None
    } else {
        Some(chain.iter().map(|c| Any::from_der(&c.der)).collect::<der::Result<Vec<_>>>()?)
    };
    let bundle = AttestationBundle { attestations: vec![AttestationStatement { r#type, stmt }], certs };
    let mut values = SetOfVec::new();
    values.insert(Any::encode_from(&bundle)?)?;
    Ok(Attribute { oid: oids::AA_ATTESTATION, values })
}

/// An `extensionRequest` attribute asking for `extensions`.
pub fn extension_request(extensions: Vec<x509_cert::ext::Extension>) -> der::Result<Attribute> {
    let mut values = SetOfVec::new();
    values.insert(Any::encode_from(&extensions)?)?;
    Ok(Attribute { oid: oids::EXTENSION_REQUEST, values })
}

/// A name as OpenSSL's `-subj` writes it: `/CN=a/O=b`, most significant first.
pub fn slash_name(name: &Name) -> String {
    let s: String = name.iter_rdn().map(|rdn| format!("/{rdn}")).collect();
    if s.is_empty() { "(empty)".into() } else { s }
}

/// Parses a subject name: OpenSSL's `/CN=a/O=b` form (most significant first) or
/// RFC 4514's `CN=a,O=b` (least significant first).
pub fn parse_subject(s: &str) -> Result<Name, String> {
    let rfc4514 = if let Some(rest) = s.strip_prefix('/') {
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    // "\/" is a literal slash; keep other escapes for RFC 4514.
                    match chars.next() {
                        Some('/') => cur.push('/'),
                        Some(o) => {
                            cur.push('\\');
                            cur.push(o);
                        }
                        None => cur.push('\\'),
                    }
                }
                '/' => parts.push(std::mem::take(&mut cur)),
                ',' => cur.push_str("\\,"),
                c => cur.push(c),
            }
        }
        parts.push(cur);
        parts.retain(|p| !p.is_empty());
        parts.reverse();
        parts.join(",")
    } else {
        s.to_string()
    };
    if rfc4514.is_empty() {
        return Err("an empty subject".into());
    }
    Name::from_str(&rfc4514).map_err(|e| format!("subject {s:?} does not parse: {e}"))
}

/// Builds and signs a request. `sign` gets the DER `CertificationRequestInfo` and
/// returns the signature algorithm and the signature value.
pub fn build<E>(
    subject: Name,
    public_key: SubjectPublicKeyInfoOwned,
    attributes: Vec<Attribute>,
    sign: impl FnOnce(&[u8]) -> Result<(AlgorithmIdentifierOwned, Vec<u8>), E>,
) -> Result<Vec<u8>, E>
where
    E: From<String>,
{
    let mut set = SetOfVec::new();
    for a in attributes {
        set.insert(a).map_err(|e| E::from(format!("request attributes: {e}")))?;
    }
    let info = CertReqInfo { version: Version::V1, subject, public_key, attributes: set };
    let tbs = info.to_der().map_err(|e| E::from(format!("encoding the request: {e}")))?;
    let (algorithm, signature) = sign(&tbs)?;
    let signature = BitString::from_bytes(&signature).map_err(|e| E::from(e.to_string()))?;
    let req = CertReq { info, algorithm, signature };
    req.to_der().map_err(|e| E::from(format!("encoding the request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        let a = parse_subject("/CN=app.example/O=Example").unwrap();
        let b = parse_subject("O=Example,CN=app.example").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "O=Example,CN=app.example");
        assert_eq!(slash_name(&a), "/CN=app.example/O=Example");
        // The first RDN is the most significant.
        assert_eq!(a.iter_rdn().next().unwrap().to_string(), "CN=app.example");
        assert!(parse_subject("").is_err());
        assert!(parse_subject("/").is_err());
    }
}
