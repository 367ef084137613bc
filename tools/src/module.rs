//! Finding and loading the ferrohsm PKCS#11 module.

use std::env;
use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};

use crate::error::{Doing, Error, Result};

/// The module's file name.
pub const MODULE_FILE: &str = "libferrohsm_pkcs11.so";

/// The environment variable that names the module.
pub const MODULE_ENV: &str = "FERROHSM_MODULE";

/// System directories searched last, in order.
pub const SYSTEM_DIRS: &[&str] = &["/usr/local/lib", "/usr/lib/x86_64-linux-gnu/pkcs11"];

/// Finds the module: `explicit` (the `--module` flag), else `FERROHSM_MODULE`, else
/// `libferrohsm_pkcs11.so` beside the running executable, else `../lib/` relative to
/// it, else the [`SYSTEM_DIRS`].
///
/// A module named explicitly must exist: the search does not fall back past it, so a
/// typo is reported rather than silently replaced by another module.
pub fn find(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return named(p, "--module");
    }
    if let Some(p) = env::var_os(MODULE_ENV).filter(|v| !v.is_empty()) {
        return named(Path::new(&p), MODULE_ENV);
    }
    let mut tried = Vec::new();
    if let Ok(exe) = env::current_exe()
        && let Some(dir) = exe.parent()
    {
        tried.push(dir.join(MODULE_FILE));
        tried.push(dir.join("../lib").join(MODULE_FILE));
    }
    tried.extend(SYSTEM_DIRS.iter().map(|d| Path::new(d).join(MODULE_FILE)));
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => Ok(absolute(p)),
        None => Err(Error::ModuleNotFound { tried }),
    }
}

fn named(p: &Path, source: &'static str) -> Result<PathBuf> {
    if p.is_file() { Ok(absolute(p)) } else { Err(Error::ModuleMissing { path: p.to_path_buf(), source }) }
}

/// The canonical path when there is one (so messages and `p11-kit` get a path that
/// works from any directory), else the path as given.
fn absolute(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// Loads the module at `path` and calls `C_Initialize` with OS locking.
///
/// The store opens in `C_Initialize`; when another process holds it, the module
/// prints a line naming the store and the call fails with `CKR_FUNCTION_FAILED`.
pub fn load(path: &Path) -> Result<Pkcs11> {
    let ctx = Pkcs11::new(path).map_err(|e| Error::ModuleLoad { path: path.to_path_buf(), reason: e.to_string() })?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .doing(format!("initialising {} (C_Initialize)", path.display()))?;
    Ok(ctx)
}
