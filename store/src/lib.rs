//! ferrohsm's persistence layer.
//!
//! One store holds one device. The device holds partitions (one per slot); each
//! partition holds object records. The store knows nothing of PKCS#11: an object is a
//! list of `(type, bytes)` attributes, some of which the caller asks to have sealed
//! (see [`seal`]), and a partition's policy is a list of opaque values.
//!
//! Durability: every mutating call returns only after sled has written and synced its
//! log (`Db::flush`), so a process killed right after a call returns loses nothing,
//! and sled's log recovery opens the store cleanly after a kill at any moment.
//!
//! One process at a time: sled locks its files. A second process gets
//! [`Error::InUse`], naming the store.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
mod codec;
pub mod config;
mod keyfile;
mod records;
pub mod seal;
mod serials;
pub mod time;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use sled::Transactional;
use sled::transaction::TransactionError;
use zeroize::Zeroizing;

pub use records::{DeviceRecord, ObjectRecord, PartitionKind, PartitionRecord, PinRecord, Role, StoredValue};
pub use seal::{AeadKey, Cipher, KdfParams, MasterKey};

/// The fixed id of the admin token's partition. User partitions count up from 0.
pub const ADMIN_PARTITION: u32 = 0xFFFF;

/// Everything that can go wrong in the store.
/// (Not `non_exhaustive`: the module maps every variant to a `CK_RV` in one
/// exhaustive match, so a new variant must be mapped.)
#[derive(Debug)]
pub enum Error {
    /// Another process has the store open (sled allows one process at a time).
    InUse {
        /// The store directory.
        path: PathBuf,
    },
    /// The store directory could not be created or read.
    Io {
        /// The path involved.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// sled reported an error (I/O failure or a damaged log).
    Db(sled::Error),
    /// A record failed to decode or to authenticate.
    Corrupt(String),
    /// The configuration file is unreadable or invalid.
    Config(String),
    /// No partition or object with that id.
    NotFound,
    /// The PIN is wrong. `locked` says whether this failure locked it.
    PinIncorrect {
        /// Consecutive failures so far.
        failures: u32,
        /// Whether this failure reached the limit and locked the PIN.
        locked: bool,
    },
    /// The PIN is locked after too many failures.
    PinLocked,
    /// No PIN is set for that role.
    PinNotSet,
    /// A sealed value was asked for without the master key.
    Locked,
    /// The device key file is missing, unreadable or readable by others.
    KeyFile(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InUse { path } => write!(
                f,
                "store {} is in use by another process; share it with `ferrohsm serve` \
                 and load p11-kit's client module in the other processes",
                path.display()
            ),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Db(e) => write!(f, "store database: {e}"),
            Error::Corrupt(m) => write!(f, "store is damaged: {m}"),
            Error::Config(m) => write!(f, "configuration: {m}"),
            Error::NotFound => f.write_str("no such record"),
            Error::PinIncorrect { failures, locked } => {
                write!(f, "PIN incorrect ({failures} failures{})", if *locked { ", now locked" } else { "" })
            }
            Error::PinLocked => f.write_str("PIN locked"),
            Error::PinNotSet => f.write_str("PIN not set"),
            Error::Locked => f.write_str("sealed value needs the master key"),
            Error::KeyFile(m) => write!(f, "device key file: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// Whether the disk is full (`ENOSPC`), which the module reports as device memory.
    pub fn is_out_of_space(&self) -> bool {
        let os = match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Db(sled::Error::Io(io)) => io.raw_os_error(),
            _ => None,
        };
        os == Some(28) // ENOSPC on Linux and the BSDs
    }
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Db(e)
    }
}

impl From<TransactionError<Error>> for Error {
    fn from(e: TransactionError<Error>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => Error::Db(e),
        }
    }
}

/// A result with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How an attribute is kept at rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seal {
    /// In the clear: public attributes of public objects.
    None,
    /// Under the partition master key, which a PIN unlocks: everything of a
    /// private object.
    Partition,
    /// Under the device key (the key file): key material of public objects, which
    /// PKCS#11 lets anyone use without a login.
    Device,
}

