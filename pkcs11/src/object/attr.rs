//! Attribute values inside the module.
//!
//! Values are kept in one canonical, platform-independent form, which is also what
//! the store keeps:
//!
//! | kind | canonical form | C form |
//! |---|---|---|
//! | [`Kind::Bool`] | 1 byte, 0 or 1 | `CK_BBOOL` |
//! | [`Kind::Ulong`] | `u64` little-endian | `CK_ULONG` |
//! | [`Kind::MechList`] | `u64` LE each | `CK_MECHANISM_TYPE[]` |
//! | [`Kind::Template`] | (`type u64 LE`, `len u32 LE`, canonical value)* | `CK_ATTRIBUTE[]` |
//! | [`Kind::Bytes`], [`Kind::Date`] | the bytes | the bytes |
//!
//! The FFI layer converts between the two at the boundary; nothing else sees
//! `CK_ULONG` widths.

use cryptoki_sys::*;
use zeroize::Zeroize;

use crate::error::{Attr, Result, err};
use crate::vendor::*;

/// The C type of an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `CK_BBOOL`.
    Bool,
    /// `CK_ULONG` (and the `CK_*_TYPE` aliases).
    Ulong,
    /// A byte string (including UTF-8 strings and big integers).
    Bytes,
    /// `CK_DATE`: 8 ASCII digits, or empty.
    Date,
    /// An array of `CK_MECHANISM_TYPE`.
    MechList,
    /// An array of `CK_ATTRIBUTE` (wrap, unwrap and derive templates).
    Template,
}

/// The C type of attribute `ty`. Types this module does not know are byte strings.
pub fn kind(ty: CK_ATTRIBUTE_TYPE) -> Kind {
    match ty {
        CKA_TOKEN
        | CKA_PRIVATE
        | CKA_MODIFIABLE
        | CKA_COPYABLE
        | CKA_DESTROYABLE
        | CKA_TRUSTED
        | CKA_SENSITIVE
        | CKA_ENCRYPT
        | CKA_DECRYPT
        | CKA_WRAP
        | CKA_UNWRAP
        | CKA_SIGN
        | CKA_SIGN_RECOVER
        | CKA_VERIFY
        | CKA_VERIFY_RECOVER
        | CKA_DERIVE
        | CKA_EXTRACTABLE
        | CKA_LOCAL
        | CKA_NEVER_EXTRACTABLE
        | CKA_ALWAYS_SENSITIVE
        | CKA_WRAP_WITH_TRUSTED
        | CKA_ALWAYS_AUTHENTICATE
        | CKA_ENCAPSULATE
        | CKA_DECAPSULATE
        | CKA_FERRO_INVALIDATED
        | CKA_FERRO_POLICY_ALLOW_EXPORT
        | CKA_FERRO_POLICY_KEY_INVALIDATION
        | CKA_FERRO_POLICY_READ_ONLY => Kind::Bool,
        CKA_CLASS
        | CKA_KEY_TYPE
        | CKA_CERTIFICATE_TYPE
        | CKA_CERTIFICATE_CATEGORY
        | CKA_JAVA_MIDP_SECURITY_DOMAIN
        | CKA_NAME_HASH_ALGORITHM
        | CKA_MODULUS_BITS
        | CKA_VALUE_LEN
        | CKA_VALUE_BITS
        | CKA_PRIME_BITS
        | CKA_KEY_GEN_MECHANISM
        | CKA_PARAMETER_SET
        | CKA_FERRO_ORIGIN
        | CKA_FERRO_KEY_ROLE
        | CKA_FERRO_USAGE_COUNT
        | CKA_FERRO_POLICY_MAX_PIN_FAILURES
        | CKA_FERRO_POLICY_MIN_PIN_LEN
        | CKA_FERRO_SLOT_ID => Kind::Ulong,
        CKA_START_DATE | CKA_END_DATE => Kind::Date,
        CKA_ALLOWED_MECHANISMS => Kind::MechList,
        CKA_WRAP_TEMPLATE
        | CKA_UNWRAP_TEMPLATE
        | CKA_DERIVE_TEMPLATE
        | CKA_ENCAPSULATE_TEMPLATE
        | CKA_DECAPSULATE_TEMPLATE => Kind::Template,
        _ => Kind::Bytes,
    }
}

/// Canonical `CK_BBOOL`.
pub fn bool_value(b: bool) -> Vec<u8> {
    vec![b as u8]
}

