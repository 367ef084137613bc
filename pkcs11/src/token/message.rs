//! Message-based signing and verification (PKCS#11 3.0 §5.14 and §5.16): one key
//! and one mechanism for many messages.
//!
//! `C_MessageSignInit` (`C_MessageVerifyInit`) checks the key and the mechanism once,
//! with the checks of `C_SignInit` (`C_VerifyInit`), [`super::crypto::start`], and
//! keeps them: a [`Process`]. Each message then gets a fresh operation of the
//! mechanism, the [`SignOp`] / [`VerifyOp`] that `C_SignInit` would make, so every
//! mechanism that signs also signs messages (`CKF_MESSAGE_SIGN` is set from that,
//! in the registry).
//!
//! The per-message parameter (`pParameter`) replaces the mechanism's parameter for
//! that message, where the mechanism has one that varies per message: a
//! `CK_SIGN_ADDITIONAL_CONTEXT` for `CKM_ML_DSA`, `CKM_SLH_DSA` and
//! `CKM_HASH_ML_DSA_*`, a `CK_HASH_SIGN_ADDITIONAL_CONTEXT` for `CKM_HASH_ML_DSA` (the
//! mechanism then checks it as it checks its init parameter). None given (null, or
//! length 0): the init's parameter. Any other parameter, and any parameter on other
//! mechanisms (their parameters, such as PSS's, are fixed at init), is
//! `CKR_MECHANISM_PARAM_INVALID`: the spec lists that code for these functions, and
//! the parameter is well formed as memory but wrong for the mechanism.
//! `C_*MessageNext` may repeat the `C_*MessageBegin` parameter or give none; a
//! different one is `CKR_MECHANISM_PARAM_INVALID`.
//!
//! The protocol:
//! - a message is single-part (`C_SignMessage`) or `C_SignMessageBegin`, then
//!   `C_SignMessageNext` until the call that asks for the signature;
//! - a length query, or a buffer too small, computes and consumes nothing: the caller
//!   repeats the call with the same arguments (§5.2); every signing mechanism here
//!   knows its signature's exact length beforehand;
//! - an error ends the message it happened in (bad pointers and lengths aside: the
//!   FFI layer refuses those before the operation sees the call, as for every other
//!   function of this module), never the process: only
//!   `C_MessageSignFinal` does (or `C_SessionCancel`, or closing the session), and it
//!   discards an unfinished message;
//! - `C_SignMessage` or `C_SignMessageBegin` while a multi-part message is unfinished
//!   is `CKR_OPERATION_ACTIVE` (the unfinished message goes on); `C_SignMessageNext`
//!   without `C_SignMessageBegin` is `CKR_OPERATION_NOT_INITIALIZED`;
//! - the audit counts one use of the key per message (as it counts one per
//!   `C_SignInit`), not per init;
//! - a key with `CKA_ALWAYS_AUTHENTICATE` needs `C_Login(CKU_CONTEXT_SPECIFIC)` after
//!   `C_MessageSignInit`, once for the process.
//!
//! The message-based processes are separate from `C_SignInit`'s and `C_VerifyInit`'s
//! operations (`C_SessionCancel` names them with their own `CKF_MESSAGE_SIGN` and
//! `CKF_MESSAGE_VERIFY`): a session may run one of each at once.

use std::sync::Arc;

use cryptoki_sys::*;

use super::crypto::start;
use super::{Ops, Output};
use crate::crypto::Provider;
use crate::error::{Result, err};
use crate::mechanism::{Mechanism, Param, SignOp, Use, VerifyOp};
use crate::module::Module;
use crate::object::Object;

/// Makes one message's operation (the registry's `MakeSign` or `MakeVerify`).
type Make<T> = fn(&dyn Provider, &Mechanism, &Object) -> Result<Box<T>>;

/// A message-based signing or verification process, from its init to its final.
pub struct Process<T: ?Sized> {
    key: Arc<Object>,
    mech: Mechanism,
    make: Make<T>,
    /// The key has `CKA_ALWAYS_AUTHENTICATE` and no context login happened yet.
    pub needs_login: bool,
    /// The multi-part message in progress, with its parameter.
    current: Option<(Param, Box<T>)>,
}

impl<T: ?Sized> Process<T> {
    /// Checks that the mechanism's constructor takes the key and the init parameter
    /// (so that errors show at init), and keeps them. A mechanism that needs a
    /// parameter (`CKM_HASH_ML_DSA`) may get it with each message instead.
    fn new(provider: &dyn Provider, make: Option<Make<T>>, mech: &Mechanism, key: Arc<Object>) -> Result<Self> {
        let make = make.ok_or_else(|| err(CKR_MECHANISM_INVALID, "not offered for this operation"))?;
        match make(provider, mech, &key) {
            Err(e) if !(mech.param == Param::None && e.rv() == CKR_MECHANISM_PARAM_INVALID) => return Err(e),
            _ => {}
        }
        let needs_login = key.attrs.bool(CKA_ALWAYS_AUTHENTICATE) == Some(true);
        Ok(Self { key, mech: mech.clone(), make, needs_login, current: None })
    }

