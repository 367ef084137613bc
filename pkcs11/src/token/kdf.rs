//! `C_DeriveKey` for the key derivation family ([`crate::mechanism::kdf`]): the
//! part that knows about objects.
//!
//! Resolves the other key a parameter names (HKDF's salt key, the second key of
//! `CKM_CONCATENATE_BASE_AND_KEY`), builds the attributes of every output (the
//! call's template, then SP 800-108's additional keys, each merged with the base
//! key's `CKA_DERIVE_TEMPLATE`), applies each mechanism's sensitivity rules,
//! has the mechanism compute the values and stores every output in one batch:
//! all of them, or none.
//!
//! Provenance, for every output: origin "derived", `CKA_LOCAL` false,
//! `CKA_KEY_GEN_MECHANISM` unavailable, and `CKA_ALWAYS_SENSITIVE` /
//! `CKA_NEVER_EXTRACTABLE` true only when every input key had them and the new key
//! is sensitive / not extractable (PKCS#11 v3.0 §4.10 and each mechanism's rules).

use std::sync::Arc;

use cryptoki_sys::*;

use super::Session;
use super::crypto::key;
use super::objects::{ctx, insert_many};
use crate::error::{Mech, Result, err};
use crate::mechanism::kdf::{self, DeriveKeys, Inputs, Out};
use crate::mechanism::{Mechanism, check_allowed};
use crate::module::Module;
use crate::object::attr::{Template, bool_value};
use crate::object::build::{self, Op, finish_secret};
use crate::object::{Attrs, Object, Shape};

/// Sets `ty` to `v` unless the template gives it.
fn default_to(t: &mut Template, ty: CK_ATTRIBUTE_TYPE, v: bool) {
    if t.get(ty).is_none() {
        t.0.push((ty, bool_value(v)));
    }
}

/// Requires `ty` to be `v`: set when absent, `CKR_TEMPLATE_INCONSISTENT` when the
/// template says otherwise.
fn require(t: &mut Template, ty: CK_ATTRIBUTE_TYPE, v: bool, why: &'static str) -> Result<()> {
    match t.bool(ty)? {
        Some(x) if x != v => Err(err(CKR_TEMPLATE_INCONSISTENT, why)),
        Some(_) => Ok(()),
        None => {
            t.0.push((ty, bool_value(v)));
            Ok(())
        }
    }
}

/// The other key of the parameter: a secret key the mechanism may use.
fn other_key(s: &Session, mech: &Mechanism, handle: CK_OBJECT_HANDLE) -> Result<Arc<Object>> {
    let k = key(s, handle)?;
    if !matches!(k.shape(), Some(Shape::Secret(_))) {
        return Err(err(
            CKR_KEY_HANDLE_INVALID,
            format!("{}: the key the parameter names is not a secret key", Mech(mech.ty)),
        ));
    }
    check_allowed(&k, mech.ty)?;
    Ok(k)
}

