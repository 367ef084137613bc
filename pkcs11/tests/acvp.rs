//! NIST ACVP known answers for the post-quantum mechanisms (issue 8), driven through
//! the built module's PKCS#11 API only: every key is imported with `C_CreateObject`,
//! every signature made or checked with `C_Sign` / `C_Verify`, every shared secret
//! made with the 3.2 `C_EncapsulateKey` / `C_DecapsulateKey` and read back as the
//! `CKA_VALUE` of an extractable generic secret.
//!
//! The vectors are in `test-vectors/acvp/` (sources and cuts in
//! `test-vectors/README.md`): ML-DSA keyGen, sigGen and sigVer (pure and HashML-DSA),
//! ML-KEM encapDecap, SLH-DSA keyGen. What PKCS#11 cannot drive is skipped
//! with its reason and counted: ML-DSA's internal interface (ACVP gives M' or μ
//! directly; PKCS#11 signs only the external interface), HashML-DSA with SHA-512/224
//! or SHA-512/256 (PKCS#11 3.2 has no mechanism for them). Cases whose randomness
//! PKCS#11 cannot inject are checked another way and counted in a note: a hedged
//! signature (`rnd`) is verified instead of reproduced; an encapsulation (`m`) is
//! checked by decapsulating its ciphertext and by a round trip of the module's own.
//!
//! One test per family; each prints one line per file (`passed, failed, skipped`,
//! then the notes and skip reasons with their counts) and every failed case by its
//! `tcId`, and fails if any case fails or if a file ran nothing. Run on both providers:
//! `cargo test -p ferrohsm-pkcs11 --test acvp -- --nocapture` and
//! `cargo test -p ferrohsm-pkcs11 --no-default-features --features rustcrypto --test acvp -- --nocapture`.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::ptr;

use common::*;
use serde_json::Value;

// --- Bookkeeping --------------------------------------------------------------------

/// What one vector file gave.
struct Tally {
    file: &'static str,
    passed: usize,
    failed: Vec<String>,
    skipped: BTreeMap<String, usize>,
    notes: BTreeMap<String, usize>,
}

impl Tally {
    fn new(file: &'static str) -> Self {
        Tally { file, passed: 0, failed: Vec::new(), skipped: BTreeMap::new(), notes: BTreeMap::new() }
    }

    /// Records a case's outcome.
    fn case(&mut self, tc: &Value, r: Result<(), String>) {
        match r {
            Ok(()) => self.passed += 1,
            Err(e) => self.failed.push(format!("tcId {}: {e}", tc["tcId"])),
        }
    }

    fn skip(&mut self, n: usize, reason: impl Into<String>) {
        *self.skipped.entry(reason.into()).or_default() += n;
    }

    fn note(&mut self, note: impl Into<String>) {
        *self.notes.entry(note.into()).or_default() += 1;
    }
}

/// Prints every file's line, then fails if a case failed or a file ran nothing.
fn finish(tallies: &[Tally]) {
    for t in tallies {
        println!(
            "{}: {} passed, {} failed, {} skipped",
            t.file,
            t.passed,
            t.failed.len(),
            t.skipped.values().sum::<usize>()
        );
        for (n, c) in &t.notes {
            println!("    note ({c}): {n}");
        }
        for (r, c) in &t.skipped {
            println!("    skipped ({c}): {r}");
        }
        for f in &t.failed {
            println!("    FAILED {f}");
        }
    }
    let failed: Vec<String> =
        tallies.iter().flat_map(|t| t.failed.iter().map(move |f| format!("{}: {f}", t.file))).collect();
    assert!(failed.is_empty(), "{} ACVP case(s) failed:\n{}", failed.len(), failed.join("\n"));
    for t in tallies {
        assert!(t.passed > 0, "{}: no case ran", t.file);
    }
}

// --- Data ---------------------------------------------------------------------------

