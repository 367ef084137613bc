//! The records the store keeps, and their byte layouts.
//!
//! Trees and keys (all integers in keys are big-endian so that sled orders them):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `"device"` | [`DeviceRecord`] |
//! | `partitions` | partition id (4) | [`PartitionRecord`] |
//! | `objects` | partition id (4) `\|\|` object id (8) | [`ObjectRecord`] |

use crate::Error;
use crate::codec::{Reader, Writer};
use crate::seal::KdfParams;

/// Version byte that starts every record written by this code.
const V1: u8 = 1;

/// The device: one per store.
///
/// Layout: `version u8 | serial [8] | created u64 | next_partition u32`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Random device serial, fixed at creation.
    pub serial: [u8; 8],
    /// Creation time, seconds since the Unix epoch.
    pub created: u64,
    /// The id the next user partition gets. Ids are never reused.
    pub next_partition: u32,
}

impl DeviceRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(V1).fixed(&self.serial).u64(self.created).u32(self.next_partition);
        w.finish()
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(b, "device");
        check_version(r.u8()?, "device")?;
        let rec = Self { serial: r.fixed()?, created: r.u64()?, next_partition: r.u32()? };
        r.end()?;
        Ok(rec)
    }
}

/// What a partition is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionKind {
    /// A user partition: keys and crypto.
    User,
    /// The admin token: device SO, device keys, partition management.
    Admin,
}

/// The two PIN-holding roles of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The security officer.
    So,
    /// The normal user.
    User,
}

impl Role {
    pub(crate) fn byte(self) -> u8 {
        match self {
            Role::So => 0,
            Role::User => 1,
        }
    }
}

/// One PIN: the master key wrapped under a key derived from the PIN, and its
/// failure counter.
///
/// Layout: `m_kib u32 | t u32 | p u32 | salt [16] | wrapped bytes | failures u32 | locked u8`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinRecord {
    /// Argon2id parameters.
    pub kdf: KdfParams,
    /// Argon2id salt.
    pub salt: [u8; 16],
    /// `nonce || AES-256-GCM(master key) || tag`.
    pub wrapped: Vec<u8>,
    /// Consecutive failed attempts since the last success.
    pub failures: u32,
    /// Set when `failures` reached the limit; cleared only by setting a new PIN.
    pub locked: bool,
}

impl PinRecord {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.kdf.m_kib).u32(self.kdf.t).u32(self.kdf.p);
        w.fixed(&self.salt).bytes(&self.wrapped).u32(self.failures).u8(self.locked as u8);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            kdf: KdfParams { m_kib: r.u32()?, t: r.u32()?, p: r.u32()? },
            salt: r.fixed()?,
            wrapped: r.bytes()?.to_vec(),
            failures: r.u32()?,
            locked: r.bool()?,
        })
    }
}

/// A partition (one slot, one token).
///
/// Layout: `version u8 | id u32 | kind u8 | serial [8] | created u64 | label bytes |
/// initialized u8 | so: (0 | 1 PinRecord) | user: (0 | 1 PinRecord) | flags u32 |
/// policy count u32 | count x (type u64 | value bytes) | last_login u64`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionRecord {
    /// Stable id; the slot id is derived from it and never changes.
    pub id: u32,
    /// User partition or admin token.
    pub kind: PartitionKind,
    /// Random serial, fixed at creation.
    pub serial: [u8; 8],
    /// Creation time, seconds since the Unix epoch.
    pub created: u64,
    /// Token label, at most 32 bytes, unpadded.
    pub label: Vec<u8>,
    /// Whether the token has been initialised (an SO PIN is set).
    pub initialized: bool,
    /// The SO PIN.
    pub so: Option<PinRecord>,
    /// The user PIN.
    pub user: Option<PinRecord>,
    /// Caller-defined flags (the store only keeps them).
    pub flags: u32,
    /// Caller-defined policy attributes, kept as opaque `(type, value)` pairs.
    pub policy: Vec<(u64, Vec<u8>)>,
    /// Time of the last successful user login, seconds since the epoch (0: never).
    pub last_login: u64,
}

impl PartitionRecord {
    /// The policy value of `ty`, if set.
    pub fn policy_value(&self, ty: u64) -> Option<&[u8]> {
        self.policy.iter().find(|(t, _)| *t == ty).map(|(_, v)| v.as_slice())
    }

    /// Sets (or replaces) one policy value.
    pub fn set_policy_value(&mut self, ty: u64, value: Vec<u8>) {
        match self.policy.iter_mut().find(|(t, _)| *t == ty) {
            Some(slot) => slot.1 = value,
            None => self.policy.push((ty, value)),
        }
    }

    /// The PIN record of `role`.
    pub fn pin(&self, role: Role) -> Option<&PinRecord> {
        match role {
            Role::So => self.so.as_ref(),
            Role::User => self.user.as_ref(),
        }
    }

