//! HMAC and generic secrets: `CKM_GENERIC_SECRET_KEY_GEN`, `CKM_SHA_1_HMAC` to
//! `CKM_SHA512_HMAC` and their `_GENERAL` forms (RFC 2104, FIPS 198-1).
//!
//! - Keys: `CKK_GENERIC_SECRET` and the `CKK_SHA*_HMAC` type of the mechanism's
//!   hash, 1 to 512 bytes. `CK_MECHANISM_INFO` gives HMAC key sizes in bytes (as
//!   SoftHSM does; the spec does not say), and generic secret generation in bits,
//!   as the spec says for `CKM_GENERIC_SECRET_KEY_GEN`.
//! - The `_GENERAL` forms take `CK_MAC_GENERAL_PARAMS`, the MAC length in bytes.
//!   The spec allows 0 to the hash length; a zero-length MAC would verify anything,
//!   so this token takes 1 to the hash length (`CKR_MECHANISM_PARAM_INVALID`
//!   otherwise). The MAC is the leading bytes of the full HMAC.
//! - Verification compares in constant time; a signature of the wrong length is
//!   `CKR_SIGNATURE_LEN_RANGE`, a wrong one `CKR_SIGNATURE_INVALID`.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{Entry, Mechanism, Param, Registry, SignOp, VerifyOp, check_key_size};
use crate::crypto::sym::{Mac, ct_eq};
use crate::crypto::{HashAlg, Provider};
use crate::error::{Mech, Result, err};
use crate::object::{Attrs, Object};

/// Smallest HMAC or generic secret key, in bytes.
pub const MIN_KEY: usize = 1;
/// Largest HMAC or generic secret key, in bytes.
pub const MAX_KEY: usize = 512;

/// Each HMAC: the mechanism, its general form, the hash, and the key types it takes.
const HMACS: [(CK_MECHANISM_TYPE, CK_MECHANISM_TYPE, HashAlg, &[CK_KEY_TYPE]); 5] = [
    (CKM_SHA_1_HMAC, CKM_SHA_1_HMAC_GENERAL, HashAlg::Sha1, &[CKK_GENERIC_SECRET, CKK_SHA_1_HMAC]),
    (CKM_SHA224_HMAC, CKM_SHA224_HMAC_GENERAL, HashAlg::Sha224, &[CKK_GENERIC_SECRET, CKK_SHA224_HMAC]),
    (CKM_SHA256_HMAC, CKM_SHA256_HMAC_GENERAL, HashAlg::Sha256, &[CKK_GENERIC_SECRET, CKK_SHA256_HMAC]),
    (CKM_SHA384_HMAC, CKM_SHA384_HMAC_GENERAL, HashAlg::Sha384, &[CKK_GENERIC_SECRET, CKK_SHA384_HMAC]),
    (CKM_SHA512_HMAC, CKM_SHA512_HMAC_GENERAL, HashAlg::Sha512, &[CKK_GENERIC_SECRET, CKK_SHA512_HMAC]),
];

/// The `CK_MECHANISM_INFO` of every HMAC mechanism (key sizes in bytes).
const HMAC_INFO: CK_MECHANISM_INFO = CK_MECHANISM_INFO {
    ulMinKeySize: MIN_KEY as CK_ULONG,
    ulMaxKeySize: MAX_KEY as CK_ULONG,
    flags: CKF_SIGN | CKF_VERIFY,
};

/// Registers the HMAC mechanisms and generic secret generation.
pub fn register(r: &mut Registry, _provider: &dyn Provider) {
    r.insert(
        CKM_GENERIC_SECRET_KEY_GEN,
        Entry {
            generate_key: Some((CKK_GENERIC_SECRET, generate)),
            ..Entry::new((MIN_KEY * 8) as CK_ULONG, (MAX_KEY * 8) as CK_ULONG, CKF_GENERATE)
        },
    );
    for (ty, general, _, key_types) in HMACS {
        for m in [ty, general] {
            r.insert(
                m,
                Entry { info: HMAC_INFO, key_types, sign: Some(sign), verify: Some(verify), ..Entry::new(0, 0, 0) },
            );
        }
    }
}

