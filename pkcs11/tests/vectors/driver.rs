//! The module under test, reached only through its PKCS#11 function list, and the
//! operations the vector families need, each one returning either its output or the
//! first call that failed and its `CK_RV`.
//!
//! Which module: `FERROHSM_VECTORS_MODULE` unset (or `ferrohsm`) runs ferrohsm through
//! the integration-test harness (`common::Hsm`, the cdylib built for this run);
//! `softhsm` runs Debian's SoftHSM (`/usr/lib/softhsm/libsofthsm2.so`, with its own
//! `SOFTHSM2_CONF` and token directory in a temporary directory); any other value is
//! the path of a PKCS#11 module, set up the same generic way (its first slot's token
//! initialised, a user PIN set, a user session opened). The vector code is the same
//! for every module: only the setup differs.

use std::collections::HashMap;
use std::ffi::c_void;
use std::fmt;
use std::path::PathBuf;
use std::ptr;
use std::sync::OnceLock;

use cryptoki::error::{Rv, RvError};
use cryptoki_sys::*;

use crate::common;

/// Where Debian's `softhsm2` package puts the module.
pub const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";

const SO_PIN: &[u8] = b"so-pin-1234";
const USER_PIN: &[u8] = b"user-pin-1234";

/// `CKR_SIGNATURE_INVALID` reads better than `192`.
pub fn rv_name(rv: CK_RV) -> String {
    // PKCS#11 3.0 codes that cryptoki does not name.
    match rv {
        CKR_AEAD_DECRYPT_FAILED => return "CKR_AEAD_DECRYPT_FAILED".into(),
        CKR_PUBLIC_KEY_INVALID => return "CKR_PUBLIC_KEY_INVALID".into(),
        _ => {}
    }
    let e = match Rv::from(rv) {
        Rv::Ok => return "CKR_OK".to_string(),
        Rv::Error(RvError::VendorDefined(v)) => return format!("CKR_VENDOR_DEFINED+{v:#x}"),
        Rv::Error(e) => format!("{e:?}"),
    };
    let mut name = String::from("CKR");
    for c in e.chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// The call that failed and what it returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fail {
    pub at: &'static str,
    pub rv: CK_RV,
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} gave {}", self.at, rv_name(self.rv))
    }
}

fn check(at: &'static str, rv: CK_RV) -> Result<(), Fail> {
    if rv == CKR_OK { Ok(()) } else { Err(Fail { at, rv }) }
}

/// A template that owns its values.
#[derive(Clone, Default)]
pub struct Tmpl(Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>);

