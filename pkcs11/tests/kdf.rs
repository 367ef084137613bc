//! Key derivation through the built module: HKDF (`CKM_HKDF_DERIVE`,
//! `CKM_HKDF_DATA`, `CKM_HKDF_KEY_GEN`), the SP 800-108 KDFs (counter, feedback,
//! double pipeline, with additional derived keys), PBKDF2 (`CKM_PKCS5_PBKD2`) and
//! the simple derivations (concatenation, XOR, extraction).
//!
//! Known answers come from `test-vectors/` (RFC 5869, CAVP SP 800-108 counter,
//! feedback and double-pipeline modes, RFC 6070, RFC 7914 §11; sources in
//! `test-vectors/README.md` and `MANIFEST.tsv`), read with the vector tests' parser.
//! Other counter placements of feedback and double pipeline mode, and the simple
//! mechanisms, are checked against values this file computes itself (from the
//! module's plain HMAC, `C_Sign`, for the KDFs). Then:
//! provenance of derived keys, refusals with the spec's codes, and
//! `C_GetMechanismInfo`.

#[macro_use]
mod common;

#[allow(dead_code)]
#[path = "vectors/data.rs"]
mod data;

use std::ffi::c_void;
use std::ptr;

use common::*;

const CKA_FERRO_ORIGIN: CK_ATTRIBUTE_TYPE = 0xC648_0001;
const ORIGIN_DERIVED: CK_ULONG = 4;

/// A session secret key with a known value, usable for derivation and readable.
fn secret(h: &Hsm, s: CK_SESSION_HANDLE, kt: CK_KEY_TYPE, value: &[u8]) -> CK_OBJECT_HANDLE {
    secret_with(h, s, kt, value, false)
}

/// As [`secret`]; a `protected` key is sensitive and unextractable.
fn secret_with(h: &Hsm, s: CK_SESSION_HANDLE, kt: CK_KEY_TYPE, value: &[u8], protected: bool) -> CK_OBJECT_HANDLE {
    let t = Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, kt)
        .token(false)
        .bool(CKA_DERIVE, true)
        .bool(CKA_SIGN, true)
        .bool(CKA_SENSITIVE, protected)
        .bool(CKA_EXTRACTABLE, !protected)
        .bytes(CKA_VALUE, value);
    h.create(s, &t).unwrap_or_else(|rv| panic!("create key: {rv:#x}"))
}

/// A readable generic secret of `len` bytes, as a derivation template.
fn out(len: CK_ULONG) -> Tmpl {
    Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
        .ulong(CKA_VALUE_LEN, len)
        .token(false)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
}

/// A readable generic secret with no length.
fn out_any() -> Tmpl {
    Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
        .token(false)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
}

fn mechanism<T>(ty: CK_MECHANISM_TYPE, p: &mut T) -> CK_MECHANISM {
    CK_MECHANISM { mechanism: ty, pParameter: p as *mut T as *mut c_void, ulParameterLen: size_of::<T>() as CK_ULONG }
}

fn derive(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    base: CK_OBJECT_HANDLE,
    t: &Tmpl,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut a = t.attrs();
    let mut k = CK_INVALID_HANDLE;
    match call!(C_DeriveKey, s, m, base, a.as_mut_ptr(), a.len() as CK_ULONG, &mut k) {
        CKR_OK => Ok(k),
        rv => Err(rv),
    }
}

fn value(h: &Hsm, s: CK_SESSION_HANDLE, k: CK_OBJECT_HANDLE) -> Vec<u8> {
    h.get(s, k, CKA_VALUE).unwrap_or_else(|rv| panic!("CKA_VALUE: {rv:#x}"))
}

/// HMAC through the module (`C_Sign`), to compute expected KDF outputs.
fn hmac(s: CK_SESSION_HANDLE, mech: CK_MECHANISM_TYPE, key: CK_OBJECT_HANDLE, data: &[u8]) -> Vec<u8> {
    assert_eq!(call!(C_SignInit, s, &mut common::mech(mech), key), CKR_OK);
    let mut out = vec![0u8; 64];
    let mut n = out.len() as CK_ULONG;
    assert_eq!(call!(C_Sign, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n), CKR_OK);
    out.truncate(n as usize);
    out
}

// --- HKDF --------------------------------------------------------------------------

/// An owned `CK_HKDF_PARAMS`.
struct Hkdf {
    extract: bool,
    expand: bool,
    hash: CK_MECHANISM_TYPE,
    salt_type: CK_ULONG,
    salt: Vec<u8>,
    salt_key: CK_OBJECT_HANDLE,
    info: Vec<u8>,
}

impl Hkdf {
    fn new(hash: CK_MECHANISM_TYPE, salt: &[u8], info: &[u8]) -> Self {
        Self {
            extract: true,
            expand: true,
            hash,
            salt_type: CKF_HKDF_SALT_DATA,
            salt: salt.to_vec(),
            salt_key: CK_INVALID_HANDLE,
            info: info.to_vec(),
        }
    }
    fn raw(&mut self) -> CK_HKDF_PARAMS {
        let p = |v: &mut Vec<u8>| if v.is_empty() { ptr::null_mut() } else { v.as_mut_ptr() };
        CK_HKDF_PARAMS {
            bExtract: self.extract as CK_BBOOL,
            bExpand: self.expand as CK_BBOOL,
            prfHashMechanism: self.hash,
            ulSaltType: self.salt_type,
            pSalt: p(&mut self.salt),
            ulSaltLen: self.salt.len() as CK_ULONG,
            hSaltKey: self.salt_key,
            pInfo: p(&mut self.info),
            ulInfoLen: self.info.len() as CK_ULONG,
        }
    }
    fn derive(
        &mut self,
        ty: CK_MECHANISM_TYPE,
        s: CK_SESSION_HANDLE,
        base: CK_OBJECT_HANDLE,
        t: &Tmpl,
    ) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        let mut raw = self.raw();
        derive(s, &mut mechanism(ty, &mut raw), base, t)
    }
}

