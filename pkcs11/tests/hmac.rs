//! HMAC and generic secrets through the built module: generic secret generation,
//! RFC 4231 / RFC 2202 known answers, general-length MACs, single- and multi-part
//! signing and verification, key types and sizes, mechanism info, and agreement
//! with `openssl dgst -hmac`.

#[macro_use]
mod common;

use std::ptr;

use common::*;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// A mechanism, with a `CK_MAC_GENERAL_PARAMS` when it has one.
struct Mech {
    ty: CK_MECHANISM_TYPE,
    len: Option<Box<CK_ULONG>>,
}

impl Mech {
    fn new(ty: CK_MECHANISM_TYPE) -> Self {
        Self { ty, len: None }
    }
    fn general(ty: CK_MECHANISM_TYPE, n: CK_ULONG) -> Self {
        Self { ty, len: Some(Box::new(n)) }
    }
    fn raw(&mut self) -> CK_MECHANISM {
        match &mut self.len {
            None => CK_MECHANISM { mechanism: self.ty, pParameter: ptr::null_mut(), ulParameterLen: 0 },
            Some(n) => CK_MECHANISM {
                mechanism: self.ty,
                pParameter: &mut **n as *mut CK_ULONG as *mut _,
                ulParameterLen: size_of::<CK_ULONG>() as CK_ULONG,
            },
        }
    }
}

fn sign(s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    let mut raw = m.raw();
    match call!(C_SignInit, s, &mut raw, k) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut n = 0;
    match call!(C_Sign, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, ptr::null_mut(), &mut n) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut out = vec![0u8; n as usize];
    match call!(C_Sign, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    assert_eq!(n as usize, out.len(), "the length query is exact");
    Ok(out)
}

fn sign_parts(s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8], part: usize) -> Vec<u8> {
    let mut raw = m.raw();
    assert_eq!(call!(C_SignInit, s, &mut raw, k), CKR_OK);
    for p in data.chunks(part) {
        assert_eq!(call!(C_SignUpdate, s, p.as_ptr() as *mut _, p.len() as CK_ULONG), CKR_OK);
    }
    let mut n = 0;
    assert_eq!(call!(C_SignFinal, s, ptr::null_mut(), &mut n), CKR_OK);
    let mut out = vec![0u8; n as usize];
    assert_eq!(call!(C_SignFinal, s, out.as_mut_ptr(), &mut n), CKR_OK);
    out
}

fn verify(s: CK_SESSION_HANDLE, m: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    let mut raw = m.raw();
    match call!(C_VerifyInit, s, &mut raw, k) {
        CKR_OK => {}
        rv => return rv,
    }
    call!(C_Verify, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, sig.as_ptr() as *mut _, sig.len() as CK_ULONG)
}

fn verify_parts(
    s: CK_SESSION_HANDLE,
    m: &mut Mech,
    k: CK_OBJECT_HANDLE,
    data: &[u8],
    sig: &[u8],
    part: usize,
) -> CK_RV {
    let mut raw = m.raw();
    assert_eq!(call!(C_VerifyInit, s, &mut raw, k), CKR_OK);
    for p in data.chunks(part) {
        assert_eq!(call!(C_VerifyUpdate, s, p.as_ptr() as *mut _, p.len() as CK_ULONG), CKR_OK);
    }
    call!(C_VerifyFinal, s, sig.as_ptr() as *mut _, sig.len() as CK_ULONG)
}

fn import(h: &Hsm, s: CK_SESSION_HANDLE, kt: CK_KEY_TYPE, value: &[u8]) -> CK_OBJECT_HANDLE {
    let t = Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, kt).token(false).bytes(CKA_VALUE, value);
    h.create(s, &t).expect("import a secret key")
}

fn generate(s: CK_SESSION_HANDLE, t: &Tmpl) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut m = Mech::new(CKM_GENERIC_SECRET_KEY_GEN).raw();
    let mut a = t.attrs();
    let mut h = 0;
    match call!(C_GenerateKey, s, &mut m, a.as_mut_ptr(), a.len() as CK_ULONG, &mut h) {
        CKR_OK => Ok(h),
        rv => Err(rv),
    }
}

