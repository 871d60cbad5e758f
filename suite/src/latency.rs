//! Fence latency through Vulkan timeline semaphores imported into CUDA, measured side by
//! side with CUDA event baselines in one run (`hil-latency`).
//!
//! Every path is host-timed end to end (enqueue or signal, then spin until the waiting side
//! is done), so each ratio compares like with like. For a pair of different devices the
//! conformant path is a host relay (each device imports only a semaphore its own Vulkan
//! device exported); importing one device's semaphore on the other is the undefined
//! scenario the suite flags (`vulkan.import.*_cross_device`) and is timed only on request.

use crate::cuda::ffi::HANDLE_TYPE_TIMELINE_SEMAPHORE_FD;
use crate::cuda::{self, Context, Event, ExternalSemaphore, ImportDesc, Stream};
use crate::error::OpError;
use crate::vulkan::{self, Device, SemKind, Semaphore};
use serde::{Deserialize, Serialize};
use std::os::fd::IntoRawFd;
use std::time::{Duration, Instant};

/// Percentiles of one path, in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub min_us: f64,
    /// Absent (0) in results written before it was recorded.
    #[serde(default)]
    pub max_us: f64,
    /// Share of rounds that took 1 ms or more, in percent: shows a bimodal path.
    pub over_1ms_pct: f64,
    /// Every round, binned (absent in results written before it was recorded).
    #[serde(default, skip_serializing_if = "Histogram::is_empty")]
    pub histogram: Histogram,
}

/// Rounds counted in bins of equal width on a log time axis: `per_decade` bins per power
/// of ten from `lo_us` (bin `i` holds `[lo·10^(i/n), lo·10^((i+1)/n))`). Rounds below
/// `lo_us` count in the first bin, rounds past the last bin in the last one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub lo_us: f64,
    pub per_decade: u32,
    pub counts: Vec<u64>,
}

/// 1 µs to 1 s, 10 bins per decade: fence latencies on current hardware are 5 µs to 10 ms.
const HIST_LO_US: f64 = 1.0;
const HIST_PER_DECADE: u32 = 10;
const HIST_DECADES: u32 = 6;

