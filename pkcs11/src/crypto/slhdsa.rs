//! SLH-DSA (FIPS 205) for both providers, from RustCrypto's `slh-dsa` (issue 8 allows
//! a shared crate where aws-lc-rs lacks something: aws-lc-rs 1.19 has no SLH-DSA).
//! The twelve parameter sets behind one enum; keys and signatures as bytes.

use cryptoki_sys::*;
use slh_dsa::{ParameterSet, Signature, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

/// An SLH-DSA parameter set (FIPS 205 Table 2), as `CKA_PARAMETER_SET` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlhDsaSet {
    /// SLH-DSA-SHA2-128s.
    Sha2_128s,
    /// SLH-DSA-SHA2-128f.
    Sha2_128f,
    /// SLH-DSA-SHA2-192s.
    Sha2_192s,
    /// SLH-DSA-SHA2-192f.
    Sha2_192f,
    /// SLH-DSA-SHA2-256s.
    Sha2_256s,
    /// SLH-DSA-SHA2-256f.
    Sha2_256f,
    /// SLH-DSA-SHAKE-128s.
    Shake128s,
    /// SLH-DSA-SHAKE-128f.
    Shake128f,
    /// SLH-DSA-SHAKE-192s.
    Shake192s,
    /// SLH-DSA-SHAKE-192f.
    Shake192f,
    /// SLH-DSA-SHAKE-256s.
    Shake256s,
    /// SLH-DSA-SHAKE-256f.
    Shake256f,
}

/// Runs `$body` with `$p` the crate's parameter-set type for `$set`.
macro_rules! with_set {
    ($set:expr, $p:ident => $body:expr) => {
        match $set {
            SlhDsaSet::Sha2_128s => {
                type $p = slh_dsa::Sha2_128s;
                $body
            }
            SlhDsaSet::Sha2_128f => {
                type $p = slh_dsa::Sha2_128f;
                $body
            }
            SlhDsaSet::Sha2_192s => {
                type $p = slh_dsa::Sha2_192s;
                $body
            }
            SlhDsaSet::Sha2_192f => {
                type $p = slh_dsa::Sha2_192f;
                $body
            }
            SlhDsaSet::Sha2_256s => {
                type $p = slh_dsa::Sha2_256s;
                $body
            }
            SlhDsaSet::Sha2_256f => {
                type $p = slh_dsa::Sha2_256f;
                $body
            }
            SlhDsaSet::Shake128s => {
                type $p = slh_dsa::Shake128s;
                $body
            }
            SlhDsaSet::Shake128f => {
                type $p = slh_dsa::Shake128f;
                $body
            }
            SlhDsaSet::Shake192s => {
                type $p = slh_dsa::Shake192s;
                $body
            }
            SlhDsaSet::Shake192f => {
                type $p = slh_dsa::Shake192f;
                $body
            }
            SlhDsaSet::Shake256s => {
                type $p = slh_dsa::Shake256s;
                $body
            }
            SlhDsaSet::Shake256f => {
                type $p = slh_dsa::Shake256f;
                $body
            }
        }
    };
}

/// Every set with its `CKP_SLH_DSA_*` value.
pub const ALL: [(CK_ULONG, SlhDsaSet); 12] = [
    (CKP_SLH_DSA_SHA2_128S, SlhDsaSet::Sha2_128s),
    (CKP_SLH_DSA_SHA2_128F, SlhDsaSet::Sha2_128f),
    (CKP_SLH_DSA_SHA2_192S, SlhDsaSet::Sha2_192s),
    (CKP_SLH_DSA_SHA2_192F, SlhDsaSet::Sha2_192f),
    (CKP_SLH_DSA_SHA2_256S, SlhDsaSet::Sha2_256s),
    (CKP_SLH_DSA_SHA2_256F, SlhDsaSet::Sha2_256f),
    (CKP_SLH_DSA_SHAKE_128S, SlhDsaSet::Shake128s),
    (CKP_SLH_DSA_SHAKE_128F, SlhDsaSet::Shake128f),
    (CKP_SLH_DSA_SHAKE_192S, SlhDsaSet::Shake192s),
    (CKP_SLH_DSA_SHAKE_192F, SlhDsaSet::Shake192f),
    (CKP_SLH_DSA_SHAKE_256S, SlhDsaSet::Shake256s),
    (CKP_SLH_DSA_SHAKE_256F, SlhDsaSet::Shake256f),
];

