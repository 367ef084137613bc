//! 3DES and key derivation by data encryption through the built module: mechanism
//! info, key generation (parity, check values, provenance), import rules, the CAVP
//! TDES multi-block message vectors (ECB and CBC, two- and three-key), the
//! SP 800-38B TDEA CMAC examples, CBC-PAD round trips and error codes, and the
//! diversification of a card master key (`CKM_*_ENCRYPT_DATA`) checked against
//! `openssl enc`, with the derived keys' attributes and provenance.

#[macro_use]
mod common;

use std::path::PathBuf;
use std::ptr;

use common::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn vectors(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-vectors").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A mechanism and the parameter it points to, kept alive together.
struct Mech {
    ty: CK_MECHANISM_TYPE,
    param: Param,
}

enum Param {
    None,
    Bytes(Vec<u8>),
    Ulong(Box<CK_ULONG>),
    /// `CK_KEY_DERIVATION_STRING_DATA` and the data it points to.
    Data {
        params: Box<CK_KEY_DERIVATION_STRING_DATA>,
        _data: Vec<u8>,
    },
    /// `CK_DES_CBC_ENCRYPT_DATA_PARAMS` and the data it points to.
    DesCbc {
        params: Box<CK_DES_CBC_ENCRYPT_DATA_PARAMS>,
        _data: Vec<u8>,
    },
    /// `CK_AES_CBC_ENCRYPT_DATA_PARAMS` and the data it points to.
    AesCbc {
        params: Box<CK_AES_CBC_ENCRYPT_DATA_PARAMS>,
        _data: Vec<u8>,
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
    /// `*_ECB_ENCRYPT_DATA`.
    fn ecb_data(ty: CK_MECHANISM_TYPE, data: &[u8]) -> Self {
        let mut data = data.to_vec();
        let p = CK_KEY_DERIVATION_STRING_DATA { pData: data.as_mut_ptr(), ulLen: data.len() as CK_ULONG };
        Self { ty, param: Param::Data { params: Box::new(p), _data: data } }
    }
    /// `*_CBC_ENCRYPT_DATA`: the parameter struct follows the IV's length.
    fn cbc_data(ty: CK_MECHANISM_TYPE, iv: &[u8], data: &[u8]) -> Self {
        let mut data = data.to_vec();
        let (p, len) = (data.as_mut_ptr(), data.len() as CK_ULONG);
        let param = if iv.len() == 8 {
            let p = CK_DES_CBC_ENCRYPT_DATA_PARAMS { iv: iv.try_into().unwrap(), pData: p, length: len };
            Param::DesCbc { params: Box::new(p), _data: data }
        } else {
            let p = CK_AES_CBC_ENCRYPT_DATA_PARAMS { iv: iv.try_into().unwrap(), pData: p, length: len };
            Param::AesCbc { params: Box::new(p), _data: data }
        };
        Self { ty, param }
    }
    fn raw(&mut self) -> CK_MECHANISM {
        fn of<T>(b: &mut Box<T>) -> (*mut std::ffi::c_void, usize) {
            (&mut **b as *mut T as *mut _, size_of::<T>())
        }
        let (p, len): (*mut std::ffi::c_void, usize) = match &mut self.param {
            Param::None => (ptr::null_mut(), 0),
            Param::Bytes(b) => (b.as_mut_ptr() as *mut _, b.len()),
            Param::Ulong(n) => of(n),
            Param::Data { params, .. } => of(params),
            Param::DesCbc { params, .. } => of(params),
            Param::AesCbc { params, .. } => of(params),
        };
        CK_MECHANISM { mechanism: self.ty, pParameter: p, ulParameterLen: len as CK_ULONG }
    }
}

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

/// A length query, then a buffer of that size (the query must be an upper bound).
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

fn init(enc: bool, s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE) -> CK_RV {
    let mut raw = m.raw();
    if enc { call!(C_EncryptInit, s, &mut raw, k) } else { call!(C_DecryptInit, s, &mut raw, k) }
}

/// Single-part encryption or decryption.
fn crypt(enc: bool, s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    match init(enc, s, m, k) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let (i, l) = (data.as_ptr() as *mut u8, data.len() as CK_ULONG);
    fetch(|o, n| if enc { call!(C_Encrypt, s, i, l, o, n) } else { call!(C_Decrypt, s, i, l, o, n) })
}

/// Multi-part, in parts of `size` bytes, each with a length query.
fn crypt_parts(
    enc: bool,
    s: CK_SESSION_HANDLE,
    m: &mut Mech,
    k: CK_OBJECT_HANDLE,
    data: &[u8],
    size: usize,
) -> Result<Vec<u8>, CK_RV> {
    match init(enc, s, m, k) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut out = Vec::new();
    for part in data.chunks(size) {
        let (i, l) = (part.as_ptr() as *mut u8, part.len() as CK_ULONG);
        out.extend(fetch(|o, n| {
            if enc { call!(C_EncryptUpdate, s, i, l, o, n) } else { call!(C_DecryptUpdate, s, i, l, o, n) }
        })?);
    }
    out.extend(fetch(|o, n| if enc { call!(C_EncryptFinal, s, o, n) } else { call!(C_DecryptFinal, s, o, n) })?);
    Ok(out)
}

fn sign(s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    let mut raw = m.raw();
    match call!(C_SignInit, s, &mut raw, k) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    fetch(|o, n| call!(C_Sign, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, o, n))
}

/// Multi-part signing in parts of `size` bytes.
fn sign_parts(s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8], size: usize) -> Vec<u8> {
    let mut raw = m.raw();
    assert_eq!(call!(C_SignInit, s, &mut raw, k), CKR_OK);
    for part in data.chunks(size) {
        assert_eq!(call!(C_SignUpdate, s, part.as_ptr() as *mut _, part.len() as CK_ULONG), CKR_OK);
    }
    fetch(|o, n| call!(C_SignFinal, s, o, n)).unwrap()
}

fn verify(s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    let mut raw = m.raw();
    match call!(C_VerifyInit, s, &mut raw, k) {
        CKR_OK => {}
        rv => return rv,
    }
    call!(C_Verify, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, sig.as_ptr() as *mut _, sig.len() as CK_ULONG)
}

fn derive(s: CK_SESSION_HANDLE, m: &mut Mech, base: CK_OBJECT_HANDLE, t: &Tmpl) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut raw = m.raw();
    let mut a = t.attrs();
    let mut h = 0;
    match call!(C_DeriveKey, s, &mut raw, base, a.as_mut_ptr(), a.len() as CK_ULONG, &mut h) {
        CKR_OK => Ok(h),
        rv => Err(rv),
    }
}