/// Canonical `CK_ULONG`.
pub fn ulong_value(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// Reads a canonical `CK_BBOOL`.
pub fn as_bool(v: &[u8]) -> Option<bool> {
    match v {
        [b] => Some(*b != 0),
        _ => None,
    }
}

/// Reads a canonical `CK_ULONG`.
pub fn as_ulong(v: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(v.try_into().ok()?))
}

/// Checks that a canonical value is well-formed for its kind.
pub fn check_value(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Result<()> {
    let ok = match kind(ty) {
        Kind::Bool => v.len() == 1,
        Kind::Ulong => v.len() == 8,
        Kind::MechList => v.len().is_multiple_of(8),
        Kind::Date => v.is_empty() || (v.len() == 8 && v.iter().all(u8::is_ascii_digit)),
        // A nested template's values follow the same rules.
        Kind::Template => Template::decode(v).is_ok_and(|t| t.0.iter().all(|(ty, v)| check_value(*ty, v).is_ok())),
        Kind::Bytes => true,
    };
    if ok { Ok(()) } else { Err(err(CKR_ATTRIBUTE_VALUE_INVALID, format!("{} has a malformed value", Attr(ty)))) }
}

/// A list of attributes as a caller gave them (canonical values). Zeroized on drop:
/// templates carry key material.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Template(pub Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>);

impl Drop for Template {
    fn drop(&mut self) {
        for (_, v) in &mut self.0 {
            v.zeroize();
        }
    }
}

impl Template {
    /// The value of the first `ty`, if present.
    pub fn get(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.0.iter().find(|(t, _)| *t == ty).map(|(_, v)| v.as_slice())
    }

    /// A `CK_ULONG` attribute, checked.
    pub fn ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Result<Option<u64>> {
        self.get(ty)
            .map(|v| {
                as_ulong(v).ok_or_else(|| err(CKR_ATTRIBUTE_VALUE_INVALID, format!("{} is not a CK_ULONG", Attr(ty))))
            })
            .transpose()
    }

    /// A `CK_BBOOL` attribute, checked.
    pub fn bool(&self, ty: CK_ATTRIBUTE_TYPE) -> Result<Option<bool>> {
        self.get(ty)
            .map(|v| {
                as_bool(v).ok_or_else(|| err(CKR_ATTRIBUTE_VALUE_INVALID, format!("{} is not a CK_BBOOL", Attr(ty))))
            })
            .transpose()
    }

    /// The canonical encoding of a nested template.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (t, v) in &self.0 {
            out.extend_from_slice(&(*t as u64).to_le_bytes());
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
        out
    }

    /// Decodes [`Template::encode`]'s output.
    pub fn decode(mut b: &[u8]) -> Result<Self> {
        let bad = || err(CKR_ATTRIBUTE_VALUE_INVALID, "malformed attribute template");
        let mut out = Vec::new();
        while !b.is_empty() {
            if b.len() < 12 {
                return Err(bad());
            }
            let t = u64::from_le_bytes(b[..8].try_into().map_err(|_| bad())?);
            let n = u32::from_le_bytes(b[8..12].try_into().map_err(|_| bad())?) as usize;
            let v = b.get(12..12 + n).ok_or_else(bad)?;
            out.push((t as CK_ATTRIBUTE_TYPE, v.to_vec()));
            b = &b[12 + n..];
        }
        Ok(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_round_trip_and_reject_garbage() {
        let t = Template(vec![(CKA_CLASS, ulong_value(CKO_SECRET_KEY)), (CKA_LABEL, b"k".to_vec())]);
        assert_eq!(Template::decode(&t.encode()).unwrap(), t);
        let enc = t.encode();
        assert!(Template::decode(&enc[..enc.len() - 1]).is_err());
        assert!(check_value(CKA_WRAP_TEMPLATE, &enc).is_ok());
        assert!(check_value(CKA_WRAP_TEMPLATE, &[1, 2, 3]).is_err());
    }

    #[test]
    fn value_shapes_are_checked() {
        assert!(check_value(CKA_TOKEN, &[1]).is_ok());
        assert!(check_value(CKA_TOKEN, &[1, 0]).is_err());
        assert!(check_value(CKA_CLASS, &[0; 8]).is_ok());
        assert!(check_value(CKA_CLASS, &[0; 4]).is_err());
        assert!(check_value(CKA_START_DATE, b"20261122").is_ok());
        assert!(check_value(CKA_START_DATE, b"2026-11-").is_err());
        assert!(check_value(CKA_START_DATE, b"").is_ok());
    }
}