impl SlhDsaSet {
    /// The set a `CKP_SLH_DSA_*` value names.
    pub fn from_ckp(v: CK_ULONG) -> Option<Self> {
        ALL.iter().find(|(c, _)| *c == v).map(|(_, s)| *s)
    }

    /// Its `CKP_SLH_DSA_*` value.
    pub fn ckp(self) -> CK_ULONG {
        ALL.iter().find(|(_, s)| *s == self).map(|(c, _)| *c).expect("every set is in ALL")
    }

    /// The security parameter n in bytes (16, 24, 32).
    pub fn n(self) -> usize {
        use SlhDsaSet::*;
        match self {
            Sha2_128s | Sha2_128f | Shake128s | Shake128f => 16,
            Sha2_192s | Sha2_192f | Shake192s | Shake192f => 24,
            Sha2_256s | Sha2_256f | Shake256s | Shake256f => 32,
        }
    }

    /// The public key (PK.seed ‖ PK.root): 2n bytes.
    pub fn public_len(self) -> usize {
        2 * self.n()
    }

    /// The private key (SK.seed ‖ SK.prf ‖ PK.seed ‖ PK.root): 4n bytes.
    pub fn private_len(self) -> usize {
        4 * self.n()
    }

    /// The signature length (FIPS 205 Table 2).
    pub fn signature_len(self) -> usize {
        use SlhDsaSet::*;
        match self {
            Sha2_128s | Shake128s => 7856,
            Sha2_128f | Shake128f => 17088,
            Sha2_192s | Shake192s => 16224,
            Sha2_192f | Shake192f => 35664,
            Sha2_256s | Shake256s => 29792,
            Sha2_256f | Shake256f => 49856,
        }
    }

