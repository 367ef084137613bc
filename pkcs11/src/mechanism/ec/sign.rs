//! `CKM_ECDSA`, `CKM_ECDSA_SHA1` to `CKM_ECDSA_SHA512` and `CKM_EDDSA`: the
//! operations, and the parsed keys they cache on the key objects.

use std::sync::Arc;

use cryptoki_sys::*;

use super::params::{curve_of, decode_point};
use super::{ECDSA_INFO, EDDSA_INFO};
use crate::crypto::ec::{Curve, EcSigningKey, EcVerifyingKey};
use crate::crypto::{HashAlg, Hasher, Provider};
use crate::error::{Error, Result, err};
use crate::mechanism::{Mechanism, Param, SignOp, VerifyOp, check_key_size, ops::Collect};
use crate::object::Object;

/// The most `CKM_EDDSA` collects of a multi-part message (Ed25519 reads the message
/// twice, so it cannot be streamed); more is `CKR_DATA_LEN_RANGE`.
pub const EDDSA_MAX_MESSAGE: usize = 64 << 20;

/// A private key as the provider parsed it, cached on its object.
pub struct PrivateKey {
    curve: Curve,
    key: Box<dyn EcSigningKey>,
}

/// A public key as the provider parsed it, cached on its object.
pub struct PublicKey {
    curve: Curve,
    key: Box<dyn EcVerifyingKey>,
}

/// Key material that passed the import checks but that the provider refuses now
/// means the stored object is damaged.
fn damaged(e: Error) -> Error {
    match e.rv() {
        CKR_ATTRIBUTE_VALUE_INVALID | CKR_TEMPLATE_INCOMPLETE | CKR_CURVE_NOT_SUPPORTED => {
            err(CKR_GENERAL_ERROR, format!("the stored key is not usable: {}", e.message()))
        }
        _ => e,
    }
}

fn private_key(provider: &dyn Provider, key: &Object) -> Result<Arc<PrivateKey>> {
    key.parsed(|attrs| {
        let curve = curve_of(attrs)?;
        let d = attrs.get(CKA_VALUE).ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, "no CKA_VALUE"))?;
        Ok(PrivateKey { curve, key: provider.ec_signing_key(curve, d)? })
    })
    .map_err(damaged)
}

fn public_key(provider: &dyn Provider, key: &Object) -> Result<Arc<PublicKey>> {
    key.parsed(|attrs| {
        let curve = curve_of(attrs)?;
        let point = attrs.get(CKA_EC_POINT).unwrap_or_default();
        let q = decode_point(curve, point).ok_or_else(|| err(CKR_ATTRIBUTE_VALUE_INVALID, "bad CKA_EC_POINT"))?;
        Ok(PublicKey { curve, key: provider.ec_verifying_key(curve, q)? })
    })
    .map_err(damaged)
}

/// The hash of `CKM_ECDSA_SHA*`, `None` for raw `CKM_ECDSA`.
fn ecdsa_hash(mech: &Mechanism) -> Option<HashAlg> {
    match mech.ty {
        CKM_ECDSA_SHA1 => Some(HashAlg::Sha1),
        CKM_ECDSA_SHA224 => Some(HashAlg::Sha224),
        CKM_ECDSA_SHA256 => Some(HashAlg::Sha256),
        CKM_ECDSA_SHA384 => Some(HashAlg::Sha384),
        CKM_ECDSA_SHA512 => Some(HashAlg::Sha512),
        _ => None,
    }
}

/// The hash ECDSA signs, reduced as it arrives.
///
/// SEC 1 §4.1.3 step 5 turns the hash into an integer with bits2int: its leftmost
/// bits, as many as the order has. For P-256 and P-384 the order's bit length is a
/// multiple of 8, so that is the first 32 or 48 bytes, and a shorter hash is its
/// plain value (left-padded with zeros). `CKM_ECDSA` takes a hash of any length
/// (PKCS#11 v3.0 §2.3.6, "input: any") and does exactly this, keeping only the bytes
/// it needs.
///
/// P-521's order has 521 bits; a hash of up to 64 bytes (SHA-512) is its plain
/// value. Longer input would need a shift by bits that aws-lc-rs cannot be given,
/// so on P-521 `CKM_ECDSA` takes at most 64 bytes and more is `CKR_DATA_LEN_RANGE`,
/// with both providers.
struct Reduced {
    curve: Curve,
    buf: [u8; 66],
    len: usize,
}

