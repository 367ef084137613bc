//! The C ABI: the only place in the crate that touches raw pointers.
//!
//! Every `C_*` export does four things: run inside [`guard`] (errors become their
//! `CK_RV`, a panic becomes `CKR_GENERAL_ERROR` and never crosses the boundary),
//! validate and copy its inputs with the helpers below, call the safe function of
//! the same name in [`crate::token`], and write its outputs back.
//!
//! # Safety rules of every pointer
//!
//! PKCS#11 callers hand us pointers with lengths. We trust only what the spec lets
//! us trust: a non-null pointer with a length points to that many readable (or, for
//! outputs, writable) bytes. Null pointers and impossible lengths are
//! `CKR_ARGUMENTS_BAD`, checked before use.

#![allow(unsafe_code)]
#![allow(non_snake_case)]
#![allow(clippy::missing_safety_doc)] // every export states its rules in its doc comment

mod crypto;
mod general;
mod kem;
mod mechanism;
mod object;
mod session;
mod slot;

use std::panic::{self, AssertUnwindSafe};
use std::ptr;

use cryptoki_sys::*;

use crate::error::{Result, err};
use crate::object::attr::{Kind, Template, kind};
use crate::token::Output;
use crate::token::objects::AttrOut;

pub use general::{C_GetFunctionList, C_GetInterface, C_GetInterfaceList};
pub(crate) use mechanism::mechanism;

/// The one panic boundary: runs `f`, maps its error to its `CK_RV`, and a panic to
/// `CKR_GENERAL_ERROR`.
pub(crate) fn guard(name: &'static str, f: impl FnOnce() -> Result<()>) -> CK_RV {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(e)) => {
            if e.rv() != CKR_BUFFER_TOO_SMALL {
                log::debug!("{name}: {e}");
            }
            e.rv()
        }
        Err(_) => {
            log::error!("{name}: internal error (panic caught at the boundary)");
            CKR_GENERAL_ERROR
        }
    }
}

/// The longest length we accept for any input or output (a length beyond it cannot
/// describe real memory).
const MAX_LEN: CK_ULONG = isize::MAX as CK_ULONG;

/// Reads `len` bytes at `p`.
///
/// # Safety
/// When `p` is non-null it must point to `len` readable bytes that stay valid and
/// unchanged for `'a`.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: CK_ULONG) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() || len > MAX_LEN {
        return Err(err(CKR_ARGUMENTS_BAD, "null or oversized input buffer"));
    }
    // SAFETY: non-null, and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len as usize) })
}

/// A writable buffer of `len` bytes at `p`.
///
/// # Safety
/// When `p` is non-null it must point to `len` writable bytes, not aliased, valid for `'a`.
pub(crate) unsafe fn bytes_mut<'a>(p: *mut u8, len: CK_ULONG) -> Result<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() || len > MAX_LEN {
        return Err(err(CKR_ARGUMENTS_BAD, "null or oversized output buffer"));
    }
    // SAFETY: non-null, and the caller guarantees `len` writable bytes.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len as usize) })
}

/// Writes `value` through an output pointer.
///
/// # Safety
/// When `p` is non-null it must be valid for a write of `T`.
pub(crate) unsafe fn write<T>(p: *mut T, value: T) -> Result<()> {
    if p.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "null output pointer"));
    }
    // SAFETY: non-null and writable by the caller's contract; unaligned-safe.
    unsafe { ptr::write_unaligned(p, value) };
    Ok(())
}

/// The capacity of a caller's output buffer: `None` for a length query (null
/// buffer), else `*len`.
///
/// # Safety
/// `len` must be null or valid for reads.
pub(crate) unsafe fn capacity(buf: *const u8, len: *const CK_ULONG) -> Result<Option<usize>> {
    if len.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "null length pointer"));
    }
    if buf.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null, readable by the caller's contract.
    let n = unsafe { ptr::read_unaligned(len) };
    Ok(Some(n.min(MAX_LEN) as usize))
}