/// Every HMAC: mechanism, general form, output length, matching key type.
const HMACS: [(CK_MECHANISM_TYPE, CK_MECHANISM_TYPE, usize, CK_KEY_TYPE, &str); 5] = [
    (CKM_SHA_1_HMAC, CKM_SHA_1_HMAC_GENERAL, 20, CKK_SHA_1_HMAC, "sha1"),
    (CKM_SHA224_HMAC, CKM_SHA224_HMAC_GENERAL, 28, CKK_SHA224_HMAC, "sha224"),
    (CKM_SHA256_HMAC, CKM_SHA256_HMAC_GENERAL, 32, CKK_SHA256_HMAC, "sha256"),
    (CKM_SHA384_HMAC, CKM_SHA384_HMAC_GENERAL, 48, CKK_SHA384_HMAC, "sha384"),
    (CKM_SHA512_HMAC, CKM_SHA512_HMAC_GENERAL, 64, CKK_SHA512_HMAC, "sha512"),
];

#[test]
fn generic_secret_generation() {
    let (h, s) = Hsm::ready();
    for len in [1, 16, 32, 64, 512] {
        let k = generate(s, &Tmpl::new().ulong(CKA_VALUE_LEN, len).token(false)).unwrap();
        assert!(h.get_bool(s, k, CKA_LOCAL));
        assert_eq!(h.get_ulong(s, k, CKA_KEY_GEN_MECHANISM), CKM_GENERIC_SECRET_KEY_GEN);
        assert_eq!(h.get_ulong(s, k, CKA_KEY_TYPE), CKK_GENERIC_SECRET);
        assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), len);
        assert_eq!(h.get(s, k, CKA_CHECK_VALUE).unwrap().len(), 3);
        let mac = sign(s, &mut Mech::new(CKM_SHA256_HMAC), k, b"data").unwrap();
        assert_eq!(verify(s, &mut Mech::new(CKM_SHA256_HMAC), k, b"data", &mac), CKR_OK);
    }
    // The check value is SHA-1 of the value, first 3 bytes.
    let k = generate(
        s,
        &Tmpl::new().ulong(CKA_VALUE_LEN, 20).token(false).bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true),
    )
    .unwrap();
    let value = h.get(s, k, CKA_VALUE).unwrap();
    assert_eq!(value.len(), 20);
    let mut d = CK_MECHANISM { mechanism: CKM_SHA_1, pParameter: ptr::null_mut(), ulParameterLen: 0 };
    assert_eq!(call!(C_DigestInit, s, &mut d), CKR_OK);
    let mut sha = [0u8; 20];
    let mut n = 20;
    assert_eq!(call!(C_Digest, s, value.as_ptr() as *mut _, 20, sha.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(h.get(s, k, CKA_CHECK_VALUE).unwrap(), sha[..3].to_vec());

    assert_eq!(generate(s, &Tmpl::new().token(false)), Err(CKR_TEMPLATE_INCOMPLETE));
    for bad in [0, 513, 100_000] {
        assert_eq!(generate(s, &Tmpl::new().ulong(CKA_VALUE_LEN, bad)), Err(CKR_ATTRIBUTE_VALUE_INVALID), "{bad}");
    }
    let t = Tmpl::new().ulong(CKA_VALUE_LEN, 32).ulong(CKA_KEY_TYPE, CKK_SHA256_HMAC);
    assert_eq!(generate(s, &t), Err(CKR_TEMPLATE_INCONSISTENT), "the mechanism makes generic secrets");
}

/// RFC 4231 test cases 1, 2 and 5 (truncated), and RFC 2202 for SHA-1.
#[test]
fn rfc_4231_known_answers() {
    let (h, s) = Hsm::ready();
    let k1 = import(&h, s, CKK_GENERIC_SECRET, &[0x0b; 20]);
    let hi = b"Hi There";
    for (m, mac) in [
        (CKM_SHA_1_HMAC, "b617318655057264e28bc0b6fb378c8ef146be00"),
        (CKM_SHA224_HMAC, "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22"),
        (CKM_SHA256_HMAC, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (
            CKM_SHA384_HMAC,
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
        ),
        (
            CKM_SHA512_HMAC,
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        ),
    ] {
        assert_eq!(hex(&sign(s, &mut Mech::new(m), k1, hi).unwrap()), mac, "{m:#x}");
        assert_eq!(verify(s, &mut Mech::new(m), k1, hi, &unhex(mac)), CKR_OK);
    }
    let jefe = import(&h, s, CKK_SHA256_HMAC, b"Jefe");
    let want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    let data = b"what do ya want for nothing?";
    assert_eq!(hex(&sign(s, &mut Mech::new(CKM_SHA256_HMAC), jefe, data).unwrap()), want);
    assert_eq!(hex(&sign_parts(s, &mut Mech::new(CKM_SHA256_HMAC), jefe, data, 3)), want);
    // Test case 5: truncated to 128 bits.
    let k5 = import(&h, s, CKK_GENERIC_SECRET, &[0x0c; 20]);
    let mut g = Mech::general(CKM_SHA256_HMAC_GENERAL, 16);
    assert_eq!(hex(&sign(s, &mut g, k5, b"Test With Truncation").unwrap()), "a3b6167473100ee06e0c796c2955552b");
    // Test case 6: a key longer than the block (131 bytes) is hashed first.
    let k6 = import(&h, s, CKK_GENERIC_SECRET, &[0xaa; 131]);
    let data = b"Test Using Larger Than Block-Size Key - Hash Key First";
    assert_eq!(
        hex(&sign(s, &mut Mech::new(CKM_SHA256_HMAC), k6, data).unwrap()),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[test]
fn every_hmac_signs_and_verifies_single_and_multi_part() {
    let (h, s) = Hsm::ready();
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 256) as u8).collect();
    for (m, general, len, kt, _) in HMACS {
        for key_type in [CKK_GENERIC_SECRET, kt] {
            for klen in [1, 20, 64, 200] {
                let k = import(&h, s, key_type, &vec![0x5c; klen]);
                let mac = sign(s, &mut Mech::new(m), k, &data).unwrap();
                assert_eq!(mac.len(), len);
                for part in [1, 63, 64, 1000] {
                    assert_eq!(sign_parts(s, &mut Mech::new(m), k, &data, part), mac, "{m:#x} parts of {part}");
                    assert_eq!(verify_parts(s, &mut Mech::new(m), k, &data, &mac, part), CKR_OK);
                }
                assert_eq!(verify(s, &mut Mech::new(m), k, &data, &mac), CKR_OK);
                let mut bad = mac.clone();
                bad[len - 1] ^= 1;
                assert_eq!(verify(s, &mut Mech::new(m), k, &data, &bad), CKR_SIGNATURE_INVALID);
                assert_eq!(verify_parts(s, &mut Mech::new(m), k, &data, &bad, 100), CKR_SIGNATURE_INVALID);
                assert_eq!(verify(s, &mut Mech::new(m), k, &data[1..], &mac), CKR_SIGNATURE_INVALID);
                assert_eq!(verify(s, &mut Mech::new(m), k, &data, &mac[..len - 1]), CKR_SIGNATURE_LEN_RANGE);
                // General length: any prefix from 1 byte to the full MAC.
                for n in [1, len / 2, len] {
                    let mut g = Mech::general(general, n as CK_ULONG);
                    assert_eq!(sign(s, &mut g, k, &data).unwrap(), mac[..n].to_vec());
                    assert_eq!(verify(s, &mut Mech::general(general, n as CK_ULONG), k, &data, &mac[..n]), CKR_OK);
                    let mut g = Mech::general(general, n as CK_ULONG);
                    assert_eq!(
                        verify(s, &mut g, k, &data, &mac),
                        if n == len { CKR_OK } else { CKR_SIGNATURE_LEN_RANGE }
                    );
                }
                for bad in [0, len + 1] {
                    let mut g = Mech::general(general, bad as CK_ULONG);
                    assert_eq!(sign(s, &mut g, k, &data), Err(CKR_MECHANISM_PARAM_INVALID), "length {bad}");
                }
                assert_eq!(sign(s, &mut Mech::general(m, len as CK_ULONG), k, &data), Err(CKR_MECHANISM_PARAM_INVALID));
            }
        }
    }
}

#[test]
fn hmac_key_types_sizes_usage_and_info() {
    let (h, s) = Hsm::ready();
    // The HMAC key type of another hash, and AES keys, are refused.
    let sha384_key = import(&h, s, CKK_SHA384_HMAC, &[1; 48]);
    assert_eq!(sign(s, &mut Mech::new(CKM_SHA256_HMAC), sha384_key, b"x"), Err(CKR_KEY_TYPE_INCONSISTENT));
    assert_eq!(sign(s, &mut Mech::new(CKM_SHA384_HMAC), sha384_key, b"x").unwrap().len(), 48);
    let aes = import(&h, s, CKK_AES, &[1; 32]);
    assert_eq!(sign(s, &mut Mech::new(CKM_SHA256_HMAC), aes, b"x"), Err(CKR_KEY_TYPE_INCONSISTENT));
    // Too long a key for the mechanism info.
    let huge = import(&h, s, CKK_GENERIC_SECRET, &[1; 513]);
    assert_eq!(sign(s, &mut Mech::new(CKM_SHA256_HMAC), huge, b"x"), Err(CKR_KEY_SIZE_RANGE));
    // Usage flags.
    let t = Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
        .token(false)
        .bytes(CKA_VALUE, &[2; 32])
        .bool(CKA_SIGN, false);
    let verify_only = h.create(s, &t).unwrap();
    assert_eq!(sign(s, &mut Mech::new(CKM_SHA256_HMAC), verify_only, b"x"), Err(CKR_KEY_FUNCTION_NOT_PERMITTED));
    let k = import(&h, s, CKK_GENERIC_SECRET, &[2; 32]);
    let mac = sign(s, &mut Mech::new(CKM_SHA256_HMAC), k, b"x").unwrap();
    assert_eq!(verify(s, &mut Mech::new(CKM_SHA256_HMAC), verify_only, b"x", &mac), CKR_OK);
    // A parameter on the fixed-length mechanism.
    assert_eq!(sign(s, &mut Mech::general(CKM_SHA256_HMAC, 32), k, b"x"), Err(CKR_MECHANISM_PARAM_INVALID));
    // HMAC mechanisms do not encrypt.
    let mut raw = Mech::new(CKM_SHA256_HMAC).raw();
    assert_eq!(call!(C_EncryptInit, s, &mut raw, k), CKR_MECHANISM_INVALID);

    // Mechanism info: HMAC key sizes in bytes, generic secret generation in bits.
    let info = |m| {
        let mut i = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
        assert_eq!(call!(C_GetMechanismInfo, 0, m, &mut i), CKR_OK);
        (i.ulMinKeySize, i.ulMaxKeySize, i.flags)
    };
    for (m, general, _, _, _) in HMACS {
        assert_eq!(info(m), (1, 512, SIGN_VERIFY));
        assert_eq!(info(general), (1, 512, SIGN_VERIFY));
    }
    assert_eq!(info(CKM_GENERIC_SECRET_KEY_GEN), (8, 4096, CKF_GENERATE));
}

/// The digest hex from `openssl dgst` output (`HMAC-SHA256(stdin)= ab12...`).
fn digest_hex(out: &[u8]) -> String {
    String::from_utf8_lossy(out).trim().rsplit(' ').next().unwrap().to_string()
}

#[test]
fn hmac_equals_openssl_dgst_hmac() {
    let (h, s) = Hsm::ready();
    let data: Vec<u8> = (0..777u32).map(|i| (i * 13 % 256) as u8).collect();
    for (m, _, _, kt, name) in HMACS {
        // `-hmac` takes the key as a string.
        let key = b"a passphrase-like HMAC key";
        let k = import(&h, s, kt, key);
        let theirs =
            digest_hex(&openssl(&["dgst", &format!("-{name}"), "-hmac", std::str::from_utf8(key).unwrap()], &data));
        assert_eq!(hex(&sign(s, &mut Mech::new(m), k, &data).unwrap()), theirs, "{name}");
        // A binary key, generated in the token and read back.
        let t =
            Tmpl::new().ulong(CKA_VALUE_LEN, 77).token(false).bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true);
        let g = generate(s, &t).unwrap();
        let value = h.get(s, g, CKA_VALUE).unwrap();
        let hexkey = format!("hexkey:{}", hex(&value));
        let theirs = digest_hex(&openssl(&["dgst", &format!("-{name}"), "-mac", "HMAC", "-macopt", &hexkey], &data));
        assert_eq!(hex(&sign(s, &mut Mech::new(m), g, &data).unwrap()), theirs, "{name}, binary key");
    }
}
