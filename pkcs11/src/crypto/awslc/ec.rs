//! [`crate::crypto::EcOps`] for AwsLc.
//!
//! ECDSA goes through `EcdsaKeyPair::sign_digest` and
//! `ParsedPublicKey::verify_digest_sig`, which take a digest of the length of the
//! algorithm's hash: SHA-256 for P-256, SHA-384 for P-384, SHA-512 for P-521. The
//! mechanism layer hands over the hash already reduced to the curve's length (see
//! [`EcSigningKey::sign`]); for P-521 that is 66 bytes whose first two are zero, of
//! which the last 64 are passed on. aws-lc then applies bits2int itself, which leaves
//! such a value unchanged, so the signature is the one ECDSA defines for the input.

use aws_lc_rs::agreement::{self, ECDH_P256, ECDH_P384, ECDH_P521, UnparsedPublicKey};
use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey};
use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::AwsLc;
use crate::crypto::ec::{Curve, EcSigningKey, EcVerifyingKey, ed25519_public_key_decodes};
use crate::crypto::{Cipher, EcOps};
use crate::error::{Result, err};

fn ecdh_alg(curve: Curve) -> Result<&'static agreement::Algorithm> {
    Ok(match curve {
        Curve::P256 => &ECDH_P256,
        Curve::P384 => &ECDH_P384,
        Curve::P521 => &ECDH_P521,
        Curve::Ed25519 => return Err(err(CKR_GENERAL_ERROR, "ECDH is not defined on Ed25519")),
    })
}

/// The signing algorithm, its verification twin and the digest they expect.
fn ecdsa_algs(
    curve: Curve,
) -> (
    &'static signature::EcdsaSigningAlgorithm,
    &'static signature::EcdsaVerificationAlgorithm,
    &'static digest::Algorithm,
) {
    match curve {
        Curve::P384 => {
            (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &signature::ECDSA_P384_SHA384_FIXED, &digest::SHA384)
        }
        Curve::P521 => {
            (&signature::ECDSA_P521_SHA512_FIXED_SIGNING, &signature::ECDSA_P521_SHA512_FIXED, &digest::SHA512)
        }
        Curve::P256 | Curve::Ed25519 => {
            (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &signature::ECDSA_P256_SHA256_FIXED, &digest::SHA256)
        }
    }
}

/// The reduced hash as the digest aws-lc expects (see the module comment).
fn as_digest(curve: Curve, input: &[u8]) -> Result<Digest> {
    let (_, _, alg) = ecdsa_algs(curve);
    // P-256 and P-384: all of it; P-521: the last 64 of 66 bytes, the first two zero.
    let skip = curve.field_len() - alg.output_len;
    let reduced = input.len() == curve.field_len() && input[..skip].iter().all(|b| *b == 0);
    let digest = if reduced { Digest::import_less_safe(&input[skip..], alg).ok() } else { None };
    digest.ok_or_else(|| err(CKR_GENERAL_ERROR, "ECDSA input not reduced to the curve's length"))
}

fn failed(what: &'static str) -> impl Fn(aws_lc_rs::error::Unspecified) -> crate::error::Error {
    move |_| err(CKR_FUNCTION_FAILED, what)
}

fn bad_key(_: aws_lc_rs::error::KeyRejected) -> crate::error::Error {
    err(CKR_ATTRIBUTE_VALUE_INVALID, "not a valid key for this curve")
}

enum Signer {
    Ecdsa(Curve, EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl EcSigningKey for Signer {
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>> {
        match self {
            Signer::Ecdsa(curve, k) => {
                let sig = k.sign_digest(&as_digest(*curve, input)?).map_err(failed("ECDSA signing failed"))?;
                Ok(sig.as_ref().to_vec())
            }
            Signer::Ed25519(k) => Ok(k.try_sign(input).map_err(failed("Ed25519 signing failed"))?.as_ref().to_vec()),
        }
    }

    fn sign_ed25519ph(&self, _message: &[u8], _context: &[u8]) -> Result<Vec<u8>> {
        Err(err(CKR_MECHANISM_PARAM_INVALID, "the aws-lc provider does not offer Ed25519ph"))
    }
}

struct Verifier {
    curve: Curve,
    key: ParsedPublicKey,
}

impl EcVerifyingKey for Verifier {
    fn verify(&self, input: &[u8], sig: &[u8]) -> Result<()> {
        let ok = match self.curve {
            Curve::Ed25519 => self.key.verify_sig(input, sig),
            c => self.key.verify_digest_sig(&as_digest(c, input)?, sig),
        };
        ok.map_err(|_| err(CKR_SIGNATURE_INVALID, "the signature does not verify"))
    }

    fn verify_ed25519ph(&self, _message: &[u8], _context: &[u8], _sig: &[u8]) -> Result<()> {
        Err(err(CKR_MECHANISM_PARAM_INVALID, "the aws-lc provider does not offer Ed25519ph"))
    }
}

fn ed25519_key(seed: &[u8]) -> Result<Ed25519KeyPair> {
    if seed.len() != 32 {
        return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "an Ed25519 private key is a 32-byte seed"));
    }
    Ed25519KeyPair::from_seed_unchecked(seed).map_err(bad_key)
}

