//! Message-based signing and verification (PKCS#11 3.0 §5.14, §5.16, through the 3.0
//! function list) and the 3.2 `C_VerifySignature*` functions (through the 3.2 list),
//! on ECDSA and ML-DSA: per-message contexts, multi-part messages, the length query,
//! operation state, bad arguments and key usage.
//!
//! Run on both providers:
//! `cargo test -p ferrohsm-pkcs11 --test message` and
//! `cargo test -p ferrohsm-pkcs11 --no-default-features --features rustcrypto --test message`.

#[macro_use]
mod common;

use std::ptr;

use common::*;

/// Calls a function of the 3.0 list.
macro_rules! call3 {
    ($name:ident $(, $arg:expr)* $(,)?) => {
        unsafe { (f3().$name.expect(stringify!($name)))($($arg),*) }
    };
}

/// Calls a function of the 3.2 list.
macro_rules! call32 {
    ($name:ident $(, $arg:expr)* $(,)?) => {
        unsafe { (f32().$name.expect(stringify!($name)))($($arg),*) }
    };
}

const NULL: *mut std::ffi::c_void = ptr::null_mut();
const ML_DSA_44_SIG: usize = 2420;

fn ec_pair(h: &Hsm, s: CK_SESSION_HANDLE, sign: bool) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let public = Tmpl::new().bytes(CKA_EC_PARAMS, P256).bool(CKA_VERIFY, true);
    let private = Tmpl::new().bool(CKA_SIGN, sign);
    h.generate_pair(s, CKM_EC_KEY_PAIR_GEN, &public, &private).unwrap()
}

fn ml_dsa_pair(h: &Hsm, s: CK_SESSION_HANDLE) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let public = Tmpl::new().ulong(CKA_PARAMETER_SET, CKP_ML_DSA_44).bool(CKA_VERIFY, true);
    let private = Tmpl::new().bool(CKA_SIGN, true);
    h.generate_pair(s, CKM_ML_DSA_KEY_PAIR_GEN, &public, &private).unwrap()
}

fn context(ctx: &[u8]) -> CK_SIGN_ADDITIONAL_CONTEXT {
    context_param(CKH_HEDGE_PREFERRED, ctx)
}

/// A parameter as the message functions take it.
fn param<T>(p: &mut T) -> (*mut std::ffi::c_void, CK_ULONG) {
    (p as *mut T as *mut _, size_of::<T>() as CK_ULONG)
}

fn mech_with<T>(ty: CK_MECHANISM_TYPE, p: &mut T) -> CK_MECHANISM {
    let (pp, len) = param(p);
    CK_MECHANISM { mechanism: ty, pParameter: pp, ulParameterLen: len }
}

/// `C_SignMessage` with a length query first (which must consume nothing).
fn sign_message(s: CK_SESSION_HANDLE, p: (*mut std::ffi::c_void, CK_ULONG), data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    let d = data.as_ptr() as *mut u8;
    let mut n: CK_ULONG = 0;
    match call3!(C_SignMessage, s, p.0, p.1, d, data.len() as CK_ULONG, ptr::null_mut(), &mut n) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut out = vec![0u8; n as usize];
    match call3!(C_SignMessage, s, p.0, p.1, d, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n) {
        CKR_OK => {
            out.truncate(n as usize);
            Ok(out)
        }
        rv => Err(rv),
    }
}

fn verify_message(s: CK_SESSION_HANDLE, p: (*mut std::ffi::c_void, CK_ULONG), data: &[u8], sig: &[u8]) -> CK_RV {
    let (d, g) = (data.as_ptr() as *mut u8, sig.as_ptr() as *mut u8);
    call3!(C_VerifyMessage, s, p.0, p.1, d, data.len() as CK_ULONG, g, sig.len() as CK_ULONG)
}

/// `C_VerifyInit` + `C_Verify`.
fn verify(s: CK_SESSION_HANDLE, m: &mut CK_MECHANISM, key: CK_OBJECT_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    match call!(C_VerifyInit, s, m, key) {
        CKR_OK => {}
        rv => return rv,
    }
    call!(C_Verify, s, data.as_ptr() as *mut _, data.len() as CK_ULONG, sig.as_ptr() as *mut _, sig.len() as CK_ULONG)
}