/// `C_DeriveKey` with a [`kdf`] mechanism: the new key (or data object) and the
/// additional keys, in the order of their templates.
pub(super) fn derive(
    m: &Module,
    s: &Session,
    mech: &Mechanism,
    base: &Arc<Object>,
    make: DeriveKeys,
    template: &Template,
) -> Result<(CK_OBJECT_HANDLE, Vec<CK_OBJECT_HANDLE>)> {
    let other = kdf::other_key(mech).map(|h| other_key(s, mech, h)).transpose()?;
    let sources: Vec<&Object> = std::iter::once(base.as_ref()).chain(other.as_deref()).collect();
    let every = |ty| sources.iter().all(|k| k.attrs.bool(ty) == Some(true));
    let any = |ty, v| sources.iter().any(|k| k.attrs.bool(ty) == Some(v));
    let op =
        Op::Derive { always_sensitive: every(CKA_ALWAYS_SENSITIVE), never_extractable: every(CKA_NEVER_EXTRACTABLE) };
    let derive_template = Template::decode(base.attrs.get(CKA_DERIVE_TEMPLATE).unwrap_or_default())?;
    let data_object = mech.ty == CKM_HKDF_DATA;

    let mut all: Vec<Attrs> = Vec::new();
    let mut outs: Vec<Out> = Vec::new();
    for t in std::iter::once(template).chain(kdf::additional_templates(mech)) {
        let mut t = t.clone();
        t.0.extend(derive_template.0.iter().cloned());
        let mut t = build::normalise(&t)?;
        let mut len = None;
        let class = if data_object {
            // The data object has no CKA_VALUE_LEN: the template's says how many
            // bytes to derive, and is not kept.
            len = t.ulong(CKA_VALUE_LEN)?.map(|n| n as usize);
            t.0.retain(|(ty, _)| *ty != CKA_VALUE_LEN);
            CKO_DATA
        } else {
            CKO_SECRET_KEY
        };
        if t.ulong(CKA_CLASS)?.is_some_and(|c| c != class as u64) {
            return Err(err(CKR_TEMPLATE_INCONSISTENT, format!("{} makes objects of class {class:#x}", Mech(mech.ty))));
        }
        match mech.ty {
            // "If omitted, these attributes each take on the value of these
            // attributes as they are defined in the base key."
            CKM_SP800_108_COUNTER_KDF | CKM_SP800_108_FEEDBACK_KDF | CKM_SP800_108_DOUBLE_PIPELINE_KDF => {
                default_to(&mut t, CKA_SENSITIVE, base.attrs.bool(CKA_SENSITIVE) == Some(true));
                default_to(&mut t, CKA_EXTRACTABLE, base.attrs.bool(CKA_EXTRACTABLE) != Some(false));
            }
            // "If [either] original key has its CKA_SENSITIVE attribute set to
            // CK_TRUE, so does the derived key"; likewise CKA_EXTRACTABLE false.
            // For extraction the spec makes a sensitive base key's derived key
            // sensitive "for the derivation to succeed". A template that asks for
            // the opposite is refused rather than silently overridden.
            CKM_CONCATENATE_BASE_AND_KEY
            | CKM_CONCATENATE_BASE_AND_DATA
            | CKM_CONCATENATE_DATA_AND_BASE
            | CKM_XOR_BASE_AND_DATA
            | CKM_EXTRACT_KEY_FROM_KEY => {
                if any(CKA_SENSITIVE, true) {
                    require(&mut t, CKA_SENSITIVE, true, "a key derived from a sensitive key is sensitive")?;
                }
                if any(CKA_EXTRACTABLE, false) {
                    require(
                        &mut t,
                        CKA_EXTRACTABLE,
                        false,
                        "a key derived from an unextractable key is unextractable",
                    )?;
                }
            }
            _ => {}
        }
        let attrs = {
            let st = s.token.state.read();
            build::build(&t, Some(class), None, op, &ctx(m, &st))?
        };
        let key_type =
            (!data_object).then(|| attrs.ulong(CKA_KEY_TYPE).unwrap_or(CKK_GENERIC_SECRET as u64) as CK_KEY_TYPE);
        if !data_object {
            len = attrs.ulong(CKA_VALUE_LEN).map(|n| n as usize);
        }
        outs.push(Out { len, key_type });
        all.push(attrs);
    }

    let values =
        make(m.provider.as_ref(), mech, &Inputs { base: base.as_ref(), other: other.as_deref(), outputs: &outs })?;
    if values.len() != all.len() {
        return Err(err(CKR_GENERAL_ERROR, "the mechanism made the wrong number of values"));
    }
    for (attrs, v) in all.iter_mut().zip(values) {
        if data_object {
            attrs.set(CKA_VALUE, v.to_vec());
        } else {
            let aes_without_len =
                attrs.ulong(CKA_VALUE_LEN).is_none() && attrs.ulong(CKA_KEY_TYPE) == Some(CKK_AES as u64);
            finish_secret(attrs, m.provider.as_ref(), v.to_vec()).map_err(|e| {
                if aes_without_len {
                    err(CKR_TEMPLATE_INCOMPLETE, "give CKA_VALUE_LEN (16, 24 or 32) for an AES key")
                } else {
                    e
                }
            })?;
        }
    }
    let handles = insert_many(m, s, &mut s.token.write(), all)?;
    Ok((handles[0], handles[1..].to_vec()))
}
