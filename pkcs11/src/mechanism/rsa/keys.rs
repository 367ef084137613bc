//! RSA keys: generation, import checks, and PKCS#8 for `C_WrapKey` / `C_UnwrapKey`.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{MAX_BITS, MIN_BITS};
use crate::crypto::Provider;
use crate::crypto::rsa::{
    GivenParts, PrivateParts, bit_len, check_public, complete_private, exponent_value, public_key_info, strip,
};
use crate::error::{Attr, Result, err};
use crate::mechanism::Mechanism;
use crate::object::attr::ulong_value;
use crate::object::{Attrs, Object, Shape};

/// The public exponent when the template gives none (F4, the universal choice).
const DEFAULT_EXPONENT: u64 = 65537;

/// `CKM_RSA_PKCS_KEY_PAIR_GEN` (§2.1.4): `CKA_MODULUS_BITS` from the public template
/// (2048 to 8192, else `CKR_KEY_SIZE_RANGE`), `CKA_PUBLIC_EXPONENT` optional (odd, 3 to
/// 2^33 - 1, else `CKR_ATTRIBUTE_VALUE_INVALID`; 65537 by default).
pub fn generate(provider: &dyn Provider, mech: &Mechanism, public: &mut Attrs, private: &mut Attrs) -> Result<()> {
    mech.no_parameter()?;
    let bits = public.ulong(CKA_MODULUS_BITS).ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, "no CKA_MODULUS_BITS"))?;
    if !(MIN_BITS as u64..=MAX_BITS as u64).contains(&bits) {
        return Err(err(CKR_KEY_SIZE_RANGE, format!("RSA keys have {MIN_BITS} to {MAX_BITS} bits, not {bits}")));
    }
    let e = match public.get(CKA_PUBLIC_EXPONENT) {
        None => DEFAULT_EXPONENT,
        Some(v) => exponent_value(v)
            .filter(|e| *e >= 3 && e % 2 == 1)
            .ok_or_else(|| err(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_PUBLIC_EXPONENT must be odd, from 3 to 2^33 - 1"))?,
    };
    let mut parts = provider.rsa_generate(bits as usize, e)?;
    if bit_len(&parts.n) != bits as usize {
        return Err(err(CKR_FUNCTION_FAILED, "generated modulus of the wrong size"));
    }
    let spki = public_key_info(&parts.n, &parts.e)?;
    for attrs in [&mut *public, &mut *private] {
        attrs.set(CKA_MODULUS, parts.n.clone());
        attrs.set(CKA_PUBLIC_EXPONENT, parts.e.clone());
        attrs.set(CKA_PUBLIC_KEY_INFO, spki.clone());
    }
    for (ty, v) in secrets(&mut parts) {
        private.set(ty, std::mem::take(v));
    }
    Ok(())
}

/// The secret components with their attributes.
fn secrets(p: &mut PrivateParts) -> [(CK_ATTRIBUTE_TYPE, &mut Vec<u8>); 6] {
    [
        (CKA_PRIVATE_EXPONENT, &mut *p.d),
        (CKA_PRIME_1, &mut *p.p),
        (CKA_PRIME_2, &mut *p.q),
        (CKA_EXPONENT_1, &mut *p.dp),
        (CKA_EXPONENT_2, &mut *p.dq),
        (CKA_COEFFICIENT, &mut *p.qinv),
    ]
}

/// Sets `CKA_PUBLIC_KEY_INFO` when empty; a given one must be this key's
/// (`CKR_ATTRIBUTE_VALUE_INVALID`).
fn public_key_info_attr(attrs: &mut Attrs, spki: Vec<u8>) -> Result<()> {
    match attrs.get(CKA_PUBLIC_KEY_INFO) {
        Some(given) if !given.is_empty() && given != spki.as_slice() => {
            Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_PUBLIC_KEY_INFO is not this key's"))
        }
        _ => {
            attrs.set(CKA_PUBLIC_KEY_INFO, spki);
            Ok(())
        }
    }
}

/// Checks an imported RSA key and completes it (PKCS#11 v3.0 mechanisms §2.1.2, §2.1.3).
///
/// A public key needs `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT`; the token sets
/// `CKA_MODULUS_BITS`. A private key needs `CKA_MODULUS` and `CKA_PRIVATE_EXPONENT`;
/// the other components are optional, checked against each other when given, and
/// computed when not (see [`complete_private`]), so that every stored private key has
/// all eight. Both get `CKA_PUBLIC_KEY_INFO`. Values given by the caller are kept as
/// given (a later `C_FindObjects` on them matches).
pub fn validate_import(_provider: &dyn Provider, shape: Shape, attrs: &mut Attrs) -> Result<()> {
    let get = |attrs: &Attrs, ty| attrs.get(ty).map(<[u8]>::to_vec);
    let required =
        |attrs: &Attrs, ty| get(attrs, ty).ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, format!("no {}", Attr(ty))));
    match shape {
        Shape::Public(_) => {
            let (n, e) = (required(attrs, CKA_MODULUS)?, required(attrs, CKA_PUBLIC_EXPONENT)?);
            check_public(&n, &e)?;
            attrs.set(CKA_MODULUS_BITS, ulong_value(bit_len(&n) as u64));
            public_key_info_attr(attrs, public_key_info(strip(&n), strip(&e))?)
        }
        Shape::Private(_) => {
            let n = required(attrs, CKA_MODULUS)?;
            let d = Zeroizing::new(required(attrs, CKA_PRIVATE_EXPONENT)?);
            let opt = |ty| get(attrs, ty).map(Zeroizing::new);
            let (e, p, q) = (get(attrs, CKA_PUBLIC_EXPONENT), opt(CKA_PRIME_1), opt(CKA_PRIME_2));
            let (dp, dq, qinv) = (opt(CKA_EXPONENT_1), opt(CKA_EXPONENT_2), opt(CKA_COEFFICIENT));
            let mut parts = complete_private(&GivenParts {
                n: &n,
                e: e.as_deref(),
                d: &d,
                p: p.as_deref().map(|v| v.as_slice()),
                q: q.as_deref().map(|v| v.as_slice()),
                dp: dp.as_deref().map(|v| v.as_slice()),
                dq: dq.as_deref().map(|v| v.as_slice()),
                qinv: qinv.as_deref().map(|v| v.as_slice()),
            })?;
            if e.is_none() {
                attrs.set(CKA_PUBLIC_EXPONENT, parts.e.clone());
            }
            for (ty, v) in secrets(&mut parts) {
                if attrs.get(ty).is_none() {
                    attrs.set(ty, std::mem::take(v));
                }
            }
            public_key_info_attr(attrs, public_key_info(&parts.n, &parts.e)?)
        }
        _ => Ok(()),
    }
}

