//! The attestation verifier: the checks a CA runs, offline, before it trusts what a
//! ferrohsm attestation says about a key.
//!
//! Input ([`Inputs`]): an attestation (a key attestation certificate or CMS
//! evidence, or neither when a request carries one), the untrusted chain
//! certificates, the pinned root, an optional expected nonce, an optional PKCS#10
//! request whose key must be the attested key, a [`Policy`] and the time to check
//! validity at. [`verify`] runs the checks in the order of docs/attestation.md
//! ("Verifying") and returns a [`Summary`], or the first [`Failure`], which names its
//! [`Check`].
//!
//! This is an implementation of docs/attestation.md independent of the module's
//! own attestation code. Device, partition and log attestations (docs/audit.md) are
//! [`document`]'s; an exported audit log with its attestations is [`log`]'s.

pub mod chain;
pub mod claims;
pub mod csr;
pub mod document;
pub mod evidence;
pub mod hex;
pub mod input;
pub mod log;
pub mod names;
pub mod oids;
pub mod sig;

use std::fmt;
use std::time::SystemTime;

use der::Encode;
use spki::SubjectPublicKeyInfoOwned;

pub use claims::{Claims, Origin, Protection};
use input::{Attestation, Cert};

/// The checks, in the order they run. A [`Failure`] names the first that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Check {
    /// Reading the inputs: DER or PEM, the right kind of object.
    Input,
    /// The request: it decodes and its own key signs it (proof of possession).
    Csr,
    /// The CMS structure of evidence: one signer, our content type, the content
    /// present, contentType and messageDigest attributes.
    Evidence,
    /// A path from the attestation up to the pinned root, by names and key ids.
    Chain,
    /// Every signature: each certificate by its issuer, the root by itself, the
    /// evidence by its signer, the evidence digest.
    Signature,
    /// Every certificate valid at the time.
    Validity,
    /// No certificate with a critical extension the verifier does not process.
    CriticalExtension,
    /// Issuers are CAs within their path length; the attested key's certificate is
    /// not a CA.
    BasicConstraints,
    /// Issuers may sign certificates (keyCertSign); an evidence signer may sign
    /// (digitalSignature).
    KeyUsage,
    /// The attestation key's and the device key's certificates carry
    /// `id-ferro-kp-attestation`.
    Purpose,
    /// The claims decode (DER extension or JSON) and say what protection the keys
    /// have.
    Claims,
    /// The attestation's nonce is the one expected.
    Nonce,
    /// The claims describe the certified key, and the request's key is that key.
    KeyMatch,
    /// The claims meet the policy.
    Policy,
    /// A device, partition or log attestation is signed by the key that signs that
    /// kind: the device's audit key, or the partition's own attestation key.
    Signer,
    /// The entries of an audit log: sequence numbers, links, the attested heads.
    Log,
}

impl Check {
    /// The check's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Check::Input => "input",
            Check::Csr => "request",
            Check::Evidence => "evidence",
            Check::Chain => "chain",
            Check::Signature => "signature",
            Check::Validity => "validity",
            Check::CriticalExtension => "critical extension",
            Check::BasicConstraints => "basic constraints",
            Check::KeyUsage => "key usage",
            Check::Purpose => "purpose",
            Check::Claims => "claims",
            Check::Nonce => "nonce",
            Check::KeyMatch => "key match",
            Check::Policy => "policy",
            Check::Signer => "signer",
            Check::Log => "log",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why verification failed: the check and what it found. Once the claims are
/// decoded, the summary of what the attestation says comes along (useful beside a
/// nonce or policy failure).
#[derive(Debug)]
pub struct Failure {
    /// The first check that failed.
    pub check: Check,
    /// What it found, in words.
    pub detail: String,
    /// What the attestation says, when the failure came after the claims decoded.
    pub summary: Option<Box<Summary>>,
}

impl Failure {
    /// A failure of `check`.
    pub fn new(check: Check, detail: impl Into<String>) -> Failure {
        Failure { check, detail: detail.into(), summary: None }
    }

