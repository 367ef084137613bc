//! Object identifiers: ours (docs/attestation.md, "Object identifiers") and the
//! standard ones the attestation formats use.
//!
//! Ours sit under a UUID arc (ITU-T X.667), `2.25.36854759746227648345030761591017072291`,
//! whose second arc is a 128-bit number. `der::asn1::ObjectIdentifier` (const-oid)
//! holds arcs of at most 32 bits and refuses to decode or build ours, so they are an
//! [`Oid`]: the encoded value bytes, computed at compile time from the dotted form,
//! with arcs up to 128 bits. Standard OIDs stay `ObjectIdentifier`s, the type the
//! RustCrypto structures take; [`Oid::from`] borrows one where an [`Oid`] is needed.

use std::cmp::Ordering;
use std::fmt;

use der::asn1::ObjectIdentifier;
use der::{DecodeValue, EncodeValue, FixedTag, Header, Length, Reader, Tag, ValueOrd, Writer};

/// An OBJECT IDENTIFIER as its DER value (X.690 §8.19: the arcs in base 128, the first
/// two folded into one), with no limit on the size of an arc.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Oid<'a>(&'a [u8]);

impl<'a> Oid<'a> {
    /// The DER value bytes (no tag, no length).
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Checks that `value` is a well-formed OID value: not empty, and every arc ends
    /// (its last byte has the high bit clear) and is minimal (does not start with 0x80).
    pub fn from_value(value: &'a [u8]) -> Option<Self> {
        let well_formed = !value.is_empty()
            && value[value.len() - 1] & 0x80 == 0
            && value.iter().enumerate().all(|(i, &b)| b != 0x80 || (i > 0 && value[i - 1] & 0x80 != 0));
        well_formed.then_some(Self(value))
    }

    /// Whether this is the standard `oid`.
    pub fn is(&self, oid: &ObjectIdentifier) -> bool {
        self.0 == oid.as_bytes()
    }

    /// The `ObjectIdentifier` of const-oid, when every arc fits its 32 bits.
    pub fn to_object_identifier(&self) -> Option<ObjectIdentifier> {
        ObjectIdentifier::from_bytes(self.0).ok()
    }
}

impl<'a> From<&'a ObjectIdentifier> for Oid<'a> {
    fn from(oid: &'a ObjectIdentifier) -> Self {
        Oid(oid.as_bytes())
    }
}

/// The dotted form; arcs beyond 128 bits (which nobody uses) print as `?`.
impl fmt::Display for Oid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut arc: Option<u128> = Some(0);
        let mut first = true;
        for &b in self.0 {
            arc = arc.and_then(|a| a.checked_mul(128)).map(|a| a | u128::from(b & 0x7f));
            if b & 0x80 != 0 {
                continue;
            }
            match (arc, first) {
                (Some(a), true) => {
                    let (x, y) = if a < 80 { (a / 40, a % 40) } else { (2, a - 80) };
                    write!(f, "{x}.{y}")?;
                }
                (Some(a), false) => write!(f, ".{a}")?,
                (None, _) => f.write_str(if first { "?" } else { ".?" })?,
            }
            first = false;
            arc = Some(0);
        }
        Ok(())
    }
}

impl fmt::Debug for Oid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

impl FixedTag for Oid<'_> {
    const TAG: Tag = Tag::ObjectIdentifier;
}

impl EncodeValue for Oid<'_> {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.0)
    }
}

impl<'a> DecodeValue<'a> for Oid<'a> {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let value = reader.read_slice(header.length())?;
        Oid::from_value(value).ok_or_else(|| Tag::ObjectIdentifier.value_error().into())
    }
}

impl ValueOrd for Oid<'_> {
    fn value_cmp(&self, other: &Self) -> der::Result<Ordering> {
        Ok(self.0.cmp(other.0))
    }
}

/// The length of the DER value of a dotted OID (arcs up to 128 bits).
const fn encoded_len(dotted: &str) -> usize {
    let mut len = 0;
    let mut arcs = Arcs::new(dotted);
    let first = arcs.next_arc();
    let second = arcs.next_arc();
    let (Some(first), Some(second)) = (first, second) else { panic!("an OID has at least two arcs") };
    len += base128_len(first * 40 + second);
    while let Some(arc) = arcs.next_arc() {
        len += base128_len(arc);
    }
    len
}