fn secret(kt: CK_KEY_TYPE) -> Tmpl {
    Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, kt).token(false)
}

/// A session secret key of type `kt` imported with `value`, usable for everything.
fn import(h: &Hsm, s: CK_SESSION_HANDLE, kt: CK_KEY_TYPE, value: &[u8]) -> CK_OBJECT_HANDLE {
    let t = secret(kt)
        .bytes(CKA_VALUE, value)
        .bool(CKA_ENCRYPT, true)
        .bool(CKA_DECRYPT, true)
        .bool(CKA_SIGN, true)
        .bool(CKA_VERIFY, true)
        .bool(CKA_DERIVE, true);
    h.create(s, &t).expect("import a secret key")
}

/// A readable derived key template.
fn readable(kt: CK_KEY_TYPE) -> Tmpl {
    secret(kt).bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true)
}

fn odd_parity(k: &[u8]) -> bool {
    k.iter().all(|b| b.count_ones() % 2 == 1)
}

/// The openssl cipher name of a 3DES key.
fn ossl_ecb(key: &[u8]) -> &'static str {
    if key.len() == 16 { "-des-ede" } else { "-des-ede3" }
}

// ---------------------------------------------------------------------------
// Mechanism info and keys
// ---------------------------------------------------------------------------

#[test]
fn mechanism_info_is_in_bytes_with_truthful_flags() {
    let (_h, _s) = Hsm::ready();
    let crypt = CKF_ENCRYPT | CKF_DECRYPT;
    let mac = SIGN_VERIFY;
    let want = [
        (CKM_DES2_KEY_GEN, 16, 16, CKF_GENERATE),
        (CKM_DES3_KEY_GEN, 24, 24, CKF_GENERATE),
        (CKM_DES3_ECB, 16, 24, crypt),
        (CKM_DES3_CBC, 16, 24, crypt),
        (CKM_DES3_CBC_PAD, 16, 24, crypt),
        (CKM_DES3_CMAC, 16, 24, mac),
        (CKM_DES3_CMAC_GENERAL, 16, 24, mac),
        (CKM_DES3_ECB_ENCRYPT_DATA, 16, 24, CKF_DERIVE),
        (CKM_DES3_CBC_ENCRYPT_DATA, 16, 24, CKF_DERIVE),
        (CKM_AES_ECB_ENCRYPT_DATA, 16, 32, CKF_DERIVE),
        (CKM_AES_CBC_ENCRYPT_DATA, 16, 32, CKF_DERIVE),
    ];
    let mut n = 0;
    assert_eq!(call!(C_GetMechanismList, 0, ptr::null_mut(), &mut n), CKR_OK);
    let mut list = vec![0; n as usize];
    assert_eq!(call!(C_GetMechanismList, 0, list.as_mut_ptr(), &mut n), CKR_OK);
    for (m, min, max, flags) in want {
        assert!(list.contains(&m), "{m:#x} listed");
        let mut info = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
        assert_eq!(call!(C_GetMechanismInfo, 0, m, &mut info), CKR_OK);
        assert_eq!((info.ulMinKeySize, info.ulMaxKeySize, info.flags), (min, max, flags), "{m:#x}");
    }
    // No single DES, no 3DES wrapping.
    assert!(!list.contains(&CKM_DES_ECB));
    let mut info = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
    assert_eq!(call!(C_GetMechanismInfo, 0, CKM_DES_ECB, &mut info), CKR_MECHANISM_INVALID);
}

