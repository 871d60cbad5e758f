//! `hil-latency`: fence latency through imported semaphores on a GPU machine. The
//! measuring lives in `hil_suite::latency`; this is the command line.

use clap::Parser;
use hil_suite::latency::{self, Options, PairReport};
use hil_suite::ops::OpError;
use std::path::PathBuf;

const EXIT_FAILED: i32 = 1;
const EXIT_USAGE: i32 = 2;
const EXIT_NOT_SUPPORTED: i32 = 3;

/// Fence latency through Vulkan timeline semaphores imported into CUDA, measured side by
/// side with CUDA event baselines in one run.
#[derive(Parser)]
#[command(
    name = "hil-latency",
    version,
    long_about = None,
    after_help = "\
Every path is host-timed end to end and compared (p50 / p50) with a CUDA event baseline
timed in the same run. Across two devices the conformant path is a host relay: each CUDA
device imports only a semaphore exported by its own Vulkan device.

Needs libcuda.so.1 and a Vulkan loader with the NVIDIA ICD (docs/hardware-results.md).

Examples:
  hil-latency                          one device: CUDA->CUDA, CUDA->host, host->CUDA
  hil-latency --signal 0 --wait 1      across two GPUs
  hil-latency --all-pairs --json out.json --report latency.html
                                       every ordered device pair, one table each,
                                       and histograms on one HTML page
  hil-latency --from-json out.json --report latency.html
                                       the page from earlier results (no GPU needed)

Exit status: 0 measured, 1 a measurement failed, 2 bad usage (or no such device),
3 this machine lacks what is needed (driver, Vulkan, a matching Vulkan device)."
)]
struct Args {
    /// CUDA device that signals.
    #[arg(
        long,
        value_name = "DEV",
        default_value_t = 0,
        conflicts_with = "all_pairs"
    )]
    signal: u32,
    /// CUDA device that waits.
    #[arg(
        long,
        value_name = "DEV",
        default_value_t = 0,
        conflicts_with = "all_pairs"
    )]
    wait: u32,
    /// Measure every ordered (signal, wait) pair of this machine's CUDA devices.
    #[arg(long)]
    all_pairs: bool,
    /// Timed rounds per path; a tenth more (plus 10) run first as warm-up.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Across devices, also time importing the signaller's semaphore on the waiting
    /// device: undefined behaviour that the suite flags (vulkan.import.*_cross_device).
    #[arg(long)]
    cross_device_import: bool,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write the results as one self-contained HTML page to FILE: a latency histogram
    /// per path on a log axis, the CUDA event baseline marked, the share of rounds of
    /// 1 ms or more shaded (docs/report.md).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Measure nothing: read results that --json wrote, print their tables and write
    /// --report from them.
    #[arg(long, value_name = "FILE",
          conflicts_with_all = ["signal", "wait", "all_pairs", "rounds", "cross_device_import", "json"])]
    from_json: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    let code = match run(&args) {
        Ok(()) => 0,
        Err((code, msg)) => {
            eprintln!("hil-latency: {msg}");
            code
        }
    };
    std::process::exit(code);
}

fn run(args: &Args) -> Result<(), (i32, String)> {
    let (reports, source) = match &args.from_json {
        Some(path) => (read_json(path)?, path.display().to_string()),
        None => (measure(args)?, "measured by hil-latency".to_string()),
    };
    if args.from_json.is_some() {
        for r in &reports {
            println!("{}", r.markdown());
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&reports)
            .map_err(|e| (EXIT_FAILED, format!("encoding results: {e}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| (EXIT_FAILED, format!("writing {}: {e}", path.display())))?;
    }
    if let Some(path) = &args.report {
        let html = hil_suite::latency_report::html(&reports, &source);
        std::fs::write(path, html)
            .map_err(|e| (EXIT_FAILED, format!("writing {}: {e}", path.display())))?;
        eprintln!("report: {}", path.display());
    }
    Ok(())
}

/// Results `--json` wrote; a file that is not such results is a usage error (exit 2).
fn read_json(path: &std::path::Path) -> Result<Vec<PairReport>, (i32, String)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| (EXIT_USAGE, format!("--from-json {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        (
            EXIT_USAGE,
            format!(
                "--from-json {}:{}:{}: not results written by `hil-latency --json`: {e}",
                path.display(),
                e.line(),
                e.column()
            ),
        )
    })
}

fn measure(args: &Args) -> Result<Vec<PairReport>, (i32, String)> {
    let not_supported = |e: OpError| match e {
        OpError::NotSupported(r) => (EXIT_NOT_SUPPORTED, format!("not supported: {r}")),
        other => (EXIT_FAILED, other.to_string()),
    };
    let devices = &hil_suite::cuda::driver().map_err(not_supported)?.devices;
    let n = devices.len() as u32;
    let pairs: Vec<(u32, u32)> = if args.all_pairs {
        (0..n).flat_map(|s| (0..n).map(move |w| (s, w))).collect()
    } else {
        if let Some(d) = [args.signal, args.wait].into_iter().find(|&d| d >= n) {
            let have: Vec<String> = devices
                .iter()
                .map(|d| format!("{}: {}", d.index, d.name))
                .collect();
            return Err((
                EXIT_USAGE,
                format!(
                    "no CUDA device {d}: this machine has {n} ({}); use --signal/--wait below {n}, or --all-pairs",
                    have.join(", ")
                ),
            ));
        }
        vec![(args.signal, args.wait)]
    };
    if pairs.is_empty() {
        return Err((
            EXIT_NOT_SUPPORTED,
            "not supported: the CUDA driver lists no devices".into(),
        ));
    }
    let opts = Options {
        rounds: args.rounds as usize,
        cross_device_import: args.cross_device_import,
    };
    let mut reports: Vec<PairReport> = Vec::new();
    for (i, &(s, w)) in pairs.iter().enumerate() {
        let tag = format!("[{}/{}] dev {s} -> dev {w}", i + 1, pairs.len());
        let progress = Box::new(move |path: &str| eprintln!("{tag}: {path}"));
        let r = latency::measure(s, w, &opts, progress).map_err(not_supported)?;
        println!("{}", r.markdown());
        reports.push(r);
    }
    Ok(reports)
}
