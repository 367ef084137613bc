//! The EC family through the built module (PKCS#11 v3.0 §2.3): key pair generation
//! on P-256, P-384, P-521 and Ed25519, `CKM_ECDSA` and `CKM_ECDSA_SHA*`,
//! `CKM_ECDH1_DERIVE` and `CKM_ECDH1_COFACTOR_DERIVE` with every KDF, `CKM_EDDSA`,
//! and EC key import.
//!
//! Expected values come from outside the module: keys, signatures and shared
//! secrets made or checked by the `openssl` command line, hashes by `openssl dgst`,
//! and the Ed25519 and Ed25519ph vectors of RFC 8032 §7.

#[macro_use]
mod common;

use std::path::Path;
use std::ptr;

use common::*;

/// What pkcs11-tool (OpenSC 0.23) sends for `--key-type EC:edwards25519`: the curve
/// name as a PrintableString.
const ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";

/// A NIST curve under test: its `CKA_EC_PARAMS`, OpenSSL's name, its field length.
#[derive(Clone, Copy, Debug)]
struct Curve {
    params: &'static [u8],
    openssl: &'static str,
    len: usize,
}

const CURVES: [Curve; 3] = [
    Curve { params: P256, openssl: "P-256", len: 32 },
    Curve { params: P384, openssl: "P-384", len: 48 },
    Curve { params: P521, openssl: "P-521", len: 66 },
];

const ECDSA_HASHES: [(CK_MECHANISM_TYPE, &str); 5] = [
    (CKM_ECDSA_SHA1, "sha1"),
    (CKM_ECDSA_SHA224, "sha224"),
    (CKM_ECDSA_SHA256, "sha256"),
    (CKM_ECDSA_SHA384, "sha384"),
    (CKM_ECDSA_SHA512, "sha512"),
];

const KDFS: [(CK_ULONG, &str); 6] = [
    (CKD_NULL, ""),
    (CKD_SHA1_KDF, "sha1"),
    (CKD_SHA224_KDF, "sha224"),
    (CKD_SHA256_KDF, "sha256"),
    (CKD_SHA384_KDF, "sha384"),
    (CKD_SHA512_KDF, "sha512"),
];

// ---------------------------------------------------------------------------
// Helpers

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Runs `openssl` with `input` on stdin; (success, stdout).
fn try_openssl(args: &[&str], input: &[u8]) -> (bool, Vec<u8>) {
    let r = run_openssl(args, input);
    (r.ok, r.stdout)
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

/// A DER length.
fn der_len(n: usize) -> Vec<u8> {
    match n {
        0..=0x7f => vec![n as u8],
        0x80..=0xff => vec![0x81, n as u8],
        _ => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(body.len()));
    out.extend_from_slice(body);
    out
}

/// PKCS#11's `r || s` as X9.62 `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`.
fn sig_to_der(rs: &[u8]) -> Vec<u8> {
    let int = |x: &[u8]| {
        let first = x.iter().position(|b| *b != 0).unwrap_or(x.len() - 1);
        let mut v = x[first..].to_vec();
        if v[0] & 0x80 != 0 {
            v.insert(0, 0);
        }
        der(0x02, &v)
    };
    let (r, s) = rs.split_at(rs.len() / 2);
    der(0x30, &[int(r), int(s)].concat())
}

/// `ECDSA-Sig-Value` as `r || s` of `len` bytes each.
fn sig_from_der(sig: &[u8], len: usize) -> Vec<u8> {
    let (_, body, _) = tlv(sig);
    let (_, r, rest) = tlv(body);
    let (_, s, _) = tlv(rest);
    let fixed = |x: &[u8]| {
        let x = &x[x.iter().position(|b| *b != 0).unwrap_or(x.len())..];
        let mut v = vec![0u8; len - x.len()];
        v.extend_from_slice(x);
        v
    };
    [fixed(r), fixed(s)].concat()
}

/// The public key bits of a SubjectPublicKeyInfo.
fn spki_key(spki: &[u8]) -> Vec<u8> {
    let (_, body, _) = tlv(spki);
    let (_, _, rest) = tlv(body);
    let (_, bits, _) = tlv(rest);
    bits[1..].to_vec()
}

/// The DER OCTET STRING around `b` (the form of `CKA_EC_POINT`).
fn octet_string(b: &[u8]) -> Vec<u8> {
    der(0x04, b)
}

/// A mechanism with a parameter struct `p` (which must outlive its use).
fn mech_with<T>(ty: CK_MECHANISM_TYPE, p: &mut T) -> CK_MECHANISM {
    CK_MECHANISM { mechanism: ty, pParameter: p as *mut T as *mut _, ulParameterLen: size_of::<T>() as CK_ULONG }
}

fn ecdh_params(kdf: CK_ULONG, shared: &[u8], public: &[u8]) -> CK_ECDH1_DERIVE_PARAMS {
    CK_ECDH1_DERIVE_PARAMS {
        kdf,
        ulSharedDataLen: shared.len() as CK_ULONG,
        pSharedData: if shared.is_empty() { ptr::null_mut() } else { shared.as_ptr() as *mut _ },
        ulPublicDataLen: public.len() as CK_ULONG,
        pPublicData: public.as_ptr() as *mut _,
    }
}

/// Public and private templates for a key pair; the private key is extractable and
/// not sensitive so that tests may read `CKA_VALUE`.
fn pair_templates(params: &[u8], label: &str) -> (Tmpl, Tmpl) {
    let public = Tmpl::new().bytes(CKA_EC_PARAMS, params).label(label).bool(CKA_VERIFY, true);
    let private = Tmpl::new()
        .label(label)
        .bool(CKA_SIGN, true)
        .bool(CKA_DERIVE, true)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true);
    (public, private)
}

fn try_generate(
    s: CK_SESSION_HANDLE,
    mech_ty: CK_MECHANISM_TYPE,
    public: &Tmpl,
    private: &Tmpl,
) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), CK_RV> {
    let mut m = mech(mech_ty);
    let (mut pa, mut qa) = (public.attrs(), private.attrs());
    let (mut hp, mut hq) = (0, 0);
    let rv = call!(
        C_GenerateKeyPair,
        s,
        &mut m,
        pa.as_mut_ptr(),
        pa.len() as CK_ULONG,
        qa.as_mut_ptr(),
        qa.len() as CK_ULONG,
        &mut hp,
        &mut hq
    );
    if rv == CKR_OK { Ok((hp, hq)) } else { Err(rv) }
}

/// An EC key pair on the curve of `params`: (public, private).
fn ec_pair(s: CK_SESSION_HANDLE, params: &[u8]) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let (p, q) = pair_templates(params, "ec");
    try_generate(s, CKM_EC_KEY_PAIR_GEN, &p, &q).unwrap_or_else(|rv| panic!("EC key pair: {rv:#x}"))
}

fn ed_pair(s: CK_SESSION_HANDLE, params: &[u8]) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let (p, q) = pair_templates(params, "ed");
    try_generate(s, CKM_EC_EDWARDS_KEY_PAIR_GEN, &p, &q).unwrap_or_else(|rv| panic!("Ed25519 key pair: {rv:#x}"))
}

fn sign_init(s: CK_SESSION_HANDLE, m: &mut CK_MECHANISM, key: CK_OBJECT_HANDLE) -> CK_RV {
    call!(C_SignInit, s, m, key)
}

