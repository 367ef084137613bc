//! The object model: objects as attribute lists, their rules, their creation and the
//! per-token table that indexes them.

pub mod attr;
pub mod build;
pub mod der;
pub mod rules;
pub mod table;

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// How much a key has been used: the operations it started (`CKA_FERRO_USAGE_COUNT`),
/// those not yet reported in the audit log, and when it was last reported. Shared by
/// the versions of an object (a change makes a new `Object`, with the same usage).
#[derive(Debug, Default)]
pub struct Usage {
    /// Operations since the key was made (the store keeps it between loads).
    pub total: AtomicU64,
    /// Operations not yet in a `key_usage` entry.
    pub pending: AtomicU64,
    /// When the last `key_usage` entry was written (or the count began), Unix seconds.
    pub reported_at: AtomicU64,
}

impl Usage {
    /// A usage count starting at `total`, reported as of `now`.
    pub fn new(total: u64, now: u64) -> Self {
        Self { total: AtomicU64::new(total), pending: AtomicU64::new(0), reported_at: AtomicU64::new(now) }
    }

    /// Counts one operation. Returns whether a report is due: uses pending and the
    /// last report `period` seconds or more before `now`; then exactly one caller
    /// gets `true`, and must report.
    pub fn count(&self, now: u64, period: u64) -> bool {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.pending.fetch_add(1, Ordering::Relaxed);
        let last = self.reported_at.load(Ordering::Relaxed);
        now.saturating_sub(last) >= period
            && self.reported_at.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// Takes the pending count for a report: (operations since the last, total).
    pub fn take(&self) -> (u64, u64) {
        let pending = self.pending.swap(0, Ordering::Relaxed);
        (pending, self.total.load(Ordering::Relaxed))
    }

    /// Puts back a count whose report could not be written.
    pub fn restore(&self, pending: u64) {
        self.pending.fetch_add(pending, Ordering::Relaxed);
    }
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
    /// How much it has been used (keys).
    pub usage: Arc<Usage>,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object").field("handle", &self.handle).field("lifetime", &self.lifetime).finish_non_exhaustive()
    }
}

impl Object {
    /// A new object.
    pub fn new(handle: CK_OBJECT_HANDLE, lifetime: Lifetime, attrs: Attrs) -> Self {
        Self::with_usage(handle, lifetime, attrs, Arc::new(Usage::new(0, crate::time::now())))
    }

    /// A new object with a usage count (a changed object keeps its old one; a loaded
    /// one starts from the store's total).
    pub fn with_usage(handle: CK_OBJECT_HANDLE, lifetime: Lifetime, attrs: Attrs, usage: Arc<Usage>) -> Self {
        Self { handle, lifetime, attrs, cache: OnceCell::new(), usage }
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

    /// Whether it is a key (public, private or secret).
    pub fn is_key(&self) -> bool {
        matches!(self.class(), CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY)
    }

    /// Whether the key was invalidated (`CKA_FERRO_INVALIDATED`, key invalidation
    /// policy): only the partition's SO sees it, and nobody uses it.
    pub fn invalidated(&self) -> bool {
        self.attrs.bool(CKA_FERRO_INVALIDATED) == Some(true)
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

#[cfg(test)]
mod usage_tests {
    use super::Usage;

    #[test]
    fn a_report_is_due_once_per_period_and_counts_are_kept() {
        let u = Usage::new(10, 1_000);
        assert!(!u.count(1_000, 60), "just reported");
        assert!(!u.count(1_059, 60));
        assert!(u.count(1_060, 60), "a period later: due");
        assert!(!u.count(1_060, 60), "due once: the next caller does not report too");
        assert_eq!(u.take(), (4, 14));
        assert_eq!(u.take(), (0, 14), "taken");
        u.count(1_061, 60);
        let (pending, _) = u.take();
        u.restore(pending);
        assert_eq!(u.take(), (1, 15), "a count whose report failed is kept");
    }
}
