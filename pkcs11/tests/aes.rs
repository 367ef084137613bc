//! AES through the built module: key generation, every mode single- and
//! multi-part, smoke known-answer tests (SP 800-38A, the GCM paper's test cases,
//! RFC 3394, RFC 5649, RFC 4493), the length-query protocol, parameter and length
//! errors, key checks, GCM tag checks, wrapping and unwrapping with the wrapping
//! rules, and interoperability with the `openssl` CLI and Python `cryptography`.

#[macro_use]
mod common;

use std::process::Command;
use std::ptr;

use common::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Makes a fresh mechanism (each `*Init` takes its own).
type MakeMech<'a> = Box<dyn Fn() -> Mech + 'a>;

/// A mechanism and the parameter it points to, kept alive together.
struct Mech {
    ty: CK_MECHANISM_TYPE,
    param: Param,
}

enum Param {
    None,
    Bytes(Vec<u8>),
    Ulong(Box<CK_ULONG>),
    Ctr(Box<CK_AES_CTR_PARAMS>),
    /// The IV and AAD the parameters point into.
    Gcm {
        params: Box<CK_GCM_PARAMS>,
        _iv: Vec<u8>,
        _aad: Vec<u8>,
    },
}

impl Mech {
    fn new(ty: CK_MECHANISM_TYPE) -> Self {
        Self { ty, param: Param::None }
    }
    fn bytes(ty: CK_MECHANISM_TYPE, b: &[u8]) -> Self {
        Self { ty, param: Param::Bytes(b.to_vec()) }
    }
    fn ulong(ty: CK_MECHANISM_TYPE, n: CK_ULONG) -> Self {
        Self { ty, param: Param::Ulong(Box::new(n)) }
    }
    fn ctr(bits: CK_ULONG, cb: &[u8]) -> Self {
        let p = CK_AES_CTR_PARAMS { ulCounterBits: bits, cb: cb.try_into().unwrap() };
        Self { ty: CKM_AES_CTR, param: Param::Ctr(Box::new(p)) }
    }
    fn gcm(iv: &[u8], aad: &[u8], tag_bits: CK_ULONG) -> Self {
        let (iv, aad) = (iv.to_vec(), aad.to_vec());
        let p = CK_GCM_PARAMS {
            pIv: iv.as_ptr() as *mut _,
            ulIvLen: iv.len() as CK_ULONG,
            ulIvBits: (iv.len() * 8) as CK_ULONG,
            pAAD: if aad.is_empty() { ptr::null_mut() } else { aad.as_ptr() as *mut _ },
            ulAADLen: aad.len() as CK_ULONG,
            ulTagBits: tag_bits,
        };
        Self { ty: CKM_AES_GCM, param: Param::Gcm { params: Box::new(p), _iv: iv, _aad: aad } }
    }
    fn raw(&mut self) -> CK_MECHANISM {
        let (p, len): (*mut std::ffi::c_void, usize) = match &mut self.param {
            Param::None => (ptr::null_mut(), 0),
            Param::Bytes(b) => (b.as_mut_ptr() as *mut _, b.len()),
            Param::Ulong(n) => (&mut **n as *mut CK_ULONG as *mut _, size_of::<CK_ULONG>()),
            Param::Ctr(c) => (&mut **c as *mut CK_AES_CTR_PARAMS as *mut _, size_of::<CK_AES_CTR_PARAMS>()),
            Param::Gcm { params: g, .. } => (&mut **g as *mut CK_GCM_PARAMS as *mut _, size_of::<CK_GCM_PARAMS>()),
        };
        CK_MECHANISM { mechanism: self.ty, pParameter: p, ulParameterLen: len as CK_ULONG }
    }
}

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

fn init(enc: bool, s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE) -> CK_RV {
    let mut raw = m.raw();
    if enc { call!(C_EncryptInit, s, &mut raw, k) } else { call!(C_DecryptInit, s, &mut raw, k) }
}

fn single(enc: bool, s: CK_SESSION_HANDLE, input: &[u8], out: *mut u8, n: &mut CK_ULONG) -> CK_RV {
    let (i, l) = (input.as_ptr() as *mut u8, input.len() as CK_ULONG);
    if enc { call!(C_Encrypt, s, i, l, out, n) } else { call!(C_Decrypt, s, i, l, out, n) }
}

fn update(enc: bool, s: CK_SESSION_HANDLE, input: &[u8], out: *mut u8, n: &mut CK_ULONG) -> CK_RV {
    let (i, l) = (input.as_ptr() as *mut u8, input.len() as CK_ULONG);
    if enc { call!(C_EncryptUpdate, s, i, l, out, n) } else { call!(C_DecryptUpdate, s, i, l, out, n) }
}

fn last(enc: bool, s: CK_SESSION_HANDLE, out: *mut u8, n: &mut CK_ULONG) -> CK_RV {
    if enc { call!(C_EncryptFinal, s, out, n) } else { call!(C_DecryptFinal, s, out, n) }
}

/// Runs one output-producing call the way applications do: a length query, then
/// a buffer of that size. The query must be an upper bound.
fn fetch(mut f: impl FnMut(*mut u8, &mut CK_ULONG) -> CK_RV) -> Result<Vec<u8>, CK_RV> {
    let mut n: CK_ULONG = 0;
    match f(ptr::null_mut(), &mut n) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let bound = n as usize;
    let mut out = vec![0u8; bound.max(1)];
    match f(out.as_mut_ptr(), &mut n) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    assert!(n as usize <= bound, "the length query said {bound}, the call returned {n}");
    out.truncate(n as usize);
    Ok(out)
}

/// `C_EncryptInit` / `C_DecryptInit` then a single-part call.
fn crypt(enc: bool, s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    match init(enc, s, m, k) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    fetch(|o, n| single(enc, s, data, o, n))
}

fn encrypt(s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    crypt(true, s, m, k, data)
}

fn decrypt(s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    crypt(false, s, m, k, data)
}

/// Multi-part, in parts of `sizes` (cycled), each with a length query.
fn crypt_parts(
    enc: bool,
    s: CK_SESSION_HANDLE,
    m: &mut Mech,
    k: CK_OBJECT_HANDLE,
    data: &[u8],
    sizes: &[usize],
) -> Result<Vec<u8>, CK_RV> {
    match init(enc, s, m, k) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut out = Vec::new();
    let mut rest = data;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (part, r) = rest.split_at((*size).min(rest.len()));
        rest = r;
        out.extend(fetch(|o, n| update(enc, s, part, o, n))?);
    }
    out.extend(fetch(|o, n| last(enc, s, o, n))?);
    Ok(out)
}

fn generate(s: CK_SESSION_HANDLE, m: &mut Mech, t: &Tmpl) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut raw = m.raw();
    let mut a = t.attrs();
    let mut h = 0;
    match call!(C_GenerateKey, s, &mut raw, a.as_mut_ptr(), a.len() as CK_ULONG, &mut h) {
        CKR_OK => Ok(h),
        rv => Err(rv),
    }
}

