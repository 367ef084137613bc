//! AES: ECB, CBC and CTR; GCM; key wrap (KW and KWP); CMAC.

use cryptoki_sys::*;

use crate::data::{self, Record, h, n, s, tc};
use crate::driver::{Fail, Key, Mech, Module, Param, Parts, Tmpl};
use crate::report::{BAD_SIGNATURE, Expect, Family, FileReport, Outcome, Refusal, differs};
use crate::rules;

/// An AES key for every use the vectors make of it.
fn aes_key<'a>(m: &'a Module, value: &[u8]) -> Result<Key<'a>, Fail> {
    let t = Tmpl::key(CKO_SECRET_KEY, CKK_AES)
        .bytes(CKA_VALUE, value)
        .bool(CKA_ENCRYPT, true)
        .bool(CKA_DECRYPT, true)
        .bool(CKA_SIGN, true)
        .bool(CKA_VERIFY, true)
        .bool(CKA_WRAP, true)
        .bool(CKA_UNWRAP, true);
    Key::create(m, &t)
}

/// Both directions of a cipher, single-part and in odd-sized parts.
const WAYS: [Parts; 2] = [Parts::Single, Parts::Chunks(13)];

/// Encrypts `pt` expecting `ct` and decrypts `ct` expecting `pt`, each both ways;
/// `dirs` says which directions the vector covers.
fn cipher_case(m: &Module, mech: &Mech, key: &[u8], pt: &[u8], ct: &[u8], enc: bool, dec: bool) -> Outcome {
    let k = match aes_key(m, key) {
        Ok(k) => k,
        Err(f) => return Outcome::Refused(f),
    };
    for parts in WAYS {
        if enc {
            match m.encrypt(mech, k.h, pt, parts) {
                Ok(out) if out == ct => {}
                Ok(out) => return differs(format!("encrypt {parts}"), &out, ct),
                Err(f) => return Outcome::Refused(f),
            }
        }
        if dec {
            match m.decrypt(mech, k.h, ct, parts) {
                Ok(out) if out == pt => {}
                Ok(out) => return differs(format!("decrypt {parts}"), &out, pt),
                Err(f) => return Outcome::Refused(f),
            }
        }
    }
    Outcome::Ok
}

/// AES-ECB, AES-CBC, AES-CTR.
pub fn aes(m: &Module) {
    let mut fam = Family::new(&m.name);
    // CAVP AESAVS: KAT (GFSbox, KeySbox, VarKey, VarTxt) and MMT.
    for mode in ["ECB", "CBC"] {
        let ty = if mode == "ECB" { CKM_AES_ECB } else { CKM_AES_CBC };
        for kind in ["GFSbox", "KeySbox", "VarKey", "VarTxt", "MMT"] {
            for bits in [128, 192, 256] {
                let file = format!("cavp/aes/{mode}{kind}{bits}.rsp");
                let mut r = FileReport::new(&file, format!("CKM_AES_{mode} encrypt/decrypt, single and multi-part"));
                let cases = data::rsp(&data::read(&file), &["COUNT"]);
                if rules::mechanism_missing(m, &mut r, ty, cases.len()) {
                    fam.add(r);
                    continue;
                }
                for c in cases {
                    let mech = match mode {
                        "ECB" => Mech::new(ty),
                        _ => Mech::with_param(ty, Param::Bytes(c.bytes("IV"))),
                    };
                    let (enc, dec) = (c.has("ENCRYPT"), c.has("DECRYPT"));
                    let o =
                        cipher_case(m, &mech, &c.bytes("KEY"), &c.bytes("PLAINTEXT"), &c.bytes("CIPHERTEXT"), enc, dec);
                    r.judge(c.id(), Expect::Valid, o, Refusal::Codes(&[]));
                }
                fam.add(r);
            }
        }
    }
    // SP 800-38A Appendix F: ECB, CBC and CTR examples (both directions each).
    {
        let file = "misc/sp800-38a.txt";
        let mut r = FileReport::new(file, "CKM_AES_ECB/CBC/CTR encrypt/decrypt, single and multi-part");
        for c in data::rsp(&data::read(file), &["COUNT"]) {
            let (ty, mode) = if c.has("ECB") {
                (CKM_AES_ECB, "ECB")
            } else if c.has("CBC") {
                (CKM_AES_CBC, "CBC")
            } else {
                (CKM_AES_CTR, "CTR")
            };
            if rules::mechanism_unavailable(m, &mut r, &c.id(), ty) {
                continue;
            }
            let mech = match mode {
                "ECB" => Mech::new(ty),
                "CBC" => Mech::with_param(ty, Param::Bytes(c.bytes("IV"))),
                // The examples increment the whole counter block.
                _ => Mech::with_param(ty, Param::Ctr { counter_bits: 128, block: c.bytes("IV").try_into().unwrap() }),
            };
            let o = cipher_case(m, &mech, &c.bytes("KEY"), &c.bytes("PLAINTEXT"), &c.bytes("CIPHERTEXT"), true, true);
            r.judge(format!("{mode} {}", c.id()), Expect::Valid, o, Refusal::Codes(&[]));
        }
        fam.add(r);
    }
    // RFC 3686: the counter block is nonce (4) || IV (8) || a 32-bit block counter.
    for bits in [128, 192, 256] {
        let file = format!("misc/rfc3686-aes-{bits}-ctr.txt");
        let mut r = FileReport::new(&file, "CKM_AES_CTR (32-bit counter) encrypt/decrypt, single and multi-part");
        let cases = data::rsp(&data::read(&file), &["COUNT"]);
        if rules::mechanism_missing(m, &mut r, CKM_AES_CTR, cases.len()) {
            fam.add(r);
            continue;
        }
        for c in cases {
            let block = c.bytes("IV").try_into().unwrap();
            let mech = Mech::with_param(CKM_AES_CTR, Param::Ctr { counter_bits: 32, block });
            let o = cipher_case(m, &mech, &c.bytes("KEY"), &c.bytes("PLAINTEXT"), &c.bytes("CIPHERTEXT"), true, true);
            r.judge(c.id(), Expect::Valid, o, Refusal::Codes(&[]));
        }
        fam.add(r);
    }
    fam.finish("aes");
}

