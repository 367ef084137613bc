//! The rules by which a case is skipped rather than run or failed. Each is a case the
//! PKCS#11 interface cannot express on a given module, and each skip is counted and
//! printed with its reason. There are three:
//!
//! 1. **A mechanism the module does not list.** ferrohsm must list every mechanism
//!    issue 3 names, so for ferrohsm a missing mechanism fails the file; a peer
//!    module (SoftHSM) may lack one, and then the cases that need it are skipped.
//! 2. **A key size outside the module's advertised range**, refused. When creating or
//!    using a key fails with `CKR_KEY_SIZE_RANGE` (or the key's value is refused at
//!    import, `CKR_ATTRIBUTE_VALUE_INVALID` / `CKR_TEMPLATE_INCONSISTENT`) *and* the
//!    size lies outside the range `C_GetMechanismInfo` reports for the mechanism (in
//!    the spec's unit for it: bits for RSA and EC, bytes for AES and HMAC), the case
//!    is skipped: the module said so and did so. A refusal of a size inside the
//!    advertised range is a failure. (So ferrohsm's 2048-bit RSA floor skips the
//!    1024-bit OAEP examples, and SoftHSM's HMAC floor of one hash length skips
//!    Wycheproof's shorter HMAC keys.)
//! 3. **An optional GCM parameter, refused at init.** SP 800-38D recommends 96-bit
//!    IVs and lets an implementation support only those (§5.2.1.1), and allows 32- and
//!    64-bit tags only for some applications (§5.2.1.2, appendix C). A case with
//!    another IV length, or with such a tag, that the module refuses at
//!    `C_EncryptInit`/`C_DecryptInit` with `CKR_MECHANISM_PARAM_INVALID` is skipped.
//!    (An empty IV is not optional: it must be refused, and is judged.)

use cryptoki::mechanism::MechanismType;
use cryptoki_sys::*;

use crate::driver::{Fail, Module};
use crate::report::{FileReport, Outcome};

/// `CKM_AES_GCM` rather than `4229`.
pub fn mech_name(ty: CK_MECHANISM_TYPE) -> String {
    // The ones cryptoki does not name.
    let own = match ty {
        CKM_AES_KEY_WRAP_KWP => "CKM_AES_KEY_WRAP_KWP",
        CKM_AES_KEY_WRAP_PAD => "CKM_AES_KEY_WRAP_PAD",
        CKM_AES_CMAC_GENERAL => "CKM_AES_CMAC_GENERAL",
        CKM_SHA224 => "CKM_SHA224",
        CKM_SHA224_HMAC => "CKM_SHA224_HMAC",
        CKM_SHA224_HMAC_GENERAL => "CKM_SHA224_HMAC_GENERAL",
        _ => "",
    };
    if !own.is_empty() {
        return own.into();
    }
    MechanismType::try_from(ty).map(|m| m.to_string()).unwrap_or_else(|_| format!("{ty:#x}"))
}

/// Rule 1 for a whole file of `cases` cases: true (and the file is failed or its
/// cases skipped) when the module does not list `ty`.
pub fn mechanism_missing(m: &Module, r: &mut FileReport, ty: CK_MECHANISM_TYPE, cases: usize) -> bool {
    if m.mech_info(ty).is_some() {
        return false;
    }
    if m.strict {
        r.fail(format!("all {cases} cases"), format!("{} is not in C_GetMechanismList", mech_name(ty)));
    } else {
        for _ in 0..cases {
            r.skip(format!("rule 1: {} not offered by the module", mech_name(ty)));
        }
    }
    true
}

/// Rule 1 for one case: true (and the case is failed or skipped) when the module
/// does not list `ty`.
pub fn mechanism_unavailable(m: &Module, r: &mut FileReport, id: &str, ty: CK_MECHANISM_TYPE) -> bool {
    if m.mech_info(ty).is_some() {
        return false;
    }
    if m.strict {
        r.fail(id, format!("{} is not in C_GetMechanismList", mech_name(ty)));
    } else {
        r.skip(format!("rule 1: {} not offered by the module", mech_name(ty)));
    }
    true
}

/// Rule 2: the skip reason when `f` is a size refusal of a key of `size` (in the
/// mechanism's unit) outside the range the module reports for `ty`; `None` when the
/// refusal is not justified that way (and so is judged).
pub fn size_refusal(m: &Module, ty: CK_MECHANISM_TYPE, size: usize, unit: &str, f: Fail) -> Option<String> {
    if !matches!(f.rv, CKR_KEY_SIZE_RANGE | CKR_ATTRIBUTE_VALUE_INVALID | CKR_TEMPLATE_INCONSISTENT) {
        return None;
    }
    let info = m.mech_info(ty)?;
    let (lo, hi) = (info.ulMinKeySize as usize, info.ulMaxKeySize as usize);
    if (lo..=hi).contains(&size) {
        return None;
    }
    Some(format!("rule 2: {size}-{unit} key outside {}'s range {lo}..={hi} ({f})", mech_name(ty)))
}

/// Rule 2 applied to an outcome: the skip reason, if any.
pub fn size_refused(m: &Module, ty: CK_MECHANISM_TYPE, size: usize, unit: &str, o: &Outcome) -> Option<String> {
    match o {
        Outcome::Refused(f) => size_refusal(m, ty, size, unit, *f),
        _ => None,
    }
}

/// Rule 2 for the generic secrets the key-wrap vectors wrap: their range is
/// `CKM_GENERIC_SECRET_KEY_GEN`'s, in bits.
pub fn generic_secret_refused(m: &Module, len: usize, f: Fail) -> Option<String> {
    size_refusal(m, CKM_GENERIC_SECRET_KEY_GEN, len * 8, "bit generic secret", f)
}

/// Rule 3: the skip reason when `o` is an init-time refusal of an optional GCM
/// parameter.
pub fn gcm_optional_parameter(o: &Outcome, iv_bits: usize, tag_bits: usize) -> Option<String> {
    let Outcome::Refused(f) = o else { return None };
    let at_init = matches!(f.at, "C_EncryptInit" | "C_DecryptInit");
    if !at_init || f.rv != CKR_MECHANISM_PARAM_INVALID {
        return None;
    }
    if iv_bits != 96 && iv_bits != 0 {
        return Some(format!("rule 3: {iv_bits}-bit GCM IV refused at init"));
    }
    if tag_bits == 32 || tag_bits == 64 {
        return Some(format!("rule 3: {tag_bits}-bit GCM tag refused at init"));
    }
    None
}
