//! Elliptic-curve mechanisms: `CKM_EC_KEY_PAIR_GEN`, `CKM_ECDSA`,
//! `CKM_ECDSA_SHA*`, `CKM_ECDH1_DERIVE`, `CKM_ECDH1_COFACTOR_DERIVE`,
//! `CKM_EC_EDWARDS_KEY_PAIR_GEN`, `CKM_EDDSA`; EC key import checks and PKCS#8.
//!
//! Curves: P-256, P-384 and P-521 (`CKK_EC`), Ed25519 (`CKK_EC_EDWARDS`). The
//! attribute encodings are in [`params`], the operations in [`sign`] and [`ecdh`],
//! PKCS#8 in [`pkcs8`]; docs/mechanisms-ec.md describes the choices.

pub mod ecdh;
pub mod params;
pub mod pkcs8;
pub mod sign;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{Entry, Mechanism, Registry, check_key_size};
use crate::crypto::Provider;
use crate::crypto::ec::Curve;
use crate::error::{Attr, Error, Result, err};
use crate::object::{Attrs, Object, Shape};
use params::{curve_for, curve_of, decode_point, encode_point, fill_public_key_info};

/// Curve flags of the NIST-curve mechanisms (PKCS#11 v3.0 §2.3.2): prime fields,
/// curves by OID or by name, uncompressed points.
const EC_FLAGS: CK_FLAGS = CKF_EC_F_P | CKF_EC_OID | CKF_EC_CURVENAME | CKF_EC_UNCOMPRESS;
/// Curve flags of the Edwards mechanisms: the curve by OID or by name.
const EDWARDS_FLAGS: CK_FLAGS = CKF_EC_OID | CKF_EC_CURVENAME;

const fn info(min: CK_ULONG, max: CK_ULONG, flags: CK_FLAGS) -> CK_MECHANISM_INFO {
    CK_MECHANISM_INFO { ulMinKeySize: min, ulMaxKeySize: max, flags }
}

/// `CKM_EC_KEY_PAIR_GEN`: sizes in bits, P-256 to P-521.
pub const EC_KEY_GEN_INFO: CK_MECHANISM_INFO = info(256, 521, CKF_GENERATE_KEY_PAIR | EC_FLAGS);
/// `CKM_ECDSA` and `CKM_ECDSA_SHA*`.
pub const ECDSA_INFO: CK_MECHANISM_INFO = info(256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS);
/// `CKM_ECDH1_DERIVE` and `CKM_ECDH1_COFACTOR_DERIVE`.
pub const ECDH_INFO: CK_MECHANISM_INFO = info(256, 521, CKF_DERIVE | EC_FLAGS);
/// `CKM_EC_EDWARDS_KEY_PAIR_GEN`: Ed25519 only, 256 bits as kryoptic and SoftHSM count it.
pub const EDWARDS_KEY_GEN_INFO: CK_MECHANISM_INFO = info(256, 256, CKF_GENERATE_KEY_PAIR | EDWARDS_FLAGS);
/// `CKM_EDDSA`.
pub const EDDSA_INFO: CK_MECHANISM_INFO = info(256, 256, CKF_SIGN | CKF_VERIFY | EDWARDS_FLAGS);

fn entry(info: CK_MECHANISM_INFO) -> Entry {
    Entry::new(info.ulMinKeySize, info.ulMaxKeySize, info.flags)
}

/// Registers the EC mechanisms. Both providers offer all of them.
pub fn register(r: &mut Registry, _provider: &dyn Provider) {
    r.insert(CKM_EC_KEY_PAIR_GEN, Entry { generate_key_pair: Some((CKK_EC, generate_ec)), ..entry(EC_KEY_GEN_INFO) });
    r.insert(
        CKM_EC_EDWARDS_KEY_PAIR_GEN,
        Entry { generate_key_pair: Some((CKK_EC_EDWARDS, generate_edwards)), ..entry(EDWARDS_KEY_GEN_INFO) },
    );
    for m in [CKM_ECDSA, CKM_ECDSA_SHA1, CKM_ECDSA_SHA224, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512] {
        r.insert(
            m,
            Entry {
                key_types: &[CKK_EC],
                sign: Some(sign::ecdsa_sign),
                verify: Some(sign::ecdsa_verify),
                ..entry(ECDSA_INFO)
            },
        );
    }
    for m in [CKM_ECDH1_DERIVE, CKM_ECDH1_COFACTOR_DERIVE] {
        r.insert(m, Entry { key_types: &[CKK_EC], derive: Some(ecdh::derive), ..entry(ECDH_INFO) });
    }
    r.insert(
        CKM_EDDSA,
        Entry {
            key_types: &[CKK_EC_EDWARDS],
            sign: Some(sign::eddsa_sign),
            verify: Some(sign::eddsa_verify),
            ..entry(EDDSA_INFO)
        },
    );
}

