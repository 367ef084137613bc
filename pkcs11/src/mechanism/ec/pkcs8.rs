//! EC and Ed25519 private keys as PKCS#8 `PrivateKeyInfo` (RFC 5208), for
//! `C_WrapKey` and `C_UnwrapKey`: RFC 5915 `ECPrivateKey` inside for the NIST curves
//! (RFC 5480 names the curve in the algorithm's parameters), RFC 8410
//! `CurvePrivateKey` for Ed25519.

use cryptoki_sys::*;
use der::asn1::{AnyRef, BitStringRef, ContextSpecific, ObjectIdentifier, OctetStringRef};
use der::{
    Decode, DecodeValue, Encode, EncodeValue, Header, Length, Reader, Sequence, Tag, TagMode, TagNumber, Writer,
};
use pkcs8::PrivateKeyInfoRef;
use spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use super::params::{self, ID_EC_PUBLIC_KEY, ID_ED25519};
use crate::crypto::Provider;
use crate::crypto::ec::Curve;
use crate::error::{Error, Result, err};
use crate::object::Attrs;

/// RFC 5915 §3:
///
/// ```text
/// ECPrivateKey ::= SEQUENCE {
///   version        INTEGER { ecPrivkeyVer1(1) } (ecPrivkeyVer1),
///   privateKey     OCTET STRING,
///   parameters [0] ECParameters {{ NamedCurve }} OPTIONAL,
///   publicKey  [1] BIT STRING OPTIONAL
/// }
/// ```
///
/// Only the `namedCurve` choice of `ECParameters` is read.
struct EcPrivateKey<'a> {
    private_key: &'a [u8],
    parameters: Option<ObjectIdentifier>,
    public_key: Option<BitStringRef<'a>>,
}

const EC_PRIVKEY_VER1: u8 = 1;

/// An `[n] EXPLICIT` field.
fn tagged<T>(n: u32, value: T) -> ContextSpecific<T> {
    ContextSpecific { tag_number: TagNumber(n), tag_mode: TagMode::Explicit, value }
}

impl EcPrivateKey<'_> {
    /// The fields after `version`, as they are encoded.
    #[allow(clippy::type_complexity)]
    fn fields(
        &self,
    ) -> der::Result<(
        &OctetStringRef,
        Option<ContextSpecific<ObjectIdentifier>>,
        Option<ContextSpecific<BitStringRef<'_>>>,
    )> {
        Ok((
            OctetStringRef::new(self.private_key)?,
            self.parameters.map(|p| tagged(0, p)),
            self.public_key.map(|p| tagged(1, p)),
        ))
    }
}

impl<'a> DecodeValue<'a> for EcPrivateKey<'a> {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, _header: Header) -> der::Result<Self> {
        if u8::decode(reader)? != EC_PRIVKEY_VER1 {
            return Err(reader.error(Tag::Integer.value_error()));
        }
        let private_key = <&OctetStringRef>::decode(reader)?.as_bytes();
        let parameters = reader.context_specific(TagNumber(0), TagMode::Explicit)?;
        let public_key = reader.context_specific(TagNumber(1), TagMode::Explicit)?;
        Ok(Self { private_key, parameters, public_key })
    }
}

impl EncodeValue for EcPrivateKey<'_> {
    fn value_len(&self) -> der::Result<Length> {
        let (key, params, public) = self.fields()?;
        EC_PRIVKEY_VER1.encoded_len()? + key.encoded_len()? + params.encoded_len()? + public.encoded_len()?
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        let (key, params, public) = self.fields()?;
        EC_PRIVKEY_VER1.encode(writer)?;
        key.encode(writer)?;
        params.encode(writer)?;
        public.encode(writer)
    }
}

impl<'a> Sequence<'a> for EcPrivateKey<'a> {}

fn encode_error(e: der::Error) -> Error {
    err(CKR_GENERAL_ERROR, format!("PKCS#8 encoding failed: {e}"))
}

