//! `ferrohsm audit export|verify`.

use std::io::Write;
use std::path::{Path, PathBuf};

use cryptoki::session::{Session, UserType};

use super::attest::{nonce as parse_nonce, write_out};
use super::{load, pin};
use crate::Failure;
use ferrohsm_tools::audit::{self, ROLE_AUDIT, ROLE_PARTITION};
use ferrohsm_tools::error::{Doing, Error};
use ferrohsm_tools::token;
use ferrohsm_tools::verify::{self, hex, log};

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Run(Error::Other(format!("reading the {what} {}: {e}", path.display()))))
}

/// The SO session that attests: the device SO on the admin token (`slot` `None`), or
/// the SO of partition `slot`; with the signing key there.
pub fn so_session(
    ctx: &cryptoki::context::Pkcs11,
    slot: Option<u64>,
    so_pin: Option<String>,
) -> Result<(Session, cryptoki::object::ObjectHandle), Failure> {
    match slot {
        None => {
            let pin = pin::get(so_pin, pin::DEVICE_SO, false)?;
            let session = token::device_so(ctx, &pin)?;
            let key = audit::signing_key(&session, ROLE_AUDIT)?;
            Ok((session, key))
        }
        Some(id) => {
            let slot = token::slot(ctx, id)?;
            let pin = pin::get(so_pin, pin::PARTITION_SO, false)?;
            let session = token::login_rw(ctx, slot, UserType::So, &pin, "partition SO")?;
            let key = audit::signing_key(&session, ROLE_PARTITION)?;
            Ok((session, key))
        }
    }
}

/// The nonce from `--nonce`, else 32 random bytes from the token.
pub fn nonce_or_random(session: &Session, flag: Option<&str>) -> Result<Vec<u8>, Failure> {
    match parse_nonce(flag)? {
        Some(n) => Ok(n),
        None => Ok(session.generate_random_vec(32).doing("making a nonce (C_GenerateRandom)")?),
    }
}

/// `audit export`: the log's lines to `out`, the last page's attestation to
/// `attestation`.
pub fn export(
    module: Option<&Path>,
    slot: Option<u64>,
    out: &Path,
    attestation: &Path,
    nonce_flag: Option<&str>,
    so_pin: Option<String>,
) -> Result<(), Failure> {
    let (_, ctx) = load(module)?;
    let (session, key) = so_session(&ctx, slot, so_pin)?;
    let nonce = nonce_or_random(&session, nonce_flag)?;
    let file = std::fs::File::create(out).map_err(|e| Error::Other(format!("creating {}: {e}", out.display())))?;
    let mut w = std::io::BufWriter::new(file);
    let written = |e: std::io::Error| Error::Other(format!("writing {}: {e}", out.display()));
    let exported = audit::export(&session, key, &nonce, None, |line| {
        w.write_all(line.as_bytes()).and_then(|()| w.write_all(b"\n")).map_err(written)
    })?;
    w.flush().map_err(written)?;
    write_out(attestation, "CMS", &exported.attestation)?;
    let scope = match slot {
        None => "the whole log".to_string(),
        Some(s) => format!("partition {s}"),
    };
    println!(
        "exported {} entries of {scope} (up to entry {}) to {}, in {} log attestation(s)",
        exported.entries,
        exported.head,
        out.display(),
        exported.pages
    );
    println!(
        "wrote the log attestation (head entry {}, nonce {}) to {}",
        exported.head,
        hex::encode(&nonce),
        attestation.display()
    );
    Ok(())
}

/// The arguments of `audit verify`.
pub struct VerifyArgs {
    /// The exported lines.
    pub log: PathBuf,
    /// Log attestations: the export's, and any saved earlier.
    pub attestations: Vec<PathBuf>,
    /// The pinned root.
    pub root: Option<PathBuf>,
    /// Untrusted chain certificates.
    pub chain: Vec<PathBuf>,
    /// The nonce the newest attestation must carry, hex.
    pub nonce: Option<String>,
    /// The time to check validity at.
    pub at: Option<String>,
}

/// `audit verify`: exit 0 when the export checks, 1 with the first break.
pub fn verify(a: VerifyArgs) -> Result<(), Failure> {
    let Some(root) = &a.root else {
        return Err(Failure::Usage(
            "a pinned root is needed: --root root.pem (e.g. from `ferrohsm attest chain --root`)".into(),
        ));
    };
    if a.attestations.is_empty() {
        return Err(Failure::Usage("give the log attestation with --attestation (repeatable)".into()));
    }
    let text = String::from_utf8(read(&a.log, "log")?)
        .map_err(|_| Failure::Run(Error::Other(format!("{} is not UTF-8 text", a.log.display()))))?;
    let lines = log::read_lines(&text);
    let attestations = a.attestations.iter().map(|p| read(p, "attestation")).collect::<Result<Vec<_>, _>>()?;
    let chain = a.chain.iter().map(|p| read(p, "chain")).collect::<Result<Vec<_>, _>>()?;
    let root = read(root, "root")?;
    let nonce = parse_nonce(a.nonce.as_deref())?;
    let at = match &a.at {
        Some(t) => Some(verify::parse_time(t).map_err(|e| Failure::Usage(format!("--at: {e}")))?),
        None => None,
    };
    let export = log::Export {
        lines: &lines,
        attestations: &attestations,
        root: &root,
        chain: &chain,
        nonce: nonce.as_deref(),
        at,
    };
    match log::verify_export(&export) {
        Ok(summary) => {
            print!("{}", summary.report());
            println!(
                "verified: the entries chain, up to the attested head, signed by a key that chains to the pinned root"
            );
            Ok(())
        }
        Err(f) => {
            eprintln!("ferrohsm: NOT verified: {f}");
            Err(Failure::Exit(1))
        }
    }
}