/// The components of a stored private key. Keys imported before import checks existed
/// may lack some: they are completed (and checked) here.
pub(super) fn private_parts(attrs: &Attrs) -> Result<PrivateParts> {
    let v = |ty| attrs.get(ty).map(strip);
    let secret = |ty| v(ty).map(|b| Zeroizing::new(b.to_vec()));
    let n = v(CKA_MODULUS).ok_or_else(|| err(CKR_KEY_HANDLE_INVALID, "RSA private key without CKA_MODULUS"))?;
    let d = v(CKA_PRIVATE_EXPONENT)
        .ok_or_else(|| err(CKR_KEY_HANDLE_INVALID, "RSA private key without CKA_PRIVATE_EXPONENT"))?;
    if let (Some(e), Some(p), Some(q), Some(dp), Some(dq), Some(qinv)) = (
        v(CKA_PUBLIC_EXPONENT),
        secret(CKA_PRIME_1),
        secret(CKA_PRIME_2),
        secret(CKA_EXPONENT_1),
        secret(CKA_EXPONENT_2),
        secret(CKA_COEFFICIENT),
    ) {
        return Ok(PrivateParts { n: n.to_vec(), e: e.to_vec(), d: Zeroizing::new(d.to_vec()), p, q, dp, dq, qinv });
    }
    complete_private(&GivenParts {
        n,
        e: v(CKA_PUBLIC_EXPONENT),
        d,
        p: v(CKA_PRIME_1),
        q: v(CKA_PRIME_2),
        dp: v(CKA_EXPONENT_1),
        dq: v(CKA_EXPONENT_2),
        qinv: v(CKA_COEFFICIENT),
    })
    .map_err(|e| err(CKR_KEY_HANDLE_INVALID, format!("stored RSA key unusable: {}", e.message())))
}

/// An RSA private key as PKCS#8 `PrivateKeyInfo` DER (RFC 5208, the `RSAPrivateKey` of
/// RFC 8017 §A.1.2 inside), for `C_WrapKey`.
pub fn encode_private_key(_provider: &dyn Provider, key: &Object) -> Result<Zeroizing<Vec<u8>>> {
    private_parts(&key.attrs)?.to_pkcs8_der()
}

/// An RSA private key's attributes from PKCS#8 DER, for `C_UnwrapKey` (which then
/// checks them with [`validate_import`]). Anything but a two-prime RSA key is
/// `CKR_WRAPPED_KEY_INVALID`.
pub fn decode_private_key(_provider: &dyn Provider, der: &[u8]) -> Result<Attrs> {
    let mut parts = PrivateParts::from_pkcs8_der(der)?;
    let mut attrs = Attrs::default();
    attrs.set(CKA_MODULUS, std::mem::take(&mut parts.n));
    attrs.set(CKA_PUBLIC_EXPONENT, std::mem::take(&mut parts.e));
    for (ty, v) in secrets(&mut parts) {
        attrs.set(ty, std::mem::take(v));
    }
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Lifetime;

    /// `C_WrapKey`'s encoding and `C_UnwrapKey`'s decoding and checks give back the
    /// generated key, attribute for attribute.
    #[test]
    fn pkcs8_round_trip_through_the_attributes() {
        for name in crate::crypto::available() {
            let provider = crate::crypto::select(Some(name)).unwrap();
            let p = provider.as_ref();
            let (mut public, mut private) = (Attrs::default(), Attrs::default());
            public.set(CKA_MODULUS_BITS, ulong_value(2048));
            generate(p, &Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN), &mut public, &mut private).unwrap();
            let key = Object::new(1, Lifetime::Session(1), private.clone());
            let der = encode_private_key(p, &key).unwrap();
            let mut back = decode_private_key(p, &der).unwrap();
            validate_import(p, Shape::Private(CKK_RSA), &mut back).unwrap();
            for (ty, v) in private.iter() {
                assert_eq!(back.get(ty), Some(v), "{name}: {ty:#x}");
            }
            assert_eq!(back.get(CKA_PUBLIC_KEY_INFO), public.get(CKA_PUBLIC_KEY_INFO));
            assert_eq!(decode_private_key(p, &der[1..]).err().map(|e| e.rv()), Some(CKR_WRAPPED_KEY_INVALID));
        }
    }
}
