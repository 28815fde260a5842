//! Running cases against a host.

use crate::case::{Case, Step};
use crate::check::mismatches;
use crate::host::ConformanceHost;
use crate::http_server::{self, PLACEHOLDER, TestServer};
use crate::report::{CaseOutcome, Report};
use crate::wire::{CaseRequest, GrantsSpec, HttpSpec, RpcSpec, StorageSpec};
use crate::{ConformanceError, node};
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Cases [`run_all`] runs at once. Hostile cases mostly wait on the wall clock, so a few run
/// side by side even on two cores.
pub const CONCURRENT_CASES: usize = 4;

/// What the suite provides to every case.
#[derive(Clone, Debug)]
pub struct RunEnv {
    /// URL of the recorded NEAR RPC node (for `[grants.rpc] node = "recorded"`).
    pub rpc_url: Option<String>,
    /// The directory of built guests the cases name (see [`crate::guests`]).
    pub guests: PathBuf,
}

impl RunEnv {
    /// Start the suite's services (the recorded NEAR RPC node) on loopback ports; cases read
    /// their guests from `guests`.
    pub async fn start(guests: &Path) -> Result<RunEnv, ConformanceError> {
        if !guests.is_dir() {
            return Err(ConformanceError::GuestsDir(guests.to_path_buf()));
        }
        Ok(RunEnv { rpc_url: Some(node::start().await.map_err(ConformanceError::Node)?), guests: guests.to_path_buf() })
    }
}

/// Run every case under `cases_dir` on `host`, reading guests from the directory `guests`.
pub async fn run_all(host: &dyn ConformanceHost, cases_dir: &Path, guests: &Path) -> Result<Report, ConformanceError> {
    let env = RunEnv::start(guests).await?;
    let dirs = Case::folders(cases_dir).map_err(|source| ConformanceError::Cases { path: cases_dir.to_path_buf(), source })?;
    let mut cases: Vec<CaseOutcome> = futures::stream::iter(dirs)
        .map(|dir| {
            let env = &env;
            async move {
                match Case::load(&dir) {
                    Ok(case) => run_case(host, &case, env).await,
                    Err(e) => failed_to_load(&dir, e.to_string()),
                }
            }
        })
        .buffer_unordered(CONCURRENT_CASES)
        .collect()
        .await;
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Report { host: host.name(), cases })
}

fn failed_to_load(dir: &Path, why: String) -> CaseOutcome {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    CaseOutcome { name, failures: vec![why], outcomes: Vec::new(), instructions: 0, elapsed: Default::default() }
}

/// Run the steps of `case` in order on `host`, checking each.
pub async fn run_case(host: &dyn ConformanceHost, case: &Case, env: &RunEnv) -> CaseOutcome {
    let started = Instant::now();
    let mut outcome =
        CaseOutcome { name: case.name.clone(), failures: Vec::new(), outcomes: Vec::new(), instructions: 0, elapsed: Default::default() };
    let wasm = match case.wasm(&env.guests) {
        Ok(w) => w,
        Err(e) => {
            outcome.failures.push(e.to_string());
            return outcome;
        }
    };
    // The case's HTTP test server, if it asks for one (stopped when the case ends).
    let server: Option<TestServer> = match &case.manifest.http_server {
        None => None,
        Some(spec) => match http_server::start(spec).await {
            Ok(s) => Some(s),
            Err(e) => {
                outcome.failures.push(format!("cannot start the http test server: {e}"));
                return outcome;
            }
        },
    };
    let server = server.as_ref().map(|s| s.addr);
    // A store name no earlier run used, so a long-lived remote host starts this case empty.
    let store = format!("{}-{}", case.name, uuid::Uuid::new_v4());
    for (i, step) in case.manifest.run.iter().enumerate() {
        let step_wasm = match &step.guest {
            Some(name) => match case.guest_wasm(name, &env.guests) {
                Ok(w) => w,
                Err(e) => {
                    outcome.failures.push(format!("step {}: {e}", i + 1));
                    break;
                }
            },
            None => wasm.clone(),
        };
        let request = match request(case, step, i, &step_wasm, &store, env, server) {
            Ok(r) => r,
            Err(e) => {
                outcome.failures.push(format!("step {}: {e}", i + 1));
                break;
            }
        };
        match host.run(&request).await {
            Ok(result) => {
                outcome.outcomes.push(result.outcome().to_string());
                outcome.instructions += result.instructions();
                let prefix = if case.manifest.run.len() > 1 { format!("step {}: ", i + 1) } else { String::new() };
                outcome.failures.extend(mismatches(&step.expect, &result).into_iter().map(|m| format!("{prefix}{m}")));
            }
            Err(e) => {
                outcome.failures.push(format!("step {}: {e}", i + 1));
                break;
            }
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// The wire request for step `i` of `case`.
fn request(
    case: &Case,
    step: &Step,
    i: usize,
    wasm: &[u8],
    store: &str,
    env: &RunEnv,
    server: Option<std::net::SocketAddr>,
) -> Result<CaseRequest, String> {
    let m = &case.manifest;
    // `{http_server}` in the input and the allowlist: the test server's `127.0.0.1:port`.
    let fill = |text: &str| -> Result<String, String> {
        match (text.contains(PLACEHOLDER), server) {
            (false, _) => Ok(text.to_string()),
            (true, Some(addr)) => Ok(text.replace(PLACEHOLDER, &addr.to_string())),
            (true, None) => Err(format!("{PLACEHOLDER} is used but the case has no [http_server]")),
        }
    };
    let http = match &m.grants.http {
        None => None,
        Some(h) => Some(HttpSpec {
            allowlist: h.allow.iter().map(|e| fill(e)).collect::<Result<_, _>>()?,
            admit_loopback_for_tests: server.into_iter().collect(),
        }),
    };
    let mut input = case.input(step).map_err(|e| e.to_string())?;
    if let Ok(text) = std::str::from_utf8(&input)
        && text.contains(PLACEHOLDER)
    {
        input = fill(text)?.into_bytes();
    }
    let g = &m.grants;
    let rpc = match &g.rpc {
        None => None,
        Some(r) => Some(RpcSpec {
            url: match (&r.url, r.node.as_deref()) {
                (Some(url), _) => url.clone(),
                (None, Some("recorded")) => env.rpc_url.clone().ok_or("the recorded node is not running")?,
                _ => return Err("[grants.rpc] needs url = \"...\" or node = \"recorded\"".into()),
            },
        }),
    };
    let grants = GrantsSpec {
        // Seeds go with the first step only: later steps see what earlier ones left.
        storage: g
            .storage
            .as_ref()
            .map(|s| StorageSpec { store: store.to_string(), seed: if i == 0 { s.seed.clone() } else { Vec::new() } }),
        secrets: g.secrets.clone(),
        rpc,
        payment: g.payment.clone(),
        vrf: g.vrf.clone(),
        http,
    };
    Ok(CaseRequest {
        wasm: wasm.to_vec(),
        input,
        grants,
        limits: m.limits.clone(),
        context: step.context.clone().unwrap_or_else(|| m.context.clone()),
    })
}