    /// A new operation for one message, with the message's parameter (see the
    /// module's doc) or the init's: (the parameter used, the operation).
    fn message(&self, m: &Module, param: Param) -> Result<(Param, Box<T>)> {
        let mech = match param {
            Param::None => self.mech.clone(),
            p @ (Param::SignContext { .. } | Param::HashSignContext { .. }) => Mechanism { ty: self.mech.ty, param: p },
            _ => return Err(self.mech.bad_param("takes no per-message parameter")),
        };
        let op = (self.make)(m.provider.as_ref(), &mech, &self.key)?;
        Ok((mech.param, op))
    }

    /// A single-part message's operation.
    fn single(&self, m: &Module, param: Param) -> Result<Box<T>> {
        if self.current.is_some() {
            return Err(err(CKR_OPERATION_ACTIVE, "a multi-part message is unfinished"));
        }
        Ok(self.message(m, param)?.1)
    }

    /// `C_*MessageBegin`.
    fn begin(&mut self, m: &Module, param: Param) -> Result<()> {
        if self.current.is_some() {
            return Err(err(CKR_OPERATION_ACTIVE, "a multi-part message is unfinished"));
        }
        self.current = Some(self.message(m, param)?);
        Ok(())
    }

    /// One `C_*MessageNext` call on the message in progress: `f` returns its result
    /// and whether the message is done. An error ends the message.
    fn next<R>(&mut self, param: Param, f: impl FnOnce(&mut T) -> Result<(R, bool)>) -> Result<R> {
        let (begun, op) = self
            .current
            .as_mut()
            .ok_or_else(|| err(CKR_OPERATION_NOT_INITIALIZED, "no multi-part message: call C_*MessageBegin first"))?;
        let r = if param != Param::None && param != *begun {
            Err(self.mech.bad_param("a part's parameter differs from the one given to C_*MessageBegin"))
        } else {
            f(op)
        };
        match r {
            Ok((r, false)) => Ok(r),
            Ok((r, true)) => {
                self.current = None;
                Ok(r)
            }
            Err(e) => {
                self.current = None;
                Err(e)
            }
        }
    }
}

/// Runs `f` on the session's process in `slot`; counts a use of its key for the
/// audit when `f` says a message used it (after the session's lock is released: a
/// token lock is never taken while holding a session's).
fn with<T: ?Sized, R>(
    m: &Module,
    session: CK_SESSION_HANDLE,
    slot: fn(&mut Ops) -> &mut Option<Process<T>>,
    f: impl FnOnce(&mut Process<T>) -> Result<(R, bool)>,
) -> Result<R> {
    let s = m.session(session)?;
    let (r, used) = {
        let mut ops = s.ops.lock();
        let p = slot(&mut ops)
            .as_mut()
            .ok_or_else(|| err(CKR_OPERATION_NOT_INITIALIZED, "no message-based operation of this kind is active"))?;
        if p.needs_login {
            return Err(err(CKR_USER_NOT_LOGGED_IN, "the key needs C_Login(CKU_CONTEXT_SPECIFIC) first"));
        }
        let (r, used) = f(p)?;
        (r, used.then(|| p.key.clone()))
    };
    if let Some(key) = used {
        super::audit::key_used(m, s.token.partition, || super::audit::role_of(&s.token.state.read()), &key);
    }
    Ok(r)
}

fn signing(ops: &mut Ops) -> &mut Option<Process<dyn SignOp>> {
    &mut ops.message_sign
}

fn verifying(ops: &mut Ops) -> &mut Option<Process<dyn VerifyOp>> {
    &mut ops.message_verify
}

/// Ends a process (`C_MessageSignFinal`, `C_MessageVerifyFinal`).
fn end<T: ?Sized>(m: &Module, session: CK_SESSION_HANDLE, slot: fn(&mut Ops) -> &mut Option<Process<T>>) -> Result<()> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    slot(&mut ops)
        .take()
        .map(drop)
        .ok_or_else(|| err(CKR_OPERATION_NOT_INITIALIZED, "no message-based operation of this kind is active"))
}

/// The signature as output: the bytes when they fit `cap`, else the length.
fn deliver(signature: Vec<u8>, cap: Option<usize>) -> Output {
    Output::need(cap, signature.len()).unwrap_or(Output::Public(signature))
}

/// `C_MessageSignInit`.
pub fn message_sign_init(
    m: &Module,
    session: CK_SESSION_HANDLE,
    mech: &Mechanism,
    handle: CK_OBJECT_HANDLE,
) -> Result<()> {
    start(
        m,
        session,
        mech,
        handle,
        Use::MessageSign,
        |ops| ops.message_sign.is_some(),
        |entry, key| Process::new(m.provider.as_ref(), entry.sign, mech, key),
        |ops, p| ops.message_sign = Some(p),
    )
}

