//! Remote process control as generated POSIX shell: quoting, starting a suite detached in
//! its own session, telling a suite of this run from a reused pid, and killing its group.

/// Quotes one word for the remote POSIX shell: nothing from the inventory or the case
/// list is ever interpreted by it.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The board's boot: a pid or a start from before a reboot is not this boot's.
pub(super) const BOOT_ID: &str = "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)";

/// Shell, builtins only: reads `/proc/<proc>/stat` into `$1…` from the state on (so `$3`
/// is the process group, `$4` the session); fails if there is no such process.
fn stat_fields(proc_dir: &str) -> String {
    format!("read -r s 2>/dev/null < {proc_dir}/stat && set -- ${{s##*) }}")
}

/// Shell test, with builtins only (it runs every few seconds): `pid` leads a session and
/// works in the run's directory (the current one). That is a suite shell of this run: not
/// a process that reuses the number, nor a suite's own child (those lead groups only).
pub(super) fn leads_our_session(pid: &str) -> String {
    format!(
        "[ -n \"{pid}\" ] && [ /proc/{pid}/cwd -ef . ] && {} && [ \"$4\" = \"{pid}\" ]",
        stat_fields(&format!("/proc/{pid}"))
    )
}

/// Shell: kills process group `pgid` if a process in it belongs to session `pgid` and
/// works in the run's directory (the current one). A suite whose shell died still has its
/// other processes there, so the group is found without its leader. Builtins only.
pub(super) fn kill_our_group(pgid: &str) -> String {
    kill_our_group_then(pgid, ":")
}

/// `kill_our_group`, running the shell command `then` after a kill.
fn kill_our_group_then(pgid: &str, then: &str) -> String {
    let g = pgid;
    format!(
        "if [ -n \"{g}\" ]; then for d in /proc/[0-9]*; do {stat} || continue; \
         if [ \"$3\" = \"{g}\" ] && [ \"$4\" = \"{g}\" ] && [ $d/cwd -ef . ]; then \
         kill -9 -{g} 2>/dev/null || kill -9 -- -{g} 2>/dev/null; {then}; break; fi; done; fi",
        stat = stat_fields("$d")
    )
}

/// Shell: ends every suite still running in another run directory under `runs_dir` (one
/// of an earlier run of any board sharing the workdir whose hil-run was killed, or whose
/// lock was broken), printing `ended RUN` for each. Run only under the board's lock: the
/// runs it ends hold no lock any more, and two suites must never share the GPUs.
pub(super) fn end_earlier_runs(runs_dir: &str, own_run: &str) -> String {
    format!(
        "b={BOOT_ID}; for r in {runs}/*/; do [ -d \"$r\" ] || continue; \
         [ \"$r\" -ef {own} ] && continue; cd \"$r\" 2>/dev/null || continue; \
         for f in start-*-\"$b\".pid; do [ -f \"$f\" ] || continue; k=; \
         read -r k 2>/dev/null < \"$f\"; {kill}; done; done; cd /",
        runs = quote(runs_dir),
        own = quote(own_run),
        kill = kill_our_group_then("$k", "r=${r%/}; echo \"ended ${r##*/}\"")
    )
}

