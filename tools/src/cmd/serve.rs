//! `ferrohsm serve`: shares the store with other processes through p11-kit's client
//! module.
//!
//! sled lets one process at a time open the store, so this process opens it (the
//! module built into this program, initialised here) and serves p11-kit's RPC
//! protocol on a Unix socket itself ([`ferrohsm_pkcs11::rpc`]): a thread per client
//! connection, each connection its own PKCS#11 application with its own sessions
//! and login. Clients load `p11-kit-client.so` with `P11_KIT_SERVER_ADDRESS` set.
//! (`p11-kit server` would start a process per connection, each loading the module,
//! and the second one could not open the store.)

use std::collections::HashMap;
use std::env;
use std::fs::{self, DirBuilder};
use std::io::{ErrorKind, Write};
use std::net::Shutdown;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::Failure;
use ferrohsm_pkcs11::module as hsm;
use ferrohsm_tools::error::{Error, Result};

/// Where distributions put p11-kit's client module, Debian's first.
pub const CLIENT_MODULES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
    "/usr/lib64/pkcs11/p11-kit-client.so",
    "/usr/lib/pkcs11/p11-kit-client.so",
];

/// How often the accept loop looks for a stop signal when no client connects.
const POLL: Duration = Duration::from_millis(25);

/// How long a stop waits for connections to wind down before closing the store.
const DRAIN: Duration = Duration::from_secs(5);

/// The open client connections: a handle on each socket, to shut them at a stop.
type Clients = Arc<Mutex<HashMap<u64, UnixStream>>>;

/// Runs `serve` until SIGTERM, SIGINT or SIGHUP.
pub fn run(module: Option<&Path>, socket: Option<PathBuf>, max_clients: usize) -> Result<(), Failure> {
    let store = ferrohsm_store::config::resolve().map_err(|e| Error::Other(format!("finding the store: {e}")))?.store;
    let socket = match socket {
        Some(s) => absolute(&s)?,
        None => default_socket()?,
    };
    prepare_socket(&socket)?;

    // Signals first: a SIGTERM that arrives while the store opens still stops us
    // cleanly, after it.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| Error::Other(format!("installing the signal handler: {e}")))?;
    }

    hsm::initialize().map_err(|e| Error::Other(format!("opening the store {}: {}", store.display(), e.message())))?;
    let listener = match listen(&socket) {
        Ok(l) => l,
        Err(e) => {
            let _ = hsm::finalize();
            return Err(e.into());
        }
    };

    let address = format!("unix:path={}", encode(&socket));
    let client = CLIENT_MODULES.iter().find(|p| Path::new(p).is_file()).copied().unwrap_or(CLIENT_MODULES[0]);
    println!("ferrohsm: serving store {}", store.display());
    println!("ferrohsm: module built in (ferrohsm-pkcs11 {})", env!("CARGO_PKG_VERSION"));
    if let Some(m) = module {
        println!("ferrohsm: note: serve does not load {}: it serves the module built into ferrohsm", m.display());
    }
    println!("ferrohsm: socket {} (mode 0600: only this user may connect)", socket.display());
    println!("In the client's shell:");
    println!("  export P11_KIT_SERVER_ADDRESS={address}");
    println!("  pkcs11-tool --module {client} --list-slots");
    println!(
        "Each connection is its own PKCS#11 application: it opens its own sessions and \
         logs in itself. At most {max_clients} connections at once."
    );
    println!("Stop with Ctrl-C (or SIGTERM).");
    let _ = std::io::stdout().flush();

    let clients: Clients = Arc::default();
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                thread::sleep(POLL);
                continue;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("ferrohsm: accepting a connection: {e}");
                thread::sleep(POLL);
                continue;
            }
        };
        threads.retain(|t| !t.is_finished());
        if clients.lock().expect("clients").len() >= max_clients {
            eprintln!("ferrohsm: refusing a connection: {max_clients} clients are connected (--max-clients)");
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        next_id += 1;
        match start_client(next_id, stream, &clients) {
            Ok(t) => threads.push(t),
            Err(e) => eprintln!("ferrohsm: connection {next_id}: {e}"),
        }
    }

    // Stop: no new connections; end the open ones (each closes its sessions and
    // logs out), then close the store.
    drop(listener);
    let _ = fs::remove_file(&socket);
    for s in clients.lock().expect("clients").values() {
        let _ = s.shutdown(Shutdown::Both);
    }
    let deadline = Instant::now() + DRAIN;
    while threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    for t in threads.into_iter().filter(|t| t.is_finished()) {
        let _ = t.join();
    }
    hsm::finalize().map_err(|e| Error::Other(format!("closing the store: {}", e.message())))?;
    println!("ferrohsm: stopped; socket removed, store closed");
    Ok(())
}

/// Serves one connection on its own thread.
fn start_client(id: u64, stream: UnixStream, clients: &Clients) -> std::io::Result<JoinHandle<()>> {
    // Accepted sockets must block: the connection's thread reads them.
    stream.set_nonblocking(false)?;
    clients.lock().expect("clients").insert(id, stream.try_clone()?);
    let clients = clients.clone();
    thread::Builder::new().name(format!("client-{id}")).spawn(move || {
        eprintln!("ferrohsm: connection {id} opened");
        let how = match ferrohsm_pkcs11::rpc::serve_connection(&stream) {
            Ok(()) => "closed".to_string(),
            Err(e) => format!("dropped ({e})"),
        };
        clients.lock().expect("clients").remove(&id);
        eprintln!("ferrohsm: connection {id} {how}: its sessions are closed and its login is gone");
    })
}

/// Binds the socket with mode 0600 from the start: bound under a temporary name in
/// the same directory, restricted, then renamed into place, so that no one can
/// connect in between.
fn listen(socket: &Path) -> Result<UnixListener> {
    let name = socket.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = socket.with_file_name(format!(".{name}.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let fail = |what: &str, e: std::io::Error| Error::Other(format!("{what} {}: {e}", socket.display()));
    let listener = UnixListener::bind(&tmp).map_err(|e| fail("listening on", e))?;
    let placed = fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).and_then(|()| fs::rename(&tmp, socket));
    if let Err(e) = placed {
        let _ = fs::remove_file(&tmp);
        return Err(fail("placing", e));
    }
    listener.set_nonblocking(true).map_err(|e| fail("listening on", e))?;
    Ok(listener)
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
/// it (it may be in /tmp), that no server already listens on the socket, and
/// removes a stale socket a stopped server left.
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
    // A Unix socket path is at most 107 bytes on Linux.
    if socket.as_os_str().len() > 107 {
        return Err(Error::Other(format!("socket path {} is too long (at most 107 bytes)", socket.display())));
    }
    if UnixStream::connect(socket).is_ok() {
        return Err(Error::Other(format!(
            "a server already listens on {}: stop it, or choose another --socket",
            socket.display()
        )));
    }
    match fs::symlink_metadata(socket) {
        // Nobody listens: a socket left by a server that did not stop cleanly.
        Ok(m) if m.file_type().is_socket() => fs::remove_file(socket)
            .map_err(|e| Error::Other(format!("removing the stale socket {}: {e}", socket.display()))),
        Ok(_) => Err(Error::Other(format!("{} exists and is not a socket: choose another --socket", socket.display()))),
        Err(_) => Ok(()),
    }
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
