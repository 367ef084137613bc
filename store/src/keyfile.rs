//! The device key file: 32 random bytes, mode 0600, next to the database.
//!
//! It protects what PKCS#11 lets anyone use without a login (key material of
//! public objects, and later the device's own keys), so it must be readable
//! without a PIN; its protection is the file's owner and mode. The store refuses a
//! key file that others can read, as ssh refuses a private key.
//!
//! The file also marks a store as complete. A new store is created in this order:
//! `device.key.new` written and synced; the database and its device record written
//! and flushed; `device.key.new` renamed to `device.key` and the directory synced. So
//! `device.key` exists only once the device record is durable, and a database
//! without a device record next to a `device.key` is damaged, never new.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::seal::{self, Cipher, MasterKey};
use crate::{Error, Result};

/// The file name inside the store directory.
pub(crate) const NAME: &str = "device.key";
/// The key of a store being created.
const PENDING: &str = "device.key.new";

/// Where a store is in its life, from its key files.
pub(crate) enum State {
    /// Nothing there yet: a new store. Holds the new key, already written as pending.
    New(MasterKey),
    /// Creation started and did not finish; the key is pending.
    Pending(MasterKey),
    /// A complete store.
    Complete(MasterKey),
}

/// Finds (or, for a new store, starts) the key file.
pub(crate) fn open(dir: &Path, cipher: &dyn Cipher) -> Result<State> {
    let key = dir.join(NAME);
    let pending = dir.join(PENDING);
    if key.exists() {
        return Ok(State::Complete(read(&key, cipher)?));
    }
    if pending.exists() {
        return Ok(State::Pending(read(&pending, cipher)?));
    }
    if dir.join("db").exists() {
        return Err(Error::KeyFile(format!(
            "{} is missing, and the store's data cannot be read without it",
            key.display()
        )));
    }
    let new = MasterKey::generate(cipher);
    write(&pending, new.raw())?;
    Ok(State::New(new))
}

/// Marks creation complete: the pending key becomes the key file.
pub(crate) fn complete(dir: &Path) -> Result<()> {
    let (from, to) = (dir.join(PENDING), dir.join(NAME));
    std::fs::rename(&from, &to).map_err(|e| Error::KeyFile(format!("cannot rename {}: {e}", from.display())))?;
    // The rename is durable once the directory is synced.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::KeyFile(format!("cannot sync {}: {e}", dir.display())))
}

fn write(path: &PathBuf, raw: &[u8; 32]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::KeyFile(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(raw)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::KeyFile(format!("cannot write {}: {e}", path.display())))
}

fn read(path: &Path, cipher: &dyn Cipher) -> Result<MasterKey> {
    let meta = std::fs::metadata(path).map_err(|e| Error::KeyFile(format!("cannot read {}: {e}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::KeyFile(format!(
            "{} is accessible by others (mode {mode:o}); run: chmod 600 {}",
            path.display(),
            path.display()
        )));
    }
    let bytes = Zeroizing::new(
        std::fs::read(path).map_err(|e| Error::KeyFile(format!("cannot read {}: {e}", path.display())))?,
    );
    let raw = seal::to_key32(&bytes).ok_or_else(|| Error::KeyFile(format!("{} is not 32 bytes", path.display())))?;
    Ok(MasterKey::from_raw(cipher, raw))
}
