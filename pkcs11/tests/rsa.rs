//! The RSA mechanisms (PKCS#11 v3.0 mechanisms §2.1) through the built module: key
//! pair generation and its attributes, every signature and encryption mechanism single-
//! and multi-part, the length-query protocol, parameter checks, key checks (type, usage,
//! allowed mechanisms, size), bad signatures, bad ciphertexts (one error code for all),
//! key import checks, wrapping AES keys, and interoperability with the `openssl`
//! command line in both directions.
//!
//! The same file runs against both providers (`cargo test --test rsa` and with
//! `--no-default-features --features rustcrypto`).

#[macro_use]
mod common;

use std::ptr;

use common::*;
use der::Decode;

/// The hashes with their mechanisms: (digest, MGF1, `SHA*_RSA_PKCS`, `SHA*_RSA_PKCS_PSS`,
/// output length, openssl name).
const HASHES: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_MECHANISM_TYPE, CK_MECHANISM_TYPE, usize, &str)] = &[
    (CKM_SHA_1, CKG_MGF1_SHA1, CKM_SHA1_RSA_PKCS, CKM_SHA1_RSA_PKCS_PSS, 20, "sha1"),
    (CKM_SHA224, CKG_MGF1_SHA224, CKM_SHA224_RSA_PKCS, CKM_SHA224_RSA_PKCS_PSS, 28, "sha224"),
    (CKM_SHA256, CKG_MGF1_SHA256, CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS, 32, "sha256"),
    (CKM_SHA384, CKG_MGF1_SHA384, CKM_SHA384_RSA_PKCS, CKM_SHA384_RSA_PKCS_PSS, 48, "sha384"),
    (CKM_SHA512, CKG_MGF1_SHA512, CKM_SHA512_RSA_PKCS, CKM_SHA512_RSA_PKCS_PSS, 64, "sha512"),
];

// ---------------------------------------------------------------------------
// Mechanisms with their parameters

/// A mechanism and the bytes of its parameter (a C struct, copied), with the label an
/// OAEP parameter points to.
struct Mech {
    ty: CK_MECHANISM_TYPE,
    param: Vec<u8>,
    _label: Box<[u8]>,
}

impl Mech {
    fn raw(&mut self) -> CK_MECHANISM {
        CK_MECHANISM {
            mechanism: self.ty,
            pParameter: if self.param.is_empty() { ptr::null_mut() } else { self.param.as_mut_ptr() as *mut _ },
            ulParameterLen: self.param.len() as CK_ULONG,
        }
    }
}

fn bytes_of<T>(v: &T) -> Vec<u8> {
    // SAFETY: a plain C struct, read as bytes.
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, size_of::<T>()) }.to_vec()
}

fn plain(ty: CK_MECHANISM_TYPE) -> Mech {
    Mech { ty, param: Vec::new(), _label: Box::new([]) }
}

fn pss(ty: CK_MECHANISM_TYPE, hash: CK_MECHANISM_TYPE, mgf: CK_ULONG, salt: CK_ULONG) -> Mech {
    let p = CK_RSA_PKCS_PSS_PARAMS { hashAlg: hash, mgf, sLen: salt };
    Mech { ty, param: bytes_of(&p), _label: Box::new([]) }
}

fn oaep(hash: CK_MECHANISM_TYPE, mgf: CK_ULONG, label: &[u8]) -> Mech {
    let mut label: Box<[u8]> = label.into();
    let p = CK_RSA_PKCS_OAEP_PARAMS {
        hashAlg: hash,
        mgf,
        source: CKZ_DATA_SPECIFIED,
        pSourceData: if label.is_empty() { ptr::null_mut() } else { label.as_mut_ptr() as *mut _ },
        ulSourceDataLen: label.len() as CK_ULONG,
    };
    Mech { ty: CKM_RSA_PKCS_OAEP, param: bytes_of(&p), _label: label }
}

// ---------------------------------------------------------------------------
// Calls

fn generate(
    s: CK_SESSION_HANDLE,
    public: &Tmpl,
    private: &Tmpl,
) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), CK_RV> {
    let mut m = plain(CKM_RSA_PKCS_KEY_PAIR_GEN).raw();
    let (mut p, mut q) = (public.attrs(), private.attrs());
    let (mut hp, mut hq) = (0, 0);
    let rv = call!(
        C_GenerateKeyPair,
        s,
        &mut m,
        p.as_mut_ptr(),
        p.len() as CK_ULONG,
        q.as_mut_ptr(),
        q.len() as CK_ULONG,
        &mut hp,
        &mut hq
    );
    if rv == CKR_OK { Ok((hp, hq)) } else { Err(rv) }
}

/// A session key pair of `bits`, its private half readable (not sensitive, extractable).
fn key_pair(s: CK_SESSION_HANDLE, bits: CK_ULONG) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let public = Tmpl::new().ulong(CKA_MODULUS_BITS, bits);
    let private = Tmpl::new().bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true);
    generate(s, &public, &private).expect("key pair")
}

fn sign(s: CK_SESSION_HANDLE, m: &mut Mech, key: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    let mut mm = m.raw();
    match call!(C_SignInit, s, &mut mm, key) {
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
        CKR_OK => {
            out.truncate(n as usize);
            Ok(out)
        }
        rv => Err(rv),
    }
}

