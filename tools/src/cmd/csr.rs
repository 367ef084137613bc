//! `ferrohsm csr`: a PKCS#10 request for a token key, signed by the key through
//! PKCS#11, optionally carrying the key's attestation (`id-aa-attestation`).

use std::path::Path;

use cryptoki::object::ObjectClass;
use cryptoki::session::UserType;

use super::attest::{nonce, write_out};
use super::{load, pin};
use crate::Failure;
use ferrohsm_tools::attest::{self, KeyRef};
use ferrohsm_tools::error::Doing;
use ferrohsm_tools::token;
use ferrohsm_tools::verify::csr;

/// Runs `csr`.
#[allow(clippy::too_many_arguments)]
pub fn run(
    module: Option<&Path>,
    slot: u64,
    key: KeyRef,
    subject: &str,
    attest_it: bool,
    evidence: bool,
    nonce_hex: Option<&str>,
    out: &Path,
    pin_flag: Option<String>,
) -> Result<(), Failure> {
    let subject = csr::parse_subject(subject).map_err(|e| Failure::Usage(format!("--subject: {e}")))?;
    if (evidence || nonce_hex.is_some()) && !attest_it {
        return Err(Failure::Usage("--evidence and --nonce go with --attest".into()));
    }
    let nonce = nonce(nonce_hex)?;
    let (_, ctx) = load(module)?;
    let slot = token::slot(&ctx, slot)?;
    let pin = pin::get(pin_flag, pin::USER, false)?;
    let session =
        ctx.open_ro_session(slot).doing(format!("opening a session on slot {} (C_OpenSession)", slot.id()))?;
    token::login(&ctx, &session, slot, UserType::User, &pin, "user")?;
    let (handle, _) = attest::find_key(&session, &key, &[ObjectClass::PRIVATE_KEY])?;
    let mut attributes = Vec::new();
    if attest_it {
        attributes.push(attest::attestation_attribute(&ctx, slot, &session, handle, nonce.as_deref(), evidence)?);
    }
    let der = attest::request(&session, handle, subject.clone(), attributes)?;
    write_out(out, "CERTIFICATE REQUEST", &der)?;
    println!(
        "wrote a request for {} signed by the key with {key}{} to {}",
        csr::slash_name(&subject),
        if attest_it { ", with its attestation and chain (id-aa-attestation)" } else { "" },
        out.display()
    );
    Ok(())
}
