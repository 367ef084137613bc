//! ML-KEM (PKCS#11 3.2) through the built module: `CKM_ML_KEM_KEY_PAIR_GEN` for each
//! parameter set, `C_EncapsulateKey` / `C_DecapsulateKey` with `CKM_ML_KEM` reached
//! through the 3.2 function list, the length query, the implicit rejection of a
//! tampered ciphertext, refusals, keys after a restart, and known answers from
//! test-vectors/pqc (a private key imported from its seed d‖z decapsulates the KAT
//! ciphertexts to the KAT secrets).
//!
//! Run on both providers:
//! `cargo test -p ferrohsm-pkcs11 --test kem` and
//! `cargo test -p ferrohsm-pkcs11 --no-default-features --features rustcrypto --test kem`.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::ptr;

use common::*;

/// (parameter set, encapsulation key length, ciphertext length, KAT file).
const SETS: [(CK_ULONG, usize, usize, &str); 3] = [
    (CKP_ML_KEM_512, 800, 768, "kat_MLKEM_512.rsp"),
    (CKP_ML_KEM_768, 1184, 1088, "kat_MLKEM_768.rsp"),
    (CKP_ML_KEM_1024, 1568, 1568, "kat_MLKEM_1024.rsp"),
];

/// The first case of a KAT file.
fn kat(name: &str) -> HashMap<String, Vec<u8>> {
    let path = format!("{}/../test-vectors/pqc/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut out = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let Some((k, v)) = line.split_once(" = ") else { continue };
        if k == "count" {
            if out.is_empty() {
                continue;
            }
            break;
        }
        out.insert(k.to_string(), unhex(v));
    }
    assert!(out.contains_key("ct"), "{name} has a case");
    out
}

fn pair_templates(set: CK_ULONG, label: &str) -> (Tmpl, Tmpl) {
    let public = Tmpl::new().token(true).label(label).ulong(CKA_PARAMETER_SET, set).bool(CKA_ENCAPSULATE, true);
    let private = Tmpl::new().token(true).label(label).bool(CKA_DECAPSULATE, true);
    (public, private)
}

/// A template for the shared secret: an extractable generic secret, so that tests
/// can compare values.
fn secret_template() -> Tmpl {
    Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
}

/// An AES-256 template for the shared secret (sensitive: compared by encrypting).
fn aes_template() -> Tmpl {
    Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_AES).bool(CKA_ENCRYPT, true)
}

/// `C_EncapsulateKey` with `CKM_ML_KEM`, length query first: (ciphertext, key).
fn encapsulate(s: CK_SESSION_HANDLE, public: CK_OBJECT_HANDLE, t: &Tmpl) -> Result<(Vec<u8>, CK_OBJECT_HANDLE), CK_RV> {
    encapsulate_key(s, &mut mech(CKM_ML_KEM), public, t)
}

/// `C_DecapsulateKey` with `CKM_ML_KEM`.
fn decapsulate(
    s: CK_SESSION_HANDLE,
    private: CK_OBJECT_HANDLE,
    t: &Tmpl,
    ct: &[u8],
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    decapsulate_key(s, &mut mech(CKM_ML_KEM), private, t, ct)
}

