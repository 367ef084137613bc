//! [`crate::crypto::RsaOps`] for AwsLc.
//!
//! aws-lc does the common, hot paths: key generation at 2048, 3072, 4096 and 8192 bits
//! with `e = 65537`; PKCS#1 v1.5 signatures over SHA-256/384/512 `DigestInfo`s and
//! verification over SHA-1/256/384/512; PSS with the hash as MGF1 hash and salt length
//! (SHA-256/384/512); PKCS#1 v1.5 decryption and encryption; OAEP with the same hash for
//! the label and MGF1 (SHA-1/256/384/512). Everything else goes to the shared
//! implementation on the `rsa` crate ([`SoftPrivate`], [`SoftPublic`]), built lazily
//! from the same key.
//!
//! Each aws-lc key object is made once per token object (the mechanism layer caches
//! this provider's key) and reused by every operation; aws-lc allows concurrent use of
//! an `EVP_PKEY` by non-mutating calls.

use aws_lc_rs::digest::Digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeyPair, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaEncoding, RsaParameters};
use cryptoki_sys::*;
use once_cell::sync::OnceCell;
use zeroize::Zeroizing;

use super::{AwsLc, algorithm};
use crate::crypto::rsa::{
    self, OaepParams, PrivateKey, PrivateParts, PssParams, PublicKey, SoftPrivate, SoftPublic, split_digest_info,
};
use crate::crypto::{HashAlg, RsaOps};
use crate::error::{Result, err};

impl RsaOps for AwsLc {
    fn rsa_generate(&self, bits: usize, e: u64) -> Result<PrivateParts> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            // aws-lc-rs generates these sizes only, and only with e = 65537.
            _ => return rsa::generate(bits, e),
        };
        if e != 65537 {
            return rsa::generate(bits, e);
        }
        let pair = KeyPair::generate(size).map_err(|_| err(CKR_FUNCTION_FAILED, "aws-lc RSA key generation failed"))?;
        let der = pair.as_der().map_err(|_| err(CKR_FUNCTION_FAILED, "aws-lc could not encode the new RSA key"))?;
        PrivateParts::from_pkcs8_der(der.as_ref())
            .map_err(|e| err(CKR_FUNCTION_FAILED, format!("reading aws-lc's new key: {}", e.message())))
    }

    fn rsa_private_key(&self, parts: &PrivateParts) -> Result<Box<dyn PrivateKey>> {
        let der = parts.to_pkcs1_der()?;
        let pair =
            KeyPair::from_der(&der).map_err(|e| err(CKR_FUNCTION_FAILED, format!("aws-lc rejected the key: {e}")))?;
        let k = pair.public_modulus_len();
        Ok(Box::new(AwsPrivate { pair, k, pkcs1: OnceCell::new(), oaep: OnceCell::new(), soft: OnceCell::new() }))
    }

    fn rsa_public_key(&self, n: &[u8], e: &[u8]) -> Result<Box<dyn PublicKey>> {
        let n = rsa::strip(n);
        Ok(Box::new(AwsPublic {
            der: rsa::public_key_der(n, e)?,
            spki: rsa::public_key_info(n, e)?,
            n: n.to_vec(),
            e: rsa::strip(e).to_vec(),
            k: n.len(),
            verifiers: Default::default(),
            pkcs1: OnceCell::new(),
            oaep: OnceCell::new(),
            soft: OnceCell::new(),
        }))
    }
}

/// aws-lc's PKCS#1 v1.5 signing encoding for a hash, where it has one.
fn pkcs1_encoding(alg: HashAlg) -> Option<&'static dyn RsaEncoding> {
    match alg {
        HashAlg::Sha256 => Some(&signature::RSA_PKCS1_SHA256),
        HashAlg::Sha384 => Some(&signature::RSA_PKCS1_SHA384),
        HashAlg::Sha512 => Some(&signature::RSA_PKCS1_SHA512),
        HashAlg::Sha1 | HashAlg::Sha224 => None,
    }
}

/// aws-lc's PSS signing encoding, for the parameters it supports: MGF1 over the
/// message hash and a salt as long as the hash.
fn pss_encoding(p: &PssParams) -> Option<&'static dyn RsaEncoding> {
    if p.mgf != p.hash || p.salt_len != p.hash.output_len() {
        return None;
    }
    match p.hash {
        HashAlg::Sha256 => Some(&signature::RSA_PSS_SHA256),
        HashAlg::Sha384 => Some(&signature::RSA_PSS_SHA384),
        HashAlg::Sha512 => Some(&signature::RSA_PSS_SHA512),
        HashAlg::Sha1 | HashAlg::Sha224 => None,
    }
}

