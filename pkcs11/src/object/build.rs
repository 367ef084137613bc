//! Turning templates into objects: `C_CreateObject`, `C_CopyObject`,
//! `C_SetAttributeValue`, and the key-making calls of later chapters, all through
//! the one rule table in [`rules`](super::rules).

use cryptoki_sys::*;

use super::attr::{self, Template, bool_value, ulong_value};
use super::rules::{self, DefaultValue, Rule, Shape};
use super::{Attrs, Object, der, shape_of};
use crate::crypto::{HashAlg, Provider};
use crate::error::{Attr, Result, err};
use crate::vendor::*;

/// How an object comes to be; decides which attributes a caller may and must give,
/// and the provenance the token records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `C_CreateObject`: an import.
    Create,
    /// `C_GenerateKey` / `C_GenerateKeyPair`, with the mechanism used.
    Generate(CK_MECHANISM_TYPE),
    /// `C_UnwrapKey`.
    Unwrap,
    /// `C_DeriveKey`, with the base key's `ALWAYS_SENSITIVE` and `NEVER_EXTRACTABLE`.
    Derive {
        /// The base key's `CKA_ALWAYS_SENSITIVE`.
        always_sensitive: bool,
        /// The base key's `CKA_NEVER_EXTRACTABLE`.
        never_extractable: bool,
    },
}

/// What the token knows when it builds an object.
pub struct Ctx<'a> {
    /// The crypto provider (check values, hashes).
    pub provider: &'a dyn Provider,
    /// The session is logged in as SO (may set `CKA_TRUSTED`).
    pub so: bool,
    /// The new object's `CKA_UNIQUE_ID`.
    pub unique_id: String,
    /// Now, as `YYYYMMDDhhmmssZ`.
    pub now: String,
    /// The partition lets keys out (`CKA_FERRO_POLICY_ALLOW_EXPORT`): without it no
    /// key may be made extractable.
    pub export: bool,
}

/// Refuses a key that is extractable where the partition's policy forbids export.
pub fn check_export(attrs: &Attrs, ctx: &Ctx<'_>) -> Result<()> {
    let is_key = matches!(
        attrs.ulong(CKA_CLASS).map(|c| c as CK_OBJECT_CLASS),
        Some(CKO_PRIVATE_KEY | CKO_SECRET_KEY | CKO_PUBLIC_KEY)
    );
    if !ctx.export && is_key && attrs.bool(CKA_EXTRACTABLE) == Some(true) {
        return Err(err(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "the partition's policy allows no export (CKA_FERRO_POLICY_ALLOW_EXPORT): keys cannot be extractable",
        ));
    }
    Ok(())
}

/// Checks a template on its own: well-formed values, and no attribute given twice
/// with different values (`CKR_TEMPLATE_INCONSISTENT`). Returns it without repeats.
pub fn normalise(template: &Template) -> Result<Template> {
    let mut out: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)> = Vec::with_capacity(template.0.len());
    for (ty, v) in &template.0 {
        attr::check_value(*ty, v)?;
        let v = match attr::kind(*ty) {
            // CK_TRUE is 1, but C callers pass any non-zero byte.
            attr::Kind::Bool => bool_value(v[0] != 0),
            _ => v.clone(),
        };
        match out.iter().find(|(t, _)| t == ty) {
            Some((_, prev)) if *prev != v => {
                return Err(err(CKR_TEMPLATE_INCONSISTENT, format!("{} given twice with different values", Attr(*ty))));
            }
            Some(_) => {}
            None => out.push((*ty, v)),
        }
    }
    Ok(Template(out))
}