// --- GCM ----------------------------------------------------------------------------------

/// A refused decryption: the tag or the length is wrong, or (for a bad IV size) the
/// parameter. `CKR_AEAD_DECRYPT_FAILED` is PKCS#11 3.0's code for exactly this and
/// counts too.
const GCM_REFUSAL: Refusal = Refusal::Codes(&[
    CKR_ENCRYPTED_DATA_INVALID,
    CKR_ENCRYPTED_DATA_LEN_RANGE,
    CKR_AEAD_DECRYPT_FAILED,
    CKR_MECHANISM_PARAM_INVALID,
]);

struct GcmCase<'a> {
    key: &'a [u8],
    iv: &'a [u8],
    aad: &'a [u8],
    tag_bits: usize,
    pt: &'a [u8],
    /// Ciphertext and tag.
    ct_tag: Vec<u8>,
}

/// Encrypts (when `enc`) and decrypts, single and multi-part.
fn gcm_case(m: &Module, c: &GcmCase<'_>, enc: bool) -> Outcome {
    let k = match aes_key(m, c.key) {
        Ok(k) => k,
        Err(f) => return Outcome::Refused(f),
    };
    let mech = Mech::with_param(
        CKM_AES_GCM,
        Param::Gcm { iv: c.iv.to_vec(), aad: c.aad.to_vec(), tag_bits: c.tag_bits as CK_ULONG },
    );
    for parts in [Parts::Single, Parts::Chunks(17)] {
        if enc {
            match m.encrypt(&mech, k.h, c.pt, parts) {
                Ok(out) if out == c.ct_tag => {}
                Ok(out) => return differs(format!("encrypt {parts}"), &out, &c.ct_tag),
                Err(f) => return Outcome::Refused(f),
            }
        }
        match m.decrypt(&mech, k.h, &c.ct_tag, parts) {
            Ok(out) if out == c.pt => {}
            Ok(out) => return differs(format!("decrypt {parts}"), &out, c.pt),
            Err(f) => return Outcome::Refused(f),
        }
    }
    Outcome::Ok
}

