//! Boards from a labgrid farm: reserve a place (by name or tags) through the farm's
//! coordinator, keep the reservation alive, lock the place, read how to reach its sshd
//! from the place's `NetworkService`, power-cycle it through labgrid, and always let go.
//!
//! labgrid is driven through `labgrid-client` subprocesses, its documented interface (hil
//! has no Python dependency). Their output is text meant for people (upstream has no
//! machine-readable `show`, labgrid issue #1247): the parsers below are defensive and were
//! checked against labgrid 26.0.1.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The labgrid version the text parsers were checked against.
pub const CHECKED_WITH: &str = "26.0.1";

/// Longest any one `labgrid-client` call may take (a wait has its own limit).
const CALL_LIMIT: Duration = Duration::from_secs(60);
/// Longest a clean-up call (release, cancel, a reservation being made) runs on after a
/// signal.
const AFTER_SIGNAL_LIMIT: Duration = Duration::from_secs(10);
/// Longest a power cycle may take.
const POWER_LIMIT: Duration = Duration::from_secs(120);
/// How often the reservation is refreshed (the coordinator expires it after ~60 s).
const KEEPALIVE_EVERY: Duration = Duration::from_secs(15);

/// How to reach the coordinator.
#[derive(Debug, Clone)]
pub struct Client {
    /// `labgrid-client` (inventory `client`, else `$LG_CLIENT`, else on PATH).
    pub program: PathBuf,
    /// `host:port` (inventory `coordinator`, else `$LG_COORDINATOR`).
    pub coordinator: String,
    /// Lock and reservation owner: runner user, CI job, process.
    pub owner: String,
}

/// Which place to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// A place by its exact name.
    Place(String),
    /// Any free place whose tags match every `key=value`.
    Tags(Vec<String>),
}

impl Selector {
    fn filters(&self) -> Vec<String> {
        match self {
            Selector::Place(p) => vec![format!("name={p}")],
            Selector::Tags(t) => t.clone(),
        }
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::Place(p) => write!(f, "place `{p}`"),
            Selector::Tags(t) => write!(f, "a place tagged {}", t.join(" ")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LabgridError {
    #[error(
        "labgrid-client not found at `{0}`: install labgrid ({CHECKED_WITH} is the version hil \
         was checked with: python3 -m venv lg && lg/bin/pip install labgrid=={CHECKED_WITH}), \
         then set `client:` under `labgrid:` in the inventory or LG_CLIENT"
    )]
    NoClient(String),
    #[error("no labgrid coordinator: set `coordinator:` under `labgrid:` in the inventory, or LG_COORDINATOR")]
    NoCoordinator,
    #[error("labgrid coordinator {0} cannot be reached: {1}")]
    Coordinator(String, String),
    #[error("labgrid has no place `{0}`; the coordinator knows: {1}")]
    UnknownPlace(String, String),
    #[error("no labgrid place has tags {0}; the coordinator knows: {1}")]
    NoMatch(String, String),
    #[error("{what} is in use ({holder}) and did not come free within --lock-wait {waited_s} s")]
    Busy {
        what: String,
        holder: String,
        waited_s: u64,
    },
    #[error("`labgrid-client {args}` failed ({status}): {stderr}")]
    Failed {
        args: String,
        status: String,
        stderr: String,
    },
    #[error("cannot read `labgrid-client {args}` output (text parsed as printed by labgrid {CHECKED_WITH}): {why}\n{text}")]
    Unreadable {
        args: String,
        why: String,
        text: String,
    },
    #[error("place `{0}` has no NetworkService resource: its exporter must export one (address, port, username of the board's sshd)")]
    NoNetworkService(String),
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
}

/// A finished `labgrid-client` call.
struct Out {
    ok: bool,
    status: String,
    stdout: String,
    stderr: String,
}

/// When a call gives up: a signal (Ctrl-C, CI cancel), or never (clean-up must run).
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    OnSignal,
    Never,
}