fn class_and_shape(
    template: &Template,
    class: Option<CK_OBJECT_CLASS>,
    key_type: Option<CK_KEY_TYPE>,
) -> Result<Shape> {
    let given_class = template.ulong(CKA_CLASS)?.map(|c| c as CK_OBJECT_CLASS);
    let class = match (given_class, class) {
        (Some(a), Some(b)) if a != b => {
            return Err(err(CKR_TEMPLATE_INCONSISTENT, "CKA_CLASS does not fit the call"));
        }
        (Some(c), _) | (None, Some(c)) => c,
        (None, None) => return Err(err(CKR_TEMPLATE_INCOMPLETE, "no CKA_CLASS")),
    };
    let given_kt = template.ulong(CKA_KEY_TYPE)?;
    if let (Some(a), Some(b)) = (given_kt, key_type)
        && a != b as u64
    {
        return Err(err(CKR_TEMPLATE_INCONSISTENT, "CKA_KEY_TYPE does not fit the mechanism"));
    }
    let ulong = |ty| match ty {
        CKA_KEY_TYPE => given_kt.or(key_type.map(|k| k as u64)),
        _ => template.ulong(ty).ok().flatten(),
    };
    match class {
        CKO_CERTIFICATE if ulong(CKA_CERTIFICATE_TYPE).is_none() => {
            return Err(err(CKR_TEMPLATE_INCOMPLETE, "no CKA_CERTIFICATE_TYPE"));
        }
        CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY if ulong(CKA_KEY_TYPE).is_none() => {
            return Err(err(CKR_TEMPLATE_INCOMPLETE, "no CKA_KEY_TYPE"));
        }
        _ => {}
    }
    shape_of(class, ulong).filter(|s| rules::rules(*s).is_some()).ok_or_else(|| {
        let what = match class {
            CKO_CERTIFICATE => "certificate type",
            CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY => "key type",
            _ => "object class",
        };
        err(CKR_ATTRIBUTE_VALUE_INVALID, format!("unsupported {what}"))
    })
}

/// Builds the attributes of a new object from a caller's template.
///
/// `class` and `key_type` are what the call implies (a key generation mechanism);
/// a template that contradicts them is inconsistent.
pub fn build(
    template: &Template,
    class: Option<CK_OBJECT_CLASS>,
    key_type: Option<CK_KEY_TYPE>,
    op: Op,
    ctx: &Ctx<'_>,
) -> Result<Attrs> {
    let template = normalise(template)?;
    let shape = class_and_shape(&template, class, key_type)?;
    let table = rules::rules(shape).expect("class_and_shape checked the shape");
    let (forbidden, required, why) = match op {
        Op::Create => (rules::NO_CREATE, rules::REQUIRED, "C_CreateObject"),
        Op::Generate(_) => (rules::NO_GEN, rules::GEN_REQUIRED, "key generation"),
        // The derivation mechanism decides whether it needs CKA_VALUE_LEN.
        Op::Derive { .. } => (rules::NO_GEN, 0, "C_DeriveKey"),
        Op::Unwrap => (rules::NO_UNWRAP, rules::UNWRAP_REQUIRED, "C_UnwrapKey"),
    };
    let mut attrs = Attrs::default();
    for (ty, v) in &template.0 {
        let rule = table.get(*ty).ok_or_else(|| {
            err(CKR_ATTRIBUTE_TYPE_INVALID, format!("{} is not an attribute of this object", Attr(*ty)))
        })?;
        // A check value may accompany an import; it is verified below.
        let verified_check = rule.ty == CKA_CHECK_VALUE && op == Op::Create;
        if rule.flags & forbidden != 0 && !verified_check {
            return Err(err(CKR_ATTRIBUTE_READ_ONLY, format!("{} cannot be given to {why}", Attr(*ty))));
        }
        check_so_only(rule, v, ctx.so)?;
        attrs.set(*ty, v.clone());
    }
    // What the call implies.
    if let Some(c) = class {
        attrs.set(CKA_CLASS, ulong_value(c as u64));
    }
    if let Some(k) = key_type {
        attrs.set(CKA_KEY_TYPE, ulong_value(k as u64));
    }
    for rule in table.iter() {
        if attrs.get(rule.ty).is_some() {
            continue;
        }
        if rule.flags & required != 0 && !derivable(shape, rule.ty) {
            return Err(err(CKR_TEMPLATE_INCOMPLETE, format!("{} is required", Attr(rule.ty))));
        }
        match rule.default {
            DefaultValue::None => {}
            DefaultValue::Empty => attrs.set(rule.ty, Vec::new()),
            DefaultValue::Bool(b) => attrs.set(rule.ty, bool_value(b)),
            DefaultValue::Ulong(u) => attrs.set(rule.ty, ulong_value(u)),
        }
    }
    stamp(&mut attrs, shape, op, ctx);
    derive_values(&mut attrs, shape, ctx, template.get(CKA_CHECK_VALUE))?;
    check_export(&attrs, ctx)?;
    Ok(attrs)
}