/// RFC 5869 appendix A, every case: extract and expand in one call; extract only
/// (the PRK), then expand only from it; and `CKM_HKDF_DATA`.
#[test]
fn hkdf_rfc5869_vectors() {
    let (h, s) = Hsm::ready();
    let mut cases = 0;
    for file in ["misc/rfc-5869-HKDF-SHA1.txt", "misc/rfc-5869-HKDF-SHA256.txt"] {
        // A case's values are split by blank lines in places: the record with OKM is
        // the case, the ones before it flow into it.
        for c in data::rsp(&data::read(file), &["OKM"]) {
            let hash = match c.val("Hash") {
                "SHA-1" => CKM_SHA_1,
                "SHA-256" => CKM_SHA256,
                other => panic!("hash {other}"),
            };
            let (ikm, salt, info, okm, prk) =
                (c.bytes("IKM"), c.bytes("salt"), c.bytes("info"), c.bytes("OKM"), c.bytes("PRK"));
            let id = format!("{file} {}", c.id());
            let base = secret(&h, s, CKK_GENERIC_SECRET, &ikm);
            let mut p = Hkdf::new(hash, &salt, &info);
            if salt.is_empty() {
                // "salt not provided": the null salt is the same as an empty one.
                p.salt_type = CKF_HKDF_SALT_NULL;
            }
            let k = p
                .derive(CKM_HKDF_DERIVE, s, base, &out(c.num("L") as CK_ULONG))
                .unwrap_or_else(|rv| panic!("{id}: {rv:#x}"));
            assert_eq!(hex(&value(&h, s, k)), hex(&okm), "{id}: OKM");

            p.expand = false;
            let k = p
                .derive(CKM_HKDF_DERIVE, s, base, &out_any().bool(CKA_DERIVE, true))
                .unwrap_or_else(|rv| panic!("{id} extract: {rv:#x}"));
            assert_eq!(hex(&value(&h, s, k)), hex(&prk), "{id}: PRK");

            let mut q = Hkdf::new(hash, &[], &info);
            q.extract = false;
            let k2 = q
                .derive(CKM_HKDF_DERIVE, s, k, &out(okm.len() as CK_ULONG))
                .unwrap_or_else(|rv| panic!("{id} expand: {rv:#x}"));
            assert_eq!(hex(&value(&h, s, k2)), hex(&okm), "{id}: expand only");

            p.expand = true;
            let t = Tmpl::new().class(CKO_DATA).token(false).ulong(CKA_VALUE_LEN, okm.len() as CK_ULONG);
            let d = p.derive(CKM_HKDF_DATA, s, base, &t).unwrap_or_else(|rv| panic!("{id} data: {rv:#x}"));
            assert_eq!(h.get_ulong(s, d, CKA_CLASS), CKO_DATA);
            assert_eq!(hex(&value(&h, s, d)), hex(&okm), "{id}: HKDF_DATA");
            cases += 1;
        }
    }
    assert_eq!(cases, 7, "RFC 5869 has 7 cases");
}

/// A salt given as a key gives what the same bytes as data give; `CKM_HKDF_KEY_GEN`
/// makes `CKK_HKDF` keys that HKDF takes as base keys.
#[test]
fn hkdf_salt_key_and_key_gen() {
    let (h, s) = Hsm::ready();
    let gen_t = Tmpl::new().token(false).ulong(CKA_VALUE_LEN, 32).bool(CKA_DERIVE, true).bool(CKA_SENSITIVE, false);
    let base = h.generate_key(s, CKM_HKDF_KEY_GEN, &gen_t).expect("CKM_HKDF_KEY_GEN");
    assert_eq!(h.get_ulong(s, base, CKA_KEY_TYPE), CKK_HKDF);
    assert_eq!(h.get_ulong(s, base, CKA_VALUE_LEN), 32);
    assert!(h.get_bool(s, base, CKA_LOCAL));
    assert_eq!(h.get_ulong(s, base, CKA_KEY_GEN_MECHANISM), CKM_HKDF_KEY_GEN);
    assert_eq!(rv(h.generate_key(s, CKM_HKDF_KEY_GEN, &Tmpl::new().token(false))), CKR_TEMPLATE_INCOMPLETE);

    let salt = [0x5a; 20];
    let salt_key = secret(&h, s, CKK_GENERIC_SECRET, &salt);
    let mut by_data = Hkdf::new(CKM_SHA384, &salt, b"info");
    let a = by_data.derive(CKM_HKDF_DERIVE, s, base, &out(40)).unwrap();
    let mut by_key = Hkdf::new(CKM_SHA384, &[], b"info");
    by_key.salt_type = CKF_HKDF_SALT_KEY;
    by_key.salt_key = salt_key;
    let b = by_key.derive(CKM_HKDF_DERIVE, s, base, &out(40)).unwrap();
    assert_eq!(value(&h, s, a), value(&h, s, b));
    by_key.salt_key = 0xdead;
    assert_eq!(rv(by_key.derive(CKM_HKDF_DERIVE, s, base, &out(40))), CKR_KEY_HANDLE_INVALID);
}

#[test]
fn hkdf_refusals() {
    let (h, s) = Hsm::ready();
    let base = secret(&h, s, CKK_GENERIC_SECRET, &[7; 32]);
    let p = || Hkdf::new(CKM_SHA256, b"salt", b"info");
    let d = |mut p: Hkdf, t: &Tmpl| rv(p.derive(CKM_HKDF_DERIVE, s, base, t));
    assert_eq!(d(p(), &out(32)), CKR_OK);
    let mut q = p();
    q.extract = false;
    q.expand = false;
    assert_eq!(d(q, &out(32)), CKR_MECHANISM_PARAM_INVALID, "neither extract nor expand");
    let mut q = p();
    q.hash = CKM_MD5;
    assert_eq!(d(q, &out(32)), CKR_MECHANISM_PARAM_INVALID, "hash");
    let mut q = p();
    q.salt_type = 8;
    assert_eq!(d(q, &out(32)), CKR_MECHANISM_PARAM_INVALID, "salt type");
    assert_eq!(d(p(), &out_any()), CKR_TEMPLATE_INCOMPLETE, "expand needs a length");
    assert_eq!(d(p(), &out(255 * 32 + 1)), CKR_TEMPLATE_INCONSISTENT, "too long");
    assert_eq!(d(p(), &out(255 * 32)), CKR_OK, "the longest");
    let mut q = p();
    q.expand = false;
    assert_eq!(d(q, &out(16)), CKR_TEMPLATE_INCONSISTENT, "extract only makes HashLen bytes");
    let mut q = p();
    q.extract = false;
    let short = secret(&h, s, CKK_GENERIC_SECRET, &[7; 16]);
    assert_eq!(rv(q.derive(CKM_HKDF_DERIVE, s, short, &out(16))), CKR_KEY_SIZE_RANGE, "PRK shorter than HashLen");
    // A bad pointer inside the parameter, and a parameter of the wrong size.
    let mut raw = p().raw();
    raw.pSalt = ptr::null_mut();
    assert_eq!(rv(derive(s, &mut mechanism(CKM_HKDF_DERIVE, &mut raw), base, &out(32))), CKR_MECHANISM_PARAM_INVALID);
    let mut short_param = [0u8; 8];
    assert_eq!(
        rv(derive(s, &mut mechanism(CKM_HKDF_DERIVE, &mut short_param), base, &out(32))),
        CKR_MECHANISM_PARAM_INVALID
    );
    assert_eq!(rv(derive(s, &mut common::mech(CKM_HKDF_DERIVE), base, &out(32))), CKR_MECHANISM_PARAM_INVALID);
    // Key types and usage.
    let aes = secret(&h, s, CKK_AES, &[1; 16]);
    assert_eq!(rv(p().derive(CKM_HKDF_DERIVE, s, aes, &out(32))), CKR_KEY_TYPE_INCONSISTENT);
    let no_derive = h
        .create(
            s,
            &Tmpl::new()
                .class(CKO_SECRET_KEY)
                .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
                .token(false)
                .bool(CKA_DERIVE, false)
                .bytes(CKA_VALUE, &[1; 32]),
        )
        .unwrap();
    assert_eq!(rv(p().derive(CKM_HKDF_DERIVE, s, no_derive, &out(32))), CKR_KEY_FUNCTION_NOT_PERMITTED);
    // HKDF_DATA makes data objects only.
    let t = Tmpl::new().class(CKO_SECRET_KEY).token(false).ulong(CKA_VALUE_LEN, 16);
    assert_eq!(rv(p().derive(CKM_HKDF_DATA, s, base, &t)), CKR_TEMPLATE_INCONSISTENT);
}

