//! SSH signatures (OpenSSH's SSHSIG format, namespace `hil-bundle`) over a bundle's
//! manifest, made and checked by OpenSSH's own `ssh-keygen -Y`: the farm's SSH keys sign,
//! and an `allowed_signers` file (ssh-keygen(1), ALLOWED SIGNERS) says whose signature a
//! reader accepts. No Rust crate does all of that (allowed_signers included) as a stable
//! release, and ssh-keygen is what a reader would check with anyway.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The SSHSIG namespace: a signature made for anything else does not verify as a bundle's.
pub const NAMESPACE: &str = "hil-bundle";

#[derive(Debug, thiserror::Error)]
pub enum SigError {
    #[error(
        "ssh-keygen not runnable ({0}): signatures need OpenSSH's ssh-keygen \
         (apt-get install -y openssh-client)"
    )]
    NoSshKeygen(std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// ssh-keygen refused; its own words follow.
    #[error("{0}")]
    Refused(String),
}

/// Who signed: the principal from allowed_signers (when checked) and the key.
#[derive(Debug, Clone, PartialEq)]
pub struct Signer {
    pub principal: Option<String>,
    /// e.g. `ED25519 key SHA256:vFBk…`
    pub key: String,
}

/// A scratch directory of one call, removed when it ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "hil-sshsig-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d)?;
        Ok(Scratch(d))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `ssh-keygen -Y op args…` with `stdin` as its input: its stdout on success, else
/// its own message, put in context by `explain`.
fn keygen_y(
    op: &str,
    args: &[&OsStr],
    stdin: Option<&Path>,
    explain: impl FnOnce(String) -> String,
) -> Result<String, SigError> {
    let input = match stdin {
        Some(p) => Stdio::from(std::fs::File::open(p)?),
        None => Stdio::null(),
    };
    let out = Command::new("ssh-keygen")
        .args(["-Y", op])
        .args(args)
        .stdin(input)
        .output()
        .map_err(SigError::NoSshKeygen)?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        return Ok(stdout);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let why: Vec<&str> = err
        .lines()
        .chain(stdout.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Signing file"))
        .collect();
    Err(SigError::Refused(explain(why.join("; "))))
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Signs `data` with the private key `key` (or the public key of one in ssh-agent):
/// the armored SSHSIG signature.
pub fn sign(key: &Path, data: &[u8]) -> Result<Vec<u8>, SigError> {
    let dir = Scratch::new()?;
    let msg = dir.0.join("manifest.json");
    std::fs::write(&msg, data)?;
    let args = [
        os("-n"),
        os(NAMESPACE),
        os("-f"),
        key.as_os_str(),
        msg.as_os_str(),
    ];
    keygen_y("sign", &args, None, |why| {
        format!("signing with {} failed: {why}", key.display())
    })?;
    Ok(std::fs::read(dir.0.join("manifest.json.sig"))?)
}

/// Checks `sig` over `data`. With `allowed`, the signer must be listed there (for the
/// `hil-bundle` namespace) and its principal is returned; without, only the signature
/// itself is checked and the principal is unknown.
pub fn verify(data: &[u8], sig: &[u8], allowed: Option<&Path>) -> Result<Signer, SigError> {
    let dir = Scratch::new()?;
    let (msg, sig_path) = (dir.0.join("data"), dir.0.join("data.sig"));
    std::fs::write(&msg, data)?;
    std::fs::write(&sig_path, sig)?;
    let (n, s) = ([os("-n"), os(NAMESPACE)], [os("-s"), sig_path.as_os_str()]);
    // First the signature alone: a changed manifest fails here, whoever signed.
    let good = keygen_y("check-novalidate", &[n, s].concat(), Some(&msg), |why| {
        format!(
            "the signature does not match manifest.json: the manifest was changed after \
             signing, or the signature is not a `{NAMESPACE}` one (ssh-keygen: {why})"
        )
    })?;
    let key = key_of(&good);
    let Some(allowed) = allowed else {
        return Ok(Signer {
            principal: None,
            key,
        });
    };
    let f = [os("-f"), allowed.as_os_str()];
    let principals = keygen_y("find-principals", &[s, f].concat(), None, |why| {
        format!(
            "signed by {key}, which {} does not list (wrong signer; ssh-keygen: {why})",
            allowed.display()
        )
    })?;
    let principal = principals.lines().next().unwrap_or("").trim().to_string();
    // The full check: namespace and validity restrictions of the allowed_signers line.
    let i = [os("-I"), os(&principal)];
    let ok = keygen_y("verify", &[f, i, n, s].concat(), Some(&msg), |why| {
        format!(
            "signed by {key} ({principal} in {}), but ssh-keygen refuses it: {why}",
            allowed.display()
        )
    })?;
    Ok(Signer {
        principal: Some(principal),
        key: key_of(&ok),
    })
}

/// `ED25519 key SHA256:…` from ssh-keygen's `Good "…" signature … with ED25519 key SHA256:…`.
fn key_of(good: &str) -> String {
    good.lines()
        .find_map(|l| l.rsplit_once(" with ").map(|(_, k)| k.trim().to_string()))
        .unwrap_or_else(|| good.trim().to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_key_is_read_from_ssh_keygens_verdict() {
        assert_eq!(
            super::key_of("Good \"hil-bundle\" signature for ci@farm with ED25519 key SHA256:abc"),
            "ED25519 key SHA256:abc"
        );
    }
}