impl Client {
    /// Client from the inventory's values, falling back to the environment.
    pub fn new(
        program: Option<PathBuf>,
        coordinator: Option<String>,
    ) -> Result<Client, LabgridError> {
        let program = program
            .or_else(|| std::env::var_os("LG_CLIENT").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("labgrid-client"));
        let coordinator = coordinator
            .or_else(|| std::env::var("LG_COORDINATOR").ok())
            .filter(|c| !c.trim().is_empty())
            .ok_or(LabgridError::NoCoordinator)?;
        Ok(Client {
            program,
            coordinator,
            owner: owner(),
        })
    }

    /// Runs `labgrid-client ARGS` with a deadline; `give_up` can cut it short.
    fn call_until(
        &self,
        args: &[&str],
        limit: Duration,
        give_up: &dyn Fn() -> bool,
    ) -> Result<Out, LabgridError> {
        use std::io::Read as _;
        use std::os::unix::process::CommandExt as _;
        let mut child = Command::new(&self.program)
            .args(args)
            .env("LG_COORDINATOR", &self.coordinator)
            .env("LG_USERNAME", &self.owner)
            // The place and token are always named; a user's labgrid session must not leak in.
            .env_remove("LG_PLACE")
            .env_remove("LG_TOKEN")
            .env_remove("LG_ENV")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    LabgridError::NoClient(self.program.display().to_string())
                }
                _ => self.failed(args, format!("could not start: {e}"), String::new()),
            })?;
        // Drained beside the wait, so a long output cannot stall the client on a full pipe.
        let mut so = child.stdout.take();
        let mut se = child.stderr.take();
        let t_out = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(p) = so.as_mut() {
                let _ = p.read_to_string(&mut s);
            }
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(p) = se.as_mut() {
                let _ = p.read_to_string(&mut s);
            }
            s
        });
        let ended = crate::interrupt::wait_child_until(&mut child, limit, give_up);
        let stdout = t_out.join().unwrap_or_default();
        let stderr = t_err.join().unwrap_or_default();
        use crate::interrupt::ChildEnd;
        let status = match ended {
            Ok(ChildEnd::Exited(s)) if s.success() => {
                return Ok(Out {
                    ok: true,
                    status: s.to_string(),
                    stdout,
                    stderr,
                })
            }
            Ok(ChildEnd::Exited(s)) => s.to_string(),
            Ok(ChildEnd::TimedOut) => format!("no answer within {} s; killed", limit.as_secs()),
            Ok(ChildEnd::Interrupted) if crate::interrupt::interrupted() => {
                return Err(crate::interrupt::Interrupted.into())
            }
            Ok(ChildEnd::Interrupted) => "stopped".into(),
            Err(e) => e.to_string(),
        };
        if stderr.contains("Could not connect to coordinator")
            || stderr.contains("coordinator is unavailable")
        {
            return Err(LabgridError::Coordinator(
                self.coordinator.clone(),
                last_line(&stderr),
            ));
        }
        Ok(Out {
            ok: false,
            status,
            stdout,
            stderr,
        })
    }

    fn call(&self, args: &[&str], stop: Stop) -> Result<Out, LabgridError> {
        match stop {
            Stop::OnSignal => self.call_until(args, CALL_LIMIT, &crate::interrupt::interrupted),
            // Clean-up outlives a signal, but not for long: a cancelled CI job sends
            // SIGKILL after a grace period, and then nothing is released at all.
            Stop::Never => {
                let t = Instant::now();
                let cut = || crate::interrupt::interrupted() && t.elapsed() > AFTER_SIGNAL_LIMIT;
                self.call_until(args, CALL_LIMIT, &cut)
            }
        }
    }

    /// `call`, where anything but success is an error.
    fn call_ok(&self, args: &[&str], stop: Stop) -> Result<String, LabgridError> {
        let out = self.call(args, stop)?;
        if out.ok {
            Ok(out.stdout)
        } else {
            Err(self.failed(args, out.status, out.stderr))
        }
    }

    fn failed(&self, args: &[&str], status: String, stderr: String) -> LabgridError {
        LabgridError::Failed {
            args: args.join(" "),
            status,
            stderr: last_line(&stderr),
        }
    }

    /// Every place with its tags and lock holder (`-v places`).
    fn places(&self) -> Result<BTreeMap<String, PlaceInfo>, LabgridError> {
        let text = self.call_ok(&["-v", "places"], Stop::OnSignal)?;
        Ok(parse_places(&text))
    }
}

