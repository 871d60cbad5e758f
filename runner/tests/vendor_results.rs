//! Issue 16: signed bundles (checked with the real ssh-keygen), deqp-runner's CSVs,
//! `baseline-from`, `--rerun-failed`, `--shard hash:K/N` and include/skip case lists, end
//! to end against `hil-run --board local` with small self-test tables.

mod common;

use common::{bin, journal_outcomes, scratch, snapshot, write_table};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

fn run(results: &Path, tables: &Path, args: &[&str]) -> Output {
    let mut a = vec!["--tables", tables.to_str().unwrap(), "-q"];
    a.extend_from_slice(args);
    common::hil_run_local(results, &a)
}

fn hil(args: &[&str]) -> Output {
    Command::new(bin("hil-run")).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Cases of a journal, sorted.
fn cases_in(journal: &Path) -> Vec<String> {
    let mut c: Vec<String> = journal_outcomes(journal)
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    c.sort();
    c
}

fn rows(ids: &[(&str, &str)]) -> String {
    let mut y = String::from("name: r\nbackend: host\ndoc: d\nrows:\n");
    for (id, op) in ids {
        y.push_str(&format!("  - id: {id}\n    {op}\n"));
    }
    y
}

/// Every entry of a tar, in order.
fn untar(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut d = Vec::new();
            e.read_to_end(&mut d).unwrap();
            (name, d)
        })
        .collect()
}

fn retar(entries: &[(String, Vec<u8>)], out: &Path) {
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap();
}

