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

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// NIST ACVP SLH-DSA sigGen cases (ACVP-Server
    /// gen-val/json-files/SLH-DSA-sigGen-FIPS205/internalProjection.json, the
    /// internal interface: M signed as it is), as OpenSSL's test/slh_dsa.inc
    /// (openssl/openssl 3b256a8c) keeps them: SK.seed ‖ SK.prf, PK.seed ‖ PK.root,
    /// the message, opt_rand when the case is randomised, and the SHA-256 of the
    /// expected signature. The "s" sets and SHAKE-256f are left out (seconds each in
    /// a debug build);
    /// tests/acvp.rs covers key generation for all twelve sets through PKCS#11.
    #[test]
    fn acvp_signatures_through_the_internal_interface() {
        use sha2::Digest;
        /// (set, private seeds, public key, message, opt_rand, SHA-256 of the signature)
        type Case = (SlhDsaSet, &'static str, &'static str, &'static str, Option<&'static str>, &'static str);
        let cases: [Case; 3] = [
            (
                SlhDsaSet::Sha2_192f,
                "c10adc692b76ff6f34a6f0c8ffe2bb88e841ebd92da7ffecdd3bf6c10566a0cf698e393dfb84587d3bc8c7de5869668c",
                "36f7aa6b6f82a7f3c109e88173a1e5f40fa529a29f485ccb40bb247b9cbada958392425bff8b20289b0f11aa3a514e54",
                "0e54",
                Some("e6e71a97570775b35498287f818d8c2a96000576c85c0c71"),
                "d05eec26b12e219b83e29684ff88a82a49e4d2c52e438bcf15a5f61810516c2e",
            ),
            (
                SlhDsaSet::Sha2_256f,
                "1a5a6a0c8aae359cdace456742c37123e8c5ad9cfeab751b1d92116c81d6f52cb010086337e5fb27e674c7f6ee144cec10eef88780f10f0cf3f743c8b7db15ce",
                "0390bf5ecc8ff5a007236c56bf9d9d46a3534e545836cf7adf200dd2862f911b74095e73e63641fab26bd717ab29bb1ed8735c536132a19eac5daed8a07cf3b5",
                "dc09",
                None,
                "13b778cd29f45535cce456ad36ffad5054c314be5f59a59acfa518b16a6f57f0",
            ),
            (
                SlhDsaSet::Shake128f,
                "7510491b470ae3658ed50ad7a4e6c58c86336742c3244b95aa338b7089df84b8",
                "3d1730693addc89bf7b81e32136a28c6ec8d96c46d3bbe2812a55b98e38926ae",
                "2395f64a2a9269863277731e435770018fc318d8f64b5b7d7d91d52daa7e0d1e51cfc8f9e1147b8ee94067a38761f76402b555b104175beb8fd85ea52052c6991afb7f3bbb72b6e5751def5237eb55dc37f57f71172819d10a846c97f9f0abd9929e8edd3e2f5a82266dda1ee8666ffc6f5896cc2c5937a9d8be6a16f5dd524f3bd8b9a6e7c534cdc1accb4fd1f190759a61744b3fe7b14c4476a273fd1c2ef1bdab0f78dc095ee4a3",
                Some("fe4b12e68b0e3b9101b20c17c5711c59"),
                "d9ee1531ebab30d5d9b10f4374bdf9f6c0b587d0a2190c9e2c98c7a371174a41",
            ),
        ];
        for (set, seeds, public, msg, rnd, want) in cases {
            let (seeds, public) = (unhex(seeds), unhex(public));
            let private = [seeds, public.clone()].concat();
            assert!(set.private_key_is_consistent(&private), "{set:?}: PK.root from the seeds");
            let msg = unhex(msg);
            let rnd = rnd.map(unhex);
            let sig = set.sign_internal(&private, &[&msg], rnd.as_deref()).unwrap();
            assert_eq!(sha2::Sha256::digest(&sig).to_vec(), unhex(want), "{set:?}: the ACVP signature");
            assert!(set.verify_internal(&public, &[&msg], &sig));
        }
    }
}
