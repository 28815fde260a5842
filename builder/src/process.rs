//! Running one process of a build: its own process group (killed whole at the deadline),
//! rlimits set before `exec`, stdin closed, stderr appended to the build [`Log`] (tail-capped),
//! stdout optionally captured (capped).

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::time::Instant;

/// Most stdout kept from one process (cargo's JSON messages about artifacts).
pub const MAX_STDOUT_BYTES: usize = 8 << 20;

/// A build log keeping its last `max` bytes.
#[derive(Debug, Clone)]
pub struct Log {
    text: String,
    max: usize,
    dropped: bool,
}

impl Log {
    /// An empty log keeping at most `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { text: String::new(), max, dropped: false }
    }

    /// Appends text (lossy UTF-8), dropping the oldest bytes beyond the cap.
    pub fn push(&mut self, bytes: &[u8]) {
        self.text.push_str(&String::from_utf8_lossy(bytes));
        if self.text.len() > self.max {
            let mut cut = self.text.len() - self.max;
            while !self.text.is_char_boundary(cut) {
                cut += 1;
            }
            self.text.drain(..cut);
            self.dropped = true;
        }
    }

    /// Appends one line.
    pub fn line(&mut self, line: &str) {
        self.push(format!("{line}\n").as_bytes());
    }

    /// The last `n` lines.
    pub fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The kept text (prefixed with a note when the head was dropped).
    pub fn into_string(self) -> String {
        if self.dropped { format!("[… earlier output dropped …]\n{}", self.text) } else { self.text }
    }
}

/// One process to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Its whole environment (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// RLIMIT_AS, bytes.
    pub memory_bytes: Option<u64>,
    /// RLIMIT_FSIZE, bytes.
    pub max_file_bytes: Option<u64>,
}

/// How a process ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout (if captured, capped).
    pub stdout: Vec<u8>,
}

/// Failures to run a process.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The deadline passed; the process group was killed.
    #[error("deadline passed")]
    Timeout,
    /// The process could not be started or waited for.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs `spec` until it exits or `deadline` passes (then its whole process group is killed
/// with SIGKILL), appending its stderr to `log`.
pub async fn run(spec: &Spec, deadline: Instant, log: &mut Log, capture_stdout: bool) -> Result<Finished, RunError> {
    let mut cmd = std::process::Command::new(&spec.program);
    cmd.args(&spec.args).env_clear().envs(spec.env.iter().map(|(k, v)| (k, v))).current_dir(&spec.cwd);
    cmd.stdin(Stdio::null()).stderr(Stdio::piped()).stdout(if capture_stdout { Stdio::piped() } else { Stdio::null() });
    cmd.process_group(0);
    let (memory, fsize) = (spec.memory_bytes, spec.max_file_bytes);
    // SAFETY: only async-signal-safe calls (setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for (resource, limit) in [(libc::RLIMIT_AS, memory), (libc::RLIMIT_FSIZE, fsize)] {
                if let Some(limit) = limit {
                    let rlim = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                    if libc::setrlimit(resource, &rlim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
            }
            Ok(())
        });
    }
    let mut child = tokio::process::Command::from(cmd).kill_on_drop(true).spawn()?;
    let pgid = child.id().map(|id| id as i32);
    let stderr = child.stderr.take();
    let stdout = child.stdout.take();
    let log_cap = log.max;
    let work = async {
        let (err, out) = tokio::join!(read_tail(stderr, log_cap), read_capped(stdout, MAX_STDOUT_BYTES));
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, err, out))
    };
    let remaining = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(remaining, work).await {
        Ok(result) => {
            let (status, err, out) = result?;
            log.push(&err);
            Ok(Finished { status, stdout: out })
        }
        Err(_) => {
            if let Some(pgid) = pgid {
                kill_group(pgid);
            }
            // Reap it (the group is dead; bounded in case it is not).
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            Err(RunError::Timeout)
        }
    }
}

/// SIGKILL to every process of the group `pgid`.
fn kill_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group; no memory is touched.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Reads all of `pipe`, keeping its last `cap` bytes (a build script may print without end).
async fn read_tail(pipe: Option<impl AsyncRead + Unpin>, cap: usize) -> Vec<u8> {
    let Some(mut pipe) = pipe else { return Vec::new() };
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > cap.saturating_mul(2) {
                    kept.drain(..kept.len() - cap);
                }
            }
        }
    }
    if kept.len() > cap {
        kept.drain(..kept.len() - cap);
    }
    kept
}

async fn read_capped(pipe: Option<impl AsyncRead + Unpin>, cap: usize) -> Vec<u8> {
    let Some(mut pipe) = pipe else { return Vec::new() };
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                if kept.len() < cap {
                    kept.extend_from_slice(&buf[..n.min(cap - kept.len())]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_its_tail() {
        let mut log = Log::new(10);
        log.line("0123456789");
        log.line("abc");
        assert_eq!(log.tail(1), "abc");
        assert!(log.clone().into_string().starts_with("[… earlier output dropped …]"));
        assert!(log.into_string().ends_with("789\nabc\n"));
    }
}
