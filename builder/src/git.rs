//! Fetching a repository at one commit with `git`: a fresh repository, `git fetch --depth 1`
//! of exactly the commit, a detached checkout. Git runs with an empty environment (no user or
//! system config, no credential prompts), only the allowed URL schemes (`GIT_ALLOW_PROTOCOL`,
//! so no `ext::` or other command transports), `--` before the URL, no submodules, no hooks
//! (the repository is created here, empty).

use std::path::Path;

use outlayer_protocol::build::GitSource;
use tokio::time::Instant;

use crate::error::BuildError;
use crate::process::{Log, RunError, Spec, run};

/// Where `git` is looked up.
const GIT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn git(dir: &Path, home: &Path, allowed: &[String], args: &[&str]) -> Spec {
    let mut full = vec!["-c", "core.hooksPath=/dev/null", "-c", "advice.detachedHead=false", "-c", "init.defaultBranch=main"];
    full.extend_from_slice(args);
    Spec {
        program: "git".into(),
        args: full.into_iter().map(Into::into).collect(),
        env: vec![
            ("PATH".into(), GIT_PATH.into()),
            ("HOME".into(), home.display().to_string()),
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
            ("GIT_ASKPASS".into(), "/bin/false".into()),
            ("GIT_ALLOW_PROTOCOL".into(), allowed.join(":")),
            ("GIT_LFS_SKIP_SMUDGE".into(), "1".into()),
        ],
        cwd: dir.to_owned(),
        memory_bytes: None,
        max_file_bytes: None,
    }
}

async fn step(spec: &Spec, deadline: Instant, log: &mut Log, seconds: u64) -> Result<bool, BuildError> {
    match run(spec, deadline, log, false).await {
        Ok(done) => Ok(done.status.success()),
        Err(RunError::Timeout) => Err(BuildError::Timeout { seconds }),
        Err(RunError::Io(e)) => Err(BuildError::internal("running git", e)),
    }
}

/// Fetches `source` at its commit into `dest` (created), or says why not: `CloneFailed` when
/// the URL's scheme is not allowed or the repository cannot be read, `CommitNotFound` when it
/// can but lacks the commit.
pub async fn fetch(
    source: &GitSource,
    dest: &Path,
    home: &Path,
    allowed: &[String],
    deadline: Instant,
    log: &mut Log,
    seconds: u64,
) -> Result<(), BuildError> {
    let url = source.git.as_str();
    if !allowed.iter().any(|s| s == source.scheme()) {
        return Err(BuildError::CloneFailed {
            url: url.into(),
            reason: format!("scheme {:?} is not allowed (allowed: {})", source.scheme(), allowed.join(", ")),
        });
    }
    std::fs::create_dir_all(dest).map_err(|e| BuildError::internal("creating the checkout directory", e))?;
    let at = |args: &[&str]| git(dest, home, allowed, args);
    log.line(&format!("$ git fetch --depth 1 {url} {}", source.commit));
    if !step(&at(&["init", "-q", "."]), deadline, log, seconds).await? {
        return Err(BuildError::Internal("git init failed".into()));
    }
    let fetched = step(&at(&["fetch", "-q", "--depth", "1", "--no-tags", "--", url, &source.commit]), deadline, log, seconds).await?;
    if !fetched {
        // Reachable at all? Then the commit is what is missing.
        let mut probe = Log::new(4096);
        if step(&at(&["ls-remote", "-q", "--", url, "HEAD"]), deadline, &mut probe, seconds).await? {
            return Err(BuildError::CommitNotFound { url: url.into(), commit: source.commit.clone() });
        }
        return Err(BuildError::CloneFailed { url: url.into(), reason: log.tail(3) });
    }
    if !step(&at(&["checkout", "-q", "--detach", &source.commit]), deadline, log, seconds).await? {
        return Err(BuildError::CommitNotFound { url: url.into(), commit: source.commit.clone() });
    }
    Ok(())
}
