//! `ferrohsm attest verify|key|chain`.

use std::path::{Path, PathBuf};

use cryptoki::object::ObjectClass;
use cryptoki::session::UserType;

use super::{load, pin};
use crate::Failure;
use ferrohsm_tools::attest::{self, KeyRef};
use ferrohsm_tools::error::{Doing, Error};
use ferrohsm_tools::token;
use ferrohsm_tools::verify::{self, Check, Inputs, Policy, hex, input};

/// Exit status when the attestation is sound but the key fails the policy.
pub const EXIT_POLICY: u8 = 3;

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Run(Error::Other(format!("reading the {what} {}: {e}", path.display()))))
}

/// Writes `der` to `path`: PEM with `label` when the name ends in `.pem`, else DER.
pub fn write_out(path: &Path, label: &str, der: &[u8]) -> Result<(), Failure> {
    let bytes = if path.extension().is_some_and(|e| e == "pem") {
        input::to_pem(label, der).into_bytes()
    } else {
        der.to_vec()
    };
    std::fs::write(path, bytes).map_err(|e| Failure::Run(Error::Other(format!("writing {}: {e}", path.display()))))
}

/// Parses `--nonce HEX` (at most 64 bytes, as the module accepts).
pub fn nonce(s: Option<&str>) -> Result<Option<Vec<u8>>, Failure> {
    let Some(s) = s else { return Ok(None) };
    let n = hex::decode(s).map_err(|e| Failure::Usage(format!("--nonce: {e}")))?;
    if n.len() > 64 {
        return Err(Failure::Usage(format!("--nonce: {} bytes; a nonce is at most 64", n.len())));
    }
    Ok(Some(n))
}

/// The arguments of `attest verify`.
pub struct VerifyArgs {
    /// The attestation file (certificate or CMS, DER or PEM).
    pub attestation: Option<PathBuf>,
    /// The pinned root.
    pub root: Option<PathBuf>,
    /// Chain files.
    pub chain: Vec<PathBuf>,
    /// Expected nonce, hex.
    pub nonce: Option<String>,
    /// A request whose key must be the attested one.
    pub csr: Option<PathBuf>,
    /// Policy relaxations.
    pub allow_imported: bool,
    /// Policy relaxations.
    pub allow_extractable: bool,
    /// Policy relaxations.
    pub allow_not_sensitive: bool,
    /// The time to check validity at.
    pub at: Option<String>,
}

/// `attest verify`: prints the summary; exit 1 when a check fails, 3 when only the
/// policy does. Device, partition and log attestations go to
/// [`verify::document::verify`].
pub fn verify(a: VerifyArgs) -> Result<(), Failure> {
    if let Some(path) = &a.attestation {
        let bytes = read(path, "attestation")?;
        if verify::document::kind_of(&bytes).is_some() {
            return verify_document(&a, &bytes);
        }
    }
    let Some(root) = &a.root else {
        return Err(Failure::Usage(
            "a pinned root is needed: --root root.pem (e.g. from `ferrohsm attest chain --root`, \
             read once from a device you trust)"
                .into(),
        ));
    };
    if a.attestation.is_none() && a.csr.is_none() {
        return Err(Failure::Usage("give an ATTESTATION file, or --csr with a request that carries one".into()));
    }
    let mut policy = Policy::default();
    if a.allow_imported {
        policy = policy.allow_imported();
    }
    if a.allow_extractable {
        policy = policy.allow_extractable();
    }
    if a.allow_not_sensitive {
        policy = policy.allow_not_sensitive();
    }
    let at = match &a.at {
        Some(t) => Some(verify::parse_time(t).map_err(|e| Failure::Usage(format!("--at: {e}")))?),
        None => None,
    };
    let inputs = Inputs {
        attestation: a.attestation.as_deref().map(|p| read(p, "attestation")).transpose()?,
        chain: a.chain.iter().map(|p| read(p, "chain")).collect::<Result<_, _>>()?,
        root: read(root, "root")?,
        nonce: nonce(a.nonce.as_deref())?,
        csr: a.csr.as_deref().map(|p| read(p, "request")).transpose()?,
        policy,
        at,
    };
    match verify::verify(&inputs) {
        Ok(summary) => {
            print!("{}", summary.report());
            println!("verified: the attestation chains to the pinned root and the key meets the policy");
            Ok(())
        }
        Err(f) => {
            if let Some(s) = &f.summary {
                print!("{}", s.report());
            }
            eprintln!("ferrohsm: NOT verified: {f}");
            Err(Failure::Exit(if f.check == Check::Policy { EXIT_POLICY } else { 1 }))
        }
    }
}

