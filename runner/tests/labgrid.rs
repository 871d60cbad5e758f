//! hil-run on a labgrid farm, for real: each test starts a labgrid coordinator and an
//! exporter on 127.0.0.1 (labgrid installed by `scripts/test` in target/labgrid-venv, or
//! $LG_VENV), whose place exports the test's own sshd as its `NetworkService` and a
//! `NetworkPowerPort` (model `simplerest`) pointing at a tiny HTTP server here that
//! records every switch.

mod common;

use common::{bin, needs, scratch, text, user, Sshd};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INSTALL: &str = "python3 -m venv target/labgrid-venv && target/labgrid-venv/bin/pip install labgrid==26.0.1 (or set LG_VENV to a venv holding it)";

/// labgrid's bin directory.
fn labgrid_dir() -> PathBuf {
    std::env::var_os("LG_VENV")
        .map(|v| PathBuf::from(v).join("bin"))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/labgrid-venv/bin"))
}

/// What is missing for these tests, if anything (report/testing/needs.rs: they are then
/// listed ignored, or fail under CI=true).
fn labgrid_missing() -> Option<String> {
    let dir = labgrid_dir();
    let found = dir.join("labgrid-client").is_file() && dir.join("labgrid-coordinator").is_file();
    (!found).then(|| format!("labgrid 26.0.1, not found in {}: {INSTALL}", dir.display()))
}

/// `harness = false` (libtest-mimic): every test is listed here.
fn main() {
    let tests: [(&'static str, fn()); 7] = [
        (
            "two_runs_on_one_place_take_turns_and_leave_it_free",
            two_runs_on_one_place_take_turns_and_leave_it_free,
        ),
        (
            "a_cancelled_run_releases_the_place",
            a_cancelled_run_releases_the_place,
        ),
        (
            "a_killed_run_keeps_the_place_until_released_by_the_documented_route",
            a_killed_run_keeps_the_place_until_released_by_the_documented_route,
        ),
        (
            "a_board_needing_a_reset_is_power_cycled_through_labgrid_and_tags_pick_the_place",
            a_board_needing_a_reset_is_power_cycled_through_labgrid_and_tags_pick_the_place,
        ),
        (
            "farm_trouble_is_exit_2_and_never_a_result",
            farm_trouble_is_exit_2_and_never_a_result,
        ),
        (
            "a_run_whose_place_is_lost_to_a_coordinator_restart_stops_with_its_cases_marked",
            a_run_whose_place_is_lost_to_a_coordinator_restart_stops_with_its_cases_marked,
        ),
        (
            "two_place_names_for_one_board_never_run_two_suites_at_once",
            two_place_names_for_one_board_never_run_two_suites_at_once,
        ),
    ];
    let missing = labgrid_missing();
    needs::main(
        tests
            .into_iter()
            .map(|(name, f)| needs::needing(name, missing.clone(), f))
            .collect(),
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills (and reaps) a helper process when the test ends, however it ends.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A PDU on loopback: answers every GET with `1` and records its path.
fn pdu() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut conn: TcpStream = conn;
            let mut line = String::new();
            let mut r = BufReader::new(conn.try_clone().unwrap());
            if r.read_line(&mut line).is_err() {
                continue;
            }
            // Drain the headers.
            let mut h = String::new();
            while r.read_line(&mut h).is_ok_and(|n| n > 2) {
                h.clear();
            }
            if let Some(path) = line.split_whitespace().nth(1) {
                log.lock().unwrap().push(path.to_string());
            }
            let _ = conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n1");
        }
    });
    (port, seen)
}

/// A coordinator, an exporter and place `orin01` (tags board=orin) serving the test's sshd.
struct Farm {
    bin: PathBuf,
    dir: PathBuf,
    coordinator: String,
    sshd: Sshd,
    switched: Arc<Mutex<Vec<String>>>,
    _procs: Vec<Proc>,
}

impl Farm {
    fn start(name: &str) -> Farm {
        Farm::start_with(name, &["orin01"])
    }

