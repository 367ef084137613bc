//! The integration-test harness: loads the built `libferrohsm_pkcs11.so` the way an
//! application does (dlopen + `C_GetFunctionList`) and calls it through raw
//! function pointers, so every return code is the module's own.
//!
//! The module is process-global and its store path comes from `FERROHSM_STORE` at
//! `C_Initialize`, so tests in one binary take a lock and each gets its own store.

#![allow(dead_code, clippy::missing_safety_doc)]

use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{Mutex, MutexGuard, OnceLock};

pub use cryptoki_sys::*;

pub const SO_PIN: &[u8] = b"so-pin-1234";
pub const USER_PIN: &[u8] = b"user-pin-1234";
pub const ADMIN_SLOT: CK_SLOT_ID = 0xFFFF;

/// Vendor constants (see pkcs11/include/ferrohsm.h).
pub const CKO_FERRO_PARTITION: CK_ULONG = 0xC648_0001;
pub const CKA_FERRO_ORIGIN: CK_ULONG = 0xC648_0001;
pub const CKA_FERRO_CREATED: CK_ULONG = 0xC648_0002;
pub const CKA_FERRO_INVALIDATED: CK_ULONG = 0xC648_0003;
pub const CKA_FERRO_KEY_ROLE: CK_ULONG = 0xC648_0004;
pub const CKA_FERRO_USAGE_COUNT: CK_ULONG = 0xC648_0005;
pub const CKA_FERRO_ATTESTS: CK_ULONG = 0xC648_0006;
pub const CKA_FERRO_POLICY_ALLOW_EXPORT: CK_ULONG = 0xC648_0010;
pub const CKA_FERRO_POLICY_KEY_INVALIDATION: CK_ULONG = 0xC648_0011;
pub const CKA_FERRO_POLICY_READ_ONLY: CK_ULONG = 0xC648_0012;
pub const CKA_FERRO_POLICY_MAX_PIN_FAILURES: CK_ULONG = 0xC648_0013;
pub const CKA_FERRO_POLICY_MIN_PIN_LEN: CK_ULONG = 0xC648_0014;
pub const CKA_FERRO_SLOT_ID: CK_ULONG = 0xC648_0015;

/// `CKA_EC_PARAMS` of the named curves: DER OIDs, as OpenSSL and pkcs11-tool send them.
pub const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
pub const P521: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
pub const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// The `CK_MECHANISM_INFO` flags of a mechanism that signs and verifies: also
/// message by message (PKCS#11 3.0 `C_MessageSignInit`, `C_MessageVerifyInit`).
pub const SIGN_VERIFY: CK_FLAGS = CKF_SIGN | CKF_VERIFY | CKF_MESSAGE_SIGN | CKF_MESSAGE_VERIFY;

/// `CKA_FERRO_ORIGIN` values (DESIGN.md).
pub const ORIGIN_GENERATED: CK_ULONG = 1;
pub const ORIGIN_IMPORTED: CK_ULONG = 2;
pub const ORIGIN_UNWRAPPED: CK_ULONG = 3;
pub const ORIGIN_DERIVED: CK_ULONG = 4;
pub const ORIGIN_REPLICATED: CK_ULONG = 5;
pub const ORIGIN_COPIED: CK_ULONG = 6;

/// The module under test: `FERROHSM_TEST_MODULE` if set, else the cdylib cargo
/// built for this test run. Cargo leaves that one in `target/<profile>/deps/`, next
/// to the test binary; `target/<profile>/libferrohsm_pkcs11.so` is refreshed only
/// by `cargo build` and may be stale.
pub fn module_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FERROHSM_TEST_MODULE") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    let deps = exe.parent().expect("target/<profile>/deps");
    let p = deps.join("libferrohsm_pkcs11.so");
    assert!(p.exists(), "{} not built (run the tests with cargo)", p.display());
    p
}

struct Loaded {
    _lib: libloading::Library,
    f: &'static CK_FUNCTION_LIST,
    f3: &'static CK_FUNCTION_LIST_3_0,
}

