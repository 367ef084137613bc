//! UTC calendar time without a time-zone library.

/// Civil date and time: (year, month 1-12, day 1-31, hour, minute, second).
pub fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days_from_civil inverse (proleptic Gregorian, UTC).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, (rem / 3600) as u32, (rem / 60 % 60) as u32, (rem % 60) as u32)
}

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