/// A session AES key generated by the token, with extra attributes.
fn gen_aes(s: CK_SESSION_HANDLE, len: CK_ULONG, extra: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> CK_OBJECT_HANDLE {
    let mut t = Tmpl::new().ulong(CKA_VALUE_LEN, len).token(false);
    t.0.extend(extra.iter().cloned());
    generate(s, &mut Mech::new(CKM_AES_KEY_GEN), &t).expect("AES key generation")
}

/// A session secret key of type `kt` imported with `value`.
fn import(
    h: &Hsm,
    s: CK_SESSION_HANDLE,
    kt: CK_KEY_TYPE,
    value: &[u8],
    extra: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)],
) -> CK_OBJECT_HANDLE {
    let mut t = Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, kt).token(false).bytes(CKA_VALUE, value);
    t.0.extend(extra.iter().cloned());
    h.create(s, &t).expect("import a secret key")
}

fn b(ty: CK_ATTRIBUTE_TYPE, v: bool) -> (CK_ATTRIBUTE_TYPE, Vec<u8>) {
    (ty, vec![v as u8])
}

fn sign(s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    let mut raw = m.raw();
    match call!(C_SignInit, s, &mut raw, k) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    fetch(|o, n| call!(C_Sign, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, o, n))
}

fn verify(s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    let mut raw = m.raw();
    match call!(C_VerifyInit, s, &mut raw, k) {
        CKR_OK => {}
        rv => return rv,
    }
    call!(C_Verify, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, sig.as_ptr() as *mut _, sig.len() as CK_ULONG)
}

// SP 800-38A appendix F.
const K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const K256: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
const PT: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                  30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";

// ---------------------------------------------------------------------------
// Key generation and mechanism info
// ---------------------------------------------------------------------------

#[test]
fn aes_key_generation_records_provenance_and_checks_value_len() {
    let (_h, s) = Hsm::ready();
    for len in [16, 24, 32] {
        let k = gen_aes(s, len, &[]);
        let h = &_h;
        assert!(h.get_bool(s, k, CKA_LOCAL));
        assert_eq!(h.get_ulong(s, k, CKA_KEY_GEN_MECHANISM), CKM_AES_KEY_GEN);
        assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), len);
        assert_eq!(h.get_ulong(s, k, CKA_KEY_TYPE), CKK_AES);
        assert!(h.get_bool(s, k, CKA_ALWAYS_SENSITIVE));
        assert!(h.get_bool(s, k, CKA_NEVER_EXTRACTABLE));
        assert_eq!(h.get(s, k, CKA_VALUE), Err(CKR_ATTRIBUTE_SENSITIVE));
        // CKA_CHECK_VALUE: the first 3 bytes of the key's encryption of a zero block.
        let zero = encrypt(s, &mut Mech::new(CKM_AES_ECB), k, &[0u8; 16]).unwrap();
        assert_eq!(h.get(s, k, CKA_CHECK_VALUE).unwrap(), zero[..3].to_vec(), "AES-{}", len * 8);
    }
    // An extractable, non-sensitive key shows its value, of the asked length.
    let k = gen_aes(s, 32, &[b(CKA_SENSITIVE, false), b(CKA_EXTRACTABLE, true)]);
    assert_eq!(_h.get(s, k, CKA_VALUE).unwrap().len(), 32);
    assert!(!_h.get_bool(s, k, CKA_ALWAYS_SENSITIVE));
    assert!(!_h.get_bool(s, k, CKA_NEVER_EXTRACTABLE));

    let keygen = |t: &Tmpl| generate(s, &mut Mech::new(CKM_AES_KEY_GEN), t);
    assert_eq!(keygen(&Tmpl::new().token(false)), Err(CKR_TEMPLATE_INCOMPLETE), "no CKA_VALUE_LEN");
    for bad in [0, 8, 20, 33, 64] {
        assert_eq!(keygen(&Tmpl::new().ulong(CKA_VALUE_LEN, bad)), Err(CKR_ATTRIBUTE_VALUE_INVALID), "{bad} bytes");
    }
    let t = Tmpl::new().ulong(CKA_VALUE_LEN, 16).ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET);
    assert_eq!(keygen(&t), Err(CKR_TEMPLATE_INCONSISTENT));
    let t = Tmpl::new().ulong(CKA_VALUE_LEN, 16).bytes(CKA_VALUE, &[0; 16]);
    assert_eq!(keygen(&t), Err(CKR_ATTRIBUTE_READ_ONLY));
    let mut with_param = Mech::bytes(CKM_AES_KEY_GEN, &[1, 2, 3]);
    assert_eq!(generate(s, &mut with_param, &Tmpl::new().ulong(CKA_VALUE_LEN, 16)), Err(CKR_MECHANISM_PARAM_INVALID));
}

#[test]
fn mechanism_info_is_in_bytes_with_truthful_flags() {
    let (_h, _s) = Hsm::ready();
    let mut n = 0;
    assert_eq!(call!(C_GetMechanismList, 0, ptr::null_mut(), &mut n), CKR_OK);
    let mut list = vec![0; n as usize];
    assert_eq!(call!(C_GetMechanismList, 0, list.as_mut_ptr(), &mut n), CKR_OK);
    let both = CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP;
    let want = [
        (CKM_AES_KEY_GEN, CKF_GENERATE),
        (CKM_AES_ECB, both),
        (CKM_AES_CBC, both),
        (CKM_AES_CBC_PAD, both),
        (CKM_AES_CTR, both),
        (CKM_AES_GCM, both),
        (CKM_AES_KEY_WRAP, both),
        (CKM_AES_KEY_WRAP_KWP, both),
        (CKM_AES_CMAC, SIGN_VERIFY),
        (CKM_AES_CMAC_GENERAL, SIGN_VERIFY),
    ];
    for (m, flags) in want {
        assert!(list.contains(&m), "{m:#x} listed");
        let mut info = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
        assert_eq!(call!(C_GetMechanismInfo, 0, m, &mut info), CKR_OK);
        assert_eq!((info.ulMinKeySize, info.ulMaxKeySize, info.flags), (16, 32, flags), "{m:#x}");
    }
}

// ---------------------------------------------------------------------------
// Known answers
// ---------------------------------------------------------------------------

#[test]
fn sp800_38a_known_answers_for_ecb_cbc_and_ctr() {
    let (h, s) = Hsm::ready();
    let pt = unhex(PT);
    let iv = unhex("000102030405060708090a0b0c0d0e0f");
    let ctr0 = unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
    let cases = [
        (
            K128,
            "ecb",
            "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf 43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
        ),
        (
            K128,
            "cbc",
            "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
        ),
        (
            K128,
            "ctr",
            "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff 5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
        ),
        (
            K256,
            "ecb",
            "f3eed1bdb5d2a03c064b5a7e3db181f8 591ccb10d410ed26dc5ba74a31362870 b6ed21b99ca6f4f9f153e7b1beafed1d 23304b7a39f9f3ff067d8d8f9e24ecc7",
        ),
        (
            K256,
            "cbc",
            "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d 39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
        ),
        (
            K256,
            "ctr",
            "601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5 2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6",
        ),
    ];
    for (key, mode, ct) in cases {
        let k = import(&h, s, CKK_AES, &unhex(key), &[]);
        let ct = unhex(ct);
        let m = || match mode {
            "ecb" => Mech::new(CKM_AES_ECB),
            "cbc" => Mech::bytes(CKM_AES_CBC, &iv),
            _ => Mech::ctr(128, &ctr0),
        };
        assert_eq!(hex(&encrypt(s, &mut m(), k, &pt).unwrap()), hex(&ct), "{mode} {key}");
        assert_eq!(decrypt(s, &mut m(), k, &ct).unwrap(), pt, "{mode} {key}");
        assert_eq!(crypt_parts(true, s, &mut m(), k, &pt, &[5, 16, 1, 33]).unwrap(), ct, "{mode} in parts");
        assert_eq!(crypt_parts(false, s, &mut m(), k, &ct, &[7, 3, 40]).unwrap(), pt, "{mode} in parts");
    }
}

