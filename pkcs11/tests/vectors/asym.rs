//! ECDSA, RSA (PKCS#1 v1.5 and PSS signatures, OAEP), ECDH.

use cryptoki_sys::*;
use serde_json::Value;

use crate::data::{self, Record, h, pad, s, tc, trim};
use crate::driver::{Fail, Key, Mech, Module, Param, Parts, Tmpl};
use crate::report::{BAD_SIGNATURE, Expect, Family, FileReport, Outcome, Refusal, differs};
use crate::rules;

// --- Hashes, computed here (the module's own digests are the sha family's job) --------

fn hash(alg: &str, msg: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match alg {
        "SHA-1" | "SHA1" => sha1::Sha1::digest(msg).to_vec(),
        "SHA-224" | "SHA224" => sha2::Sha224::digest(msg).to_vec(),
        "SHA-256" | "SHA256" => sha2::Sha256::digest(msg).to_vec(),
        "SHA-384" | "SHA384" => sha2::Sha384::digest(msg).to_vec(),
        "SHA-512" | "SHA512" => sha2::Sha512::digest(msg).to_vec(),
        _ => panic!("hash {alg}"),
    }
}

/// The hash's `CKM_*` digest, `CKG_MGF1_*`, `CKM_ECDSA_*`, `CKM_*_RSA_PKCS`,
/// `CKM_*_RSA_PKCS_PSS`, and DER DigestInfo prefix.
struct HashMechs {
    digest: CK_MECHANISM_TYPE,
    mgf: CK_ULONG,
    ecdsa: CK_MECHANISM_TYPE,
    pkcs1: CK_MECHANISM_TYPE,
    pss: CK_MECHANISM_TYPE,
    digest_info: &'static str,
}

fn mechs(alg: &str) -> HashMechs {
    match alg {
        "SHA-1" | "SHA1" => HashMechs {
            digest: CKM_SHA_1,
            mgf: CKG_MGF1_SHA1,
            ecdsa: CKM_ECDSA_SHA1,
            pkcs1: CKM_SHA1_RSA_PKCS,
            pss: CKM_SHA1_RSA_PKCS_PSS,
            digest_info: "3021300906052b0e03021a05000414",
        },
        "SHA-256" | "SHA256" => HashMechs {
            digest: CKM_SHA256,
            mgf: CKG_MGF1_SHA256,
            ecdsa: CKM_ECDSA_SHA256,
            pkcs1: CKM_SHA256_RSA_PKCS,
            pss: CKM_SHA256_RSA_PKCS_PSS,
            digest_info: "3031300d060960864801650304020105000420",
        },
        "SHA-384" | "SHA384" => HashMechs {
            digest: CKM_SHA384,
            mgf: CKG_MGF1_SHA384,
            ecdsa: CKM_ECDSA_SHA384,
            pkcs1: CKM_SHA384_RSA_PKCS,
            pss: CKM_SHA384_RSA_PKCS_PSS,
            digest_info: "3041300d060960864801650304020205000430",
        },
        "SHA-512" | "SHA512" => HashMechs {
            digest: CKM_SHA512,
            mgf: CKG_MGF1_SHA512,
            ecdsa: CKM_ECDSA_SHA512,
            pkcs1: CKM_SHA512_RSA_PKCS,
            pss: CKM_SHA512_RSA_PKCS_PSS,
            digest_info: "3051300d060960864801650304020305000440",
        },
        _ => panic!("hash {alg}"),
    }
}

/// Refusals of a bad signature: the signature codes at verification, or a refused
/// public key (a CAVP "Q changed" case may put the point off the curve).
const SIG_OR_KEY: Refusal = Refusal::OrBadKey(&[CKR_SIGNATURE_INVALID, CKR_SIGNATURE_LEN_RANGE]);

/// One labelled check of a case.
type Check<'a> = (String, Box<dyn FnOnce() -> Outcome + 'a>);