/// The DER value of a dotted OID; `N` must be [`encoded_len`] of it.
const fn encode<const N: usize>(dotted: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    let mut arcs = Arcs::new(dotted);
    let (Some(first), Some(second)) = (arcs.next_arc(), arcs.next_arc()) else { panic!("two arcs") };
    assert!(first <= 2 && (first == 2 || second < 40), "X.660: the first arcs are 0.0-39, 1.0-39 or 2.x");
    at = put_base128(&mut out, at, first * 40 + second);
    while let Some(arc) = arcs.next_arc() {
        at = put_base128(&mut out, at, arc);
    }
    assert!(at == N, "N is not the encoded length");
    out
}

const fn base128_len(mut v: u128) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

const fn put_base128(out: &mut [u8], at: usize, v: u128) -> usize {
    let n = base128_len(v);
    let mut i = 0;
    while i < n {
        let shift = 7 * (n - 1 - i);
        let more = if i + 1 < n { 0x80 } else { 0 };
        out[at + i] = ((v >> shift) & 0x7f) as u8 | more;
        i += 1;
    }
    at + n
}

/// The arcs of a dotted OID, as a `const` iterator.
struct Arcs<'s> {
    s: &'s [u8],
    at: usize,
}

impl<'s> Arcs<'s> {
    const fn new(s: &'s str) -> Self {
        Self { s: s.as_bytes(), at: 0 }
    }

    const fn next_arc(&mut self) -> Option<u128> {
        if self.at >= self.s.len() {
            return None;
        }
        let mut v: u128 = 0;
        let mut digits = 0;
        while self.at < self.s.len() && self.s[self.at] != b'.' {
            let d = self.s[self.at];
            assert!(d.is_ascii_digit(), "an arc is decimal digits");
            v = match v.checked_mul(10) {
                Some(x) => match x.checked_add((d - b'0') as u128) {
                    Some(y) => y,
                    None => panic!("arc over 128 bits"),
                },
                None => panic!("arc over 128 bits"),
            };
            digits += 1;
            self.at += 1;
        }
        assert!(digits > 0, "empty arc");
        self.at += 1; // the dot
        Some(v)
    }
}

