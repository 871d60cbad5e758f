//! The two processes of a cross-process case: the endpoints of `ipc_endpoints` (the
//! suite opens each pair's first name, the peer process the second), the peer process
//! (`hil-suite --ipc-peer CASE`, started and limited through `child`), the messages the
//! halves exchange over the endpoint, and how the two halves' results make the case's.
//!
//! Messages: frames of at most the endpoint's `frame_size`, the first byte saying what
//! the frame is: `M` (a message: u32 length, then its first bytes), `C` (more of it),
//! `B` (the sender's half is done) and `A` (the sender's half failed: the reason). Each
//! side reads with a deadline and gives up when its peer's endpoint resets, so no half
//! waits past its limit for a peer that is gone.

use crate::case::Case;
use crate::child::{child_command, reported, run_with_limit, tail, ChildEnd};
use crate::error::OpError;
use crate::nvsci::ipc::Endpoint;
use crate::ops::Ctx;
use crate::settings::EndpointPair;
use hil_proto::Observation;
use nvsci_abi::err;
use nvsci_abi::ipc::event;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a half waits for one message, a connection or a free endpoint.
pub(super) const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(2);
/// How long a peer may outlive its case's time limit before it is killed itself.
const PEER_GRACE: Duration = Duration::from_secs(5);
/// The largest frame a half reads into memory (a board's cfg says what its frames are;
/// the sample configurations use 1536 bytes).
const MAX_FRAME: usize = 1 << 20;

const MSG: u8 = b'M';
const MORE: u8 = b'C';
const BYE: u8 = b'B';
const ABORT: u8 = b'A';

/// The reason when `ipc_endpoints` is not given: the suite never guesses endpoint names.
pub(super) const NO_ENDPOINTS: &str = "no NvSciIpc endpoint pair given: set ipc_endpoints \
     (--ipc-endpoints NAME_0:NAME_1, HIL_IPC_ENDPOINTS, or `ipc_endpoints:` under the board's \
     suite_settings) to an INTER_PROCESS pair of this board's nvsciipc.cfg";

/// One side's endpoints (the case's pair first) and what it knows of the other side.
pub(super) struct Link {
    pub eps: Vec<Endpoint>,
    frame: usize,
    /// Main side: set once the peer process has ended.
    peer_ended: Option<Arc<AtomicBool>>,
    /// The other half's end (`B` or `A`) has been read: nothing more will come, so a
    /// half that still waits for it would wait out `WAIT` for nothing.
    end_seen: Cell<bool>,
}

impl Link {
    fn new(eps: Vec<Endpoint>, peer_ended: Option<Arc<AtomicBool>>) -> Result<Link, OpError> {
        for ep in &eps {
            ep.reset();
        }
        let frame = eps[0].info()?.frame_size as usize;
        if !(16..=MAX_FRAME).contains(&frame) {
            return Err(OpError::NotSupported(format!(
                "NvSciIpcGetEndpointInfo of {} gave frame_size {frame}: the cross-process rows \
                 exchange frames of 16 bytes to {MAX_FRAME} (the frame_size of its \
                 nvsciipc.cfg line)",
                eps[0].name
            )));
        }
        Ok(Link {
            eps,
            frame,
            peer_ended,
            end_seen: Cell::new(false),
        })
    }

    /// The case's endpoint (the one every message goes over).
    pub fn ep(&self) -> &Endpoint {
        &self.eps[0]
    }

    /// Another pair's endpoint, connected to the peer too (rows that replay descriptors).
    pub fn other(&self) -> Result<&Endpoint, OpError> {
        self.eps
            .get(1)
            .ok_or_else(|| OpError::Row("this op needs a second endpoint pair".into()))
    }

    fn gone(&self) -> Option<OpError> {
        let ended = self.peer_ended.as_ref()?.load(Ordering::SeqCst);
        ended.then(|| OpError::Check("the peer process ended before its half was done".into()))
    }

    /// Waits for NV_SCI_IPC_EVENT_CONN_EST on every endpoint.
    fn connect(&self) -> Result<(), OpError> {
        let until = Instant::now() + WAIT;
        for ep in &self.eps {
            while ep.events()? & event::CONN_EST == 0 {
                if let Some(e) = self.gone() {
                    return Err(e);
                }
                if Instant::now() > until {
                    return Err(OpError::Check(format!(
                        "endpoint {}: no connection (NV_SCI_IPC_EVENT_CONN_EST) within {}s \
                         (the two names of each ipc_endpoints pair must be the two ends of one \
                         INTER_PROCESS line of nvsciipc.cfg)",
                        ep.name,
                        WAIT.as_secs()
                    )));
                }
                std::thread::sleep(POLL);
            }
        }
        Ok(())
    }

