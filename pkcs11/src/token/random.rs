//! Random number generation (PKCS#11 §5.15).
//!
//! Output comes from the provider's generator (the operating system's, through
//! aws-lc or getrandom). `C_SeedRandom` cannot reseed those, so seed material is
//! hashed into a pool and, once there is one, every output is XORed with an
//! HMAC-SHA-256 stream keyed by the pool: the caller's seed then affects the output
//! without ever being able to weaken it.

use cryptoki_sys::*;

use crate::crypto::HashAlg;
use crate::error::Result;
use crate::module::Module;

/// `C_SeedRandom`.
pub fn seed_random(m: &Module, session: CK_SESSION_HANDLE, seed: &[u8]) -> Result<()> {
    m.session(session)?;
    let mut pool = m.seed.lock();
    let mut input = pool.map(|p| p.to_vec()).unwrap_or_default();
    input.extend_from_slice(seed);
    let digest = m.provider.hash(HashAlg::Sha256, &input);
    let mut next = [0u8; 32];
    next.copy_from_slice(&digest);
    *pool = Some(next);
    Ok(())
}

/// `C_GenerateRandom`.
pub fn generate_random(m: &Module, session: CK_SESSION_HANDLE, out: &mut [u8]) -> Result<()> {
    m.session(session)?;
    m.provider.fill_random(out);
    let pool = *m.seed.lock();
    if let Some(key) = pool {
        let mut nonce = [0u8; 16];
        m.provider.fill_random(&mut nonce);
        for (i, chunk) in out.chunks_mut(32).enumerate() {
            let mut msg = nonce.to_vec();
            msg.extend_from_slice(&(i as u64).to_be_bytes());
            let stream = m.provider.hmac(HashAlg::Sha256, &key, &msg);
            for (o, s) in chunk.iter_mut().zip(stream) {
                *o ^= s;
            }
        }
    }
    Ok(())
}
