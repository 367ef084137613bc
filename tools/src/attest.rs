//! Attestations and requests through PKCS#11: what `ferrohsm attest key`, `attest
//! chain` and `csr` do on the token. Everything goes through standard calls: the
//! vendor mechanisms through `C_SignInit` / `C_Sign`, the chain and birth
//! certificates as objects, the request's signature as an ordinary signature by the
//! key.

use cryptoki::context::Pkcs11;
use cryptoki::error::RvError;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use der::Decode;
use sha2::{Digest, Sha256, Sha384};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::error::{Doing, Error, Result};
use crate::token;
use crate::vendor::*;
use crate::verify::input::{Attestation, Cert};
use crate::verify::{csr, oids, sig};

/// Which key: by `CKA_ID` or by `CKA_LABEL`.
#[derive(Clone, Debug)]
pub enum KeyRef {
    /// `CKA_ID`.
    Id(Vec<u8>),
    /// `CKA_LABEL`.
    Label(String),
}

impl std::fmt::Display for KeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyRef::Id(id) => write!(f, "id {}", crate::verify::hex::encode(id)),
            KeyRef::Label(l) => write!(f, "label \"{l}\""),
        }
    }
}

/// Finds the key `r`, trying the classes in order (the first class with a match
/// wins; two matches of one class are an error).
pub fn find_key(session: &Session, r: &KeyRef, classes: &[ObjectClass]) -> Result<(ObjectHandle, ObjectClass)> {
    for class in classes {
        let mut t = vec![Attribute::Class(*class)];
        t.push(match r {
            KeyRef::Id(id) => Attribute::Id(id.clone()),
            KeyRef::Label(l) => Attribute::Label(l.as_bytes().to_vec()),
        });
        let found = session.find_objects(&t).doing(format!("finding the key with {r} (C_FindObjects)"))?;
        match found[..] {
            [] => {}
            [h] => return Ok((h, *class)),
            _ => return Err(Error::Other(format!("{} keys of class {class} have {r}; name one by --id", found.len()))),
        }
    }
    Err(Error::NotFound(format!("no key with {r} in this slot (did you log in as the user who owns it?)")))
}

fn vendor_mechanism(value: u64) -> Result<Mechanism<'static>> {
    let ty = MechanismType::new_vendor_defined(value)
        .map_err(|e| Error::Other(format!("vendor mechanism {value:#x}: {e}")))?;
    Ok(Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(ty, None)))
}

/// A fresh key attestation of `key`: `C_SignInit(CKM_FERRO_KEY_ATTEST_CERT or
/// _EVIDENCE, key)` and `C_Sign(nonce)`. Returns DER (a certificate or CMS).
pub fn key_attestation(session: &Session, key: ObjectHandle, nonce: &[u8], evidence: bool) -> Result<Vec<u8>> {
    let (m, name) = if evidence {
        (CKM_FERRO_KEY_ATTEST_EVIDENCE, "CKM_FERRO_KEY_ATTEST_EVIDENCE")
    } else {
        (CKM_FERRO_KEY_ATTEST_CERT, "CKM_FERRO_KEY_ATTEST_CERT")
    };
    session.sign(&vendor_mechanism(m)?, key, nonce).doing(format!("attesting the key ({name}, C_SignInit/C_Sign)"))
}

/// The certificate value of object `h`.
fn cert_value(session: &Session, h: ObjectHandle) -> Result<Vec<u8>> {
    let attrs =
        session.get_attributes(h, &[AttributeType::Value]).doing("reading a certificate (C_GetAttributeValue)")?;
    attrs
        .into_iter()
        .find_map(|a| match a {
            Attribute::Value(v) => Some(v),
            _ => None,
        })
        .ok_or_else(|| Error::Unexpected("a certificate object without CKA_VALUE".into()))
}

