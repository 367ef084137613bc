//! A PKCS#11 module loaded by path, called through its raw `CK_FUNCTION_LIST`.
//!
//! This is the only file with `unsafe`. Each method is one call through the module's
//! function pointer with arguments built on the stack: no allocation and no copying on the
//! measured paths, so what the bench times is the module, not this layer. Templates and
//! mechanisms borrow the memory they point to, so the pointers a module receives are alive
//! for the whole call.

use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::ptr;

use cryptoki_sys::*;

/// A failed PKCS#11 call: which function, and the `CK_RV` it returned.
#[derive(Debug, Clone)]
pub struct Error {
    /// The PKCS#11 function, e.g. `C_FindObjectsInit`.
    pub call: &'static str,
    /// What it returned.
    pub rv: CK_RV,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} returned {}", self.call, rv_name(self.rv))
    }
}

impl std::error::Error for Error {}

/// The result of a PKCS#11 call.
pub type Result<T> = std::result::Result<T, Error>;

/// `CKR_*` name of the return codes a bench is likely to meet, else the hex value.
pub fn rv_name(rv: CK_RV) -> String {
    let name = match rv {
        CKR_OK => "CKR_OK",
        CKR_HOST_MEMORY => "CKR_HOST_MEMORY",
        CKR_GENERAL_ERROR => "CKR_GENERAL_ERROR",
        CKR_FUNCTION_FAILED => "CKR_FUNCTION_FAILED",
        CKR_ARGUMENTS_BAD => "CKR_ARGUMENTS_BAD",
        CKR_ATTRIBUTE_READ_ONLY => "CKR_ATTRIBUTE_READ_ONLY",
        CKR_ATTRIBUTE_TYPE_INVALID => "CKR_ATTRIBUTE_TYPE_INVALID",
        CKR_ATTRIBUTE_VALUE_INVALID => "CKR_ATTRIBUTE_VALUE_INVALID",
        CKR_CURVE_NOT_SUPPORTED => "CKR_CURVE_NOT_SUPPORTED",
        CKR_DATA_INVALID => "CKR_DATA_INVALID",
        CKR_DATA_LEN_RANGE => "CKR_DATA_LEN_RANGE",
        CKR_DOMAIN_PARAMS_INVALID => "CKR_DOMAIN_PARAMS_INVALID",
        CKR_ENCRYPTED_DATA_INVALID => "CKR_ENCRYPTED_DATA_INVALID",
        CKR_ENCRYPTED_DATA_LEN_RANGE => "CKR_ENCRYPTED_DATA_LEN_RANGE",
        CKR_KEY_FUNCTION_NOT_PERMITTED => "CKR_KEY_FUNCTION_NOT_PERMITTED",
        CKR_KEY_HANDLE_INVALID => "CKR_KEY_HANDLE_INVALID",
        CKR_KEY_SIZE_RANGE => "CKR_KEY_SIZE_RANGE",
        CKR_KEY_TYPE_INCONSISTENT => "CKR_KEY_TYPE_INCONSISTENT",
        CKR_MECHANISM_PARAM_INVALID => "CKR_MECHANISM_PARAM_INVALID",
        CKR_SIGNATURE_INVALID => "CKR_SIGNATURE_INVALID",
        CKR_SIGNATURE_LEN_RANGE => "CKR_SIGNATURE_LEN_RANGE",
        CKR_DEVICE_ERROR => "CKR_DEVICE_ERROR",
        CKR_DEVICE_MEMORY => "CKR_DEVICE_MEMORY",
        CKR_FUNCTION_NOT_SUPPORTED => "CKR_FUNCTION_NOT_SUPPORTED",
        CKR_MECHANISM_INVALID => "CKR_MECHANISM_INVALID",
        CKR_OPERATION_ACTIVE => "CKR_OPERATION_ACTIVE",
        CKR_OPERATION_NOT_INITIALIZED => "CKR_OPERATION_NOT_INITIALIZED",
        CKR_PIN_INCORRECT => "CKR_PIN_INCORRECT",
        CKR_PIN_LEN_RANGE => "CKR_PIN_LEN_RANGE",
        CKR_SESSION_HANDLE_INVALID => "CKR_SESSION_HANDLE_INVALID",
        CKR_SESSION_READ_ONLY => "CKR_SESSION_READ_ONLY",
        CKR_SLOT_ID_INVALID => "CKR_SLOT_ID_INVALID",
        CKR_TEMPLATE_INCOMPLETE => "CKR_TEMPLATE_INCOMPLETE",
        CKR_TEMPLATE_INCONSISTENT => "CKR_TEMPLATE_INCONSISTENT",
        CKR_TOKEN_NOT_PRESENT => "CKR_TOKEN_NOT_PRESENT",
        CKR_TOKEN_NOT_RECOGNIZED => "CKR_TOKEN_NOT_RECOGNIZED",
        CKR_USER_ALREADY_LOGGED_IN => "CKR_USER_ALREADY_LOGGED_IN",
        CKR_USER_NOT_LOGGED_IN => "CKR_USER_NOT_LOGGED_IN",
        CKR_USER_PIN_NOT_INITIALIZED => "CKR_USER_PIN_NOT_INITIALIZED",
        CKR_BUFFER_TOO_SMALL => "CKR_BUFFER_TOO_SMALL",
        CKR_CRYPTOKI_NOT_INITIALIZED => "CKR_CRYPTOKI_NOT_INITIALIZED",
        CKR_CRYPTOKI_ALREADY_INITIALIZED => "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        _ => return format!("0x{rv:08X}"),
    };
    name.to_string()
}