/// `C_SignInit` + `C_Sign`, with a length query first.
fn sign_with(s: CK_SESSION_HANDLE, m: &mut CK_MECHANISM, key: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    match sign_init(s, m, key) {
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

fn sign(s: CK_SESSION_HANDLE, ty: CK_MECHANISM_TYPE, key: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    sign_with(s, &mut mech(ty), key, data)
}

/// `C_SignInit` + `C_SignUpdate` per part + `C_SignFinal` (with a length query).
fn sign_parts(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    parts: &[&[u8]],
) -> Result<Vec<u8>, CK_RV> {
    match sign_init(s, m, key) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    for p in parts {
        match call!(C_SignUpdate, s, p.as_ptr() as *mut _, p.len() as CK_ULONG) {
            CKR_OK => {}
            rv => return Err(rv),
        }
    }
    let mut n: CK_ULONG = 0;
    match call!(C_SignFinal, s, ptr::null_mut(), &mut n) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut out = vec![0u8; n as usize];
    match call!(C_SignFinal, s, out.as_mut_ptr(), &mut n) {
        CKR_OK => {
            out.truncate(n as usize);
            Ok(out)
        }
        rv => Err(rv),
    }
}

fn verify_with(s: CK_SESSION_HANDLE, m: &mut CK_MECHANISM, key: CK_OBJECT_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    match call!(C_VerifyInit, s, m, key) {
        CKR_OK => {}
        rv => return rv,
    }
    call!(C_Verify, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, sig.as_ptr() as *mut _, sig.len() as CK_ULONG)
}

fn verify(s: CK_SESSION_HANDLE, ty: CK_MECHANISM_TYPE, key: CK_OBJECT_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    verify_with(s, &mut mech(ty), key, data, sig)
}

fn verify_parts(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    parts: &[&[u8]],
    sig: &[u8],
) -> CK_RV {
    match call!(C_VerifyInit, s, m, key) {
        CKR_OK => {}
        rv => return rv,
    }
    for p in parts {
        match call!(C_VerifyUpdate, s, p.as_ptr() as *mut _, p.len() as CK_ULONG) {
            CKR_OK => {}
            rv => return rv,
        }
    }
    call!(C_VerifyFinal, s, sig.as_ptr() as *mut _, sig.len() as CK_ULONG)
}

/// A readable generic secret (or other secret key type) template for derivation.
fn secret_template(kt: CK_KEY_TYPE, len: Option<CK_ULONG>) -> Tmpl {
    let t = Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, kt)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true);
    match len {
        Some(n) => t.ulong(CKA_VALUE_LEN, n),
        None => t,
    }
}

fn derive(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    base: CK_OBJECT_HANDLE,
    t: &Tmpl,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut a = t.attrs();
    let mut h = 0;
    match call!(C_DeriveKey, s, m, base, a.as_mut_ptr(), a.len() as CK_ULONG, &mut h) {
        CKR_OK => Ok(h),
        rv => Err(rv),
    }
}

/// ECDH from `base` with the peer's `public` value into a readable secret; its value.
fn ecdh_value(
    h: &Hsm,
    s: CK_SESSION_HANDLE,
    ty: CK_MECHANISM_TYPE,
    (kdf, shared): (CK_ULONG, &[u8]),
    base: CK_OBJECT_HANDLE,
    public: &[u8],
    len: Option<CK_ULONG>,
) -> Result<Vec<u8>, CK_RV> {
    let mut p = ecdh_params(kdf, shared, public);
    let mut m = mech_with(ty, &mut p);
    let k = derive(s, &mut m, base, &secret_template(CKK_GENERIC_SECRET, len))?;
    Ok(h.get(s, k, CKA_VALUE).expect("derived value"))
}

/// The uncompressed point inside a key's `CKA_EC_POINT`.
fn point_of(h: &Hsm, s: CK_SESSION_HANDLE, public: CK_OBJECT_HANDLE) -> Vec<u8> {
    let ec_point = h.get(s, public, CKA_EC_POINT).unwrap();
    let (_, q, rest) = tlv(&ec_point);
    assert_eq!((ec_point[0], rest.len()), (0x04, 0), "CKA_EC_POINT is one DER OCTET STRING");
    q.to_vec()
}

/// An EC key made by openssl in `dir`: (PEM private key file, scalar d, SPKI DER).
fn openssl_ec_key(dir: &Path, name: &str, curve: &str) -> (std::path::PathBuf, Vec<u8>, Vec<u8>) {
    let pem = dir.join(format!("{name}.pem"));
    openssl(
        &["genpkey", "-algorithm", "EC", "-pkeyopt", &format!("ec_paramgen_curve:{curve}"), "-out", path(&pem)],
        &[],
    );
    // ECPrivateKey ::= SEQUENCE { version, privateKey OCTET STRING, ... }
    let ec = openssl(&["ec", "-in", path(&pem), "-outform", "DER"], &[]);
    let (_, body, _) = tlv(&ec);
    let (_, _, rest) = tlv(body);
    let (_, d, _) = tlv(rest);
    let spki = openssl(&["pkey", "-in", path(&pem), "-pubout", "-outform", "DER"], &[]);
    (pem, d.to_vec(), spki)
}

fn write(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn ec_public_template(params: &[u8], point: &[u8]) -> Tmpl {
    Tmpl::new()
        .class(CKO_PUBLIC_KEY)
        .ulong(CKA_KEY_TYPE, CKK_EC)
        .bytes(CKA_EC_PARAMS, params)
        .bytes(CKA_EC_POINT, point)
        .bool(CKA_VERIFY, true)
}

fn ec_private_template(params: &[u8], d: &[u8]) -> Tmpl {
    Tmpl::new()
        .class(CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_EC)
        .bytes(CKA_EC_PARAMS, params)
        .bytes(CKA_VALUE, d)
        .bool(CKA_SIGN, true)
        .bool(CKA_DERIVE, true)
}

fn ed_template(class: CK_OBJECT_CLASS, attr: CK_ATTRIBUTE_TYPE, value: &[u8]) -> Tmpl {
    Tmpl::new().class(class).ulong(CKA_KEY_TYPE, CKK_EC_EDWARDS).bytes(CKA_EC_PARAMS, ED25519_OID).bytes(attr, value)
}

/// Whether the module under test runs the aws-lc provider (the default when built).
fn aws_lc() -> bool {
    cfg!(feature = "aws-lc")
}

// ---------------------------------------------------------------------------
// Mechanism list

#[test]
fn the_ec_mechanisms_are_listed_with_their_sizes_and_flags() {
    let (_h, _s) = Hsm::ready();
    let mut n = 0;
    assert_rv!(call!(C_GetMechanismList, 0, ptr::null_mut(), &mut n), CKR_OK);
    let mut list = vec![0; n as usize];
    assert_rv!(call!(C_GetMechanismList, 0, list.as_mut_ptr(), &mut n), CKR_OK);
    let ec = CKF_EC_F_P | CKF_EC_OID | CKF_EC_UNCOMPRESS | CKF_EC_CURVENAME;
    let want: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
        (CKM_EC_KEY_PAIR_GEN, 256, 521, CKF_GENERATE_KEY_PAIR | ec),
        (CKM_ECDSA, 256, 521, SIGN_VERIFY | ec),
        (CKM_ECDSA_SHA1, 256, 521, SIGN_VERIFY | ec),
        (CKM_ECDSA_SHA224, 256, 521, SIGN_VERIFY | ec),
        (CKM_ECDSA_SHA256, 256, 521, SIGN_VERIFY | ec),
        (CKM_ECDSA_SHA384, 256, 521, SIGN_VERIFY | ec),
        (CKM_ECDSA_SHA512, 256, 521, SIGN_VERIFY | ec),
        (CKM_ECDH1_DERIVE, 256, 521, CKF_DERIVE | ec),
        (CKM_ECDH1_COFACTOR_DERIVE, 256, 521, CKF_DERIVE | ec),
        (CKM_EC_EDWARDS_KEY_PAIR_GEN, 256, 256, CKF_GENERATE_KEY_PAIR | CKF_EC_OID | CKF_EC_CURVENAME),
        (CKM_EDDSA, 256, 256, SIGN_VERIFY | CKF_EC_OID | CKF_EC_CURVENAME),
    ];
    for &(m, min, max, flags) in want {
        assert!(list.contains(&m), "{m:#x} listed");
        let mut info = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
        assert_rv!(call!(C_GetMechanismInfo, 0, m, &mut info), CKR_OK);
        assert_eq!((info.ulMinKeySize, info.ulMaxKeySize, info.flags), (min, max, flags), "{m:#x}");
    }
}

// ---------------------------------------------------------------------------
// Key pair generation

