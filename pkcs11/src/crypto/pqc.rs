//! Post-quantum algorithms: ML-DSA (FIPS 204) and ML-KEM (FIPS 203).
//!
//! Both providers share one implementation, RustCrypto's `ml-dsa` and `ml-kem`
//! crates, as issue 8 allows where aws-lc-rs lacks something: aws-lc-rs 1.19 signs
//! ML-DSA only with an empty context and without the internal interface
//! (so no HashML-DSA, no deterministic signing), and makes ML-KEM keys only at
//! random (no key generation from a seed, which the known-answer tests and
//! `CKA_SEED` need). The trait's methods have default bodies so that a provider can
//! later take over what its library does well; today neither does.
//!
//! Keys cross this interface as bytes in the encodings of the standards: seeds
//! (ML-DSA ξ, 32 bytes; ML-KEM d‖z, 64 bytes), public keys (pkEncode, ek), and the
//! expanded private keys (skEncode, dk) that PKCS#11 3.2 keeps in `CKA_VALUE`.

#![allow(deprecated)] // the expanded key encodings: PKCS#11 3.2 stores them in CKA_VALUE.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use crate::error::{Result, err};

/// An ML-DSA parameter set (`CKA_PARAMETER_SET`, `CKP_ML_DSA_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MlDsaSet {
    /// ML-DSA-44 (category 2).
    P44,
    /// ML-DSA-65 (category 3).
    P65,
    /// ML-DSA-87 (category 5).
    P87,
}

impl MlDsaSet {
    /// Every set, smallest first.
    pub const ALL: [MlDsaSet; 3] = [MlDsaSet::P44, MlDsaSet::P65, MlDsaSet::P87];

    /// From `CKP_ML_DSA_*`.
    pub fn from_ckp(v: u64) -> Option<Self> {
        match v as CK_ULONG {
            CKP_ML_DSA_44 => Some(Self::P44),
            CKP_ML_DSA_65 => Some(Self::P65),
            CKP_ML_DSA_87 => Some(Self::P87),
            _ => None,
        }
    }

    /// `CKP_ML_DSA_*`.
    pub fn ckp(self) -> CK_ULONG {
        match self {
            Self::P44 => CKP_ML_DSA_44,
            Self::P65 => CKP_ML_DSA_65,
            Self::P87 => CKP_ML_DSA_87,
        }
    }

    /// `"ML-DSA-65"`...
    pub fn name(self) -> &'static str {
        match self {
            Self::P44 => "ML-DSA-44",
            Self::P65 => "ML-DSA-65",
            Self::P87 => "ML-DSA-87",
        }
    }

    /// Public key length (FIPS 204 Table 2).
    pub fn public_len(self) -> usize {
        match self {
            Self::P44 => 1312,
            Self::P65 => 1952,
            Self::P87 => 2592,
        }
    }

    /// Expanded private key length (FIPS 204 Table 2).
    pub fn private_len(self) -> usize {
        match self {
            Self::P44 => 2560,
            Self::P65 => 4032,
            Self::P87 => 4896,
        }
    }

    /// Signature length (FIPS 204 Table 2).
    pub fn signature_len(self) -> usize {
        match self {
            Self::P44 => 2420,
            Self::P65 => 3309,
            Self::P87 => 4627,
        }
    }

    /// The seed ξ: 32 bytes.
    pub const SEED_LEN: usize = 32;

    /// `id-ml-dsa-44` and friends (FIPS 204, NIST CSOR; RFC 9881):
    /// 2.16.840.1.101.3.4.3.17, .18, .19.
    pub fn oid(self) -> &'static str {
        match self {
            Self::P44 => "2.16.840.1.101.3.4.3.17",
            Self::P65 => "2.16.840.1.101.3.4.3.18",
            Self::P87 => "2.16.840.1.101.3.4.3.19",
        }
    }
}

