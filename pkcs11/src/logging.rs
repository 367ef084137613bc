//! A minimal stderr logger. Off unless `FERROHSM_LOG` (or `log` in the config file)
//! names a level. Messages never carry PINs or key bytes.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record<'_>) {
        if self.enabled(r.metadata()) {
            let level = match r.level() {
                Level::Error => "error",
                Level::Warn => "warning",
                Level::Info => "info",
                Level::Debug | Level::Trace => "debug",
            };
            eprintln!("ferrohsm: {level}: {}", r.args());
        }
    }
    fn flush(&self) {}
}

static LOGGER: Stderr = Stderr;

/// Installs the logger (once) and sets the level: `FERROHSM_LOG`, else `config`,
/// else warnings only.
pub fn init(config: Option<&str>) {
    let _ = log::set_logger(&LOGGER);
    let level = std::env::var("FERROHSM_LOG").ok();
    let level = match level.as_deref().or(config).unwrap_or("warn") {
        "off" => LevelFilter::Off,
        "error" => LevelFilter::Error,
        "info" => LevelFilter::Info,
        "debug" | "trace" => LevelFilter::Debug,
        _ => LevelFilter::Warn,
    };
    log::set_max_level(level);
}
