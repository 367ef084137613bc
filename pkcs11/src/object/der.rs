//! Just enough DER to read the fields PKCS#11 copies out of an X.509 certificate
//! (subject, issuer, serial number, subject public key info). Never panics on bad
//! input: anything malformed is `None`.

/// One TLV: its full encoding and its contents.
struct Tlv<'a> {
    tag: u8,
    whole: &'a [u8],
    body: &'a [u8],
}

fn read(b: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *b.first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers do not occur in the fields we read
    }
    let first = *b.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    let whole = b.get(..end)?;
    Some((Tlv { tag, whole, body: &whole[hdr..] }, &b[end..]))
}

/// Fields of a certificate, each as its complete DER encoding.
#[derive(Debug, PartialEq, Eq)]
pub struct CertFields<'a> {
    /// `serialNumber` (the INTEGER).
    pub serial: &'a [u8],
    /// `issuer` (the Name).
    pub issuer: &'a [u8],
    /// `subject` (the Name).
    pub subject: &'a [u8],
    /// `subjectPublicKeyInfo`.
    pub spki: &'a [u8],
}

/// Reads the fields of an X.509 certificate (RFC 5280 §4.1).
pub fn cert_fields(der: &[u8]) -> Option<CertFields<'_>> {
    let (cert, rest) = read(der)?;
    if cert.tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (tbs, _) = read(cert.body)?;
    if tbs.tag != 0x30 {
        return None;
    }
    let mut b = tbs.body;
    let (mut t, mut r) = read(b)?;
    if t.tag == 0xa0 {
        // [0] EXPLICIT version
        b = r;
        (t, r) = read(b)?;
    }
    if t.tag != 0x02 {
        return None;
    }
    let serial = t.whole;
    let (sig, r) = read(r)?;
    let (issuer, r) = read(r)?;
    let (validity, r) = read(r)?;
    let (subject, r) = read(r)?;
    let (spki, _) = read(r)?;
    if [sig.tag, issuer.tag, validity.tag, subject.tag, spki.tag] != [0x30; 5] {
        return None;
    }
    Some(CertFields { serial, issuer: issuer.whole, subject: subject.whole, spki: spki.whole })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_none_not_a_panic() {
        for bad in [&b""[..], b"\x30", b"\x30\x84\xff\xff\xff\xff", b"\x30\x03\x02\x01", b"\x1f\x00"] {
            assert!(cert_fields(bad).is_none());
        }
    }
}