/// A file of `test-vectors/acvp/`.
fn load(rel: &str) -> Value {
    let path = format!("{}/../test-vectors/acvp/{rel}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(v["testGroups"].as_array().is_some_and(|g| !g.is_empty()), "{path} has test groups");
    v
}

fn groups(v: &Value) -> &Vec<Value> {
    v["testGroups"].as_array().unwrap()
}

fn tests(g: &Value) -> &Vec<Value> {
    g["tests"].as_array().expect("a group's tests")
}

/// A hex field (ACVP writes upper case; an empty string is no bytes).
fn hx(v: &Value, k: &str) -> Vec<u8> {
    let s = v[k].as_str().unwrap_or_else(|| panic!("field {k} in {v:.80}"));
    assert!(s.len().is_multiple_of(2), "{k}: odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("field {k}"))
}

/// `Err` with both values in hex when they differ.
fn same(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        let cut = |b: &[u8]| {
            let h = hex(b);
            if h.len() > 96 { format!("{}...({} bytes)", &h[..96], b.len()) } else { h }
        };
        Err(format!("{what}: got {}, want {}", cut(got), cut(want)))
    }
}

/// `Err` naming the call when a return code is not `want`.
fn rv_is(what: &str, got: CK_RV, want: CK_RV) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("{what}: rv {got:#x}, want {want:#x}")) }
}

fn created(what: &str, r: Result<CK_OBJECT_HANDLE, CK_RV>) -> Result<CK_OBJECT_HANDLE, String> {
    r.map_err(|rv| format!("{what}: C_CreateObject rv {rv:#x}"))
}