/// AES-ECB of one block under `key`.
fn aes_ecb(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Vec<u8> {
    assert_rv!(call!(C_EncryptInit, s, &mut mech(CKM_AES_ECB), key), CKR_OK);
    let mut block = [0x5au8; 16];
    let mut out = [0u8; 16];
    let mut n: CK_ULONG = 16;
    assert_rv!(call!(C_Encrypt, s, block.as_mut_ptr(), 16, out.as_mut_ptr(), &mut n), CKR_OK);
    out.to_vec()
}

fn count_objects(h: &Hsm, s: CK_SESSION_HANDLE) -> usize {
    h.find(s, &Tmpl::new().class(CKO_SECRET_KEY)).len()
}

#[test]
fn every_parameter_set_encapsulates_and_decapsulates_the_same_secret() {
    let (h, s) = Hsm::ready();
    for (set, ek_len, ct_len, _) in SETS {
        let (public, private) = pair_templates(set, "mlkem");
        let (hp, hq) = h.generate_pair(s, CKM_ML_KEM_KEY_PAIR_GEN, &public, &private).unwrap();
        assert_eq!(h.get_ulong(s, hp, CKA_KEY_TYPE), CKK_ML_KEM);
        assert_eq!(h.get_ulong(s, hq, CKA_PARAMETER_SET), set);
        assert_eq!(h.get(s, hp, CKA_VALUE).unwrap().len(), ek_len);
        assert_rv!(rv(h.get(s, hq, CKA_SEED)), CKR_ATTRIBUTE_SENSITIVE);
        assert_rv!(rv(h.get(s, hq, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE);
        assert!(h.get_bool(s, hq, CKA_LOCAL));
        let info = h.get(s, hp, CKA_PUBLIC_KEY_INFO).unwrap();
        assert!(info.ends_with(&h.get(s, hp, CKA_VALUE).unwrap()));

        // Generic secrets, compared by value.
        let (ct, k1) = encapsulate(s, hp, &secret_template()).unwrap();
        assert_eq!(ct.len(), ct_len);
        let k2 = decapsulate(s, hq, &secret_template(), &ct).unwrap();
        let v1 = h.get(s, k1, CKA_VALUE).unwrap();
        assert_eq!(v1.len(), 32);
        assert_eq!(v1, h.get(s, k2, CKA_VALUE).unwrap(), "{set}: both sides hold the same secret");
        assert_eq!(h.get_ulong(s, k1, CKA_VALUE_LEN), 32);
        // Provenance: not local, no generation mechanism.
        for k in [k1, k2] {
            assert!(!h.get_bool(s, k, CKA_LOCAL));
            assert_eq!(h.get_ulong(s, k, CKA_KEY_GEN_MECHANISM), CK_UNAVAILABLE_INFORMATION);
        }
        // A second encapsulation gives another secret.
        let (ct2, k3) = encapsulate(s, hp, &secret_template()).unwrap();
        assert_ne!(ct2, ct);
        assert_ne!(h.get(s, k3, CKA_VALUE).unwrap(), v1);

        // AES-256 keys, sensitive, compared by what they encrypt.
        let (ct, a1) = encapsulate(s, hp, &aes_template()).unwrap();
        let a2 = decapsulate(s, hq, &aes_template(), &ct).unwrap();
        assert_eq!(aes_ecb(s, a1), aes_ecb(s, a2));
        assert!(h.get_bool(s, a1, CKA_ALWAYS_SENSITIVE) == h.get_bool(s, a1, CKA_SENSITIVE));
        // The template may ask for fewer bytes: AES-128 from the secret's first 16.
        let t128 = aes_template().ulong(CKA_VALUE_LEN, 16);
        let (ct, b1) = encapsulate(s, hp, &t128).unwrap();
        let b2 = decapsulate(s, hq, &t128, &ct).unwrap();
        assert_eq!(h.get_ulong(s, b1, CKA_VALUE_LEN), 16);
        assert_eq!(aes_ecb(s, b1), aes_ecb(s, b2));

        // A tampered ciphertext of the right length: a key all the same (implicit
        // rejection), not the sender's.
        let (ct, k1) = encapsulate(s, hp, &secret_template()).unwrap();
        let mut bad = ct.clone();
        bad[7] ^= 1;
        let k2 = decapsulate(s, hq, &secret_template(), &bad).unwrap();
        let (r1, r2) = (h.get(s, k1, CKA_VALUE).unwrap(), h.get(s, k2, CKA_VALUE).unwrap());
        assert_eq!(r2.len(), 32);
        assert_ne!(r1, r2);
        // ... and the same rejection secret each time.
        let k3 = decapsulate(s, hq, &secret_template(), &bad).unwrap();
        assert_eq!(h.get(s, k3, CKA_VALUE).unwrap(), r2);
        // A ciphertext of the wrong length.
        assert_rv!(rv(decapsulate(s, hq, &secret_template(), &ct[1..])), CKR_ENCRYPTED_DATA_LEN_RANGE);
        assert_rv!(
            rv(decapsulate(s, hq, &secret_template(), &[ct.clone(), vec![0]].concat())),
            CKR_ENCRYPTED_DATA_LEN_RANGE
        );
    }
}

#[test]
fn the_length_query_and_a_short_buffer_make_no_key() {
    let (h, s) = Hsm::ready();
    let (public, private) = pair_templates(CKP_ML_KEM_768, "q");
    let (hp, _) = h.generate_pair(s, CKM_ML_KEM_KEY_PAIR_GEN, &public, &private).unwrap();
    let f = f32().C_EncapsulateKey.unwrap();
    let t = secret_template();
    let mut a = t.attrs();
    let before = count_objects(&h, s);
    let mut n: CK_ULONG = 0;
    let mut hk: CK_OBJECT_HANDLE = 0;
    assert_rv!(
        unsafe {
            f(s, &mut mech(CKM_ML_KEM), hp, a.as_mut_ptr(), a.len() as CK_ULONG, ptr::null_mut(), &mut n, &mut hk)
        },
        CKR_OK
    );
    assert_eq!(n, 1088);
    // The length query may leave phKey null.
    assert_rv!(
        unsafe {
            f(
                s,
                &mut mech(CKM_ML_KEM),
                hp,
                a.as_mut_ptr(),
                a.len() as CK_ULONG,
                ptr::null_mut(),
                &mut n,
                ptr::null_mut(),
            )
        },
        CKR_OK
    );
    let mut short = vec![0u8; 1087];
    let mut m: CK_ULONG = 1087;
    assert_rv!(
        unsafe {
            f(s, &mut mech(CKM_ML_KEM), hp, a.as_mut_ptr(), a.len() as CK_ULONG, short.as_mut_ptr(), &mut m, &mut hk)
        },
        CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(m, 1088);
    assert_eq!(hk, 0);
    assert_eq!(count_objects(&h, s), before, "no key made by a query or a short buffer");
    // The real call needs phKey, and a length pointer.
    let mut ct = vec![0u8; 1088];
    assert_rv!(
        unsafe {
            f(
                s,
                &mut mech(CKM_ML_KEM),
                hp,
                a.as_mut_ptr(),
                a.len() as CK_ULONG,
                ct.as_mut_ptr(),
                &mut m,
                ptr::null_mut(),
            )
        },
        CKR_ARGUMENTS_BAD
    );
    assert_rv!(
        unsafe {
            f(
                s,
                &mut mech(CKM_ML_KEM),
                hp,
                a.as_mut_ptr(),
                a.len() as CK_ULONG,
                ct.as_mut_ptr(),
                ptr::null_mut(),
                &mut hk,
            )
        },
        CKR_ARGUMENTS_BAD
    );
    // A larger buffer: the length is set to the ciphertext's.
    let mut big = vec![0u8; 4000];
    let mut m: CK_ULONG = 4000;
    assert_rv!(
        unsafe {
            f(s, &mut mech(CKM_ML_KEM), hp, a.as_mut_ptr(), a.len() as CK_ULONG, big.as_mut_ptr(), &mut m, &mut hk)
        },
        CKR_OK
    );
    assert_eq!(m, 1088);
    assert_ne!(hk, 0);
    assert_eq!(count_objects(&h, s), before + 1);
}

#[test]
fn refusals() {
    let (h, s) = Hsm::ready();
    let (public, private) = pair_templates(CKP_ML_KEM_512, "r");
    let (hp, hq) = h.generate_pair(s, CKM_ML_KEM_KEY_PAIR_GEN, &public, &private).unwrap();
    let (ct, _) = encapsulate(s, hp, &secret_template()).unwrap();
    // Wrong halves of the pair.
    assert_rv!(rv(encapsulate(s, hq, &secret_template())), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_rv!(rv(decapsulate(s, hp, &secret_template(), &ct)), CKR_KEY_FUNCTION_NOT_PERMITTED);
    // Usage attributes false.
    let public = Tmpl::new().ulong(CKA_PARAMETER_SET, CKP_ML_KEM_512).bool(CKA_ENCAPSULATE, false);
    let private = Tmpl::new().bool(CKA_DECAPSULATE, false);
    let (np, nq) = h.generate_pair(s, CKM_ML_KEM_KEY_PAIR_GEN, &public, &private).unwrap();
    assert_rv!(rv(encapsulate(s, np, &secret_template())), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_rv!(rv(decapsulate(s, nq, &secret_template(), &ct)), CKR_KEY_FUNCTION_NOT_PERMITTED);
    // Another key type.
    let aes = h.generate_key(s, CKM_AES_KEY_GEN, &Tmpl::new().ulong(CKA_VALUE_LEN, 32)).unwrap();
    assert_rv!(rv(encapsulate(s, aes, &secret_template())), CKR_KEY_TYPE_INCONSISTENT);
    assert_rv!(rv(decapsulate(s, aes, &secret_template(), &ct)), CKR_KEY_TYPE_INCONSISTENT);
    // A template for something other than a secret key, or a bad length.
    let not_secret = Tmpl::new().class(CKO_DATA);
    assert_rv!(rv(decapsulate(s, hq, &not_secret, &ct)), CKR_TEMPLATE_INCONSISTENT);
    let too_long = secret_template().ulong(CKA_VALUE_LEN, 33);
    assert_rv!(rv(decapsulate(s, hq, &too_long, &ct)), CKR_TEMPLATE_INCONSISTENT);
    assert_rv!(rv(encapsulate(s, hp, &too_long)), CKR_TEMPLATE_INCONSISTENT);
    // A parameter where ML-KEM takes none.
    let f = f32().C_DecapsulateKey.unwrap();
    let t = secret_template();
    let mut a = t.attrs();
    let mut param = [0u8; 8];
    let mut m = CK_MECHANISM { mechanism: CKM_ML_KEM, pParameter: param.as_mut_ptr() as *mut _, ulParameterLen: 8 };
    let mut hk = 0;
    assert_rv!(
        unsafe {
            f(s, &mut m, hq, a.as_mut_ptr(), a.len() as CK_ULONG, ct.as_ptr() as *mut _, ct.len() as CK_ULONG, &mut hk)
        },
        CKR_MECHANISM_PARAM_INVALID
    );
    // ML-KEM keys do not sign; other mechanisms do not encapsulate.
    let mut am = mech(CKM_AES_ECB);
    assert_rv!(
        unsafe {
            (f32().C_DecapsulateKey.unwrap())(
                s,
                &mut am,
                hq,
                a.as_mut_ptr(),
                a.len() as CK_ULONG,
                ct.as_ptr() as *mut _,
                ct.len() as CK_ULONG,
                &mut hk,
            )
        },
        CKR_MECHANISM_INVALID
    );
    // Generation: no parameter set, an unknown one, one in the private template
    // (the rule table: the private key takes its set from the public template).
    let bare = Tmpl::new();
    assert_rv!(rv(h.generate_pair(s, CKM_ML_KEM_KEY_PAIR_GEN, &bare, &bare)), CKR_TEMPLATE_INCOMPLETE);
    let odd = Tmpl::new().ulong(CKA_PARAMETER_SET, 9);
    assert_rv!(rv(h.generate_pair(s, CKM_ML_KEM_KEY_PAIR_GEN, &odd, &bare)), CKR_ATTRIBUTE_VALUE_INVALID);
    let a1 = Tmpl::new().ulong(CKA_PARAMETER_SET, CKP_ML_KEM_512);
    let a2 = Tmpl::new().ulong(CKA_PARAMETER_SET, CKP_ML_KEM_768);
    assert_rv!(rv(h.generate_pair(s, CKM_ML_KEM_KEY_PAIR_GEN, &a1, &a2)), CKR_ATTRIBUTE_READ_ONLY);
    // The mechanism tells the truth.
    let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
    assert_rv!(call!(C_GetMechanismInfo, 0, CKM_ML_KEM, &mut info), CKR_OK);
    assert_eq!(info.flags, CKF_ENCAPSULATE | CKF_DECAPSULATE);
    assert_rv!(call!(C_GetMechanismInfo, 0, CKM_ML_KEM_KEY_PAIR_GEN, &mut info), CKR_OK);
    assert_eq!(info.flags, CKF_GENERATE_KEY_PAIR);
}

/// The 3.2 functions this build does not implement say so.
#[test]
fn the_other_3_2_functions_are_not_supported() {
    let (_h, s) = Hsm::ready();
    let l = f32();
    // C_VerifySignature* are implemented (tests/message.rs): no operation here.
    assert_rv!(unsafe { (l.C_VerifySignatureFinal.unwrap())(s) }, CKR_OPERATION_NOT_INITIALIZED);
    let mut flags: CK_FLAGS = 0;
    assert_rv!(unsafe { (l.C_GetSessionValidationFlags.unwrap())(s, 0, &mut flags) }, CKR_FUNCTION_NOT_SUPPORTED);
    assert_rv!(unsafe { (l.C_AsyncGetID.unwrap())(s, ptr::null_mut(), ptr::null_mut()) }, CKR_FUNCTION_NOT_SUPPORTED);
    assert_rv!(
        unsafe {
            (l.C_WrapKeyAuthenticated.unwrap())(
                s,
                &mut mech(CKM_AES_GCM),
                1,
                2,
                ptr::null_mut(),
                0,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        },
        CKR_FUNCTION_NOT_SUPPORTED
    );
}

#[test]
fn keys_work_after_a_restart() {
    let (mut h, s) = Hsm::ready();
    let (public, private) = pair_templates(CKP_ML_KEM_1024, "kept");
    let (hp, _) = h.generate_pair(s, CKM_ML_KEM_KEY_PAIR_GEN, &public, &private).unwrap();
    let (ct, k1) = encapsulate(s, hp, &secret_template().token(true).label("ss")).unwrap();
    let v1 = h.get(s, k1, CKA_VALUE).unwrap();
    h.restart();
    let s = h.open(0, true);
    assert_rv!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    let found = h.find(s, &Tmpl::new().class(CKO_PRIVATE_KEY).ulong(CKA_KEY_TYPE, CKK_ML_KEM).label("kept"));
    assert_eq!(found.len(), 1);
    let k2 = decapsulate(s, found[0], &secret_template(), &ct).unwrap();
    assert_eq!(h.get(s, k2, CKA_VALUE).unwrap(), v1);
    // The seed is sealed at rest.
    assert!(!h.store_contains(&v1));
}

/// Known answers: a private key imported from d‖z (CKA_SEED) decapsulates the KAT
/// ciphertext to the KAT secret and the KAT's wrong ciphertext to its
/// implicit-rejection secret; the imported public key encapsulates to a ciphertext
/// the private key opens.
#[test]
fn imported_kat_keys_give_the_known_answers() {
    let (h, s) = Hsm::ready();
    for (set, _, _, file) in SETS {
        let c = kat(file);
        let seed = [c["d"].as_slice(), c["z"].as_slice()].concat();
        let private = Tmpl::new()
            .class(CKO_PRIVATE_KEY)
            .ulong(CKA_KEY_TYPE, CKK_ML_KEM)
            .ulong(CKA_PARAMETER_SET, set)
            .bool(CKA_DECAPSULATE, true)
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, true)
            .bytes(CKA_SEED, &seed);
        let hq = h.create(s, &private).unwrap();
        // The expanded key was computed from the seed.
        assert_eq!(h.get(s, hq, CKA_VALUE).unwrap(), c["sk"], "{file}: dk from d‖z");
        let k = decapsulate(s, hq, &secret_template(), &c["ct"]).unwrap();
        assert_eq!(h.get(s, k, CKA_VALUE).unwrap(), c["ss"], "{file}: ss");
        let k = decapsulate(s, hq, &secret_template(), &c["ct_n"]).unwrap();
        assert_eq!(h.get(s, k, CKA_VALUE).unwrap(), c["ss_n"], "{file}: implicit rejection");

        let public = Tmpl::new()
            .class(CKO_PUBLIC_KEY)
            .ulong(CKA_KEY_TYPE, CKK_ML_KEM)
            .ulong(CKA_PARAMETER_SET, set)
            .bool(CKA_ENCAPSULATE, true)
            .bytes(CKA_VALUE, &c["pk"]);
        let hp = h.create(s, &public).unwrap();
        let (ct, k1) = encapsulate(s, hp, &secret_template()).unwrap();
        let k2 = decapsulate(s, hq, &secret_template(), &ct).unwrap();
        assert_eq!(h.get(s, k1, CKA_VALUE).unwrap(), h.get(s, k2, CKA_VALUE).unwrap());

        // Import refusals: a seed of the wrong length, a public key of the wrong length.
        let bad = Tmpl::new()
            .class(CKO_PRIVATE_KEY)
            .ulong(CKA_KEY_TYPE, CKK_ML_KEM)
            .ulong(CKA_PARAMETER_SET, set)
            .bytes(CKA_SEED, &seed[1..]);
        assert_rv!(rv(h.create(s, &bad)), CKR_ATTRIBUTE_VALUE_INVALID);
        let bad = Tmpl::new()
            .class(CKO_PUBLIC_KEY)
            .ulong(CKA_KEY_TYPE, CKK_ML_KEM)
            .ulong(CKA_PARAMETER_SET, set)
            .bytes(CKA_VALUE, &c["pk"][1..]);
        assert_rv!(rv(h.create(s, &bad)), CKR_ATTRIBUTE_VALUE_INVALID);
    }
}

/// The birth certificate of an ML-KEM key pair carries the key's SubjectPublicKeyInfo:
/// `id-alg-ml-kem-768` (2.16.840.1.101.3.4.4.2) with no parameters and ek as the BIT
/// STRING (RFC 9935).
#[test]
fn the_birth_certificate_carries_the_ml_kem_public_key() {
    let (h, s) = Hsm::ready();
    let (public, private) = pair_templates(CKP_ML_KEM_768, "kem-attested");
    let (hp, _) = h.generate_pair(s, CKM_ML_KEM_KEY_PAIR_GEN, &public, &private).unwrap();
    let ek = h.get(s, hp, CKA_VALUE).unwrap();
    let certs = h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:kem-attested"));
    assert_eq!(certs.len(), 1, "one birth certificate");
    let cert = h.get(s, certs[0], CKA_VALUE).unwrap();
    // SEQUENCE { SEQUENCE { OID } BIT STRING (0 unused bits) ek }: 1184 + 1 bytes of BIT
    // STRING content.
    let mut spki = vec![0x30, 0x82, 0x04, 0xb2, 0x30, 0x0b, 0x06, 0x09];
    spki.extend_from_slice(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x02]);
    spki.extend_from_slice(&[0x03, 0x82, 0x04, 0xa1, 0x00]);
    spki.extend_from_slice(&ek);
    assert_eq!(h.get(s, hp, CKA_PUBLIC_KEY_INFO).unwrap(), spki);
    assert!(cert.windows(spki.len()).any(|w| w == spki.as_slice()), "the certificate holds the ML-KEM SPKI");
}

#[test]
fn the_keys_encapsulate_and_decapsulate_templates_are_added_and_must_agree() {
    let (h, s) = Hsm::ready();
    // The public key makes only AES-128 keys that never leave; the private key
    // makes only sensitive keys that encrypt.
    let enc = Tmpl::new().ulong(CKA_KEY_TYPE, CKK_AES).ulong(CKA_VALUE_LEN, 16).bool(CKA_EXTRACTABLE, false);
    let dec = Tmpl::new().bool(CKA_SENSITIVE, true).bool(CKA_ENCRYPT, true);
    let (enc_a, dec_a) = (enc.attrs(), dec.attrs());
    let (public, private) = pair_templates(CKP_ML_KEM_768, "templates");
    let public = public.bytes(CKA_ENCAPSULATE_TEMPLATE, &array_value(&enc_a));
    let private = private.bytes(CKA_DECAPSULATE_TEMPLATE, &array_value(&dec_a));
    let (hp, hq) = h.generate_pair(s, CKM_ML_KEM_KEY_PAIR_GEN, &public, &private).unwrap();

    // A caller's template that says nothing more gets the key's: an AES-128 key.
    let (ct, k1) = encapsulate(s, hp, &Tmpl::new().class(CKO_SECRET_KEY).bool(CKA_ENCRYPT, true)).unwrap();
    assert_eq!(h.get_ulong(s, k1, CKA_KEY_TYPE), CKK_AES);
    assert_eq!(h.get_ulong(s, k1, CKA_VALUE_LEN), 16);
    assert!(!h.get_bool(s, k1, CKA_EXTRACTABLE));
    let k2 = decapsulate(s, hq, &Tmpl::new().ulong(CKA_KEY_TYPE, CKK_AES).ulong(CKA_VALUE_LEN, 16), &ct).unwrap();
    assert!(h.get_bool(s, k2, CKA_SENSITIVE));
    assert_eq!(aes_ecb(s, k1), aes_ecb(s, k2), "the same secret on both sides");

    // A caller's template that contradicts the key's is refused, and makes no key.
    let before = count_objects(&h, s);
    assert_rv!(rv(encapsulate(s, hp, &secret_template())), CKR_TEMPLATE_INCONSISTENT);
    let sensitive_false = aes_template().ulong(CKA_VALUE_LEN, 16).bool(CKA_SENSITIVE, false);
    assert_rv!(rv(decapsulate(s, hq, &sensitive_false, &ct)), CKR_TEMPLATE_INCONSISTENT);
    assert_eq!(count_objects(&h, s), before);

    // The templates read back as attribute arrays, and are fixed once the key exists.
    let mut a = [CK_ATTRIBUTE { type_: CKA_ENCAPSULATE_TEMPLATE, pValue: ptr::null_mut(), ulValueLen: 0 }];
    assert_rv!(call!(C_GetAttributeValue, s, hp, a.as_mut_ptr(), 1), CKR_OK);
    assert_eq!(a[0].ulValueLen as usize, 3 * size_of::<CK_ATTRIBUTE>());
    let none = Tmpl::new().bytes(CKA_DECAPSULATE_TEMPLATE, &array_value(&Tmpl::new().attrs()));
    assert_rv!(h.set(s, hq, &none), CKR_ATTRIBUTE_READ_ONLY);
}