    /// The name FIPS 205 gives it, e.g. `SLH-DSA-SHA2-128s`.
    pub fn name(self) -> &'static str {
        with_set!(self, P => <P as ParameterSet>::NAME)
    }

    /// The `id-slh-dsa-*` OID (RFC 9909 / NIST CSOR 2.16.840.1.101.3.4.3.20 to .31).
    pub fn oid(self) -> &'static str {
        match self {
            SlhDsaSet::Sha2_128s => "2.16.840.1.101.3.4.3.20",
            SlhDsaSet::Sha2_128f => "2.16.840.1.101.3.4.3.21",
            SlhDsaSet::Sha2_192s => "2.16.840.1.101.3.4.3.22",
            SlhDsaSet::Sha2_192f => "2.16.840.1.101.3.4.3.23",
            SlhDsaSet::Sha2_256s => "2.16.840.1.101.3.4.3.24",
            SlhDsaSet::Sha2_256f => "2.16.840.1.101.3.4.3.25",
            SlhDsaSet::Shake128s => "2.16.840.1.101.3.4.3.26",
            SlhDsaSet::Shake128f => "2.16.840.1.101.3.4.3.27",
            SlhDsaSet::Shake192s => "2.16.840.1.101.3.4.3.28",
            SlhDsaSet::Shake192f => "2.16.840.1.101.3.4.3.29",
            SlhDsaSet::Shake256s => "2.16.840.1.101.3.4.3.30",
            SlhDsaSet::Shake256f => "2.16.840.1.101.3.4.3.31",
        }
    }

    /// slh_keygen_internal (FIPS 205 Algorithm 18) from SK.seed ‖ SK.prf ‖ PK.seed
    /// (3n bytes): the public key and the private key.
    pub fn keygen(self, seeds: &[u8]) -> Option<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        let n = self.n();
        if seeds.len() != 3 * n {
            return None;
        }
        with_set!(self, P => {
            let sk = SigningKey::<P>::slh_keygen_internal(&seeds[..n], &seeds[n..2 * n], &seeds[2 * n..]);
            let pk = sk.as_ref().to_vec();
            Some((pk, Zeroizing::new(sk.to_vec())))
        })
    }

    /// Whether `private` (4n bytes) is a key whose PK.root its seeds give.
    pub fn private_key_is_consistent(self, private: &[u8]) -> bool {
        let n = self.n();
        private.len() == 4 * n && self.keygen(&private[..3 * n]).is_some_and(|(_, sk)| sk.as_slice() == private)
    }

    /// Whether `public` (2n bytes) decodes.
    pub fn public_key_decodes(self, public: &[u8]) -> bool {
        with_set!(self, P => VerifyingKey::<P>::try_from(public).is_ok())
    }

    /// slh_sign_internal (FIPS 205 Algorithm 19) over M' given in parts; `rnd` of n
    /// bytes signs hedged, `None` deterministically. `None` back: a key of the wrong length.
    pub fn sign_internal(self, private: &[u8], m_prime: &[&[u8]], rnd: Option<&[u8]>) -> Option<Vec<u8>> {
        if rnd.is_some_and(|r| r.len() != self.n()) {
            return None;
        }
        with_set!(self, P => {
            let sk = SigningKey::<P>::try_from(private).ok()?;
            Some(sk.slh_sign_internal(m_prime, rnd).to_vec())
        })
    }

    /// slh_verify_internal (FIPS 205 Algorithm 20) over M' given in parts.
    pub fn verify_internal(self, public: &[u8], m_prime: &[&[u8]], signature: &[u8]) -> bool {
        with_set!(self, P => {
            let (Ok(vk), Ok(sig)) = (VerifyingKey::<P>::try_from(public), Signature::<P>::try_from(signature)) else {
                return false;
            };
            vk.slh_verify_internal(m_prime, &sig).is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_fips_205_table_2_and_keys_round_trip() {
        let lens: Vec<_> = ALL.iter().map(|(_, s)| (s.n(), s.signature_len())).collect();
        assert_eq!(
            lens,
            [(16, 7856), (16, 17088), (24, 16224), (24, 35664), (32, 29792), (32, 49856)]
                .iter()
                .chain([(16, 7856), (16, 17088), (24, 16224), (24, 35664), (32, 29792), (32, 49856)].iter())
                .copied()
                .collect::<Vec<_>>()
        );
        assert_eq!(SlhDsaSet::Shake128f.name(), "SLH-DSA-SHAKE-128f");
        for (ckp, set) in ALL {
            // The OID table typed here agrees with the crate's, and CKP_* round-trips.
            assert_eq!(with_set!(set, P => <P as ParameterSet>::ALGORITHM_OID.to_string()), set.oid(), "{set:?}");
            assert_eq!(SlhDsaSet::from_ckp(ckp), Some(set));
            assert_eq!(set.ckp(), ckp);
        }
        assert_eq!(SlhDsaSet::from_ckp(0), None);
        let set = SlhDsaSet::Sha2_128f;
        let (pk, sk) = set.keygen(&[7; 48]).unwrap();
        assert!(set.private_key_is_consistent(&sk));
        let mut bad = sk.to_vec();
        bad[63] ^= 1;
        assert!(!set.private_key_is_consistent(&bad));
        let sig = set.sign_internal(&sk, &[b"a", b"bc"], None).unwrap();
        assert_eq!((pk.len(), sk.len(), sig.len()), (set.public_len(), set.private_len(), set.signature_len()));
        let s2 = SlhDsaSet::Shake192f;
        let (pk2, sk2) = s2.keygen(&[1; 72]).unwrap();
        let sig2 = s2.sign_internal(&sk2, &[b"m"], Some(&[9; 24])).unwrap();
        assert_eq!((pk2.len(), sig2.len()), (s2.public_len(), s2.signature_len()));
        assert!(set.verify_internal(&pk, &[b"ab", b"c"], &sig));
        assert!(!set.verify_internal(&pk, &[b"abd"], &sig));
    }
}
