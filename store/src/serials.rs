//! Serial numbers the device hands out: today those of RFC 3161 timestamp tokens.
//!
//! One counter per device, in the `meta` tree under `timestamp_serial` (8 bytes,
//! big-endian: the last serial handed out; absent means none yet). Each call
//! increments it and flushes before it returns, so a serial is never handed out twice,
//! even across a crash. A serial taken by a call that then fails is not reused: the
//! sequence may have gaps, never repeats. (Restoring an older copy of the store winds
//! the counter back with everything else; that is what a restore does.)

use crate::{Error, Result, Store};

/// The key of the counter in the `meta` tree.
const TIMESTAMP_SERIAL: &str = "timestamp_serial";

impl Store {
    /// The next timestamp serial number: 1, 2, 3, ... over the device's life, shared
    /// by all its partitions, written to disk before it is returned.
    pub fn next_timestamp_serial(&self) -> Result<u64> {
        let mut corrupt = false;
        // sled may run the closure more than once (compare-and-swap retries).
        let new = self.meta.update_and_fetch(TIMESTAMP_SERIAL, |old| {
            corrupt = false;
            let last = match old {
                None => 0,
                Some(b) => match <[u8; 8]>::try_from(b) {
                    Ok(b) => u64::from_be_bytes(b),
                    Err(_) => {
                        corrupt = true;
                        return old.map(<[u8]>::to_vec);
                    }
                },
            };
            Some(last.saturating_add(1).to_be_bytes().to_vec())
        })?;
        if corrupt {
            return Err(Error::Corrupt("the timestamp serial counter is not 8 bytes".into()));
        }
        let serial = new
            .as_deref()
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| Error::Corrupt("the timestamp serial counter vanished".into()))?;
        if serial == u64::MAX {
            return Err(Error::Corrupt("the timestamp serial counter is exhausted".into()));
        }
        self.flush()?;
        Ok(serial)
    }
}