/// An ML-KEM parameter set (`CKA_PARAMETER_SET`, `CKP_ML_KEM_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MlKemSet {
    /// ML-KEM-512.
    P512,
    /// ML-KEM-768.
    P768,
    /// ML-KEM-1024.
    P1024,
}

impl MlKemSet {
    /// Every set, smallest first.
    pub const ALL: [MlKemSet; 3] = [MlKemSet::P512, MlKemSet::P768, MlKemSet::P1024];

    /// From `CKP_ML_KEM_*`.
    pub fn from_ckp(v: u64) -> Option<Self> {
        match v as CK_ULONG {
            CKP_ML_KEM_512 => Some(Self::P512),
            CKP_ML_KEM_768 => Some(Self::P768),
            CKP_ML_KEM_1024 => Some(Self::P1024),
            _ => None,
        }
    }

    /// `CKP_ML_KEM_*`.
    pub fn ckp(self) -> CK_ULONG {
        match self {
            Self::P512 => CKP_ML_KEM_512,
            Self::P768 => CKP_ML_KEM_768,
            Self::P1024 => CKP_ML_KEM_1024,
        }
    }

    /// `"ML-KEM-768"`...
    pub fn name(self) -> &'static str {
        match self {
            Self::P512 => "ML-KEM-512",
            Self::P768 => "ML-KEM-768",
            Self::P1024 => "ML-KEM-1024",
        }
    }

    /// Encapsulation key length (FIPS 203 Table 3).
    pub fn public_len(self) -> usize {
        match self {
            Self::P512 => 800,
            Self::P768 => 1184,
            Self::P1024 => 1568,
        }
    }

    /// Decapsulation key length (FIPS 203 Table 3).
    pub fn private_len(self) -> usize {
        match self {
            Self::P512 => 1632,
            Self::P768 => 2400,
            Self::P1024 => 3168,
        }
    }

    /// Ciphertext length (FIPS 203 Table 3).
    pub fn ciphertext_len(self) -> usize {
        match self {
            Self::P512 => 768,
            Self::P768 => 1088,
            Self::P1024 => 1568,
        }
    }

    /// The seed d‖z: 64 bytes.
    pub const SEED_LEN: usize = 64;
    /// The shared secret: 32 bytes.
    pub const SECRET_LEN: usize = 32;

    /// `id-alg-ml-kem-512` and friends (FIPS 203, NIST CSOR; RFC 9935):
    /// 2.16.840.1.101.3.4.4.1, .2, .3.
    pub fn oid(self) -> &'static str {
        match self {
            Self::P512 => "2.16.840.1.101.3.4.4.1",
            Self::P768 => "2.16.840.1.101.3.4.4.2",
            Self::P1024 => "2.16.840.1.101.3.4.4.3",
        }
    }
}

/// An ML-DSA private key ready to sign.
pub trait MlDsaSigner: Send + Sync {
    /// ML-DSA.Sign_internal (FIPS 204 Algorithm 7) over M' given in parts, with the
    /// randomness `rnd` (all zeros: the deterministic variant).
    fn sign_internal(&self, m_prime: &[&[u8]], rnd: &[u8; 32]) -> Vec<u8>;
    /// The public key (pkEncode).
    fn public_key(&self) -> Vec<u8>;
}

/// An ML-DSA public key ready to verify.
pub trait MlDsaVerifier: Send + Sync {
    /// ML-DSA.Verify_internal (FIPS 204 Algorithm 8) of M'.
    fn verify_internal(&self, m_prime: &[u8], signature: &[u8]) -> bool;
}

fn bad(what: &str) -> crate::error::Error {
    err(CKR_ATTRIBUTE_VALUE_INVALID, what.to_string())
}

/// ML-DSA and ML-KEM. Default bodies: RustCrypto's crates (see the module doc).
pub trait PqcOps {
    /// ML-DSA.KeyGen_internal from the seed ξ: (public key, expanded private key).
    fn ml_dsa_keygen(&self, set: MlDsaSet, seed: &[u8]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        dsa::dispatch_keygen(set, seed)
    }

