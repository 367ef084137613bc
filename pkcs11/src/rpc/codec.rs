//! The wire format of p11-kit's RPC protocol (version 0, as p11-kit 0.24 speaks it):
//! the primitive values, attribute values, attribute templates and mechanisms, read
//! from a request and written to a response.
//!
//! Integers are big-endian. The primitives, by their letter in p11-kit's call
//! signatures:
//!
//! | letter | what | encoding |
//! |---|---|---|
//! | `y` | `CK_BYTE` | 1 byte |
//! | `u` | `CK_ULONG` | `u64` |
//! | `v` | `CK_VERSION` | major, minor: 2 bytes |
//! | `s` | blank-padded string | byte array (`u32` length, bytes) |
//! | `z` | NUL-terminated string | byte array, without the NUL |
//! | `ay` | byte array in | `u8` 1 + byte array; or `u8` 0 + `u32` length (a null pointer) |
//! | `fy` | output buffer | `u32` capacity; 0 is a length query |
//! | `au` | list out | `u8` 1 + `u32` count + `u64` each; or `u8` 0 + `u32` count (a length) |
//! | `fu` | list buffer | `u32` capacity; 0 is a length query |
//! | `aA` | template | `u32` count + attributes (below) |
//! | `fA` | attribute query | `u32` count + (`u32` type, `u32` capacity) each |
//! | `M` | mechanism | `u32` type + its parameter (below) |
//!
//! A byte array's length `0xffffffff` stands for a null pointer.
//!
//! An attribute is `u32` type, `u8` validity (0: `CK_UNAVAILABLE_INFORMATION`, and
//! nothing follows), `u32` length of the C value, then the value in the encoding of
//! its *wire type* ([`wire_type`], p11-kit 0.24.1's own table): a byte, a `u64`, a
//! nested attribute array, a `u64` list of mechanisms, a date (byte array of 0 or 8)
//! or a plain byte array (every other attribute, vendor ones included: the C
//! value's bytes as the client had them, so a `CK_ULONG` arrives in the client's
//! byte order: this host's).
//!
//! Everything here reads from a bounded buffer and fails with
//! [`Malformed`] rather than trusting a count: no count makes us allocate more than
//! the bytes that are really there.

use cryptoki_sys::*;

use crate::error::{Attr, Error, Result, err};
use crate::mechanism::{Mechanism, Param};
use crate::object::attr::{Kind, Template, kind};

/// Why a request could not be read: p11-kit answers such requests with
/// `CKR_DEVICE_ERROR`, and so do we.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl From<Malformed> for Error {
    fn from(m: Malformed) -> Self {
        err(CKR_DEVICE_ERROR, format!("malformed request: {}", m.0))
    }
}

/// How deep attribute templates may nest inside a request (as the FFI layer).
pub const MAX_DEPTH: usize = 4;

/// The bytes of a `CK_ULONG` in C (this host's width).
const UL: usize = size_of::<CK_ULONG>();

