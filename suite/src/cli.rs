//! The `hil-suite` command line.

use crate::{events, facts, harness, ops, ub};
use anyhow::{bail, Context as _};
use clap::{CommandFactory, FromArgMatches, Parser};
use hil_proto::Event;
use std::path::PathBuf;

/// hil-suite: conformance checks for external synchronization objects imported into CUDA
/// (NvSciSync, Vulkan-exported semaphores). Runs on the board itself.
///
/// Cases come from YAML tables built into the binary (or --tables DIR). A case the board
/// cannot run is reported not-supported with the probed reason; undefined-behaviour
/// scenarios run in child processes and are reported flagged. The libtest options below
/// work as in `cargo test`, so cargo-nextest can drive this binary; hil-run reads the
/// JSON-lines stream written with --events.
#[derive(Parser)]
#[command(name = "hil-suite", version)]
struct Cli {
    /// Load tables from DIR (*.yaml) instead of the ones built in. [alias: HIL_TABLES]
    #[arg(long, value_name = "DIR")]
    tables: Option<String>,
    /// Append JSON-lines events (facts, start, result) to FILE. Under cargo-nextest, which
    /// knows only pass, fail and skip, set HIL_EVENTS to keep real outcomes. [alias: HIL_EVENTS]
    #[arg(long, value_name = "FILE")]
    events: Option<String>,
    /// List and run cases as for a board with N CUDA devices (`gpus` axes in the tables).
    /// Default: the devices this board has, and at least 2, so machines with 0, 1 or 2
    /// GPUs list the same cases. Use it to list another board's cases from here.
    /// [alias: HIL_DEVICES]
    #[arg(long, value_name = "N")]
    devices: Option<u32>,
    /// Read settings from FILE (YAML, one `key: value` per setting; keys are the options
    /// below without `--`, with `_` for `-`: `health_defer_s: 5`). An option given on the
    /// command line wins over the file, the file over the environment variable.
    #[arg(long, value_name = "FILE")]
    settings: Option<PathBuf>,
    /// The CUDA runtime library to load, before the sonames and /usr/local/cuda.
    /// [alias: HIL_CUDART]
    #[arg(long, value_name = "FILE")]
    cudart: Option<String>,
    /// The NvSciSync library to load instead of libnvscisync.so.1. [alias: HIL_NVSCISYNC_LIB]
    #[arg(long, value_name = "FILE")]
    nvscisync_lib: Option<String>,
    /// The NvSciIpc library to load instead of libnvsciipc.so.1. [alias: HIL_NVSCIIPC_LIB]
    #[arg(long, value_name = "FILE")]
    nvsciipc_lib: Option<String>,
    /// NvSciIpc INTER_PROCESS endpoint pairs of this board's nvsciipc.cfg for the
    /// cross-process NvSciSync rows (`a_0:a_1,b_0:b_1`; the suite opens the first name, its
    /// peer process the second); none: those rows are not-supported. [alias: HIL_IPC_ENDPOINTS]
    #[arg(long, value_name = "PAIRS")]
    ipc_endpoints: Option<String>,
    /// A file or FIFO the kernel log is appended to, where /dev/kmsg is not readable; `off`:
    /// none. [alias: HIL_KERNEL_LOG]
    #[arg(long, value_name = "FILE")]
    kernel_log: Option<String>,
    /// Extra substrings (`a|b`) that mark a kernel log line as the GPU driver's.
    /// [alias: HIL_DRIVER_LOG_PATTERNS]
    #[arg(long, value_name = "A|B")]
    driver_log_patterns: Option<String>,
    /// The PCI address of each CUDA device (`0=0000:18:00,1=0000:3b:00`), instead of what
    /// the driver lists. [alias: HIL_GPU_PCI]
    #[arg(long, value_name = "MAP")]
    gpu_pci: Option<String>,
    /// A site command replacing the built-in health probe after UB cases, run once per
    /// device (`{devices}` becomes its number; exit 0 = healthy). [alias: HIL_HEALTH_PROBE_CMD]
    #[arg(long, value_name = "CMD")]
    health_probe_cmd: Option<String>,
    /// Seconds (0-20, default 10) a UB case's health probe waits, in a parallel run, for
    /// other UB children on its devices; 0: never wait. [alias: HIL_HEALTH_DEFER_S]
    #[arg(long, value_name = "S")]
    health_defer_s: Option<String>,
    /// 1 (default): `isolate` rows in reused workers, one per device set; 0: a child process
    /// each. [alias: HIL_ISOLATE_WORKERS]
    #[arg(long, value_name = "0|1")]
    isolate_workers: Option<String>,
    /// Run only the cases named in FILE (one exact name a line); used to resume. A line
    /// `@unusable-device N CASE WHAT` says an earlier suite process of the same run found
    /// device N unusable after CASE (hil-run writes it when it restarts the suite).
    #[arg(long, value_name = "FILE")]
    cases_from: Option<PathBuf>,
    /// Print every case as a JSON line (name, table, backend, timeout_s, ub) and exit.
    #[arg(long)]
    list_json: bool,
    /// Print the ops that table rows can name, with what each checks, and exit.
    #[arg(long)]
    list_ops: bool,
    /// Print the board facts (driver, devices, implementations, settings) as JSON and
    /// exit. With --list-json: the facts as an event line before the cases.
    #[arg(long)]
    facts: bool,
    #[arg(long, hide = true, value_name = "CASE")]
    ub_child: Option<String>,
    /// The endpoint pairs the parent's executor gave a --ub-child case (indices into
    /// ipc_endpoints, `0,2`).
    #[arg(long, hide = true, value_name = "LIST", requires = "ub_child")]
    ipc_pairs: Option<String>,
    /// The peer half of a cross-process NvSciSync case, on the endpoints given with
    /// --ipc-peer-endpoints (started by the case's own process).
    #[arg(
        long,
        hide = true,
        value_name = "CASE",
        requires = "ipc_peer_endpoints"
    )]
    ipc_peer: Option<String>,
    #[arg(long, hide = true, value_name = "NAMES")]
    ipc_peer_endpoints: Option<String>,
    #[arg(long, hide = true, value_name = "DEVICES")]
    health_probe: Option<String>,
    #[arg(long, hide = true)]
    isolate_worker: bool,
    #[command(flatten)]
    libtest: libtest_mimic::Arguments,
}

