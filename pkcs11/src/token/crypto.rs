//! Encryption, decryption, signing and verification (PKCS#11 §5.9 to §5.13): the
//! session side of every operation.
//!
//! One place owns the protocol for all mechanisms:
//!
//! - an operation starts with `*Init` (`CKR_OPERATION_ACTIVE` if one is running);
//! - a length query (null buffer) returns an upper bound and changes nothing;
//! - a buffer that turns out too small gets `CKR_BUFFER_TOO_SMALL` with the exact
//!   length; the output already computed is kept and returned by the next call, so
//!   no input is lost and nothing is computed twice;
//! - any other error ends the operation, and so does a call that returns the last
//!   output;
//! - a key with `CKA_ALWAYS_AUTHENTICATE` needs `C_Login(CKU_CONTEXT_SPECIFIC)`
//!   after `*Init` (§4.9).

use std::sync::Arc;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::objects::object;
use super::{Ops, Output, Session};
use crate::error::{Result, err};
use crate::mechanism::{CryptOp, Entry, Mechanism, SignOp, Use, VerifyOp};
use crate::module::Module;
use crate::object::Object;

/// An operation in progress, with what the session keeps for it.
pub struct Active<T: ?Sized> {
    /// The key it uses.
    pub key: Arc<Object>,
    /// Output computed for a buffer that was too small, for the next call.
    pending: Option<Zeroizing<Vec<u8>>>,
    /// `*Update` was called: only `*Final` may finish.
    multi: bool,
    /// The key has `CKA_ALWAYS_AUTHENTICATE` and no context login happened yet.
    pub needs_login: bool,
    op: Box<T>,
}

impl<T: ?Sized> Active<T> {
    fn new(key: Arc<Object>, op: Box<T>) -> Self {
        let needs_login = key.attrs.bool(CKA_ALWAYS_AUTHENTICATE) == Some(true);
        Self { key, pending: None, multi: false, needs_login, op }
    }
}

/// Whether the operation goes on after a call.
enum Step {
    /// It goes on.
    Keep(Output),
    /// It ended.
    Done(Output),
}

/// Runs one call of an operation in `slot`, ending it on error or when done.
fn drive<T: ?Sized>(slot: &mut Option<Active<T>>, f: impl FnOnce(&mut Active<T>) -> Result<Step>) -> Result<Output> {
    let a = slot.as_mut().ok_or_else(|| err(CKR_OPERATION_NOT_INITIALIZED, "no such operation is active"))?;
    match f(a) {
        Ok(Step::Keep(o)) => Ok(o),
        Ok(Step::Done(o)) => {
            *slot = None;
            Ok(o)
        }
        Err(e) => {
            *slot = None;
            Err(e)
        }
    }
}

/// Delivers output computed by `compute`: a length query returns `bound`; output
/// that does not fit is kept for the next call. `last` says whether delivering it
/// ends the operation; `secret` whether the output is (and must be wiped).
fn deliver<T: ?Sized>(
    a: &mut Active<T>,
    cap: Option<usize>,
    bound: usize,
    last: bool,
    secret: bool,
    compute: impl FnOnce(&mut T) -> Result<Zeroizing<Vec<u8>>>,
) -> Result<Step> {
    let out = match a.pending.take() {
        Some(p) => p,
        None if cap.is_none() => return Ok(Step::Keep(Output::Len(bound))),
        None => compute(&mut a.op)?,
    };
    match cap {
        Some(c) if c >= out.len() => {
            let out = Output::Data(out).public_unless(secret);
            Ok(if last { Step::Done(out) } else { Step::Keep(out) })
        }
        _ => {
            let n = out.len();
            a.pending = Some(out);
            Ok(Step::Keep(Output::Len(n)))
        }
    }
}

fn no_login_pending<T: ?Sized>(a: &Active<T>) -> Result<()> {
    if a.needs_login {
        return Err(err(CKR_USER_NOT_LOGGED_IN, "the key needs C_Login(CKU_CONTEXT_SPECIFIC) first"));
    }
    Ok(())
}