#[test]
fn key_pairs_on_each_curve_carry_their_attributes_and_provenance() {
    let (h, s) = Hsm::ready();
    for c in CURVES {
        let (public, private) = ec_pair(s, c.params);
        for o in [public, private] {
            assert_eq!(h.get_ulong(s, o, CKA_KEY_TYPE), CKK_EC);
            assert_eq!(h.get(s, o, CKA_EC_PARAMS).unwrap(), c.params, "{c:?}: CKA_EC_PARAMS on both halves");
            assert!(h.get_bool(s, o, CKA_LOCAL), "{c:?}: generated keys are local");
            assert_eq!(h.get_ulong(s, o, CKA_KEY_GEN_MECHANISM), CKM_EC_KEY_PAIR_GEN);
            assert_eq!(h.get_ulong(s, o, CKA_FERRO_ORIGIN), ORIGIN_GENERATED);
        }
        assert!(!h.get_bool(s, private, CKA_ALWAYS_SENSITIVE), "created non-sensitive");
        assert!(!h.get_bool(s, private, CKA_NEVER_EXTRACTABLE), "created extractable");
        // CKA_EC_POINT: DER OCTET STRING of the uncompressed point.
        let q = point_of(&h, s, public);
        assert_eq!((q.len(), q[0]), (1 + 2 * c.len, 0x04), "{c:?}");
        // CKA_VALUE: the scalar at the field's length.
        assert_eq!(h.get(s, private, CKA_VALUE).unwrap().len(), c.len, "{c:?}");
        // CKA_PUBLIC_KEY_INFO, the same on both halves, is what openssl makes of the key.
        let info = h.get(s, public, CKA_PUBLIC_KEY_INFO).unwrap();
        assert_eq!(h.get(s, private, CKA_PUBLIC_KEY_INFO).unwrap(), info);
        assert_eq!(spki_key(&info), q);
        let text = String::from_utf8(openssl(&["pkey", "-pubin", "-inform", "DER", "-text", "-noout"], &info)).unwrap();
        let nist = format!("NIST CURVE: {}", c.openssl);
        assert!(text.contains(&nist), "{c:?}: openssl reads the SPKI: {text}");
        assert_eq!(openssl(&["pkey", "-pubin", "-inform", "DER", "-outform", "DER"], &info), info);
    }
}

