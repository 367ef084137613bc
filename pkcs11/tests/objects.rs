//! Object management (PKCS#11 v3.0 §5.7) and the attribute tables of §4, through
//! the built module: creating each class, defaults, the attributes the token keeps,
//! template errors, visibility and roles, the `C_GetAttributeValue` protocol (arrays
//! of attributes included), `C_SetAttributeValue`, `C_CopyObject`, `C_DestroyObject`,
//! object lifetimes, `C_FindObjects*`, `C_GetObjectSize` and the partition object.
//!
//! Expected values come from the spec or from outside the module: SHA-1 and AES
//! from the `openssl` command line, certificate fields and EC keys parsed here.

#[macro_use]
mod common;

use std::ptr;
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;

/// `sizeof(CK_ULONG)` on this platform.
const UL: usize = size_of::<CK_ULONG>();
/// `sizeof(CK_ATTRIBUTE)`.
const ATTR: usize = size_of::<CK_ATTRIBUTE>();
/// AES-128 key 000102…0f.
const KEY16: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
/// AES-128(000102…0f, zero block), first bytes (FIPS-197 key; checked against
/// `openssl enc -aes-128-ecb -nopad` in the test that uses it).
const KEY16_CHECK: [u8; 3] = [0xc6, 0xa1, 0x3b];
// ---------------------------------------------------------------------------
// Helpers

/// A native `CK_ULONG` value.
fn ulong(v: &[u8]) -> CK_ULONG {
    CK_ULONG::from_ne_bytes(v.try_into().expect("a CK_ULONG is sizeof(CK_ULONG) bytes"))
}

/// An attribute for `C_GetAttributeValue`: a length query, or a buffer to fill.
fn slot(ty: CK_ATTRIBUTE_TYPE, buf: Option<&mut [u8]>) -> CK_ATTRIBUTE {
    match buf {
        Some(b) => CK_ATTRIBUTE { type_: ty, pValue: b.as_mut_ptr() as *mut _, ulValueLen: b.len() as CK_ULONG },
        None => CK_ATTRIBUTE { type_: ty, pValue: ptr::null_mut(), ulValueLen: 0 },
    }
}

/// `C_GetAttributeValue` on a caller-built template.
fn get_raw(s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, t: &mut [CK_ATTRIBUTE]) -> CK_RV {
    call!(C_GetAttributeValue, s, o, t.as_mut_ptr(), t.len() as CK_ULONG)
}

/// A `CK_MECHANISM_TYPE` array's bytes.
fn mech_list(m: &[CK_MECHANISM_TYPE]) -> Vec<u8> {
    m.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

/// SHA-1, by openssl.
fn sha1(data: &[u8]) -> Vec<u8> {
    openssl(&["dgst", "-sha1", "-binary"], data)
}

/// AES-ECB of one zero block under `key`, by openssl.
fn aes_zero_block(key: &[u8]) -> Vec<u8> {
    let cipher = format!("-aes-{}-ecb", key.len() * 8);
    openssl(&["enc", &cipher, "-nopad", "-K", &hex(key)], &[0u8; 16])
}

/// One DER TLV at the start of `b`: (whole encoding, contents, what follows).
fn tlv(b: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let first = b[1] as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        (b[2..2 + n].iter().fold(0usize, |a, &x| (a << 8) | x as usize), 2 + n)
    };
    (&b[..hdr + len], &b[hdr..hdr + len], &b[hdr + len..])
}

/// The fields PKCS#11 copies out of an X.509 certificate, each as its DER.
struct CertFields {
    serial: Vec<u8>,
    issuer: Vec<u8>,
    subject: Vec<u8>,
    spki: Vec<u8>,
}

/// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
/// serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ... } ... }
fn cert_fields(der: &[u8]) -> CertFields {
    let (_, cert, _) = tlv(der);
    let (_, mut tbs, _) = tlv(cert);
    let mut next = || {
        let (whole, _, rest) = tlv(tbs);
        tbs = rest;
        whole.to_vec()
    };
    let mut serial = next();
    if serial[0] == 0xa0 {
        serial = next();
    }
    let _signature = next();
    let issuer = next();
    let _validity = next();
    let subject = next();
    let spki = next();
    CertFields { serial, issuer, subject, spki }
}

/// A real P-256 key pair made by openssl.
struct EcKey {
    /// The private value d.
    d: Vec<u8>,
    /// `CKA_EC_POINT`: the DER OCTET STRING around the uncompressed point.
    point: Vec<u8>,
    /// The SubjectPublicKeyInfo.
    spki: Vec<u8>,
}

fn ec_key() -> EcKey {
    // ECPrivateKey ::= SEQUENCE { version, privateKey OCTET STRING, [0] params, [1] publicKey }
    let der = openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-outform", "DER"], &[]);
    let spki = openssl(&["ec", "-inform", "DER", "-pubout", "-outform", "DER"], &der);
    let (_, body, _) = tlv(&der);
    let (_, _, rest) = tlv(body);
    let (_, d, _) = tlv(rest);
    // SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey BIT STRING }
    let (_, spki_body, _) = tlv(&spki);
    let (_, _, rest) = tlv(spki_body);
    let (_, bits, _) = tlv(rest);
    let q = &bits[1..];
    let mut point = vec![0x04, q.len() as u8];
    point.extend_from_slice(q);
    EcKey { d: d.to_vec(), point, spki }
}

/// Seconds since the epoch of a `YYYYMMDDhhmmssZ` stamp.
fn stamp_seconds(s: &[u8]) -> i64 {
    assert_eq!(s.len(), 15, "YYYYMMDDhhmmssZ: {:?}", String::from_utf8_lossy(s));
    assert_eq!(s[14], b'Z');
    assert!(s[..14].iter().all(u8::is_ascii_digit), "{:?}", String::from_utf8_lossy(s));
    let n = |r: std::ops::Range<usize>| std::str::from_utf8(&s[r]).unwrap().parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    let (hh, mm, ss) = (n(8..10), n(10..12), n(12..14));
    assert!((1..=12).contains(&m) && (1..=31).contains(&d) && hh < 24 && mm < 60 && ss < 61);
    // Days from civil (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A secret key template with no `CKA_TOKEN` (a session object by default).
fn secret(kt: CK_KEY_TYPE, label: &str, value: &[u8]) -> Tmpl {
    Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, kt).label(label).bytes(CKA_VALUE, value)
}

/// A session AES key with every default.
fn aes(label: &str, value: &[u8]) -> Tmpl {
    secret(CKK_AES, label, value)
}

/// A secret key anyone may read: public, not sensitive, extractable.
fn open_aes(label: &str, value: &[u8]) -> Tmpl {
    aes(label, value).bool(CKA_PRIVATE, false).bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true)
}

fn ec_public(label: &str, k: &EcKey) -> Tmpl {
    Tmpl::new()
        .class(CKO_PUBLIC_KEY)
        .ulong(CKA_KEY_TYPE, CKK_EC)
        .label(label)
        .bytes(CKA_EC_PARAMS, P256)
        .bytes(CKA_EC_POINT, &k.point)
}

fn ec_private(label: &str, k: &EcKey) -> Tmpl {
    Tmpl::new()
        .class(CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_EC)
        .label(label)
        .bytes(CKA_EC_PARAMS, P256)
        .bytes(CKA_VALUE, &k.d)
}

fn rsa_public(label: &str) -> Tmpl {
    let mut modulus = vec![0xc5u8; 256];
    modulus[255] |= 1;
    Tmpl::new()
        .class(CKO_PUBLIC_KEY)
        .ulong(CKA_KEY_TYPE, CKK_RSA)
        .label(label)
        .bytes(CKA_MODULUS, &modulus)
        .bytes(CKA_PUBLIC_EXPONENT, &[1, 0, 1])
}

fn x509(label: &str, der: &[u8]) -> Tmpl {
    Tmpl::new().class(CKO_CERTIFICATE).ulong(CKA_CERTIFICATE_TYPE, CKC_X_509).label(label).bytes(CKA_VALUE, der)
}

/// Slot 0 initialised, with a R/W session where nobody is logged in.
fn no_login() -> (Hsm, CK_SESSION_HANDLE) {
    let h = Hsm::fresh();
    h.init_token(0, SO_PIN, "test");
    h.init_user(0, USER_PIN);
    let s = h.open(0, true);
    (h, s)
}

/// The handles of one find, read `chunk` at a time: the chunk sizes and the handles.
fn find_in_chunks(s: CK_SESSION_HANDLE, t: &Tmpl, chunk: usize) -> (Vec<usize>, Vec<CK_OBJECT_HANDLE>) {
    let mut a = t.attrs();
    assert_rv!(call!(C_FindObjectsInit, s, a.as_mut_ptr(), a.len() as CK_ULONG), CKR_OK);
    let (mut sizes, mut all) = (Vec::new(), Vec::new());
    loop {
        let mut buf = vec![0 as CK_OBJECT_HANDLE; chunk];
        let mut n: CK_ULONG = 0;
        assert_rv!(call!(C_FindObjects, s, buf.as_mut_ptr(), chunk as CK_ULONG, &mut n), CKR_OK);
        assert!(n as usize <= chunk);
        sizes.push(n as usize);
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n as usize]);
    }
    assert_rv!(call!(C_FindObjectsFinal, s), CKR_OK);
    (sizes, all)
}

fn sorted(mut v: Vec<CK_OBJECT_HANDLE>) -> Vec<CK_OBJECT_HANDLE> {
    v.sort_unstable();
    v
}

/// Reads an array-of-attributes value with the three calls of §5.7
/// (`C_GetAttributeValue`): the array's size, each element's length, the values.
fn read_array(s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)> {
    let mut a = [slot(ty, None)];
    assert_rv!(get_raw(s, o, &mut a), CKR_OK, "size of {ty:#x}");
    let size = a[0].ulValueLen as usize;
    assert_eq!(size % ATTR, 0, "the size of an array of attributes is n * sizeof(CK_ATTRIBUTE)");
    let n = size / ATTR;
    // "the type element of attributes within the array MUST be ignored on input and
    // MUST be set on output"
    let mut inner = vec![CK_ATTRIBUTE { type_: 0xdead, pValue: ptr::null_mut(), ulValueLen: 0 }; n];
    let mut a = [CK_ATTRIBUTE { type_: ty, pValue: inner.as_mut_ptr() as *mut _, ulValueLen: size as CK_ULONG }];
    assert_rv!(get_raw(s, o, &mut a), CKR_OK, "lengths in {ty:#x}");
    assert_eq!(a[0].ulValueLen as usize, size);
    assert!(inner.iter().all(|x| x.type_ != 0xdead && x.ulValueLen != CK_UNAVAILABLE_INFORMATION));
    let mut bufs: Vec<Vec<u8>> = inner.iter().map(|x| vec![0u8; x.ulValueLen as usize]).collect();
    for (x, b) in inner.iter_mut().zip(bufs.iter_mut()) {
        x.pValue = b.as_mut_ptr() as *mut _;
        x.ulValueLen = b.len() as CK_ULONG;
    }
    let mut a = [CK_ATTRIBUTE { type_: ty, pValue: inner.as_mut_ptr() as *mut _, ulValueLen: size as CK_ULONG }];
    assert_rv!(get_raw(s, o, &mut a), CKR_OK, "values in {ty:#x}");
    let mut out: Vec<_> = inner.iter().zip(bufs).map(|(x, b)| (x.type_, b[..x.ulValueLen as usize].to_vec())).collect();
    out.sort_by_key(|(t, _)| *t);
    out
}

// ---------------------------------------------------------------------------
// Creating each class