fn single_part<T: ?Sized>(a: &Active<T>) -> Result<()> {
    if a.multi {
        return Err(err(CKR_OPERATION_ACTIVE, "a multi-part operation must end with its *Final call"));
    }
    Ok(())
}

/// The key `handle` as this session may use it (`CKR_KEY_HANDLE_INVALID` otherwise).
pub fn key(s: &Session, handle: CK_OBJECT_HANDLE) -> Result<Arc<Object>> {
    let key =
        object(&s.token.state.read(), handle).map_err(|_| err(CKR_KEY_HANDLE_INVALID, format!("no key {handle}")))?;
    if key.invalidated() {
        return Err(err(CKR_KEY_FUNCTION_NOT_PERMITTED, "the key is invalidated: the SO may restore or purge it"));
    }
    Ok(key)
}

fn already_active() -> crate::error::Error {
    err(CKR_OPERATION_ACTIVE, "an operation of this kind is already active")
}

/// What every `*Init` that uses a key checks (§5.8 onwards), in one place: the key
/// exists and is not invalidated, the operation's slot is free (`busy` says when it
/// is not), and the mechanism does `usage` with this key (its class and type, its
/// usage attribute, `CKA_ALLOWED_MECHANISMS`). Then `make` builds what the session
/// keeps from the mechanism's entry, the key's use is counted for the audit, and
/// `put` stores it.
#[allow(clippy::too_many_arguments)]
pub(super) fn start<X>(
    m: &Module,
    session: CK_SESSION_HANDLE,
    mech: &Mechanism,
    handle: CK_OBJECT_HANDLE,
    usage: Use,
    busy: impl Fn(&Ops) -> bool,
    make: impl FnOnce(&Entry, Arc<Object>) -> Result<X>,
    put: impl FnOnce(&mut Ops, X),
) -> Result<()> {
    let s = m.session(session)?;
    // The key is looked up before the session's operations are locked: a
    // token lock is never taken while holding a session's.
    let key = key(&s, handle)?;
    if busy(&s.ops.lock()) {
        return Err(already_active());
    }
    let entry = m.mechanisms.check_key(mech.ty, usage, &key)?;
    let made = make(entry, key.clone())?;
    {
        let mut ops = s.ops.lock();
        if busy(&ops) {
            return Err(already_active());
        }
        put(&mut ops, made);
    }
    // Counted once the session's lock is released (the count reads the token's
    // state). A message-based process counts each message instead (token/message.rs).
    if !matches!(usage, Use::MessageSign | Use::MessageVerify) {
        super::audit::key_used(m, s.token.partition, || super::audit::role_of(&s.token.state.read()), &key);
    }
    Ok(())
}

fn not_offered() -> crate::error::Error {
    err(CKR_MECHANISM_INVALID, "not offered for this operation")
}