/// Attributes the token fills in from the value when the caller leaves them out.
fn derivable(shape: Shape, ty: CK_ATTRIBUTE_TYPE) -> bool {
    matches!((shape, ty), (Shape::X509, CKA_SUBJECT))
}

/// Provenance: identity, time, origin and the sticky security attributes.
fn stamp(attrs: &mut Attrs, shape: Shape, op: Op, ctx: &Ctx<'_>) {
    if shape == Shape::Partition {
        // Partition objects take their identity from the partition record.
        return;
    }
    attrs.set(CKA_UNIQUE_ID, ctx.unique_id.as_bytes().to_vec());
    attrs.set(CKA_FERRO_CREATED, ctx.now.as_bytes().to_vec());
    let origin = match op {
        Op::Create => Origin::Imported,
        Op::Generate(_) => Origin::Generated,
        Op::Unwrap => Origin::Unwrapped,
        Op::Derive { .. } => Origin::Derived,
    };
    attrs.set(CKA_FERRO_ORIGIN, ulong_value(origin.value() as u64));
    if !matches!(shape, Shape::Public(_) | Shape::Private(_) | Shape::Secret(_)) {
        return;
    }
    attrs.set(CKA_LOCAL, bool_value(matches!(op, Op::Generate(_))));
    let mech = match op {
        Op::Generate(m) => m as u64,
        _ => CK_UNAVAILABLE_INFORMATION as u64,
    };
    attrs.set(CKA_KEY_GEN_MECHANISM, ulong_value(mech));
    attrs.set(CKA_FERRO_KEY_ROLE, ulong_value(KeyRole::None as u64));
    attrs.set(CKA_FERRO_USAGE_COUNT, ulong_value(0));
    if matches!(shape, Shape::Private(_) | Shape::Secret(_)) {
        let sensitive = attrs.bool(CKA_SENSITIVE).unwrap_or(false);
        let extractable = attrs.bool(CKA_EXTRACTABLE).unwrap_or(true);
        // PKCS#11 §4.9, §4.10: a key that existed outside the token in the clear was
        // never "always sensitive" and never "never extractable".
        let (always, never) = match op {
            Op::Generate(_) => (sensitive, !extractable),
            Op::Create | Op::Unwrap => (false, false),
            Op::Derive { always_sensitive, never_extractable } => {
                (always_sensitive && sensitive, never_extractable && !extractable)
            }
        };
        attrs.set(CKA_ALWAYS_SENSITIVE, bool_value(always));
        attrs.set(CKA_NEVER_EXTRACTABLE, bool_value(never));
        attrs.set(CKA_FERRO_INVALIDATED, bool_value(false));
    }
}

/// Values the token computes from the object's value: certificate fields and check
/// values, secret key lengths. A caller-given check value must match.
fn derive_values(attrs: &mut Attrs, shape: Shape, ctx: &Ctx<'_>, given_check: Option<&[u8]>) -> Result<()> {
    let check = match shape {
        Shape::X509 => {
            let value = attrs.get(CKA_VALUE).unwrap_or_default().to_vec();
            if let Some(f) = der::cert_fields(&value) {
                for (ty, v) in [(CKA_SUBJECT, f.subject), (CKA_ISSUER, f.issuer), (CKA_SERIAL_NUMBER, f.serial)] {
                    if attrs.get(ty).is_none() {
                        attrs.set(ty, v.to_vec());
                    }
                }
                if attrs.get(CKA_PUBLIC_KEY_INFO).is_none_or(<[u8]>::is_empty) {
                    attrs.set(CKA_PUBLIC_KEY_INFO, f.spki.to_vec());
                }
            } else if attrs.get(CKA_SUBJECT).is_none() {
                return Err(err(CKR_TEMPLATE_INCOMPLETE, "no CKA_SUBJECT and CKA_VALUE is not a certificate"));
            }
            for ty in [CKA_ISSUER, CKA_SERIAL_NUMBER] {
                if attrs.get(ty).is_none() {
                    attrs.set(ty, Vec::new());
                }
            }
            Some(ctx.provider.hash(HashAlg::Sha1, &value)[..3].to_vec())
        }
        Shape::Secret(kt) => match attrs.get(CKA_VALUE).map(<[u8]>::to_vec).map(zeroize::Zeroizing::new) {
            // Generation fills the value in later and calls `finish_secret`.
            None => None,
            Some(v) => Some(secret_check(ctx.provider, kt, &v, attrs)?),
        },
        _ => None,
    };
    if let Some(c) = check {
        if given_check.is_some_and(|g| g != c.as_slice()) {
            return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_CHECK_VALUE does not match the value"));
        }
        attrs.set(CKA_CHECK_VALUE, c);
    }
    Ok(())
}