/// `C_SignMessage`. `param` decodes the message's parameter for the process's
/// mechanism (`Param::None` when there is none).
pub fn sign_message(
    m: &Module,
    session: CK_SESSION_HANDLE,
    param: impl FnOnce(CK_MECHANISM_TYPE) -> Result<Param>,
    data: &[u8],
    cap: Option<usize>,
) -> Result<Output> {
    with(m, session, signing, |p| {
        let mut op = p.single(m, param(p.mech.ty)?)?;
        if let Some(len) = Output::need(cap, op.sign_len()) {
            return Ok((len, false));
        }
        op.update(data)?;
        Ok((deliver(op.finish()?, cap), true))
    })
}

/// `C_SignMessageBegin`.
pub fn sign_message_begin(
    m: &Module,
    session: CK_SESSION_HANDLE,
    param: impl FnOnce(CK_MECHANISM_TYPE) -> Result<Param>,
) -> Result<()> {
    with(m, session, signing, |p| p.begin(m, param(p.mech.ty)?).map(|()| ((), true)))
}

/// `C_SignMessageNext` with more parts to follow (a null `pulSignatureLen`).
pub fn sign_message_next(
    m: &Module,
    session: CK_SESSION_HANDLE,
    param: impl FnOnce(CK_MECHANISM_TYPE) -> Result<Param>,
    data: &[u8],
) -> Result<()> {
    with(m, session, signing, |p| {
        let param = param(p.mech.ty)?;
        p.next(param, |op| op.update(data).map(|()| ((), false))).map(|()| ((), false))
    })
}

/// `C_SignMessageNext` with the last part, returning the signature.
pub fn sign_message_last(
    m: &Module,
    session: CK_SESSION_HANDLE,
    param: impl FnOnce(CK_MECHANISM_TYPE) -> Result<Param>,
    data: &[u8],
    cap: Option<usize>,
) -> Result<Output> {
    with(m, session, signing, |p| {
        let param = param(p.mech.ty)?;
        let out = p.next(param, |op| {
            if let Some(len) = Output::need(cap, op.sign_len()) {
                return Ok((len, false));
            }
            op.update(data)?;
            Ok((deliver(op.finish()?, cap), true))
        })?;
        Ok((out, false))
    })
}

/// `C_MessageSignFinal`.
pub fn message_sign_final(m: &Module, session: CK_SESSION_HANDLE) -> Result<()> {
    end(m, session, signing)
}

/// `C_MessageVerifyInit`.
pub fn message_verify_init(
    m: &Module,
    session: CK_SESSION_HANDLE,
    mech: &Mechanism,
    handle: CK_OBJECT_HANDLE,
) -> Result<()> {
    start(
        m,
        session,
        mech,
        handle,
        Use::MessageVerify,
        |ops| ops.message_verify.is_some(),
        |entry, key| Process::new(m.provider.as_ref(), entry.verify, mech, key),
        |ops, p| ops.message_verify = Some(p),
    )
}

/// `C_VerifyMessage`.
pub fn verify_message(
    m: &Module,
    session: CK_SESSION_HANDLE,
    param: impl FnOnce(CK_MECHANISM_TYPE) -> Result<Param>,
    data: &[u8],
    signature: &[u8],
) -> Result<()> {
    with(m, session, verifying, |p| {
        let mut op = p.single(m, param(p.mech.ty)?)?;
        op.update(data)?;
        op.finish(signature).map(|()| ((), true))
    })
}

/// `C_VerifyMessageBegin`.
pub fn verify_message_begin(
    m: &Module,
    session: CK_SESSION_HANDLE,
    param: impl FnOnce(CK_MECHANISM_TYPE) -> Result<Param>,
) -> Result<()> {
    with(m, session, verifying, |p| p.begin(m, param(p.mech.ty)?).map(|()| ((), true)))
}

/// `C_VerifyMessageNext`: `signature` is `None` while more parts follow (a null
/// `pSignature`), and the signature to check with the last part.
pub fn verify_message_next(
    m: &Module,
    session: CK_SESSION_HANDLE,
    param: impl FnOnce(CK_MECHANISM_TYPE) -> Result<Param>,
    data: &[u8],
    signature: Option<&[u8]>,
) -> Result<()> {
    with(m, session, verifying, |p| {
        let param = param(p.mech.ty)?;
        p.next(param, |op| {
            op.update(data)?;
            match signature {
                None => Ok(((), false)),
                Some(sig) => op.finish(sig).map(|()| ((), true)),
            }
        })
        .map(|()| ((), false))
    })
}

/// `C_MessageVerifyFinal`.
pub fn message_verify_final(m: &Module, session: CK_SESSION_HANDLE) -> Result<()> {
    end(m, session, verifying)
}
