//! `ferrohsm device init`: `C_InitToken` on the admin token.

use std::path::Path;

use super::{load, pin};
use crate::Failure;
use ferrohsm_tools::error::{Doing, Error};
use ferrohsm_tools::token;

/// Initialises the admin token with `label`, setting the device SO PIN. Refuses an
/// initialised admin token unless `force` (re-initialising needs the current SO PIN
/// and wipes the admin token's objects).
pub fn init(module: Option<&Path>, label: &str, force: bool, so_pin: Option<String>) -> Result<(), Failure> {
    if label.len() > 32 {
        return Err(Failure::Usage(format!("a label is at most 32 bytes; \"{label}\" has {}", label.len())));
    }
    let (_, ctx) = load(module)?;
    let slot = token::admin_slot(&ctx)?;
    let ti = ctx.get_token_info(slot).doing("reading the admin token (C_GetTokenInfo)")?;
    if ti.token_initialized() && !force {
        return Err(Error::Other(format!(
            "the admin token is already initialised (label \"{}\"); re-initialising wipes its \
             objects and needs the current device SO PIN: pass --force to do it",
            ti.label()
        ))
        .into());
    }
    // A new PIN is asked twice; re-initialising asks for the current one, once.
    let pin = pin::get(so_pin, pin::DEVICE_SO, !ti.token_initialized())?;
    ctx.init_token(slot, &token::auth_pin(&pin), label)
        .doing(format!("initialising the admin token, slot {} (C_InitToken)", slot.id()))?;
    println!("admin token (slot {}) initialised with label \"{label}\"; the device SO PIN is set", slot.id());
    Ok(())
}

/// `device csr`: a request for the device key, for an outside CA; checked (signed by
/// the device key) before it is written.
pub fn csr(module: Option<&Path>, out: &Path, so_pin: Option<String>) -> Result<(), Failure> {
    let (_, ctx) = load(module)?;
    let pin = pin::get(so_pin, pin::DEVICE_SO, false)?;
    let session = token::device_so(&ctx, &pin)?;
    let der = ferrohsm_tools::attest::device_request(&session)?;
    let req = ferrohsm_tools::verify::csr::parse(&der)
        .map_err(|f| Error::Unexpected(format!("the module's request: {f}")))?;
    let spki = ferrohsm_tools::attest::device_spki(&session)?;
    if der::Encode::to_der(&req.req.info.public_key).map_err(|e| Error::Unexpected(e.to_string()))? != spki {
        return Err(Error::Unexpected("the module's request is not for the device key".into()).into());
    }
    super::attest::write_out(out, "CERTIFICATE REQUEST", &der)?;
    println!("wrote the device key's request for {} to {}", req.subject, out.display());
    println!(
        "The CA must issue it as a CA certificate (pathlen >= 1, keyCertSign) with extendedKeyUsage {}.3: \
         see docs/attestation.md",
        ferrohsm_tools::verify::oids::FERRO_ARC
    );
    Ok(())
}

/// `device import-cert`: checks the outside CA's certificate for the device key and
/// its chain, then installs them.
pub fn import_cert(
    module: Option<&Path>,
    cert: &Path,
    chain: &[std::path::PathBuf],
    so_pin: Option<String>,
) -> Result<(), Failure> {
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| Failure::Run(Error::Other(format!("reading {}: {e}", p.display()))));
    let cert_bytes = read(cert)?;
    let chain_bytes = chain.iter().map(|p| read(p)).collect::<Result<Vec<_>, _>>()?;
    let (_, ctx) = load(module)?;
    // Checked before the device SO logs in: a certificate that does not fit needs no PIN.
    let spki = {
        let admin = ctx
            .open_ro_session(token::admin_slot(&ctx)?)
            .doing("opening a session on the admin token (C_OpenSession)")?;
        ferrohsm_tools::attest::device_spki(&admin)?
    };
    let path =
        ferrohsm_tools::verify::device_certificate(&cert_bytes, &chain_bytes, &spki, std::time::SystemTime::now())
            .map_err(|f| Error::Other(format!("the certificate is not fit for the device key: {f}")))?;
    let pin = pin::get(so_pin, pin::DEVICE_SO, false)?;
    let session = token::device_so(&ctx, &pin)?;
    ferrohsm_tools::attest::install_device_certificate(&session, &path)?;
    for c in &path {
        println!("installed: {}", c.subject());
    }
    println!("attestations now chain to {}: relying parties pin that root", path.last().expect("a root").subject());
    Ok(())
}