macro_rules! init {
    ($(#[$doc:meta])* $name:ident, $slot:ident, $usage:expr, $make:ident) => {
        $(#[$doc])*
        pub fn $name(m: &Module, session: CK_SESSION_HANDLE, mech: &Mechanism, handle: CK_OBJECT_HANDLE) -> Result<()> {
            start(
                m,
                session,
                mech,
                handle,
                $usage,
                |ops| ops.$slot.is_some(),
                |entry, key| {
                    let op = entry.$make.ok_or_else(not_offered)?(m.provider.as_ref(), mech, &key)?;
                    Ok(Active::new(key, op))
                },
                |ops, active| ops.$slot = Some(active),
            )
        }
    };
}

init!(
    /// `C_EncryptInit`.
    encrypt_init, encrypt, Use::Encrypt, encrypt
);
init!(
    /// `C_DecryptInit`.
    decrypt_init, decrypt, Use::Decrypt, decrypt
);
/// `C_SignInit`. Attestation mechanisms name the key to attest, which they do not
/// use: it needs no `CKA_SIGN` and no context login (the token's attestation key
/// signs); only its type must fit.
pub fn sign_init(m: &Module, session: CK_SESSION_HANDLE, mech: &Mechanism, handle: CK_OBJECT_HANDLE) -> Result<()> {
    let Some(attest) = m.mechanisms.entry(mech.ty).ok().and_then(|e| e.attest) else {
        return start(
            m,
            session,
            mech,
            handle,
            Use::Sign,
            |ops| ops.sign.is_some(),
            |entry, key| {
                let op = entry.sign.ok_or_else(not_offered)?(m.provider.as_ref(), mech, &key)?;
                Ok(Active::new(key, op))
            },
            |ops, active| ops.sign = Some(active),
        );
    };
    let s = m.session(session)?;
    let key = key(&s, handle)?;
    if s.ops.lock().sign.is_some() {
        return Err(already_active());
    }
    let entry = m.mechanisms.check(mech.ty, CKF_SIGN)?;
    let kt = key.attrs.ulong(CKA_KEY_TYPE).map(|k| k as CK_KEY_TYPE);
    if !kt.is_some_and(|k| entry.key_types.contains(&k)) {
        return Err(err(CKR_KEY_TYPE_INCONSISTENT, "this attestation does not take this key type"));
    }
    let op = attest(m, &s, mech, &key)?;
    let active = Active { needs_login: false, ..Active::new(key, op) };
    let mut ops = s.ops.lock();
    if ops.sign.is_some() {
        return Err(already_active());
    }
    ops.sign = Some(active);
    Ok(())
}

/// Whether the session's verification is in use: `C_VerifyInit`'s or
/// `C_VerifySignatureInit`'s (one at a time, see [`verify_signature_init`]).
fn verifying(ops: &Ops) -> bool {
    ops.verify.is_some() || ops.verify_signature.is_some()
}

/// `C_VerifyInit`.
pub fn verify_init(m: &Module, session: CK_SESSION_HANDLE, mech: &Mechanism, handle: CK_OBJECT_HANDLE) -> Result<()> {
    start(
        m,
        session,
        mech,
        handle,
        Use::Verify,
        verifying,
        |entry, key| {
            let op = entry.verify.ok_or_else(not_offered)?(m.provider.as_ref(), mech, &key)?;
            Ok(Active::new(key, op))
        },
        |ops, active| ops.verify = Some(active),
    )
}

/// Which of the session's cipher operations.
#[derive(Clone, Copy)]
pub enum Dir {
    /// Encryption.
    Encrypt,
    /// Decryption.
    Decrypt,
}

impl Dir {
    /// Whether this direction's output is secret: a plaintext is, a ciphertext not.
    fn secret_output(self) -> bool {
        matches!(self, Dir::Decrypt)
    }
}

fn with_crypt<R>(
    m: &Module,
    session: CK_SESSION_HANDLE,
    dir: Dir,
    f: impl FnOnce(&mut Option<Active<dyn CryptOp>>) -> R,
) -> Result<R> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    Ok(f(match dir {
        Dir::Encrypt => &mut ops.encrypt,
        Dir::Decrypt => &mut ops.decrypt,
    }))
}

/// `C_Encrypt` / `C_Decrypt`.
pub fn crypt(m: &Module, session: CK_SESSION_HANDLE, dir: Dir, input: &[u8], cap: Option<usize>) -> Result<Output> {
    with_crypt(m, session, dir, |slot| {
        drive(slot, |a| {
            no_login_pending(a)?;
            single_part(a)?;
            let bound = a.op.one_shot_len(input.len());
            deliver(a, cap, bound, true, dir.secret_output(), |op| op.one_shot(input))
        })
    })?
}

/// `C_EncryptUpdate` / `C_DecryptUpdate`.
pub fn crypt_update(
    m: &Module,
    session: CK_SESSION_HANDLE,
    dir: Dir,
    input: &[u8],
    cap: Option<usize>,
) -> Result<Output> {
    with_crypt(m, session, dir, |slot| {
        drive(slot, |a| {
            no_login_pending(a)?;
            a.multi = true;
            let bound = a.op.update_len(input.len());
            deliver(a, cap, bound, false, dir.secret_output(), |op| op.update(input))
        })
    })?
}

/// `C_EncryptFinal` / `C_DecryptFinal`.
pub fn crypt_final(m: &Module, session: CK_SESSION_HANDLE, dir: Dir, cap: Option<usize>) -> Result<Output> {
    with_crypt(m, session, dir, |slot| {
        drive(slot, |a| {
            no_login_pending(a)?;
            let bound = a.op.finish_len();
            deliver(a, cap, bound, true, dir.secret_output(), |op| op.finish())
        })
    })?
}

/// Delivers a signature. When the operation cannot know its length beforehand
/// (an attestation), a length query computes the signature and keeps it: the length
/// answered is the length of the bytes the next call returns.
fn deliver_signature(
    a: &mut Active<dyn SignOp>,
    cap: Option<usize>,
    compute: impl FnOnce(&mut (dyn SignOp + 'static)) -> Result<Zeroizing<Vec<u8>>>,
) -> Result<Step> {
    if cap.is_none() && a.pending.is_none() && !a.op.len_is_exact() {
        let out = compute(a.op.as_mut())?;
        let n = out.len();
        a.pending = Some(out);
        return Ok(Step::Keep(Output::Len(n)));
    }
    let bound = a.op.sign_len();
    deliver(a, cap, bound, true, false, compute)
}

/// `C_Sign`.
pub fn sign(m: &Module, session: CK_SESSION_HANDLE, data: &[u8], cap: Option<usize>) -> Result<Output> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    drive(&mut ops.sign, |a| {
        no_login_pending(a)?;
        single_part(a)?;
        deliver_signature(a, cap, |op| {
            op.update(data)?;
            op.finish().map(Zeroizing::new)
        })
    })
}

/// `C_SignUpdate`.
pub fn sign_update(m: &Module, session: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    drive(&mut ops.sign, |a| {
        no_login_pending(a)?;
        if a.pending.is_some() {
            return Err(err(CKR_OPERATION_ACTIVE, "the signature is waiting to be fetched"));
        }
        a.multi = true;
        a.op.update(data)?;
        Ok(Step::Keep(Output::Len(0)))
    })
    .map(drop)
}

/// `C_SignFinal`.
pub fn sign_final(m: &Module, session: CK_SESSION_HANDLE, cap: Option<usize>) -> Result<Output> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    drive(&mut ops.sign, |a| {
        no_login_pending(a)?;
        deliver_signature(a, cap, |op| op.finish().map(Zeroizing::new))
    })
}

/// `C_Verify`.
pub fn verify(m: &Module, session: CK_SESSION_HANDLE, data: &[u8], signature: &[u8]) -> Result<()> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    drive(&mut ops.verify, |a| {
        single_part(a)?;
        a.op.update(data)?;
        a.op.finish(signature)?;
        Ok(Step::Done(Output::Len(0)))
    })
    .map(drop)
}

