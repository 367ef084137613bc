//! Signature verification: what signs certificates, CMS and PKCS#10 requests.
//!
//! ferrohsm's chain signs with ECDSA (P-384 with SHA-384, P-256 with SHA-256); an
//! outside CA that certifies the device key may sign with RSA; a request is signed by
//! the attested key, which may be RSA, EC or Ed25519. All of these verify here.

use der::Encode;
use der::asn1::ObjectIdentifier as Oid;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::SubjectPublicKeyInfoOwned;

use super::oids;

/// Why a signature did not verify, in words.
pub type SigError = String;

/// The digest of `msg` for a signature algorithm's hash.
fn digest(alg: &Oid, msg: &[u8]) -> Result<Vec<u8>, SigError> {
    Ok(match *alg {
        oids::ECDSA_SHA256 | oids::RSA_SHA256 => Sha256::digest(msg).to_vec(),
        oids::ECDSA_SHA384 | oids::RSA_SHA384 => Sha384::digest(msg).to_vec(),
        oids::ECDSA_SHA512 | oids::RSA_SHA512 => Sha512::digest(msg).to_vec(),
        other => return Err(format!("unsupported signature algorithm {other}")),
    })
}

/// A short name of a signature algorithm, for messages.
pub fn alg_name(alg: &Oid) -> String {
    match *alg {
        oids::ECDSA_SHA256 => "ecdsa-with-SHA256".into(),
        oids::ECDSA_SHA384 => "ecdsa-with-SHA384".into(),
        oids::ECDSA_SHA512 => "ecdsa-with-SHA512".into(),
        oids::RSA_SHA256 => "sha256WithRSAEncryption".into(),
        oids::RSA_SHA384 => "sha384WithRSAEncryption".into(),
        oids::RSA_SHA512 => "sha512WithRSAEncryption".into(),
        oids::ED25519 => "Ed25519".into(),
        other => other.to_string(),
    }
}

/// Verifies `sig` over `msg` with the key `spki` and the signature algorithm `alg`
/// (its parameters must be absent, as RFC 5758 and RFC 8410 say, or NULL for RSA).
pub fn verify(
    spki: &SubjectPublicKeyInfoOwned,
    alg: &spki::AlgorithmIdentifierOwned,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), SigError> {
    let key_alg = spki.algorithm.oid;
    let point = spki.subject_public_key.as_bytes().ok_or("the public key is not a whole number of bytes")?;
    match alg.oid {
        oids::ECDSA_SHA256 | oids::ECDSA_SHA384 | oids::ECDSA_SHA512 => {
            if alg.parameters.is_some() {
                return Err("ECDSA signature algorithm with parameters (RFC 5758 says absent)".into());
            }
            if key_alg != oids::EC_PUBLIC_KEY {
                return Err(format!("an ECDSA signature but the key is {key_alg}"));
            }
            let curve: Oid = spki
                .algorithm
                .parameters
                .as_ref()
                .ok_or("the EC key names no curve")?
                .decode_as()
                .map_err(|e| format!("the EC key's curve: {e}"))?;
            let prehash = digest(&alg.oid, msg)?;
            ecdsa_prehash(&curve, point, &prehash, sig)
        }
        oids::RSA_SHA256 | oids::RSA_SHA384 | oids::RSA_SHA512 => {
            if key_alg != oids::RSA_ENCRYPTION {
                return Err(format!("an RSA signature but the key is {key_alg}"));
            }
            use rsa::pkcs8::DecodePublicKey;
            let der = spki.to_der().map_err(|e| e.to_string())?;
            let key = rsa::RsaPublicKey::from_public_key_der(&der).map_err(|e| format!("the RSA key: {e}"))?;
            let hashed = digest(&alg.oid, msg)?;
            let scheme = match alg.oid {
                oids::RSA_SHA256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                oids::RSA_SHA384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                _ => rsa::Pkcs1v15Sign::new::<Sha512>(),
            };
            key.verify(scheme, &hashed, sig).map_err(|_| "the RSA signature does not verify".to_string())
        }
        oids::ED25519 => {
            if key_alg != oids::ED25519 {
                return Err(format!("an Ed25519 signature but the key is {key_alg}"));
            }
            let key: [u8; 32] = point.try_into().map_err(|_| "an Ed25519 key is 32 bytes")?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|e| format!("the Ed25519 key: {e}"))?;
            let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| "an Ed25519 signature is 64 bytes")?;
            key.verify_strict(msg, &sig).map_err(|_| "the Ed25519 signature does not verify".to_string())
        }
        other => Err(format!("unsupported signature algorithm {other}")),
    }
}

/// ECDSA over a digest already made, on P-256 or P-384; `sig` is DER `ECDSA-Sig-Value`.
fn ecdsa_prehash(curve: &Oid, point: &[u8], prehash: &[u8], sig: &[u8]) -> Result<(), SigError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let bad = || "the ECDSA signature does not verify".to_string();
    match *curve {
        oids::P256 => {
            let key =
                p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| "the P-256 key is not a curve point")?;
            let sig = p256::ecdsa::Signature::from_der(sig).map_err(|_| "the ECDSA signature is not DER")?;
            key.verify_prehash(prehash, &sig).map_err(|_| bad())
        }
        oids::P384 => {
            let key =
                p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| "the P-384 key is not a curve point")?;
            let sig = p384::ecdsa::Signature::from_der(sig).map_err(|_| "the ECDSA signature is not DER")?;
            key.verify_prehash(prehash, &sig).map_err(|_| bad())
        }
        other => Err(format!("ECDSA on curve {} is not supported", oids::curve_name(&other.into()))),
    }
}

/// Converts a raw ECDSA signature `r || s` (as PKCS#11 returns it) to DER
/// `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, SigError> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(format!("a raw ECDSA signature of {} bytes", raw.len()));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let r = der::asn1::UintRef::new(r).map_err(|e| e.to_string())?;
    let s = der::asn1::UintRef::new(s).map_err(|e| e.to_string())?;
    let mut body = r.to_der().map_err(|e| e.to_string())?;
    body.extend(s.to_der().map_err(|e| e.to_string())?);
    let mut out = der::Header::new(der::Tag::Sequence, der::Length::try_from(body.len()).map_err(|e| e.to_string())?)
        .to_der()
        .map_err(|e| e.to_string())?;
    out.extend(body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_to_der_strips_and_pads() {
        // r = 0x0001, s = 0x80ff: r loses its leading zero, s gains one.
        let der = ecdsa_raw_to_der(&[0x00, 0x01, 0x80, 0xff]).unwrap();
        assert_eq!(der, [0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x03, 0x00, 0x80, 0xff]);
        assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_err());
    }
}