    /// A signing key from the seed (preferred) or the expanded private key. When
    /// both are given they must agree.
    fn ml_dsa_signing_key(
        &self,
        set: MlDsaSet,
        seed: Option<&[u8]>,
        expanded: Option<&[u8]>,
    ) -> Result<Box<dyn MlDsaSigner>> {
        dsa::dispatch_signer(set, seed, expanded)
    }

    /// A verifying key from pkEncode bytes.
    fn ml_dsa_verifying_key(&self, set: MlDsaSet, public: &[u8]) -> Result<Box<dyn MlDsaVerifier>> {
        dsa::dispatch_verifier(set, public)
    }

    /// ML-KEM.KeyGen_internal from d‖z: (encapsulation key, decapsulation key).
    fn ml_kem_keygen(&self, set: MlKemSet, seed: &[u8]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        kem::dispatch_keygen(set, seed)
    }

    /// ML-KEM.Encaps with the randomness `m` (FIPS 203 Algorithm 17):
    /// (ciphertext, shared secret).
    fn ml_kem_encapsulate(&self, set: MlKemSet, public: &[u8], m: &[u8; 32]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        kem::dispatch_encaps(set, public, m)
    }

    /// ML-KEM.Decaps (FIPS 203 Algorithm 18) with the key from the seed (preferred)
    /// or the expanded decapsulation key. A ciphertext that was not made for this
    /// key gives the implicit-rejection secret, not an error.
    fn ml_kem_decapsulate(
        &self,
        set: MlKemSet,
        seed: Option<&[u8]>,
        expanded: Option<&[u8]>,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        kem::dispatch_decaps(set, seed, expanded, ciphertext)
    }

    /// Checks that `seed` and `expanded` (either may be absent) make one ML-KEM key
    /// and returns its encapsulation key and its expanded decapsulation key.
    fn ml_kem_check_private(
        &self,
        set: MlKemSet,
        seed: Option<&[u8]>,
        expanded: Option<&[u8]>,
    ) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        kem::dispatch_check(set, seed, expanded)
    }
}

mod dsa {
    use ml_dsa::{
        ExpandedSigningKey, KeyExport, MlDsa44, MlDsa65, MlDsa87, MlDsaParams, Signature, SigningKey, VerifyingKey,
        signature::Keypair,
    };
    use zeroize::Zeroizing;

    use super::{MlDsaSet, MlDsaSigner, MlDsaVerifier, bad};
    use crate::error::Result;

    macro_rules! by_set {
        ($set:expr, $f:ident ( $($a:expr),* )) => {
            match $set {
                MlDsaSet::P44 => $f::<MlDsa44>($($a),*),
                MlDsaSet::P65 => $f::<MlDsa65>($($a),*),
                MlDsaSet::P87 => $f::<MlDsa87>($($a),*),
            }
        };
    }

    fn seed_of(seed: &[u8]) -> Result<ml_dsa::Seed> {
        ml_dsa::Seed::try_from(seed).map_err(|_| bad("an ML-DSA seed has 32 bytes"))
    }

    fn keygen<P: MlDsaParams>(seed: &[u8]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        let mut xi = seed_of(seed)?;
        let sk = SigningKey::<P>::from_seed(&xi);
        zeroize::Zeroize::zeroize(xi.as_mut_slice());
        let pk = sk.verifying_key().encode().to_vec();
        let mut expanded = sk.expanded_key().to_expanded();
        let out = Zeroizing::new(expanded.to_vec());
        zeroize::Zeroize::zeroize(expanded.as_mut_slice());
        Ok((pk, out))
    }

    pub fn dispatch_keygen(set: MlDsaSet, seed: &[u8]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        by_set!(set, keygen(seed))
    }

    struct Signer<P: MlDsaParams>(ExpandedSigningKey<P>);

