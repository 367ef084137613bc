//! [`crate::crypto::SymOps`] for RustCrypto: `aes` for the block cipher, `cbc`,
//! `ctr`, `aes-gcm`, `aes-kw`, `cmac` and `hmac`.

use aes::cipher::array::Array;
use aes::cipher::consts::{U12, U16};
use aes::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, BlockSizeUser, InnerIvInit, KeyInit,
    StreamCipher,
};
use aes_gcm::AesGcm;
use aes_gcm::aead::AeadInOut;
use aes_gcm::aead::inout::InOutBuf;
use cmac::Cmac;
use cryptoki_sys::*;
use hmac::Hmac;
use hmac::digest::InnerInit;
use once_cell::sync::OnceCell;
use zeroize::Zeroizing;

use super::RustCrypto;
use crate::crypto::sym::{AesKey, BLOCK, Mac};
use crate::crypto::{HashAlg, SymOps};
use crate::error::{Result, err};

/// The three AES ciphers, as one bound.
trait Cipher:
    BlockCipherEncrypt + BlockCipherDecrypt + BlockSizeUser<BlockSize = U16> + Clone + Send + Sync + 'static
{
}

impl<C> Cipher for C where
    C: BlockCipherEncrypt + BlockCipherDecrypt + BlockSizeUser<BlockSize = U16> + Clone + Send + Sync + 'static
{
}

/// A prepared AES key: the cipher with its round keys (zeroized on drop by the
/// `aes` crate's `zeroize` feature), and the GCM state made on first use.
struct Aes<C: Cipher> {
    cipher: C,
    len: usize,
    gcm: OnceCell<AesGcm<C, U12>>,
}

fn blocks(data: &mut [u8]) -> &mut [Array<u8, U16>] {
    let (blocks, rest) = Array::slice_as_chunks_mut(data);
    debug_assert!(rest.is_empty(), "whole blocks only");
    blocks
}

impl<C: Cipher> Aes<C>
where
    Cmac<C>: InnerInit<Inner = C> + hmac::digest::Mac + Send,
{
    fn gcm(&self) -> &AesGcm<C, U12> {
        self.gcm.get_or_init(|| AesGcm::from(self.cipher.clone()))
    }
}