/// `attest verify` of a device, partition or log attestation.
fn verify_document(a: &VerifyArgs, bytes: &[u8]) -> Result<(), Failure> {
    if a.csr.is_some() || a.allow_imported || a.allow_extractable || a.allow_not_sensitive {
        return Err(Failure::Usage(
            "--csr and --allow-* are for key attestations; this is a device, partition or log attestation".into(),
        ));
    }
    let Some(root) = &a.root else {
        return Err(Failure::Usage("a pinned root is needed: --root root.pem".into()));
    };
    let at = match &a.at {
        Some(t) => Some(verify::parse_time(t).map_err(|e| Failure::Usage(format!("--at: {e}")))?),
        None => None,
    };
    let chain = a.chain.iter().map(|p| read(p, "chain")).collect::<Result<Vec<_>, _>>()?;
    let want = nonce(a.nonce.as_deref())?;
    match verify::document::verify(bytes, &read(root, "root")?, &chain, want.as_deref(), at) {
        Ok(doc) => {
            print!("{}", doc.report());
            println!("verified: the attestation chains to the pinned root");
            Ok(())
        }
        Err(f) => {
            eprintln!("ferrohsm: NOT verified: {f}");
            Err(Failure::Exit(1))
        }
    }
}

/// `attest device`: the device's configuration and state (device SO).
pub fn device(
    module: Option<&Path>,
    nonce_hex: Option<&str>,
    out: &Path,
    so_pin: Option<String>,
) -> Result<(), Failure> {
    let (_, ctx) = load(module)?;
    let (session, key) = super::audit::so_session(&ctx, None, so_pin)?;
    let nonce = super::audit::nonce_or_random(&session, nonce_hex)?;
    let der = ferrohsm_tools::audit::attest(&session, ferrohsm_tools::audit::Which::Device, key, &nonce)?;
    write_out(out, "CMS", &der)?;
    println!("wrote the device attestation ({} bytes, nonce {}) to {}", der.len(), hex::encode(&nonce), out.display());
    Ok(())
}

/// `attest partition`: a partition's configuration, PIN states, keys and log head,
/// as its SO, or as the device SO with `device_so`.
pub fn partition(
    module: Option<&Path>,
    slot: u64,
    device_so: bool,
    nonce_hex: Option<&str>,
    out: &Path,
    so_pin: Option<String>,
) -> Result<(), Failure> {
    let (_, ctx) = load(module)?;
    let (session, key) = super::audit::so_session(&ctx, if device_so { None } else { Some(slot) }, so_pin)?;
    let nonce = super::audit::nonce_or_random(&session, nonce_hex)?;
    let request = ferrohsm_tools::audit::request(&nonce, None, None, device_so.then_some(slot));
    let der =
        ferrohsm_tools::audit::attest(&session, ferrohsm_tools::audit::Which::Partition, key, request.as_bytes())?;
    write_out(out, "CMS", &der)?;
    println!(
        "wrote the attestation of partition {slot} ({} bytes, nonce {}) to {}",
        der.len(),
        hex::encode(&nonce),
        out.display()
    );
    Ok(())
}

/// `attest key`: a fresh attestation of one key, written to `out`.
pub fn key(
    module: Option<&Path>,
    slot: u64,
    key: KeyRef,
    nonce_hex: Option<&str>,
    evidence: bool,
    out: &Path,
    pin_flag: Option<String>,
) -> Result<(), Failure> {
    let nonce = nonce(nonce_hex)?.unwrap_or_default();
    let (_, ctx) = load(module)?;
    let slot = token::slot(&ctx, slot)?;
    let pin = pin::get(pin_flag, pin::USER, false)?;
    let session =
        ctx.open_ro_session(slot).doing(format!("opening a session on slot {} (C_OpenSession)", slot.id()))?;
    token::login(&ctx, &session, slot, UserType::User, &pin, "user")?;
    let mut classes = vec![ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY];
    if evidence {
        classes.push(ObjectClass::SECRET_KEY);
    }
    let (handle, class) = attest::find_key(&session, &key, &classes)?;
    let der = attest::key_attestation(&session, handle, &nonce, evidence)?;
    let (label, what) =
        if evidence { ("CMS", "key evidence (CMS)") } else { ("CERTIFICATE", "key attestation certificate") };
    write_out(out, label, &der)?;
    println!("wrote the {what} of the {class} with {key} ({} bytes) to {}", der.len(), out.display());
    Ok(())
}

/// `attest chain`: the chain certificates (PEM) and, with `root_out`, the root.
pub fn chain(module: Option<&Path>, slot: u64, out: &Path, root_out: Option<&Path>) -> Result<(), Failure> {
    let (_, ctx) = load(module)?;
    let slot = token::slot(&ctx, slot)?;
    let (chain, root) = attest::chain(&ctx, slot)?;
    let pem: String = chain.iter().map(|c| input::to_pem("CERTIFICATE", &c.der)).collect();
    std::fs::write(out, pem).map_err(|e| Failure::Run(Error::Other(format!("writing {}: {e}", out.display()))))?;
    for c in &chain {
        println!("chain: {}", c.subject());
    }
    println!("wrote {} certificate(s) to {}", chain.len(), out.display());
    if let Some(path) = root_out {
        let root = root.ok_or_else(|| {
            Failure::Run(Error::NotFound("the token holds no root certificate above this chain".into()))
        })?;
        std::fs::write(path, input::to_pem("CERTIFICATE", &root.der))
            .map_err(|e| Failure::Run(Error::Other(format!("writing {}: {e}", path.display()))))?;
        println!("root:  {}", root.subject());
        println!("wrote the root to {}: compare it with the root you trust before pinning it", path.display());
    }
    Ok(())
}
