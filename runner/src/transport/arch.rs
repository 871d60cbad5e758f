//! Which CPU a board is and which CPU a suite was built for. A suite built for another CPU
//! is refused before it is uploaded, naming both (a board's shell would otherwise try to
//! run the binary as a script and print its bytes back): nothing was tested, exit 2.

use crate::inventory::BoardSpec;
use std::io::Read as _;
use std::path::Path;

/// The suite cannot run on this board (wrong CPU, no suite for its CPU, or an inventory
/// `arch:` that is not the board's): a configuration error, nothing was run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WrongArch(pub String);

/// What an ELF file's header says it runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct Elf {
    /// `e_machine` (62 x86-64, 183 AArch64, …).
    pub machine: u16,
    /// The arch as `uname -m` names it, where hil knows the machine number.
    pub arch: Option<&'static str>,
}

/// The ELF header of `bytes` (the first 20 bytes of a file), or None if it is no ELF file
/// (a wrapper script, say: not checked).
pub fn parse_elf(bytes: &[u8]) -> Option<Elf> {
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return None;
    }
    let (class64, little) = (bytes[4] == 2, bytes[5] != 2);
    let m = [bytes[18], bytes[19]];
    let machine = if little {
        u16::from_le_bytes(m)
    } else {
        u16::from_be_bytes(m)
    };
    let arch = match machine {
        3 => Some("x86"),
        62 => Some("x86_64"),
        40 => Some("arm"),
        183 => Some("aarch64"),
        243 if class64 => Some("riscv64"),
        21 if little => Some("ppc64le"),
        21 => Some("ppc64"),
        22 => Some("s390x"),
        _ => None,
    };
    Some(Elf { machine, arch })
}

/// The ELF header of the file at `path` (None: not an ELF file).
pub fn elf_of(path: &Path) -> std::io::Result<Option<Elf>> {
    let mut head = Vec::with_capacity(20);
    std::fs::File::open(path)?.take(20).read_to_end(&mut head)?;
    Ok(parse_elf(&head))
}

/// An arch as `uname -m` or an inventory may write it, in `uname -m`'s Linux spelling.
pub fn normalize(arch: &str) -> String {
    let a = arch.trim().to_ascii_lowercase();
    match a.as_str() {
        "arm64" | "aarch64" | "armv8" => "aarch64".into(),
        "amd64" | "x86_64" | "x86-64" | "x64" => "x86_64".into(),
        "i386" | "i486" | "i586" | "i686" | "x86" => "x86".into(),
        s if s.starts_with("armv") || s == "arm" => "arm".into(),
        _ => a,
    }
}

/// Whether a board of arch `board` runs programs built for `built` (both normalized): the
/// same CPU, or its 32-bit predecessor.
fn runs_on(built: &str, board: &str) -> bool {
    built == board || matches!((built, board), ("x86", "x86_64") | ("arm", "aarch64"))
}

/// Settles which suite board `spec` gets, now that its `uname -m` is known: the one for
/// its arch when `suite:` is a map by arch, checked against the board before anything is
/// uploaded. `spec.suite` becomes that suite and `spec.arch` the board's arch.
pub fn settle(spec: &mut BoardSpec, uname: &str) -> Result<(), WrongArch> {
    let probed = normalize(uname);
    let board = if probed.is_empty() {
        // No answer to `uname -m`: the inventory's word is all there is.
        spec.arch.as_deref().map(normalize).unwrap_or_default()
    } else {
        probed.clone()
    };
    if let Some(said) = spec.arch.as_deref() {
        if !probed.is_empty() && normalize(said) != probed {
            return Err(WrongArch(format!(
                "board `{}` is {probed} (uname -m), but its inventory entry says `arch: {said}`; \
                 nothing was run. Correct `arch` (and give the board a suite built for {probed})",
                spec.name
            )));
        }
    }
    if !spec.suites.is_empty() {
        let picked = spec
            .suites
            .iter()
            .find(|(a, _)| normalize(a) == board)
            .map(|(_, p)| p.clone());
        spec.suite = picked.ok_or_else(|| {
            WrongArch(format!(
                "board `{}` is {}, and its `suite:` names no suite for it (it has: {}); \
                 nothing was run. Add `{}: PATH` to `suite:`",
                spec.name,
                if board.is_empty() {
                    "of unknown arch"
                } else {
                    &board
                },
                spec.suites.keys().cloned().collect::<Vec<_>>().join(", "),
                if board.is_empty() { "ARCH" } else { &board },
            ))
        })?;
    }
    if !board.is_empty() {
        check_suite(&spec.suite, &spec.name, &board)?;
        spec.arch = Some(board);
    }
    Ok(())
}

/// Refuses a suite whose ELF header names a CPU other than the board's. A file that cannot
/// be read is left to the upload to report; one that is no ELF file is not judged.
fn check_suite(suite: &Path, board_name: &str, board: &str) -> Result<(), WrongArch> {
    let Ok(Some(elf)) = elf_of(suite) else {
        return Ok(());
    };
    match elf.arch {
        Some(built) if !runs_on(built, board) => Err(WrongArch(format!(
            "the suite {} is built for {built} (ELF machine {}), the board `{board_name}` is \
             {board}: nothing was run. Give the board a suite built for {board} (the inventory's \
             `suite:`, which may be a map by arch: {{aarch64: …, {board}: …}})",
            suite.display(),
            elf.machine
        ))),
        _ => Ok(()),
    }
}