/// Runs each check of a case, stopping at the first that does not pass; the outcome
/// names the check.
fn all(checks: Vec<Check<'_>>) -> Outcome {
    for (label, check) in checks {
        match check() {
            Outcome::Ok => {}
            Outcome::Wrong(w) => return Outcome::Wrong(format!("{label}: {w}")),
            Outcome::Refused(f) => return Outcome::Refused(Fail { at: leak(format!("{label}: {}", f.at)), rv: f.rv }),
        }
    }
    Outcome::Ok
}

/// `Fail::at` is a `&'static str` (call names); a labelled one is leaked, once per
/// failing check.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

// --- ECDSA --------------------------------------------------------------------------------

/// A curve: its names, DER OID (for `CKA_EC_PARAMS`) and field length in bytes.
struct Curve {
    oid: &'static str,
    len: usize,
    bits: usize,
}

fn curve(name: &str) -> Curve {
    match name {
        "P-256" | "secp256r1" => Curve { oid: "06082a8648ce3d030107", len: 32, bits: 256 },
        "P-384" | "secp384r1" => Curve { oid: "06052b81040022", len: 48, bits: 384 },
        "P-521" | "secp521r1" => Curve { oid: "06052b81040023", len: 66, bits: 521 },
        _ => panic!("curve {name}"),
    }
}

/// `CKA_EC_POINT`: the point as a DER OCTET STRING.
fn ec_point_der(point: &[u8]) -> Vec<u8> {
    let mut v = vec![0x04];
    if point.len() < 128 {
        v.push(point.len() as u8);
    } else {
        v.extend([0x81, point.len() as u8]);
    }
    v.extend_from_slice(point);
    v
}

fn ec_public<'a>(m: &'a Module, c: &Curve, point: &[u8]) -> Result<Key<'a>, Fail> {
    let t = Tmpl::key(CKO_PUBLIC_KEY, CKK_EC)
        .bytes(CKA_EC_PARAMS, &data::unhex(c.oid))
        .bytes(CKA_EC_POINT, &ec_point_der(point))
        .bool(CKA_VERIFY, true);
    Key::create(m, &t)
}

fn ec_private<'a>(m: &'a Module, c: &Curve, d: &[u8], derive: bool) -> Result<Key<'a>, Fail> {
    let t = Tmpl::key(CKO_PRIVATE_KEY, CKK_EC)
        .bytes(CKA_EC_PARAMS, &data::unhex(c.oid))
        .bytes(CKA_VALUE, &pad(d, c.len))
        .bool(if derive { CKA_DERIVE } else { CKA_SIGN }, true);
    Key::create(m, &t)
}

/// The ways to verify an ECDSA signature: the hash-and-sign mechanism (when the
/// module lists it, or always for a strict module) and `CKM_ECDSA` over the hash.
fn ecdsa_ways(m: &Module, alg: &str, msg: &[u8]) -> Vec<(Mech, Vec<u8>)> {
    let hm = mechs(alg);
    let mut v = Vec::new();
    if m.strict || m.mech_info(hm.ecdsa).is_some() {
        v.push((Mech::new(hm.ecdsa), msg.to_vec()));
    }
    v.push((Mech::new(CKM_ECDSA), hash(alg, msg)));
    v
}

fn ecdsa_verify_case(m: &Module, c: &Curve, point: &[u8], alg: &str, msg: &[u8], sig: &[u8]) -> Outcome {
    let k = match ec_public(m, c, point) {
        Ok(k) => k,
        Err(f) => return Outcome::Refused(f),
    };
    let checks = ecdsa_ways(m, alg, msg)
        .into_iter()
        .map(|(mech, data)| {
            let label = rules::mech_name(mech.ty);
            let k = &k;
            let f: Box<dyn FnOnce() -> Outcome + '_> =
                Box::new(move || m.verify(&mech, k.h, &data, sig, Parts::Single).into());
            (label, f)
        })
        .collect();
    all(checks)
}