#[test]
fn generated_keys_have_odd_parity_check_values_and_provenance() {
    let (h, s) = Hsm::ready();
    for (m, kt, len) in [(CKM_DES2_KEY_GEN, CKK_DES2, 16), (CKM_DES3_KEY_GEN, CKK_DES3, 24)] {
        let t = Tmpl::new().token(false).bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true).bool(CKA_ENCRYPT, true);
        let k = h.generate_key(s, m, &t).unwrap();
        let value = h.get(s, k, CKA_VALUE).unwrap();
        assert_eq!(value.len(), len);
        assert!(odd_parity(&value), "{m:#x}: odd parity");
        assert_ne!(value[..8], value[8..16], "not single DES");
        assert_eq!(h.get_ulong(s, k, CKA_KEY_TYPE), kt);
        assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), len as CK_ULONG);
        assert!(h.get_bool(s, k, CKA_LOCAL));
        assert_eq!(h.get_ulong(s, k, CKA_KEY_GEN_MECHANISM), m);
        assert_eq!(h.get_ulong(s, k, CKA_FERRO_ORIGIN), ORIGIN_GENERATED);
        // The check value: 3DES-ECB of a zero block, by openssl.
        let zero = openssl(&["enc", ossl_ecb(&value), "-nopad", "-K", &hex(&value)], &[0; 8]);
        assert_eq!(h.get(s, k, CKA_CHECK_VALUE).unwrap(), zero[..3]);
        // And through the token.
        assert_eq!(crypt(true, s, &mut Mech::new(CKM_DES3_ECB), k, &[0; 8]).unwrap(), zero);
        // CKA_VALUE_LEN may be given if it agrees; CKA_VALUE may not.
        assert!(h.generate_key(s, m, &Tmpl::new().token(false).ulong(CKA_VALUE_LEN, len as CK_ULONG)).is_ok());
        let bad = Tmpl::new().token(false).ulong(CKA_VALUE_LEN, 8);
        assert_eq!(rv(h.generate_key(s, m, &bad)), CKR_TEMPLATE_INCONSISTENT);
        let bad = Tmpl::new().token(false).bytes(CKA_VALUE, &[1; 24]);
        assert_eq!(rv(h.generate_key(s, m, &bad)), CKR_ATTRIBUTE_READ_ONLY);
        // The key type follows the mechanism.
        let other = if kt == CKK_DES2 { CKK_DES3 } else { CKK_DES2 };
        let bad = Tmpl::new().token(false).ulong(CKA_KEY_TYPE, other);
        assert_eq!(rv(h.generate_key(s, m, &bad)), CKR_TEMPLATE_INCONSISTENT);
    }
}

#[test]
fn imported_keys_are_checked_and_kept_as_given() {
    let (h, s) = Hsm::ready();
    // Wrong lengths for the type.
    for (kt, len) in [(CKK_DES2, 24), (CKK_DES2, 8), (CKK_DES3, 16), (CKK_DES3, 32)] {
        let t = secret(kt).bytes(CKA_VALUE, &vec![0x13; len]);
        assert_eq!(rv(h.create(s, &t)), CKR_ATTRIBUTE_VALUE_INVALID, "{kt:#x} of {len} bytes");
    }
    let t = secret(CKK_DES3).bytes(CKA_VALUE, &[0x13; 24]).ulong(CKA_VALUE_LEN, 16);
    assert_eq!(rv(h.create(s, &t)), CKR_TEMPLATE_INCONSISTENT);
    // CKA_VALUE is required.
    assert_eq!(rv(h.create(s, &secret(CKK_DES3))), CKR_TEMPLATE_INCOMPLETE);

    // A key with even parity in every byte: kept byte for byte, and it encrypts
    // exactly as its odd-parity form (the cipher ignores parity bits).
    let even: Vec<u8> =
        (0..24u8).map(|i| i.wrapping_mul(0x23) & 0xFE).map(|b| b ^ u8::from(b.count_ones() % 2 == 1)).collect();
    assert!(even.iter().all(|b| b.count_ones() % 2 == 0));
    let fixed: Vec<u8> = even.iter().map(|b| b ^ 1).collect();
    assert!(odd_parity(&fixed));
    let t = readable(CKK_DES3).bytes(CKA_VALUE, &even).bool(CKA_ENCRYPT, true);
    let k_even = h.create(s, &t).unwrap();
    let k_fixed = import(&h, s, CKK_DES3, &fixed);
    assert_eq!(h.get(s, k_even, CKA_VALUE).unwrap(), even, "kept as given");
    assert_eq!(h.get_ulong(s, k_even, CKA_VALUE_LEN), 24);
    assert_eq!(h.get_ulong(s, k_even, CKA_FERRO_ORIGIN), ORIGIN_IMPORTED);
    assert!(!h.get_bool(s, k_even, CKA_LOCAL));
    let data = b"parity bits are not key bits....";
    let a = crypt(true, s, &mut Mech::new(CKM_DES3_ECB), k_even, data).unwrap();
    assert_eq!(a, crypt(true, s, &mut Mech::new(CKM_DES3_ECB), k_fixed, data).unwrap());
    assert_eq!(h.get(s, k_even, CKA_CHECK_VALUE).unwrap(), h.get(s, k_fixed, CKA_CHECK_VALUE).unwrap());

    // A check value given at import must match.
    let kcv = h.get(s, k_fixed, CKA_CHECK_VALUE).unwrap();
    let t = secret(CKK_DES3).bytes(CKA_VALUE, &fixed).bytes(CKA_CHECK_VALUE, &kcv);
    assert!(h.create(s, &t).is_ok());
    let mut wrong = kcv.clone();
    wrong[0] ^= 1;
    let t = secret(CKK_DES3).bytes(CKA_VALUE, &fixed).bytes(CKA_CHECK_VALUE, &wrong);
    assert_eq!(rv(h.create(s, &t)), CKR_ATTRIBUTE_VALUE_INVALID);

    // A two-key key is K1 K2 K1: the same as the three-key key K1 K2 K1.
    let k2 = import(&h, s, CKK_DES2, &fixed[..16]);
    let k3 = import(&h, s, CKK_DES3, &[&fixed[..16], &fixed[..8]].concat());
    let a = crypt(true, s, &mut Mech::new(CKM_DES3_ECB), k2, data).unwrap();
    assert_eq!(a, crypt(true, s, &mut Mech::new(CKM_DES3_ECB), k3, data).unwrap());
    assert_eq!(h.get(s, k2, CKA_CHECK_VALUE).unwrap(), h.get(s, k3, CKA_CHECK_VALUE).unwrap());
    let k = &fixed[..16];
    assert_eq!(a, openssl(&["enc", "-des-ede", "-nopad", "-K", &hex(k)], data));
}

