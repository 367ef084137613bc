//! `ferrohsm serve`: shares the store through `p11-kit server`.
//!
//! sled lets one process at a time open the store, so other processes reach it
//! through p11-kit: `p11-kit server` listens on a Unix socket and, for each client
//! connection, runs `p11-kit remote` which loads this module; clients load p11-kit's
//! client module with `P11_KIT_SERVER_ADDRESS` set. This command checks the store
//! and the module first, prints how clients connect, then replaces itself with
//! `p11-kit server -f` (exec), so signals reach p11-kit directly and its exit status
//! is ours.

use std::env;
use std::fs::{self, DirBuilder};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Failure;
use ferrohsm_tools::error::{Doing, Error, Result};

/// The token URI exported: every ferrohsm token.
pub const TOKEN_URI: &str = "pkcs11:manufacturer=ferrohsm";

/// Where distributions put p11-kit's client module, Debian's first.
pub const CLIENT_MODULES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
    "/usr/lib64/pkcs11/p11-kit-client.so",
    "/usr/lib/pkcs11/p11-kit-client.so",
];

/// Runs `serve`; returns only on failure.
pub fn run(module: Option<&Path>, socket: Option<PathBuf>, p11_kit: &Path) -> Result<(), Failure> {
    let store = ferrohsm_store::config::resolve().map_err(|e| Error::Other(format!("finding the store: {e}")))?.store;
    let (module, ctx) = super::load(module)?;
    let hidden = preflight(&ctx)?;
    // Close the store before p11-kit's children open it (exec would release the
    // lock anyway: the module's files are opened close-on-exec).
    ctx.finalize().doing("closing the module (C_Finalize)")?;

    let socket = match socket {
        Some(s) => absolute(&s)?,
        None => default_socket()?,
    };
    prepare_socket(&socket)?;
    let address = format!("unix:path={}", encode(&socket));
    let client = CLIENT_MODULES.iter().find(|p| Path::new(p).is_file()).copied().unwrap_or(CLIENT_MODULES[0]);

    println!("ferrohsm: serving store {}", store.display());
    println!("ferrohsm: module {}", module.display());
    println!("ferrohsm: socket {} (tokens {TOKEN_URI})", socket.display());
    if let Some(w) = hidden {
        println!("ferrohsm: warning: {w}");
    }
    println!("In the client's shell:");
    println!("  export P11_KIT_SERVER_ADDRESS={address}");
    println!("  pkcs11-tool --module {client} --list-slots");
    println!(
        "Each client connection runs its own copy of the module, and the store admits one \
         process at a time: while one client is connected, another gets CKR_DEVICE_ERROR."
    );
    println!("Stop with Ctrl-C. p11-kit server follows:");
    let _ = std::io::stdout().flush();

    let err = Command::new(p11_kit)
        .arg("server")
        .arg("-f")
        .arg("--provider")
        .arg(&module)
        .arg("-n")
        .arg(&socket)
        .arg(TOKEN_URI)
        .exec();
    Err(Error::Other(format!(
        "running {} server: {err}{}",
        p11_kit.display(),
        if err.kind() == std::io::ErrorKind::NotFound {
            " (install p11-kit, e.g. `apt-get install p11-kit`)"
        } else {
            ""
        }
    ))
    .into())
}

/// Checks that the module opens the store and lists its tokens; returns a warning
/// when an uninitialised token hides later ones from p11-kit clients.
///
/// p11-kit builds its token list by opening a session on each token in slot order
/// and stops at the first that refuses one; ferrohsm refuses sessions on an
/// uninitialised token (`CKR_TOKEN_NOT_RECOGNIZED`), so clients see the slots up to
/// and including the first uninitialised token, and none after it.
fn preflight(ctx: &cryptoki::context::Pkcs11) -> Result<Option<String>> {
    let slots = ctx.get_all_slots().doing("listing slots (C_GetSlotList)")?;
    let mut first_uninit = None;
    for (i, slot) in slots.iter().enumerate() {
        let ti =
            ctx.get_token_info(*slot).doing(format!("reading the token in slot {} (C_GetTokenInfo)", slot.id()))?;
        if !ti.token_initialized() {
            first_uninit = Some(i);
            break;
        }
    }
    Ok(match first_uninit {
        Some(i) if i + 1 < slots.len() => {
            let after: Vec<String> = slots[i + 1..].iter().map(|s| s.id().to_string()).collect();
            Some(format!(
                "slot {} is not initialised, and p11-kit stops listing tokens there: clients \
                 will not see slot(s) {} until it is initialised or removed",
                slots[i].id(),
                after.join(", ")
            ))
        }
        _ => None,
    })
}

/// This process's user id (the owner of `/proc/self`), in safe code.
fn uid() -> Result<u32> {
    fs::metadata("/proc/self").map(|m| m.uid()).map_err(|e| Error::Other(format!("finding the user id: {e}")))
}

/// `$XDG_RUNTIME_DIR/ferrohsm/p11-kit.sock`, else `/tmp/ferrohsm-$UID/p11-kit.sock`.
fn default_socket() -> Result<PathBuf> {
    let dir = match env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(d) if Path::new(&d).is_dir() => PathBuf::from(d).join("ferrohsm"),
        _ => PathBuf::from(format!("/tmp/ferrohsm-{}", uid()?)),
    };
    Ok(dir.join("p11-kit.sock"))
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::Other(format!("socket {}: {e}", p.display())))
}

/// Makes the socket's directory (mode 0700), checks that nobody else can write to
/// it (it may be in /tmp), and that no server already listens on the socket:
/// p11-kit removes an existing socket file before it binds.
fn prepare_socket(socket: &Path) -> Result<()> {
    let dir = socket.parent().ok_or_else(|| Error::Other(format!("socket {} has no directory", socket.display())))?;
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::Other(format!("creating {}: {e}", dir.display())))?;
    }
    let meta = fs::metadata(dir).map_err(|e| Error::Other(format!("{}: {e}", dir.display())))?;
    let me = uid()?;
    // A directory we made ourselves, or a shared one with the sticky bit, is fine;
    // someone else's writable directory is not (they could swap the socket).
    let mode = meta.permissions().mode();
    if meta.uid() != me && (mode & 0o022 != 0) && (mode & 0o1000 == 0) {
        return Err(Error::Other(format!(
            "{} is writable by others: choose another place with --socket",
            dir.display()
        )));
    }
    if meta.uid() != me && dir.starts_with("/tmp/ferrohsm-") {
        return Err(Error::Other(format!(
            "{} belongs to another user: choose another place with --socket",
            dir.display()
        )));
    }
    if UnixStream::connect(socket).is_ok() {
        return Err(Error::Other(format!(
            "a server already listens on {}: stop it, or choose another --socket",
            socket.display()
        )));
    }
    // A Unix socket path is at most 107 bytes on Linux.
    if socket.as_os_str().len() > 107 {
        return Err(Error::Other(format!("socket path {} is too long (at most 107 bytes)", socket.display())));
    }
    Ok(())
}

/// Percent-encodes a path for `P11_KIT_SERVER_ADDRESS`, as p11-kit does.
fn encode(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in p.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_unsafe_bytes() {
        assert_eq!(encode(Path::new("/tmp/a b/s.sock")), "/tmp/a%20b/s.sock");
        assert_eq!(encode(Path::new("/run/user/0/ferrohsm/p11-kit.sock")), "/run/user/0/ferrohsm/p11-kit.sock");
    }
}