fn ecdh_key(curve: Curve, private: &[u8]) -> Result<agreement::PrivateKey> {
    // from_private_key refuses a scalar of the wrong length, zero, or not below n.
    agreement::PrivateKey::from_private_key(ecdh_alg(curve)?, private).map_err(bad_key)
}

impl EcOps for AwsLc {
    fn ec_generate(&self, curve: Curve) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>)> {
        if curve == Curve::Ed25519 {
            let mut seed = Zeroizing::new(vec![0u8; 32]);
            self.fill_random(&mut seed);
            let public = ed25519_key(&seed)?.public_key().as_ref().to_vec();
            return Ok((seed, public));
        }
        let k = agreement::PrivateKey::generate(ecdh_alg(curve)?).map_err(failed("EC key generation failed"))?;
        let d: aws_lc_rs::encoding::EcPrivateKeyBin<'_> =
            k.as_be_bytes().map_err(failed("EC key generation failed"))?;
        let public = k.compute_public_key().map_err(failed("EC key generation failed"))?;
        Ok((Zeroizing::new(d.as_ref().to_vec()), public.as_ref().to_vec()))
    }

    fn ec_public_key(&self, curve: Curve, private: &[u8]) -> Result<Vec<u8>> {
        if curve == Curve::Ed25519 {
            return Ok(ed25519_key(private)?.public_key().as_ref().to_vec());
        }
        let public = ecdh_key(curve, private)?.compute_public_key().map_err(failed("EC public key failed"))?;
        Ok(public.as_ref().to_vec())
    }

    fn ec_check_public(&self, curve: Curve, public: &[u8]) -> Result<()> {
        let ok = match curve {
            // aws-lc-rs takes any 32 bytes as an Ed25519 key; the check is ours.
            Curve::Ed25519 => public.try_into().is_ok_and(ed25519_public_key_decodes),
            // EC_POINT_oct2point checks that the point is on the curve.
            c => {
                public.len() == c.public_len()
                    && public[0] == 0x04
                    && ParsedPublicKey::new(ecdsa_algs(c).1, public).is_ok()
            }
        };
        if ok { Ok(()) } else { Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "not a point on the curve")) }
    }

    fn ec_signing_key(&self, curve: Curve, private: &[u8]) -> Result<Box<dyn EcSigningKey>> {
        if curve == Curve::Ed25519 {
            return Ok(Box::new(Signer::Ed25519(ed25519_key(private)?)));
        }
        let public = self.ec_public_key(curve, private)?;
        let k =
            EcdsaKeyPair::from_private_key_and_public_key(ecdsa_algs(curve).0, private, &public).map_err(bad_key)?;
        Ok(Box::new(Signer::Ecdsa(curve, k)))
    }

    fn ec_verifying_key(&self, curve: Curve, public: &[u8]) -> Result<Box<dyn EcVerifyingKey>> {
        self.ec_check_public(curve, public)?;
        let key = match curve {
            Curve::Ed25519 => ParsedPublicKey::new(&signature::ED25519, public),
            c => ParsedPublicKey::new(ecdsa_algs(c).1, public),
        }
        .map_err(bad_key)?;
        Ok(Box::new(Verifier { curve, key }))
    }

    fn ed25519ph_supported(&self) -> bool {
        false
    }

    fn ecdh(&self, curve: Curve, private: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let bad_peer =
            || err(CKR_MECHANISM_PARAM_INVALID, "the other party's public value is not a point on the curve");
        if peer.len() != curve.public_len() || peer[0] != 0x04 {
            return Err(bad_peer());
        }
        let k = ecdh_key(curve, private)?;
        agreement::agree(&k, UnparsedPublicKey::new(ecdh_alg(curve)?, peer), bad_peer(), |z| {
            Ok(Zeroizing::new(z.to_vec()))
        })
    }
}
