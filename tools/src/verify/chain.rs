//! Building and checking the path from an attestation up to the pinned root.
//!
//! The checks follow RFC 5280 section 6 where it applies to a path that ends in one
//! pinned root: names chain (issuer = subject, and authority key id = subject key id
//! where both are present), every signature verifies, every certificate is valid at
//! the time, no certificate carries a critical extension this verifier does not
//! process, every issuer is a CA (basicConstraints) allowed to sign certificates
//! (keyUsage) within its path length, and the attestation keys carry our purpose.

use std::time::SystemTime;

use der::asn1::ObjectIdentifier as Oid;
use der::{Decode, Encode};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier};

use super::input::Cert;
use super::oids::RawOid;
use super::{Check, Failure, oids, sig};

/// Longest path searched (ours has 3 or 4 certificates; an outside CA adds some).
const MAX_DEPTH: usize = 8;

/// The extensions this verifier processes (with ours, `id-ferro-keyAttestation`); any
/// other one marked critical fails.
const KNOWN: &[Oid] = &[
    oids::BASIC_CONSTRAINTS,
    oids::KEY_USAGE,
    oids::EXT_KEY_USAGE,
    oids::SUBJECT_KEY_ID,
    oids::AUTHORITY_KEY_ID,
    oids::SUBJECT_ALT_NAME,
];

fn known(id: &RawOid) -> bool {
    KNOWN.iter().any(|k| id.is(k)) || *id == *oids::KEY_ATTESTATION
}

/// `ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId`, with ids that may
/// be ours.
struct Eku(Vec<RawOid>);

impl<'a> Decode<'a> for Eku {
    type Error = der::Error;
    fn decode<R: der::Reader<'a>>(reader: &mut R) -> der::Result<Eku> {
        Vec::<RawOid>::decode(reader).map(Eku)
    }
}

fn fail(check: Check, detail: impl Into<String>) -> Failure {
    Failure::new(check, detail)
}

fn decoded<'a, T: Decode<'a>>(c: &'a Cert, oid: &Oid, what: &str) -> Result<Option<T>, Failure> {
    let ext = c.extension(&RawOid::from(*oid)).map_err(|e| fail(Check::Chain, e))?;
    match ext {
        None => Ok(None),
        Some(e) => T::from_der(&e.value).map(Some).map_err(|err| {
            fail(Check::Chain, format!("the {what} extension of {} does not decode: {err}", c.subject()))
        }),
    }
}

/// The subject key identifier of `c`, if it has one.
pub fn subject_key_id(c: &Cert) -> Option<Vec<u8>> {
    ski(c).ok().flatten()
}

fn ski(c: &Cert) -> Result<Option<Vec<u8>>, Failure> {
    Ok(decoded::<SubjectKeyIdentifier>(c, &oids::SUBJECT_KEY_ID, "subjectKeyIdentifier")?
        .map(|s| s.0.as_bytes().to_vec()))
}

fn aki(c: &Cert) -> Result<Option<Vec<u8>>, Failure> {
    Ok(decoded::<AuthorityKeyIdentifier>(c, &oids::AUTHORITY_KEY_ID, "authorityKeyIdentifier")?
        .and_then(|a| a.key_identifier.map(|k| k.as_bytes().to_vec())))
}

/// Does `parent`'s name (and key id, where both say one) match `child`'s issuer?
fn names_issuer(child: &Cert, parent: &Cert) -> Result<bool, Failure> {
    let issuer = child.issuer.to_der().map_err(|e| fail(Check::Chain, e.to_string()))?;
    let subject = parent.subject.to_der().map_err(|e| fail(Check::Chain, e.to_string()))?;
    if issuer != subject {
        return Ok(false);
    }
    Ok(match (aki(child)?, ski(parent)?) {
        (Some(a), Some(s)) => a == s,
        _ => true,
    })
}

/// Does `parent`'s key verify `child`'s signature?
fn signature_of(child: &Cert, parent: &Cert) -> Result<(), String> {
    // The outer and inner algorithm identifiers must agree (RFC 5280 4.1.1.2).
    if child.sig_alg != child.tbs_sig_alg {
        return Err("its two signature algorithm fields differ".into());
    }
    sig::verify(&parent.spki, &child.sig_alg, &child.tbs_der, &child.signature)
}