// ---------------------------------------------------------------------------
// Known answers
// ---------------------------------------------------------------------------

/// One CAVP TDES case.
struct Case {
    encrypt: bool,
    key: Vec<u8>,
    iv: Vec<u8>,
    plain: Vec<u8>,
    cipher: Vec<u8>,
}

/// Parses a CAVP TDES `.rsp` file (`[ENCRYPT]` / `[DECRYPT]` sections of records).
fn tdes_cases(text: &str) -> Vec<Case> {
    let mut out = Vec::new();
    let mut encrypt = true;
    let mut rec: Vec<(String, String)> = Vec::new();
    let flush = |rec: &mut Vec<(String, String)>, encrypt: bool, out: &mut Vec<Case>| {
        if rec.is_empty() {
            return;
        }
        let get = |k: &str| rec.iter().find(|(n, _)| n == k).map(|(_, v)| unhex(v)).unwrap_or_default();
        let (k1, k2, k3) = (get("KEY1"), get("KEY2"), get("KEY3"));
        let key = if k3 == k1 { [k1, k2].concat() } else { [k1, k2, k3].concat() };
        out.push(Case { encrypt, key, iv: get("IV"), plain: get("PLAINTEXT"), cipher: get("CIPHERTEXT") });
        rec.clear();
    };
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            flush(&mut rec, encrypt, &mut out);
        } else if line == "[ENCRYPT]" || line == "[DECRYPT]" {
            flush(&mut rec, encrypt, &mut out);
            encrypt = line == "[ENCRYPT]";
        } else if let Some((k, v)) = line.split_once(" = ") {
            rec.push((k.to_string(), v.to_string()));
        }
    }
    flush(&mut rec, encrypt, &mut out);
    out
}

#[test]
fn cavp_tdes_multi_block_messages() {
    let (h, s) = Hsm::ready();
    let mut total = 0;
    for (file, cbc, klen) in [
        ("cavp/tdes/TECBMMT2.rsp", false, 16),
        ("cavp/tdes/TECBMMT3.rsp", false, 24),
        ("cavp/tdes/TCBCMMT2.rsp", true, 16),
        ("cavp/tdes/TCBCMMT3.rsp", true, 24),
    ] {
        let cases = tdes_cases(&vectors(file));
        assert_eq!(cases.len(), 20, "{file}");
        for (i, c) in cases.iter().enumerate() {
            assert_eq!(c.key.len(), klen, "{file} #{i}");
            let kt = if klen == 16 { CKK_DES2 } else { CKK_DES3 };
            let k = import(&h, s, kt, &c.key);
            let m = || if cbc { Mech::bytes(CKM_DES3_CBC, &c.iv) } else { Mech::new(CKM_DES3_ECB) };
            let (input, want) = if c.encrypt { (&c.plain, &c.cipher) } else { (&c.cipher, &c.plain) };
            assert_eq!(&crypt(c.encrypt, s, &mut m(), k, input).unwrap(), want, "{file} #{i}");
            assert_eq!(&crypt_parts(c.encrypt, s, &mut m(), k, input, 5).unwrap(), want, "{file} #{i} in parts");
            // And back.
            assert_eq!(&crypt(!c.encrypt, s, &mut m(), k, want).unwrap(), input, "{file} #{i} inverse");
            assert_eq!(call!(C_DestroyObject, s, k), CKR_OK);
            total += 1;
        }
    }
    assert_eq!(total, 80);
}

#[test]
fn cmac_matches_sp800_38b_examples() {
    let (h, s) = Hsm::ready();
    let text = vectors("misc/sp800-38b-3des.txt");
    let mut n = 0;
    for block in text.split("\n\n").filter(|b| b.contains("OUTPUT")) {
        let get = |k: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(" =")))
                .map(|v| unhex(v.trim()))
                .unwrap()
        };
        let (k1, k2, k3) = (get("KEY1"), get("KEY2"), get("KEY3"));
        let (key, kt) = if k3 == k1 { ([k1, k2].concat(), CKK_DES2) } else { ([k1, k2, k3].concat(), CKK_DES3) };
        let (msg, want) = (get("MESSAGE"), get("OUTPUT"));
        let k = import(&h, s, kt, &key);
        assert_eq!(sign(s, &mut Mech::new(CKM_DES3_CMAC), k, &msg).unwrap(), want, "{block}");
        for size in [1, 7, 8, 9] {
            assert_eq!(sign_parts(s, &mut Mech::new(CKM_DES3_CMAC), k, &msg, size), want);
        }
        assert_eq!(verify(s, &mut Mech::new(CKM_DES3_CMAC), k, &msg, &want), CKR_OK);
        let general = || Mech::ulong(CKM_DES3_CMAC_GENERAL, 4);
        assert_eq!(sign(s, &mut general(), k, &msg).unwrap(), want[..4]);
        assert_eq!(verify(s, &mut general(), k, &msg, &want[..4]), CKR_OK);
        let mut bad = want.clone();
        bad[7] ^= 0x80;
        assert_eq!(verify(s, &mut Mech::new(CKM_DES3_CMAC), k, &msg, &bad), CKR_SIGNATURE_INVALID);
        assert_eq!(verify(s, &mut Mech::new(CKM_DES3_CMAC), k, &msg, &want[..7]), CKR_SIGNATURE_LEN_RANGE);
        assert_eq!(verify(s, &mut general(), k, &msg, &want), CKR_SIGNATURE_LEN_RANGE);
        n += 1;
    }
    assert_eq!(n, 8);
    let k = import(&h, s, CKK_DES3, &[0x5d; 24]);
    for len in [0, 9] {
        assert_eq!(sign(s, &mut Mech::ulong(CKM_DES3_CMAC_GENERAL, len), k, b"x"), Err(CKR_MECHANISM_PARAM_INVALID));
    }
    assert_eq!(sign(s, &mut Mech::bytes(CKM_DES3_CMAC, &[1]), k, b"x"), Err(CKR_MECHANISM_PARAM_INVALID));
}