/// The key's birth certificate: the certificate object whose `CKA_FERRO_ATTESTS` is
/// the key's `CKA_UNIQUE_ID`, if there is one.
pub fn birth_certificate(session: &Session, key: ObjectHandle) -> Result<Option<Vec<u8>>> {
    let attrs = session.get_attributes(key, &[AttributeType::UniqueId]).doing("reading CKA_UNIQUE_ID")?;
    let Some(uid) = attrs.into_iter().find_map(|a| match a {
        Attribute::UniqueId(u) => Some(u),
        _ => None,
    }) else {
        return Ok(None);
    };
    let t = [
        Attribute::Class(ObjectClass::CERTIFICATE),
        Attribute::VendorDefined((AttributeType::VendorDefined(CKA_FERRO_ATTESTS), uid)),
    ];
    let found = session.find_objects(&t).doing("finding the birth certificate (C_FindObjects)")?;
    match found.first() {
        Some(h) => Ok(Some(cert_value(session, *h)?)),
        None => Ok(None),
    }
}

/// The certificates with `CKA_FERRO_KEY_ROLE = role` that `session` sees.
fn role_certs(session: &Session, role: u64) -> Result<Vec<Vec<u8>>> {
    let t = [Attribute::Class(ObjectClass::CERTIFICATE), ulong_attr(CKA_FERRO_KEY_ROLE, role)];
    let found = session.find_objects(&t).doing(format!("finding the role {role} certificates (C_FindObjects)"))?;
    found.into_iter().map(|h| cert_value(session, h)).collect()
}

/// The attestation chain of partition `slot`, read from the token with no login:
/// the partition attestation certificate (role 3, in the partition), then the
/// device certificate (role 2, admin token), then any certificate above it that is
/// not self-signed (an outside CA's intermediates); and the root: the self-signed
/// certificate at the top (role 1, or an outside CA's root when one was imported).
pub fn chain(ctx: &Pkcs11, slot: Slot) -> Result<(Vec<Cert>, Option<Cert>)> {
    let parse = |der: Vec<u8>| Cert::from_der(&der).map_err(|e| Error::Unexpected(format!("a chain certificate: {e}")));
    let session =
        ctx.open_ro_session(slot).doing(format!("opening a session on slot {} (C_OpenSession)", slot.id()))?;
    let mut partition = role_certs(&session, 3)?.into_iter().map(parse).collect::<Result<Vec<_>>>()?;
    if partition.is_empty() {
        return Err(Error::NotFound(format!(
            "slot {} has no partition attestation certificate (CKA_FERRO_KEY_ROLE 3)",
            slot.id()
        )));
    }
    let admin = ctx.open_ro_session(token::admin_slot(ctx)?).doing("opening a session on the admin token")?;
    let mut above = Vec::new();
    for role in [2, 1] {
        above.extend(role_certs(&admin, role)?.into_iter().map(parse).collect::<Result<Vec<_>>>()?);
    }
    let mut chain = vec![partition.remove(0)];
    let mut root = None;
    // Follow issuers up through what the token holds.
    for _ in 0..8 {
        let cur = chain.last().expect("not empty");
        let Some(next) = above.iter().find(|c| c.subject == cur.issuer && c.der != cur.der) else { break };
        if next.subject == next.issuer {
            root = Some(next.clone());
            break;
        }
        chain.push(next.clone());
    }
    Ok((chain, root))
}