fn sign_parts(
    s: CK_SESSION_HANDLE,
    m: &mut Mech,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
    chunk: usize,
) -> Result<Vec<u8>, CK_RV> {
    let mut mm = m.raw();
    match call!(C_SignInit, s, &mut mm, key) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    for part in data.chunks(chunk) {
        match call!(C_SignUpdate, s, part.as_ptr() as *mut _, part.len() as CK_ULONG) {
            CKR_OK => {}
            rv => return Err(rv),
        }
    }
    let mut n = 0;
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

fn verify(s: CK_SESSION_HANDLE, m: &mut Mech, key: CK_OBJECT_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    let mut mm = m.raw();
    match call!(C_VerifyInit, s, &mut mm, key) {
        CKR_OK => {}
        rv => return rv,
    }
    call!(C_Verify, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, sig.as_ptr() as *mut _, sig.len() as CK_ULONG)
}

fn verify_parts(
    s: CK_SESSION_HANDLE,
    m: &mut Mech,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
    chunk: usize,
    sig: &[u8],
) -> CK_RV {
    let mut mm = m.raw();
    match call!(C_VerifyInit, s, &mut mm, key) {
        CKR_OK => {}
        rv => return rv,
    }
    for part in data.chunks(chunk) {
        match call!(C_VerifyUpdate, s, part.as_ptr() as *mut _, part.len() as CK_ULONG) {
            CKR_OK => {}
            rv => return rv,
        }
    }
    call!(C_VerifyFinal, s, sig.as_ptr() as *mut _, sig.len() as CK_ULONG)
}

fn encrypt(s: CK_SESSION_HANDLE, m: &mut Mech, key: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    let mut mm = m.raw();
    match call!(C_EncryptInit, s, &mut mm, key) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut n = 0;
    match call!(C_Encrypt, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, ptr::null_mut(), &mut n) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut out = vec![0u8; n as usize];
    match call!(C_Encrypt, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n) {
        CKR_OK => {
            out.truncate(n as usize);
            Ok(out)
        }
        rv => Err(rv),
    }
}

fn decrypt(s: CK_SESSION_HANDLE, m: &mut Mech, key: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    let mut mm = m.raw();
    match call!(C_DecryptInit, s, &mut mm, key) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut n = 0;
    match call!(C_Decrypt, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, ptr::null_mut(), &mut n) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut out = vec![0u8; n as usize];
    match call!(C_Decrypt, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n) {
        CKR_OK => {
            out.truncate(n as usize);
            Ok(out)
        }
        rv => Err(rv),
    }
}

/// Multi-part encryption or decryption: `*Update` per chunk, then `*Final`.
fn crypt_parts(
    s: CK_SESSION_HANDLE,
    m: &mut Mech,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
    chunk: usize,
    decrypting: bool,
) -> Result<Vec<u8>, CK_RV> {
    let mut mm = m.raw();
    let init = if decrypting { call!(C_DecryptInit, s, &mut mm, key) } else { call!(C_EncryptInit, s, &mut mm, key) };
    if init != CKR_OK {
        return Err(init);
    }
    let mut out = Vec::new();
    for part in data.chunks(chunk) {
        let mut buf = vec![0u8; 2048];
        let mut n = buf.len() as CK_ULONG;
        let (p, l) = (part.as_ptr() as *mut _, part.len() as CK_ULONG);
        let rv = if decrypting {
            call!(C_DecryptUpdate, s, p, l, buf.as_mut_ptr(), &mut n)
        } else {
            call!(C_EncryptUpdate, s, p, l, buf.as_mut_ptr(), &mut n)
        };
        if rv != CKR_OK {
            return Err(rv);
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    let mut buf = vec![0u8; 2048];
    let mut n = buf.len() as CK_ULONG;
    let rv = if decrypting {
        call!(C_DecryptFinal, s, buf.as_mut_ptr(), &mut n)
    } else {
        call!(C_EncryptFinal, s, buf.as_mut_ptr(), &mut n)
    };
    if rv != CKR_OK {
        return Err(rv);
    }
    out.extend_from_slice(&buf[..n as usize]);
    Ok(out)
}

fn ulong(v: &[u8]) -> CK_ULONG {
    CK_ULONG::from_ne_bytes(v.try_into().expect("CK_ULONG"))
}

/// Some data that is not all one byte.
fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8 ^ 0x5a).collect()
}

/// Runs `openssl` with `input` on stdin; its stdout, or `None` when it fails.
fn try_openssl(args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
    let r = run_openssl(args, input);
    r.ok.then_some(r.stdout)
}

fn sha(name: &str, data: &[u8]) -> Vec<u8> {
    openssl(&["dgst", &format!("-{name}"), "-binary"], data)
}

/// A `DigestInfo` (RFC 8017 §9.2 note 1) for SHA-256 of `data`, built by hand.
fn sha256_digest_info(data: &[u8]) -> Vec<u8> {
    let mut t =
        vec![0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00];
    t.extend_from_slice(&[0x04, 0x20]);
    t.extend_from_slice(&sha("sha256", data));
    t
}

/// A public key as PEM, from the token's `CKA_PUBLIC_KEY_INFO` (DER).
fn spki_pem(spki: &[u8]) -> Vec<u8> {
    openssl(&["pkey", "-pubin", "-inform", "DER", "-outform", "PEM"], spki)
}

/// The components of an RSA private key, big-endian.
struct Components {
    n: Vec<u8>,
    e: Vec<u8>,
    d: Vec<u8>,
    p: Vec<u8>,
    q: Vec<u8>,
    dp: Vec<u8>,
    dq: Vec<u8>,
    qinv: Vec<u8>,
}

/// An openssl-generated key: its PKCS#8 PEM and its components (parsed here with the
/// `pkcs8` and `pkcs1` crates from openssl's DER).
fn openssl_key(bits: u32) -> (Vec<u8>, Components) {
    let pem = openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", &format!("rsa_keygen_bits:{bits}")], &[]);
    let der = openssl(&["pkcs8", "-topk8", "-nocrypt", "-outform", "DER"], &pem);
    let info = pkcs8::PrivateKeyInfoRef::from_der(&der).expect("PKCS#8");
    let k = rsa::pkcs1::RsaPrivateKeyRef::from_der(info.private_key.as_bytes()).expect("RSAPrivateKey");
    let v = |u: der::asn1::UintRef<'_>| u.as_bytes().to_vec();
    let c = Components {
        n: v(k.modulus),
        e: v(k.public_exponent),
        d: v(k.private_exponent),
        p: v(k.prime1),
        q: v(k.prime2),
        dp: v(k.exponent1),
        dq: v(k.exponent2),
        qinv: v(k.coefficient),
    };
    (pem, c)
}

fn private_template(c: &Components) -> Tmpl {
    Tmpl::new()
        .class(CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_RSA)
        .bytes(CKA_MODULUS, &c.n)
        .bytes(CKA_PUBLIC_EXPONENT, &c.e)
        .bytes(CKA_PRIVATE_EXPONENT, &c.d)
        .bytes(CKA_PRIME_1, &c.p)
        .bytes(CKA_PRIME_2, &c.q)
        .bytes(CKA_EXPONENT_1, &c.dp)
        .bytes(CKA_EXPONENT_2, &c.dq)
        .bytes(CKA_COEFFICIENT, &c.qinv)
}

fn public_template(n: &[u8], e: &[u8]) -> Tmpl {
    Tmpl::new().class(CKO_PUBLIC_KEY).ulong(CKA_KEY_TYPE, CKK_RSA).bytes(CKA_MODULUS, n).bytes(CKA_PUBLIC_EXPONENT, e)
}

/// The components of a token private key (which must be readable).
fn components(h: &Hsm, s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Components {
    let g = |ty| h.get(s, key, ty).expect("readable component");
    Components {
        n: g(CKA_MODULUS),
        e: g(CKA_PUBLIC_EXPONENT),
        d: g(CKA_PRIVATE_EXPONENT),
        p: g(CKA_PRIME_1),
        q: g(CKA_PRIME_2),
        dp: g(CKA_EXPONENT_1),
        dq: g(CKA_EXPONENT_2),
        qinv: g(CKA_COEFFICIENT),
    }
}

// ---------------------------------------------------------------------------
// Generation

#[test]
fn mechanism_info_tells_the_truth() {
    let (h, _s) = Hsm::ready();
    let mut list_len = 0;
    assert_eq!(call!(C_GetMechanismList, 0, ptr::null_mut(), &mut list_len), CKR_OK);
    let mut list = vec![0; list_len as usize];
    assert_eq!(call!(C_GetMechanismList, 0, list.as_mut_ptr(), &mut list_len), CKR_OK);
    let sv = SIGN_VERIFY;
    let mut want = vec![
        (CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR),
        (CKM_RSA_PKCS, CKF_ENCRYPT | CKF_DECRYPT | sv | CKF_WRAP | CKF_UNWRAP),
        (CKM_RSA_X_509, CKF_ENCRYPT | CKF_DECRYPT | sv),
        (CKM_RSA_PKCS_PSS, sv),
        (CKM_RSA_PKCS_OAEP, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP),
    ];
    for (_, _, pkcs, pss, _, _) in HASHES {
        want.push((*pkcs, sv));
        want.push((*pss, sv));
    }
    for (m, flags) in want {
        assert!(list.contains(&m), "{m:#x} listed");
        let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
        assert_eq!(call!(C_GetMechanismInfo, 0, m, &mut info), CKR_OK);
        assert_eq!((info.ulMinKeySize, info.ulMaxKeySize, info.flags), (2048, 8192, flags), "{m:#x}");
    }
    drop(h);
}

#[test]
fn generated_key_pairs_carry_their_provenance_and_public_values() {
    let (h, s) = Hsm::ready();
    let public = Tmpl::new().token(true).label("rsa").ulong(CKA_MODULUS_BITS, 2048);
    let private = Tmpl::new().token(true).label("rsa").bool(CKA_SENSITIVE, true).bool(CKA_EXTRACTABLE, false);
    let (hp, hq) = generate(s, &public, &private).unwrap();
    let n = h.get(s, hp, CKA_MODULUS).unwrap();
    assert_eq!(n.len(), 256);
    assert!(n[0] & 0x80 != 0, "a 2048-bit modulus");
    assert_eq!(h.get_ulong(s, hp, CKA_MODULUS_BITS), 2048);
    assert_eq!(h.get(s, hp, CKA_PUBLIC_EXPONENT).unwrap(), [1, 0, 1]);
    assert_eq!(h.get(s, hq, CKA_MODULUS).unwrap(), n);
    assert_eq!(h.get(s, hq, CKA_PUBLIC_EXPONENT).unwrap(), [1, 0, 1]);
    // The SPKI is what openssl makes of the modulus and exponent.
    let spki = h.get(s, hp, CKA_PUBLIC_KEY_INFO).unwrap();
    assert_eq!(h.get(s, hq, CKA_PUBLIC_KEY_INFO).unwrap(), spki);
    let text = String::from_utf8(openssl(&["rsa", "-pubin", "-inform", "DER", "-noout", "-modulus"], &spki)).unwrap();
    let hex: String = n.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(text.trim(), format!("Modulus={hex}"));
    for k in [hp, hq] {
        assert!(h.get_bool(s, k, CKA_LOCAL));
        assert_eq!(h.get_ulong(s, k, CKA_KEY_GEN_MECHANISM), CKM_RSA_PKCS_KEY_PAIR_GEN);
        assert_eq!(h.get_ulong(s, k, CKA_FERRO_ORIGIN), ORIGIN_GENERATED);
        assert_eq!(h.get_ulong(s, k, CKA_KEY_TYPE), CKK_RSA);
    }
    assert!(h.get_bool(s, hq, CKA_ALWAYS_SENSITIVE));
    assert!(h.get_bool(s, hq, CKA_NEVER_EXTRACTABLE));
    for ty in [CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT] {
        assert_rv!(rv(h.get(s, hq, ty)), CKR_ATTRIBUTE_SENSITIVE, "{ty:#x}");
    }

    // Not sensitive, extractable: the flags say it, and the components are all there and
    // form the key openssl sees.
    let (hp2, hq2) = key_pair(s, 2048);
    assert!(!h.get_bool(s, hq2, CKA_ALWAYS_SENSITIVE));
    assert!(!h.get_bool(s, hq2, CKA_NEVER_EXTRACTABLE));
    let c = components(&h, s, hq2);
    assert_eq!((c.p.len(), c.q.len(), c.d.len() <= 256), (128, 128, true));
    let sig = sign(s, &mut plain(CKM_SHA256_RSA_PKCS), hq2, b"hello").unwrap();
    assert_rv!(verify(s, &mut plain(CKM_SHA256_RSA_PKCS), hp2, b"hello", &sig), CKR_OK);
    // The private key as a whole is accepted by the token's own import checks.
    let imported = h.create(s, &private_template(&c)).expect("the generated key imports");
    assert_eq!(
        sign(s, &mut plain(CKM_SHA256_RSA_PKCS), imported, b"hello").unwrap(),
        sig,
        "PKCS#1 v1.5 is deterministic"
    );
}

#[test]
fn generation_sizes_and_exponents() {
    let (h, s) = Hsm::ready();
    let priv_t = Tmpl::new();
    let with = |bits: CK_ULONG| Tmpl::new().ulong(CKA_MODULUS_BITS, bits);
    for bits in [1024, 2047, 8193, 16384] {
        assert_rv!(rv(generate(s, &with(bits), &priv_t)), CKR_KEY_SIZE_RANGE, "{bits} bits");
    }
    assert_rv!(rv(generate(s, &Tmpl::new(), &priv_t)), CKR_TEMPLATE_INCOMPLETE);
    for e in [&[2u8][..], &[1], &[0], &[1, 0, 0, 0, 0, 0, 0, 0, 1]] {
        let t = with(2048).bytes(CKA_PUBLIC_EXPONENT, e);
        assert_rv!(rv(generate(s, &t, &priv_t)), CKR_ATTRIBUTE_VALUE_INVALID, "e = {e:?}");
    }
    // The modulus is given by the token, not the caller.
    assert_rv!(rv(generate(s, &with(2048).bytes(CKA_MODULUS, &[0xff; 256]), &priv_t)), CKR_ATTRIBUTE_READ_ONLY);
    assert_rv!(rv(generate(s, &with(2048), &Tmpl::new().bytes(CKA_PRIME_1, &[3]))), CKR_ATTRIBUTE_READ_ONLY);
    // Other sizes and exponents (aws-lc generates only some; the rsa crate the rest).
    for (bits, e) in [(3072, &[3u8][..]), (2049, &[1, 0, 1][..]), (2056, &[0, 0, 1, 0, 1][..]), (4096, &[1, 0, 1][..])]
    {
        let (hp, hq) = generate(s, &with(bits).bytes(CKA_PUBLIC_EXPONENT, e), &priv_t).expect("generated");
        assert_eq!(h.get_ulong(s, hp, CKA_MODULUS_BITS), bits);
        let n = h.get(s, hp, CKA_MODULUS).unwrap();
        assert_eq!(n.len(), (bits as usize).div_ceil(8), "{bits}");
        let want_e: Vec<u8> = e.iter().copied().skip_while(|b| *b == 0).collect();
        assert_eq!(h.get(s, hp, CKA_PUBLIC_EXPONENT).unwrap(), want_e);
        let mut m = pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32);
        let sig = sign(s, &mut m, hq, b"sized").unwrap();
        assert_eq!(sig.len(), n.len());
        assert_rv!(verify(s, &mut m, hp, b"sized", &sig), CKR_OK, "{bits} bits");
        // An odd size: emLen is k - 1 for PSS; raw PSS with another MGF goes the soft way.
        let mut m = pss(CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA1, 7);
        let sig = sign(s, &mut m, hq, b"sized").unwrap();
        assert_rv!(verify(s, &mut m, hp, b"sized", &sig), CKR_OK, "{bits} bits");
    }
    drop(h);
}

#[test]
fn the_largest_keys_work() {
    let (h, s) = Hsm::ready();
    let (hp, hq) = generate(s, &Tmpl::new().ulong(CKA_MODULUS_BITS, 8192), &Tmpl::new()).expect("8192 bits");
    assert_eq!(h.get(s, hp, CKA_MODULUS).unwrap().len(), 1024);
    let sig = sign(s, &mut plain(CKM_SHA512_RSA_PKCS), hq, b"big").unwrap();
    assert_eq!(sig.len(), 1024);
    assert_rv!(verify(s, &mut plain(CKM_SHA512_RSA_PKCS), hp, b"big", &sig), CKR_OK);
    let mut m = oaep(CKM_SHA512, CKG_MGF1_SHA512, b"label");
    let ct = encrypt(s, &mut m, hp, &data(1024 - 130)).unwrap();
    assert_eq!(decrypt(s, &mut m, hq, &ct).unwrap(), data(1024 - 130));
}

// ---------------------------------------------------------------------------
// Signatures

#[test]
fn pkcs1_signatures_single_and_multi_part() {
    let (_h, s) = Hsm::ready();
    let (hp, hq) = key_pair(s, 2048);
    let msg = data(1000);
    for (_, _, mech, _, _, name) in HASHES {
        let one = sign(s, &mut plain(*mech), hq, &msg).unwrap();
        assert_eq!(one.len(), 256);
        for chunk in [1, 7, 333, 1000] {
            assert_eq!(sign_parts(s, &mut plain(*mech), hq, &msg, chunk).unwrap(), one, "{name} in {chunk}-byte parts");
            assert_rv!(verify_parts(s, &mut plain(*mech), hp, &msg, chunk, &one), CKR_OK, "{name}");
        }
        assert_rv!(verify(s, &mut plain(*mech), hp, &msg, &one), CKR_OK, "{name}");
        assert_rv!(verify(s, &mut plain(*mech), hp, &msg[1..], &one), CKR_SIGNATURE_INVALID, "{name}");
    }
    // CKM_RSA_PKCS over a DigestInfo is the same signature as CKM_SHA256_RSA_PKCS.
    let t = sha256_digest_info(&msg);
    let raw = sign(s, &mut plain(CKM_RSA_PKCS), hq, &t).unwrap();
    assert_eq!(raw, sign(s, &mut plain(CKM_SHA256_RSA_PKCS), hq, &msg).unwrap());
    assert_rv!(verify(s, &mut plain(CKM_RSA_PKCS), hp, &t, &raw), CKR_OK);
    assert_rv!(verify(s, &mut plain(CKM_SHA256_RSA_PKCS), hp, &msg, &raw), CKR_OK);
    // ... and over any data up to k - 11 bytes, in parts too.
    for len in [0, 1, 100, 245] {
        let d = data(len);
        let sig = sign(s, &mut plain(CKM_RSA_PKCS), hq, &d).unwrap();
        assert_eq!(sign_parts(s, &mut plain(CKM_RSA_PKCS), hq, &d, 50).unwrap(), sig, "{len} bytes in parts");
        assert_rv!(verify(s, &mut plain(CKM_RSA_PKCS), hp, &d, &sig), CKR_OK, "{len} bytes");
        assert_rv!(verify_parts(s, &mut plain(CKM_RSA_PKCS), hp, &d, 30, &sig), CKR_OK, "{len} bytes");
    }
    assert_rv!(rv(sign(s, &mut plain(CKM_RSA_PKCS), hq, &data(246))), CKR_DATA_LEN_RANGE);
    assert_rv!(rv(sign_parts(s, &mut plain(CKM_RSA_PKCS), hq, &data(246), 100)), CKR_DATA_LEN_RANGE);
    assert_rv!(verify(s, &mut plain(CKM_RSA_PKCS), hp, &data(246), &raw), CKR_DATA_LEN_RANGE);
    // The operation ended with the error.
    let mut out = [0u8; 256];
    let mut n = 256;
    assert_rv!(call!(C_SignFinal, s, out.as_mut_ptr(), &mut n), CKR_OPERATION_NOT_INITIALIZED);
}

#[test]
fn pss_signatures_with_every_parameter() {
    let (_h, s) = Hsm::ready();
    let (hp, hq) = key_pair(s, 2048);
    let msg = data(777);
    for (hash, mgf, _, mech, hlen, name) in HASHES {
        let max = 256 - *hlen as CK_ULONG - 2;
        for (mgf, salt) in [(*mgf, *hlen as CK_ULONG), (*mgf, 0), (CKG_MGF1_SHA1, 20), (CKG_MGF1_SHA512, max)] {
            let mut m = pss(*mech, *hash, mgf, salt);
            let sig = sign(s, &mut m, hq, &msg).unwrap();
            assert_eq!(sig.len(), 256);
            assert_rv!(verify(s, &mut m, hp, &msg, &sig), CKR_OK, "{name} mgf {mgf} salt {salt}");
            assert_rv!(verify_parts(s, &mut m, hp, &msg, 100, &sig), CKR_OK, "{name}");
            let again = sign_parts(s, &mut m, hq, &msg, 13).unwrap();
            assert_rv!(verify(s, &mut m, hp, &msg, &again), CKR_OK, "{name} multi-part");
            if salt > 0 {
                assert_ne!(again, sig, "PSS is randomised");
            }
            // Another salt length or MGF does not verify.
            let mut other = pss(*mech, *hash, mgf, if salt == 0 { 1 } else { salt - 1 });
            assert_rv!(verify(s, &mut other, hp, &msg, &sig), CKR_SIGNATURE_INVALID, "{name}");
            // Raw PSS over the hash is the same scheme.
            let digest = sha(name, &msg);
            let mut raw = pss(CKM_RSA_PKCS_PSS, *hash, mgf, salt);
            assert_rv!(verify(s, &mut raw, hp, &digest, &sig), CKR_OK, "{name} raw");
            let sig2 = sign(s, &mut raw, hq, &digest).unwrap();
            assert_rv!(verify(s, &mut m, hp, &msg, &sig2), CKR_OK, "{name} raw sign");
            assert_rv!(rv(sign_parts(s, &mut raw, hq, &digest, 5)), CKR_OK);
        }
        // The salt length and MGF hash are checked exactly (aws-lc's fast path included).
        let zero_salt = sign(s, &mut pss(*mech, *hash, *mgf, 0), hq, &msg).unwrap();
        let other_mgf = sign(
            s,
            &mut pss(*mech, *hash, if *mgf == CKG_MGF1_SHA1 { CKG_MGF1_SHA384 } else { CKG_MGF1_SHA1 }, *hlen as _),
            hq,
            &msg,
        );
        let mut usual = pss(*mech, *hash, *mgf, *hlen as CK_ULONG);
        assert_rv!(verify(s, &mut usual, hp, &msg, &zero_salt), CKR_SIGNATURE_INVALID, "{name}: salt 0 as hLen");
        assert_rv!(verify(s, &mut usual, hp, &msg, &other_mgf.unwrap()), CKR_SIGNATURE_INVALID, "{name}: MGF");
        // Raw PSS takes exactly a hash of the parameter's length.
        let mut raw = pss(CKM_RSA_PKCS_PSS, *hash, *mgf, 0);
        assert_rv!(rv(sign(s, &mut raw, hq, &data(*hlen - 1))), CKR_DATA_LEN_RANGE, "{name}");
        assert_rv!(rv(sign(s, &mut raw, hq, &data(*hlen + 1))), CKR_DATA_LEN_RANGE, "{name}");
    }
}

#[test]
fn pss_parameters_are_checked() {
    let (_h, s) = Hsm::ready();
    let (hp, hq) = key_pair(s, 2048);
    let bad = [
        plain(CKM_SHA256_RSA_PKCS_PSS),
        plain(CKM_RSA_PKCS_PSS),
        pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA_1, CKG_MGF1_SHA256, 32),
        pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA256, 32),
        pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, 0, 32),
        pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, 99, 32),
        pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 256 - 32 - 1),
        pss(CKM_RSA_PKCS_PSS, CKM_MD5, CKG_MGF1_SHA256, 16),
        pss(CKM_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA1, 256 - 64 - 1),
        Mech { ty: CKM_SHA256_RSA_PKCS_PSS, param: vec![0; 5], _label: Box::new([]) },
        Mech { ty: CKM_RSA_PKCS, param: vec![0; 8], _label: Box::new([]) },
        Mech { ty: CKM_SHA256_RSA_PKCS, param: vec![0; 8], _label: Box::new([]) },
    ];
    for mut m in bad {
        let what = format!("{:#x} with {} parameter bytes", m.ty, m.param.len());
        let mut mm = m.raw();
        assert_rv!(call!(C_SignInit, s, &mut mm, hq), CKR_MECHANISM_PARAM_INVALID, "sign {what}");
        assert_rv!(call!(C_VerifyInit, s, &mut mm, hp), CKR_MECHANISM_PARAM_INVALID, "verify {what}");
    }
    // The largest salt is fine.
    let mut m = pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 256 - 32 - 2);
    let sig = sign(s, &mut m, hq, b"x").unwrap();
    assert_rv!(verify(s, &mut m, hp, b"x", &sig), CKR_OK);
}

