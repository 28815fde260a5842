//! One test per folder of `cases/`, each run against the in-process host, with the guests built
//! by `outlayer-guest-artifacts` (`outlayer_guest_artifacts::DIR`).
//!
//! `harness = false`: libtest-mimic lists the folders at run time, so a new folder is a new test
//! without touching code, and `cargo test -p outlayer-conformance -- storage` filters as usual.

use libtest_mimic::{Arguments, Failed, Trial};
use outlayer_conformance::{Case, InProcessHost, RunEnv, default_cases_dir, run_case};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// What all trials share: one tokio runtime, one host, the recorded node.
struct Shared {
    tokio: tokio::runtime::Runtime,
    host: InProcessHost,
    env: RunEnv,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
        let env = tokio.block_on(RunEnv::start(Path::new(outlayer_guest_artifacts::DIR))).expect("recorded node");
        let host = InProcessHost::new().expect("in-process host");
        Shared { tokio, host, env }
    })
}

fn main() -> anyhow::Result<()> {
    let args = Arguments::from_args();
    let dir = default_cases_dir();
    let mut trials = Vec::new();
    for folder in Case::folders(&dir)? {
        let name = folder.file_name().expect("folder name").to_string_lossy().into_owned();
        let folder = Arc::new(folder);
        trials.push(Trial::test(name, move || {
            let case = Case::load(&folder).map_err(|e| Failed::from(e.to_string()))?;
            let s = shared();
            let outcome = s.tokio.block_on(run_case(&s.host, &case, &s.env));
            if outcome.passed() { Ok(()) } else { Err(outcome.failures.join("\n").into()) }
        }));
    }
    anyhow::ensure!(!trials.is_empty(), "no case folders in {}", dir.display());
    libtest_mimic::run(&args, trials).exit()
}