/// Checks a secret key's value against its type and `CKA_VALUE_LEN`, sets
/// `CKA_VALUE_LEN`, and returns its check value.
fn secret_check(provider: &dyn Provider, kt: CK_KEY_TYPE, value: &[u8], attrs: &mut Attrs) -> Result<Vec<u8>> {
    if let Some(len) = attrs.ulong(CKA_VALUE_LEN)
        && len != value.len() as u64
    {
        return Err(err(CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN does not match CKA_VALUE"));
    }
    attrs.set(CKA_VALUE_LEN, ulong_value(value.len() as u64));
    match kt {
        CKK_AES => {
            if ![16, 24, 32].contains(&value.len()) {
                return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "an AES key is 16, 24 or 32 bytes"));
            }
            // PKCS#11 v3.0 §2.8.1: the first 3 bytes of AES-ECB(key, zero block).
            let mut block = [0u8; 16];
            provider.aes_ecb_encrypt(value, &mut block)?;
            Ok(block[..3].to_vec())
        }
        CKK_DES2 | CKK_DES3 => {
            // PKCS#11 v3.0 §2.8.1: the first 3 bytes of 3DES-ECB(key, zero block).
            // The value is kept as given: parity bits are not checked or changed
            // (docs/mechanisms-symmetric.md, "3DES").
            let len = if kt == CKK_DES2 { 16 } else { 24 };
            if value.len() != len {
                return Err(err(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    format!("a {} key is {len} bytes", if kt == CKK_DES2 { "DES2" } else { "DES3" }),
                ));
            }
            Ok(provider.des3_key(value)?.check_value())
        }
        _ => {
            if value.is_empty() {
                return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "a secret key needs at least one byte"));
            }
            // §2.36 (generic secret): the first 3 bytes of SHA-1(value).
            Ok(provider.hash(HashAlg::Sha1, value)[..3].to_vec())
        }
    }
}

/// After generation or derivation has produced a secret key's value: sets it and
/// its check value and length.
pub fn finish_secret(attrs: &mut Attrs, provider: &dyn Provider, value: Vec<u8>) -> Result<()> {
    let kt = attrs.ulong(CKA_KEY_TYPE).unwrap_or(CKK_GENERIC_SECRET as u64) as CK_KEY_TYPE;
    attrs.remove(CKA_VALUE_LEN);
    let check = secret_check(provider, kt, &value, attrs)?;
    attrs.set(CKA_VALUE, value);
    attrs.set(CKA_CHECK_VALUE, check);
    Ok(())
}

fn check_so_only(rule: &Rule, v: &[u8], so: bool) -> Result<()> {
    if rule.has(rules::SO_ONLY_TRUE) && attr::as_bool(v) == Some(true) && !so {
        return Err(err(CKR_ATTRIBUTE_READ_ONLY, format!("only the SO may set {}", Attr(rule.ty))));
    }
    Ok(())
}

/// Checks one change of an existing object's attribute against its rule.
fn check_change(rule: &Rule, old: Option<&[u8]>, new: &[u8], so: bool) -> Result<()> {
    check_so_only(rule, new, so)?;
    let (old, new) = (old.and_then(attr::as_bool), attr::as_bool(new));
    let bad = (rule.has(rules::ONLY_TO_TRUE) && old == Some(true) && new == Some(false))
        || (rule.has(rules::ONLY_TO_FALSE) && old == Some(false) && new == Some(true));
    if bad {
        return Err(err(CKR_ATTRIBUTE_READ_ONLY, format!("{} cannot change back", Attr(rule.ty))));
    }
    Ok(())
}

