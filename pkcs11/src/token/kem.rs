//! Key encapsulation (PKCS#11 3.2 §5.20): `C_EncapsulateKey`, `C_DecapsulateKey`.
//!
//! The mechanism ([`crate::mechanism::mlkem`]) makes the ciphertext and the shared
//! secret; this module checks the key (`CKA_ENCAPSULATE` / `CKA_DECAPSULATE`,
//! `CKA_ALLOWED_MECHANISMS`), builds the new secret key from the caller's template
//! with the key's `CKA_ENCAPSULATE_TEMPLATE` / `CKA_DECAPSULATE_TEMPLATE` added (an
//! attribute in both must agree, else `CKR_TEMPLATE_INCONSISTENT`, as for
//! `CKA_UNWRAP_TEMPLATE`) through the rule table, and stores it.
//!
//! Provenance of the new key. PKCS#11 3.2 makes `CKA_LOCAL` true only for keys
//! generated on the token (or copies of them): an encapsulated key is not generated
//! by `C_GenerateKey`, so `CKA_LOCAL` is false and `CKA_KEY_GEN_MECHANISM` is
//! unavailable; ferrohsm records the origin as derived (`CKA_FERRO_ORIGIN`), the
//! closest of its origins: the key is computed from another key. For
//! `CKA_ALWAYS_SENSITIVE` / `CKA_NEVER_EXTRACTABLE` the decapsulated key follows
//! `C_DeriveKey`'s rule with the private key as the base key (§4.9: true only when
//! both the base key and the new key say so); the encapsulated key's secret comes
//! from fresh randomness inside the token and leaves it only as the ciphertext, so
//! its flags are those of its own template at birth (as for a generated key).

use cryptoki_sys::*;

use super::crypto::key;
use super::keys::{merged, template_of};
use super::objects::{ctx, insert_new};
use super::{Output, Session};
use crate::error::{Result, err};
use crate::mechanism::{Mechanism, Use};
use crate::module::Module;
use crate::object::Attrs;
use crate::object::attr::Template;
use crate::object::build::{self, Op, finish_secret};

/// The attributes of the key to be made from the caller's template: a secret key
/// (`CKA_CLASS` may be omitted), its type given by the template.
fn new_key_attrs(m: &Module, s: &Session, template: &Template, op: Op) -> Result<Attrs> {
    let class = if template.get(CKA_CLASS).is_none() { Some(CKO_SECRET_KEY) } else { None };
    let attrs = {
        let st = s.token.state.read();
        build::build(template, class, None, op, &ctx(m, &st))?
    };
    if attrs.ulong(CKA_CLASS) != Some(CKO_SECRET_KEY as u64) {
        return Err(err(CKR_TEMPLATE_INCONSISTENT, "key encapsulation makes secret keys"));
    }
    Ok(attrs)
}

/// Turns the shared secret into the key's value: all of it, or its first
/// `CKA_VALUE_LEN` bytes when the template asks for fewer (an AES-128 key).
fn finish(m: &Module, attrs: &mut Attrs, secret: &[u8]) -> Result<()> {
    let len = match attrs.ulong(CKA_VALUE_LEN).map(|n| n as usize) {
        Some(n) if n == 0 || n > secret.len() => {
            return Err(err(
                CKR_TEMPLATE_INCONSISTENT,
                format!("CKA_VALUE_LEN {n}: the shared secret has {} bytes", secret.len()),
            ));
        }
        Some(n) => n,
        None => secret.len(),
    };
    finish_secret(attrs, m.provider.as_ref(), secret[..len].to_vec())
}

/// `C_EncapsulateKey`. `cap` is the caller's ciphertext buffer (`None`: a length
/// query). Returns the ciphertext (or the length needed) and, when a key was made,
/// its handle: a length query, or a buffer too small, makes no key.
pub fn encapsulate_key(
    m: &Module,
    session: CK_SESSION_HANDLE,
    mech: &Mechanism,
    public: CK_OBJECT_HANDLE,
    template: &Template,
    cap: Option<usize>,
) -> Result<(Output, Option<CK_OBJECT_HANDLE>)> {
    let s = m.session(session)?;
    let pkey = key(&s, public)?;
    let entry = m.mechanisms.check_key(mech.ty, Use::Encapsulate, &pkey)?;
    let (ciphertext_len, encapsulate) =
        entry.encapsulate.ok_or_else(|| err(CKR_MECHANISM_INVALID, "not an encapsulation mechanism"))?;
    // The template is checked before the length is given, so that a length query
    // fails as the real call would.
    let template = merged(template, &template_of(&pkey, CKA_ENCAPSULATE_TEMPLATE)?)?;
    let mut attrs = new_key_attrs(m, &s, &template, Op::Derive { always_sensitive: true, never_extractable: true })?;
    let need = ciphertext_len(mech, &pkey)?;
    match cap {
        Some(c) if c >= need => {}
        _ => return Ok((Output::Len(need), None)),
    }
    super::audit::key_used(m, s.token.partition, || super::audit::role_of(&s.token.state.read()), &pkey);
    let (ciphertext, secret) = encapsulate(m.provider.as_ref(), mech, &pkey)?;
    finish(m, &mut attrs, &secret)?;
    let handle = insert_new(m, &s, &mut s.token.write(), attrs)?;
    Ok((Output::Public(ciphertext), Some(handle)))
}

/// `C_DecapsulateKey`.
pub fn decapsulate_key(
    m: &Module,
    session: CK_SESSION_HANDLE,
    mech: &Mechanism,
    private: CK_OBJECT_HANDLE,
    template: &Template,
    ciphertext: &[u8],
) -> Result<CK_OBJECT_HANDLE> {
    let s = m.session(session)?;
    let pkey = key(&s, private)?;
    let entry = m.mechanisms.check_key(mech.ty, Use::Decapsulate, &pkey)?;
    let decapsulate = entry.decapsulate.ok_or_else(|| err(CKR_MECHANISM_INVALID, "not a decapsulation mechanism"))?;
    let op = Op::Derive {
        always_sensitive: pkey.attrs.bool(CKA_ALWAYS_SENSITIVE) == Some(true),
        never_extractable: pkey.attrs.bool(CKA_NEVER_EXTRACTABLE) == Some(true),
    };
    let template = merged(template, &template_of(&pkey, CKA_DECAPSULATE_TEMPLATE)?)?;
    let mut attrs = new_key_attrs(m, &s, &template, op)?;
    super::audit::key_used(m, s.token.partition, || super::audit::role_of(&s.token.state.read()), &pkey);
    let secret = decapsulate(m.provider.as_ref(), mech, &pkey, ciphertext)?;
    finish(m, &mut attrs, &secret)?;
    insert_new(m, &s, &mut s.token.write(), attrs)
}