/// The signature mechanism and algorithm for a request signed by a key.
fn request_signature(
    key_type: KeyType,
    spki: &SubjectPublicKeyInfoOwned,
) -> Result<(Mechanism<'static>, AlgorithmIdentifierOwned, bool)> {
    let alg = |oid, null: bool| AlgorithmIdentifierOwned {
        oid,
        parameters: if null { Some(der::asn1::Any::null()) } else { None },
    };
    if key_type == KeyType::RSA {
        return Ok((Mechanism::Sha256RsaPkcs, alg(oids::RSA_SHA256, true), false));
    }
    if key_type == KeyType::EC_EDWARDS {
        if spki.algorithm.oid != oids::ED25519 {
            return Err(Error::Other(format!(
                "an Edwards key on {}: only Ed25519 requests are made",
                spki.algorithm.oid
            )));
        }
        return Ok((Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)), alg(oids::ED25519, false), false));
    }
    if key_type == KeyType::EC {
        let curve: der::asn1::ObjectIdentifier = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as().ok())
            .ok_or_else(|| Error::Unexpected("the EC key's CKA_PUBLIC_KEY_INFO names no curve".into()))?;
        return match curve {
            oids::P256 => Ok((Mechanism::EcdsaSha256, alg(oids::ECDSA_SHA256, false), true)),
            oids::P384 => Ok((Mechanism::EcdsaSha384, alg(oids::ECDSA_SHA384, false), true)),
            other => Err(Error::Other(format!("EC requests are made for P-256 and P-384 keys, not {other}"))),
        };
    }
    Err(Error::Other(format!("a {key_type} key cannot sign a request (RSA, EC and Ed25519 can)")))
}

/// Builds a PKCS#10 request for the private key `key`, signed by it through
/// PKCS#11: its public key from `CKA_PUBLIC_KEY_INFO`, ECDSA with SHA-256 (P-256) or
/// SHA-384 (P-384), SHA256-RSA-PKCS, or EdDSA; `attributes` go into the request.
pub fn request(
    session: &Session,
    key: ObjectHandle,
    subject: x509_cert::name::Name,
    attributes: Vec<x509_cert::attr::Attribute>,
) -> Result<Vec<u8>> {
    let attrs = session
        .get_attributes(key, &[AttributeType::KeyType, AttributeType::PublicKeyInfo])
        .doing("reading the key (C_GetAttributeValue)")?;
    let mut key_type = None;
    let mut spki = None;
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::PublicKeyInfo(v) if !v.is_empty() => spki = Some(v),
            _ => {}
        }
    }
    let key_type = key_type.ok_or_else(|| Error::Unexpected("the key has no CKA_KEY_TYPE".into()))?;
    let spki = spki.ok_or_else(|| Error::Unexpected("the key has no CKA_PUBLIC_KEY_INFO".into()))?;
    let spki = SubjectPublicKeyInfoOwned::from_der(&spki)
        .map_err(|e| Error::Unexpected(format!("the key's CKA_PUBLIC_KEY_INFO does not decode: {e}")))?;
    let (mechanism, alg, ecdsa) = request_signature(key_type, &spki)?;
    let sign = |m: &Mechanism<'_>, data: &[u8]| {
        session.sign(m, key, data).doing(format!("signing the request ({}, C_Sign)", m.mechanism_type()))
    };
    csr::build(subject, spki, attributes, |tbs| -> Result<_> {
        let raw = match sign(&mechanism, tbs) {
            // p11-kit's RPC (0.24.1 here) forwards CKM_ECDSA but not CKM_ECDSA_SHA256
            // or _SHA384: hash here and have the token sign the digest, which is
            // what the combined mechanism does inside.
            Err(e) if ecdsa && e.rv() == Some(RvError::MechanismInvalid) => {
                let digest = match mechanism {
                    Mechanism::EcdsaSha384 => Sha384::digest(tbs).to_vec(),
                    _ => Sha256::digest(tbs).to_vec(),
                };
                sign(&Mechanism::Ecdsa, &digest)?
            }
            r => r?,
        };
        let sig = if ecdsa { sig::ecdsa_raw_to_der(&raw).map_err(Error::Unexpected)? } else { raw };
        Ok((alg, sig))
    })
}