// --- SP 800-108 ----------------------------------------------------------------------

/// An owned `CK_PRF_DATA_PARAM`.
enum Data {
    Iter(Option<(bool, CK_ULONG)>),
    Counter(bool, CK_ULONG),
    Dkm(CK_ULONG, bool, CK_ULONG),
    Bytes(Vec<u8>),
}

/// Owned SP 800-108 parameters, with the C structs they point into.
struct Kbkdf {
    prf: CK_MECHANISM_TYPE,
    data: Vec<Data>,
    iv: Vec<u8>,
    additional: Vec<(Tmpl, Vec<CK_ATTRIBUTE>)>,
    handles: Vec<CK_OBJECT_HANDLE>,
    counters: Vec<CK_SP800_108_COUNTER_FORMAT>,
    dkms: Vec<CK_SP800_108_DKM_LENGTH_FORMAT>,
    raw: Vec<CK_PRF_DATA_PARAM>,
    keys: Vec<CK_DERIVED_KEY>,
}

impl Kbkdf {
    fn new(prf: CK_MECHANISM_TYPE, data: Vec<Data>) -> Self {
        Self {
            prf,
            data,
            iv: Vec::new(),
            additional: Vec::new(),
            handles: Vec::new(),
            counters: Vec::new(),
            dkms: Vec::new(),
            raw: Vec::new(),
            keys: Vec::new(),
        }
    }
    fn add_key(&mut self, t: Tmpl) {
        let a = t.attrs();
        self.additional.push((t, a));
    }
    /// Fills the C arrays; they point into `self`, which must not move or change.
    fn prepare(&mut self) {
        self.counters = self
            .data
            .iter()
            .map(|d| match d {
                Data::Iter(Some((le, w))) | Data::Counter(le, w) => {
                    CK_SP800_108_COUNTER_FORMAT { bLittleEndian: *le as CK_BBOOL, ulWidthInBits: *w }
                }
                _ => CK_SP800_108_COUNTER_FORMAT { bLittleEndian: 0, ulWidthInBits: 0 },
            })
            .collect();
        self.dkms = self
            .data
            .iter()
            .map(|d| match d {
                Data::Dkm(m, le, w) => CK_SP800_108_DKM_LENGTH_FORMAT {
                    dkmLengthMethod: *m,
                    bLittleEndian: *le as CK_BBOOL,
                    ulWidthInBits: *w,
                },
                _ => CK_SP800_108_DKM_LENGTH_FORMAT { dkmLengthMethod: 0, bLittleEndian: 0, ulWidthInBits: 0 },
            })
            .collect();
        let mut raw = Vec::new();
        for (i, d) in self.data.iter_mut().enumerate() {
            let (type_, p, l): (CK_ULONG, *mut c_void, usize) = match d {
                Data::Iter(None) => (CK_SP800_108_ITERATION_VARIABLE, ptr::null_mut(), 0),
                Data::Iter(Some(_)) => (
                    CK_SP800_108_ITERATION_VARIABLE,
                    &mut self.counters[i] as *mut _ as *mut c_void,
                    size_of::<CK_SP800_108_COUNTER_FORMAT>(),
                ),
                Data::Counter(..) => (
                    CK_SP800_108_COUNTER,
                    &mut self.counters[i] as *mut _ as *mut c_void,
                    size_of::<CK_SP800_108_COUNTER_FORMAT>(),
                ),
                Data::Dkm(..) => (
                    CK_SP800_108_DKM_LENGTH,
                    &mut self.dkms[i] as *mut _ as *mut c_void,
                    size_of::<CK_SP800_108_DKM_LENGTH_FORMAT>(),
                ),
                Data::Bytes(b) => (CK_SP800_108_BYTE_ARRAY, b.as_mut_ptr() as *mut c_void, b.len()),
            };
            raw.push(CK_PRF_DATA_PARAM { type_, pValue: p, ulValueLen: l as CK_ULONG });
        }
        self.raw = raw;
        self.handles = vec![0x5555; self.additional.len()];
        let hp = self.handles.as_mut_ptr();
        self.keys = self
            .additional
            .iter_mut()
            .enumerate()
            .map(|(i, (_, a))| CK_DERIVED_KEY {
                pTemplate: a.as_mut_ptr(),
                ulAttributeCount: a.len() as CK_ULONG,
                // SAFETY: `i` is within `handles`.
                phKey: unsafe { hp.add(i) },
            })
            .collect();
    }
    fn keys_ptr(&mut self) -> *mut CK_DERIVED_KEY {
        if self.keys.is_empty() { ptr::null_mut() } else { self.keys.as_mut_ptr() }
    }
    fn derive(
        &mut self,
        ty: CK_MECHANISM_TYPE,
        s: CK_SESSION_HANDLE,
        base: CK_OBJECT_HANDLE,
        t: &Tmpl,
    ) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        self.prepare();
        if ty == CKM_SP800_108_FEEDBACK_KDF {
            let mut p = CK_SP800_108_FEEDBACK_KDF_PARAMS {
                prfType: self.prf,
                ulNumberOfDataParams: self.raw.len() as CK_ULONG,
                pDataParams: self.raw.as_mut_ptr(),
                ulIVLen: self.iv.len() as CK_ULONG,
                pIV: if self.iv.is_empty() { ptr::null_mut() } else { self.iv.as_mut_ptr() },
                ulAdditionalDerivedKeys: self.keys.len() as CK_ULONG,
                pAdditionalDerivedKeys: self.keys_ptr(),
            };
            derive(s, &mut mechanism(ty, &mut p), base, t)
        } else {
            let mut p = CK_SP800_108_KDF_PARAMS {
                prfType: self.prf,
                ulNumberOfDataParams: self.raw.len() as CK_ULONG,
                pDataParams: self.raw.as_mut_ptr(),
                ulAdditionalDerivedKeys: self.keys.len() as CK_ULONG,
                pAdditionalDerivedKeys: self.keys_ptr(),
            };
            derive(s, &mut mechanism(ty, &mut p), base, t)
        }
    }
}

