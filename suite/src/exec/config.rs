//! The executor's tunables, taken from the suite's settings (`crate::settings`, checked
//! there once at start: a bad value is exit 2 with the fix) in one place,
//! `Config::from_settings`.

use crate::settings::Settings;
use std::collections::BTreeMap;
use std::time::Duration;

/// Substrings that always mark a kernel log line as the GPU driver's; the
/// `driver_log_patterns` setting adds to them.
pub const DEFAULT_PATTERNS: &[&str] = &["NVRM", "Xid", "nvgpu", "nvhost"];

/// What the executor and the kernel log reader are tuned by.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// How long a health probe may wait for running UB children: zero in a serial run,
    /// where no other child runs.
    pub health_defer: Duration,
    /// A site health probe command, instead of the built-in one.
    pub health_probe_cmd: Option<String>,
    /// `isolate` rows in reused workers (else a child each).
    pub isolate_workers: bool,
    /// Substrings that mark a kernel log line as the GPU driver's (defaults included).
    pub driver_log_patterns: Vec<String>,
    /// CUDA device of each PCI address, where given.
    pub gpu_pci: Option<BTreeMap<String, u32>>,
    /// The kernel log source the site names (`off` disables it).
    pub kernel_log: Option<String>,
    /// NvSciIpc endpoint pairs (`ipc_endpoints`) the executor gives to cross-process cases.
    pub ipc_pairs: u32,
}

impl Config {
    /// The configuration `s` gives, for a run on more than one thread (`parallel`) or not.
    pub fn from_settings(s: &Settings, parallel: bool) -> Config {
        let mut driver_log_patterns: Vec<String> =
            DEFAULT_PATTERNS.iter().map(|p| p.to_string()).collect();
        driver_log_patterns.extend(s.driver_log_patterns.iter().cloned());
        Config {
            health_defer: if parallel {
                Duration::from_secs_f64(s.health_defer_s)
            } else {
                Duration::ZERO
            },
            health_probe_cmd: s.health_probe_cmd.clone(),
            isolate_workers: s.isolate_workers,
            driver_log_patterns,
            gpu_pci: s.gpu_pci.clone(),
            kernel_log: s.kernel_log.clone(),
            ipc_pairs: u32::try_from(s.ipc_endpoints.len()).unwrap_or(u32::MAX),
        }
    }
}

static CONFIG: std::sync::OnceLock<Config> = std::sync::OnceLock::new();

/// Sets the configuration for this process from its settings (once, before any case
/// runs; a later call is ignored).
pub fn configure(parallel: bool) {
    let _ = CONFIG.set(Config::from_settings(crate::settings::get(), parallel));
}

/// This process's configuration: as `configure` set it, else its settings' for a serial
/// run (a child process of the suite, a unit test: probes do not wait).
pub fn get() -> &'static Config {
    CONFIG.get_or_init(|| Config::from_settings(crate::settings::get(), false))
}