/// The last non-empty line: labgrid's own one-line error.
fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The lock and reservation owner labgrid records and shows (`acquired: HOST/OWNER`):
/// the runner's user, the CI job when there is one, and hil-run's pid. Only `[A-Za-z0-9._-]`
/// (labgrid splits `HOST/USER` on `/`).
pub fn owner() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "hil".into());
    let job = if let Ok(j) = std::env::var("CI_JOB_ID") {
        format!(".gitlab-job-{j}")
    } else if let Ok(r) = std::env::var("GITHUB_RUN_ID") {
        format!(".github-run-{r}")
    } else {
        String::new()
    };
    let raw = format!("{user}{job}.hil-run-{}", std::process::id());
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A place as `labgrid-client -v places` prints it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlaceInfo {
    pub tags: BTreeMap<String, String>,
    /// `HOST/USER` holding the lock, if any.
    pub acquired: Option<String>,
}

/// `Place 'NAME':` blocks with `tags: k=v, k=v` and `acquired: HOST/USER|None` lines.
pub fn parse_places(text: &str) -> BTreeMap<String, PlaceInfo> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line
            .strip_prefix("Place '")
            .and_then(|r| r.strip_suffix("':"))
        {
            current = Some(name.to_string());
            out.insert(name.to_string(), PlaceInfo::default());
            continue;
        }
        let Some(p) = current.as_ref().and_then(|n| out.get_mut(n)) else {
            continue;
        };
        let l = line.trim();
        if let Some(tags) = l.strip_prefix("tags:") {
            for kv in tags.split(',') {
                if let Some((k, v)) = kv.trim().split_once('=') {
                    p.tags.insert(k.to_string(), v.to_string());
                }
            }
        } else if let Some(a) = l.strip_prefix("acquired:") {
            let a = a.trim();
            p.acquired = (a != "None" && !a.is_empty()).then(|| a.to_string());
        }
    }
    out
}

/// A reservation as `reserve` / `wait` print it (the last block when several).
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    pub token: String,
    pub state: String,
    /// The place allocated to it (`allocations:` / `main: PLACE`).
    pub place: Option<String>,
}

pub fn parse_reservation(text: &str) -> Option<Reservation> {
    let mut last = None;
    let mut token = None;
    let mut state = None;
    let mut place = None;
    let mut in_alloc = false;
    for line in text.lines() {
        let l = line.trim();
        if let Some(t) = l.strip_prefix("token:") {
            token = Some(t.trim().to_string());
            state = None;
            place = None;
            in_alloc = false;
        } else if let Some(s) = l.strip_prefix("state:") {
            state = Some(s.trim().to_string());
        } else if l == "allocations:" {
            in_alloc = true;
        } else if l.ends_with(':') || l.starts_with("created:") || l.starts_with("timeout:") {
            in_alloc = false;
        } else if in_alloc {
            if let Some(p) = l.strip_prefix("main:") {
                // One place per filter group in labgrid 26.
                place = p.split(',').next().map(|p| p.trim().to_string());
            }
        }
        if let (Some(t), Some(s)) = (&token, &state) {
            last = Some(Reservation {
                token: t.clone(),
                state: s.clone(),
                place: place.clone(),
            });
        }
    }
    last
}

/// What the place's `NetworkService` says about the board's sshd.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkService {
    pub address: String,
    pub port: u16,
    pub username: String,
}