/// The CAVP SP 800-108 counter-mode subset: HMAC-SHA-1 to -512 and AES-CMAC PRFs,
/// the counter before, after and in the middle of the fixed data, 8 to 32 bits wide.
#[test]
fn sp800_108_counter_cavp() {
    let (h, s) = Hsm::ready();
    let file = "cavp/kbkdf/KBKDF-CTR.txt";
    let mut passed = 0;
    let mut failed = Vec::new();
    for c in data::rsp(&data::read(file), &["COUNT"]) {
        let (prf, kt) = match c.val("PRF") {
            "HMAC_SHA1" => (CKM_SHA_1_HMAC, CKK_GENERIC_SECRET),
            "HMAC_SHA224" => (CKM_SHA224_HMAC, CKK_GENERIC_SECRET),
            "HMAC_SHA256" => (CKM_SHA256_HMAC, CKK_GENERIC_SECRET),
            "HMAC_SHA384" => (CKM_SHA384_HMAC, CKK_GENERIC_SECRET),
            "HMAC_SHA512" => (CKM_SHA512_HMAC, CKK_GENERIC_SECRET),
            "CMAC_AES128" | "CMAC_AES192" | "CMAC_AES256" => (CKM_AES_CMAC, CKK_AES),
            other => panic!("{}: PRF {other}", c.id()),
        };
        let r: CK_ULONG = c.val("RLEN").trim_end_matches("_BITS").parse().unwrap();
        let iter = || Data::Iter(Some((false, r)));
        let data = match c.val("CTRLOCATION") {
            "BEFORE_FIXED" => vec![iter(), Data::Bytes(c.bytes("FixedInputData"))],
            "AFTER_FIXED" => vec![Data::Bytes(c.bytes("FixedInputData")), iter()],
            "MIDDLE_FIXED" => {
                vec![Data::Bytes(c.bytes("DataBeforeCtrData")), iter(), Data::Bytes(c.bytes("DataAfterCtrData"))]
            }
            other => panic!("{}: location {other}", c.id()),
        };
        let l = c.num("L");
        assert_eq!(l % 8, 0, "{}: whole bytes", c.id());
        let base = secret(&h, s, kt, &c.bytes("KI"));
        let mut p = Kbkdf::new(prf, data);
        match p.derive(CKM_SP800_108_COUNTER_KDF, s, base, &out((l / 8) as CK_ULONG)) {
            Ok(k) if value(&h, s, k) == c.bytes("KO") => passed += 1,
            Ok(k) => failed.push(format!("{}: got {}, want {}", c.id(), hex(&value(&h, s, k)), c.val("KO"))),
            Err(rv) => failed.push(format!("{}: {rv:#x}", c.id())),
        }
        h.destroy(s, base);
    }
    println!("kdf vectors {file}: {passed} passed, {} failed", failed.len());
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert_eq!(passed, 192);
}