// ---------------------------------------------------------------------------
// CBC-PAD and errors
// ---------------------------------------------------------------------------

#[test]
fn cbc_pad_round_trips_and_agrees_with_openssl() {
    let (h, s) = Hsm::ready();
    let key = unhex("0123456789abcdeffedcba987654321089abcdef01234567");
    let iv = unhex("1234567890abcdef");
    let k = import(&h, s, CKK_DES3, &key);
    let m = || Mech::bytes(CKM_DES3_CBC_PAD, &iv);
    let msg: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(29)).collect();
    for len in 0..=msg.len() {
        let pt = &msg[..len];
        let ct = crypt(true, s, &mut m(), k, pt).unwrap();
        assert_eq!(ct.len(), (len / 8 + 1) * 8, "{len}: 1 to 8 bytes of padding");
        let ossl = openssl(&["enc", "-des-ede3-cbc", "-K", &hex(&key), "-iv", &hex(&iv)], pt);
        assert_eq!(ct, ossl, "{len}: as openssl enc -des-ede3-cbc");
        assert_eq!(crypt(false, s, &mut m(), k, &ct).unwrap(), pt, "{len}");
        for size in [1, 3, 8, 11] {
            assert_eq!(crypt_parts(true, s, &mut m(), k, pt, size).unwrap(), ct, "{len} in parts of {size}");
            assert_eq!(crypt_parts(false, s, &mut m(), k, &ct, size).unwrap(), pt, "{len} in parts of {size}");
        }
    }
    // Two-key, against openssl's des-ede-cbc.
    let k2 = import(&h, s, CKK_DES2, &key[..16]);
    let ct = crypt(true, s, &mut m(), k2, &msg[..13]).unwrap();
    assert_eq!(ct, openssl(&["enc", "-des-ede-cbc", "-K", &hex(&key[..16]), "-iv", &hex(&iv)], &msg[..13]));

    // Bad padding: a ciphertext whose last block decrypts to anything but PKCS#7.
    let mut raw = crypt(true, s, &mut Mech::bytes(CKM_DES3_CBC, &iv), k, &[0x41; 16]).unwrap();
    assert_eq!(crypt(false, s, &mut m(), k, &raw), Err(CKR_ENCRYPTED_DATA_INVALID));
    let mut pad9 = [0x41u8; 16];
    pad9[15] = 9;
    raw = crypt(true, s, &mut Mech::bytes(CKM_DES3_CBC, &iv), k, &pad9).unwrap();
    assert_eq!(crypt(false, s, &mut m(), k, &raw), Err(CKR_ENCRYPTED_DATA_INVALID));
    assert_eq!(crypt_parts(false, s, &mut m(), k, &raw, 3), Err(CKR_ENCRYPTED_DATA_INVALID));
    // Wrong lengths.
    assert_eq!(crypt(false, s, &mut m(), k, &raw[..15]), Err(CKR_ENCRYPTED_DATA_LEN_RANGE));
    assert_eq!(crypt(false, s, &mut m(), k, &[]), Err(CKR_ENCRYPTED_DATA_LEN_RANGE));
    assert_eq!(crypt_parts(false, s, &mut m(), k, &raw[..12], 5), Err(CKR_ENCRYPTED_DATA_LEN_RANGE));
    for ty in [CKM_DES3_ECB, CKM_DES3_CBC] {
        let m = || if ty == CKM_DES3_ECB { Mech::new(ty) } else { Mech::bytes(ty, &iv) };
        assert_eq!(crypt(true, s, &mut m(), k, &[1; 12]), Err(CKR_DATA_LEN_RANGE), "{ty:#x}");
        assert_eq!(crypt_parts(true, s, &mut m(), k, &[1; 12], 5), Err(CKR_DATA_LEN_RANGE), "{ty:#x}");
        assert_eq!(crypt(false, s, &mut m(), k, &[1; 12]), Err(CKR_ENCRYPTED_DATA_LEN_RANGE), "{ty:#x}");
    }
    // Parameters and keys.
    assert_eq!(crypt(true, s, &mut Mech::bytes(CKM_DES3_CBC, &[0; 16]), k, &[0; 8]), Err(CKR_MECHANISM_PARAM_INVALID));
    assert_eq!(crypt(true, s, &mut Mech::new(CKM_DES3_CBC_PAD), k, &[0; 8]), Err(CKR_MECHANISM_PARAM_INVALID));
    assert_eq!(crypt(true, s, &mut Mech::bytes(CKM_DES3_ECB, &iv), k, &[0; 8]), Err(CKR_MECHANISM_PARAM_INVALID));
    let aes = import(&h, s, CKK_AES, &[7; 16]);
    assert_eq!(crypt(true, s, &mut Mech::new(CKM_DES3_ECB), aes, &[0; 8]), Err(CKR_KEY_TYPE_INCONSISTENT));
    assert_eq!(crypt(true, s, &mut Mech::new(CKM_AES_ECB), k, &[0; 16]), Err(CKR_KEY_TYPE_INCONSISTENT));
    let no_encrypt = h.create(s, &secret(CKK_DES3).bytes(CKA_VALUE, &key).bool(CKA_ENCRYPT, false)).unwrap();
    assert_eq!(crypt(true, s, &mut Mech::new(CKM_DES3_ECB), no_encrypt, &[0; 8]), Err(CKR_KEY_FUNCTION_NOT_PERMITTED));
}