impl Tmpl {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn ulong(mut self, ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Self {
        self.0.push((ty, v.to_ne_bytes().to_vec()));
        self
    }
    pub fn bool(mut self, ty: CK_ATTRIBUTE_TYPE, v: bool) -> Self {
        self.0.push((ty, vec![if v { CK_TRUE } else { CK_FALSE }]));
        self
    }
    pub fn bytes(mut self, ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Self {
        self.0.push((ty, v.to_vec()));
        self
    }
    /// A session object of `class` and `key_type`: every key the vectors import lives
    /// only as long as its session.
    pub fn key(class: CK_OBJECT_CLASS, key_type: CK_KEY_TYPE) -> Self {
        Self::new().ulong(CKA_CLASS, class).ulong(CKA_KEY_TYPE, key_type).bool(CKA_TOKEN, false)
    }
    /// The C view; points into `self`.
    fn raw(&self) -> Vec<CK_ATTRIBUTE> {
        self.0
            .iter()
            .map(|(t, v)| CK_ATTRIBUTE {
                type_: *t,
                pValue: if v.is_empty() { ptr::null_mut() } else { v.as_ptr() as *mut c_void },
                ulValueLen: v.len() as CK_ULONG,
            })
            .collect()
    }
}

/// A mechanism and its parameter, owned; [`Mech::with`] lends the C form.
#[derive(Clone, Debug)]
pub struct Mech {
    pub ty: CK_MECHANISM_TYPE,
    pub param: Param,
}

#[derive(Clone, Debug)]
pub enum Param {
    None,
    /// A byte-string parameter (an IV).
    Bytes(Vec<u8>),
    /// A `CK_ULONG` parameter (`CK_MAC_GENERAL_PARAMS`).
    Ulong(CK_ULONG),
    Gcm {
        iv: Vec<u8>,
        aad: Vec<u8>,
        tag_bits: CK_ULONG,
    },
    Ctr {
        counter_bits: CK_ULONG,
        block: [u8; 16],
    },
    Pss {
        hash: CK_MECHANISM_TYPE,
        mgf: CK_ULONG,
        salt_len: CK_ULONG,
    },
    Oaep {
        hash: CK_MECHANISM_TYPE,
        mgf: CK_ULONG,
        label: Vec<u8>,
    },
    Ecdh {
        public: Vec<u8>,
    },
}

impl Mech {
    pub fn new(ty: CK_MECHANISM_TYPE) -> Self {
        Self { ty, param: Param::None }
    }
    pub fn with_param(ty: CK_MECHANISM_TYPE, param: Param) -> Self {
        Self { ty, param }
    }

    /// Calls `f` with a `CK_MECHANISM` whose parameter points into `self`.
    fn with<R>(&self, f: impl FnOnce(*mut CK_MECHANISM) -> R) -> R {
        fn ptr_of(v: &[u8]) -> *mut CK_BYTE {
            if v.is_empty() { ptr::null_mut() } else { v.as_ptr() as *mut CK_BYTE }
        }
        fn go<R, T>(ty: CK_MECHANISM_TYPE, p: Option<&mut T>, f: impl FnOnce(*mut CK_MECHANISM) -> R) -> R {
            let mut m = match p {
                Some(p) => CK_MECHANISM {
                    mechanism: ty,
                    pParameter: p as *mut T as *mut c_void,
                    ulParameterLen: std::mem::size_of::<T>() as CK_ULONG,
                },
                None => CK_MECHANISM { mechanism: ty, pParameter: ptr::null_mut(), ulParameterLen: 0 },
            };
            f(&mut m)
        }
        match &self.param {
            Param::None => go::<R, u8>(self.ty, None, f),
            Param::Bytes(b) => {
                let mut m = CK_MECHANISM {
                    mechanism: self.ty,
                    pParameter: ptr_of(b) as *mut c_void,
                    ulParameterLen: b.len() as _,
                };
                f(&mut m)
            }
            Param::Ulong(v) => go(self.ty, Some(&mut { *v }), f),
            Param::Gcm { iv, aad, tag_bits } => {
                let mut p = CK_GCM_PARAMS {
                    pIv: ptr_of(iv),
                    ulIvLen: iv.len() as _,
                    ulIvBits: (iv.len() * 8) as _,
                    pAAD: ptr_of(aad),
                    ulAADLen: aad.len() as _,
                    ulTagBits: *tag_bits,
                };
                go(self.ty, Some(&mut p), f)
            }
            Param::Ctr { counter_bits, block } => {
                let mut p = CK_AES_CTR_PARAMS { ulCounterBits: *counter_bits, cb: *block };
                go(self.ty, Some(&mut p), f)
            }
            Param::Pss { hash, mgf, salt_len } => {
                let mut p = CK_RSA_PKCS_PSS_PARAMS { hashAlg: *hash, mgf: *mgf, sLen: *salt_len };
                go(self.ty, Some(&mut p), f)
            }
            Param::Oaep { hash, mgf, label } => {
                let mut p = CK_RSA_PKCS_OAEP_PARAMS {
                    hashAlg: *hash,
                    mgf: *mgf,
                    source: CKZ_DATA_SPECIFIED,
                    pSourceData: ptr_of(label) as *mut c_void,
                    ulSourceDataLen: label.len() as _,
                };
                go(self.ty, Some(&mut p), f)
            }
            Param::Ecdh { public } => {
                let mut p = CK_ECDH1_DERIVE_PARAMS {
                    kdf: CKD_NULL,
                    ulSharedDataLen: 0,
                    pSharedData: ptr::null_mut(),
                    ulPublicDataLen: public.len() as _,
                    pPublicData: ptr_of(public),
                };
                go(self.ty, Some(&mut p), f)
            }
        }
    }
}

/// How data goes in: one call, or `Update` calls of this many bytes and a `Final`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parts {
    Single,
    Chunks(usize),
}

impl fmt::Display for Parts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Parts::Single => write!(f, "single-part"),
            Parts::Chunks(n) => write!(f, "multi-part ({n}-byte updates)"),
        }
    }
}

