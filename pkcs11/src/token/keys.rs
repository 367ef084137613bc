//! Key management (PKCS#11 §5.14): `C_GenerateKey`, `C_GenerateKeyPair`,
//! `C_WrapKey`, `C_UnwrapKey`, `C_DeriveKey`.
//!
//! The mechanism families make key material; this module turns templates into
//! objects through the rule table (with the provenance each call implies: a
//! generated key is local, an unwrapped or derived one never is), enforces the
//! wrapping rules (`CKA_EXTRACTABLE`, `CKA_WRAP_WITH_TRUSTED` / `CKA_TRUSTED`,
//! `CKA_WRAP_TEMPLATE`, `CKA_UNWRAP_TEMPLATE`, `CKA_DERIVE_TEMPLATE`) and stores
//! the result. Slow key generation runs with no token lock held.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::crypto::key;
use super::objects::{ctx, insert_many, insert_new};
use super::{Output, Session};
use crate::error::{Error, Result, err};
use crate::mechanism::{self, Mechanism, Use};
use crate::module::Module;
use crate::object::attr::{Kind, Template, kind};
use crate::object::build::{self, Op, finish_secret};
use crate::object::{Attrs, Object, Shape};

/// `C_GenerateKey`.
pub fn generate_key(
    m: &Module,
    session: CK_SESSION_HANDLE,
    mech: &Mechanism,
    template: &Template,
) -> Result<CK_OBJECT_HANDLE> {
    let s = m.session(session)?;
    let entry = m.mechanisms.check(mech.ty, CKF_GENERATE)?;
    let (kt, generate) =
        entry.generate_key.ok_or_else(|| err(CKR_MECHANISM_INVALID, "not a key generation mechanism"))?;
    // PBKDF2 makes a secret key of any type the template names (an AES key from a
    // password is its common use); the others make their own type.
    let kt = match (mech.ty, template.ulong(CKA_KEY_TYPE)?) {
        (CKM_PKCS5_PBKD2, Some(t)) => t as CK_KEY_TYPE,
        _ => kt,
    };
    let mut attrs = {
        let st = s.token.state.read();
        build::build(template, Some(CKO_SECRET_KEY), Some(kt), Op::Generate(mech.ty), &ctx(m, &st))?
    };
    let value = generate(m.provider.as_ref(), mech, &attrs)?;
    finish_secret(&mut attrs, m.provider.as_ref(), value.to_vec())?;
    insert_new(m, &s, &mut s.token.write(), attrs)
}

/// `C_GenerateKeyPair`: returns (public, private).
pub fn generate_key_pair(
    m: &Module,
    session: CK_SESSION_HANDLE,
    mech: &Mechanism,
    public: &Template,
    private: &Template,
) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
    let s = m.session(session)?;
    let entry = m.mechanisms.check(mech.ty, CKF_GENERATE_KEY_PAIR)?;
    let (kt, generate) =
        entry.generate_key_pair.ok_or_else(|| err(CKR_MECHANISM_INVALID, "not a key pair generation mechanism"))?;
    let op = Op::Generate(mech.ty);
    let (mut pub_attrs, mut priv_attrs) = {
        let st = s.token.state.read();
        let p =
            build::build(public, Some(CKO_PUBLIC_KEY), Some(kt), op, &ctx(m, &st)).map_err(public_template_error)?;
        let q = build::build(private, Some(CKO_PRIVATE_KEY), Some(kt), op, &ctx(m, &st))?;
        // Refuse before the (slow) generation what could not be stored anyway.
        for a in [&p, &q] {
            super::objects::check_write(&s, &st, a.bool(CKA_TOKEN) == Some(true), a.bool(CKA_PRIVATE) != Some(false))?;
        }
        (p, q)
    };
    generate(m.provider.as_ref(), mech, &mut pub_attrs, &mut priv_attrs)?;
    let mut st = s.token.write();
    // In a user partition the pair is born with its attestation certificate, in the
    // same store batch: all three, or none.
    let mut all = vec![pub_attrs, priv_attrs];
    if let Some(cert) = super::attest::birth_certificate(m, &s, &st, &all[1])? {
        all.push(cert);
    }
    let handles = insert_many(m, &s, &mut st, all)?;
    Ok((handles[0], handles[1]))
}