/// `CKM_GENERIC_SECRET_KEY_GEN`: "the CKA_VALUE_LEN attribute specifies the length
/// of the key to be generated" (required by the rule table), 1 to 512 bytes.
fn generate(provider: &dyn Provider, mech: &Mechanism, attrs: &Attrs) -> Result<Zeroizing<Vec<u8>>> {
    mech.no_parameter()?;
    let len = attrs.ulong(CKA_VALUE_LEN).ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required"))?;
    if !(MIN_KEY as u64..=MAX_KEY as u64).contains(&len) {
        return Err(err(
            CKR_ATTRIBUTE_VALUE_INVALID,
            format!("CKA_VALUE_LEN {len}: a generic secret is {MIN_KEY} to {MAX_KEY} bytes"),
        ));
    }
    let mut value = Zeroizing::new(vec![0u8; len as usize]);
    provider.fill_random(&mut value);
    Ok(value)
}

/// The hash and MAC length of an HMAC mechanism.
fn params(mech: &Mechanism) -> Result<(HashAlg, usize)> {
    let (ty, general, alg, _) = HMACS
        .iter()
        .find(|(t, g, _, _)| *t == mech.ty || *g == mech.ty)
        .ok_or_else(|| err(CKR_MECHANISM_INVALID, format!("{} is not an HMAC", Mech(mech.ty))))?;
    let full = alg.output_len();
    if mech.ty == *ty {
        mech.no_parameter()?;
        return Ok((*alg, full));
    }
    debug_assert_eq!(mech.ty, *general);
    match mech.param {
        Param::Ulong(n) if (1..=full as u64).contains(&n) => Ok((*alg, n as usize)),
        _ => Err(mech.bad_param("the MAC length (CK_MAC_GENERAL_PARAMS) is 1 to the hash length")),
    }
}

fn start(provider: &dyn Provider, mech: &Mechanism, obj: &Object) -> Result<(Box<dyn Mac>, usize)> {
    let (alg, len) = params(mech)?;
    let value = obj.attrs.get(CKA_VALUE).ok_or_else(|| err(CKR_KEY_HANDLE_INVALID, "the key has no value"))?;
    check_key_size(&HMAC_INFO, value.len())?;
    Ok((provider.hmac_start(alg, value), len))
}

/// `C_SignInit`.
fn sign(provider: &dyn Provider, mech: &Mechanism, obj: &Object) -> Result<Box<dyn SignOp>> {
    let (mac, len) = start(provider, mech, obj)?;
    Ok(Box::new(MacSign::new(mac, len)))
}

/// `C_VerifyInit`.
fn verify(provider: &dyn Provider, mech: &Mechanism, obj: &Object) -> Result<Box<dyn VerifyOp>> {
    let (mac, len) = start(provider, mech, obj)?;
    Ok(Box::new(MacVerify::new(mac, len)))
}

fn finished() -> crate::error::Error {
    err(CKR_OPERATION_NOT_INITIALIZED, "the MAC is already computed")
}

/// Signing with a MAC (HMAC, CMAC): the leading `len` bytes of the full MAC.
pub(crate) struct MacSign {
    mac: Option<Box<dyn Mac>>,
    len: usize,
}

impl MacSign {
    /// A MAC of `len` bytes.
    pub(crate) fn new(mac: Box<dyn Mac>, len: usize) -> Self {
        Self { mac: Some(mac), len }
    }
}

impl SignOp for MacSign {
    fn sign_len(&self) -> usize {
        self.len
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.mac.as_mut().ok_or_else(finished)?.update(data)
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        let mut full = self.mac.take().ok_or_else(finished)?.finish()?;
        full.truncate(self.len);
        Ok(full)
    }
}

/// Verifying a MAC: recomputed and compared in constant time.
pub(crate) struct MacVerify(MacSign);

impl MacVerify {
    /// A MAC of `len` bytes.
    pub(crate) fn new(mac: Box<dyn Mac>, len: usize) -> Self {
        Self(MacSign::new(mac, len))
    }
}

impl VerifyOp for MacVerify {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.0.update(data)
    }

    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        if signature.len() != self.0.len {
            return Err(err(CKR_SIGNATURE_LEN_RANGE, format!("the MAC is {} bytes", self.0.len)));
        }
        let want = self.0.finish()?;
        if !ct_eq(&want, signature) {
            return Err(err(CKR_SIGNATURE_INVALID, "the MAC does not match"));
        }
        Ok(())
    }
}
