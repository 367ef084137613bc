//! [`crate::crypto::EcOps`] for RustCrypto: `p256`, `p384`, `p521` (ECDSA with
//! RFC 6979 nonces, ECDH) and `ed25519-dalek`.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::RustCrypto;
use crate::crypto::ec::{Curve, EcSigningKey, EcVerifyingKey, ed25519_public_key_decodes};
use crate::crypto::{Cipher, EcOps};
use crate::error::{Result, err};

fn bad_key() -> crate::error::Error {
    err(CKR_ATTRIBUTE_VALUE_INVALID, "not a valid key for this curve")
}

fn bad_signature() -> crate::error::Error {
    err(CKR_SIGNATURE_INVALID, "the signature does not verify")
}

fn bad_peer() -> crate::error::Error {
    err(CKR_MECHANISM_PARAM_INVALID, "the other party's public value is not a point on the curve")
}

/// The same code for each NIST curve crate.
macro_rules! nist {
    ($m:ident, $c:ident) => {
        mod $m {
            use $c::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
            use $c::ecdsa::{Signature, SigningKey, VerifyingKey};
            use $c::elliptic_curve::sec1::ToSec1Point;
            use $c::{PublicKey, SecretKey};
            use zeroize::Zeroizing;

            use super::{bad_key, bad_peer, bad_signature};
            use crate::crypto::ec::{EcSigningKey, EcVerifyingKey};
            use crate::error::Result;

            pub fn secret(d: &[u8]) -> Result<SecretKey> {
                // The scalar has the field's length; from_slice also refuses 0 and n or more.
                if d.len() != <$c::FieldBytes>::default().len() {
                    return Err(bad_key());
                }
                SecretKey::from_slice(d).map_err(|_| bad_key())
            }

            pub fn public(q: &[u8]) -> Result<PublicKey> {
                // Uncompressed points only (SEC 1 §2.3.4); from_sec1_bytes checks the
                // curve equation and refuses the identity.
                if q.first() != Some(&0x04) {
                    return Err(bad_key());
                }
                PublicKey::from_sec1_bytes(q).map_err(|_| bad_key())
            }

            pub fn uncompressed(k: &PublicKey) -> Vec<u8> {
                k.to_sec1_point(false).as_bytes().to_vec()
            }

            pub fn public_of(d: &[u8]) -> Result<Vec<u8>> {
                Ok(uncompressed(&secret(d)?.public_key()))
            }

            pub struct Signer(pub SigningKey);

            impl EcSigningKey for Signer {
                fn sign(&self, input: &[u8]) -> Result<Vec<u8>> {
                    let sig: Signature = self
                        .0
                        .sign_prehash(input)
                        .map_err(|_| crate::error::err(cryptoki_sys::CKR_FUNCTION_FAILED, "ECDSA signing failed"))?;
                    Ok(sig.to_bytes().to_vec())
                }

                fn sign_ed25519ph(&self, _message: &[u8], _context: &[u8]) -> Result<Vec<u8>> {
                    Err(crate::error::err(cryptoki_sys::CKR_GENERAL_ERROR, "Ed25519ph on an ECDSA key"))
                }
            }

            pub fn signer(d: &[u8]) -> Result<Signer> {
                Ok(Signer(SigningKey::from(secret(d)?)))
            }

            pub struct Verifier(pub VerifyingKey);

            impl EcVerifyingKey for Verifier {
                fn verify(&self, input: &[u8], sig: &[u8]) -> Result<()> {
                    // r or s of zero, or not below n, is simply an invalid signature.
                    let sig = Signature::from_slice(sig).map_err(|_| bad_signature())?;
                    self.0.verify_prehash(input, &sig).map_err(|_| bad_signature())
                }

                fn verify_ed25519ph(&self, _message: &[u8], _context: &[u8], _sig: &[u8]) -> Result<()> {
                    Err(crate::error::err(cryptoki_sys::CKR_GENERAL_ERROR, "Ed25519ph on an ECDSA key"))
                }
            }

            pub fn verifier(q: &[u8]) -> Result<Verifier> {
                Ok(Verifier(VerifyingKey::from(public(q)?)))
            }

            pub fn ecdh(d: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
                let peer = public(peer).map_err(|_| bad_peer())?;
                let z = secret(d)?.diffie_hellman(&peer);
                Ok(Zeroizing::new(z.raw_secret_bytes().to_vec()))
            }
        }
    };
}

nist!(nist_p256, p256);
nist!(nist_p384, p384);
nist!(nist_p521, p521);

struct Ed25519Signer(ed25519_dalek::SigningKey);

impl EcSigningKey for Ed25519Signer {
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>> {
        use ed25519_dalek::Signer;
        Ok(self.0.sign(input).to_bytes().to_vec())
    }

    fn sign_ed25519ph(&self, message: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        use sha2::Digest;
        let sig = self
            .0
            .sign_prehashed(sha2::Sha512::new().chain_update(message), Some(context))
            .map_err(|_| err(CKR_MECHANISM_PARAM_INVALID, "Ed25519ph context longer than 255 bytes"))?;
        Ok(sig.to_bytes().to_vec())
    }
}

struct Ed25519Verifier(ed25519_dalek::VerifyingKey);

