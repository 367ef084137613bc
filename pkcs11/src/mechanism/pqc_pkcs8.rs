//! ML-DSA, ML-KEM and SLH-DSA private keys as PKCS#8 `PrivateKeyInfo` (RFC 5208;
//! version 1, no attributes, no public key), for `C_WrapKey` and `C_UnwrapKey`.
//!
//! The algorithm identifier is the parameter set's OID without parameters. Inside
//! the `privateKey` OCTET STRING:
//!
//! - ML-DSA (RFC 9881 §6) and ML-KEM (RFC 9935 §6):
//!
//!   ```text
//!   PrivateKey ::= CHOICE {
//!     seed        [0] IMPLICIT OCTET STRING,   -- ξ (32 bytes) or d ‖ z (64 bytes)
//!     expandedKey OCTET STRING,                -- skEncode / dk
//!     both        SEQUENCE { seed OCTET STRING, expandedKey OCTET STRING } }
//!   ```
//!
//!   We write `seed` when the key has its seed (what the RFCs recommend and what
//!   OpenSSL writes by default), `expandedKey` when it was imported without one, and
//!   read all three.
//! - SLH-DSA (RFC 9909 §6): the raw private key SK.seed ‖ SK.prf ‖ PK.seed ‖ PK.root.

use cryptoki_sys::*;
use der::asn1::{ContextSpecific, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode, Reader, SliceReader, Tag, TagMode, TagNumber};
use pkcs8::PrivateKeyInfoRef;
use spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use crate::error::{Result, err};
use crate::object::{Attrs, attr::ulong_value};

const SEED_TAG: TagNumber = TagNumber(0);

fn der_err(e: der::Error) -> crate::error::Error {
    err(CKR_GENERAL_ERROR, format!("DER encoding failed: {e}"))
}

fn bad(what: impl std::fmt::Display) -> crate::error::Error {
    // `C_UnwrapKey` reports any decoding failure as CKR_WRAPPED_KEY_INVALID.
    err(CKR_WRAPPED_KEY_INVALID, format!("not a PKCS#8 private key of this type: {what}"))
}

fn foreign(oid: &ObjectIdentifier) -> crate::error::Error {
    bad(format!("the algorithm {oid} is not of this key type"))
}

/// `PrivateKeyInfo` with `oid` (no parameters) around `private_key`.
pub fn encode(oid: &str, private_key: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let oid = ObjectIdentifier::new(oid).map_err(|e| err(CKR_GENERAL_ERROR, format!("{e}")))?;
    let algorithm = AlgorithmIdentifierRef { oid, parameters: None };
    let info = PrivateKeyInfoRef::new(algorithm, OctetStringRef::new(private_key).map_err(der_err)?);
    Ok(Zeroizing::new(info.to_der().map_err(der_err)?))
}

/// The algorithm OID and the `privateKey` octets of a `PrivateKeyInfo` whose
/// algorithm has no parameters (RFC 9881, 9935 and 9909 all say absent).
pub fn decode(der: &[u8]) -> Result<(ObjectIdentifier, Zeroizing<Vec<u8>>)> {
    let info = PrivateKeyInfoRef::from_der(der).map_err(bad)?;
    if info.algorithm.parameters.is_some() {
        return Err(bad("the algorithm identifier has parameters"));
    }
    Ok((info.algorithm.oid, Zeroizing::new(info.private_key.as_bytes().to_vec())))
}

/// The ML-DSA / ML-KEM `PrivateKey` CHOICE for a key with (or without) its seed.
pub fn encode_choice(seed: Option<&[u8]>, expanded: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let der = match seed {
        Some(seed) => {
            let value = OctetStringRef::new(seed).map_err(der_err)?;
            ContextSpecific { tag_number: SEED_TAG, tag_mode: TagMode::Implicit, value }.to_der()
        }
        None => OctetStringRef::new(expanded).map_err(der_err)?.to_der(),
    };
    Ok(Zeroizing::new(der.map_err(der_err)?))
}

/// What an ML-DSA / ML-KEM `PrivateKey` CHOICE held.
#[derive(Default)]
pub struct Choice {
    /// `seed`, or the seed of `both`.
    pub seed: Option<Zeroizing<Vec<u8>>>,
    /// `expandedKey`, or the expanded key of `both`.
    pub expanded: Option<Zeroizing<Vec<u8>>>,
}

/// Reads the `PrivateKey` CHOICE: `seed`, `expandedKey` or `both`.
pub fn decode_choice(octets: &[u8]) -> Result<Choice> {
    let copy = |o: &OctetStringRef| Zeroizing::new(o.as_bytes().to_vec());
    let mut r = SliceReader::new(octets).map_err(bad)?;
    let choice = match Tag::peek(&r).map_err(bad)? {
        Tag::ContextSpecific { constructed: false, number } if number == SEED_TAG => {
            let seed = ContextSpecific::<&OctetStringRef>::decode_implicit(&mut r, SEED_TAG)
                .map_err(bad)?
                .ok_or_else(|| bad("no seed"))?;
            Choice { seed: Some(copy(seed.value)), expanded: None }
        }
        Tag::OctetString => {
            Choice { seed: None, expanded: Some(copy(<&OctetStringRef>::decode(&mut r).map_err(bad)?)) }
        }
        Tag::Sequence => r
            .sequence(|r| {
                let seed = <&OctetStringRef>::decode(r)?;
                let expanded = <&OctetStringRef>::decode(r)?;
                Ok::<_, der::Error>(Choice { seed: Some(copy(seed)), expanded: Some(copy(expanded)) })
            })
            .map_err(bad)?,
        t => return Err(bad(format!("a private key choice cannot start with {t}"))),
    };
    r.finish().map_err(bad)?;
    Ok(choice)
}

