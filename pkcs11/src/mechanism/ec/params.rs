//! The encodings of EC keys in attributes: `CKA_EC_PARAMS` (which curve),
//! `CKA_EC_POINT` (the public key) and `CKA_PUBLIC_KEY_INFO` (SubjectPublicKeyInfo).

use cryptoki_sys::*;
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef, PrintableStringRef};
use der::{Decode, Encode};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use crate::crypto::ec::Curve;
use crate::error::{Error, Result, err};
use crate::object::Attrs;

/// `id-ecPublicKey` (RFC 5480 §2.1.1).
pub const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `secp256r1` (RFC 5480 §2.1.1.1).
pub const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `secp384r1` (RFC 5480 §2.1.1.1).
pub const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// `secp521r1` (RFC 5480 §2.1.1.1).
pub const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
/// `id-Ed25519` (RFC 8410 §3), the curve's OID in PKCS#11 v3.1 §6.3.5 too.
pub const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// The OpenPGP OID of Ed25519 (RFC 9580 §9.2), which GnuPG-era tools put in
/// `CKA_EC_PARAMS`.
pub const OPENPGP_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11591.15.1");

/// The named-curve OID of a curve, as it appears in SubjectPublicKeyInfo and PKCS#8.
pub fn curve_oid(curve: Curve) -> ObjectIdentifier {
    match curve {
        Curve::P256 => SECP256R1,
        Curve::P384 => SECP384R1,
        Curve::P521 => SECP521R1,
        Curve::Ed25519 => ID_ED25519,
    }
}

/// The curve of a named-curve OID.
pub fn curve_of_oid(oid: &ObjectIdentifier) -> Option<Curve> {
    Some(match *oid {
        SECP256R1 => Curve::P256,
        SECP384R1 => Curve::P384,
        SECP521R1 => Curve::P521,
        ID_ED25519 | OPENPGP_ED25519 => Curve::Ed25519,
        _ => return None,
    })
}

/// The curve of a printable name: the SEC 2 and X9.62 names OpenSSL uses, the NIST
/// names, and the names PKCS#11 v3.0 §2.3.10 gives for Edwards curves.
fn curve_of_name(name: &str) -> Option<Curve> {
    const NAMES: &[(&str, Curve)] = &[
        ("prime256v1", Curve::P256),
        ("secp256r1", Curve::P256),
        ("P-256", Curve::P256),
        ("nistp256", Curve::P256),
        ("secp384r1", Curve::P384),
        ("P-384", Curve::P384),
        ("nistp384", Curve::P384),
        ("secp521r1", Curve::P521),
        ("P-521", Curve::P521),
        ("nistp521", Curve::P521),
        ("edwards25519", Curve::Ed25519),
        ("Ed25519", Curve::Ed25519),
    ];
    NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, c)| *c)
}