const EXAMPLES: &str = "Examples:
  hil-suite --list                      list cases (libtest format)
  hil-suite vulkan.import --test-threads 1
  hil-suite --exact cuda.probe.identity.dev0
  hil-suite --events ev.jsonl           also write the event stream
  hil-suite --tables ./my-tables --list-json
  hil-suite --settings site.yaml --facts  settings from a file (keys: the options)";

/// The whole `hil-suite` command line; also the entry of the `conformance` test target.
pub fn main() {
    // libtest-mimic panics on a closed stdout pipe (`hil-suite --list | head`):
    // die quietly from SIGPIPE instead, as Unix tools do.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    match real_main() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("hil-suite: error: {e:#}");
            std::process::exit(2);
        }
    }
}

fn real_main() -> anyhow::Result<i32> {
    let cli = Cli::from_arg_matches(&command().get_matches())?;
    if cli.libtest.test_threads == Some(0) {
        // libtest-mimic would wait forever for zero threads to run the cases.
        bail!("--test-threads must be at least 1 (1 runs the cases one at a time)");
    }
    apply_settings(&cli)?;
    if let Some(devs) = &cli.health_probe {
        crate::health::health_main(devs);
    }
    if cli.list_ops {
        print_ops();
        return Ok(0);
    }
    if cli.facts && !cli.list_json {
        println!("{}", serde_json::to_string_pretty(&facts::collect())?);
        return Ok(0);
    }
    let mut cases = crate::load_cases()?;
    check_run_settings(&cli)?;
    if cli.isolate_worker {
        crate::worker::worker_main(&cases);
    }
    if let Some(name) = &cli.ub_child {
        let case = cases
            .iter()
            .find(|c| &c.name == name)
            .with_context(|| format!("no case named `{name}`"))?;
        let text = cli.ipc_pairs.as_deref().unwrap_or_default();
        let pairs = crate::child::parse_pairs(text).with_context(|| {
            format!("--ipc-pairs `{text}`: not a list of distinct pair indices")
        })?;
        ub::child_main(case, &pairs);
    }
    if let (Some(name), Some(ends)) = (&cli.ipc_peer, &cli.ipc_peer_endpoints) {
        let case = cases
            .iter()
            .find(|c| &c.name == name)
            .with_context(|| format!("no case named `{name}`"))?;
        ops::ipc_peer_main(case, ends);
    }
    if cli.list_json {
        print_listing(&cli, &cases)?;
        return Ok(0);
    }
    if let Some(file) = &cli.cases_from {
        select_cases(file, &mut cases)?;
    }
    if let Some(path) = &crate::settings::get().events {
        events::open(path).with_context(|| format!("opening event file {}", path.display()))?;
        if !cli.libtest.list {
            events::emit(&Event::Facts(facts::collect()));
            // Where this process's reading begins: even a first case that hangs or
            // crashes leaves the next process a place to read the kernel log again from.
            crate::kernel_log::emit_position();
        }
    }
    let conclusion = libtest_mimic::run(&cli.libtest, harness::trials(cases, &cli.libtest));
    finish();
    Ok(if conclusion.has_failed() { 101 } else { 0 })
}