/// Test cases 2, 4, 5, 6 and 16 of McGrew and Viega, "The Galois/Counter Mode of
/// Operation": 96-bit IVs, a 64-bit IV, a 480-bit IV, and AES-256.
#[test]
fn gcm_spec_test_cases() {
    let (h, s) = Hsm::ready();
    let k4 = "feffe9928665731c6d6a8f9467308308";
    let p4 = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
    let a4 = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
    let cases = [
        (
            "00000000000000000000000000000000",
            "00000000000000000000000000000000",
            "",
            "000000000000000000000000",
            "0388dace60b6a392f328c2b971b2fe78",
            "ab6e47d42cec13bdf53a67b21257bddf",
        ),
        (
            k4,
            p4,
            a4,
            "cafebabefacedbaddecaf888",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            k4,
            p4,
            a4,
            "cafebabefacedbad",
            "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598",
            "3612d2e79e3b0785561be14aaca2fccb",
        ),
        (
            k4,
            p4,
            a4,
            "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
            "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5",
            "619cc5aefffe0bfa462af43c1699d050",
        ),
        (
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            p4,
            a4,
            "cafebabefacedbaddecaf888",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];
    for (key, pt, aad, iv, ct, tag) in cases {
        let k = import(&h, s, CKK_AES, &unhex(key), &[]);
        let (pt, aad, iv) = (unhex(pt), unhex(aad), unhex(iv));
        let want = [unhex(ct), unhex(tag)].concat();
        let m = |bits| Mech::gcm(&iv, &aad, bits);
        assert_eq!(hex(&encrypt(s, &mut m(128), k, &pt).unwrap()), hex(&want), "IV of {} bytes", iv.len());
        assert_eq!(decrypt(s, &mut m(128), k, &want).unwrap(), pt);
        assert_eq!(crypt_parts(true, s, &mut m(128), k, &pt, &[1, 15, 17, 3]).unwrap(), want, "streamed");
        assert_eq!(crypt_parts(false, s, &mut m(128), k, &want, &[13, 2]).unwrap(), pt);
        // A 96-bit tag is the first 12 bytes of the full one.
        let short = [unhex(ct), unhex(tag)[..12].to_vec()].concat();
        assert_eq!(encrypt(s, &mut m(96), k, &pt).unwrap(), short);
        assert_eq!(decrypt(s, &mut m(96), k, &short).unwrap(), pt);
    }
}

#[test]
fn key_wrap_rfc_examples() {
    let (h, s) = Hsm::ready();
    let kek = unhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    let kw = [
        (16, "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"),
        (24, "00112233445566778899AABBCCDDEEFF", "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"),
        (
            32,
            "00112233445566778899AABBCCDDEEFF0001020304050607",
            "A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1",
        ),
    ];
    for (klen, pt, ct) in kw {
        let k = import(&h, s, CKK_AES, &kek[..klen], &[]);
        let (pt, ct) = (unhex(pt), unhex(ct));
        assert_eq!(encrypt(s, &mut Mech::new(CKM_AES_KEY_WRAP), k, &pt).unwrap(), ct, "RFC 3394 KEK {klen}");
        assert_eq!(decrypt(s, &mut Mech::new(CKM_AES_KEY_WRAP), k, &ct).unwrap(), pt);
        // The default IV given explicitly is the same mechanism.
        assert_eq!(encrypt(s, &mut Mech::bytes(CKM_AES_KEY_WRAP, &[0xA6; 8]), k, &pt).unwrap(), ct);
        assert_eq!(crypt_parts(true, s, &mut Mech::new(CKM_AES_KEY_WRAP), k, &pt, &[5]).unwrap(), ct, "collected");
    }
    // RFC 5649 §6, a 192-bit KEK.
    let k = import(&h, s, CKK_AES, &unhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"), &[]);
    for (pt, ct) in [
        (
            "c37b7e6492584340bed12207808941155068f738",
            "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
        ),
        ("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
    ] {
        let (pt, ct) = (unhex(pt), unhex(ct));
        assert_eq!(encrypt(s, &mut Mech::new(CKM_AES_KEY_WRAP_KWP), k, &pt).unwrap(), ct, "RFC 5649");
        assert_eq!(decrypt(s, &mut Mech::new(CKM_AES_KEY_WRAP_KWP), k, &ct).unwrap(), pt);
        let mut bad = ct.clone();
        bad[5] ^= 0x40;
        assert_eq!(decrypt(s, &mut Mech::new(CKM_AES_KEY_WRAP_KWP), k, &bad), Err(CKR_ENCRYPTED_DATA_INVALID));
    }
}

/// RFC 4493 §4, examples 1 to 4, and a truncated general-length MAC.
#[test]
fn cmac_rfc_4493_examples() {
    let (h, s) = Hsm::ready();
    let k = import(&h, s, CKK_AES, &unhex(K128), &[]);
    let msg = unhex(PT);
    for (len, mac) in [
        (0, "bb1d6929e95937287fa37d129b756746"),
        (16, "070a16b46b4d4144f79bdd9dd04a287c"),
        (40, "dfa66747de9ae63030ca32611497c827"),
        (64, "51f0bebf7e3b9d92fc49741779363cfe"),
    ] {
        let data = &msg[..len];
        let mac = unhex(mac);
        assert_eq!(sign(s, &mut Mech::new(CKM_AES_CMAC), k, data).unwrap(), mac, "{len} bytes");
        assert_eq!(verify(s, &mut Mech::new(CKM_AES_CMAC), k, data, &mac), CKR_OK);
        // Multi-part, in odd parts.
        let mut raw = Mech::new(CKM_AES_CMAC);
        let mut r = raw.raw();
        assert_eq!(call!(C_SignInit, s, &mut r, k), CKR_OK);
        for part in data.chunks(7) {
            assert_eq!(call!(C_SignUpdate, s, part.as_ptr() as *mut _, part.len() as CK_ULONG), CKR_OK);
        }
        assert_eq!(fetch(|o, n| call!(C_SignFinal, s, o, n)).unwrap(), mac);
        assert_eq!(call!(C_VerifyInit, s, &mut r, k), CKR_OK);
        for part in data.chunks(9) {
            assert_eq!(call!(C_VerifyUpdate, s, part.as_ptr() as *mut _, part.len() as CK_ULONG), CKR_OK);
        }
        assert_eq!(call!(C_VerifyFinal, s, mac.as_ptr() as *mut _, 16), CKR_OK);
        // General length: the leading bytes.
        let mut g = Mech::ulong(CKM_AES_CMAC_GENERAL, 8);
        assert_eq!(sign(s, &mut g, k, data).unwrap(), mac[..8]);
        assert_eq!(verify(s, &mut Mech::ulong(CKM_AES_CMAC_GENERAL, 8), k, data, &mac[..8]), CKR_OK);
        let mut bad = mac.clone();
        bad[0] ^= 1;
        assert_eq!(verify(s, &mut Mech::new(CKM_AES_CMAC), k, data, &bad), CKR_SIGNATURE_INVALID);
        assert_eq!(verify(s, &mut Mech::new(CKM_AES_CMAC), k, data, &mac[..15]), CKR_SIGNATURE_LEN_RANGE);
    }
    for bad in [0, 17] {
        assert_eq!(sign(s, &mut Mech::ulong(CKM_AES_CMAC_GENERAL, bad), k, b"x"), Err(CKR_MECHANISM_PARAM_INVALID));
    }
    assert_eq!(sign(s, &mut Mech::ulong(CKM_AES_CMAC, 16), k, b"x"), Err(CKR_MECHANISM_PARAM_INVALID));
    // AES-192 and AES-256 CMAC work too (round trip).
    for len in [24, 32] {
        let k = gen_aes(s, len, &[]);
        let mac = sign(s, &mut Mech::new(CKM_AES_CMAC), k, b"hello").unwrap();
        assert_eq!(mac.len(), 16);
        assert_eq!(verify(s, &mut Mech::new(CKM_AES_CMAC), k, b"hello", &mac), CKR_OK);
    }
}

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

#[test]
fn every_mode_round_trips_single_and_multi_part_with_every_key_size() {
    let (_h, s) = Hsm::ready();
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
    let iv: Vec<u8> = (0..16u8).collect();
    for len in [16, 24, 32] {
        let k = gen_aes(s, len, &[]);
        let mechs: Vec<(&str, MakeMech, usize)> = vec![
            ("ecb", Box::new(|| Mech::new(CKM_AES_ECB)), 992),
            ("cbc", Box::new(|| Mech::bytes(CKM_AES_CBC, &iv)), 992),
            ("cbc-pad", Box::new(|| Mech::bytes(CKM_AES_CBC_PAD, &iv)), 1000),
            ("ctr", Box::new(|| Mech::ctr(32, &iv)), 1000),
            ("gcm", Box::new(|| Mech::gcm(&iv[..12], b"aad", 128)), 1000),
            ("gcm-iv16-tag64", Box::new(|| Mech::gcm(&iv, b"", 64)), 1000),
            ("kw", Box::new(|| Mech::new(CKM_AES_KEY_WRAP)), 992),
            ("kwp", Box::new(|| Mech::new(CKM_AES_KEY_WRAP_KWP)), 1000),
        ];
        for (name, m, n) in &mechs {
            let pt = &data[..*n];
            let ct = encrypt(s, &mut m(), k, pt).unwrap();
            assert_ne!(&ct[..16], &pt[..16], "{name}");
            assert_eq!(decrypt(s, &mut m(), k, &ct).unwrap(), pt, "{name} AES-{}", len * 8);
            for sizes in [&[1usize][..], &[15, 17], &[16], &[100, 3, 250], &[999]] {
                assert_eq!(crypt_parts(true, s, &mut m(), k, pt, sizes).unwrap(), ct, "{name} parts {sizes:?}");
                assert_eq!(crypt_parts(false, s, &mut m(), k, &ct, sizes).unwrap(), pt, "{name} parts {sizes:?}");
            }
            // Nothing at all, multi-part: GCM gives its tag, CBC-PAD a padding block.
            if ["gcm", "cbc-pad"].contains(name) {
                let ct = crypt_parts(true, s, &mut m(), k, b"", &[1]).unwrap();
                assert_eq!(ct, encrypt(s, &mut m(), k, b"").unwrap(), "{name} empty");
                assert_eq!(decrypt(s, &mut m(), k, &ct).unwrap(), b"", "{name} empty");
            }
        }
    }
}

#[test]
fn length_queries_are_honest_and_a_short_buffer_loses_nothing() {
    let (_h, s) = Hsm::ready();
    let k = gen_aes(s, 32, &[]);
    let iv = [7u8; 16];
    let pt: Vec<u8> = (0..100u8).collect();

    // Exact single-part lengths.
    let query = |enc: bool, m: &mut Mech, input: &[u8]| {
        assert_eq!(init(enc, s, m, k), CKR_OK);
        let mut n = 0;
        assert_eq!(single(enc, s, input, ptr::null_mut(), &mut n), CKR_OK);
        // End the operation with a successful call.
        let mut out = vec![0u8; n as usize];
        assert_eq!(single(enc, s, input, out.as_mut_ptr(), &mut n), CKR_OK);
        n as usize
    };
    assert_eq!(query(true, &mut Mech::bytes(CKM_AES_CBC_PAD, &iv), &pt), 112);
    assert_eq!(query(true, &mut Mech::ctr(128, &iv), &pt), 100);
    assert_eq!(query(true, &mut Mech::gcm(&iv[..12], b"", 128), &pt), 116);
    assert_eq!(query(true, &mut Mech::gcm(&iv[..12], b"", 32), &pt), 104);
    assert_eq!(query(true, &mut Mech::new(CKM_AES_KEY_WRAP_KWP), &pt), 112);

    // C_Encrypt into a buffer one byte short: CKR_BUFFER_TOO_SMALL with the exact
    // length, and the next call returns the same output.
    let want = encrypt(s, &mut Mech::bytes(CKM_AES_CBC_PAD, &iv), k, &pt).unwrap();
    assert_eq!(init(true, s, &mut Mech::bytes(CKM_AES_CBC_PAD, &iv), k), CKR_OK);
    let mut out = vec![0u8; 200];
    let mut n: CK_ULONG = 111;
    assert_eq!(single(true, s, &pt, out.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
    assert_eq!(n, 112);
    n = 200;
    assert_eq!(single(true, s, &pt, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(&out[..n as usize], &want[..]);
    assert_eq!(single(true, s, &pt, out.as_mut_ptr(), &mut n), CKR_OPERATION_NOT_INITIALIZED, "finished");

    // Padded decryption: the query is an upper bound, the short buffer learns the
    // exact length.
    assert_eq!(init(false, s, &mut Mech::bytes(CKM_AES_CBC_PAD, &iv), k), CKR_OK);
    let mut n = 0;
    assert_eq!(single(false, s, &want, ptr::null_mut(), &mut n), CKR_OK);
    assert!((100..112).contains(&n), "bound {n}");
    n = 10;
    assert_eq!(single(false, s, &want, out.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
    assert_eq!(n, 100);
    assert_eq!(single(false, s, &want, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(&out[..100], &pt[..]);

    // Multi-part: an update into a short buffer keeps its output for the retry.
    let ctr_ct = encrypt(s, &mut Mech::ctr(128, &iv), k, &pt).unwrap();
    assert_eq!(init(true, s, &mut Mech::ctr(128, &iv), k), CKR_OK);
    let mut n: CK_ULONG = 30;
    assert_eq!(update(true, s, &pt[..60], out.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
    assert_eq!(n, 60);
    assert_eq!(update(true, s, &pt[..60], out.as_mut_ptr(), &mut n), CKR_OK);
    let mut got = out[..60].to_vec();
    n = 200;
    assert_eq!(update(true, s, &pt[60..], out.as_mut_ptr(), &mut n), CKR_OK);
    got.extend_from_slice(&out[..n as usize]);
    n = 200;
    assert_eq!(last(true, s, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(n, 0);
    assert_eq!(got, ctr_ct);

    // GCM decryption returns nothing before Final; Final's plaintext survives a
    // short buffer.
    let gcm_ct = encrypt(s, &mut Mech::gcm(&iv[..12], b"a", 128), k, &pt).unwrap();
    assert_eq!(init(false, s, &mut Mech::gcm(&iv[..12], b"a", 128), k), CKR_OK);
    for part in gcm_ct.chunks(33) {
        let mut n = 0;
        assert_eq!(update(false, s, part, ptr::null_mut(), &mut n), CKR_OK);
        assert_eq!(n, 0, "no plaintext before the tag is checked");
        assert_eq!(update(false, s, part, out.as_mut_ptr(), &mut n), CKR_OK);
        assert_eq!(n, 0);
    }
    let mut n = 0;
    assert_eq!(last(false, s, ptr::null_mut(), &mut n), CKR_OK);
    assert_eq!(n, 100, "exact");
    n = 99;
    assert_eq!(last(false, s, out.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
    assert_eq!(last(false, s, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(&out[..100], &pt[..]);

    // Unpadded multi-part: the update gives only whole blocks, exactly as queried.
    assert_eq!(init(true, s, &mut Mech::new(CKM_AES_ECB), k), CKR_OK);
    let mut n = 0;
    assert_eq!(update(true, s, &pt[..20], ptr::null_mut(), &mut n), CKR_OK);
    assert_eq!(n, 16);
    assert_eq!(update(true, s, &pt[..20], out.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(n, 16);
    n = 0;
    assert_eq!(update(true, s, &pt[20..32], ptr::null_mut(), &mut n), CKR_OK);
    assert_eq!(n, 16, "the 4 held bytes and 12 more");
    n = 100;
    assert_eq!(update(true, s, &pt[20..32], out.as_mut_ptr(), &mut n), CKR_OK);
    n = 100;
    assert_eq!(last(true, s, out.as_mut_ptr(), &mut n), CKR_OK);
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[test]
fn bad_parameters_are_mechanism_param_invalid() {
    let (_h, s) = Hsm::ready();
    let k = gen_aes(s, 16, &[]);
    let cases: Vec<(&str, Mech)> = vec![
        ("ECB with an IV", Mech::bytes(CKM_AES_ECB, &[0; 16])),
        ("CBC without IV", Mech::new(CKM_AES_CBC)),
        ("CBC, 15-byte IV", Mech::bytes(CKM_AES_CBC, &[0; 15])),
        ("CBC-PAD, 17-byte IV", Mech::bytes(CKM_AES_CBC_PAD, &[0; 17])),
        ("CTR, 0 counter bits", Mech::ctr(0, &[0; 16])),
        ("CTR, 129 counter bits", Mech::ctr(129, &[0; 16])),
        ("CTR with raw bytes", Mech::bytes(CKM_AES_CTR, &[0; 16])),
        ("GCM, empty IV", Mech::gcm(b"", b"", 128)),
        ("GCM, 0-bit tag", Mech::gcm(&[0; 12], b"", 0)),
        ("GCM, 100-bit tag", Mech::gcm(&[0; 12], b"", 100)),
        ("GCM, 136-bit tag", Mech::gcm(&[0; 12], b"", 136)),
        ("GCM, 16-bit tag", Mech::gcm(&[0; 12], b"", 16)),
        ("GCM without parameter", Mech::new(CKM_AES_GCM)),
        ("KW with another IV", Mech::bytes(CKM_AES_KEY_WRAP, &[1; 8])),
        ("KWP with another IV", Mech::bytes(CKM_AES_KEY_WRAP_KWP, &[1; 4])),
        ("GCM as raw bytes", Mech::bytes(CKM_AES_GCM, &[0; 7])),
    ];
    for (what, mut m) in cases {
        assert_eq!(init(true, s, &mut m, k), CKR_MECHANISM_PARAM_INVALID, "{what}");
        assert_eq!(init(false, s, &mut m, k), CKR_MECHANISM_PARAM_INVALID, "{what}");
    }
    // The 2.40 CK_GCM_PARAMS (no ulIvBits) is understood too.
    #[repr(C)]
    struct Gcm240 {
        iv: *mut u8,
        iv_len: CK_ULONG,
        aad: *mut u8,
        aad_len: CK_ULONG,
        tag_bits: CK_ULONG,
    }
    let mut iv = [0u8; 12];
    let mut p = Gcm240 { iv: iv.as_mut_ptr(), iv_len: 12, aad: ptr::null_mut(), aad_len: 0, tag_bits: 128 };
    let mut raw = CK_MECHANISM {
        mechanism: CKM_AES_GCM,
        pParameter: &mut p as *mut Gcm240 as *mut _,
        ulParameterLen: size_of::<Gcm240>() as CK_ULONG,
    };
    assert_eq!(call!(C_EncryptInit, s, &mut raw, k), CKR_OK);
    let ct = fetch(|o, n| single(true, s, b"hello", o, n)).unwrap();
    assert_eq!(ct, encrypt(s, &mut Mech::gcm(&[0; 12], b"", 128), k, b"hello").unwrap());
}

#[test]
fn bad_lengths_are_refused_with_the_right_code() {
    let (_h, s) = Hsm::ready();
    let k = gen_aes(s, 16, &[]);
    let iv = [0u8; 16];
    let ecb = || Mech::new(CKM_AES_ECB);
    let cbc = || Mech::bytes(CKM_AES_CBC, &iv);
    let pad = || Mech::bytes(CKM_AES_CBC_PAD, &iv);
    assert_eq!(encrypt(s, &mut ecb(), k, &[0; 15]), Err(CKR_DATA_LEN_RANGE));
    assert_eq!(encrypt(s, &mut cbc(), k, &[0; 17]), Err(CKR_DATA_LEN_RANGE));
    assert_eq!(decrypt(s, &mut ecb(), k, &[0; 17]), Err(CKR_ENCRYPTED_DATA_LEN_RANGE));
    assert_eq!(decrypt(s, &mut cbc(), k, &[0; 31]), Err(CKR_ENCRYPTED_DATA_LEN_RANGE));
    assert_eq!(decrypt(s, &mut pad(), k, &[0; 31]), Err(CKR_ENCRYPTED_DATA_LEN_RANGE));
    assert_eq!(decrypt(s, &mut pad(), k, &[]), Err(CKR_ENCRYPTED_DATA_LEN_RANGE));
    // Multi-part: the leftover is refused at Final, and the error ends the operation.
    assert_eq!(crypt_parts(true, s, &mut cbc(), k, &[0; 20], &[7]), Err(CKR_DATA_LEN_RANGE));
    let mut n = 0;
    assert_eq!(last(true, s, ptr::null_mut(), &mut n), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(crypt_parts(false, s, &mut pad(), k, &[0; 40], &[7]), Err(CKR_ENCRYPTED_DATA_LEN_RANGE));

    // Bad PKCS#7 padding.
    let mut block = [0u8; 16];
    block[15] = 17;
    let ct = encrypt(s, &mut cbc(), k, &block).unwrap();
    assert_eq!(decrypt(s, &mut pad(), k, &ct), Err(CKR_ENCRYPTED_DATA_INVALID));
    block[15] = 0;
    let ct = encrypt(s, &mut cbc(), k, &block).unwrap();
    assert_eq!(decrypt(s, &mut pad(), k, &ct), Err(CKR_ENCRYPTED_DATA_INVALID));
    let ct = encrypt(s, &mut cbc(), k, &[3u8; 32]).unwrap();
    assert_eq!(decrypt(s, &mut pad(), k, &ct).unwrap(), vec![3u8; 29], "3 bytes of padding");

    // Key wrap lengths.
    let kw = || Mech::new(CKM_AES_KEY_WRAP);
    let kwp = || Mech::new(CKM_AES_KEY_WRAP_KWP);
    assert_eq!(encrypt(s, &mut kw(), k, &[0; 8]), Err(CKR_DATA_LEN_RANGE));
    assert_eq!(encrypt(s, &mut kw(), k, &[0; 20]), Err(CKR_DATA_LEN_RANGE));
    assert_eq!(encrypt(s, &mut kwp(), k, &[]), Err(CKR_DATA_LEN_RANGE));
    assert_eq!(encrypt(s, &mut kwp(), k, &[1]).unwrap().len(), 16);
    assert_eq!(decrypt(s, &mut kw(), k, &[0; 16]), Err(CKR_ENCRYPTED_DATA_LEN_RANGE));
    assert_eq!(decrypt(s, &mut kw(), k, &[0; 25]), Err(CKR_ENCRYPTED_DATA_LEN_RANGE));
    assert_eq!(decrypt(s, &mut kw(), k, &[0; 24]), Err(CKR_ENCRYPTED_DATA_INVALID));
    assert_eq!(decrypt(s, &mut kwp(), k, &[0; 8]), Err(CKR_ENCRYPTED_DATA_LEN_RANGE));
    assert_eq!(decrypt(s, &mut kwp(), k, &[0; 16]), Err(CKR_ENCRYPTED_DATA_INVALID));

    // GCM: shorter than the tag.
    assert_eq!(decrypt(s, &mut Mech::gcm(&[0; 12], b"", 128), k, &[0; 15]), Err(CKR_ENCRYPTED_DATA_LEN_RANGE));

    // CTR: the counter may not overflow its bits (the spec's example: 2 bits
    // starting at 1 allow 3 blocks), in one part or across parts.
    let mut cb = [0xEEu8; 16];
    cb[15] = 0b01;
    let ctr = || Mech::ctr(2, &cb);
    assert_eq!(encrypt(s, &mut ctr(), k, &[0; 48]).unwrap().len(), 48);
    assert_eq!(encrypt(s, &mut ctr(), k, &[0; 49]), Err(CKR_DATA_LEN_RANGE));
    assert_eq!(decrypt(s, &mut ctr(), k, &[0; 49]), Err(CKR_DATA_LEN_RANGE));
    assert_eq!(crypt_parts(true, s, &mut ctr(), k, &[0; 49], &[10]), Err(CKR_DATA_LEN_RANGE));
    assert_eq!(crypt_parts(true, s, &mut ctr(), k, &[0; 45], &[10]).unwrap().len(), 45);
    // Only the counter bits count: with 8 counter bits at 0xfe, the blocks are
    // 0x..fe and 0x..ff of the same nonce (what ECB of those blocks gives), and a
    // third block would overflow.
    let mut cb = [0x11u8; 16];
    cb[15] = 0xfe;
    cb[14] = 0x22;
    let ks = encrypt(s, &mut Mech::ctr(8, &cb), k, &[0; 32]).unwrap();
    let mut blocks = [cb, cb].concat();
    blocks[31] = 0xff;
    let want = encrypt(s, &mut ecb(), k, &blocks).unwrap();
    assert_eq!(ks, want);
    assert_eq!(encrypt(s, &mut Mech::ctr(8, &cb), k, &[0; 33]), Err(CKR_DATA_LEN_RANGE));
}

#[test]
fn keys_of_the_wrong_type_or_usage_are_refused() {
    let (h, s) = Hsm::ready();
    let generic = import(&h, s, CKK_GENERIC_SECRET, &[1; 16], &[]);
    let mut ecb = Mech::new(CKM_AES_ECB);
    assert_eq!(init(true, s, &mut ecb, generic), CKR_KEY_TYPE_INCONSISTENT);
    let mut raw = Mech::new(CKM_AES_CMAC).raw();
    assert_eq!(call!(C_SignInit, s, &mut raw, generic), CKR_KEY_TYPE_INCONSISTENT);

    let no_encrypt = gen_aes(s, 16, &[b(CKA_ENCRYPT, false), b(CKA_SIGN, false)]);
    assert_eq!(init(true, s, &mut ecb, no_encrypt), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_eq!(decrypt(s, &mut ecb, no_encrypt, &[0; 16]).unwrap().len(), 16);
    assert_eq!(call!(C_SignInit, s, &mut raw, no_encrypt), CKR_KEY_FUNCTION_NOT_PERMITTED);

    let only_gcm = gen_aes(s, 16, &[(CKA_ALLOWED_MECHANISMS, CKM_AES_GCM.to_ne_bytes().to_vec())]);
    assert_eq!(init(true, s, &mut ecb, only_gcm), CKR_MECHANISM_INVALID);
    assert_eq!(encrypt(s, &mut Mech::gcm(&[1; 12], b"", 128), only_gcm, b"x").unwrap().len(), 17);

    // A digest mechanism is not a cipher; an AES mechanism is not a digest.
    let mut sha = Mech::new(CKM_SHA256);
    assert_eq!(init(true, s, &mut sha, only_gcm), CKR_MECHANISM_INVALID);
    assert_eq!(init(true, s, &mut Mech::new(CKM_AES_CMAC), only_gcm), CKR_MECHANISM_INVALID);
    let mut r = Mech::new(CKM_AES_ECB).raw();
    assert_eq!(call!(C_SignInit, s, &mut r, only_gcm), CKR_MECHANISM_INVALID);
    assert_eq!(call!(C_DigestInit, s, &mut r), CKR_MECHANISM_INVALID);
}

#[test]
fn gcm_refuses_any_tampering() {
    let (_h, s) = Hsm::ready();
    let k = gen_aes(s, 32, &[]);
    let pt = b"attack at dawn, bring the good biscuits";
    for (iv, bits) in [(&[1u8; 12][..], 128), (&[1u8; 12][..], 96), (&[2u8; 20][..], 128), (&[3u8; 1][..], 32)] {
        let m = |aad: &[u8]| Mech::gcm(iv, aad, bits);
        let ct = encrypt(s, &mut m(b"header"), k, pt).unwrap();
        assert_eq!(ct.len(), pt.len() + bits as usize / 8);
        assert_eq!(decrypt(s, &mut m(b"header"), k, &ct).unwrap(), pt);
        for i in [0, pt.len() - 1, pt.len(), ct.len() - 1] {
            let mut bad = ct.clone();
            bad[i] ^= 0x01;
            assert_eq!(decrypt(s, &mut m(b"header"), k, &bad), Err(CKR_ENCRYPTED_DATA_INVALID), "byte {i}");
            assert_eq!(crypt_parts(false, s, &mut m(b"header"), k, &bad, &[5]), Err(CKR_ENCRYPTED_DATA_INVALID));
        }
        assert_eq!(decrypt(s, &mut m(b"headeR"), k, &ct), Err(CKR_ENCRYPTED_DATA_INVALID), "AAD");
        assert_eq!(decrypt(s, &mut m(b"header"), k, &ct[..ct.len() - 1]), Err(CKR_ENCRYPTED_DATA_INVALID), "cut");
        let other = gen_aes(s, 32, &[]);
        assert_eq!(decrypt(s, &mut m(b"header"), other, &ct), Err(CKR_ENCRYPTED_DATA_INVALID), "key");
    }
}

// ---------------------------------------------------------------------------
// Wrapping
// ---------------------------------------------------------------------------

fn wrap(s: CK_SESSION_HANDLE, m: &mut Mech, kek: CK_OBJECT_HANDLE, k: CK_OBJECT_HANDLE) -> Result<Vec<u8>, CK_RV> {
    let mut raw = m.raw();
    fetch(|o, n| call!(C_WrapKey, s, &mut raw, kek, k, o, n))
}

fn unwrap(
    s: CK_SESSION_HANDLE,
    m: &mut Mech,
    kek: CK_OBJECT_HANDLE,
    wrapped: &[u8],
    t: &Tmpl,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut raw = m.raw();
    let mut a = t.attrs();
    let mut h = 0;
    let (w, wl) = (wrapped.as_ptr() as *mut u8, wrapped.len() as CK_ULONG);
    match call!(C_UnwrapKey, s, &mut raw, kek, w, wl, a.as_mut_ptr(), a.len() as CK_ULONG, &mut h) {
        CKR_OK => Ok(h),
        rv => Err(rv),
    }
}

fn secret_template(kt: CK_KEY_TYPE) -> Tmpl {
    Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, kt).token(false)
}

#[test]
fn wrap_and_unwrap_with_kw_kwp_and_cbc_pad() {
    let (h, s) = Hsm::ready();
    let iv = [5u8; 16];
    for kek_len in [16, 24, 32] {
        let kek = gen_aes(s, kek_len, &[]);
        for (target_len, m, wrapped_len) in [
            (32, Mech::new(CKM_AES_KEY_WRAP), 40),
            (24, Mech::new(CKM_AES_KEY_WRAP), 32),
            (16, Mech::new(CKM_AES_KEY_WRAP_KWP), 24),
            (24, Mech::new(CKM_AES_KEY_WRAP_KWP), 32),
            (16, Mech::bytes(CKM_AES_CBC_PAD, &iv), 32),
            (32, Mech::bytes(CKM_AES_CBC_PAD, &iv), 48),
            (32, Mech::gcm(&iv[..12], b"wrap", 128), 48),
        ] {
            let mut m = m;
            let what = format!("KEK {kek_len}, key {target_len}, {:#x}", m.ty);
            let target = gen_aes(s, target_len, &[b(CKA_EXTRACTABLE, true)]);
            let wrapped = wrap(s, &mut m, kek, target).unwrap();
            assert_eq!(wrapped.len(), wrapped_len, "{what}");
            let t = secret_template(CKK_AES).bool(CKA_EXTRACTABLE, true);
            let k = unwrap(s, &mut m, kek, &wrapped, &t).unwrap();
            assert_eq!(h.get(s, k, CKA_CHECK_VALUE), h.get(s, target, CKA_CHECK_VALUE), "{what}");
            assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), target_len);
            assert!(!h.get_bool(s, k, CKA_LOCAL), "an unwrapped key is not local");
            assert!(!h.get_bool(s, k, CKA_ALWAYS_SENSITIVE));
            assert!(!h.get_bool(s, k, CKA_NEVER_EXTRACTABLE));
            assert_eq!(h.get_ulong(s, k, CKA_KEY_GEN_MECHANISM), CK_UNAVAILABLE_INFORMATION);
            let block = [9u8; 16];
            assert_eq!(
                encrypt(s, &mut Mech::new(CKM_AES_ECB), k, &block),
                encrypt(s, &mut Mech::new(CKM_AES_ECB), target, &block),
                "{what}: the same key"
            );
            // A damaged wrapping.
            let mut bad = wrapped.clone();
            bad[2] ^= 0x80;
            let last = bad.len() - 1;
            bad[last] ^= 0x80;
            assert!(unwrap(s, &mut m, kek, &bad, &t).is_err(), "{what}: damaged");
        }
    }
    let kek = gen_aes(s, 32, &[]);
    let t = secret_template(CKK_AES);
    assert_eq!(unwrap(s, &mut Mech::new(CKM_AES_KEY_WRAP), kek, &[0; 40], &t), Err(CKR_WRAPPED_KEY_INVALID));
    assert_eq!(unwrap(s, &mut Mech::new(CKM_AES_KEY_WRAP), kek, &[0; 41], &t), Err(CKR_WRAPPED_KEY_LEN_RANGE));

    // A generic secret of 13 bytes: KWP pads it and gives back exactly 13 bytes;
    // KW cannot take it.
    let secret = import(&h, s, CKK_GENERIC_SECRET, &[0x42; 13], &[b(CKA_EXTRACTABLE, true)]);
    let wrapped = wrap(s, &mut Mech::new(CKM_AES_KEY_WRAP_KWP), kek, secret).unwrap();
    assert_eq!(wrapped.len(), 24);
    let k =
        unwrap(s, &mut Mech::new(CKM_AES_KEY_WRAP_KWP), kek, &wrapped, &secret_template(CKK_GENERIC_SECRET)).unwrap();
    assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), 13);
    assert_eq!(h.get(s, k, CKA_CHECK_VALUE), h.get(s, secret, CKA_CHECK_VALUE));
    assert_eq!(wrap(s, &mut Mech::new(CKM_AES_KEY_WRAP), kek, secret), Err(CKR_KEY_SIZE_RANGE));

    // The wrapping key's usage and type.
    let no_wrap = gen_aes(s, 32, &[b(CKA_WRAP, false), b(CKA_UNWRAP, false)]);
    let target = gen_aes(s, 16, &[b(CKA_EXTRACTABLE, true)]);
    assert_eq!(wrap(s, &mut Mech::new(CKM_AES_KEY_WRAP), no_wrap, target), Err(CKR_KEY_FUNCTION_NOT_PERMITTED));
    let generic_kek = import(&h, s, CKK_GENERIC_SECRET, &[1; 32], &[]);
    assert_eq!(wrap(s, &mut Mech::new(CKM_AES_KEY_WRAP), generic_kek, target), Err(CKR_WRAPPING_KEY_TYPE_INCONSISTENT));
    assert_eq!(wrap(s, &mut Mech::bytes(CKM_AES_KEY_WRAP, &[0; 8]), kek, target), Err(CKR_MECHANISM_PARAM_INVALID));
}

#[test]
fn wrapping_rules_extractable_trusted_and_templates() {
    let h = Hsm::fresh();
    h.init_token(0, SO_PIN, "wrap");
    h.init_user(0, USER_PIN);
    // The SO makes a trusted wrapping key (only the SO may set CKA_TRUSTED).
    let so = h.open(0, true);
    assert_eq!(h.login(so, CKU_SO, SO_PIN), CKR_OK);
    let trusted_tmpl = Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .token(true)
        .bool(CKA_PRIVATE, false)
        .bool(CKA_TRUSTED, true)
        .label("trusted kek")
        .bytes(CKA_VALUE, &[0x77; 32]);
    h.create(so, &trusted_tmpl).expect("the SO creates a trusted key");
    assert_eq!(call!(C_Logout, so), CKR_OK);
    assert_eq!(call!(C_CloseSession, so), CKR_OK);

    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    let trusted = h.find(s, &Tmpl::new().label("trusted kek"))[0];
    let mine = secret_template(CKK_AES).bool(CKA_TRUSTED, true).bytes(CKA_VALUE, &[1; 16]);
    assert_eq!(h.create(s, &mine), Err(CKR_ATTRIBUTE_READ_ONLY), "only the SO sets CKA_TRUSTED");
    let kek = gen_aes(s, 32, &[]);
    let kw = || Mech::new(CKM_AES_KEY_WRAP);

    // Not extractable: never leaves.
    let locked = gen_aes(s, 16, &[]);
    assert_eq!(wrap(s, &mut kw(), kek, locked), Err(CKR_KEY_UNEXTRACTABLE));
    assert_eq!(wrap(s, &mut kw(), trusted, locked), Err(CKR_KEY_UNEXTRACTABLE));

    // Wrap-with-trusted: only under a trusted key.
    let picky = gen_aes(s, 16, &[b(CKA_EXTRACTABLE, true), b(CKA_WRAP_WITH_TRUSTED, true)]);
    assert_eq!(wrap(s, &mut kw(), kek, picky), Err(CKR_KEY_NOT_WRAPPABLE));
    let wrapped = wrap(s, &mut kw(), trusted, picky).unwrap();
    let k = unwrap(s, &mut kw(), trusted, &wrapped, &secret_template(CKK_AES)).unwrap();
    assert_eq!(h.get(s, k, CKA_CHECK_VALUE), h.get(s, picky, CKA_CHECK_VALUE));

    // CKA_WRAP_TEMPLATE: the key to wrap must match it.
    let only_generic = Tmpl::new().ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET);
    let a = only_generic.attrs();
    let picky_kek = gen_aes(s, 32, &[(CKA_WRAP_TEMPLATE, array_value(&a))]);
    let aes_target = gen_aes(s, 16, &[b(CKA_EXTRACTABLE, true)]);
    assert_eq!(wrap(s, &mut kw(), picky_kek, aes_target), Err(CKR_KEY_NOT_WRAPPABLE));
    let generic = import(&h, s, CKK_GENERIC_SECRET, &[3; 24], &[b(CKA_EXTRACTABLE, true)]);
    assert_eq!(wrap(s, &mut kw(), picky_kek, generic).unwrap().len(), 32);

    // CKA_UNWRAP_TEMPLATE: it is added to the caller's template, and must agree.
    let forced = Tmpl::new().bool(CKA_SENSITIVE, true).bool(CKA_EXTRACTABLE, false);
    let a = forced.attrs();
    let strict_kek = gen_aes(s, 32, &[(CKA_UNWRAP_TEMPLATE, array_value(&a))]);
    let wrapped = wrap(s, &mut kw(), strict_kek, aes_target).unwrap();
    let k = unwrap(s, &mut kw(), strict_kek, &wrapped, &secret_template(CKK_AES)).unwrap();
    assert!(h.get_bool(s, k, CKA_SENSITIVE));
    assert!(!h.get_bool(s, k, CKA_EXTRACTABLE));
    assert!(!h.get_bool(s, k, CKA_NEVER_EXTRACTABLE), "it was outside the token once");
    let t = secret_template(CKK_AES).bool(CKA_EXTRACTABLE, true);
    assert_eq!(unwrap(s, &mut kw(), strict_kek, &wrapped, &t), Err(CKR_TEMPLATE_INCONSISTENT));
}

// ---------------------------------------------------------------------------
// Interoperability
// ---------------------------------------------------------------------------

#[test]
fn openssl_enc_aes_cbc_interoperates() {
    let (h, s) = Hsm::ready();
    for (cipher, klen) in [("-aes-128-cbc", 16), ("-aes-192-cbc", 24), ("-aes-256-cbc", 32)] {
        let key: Vec<u8> = (0..klen as u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
        let iv: Vec<u8> = (0..16u8).map(|i| i ^ 0x5a).collect();
        let k = import(&h, s, CKK_AES, &key, &[]);
        let msg = b"PKCS#11 meets openssl enc: a message of some length, not a multiple of 16.";
        let args = ["enc", cipher, "-K", &hex(&key), "-iv", &hex(&iv)];
        // OpenSSL encrypts (PKCS#7 padding), the token decrypts.
        let ct = openssl(&args, msg);
        assert_eq!(decrypt(s, &mut Mech::bytes(CKM_AES_CBC_PAD, &iv), k, &ct).unwrap(), msg);
        // The token encrypts, OpenSSL decrypts; and the two ciphertexts agree.
        let mine = encrypt(s, &mut Mech::bytes(CKM_AES_CBC_PAD, &iv), k, msg).unwrap();
        assert_eq!(mine, ct, "{cipher}");
        let mut dargs = args.to_vec();
        dargs.insert(1, "-d");
        assert_eq!(openssl(&dargs, &mine), msg);
        // Unpadded CBC against `-nopad`.
        let mut nopad = args.to_vec();
        nopad.push("-nopad");
        let blocks = &msg[..64];
        assert_eq!(encrypt(s, &mut Mech::bytes(CKM_AES_CBC, &iv), k, blocks).unwrap(), openssl(&nopad, blocks));
        // ECB and CTR against OpenSSL's.
        let ecb = ["enc", &cipher.replace("cbc", "ecb"), "-K", &hex(&key), "-nopad"];
        assert_eq!(encrypt(s, &mut Mech::new(CKM_AES_ECB), k, blocks).unwrap(), openssl(&ecb, blocks));
        let ctr = ["enc", &cipher.replace("cbc", "ctr"), "-K", &hex(&key), "-iv", &hex(&iv)];
        assert_eq!(encrypt(s, &mut Mech::ctr(128, &iv), k, msg).unwrap(), openssl(&ctr, msg), "{cipher} CTR");
    }
}

/// `openssl enc` refuses AEAD ciphers, so GCM goes against Python's
/// `cryptography` when it is installed.
#[test]
fn aes_gcm_interoperates_with_python_cryptography() {
    let script = "import sys\nfrom cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\
                  op,k,n,a,d=sys.argv[1:6]\nk,n,a,d=(bytes.fromhex(x) for x in (k,n,a,d))\n\
                  g=AESGCM(k)\nprint((g.encrypt(n,d,a) if op=='e' else g.decrypt(n,d,a)).hex())";
    let py = |args: &[&str]| {
        Command::new("python3").arg("-c").arg(script).args(args).output().ok().filter(|o| o.status.success())
    };
    if py(&["e", &"00".repeat(16), &"00".repeat(12), "", ""]).is_none() {
        eprintln!("skipped: python3 with `cryptography` is not available");
        return;
    }
    let (h, s) = Hsm::ready();
    for (klen, nlen) in [(16, 12), (32, 12), (24, 16), (32, 8)] {
        let key: Vec<u8> = (0..klen as u8).map(|i| i.wrapping_mul(13)).collect();
        let nonce: Vec<u8> = (0..nlen as u8).map(|i| 0xF0 ^ i).collect();
        let aad = b"associated data";
        let msg: Vec<u8> = (0..333u32).map(|i| (i % 256) as u8).collect();
        let k = import(&h, s, CKK_AES, &key, &[]);
        let args = |op: &'static str, data: &[u8]| -> Vec<String> {
            vec![op.into(), hex(&key), hex(&nonce), hex(aad), hex(data)]
        };
        let theirs = py(&args("e", &msg).iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
        let theirs = unhex(String::from_utf8(theirs.stdout).unwrap().trim());
        let mine = encrypt(s, &mut Mech::gcm(&nonce, aad, 128), k, &msg).unwrap();
        assert_eq!(hex(&mine), hex(&theirs), "AES-{} with a {nlen}-byte nonce", klen * 8);
        assert_eq!(decrypt(s, &mut Mech::gcm(&nonce, aad, 128), k, &theirs).unwrap(), msg);
        let back = py(&args("d", &mine).iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
        assert_eq!(unhex(String::from_utf8(back.stdout).unwrap().trim()), msg);
    }
}
