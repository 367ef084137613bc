//! `ferrohsm`: the admin command line of ferrohsm.
//!
//! Every command talks to the token through PKCS#11 only (the module loaded with
//! the `cryptoki` crate); `serve` hands the module to `p11-kit server`. The work is
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
    /// Run `p11-kit server` with this module in the foreground, so that other
    /// processes use the store through p11-kit's client module.
    Serve(ServeArgs),
    /// Create, list, change and remove partitions (slots), as the device SO.
    #[command(subcommand)]
    Partition(PartitionCmd),
    /// The device (the admin token).
    #[command(subcommand)]
    Device(DeviceCmd),
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
    /// The p11-kit program.
    #[arg(long, value_name = "PATH", default_value = "p11-kit")]
    p11_kit: PathBuf,
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
}

/// Why a command failed.
pub enum Failure {
    /// The command line was wrong: exit status 2.
    Usage(String),
    /// The work failed: exit status 1.
    Run(ferrohsm_tools::Error),
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
        Command::Serve(a) => cmd::serve::run(module, a.socket, &a.p11_kit),
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
    }
}