/// aws-lc's OAEP algorithm, when the label hash is also the MGF1 hash.
fn oaep_algorithm(p: &OaepParams<'_>) -> Option<&'static OaepAlgorithm> {
    if p.mgf != p.hash {
        return None;
    }
    match p.hash {
        HashAlg::Sha1 => Some(&OAEP_SHA1_MGF1SHA1),
        HashAlg::Sha256 => Some(&OAEP_SHA256_MGF1SHA256),
        HashAlg::Sha384 => Some(&OAEP_SHA384_MGF1SHA384),
        HashAlg::Sha512 => Some(&OAEP_SHA512_MGF1SHA512),
        HashAlg::Sha224 => None,
    }
}

fn label<'a>(p: &OaepParams<'a>) -> Option<&'a [u8]> {
    (!p.label.is_empty()).then_some(p.label)
}

fn digest(alg: HashAlg, hash: &[u8]) -> Result<Digest> {
    Digest::import_less_safe(hash, algorithm(alg)).map_err(|_| err(CKR_FUNCTION_FAILED, "hash of the wrong length"))
}

/// A private key: aws-lc's signing key, its decryption keys and the `rsa` crate's key
/// made on first need.
struct AwsPrivate {
    pair: KeyPair,
    k: usize,
    pkcs1: OnceCell<Pkcs1PrivateDecryptingKey>,
    oaep: OnceCell<OaepPrivateDecryptingKey>,
    soft: OnceCell<SoftPrivate>,
}

impl AwsPrivate {
    fn decrypting_key(&self) -> Result<PrivateDecryptingKey> {
        let der = self.pair.as_der().map_err(|_| err(CKR_FUNCTION_FAILED, "aws-lc could not encode the key"))?;
        PrivateDecryptingKey::from_pkcs8(der.as_ref())
            .map_err(|e| err(CKR_FUNCTION_FAILED, format!("aws-lc rejected the key: {e}")))
    }

    fn soft(&self) -> Result<&SoftPrivate> {
        self.soft.get_or_try_init(|| {
            let der = self.pair.as_der().map_err(|_| err(CKR_FUNCTION_FAILED, "aws-lc could not encode the key"))?;
            let parts = PrivateParts::from_pkcs8_der(der.as_ref())
                .map_err(|e| err(CKR_FUNCTION_FAILED, format!("re-reading the key: {}", e.message())))?;
            SoftPrivate::new(&parts)
        })
    }

    fn sign_digest(&self, enc: &'static dyn RsaEncoding, alg: HashAlg, hash: &[u8]) -> Result<Vec<u8>> {
        let mut sig = vec![0u8; self.k];
        self.pair
            .sign_digest(enc, &digest(alg, hash)?, &mut sig)
            .map_err(|_| err(CKR_FUNCTION_FAILED, "aws-lc RSA signature failed"))?;
        Ok(sig)
    }
}

impl PrivateKey for AwsPrivate {
    fn sign_pkcs1(&self, t: &[u8]) -> Result<Vec<u8>> {
        if let Some((alg, hash)) = split_digest_info(t)
            && let Some(enc) = pkcs1_encoding(alg)
        {
            return self.sign_digest(enc, alg, hash);
        }
        self.soft()?.sign_pkcs1(t)
    }

    fn sign_pss(&self, p: &PssParams, m_hash: &[u8]) -> Result<Vec<u8>> {
        match pss_encoding(p) {
            Some(enc) => self.sign_digest(enc, p.hash, m_hash),
            None => self.soft()?.sign_pss(p, m_hash),
        }
    }

    fn decrypt_pkcs1(&self, c: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let key = self.pkcs1.get_or_try_init(|| {
            Pkcs1PrivateDecryptingKey::new(self.decrypting_key()?)
                .map_err(|_| err(CKR_FUNCTION_FAILED, "aws-lc PKCS#1 decryption key"))
        })?;
        let mut out = Zeroizing::new(vec![0u8; self.k]);
        // aws-lc checks the padding in constant time and fails the same way for every
        // bad block (RSA_padding_check_PKCS1_type_2).
        let n =
            key.decrypt(c, &mut out).map_err(|_| err(CKR_ENCRYPTED_DATA_INVALID, "bad PKCS#1 v1.5 ciphertext"))?.len();
        out.truncate(n);
        Ok(out)
    }

    fn decrypt_oaep(&self, p: &OaepParams<'_>, c: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let Some(alg) = oaep_algorithm(p) else { return self.soft()?.decrypt_oaep(p, c) };
        let key = self.oaep.get_or_try_init(|| {
            OaepPrivateDecryptingKey::new(self.decrypting_key()?)
                .map_err(|_| err(CKR_FUNCTION_FAILED, "aws-lc OAEP decryption key"))
        })?;
        let mut out = Zeroizing::new(vec![0u8; self.k]);
        let n = key
            .decrypt(alg, c, &mut out, label(p))
            .map_err(|_| err(CKR_ENCRYPTED_DATA_INVALID, "bad OAEP ciphertext"))?
            .len();
        out.truncate(n);
        Ok(out)
    }

    fn raw(&self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.soft()?.raw(input)
    }
}

/// The verification algorithms aws-lc has, one parsed key each.
const VERIFIERS: [&RsaParameters; 7] = [
    &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
    &signature::RSA_PKCS1_2048_8192_SHA256,
    &signature::RSA_PKCS1_2048_8192_SHA384,
    &signature::RSA_PKCS1_2048_8192_SHA512,
    &signature::RSA_PSS_2048_8192_SHA256,
    &signature::RSA_PSS_2048_8192_SHA384,
    &signature::RSA_PSS_2048_8192_SHA512,
];