/// The `id-aa-attestation` attribute for the key `key`: a fresh attestation (with
/// `nonce`, as a certificate or, with `evidence`, as CMS), or, when the module does
/// not offer the mechanism and neither a nonce nor evidence was asked for, the
/// key's birth certificate. The chain goes in the bundle's `certs`.
pub fn attestation_attribute(
    ctx: &Pkcs11,
    slot: Slot,
    session: &Session,
    key: ObjectHandle,
    nonce: Option<&[u8]>,
    evidence: bool,
) -> Result<x509_cert::attr::Attribute> {
    let der = match key_attestation(session, key, nonce.unwrap_or_default(), evidence) {
        Ok(der) => der,
        Err(e) if e.rv() == Some(RvError::MechanismInvalid) && nonce.is_none() && !evidence => {
            birth_certificate(session, key)?
                .ok_or_else(|| Error::Other(format!("{e}; and the key has no birth certificate to use instead")))?
        }
        Err(e) => return Err(e),
    };
    let attestation = if evidence {
        Attestation::Evidence(der)
    } else {
        Attestation::Certificate(Box::new(
            Cert::from_der(&der).map_err(|e| Error::Unexpected(format!("the attestation: {e}")))?,
        ))
    };
    let (chain, _root) = chain(ctx, slot)?;
    csr::attestation_attribute(&attestation, &chain)
        .map_err(|e| Error::Other(format!("encoding the attestation attribute: {e}")))
}

/// The device key's SubjectPublicKeyInfo (DER), from the device certificate on the
/// admin token (`CKA_FERRO_KEY_ROLE` 2; public, so any session on the admin token
/// reads it). The caller passes its session: once the device SO is logged in, the
/// token opens no read-only session (`CKR_SESSION_READ_WRITE_SO_EXISTS`).
pub fn device_spki(admin: &Session) -> Result<Vec<u8>> {
    let certs = role_certs(admin, 2)?;
    let [der] = &certs[..] else {
        return Err(Error::NotFound(format!(
            "the admin token holds {} device certificates (CKA_FERRO_KEY_ROLE 2); expected one",
            certs.len()
        )));
    };
    let cert = Cert::from_der(der).map_err(|e| Error::Unexpected(format!("the device certificate: {e}")))?;
    der::Encode::to_der(&cert.spki).map_err(|e| Error::Unexpected(e.to_string()))
}

/// A PKCS#10 request for the device key, made and signed inside the module
/// (`CKM_FERRO_DEVICE_CSR` on the device private key; device SO session on the admin
/// token). The subject is the device's own.
pub fn device_request(session: &Session) -> Result<Vec<u8>> {
    let t = [Attribute::Class(ObjectClass::PRIVATE_KEY), ulong_attr(CKA_FERRO_KEY_ROLE, 2)];
    let found = session.find_objects(&t).doing("finding the device key (C_FindObjects)")?;
    let [key] = found[..] else {
        return Err(Error::NotFound(format!(
            "the admin token holds {} device keys (CKA_FERRO_KEY_ROLE 2); expected one",
            found.len()
        )));
    };
    session
        .sign(&vendor_mechanism(CKM_FERRO_DEVICE_CSR)?, key, &[])
        .doing("making the device key's request (CKM_FERRO_DEVICE_CSR, C_SignInit/C_Sign)")
}

/// Installs a device certificate and its chain (device SO session), after
/// [`crate::verify::device_certificate`] has checked them: `path[0]`, the device
/// certificate, as `CKA_FERRO_KEY_ROLE` 2 (which replaces the old device
/// certificate and the chain above it), then the CA certificates as role 1.
pub fn install_device_certificate(session: &Session, path: &[Cert]) -> Result<()> {
    for (i, cert) in path.iter().enumerate() {
        let role = if i == 0 { 2 } else { 1 };
        let t = [
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(cryptoki::object::CertificateType::X_509),
            Attribute::Token(true),
            Attribute::Value(cert.der.clone()),
            ulong_attr(CKA_FERRO_KEY_ROLE, role),
        ];
        session
            .create_object(&t)
            .doing(format!("installing {} (C_CreateObject, CKA_FERRO_KEY_ROLE {role})", cert.subject()))?;
    }
    Ok(())
}
