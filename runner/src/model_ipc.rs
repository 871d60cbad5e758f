//! The `model` board's NvSciIpc: an endpoint table (`nvsciipc.cfg`, in the real file's
//! syntax) in the board's results directory, and the settings that point the suite and
//! hil's model at it, so the cross-process NvSciSync rows (`nvscisync.ipc`) run there in
//! two processes. The model's `libnvscisync.so` answers NvSciIpc too.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The pairs written: the suite takes a free pair per case (and two for the rows that
/// replay a descriptor on another pair), so a few let those cases run in parallel.
pub const PAIRS: &[(&str, &str)] = &[
    ("hil_ipc_0", "hil_ipc_1"),
    ("hil_ipc_2", "hil_ipc_3"),
    ("hil_ipc_4", "hil_ipc_5"),
    ("hil_ipc_6", "hil_ipc_7"),
];

/// Frames as the cfg samples of DRIVE OS use (`INTER_PROCESS ipc_test_0 ipc_test_1 64 1536`).
const FRAMES: &str = "64 1536";

/// What the model reads (nvsci-model: `CFG_ENV`, `SOCKET_DIR_ENV`) and the suite's
/// settings (`hil-suite --help`: HIL_NVSCIIPC_LIB, HIL_IPC_ENDPOINTS).
const CFG_ENV: &str = "HIL_NVSCIIPC_CFG";
const SOCKET_DIR_ENV: &str = "HIL_NVSCIIPC_SOCKET_DIR";
const LIB_ENV: &str = "HIL_NVSCIIPC_LIB";
const ENDPOINTS_ENV: &str = "HIL_IPC_ENDPOINTS";

/// A Unix socket path must fit `sockaddr_un` (108 bytes with its NUL).
const SOCKET_PATH_MAX: usize = 100;

/// `<board dir>/nvsciipc/nvsciipc.cfg`.
pub fn cfg_path(board_dir: &Path) -> PathBuf {
    board_dir.join("nvsciipc").join("nvsciipc.cfg")
}

/// Points the suite (and the model it loads) at the board's endpoint table. Writes
/// nothing: listing must leave the results directory alone ([`write_cfg`] does, at start).
pub fn configure(cmd: &mut Command, board_dir: &Path, model: &Path) {
    let cfg = absolute(&cfg_path(board_dir));
    let pairs: Vec<String> = PAIRS.iter().map(|(a, b)| format!("{a}:{b}")).collect();
    cmd.env(LIB_ENV, model)
        .env(ENDPOINTS_ENV, pairs.join(","))
        .env(CFG_ENV, &cfg);
    match socket_dir(&cfg) {
        Some(dir) => cmd.env(SOCKET_DIR_ENV, dir),
        None => cmd.env_remove(SOCKET_DIR_ENV),
    };
}

/// Writes the endpoint table (before the suite starts).
pub fn write_cfg(board_dir: &Path) -> std::io::Result<()> {
    let cfg = cfg_path(board_dir);
    if let Some(dir) = cfg.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if let Some(dir) = socket_dir(&absolute(&cfg)) {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = String::from(
        "# Written by hil-run for the `model` board: endpoint pairs between processes of this\n\
         # machine, answered by hil's NvSciSync reference model (not hardware).\n",
    );
    for (a, b) in PAIRS {
        text.push_str(&format!("INTER_PROCESS {a} {b} {FRAMES}\n"));
    }
    std::fs::write(&cfg, text)
}

/// Where the sockets go when the cfg's directory is too deep for a socket path (the
/// model's default is that directory): a short one under the temporary directory, named
/// after the cfg so that it is the same for every start of the same board.
fn socket_dir(cfg: &Path) -> Option<PathBuf> {
    let longest = PAIRS.iter().map(|(a, _)| a.len()).max().unwrap_or(0) + ".sock".len() + 1;
    let dir = cfg.parent()?;
    if dir.as_os_str().len() + longest <= SOCKET_PATH_MAX {
        return None;
    }
    let hash = cfg
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    Some(std::env::temp_dir().join(format!("hil-nvsciipc-{hash:016x}")))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_pair_and_deep_dirs_get_short_socket_paths() {
        let d = std::env::temp_dir().join(format!("hil-model-ipc-{}", std::process::id()));
        write_cfg(&d).unwrap();
        let text = std::fs::read_to_string(cfg_path(&d)).unwrap();
        assert!(
            text.contains("INTER_PROCESS hil_ipc_0 hil_ipc_1 64 1536\n"),
            "{text}"
        );
        assert_eq!(text.matches("INTER_PROCESS").count(), PAIRS.len());
        std::fs::remove_dir_all(&d).unwrap();
        assert_eq!(
            socket_dir(Path::new("/r/model/nvsciipc/nvsciipc.cfg")),
            None
        );
        let deep = format!("/{}/nvsciipc/nvsciipc.cfg", "d".repeat(120));
        let short = socket_dir(Path::new(&deep)).unwrap();
        assert!(short.as_os_str().len() < 60, "{}", short.display());
    }
}