#[test]
fn bad_signatures_are_refused() {
    let (_h, s) = Hsm::ready();
    let (hp, hq) = key_pair(s, 2048);
    let (hp2, _) = key_pair(s, 2048);
    let n = _h.get(s, hp, CKA_MODULUS).unwrap();
    let mechs = || {
        vec![
            plain(CKM_RSA_PKCS),
            plain(CKM_SHA256_RSA_PKCS),
            plain(CKM_SHA1_RSA_PKCS),
            plain(CKM_SHA224_RSA_PKCS),
            pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32),
            pss(CKM_SHA224_RSA_PKCS_PSS, CKM_SHA224, CKG_MGF1_SHA1, 10),
            plain(CKM_RSA_X_509),
        ]
    };
    for mut m in mechs() {
        let msg = if m.ty == CKM_RSA_X_509 { data(200) } else { sha256_digest_info(b"m") };
        let sig = sign(s, &mut m, hq, &msg).unwrap();
        assert_rv!(verify(s, &mut m, hp, &msg, &sig), CKR_OK, "{:#x}", m.ty);
        let mut flipped = sig.clone();
        flipped[100] ^= 1;
        assert_rv!(verify(s, &mut m, hp, &msg, &flipped), CKR_SIGNATURE_INVALID, "{:#x}", m.ty);
        assert_rv!(verify_parts(s, &mut m, hp, &msg, 10, &flipped), CKR_SIGNATURE_INVALID, "{:#x}", m.ty);
        assert_rv!(verify(s, &mut m, hp2, &msg, &sig), CKR_SIGNATURE_INVALID, "{:#x}: another key", m.ty);
        assert_rv!(verify(s, &mut m, hp, &msg, &sig[1..]), CKR_SIGNATURE_LEN_RANGE, "{:#x}", m.ty);
        let mut long = sig.clone();
        long.push(0);
        assert_rv!(verify(s, &mut m, hp, &msg, &long), CKR_SIGNATURE_LEN_RANGE, "{:#x}", m.ty);
        assert_rv!(verify_parts(s, &mut m, hp, &msg, 10, &[]), CKR_SIGNATURE_LEN_RANGE, "{:#x}", m.ty);
        // Not below the modulus.
        assert_rv!(verify(s, &mut m, hp, &msg, &n), CKR_SIGNATURE_INVALID, "{:#x}", m.ty);
        assert_rv!(verify(s, &mut m, hp, &msg, &[0xff; 256]), CKR_SIGNATURE_INVALID, "{:#x}", m.ty);
        // Each error ended the operation.
        assert_rv!(call!(C_VerifyFinal, s, sig.as_ptr() as *mut _, 256), CKR_OPERATION_NOT_INITIALIZED);
    }
}

