//! The provider operations for elliptic curves: key generation, public keys from
//! private ones, point checks, ECDSA, ECDH and Ed25519.
//!
//! Everything here works on raw values, never on PKCS#11 attributes or DER:
//!
//! - a NIST private key is the scalar `d`, big-endian, exactly [`Curve::field_len`]
//!   bytes; an Ed25519 private key is the 32-byte seed of RFC 8032 §5.1.5;
//! - a NIST public key is the SEC 1 §2.3.3 uncompressed point `04 || X || Y`; an
//!   Ed25519 public key is the 32-byte encoding of RFC 8032 §5.1.2;
//! - an ECDSA signature is PKCS#11's `r || s`, each [`Curve::field_len`] bytes.
//!
//! The mechanism layer ([`crate::mechanism::ec`]) turns attributes into these values
//! and back.

use zeroize::Zeroizing;

use crate::error::Result;

/// The curves this module knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (secp256r1, prime256v1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
    /// Ed25519 (RFC 8032), the twisted Edwards form of Curve25519.
    Ed25519,
}

impl Curve {
    /// Bytes of a field element, of a scalar and of each half of an ECDSA signature.
    pub const fn field_len(self) -> usize {
        match self {
            Curve::P256 | Curve::Ed25519 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// The key size in bits as `CK_MECHANISM_INFO` counts it: the order's bit length
    /// for the NIST curves, and 256 for Ed25519 (as kryoptic and SoftHSM report it).
    pub const fn bits(self) -> usize {
        match self {
            Curve::P256 | Curve::Ed25519 => 256,
            Curve::P384 => 384,
            Curve::P521 => 521,
        }
    }

    /// Bytes of an encoded public key: the uncompressed point, or the Ed25519 key.
    pub const fn public_len(self) -> usize {
        match self {
            Curve::Ed25519 => 32,
            _ => 1 + 2 * self.field_len(),
        }
    }

    /// Whether this is an Edwards curve (`CKK_EC_EDWARDS`) rather than a
    /// short-Weierstrass one (`CKK_EC`).
    pub const fn is_edwards(self) -> bool {
        matches!(self, Curve::Ed25519)
    }

    /// The longest hash raw ECDSA takes on this curve (see [`EcSigningKey::sign`]).
    /// P-521's is 64 bytes, not 66: aws-lc-rs signs digests of at most SHA-512's length.
    pub const fn max_digest_len(self) -> usize {
        match self {
            Curve::P521 => 64,
            _ => self.field_len(),
        }
    }
}

/// A private key parsed for signing; the mechanism layer caches it on the key's
/// object, so parsing happens once per key, not once per signature.
pub trait EcSigningKey: Send + Sync {
    /// Signs.
    ///
    /// - ECDSA: `input` is the hash already reduced by bits2int (SEC 1 §4.1.3 step 5):
    ///   exactly [`Curve::field_len`] bytes, and on P-521 its first two bytes are
    ///   zero. Returns `r || s`.
    /// - Ed25519: `input` is the message (pure Ed25519, RFC 8032 §5.1.6). Returns the
    ///   64-byte signature.
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>>;

    /// Ed25519ph (RFC 8032 §5.1) of `message` (the provider computes its SHA-512),
    /// with `context` (at most 255 bytes). Providers that cannot do it return
    /// `CKR_MECHANISM_PARAM_INVALID`.
    fn sign_ed25519ph(&self, message: &[u8], context: &[u8]) -> Result<Vec<u8>>;
}

/// A public key parsed for verification, cached like [`EcSigningKey`].
pub trait EcVerifyingKey: Send + Sync {
    /// Verifies `signature` (already of the right length) over `input`, which has the
    /// form [`EcSigningKey::sign`] takes. A bad signature is `CKR_SIGNATURE_INVALID`.
    fn verify(&self, input: &[u8], signature: &[u8]) -> Result<()>;

    /// Verifies an Ed25519ph signature (see [`EcSigningKey::sign_ed25519ph`]).
    fn verify_ed25519ph(&self, message: &[u8], context: &[u8], signature: &[u8]) -> Result<()>;
}

/// Elliptic curves, as each provider implements them. Errors carry the `CK_RV` the
/// caller should see: `CKR_ATTRIBUTE_VALUE_INVALID` for a bad key value,
/// `CKR_SIGNATURE_INVALID` for a bad signature, `CKR_FUNCTION_FAILED` when the library
/// fails.
pub trait EcOps {
    /// Generates a key pair: (private key, public key).
    fn ec_generate(&self, curve: Curve) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>)>;

    /// The public key of a private key. A scalar outside `[1, n-1]` is
    /// `CKR_ATTRIBUTE_VALUE_INVALID`.
    fn ec_public_key(&self, curve: Curve, private: &[u8]) -> Result<Vec<u8>>;

    /// Checks that `public` is a public key on `curve`: for the NIST curves an
    /// uncompressed point on the curve, not the identity (SEC 1 §3.2.2.1); for Ed25519
    /// 32 bytes that decode to a point (RFC 8032 §5.1.3).
    fn ec_check_public(&self, curve: Curve, public: &[u8]) -> Result<()>;

    /// Parses a private key for signing.
    fn ec_signing_key(&self, curve: Curve, private: &[u8]) -> Result<Box<dyn EcSigningKey>>;

    /// Parses a public key for verification.
    fn ec_verifying_key(&self, curve: Curve, public: &[u8]) -> Result<Box<dyn EcVerifyingKey>>;

    /// Whether [`EcSigningKey::sign_ed25519ph`] and [`EcVerifyingKey::verify_ed25519ph`]
    /// work with this provider.
    fn ed25519ph_supported(&self) -> bool;

    /// ECDH (SEC 1 §3.3.1): the x-coordinate of `d·Q`, [`Curve::field_len`] bytes.
    /// `peer` is an uncompressed point; one not on the curve is
    /// `CKR_MECHANISM_PARAM_INVALID`. NIST curves only.
    fn ecdh(&self, curve: Curve, private: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

/// Whether 32 bytes are an Ed25519 public key, that is, decode to a point as RFC 8032
/// §5.1.3 says: `y` (the low 255 bits, little-endian) is below p = 2^255 - 19, the
/// curve equation `-x² + y² = 1 + d·x²·y²` has a solution `x² = (y² - 1) / (d·y² + 1)`,
/// and the sign bit is not set when that solution is `x = 0`.
///
/// Both providers use this one check: aws-lc-rs takes any 32 bytes as an Ed25519
/// key, and curve25519-dalek accepts a non-canonical `y`. Public values only, so the
/// arithmetic need not be constant-time.
pub fn ed25519_public_key_decodes(encoded: &[u8; 32]) -> bool {
    use fe25519::*;
    let sign = encoded[31] >> 7;
    let mut bytes = *encoded;
    bytes[31] &= 0x7f;
    let y = from_le_bytes(&bytes);
    if !less_than(&y, &P) {
        return false;
    }
    let yy = mul(&y, &y);
    let u = sub(&yy, &ONE);
    let v = add(&mul(&D, &yy), &ONE);
    // x² = u/v has a solution iff u·v is a square mod p, or u is zero (v never is: -1/d
    // is not a square). Euler's criterion: (u·v)^((p-1)/2) is 1 for a non-zero square.
    let chi = pow(&mul(&u, &v), &P_MINUS_1_HALF);
    if chi == ZERO {
        // x = 0: the sign bit must be clear.
        return sign == 0;
    }
    chi == ONE
}

/// Arithmetic modulo p = 2^255 - 19 on four 64-bit limbs, little-endian; every
/// function returns the canonical representative (below p).
mod fe25519 {
    pub type Fe = [u64; 4];

    pub const ZERO: Fe = [0; 4];
    pub const ONE: Fe = [1, 0, 0, 0];
    pub const P: Fe = [0xffff_ffff_ffff_ffed, u64::MAX, u64::MAX, 0x7fff_ffff_ffff_ffff];
    /// (p - 1) / 2 = 2^254 - 10.
    pub const P_MINUS_1_HALF: Fe = [0xffff_ffff_ffff_fff6, u64::MAX, u64::MAX, 0x3fff_ffff_ffff_ffff];
    /// d = -121665 / 121666 (RFC 8032 §5.1).
    pub const D: Fe = [0x75eb_4dca_1359_78a3, 0x0070_0a4d_4141_d8ab, 0x8cc7_4079_7779_e898, 0x5203_6cee_2b6f_fe73];

    pub fn from_le_bytes(b: &[u8; 32]) -> Fe {
        let mut f = ZERO;
        for (i, limb) in f.iter_mut().enumerate() {
            *limb = u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8 bytes"));
        }
        f
    }

    pub fn less_than(a: &Fe, b: &Fe) -> bool {
        a.iter().rev().cmp(b.iter().rev()) == std::cmp::Ordering::Less
    }

    /// `a - b` on 256 bits, with the borrow out.
    fn sub_raw(a: &Fe, b: &Fe) -> (Fe, bool) {
        let mut out = ZERO;
        let mut borrow = false;
        for i in 0..4 {
            let (d1, b1) = a[i].overflowing_sub(b[i]);
            let (d2, b2) = d1.overflowing_sub(borrow as u64);
            out[i] = d2;
            borrow = b1 || b2;
        }
        (out, borrow)
    }

    /// Reduces a value below 2^256 to below p (2^256 = 2p + 38, so at most twice).
    fn canonical(mut a: Fe) -> Fe {
        while !less_than(&a, &P) {
            a = sub_raw(&a, &P).0;
        }
        a
    }

    /// Folds `lo + 2^256·hi` (hi small) with 2^256 ≡ 38.
    fn fold(mut lo: Fe, mut hi: u128) -> Fe {
        while hi != 0 {
            let mut carry = hi * 38;
            for limb in lo.iter_mut() {
                let v = *limb as u128 + carry;
                *limb = v as u64;
                carry = v >> 64;
            }
            hi = carry;
        }
        canonical(lo)
    }

    pub fn add(a: &Fe, b: &Fe) -> Fe {
        let mut out = ZERO;
        let mut carry = 0u128;
        for i in 0..4 {
            let v = a[i] as u128 + b[i] as u128 + carry;
            out[i] = v as u64;
            carry = v >> 64;
        }
        fold(out, carry)
    }

    pub fn sub(a: &Fe, b: &Fe) -> Fe {
        let (d, borrow) = sub_raw(a, b);
        // Inputs are canonical, so one addition of p corrects a borrow.
        if borrow { sub_raw(&d, &sub_raw(&ZERO, &P).0).0 } else { d }
    }

    pub fn mul(a: &Fe, b: &Fe) -> Fe {
        let mut t = [0u64; 8];
        for i in 0..4 {
            let mut carry = 0u128;
            for j in 0..4 {
                let v = t[i + j] as u128 + a[i] as u128 * b[j] as u128 + carry;
                t[i + j] = v as u64;
                carry = v >> 64;
            }
            t[i + 4] = carry as u64;
        }
        // t = lo + 2^256·hi ≡ lo + 38·hi.
        let mut out = ZERO;
        let mut carry = 0u128;
        for i in 0..4 {
            let v = t[i] as u128 + 38 * t[i + 4] as u128 + carry;
            out[i] = v as u64;
            carry = v >> 64;
        }
        fold(out, carry)
    }

    pub fn pow(base: &Fe, exp: &Fe) -> Fe {
        let mut acc = ONE;
        for i in (0..256).rev() {
            acc = mul(&acc, &acc);
            if (exp[i / 64] >> (i % 64)) & 1 == 1 {
                acc = mul(&acc, base);
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(s: &str) -> [u8; 32] {
        let v: Vec<u8> = (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect();
        v.try_into().unwrap()
    }

    #[test]
    fn rfc8032_public_keys_decode() {
        // RFC 8032 §7.1, tests 1 to 3.
        for pk in [
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        ] {
            assert!(ed25519_public_key_decodes(&hex32(pk)), "{pk}");
        }
        // The base point's y = 4/5 and the identity (y = 1).
        assert!(ed25519_public_key_decodes(&hex32("5866666666666666666666666666666666666666666666666666666666666666")));
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(ed25519_public_key_decodes(&identity));
        // The identity with the sign bit: x = 0 cannot be "negative".
        identity[31] = 0x80;
        assert!(!ed25519_public_key_decodes(&identity));
    }

    #[test]
    fn non_points_and_non_canonical_y_do_not_decode() {
        // y = p (non-canonical zero) and y = 2^255 - 1.
        let p = hex32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
        assert!(!ed25519_public_key_decodes(&p));
        assert!(!ed25519_public_key_decodes(&[0xff; 32]));
        // About half of all y have no x; count over a range of small y.
        let decodes = (0u8..200)
            .filter(|&i| {
                let mut b = [0u8; 32];
                b[0] = i;
                ed25519_public_key_decodes(&b)
            })
            .count();
        assert!((60..140).contains(&decodes), "{decodes} of 200 small y decode");
    }

    #[test]
    fn field_arithmetic_agrees_with_small_numbers() {
        use fe25519::*;
        let a: Fe = [7, 0, 0, 0];
        let b: Fe = [5, 0, 0, 0];
        assert_eq!(mul(&a, &b), [35, 0, 0, 0]);
        assert_eq!(sub(&b, &a), [0xffff_ffff_ffff_ffeb, u64::MAX, u64::MAX, 0x7fff_ffff_ffff_ffff]);
        assert_eq!(add(&sub(&b, &a), &a), b);
        // Fermat: a^(p-1) = 1.
        let p_minus_1 = sub(&ZERO, &ONE);
        assert_eq!(pow(&a, &p_minus_1), ONE);
    }
}
