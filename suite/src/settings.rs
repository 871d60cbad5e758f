//! The suite's settings, in one place: command-line options, an optional settings file
//! (`--settings FILE`, YAML) and environment variables as aliases, in that order of
//! precedence. Checked once at start (a bad value: exit 2, naming the setting and what it
//! takes), recorded in the facts as `setting.NAME` (`hil_proto::settings::SUITE_ENV`),
//! and handed to child processes through their environment variables. See
//! `docs/environment.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One setting: its key (in the settings file; the option is `--` + key with `-` for `_`)
/// and the environment variable that is its alias (and its name in the facts).
pub struct Spec {
    pub key: &'static str,
    pub env: &'static str,
}

const fn spec(key: &'static str, env: &'static str) -> Spec {
    Spec { key, env }
}

/// Every setting. `device_ordinals` is set by the suite for its own children only.
pub const SPECS: &[Spec] = &[
    spec("tables", "HIL_TABLES"),
    spec("events", "HIL_EVENTS"),
    spec("devices", "HIL_DEVICES"),
    spec("cudart", "HIL_CUDART"),
    spec("nvscisync_lib", "HIL_NVSCISYNC_LIB"),
    spec("nvsciipc_lib", "HIL_NVSCIIPC_LIB"),
    spec("ipc_endpoints", "HIL_IPC_ENDPOINTS"),
    spec("kernel_log", "HIL_KERNEL_LOG"),
    spec("driver_log_patterns", "HIL_DRIVER_LOG_PATTERNS"),
    spec("gpu_pci", "HIL_GPU_PCI"),
    spec("health_probe_cmd", "HIL_HEALTH_PROBE_CMD"),
    spec("health_defer_s", "HIL_HEALTH_DEFER_S"),
    spec("isolate_workers", "HIL_ISOLATE_WORKERS"),
    spec("device_ordinals", "HIL_DEVICE_ORDINALS"),
];

/// Keys a settings file may hold (not the children's `device_ordinals`).
fn file_keys() -> impl Iterator<Item = &'static Spec> {
    SPECS.iter().filter(|s| s.key != "device_ordinals")
}

/// The option that sets `key` (`health_defer_s` -> `--health-defer-s`).
pub fn flag(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}

/// How long a UB case's health probe waits, by default, for other UB children on its
/// devices in a parallel run.
pub const HEALTH_DEFER_DEFAULT_S: f64 = 10.0;

/// The settings in force, typed and checked.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Tables directory instead of the built-in tables.
    pub tables: Option<PathBuf>,
    /// Event stream file (JSON lines).
    pub events: Option<PathBuf>,
    /// List cases as for a board with this many CUDA devices.
    pub devices: Option<u32>,
    /// The CUDA runtime library to load first.
    pub cudart: Option<PathBuf>,
    /// The NvSciSync library to load instead of `libnvscisync.so.1`.
    pub nvscisync_lib: Option<PathBuf>,
    /// The NvSciIpc library to load instead of `libnvsciipc.so.1`.
    pub nvsciipc_lib: Option<PathBuf>,
    /// NvSciIpc INTER_PROCESS endpoint pairs of the board's nvsciipc.cfg for the
    /// cross-process rows (`a_0:a_1,b_0:b_1`); none given: those rows are not-supported.
    pub ipc_endpoints: Vec<EndpointPair>,
    /// Where the kernel log is read from: a file or FIFO, `off`, or `/dev/kmsg` (None).
    pub kernel_log: Option<String>,
    /// Extra substrings that mark a kernel log line as the GPU driver's.
    pub driver_log_patterns: Vec<String>,
    /// PCI address -> CUDA device, instead of what the driver lists.
    pub gpu_pci: Option<BTreeMap<String, u32>>,
    /// A site command replacing the built-in health probe (`{devices}`: the device).
    pub health_probe_cmd: Option<String>,
    /// Seconds a health probe waits for other UB children (0..=20), parallel runs only.
    pub health_defer_s: f64,
    /// `isolate` rows in reused workers (true, the default) or a child each.
    pub isolate_workers: bool,
    /// Board device numbers of the GPUs a child process sees (set by the suite).
    pub device_ordinals: Option<Vec<u32>>,
    /// `--test-threads`, when given.
    pub test_threads: Option<usize>,
    /// Each setting as given (env name -> text), for the facts and for children.
    given: BTreeMap<&'static str, String>,
}

/// A setting that cannot be used: the message names it and what it takes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// Where a setting's text came from, to name it in an error.
#[derive(Clone, Copy)]
enum Source<'a> {
    Flag,
    File(&'a SettingsFile),
    Env,
}

/// A settings file as read: each key's text, and where the file holds it.
pub struct SettingsFile {
    file: String,
    text: String,
    values: BTreeMap<String, String>,
}

