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
use super::{Output, Session};
use crate::error::{Result, err};
use crate::mechanism::{CryptOp, Mechanism, SignOp, Use};
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

macro_rules! init {
    ($(#[$doc:meta])* $name:ident, $slot:ident, $usage:expr, $make:ident) => {
        $(#[$doc])*
        pub fn $name(m: &Module, session: CK_SESSION_HANDLE, mech: &Mechanism, handle: CK_OBJECT_HANDLE) -> Result<()> {
            let s = m.session(session)?;
            // The key is looked up before the session's operations are locked: a
            // token lock is never taken while holding a session's.
            let key = key(&s, handle)?;
            if s.ops.lock().$slot.is_some() {
                return Err(err(CKR_OPERATION_ACTIVE, "an operation of this kind is already active"));
            }
            let entry = m.mechanisms.check_key(mech.ty, $usage, &key)?;
            let make = entry.$make.ok_or_else(|| err(CKR_MECHANISM_INVALID, "not offered for this operation"))?;
            let op = make(m.provider.as_ref(), mech, &key)?;
            let mut ops = s.ops.lock();
            if ops.$slot.is_some() {
                return Err(err(CKR_OPERATION_ACTIVE, "an operation of this kind is already active"));
            }
            super::audit::key_used(m, s.token.partition, || super::audit::role_of(&s.token.state.read()), &key);
            ops.$slot = Some(Active::new(key, op));
            Ok(())
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
    let s = m.session(session)?;
    let key = key(&s, handle)?;
    if s.ops.lock().sign.is_some() {
        return Err(err(CKR_OPERATION_ACTIVE, "an operation of this kind is already active"));
    }
    let entry = m.mechanisms.check(mech.ty, CKF_SIGN)?;
    let active = match entry.attest {
        Some(make) => {
            let kt = key.attrs.ulong(CKA_KEY_TYPE).map(|k| k as CK_KEY_TYPE);
            if !kt.is_some_and(|k| entry.key_types.contains(&k)) {
                return Err(err(CKR_KEY_TYPE_INCONSISTENT, "this attestation does not take this key type"));
            }
            let op = make(m, &s, mech, &key)?;
            Active { needs_login: false, ..Active::new(key, op) }
        }
        None => {
            let entry = m.mechanisms.check_key(mech.ty, Use::Sign, &key)?;
            let make = entry.sign.ok_or_else(|| err(CKR_MECHANISM_INVALID, "not offered for this operation"))?;
            let op = make(m.provider.as_ref(), mech, &key)?;
            super::audit::key_used(m, s.token.partition, || super::audit::role_of(&s.token.state.read()), &key);
            Active::new(key, op)
        }
    };
    let mut ops = s.ops.lock();
    if ops.sign.is_some() {
        return Err(err(CKR_OPERATION_ACTIVE, "an operation of this kind is already active"));
    }
    ops.sign = Some(active);
    Ok(())
}
init!(
    /// `C_VerifyInit`.
    verify_init, verify, Use::Verify, verify
);

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
    any
}

/// Whether the session has an operation waiting for a context login.
pub fn waits_for_context_login(s: &Session) -> bool {
    let ops = s.ops.lock();
    ops.sign.as_ref().is_some_and(|a| a.needs_login) || ops.decrypt.as_ref().is_some_and(|a| a.needs_login)
}