#[test]
fn raw_rsa_x509() {
    let (h, s) = Hsm::ready();
    let (hp, hq) = key_pair(s, 2048);
    let n = h.get(s, hp, CKA_MODULUS).unwrap();
    let mut x = plain(CKM_RSA_X_509);
    // Short input: leading zeros are implied.
    let short = data(100);
    let sig = sign(s, &mut x, hq, &short).unwrap();
    assert_eq!(sig.len(), 256);
    assert_rv!(verify(s, &mut x, hp, &short, &sig), CKR_OK);
    let mut padded = vec![0u8; 156];
    padded.extend_from_slice(&short);
    assert_rv!(verify(s, &mut x, hp, &padded, &sig), CKR_OK);
    assert_eq!(sign_parts(s, &mut x, hq, &short, 9).unwrap(), sig, "raw RSA is deterministic");
    // Encryption is the public operation, decryption gives k bytes back.
    let ct = encrypt(s, &mut x, hp, &short).unwrap();
    assert_eq!(ct.len(), 256);
    assert_eq!(decrypt(s, &mut x, hq, &ct).unwrap(), padded);
    assert_eq!(crypt_parts(s, &mut x, hq, &ct, 100, true).unwrap(), padded);
    assert_eq!(crypt_parts(s, &mut x, hp, &short, 30, false).unwrap(), ct);
    // Signing is the private operation: verification undoes it, so does encryption.
    assert_eq!(encrypt(s, &mut x, hp, &sig).unwrap(), padded);
    // A full-length value below n works; n itself and above do not.
    let mut below = n.clone();
    below[0] -= 1;
    let sig = sign(s, &mut x, hq, &below).unwrap();
    assert_rv!(verify(s, &mut x, hp, &below, &sig), CKR_OK);
    assert_rv!(rv(sign(s, &mut x, hq, &n)), CKR_DATA_INVALID);
    assert_rv!(rv(encrypt(s, &mut x, hp, &[0xff; 256])), CKR_DATA_INVALID);
    assert_rv!(rv(decrypt(s, &mut x, hq, &n)), CKR_ENCRYPTED_DATA_INVALID);
    assert_rv!(rv(sign(s, &mut x, hq, &data(257))), CKR_DATA_LEN_RANGE);
    assert_rv!(rv(encrypt(s, &mut x, hp, &data(257))), CKR_DATA_LEN_RANGE);
    assert_rv!(rv(decrypt(s, &mut x, hq, &ct[1..])), CKR_ENCRYPTED_DATA_LEN_RANGE);
}

// ---------------------------------------------------------------------------
// Encryption

#[test]
fn pkcs1_and_oaep_encryption_round_trips() {
    let (_h, s) = Hsm::ready();
    let (hp, hq) = key_pair(s, 2048);
    let mut p = plain(CKM_RSA_PKCS);
    for len in [0, 1, 32, 245] {
        let m = data(len);
        let ct = encrypt(s, &mut p, hp, &m).unwrap();
        assert_eq!(ct.len(), 256);
        assert_ne!(encrypt(s, &mut p, hp, &m).unwrap(), ct, "randomised padding");
        assert_eq!(decrypt(s, &mut p, hq, &ct).unwrap(), m, "{len} bytes");
        assert_eq!(crypt_parts(s, &mut p, hq, &ct, 100, true).unwrap(), m);
        let ct2 = crypt_parts(s, &mut p, hp, &m, 10, false).unwrap();
        assert_eq!(decrypt(s, &mut p, hq, &ct2).unwrap(), m);
    }
    assert_rv!(rv(encrypt(s, &mut p, hp, &data(246))), CKR_DATA_LEN_RANGE);
    assert_rv!(rv(crypt_parts(s, &mut p, hp, &data(246), 123, false)), CKR_DATA_LEN_RANGE);
    // OAEP with every hash, every MGF1 hash, with and without a label.
    for (hash, _, _, _, hlen, name) in HASHES {
        for (_, mgf, _, _, _, mgf_name) in HASHES {
            for label in [&b""[..], b"a label"] {
                let mut m = oaep(*hash, *mgf, label);
                let max = 256 - 2 * hlen - 2;
                for len in [0, 17, max] {
                    let msg = data(len);
                    let ct = encrypt(s, &mut m, hp, &msg).unwrap();
                    assert_eq!(decrypt(s, &mut m, hq, &ct).unwrap(), msg, "OAEP {name}/{mgf_name} {label:?} {len}");
                }
                assert_rv!(rv(encrypt(s, &mut m, hp, &data(max + 1))), CKR_DATA_LEN_RANGE, "{name}/{mgf_name}");
            }
        }
    }
    // Multi-part OAEP, and a label in the wrong place.
    let mut m = oaep(CKM_SHA256, CKG_MGF1_SHA1, b"L");
    let ct = crypt_parts(s, &mut m, hp, &data(50), 7, false).unwrap();
    assert_eq!(crypt_parts(s, &mut m, hq, &ct, 64, true).unwrap(), data(50));
    assert_rv!(rv(decrypt(s, &mut oaep(CKM_SHA256, CKG_MGF1_SHA1, b"M"), hq, &ct)), CKR_ENCRYPTED_DATA_INVALID);
    assert_rv!(rv(decrypt(s, &mut oaep(CKM_SHA256, CKG_MGF1_SHA256, b"L"), hq, &ct)), CKR_ENCRYPTED_DATA_INVALID);
}