/// ECDSA on P-256, P-384, P-521 with SHA-256, SHA-384, SHA-512.
pub fn ecdsa(m: &Module) {
    let mut fam = Family::new(&m.name);
    // CAVP SigVer: the vector's key and signature; P must verify, F must not.
    {
        let file = "cavp/ecdsa/SigVer.rsp";
        let mut r = FileReport::new(file, "CKM_ECDSA_SHA* and CKM_ECDSA verify");
        let cases = data::rsp(&data::read(file), &["Msg"]);
        if !rules::mechanism_missing(m, &mut r, CKM_ECDSA, cases.len()) {
            for rec in cases {
                let (cname, alg) = section(&rec);
                let c = curve(&cname);
                let point = [vec![4], pad(&rec.bytes("Qx"), c.len), pad(&rec.bytes("Qy"), c.len)].concat();
                let sig = [pad(&rec.bytes("R"), c.len), pad(&rec.bytes("S"), c.len)].concat();
                let expect = if rec.val("Result").starts_with('P') { Expect::Valid } else { Expect::Invalid };
                let o = ecdsa_verify_case(m, &c, &point, &alg, &rec.bytes("Msg"), &sig);
                r.judge(format!("[{cname},{alg}] {} Result {}", rec.id(), rec.val("Result")), expect, o, SIG_OR_KEY);
            }
        }
        fam.add(r);
    }
    // CAVP SigGen (signatures are randomised): sign with the vector's private key,
    // verify that signature with the vector's public key, and verify the vector's
    // own signature.
    {
        let file = "cavp/ecdsa/SigGen.txt";
        let mut r = FileReport::new(file, "CKM_ECDSA_SHA* and CKM_ECDSA sign, then verify; verify the vector's");
        let cases = data::rsp(&data::read(file), &["Msg"]);
        if !rules::mechanism_missing(m, &mut r, CKM_ECDSA, cases.len()) {
            for rec in cases {
                let (cname, alg) = section(&rec);
                let c = curve(&cname);
                let point = [vec![4], pad(&rec.bytes("Qx"), c.len), pad(&rec.bytes("Qy"), c.len)].concat();
                let sig = [pad(&rec.bytes("R"), c.len), pad(&rec.bytes("S"), c.len)].concat();
                let msg = rec.bytes("Msg");
                let o = ecdsa_sign_case(m, &c, &rec.bytes("d"), &point, &alg, &msg, &sig);
                r.judge(format!("[{cname},{alg}] {}", rec.id()), Expect::Valid, o, BAD_SIGNATURE);
            }
        }
        fam.add(r);
    }
    // Wycheproof, P1363 (r || s) signatures: PKCS#11's format.
    for (file, cname) in [
        ("wycheproof/ecdsa_secp256r1_sha256_p1363_test.json", "P-256"),
        ("wycheproof/ecdsa_secp384r1_sha384_p1363_test.json", "P-384"),
        ("wycheproof/ecdsa_secp521r1_sha512_p1363_test.json", "P-521"),
    ] {
        let mut r = FileReport::new(file, "CKM_ECDSA_SHA* and CKM_ECDSA verify");
        let v = data::wycheproof(file);
        let c = curve(cname);
        if !rules::mechanism_missing(m, &mut r, CKM_ECDSA, data::tests(&v).len()) {
            for (g, t) in data::tests(&v) {
                let point = h(&g["publicKey"], "uncompressed");
                let alg = s(g, "sha");
                let expect = Expect::wycheproof(s(t, "result"));
                let o = ecdsa_verify_case(m, &c, &point, alg, &h(t, "msg"), &h(t, "sig"));
                r.judge(tc(t), expect, o, SIG_OR_KEY);
            }
        }
        fam.add(r);
    }
    fam.finish("ecdsa");
}

/// `[P-256,SHA-256]` as ("P-256", "SHA-256").
fn section(rec: &Record) -> (String, String) {
    let f = rec.flags.iter().find(|f| f.starts_with("P-")).expect("curve section");
    let (c, a) = f.split_once(',').unwrap();
    (c.to_string(), a.to_string())
}

