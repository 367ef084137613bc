//! `ferrohsm timestamp FILE`.

use std::path::Path;

use cryptoki::session::UserType;

use super::{load, pin};
use crate::Failure;
use ferrohsm_tools::error::{Doing, Error};
use ferrohsm_tools::timestamp::{self, Hash};
use ferrohsm_tools::token;
use ferrohsm_tools::verify::hex;

/// The arguments of `timestamp`.
pub struct Args<'a> {
    /// The file to timestamp.
    pub file: &'a Path,
    /// The partition's slot.
    pub slot: u64,
    /// The imprint's hash.
    pub hash: Hash,
    /// Send a random nonce (8 bytes from the token) and check its echo.
    pub nonce: bool,
    /// Write the bare TimeStampToken instead of a TimeStampResp.
    pub token_only: bool,
    /// Where to write it.
    pub out: &'a Path,
    /// The user PIN flag.
    pub pin: Option<String>,
}

/// `timestamp`: hashes the file, has the partition's timestamp key sign a request
/// for the hash, checks that the token answers it, writes the TimeStampResp (or the
/// token) and prints its serial, time and policy.
pub fn run(module: Option<&Path>, a: Args<'_>) -> Result<(), Failure> {
    let data =
        std::fs::read(a.file).map_err(|e| Failure::Run(Error::Other(format!("reading {}: {e}", a.file.display()))))?;
    let digest = a.hash.digest(&data);
    drop(data);
    let (_, ctx) = load(module)?;
    let slot = token::slot(&ctx, a.slot)?;
    let pin = pin::get(a.pin, pin::USER, false)?;
    let session =
        ctx.open_ro_session(slot).doing(format!("opening a session on slot {} (C_OpenSession)", slot.id()))?;
    token::login(&ctx, &session, slot, UserType::User, &pin, "user")?;
    let nonce =
        if a.nonce { Some(session.generate_random_vec(8).doing("making a nonce (C_GenerateRandom)")?) } else { None };
    let request = timestamp::request(a.hash, &digest, nonce.as_deref())?;
    let key = timestamp::find_key(&session)?;
    let token = timestamp::sign(&session, key, &request)?;
    let info = timestamp::read_token(&token)?;
    timestamp::check_answer(&request, &info)?;
    let (bytes, what) =
        if a.token_only { (token, "timestamp token") } else { (timestamp::response(&token)?, "timestamp response") };
    std::fs::write(a.out, &bytes)
        .map_err(|e| Failure::Run(Error::Other(format!("writing {}: {e}", a.out.display()))))?;
    println!("file:    {} ({} {})", a.file.display(), a.hash.name(), hex::encode(&digest));
    println!("serial:  {}", info.serial_hex());
    println!("time:    {}", info.gen_time);
    println!("policy:  {}", info.policy);
    if let Some(n) = &info.nonce {
        println!("nonce:   0x{}", hex::encode(n).to_uppercase());
    }
    println!("wrote the {what} ({} bytes) to {}", bytes.len(), a.out.display());
    Ok(())
}