/// A private key as PKCS#8 DER. The NIST curves carry the public key in
/// `ECPrivateKey` (as OpenSSL writes it), so the unwrapping side can check it.
pub fn encode(provider: &dyn Provider, curve: Curve, private: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let curve_oid = params::curve_oid(curve);
    let (algorithm, inner) = match curve {
        Curve::Ed25519 => {
            // RFC 8410 §7: CurvePrivateKey ::= OCTET STRING, inside privateKey.
            let inner = OctetStringRef::new(private).and_then(|o| o.to_der()).map_err(encode_error)?;
            (AlgorithmIdentifierRef { oid: ID_ED25519, parameters: None }, Zeroizing::new(inner))
        }
        _ => {
            let public = provider.ec_public_key(curve, private)?;
            let ec = EcPrivateKey {
                private_key: private,
                parameters: None,
                public_key: Some(BitStringRef::from_bytes(&public).map_err(encode_error)?),
            };
            let algorithm =
                AlgorithmIdentifierRef { oid: ID_EC_PUBLIC_KEY, parameters: Some(AnyRef::from(&curve_oid)) };
            (algorithm, Zeroizing::new(ec.to_der().map_err(encode_error)?))
        }
    };
    let info = PrivateKeyInfoRef {
        algorithm,
        private_key: OctetStringRef::new(&inner).map_err(encode_error)?,
        public_key: None,
    };
    Ok(Zeroizing::new(info.to_der().map_err(encode_error)?))
}

/// The attributes of a private key from PKCS#8 DER: `CKA_EC_PARAMS` (the curve's
/// OID) and `CKA_VALUE` (the scalar at the curve's length, or the Ed25519 seed).
/// Malformed input, a key whose curve is not supported, or a public key in the
/// structure that is not the private key's, is `CKR_WRAPPED_KEY_INVALID`; a key of
/// another type than `key_type` is `CKR_TEMPLATE_INCONSISTENT`.
pub fn decode(provider: &dyn Provider, key_type: CK_KEY_TYPE, der: &[u8]) -> Result<Attrs> {
    let invalid = |why: &str| err(CKR_WRAPPED_KEY_INVALID, format!("PKCS#8: {why}"));
    let info = PrivateKeyInfoRef::from_der(der).map_err(|_| invalid("not a PrivateKeyInfo"))?;
    let inner = info.private_key.as_bytes();
    let (curve, mut value, public): (Curve, Zeroizing<Vec<u8>>, Option<&[u8]>) = match info.algorithm.oid {
        ID_ED25519 => {
            let seed = <&OctetStringRef>::from_der(inner).map_err(|_| invalid("not an RFC 8410 CurvePrivateKey"))?;
            let public = info.public_key.map(|p| p.as_bytes().ok_or_else(|| invalid("bad public key"))).transpose()?;
            (Curve::Ed25519, Zeroizing::new(seed.as_bytes().to_vec()), public)
        }
        ID_EC_PUBLIC_KEY => {
            let named = info.algorithm.parameters.and_then(|p| ObjectIdentifier::try_from(p).ok());
            let ec = EcPrivateKey::from_der(inner).map_err(|_| invalid("not an RFC 5915 ECPrivateKey"))?;
            let oid = match (named, ec.parameters) {
                (Some(a), Some(b)) if a != b => return Err(invalid("two different curves")),
                (Some(o), _) | (None, Some(o)) => o,
                (None, None) => return Err(invalid("no named curve")),
            };
            let curve = params::curve_of_oid(&oid)
                .filter(|c| !c.is_edwards())
                .ok_or_else(|| invalid(&format!("curve {oid} is not supported")))?;
            let d = super::fixed_scalar(curve, ec.private_key)
                .map_err(|_| invalid("the private key is not a scalar of the curve"))?;
            let public = ec.public_key.map(|p| p.as_bytes().ok_or_else(|| invalid("bad public key"))).transpose()?;
            (curve, d, public)
        }
        other => return Err(invalid(&format!("algorithm {other} is not an EC or Ed25519 key"))),
    };
    let kt = if curve.is_edwards() { CKK_EC_EDWARDS } else { CKK_EC };
    if kt != key_type {
        return Err(err(CKR_TEMPLATE_INCONSISTENT, "the wrapped key is not of the template's CKA_KEY_TYPE"));
    }
    let derived = provider.ec_public_key(curve, &value).map_err(|_| invalid("the private key is out of range"))?;
    if public.is_some_and(|p| p != derived.as_slice()) {
        return Err(invalid("the public key does not belong to the private key"));
    }
    let mut attrs = Attrs::default();
    attrs.set(CKA_EC_PARAMS, params::curve_oid(curve).to_der().map_err(encode_error)?);
    attrs.set(CKA_VALUE, std::mem::take(&mut *value));
    Ok(attrs)
}