/// The shell command that starts attempt `attempt` of the suite (`suite`: its command
/// line) detached, in its own session, and prints its pid.
/// - Safe to run again (a dropped connection reruns it): only the first run in this boot
///   starts the suite; every run prints that suite's pid, which the suite's shell writes
///   itself before the suite runs. After a reboot a rerun starts it afresh, with no exit
///   status or events of the attempt left from before.
/// - Earlier attempts' suites still running are killed first: two never share the GPUs.
///   `kill -9 -PGID` is what dash accepts; bash and procps kill also take `-- -PGID`.
/// - Only setsid goes to the background: `cd X && setsid … &` would background a subshell
///   holding the channel open until the suite ends.
pub(super) fn start_command(run_dir: &str, suite: &str, attempt: u32) -> String {
    let a = attempt;
    let inner = format!(
        "b={BOOT_ID}; {{ echo $$ > start-{a}-$b.pid.t && mv start-{a}-$b.pid.t start-{a}-$b.pid; }} || exit 1; \
         {suite} > suite-{a}.log 2>&1; echo $? > exit-{a}"
    );
    format!(
        "cd {dir} || exit 1; b={BOOT_ID}; \
         for f in start-*-\"$b\".pid; do [ \"$f\" = start-{a}-\"$b\".pid ] && continue; \
         k=; read -r k 2>/dev/null < \"$f\"; {earlier}; done; \
         new=; if [ ! -d start-{a}-\"$b\".lock ]; then mkdir start-{a}-\"$b\".lock || exit 1; new=1; \
         rm -f exit-{a}; : > events-{a}.jsonl; \
         setsid sh -c {inner} < /dev/null > /dev/null 2> start-{a}-\"$b\".err & fi; \
         i=0; until [ -s start-{a}-\"$b\".pid ] || [ $i -ge 50 ]; do sleep 0.1; i=$((i+1)); done; \
         if [ ! -s start-{a}-\"$b\".pid ]; then if [ -n \"$new\" ]; then \
         echo \"the suite's shell did not start: $(cat start-{a}-\"$b\".err 2>/dev/null)\" >&2; \
         else echo \"attempt {a} was started before, but its suite never wrote its pid\" >&2; fi; exit 1; fi; \
         cat start-{a}-\"$b\".pid",
        dir = quote(run_dir),
        earlier = kill_our_group("$k"),
        inner = quote(&inner)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::{Duration, Instant};

    use crate::transport::ssh::sh_out;

    #[test]
    fn the_start_command_starts_one_suite_per_attempt_and_ends_earlier_ones() {
        // Boards' login shells differ: dash and bash at least (they differ on `kill --`).
        for shell in ["sh", "bash"] {
            start_command_scenario(shell);
        }
    }

    fn start_command_scenario(shell: &str) {
        let dir = std::env::temp_dir().join(format!("hil-start-{}-{shell}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let run = |attempt: u32| {
            let suite = format!("echo {attempt} >> started; sleep 30");
            let cmd = start_command(&dir.display().to_string(), &suite, attempt);
            let out = std::process::Command::new(shell)
                .arg("-c")
                .arg(&cmd)
                .output()
                .unwrap();
            let pid = String::from_utf8(out.stdout).unwrap().trim().to_string();
            pid.parse::<i32>()
                .unwrap_or_else(|_| panic!("{pid:?} {}", String::from_utf8_lossy(&out.stderr)))
        };
        // Running, not a zombie (reaping it is init's business).
        let alive = |pid: i32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                st.rsplit(')')
                    .next()
                    .is_some_and(|r| !r.trim_start().starts_with('Z'))
            })
        };
        // Live processes of group `g` (zombies excluded).
        let group = |g: i32| -> Vec<i32> {
            let mut out = Vec::new();
            for e in std::fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let Ok(st) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                let f: Vec<&str> = st
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                if f.len() > 2 && f[0] != "Z" && f[2] == g.to_string() {
                    out.push(pid);
                }
            }
            out
        };
        let gone = |g: i32| {
            // kill(2) is asynchronous: poll.
            let t = std::time::Instant::now();
            while !group(g).is_empty() && t.elapsed() < std::time::Duration::from_secs(10) {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            group(g).is_empty()
        };
        let first = run(1);
        assert_eq!(run(1), first, "a rerun reports the suite it started");
        assert!(alive(first));
        // Only attempt 1's shell dies; its suite (`sleep`) lives on in the group.
        unsafe { libc::kill(first, libc::SIGKILL) };
        assert!(!group(first).is_empty());
        // A process of the run's directory leading its own group (as a suite's UB child
        // does), whose number an old pid file names: not a suite, never signalled.
        use std::os::unix::process::CommandExt as _;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(&dir)
            .process_group(0)
            .spawn()
            .unwrap();
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        std::fs::write(
            dir.join(format!("start-9-{}.pid", boot.trim())),
            format!("{}\n", child.id()),
        )
        .unwrap();
        let second = run(2);
        assert_ne!(second, first);
        assert!(
            gone(first),
            "attempt 1's suite is ended before attempt 2 runs"
        );
        assert!(alive(second));
        assert!(
            alive(child.id() as i32),
            "a process that is no suite of the run"
        );
        // The runner's kill of a suite: its group, and nothing that only reuses a number.
        let kill = |pid: i32| {
            let cmd = format!(
                "cd {} && {{ {}; }}",
                quote(&dir.display().to_string()),
                kill_our_group(&pid.to_string())
            );
            std::process::Command::new(shell)
                .arg("-c")
                .arg(cmd)
                .status()
                .unwrap();
        };
        let state = |pid: i32| {
            let cmd = format!(
                "cd {} && {} && echo running || echo gone",
                quote(&dir.display().to_string()),
                leads_our_session(&pid.to_string())
            );
            let out = std::process::Command::new(shell)
                .arg("-c")
                .arg(cmd)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        assert_eq!(state(second), "running");
        assert_eq!(state(child.id() as i32), "gone", "no suite of the run");
        kill(child.id() as i32);
        assert!(alive(child.id() as i32));
        kill(second);
        assert!(gone(second));
        std::thread::sleep(std::time::Duration::from_millis(200));
        let started = std::fs::read_to_string(dir.join("started")).unwrap();
        assert_eq!(started, "1\n2\n", "one suite per attempt");
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_new_run_ends_suites_other_runs_left_running_but_not_its_own() {
        let dir = std::env::temp_dir().join(format!("hil-earlier-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let runs = dir.join("runs");
        let (old, own) = (runs.join("b1-1"), runs.join("b1-2"));
        for d in [&old, &own] {
            std::fs::create_dir_all(d).unwrap();
        }
        let start = |d: &Path| -> i32 {
            let cmd = start_command(&d.display().to_string(), "sleep 30", 1);
            sh_out(&cmd).trim().parse().unwrap()
        };
        let (a, b) = (start(&old), start(&own));
        let alive = |pid: i32| unsafe { libc::kill(pid, 0) } == 0;
        let end = end_earlier_runs(&runs.display().to_string(), &own.display().to_string());
        let out = sh_out(&end);
        assert_eq!(out.trim(), "ended b1-1", "{out}");
        // kill(2) is asynchronous, and init reaps the shell: poll.
        let t = Instant::now();
        while alive(a) && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let zombie = std::fs::read_to_string(format!("/proc/{a}/stat")).map_or(true, |st| {
            st.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        });
        assert!(zombie, "the other run's suite was ended");
        assert!(alive(b), "this run's own suite is left");
        assert_eq!(sh_out(&end).trim(), "", "nothing left to end");
        unsafe { libc::kill(-b, libc::SIGKILL) };
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn quoting_neutralises_shell_syntax() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("a'b"), r"'a'\''b'");
        let hostile = "$(touch /tmp/x); `id` & rm -rf / 'q'";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(hostile)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), hostile);
    }
}