/// Writes an [`Output`] following the length-query protocol (§5.2): the length
/// always; the bytes when they fit; `CKR_BUFFER_TOO_SMALL` when a buffer was given
/// and is short.
///
/// # Safety
/// `buf` must be null or point to `*len` writable bytes; `len` valid for read and write.
pub(crate) unsafe fn write_output(buf: *mut u8, len: *mut CK_ULONG, out: Output) -> Result<()> {
    let data: &[u8] = match &out {
        Output::Len(n) => {
            // SAFETY: `len` was checked non-null by `capacity`.
            unsafe { write(len, *n as CK_ULONG)? };
            return if buf.is_null() { Ok(()) } else { Err(err(CKR_BUFFER_TOO_SMALL, "output buffer too small")) };
        }
        Output::Data(d) => d,
        Output::Public(d) => d,
    };
    if !data.is_empty() {
        // SAFETY: the inner function produced data only after checking the capacity.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len()) };
    }
    // SAFETY: as above.
    unsafe { write(len, data.len() as CK_ULONG) }
}

/// Writes a list of values following the length-query protocol.
///
/// # Safety
/// `list` must be null or point to `*len` writable elements; `len` valid for read and write.
pub(crate) unsafe fn write_list<T: Copy>(list: *mut T, len: *mut CK_ULONG, items: &[T]) -> Result<()> {
    if len.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "null count pointer"));
    }
    // SAFETY: `len` is non-null and readable by the caller's contract.
    let cap = unsafe { ptr::read_unaligned(len) };
    // SAFETY: as above, writable.
    unsafe { ptr::write_unaligned(len, items.len() as CK_ULONG) };
    if list.is_null() {
        return Ok(());
    }
    if (cap as usize) < items.len() {
        return Err(err(CKR_BUFFER_TOO_SMALL, "list buffer too small"));
    }
    for (i, item) in items.iter().enumerate() {
        // SAFETY: `list` holds at least `cap >= items.len()` elements.
        unsafe { ptr::write_unaligned(list.add(i), *item) };
    }
    Ok(())
}

/// How deep nested attribute templates may go (`CKA_WRAP_TEMPLATE` inside a
/// `CKA_DERIVE_TEMPLATE`, ...). Real templates nest once.
const MAX_TEMPLATE_DEPTH: usize = 4;

/// Copies a caller's template into canonical form ([`crate::object::attr`]).
///
/// # Safety
/// When `p` is non-null it must point to `count` readable `CK_ATTRIBUTE`s, each of
/// whose `pValue` (when non-null) points to `ulValueLen` readable bytes.
pub(crate) unsafe fn template(p: *const CK_ATTRIBUTE, count: CK_ULONG) -> Result<Template> {
    // SAFETY: forwarded contract.
    unsafe { template_at(p, count, 0) }
}

unsafe fn template_at(p: *const CK_ATTRIBUTE, count: CK_ULONG, depth: usize) -> Result<Template> {
    if count == 0 {
        return Ok(Template::default());
    }
    if p.is_null() || count > MAX_LEN / size_of::<CK_ATTRIBUTE>() as CK_ULONG {
        return Err(err(CKR_ARGUMENTS_BAD, "null or oversized template"));
    }
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        // SAFETY: `p` holds `count` attributes.
        let a = unsafe { ptr::read_unaligned(p.add(i)) };
        // SAFETY: the caller's contract on `pValue`.
        let value = unsafe { attribute_in(a.type_, a.pValue as *const u8, a.ulValueLen, depth)? };
        out.push((a.type_, value));
    }
    Ok(Template(out))
}

/// One attribute value from C form to canonical form.
unsafe fn attribute_in(ty: CK_ATTRIBUTE_TYPE, p: *const u8, len: CK_ULONG, depth: usize) -> Result<Vec<u8>> {
    let bad = |what: &str| err(CKR_ATTRIBUTE_VALUE_INVALID, format!("{} {what}", crate::error::Attr(ty)));
    const UL: usize = size_of::<CK_ULONG>();
    match kind(ty) {
        Kind::Ulong | Kind::MechList => {
            // SAFETY: forwarded contract.
            let raw = unsafe { bytes(p, len)? };
            if (kind(ty) == Kind::Ulong && raw.len() != UL) || raw.len() % UL != 0 {
                return Err(bad("must be a CK_ULONG (or an array of them)"));
            }
            Ok(raw
                .chunks_exact(UL)
                .flat_map(|c| (CK_ULONG::from_ne_bytes(c.try_into().expect("chunk of UL")) as u64).to_le_bytes())
                .collect())
        }
        Kind::Template => {
            if depth >= MAX_TEMPLATE_DEPTH {
                return Err(bad("nests templates too deeply"));
            }
            let n = len as usize / size_of::<CK_ATTRIBUTE>();
            if !(len as usize).is_multiple_of(size_of::<CK_ATTRIBUTE>()) {
                return Err(bad("must be an array of CK_ATTRIBUTE"));
            }
            // SAFETY: `p` points to `len` bytes, i.e. `n` attributes.
            let t = unsafe { template_at(p as *const CK_ATTRIBUTE, n as CK_ULONG, depth + 1)? };
            Ok(t.encode())
        }
        // SAFETY: forwarded contract.
        Kind::Bool | Kind::Bytes | Kind::Date => Ok(unsafe { bytes(p, len)? }.to_vec()),
    }
}