impl SettingsFile {
    /// Reads and checks the keys of a settings file (unknown key: located error naming
    /// the known ones).
    pub fn load(path: &Path) -> Result<SettingsFile, SettingsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SettingsError(format!("--settings {}: {e}", path.display())))?;
        SettingsFile::parse(&path.display().to_string(), &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<SettingsFile, SettingsError> {
        let map: BTreeMap<String, serde_json::Value> = if text.trim().is_empty() {
            BTreeMap::new()
        } else {
            hil_proto::yaml::from_str::<Option<_>>(file, text)
                .map_err(|e| SettingsError(e.to_string()))?
                .unwrap_or_default()
        };
        let mut values = BTreeMap::new();
        let this = |values| SettingsFile {
            file: file.to_string(),
            text: text.to_string(),
            values,
        };
        for (key, v) in map {
            if !file_keys().any(|s| s.key == key) {
                let known: Vec<_> = file_keys().map(|s| s.key).collect();
                return Err(this(values).located(
                    &key,
                    false,
                    format!(
                        "unknown setting `{key}`; the settings are: {}",
                        known.join(", ")
                    ),
                ));
            }
            values.insert(key, as_text(&v));
        }
        Ok(this(values))
    }

    /// `file:line:column: message` at `key`'s value (`at_value`) or at the key; the first
    /// line when the key is not found as written.
    fn located(&self, key: &str, at_value: bool, message: String) -> SettingsError {
        let (line, column) = self
            .text
            .lines()
            .enumerate()
            .find_map(|(i, l)| {
                let body = l.trim_start();
                let rest = body.strip_prefix(key)?.strip_prefix(':')?;
                let indent = l.len() - body.len();
                let value_at = key.len() + 1 + (rest.len() - rest.trim_start().len());
                Some((i + 1, indent + if at_value { value_at } else { 0 } + 1))
            })
            .unwrap_or((1, 1));
        SettingsError(format!("{}:{line}:{column}: {message}", self.file))
    }
}

/// A YAML value as the text its environment variable would hold: a list joined by `|`
/// (patterns), a map as `K=V,…` (`gpu_pci`), a boolean as `1` / `0`.
fn as_text(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => a.iter().map(as_text).collect::<Vec<_>>().join("|"),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", as_text(v)))
            .collect::<Vec<_>>()
            .join(","),
    }
}

impl Settings {
    /// The settings from options (`(key, text)`, as given), a settings file and the
    /// environment; the first that gives a setting wins. Every value is checked.
    pub fn resolve(
        flags: &[(&str, String)],
        file: Option<&SettingsFile>,
    ) -> Result<Settings, SettingsError> {
        let mut s = Settings {
            health_defer_s: HEALTH_DEFER_DEFAULT_S,
            isolate_workers: true,
            ..Settings::default()
        };
        for spec in SPECS {
            let from_flag = flags.iter().find(|(k, _)| *k == spec.key);
            let from_file = file.and_then(|f| Some((f, f.values.get(spec.key)?)));
            let (text, from) = match (from_flag, from_file) {
                (Some((_, v)), _) => (v.clone(), Source::Flag),
                (None, Some((f, v))) => (v.clone(), Source::File(f)),
                // Empty is unset, as in scripts' `VAR=${X:-}`.
                (None, None) => match std::env::var(spec.env) {
                    Ok(v) if !v.trim().is_empty() => (v, Source::Env),
                    _ => continue,
                },
            };
            s.set(spec, &text).map_err(|why| {
                let named = |name: &str| why.replace(WHO, name);
                match from {
                    Source::Flag => SettingsError(named(&flag(spec.key))),
                    Source::Env => SettingsError(named(spec.env)),
                    Source::File(f) => f.located(spec.key, true, named(spec.key)),
                }
            })?;
            s.given.insert(spec.env, text);
        }
        Ok(s)
    }

