//! Deploy by content hash: the suite is uploaded only when the board lacks that exact
//! file, atomically (a temporary name, then rename), and a refused write says why.

use super::error::SshError;
use super::remote_shell::{end_earlier_runs, quote};
use super::SshBoard;
use anyhow::Context as _;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Hex SHA-256 of a file: the deploy directory's name, so an unchanged suite is not re-sent.
pub fn file_hash(p: &Path) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(p)?;
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// `file_hash`, once per run for a file that has not changed since (same size and mtime):
/// boards of a farm usually share one suite, and hashing 20 MB per board cost the runner
/// host 16 × 25 ms of CPU at every start.
fn suite_hash(p: &Path) -> std::io::Result<String> {
    type Key = (PathBuf, u64, Option<std::time::SystemTime>);
    static CACHE: std::sync::Mutex<Vec<(Key, String)>> = std::sync::Mutex::new(Vec::new());
    let meta = std::fs::metadata(p)?;
    let key = (p.to_path_buf(), meta.len(), meta.modified().ok());
    // Held while hashing: the other boards wait for the one result instead of each
    // computing it.
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, h)) = cache.iter().find(|(k, _)| *k == key) {
        return Ok(h.clone());
    }
    let h = file_hash(p)?;
    cache.push((key, h.clone()));
    Ok(h)
}

/// Uploads `local` to `remote` atomically: a temporary name, then rename. A write the
/// board refuses (a full disk) is an answer, not a lost connection: the `.part` file is
/// removed and the error says why, at once (no reconnect window).
pub(super) fn upload(
    sftp: &ssh2::Sftp,
    local: &Path,
    remote: &str,
    mode: u32,
) -> Result<u64, SshError> {
    let tmp = format!("{remote}.part-{}", std::process::id());
    let local_err = |source| SshError::Local {
        path: local.display().to_string(),
        source,
    };
    let mut src = std::fs::File::open(local).map_err(local_err)?;
    let need = src.metadata().map_err(local_err)?.len();
    let mut dst = sftp.create(Path::new(&tmp))?;
    // In pieces, so a signal does not wait for a large suite to cross a slow link.
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        if crate::interrupt::interrupted() {
            return Err(SshError::Interrupted);
        }
        let got = src.read(&mut buf).map_err(local_err)?;
        if got == 0 {
            break;
        }
        if let Err(e) = dst.write_all(&buf[..got]) {
            let why = e.to_string();
            return Err(refused_write(sftp, dst, &tmp, remote, (n, need), why));
        }
        n += got as u64;
    }
    // Closed explicitly: libssh2 pipelines writes, and a refusal may only come with the
    // last acknowledgements (a drop would lose it).
    if let Err(e) = dst.close() {
        if !matches!(e.code(), ssh2::ErrorCode::SFTP(_)) {
            return Err(e.into());
        }
    }
    // A write refused at the end leaves a short file: never renamed into place.
    let written = sftp.stat(Path::new(&tmp))?.size.unwrap_or(0);
    if written != n {
        let dst = sftp.open(Path::new(&tmp))?;
        let why = format!("{written} of {n} bytes arrived");
        return Err(refused_write(sftp, dst, &tmp, remote, (written, need), why));
    }
    sftp.setstat(
        Path::new(&tmp),
        ssh2::FileStat {
            size: None,
            uid: None,
            gid: None,
            perm: Some(mode),
            atime: None,
            mtime: None,
        },
    )?;
    let flags =
        ssh2::RenameFlags::OVERWRITE | ssh2::RenameFlags::ATOMIC | ssh2::RenameFlags::NATIVE;
    // OpenSSH renames with link(), which fails on an existing target (libssh2 sends no
    // overwrite flag at SFTP v3): a retry after a dropped answer would be refused.
    let _ = sftp.unlink(Path::new(remote));
    sftp.rename(Path::new(&tmp), Path::new(remote), Some(flags))?;
    Ok(n)
}