/// NIST CAVP feedback and double-pipeline KBKDF cases (AES-128-CMAC, the counter in
/// 8 bits before the iteration variable), a subset kept in test-vectors/: feedback
/// K(i) = PRF(i || K(i-1) || fixed) from K(0) = IV; double pipeline A(i) =
/// PRF(A(i-1)) from A(0) = fixed, K(i) = PRF(i || A(i) || fixed).
#[test]
fn sp800_108_feedback_and_double_pipeline_cavp() {
    let (h, s) = Hsm::ready();
    let mut passed = 0;
    let mut failed = Vec::new();
    for (file, mech) in [
        ("cavp/kbkdf/KBKDF-FB.txt", CKM_SP800_108_FEEDBACK_KDF),
        ("cavp/kbkdf/KBKDF-DPL.txt", CKM_SP800_108_DOUBLE_PIPELINE_KDF),
    ] {
        for c in data::rsp(&data::read(file), &["COUNT"]) {
            assert_eq!((c.val("PRF"), c.val("CTRLOCATION"), c.val("RLEN")), ("CMAC_AES128", "BEFORE_ITER", "8_BITS"));
            let base = secret(&h, s, CKK_AES, &c.bytes("KI"));
            let data = vec![Data::Counter(false, 8), Data::Iter(None), Data::Bytes(c.bytes("FixedInputData"))];
            let mut p = Kbkdf::new(CKM_AES_CMAC, data);
            if mech == CKM_SP800_108_FEEDBACK_KDF {
                p.iv = c.bytes("IV");
            }
            let l = c.num("L");
            match p.derive(mech, s, base, &out((l / 8) as CK_ULONG)) {
                Ok(k) if value(&h, s, k) == c.bytes("KO") => passed += 1,
                Ok(k) => failed.push(format!("{file} {}: got {}, want {}", c.id(), hex(&value(&h, s, k)), c.val("KO"))),
                Err(rv) => failed.push(format!("{file} {}: {rv:#x}", c.id())),
            }
            h.destroy(s, base);
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert_eq!(passed, 16);
}

fn be16(v: u16) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// Counter mode with an additional key and the DKM length, both methods; the
/// expected values are computed here from the module's HMAC. The additional key
/// starts on a fresh segment, and its handle is written back.
#[test]
fn sp800_108_counter_additional_keys_and_dkm() {
    let (h, s) = Hsm::ready();
    let ki = [0x42; 32];
    let base = secret(&h, s, CKK_GENERIC_SECRET, &ki);
    let label = b"label".to_vec();
    for (method, dkm) in [(CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, 512u16), (CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS, 768)]
    {
        let mut p = Kbkdf::new(
            CKM_SHA256_HMAC,
            vec![Data::Iter(Some((false, 16))), Data::Bytes(label.clone()), Data::Dkm(method, false, 16)],
        );
        p.add_key(out(16));
        let k = p.derive(CKM_SP800_108_COUNTER_KDF, s, base, &out(48)).expect("derive");
        let extra = p.handles[0];
        assert_ne!(extra, 0x5555, "the additional key's handle is written back");
        assert_ne!(extra, CK_INVALID_HANDLE);
        let seg = |i: u16| hmac(s, CKM_SHA256_HMAC, base, &[be16(i), label.clone(), be16(dkm)].concat());
        let want: Vec<u8> = [seg(1), seg(2)].concat()[..48].to_vec();
        assert_eq!(hex(&value(&h, s, k)), hex(&want), "first key");
        assert_eq!(hex(&value(&h, s, extra)), hex(&seg(3)[..16]), "additional key: a fresh segment");
        assert_eq!(h.get_ulong(s, extra, CKA_FERRO_ORIGIN), ORIGIN_DERIVED);
    }
}

/// Feedback mode (with an IV and an optional counter, little-endian) and double
/// pipeline mode, against values computed here.
#[test]
fn sp800_108_feedback_and_double_pipeline() {
    let (h, s) = Hsm::ready();
    let base = secret(&h, s, CKK_GENERIC_SECRET, &[0x17; 24]);
    let (label, iv) = (b"fixed".to_vec(), vec![0xa0; 32]);
    // Feedback: K(i) = PRF(K(i-1) || i (8 bits) || label), K(0) = IV.
    let mut p =
        Kbkdf::new(CKM_SHA256_HMAC, vec![Data::Iter(None), Data::Counter(true, 16), Data::Bytes(label.clone())]);
    p.iv = iv.clone();
    let k = p.derive(CKM_SP800_108_FEEDBACK_KDF, s, base, &out(40)).expect("feedback");
    let k1 = hmac(s, CKM_SHA256_HMAC, base, &[iv.clone(), vec![1, 0], label.clone()].concat());
    let k2 = hmac(s, CKM_SHA256_HMAC, base, &[k1.clone(), vec![2, 0], label.clone()].concat());
    assert_eq!(hex(&value(&h, s, k)), hex(&[k1, k2].concat()[..40]), "feedback");
    // Double pipeline: A(0) = label, A(i) = PRF(A(i-1)), K(i) = PRF(A(i) || label).
    let mut p = Kbkdf::new(CKM_SHA384_HMAC, vec![Data::Iter(None), Data::Bytes(label.clone())]);
    let k = p.derive(CKM_SP800_108_DOUBLE_PIPELINE_KDF, s, base, &out(60)).expect("double pipeline");
    let a1 = hmac(s, CKM_SHA384_HMAC, base, &label);
    let a2 = hmac(s, CKM_SHA384_HMAC, base, &a1);
    let k1 = hmac(s, CKM_SHA384_HMAC, base, &[a1, label.clone()].concat());
    let k2 = hmac(s, CKM_SHA384_HMAC, base, &[a2, label.clone()].concat());
    assert_eq!(hex(&value(&h, s, k)), hex(&[k1, k2].concat()[..60]), "double pipeline");
}

#[test]
fn sp800_108_refusals() {
    let (h, s) = Hsm::ready();
    let base = secret(&h, s, CKK_GENERIC_SECRET, &[1; 32]);
    let ok = || vec![Data::Iter(Some((false, 8))), Data::Bytes(b"x".to_vec())];
    let d = |prf, data: Vec<Data>, t: &Tmpl| rv(Kbkdf::new(prf, data).derive(CKM_SP800_108_COUNTER_KDF, s, base, t));
    assert_eq!(d(CKM_SHA256_HMAC, ok(), &out(32)), CKR_OK);
    assert_eq!(
        d(CKM_SHA256_HMAC, vec![Data::Bytes(b"x".to_vec())], &out(32)),
        CKR_MECHANISM_PARAM_INVALID,
        "no iteration"
    );
    let two = vec![Data::Iter(Some((false, 8))), Data::Iter(Some((false, 8)))];
    assert_eq!(d(CKM_SHA256_HMAC, two, &out(32)), CKR_MECHANISM_PARAM_INVALID, "two iteration variables");
    let ctr = vec![Data::Iter(Some((false, 8))), Data::Counter(false, 8)];
    assert_eq!(d(CKM_SHA256_HMAC, ctr, &out(32)), CKR_MECHANISM_PARAM_INVALID, "a counter in counter mode");
    assert_eq!(d(CKM_SHA256_HMAC, vec![Data::Iter(Some((false, 12)))], &out(32)), CKR_MECHANISM_PARAM_INVALID, "width");
    assert_eq!(d(CKM_SHA256_HMAC, vec![Data::Iter(None)], &out(32)), CKR_MECHANISM_PARAM_INVALID, "no format");
    assert_eq!(
        d(CKM_SHA256_HMAC, vec![Data::Iter(Some((false, 8))), Data::Bytes(vec![])], &out(32)),
        CKR_MECHANISM_PARAM_INVALID
    );
    assert_eq!(d(CKM_MD5_HMAC, ok(), &out(32)), CKR_MECHANISM_PARAM_INVALID, "PRF");
    assert_eq!(d(CKM_SHA256_HMAC, ok(), &out_any()), CKR_TEMPLATE_INCOMPLETE, "no length");
    // An 8-bit counter gives at most 255 segments.
    assert_eq!(d(CKM_SHA_1_HMAC, ok(), &out(255 * 20 + 1)), CKR_TEMPLATE_INCONSISTENT, "counter overflow");
    assert_eq!(d(CKM_AES_CMAC, ok(), &out(16)), CKR_KEY_TYPE_INCONSISTENT, "CMAC needs an AES key");
    let aes = secret(&h, s, CKK_AES, &[1; 16]);
    assert_eq!(
        rv(Kbkdf::new(CKM_SHA256_HMAC, ok()).derive(CKM_SP800_108_COUNTER_KDF, s, aes, &out(16))),
        CKR_KEY_TYPE_INCONSISTENT
    );
    let fb = vec![Data::Iter(Some((false, 8)))];
    assert_eq!(
        rv(Kbkdf::new(CKM_SHA256_HMAC, fb).derive(CKM_SP800_108_FEEDBACK_KDF, s, base, &out(16))),
        CKR_MECHANISM_PARAM_INVALID
    );
    // A null array with a count.
    let mut p = CK_SP800_108_KDF_PARAMS {
        prfType: CKM_SHA256_HMAC,
        ulNumberOfDataParams: 2,
        pDataParams: ptr::null_mut(),
        ulAdditionalDerivedKeys: 0,
        pAdditionalDerivedKeys: ptr::null_mut(),
    };
    assert_eq!(
        rv(derive(s, &mut mechanism(CKM_SP800_108_COUNTER_KDF, &mut p), base, &out(16))),
        CKR_MECHANISM_PARAM_INVALID
    );
    // An additional key with a bad template: nothing is made, its handle is invalid.
    let mut p = Kbkdf::new(CKM_SHA256_HMAC, ok());
    p.add_key(out_any());
    assert_eq!(rv(p.derive(CKM_SP800_108_COUNTER_KDF, s, base, &out(16))), CKR_TEMPLATE_INCOMPLETE);
    assert_eq!(p.handles[0], CK_INVALID_HANDLE, "phKey of a failed derivation");
    // An additional key without a phKey.
    let mut p = Kbkdf::new(CKM_SHA256_HMAC, ok());
    p.add_key(out(16));
    p.prepare();
    p.keys[0].phKey = ptr::null_mut();
    let mut raw = CK_SP800_108_KDF_PARAMS {
        prfType: CKM_SHA256_HMAC,
        ulNumberOfDataParams: p.raw.len() as CK_ULONG,
        pDataParams: p.raw.as_mut_ptr(),
        ulAdditionalDerivedKeys: 1,
        pAdditionalDerivedKeys: p.keys.as_mut_ptr(),
    };
    assert_eq!(
        rv(derive(s, &mut mechanism(CKM_SP800_108_COUNTER_KDF, &mut raw), base, &out(16))),
        CKR_MECHANISM_PARAM_INVALID
    );
}

// --- PBKDF2 --------------------------------------------------------------------------

fn pbkdf2(
    s: CK_SESSION_HANDLE,
    prf: CK_ULONG,
    password: &[u8],
    salt: &[u8],
    iterations: CK_ULONG,
    t: &Tmpl,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut p = CK_PKCS5_PBKD2_PARAMS2 {
        saltSource: CKZ_SALT_SPECIFIED,
        pSaltSourceData: salt.as_ptr() as *mut c_void,
        ulSaltSourceDataLen: salt.len() as CK_ULONG,
        iterations,
        prf,
        pPrfData: ptr::null_mut(),
        ulPrfDataLen: 0,
        pPassword: password.as_ptr() as *mut _,
        ulPasswordLen: password.len() as CK_ULONG,
    };
    generate_with(s, &mut mechanism(CKM_PKCS5_PBKD2, &mut p), t)
}

fn generate_with(s: CK_SESSION_HANDLE, m: &mut CK_MECHANISM, t: &Tmpl) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut a = t.attrs();
    let mut k = 0;
    match call!(C_GenerateKey, s, m, a.as_mut_ptr(), a.len() as CK_ULONG, &mut k) {
        CKR_OK => Ok(k),
        rv => Err(rv),
    }
}

fn pbkdf2_template(len: CK_ULONG) -> Tmpl {
    Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
        .ulong(CKA_VALUE_LEN, len)
        .token(false)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
}

/// RFC 6070 (HMAC-SHA-1) and RFC 7914 §11 (HMAC-SHA-256).
#[test]
fn pbkdf2_vectors() {
    let (h, s) = Hsm::ready();
    let mut n = 0;
    for (file, prf) in [
        ("misc/rfc-6070-PBKDF2-SHA1.txt", CKP_PKCS5_PBKD2_HMAC_SHA1),
        ("misc/rfc7914-pbkdf2-sha256.txt", CKP_PKCS5_PBKD2_HMAC_SHA256),
    ] {
        for c in data::rsp(&data::read(file), &["COUNT"]) {
            // RFC 6070 writes its NUL as `\0`.
            let password = c.val("PASSWORD").replace("\\0", "\0");
            let salt = c.val("SALT").replace("\\0", "\0");
            let t = pbkdf2_template(c.num("LENGTH") as CK_ULONG);
            let k = pbkdf2(s, prf, password.as_bytes(), salt.as_bytes(), c.num("ITERATIONS") as CK_ULONG, &t)
                .unwrap_or_else(|rv| panic!("{file} {}: {rv:#x}", c.id()));
            assert_eq!(hex(&value(&h, s, k)), c.val("DERIVED_KEY"), "{file} {}", c.id());
            assert!(h.get_bool(s, k, CKA_LOCAL), "a generated key");
            assert_eq!(h.get_ulong(s, k, CKA_KEY_GEN_MECHANISM), CKM_PKCS5_PBKD2);
            n += 1;
        }
    }
    assert_eq!(n, 7);
    // An AES key from a password: the template names the type.
    let t = Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .ulong(CKA_VALUE_LEN, 32)
        .token(false)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true);
    let k = pbkdf2(s, CKP_PKCS5_PBKD2_HMAC_SHA256, b"passwd", b"salt", 1, &t).expect("AES key");
    assert_eq!(h.get_ulong(s, k, CKA_KEY_TYPE), CKK_AES);
    assert_eq!(hex(&value(&h, s, k)), "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
    let t = Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_AES).ulong(CKA_VALUE_LEN, 20).token(false);
    assert_eq!(rv(pbkdf2(s, CKP_PKCS5_PBKD2_HMAC_SHA256, b"p", b"s", 1, &t)), CKR_ATTRIBUTE_VALUE_INVALID);
}