/// `C_SignMessageNext` with more to follow.
fn sign_next(s: CK_SESSION_HANDLE, p: (*mut std::ffi::c_void, CK_ULONG), part: &[u8]) -> CK_RV {
    let d = part.as_ptr() as *mut u8;
    call3!(C_SignMessageNext, s, p.0, p.1, d, part.len() as CK_ULONG, ptr::null_mut(), ptr::null_mut())
}

/// `C_SignMessageNext` with the last part: length query, too small, then the signature.
fn sign_last(s: CK_SESSION_HANDLE, p: (*mut std::ffi::c_void, CK_ULONG), part: &[u8], want: usize) -> Vec<u8> {
    let d = part.as_ptr() as *mut u8;
    let l = part.len() as CK_ULONG;
    let mut n: CK_ULONG = 0;
    assert_rv!(call3!(C_SignMessageNext, s, p.0, p.1, d, l, ptr::null_mut(), &mut n), CKR_OK);
    assert_eq!(n as usize, want);
    let mut out = vec![0u8; want];
    n = 3;
    assert_rv!(call3!(C_SignMessageNext, s, p.0, p.1, d, l, out.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
    assert_eq!(n as usize, want);
    assert_rv!(call3!(C_SignMessageNext, s, p.0, p.1, d, l, out.as_mut_ptr(), &mut n), CKR_OK);
    out.truncate(n as usize);
    out
}

fn verify_next(s: CK_SESSION_HANDLE, p: (*mut std::ffi::c_void, CK_ULONG), part: &[u8], sig: Option<&[u8]>) -> CK_RV {
    let d = part.as_ptr() as *mut u8;
    let (g, gl) = sig.map_or((ptr::null_mut(), 0), |g| (g.as_ptr() as *mut u8, g.len() as CK_ULONG));
    call3!(C_VerifyMessageNext, s, p.0, p.1, d, part.len() as CK_ULONG, g, gl)
}

const NONE: (*mut std::ffi::c_void, CK_ULONG) = (NULL, 0);

#[test]
fn mechanism_info_reports_message_signing_where_it_works() {
    let _h = Hsm::fresh();
    for m in [CKM_ECDSA, CKM_ECDSA_SHA256, CKM_ML_DSA, CKM_HASH_ML_DSA, CKM_SHA256_HMAC, CKM_SLH_DSA] {
        let mut i = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
        assert_rv!(call!(C_GetMechanismInfo, 0, m, &mut i), CKR_OK);
        let both = CKF_SIGN | CKF_VERIFY | CKF_MESSAGE_SIGN | CKF_MESSAGE_VERIFY;
        assert_eq!(i.flags & both, both, "{m:#x}");
    }
    // Digests and key generation do not sign.
    for m in [CKM_SHA256, CKM_EC_KEY_PAIR_GEN, CKM_AES_CBC] {
        let mut i = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
        assert_rv!(call!(C_GetMechanismInfo, 0, m, &mut i), CKR_OK);
        assert_eq!(i.flags & (CKF_MESSAGE_SIGN | CKF_MESSAGE_VERIFY), 0, "{m:#x}");
    }
}

#[test]
fn ecdsa_signs_many_messages_single_and_multi_part() {
    let (h, s) = Hsm::ready();
    let (hp, hq) = ec_pair(&h, s, true);
    assert_rv!(call3!(C_MessageSignInit, s, &mut mech(CKM_ECDSA_SHA256), hq), CKR_OK);
    assert_rv!(call3!(C_MessageSignInit, s, &mut mech(CKM_ECDSA_SHA256), hq), CKR_OPERATION_ACTIVE);
    let msgs: [&[u8]; 3] = [b"first message", b"", b"third message, a longer one"];
    let mut sigs = Vec::new();
    for msg in msgs {
        let sig = sign_message(s, NONE, msg).unwrap();
        assert_eq!(sig.len(), 64);
        assert_rv!(verify(s, &mut mech(CKM_ECDSA_SHA256), hp, msg, &sig), CKR_OK);
        sigs.push(sig);
    }
    // A buffer too small keeps the message: the same call with room succeeds.
    let mut n: CK_ULONG = 10;
    let mut out = vec![0u8; 64];
    let d = msgs[0].as_ptr() as *mut u8;
    let l = msgs[0].len() as CK_ULONG;
    assert_rv!(call3!(C_SignMessage, s, NULL, 0, d, l, out.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
    assert_eq!(n, 64);
    assert_rv!(call3!(C_SignMessage, s, NULL, 0, d, l, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_rv!(verify(s, &mut mech(CKM_ECDSA_SHA256), hp, msgs[0], &out), CKR_OK);

    // Multi-part: Begin, Next..., the last Next with the signature.
    assert_rv!(call3!(C_SignMessageBegin, s, NULL, 0), CKR_OK);
    assert_rv!(sign_next(s, NONE, b"third message, "), CKR_OK);
    let sig = sign_last(s, NONE, b"a longer one", 64);
    assert_rv!(verify(s, &mut mech(CKM_ECDSA_SHA256), hp, msgs[2], &sig), CKR_OK);
    // The process goes on after a multi-part message.
    let again = sign_message(s, NONE, b"after").unwrap();
    assert_rv!(verify(s, &mut mech(CKM_ECDSA_SHA256), hp, b"after", &again), CKR_OK);
    assert_rv!(call3!(C_MessageSignFinal, s), CKR_OK);
    assert_rv!(rv(sign_message(s, NONE, b"x")), CKR_OPERATION_NOT_INITIALIZED);
    assert_rv!(call3!(C_MessageSignFinal, s), CKR_OPERATION_NOT_INITIALIZED);

    // Message-based verification of the same signatures.
    assert_rv!(call3!(C_MessageVerifyInit, s, &mut mech(CKM_ECDSA_SHA256), hp), CKR_OK);
    for (msg, sig) in msgs.iter().zip(&sigs) {
        assert_rv!(verify_message(s, NONE, msg, sig), CKR_OK);
    }
    assert_rv!(verify_message(s, NONE, b"tampered", &sigs[0]), CKR_SIGNATURE_INVALID);
    // A failed message does not end the process.
    assert_rv!(verify_message(s, NONE, msgs[0], &sigs[0]), CKR_OK);
    assert_rv!(verify_message(s, NONE, msgs[0], &sigs[0][..63]), CKR_SIGNATURE_LEN_RANGE);
    assert_rv!(call3!(C_VerifyMessageBegin, s, NULL, 0), CKR_OK);
    assert_rv!(verify_next(s, NONE, b"third message, ", None), CKR_OK);
    assert_rv!(verify_next(s, NONE, b"a longer one", Some(&sigs[2])), CKR_OK);
    assert_rv!(call3!(C_VerifyMessageBegin, s, NULL, 0), CKR_OK);
    assert_rv!(verify_next(s, NONE, b"third message", Some(&sigs[2])), CKR_SIGNATURE_INVALID);
    assert_rv!(verify_next(s, NONE, b"x", None), CKR_OPERATION_NOT_INITIALIZED);
    assert_rv!(call3!(C_MessageVerifyFinal, s), CKR_OK);
    assert_rv!(verify_message(s, NONE, msgs[0], &sigs[0]), CKR_OPERATION_NOT_INITIALIZED);
}

#[test]
fn ml_dsa_contexts_per_message() {
    let (h, s) = Hsm::ready();
    let (hp, hq) = ml_dsa_pair(&h, s);
    let (mut a, mut b) = (context(b"context A"), context(b"context B"));
    let msg = b"a message under a context";

    assert_rv!(call3!(C_MessageSignInit, s, &mut mech(CKM_ML_DSA), hq), CKR_OK);
    let sig_a = sign_message(s, param(&mut a), msg).unwrap();
    assert_eq!(sig_a.len(), ML_DSA_44_SIG);
    // No per-message parameter: the init's (none: the empty context).
    let sig_none = sign_message(s, NONE, msg).unwrap();
    assert_rv!(verify(s, &mut mech_with(CKM_ML_DSA, &mut a), hp, msg, &sig_a), CKR_OK);
    assert_rv!(verify(s, &mut mech_with(CKM_ML_DSA, &mut b), hp, msg, &sig_a), CKR_SIGNATURE_INVALID);
    assert_rv!(verify(s, &mut mech(CKM_ML_DSA), hp, msg, &sig_a), CKR_SIGNATURE_INVALID);
    assert_rv!(verify(s, &mut mech(CKM_ML_DSA), hp, msg, &sig_none), CKR_OK);

    // Multi-part with context B given at Begin; a part may repeat it or give none.
    assert_rv!(call3!(C_SignMessageBegin, s, param(&mut b).0, param(&mut b).1), CKR_OK);
    assert_rv!(sign_next(s, NONE, b"a message "), CKR_OK);
    assert_rv!(sign_next(s, param(&mut b), b"under "), CKR_OK);
    let sig_b = sign_last(s, NONE, b"a context", ML_DSA_44_SIG);
    assert_rv!(verify(s, &mut mech_with(CKM_ML_DSA, &mut b), hp, msg, &sig_b), CKR_OK);
    assert_rv!(verify(s, &mut mech_with(CKM_ML_DSA, &mut a), hp, msg, &sig_b), CKR_SIGNATURE_INVALID);
    // A part with another context ends that message.
    assert_rv!(call3!(C_SignMessageBegin, s, param(&mut b).0, param(&mut b).1), CKR_OK);
    assert_rv!(sign_next(s, param(&mut a), b"x"), CKR_MECHANISM_PARAM_INVALID);
    assert_rv!(sign_next(s, NONE, b"x"), CKR_OPERATION_NOT_INITIALIZED);
    // A context over 255 bytes is refused, and the process goes on.
    let long = vec![7u8; 256];
    let mut bad = context(&long);
    assert_rv!(rv(sign_message(s, param(&mut bad), msg)), CKR_MECHANISM_PARAM_INVALID);
    // A parameter of the wrong size.
    let mut wrong: CK_ULONG = 0;
    assert_rv!(rv(sign_message(s, param(&mut wrong), msg)), CKR_MECHANISM_PARAM_INVALID);
    assert!(sign_message(s, param(&mut a), msg).is_ok());
    assert_rv!(call3!(C_MessageSignFinal, s), CKR_OK);

    // Message-based verification with per-message contexts; the init's context
    // is the default.
    assert_rv!(call3!(C_MessageVerifyInit, s, &mut mech_with(CKM_ML_DSA, &mut a), hp), CKR_OK);
    assert_rv!(verify_message(s, NONE, msg, &sig_a), CKR_OK);
    assert_rv!(verify_message(s, param(&mut a), msg, &sig_a), CKR_OK);
    assert_rv!(verify_message(s, param(&mut b), msg, &sig_a), CKR_SIGNATURE_INVALID);
    assert_rv!(verify_message(s, param(&mut b), msg, &sig_b), CKR_OK);
    assert_rv!(call3!(C_VerifyMessageBegin, s, param(&mut b).0, param(&mut b).1), CKR_OK);
    assert_rv!(verify_next(s, NONE, b"a message under ", None), CKR_OK);
    assert_rv!(verify_next(s, NONE, b"a context", Some(&sig_b)), CKR_OK);
    assert_rv!(call3!(C_MessageVerifyFinal, s), CKR_OK);

    // HashML-DSA with the caller's hash: the parameter may come with each message.
    let digest = [0x5au8; 32];
    let mut hashed = CK_HASH_SIGN_ADDITIONAL_CONTEXT {
        hedgeVariant: CKH_HEDGE_PREFERRED,
        pContext: ptr::null_mut(),
        ulContextLen: 0,
        hash: CKM_SHA256,
    };
    assert_rv!(call3!(C_MessageSignInit, s, &mut mech(CKM_HASH_ML_DSA), hq), CKR_OK);
    assert_rv!(rv(sign_message(s, NONE, &digest)), CKR_MECHANISM_PARAM_INVALID);
    let sig_h = sign_message(s, param(&mut hashed), &digest).unwrap();
    assert_rv!(call3!(C_MessageSignFinal, s), CKR_OK);
    assert_rv!(verify(s, &mut mech_with(CKM_HASH_ML_DSA, &mut hashed), hp, &digest, &sig_h), CKR_OK);
}

#[test]
fn verify_signature_single_and_multi_part() {
    let (h, s) = Hsm::ready();
    for (pair, m, sig_len) in [(0, CKM_ECDSA_SHA256, 64), (1, CKM_ML_DSA, ML_DSA_44_SIG)] {
        let (hp, hq) = if pair == 0 { ec_pair(&h, s, true) } else { ml_dsa_pair(&h, s) };
        let msg = b"verify me";
        assert_rv!(call!(C_SignInit, s, &mut mech(m), hq), CKR_OK);
        let mut sig = vec![0u8; sig_len];
        let mut n = sig_len as CK_ULONG;
        assert_rv!(call!(C_Sign, s, msg.as_ptr() as *mut _, msg.len() as CK_ULONG, sig.as_mut_ptr(), &mut n), CKR_OK);
        let init = |sig: &[u8]| {
            call32!(C_VerifySignatureInit, s, &mut mech(m), hp, sig.as_ptr() as *mut _, sig.len() as CK_ULONG)
        };
        let whole = |data: &[u8]| call32!(C_VerifySignature, s, data.as_ptr() as *mut _, data.len() as CK_ULONG);
        let update = |data: &[u8]| call32!(C_VerifySignatureUpdate, s, data.as_ptr() as *mut _, data.len() as CK_ULONG);

        assert_rv!(init(&sig), CKR_OK);
        assert_rv!(whole(msg), CKR_OK);
        // The operation ended.
        assert_rv!(whole(msg), CKR_OPERATION_NOT_INITIALIZED);
        assert_rv!(call32!(C_VerifySignatureFinal, s), CKR_OPERATION_NOT_INITIALIZED);
        assert_rv!(init(&sig), CKR_OK);
        assert_rv!(whole(b"verify you"), CKR_SIGNATURE_INVALID);
        let mut bad = sig.clone();
        bad[10] ^= 1;
        assert_rv!(init(&bad), CKR_OK);
        assert_rv!(whole(msg), CKR_SIGNATURE_INVALID);
        assert_rv!(init(&sig[..sig_len - 1]), CKR_OK);
        assert_rv!(whole(msg), CKR_SIGNATURE_LEN_RANGE);

        // Multi-part.
        assert_rv!(init(&sig), CKR_OK);
        assert_rv!(update(b"verify"), CKR_OK);
        assert_rv!(update(b" me"), CKR_OK);
        assert_rv!(call32!(C_VerifySignatureFinal, s), CKR_OK);
        assert_rv!(call32!(C_VerifySignatureFinal, s), CKR_OPERATION_NOT_INITIALIZED);
        assert_rv!(init(&bad), CKR_OK);
        assert_rv!(update(msg), CKR_OK);
        assert_rv!(call32!(C_VerifySignatureFinal, s), CKR_SIGNATURE_INVALID);
        // Single-part after an update: refused, and that ends the operation.
        assert_rv!(init(&sig), CKR_OK);
        assert_rv!(update(b"verify"), CKR_OK);
        assert_rv!(whole(msg), CKR_OPERATION_ACTIVE);
        assert_rv!(call32!(C_VerifySignatureFinal, s), CKR_OPERATION_NOT_INITIALIZED);

        // One verification at a time, either kind; C_Verify does not see this one.
        assert_rv!(init(&sig), CKR_OK);
        assert_rv!(init(&sig), CKR_OPERATION_ACTIVE);
        assert_rv!(call!(C_VerifyInit, s, &mut mech(m), hp), CKR_OPERATION_ACTIVE);
        let (d, g) = (msg.as_ptr() as *mut u8, sig.as_ptr() as *mut u8);
        assert_rv!(call!(C_Verify, s, d, msg.len() as CK_ULONG, g, sig_len as CK_ULONG), CKR_OPERATION_NOT_INITIALIZED);
        assert_rv!(whole(msg), CKR_OK);
        assert_rv!(call!(C_VerifyInit, s, &mut mech(m), hp), CKR_OK);
        assert_rv!(init(&sig), CKR_OPERATION_ACTIVE);
        assert_rv!(whole(msg), CKR_OPERATION_NOT_INITIALIZED);
        assert_rv!(call!(C_Verify, s, d, msg.len() as CK_ULONG, g, sig_len as CK_ULONG), CKR_OK);
        // A null mechanism ends the active verification.
        assert_rv!(init(&sig), CKR_OK);
        assert_rv!(call32!(C_VerifySignatureInit, s, ptr::null_mut(), 0, ptr::null_mut(), 0), CKR_OK);
        assert_rv!(whole(msg), CKR_OPERATION_NOT_INITIALIZED);
        // C_SessionCancel(CKF_VERIFY) too.
        assert_rv!(init(&sig), CKR_OK);
        assert_rv!(call3!(C_SessionCancel, s, CKF_VERIFY), CKR_OK);
        assert_rv!(whole(msg), CKR_OPERATION_NOT_INITIALIZED);

        // The key must allow verification; a null signature with a length is bad.
        assert_rv!(
            call32!(C_VerifySignatureInit, s, &mut mech(m), hq, sig.as_ptr() as *mut _, 4),
            CKR_KEY_FUNCTION_NOT_PERMITTED
        );
        assert_rv!(call32!(C_VerifySignatureInit, s, &mut mech(m), hp, ptr::null_mut(), 4), CKR_ARGUMENTS_BAD);
        assert_rv!(
            call32!(C_VerifySignatureInit, s, &mut mech(CKM_SHA256), hp, sig.as_ptr() as *mut _, 4),
            CKR_MECHANISM_INVALID
        );
    }
    // A public key without CKA_VERIFY.
    let public = Tmpl::new().bytes(CKA_EC_PARAMS, P256).bool(CKA_VERIFY, false);
    let (hp, _) = h.generate_pair(s, CKM_EC_KEY_PAIR_GEN, &public, &Tmpl::new().bool(CKA_SIGN, true)).unwrap();
    let sig = [0u8; 64];
    assert_rv!(
        call32!(C_VerifySignatureInit, s, &mut mech(CKM_ECDSA), hp, sig.as_ptr() as *mut _, 64),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
    assert_rv!(call3!(C_MessageVerifyInit, s, &mut mech(CKM_ECDSA), hp), CKR_KEY_FUNCTION_NOT_PERMITTED);
}

#[test]
fn message_state_and_argument_errors() {
    let (h, s) = Hsm::ready();
    let (hp, hq) = ec_pair(&h, s, true);
    let msg = b"message";
    let (d, l) = (msg.as_ptr() as *mut u8, msg.len() as CK_ULONG);
    let mut n: CK_ULONG = 64;
    let mut out = vec![0u8; 64];

    // Nothing initialised.
    assert_rv!(call3!(C_SignMessage, s, NULL, 0, d, l, out.as_mut_ptr(), &mut n), CKR_OPERATION_NOT_INITIALIZED);
    assert_rv!(call3!(C_SignMessageBegin, s, NULL, 0), CKR_OPERATION_NOT_INITIALIZED);
    assert_rv!(sign_next(s, NONE, msg), CKR_OPERATION_NOT_INITIALIZED);
    assert_rv!(call3!(C_MessageSignFinal, s), CKR_OPERATION_NOT_INITIALIZED);
    assert_rv!(verify_message(s, NONE, msg, &out), CKR_OPERATION_NOT_INITIALIZED);
    assert_rv!(call3!(C_VerifyMessageBegin, s, NULL, 0), CKR_OPERATION_NOT_INITIALIZED);
    assert_rv!(call3!(C_MessageVerifyFinal, s), CKR_OPERATION_NOT_INITIALIZED);

    // A key without CKA_SIGN; a public key; a mechanism that does not sign.
    let (_, no_sign) = ec_pair(&h, s, false);
    assert_rv!(call3!(C_MessageSignInit, s, &mut mech(CKM_ECDSA), no_sign), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_rv!(call3!(C_MessageSignInit, s, &mut mech(CKM_ECDSA), hp), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_rv!(call3!(C_MessageSignInit, s, &mut mech(CKM_SHA256), hq), CKR_MECHANISM_INVALID);
    assert_rv!(call3!(C_MessageSignInit, s, &mut mech(CKM_ML_DSA), hq), CKR_KEY_TYPE_INCONSISTENT);
    assert_rv!(call3!(C_MessageSignInit, s, ptr::null_mut(), hq), CKR_ARGUMENTS_BAD);
    assert_rv!(call3!(C_MessageSignInit, s, &mut mech(CKM_ECDSA), 0xdead), CKR_KEY_HANDLE_INVALID);
    assert_rv!(call3!(C_SignMessageBegin, s, NULL, 0), CKR_OPERATION_NOT_INITIALIZED, "a failed init starts nothing");

    assert_rv!(call3!(C_MessageSignInit, s, &mut mech(CKM_ECDSA_SHA256), hq), CKR_OK);
    // Bad pointers.
    assert_rv!(call3!(C_SignMessage, s, NULL, 0, d, l, out.as_mut_ptr(), ptr::null_mut()), CKR_ARGUMENTS_BAD);
    assert_rv!(call3!(C_SignMessage, s, NULL, 0, ptr::null_mut(), l, out.as_mut_ptr(), &mut n), CKR_ARGUMENTS_BAD);
    assert_rv!(call3!(C_SignMessage, s, NULL, 8, d, l, out.as_mut_ptr(), &mut n), CKR_ARGUMENTS_BAD);
    // A parameter on a mechanism that takes none per message.
    let mut ctx = context(b"ctx");
    let p = param(&mut ctx);
    assert_rv!(call3!(C_SignMessage, s, p.0, p.1, d, l, out.as_mut_ptr(), &mut n), CKR_MECHANISM_PARAM_INVALID);
    assert_rv!(call3!(C_SignMessageBegin, s, p.0, p.1), CKR_MECHANISM_PARAM_INVALID);
    // A parameter of length 0 is no parameter, whatever the pointer.
    let sig = sign_message(s, (p.0, 0), msg).unwrap();
    assert_rv!(verify(s, &mut mech(CKM_ECDSA_SHA256), hp, msg, &sig), CKR_OK);

    // A multi-part message in progress: no single-part message, no second Begin.
    assert_rv!(call3!(C_SignMessageBegin, s, NULL, 0), CKR_OK);
    assert_rv!(call3!(C_SignMessageBegin, s, NULL, 0), CKR_OPERATION_ACTIVE);
    assert_rv!(call3!(C_SignMessage, s, NULL, 0, d, l, out.as_mut_ptr(), &mut n), CKR_OPERATION_ACTIVE);
    // ... which goes on after those refusals.
    assert_rv!(sign_next(s, NONE, b"mess"), CKR_OK);
    // Bad pointers are refused before the operation sees the call (as everywhere in
    // this module): the message goes on.
    assert_rv!(
        call3!(C_SignMessageNext, s, NULL, 0, ptr::null_mut(), 4, ptr::null_mut(), ptr::null_mut()),
        CKR_ARGUMENTS_BAD
    );
    let sig = sign_last(s, NONE, b"age", 64);
    assert_rv!(verify(s, &mut mech(CKM_ECDSA_SHA256), hp, msg, &sig), CKR_OK);
    // An error in a part ends the message, not the process.
    assert_rv!(call3!(C_SignMessageBegin, s, NULL, 0), CKR_OK);
    assert_rv!(sign_next(s, NONE, b"mess"), CKR_OK);
    assert_rv!(sign_next(s, p, b"age"), CKR_MECHANISM_PARAM_INVALID);
    assert_rv!(sign_next(s, NONE, b"age"), CKR_OPERATION_NOT_INITIALIZED);
    assert!(sign_message(s, NONE, msg).is_ok());
    // Final discards an unfinished message.
    assert_rv!(call3!(C_SignMessageBegin, s, NULL, 0), CKR_OK);
    assert_rv!(call3!(C_MessageSignFinal, s), CKR_OK);
    assert_rv!(call3!(C_SignMessageBegin, s, NULL, 0), CKR_OPERATION_NOT_INITIALIZED);

    // Message-based and ordinary signing are separate operations.
    assert_rv!(call3!(C_MessageSignInit, s, &mut mech(CKM_ECDSA_SHA256), hq), CKR_OK);
    assert_rv!(call!(C_SignInit, s, &mut mech(CKM_ECDSA_SHA256), hq), CKR_OK);
    let one = sign_message(s, NONE, msg).unwrap();
    assert_rv!(call!(C_Sign, s, d, l, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_rv!(verify(s, &mut mech(CKM_ECDSA_SHA256), hp, msg, &one), CKR_OK);
    assert_rv!(verify(s, &mut mech(CKM_ECDSA_SHA256), hp, msg, &out[..n as usize]), CKR_OK);
    // C_SessionCancel ends a message-based process by its own flag only.
    assert_rv!(call3!(C_SessionCancel, s, CKF_SIGN), CKR_OK);
    assert!(sign_message(s, NONE, msg).is_ok());
    assert_rv!(call3!(C_SessionCancel, s, CKF_MESSAGE_SIGN), CKR_OK);
    assert_rv!(rv(sign_message(s, NONE, msg)), CKR_OPERATION_NOT_INITIALIZED);
    assert_rv!(call3!(C_MessageVerifyInit, s, &mut mech(CKM_ECDSA_SHA256), hp), CKR_OK);
    assert_rv!(call3!(C_MessageVerifyInit, s, &mut mech(CKM_ECDSA_SHA256), hp), CKR_OPERATION_ACTIVE);
    assert_rv!(call3!(C_SessionCancel, s, CKF_MESSAGE_VERIFY), CKR_OK);
    assert_rv!(verify_message(s, NONE, msg, &one), CKR_OPERATION_NOT_INITIALIZED);
    // Verification parts: a multi-part message in progress refuses single-part
    // messages and a second Begin; bad pointers leave it as it was.
    assert_rv!(call3!(C_MessageVerifyInit, s, &mut mech(CKM_ECDSA_SHA256), hp), CKR_OK);
    assert_rv!(call3!(C_VerifyMessageBegin, s, NULL, 0), CKR_OK);
    assert_rv!(call3!(C_VerifyMessageBegin, s, NULL, 0), CKR_OPERATION_ACTIVE);
    assert_rv!(verify_message(s, NONE, msg, &one), CKR_OPERATION_ACTIVE);
    assert_rv!(call3!(C_VerifyMessageNext, s, NULL, 0, ptr::null_mut(), 3, ptr::null_mut(), 0), CKR_ARGUMENTS_BAD);
    assert_rv!(verify_next(s, NONE, msg, Some(&one)), CKR_OK);
    assert_rv!(verify_message(s, NONE, msg, &one), CKR_OK);
    assert_rv!(verify_message(s, p, msg, &one), CKR_MECHANISM_PARAM_INVALID);
    assert_rv!(call3!(C_MessageVerifyFinal, s), CKR_OK);
}

#[test]
fn the_session_closing_ends_the_processes() {
    let (h, s) = Hsm::ready();
    let (hp, hq) = ec_pair(&h, s, true);
    let s2 = h.open(0, true);
    assert_rv!(call3!(C_MessageSignInit, s2, &mut mech(CKM_ECDSA), hq), CKR_OK);
    assert_rv!(call3!(C_MessageVerifyInit, s2, &mut mech(CKM_ECDSA), hp), CKR_OK);
    // Another session is not affected by this one's process.
    assert_rv!(rv(sign_message(s, NONE, &[1; 32])), CKR_OPERATION_NOT_INITIALIZED);
    let sig = sign_message(s2, NONE, &[1; 32]).unwrap();
    assert_rv!(verify_message(s2, NONE, &[1; 32], &sig), CKR_OK);
    assert_rv!(call!(C_CloseSession, s2), CKR_OK);
    assert_rv!(rv(sign_message(s2, NONE, &[1; 32])), CKR_SESSION_HANDLE_INVALID);
}