fn ecdsa_sign_case(m: &Module, c: &Curve, d: &[u8], point: &[u8], alg: &str, msg: &[u8], vector_sig: &[u8]) -> Outcome {
    let private = match ec_private(m, c, d, false) {
        Ok(k) => k,
        Err(f) => return Outcome::Refused(f),
    };
    let public = match ec_public(m, c, point) {
        Ok(k) => k,
        Err(f) => return Outcome::Refused(f),
    };
    let mut checks: Vec<Check<'_>> = Vec::new();
    for (mech, data) in ecdsa_ways(m, alg, msg) {
        let name = rules::mech_name(mech.ty);
        let (private, public) = (&private, &public);
        checks.push((
            format!("{name} sign then verify"),
            Box::new(move || {
                let sig = match m.sign(&mech, private.h, &data, Parts::Single) {
                    Ok(s) => s,
                    Err(f) => return Outcome::Refused(f),
                };
                if sig.len() != 2 * c.len {
                    return Outcome::Wrong(format!("signature of {} bytes, want {}", sig.len(), 2 * c.len));
                }
                m.verify(&mech, public.h, &data, &sig, Parts::Single).into()
            }),
        ));
    }
    for (mech, data) in ecdsa_ways(m, alg, msg) {
        let name = rules::mech_name(mech.ty);
        let public = &public;
        checks.push((
            format!("{name} verify the vector's signature"),
            Box::new(move || m.verify(&mech, public.h, &data, vector_sig, Parts::Single).into()),
        ));
    }
    all(checks)
}

// --- RSA ----------------------------------------------------------------------------------

/// An RSA key's components (big-endian, no leading zeros); the private ones empty
/// for a public key.
#[derive(Clone, Default)]
struct Rsa {
    n: Vec<u8>,
    e: Vec<u8>,
    d: Vec<u8>,
    p: Vec<u8>,
    q: Vec<u8>,
    dp: Vec<u8>,
    dq: Vec<u8>,
    qinv: Vec<u8>,
}

impl Rsa {
    fn bits(&self) -> usize {
        self.n.len() * 8 - self.n[0].leading_zeros() as usize
    }

    /// Completes the CRT values from n, e, d, p, q (CAVP gives no more), with the
    /// rsa crate's arithmetic.
    fn with_crt(mut self) -> Self {
        use rsa::traits::PrivateKeyParts;
        let bu = |b: &[u8]| rsa::BoxedUint::from_be_slice_vartime(b);
        let k =
            rsa::RsaPrivateKey::from_components(bu(&self.n), bu(&self.e), bu(&self.d), vec![bu(&self.p), bu(&self.q)])
                .expect("a consistent CAVP key");
        self.dp = k.dp().expect("dp").to_be_bytes_trimmed_vartime().to_vec();
        self.dq = k.dq().expect("dq").to_be_bytes_trimmed_vartime().to_vec();
        self.qinv = k.crt_coefficient().expect("qinv").to_be_bytes_trimmed_vartime().to_vec();
        self
    }

    /// From a Wycheproof `publicKey` or `privateKey` object.
    fn wycheproof(v: &Value) -> Self {
        let g = |k: &str| v.get(k).and_then(|x| x.as_str()).map(|x| trim(&data::unhex(x))).unwrap_or_default();
        Rsa {
            n: g("modulus"),
            e: g("publicExponent"),
            d: g("privateExponent"),
            p: g("prime1"),
            q: g("prime2"),
            dp: g("exponent1"),
            dq: g("exponent2"),
            qinv: g("coefficient"),
        }
    }

    fn public<'a>(&self, m: &'a Module) -> Result<Key<'a>, Fail> {
        let t = Tmpl::key(CKO_PUBLIC_KEY, CKK_RSA)
            .bytes(CKA_MODULUS, &self.n)
            .bytes(CKA_PUBLIC_EXPONENT, &self.e)
            .bool(CKA_VERIFY, true)
            .bool(CKA_ENCRYPT, true);
        Key::create(m, &t)
    }

    fn private<'a>(&self, m: &'a Module) -> Result<Key<'a>, Fail> {
        let t = Tmpl::key(CKO_PRIVATE_KEY, CKK_RSA)
            .bytes(CKA_MODULUS, &self.n)
            .bytes(CKA_PUBLIC_EXPONENT, &self.e)
            .bytes(CKA_PRIVATE_EXPONENT, &self.d)
            .bytes(CKA_PRIME_1, &self.p)
            .bytes(CKA_PRIME_2, &self.q)
            .bytes(CKA_EXPONENT_1, &self.dp)
            .bytes(CKA_EXPONENT_2, &self.dq)
            .bytes(CKA_COEFFICIENT, &self.qinv)
            .bool(CKA_SIGN, true)
            .bool(CKA_DECRYPT, true);
        Key::create(m, &t)
    }
}

