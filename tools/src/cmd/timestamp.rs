//! `ferrohsm timestamp FILE | --request REQ`.

use std::path::Path;

use cryptoki::session::UserType;

use super::{load, pin};
use crate::Failure;
use ferrohsm_tools::error::{Doing, Error};
use ferrohsm_tools::timestamp::{self, Hash, integer_hex};
use ferrohsm_tools::token;
use ferrohsm_tools::verify::hex;

/// What to timestamp.
pub enum What<'a> {
    /// A file: the tool hashes it and writes the request (certReq, a nonce if asked).
    File {
        /// The file.
        path: &'a Path,
        /// The imprint's hash.
        hash: Hash,
        /// Send a random nonce (8 bytes from the token) and check its echo.
        nonce: bool,
    },
    /// A DER TimeStampReq someone else wrote (`openssl ts -query`), sent as it is.
    Request(&'a Path),
}

/// The arguments of `timestamp`.
pub struct Args<'a> {
    /// What to timestamp.
    pub what: What<'a>,
    /// The partition's slot.
    pub slot: u64,
    /// Write the bare TimeStampToken instead of a TimeStampResp.
    pub token_only: bool,
    /// Where to write it.
    pub out: &'a Path,
    /// The user PIN flag.
    pub pin: Option<String>,
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Run(Error::Other(format!("reading {}: {e}", path.display()))))
}

/// `timestamp`: has the partition's timestamp key sign a request for the file's
/// hash (or the request given), checks that the token answers it, writes the
/// TimeStampResp (or the token) and prints its serial, time and policy.
pub fn run(module: Option<&Path>, a: Args<'_>) -> Result<(), Failure> {
    // Read the input before asking for a PIN: a missing file fails first.
    let (input, digest) = match &a.what {
        What::File { path, hash, .. } => {
            let digest = hash.digest(&read(path)?);
            (None, Some(digest))
        }
        What::Request(path) => {
            let der = read(path)?;
            timestamp::read_request(&der)?;
            (Some(der), None)
        }
    };
    let (_, ctx) = load(module)?;
    let slot = token::slot(&ctx, a.slot)?;
    let pin = pin::get(a.pin, pin::USER, false)?;
    let session =
        ctx.open_ro_session(slot).doing(format!("opening a session on slot {} (C_OpenSession)", slot.id()))?;
    token::login(&ctx, &session, slot, UserType::User, &pin, "user")?;
    let request = match (&a.what, input, digest) {
        (What::File { hash, nonce, .. }, _, Some(digest)) => {
            let nonce = if *nonce {
                Some(session.generate_random_vec(8).doing("making a nonce (C_GenerateRandom)")?)
            } else {
                None
            };
            timestamp::request(*hash, &digest, nonce.as_deref())?
        }
        (_, Some(der), _) => der,
        _ => unreachable!("a file has its digest, a request its bytes"),
    };
    let asked = timestamp::read_request(&request)?;
    let key = timestamp::find_key(&session)?;
    let token = timestamp::sign(&session, key, &request)?;
    let info = timestamp::read_token(&token)?;
    timestamp::check_answer(&request, &info)?;
    let (bytes, what) =
        if a.token_only { (token, "timestamp token") } else { (timestamp::response(&token)?, "timestamp response") };
    std::fs::write(a.out, &bytes)
        .map_err(|e| Failure::Run(Error::Other(format!("writing {}: {e}", a.out.display()))))?;
    match &a.what {
        What::File { path, .. } => println!("file:    {}", path.display()),
        What::Request(path) => println!("request: {}", path.display()),
    }
    println!("imprint: {} {}", asked.hash, hex::encode(&asked.digest));
    println!("serial:  {}", info.serial_hex());
    println!("time:    {}", info.gen_time);
    println!("policy:  {}", info.policy);
    if let Some(n) = &info.nonce {
        println!("nonce:   {}", integer_hex(n));
    }
    println!("wrote the {what} ({} bytes) to {}", bytes.len(), a.out.display());
    Ok(())
}