fn check(call: &'static str, rv: CK_RV) -> Result<()> {
    if rv == CKR_OK { Ok(()) } else { Err(Error { call, rv }) }
}

/// Calls one entry of the function list; a module that leaves it NULL fails the call
/// with `CKR_FUNCTION_NOT_SUPPORTED`.
macro_rules! call {
    ($self:ident . $name:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: `list` points into the loaded library, which `self` keeps open; every
        // pointer argument is built by the caller from a borrow that outlives the call.
        match unsafe { (*$self.list).$name } {
            Some(f) => check(stringify!($name), unsafe { f($($arg),*) }),
            None => Err(Error { call: stringify!($name), rv: CKR_FUNCTION_NOT_SUPPORTED }),
        }
    }};
}

/// A loaded PKCS#11 module.
pub struct Module {
    list: *const CK_FUNCTION_LIST,
    /// The PKCS#11 3.2 function list, when the module offers it through
    /// `C_GetInterface("PKCS 11", 3.2)`; null otherwise. Only the 3.2 functions
    /// (`C_EncapsulateKey`, `C_DecapsulateKey`) are called through it.
    list32: *const CK_FUNCTION_LIST_3_2,
    // Kept last so that it is dropped (and the library closed) after everything else.
    _lib: libloading::Library,
}

// SAFETY: every module is initialised with CKF_OS_LOCKING_OK, which asks it to be safe to
// call from several threads at once (PKCS#11 v2.40 §5.4); the function list never changes.
unsafe impl Send for Module {}
unsafe impl Sync for Module {}

impl Module {
    /// Loads the shared library at `path` and fetches its function list.
    pub fn load(path: &Path) -> std::result::Result<Module, String> {
        // SAFETY: loading a library runs its initialisers; that is what loading a PKCS#11
        // module means, and the bench is only ever pointed at PKCS#11 modules.
        let lib =
            unsafe { libloading::Library::new(path) }.map_err(|e| format!("cannot load {}: {e}", path.display()))?;
        let mut list: *mut CK_FUNCTION_LIST = ptr::null_mut();
        // SAFETY: C_GetFunctionList has this signature in every PKCS#11 version.
        let rv = unsafe {
            let get: libloading::Symbol<unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV> = lib
                .get(b"C_GetFunctionList\0")
                .map_err(|e| format!("{}: no C_GetFunctionList: {e}", path.display()))?;
            get(&mut list)
        };
        if rv != CKR_OK || list.is_null() {
            return Err(format!("{}: C_GetFunctionList returned {}", path.display(), rv_name(rv)));
        }
        // SAFETY: C_GetInterface has this signature in PKCS#11 3.0 and later; a module
        // without it (2.40) simply has no 3.2 list. The name is NUL-terminated and the
        // version lives on the stack for the call.
        let list32 = unsafe {
            type GetInterface =
                unsafe extern "C" fn(*mut CK_UTF8CHAR, *mut CK_VERSION, *mut *mut CK_INTERFACE, CK_FLAGS) -> CK_RV;
            match lib.get::<GetInterface>(b"C_GetInterface\0") {
                Ok(get) => {
                    let mut version = CK_VERSION { major: 3, minor: 2 };
                    let mut interface: *mut CK_INTERFACE = ptr::null_mut();
                    let rv = get(c"PKCS 11".as_ptr() as *mut CK_UTF8CHAR, &mut version, &mut interface, 0);
                    if rv == CKR_OK && !interface.is_null() {
                        (*interface).pFunctionList as *const CK_FUNCTION_LIST_3_2
                    } else {
                        ptr::null()
                    }
                }
                Err(_) => ptr::null(),
            }
        };
        Ok(Module { list, list32, _lib: lib })
    }