    /// Parses one setting's text into its field; Err names the setting as [`WHO`].
    fn set(&mut self, spec: &Spec, v: &str) -> Result<(), String> {
        let t = v.trim();
        match spec.key {
            "tables" => self.tables = Some(t.into()),
            "events" => self.events = Some(t.into()),
            "devices" => {
                self.devices = Some(t.parse().map_err(|_| {
                    format!("{WHO}={v:?}: expected a number of CUDA devices (e.g. 2)")
                })?)
            }
            "cudart" => self.cudart = Some(t.into()),
            "nvscisync_lib" => self.nvscisync_lib = Some(t.into()),
            "nvsciipc_lib" => self.nvsciipc_lib = Some(t.into()),
            "ipc_endpoints" => {
                self.ipc_endpoints = parse_endpoint_pairs(t).map_err(|why| {
                    format!(
                        "{WHO}={v:?}: {why}; expected INTER_PROCESS endpoint pairs of the board's \
                     nvsciipc.cfg as NAME_0:NAME_1, several joined by `,` \
                     (e.g. `ipc_test_0:ipc_test_1,ipc_test_a_0:ipc_test_a_1`)"
                    )
                })?
            }
            "kernel_log" => self.kernel_log = Some(t.to_string()),
            "driver_log_patterns" => {
                self.driver_log_patterns = t
                    .split('|')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(String::from)
                    .collect()
            }
            "gpu_pci" => self.gpu_pci = Some(crate::pci::addr::parse_map(WHO, t)?),
            "health_probe_cmd" => self.health_probe_cmd = Some(v.to_string()),
            "health_defer_s" => {
                let max = hil_proto::HEALTH_DEFER_MAX_S as f64;
                self.health_defer_s = t
                    .parse::<f64>()
                    .ok()
                    .filter(|s| (0.0..=max).contains(s))
                    .ok_or_else(|| {
                        format!("{WHO}={v:?}: expected seconds from 0 (never wait) to {max}")
                    })?
            }
            "isolate_workers" => {
                self.isolate_workers = match t {
                    "1" => true,
                    "0" => false,
                    _ => {
                        return Err(format!(
                            "{WHO}={v:?}: expected 1 (isolate rows in reused workers, the \
                             default) or 0 (a child process each)"
                        ))
                    }
                }
            }
            "device_ordinals" => {
                let o: Option<Vec<u32>> = t.split(',').map(|n| n.trim().parse().ok()).collect();
                self.device_ordinals = Some(o.ok_or_else(|| {
                    format!("{WHO}={v:?}: expected board device numbers (e.g. `2,0`)")
                })?)
            }
            other => unreachable!("setting `{other}` has no field"),
        }
        Ok(())
    }

    /// `setting.NAME` for every name of `hil_proto::settings::SUITE_ENV`: the text in
    /// force (`unset` when not given); names the suite does not read (the driver's, the
    /// model's) from the environment.
    pub fn facts(&self) -> Vec<(String, String)> {
        use hil_proto::settings::{PREFIX, SUITE_ENV, UNSET};
        let mut out: Vec<(String, String)> = SUITE_ENV
            .iter()
            .map(|name| {
                let v = match self.given.get(name) {
                    Some(v) => v.clone(),
                    None if SPECS.iter().any(|s| s.env == *name) => UNSET.to_string(),
                    None => std::env::var(name).unwrap_or_else(|_| UNSET.to_string()),
                };
                (format!("{PREFIX}{name}"), v)
            })
            .collect();
        let threads = match self.test_threads {
            Some(n) => n.to_string(),
            None => format!("{} (one per CPU)", default_threads()),
        };
        out.push((hil_proto::settings::TEST_THREADS.to_string(), threads));
        out
    }

    /// Hands every setting given by option or file to this process's environment, so
    /// that child processes (UB cases, workers, health probes) run under the same ones.
    /// Called once at start, before any thread exists.
    pub fn export(&self) {
        for (name, v) in &self.given {
            // The event file is this process's own: a child never writes it.
            if *name != "HIL_EVENTS" {
                std::env::set_var(name, v);
            }
        }
    }
}

/// One NvSciIpc endpoint pair: the suite opens the first end, its peer process the second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPair(pub String, pub String);

/// `a_0:a_1[,b_0:b_1]`: every name once, each shorter than `NVSCIIPC_MAX_ENDPOINT_NAME`
/// (64 bytes with its terminator) and without blanks, `:` or `,`.
fn parse_endpoint_pairs(t: &str) -> Result<Vec<EndpointPair>, String> {
    let max = nvsci_abi::ipc::MAX_ENDPOINT_NAME - 1;
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    // `,` as written on a command line; `|` as a settings file's YAML list arrives.
    for pair in t.split([',', '|']).map(str::trim) {
        let Some((a, b)) = pair.split_once(':') else {
            return Err(format!("`{pair}` is not a pair NAME_0:NAME_1"));
        };
        for name in [a, b] {
            if name.is_empty()
                || name.len() > max
                || name.contains(|c: char| c.is_whitespace() || c.is_control() || c == ':')
            {
                return Err(format!(
                    "`{}` in `{}` is not an endpoint name (1 to {max} bytes, no blanks, \
                     control characters or `:`)",
                    name.escape_debug(),
                    pair.escape_debug()
                ));
            }
            if !seen.insert(name) {
                return Err(format!("endpoint `{name}` is named twice"));
            }
        }
        out.push(EndpointPair(a.to_string(), b.to_string()));
    }
    Ok(out)
}

/// Stands for the setting's name in a message until it is known how it was given.
const WHO: &str = "\u{1}SETTING\u{1}";

/// Cases at once when `--test-threads` is not given: one per CPU.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