    /// The same detail, attributed to another check.
    pub fn with_check(mut self, check: Check) -> Failure {
        self.check = check;
        self
    }

    fn with_summary(mut self, s: &Summary) -> Failure {
        self.summary = Some(Box::new(s.clone()));
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.detail)
    }
}

impl std::error::Error for Failure {}

/// What the key's claims must say. The default asks for a key generated in the
/// token that never left it: origin generated, `local`, `sensitive` and
/// `never_extractable` true. A claim that is absent (unknown) fails a rule that
/// asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `key.origin` is `generated`.
    pub require_generated: bool,
    /// `key.security.local` is true.
    pub require_local: bool,
    /// `key.security.sensitive` is true.
    pub require_sensitive: bool,
    /// `key.security.never_extractable` is true.
    pub require_never_extractable: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            require_generated: true,
            require_local: true,
            require_sensitive: true,
            require_never_extractable: true,
        }
    }
}

impl Policy {
    /// Accepts keys of any origin (`--allow-imported`): drops the generated and
    /// local rules.
    pub fn allow_imported(mut self) -> Policy {
        self.require_generated = false;
        self.require_local = false;
        self
    }

    /// Accepts keys that are or were extractable (`--allow-extractable`).
    pub fn allow_extractable(mut self) -> Policy {
        self.require_never_extractable = false;
        self
    }

    /// Accepts keys that are not sensitive (`--allow-not-sensitive`).
    pub fn allow_not_sensitive(mut self) -> Policy {
        self.require_sensitive = false;
        self
    }

    /// The rules the claims break, each in words; empty when the policy is met.
    pub fn evaluate(&self, c: &Claims) -> Vec<String> {
        let mut out = Vec::new();
        if self.require_generated && c.key.origin != Origin::Generated {
            out.push(format!(
                "key.origin is {}, the policy requires generated (--allow-imported accepts other origins)",
                c.key.origin
            ));
        }
        let mut flag = |on: bool, name: &str, v: Option<bool>, relax: &str| {
            if !on {
                return;
            }
            match v {
                Some(true) => {}
                Some(false) => out.push(format!("key.security.{name} is false, the policy requires true ({relax})")),
                None => out
                    .push(format!("key.security.{name} is not claimed (unknown), the policy requires true ({relax})")),
            }
        };
        let s = &c.key.security;
        flag(self.require_local, "local", s.local, "--allow-imported");
        flag(self.require_sensitive, "sensitive", s.sensitive, "--allow-not-sensitive");
        flag(self.require_never_extractable, "never_extractable", s.never_extractable, "--allow-extractable");
        out
    }
}

/// What to verify.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// The attestation: a DER or PEM certificate or CMS. `None` takes it from the
    /// request's `id-aa-attestation` attribute.
    pub attestation: Option<Vec<u8>>,
    /// Untrusted certificates to build the path with (PEM or DER bundles).
    pub chain: Vec<Vec<u8>>,
    /// The pinned root certificate (PEM or DER).
    pub root: Vec<u8>,
    /// The nonce the attestation must carry.
    pub nonce: Option<Vec<u8>>,
    /// A PKCS#10 request (PEM or DER) whose key must be the attested key.
    pub csr: Option<Vec<u8>>,
    /// The policy.
    pub policy: Policy,
    /// The time to check validity at; `None`: now.
    pub at: Option<SystemTime>,
}

/// The form of the attestation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// An X.509 certificate with `id-ferro-keyAttestation`.
    Certificate,
    /// CMS SignedData over JSON claims.
    Evidence,
}

/// What a verified attestation says, and what was checked.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Certificate or evidence.
    pub form: Form,
    /// Whether it came from inside a request.
    pub from_request: bool,
    /// The claims.
    pub claims: Claims,
    /// The attested public key (DER SubjectPublicKeyInfo), when there is one.
    pub public_key_info: Option<Vec<u8>>,
    /// Subjects from the attestation (or its signer) up to the pinned root.
    pub path: Vec<String>,
    /// The time validity was checked at.
    pub at: SystemTime,
    /// Whether a nonce was given and matched.
    pub nonce_checked: bool,
    /// The request's subject, when a request was given (its key matched).
    pub csr_subject: Option<String>,
    /// The policy applied.
    pub policy: Policy,
    /// The rules broken; empty when the policy is met.
    pub policy_failures: Vec<String>,
}