/// Defines an [`Oid`] constant from its dotted form, encoded at compile time.
macro_rules! oid {
    ($(#[$doc:meta])* $name:ident = $dotted:expr) => {
        $(#[$doc])*
        pub const $name: Oid<'static> = {
            const N: usize = encoded_len($dotted);
            const VALUE: [u8; N] = encode::<N>($dotted);
            Oid(&VALUE)
        };
    };
}

/// The arc, dotted.
pub const ARC_DOTTED: &str = "2.25.36854759746227648345030761591017072291";

oid!(
    /// Our arc: `2.25.36854759746227648345030761591017072291` (a UUID arc).
    ARC = "2.25.36854759746227648345030761591017072291"
);
oid!(
    /// `id-ferro-keyAttestation` (`…291.1`): the certificate extension carrying a key's claims.
    KEY_ATTESTATION = "2.25.36854759746227648345030761591017072291.1"
);
oid!(
    /// `id-ferro-evidence` (`…291.2`): the CMS eContentType of signed JSON evidence.
    EVIDENCE = "2.25.36854759746227648345030761591017072291.2"
);
oid!(
    /// `id-ferro-kp-attestation` (`…291.3`): the extended key usage of attestation keys.
    KP_ATTESTATION = "2.25.36854759746227648345030761591017072291.3"
);
oid!(
    /// `id-ferro-tsaPolicy` (`…291.4`): the TSA policy of timestamp tokens.
    TSA_POLICY = "2.25.36854759746227648345030761591017072291.4"
);

// Standard OIDs, as const-oid values.

/// `id-kp-emailProtection` (RFC 5280 §4.2.1.12).
pub const KP_EMAIL_PROTECTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4");
/// `id-kp-timeStamping` (RFC 5280 §4.2.1.12, RFC 3161 §2.3).
pub const KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// `id-at-commonName` (X.520).
pub const AT_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// `id-at-serialNumber` (X.520; a PrintableString).
pub const AT_SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
/// `id-at-organizationName` (X.520).
pub const AT_ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
/// `id-at-organizationalUnitName` (X.520).
pub const AT_ORGANIZATIONAL_UNIT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");

/// `ecdsa-with-SHA256` (RFC 5758 §3.2).
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `ecdsa-with-SHA384` (RFC 5758 §3.2).
pub const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// `ecdsa-with-SHA512` (RFC 5758 §3.2).
pub const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
/// `id-sha256` (RFC 5754 §2).
pub const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// `id-sha384` (RFC 5754 §2).
pub const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
/// `id-sha512` (RFC 5754 §2).
pub const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// `id-data` (RFC 5652 §4).
pub const CT_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// `id-signedData` (RFC 5652 §5.1).
pub const CT_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// `id-contentType` (RFC 5652 §11.1).
pub const AA_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// `id-messageDigest` (RFC 5652 §11.2).
pub const AA_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// `id-signingTime` (RFC 5652 §11.3).
pub const AA_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
/// `id-ct-TSTInfo` (RFC 3161 §2.4.2): the eContentType of a timestamp token.
pub const CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// `id-aa-signingCertificateV2` (RFC 5035 §3): the signed attribute naming a
/// timestamp token's signer certificate by its hash.
pub const AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// `secp256r1` (RFC 5480 §2.1.1.1).
pub const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `secp384r1` (RFC 5480 §2.1.1.1).
pub const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// `secp521r1` (RFC 5480 §2.1.1.1).
pub const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
/// `id-Ed25519` (RFC 8410 §3).
pub const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_oids_encode_their_dotted_form() {
        // The arc's value by hand: 2.25 folds into 2*40+25 = 105 = 0x69, then the UUID
        // number in base 128 (19 bytes: 128 bits need 19 groups of 7).
        assert_eq!(ARC.as_bytes()[0], 0x69);
        assert_eq!(ARC.as_bytes().len(), 1 + base128_len(36854759746227648345030761591017072291));
        assert_eq!(ARC.to_string(), ARC_DOTTED);
        for (oid, last) in [(KEY_ATTESTATION, 1), (EVIDENCE, 2), (KP_ATTESTATION, 3), (TSA_POLICY, 4)] {
            assert_eq!(oid.to_string(), format!("{ARC_DOTTED}.{last}"));
            assert_eq!(&oid.as_bytes()[..ARC.as_bytes().len()], ARC.as_bytes());
            assert_eq!(oid.as_bytes()[ARC.as_bytes().len()..], [last]);
            assert_eq!(Oid::from_value(oid.as_bytes()), Some(oid));
            // const-oid cannot hold a 125-bit arc: the reason for this type.
            assert!(oid.to_object_identifier().is_none());
        }
    }

    #[test]
    fn standard_oids_agree_with_const_oid() {
        const { assert!(encoded_len("1.2.840.10045.4.3.2") == 8) };
        let ours = encode::<8>("1.2.840.10045.4.3.2");
        assert_eq!(ours, ECDSA_WITH_SHA256.as_bytes());
        for std in [SECP384R1, ED25519, KP_TIME_STAMPING, CT_SIGNED_DATA, SHA512] {
            let o = Oid::from(&std);
            assert_eq!(o.to_string(), std.to_string());
            assert!(o.is(&std));
            assert_eq!(o.to_object_identifier(), Some(std));
        }
    }

    #[test]
    fn malformed_values_are_refused() {
        assert!(Oid::from_value(&[]).is_none());
        assert!(Oid::from_value(&[0x2a, 0x86]).is_none(), "unterminated arc");
        assert!(Oid::from_value(&[0x2a, 0x80, 0x01]).is_none(), "non-minimal arc");
        assert!(Oid::from_value(&[0x80, 0x01]).is_none(), "non-minimal first arc");
        assert!(Oid::from_value(&[0x2a, 0x86, 0x80, 0x01]).is_some(), "0x80 inside an arc is fine");
    }
}