/// A CAVP SigVer record's key: `n`, `p`, `q` from its section, `e`, `d` its own.
fn cavp_rsa(rec: &Record) -> Rsa {
    Rsa {
        n: trim(&rec.bytes("n")),
        e: trim(&rec.bytes("e")),
        d: trim(&rec.bytes("d")),
        p: trim(&rec.bytes("p")),
        q: trim(&rec.bytes("q")),
        ..Default::default()
    }
}

/// RSA decryption refused.
const DECRYPT_REFUSAL: Refusal = Refusal::Codes(&[CKR_ENCRYPTED_DATA_INVALID, CKR_ENCRYPTED_DATA_LEN_RANGE]);

/// The two ways to verify an RSA signature: the hash-and-sign mechanism, and the
/// raw one over the hash (PKCS#1 v1.5 with the DigestInfo prepended).
fn rsa_ways(alg: &str, msg: &[u8], pss: Option<CK_ULONG>) -> [(Mech, Vec<u8>); 2] {
    let hm = mechs(alg);
    match pss {
        None => {
            let mut di = data::unhex(hm.digest_info);
            di.extend(hash(alg, msg));
            [(Mech::new(hm.pkcs1), msg.to_vec()), (Mech::new(CKM_RSA_PKCS), di)]
        }
        Some(salt_len) => {
            let p = Param::Pss { hash: hm.digest, mgf: hm.mgf, salt_len };
            [
                (Mech::with_param(hm.pss, p.clone()), msg.to_vec()),
                (Mech::with_param(CKM_RSA_PKCS_PSS, p), hash(alg, msg)),
            ]
        }
    }
}

/// Verifies `sig` both ways; for a valid case with the private key at hand, also
/// signs: PKCS#1 v1.5 is deterministic (the signature must be the vector's), PSS is
/// not (the module's own signature must verify).
fn rsa_sig_case(
    m: &Module,
    key: &Rsa,
    alg: &str,
    msg: &[u8],
    sig: &[u8],
    pss: Option<CK_ULONG>,
    sign: bool,
) -> Outcome {
    let public = match key.public(m) {
        Ok(k) => k,
        Err(f) => return Outcome::Refused(f),
    };
    let private = if sign {
        match key.private(m) {
            Ok(k) => Some(k),
            Err(f) => return Outcome::Refused(f),
        }
    } else {
        None
    };
    let mut checks: Vec<Check<'_>> = Vec::new();
    for (mech, data) in rsa_ways(alg, msg, pss) {
        let name = rules::mech_name(mech.ty);
        let public = &public;
        let private = private.as_ref();
        checks.push((
            name.clone(),
            Box::new(move || {
                if let Err(f) = m.verify(&mech, public.h, &data, sig, Parts::Single) {
                    return Outcome::Refused(Fail { at: leak(format!("verify: {}", f.at)), rv: f.rv });
                }
                let Some(private) = private else { return Outcome::Ok };
                let mine = match m.sign(&mech, private.h, &data, Parts::Single) {
                    Ok(s) => s,
                    Err(f) => return Outcome::Refused(Fail { at: leak(format!("sign: {}", f.at)), rv: f.rv }),
                };
                if pss.is_none() {
                    if mine == sig { Outcome::Ok } else { differs("signed", &mine, sig) }
                } else {
                    m.verify(&mech, public.h, &data, &mine, Parts::Single)
                        .map_err(|f| Fail { at: leak(format!("verify own: {}", f.at)), rv: f.rv })
                        .into()
                }
            }),
        ));
    }
    all(checks)
}

/// Rule 2 for RSA: a refused key outside the range the mechanism reports.
fn rsa_size_skip(m: &Module, ty: CK_MECHANISM_TYPE, key: &Rsa, o: &Outcome) -> Option<String> {
    rules::size_refused(m, ty, key.bits(), "bit", o)
}