/// The `NetworkService` block of `-p PLACE show` on an acquired place:
/// `Acquired resource 'NAME' (exp/group/NetworkService/NAME):` then a Python dict
/// (`pformat`, possibly over several lines) whose `params` hold address, port, username.
pub fn parse_network_service(text: &str) -> Result<NetworkService, String> {
    let mut block = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("Acquired resource ") || line.starts_with("Matching resource ") {
            if inside {
                break;
            }
            inside = line.contains("/NetworkService/");
            continue;
        }
        if inside {
            block.push_str(line.trim());
            block.push(' ');
        }
    }
    if block.is_empty() {
        return Err("no NetworkService resource".into());
    }
    let params = block
        .split_once("'params':")
        .map(|(_, p)| p)
        .ok_or("no `params` in the NetworkService")?;
    let address = py_str(params, "address").ok_or("NetworkService has no `address`")?;
    let port = match py_value(params, "port") {
        None => 22,
        Some(v) => v
            .trim_matches('\'')
            .parse::<u16>()
            .map_err(|_| format!("NetworkService port `{v}` is not a TCP port"))?,
    };
    let username = py_str(params, "username").ok_or("NetworkService has no `username`")?;
    if address.is_empty() || port == 0 {
        return Err("NetworkService has an empty address or port 0".into());
    }
    Ok(NetworkService {
        address,
        port,
        username,
    })
}

/// The text after `'key': ` up to the next `,` or `}` (a quoted value whole).
fn py_value(s: &str, key: &str) -> Option<String> {
    let rest = s.split_once(&format!("'{key}':"))?.1.trim_start();
    if let Some(q) = rest.strip_prefix('\'') {
        return Some(format!("'{}'", q.split('\'').next()?));
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim().to_string())
}

fn py_str(s: &str, key: &str) -> Option<String> {
    let v = py_value(s, key)?;
    Some(v.strip_prefix('\'')?.strip_suffix('\'')?.to_string())
}

/// A place this run holds: reserved (kept alive in the background), then locked. Dropping
/// it releases the lock and cancels the reservation, on every way out of a run.
pub struct Held {
    client: Client,
    token: String,
    place: String,
    locked: bool,
    keepalive: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
    /// Revoked by the keep-alive when the reservation or the lock is found lost.
    tenure: crate::transport::Tenure,
}

impl Held {
    /// Reserves a place for `sel` (waiting up to `wait_s` while others hold it), keeps the
    /// reservation alive and locks the place.
    pub fn take(client: &Client, sel: &Selector, wait_s: u64) -> Result<Held, LabgridError> {
        let filters = sel.filters();
        let mut args = vec!["reserve"];
        args.extend(filters.iter().map(String::as_str));
        // Not cut short by a signal: the coordinator may already have made the reservation,
        // and only its token lets `Held` cancel it. `reserve` without --wait returns at once.
        let text = client.call_ok(&args, Stop::Never)?;
        let res = parse_reservation(&text).ok_or_else(|| LabgridError::Unreadable {
            args: args.join(" "),
            why: "no token and state".into(),
            text: text.clone(),
        })?;
        // From here on, dropping `held` cancels the reservation.
        let mut held = Held {
            client: client.clone(),
            token: res.token.clone(),
            place: res.place.clone().unwrap_or_default(),
            locked: false,
            keepalive: None,
            tenure: crate::transport::Tenure::default(),
        };
        crate::interrupt::check()?;
        if res.state != "allocated" {
            // Not at once: a place in use, or none that exists (a reservation for that
            // would wait forever). Every labgrid-client call costs a Python start-up, so
            // the places are only listed here.
            let places = client.places()?;
            let known = || places.keys().cloned().collect::<Vec<_>>().join(", ");
            match sel {
                Selector::Place(p) if !places.contains_key(p) => {
                    return Err(LabgridError::UnknownPlace(p.clone(), known()))
                }
                Selector::Tags(t) if !places.values().any(|p| tags_match(&p.tags, t)) => {
                    return Err(LabgridError::NoMatch(t.join(" "), known()))
                }
                _ => {}
            }
            held.place = held.wait_for_allocation(sel, &places, wait_s)?;
        }
        if held.place.is_empty() {
            return Err(LabgridError::Unreadable {
                args: args.join(" "),
                why: "allocated, but no place named under `allocations:`".into(),
                text,
            });
        }
        crate::interrupt::check()?;
        // Likewise: a lock that failed or timed out may still have been applied, so it is
        // released on the way out whatever happens (releasing a place not held is harmless).
        held.locked = true;
        client.call_ok(&["-p", &held.place, "lock"], Stop::Never)?;
        // Watched from now on: each refresh also checks that the place is still ours.
        held.keepalive = Some(keepalive(
            client.clone(),
            held.token.clone(),
            held.place.clone(),
            held.tenure.clone(),
        ));
        crate::interrupt::check()?;
        Ok(held)
    }