/// `t` as `YYYY-MM-DDThh:mm:ssZ`.
pub fn time_text(t: SystemTime) -> String {
    match der::DateTime::from_system_time(t) {
        Ok(d) => d.to_string(),
        Err(_) => format!("{t:?}"),
    }
}

/// Parses a time for `--at`: `YYYY-MM-DDThh:mm:ssZ`, `YYYY-MM-DD` (midnight UTC), or
/// `@SECONDS` since the Unix epoch.
pub fn parse_time(s: &str) -> Result<SystemTime, String> {
    if let Some(secs) = s.strip_prefix('@') {
        let n: u64 = secs.parse().map_err(|_| format!("{s:?}: @ is followed by seconds since 1970"))?;
        return Ok(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(n));
    }
    let full = if s.len() == 10 { format!("{s}T00:00:00Z") } else { s.to_string() };
    let t: der::DateTime =
        full.parse().map_err(|_| format!("{s:?} is not a time (YYYY-MM-DDThh:mm:ssZ, YYYY-MM-DD or @SECONDS)"))?;
    Ok(t.to_system_time())
}

fn spki_der(spki: &SubjectPublicKeyInfoOwned) -> Result<Vec<u8>, Failure> {
    spki.to_der().map_err(|e| Failure::new(Check::KeyMatch, e.to_string()))
}

/// Checks that the claims describe `spki` (class, type, curve, size).
fn claims_match_key(c: &Claims, spki: &SubjectPublicKeyInfoOwned) -> Result<(), String> {
    let k = &c.key;
    if k.class != "private" && k.class != "public" {
        return Err(format!("the claims are about a {} key, which has no public key to certify", k.class));
    }
    let alg = spki.algorithm.oid;
    match k.key_type.as_str() {
        "RSA" => {
            if alg != oids::RSA_ENCRYPTION {
                return Err(format!("the claims say RSA but the certified key is {alg}"));
            }
            if let Some(bits) = k.bits {
                use rsa::pkcs8::DecodePublicKey;
                use rsa::traits::PublicKeyParts;
                let der = spki.to_der().map_err(|e| e.to_string())?;
                let key = rsa::RsaPublicKey::from_public_key_der(&der).map_err(|e| format!("the RSA key: {e}"))?;
                let n = u64::from(key.n().bits());
                if n != bits {
                    return Err(format!("the claims say {bits}-bit RSA but the certified modulus has {n} bits"));
                }
            }
        }
        "EC" | "EC_EDWARDS" => {
            let curve = if alg == oids::EC_PUBLIC_KEY {
                let oid: oids::RawOid = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .ok_or("the certified EC key names no curve")?
                    .decode_as()
                    .map_err(|e| format!("the certified key's curve: {e}"))?;
                oids::curve_name(&oid)
            } else if alg == oids::ED25519 || alg == oids::ED448 {
                oids::curve_name(&alg.into())
            } else {
                return Err(format!("the claims say {} but the certified key is {alg}", k.key_type));
            };
            if (k.key_type == "EC") != (alg == oids::EC_PUBLIC_KEY) {
                return Err(format!("the claims say {} but the certified key is {curve}", k.key_type));
            }
            match &k.curve {
                Some(claimed) if *claimed != curve => {
                    return Err(format!("the claims say curve {claimed} but the certified key is on {curve}"));
                }
                _ => {}
            }
        }
        other => return Err(format!("the claims say a {other} key, which has no public key to certify")),
    }
    Ok(())
}

