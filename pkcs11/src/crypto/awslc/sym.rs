//! [`crate::crypto::SymOps`] for AwsLc: `cipher` for ECB, CBC and CTR, `aead` for
//! GCM, `key_wrap` for RFC 3394 / 5649 (AES-128 and AES-256; aws-lc-rs has no
//! AES-192 key wrap, so that size runs the generic code over this AES), `cmac`
//! and `hmac`.

use aws_lc_rs::cipher::{self, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::key_wrap::{self, AesKek, KeyWrap, KeyWrapPadded};
use aws_lc_rs::{aead, cmac, hmac};
use cryptoki_sys::*;
use once_cell::sync::OnceCell;
use zeroize::Zeroizing;

use super::AwsLc;
use crate::crypto::sym::{self, AesKey, BLOCK, Mac};
use crate::crypto::{HashAlg, SymOps};
use crate::error::{Error, Result, err};

fn failed(what: &'static str) -> impl Fn(aws_lc_rs::error::Unspecified) -> Error {
    move |_| err(CKR_FUNCTION_FAILED, what)
}

/// An AES key: its bytes, and each aws-lc key object made on first use (each holds
/// its own key schedule; aws-lc zeroizes them on drop).
struct Aes {
    raw: Zeroizing<Vec<u8>>,
    alg: &'static cipher::Algorithm,
    ecb_enc: OnceCell<EncryptingKey>,
    ecb_dec: OnceCell<DecryptingKey>,
    cbc_enc: OnceCell<EncryptingKey>,
    cbc_dec: OnceCell<DecryptingKey>,
    ctr: OnceCell<EncryptingKey>,
    gcm: OnceCell<aead::LessSafeKey>,
    cmac: OnceCell<cmac::Key>,
}

impl Aes {
    fn unbound(&self) -> Result<UnboundCipherKey> {
        UnboundCipherKey::new(self.alg, &self.raw).map_err(failed("AES key setup failed"))
    }

    fn enc<'a>(
        &self,
        cell: &'a OnceCell<EncryptingKey>,
        make: fn(UnboundCipherKey) -> std::result::Result<EncryptingKey, aws_lc_rs::error::Unspecified>,
    ) -> Result<&'a EncryptingKey> {
        cell.get_or_try_init(|| make(self.unbound()?).map_err(failed("AES key setup failed")))
    }

    fn dec<'a>(
        &self,
        cell: &'a OnceCell<DecryptingKey>,
        make: fn(UnboundCipherKey) -> std::result::Result<DecryptingKey, aws_lc_rs::error::Unspecified>,
    ) -> Result<&'a DecryptingKey> {
        cell.get_or_try_init(|| make(self.unbound()?).map_err(failed("AES key setup failed")))
    }

    fn gcm(&self) -> Result<&aead::LessSafeKey> {
        self.gcm.get_or_try_init(|| {
            let alg = match self.raw.len() {
                16 => &aead::AES_128_GCM,
                24 => &aead::AES_192_GCM,
                _ => &aead::AES_256_GCM,
            };
            let k = aead::UnboundKey::new(alg, &self.raw).map_err(failed("AES-GCM key setup failed"))?;
            Ok(aead::LessSafeKey::new(k))
        })
    }

    fn kek(&self) -> Option<Result<AesKek>> {
        let alg = match self.raw.len() {
            16 => &key_wrap::AES_128,
            32 => &key_wrap::AES_256,
            _ => return None,
        };
        Some(AesKek::new(alg, &self.raw).map_err(failed("AES key wrap setup failed")))
    }
}

fn iv128(iv: &[u8; BLOCK]) -> FixedLength<16> {
    FixedLength::from(*iv)
}

impl AesKey for Aes {
    fn key_len(&self) -> usize {
        self.raw.len()
    }

    fn ecb_encrypt(&self, data: &mut [u8]) -> Result<()> {
        let k = self.enc(&self.ecb_enc, EncryptingKey::ecb)?;
        k.less_safe_encrypt(data, EncryptionContext::None).map_err(failed("AES-ECB failed"))?;
        Ok(())
    }

    fn ecb_decrypt(&self, data: &mut [u8]) -> Result<()> {
        let k = self.dec(&self.ecb_dec, DecryptingKey::ecb)?;
        k.decrypt(data, DecryptionContext::None).map_err(failed("AES-ECB failed"))?;
        Ok(())
    }