static CURRENT: OnceLock<Settings> = OnceLock::new();

/// Makes `s` the settings of this process (the first call wins).
pub fn init(s: Settings) {
    let _ = CURRENT.set(s);
}

/// The settings of this process: those `init` was given, else the environment's (a
/// value that does not parse is left at its default there; the command line refuses it).
pub fn get() -> &'static Settings {
    CURRENT.get_or_init(|| {
        Settings::resolve(&[], None).unwrap_or_else(|_| Settings {
            health_defer_s: HEALTH_DEFER_DEFAULT_S,
            isolate_workers: true,
            ..Settings::default()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<SettingsFile, SettingsError> {
        SettingsFile::parse("s.yaml", text)
    }

    #[test]
    fn a_flag_wins_over_the_file_and_values_are_typed() {
        let f = file("health_defer_s: 5\nisolate_workers: false\ngpu_pci: {0: \"0000:18:00\"}\ndriver_log_patterns: [a, b]\n").unwrap();
        let s = Settings::resolve(&[("health_defer_s", "2".into())], Some(&f)).unwrap();
        assert_eq!(s.health_defer_s, 2.0);
        assert!(!s.isolate_workers);
        assert_eq!(s.gpu_pci.as_ref().unwrap().get("0000:18:00"), Some(&0));
        assert_eq!(s.driver_log_patterns, ["a", "b"]);
        let facts: BTreeMap<_, _> = s.facts().into_iter().collect();
        assert_eq!(facts["setting.HIL_HEALTH_DEFER_S"], "2");
        assert_eq!(facts["setting.HIL_ISOLATE_WORKERS"], "0");
        assert_eq!(facts["setting.HIL_DRIVER_LOG_PATTERNS"], "a|b");
    }

    #[test]
    fn a_bad_value_names_the_setting_as_it_was_given() {
        let e = Settings::resolve(&[("health_defer_s", "30".into())], None).unwrap_err();
        assert_eq!(
            e.0,
            "--health-defer-s=\"30\": expected seconds from 0 (never wait) to 20"
        );
        let f = file("# site\nisolate_workers: 2\n").unwrap();
        let e = Settings::resolve(&[], Some(&f)).unwrap_err();
        assert!(
            e.0.starts_with("s.yaml:2:18: isolate_workers=\"2\": expected 1"),
            "{e}"
        );
        let e = Settings::resolve(&[("gpu_pci", "0=18:00".into())], None).unwrap_err();
        assert!(e.0.starts_with("--gpu-pci: `0=18:00` is not"), "{e}");
    }

    #[test]
    fn endpoint_pairs_are_checked_and_recorded() {
        let s = Settings::resolve(&[("ipc_endpoints", "a_0:a_1, b_0:b_1".into())], None).unwrap();
        assert_eq!(
            s.ipc_endpoints,
            [
                EndpointPair("a_0".into(), "a_1".into()),
                EndpointPair("b_0".into(), "b_1".into())
            ]
        );
        let facts: BTreeMap<_, _> = s.facts().into_iter().collect();
        assert_eq!(facts["setting.HIL_IPC_ENDPOINTS"], "a_0:a_1, b_0:b_1");
        for bad in [
            "a_0",
            "a_0:",
            "a:a",
            "a:b,b:c",
            "a b:c",
            "a\u{1}:b",
            "a\u{1b}[31m:b",
            &format!("{}:b", "x".repeat(64)),
        ] {
            let e = Settings::resolve(&[("ipc_endpoints", bad.into())], None).unwrap_err();
            assert!(
                e.0.starts_with("--ipc-endpoints=")
                    && e.0.contains("expected INTER_PROCESS endpoint pairs"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn endpoint_pairs_in_a_settings_file_may_be_a_list() {
        let f = file("ipc_endpoints: [a_0:a_1, b_0:b_1]\n").unwrap();
        let s = Settings::resolve(&[], Some(&f)).unwrap();
        assert_eq!(
            s.ipc_endpoints,
            [
                EndpointPair("a_0".into(), "a_1".into()),
                EndpointPair("b_0".into(), "b_1".into())
            ]
        );
        let f = file("ipc_endpoints: [a_0:a_1, c]\n").unwrap();
        assert!(Settings::resolve(&[], Some(&f)).is_err());
    }

    #[test]
    fn an_unknown_key_in_the_file_is_located_and_names_the_known_ones() {
        let e = file("devices: 2\nhealth_defer: 3\n").err().unwrap();
        assert!(
            e.0.starts_with("s.yaml:2:1: unknown setting `health_defer`; the settings are: tables, events, devices"),
            "{e}"
        );
        assert!(!e.0.contains("device_ordinals"), "{e}");
        let e = file("devices: [1\n").err().unwrap();
        assert!(e.0.starts_with("s.yaml:"), "{e}");
    }
}