impl Reduced {
    fn new(curve: Curve) -> Self {
        Self { curve, buf: [0; 66], len: 0 }
    }

    fn push(&mut self, data: &[u8]) -> Result<()> {
        let cap = self.curve.max_digest_len();
        let take = data.len().min(cap - self.len);
        if take < data.len() && self.curve == Curve::P521 {
            return Err(err(CKR_DATA_LEN_RANGE, "CKM_ECDSA on P-521 takes at most 64 bytes"));
        }
        self.buf[self.len..self.len + take].copy_from_slice(&data[..take]);
        self.len += take;
        Ok(())
    }

    /// The integer as [`Curve::field_len`] big-endian bytes.
    fn value(&self) -> ([u8; 66], usize) {
        let n = self.curve.field_len();
        let mut out = [0u8; 66];
        out[n - self.len..n].copy_from_slice(&self.buf[..self.len]);
        (out, n)
    }
}

/// What an ECDSA operation has been given so far.
enum Input {
    /// `CKM_ECDSA`: the hash itself.
    Raw(Reduced),
    /// `CKM_ECDSA_SHA*`: the message, hashed as it arrives.
    Hashed(Curve, Option<Box<dyn Hasher>>),
}

impl Input {
    fn new(provider: &dyn Provider, mech: &Mechanism, curve: Curve) -> Self {
        match ecdsa_hash(mech) {
            None => Input::Raw(Reduced::new(curve)),
            Some(h) => Input::Hashed(curve, Some(provider.hasher(h))),
        }
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        match self {
            Input::Raw(r) => r.push(data),
            Input::Hashed(_, Some(h)) => {
                h.update(data);
                Ok(())
            }
            Input::Hashed(_, None) => Err(err(CKR_OPERATION_NOT_INITIALIZED, "the operation has finished")),
        }
    }

    /// The reduced hash, `field_len` bytes.
    fn finish(&mut self) -> Result<([u8; 66], usize)> {
        match self {
            Input::Raw(r) => Ok(r.value()),
            Input::Hashed(curve, h) => {
                let h = h.take().ok_or_else(|| err(CKR_OPERATION_NOT_INITIALIZED, "the operation has finished"))?;
                let mut r = Reduced::new(*curve);
                // A digest is at most 64 bytes: within P-521's limit.
                r.push(&h.finish())?;
                Ok(r.value())
            }
        }
    }
}

struct EcdsaSign {
    key: Arc<PrivateKey>,
    input: Input,
}

impl SignOp for EcdsaSign {
    fn sign_len(&self) -> usize {
        2 * self.key.curve.field_len()
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        let (hash, n) = self.input.finish()?;
        self.key.key.sign(&hash[..n])
    }
}

struct EcdsaVerify {
    key: Arc<PublicKey>,
    input: Input,
}

/// PKCS#11 v3.0 §5.13: a signature of the wrong length is `CKR_SIGNATURE_LEN_RANGE`.
fn check_len(signature: &[u8], want: usize) -> Result<()> {
    if signature.len() != want {
        return Err(err(CKR_SIGNATURE_LEN_RANGE, format!("the signature has {} bytes, not {want}", signature.len())));
    }
    Ok(())
}

impl VerifyOp for EcdsaVerify {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }

    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let (hash, n) = self.input.finish()?;
        check_len(signature, 2 * self.key.curve.field_len())?;
        self.key.key.verify(&hash[..n], signature)
    }
}

/// `C_SignInit` for the ECDSA mechanisms.
pub fn ecdsa_sign(provider: &dyn Provider, mech: &Mechanism, key: &Object) -> Result<Box<dyn SignOp>> {
    mech.no_parameter()?;
    let key = private_key(provider, key)?;
    check_key_size(&ECDSA_INFO, key.curve.bits())?;
    let input = Input::new(provider, mech, key.curve);
    Ok(Box::new(EcdsaSign { key, input }))
}

/// `C_VerifyInit` for the ECDSA mechanisms.
pub fn ecdsa_verify(provider: &dyn Provider, mech: &Mechanism, key: &Object) -> Result<Box<dyn VerifyOp>> {
    mech.no_parameter()?;
    let key = public_key(provider, key)?;
    check_key_size(&ECDSA_INFO, key.curve.bits())?;
    let input = Input::new(provider, mech, key.curve);
    Ok(Box::new(EcdsaVerify { key, input }))
}