    /// `C_EncapsulateKey` (PKCS#11 3.2) with a ciphertext buffer of `out.len()` bytes;
    /// returns the ciphertext's length and the new key. `CKR_FUNCTION_NOT_SUPPORTED`
    /// when the module offers no 3.2 list.
    pub fn encapsulate_key(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism<'_>,
        public: CK_OBJECT_HANDLE,
        template: &Template<'_>,
        out: &mut [u8],
    ) -> Result<(usize, CK_OBJECT_HANDLE)> {
        let call = "C_EncapsulateKey";
        let not_supported = Error { call, rv: CKR_FUNCTION_NOT_SUPPORTED };
        if self.list32.is_null() {
            return Err(not_supported);
        }
        // SAFETY: `list32` points into the loaded library, which `self` keeps open.
        let f = unsafe { (*self.list32).C_EncapsulateKey }.ok_or(not_supported)?;
        let mut len = out.len() as CK_ULONG;
        let mut key: CK_OBJECT_HANDLE = 0;
        // SAFETY: every pointer is built from a borrow that outlives the call.
        let rv = unsafe {
            f(session, mechanism.ptr(), public, template.ptr(), template.len(), out.as_mut_ptr(), &mut len, &mut key)
        };
        check(call, rv)?;
        Ok((len as usize, key))
    }

    /// `C_DecapsulateKey` (PKCS#11 3.2); returns the new key.
    pub fn decapsulate_key(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism<'_>,
        private: CK_OBJECT_HANDLE,
        template: &Template<'_>,
        ciphertext: &[u8],
    ) -> Result<CK_OBJECT_HANDLE> {
        let call = "C_DecapsulateKey";
        let not_supported = Error { call, rv: CKR_FUNCTION_NOT_SUPPORTED };
        if self.list32.is_null() {
            return Err(not_supported);
        }
        // SAFETY: as in `encapsulate_key`.
        let f = unsafe { (*self.list32).C_DecapsulateKey }.ok_or(not_supported)?;
        let mut key: CK_OBJECT_HANDLE = 0;
        // SAFETY: every pointer is built from a borrow that outlives the call.
        let rv = unsafe {
            f(
                session,
                mechanism.ptr(),
                private,
                template.ptr(),
                template.len(),
                ciphertext.as_ptr() as *mut _,
                ciphertext.len() as CK_ULONG,
                &mut key,
            )
        };
        check(call, rv)?;
        Ok(key)
    }

