//! Fence latency through imported semaphores, against CUDA event baselines, measured side
//! by side in one run on a GPU machine:
//!
//!   hil-latency [--signal DEV] [--wait DEV] [--rounds N]
//!
//! Every measure is host-timed end to end (enqueue or signal, then spin until the waiter
//! side is done), so each ratio compares like with like. Prints a Markdown table for
//! docs/benchmarks.md. A Vulkan timeline semaphore is exported from the Vulkan device of
//! `--signal` and imported into CUDA on both devices.

use hil_suite::cuda::ffi::HANDLE_TYPE_TIMELINE_SEMAPHORE_FD;
use hil_suite::cuda::{self, Context, Event, ExternalSemaphore, ImportDesc, Stream};
use hil_suite::ops::OpError;
use hil_suite::vulkan::{self, Device, SemKind, Semaphore};
use std::os::fd::IntoRawFd;
use std::time::{Duration, Instant};

struct Stats {
    p50: f64,
    p99: f64,
    min: f64,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    Stats {
        p50: us(v[v.len() / 2]),
        p99: us(v[(v.len() * 99 / 100).min(v.len() - 1)]),
        min: us(v[0]),
    }
}

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

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("hil-latency: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), OpError> {
    let (sig_dev, wait_dev) = (arg("--signal", 0) as u32, arg("--wait", 0) as u32);
    let rounds = arg("--rounds", 1000) as usize;
    let drv = cuda::driver()?;
    let vk = vulkan::instance()?;
    let vkdev = Device::new(vk.for_cuda(sig_dev)?)?;
    let sem = Semaphore::exportable(&vkdev, SemKind::Timeline)?;
    let cs = Context::primary(sig_dev)?;
    let cw = Context::primary(wait_dev)?;
    let (s1, s2) = (Stream::new(&cs)?, Stream::new(&cw)?);
    let ext_s = import(&cs, &sem)?;
    let ext_w = if wait_dev == sig_dev {
        None
    } else {
        Some(import(&cw, &sem)?)
    };
    let ext_w = ext_w.as_ref().unwrap_or(&ext_s);
    let mut v = 0u64;
    let warm = rounds / 10 + 10;

    // Each closure runs one round and returns its latency.
    let mut measure =
        |f: &mut dyn FnMut(u64) -> Result<Duration, OpError>| -> Result<Stats, OpError> {
            let mut out = Vec::with_capacity(rounds);
            for i in 0..warm + rounds {
                v += 1;
                let d = f(v)?;
                if i >= warm {
                    out.push(d);
                }
            }
            Ok(stats(out))
        };

    // Baseline: CUDA event, signal side -> wait side (cross-stream/device event wait).
    let x = Event::new(&cs)?;
    let done = Event::new(&cw)?;
    let ev_gpu = measure(&mut |_| {
        let t = Instant::now();
        x.record(&s1)?;
        s2.wait_event(&x)?;
        done.record(&s2)?;
        spin(&done)?;
        Ok(t.elapsed())
    })?;
    let sem_gpu = measure(&mut |v| {
        let t = Instant::now();
        ext_s.signal(&s1, v)?;
        ext_w.wait(&s2, v)?;
        done.record(&s2)?;
        spin(&done)?;
        Ok(t.elapsed())
    })?;
    // Baseline: CUDA -> host through an event, host spinning on cuEventQuery.
    let e = Event::new(&cs)?;
    let ev_host = measure(&mut |_| {
        let t = Instant::now();
        e.record(&s1)?;
        spin(&e)?;
        Ok(t.elapsed())
    })?;
    let ev_sync = measure(&mut |_| {
        let t = Instant::now();
        e.record(&s1)?;
        e.synchronize()?;
        Ok(t.elapsed())
    })?;
    let vk_wait = measure(&mut |v| {
        let t = Instant::now();
        ext_s.signal(&s1, v)?;
        if !sem.wait_host(v, 2_000_000_000)? {
            return Err(OpError::Check(format!("vkWaitSemaphores missed value {v}")));
        }
        Ok(t.elapsed())
    })?;
    // Same, but the wait starts after the value is reached: is the cost in waking a sleeper?
    let vk_wait_after = measure(&mut |v| {
        ext_s.signal(&s1, v)?;
        s1.synchronize()?;
        let t = Instant::now();
        if !sem.wait_host(v, 2_000_000_000)? {
            return Err(OpError::Check(format!("vkWaitSemaphores missed value {v}")));
        }
        Ok(t.elapsed())
    })?;
    let vk_poll = measure(&mut |v| {
        let t = Instant::now();
        ext_s.signal(&s1, v)?;
        while sem.counter()? < v {
            std::hint::spin_loop();
        }
        Ok(t.elapsed())
    })?;
    // Host (Vulkan) -> CUDA: the wait is enqueued first, then the host signals.
    let host_to_cuda = measure(&mut |v| {
        ext_w.wait(&s2, v)?;
        done.record(&s2)?;
        let t = Instant::now();
        sem.signal_host(v)?;
        spin(&done)?;
        Ok(t.elapsed())
    })?;
    s1.synchronize()?;
    s2.synchronize()?;

    let name = |d: u32| {
        drv.devices
            .get(d as usize)
            .map(|x| x.name.clone())
            .unwrap_or_default()
    };
    println!(
        "signal on CUDA dev {sig_dev} ({}), wait on CUDA dev {wait_dev} ({}); {}; {rounds} rounds after {warm} warm-up",
        name(sig_dev),
        name(wait_dev),
        drv.implementation()
    );
    println!("| path | p50 µs | p99 µs | min µs | p50 vs event baseline |");
    println!("| --- | --- | --- | --- | --- |");
    let row = |label: &str, s: &Stats, base: &Stats| {
        println!(
            "| {label} | {:.1} | {:.1} | {:.1} | {:.2}x |",
            s.p50,
            s.p99,
            s.min,
            s.p50 / base.p50
        );
    };
    row(
        "CUDA event record -> stream wait -> done (baseline)",
        &ev_gpu,
        &ev_gpu,
    );
    row(
        "CUDA signal -> imported semaphore -> CUDA wait -> done",
        &sem_gpu,
        &ev_gpu,
    );
    row(
        "CUDA event -> host spins on cuEventQuery (baseline)",
        &ev_host,
        &ev_host,
    );
    row("CUDA event -> host cuEventSynchronize", &ev_sync, &ev_host);
    row("CUDA signal -> host vkWaitSemaphores", &vk_wait, &ev_host);
    row(
        "CUDA signal, stream synchronized, then host vkWaitSemaphores (value already reached)",
        &vk_wait_after,
        &ev_host,
    );
    row(
        "CUDA signal -> host polls vkGetSemaphoreCounterValue",
        &vk_poll,
        &ev_host,
    );
    row(
        "host vkSignalSemaphore -> CUDA wait -> done",
        &host_to_cuda,
        &ev_host,
    );
    ext_s.destroy()?;
    Ok(())
}
