//! Message digesting (PKCS#11 §5.10).
//!
//! Every call but a length query or `CKR_BUFFER_TOO_SMALL` ends the operation,
//! successful or not (§5.10, `C_Digest`).

use cryptoki_sys::*;

use super::objects::object;
use super::{Output, Session};
use crate::crypto::{HashAlg, Hasher};
use crate::error::{Result, err};
use crate::mechanism::Mechanism;
use crate::module::Module;

/// A digest in progress.
pub struct DigestOp {
    alg: HashAlg,
    hasher: Box<dyn Hasher>,
    /// `C_DigestUpdate` or `C_DigestKey` was called: only `C_DigestFinal` may finish.
    multi: bool,
}

/// Runs `f` on the session's digest, ending the operation when `f` fails.
fn with_op<T>(s: &Session, f: impl FnOnce(&mut Option<DigestOp>) -> Result<T>) -> Result<T> {
    let mut ops = s.ops.lock();
    if ops.digest.is_none() {
        return Err(err(CKR_OPERATION_NOT_INITIALIZED, "no digest active"));
    }
    let r = f(&mut ops.digest);
    if r.is_err() {
        ops.digest = None;
    }
    r
}

/// `C_DigestInit`.
pub fn digest_init(m: &Module, session: CK_SESSION_HANDLE, mech: &Mechanism) -> Result<()> {
    let s = m.session(session)?;
    let mut ops = s.ops.lock();
    if ops.digest.is_some() {
        return Err(err(CKR_OPERATION_ACTIVE, "a digest is already active"));
    }
    m.mechanisms.check(mech.ty, CKF_DIGEST)?;
    let alg = HashAlg::from_mechanism(mech.ty).ok_or_else(|| err(CKR_MECHANISM_INVALID, "not a digest"))?;
    mech.no_parameter()?;
    ops.digest = Some(DigestOp { alg, hasher: m.provider.hasher(alg), multi: false });
    Ok(())
}

/// `C_Digest`.
pub fn digest(m: &Module, session: CK_SESSION_HANDLE, data: &[u8], cap: Option<usize>) -> Result<Output> {
    let s = m.session(session)?;
    with_op(&s, |slot| {
        let op = slot.as_mut().expect("checked by with_op");
        if op.multi {
            return Err(err(CKR_OPERATION_ACTIVE, "C_Digest cannot finish a multi-part digest"));
        }
        if let Some(out) = Output::need(cap, op.alg.output_len()) {
            return Ok(out);
        }
        let mut op = slot.take().expect("checked by with_op");
        op.hasher.update(data);
        Ok(Output::Public(op.hasher.finish()))
    })
}

/// `C_DigestUpdate`.
pub fn digest_update(m: &Module, session: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
    let s = m.session(session)?;
    with_op(&s, |slot| {
        let op = slot.as_mut().expect("checked by with_op");
        op.multi = true;
        op.hasher.update(data);
        Ok(())
    })
}

/// `C_DigestKey`: digests a secret key's value, which stays inside.
pub fn digest_key(m: &Module, session: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<()> {
    let s = m.session(session)?;
    let obj = object(&s.token.state.read(), key).map_err(|_| err(CKR_KEY_HANDLE_INVALID, format!("no key {key}")));
    with_op(&s, |slot| {
        let obj = obj?;
        if obj.class() != CKO_SECRET_KEY {
            return Err(err(CKR_KEY_INDIGESTIBLE, "only secret keys can be digested"));
        }
        let value = obj.attrs.get(CKA_VALUE).ok_or_else(|| err(CKR_KEY_INDIGESTIBLE, "key value not loaded"))?;
        let op = slot.as_mut().expect("checked by with_op");
        op.multi = true;
        op.hasher.update(value);
        Ok(())
    })
}

/// `C_DigestFinal`.
pub fn digest_final(m: &Module, session: CK_SESSION_HANDLE, cap: Option<usize>) -> Result<Output> {
    let s = m.session(session)?;
    with_op(&s, |slot| {
        let len = slot.as_ref().expect("checked by with_op").alg.output_len();
        if let Some(out) = Output::need(cap, len) {
            return Ok(out);
        }
        let op = slot.take().expect("checked by with_op");
        Ok(Output::Public(op.hasher.finish()))
    })
}