/// One attribute to write, and how to keep it.
#[derive(Clone, Copy, Debug)]
pub struct NewAttr<'a> {
    /// Attribute type (opaque to the store).
    pub ty: u64,
    /// The value.
    pub value: &'a [u8],
    /// How it is sealed.
    pub seal: Seal,
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// An open store.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    partitions: sled::Tree,
    objects: sled::Tree,
    /// Audit entries by sequence number (big-endian), and the heads.
    audit: sled::Tree,
    audit_heads: sled::Tree,
    /// How many operations each token key has done, by object key: written with the
    /// `key_usage` entries that report them.
    usage: sled::Tree,
    /// Orders appends to the audit log.
    audit_lock: Mutex<()>,
    cipher: Arc<dyn Cipher>,
    kdf: KdfParams,
    /// The device key, from the key file.
    device_key: MasterKey,
    /// Serialises read-modify-write of partition records (PIN counters, policy).
    rmw: Mutex<()>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

fn object_key(partition: u32, object: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&partition.to_be_bytes());
    k[4..].copy_from_slice(&object.to_be_bytes());
    k
}

fn object_id_of(key: &[u8]) -> Result<u64> {
    let b: [u8; 8] = key
        .get(4..12)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| Error::Corrupt("object key has the wrong length".into()))?;
    Ok(u64::from_be_bytes(b))
}

