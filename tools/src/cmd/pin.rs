//! Getting a PIN: the flag, else the environment, else a prompt without echo on the
//! terminal. PINs live in `Zeroizing` strings and are never printed.

use std::env;
use std::io::IsTerminal;

use zeroize::Zeroizing;

use crate::Failure;
use ferrohsm_tools::Error;

/// Which PIN, for the flag, the variable and the prompt.
#[derive(Clone, Copy)]
pub struct Which {
    /// The flag, e.g. `--so-pin`.
    pub flag: &'static str,
    /// The environment variable, e.g. `FERROHSM_SO_PIN`.
    pub env: &'static str,
    /// What to call it in the prompt, e.g. "device SO PIN".
    pub name: &'static str,
}

/// The device SO PIN.
pub const DEVICE_SO: Which = Which { flag: "--so-pin", env: "FERROHSM_SO_PIN", name: "device SO PIN" };

/// A partition's SO PIN (the same flag and variable as the device SO's: a command
/// acts as one or the other).
pub const PARTITION_SO: Which = Which { flag: "--so-pin", env: "FERROHSM_SO_PIN", name: "partition SO PIN" };

/// A user PIN.
pub const USER: Which = Which { flag: "--pin", env: "FERROHSM_PIN", name: "user PIN" };

/// The PIN from `flag` (taken, so no copy stays behind in the parsed arguments),
/// else the environment, else asked on the terminal (twice when `confirm`, for a
/// new PIN).
pub fn get(flag: Option<String>, which: Which, confirm: bool) -> Result<Zeroizing<String>, Failure> {
    if let Some(p) = flag {
        return Ok(Zeroizing::new(p));
    }
    if let Ok(p) = env::var(which.env) {
        let p = Zeroizing::new(p);
        if !p.is_empty() {
            return Ok(p);
        }
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(format!(
            "the {} is needed: pass {} or set {} (no terminal to ask on)",
            which.name, which.flag, which.env
        )));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| Failure::Run(Error::Other(format!("reading the {}: {e}", which.name))))
    };
    let pin = ask(&format!("{}: ", which.name))?;
    if confirm {
        let again = ask(&format!("{} again: ", which.name))?;
        if *again != *pin {
            return Err(Failure::Run(Error::Other(format!("the two {}s differ", which.name))));
        }
    }
    Ok(pin)
}