    /// `C_Initialize` with `CKF_OS_LOCKING_OK` and no mutex callbacks.
    pub fn initialize(&self) -> Result<()> {
        let mut args = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_OS_LOCKING_OK,
            pReserved: ptr::null_mut(),
        };
        call!(self.C_Initialize(&mut args as *mut _ as *mut c_void))
    }

    /// `C_Finalize`.
    pub fn finalize(&self) -> Result<()> {
        call!(self.C_Finalize(ptr::null_mut()))
    }

    /// `C_GetSlotList`, twice: the count, then the list.
    pub fn slot_list(&self, token_present: bool) -> Result<Vec<CK_SLOT_ID>> {
        let present = if token_present { CK_TRUE } else { CK_FALSE };
        let mut count: CK_ULONG = 0;
        call!(self.C_GetSlotList(present, ptr::null_mut(), &mut count))?;
        let mut slots = vec![0; count as usize];
        call!(self.C_GetSlotList(present, slots.as_mut_ptr(), &mut count))?;
        slots.truncate(count as usize);
        Ok(slots)
    }

    /// The token's label, without the blank padding.
    pub fn token_label(&self, slot: CK_SLOT_ID) -> Result<String> {
        // SAFETY: CK_TOKEN_INFO is plain data; all zeroes is a valid value.
        let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
        call!(self.C_GetTokenInfo(slot, &mut info))?;
        Ok(String::from_utf8_lossy(&info.label).trim_end().to_string())
    }

    /// `C_InitToken` with a label padded to 32 bytes.
    pub fn init_token(&self, slot: CK_SLOT_ID, so_pin: &[u8], label: &str) -> Result<()> {
        let mut padded = [b' '; 32];
        let n = label.len().min(32);
        padded[..n].copy_from_slice(&label.as_bytes()[..n]);
        call!(self.C_InitToken(slot, so_pin.as_ptr() as *mut _, so_pin.len() as CK_ULONG, padded.as_mut_ptr()))
    }

    /// `C_OpenSession`, serial, read-write or not, without callbacks.
    pub fn open_session(&self, slot: CK_SLOT_ID, rw: bool) -> Result<CK_SESSION_HANDLE> {
        let flags = CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 };
        let mut session: CK_SESSION_HANDLE = 0;
        call!(self.C_OpenSession(slot, flags, ptr::null_mut(), None, &mut session))?;
        Ok(session)
    }

    /// `C_CloseSession`.
    pub fn close_session(&self, session: CK_SESSION_HANDLE) -> Result<()> {
        call!(self.C_CloseSession(session))
    }

    /// `C_CloseAllSessions`.
    pub fn close_all_sessions(&self, slot: CK_SLOT_ID) -> Result<()> {
        call!(self.C_CloseAllSessions(slot))
    }

    /// `C_Login`.
    pub fn login(&self, session: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        call!(self.C_Login(session, user, pin.as_ptr() as *mut _, pin.len() as CK_ULONG))
    }

    /// `C_Logout`.
    pub fn logout(&self, session: CK_SESSION_HANDLE) -> Result<()> {
        call!(self.C_Logout(session))
    }

    /// `C_InitPIN`.
    pub fn init_pin(&self, session: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        call!(self.C_InitPIN(session, pin.as_ptr() as *mut _, pin.len() as CK_ULONG))
    }

    /// `C_CreateObject`.
    pub fn create_object(&self, session: CK_SESSION_HANDLE, template: &Template<'_>) -> Result<CK_OBJECT_HANDLE> {
        let mut object: CK_OBJECT_HANDLE = 0;
        call!(self.C_CreateObject(session, template.ptr(), template.len(), &mut object))?;
        Ok(object)
    }

    /// `C_DestroyObject`.
    pub fn destroy_object(&self, session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) -> Result<()> {
        call!(self.C_DestroyObject(session, object))
    }

    /// `C_GetMechanismList` of `slot`.
    pub fn mechanism_list(&self, slot: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>> {
        let mut count: CK_ULONG = 0;
        call!(self.C_GetMechanismList(slot, ptr::null_mut(), &mut count))?;
        let mut list = vec![0 as CK_MECHANISM_TYPE; count as usize];
        call!(self.C_GetMechanismList(slot, list.as_mut_ptr(), &mut count))?;
        list.truncate(count as usize);
        Ok(list)
    }

    /// `C_FindObjectsInit`.
    pub fn find_objects_init(&self, session: CK_SESSION_HANDLE, template: &Template<'_>) -> Result<()> {
        call!(self.C_FindObjectsInit(session, template.ptr(), template.len()))
    }

    /// `C_FindObjects` into `found`; returns how many it wrote.
    pub fn find_objects(&self, session: CK_SESSION_HANDLE, found: &mut [CK_OBJECT_HANDLE]) -> Result<usize> {
        let mut count: CK_ULONG = 0;
        call!(self.C_FindObjects(session, found.as_mut_ptr(), found.len() as CK_ULONG, &mut count))?;
        Ok(count as usize)
    }

    /// `C_FindObjectsFinal`.
    pub fn find_objects_final(&self, session: CK_SESSION_HANDLE) -> Result<()> {
        call!(self.C_FindObjectsFinal(session))
    }

    /// `C_GetAttributeValue` of one attribute into `buf`; returns the value's length.
    pub fn get_attribute(
        &self,
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        kind: CK_ATTRIBUTE_TYPE,
        buf: &mut [u8],
    ) -> Result<usize> {
        let mut attr =
            CK_ATTRIBUTE { type_: kind, pValue: buf.as_mut_ptr() as *mut c_void, ulValueLen: buf.len() as CK_ULONG };
        call!(self.C_GetAttributeValue(session, object, &mut attr, 1))?;
        Ok(attr.ulValueLen as usize)
    }

    /// `C_DigestInit`.
    pub fn digest_init(&self, session: CK_SESSION_HANDLE, mechanism: &Mechanism<'_>) -> Result<()> {
        call!(self.C_DigestInit(session, mechanism.ptr()))
    }

    /// `C_Digest` of `data` into `out`; returns the digest's length.
    pub fn digest(&self, session: CK_SESSION_HANDLE, data: &[u8], out: &mut [u8]) -> Result<usize> {
        let mut len = out.len() as CK_ULONG;
        call!(self.C_Digest(session, data.as_ptr() as *mut _, data.len() as CK_ULONG, out.as_mut_ptr(), &mut len))?;
        Ok(len as usize)
    }

    /// `C_GenerateKey`; returns the new key's handle.
    pub fn generate_key(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism<'_>,
        template: &Template<'_>,
    ) -> Result<CK_OBJECT_HANDLE> {
        let mut key: CK_OBJECT_HANDLE = 0;
        call!(self.C_GenerateKey(session, mechanism.ptr(), template.ptr(), template.len(), &mut key))?;
        Ok(key)
    }

    /// `C_GenerateKeyPair`; returns the public and the private key's handles.
    pub fn generate_key_pair(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism<'_>,
        public: &Template<'_>,
        private: &Template<'_>,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let (mut public_key, mut private_key): (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) = (0, 0);
        call!(self.C_GenerateKeyPair(
            session,
            mechanism.ptr(),
            public.ptr(),
            public.len(),
            private.ptr(),
            private.len(),
            &mut public_key,
            &mut private_key,
        ))?;
        Ok((public_key, private_key))
    }

    /// `C_SignInit`.
    pub fn sign_init(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism<'_>,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        call!(self.C_SignInit(session, mechanism.ptr(), key))
    }

    /// `C_Sign` of `data` into `out`; returns the signature's length.
    pub fn sign(&self, session: CK_SESSION_HANDLE, data: &[u8], out: &mut [u8]) -> Result<usize> {
        let mut len = out.len() as CK_ULONG;
        call!(self.C_Sign(session, data.as_ptr() as *mut _, data.len() as CK_ULONG, out.as_mut_ptr(), &mut len))?;
        Ok(len as usize)
    }

    /// `C_VerifyInit`.
    pub fn verify_init(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism<'_>,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        call!(self.C_VerifyInit(session, mechanism.ptr(), key))
    }

    /// `C_Verify` of `signature` over `data`: `Ok` only when it is valid.
    pub fn verify(&self, session: CK_SESSION_HANDLE, data: &[u8], signature: &[u8]) -> Result<()> {
        call!(self.C_Verify(
            session,
            data.as_ptr() as *mut _,
            data.len() as CK_ULONG,
            signature.as_ptr() as *mut _,
            signature.len() as CK_ULONG,
        ))
    }

    /// `C_EncryptInit`.
    pub fn encrypt_init(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism<'_>,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        call!(self.C_EncryptInit(session, mechanism.ptr(), key))
    }

    /// `C_Encrypt` of `data` into `out` (single-part); returns the ciphertext's length.
    pub fn encrypt(&self, session: CK_SESSION_HANDLE, data: &[u8], out: &mut [u8]) -> Result<usize> {
        let mut len = out.len() as CK_ULONG;
        call!(self.C_Encrypt(session, data.as_ptr() as *mut _, data.len() as CK_ULONG, out.as_mut_ptr(), &mut len))?;
        Ok(len as usize)
    }

    /// `C_DecryptInit`.
    pub fn decrypt_init(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: &Mechanism<'_>,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        call!(self.C_DecryptInit(session, mechanism.ptr(), key))
    }

    /// `C_Decrypt` of `data` into `out` (single-part); returns the plaintext's length.
    pub fn decrypt(&self, session: CK_SESSION_HANDLE, data: &[u8], out: &mut [u8]) -> Result<usize> {
        let mut len = out.len() as CK_ULONG;
        call!(self.C_Decrypt(session, data.as_ptr() as *mut _, data.len() as CK_ULONG, out.as_mut_ptr(), &mut len))?;
        Ok(len as usize)
    }
}