/// A parameter-set family's sizes, for [`decode_seeded`].
pub struct Sizes {
    /// The set's `CKP_*` value.
    pub ckp: CK_ULONG,
    /// Its seed length.
    pub seed: usize,
    /// Its expanded private key length.
    pub expanded: usize,
}

/// An ML-DSA or ML-KEM private key as PKCS#8: `seed` when the key has `CKA_SEED`,
/// else `expandedKey` from `CKA_VALUE`.
pub fn encode_seeded(oid: &str, key: &Attrs) -> Result<Zeroizing<Vec<u8>>> {
    let seed = key.get(CKA_SEED).filter(|v| !v.is_empty());
    let value = key.get(CKA_VALUE).unwrap_or_default();
    encode(oid, &encode_choice(seed, value)?)
}

/// The `CKA_PARAMETER_SET`, `CKA_SEED` and/or `CKA_VALUE` of an ML-DSA or ML-KEM
/// PKCS#8 private key; `sizes` gives the family's set for an OID (none: not this
/// family's key). Whether seed and expanded key agree is `validate_import`'s check.
pub fn decode_seeded(der: &[u8], sizes: impl Fn(&str) -> Option<Sizes>) -> Result<Attrs> {
    let (oid, octets) = decode(der)?;
    let set = sizes(&oid.to_string()).ok_or_else(|| foreign(&oid))?;
    let choice = decode_choice(&octets)?;
    let mut attrs = Attrs::default();
    attrs.set(CKA_PARAMETER_SET, ulong_value(set.ckp as u64));
    if let Some(seed) = choice.seed {
        if seed.len() != set.seed {
            return Err(bad(format!("the seed has {} bytes, not {}", seed.len(), set.seed)));
        }
        attrs.set(CKA_SEED, seed.to_vec());
    }
    if let Some(expanded) = choice.expanded {
        if expanded.len() != set.expanded {
            return Err(bad(format!("the expanded key has {} bytes, not {}", expanded.len(), set.expanded)));
        }
        attrs.set(CKA_VALUE, expanded.to_vec());
    }
    Ok(attrs)
}

/// The `CKA_PARAMETER_SET` and `CKA_VALUE` of a PKCS#8 key whose `privateKey` is the
/// raw private key (SLH-DSA); `ckp` gives the family's set for an OID.
pub fn decode_raw(der: &[u8], ckp: impl Fn(&str) -> Option<CK_ULONG>) -> Result<Attrs> {
    let (oid, octets) = decode(der)?;
    let set = ckp(&oid.to_string()).ok_or_else(|| foreign(&oid))?;
    let mut attrs = Attrs::default();
    attrs.set(CKA_PARAMETER_SET, ulong_value(set as u64));
    attrs.set(CKA_VALUE, octets.to_vec());
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_choice_reads_back() {
        let seed = [7u8; 32];
        let expanded = [9u8; 100];
        let s = decode_choice(&encode_choice(Some(&seed), &expanded).unwrap()).unwrap();
        assert_eq!(s.seed.as_deref().map(|v| v.as_slice()), Some(&seed[..]));
        assert!(s.expanded.is_none());
        let e = decode_choice(&encode_choice(None, &expanded).unwrap()).unwrap();
        assert!(e.seed.is_none());
        assert_eq!(e.expanded.as_deref().map(|v| v.as_slice()), Some(&expanded[..]));
        // both: SEQUENCE { OCTET STRING seed, OCTET STRING expanded }
        let mut both = vec![0x30, 0x81, (2 + 32 + 2 + 100) as u8, 0x04, 32];
        both.extend_from_slice(&seed);
        both.extend_from_slice(&[0x04, 100]);
        both.extend_from_slice(&expanded);
        let b = decode_choice(&both).unwrap();
        assert_eq!(b.seed.as_deref().map(|v| v.len()), Some(32));
        assert_eq!(b.expanded.as_deref().map(|v| v.len()), Some(100));
    }

    #[test]
    fn the_seed_is_implicitly_tagged_and_junk_is_refused() {
        let der = encode_choice(Some(&[1, 2, 3]), &[]).unwrap();
        assert_eq!(der.as_slice(), &[0x80, 3, 1, 2, 3]);
        for junk in [&[][..], &[0x02, 1, 0], &[0x80, 3, 1, 2], &[0x04, 1, 0, 0]] {
            assert_eq!(decode_choice(junk).err().map(|e| e.rv()), Some(CKR_WRAPPED_KEY_INVALID), "{junk:02x?}");
        }
    }

    #[test]
    fn private_key_info_round_trips_and_parameters_are_refused() {
        let der = encode("2.16.840.1.101.3.4.3.17", &[0x80, 1, 5]).unwrap();
        let (oid, key) = decode(&der).unwrap();
        assert_eq!(oid.to_string(), "2.16.840.1.101.3.4.3.17");
        assert_eq!(key.as_slice(), &[0x80, 1, 5]);
        // The same with NULL parameters.
        let oid = ObjectIdentifier::new("2.16.840.1.101.3.4.3.17").unwrap();
        let null = der::asn1::AnyRef::from(der::asn1::Null);
        let info = PrivateKeyInfoRef::new(
            AlgorithmIdentifierRef { oid, parameters: Some(null) },
            OctetStringRef::new(&[0x80, 1, 5]).unwrap(),
        );
        assert_eq!(decode(&info.to_der().unwrap()).err().map(|e| e.rv()), Some(CKR_WRAPPED_KEY_INVALID));
    }
}