/// A public key: aws-lc keys parsed per algorithm on first use, and the `rsa` crate's.
struct AwsPublic {
    /// PKCS#1 `RSAPublicKey`.
    der: Vec<u8>,
    /// `SubjectPublicKeyInfo`.
    spki: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
    k: usize,
    verifiers: [OnceCell<ParsedPublicKey>; 7],
    pkcs1: OnceCell<Pkcs1PublicEncryptingKey>,
    oaep: OnceCell<OaepPublicEncryptingKey>,
    soft: OnceCell<SoftPublic>,
}

impl AwsPublic {
    fn verifier(&self, i: usize) -> Result<&ParsedPublicKey> {
        self.verifiers[i].get_or_try_init(|| {
            ParsedPublicKey::new(VERIFIERS[i], &self.der)
                .map_err(|e| err(CKR_FUNCTION_FAILED, format!("aws-lc rejected the public key: {e}")))
        })
    }

    fn encrypting_key(&self) -> Result<PublicEncryptingKey> {
        PublicEncryptingKey::from_der(&self.spki)
            .map_err(|e| err(CKR_FUNCTION_FAILED, format!("aws-lc rejected the public key: {e}")))
    }

    fn soft(&self) -> Result<&SoftPublic> {
        self.soft.get_or_try_init(|| SoftPublic::new(&self.n, &self.e))
    }

    fn verify_digest(&self, i: usize, alg: HashAlg, hash: &[u8], sig: &[u8]) -> Result<()> {
        self.verifier(i)?
            .verify_digest_sig(&digest(alg, hash)?, sig)
            .map_err(|_| err(CKR_SIGNATURE_INVALID, "RSA signature does not verify"))
    }
}

impl PublicKey for AwsPublic {
    fn verify_pkcs1(&self, t: &[u8], sig: &[u8]) -> Result<()> {
        let which = split_digest_info(t).and_then(|(alg, hash)| {
            let i = match alg {
                HashAlg::Sha1 => 0,
                HashAlg::Sha256 => 1,
                HashAlg::Sha384 => 2,
                HashAlg::Sha512 => 3,
                HashAlg::Sha224 => return None,
            };
            Some((i, alg, hash))
        });
        match which {
            Some((i, alg, hash)) => self.verify_digest(i, alg, hash, sig),
            None => self.soft()?.verify_pkcs1(t, sig),
        }
    }

    fn verify_pss(&self, p: &PssParams, m_hash: &[u8], sig: &[u8]) -> Result<()> {
        let i = match pss_encoding(p).map(|_| p.hash) {
            Some(HashAlg::Sha256) => 4,
            Some(HashAlg::Sha384) => 5,
            Some(HashAlg::Sha512) => 6,
            _ => return self.soft()?.verify_pss(p, m_hash, sig),
        };
        self.verify_digest(i, p.hash, m_hash, sig)
    }

    fn encrypt_pkcs1(&self, m: &[u8]) -> Result<Vec<u8>> {
        if m.len() + 11 > self.k {
            return Err(err(CKR_DATA_LEN_RANGE, "PKCS#1 v1.5: at most k - 11 bytes are encrypted"));
        }
        let key = self.pkcs1.get_or_try_init(|| {
            Pkcs1PublicEncryptingKey::new(self.encrypting_key()?)
                .map_err(|_| err(CKR_FUNCTION_FAILED, "aws-lc PKCS#1 encryption key"))
        })?;
        let mut out = vec![0u8; self.k];
        let n = key
            .encrypt(m, &mut out)
            .map_err(|_| err(CKR_FUNCTION_FAILED, "aws-lc PKCS#1 v1.5 encryption failed"))?
            .len();
        out.truncate(n);
        Ok(out)
    }

    fn encrypt_oaep(&self, p: &OaepParams<'_>, m: &[u8]) -> Result<Vec<u8>> {
        let Some(alg) = oaep_algorithm(p) else { return self.soft()?.encrypt_oaep(p, m) };
        if m.len() + 2 * p.hash.output_len() + 2 > self.k {
            return Err(err(CKR_DATA_LEN_RANGE, "OAEP: at most k - 2 hLen - 2 bytes are encrypted"));
        }
        let key = self.oaep.get_or_try_init(|| {
            OaepPublicEncryptingKey::new(self.encrypting_key()?)
                .map_err(|_| err(CKR_FUNCTION_FAILED, "aws-lc OAEP encryption key"))
        })?;
        let mut out = vec![0u8; self.k];
        let n = key
            .encrypt(alg, m, &mut out, label(p))
            .map_err(|_| err(CKR_FUNCTION_FAILED, "aws-lc OAEP encryption failed"))?
            .len();
        out.truncate(n);
        Ok(out)
    }

    fn raw(&self, input: &[u8]) -> Result<Vec<u8>> {
        self.soft()?.raw(input)
    }
}