/// Runs every check; see the module documentation.
pub fn verify(inputs: &Inputs) -> Result<Summary, Failure> {
    let at = inputs.at.unwrap_or_else(SystemTime::now);
    let input = |e: String| Failure::new(Check::Input, e);

    let root = {
        let mut certs = input::certificates(&inputs.root).map_err(|e| input(format!("the root: {e}")))?;
        if certs.len() != 1 {
            return Err(input(format!("the root file holds {} certificates; pin exactly one", certs.len())));
        }
        certs.remove(0)
    };
    let mut pool: Vec<Cert> = Vec::new();
    for bundle in &inputs.chain {
        pool.extend(input::certificates(bundle).map_err(|e| input(format!("the chain: {e}")))?);
    }

    // The request first: the attestation may be inside it.
    let request = inputs.csr.as_deref().map(csr::parse).transpose()?;
    let (attestation, from_request) = match (&inputs.attestation, &request) {
        (Some(bytes), _) => (input::attestation(bytes).map_err(input)?, false),
        (None, Some(r)) => match r.attestation()? {
            Some((a, certs)) => {
                pool.extend(certs);
                (a, true)
            }
            None => {
                return Err(Failure::new(
                    Check::Csr,
                    "the request carries no id-aa-attestation attribute; give the attestation file",
                ));
            }
        },
        (None, None) => return Err(input("nothing to verify: give an attestation, or a request carrying one".into())),
    };

    // The path, the signatures and the certificate checks; then the claims.
    let (form, claims, key, path) = match attestation {
        Attestation::Certificate(cert) => {
            let path = chain::build(&cert, &pool, &root)?;
            chain::check(&path, chain::Leaf::AttestedKey, at)?;
            let ext = cert.extension(&oids::KEY_ATTESTATION).map_err(|e| Failure::new(Check::Claims, e))?.ok_or_else(
                || {
                    Failure::new(
                        Check::Claims,
                        format!("{} carries no key attestation extension ({})", cert.subject(), *oids::KEY_ATTESTATION),
                    )
                },
            )?;
            let claims = claims::from_der(&ext.value).map_err(|e| Failure::new(Check::Claims, e))?;
            let key = cert.spki.clone();
            (Form::Certificate, claims, Some(key), path)
        }
        Attestation::Evidence(der) => {
            let ev = evidence::parse(&der)?;
            let mut all = ev.certs.clone();
            all.extend(pool.iter().cloned());
            let signer = ev.signer(&pool)?.clone();
            let path = chain::build(&signer, &all, &root)?;
            ev.verify_signature(&signer)?;
            chain::check(&path, chain::Leaf::EvidenceSigner, at)?;
            let claims = claims::from_json(&ev.content).map_err(|e| Failure::new(Check::Claims, e))?;
            let key =
                match &claims.key.public_key_info {
                    Some(der) => Some(<SubjectPublicKeyInfoOwned as der::Decode>::from_der(der).map_err(|e| {
                        Failure::new(Check::Claims, format!("key.public_key_info does not decode: {e}"))
                    })?),
                    None => None,
                };
            (Form::Evidence, claims, key, path)
        }
    };

    let mut summary = Summary {
        form,
        from_request,
        public_key_info: key.as_ref().map(spki_der).transpose()?,
        claims,
        path: path.iter().map(Cert::subject).collect(),
        at,
        nonce_checked: false,
        csr_subject: None,
        policy: inputs.policy,
        policy_failures: Vec::new(),
    };
    let claims = &summary.claims;

    // Claims: the software says how keys are protected (always present in both forms;
    // its value is reported, and the docs say what "software" means).
    if claims.device.software.is_empty() || claims.device.serial.is_empty() {
        return Err(Failure::new(Check::Claims, "the device claims name no software or serial").with_summary(&summary));
    }

    // Nonce.
    if let Some(want) = &inputs.nonce {
        match &summary.claims.nonce {
            Some(got) if got == want => summary.nonce_checked = true,
            Some(got) => {
                return Err(Failure::new(
                    Check::Nonce,
                    format!("the attestation's nonce is {}, not the expected {}", hex::encode(got), hex::encode(want)),
                )
                .with_summary(&summary));
            }
            None => {
                return Err(Failure::new(
                    Check::Nonce,
                    format!(
                        "the attestation carries no nonce (a birth certificate?), and {} was expected",
                        hex::encode(want)
                    ),
                )
                .with_summary(&summary));
            }
        }
    }

    // Key match: the claims are about the certified key; the request's key is it.
    if let Some(k) = &key {
        claims_match_key(claims, k).map_err(|e| Failure::new(Check::KeyMatch, e).with_summary(&summary))?;
    }
    if let Some(r) = &request {
        let Some(k) = &key else {
            return Err(Failure::new(
                Check::KeyMatch,
                "the evidence has no key.public_key_info (a secret key?), so no request's key can match it",
            )
            .with_summary(&summary));
        };
        let want = spki_der(k)?;
        let got = spki_der(&r.req.info.public_key)?;
        if want != got {
            return Err(Failure::new(
                Check::KeyMatch,
                format!(
                    "the request's public key is not the attested key (unique id {}): the attestation is about another key",
                    claims.key.unique_id
                ),
            )
            .with_summary(&summary));
        }
        summary.csr_subject = Some(r.subject.clone());
    }

    // Policy.
    summary.policy_failures = inputs.policy.evaluate(&summary.claims);
    if !summary.policy_failures.is_empty() {
        let detail = summary.policy_failures.join("; ");
        return Err(Failure::new(Check::Policy, detail).with_summary(&summary));
    }
    Ok(summary)
}

