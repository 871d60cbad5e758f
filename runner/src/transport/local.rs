//! The built-in boards `local` and `model`: `hil-suite` as a child process of the runner.
//! On `model` the suite loads hil's NvSciSync reference model and runs only the NvSciSync
//! cases, so nothing the board reports can pass for a hardware result.

use super::{ExitInfo, Running, Transport};
use crate::tail::Tail;
use anyhow::{bail, Context as _};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Local {
    pub suite: PathBuf,
    pub tables: Option<PathBuf>,
    /// Per-board results dir: logs and event files go here.
    pub dir: PathBuf,
}

/// What the suite reads to load a given NvSciSync library (hil-suite's `nvsci::LIB_ENV`).
const SUITE_NVSCISYNC_LIB_ENV: &str = "HIL_NVSCISYNC_LIB";

impl Local {
    /// The model library when this is the `model` board. Results go to `<results>/<board>/`,
    /// so the directory names the built-in board.
    fn model(&self) -> anyhow::Result<Option<PathBuf>> {
        if self.dir.file_name() != Some(std::ffi::OsStr::new(crate::board::MODEL)) {
            return Ok(None);
        }
        crate::board::find_model()
            .map(Some)
            .map_err(|e| super::SuiteRejected(e).into())
    }

    fn command(&self) -> anyhow::Result<Command> {
        let mut c = Command::new(&self.suite);
        if let Some(t) = &self.tables {
            c.arg("--tables").arg(t);
        }
        if let Some(model) = self.model()? {
            crate::model_ipc::configure(&mut c, &self.dir, &model);
            c.env(SUITE_NVSCISYNC_LIB_ENV, model);
        }
        Ok(c)
    }
}

/// Listing probes the CUDA driver (device count) but never runs a case.
const LIST_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

impl Local {
    /// `hil-suite --list-json`, with a deadline and Ctrl-C/SIGTERM honoured: output goes
    /// to files (a pipe could fill while we wait), the child in its own process group.
    fn list_output(&self) -> anyhow::Result<std::process::Output> {
        use crate::interrupt::{wait_child, ChildEnd};
        // Not in the results dir: nothing there is touched before the input is validated.
        // Unique per listing: boards of one run (`local` and `model`) list at the same time.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tmp = std::env::temp_dir().join(format!("hil-list-{}-{n}", std::process::id()));
        let (out_path, err_path) = (tmp.with_extension("out"), tmp.with_extension("err"));
        let mut child = self
            .command()?
            .args(super::LIST_ARGS)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path)?)
            .stderr(std::fs::File::create(&err_path)?)
            .process_group(0)
            .spawn()
            .with_context(|| format!("running {}", self.suite.display()))?;
        let status = match wait_child(&mut child, LIST_LIMIT)? {
            ChildEnd::Exited(st) => st,
            ChildEnd::TimedOut => bail!(
                "{} --list-json gave no answer within {}s",
                self.suite.display(),
                LIST_LIMIT.as_secs()
            ),
            ChildEnd::Interrupted => return Err(crate::interrupt::Interrupted.into()),
        };
        let read = |p: &std::path::Path| std::fs::read(p).unwrap_or_default();
        let output = std::process::Output {
            status,
            stdout: read(&out_path),
            stderr: read(&err_path),
        };
        let _ = std::fs::remove_file(&out_path);
        let _ = std::fs::remove_file(&err_path);
        Ok(output)
    }
}

impl Transport for Local {
    fn list_cases(&mut self) -> anyhow::Result<super::Listing> {
        let out = self.list_output()?;
        if out.status.code() == Some(2) {
            // The suite's own usage/config error (bad tables, bad arguments).
            let why = String::from_utf8_lossy(&out.stderr);
            let why = why.trim().trim_start_matches("hil-suite: error: ");
            return Err(super::SuiteRejected(why.to_string()).into());
        }
        if !out.status.success() {
            bail!(
                "{} --list-json failed ({}): {}",
                self.suite.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        // Results go to `<results>/<board>/`: the directory names the board.
        let board = self.dir.file_name().unwrap_or_default().to_string_lossy();
        let mut listing = super::parse_case_listing(&board, &String::from_utf8_lossy(&out.stdout))?;
        if self.model()?.is_some() {
            listing.cases.retain(|c| c.backend == "nvscisync");
        }
        Ok(listing)
    }

    fn start(
        &mut self,
        cases: &[String],
        attempt: u32,
        threads: Option<u32>,
    ) -> anyhow::Result<Box<dyn Running>> {
        // After --resume the directory holds the earlier invocation's files: keep them.
        let mut attempt = attempt;
        while self.dir.join(format!("suite-{attempt}.log")).exists() {
            attempt += 1;
        }
        let list = self.dir.join(format!("cases-{attempt}.txt"));
        std::fs::write(&list, cases.join("\n") + "\n")
            .with_context(|| format!("writing {}", list.display()))?;
        let events = self.dir.join(format!("events-{attempt}.jsonl"));
        let _ = std::fs::remove_file(&events);
        let log = self.dir.join(format!("suite-{attempt}.log"));
        let logf =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        if self.model()?.is_some() {
            crate::model_ipc::write_cfg(&self.dir).context("writing the model's nvsciipc.cfg")?;
        }
        // Output to a file, never a pipe: libtest-mimic panics if a pipe closes.
        let mut cmd = self.command()?;
        cmd.arg("--cases-from")
            .arg(&list)
            .arg("--events")
            .arg(&events)
            .args(super::threads_args(threads))
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.suite.display()))?;
        Ok(Box::new(LocalRun {
            child,
            tail: Tail::new(events),
            log,
        }))
    }
}

struct LocalRun {
    child: Child,
    tail: Tail,
    log: PathBuf,
}

impl Running for LocalRun {
    fn poll_events(&mut self) -> std::io::Result<Vec<String>> {
        self.tail.poll()
    }

    fn try_wait(&mut self) -> std::io::Result<Option<ExitInfo>> {
        Ok(self
            .child
            .try_wait()?
            .map(|st| match (st.code(), st.signal()) {
                (Some(c), _) => ExitInfo::Code(c),
                (None, Some(s)) => ExitInfo::Signal(s),
                (None, None) => ExitInfo::Killed,
            }))
    }

    fn kill(&mut self) {
        // The whole group: UB children and health probes go too.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }

    fn output_tail(&self, lines: usize) -> String {
        crate::tail::file_tail(&self.log, lines).unwrap_or_default()
    }
}

impl Drop for LocalRun {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}