impl Store {
    /// Opens the store at `path`, creating it (mode 0700) with a fresh device, one
    /// uninitialised user partition, the admin token and the device key file (mode
    /// 0600) if it does not exist yet.
    pub fn open(path: &Path, cipher: Arc<dyn Cipher>, kdf: KdfParams) -> Result<Self> {
        create_private_dir(path)?;
        // The key files say whether this store is new, half-created or complete.
        let state = keyfile::open(path, cipher.as_ref())?;
        let db = sled::Config::new()
            .path(path.join("db"))
            // We flush after every mutation ourselves; no background flusher thread.
            .flush_every_ms(None)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io) if is_lock_error(io) => Error::InUse { path: path.to_path_buf() },
                sled::Error::Corruption { .. } => {
                    Error::Corrupt(format!("the database in {} is damaged ({e})", path.display()))
                }
                e => Error::Db(e),
            })?;
        let meta = db.open_tree("meta")?;
        let has_device = meta.get("device")?.is_some();
        let (device_key, create) = match state {
            keyfile::State::Complete(k) if has_device => (k, false),
            keyfile::State::Complete(_) => {
                // sled recovered an empty database where a device was: its log was
                // damaged. Creating a new device here would hide the loss.
                return Err(Error::Corrupt(format!(
                    "the database in {} has lost its device record (damaged log?); \
                     refusing to create a new device over it",
                    path.display()
                )));
            }
            keyfile::State::New(k) | keyfile::State::Pending(k) => (k, !has_device),
        };
        let store = Self {
            path: path.to_path_buf(),
            meta,
            partitions: db.open_tree("partitions")?,
            objects: db.open_tree("objects")?,
            audit: db.open_tree("audit")?,
            audit_heads: db.open_tree("audit_heads")?,
            usage: db.open_tree("usage")?,
            audit_lock: Mutex::new(()),
            db,
            cipher,
            kdf,
            device_key,
            rmw: Mutex::new(()),
        };
        if create {
            store.create_device()?;
        }
        if !path.join(keyfile::NAME).exists() {
            keyfile::complete(path)?;
        }
        store.device()?;
        Ok(store)
    }

    fn create_device(&self) -> Result<()> {
        let created = now();
        let mut serial = [0u8; 8];
        self.cipher.fill_random(&mut serial);
        let device = DeviceRecord { serial, created, next_partition: 1 };
        let first = self.new_partition_record(0, PartitionKind::User, b"", Vec::new());
        let admin = self.new_partition_record(ADMIN_PARTITION, PartitionKind::Admin, b"", Vec::new());
        (&self.meta, &self.partitions).transaction(|(m, p)| {
            m.insert("device", device.encode())?;
            p.insert(&first.id.to_be_bytes(), first.encode())?;
            p.insert(&admin.id.to_be_bytes(), admin.encode())?;
            Ok(())
        })?;
        self.flush()
    }

    fn new_partition_record(
        &self,
        id: u32,
        kind: PartitionKind,
        label: &[u8],
        policy: Vec<(u64, Vec<u8>)>,
    ) -> PartitionRecord {
        let mut serial = [0u8; 8];
        self.cipher.fill_random(&mut serial);
        PartitionRecord {
            id,
            kind,
            serial,
            created: now(),
            label: label.to_vec(),
            initialized: false,
            so: None,
            user: None,
            flags: 0,
            policy,
            last_login: 0,
        }
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// The PIN key derivation cost that new PINs get.
    pub fn kdf(&self) -> KdfParams {
        self.kdf
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The device record.
    pub fn device(&self) -> Result<DeviceRecord> {
        let b = self.meta.get("device")?.ok_or_else(|| Error::Corrupt("no device record".into()))?;
        DeviceRecord::decode(&b)
    }

    /// All partitions, ordered by id (user partitions in creation order, then the admin token).
    pub fn partitions(&self) -> Result<Vec<PartitionRecord>> {
        self.partitions.iter().values().map(|v| PartitionRecord::decode(&v?)).collect()
    }

    /// One partition.
    pub fn partition(&self, id: u32) -> Result<PartitionRecord> {
        let b = self.partitions.get(id.to_be_bytes())?.ok_or(Error::NotFound)?;
        PartitionRecord::decode(&b)
    }

    /// Adds a user partition (uninitialised) and returns it.
    pub fn create_partition(&self, label: &[u8], policy: Vec<(u64, Vec<u8>)>) -> Result<PartitionRecord> {
        let _g = self.rmw.lock();
        let mut device = self.device()?;
        let id = device.next_partition;
        if id >= ADMIN_PARTITION {
            return Err(Error::Corrupt("partition ids exhausted".into()));
        }
        device.next_partition += 1;
        let rec = self.new_partition_record(id, PartitionKind::User, label, policy);
        (&self.meta, &self.partitions).transaction(|(m, p)| {
            m.insert("device", device.encode())?;
            p.insert(&rec.id.to_be_bytes(), rec.encode())?;
            Ok(())
        })?;
        self.flush()?;
        Ok(rec)
    }

    /// Removes a partition and every object in it, in one transaction.
    pub fn delete_partition(&self, id: u32) -> Result<()> {
        let _g = self.rmw.lock();
        self.partition(id)?;
        let keys = self.object_keys(id)?;
        (&self.partitions, &self.objects).transaction(|(p, o)| {
            for k in &keys {
                o.remove(k.as_ref())?;
            }
            p.remove(&id.to_be_bytes())?;
            Ok(())
        })?;
        self.flush()
    }

    /// Applies `f` to a partition record and writes it back.
    pub fn update_partition(
        &self,
        id: u32,
        f: impl FnOnce(&mut PartitionRecord) -> Result<()>,
    ) -> Result<PartitionRecord> {
        let _g = self.rmw.lock();
        let mut rec = self.partition(id)?;
        f(&mut rec)?;
        self.partitions.insert(id.to_be_bytes(), rec.encode())?;
        self.flush()?;
        Ok(rec)
    }

    /// Initialises (or re-initialises) a token: destroys every object of the partition
    /// but those in `keep` (the partition's own keys, which are not the token's to lose),
    /// makes a new master key, sets the SO PIN and label, and clears the user PIN.
    ///
    /// Re-initialising needs the current SO PIN; the caller checks it with [`Store::login`].
    /// Objects in `keep` must not be sealed under the old master key (it is replaced).
    pub fn init_token(
        &self,
        id: u32,
        so_pin: &[u8],
        label: &[u8],
        keep: &[u64],
    ) -> Result<(PartitionRecord, MasterKey)> {
        let master = MasterKey::generate(self.cipher.as_ref());
        // The KDF runs outside the lock: it is the slow part.
        let so = self.wrap_master(id, Role::So, so_pin, &master)?;
        let _g = self.rmw.lock();
        let mut rec = self.partition(id)?;
        rec.label = label.to_vec();
        rec.initialized = true;
        rec.so = Some(so);
        rec.user = None;
        rec.flags = 0;
        rec.last_login = 0;
        let keys: Vec<_> =
            self.object_keys(id)?.into_iter().filter(|k| object_id_of(k).is_ok_and(|o| !keep.contains(&o))).collect();
        let encoded = rec.encode();
        (&self.partitions, &self.objects).transaction(|(p, o)| {
            for k in &keys {
                o.remove(k.as_ref())?;
            }
            p.insert(&id.to_be_bytes(), encoded.clone())?;
            Ok(())
        })?;
        self.flush()?;
        Ok((rec, master))
    }

    fn wrap_master(&self, id: u32, role: Role, pin: &[u8], master: &MasterKey) -> Result<PinRecord> {
        let mut salt = [0u8; 16];
        self.cipher.fill_random(&mut salt);
        let pin_key = seal::derive_pin_key(pin, &salt, self.kdf)?;
        let wrapping = self.cipher.key(&pin_key);
        let wrapped =
            seal::seal(self.cipher.as_ref(), wrapping.as_ref(), &seal::pin_aad(id, role.byte()), master.raw());
        Ok(PinRecord { kdf: self.kdf, salt, wrapped, failures: 0, locked: false })
    }

    /// Checks a PIN and returns the partition master key.
    ///
    /// A wrong PIN counts a failure (persisted); at `max_failures` the PIN locks.
    /// A right PIN clears the counter. For the user role, records the login time.
    pub fn login(&self, id: u32, role: Role, pin: &[u8], max_failures: u32) -> Result<MasterKey> {
        let rec = self.partition(id)?;
        let pin_rec = rec.pin(role).ok_or(Error::PinNotSet)?;
        if pin_rec.locked {
            return Err(Error::PinLocked);
        }
        let pin_key = seal::derive_pin_key(pin, &pin_rec.salt, pin_rec.kdf)?;
        let wrapping = self.cipher.key(&pin_key);
        let opened = seal::open(wrapping.as_ref(), &seal::pin_aad(id, role.byte()), &pin_rec.wrapped);
        let _g = self.rmw.lock();
        // Re-read under the lock so concurrent failures all count.
        let mut rec = self.partition(id)?;
        let current = rec.pin_mut(role).as_mut().ok_or(Error::PinNotSet)?;
        if current.locked {
            return Err(Error::PinLocked);
        }
        match opened.as_deref().and_then(|raw| seal::to_key32(raw)) {
            Some(raw) if current.wrapped == pin_rec.wrapped => {
                let changed = current.failures != 0 || role == Role::User;
                current.failures = 0;
                if role == Role::User {
                    rec.last_login = now();
                }
                if changed {
                    self.partitions.insert(id.to_be_bytes(), rec.encode())?;
                    self.flush()?;
                }
                Ok(MasterKey::from_raw(self.cipher.as_ref(), raw))
            }
            _ => {
                current.failures = current.failures.saturating_add(1);
                current.locked = current.failures >= max_failures;
                let err = Error::PinIncorrect { failures: current.failures, locked: current.locked };
                self.partitions.insert(id.to_be_bytes(), rec.encode())?;
                self.flush()?;
                Err(err)
            }
        }
    }

    /// Sets the PIN of `role` (wrapping `master` under it), clearing its counter and lock.
    pub fn set_pin(&self, id: u32, role: Role, pin: &[u8], master: &MasterKey) -> Result<PartitionRecord> {
        let new = self.wrap_master(id, role, pin, master)?;
        self.update_partition(id, |rec| {
            *rec.pin_mut(role) = Some(new);
            Ok(())
        })
    }

    /// A fresh object id, unique in this store.
    pub fn new_object_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    /// Writes (creates or replaces) an object. Attributes sealed by
    /// [`Seal::Partition`] are encrypted under `master`, which must then be given.
    pub fn put_object(
        &self,
        partition: u32,
        object: u64,
        attrs: &[NewAttr<'_>],
        master: Option<&MasterKey>,
    ) -> Result<()> {
        let rec = self.seal_record(partition, object, attrs, master)?;
        self.objects.insert(object_key(partition, object), rec.encode())?;
        self.flush()
    }

    /// Writes several objects of one partition in one atomic batch and one flush (a
    /// key pair and its attestation certificate: all of them, or none).
    pub fn put_objects(
        &self,
        partition: u32,
        objects: &[(u64, Vec<NewAttr<'_>>)],
        master: Option<&MasterKey>,
    ) -> Result<()> {
        self.put_objects_logged(partition, objects, master, &[]).map(|_| ())
    }

    /// [`Store::put_objects`] with audit events, written in the same transaction and
    /// flush as the objects: the change and its entries, all or none. Returns the
    /// entries.
    pub fn put_objects_logged(
        &self,
        partition: u32,
        objects: &[(u64, Vec<NewAttr<'_>>)],
        master: Option<&MasterKey>,
        events: &[audit::Event<'_>],
    ) -> Result<Vec<audit::Entry>> {
        let mut batch = sled::Batch::default();
        for (object, attrs) in objects {
            let rec = self.seal_record(partition, *object, attrs, master)?;
            batch.insert(&object_key(partition, *object), rec.encode());
        }
        self.apply_logged(batch, events)
    }

    /// Applies a batch to the objects tree together with audit events, then flushes.
    fn apply_logged(&self, batch: sled::Batch, events: &[audit::Event<'_>]) -> Result<Vec<audit::Entry>> {
        if events.is_empty() {
            self.objects.apply_batch(batch)?;
            self.flush()?;
            return Ok(Vec::new());
        }
        let _order = self.audit_lock.lock();
        let time = now();
        let entries = (&self.objects, &self.audit, &self.audit_heads)
            .transaction(|(objects, log, heads)| {
                objects.apply_batch(&batch)?;
                audit::append(log, heads, self.cipher.as_ref(), time, events)
            })
            .map_err(Error::from)?;
        self.flush()?;
        Ok(entries)
    }

    fn seal_record(
        &self,
        partition: u32,
        object: u64,
        attrs: &[NewAttr<'_>],
        master: Option<&MasterKey>,
    ) -> Result<ObjectRecord> {
        let mut out = Vec::with_capacity(attrs.len());
        for a in attrs {
            let aad = seal::attr_aad(partition, object, a.ty);
            let v = match a.seal {
                Seal::None => StoredValue::Plain(a.value.to_vec()),
                Seal::Partition => {
                    let key = master.ok_or(Error::Locked)?;
                    StoredValue::Sealed(seal::seal(self.cipher.as_ref(), key.aead(), &aad, a.value))
                }
                Seal::Device => {
                    StoredValue::DeviceSealed(seal::seal(self.cipher.as_ref(), self.device_key.aead(), &aad, a.value))
                }
            };
            out.push((a.ty, v));
        }
        Ok(ObjectRecord { attrs: out })
    }

    /// Deletes an object. Deleting one that is not there is not an error.
    pub fn delete_object(&self, partition: u32, object: u64) -> Result<()> {
        self.delete_objects(partition, &[object])
    }

    /// Deletes several objects in one atomic batch and one flush.
    pub fn delete_objects(&self, partition: u32, objects: &[u64]) -> Result<()> {
        self.delete_objects_logged(partition, objects, &[]).map(|_| ())
    }

    /// [`Store::delete_objects`] with audit events, in the same transaction and flush.
    pub fn delete_objects_logged(
        &self,
        partition: u32,
        objects: &[u64],
        events: &[audit::Event<'_>],
    ) -> Result<Vec<audit::Entry>> {
        let mut batch = sled::Batch::default();
        for o in objects {
            batch.remove(&object_key(partition, *o));
        }
        self.apply_logged(batch, events)
    }

    /// Every object record of a partition, in id (creation) order. A record that
    /// fails to decode is returned as an error in its place, so the caller can skip
    /// it and go on.
    pub fn objects(&self, partition: u32) -> impl Iterator<Item = Result<(u64, ObjectRecord)>> + '_ {
        self.objects.scan_prefix(partition.to_be_bytes()).map(|kv| {
            let (k, v) = kv?;
            Ok((object_id_of(&k)?, ObjectRecord::decode(&v)?))
        })
    }

    /// The number of objects in a partition (public and private).
    pub fn count_objects(&self, partition: u32) -> usize {
        self.objects.scan_prefix(partition.to_be_bytes()).keys().count()
    }

    fn object_keys(&self, partition: u32) -> Result<Vec<sled::IVec>> {
        Ok(self.objects.scan_prefix(partition.to_be_bytes()).keys().collect::<Result<_, _>>()?)
    }

    /// The value of one stored attribute, decrypted if it is sealed. Values sealed
    /// under the partition master key need `master`.
    pub fn unseal(
        &self,
        partition: u32,
        object: u64,
        ty: u64,
        value: &StoredValue,
        master: Option<&MasterKey>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let aad = seal::attr_aad(partition, object, ty);
        let (key, sealed) = match value {
            StoredValue::Plain(v) => return Ok(Zeroizing::new(v.clone())),
            StoredValue::Sealed(v) => (master.ok_or(Error::Locked)?, v),
            StoredValue::DeviceSealed(v) => (&self.device_key, v),
        };
        seal::open(key.aead(), &aad, sealed)
            .ok_or_else(|| Error::Corrupt(format!("object {object:#x} attribute {ty:#x} fails authentication")))
    }
}

fn is_lock_error(e: &io::Error) -> bool {
    // sled reports a held lock as `Other` with "could not acquire lock"; the raw
    // errno (EWOULDBLOCK) is only inside the message.
    e.kind() == io::ErrorKind::WouldBlock || e.to_string().contains("could not acquire lock")
}

fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| Error::Io { path: path.to_path_buf(), source })
}
