//! Attestation formats (docs/attestation.md): the claims of a key ([`claims`]), the
//! certificates of the chain and of attested keys ([`x509`]), signed evidence
//! ([`cms`]) and RFC 3161 timestamp tokens ([`tsp`]).
//!
//! Pure functions: no PKCS#11 state. Whatever signs does it through [`Signer`]; the
//! module implements it over a provider key with [`EcSigner`]. Encoding failures are
//! bugs (`CKR_GENERAL_ERROR`); input that does not parse (a certificate, a
//! SubjectPublicKeyInfo) is `CKR_FUNCTION_FAILED`.

pub mod claims;
pub mod cms;
pub mod oid;
pub mod tsp;
pub mod x509;

#[cfg(test)]
mod tests;

use cryptoki_sys::{CKR_FUNCTION_FAILED, CKR_GENERAL_ERROR};
use der::Encode;
use der::asn1::UintRef;
use spki::AlgorithmIdentifierOwned;

use crate::crypto::ec::{Curve, EcSigningKey};
use crate::crypto::{HashAlg, Provider};
use crate::error::{Error, Result, err};

/// Something that signs: the module implements it over a provider's EC key
/// ([`EcSigner`]); tests too.
pub trait Signer {
    /// The signature algorithm, as it goes into certificates and SignerInfos:
    /// `ecdsa-with-SHA256` for a P-256 key, `ecdsa-with-SHA384` for P-384,
    /// `ecdsa-with-SHA512` for P-521 (RFC 5758 §3.2, parameters absent).
    fn algorithm(&self) -> AlgorithmIdentifierOwned;

    /// Signs `message` (hashing it with the algorithm's hash) and returns the
    /// signature as it goes into a BIT STRING or a SignerInfo: for ECDSA the DER
    /// `Ecdsa-Sig-Value` (RFC 5480 §2.2; [`ecdsa_p1363_to_der`] makes it from `r || s`).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
}

/// A [`Signer`] over a provider's NIST-curve key: hashes with the provider (SHA-256
/// for P-256, SHA-384 for P-384, SHA-512 for P-521), signs with
/// [`EcSigningKey::sign`] and converts `r || s` to DER.
pub struct EcSigner<'a> {
    provider: &'a dyn Provider,
    key: &'a dyn EcSigningKey,
    curve: Curve,
}

impl<'a> EcSigner<'a> {
    /// A signer for `key`, a private key on `curve`. Ed25519 keys do not sign
    /// attestations (the chain is ECDSA): `CKR_GENERAL_ERROR`.
    pub fn new(provider: &'a dyn Provider, key: &'a dyn EcSigningKey, curve: Curve) -> Result<Self> {
        if curve.is_edwards() {
            return Err(err(CKR_GENERAL_ERROR, "attestation keys are ECDSA keys, not Ed25519"));
        }
        Ok(Self { provider, key, curve })
    }

    fn hash(&self) -> HashAlg {
        match self.curve {
            Curve::P256 | Curve::Ed25519 => HashAlg::Sha256,
            Curve::P384 => HashAlg::Sha384,
            Curve::P521 => HashAlg::Sha512,
        }
    }
}

impl Signer for EcSigner<'_> {
    fn algorithm(&self) -> AlgorithmIdentifierOwned {
        let oid = match self.hash() {
            HashAlg::Sha384 => oid::ECDSA_WITH_SHA384,
            HashAlg::Sha512 => oid::ECDSA_WITH_SHA512,
            _ => oid::ECDSA_WITH_SHA256,
        };
        AlgorithmIdentifierOwned { oid, parameters: None }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let digest = self.provider.hash(self.hash(), message);
        // EcSigningKey::sign takes bits2int of the hash as field_len bytes: the hash
        // itself for P-256 and P-384 (same length), left-padded for P-521 (66 > 64).
        let n = self.curve.field_len();
        let mut input = [0u8; 66];
        input[n - digest.len()..n].copy_from_slice(&digest);
        let rs = self.key.sign(&input[..n])?;
        ecdsa_p1363_to_der(&rs)
    }
}

/// `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (RFC 5480 §2.2, X9.62).
#[derive(der::Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// PKCS#11's ECDSA signature `r || s` (two halves of equal length) as the DER
/// `Ecdsa-Sig-Value` that X.509 and CMS carry. An odd length is a bug of the caller:
/// `CKR_GENERAL_ERROR`.
pub fn ecdsa_p1363_to_der(rs: &[u8]) -> Result<Vec<u8>> {
    if rs.is_empty() || !rs.len().is_multiple_of(2) {
        return Err(err(CKR_GENERAL_ERROR, format!("an ECDSA signature r || s of {} bytes", rs.len())));
    }
    let (r, s) = rs.split_at(rs.len() / 2);
    EcdsaSigValue { r: UintRef::new(r).map_err(encoding)?, s: UintRef::new(s).map_err(encoding)? }
        .to_der()
        .map_err(encoding)
}

/// An encoding failure: a bug, not bad input.
fn encoding(e: der::Error) -> Error {
    err(CKR_GENERAL_ERROR, format!("attestation: DER encoding failed: {e}"))
}

/// Input that does not parse: `what` names it.
fn parsing(what: &'static str) -> impl Fn(der::Error) -> Error {
    move |e| err(CKR_FUNCTION_FAILED, format!("attestation: {what} does not parse: {e}"))
}
