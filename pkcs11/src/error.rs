//! The one error type of the module: a `CK_RV` picked where the error arises, plus
//! context for the log.

use std::borrow::Cow;
use std::fmt;

use cryptoki_sys::*;

use crate::names;

/// A `CK_RV` with a human-readable explanation (never containing secrets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    rv: CK_RV,
    context: Option<Cow<'static, str>>,
}

/// A result with the module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error that becomes `rv` at the C boundary.
    pub const fn new(rv: CK_RV) -> Self {
        Self { rv, context: None }
    }

    /// Adds a note for the log.
    #[must_use]
    pub fn context(mut self, c: impl Into<Cow<'static, str>>) -> Self {
        self.context = Some(c.into());
        self
    }

    /// The `CK_RV` this error becomes.
    pub fn rv(&self) -> CK_RV {
        self.rv
    }

    /// The explanation (the `CK_RV` name when there is none).
    pub fn message(&self) -> String {
        match &self.context {
            Some(c) => c.to_string(),
            None => Rv(self.rv).to_string(),
        }
    }
}

/// Shorthand: `Err(err(CKR_X, "why"))`.
pub fn err(rv: CK_RV, context: impl Into<Cow<'static, str>>) -> Error {
    Error::new(rv).context(context)
}

/// A `CK_RV` that prints its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rv(pub CK_RV);

impl fmt::Display for Rv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match names::rv(self.0) {
            Some(n) => f.write_str(n),
            None => write!(f, "CKR_{:#x}", self.0),
        }
    }
}

/// A mechanism type that prints its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mech(pub CK_MECHANISM_TYPE);

impl fmt::Display for Mech {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match names::mechanism(self.0) {
            Some(n) => f.write_str(n),
            None => write!(f, "CKM_{:#x}", self.0),
        }
    }
}

/// An attribute type that prints its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr(pub CK_ATTRIBUTE_TYPE);

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match names::attribute(self.0) {
            Some(n) => f.write_str(n),
            None => write!(f, "CKA_{:#x}", self.0),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Rv(self.rv))?;
        if let Some(c) = &self.context {
            write!(f, ": {c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<ferrohsm_store::Error> for Error {
    fn from(e: ferrohsm_store::Error) -> Self {
        use ferrohsm_store::Error as S;
        let rv = match &e {
            S::InUse { .. } | S::Config(_) | S::KeyFile(_) => CKR_FUNCTION_FAILED,
            S::Io { .. } | S::Db(_) if e.is_out_of_space() => CKR_DEVICE_MEMORY,
            S::Io { .. } | S::Db(_) | S::Corrupt(_) => CKR_DEVICE_ERROR,
            // A partition vanished under us: it was deleted.
            S::NotFound => CKR_TOKEN_NOT_PRESENT,
            S::PinIncorrect { .. } => CKR_PIN_INCORRECT,
            S::PinLocked => CKR_PIN_LOCKED,
            S::PinNotSet => CKR_USER_PIN_NOT_INITIALIZED,
            S::Locked => CKR_USER_NOT_LOGGED_IN,
        };
        Error::new(rv).context(e.to_string())
    }
}
