//! The object identifiers the verifier meets, by name.
//!
//! Ours come from docs/attestation.md ("Object identifiers"); the rest from the RFCs
//! named beside each.
//!
//! Our arc is a UUID arc (`2.25.` and a 128-bit number). `const-oid`, which the
//! RustCrypto crates use for every OBJECT IDENTIFIER, refuses arcs above 32 bits, so
//! a certificate or CMS that carries one of our OIDs in an OID field does not decode
//! with `x509-cert` or `cms`. The verifier therefore reads certificates and CMS with
//! its own structures, where such fields are a [`RawOid`] (any arc size).

use std::fmt;
use std::sync::LazyLock;

use der::asn1::ObjectIdentifier as Oid;
use der::{DecodeValue, EncodeValue, FixedTag, Header, Length, Reader, Tag, Writer};

/// Our arc, a UUID arc.
pub const FERRO_ARC: &str = "2.25.36854759746227648345030761591017072291";
/// `id-ferro-keyAttestation` (`…291.1`): the certificate extension with a key's claims.
pub static KEY_ATTESTATION: LazyLock<RawOid> = LazyLock::new(|| RawOid::ferro(1));
/// `id-ferro-evidence` (`…291.2`): the eContentType of signed JSON evidence.
pub static EVIDENCE: LazyLock<RawOid> = LazyLock::new(|| RawOid::ferro(2));
/// `id-ferro-kp-attestation` (`…291.3`): the extended key usage of attestation keys.
pub static KP_ATTESTATION: LazyLock<RawOid> = LazyLock::new(|| RawOid::ferro(3));

/// An OBJECT IDENTIFIER kept as its content octets, so that arcs of any size decode
/// (X.690 8.19: each subidentifier base 128, high bit set on all but the last byte).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawOid(Vec<u8>);

impl RawOid {
    /// Parses the dotted form. Arcs up to 128 bits.
    pub fn parse(dotted: &str) -> Result<RawOid, String> {
        let arcs: Vec<u128> = dotted
            .split('.')
            .map(|a| a.parse::<u128>().map_err(|_| format!("{dotted:?} is not an OID")))
            .collect::<Result<_, _>>()?;
        let [first, second, rest @ ..] = &arcs[..] else {
            return Err(format!("{dotted:?} has fewer than two arcs"));
        };
        if *first > 2 || (*first < 2 && *second >= 40) {
            return Err(format!("{dotted:?} is not an OID"));
        }
        let mut out = Vec::new();
        for arc in std::iter::once(first * 40 + second).chain(rest.iter().copied()) {
            let mut groups = vec![(arc & 0x7f) as u8];
            let mut v = arc >> 7;
            while v > 0 {
                groups.push((v & 0x7f) as u8 | 0x80);
                v >>= 7;
            }
            out.extend(groups.iter().rev());
        }
        Ok(RawOid(out))
    }

    fn ferro(n: u32) -> RawOid {
        RawOid::parse(&format!("{FERRO_ARC}.{n}")).expect("our arc is an OID")
    }

    /// The content octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Is this the standard OID `oid`?
    pub fn is(&self, oid: &Oid) -> bool {
        self.0 == oid.as_bytes()
    }

    /// The arcs, each at most 128 bits; `None` when malformed or larger.
    fn arcs(&self) -> Option<Vec<u128>> {
        let mut out = Vec::new();
        let mut v: u128 = 0;
        let mut in_arc = false;
        for &b in &self.0 {
            if v >> 121 != 0 {
                return None;
            }
            v = (v << 7) | u128::from(b & 0x7f);
            in_arc = b & 0x80 != 0;
            if !in_arc {
                if out.is_empty() {
                    let first = (v / 40).min(2);
                    out.push(first);
                    out.push(v - first * 40);
                } else {
                    out.push(v);
                }
                v = 0;
            }
        }
        if in_arc || out.is_empty() { None } else { Some(out) }
    }
}

impl From<Oid> for RawOid {
    fn from(oid: Oid) -> RawOid {
        RawOid(oid.as_bytes().to_vec())
    }
}

impl fmt::Display for RawOid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.arcs() {
            Some(arcs) => {
                let s: Vec<String> = arcs.iter().map(u128::to_string).collect();
                f.write_str(&s.join("."))
            }
            None => write!(f, "(malformed OID {})", super::hex::encode(&self.0)),
        }
    }
}

impl fmt::Debug for RawOid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawOid({self})")
    }
}