/// The board's shell could not run the suite as a program (a status and stderr from
/// starting it): why, in words, if that is what the error says. `env` runs a file the
/// kernel refuses (ENOEXEC) as a shell script, so the shell's complaint about the binary's
/// bytes is that same refusal. `arch`: the board's, where known.
pub fn not_runnable(
    suite: &Path,
    board: &str,
    arch: Option<&str>,
    code: i32,
    stderr: &str,
) -> Option<String> {
    let said = |s: &str| stderr.contains(s);
    let binary_as_script = (code == 2 || code == 126 || code == 127)
        && (stderr.contains('\u{fffd}') || said("Syntax error") || said("syntax error"));
    if !(said("Exec format error") || said("cannot execute binary file") || binary_as_script) {
        return None;
    }
    let what = match (elf_of(suite), arch) {
        (
            Ok(Some(Elf {
                arch: Some(a),
                machine,
            })),
            Some(b),
        ) if !runs_on(a, &normalize(b)) => {
            format!("it is built for {a} (ELF machine {machine}), the board is {b}")
        }
        (Ok(Some(Elf { machine, .. })), _) => format!(
            "the board's kernel refused it as a program (ELF machine {machine}): a damaged or \
             incomplete file, or one for another CPU"
        ),
        _ => "it is not a program for this board".to_string(),
    };
    Some(format!(
        "board `{board}` cannot execute the suite {} (status {code}): {what}; nothing was run. \
         Give the board a suite built for its CPU (`suite:` and `arch:` in the inventory)",
        suite.display()
    ))
}

/// A file with an ELF header for `machine` (64-bit, little-endian) and nothing else: enough
/// for the check above, for tests.
pub fn elf_header_for_tests(machine: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // 64-bit
    h[5] = 1; // little-endian
    h[6] = 1; // ELF version
    h[16] = 2; // ET_EXEC
    h[18..20].copy_from_slice(&machine.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(suite: &Path, arch: Option<&str>, suites: &[(&str, &Path)]) -> BoardSpec {
        let text = "boards:\n  - {name: b1, host: h, user: u, suite: x}\n";
        let mut s = crate::inventory::parse_for_tests(text).boards.remove(0);
        s.suite = suite.to_path_buf();
        s.arch = arch.map(str::to_string);
        s.suites = suites
            .iter()
            .map(|(a, p)| (a.to_string(), p.to_path_buf()))
            .collect();
        s
    }

    #[test]
    fn elf_headers_name_their_cpu() {
        assert_eq!(
            parse_elf(&elf_header_for_tests(183)).unwrap().arch,
            Some("aarch64")
        );
        assert_eq!(
            parse_elf(&elf_header_for_tests(62)).unwrap().arch,
            Some("x86_64")
        );
        assert_eq!(parse_elf(b"#!/bin/sh\necho not an elf file\n"), None);
        assert_eq!(parse_elf(b"\x7fELF"), None);
        // The hil-run binary of this test is an ELF file for the machine it runs on.
        let me = elf_of(&std::env::current_exe().unwrap()).unwrap().unwrap();
        assert_eq!(me.arch, Some(std::env::consts::ARCH));
        assert_eq!(normalize("arm64\n"), "aarch64");
        assert_eq!(normalize("amd64"), "x86_64");
        assert_eq!(normalize("armv7l"), "arm");
    }

    #[test]
    fn a_suite_for_another_cpu_is_refused_naming_both() {
        let dir = std::env::temp_dir().join(format!("hil-arch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let arm = dir.join("arm-suite");
        std::fs::write(&arm, elf_header_for_tests(183)).unwrap();
        let x86 = dir.join("x86-suite");
        std::fs::write(&x86, elf_header_for_tests(62)).unwrap();
        let e = settle(&mut spec(&arm, None, &[]), "x86_64\n").unwrap_err();
        assert!(
            e.0.contains("is built for aarch64 (ELF machine 183), the board `b1` is x86_64"),
            "{e}"
        );
        let mut ok = spec(&x86, None, &[]);
        settle(&mut ok, "x86_64\n").unwrap();
        assert_eq!(ok.arch.as_deref(), Some("x86_64"));
        // The inventory's `arch:` is checked against the board.
        let e = settle(&mut spec(&x86, Some("aarch64"), &[]), "x86_64").unwrap_err();
        assert!(e.0.contains("says `arch: aarch64`"), "{e}");
        // A map by arch: the board's arch picks.
        let both = [("aarch64", arm.as_path()), ("amd64", x86.as_path())];
        let mut s = spec(Path::new(""), None, &both);
        settle(&mut s, "x86_64").unwrap();
        assert_eq!(s.suite, x86);
        let mut s = spec(Path::new(""), None, &both);
        settle(&mut s, "aarch64").unwrap();
        assert_eq!(s.suite, arm);
        let e = settle(&mut spec(Path::new(""), None, &both[..1]), "x86_64").unwrap_err();
        assert!(
            e.0.contains("names no suite for it (it has: aarch64)"),
            "{e}"
        );
        // No answer from uname: the inventory's arch picks.
        let mut s = spec(Path::new(""), Some("arm64"), &both);
        settle(&mut s, "").unwrap();
        assert_eq!(s.suite, arm);
        // A script is not judged.
        let script = dir.join("wrapper");
        std::fs::write(&script, "#!/bin/sh\nexec hil-suite \"$@\"\n").unwrap();
        settle(&mut spec(&script, None, &[]), "x86_64").unwrap();
        // The exec error of a binary run as a script says the same.
        let why = not_runnable(
            &arm,
            "b1",
            Some("x86_64"),
            2,
            "/tmp/hil/suite-1/hil-suite: 1: Syntax error: \"(\" unexpected \u{fffd}\u{fffd}",
        )
        .unwrap();
        assert!(
            why.contains("built for aarch64 (ELF machine 183), the board is x86_64"),
            "{why}"
        );
        assert!(not_runnable(&arm, "b1", None, 2, "unknown op `x` in t.yaml").is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