/// Reads `CKA_EC_PARAMS`: the DER of X9.62 `Parameters` (PKCS#11 v3.0 §2.3.3), of
/// which this module takes two choices: `namedCurve` (an OID, what OpenSSL and
/// pkcs11-tool send for the NIST curves) and `curveName` (a PrintableString, what
/// pkcs11-tool sends for `EC:edwards25519`).
///
/// Explicit parameters (`ecParameters`) and `implicitlyCA` are well-formed but not
/// supported: `CKR_CURVE_NOT_SUPPORTED`, like an unknown OID or name. Anything that is
/// not one of the four choices, or not well-formed DER, is `CKR_ATTRIBUTE_VALUE_INVALID`.
pub fn parse_params(params: &[u8]) -> Result<Curve> {
    let malformed = || err(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_EC_PARAMS is not DER-encoded curve parameters");
    let unsupported = |what: String| err(CKR_CURVE_NOT_SUPPORTED, format!("CKA_EC_PARAMS: {what} is not supported"));
    match params.first() {
        // OBJECT IDENTIFIER
        Some(0x06) => {
            let oid = ObjectIdentifier::from_der(params).map_err(|_| malformed())?;
            curve_of_oid(&oid).ok_or_else(|| unsupported(format!("curve {oid}")))
        }
        // PrintableString
        Some(0x13) => {
            let name = PrintableStringRef::from_der(params).map_err(|_| malformed())?;
            curve_of_name(name.as_str()).ok_or_else(|| unsupported(format!("curve {:?}", name.as_str())))
        }
        // SEQUENCE (ecParameters) or NULL (implicitlyCA)
        Some(0x30 | 0x05) => {
            AnyRef::from_der(params).map_err(|_| malformed())?;
            Err(unsupported("a curve not given by name".into()))
        }
        _ => Err(malformed()),
    }
}

/// The curve of `CKA_EC_PARAMS` for a key of type `key_type`: the NIST curves are
/// `CKK_EC`, Ed25519 is `CKK_EC_EDWARDS`. A curve of the other type is
/// `CKR_CURVE_NOT_SUPPORTED` (the key type does not support it).
pub fn curve_for(key_type: CK_KEY_TYPE, params: &[u8]) -> Result<Curve> {
    let curve = parse_params(params)?;
    match (key_type, curve.is_edwards()) {
        (CKK_EC, false) | (CKK_EC_EDWARDS, true) => Ok(curve),
        _ => Err(err(CKR_CURVE_NOT_SUPPORTED, format!("{curve:?} is not a curve of this key type"))),
    }
}

/// The curve of a stored EC key object's attributes.
pub fn curve_of(attrs: &Attrs) -> Result<Curve> {
    let kt = attrs.ulong(CKA_KEY_TYPE).unwrap_or(CK_UNAVAILABLE_INFORMATION as u64) as CK_KEY_TYPE;
    let params = attrs.get(CKA_EC_PARAMS).ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, "no CKA_EC_PARAMS"))?;
    curve_for(kt, params)
}

/// `CKA_EC_POINT` as the token writes it: the DER OCTET STRING around the public key
/// (PKCS#11 v3.0 §2.3.3 for the NIST curves: "DER-encoding of ANSI X9.62 ECPoint
/// value Q"; the same wrapping for Ed25519, as OpenSC and OpenSSL's pkcs11-provider
/// read it).
pub fn encode_point(public: &[u8]) -> Vec<u8> {
    OctetStringRef::new(public).and_then(|o| o.to_der()).expect("a short OCTET STRING always encodes")
}

/// The public key in a `CKA_EC_POINT` value or an ECDH peer's public value, which
/// applications give in either form: the DER OCTET STRING, or the raw key (SEC 1
/// uncompressed point, or the 32 Ed25519 bytes). The lengths tell them apart: a
/// raw key has exactly [`Curve::public_len`] bytes, the wrapped one 2 or 3 more.
/// Returns `None` for anything else.
pub fn decode_point(curve: Curve, value: &[u8]) -> Option<&[u8]> {
    let raw = |b: &[u8]| b.len() == curve.public_len() && (curve.is_edwards() || b[0] == 0x04);
    if raw(value) {
        return Some(value);
    }
    let inner = <&OctetStringRef>::from_der(value).ok()?.as_bytes();
    raw(inner).then_some(inner)
}

/// The SubjectPublicKeyInfo of a public key (RFC 5480 §2 for the NIST curves, with
/// the named curve as parameters; RFC 8410 §4 for Ed25519, without parameters).
pub fn spki(curve: Curve, public: &[u8]) -> Result<Vec<u8>> {
    let curve_oid = curve_oid(curve);
    let algorithm = match curve {
        Curve::Ed25519 => AlgorithmIdentifierRef { oid: ID_ED25519, parameters: None },
        _ => AlgorithmIdentifierRef { oid: ID_EC_PUBLIC_KEY, parameters: Some(AnyRef::from(&curve_oid)) },
    };
    let key = BitStringRef::from_bytes(public).map_err(der_error)?;
    SubjectPublicKeyInfoRef { algorithm, subject_public_key: key }.to_der().map_err(der_error)
}

