//! UTC calendar time without a time-zone library.

pub use ferrohsm_store::time::civil;

/// `YYYYMMDDhhmmssZ` (`CKA_FERRO_CREATED`).
pub fn stamp(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z")
}

/// `YYYYMMDDhhmmss00` (`CK_TOKEN_INFO.utcTime`).
pub fn token_time(secs: u64) -> [u8; 16] {
    let (y, mo, d, h, mi, s) = civil(secs);
    let mut out = [0u8; 16];
    out.copy_from_slice(format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}00").as_bytes());
    out
}

/// Now, seconds since the Unix epoch.
pub fn now() -> u64 {
    ferrohsm_store::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(stamp(0), "19700101000000Z");
        assert_eq!(stamp(951_782_400), "20000229000000Z"); // leap day
        assert_eq!(stamp(1_795_309_323), "20261122010203Z");
        assert_eq!(&token_time(4_102_444_799), b"2099123123595900");
    }
}