/// OAEP: decrypt the vector's ciphertext; for a valid case also encrypt the message
/// and decrypt that.
fn oaep_case(m: &Module, key: &Rsa, mech: &Mech, msg: &[u8], ct: &[u8], expect: Expect) -> Outcome {
    let private = match key.private(m) {
        Ok(k) => k,
        Err(f) => return Outcome::Refused(f),
    };
    match m.decrypt(mech, private.h, ct, Parts::Single) {
        Ok(pt) if pt == msg => {}
        Ok(pt) => return differs("decrypted", &pt, msg),
        Err(f) => return Outcome::Refused(f),
    }
    if expect != Expect::Valid {
        return Outcome::Ok;
    }
    let public = match key.public(m) {
        Ok(k) => k,
        Err(f) => return Outcome::Refused(f),
    };
    let ct2 = match m.encrypt(mech, public.h, msg, Parts::Single) {
        Ok(c) => c,
        Err(f) => return Outcome::Refused(f),
    };
    match m.decrypt(mech, private.h, &ct2, Parts::Single) {
        Ok(pt) if pt == msg => Outcome::Ok,
        Ok(pt) => differs("round trip decrypted", &pt, msg),
        Err(f) => Outcome::Refused(f),
    }
}

/// RSA: PKCS#1 v1.5 and PSS signatures (2048 and 3072 bits, SHA-256/384/512), OAEP.
pub fn rsa(m: &Module) {
    let mut fam = Family::new(&m.name);
    for (file, pss) in [("cavp/rsa/SigVer15_186-3.rsp", false), ("cavp/rsa/SigVerPSS_186-3.rsp", true)] {
        let what = if pss {
            "CKM_SHA*_RSA_PKCS_PSS and CKM_RSA_PKCS_PSS verify; for P cases, sign then verify"
        } else {
            "CKM_SHA*_RSA_PKCS and CKM_RSA_PKCS verify; for P cases, sign (must equal S)"
        };
        let mut r = FileReport::new(file, what);
        let primary = if pss { CKM_RSA_PKCS_PSS } else { CKM_RSA_PKCS };
        let cases = data::rsp(&data::read(file), &["SHAAlg"]);
        if !rules::mechanism_missing(m, &mut r, primary, cases.len()) {
            for rec in cases {
                let alg = rec.val("SHAAlg").to_string();
                let valid = rec.val("Result").starts_with('P');
                let mut key = cavp_rsa(&rec);
                if valid {
                    key = key.with_crt();
                }
                let salt = pss.then(|| rec.bytes("SaltVal").len() as CK_ULONG);
                let expect = if valid { Expect::Valid } else { Expect::Invalid };
                let id = format!("[mod = {}] {alg} line {} Result {}", rec.val("mod"), rec.line, rec.val("Result"));
                let o = rsa_sig_case(m, &key, &alg, &rec.bytes("Msg"), &rec.bytes("S"), salt, valid);
                if let Some(why) = rsa_size_skip(m, primary, &key, &o) {
                    r.skip(why);
                    continue;
                }
                r.judge(id, expect, o, SIG_OR_KEY);
            }
        }
        fam.add(r);
    }
    // Wycheproof signatures.
    for (file, pss) in [
        ("wycheproof/rsa_signature_2048_sha256_test.json", false),
        ("wycheproof/rsa_pss_2048_sha256_mgf1_32_test.json", true),
    ] {
        let what = if pss {
            "CKM_SHA256_RSA_PKCS_PSS and CKM_RSA_PKCS_PSS verify"
        } else {
            "CKM_SHA256_RSA_PKCS and CKM_RSA_PKCS verify"
        };
        let mut r = FileReport::new(file, what);
        let primary = if pss { CKM_RSA_PKCS_PSS } else { CKM_RSA_PKCS };
        let v = data::wycheproof(file);
        if !rules::mechanism_missing(m, &mut r, primary, data::tests(&v).len()) {
            for (g, t) in data::tests(&v) {
                let key = Rsa::wycheproof(&g["publicKey"]);
                let alg = s(g, "sha");
                if pss {
                    // PKCS#11 names one hash for the message and MGF1.
                    assert_eq!(s(g, "mgfSha"), alg);
                }
                let salt = pss.then(|| data::n(g, "sLen") as CK_ULONG);
                let expect = Expect::wycheproof(s(t, "result"));
                let o = rsa_sig_case(m, &key, alg, &h(t, "msg"), &h(t, "sig"), salt, false);
                if let Some(why) = rsa_size_skip(m, primary, &key, &o) {
                    r.skip(why);
                    continue;
                }
                r.judge(tc(t), expect, o, SIG_OR_KEY);
            }
        }
        fam.add(r);
    }
    // OAEP: PKCS #1 v2.1's examples (SHA-1, no label), then Wycheproof (labels too).
    {
        let file = "misc/pkcs1v2.1-oaep-vect.txt";
        let mut r = FileReport::new(file, "CKM_RSA_PKCS_OAEP (SHA-1, MGF1-SHA1) decrypt, and encrypt-decrypt");
        let cases = oaep_vect(&data::read(file));
        if !rules::mechanism_missing(m, &mut r, CKM_RSA_PKCS_OAEP, cases.len()) {
            let mech =
                Mech::with_param(CKM_RSA_PKCS_OAEP, Param::Oaep { hash: CKM_SHA_1, mgf: CKG_MGF1_SHA1, label: vec![] });
            for (id, key, msg, ct) in cases {
                let o = oaep_case(m, &key, &mech, &msg, &ct, Expect::Valid);
                if let Some(why) = rsa_size_skip(m, CKM_RSA_PKCS_OAEP, &key, &o) {
                    r.skip(why);
                    continue;
                }
                r.judge(id, Expect::Valid, o, DECRYPT_REFUSAL);
            }
        }
        fam.add(r);
    }
    for file in [
        "wycheproof/rsa_oaep_2048_sha1_mgf1sha1_test.json",
        "wycheproof/rsa_oaep_2048_sha256_mgf1sha256_test.json",
        "wycheproof/rsa_oaep_2048_sha256_mgf1sha1_test.json",
        "wycheproof/rsa_oaep_2048_sha512_mgf1sha512_test.json",
    ] {
        let mut r = FileReport::new(file, "CKM_RSA_PKCS_OAEP decrypt, and encrypt-decrypt");
        let v = data::wycheproof(file);
        if !rules::mechanism_missing(m, &mut r, CKM_RSA_PKCS_OAEP, data::tests(&v).len()) {
            for (g, t) in data::tests(&v) {
                let key = Rsa::wycheproof(&g["privateKey"]);
                let p = Param::Oaep {
                    hash: mechs(s(g, "sha")).digest,
                    mgf: mechs(s(g, "mgfSha")).mgf,
                    label: h(t, "label"),
                };
                let mech = Mech::with_param(CKM_RSA_PKCS_OAEP, p);
                let expect = Expect::wycheproof(s(t, "result"));
                let o = oaep_case(m, &key, &mech, &h(t, "msg"), &h(t, "ct"), expect);
                if let Some(why) = rsa_size_skip(m, CKM_RSA_PKCS_OAEP, &key, &o) {
                    r.skip(why);
                    continue;
                }
                r.judge(tc(t), expect, o, DECRYPT_REFUSAL);
            }
        }
        fam.add(r);
    }
    fam.finish("rsa");
}