impl<C: Cipher> AesKey for Aes<C>
where
    Cmac<C>: InnerInit<Inner = C> + hmac::digest::Mac + Send,
{
    fn key_len(&self) -> usize {
        self.len
    }

    fn ecb_encrypt(&self, data: &mut [u8]) -> Result<()> {
        self.cipher.encrypt_blocks(blocks(data));
        Ok(())
    }

    fn ecb_decrypt(&self, data: &mut [u8]) -> Result<()> {
        self.cipher.decrypt_blocks(blocks(data));
        Ok(())
    }

    fn cbc_encrypt(&self, iv: &mut [u8; BLOCK], data: &mut [u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        cbc::Encryptor::<&C>::inner_iv_init(&self.cipher, &Array::from(*iv)).encrypt_blocks(blocks(data));
        iv.copy_from_slice(&data[data.len() - BLOCK..]);
        Ok(())
    }

    fn cbc_decrypt(&self, iv: &mut [u8; BLOCK], data: &mut [u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let next: [u8; BLOCK] = data[data.len() - BLOCK..].try_into().expect("a block");
        cbc::Decryptor::<&C>::inner_iv_init(&self.cipher, &Array::from(*iv)).decrypt_blocks(blocks(data));
        *iv = next;
        Ok(())
    }

    fn ctr_xor(&self, counter: &[u8; BLOCK], data: &mut [u8]) -> Result<()> {
        // `Ctr128BE` stops one block short of the counter 2^128 - 1 (it counts the
        // blocks left before the counter would wrap); that last block is done here.
        let start = u128::from_be_bytes(*counter);
        let before_max = usize::try_from(u128::MAX - start).unwrap_or(usize::MAX);
        let split = data.len().min(before_max.saturating_mul(BLOCK));
        let (head, tail) = data.split_at_mut(split);
        if !head.is_empty() {
            let core = ctr::CtrCore::<&C, ctr::flavors::Ctr128BE>::inner_iv_init(&self.cipher, &Array::from(*counter));
            ctr::Ctr128BE::<&C>::from_core(core)
                .try_apply_keystream(head)
                .map_err(|_| err(CKR_FUNCTION_FAILED, "AES-CTR keystream exhausted"))?;
        }
        if !tail.is_empty() {
            if tail.len() > BLOCK {
                return Err(err(CKR_GENERAL_ERROR, "AES-CTR past the end of the counter space"));
            }
            let mut ks = Zeroizing::new(Array::from([0xFFu8; BLOCK]));
            self.cipher.encrypt_block(&mut ks);
            for (d, k) in tail.iter_mut().zip(ks.iter()) {
                *d ^= k;
            }
        }
        Ok(())
    }

    fn gcm_seal(&self, iv: &[u8; 12], aad: &[u8], plain: &[u8], out: &mut [u8]) -> Result<[u8; BLOCK]> {
        let buf = InOutBuf::new(plain, out).map_err(|_| err(CKR_GENERAL_ERROR, "GCM buffers differ in length"))?;
        let tag = self
            .gcm()
            .encrypt_inout_detached(&Array::from(*iv), aad, buf)
            .map_err(|_| err(CKR_DATA_LEN_RANGE, "AES-GCM refused the input"))?;
        Ok(tag.into())
    }

    fn gcm_open(&self, iv: &[u8; 12], aad: &[u8], ct: &[u8], tag: &[u8; BLOCK], out: &mut [u8]) -> Result<()> {
        let buf = InOutBuf::new(ct, out).map_err(|_| err(CKR_GENERAL_ERROR, "GCM buffers differ in length"))?;
        self.gcm()
            .decrypt_inout_detached(&Array::from(*iv), aad, buf, &Array::from(*tag))
            .map_err(|_| err(CKR_ENCRYPTED_DATA_INVALID, "the AES-GCM tag does not match"))
    }

    fn wrap(&self, padded: bool, input: &[u8]) -> Result<Vec<u8>> {
        let mut out = vec![0u8; input.len().div_ceil(8) * 8 + 8];
        let n = if padded {
            aes_kw::AesKwp::<&C>::inner_init(&self.cipher).wrap_key(input, &mut out).map(<[u8]>::len)
        } else {
            aes_kw::AesKw::<&C>::inner_init(&self.cipher).wrap_key(input, &mut out).map(<[u8]>::len)
        }
        .map_err(|e| err(CKR_DATA_LEN_RANGE, format!("AES key wrap refused the input: {e}")))?;
        out.truncate(n);
        Ok(out)
    }

    fn unwrap(&self, padded: bool, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(vec![0u8; input.len()]);
        let n = if padded {
            aes_kw::AesKwp::<&C>::inner_init(&self.cipher).unwrap_key(input, &mut out).map(<[u8]>::len)
        } else {
            aes_kw::AesKw::<&C>::inner_init(&self.cipher).unwrap_key(input, &mut out).map(<[u8]>::len)
        }
        .map_err(|_| err(CKR_ENCRYPTED_DATA_INVALID, "the wrapped data failed the integrity check"))?;
        out.truncate(n);
        Ok(out)
    }

    fn cmac(&self) -> Result<Box<dyn Mac>> {
        Ok(Box::new(MacOf(Cmac::<C>::inner_init(self.cipher.clone()))))
    }
}

/// A RustCrypto MAC as a [`Mac`].
struct MacOf<M>(M);

impl<M: hmac::digest::Mac + Send> Mac for MacOf<M> {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.0.update(data);
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Vec<u8>> {
        Ok(self.0.finalize().into_bytes().to_vec())
    }
}

fn hmac<D>(key: &[u8]) -> Box<dyn Mac>
where
    Hmac<D>: KeyInit + hmac::digest::Mac + Send + 'static,
    D: hmac::EagerHash,
{
    Box::new(MacOf(<Hmac<D> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")))
}

impl SymOps for RustCrypto {
    fn aes_key(&self, key: &[u8]) -> Result<Box<dyn AesKey>> {
        fn make<C: Cipher + KeyInit>(key: &[u8]) -> Box<dyn AesKey>
        where
            Cmac<C>: InnerInit<Inner = C> + hmac::digest::Mac + Send,
        {
            let cipher = C::new_from_slice(key).expect("length checked by the caller");
            Box::new(Aes { cipher, len: key.len(), gcm: OnceCell::new() })
        }
        Ok(match key.len() {
            16 => make::<aes::Aes128>(key),
            24 => make::<aes::Aes192>(key),
            32 => make::<aes::Aes256>(key),
            n => return Err(err(CKR_KEY_SIZE_RANGE, format!("an AES key is 16, 24 or 32 bytes, not {n}"))),
        })
    }

    fn hmac_start(&self, alg: HashAlg, key: &[u8]) -> Box<dyn Mac> {
        match alg {
            HashAlg::Sha1 => hmac::<sha1::Sha1>(key),
            HashAlg::Sha224 => hmac::<sha2::Sha224>(key),
            HashAlg::Sha256 => hmac::<sha2::Sha256>(key),
            HashAlg::Sha384 => hmac::<sha2::Sha384>(key),
            HashAlg::Sha512 => hmac::<sha2::Sha512>(key),
        }
    }
}