/// Checks a device certificate issued by an outside CA before it is installed
/// (`ferrohsm device import-cert`): its key is `device_spki` (DER); it is a CA with a
/// path length of at least 1, may sign certificates, and carries our purpose; and it
/// chains through `chain` (PEM or DER bundles) to the self-signed root at the top of
/// `chain`, every certificate valid at `at`. Returns the path, device certificate
/// first, root last.
pub fn device_certificate(
    cert: &[u8],
    chain: &[Vec<u8>],
    device_spki: &[u8],
    at: SystemTime,
) -> Result<Vec<Cert>, Failure> {
    let input = |e: String| Failure::new(Check::Input, e);
    let mut certs = input::certificates(cert).map_err(|e| input(format!("the certificate: {e}")))?;
    if certs.len() != 1 {
        return Err(input(format!(
            "the certificate file holds {} certificates; give the chain with --chain",
            certs.len()
        )));
    }
    let cert = certs.remove(0);
    let mut pool = Vec::new();
    for bundle in chain {
        pool.extend(input::certificates(bundle).map_err(|e| input(format!("the chain: {e}")))?);
    }
    if spki_der(&cert.spki)? != device_spki {
        return Err(Failure::new(
            Check::KeyMatch,
            format!("{} certifies another key, not this device's key", cert.subject()),
        ));
    }
    let Some(root) = pool.iter().find(|c| c.subject == c.issuer && c.der != cert.der).cloned() else {
        return Err(Failure::new(
            Check::Chain,
            "the chain holds no self-signed root: give the CA's whole chain with --chain",
        ));
    };
    let path = chain::build(&cert, &pool, &root)?;
    chain::check(&path, chain::Leaf::Device, at)?;
    Ok(path)
}