/// The cases of `oaep-vect.txt`: (id, key, message, ciphertext). Its values are
/// hex-byte lines under `# Label:` lines; the private key's `# Exponent:` is d.
fn oaep_vect(text: &str) -> Vec<(String, Rsa, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut key = Rsa::default();
    let mut in_private = false;
    let mut example = String::new();
    let mut label = String::new();
    let mut value: Vec<u8> = Vec::new();
    let mut msg = Vec::new();
    let mut finish =
        |label: &str, value: &mut Vec<u8>, key: &mut Rsa, in_private: bool, example: &str, msg: &mut Vec<u8>| {
            let v = std::mem::take(value);
            match (label, in_private) {
                ("Modulus", _) => key.n = trim(&v),
                ("Exponent", false) | ("Public exponent", true) => key.e = trim(&v),
                ("Exponent", true) => key.d = trim(&v),
                ("Prime 1", _) => key.p = trim(&v),
                ("Prime 2", _) => key.q = trim(&v),
                ("Prime exponent 1", _) => key.dp = trim(&v),
                ("Prime exponent 2", _) => key.dq = trim(&v),
                ("Coefficient", _) => key.qinv = trim(&v),
                ("Message", _) => *msg = v,
                ("Encryption", _) => out.push((format!("OAEP Example {example}"), key.clone(), msg.clone(), v)),
                _ => {}
            }
        };
    for line in text.lines() {
        let l = line.trim();
        if let Some(c) = l.strip_prefix('#') {
            let c = c.trim();
            if !label.is_empty() {
                finish(&label, &mut value, &mut key, in_private, &example, &mut msg);
                label.clear();
            }
            if c.starts_with("Public key") {
                in_private = false;
            } else if c.starts_with("Private key") {
                in_private = true;
            } else if let Some(e) = c.strip_prefix("OAEP Example ") {
                example = e.to_string();
            } else if let Some(lbl) = c.strip_suffix(':') {
                label = lbl.to_string();
            }
        } else if !l.is_empty() && !label.is_empty() && l.chars().all(|c| c.is_ascii_hexdigit() || c == ' ') {
            value.extend(data::unhex(&l.replace(' ', "")));
        } else if l.starts_with('=') && !label.is_empty() {
            finish(&label, &mut value, &mut key, in_private, &example, &mut msg);
            label.clear();
        }
    }
    if !label.is_empty() {
        finish(&label, &mut value, &mut key, in_private, &example, &mut msg);
    }
    out
}