#[test]
fn data_objects_public_and_private() {
    let (h, s) = Hsm::ready();
    let oid = [0x06, 0x03, 0x2a, 0x03, 0x04];
    let public = h
        .create(
            s,
            &Tmpl::new()
                .class(CKO_DATA)
                .label("pub")
                .bytes(CKA_APPLICATION, b"app")
                .bytes(CKA_OBJECT_ID, &oid)
                .bytes(CKA_VALUE, b"hello"),
        )
        .unwrap();
    assert_ne!(public, CK_INVALID_HANDLE);
    assert_eq!(h.get_ulong(s, public, CKA_CLASS), CKO_DATA);
    assert_eq!(h.get(s, public, CKA_LABEL).unwrap(), b"pub");
    assert_eq!(h.get(s, public, CKA_APPLICATION).unwrap(), b"app");
    assert_eq!(h.get(s, public, CKA_OBJECT_ID).unwrap(), oid);
    assert_eq!(h.get(s, public, CKA_VALUE).unwrap(), b"hello");
    assert!(!h.get_bool(s, public, CKA_PRIVATE), "data objects are public by default");
    assert!(!h.get_bool(s, public, CKA_TOKEN));

    let private =
        h.create(s, &data("priv", true).bool(CKA_PRIVATE, true)).expect("a private data object, user logged in");
    assert!(h.get_bool(s, private, CKA_PRIVATE));
    assert!(h.get_bool(s, private, CKA_TOKEN));
    // A data object's value is not key material: it reads back.
    assert_eq!(h.get(s, private, CKA_VALUE).unwrap(), b"some data");

    // CKA_CLASS alone makes a data object; the rest is empty by default (data object attributes).
    let bare = h.create(s, &Tmpl::new().class(CKO_DATA)).unwrap();
    for ty in [CKA_LABEL, CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE] {
        assert_eq!(h.get(s, bare, ty).unwrap(), b"", "{ty:#x} defaults to empty");
    }
}

#[test]
fn a_certificate_takes_its_fields_from_the_der_and_its_check_value_from_sha1() {
    let (h, s) = Hsm::ready();
    let der = certificate("objects-test");
    let f = cert_fields(&der);
    let c = h.create(s, &x509("cert", &der).token(true)).unwrap();
    assert_eq!(h.get_ulong(s, c, CKA_CLASS), CKO_CERTIFICATE);
    assert_eq!(h.get_ulong(s, c, CKA_CERTIFICATE_TYPE), CKC_X_509);
    assert_eq!(h.get(s, c, CKA_VALUE).unwrap(), der);
    assert!(f.subject.windows(12).any(|w| w == b"objects-test"));
    assert_eq!(h.get(s, c, CKA_SUBJECT).unwrap(), f.subject, "CKA_SUBJECT from the DER");
    assert_eq!(h.get(s, c, CKA_ISSUER).unwrap(), f.issuer, "CKA_ISSUER from the DER");
    assert_eq!(h.get(s, c, CKA_SERIAL_NUMBER).unwrap(), f.serial, "CKA_SERIAL_NUMBER from the DER");
    assert_eq!(h.get(s, c, CKA_PUBLIC_KEY_INFO).unwrap(), f.spki, "CKA_PUBLIC_KEY_INFO from the DER");
    // §4.6.3: the first three bytes of the SHA-1 hash of CKA_VALUE.
    let check = sha1(&der)[..3].to_vec();
    assert_eq!(h.get(s, c, CKA_CHECK_VALUE).unwrap(), check);
    assert_eq!(h.get_ulong(s, c, CKA_CERTIFICATE_CATEGORY), CK_CERTIFICATE_CATEGORY_UNSPECIFIED);
    assert!(!h.get_bool(s, c, CKA_TRUSTED));
    assert!(!h.get_bool(s, c, CKA_PRIVATE), "certificates are public by default");
    assert_eq!(h.get(s, c, CKA_ID).unwrap(), b"");

    // A check value may accompany the import; it must match.
    h.create(s, &x509("checked", &der).bytes(CKA_CHECK_VALUE, &check)).expect("right CKA_CHECK_VALUE");
    let mut wrong = check.clone();
    wrong[0] ^= 1;
    assert_rv!(rv(h.create(s, &x509("wrong", &der).bytes(CKA_CHECK_VALUE, &wrong))), CKR_ATTRIBUTE_VALUE_INVALID);
}

#[test]
fn rsa_and_ec_public_keys_are_imported_with_their_defaults() {
    let (h, s) = Hsm::ready();
    let rsa = h.create(s, &rsa_public("rsa")).unwrap();
    assert_eq!(h.get_ulong(s, rsa, CKA_CLASS), CKO_PUBLIC_KEY);
    assert_eq!(h.get_ulong(s, rsa, CKA_KEY_TYPE), CKK_RSA);
    assert_eq!(h.get(s, rsa, CKA_PUBLIC_EXPONENT).unwrap(), [1, 0, 1]);
    assert_eq!(h.get(s, rsa, CKA_MODULUS).unwrap().len(), 256);
    let k = ec_key();
    let ec = h.create(s, &ec_public("ec", &k)).unwrap();
    assert_eq!(h.get_ulong(s, ec, CKA_KEY_TYPE), CKK_EC);
    assert_eq!(h.get(s, ec, CKA_EC_PARAMS).unwrap(), P256);
    assert_eq!(h.get(s, ec, CKA_EC_POINT).unwrap(), k.point);
    for o in [rsa, ec] {
        assert!(!h.get_bool(s, o, CKA_PRIVATE), "public keys are public by default");
        assert!(!h.get_bool(s, o, CKA_TOKEN));
        for ty in [CKA_ENCRYPT, CKA_VERIFY, CKA_WRAP] {
            assert!(h.get_bool(s, o, ty), "{ty:#x} defaults to true");
        }
        for ty in [CKA_VERIFY_RECOVER, CKA_DERIVE, CKA_TRUSTED] {
            assert!(!h.get_bool(s, o, ty), "{ty:#x} defaults to false");
        }
        assert_eq!(h.get(s, o, CKA_ID).unwrap(), b"");
        assert_eq!(h.get(s, o, CKA_SUBJECT).unwrap(), b"");
    }
    // The key material is required (footnote 1).
    let mut no_modulus = rsa_public("x");
    no_modulus.0.retain(|(t, _)| *t != CKA_MODULUS);
    assert_rv!(rv(h.create(s, &no_modulus)), CKR_TEMPLATE_INCOMPLETE);
    let mut no_point = ec_public("x", &k);
    no_point.0.retain(|(t, _)| *t != CKA_EC_POINT);
    assert_rv!(rv(h.create(s, &no_point)), CKR_TEMPLATE_INCOMPLETE);
}

#[test]
fn an_ec_private_key_is_sensitive_unextractable_and_private_by_default() {
    let (h, s) = Hsm::ready();
    let k = ec_key();
    let o = h.create(s, &ec_private("ec", &k)).unwrap();
    assert_eq!(h.get_ulong(s, o, CKA_CLASS), CKO_PRIVATE_KEY);
    assert_eq!(h.get_ulong(s, o, CKA_KEY_TYPE), CKK_EC);
    assert_eq!(h.get(s, o, CKA_EC_PARAMS).unwrap(), P256);
    assert_rv!(rv(h.get(s, o, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE);
    for (ty, want) in [
        (CKA_TOKEN, false),
        (CKA_PRIVATE, true),
        (CKA_SENSITIVE, true),
        (CKA_EXTRACTABLE, false),
        (CKA_MODIFIABLE, true),
        (CKA_COPYABLE, true),
        (CKA_DESTROYABLE, true),
        (CKA_SIGN, true),
        (CKA_DECRYPT, true),
        (CKA_UNWRAP, true),
        (CKA_SIGN_RECOVER, false),
        (CKA_DERIVE, false),
        (CKA_WRAP_WITH_TRUSTED, false),
        (CKA_ALWAYS_AUTHENTICATE, false),
    ] {
        assert_eq!(h.get_bool(s, o, ty), want, "{ty:#x}");
    }
    // d is required (footnote 1), and so are the curve parameters.
    let mut no_value = ec_private("x", &k);
    no_value.0.retain(|(t, _)| *t != CKA_VALUE);
    assert_rv!(rv(h.create(s, &no_value)), CKR_TEMPLATE_INCOMPLETE);
    let mut no_params = ec_private("x", &k);
    no_params.0.retain(|(t, _)| *t != CKA_EC_PARAMS);
    assert_rv!(rv(h.create(s, &no_params)), CKR_TEMPLATE_INCOMPLETE);
}

/// §4: every object possesses every attribute of its type. Common Public Key
/// Attributes: CKA_PUBLIC_KEY_INFO "MAY be empty, DEFAULT derived from the underlying
/// public key data"; Common Private Key Attributes: the same for the associated public
/// key. OpenSSL's pkcs11-provider and other consumers read it.
#[test]
fn keys_possess_cka_public_key_info() {
    let (h, s) = Hsm::ready();
    let k = ec_key();
    let public = h.create(s, &ec_public("pub", &k)).unwrap();
    let private = h.create(s, &ec_private("priv", &k)).unwrap();
    let mut wrong = Vec::new();
    for (what, o) in [("public", public), ("private", private)] {
        match h.get(s, o, CKA_PUBLIC_KEY_INFO) {
            Ok(v) => assert!(v.is_empty() || v == k.spki, "{what}: empty or the key's SubjectPublicKeyInfo"),
            Err(e) => wrong.push(format!("C_GetAttributeValue({what} key, CKA_PUBLIC_KEY_INFO): rv {e:#x}")),
        }
    }
    assert!(wrong.is_empty(), "expected CKR_OK: {wrong:?}");
}

/// CKA_PUBLIC_KEY_INFO carries no footnote 2 in either key table (and footnote 8 in
/// the private key table): an importer may give it, consistent with the key.
#[test]
fn cka_public_key_info_may_be_given_at_import() {
    let (h, s) = Hsm::ready();
    let k = ec_key();
    let public = h.create(s, &ec_public("given", &k).bytes(CKA_PUBLIC_KEY_INFO, &k.spki));
    let private = h.create(s, &ec_private("given", &k).bytes(CKA_PUBLIC_KEY_INFO, &k.spki));
    let rvs = (rv(public), rv(private));
    assert!(
        rvs == (CKR_OK, CKR_OK),
        "C_CreateObject(EC public key, EC private key with CKA_PUBLIC_KEY_INFO): rv {:#x}, {:#x}, expected CKR_OK",
        rvs.0,
        rvs.1
    );
    for o in [public.unwrap(), private.unwrap()] {
        assert_eq!(h.get(s, o, CKA_PUBLIC_KEY_INFO).unwrap(), k.spki);
    }
}

#[test]
fn aes_keys_get_their_length_and_check_value() {
    let (h, s) = Hsm::ready();
    // The known vector: AES-128(000102…0f, 0^16) = c6a13b37878f5b826f4f8162a1c8d879.
    assert_eq!(aes_zero_block(&KEY16)[..3], KEY16_CHECK, "openssl agrees with the known vector");
    let k = h.create(s, &aes("aes128", &KEY16)).unwrap();
    assert_eq!(
        h.get(s, k, CKA_CHECK_VALUE).unwrap(),
        KEY16_CHECK,
        "AES key objects: first 3 bytes of AES-ECB(0 block)"
    );
    for len in [16usize, 24, 32] {
        let value: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37).wrapping_add(len as u8)).collect();
        let k = h.create(s, &aes(&format!("aes{len}"), &value)).unwrap();
        assert_eq!(h.get_ulong(s, k, CKA_CLASS), CKO_SECRET_KEY);
        assert_eq!(h.get_ulong(s, k, CKA_KEY_TYPE), CKK_AES);
        assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), len as CK_ULONG, "CKA_VALUE_LEN computed");
        assert_eq!(h.get(s, k, CKA_CHECK_VALUE).unwrap(), aes_zero_block(&value)[..3], "AES-{}", len * 8);
    }
    assert_rv!(rv(h.create(s, &aes("short", &[7; 15]))), CKR_ATTRIBUTE_VALUE_INVALID, "AES key of 15 bytes");
    assert_rv!(rv(h.create(s, &aes("long", &[7; 33]))), CKR_ATTRIBUTE_VALUE_INVALID, "AES key of 33 bytes");
    // CKA_VALUE_LEN that agrees is accepted (tools send it); one that does not is inconsistent.
    let k = h.create(s, &aes("len", &[9; 24]).ulong(CKA_VALUE_LEN, 24)).unwrap();
    assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), 24);
    assert_rv!(rv(h.create(s, &aes("badlen", &[9; 24]).ulong(CKA_VALUE_LEN, 16))), CKR_TEMPLATE_INCONSISTENT);
    // A check value given at import must match the key.
    h.create(s, &aes("check", &KEY16).bytes(CKA_CHECK_VALUE, &KEY16_CHECK)).expect("right CKA_CHECK_VALUE");
    assert_rv!(
        rv(h.create(s, &aes("badcheck", &KEY16).bytes(CKA_CHECK_VALUE, &[0xc6, 0xa1, 0x3c]))),
        CKR_ATTRIBUTE_VALUE_INVALID
    );
}