/// `C_VerifyUpdate`.
pub fn verify_update(m: &Module, session: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    drive(&mut ops.verify, |a| {
        a.multi = true;
        a.op.update(data)?;
        Ok(Step::Keep(Output::Len(0)))
    })
    .map(drop)
}

/// `C_VerifyFinal`.
pub fn verify_final(m: &Module, session: CK_SESSION_HANDLE, signature: &[u8]) -> Result<()> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    drive(&mut ops.verify, |a| {
        a.op.finish(signature)?;
        Ok(Step::Done(Output::Len(0)))
    })
    .map(drop)
}

/// After a successful `C_Login(CKU_CONTEXT_SPECIFIC)`: the session's signing and
/// decryption operations may go on. Returns whether one was waiting.
pub fn context_login_done(s: &Session) -> bool {
    let mut ops = s.ops.lock();
    let mut any = false;
    if let Some(a) = ops.sign.as_mut().filter(|a| a.needs_login) {
        a.needs_login = false;
        any = true;
    }
    if let Some(a) = ops.decrypt.as_mut().filter(|a| a.needs_login) {
        a.needs_login = false;
        any = true;
    }
    if let Some(p) = ops.message_sign.as_mut().filter(|p| p.needs_login) {
        p.needs_login = false;
        any = true;
    }
    any
}