    fn cbc_encrypt(&self, iv: &mut [u8; BLOCK], data: &mut [u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let k = self.enc(&self.cbc_enc, EncryptingKey::cbc)?;
        k.less_safe_encrypt(data, EncryptionContext::Iv128(iv128(iv))).map_err(failed("AES-CBC failed"))?;
        iv.copy_from_slice(&data[data.len() - BLOCK..]);
        Ok(())
    }

    fn cbc_decrypt(&self, iv: &mut [u8; BLOCK], data: &mut [u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let k = self.dec(&self.cbc_dec, DecryptingKey::cbc)?;
        let next: [u8; BLOCK] = data[data.len() - BLOCK..].try_into().expect("a block");
        k.decrypt(data, DecryptionContext::Iv128(iv128(iv))).map_err(failed("AES-CBC failed"))?;
        *iv = next;
        Ok(())
    }

    fn ctr_xor(&self, counter: &[u8; BLOCK], data: &mut [u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        // aws-lc's AES_ctr128_encrypt increments the whole block (carrying out of
        // the low 32 bits into the upper 96).
        let k = self.enc(&self.ctr, EncryptingKey::ctr)?;
        k.less_safe_encrypt(data, EncryptionContext::Iv128(iv128(counter))).map_err(failed("AES-CTR failed"))?;
        Ok(())
    }

    fn gcm_seal(&self, iv: &[u8; 12], aad: &[u8], plain: &[u8], out: &mut [u8]) -> Result<[u8; BLOCK]> {
        let mut tag = [0u8; BLOCK];
        self.gcm()?
            .seal_out_of_place_scatter(
                aead::Nonce::assume_unique_for_key(*iv),
                aead::Aad::from(aad),
                plain,
                out,
                &[],
                &mut tag,
            )
            .map_err(|_| err(CKR_DATA_LEN_RANGE, "AES-GCM refused the input"))?;
        Ok(tag)
    }

    fn gcm_open(&self, iv: &[u8; 12], aad: &[u8], ct: &[u8], tag: &[u8; BLOCK], out: &mut [u8]) -> Result<()> {
        self.gcm()?
            .open_separate_gather(aead::Nonce::assume_unique_for_key(*iv), aead::Aad::from(aad), ct, tag, out)
            .map_err(|_| err(CKR_ENCRYPTED_DATA_INVALID, "the AES-GCM tag does not match"))
    }

    fn wrap(&self, padded: bool, input: &[u8]) -> Result<Vec<u8>> {
        let Some(kek) = self.kek() else {
            return if padded { sym::kwp_wrap(self, input) } else { sym::kw_wrap(self, input) };
        };
        let mut out = vec![0u8; input.len().div_ceil(8) * 8 + 8];
        let n = if padded {
            kek?.wrap_with_padding(input, &mut out).map_err(failed("AES-KWP failed"))?.len()
        } else {
            kek?.wrap(input, &mut out).map_err(failed("AES-KW failed"))?.len()
        };
        out.truncate(n);
        Ok(out)
    }

    fn unwrap(&self, padded: bool, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let Some(kek) = self.kek() else {
            return if padded { sym::kwp_unwrap(self, input) } else { sym::kw_unwrap(self, input) };
        };
        let mut out = Zeroizing::new(vec![0u8; input.len()]);
        let bad = |_| err(CKR_ENCRYPTED_DATA_INVALID, "the wrapped data failed the integrity check");
        let n = if padded {
            kek?.unwrap_with_padding(input, &mut out).map_err(bad)?.len()
        } else {
            kek?.unwrap(input, &mut out).map_err(bad)?.len()
        };
        out.truncate(n);
        Ok(out)
    }

    fn cmac(&self) -> Result<Box<dyn Mac>> {
        let key = self.cmac.get_or_try_init(|| {
            let alg = match self.raw.len() {
                16 => cmac::AES_128,
                24 => cmac::AES_192,
                _ => cmac::AES_256,
            };
            cmac::Key::new(alg, &self.raw).map_err(failed("AES-CMAC key setup failed"))
        })?;
        Ok(Box::new(Cmac(cmac::Context::with_key(key))))
    }
}

struct Cmac(cmac::Context);

impl Mac for Cmac {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.0.update(data).map_err(failed("AES-CMAC failed"))
    }

    fn finish(self: Box<Self>) -> Result<Vec<u8>> {
        Ok(self.0.sign().map_err(failed("AES-CMAC failed"))?.as_ref().to_vec())
    }
}

struct Hmac(hmac::Context);

impl Mac for Hmac {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.0.update(data);
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Vec<u8>> {
        Ok(self.0.sign().as_ref().to_vec())
    }
}

impl SymOps for AwsLc {
    fn aes_key(&self, key: &[u8]) -> Result<Box<dyn AesKey>> {
        let alg = match key.len() {
            16 => &cipher::AES_128,
            24 => &cipher::AES_192,
            32 => &cipher::AES_256,
            n => return Err(err(CKR_KEY_SIZE_RANGE, format!("an AES key is 16, 24 or 32 bytes, not {n}"))),
        };
        Ok(Box::new(Aes {
            raw: Zeroizing::new(key.to_vec()),
            alg,
            ecb_enc: OnceCell::new(),
            ecb_dec: OnceCell::new(),
            cbc_enc: OnceCell::new(),
            cbc_dec: OnceCell::new(),
            ctr: OnceCell::new(),
            gcm: OnceCell::new(),
            cmac: OnceCell::new(),
        }))
    }

    fn hmac_start(&self, alg: HashAlg, key: &[u8]) -> Box<dyn Mac> {
        let a = match alg {
            HashAlg::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha224 => hmac::HMAC_SHA224,
            HashAlg::Sha256 => hmac::HMAC_SHA256,
            HashAlg::Sha384 => hmac::HMAC_SHA384,
            HashAlg::Sha512 => hmac::HMAC_SHA512,
        };
        Box::new(Hmac(hmac::Context::with_key(&hmac::Key::new(a, key))))
    }
}