// --- ECDH ---------------------------------------------------------------------------------

/// ECDH with the cofactor-less primitive (`CKM_ECDH1_DERIVE`, no KDF) into a
/// readable generic secret.
pub fn ecdh(m: &Module) {
    let mut fam = Family::new(&m.name);
    for (file, cname) in [
        ("wycheproof/ecdh_secp256r1_ecpoint_test.json", "P-256"),
        ("wycheproof/ecdh_secp384r1_ecpoint_test.json", "P-384"),
        ("wycheproof/ecdh_secp521r1_ecpoint_test.json", "P-521"),
    ] {
        let mut r = FileReport::new(file, "CKM_ECDH1_DERIVE (CKD_NULL), raw public point");
        let v = data::wycheproof(file);
        let c = curve(cname);
        if !rules::mechanism_missing(m, &mut r, CKM_ECDH1_DERIVE, data::tests(&v).len()) {
            for (_g, t) in data::tests(&v) {
                let expect = Expect::wycheproof(s(t, "result"));
                let o = ecdh_case(m, &c, &h(t, "private"), &h(t, "public"), &h(t, "shared"));
                if let Some(why) = rules::size_refused(m, CKM_ECDH1_DERIVE, c.bits, "bit", &o) {
                    r.skip(why);
                    continue;
                }
                r.judge(tc(t), expect, o, Refusal::AnyButBroken);
            }
        }
        fam.add(r);
    }
    fam.finish("ecdh");
}

fn ecdh_case(m: &Module, c: &Curve, d: &[u8], public: &[u8], shared: &[u8]) -> Outcome {
    let k = match ec_private(m, c, d, true) {
        Ok(k) => k,
        Err(f) => return Outcome::Refused(f),
    };
    let mech = Mech::with_param(CKM_ECDH1_DERIVE, Param::Ecdh { public: public.to_vec() });
    let t = Tmpl::key(CKO_SECRET_KEY, CKK_GENERIC_SECRET)
        .ulong(CKA_VALUE_LEN, c.len as CK_ULONG)
        .bool(CKA_EXTRACTABLE, true)
        .bool(CKA_SENSITIVE, false);
    let derived = match m.derive(&mech, k.h, &t) {
        Ok(h) => Key::adopt(m, h),
        Err(f) => return Outcome::Refused(f),
    };
    match m.attribute(derived.h, CKA_VALUE) {
        Ok(v) if v == shared => Outcome::Ok,
        Ok(v) => differs("shared secret", &v, shared),
        Err(f) => Outcome::Refused(f),
    }
}