fn ed25519_signature(sig: &[u8]) -> Result<ed25519_dalek::Signature> {
    let bytes: &[u8; 64] = sig.try_into().map_err(|_| bad_signature())?;
    Ok(ed25519_dalek::Signature::from_bytes(bytes))
}

impl EcVerifyingKey for Ed25519Verifier {
    fn verify(&self, input: &[u8], sig: &[u8]) -> Result<()> {
        use ed25519_dalek::Verifier;
        self.0.verify(input, &ed25519_signature(sig)?).map_err(|_| bad_signature())
    }

    fn verify_ed25519ph(&self, message: &[u8], context: &[u8], sig: &[u8]) -> Result<()> {
        use sha2::Digest;
        self.0
            .verify_prehashed(sha2::Sha512::new().chain_update(message), Some(context), &ed25519_signature(sig)?)
            .map_err(|_| bad_signature())
    }
}

fn ed25519_seed(seed: &[u8]) -> Result<ed25519_dalek::SigningKey> {
    let seed: &[u8; 32] =
        seed.try_into().map_err(|_| err(CKR_ATTRIBUTE_VALUE_INVALID, "an Ed25519 private key is a 32-byte seed"))?;
    Ok(ed25519_dalek::SigningKey::from_bytes(seed))
}

impl EcOps for RustCrypto {
    fn ec_generate(&self, curve: Curve) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>)> {
        // Rejection sampling from the system generator: uniform in [1, n-1]. For P-521
        // the 7 bits above 521 are cleared first; n is so close to the power of two
        // above it that a retry is almost never needed on any curve.
        let mut d = Zeroizing::new(vec![0u8; curve.field_len()]);
        loop {
            self.fill_random(&mut d);
            if curve == Curve::P521 {
                d[0] &= 0x01;
            }
            match self.ec_public_key(curve, &d) {
                Ok(q) => return Ok((d, q)),
                Err(e) if e.rv() == CKR_ATTRIBUTE_VALUE_INVALID => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn ec_public_key(&self, curve: Curve, private: &[u8]) -> Result<Vec<u8>> {
        match curve {
            Curve::P256 => nist_p256::public_of(private),
            Curve::P384 => nist_p384::public_of(private),
            Curve::P521 => nist_p521::public_of(private),
            Curve::Ed25519 => Ok(ed25519_seed(private)?.verifying_key().to_bytes().to_vec()),
        }
    }

    fn ec_check_public(&self, curve: Curve, public: &[u8]) -> Result<()> {
        let ok = match curve {
            Curve::P256 => nist_p256::public(public).is_ok(),
            Curve::P384 => nist_p384::public(public).is_ok(),
            Curve::P521 => nist_p521::public(public).is_ok(),
            Curve::Ed25519 => public.try_into().is_ok_and(ed25519_public_key_decodes),
        };
        if ok { Ok(()) } else { Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "not a point on the curve")) }
    }

    fn ec_signing_key(&self, curve: Curve, private: &[u8]) -> Result<Box<dyn EcSigningKey>> {
        Ok(match curve {
            Curve::P256 => Box::new(nist_p256::signer(private)?),
            Curve::P384 => Box::new(nist_p384::signer(private)?),
            Curve::P521 => Box::new(nist_p521::signer(private)?),
            Curve::Ed25519 => Box::new(Ed25519Signer(ed25519_seed(private)?)),
        })
    }

    fn ec_verifying_key(&self, curve: Curve, public: &[u8]) -> Result<Box<dyn EcVerifyingKey>> {
        Ok(match curve {
            Curve::P256 => Box::new(nist_p256::verifier(public)?),
            Curve::P384 => Box::new(nist_p384::verifier(public)?),
            Curve::P521 => Box::new(nist_p521::verifier(public)?),
            Curve::Ed25519 => {
                self.ec_check_public(curve, public)?;
                let bytes: &[u8; 32] = public.try_into().map_err(|_| bad_key())?;
                Box::new(Ed25519Verifier(ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| bad_key())?))
            }
        })
    }

    fn ed25519ph_supported(&self) -> bool {
        true
    }

    fn ecdh(&self, curve: Curve, private: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match curve {
            Curve::P256 => nist_p256::ecdh(private, peer),
            Curve::P384 => nist_p384::ecdh(private, peer),
            Curve::P521 => nist_p521::ecdh(private, peer),
            Curve::Ed25519 => Err(err(CKR_GENERAL_ERROR, "ECDH is not defined on Ed25519")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared Ed25519 point check agrees with curve25519-dalek's decompression on
    /// canonical encodings (dalek also takes `y` of p or more, which RFC 8032 refuses).
    #[test]
    fn ed25519_point_check_agrees_with_dalek() {
        let p = RustCrypto;
        let mut b = [0u8; 32];
        let (mut yes, mut no) = (0, 0);
        for _ in 0..2000 {
            p.fill_random(&mut b);
            // Random y is below p but for a 19-in-2^255 chance; keep the sign bit random.
            let ours = ed25519_public_key_decodes(&b);
            let dalek = ed25519_dalek::VerifyingKey::from_bytes(&b).is_ok();
            assert_eq!(ours, dalek, "{b:02x?}");
            if ours { yes += 1 } else { no += 1 }
        }
        assert!(yes > 500 && no > 500, "{yes} decode, {no} do not");
    }
}