/// Fills `CKA_PUBLIC_KEY_INFO` from the public key, or checks a value the caller
/// gave: it must be the key's SubjectPublicKeyInfo (`CKR_TEMPLATE_INCONSISTENT`
/// otherwise, as it contradicts the key's other attributes).
pub fn fill_public_key_info(attrs: &mut Attrs, curve: Curve, public: &[u8]) -> Result<()> {
    crate::mechanism::public_key_info::fill(attrs, spki(curve, public)?)
}

fn der_error(e: der::Error) -> Error {
    err(CKR_GENERAL_ERROR, format!("DER encoding failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_by_oid_and_by_name() {
        let p256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        assert_eq!(parse_params(&p256).unwrap(), Curve::P256);
        assert_eq!(parse_params(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]).unwrap(), Curve::P384);
        assert_eq!(parse_params(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23]).unwrap(), Curve::P521);
        assert_eq!(parse_params(&[0x06, 0x03, 0x2b, 0x65, 0x70]).unwrap(), Curve::Ed25519);
        assert_eq!(parse_params(b"\x13\x0cedwards25519").unwrap(), Curve::Ed25519);
        assert_eq!(parse_params(b"\x13\x0aprime256v1").unwrap(), Curve::P256);
        assert_eq!(parse_params(b"\x13\x05P-384").unwrap(), Curve::P384);
        // secp256k1 and X25519: well-formed, not supported.
        assert_eq!(
            parse_params(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a]).unwrap_err().rv(),
            CKR_CURVE_NOT_SUPPORTED
        );
        assert_eq!(parse_params(&[0x06, 0x03, 0x2b, 0x65, 0x6e]).unwrap_err().rv(), CKR_CURVE_NOT_SUPPORTED);
        assert_eq!(parse_params(b"\x13\x0acurve25519").unwrap_err().rv(), CKR_CURVE_NOT_SUPPORTED);
        assert_eq!(parse_params(&[0x05, 0x00]).unwrap_err().rv(), CKR_CURVE_NOT_SUPPORTED);
        // Malformed.
        for bad in [&b""[..], &p256[..5], &[0x04, 0x02, 0x01, 0x02], b"\x13\x0cedwards2551", b"\x30\x05"] {
            assert_eq!(parse_params(bad).unwrap_err().rv(), CKR_ATTRIBUTE_VALUE_INVALID, "{bad:02x?}");
        }
        assert_eq!(curve_for(CKK_EC, b"\x13\x0cedwards25519").unwrap_err().rv(), CKR_CURVE_NOT_SUPPORTED);
        assert_eq!(curve_for(CKK_EC_EDWARDS, &p256).unwrap_err().rv(), CKR_CURVE_NOT_SUPPORTED);
    }

    #[test]
    fn points_in_both_forms() {
        let mut q = vec![0x04];
        q.extend_from_slice(&[0x41; 64]);
        let der = encode_point(&q);
        assert_eq!(&der[..2], &[0x04, 0x41]);
        assert_eq!(decode_point(Curve::P256, &q), Some(&q[..]));
        assert_eq!(decode_point(Curve::P256, &der), Some(&q[..]));
        assert_eq!(decode_point(Curve::P384, &der), None);
        assert_eq!(decode_point(Curve::P256, &der[..der.len() - 1]), None);
        let mut q521 = vec![0x04];
        q521.extend_from_slice(&[1; 132]);
        let der521 = encode_point(&q521);
        assert_eq!(&der521[..3], &[0x04, 0x81, 0x85]);
        assert_eq!(decode_point(Curve::P521, &der521), Some(&q521[..]));
        let ed = [9u8; 32];
        assert_eq!(decode_point(Curve::Ed25519, &ed), Some(&ed[..]));
        assert_eq!(decode_point(Curve::Ed25519, &encode_point(&ed)), Some(&ed[..]));
    }
}