#[test]
fn generic_secrets_are_any_length_and_checked_by_sha1() {
    let (h, s) = Hsm::ready();
    let value = b"an HMAC key of some length".to_vec();
    let k = h.create(s, &secret(CKK_GENERIC_SECRET, "gen", &value)).unwrap();
    assert_eq!(h.get_ulong(s, k, CKA_KEY_TYPE), CKK_GENERIC_SECRET);
    assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), value.len() as CK_ULONG);
    // Generic secret key objects: the first three bytes of SHA-1 of CKA_VALUE.
    assert_eq!(h.get(s, k, CKA_CHECK_VALUE).unwrap(), sha1(&value)[..3]);
    let one = h.create(s, &secret(CKK_GENERIC_SECRET, "one", &[0x42])).unwrap();
    assert_eq!(h.get_ulong(s, one, CKA_VALUE_LEN), 1);
    assert_rv!(
        rv(h.create(s, &secret(CKK_GENERIC_SECRET, "bad", &value).ulong(CKA_VALUE_LEN, 5))),
        CKR_TEMPLATE_INCONSISTENT
    );
}

// ---------------------------------------------------------------------------
// Defaults and the attributes the token keeps

#[test]
fn every_class_has_the_expected_defaults() {
    let (h, s) = Hsm::ready();
    let k = ec_key();
    let objects = [
        ("data", h.create(s, &Tmpl::new().class(CKO_DATA)).unwrap(), false),
        ("certificate", h.create(s, &x509("c", &certificate("defaults"))).unwrap(), false),
        ("public key", h.create(s, &ec_public("pub", &k)).unwrap(), false),
        ("private key", h.create(s, &ec_private("priv", &k)).unwrap(), true),
        ("secret key", h.create(s, &aes("aes", &KEY16)).unwrap(), true),
    ];
    for (what, o, private) in objects {
        assert!(!h.get_bool(s, o, CKA_TOKEN), "{what}: CKA_TOKEN defaults to false");
        assert_eq!(h.get_bool(s, o, CKA_PRIVATE), private, "{what}: CKA_PRIVATE");
        for ty in [CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE] {
            assert!(h.get_bool(s, o, ty), "{what}: {ty:#x} defaults to true");
        }
        assert!(!h.get(s, o, CKA_UNIQUE_ID).unwrap().is_empty(), "{what}: CKA_UNIQUE_ID assigned");
    }
    let key = objects[4].1;
    assert!(h.get_bool(s, key, CKA_SENSITIVE));
    assert!(!h.get_bool(s, key, CKA_EXTRACTABLE));
    for ty in [CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP] {
        assert!(h.get_bool(s, key, ty), "secret key: {ty:#x} defaults to true");
    }
    for ty in [CKA_DERIVE, CKA_TRUSTED, CKA_WRAP_WITH_TRUSTED] {
        assert!(!h.get_bool(s, key, ty), "secret key: {ty:#x} defaults to false");
    }
    assert_eq!(h.get(s, key, CKA_ALLOWED_MECHANISMS).unwrap(), b"", "no list: every mechanism");
}

#[test]
fn imported_keys_carry_honest_token_kept_attributes() {
    let (h, s) = Hsm::ready();
    let k = ec_key();
    let before = now();
    let keys = [
        ("AES", h.create(s, &aes("aes", &KEY16)).unwrap()),
        ("generic", h.create(s, &secret(CKK_GENERIC_SECRET, "gen", b"abc").bool(CKA_SENSITIVE, true)).unwrap()),
        ("EC private", h.create(s, &ec_private("ec", &k)).unwrap()),
    ];
    let public = h.create(s, &ec_public("ecpub", &k)).unwrap();
    let after = now();
    for (what, o) in keys {
        // Sensitive and unextractable now, but they existed outside the token in the
        // clear: the claims must not say otherwise (§4.9, §4.10).
        assert!(h.get_bool(s, o, CKA_SENSITIVE), "{what}");
        assert!(!h.get_bool(s, o, CKA_EXTRACTABLE), "{what}");
        assert!(!h.get_bool(s, o, CKA_ALWAYS_SENSITIVE), "{what}: CKA_ALWAYS_SENSITIVE of an imported key");
        assert!(!h.get_bool(s, o, CKA_NEVER_EXTRACTABLE), "{what}: CKA_NEVER_EXTRACTABLE of an imported key");
    }
    for (what, o) in keys.into_iter().chain([("EC public", public)]) {
        assert!(!h.get_bool(s, o, CKA_LOCAL), "{what}: CKA_LOCAL of an imported key");
        assert_eq!(h.get_ulong(s, o, CKA_KEY_GEN_MECHANISM), CK_UNAVAILABLE_INFORMATION, "{what}");
        assert_eq!(h.get_ulong(s, o, CKA_FERRO_ORIGIN), ORIGIN_IMPORTED, "{what}: CKA_FERRO_ORIGIN");
        let created = stamp_seconds(&h.get(s, o, CKA_FERRO_CREATED).unwrap());
        assert!(created >= before - 2 && created <= after + 2, "{what}: created {created}, now {before}..{after}");
    }
}

#[test]
fn token_kept_attributes_cannot_be_given_in_a_template() {
    let (h, s) = Hsm::ready();
    let ul = |v: CK_ULONG| v.to_ne_bytes().to_vec();
    // Footnote 2: MUST not be specified with C_CreateObject, whatever the value.
    let cases: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)> = vec![
        (CKA_LOCAL, vec![0]),
        (CKA_LOCAL, vec![1]),
        (CKA_ALWAYS_SENSITIVE, vec![0]),
        (CKA_ALWAYS_SENSITIVE, vec![1]),
        (CKA_NEVER_EXTRACTABLE, vec![0]),
        (CKA_NEVER_EXTRACTABLE, vec![1]),
        (CKA_UNIQUE_ID, b"my-own-id".to_vec()),
        (CKA_KEY_GEN_MECHANISM, ul(CKM_AES_KEY_GEN)),
        (CKA_KEY_GEN_MECHANISM, ul(CK_UNAVAILABLE_INFORMATION)),
        (CKA_FERRO_ORIGIN, ul(1)),
        (CKA_FERRO_CREATED, b"20200101000000Z".to_vec()),
    ];
    for (ty, v) in &cases {
        assert_rv!(
            rv(h.create(s, &aes("k", &KEY16).bytes(*ty, v))),
            CKR_ATTRIBUTE_READ_ONLY,
            "C_CreateObject(AES key with {ty:#x} = {})",
            hex(v)
        );
    }
    assert_rv!(rv(h.create(s, &data("d", false).bytes(CKA_UNIQUE_ID, b"mine"))), CKR_ATTRIBUTE_READ_ONLY);
    assert!(h.find(s, &Tmpl::new().label("k")).is_empty(), "nothing was created");
}

#[test]
fn unique_ids_are_unique_and_survive_a_restart() {
    let (mut h, s) = Hsm::ready();
    let k = ec_key();
    let token = [
        h.create(s, &data("public data", true)).unwrap(),
        h.create(s, &aes("private key", &KEY16).token(true)).unwrap(),
        h.create(s, &ec_public("public key", &k).token(true)).unwrap(),
        h.create(s, &x509("certificate", &certificate("uid")).token(true)).unwrap(),
    ];
    let session = h.create(s, &data("session data", false)).unwrap();
    let get = |o, ty| h.get(s, o, ty).unwrap();
    let mut ids: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> =
        token.iter().map(|&o| (get(o, CKA_UNIQUE_ID), get(o, CKA_LABEL), get(o, CKA_FERRO_CREATED))).collect();
    let session_id = get(session, CKA_UNIQUE_ID);
    let mut all: Vec<&Vec<u8>> = ids.iter().map(|(u, _, _)| u).chain([&session_id]).collect();
    assert!(all.iter().all(|u| !u.is_empty()));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 5, "every object has its own CKA_UNIQUE_ID");

    h.restart();
    let s = h.open(0, true);
    let key_uid = &ids[1].0;
    assert!(h.find(s, &Tmpl::new().bytes(CKA_UNIQUE_ID, key_uid)).is_empty(), "private: not before the login");
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    for (uid, label, created) in ids.drain(..) {
        let found = h.find(s, &Tmpl::new().bytes(CKA_UNIQUE_ID, &uid));
        assert_eq!(found.len(), 1, "{} found by its unique id after a restart", String::from_utf8_lossy(&label));
        assert_eq!(h.get(s, found[0], CKA_LABEL).unwrap(), label);
        assert_eq!(h.get(s, found[0], CKA_FERRO_CREATED).unwrap(), created, "the creation time is kept");
    }
    assert!(h.find(s, &Tmpl::new().bytes(CKA_UNIQUE_ID, &session_id)).is_empty(), "session objects are gone");
}

// ---------------------------------------------------------------------------
// Template errors

#[test]
fn template_errors_have_their_return_codes() {
    let (h, s) = Hsm::ready();
    let k = ec_key();
    let der = certificate("errors");
    let no_ec_params = {
        let mut t = ec_private("x", &k);
        t.0.retain(|(ty, _)| *ty != CKA_EC_PARAMS);
        t
    };
    let cases: Vec<(&str, Tmpl, CK_RV)> = vec![
        ("no CKA_CLASS", Tmpl::new().label("x").bytes(CKA_VALUE, b"v"), CKR_TEMPLATE_INCOMPLETE),
        (
            "key without CKA_KEY_TYPE",
            Tmpl::new().class(CKO_SECRET_KEY).bytes(CKA_VALUE, &KEY16),
            CKR_TEMPLATE_INCOMPLETE,
        ),
        (
            "AES key without CKA_VALUE",
            Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_AES),
            CKR_TEMPLATE_INCOMPLETE,
        ),
        ("EC private key without CKA_EC_PARAMS", no_ec_params, CKR_TEMPLATE_INCOMPLETE),
        (
            "certificate without CKA_CERTIFICATE_TYPE",
            Tmpl::new().class(CKO_CERTIFICATE).bytes(CKA_VALUE, &der),
            CKR_TEMPLATE_INCOMPLETE,
        ),
        (
            "certificate without CKA_VALUE",
            Tmpl::new().class(CKO_CERTIFICATE).ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
            CKR_TEMPLATE_INCOMPLETE,
        ),
        ("CKA_MODULUS on a data object", data("x", false).bytes(CKA_MODULUS, &[1; 64]), CKR_ATTRIBUTE_TYPE_INVALID),
        ("CKA_KEY_TYPE on a data object", data("x", false).ulong(CKA_KEY_TYPE, CKK_AES), CKR_ATTRIBUTE_TYPE_INVALID),
        ("CKA_MODULUS on an AES key", aes("x", &KEY16).bytes(CKA_MODULUS, &[1; 64]), CKR_ATTRIBUTE_TYPE_INVALID),
        ("CKA_LABEL twice, different", data("x", false).label("y"), CKR_TEMPLATE_INCONSISTENT),
        ("CKA_TOKEN twice, different", data("x", false).token(true), CKR_TEMPLATE_INCONSISTENT),
        ("CK_BBOOL of 2 bytes", data("x", false).bytes(CKA_PRIVATE, &[1, 0]), CKR_ATTRIBUTE_VALUE_INVALID),
        ("CK_BBOOL of 0 bytes", data("x", false).bytes(CKA_PRIVATE, &[]), CKR_ATTRIBUTE_VALUE_INVALID),
        ("CK_DATE not digits", aes("x", &KEY16).bytes(CKA_START_DATE, b"2030-1-1"), CKR_ATTRIBUTE_VALUE_INVALID),
        ("empty template", Tmpl::new(), CKR_TEMPLATE_INCOMPLETE),
        ("unknown object class", Tmpl::new().class(0x7777).label("x"), CKR_ATTRIBUTE_VALUE_INVALID),
    ];
    for (what, t, want) in cases {
        assert_rv!(rv(h.create(s, &t)), want, "C_CreateObject({what})");
    }
    assert!(h.find(s, &Tmpl::new().label("x")).is_empty(), "no failed call left an object behind");
    // The same attribute twice with the same value is no contradiction.
    let o = h.create(s, &data("twice", false).label("twice").token(false)).expect("same value twice");
    assert_eq!(h.get(s, o, CKA_LABEL).unwrap(), b"twice");
}