fn loaded() -> &'static Loaded {
    static L: OnceLock<Loaded> = OnceLock::new();
    L.get_or_init(|| unsafe {
        let lib = libloading::Library::new(module_path()).expect("dlopen the module");
        let get: libloading::Symbol<unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV> =
            lib.get(b"C_GetFunctionList").expect("C_GetFunctionList");
        let mut p = ptr::null_mut();
        assert_eq!(get(&mut p), CKR_OK);
        let get_if: libloading::Symbol<
            unsafe extern "C" fn(*mut CK_UTF8CHAR, *mut CK_VERSION, *mut *mut CK_INTERFACE, CK_FLAGS) -> CK_RV,
        > = lib.get(b"C_GetInterface").expect("C_GetInterface");
        let mut i = ptr::null_mut();
        assert_eq!(get_if(ptr::null_mut(), ptr::null_mut(), &mut i, 0), CKR_OK);
        let f3 = &*((*i).pFunctionList as *const CK_FUNCTION_LIST_3_0);
        Loaded { f: &*p, f3, _lib: lib }
    })
}

/// The 2.40 function list.
pub fn f() -> &'static CK_FUNCTION_LIST {
    loaded().f
}

/// The 3.0 function list.
pub fn f3() -> &'static CK_FUNCTION_LIST_3_0 {
    loaded().f3
}

/// Calls a function of the 2.40 list: `call!(C_Login, s, CKU_USER, ...)`. It passes
/// the test's arguments straight to a raw function pointer: that is its job.
/// (Not exported: each test file brings it in with `#[macro_use] mod common;`.)
macro_rules! call {
    ($name:ident $(, $arg:expr)* $(,)?) => {
        unsafe { ($crate::common::f().$name.expect(stringify!($name)))($($arg),*) }
    };
}

/// Asserts a return code, printing both in hex: `assert_rv!(rv, CKR_OK)`, or with
/// a message as `assert!` takes one. (Not every test file uses it.)
#[allow(unused_macros)]
macro_rules! assert_rv {
    ($got:expr, $want:expr $(,)?) => {{
        let (got, want): (CK_RV, CK_RV) = ($got, $want);
        assert!(got == want, "{}: rv {got:#x}, expected {want:#x}", stringify!($got));
    }};
    ($got:expr, $want:expr, $($msg:tt)+) => {{
        let (got, want): (CK_RV, CK_RV) = ($got, $want);
        assert!(got == want, "{}: rv {got:#x}, expected {want:#x}", format!($($msg)+));
    }};
}

/// The bytes of an attribute-array value (`CKA_UNWRAP_TEMPLATE`, ...): the
/// `CK_ATTRIBUTE` structs themselves, pointing at their values.
pub fn array_value(a: &[CK_ATTRIBUTE]) -> Vec<u8> {
    // SAFETY: plain old data, read as bytes.
    unsafe { std::slice::from_raw_parts(a.as_ptr() as *const u8, std::mem::size_of_val(a)) }.to_vec()
}