/// Errors about a public-key template keep their code; this is where a caller
/// would learn which template was wrong, in the log.
fn public_template_error(e: Error) -> Error {
    let msg = format!("public key template: {}", e.message());
    Error::new(e.rv()).context(msg)
}

/// Whether every attribute of `t` has that value in `attrs`.
fn matches_template(t: &Template, attrs: &Attrs) -> bool {
    t.0.iter().all(|(ty, v)| match kind(*ty) {
        Kind::Bool => attrs.bool(*ty) == v.first().map(|b| *b != 0),
        _ => attrs.get(*ty) == Some(v.as_slice()),
    })
}

/// A key's template attribute (`CKA_WRAP_TEMPLATE`...), empty when absent.
pub(super) fn template_of(key: &Object, ty: CK_ATTRIBUTE_TYPE) -> Result<Template> {
    Template::decode(key.attrs.get(ty).unwrap_or_default())
}

/// The caller's template with the key's template added: an attribute in both must
/// have the same value (`CKR_TEMPLATE_INCONSISTENT`).
pub(super) fn merged(caller: &Template, required: &Template) -> Result<Template> {
    let mut t = caller.clone();
    t.0.extend(required.0.iter().cloned());
    build::normalise(&t)
}

fn wrapping_key(s: &Session, handle: CK_OBJECT_HANDLE, rv: CK_RV) -> Result<std::sync::Arc<Object>> {
    key(s, handle).map_err(|_| err(rv, format!("no key {handle}")))
}

/// Maps the errors about a wrapping key to their wrapping-specific codes.
fn as_wrapping_error(e: Error, unwrap: bool) -> Error {
    let rv = match (e.rv(), unwrap) {
        (CKR_KEY_TYPE_INCONSISTENT, false) => CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
        (CKR_KEY_TYPE_INCONSISTENT, true) => CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
        (CKR_KEY_SIZE_RANGE, false) => CKR_WRAPPING_KEY_SIZE_RANGE,
        (CKR_KEY_SIZE_RANGE, true) => CKR_UNWRAPPING_KEY_SIZE_RANGE,
        (rv, _) => rv,
    };
    Error::new(rv).context(e.message())
}

/// `C_WrapKey`.
pub fn wrap_key(
    m: &Module,
    session: CK_SESSION_HANDLE,
    mech: &Mechanism,
    wrapping: CK_OBJECT_HANDLE,
    handle: CK_OBJECT_HANDLE,
    cap: Option<usize>,
) -> Result<Output> {
    let s = m.session(session)?;
    let wkey = wrapping_key(&s, wrapping, CKR_WRAPPING_KEY_HANDLE_INVALID)?;
    let target = key(&s, handle)?;
    let entry = m.mechanisms.check_key(mech.ty, Use::Wrap, &wkey).map_err(|e| as_wrapping_error(e, false))?;
    if cap.is_some() {
        // A length query is not a use; the call that wraps is.
        super::audit::key_used(m, s.token.partition, || super::audit::role_of(&s.token.state.read()), &wkey);
    }
    // §4.9, §4.10: only extractable keys leave; a key marked wrap-with-trusted only
    // under a trusted key; and the wrapping key's template must match.
    if target.attrs.bool(CKA_EXTRACTABLE) != Some(true) {
        return Err(err(CKR_KEY_UNEXTRACTABLE, "the key is not extractable"));
    }
    if !s.token.state.read().policy().allow_export {
        return Err(err(
            CKR_KEY_UNEXTRACTABLE,
            "the partition's policy allows no export (CKA_FERRO_POLICY_ALLOW_EXPORT)",
        ));
    }
    if target.attrs.bool(CKA_WRAP_WITH_TRUSTED) == Some(true) && wkey.attrs.bool(CKA_TRUSTED) != Some(true) {
        return Err(err(CKR_KEY_NOT_WRAPPABLE, "the key may only be wrapped by a trusted key"));
    }
    if !matches_template(&template_of(&wkey, CKA_WRAP_TEMPLATE)?, &target.attrs) {
        return Err(err(CKR_KEY_NOT_WRAPPABLE, "the key does not match the wrapping key's CKA_WRAP_TEMPLATE"));
    }
    let bytes: Zeroizing<Vec<u8>> = match target.shape() {
        Some(Shape::Secret(_)) => Zeroizing::new(
            target.attrs.get(CKA_VALUE).ok_or_else(|| err(CKR_KEY_NOT_WRAPPABLE, "no key value"))?.to_vec(),
        ),
        Some(Shape::Private(_)) => mechanism::encode_private_key(m.provider.as_ref(), &target)?,
        _ => return Err(err(CKR_KEY_NOT_WRAPPABLE, "only secret and private keys are wrapped")),
    };
    let make = entry.encrypt.ok_or_else(|| err(CKR_MECHANISM_INVALID, "not a wrapping mechanism"))?;
    let mut op = make(m.provider.as_ref(), mech, &wkey).map_err(|e| as_wrapping_error(e, false))?;
    let bound = op.one_shot_len(bytes.len());
    let Some(c) = cap else { return Ok(Output::Len(bound)) };
    let out = op.one_shot(&bytes).map_err(|e| match e.rv() {
        CKR_DATA_LEN_RANGE => Error::new(CKR_KEY_SIZE_RANGE).context(e.message()),
        _ => e,
    })?;
    if out.len() > c {
        return Ok(Output::Len(out.len()));
    }
    // A wrapped key is encrypted: it need not be wiped.
    Ok(Output::Data(out).public_unless(false))
}