fn same(a: &Cert, b: &Cert) -> bool {
    a.der == b.der
}

/// The path from `leaf` up to and including `root`: `[leaf, issuer, ..., root]`.
/// `pool` holds the untrusted certificates offered (the chain file, the CMS set, the
/// request's bundle).
pub fn build(leaf: &Cert, pool: &[Cert], root: &Cert) -> Result<Vec<Cert>, Failure> {
    let mut path = vec![leaf.clone()];
    let root_name = root.subject();
    for _ in 0..MAX_DEPTH {
        let cur = path.last().expect("the path starts with the leaf");
        if names_issuer(cur, root)? {
            path.push(root.clone());
            return Ok(path);
        }
        let mut candidates = Vec::new();
        for c in pool {
            if !path.iter().any(|p| same(p, c)) && names_issuer(cur, c)? {
                candidates.push(c);
            }
        }
        // Prefer a candidate whose key verifies; if none does, take the first one so
        // that the signature check reports the tampering in words.
        let next = candidates.iter().find(|c| signature_of(cur, c).is_ok()).or(candidates.first()).copied();
        match next {
            Some(c) => path.push(c.clone()),
            None => {
                let self_signed = cur.issuer() == cur.subject();
                let detail = if self_signed && path.len() > 1 {
                    format!(
                        "the chain ends at {}, a root that is not the pinned root ({root_name}): \
                         this attestation comes from another device or CA",
                        cur.subject()
                    )
                } else {
                    format!(
                        "{} is issued by {}, which is neither the pinned root ({root_name}) nor in the \
                         chain given (pass the chain with --chain, or pin the right root)",
                        cur.subject(),
                        cur.issuer()
                    )
                };
                return Err(fail(Check::Chain, detail));
            }
        }
    }
    Err(fail(Check::Chain, format!("no path to the pinned root within {MAX_DEPTH} certificates")))
}

/// Which certificate of the path signs the attestation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    /// `path[0]` is the attested key's certificate; `path[1]` issued it.
    AttestedKey,
    /// `path[0]` is the certificate of the key that signed CMS evidence.
    EvidenceSigner,
    /// `path[0]` is a device certificate an outside CA issued
    /// ([`super::device_certificate`]).
    Device,
}

