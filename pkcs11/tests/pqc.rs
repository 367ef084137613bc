//! ML-DSA (PKCS#11 3.2 §6.67) through the built module: key pair generation for
//! each parameter set, `CKM_ML_DSA` with and without `CK_SIGN_ADDITIONAL_CONTEXT`,
//! HashML-DSA (`CKM_HASH_ML_DSA_SHA*`, `CKM_HASH_ML_DSA`), known answers from
//! test-vectors/pqc (key generation from the seed ξ, deterministic signatures with a
//! context), refusals, sealing of the seed, and keys after a restart.
//!
//! Run on both providers:
//! `cargo test -p ferrohsm-pkcs11 --test pqc` and
//! `cargo test -p ferrohsm-pkcs11 --no-default-features --features rustcrypto --test pqc`.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::ptr;

use common::*;

/// (parameter set, public key, signature length, KAT file).
const SETS: [(CK_ULONG, usize, usize, &str); 3] = [
    (CKP_ML_DSA_44, 1312, 2420, "kat_MLDSA_44_det_pure.rsp"),
    (CKP_ML_DSA_65, 1952, 3309, "kat_MLDSA_65_det_pure.rsp"),
    (CKP_ML_DSA_87, 2592, 4627, "kat_MLDSA_87_det_pure.rsp"),
];

/// The cases of a KAT file: `count = n` starts each.
fn kat(name: &str) -> Vec<HashMap<String, Vec<u8>>> {
    let path = format!("{}/../test-vectors/pqc/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<HashMap<String, Vec<u8>>> = Vec::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let Some((k, v)) = line.split_once(" = ") else { continue };
        match k {
            "count" => out.push(HashMap::new()),
            "mlen" | "smlen" => {}
            _ => {
                out.last_mut().unwrap().insert(k.to_string(), unhex(v));
            }
        }
    }
    assert!(!out.is_empty(), "{name} has cases");
    out
}

fn pair_templates(set: CK_ULONG, label: &str) -> (Tmpl, Tmpl) {
    let public = Tmpl::new().token(true).label(label).ulong(CKA_PARAMETER_SET, set).bool(CKA_VERIFY, true);
    let private = Tmpl::new().token(true).label(label).bool(CKA_SIGN, true);
    (public, private)
}

fn sign_with(s: CK_SESSION_HANDLE, m: &mut CK_MECHANISM, key: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    match call!(C_SignInit, s, m, key) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut n: CK_ULONG = 0;
    match call!(C_Sign, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, ptr::null_mut(), &mut n) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut out = vec![0u8; n as usize];
    match call!(C_Sign, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n) {
        CKR_OK => {
            out.truncate(n as usize);
            Ok(out)
        }
        rv => Err(rv),
    }
}

fn sign_parts(s: CK_SESSION_HANDLE, m: &mut CK_MECHANISM, key: CK_OBJECT_HANDLE, parts: &[&[u8]]) -> Vec<u8> {
    assert_rv!(call!(C_SignInit, s, m, key), CKR_OK);
    for p in parts {
        assert_rv!(call!(C_SignUpdate, s, p.as_ptr() as *mut _, p.len() as CK_ULONG), CKR_OK);
    }
    let mut n: CK_ULONG = 0;
    assert_rv!(call!(C_SignFinal, s, ptr::null_mut(), &mut n), CKR_OK);
    let mut out = vec![0u8; n as usize];
    assert_rv!(call!(C_SignFinal, s, out.as_mut_ptr(), &mut n), CKR_OK);
    out.truncate(n as usize);
    out
}

fn verify_with(s: CK_SESSION_HANDLE, m: &mut CK_MECHANISM, key: CK_OBJECT_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    match call!(C_VerifyInit, s, m, key) {
        CKR_OK => {}
        rv => return rv,
    }
    call!(C_Verify, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, sig.as_ptr() as *mut _, sig.len() as CK_ULONG)
}