/// Reads values from a request body.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails unless every byte was read (a request longer than its signature says
    /// is one we do not understand).
    pub fn finish(&self) -> Result<(), Malformed> {
        if self.remaining() == 0 { Ok(()) } else { Err(Malformed("trailing bytes")) }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.remaining() {
            return Err(Malformed("truncated"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// `y`.
    pub fn byte(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    /// A `u32`.
    pub fn u32(&mut self) -> Result<u32, Malformed> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// `u`.
    pub fn u64(&mut self) -> Result<u64, Malformed> {
        let hi = self.u32()? as u64;
        let lo = self.u32()? as u64;
        Ok(hi << 32 | lo)
    }

    /// `u` as a `CK_ULONG` (a value wider than this host's `CK_ULONG` is malformed).
    pub fn ulong(&mut self) -> Result<CK_ULONG, Malformed> {
        CK_ULONG::try_from(self.u64()?).map_err(|_| Malformed("CK_ULONG out of range"))
    }

    /// A byte array: `None` for a null pointer.
    pub fn array(&mut self) -> Result<Option<&'a [u8]>, Malformed> {
        match self.u32()? {
            0xffff_ffff => Ok(None),
            n if n >= 0x7fff_ffff => Err(Malformed("byte array too long")),
            n => self.take(n as usize).map(Some),
        }
    }

    /// `ay`: the bytes, or `None` for a null pointer (of the length that follows,
    /// which a null input has no use for).
    pub fn bytes_in(&mut self) -> Result<Option<&'a [u8]>, Malformed> {
        if self.byte()? == 0 {
            self.u32()?;
            return Ok(None);
        }
        self.array()
    }

    /// `fy` or `fu`: the caller's capacity; `None` for a length query (0: p11-kit
    /// 0.24 sends 0 for a null buffer).
    pub fn capacity(&mut self) -> Result<Option<usize>, Malformed> {
        Ok(match self.u32()? {
            0 => None,
            n => Some(n as usize),
        })
    }

    /// `z`: a string without its NUL.
    pub fn string(&mut self) -> Result<&'a [u8], Malformed> {
        self.array()?.ok_or(Malformed("null string"))
    }

    /// A count of items that each take at least `min` bytes, checked against what
    /// is left (so that no count makes us reserve memory that is not there).
    fn count(&mut self, min: usize) -> Result<usize, Malformed> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min) > self.remaining() {
            return Err(Malformed("count larger than the message"));
        }
        Ok(n)
    }

    /// `fA`: the types asked for and each one's capacity (`None`: a length query).
    pub fn attribute_query(&mut self) -> Result<Vec<(CK_ATTRIBUTE_TYPE, Option<usize>)>, Malformed> {
        let n = self.count(8)?;
        (0..n)
            .map(|_| {
                let ty = self.u32()? as CK_ATTRIBUTE_TYPE;
                Ok((ty, self.capacity()?))
            })
            .collect()
    }

    /// `aA`: a template, its values in the module's canonical form.
    pub fn template(&mut self) -> Result<Template> {
        self.template_at(0)
    }

    fn template_at(&mut self, depth: usize) -> Result<Template> {
        // type, validity, length: 9 bytes at least (a value takes one more).
        let n = self.count(9)?;
        let mut out = Template(Vec::with_capacity(n));
        for _ in 0..n {
            let ty = self.u32()? as CK_ATTRIBUTE_TYPE;
            if self.byte()? == 0 {
                // A value of CK_UNAVAILABLE_INFORMATION in a template: what the C
                // layer says of a null pointer with an impossible length.
                return Err(err(CKR_ARGUMENTS_BAD, format!("{} has no value", Attr(ty))));
            }
            let _c_len = self.u32()?;
            let c = self.c_value(ty, depth)?;
            out.0.push((ty, c));
        }
        Ok(out)
    }

    /// One attribute value: read in its wire type, returned in canonical form.
    fn c_value(&mut self, ty: CK_ATTRIBUTE_TYPE, depth: usize) -> Result<Vec<u8>> {
        let bad = |what: &str| err(CKR_ATTRIBUTE_VALUE_INVALID, format!("{} {what}", Attr(ty)));
        // First the C form (what the client's CK_ATTRIBUTE held), as the FFI layer
        // reads it from memory; then the same conversion to canonical form.
        let c: Vec<u8> = match wire_type(ty) {
            Wire::Byte => vec![self.byte()?],
            Wire::Ulong => self.ulong()?.to_ne_bytes().to_vec(),
            Wire::Date => {
                let d = self.array()?.unwrap_or(&[]);
                if !d.is_empty() && d.len() != 8 {
                    return Err(Malformed("a date is 0 or 8 bytes").into());
                }
                d.to_vec()
            }
            Wire::MechArray => {
                let n = self.count(8)?;
                let mut v = Vec::with_capacity(n * UL);
                for _ in 0..n {
                    v.extend_from_slice(&self.ulong()?.to_ne_bytes());
                }
                v
            }
            Wire::AttrArray => {
                if depth >= MAX_DEPTH {
                    return Err(bad("nests templates too deeply"));
                }
                let inner = self.template_at(depth + 1)?;
                if kind(ty) != Kind::Template {
                    return Err(bad("is not a template"));
                }
                return Ok(inner.encode());
            }
            Wire::Bytes => self.array()?.unwrap_or(&[]).to_vec(),
        };
        match kind(ty) {
            Kind::Ulong | Kind::MechList => {
                if (kind(ty) == Kind::Ulong && c.len() != UL) || !c.len().is_multiple_of(UL) {
                    return Err(bad("must be a CK_ULONG (or an array of them)"));
                }
                Ok(c.chunks_exact(UL).flat_map(|b| (ne_ulong(b) as u64).to_le_bytes()).collect())
            }
            // A template that p11-kit 0.24 sends as a plain byte array
            // (CKA_DERIVE_TEMPLATE): the bytes are the client's CK_ATTRIBUTE structs,
            // pointers into its memory, and mean nothing here.
            Kind::Template => Err(bad("cannot cross p11-kit's protocol")),
            Kind::Bool | Kind::Bytes | Kind::Date => Ok(c),
        }
    }

    /// `M`: a mechanism and its parameter, decoded into the module's form.
    ///
    /// p11-kit 0.24 sends parameters of two mechanisms field by field
    /// (`CKM_RSA_PKCS_PSS`: hash, MGF, salt length as `u64`; `CKM_RSA_PKCS_OAEP`:
    /// hash, MGF, source as `u64`, then the source data as a byte array), and for
    /// every other mechanism a byte array: null for the mechanisms it knows take no
    /// parameter (it drops whatever the caller passed), else the parameter's bytes.
    pub fn mechanism(&mut self) -> Result<Mechanism> {
        let ty = self.u32()? as CK_MECHANISM_TYPE;
        let bad = |why: &str| err(CKR_MECHANISM_PARAM_INVALID, format!("{}: {why}", crate::error::Mech(ty)));
        let param = match ty {
            CKM_RSA_PKCS_PSS => Param::Pss { hash: self.ulong()?, mgf: self.ulong()?, salt_len: self.u64()? },
            CKM_RSA_PKCS_OAEP => {
                let (hash, mgf, source) = (self.ulong()?, self.ulong()?, self.u64()?);
                let data = self.array()?.unwrap_or(&[]);
                let label = match source {
                    0 if data.is_empty() => Vec::new(),
                    s if s == CKZ_DATA_SPECIFIED as u64 => data.to_vec(),
                    _ => return Err(bad("OAEP source must be CKZ_DATA_SPECIFIED")),
                };
                Param::Oaep { hash, mgf, label }
            }
            _ => match self.array()? {
                None => Param::None,
                Some(raw) => raw_parameter(ty, raw)?,
            },
        };
        Ok(Mechanism { ty, param })
    }
}