/// The most attributes a [`Template`] holds; it lives on the stack.
const MAX_ATTRIBUTES: usize = 16;

/// An attribute template whose values are borrowed for `'a`.
pub struct Template<'a> {
    attrs: [CK_ATTRIBUTE; MAX_ATTRIBUTES],
    len: usize,
    _values: PhantomData<&'a [u8]>,
}

impl<'a> Template<'a> {
    /// An empty template.
    pub fn new() -> Template<'a> {
        let empty = CK_ATTRIBUTE { type_: 0, pValue: ptr::null_mut(), ulValueLen: 0 };
        Template { attrs: [empty; MAX_ATTRIBUTES], len: 0, _values: PhantomData }
    }

    /// Adds an attribute whose value is `value`'s bytes.
    pub fn bytes(mut self, kind: CK_ATTRIBUTE_TYPE, value: &'a [u8]) -> Template<'a> {
        assert!(self.len < MAX_ATTRIBUTES, "template longer than {MAX_ATTRIBUTES}");
        // Modules only read a template's values; the pointer is `*mut` because the C
        // declaration is.
        self.attrs[self.len] =
            CK_ATTRIBUTE { type_: kind, pValue: value.as_ptr() as *mut c_void, ulValueLen: value.len() as CK_ULONG };
        self.len += 1;
        self
    }

    /// Adds a `CK_ULONG` attribute.
    pub fn ulong(self, kind: CK_ATTRIBUTE_TYPE, value: &'a CK_ULONG) -> Template<'a> {
        // SAFETY: a CK_ULONG is plain data of that many bytes, borrowed for 'a.
        let bytes = unsafe {
            std::slice::from_raw_parts(value as *const CK_ULONG as *const u8, std::mem::size_of::<CK_ULONG>())
        };
        self.bytes(kind, bytes)
    }

    /// Adds a `CK_BBOOL` attribute.
    pub fn bool(self, kind: CK_ATTRIBUTE_TYPE, value: &'a CK_BBOOL) -> Template<'a> {
        self.bytes(kind, std::slice::from_ref(value))
    }

    fn ptr(&self) -> *mut CK_ATTRIBUTE {
        self.attrs.as_ptr() as *mut CK_ATTRIBUTE
    }

    fn len(&self) -> CK_ULONG {
        self.len as CK_ULONG
    }
}

/// A mechanism and its parameter, borrowed for `'a`.
pub struct Mechanism<'a> {
    raw: CK_MECHANISM,
    _param: PhantomData<&'a [u8]>,
}

impl<'a> Mechanism<'a> {
    /// A mechanism without a parameter.
    pub fn new(mechanism: CK_MECHANISM_TYPE) -> Mechanism<'a> {
        Mechanism {
            raw: CK_MECHANISM { mechanism, pParameter: ptr::null_mut(), ulParameterLen: 0 },
            _param: PhantomData,
        }
    }

    /// A mechanism whose parameter is the plain-data structure `param` (a
    /// `CK_GCM_PARAMS`, say), borrowed for `'a`.
    pub fn with_param<P>(mechanism: CK_MECHANISM_TYPE, param: &'a P) -> Mechanism<'a> {
        Mechanism {
            raw: CK_MECHANISM {
                mechanism,
                // Modules only read a parameter; the pointer is `*mut` because the C
                // declaration is.
                pParameter: param as *const P as *mut c_void,
                ulParameterLen: std::mem::size_of::<P>() as CK_ULONG,
            },
            _param: PhantomData,
        }
    }

    fn ptr(&self) -> *mut CK_MECHANISM {
        &self.raw as *const CK_MECHANISM as *mut CK_MECHANISM
    }
}

/// `CK_GCM_PARAMS` for an AES-GCM operation, borrowing its IV and AAD for `'a`.
pub struct GcmParams<'a> {
    raw: CK_GCM_PARAMS,
    _borrows: PhantomData<&'a [u8]>,
}

