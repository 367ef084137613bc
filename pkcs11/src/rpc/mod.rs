//! A server of p11-kit's RPC protocol, inside the module's process: what
//! `ferrohsm serve` runs so that many processes share one store.
//!
//! p11-kit's client module (`p11-kit-client.so`) forwards every PKCS#11 call of the
//! application that loaded it over a Unix socket (`P11_KIT_SERVER_ADDRESS`).
//! `p11-kit server` answers such calls by starting a `p11-kit remote` process per
//! connection, each loading the module; our store admits one process at a time, so
//! that cannot serve two clients at once. This server answers the same protocol
//! itself, one thread per connection, and every connection is its own PKCS#11
//! *application* ([`crate::module::new_app`]): its own sessions, its own login, its
//! own session objects (PKCS#11 §2.5). Calls go to the same safe functions of
//! [`crate::token`] that the C ABI calls.
//!
//! The protocol, as p11-kit 0.24 speaks it (`p11-kit/rpc-transport.c`,
//! `rpc-message.c`, `rpc-server.c`):
//!
//! 1. The client sends one byte, the protocol version (0); the server answers with
//!    the version it speaks (0).
//! 2. Then messages, each way: a 12-byte header (`u32` call code, `u32` options
//!    length, `u32` body length, big-endian), the options (the client's module name,
//!    ignored), the body. A response carries the request's call code.
//! 3. A body is the call id (`u32`), the call's signature (a byte array, e.g.
//!    `"uMu"` for `C_SignInit`) and the arguments ([`codec`]). A response repeats
//!    the id with the response signature and the outputs; a call that failed is
//!    answered with id 0, signature `"u"` and the `CK_RV`.
//!
//! Nothing a client sends can take the server down: every length is bounded (a
//! body over [`MAX_MESSAGE`] ends the connection), a request that does not parse
//! gets `CKR_DEVICE_ERROR` (p11-kit's answer to a malformed request) and the
//! connection goes on, and a panic in a call ends only that connection.

mod calls;
pub mod codec;
#[cfg(test)]
mod tests;

use std::io::{self, Read, Write};
use std::panic::{self, AssertUnwindSafe};

use zeroize::Zeroizing;

use crate::module::{self, LOCAL_APP};

/// The largest request body accepted (16 MiB): far above any real call (the
/// biggest are data for a single-part encryption), far below what would hurt.
pub const MAX_MESSAGE: usize = 16 << 20;

/// The largest options block accepted (p11-kit sends its module name there).
const MAX_OPTIONS: usize = 4096;

/// The protocol version this server speaks (p11-kit 0.24's only one).
pub const PROTOCOL_VERSION: u8 = 0;

/// Serves one client connection until it ends: end of stream, an I/O error, a
/// malformed frame, or the client's `C_Finalize`.
///
/// Runs on the calling thread, which becomes a new PKCS#11 application for the
/// duration; afterwards that application's sessions are closed and its logins
/// dropped ([`crate::token::session::end_app`]), however the connection ended, and
/// the thread goes back to being the local application. The module must be
/// initialised ([`crate::module::initialize`]) before, and stay so.
pub fn serve_connection(stream: impl Read + Write) -> io::Result<()> {
    let app = module::new_app();
    module::set_app(app);
    log::info!("rpc: client {app} connected");
    let result = serve(stream, app);
    // Even after a panic in a call: the application's sessions must not outlive it.
    let ended = panic::catch_unwind(|| {
        if let Ok(m) = module::get() {
            crate::token::session::end_app(&m);
        }
    });
    if ended.is_err() {
        log::error!("rpc: client {app}: internal error while closing its sessions");
    }
    match &result {
        Ok(()) => log::info!("rpc: client {app} disconnected; its sessions are closed"),
        Err(e) => log::info!("rpc: client {app} dropped ({e}); its sessions are closed"),
    }
    module::set_app(LOCAL_APP);
    result
}

/// The connection's loop.
fn serve(mut stream: impl Read + Write, app: module::AppId) -> io::Result<()> {
    let mut version = [0u8; 1];
    match stream.read(&mut version)? {
        0 => return Ok(()),
        _ if version[0] != PROTOCOL_VERSION => {
            // A newer client offers a newer version and settles for ours.
            log::info!("rpc: client {app} offers protocol version {}; answering {PROTOCOL_VERSION}", version[0]);
        }
        _ => {}
    }
    stream.write_all(&[PROTOCOL_VERSION])?;
    stream.flush()?;
    loop {
        let Some((code, body)) = read_frame(&mut stream)? else {
            return Ok(());
        };
        let handled = panic::catch_unwind(AssertUnwindSafe(|| calls::handle(&body)));
        let reply = match handled {
            Ok(r) => r,
            Err(_) => {
                log::error!("rpc: client {app}: internal error (panic caught); dropping the connection");
                return Err(io::Error::other("internal error"));
            }
        };
        write_frame(&mut stream, code, &reply.body)?;
        if reply.finalized {
            return Ok(());
        }
    }
}

/// Reads one message: `None` at a clean end of stream (between messages).
fn read_frame(stream: &mut impl Read) -> io::Result<Option<(u32, Zeroizing<Vec<u8>>)>> {
    let mut header = [0u8; 12];
    // A clean end is only possible before the first byte of a header.
    let mut got = 0;
    while got < header.len() {
        match stream.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated header")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let field = |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let (code, olen, dlen) = (field(0), field(4) as usize, field(8) as usize);
    if olen > MAX_OPTIONS || dlen > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message too large ({dlen} bytes, options {olen}; at most {MAX_MESSAGE})"),
        ));
    }
    let mut options = vec![0u8; olen];
    stream.read_exact(&mut options)?;
    // The body may hold PINs and key material: wiped when dropped.
    let mut body = Zeroizing::new(vec![0u8; dlen]);
    stream.read_exact(&mut body)?;
    Ok(Some((code, body)))
}

/// Writes one message with no options.
fn write_frame(stream: &mut impl Write, code: u32, body: &[u8]) -> io::Result<()> {
    let mut header = [0u8; 12];
    header[..4].copy_from_slice(&code.to_be_bytes());
    header[8..].copy_from_slice(&(body.len() as u32).to_be_bytes());
    stream.write_all(&header)?;
    stream.write_all(body)?;
    stream.flush()
}