    impl<P: MlDsaParams> MlDsaSigner for Signer<P> {
        fn sign_internal(&self, m_prime: &[&[u8]], rnd: &[u8; 32]) -> Vec<u8> {
            self.0.sign_internal(m_prime, &(*rnd).into()).encode().to_vec()
        }

        fn public_key(&self) -> Vec<u8> {
            self.0.verifying_key().encode().to_vec()
        }
    }

    fn signer<P: MlDsaParams + 'static>(seed: Option<&[u8]>, expanded: Option<&[u8]>) -> Result<Box<dyn MlDsaSigner>>
    where
        ExpandedSigningKey<P>: Send + Sync,
    {
        // skDecode (FIPS 204 Algorithm 25) of a key made elsewhere. The crate may
        // panic on a malformed key, so that is caught here; and it checks nothing,
        // so the key must re-encode to the same bytes (no out-of-range coefficient)
        // and its tr must be H(pk) for the public key its s1 and s2 give (RFC 9881
        // C.4's "wrong tr"). A wrong t0 is not detected: that needs t = A·s1 + s2,
        // which the crate does not expose (docs/mechanisms-pqc.md).
        let from_expanded = |e: &[u8]| -> Result<ExpandedSigningKey<P>> {
            let enc = ml_dsa::ExpandedSigningKeyBytes::<P>::try_from(e)
                .map_err(|_| bad("the ML-DSA private key (CKA_VALUE) has the wrong length"))?;
            let key =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ExpandedSigningKey::<P>::from_expanded(&enc)))
                    .map_err(|_| bad("the ML-DSA private key (CKA_VALUE) does not decode"))?;
            let mut again = key.to_expanded();
            let same = crate::crypto::sym::ct_eq(again.as_slice(), e);
            zeroize::Zeroize::zeroize(again.as_mut_slice());
            if !same {
                return Err(bad("the ML-DSA private key (CKA_VALUE) does not decode"));
            }
            let pk = key.verifying_key().encode();
            // tr = H(pk, 64): SHAKE256 with 512 bits out (FIPS 204 Algorithm 6).
            let mut h = crate::crypto::sha3::Sha3Alg::Shake256.hasher();
            h.update(&pk);
            if e[64..128] != h.finish()[..] {
                return Err(bad("the ML-DSA private key's tr is not H(pk) of its own public key"));
            }
            Ok(key)
        };
        let key = match (seed, expanded) {
            (Some(s), e) => {
                let mut xi = seed_of(s)?;
                let key = ExpandedSigningKey::<P>::from_seed(&xi);
                zeroize::Zeroize::zeroize(xi.as_mut_slice());
                if let Some(e) = e {
                    let given = from_expanded(e)?;
                    if given != key {
                        return Err(bad("CKA_SEED and CKA_VALUE are not the same ML-DSA key"));
                    }
                }
                key
            }
            (None, Some(e)) => from_expanded(e)?,
            (None, None) => return Err(bad("an ML-DSA private key needs CKA_SEED or CKA_VALUE")),
        };
        Ok(Box::new(Signer(key)))
    }

    pub fn dispatch_signer(
        set: MlDsaSet,
        seed: Option<&[u8]>,
        expanded: Option<&[u8]>,
    ) -> Result<Box<dyn MlDsaSigner>> {
        by_set!(set, signer(seed, expanded))
    }

    struct Verifier<P: MlDsaParams>(VerifyingKey<P>);

    impl<P: MlDsaParams> MlDsaVerifier for Verifier<P>
    where
        VerifyingKey<P>: Send + Sync,
    {
        fn verify_internal(&self, m_prime: &[u8], signature: &[u8]) -> bool {
            match Signature::<P>::try_from(signature) {
                Ok(sig) => self.0.verify_internal(m_prime, &sig),
                Err(_) => false,
            }
        }
    }

    fn verifier<P: MlDsaParams + 'static>(public: &[u8]) -> Result<Box<dyn MlDsaVerifier>>
    where
        VerifyingKey<P>: Send + Sync,
    {
        let enc = ml_dsa::EncodedVerifyingKey::<P>::try_from(public)
            .map_err(|_| bad("the ML-DSA public key (CKA_VALUE) has the wrong length"))?;
        let vk = VerifyingKey::<P>::decode(&enc);
        // pkEncode is a bijection on well-formed keys: a key that does not re-encode
        // to the same bytes had out-of-range coefficients.
        if vk.to_bytes().as_slice() != public {
            return Err(bad("the ML-DSA public key does not decode"));
        }
        Ok(Box::new(Verifier(vk)))
    }

    pub fn dispatch_verifier(set: MlDsaSet, public: &[u8]) -> Result<Box<dyn MlDsaVerifier>> {
        by_set!(set, verifier(public))
    }
}

