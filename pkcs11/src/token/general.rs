//! General-purpose functions (PKCS#11 §5.4): `C_GetInfo`.

use cryptoki_sys::*;

/// Pads `s` with blanks to a fixed-size PKCS#11 string field (truncating if longer).
pub fn padded<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut out = [b' '; N];
    let n = s.len().min(N);
    out[..n].copy_from_slice(&s[..n]);
    out
}

/// This crate's version as a `CK_VERSION`.
pub fn version() -> CK_VERSION {
    CK_VERSION {
        major: env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0),
        minor: env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0),
    }
}

/// `C_GetInfo`.
pub fn get_info() -> CK_INFO {
    CK_INFO {
        cryptokiVersion: CK_VERSION { major: 3, minor: 0 },
        manufacturerID: padded(b"ferrohsm"),
        flags: 0,
        libraryDescription: padded(b"ferrohsm software HSM"),
        libraryVersion: version(),
    }
}
