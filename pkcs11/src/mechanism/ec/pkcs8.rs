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

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384` through
    /// `openssl pkcs8 -topk8 -nocrypt -outform DER`, and its public key.
    const P384_PKCS8: &str = "3081b6020100301006072a8648ce3d020106052b8104002204819e30819b0201010430e99298bf573035aa5c1127b0698ede159b5dd2cde3839bc0b264932f5d237e6a6dfc98a09b77d24e5b45f2b2b4eb0452a16403620004814299422af1b9ad18708c1c7bf4542adf82464fc9903bc4647fd9aecbf507a7918415ff82cca5c678942270986bfe9e7deaee6b5da8ece33684fc2bb2a1f9d9bb04dd8fdadfe8be6d9a1798ec44824ccf81a5fa30b2ddbe37bf65b4450afbb2";
    const P384_SPKI: &str = "3076301006072a8648ce3d020106052b8104002203620004814299422af1b9ad18708c1c7bf4542adf82464fc9903bc4647fd9aecbf507a7918415ff82cca5c678942270986bfe9e7deaee6b5da8ece33684fc2bb2a1f9d9bb04dd8fdadfe8be6d9a1798ec44824ccf81a5fa30b2ddbe37bf65b4450afbb2";
    const P384_D: &str =
        "e99298bf573035aa5c1127b0698ede159b5dd2cde3839bc0b264932f5d237e6a6dfc98a09b77d24e5b45f2b2b4eb0452";
    /// `openssl genpkey -algorithm ed25519 -outform DER`.
    const ED25519_PKCS8: &str =
        "302e020100300506032b6570042204206c59224804ac83542b781932fa9c7e7ab956466e1ffebb754bf7ab85cc95595a";
    /// `openssl genpkey -algorithm EC -outform DER` (an RFC 5915 ECPrivateKey with
    /// `[0]` and `[1]`), P-256 and secp256k1.
    const P256_EC_PRIVATE_KEY: &str = "30770201010420051c4f5b16dabc2b6665f72169ad77f17b781c2a6ec0566ccc3d179fc0d48c02a00a06082a8648ce3d030107a144034200046a1cf0e8bc954c73530d3af8595c72395b9cd0a46877bacd03512b8269adb81ac17c23e954e41d1d20358004f1ae19ba32f1c362b8689d22f0f9b1aaa1cb9e09";
    const K256_EC_PRIVATE_KEY: &str = "30740201010420fe5a490a78c75f076ded77998779c5b42e96940b73e23f91bd0c3f158e91f66fa00706052b8104000aa14403420004579ed791eb0e3a99647b42a831a7684a63024940be363fcd56c497cc92bc8d829b97237efaf6e33648900ad5dfa19d161b49ed3efc43e36a9c3566764823d293";

    /// PKCS#8 around an `ECPrivateKey`, the curve in the algorithm's parameters or not.
    fn wrap(ec: &[u8], curve: Option<&ObjectIdentifier>) -> Vec<u8> {
        let algorithm = AlgorithmIdentifierRef { oid: ID_EC_PUBLIC_KEY, parameters: curve.map(AnyRef::from) };
        PrivateKeyInfoRef { algorithm, private_key: OctetStringRef::new(ec).unwrap(), public_key: None }
            .to_der()
            .unwrap()
    }

    #[test]
    fn openssl_keys_decode_and_encode_to_the_same_bytes() {
        for name in crate::crypto::available() {
            let p = crate::crypto::select(Some(name)).unwrap();
            let a = decode(p.as_ref(), CKK_EC, &unhex(P384_PKCS8)).unwrap();
            assert_eq!(a.get(CKA_VALUE).unwrap(), unhex(P384_D).as_slice());
            assert_eq!(a.get(CKA_EC_PARAMS).unwrap(), [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]);
            let q = p.ec_public_key(Curve::P384, &unhex(P384_D)).unwrap();
            assert_eq!(params::spki(Curve::P384, &q).unwrap(), unhex(P384_SPKI));
            assert_eq!(*encode(p.as_ref(), Curve::P384, &unhex(P384_D)).unwrap(), unhex(P384_PKCS8), "{name}");

            let e = decode(p.as_ref(), CKK_EC_EDWARDS, &unhex(ED25519_PKCS8)).unwrap();
            let seed = e.get(CKA_VALUE).unwrap().to_vec();
            assert_eq!(*encode(p.as_ref(), Curve::Ed25519, &seed).unwrap(), unhex(ED25519_PKCS8), "{name}");

            // The curve only in ECPrivateKey's [0], or in both places (equal).
            let p256 = params::SECP256R1;
            for curve in [None, Some(&p256)] {
                let a = decode(p.as_ref(), CKK_EC, &wrap(&unhex(P256_EC_PRIVATE_KEY), curve)).unwrap();
                assert_eq!(a.get(CKA_VALUE).unwrap().len(), 32);
            }
        }
    }

    #[test]
    fn bad_wrapped_keys_are_refused() {
        for name in crate::crypto::available() {
            let p = crate::crypto::select(Some(name)).unwrap();
            let rv = |kt, der: &[u8]| decode(p.as_ref(), kt, der).unwrap_err().rv();
            // A public key that is not the private key's.
            let mut tampered = unhex(P384_PKCS8);
            *tampered.last_mut().unwrap() ^= 1;
            assert_eq!(rv(CKK_EC, &tampered), CKR_WRAPPED_KEY_INVALID);
            // Another key type than the template says.
            assert_eq!(rv(CKK_EC, &unhex(ED25519_PKCS8)), CKR_TEMPLATE_INCONSISTENT);
            assert_eq!(rv(CKK_EC_EDWARDS, &unhex(P384_PKCS8)), CKR_TEMPLATE_INCONSISTENT);
            // Two different curves; a curve not supported; no curve.
            let p384 = params::SECP384R1;
            assert_eq!(rv(CKK_EC, &wrap(&unhex(P256_EC_PRIVATE_KEY), Some(&p384))), CKR_WRAPPED_KEY_INVALID);
            assert_eq!(rv(CKK_EC, &wrap(&unhex(K256_EC_PRIVATE_KEY), None)), CKR_WRAPPED_KEY_INVALID);
            let ec = EcPrivateKey { private_key: &[1; 32], parameters: None, public_key: None }.to_der().unwrap();
            assert_eq!(rv(CKK_EC, &wrap(&ec, None)), CKR_WRAPPED_KEY_INVALID);
            // A scalar out of range, and garbage.
            let zero = EcPrivateKey { private_key: &[0; 32], parameters: None, public_key: None }.to_der().unwrap();
            assert_eq!(rv(CKK_EC, &wrap(&zero, Some(&params::SECP256R1))), CKR_WRAPPED_KEY_INVALID);
            for junk in [&b""[..], b"\x30\x00", &unhex(P256_EC_PRIVATE_KEY)] {
                assert_eq!(rv(CKK_EC, junk), CKR_WRAPPED_KEY_INVALID);
            }
        }
    }
}