#[test]
fn pbkdf2_refusals() {
    let (_h, s) = Hsm::ready();
    let t = pbkdf2_template(32);
    let go = |prf, it, t: &Tmpl| rv(pbkdf2(s, prf, b"pw", b"salt", it, t));
    assert_eq!(go(CKP_PKCS5_PBKD2_HMAC_SHA512, 2, &t), CKR_OK);
    assert_eq!(go(CKP_PKCS5_PBKD2_HMAC_GOSTR3411, 2, &t), CKR_MECHANISM_PARAM_INVALID, "PRF");
    assert_eq!(go(CKP_PKCS5_PBKD2_HMAC_SHA256, 0, &t), CKR_MECHANISM_PARAM_INVALID, "iterations");
    let no_len = Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET).token(false);
    assert_eq!(go(CKP_PKCS5_PBKD2_HMAC_SHA256, 2, &no_len), CKR_TEMPLATE_INCOMPLETE, "no length");
    let pw = b"pw".to_vec();
    let mut len: CK_ULONG = 2;
    let mut p = CK_PKCS5_PBKD2_PARAMS2 {
        saltSource: 0,
        pSaltSourceData: ptr::null_mut(),
        ulSaltSourceDataLen: 0,
        iterations: 2,
        prf: CKP_PKCS5_PBKD2_HMAC_SHA256,
        pPrfData: ptr::null_mut(),
        ulPrfDataLen: 0,
        pPassword: pw.as_ptr() as *mut _,
        ulPasswordLen: 2,
    };
    assert_eq!(
        rv(generate_with(s, &mut mechanism(CKM_PKCS5_PBKD2, &mut p), &t)),
        CKR_MECHANISM_PARAM_INVALID,
        "salt source"
    );
    // A 2.40 CK_PKCS5_PBKD2_PARAMS: ulPasswordLen is a pointer. Same size, so it is
    // read as PARAMS2 and its "length" (an address) refused.
    let mut old = CK_PKCS5_PBKD2_PARAMS {
        saltSource: CKZ_SALT_SPECIFIED,
        pSaltSourceData: b"salt".as_ptr() as *mut c_void,
        ulSaltSourceDataLen: 4,
        iterations: 2,
        prf: CKP_PKCS5_PBKD2_HMAC_SHA256,
        pPrfData: ptr::null_mut(),
        ulPrfDataLen: 0,
        pPassword: pw.as_ptr() as *mut _,
        ulPasswordLen: &mut len,
    };
    assert_eq!(
        rv(generate_with(s, &mut mechanism(CKM_PKCS5_PBKD2, &mut old), &t)),
        CKR_MECHANISM_PARAM_INVALID,
        "2.40 struct"
    );
    let mut short = [0u8; 16];
    assert_eq!(
        rv(generate_with(s, &mut mechanism(CKM_PKCS5_PBKD2, &mut short), &t)),
        CKR_MECHANISM_PARAM_INVALID,
        "size"
    );
}