    /// Each half says which case and which half it is, and checks what the other said: a
    /// pair whose names are not the two ends of one cfg line can join this half to another
    /// case's (two main halves), and what follows must never be read as the library's
    /// answer to a row.
    fn greet(&self, case: &str, main: bool) -> Result<(), OpError> {
        let (me, them) = if main {
            ("main", "peer")
        } else {
            ("peer", "main")
        };
        self.send(format!("hello {me} {case}").as_bytes())?;
        let got = self.recv()?;
        if got != format!("hello {them} {case}").as_bytes() {
            let text: String = String::from_utf8_lossy(&got).chars().take(200).collect();
            return Err(OpError::Check(format!(
                "endpoint {} is connected to another half (it said `{}`), not to this case's \
                 {them} half: the two names of each ipc_endpoints pair must be the two ends \
                 of one INTER_PROCESS line of nvsciipc.cfg",
                self.ep().name,
                text.escape_debug()
            )));
        }
        Ok(())
    }

    fn write_frame(&self, frame: &[u8]) -> Result<(), OpError> {
        let until = Instant::now() + WAIT;
        loop {
            match self.ep().write(frame) {
                // The peer's process ended or closed its endpoint: said as the reader says
                // it, so that the peer's own end is told with it (`combine`).
                Err(OpError::Api { code, .. }) if code == i64::from(err::CONNECTION_RESET) => {
                    return Err(peer_closed())
                }
                Err(OpError::Api { code, .. }) if code == i64::from(err::INSUFFICIENT_MEMORY) => {
                    if Instant::now() > until {
                        return Err(OpError::Check(format!(
                            "NvSciIpcWrite: the channel stayed full for {}s",
                            WAIT.as_secs()
                        )));
                    }
                    std::thread::sleep(POLL);
                }
                r => return r,
            }
        }
    }

    /// Sends one message (in as many frames as it takes).
    pub fn send(&self, msg: &[u8]) -> Result<(), OpError> {
        let room = self.frame - 5;
        let mut first = vec![MSG];
        first.extend_from_slice(&(msg.len() as u32).to_le_bytes());
        let (head, mut rest) = msg.split_at(msg.len().min(room));
        first.extend_from_slice(head);
        self.write_frame(&first)?;
        while !rest.is_empty() {
            let (part, r) = rest.split_at(rest.len().min(self.frame - 1));
            let mut f = vec![MORE];
            f.extend_from_slice(part);
            self.write_frame(&f)?;
            rest = r;
        }
        Ok(())
    }