#[test]
fn a_sensitive_unextractable_token_pair_keeps_its_value_inside_and_works_after_a_restart() {
    let (mut h, s) = Hsm::ready();
    let public = Tmpl::new().bytes(CKA_EC_PARAMS, P256).token(true);
    let private = Tmpl::new().token(true);
    let (pub_h, priv_h) = try_generate(s, CKM_EC_KEY_PAIR_GEN, &public, &private).unwrap();
    assert!(h.get_bool(s, priv_h, CKA_ALWAYS_SENSITIVE));
    assert!(h.get_bool(s, priv_h, CKA_NEVER_EXTRACTABLE));
    assert_rv!(rv(h.get(s, priv_h, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE);
    let sig = sign(s, CKM_ECDSA_SHA256, priv_h, b"before").unwrap();
    assert_rv!(verify(s, CKM_ECDSA_SHA256, pub_h, b"before", &sig), CKR_OK);
    h.restart();
    let s = h.open(0, true);
    assert_rv!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    // The partition's own attestation and timestamp keys are EC keys too (role ≠ 0).
    let find = |class| h.find(s, &Tmpl::new().class(class).ulong(CKA_KEY_TYPE, CKK_EC).ulong(CKA_FERRO_KEY_ROLE, 0));
    let (publics, privates) = (find(CKO_PUBLIC_KEY), find(CKO_PRIVATE_KEY));
    assert_eq!((publics.len(), privates.len()), (1, 1));
    assert_rv!(verify(s, CKM_ECDSA_SHA256, publics[0], b"before", &sig), CKR_OK);
    let sig = sign(s, CKM_ECDSA_SHA256, privates[0], b"after").unwrap();
    assert_rv!(verify(s, CKM_ECDSA_SHA256, publics[0], b"after", &sig), CKR_OK);
}

#[test]
fn curves_are_taken_by_oid_and_by_printable_name() {
    let (h, s) = Hsm::ready();
    for (params, len) in [
        (&b"\x13\x0aprime256v1"[..], 32),
        (b"\x13\x09secp384r1", 48),
        (b"\x13\x05P-521", 66),
        (b"\x13\x09secp256r1", 32),
    ] {
        let (public, private) = ec_pair(s, params);
        // The attribute keeps the caller's form; the SPKI names the curve by OID.
        assert_eq!(h.get(s, public, CKA_EC_PARAMS).unwrap(), params);
        assert_eq!(point_of(&h, s, public).len(), 1 + 2 * len);
        let sig = sign(s, CKM_ECDSA_SHA256, private, b"named").unwrap();
        assert_rv!(verify(s, CKM_ECDSA_SHA256, public, b"named", &sig), CKR_OK);
    }
    for params in [ED25519_OID, ED25519_NAME] {
        let (public, private) = ed_pair(s, params);
        assert_eq!(h.get(s, private, CKA_EC_PARAMS).unwrap(), params);
        let sig = sign(s, CKM_EDDSA, private, b"named").unwrap();
        assert_rv!(verify(s, CKM_EDDSA, public, b"named", &sig), CKR_OK);
    }
}

#[test]
fn unknown_malformed_and_mismatched_curves_are_refused() {
    let (_h, s) = Hsm::ready();
    let generate_rv = |m, params: &[u8]| {
        let (p, q) = pair_templates(params, "x");
        rv(try_generate(s, m, &p, &q))
    };
    let secp256k1 = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
    assert_rv!(generate_rv(CKM_EC_KEY_PAIR_GEN, &secp256k1), CKR_CURVE_NOT_SUPPORTED);
    assert_rv!(generate_rv(CKM_EC_KEY_PAIR_GEN, b"\x13\x09secp256k1"), CKR_CURVE_NOT_SUPPORTED);
    assert_rv!(generate_rv(CKM_EC_EDWARDS_KEY_PAIR_GEN, b"\x13\x0aedwards448"), CKR_CURVE_NOT_SUPPORTED);
    // An Edwards curve with the Weierstrass mechanism, and the other way round.
    assert_rv!(generate_rv(CKM_EC_KEY_PAIR_GEN, ED25519_OID), CKR_CURVE_NOT_SUPPORTED);
    assert_rv!(generate_rv(CKM_EC_EDWARDS_KEY_PAIR_GEN, P256), CKR_CURVE_NOT_SUPPORTED);
    for bad in [&[0x06, 0x08, 0x2a, 0x86][..], b"prime256v1", &[], &[0x04, 0x01, 0x00]] {
        assert_rv!(generate_rv(CKM_EC_KEY_PAIR_GEN, bad), CKR_ATTRIBUTE_VALUE_INVALID, "{bad:02x?}");
    }
    // No curve at all.
    let q = pair_templates(P256, "x").1;
    assert_rv!(rv(try_generate(s, CKM_EC_KEY_PAIR_GEN, &Tmpl::new(), &q)), CKR_TEMPLATE_INCOMPLETE);
    // The mechanism takes no parameter.
    let mut junk = [0u8; 4];
    let mut m = mech_with(CKM_EC_KEY_PAIR_GEN, &mut junk);
    let (p, q) = pair_templates(P256, "x");
    let (mut pa, mut qa) = (p.attrs(), q.attrs());
    let (mut hp, mut hq) = (0, 0);
    let rv = call!(
        C_GenerateKeyPair,
        s,
        &mut m,
        pa.as_mut_ptr(),
        pa.len() as CK_ULONG,
        qa.as_mut_ptr(),
        qa.len() as CK_ULONG,
        &mut hp,
        &mut hq
    );
    assert_rv!(rv, CKR_MECHANISM_PARAM_INVALID);
}

// ---------------------------------------------------------------------------
// ECDSA

#[test]
fn ecdsa_signs_and_verifies_single_and_multi_part_on_each_curve() {
    let (_h, s) = Hsm::ready();
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    for c in CURVES {
        let (public, private) = ec_pair(s, c.params);
        for (m, _) in ECDSA_HASHES {
            let one = sign(s, m, private, &data).unwrap_or_else(|rv| panic!("{c:?} {m:#x}: {rv:#x}"));
            assert_eq!(one.len(), 2 * c.len, "{c:?} {m:#x}: r || s");
            let parts: [&[u8]; 3] = [&data[..1], &data[1..500], &data[500..]];
            let multi = sign_parts(s, &mut mech(m), private, &parts).unwrap();
            for sig in [&one, &multi] {
                assert_rv!(verify(s, m, public, &data, sig), CKR_OK, "{c:?} {m:#x}");
                assert_rv!(verify_parts(s, &mut mech(m), public, &parts, sig), CKR_OK, "{c:?} {m:#x} multi");
            }
            assert_rv!(verify(s, m, public, &data[1..], &one), CKR_SIGNATURE_INVALID, "{c:?} {m:#x}: other data");
        }
        // Raw ECDSA: the hash itself, single and multi-part.
        let hash = vec![0xa5; c.len.min(64)];
        let sig = sign(s, CKM_ECDSA, private, &hash).unwrap();
        assert_rv!(verify(s, CKM_ECDSA, public, &hash, &sig), CKR_OK);
        let multi = sign_parts(s, &mut mech(CKM_ECDSA), private, &[&hash[..3], &hash[3..]]).unwrap();
        assert_rv!(verify_parts(s, &mut mech(CKM_ECDSA), public, &[&hash[..10], &hash[10..]], &multi), CKR_OK);
    }
}

#[test]
fn bad_signatures_and_lengths_get_their_codes() {
    let (_h, s) = Hsm::ready();
    for c in CURVES {
        let (public, private) = ec_pair(s, c.params);
        let sig = sign(s, CKM_ECDSA_SHA256, private, b"data").unwrap();
        let mut bad = sig.clone();
        bad[3] ^= 0x10;
        assert_rv!(verify(s, CKM_ECDSA_SHA256, public, b"data", &bad), CKR_SIGNATURE_INVALID);
        assert_rv!(verify(s, CKM_ECDSA_SHA256, public, b"data", &sig[1..]), CKR_SIGNATURE_LEN_RANGE);
        assert_rv!(
            verify(s, CKM_ECDSA_SHA256, public, b"data", &[sig.clone(), vec![0]].concat()),
            CKR_SIGNATURE_LEN_RANGE
        );
        // r = 0 and s = 0 are invalid, not an error of another kind.
        assert_rv!(verify(s, CKM_ECDSA_SHA256, public, b"data", &vec![0; sig.len()]), CKR_SIGNATURE_INVALID);
        assert_rv!(verify(s, CKM_ECDSA_SHA256, public, b"data", &vec![0xff; sig.len()]), CKR_SIGNATURE_INVALID);
        // A failed verification ends the operation.
        assert_rv!(call!(C_VerifyUpdate, s, b"x".as_ptr() as *mut _, 1), CKR_OPERATION_NOT_INITIALIZED);
    }
}

#[test]
fn signing_follows_the_length_protocol() {
    let (_h, s) = Hsm::ready();
    for c in CURVES {
        let (_, private) = ec_pair(s, c.params);
        assert_rv!(sign_init(s, &mut mech(CKM_ECDSA_SHA384), private), CKR_OK);
        let data = b"length";
        let mut n: CK_ULONG = 0;
        assert_rv!(call!(C_Sign, s, data.as_ptr() as *mut _, 6, ptr::null_mut(), &mut n), CKR_OK);
        assert_eq!(n as usize, 2 * c.len);
        let mut small = vec![0u8; 10];
        n = 10;
        assert_rv!(call!(C_Sign, s, data.as_ptr() as *mut _, 6, small.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
        assert_eq!(n as usize, 2 * c.len);
        let mut out = vec![0u8; n as usize];
        assert_rv!(call!(C_Sign, s, data.as_ptr() as *mut _, 6, out.as_mut_ptr(), &mut n), CKR_OK);
        // Done: the operation ended with the signature.
        assert_rv!(
            call!(C_Sign, s, data.as_ptr() as *mut _, 6, out.as_mut_ptr(), &mut n),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // Multi-part: the same for C_SignFinal.
        assert_rv!(sign_init(s, &mut mech(CKM_ECDSA_SHA1), private), CKR_OK);
        assert_rv!(call!(C_SignUpdate, s, data.as_ptr() as *mut _, 6), CKR_OK);
        n = 0;
        assert_rv!(call!(C_SignFinal, s, ptr::null_mut(), &mut n), CKR_OK);
        assert_eq!(n as usize, 2 * c.len);
        n = 1;
        assert_rv!(call!(C_SignFinal, s, small.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
        let mut out = vec![0u8; n as usize];
        assert_rv!(call!(C_SignFinal, s, out.as_mut_ptr(), &mut n), CKR_OK);
    }
}

/// `CKM_ECDSA` takes a hash of any length and reduces it with bits2int (SEC 1
/// §4.1.3): the leftmost bytes of a long one, the value of a short one.
#[test]
fn raw_ecdsa_takes_any_hash_length_as_ecdsa_defines() {
    let (_h, s) = Hsm::ready();
    let (public, private) = ec_pair(s, P256);
    let long: Vec<u8> = (1..=80u8).collect();
    let sig = sign(s, CKM_ECDSA, private, &long).unwrap();
    assert_rv!(verify(s, CKM_ECDSA, public, &long[..32], &sig), CKR_OK, "64 bytes on P-256 sign their first 32");
    let short = [0x42u8; 20];
    let sig = sign(s, CKM_ECDSA, private, &short).unwrap();
    let padded = [vec![0u8; 12], short.to_vec()].concat();
    assert_rv!(verify(s, CKM_ECDSA, public, &padded, &sig), CKR_OK, "20 bytes sign as their value");
    // P-521: up to 64 bytes (SHA-512); more is refused.
    let (public, private) = ec_pair(s, P521);
    let sig = sign(s, CKM_ECDSA, private, &long[..64]).unwrap();
    assert_rv!(verify(s, CKM_ECDSA, public, &long[..64], &sig), CKR_OK);
    let sig20 = sign(s, CKM_ECDSA, private, &short).unwrap();
    assert_rv!(verify(s, CKM_ECDSA, public, &[vec![0; 30], short.to_vec()].concat(), &sig20), CKR_OK);
    assert_rv!(rv(sign(s, CKM_ECDSA, private, &long[..65])), CKR_DATA_LEN_RANGE);
    assert_rv!(rv(sign_parts(s, &mut mech(CKM_ECDSA), private, &[&long[..40], &long[40..66]])), CKR_DATA_LEN_RANGE);
}

#[test]
fn openssl_verifies_token_signatures_and_the_token_verifies_openssl_signatures() {
    let (h, s) = Hsm::ready();
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = b"interop with openssl ".repeat(50);
    let data_file = write(dir.path(), "data", &data);
    for c in CURVES {
        let (public, private) = ec_pair(s, c.params);
        let pub_der = write(dir.path(), "pub.der", &h.get(s, public, CKA_PUBLIC_KEY_INFO).unwrap());
        for (m, dgst) in ECDSA_HASHES {
            let sig = sign(s, m, private, &data).unwrap();
            let sig_file = write(dir.path(), "sig.der", &sig_to_der(&sig));
            let (ok, out) = try_openssl(
                &["dgst", &format!("-{dgst}"), "-verify", path(&pub_der), "-keyform", "DER"]
                    .into_iter()
                    .chain(["-signature", path(&sig_file), path(&data_file)])
                    .collect::<Vec<_>>(),
                &[],
            );
            assert!(ok, "{c:?} {dgst}: openssl dgst -verify: {}", String::from_utf8_lossy(&out));
        }
        // Raw ECDSA of a SHA-256 hash is ECDSA-with-SHA256 of the data.
        let hash = openssl(&["dgst", "-sha256", "-binary"], &data);
        let sig = sign(s, CKM_ECDSA, private, &hash).unwrap();
        let sig_file = write(dir.path(), "sig.der", &sig_to_der(&sig));
        let (ok, _) = try_openssl(
            &[
                "dgst",
                "-sha256",
                "-verify",
                path(&pub_der),
                "-keyform",
                "DER",
                "-signature",
                path(&sig_file),
                path(&data_file),
            ],
            &[],
        );
        assert!(ok, "{c:?}: raw ECDSA over SHA-256");

        // The other way: openssl's key and signatures, the token verifies.
        let (pem, _, spki) = openssl_ec_key(dir.path(), "k", c.openssl);
        let point = spki_key(&spki);
        let imported = h.create(s, &ec_public_template(c.params, &octet_string(&point))).unwrap();
        for (m, dgst) in ECDSA_HASHES {
            let der_sig = openssl(&["dgst", &format!("-{dgst}"), "-sign", path(&pem), path(&data_file)], &[]);
            let rs = sig_from_der(&der_sig, c.len);
            assert_rv!(verify(s, m, imported, &data, &rs), CKR_OK, "{c:?} {dgst}: openssl's signature");
        }
    }
}

#[test]
fn keys_of_the_wrong_type_or_usage_are_refused() {
    let (h, s) = Hsm::ready();
    let (ec_pub, ec_priv) = ec_pair(s, P256);
    let (ed_pub, ed_priv) = ed_pair(s, ED25519_OID);
    assert_rv!(sign_init(s, &mut mech(CKM_ECDSA), ed_priv), CKR_KEY_TYPE_INCONSISTENT);
    assert_rv!(call!(C_VerifyInit, s, &mut mech(CKM_ECDSA_SHA256), ed_pub), CKR_KEY_TYPE_INCONSISTENT);
    assert_rv!(sign_init(s, &mut mech(CKM_EDDSA), ec_priv), CKR_KEY_TYPE_INCONSISTENT);
    assert_rv!(call!(C_VerifyInit, s, &mut mech(CKM_EDDSA), ec_pub), CKR_KEY_TYPE_INCONSISTENT);
    let aes = h
        .create(s, &Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_AES).bytes(CKA_VALUE, &[7; 16]))
        .unwrap();
    assert_rv!(sign_init(s, &mut mech(CKM_ECDSA), aes), CKR_KEY_TYPE_INCONSISTENT);
    // A public key does not sign; a private key does not verify.
    assert_rv!(sign_init(s, &mut mech(CKM_ECDSA), ec_pub), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_rv!(call!(C_VerifyInit, s, &mut mech(CKM_ECDSA), ec_priv), CKR_KEY_FUNCTION_NOT_PERMITTED);
    // CKA_SIGN false, CKA_DERIVE false.
    let (p, q) = pair_templates(P256, "nosign");
    let q = Tmpl(q.0.into_iter().filter(|(t, _)| *t != CKA_SIGN && *t != CKA_DERIVE).collect())
        .bool(CKA_SIGN, false)
        .bool(CKA_DERIVE, false);
    let (other_pub, no_sign) = try_generate(s, CKM_EC_KEY_PAIR_GEN, &p, &q).unwrap();
    assert_rv!(sign_init(s, &mut mech(CKM_ECDSA_SHA256), no_sign), CKR_KEY_FUNCTION_NOT_PERMITTED);
    let point = point_of(&h, s, other_pub);
    let mut params = ecdh_params(CKD_NULL, &[], &point);
    assert_rv!(
        rv(derive(
            s,
            &mut mech_with(CKM_ECDH1_DERIVE, &mut params),
            no_sign,
            &secret_template(CKK_GENERIC_SECRET, None)
        )),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
    // A public key with CKA_DERIVE is not an ECDH base.
    let (p, q) = pair_templates(P256, "derive-pub");
    let (derive_pub, _) = try_generate(s, CKM_EC_KEY_PAIR_GEN, &p.bool(CKA_DERIVE, true), &q).unwrap();
    let mut params = ecdh_params(CKD_NULL, &[], &point);
    assert_rv!(
        rv(derive(
            s,
            &mut mech_with(CKM_ECDH1_DERIVE, &mut params),
            derive_pub,
            &secret_template(CKK_GENERIC_SECRET, None)
        )),
        CKR_KEY_TYPE_INCONSISTENT
    );
    // CKA_ALLOWED_MECHANISMS.
    let allowed: Vec<u8> = CKM_ECDSA_SHA256.to_ne_bytes().to_vec();
    let (p, q) = pair_templates(P256, "allowed");
    let (_, limited) = try_generate(s, CKM_EC_KEY_PAIR_GEN, &p, &q.bytes(CKA_ALLOWED_MECHANISMS, &allowed)).unwrap();
    assert_rv!(rv(sign(s, CKM_ECDSA_SHA256, limited, b"ok")), CKR_OK);
    assert_rv!(sign_init(s, &mut mech(CKM_ECDSA_SHA384), limited), CKR_MECHANISM_INVALID);
    // ECDSA takes no parameter.
    let mut junk = [1u8; 8];
    assert_rv!(sign_init(s, &mut mech_with(CKM_ECDSA, &mut junk), ec_priv), CKR_MECHANISM_PARAM_INVALID);
}

// ---------------------------------------------------------------------------
// Ed25519

/// RFC 8032 §7.1 test 2 (one-byte message) and §7.3 (Ed25519ph, "abc").
const RFC8032_SEED: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
const RFC8032_PUBLIC: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const RFC8032_SIG: &str = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";
const RFC8032_PH_SEED: &str = "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42";
const RFC8032_PH_PUBLIC: &str = "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf";
const RFC8032_PH_SIG: &str = "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406";

#[test]
fn ed25519_generates_signs_and_verifies() {
    let (h, s) = Hsm::ready();
    for params in [ED25519_OID, ED25519_NAME] {
        let (public, private) = ed_pair(s, params);
        assert_eq!(h.get_ulong(s, public, CKA_KEY_TYPE), CKK_EC_EDWARDS);
        assert_eq!(h.get_ulong(s, private, CKA_KEY_GEN_MECHANISM), CKM_EC_EDWARDS_KEY_PAIR_GEN);
        assert!(h.get_bool(s, private, CKA_LOCAL));
        // CKA_EC_POINT: the DER OCTET STRING of the 32-byte key; CKA_VALUE: the seed.
        let q = point_of(&h, s, public);
        assert_eq!(q.len(), 32);
        assert_eq!(h.get(s, private, CKA_VALUE).unwrap().len(), 32);
        let info = h.get(s, public, CKA_PUBLIC_KEY_INFO).unwrap();
        assert_eq!(spki_key(&info), q);
        assert_eq!(h.get(s, private, CKA_PUBLIC_KEY_INFO).unwrap(), info);
        let msg: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let sig = sign(s, CKM_EDDSA, private, &msg).unwrap();
        assert_eq!(sig.len(), 64);
        let multi = sign_parts(s, &mut mech(CKM_EDDSA), private, &[&msg[..1000], &msg[1000..]]).unwrap();
        assert_eq!(multi, sig, "Ed25519 is deterministic");
        assert_rv!(verify(s, CKM_EDDSA, public, &msg, &sig), CKR_OK);
        assert_rv!(verify_parts(s, &mut mech(CKM_EDDSA), public, &[&msg[..7], &msg[7..]], &sig), CKR_OK);
        let mut bad = sig.clone();
        bad[0] ^= 1;
        assert_rv!(verify(s, CKM_EDDSA, public, &msg, &bad), CKR_SIGNATURE_INVALID);
        assert_rv!(verify(s, CKM_EDDSA, public, &msg, &sig[..63]), CKR_SIGNATURE_LEN_RANGE);
        // CK_EDDSA_PARAMS with phFlag false and no context is plain Ed25519.
        let mut p = CK_EDDSA_PARAMS { phFlag: CK_FALSE, ulContextDataLen: 0, pContextData: ptr::null_mut() };
        assert_eq!(sign_with(s, &mut mech_with(CKM_EDDSA, &mut p), private, &msg).unwrap(), sig);
    }
}

#[test]
fn ed25519_matches_rfc8032_and_openssl() {
    let (h, s) = Hsm::ready();
    let private =
        h.create(s, &ed_template(CKO_PRIVATE_KEY, CKA_VALUE, &unhex(RFC8032_SEED)).bool(CKA_SIGN, true)).unwrap();
    let public = h.create(s, &ed_template(CKO_PUBLIC_KEY, CKA_EC_POINT, &unhex(RFC8032_PUBLIC))).unwrap();
    assert_eq!(point_of(&h, s, public), unhex(RFC8032_PUBLIC), "a raw key is kept as the DER OCTET STRING");
    assert_eq!(spki_key(&h.get(s, private, CKA_PUBLIC_KEY_INFO).unwrap()), unhex(RFC8032_PUBLIC));
    assert_eq!(hex(&sign(s, CKM_EDDSA, private, &[0x72]).unwrap()), RFC8032_SIG);
    assert_rv!(verify(s, CKM_EDDSA, public, &[0x72], &unhex(RFC8032_SIG)), CKR_OK);

    // openssl: its signature verifies in the token, the token's in openssl.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ed.pem");
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", path(&key)], &[]);
    let spki = openssl(&["pkey", "-in", path(&key), "-pubout", "-outform", "DER"], &[]);
    let msg = b"Ed25519 with openssl".repeat(20);
    let msg_file = write(dir.path(), "msg", &msg);
    let sig = openssl(&["pkeyutl", "-sign", "-rawin", "-inkey", path(&key), "-in", path(&msg_file)], &[]);
    let theirs = h.create(s, &ed_template(CKO_PUBLIC_KEY, CKA_EC_POINT, &octet_string(&spki_key(&spki)))).unwrap();
    assert_rv!(verify(s, CKM_EDDSA, theirs, &msg, &sig), CKR_OK);
    let (ours_pub, ours) = ed_pair(s, ED25519_NAME);
    let sig_file = write(dir.path(), "sig", &sign(s, CKM_EDDSA, ours, &msg).unwrap());
    let pub_file = write(dir.path(), "pub.der", &h.get(s, ours_pub, CKA_PUBLIC_KEY_INFO).unwrap());
    let (ok, out) = try_openssl(
        &["pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", path(&pub_file), "-keyform", "DER"]
            .into_iter()
            .chain(["-in", path(&msg_file), "-sigfile", path(&sig_file)])
            .collect::<Vec<_>>(),
        &[],
    );
    assert!(ok, "openssl pkeyutl -verify: {}", String::from_utf8_lossy(&out));
}

/// Ed25519ph where the provider has it (RustCrypto), `CKR_MECHANISM_PARAM_INVALID`
/// where it does not (aws-lc); Ed25519ctx nowhere.
#[test]
fn ed25519_variants_follow_the_provider() {
    let (h, s) = Hsm::ready();
    let private =
        h.create(s, &ed_template(CKO_PRIVATE_KEY, CKA_VALUE, &unhex(RFC8032_PH_SEED)).bool(CKA_SIGN, true)).unwrap();
    let public = h.create(s, &ed_template(CKO_PUBLIC_KEY, CKA_EC_POINT, &unhex(RFC8032_PH_PUBLIC))).unwrap();
    let mut ph = CK_EDDSA_PARAMS { phFlag: CK_TRUE, ulContextDataLen: 0, pContextData: ptr::null_mut() };
    let got = sign_with(s, &mut mech_with(CKM_EDDSA, &mut ph), private, b"abc");
    let verified = verify_with(s, &mut mech_with(CKM_EDDSA, &mut ph), public, b"abc", &unhex(RFC8032_PH_SIG));
    if aws_lc() {
        assert_rv!(rv(got), CKR_MECHANISM_PARAM_INVALID);
        assert_rv!(verified, CKR_MECHANISM_PARAM_INVALID);
    } else {
        assert_eq!(hex(&got.unwrap()), RFC8032_PH_SIG);
        assert_rv!(verified, CKR_OK);
        // With a context, and multi-part.
        let mut ctx = *b"context";
        let mut phc = CK_EDDSA_PARAMS { phFlag: CK_TRUE, ulContextDataLen: 7, pContextData: ctx.as_mut_ptr() };
        let sig = sign_parts(s, &mut mech_with(CKM_EDDSA, &mut phc), private, &[b"a", b"bc"]).unwrap();
        assert_rv!(verify_with(s, &mut mech_with(CKM_EDDSA, &mut phc), public, b"abc", &sig), CKR_OK);
        assert_rv!(verify_with(s, &mut mech_with(CKM_EDDSA, &mut ph), public, b"abc", &sig), CKR_SIGNATURE_INVALID);
    }
    let mut ctx = *b"context";
    let mut pure_ctx = CK_EDDSA_PARAMS { phFlag: CK_FALSE, ulContextDataLen: 7, pContextData: ctx.as_mut_ptr() };
    assert_rv!(sign_init(s, &mut mech_with(CKM_EDDSA, &mut pure_ctx), private), CKR_MECHANISM_PARAM_INVALID);
    let mut long = [0u8; 256];
    let mut too_long = CK_EDDSA_PARAMS { phFlag: CK_TRUE, ulContextDataLen: 256, pContextData: long.as_mut_ptr() };
    assert_rv!(sign_init(s, &mut mech_with(CKM_EDDSA, &mut too_long), private), CKR_MECHANISM_PARAM_INVALID);
}

// ---------------------------------------------------------------------------
// ECDH

/// The X9.63 KDF computed with openssl's hashes.
fn x963_by_openssl(dgst: &str, z: &[u8], shared: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut counter = 1u32;
    while out.len() < len {
        let input = [z, &counter.to_be_bytes(), shared].concat();
        out.extend(openssl(&["dgst", &format!("-{dgst}"), "-binary"], &input));
        counter += 1;
    }
    out.truncate(len);
    out
}

#[test]
fn ecdh_between_two_token_keys_agrees_with_every_kdf() {
    let (h, s) = Hsm::ready();
    for c in CURVES {
        let (a_pub, a) = ec_pair(s, c.params);
        let (b_pub, b) = ec_pair(s, c.params);
        let (qa, qb) = (point_of(&h, s, a_pub), point_of(&h, s, b_pub));
        let z = ecdh_value(&h, s, CKM_ECDH1_DERIVE, (CKD_NULL, &[]), a, &qb, None).unwrap();
        assert_eq!(z.len(), c.len, "{c:?}: without CKA_VALUE_LEN, all of Z");
        for (ty, peer_form) in [(CKM_ECDH1_DERIVE, octet_string(&qa)), (CKM_ECDH1_COFACTOR_DERIVE, qa.clone())] {
            assert_eq!(ecdh_value(&h, s, ty, (CKD_NULL, &[]), b, &peer_form, None).unwrap(), z, "{c:?} {ty:#x}");
        }
        for (kdf, dgst) in KDFS {
            let shared: &[u8] = if kdf == CKD_NULL { &[] } else { b"shared info" };
            for len in [16, 20, 32, 100] {
                if kdf == CKD_NULL && len > c.len {
                    continue;
                }
                let x = ecdh_value(&h, s, CKM_ECDH1_DERIVE, (kdf, shared), a, &qb, Some(len as CK_ULONG)).unwrap();
                let y = ecdh_value(
                    &h,
                    s,
                    CKM_ECDH1_COFACTOR_DERIVE,
                    (kdf, shared),
                    b,
                    &octet_string(&qa),
                    Some(len as CK_ULONG),
                )
                .unwrap();
                assert_eq!(x, y, "{c:?} kdf {kdf:#x} len {len}");
                let want = if kdf == CKD_NULL { z[..len].to_vec() } else { x963_by_openssl(dgst, &z, shared, len) };
                assert_eq!(x, want, "{c:?} kdf {kdf:#x} len {len}");
            }
        }
    }
}

#[test]
fn ecdh_keys_have_derived_provenance_and_aes_targets_work() {
    let (h, s) = Hsm::ready();
    let (_, a) = ec_pair(s, P256);
    let (b_pub, _) = ec_pair(s, P256);
    let qb = point_of(&h, s, b_pub);
    let mut p = ecdh_params(CKD_SHA256_KDF, &[], &qb);
    let k = derive(s, &mut mech_with(CKM_ECDH1_DERIVE, &mut p), a, &secret_template(CKK_AES, Some(16))).unwrap();
    assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), 16);
    assert_eq!(h.get_ulong(s, k, CKA_FERRO_ORIGIN), ORIGIN_DERIVED);
    assert!(!h.get_bool(s, k, CKA_LOCAL));
    // P-256 without CKA_VALUE_LEN: Z's 32 bytes, an AES-256 key.
    let mut p = ecdh_params(CKD_NULL, &[], &qb);
    let k = derive(s, &mut mech_with(CKM_ECDH1_DERIVE, &mut p), a, &secret_template(CKK_AES, None)).unwrap();
    assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), 32);
    // A sensitive base makes a key that is not "always sensitive" unless it was.
    let mut p = ecdh_params(CKD_NULL, &[], &qb);
    let t = Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET);
    let k = derive(s, &mut mech_with(CKM_ECDH1_DERIVE, &mut p), a, &t).unwrap();
    assert!(h.get_bool(s, k, CKA_SENSITIVE));
    assert!(!h.get_bool(s, k, CKA_ALWAYS_SENSITIVE), "the base key was created readable");
}

#[test]
fn ecdh_parameters_are_checked() {
    let (h, s) = Hsm::ready();
    let (_, a) = ec_pair(s, P256);
    let (b_pub, _) = ec_pair(s, P256);
    let (c_pub, _) = ec_pair(s, P384);
    let qb = point_of(&h, s, b_pub);
    let t = secret_template(CKK_GENERIC_SECRET, None);
    let attempt = |kdf, shared: &[u8], public: &[u8], t: &Tmpl| {
        let mut p = ecdh_params(kdf, shared, public);
        rv(derive(s, &mut mech_with(CKM_ECDH1_DERIVE, &mut p), a, t))
    };
    assert_rv!(attempt(CKD_NULL, b"shared", &qb, &t), CKR_MECHANISM_PARAM_INVALID, "CKD_NULL with shared data");
    assert_rv!(attempt(CKD_SHA3_256_KDF, &[], &qb, &t), CKR_MECHANISM_PARAM_INVALID, "an unknown KDF");
    assert_rv!(attempt(0x7777, &[], &qb, &t), CKR_MECHANISM_PARAM_INVALID, "a made-up KDF");
    let mut off = qb.clone();
    off[40] ^= 1;
    assert_rv!(attempt(CKD_NULL, &[], &off, &t), CKR_MECHANISM_PARAM_INVALID, "a point off the curve");
    assert_rv!(attempt(CKD_NULL, &[], &octet_string(&off), &t), CKR_MECHANISM_PARAM_INVALID, "the same, DER");
    assert_rv!(attempt(CKD_NULL, &[], &point_of(&h, s, c_pub), &t), CKR_MECHANISM_PARAM_INVALID, "a P-384 point");
    assert_rv!(attempt(CKD_NULL, &[], &qb[..33], &t), CKR_MECHANISM_PARAM_INVALID, "a truncated point");
    let mut compressed = vec![0x02 | (qb[64] & 1)];
    compressed.extend_from_slice(&qb[1..33]);
    assert_rv!(attempt(CKD_NULL, &[], &compressed, &t), CKR_MECHANISM_PARAM_INVALID, "compressed points");
    assert_rv!(attempt(CKD_NULL, &[], &qb, &secret_template(CKK_GENERIC_SECRET, Some(33))), CKR_TEMPLATE_INCONSISTENT);
    // No parameter at all.
    assert_rv!(rv(derive(s, &mut mech(CKM_ECDH1_DERIVE), a, &t)), CKR_MECHANISM_PARAM_INVALID);
    let mut short = [0u8; 8];
    assert_rv!(rv(derive(s, &mut mech_with(CKM_ECDH1_DERIVE, &mut short), a, &t)), CKR_MECHANISM_PARAM_INVALID);
}

#[test]
fn ecdh_with_an_openssl_peer_agrees() {
    let (h, s) = Hsm::ready();
    let dir = tempfile::tempdir().unwrap();
    for c in CURVES {
        let (ours_pub, ours) = ec_pair(s, c.params);
        let (peer_pem, _, peer_spki) = openssl_ec_key(dir.path(), "peer", c.openssl);
        let ours_der = write(dir.path(), "ours.der", &h.get(s, ours_pub, CKA_PUBLIC_KEY_INFO).unwrap());
        let theirs = openssl(
            &["pkeyutl", "-derive", "-inkey", path(&peer_pem), "-peerkey", path(&ours_der), "-peerform", "DER"],
            &[],
        );
        assert_eq!(theirs.len(), c.len);
        let z = ecdh_value(&h, s, CKM_ECDH1_DERIVE, (CKD_NULL, &[]), ours, &spki_key(&peer_spki), None).unwrap();
        assert_eq!(hex(&z), hex(&theirs), "{c:?}");
    }
}

// ---------------------------------------------------------------------------
// Import

#[test]
fn imported_ec_keys_are_checked_and_completed() {
    let (h, s) = Hsm::ready();
    let dir = tempfile::tempdir().unwrap();
    for c in CURVES {
        let (_, d, spki) = openssl_ec_key(dir.path(), "imp", c.openssl);
        let point = spki_key(&spki);
        // The point raw or DER; kept as DER; the SPKI is openssl's.
        for form in [point.clone(), octet_string(&point)] {
            let o = h.create(s, &ec_public_template(c.params, &form)).unwrap();
            assert_eq!(h.get(s, o, CKA_EC_POINT).unwrap(), octet_string(&point), "{c:?}");
            assert_eq!(h.get(s, o, CKA_PUBLIC_KEY_INFO).unwrap(), spki, "{c:?}");
            assert_eq!(h.get_ulong(s, o, CKA_FERRO_ORIGIN), ORIGIN_IMPORTED);
            assert!(!h.get_bool(s, o, CKA_LOCAL));
        }
        // The scalar, also without its leading zero bytes; the SPKI is computed.
        let stripped = &d[d.iter().position(|b| *b != 0).unwrap()..];
        for form in [&d[..], stripped, &[&[0, 0][..], &d[..]].concat()] {
            let o = h.create(s, &ec_private_template(c.params, form)).unwrap();
            assert_eq!(h.get(s, o, CKA_PUBLIC_KEY_INFO).unwrap(), spki, "{c:?}");
            let sig = sign(s, CKM_ECDSA_SHA256, o, b"imported").unwrap();
            let public = h.create(s, &ec_public_template(c.params, &point)).unwrap();
            assert_rv!(verify(s, CKM_ECDSA_SHA256, public, b"imported", &sig), CKR_OK);
        }
        // A matching CKA_PUBLIC_KEY_INFO is taken, another is not.
        assert_rv!(rv(h.create(s, &ec_private_template(c.params, &d).bytes(CKA_PUBLIC_KEY_INFO, &spki))), CKR_OK);
        let mut other = spki.clone();
        *other.last_mut().unwrap() ^= 1;
        assert_rv!(
            rv(h.create(s, &ec_private_template(c.params, &d).bytes(CKA_PUBLIC_KEY_INFO, &other))),
            CKR_TEMPLATE_INCONSISTENT
        );
        assert_rv!(
            rv(h.create(s, &ec_public_template(c.params, &point).bytes(CKA_PUBLIC_KEY_INFO, &other))),
            CKR_TEMPLATE_INCONSISTENT
        );

        // Points off the curve, compressed, of the wrong length or curve.
        let mut off = point.clone();
        *off.last_mut().unwrap() ^= 1;
        let mut compressed = vec![0x02 | (point.last().unwrap() & 1)];
        compressed.extend_from_slice(&point[1..1 + c.len]);
        let mut infinity = vec![0u8; point.len()];
        infinity[0] = 0x04;
        for (what, bad) in [
            ("off the curve", off.clone()),
            ("off the curve, DER", octet_string(&off)),
            ("compressed", compressed),
            ("truncated", point[..point.len() - 1].to_vec()),
            ("zero coordinates", infinity),
            ("the identity", vec![0x00]),
        ] {
            assert_rv!(
                rv(h.create(s, &ec_public_template(c.params, &bad))),
                CKR_ATTRIBUTE_VALUE_INVALID,
                "{c:?} {what}"
            );
        }
        // Scalars out of range: 0, and n (the order) or more.
        for (what, bad) in
            [("zero", vec![0u8; c.len]), ("all ones", vec![0xff; c.len]), ("too long", vec![1; c.len + 1])]
        {
            assert_rv!(
                rv(h.create(s, &ec_private_template(c.params, &bad))),
                CKR_ATTRIBUTE_VALUE_INVALID,
                "{c:?} {what}"
            );
        }
    }
    // The order of P-256 itself, and n - 1 (valid).
    let n = unhex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    assert_rv!(rv(h.create(s, &ec_private_template(P256, &n))), CKR_ATTRIBUTE_VALUE_INVALID);
    let mut n1 = n.clone();
    n1[31] -= 1;
    assert_rv!(rv(h.create(s, &ec_private_template(P256, &n1))), CKR_OK);
    // Curves the module does not know, and curve parameters that are not DER.
    let secp256k1 = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
    assert_rv!(rv(h.create(s, &ec_private_template(&secp256k1, &[1; 32]))), CKR_CURVE_NOT_SUPPORTED);
    assert_rv!(rv(h.create(s, &ec_private_template(b"junk", &[1; 32]))), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_rv!(rv(h.create(s, &ec_private_template(ED25519_OID, &[1; 32]))), CKR_CURVE_NOT_SUPPORTED);
    // A curve given by name works for import too.
    assert_rv!(rv(h.create(s, &ec_private_template(b"\x13\x0aprime256v1", &n1))), CKR_OK);
}

#[test]
fn imported_ed25519_keys_are_checked() {
    let (h, s) = Hsm::ready();
    let pk = unhex(RFC8032_PUBLIC);
    for form in [pk.clone(), octet_string(&pk)] {
        let o = h.create(s, &ed_template(CKO_PUBLIC_KEY, CKA_EC_POINT, &form)).unwrap();
        assert_eq!(h.get(s, o, CKA_EC_POINT).unwrap(), octet_string(&pk));
        let spki = h.get(s, o, CKA_PUBLIC_KEY_INFO).unwrap();
        let text = String::from_utf8(openssl(&["pkey", "-pubin", "-inform", "DER", "-text", "-noout"], &spki)).unwrap();
        assert!(text.contains("ED25519 Public-Key"), "{text}");
    }
    // y = p (not canonical) and a y with no x on the curve.
    let mut p = vec![0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let mut no_x = vec![0u8; 32];
    no_x[0] = 2;
    for bad in [p, no_x, pk[..31].to_vec(), [pk.clone(), vec![0]].concat()] {
        assert_rv!(
            rv(h.create(s, &ed_template(CKO_PUBLIC_KEY, CKA_EC_POINT, &bad))),
            CKR_ATTRIBUTE_VALUE_INVALID,
            "{bad:02x?}"
        );
    }
    assert_rv!(rv(h.create(s, &ed_template(CKO_PRIVATE_KEY, CKA_VALUE, &[1; 31]))), CKR_ATTRIBUTE_VALUE_INVALID);
    let given = h
        .create(s, &ed_template(CKO_PUBLIC_KEY, CKA_EC_POINT, &pk))
        .map(|o| h.get(s, o, CKA_PUBLIC_KEY_INFO).unwrap())
        .unwrap();
    let t = ed_template(CKO_PRIVATE_KEY, CKA_VALUE, &unhex(RFC8032_SEED));
    assert_rv!(rv(h.create(s, &t.clone().bytes(CKA_PUBLIC_KEY_INFO, &given))), CKR_OK);
    let wrong = ed_template(CKO_PRIVATE_KEY, CKA_VALUE, &unhex(RFC8032_PH_SEED)).bytes(CKA_PUBLIC_KEY_INFO, &given);
    assert_rv!(rv(h.create(s, &wrong)), CKR_TEMPLATE_INCONSISTENT);
    // An Edwards key on a NIST curve.
    let t = Tmpl::new()
        .class(CKO_PUBLIC_KEY)
        .ulong(CKA_KEY_TYPE, CKK_EC_EDWARDS)
        .bytes(CKA_EC_PARAMS, P256)
        .bytes(CKA_EC_POINT, &pk);
    assert_rv!(rv(h.create(s, &t)), CKR_CURVE_NOT_SUPPORTED);
}

// ---------------------------------------------------------------------------
// Wrapping (PKCS#8)

/// `C_WrapKey` / `C_UnwrapKey` of EC and Ed25519 private keys under AES key wrap with
/// padding (RFC 5649), when this build has it (the AES family): the wrapped bytes
/// are PKCS#8 that openssl reads, and the unwrapped key signs like the original.
#[test]
fn private_keys_wrap_as_pkcs8_and_unwrap() {
    let (h, s) = Hsm::ready();
    let mut n = 0;
    assert_rv!(call!(C_GetMechanismList, 0, ptr::null_mut(), &mut n), CKR_OK);
    let mut list = vec![0; n as usize];
    assert_rv!(call!(C_GetMechanismList, 0, list.as_mut_ptr(), &mut n), CKR_OK);
    if !list.contains(&CKM_AES_KEY_WRAP_KWP) {
        eprintln!("skipped: this build has no CKM_AES_KEY_WRAP_KWP to wrap with");
        return;
    }
    let kek_value = [0x4bu8; 32];
    let kek = h
        .create(
            s,
            &Tmpl::new()
                .class(CKO_SECRET_KEY)
                .ulong(CKA_KEY_TYPE, CKK_AES)
                .bytes(CKA_VALUE, &kek_value)
                .bool(CKA_WRAP, true)
                .bool(CKA_UNWRAP, true),
        )
        .unwrap();
    for (kt, params, gen_mech, sig_mech) in [
        (CKK_EC, P256, CKM_EC_KEY_PAIR_GEN, CKM_ECDSA_SHA256),
        (CKK_EC, P384, CKM_EC_KEY_PAIR_GEN, CKM_ECDSA_SHA256),
        (CKK_EC, P521, CKM_EC_KEY_PAIR_GEN, CKM_ECDSA_SHA256),
        (CKK_EC_EDWARDS, ED25519_NAME, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA),
    ] {
        let (p, q) = pair_templates(params, "wrap");
        let (public, private) = try_generate(s, gen_mech, &p, &q).unwrap();
        let mut m = mech(CKM_AES_KEY_WRAP_KWP);
        let mut len: CK_ULONG = 0;
        assert_rv!(call!(C_WrapKey, s, &mut m, kek, private, ptr::null_mut(), &mut len), CKR_OK);
        let mut wrapped = vec![0u8; len as usize];
        assert_rv!(call!(C_WrapKey, s, &mut m, kek, private, wrapped.as_mut_ptr(), &mut len), CKR_OK);
        wrapped.truncate(len as usize);
        // RFC 5649 by openssl: the plaintext is PKCS#8 of the same key.
        let pkcs8 = openssl(&["enc", "-d", "-id-aes256-wrap-pad", "-K", &hex(&kek_value), "-iv", "A65959A6"], &wrapped);
        let spki = openssl(&["pkey", "-inform", "DER", "-pubout", "-outform", "DER"], &pkcs8);
        assert_eq!(spki, h.get(s, public, CKA_PUBLIC_KEY_INFO).unwrap(), "{params:02x?}");
        let t = Tmpl::new().class(CKO_PRIVATE_KEY).ulong(CKA_KEY_TYPE, kt).bool(CKA_SIGN, true);
        let mut a = t.attrs();
        let mut back = 0;
        let rv = call!(
            C_UnwrapKey,
            s,
            &mut m,
            kek,
            wrapped.as_mut_ptr(),
            wrapped.len() as CK_ULONG,
            a.as_mut_ptr(),
            a.len() as CK_ULONG,
            &mut back
        );
        assert_rv!(rv, CKR_OK, "{params:02x?}");
        assert_eq!(h.get(s, back, CKA_PUBLIC_KEY_INFO).unwrap(), spki);
        assert!(!h.get_bool(s, back, CKA_LOCAL));
        let sig = sign(s, sig_mech, back, b"unwrapped").unwrap();
        assert_rv!(verify(s, sig_mech, public, b"unwrapped", &sig), CKR_OK);
    }
}