/// What keeps the module set up; dropped with the [`Module`].
enum Keep {
    Ferrohsm { _hsm: common::Hsm },
    Other { _lock: std::sync::MutexGuard<'static, ()>, _dir: tempfile::TempDir, f: &'static CK_FUNCTION_LIST },
}

/// The module under test, initialised, with a user session open.
pub struct Module {
    /// "ferrohsm", "SoftHSM", or the module's path.
    pub name: String,
    /// Whether a mechanism the vectors need may be missing: ferrohsm must offer every
    /// one (issue 3), a peer module may not, and then the cases that need it are skipped.
    pub strict: bool,
    f: &'static CK_FUNCTION_LIST,
    s: CK_SESSION_HANDLE,
    mechs: HashMap<CK_MECHANISM_TYPE, CK_MECHANISM_INFO>,
    keep: Keep,
}

impl Drop for Module {
    fn drop(&mut self) {
        if let Keep::Other { f, .. } = &self.keep {
            // SAFETY: the module's own C_Finalize, with the null argument it requires.
            unsafe { (f.C_Finalize.expect("C_Finalize"))(ptr::null_mut()) };
        }
    }
}

/// Loads a module once per process and returns its function list.
fn load(path: &PathBuf) -> &'static CK_FUNCTION_LIST {
    static L: OnceLock<(PathBuf, &'static CK_FUNCTION_LIST)> = OnceLock::new();
    let (p, f) = L.get_or_init(|| {
        // SAFETY: loading a PKCS#11 module runs its initialisers; the module is the
        // one the tester named.
        let lib =
            unsafe { libloading::Library::new(path) }.unwrap_or_else(|e| panic!("cannot load {}: {e}", path.display()));
        let lib: &'static libloading::Library = Box::leak(Box::new(lib));
        // SAFETY: every PKCS#11 module exports C_GetFunctionList with this signature.
        let get: libloading::Symbol<unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV> =
            unsafe { lib.get(b"C_GetFunctionList") }.expect("C_GetFunctionList");
        let mut list = ptr::null_mut();
        // SAFETY: `list` is a valid output pointer.
        assert_eq!(unsafe { get(&mut list) }, CKR_OK, "C_GetFunctionList");
        // SAFETY: the list lives as long as the library, which is never unloaded.
        (path.clone(), unsafe { &*list })
    });
    assert_eq!(p, path, "one module per test process");
    f
}

/// Calls a function of the module's list, returning its `CK_RV`.
macro_rules! p11 {
    ($m:expr, $name:ident $(, $arg:expr)* $(,)?) => {
        // SAFETY: every pointer argument points into a live Rust value of the type and
        // length the PKCS#11 signature requires.
        unsafe { ($m.f.$name.expect(stringify!($name)))($($arg),*) }
    };
}