/// A write to `tmp` failed with `why`. If the board still answers on this channel (the
/// free space of the file's filesystem, `statvfs@openssh.com`), the board refused it:
/// `tmp` is removed and the error says whether the disk is full. If it does not answer,
/// the connection dropped (waited for as a drop).
fn refused_write(
    sftp: &ssh2::Sftp,
    mut dst: ssh2::File,
    tmp: &str,
    remote: &str,
    (written, need): (u64, u64),
    why: String,
) -> SshError {
    let space = dst.statvfs();
    drop(dst);
    let free = match space {
        Ok(v) => Some(v.f_bavail.saturating_mul(v.f_frsize)),
        // The server answered (no statvfs extension): still a refusal, space unknown.
        Err(e) if matches!(e.code(), ssh2::ErrorCode::SFTP(_)) => None,
        Err(_) => return SshError::Io(std::io::Error::other(why)),
    };
    let _ = sftp.unlink(Path::new(tmp));
    match free {
        // Measured with the partial file still there: less than the rest of the file.
        Some(free) if free < need.saturating_sub(written).max(1) => SshError::NoSpace {
            path: remote.to_string(),
            written,
            need,
            free,
        },
        _ => SshError::UploadRefused {
            path: remote.to_string(),
            why,
        },
    }
}

/// What `hil-suite.ok` remembers of the checked file: size, mtime, ctime (both to the
/// nanosecond where the filesystem keeps them) and inode. Any write or replacement changes
/// the ctime or the inode, and neither can be set back (`touch -d` puts back the mtime
/// only, and itself moves the ctime), so an edit of the same size is hashed again too.
const SUITE_STAMP: &str = "stat -c '%s %y %z %i' hil-suite";

/// Shell, in the suite's directory: prints `present` if `hil-suite` there is the file with
/// SHA-256 `hash`, else `absent`. The hash is checked once (`sha256sum`) and remembered
/// with the file's `SUITE_STAMP` in `hil-suite.ok`: a file changed in any way since is
/// hashed again, and re-sent when it differs.
fn suite_present(hash: &str) -> String {
    format!(
        "now=\"$({SUITE_STAMP} 2>/dev/null)\"; \
         if test -x hil-suite && [ \"$(cat hil-suite.ok 2>/dev/null)\" = \"{hash} $now\" ]; then echo present; \
         elif test -x hil-suite && set -- $(sha256sum hil-suite 2>/dev/null) && [ \"$1\" = {hash} ]; then \
         echo \"{hash} $now\" > hil-suite.ok 2>/dev/null; echo present; else echo absent; fi"
    )
}

impl SshBoard {
    /// Puts the suite (and `--tables`) on the board for this run: its directory by
    /// content hash, uploaded only when missing or changed; returns a line for the user.
    pub(super) fn deploy(&mut self) -> anyhow::Result<String> {
        let hash = crate::trace::timed(&self.spec.name, "hash suite", || {
            suite_hash(&self.spec.suite)
        })
        .with_context(|| format!("reading suite {}", self.spec.suite.display()))?;
        let dir = format!("{}/suite-{}", self.spec.workdir, &hash[..16]);
        self.remote_suite = format!("{dir}/hil-suite");
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        self.run_dir = format!(
            "{}/runs/{}",
            self.spec.workdir,
            crate::transport::keep::run_dir_name(&self.spec.name, stamp)
        );
        let mut note = if self.suite_is_there(&dir, &hash)? {
            format!("suite up to date ({})", self.remote_suite)
        } else {
            self.upload_suite(&dir, &hash)?
        };
        if let Some(n) = self.upload_tables()? {
            note.push_str(&format!("; {n} table file(s)"));
        }
        Ok(note)
    }