/// AES-GCM.
pub fn gcm(m: &Module) {
    let mut fam = Family::new(&m.name);
    for (kind, enc) in [("gcmEncryptExtIV", true), ("gcmDecrypt", false)] {
        for bits in [128, 192, 256] {
            let file = format!("cavp/gcm/{kind}{bits}.rsp");
            let what = if enc { "CKM_AES_GCM encrypt and decrypt" } else { "CKM_AES_GCM decrypt" };
            let mut r = FileReport::new(&file, what);
            let cases = data::rsp(&data::read(&file), &["Count"]);
            if rules::mechanism_missing(m, &mut r, CKM_AES_GCM, cases.len()) {
                fam.add(r);
                continue;
            }
            for rec in cases {
                let (key, iv, aad) = (rec.bytes("Key"), rec.bytes("IV"), rec.bytes("AAD"));
                let mut ct_tag = rec.bytes("CT");
                ct_tag.extend(rec.bytes("Tag"));
                let fail = rec.has("FAIL");
                let pt = if fail { Vec::new() } else { rec.bytes("PT") };
                let c = GcmCase { key: &key, iv: &iv, aad: &aad, tag_bits: rec.num("Taglen"), pt: &pt, ct_tag };
                let expect = if fail { Expect::Invalid } else { Expect::Valid };
                let o = gcm_case(m, &c, enc && !fail);
                if let Some(why) = rules::gcm_optional_parameter(&o, iv.len() * 8, c.tag_bits) {
                    r.skip(why);
                    continue;
                }
                r.judge(id_gcm(&rec), expect, o, GCM_REFUSAL);
            }
            fam.add(r);
        }
    }
    {
        let file = "wycheproof/aes_gcm_test.json";
        let mut r = FileReport::new(file, "CKM_AES_GCM encrypt and decrypt");
        let v = data::wycheproof(file);
        if !rules::mechanism_missing(m, &mut r, CKM_AES_GCM, data::tests(&v).len()) {
            for (g, t) in data::tests(&v) {
                let (key, iv, aad, msg) = (h(t, "key"), h(t, "iv"), h(t, "aad"), h(t, "msg"));
                let mut ct_tag = h(t, "ct");
                ct_tag.extend(h(t, "tag"));
                let expect = Expect::wycheproof(s(t, "result"));
                let c = GcmCase { key: &key, iv: &iv, aad: &aad, tag_bits: n(g, "tagSize"), pt: &msg, ct_tag };
                let o = gcm_case(m, &c, expect != Expect::Invalid);
                if let Some(why) = rules::gcm_optional_parameter(&o, iv.len() * 8, c.tag_bits) {
                    r.skip(why);
                    continue;
                }
                r.judge(tc(t), expect, o, GCM_REFUSAL);
            }
        }
        fam.add(r);
    }
    fam.finish("gcm");
}

fn id_gcm(rec: &Record) -> String {
    format!(
        "{} [IVlen {} Taglen {} PTlen {} AADlen {}]",
        rec.id(),
        rec.val("IVlen"),
        rec.val("Taglen"),
        rec.val("PTlen"),
        rec.val("AADlen")
    )
}

// --- Key wrap -----------------------------------------------------------------------------

/// A refused unwrap.
const UNWRAP_REFUSAL: Refusal = Refusal::Codes(&[CKR_WRAPPED_KEY_INVALID, CKR_WRAPPED_KEY_LEN_RANGE]);
/// A refused wrap of a key whose length the algorithm cannot take.
const WRAP_REFUSAL: Refusal = Refusal::Codes(&[CKR_KEY_SIZE_RANGE, CKR_KEY_NOT_WRAPPABLE, CKR_DATA_LEN_RANGE]);

/// The key the vectors wrap and unwrap: a generic secret whose value is the vector's
/// plaintext, extractable and readable.
fn wrapped_template() -> Tmpl {
    Tmpl::key(CKO_SECRET_KEY, CKK_GENERIC_SECRET).bool(CKA_EXTRACTABLE, true).bool(CKA_SENSITIVE, false)
}

/// Unwraps `ct` and reads the key's value.
fn unwrap_value(m: &Module, mech: &Mech, kek: CK_OBJECT_HANDLE, ct: &[u8]) -> Result<Vec<u8>, Fail> {
    let h = m.unwrap(mech, kek, ct, &wrapped_template())?;
    let k = Key::adopt(m, h);
    m.attribute(k.h, CKA_VALUE)
}

enum Direction {
    /// Unwrapping `ct` gives `msg`, and wrapping `msg` gives `ct`.
    Both,
    /// Unwrapping `ct` must give `msg` (or be refused, for an invalid case).
    Unwrap,
    /// Wrapping `msg` must give `ct` (or be refused, for an invalid case).
    Wrap,
}

