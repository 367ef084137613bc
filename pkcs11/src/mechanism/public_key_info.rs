//! `CKA_PUBLIC_KEY_INFO` for the key pair families: the SubjectPublicKeyInfo that a
//! family encodes, filled in or checked against what the caller gave, and (for the
//! parameter-set families of PKCS#11 3.2) which template names the parameter set.

use cryptoki_sys::*;
use der::Encode;
use der::asn1::{BitStringRef, ObjectIdentifier};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use crate::error::{Attr, Result, err};
use crate::object::Attrs;
use crate::object::attr::ulong_value;

/// The SubjectPublicKeyInfo of a key whose algorithm identifier is an OID without
/// parameters and whose public key is the raw BIT STRING (ML-DSA, RFC 9881 §4;
/// ML-KEM, RFC 9935).
pub fn without_parameters(oid: &str, public: &[u8]) -> Result<Vec<u8>> {
    let der_err = |e: der::Error| err(CKR_GENERAL_ERROR, format!("DER encoding failed: {e}"));
    let oid = ObjectIdentifier::new(oid).map_err(|e| err(CKR_GENERAL_ERROR, format!("{e}")))?;
    let algorithm = AlgorithmIdentifierRef { oid, parameters: None };
    let key = BitStringRef::from_bytes(public).map_err(der_err)?;
    SubjectPublicKeyInfoRef { algorithm, subject_public_key: key }.to_der().map_err(der_err)
}

/// Fills `CKA_PUBLIC_KEY_INFO` with the key's SubjectPublicKeyInfo `info`, or checks
/// a value the caller gave: it must be that (`CKR_TEMPLATE_INCONSISTENT` otherwise,
/// as it contradicts the key's other attributes).
pub fn fill(attrs: &mut Attrs, info: Vec<u8>) -> Result<()> {
    match attrs.get(CKA_PUBLIC_KEY_INFO) {
        Some(given) if !given.is_empty() && given != info.as_slice() => Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            format!("{} is not the SubjectPublicKeyInfo of this key", Attr(CKA_PUBLIC_KEY_INFO)),
        )),
        _ => {
            attrs.set(CKA_PUBLIC_KEY_INFO, info);
            Ok(())
        }
    }
}

/// For `C_GenerateKeyPair` of a parameter-set family: the template whose
/// `CKA_PARAMETER_SET` chooses the set (the public one's, or the private one's when
/// only it has one; both must agree), after checking that neither template gives a
/// `CKA_PUBLIC_KEY_INFO` for the key not yet generated.
pub fn parameter_set_template<'a>(public: &'a Attrs, private: &'a Attrs) -> Result<&'a Attrs> {
    let chosen = match (public.ulong(CKA_PARAMETER_SET), private.ulong(CKA_PARAMETER_SET)) {
        (Some(a), Some(b)) if a != b => {
            return Err(err(CKR_TEMPLATE_INCONSISTENT, "the templates give different CKA_PARAMETER_SETs"));
        }
        (Some(_), _) => public,
        (None, Some(_)) => private,
        (None, None) => return Err(err(CKR_TEMPLATE_INCOMPLETE, "the public key template has no CKA_PARAMETER_SET")),
    };
    for a in [public, private] {
        if a.get(CKA_PUBLIC_KEY_INFO).is_some_and(|v| !v.is_empty()) {
            return Err(err(CKR_TEMPLATE_INCONSISTENT, "CKA_PUBLIC_KEY_INFO of a key not yet generated"));
        }
    }
    Ok(chosen)
}

/// The parameter set a key's (or template's) `CKA_PARAMETER_SET` names, for the
/// family `name` ("ML-DSA", ...) whose sets `from_ckp` knows: missing is
/// `CKR_TEMPLATE_INCOMPLETE`, another family's or no set `CKR_ATTRIBUTE_VALUE_INVALID`.
pub fn parameter_set<S>(attrs: &Attrs, name: &str, from_ckp: impl Fn(u64) -> Option<S>) -> Result<S> {
    let v = attrs
        .ulong(CKA_PARAMETER_SET)
        .ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, format!("an {name} key needs CKA_PARAMETER_SET")))?;
    from_ckp(v).ok_or_else(|| {
        err(CKR_ATTRIBUTE_VALUE_INVALID, format!("CKA_PARAMETER_SET {v} is not an {name} parameter set"))
    })
}

/// After generating a parameter-set family's key pair: both halves get the set's
/// `CKA_PARAMETER_SET` (`ckp`), `CKA_PUBLIC_KEY_INFO` (`info`, filled as [`fill`]
/// does) and, the public half, the public key as `CKA_VALUE`.
pub fn stamp_pair(public: &mut Attrs, private: &mut Attrs, ckp: u64, info: Vec<u8>, key: Vec<u8>) -> Result<()> {
    fill(private, info.clone())?;
    fill(public, info)?;
    public.set(CKA_PARAMETER_SET, ulong_value(ckp));
    public.set(CKA_VALUE, key);
    private.set(CKA_PARAMETER_SET, ulong_value(ckp));
    Ok(())
}