/// `C_UnwrapKey`.
pub fn unwrap_key(
    m: &Module,
    session: CK_SESSION_HANDLE,
    mech: &Mechanism,
    unwrapping: CK_OBJECT_HANDLE,
    wrapped: &[u8],
    template: &Template,
) -> Result<CK_OBJECT_HANDLE> {
    let s = m.session(session)?;
    let ukey = wrapping_key(&s, unwrapping, CKR_UNWRAPPING_KEY_HANDLE_INVALID)?;
    let entry = m.mechanisms.check_key(mech.ty, Use::Unwrap, &ukey).map_err(|e| as_wrapping_error(e, true))?;
    super::audit::key_used(m, s.token.partition, || super::audit::role_of(&s.token.state.read()), &ukey);
    let template = merged(template, &template_of(&ukey, CKA_UNWRAP_TEMPLATE)?)?;
    let make = entry.decrypt.ok_or_else(|| err(CKR_MECHANISM_INVALID, "not an unwrapping mechanism"))?;
    let mut op = make(m.provider.as_ref(), mech, &ukey).map_err(|e| as_wrapping_error(e, true))?;
    let plain = op.one_shot(wrapped).map_err(|e| match e.rv() {
        CKR_ENCRYPTED_DATA_LEN_RANGE => Error::new(CKR_WRAPPED_KEY_LEN_RANGE).context(e.message()),
        CKR_ENCRYPTED_DATA_INVALID => Error::new(CKR_WRAPPED_KEY_INVALID).context(e.message()),
        _ => e,
    })?;
    let mut attrs = {
        let st = s.token.state.read();
        build::build(&template, None, None, Op::Unwrap, &ctx(m, &st))?
    };
    match crate::object::shape_of(attrs.ulong(CKA_CLASS).unwrap_or(0) as CK_OBJECT_CLASS, |t| attrs.ulong(t)) {
        Some(Shape::Secret(_)) => {
            // AES-ECB and AES-CBC pad to whole blocks without saying how much: the
            // template's CKA_VALUE_LEN cuts the padding. Every other mechanism
            // gives the key's exact bytes, which CKA_VALUE_LEN must then agree with.
            let padded = matches!(mech.ty, CKM_AES_ECB | CKM_AES_CBC);
            let value = match attrs.ulong(CKA_VALUE_LEN).map(|n| n as usize) {
                Some(n) if n > plain.len() => return Err(err(CKR_WRAPPED_KEY_INVALID, "shorter than CKA_VALUE_LEN")),
                Some(n) if n < plain.len() && !padded => {
                    return Err(err(CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN does not match the unwrapped key"));
                }
                Some(n) => plain[..n].to_vec(),
                None => plain.to_vec(),
            };
            finish_secret(&mut attrs, m.provider.as_ref(), value)
                .map_err(|e| Error::new(CKR_WRAPPED_KEY_INVALID).context(e.message()))?;
        }
        Some(shape @ Shape::Private(kt)) => {
            // A key that does not decode, or whose parts disagree, is a bad wrapped key.
            let wrapped_invalid = |e: Error| Error::new(CKR_WRAPPED_KEY_INVALID).context(e.message());
            let material = mechanism::decode_private_key(m.provider.as_ref(), kt, &plain).map_err(wrapped_invalid)?;
            for (ty, v) in material.iter() {
                attrs.set(ty, v.to_vec());
            }
            mechanism::validate_import(m.provider.as_ref(), shape, &mut attrs).map_err(wrapped_invalid)?;
        }
        _ => return Err(err(CKR_TEMPLATE_INCONSISTENT, "only secret and private keys are unwrapped")),
    }
    insert_new(m, &s, &mut s.token.write(), attrs)
}

/// `C_DeriveKey`.
pub fn derive_key(
    m: &Module,
    session: CK_SESSION_HANDLE,
    mech: &Mechanism,
    base: CK_OBJECT_HANDLE,
    template: &Template,
) -> Result<CK_OBJECT_HANDLE> {
    Ok(derive_keys(m, session, mech, base, template)?.0)
}

/// `C_DeriveKey`: the new key and the additional keys some mechanisms make
/// (SP 800-108's `CK_DERIVED_KEY` list), for the FFI layer to write back.
pub fn derive_keys(
    m: &Module,
    session: CK_SESSION_HANDLE,
    mech: &Mechanism,
    base: CK_OBJECT_HANDLE,
    template: &Template,
) -> Result<(CK_OBJECT_HANDLE, Vec<CK_OBJECT_HANDLE>)> {
    let s = m.session(session)?;
    let base = key(&s, base)?;
    let entry = m.mechanisms.check_key(mech.ty, Use::Derive, &base)?;
    super::audit::key_used(m, s.token.partition, || super::audit::role_of(&s.token.state.read()), &base);
    if let Some(make) = entry.derive_keys {
        return super::kdf::derive(m, &s, mech, &base, make, template);
    }
    let derive = entry.derive.ok_or_else(|| err(CKR_MECHANISM_INVALID, "not a derivation mechanism"))?;
    let template = merged(template, &template_of(&base, CKA_DERIVE_TEMPLATE)?)?;
    let op = Op::Derive {
        always_sensitive: base.attrs.bool(CKA_ALWAYS_SENSITIVE) == Some(true),
        never_extractable: base.attrs.bool(CKA_NEVER_EXTRACTABLE) == Some(true),
    };
    let class = if template.get(CKA_CLASS).is_none() { Some(CKO_SECRET_KEY) } else { None };
    let mut attrs = {
        let st = s.token.state.read();
        build::build(&template, class, None, op, &ctx(m, &st))?
    };
    if attrs.ulong(CKA_CLASS) != Some(CKO_SECRET_KEY as u64) {
        return Err(err(CKR_TEMPLATE_INCONSISTENT, "derivation makes secret keys"));
    }
    // A key type of fixed length (DES2, DES3) gives the length when the template
    // does not.
    let kt = attrs.ulong(CKA_KEY_TYPE).map(|k| k as CK_KEY_TYPE);
    let len = attrs.ulong(CKA_VALUE_LEN).map(|n| n as usize).or_else(|| kt.and_then(mechanism::des::fixed_key_len));
    let value = derive(m.provider.as_ref(), mech, &base, len)?;
    let aes_without_len = len.is_none() && attrs.ulong(CKA_KEY_TYPE) == Some(CKK_AES as u64);
    finish_secret(&mut attrs, m.provider.as_ref(), value.to_vec()).map_err(|e| {
        // An AES key needs a length the mechanism's natural output may not have.
        if aes_without_len {
            err(CKR_TEMPLATE_INCOMPLETE, "give CKA_VALUE_LEN (16, 24 or 32) for an AES key")
        } else {
            e
        }
    })?;
    Ok((insert_new(m, &s, &mut s.token.write(), attrs)?, Vec::new()))
}