impl<'a> GcmParams<'a> {
    /// The parameters for `iv` (its full length, in bytes and in bits), `aad` and a tag of
    /// `tag_bits` bits.
    pub fn new(iv: &'a [u8], aad: &'a [u8], tag_bits: usize) -> GcmParams<'a> {
        GcmParams {
            raw: CK_GCM_PARAMS {
                pIv: iv.as_ptr() as *mut CK_BYTE,
                ulIvLen: iv.len() as CK_ULONG,
                ulIvBits: (iv.len() * 8) as CK_ULONG,
                pAAD: if aad.is_empty() { ptr::null_mut() } else { aad.as_ptr() as *mut CK_BYTE },
                ulAADLen: aad.len() as CK_ULONG,
                ulTagBits: tag_bits as CK_ULONG,
            },
            _borrows: PhantomData,
        }
    }

    /// `CKM_AES_GCM` with these parameters.
    pub fn mechanism(&self) -> Mechanism<'_> {
        Mechanism::with_param(CKM_AES_GCM, &self.raw)
    }
}

/// `true` and `false` as `CK_BBOOL`s to borrow in templates.
pub const TRUE: CK_BBOOL = CK_TRUE;
/// See [`TRUE`].
pub const FALSE: CK_BBOOL = CK_FALSE;