/// The command line, with the suite's help: libtest-mimic's flattened arguments bring
/// their own help template and words that fit `cargo test`.
fn command() -> clap::Command {
    Cli::command()
        // libtest-mimic's flattened arguments turn `--version` off; the suite has one.
        .disable_version_flag(false)
        .help_template("{about-with-newline}\nUsage: {usage}\n\n{all-args}{after-help}")
        .after_help(EXAMPLES)
        .mut_arg("filter", |a| {
            a.help("Run only the cases whose name contains FILTER (e.g. vulkan.import)")
        })
        .mut_arg("test_threads", |a| {
            a.value_name("N").help(
                "Cases at once (default: one per CPU). Verdicts are the same at any N: a case \
                 in this process has its devices to itself, and UB cases run first. 1 runs \
                 the cases one at a time, in the same order",
            )
        })
        .mut_arg("ignored", |a| {
            a.help(
                "Only the cases listed as ignored: those this board cannot run (probed) and \
                 the undefined-behaviour scenarios; with --list, what cargo-nextest shows \
                 as skipped",
            )
        })
        .mut_arg("include_ignored", |a| {
            a.help("Every case: the same as without it (a plain run runs them all)")
        })
        .mut_arg("bench", |a| a.hide(true))
        .mut_arg("nocapture", |a| a.hide(true))
        .mut_arg("show_output", |a| a.hide(true))
        .mut_arg("unstable_flags", |a| a.hide(true))
}

