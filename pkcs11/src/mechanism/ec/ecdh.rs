//! `CKM_ECDH1_DERIVE` and `CKM_ECDH1_COFACTOR_DERIVE` (PKCS#11 v3.0 §2.3.15,
//! §2.3.16), with the key derivation functions `CKD_NULL` and `CKD_SHA*_KDF`.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::ECDH_INFO;
use super::params::{curve_of, decode_point};
use crate::crypto::{HashAlg, Provider};
use crate::error::{Result, err};
use crate::mechanism::{Mechanism, Param, check_key_size};
use crate::object::{Object, Shape};

/// The longest value the X9.63 KDF is asked for here (`CKA_VALUE_LEN`); longer is
/// `CKR_TEMPLATE_INCONSISTENT`. X9.63 itself allows `hashlen · (2^32 - 1)` bytes,
/// which no key needs.
pub const MAX_KDF_LEN: usize = 1 << 16;

/// The hash of a `CKD_*` KDF; `None` for `CKD_NULL`.
fn kdf_hash(mech: &Mechanism, kdf: CK_ULONG) -> Result<Option<HashAlg>> {
    Ok(Some(match kdf {
        CKD_NULL => return Ok(None),
        CKD_SHA1_KDF => HashAlg::Sha1,
        CKD_SHA224_KDF => HashAlg::Sha224,
        CKD_SHA256_KDF => HashAlg::Sha256,
        CKD_SHA384_KDF => HashAlg::Sha384,
        CKD_SHA512_KDF => HashAlg::Sha512,
        other => return Err(mech.bad_param(&format!("KDF {other:#x} is not supported"))),
    }))
}

/// The ANSI X9.63 KDF (SEC 1 §3.6.1): `Hash(Z || counter || SharedInfo)` for a
/// 32-bit big-endian counter from 1, concatenated and cut to `len` bytes.
pub fn x963(provider: &dyn Provider, hash: HashAlg, z: &[u8], shared: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + hash.output_len()));
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut h = provider.hasher(hash);
        h.update(z);
        h.update(&counter.to_be_bytes());
        h.update(shared);
        out.extend_from_slice(&Zeroizing::new(h.finish()));
        counter += 1;
    }
    out.truncate(len);
    out
}

/// `C_DeriveKey` with ECDH: the shared secret Z (the x-coordinate of `d·Q`, SEC 1
/// §3.3.1) through the KDF.
///
/// - The other party's public value is the raw uncompressed point or its DER OCTET
///   STRING; one that is neither, or not on the curve, is
///   `CKR_MECHANISM_PARAM_INVALID`.
/// - The cofactor variant gives the same result: the NIST prime curves have
///   cofactor 1.
/// - The length is `CKA_VALUE_LEN` when the template has it, else Z's length (the
///   field size: 32, 48 or 66 bytes), whatever the KDF. With `CKD_NULL` a shorter
///   length takes Z's leading bytes (as OpenSSL and kryoptic do) and a longer one is
///   `CKR_TEMPLATE_INCONSISTENT`.
/// - `CKD_NULL` takes no shared data (§2.3.15): `CKR_MECHANISM_PARAM_INVALID`.
pub fn derive(
    provider: &dyn Provider,
    mech: &Mechanism,
    base: &Object,
    len: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
    let Param::Ecdh { kdf, shared_data, public_data } = &mech.param else {
        return Err(mech.bad_param("needs CK_ECDH1_DERIVE_PARAMS"));
    };
    let hash = kdf_hash(mech, *kdf)?;
    if hash.is_none() && !shared_data.is_empty() {
        return Err(mech.bad_param("CKD_NULL takes no shared data"));
    }
    if base.shape() != Some(Shape::Private(CKK_EC)) {
        return Err(err(CKR_KEY_TYPE_INCONSISTENT, "ECDH derives from an EC private key"));
    }
    let curve = curve_of(&base.attrs)?;
    check_key_size(&ECDH_INFO, curve.bits())?;
    let peer = decode_point(curve, public_data)
        .ok_or_else(|| mech.bad_param("the public value is not an uncompressed point of the key's curve"))?;
    let d = base.attrs.get(CKA_VALUE).ok_or_else(|| err(CKR_GENERAL_ERROR, "the key has no CKA_VALUE"))?;
    let z = provider.ecdh(curve, d, peer)?;
    let len = len.unwrap_or(z.len());
    if len == 0 {
        return Err(err(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE_LEN is 0"));
    }
    match hash {
        None if len > z.len() => Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            format!("CKD_NULL gives at most {} bytes on this curve; CKA_VALUE_LEN asks for {len}", z.len()),
        )),
        None => Ok(Zeroizing::new(z[..len].to_vec())),
        Some(_) if len > MAX_KDF_LEN => {
            Err(err(CKR_TEMPLATE_INCONSISTENT, format!("CKA_VALUE_LEN {len} is more than {MAX_KDF_LEN}")))
        }
        Some(h) => Ok(x963(provider, h, &z, shared_data, len)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ANSI X9.63 KDF test vector with SHA-256 from NIST's CAVS 12.0
    /// (`ansx963_2001.rsp`, first [SHA-256] case: a 24-byte shared secret, no
    /// SharedInfo, 128-bit key).
    #[test]
    fn x963_matches_the_cavs_vector() {
        let hex = |s: &str| {
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect::<Vec<_>>()
        };
        let z = hex("96c05619d56c328ab95fe84b18264b08725b85e33fd34f08");
        let want = hex("443024c3dae66b95e6f5670601558f71");
        for name in crate::crypto::available() {
            let p = crate::crypto::select(Some(name)).unwrap();
            assert_eq!(x963(p.as_ref(), HashAlg::Sha256, &z, &[], 16).as_slice(), want.as_slice(), "{name}");
        }
    }
}
