//! The one error type of the tools, and the plain-language meaning of each `CK_RV`
//! an operator is likely to meet.

use std::fmt;
use std::path::PathBuf;

use cryptoki::error::{Error as CkError, RvError};

/// What went wrong. Every variant prints as one line.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No PKCS#11 module was found at any of the places searched.
    ModuleNotFound {
        /// The places looked at, in order.
        tried: Vec<PathBuf>,
    },
    /// A module was named explicitly (`--module`, `FERROHSM_MODULE`) but is not there.
    ModuleMissing {
        /// The path given.
        path: PathBuf,
        /// Where it came from (`--module` or `FERROHSM_MODULE`).
        source: &'static str,
    },
    /// The module file exists but could not be loaded as a PKCS#11 library.
    ModuleLoad {
        /// The module.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// A PKCS#11 call returned an error.
    Pkcs11 {
        /// What the tool was doing, for the message ("logging in as device SO").
        doing: String,
        /// The return value.
        rv: RvError,
        /// More the tool found out, e.g. the PIN's state after a wrong PIN.
        note: Option<String>,
    },
    /// The `cryptoki` crate failed outside of a `CK_RV` (conversion, missing symbol).
    Cryptoki {
        /// What the tool was doing.
        doing: String,
        /// The crate's message.
        reason: String,
    },
    /// A partition, slot or token that the command names does not exist.
    NotFound(String),
    /// The token answered something the tool cannot make sense of.
    Unexpected(String),
    /// Anything else, already worded for the operator.
    Other(String),
}

/// The tools' result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The `CK_RV` behind this error, if it came from the module.
    pub fn rv(&self) -> Option<RvError> {
        match self {
            Error::Pkcs11 { rv, .. } => Some(*rv),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ModuleNotFound { tried } => {
                let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "no ferrohsm PKCS#11 module found (tried {}); pass --module PATH or set \
                     FERROHSM_MODULE, or build it with `cargo build -p ferrohsm-pkcs11`",
                    tried.join(", ")
                )
            }
            Error::ModuleMissing { path, source } => {
                write!(f, "module {} (from {source}) does not exist", path.display())
            }
            Error::ModuleLoad { path, reason } => {
                write!(f, "cannot load module {}: {reason}", path.display())
            }
            Error::Pkcs11 { doing, rv, note } => {
                write!(f, "{doing}: {} ({})", explain(*rv), rv_name(*rv))?;
                match note {
                    Some(n) => write!(f, "; {n}"),
                    None => Ok(()),
                }
            }
            Error::Cryptoki { doing, reason } => write!(f, "{doing}: {reason}"),
            Error::NotFound(m) | Error::Unexpected(m) | Error::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(s: String) -> Error {
        Error::Other(s)
    }
}

/// Adds what the tool was doing to a `cryptoki` error.
pub trait Doing<T> {
    /// Turns the error into [`Error`], saying what was being done.
    fn doing(self, what: impl Into<String>) -> Result<T>;
}

impl<T> Doing<T> for cryptoki::error::Result<T> {
    fn doing(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|e| match e {
            CkError::Pkcs11(rv, _) => Error::Pkcs11 { doing: what.into(), rv, note: None },
            other => Error::Cryptoki { doing: what.into(), reason: other.to_string() },
        })
    }
}

/// The spec's name of a return value, e.g. `CKR_PIN_INCORRECT`.
///
/// `cryptoki` keeps the variant name (`PinIncorrect`) but not the code, so the name
/// is rebuilt from it; the variants follow the spec's names word for word.
pub fn rv_name(rv: RvError) -> String {
    match rv {
        RvError::VendorDefined(v) => return format!("vendor-defined CK_RV {v:#x}"),
        RvError::UnknownErrorCode(v) => return format!("CK_RV {v:#x}"),
        _ => {}
    }
    let debug = format!("{rv:?}");
    let mut name = String::from("CKR");
    for c in debug.chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// One line of plain language for the return values an operator meets; the rest get
/// a generic phrase (the name printed beside it says exactly what happened).
pub fn explain(rv: RvError) -> &'static str {
    use RvError::*;
    match rv {
        PinIncorrect => "wrong PIN",
        PinLocked => "the PIN is locked after too many wrong attempts",
        PinLenRange => "the PIN is too short or too long for this partition's policy",
        PinInvalid => "the PIN contains characters the token does not accept",
        UserPinNotInitialized => "no user PIN is set on this token yet",
        UserNotLoggedIn => "this needs a login the session does not have",
        UserAlreadyLoggedIn => "already logged in",
        UserAnotherAlreadyLoggedIn => "another role is already logged in on this token",
        UserTypeInvalid => "that role does not exist on this token",
        SessionReadOnly => "the session is read-only",
        SessionReadOnlyExists => "a read-only session is open, so the SO cannot log in",
        SessionReadWriteSoExists => "the SO is logged in, so only read/write sessions open",
        SessionExists => "sessions are open on this token; close them first",
        SessionCount => "too many sessions",
        TokenNotRecognized => "the token is not initialised",
        TokenNotPresent => "no token in this slot",
        TokenWriteProtected => "the token is read-only (its partition policy says so)",
        SlotIdInvalid => "no such slot",
        ActionProhibited => "the token does not allow this on that object",
        AttributeReadOnly => "that attribute cannot be changed",
        AttributeTypeInvalid => "the token does not know one of the attributes",
        AttributeValueInvalid => "one of the values is out of range",
        TemplateIncomplete => "a required attribute is missing",
        TemplateInconsistent => "the attributes contradict each other",
        ObjectHandleInvalid => "the object no longer exists",
        FunctionFailed => "the module could not do it (see its message above)",
        GeneralError => "the module failed (see its message above)",
        DeviceError => "the token's store failed (see the module's message above)",
        DeviceMemory => "the token is out of space",
        HostMemory => "out of memory",
        CryptokiNotInitialized => "the module is not initialised",
        FunctionNotSupported => "the module does not support this call",
        ArgumentsBad => "the module rejected the arguments",
        _ => "the token refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec() {
        assert_eq!(rv_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(rv_name(RvError::SlotIdInvalid), "CKR_SLOT_ID_INVALID");
        assert_eq!(rv_name(RvError::SessionReadWriteSoExists), "CKR_SESSION_READ_WRITE_SO_EXISTS");
        assert_eq!(rv_name(RvError::VendorDefined(0x8000_0001)), "vendor-defined CK_RV 0x80000001");
    }

    #[test]
    fn one_line_with_name() {
        let e = Error::Pkcs11 { doing: "logging in as device SO".into(), rv: RvError::PinIncorrect, note: None };
        let s = e.to_string();
        assert!(s.starts_with("logging in as device SO: wrong PIN"), "{s}");
        assert!(s.ends_with("wrong PIN (CKR_PIN_INCORRECT)"), "{s}");
        assert!(!s.contains('\n'));
    }
}