/// One key-wrap case. `Err(reason)` is a skip.
fn wrap_case(
    m: &Module,
    ty: CK_MECHANISM_TYPE,
    kek: &[u8],
    msg: &[u8],
    ct: &[u8],
    what: Direction,
) -> Result<Outcome, String> {
    let k = match aes_key(m, kek) {
        Ok(k) => k,
        Err(f) => return Ok(Outcome::Refused(f)),
    };
    let mech = Mech::new(ty);
    if matches!(what, Direction::Both | Direction::Unwrap) {
        match unwrap_value(m, &mech, k.h, ct) {
            Ok(v) if v == msg => {}
            Ok(v) => return Ok(differs("unwrapped", &v, msg)),
            Err(f) => return Ok(Outcome::Refused(f)),
        }
    }
    if matches!(what, Direction::Both | Direction::Wrap) {
        let t = wrapped_template().bytes(CKA_VALUE, msg);
        let target = match Key::create(m, &t) {
            Ok(t) => t,
            Err(f) => {
                return match rules::generic_secret_refused(m, msg.len(), f) {
                    Some(why) => Err(why),
                    None => Ok(Outcome::Refused(f)),
                };
            }
        };
        match m.wrap(&mech, k.h, target.h) {
            Ok(w) if w == ct => {}
            Ok(w) => return Ok(differs("wrapped", &w, ct)),
            Err(f) => return Ok(Outcome::Refused(f)),
        }
    }
    Ok(Outcome::Ok)
}

/// AES key wrap, RFC 3394 (KW) and RFC 5649 (KWP), through C_WrapKey and C_UnwrapKey.
pub fn keywrap(m: &Module) {
    let mut fam = Family::new(&m.name);
    for alg in ["KW", "KWP"] {
        let ty = if alg == "KW" { CKM_AES_KEY_WRAP } else { m.kwp_mechanism() };
        for dir in ["AE", "AD"] {
            for bits in [128, 192, 256] {
                let file = format!("cavp/keywrap/{alg}_{dir}_{bits}.txt");
                let op = if dir == "AE" { "C_WrapKey and C_UnwrapKey" } else { "C_UnwrapKey" };
                let mut r = FileReport::new(&file, format!("{} {op}", rules::mech_name(ty)));
                let cases = data::rsp(&data::read(&file), &["COUNT"]);
                if rules::mechanism_missing(m, &mut r, ty, cases.len()) {
                    fam.add(r);
                    continue;
                }
                for c in cases {
                    let fail = c.has("FAIL");
                    let (msg, what) = if dir == "AE" {
                        (c.bytes("P"), Direction::Both)
                    } else if fail {
                        (Vec::new(), Direction::Unwrap)
                    } else {
                        (c.bytes("P"), Direction::Unwrap)
                    };
                    let expect = if fail { Expect::Invalid } else { Expect::Valid };
                    match wrap_case(m, ty, &c.bytes("K"), &msg, &c.bytes("C"), what) {
                        Ok(o) => r.judge(c.id(), expect, o, UNWRAP_REFUSAL),
                        Err(why) => r.skip(why),
                    }
                }
                fam.add(r);
            }
        }
    }
    for (file, ty) in
        [("wycheproof/aes_wrap_test.json", CKM_AES_KEY_WRAP), ("wycheproof/aes_kwp_test.json", m.kwp_mechanism())]
    {
        let mut r = FileReport::new(file, format!("{} C_WrapKey and C_UnwrapKey", rules::mech_name(ty)));
        let v = data::wycheproof(file);
        if !rules::mechanism_missing(m, &mut r, ty, data::tests(&v).len()) {
            for (_g, t) in data::tests(&v) {
                let (key, msg, ct) = (h(t, "key"), h(t, "msg"), h(t, "ct"));
                let expect = Expect::wycheproof(s(t, "result"));
                // What a case exercises: a valid one both ways; an invalid one with a
                // wrapped key (or with nothing at all) must not unwrap; an invalid one
                // with only a plaintext (a length the algorithm cannot wrap) must not
                // wrap.
                let (what, refusal) = match expect {
                    Expect::Valid => (Direction::Both, UNWRAP_REFUSAL),
                    _ if !ct.is_empty() || msg.is_empty() => (Direction::Unwrap, UNWRAP_REFUSAL),
                    _ => (Direction::Wrap, WRAP_REFUSAL),
                };
                match wrap_case(m, ty, &key, &msg, &ct, what) {
                    Ok(o) => r.judge(tc(t), expect, o, refusal),
                    Err(why) => r.skip(why),
                }
            }
        }
        fam.add(r);
    }
    fam.finish("keywrap");
}