#[test]
fn oaep_parameters_are_checked() {
    let (_h, s) = Hsm::ready();
    let (hp, hq) = key_pair(s, 2048);
    let mut bad = vec![
        plain(CKM_RSA_PKCS_OAEP),
        oaep(CKM_MD5, CKG_MGF1_SHA1, b""),
        oaep(CKM_SHA256, 0, b""),
        oaep(CKM_SHA256, 6, b""),
        Mech { ty: CKM_RSA_PKCS_OAEP, param: vec![0; 3], _label: Box::new([]) },
        Mech { ty: CKM_RSA_PKCS, param: vec![1; 8], _label: Box::new([]) },
        Mech { ty: CKM_RSA_X_509, param: vec![1; 8], _label: Box::new([]) },
    ];
    // A source other than CKZ_DATA_SPECIFIED.
    let mut other = oaep(CKM_SHA256, CKG_MGF1_SHA256, b"");
    let p = CK_RSA_PKCS_OAEP_PARAMS {
        hashAlg: CKM_SHA256,
        mgf: CKG_MGF1_SHA256,
        source: 7,
        pSourceData: ptr::null_mut(),
        ulSourceDataLen: 0,
    };
    other.param = bytes_of(&p);
    bad.push(other);
    for m in &mut bad {
        let mut mm = m.raw();
        assert_rv!(call!(C_EncryptInit, s, &mut mm, hp), CKR_MECHANISM_PARAM_INVALID, "encrypt {:#x}", m.ty);
        assert_rv!(call!(C_DecryptInit, s, &mut mm, hq), CKR_MECHANISM_PARAM_INVALID, "decrypt {:#x}", m.ty);
    }
}

#[test]
fn bad_ciphertexts_all_give_one_error() {
    let (h, s) = Hsm::ready();
    let (hp, hq) = key_pair(s, 2048);
    let n = h.get(s, hp, CKA_MODULUS).unwrap();
    let mut p = plain(CKM_RSA_PKCS);
    let mut x = plain(CKM_RSA_X_509);
    // Blocks made with raw RSA: each breaks the EME-PKCS1-v1_5 format in one place.
    let mut good = vec![0u8, 2];
    good.extend(std::iter::repeat_n(0x77, 256 - 3 - 53));
    good.push(0);
    good.extend_from_slice(&data(53));
    let ct = encrypt(s, &mut x, hp, &good).unwrap();
    assert_eq!(decrypt(s, &mut p, hq, &ct).unwrap(), data(53), "a well-formed block made by hand");
    let mut wrong_head = good.clone();
    wrong_head[1] = 1;
    let mut nonzero_first = good.clone();
    nonzero_first[0] = 1;
    let mut no_separator = good.clone();
    no_separator[2..].iter_mut().for_each(|b| *b |= 1);
    let mut short_padding = vec![0u8, 2];
    short_padding.extend_from_slice(&[0x66; 7]);
    short_padding.push(0);
    short_padding.extend_from_slice(&data(256 - 10));
    let mut separator_first = vec![0u8, 2, 0];
    separator_first.extend_from_slice(&data(253));
    for (what, b) in [
        ("type 1", wrong_head),
        ("first byte", nonzero_first),
        ("no separator", no_separator),
        ("7 bytes of padding", short_padding),
        ("empty padding", separator_first),
    ] {
        let ct = encrypt(s, &mut x, hp, &b).unwrap();
        assert_rv!(rv(decrypt(s, &mut p, hq, &ct)), CKR_ENCRYPTED_DATA_INVALID, "{what}");
        assert_rv!(rv(crypt_parts(s, &mut p, hq, &ct, 100, true)), CKR_ENCRYPTED_DATA_INVALID, "{what}, parts");
    }
    // Random blocks, tampered ciphertexts, values not below n: one code, for both paddings.
    let real = encrypt(s, &mut p, hp, b"secret").unwrap();
    let mut o = oaep(CKM_SHA256, CKG_MGF1_SHA256, b"");
    let real_oaep = encrypt(s, &mut o, hp, b"secret").unwrap();
    for i in 0..10usize {
        let mut t = real.clone();
        t[i * 12] ^= 1 << (i % 8);
        assert_rv!(rv(decrypt(s, &mut p, hq, &t)), CKR_ENCRYPTED_DATA_INVALID, "tampered PKCS#1 #{i}");
        let mut t = real_oaep.clone();
        t[i * 12 + 1] ^= 1 << (i % 8);
        assert_rv!(rv(decrypt(s, &mut o, hq, &t)), CKR_ENCRYPTED_DATA_INVALID, "tampered OAEP #{i}");
    }
    for c in [n.clone(), vec![0xff; 256], vec![0; 256]] {
        assert_rv!(rv(decrypt(s, &mut p, hq, &c)), CKR_ENCRYPTED_DATA_INVALID);
        assert_rv!(rv(decrypt(s, &mut o, hq, &c)), CKR_ENCRYPTED_DATA_INVALID);
    }
    assert_rv!(rv(decrypt(s, &mut o, hq, &real)), CKR_ENCRYPTED_DATA_INVALID, "PKCS#1 block under OAEP");
    assert_rv!(rv(decrypt(s, &mut p, hq, &real_oaep)), CKR_ENCRYPTED_DATA_INVALID, "OAEP block under PKCS#1");
    // Wrong lengths are a different, length error.
    for m in [&mut p, &mut o] {
        assert_rv!(rv(decrypt(s, m, hq, &real[1..])), CKR_ENCRYPTED_DATA_LEN_RANGE);
        let mut long = real.clone();
        long.push(1);
        assert_rv!(rv(decrypt(s, m, hq, &long)), CKR_ENCRYPTED_DATA_LEN_RANGE);
        assert_rv!(rv(crypt_parts(s, m, hq, &long, 200, true)), CKR_ENCRYPTED_DATA_LEN_RANGE);
        assert_rv!(rv(crypt_parts(s, m, hq, &real[..255], 200, true)), CKR_ENCRYPTED_DATA_LEN_RANGE);
    }
}