impl Histogram {
    pub fn of(samples: &[Duration]) -> Histogram {
        let n = (HIST_PER_DECADE * HIST_DECADES) as usize;
        let mut counts = vec![0u64; n];
        for d in samples {
            let us = d.as_secs_f64() * 1e6;
            let i = ((us / HIST_LO_US).log10() * f64::from(HIST_PER_DECADE)).floor();
            // NaN and -inf (0 µs) land in bin 0 with everything below it.
            let i = if i.is_finite() && i > 0.0 {
                i as usize
            } else {
                0
            };
            counts[i.min(n - 1)] += 1;
        }
        Histogram {
            lo_us: HIST_LO_US,
            per_decade: HIST_PER_DECADE,
            counts,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Each bin's lower and upper edge in µs, and its count.
    pub fn bins(&self) -> Vec<(f64, f64, u64)> {
        let edge = |i: usize| self.lo_us * 10f64.powf(i as f64 / f64::from(self.per_decade.max(1)));
        self.counts
            .iter()
            .enumerate()
            .map(|(i, &c)| (edge(i), edge(i + 1), c))
            .collect()
    }
}

/// Nearest-rank percentiles; `None` for no samples.
pub fn stats(mut samples: Vec<Duration>) -> Option<Stats> {
    if samples.is_empty() {
        return None;
    }
    samples.sort();
    let histogram = Histogram::of(&samples);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |pct: usize| us(samples[(samples.len() * pct / 100).min(samples.len() - 1)]);
    let slow = samples.iter().filter(|d| d.as_millis() >= 1).count();
    Some(Stats {
        p50_us: at(50),
        p90_us: at(90),
        p99_us: at(99),
        min_us: us(samples[0]),
        max_us: us(samples[samples.len() - 1]),
        over_1ms_pct: 100.0 * slow as f64 / samples.len() as f64,
        histogram,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub path: String,
    pub stats: Stats,
    /// The baseline row this one is compared with, and p50 / baseline p50.
    pub baseline: String,
    pub ratio: f64,
}

/// One device pair's results; `hil-latency --json` writes a list of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairReport {
    pub signal: u32,
    pub wait: u32,
    pub signal_name: String,
    pub wait_name: String,
    pub implementation: String,
    pub rounds: usize,
    pub warm_up: usize,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub rounds: usize,
    /// Also time the undefined direct path across devices.
    pub cross_device_import: bool,
}

const GPU_BASE: &str = "CUDA event record -> stream wait -> done (baseline)";
const HOST_BASE: &str = "CUDA event -> host spins on cuEventQuery (baseline)";
const WAIT_NS: u64 = 2_000_000_000;

fn spin(ev: &Event) -> Result<(), OpError> {
    while !ev.is_done()? {
        std::hint::spin_loop();
    }
    Ok(())
}

fn import(ctx: &Context, sem: &Semaphore) -> Result<ExternalSemaphore, OpError> {
    let fd = sem.export_fd()?.into_raw_fd();
    ExternalSemaphore::import(
        ctx,
        ImportDesc {
            handle_type: HANDLE_TYPE_TIMELINE_SEMAPHORE_FD,
            handle: fd as u32 as u64,
            flags: 0,
        },
    )
}

fn wait_host(sem: &Semaphore, v: u64) -> Result<(), OpError> {
    if sem.wait_host(v, WAIT_NS)? {
        Ok(())
    } else {
        Err(OpError::Check(format!(
            "vkWaitSemaphores missed value {v} within 2 s"
        )))
    }
}

fn poll(sem: &Semaphore, v: u64) -> Result<(), OpError> {
    while sem.counter()? < v {
        std::hint::spin_loop();
    }
    Ok(())
}

/// Runs paths for one pair, each `warm_up + rounds` times, on one rising timeline value.
struct Bench {
    rounds: usize,
    warm_up: usize,
    value: u64,
    rows: Vec<(&'static str, Stats, &'static str)>,
    progress: Box<dyn FnMut(&str)>,
}

impl Bench {
    fn time(
        &mut self,
        path: &'static str,
        baseline: &'static str,
        mut round: impl FnMut(u64) -> Result<Duration, OpError>,
    ) -> Result<(), OpError> {
        (self.progress)(path);
        let mut out = Vec::with_capacity(self.rounds);
        for i in 0..self.warm_up + self.rounds {
            self.value += 1;
            let d = round(self.value)?;
            if i >= self.warm_up {
                out.push(d);
            }
        }
        let s = stats(out).ok_or_else(|| OpError::Check("no rounds to time".into()))?;
        self.rows.push((path, s, baseline));
        Ok(())
    }

    fn rows(self) -> Vec<Row> {
        let p50 = |label: &str| self.rows.iter().find(|r| r.0 == label).map(|r| r.1.p50_us);
        self.rows
            .iter()
            .map(|(path, stats, baseline)| Row {
                path: path.to_string(),
                stats: stats.clone(),
                baseline: baseline.to_string(),
                ratio: p50(baseline).map_or(f64::NAN, |b| stats.p50_us / b),
            })
            .collect()
    }
}

/// Times every path for CUDA device `sig` signalling and `wait` waiting.
pub fn measure(
    sig: u32,
    wait: u32,
    opts: &Options,
    progress: Box<dyn FnMut(&str)>,
) -> Result<PairReport, OpError> {
    let drv = cuda::driver()?;
    let vk = vulkan::instance()?;
    let vk_s = Device::new(vk.for_cuda(sig)?)?;
    let vk_w = match sig == wait {
        true => None,
        false => Some(Device::new(vk.for_cuda(wait)?)?),
    };
    let vk_w = vk_w.as_ref().unwrap_or(&vk_s);
    let cs = Context::primary(sig)?;
    let cw = Context::primary(wait)?;
    let (s1, s2) = (Stream::new(&cs)?, Stream::new(&cw)?);
    // A: exported by the signaller's Vulkan device; B: by the waiter's (relay target).
    let sem_a = Semaphore::exportable(&vk_s, SemKind::Timeline)?;
    let sem_b = Semaphore::exportable(vk_w, SemKind::Timeline)?;
    let ext_a = import(&cs, &sem_a)?;
    let ext_b = import(&cw, &sem_b)?;
    let done = Event::new(&cw)?;
    let mut b = Bench {
        rounds: opts.rounds,
        warm_up: opts.rounds / 10 + 10,
        value: 0,
        rows: Vec::new(),
        progress,
    };

    let x = Event::new(&cs)?;
    b.time(GPU_BASE, GPU_BASE, |_| {
        let t = Instant::now();
        x.record(&s1)?;
        s2.wait_event(&x)?;
        done.record(&s2)?;
        spin(&done)?;
        Ok(t.elapsed())
    })?;
    let direct = match (sig == wait, opts.cross_device_import) {
        (true, _) => Some((
            "CUDA signal -> imported semaphore -> CUDA wait -> done",
            None,
        )),
        (false, true) => Some((
            "CUDA signal -> semaphore imported on both devices (undefined) -> CUDA wait -> done",
            Some(import(&cw, &sem_a)?),
        )),
        (false, false) => None,
    };
    if let Some((path, other)) = &direct {
        let ext_w = other.as_ref().unwrap_or(&ext_a);
        b.time(path, GPU_BASE, |v| {
            let t = Instant::now();
            ext_a.signal(&s1, v)?;
            ext_w.wait(&s2, v)?;
            done.record(&s2)?;
            spin(&done)?;
            Ok(t.elapsed())
        })?;
    }
    // Host relay A -> B: the conformant way to carry a fence to another device. The
    // waiter's side is enqueued first so the host starts waiting right after the signal is
    // enqueued, as a relay thread would (else the value is often reached before it waits).
    let relay = |v: u64, host_wait: &dyn Fn(u64) -> Result<(), OpError>| {
        let t = Instant::now();
        ext_b.wait(&s2, v)?;
        done.record(&s2)?;
        ext_a.signal(&s1, v)?;
        host_wait(v)?;
        sem_b.signal_host(v)?;
        spin(&done)?;
        Ok(t.elapsed())
    };
    b.time(
        "CUDA signal -> host polls counter, vkSignalSemaphore -> CUDA wait -> done",
        GPU_BASE,
        |v| relay(v, &|v| poll(&sem_a, v)),
    )?;
    b.time(
        "CUDA signal -> host vkWaitSemaphores, vkSignalSemaphore -> CUDA wait -> done",
        GPU_BASE,
        |v| relay(v, &|v| wait_host(&sem_a, v)),
    )?;

    if sig == wait {
        host_paths(&mut b, &s1, &s2, &ext_a, &sem_a, &done, &cs)?;
    }
    s1.synchronize()?;
    s2.synchronize()?;
    if let Some((_, Some(other))) = direct {
        other.destroy()?;
    }
    ext_a.destroy()?;
    ext_b.destroy()?;

    let name = |d: u32| drv.device(d).map(|x| x.name.clone()).unwrap_or_default();
    Ok(PairReport {
        signal: sig,
        wait,
        signal_name: name(sig),
        wait_name: name(wait),
        implementation: format!("{}; {}", drv.implementation(), vk.implementation()),
        rounds: b.rounds,
        warm_up: b.warm_up,
        rows: b.rows(),
    })
}

/// One device: CUDA -> host and host -> CUDA, against a host-spun CUDA event.
fn host_paths(
    b: &mut Bench,
    s1: &Stream,
    s2: &Stream,
    ext: &ExternalSemaphore,
    sem: &Semaphore,
    done: &Event,
    ctx: &Context,
) -> Result<(), OpError> {
    let e = Event::new(ctx)?;
    b.time(HOST_BASE, HOST_BASE, |_| {
        let t = Instant::now();
        e.record(s1)?;
        spin(&e)?;
        Ok(t.elapsed())
    })?;
    b.time("CUDA event -> host cuEventSynchronize", HOST_BASE, |_| {
        let t = Instant::now();
        e.record(s1)?;
        e.synchronize()?;
        Ok(t.elapsed())
    })?;
    b.time("CUDA signal -> host vkWaitSemaphores", HOST_BASE, |v| {
        let t = Instant::now();
        ext.signal(s1, v)?;
        wait_host(sem, v)?;
        Ok(t.elapsed())
    })?;
    // The wait starts after the value is reached: is the cost in waking a sleeper?
    b.time(
        "CUDA signal, stream synchronized, then host vkWaitSemaphores (value already reached)",
        HOST_BASE,
        |v| {
            ext.signal(s1, v)?;
            s1.synchronize()?;
            let t = Instant::now();
            wait_host(sem, v)?;
            Ok(t.elapsed())
        },
    )?;
    b.time(
        "CUDA signal -> host polls vkGetSemaphoreCounterValue",
        HOST_BASE,
        |v| {
            let t = Instant::now();
            ext.signal(s1, v)?;
            poll(sem, v)?;
            Ok(t.elapsed())
        },
    )?;
    // Host (Vulkan) -> CUDA: the wait is enqueued first, then the host signals.
    b.time(
        "host vkSignalSemaphore -> CUDA wait -> done",
        HOST_BASE,
        |v| {
            ext.wait(s2, v)?;
            done.record(s2)?;
            let t = Instant::now();
            sem.signal_host(v)?;
            spin(done)?;
            Ok(t.elapsed())
        },
    )
}

impl PairReport {
    /// A Markdown table for docs/benchmarks.md, headed by what produced it.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "signal on CUDA dev {} ({}), wait on CUDA dev {} ({}); {}; {} rounds after {} warm-up\n\n",
            self.signal,
            self.signal_name,
            self.wait,
            self.wait_name,
            self.implementation,
            self.rounds,
            self.warm_up
        );
        s.push_str("| path | p50 µs | p90 µs | p99 µs | min µs | ≥1 ms | p50 vs baseline |\n");
        s.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
        for r in &self.rows {
            let st = &r.stats;
            s.push_str(&format!(
                "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1}% | {:.2}x |\n",
                r.path, st.p50_us, st.p90_us, st.p99_us, st.min_us, st.over_1ms_pct, r.ratio
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_empty_is_none() {
        let mut v: Vec<Duration> = (1..=99).rev().map(Duration::from_micros).collect();
        v.push(Duration::from_millis(10));
        let s = stats(v).unwrap();
        assert_eq!((s.min_us, s.p50_us, s.p90_us), (1.0, 51.0, 91.0));
        assert_eq!((s.p99_us, s.over_1ms_pct), (10_000.0, 1.0));
        assert_eq!(s.max_us, 10_000.0);
        assert_eq!(s.histogram.counts.iter().sum::<u64>(), 100);
        let one = stats(vec![Duration::from_micros(7)]).unwrap();
        assert_eq!((one.p50_us, one.p99_us), (7.0, 7.0));
        assert!(stats(Vec::new()).is_none());
    }

    #[test]
    fn rounds_fall_into_log_bins_with_the_ends_clamped() {
        let us = Duration::from_micros;
        let h = Histogram::of(&[
            Duration::ZERO,
            us(1),
            us(9),
            us(10),
            us(13),
            us(10_000),
            us(5_000_000),
        ]);
        assert_eq!(h.counts.len(), 60);
        let bins = h.bins();
        let at = |v: f64| bins.iter().position(|b| b.0 <= v && v < b.1).unwrap();
        assert_eq!(h.counts[0], 2, "0 and 1 µs");
        assert_eq!(h.counts[at(9.0)], 1);
        assert_eq!(h.counts[at(10.0)], 1);
        assert_eq!(h.counts[at(13.0)], 1);
        assert_eq!(h.counts[at(10_000.0)], 1);
        assert_eq!(h.counts[59], 1, "5 s counts in the last bin");
        assert!((bins[10].0 - 10.0).abs() < 1e-9 && (bins[59].1 - 1e6).abs() < 1e-3);
    }

    #[test]
    fn results_written_before_histograms_still_read() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/hardware/2026-11-24-h200x2-latency.json"
        ))
        .unwrap();
        let r: Vec<PairReport> = serde_json::from_str(&text).unwrap();
        assert_eq!(r.len(), 4);
        assert!(r[0].rows[0].stats.histogram.is_empty());
        assert_eq!(r[0].rows[3].stats.over_1ms_pct, 50.35);
    }
}