/// A `CK_ULONG` in this host's byte order.
fn ne_ulong(b: &[u8]) -> CK_ULONG {
    let mut a = [0u8; UL];
    a.copy_from_slice(b);
    CK_ULONG::from_ne_bytes(a)
}

/// A parameter that arrived as the raw bytes of the caller's C value. Plain byte
/// strings (IVs) and structures without pointers decode; a structure with pointers
/// (GCM, ECDH, EdDSA) holds addresses in the client's memory and cannot.
fn raw_parameter(ty: CK_MECHANISM_TYPE, raw: &[u8]) -> Result<Param> {
    let bad = |why: &str| err(CKR_MECHANISM_PARAM_INVALID, format!("{}: {why}", crate::error::Mech(ty)));
    let ulongs = |n: usize| -> Result<Vec<CK_ULONG>> {
        if raw.len() != n * UL {
            return Err(bad("parameter of the wrong size"));
        }
        Ok(raw.chunks_exact(UL).map(ne_ulong).collect())
    };
    Ok(match ty {
        CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS => {
            let v = ulongs(3)?;
            Param::Pss { hash: v[0], mgf: v[1], salt_len: v[2] as u64 }
        }
        CKM_AES_CMAC_GENERAL
        | CKM_SHA_1_HMAC_GENERAL
        | CKM_SHA224_HMAC_GENERAL
        | CKM_SHA256_HMAC_GENERAL
        | CKM_SHA384_HMAC_GENERAL
        | CKM_SHA512_HMAC_GENERAL => Param::Ulong(ulongs(1)?[0] as u64),
        CKM_AES_CTR => {
            if raw.len() != UL + 16 {
                return Err(bad("parameter of the wrong size"));
            }
            let mut block = [0u8; 16];
            block.copy_from_slice(&raw[UL..]);
            Param::Ctr { counter_bits: ne_ulong(&raw[..UL]) as u64, block }
        }
        CKM_AES_GCM | CKM_ECDH1_DERIVE | CKM_ECDH1_COFACTOR_DERIVE | CKM_EDDSA | CKM_RSA_PKCS_OAEP => {
            return Err(bad("this parameter holds pointers and cannot cross p11-kit's protocol"));
        }
        _ => Param::Bytes(raw.to_vec()),
    })
}

