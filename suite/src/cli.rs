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
    /// Load tables from DIR (*.yaml) instead of the ones built in.
    #[arg(long, value_name = "DIR", env = "HIL_TABLES")]
    tables: Option<PathBuf>,
    /// Append JSON-lines events (facts, start, result) to FILE. Under cargo-nextest, which
    /// knows only pass, fail and skip, set HIL_EVENTS to keep real outcomes.
    #[arg(long, value_name = "FILE", env = "HIL_EVENTS")]
    events: Option<PathBuf>,
    /// List and run cases as for a board with N CUDA devices (`gpus` axes in the tables).
    /// Default: the devices this board has, and at least 2, so machines with 0, 1 or 2
    /// GPUs list the same cases. Use it to list another board's cases from here.
    #[arg(long, value_name = "N", env = "HIL_DEVICES")]
    devices: Option<u32>,
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
  hil-suite --tables ./my-tables --list-json";

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
    // libtest-mimic's flattened arguments bring their own help template; put ours back.
    let cmd = Cli::command()
        // libtest-mimic's flattened arguments turn `--version` off; the suite has one.
        .disable_version_flag(false)
        .help_template("{about-with-newline}\nUsage: {usage}\n\n{all-args}{after-help}")
        .after_help(EXAMPLES)
        // libtest's own words fit `cargo test`; say what they mean here.
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
        .mut_arg("unstable_flags", |a| a.hide(true));
    let cli = Cli::from_arg_matches(&cmd.get_matches())?;
    if cli.libtest.test_threads == Some(0) {
        // libtest-mimic would wait forever for zero threads to run the cases.
        bail!("--test-threads must be at least 1 (1 runs the cases one at a time)");
    }
    if let Some(dir) = &cli.tables {
        crate::set_tables_dir(dir.clone());
    }
    if let Some(n) = cli.devices {
        crate::set_devices(n);
    }
    if let Some(devs) = &cli.health_probe {
        crate::health::health_main(devs);
    }
    if cli.list_ops {
        for op in ops::all() {
            let params = if op.params.is_empty() {
                String::new()
            } else {
                format!(" [params: {}]", op.params.join(", "))
            };
            println!("{:<28} {}{params}", op.name, op.doc);
        }
        return Ok(0);
    }
    if cli.facts && !cli.list_json {
        println!("{}", serde_json::to_string_pretty(&facts::collect())?);
        return Ok(0);
    }
    let mut cases = crate::load_cases()?;
    // Here, not before the cases run: the runner's listing must see a bad setting (exit 2)
    // before it touches an earlier run's files.
    let threads = cli.libtest.test_threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    crate::health::configure(threads > 1).map_err(anyhow::Error::msg)?;
    crate::worker::check_env().map_err(anyhow::Error::msg)?;
    crate::kernel_log::check_env().map_err(anyhow::Error::msg)?;
    if cli.isolate_worker {
        crate::worker::worker_main(&cases);
    }
    if let Some(name) = &cli.ub_child {
        let case = cases
            .iter()
            .find(|c| &c.name == name)
            .with_context(|| format!("no case named `{name}`"))?;
        ub::child_main(case);
    }
    if cli.list_json {
        // With --facts, the facts come first as an event line: the runner compares them
        // with a run it resumes before it touches anything.
        if cli.facts {
            println!("{}", Event::Facts(facts::collect()).to_line());
        }
        for c in &cases {
            println!("{}", serde_json::to_string(&c.info())?);
        }
        return Ok(0);
    }
    if let Some(file) = &cli.cases_from {
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
                if !crate::device_state::apply_line(rest) {
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
    }
    if let Some(path) = &cli.events {
        events::open(path).with_context(|| format!("opening event file {}", path.display()))?;
        if !cli.libtest.list {
            events::emit(&Event::Facts(facts::collect()));
            // Where this process's reading begins: even a first case that hangs or
            // crashes leaves the next process a place to read the kernel log again from.
            crate::kernel_log::emit_position();
        }
    }
    let conclusion = libtest_mimic::run(&cli.libtest, harness::trials(cases, &cli.libtest));
    // Lines logged after the last case belong to no case: the run keeps them.
    crate::kernel_log::finish();
    crate::worker::shutdown();
    for line in [crate::health::tally(), crate::worker::tally()]
        .into_iter()
        .flatten()
    {
        eprintln!("hil-suite: {line}");
    }
    Ok(if conclusion.has_failed() { 101 } else { 0 })
}
