//! `ferrohsm`: the admin command line of ferrohsm.
//!
//! Every command talks to the token through PKCS#11 only (the module loaded with
//! the `cryptoki` crate); `serve` runs the module built into this program and
//! serves it to p11-kit's client module (`ferrohsm_pkcs11::rpc`). The work is
//! in the `ferrohsm_tools` library and in `cmd/`, one file per command.

#![forbid(unsafe_code)]

mod cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};
use ferrohsm_tools::partition::Policy;

/// ferrohsm's admin tool: status, partitions, the device SO, and `serve` to share
/// the store through p11-kit.
#[derive(Parser, Debug)]
#[command(name = "ferrohsm", version, propagate_version = true)]
struct Cli {
    /// The PKCS#11 module [default: $FERROHSM_MODULE, else libferrohsm_pkcs11.so
    /// beside this program or in ../lib, /usr/local/lib,
    /// /usr/lib/x86_64-linux-gnu/pkcs11]
    #[arg(long, global = true, value_name = "PATH")]
    module: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the store, the module and every slot: token state, PIN flags, sessions,
    /// object counts.
    Status(StatusArgs),
    /// Share the store: serve p11-kit's RPC protocol on a Unix socket, in the
    /// foreground, so that other processes use the store at the same time through
    /// p11-kit's client module (p11-kit-client.so). Serves the module built into
    /// this program; --module is not used.
    Serve(ServeArgs),
    /// Create, list, change and remove partitions (slots), as the device SO.
    #[command(subcommand)]
    Partition(PartitionCmd),
    /// The device (the admin token).
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Attestations: verify one offline (key, device, partition or log), make one,
    /// read the chain.
    #[command(subcommand)]
    Attest(AttestCmd),
    /// The audit log: export it with its attestation, verify an export.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Write a PKCS#10 request for a token key, signed by it, optionally carrying its
    /// attestation (id-aa-attestation, draft-ietf-lamps-csr-attestation).
    Csr(CsrArgs),
    /// Invalidated keys, as the partition's SO: with the key invalidation policy on,
    /// a user's destroy invalidates a key; list, restore or purge them.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Timestamp a file (RFC 3161) with a partition's timestamp key, as the user
    /// (CKM_FERRO_TIMESTAMP): writes a TimeStampResp that `openssl ts -verify -in`
    /// reads.
    Timestamp(TimestampArgs),
}

#[derive(Subcommand, Debug)]
enum KeysCmd {
    /// List the partition's invalidated keys (metadata only).
    Trash {
        /// The partition's slot.
        #[arg(long, value_name = "N")]
        slot: u64,
        /// The partition SO PIN [default: $FERROHSM_SO_PIN, else asked on the terminal].
        #[arg(long, value_name = "PIN")]
        so_pin: Option<String>,
    },
    /// Restore an invalidated key: its users find and use it again.
    Restore {
        /// The partition's slot.
        #[arg(long, value_name = "N")]
        slot: u64,
        /// The key's CKA_UNIQUE_ID, as `keys trash` lists it.
        unique_id: String,
        /// The partition SO PIN [default: $FERROHSM_SO_PIN, else asked on the terminal].
        #[arg(long, value_name = "PIN")]
        so_pin: Option<String>,
    },
    /// Purge an invalidated key: destroy it for good.
    Purge {
        /// The partition's slot.
        #[arg(long, value_name = "N")]
        slot: u64,
        /// The key's CKA_UNIQUE_ID, as `keys trash` lists it.
        unique_id: String,
        /// The partition SO PIN [default: $FERROHSM_SO_PIN, else asked on the terminal].
        #[arg(long, value_name = "PIN")]
        so_pin: Option<String>,
    },
}

/// Names a key: `--id HEX` or `--label L`.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct KeySel {
    /// The key's CKA_ID, hex.
    #[arg(long, value_name = "HEX")]
    id: Option<String>,
    /// The key's CKA_LABEL.
    #[arg(long, value_name = "LABEL")]
    label: Option<String>,
}

impl KeySel {
    fn key_ref(&self) -> Result<ferrohsm_tools::attest::KeyRef, Failure> {
        use ferrohsm_tools::attest::KeyRef;
        match (&self.id, &self.label) {
            (Some(id), _) => ferrohsm_tools::verify::hex::decode(id)
                .map(KeyRef::Id)
                .map_err(|e| Failure::Usage(format!("--id: {e}"))),
            (None, Some(l)) => Ok(KeyRef::Label(l.clone())),
            (None, None) => Err(Failure::Usage("name the key with --id or --label".into())),
        }
    }
}

