//! The device key file: 32 random bytes, mode 0600, next to the database.
//!
//! It protects what PKCS#11 lets anyone use without a login (key material of
//! public objects, and later the device's own keys), so it must be readable
//! without a PIN; its protection is the file's owner and mode. The store refuses a
//! key file that others can read, as ssh refuses a private key.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use crate::seal::{self, Cipher, MasterKey};
use crate::{Error, Result};

/// The file name inside the store directory.
pub(crate) const NAME: &str = "device.key";

/// Loads the key file, creating it when the store is new.
pub(crate) fn load_or_create(path: &Path, create: bool, cipher: &dyn Cipher) -> Result<MasterKey> {
    if create && !path.exists() {
        let key = MasterKey::generate(cipher);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::KeyFile(format!("cannot create {}: {e}", path.display())))?;
        f.write_all(key.raw())
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::KeyFile(format!("cannot write {}: {e}", path.display())))?;
        return Ok(key);
    }
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