    /// A farm whose `places` all export the same sshd: one board under several names.
    fn start_with(name: &str, places: &[&str]) -> Farm {
        let bin = labgrid_dir();
        let dir = scratch(&format!("lg-{name}"));
        let sshd = Sshd::start(&dir.join("sshd"));
        let (pdu_port, switched) = pdu();
        let port = free_port();
        let coordinator = format!("127.0.0.1:{port}");
        let log = |n: &str| std::fs::File::create(dir.join(n)).unwrap();
        let coord = Command::new(bin.join("labgrid-coordinator"))
            .args(["-l", &coordinator])
            .current_dir(&dir)
            .stdout(log("coordinator.log"))
            .stderr(log("coordinator.err"))
            .spawn()
            .unwrap();
        let mut procs = vec![Proc(coord)];
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&coordinator).is_err() {
            assert!(
                Instant::now() < deadline,
                "labgrid-coordinator did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let exported: String = places
            .iter()
            .map(|p| {
                format!(
                    "{p}:\n  NetworkService: {{address: 127.0.0.1, port: {}, username: {}}}\n  \
                     NetworkPowerPort: {{model: simplerest, host: 'http://127.0.0.1:{pdu_port}/relay/{{index}}/{{value}}', index: 0}}\n",
                    sshd.port,
                    user()
                )
            })
            .collect();
        std::fs::write(dir.join("exporter.yaml"), exported).unwrap();
        procs.push(Proc(exporter(&bin, &dir, &coordinator)));
        let farm = Farm {
            bin,
            dir,
            coordinator,
            sshd,
            switched,
            _procs: procs,
        };
        for p in places {
            farm.client_ok(&["-p", p, "create"]);
            farm.client_ok(&["-p", p, "add-match", &format!("exp1/{p}/*")]);
            farm.client_ok(&["-p", p, "set-tags", "board=orin"]);
        }
        farm.wait_for_exporter(places.last().copied().unwrap_or("orin01"));
        farm
    }

    /// The exporter has registered once the place shows its resources.
    fn wait_for_exporter(&self, place: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self
            .client_ok(&["-p", place, "show"])
            .contains("/NetworkService/")
        {
            assert!(
                Instant::now() < deadline,
                "labgrid-exporter did not register"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills the coordinator and starts it again on the same address (its places persist
    /// in its directory; locks and reservations do not), with a new exporter (an exporter
    /// exits when it loses the coordinator).
    fn restart_coordinator(&mut self) {
        for p in self._procs.drain(..) {
            drop(p);
        }
        let log = |n: &str| std::fs::File::create(self.dir.join(n)).unwrap();
        let coord = Command::new(self.bin.join("labgrid-coordinator"))
            .args(["-l", &self.coordinator])
            .current_dir(&self.dir)
            .stdout(log("coordinator2.log"))
            .stderr(log("coordinator2.err"))
            .spawn()
            .unwrap();
        self._procs.push(Proc(coord));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&self.coordinator).is_err() {
            assert!(
                Instant::now() < deadline,
                "labgrid-coordinator did not restart"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self._procs
            .push(Proc(exporter(&self.bin, &self.dir, &self.coordinator)));
        // The coordinator saves its places now and then: one made just before may be gone.
        let _ = self.client(&["-p", "orin01", "create"]);
        let _ = self.client(&["-p", "orin01", "add-match", "exp1/orin01/*"]);
        self.wait_for_exporter("orin01");
    }

    /// `labgrid-client ARGS` as another user of the farm (`ops`).
    fn client(&self, args: &[&str]) -> Output {
        Command::new(self.bin.join("labgrid-client"))
            .args(args)
            .env("LG_COORDINATOR", &self.coordinator)
            .env("LG_USERNAME", "ops")
            .env_remove("LG_TOKEN")
            .env_remove("LG_PLACE")
            .output()
            .unwrap()
    }

    fn client_ok(&self, args: &[&str]) -> String {
        let out = self.client(args);
        assert!(
            out.status.success(),
            "labgrid-client {args:?}: {}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Who holds the place's lock (`acquired:` of `show`; "None" when free).
    fn holder(&self) -> String {
        let show = self.client_ok(&["-p", "orin01", "show"]);
        show.lines()
            .find_map(|l| l.trim().strip_prefix("acquired:"))
            .unwrap_or("?")
            .trim()
            .to_string()
    }

    fn reservations(&self) -> String {
        self.client_ok(&["reservations"])
    }

    /// An inventory whose boards all come from this farm.
    fn inventory(&self, env: &str) -> PathBuf {
        // The board already holds this hil-suite (linked in, as a deploy leaves it): the
        // 50 MB upload is runner/tests/ssh.rs's business, not the farm's.
        let suite = bin("hil-suite");
        let hash = hil_run::transport::ssh::file_hash(&suite).unwrap();
        let deployed = self.dir.join(format!("remote/suite-{}", &hash[..16]));
        std::fs::create_dir_all(&deployed).unwrap();
        let target = deployed.join("hil-suite");
        if std::fs::hard_link(&suite, &target).is_err() {
            std::fs::copy(&suite, &target).unwrap();
        }
        let s = &self.sshd;
        let y = format!(
            "labgrid:\n  coordinator: {}\n  client: {}\n  board:\n    key: {}\n    known_hosts: {}\n    \
             suite: {}\n    workdir: {:?}\n    connect_timeout_s: 5\n{env}",
            self.coordinator,
            self.bin.join("labgrid-client").display(),
            s.dir.join("client_key").display(),
            s.dir.join("known_hosts").display(),
            bin("hil-suite").display(),
            self.dir.join("remote").display().to_string(),
        );
        let p = self.dir.join("boards.yaml");
        std::fs::write(&p, y).unwrap();
        p
    }

    fn hil_run(&self, inv: &Path, results: &str, args: &[&str]) -> Child {
        common::spawn_hil_run(&self.dir.join(results), inv, args)
    }

    /// Nobody holds the place and no reservation is left.
    fn assert_free(&self) {
        assert_eq!(self.holder(), "None");
        let res = self.reservations();
        assert!(!res.contains("token:"), "{res}");
    }

    /// A hil-run holding the place with a 60 s case, and its lock owner.
    fn held_run(&self, inv: &Path) -> (Child, String) {
        let tables = self.slow_tables(60_000);
        let t = tables.to_str().unwrap();
        let run = self.hil_run(inv, "r", &["--board", "orin01", "--tables", t]);
        (run, self.wait_until_held("r"))
    }

    /// Waits until a hil-run holds the place.
    /// Waits until the hil-run writing into `results` holds the place and has started
    /// its journal (a file check: each labgrid-client call costs a Python start-up).
    fn wait_until_held(&self, results: &str) -> String {
        let journal = self.dir.join(results).join("orin01/journal.jsonl");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !journal.exists() {
            assert!(Instant::now() < deadline, "no hil-run took the place");
            std::thread::sleep(Duration::from_millis(50));
        }
        let h = self.holder();
        assert!(h.contains("hil-run-"), "{h}");
        h
    }

    /// A table with one case that takes `ms`.
    fn slow_tables(&self, ms: u64) -> PathBuf {
        common::write_table(
            &self.dir,
            "slow.yaml",
            &format!("name: slow\nbackend: host\ndoc: One case that takes a while.\ntimeout_s: 120\nrows:\n  - id: nap\n    op: selftest_sleep\n    params: {{ms: {ms}}}\n"),
        )
    }
}

/// The farm's exporter (`exporter.yaml` in `dir`).
fn exporter(bin: &Path, dir: &Path, coordinator: &str) -> Child {
    let log = |n: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(n))
            .unwrap()
    };
    Command::new(bin.join("labgrid-exporter"))
        .args(["-c", coordinator, "--name", "exp1", "exporter.yaml"])
        .current_dir(dir)
        .stdout(log("exporter.log"))
        .stderr(log("exporter.err"))
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: i32) {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: signalling our own child.
    unsafe { kill(child.id() as i32, sig) };
}

fn two_runs_on_one_place_take_turns_and_leave_it_free() {
    let farm = Farm::start("turns");
    let inv = farm.inventory("");
    let tables = farm.slow_tables(1000);
    let t = tables.to_str().unwrap();
    let first = farm.hil_run(&inv, "r1", &["--board", "orin01", "--tables", t]);
    let holder = farm.wait_until_held("r1");
    // The lock owner names the runner host, the user and the hil-run process.
    assert!(
        holder.ends_with(&format!("hil-run-{}", first.id())),
        "{holder}"
    );
    let mut second = farm.hil_run(
        &inv,
        "r2",
        &["--board", "orin01", "--tables", t, "--lock-wait", "120"],
    );
    let a = first.wait_with_output().unwrap();
    // The second gets the place only once the first cancelled its reservation, just
    // before it exited, and then still has its case to run.
    let b_running = second.try_wait().unwrap().is_none();
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let b = second.wait_with_output().unwrap();
    let all = text(&b);
    assert_eq!(b.status.code(), Some(0), "{all}");
    assert!(
        all.contains("waiting up to 120 s for place `orin01`"),
        "{all}"
    );
    assert!(b_running, "the second run ended before the first: {all}");
    for r in ["r1", "r2"] {
        let j = common::journal_outcomes(&farm.dir.join(r).join("orin01/journal.jsonl"));
        assert_eq!(j, [("slow.nap".to_string(), "pass".to_string())], "{r}");
    }
    farm.assert_free();
}

fn a_cancelled_run_releases_the_place() {
    let farm = Farm::start("cancel");
    let (run, _) = farm.held_run(&farm.inventory(""));
    // A CI cancel is SIGTERM.
    signal(&run, 15);
    let t = Instant::now();
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    farm.assert_free();
}

fn a_killed_run_keeps_the_place_until_released_by_the_documented_route() {
    let farm = Farm::start("kill");
    let inv = farm.inventory("");
    let (mut run, holder) = farm.held_run(&inv);
    signal(&run, 9);
    run.wait().unwrap();
    // Nobody released it: a locked place keeps its lock (and its reservation) in labgrid.
    assert_eq!(farm.holder(), holder);
    let quick = farm.slow_tables(10);
    let t = quick.to_str().unwrap();
    let out = farm.hil_run(&inv, "r2", &["--board", "orin01", "--tables", t]);
    let out = out.wait_with_output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&holder) && all.contains("--lock-wait"),
        "{all}"
    );
    // A run waiting for the place and cancelled (SIGTERM) takes its reservation with it.
    let waiting = farm.hil_run(&inv, "r2", &["--board", "orin01", "--lock-wait", "600"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while farm.reservations().matches("token:").count() < 2 {
        assert!(Instant::now() < deadline, "the second run never reserved");
    }
    signal(&waiting, 15);
    let out = waiting.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert_eq!(farm.reservations().matches("token:").count(), 1);
    // docs/farm.md: release the lock (--kick: it is another user's) and cancel the
    // reservation the killed run left (else it expires about 60 s after the release).
    farm.client_ok(&["-p", "orin01", "release", "--kick"]);
    let res = farm.reservations();
    let token = res
        .lines()
        .find_map(|l| l.trim().strip_prefix("token:"))
        .expect("the killed run's reservation")
        .trim()
        .to_string();
    farm.client_ok(&["cancel-reservation", &token]);
    let out = farm.hil_run(&inv, "r3", &["--board", "orin01", "--tables", t]);
    let out = out.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    farm.assert_free();
}

fn a_board_needing_a_reset_is_power_cycled_through_labgrid_and_tags_pick_the_place() {
    let farm = Farm::start("power");
    // The board's health probe reports a wedged device; the runner then resets the board.
    let inv = farm.inventory(
        "    env: {HIL_HEALTH_PROBE_CMD: \"echo device {devices} wedged >&2; exit 1\"}\n",
    );
    let tables = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suite/tests/tables-health");
    let out = farm.hil_run(
        &inv,
        "r",
        &["--tag", "board=orin", "--tables", tables.to_str().unwrap()],
    );
    let out = out.wait_with_output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("power-cycled labgrid place orin01"), "{all}");
    // The PDU saw the port switched off, then on.
    assert_eq!(
        *farm.switched.lock().unwrap(),
        ["/relay/0/0", "/relay/0/1"],
        "{all}"
    );
    // Results go under the place labgrid allocated for the tags.
    assert!(farm.dir.join("r/orin01/junit.xml").is_file(), "{all}");
    farm.assert_free();
}

fn farm_trouble_is_exit_2_and_never_a_result() {
    let farm = Farm::start("errors");
    let inv = farm.inventory("");
    // A place the coordinator does not know, and tags no place has.
    for args in [["--board", "nx99"], ["--tag", "board=thor"]] {
        let out = farm.hil_run(&inv, "r", &args).wait_with_output().unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {all}");
        assert!(all.contains("the coordinator knows: orin01"), "{all}");
    }
    // The coordinator down.
    let text_inv = std::fs::read_to_string(&inv).unwrap();
    let down = farm.dir.join("down.yaml");
    let closed = format!("127.0.0.1:{}", free_port());
    std::fs::write(&down, text_inv.replace(&farm.coordinator, &closed)).unwrap();
    let out = farm
        .hil_run(&down, "r", &["--board", "orin01"])
        .wait_with_output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&format!("labgrid coordinator {closed} cannot be reached")),
        "{all}"
    );
    assert!(!farm.dir.join("r/orin01").exists(), "nothing journaled");
    // CI's test report says why the board was not tested.
    let xml = std::fs::read_to_string(farm.dir.join("r/junit.xml")).unwrap();
    assert!(
        xml.contains("board orin01 was not tested: labgrid coordinator"),
        "{xml}"
    );
}

/// The running hil-suite processes of this farm's board (its sshd's workdir).
fn suites_running(farm: &Farm) -> usize {
    let pattern = format!(
        "{}/suite-.*/hil-suite .*--cases-from",
        farm.dir.join("remote").display()
    );
    let out = Command::new("pgrep")
        .args(["-f", &pattern])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn a_run_whose_place_is_lost_to_a_coordinator_restart_stops_with_its_cases_marked() {
    let mut farm = Farm::start("restart");
    let inv = farm.inventory("");
    let (run, _) = farm.held_run(&inv);
    // Reservations and locks live in the coordinator's memory: after a restart nobody
    // holds the place, and another run could take it.
    farm.restart_coordinator();
    let t = Instant::now();
    let out = run.wait_with_output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    // The keep-alive polls every 15 s.
    assert!(t.elapsed() < Duration::from_secs(45), "{:?}", t.elapsed());
    assert!(all.contains("no longer knows reservation"), "{all}");
    let j = common::journal_outcomes(&farm.dir.join("r/orin01/journal.jsonl"));
    assert_eq!(j, [("slow.nap".to_string(), "crash".to_string())], "{all}");
    let xml = common::junit(&farm.dir.join("r/orin01/junit.xml"));
    assert!(xml.contains("no longer held by this run"), "{xml}");
    assert_eq!(
        suites_running(&farm),
        0,
        "the suite was stopped on the board"
    );
}

fn two_place_names_for_one_board_never_run_two_suites_at_once() {
    let farm = Farm::start_with("twonames", &["orin01", "orin02"]);
    let inv = farm.inventory("");
    let tables = farm.slow_tables(6000);
    let t = tables.to_str().unwrap();
    let first = farm.hil_run(&inv, "r1", &["--board", "orin01", "--tables", t]);
    farm.wait_until_held("r1");
    // The other name gets its labgrid place, then finds the board's own lock taken.
    let out = farm
        .hil_run(&inv, "r2", &["--board", "orin02", "--tables", t])
        .wait_with_output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("is locked by another run"), "{all}");
    assert!(!farm.dir.join("r2/orin02/journal.jsonl").exists(), "{all}");
    // Waiting, it runs once the first is done, never beside it.
    let mut second = farm.hil_run(
        &inv,
        "r3",
        &["--board", "orin02", "--tables", t, "--lock-wait", "120"],
    );
    let mut first = Some(first);
    let mut most = 0;
    while second.try_wait().unwrap().is_none() {
        most = most.max(suites_running(&farm));
        if let Some(f) = first.as_mut() {
            if f.try_wait().unwrap().is_some() {
                let f = first.take().unwrap().wait_with_output().unwrap();
                assert_eq!(f.status.code(), Some(0), "{}", text(&f));
            } else if farm.dir.join("r3/orin02/journal.jsonl").exists() {
                // The first lets go of the board's lock just before it exits.
                let done = common::journal_outcomes(&farm.dir.join("r1/orin01/journal.jsonl"));
                assert_eq!(done.len(), 1, "the second name started while the first ran");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let b = second.wait_with_output().unwrap();
    assert_eq!(b.status.code(), Some(0), "{}", text(&b));
    assert!(first.is_none(), "the second ended before the first");
    assert_eq!(most, 1, "two suites at once");
}