impl Module {
    /// The module `FERROHSM_VECTORS_MODULE` names (ferrohsm when unset), set up.
    pub fn open() -> Module {
        let which = std::env::var("FERROHSM_VECTORS_MODULE").unwrap_or_default();
        let (name, path) = match which.as_str() {
            "" | "ferrohsm" => {
                let (hsm, s) = common::Hsm::ready();
                let keep = Keep::Ferrohsm { _hsm: hsm };
                let m =
                    Module { name: "ferrohsm".into(), strict: true, f: common::f(), s, mechs: HashMap::new(), keep };
                return m.with_mechanisms();
            }
            "softhsm" => ("SoftHSM".to_string(), PathBuf::from(SOFTHSM)),
            path => (path.to_string(), PathBuf::from(path)),
        };
        let lock = common::lock();
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
        )
        .unwrap();
        // SAFETY: tests of this binary hold `common::lock()` while they touch the
        // environment; the module reads it only in C_Initialize, on this thread.
        unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
        let f = load(&path);
        let mut m = Module {
            name,
            strict: false,
            f,
            s: 0,
            mechs: HashMap::new(),
            keep: Keep::Other { _lock: lock, _dir: dir, f },
        };
        // A previous test that panicked may have left it initialised.
        p11!(m, C_Finalize, ptr::null_mut());
        assert_eq!(p11!(m, C_Initialize, ptr::null_mut()), CKR_OK, "C_Initialize");
        let mut n = 0;
        assert_eq!(p11!(m, C_GetSlotList, CK_TRUE, ptr::null_mut(), &mut n), CKR_OK);
        let mut slots = vec![0; n as usize];
        assert_eq!(p11!(m, C_GetSlotList, CK_TRUE, slots.as_mut_ptr(), &mut n), CKR_OK);
        let slot = *slots.first().expect("a slot with a token");
        let mut label = [b' '; 32];
        label[..7].copy_from_slice(b"vectors");
        let rv = p11!(m, C_InitToken, slot, SO_PIN.as_ptr() as *mut _, SO_PIN.len() as _, label.as_mut_ptr());
        assert_eq!(rv, CKR_OK, "C_InitToken");
        let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
        let mut s = 0;
        assert_eq!(p11!(m, C_OpenSession, slot, flags, ptr::null_mut(), None, &mut s), CKR_OK);
        assert_eq!(p11!(m, C_Login, s, CKU_SO, SO_PIN.as_ptr() as *mut _, SO_PIN.len() as _), CKR_OK);
        assert_eq!(p11!(m, C_InitPIN, s, USER_PIN.as_ptr() as *mut _, USER_PIN.len() as _), CKR_OK);
        assert_eq!(p11!(m, C_Logout, s), CKR_OK);
        assert_eq!(p11!(m, C_Login, s, CKU_USER, USER_PIN.as_ptr() as *mut _, USER_PIN.len() as _), CKR_OK);
        m.s = s;
        m.with_mechanisms()
    }

    /// Reads the mechanism list and every mechanism's info.
    fn with_mechanisms(mut self) -> Self {
        let slot = {
            let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
            assert_eq!(p11!(self, C_GetSessionInfo, self.s, &mut info), CKR_OK);
            info.slotID
        };
        let mut n = 0;
        assert_eq!(p11!(self, C_GetMechanismList, slot, ptr::null_mut(), &mut n), CKR_OK);
        let mut list = vec![0; n as usize];
        assert_eq!(p11!(self, C_GetMechanismList, slot, list.as_mut_ptr(), &mut n), CKR_OK);
        list.truncate(n as usize);
        for m in list {
            let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
            if p11!(self, C_GetMechanismInfo, slot, m, &mut info) == CKR_OK {
                self.mechs.insert(m, info);
            }
        }
        self
    }

    /// The module's `CK_MECHANISM_INFO` for `m`, if it lists `m`.
    pub fn mech_info(&self, m: CK_MECHANISM_TYPE) -> Option<CK_MECHANISM_INFO> {
        self.mechs.get(&m).copied()
    }

    /// The mechanism for AES key wrap with padding (RFC 5649). PKCS#11 3.0 calls it
    /// `CKM_AES_KEY_WRAP_KWP`; SoftHSM 2.6 predates that and implements RFC 5649
    /// under `CKM_AES_KEY_WRAP_PAD` (0x210A), which 3.0 defines as something else
    /// (RFC 3394 over PKCS#7-padded data). The 3.0 mechanism when the module lists
    /// it; SoftHSM's otherwise.
    pub fn kwp_mechanism(&self) -> CK_MECHANISM_TYPE {
        if self.mech_info(CKM_AES_KEY_WRAP_KWP).is_none()
            && self.name == "SoftHSM"
            && self.mech_info(CKM_AES_KEY_WRAP_PAD).is_some()
        {
            CKM_AES_KEY_WRAP_PAD
        } else {
            CKM_AES_KEY_WRAP_KWP
        }
    }

    // --- Objects -------------------------------------------------------------------------

    pub fn create(&self, t: &Tmpl) -> Result<CK_OBJECT_HANDLE, Fail> {
        let mut a = t.raw();
        let mut h = 0;
        check("C_CreateObject", p11!(self, C_CreateObject, self.s, a.as_mut_ptr(), a.len() as _, &mut h))?;
        Ok(h)
    }

    pub fn destroy(&self, h: CK_OBJECT_HANDLE) {
        let rv = p11!(self, C_DestroyObject, self.s, h);
        assert_eq!(rv, CKR_OK, "C_DestroyObject: {}", rv_name(rv));
    }

    /// One attribute's value, with the length query first.
    pub fn attribute(&self, h: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, Fail> {
        let mut a = CK_ATTRIBUTE { type_: ty, pValue: ptr::null_mut(), ulValueLen: 0 };
        check("C_GetAttributeValue", p11!(self, C_GetAttributeValue, self.s, h, &mut a, 1))?;
        let mut buf = vec![0u8; a.ulValueLen as usize];
        a.pValue = buf.as_mut_ptr() as *mut c_void;
        check("C_GetAttributeValue", p11!(self, C_GetAttributeValue, self.s, h, &mut a, 1))?;
        buf.truncate(a.ulValueLen as usize);
        Ok(buf)
    }

    // --- Operations ----------------------------------------------------------------------

    /// Runs one of the two-call byte functions (`C_Encrypt`, `C_Sign`...) with the
    /// length query first, as applications do.
    fn query_then_call(
        &self,
        at: &'static str,
        call: impl Fn(*mut CK_BYTE, *mut CK_ULONG) -> CK_RV,
    ) -> Result<Vec<u8>, Fail> {
        let mut n: CK_ULONG = 0;
        check(at, call(ptr::null_mut(), &mut n))?;
        let mut out = vec![0u8; n as usize];
        check(at, call(out.as_mut_ptr(), &mut n))?;
        out.truncate(n as usize);
        Ok(out)
    }

    /// `Update` with a buffer of the input's length plus a block, grown to what the
    /// module asks for when it answers `CKR_BUFFER_TOO_SMALL` (which keeps the
    /// operation: an AEAD decryption may want room for everything it has buffered).
    fn update(
        &self,
        at: &'static str,
        data: &[u8],
        call: impl Fn(*mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG) -> CK_RV,
    ) -> Result<Vec<u8>, Fail> {
        let mut out = vec![0u8; data.len() + 16];
        let mut n = out.len() as CK_ULONG;
        let mut rv = call(data.as_ptr() as *mut _, data.len() as _, out.as_mut_ptr(), &mut n);
        if rv == CKR_BUFFER_TOO_SMALL && n as usize > out.len() {
            out = vec![0u8; n as usize];
            rv = call(data.as_ptr() as *mut _, data.len() as _, out.as_mut_ptr(), &mut n);
        }
        check(at, rv)?;
        out.truncate(n as usize);
        Ok(out)
    }

    pub fn encrypt(&self, m: &Mech, key: CK_OBJECT_HANDLE, data: &[u8], parts: Parts) -> Result<Vec<u8>, Fail> {
        check("C_EncryptInit", m.with(|mm| p11!(self, C_EncryptInit, self.s, mm, key)))?;
        match parts {
            Parts::Single => self.query_then_call("C_Encrypt", |o, n| {
                p11!(self, C_Encrypt, self.s, data.as_ptr() as *mut _, data.len() as _, o, n)
            }),
            Parts::Chunks(k) => {
                let mut out = Vec::new();
                for c in data.chunks(k) {
                    out.extend(self.update("C_EncryptUpdate", c, |i, il, o, ol| {
                        p11!(self, C_EncryptUpdate, self.s, i, il, o, ol)
                    })?);
                }
                out.extend(self.query_then_call("C_EncryptFinal", |o, n| p11!(self, C_EncryptFinal, self.s, o, n))?);
                Ok(out)
            }
        }
    }

    pub fn decrypt(&self, m: &Mech, key: CK_OBJECT_HANDLE, data: &[u8], parts: Parts) -> Result<Vec<u8>, Fail> {
        check("C_DecryptInit", m.with(|mm| p11!(self, C_DecryptInit, self.s, mm, key)))?;
        match parts {
            Parts::Single => self.query_then_call("C_Decrypt", |o, n| {
                p11!(self, C_Decrypt, self.s, data.as_ptr() as *mut _, data.len() as _, o, n)
            }),
            Parts::Chunks(k) => {
                let mut out = Vec::new();
                for c in data.chunks(k) {
                    out.extend(self.update("C_DecryptUpdate", c, |i, il, o, ol| {
                        p11!(self, C_DecryptUpdate, self.s, i, il, o, ol)
                    })?);
                }
                out.extend(self.query_then_call("C_DecryptFinal", |o, n| p11!(self, C_DecryptFinal, self.s, o, n))?);
                Ok(out)
            }
        }
    }

    pub fn digest(&self, m: &Mech, data: &[u8], parts: Parts) -> Result<Vec<u8>, Fail> {
        check("C_DigestInit", m.with(|mm| p11!(self, C_DigestInit, self.s, mm)))?;
        match parts {
            Parts::Single => self.query_then_call("C_Digest", |o, n| {
                p11!(self, C_Digest, self.s, data.as_ptr() as *mut _, data.len() as _, o, n)
            }),
            Parts::Chunks(k) => {
                for c in data.chunks(k) {
                    check("C_DigestUpdate", p11!(self, C_DigestUpdate, self.s, c.as_ptr() as *mut _, c.len() as _))?;
                }
                self.query_then_call("C_DigestFinal", |o, n| p11!(self, C_DigestFinal, self.s, o, n))
            }
        }
    }

    pub fn sign(&self, m: &Mech, key: CK_OBJECT_HANDLE, data: &[u8], parts: Parts) -> Result<Vec<u8>, Fail> {
        check("C_SignInit", m.with(|mm| p11!(self, C_SignInit, self.s, mm, key)))?;
        match parts {
            Parts::Single => self.query_then_call("C_Sign", |o, n| {
                p11!(self, C_Sign, self.s, data.as_ptr() as *mut _, data.len() as _, o, n)
            }),
            Parts::Chunks(k) => {
                for c in data.chunks(k) {
                    check("C_SignUpdate", p11!(self, C_SignUpdate, self.s, c.as_ptr() as *mut _, c.len() as _))?;
                }
                self.query_then_call("C_SignFinal", |o, n| p11!(self, C_SignFinal, self.s, o, n))
            }
        }
    }

    pub fn verify(&self, m: &Mech, key: CK_OBJECT_HANDLE, data: &[u8], sig: &[u8], parts: Parts) -> Result<(), Fail> {
        check("C_VerifyInit", m.with(|mm| p11!(self, C_VerifyInit, self.s, mm, key)))?;
        let sp = sig.as_ptr() as *mut CK_BYTE;
        match parts {
            Parts::Single => check(
                "C_Verify",
                p11!(self, C_Verify, self.s, data.as_ptr() as *mut _, data.len() as _, sp, sig.len() as _),
            ),
            Parts::Chunks(k) => {
                for c in data.chunks(k) {
                    check("C_VerifyUpdate", p11!(self, C_VerifyUpdate, self.s, c.as_ptr() as *mut _, c.len() as _))?;
                }
                check("C_VerifyFinal", p11!(self, C_VerifyFinal, self.s, sp, sig.len() as _))
            }
        }
    }

    pub fn wrap(&self, m: &Mech, wrapping: CK_OBJECT_HANDLE, key: CK_OBJECT_HANDLE) -> Result<Vec<u8>, Fail> {
        m.with(|mm| self.query_then_call("C_WrapKey", |o, n| p11!(self, C_WrapKey, self.s, mm, wrapping, key, o, n)))
    }

    pub fn unwrap(
        &self,
        m: &Mech,
        unwrapping: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        t: &Tmpl,
    ) -> Result<CK_OBJECT_HANDLE, Fail> {
        let mut a = t.raw();
        let mut h = 0;
        let rv = m.with(|mm| {
            p11!(
                self,
                C_UnwrapKey,
                self.s,
                mm,
                unwrapping,
                wrapped.as_ptr() as *mut _,
                wrapped.len() as _,
                a.as_mut_ptr(),
                a.len() as _,
                &mut h
            )
        });
        check("C_UnwrapKey", rv)?;
        Ok(h)
    }

    pub fn derive(&self, m: &Mech, base: CK_OBJECT_HANDLE, t: &Tmpl) -> Result<CK_OBJECT_HANDLE, Fail> {
        let mut a = t.raw();
        let mut h = 0;
        let rv = m.with(|mm| p11!(self, C_DeriveKey, self.s, mm, base, a.as_mut_ptr(), a.len() as _, &mut h));
        check("C_DeriveKey", rv)?;
        Ok(h)
    }
}

/// A key object destroyed when dropped.
pub struct Key<'a> {
    pub m: &'a Module,
    pub h: CK_OBJECT_HANDLE,
}

impl<'a> Key<'a> {
    pub fn create(m: &'a Module, t: &Tmpl) -> Result<Self, Fail> {
        Ok(Self { m, h: m.create(t)? })
    }
    pub fn adopt(m: &'a Module, h: CK_OBJECT_HANDLE) -> Self {
        Self { m, h }
    }
}

impl Drop for Key<'_> {
    fn drop(&mut self) {
        self.m.destroy(self.h);
    }
}