/// Resolves the settings (options, `--settings FILE`, environment) once, makes them this
/// process's and hands them to its children's environment. A bad one: exit 2.
fn apply_settings(cli: &Cli) -> anyhow::Result<()> {
    let given = [
        ("tables", cli.tables.clone()),
        ("events", cli.events.clone()),
        ("devices", cli.devices.map(|n| n.to_string())),
        ("cudart", cli.cudart.clone()),
        ("nvscisync_lib", cli.nvscisync_lib.clone()),
        ("nvsciipc_lib", cli.nvsciipc_lib.clone()),
        ("ipc_endpoints", cli.ipc_endpoints.clone()),
        ("kernel_log", cli.kernel_log.clone()),
        ("driver_log_patterns", cli.driver_log_patterns.clone()),
        ("gpu_pci", cli.gpu_pci.clone()),
        ("health_probe_cmd", cli.health_probe_cmd.clone()),
        ("health_defer_s", cli.health_defer_s.clone()),
        ("isolate_workers", cli.isolate_workers.clone()),
    ];
    let flags: Vec<(&str, String)> = given
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
    let file = match &cli.settings {
        Some(path) => Some(crate::settings::SettingsFile::load(path)?),
        None => None,
    };
    let mut s = crate::settings::Settings::resolve(&flags, file.as_ref())?;
    s.test_threads = cli.libtest.test_threads;
    s.export();
    crate::settings::init(s);
    Ok(())
}

/// The checks of a run's settings that the modules reading them make. Here, not before
/// the cases run: the runner's listing must see a bad setting (exit 2) before it touches
/// an earlier run's files.
fn check_run_settings(cli: &Cli) -> anyhow::Result<()> {
    let threads = cli
        .libtest
        .test_threads
        .unwrap_or_else(crate::settings::default_threads);
    crate::exec::config::configure(threads > 1);
    Ok(())
}

/// `--list-ops`: every op with what it checks and the params it takes.
fn print_ops() {
    for op in ops::all() {
        let params = if op.params.is_empty() {
            String::new()
        } else {
            format!(" [params: {}]", op.params.join(", "))
        };
        println!("{:<28} {}{params}", op.name, op.doc);
    }
}

/// `--list-json`: a JSON line per case. With --facts, the facts come first as an event
/// line: the runner compares them with a run it resumes before it touches anything.
fn print_listing(cli: &Cli, cases: &[crate::case::Case]) -> anyhow::Result<()> {
    if cli.facts {
        println!("{}", Event::Facts(facts::collect()).to_line());
    }
    for c in cases {
        println!("{}", serde_json::to_string(&c.info())?);
    }
    Ok(())
}

/// `--cases-from FILE`: keeps the cases it names; applies its `@…` lines (where the
/// kernel log is read from, devices an earlier process found unusable).
fn select_cases(file: &std::path::Path, cases: &mut Vec<crate::case::Case>) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut wanted = std::collections::BTreeSet::new();
    for (n, line) in text.lines().map(str::trim).enumerate() {
        if let Some(rest) = line.strip_prefix(hil_proto::KERNEL_LOG_FROM_LINE) {
            let pos = rest.trim().parse::<u64>().with_context(|| {
                format!(
                    "{}:{}: expected `{}POS`",
                    file.display(),
                    n + 1,
                    hil_proto::KERNEL_LOG_FROM_LINE
                )
            })?;
            crate::kernel_log::start_from(pos);
        } else if let Some(rest) = line.strip_prefix(hil_proto::UNUSABLE_LINE) {
            if !crate::exec::apply_unusable_line(rest) {
                bail!(
                    "{}:{}: expected `{}N CASE WHAT`",
                    file.display(),
                    n + 1,
                    hil_proto::UNUSABLE_LINE
                );
            }
        } else if !line.is_empty() {
            wanted.insert(line);
        }
    }
    let unknown: Vec<_> = wanted
        .iter()
        .filter(|w| !cases.iter().any(|c| c.name == **w))
        .collect();
    if !unknown.is_empty() {
        bail!("{}: unknown case(s): {unknown:?}", file.display());
    }
    cases.retain(|c| wanted.contains(c.name.as_str()));
    Ok(())
}

/// After the last case: lines logged since belong to no case (the run keeps them); the
/// workers end; the tallies of probes and workers go to stderr.
fn finish() {
    crate::kernel_log::finish();
    crate::worker::shutdown();
    for line in [crate::health::tally(), crate::worker::tally()]
        .into_iter()
        .flatten()
    {
        eprintln!("hil-suite: {line}");
    }
}
