//! SHA-1 and SHA-2 digests; HMAC.

use cryptoki_sys::*;

use crate::data::{self, h, n, s, tc};
use crate::driver::{Key, Mech, Module, Parts, Tmpl};
use crate::report::{BAD_SIGNATURE, Expect, Family, FileReport, Outcome, Refusal, differs};
use crate::rules;
use crate::sym::{MacMechs, mac_case};

/// The digests: CAVP name, mechanism, HMAC mechanism, HMAC `_GENERAL`, output bytes.
const HASHES: [(&str, CK_MECHANISM_TYPE, CK_MECHANISM_TYPE, CK_MECHANISM_TYPE, usize); 5] = [
    ("SHA1", CKM_SHA_1, CKM_SHA_1_HMAC, CKM_SHA_1_HMAC_GENERAL, 20),
    ("SHA224", CKM_SHA224, CKM_SHA224_HMAC, CKM_SHA224_HMAC_GENERAL, 28),
    ("SHA256", CKM_SHA256, CKM_SHA256_HMAC, CKM_SHA256_HMAC_GENERAL, 32),
    ("SHA384", CKM_SHA384, CKM_SHA384_HMAC, CKM_SHA384_HMAC_GENERAL, 48),
    ("SHA512", CKM_SHA512, CKM_SHA512_HMAC, CKM_SHA512_HMAC_GENERAL, 64),
];

/// SHA-1, SHA-224, SHA-256, SHA-384, SHA-512: C_Digest and Update/Final.
pub fn sha(m: &Module) {
    let mut fam = Family::new(&m.name);
    for (name, ty, ..) in HASHES {
        for kind in ["ShortMsg", "LongMsg"] {
            let file = format!("cavp/sha/{name}{kind}.rsp");
            let mut r = FileReport::new(&file, format!("{} single and multi-part", rules::mech_name(ty)));
            let cases = data::rsp(&data::read(&file), &["Len"]);
            if rules::mechanism_missing(m, &mut r, ty, cases.len()) {
                fam.add(r);
                continue;
            }
            for c in cases {
                // `Len = 0` comes with `Msg = 00`: the length decides.
                let msg = &c.bytes("Msg")[..c.num("Len") / 8];
                let want = c.bytes("MD");
                let mut o = Outcome::Ok;
                for parts in [Parts::Single, Parts::Chunks(61)] {
                    match m.digest(&Mech::new(ty), msg, parts) {
                        Ok(d) if d == want => {}
                        Ok(d) => o = differs(parts, &d, &want),
                        Err(f) => o = Outcome::Refused(f),
                    }
                    if !matches!(o, Outcome::Ok) {
                        break;
                    }
                }
                r.judge(format!("Len {} ({})", c.val("Len"), c.id()), Expect::Valid, o, Refusal::Codes(&[]));
            }
            fam.add(r);
        }
    }
    fam.finish("sha");
}

/// An HMAC key: a generic secret that signs and verifies.
fn hmac_key<'a>(m: &'a Module, value: &[u8]) -> Result<Key<'a>, crate::driver::Fail> {
    let t = Tmpl::key(CKO_SECRET_KEY, CKK_GENERIC_SECRET)
        .bytes(CKA_VALUE, value)
        .bool(CKA_SIGN, true)
        .bool(CKA_VERIFY, true);
    Key::create(m, &t)
}

/// HMAC with SHA-1 and SHA-2.
pub fn hmac(m: &Module) {
    let mut fam = Family::new(&m.name);
    // RFC 2202 (SHA-1) and RFC 4231 (SHA-2) test cases.
    for (name, _, full, general, hlen) in HASHES {
        let file = match name {
            "SHA1" => "misc/rfc-2202-sha1.txt".to_string(),
            _ => format!("misc/rfc-4231-{}.txt", name.to_lowercase()),
        };
        let mut r =
            FileReport::new(&file, format!("{} sign and verify, single and multi-part", rules::mech_name(full)));
        let cases = data::rsp(&data::read(&file), &["Len"]);
        if !rules::mechanism_missing(m, &mut r, full, cases.len()) {
            for c in cases {
                let (key, msg, tag) = (c.bytes("Key"), c.bytes("Msg"), c.bytes("MD"));
                let o =
                    mac_case(m, hmac_key(m, &key), &MacMechs { full, general, len: hlen }, &msg, &tag, Expect::Valid);
                if let Some(why) = rules::size_refused(m, full, key.len(), "byte", &o) {
                    r.skip(why);
                    continue;
                }
                r.judge(c.id(), Expect::Valid, o, BAD_SIGNATURE);
            }
        }
        fam.add(r);
    }
    // Wycheproof.
    for (name, _, full, general, hlen) in HASHES {
        let file = format!("wycheproof/hmac_{}_test.json", name.to_lowercase());
        let mut r = FileReport::new(&file, format!("{}(_GENERAL) sign and verify", rules::mech_name(full)));
        let v = data::wycheproof(&file);
        if !rules::mechanism_missing(m, &mut r, full, data::tests(&v).len()) {
            for (g, t) in data::tests(&v) {
                let (key, msg, tag) = (h(t, "key"), h(t, "msg"), h(t, "tag"));
                assert_eq!(tag.len() * 8, n(g, "tagSize"));
                let expect = Expect::wycheproof(s(t, "result"));
                if tag.len() != hlen && rules::mechanism_unavailable(m, &mut r, &tc(t), general) {
                    continue;
                }
                let o = mac_case(m, hmac_key(m, &key), &MacMechs { full, general, len: hlen }, &msg, &tag, expect);
                let range_of = if tag.len() == hlen { full } else { general };
                if let Some(why) = rules::size_refused(m, range_of, key.len(), "byte", &o) {
                    r.skip(why);
                    continue;
                }
                r.judge(tc(t), expect, o, BAD_SIGNATURE);
            }
        }
        fam.add(r);
    }
    fam.finish("hmac");
}
