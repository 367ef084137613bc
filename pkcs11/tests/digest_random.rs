//! Message digests (single and multi-part, C_DigestKey, the length-query protocol)
//! and random numbers.

#[macro_use]
mod common;

use std::ptr;

use common::*;

fn mech(m: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM { mechanism: m, pParameter: ptr::null_mut(), ulParameterLen: 0 }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One-shot digest with the length query first.
fn digest(s: CK_SESSION_HANDLE, m: CK_MECHANISM_TYPE, data: &[u8]) -> Vec<u8> {
    let mut mm = mech(m);
    assert_eq!(call!(C_DigestInit, s, &mut mm), CKR_OK);
    let mut n = 0;
    assert_eq!(call!(C_Digest, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, ptr::null_mut(), &mut n), CKR_OK);
    let mut out = vec![0u8; n as usize];
    assert_eq!(call!(C_Digest, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n), CKR_OK);
    out.truncate(n as usize);
    out
}

/// FIPS 180-4 examples ("abc", the 448-bit message) and the empty message.
#[test]
fn digests_match_the_fips_180_examples() {
    let (h, s) = Hsm::ready();
    let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    let cases: &[(CK_MECHANISM_TYPE, &[u8], &str)] = &[
        (CKM_SHA_1, b"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (CKM_SHA_1, long, "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        (CKM_SHA224, b"abc", "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
        (CKM_SHA256, b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (CKM_SHA256, long, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        (CKM_SHA256, b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (
            CKM_SHA384,
            b"abc",
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            CKM_SHA512,
            b"abc",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
    ];
    for (m, data, want) in cases {
        assert_eq!(hex(&digest(s, *m, data)), *want, "mechanism {m:#x}");
    }
    drop(h);
}

#[test]
fn multi_part_equals_single_part() {
    let (_h, s) = Hsm::ready();
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let whole = digest(s, CKM_SHA384, &data);
    let mut m = mech(CKM_SHA384);
    assert_eq!(call!(C_DigestInit, s, &mut m), CKR_OK);
    for chunk in data.chunks(333) {
        assert_eq!(call!(C_DigestUpdate, s, chunk.as_ptr() as *mut _, chunk.len() as CK_ULONG), CKR_OK);
    }
    let mut n = 0;
    assert_eq!(call!(C_DigestFinal, s, ptr::null_mut(), &mut n), CKR_OK);
    assert_eq!(n, 48);
    let mut out = vec![0u8; 48];
    assert_eq!(call!(C_DigestFinal, s, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(out, whole);
    assert_eq!(call!(C_DigestFinal, s, out.as_mut_ptr(), &mut n), CKR_OPERATION_NOT_INITIALIZED, "finished");
}

#[test]
fn the_length_query_and_a_short_buffer_keep_the_operation() {
    let (_h, s) = Hsm::ready();
    let mut m = mech(CKM_SHA256);
    assert_eq!(call!(C_DigestInit, s, &mut m), CKR_OK);
    let mut small = [0u8; 31];
    let mut n = 31;
    assert_eq!(call!(C_Digest, s, b"abc".as_ptr() as *mut _, 3, small.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
    assert_eq!(n, 32, "the needed length");
    let mut out = [0u8; 64];
    let mut n = 64;
    assert_eq!(call!(C_Digest, s, b"abc".as_ptr() as *mut _, 3, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(n, 32);
    assert_eq!(hex(&out[..2]), "ba78");
    assert_eq!(
        call!(C_Digest, s, b"abc".as_ptr() as *mut _, 3, out.as_mut_ptr(), &mut n),
        CKR_OPERATION_NOT_INITIALIZED
    );
    // A null length pointer is a bad argument.
    assert_eq!(call!(C_DigestInit, s, &mut m), CKR_OK);
    assert_eq!(call!(C_Digest, s, b"abc".as_ptr() as *mut _, 3, out.as_mut_ptr(), ptr::null_mut()), CKR_ARGUMENTS_BAD);
}

#[test]
fn digest_misuse_is_reported() {
    let (_h, s) = Hsm::ready();
    let mut m = mech(CKM_SHA256);
    let mut n = 64;
    let mut out = [0u8; 64];
    assert_eq!(call!(C_DigestUpdate, s, b"x".as_ptr() as *mut _, 1), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(call!(C_DigestInit, s, &mut m), CKR_OK);
    assert_eq!(call!(C_DigestInit, s, &mut m), CKR_OPERATION_ACTIVE);
    // C_Digest cannot finish a multi-part digest; the error ends the operation.
    assert_eq!(call!(C_DigestUpdate, s, b"x".as_ptr() as *mut _, 1), CKR_OK);
    assert_eq!(call!(C_Digest, s, b"x".as_ptr() as *mut _, 1, out.as_mut_ptr(), &mut n), CKR_OPERATION_ACTIVE);
    assert_eq!(call!(C_DigestFinal, s, out.as_mut_ptr(), &mut n), CKR_OPERATION_NOT_INITIALIZED);
    // Not a digest mechanism, or a parameter where none belongs.
    let mut bad = mech(CKM_AES_ECB);
    assert_eq!(call!(C_DigestInit, s, &mut bad), CKR_MECHANISM_INVALID);
    let mut p = [0u8; 4];
    let mut with_param =
        CK_MECHANISM { mechanism: CKM_SHA256, pParameter: p.as_mut_ptr() as *mut _, ulParameterLen: 4 };
    assert_eq!(call!(C_DigestInit, s, &mut with_param), CKR_MECHANISM_PARAM_INVALID);
    assert_eq!(call!(C_DigestInit, 12345, &mut m), CKR_SESSION_HANDLE_INVALID);
}

#[test]
fn digest_key_hashes_a_secret_key_that_stays_inside() {
    let (h, s) = Hsm::ready();
    let value: Vec<u8> = (1..=32).collect();
    let key = h.create(s, &aes_key("k", &value)).unwrap();
    assert_eq!(h.get(s, key, CKA_VALUE), Err(CKR_ATTRIBUTE_SENSITIVE));
    let mut prefix = b"prefix".to_vec();
    prefix.extend_from_slice(&value);
    let want = digest(s, CKM_SHA256, &prefix);
    let mut m = mech(CKM_SHA256);
    assert_eq!(call!(C_DigestInit, s, &mut m), CKR_OK);
    assert_eq!(call!(C_DigestUpdate, s, b"prefix".as_ptr() as *mut _, 6), CKR_OK);
    assert_eq!(call!(C_DigestKey, s, key), CKR_OK);
    let mut out = [0u8; 32];
    let mut n = 32;
    assert_eq!(call!(C_DigestFinal, s, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(out.to_vec(), want);
    // Not a secret key, or not a key at all.
    let d = h.create(s, &data("d", false)).unwrap();
    assert_eq!(call!(C_DigestInit, s, &mut m), CKR_OK);
    assert_eq!(call!(C_DigestKey, s, d), CKR_KEY_INDIGESTIBLE);
    assert_eq!(call!(C_DigestInit, s, &mut m), CKR_OK);
    assert_eq!(call!(C_DigestKey, s, 99_999), CKR_KEY_HANDLE_INVALID);
}

#[test]
fn random_bytes_come_in_any_length_and_seeding_is_accepted() {
    let (h, s) = Hsm::ready();
    let mut a = vec![0u8; 1000];
    let mut b = vec![0u8; 1000];
    assert_eq!(call!(C_GenerateRandom, s, a.as_mut_ptr(), 1000), CKR_OK);
    assert_eq!(call!(C_GenerateRandom, s, b.as_mut_ptr(), 1000), CKR_OK);
    assert_ne!(a, b);
    // Not all zero, and roughly balanced (8000 bits: a fair count is 4000 ± 200).
    let ones: u32 = a.iter().map(|x| x.count_ones()).sum();
    assert!((3700..4300).contains(&ones), "{ones} one bits of 8000");
    assert_eq!(call!(C_GenerateRandom, s, ptr::null_mut(), 0), CKR_OK);
    assert_eq!(call!(C_SeedRandom, s, b"some seed".as_ptr() as *mut _, 9), CKR_OK);
    let mut c = vec![0u8; 1000];
    assert_eq!(call!(C_GenerateRandom, s, c.as_mut_ptr(), 1000), CKR_OK);
    assert_ne!(c, a);
    assert_ne!(c, vec![0u8; 1000]);
    // Works in a public session too.
    let public = h.open(0, false);
    assert_eq!(call!(C_Logout, s), CKR_OK);
    assert_eq!(call!(C_GenerateRandom, public, c.as_mut_ptr(), 16), CKR_OK);
    assert_eq!(call!(C_GenerateRandom, 4242, c.as_mut_ptr(), 16), CKR_SESSION_HANDLE_INVALID);
}