/// ML-KEM. The crate's `KemParams` trait is private, so the code cannot be generic
/// over the parameter set: a macro writes one module per set.
mod kem {
    use zeroize::Zeroizing;

    use super::MlKemSet;
    use crate::error::Result;

    macro_rules! per_set {
        ($m:ident, $P:ty) => {
            mod $m {
                use ml_kem::{Decapsulate, DecapsulationKey, EncapsulationKey, ExpandedKeyEncoding, KeyExport};
                use zeroize::Zeroizing;

                use super::super::bad;
                use crate::error::{Result, err};

                type P = $P;

                fn from_seed(seed: &[u8]) -> Result<DecapsulationKey<P>> {
                    let mut s = ml_kem::Seed::try_from(seed).map_err(|_| bad("an ML-KEM seed has 64 bytes"))?;
                    let dk = DecapsulationKey::<P>::from_seed(s);
                    zeroize::Zeroize::zeroize(s.as_mut_slice());
                    Ok(dk)
                }

                fn key(seed: Option<&[u8]>, expanded: Option<&[u8]>) -> Result<DecapsulationKey<P>> {
                    let from_expanded = |e: &[u8]| -> Result<DecapsulationKey<P>> {
                        let enc = ml_kem::ExpandedDecapsulationKey::<P>::try_from(e)
                            .map_err(|_| bad("the ML-KEM private key (CKA_VALUE) has the wrong length"))?;
                        DecapsulationKey::<P>::from_expanded_bytes(&enc)
                            .map_err(|_| bad("the ML-KEM private key (CKA_VALUE) fails its check (FIPS 203 §7.3)"))
                    };
                    match (seed, expanded) {
                        (Some(s), e) => {
                            let dk = from_seed(s)?;
                            if let Some(e) = e {
                                let mut mine = dk.to_expanded_bytes();
                                let same = mine.as_slice() == e;
                                zeroize::Zeroize::zeroize(mine.as_mut_slice());
                                if !same {
                                    return Err(bad("CKA_SEED and CKA_VALUE are not the same ML-KEM key"));
                                }
                            }
                            Ok(dk)
                        }
                        (None, Some(e)) => from_expanded(e),
                        (None, None) => Err(bad("an ML-KEM private key needs CKA_SEED or CKA_VALUE")),
                    }
                }

                fn parts(dk: &DecapsulationKey<P>) -> (Vec<u8>, Zeroizing<Vec<u8>>) {
                    let ek = dk.encapsulation_key().to_bytes().to_vec();
                    let mut e = dk.to_expanded_bytes();
                    let out = Zeroizing::new(e.to_vec());
                    zeroize::Zeroize::zeroize(e.as_mut_slice());
                    (ek, out)
                }

                pub fn keygen(seed: &[u8]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
                    Ok(parts(&from_seed(seed)?))
                }

                /// The FIPS 203 §7.3 check passes a key whose s was changed but whose
                /// H(ek) was kept (RFC 9935 C.4's second example): a key given only
                /// expanded must also decapsulate what its own ek encapsulates (a
                /// pairwise consistency test, FIPS 140-3 IG 10.3.A).
                pub fn check(seed: Option<&[u8]>, expanded: Option<&[u8]>) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
                    let dk = key(seed, expanded)?;
                    if seed.is_none() {
                        let (ct, mut ss) = dk.encapsulation_key().encapsulate_deterministic(&[0x5a; 32].into());
                        let mut back = dk.decapsulate(&ct);
                        let same = crate::crypto::sym::ct_eq(&back, &ss);
                        zeroize::Zeroize::zeroize(ss.as_mut_slice());
                        zeroize::Zeroize::zeroize(back.as_mut_slice());
                        if !same {
                            return Err(bad("the ML-KEM private key (CKA_VALUE) does not decapsulate for its own ek"));
                        }
                    }
                    Ok(parts(&dk))
                }

                pub fn encaps(public: &[u8], m: &[u8; 32]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
                    let enc = ml_kem::Key::<EncapsulationKey<P>>::try_from(public)
                        .map_err(|_| bad("the ML-KEM public key has the wrong length"))?;
                    let ek = EncapsulationKey::<P>::new(&enc)
                        .map_err(|_| bad("the ML-KEM public key fails its check (FIPS 203 §7.2)"))?;
                    let (ct, mut ss) = ek.encapsulate_deterministic(&(*m).into());
                    let out = Zeroizing::new(ss.to_vec());
                    zeroize::Zeroize::zeroize(ss.as_mut_slice());
                    Ok((ct.to_vec(), out))
                }

                pub fn decaps(seed: Option<&[u8]>, expanded: Option<&[u8]>, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
                    let dk = key(seed, expanded)?;
                    let ct = ml_kem::Ciphertext::<P>::try_from(ct).map_err(|_| {
                        err(cryptoki_sys::CKR_ENCRYPTED_DATA_LEN_RANGE, "the ML-KEM ciphertext has the wrong length")
                    })?;
                    let mut ss = dk.decapsulate(&ct);
                    let out = Zeroizing::new(ss.to_vec());
                    zeroize::Zeroize::zeroize(ss.as_mut_slice());
                    Ok(out)
                }
            }
        };
    }

    per_set!(k512, ml_kem::MlKem512);
    per_set!(k768, ml_kem::MlKem768);
    per_set!(k1024, ml_kem::MlKem1024);

    macro_rules! by_set {
        ($set:expr, $f:ident ( $($a:expr),* )) => {
            match $set {
                MlKemSet::P512 => k512::$f($($a),*),
                MlKemSet::P768 => k768::$f($($a),*),
                MlKemSet::P1024 => k1024::$f($($a),*),
            }
        };
    }

    pub fn dispatch_keygen(set: MlKemSet, seed: &[u8]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        by_set!(set, keygen(seed))
    }

    pub fn dispatch_check(
        set: MlKemSet,
        seed: Option<&[u8]>,
        expanded: Option<&[u8]>,
    ) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        by_set!(set, check(seed, expanded))
    }

    pub fn dispatch_encaps(set: MlKemSet, public: &[u8], m: &[u8; 32]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        by_set!(set, encaps(public, m))
    }

    pub fn dispatch_decaps(
        set: MlKemSet,
        seed: Option<&[u8]>,
        expanded: Option<&[u8]>,
        ct: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        by_set!(set, decaps(seed, expanded, ct))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// Reads the first case of a KAT file in test-vectors/pqc.
    fn first_case(name: &str) -> std::collections::HashMap<String, Vec<u8>> {
        let path = format!("{}/../test-vectors/pqc/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        let mut out = std::collections::HashMap::new();
        for line in text.lines().skip(1) {
            if line.starts_with("count") {
                break;
            }
            if let Some((k, v)) = line.split_once(" = ")
                && k != "mlen"
                && k != "smlen"
            {
                out.insert(k.to_string(), hex(v));
            }
        }
        out
    }

    struct Shared;
    impl PqcOps for Shared {}

    #[test]
    fn ml_dsa_key_generation_and_deterministic_signing_match_the_kat() {
        for (set, file) in [
            (MlDsaSet::P44, "kat_MLDSA_44_det_pure.rsp"),
            (MlDsaSet::P65, "kat_MLDSA_65_det_pure.rsp"),
            (MlDsaSet::P87, "kat_MLDSA_87_det_pure.rsp"),
        ] {
            let c = first_case(file);
            let (pk, sk) = Shared.ml_dsa_keygen(set, &c["xi"]).unwrap();
            assert_eq!(pk, c["pk"], "{set:?} pk");
            assert_eq!(sk.as_slice(), c["sk"].as_slice(), "{set:?} sk");
            let signer = Shared.ml_dsa_signing_key(set, Some(&c["xi"]), Some(&sk)).unwrap();
            let ctx = &c["ctx"];
            let sig = signer.sign_internal(&[&[0, ctx.len() as u8], ctx, &c["msg"]], &[0; 32]);
            assert_eq!(sig, c["sm"][..set.signature_len()], "{set:?} signature");
            let v = Shared.ml_dsa_verifying_key(set, &pk).unwrap();
            let m_prime = [&[0, ctx.len() as u8][..], ctx, &c["msg"]].concat();
            assert!(v.verify_internal(&m_prime, &sig));
            let mut bad = sig.clone();
            bad[10] ^= 1;
            assert!(!v.verify_internal(&m_prime, &bad));
            // The expanded key alone signs the same.
            let only_sk = Shared.ml_dsa_signing_key(set, None, Some(&sk)).unwrap();
            assert_eq!(only_sk.sign_internal(&[&m_prime], &[0; 32]), sig);
            // A seed and a value of different keys are refused.
            let other = Shared.ml_dsa_keygen(set, &[9; 32]).unwrap().1;
            assert!(Shared.ml_dsa_signing_key(set, Some(&c["xi"]), Some(&other)).is_err());
        }
    }

    #[test]
    fn ml_kem_key_generation_encapsulation_and_decapsulation_match_the_kat() {
        for (set, file) in [
            (MlKemSet::P512, "kat_MLKEM_512.rsp"),
            (MlKemSet::P768, "kat_MLKEM_768.rsp"),
            (MlKemSet::P1024, "kat_MLKEM_1024.rsp"),
        ] {
            let c = first_case(file);
            let seed = [c["d"].as_slice(), c["z"].as_slice()].concat();
            let (ek, dk) = Shared.ml_kem_keygen(set, &seed).unwrap();
            assert_eq!(ek, c["pk"], "{set:?} pk");
            assert_eq!(dk.as_slice(), c["sk"].as_slice(), "{set:?} sk");
            let m: [u8; 32] = c["msg"].clone().try_into().unwrap();
            let (ct, ss) = Shared.ml_kem_encapsulate(set, &ek, &m).unwrap();
            assert_eq!(ct, c["ct"], "{set:?} ct");
            assert_eq!(ss.as_slice(), c["ss"].as_slice(), "{set:?} ss");
            for (s, e) in [(Some(seed.as_slice()), None), (None, Some(dk.as_slice())), (Some(&seed[..]), Some(&dk[..]))]
            {
                assert_eq!(Shared.ml_kem_decapsulate(set, s, e, &ct).unwrap().as_slice(), c["ss"].as_slice());
                // Implicit rejection.
                assert_eq!(Shared.ml_kem_decapsulate(set, s, e, &c["ct_n"]).unwrap().as_slice(), c["ss_n"].as_slice());
            }
            let mut bad_dk = dk.to_vec();
            bad_dk[set.private_len() - 40] ^= 1; // inside H(ek)
            assert!(Shared.ml_kem_check_private(set, None, Some(&bad_dk)).is_err());
        }
    }
}