impl<'a> DecodeValue<'a> for RawOid {
    type Error = der::Error;
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bytes = reader.read_vec(header.length())?;
        // X.690 8.19.2: no leading 0x80 in a subidentifier, and the last byte ends one.
        let malformed = bytes.is_empty()
            || bytes.last().is_some_and(|b| b & 0x80 != 0)
            || bytes.iter().enumerate().any(|(i, &b)| b == 0x80 && (i == 0 || bytes[i - 1] & 0x80 == 0));
        if malformed {
            return Err(Tag::ObjectIdentifier.value_error().into());
        }
        Ok(RawOid(bytes))
    }
}

impl EncodeValue for RawOid {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(&self.0)
    }
}

impl FixedTag for RawOid {
    const TAG: Tag = Tag::ObjectIdentifier;
}

impl der::ValueOrd for RawOid {
    fn value_cmp(&self, other: &Self) -> der::Result<std::cmp::Ordering> {
        Ok(self.0.cmp(&other.0))
    }
}

/// `id-aa-attestation` (draft-ietf-lamps-csr-attestation; early-allocated as
/// `id-aa-evidence`): the PKCS#10 attribute carrying an `AttestationBundle`.
pub const AA_ATTESTATION: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.59");
/// `extensionRequest` (RFC 2985): requested extensions in a PKCS#10 request.
pub const EXTENSION_REQUEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.14");

/// `id-signedData` (RFC 5652).
pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
/// `id-contentType` signed attribute (RFC 5652).
pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
/// `id-messageDigest` signed attribute (RFC 5652).
pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
/// `id-signingTime` signed attribute (RFC 5652).
pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");

/// Certificate extensions (RFC 5280).
pub const SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");
/// keyUsage.
pub const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
/// subjectAltName.
pub const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
/// basicConstraints.
pub const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
/// authorityKeyIdentifier.
pub const AUTHORITY_KEY_ID: Oid = Oid::new_unwrap("2.5.29.35");
/// extKeyUsage.
pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
/// id-kp-emailProtection (RFC 5280).
pub const KP_EMAIL_PROTECTION: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.4");

/// Digests (RFC 5754).
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
/// SHA-384.
pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
/// SHA-512.
pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

/// Signature algorithms (RFC 5758, RFC 4055, RFC 8410).
pub const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
/// ecdsa-with-SHA384.
pub const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
/// ecdsa-with-SHA512.
pub const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
/// sha256WithRSAEncryption.
pub const RSA_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
/// sha384WithRSAEncryption.
pub const RSA_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
/// sha512WithRSAEncryption.
pub const RSA_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
/// id-Ed25519 (as a signature algorithm and as a key algorithm).
pub const ED25519: Oid = Oid::new_unwrap("1.3.101.112");

/// Key algorithms.
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey.
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 (P-256).
pub const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1 (P-384).
pub const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
/// secp521r1 (P-521).
pub const P521: Oid = Oid::new_unwrap("1.3.132.0.35");
/// id-X25519.
pub const X25519: Oid = Oid::new_unwrap("1.3.101.110");
/// id-Ed448.
pub const ED448: Oid = Oid::new_unwrap("1.3.101.113");

/// The name we print for a curve OID, as the JSON claims name curves.
pub fn curve_name(oid: &RawOid) -> String {
    for (known, name) in
        [(P256, "P-256"), (P384, "P-384"), (P521, "P-521"), (ED25519, "Ed25519"), (ED448, "Ed448"), (X25519, "X25519")]
    {
        if oid.is(&known) {
            return name.into();
        }
    }
    oid.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::{Decode, Encode};

    #[test]
    fn our_arc_round_trips() {
        let oid = &*KEY_ATTESTATION;
        assert_eq!(oid.to_string(), format!("{FERRO_ARC}.1"));
        let der = oid.to_der().unwrap();
        assert_eq!(der[0], 0x06);
        // 2.25 is 0x69; the UUID arc takes 18 bytes base 128; then .1.
        assert_eq!(der[2], 0x69);
        assert_eq!(*der.last().unwrap(), 0x01);
        assert_eq!(RawOid::from_der(&der).unwrap(), *oid);
        assert!(RawOid::from(P256).is(&P256));
        assert_eq!(RawOid::from(P256).to_string(), "1.2.840.10045.3.1.7");
        // A leading 0x80 and an unfinished subidentifier are refused.
        assert!(RawOid::from_der(&[0x06, 0x02, 0x2a, 0x80]).is_err());
        assert!(RawOid::from_der(&[0x06, 0x02, 0x80, 0x01]).is_err());
    }
}