fn generate_ec(p: &dyn Provider, mech: &Mechanism, public: &mut Attrs, private: &mut Attrs) -> Result<()> {
    generate(p, mech, CKK_EC, &EC_KEY_GEN_INFO, public, private)
}

fn generate_edwards(p: &dyn Provider, mech: &Mechanism, public: &mut Attrs, private: &mut Attrs) -> Result<()> {
    generate(p, mech, CKK_EC_EDWARDS, &EDWARDS_KEY_GEN_INFO, public, private)
}

/// Key pair generation (PKCS#11 v3.0 §2.3.8, §2.3.9): the curve comes from the
/// public template's `CKA_EC_PARAMS`, which the private key gets a copy of.
/// Generated: the public `CKA_EC_POINT` (DER OCTET STRING), the private `CKA_VALUE`
/// (the scalar at the field's length, or the Ed25519 seed) and, on both,
/// `CKA_PUBLIC_KEY_INFO`.
fn generate(
    p: &dyn Provider,
    mech: &Mechanism,
    kt: CK_KEY_TYPE,
    info: &CK_MECHANISM_INFO,
    public: &mut Attrs,
    private: &mut Attrs,
) -> Result<()> {
    mech.no_parameter()?;
    let ec_params = public
        .get(CKA_EC_PARAMS)
        .ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, "the public key template has no CKA_EC_PARAMS"))?
        .to_vec();
    let curve = curve_for(kt, &ec_params)?;
    check_key_size(info, curve.bits())?;
    for a in [&*public, &*private] {
        if a.get(CKA_PUBLIC_KEY_INFO).is_some_and(|v| !v.is_empty()) {
            return Err(err(CKR_TEMPLATE_INCONSISTENT, "CKA_PUBLIC_KEY_INFO of a key not yet generated"));
        }
    }
    let (mut d, q) = p.ec_generate(curve)?;
    fill_public_key_info(public, curve, &q)?;
    fill_public_key_info(private, curve, &q)?;
    public.set(CKA_EC_POINT, encode_point(&q));
    private.set(CKA_EC_PARAMS, ec_params);
    private.set(CKA_VALUE, std::mem::take(&mut *d));
    Ok(())
}

/// An EC private key's `CKA_VALUE` at the field's length. PKCS#11 calls it a Big
/// integer, so callers may strip leading zeros (or, rarely, add some): the value is
/// what counts. Too large a value is `CKR_ATTRIBUTE_VALUE_INVALID`; the range is the
/// provider's to check.
pub fn fixed_scalar(curve: Curve, value: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let n = curve.field_len();
    let first = value.iter().position(|b| *b != 0).unwrap_or(value.len());
    let significant = &value[first..];
    if significant.len() > n {
        return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE is longer than the curve's scalars"));
    }
    let mut d = Zeroizing::new(vec![0u8; n]);
    d[n - significant.len()..].copy_from_slice(significant);
    Ok(d)
}

/// Adds the attribute's name to a provider error about a value.
fn about(attr: CK_ATTRIBUTE_TYPE) -> impl Fn(Error) -> Error {
    move |e| Error::new(e.rv()).context(format!("{}: {}", Attr(attr), e.message()))
}

/// Checks an imported EC or Edwards key and fills `CKA_PUBLIC_KEY_INFO`.
///
/// - Public key: `CKA_EC_POINT` (DER OCTET STRING or raw) must be a point on the
///   curve; it is kept as the DER OCTET STRING.
/// - Private key: `CKA_VALUE` must be a scalar in `[1, n-1]` (or a 32-byte Ed25519
///   seed); it is kept at the field's length. The public key is computed from it.
/// - `CKA_PUBLIC_KEY_INFO`, when given, must be the key's SubjectPublicKeyInfo.
///
/// Bad values are `CKR_ATTRIBUTE_VALUE_INVALID`; curves as [`params::parse_params`].
pub fn validate_import(provider: &dyn Provider, shape: Shape, attrs: &mut Attrs) -> Result<()> {
    let curve = curve_of(attrs).map_err(about(CKA_EC_PARAMS))?;
    match shape {
        Shape::Public(_) => {
            let given = attrs.get(CKA_EC_POINT).unwrap_or_default();
            let q = decode_point(curve, given)
                .ok_or_else(|| {
                    err(CKR_ATTRIBUTE_VALUE_INVALID, format!("CKA_EC_POINT is not a {curve:?} public key, raw or DER"))
                })?
                .to_vec();
            provider.ec_check_public(curve, &q).map_err(about(CKA_EC_POINT))?;
            attrs.set(CKA_EC_POINT, encode_point(&q));
            fill_public_key_info(attrs, curve, &q)
        }
        Shape::Private(_) => {
            let given = attrs.get(CKA_VALUE).unwrap_or_default();
            let mut d = if curve.is_edwards() {
                if given.len() != 32 {
                    return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE: an Ed25519 key is a 32-byte seed"));
                }
                Zeroizing::new(given.to_vec())
            } else {
                fixed_scalar(curve, given)?
            };
            let q = provider.ec_public_key(curve, &d).map_err(about(CKA_VALUE))?;
            attrs.set(CKA_VALUE, std::mem::take(&mut *d));
            fill_public_key_info(attrs, curve, &q)
        }
        _ => Ok(()),
    }
}