// ---------------------------------------------------------------------------
// Derivation by encryption: card key diversification
// ---------------------------------------------------------------------------

/// EMV CPS style diversification data for one key of a card: the last 6 bytes of
/// the key diversification data (from the card serial), `F0 01`, the same 6 bytes,
/// `0F 01` (for the second key of a set, `02` in place of `01`).
fn emv_cps_data(serial: &[u8], n: u8) -> Vec<u8> {
    let kdd = &serial[serial.len() - 6..];
    [kdd, &[0xF0, n], kdd, &[0x0F, n]].concat()
}

#[test]
fn diversified_card_keys_match_openssl() {
    let (h, s) = Hsm::ready();
    let serial = unhex("4F2A 0031 9C77 D1E5 0A11");

    // Two-key master, ECB: the card's 16-byte DES2 key, by openssl -des-ede.
    let mk2 = unhex("404142434445464748494A4B4C4D4E4F");
    let base = import(&h, s, CKK_DES2, &mk2);
    for n in [1u8, 2, 3] {
        let data = emv_cps_data(&serial, n);
        let k = derive(s, &mut Mech::ecb_data(CKM_DES3_ECB_ENCRYPT_DATA, &data), base, &readable(CKK_DES2)).unwrap();
        let want = openssl(&["enc", "-des-ede", "-nopad", "-K", &hex(&mk2)], &data);
        assert_eq!(h.get(s, k, CKA_VALUE).unwrap(), want, "card key {n}");
        assert_eq!(h.get_ulong(s, k, CKA_KEY_TYPE), CKK_DES2);
        assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), 16);
        // The derived key works, and its check value is its own.
        let kcv = openssl(&["enc", "-des-ede", "-nopad", "-K", &hex(&want)], &[0; 8]);
        assert_eq!(h.get(s, k, CKA_CHECK_VALUE).unwrap(), kcv[..3]);
    }

    // Three-key master, CBC with an IV, 24 bytes of data into a DES3 key.
    let mk3 = unhex("0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123");
    let iv = unhex("0102030405060708");
    let base3 = import(&h, s, CKK_DES3, &mk3);
    let data: Vec<u8> = [serial.as_slice(), &serial, &[0x80, 0, 0, 0]].concat();
    assert_eq!(data.len(), 24);
    let mut m = Mech::cbc_data(CKM_DES3_CBC_ENCRYPT_DATA, &iv, &data);
    let k = derive(s, &mut m, base3, &readable(CKK_DES3)).unwrap();
    let want = openssl(&["enc", "-des-ede3-cbc", "-nopad", "-K", &hex(&mk3), "-iv", &hex(&iv)], &data);
    assert_eq!(h.get(s, k, CKA_VALUE).unwrap(), want);
    // A shorter key, cut from the front: a generic secret of 10 bytes.
    let mut m = Mech::cbc_data(CKM_DES3_CBC_ENCRYPT_DATA, &iv, &data);
    let k = derive(s, &mut m, base3, &readable(CKK_GENERIC_SECRET).ulong(CKA_VALUE_LEN, 10)).unwrap();
    assert_eq!(h.get(s, k, CKA_VALUE).unwrap(), want[..10]);
    // A DES2 key from 24 bytes of data: its 16 leading bytes.
    let mut m = Mech::ecb_data(CKM_DES3_ECB_ENCRYPT_DATA, &data);
    let k = derive(s, &mut m, base3, &readable(CKK_DES2)).unwrap();
    let ecb = openssl(&["enc", "-des-ede3", "-nopad", "-K", &hex(&mk3)], &data);
    assert_eq!(h.get(s, k, CKA_VALUE).unwrap(), ecb[..16]);

    // AES masters: ECB into an AES-128 key, CBC into an AES-256 key.
    let amk = unhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    let abase = import(&h, s, CKK_AES, &amk);
    let adata: Vec<u8> = [serial.as_slice(), &[0x01, 0x80, 0, 0, 0, 0]].concat();
    let k = derive(s, &mut Mech::ecb_data(CKM_AES_ECB_ENCRYPT_DATA, &adata), abase, &readable(CKK_AES)).unwrap();
    let want = openssl(&["enc", "-aes-256-ecb", "-nopad", "-K", &hex(&amk)], &adata);
    assert_eq!(h.get(s, k, CKA_VALUE).unwrap(), want);
    assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), 16);
    let aiv = unhex("F0E0D0C0B0A090807060504030201000");
    let adata2 = [adata.clone(), emv_cps_data(&serial, 2)].concat();
    assert_eq!(adata2.len(), 32);
    let mut m = Mech::cbc_data(CKM_AES_CBC_ENCRYPT_DATA, &aiv, &adata2);
    let k = derive(s, &mut m, abase, &readable(CKK_AES)).unwrap();
    let want = openssl(&["enc", "-aes-256-cbc", "-nopad", "-K", &hex(&amk), "-iv", &hex(&aiv)], &adata2);
    assert_eq!(h.get(s, k, CKA_VALUE).unwrap(), want);
    assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), 32);
    // An AES-128 master too.
    let abase128 = import(&h, s, CKK_AES, &amk[..16]);
    let mut m = Mech::cbc_data(CKM_AES_CBC_ENCRYPT_DATA, &aiv, &adata);
    let k = derive(s, &mut m, abase128, &readable(CKK_AES)).unwrap();
    let want = openssl(&["enc", "-aes-128-cbc", "-nopad", "-K", &hex(&amk[..16]), "-iv", &hex(&aiv)], &adata);
    assert_eq!(h.get(s, k, CKA_VALUE).unwrap(), want);
}

