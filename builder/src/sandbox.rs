//! The sandbox every cargo process of a build runs in: bubblewrap (`bwrap`), as the command line
//! [`command`] builds.
//!
//! What the sandboxed processes see (`/` is a fresh tmpfs):
//!
//! | Path | What | Access |
//! |---|---|---|
//! | `/usr` (+ `/bin`, `/lib`, `/lib64`, `/sbin` links) | the host's system files (linker `cc` for build scripts) | read-only |
//! | `/toolchain` | the pinned Rust toolchain's sysroot | read-only |
//! | `/build/src` | the checkout of this build | read-only |
//! | `/build/target` | this build's target directory | read-write (compile only) |
//! | `/cargo` | this build's own `CARGO_HOME` (extracted sources, locks) | read-write |
//! | `/cargo/registry/{index,cache}`, `/cargo/git` | the shared dependency cache | read-write while fetching, read-only while compiling |
//! | `/etc/alternatives`, `/etc/ld.so.cache` | Debian's tool links (`cc`), the loader cache | read-only |
//! | `/etc/{resolv.conf,hosts,ssl,ca-certificates}` | name resolution and CA roots | read-only, fetch only |
//! | `/proc`, `/dev`, `/tmp` | new procfs of the new pid namespace, minimal devices, empty tmpfs | |
//!
//! Nothing else of the host's filesystem exists inside (no `/root`, `/home`, `/work`, `/etc`
//! beyond the entries above). New pid, ipc, uts and (if possible) cgroup namespaces; a new,
//! empty network namespace while compiling (the fetch keeps the host's network); every
//! capability dropped; the environment is exactly [`env`] (nothing is inherited, so no secret of
//! the builder's environment reaches a build script); `--die-with-parent`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::BuildLimits;
use crate::process::Spec;

/// Where the checkout appears inside the sandbox.
pub const SRC: &str = "/build/src";
/// Where the target directory appears inside the sandbox.
pub const TARGET: &str = "/build/target";
/// Where the build's cargo home appears inside the sandbox.
pub const CARGO_HOME: &str = "/cargo";
/// Where the toolchain appears inside the sandbox.
pub const TOOLCHAIN: &str = "/toolchain";

/// The two phases of a build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `cargo fetch`: network on, the shared dependency cache writable, no target directory.
    Fetch,
    /// `cargo build --offline`: no network, the shared cache read-only.
    Compile,
}

/// Host paths of one build.
#[derive(Clone, Debug)]
pub struct Dirs {
    /// The checkout.
    pub src: PathBuf,
    /// The target directory.
    pub target: PathBuf,
    /// The build's own cargo home.
    pub cargo_home: PathBuf,
    /// The shared cargo home (its `registry/index`, `registry/cache` and `git`).
    pub shared_cargo_home: PathBuf,
    /// The toolchain's sysroot.
    pub sysroot: PathBuf,
}

/// The environment of every sandboxed process: all of it, nothing inherited.
pub fn env(phase: Phase) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("PATH", "/toolchain/bin:/usr/local/bin:/usr/bin:/bin"),
        ("HOME", "/tmp"),
        ("TMPDIR", "/tmp"),
        ("LANG", "C"),
        ("CARGO_HOME", CARGO_HOME),
        ("CARGO_TARGET_DIR", TARGET),
        ("RUSTC", "/toolchain/bin/rustc"),
        ("RUSTDOC", "/toolchain/bin/rustdoc"),
        // Empty = no wrapper, whatever a repository's .cargo/config.toml says.
        ("RUSTC_WRAPPER", ""),
        ("RUSTC_WORKSPACE_WRAPPER", ""),
        ("CARGO_TERM_COLOR", "never"),
        ("CARGO_TERM_PROGRESS_WHEN", "never"),
        ("CARGO_INCREMENTAL", "0"),
        ("SOURCE_DATE_EPOCH", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if phase == Phase::Compile {
        env.push(("CARGO_NET_OFFLINE".into(), "true".into()));
    }
    env
}

/// The `bwrap` command running `args` (inside the sandbox, `args[0]` an absolute path there)
/// in `/build/src/<subdir>` for `phase`, under `limits`.
pub fn command(bwrap: &Path, dirs: &Dirs, subdir: &str, phase: Phase, limits: &BuildLimits, args: &[&str]) -> Spec {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&dyn AsRef<std::ffi::OsStr>]| a.extend(items.iter().map(|i| i.as_ref().to_owned()));
    push(&[&"--die-with-parent", &"--unshare-ipc", &"--unshare-pid", &"--unshare-uts", &"--unshare-cgroup-try"]);
    if phase == Phase::Compile {
        push(&[&"--unshare-net"]);
    }
    push(&[&"--cap-drop", &"ALL", &"--hostname", &"outlayer-build", &"--clearenv"]);
    push(&[&"--ro-bind", &"/usr", &"/usr"]);
    for link in ["bin", "lib", "lib64", "sbin"] {
        let host = Path::new("/").join(link);
        match std::fs::read_link(&host) {
            Ok(to) => push(&[&"--symlink", &to, &host]),
            Err(_) if host.is_dir() => push(&[&"--ro-bind", &host, &host]),
            Err(_) => {}
        }
    }
    push(&[&"--proc", &"/proc", &"--dev", &"/dev", &"--tmpfs", &"/tmp"]);
    push(&[&"--ro-bind", &dirs.sysroot, &TOOLCHAIN]);
    push(&[&"--ro-bind", &dirs.src, &SRC]);
    if phase == Phase::Compile {
        push(&[&"--bind", &dirs.target, &TARGET]);
    }
    push(&[&"--bind", &dirs.cargo_home, &CARGO_HOME]);
    let shared = if phase == Phase::Fetch { "--bind" } else { "--ro-bind" };
    for part in ["registry/index", "registry/cache", "git"] {
        push(&[&shared, &dirs.shared_cargo_home.join(part), &Path::new(CARGO_HOME).join(part)]);
    }
    // `cc` (the host linker of build scripts) is an alternatives link on Debian.
    for etc in ["/etc/alternatives", "/etc/ld.so.cache"] {
        if Path::new(etc).exists() {
            push(&[&"--ro-bind", &etc, &etc]);
        }
    }
    if phase == Phase::Fetch {
        for etc in ["/etc/resolv.conf", "/etc/hosts", "/etc/ssl", "/etc/ca-certificates"] {
            if Path::new(etc).exists() {
                push(&[&"--ro-bind", &etc, &etc]);
            }
        }
    }
    for (k, v) in env(phase) {
        push(&[&"--setenv", &k, &v]);
    }
    let cwd = if subdir.is_empty() { SRC.to_owned() } else { format!("{SRC}/{subdir}") };
    push(&[&"--chdir", &cwd, &"--"]);
    for arg in args {
        push(&[arg]);
    }
    Spec {
        program: bwrap.to_owned(),
        args: a,
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: dirs.src.clone(),
        memory_bytes: Some(limits.memory_bytes),
        max_file_bytes: Some(limits.max_file_bytes),
    }
}