fn attr(h: &Hsm, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, String> {
    h.get(s, o, ty).map_err(|rv| format!("C_GetAttributeValue({ty:#x}) rv {rv:#x}"))
}

// --- Signing through PKCS#11 ----------------------------------------------------------

fn hash_context_param(hedge: CK_ULONG, ctx: &[u8], hash: CK_MECHANISM_TYPE) -> CK_HASH_SIGN_ADDITIONAL_CONTEXT {
    CK_HASH_SIGN_ADDITIONAL_CONTEXT {
        hedgeVariant: hedge,
        pContext: if ctx.is_empty() { ptr::null_mut() } else { ctx.as_ptr() as *mut _ },
        ulContextLen: ctx.len() as CK_ULONG,
        hash,
    }
}

fn sign(s: CK_SESSION_HANDLE, m: &mut CK_MECHANISM, key: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, String> {
    rv_is("C_SignInit", call!(C_SignInit, s, m, key), CKR_OK)?;
    let mut n: CK_ULONG = 0;
    let (p, len) = (data.as_ptr() as *mut _, data.len() as CK_ULONG);
    rv_is("C_Sign (length)", call!(C_Sign, s, p, len, ptr::null_mut(), &mut n), CKR_OK)?;
    let mut out = vec![0u8; n as usize];
    rv_is("C_Sign", call!(C_Sign, s, p, len, out.as_mut_ptr(), &mut n), CKR_OK)?;
    out.truncate(n as usize);
    Ok(out)
}

fn verify(s: CK_SESSION_HANDLE, m: &mut CK_MECHANISM, key: CK_OBJECT_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    match call!(C_VerifyInit, s, m, key) {
        CKR_OK => {}
        rv => return rv,
    }
    call!(C_Verify, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, sig.as_ptr() as *mut _, sig.len() as CK_ULONG)
}

/// A signature the vector says is valid must verify; an invalid one must be refused
/// as `CKR_SIGNATURE_INVALID` or, for a wrong length, `CKR_SIGNATURE_LEN_RANGE`
/// (noted in the tally).
fn expect_verdict(t: &mut Tally, tc: &Value, rv: CK_RV) -> Result<(), String> {
    let passed = tc["testPassed"].as_bool().expect("testPassed");
    let reason = tc["reason"].as_str().unwrap_or("?");
    match (passed, rv) {
        (true, CKR_OK) => Ok(()),
        (false, CKR_SIGNATURE_INVALID) => {
            t.note(format!("refused with CKR_SIGNATURE_INVALID: {reason}"));
            Ok(())
        }
        (false, CKR_SIGNATURE_LEN_RANGE) => {
            t.note(format!("refused with CKR_SIGNATURE_LEN_RANGE: {reason}"));
            Ok(())
        }
        (true, rv) => Err(format!("valid signature ({reason}): C_Verify rv {rv:#x}")),
        (false, rv) => Err(format!("invalid signature ({reason}): C_Verify rv {rv:#x}")),
    }
}

// --- ML-DSA (FIPS 204) ----------------------------------------------------------------

fn ml_dsa_set(name: &str) -> CK_ULONG {
    match name {
        "ML-DSA-44" => CKP_ML_DSA_44,
        "ML-DSA-65" => CKP_ML_DSA_65,
        "ML-DSA-87" => CKP_ML_DSA_87,
        other => panic!("unknown ML-DSA parameter set {other}"),
    }
}

fn ml_dsa_key(class: CK_OBJECT_CLASS, set: CK_ULONG) -> Tmpl {
    Tmpl::new().class(class).ulong(CKA_KEY_TYPE, CKK_ML_DSA).ulong(CKA_PARAMETER_SET, set)
}

/// ACVP's `hashAlg` of a HashML-DSA case: the `CKM_HASH_ML_DSA_*` mechanism that
/// hashes in the token, or `None` when PKCS#11 3.2 defines none.
fn hash_ml_dsa_mechanism(alg: &str) -> Option<CK_MECHANISM_TYPE> {
    Some(match alg {
        "SHA2-224" => CKM_HASH_ML_DSA_SHA224,
        "SHA2-256" => CKM_HASH_ML_DSA_SHA256,
        "SHA2-384" => CKM_HASH_ML_DSA_SHA384,
        "SHA2-512" => CKM_HASH_ML_DSA_SHA512,
        "SHA3-224" => CKM_HASH_ML_DSA_SHA3_224,
        "SHA3-256" => CKM_HASH_ML_DSA_SHA3_256,
        "SHA3-384" => CKM_HASH_ML_DSA_SHA3_384,
        "SHA3-512" => CKM_HASH_ML_DSA_SHA3_512,
        "SHAKE-128" => CKM_HASH_ML_DSA_SHAKE128,
        "SHAKE-256" => CKM_HASH_ML_DSA_SHAKE256,
        _ => return None,
    })
}

/// For `CKM_HASH_ML_DSA` (the caller hashes): the digest mechanism to name and the
/// digest computed here, apart from the module. None for SHAKE, which
/// `CK_HASH_SIGN_ADDITIONAL_CONTEXT.hash` cannot name.
fn caller_digest(alg: &str, msg: &[u8]) -> Option<(CK_MECHANISM_TYPE, Vec<u8>)> {
    use sha2::Digest;
    Some(match alg {
        "SHA2-224" => (CKM_SHA224, sha2::Sha224::digest(msg).to_vec()),
        "SHA2-256" => (CKM_SHA256, sha2::Sha256::digest(msg).to_vec()),
        "SHA2-384" => (CKM_SHA384, sha2::Sha384::digest(msg).to_vec()),
        "SHA2-512" => (CKM_SHA512, sha2::Sha512::digest(msg).to_vec()),
        "SHA3-224" => (CKM_SHA3_224, sha3::Sha3_224::digest(msg).to_vec()),
        "SHA3-256" => (CKM_SHA3_256, sha3::Sha3_256::digest(msg).to_vec()),
        "SHA3-384" => (CKM_SHA3_384, sha3::Sha3_384::digest(msg).to_vec()),
        "SHA3-512" => (CKM_SHA3_512, sha3::Sha3_512::digest(msg).to_vec()),
        _ => return None,
    })
}

const INTERNAL: &str = "signatureInterface internal (ACVP gives M' or, with externalMu, mu itself): \
                        PKCS#11 signs and verifies only through the external interface";

/// The mechanism a sigGen/sigVer group runs under, or the reason it cannot run.
fn ml_dsa_mechanism(g: &Value, tc: &Value) -> Result<CK_MECHANISM_TYPE, String> {
    if text(g, "signatureInterface") != "external" || g["externalMu"].as_bool() == Some(true) {
        return Err(INTERNAL.into());
    }
    match text(g, "preHash") {
        "pure" => Ok(CKM_ML_DSA),
        "preHash" => {
            let alg = text(tc, "hashAlg");
            hash_ml_dsa_mechanism(alg)
                .ok_or_else(|| format!("HashML-DSA with {alg}: PKCS#11 3.2 defines no CKM_HASH_ML_DSA_* for it"))
        }
        other => panic!("unknown preHash {other}"),
    }
}

fn ml_dsa_keygen(h: &Hsm, s: CK_SESSION_HANDLE, t: &mut Tally) {
    for g in groups(&load(t.file)) {
        let set = ml_dsa_set(text(g, "parameterSet"));
        for tc in tests(g) {
            let r = (|| {
                // The private key from the seed xi alone; readable here, as it is
                // imported neither sensitive nor unextractable.
                let private = ml_dsa_key(CKO_PRIVATE_KEY, set)
                    .bool(CKA_SENSITIVE, false)
                    .bool(CKA_EXTRACTABLE, true)
                    .bytes(CKA_SEED, &hx(tc, "seed"));
                let hq = created("private key from seed", h.create(s, &private))?;
                same("sk expanded from seed", &attr(h, s, hq, CKA_VALUE)?, &hx(tc, "sk"))?;
                let info = attr(h, s, hq, CKA_PUBLIC_KEY_INFO)?;
                if !info.ends_with(&hx(tc, "pk")) {
                    return Err("the private key's CKA_PUBLIC_KEY_INFO does not end with pk".into());
                }
                let hp = created(
                    "public key",
                    h.create(s, &ml_dsa_key(CKO_PUBLIC_KEY, set).bytes(CKA_VALUE, &hx(tc, "pk"))),
                )?;
                same("public CKA_PUBLIC_KEY_INFO", &attr(h, s, hp, CKA_PUBLIC_KEY_INFO)?, &info)?;
                // The seed and the expanded key given together must agree.
                let both =
                    ml_dsa_key(CKO_PRIVATE_KEY, set).bytes(CKA_SEED, &hx(tc, "seed")).bytes(CKA_VALUE, &hx(tc, "sk"));
                created("private key from seed and sk", h.create(s, &both))?;
                Ok(())
            })();
            t.case(tc, r);
        }
    }
}

fn ml_dsa_siggen(h: &Hsm, s: CK_SESSION_HANDLE, t: &mut Tally) {
    for g in groups(&load(t.file)) {
        let set = ml_dsa_set(text(g, "parameterSet"));
        let deterministic = g["deterministic"].as_bool().expect("deterministic");
        for tc in tests(g) {
            let m = match ml_dsa_mechanism(g, tc) {
                Ok(m) => m,
                Err(reason) => {
                    t.skip(1, reason);
                    continue;
                }
            };
            let r = (|| {
                let (msg, ctx, want) = (hx(tc, "message"), hx(tc, "context"), hx(tc, "signature"));
                let hq = created(
                    "private key",
                    h.create(s, &ml_dsa_key(CKO_PRIVATE_KEY, set).bytes(CKA_VALUE, &hx(tc, "sk"))),
                )?;
                let hp = created(
                    "public key",
                    h.create(s, &ml_dsa_key(CKO_PUBLIC_KEY, set).bytes(CKA_VALUE, &hx(tc, "pk"))),
                )?;
                let mut verify_param = context_param(CKH_HEDGE_PREFERRED, &ctx);
                rv_is(
                    "C_Verify of the expected signature",
                    verify(s, &mut mech_with(m, &mut verify_param), hp, &msg, &want),
                    CKR_OK,
                )?;
                if !deterministic {
                    t.note("hedged (rnd cannot be given through PKCS#11): the expected signature verified instead");
                    return Ok(());
                }
                let mut p = context_param(CKH_DETERMINISTIC_REQUIRED, &ctx);
                same("deterministic signature", &sign(s, &mut mech_with(m, &mut p), hq, &msg)?, &want)?;
                // HashML-DSA again with the digest made here (CKM_HASH_ML_DSA).
                if m != CKM_ML_DSA
                    && let Some((hash, digest)) = caller_digest(text(tc, "hashAlg"), &msg)
                {
                    let mut hp_param = hash_context_param(CKH_DETERMINISTIC_REQUIRED, &ctx, hash);
                    same(
                        "CKM_HASH_ML_DSA over the digest",
                        &sign(s, &mut mech_with(CKM_HASH_ML_DSA, &mut hp_param), hq, &digest)?,
                        &want,
                    )?;
                    t.note("deterministic HashML-DSA also signed as CKM_HASH_ML_DSA over a digest made by the test");
                }
                Ok(())
            })();
            t.case(tc, r);
        }
    }
}

fn ml_dsa_sigver(h: &Hsm, s: CK_SESSION_HANDLE, t: &mut Tally) {
    for g in groups(&load(t.file)) {
        let set = ml_dsa_set(text(g, "parameterSet"));
        for tc in tests(g) {
            let m = match ml_dsa_mechanism(g, tc) {
                Ok(m) => m,
                Err(reason) => {
                    t.skip(1, reason);
                    continue;
                }
            };
            let r = (|| {
                let hp = created(
                    "public key",
                    h.create(s, &ml_dsa_key(CKO_PUBLIC_KEY, set).bytes(CKA_VALUE, &hx(tc, "pk"))),
                )?;
                let ctx = hx(tc, "context");
                let mut p = context_param(CKH_HEDGE_PREFERRED, &ctx);
                let rv = verify(s, &mut mech_with(m, &mut p), hp, &hx(tc, "message"), &hx(tc, "signature"));
                expect_verdict(t, tc, rv)
            })();
            t.case(tc, r);
        }
    }
}

#[test]
fn ml_dsa() {
    let (h, s) = Hsm::ready();
    let mut out = Vec::new();
    let mut t = Tally::new("ml-dsa/ML-DSA-keyGen-FIPS204.json");
    ml_dsa_keygen(&h, s, &mut t);
    out.push(t);
    for file in ["ml-dsa/ML-DSA-sigGen-FIPS204.json", "ml-dsa/ML-DSA-sigGen-FIPS204-preHash.json"] {
        let mut t = Tally::new(file);
        ml_dsa_siggen(&h, s, &mut t);
        out.push(t);
    }
    for file in ["ml-dsa/ML-DSA-sigVer-FIPS204.json", "ml-dsa/ML-DSA-sigVer-FIPS204-preHash.json"] {
        let mut t = Tally::new(file);
        ml_dsa_sigver(&h, s, &mut t);
        out.push(t);
    }
    finish(&out);
}

// --- ML-KEM (FIPS 203) ----------------------------------------------------------------

fn ml_kem_set(name: &str) -> CK_ULONG {
    match name {
        "ML-KEM-512" => CKP_ML_KEM_512,
        "ML-KEM-768" => CKP_ML_KEM_768,
        "ML-KEM-1024" => CKP_ML_KEM_1024,
        other => panic!("unknown ML-KEM parameter set {other}"),
    }
}

fn ml_kem_key(class: CK_OBJECT_CLASS, set: CK_ULONG) -> Tmpl {
    Tmpl::new().class(class).ulong(CKA_KEY_TYPE, CKK_ML_KEM).ulong(CKA_PARAMETER_SET, set)
}

/// An extractable generic secret: the shared secret, compared by value.
fn secret_template() -> Tmpl {
    Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
}

/// The shared secret `C_DecapsulateKey` gives for `c`.
fn decapsulated(h: &Hsm, s: CK_SESSION_HANDLE, private: CK_OBJECT_HANDLE, c: &[u8]) -> Result<Vec<u8>, String> {
    let k = decapsulate_key(s, &mut mech(CKM_ML_KEM), private, &secret_template(), c)
        .map_err(|rv| format!("C_DecapsulateKey rv {rv:#x}"))?;
    attr(h, s, k, CKA_VALUE)
}

/// The module's own encapsulation to `public` decapsulates, with `private`, to the
/// same secret.
fn round_trip(
    h: &Hsm,
    s: CK_SESSION_HANDLE,
    public: CK_OBJECT_HANDLE,
    private: CK_OBJECT_HANDLE,
) -> Result<(), String> {
    let (ct, k) = encapsulate_key(s, &mut mech(CKM_ML_KEM), public, &secret_template())
        .map_err(|rv| format!("C_EncapsulateKey rv {rv:#x}"))?;
    let sent = attr(h, s, k, CKA_VALUE)?;
    same("own encapsulation, decapsulated", &decapsulated(h, s, private, &ct)?, &sent)
}

fn ml_kem_encap_decap(h: &Hsm, s: CK_SESSION_HANDLE, t: &mut Tally) {
    for g in groups(&load(t.file)) {
        let set = ml_kem_set(text(g, "parameterSet"));
        let function = text(g, "function");
        for tc in tests(g) {
            let r = (|| match function {
                // dk and ek are the group's; c may be valid or modified (then k is
                // the implicit-rejection secret).
                "decapsulation" => {
                    let hq = created(
                        "private key (dk)",
                        h.create(s, &ml_kem_key(CKO_PRIVATE_KEY, set).bytes(CKA_VALUE, &hx(g, "dk"))),
                    )?;
                    let reason = tc["reason"].as_str().unwrap_or("?");
                    same(&format!("k ({reason})"), &decapsulated(h, s, hq, &hx(tc, "c"))?, &hx(tc, "k"))?;
                    t.note(format!("decapsulated to k: {reason}"));
                    Ok(())
                }
                // The randomness m cannot be given through PKCS#11: c must
                // decapsulate with dk to k, and the module's own encapsulation to ek
                // must round-trip.
                "encapsulation" => {
                    let hq = created(
                        "private key (dk)",
                        h.create(s, &ml_kem_key(CKO_PRIVATE_KEY, set).bytes(CKA_VALUE, &hx(tc, "dk"))),
                    )?;
                    same("k from c", &decapsulated(h, s, hq, &hx(tc, "c"))?, &hx(tc, "k"))?;
                    let hp = created(
                        "public key (ek)",
                        h.create(s, &ml_kem_key(CKO_PUBLIC_KEY, set).bytes(CKA_VALUE, &hx(tc, "ek"))),
                    )?;
                    round_trip(h, s, hp, hq)?;
                    t.note("encapsulation (m cannot be given through PKCS#11): c decapsulated to k, own encapsulation round-tripped");
                    Ok(())
                }
                other => panic!("unknown ML-KEM function {other}"),
            })();
            t.case(tc, r);
        }
    }
}

#[test]
fn ml_kem() {
    let (h, s) = Hsm::ready();
    let mut encap = Tally::new("ml-kem/ML-KEM-encapDecap-FIPS203.json");
    ml_kem_encap_decap(&h, s, &mut encap);
    finish(&[encap]);
}

// --- SLH-DSA (FIPS 205) ---------------------------------------------------------------

fn slh_dsa_set(name: &str) -> CK_ULONG {
    match name {
        "SLH-DSA-SHA2-128s" => CKP_SLH_DSA_SHA2_128S,
        "SLH-DSA-SHAKE-128s" => CKP_SLH_DSA_SHAKE_128S,
        "SLH-DSA-SHA2-128f" => CKP_SLH_DSA_SHA2_128F,
        "SLH-DSA-SHAKE-128f" => CKP_SLH_DSA_SHAKE_128F,
        "SLH-DSA-SHA2-192s" => CKP_SLH_DSA_SHA2_192S,
        "SLH-DSA-SHAKE-192s" => CKP_SLH_DSA_SHAKE_192S,
        "SLH-DSA-SHA2-192f" => CKP_SLH_DSA_SHA2_192F,
        "SLH-DSA-SHAKE-192f" => CKP_SLH_DSA_SHAKE_192F,
        "SLH-DSA-SHA2-256s" => CKP_SLH_DSA_SHA2_256S,
        "SLH-DSA-SHAKE-256s" => CKP_SLH_DSA_SHAKE_256S,
        "SLH-DSA-SHA2-256f" => CKP_SLH_DSA_SHA2_256F,
        "SLH-DSA-SHAKE-256f" => CKP_SLH_DSA_SHAKE_256F,
        other => panic!("unknown SLH-DSA parameter set {other}"),
    }
}

fn slh_dsa_key(class: CK_OBJECT_CLASS, set: CK_ULONG) -> Tmpl {
    Tmpl::new().class(class).ulong(CKA_KEY_TYPE, CKK_SLH_DSA).ulong(CKA_PARAMETER_SET, set)
}

/// Importing an SLH-DSA private key rebuilds its top XMSS tree to check PK.root:
/// for the "s" sets 2^8 or 2^9 leaves, about 7 s each in a debug build, where the
/// `slh-dsa` crate's generic code is compiled at the module's own optimisation level.
const SLOW_IN_DEBUG: &str = "SLH-DSA-*-192s and -256s in a debug build (about 7 s an import; \
                             run with --release to include them)";

fn slh_dsa_keygen(h: &Hsm, s: CK_SESSION_HANDLE, t: &mut Tally) {
    for g in groups(&load(t.file)) {
        let name = text(g, "parameterSet");
        let set = slh_dsa_set(name);
        if cfg!(debug_assertions) && name.ends_with('s') && !name.ends_with("128s") {
            t.skip(tests(g).len(), SLOW_IN_DEBUG);
            continue;
        }
        for (i, tc) in tests(g).iter().enumerate() {
            let r = (|| {
                let (sk, pk) = (hx(tc, "sk"), hx(tc, "pk"));
                // The file's own consistency: sk = SK.seed || SK.prf || PK.seed || PK.root
                // and pk = PK.seed || PK.root.
                let parts = [hx(tc, "skSeed"), hx(tc, "skPrf"), pk.clone()].concat();
                same("skSeed || skPrf || pk (the vector itself)", &sk, &parts)?;
                // The import recomputes PK.root from the seeds and must accept it.
                let private = slh_dsa_key(CKO_PRIVATE_KEY, set)
                    .bool(CKA_SENSITIVE, false)
                    .bool(CKA_EXTRACTABLE, true)
                    .bytes(CKA_VALUE, &sk);
                let hq = created("private key (sk)", h.create(s, &private))?;
                same("private CKA_VALUE", &attr(h, s, hq, CKA_VALUE)?, &sk)?;
                let info = attr(h, s, hq, CKA_PUBLIC_KEY_INFO)?;
                if !info.ends_with(&pk) {
                    return Err("the private key's CKA_PUBLIC_KEY_INFO does not end with pk".into());
                }
                let hp =
                    created("public key (pk)", h.create(s, &slh_dsa_key(CKO_PUBLIC_KEY, set).bytes(CKA_VALUE, &pk)))?;
                same("public CKA_PUBLIC_KEY_INFO", &attr(h, s, hp, CKA_PUBLIC_KEY_INFO)?, &info)?;
                // A PK.root that the seeds do not give is refused: checked on the "f"
                // sets only, as each import of an "s" key rebuilds its 2^8 or 2^9-leaf
                // top tree, seconds in a debug build (the crate's generic code is
                // compiled with the module's own optimisation level).
                if i == 0 && text(g, "parameterSet").ends_with('f') {
                    let mut bad = sk.clone();
                    *bad.last_mut().unwrap() ^= 1;
                    let r = h.create(s, &slh_dsa_key(CKO_PRIVATE_KEY, set).bytes(CKA_VALUE, &bad));
                    rv_is("sk with a flipped PK.root bit", rv(r), CKR_ATTRIBUTE_VALUE_INVALID)?;
                    t.note("sk with a flipped PK.root bit refused (CKR_ATTRIBUTE_VALUE_INVALID)");
                }
                Ok(())
            })();
            t.case(tc, r);
        }
    }
}

#[test]
fn slh_dsa() {
    let (h, s) = Hsm::ready();
    let mut keygen = Tally::new("slh-dsa/SLH-DSA-keyGen-FIPS205.json");
    slh_dsa_keygen(&h, s, &mut keygen);
    finish(&[keygen]);
}