fn tri(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

impl Summary {
    /// A readable report, one fact a line.
    pub fn report(&self) -> String {
        let c = &self.claims;
        let k = &c.key;
        let mut out = String::new();
        let mut line = |label: &str, value: String| {
            out.push_str(&format!("{label:<20}{value}\n"));
        };
        line(
            "attestation:",
            format!(
                "{}{}",
                match self.form {
                    Form::Certificate => "key attestation certificate",
                    Form::Evidence => "signed key evidence (CMS)",
                },
                if self.from_request { ", from the request's id-aa-attestation attribute" } else { "" }
            ),
        );
        line("made:", c.time.clone());
        line(
            "nonce:",
            match &c.nonce {
                // A fresh attestation asked for with no nonce carries an empty one.
                Some(n) if n.is_empty() && self.nonce_checked => "empty (as expected)".into(),
                Some(n) if n.is_empty() => "empty (a fresh attestation without a nonce)".into(),
                Some(n) if self.nonce_checked => format!("{} (as expected)", hex::encode(n)),
                Some(n) => format!("{} (not checked)", hex::encode(n)),
                None => "none (birth certificate)".into(),
            },
        );
        line(
            "device:",
            format!("{} ({} {}, provider {})", c.device.serial, c.device.software, c.device.version, c.device.provider),
        );
        line(
            "protection:",
            match c.device.protection {
                Protection::Software => {
                    "software (keys in process memory, encrypted at rest; no hardware boundary)".into()
                }
                Protection::Hardware => "hardware".into(),
            },
        );
        line(
            "partition:",
            format!("slot {} \"{}\" (serial {})", c.partition.id, c.partition.label, c.partition.serial),
        );
        let p = &c.partition.policy;
        line(
            "partition policy:",
            format!(
                "allow export {}, key invalidation {}, read-only {}, max PIN failures {}, min PIN length {}",
                if p.allow_export { "yes" } else { "no" },
                if p.key_invalidation { "yes" } else { "no" },
                if p.read_only { "yes" } else { "no" },
                p.max_pin_failures,
                p.min_pin_len
            ),
        );
        let mut kind = format!("{} {}", k.class, k.key_type);
        if let Some(curve) = &k.curve {
            kind.push_str(&format!(" {curve}"));
        }
        if let Some(bits) = k.bits {
            kind.push_str(&format!(", {bits} bits"));
        }
        line("key:", kind);
        line("label:", format!("\"{}\"", k.label));
        line("id:", if k.id.is_empty() { "(empty)".into() } else { hex::encode(&k.id) });
        line("unique id:", k.unique_id.clone());
        line("origin:", k.origin.to_string());
        if let Some(t) = &k.created {
            line("created:", t.clone());
        }
        let s = &k.security;
        line(
            "security:",
            format!(
                "local {}, sensitive {}, always sensitive {}, extractable {}, never extractable {}, modifiable {}, private {}",
                tri(s.local),
                tri(s.sensitive),
                tri(s.always_sensitive),
                tri(s.extractable),
                tri(s.never_extractable),
                tri(s.modifiable),
                tri(s.private)
            ),
        );
        let u = &k.usage;
        let usage: Vec<String> = [
            ("encrypt", u.encrypt),
            ("decrypt", u.decrypt),
            ("sign", u.sign),
            ("verify", u.verify),
            ("wrap", u.wrap),
            ("unwrap", u.unwrap),
            ("derive", u.derive),
        ]
        .iter()
        .map(|(n, v)| format!("{n} {}", tri(*v)))
        .collect();
        line("usage:", usage.join(", "));
        line(
            "mechanisms:",
            match &k.allowed_mechanisms {
                Some(m) => m.join(", "),
                None => "any".into(),
            },
        );
        if let Some(cv) = &k.check_value {
            line("check value:", hex::encode(cv));
        }
        if let Some(subject) = &self.csr_subject {
            line("request:", format!("{subject}: its key is the attested key"));
        }
        for (i, name) in self.path.iter().enumerate() {
            let role = if i + 1 == self.path.len() { " (pinned root)" } else { "" };
            line(if i == 0 { "chain:" } else { "" }, format!("{}{name}{role}", if i == 0 { "" } else { "<- " }));
        }
        line("valid at:", time_text(self.at));
        let rules = {
            let p = &self.policy;
            let mut r = Vec::new();
            if p.require_generated {
                r.push("generated");
            }
            if p.require_local {
                r.push("local");
            }
            if p.require_sensitive {
                r.push("sensitive");
            }
            if p.require_never_extractable {
                r.push("never extractable");
            }
            if r.is_empty() { "none".to_string() } else { r.join(", ") }
        };
        if self.policy_failures.is_empty() {
            line("policy:", format!("met ({rules})"));
        } else {
            line("policy:", format!("NOT met ({rules})"));
            for f in &self.policy_failures {
                line("", format!("- {f}"));
            }
        }
        out
    }
}
