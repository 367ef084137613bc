//! PKCS#11 numbers in the claims, as the names the JSON claims use.
//!
//! The certificate form carries `CKO_*`, `CKK_*` and `CKM_*` values as integers; the
//! evidence form carries names (docs/attestation.md, "The JSON claims"). The summary
//! shows names for both.

use cryptoki::mechanism::MechanismType;

/// `key.class` as the JSON names it: `"private"`, `"public"`, `"secret"`.
pub fn class_name(v: u64) -> String {
    match v {
        2 => "public".into(),
        3 => "private".into(),
        4 => "secret".into(),
        other => format!("{other:#x}"),
    }
}

/// `key.type` as the JSON names it: the `CKK_` name without its prefix.
pub fn key_type_name(v: u64) -> String {
    let name = match v {
        0x00 => "RSA",
        0x01 => "DSA",
        0x02 => "DH",
        0x03 => "EC",
        0x04 => "X9_42_DH",
        0x10 => "GENERIC_SECRET",
        0x13 => "DES",
        0x14 => "DES2",
        0x15 => "DES3",
        0x1f => "AES",
        0x27 => "CHACHA20",
        0x28 => "SHA_1_HMAC",
        0x2b => "SHA256_HMAC",
        0x2c => "SHA384_HMAC",
        0x2d => "SHA512_HMAC",
        0x2e => "SHA224_HMAC",
        0x40 => "EC_EDWARDS",
        0x41 => "EC_MONTGOMERY",
        0x42 => "HKDF",
        other => return format!("{other:#x}"),
    };
    name.into()
}

/// ferrohsm's vendor mechanisms (DESIGN.md).
const FERRO_MECHANISMS: &[(u64, &str)] = &[
    (0xC648_0001, "CKM_FERRO_KEY_ATTEST_CERT"),
    (0xC648_0002, "CKM_FERRO_KEY_ATTEST_EVIDENCE"),
    (0xC648_0003, "CKM_FERRO_PARTITION_ATTEST"),
    (0xC648_0004, "CKM_FERRO_DEVICE_ATTEST"),
    (0xC648_0005, "CKM_FERRO_LOG_ATTEST"),
    (0xC648_0006, "CKM_FERRO_TIMESTAMP"),
];

/// A mechanism's `CKM_` name, or `0x…` for a value without one.
pub fn mechanism_name(v: u64) -> String {
    if let Some((_, n)) = FERRO_MECHANISMS.iter().find(|(m, _)| *m == v) {
        return (*n).into();
    }
    match MechanismType::try_from(v) {
        Ok(m) => {
            let s = m.to_string();
            if s.starts_with("CKM_") { s } else { format!("{v:#x}") }
        }
        Err(_) => format!("{v:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(class_name(3), "private");
        assert_eq!(key_type_name(0x40), "EC_EDWARDS");
        assert_eq!(key_type_name(0x99), "0x99");
        assert_eq!(mechanism_name(0x1044), "CKM_ECDSA_SHA256");
        assert_eq!(mechanism_name(0xC648_0001), "CKM_FERRO_KEY_ATTEST_CERT");
        assert_eq!(mechanism_name(0x8000_1234), "0x80001234");
    }
}