// ---------------------------------------------------------------------------
// Visibility and roles

#[test]
fn private_objects_are_invisible_without_the_user() {
    let (h, s) = Hsm::ready();
    let public = h.create(s, &data("public", true)).unwrap();
    let private_token = h.create(s, &data("private", true).bool(CKA_PRIVATE, true)).unwrap();
    let private_session = h.create(s, &data("private session", false).bool(CKA_PRIVATE, true)).unwrap();
    let key = h.create(s, &aes("key", &KEY16).token(true)).unwrap();
    let labels = |s| {
        let mut v: Vec<String> = h
            .find(s, &Tmpl::new().class(CKO_DATA))
            .into_iter()
            .chain(h.find(s, &Tmpl::new().class(CKO_SECRET_KEY)))
            .map(|o| String::from_utf8(h.get(s, o, CKA_LABEL).unwrap()).unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(labels(s), ["key", "private", "private session", "public"]);

    assert_eq!(call!(C_Logout, s), CKR_OK);
    let check_hidden = |who: &str| {
        assert_eq!(labels(s), ["public"], "{who}: only public objects are found");
        for o in [private_token, private_session, key] {
            let mut a = [slot(CKA_LABEL, None)];
            assert_rv!(get_raw(s, o, &mut a), CKR_OBJECT_HANDLE_INVALID, "{who}: C_GetAttributeValue({o})");
            let mut size = 0;
            assert_rv!(call!(C_GetObjectSize, s, o, &mut size), CKR_OBJECT_HANDLE_INVALID, "{who}: C_GetObjectSize");
            assert_rv!(h.set(s, o, &Tmpl::new().label("x")), CKR_OBJECT_HANDLE_INVALID, "{who}: C_SetAttributeValue");
            assert_rv!(rv(h.copy(s, o, &Tmpl::new())), CKR_OBJECT_HANDLE_INVALID, "{who}: C_CopyObject");
            assert_rv!(h.destroy(s, o), CKR_OBJECT_HANDLE_INVALID, "{who}: C_DestroyObject");
        }
        assert_eq!(h.get(s, public, CKA_LABEL).unwrap(), b"public");
    };
    check_hidden("nobody logged in");
    // The SO sees public objects only (§4.4 CKA_PRIVATE; the R/W SO Functions state).
    assert_eq!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    check_hidden("SO");
    assert_eq!(call!(C_Logout, s), CKR_OK);

    // The user sees them again, under new handles: §5.6 C_Logout, "any of the
    // application's handles to private objects become invalid (even if a user is
    // later logged back into the token, those handles remain invalid)".
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(labels(s), ["key", "private", "public"], "private token objects are back; session ones are not");
    for o in [private_token, private_session, key] {
        assert_rv!(rv(h.get(s, o, CKA_LABEL)), CKR_OBJECT_HANDLE_INVALID, "old handle {o} after a new login");
    }
}

#[test]
fn private_objects_need_the_user_and_token_objects_a_read_write_session() {
    let (h, s) = no_login();
    // Public objects need no login (R/W public session).
    h.create(s, &data("public session", false)).expect("public session object, no login");
    h.create(s, &data("public token", true)).expect("public token object, no login");
    assert_rv!(rv(h.create(s, &data("p", false).bool(CKA_PRIVATE, true))), CKR_USER_NOT_LOGGED_IN);
    assert_rv!(rv(h.create(s, &data("p", true).bool(CKA_PRIVATE, true))), CKR_USER_NOT_LOGGED_IN);
    // Keys are private by default.
    assert_rv!(rv(h.create(s, &aes("k", &KEY16))), CKR_USER_NOT_LOGGED_IN);

    let ro = h.open(0, false);
    assert_rv!(rv(h.create(ro, &data("t", true))), CKR_SESSION_READ_ONLY, "token object in a R/O session");
    h.create(ro, &data("s", false)).expect("a R/O session may create session objects");
    assert_eq!(h.login(ro, CKU_USER, USER_PIN), CKR_OK);
    assert_rv!(rv(h.create(ro, &aes("k", &KEY16).token(true))), CKR_SESSION_READ_ONLY, "R/O user session");
    h.create(ro, &aes("k", &KEY16)).expect("private session object in a R/O user session");
    h.create(s, &aes("k2", &KEY16).token(true)).expect("private token object in a R/W user session");

    // The SO may create public objects, not private ones.
    assert_eq!(call!(C_CloseSession, ro), CKR_OK);
    assert_eq!(call!(C_Logout, s), CKR_OK);
    assert_eq!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    h.create(s, &data("by the SO", true)).expect("the SO creates a public token object");
    assert_rv!(rv(h.create(s, &data("p", true).bool(CKA_PRIVATE, true))), CKR_USER_NOT_LOGGED_IN, "SO, private");
    assert_rv!(rv(h.create(s, &aes("k", &KEY16))), CKR_USER_NOT_LOGGED_IN, "SO, private key");
}

#[test]
fn a_read_only_session_cannot_change_token_objects() {
    let (h, s) = Hsm::ready();
    let token = h.create(s, &data("token", true)).unwrap();
    let ro = h.open(0, false);
    let session = h.create(ro, &data("session", false)).unwrap();
    // §5.7: only session objects can be modified or destroyed in a R/O session.
    assert_rv!(h.set(ro, token, &Tmpl::new().label("x")), CKR_SESSION_READ_ONLY);
    assert_rv!(h.destroy(ro, token), CKR_SESSION_READ_ONLY);
    assert_rv!(rv(h.copy(ro, token, &Tmpl::new())), CKR_SESSION_READ_ONLY, "a copy of a token object is one");
    h.copy(ro, token, &Tmpl::new().token(false)).expect("a session copy in a R/O session");
    assert_eq!(h.get(s, token, CKA_LABEL).unwrap(), b"token");
    assert_rv!(h.set(ro, session, &Tmpl::new().label("y")), CKR_OK);
    assert_rv!(h.destroy(ro, session), CKR_OK);
}

#[test]
fn a_public_secret_key_works_without_login_and_is_sealed_at_rest() {
    let (mut h, s) = no_login();
    let value: Vec<u8> = (0..32u8).map(|i| 0xa5 ^ i.wrapping_mul(29)).collect();
    let k = h.create(s, &open_aes("open", &value).token(true)).expect("public key, R/W public session");
    assert_eq!(h.get(s, k, CKA_VALUE).unwrap(), value);
    let marker = b"plain public data marker 7f3a";
    h.create(s, &data("marker", true).bytes(CKA_APPLICATION, marker)).unwrap();

    h.restart();
    let s = h.open(0, false);
    let found = h.find(s, &Tmpl::new().label("open"));
    assert_eq!(found.len(), 1, "the public key is there after a restart, no login");
    assert_eq!(h.get(s, found[0], CKA_VALUE).unwrap(), value, "and its value reads back");
    assert_eq!(h.get(s, found[0], CKA_CHECK_VALUE).unwrap(), aes_zero_block(&value)[..3]);
    // The grep sees plaintext where there is some (a public, non-secret attribute) ...
    assert!(h.store_contains(marker), "the store grep works");
    // ... and the key bytes are not there: sealed under the device key.
    assert!(!h.store_contains(&value), "a public key's CKA_VALUE is in the store in the clear");
    assert!(!h.store_contains(&value[..16]));

    // Still without a login: relabel it, copy it to the token, destroy the original.
    let rw = h.open(0, true);
    assert_rv!(h.set(rw, found[0], &Tmpl::new().label("relabelled")), CKR_OK, "relabel without login");
    let copy = h.copy(rw, found[0], &Tmpl::new().label("copied")).expect("token copy without login");
    assert_eq!(h.get(rw, copy, CKA_VALUE).unwrap(), value);
    h.restart();
    let s = h.open(0, true);
    let relabelled = h.find(s, &Tmpl::new().label("relabelled"));
    assert_eq!(relabelled.len(), 1);
    assert_eq!(h.get(s, relabelled[0], CKA_VALUE).unwrap(), value, "the value survives a change of label");
    let copied = h.find(s, &Tmpl::new().label("copied"));
    assert_eq!(copied.len(), 1);
    assert_eq!(h.get(s, copied[0], CKA_VALUE).unwrap(), value, "and a copy");
    assert_rv!(h.destroy(s, relabelled[0]), CKR_OK, "destroy without login");
    assert!(!h.store_contains(&value[..16]));
}

#[test]
fn private_key_bytes_never_reach_the_store() {
    let (mut h, s) = Hsm::ready();
    let value: Vec<u8> = (0..32u8).map(|i| 0x3c ^ i.wrapping_mul(71)).collect();
    h.create(s, &aes("sealed", &value).token(true)).unwrap();
    let k = ec_key();
    h.create(s, &ec_private("sealed ec", &k).token(true)).unwrap();
    h.finalize();
    assert!(!h.store_contains(&value[..16]));
    assert!(!h.store_contains(&k.d[..16]));
    assert!(!h.store_contains(b"sealed"), "a private object's label is sealed too");
    h.initialize();
}

// ---------------------------------------------------------------------------
// C_GetAttributeValue

#[test]
fn get_attribute_value_follows_the_length_protocol() {
    let (h, s) = Hsm::ready();
    let d = h.create(s, &data("d", false)).unwrap(); // CKA_VALUE "some data", 9 bytes
    let mut a = [slot(CKA_VALUE, None)];
    assert_rv!(get_raw(s, d, &mut a), CKR_OK);
    assert_eq!(a[0].ulValueLen, 9, "a null pValue gives the length");

    let mut exact = [0u8; 9];
    let mut a = [slot(CKA_VALUE, Some(&mut exact))];
    assert_rv!(get_raw(s, d, &mut a), CKR_OK);
    assert_eq!(a[0].ulValueLen, 9);
    assert_eq!(&exact, b"some data");

    let mut big = [0xeeu8; 32];
    let mut a = [slot(CKA_VALUE, Some(&mut big))];
    assert_rv!(get_raw(s, d, &mut a), CKR_OK);
    assert_eq!(a[0].ulValueLen, 9, "the exact length, not the buffer's");
    assert_eq!(&big[..9], b"some data");

    let mut small = [0u8; 8];
    let mut a = [slot(CKA_VALUE, Some(&mut small))];
    assert_rv!(get_raw(s, d, &mut a), CKR_BUFFER_TOO_SMALL);
    assert_eq!(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);

    // CK_ULONG attributes are native CK_ULONGs.
    let mut a = [slot(CKA_CLASS, None)];
    assert_rv!(get_raw(s, d, &mut a), CKR_OK);
    assert_eq!(a[0].ulValueLen as usize, UL);
    let mut b = [0u8; UL];
    let mut a = [slot(CKA_CLASS, Some(&mut b))];
    assert_rv!(get_raw(s, d, &mut a), CKR_OK);
    assert_eq!(ulong(&b), CKO_DATA);
    let mut four = [0u8; 4];
    let mut a = [slot(CKA_CLASS, Some(&mut four))];
    assert_rv!(get_raw(s, d, &mut a), CKR_BUFFER_TOO_SMALL);
    assert_eq!(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    // CK_BBOOL is one byte.
    let mut a = [slot(CKA_TOKEN, None)];
    assert_rv!(get_raw(s, d, &mut a), CKR_OK);
    assert_eq!(a[0].ulValueLen, 1);

    // An attribute the object does not have.
    for ty in [CKA_MODULUS, CKA_KEY_TYPE, CKA_SENSITIVE, 0x7654_3210] {
        let mut a = [slot(ty, None)];
        assert_rv!(get_raw(s, d, &mut a), CKR_ATTRIBUTE_TYPE_INVALID, "{ty:#x} of a data object");
        assert_eq!(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    }
    // A handle that is no object.
    let mut a = [slot(CKA_LABEL, None)];
    assert_rv!(get_raw(s, 0x7fff_0000, &mut a), CKR_OBJECT_HANDLE_INVALID);
    assert_rv!(get_raw(s, 0, &mut a), CKR_OBJECT_HANDLE_INVALID);
}

#[test]
fn key_material_is_never_revealed() {
    let (h, s) = Hsm::ready();
    let sensitive = h.create(s, &aes("sensitive", &KEY16)).unwrap();
    let mut a = [slot(CKA_VALUE, None)];
    assert_rv!(get_raw(s, sensitive, &mut a), CKR_ATTRIBUTE_SENSITIVE, "length query of a sensitive value");
    assert_eq!(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    let mut buf = [0u8; 32];
    let mut a = [slot(CKA_VALUE, Some(&mut buf))];
    assert_rv!(get_raw(s, sensitive, &mut a), CKR_ATTRIBUTE_SENSITIVE);
    assert_eq!(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(buf, [0; 32], "nothing written");
    // What describes the key is not secret.
    assert_eq!(h.get_ulong(s, sensitive, CKA_VALUE_LEN), 16);
    assert_eq!(h.get(s, sensitive, CKA_CHECK_VALUE).unwrap(), KEY16_CHECK);

    // Footnote 7: hidden when CKA_SENSITIVE is true *or* CKA_EXTRACTABLE is false.
    let unextractable = h.create(s, &aes("unextractable", &KEY16).bool(CKA_SENSITIVE, false)).unwrap();
    assert!(!h.get_bool(s, unextractable, CKA_EXTRACTABLE));
    assert_rv!(rv(h.get(s, unextractable, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE, "not sensitive but unextractable");
    let extractable_sensitive = h.create(s, &aes("es", &KEY16).bool(CKA_EXTRACTABLE, true)).unwrap();
    assert_rv!(rv(h.get(s, extractable_sensitive, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE, "extractable but sensitive");
    let open = h.create(s, &aes("open", &KEY16).bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true)).unwrap();
    assert_eq!(h.get(s, open, CKA_VALUE).unwrap(), KEY16);

    let k = ec_key();
    let ec = h.create(s, &ec_private("ec", &k)).unwrap();
    assert_rv!(rv(h.get(s, ec, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE, "EC private value");
    let ec_open =
        h.create(s, &ec_private("ec open", &k).bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true)).unwrap();
    assert_eq!(h.get(s, ec_open, CKA_VALUE).unwrap(), k.d);
}

#[test]
fn several_attributes_in_one_call_each_get_their_answer() {
    let (h, s) = Hsm::ready();
    let k = h.create(s, &aes("mixed", &KEY16).bytes(CKA_ID, b"key-id")).unwrap();
    let (mut label, mut value, mut id, mut class) = ([0u8; 16], [0u8; 16], [0u8; 2], [0u8; UL]);
    let mut t = [
        slot(CKA_LABEL, Some(&mut label)), // fits
        slot(CKA_VALUE, Some(&mut value)), // sensitive
        slot(CKA_MODULUS, None),           // not an attribute of the key
        slot(CKA_ID, Some(&mut id)),       // buffer too small
        slot(CKA_CLASS, Some(&mut class)), // fits
        slot(CKA_KEY_TYPE, None),          // length query
    ];
    let got = get_raw(s, k, &mut t);
    assert!(
        [CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID, CKR_BUFFER_TOO_SMALL].contains(&got),
        "one of the applicable errors, got {got:#x}"
    );
    assert_eq!(t[0].ulValueLen, 5);
    assert_eq!(&label[..5], b"mixed");
    assert_eq!(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(value, [0; 16]);
    assert_eq!(t[2].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(t[3].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(t[4].ulValueLen as usize, UL);
    assert_eq!(ulong(&class), CKO_SECRET_KEY);
    assert_eq!(t[5].ulValueLen as usize, UL);
}

#[test]
fn wrap_and_unwrap_templates_come_back_through_the_nested_protocol() {
    let (h, s) = Hsm::ready();
    let wrap = Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_AES).bool(CKA_EXTRACTABLE, true);
    let unwrap = Tmpl::new().bool(CKA_SENSITIVE, true).label("unwrapped");
    let (wrap_attrs, unwrap_attrs) = (wrap.attrs(), unwrap.attrs());
    let mechs = [CKM_AES_KEY_WRAP_PAD, CKM_AES_GCM];
    let k = h
        .create(
            s,
            &aes("wrapper", &KEY16)
                .bytes(CKA_WRAP_TEMPLATE, &array_value(&wrap_attrs))
                .bytes(CKA_UNWRAP_TEMPLATE, &array_value(&unwrap_attrs))
                .bytes(CKA_ALLOWED_MECHANISMS, &mech_list(&mechs)),
        )
        .expect("an AES key with wrap and unwrap templates");
    let mut want_wrap: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)> = vec![
        (CKA_CLASS, CKO_SECRET_KEY.to_ne_bytes().to_vec()),
        (CKA_KEY_TYPE, CKK_AES.to_ne_bytes().to_vec()),
        (CKA_EXTRACTABLE, vec![CK_TRUE]),
    ];
    want_wrap.sort_by_key(|(t, _)| *t);
    assert_eq!(read_array(s, k, CKA_WRAP_TEMPLATE), want_wrap);
    let mut want_unwrap = vec![(CKA_SENSITIVE, vec![CK_TRUE]), (CKA_LABEL, b"unwrapped".to_vec())];
    want_unwrap.sort_by_key(|(t, _)| *t);
    assert_eq!(read_array(s, k, CKA_UNWRAP_TEMPLATE), want_unwrap);

    // An element's buffer too small: that element is marked, the call says so.
    let mut inner = [CK_ATTRIBUTE { type_: 0, pValue: ptr::null_mut(), ulValueLen: 0 }; 3];
    let mut bufs = [[0u8; 8]; 3];
    for (x, b) in inner.iter_mut().zip(bufs.iter_mut()) {
        x.pValue = b.as_mut_ptr() as *mut _;
        x.ulValueLen = 4; // room for the CK_BBOOL only
    }
    let mut a = [CK_ATTRIBUTE {
        type_: CKA_WRAP_TEMPLATE,
        pValue: inner.as_mut_ptr() as *mut _,
        ulValueLen: (3 * ATTR) as CK_ULONG,
    }];
    assert_rv!(get_raw(s, k, &mut a), CKR_BUFFER_TOO_SMALL);
    for x in &inner {
        let want = if x.type_ == CKA_EXTRACTABLE { 1 } else { CK_UNAVAILABLE_INFORMATION };
        assert_eq!(x.ulValueLen, want, "element {:#x}", x.type_);
    }
    // Room for fewer elements than there are: too small.
    let mut a = [CK_ATTRIBUTE {
        type_: CKA_WRAP_TEMPLATE,
        pValue: inner.as_mut_ptr() as *mut _,
        ulValueLen: (2 * ATTR) as CK_ULONG,
    }];
    assert_rv!(get_raw(s, k, &mut a), CKR_BUFFER_TOO_SMALL);
    assert_eq!(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);

    // CKA_ALLOWED_MECHANISMS: an array of CK_MECHANISM_TYPE.
    let mut a = [slot(CKA_ALLOWED_MECHANISMS, None)];
    assert_rv!(get_raw(s, k, &mut a), CKR_OK);
    assert_eq!(a[0].ulValueLen as usize, 2 * UL);
    assert_eq!(h.get(s, k, CKA_ALLOWED_MECHANISMS).unwrap(), mech_list(&mechs));
    // A malformed array is refused.
    assert_rv!(
        rv(h.create(s, &aes("bad", &KEY16).bytes(CKA_ALLOWED_MECHANISMS, &[1, 2, 3]))),
        CKR_ATTRIBUTE_VALUE_INVALID
    );
}

#[test]
fn a_malformed_nested_template_is_refused() {
    let (h, s) = Hsm::ready();
    // A CK_ULONG of 4 bytes inside CKA_WRAP_TEMPLATE.
    let short_ulong = Tmpl::new().bytes(CKA_CLASS, &[4, 0, 0, 0]);
    let a = short_ulong.attrs();
    let t = aes("bad ulong", &KEY16).bytes(CKA_WRAP_TEMPLATE, &array_value(&a));
    assert_rv!(rv(h.create(s, &t)), CKR_ATTRIBUTE_VALUE_INVALID, "CK_ULONG of 4 bytes in CKA_WRAP_TEMPLATE");
    // Not a whole number of CK_ATTRIBUTEs.
    let t = aes("bad size", &KEY16).bytes(CKA_WRAP_TEMPLATE, &[0; 7]);
    assert_rv!(rv(h.create(s, &t)), CKR_ATTRIBUTE_VALUE_INVALID, "CKA_WRAP_TEMPLATE of 7 bytes");
    // A CK_BBOOL of 2 bytes inside CKA_UNWRAP_TEMPLATE, refused at the top level
    // (template_errors_have_their_return_codes): nested, it could never apply.
    let long_bool = Tmpl::new().bytes(CKA_SENSITIVE, &[1, 0]);
    let a = long_bool.attrs();
    let t = aes("bad bool", &KEY16).bytes(CKA_UNWRAP_TEMPLATE, &array_value(&a));
    assert_rv!(rv(h.create(s, &t)), CKR_ATTRIBUTE_VALUE_INVALID, "CK_BBOOL of 2 bytes in CKA_UNWRAP_TEMPLATE");
}

// ---------------------------------------------------------------------------
// C_SetAttributeValue

#[test]
fn a_label_change_is_kept_across_a_restart() {
    let (mut h, s) = Hsm::ready();
    let d = h.create(s, &data("before", true)).unwrap();
    let k = h.create(s, &aes("key before", &KEY16).token(true)).unwrap();
    assert_rv!(h.set(s, d, &Tmpl::new().label("after")), CKR_OK);
    assert_rv!(h.set(s, k, &Tmpl::new().label("key after").bytes(CKA_ID, b"\x01\x02")), CKR_OK);
    assert_eq!(h.get(s, d, CKA_LABEL).unwrap(), b"after");
    assert_eq!(h.find(s, &Tmpl::new().label("before")), Vec::<CK_OBJECT_HANDLE>::new(), "the index follows");
    assert_eq!(h.find(s, &Tmpl::new().label("after")), vec![d]);

    h.restart();
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert!(h.find(s, &Tmpl::new().label("before")).is_empty());
    assert_eq!(h.find(s, &Tmpl::new().label("after")).len(), 1);
    assert!(h.find(s, &Tmpl::new().label("key before")).is_empty());
    let k = h.find(s, &Tmpl::new().label("key after"));
    assert_eq!(k.len(), 1);
    assert_eq!(h.get(s, k[0], CKA_ID).unwrap(), [1, 2]);
}

#[test]
fn set_attribute_value_refuses_what_may_not_change() {
    let (h, s) = Hsm::ready();
    let d = h.create(s, &data("d", false)).unwrap();
    let k = h.create(s, &aes("k", &KEY16)).unwrap();
    let ul = |v: CK_ULONG| v.to_ne_bytes().to_vec();
    let cases: Vec<(&str, CK_OBJECT_HANDLE, CK_ATTRIBUTE_TYPE, Vec<u8>, CK_RV)> = vec![
        ("CKA_CLASS", d, CKA_CLASS, ul(CKO_SECRET_KEY), CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_CLASS of a key", k, CKA_CLASS, ul(CKO_DATA), CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_KEY_TYPE", k, CKA_KEY_TYPE, ul(CKK_GENERIC_SECRET), CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_VALUE of a key", k, CKA_VALUE, vec![0; 16], CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_UNIQUE_ID", k, CKA_UNIQUE_ID, b"other".to_vec(), CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_LOCAL", k, CKA_LOCAL, vec![1], CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_ALWAYS_SENSITIVE", k, CKA_ALWAYS_SENSITIVE, vec![1], CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_NEVER_EXTRACTABLE", k, CKA_NEVER_EXTRACTABLE, vec![1], CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_KEY_GEN_MECHANISM", k, CKA_KEY_GEN_MECHANISM, ul(CKM_AES_KEY_GEN), CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_FERRO_ORIGIN", k, CKA_FERRO_ORIGIN, ul(1), CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_SENSITIVE true->false", k, CKA_SENSITIVE, vec![0], CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_EXTRACTABLE false->true", k, CKA_EXTRACTABLE, vec![1], CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_TRUSTED true by the user", k, CKA_TRUSTED, vec![1], CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_PRIVATE of a key", k, CKA_PRIVATE, vec![0], CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_TOKEN", k, CKA_TOKEN, vec![1], CKR_ATTRIBUTE_READ_ONLY),
        ("CKA_MODULUS on a data object", d, CKA_MODULUS, vec![1; 8], CKR_ATTRIBUTE_TYPE_INVALID),
    ];
    for (what, o, ty, v, want) in cases {
        assert_rv!(h.set(s, o, &Tmpl::new().bytes(ty, &v)), want, "C_SetAttributeValue({what})");
    }
    assert_eq!(h.get_ulong(s, k, CKA_CLASS), CKO_SECRET_KEY);
    assert!(h.get_bool(s, k, CKA_SENSITIVE));
    assert!(!h.get_bool(s, k, CKA_EXTRACTABLE));
    assert!(!h.get_bool(s, k, CKA_TRUSTED));
    assert_eq!(h.get(s, k, CKA_CHECK_VALUE).unwrap(), KEY16_CHECK, "the key is unchanged");
}

#[test]
fn sensitive_may_only_rise_and_extractable_only_fall_and_the_history_stays_honest() {
    let (h, s) = Hsm::ready();
    let k = h.create(s, &aes("k", &KEY16).bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true)).unwrap();
    assert_eq!(h.get(s, k, CKA_VALUE).unwrap(), KEY16);
    assert_rv!(h.set(s, k, &Tmpl::new().bool(CKA_SENSITIVE, true)), CKR_OK, "CKA_SENSITIVE false->true");
    assert!(h.get_bool(s, k, CKA_SENSITIVE));
    assert!(!h.get_bool(s, k, CKA_ALWAYS_SENSITIVE), "it was not always sensitive");
    assert_rv!(rv(h.get(s, k, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE, "now hidden");
    assert_rv!(h.set(s, k, &Tmpl::new().bool(CKA_SENSITIVE, false)), CKR_ATTRIBUTE_READ_ONLY, "and for good");

    assert_rv!(h.set(s, k, &Tmpl::new().bool(CKA_EXTRACTABLE, false)), CKR_OK, "CKA_EXTRACTABLE true->false");
    assert!(!h.get_bool(s, k, CKA_EXTRACTABLE));
    assert!(!h.get_bool(s, k, CKA_NEVER_EXTRACTABLE), "it was extractable once");
    assert_rv!(h.set(s, k, &Tmpl::new().bool(CKA_EXTRACTABLE, true)), CKR_ATTRIBUTE_READ_ONLY, "and for good");
    // Setting a sticky attribute to the value it has is no change.
    assert_rv!(h.set(s, k, &Tmpl::new().bool(CKA_SENSITIVE, true).bool(CKA_EXTRACTABLE, false)), CKR_OK);
    // Footnote 11 again: CKA_WRAP_WITH_TRUSTED cannot go back to false.
    assert_rv!(h.set(s, k, &Tmpl::new().bool(CKA_WRAP_WITH_TRUSTED, true)), CKR_OK);
    assert_rv!(h.set(s, k, &Tmpl::new().bool(CKA_WRAP_WITH_TRUSTED, false)), CKR_ATTRIBUTE_READ_ONLY);
}

#[test]
fn an_unmodifiable_object_cannot_be_changed() {
    let (h, s) = Hsm::ready();
    let d = h.create(s, &data("frozen", true).bool(CKA_MODIFIABLE, false)).unwrap();
    assert!(!h.get_bool(s, d, CKA_MODIFIABLE));
    assert_rv!(h.set(s, d, &Tmpl::new().label("thawed")), CKR_ACTION_PROHIBITED);
    assert_rv!(h.set(s, d, &Tmpl::new().bytes(CKA_VALUE, b"other")), CKR_ACTION_PROHIBITED);
    assert_rv!(h.set(s, d, &Tmpl::new().bool(CKA_MODIFIABLE, true)), CKR_ACTION_PROHIBITED);
    assert_eq!(h.get(s, d, CKA_LABEL).unwrap(), b"frozen");
    assert_eq!(h.get(s, d, CKA_VALUE).unwrap(), b"some data");
    let k = h.create(s, &aes("frozen key", &KEY16).bool(CKA_MODIFIABLE, false)).unwrap();
    assert_rv!(h.set(s, k, &Tmpl::new().bool(CKA_ENCRYPT, false)), CKR_ACTION_PROHIBITED);
    assert!(h.get_bool(s, k, CKA_ENCRYPT));
    // Unmodifiable is not undestroyable.
    assert_rv!(h.destroy(s, d), CKR_OK);
}

#[test]
fn set_attribute_value_is_all_or_nothing() {
    let (mut h, s) = Hsm::ready();
    let k = h.create(s, &aes("a", &KEY16).bytes(CKA_ID, b"1").token(true)).unwrap();
    let bad_last = Tmpl::new().label("b").bytes(CKA_ID, b"2").bool(CKA_ENCRYPT, false).bool(CKA_SENSITIVE, false);
    assert_rv!(h.set(s, k, &bad_last), CKR_ATTRIBUTE_READ_ONLY);
    let bad_type = Tmpl::new().label("b").bytes(CKA_MODULUS, &[1; 8]);
    assert_rv!(h.set(s, k, &bad_type), CKR_ATTRIBUTE_TYPE_INVALID);
    let bad_value = Tmpl::new().label("b").bytes(CKA_ENCRYPT, &[1, 1]);
    assert_rv!(h.set(s, k, &bad_value), CKR_ATTRIBUTE_VALUE_INVALID);
    let check = |h: &Hsm, s, k| {
        assert_eq!(h.get(s, k, CKA_LABEL).unwrap(), b"a");
        assert_eq!(h.get(s, k, CKA_ID).unwrap(), b"1");
        assert!(h.get_bool(s, k, CKA_ENCRYPT));
    };
    check(&h, s, k);
    assert!(h.find(s, &Tmpl::new().label("b")).is_empty());
    h.restart();
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    let k = h.find(s, &Tmpl::new().label("a"));
    assert_eq!(k.len(), 1, "nothing of the failed changes reached the store");
    check(&h, s, k[0]);
}

#[test]
fn only_the_so_may_mark_a_certificate_trusted() {
    let (h, s) = Hsm::ready();
    let der = certificate("trusted");
    // Footnote 10: only the SO can set CKA_TRUSTED to true.
    assert_rv!(rv(h.create(s, &x509("t", &der).token(true).bool(CKA_TRUSTED, true))), CKR_ATTRIBUTE_READ_ONLY);
    let c = h.create(s, &x509("c", &der).token(true).bool(CKA_TRUSTED, false)).unwrap();
    assert_rv!(h.set(s, c, &Tmpl::new().bool(CKA_TRUSTED, true)), CKR_ATTRIBUTE_READ_ONLY, "by the user");
    assert!(!h.get_bool(s, c, CKA_TRUSTED));
    assert_eq!(call!(C_Logout, s), CKR_OK);
    assert_eq!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    assert_rv!(h.set(s, c, &Tmpl::new().bool(CKA_TRUSTED, true)), CKR_OK, "by the SO");
    assert!(h.get_bool(s, c, CKA_TRUSTED));
    let t = h.create(s, &x509("t", &der).token(true).bool(CKA_TRUSTED, true)).expect("the SO creates a trusted cert");
    assert!(h.get_bool(s, t, CKA_TRUSTED));
}

// ---------------------------------------------------------------------------
// C_CopyObject

#[test]
fn a_copy_gets_a_new_identity_and_keeps_the_provenance() {
    let (h, s) = Hsm::ready();
    let k = h.create(s, &aes("original", &KEY16).bytes(CKA_ID, b"id")).unwrap();
    let before = now();
    let c = h.copy(s, k, &Tmpl::new().label("copy")).unwrap();
    assert_ne!(c, k, "a new handle");
    let (uk, uc) = (h.get(s, k, CKA_UNIQUE_ID).unwrap(), h.get(s, c, CKA_UNIQUE_ID).unwrap());
    assert!(!uc.is_empty());
    assert_ne!(uk, uc, "a new CKA_UNIQUE_ID");
    assert_eq!(h.get_ulong(s, k, CKA_FERRO_ORIGIN), ORIGIN_IMPORTED);
    assert_eq!(h.get_ulong(s, c, CKA_FERRO_ORIGIN), ORIGIN_COPIED);
    let created = stamp_seconds(&h.get(s, c, CKA_FERRO_CREATED).unwrap());
    assert!(created >= before - 2 && created <= now() + 2);
    for ty in [CKA_LOCAL, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_PRIVATE] {
        assert_eq!(h.get_bool(s, c, ty), h.get_bool(s, k, ty), "{ty:#x} is kept");
    }
    assert_eq!(h.get_ulong(s, c, CKA_KEY_GEN_MECHANISM), CK_UNAVAILABLE_INFORMATION);
    for ty in [CKA_CHECK_VALUE, CKA_ID, CKA_VALUE_LEN, CKA_KEY_TYPE] {
        assert_eq!(h.get(s, c, ty).unwrap(), h.get(s, k, ty).unwrap(), "{ty:#x} is copied");
    }
    assert_eq!(h.get(s, c, CKA_LABEL).unwrap(), b"copy");
    assert_eq!(h.get(s, k, CKA_LABEL).unwrap(), b"original");
    // The copy lives on its own.
    assert_rv!(h.destroy(s, k), CKR_OK);
    assert_eq!(h.get(s, c, CKA_CHECK_VALUE).unwrap(), KEY16_CHECK);
    // Copying a copy is allowed, and every copy is unique.
    let cc = h.copy(s, c, &Tmpl::new()).unwrap();
    assert_ne!(h.get(s, cc, CKA_UNIQUE_ID).unwrap(), uc);
}

#[test]
fn a_session_object_copied_to_the_token_persists() {
    let (mut h, s) = Hsm::ready();
    let k = h.create(s, &aes("session key", &KEY16)).unwrap();
    let d = h.create(s, &data("session data", false)).unwrap();
    let ck = h.copy(s, k, &Tmpl::new().token(true).label("token key")).unwrap();
    let cd = h.copy(s, d, &Tmpl::new().token(true).label("token data")).unwrap();
    assert!(h.get_bool(s, ck, CKA_TOKEN));
    let uid = h.get(s, ck, CKA_UNIQUE_ID).unwrap();
    let _ = cd;
    h.restart();
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    let found = h.find(s, &Tmpl::new().label("token key"));
    assert_eq!(found.len(), 1, "the token copy of a session key survives a restart");
    assert_eq!(h.get(s, found[0], CKA_CHECK_VALUE).unwrap(), KEY16_CHECK);
    assert_eq!(h.get(s, found[0], CKA_UNIQUE_ID).unwrap(), uid);
    assert_eq!(h.get_ulong(s, found[0], CKA_FERRO_ORIGIN), ORIGIN_COPIED);
    assert_eq!(h.find(s, &Tmpl::new().label("token data")).len(), 1);
    assert!(h.find(s, &Tmpl::new().label("session key")).is_empty());
}

#[test]
fn a_copy_may_tighten_but_not_loosen() {
    let (h, s) = Hsm::ready();
    let open = h.create(s, &aes("open", &KEY16).bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true)).unwrap();
    let c1 = h.copy(s, open, &Tmpl::new().bool(CKA_EXTRACTABLE, false)).expect("EXTRACTABLE true->false in a copy");
    assert!(!h.get_bool(s, c1, CKA_EXTRACTABLE));
    assert!(!h.get_bool(s, c1, CKA_NEVER_EXTRACTABLE), "the copy was extractable once");
    let c2 = h.copy(s, open, &Tmpl::new().bool(CKA_SENSITIVE, true)).expect("SENSITIVE false->true in a copy");
    assert!(h.get_bool(s, c2, CKA_SENSITIVE));
    assert!(!h.get_bool(s, c2, CKA_ALWAYS_SENSITIVE), "the copy was not always sensitive");
    assert_rv!(rv(h.get(s, c2, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE);

    assert_rv!(rv(h.copy(s, c1, &Tmpl::new().bool(CKA_EXTRACTABLE, true))), CKR_ATTRIBUTE_READ_ONLY, "false->true");
    assert_rv!(rv(h.copy(s, c2, &Tmpl::new().bool(CKA_SENSITIVE, false))), CKR_ATTRIBUTE_READ_ONLY, "true->false");
    assert_rv!(rv(h.copy(s, open, &Tmpl::new().bytes(CKA_VALUE, &[0; 16]))), CKR_ATTRIBUTE_READ_ONLY, "new key bytes");
    assert_rv!(rv(h.copy(s, open, &Tmpl::new().bool(CKA_LOCAL, true))), CKR_ATTRIBUTE_READ_ONLY, "CKA_LOCAL");
    assert_rv!(
        rv(h.copy(s, open, &Tmpl::new().bool(CKA_ALWAYS_SENSITIVE, true))),
        CKR_ATTRIBUTE_READ_ONLY,
        "CKA_ALWAYS_SENSITIVE"
    );
    assert_rv!(rv(h.copy(s, open, &Tmpl::new().bool(CKA_TRUSTED, true))), CKR_ATTRIBUTE_READ_ONLY, "CKA_TRUSTED");
    assert_eq!(h.find(s, &Tmpl::new().class(CKO_SECRET_KEY)).len(), 3, "no failed copy left an object");
    // §4.4: CKA_MODIFIABLE may change in a copy.
    let frozen = h.copy(s, open, &Tmpl::new().bool(CKA_MODIFIABLE, false)).unwrap();
    assert_rv!(h.set(s, frozen, &Tmpl::new().label("x")), CKR_ACTION_PROHIBITED);
}

#[test]
fn an_uncopyable_object_cannot_be_copied_or_made_copyable() {
    let (h, s) = Hsm::ready();
    let k = h.create(s, &aes("no copies", &KEY16).bool(CKA_COPYABLE, false)).unwrap();
    assert!(!h.get_bool(s, k, CKA_COPYABLE));
    assert_rv!(rv(h.copy(s, k, &Tmpl::new())), CKR_ACTION_PROHIBITED);
    assert_rv!(rv(h.copy(s, k, &Tmpl::new().token(true))), CKR_ACTION_PROHIBITED);
    // Both codes apply to a copy template that would also make it copyable.
    let got = rv(h.copy(s, k, &Tmpl::new().bool(CKA_COPYABLE, true)));
    assert!([CKR_ACTION_PROHIBITED, CKR_ATTRIBUTE_READ_ONLY].contains(&got), "rv {got:#x}");
    // "Can't be set to TRUE once it is set to FALSE."
    assert_rv!(h.set(s, k, &Tmpl::new().bool(CKA_COPYABLE, true)), CKR_ATTRIBUTE_READ_ONLY);
    assert!(!h.get_bool(s, k, CKA_COPYABLE));
    // A copy may be made uncopyable, and then is.
    let d = h.create(s, &data("d", false)).unwrap();
    let c = h.copy(s, d, &Tmpl::new().bool(CKA_COPYABLE, false)).unwrap();
    assert!(!h.get_bool(s, c, CKA_COPYABLE));
    assert_rv!(rv(h.copy(s, c, &Tmpl::new())), CKR_ACTION_PROHIBITED);
    let mut n = 0;
    let mut handles = [0 as CK_OBJECT_HANDLE; 8];
    let t = Tmpl::new().label("no copies");
    let mut a = t.attrs();
    assert_eq!(call!(C_FindObjectsInit, s, a.as_mut_ptr(), a.len() as CK_ULONG), CKR_OK);
    assert_eq!(call!(C_FindObjects, s, handles.as_mut_ptr(), 8, &mut n), CKR_OK);
    assert_eq!(call!(C_FindObjectsFinal, s), CKR_OK);
    assert_eq!(n, 1, "no copy was made");
}

// ---------------------------------------------------------------------------
// C_DestroyObject and lifetimes

#[test]
fn destroyed_objects_are_gone() {
    let (mut h, s) = Hsm::ready();
    let d = h.create(s, &data("session", false)).unwrap();
    assert_rv!(h.destroy(s, d), CKR_OK);
    assert_rv!(rv(h.get(s, d, CKA_LABEL)), CKR_OBJECT_HANDLE_INVALID);
    assert_rv!(h.destroy(s, d), CKR_OBJECT_HANDLE_INVALID, "destroying twice");
    assert_rv!(h.destroy(s, 0x7fff_0000), CKR_OBJECT_HANDLE_INVALID);

    let kept = h.create(s, &data("kept", true).bool(CKA_DESTROYABLE, false)).unwrap();
    assert!(!h.get_bool(s, kept, CKA_DESTROYABLE));
    assert_rv!(h.destroy(s, kept), CKR_ACTION_PROHIBITED);
    assert_eq!(h.get(s, kept, CKA_LABEL).unwrap(), b"kept");

    let public = h.create(s, &data("public token", true)).unwrap();
    let private = h.create(s, &aes("private token", &KEY16).token(true)).unwrap();
    assert_rv!(h.destroy(s, public), CKR_OK);
    assert_rv!(h.destroy(s, private), CKR_OK);
    assert!(h.find(s, &Tmpl::new().label("public token")).is_empty());
    h.restart();
    let s = h.open(0, true);
    assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert!(h.find(s, &Tmpl::new().label("public token")).is_empty(), "destroyed token objects stay destroyed");
    assert!(h.find(s, &Tmpl::new().label("private token")).is_empty());
    assert_eq!(h.find(s, &Tmpl::new().label("kept")).len(), 1);
}

#[test]
fn session_objects_live_with_their_session_and_token_objects_with_the_token() {
    let (mut h, a) = Hsm::ready();
    let b = h.open(0, false);
    let session = h.create(a, &data("session", false)).unwrap();
    let private_session = h.create(a, &aes("session key", &KEY16)).unwrap();
    let token = h.create(a, &data("token", true)).unwrap();
    // Visible to every session of the application while its session lives.
    assert_eq!(h.find(b, &Tmpl::new().label("session")), vec![session]);
    assert_eq!(h.get(b, session, CKA_VALUE).unwrap(), b"some data");
    assert_eq!(h.get(b, private_session, CKA_CHECK_VALUE).unwrap(), KEY16_CHECK);
    assert_rv!(h.set(b, session, &Tmpl::new().label("session")), CKR_OK, "and usable from them");

    assert_eq!(call!(C_CloseSession, a), CKR_OK);
    for o in [session, private_session] {
        assert_rv!(rv(h.get(b, o, CKA_LABEL)), CKR_OBJECT_HANDLE_INVALID, "session object {o} after its session");
    }
    assert!(h.find(b, &Tmpl::new().label("session")).is_empty());
    assert_eq!(h.get(b, token, CKA_LABEL).unwrap(), b"token", "token objects outlive the session");

    h.restart();
    let s = h.open(0, false);
    assert_eq!(h.find(s, &Tmpl::new().label("token")).len(), 1, "and the module");
    assert!(h.find(s, &Tmpl::new().label("session")).is_empty());
}

// ---------------------------------------------------------------------------
// C_FindObjects

#[test]
fn find_by_class_label_id_unique_id_and_several_at_once() {
    let (h, s) = Hsm::ready();
    let d1 = h.create(s, &data("alpha", false).bytes(CKA_APPLICATION, b"app")).unwrap();
    let d2 = h.create(s, &data("beta", true)).unwrap();
    let k1 = h.create(s, &aes("alpha", &KEY16).bytes(CKA_ID, b"\x01")).unwrap();
    let k2 = h.create(s, &aes("gamma", &KEY16).bytes(CKA_ID, b"\x01").token(true)).unwrap();
    let k3 = h.create(s, &secret(CKK_GENERIC_SECRET, "delta", b"x").bytes(CKA_ID, b"\x02")).unwrap();
    let ec = ec_key();
    let p = h.create(s, &ec_public("alpha", &ec).bytes(CKA_ID, b"\x01")).unwrap();

    assert_eq!(sorted(h.find(s, &Tmpl::new().class(CKO_DATA))), sorted(vec![d1, d2]));
    assert_eq!(sorted(h.find(s, &Tmpl::new().class(CKO_SECRET_KEY))), sorted(vec![k1, k2, k3]));
    // The partition's own attestation and timestamp keys are keys too: role ≠ 0.
    let user = |t: Tmpl| t.ulong(CKA_FERRO_KEY_ROLE, 0);
    assert_eq!(h.find(s, &user(Tmpl::new().class(CKO_PUBLIC_KEY))), vec![p]);
    assert!(h.find(s, &user(Tmpl::new().class(CKO_PRIVATE_KEY))).is_empty());
    assert_eq!(sorted(h.find(s, &Tmpl::new().label("alpha"))), sorted(vec![d1, k1, p]));
    assert!(h.find(s, &Tmpl::new().label("alph")).is_empty(), "labels match whole");
    assert_eq!(sorted(h.find(s, &Tmpl::new().bytes(CKA_ID, b"\x01"))), sorted(vec![k1, k2, p]));
    let uid = h.get(s, k2, CKA_UNIQUE_ID).unwrap();
    assert_eq!(h.find(s, &Tmpl::new().bytes(CKA_UNIQUE_ID, &uid)), vec![k2]);
    // Several attributes: every one must match.
    assert_eq!(h.find(s, &Tmpl::new().class(CKO_SECRET_KEY).label("alpha")), vec![k1]);
    assert_eq!(h.find(s, &Tmpl::new().class(CKO_SECRET_KEY).bytes(CKA_ID, b"\x01").token(true)), vec![k2]);
    assert_eq!(
        h.find(s, &Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)),
        vec![k3],
        "by key type"
    );
    assert_eq!(h.find(s, &Tmpl::new().class(CKO_DATA).bytes(CKA_APPLICATION, b"app")), vec![d1]);
    assert!(h.find(s, &Tmpl::new().class(CKO_DATA).bytes(CKA_ID, b"\x01")).is_empty(), "data has no CKA_ID");
    assert!(h.find(s, &Tmpl::new().label("beta").token(false)).is_empty());
    assert!(h.find(s, &Tmpl::new().label("beta").bytes(0x7654_3210, b"?")).is_empty(), "an attribute none has");
    // A CK_BBOOL matches by truth: C callers pass any non-zero byte for CK_TRUE.
    assert_eq!(h.find(s, &Tmpl::new().label("beta").bytes(CKA_TOKEN, &[0xff])), vec![d2]);
}

#[test]
fn an_empty_find_lists_everything_visible() {
    let (h, s) = Hsm::ready();
    let public = h.create(s, &data("public", true)).unwrap();
    let session = h.create(s, &data("session", false)).unwrap();
    let private = h.create(s, &aes("key", &KEY16).token(true)).unwrap();
    let all = h.find(s, &Tmpl::new());
    // Besides the user's objects: the partition's policy object, and its attestation
    // and timestamp keys (public key, private key, certificate each), all public.
    let partition: Vec<_> =
        all.iter().copied().filter(|&o| h.get_ulong(s, o, CKA_CLASS) == CKO_FERRO_PARTITION).collect();
    assert_eq!(partition.len(), 1);
    let chain: Vec<_> =
        all.iter().copied().filter(|&o| h.get(s, o, CKA_FERRO_KEY_ROLE).is_ok_and(|r| r != [0; 8])).collect();
    assert_eq!(chain.len(), 6, "two keys of the chain, three objects each");
    let mut expected = vec![public, session, private, partition[0]];
    expected.extend(&chain);
    assert_eq!(sorted(all.clone()), sorted(expected.clone()));
    assert_eq!(call!(C_Logout, s), CKR_OK);
    expected.retain(|&o| o != private);
    assert_eq!(sorted(h.find(s, &Tmpl::new())), sorted(expected), "without the user");
}

#[test]
fn find_results_come_in_chunks() {
    let (h, s) = Hsm::ready();
    let mut made: Vec<CK_OBJECT_HANDLE> = (0..10).map(|_| h.create(s, &data("chunk", false)).unwrap()).collect();
    let (sizes, found) = find_in_chunks(s, &Tmpl::new().label("chunk"), 3);
    assert_eq!(sizes, [3, 3, 3, 1, 0]);
    let mut dedup = found.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(dedup.len(), 10, "no handle twice");
    made.sort_unstable();
    assert_eq!(dedup, made);
    let (sizes, _) = find_in_chunks(s, &Tmpl::new().label("chunk"), 10);
    assert_eq!(sizes, [10, 0]);
    let (sizes, _) = find_in_chunks(s, &Tmpl::new().label("chunk"), 100);
    assert_eq!(sizes, [10, 0]);
    let (sizes, _) = find_in_chunks(s, &Tmpl::new().label("none"), 4);
    assert_eq!(sizes, [0]);
}

#[test]
fn find_operations_have_their_state_rules() {
    let (h, s) = Hsm::ready();
    h.create(s, &data("d", false)).unwrap();
    let mut handles = [0 as CK_OBJECT_HANDLE; 4];
    let mut n: CK_ULONG = 0;
    assert_rv!(call!(C_FindObjects, s, handles.as_mut_ptr(), 4, &mut n), CKR_OPERATION_NOT_INITIALIZED);
    assert_rv!(call!(C_FindObjectsFinal, s), CKR_OPERATION_NOT_INITIALIZED);
    assert_rv!(call!(C_FindObjectsInit, s, ptr::null_mut(), 0), CKR_OK);
    assert_rv!(call!(C_FindObjectsInit, s, ptr::null_mut(), 0), CKR_OPERATION_ACTIVE);
    // A find belongs to its session.
    let other = h.open(0, false);
    assert_rv!(call!(C_FindObjects, other, handles.as_mut_ptr(), 4, &mut n), CKR_OPERATION_NOT_INITIALIZED);
    assert_rv!(call!(C_FindObjectsInit, other, ptr::null_mut(), 0), CKR_OK);
    assert_rv!(call!(C_FindObjectsFinal, other), CKR_OK);
    // The first find is still active and works.
    assert_rv!(call!(C_FindObjects, s, handles.as_mut_ptr(), 4, &mut n), CKR_OK);
    assert!(n >= 1);
    assert_rv!(call!(C_FindObjectsFinal, s), CKR_OK);
    assert_rv!(call!(C_FindObjects, s, handles.as_mut_ptr(), 4, &mut n), CKR_OPERATION_NOT_INITIALIZED, "after Final");
    assert_rv!(call!(C_FindObjectsInit, s, ptr::null_mut(), 0), CKR_OK, "a new find after Final");
    assert_rv!(call!(C_FindObjectsFinal, s), CKR_OK);
}

#[test]
fn a_find_never_matches_key_material() {
    let (h, s) = Hsm::ready();
    let value: Vec<u8> = (100..132u8).collect();
    let k = h.create(s, &aes("secret", &value)).unwrap();
    let open = h.create(s, &open_aes("open", &KEY16)).unwrap();
    let ec = ec_key();
    h.create(s, &ec_private("ec", &ec)).unwrap();
    assert_eq!(h.find(s, &Tmpl::new().label("secret")), vec![k]);
    // Right value, still no match: a find must not become an oracle for key bytes.
    assert!(h.find(s, &Tmpl::new().label("secret").bytes(CKA_VALUE, &value)).is_empty());
    assert!(h.find(s, &Tmpl::new().class(CKO_SECRET_KEY).bytes(CKA_VALUE, &value)).is_empty());
    assert!(h.find(s, &Tmpl::new().bytes(CKA_VALUE, &value)).is_empty());
    assert!(h.find(s, &Tmpl::new().class(CKO_PRIVATE_KEY).bytes(CKA_VALUE, &ec.d)).is_empty());
    assert!(h.find(s, &Tmpl::new().label("open").bytes(CKA_VALUE, &KEY16)).is_empty());
    let _ = open;
    // A data object's value is no secret: it matches.
    let d = h.create(s, &data("data", false)).unwrap();
    assert_eq!(h.find(s, &Tmpl::new().bytes(CKA_VALUE, b"some data")), vec![d]);
}

#[test]
fn a_find_sees_the_objects_of_its_start() {
    let (h, s) = Hsm::ready();
    let other = h.open(0, true);
    let first = h.create(s, &data("snap", false)).unwrap();
    let t = Tmpl::new().label("snap");
    let mut a = t.attrs();
    assert_rv!(call!(C_FindObjectsInit, s, a.as_mut_ptr(), a.len() as CK_ULONG), CKR_OK);
    let second = h.create(other, &data("snap", true)).unwrap();
    let mut handles = [0 as CK_OBJECT_HANDLE; 8];
    let mut n: CK_ULONG = 0;
    assert_rv!(call!(C_FindObjects, s, handles.as_mut_ptr(), 8, &mut n), CKR_OK);
    assert_eq!(&handles[..n as usize], [first]);
    assert_rv!(call!(C_FindObjects, s, handles.as_mut_ptr(), 8, &mut n), CKR_OK);
    assert_eq!(n, 0);
    assert_rv!(call!(C_FindObjectsFinal, s), CKR_OK);
    assert_eq!(sorted(h.find(s, &t)), sorted(vec![first, second]), "the next find sees both");
}

#[test]
fn object_size_is_known_for_visible_objects_only() {
    let (h, s) = Hsm::ready();
    let d = h.create(s, &data("d", false)).unwrap();
    let k = h.create(s, &aes("k", &KEY16).token(true)).unwrap();
    let mut size: CK_ULONG = 0;
    assert_rv!(call!(C_GetObjectSize, s, d, &mut size), CKR_OK);
    assert!(size > 0 && size != CK_UNAVAILABLE_INFORMATION, "size {size}");
    let mut size: CK_ULONG = 0;
    assert_rv!(call!(C_GetObjectSize, s, k, &mut size), CKR_OK);
    assert!(size > 0);
    assert_rv!(call!(C_GetObjectSize, s, 0x7fff_0000, &mut size), CKR_OBJECT_HANDLE_INVALID);
    assert_rv!(call!(C_GetObjectSize, s, 0, &mut size), CKR_OBJECT_HANDLE_INVALID);
    assert_rv!(h.destroy(s, d), CKR_OK);
    assert_rv!(call!(C_GetObjectSize, s, d, &mut size), CKR_OBJECT_HANDLE_INVALID, "destroyed");
}

#[test]
fn object_calls_on_a_bad_session_say_so() {
    let (h, s) = Hsm::ready();
    let d = h.create(s, &data("d", false)).unwrap();
    let bad = 0x7fff_0000;
    assert_rv!(rv(h.create(bad, &data("x", false))), CKR_SESSION_HANDLE_INVALID);
    assert_rv!(rv(h.copy(bad, d, &Tmpl::new())), CKR_SESSION_HANDLE_INVALID);
    assert_rv!(rv(h.get(bad, d, CKA_LABEL)), CKR_SESSION_HANDLE_INVALID);
    assert_rv!(h.set(bad, d, &Tmpl::new().label("x")), CKR_SESSION_HANDLE_INVALID);
    assert_rv!(h.destroy(bad, d), CKR_SESSION_HANDLE_INVALID);
    assert_rv!(call!(C_FindObjectsInit, bad, ptr::null_mut(), 0), CKR_SESSION_HANDLE_INVALID);
    let mut size = 0;
    assert_rv!(call!(C_GetObjectSize, bad, d, &mut size), CKR_SESSION_HANDLE_INVALID);
    assert_eq!(h.get(s, d, CKA_LABEL).unwrap(), b"d");
}

// ---------------------------------------------------------------------------
// The partition object

#[test]
fn every_partition_lists_its_own_partition_object() {
    let (h, s) = Hsm::ready();
    let own = |s: CK_SESSION_HANDLE| -> Vec<CK_OBJECT_HANDLE> {
        h.find(s, &Tmpl::new()).into_iter().filter(|&o| h.get_ulong(s, o, CKA_CLASS) == CKO_FERRO_PARTITION).collect()
    };
    let p = own(s);
    assert_eq!(p.len(), 1, "slot 0 lists one partition object");
    assert_eq!(h.get_ulong(s, p[0], CKA_FERRO_SLOT_ID), 0);
    assert!(h.get_bool(s, p[0], CKA_TOKEN));
    assert!(!h.get_bool(s, p[0], CKA_PRIVATE));
    assert_eq!(h.find(s, &Tmpl::new().class(CKO_FERRO_PARTITION)), p, "by class too");
    assert_rv!(h.destroy(s, p[0]), CKR_ACTION_PROHIBITED, "a partition does not remove itself");
    assert_rv!(rv(h.copy(s, p[0], &Tmpl::new())), CKR_ACTION_PROHIBITED, "nor copies itself");
    assert_eq!(call!(C_Logout, s), CKR_OK);
    assert_eq!(own(s), p, "everyone sees it");

    // The admin token lists every partition, itself included.
    h.init_token(ADMIN_SLOT, SO_PIN, "device");
    let a = h.open(ADMIN_SLOT, true);
    let slots_of = |s: CK_SESSION_HANDLE| -> Vec<CK_ULONG> {
        let mut v: Vec<_> = own(s).into_iter().map(|o| h.get_ulong(s, o, CKA_FERRO_SLOT_ID)).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(slots_of(a), vec![0, ADMIN_SLOT]);
    // A new partition lists its own.
    assert_eq!(h.login(a, CKU_SO, SO_PIN), CKR_OK);
    let np = h.create(a, &Tmpl::new().class(CKO_FERRO_PARTITION).token(true).label("second")).unwrap();
    let slot = h.get_ulong(a, np, CKA_FERRO_SLOT_ID);
    let n = h.open(slot, false);
    assert_eq!(slots_of(n), vec![slot]);
    // A partition's objects are not reachable from another partition's session.
    let d = h.find(s, &Tmpl::new().class(CKO_FERRO_PARTITION))[0];
    assert_rv!(rv(h.get(n, d, CKA_LABEL)), CKR_OBJECT_HANDLE_INVALID, "slot 0's object from slot {slot}");
    let mine = h.create(s, &data("slot 0 data", false)).unwrap();
    assert_rv!(rv(h.get(n, mine, CKA_LABEL)), CKR_OBJECT_HANDLE_INVALID);
    assert!(h.find(n, &Tmpl::new().label("slot 0 data")).is_empty());
}