#[test]
fn length_queries_and_short_buffers() {
    let (_h, s) = Hsm::ready();
    let (hp, hq) = key_pair(s, 3072);
    // Signing: the query gives k; a short buffer gets the exact length and keeps the
    // signature for the next call.
    let mut m = plain(CKM_SHA384_RSA_PKCS);
    let mut mm = m.raw();
    assert_eq!(call!(C_SignInit, s, &mut mm, hq), CKR_OK);
    let mut n = 0;
    assert_eq!(call!(C_Sign, s, b"abc".as_ptr() as *mut _, 3, ptr::null_mut(), &mut n), CKR_OK);
    assert_eq!(n, 384);
    let mut small = vec![0u8; 383];
    let mut n = 383;
    assert_rv!(call!(C_Sign, s, b"abc".as_ptr() as *mut _, 3, small.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
    assert_eq!(n, 384);
    let mut sig = vec![0u8; 400];
    let mut n = 400;
    assert_eq!(call!(C_Sign, s, b"abc".as_ptr() as *mut _, 3, sig.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(n, 384);
    sig.truncate(384);
    assert_rv!(verify(s, &mut m, hp, b"abc", &sig), CKR_OK);
    // The same through C_SignFinal.
    assert_eq!(call!(C_SignInit, s, &mut mm, hq), CKR_OK);
    assert_eq!(call!(C_SignUpdate, s, b"abc".as_ptr() as *mut _, 3), CKR_OK);
    let mut n = 10;
    assert_rv!(call!(C_SignFinal, s, small.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
    assert_eq!(n, 384);
    let mut n = 384;
    let mut out = vec![0u8; 384];
    assert_eq!(call!(C_SignFinal, s, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(out, sig, "PKCS#1 v1.5 is deterministic");
    // Encryption: k; decryption: an upper bound, then the exact length on a short buffer.
    let mut o = oaep(CKM_SHA_1, CKG_MGF1_SHA1, b"");
    let mut om = o.raw();
    assert_eq!(call!(C_EncryptInit, s, &mut om, hp), CKR_OK);
    let mut n = 0;
    assert_eq!(call!(C_Encrypt, s, b"hello".as_ptr() as *mut _, 5, ptr::null_mut(), &mut n), CKR_OK);
    assert_eq!(n, 384);
    let mut ct = vec![0u8; 384];
    assert_eq!(call!(C_Encrypt, s, b"hello".as_ptr() as *mut _, 5, ct.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(call!(C_DecryptInit, s, &mut om, hq), CKR_OK);
    let mut n = 0;
    assert_eq!(call!(C_Decrypt, s, ct.as_mut_ptr(), 384, ptr::null_mut(), &mut n), CKR_OK);
    assert_eq!(n, 384 - 2 * 20 - 2, "the most OAEP/SHA-1 can hold");
    let mut pt = [0u8; 3];
    let mut n = 3;
    assert_rv!(call!(C_Decrypt, s, ct.as_mut_ptr(), 384, pt.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
    assert_eq!(n, 5);
    let mut pt = [0u8; 5];
    assert_eq!(call!(C_Decrypt, s, ct.as_mut_ptr(), 384, pt.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(&pt, b"hello");
    // An RSA operation is one-shot: the signature is k bytes whatever the data.
    assert_eq!(sign(s, &mut plain(CKM_RSA_PKCS), hq, b"").unwrap().len(), 384);
}

// ---------------------------------------------------------------------------
// Key checks

#[test]
fn keys_are_checked_for_type_usage_allowed_mechanisms_and_size() {
    let (h, s) = Hsm::ready();
    let (hp, hq) = key_pair(s, 2048);
    let aes = h.create(s, &aes_key("aes", &[7; 32])).unwrap();
    let mut m = plain(CKM_SHA256_RSA_PKCS);
    let mut mm = m.raw();
    assert_rv!(call!(C_SignInit, s, &mut mm, aes), CKR_KEY_TYPE_INCONSISTENT);
    assert_rv!(call!(C_VerifyInit, s, &mut mm, aes), CKR_KEY_TYPE_INCONSISTENT);
    // A public key does not sign; a private key does not encrypt.
    assert_rv!(call!(C_SignInit, s, &mut mm, hp), CKR_KEY_FUNCTION_NOT_PERMITTED);
    let mut p = plain(CKM_RSA_PKCS);
    let mut pm = p.raw();
    assert_rv!(call!(C_EncryptInit, s, &mut pm, hq), CKR_KEY_FUNCTION_NOT_PERMITTED);
    // Usage flags.
    let (hp2, hq2) = generate(
        s,
        &Tmpl::new().ulong(CKA_MODULUS_BITS, 2048).bool(CKA_VERIFY, false).bool(CKA_ENCRYPT, false),
        &Tmpl::new().bool(CKA_SIGN, false).bool(CKA_DECRYPT, false),
    )
    .unwrap();
    assert_rv!(call!(C_SignInit, s, &mut mm, hq2), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_rv!(call!(C_VerifyInit, s, &mut mm, hp2), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_rv!(call!(C_EncryptInit, s, &mut pm, hp2), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_rv!(call!(C_DecryptInit, s, &mut pm, hq2), CKR_KEY_FUNCTION_NOT_PERMITTED);
    // A mechanism that does not do the operation.
    assert_rv!(call!(C_EncryptInit, s, &mut mm, hp), CKR_MECHANISM_INVALID);
    let mut o = oaep(CKM_SHA256, CKG_MGF1_SHA256, b"");
    let mut om = o.raw();
    assert_rv!(call!(C_SignInit, s, &mut om, hq), CKR_MECHANISM_INVALID);
    // CKA_ALLOWED_MECHANISMS.
    let allowed: Vec<u8> = CKM_SHA256_RSA_PKCS.to_ne_bytes().to_vec();
    let (hp3, hq3) = generate(
        s,
        &Tmpl::new().ulong(CKA_MODULUS_BITS, 2048).bytes(CKA_ALLOWED_MECHANISMS, &allowed),
        &Tmpl::new().bytes(CKA_ALLOWED_MECHANISMS, &allowed),
    )
    .unwrap();
    let sig = sign(s, &mut m, hq3, b"ok").unwrap();
    assert_rv!(verify(s, &mut m, hp3, b"ok", &sig), CKR_OK);
    assert_rv!(rv(sign(s, &mut plain(CKM_RSA_PKCS), hq3, b"no")), CKR_MECHANISM_INVALID);
    assert_rv!(rv(sign(s, &mut plain(CKM_SHA512_RSA_PKCS), hq3, b"no")), CKR_MECHANISM_INVALID);
    assert_rv!(rv(encrypt(s, &mut plain(CKM_RSA_PKCS), hp3, b"no")), CKR_MECHANISM_INVALID);
    // A 1024-bit key may be stored but not used.
    let (_, c) = openssl_key(1024);
    let small = h.create(s, &private_template(&c)).expect("1024-bit keys import");
    let small_pub = h.create(s, &public_template(&c.n, &c.e)).unwrap();
    assert_eq!(h.get_ulong(s, small_pub, CKA_MODULUS_BITS), 1024);
    assert_rv!(rv(sign(s, &mut m, small, b"x")), CKR_KEY_SIZE_RANGE);
    assert_rv!(verify(s, &mut m, small_pub, b"x", &[0; 128]), CKR_KEY_SIZE_RANGE);
    assert_rv!(rv(encrypt(s, &mut p, small_pub, b"x")), CKR_KEY_SIZE_RANGE);
    assert_rv!(rv(decrypt(s, &mut p, small, &[0; 128])), CKR_KEY_SIZE_RANGE);
}

// ---------------------------------------------------------------------------
// Import

#[test]
fn imported_keys_are_checked_and_completed() {
    let (h, s) = Hsm::ready();
    let (hp, hq) = key_pair(s, 2048);
    let c = components(&h, s, hq);
    let spki = h.get(s, hp, CKA_PUBLIC_KEY_INFO).unwrap();
    let sig = sign(s, &mut plain(CKM_SHA256_RSA_PKCS), hq, b"import").unwrap();
    let signs_right = |key| sign(s, &mut plain(CKM_SHA256_RSA_PKCS), key, b"import").unwrap() == sig;

    // The whole key.
    let full = h.create(s, &private_template(&c)).unwrap();
    assert!(signs_right(full));
    assert_eq!(h.get_ulong(s, full, CKA_FERRO_ORIGIN), ORIGIN_IMPORTED);
    assert!(!h.get_bool(s, full, CKA_LOCAL));
    assert_eq!(h.get(s, full, CKA_PUBLIC_KEY_INFO).unwrap(), spki, "CKA_PUBLIC_KEY_INFO filled in");
    assert!(!h.get_bool(s, full, CKA_ALWAYS_SENSITIVE));
    assert!(!h.get_bool(s, full, CKA_NEVER_EXTRACTABLE));
    // n, e and d only: the primes and CRT values are recovered.
    let bare = Tmpl::new()
        .class(CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_RSA)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
        .bytes(CKA_MODULUS, &c.n)
        .bytes(CKA_PUBLIC_EXPONENT, &c.e)
        .bytes(CKA_PRIVATE_EXPONENT, &c.d);
    let k = h.create(s, &bare).unwrap();
    assert!(signs_right(k));
    let (p, q) = (h.get(s, k, CKA_PRIME_1).unwrap(), h.get(s, k, CKA_PRIME_2).unwrap());
    assert!((p == c.p && q == c.q) || (p == c.q && q == c.p), "the primes recovered");
    assert_eq!(h.get(s, k, CKA_PUBLIC_KEY_INFO).unwrap(), spki);
    // n and d only: e = 65537 is found.
    let no_e = Tmpl::new()
        .class(CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_RSA)
        .bytes(CKA_MODULUS, &c.n)
        .bytes(CKA_PRIVATE_EXPONENT, &c.d);
    let k = h.create(s, &no_e).unwrap();
    assert_eq!(h.get(s, k, CKA_PUBLIC_EXPONENT).unwrap(), [1, 0, 1]);
    assert!(signs_right(k));
    // The primes without the CRT values; leading zeros are fine.
    let mut lead = vec![0u8];
    lead.extend_from_slice(&c.n);
    let primes = Tmpl::new()
        .class(CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_RSA)
        .bytes(CKA_MODULUS, &lead)
        .bytes(CKA_PUBLIC_EXPONENT, &c.e)
        .bytes(CKA_PRIVATE_EXPONENT, &c.d)
        .bytes(CKA_PRIME_1, &c.p)
        .bytes(CKA_PRIME_2, &c.q)
        .bytes(CKA_PUBLIC_KEY_INFO, &spki);
    let k = h.create(s, &primes).unwrap();
    assert!(signs_right(k));
    assert_eq!(h.get(s, k, CKA_MODULUS).unwrap(), lead, "kept as given");

    // Inconsistent keys are refused.
    let bump = |v: &[u8]| {
        let mut v = v.to_vec();
        let last = v.len() - 1;
        v[last] ^= 2;
        v
    };
    let with = |ty: CK_ATTRIBUTE_TYPE, v: &[u8]| {
        let mut t = private_template(&c);
        t.0.retain(|(a, _)| *a != ty);
        t.bytes(ty, v)
    };
    for (ty, what) in [
        (CKA_PRIVATE_EXPONENT, "d"),
        (CKA_PUBLIC_EXPONENT, "e"),
        (CKA_PRIME_1, "p"),
        (CKA_PRIME_2, "q"),
        (CKA_EXPONENT_1, "dp"),
        (CKA_EXPONENT_2, "dq"),
        (CKA_COEFFICIENT, "qinv"),
        (CKA_MODULUS, "n"),
    ] {
        let v = match ty {
            CKA_PRIVATE_EXPONENT => bump(&c.d),
            CKA_PUBLIC_EXPONENT => vec![1, 0, 3],
            CKA_PRIME_1 => bump(&c.p),
            CKA_PRIME_2 => bump(&c.q),
            CKA_EXPONENT_1 => bump(&c.dp),
            CKA_EXPONENT_2 => bump(&c.dq),
            CKA_COEFFICIENT => bump(&c.qinv),
            _ => bump(&c.n),
        };
        assert_rv!(rv(h.create(s, &with(ty, &v))), CKR_ATTRIBUTE_VALUE_INVALID, "a wrong {what}");
    }
    assert_rv!(rv(h.create(s, &bare.clone().bytes(CKA_PUBLIC_KEY_INFO, &spki[1..]))), CKR_ATTRIBUTE_VALUE_INVALID);
    let mut other_d = bare.clone();
    other_d.0.retain(|(a, _)| *a != CKA_PRIVATE_EXPONENT);
    assert_rv!(rv(h.create(s, &other_d.bytes(CKA_PRIVATE_EXPONENT, &bump(&c.d)))), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_rv!(rv(h.create(s, &bare.clone().bytes(CKA_PRIME_1, &c.p))), CKR_TEMPLATE_INCOMPLETE, "p without q");
    assert_rv!(
        rv(h.create(s, &Tmpl::new().class(CKO_PRIVATE_KEY).ulong(CKA_KEY_TYPE, CKK_RSA).bytes(CKA_MODULUS, &c.n))),
        CKR_TEMPLATE_INCOMPLETE
    );

    // Public keys.
    let pk = h.create(s, &public_template(&c.n, &c.e)).unwrap();
    assert_eq!(h.get_ulong(s, pk, CKA_MODULUS_BITS), 2048);
    assert_eq!(h.get(s, pk, CKA_PUBLIC_KEY_INFO).unwrap(), spki);
    assert_rv!(verify(s, &mut plain(CKM_SHA256_RSA_PKCS), pk, b"import", &sig), CKR_OK);
    assert_rv!(rv(h.create(s, &public_template(&c.n, &c.e).bytes(CKA_PUBLIC_KEY_INFO, &spki))), CKR_OK);
    let mut wrong_spki = spki.clone();
    *wrong_spki.last_mut().unwrap() ^= 1;
    assert_rv!(
        rv(h.create(s, &public_template(&c.n, &c.e).bytes(CKA_PUBLIC_KEY_INFO, &wrong_spki))),
        CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_rv!(rv(h.create(s, &public_template(&c.n, &c.e).ulong(CKA_MODULUS_BITS, 2048))), CKR_ATTRIBUTE_READ_ONLY);
    let mut even = c.n.clone();
    *even.last_mut().unwrap() &= 0xfe;
    for (n, e, what) in [
        (&even[..], &c.e[..], "even modulus"),
        (&c.n[..], &[1][..], "e = 1"),
        (&c.n[..], &[1, 0, 0][..], "even e"),
        (&[0xc5; 8][..], &c.e[..], "64 bits"),
        (&c.n[..], &[1, 0, 0, 0, 0, 0, 0, 0, 1][..], "e too large"),
    ] {
        assert_rv!(rv(h.create(s, &public_template(n, e))), CKR_ATTRIBUTE_VALUE_INVALID, "{what}");
    }
    assert_rv!(
        rv(h.create(s, &Tmpl::new().class(CKO_PUBLIC_KEY).ulong(CKA_KEY_TYPE, CKK_RSA).bytes(CKA_MODULUS, &c.n))),
        CKR_TEMPLATE_INCOMPLETE
    );
}

// ---------------------------------------------------------------------------
// Wrapping

fn wrap(
    s: CK_SESSION_HANDLE,
    m: &mut Mech,
    wrapping: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
) -> Result<Vec<u8>, CK_RV> {
    let mut mm = m.raw();
    let mut n = 0;
    match call!(C_WrapKey, s, &mut mm, wrapping, key, ptr::null_mut(), &mut n) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut out = vec![0u8; n as usize];
    match call!(C_WrapKey, s, &mut mm, wrapping, key, out.as_mut_ptr(), &mut n) {
        CKR_OK => {
            out.truncate(n as usize);
            Ok(out)
        }
        rv => Err(rv),
    }
}

fn unwrap(
    s: CK_SESSION_HANDLE,
    m: &mut Mech,
    unwrapping: CK_OBJECT_HANDLE,
    wrapped: &[u8],
    t: &Tmpl,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut mm = m.raw();
    let mut a = t.attrs();
    let mut h = 0;
    match call!(
        C_UnwrapKey,
        s,
        &mut mm,
        unwrapping,
        wrapped.as_ptr() as *mut _,
        wrapped.len() as CK_ULONG,
        a.as_mut_ptr(),
        a.len() as CK_ULONG,
        &mut h
    ) {
        CKR_OK => Ok(h),
        rv => Err(rv),
    }
}

#[test]
fn aes_keys_wrap_and_unwrap_with_oaep_and_pkcs1() {
    let (h, s) = Hsm::ready();
    let (hp, hq) = key_pair(s, 2048);
    let value: Vec<u8> = (0..32).collect();
    let aes = h.create(s, &aes_key("to wrap", &value).bool(CKA_EXTRACTABLE, true)).unwrap();
    let check = h.get(s, aes, CKA_CHECK_VALUE).unwrap();
    let unwrap_t = Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true);
    for mut m in [plain(CKM_RSA_PKCS), oaep(CKM_SHA256, CKG_MGF1_SHA256, b"wrap"), oaep(CKM_SHA_1, CKG_MGF1_SHA1, b"")]
    {
        let wrapped = wrap(s, &mut m, hp, aes).unwrap();
        assert_eq!(wrapped.len(), 256);
        // The same as C_Encrypt of the value (decrypts to it).
        assert_eq!(decrypt(s, &mut m, hq, &wrapped).unwrap(), value);
        let k = unwrap(s, &mut m, hq, &wrapped, &unwrap_t).unwrap();
        assert_eq!(h.get(s, k, CKA_VALUE).unwrap(), value, "{:#x}", m.ty);
        assert_eq!(h.get(s, k, CKA_CHECK_VALUE).unwrap(), check);
        assert!(!h.get_bool(s, k, CKA_LOCAL));
        assert_eq!(h.get_ulong(s, k, CKA_FERRO_ORIGIN), ORIGIN_UNWRAPPED);
        assert_eq!(ulong(&h.get(s, k, CKA_VALUE_LEN).unwrap()), 32);
        // A wrapped key tampered with, or of the wrong length.
        let mut bad = wrapped.clone();
        bad[7] ^= 0x40;
        assert_rv!(rv(unwrap(s, &mut m, hq, &bad, &unwrap_t)), CKR_WRAPPED_KEY_INVALID, "{:#x}", m.ty);
        assert_rv!(rv(unwrap(s, &mut m, hq, &wrapped[1..], &unwrap_t)), CKR_WRAPPED_KEY_LEN_RANGE, "{:#x}", m.ty);
    }
    // Mechanisms without CKF_WRAP, and keys without CKA_WRAP.
    assert_rv!(rv(wrap(s, &mut plain(CKM_RSA_X_509), hp, aes)), CKR_MECHANISM_INVALID);
    let (no_wrap, _) =
        generate(s, &Tmpl::new().ulong(CKA_MODULUS_BITS, 2048).bool(CKA_WRAP, false), &Tmpl::new()).unwrap();
    assert_rv!(rv(wrap(s, &mut plain(CKM_RSA_PKCS), no_wrap, aes)), CKR_KEY_FUNCTION_NOT_PERMITTED);
    // An RSA private key (PKCS#8, about 1.2 kB) does not fit in one RSA block. Its PKCS#8
    // round trip needs an AES wrapping mechanism, tested with the AES family.
    let (_, extractable) = key_pair(s, 2048);
    assert_rv!(rv(wrap(s, &mut oaep(CKM_SHA256, CKG_MGF1_SHA256, b""), hp, extractable)), CKR_KEY_SIZE_RANGE);
}

// ---------------------------------------------------------------------------
// Interoperability with openssl

#[test]
fn token_signatures_verify_with_openssl() {
    let (h, s) = Hsm::ready();
    let (hp, hq) =
        generate(s, &Tmpl::new().token(true).ulong(CKA_MODULUS_BITS, 2048), &Tmpl::new().token(true)).unwrap();
    let pem = spki_pem(&h.get(s, hp, CKA_PUBLIC_KEY_INFO).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (pub_path, sig_path, data_path) = (dir.path().join("pub.pem"), dir.path().join("sig"), dir.path().join("data"));
    std::fs::write(&pub_path, &pem).unwrap();
    let msg = data(5000);
    std::fs::write(&data_path, &msg).unwrap();
    let verify_with = |sig: &[u8], md: &str, opts: &[&str]| {
        std::fs::write(&sig_path, sig).unwrap();
        let mut args =
            vec!["dgst", md, "-verify", pub_path.to_str().unwrap(), "-signature", sig_path.to_str().unwrap()];
        args.extend_from_slice(opts);
        args.push(data_path.to_str().unwrap());
        try_openssl(&args, &[]).is_some()
    };
    for (hash, mgf, pkcs, pss_mech, hlen, name) in HASHES {
        let md = format!("-{name}");
        let sig = sign(s, &mut plain(*pkcs), hq, &msg).unwrap();
        assert!(verify_with(&sig, &md, &[]), "{name} PKCS#1 v1.5");
        let mut bad = sig.clone();
        bad[0] ^= 1;
        assert!(!verify_with(&bad, &md, &[]), "openssl refuses a bad one");
        for (mgf, mgf_name, salt) in [(*mgf, *name, *hlen), (CKG_MGF1_SHA1, "sha1", 0)] {
            let sig = sign(s, &mut pss(*pss_mech, *hash, mgf, salt as CK_ULONG), hq, &msg).unwrap();
            let salt_opt = format!("rsa_pss_saltlen:{salt}");
            let mgf_opt = format!("rsa_mgf1_md:{mgf_name}");
            let opts = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", &salt_opt, "-sigopt", &mgf_opt];
            assert!(verify_with(&sig, &md, &opts), "{name} PSS, MGF1 {mgf_name}, salt {salt}");
        }
    }
    // And openssl's signatures verify in the token (pkeyutl over a hash, for raw PSS too).
    let (key_pem, c) = openssl_key(2048);
    let key_path = dir.path().join("key.pem");
    std::fs::write(&key_path, &key_pem).unwrap();
    let pk = h.create(s, &public_template(&c.n, &c.e)).unwrap();
    let digest = sha("sha256", &msg);
    let ossl = |opts: &[&str]| {
        let mut args = vec!["pkeyutl", "-sign", "-inkey", key_path.to_str().unwrap(), "-pkeyopt", "digest:sha256"];
        for o in opts {
            args.extend_from_slice(&["-pkeyopt", o]);
        }
        openssl(&args, &digest)
    };
    let sig = ossl(&[]);
    assert_rv!(verify(s, &mut plain(CKM_SHA256_RSA_PKCS), pk, &msg, &sig), CKR_OK);
    assert_rv!(verify(s, &mut plain(CKM_RSA_PKCS), pk, &sha256_digest_info(&msg), &sig), CKR_OK);
    let sig = ossl(&["rsa_padding_mode:pss", "rsa_pss_saltlen:32"]);
    assert_rv!(verify(s, &mut pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32), pk, &msg, &sig), CKR_OK);
    assert_rv!(verify(s, &mut pss(CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32), pk, &digest, &sig), CKR_OK);
}

#[test]
fn encryption_interoperates_with_openssl() {
    let (h, s) = Hsm::ready();
    let (key_pem, c) = openssl_key(2048);
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key.pem");
    std::fs::write(&key_path, &key_pem).unwrap();
    let pub_pem = openssl(&["pkey", "-pubout"], &key_pem);
    let pub_path = dir.path().join("pub.pem");
    std::fs::write(&pub_path, &pub_pem).unwrap();
    let priv_key = h.create(s, &private_template(&c).token(true)).unwrap();
    let pub_key = h.create(s, &public_template(&c.n, &c.e).token(true)).unwrap();
    // The token's SPKI is openssl's.
    assert_eq!(
        h.get(s, pub_key, CKA_PUBLIC_KEY_INFO).unwrap(),
        openssl(&["pkey", "-pubin", "-outform", "DER"], &pub_pem)
    );
    let cases: Vec<(Mech, Vec<&str>)> = vec![
        (plain(CKM_RSA_PKCS), vec!["rsa_padding_mode:pkcs1"]),
        (
            oaep(CKM_SHA256, CKG_MGF1_SHA256, b""),
            vec!["rsa_padding_mode:oaep", "rsa_oaep_md:sha256", "rsa_mgf1_md:sha256"],
        ),
        (
            oaep(CKM_SHA256, CKG_MGF1_SHA256, b"label"),
            // The label in hex: "label".
            vec!["rsa_padding_mode:oaep", "rsa_oaep_md:sha256", "rsa_mgf1_md:sha256", "rsa_oaep_label:6c6162656c"],
        ),
        (oaep(CKM_SHA_1, CKG_MGF1_SHA1, b""), vec!["rsa_padding_mode:oaep"]),
        (
            oaep(CKM_SHA512, CKG_MGF1_SHA1, b"label"),
            vec!["rsa_padding_mode:oaep", "rsa_oaep_md:sha512", "rsa_mgf1_md:sha1", "rsa_oaep_label:6c6162656c"],
        ),
    ];
    let msg = b"a secret the token and openssl share";
    for (mut m, opts) in cases {
        let pkeyopts: Vec<String> = opts.iter().flat_map(|o| ["-pkeyopt".to_string(), o.to_string()]).collect();
        // openssl encrypts, the token decrypts.
        let mut args = vec!["pkeyutl", "-encrypt", "-pubin", "-inkey", pub_path.to_str().unwrap()];
        args.extend(pkeyopts.iter().map(String::as_str));
        let ct = openssl(&args, msg);
        assert_eq!(decrypt(s, &mut m, priv_key, &ct).unwrap(), msg, "{opts:?}: openssl to token");
        // The token encrypts, openssl decrypts.
        let ct = encrypt(s, &mut m, pub_key, msg).unwrap();
        let mut args = vec!["pkeyutl", "-decrypt", "-inkey", key_path.to_str().unwrap()];
        args.extend(pkeyopts.iter().map(String::as_str));
        assert_eq!(openssl(&args, &ct), msg, "{opts:?}: token to openssl");
    }
    // A signature by the imported key verifies with openssl's public key.
    let sig = sign(s, &mut plain(CKM_SHA256_RSA_PKCS), priv_key, msg).unwrap();
    let sig_path = dir.path().join("sig");
    std::fs::write(&sig_path, &sig).unwrap();
    let args = ["dgst", "-sha256", "-verify", pub_path.to_str().unwrap(), "-signature", sig_path.to_str().unwrap()];
    assert!(try_openssl(&args, msg).is_some());
}

/// An RSA private key leaves the token as PKCS#8 under an AES key (KWP: RFC 5649
/// pads the PrivateKeyInfo, whose length is not a multiple of 8) and comes back as
/// a key with the same components, which is not local and never was sensitive.
#[test]
fn private_keys_wrap_as_pkcs8_under_aes_and_come_back() {
    let (h, s) = Hsm::ready();
    let (public, private) = key_pair(s, 2048);
    let kek =
        h.create(s, &aes_key("kek", &[7u8; 32]).bool(CKA_WRAP, true).bool(CKA_UNWRAP, true)).expect("AES wrapping key");
    let mut kwp = plain(CKM_AES_KEY_WRAP_KWP).raw();
    let mut n = 0;
    assert_eq!(call!(C_WrapKey, s, &mut kwp, kek, private, ptr::null_mut(), &mut n), CKR_OK);
    let mut wrapped = vec![0u8; n as usize];
    assert_eq!(call!(C_WrapKey, s, &mut kwp, kek, private, wrapped.as_mut_ptr(), &mut n), CKR_OK);
    wrapped.truncate(n as usize);
    // What is inside is PKCS#8 that openssl reads: unwrap it with openssl's KWP.
    let pkcs8 =
        openssl(&["enc", "-d", "-id-aes256-wrap-pad", "-K", &"07".repeat(32), "-iv", "A65959A6", "-nopad"], &wrapped);
    let modulus = openssl(&["rsa", "-inform", "DER", "-noout", "-modulus"], &pkcs8);
    let n_hex: String = h.get(s, public, CKA_MODULUS).unwrap().iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(String::from_utf8(modulus).unwrap().trim(), format!("Modulus={n_hex}"));
    // Back into the token.
    let t = Tmpl::new()
        .class(CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_RSA)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
        .label("unwrapped");
    let mut a = t.attrs();
    let mut back = 0;
    let rv = call!(
        C_UnwrapKey,
        s,
        &mut kwp,
        kek,
        wrapped.as_mut_ptr(),
        wrapped.len() as CK_ULONG,
        a.as_mut_ptr(),
        a.len() as CK_ULONG,
        &mut back
    );
    assert_eq!(rv, CKR_OK);
    let (orig, copy) = (components(&h, s, private), components(&h, s, back));
    assert_eq!((orig.n, orig.d, orig.p, orig.qinv), (copy.n, copy.d, copy.p, copy.qinv));
    assert!(!h.get_bool(s, back, CKA_LOCAL));
    assert!(!h.get_bool(s, back, CKA_ALWAYS_SENSITIVE));
    assert_eq!(h.get_ulong(s, back, CKA_FERRO_ORIGIN), 3, "unwrapped");
    // It signs, and the original's public key verifies.
    let mut m = plain(CKM_SHA256_RSA_PKCS);
    let sig = sign(s, &mut m, back, b"wrapped and back").unwrap();
    assert_eq!(verify(s, &mut plain(CKM_SHA256_RSA_PKCS), public, b"wrapped and back", &sig), CKR_OK);
    // A corrupted blob is a bad wrapped key, not a crash or a half-made object.
    wrapped[10] ^= 1;
    let rv = call!(
        C_UnwrapKey,
        s,
        &mut kwp,
        kek,
        wrapped.as_mut_ptr(),
        wrapped.len() as CK_ULONG,
        a.as_mut_ptr(),
        a.len() as CK_ULONG,
        &mut back
    );
    assert_eq!(rv, CKR_WRAPPED_KEY_INVALID);
}