fn sha256_hex(d: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(d)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `SHA256:…` of a public key, as ssh-keygen prints it.
fn fingerprint(public: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

fn allowed_signers(path: &Path, principal: &str, public: &Path) {
    let key: Vec<String> = read(public)
        .split_whitespace()
        .take(2)
        .map(String::from)
        .collect();
    std::fs::write(
        path,
        format!("{principal} namespaces=\"hil-bundle\" {}\n", key.join(" ")),
    )
    .unwrap();
}

fn verify(tar: &Path, allowed: Option<&Path>) -> Output {
    let mut args = vec!["verify-bundle".to_string(), tar.display().to_string()];
    if let Some(a) = allowed {
        args.extend(["--allowed-signers".into(), a.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    hil(&args)
}

#[test]
fn a_signed_bundle_says_who_signed_and_refuses_every_kind_of_tampering() {
    common::require_openssh();
    let dir = scratch("signed-bundle");
    let tables = write_table(&dir, "r.yaml", &rows(&[("a_ok", "op: selftest_ok")]));
    let (farm, other) = (dir.join("farm_ed25519"), dir.join("other_ed25519"));
    common::keygen(&farm);
    common::keygen(&other);
    let allowed = dir.join("allowed_signers");
    allowed_signers(&allowed, "ci@farm", &farm.with_extension("pub"));
    let res = dir.join("results");
    let tar = dir.join("signed.tar");
    let out = run(
        &res,
        &tables,
        &[
            "--bundle",
            tar.to_str().unwrap(),
            "--sign-key",
            farm.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // hil-run names the principal and the key.
    let ok = verify(&tar, Some(&allowed));
    let report = text(&ok);
    assert_eq!(ok.status.code(), Some(0), "{report}");
    let fp = fingerprint(&farm.with_extension("pub"));
    assert!(
        report.contains(&format!("verified: signed by ci@farm (ED25519 key {fp})")),
        "{report}"
    );
    // Without an allowed_signers file the signature is checked, the signer is not.
    let unchecked = text(&verify(&tar, None));
    assert!(
        unchecked.contains("signer not checked") && !unchecked.contains("verified"),
        "{unchecked}"
    );

    // OpenSSH itself accepts the signature over the manifest.
    let entries = untar(&tar);
    let get = |n: &str| entries.iter().find(|(p, _)| p == n).unwrap().1.clone();
    std::fs::write(dir.join("manifest.json"), get("manifest.json")).unwrap();
    std::fs::write(dir.join("manifest.json.sig"), get("manifest.json.sig")).unwrap();
    let st = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-n", "hil-bundle", "-I", "ci@farm", "-f"])
        .arg(&allowed)
        .arg("-s")
        .arg(dir.join("manifest.json.sig"))
        .stdin(std::fs::File::open(dir.join("manifest.json")).unwrap())
        .output()
        .unwrap();
    assert!(st.status.success(), "ssh-keygen -Y verify: {}", text(&st));

    let refused = |name: &str, entries: &[(String, Vec<u8>)], allowed: &Path, want: &str| {
        let p = dir.join(name);
        retar(entries, &p);
        let out = verify(&p, Some(allowed));
        let err = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(want), "{name}: want `{want}` in: {err}");
        assert!(!err.contains("verified"), "{name}: {err}");
        err
    };
    let csv = "results/local/results.csv";
    let changed = |e: &[(String, Vec<u8>)]| -> Vec<(String, Vec<u8>)> {
        e.iter()
            .map(|(p, d)| {
                let d = if p == csv {
                    String::from_utf8_lossy(d)
                        .replace(",Pass,", ",Fail,")
                        .into_bytes()
                } else {
                    d.clone()
                };
                (p.clone(), d)
            })
            .collect()
    };
    // A modified result file.
    refused(
        "file.tar",
        &changed(&entries),
        &allowed,
        &format!("{csv}: SHA-256 differs from the manifest (modified)"),
    );
    // The same, with the manifest rewritten to match: the signature catches it.
    let mut forged = changed(&entries);
    let new_hash = sha256_hex(&forged.iter().find(|(p, _)| p == csv).unwrap().1);
    let mut m: serde_json::Value = serde_json::from_slice(&get("manifest.json")).unwrap();
    m["files"][csv] = serde_json::Value::String(new_hash);
    forged[0].1 = serde_json::to_vec_pretty(&m).unwrap();
    let err = refused(
        "manifest.tar",
        &forged,
        &allowed,
        "signature: the signature does not match manifest.json",
    );
    assert!(!err.contains("SHA-256 differs"), "{err}");
    // Signed by a key the reader does not allow.
    let wrong = dir.join("allowed_other");
    allowed_signers(&wrong, "ci@farm", &other.with_extension("pub"));
    refused(
        "signer.tar",
        &entries,
        &wrong,
        &format!(
            "signed by ED25519 key {fp}, which {} does not list (wrong signer",
            wrong.display()
        ),
    );
    // A truncated archive, cut inside a file and cut at its end blocks.
    let bytes = std::fs::read(&tar).unwrap();
    for (name, len) in [
        ("half.tar", bytes.len() / 2),
        ("end.tar", bytes.len() - 1024),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, &bytes[..len]).unwrap();
        let out = verify(&p, Some(&allowed));
        let err = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains("truncated"), "{name}: {err}");
    }

    // Unsigned: says so, never "verified"; refused where a signature is required.
    let plain = dir.join("plain.tar");
    let out = run(&res, &tables, &["--bundle", plain.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = verify(&plain, None);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        report.contains("unsigned") && !report.contains("verified"),
        "{report}"
    );
    let out = verify(&plain, Some(&allowed));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("unsigned"), "{}", text(&out));

    // A key that cannot sign is a configuration error before anything runs.
    let fresh = dir.join("fresh");
    let out = run(
        &fresh,
        &tables,
        &[
            "--bundle",
            "x.tar",
            "--sign-key",
            dir.join("nope").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--sign-key: signing with"),
        "{}",
        text(&out)
    );
    assert!(
        !fresh.exists(),
        "nothing may be written before the run is valid"
    );
}

#[test]
fn deqp_runner_csvs_a_baseline_from_the_run_and_rerun_failed() {
    let dir = scratch("deqp-rerun");
    let marker = dir.join("flaky.marker");
    let tables = write_table(
        &dir,
        "r.yaml",
        &rows(&[
            ("a_ok", "op: selftest_ok"),
            ("b_fail", "op: selftest_check_fails"),
            (
                "c_flaky",
                &format!(
                    "op: selftest_flaky\n    params: {{marker: {}}}",
                    marker.display()
                ),
            ),
            ("d_crash", "op: selftest_abort"),
            (
                "e_ub",
                "op: selftest_ok\n    ub: \"self-test: appears to work\"",
            ),
        ]),
    );
    let res = dir.join("results");
    let board = res.join("local");
    // One case at a time: a case in flight beside `d_crash` when it takes the suite down
    // runs again (crash-resume), and `c_flaky` must fail its one and only first run.
    let serial = |res: &Path, tables: &Path, args: &[&str]| {
        let mut a = vec!["--test-threads", "1"];
        a.extend_from_slice(args);
        run(res, tables, &a)
    };

    let out = serial(&res, &tables, &["--rerun-failed"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--rerun-failed: no previous run"),
        "{}",
        text(&out)
    );
    assert!(!res.exists());

    let out = serial(&res, &tables, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // deqp-runner's results.csv: no header, sorted, test,status,duration (seconds).
    let csv = read(&board.join("results.csv"));
    let parsed: Vec<(String, String, f32)> = csv
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 3, "{l}");
            (f[0].into(), f[1].into(), f[2].parse().unwrap())
        })
        .collect();
    let status: Vec<(&str, &str)> = parsed
        .iter()
        .map(|(c, s, _)| (c.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        status,
        [
            ("r.a_ok", "Pass"),
            ("r.b_fail", "Fail"),
            ("r.c_flaky", "Fail"),
            ("r.d_crash", "Crash"),
            ("r.e_ub", "Warn")
        ]
    );
    assert!(parsed.iter().all(|(_, _, d)| *d >= 0.0 && *d < 60.0));
    assert_eq!(
        read(&board.join("failures.csv")),
        "r.b_fail,Fail\nr.c_flaky,Fail\nr.d_crash,Crash\n"
    );

    // A baseline from this run expects exactly its failures: judged by it, the run is green.
    let b = hil(&[
        "baseline-from",
        board.join("journal.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(b.status.code(), Some(0), "{}", text(&b));
    let yaml = String::from_utf8_lossy(&b.stdout).to_string();
    assert!(yaml.contains("board: local\n"), "{yaml}");
    assert!(yaml.contains("\nexpect:\n"), "{yaml}");
    assert!(yaml.contains("  r.d_crash: crash\n"), "{yaml}");
    let expected = dir.join("expected.yaml");
    std::fs::write(&expected, &yaml).unwrap();

    // --rerun-failed: only b, c and d; the old journal is kept beside the new one.
    let out = serial(&res, &tables, &["--rerun-failed"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        cases_in(&board.join("journal.jsonl")),
        ["r.b_fail", "r.c_flaky", "r.d_crash"]
    );
    assert_eq!(cases_in(&board.join("journal.prev.jsonl")).len(), 5);
    // The flaky case passed this time: the next rerun leaves it out.
    let out = run(
        &res,
        &tables,
        &["--rerun-failed", "--baseline", expected.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        cases_in(&board.join("journal.jsonl")),
        ["r.b_fail", "r.d_crash"]
    );
    // With the baseline, deqp-runner's view: expected failures, nothing in failures.csv.
    assert_eq!(
        read(&board.join("results.csv"))
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0)
            .collect::<Vec<_>>(),
        ["r.b_fail,ExpectedFail", "r.d_crash,ExpectedFail"]
    );
    assert_eq!(read(&board.join("failures.csv")), "");

    // Nothing failed last time: nothing to rerun is said, and no file is touched.
    let out = serial(&res, &tables, &["--filter", "a_ok"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let before = read(&board.join("journal.jsonl"));
    let out = serial(&res, &tables, &["--rerun-failed"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("nothing to rerun"), "{}", text(&out));
    assert_eq!(read(&board.join("journal.jsonl")), before);
}

#[test]
fn hash_shards_stay_put_and_case_lists_skip_visibly() {
    let dir = scratch("shards-lists");
    let ids: Vec<String> = (0..8).map(|i| format!("c{i}")).collect();
    let table = |n: usize| {
        let r: Vec<(&str, &str)> = ids[..n]
            .iter()
            .map(|i| (i.as_str(), "op: selftest_ok"))
            .collect();
        rows(&r)
    };
    let tables = write_table(&dir, "r.yaml", &table(6));
    let res = dir.join("results");
    let journal = res.join("local/journal.jsonl");
    let shard = |k: &str| {
        let out = run(&res, &tables, &["--shard", k]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        cases_in(&journal)
    };
    let (one, two) = (shard("hash:1/2"), shard("hash:2/2"));
    let mut all: Vec<String> = one.iter().chain(&two).cloned().collect();
    all.sort();
    assert_eq!(all.len(), 6, "disjoint and complete: {one:?} {two:?}");
    all.dedup();
    assert_eq!(all.len(), 6);
    // Two cases added: every case keeps its shard.
    write_table(&dir, "r.yaml", &table(8));
    let (one2, two2) = (shard("hash:1/2"), shard("hash:2/2"));
    assert!(one.iter().all(|c| one2.contains(c)), "{one:?} {one2:?}");
    assert!(two.iter().all(|c| two2.contains(c)), "{two:?} {two2:?}");
    assert_eq!(one2.len() + two2.len(), 8);

    // Skip and include lists: comments, literals, regexes; skipped cases are listed.
    let skips = dir.join("skips.txt");
    std::fs::write(&skips, "# not on this board\n\nr.c2\n^r\\.c[45]$\nr.gone\n").unwrap();
    let include = dir.join("include.txt");
    std::fs::write(&include, "# only these\nr\\.c[0-5]\n").unwrap();
    let out = run(
        &res,
        &tables,
        &[
            "--skip",
            skips.to_str().unwrap(),
            "--include",
            include.to_str().unwrap(),
        ],
    );
    let out_text = text(&out);
    assert_eq!(out.status.code(), Some(0), "{out_text}");
    assert_eq!(cases_in(&journal), ["r.c0", "r.c1", "r.c3"]);
    let summary = read(&res.join("local/summary.txt"));
    let skips_s = skips.display().to_string();
    assert!(
        summary.contains("3 case(s) skipped by case lists, not run:")
            && summary.contains(&format!("r.c2  ({skips_s}:3 `r.c2`)"))
            && summary.contains(&format!("r.c5  ({skips_s}:4 `^r\\.c[45]$`)")),
        "{summary}"
    );
    assert!(
        out_text.contains(&format!(
            "skip pattern {skips_s}:5 `r.gone` matches no case"
        )),
        "{out_text}"
    );
    let skipped = read(&res.join("local/skipped.txt"));
    assert_eq!(skipped.lines().count(), 4, "{skipped}");
    let csv = read(&res.join("local/results.csv"));
    assert!(
        csv.contains("r.c2,Skip,0\n") && csv.contains("r.c0,Pass,"),
        "{csv}"
    );

    // A bad pattern: exit 2 naming file and line, and the last run's files untouched.
    let before = snapshot(&res.join("local"));
    std::fs::write(&skips, "ok\n(unclosed\n").unwrap();
    let out = run(&res, &tables, &["--skip", skips.to_str().unwrap()]);
    let err = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{skips_s}:2: `(unclosed` is not a valid regular expression"
        )),
        "{err}"
    );
    assert_eq!(snapshot(&res.join("local")), before);
    // Lists change what a fresh run plans: with --resume they are refused.
    let out = run(
        &res,
        &tables,
        &["--resume", "--skip", skips.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn an_ssh_boards_inventory_lists_skip_its_cases_visibly() {
    let dir = scratch("board-lists");
    let sshd = common::Sshd::start(&dir.join("sshd"));
    let ids = ["a0", "a1", "b0", "b1"];
    let r: Vec<(&str, &str)> = ids.iter().map(|i| (*i, "op: selftest_ok")).collect();
    let tables = write_table(&dir, "r.yaml", &rows(&r));
    // Relative to the inventory, like every path in it.
    std::fs::write(
        sshd.dir.join("orin-skips.txt"),
        "# flaky on this board\nr.a1\n",
    )
    .unwrap();
    std::fs::write(sshd.dir.join("orin-include.txt"), "^r\\.a\n").unwrap();
    let inv = sshd.dir.join("boards.yaml");
    std::fs::write(
        &inv,
        format!(
            "boards:\n  - name: orin\n    host: 127.0.0.1\n    port: {}\n    user: {}\n    key: {}\n    known_hosts: {}\n    suite: {}\n    workdir: {}\n    skip: [orin-skips.txt]\n    include: [orin-include.txt]\n",
            sshd.port,
            common::user(),
            sshd.dir.join("client_key").display(),
            sshd.dir.join("known_hosts").display(),
            bin("hil-suite").display(),
            sshd.dir.join("remote").display(),
        ),
    )
    .unwrap();
    let res = dir.join("results");
    let out = Command::new(bin("hil-run"))
        .arg("--results")
        .arg(&res)
        .arg("--inventory")
        .arg(&inv)
        .args([
            "--board",
            "orin",
            "-q",
            "--tables",
            tables.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(cases_in(&res.join("orin/journal.jsonl")), ["r.a0"]);
    let summary = read(&res.join("orin/summary.txt"));
    assert!(
        summary.contains("1 case(s) skipped by case lists, not run:")
            && summary.contains("r.a1  (")
            && summary.contains("orin-skips.txt:2 `r.a1`)"),
        "{summary}"
    );
}