    /// `labgrid-client wait TOKEN` until the coordinator allocates a place (it refreshes the
    /// reservation while it waits), for at most `wait_s`.
    fn wait_for_allocation(
        &self,
        sel: &Selector,
        places: &BTreeMap<String, PlaceInfo>,
        wait_s: u64,
    ) -> Result<String, LabgridError> {
        let busy = || {
            let holders: Vec<String> = places
                .iter()
                .filter(|(n, p)| match sel {
                    Selector::Place(x) => *n == x,
                    Selector::Tags(t) => tags_match(&p.tags, t),
                })
                .map(|(n, p)| {
                    format!(
                        "{n}: {}",
                        p.acquired.as_deref().unwrap_or("reserved, not locked")
                    )
                })
                .collect();
            LabgridError::Busy {
                what: sel.to_string(),
                holder: holders.join("; "),
                waited_s: wait_s,
            }
        };
        if wait_s == 0 {
            return Err(busy());
        }
        crate::errln!(
            "hil-run: waiting up to {wait_s} s for {sel} (labgrid reservation {})",
            self.token
        );
        let out = self.client.call_until(
            &["wait", &self.token],
            Duration::from_secs(wait_s),
            &crate::interrupt::interrupted,
        )?;
        if !out.ok {
            return Err(busy());
        }
        let res = parse_reservation(&out.stdout);
        match res {
            Some(Reservation { place: Some(p), .. }) => Ok(p),
            _ => Err(LabgridError::Unreadable {
                args: format!("wait {}", self.token),
                why: "no place under `allocations:`".into(),
                text: out.stdout,
            }),
        }
    }

