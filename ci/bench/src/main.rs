//! ferrohsm-bench: measures any PKCS#11 module through its raw function list.
//!
//! `ci/bench.sh` drives it; docs/performance.md explains the rows. Subcommands:
//!
//! ```text
//! ferrohsm-bench init --module SO --slot N --label L --so-pin P --pin P
//!     C_InitToken, SO login, C_InitPIN: a token ready for the bench.
//! ferrohsm-bench measure --name NAME --module SO --token-label L --pin P [--quick] [--out FILE]
//!                        [--rows ID,ID...]
//!     every row of the table (or the rows named) against one module; the result file
//!     feeds `table`. Naming rows is for a profiler: `--rows aes256_gcm_1mib`.
//! ferrohsm-bench table [--quick] [--check] NAME=FILE...
//!     the markdown table from result files; with --check, fails when ferrohsm misses a target.
//! ferrohsm-bench sign-rate --module SO --token-label L --pin P [--quick]
//!     the child of the key usage row: ECDSA P-256 signatures per second, printed.
//! ferrohsm-bench login-once --module SO --slot N --pin P
//!     (internal) one timed C_Initialize + C_OpenSession + C_Login; prints the three in ms.
//! ```

mod cpu;
mod measure;
mod p11;
mod table;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use measure::{Bench, Config, MEASUREMENTS};

/// Command-line options: `--flag` or `--key value`, plus positional arguments.
#[derive(Default)]
struct Args {
    flags: Vec<String>,
    values: HashMap<String, String>,
    positional: Vec<String>,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
        const FLAGS: &[&str] = &["--quick", "--check"];
        let mut out = Args::default();
        let mut args = args.peekable();
        while let Some(a) = args.next() {
            if FLAGS.contains(&a.as_str()) {
                out.flags.push(a);
            } else if let Some(key) = a.strip_prefix("--") {
                let value = args.next().ok_or(format!("--{key} needs a value"))?;
                out.values.insert(key.to_string(), value);
            } else {
                out.positional.push(a);
            }
        }
        Ok(out)
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    fn get(&self, key: &str) -> Result<&str, String> {
        self.values.get(key).map(String::as_str).ok_or(format!("--{key} is required"))
    }

    fn slot(&self) -> Result<cryptoki_sys::CK_SLOT_ID, String> {
        let s = self.get("slot")?;
        s.parse().map_err(|_| format!("--slot {s}: not a number"))
    }
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let command = argv.next().unwrap_or_default();
    let result = Args::parse(argv).and_then(|args| match command.as_str() {
        "init" => init(&args),
        "measure" => measure(&args),
        "table" => table(&args),
        "login-once" => login_once(&args),
        "sign-rate" => sign_rate(&args),
        _ => {
            Err(format!("unknown command '{command}': init, measure, table, login-once or sign-rate (see ci/bench.sh)"))
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrohsm-bench {command}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init(args: &Args) -> Result<(), String> {
    let module = PathBuf::from(args.get("module")?);
    let p11 = p11::Module::load(&module)?;
    p11.initialize().map_err(|e| e.to_string())?;
    let slot = args.slot()?;
    measure::init_token(&p11, slot, args.get("label")?, args.get("so-pin")?.as_bytes(), args.get("pin")?.as_bytes())
        .map_err(|e| format!("{}, slot {slot}: {e}", module.display()))?;
    p11.finalize().map_err(|e| e.to_string())
}

fn measure(args: &Args) -> Result<(), String> {
    let name = args.get("name")?;
    let config = Config::new(args.flag("--quick"));
    let mut bench =
        Bench::new(PathBuf::from(args.get("module")?), args.get("token-label")?, args.get("pin")?.as_bytes(), config)?;
    let only: Option<Vec<&str>> = args.values.get("rows").map(|r| r.split(',').map(str::trim).collect());
    if let Some(only) = &only {
        let unknown: Vec<&&str> = only.iter().filter(|id| !MEASUREMENTS.iter().any(|m| m.id == **id)).collect();
        if !unknown.is_empty() {
            let ids: Vec<&str> = MEASUREMENTS.iter().map(|m| m.id).collect();
            return Err(format!("--rows: no row {unknown:?}; the rows are {ids:?}"));
        }
    }
    let mut rows = Vec::new();
    for m in measure::run_order().filter(|m| only.as_ref().is_none_or(|o| o.contains(&m.id))) {
        let title = (m.title)(&config);
        if let Some(mechanism) = m.needs {
            match bench.offers(mechanism) {
                Ok(true) => {}
                Ok(false) => {
                    eprintln!("  {name}: {title}: skipped (the module does not list mechanism {mechanism:#x})");
                    continue;
                }
                Err(e) => {
                    eprintln!("  {name}: {title}: FAILED: C_GetMechanismList: {e}");
                    rows.push((m.id, Err(format!("C_GetMechanismList: {e}")), None));
                    continue;
                }
            }
        }
        let started = std::time::Instant::now();
        let before = cpu::Snapshot::now();
        let outcome = (m.run)(&mut bench);
        let around = before.and_then(|a| a.others_until(&cpu::Snapshot::now()?));
        let others = bench.take_others().or(around);
        let busy = others.map_or(String::new(), |o| format!("; other processes used {o:.2} CPUs"));
        match &outcome {
            Ok(v) => eprintln!("  {name}: {title}: {v:.3} ({:.1} s{busy})", started.elapsed().as_secs_f64()),
            Err(e) => {
                eprintln!("  {name}: {title}: FAILED: {e}");
                // Whatever the failure left behind (an active operation, a lost login)
                // must not spill into the next row.
                bench.reset_session();
            }
        }
        rows.push((m.id, outcome, others));
    }
    bench.release().map_err(|e| e.to_string())?;
    let text = table::to_file(&rows);
    match args.values.get("out") {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{path}: {e}")),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn table(args: &Args) -> Result<(), String> {
    let config = Config::new(args.flag("--quick"));
    let mut results = Vec::new();
    for spec in &args.positional {
        let (name, path) = spec.split_once('=').ok_or(format!("'{spec}': expected NAME=FILE"))?;
        if !table::MODULES.contains(&name) {
            return Err(format!("'{name}': the table knows {:?}", table::MODULES));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        results.push((name.to_string(), table::from_file(&text)?));
    }
    let (text, missed) = table::render(&config, cpu::cpus(), &results);
    print!("{text}");
    if args.flag("--check") && missed > 0 {
        return Err(format!("ferrohsm missed {missed} target(s)"));
    }
    Ok(())
}

fn sign_rate(args: &Args) -> Result<(), String> {
    let config = Config::new(args.flag("--quick"));
    let rate = measure::sign_rate_once(
        PathBuf::from(args.get("module")?),
        args.get("token-label")?,
        args.get("pin")?.as_bytes(),
        config,
    )?;
    println!("{rate:.3}");
    Ok(())
}

fn login_once(args: &Args) -> Result<(), String> {
    let [init, open, login] =
        measure::login_once(&PathBuf::from(args.get("module")?), args.slot()?, args.get("pin")?.as_bytes())?;
    println!("{init:.3} {open:.3} {login:.3}");
    Ok(())
}
