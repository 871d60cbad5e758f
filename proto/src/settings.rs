//! Settings that can change a verdict, named once for both sides: the suite records the
//! ones it runs under in its facts, the runner records its own in the journal, and
//! `hil-run --resume` refuses to continue a run under different ones.

/// Environment variables the suite reads that change what a case does or how it is
/// judged. The suite records each as the fact `setting.NAME` (`unset` when absent).
pub const SUITE_ENV: &[&str] = &[
    "CUDA_VISIBLE_DEVICES",
    "HIL_CUDART",
    "HIL_DEVICES",
    "HIL_DRIVER_LOG_PATTERNS",
    "HIL_GPU_PCI",
    "HIL_HEALTH_DEFER_S",
    "HIL_HEALTH_PROBE_CMD",
    "HIL_IPC_ENDPOINTS",
    "HIL_ISOLATE_WORKERS",
    "HIL_KERNEL_LOG",
    "HIL_NVSCIIPC_LIB",
    "HIL_NVSCISYNC_LIB",
    "HIL_NVSCISYNC_MODEL_VERSION",
];

/// Prefix of a setting's key, in the suite's facts and in the runner's run configuration.
pub const PREFIX: &str = "setting.";

/// The value recorded for a setting that is not set.
pub const UNSET: &str = "unset";

/// Facts that may change while a run goes on without changing what was tested (a driver
/// fault taints the kernel): never a reason to refuse `--resume`.
/// The suite's `--test-threads` is volatile too: verdicts are the same at any number, and
/// hil-run compares its own `setting.test_threads`.
pub const VOLATILE_FACTS: &[&str] = &["kernel.tainted", TEST_THREADS];

/// The fact naming how many cases the suite ran at once (`N`, or `N (one per CPU)`).
pub const TEST_THREADS: &str = "suite.test_threads";
