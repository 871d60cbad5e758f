//! A board left unusable (a device a health probe found broken after an undefined-
//! behaviour case) is reset at the end of its run: the inventory's `reset` command, or a
//! power cycle of the labgrid place the run holds.

use crate::journal::State;
use hil_proto::key;
use hil_proto::observation::NEEDS_RESET;

/// Longest a board's `reset` command may take (a power cycle and boot fit well inside).
const RESET_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// How a board left unusable is reset.
pub enum Reset<'a> {
    /// The inventory's `reset` command, run here on the runner host.
    Command(&'a crate::inventory::BoardSpec),
    /// `labgrid-client power cycle` on the place this run holds.
    Labgrid(&'a crate::labgrid::Held),
    /// Nothing to reset (this machine).
    None,
}

impl Reset<'_> {
    /// A device left unusable (health probe after an undefined-behaviour case): reset the
    /// board so that the next run finds a working one.
    pub fn if_needed(&self, board: &str, state: &State) {
        let needs = state.results.values().any(|r| {
            r.observations
                .iter()
                .any(|o| o.key == key::BOARD_NEEDS_RESET && o.value == NEEDS_RESET)
        });
        if !needs {
            return;
        }
        match self {
            Reset::Command(spec) => run_reset_command(spec),
            Reset::Labgrid(held) => match held.power_cycle() {
                Ok(()) => crate::outln!(
                    "hil-run: {board}: board needed a reset; power-cycled labgrid place {}",
                    held.place()
                ),
                Err(e) => crate::errln!(
                    "hil-run: {board}: board needs a reset; labgrid power cycle failed: {e}"
                ),
            },
            Reset::None => {}
        }
    }
}

fn run_reset_command(spec: &crate::inventory::BoardSpec) {
    let Some(cmd) = &spec.reset else {
        crate::errln!(
            "hil-run: {}: board needs a reset and the inventory has no `reset` command",
            spec.name
        );
        return;
    };
    use crate::interrupt::{wait_child, ChildEnd};
    use std::os::unix::process::CommandExt as _;
    // Its own process group: a hung PDU command is killed whole, not waited for forever.
    let ended = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .process_group(0)
        .spawn()
        .and_then(|mut child| wait_child(&mut child, RESET_LIMIT));
    match ended {
        Ok(ChildEnd::Exited(s)) if s.success() => {
            crate::outln!("hil-run: {}: board needed a reset; ran `{cmd}`", spec.name)
        }
        other => crate::errln!(
            "hil-run: {}: board needs a reset; `{cmd}` failed: {}",
            spec.name,
            match other {
                Ok(ChildEnd::Exited(s)) => s.to_string(),
                Ok(ChildEnd::TimedOut) =>
                    format!("no exit within {} s; killed", RESET_LIMIT.as_secs()),
                Ok(ChildEnd::Interrupted) => "interrupted; killed".into(),
                Err(e) => e.to_string(),
            }
        ),
    }
}