/// The EdDSA variant `CK_EDDSA_PARAMS` selects (PKCS#11 v3.0 §2.3.14).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Variant {
    /// Ed25519: no parameter, or `phFlag` false and no context.
    Pure,
    /// Ed25519ph: `phFlag` true, with the context (possibly empty).
    Prehash(Vec<u8>),
}

/// Reads the parameter. Ed25519ctx (a context without `phFlag`) is not offered: no
/// provider has it. Ed25519ph needs a provider that has it (RustCrypto does,
/// aws-lc-rs does not); otherwise `CKR_MECHANISM_PARAM_INVALID`.
fn variant(provider: &dyn Provider, mech: &Mechanism) -> Result<Variant> {
    match &mech.param {
        Param::None => Ok(Variant::Pure),
        Param::Eddsa { prehash: false, context } if context.is_empty() => Ok(Variant::Pure),
        Param::Eddsa { prehash: false, .. } => {
            Err(mech.bad_param("Ed25519ctx (a context without phFlag) is not supported"))
        }
        Param::Eddsa { prehash: true, context } => {
            if context.len() > 255 {
                return Err(mech.bad_param("an EdDSA context has at most 255 bytes"));
            }
            if !provider.ed25519ph_supported() {
                return Err(mech.bad_param("this crypto provider does not offer Ed25519ph"));
            }
            Ok(Variant::Prehash(context.clone()))
        }
        _ => Err(mech.bad_param("takes CK_EDDSA_PARAMS or nothing")),
    }
}

struct EddsaSign {
    key: Arc<PrivateKey>,
    variant: Variant,
    message: Collect,
}

impl SignOp for EddsaSign {
    fn sign_len(&self) -> usize {
        64
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.message.push(data)
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        match &self.variant {
            Variant::Pure => self.key.key.sign(self.message.data()),
            Variant::Prehash(ctx) => self.key.key.sign_ed25519ph(self.message.data(), ctx),
        }
    }
}

struct EddsaVerify {
    key: Arc<PublicKey>,
    variant: Variant,
    message: Collect,
}

impl VerifyOp for EddsaVerify {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.message.push(data)
    }

    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        check_len(signature, 64)?;
        match &self.variant {
            Variant::Pure => self.key.key.verify(self.message.data(), signature),
            Variant::Prehash(ctx) => self.key.key.verify_ed25519ph(self.message.data(), ctx, signature),
        }
    }
}

/// `C_SignInit` for `CKM_EDDSA`.
pub fn eddsa_sign(provider: &dyn Provider, mech: &Mechanism, key: &Object) -> Result<Box<dyn SignOp>> {
    let variant = variant(provider, mech)?;
    let key = private_key(provider, key)?;
    check_key_size(&EDDSA_INFO, key.curve.bits())?;
    Ok(Box::new(EddsaSign { key, variant, message: Collect::new(EDDSA_MAX_MESSAGE) }))
}

/// `C_VerifyInit` for `CKM_EDDSA`.
pub fn eddsa_verify(provider: &dyn Provider, mech: &Mechanism, key: &Object) -> Result<Box<dyn VerifyOp>> {
    let variant = variant(provider, mech)?;
    let key = public_key(provider, key)?;
    check_key_size(&EDDSA_INFO, key.curve.bits())?;
    Ok(Box::new(EddsaVerify { key, variant, message: Collect::new(EDDSA_MAX_MESSAGE) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits2int_keeps_the_leftmost_bytes_and_pads_short_input() {
        let mut r = Reduced::new(Curve::P256);
        r.push(&[1; 20]).unwrap();
        let (v, n) = r.value();
        assert_eq!(n, 32);
        assert_eq!(&v[..12], &[0; 12]);
        assert_eq!(&v[12..32], &[1; 20]);
        let mut r = Reduced::new(Curve::P256);
        r.push(&[2; 40]).unwrap();
        r.push(&[3; 10]).unwrap();
        assert_eq!(&r.value().0[..32], &[2; 32]);
        let mut r = Reduced::new(Curve::P521);
        r.push(&[5; 64]).unwrap();
        let (v, n) = r.value();
        assert_eq!((n, &v[..2], &v[2..66]), (66, &[0u8, 0][..], &[5u8; 64][..]));
        assert_eq!(r.push(&[1]).unwrap_err().rv(), CKR_DATA_LEN_RANGE);
    }
}
