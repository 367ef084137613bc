//! The object model: objects as attribute lists, their rules, their creation and the
//! per-token table that indexes them.

pub mod attr;
pub mod build;
pub mod der;
pub mod rules;
pub mod table;

use std::any::Any;
use std::sync::Arc;

use cryptoki_sys::*;
use once_cell::sync::OnceCell;
use zeroize::Zeroize;

use crate::vendor::*;
pub use attr::{Kind, Template, as_bool, as_ulong};
pub use rules::Shape;

/// Where an object lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// A token object with its store id.
    Token(u64),
    /// A session object, owned by that session.
    Session(CK_SESSION_HANDLE),
    /// A partition object, synthesised from the partition record with that id.
    Partition(u32),
}

/// One object: a handle, where it lives, and its attributes (canonical values,
/// sorted by type, zeroized on drop). Objects are immutable: a change makes a new
/// `Object` with the same handle.
pub struct Object {
    /// The handle applications see; stable for the life of the module.
    pub handle: CK_OBJECT_HANDLE,
    /// Token, session or partition object.
    pub lifetime: Lifetime,
    /// Its attributes.
    pub attrs: Attrs,
    /// The key as the crypto provider parsed it, made on first use (parsing a key
    /// costs more than using it); dropped with the object.
    pub cache: OnceCell<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object").field("handle", &self.handle).field("lifetime", &self.lifetime).finish_non_exhaustive()
    }
}

impl Object {
    /// A new object.
    pub fn new(handle: CK_OBJECT_HANDLE, lifetime: Lifetime, attrs: Attrs) -> Self {
        Self { handle, lifetime, attrs, cache: OnceCell::new() }
    }

    /// The provider's parsed form of this key, made by `parse` on first use.
    pub fn parsed<T: Any + Send + Sync>(
        &self,
        parse: impl FnOnce(&Attrs) -> crate::error::Result<T>,
    ) -> crate::error::Result<Arc<T>> {
        if let Some(c) = self.cache.get() {
            return Arc::clone(c)
                .downcast::<T>()
                .map_err(|_| crate::error::err(cryptoki_sys::CKR_GENERAL_ERROR, "key cache of another type"));
        }
        let parsed: Arc<dyn Any + Send + Sync> = Arc::new(parse(&self.attrs)?);
        let c = self.cache.get_or_init(|| parsed);
        Arc::clone(c)
            .downcast::<T>()
            .map_err(|_| crate::error::err(cryptoki_sys::CKR_GENERAL_ERROR, "key cache of another type"))
    }

    /// `CKA_CLASS`.
    pub fn class(&self) -> CK_OBJECT_CLASS {
        self.attrs.ulong(CKA_CLASS).unwrap_or(CK_UNAVAILABLE_INFORMATION as u64) as CK_OBJECT_CLASS
    }

    /// The rule-table shape of this object.
    pub fn shape(&self) -> Option<Shape> {
        shape_of(self.class(), |ty| self.attrs.ulong(ty))
    }

    /// `CKA_PRIVATE`.
    pub fn private(&self) -> bool {
        self.attrs.bool(CKA_PRIVATE).unwrap_or(true)
    }

    /// `CKA_TOKEN`.
    pub fn token(&self) -> bool {
        self.attrs.bool(CKA_TOKEN).unwrap_or(false)
    }

    /// Whether `CKA_SENSITIVE` is true or `CKA_EXTRACTABLE` false: secret
    /// attributes then stay inside.
    pub fn guards_secrets(&self) -> bool {
        self.attrs.bool(CKA_SENSITIVE).unwrap_or(false) || !self.attrs.bool(CKA_EXTRACTABLE).unwrap_or(true)
    }
}

/// The shape of an object of `class`, reading sub-types through `ulong`.
pub fn shape_of(class: CK_OBJECT_CLASS, ulong: impl Fn(CK_ATTRIBUTE_TYPE) -> Option<u64>) -> Option<Shape> {
    let kt = || ulong(CKA_KEY_TYPE).map(|v| v as CK_KEY_TYPE);
    Some(match class {
        CKO_DATA => Shape::Data,
        CKO_CERTIFICATE => match ulong(CKA_CERTIFICATE_TYPE)? as CK_CERTIFICATE_TYPE {
            CKC_X_509 => Shape::X509,
            _ => return None,
        },
        CKO_PUBLIC_KEY => Shape::Public(kt()?),
        CKO_PRIVATE_KEY => Shape::Private(kt()?),
        CKO_SECRET_KEY => Shape::Secret(kt()?),
        CKO_FERRO_PARTITION => Shape::Partition,
        _ => return None,
    })
}

/// Attribute values, sorted by type. Every value is zeroized on drop.
#[derive(Clone, Debug, Default)]
pub struct Attrs(Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>);

impl Drop for Attrs {
    fn drop(&mut self) {
        for (_, v) in &mut self.0 {
            v.zeroize();
        }
    }
}

impl Attrs {
    /// The value of `ty`.
    pub fn get(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.0.binary_search_by_key(&ty, |(t, _)| *t).ok().map(|i| self.0[i].1.as_slice())
    }

    /// Sets `ty` (replacing any value).
    pub fn set(&mut self, ty: CK_ATTRIBUTE_TYPE, value: Vec<u8>) {
        match self.0.binary_search_by_key(&ty, |(t, _)| *t) {
            Ok(i) => {
                self.0[i].1.zeroize();
                self.0[i].1 = value;
            }
            Err(i) => self.0.insert(i, (ty, value)),
        }
    }

    /// Removes `ty`, zeroizing its value.
    pub fn remove(&mut self, ty: CK_ATTRIBUTE_TYPE) {
        if let Ok(i) = self.0.binary_search_by_key(&ty, |(t, _)| *t) {
            let (_, mut v) = self.0.remove(i);
            v.zeroize();
        }
    }

    /// A `CK_BBOOL` value.
    pub fn bool(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<bool> {
        self.get(ty).and_then(as_bool)
    }

    /// A `CK_ULONG` value.
    pub fn ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<u64> {
        self.get(ty).and_then(as_ulong)
    }

    /// Every `(type, value)`, in type order.
    pub fn iter(&self) -> impl Iterator<Item = (CK_ATTRIBUTE_TYPE, &[u8])> {
        self.0.iter().map(|(t, v)| (*t, v.as_slice()))
    }

    /// Total size of the values, for `C_GetObjectSize`.
    pub fn size(&self) -> usize {
        self.0.iter().map(|(_, v)| v.len() + 16).sum()
    }
}