// --- the simple mechanisms ---------------------------------------------------------

/// An owned `CK_KEY_DERIVATION_STRING_DATA` mechanism.
fn string_data(
    ty: CK_MECHANISM_TYPE,
    s: CK_SESSION_HANDLE,
    base: CK_OBJECT_HANDLE,
    data: &[u8],
    t: &Tmpl,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut p = CK_KEY_DERIVATION_STRING_DATA { pData: data.as_ptr() as *mut _, ulLen: data.len() as CK_ULONG };
    derive(s, &mut mechanism(ty, &mut p), base, t)
}

#[test]
fn concatenate_xor_and_extract() {
    let (h, s) = Hsm::ready();
    let a = [0x01, 0x23, 0x45, 0x67];
    let b = [0x89, 0xab, 0xcd, 0xef];
    let base = secret(&h, s, CKK_GENERIC_SECRET, &a);
    let other = secret(&h, s, CKK_GENERIC_SECRET, &b);
    // The spec's examples.
    let mut hk = other;
    let k = derive(s, &mut mechanism(CKM_CONCATENATE_BASE_AND_KEY, &mut hk), base, &out_any()).unwrap();
    assert_eq!(hex(&value(&h, s, k)), "0123456789abcdef");
    assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), 8);
    let k = string_data(CKM_CONCATENATE_BASE_AND_DATA, s, base, &b, &out_any()).unwrap();
    assert_eq!(hex(&value(&h, s, k)), "0123456789abcdef");
    let k = string_data(CKM_CONCATENATE_DATA_AND_BASE, s, base, &b, &out_any()).unwrap();
    assert_eq!(hex(&value(&h, s, k)), "89abcdef01234567");
    let k = string_data(CKM_XOR_BASE_AND_DATA, s, base, &b, &out_any()).unwrap();
    assert_eq!(hex(&value(&h, s, k)), "88888888");
    let k = string_data(CKM_XOR_BASE_AND_DATA, s, base, &b[..2], &out_any()).unwrap();
    assert_eq!(hex(&value(&h, s, k)), "8888", "the shorter of key and data");
    // A length takes the leading bytes; too long is inconsistent.
    let k = string_data(CKM_CONCATENATE_BASE_AND_DATA, s, base, &b, &out(5)).unwrap();
    assert_eq!(hex(&value(&h, s, k)), "0123456789");
    assert_eq!(rv(string_data(CKM_CONCATENATE_BASE_AND_DATA, s, base, &b, &out(9))), CKR_TEMPLATE_INCONSISTENT);
    // An AES key from two halves.
    let half1 = secret(&h, s, CKK_GENERIC_SECRET, &[0x11; 16]);
    let half2 = secret(&h, s, CKK_AES, &[0x22; 16]);
    let mut hk = half2;
    let aes_t = Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .token(false)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
        .bool(CKA_ENCRYPT, true);
    let k = derive(s, &mut mechanism(CKM_CONCATENATE_BASE_AND_KEY, &mut hk), half1, &aes_t).unwrap();
    assert_eq!(value(&h, s, k), [[0x11; 16], [0x22; 16]].concat());
    assert_eq!(h.get_ulong(s, k, CKA_KEY_TYPE), CKK_AES);
    let mut bad = 0xdead as CK_OBJECT_HANDLE;
    assert_eq!(
        rv(derive(s, &mut mechanism(CKM_CONCATENATE_BASE_AND_KEY, &mut bad), base, &out_any())),
        CKR_KEY_HANDLE_INVALID
    );
    // Extraction: the spec's example, 0x329F84A9 from bit 21 is 0x9526.
    let e = secret(&h, s, CKK_GENERIC_SECRET, &[0x32, 0x9f, 0x84, 0xa9]);
    let mut bit: CK_EXTRACT_PARAMS = 21;
    let k = derive(s, &mut mechanism(CKM_EXTRACT_KEY_FROM_KEY, &mut bit), e, &out(2)).unwrap();
    assert_eq!(hex(&value(&h, s, k)), "9526");
    assert_eq!(
        rv(derive(s, &mut mechanism(CKM_EXTRACT_KEY_FROM_KEY, &mut bit), e, &out_any())),
        CKR_TEMPLATE_INCOMPLETE
    );
    assert_eq!(
        rv(derive(s, &mut mechanism(CKM_EXTRACT_KEY_FROM_KEY, &mut bit), e, &out(5))),
        CKR_TEMPLATE_INCONSISTENT
    );
    let mut far: CK_EXTRACT_PARAMS = 32;
    assert_eq!(
        rv(derive(s, &mut mechanism(CKM_EXTRACT_KEY_FROM_KEY, &mut far), e, &out(2))),
        CKR_MECHANISM_PARAM_INVALID
    );
    // Parameters of the wrong size.
    let mut short = [0u8; 4];
    assert_eq!(
        rv(derive(s, &mut mechanism(CKM_CONCATENATE_BASE_AND_DATA, &mut short), base, &out_any())),
        CKR_MECHANISM_PARAM_INVALID
    );
    let mut p = CK_KEY_DERIVATION_STRING_DATA { pData: ptr::null_mut(), ulLen: 4 };
    assert_eq!(
        rv(derive(s, &mut mechanism(CKM_XOR_BASE_AND_DATA, &mut p), base, &out_any())),
        CKR_MECHANISM_PARAM_INVALID
    );
}

/// The sensitivity rules of the simple mechanisms: a key derived from a sensitive
/// key is sensitive, from an unextractable one unextractable.
#[test]
fn simple_derivations_keep_keys_protected() {
    let (h, s) = Hsm::ready();
    let sensitive = secret_with(&h, s, CKK_GENERIC_SECRET, &[9; 16], true);
    let t = Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET).token(false);
    let k = string_data(CKM_CONCATENATE_BASE_AND_DATA, s, sensitive, b"xx", &t).unwrap();
    assert!(h.get_bool(s, k, CKA_SENSITIVE));
    assert!(!h.get_bool(s, k, CKA_EXTRACTABLE));
    assert!(!h.get_bool(s, k, CKA_ALWAYS_SENSITIVE), "the base key was imported");
    assert_eq!(
        rv(string_data(CKM_CONCATENATE_BASE_AND_DATA, s, sensitive, b"xx", &out_any())),
        CKR_TEMPLATE_INCONSISTENT
    );
    let mut bit: CK_EXTRACT_PARAMS = 3;
    assert_eq!(
        rv(derive(s, &mut mechanism(CKM_EXTRACT_KEY_FROM_KEY, &mut bit), sensitive, &out(4))),
        CKR_TEMPLATE_INCONSISTENT
    );
}

