//! Where the store lives, and the optional configuration file.
//!
//! Resolution order (DESIGN.md): `FERROHSM_STORE`; else `store` in the config file
//! (`FERROHSM_CONF`, else `$XDG_CONFIG_HOME/ferrohsm/ferrohsm.toml`); else
//! `$XDG_DATA_HOME/ferrohsm`. `XDG_*` fall back to `~/.config` and `~/.local/share`.

use std::env;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Error;

/// The configuration file (`ferrohsm.toml`). Every key is optional.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Store directory. A relative path is taken relative to the config file.
    pub store: Option<PathBuf>,
    /// Crypto provider: `"aws-lc"` or `"rustcrypto"` (when both are built in).
    pub provider: Option<String>,
    /// Log level on stderr: `error`, `warn`, `info`, `debug`. `FERROHSM_LOG` overrides.
    pub log: Option<String>,
    /// Argon2id memory cost for PINs set from now on, in KiB.
    pub pin_kdf_memory_kib: Option<u32>,
    /// Argon2id passes for PINs set from now on.
    pub pin_kdf_passes: Option<u32>,
    /// Count key usage into `key_usage` audit entries (default true). The other
    /// audit events are always logged; this exists to measure what counting costs.
    pub audit_key_usage: Option<bool>,
}

/// The configuration in effect and where it came from.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The parsed file (defaults when there is none).
    pub config: Config,
    /// The file that was read, if any.
    pub config_path: Option<PathBuf>,
    /// The store directory.
    pub store: PathBuf,
}

fn home() -> Option<PathBuf> {
    env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    match env::var_os(var).filter(|v| !v.is_empty()) {
        Some(v) => Some(PathBuf::from(v)),
        None => home().map(|h| h.join(fallback)),
    }
}

/// Reads the configuration and resolves the store directory.
pub fn resolve() -> Result<Settings, Error> {
    let (config, config_path) = match env::var_os("FERROHSM_CONF").filter(|v| !v.is_empty()) {
        // An explicitly named file must exist.
        Some(p) => {
            let p = PathBuf::from(p);
            (read_config(&p)?, Some(p))
        }
        None => match xdg("XDG_CONFIG_HOME", ".config").map(|d| d.join("ferrohsm/ferrohsm.toml")) {
            Some(p) if p.is_file() => (read_config(&p)?, Some(p)),
            _ => (Config::default(), None),
        },
    };
    let store = if let Some(s) = env::var_os("FERROHSM_STORE").filter(|v| !v.is_empty()) {
        PathBuf::from(s)
    } else if let Some(s) = &config.store {
        match &config_path {
            Some(cp) if s.is_relative() => cp.parent().unwrap_or(Path::new(".")).join(s),
            _ => s.clone(),
        }
    } else {
        xdg("XDG_DATA_HOME", ".local/share")
            .map(|d| d.join("ferrohsm"))
            .ok_or_else(|| Error::Config("no store location: set FERROHSM_STORE or HOME".into()))?
    };
    Ok(Settings { config, config_path, store })
}

fn read_config(path: &Path) -> Result<Config, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_keys_and_rejects_unknown_ones() {
        let c: Config = toml::from_str(
            "store = \"hsm\"\nprovider = \"rustcrypto\"\nlog = \"debug\"\npin_kdf_memory_kib = 8192\npin_kdf_passes = 1\n",
        )
        .unwrap();
        assert_eq!(c.store.as_deref(), Some(Path::new("hsm")));
        assert_eq!(c.provider.as_deref(), Some("rustcrypto"));
        assert_eq!(c.pin_kdf_memory_kib, Some(8192));
        assert!(toml::from_str::<Config>("stroe = \"x\"").is_err());
    }
}