/// Whether the session has an operation waiting for a context login.
pub fn waits_for_context_login(s: &Session) -> bool {
    let ops = s.ops.lock();
    ops.sign.as_ref().is_some_and(|a| a.needs_login)
        || ops.decrypt.as_ref().is_some_and(|a| a.needs_login)
        || ops.message_sign.as_ref().is_some_and(|p| p.needs_login)
}

/// A verification whose signature came with its init (`C_VerifySignatureInit`).
pub struct SignatureGiven {
    op: Box<dyn VerifyOp>,
    signature: Vec<u8>,
}

impl SignatureGiven {
    /// Ends the verification with the signature given at init.
    fn finish(&mut self) -> Result<()> {
        self.op.finish(&self.signature)
    }
}

/// `C_VerifySignatureInit` (PKCS#11 3.2 §5.15): `C_VerifyInit` with the signature
/// given up front; the same checks ([`start`]: `CKA_VERIFY`, key type,
/// `CKA_ALLOWED_MECHANISMS`, the audit's usage count) and the same mechanisms (the
/// spec: "any mechanism that supports C_VerifyInit must also support
/// C_VerifySignatureInit").
///
/// It is the session's one verification operation, shared with `C_VerifyInit`: the
/// spec gives `C_SessionCancel` a single `CKF_VERIFY` for both and lists
/// `CKR_OPERATION_ACTIVE` here, and kryoptic checks the same slot. So either init
/// while the other's operation is active is `CKR_OPERATION_ACTIVE`, and `C_Verify*`
/// do not see a `C_VerifySignatureInit` operation (`CKR_OPERATION_NOT_INITIALIZED`),
/// nor `C_VerifySignature*` a `C_VerifyInit` one.
///
/// `mech` `None` (a null `pMechanism`) ends the session's verification operation, as
/// the spec allows. The signature's length is checked at the end, by the mechanism
/// (`CKR_SIGNATURE_LEN_RANGE` from `C_VerifySignature` / `C_VerifySignatureFinal`):
/// the spec's check at init is a "may".
pub fn verify_signature_init(
    m: &Module,
    session: CK_SESSION_HANDLE,
    mech: Option<&Mechanism>,
    handle: CK_OBJECT_HANDLE,
    signature: &[u8],
) -> Result<()> {
    let Some(mech) = mech else {
        let s = m.session(session)?;
        let mut ops = s.ops.lock();
        ops.verify = None;
        ops.verify_signature = None;
        return Ok(());
    };
    start(
        m,
        session,
        mech,
        handle,
        Use::Verify,
        verifying,
        |entry, key| {
            let op = entry.verify.ok_or_else(not_offered)?(m.provider.as_ref(), mech, &key)?;
            Ok(Active::new(key, Box::new(SignatureGiven { op, signature: signature.to_vec() })))
        },
        |ops, active| ops.verify_signature = Some(active),
    )
}

/// `C_VerifySignature`: the whole data, then the check; always ends the operation.
pub fn verify_signature(m: &Module, session: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    drive(&mut ops.verify_signature, |a| {
        single_part(a)?;
        a.op.op.update(data)?;
        a.op.finish()?;
        Ok(Step::Done(Output::Len(0)))
    })
    .map(drop)
}

/// `C_VerifySignatureUpdate`.
pub fn verify_signature_update(m: &Module, session: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    drive(&mut ops.verify_signature, |a| {
        a.multi = true;
        a.op.op.update(data)?;
        Ok(Step::Keep(Output::Len(0)))
    })
    .map(drop)
}

/// `C_VerifySignatureFinal`: the check; always ends the operation.
pub fn verify_signature_final(m: &Module, session: CK_SESSION_HANDLE) -> Result<()> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    drive(&mut ops.verify_signature, |a| {
        a.op.finish()?;
        Ok(Step::Done(Output::Len(0)))
    })
    .map(drop)
}