    pub fn place(&self) -> &str {
        &self.place
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// The run's hold on the place: revoked when the keep-alive finds it lost.
    pub fn tenure(&self) -> crate::transport::Tenure {
        self.tenure.clone()
    }

    /// How to reach the board: the place's `NetworkService`.
    pub fn network_service(&self) -> Result<NetworkService, LabgridError> {
        let args = ["-p", self.place.as_str(), "show"];
        let text = self.client.call_ok(&args, Stop::OnSignal)?;
        if !text.contains("/NetworkService/") {
            return Err(LabgridError::NoNetworkService(self.place.clone()));
        }
        parse_network_service(&text).map_err(|why| LabgridError::Unreadable {
            args: args.join(" "),
            why,
            text,
        })
    }

    /// `labgrid-client -p PLACE power cycle`: the place's power resource (a PDU port).
    pub fn power_cycle(&self) -> Result<(), LabgridError> {
        let args = ["-p", self.place.as_str(), "power", "cycle"];
        let out = self
            .client
            .call_until(&args, POWER_LIMIT, &crate::interrupt::interrupted)?;
        if out.ok {
            Ok(())
        } else {
            Err(self.client.failed(&args, out.status, out.stderr))
        }
    }

    /// Releases the lock and cancels the reservation (also after a signal); errors are
    /// reported, not returned: there is nothing else to do about them here.
    pub fn release(&mut self) {
        if let Some((stop, handle)) = self.keepalive.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = handle.join();
        }
        if self.locked {
            self.locked = false;
            if let Err(e) = self
                .client
                .call_ok(&["-p", &self.place, "release"], Stop::Never)
            {
                crate::errln!(
                    "hil-run: labgrid: could not release place `{}`: {e}",
                    self.place
                );
            }
        }
        if !self.token.is_empty() {
            let token = std::mem::take(&mut self.token);
            if let Err(e) = self
                .client
                .call_ok(&["cancel-reservation", &token], Stop::Never)
            {
                crate::errln!("hil-run: labgrid: could not cancel reservation {token}: {e}");
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release();
    }
}

fn tags_match(tags: &BTreeMap<String, String>, filters: &[String]) -> bool {
    filters.iter().all(|f| {
        f.split_once('=')
            .is_some_and(|(k, v)| tags.get(k).is_some_and(|t| t == v))
    })
}

/// Polls the reservation every `KEEPALIVE_EVERY` (each poll refreshes it) until stopped,
/// and revokes `tenure` once the place is no longer this run's: the reservation is no
/// longer `acquired` (the lock was kicked, the place deleted) or the coordinator no longer
/// knows it (restarted: reservations and locks live in its memory). A coordinator that
/// does not answer is only warned about: the hold may be intact when it is back.
fn keepalive(
    client: Client,
    token: String,
    place: String,
    tenure: crate::transport::Tenure,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let stopped = || flag.load(Ordering::SeqCst) || crate::interrupt::interrupted();
        loop {
            let next = Instant::now() + KEEPALIVE_EVERY;
            while Instant::now() < next {
                if stopped() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let polled = client.call_until(&["wait", &token], CALL_LIMIT, &stopped);
            if stopped() {
                return;
            }
            match lost_hold(&polled, &token, &place) {
                Some(why) => {
                    crate::errln!("hil-run: labgrid: {why}; stopping the run on it");
                    tenure.revoke(why);
                    return;
                }
                None => match polled {
                    Ok(o) if o.ok => {}
                    Ok(o) => crate::errln!(
                        "hil-run: labgrid: refreshing reservation {token} failed: {}",
                        last_line(&o.stderr)
                    ),
                    Err(e) => crate::errln!(
                        "hil-run: labgrid: refreshing reservation {token} failed: {e}"
                    ),
                },
            }
        }
    });
    (stop, handle)
}

/// Why a `wait TOKEN` poll shows that the place is no longer held by this run, if it does.
fn lost_hold(polled: &Result<Out, LabgridError>, token: &str, place: &str) -> Option<String> {
    let out = polled.as_ref().ok()?;
    if !out.ok {
        // labgrid 26: "Error: Reservation TOKEN does not exist".
        return out.stderr.contains("does not exist").then(|| {
            format!(
                "the coordinator no longer knows reservation {token} (restarted, or the \
                 reservation was cancelled): place `{place}` is not locked for this run any more"
            )
        });
    }
    let res = parse_reservation(&out.stdout)?;
    (res.state != "acquired").then(|| {
        format!(
            "reservation {token} is now `{}`, no longer `acquired`: place `{place}` was taken \
             from this run (lock kicked, place deleted or reallocated)",
            res.state
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Output captured from labgrid 26.0.1 (client and coordinator on loopback).
    const SHOW: &str = "Place 'orin01':
  tags: board=orin
  matches:
    exp1/orin01/*
  acquired: vm/ci-hil-run-123
  acquired resources:
    exp1/orin01/NetworkPowerPort/NetworkPowerPort
    exp1/orin01/NetworkService/NetworkService
  created: 2026-11-27 06:50:15.600779
  changed: 2026-11-27 06:50:20.917289
Acquired resource 'NetworkPowerPort' (exp1/orin01/NetworkPowerPort/NetworkPowerPort):
  {'acquired': 'orin01',
   'avail': True,
   'cls': 'NetworkPowerPort',
   'params': {'extra': {'proxy': 'localhost', 'proxy_required': False},
              'host': 'http://127.0.0.1:28555/relay/{index}/{value}',
              'index': 0,
              'model': 'simplerest'}}
Acquired resource 'NetworkService' (exp1/orin01/NetworkService/NetworkService):
  {'acquired': 'orin01',
   'avail': True,
   'cls': 'NetworkService',
   'params': {'address': '127.0.0.1',
              'extra': {'proxy': 'localhost', 'proxy_required': False},
              'port': 2222,
              'username': 'root'}}
";

    const RESERVE: &str = "Reservation 'EON716YIWM':
  owner: vm/root
  token: EON716YIWM
  state: allocated
  filters:
    main: name=orin01
  allocations:
    main: orin01
  created: 2026-11-27 06:50:16.684510
  timeout: 2026-11-27 06:51:16.684564
";

    #[test]
    fn the_network_service_is_read_from_show() {
        let s = parse_network_service(SHOW).unwrap();
        assert_eq!(
            s,
            NetworkService {
                address: "127.0.0.1".into(),
                port: 2222,
                username: "root".into()
            }
        );
        // On one line (a short dict), without a port (22), and missing.
        let one = "Acquired resource 'NetworkService' (e/p/NetworkService/NetworkService):\n  {'cls': 'NetworkService', 'params': {'address': 'orin01.lab', 'username': 'ci'}}\n";
        assert_eq!(parse_network_service(one).unwrap().port, 22);
        let cut = SHOW
            .split("Acquired resource 'NetworkService'")
            .next()
            .unwrap();
        assert!(parse_network_service(cut).is_err());
        let bad = SHOW.replace("'port': 2222", "'port': 70000");
        assert!(parse_network_service(&bad).unwrap_err().contains("70000"));
    }

    #[test]
    fn reservations_and_places_are_read_from_their_text() {
        let r = parse_reservation(RESERVE).unwrap();
        assert_eq!(
            (r.token.as_str(), r.state.as_str(), r.place.as_deref()),
            ("EON716YIWM", "allocated", Some("orin01"))
        );
        let waiting = RESERVE
            .replace("state: allocated", "state: waiting")
            .replace("  allocations:\n    main: orin01\n", "");
        let w = parse_reservation(&waiting).unwrap();
        assert_eq!((w.state.as_str(), w.place), ("waiting", None));
        // `wait` prints one block per poll: the last one counts.
        let both = format!(
            "{}{}",
            waiting.replace("Reservation 'EON716YIWM':\n", ""),
            RESERVE
        );
        assert_eq!(parse_reservation(&both).unwrap().state, "allocated");
        assert!(parse_reservation("garbage").is_none());
        let places = parse_places(SHOW);
        let p = &places["orin01"];
        assert_eq!(p.tags.get("board").map(String::as_str), Some("orin"));
        assert_eq!(p.acquired.as_deref(), Some("vm/ci-hil-run-123"));
        assert!(tags_match(&p.tags, &["board=orin".into()]));
        assert!(!tags_match(
            &p.tags,
            &["board=orin".into(), "gpu=ga10b".into()]
        ));
    }

    #[test]
    fn a_reservation_no_longer_acquired_or_unknown_is_a_lost_place() {
        let out = |ok: bool, stdout: &str, stderr: &str| {
            Ok(Out {
                ok,
                status: String::new(),
                stdout: stdout.into(),
                stderr: stderr.into(),
            })
        };
        // Captured from labgrid 26.0.1: locked, then kicked by another user.
        let acquired = RESERVE.replace("state: allocated", "state: acquired");
        assert_eq!(lost_hold(&out(true, &acquired, ""), "T", "orin01"), None);
        let kicked = lost_hold(&out(true, RESERVE, ""), "T", "orin01").unwrap();
        assert!(
            kicked.contains("now `allocated`") && kicked.contains("orin01"),
            "{kicked}"
        );
        // The coordinator restarted: it knows no reservation any more.
        let gone = "Server error: Error: Reservation VOMABXYGMR does not exist\n";
        let why = lost_hold(&out(false, "", gone), "VOMABXYGMR", "orin01").unwrap();
        assert!(
            why.contains("no longer knows reservation VOMABXYGMR"),
            "{why}"
        );
        // The coordinator down, or another failure: no verdict on the hold.
        let down = Err(LabgridError::Coordinator("c:1".into(), "refused".into()));
        assert_eq!(lost_hold(&down, "T", "orin01"), None);
        assert_eq!(lost_hold(&out(false, "", "timeout"), "T", "orin01"), None);
    }

    #[test]
    fn the_owner_is_safe_for_labgrid_and_names_the_process() {
        let o = owner();
        assert!(
            o.ends_with(&format!("hil-run-{}", std::process::id())),
            "{o}"
        );
        assert!(!o.contains('/'), "{o}");
    }
}