/// How p11-kit 0.24.1 encodes an attribute's value. Its table, which this must
/// match exactly (both sides pick the encoding from the type alone); checked against
/// the 0.24.1 client, see `docs/cli.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// `CK_BBOOL` and the like: one byte.
    Byte,
    /// `CK_ULONG`: a `u64`.
    Ulong,
    /// A nested template (`CKA_WRAP_TEMPLATE`, `CKA_UNWRAP_TEMPLATE`).
    AttrArray,
    /// `CKA_ALLOWED_MECHANISMS`: a `u32` count and a `u64` each.
    MechArray,
    /// `CK_DATE`: a byte array of 0 or 8 bytes.
    Date,
    /// Everything else: the C value's bytes.
    Bytes,
}

/// The wire type of attribute `ty` (p11-kit 0.24.1's `map_attribute_to_value_type`).
pub fn wire_type(ty: CK_ATTRIBUTE_TYPE) -> Wire {
    match ty {
        CKA_TOKEN
        | CKA_PRIVATE
        | CKA_TRUSTED
        | CKA_SENSITIVE
        | CKA_ENCRYPT
        | CKA_DECRYPT
        | CKA_WRAP
        | CKA_UNWRAP
        | CKA_SIGN
        | CKA_SIGN_RECOVER
        | CKA_VERIFY
        | CKA_VERIFY_RECOVER
        | CKA_DERIVE
        | CKA_EXTRACTABLE
        | CKA_LOCAL
        | CKA_NEVER_EXTRACTABLE
        | CKA_ALWAYS_SENSITIVE
        | CKA_MODIFIABLE
        | CKA_COPYABLE
        | CKA_SECONDARY_AUTH
        | CKA_ALWAYS_AUTHENTICATE
        | CKA_WRAP_WITH_TRUSTED
        | CKA_RESET_ON_INIT
        | CKA_HAS_RESET
        | CKA_COLOR => Wire::Byte,
        CKA_CLASS
        | CKA_CERTIFICATE_TYPE
        | CKA_CERTIFICATE_CATEGORY
        | CKA_JAVA_MIDP_SECURITY_DOMAIN
        | CKA_KEY_TYPE
        | CKA_MODULUS_BITS
        | CKA_PRIME_BITS
        | CKA_SUB_PRIME_BITS
        | CKA_VALUE_BITS
        | CKA_VALUE_LEN
        | CKA_KEY_GEN_MECHANISM
        | CKA_AUTH_PIN_FLAGS
        | CKA_HW_FEATURE_TYPE
        | CKA_PIXEL_X
        | CKA_PIXEL_Y
        | CKA_RESOLUTION
        | CKA_CHAR_ROWS
        | CKA_CHAR_COLUMNS
        | CKA_BITS_PER_PIXEL
        | CKA_MECHANISM_TYPE => Wire::Ulong,
        CKA_WRAP_TEMPLATE | CKA_UNWRAP_TEMPLATE => Wire::AttrArray,
        CKA_ALLOWED_MECHANISMS => Wire::MechArray,
        CKA_START_DATE | CKA_END_DATE => Wire::Date,
        _ => Wire::Bytes,
    }
}

/// Builds a response body. Responses may carry secrets (a decrypted plaintext),
/// so the buffer is wiped when dropped.
#[derive(Default)]
pub struct Writer {
    out: zeroize::Zeroizing<Vec<u8>>,
}

impl Writer {
    /// The bytes written.
    pub fn into_inner(self) -> zeroize::Zeroizing<Vec<u8>> {
        self.out
    }