/// An EC or Edwards private key as PKCS#8 DER.
pub fn encode_private_key(provider: &dyn Provider, key: &Object) -> Result<Zeroizing<Vec<u8>>> {
    let curve = curve_of(&key.attrs)?;
    let d = key.attrs.get(CKA_VALUE).ok_or_else(|| err(CKR_KEY_NOT_WRAPPABLE, "the key has no CKA_VALUE"))?;
    pkcs8::encode(provider, curve, d)
}

/// An EC or Edwards private key's attributes from PKCS#8 DER.
pub fn decode_private_key(provider: &dyn Provider, key_type: CK_KEY_TYPE, der: &[u8]) -> Result<Attrs> {
    pkcs8::decode(provider, key_type, der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_brought_to_the_field_length() {
        assert_eq!(fixed_scalar(Curve::P256, &[1, 2]).unwrap()[30..], [1, 2]);
        assert_eq!(fixed_scalar(Curve::P256, &[0; 40]).unwrap().len(), 32);
        let mut long = vec![0u8; 8];
        long.extend_from_slice(&[7; 32]);
        assert_eq!(fixed_scalar(Curve::P256, &long).unwrap().as_slice(), &[7; 32]);
        assert_eq!(fixed_scalar(Curve::P256, &[7; 33]).unwrap_err().rv(), CKR_ATTRIBUTE_VALUE_INVALID);
    }

    /// Every provider in the build: keys round-trip through PKCS#8, ECDSA and
    /// Ed25519 signatures verify, and ECDH agrees.
    #[test]
    fn every_provider_round_trips_keys_signatures_and_ecdh() {
        for name in crate::crypto::available() {
            let p = crate::crypto::select(Some(name)).unwrap();
            for curve in [Curve::P256, Curve::P384, Curve::P521, Curve::Ed25519] {
                let (d, q) = p.ec_generate(curve).unwrap();
                assert_eq!(d.len(), curve.field_len(), "{name} {curve:?}");
                assert_eq!(q.len(), curve.public_len(), "{name} {curve:?}");
                assert_eq!(p.ec_public_key(curve, &d).unwrap(), q);
                p.ec_check_public(curve, &q).unwrap();
                let kt = if curve.is_edwards() { CKK_EC_EDWARDS } else { CKK_EC };
                let der = pkcs8::encode(p.as_ref(), curve, &d).unwrap();
                let back = pkcs8::decode(p.as_ref(), kt, &der).unwrap();
                assert_eq!(back.get(CKA_VALUE).unwrap(), d.as_slice());
                assert_eq!(curve_for(kt, back.get(CKA_EC_PARAMS).unwrap()).unwrap(), curve);
                let input = vec![0x5a; curve.field_len()];
                let input: &[u8] = if curve == Curve::P521 { &[&[0, 0][..], &input[2..]].concat() } else { &input };
                let input = input.to_vec();
                let sig = p.ec_signing_key(curve, &d).unwrap().sign(&input).unwrap();
                let v = p.ec_verifying_key(curve, &q).unwrap();
                v.verify(&input, &sig).unwrap();
                let mut bad = sig.clone();
                bad[5] ^= 1;
                assert_eq!(v.verify(&input, &bad).unwrap_err().rv(), CKR_SIGNATURE_INVALID, "{name} {curve:?}");
                if !curve.is_edwards() {
                    let (d2, q2) = p.ec_generate(curve).unwrap();
                    assert_eq!(*p.ecdh(curve, &d, &q2).unwrap(), *p.ecdh(curve, &d2, &q).unwrap());
                    let mut off = q2.clone();
                    *off.last_mut().unwrap() ^= 1;
                    assert_eq!(p.ecdh(curve, &d, &off).unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
                    assert_eq!(p.ec_check_public(curve, &off).unwrap_err().rv(), CKR_ATTRIBUTE_VALUE_INVALID);
                }
            }
        }
    }

    /// With both providers in the build, each verifies the other's signatures.
    #[test]
    fn providers_verify_each_other() {
        let names = crate::crypto::available();
        for a in names {
            for b in names {
                let (pa, pb) = (crate::crypto::select(Some(a)).unwrap(), crate::crypto::select(Some(b)).unwrap());
                for curve in [Curve::P256, Curve::P384, Curve::Ed25519] {
                    let (d, q) = pa.ec_generate(curve).unwrap();
                    let input = vec![0x33; curve.field_len()];
                    let sig = pa.ec_signing_key(curve, &d).unwrap().sign(&input).unwrap();
                    pb.ec_verifying_key(curve, &q).unwrap().verify(&input, &sig).unwrap();
                }
            }
        }
    }
}