    /// The next frame, waiting at most `WAIT`; Err when the peer went away.
    fn read_frame(&self) -> Result<Vec<u8>, OpError> {
        let until = Instant::now() + WAIT;
        let mut buf = vec![0u8; self.frame];
        loop {
            let events = self.ep().events()?;
            match self.ep().read(&mut buf) {
                Ok(n) if n > 0 => return Ok(buf[..n].to_vec()),
                Ok(_) => {}
                Err(OpError::Api { code, .. }) if code == i64::from(err::INSUFFICIENT_MEMORY) => {}
                Err(OpError::Api { code, .. }) if code == i64::from(err::CONNECTION_RESET) => {
                    return Err(peer_closed())
                }
                Err(e) => return Err(e),
            }
            if events & event::CONN_RESET != 0 {
                return Err(peer_closed());
            }
            if let Some(e) = self.gone() {
                return Err(e);
            }
            if Instant::now() > until {
                return Err(OpError::Check(format!(
                    "no message from the peer within {}s",
                    WAIT.as_secs()
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The next message; the peer's abort is an error naming its reason.
    pub fn recv(&self) -> Result<Vec<u8>, OpError> {
        let f = self.read_frame()?;
        match f.first() {
            Some(&MSG) if f.len() >= 5 => {
                let len = u32::from_le_bytes([f[1], f[2], f[3], f[4]]) as usize;
                let mut msg = f[5..].to_vec();
                while msg.len() < len {
                    let more = self.read_frame()?;
                    if more.first() != Some(&MORE) {
                        return Err(OpError::Check("a message from the peer was cut".into()));
                    }
                    msg.extend_from_slice(&more[1..]);
                }
                Ok(msg)
            }
            Some(&ABORT) => {
                self.end_seen.set(true);
                Err(OpError::Check(format!(
                    "the peer's half failed: {}",
                    String::from_utf8_lossy(&f[1..])
                )))
            }
            Some(&BYE) => {
                self.end_seen.set(true);
                Err(OpError::Check(
                    "the peer's half ended while this one waited for a message".into(),
                ))
            }
            _ => Err(OpError::Check(format!(
                "an unknown frame from the peer ({} bytes)",
                f.len()
            ))),
        }
    }

    /// Receives the message `what` (a step of the exchange both halves name).
    pub fn expect(&self, what: &str) -> Result<(), OpError> {
        let got = self.recv()?;
        if got != what.as_bytes() {
            return Err(OpError::Check(format!(
                "expected `{what}` from the peer, got {} bytes",
                got.len()
            )));
        }
        Ok(())
    }

    /// Waits until the peer's endpoint resets (it closed or its process ended).
    pub fn wait_reset(&self) -> Result<(), OpError> {
        let until = Instant::now() + WAIT;
        while self.ep().events()? & event::CONN_RESET == 0 {
            if Instant::now() > until {
                return Err(OpError::Check(format!(
                    "no NV_SCI_IPC_EVENT_CONN_RESET within {}s of the peer's exit",
                    WAIT.as_secs()
                )));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// Tells the peer how this half ended (best effort: it may be gone).
    fn finish(&self, result: &Result<Vec<Observation>, OpError>) {
        let frame = match result {
            Ok(_) => vec![BYE],
            Err(e) => {
                let mut f = vec![ABORT];
                let text = e.to_string();
                f.extend_from_slice(&text.as_bytes()[..text.len().min(self.frame - 1)]);
                f
            }
        };
        let _ = self.ep().write(&frame);
    }

    /// Peer side: waits for the main half's end (`B` or `A`), so that what this half
    /// sent last is read before its endpoint closes.
    fn wait_end(&self) {
        if self.end_seen.get() {
            return;
        }
        while let Ok(f) = self.read_frame() {
            if matches!(f.first(), Some(&BYE) | Some(&ABORT)) {
                return;
            }
        }
    }
}

fn peer_closed() -> OpError {
    OpError::Check("the peer closed its endpoint (NV_SCI_IPC_EVENT_CONN_RESET)".into())
}

/// Opens the first end of each pair the executor gave this case. No other case of this
/// suite holds them; the previous holder's peer may still be closing its end, so Busy is
/// retried until `WAIT` has passed.
fn open_assigned(
    pairs: &[EndpointPair],
    assigned: &[u32],
) -> Result<Vec<(Endpoint, String)>, OpError> {
    let mut held = Vec::new();
    for i in assigned {
        let p = pairs.get(*i as usize).ok_or_else(|| {
            OpError::Check(format!(
                "the executor gave endpoint pair {i}; ipc_endpoints has {}",
                pairs.len()
            ))
        })?;
        held.push((open_retrying(&p.0)?, p.1.clone()));
    }
    Ok(held)
}

/// Opens `name`, retried while it answers Busy for at most `WAIT`: the case holds its pair,
/// so a Busy that lasts is another process that opened it after the run started.
fn open_retrying(name: &str) -> Result<Endpoint, OpError> {
    let until = Instant::now() + WAIT;
    loop {
        match Endpoint::open(name) {
            Err(e) if busy(&e) => {
                if Instant::now() > until {
                    return Err(OpError::Check(format!(
                        "endpoint `{name}` of ipc_endpoints stayed busy for {}s while this case \
                         held its pair (no other case of this suite opens it then): another \
                         process on the board opened it after the run started (free it, or \
                         name pairs nothing else uses)",
                        WAIT.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            r => return r.map_err(|e| not_offered(name, e)),
        }
    }
}

/// What this process's start probe (`probe_endpoints`) found wrong with `ipc_endpoints`.
static OFFERED: std::sync::OnceLock<Result<(), OpError>> = std::sync::OnceLock::new();

/// Before any case of this run opens an endpoint: each end of every pair of
/// `ipc_endpoints` opened and closed once (the peer's end first: a process holding only it
/// would get a connection from an open first end, and see it reset). Returns the pairs
/// with an end another process holds (Busy), which the executor never gives out
/// (`exec::withhold_pairs`); a name the board will not open is kept for
/// `endpoints_offered`. Either way, which pairs a case may get is fixed before any case
/// runs, whatever the thread count. Nothing is probed where the libraries cannot be loaded
/// (every row says why) or no pairs are set.
pub fn probe_endpoints() -> std::collections::BTreeMap<u32, String> {
    let mut held = std::collections::BTreeMap::new();
    let pairs = &crate::settings::get().ipc_endpoints;
    let loaded = crate::nvsci::lib()
        .and_then(crate::nvsci::ipc::sync_ipc)
        .and_then(|_| crate::nvsci::ipc::ipc_lib());
    if pairs.is_empty() || loaded.is_err() {
        return held;
    }
    // Refusals in the setting's order, whichever end was opened first.
    let mut refused = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        for (end, name) in [(1, &p.1), (0, &p.0)] {
            match Endpoint::open(name) {
                Ok(ep) => drop(ep),
                Err(e) if busy(&e) => {
                    let why = format!("{}:{}: opening `{name}`: {e}", p.0, p.1);
                    held.insert(u32::try_from(i).unwrap_or(u32::MAX), why);
                    break;
                }
                Err(e) => refused.push(((i, end), not_offered(name, e))),
            }
        }
    }
    refused.sort_by_key(|(at, _)| *at);
    let _ = OFFERED.set(refused.into_iter().next().map_or(Ok(()), |(_, e)| Err(e)));
    held
}

/// Whether the start probe could open every name of `ipc_endpoints` (Busy counts: the name
/// exists). A name the cfg lacks makes every cross-process row not-supported, whichever
/// pair it would have had. Ok in a process that did not probe (a case's child: its parent
/// probed, and says so before starting it).
pub fn endpoints_offered() -> Result<(), OpError> {
    OFFERED.get().cloned().unwrap_or(Ok(()))
}

fn busy(e: &OpError) -> bool {
    matches!(e, OpError::Api { code, .. } if *code == i64::from(err::BUSY))
}

/// An endpoint the library will not open for a reason of the board's configuration.
fn not_offered(name: &str, e: OpError) -> OpError {
    match &e {
        OpError::Api { code, .. }
            if [err::NO_SUCH_ENTRY, err::NOT_SUPPORTED]
                .iter()
                .any(|c| *code == i64::from(*c)) =>
        {
            OpError::NotSupported(format!(
                "{e} for endpoint `{name}` of ipc_endpoints: this board's nvsciipc.cfg has no \
                 INTER_PROCESS endpoint of that name"
            ))
        }
        // Setting up the link is not the row's call: its code must not pass for one the
        // row expects.
        OpError::Api { .. } => OpError::Check(format!("opening endpoint `{name}`: {e}")),
        _ => e,
    }
}

/// The main half of a case: endpoints, the peer process, both halves, one result.
pub(super) fn run_main(
    ctx: &Ctx,
    half: impl FnOnce(&Link) -> Result<Vec<Observation>, OpError>,
) -> Result<Vec<Observation>, OpError> {
    let case = ctx.case;
    let pairs_needed = super::pairs_needed(case) as usize;
    let l = crate::nvsci::lib()?;
    crate::nvsci::ipc::sync_ipc(l)?;
    crate::nvsci::ipc::ipc_lib()?;
    let pairs = &crate::settings::get().ipc_endpoints;
    if pairs.is_empty() {
        return Err(OpError::NotSupported(NO_ENDPOINTS.into()));
    }
    if pairs.len() < pairs_needed {
        return Err(OpError::NotSupported(format!(
            "this row needs {pairs_needed} endpoint pairs; ipc_endpoints gives {}",
            pairs.len()
        )));
    }
    if ctx.pairs.len() != pairs_needed {
        return Err(OpError::Check(format!(
            "this row needs {pairs_needed} endpoint pair(s); this process was given {} \
             (by its suite's executor: --ipc-pairs, or a worker's input line)",
            ctx.pairs.len()
        )));
    }
    let held = open_assigned(pairs, ctx.pairs)?;
    let used = format!("{}:{}", held[0].0.name, held[0].1);
    let peer_names: Vec<String> = held.iter().map(|(_, p)| p.clone()).collect();
    let eps: Vec<Endpoint> = held.into_iter().map(|(ep, _)| ep).collect();
    let ended = Arc::new(AtomicBool::new(false));
    let peer = spawn_peer(case, &peer_names, ended.clone());
    let link = Link::new(eps, Some(ended));
    let r = match &link {
        Ok(link) => {
            let r = (link.connect())
                .and_then(|()| link.greet(&case.name, true))
                .and_then(|()| half(link));
            link.finish(&r);
            r
        }
        Err(e) => Err(e.clone()),
    };
    // The endpoints stay open until the peer has ended: the pair is free again only once
    // neither end is held.
    let end = peer.join().unwrap_or_else(|_| {
        Err(std::io::Error::other(
            "the thread watching the peer panicked",
        ))
    });
    drop(link);
    let mut obs = combine(r, end)?;
    obs.insert(0, Observation::new(hil_proto::key::ENDPOINTS, used));
    Ok(obs)
}

/// Starts `hil-suite --ipc-peer CASE` on the second ends of the pairs, under the case's
/// time limit and `PEER_GRACE` (killed with its process group past it); `ended` is set
/// when it has ended.
fn spawn_peer(
    case: &Case,
    ends: &[String],
    ended: Arc<AtomicBool>,
) -> std::thread::JoinHandle<std::io::Result<ChildEnd>> {
    let mut cmd = child_command(&case.devices());
    cmd.arg("--ipc-peer")
        .arg(&case.name)
        .arg("--ipc-peer-endpoints")
        .arg(ends.join(","));
    // Past the case's own limit: the case's watchdog (its process's, or the suite's for a
    // child) ends a case that runs too long, as a timeout; a peer killed at the same moment
    // would race it, and win under load as a failed check.
    let limit = Duration::from_secs_f64(case.timeout_s) + PEER_GRACE;
    // The thread that spawns the child waits for it: the child's death signal is tied to it.
    std::thread::spawn(move || {
        let end = run_with_limit(cmd, limit, None, &[]);
        ended.store(true, Ordering::SeqCst);
        end
    })
}

/// The case's result from both halves: both passed, or the more telling error (a probe's
/// not-supported, then an API code, then the main half's own).
fn combine(
    main: Result<Vec<Observation>, OpError>,
    peer: std::io::Result<ChildEnd>,
) -> Result<Vec<Observation>, OpError> {
    let peer = peer_result(peer);
    let rank = |e: &OpError| match e {
        OpError::NotSupported(_) => 0,
        OpError::Api { .. } => 1,
        _ => 2,
    };
    match (main, peer) {
        (Ok(mut a), Ok(b)) => {
            a.extend(b);
            Ok(a)
        }
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => Err(e),
        // Two failed checks: the main half often saw only the peer's endpoint reset;
        // what ended the peer (killed at the limit, a signal) is said with it.
        (Err(a @ OpError::Check(_)), Err(b @ OpError::Check(_))) => {
            Err(OpError::Check(format!("{a}; {b}")))
        }
        (Err(a), Err(b)) => Err(if rank(&b) < rank(&a) { b } else { a }),
    }
}

fn peer_result(end: std::io::Result<ChildEnd>) -> Result<Vec<Observation>, OpError> {
    let end = end.map_err(|e| OpError::Check(format!("could not start the peer process: {e}")))?;
    let out = tail(&format!("{}{}", end.stdout, end.stderr), 6);
    if let Some(after) = end.killed_after {
        return Err(OpError::Check(format!(
            "the peer process did not end within {:.1}s; killed. Its output: {out}",
            after.as_secs_f64()
        )));
    }
    match reported(&end.stdout) {
        Some(Ok(cv)) => match cv.error {
            Some(e) => Err(e),
            None if cv.outcome == hil_proto::Outcome::Pass => {
                let status = end.status.and_then(|s| s.code()).unwrap_or(-1);
                let mut obs = vec![Observation::new(
                    hil_proto::key::PEER,
                    format!("a process of its own, exit status {status}"),
                )];
                obs.extend(cv.observations);
                Ok(obs)
            }
            None => Err(OpError::Check(format!("peer: {}", cv.message))),
        },
        Some(Err(e)) => Err(OpError::Check(format!(
            "unreadable result from the peer process ({e})"
        ))),
        None => {
            let how = end.exit_text();
            Err(OpError::Check(format!(
                "the peer process ended without a result ({how}). Its output: {out}"
            )))
        }
    }
}

/// The peer half: opens the second ends named by the main process, runs `half`, tells
/// the main half how it ended and waits for the main half's end.
pub(super) fn run_peer(
    case: &Case,
    ends: &str,
    half: impl FnOnce(&Link) -> Result<Vec<Observation>, OpError>,
) -> Result<Vec<Observation>, OpError> {
    let eps = ends
        .split(',')
        .map(open_retrying)
        .collect::<Result<Vec<_>, _>>()?;
    let link = Link::new(eps, None)?;
    link.connect()?;
    let r = (link.greet(&case.name, false)).and_then(|()| half(&link));
    if r.is_err() {
        link.finish(&r);
    }
    link.wait_end();
    r
}