#[test]
fn derived_keys_record_their_provenance() {
    let (h, s) = Hsm::ready();
    let data = unhex("00112233445566778899AABBCCDDEEFF");
    // A master generated in the token, sensitive and never extractable.
    let t = Tmpl::new().token(false).bool(CKA_DERIVE, true).bool(CKA_SENSITIVE, true).bool(CKA_EXTRACTABLE, false);
    let master = h.generate_key(s, CKM_DES2_KEY_GEN, &t).unwrap();
    assert!(h.get_bool(s, master, CKA_ALWAYS_SENSITIVE));
    assert!(h.get_bool(s, master, CKA_NEVER_EXTRACTABLE));
    let kept = secret(CKK_DES2).bool(CKA_SENSITIVE, true).bool(CKA_EXTRACTABLE, false).bool(CKA_ENCRYPT, true);
    let k = derive(s, &mut Mech::ecb_data(CKM_DES3_ECB_ENCRYPT_DATA, &data), master, &kept).unwrap();
    assert!(!h.get_bool(s, k, CKA_LOCAL));
    assert_eq!(h.get_ulong(s, k, CKA_FERRO_ORIGIN), ORIGIN_DERIVED);
    assert_eq!(h.get_ulong(s, k, CKA_KEY_GEN_MECHANISM), CK_UNAVAILABLE_INFORMATION);
    assert!(h.get_bool(s, k, CKA_ALWAYS_SENSITIVE), "inherited from the master");
    assert!(h.get_bool(s, k, CKA_NEVER_EXTRACTABLE), "inherited from the master");
    assert_eq!(rv(h.get(s, k, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE);
    assert_eq!(h.get(s, k, CKA_CHECK_VALUE).unwrap().len(), 3);
    // Deriving the same data again gives the same key (same check value).
    let k_again = derive(s, &mut Mech::ecb_data(CKM_DES3_ECB_ENCRYPT_DATA, &data), master, &kept).unwrap();
    assert_eq!(h.get(s, k, CKA_CHECK_VALUE).unwrap(), h.get(s, k_again, CKA_CHECK_VALUE).unwrap());
    // A derived key that is readable was never "always sensitive".
    let k = derive(s, &mut Mech::ecb_data(CKM_DES3_ECB_ENCRYPT_DATA, &data), master, &readable(CKK_DES2)).unwrap();
    assert!(!h.get_bool(s, k, CKA_ALWAYS_SENSITIVE));
    assert!(!h.get_bool(s, k, CKA_NEVER_EXTRACTABLE));
    // From an imported master, neither holds, whatever the new key's attributes.
    let imported = h
        .create(
            s,
            &secret(CKK_DES2)
                .bytes(CKA_VALUE, &data)
                .bool(CKA_DERIVE, true)
                .bool(CKA_SENSITIVE, true)
                .bool(CKA_EXTRACTABLE, false),
        )
        .unwrap();
    let k = derive(s, &mut Mech::ecb_data(CKM_DES3_ECB_ENCRYPT_DATA, &data), imported, &kept).unwrap();
    assert!(!h.get_bool(s, k, CKA_ALWAYS_SENSITIVE));
    assert!(!h.get_bool(s, k, CKA_NEVER_EXTRACTABLE));
    assert_eq!(h.get_ulong(s, k, CKA_FERRO_ORIGIN), ORIGIN_DERIVED);
    // The same for AES.
    let t = Tmpl::new().token(false).ulong(CKA_VALUE_LEN, 32).bool(CKA_DERIVE, true).bool(CKA_EXTRACTABLE, false);
    let amaster = h.generate_key(s, CKM_AES_KEY_GEN, &t).unwrap();
    let kept = secret(CKK_AES).bool(CKA_SENSITIVE, true).bool(CKA_EXTRACTABLE, false);
    let mut m = Mech::cbc_data(CKM_AES_CBC_ENCRYPT_DATA, &[9; 16], &data);
    let k = derive(s, &mut m, amaster, &kept).unwrap();
    assert!(!h.get_bool(s, k, CKA_LOCAL));
    assert_eq!(h.get_ulong(s, k, CKA_FERRO_ORIGIN), ORIGIN_DERIVED);
    assert!(h.get_bool(s, k, CKA_ALWAYS_SENSITIVE));
    assert!(h.get_bool(s, k, CKA_NEVER_EXTRACTABLE));
}

#[test]
fn derivation_errors() {
    let (h, s) = Hsm::ready();
    let des = import(&h, s, CKK_DES3, &[0x2c; 24]);
    let aes = import(&h, s, CKK_AES, &[0x2c; 16]);
    let t = readable(CKK_GENERIC_SECRET);
    // Data that is not a whole number of blocks, or empty.
    for (m, base, len) in [
        (CKM_DES3_ECB_ENCRYPT_DATA, des, 12),
        (CKM_DES3_ECB_ENCRYPT_DATA, des, 0),
        (CKM_AES_ECB_ENCRYPT_DATA, aes, 8),
        (CKM_AES_ECB_ENCRYPT_DATA, aes, 24),
    ] {
        assert_eq!(derive(s, &mut Mech::ecb_data(m, &vec![1; len]), base, &t), Err(CKR_DATA_LEN_RANGE), "{m:#x} {len}");
    }
    assert_eq!(
        derive(s, &mut Mech::cbc_data(CKM_DES3_CBC_ENCRYPT_DATA, &[0; 8], &[1; 9]), des, &t),
        Err(CKR_DATA_LEN_RANGE)
    );
    assert_eq!(
        derive(s, &mut Mech::cbc_data(CKM_AES_CBC_ENCRYPT_DATA, &[0; 16], &[1; 17]), aes, &t),
        Err(CKR_DATA_LEN_RANGE)
    );
    // A key longer than the data.
    let long = readable(CKK_GENERIC_SECRET).ulong(CKA_VALUE_LEN, 17);
    assert_eq!(
        derive(s, &mut Mech::ecb_data(CKM_AES_ECB_ENCRYPT_DATA, &[1; 16]), aes, &long),
        Err(CKR_TEMPLATE_INCONSISTENT)
    );
    assert_eq!(
        derive(s, &mut Mech::ecb_data(CKM_DES3_ECB_ENCRYPT_DATA, &[1; 16]), des, &readable(CKK_DES3)),
        Err(CKR_TEMPLATE_INCONSISTENT),
        "a DES3 key needs 24 bytes"
    );
    // Parameters: missing, or the other mode's structure.
    assert_eq!(derive(s, &mut Mech::new(CKM_DES3_ECB_ENCRYPT_DATA), des, &t), Err(CKR_MECHANISM_PARAM_INVALID));
    let mut wrong = Mech::cbc_data(CKM_DES3_CBC_ENCRYPT_DATA, &[0; 16], &[1; 16]);
    assert_eq!(derive(s, &mut wrong, des, &t), Err(CKR_MECHANISM_PARAM_INVALID));
    let mut wrong = Mech::ecb_data(CKM_AES_CBC_ENCRYPT_DATA, &[1; 16]);
    assert_eq!(derive(s, &mut wrong, aes, &t), Err(CKR_MECHANISM_PARAM_INVALID));
    // Key types and usage.
    let mut m = Mech::ecb_data(CKM_AES_ECB_ENCRYPT_DATA, &[1; 16]);
    assert_eq!(derive(s, &mut m, des, &t), Err(CKR_KEY_TYPE_INCONSISTENT));
    let mut m = Mech::ecb_data(CKM_DES3_ECB_ENCRYPT_DATA, &[1; 16]);
    assert_eq!(derive(s, &mut m, aes, &t), Err(CKR_KEY_TYPE_INCONSISTENT));
    let no_derive = h.create(s, &secret(CKK_DES3).bytes(CKA_VALUE, &[0x2c; 24])).unwrap();
    let mut m = Mech::ecb_data(CKM_DES3_ECB_ENCRYPT_DATA, &[1; 16]);
    assert_eq!(derive(s, &mut m, no_derive, &t), Err(CKR_KEY_FUNCTION_NOT_PERMITTED));
    // The derived key must be a secret key.
    let mut m = Mech::ecb_data(CKM_DES3_ECB_ENCRYPT_DATA, &[1; 16]);
    let bad = Tmpl::new().class(CKO_DATA);
    assert_eq!(derive(s, &mut m, des, &bad), Err(CKR_TEMPLATE_INCONSISTENT));
}

/// Signed evidence (`CKM_FERRO_KEY_ATTEST_EVIDENCE`) covers 3DES keys: a card key
/// derived from a generated master shows its type, check value and provenance.
#[test]
fn evidence_attests_a_derived_card_key() {
    const CKM_FERRO_KEY_ATTEST_EVIDENCE: CK_MECHANISM_TYPE = 0xC648_0002;
    let (h, s) = Hsm::ready();
    let t = Tmpl::new().token(false).bool(CKA_DERIVE, true).bool(CKA_EXTRACTABLE, false);
    let master = h.generate_key(s, CKM_DES3_KEY_GEN, &t).unwrap();
    let kept = secret(CKK_DES2).bool(CKA_SENSITIVE, true).bool(CKA_EXTRACTABLE, false);
    let data = emv_cps_data(&unhex("4F2A00319C77D1E50A11"), 1);
    let k = derive(s, &mut Mech::ecb_data(CKM_DES3_ECB_ENCRYPT_DATA, &data), master, &kept).unwrap();
    let der = sign(s, &mut Mech::new(CKM_FERRO_KEY_ATTEST_EVIDENCE), k, b"nonce").unwrap();
    let content = openssl(&["cms", "-verify", "-noverify", "-inform", "DER"], &der);
    let json: serde_json::Value = serde_json::from_slice(&content).expect("the content is JSON");
    let key = &json["key"];
    assert_eq!(key["type"], "DES2");
    assert_eq!(key["class"], "secret");
    assert_eq!(key["origin"], "derived");
    assert_eq!(key["check_value"], hex(&h.get(s, k, CKA_CHECK_VALUE).unwrap()));
    assert_eq!(key["security"]["local"], false);
    assert_eq!(key["security"]["always_sensitive"], true);
    assert_eq!(key["security"]["never_extractable"], true);
}