    /// One round trip: create the directories, end suites of earlier runs still running
    /// (we hold the lock: theirs is gone), drop uploads a dead run left half done (none
    /// is in progress), mark the suite used (`clean_up` keeps the last used), and ask
    /// whether it is there, whole.
    fn suite_is_there(&mut self, dir: &str, hash: &str) -> anyhow::Result<bool> {
        let probe = format!(
            "mkdir -p {d} {r} && {{ {end}; }} && rm -f {d}/hil-suite.part-* && touch {d} && cd {d} && {present}",
            d = quote(dir),
            r = quote(&self.run_dir),
            end = end_earlier_runs(&format!("{}/runs", self.spec.workdir), &self.run_dir),
            present = suite_present(hash),
        );
        let out = self.conn.lock().exec_ok(&probe)?;
        for run in out.lines().filter_map(|l| l.strip_prefix("ended ")) {
            crate::errln!(
                "hil-run: {}: ended the suite of an earlier run still running on the board (runs/{run}): \
                 its run no longer holds the board",
                self.spec.name
            );
        }
        Ok(out.lines().last().is_some_and(|l| l.trim() == "present"))
    }

    /// Uploads the suite into `dir` and remembers it as checked; returns what was done.
    fn upload_suite(&mut self, dir: &str, hash: &str) -> anyhow::Result<String> {
        let (suite, remote) = (self.spec.suite.clone(), self.remote_suite.clone());
        let n = self
            .conn
            .lock()
            .with_sftp(|s| upload(s, &suite, &remote, 0o755))?;
        // Remembered as checked: the next run compares the stamp, not the hash.
        let stamp = format!(
            "cd {} && echo \"{hash} $({SUITE_STAMP})\" > hil-suite.ok 2>/dev/null; true",
            quote(dir)
        );
        self.conn.lock().exec_ok(&stamp)?;
        Ok(format!("uploaded suite, {n} bytes -> {remote}"))
    }

    /// `--tables`: its YAML files into the run's `tables/`; how many (None: no tables).
    fn upload_tables(&mut self) -> anyhow::Result<Option<usize>> {
        let Some(t) = &self.tables else {
            return Ok(None);
        };
        let tdir = format!("{}/tables", self.run_dir);
        self.conn
            .lock()
            .exec_ok(&format!("mkdir -p {}", quote(&tdir)))?;
        let mut files: Vec<_> = std::fs::read_dir(t)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.retain(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"));
        for f in &files {
            let name = f
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("table.yaml")
                .to_string();
            let remote = format!("{tdir}/{name}");
            self.conn
                .lock()
                .with_sftp(|s| upload(s, f, &remote, 0o644))?;
        }
        Ok(Some(files.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::transport::ssh::sh_out;

    #[test]
    fn a_deployed_suite_counts_only_when_its_hash_matches() {
        let dir = std::env::temp_dir().join(format!("hil-present-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let suite = dir.join("hil-suite");
        std::fs::write(&suite, vec![7u8; 100_000]).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&suite, std::fs::Permissions::from_mode(0o755)).unwrap();
        let hash = file_hash(&suite).unwrap();
        let check = || {
            sh_out(&format!(
                "cd {} && {}",
                quote(&dir.display().to_string()),
                suite_present(&hash)
            ))
            .trim()
            .to_string()
        };
        assert_eq!(check(), "present");
        assert!(
            std::fs::read_to_string(dir.join("hil-suite.ok"))
                .unwrap()
                .starts_with(&hash),
            "the checked hash is remembered"
        );
        assert_eq!(check(), "present", "from the stamp");
        // Edited in place, same size, its mtime put back: the ctime still moved.
        let mtime = std::fs::metadata(&suite).unwrap().modified().unwrap();
        let mut edited = vec![7u8; 100_000];
        edited[50_000] = 8;
        std::fs::write(&suite, &edited).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&suite)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_eq!(std::fs::metadata(&suite).unwrap().len(), 100_000);
        assert_eq!(
            check(),
            "absent",
            "a same-size edit with its mtime put back"
        );
        std::fs::write(&suite, vec![7u8; 100_000]).unwrap();
        assert_eq!(check(), "present", "the original again, hashed again");
        // Cut short under its final name (a full disk, a copy interrupted by hand).
        std::fs::write(&suite, vec![7u8; 50_000]).unwrap();
        assert_eq!(check(), "absent");
        std::fs::remove_file(&suite).unwrap();
        assert_eq!(check(), "absent");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