// --- CMAC ---------------------------------------------------------------------------------

/// A key the module must refuse (at import or at init).
const BAD_KEY: Refusal = Refusal::Codes(&[CKR_ATTRIBUTE_VALUE_INVALID, CKR_KEY_SIZE_RANGE, CKR_TEMPLATE_INCONSISTENT]);

/// A MAC's mechanisms: the full-length one, its `_GENERAL` form (for shorter tags)
/// and the full length.
pub struct MacMechs {
    pub full: CK_MECHANISM_TYPE,
    pub general: CK_MECHANISM_TYPE,
    pub len: usize,
}

/// Signs (valid cases) and verifies a MAC, single and multi-part; a tag shorter than
/// the full MAC goes through the `_GENERAL` mechanism.
pub fn mac_case(
    m: &Module,
    key: Result<Key<'_>, Fail>,
    mechs: &MacMechs,
    msg: &[u8],
    tag: &[u8],
    expect: Expect,
) -> Outcome {
    let k = match key {
        Ok(k) => k,
        Err(f) => return Outcome::Refused(f),
    };
    let mech = if tag.len() == mechs.len {
        Mech::new(mechs.full)
    } else {
        Mech::with_param(mechs.general, Param::Ulong(tag.len() as CK_ULONG))
    };
    for parts in [Parts::Single, Parts::Chunks(7)] {
        if expect == Expect::Valid {
            match m.sign(&mech, k.h, msg, parts) {
                Ok(t) if t == tag => {}
                Ok(t) => return differs(format!("sign {parts}"), &t, tag),
                Err(f) => return Outcome::Refused(f),
            }
        }
        if let Err(f) = m.verify(&mech, k.h, msg, tag, parts) {
            return Outcome::Refused(f);
        }
    }
    Outcome::Ok
}

const CMAC: MacMechs = MacMechs { full: CKM_AES_CMAC, general: CKM_AES_CMAC_GENERAL, len: 16 };

/// AES-CMAC.
pub fn cmac(m: &Module) {
    let mut fam = Family::new(&m.name);
    for bits in [128, 192, 256] {
        let file = format!("misc/sp800-38b-aes{bits}.txt");
        let mut r = FileReport::new(&file, "CKM_AES_CMAC sign and verify, single and multi-part");
        let cases = data::rsp(&data::read(&file), &["COUNT"]);
        if !rules::mechanism_missing(m, &mut r, CKM_AES_CMAC, cases.len()) {
            for c in cases {
                let key = c.bytes("KEY");
                let o = mac_case(m, aes_key(m, &key), &CMAC, &c.bytes("MESSAGE"), &c.bytes("OUTPUT"), Expect::Valid);
                r.judge(c.id(), Expect::Valid, o, BAD_SIGNATURE);
            }
        }
        fam.add(r);
    }
    {
        let file = "wycheproof/aes_cmac_test.json";
        let mut r = FileReport::new(file, "CKM_AES_CMAC(_GENERAL) sign and verify");
        let v = data::wycheproof(file);
        if !rules::mechanism_missing(m, &mut r, CKM_AES_CMAC, data::tests(&v).len()) {
            for (g, t) in data::tests(&v) {
                let (key, msg, tag) = (h(t, "key"), h(t, "msg"), h(t, "tag"));
                let expect = Expect::wycheproof(s(t, "result"));
                if tag.len() != 16 && rules::mechanism_unavailable(m, &mut r, &tc(t), CKM_AES_CMAC_GENERAL) {
                    continue;
                }
                // A key of a size AES does not have must be refused; any other invalid
                // case has a bad tag.
                let bad_key = ![128, 192, 256].contains(&n(g, "keySize"));
                let refusal = if bad_key { BAD_KEY } else { BAD_SIGNATURE };
                let o = mac_case(m, aes_key(m, &key), &CMAC, &msg, &tag, expect);
                r.judge(tc(t), expect, o, refusal);
            }
        }
        fam.add(r);
    }
    fam.finish("cmac");
}