#[derive(Subcommand, Debug)]
enum AttestCmd {
    /// Verify an attestation offline against a pinned root, as a CA does: chain,
    /// validity, constraints, purpose, signatures, nonce, request key, policy. A
    /// device, partition or log attestation is verified and summarised too. Exit
    /// status 0 verified, 1 a check failed, 3 only the policy refused the key.
    Verify {
        /// The attestation: a key attestation certificate or CMS evidence, or a
        /// device, partition or log attestation; DER or PEM. Optional with --csr
        /// when the request carries the attestation.
        attestation: Option<PathBuf>,
        /// The pinned root certificate (PEM or DER).
        #[arg(long, value_name = "FILE")]
        root: Option<PathBuf>,
        /// Untrusted chain certificates (PEM or DER bundle); repeatable.
        #[arg(long, value_name = "FILE")]
        chain: Vec<PathBuf>,
        /// The nonce the attestation must carry, hex.
        #[arg(long, value_name = "HEX")]
        nonce: Option<String>,
        /// A PKCS#10 request (PEM or DER) whose public key must be the attested key.
        #[arg(long, value_name = "FILE")]
        csr: Option<PathBuf>,
        /// Accept keys of any origin (imported, unwrapped, derived, ...) and not local.
        #[arg(long)]
        allow_imported: bool,
        /// Accept keys that are or were extractable.
        #[arg(long)]
        allow_extractable: bool,
        /// Accept keys that are not sensitive.
        #[arg(long)]
        allow_not_sensitive: bool,
        /// Check validity at this time: YYYY-MM-DDThh:mm:ssZ, YYYY-MM-DD or @SECONDS
        /// [default: now].
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
    /// Attest a key now (CKM_FERRO_KEY_ATTEST_CERT, or _EVIDENCE with --evidence,
    /// through C_SignInit/C_Sign with the nonce as data), as the user.
    Key {
        /// The key's slot.
        #[arg(long, value_name = "N")]
        slot: u64,
        #[command(flatten)]
        key: KeySel,
        /// The verifier's nonce, hex (0 to 64 bytes).
        #[arg(long, value_name = "HEX")]
        nonce: Option<String>,
        /// CMS evidence over JSON claims (any key, secret keys too) instead of a
        /// certificate.
        #[arg(long)]
        evidence: bool,
        /// Where to write it: PEM if the name ends in .pem, else DER.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
        /// The user PIN [default: $FERROHSM_PIN, else asked on the terminal].
        #[arg(long, value_name = "PIN")]
        pin: Option<String>,
    },
    /// Attest the device's configuration and state now (CKM_FERRO_DEVICE_ATTEST,
    /// signed by the audit key), as the device SO.
    Device {
        /// The verifier's nonce, hex (0 to 64 bytes) [default: 32 random bytes].
        #[arg(long, value_name = "HEX")]
        nonce: Option<String>,
        /// Where to write it: PEM if the name ends in .pem, else DER.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        so: SoPin,
    },
    /// Attest a partition now (CKM_FERRO_PARTITION_ATTEST): its configuration, PIN
    /// states, keys and log head; as the partition's SO (signed by its attestation
    /// key), or as the device SO with --device-so (signed by the audit key; the
    /// partition's private keys are then counted, not listed).
    Partition {
        /// The partition's slot.
        #[arg(long, value_name = "N")]
        slot: u64,
        /// Log in as the device SO on the admin token instead of the partition's SO.
        #[arg(long)]
        device_so: bool,
        /// The verifier's nonce, hex (0 to 64 bytes) [default: 32 random bytes].
        #[arg(long, value_name = "HEX")]
        nonce: Option<String>,
        /// Where to write it: PEM if the name ends in .pem, else DER.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
        /// The SO PIN (the partition's, or the device SO's with --device-so)
        /// [default: $FERROHSM_SO_PIN, else asked on the terminal].
        #[arg(long, value_name = "PIN")]
        so_pin: Option<String>,
    },
    /// Read the attestation chain of a partition (no login): the partition
    /// attestation and device certificates, and with --root the root.
    Chain {
        /// The partition's slot.
        #[arg(long, value_name = "N")]
        slot: u64,
        /// Where to write the chain (PEM).
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
        /// Also write the root (PEM) here.
        #[arg(long, value_name = "FILE")]
        root: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// Export the audit log as JSON lines, through log attestations of at most
    /// 10,000 entries each, and write the last one (whose head is the last entry):
    /// the whole log as the device SO, or with --slot a partition's entries as its SO.
    Export {
        /// Where to write the entries, one JSON line each.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
        /// Where to write the log attestation: PEM if the name ends in .pem, else DER.
        #[arg(long, value_name = "FILE")]
        attestation: PathBuf,
        /// Export partition N's entries, as its SO.
        #[arg(long, value_name = "N")]
        slot: Option<u64>,
        /// The nonce the attestations carry, hex (0 to 64 bytes) [default: 32 random
        /// bytes].
        #[arg(long, value_name = "HEX")]
        nonce: Option<String>,
        /// The SO PIN (the device SO's, or with --slot the partition's)
        /// [default: $FERROHSM_SO_PIN, else asked on the terminal].
        #[arg(long, value_name = "PIN")]
        so_pin: Option<String>,
    },
    /// Verify an exported log offline: the chain of entries, the attestation's
    /// signature and certificate chain up to a pinned root, the attested head equal
    /// to the last entry (and any earlier attestation's head in the log). Reports the
    /// first break by its sequence number. Exit status 0 verified, 1 not.
    Verify {
        /// The exported entries (JSON lines).
        log: PathBuf,
        /// A log attestation (DER or PEM); repeatable: the export's, and any saved
        /// earlier.
        #[arg(long, value_name = "FILE", required = true)]
        attestation: Vec<PathBuf>,
        /// The pinned root certificate (PEM or DER).
        #[arg(long, value_name = "FILE")]
        root: Option<PathBuf>,
        /// Untrusted chain certificates (PEM or DER bundle); repeatable.
        #[arg(long, value_name = "FILE")]
        chain: Vec<PathBuf>,
        /// The nonce the newest attestation must carry, hex.
        #[arg(long, value_name = "HEX")]
        nonce: Option<String>,
        /// Check validity at this time: YYYY-MM-DDThh:mm:ssZ, YYYY-MM-DD or @SECONDS
        /// [default: now].
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
}

#[derive(Args, Debug)]
struct CsrArgs {
    /// The key's slot.
    #[arg(long, value_name = "N")]
    slot: u64,
    #[command(flatten)]
    key: KeySel,
    /// The subject: /CN=a/O=b (OpenSSL) or CN=a,O=b (RFC 4514).
    #[arg(long)]
    subject: String,
    /// Carry the key's attestation and chain in the id-aa-attestation attribute.
    #[arg(long)]
    attest: bool,
    /// With --attest: CMS evidence instead of a certificate.
    #[arg(long)]
    evidence: bool,
    /// With --attest: the verifier's nonce, hex.
    #[arg(long, value_name = "HEX")]
    nonce: Option<String>,
    /// Where to write the request: PEM if the name ends in .pem, else DER.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: PathBuf,
    /// The user PIN [default: $FERROHSM_PIN, else asked on the terminal].
    #[arg(long, value_name = "PIN")]
    pin: Option<String>,
}

#[derive(Args, Debug)]
struct TimestampArgs {
    /// The file to timestamp.
    #[arg(required_unless_present = "request")]
    file: Option<PathBuf>,
    /// Instead of a file: a DER TimeStampReq to send as it is (from `openssl ts
    /// -query`, say).
    #[arg(long, value_name = "REQ", conflicts_with_all = ["file", "nonce"])]
    request: Option<PathBuf>,
    /// The partition's slot.
    #[arg(long, value_name = "N", default_value_t = 0)]
    slot: u64,
    /// The hash of the file that the timestamp covers: sha256, sha384 or sha512.
    #[arg(long, value_name = "HASH", default_value = "sha256", conflicts_with = "request")]
    hash: String,
    /// Send a random nonce (8 bytes from the token) and check that the token echoes it.
    #[arg(long)]
    nonce: bool,
    /// Write the bare TimeStampToken (CMS SignedData, what `openssl ts -verify
    /// -token_in` reads) instead of a TimeStampResp.
    #[arg(long)]
    token: bool,
    /// Where to write the TimeStampResp (DER; .tsr by custom).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: PathBuf,
    /// The user PIN [default: $FERROHSM_PIN, else asked on the terminal].
    #[arg(long, value_name = "PIN")]
    pin: Option<String>,
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// Also log in as user on this slot and count its private objects.
    #[arg(long, value_name = "N")]
    slot: Option<u64>,
    /// The user PIN for --slot [default: $FERROHSM_PIN, else asked on the terminal].
    #[arg(long, requires = "slot", value_name = "PIN")]
    pin: Option<String>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The socket to listen on [default: $XDG_RUNTIME_DIR/ferrohsm/p11-kit.sock, else
    /// /tmp/ferrohsm-$UID/p11-kit.sock].
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The most client connections served at once; more are refused.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    max_clients: u64,
    /// Accepted and ignored: serve no longer runs `p11-kit server`.
    #[arg(long, value_name = "PATH", hide = true)]
    p11_kit: Option<PathBuf>,
}

/// Policy flags shared by `partition create` and `partition set`. A BOOL is
/// true/false, yes/no, on/off or 1/0.
#[derive(Args, Debug, Default)]
struct PolicyArgs {
    /// Shortest PIN accepted (1 to 255).
    #[arg(long, value_name = "N")]
    min_pin_len: Option<u64>,
    /// Failed logins before a PIN locks.
    #[arg(long, value_name = "N")]
    max_pin_failures: Option<u64>,
    /// No create, modify or destroy of objects in the partition (true/false, yes/no,
    /// on/off, 1/0).
    #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new(), hide_possible_values = true)]
    read_only: Option<bool>,
    /// The partition may wrap out extractable keys.
    #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new(), hide_possible_values = true)]
    allow_export: Option<bool>,
    /// Destroying a key moves it to the partition SO's trash.
    #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new(), hide_possible_values = true)]
    key_invalidation: Option<bool>,
}

impl PolicyArgs {
    fn policy(&self) -> Policy {
        Policy {
            min_pin_len: self.min_pin_len,
            max_pin_failures: self.max_pin_failures,
            read_only: self.read_only,
            allow_export: self.allow_export,
            key_invalidation: self.key_invalidation,
        }
    }
}

/// The device SO PIN flag.
#[derive(Args, Debug, Default)]
struct SoPin {
    /// The device SO PIN [default: $FERROHSM_SO_PIN, else asked on the terminal].
    #[arg(long, value_name = "PIN")]
    so_pin: Option<String>,
}

#[derive(Subcommand, Debug)]
enum PartitionCmd {
    /// Create a partition: a new slot with an uninitialised token.
    Create {
        /// The partition's (token's) label, at most 32 bytes.
        #[arg(long)]
        label: String,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        so: SoPin,
    },
    /// List the partitions and their policy (no login needed).
    List,
    /// Change a partition's label or policy.
    Set {
        /// The partition's slot.
        slot: u64,
        /// A new label.
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        so: SoPin,
    },
    /// Remove a partition with all its objects.
    Delete {
        /// The partition's slot.
        slot: u64,
        /// Do not ask for confirmation (required when not on a terminal).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        so: SoPin,
    },
}

#[derive(Subcommand, Debug)]
enum DeviceCmd {
    /// Initialise the admin token (C_InitToken on slot 65535), setting the device SO PIN.
    Init {
        /// The admin token's label.
        #[arg(long)]
        label: String,
        /// Re-initialise an initialised admin token (wipes its objects).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        so: SoPin,
    },
    /// Write a PKCS#10 request for the device key, for an outside CA to certify.
    Csr {
        /// Where to write it: PEM if the name ends in .pem, else DER.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        so: SoPin,
    },
    /// Install the outside CA's certificate for the device key, and its chain, after
    /// checking them; later attestations chain to that CA.
    ImportCert {
        /// The device key's certificate (PEM or DER).
        cert: PathBuf,
        /// The CA's chain up to its root (PEM or DER); repeatable.
        #[arg(long, value_name = "FILE")]
        chain: Vec<PathBuf>,
        #[command(flatten)]
        so: SoPin,
    },
}

/// Why a command failed.
pub enum Failure {
    /// The command line was wrong: exit status 2.
    Usage(String),
    /// The work failed: exit status 1.
    Run(ferrohsm_tools::Error),
    /// Already reported: exit with this status.
    Exit(u8),
}

impl From<ferrohsm_tools::Error> for Failure {
    fn from(e: ferrohsm_tools::Error) -> Self {
        Failure::Run(e)
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let module = cli.module.as_deref();
    match cli.command {
        Command::Status(a) => cmd::status::run(module, a.slot, a.pin),
        Command::Keys(k) => match k {
            KeysCmd::Trash { slot, so_pin } => cmd::keys::trash(module, slot, so_pin),
            KeysCmd::Restore { slot, unique_id, so_pin } => cmd::keys::restore(module, slot, &unique_id, so_pin),
            KeysCmd::Purge { slot, unique_id, so_pin } => cmd::keys::purge(module, slot, &unique_id, so_pin),
        },
        Command::Serve(a) => cmd::serve::run(module, a.socket, a.max_clients as usize),
        Command::Partition(p) => match p {
            PartitionCmd::Create { label, policy, so } => {
                cmd::partition::create(module, &label, &policy.policy(), so.so_pin)
            }
            PartitionCmd::List => cmd::partition::list(module),
            PartitionCmd::Set { slot, label, policy, so } => {
                cmd::partition::set(module, slot, label.as_deref(), &policy.policy(), so.so_pin)
            }
            PartitionCmd::Delete { slot, yes, so } => cmd::partition::delete(module, slot, yes, so.so_pin),
        },
        Command::Device(DeviceCmd::Init { label, force, so }) => cmd::device::init(module, &label, force, so.so_pin),
        Command::Device(DeviceCmd::Csr { out, so }) => cmd::device::csr(module, &out, so.so_pin),
        Command::Device(DeviceCmd::ImportCert { cert, chain, so }) => {
            cmd::device::import_cert(module, &cert, &chain, so.so_pin)
        }
        Command::Attest(a) => match a {
            AttestCmd::Verify {
                attestation,
                root,
                chain,
                nonce,
                csr,
                allow_imported,
                allow_extractable,
                allow_not_sensitive,
                at,
            } => cmd::attest::verify(cmd::attest::VerifyArgs {
                attestation,
                root,
                chain,
                nonce,
                csr,
                allow_imported,
                allow_extractable,
                allow_not_sensitive,
                at,
            }),
            AttestCmd::Key { slot, key, nonce, evidence, out, pin } => {
                cmd::attest::key(module, slot, key.key_ref()?, nonce.as_deref(), evidence, &out, pin)
            }
            AttestCmd::Device { nonce, out, so } => cmd::attest::device(module, nonce.as_deref(), &out, so.so_pin),
            AttestCmd::Partition { slot, device_so, nonce, out, so_pin } => {
                cmd::attest::partition(module, slot, device_so, nonce.as_deref(), &out, so_pin)
            }
            AttestCmd::Chain { slot, out, root } => cmd::attest::chain(module, slot, &out, root.as_deref()),
        },
        Command::Audit(a) => match a {
            AuditCmd::Export { out, attestation, slot, nonce, so_pin } => {
                cmd::audit::export(module, slot, &out, &attestation, nonce.as_deref(), so_pin)
            }
            AuditCmd::Verify { log, attestation, root, chain, nonce, at } => {
                cmd::audit::verify(cmd::audit::VerifyArgs { log, attestations: attestation, root, chain, nonce, at })
            }
        },
        Command::Csr(a) => cmd::csr::run(
            module,
            a.slot,
            a.key.key_ref()?,
            &a.subject,
            a.attest,
            a.evidence,
            a.nonce.as_deref(),
            &a.out,
            a.pin,
        ),
        Command::Timestamp(a) => {
            let hash = ferrohsm_tools::timestamp::Hash::parse(&a.hash)
                .ok_or_else(|| Failure::Usage(format!("--hash {}: sha256, sha384 or sha512", a.hash)))?;
            let what = match (&a.file, &a.request) {
                (_, Some(r)) => cmd::timestamp::What::Request(r),
                (Some(path), None) => cmd::timestamp::What::File { path, hash, nonce: a.nonce },
                (None, None) => return Err(Failure::Usage("give a FILE or --request REQ".into())),
            };
            let args = cmd::timestamp::Args { what, slot: a.slot, token_only: a.token, out: &a.out, pin: a.pin };
            cmd::timestamp::run(module, args)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            // Exit status 2, like clap's own usage errors.
            eprintln!("ferrohsm: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Run(e)) => {
            eprintln!("ferrohsm: {e}");
            ExitCode::FAILURE
        }
        Err(Failure::Exit(code)) => ExitCode::from(code),
    }
}