#[test]
fn every_parameter_set_signs_and_verifies_and_refuses_a_tampered_signature() {
    let (h, s) = Hsm::ready();
    for (set, pk_len, sig_len, _) in SETS {
        let (public, private) = pair_templates(set, "mldsa");
        let (hp, hq) = h.generate_pair(s, CKM_ML_DSA_KEY_PAIR_GEN, &public, &private).unwrap();
        assert_eq!(h.get_ulong(s, hp, CKA_KEY_TYPE), CKK_ML_DSA);
        assert_eq!(h.get_ulong(s, hq, CKA_PARAMETER_SET), set);
        assert_eq!(h.get(s, hp, CKA_VALUE).unwrap().len(), pk_len);
        // The seed and the expanded key are secret.
        assert_rv!(rv(h.get(s, hq, CKA_SEED)), CKR_ATTRIBUTE_SENSITIVE);
        assert_rv!(rv(h.get(s, hq, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE);
        assert!(h.get_bool(s, hq, CKA_LOCAL));
        // Both keys carry the same SubjectPublicKeyInfo.
        let info = h.get(s, hp, CKA_PUBLIC_KEY_INFO).unwrap();
        assert_eq!(info, h.get(s, hq, CKA_PUBLIC_KEY_INFO).unwrap());
        assert!(info.ends_with(&h.get(s, hp, CKA_VALUE).unwrap()));

        let msg = b"post-quantum message";
        // Pure, no parameter: hedged, empty context.
        let sig = sign_with(s, &mut mech(CKM_ML_DSA), hq, msg).unwrap();
        assert_eq!(sig.len(), sig_len);
        assert_rv!(verify_with(s, &mut mech(CKM_ML_DSA), hp, msg, &sig), CKR_OK);
        // Hedged signatures differ each time.
        assert_ne!(sign_with(s, &mut mech(CKM_ML_DSA), hq, msg).unwrap(), sig);
        let mut bad = sig.clone();
        bad[100] ^= 1;
        assert_rv!(verify_with(s, &mut mech(CKM_ML_DSA), hp, msg, &bad), CKR_SIGNATURE_INVALID);
        assert_rv!(verify_with(s, &mut mech(CKM_ML_DSA), hp, b"other message", &sig), CKR_SIGNATURE_INVALID);
        assert_rv!(verify_with(s, &mut mech(CKM_ML_DSA), hp, msg, &sig[1..]), CKR_SIGNATURE_LEN_RANGE);

        // With a context, deterministic: the same twice, and bound to the context.
        let mut p = context_param(CKH_DETERMINISTIC_REQUIRED, b"app-ctx");
        let a = sign_with(s, &mut mech_with(CKM_ML_DSA, &mut p), hq, msg).unwrap();
        let b = sign_with(s, &mut mech_with(CKM_ML_DSA, &mut p), hq, msg).unwrap();
        assert_eq!(a, b);
        assert_rv!(verify_with(s, &mut mech_with(CKM_ML_DSA, &mut p), hp, msg, &a), CKR_OK);
        let mut other = context_param(CKH_HEDGE_PREFERRED, b"other-ctx");
        assert_rv!(verify_with(s, &mut mech_with(CKM_ML_DSA, &mut other), hp, msg, &a), CKR_SIGNATURE_INVALID);
        assert_rv!(verify_with(s, &mut mech(CKM_ML_DSA), hp, msg, &a), CKR_SIGNATURE_INVALID);

        // HashML-DSA with SHA-256, multi-part, and CKM_HASH_ML_DSA over the digest
        // (the same M', so each verifies the other's signature).
        let mut p = context_param(CKH_HEDGE_REQUIRED, b"");
        let hsig = sign_parts(s, &mut mech_with(CKM_HASH_ML_DSA_SHA256, &mut p), hq, &[b"post-quantum ", b"message"]);
        assert_rv!(verify_with(s, &mut mech_with(CKM_HASH_ML_DSA_SHA256, &mut p), hp, msg, &hsig), CKR_OK);
        assert_rv!(verify_with(s, &mut mech(CKM_ML_DSA), hp, msg, &hsig), CKR_SIGNATURE_INVALID);
        let digest = {
            let mut d = vec![0u8; 32];
            let mut n: CK_ULONG = 32;
            assert_rv!(call!(C_DigestInit, s, &mut mech(CKM_SHA256)), CKR_OK);
            assert_rv!(
                call!(C_Digest, s, msg.as_ptr() as *mut _, msg.len() as CK_ULONG, d.as_mut_ptr(), &mut n),
                CKR_OK
            );
            d
        };
        let mut hp_param = CK_HASH_SIGN_ADDITIONAL_CONTEXT {
            hedgeVariant: CKH_HEDGE_PREFERRED,
            pContext: ptr::null_mut(),
            ulContextLen: 0,
            hash: CKM_SHA256,
        };
        assert_rv!(verify_with(s, &mut mech_with(CKM_HASH_ML_DSA, &mut hp_param), hp, &digest, &hsig), CKR_OK);
        let gsig = sign_with(s, &mut mech_with(CKM_HASH_ML_DSA, &mut hp_param), hq, &digest).unwrap();
        assert_rv!(verify_with(s, &mut mech_with(CKM_HASH_ML_DSA_SHA256, &mut p), hp, msg, &gsig), CKR_OK);
        // CKM_HASH_ML_DSA takes exactly the hash.
        assert_rv!(rv(sign_with(s, &mut mech_with(CKM_HASH_ML_DSA, &mut hp_param), hq, msg)), CKR_DATA_LEN_RANGE);
    }
}

#[test]
fn known_answers_for_key_generation_from_the_seed_and_deterministic_signatures() {
    let (h, s) = Hsm::ready();
    for (set, _, sig_len, file) in SETS {
        for (i, c) in kat(file).iter().enumerate() {
            // The private key from ξ alone: the token expands it (readable here,
            // as the key is imported neither sensitive nor unextractable).
            let private = Tmpl::new()
                .class(CKO_PRIVATE_KEY)
                .ulong(CKA_KEY_TYPE, CKK_ML_DSA)
                .ulong(CKA_PARAMETER_SET, set)
                .bool(CKA_SENSITIVE, false)
                .bool(CKA_EXTRACTABLE, true)
                .bytes(CKA_SEED, &c["xi"]);
            let hq = h.create(s, &private).unwrap();
            assert_eq!(h.get(s, hq, CKA_VALUE).unwrap(), c["sk"], "{file} #{i}: sk from xi");
            assert!(h.get(s, hq, CKA_PUBLIC_KEY_INFO).unwrap().ends_with(&c["pk"]), "{file} #{i}: pk from xi");
            let public = Tmpl::new()
                .class(CKO_PUBLIC_KEY)
                .ulong(CKA_KEY_TYPE, CKK_ML_DSA)
                .ulong(CKA_PARAMETER_SET, set)
                .bytes(CKA_VALUE, &c["pk"]);
            let hp = h.create(s, &public).unwrap();
            let mut p = context_param(CKH_DETERMINISTIC_REQUIRED, &c["ctx"]);
            let sig = sign_with(s, &mut mech_with(CKM_ML_DSA, &mut p), hq, &c["msg"]).unwrap();
            assert_eq!(hex(&sig), hex(&c["sm"][..sig_len]), "{file} #{i}: signature");
            assert_rv!(verify_with(s, &mut mech_with(CKM_ML_DSA, &mut p), hp, &c["msg"], &c["sm"][..sig_len]), CKR_OK);
            // The expanded key alone signs the same.
            let only_value = Tmpl::new()
                .class(CKO_PRIVATE_KEY)
                .ulong(CKA_KEY_TYPE, CKK_ML_DSA)
                .ulong(CKA_PARAMETER_SET, set)
                .bytes(CKA_VALUE, &c["sk"]);
            let hv = h.create(s, &only_value).unwrap();
            assert_eq!(sign_with(s, &mut mech_with(CKM_ML_DSA, &mut p), hv, &c["msg"]).unwrap(), sig);
        }
    }
}

#[test]
fn wrong_parameter_sets_key_types_and_parameters_are_refused() {
    let (h, s) = Hsm::ready();
    let no_set = Tmpl::new().token(false);
    assert_rv!(rv(h.generate_pair(s, CKM_ML_DSA_KEY_PAIR_GEN, &no_set, &Tmpl::new())), CKR_TEMPLATE_INCOMPLETE);
    let bad_set = Tmpl::new().ulong(CKA_PARAMETER_SET, 9);
    assert_rv!(rv(h.generate_pair(s, CKM_ML_DSA_KEY_PAIR_GEN, &bad_set, &Tmpl::new())), CKR_ATTRIBUTE_VALUE_INVALID);
    let (public, private) = pair_templates(CKP_ML_DSA_44, "k");
    let (hp, hq) = h.generate_pair(s, CKM_ML_DSA_KEY_PAIR_GEN, &public, &private).unwrap();
    // An ML-DSA key with ECDSA, an EC key with ML-DSA.
    assert_rv!(rv(sign_with(s, &mut mech(CKM_ECDSA), hq, &[0; 32])), CKR_KEY_TYPE_INCONSISTENT);
    let ec_pub = Tmpl::new().bytes(CKA_EC_PARAMS, P256);
    let (_, ec_priv) = h.generate_pair(s, CKM_EC_KEY_PAIR_GEN, &ec_pub, &Tmpl::new()).unwrap();
    assert_rv!(rv(sign_with(s, &mut mech(CKM_ML_DSA), ec_priv, b"m")), CKR_KEY_TYPE_INCONSISTENT);
    // Parameters: a context over 255 bytes, an unknown hedge, the wrong struct.
    let long = vec![0u8; 256];
    let mut p = context_param(CKH_HEDGE_PREFERRED, &long);
    assert_rv!(rv(sign_with(s, &mut mech_with(CKM_ML_DSA, &mut p), hq, b"m")), CKR_MECHANISM_PARAM_INVALID);
    let mut p = context_param(7, b"");
    assert_rv!(rv(sign_with(s, &mut mech_with(CKM_ML_DSA, &mut p), hq, b"m")), CKR_MECHANISM_PARAM_INVALID);
    let mut n: CK_ULONG = 5;
    assert_rv!(rv(sign_with(s, &mut mech_with(CKM_ML_DSA, &mut n), hq, b"m")), CKR_MECHANISM_PARAM_INVALID);
    assert_rv!(rv(sign_with(s, &mut mech(CKM_HASH_ML_DSA), hq, &[0; 32])), CKR_MECHANISM_PARAM_INVALID);
    // Imports: a public key of the wrong length or set; a seed and a value of two keys.
    let pk = h.get(s, hp, CKA_VALUE).unwrap();
    let import = |set: CK_ULONG, v: &[u8]| {
        Tmpl::new()
            .class(CKO_PUBLIC_KEY)
            .ulong(CKA_KEY_TYPE, CKK_ML_DSA)
            .ulong(CKA_PARAMETER_SET, set)
            .bytes(CKA_VALUE, v)
    };
    assert!(h.create(s, &import(CKP_ML_DSA_44, &pk)).is_ok());
    assert_rv!(rv(h.create(s, &import(CKP_ML_DSA_65, &pk))), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_rv!(rv(h.create(s, &import(CKP_ML_DSA_44, &pk[1..]))), CKR_ATTRIBUTE_VALUE_INVALID);
    let c = &kat(SETS[0].3)[0];
    let mismatched = Tmpl::new()
        .class(CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_ML_DSA)
        .ulong(CKA_PARAMETER_SET, CKP_ML_DSA_44)
        .bytes(CKA_SEED, &[7; 32])
        .bytes(CKA_VALUE, &c["sk"]);
    assert_rv!(rv(h.create(s, &mismatched)), CKR_ATTRIBUTE_VALUE_INVALID);
    let neither =
        Tmpl::new().class(CKO_PRIVATE_KEY).ulong(CKA_KEY_TYPE, CKK_ML_DSA).ulong(CKA_PARAMETER_SET, CKP_ML_DSA_44);
    assert_rv!(rv(h.create(s, &neither)), CKR_TEMPLATE_INCOMPLETE);
}

#[test]
fn mechanism_info_lists_what_is_offered() {
    let (_h, _s) = Hsm::ready();
    let info = |m| {
        let mut i = CK_MECHANISM_INFO::default();
        (call!(C_GetMechanismInfo, 0, m, &mut i), i)
    };
    let (r, i) = info(CKM_ML_DSA_KEY_PAIR_GEN);
    assert_rv!(r, CKR_OK);
    assert_eq!((i.flags, i.ulMinKeySize, i.ulMaxKeySize), (CKF_GENERATE_KEY_PAIR, CKP_ML_DSA_44, CKP_ML_DSA_87));
    for m in [CKM_ML_DSA, CKM_HASH_ML_DSA, CKM_HASH_ML_DSA_SHA224, CKM_HASH_ML_DSA_SHA512]
        .into_iter()
        .chain(SHA3_MECHS.iter().map(|(m, _, _)| *m))
    {
        let (r, i) = info(m);
        assert_rv!(r, CKR_OK);
        assert_eq!((i.flags, i.ulMinKeySize, i.ulMaxKeySize), (SIGN_VERIFY, CKP_ML_DSA_44, CKP_ML_DSA_87), "{m:#x}");
    }
    // The mechanism list names them too.
    let mut n: CK_ULONG = 0;
    assert_rv!(call!(C_GetMechanismList, 0, ptr::null_mut(), &mut n), CKR_OK);
    let mut list = vec![0 as CK_MECHANISM_TYPE; n as usize];
    assert_rv!(call!(C_GetMechanismList, 0, list.as_mut_ptr(), &mut n), CKR_OK);
    for (m, _, _) in SHA3_MECHS {
        assert!(list.contains(&m), "{m:#x} in the mechanism list");
    }
}

/// The SHA-3 and SHAKE HashML-DSA mechanisms, the hash for `CKM_HASH_ML_DSA` (none
/// for SHAKE: PKCS#11 3.2 has no SHAKE digest mechanism), and the last arc of the
/// pre-hash OID 2.16.840.1.101.3.4.2.x (FIPS 204 §5.4).
const SHA3_MECHS: [(CK_MECHANISM_TYPE, Option<CK_MECHANISM_TYPE>, u8); 6] = [
    (CKM_HASH_ML_DSA_SHA3_224, Some(CKM_SHA3_224), 7),
    (CKM_HASH_ML_DSA_SHA3_256, Some(CKM_SHA3_256), 8),
    (CKM_HASH_ML_DSA_SHA3_384, Some(CKM_SHA3_384), 9),
    (CKM_HASH_ML_DSA_SHA3_512, Some(CKM_SHA3_512), 10),
    (CKM_HASH_ML_DSA_SHAKE128, None, 11),
    (CKM_HASH_ML_DSA_SHAKE256, None, 12),
];

/// The pre-hash of `msg` computed here, apart from the module, for the hash whose
/// OID 2.16.840.1.101.3.4.2.`arc` goes into M' (FIPS 204 §5.4: SHAKE128 gives 256
/// bits, SHAKE256 512).
fn test_prehash(arc: u8, msg: &[u8]) -> Vec<u8> {
    use sha3::Digest;
    use shake::digest::{ExtendableOutput, Update};
    fn xof<X: Update + ExtendableOutput + Default>(msg: &[u8], n: usize) -> Vec<u8> {
        let mut h = X::default();
        h.update(msg);
        let mut out = vec![0u8; n];
        h.finalize_xof_into(&mut out);
        out
    }
    match arc {
        1 => sha2::Sha256::digest(msg).to_vec(),
        2 => sha2::Sha384::digest(msg).to_vec(),
        3 => sha2::Sha512::digest(msg).to_vec(),
        4 => sha2::Sha224::digest(msg).to_vec(),
        7 => sha3::Sha3_224::digest(msg).to_vec(),
        8 => sha3::Sha3_256::digest(msg).to_vec(),
        9 => sha3::Sha3_384::digest(msg).to_vec(),
        10 => sha3::Sha3_512::digest(msg).to_vec(),
        11 => xof::<shake::Shake128>(msg, 32),
        12 => xof::<shake::Shake256>(msg, 64),
        _ => unreachable!("no pre-hash has the OID arc {arc}"),
    }
}

#[test]
fn hash_ml_dsa_with_sha3_and_shake_signs_verifies_and_matches_an_independent_pre_hash() {
    use ml_dsa::{EncodedSignature, EncodedVerifyingKey, MlDsa44, Signature, VerifyingKey};
    let (h, s) = Hsm::ready();
    let (public, private) = pair_templates(CKP_ML_DSA_44, "mldsa-sha3");
    let (hp, hq) = h.generate_pair(s, CKM_ML_DSA_KEY_PAIR_GEN, &public, &private).unwrap();
    let pk = h.get(s, hp, CKA_VALUE).unwrap();
    let vk = VerifyingKey::<MlDsa44>::decode(&EncodedVerifyingKey::<MlDsa44>::try_from(pk.as_slice()).unwrap());
    let msg = b"post-quantum message hashed with Keccak";
    let ctx = b"sha3-ctx";
    for (m, hash, arc) in SHA3_MECHS {
        let mut p = context_param(CKH_DETERMINISTIC_REQUIRED, ctx);
        // Single-part and multi-part give the same (deterministic) signature.
        let one = sign_with(s, &mut mech_with(m, &mut p), hq, msg).unwrap();
        let parts = sign_parts(s, &mut mech_with(m, &mut p), hq, &[&msg[..5], b"", &msg[5..20], &msg[20..]]);
        assert_eq!(one, parts, "{m:#x}: multi-part equals single-part");
        assert_eq!(one.len(), 2420);
        assert_rv!(verify_with(s, &mut mech_with(m, &mut p), hp, msg, &one), CKR_OK);
        // Hedged signs too, and verifies.
        let mut hedged = context_param(CKH_HEDGE_REQUIRED, ctx);
        let hsig = sign_with(s, &mut mech_with(m, &mut hedged), hq, msg).unwrap();
        assert_ne!(hsig, one);
        assert_rv!(verify_with(s, &mut mech_with(m, &mut p), hp, msg, &hsig), CKR_OK);
        // Tampering is refused: the signature, the message, the context, the hash.
        let mut bad = one.clone();
        bad[7] ^= 0x40;
        assert_rv!(verify_with(s, &mut mech_with(m, &mut p), hp, msg, &bad), CKR_SIGNATURE_INVALID);
        assert_rv!(verify_with(s, &mut mech_with(m, &mut p), hp, b"another message", &one), CKR_SIGNATURE_INVALID);
        let mut other = context_param(CKH_DETERMINISTIC_REQUIRED, b"other");
        assert_rv!(verify_with(s, &mut mech_with(m, &mut other), hp, msg, &one), CKR_SIGNATURE_INVALID);
        assert_rv!(
            verify_with(s, &mut mech_with(CKM_HASH_ML_DSA_SHA256, &mut p), hp, msg, &one),
            CKR_SIGNATURE_INVALID
        );
        assert_rv!(verify_with(s, &mut mech_with(m, &mut p), hp, msg, &one[1..]), CKR_SIGNATURE_LEN_RANGE);

        // Independently: M' = 1 ‖ |ctx| ‖ ctx ‖ OID ‖ PH(M) built here, with the
        // pre-hash from the sha3/shake crates, verifies under FIPS 204 Verify_internal.
        let digest = test_prehash(arc, msg);
        let mut m_prime = vec![1, ctx.len() as u8];
        m_prime.extend_from_slice(ctx);
        m_prime.extend_from_slice(&[0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, arc]);
        m_prime.extend_from_slice(&digest);
        let sig =
            Signature::<MlDsa44>::decode(&EncodedSignature::<MlDsa44>::try_from(one.as_slice()).unwrap()).unwrap();
        assert!(vk.verify_internal(&m_prime, &sig), "{m:#x}: M' built apart verifies");
        let mut wrong = m_prime.clone();
        *wrong.last_mut().unwrap() ^= 1;
        assert!(!vk.verify_internal(&wrong, &sig));

        // CKM_HASH_ML_DSA over the digest computed here: the same M'.
        if let Some(hash) = hash {
            let mut hp_param = CK_HASH_SIGN_ADDITIONAL_CONTEXT {
                hedgeVariant: CKH_DETERMINISTIC_REQUIRED,
                pContext: ctx.as_ptr() as *mut _,
                ulContextLen: ctx.len() as CK_ULONG,
                hash,
            };
            assert_rv!(verify_with(s, &mut mech_with(CKM_HASH_ML_DSA, &mut hp_param), hp, &digest, &one), CKR_OK);
            let g = sign_with(s, &mut mech_with(CKM_HASH_ML_DSA, &mut hp_param), hq, &digest).unwrap();
            assert_eq!(g, one, "{m:#x}: CKM_HASH_ML_DSA over the digest signs the same");
            assert_rv!(
                rv(sign_with(s, &mut mech_with(CKM_HASH_ML_DSA, &mut hp_param), hq, &digest[1..])),
                CKR_DATA_LEN_RANGE
            );
        }
    }
}

#[test]
fn keys_sign_after_a_restart() {
    let (mut h, s) = Hsm::ready();
    let (public, private) = pair_templates(CKP_ML_DSA_65, "kept");
    let (hp, _) = h.generate_pair(s, CKM_ML_DSA_KEY_PAIR_GEN, &public, &private).unwrap();
    let pk = h.get(s, hp, CKA_VALUE).unwrap();
    h.restart();
    let s = h.open(0, true);
    assert_rv!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    let find = |class| {
        let t = Tmpl::new().class(class).ulong(CKA_KEY_TYPE, CKK_ML_DSA).label("kept");
        let found = h.find(s, &t);
        assert_eq!(found.len(), 1);
        found[0]
    };
    let (hp, hq) = (find(CKO_PUBLIC_KEY), find(CKO_PRIVATE_KEY));
    assert_eq!(h.get(s, hp, CKA_VALUE).unwrap(), pk);
    let sig = sign_with(s, &mut mech(CKM_ML_DSA), hq, b"after restart").unwrap();
    assert_rv!(verify_with(s, &mut mech(CKM_ML_DSA), hp, b"after restart", &sig), CKR_OK);
}

/// The birth certificate of an ML-DSA key pair carries the key's
/// SubjectPublicKeyInfo: `id-ml-dsa-65` (2.16.840.1.101.3.4.3.18) with no
/// parameters and the raw public key as the BIT STRING (RFC 9881 §4).
#[test]
fn the_birth_certificate_carries_the_ml_dsa_public_key() {
    let (h, s) = Hsm::ready();
    let (public, private) = pair_templates(CKP_ML_DSA_65, "pq-attested");
    let (hp, _) = h.generate_pair(s, CKM_ML_DSA_KEY_PAIR_GEN, &public, &private).unwrap();
    let pk = h.get(s, hp, CKA_VALUE).unwrap();
    let certs = h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:pq-attested"));
    assert_eq!(certs.len(), 1, "one birth certificate");
    let cert = h.get(s, certs[0], CKA_VALUE).unwrap();
    // SEQUENCE { SEQUENCE { OID id-ml-dsa-65 } BIT STRING (0 unused bits) pk }:
    // 1952 + 1 bytes of BIT STRING content, 22 bytes of header.
    let mut spki = vec![0x30, 0x82, 0x07, 0xb2, 0x30, 0x0b, 0x06, 0x09];
    spki.extend_from_slice(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12]);
    spki.extend_from_slice(&[0x03, 0x82, 0x07, 0xa1, 0x00]);
    spki.extend_from_slice(&pk);
    assert_eq!(h.get(s, hp, CKA_PUBLIC_KEY_INFO).unwrap(), spki);
    assert!(cert.windows(spki.len()).any(|w| w == spki.as_slice()), "the certificate holds the ML-DSA SPKI");
}

/// SLH-DSA "f" sets tested here (the "s" sets sign too slowly for a debug build):
/// (parameter set, public key, signature length).
const SLH_SETS: [(CK_ULONG, usize, usize); 2] =
    [(CKP_SLH_DSA_SHA2_128F, 32, 17088), (CKP_SLH_DSA_SHAKE_128F, 32, 17088)];

#[test]
fn slh_dsa_signs_and_verifies_and_refuses_tampering() {
    let (h, s) = Hsm::ready();
    for (set, pk_len, sig_len) in SLH_SETS {
        let (public, private) = pair_templates(set, "slh");
        let (hp, hq) = h.generate_pair(s, CKM_SLH_DSA_KEY_PAIR_GEN, &public, &private).unwrap();
        assert_eq!(h.get_ulong(s, hp, CKA_KEY_TYPE), CKK_SLH_DSA);
        assert_eq!(h.get_ulong(s, hq, CKA_PARAMETER_SET), set);
        let pk = h.get(s, hp, CKA_VALUE).unwrap();
        assert_eq!(pk.len(), pk_len);
        assert_rv!(rv(h.get(s, hq, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE);
        assert!(h.get_bool(s, hq, CKA_LOCAL));
        let info = h.get(s, hp, CKA_PUBLIC_KEY_INFO).unwrap();
        assert_eq!(info, h.get(s, hq, CKA_PUBLIC_KEY_INFO).unwrap());
        assert!(info.ends_with(&pk));

        let msg = b"stateless hash-based message";
        // Deterministic with a context: single-part equals multi-part.
        let mut p = context_param(CKH_DETERMINISTIC_REQUIRED, b"slh-ctx");
        let sig = sign_with(s, &mut mech_with(CKM_SLH_DSA, &mut p), hq, msg).unwrap();
        assert_eq!(sig.len(), sig_len);
        let parts = sign_parts(s, &mut mech_with(CKM_SLH_DSA, &mut p), hq, &[&msg[..9], &msg[9..]]);
        assert_eq!(parts, sig);
        assert_rv!(verify_with(s, &mut mech_with(CKM_SLH_DSA, &mut p), hp, msg, &sig), CKR_OK);
        // Tampering: the signature, the message, the context, the length.
        let mut bad = sig.clone();
        bad[sig_len / 2] ^= 1;
        assert_rv!(verify_with(s, &mut mech_with(CKM_SLH_DSA, &mut p), hp, msg, &bad), CKR_SIGNATURE_INVALID);
        assert_rv!(verify_with(s, &mut mech_with(CKM_SLH_DSA, &mut p), hp, b"other", &sig), CKR_SIGNATURE_INVALID);
        assert_rv!(verify_with(s, &mut mech(CKM_SLH_DSA), hp, msg, &sig), CKR_SIGNATURE_INVALID);
        assert_rv!(verify_with(s, &mut mech(CKM_SLH_DSA), hp, msg, &sig[1..]), CKR_SIGNATURE_LEN_RANGE);
        // No parameter: hedged, empty context; differs from the deterministic one.
        let hedged = sign_with(s, &mut mech(CKM_SLH_DSA), hq, msg).unwrap();
        assert_rv!(verify_with(s, &mut mech(CKM_SLH_DSA), hp, msg, &hedged), CKR_OK);
        let mut empty_det = context_param(CKH_DETERMINISTIC_REQUIRED, b"");
        assert_ne!(hedged, sign_with(s, &mut mech_with(CKM_SLH_DSA, &mut empty_det), hq, msg).unwrap());
        // Refusals: an ML-DSA mechanism on it, a bad hedge, a long context.
        assert_rv!(rv(sign_with(s, &mut mech(CKM_ML_DSA), hq, msg)), CKR_KEY_TYPE_INCONSISTENT);
        let mut odd = context_param(7, b"");
        assert_rv!(rv(sign_with(s, &mut mech_with(CKM_SLH_DSA, &mut odd), hq, msg)), CKR_MECHANISM_PARAM_INVALID);
        let long = vec![0u8; 256];
        let mut long = context_param(CKH_HEDGE_PREFERRED, &long);
        assert_rv!(rv(sign_with(s, &mut mech_with(CKM_SLH_DSA, &mut long), hq, msg)), CKR_MECHANISM_PARAM_INVALID);

        // The public key imported verifies the same; a wrong length or set is refused.
        let import = |set: CK_ULONG, v: &[u8]| {
            Tmpl::new()
                .class(CKO_PUBLIC_KEY)
                .ulong(CKA_KEY_TYPE, CKK_SLH_DSA)
                .ulong(CKA_PARAMETER_SET, set)
                .bytes(CKA_VALUE, v)
        };
        let hi = h.create(s, &import(set, &pk)).unwrap();
        assert_eq!(h.get(s, hi, CKA_PUBLIC_KEY_INFO).unwrap(), info);
        assert_rv!(verify_with(s, &mut mech_with(CKM_SLH_DSA, &mut p), hi, msg, &sig), CKR_OK);
        assert_rv!(rv(h.create(s, &import(set, &pk[1..]))), CKR_ATTRIBUTE_VALUE_INVALID);
        assert_rv!(rv(h.create(s, &import(CKP_SLH_DSA_SHA2_192F, &pk))), CKR_ATTRIBUTE_VALUE_INVALID);
    }
    // Generation needs a known parameter set.
    let no_set = Tmpl::new().token(false);
    assert_rv!(rv(h.generate_pair(s, CKM_SLH_DSA_KEY_PAIR_GEN, &no_set, &Tmpl::new())), CKR_TEMPLATE_INCOMPLETE);
    let bad_set = Tmpl::new().ulong(CKA_PARAMETER_SET, 13);
    assert_rv!(rv(h.generate_pair(s, CKM_SLH_DSA_KEY_PAIR_GEN, &bad_set, &Tmpl::new())), CKR_ATTRIBUTE_VALUE_INVALID);
    let (public, _) = pair_templates(CKP_SLH_DSA_SHA2_128F, "slh");
    let in_private = Tmpl::new().ulong(CKA_PARAMETER_SET, CKP_SLH_DSA_SHA2_128F);
    assert_rv!(rv(h.generate_pair(s, CKM_SLH_DSA_KEY_PAIR_GEN, &public, &in_private)), CKR_ATTRIBUTE_READ_ONLY);
}

/// A private key imported from its value signs; one whose PK.root is not the one
/// its seeds give is refused.
#[test]
fn slh_dsa_private_keys_import_when_consistent() {
    let (h, s) = Hsm::ready();
    let (public, private) = pair_templates(CKP_SLH_DSA_SHA2_128F, "slh-src");
    let private = private.bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true);
    let (hp, hq) = h.generate_pair(s, CKM_SLH_DSA_KEY_PAIR_GEN, &public, &private).unwrap();
    let sk = h.get(s, hq, CKA_VALUE).unwrap();
    assert_eq!(sk.len(), 64);
    assert!(sk.ends_with(&h.get(s, hp, CKA_VALUE).unwrap()), "SK ends with PK.seed ‖ PK.root");
    let import = |v: &[u8]| {
        Tmpl::new()
            .class(CKO_PRIVATE_KEY)
            .ulong(CKA_KEY_TYPE, CKK_SLH_DSA)
            .ulong(CKA_PARAMETER_SET, CKP_SLH_DSA_SHA2_128F)
            .bytes(CKA_VALUE, v)
    };
    let hi = h.create(s, &import(&sk)).unwrap();
    let msg = b"imported";
    let sig = sign_with(s, &mut mech(CKM_SLH_DSA), hi, msg).unwrap();
    assert_rv!(verify_with(s, &mut mech(CKM_SLH_DSA), hp, msg, &sig), CKR_OK);
    let mut bad = sk.clone();
    bad[63] ^= 1;
    assert_rv!(rv(h.create(s, &import(&bad))), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_rv!(rv(h.create(s, &import(&sk[..63]))), CKR_ATTRIBUTE_VALUE_INVALID);
}

/// After a restart the sealed key still signs; the birth certificate carries the
/// SLH-DSA SubjectPublicKeyInfo: `id-slh-dsa-shake-128f` (2.16.840.1.101.3.4.3.27),
/// no parameters, the raw public key as the BIT STRING.
#[test]
fn slh_dsa_keys_sign_after_a_restart_and_are_attested() {
    let (mut h, s) = Hsm::ready();
    let (public, private) = pair_templates(CKP_SLH_DSA_SHAKE_128F, "slh-kept");
    let (hp, _) = h.generate_pair(s, CKM_SLH_DSA_KEY_PAIR_GEN, &public, &private).unwrap();
    let pk = h.get(s, hp, CKA_VALUE).unwrap();
    let mut spki = vec![0x30, 0x30, 0x30, 0x0b, 0x06, 0x09];
    spki.extend_from_slice(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x1b]);
    spki.extend_from_slice(&[0x03, 0x21, 0x00]);
    spki.extend_from_slice(&pk);
    assert_eq!(h.get(s, hp, CKA_PUBLIC_KEY_INFO).unwrap(), spki);
    let certs = h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:slh-kept"));
    assert_eq!(certs.len(), 1, "one birth certificate");
    let cert = h.get(s, certs[0], CKA_VALUE).unwrap();
    assert!(cert.windows(spki.len()).any(|w| w == spki.as_slice()), "the certificate holds the SLH-DSA SPKI");

    h.restart();
    let s = h.open(0, true);
    assert_rv!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    let find = |class| {
        let t = Tmpl::new().class(class).ulong(CKA_KEY_TYPE, CKK_SLH_DSA).label("slh-kept");
        let found = h.find(s, &t);
        assert_eq!(found.len(), 1);
        found[0]
    };
    let (hp, hq) = (find(CKO_PUBLIC_KEY), find(CKO_PRIVATE_KEY));
    assert_eq!(h.get(s, hp, CKA_VALUE).unwrap(), pk);
    let sig = sign_with(s, &mut mech(CKM_SLH_DSA), hq, b"after restart").unwrap();
    assert_rv!(verify_with(s, &mut mech(CKM_SLH_DSA), hp, b"after restart", &sig), CKR_OK);
    let info = |m| {
        let mut i = CK_MECHANISM_INFO::default();
        assert_rv!(call!(C_GetMechanismInfo, 0, m, &mut i), CKR_OK);
        (i.flags, i.ulMinKeySize, i.ulMaxKeySize)
    };
    assert_eq!(info(CKM_SLH_DSA_KEY_PAIR_GEN), (CKF_GENERATE_KEY_PAIR, CKP_SLH_DSA_SHA2_128S, CKP_SLH_DSA_SHAKE_256F));
    assert_eq!(info(CKM_SLH_DSA), (SIGN_VERIFY, CKP_SLH_DSA_SHA2_128S, CKP_SLH_DSA_SHAKE_256F));
}

/// HashSLH-DSA (FIPS 205 §10.2.2): each fixed-hash mechanism signs and verifies on
/// an SHA2-128f key, single-part equal to multi-part when deterministic; M' = 1 ‖
/// |ctx| ‖ ctx ‖ OID ‖ PH(M) built here with the pre-hash from the sha3/shake crates
/// (SHA-2: the `sha2` crate) verifies under the slh-dsa crate's
/// `slh_verify_internal`; `CKM_HASH_SLH_DSA` over the digest gives the same
/// signature; tampering and a pure verification of a pre-hash signature are refused.
#[test]
fn hash_slh_dsa_signs_verifies_and_matches_an_independent_pre_hash() {
    use slh_dsa::{Sha2_128f, Signature, VerifyingKey};
    let (h, s) = Hsm::ready();
    let (public, private) = pair_templates(CKP_SLH_DSA_SHA2_128F, "hash-slh");
    let (hp, hq) = h.generate_pair(s, CKM_SLH_DSA_KEY_PAIR_GEN, &public, &private).unwrap();
    let vk = VerifyingKey::<Sha2_128f>::try_from(h.get(s, hp, CKA_VALUE).unwrap().as_slice()).unwrap();
    let msg = b"a long-lived firmware image, hashed first";
    let ctx = b"fw";
    // (mechanism, the digest mechanism for CKM_HASH_SLH_DSA, last OID arc).
    let mechs: [(CK_MECHANISM_TYPE, Option<CK_MECHANISM_TYPE>, u8); 10] = [
        (CKM_HASH_SLH_DSA_SHA224, Some(CKM_SHA224), 4),
        (CKM_HASH_SLH_DSA_SHA256, Some(CKM_SHA256), 1),
        (CKM_HASH_SLH_DSA_SHA384, Some(CKM_SHA384), 2),
        (CKM_HASH_SLH_DSA_SHA512, Some(CKM_SHA512), 3),
        (CKM_HASH_SLH_DSA_SHA3_224, Some(CKM_SHA3_224), 7),
        (CKM_HASH_SLH_DSA_SHA3_256, Some(CKM_SHA3_256), 8),
        (CKM_HASH_SLH_DSA_SHA3_384, Some(CKM_SHA3_384), 9),
        (CKM_HASH_SLH_DSA_SHA3_512, Some(CKM_SHA3_512), 10),
        (CKM_HASH_SLH_DSA_SHAKE128, None, 11),
        (CKM_HASH_SLH_DSA_SHAKE256, None, 12),
    ];
    for (m, hash, arc) in mechs {
        let mut p = context_param(CKH_DETERMINISTIC_REQUIRED, ctx);
        let one = sign_with(s, &mut mech_with(m, &mut p), hq, msg).unwrap();
        assert_eq!(one.len(), 17088);
        let parts = sign_parts(s, &mut mech_with(m, &mut p), hq, &[&msg[..4], &msg[4..]]);
        assert_eq!(one, parts, "{m:#x}: multi-part equals single-part");
        assert_rv!(verify_with(s, &mut mech_with(m, &mut p), hp, msg, &one), CKR_OK);
        assert_rv!(verify_with(s, &mut mech_with(m, &mut p), hp, b"another image", &one), CKR_SIGNATURE_INVALID);
        assert_rv!(verify_with(s, &mut mech_with(CKM_SLH_DSA, &mut p), hp, msg, &one), CKR_SIGNATURE_INVALID);

        let digest = test_prehash(arc, msg);
        let mut m_prime = vec![1, ctx.len() as u8];
        m_prime.extend_from_slice(ctx);
        m_prime.extend_from_slice(&[0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, arc]);
        m_prime.extend_from_slice(&digest);
        let sig = Signature::<Sha2_128f>::try_from(one.as_slice()).unwrap();
        assert!(vk.slh_verify_internal(&[&m_prime], &sig).is_ok(), "{m:#x}: M' built apart verifies");

        if let Some(hash) = hash {
            let mut hp_param = CK_HASH_SIGN_ADDITIONAL_CONTEXT {
                hedgeVariant: CKH_DETERMINISTIC_REQUIRED,
                pContext: ctx.as_ptr() as *mut _,
                ulContextLen: ctx.len() as CK_ULONG,
                hash,
            };
            let g = sign_with(s, &mut mech_with(CKM_HASH_SLH_DSA, &mut hp_param), hq, &digest).unwrap();
            assert_eq!(g, one, "{m:#x}: CKM_HASH_SLH_DSA over the digest signs the same");
            assert_rv!(verify_with(s, &mut mech_with(CKM_HASH_SLH_DSA, &mut hp_param), hp, &digest, &one), CKR_OK);
            assert_rv!(
                rv(sign_with(s, &mut mech_with(CKM_HASH_SLH_DSA, &mut hp_param), hq, &digest[1..])),
                CKR_DATA_LEN_RANGE
            );
        }
    }
    // Hedged signs and verifies; CKM_HASH_SLH_DSA needs its parameter.
    let hedged = sign_with(s, &mut mech(CKM_HASH_SLH_DSA_SHA256), hq, msg).unwrap();
    assert_rv!(verify_with(s, &mut mech(CKM_HASH_SLH_DSA_SHA256), hp, msg, &hedged), CKR_OK);
    assert_rv!(rv(sign_with(s, &mut mech(CKM_HASH_SLH_DSA), hq, msg)), CKR_MECHANISM_PARAM_INVALID);
    // Mechanism info: each is there with the SLH-DSA parameter-set range.
    for m in [CKM_HASH_SLH_DSA, CKM_HASH_SLH_DSA_SHA256, CKM_HASH_SLH_DSA_SHAKE256] {
        let mut info = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
        assert_rv!(call!(C_GetMechanismInfo, h.slots()[0], m, &mut info), CKR_OK);
        assert_eq!(info.flags, SIGN_VERIFY);
        assert_eq!((info.ulMinKeySize, info.ulMaxKeySize), (CKP_SLH_DSA_SHA2_128S, CKP_SLH_DSA_SHAKE_256F));
    }
}
