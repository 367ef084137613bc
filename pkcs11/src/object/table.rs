//! A token's objects, indexed so that a find by class, label, id or unique id costs
//! the number of matches, not the number of objects.
//!
//! The store keeps records; the index lives here, in memory, and is rebuilt when the
//! module loads a partition (public objects) and at login (private objects).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use cryptoki_sys::*;

use super::{Lifetime, Object};
use crate::vendor::CKA_FERRO_ATTESTS;

/// Attributes with an index.
pub const INDEXED: &[CK_ATTRIBUTE_TYPE] = &[CKA_CLASS, CKA_LABEL, CKA_ID, CKA_UNIQUE_ID, CKA_FERRO_ATTESTS];

/// Objects by handle, with value indexes.
#[derive(Default)]
pub struct ObjectTable {
    objects: HashMap<CK_OBJECT_HANDLE, Arc<Object>>,
    index: HashMap<(CK_ATTRIBUTE_TYPE, Box<[u8]>), BTreeSet<CK_OBJECT_HANDLE>>,
}

impl ObjectTable {
    /// The object with `handle`.
    pub fn get(&self, handle: CK_OBJECT_HANDLE) -> Option<&Arc<Object>> {
        self.objects.get(&handle)
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Adds or replaces an object (same handle), keeping the indexes right.
    pub fn insert(&mut self, obj: Arc<Object>) {
        self.remove(obj.handle);
        for &ty in INDEXED {
            if let Some(v) = obj.attrs.get(ty) {
                self.index.entry((ty, v.into())).or_default().insert(obj.handle);
            }
        }
        self.objects.insert(obj.handle, obj);
    }

    /// Removes an object, returning it.
    pub fn remove(&mut self, handle: CK_OBJECT_HANDLE) -> Option<Arc<Object>> {
        let obj = self.objects.remove(&handle)?;
        for &ty in INDEXED {
            if let Some(v) = obj.attrs.get(ty) {
                let key = (ty, Box::<[u8]>::from(v));
                if let Some(set) = self.index.get_mut(&key) {
                    set.remove(&handle);
                    if set.is_empty() {
                        self.index.remove(&key);
                    }
                }
            }
        }
        Some(obj)
    }

    /// Removes every object matching `pred`, returning them.
    pub fn remove_where(&mut self, pred: impl Fn(&Object) -> bool) -> Vec<Arc<Object>> {
        let handles: Vec<_> = self.objects.values().filter(|o| pred(o)).map(|o| o.handle).collect();
        handles.into_iter().filter_map(|h| self.remove(h)).collect()
    }

    /// Every object.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Object>> {
        self.objects.values()
    }

    /// Handles of the objects matching every attribute of `template` byte for byte,
    /// and `visible`, in handle (creation) order. Secret attributes never match, so a
    /// find cannot be used to guess a key value.
    pub fn find(
        &self,
        template: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)],
        visible: impl Fn(&Object) -> bool,
        matches: impl Fn(&Object, CK_ATTRIBUTE_TYPE, &[u8]) -> bool,
    ) -> Vec<CK_OBJECT_HANDLE> {
        // Start from the smallest index posting among the indexed attributes given.
        let mut best: Option<&BTreeSet<CK_OBJECT_HANDLE>> = None;
        for (ty, v) in template {
            if INDEXED.contains(ty) {
                match self.index.get(&(*ty, v.as_slice().into())) {
                    None => return Vec::new(),
                    Some(set) if best.is_none_or(|b| set.len() < b.len()) => best = Some(set),
                    Some(_) => {}
                }
            }
        }
        let check = |o: &Object| visible(o) && template.iter().all(|(ty, v)| matches(o, *ty, v));
        match best {
            Some(set) => set.iter().filter(|h| self.objects.get(h).is_some_and(|o| check(o))).copied().collect(),
            None => {
                let mut all: Vec<_> = self.objects.values().filter(|o| check(o)).map(|o| o.handle).collect();
                all.sort_unstable();
                all
            }
        }
    }

    /// Handles of the session objects owned by `session`.
    pub fn owned_by(&self, session: CK_SESSION_HANDLE) -> Vec<CK_OBJECT_HANDLE> {
        self.objects.values().filter(|o| o.lifetime == Lifetime::Session(session)).map(|o| o.handle).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{Attrs, attr};

    fn obj(handle: CK_OBJECT_HANDLE, label: &[u8]) -> Arc<Object> {
        let mut attrs = Attrs::default();
        attrs.set(CKA_CLASS, attr::ulong_value(CKO_DATA as u64));
        attrs.set(CKA_LABEL, label.to_vec());
        Arc::new(Object::new(handle, Lifetime::Session(1), attrs))
    }

    fn exact(o: &Object, ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> bool {
        o.attrs.get(ty) == Some(v)
    }

    #[test]
    fn finds_by_index_and_keeps_the_index_right_on_replace_and_remove() {
        let mut t = ObjectTable::default();
        t.insert(obj(1, b"a"));
        t.insert(obj(2, b"b"));
        t.insert(obj(3, b"a"));
        let by_label = |t: &ObjectTable, l: &[u8]| t.find(&[(CKA_LABEL, l.to_vec())], |_| true, exact);
        assert_eq!(by_label(&t, b"a"), vec![1, 3]);
        t.insert(obj(1, b"c")); // relabel
        assert_eq!(by_label(&t, b"a"), vec![3]);
        assert_eq!(by_label(&t, b"c"), vec![1]);
        t.remove(3);
        assert!(by_label(&t, b"a").is_empty());
        assert_eq!(t.find(&[], |_| true, exact), vec![1, 2]);
        assert_eq!(t.find(&[], |o| o.handle != 1, exact), vec![2]);
    }
}