    pub(crate) fn pin_mut(&mut self, role: Role) -> &mut Option<PinRecord> {
        match role {
            Role::So => &mut self.so,
            Role::User => &mut self.user,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(V1).u32(self.id);
        w.u8(match self.kind {
            PartitionKind::User => 0,
            PartitionKind::Admin => 1,
        });
        w.fixed(&self.serial).u64(self.created).bytes(&self.label).u8(self.initialized as u8);
        for pin in [&self.so, &self.user] {
            match pin {
                None => {
                    w.u8(0);
                }
                Some(p) => {
                    w.u8(1);
                    p.encode(&mut w);
                }
            }
        }
        w.u32(self.flags);
        w.u32(self.policy.len() as u32);
        for (t, v) in &self.policy {
            w.u64(*t).bytes(v);
        }
        w.u64(self.last_login);
        w.finish()
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(b, "partition");
        check_version(r.u8()?, "partition")?;
        let id = r.u32()?;
        let kind = match r.u8()? {
            0 => PartitionKind::User,
            1 => PartitionKind::Admin,
            k => {
                return Err(Error::Corrupt(format!("partition {id} has unknown kind {k}")));
            }
        };
        let serial = r.fixed()?;
        let created = r.u64()?;
        let label = r.bytes()?.to_vec();
        let initialized = r.bool()?;
        let mut pins = [None, None];
        for pin in &mut pins {
            if r.bool()? {
                *pin = Some(PinRecord::decode(&mut r)?);
            }
        }
        let [so, user] = pins;
        let flags = r.u32()?;
        let n = r.u32()?;
        let mut policy = Vec::with_capacity(n.min(64) as usize);
        for _ in 0..n {
            policy.push((r.u64()?, r.bytes()?.to_vec()));
        }
        let last_login = r.u64()?;
        r.end()?;
        Ok(Self { id, kind, serial, created, label, initialized, so, user, flags, policy, last_login })
    }
}

/// How one attribute value is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredValue {
    /// In the clear (public attributes of public objects only).
    Plain(Vec<u8>),
    /// `nonce || AES-256-GCM(value) || tag` under the partition master key.
    Sealed(Vec<u8>),
    /// `nonce || AES-256-GCM(value) || tag` under the device key.
    DeviceSealed(Vec<u8>),
}

/// One object: its attributes, some of them sealed.
///
/// Layout: `version u8 | count u32 | count x (type u64 | tag u8 | bytes)`, tag 0 plain,
/// 1 sealed under the partition master key, 2 sealed under the device key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRecord {
    /// The attributes in the order the caller gave them.
    pub attrs: Vec<(u64, StoredValue)>,
}

impl ObjectRecord {
    /// Whether any attribute is sealed under the master key, i.e. reading the
    /// object needs a login.
    pub fn has_sealed(&self) -> bool {
        self.attrs.iter().any(|(_, v)| matches!(v, StoredValue::Sealed(_)))
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(V1).u32(self.attrs.len() as u32);
        for (t, v) in &self.attrs {
            w.u64(*t);
            match v {
                StoredValue::Plain(b) => w.u8(0).bytes(b),
                StoredValue::Sealed(b) => w.u8(1).bytes(b),
                StoredValue::DeviceSealed(b) => w.u8(2).bytes(b),
            };
        }
        w.finish()
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(b, "object");
        check_version(r.u8()?, "object")?;
        let n = r.u32()?;
        let mut attrs = Vec::with_capacity(n.min(256) as usize);
        for _ in 0..n {
            let t = r.u64()?;
            let v = match r.u8()? {
                0 => StoredValue::Plain(r.bytes()?.to_vec()),
                1 => StoredValue::Sealed(r.bytes()?.to_vec()),
                2 => StoredValue::DeviceSealed(r.bytes()?.to_vec()),
                k => {
                    return Err(Error::Corrupt(format!("object attribute has unknown tag {k}")));
                }
            };
            attrs.push((t, v));
        }
        r.end()?;
        Ok(Self { attrs })
    }
}

fn check_version(v: u8, what: &'static str) -> Result<(), Error> {
    if v == V1 { Ok(()) } else { Err(Error::Corrupt(format!("{what} record has version {v}, this build reads {V1}"))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_round_trips_and_rejects_truncation() {
        let rec = PartitionRecord {
            id: 7,
            kind: PartitionKind::Admin,
            serial: *b"12345678",
            created: 99,
            label: b"ca keys".to_vec(),
            initialized: true,
            so: Some(PinRecord {
                kdf: KdfParams::DEFAULT,
                salt: [3; 16],
                wrapped: vec![1, 2, 3],
                failures: 2,
                locked: false,
            }),
            user: None,
            flags: 5,
            policy: vec![(0xC648_0013, vec![10, 0, 0, 0, 0, 0, 0, 0])],
            last_login: 1234,
        };
        let bytes = rec.encode();
        assert_eq!(PartitionRecord::decode(&bytes).unwrap(), rec);
        for cut in 0..bytes.len() {
            assert!(PartitionRecord::decode(&bytes[..cut]).is_err(), "cut at {cut} decoded");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(PartitionRecord::decode(&longer).is_err());
    }

    #[test]
    fn object_round_trips() {
        let rec =
            ObjectRecord { attrs: vec![(0, StoredValue::Plain(vec![1])), (0x11, StoredValue::Sealed(vec![9; 40]))] };
        let bytes = rec.encode();
        assert_eq!(ObjectRecord::decode(&bytes).unwrap(), rec);
        assert!(rec.has_sealed());
        let mut bad = bytes.clone();
        bad[0] = 2;
        assert!(matches!(ObjectRecord::decode(&bad), Err(Error::Corrupt(_))));
    }
}