/// Checks a built path, in this order: signatures, validity at `at`, critical
/// extensions, basic constraints and path length, key usage, our purpose.
pub fn check(path: &[Cert], leaf: Leaf, at: SystemTime) -> Result<(), Failure> {
    let root = path.last().expect("a path ends with the root");

    // Signatures: each certificate by the next; the root by itself (a pinned root
    // file that is corrupt is worth knowing about).
    for pair in path.windows(2) {
        signature_of(&pair[0], &pair[1]).map_err(|e| {
            fail(
                Check::Signature,
                format!("the signature on {} by {} does not verify: {e}", pair[0].subject(), pair[1].subject()),
            )
        })?;
    }
    signature_of(root, root)
        .map_err(|e| fail(Check::Signature, format!("the pinned root {} is not self-signed: {e}", root.subject())))?;

    // Validity.
    let at_text = super::time_text(at);
    for c in path {
        let v = &c.validity;
        let (nb, na) = (v.not_before.to_system_time(), v.not_after.to_system_time());
        if at < nb {
            return Err(fail(
                Check::Validity,
                format!("{} is not valid yet at {at_text} (valid from {})", c.subject(), v.not_before),
            ));
        }
        if at > na {
            return Err(fail(
                Check::Validity,
                format!("{} has expired at {at_text} (valid until {})", c.subject(), v.not_after),
            ));
        }
    }

    // Critical extensions this verifier does not process.
    for c in path {
        for e in &c.extensions {
            if e.critical && !known(&e.id) {
                return Err(fail(
                    Check::CriticalExtension,
                    format!("{} has a critical extension {} that this verifier does not know", c.subject(), e.id),
                ));
            }
        }
    }

    // Basic constraints and path length: every certificate that signs another is a
    // CA, and no more CA certificates sit below it than its pathLenConstraint allows.
    for (i, c) in path.iter().enumerate().skip(1) {
        let bc = decoded::<BasicConstraints>(c, &oids::BASIC_CONSTRAINTS, "basicConstraints")
            .map_err(|f| f.with_check(Check::BasicConstraints))?;
        let Some(bc) = bc.filter(|b| b.ca) else {
            return Err(fail(
                Check::BasicConstraints,
                format!(
                    "{} issues {} but is not a CA (basicConstraints cA is not TRUE)",
                    c.subject(),
                    path[i - 1].subject()
                ),
            ));
        };
        // Intermediate CA certificates between this one and the leaf.
        let below = i - 1;
        if let Some(max) = bc.path_len_constraint
            && below > usize::from(max)
        {
            return Err(fail(
                Check::BasicConstraints,
                format!("{} allows {max} CA certificate(s) below it (pathLenConstraint) but has {below}", c.subject()),
            ));
        }
    }
    if leaf == Leaf::Device {
        let bc = decoded::<BasicConstraints>(&path[0], &oids::BASIC_CONSTRAINTS, "basicConstraints")
            .map_err(|f| f.with_check(Check::BasicConstraints))?;
        match bc {
            Some(b) if b.ca && b.path_len_constraint.is_none_or(|n| n >= 1) => {}
            _ => {
                return Err(fail(
                    Check::BasicConstraints,
                    format!(
                        "the device certificate {} must be a CA with a path length of at least 1 (it issues the \
                         partition attestation keys, which issue attested keys)",
                        path[0].subject()
                    ),
                ));
            }
        }
        let ku =
            decoded::<KeyUsage>(&path[0], &oids::KEY_USAGE, "keyUsage").map_err(|f| f.with_check(Check::KeyUsage))?;
        if ku.is_some_and(|k| !k.key_cert_sign()) {
            return Err(fail(
                Check::KeyUsage,
                format!("the device certificate {} lacks keyCertSign", path[0].subject()),
            ));
        }
    }
    if leaf == Leaf::AttestedKey {
        let bc = decoded::<BasicConstraints>(&path[0], &oids::BASIC_CONSTRAINTS, "basicConstraints")
            .map_err(|f| f.with_check(Check::BasicConstraints))?;
        if bc.is_some_and(|b| b.ca) {
            return Err(fail(
                Check::BasicConstraints,
                format!("the attested key's certificate {} claims to be a CA", path[0].subject()),
            ));
        }
    }

    // Key usage: issuers may sign certificates; an evidence signer may sign.
    for c in &path[1..] {
        let ku = decoded::<KeyUsage>(c, &oids::KEY_USAGE, "keyUsage").map_err(|f| f.with_check(Check::KeyUsage))?;
        if ku.is_some_and(|k| !k.key_cert_sign()) {
            return Err(fail(
                Check::KeyUsage,
                format!("{} issues certificates but its keyUsage lacks keyCertSign", c.subject()),
            ));
        }
    }
    if leaf == Leaf::EvidenceSigner {
        let ku =
            decoded::<KeyUsage>(&path[0], &oids::KEY_USAGE, "keyUsage").map_err(|f| f.with_check(Check::KeyUsage))?;
        if ku.is_some_and(|k| !k.digital_signature()) {
            return Err(fail(
                Check::KeyUsage,
                format!("{} signed the evidence but its keyUsage lacks digitalSignature", path[0].subject()),
            ));
        }
    }

    // Our purpose on the attestation key's certificate and on the device's.
    let (first, roles): (usize, &[&str]) = match leaf {
        Leaf::AttestedKey => (1, &["the attestation key", "the device key"]),
        Leaf::EvidenceSigner => (0, &["the attestation key", "the device key"]),
        Leaf::Device => (0, &["the device key"]),
    };
    for (role, c) in roles.iter().zip(&path[first..]) {
        let eku = decoded::<Eku>(c, &oids::EXT_KEY_USAGE, "extKeyUsage").map_err(|f| f.with_check(Check::Purpose))?;
        if !eku.is_some_and(|e| e.0.contains(&oids::KP_ATTESTATION)) {
            return Err(fail(
                Check::Purpose,
                format!(
                    "{} (as {role}) lacks the attestation purpose {} in extKeyUsage",
                    c.subject(),
                    *oids::KP_ATTESTATION
                ),
            ));
        }
    }
    Ok(())
}