// --- provenance and mechanism info ---------------------------------------------------

/// A key derived from a generated, sensitive, unextractable key keeps
/// ALWAYS_SENSITIVE / NEVER_EXTRACTABLE when it is itself sensitive and
/// unextractable; it is never local; its origin is "derived"; its type and length
/// come from the template.
#[test]
fn provenance_of_derived_keys() {
    let (h, s) = Hsm::ready();
    let gen_t = Tmpl::new()
        .token(false)
        .ulong(CKA_VALUE_LEN, 32)
        .bool(CKA_DERIVE, true)
        .bool(CKA_SENSITIVE, true)
        .bool(CKA_EXTRACTABLE, false);
    let base = h.generate_key(s, CKM_GENERIC_SECRET_KEY_GEN, &gen_t).unwrap();
    assert!(h.get_bool(s, base, CKA_ALWAYS_SENSITIVE) && h.get_bool(s, base, CKA_NEVER_EXTRACTABLE));
    let protected = Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .ulong(CKA_VALUE_LEN, 24)
        .token(false)
        .bool(CKA_SENSITIVE, true)
        .bool(CKA_EXTRACTABLE, false);
    let k = Hkdf::new(CKM_SHA256, b"s", b"i").derive(CKM_HKDF_DERIVE, s, base, &protected).unwrap();
    assert_eq!(h.get_ulong(s, k, CKA_KEY_TYPE), CKK_AES);
    assert_eq!(h.get_ulong(s, k, CKA_VALUE_LEN), 24);
    assert!(h.get_bool(s, k, CKA_ALWAYS_SENSITIVE));
    assert!(h.get_bool(s, k, CKA_NEVER_EXTRACTABLE));
    assert!(!h.get_bool(s, k, CKA_LOCAL));
    assert_eq!(h.get_ulong(s, k, CKA_KEY_GEN_MECHANISM), CK_UNAVAILABLE_INFORMATION);
    assert_eq!(h.get_ulong(s, k, CKA_FERRO_ORIGIN), ORIGIN_DERIVED);
    assert_eq!(rv(h.get(s, k, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE);
    // The same base, a key made extractable: never NEVER_EXTRACTABLE again.
    let open = Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
        .ulong(CKA_VALUE_LEN, 16)
        .token(false)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true);
    let k = Hkdf::new(CKM_SHA256, b"s", b"i").derive(CKM_HKDF_DERIVE, s, base, &open).unwrap();
    assert!(!h.get_bool(s, k, CKA_ALWAYS_SENSITIVE));
    assert!(!h.get_bool(s, k, CKA_NEVER_EXTRACTABLE));
    // SP 800-108: SENSITIVE and EXTRACTABLE default to the base key's.
    let bare =
        Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET).ulong(CKA_VALUE_LEN, 16).token(false);
    let mut p = Kbkdf::new(CKM_SHA256_HMAC, vec![Data::Iter(Some((false, 32)))]);
    let k = p.derive(CKM_SP800_108_COUNTER_KDF, s, base, &bare).unwrap();
    assert!(h.get_bool(s, k, CKA_SENSITIVE) && !h.get_bool(s, k, CKA_EXTRACTABLE));
    assert!(h.get_bool(s, k, CKA_ALWAYS_SENSITIVE) && h.get_bool(s, k, CKA_NEVER_EXTRACTABLE));
    // Two keys: ALWAYS_SENSITIVE only when both had it.
    let imported = secret_with(&h, s, CKK_GENERIC_SECRET, &[3; 16], true);
    let mut hk = imported;
    let k = derive(s, &mut mechanism(CKM_CONCATENATE_BASE_AND_KEY, &mut hk), base, &bare).unwrap();
    assert!(h.get_bool(s, k, CKA_SENSITIVE));
    assert!(!h.get_bool(s, k, CKA_ALWAYS_SENSITIVE), "the other key was imported");
    assert!(!h.get_bool(s, k, CKA_NEVER_EXTRACTABLE));
}

/// `C_GetMechanismInfo`: derivation mechanisms say CKF_DERIVE and nothing else,
/// the generators CKF_GENERATE; all are listed.
#[test]
fn mechanism_info() {
    let (_h, _s) = Hsm::ready();
    let mut n = 0;
    assert_eq!(call!(C_GetMechanismList, 0, ptr::null_mut(), &mut n), CKR_OK);
    let mut list = vec![0; n as usize];
    assert_eq!(call!(C_GetMechanismList, 0, list.as_mut_ptr(), &mut n), CKR_OK);
    for (m, flags) in [
        (CKM_HKDF_DERIVE, CKF_DERIVE),
        (CKM_HKDF_DATA, CKF_DERIVE),
        (CKM_HKDF_KEY_GEN, CKF_GENERATE),
        (CKM_SP800_108_COUNTER_KDF, CKF_DERIVE),
        (CKM_SP800_108_FEEDBACK_KDF, CKF_DERIVE),
        (CKM_SP800_108_DOUBLE_PIPELINE_KDF, CKF_DERIVE),
        (CKM_PKCS5_PBKD2, CKF_GENERATE),
        (CKM_CONCATENATE_BASE_AND_KEY, CKF_DERIVE),
        (CKM_CONCATENATE_BASE_AND_DATA, CKF_DERIVE),
        (CKM_CONCATENATE_DATA_AND_BASE, CKF_DERIVE),
        (CKM_XOR_BASE_AND_DATA, CKF_DERIVE),
        (CKM_EXTRACT_KEY_FROM_KEY, CKF_DERIVE),
    ] {
        assert!(list.contains(&m), "{m:#x} listed");
        let mut info = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
        assert_eq!(call!(C_GetMechanismInfo, 0, m, &mut info), CKR_OK);
        assert_eq!(info.flags, flags, "{m:#x}");
        assert!(info.ulMinKeySize >= 1 && info.ulMinKeySize <= info.ulMaxKeySize, "{m:#x}");
        if [CKM_SP800_108_COUNTER_KDF, CKM_SP800_108_FEEDBACK_KDF, CKM_SP800_108_DOUBLE_PIPELINE_KDF].contains(&m) {
            assert_eq!((info.ulMinKeySize, info.ulMaxKeySize), (8, 4096), "{m:#x}: base key sizes in bits");
        }
    }
}