    /// `y`.
    pub fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    /// A `u32`.
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// `u`.
    pub fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// A byte array (`None`: a null pointer). Lengths past `u32` cannot occur:
    /// nothing the module returns comes near 2 GiB.
    pub fn array(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.u32(0xffff_ffff),
            Some(b) => {
                self.u32(b.len() as u32);
                self.out.extend_from_slice(b);
            }
        }
    }

    /// `v`.
    pub fn version(&mut self, v: CK_VERSION) {
        self.byte(v.major);
        self.byte(v.minor);
    }

    /// `s`: a blank-padded string field.
    pub fn space_string(&mut self, s: &[u8]) {
        self.array(Some(s));
    }

    /// `ay` out, following p11-kit's server: the bytes; or, for a length (a query,
    /// or a buffer that was too small), `0` and the length (the client then answers
    /// its caller `CKR_BUFFER_TOO_SMALL` if it had passed a buffer). A length of 0
    /// is sent as an empty array, as p11-kit does.
    pub fn bytes_out(&mut self, data: Option<&[u8]>, len: usize) {
        match data {
            None if len != 0 => {
                self.byte(0);
                self.u32(len as u32);
            }
            _ => {
                self.byte(1);
                self.array(Some(data.unwrap_or(&[])));
            }
        }
    }

    /// `au` out: the items, or (`items` `None`) only their number.
    pub fn ulongs_out(&mut self, items: Option<&[CK_ULONG]>, count: usize) {
        self.byte(u8::from(items.is_some()));
        self.u32(count as u32);
        for v in items.unwrap_or(&[]) {
            self.u64(*v as u64);
        }
    }

    /// One attribute of a `C_GetAttributeValue` answer: `None` for
    /// `CK_UNAVAILABLE_INFORMATION`; `Some((c_len, value))` with the value in C form,
    /// or `None` as the value for a length query. Fails when the value does not fit
    /// the attribute's wire type (it cannot be sent).
    pub fn attribute(&mut self, ty: CK_ATTRIBUTE_TYPE, answer: Option<(usize, Option<&AttrValue>)>) -> bool {
        let mut tmp = Writer::default();
        let ok = tmp.attribute_inner(ty, answer);
        if ok {
            self.out.extend_from_slice(&tmp.out);
        }
        ok
    }

    fn attribute_inner(&mut self, ty: CK_ATTRIBUTE_TYPE, answer: Option<(usize, Option<&AttrValue>)>) -> bool {
        self.u32(ty as u32);
        let Some((c_len, value)) = answer else {
            self.byte(0);
            return true;
        };
        self.byte(1);
        self.u32(c_len as u32);
        let wire = wire_type(ty);
        match (wire, value) {
            // A length query: the encoding of a null value in each wire type, which
            // p11-kit's client reads as "no value" whatever the length says.
            (Wire::Byte, None) => self.byte(0),
            (Wire::Ulong, None) => self.u64(0),
            (Wire::AttrArray | Wire::MechArray, None) => self.u32(0),
            (Wire::Date | Wire::Bytes, None) => self.array(None),
            (Wire::Byte, Some(AttrValue::C(c))) if c.len() == 1 => self.byte(c[0]),
            (Wire::Ulong, Some(AttrValue::C(c))) if c.len() == UL => self.u64(ne_ulong(c) as u64),
            (Wire::MechArray, Some(AttrValue::C(c))) if c.len().is_multiple_of(UL) => {
                self.u32((c.len() / UL) as u32);
                for m in c.chunks_exact(UL) {
                    self.u64(ne_ulong(m) as u64);
                }
            }
            (Wire::Date, Some(AttrValue::C(c))) if c.is_empty() => self.array(None),
            (Wire::Date, Some(AttrValue::C(c))) if c.len() == 8 => self.array(Some(c)),
            (Wire::Bytes, Some(AttrValue::C(c))) => self.array(Some(c)),
            (Wire::AttrArray, Some(AttrValue::Template(t))) => {
                self.u32(t.0.len() as u32);
                for (ity, v) in &t.0 {
                    let c = AttrValue::from_canonical(*ity, v);
                    let len = c.c_len();
                    if !self.attribute_inner(*ity, Some((len, Some(&c)))) {
                        return false;
                    }
                }
            }
            _ => return false,
        }
        true
    }
}

/// An attribute value on its way out: C form, or a nested template.
pub enum AttrValue {
    /// The bytes the caller's `CK_ATTRIBUTE` would hold.
    C(zeroize::Zeroizing<Vec<u8>>),
    /// A nested template (canonical values).
    Template(Template),
}

impl AttrValue {
    /// Converts a canonical value to what goes out (the FFI layer's conversion).
    pub fn from_canonical(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Self {
        match kind(ty) {
            Kind::Template => match Template::decode(v) {
                Ok(t) => AttrValue::Template(t),
                Err(_) => AttrValue::C(zeroize::Zeroizing::new(v.to_vec())),
            },
            Kind::Ulong | Kind::MechList => AttrValue::C(zeroize::Zeroizing::new(
                v.chunks_exact(8)
                    .flat_map(|c| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(c);
                        (u64::from_le_bytes(a) as CK_ULONG).to_ne_bytes()
                    })
                    .collect(),
            )),
            _ => AttrValue::C(zeroize::Zeroizing::new(v.to_vec())),
        }
    }

    /// The length the caller's `ulValueLen` gets: bytes, or for a template the
    /// size of its `CK_ATTRIBUTE` array.
    pub fn c_len(&self) -> usize {
        match self {
            AttrValue::C(c) => c.len(),
            AttrValue::Template(t) => t.0.len() * size_of::<CK_ATTRIBUTE>(),
        }
    }
}