/// One attribute value from canonical form to C form (templates aside).
fn attribute_out(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Vec<u8> {
    match kind(ty) {
        Kind::Ulong | Kind::MechList => v
            .chunks_exact(8)
            .flat_map(|c| (u64::from_le_bytes(c.try_into().expect("chunk of 8")) as CK_ULONG).to_ne_bytes())
            .collect(),
        _ => v.to_vec(),
    }
}

/// Fills a caller's `CK_ATTRIBUTE` array with answers, following §5.7 of
/// `C_GetAttributeValue` (and its rules for arrays of attributes). Returns the
/// first error that applies, after filling every entry.
///
/// # Safety
/// `p` must point to `answers.len()` writable `CK_ATTRIBUTE`s whose non-null
/// `pValue` point to `ulValueLen` writable bytes.
pub(crate) unsafe fn write_attributes(p: *mut CK_ATTRIBUTE, answers: Vec<AttrOut>) -> CK_RV {
    let mut rv = CKR_OK;
    for (i, answer) in answers.into_iter().enumerate() {
        // SAFETY: `p` holds `answers.len()` attributes.
        let slot = unsafe { &mut *p.add(i) };
        let r = match answer {
            AttrOut::Invalid => Err(CKR_ATTRIBUTE_TYPE_INVALID),
            AttrOut::Sensitive => Err(CKR_ATTRIBUTE_SENSITIVE),
            // SAFETY: forwarded contract.
            AttrOut::Value(v) => unsafe { fill(slot, &v, 0) },
        };
        if let Err(e) = r {
            slot.ulValueLen = CK_UNAVAILABLE_INFORMATION;
            if rv == CKR_OK {
                rv = e;
            }
        }
    }
    rv
}

/// Writes one canonical value into a caller's attribute.
unsafe fn fill(slot: &mut CK_ATTRIBUTE, v: &[u8], depth: usize) -> std::result::Result<(), CK_RV> {
    if kind(slot.type_) == Kind::Template && depth < MAX_TEMPLATE_DEPTH {
        let t = Template::decode(v).map_err(|_| CKR_GENERAL_ERROR)?;
        let need = t.0.len() * size_of::<CK_ATTRIBUTE>();
        if slot.pValue.is_null() {
            slot.ulValueLen = need as CK_ULONG;
            return Ok(());
        }
        if (slot.ulValueLen as usize) < need {
            return Err(CKR_BUFFER_TOO_SMALL);
        }
        let inner = slot.pValue as *mut CK_ATTRIBUTE;
        let mut rv = Ok(());
        for (i, (ty, value)) in t.0.iter().enumerate() {
            // SAFETY: the caller's array holds `need / size_of` attributes.
            let s = unsafe { &mut *inner.add(i) };
            s.type_ = *ty;
            // SAFETY: forwarded contract.
            if let Err(e) = unsafe { fill(s, value, depth + 1) } {
                s.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                rv = rv.and(Err(e));
            }
        }
        slot.ulValueLen = need as CK_ULONG;
        return rv;
    }
    let c = attribute_out(slot.type_, v);
    if slot.pValue.is_null() {
        slot.ulValueLen = c.len() as CK_ULONG;
        return Ok(());
    }
    if (slot.ulValueLen as usize) < c.len() {
        return Err(CKR_BUFFER_TOO_SMALL);
    }
    // SAFETY: `pValue` holds `ulValueLen >= c.len()` writable bytes.
    unsafe { ptr::copy_nonoverlapping(c.as_ptr(), slot.pValue as *mut u8, c.len()) };
    slot.ulValueLen = c.len() as CK_ULONG;
    Ok(())
}
