//! Observation keys, spelled once for both sides of the protocol, and the values of those
//! that drive behaviour. A [`Key`] can only be made here, so a key the suite sends and the
//! key the runner looks for cannot drift apart by a typo or a rename on one side: the
//! wire format stays a plain string (`{"key":"observed","value":"hang"}`), and a board
//! may still send keys this build does not know (they are shown as sent).

use std::fmt;

/// The name of an observation. Made only by the constants of [`key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(&'static str);

impl Key {
    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// The known key spelled `name`, if any.
    pub fn parse(name: &str) -> Option<Key> {
        key::ALL.iter().copied().find(|k| k.0 == name)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl From<Key> for String {
    fn from(k: Key) -> String {
        k.0.to_string()
    }
}

impl PartialEq<Key> for String {
    fn eq(&self, k: &Key) -> bool {
        self == k.0
    }
}

impl PartialEq<Key> for str {
    fn eq(&self, k: &Key) -> bool {
        self == k.0
    }
}

impl PartialEq<Key> for &str {
    fn eq(&self, k: &Key) -> bool {
        *self == k.0
    }
}

/// Every observation key. Keys the runner acts on come first; the rest are what ops and
/// the suite's checks report, shown as they are.
pub mod key {
    use super::Key;

    macro_rules! keys {
        ($($(#[$doc:meta])* $name:ident = $text:literal;)*) => {
            $($(#[$doc])* pub const $name: Key = Key($text);)*
            /// Every key above, in the order written.
            pub const ALL: &[Key] = &[$($name),*];
        };
    }

    keys! {
        // --- read by the runner or by the suite's own amendments ---
        /// What a flagged (undefined-behaviour) case was seen to do: an [`super::Observed`].
        OBSERVED = "observed";
        /// What `observed` means in words (the call that failed, how long it hung, …).
        DETAIL = "detail";
        /// The table's `ub:` rule for a flagged case (why its behaviour is undefined).
        UB_RULE = "ub_rule";
        /// What the health probe after a UB case found on its devices.
        HEALTH_AFTER = "health_after";
        /// Other UB cases whose children ran on a device found unusable between this
        /// case's child start and its probe (parallel runs): any may have broken it.
        HEALTH_SHARED_WITH = "health_shared_with";
        /// A device a UB case left unusable: `N: what the probe found`. The runner passes
        /// it on to a suite it restarts on the board (`UNUSABLE_LINE`).
        DEVICE_UNUSABLE = "device_unusable";
        /// What the health probes found on a device this case needed, unusable before it ran.
        UNUSABLE_HEALTH = "unusable_health";
        /// The UB cases after whose probes that device was found unusable.
        UNUSABLE_AFTER = "unusable_after";
        /// `true` on a case that could not run because a device needs a reset: the runner
        /// resets the board (if it can) before the remaining cases.
        BOARD_NEEDS_RESET = "board_needs_reset";
        /// GPU driver lines logged during this case (each `[level] text`, one per line).
        DRIVER_LOG = "driver_log";
        /// Driver lines the row expects (`driver_log:` in its table): kept, not judged.
        DRIVER_LOG_EXPECTED = "driver_log_expected";
        /// Other cases whose kernel log windows held a driver line that could not be
        /// pinned to one case: the runner reruns them one at a time.
        DRIVER_LOG_SHARED_WITH = "driver_log_shared_with";
        /// Why the kernel log could not be read for this case.
        KERNEL_LOG_ERROR = "kernel_log_error";
        /// Kernel log lines lost (ring buffer overrun) while this case ran.
        KERNEL_LOG_LOST = "kernel_log_lost";
        /// The kernel's taint flags when they changed during the case.
        KERNEL_TAINT = "kernel_taint";
        /// The end of a child's or suite's output (stdout then stderr).
        OUTPUT_TAIL = "output_tail";
        /// The API call a result's code came from.
        CALL = "call";
        /// The code an API call returned (`name (number)`).
        CODE = "code";
        /// The row rests on an interpretation of a header that names no outcome.
        HEADER_AMBIGUOUS = "header_ambiguous";
        /// The runner cut a result's observations to its cap; this says how many.
        OBSERVATIONS_CUT = "observations_cut";
        /// What a board sent that the runner could not take as it was (the raw text).
        OUTCOME_SENT = "outcome_sent";
        /// See `OUTCOME_SENT`: a result line that could not be read.
        RESULT_SENT = "result_sent";
        /// See `OUTCOME_SENT`: a duration out of range.
        DURATION_SENT = "duration_sent";

        // --- reported by ops (data; nothing acts on them) ---
        ACTUAL_PERM = "actual_perm";
        REQUIRED_PERM = "required_perm";
        SET = "set";
        RECONCILE = "reconcile";
        RECONCILE_AND_ALLOC = "reconcile_and_alloc";
        WAIT = "wait";
        SIGNAL = "signal";
        SIGNALS = "signals";
        FENCES = "fences";
        ROUNDS = "rounds";
        KEY = "key";
        UPPER_BOUND_ACCEPTED = "upper_bound_accepted";
        VALID = "valid";
        ATTRIBUTES = "attributes";
        FDS_BEFORE = "fds_before";
        FDS_AFTER = "fds_after";
        GET_ATTR = "get_attr";
        GET_ATTR_LIST = "get_attr_list";
        SLOT_GET_ATTRS = "slot_get_attrs";
        UPDATE = "update";
        VALUE = "value";
        EXTRACTED = "extracted";
        DUP = "dup";
        ALLOC_FROM_FREED_LIST = "alloc_from_freed_list";
        DESTROY_WITH_PENDING_WAIT = "destroy_with_pending_wait";
        CLOSE_AFTER_IMPORT = "close_after_import";
        ARCH = "arch";
        KERNEL = "kernel";
        LIBC = "libc";
        CUDA_VERSION = "cuda_version";
        DRIVER_VERSION = "driver_version";
        DEVICES = "devices";
        NAME = "name";
        UUID = "uuid";
        CAN_ACCESS_PEER = "can_access_peer";
        VK_DEVICE = "vk_device";
        VK_API = "vk_api";
        VK_DRIVER = "vk_driver";
        BINARY_OPAQUE_FD = "binary_opaque_fd";
        TIMELINE_OPAQUE_FD = "timeline_opaque_fd";
        BINARY_SYNC_FD = "binary_sync_fd";
        IMPORT = "import";
        IMPORT_US = "import_us";
        /// The NvSciIpc endpoint pair a cross-process case ran over (`name_0:name_1`).
        ENDPOINTS = "endpoints";
        /// How a cross-process case's peer process ended.
        PEER = "peer";
        FD_AFTER_IMPORT = "fd_after_import";
        RTT_MIN_US = "rtt_min_us";
        RTT_P50_US = "rtt_p50_us";
        RTT_MAX_US = "rtt_max_us";
        COUNTER = "counter";
        VK_COUNTER_AFTER_SIGNAL = "vk_counter_after_signal";
        STREAM_AFTER_SIGNAL = "stream_after_signal";
        SELFTEST = "selftest";
        WROTE = "wrote";
        WILL_WRITE_AFTER_CASE = "will_write_after_case";
        N = "n";
    }
}

/// What a flagged case's child was seen to do (`observed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    /// It stopped making progress or did not exit, and was killed.
    Hang,
    /// Every call returned success.
    SilentSuccess,
    /// Every call returned success, and the GPU driver logged errors meanwhile.
    DriverLogged,
    /// A call returned an error.
    Error,
    /// A signal ended it.
    Signal,
    /// It exited before reporting.
    Exit,
}

impl Observed {
    pub const ALL: [Observed; 6] = [
        Observed::Hang,
        Observed::SilentSuccess,
        Observed::DriverLogged,
        Observed::Error,
        Observed::Signal,
        Observed::Exit,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Observed::Hang => "hang",
            Observed::SilentSuccess => "silent-success",
            Observed::DriverLogged => "driver-logged",
            Observed::Error => "error",
            Observed::Signal => "signal",
            Observed::Exit => "exit",
        }
    }

    pub fn parse(s: &str) -> Option<Observed> {
        Observed::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of `board_needs_reset` that asks for a reset.
pub const NEEDS_RESET: &str = "true";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_spelled_once_in_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for k in key::ALL {
            assert!(seen.insert(k.as_str()), "{k} twice");
            assert!(
                k.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{k}"
            );
            assert_eq!(Key::parse(k.as_str()), Some(*k));
        }
        assert_eq!(Key::parse("no_such_key"), None);
    }

    #[test]
    fn observed_values_round_trip_and_compare_with_wire_strings() {
        for o in Observed::ALL {
            assert_eq!(Observed::parse(o.as_str()), Some(o));
        }
        assert_eq!(Observed::parse("crash"), None);
        let (observed, detail) = (String::from("observed"), String::from("detail"));
        assert!(observed == key::OBSERVED);
        assert!("detail" == key::DETAIL);
        assert!(detail != key::OBSERVED);
    }
}
