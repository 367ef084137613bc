//! Encryption at rest.
//!
//! The store never implements a cipher itself: the caller hands it a [`Cipher`]
//! (ferrohsm's crypto provider), so the whole product runs on one provider.
//! The store decides *what* is sealed and *how it is bound*:
//!
//! - each sealed attribute is its own AES-256-GCM message, `nonce(12) || ct || tag(16)`,
//!   with `"ferrohsm attr v1" || partition(4) || object(8) || attribute type(8)`
//!   (big-endian) as associated data, so a sealed value cannot be moved to another
//!   object or attribute without failing authentication;
//! - each partition's master key is wrapped once per PIN, under a key derived from
//!   that PIN with Argon2id, bound to the partition and the role.

use std::fmt;

use zeroize::Zeroizing;

use crate::Error;

/// Length of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of an AES-GCM tag.
pub const TAG_LEN: usize = 16;

/// AES-256-GCM and randomness, supplied by the caller's crypto provider.
pub trait Cipher: Send + Sync {
    /// Prepares an AES-256-GCM key (the key schedule is computed once).
    fn key(&self, raw: &[u8; 32]) -> Box<dyn AeadKey>;
    /// Fills `out` from a cryptographically secure generator.
    fn fill_random(&self, out: &mut [u8]);
    /// SHA-256 of `data` (the audit log's chain).
    fn sha256(&self, data: &[u8]) -> [u8; 32];
}

/// A prepared AES-256-GCM key.
pub trait AeadKey: Send + Sync {
    /// Returns `ciphertext || tag`.
    fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8>;
    /// Returns the plaintext, or `None` when authentication fails.
    fn open(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], ct_tag: &[u8]) -> Option<Zeroizing<Vec<u8>>>;
}

/// A partition's 256-bit master key, unwrapped by a PIN. Zeroized on drop.
pub struct MasterKey {
    raw: Zeroizing<[u8; 32]>,
    key: Box<dyn AeadKey>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub(crate) fn from_raw(cipher: &dyn Cipher, raw: Zeroizing<[u8; 32]>) -> Self {
        let key = cipher.key(&raw);
        Self { raw, key }
    }

    pub(crate) fn generate(cipher: &dyn Cipher) -> Self {
        let mut raw = Zeroizing::new([0u8; 32]);
        cipher.fill_random(raw.as_mut());
        Self::from_raw(cipher, raw)
    }

    pub(crate) fn raw(&self) -> &[u8; 32] {
        &self.raw
    }

    /// The prepared AES-256-GCM key.
    pub fn aead(&self) -> &dyn AeadKey {
        self.key.as_ref()
    }
}

/// Seals `plaintext` under `key` with a fresh random nonce: `nonce || ct || tag`.
pub(crate) fn seal(cipher: &dyn Cipher, key: &dyn AeadKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    cipher.fill_random(&mut nonce);
    let body = key.seal(&nonce, aad, plaintext);
    let mut out = Vec::with_capacity(NONCE_LEN + body.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    out
}

/// Opens a value made by [`seal`]. `None` when it is short or fails authentication.
pub(crate) fn open(key: &dyn AeadKey, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce.try_into().ok()?;
    key.open(nonce, aad, body)
}

/// Associated data binding a sealed attribute to its partition, object and type.
pub(crate) fn attr_aad(partition: u32, object: u64, ty: u64) -> [u8; 36] {
    let mut aad = [0u8; 36];
    aad[..16].copy_from_slice(b"ferrohsm attr v1");
    aad[16..20].copy_from_slice(&partition.to_be_bytes());
    aad[20..28].copy_from_slice(&object.to_be_bytes());
    aad[28..36].copy_from_slice(&ty.to_be_bytes());
    aad
}

/// Associated data binding a wrapped master key to its partition and role.
pub(crate) fn pin_aad(partition: u32, role: u8) -> [u8; 20] {
    let mut aad = [0u8; 20];
    aad[..15].copy_from_slice(b"ferrohsm pin v1");
    aad[15..19].copy_from_slice(&partition.to_be_bytes());
    aad[19] = role;
    aad
}

/// Argon2id cost parameters, stored with each PIN so they can be raised later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// The default cost: about 45 ms on one core of a current x86-64 server,
    /// near the 50 ms DESIGN.md asks for, with 32 MiB of memory per attempt.
    pub const DEFAULT: Self = Self { m_kib: 32 * 1024, t: 2, p: 1 };
}

/// Derives the PIN key with Argon2id.
pub(crate) fn derive_pin_key(pin: &[u8], salt: &[u8; 16], params: KdfParams) -> Result<Zeroizing<[u8; 32]>, Error> {
    let p = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| Error::Corrupt(format!("PIN record has bad KDF parameters: {e}")))?;
    let kdf = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = Zeroizing::new([0u8; 32]);
    kdf.hash_password_into(pin, salt, out.as_mut()).map_err(|e| Error::Corrupt(format!("PIN KDF failed: {e}")))?;
    Ok(out)
}

/// Copies a decrypted 32-byte value into a zeroizing array.
pub(crate) fn to_key32(bytes: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    if bytes.len() != 32 {
        return None;
    }
    let mut k = Zeroizing::new([0u8; 32]);
    k.copy_from_slice(bytes);
    Some(k)
}