fn table_of(obj: &Object) -> Result<&'static rules::Rules> {
    obj.shape().and_then(rules::rules).ok_or_else(|| err(CKR_GENERAL_ERROR, "object of unknown shape"))
}

/// An object's attributes with `template` applied, every change checked against the
/// rule table first (all or nothing). `may_change` says which rules allow a change in
/// this call; `same_is_no_change` lets a template repeat a value it may not change.
fn changed(
    obj: &Object,
    template: &Template,
    so: bool,
    may_change: impl Fn(&Rule) -> bool,
    same_is_no_change: bool,
    call: &str,
) -> Result<Attrs> {
    let template = normalise(template)?;
    let table = table_of(obj)?;
    let mut attrs = obj.attrs.clone();
    for (ty, v) in &template.0 {
        let rule = table.get(*ty).ok_or_else(|| {
            err(CKR_ATTRIBUTE_TYPE_INVALID, format!("{} is not an attribute of this object", Attr(*ty)))
        })?;
        if !may_change(rule) {
            if same_is_no_change && obj.attrs.get(*ty) == Some(v.as_slice()) {
                continue;
            }
            return Err(err(CKR_ATTRIBUTE_READ_ONLY, format!("{} cannot be changed by {call}", Attr(*ty))));
        }
        check_change(rule, obj.attrs.get(*ty), v, so)?;
        attrs.set(*ty, v.clone());
    }
    Ok(attrs)
}

/// `C_SetAttributeValue`: the object's new attributes, all changes checked first.
pub fn set(obj: &Object, template: &Template, so: bool) -> Result<Attrs> {
    if obj.attrs.bool(CKA_MODIFIABLE) == Some(false) {
        return Err(err(CKR_ACTION_PROHIBITED, "object is not modifiable"));
    }
    changed(obj, template, so, |r| r.has(rules::SETTABLE), false, "C_SetAttributeValue")
}

/// `C_CopyObject`: the copy's attributes. The copy keeps the original's provenance
/// (`CKA_LOCAL`, `ALWAYS_SENSITIVE`, `NEVER_EXTRACTABLE`) and records that it is a copy.
/// Copy templates often repeat attributes such as `CKA_CLASS`: giving an attribute its
/// current value is not a change. But the copy gets a new unique id, creation time,
/// origin (`copied`) and usage count: a template that repeats the original's value of
/// one of those asks for a value the copy will not have, and is refused as any other
/// change of a read-only attribute is, rather than silently overridden.
pub fn copy(obj: &Object, template: &Template, ctx: &Ctx<'_>) -> Result<Attrs> {
    if obj.attrs.bool(CKA_COPYABLE) == Some(false) {
        return Err(err(CKR_ACTION_PROHIBITED, "object is not copyable"));
    }
    let may_change = |r: &Rule| r.has(rules::SETTABLE) || r.has(rules::COPY_SETTABLE);
    let mut attrs = changed(obj, template, ctx.so, may_change, true, "C_CopyObject")?;
    attrs.set(CKA_UNIQUE_ID, ctx.unique_id.as_bytes().to_vec());
    attrs.set(CKA_FERRO_CREATED, ctx.now.as_bytes().to_vec());
    attrs.set(CKA_FERRO_ORIGIN, ulong_value(Origin::Copied.value() as u64));
    if attrs.get(CKA_FERRO_USAGE_COUNT).is_some() {
        attrs.set(CKA_FERRO_USAGE_COUNT, ulong_value(0));
    }
    for (ty, v) in &normalise(template)?.0 {
        if attrs.get(*ty) != Some(v.as_slice()) {
            return Err(err(CKR_ATTRIBUTE_READ_ONLY, format!("{} of a copy is set by the token", Attr(*ty))));
        }
    }
    check_export(&attrs, ctx)?;
    Ok(attrs)
}

/// Whether attribute `ty` of an object is key material that must be sealed and may
/// be hidden.
pub fn is_secret(obj_shape: Option<Shape>, ty: CK_ATTRIBUTE_TYPE) -> bool {
    obj_shape.and_then(rules::rules).and_then(|t| t.get(ty)).is_some_and(|r| r.has(rules::SECRET))
}