/// The return code of a harness call that returns a `Result`.
pub fn rv<T>(r: Result<T, CK_RV>) -> CK_RV {
    r.err().unwrap_or(CKR_OK)
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A mechanism with no parameter.
pub fn mech(ty: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM { mechanism: ty, pParameter: ptr::null_mut(), ulParameterLen: 0 }
}

static LOCK: Mutex<()> = Mutex::new(());

/// Serialises tests that use the module in this process.
pub fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Points the module at `dir` for the next `C_Initialize`.
pub fn use_store(dir: &Path) {
    // SAFETY: tests that touch the environment hold `lock()`; the module reads it
    // only inside C_Initialize, which runs on this thread.
    unsafe { std::env::set_var("FERROHSM_STORE", dir) };
}

/// A module instance on its own fresh store, initialised; finalised on drop.
pub struct Hsm {
    pub dir: tempfile::TempDir,
    _guard: MutexGuard<'static, ()>,
    initialized: bool,
}

impl Hsm {
    /// A fresh store, initialised.
    pub fn fresh() -> Self {
        let guard = lock();
        let dir = tempfile::tempdir().expect("tempdir");
        use_store(dir.path());
        // A previous test that panicked may have left the module initialised.
        unsafe { (f().C_Finalize.unwrap())(ptr::null_mut()) };
        let mut h = Self { dir, _guard: guard, initialized: false };
        h.initialize();
        h
    }

    pub fn initialize(&mut self) {
        use_store(self.dir.path());
        assert_eq!(call!(C_Initialize, ptr::null_mut()), CKR_OK);
        self.initialized = true;
    }

    /// `C_Initialize` on this store, returning its `CK_RV` instead of asserting.
    pub fn try_initialize(&mut self) -> CK_RV {
        use_store(self.dir.path());
        let rv = call!(C_Initialize, ptr::null_mut());
        self.initialized = rv == CKR_OK;
        rv
    }

    pub fn finalize(&mut self) {
        assert_eq!(call!(C_Finalize, ptr::null_mut()), CKR_OK);
        self.initialized = false;
    }

    /// Closes and reopens the store (a restart).
    pub fn restart(&mut self) {
        self.finalize();
        self.initialize();
    }

    /// Slot 0 initialised with [`SO_PIN`] and [`USER_PIN`]; returns a R/W session
    /// with the user logged in.
    pub fn ready() -> (Self, CK_SESSION_HANDLE) {
        let h = Self::fresh();
        h.init_token(0, SO_PIN, "test");
        h.init_user(0, USER_PIN);
        let s = h.open(0, true);
        assert_eq!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
        (h, s)
    }

    pub fn init_token(&self, slot: CK_SLOT_ID, so_pin: &[u8], label: &str) {
        assert_eq!(self.try_init_token(slot, so_pin, label), CKR_OK);
    }

    pub fn try_init_token(&self, slot: CK_SLOT_ID, so_pin: &[u8], label: &str) -> CK_RV {
        let mut l = [b' '; 32];
        l[..label.len()].copy_from_slice(label.as_bytes());
        call!(C_InitToken, slot, so_pin.as_ptr() as *mut _, so_pin.len() as CK_ULONG, l.as_mut_ptr())
    }

    /// Sets the user PIN of `slot` through an SO session, then closes it.
    pub fn init_user(&self, slot: CK_SLOT_ID, pin: &[u8]) {
        let s = self.open(slot, true);
        assert_eq!(self.login(s, CKU_SO, SO_PIN), CKR_OK);
        assert_eq!(call!(C_InitPIN, s, pin.as_ptr() as *mut _, pin.len() as CK_ULONG), CKR_OK);
        assert_eq!(call!(C_CloseSession, s), CKR_OK);
    }

    pub fn try_open(&self, slot: CK_SLOT_ID, flags: CK_FLAGS) -> Result<CK_SESSION_HANDLE, CK_RV> {
        let mut s = 0;
        match call!(C_OpenSession, slot, flags, ptr::null_mut(), None, &mut s) {
            CKR_OK => Ok(s),
            rv => Err(rv),
        }
    }

    pub fn open(&self, slot: CK_SLOT_ID, rw: bool) -> CK_SESSION_HANDLE {
        let flags = CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 };
        self.try_open(slot, flags).expect("C_OpenSession")
    }

    /// The device SO's session on the admin token, initialising the admin token
    /// with [`SO_PIN`] first.
    pub fn device_so(&self) -> CK_SESSION_HANDLE {
        self.init_token(ADMIN_SLOT, SO_PIN, "device");
        let s = self.open(ADMIN_SLOT, true);
        assert_eq!(self.login(s, CKU_SO, SO_PIN), CKR_OK, "the device SO logs in");
        s
    }

    pub fn login(&self, s: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> CK_RV {
        call!(C_Login, s, user, pin.as_ptr() as *mut _, pin.len() as CK_ULONG)
    }

    pub fn token_info(&self, slot: CK_SLOT_ID) -> CK_TOKEN_INFO {
        let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
        assert_eq!(call!(C_GetTokenInfo, slot, &mut info), CKR_OK);
        info
    }

    pub fn slots(&self) -> Vec<CK_SLOT_ID> {
        let mut n = 0;
        assert_eq!(call!(C_GetSlotList, CK_FALSE, ptr::null_mut(), &mut n), CKR_OK);
        let mut v = vec![0; n as usize];
        assert_eq!(call!(C_GetSlotList, CK_FALSE, v.as_mut_ptr(), &mut n), CKR_OK);
        v.truncate(n as usize);
        v
    }

    pub fn create(&self, s: CK_SESSION_HANDLE, t: &Tmpl) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        let mut a = t.attrs();
        let mut h = 0;
        match call!(C_CreateObject, s, a.as_mut_ptr(), a.len() as CK_ULONG, &mut h) {
            CKR_OK => Ok(h),
            rv => Err(rv),
        }
    }

    pub fn copy(&self, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, t: &Tmpl) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        let mut a = t.attrs();
        let mut h = 0;
        match call!(C_CopyObject, s, o, a.as_mut_ptr(), a.len() as CK_ULONG, &mut h) {
            CKR_OK => Ok(h),
            rv => Err(rv),
        }
    }

    pub fn set(&self, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, t: &Tmpl) -> CK_RV {
        let mut a = t.attrs();
        call!(C_SetAttributeValue, s, o, a.as_mut_ptr(), a.len() as CK_ULONG)
    }

    pub fn destroy(&self, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> CK_RV {
        call!(C_DestroyObject, s, o)
    }

    /// One attribute's value, with the length query first.
    pub fn get(&self, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, CK_RV> {
        let mut a = CK_ATTRIBUTE { type_: ty, pValue: ptr::null_mut(), ulValueLen: 0 };
        match call!(C_GetAttributeValue, s, o, &mut a, 1) {
            CKR_OK => {}
            rv => return Err(rv),
        }
        let mut buf = vec![0u8; a.ulValueLen as usize];
        a.pValue = buf.as_mut_ptr() as *mut _;
        match call!(C_GetAttributeValue, s, o, &mut a, 1) {
            CKR_OK => {
                buf.truncate(a.ulValueLen as usize);
                Ok(buf)
            }
            rv => Err(rv),
        }
    }

    pub fn get_ulong(&self, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> CK_ULONG {
        let v = self.get(s, o, ty).unwrap_or_else(|rv| panic!("get {ty:#x}: {rv:#x}"));
        CK_ULONG::from_ne_bytes(v.try_into().expect("CK_ULONG"))
    }

    pub fn get_bool(&self, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> bool {
        let v = self.get(s, o, ty).unwrap_or_else(|rv| panic!("get {ty:#x}: {rv:#x}"));
        assert_eq!(v.len(), 1);
        v[0] != 0
    }

    /// `C_GenerateKey` with a mechanism that takes no parameter.
    pub fn generate_key(
        &self,
        s: CK_SESSION_HANDLE,
        m: CK_MECHANISM_TYPE,
        t: &Tmpl,
    ) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        let mut a = t.attrs();
        let mut h = 0;
        match call!(C_GenerateKey, s, &mut mech(m), a.as_mut_ptr(), a.len() as CK_ULONG, &mut h) {
            CKR_OK => Ok(h),
            rv => Err(rv),
        }
    }

    /// `C_GenerateKeyPair` with a mechanism that takes no parameter: (public, private).
    pub fn generate_pair(
        &self,
        s: CK_SESSION_HANDLE,
        m: CK_MECHANISM_TYPE,
        public: &Tmpl,
        private: &Tmpl,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), CK_RV> {
        let (mut pa, mut qa) = (public.attrs(), private.attrs());
        let (mut hp, mut hq) = (0, 0);
        let (np, nq) = (pa.len() as CK_ULONG, qa.len() as CK_ULONG);
        match call!(C_GenerateKeyPair, s, &mut mech(m), pa.as_mut_ptr(), np, qa.as_mut_ptr(), nq, &mut hp, &mut hq) {
            CKR_OK => Ok((hp, hq)),
            rv => Err(rv),
        }
    }

    /// `C_WrapKey` with a mechanism that takes no parameter, length query first.
    pub fn wrap_key(
        &self,
        s: CK_SESSION_HANDLE,
        m: CK_MECHANISM_TYPE,
        kek: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
    ) -> Result<Vec<u8>, CK_RV> {
        let mut n = 0;
        match call!(C_WrapKey, s, &mut mech(m), kek, key, ptr::null_mut(), &mut n) {
            CKR_OK => {}
            rv => return Err(rv),
        }
        let mut out = vec![0u8; n as usize];
        match call!(C_WrapKey, s, &mut mech(m), kek, key, out.as_mut_ptr(), &mut n) {
            CKR_OK => {
                out.truncate(n as usize);
                Ok(out)
            }
            rv => Err(rv),
        }
    }

    /// `C_UnwrapKey` with a mechanism that takes no parameter.
    pub fn unwrap_key(
        &self,
        s: CK_SESSION_HANDLE,
        m: CK_MECHANISM_TYPE,
        kek: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        t: &Tmpl,
    ) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        let mut a = t.attrs();
        let mut h = 0;
        let (w, nw) = (wrapped.as_ptr() as *mut u8, wrapped.len() as CK_ULONG);
        match call!(C_UnwrapKey, s, &mut mech(m), kek, w, nw, a.as_mut_ptr(), a.len() as CK_ULONG, &mut h) {
            CKR_OK => Ok(h),
            rv => Err(rv),
        }
    }

    /// Every handle matching `t`.
    pub fn find(&self, s: CK_SESSION_HANDLE, t: &Tmpl) -> Vec<CK_OBJECT_HANDLE> {
        let mut a = t.attrs();
        assert_eq!(call!(C_FindObjectsInit, s, a.as_mut_ptr(), a.len() as CK_ULONG), CKR_OK);
        let mut out = Vec::new();
        loop {
            let mut buf = [0 as CK_OBJECT_HANDLE; 7];
            let mut n = 0;
            assert_eq!(call!(C_FindObjects, s, buf.as_mut_ptr(), buf.len() as CK_ULONG, &mut n), CKR_OK);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        assert_eq!(call!(C_FindObjectsFinal, s), CKR_OK);
        out
    }

    /// The files of the store, for greps.
    pub fn store_files(&self) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() { walk(&p, out) } else { out.push(p) }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out
    }

    /// Whether `needle` occurs in any store file.
    pub fn store_contains(&self, needle: &[u8]) -> bool {
        self.store_files().iter().any(|f| std::fs::read(f).unwrap().windows(needle.len()).any(|w| w == needle))
    }
}

impl Drop for Hsm {
    fn drop(&mut self) {
        if self.initialized {
            unsafe { (f().C_Finalize.unwrap())(ptr::null_mut()) };
        }
    }
}

/// A template that owns its values.
#[derive(Clone, Default)]
pub struct Tmpl(pub Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>);

impl Tmpl {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn ulong(mut self, ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Self {
        self.0.push((ty, v.to_ne_bytes().to_vec()));
        self
    }
    pub fn bool(mut self, ty: CK_ATTRIBUTE_TYPE, v: bool) -> Self {
        self.0.push((ty, vec![v as u8]));
        self
    }
    pub fn bytes(mut self, ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Self {
        self.0.push((ty, v.to_vec()));
        self
    }
    pub fn class(self, c: CK_OBJECT_CLASS) -> Self {
        self.ulong(CKA_CLASS, c)
    }
    pub fn label(self, l: &str) -> Self {
        self.bytes(CKA_LABEL, l.as_bytes())
    }
    pub fn token(self, t: bool) -> Self {
        self.bool(CKA_TOKEN, t)
    }
    /// The C view. Valid while `self` lives and is not changed.
    pub fn attrs(&self) -> Vec<CK_ATTRIBUTE> {
        self.0
            .iter()
            .map(|(t, v)| CK_ATTRIBUTE {
                type_: *t,
                pValue: if v.is_empty() { ptr::null_mut() } else { v.as_ptr() as *mut _ },
                ulValueLen: v.len() as CK_ULONG,
            })
            .collect()
    }
}

/// A data object template.
pub fn data(label: &str, token: bool) -> Tmpl {
    Tmpl::new().class(CKO_DATA).label(label).token(token).bytes(CKA_VALUE, b"some data")
}

/// An AES secret key template (import).
pub fn aes_key(label: &str, value: &[u8]) -> Tmpl {
    Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_AES).label(label).token(true).bytes(CKA_VALUE, value)
}

/// A path as the `&str` a command line takes.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// What an `openssl` run gave.
pub struct Run {
    pub ok: bool,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    /// Stdout as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs `openssl` with `input` on stdin, whether it succeeds or not.
pub fn run_openssl(args: &[&str], input: &[u8]) -> Run {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    Run { ok: out.status.success(), stdout: out.stdout, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

/// Runs `openssl`, which must succeed; its stdout.
pub fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    let r = run_openssl(args, input);
    assert!(r.ok, "openssl {args:?} failed: {}", r.stderr);
    r.stdout
}

/// A self-signed certificate made by openssl, DER.
pub fn certificate(cn: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let der = dir.path().join("c.der");
    let st = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", &format!("/CN={cn}"), "-outform", "DER"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&der)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success());
    std::fs::read(der).unwrap()
}

/// The 3.2 function list, found by version through `C_GetInterface` as a 3.2 caller
/// would (for `C_EncapsulateKey` / `C_DecapsulateKey`).
pub fn f32() -> &'static CK_FUNCTION_LIST_3_2 {
    let get = f3().C_GetInterface.expect("C_GetInterface");
    let mut v = CK_VERSION { major: 3, minor: 2 };
    let mut i: *mut CK_INTERFACE = ptr::null_mut();
    assert_eq!(unsafe { get(c"PKCS 11".as_ptr() as *mut _, &mut v, &mut i, 0) }, CKR_OK);
    assert!(!i.is_null());
    // SAFETY: the module returned a 3.2 interface, whose list lives as long as it does.
    unsafe { &*((*i).pFunctionList as *const CK_FUNCTION_LIST_3_2) }
}

/// A mechanism with the parameter `p` (a `CK_*_PARAMS` struct).
pub fn mech_with<T>(ty: CK_MECHANISM_TYPE, p: &mut T) -> CK_MECHANISM {
    CK_MECHANISM { mechanism: ty, pParameter: p as *mut T as *mut _, ulParameterLen: size_of::<T>() as CK_ULONG }
}

/// `CK_SIGN_ADDITIONAL_CONTEXT` (ML-DSA, SLH-DSA): the hedge and the context, null
/// when empty.
pub fn context_param(hedge: CK_ULONG, ctx: &[u8]) -> CK_SIGN_ADDITIONAL_CONTEXT {
    CK_SIGN_ADDITIONAL_CONTEXT {
        hedgeVariant: hedge,
        pContext: if ctx.is_empty() { ptr::null_mut() } else { ctx.as_ptr() as *mut _ },
        ulContextLen: ctx.len() as CK_ULONG,
    }
}

/// The bytes of a hex string.
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// `C_EncapsulateKey` (PKCS#11 3.2) with a length query first, which must make no
/// key: (ciphertext, key).
pub fn encapsulate_key(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    public: CK_OBJECT_HANDLE,
    t: &Tmpl,
) -> Result<(Vec<u8>, CK_OBJECT_HANDLE), CK_RV> {
    let f = f32().C_EncapsulateKey.expect("C_EncapsulateKey");
    let mut a = t.attrs();
    let (mut n, mut h): (CK_ULONG, CK_OBJECT_HANDLE) = (0, 0);
    let rv = unsafe { f(s, m, public, a.as_mut_ptr(), a.len() as CK_ULONG, ptr::null_mut(), &mut n, &mut h) };
    if rv != CKR_OK {
        return Err(rv);
    }
    assert_eq!(h, 0, "a length query makes no key");
    let mut ct = vec![0u8; n as usize];
    let rv = unsafe { f(s, m, public, a.as_mut_ptr(), a.len() as CK_ULONG, ct.as_mut_ptr(), &mut n, &mut h) };
    if rv != CKR_OK {
        return Err(rv);
    }
    ct.truncate(n as usize);
    Ok((ct, h))
}

/// `C_DecapsulateKey` (PKCS#11 3.2): the new key.
pub fn decapsulate_key(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    private: CK_OBJECT_HANDLE,
    t: &Tmpl,
    ct: &[u8],
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let f = f32().C_DecapsulateKey.expect("C_DecapsulateKey");
    let mut a = t.attrs();
    let mut h: CK_OBJECT_HANDLE = 0;
    let rv = unsafe {
        f(s, m, private, a.as_mut_ptr(), a.len() as CK_ULONG, ct.as_ptr() as *mut _, ct.len() as CK_ULONG, &mut h)
    };
    if rv == CKR_OK { Ok(h) } else { Err(rv) }
}
