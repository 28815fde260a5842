//! `outlayer run`: execute a guest locally. Output on stdout, a one-line JSON summary on stderr,
//! non-zero exit status when the execution failed.

use anyhow::Context;
use outlayer_host::caps::Backends;
use outlayer_host::caps::payment::{Currency, PaymentGrant};
use outlayer_host::{Capability, ExecutionContext, ExecutionKind, ExecutionRequest, Grants, Limits, ProjectRef, Runtime, RuntimeConfig};
use outlayer_storage::{MemoryStorage, SqliteStorage, StorageBackend};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Exit status when the guest ran and failed (1 is left to the guest's own meaning).
const EXIT_GUEST_FAILED: u8 = 1;

/// Arguments of `outlayer run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The component (`.wasm`, WASI 0.2 command or typed) or WASI preview1 module.
    wasm: PathBuf,
    /// Input for the guest (its stdin, or the typed `run` argument); `@FILE` reads a file, `@-` stdin.
    #[arg(long, default_value = "")]
    input: String,
    /// Grant a capability: storage, secrets, rpc, payment, vrf, http=HOST[,HOST...] (repeatable,
    /// or comma-separated). Http hosts: `api.example.com`, `*.example.org`, optional `:port`,
    /// `http://` prefix to allow plain http (https only otherwise).
    #[arg(long = "grant", value_delimiter = ',')]
    grants: Vec<String>,
    /// TEST-ONLY: let granted http reach this loopback HOST:PORT despite the SSRF rules
    /// (repeatable). Never use in production; said aloud on stderr when used.
    #[arg(long = "http-admit-loopback-for-tests", value_name = "HOST:PORT")]
    http_admit_loopback_for_tests: Vec<std::net::SocketAddr>,
    /// A secret given to the guest, NAME=VALUE (repeatable; implies --grant secrets).
    #[arg(long = "secret", value_parser = parse_secret)]
    secrets: Vec<(String, String)>,
    /// Instruction budget.
    #[arg(long, default_value_t = outlayer_host::limits::DEFAULT_MAX_INSTRUCTIONS)]
    max_instructions: u64,
    /// Linear memory cap in MiB.
    #[arg(long, default_value_t = outlayer_host::limits::DEFAULT_MAX_MEMORY_BYTES >> 20)]
    max_memory_mb: u64,
    /// Wall-clock limit in milliseconds.
    #[arg(long, default_value_t = outlayer_host::limits::DEFAULT_MAX_WALL.as_millis() as u64)]
    timeout_ms: u64,
    /// Cap on stdout bytes.
    #[arg(long, default_value_t = outlayer_host::limits::DEFAULT_MAX_STDOUT_BYTES)]
    max_output_bytes: u64,
    /// Where OutLayer keeps local state (storage database, compiled cache, worker key).
    #[arg(long, env = "OUTLAYER_DATA_DIR", default_value = ".outlayer")]
    data_dir: PathBuf,
    /// Keep storage in memory for this run only instead of the SQLite file.
    #[arg(long)]
    ephemeral_storage: bool,
    /// Compile without the on-disk artifact cache.
    #[arg(long)]
    no_cache: bool,
    /// NEAR JSON-RPC endpoint for the rpc capability.
    #[arg(long, env = "OUTLAYER_RPC_URL", default_value = "https://rpc.testnet.near.org", hide_env_values = true)]
    rpc_url: String,
    /// Network name shown to the guest.
    #[arg(long, default_value = "testnet")]
    network: String,
    /// Account the execution runs on behalf of (its storage scope).
    #[arg(long)]
    caller: Option<String>,
    /// Project `owner/name` (storage is then per project rather than per component hash).
    #[arg(long)]
    project: Option<String>,
    /// Request id (binds vrf output); random by default.
    #[arg(long)]
    request_id: Option<String>,
    /// Deposit attached for the guest (payment capability), in micro-USD.
    #[arg(long, default_value_t = 0)]
    attached_usd_micro: u128,
}

fn parse_secret(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("{s:?} is not NAME=VALUE"))?;
    if k.is_empty() {
        return Err("secret name is empty".into());
    }
    Ok((k.to_string(), v.to_string()))
}

/// `--grant` values: capability names, `http=HOST` and the hosts that follow it (the values
/// are split at commas, so `http=a.com,b.com,storage` is http to a.com and b.com, and storage).
fn parse_grants(values: &[String]) -> anyhow::Result<(Vec<Capability>, Vec<String>)> {
    let (mut capabilities, mut hosts) = (Vec::new(), Vec::new());
    let mut in_http = false;
    for value in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        if let Some(first) = value.strip_prefix("http=") {
            capabilities.push(Capability::Http);
            hosts.push(first.to_string());
            in_http = true;
        } else if let Ok(c) = value.parse::<Capability>() {
            capabilities.push(c);
            in_http = false;
        } else if in_http {
            hosts.push(value.to_string());
        } else {
            anyhow::bail!("unknown capability {value:?} (expected storage, secrets, rpc, payment, vrf or http=HOST,...)");
        }
    }
    Ok((capabilities, hosts))
}

fn read_input(spec: &str) -> anyhow::Result<Vec<u8>> {
    match spec.strip_prefix('@') {
        Some("-") => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
            Ok(buf)
        }
        Some(path) => std::fs::read(path).with_context(|| format!("reading input file {path}")),
        None => Ok(spec.as_bytes().to_vec()),
    }
}

pub fn main(args: RunArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run(args))
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let wasm = std::fs::read(&args.wasm).with_context(|| format!("reading {}", args.wasm.display()))?;
    let input = read_input(&args.input)?;
    let limits = Limits {
        max_instructions: args.max_instructions,
        max_memory_bytes: args.max_memory_mb << 20,
        max_wall: Duration::from_millis(args.timeout_ms),
        max_stdout_bytes: args.max_output_bytes,
        ..Limits::default()
    };
    limits.validate()?;

    let project = args
        .project
        .as_deref()
        .map(|p| {
            let (owner, name) = p.split_once('/').context("--project must be owner/name")?;
            Ok::<_, anyhow::Error>(ProjectRef { owner: owner.into(), name: name.into(), id: p.into() })
        })
        .transpose()?;
    let context = ExecutionContext {
        request_id: args.request_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        kind: ExecutionKind::Local,
        network: args.network.clone(),
        caller: args.caller.clone(),
        project,
        ..Default::default()
    };

    let (mut wanted, http_hosts) = parse_grants(&args.grants)?;
    if !args.secrets.is_empty() {
        wanted.push(Capability::Secrets);
    }
    // Backends are opened only for what is granted (no storage file or key otherwise).
    let storage: Option<Arc<dyn StorageBackend>> = match wanted.contains(&Capability::Storage) {
        false => None,
        true if args.ephemeral_storage => Some(Arc::new(MemoryStorage::new())),
        true => {
            std::fs::create_dir_all(&args.data_dir)?;
            Some(Arc::new(SqliteStorage::open(&args.data_dir.join("storage.sqlite")).await?))
        }
    };
    let vrf_key = match wanted.contains(&Capability::Vrf) {
        true => Some(Arc::new(outlayer_attest::vrf::VrfSecretKey::from_seed(
            crate::keys::load_or_create(&args.data_dir.join("worker.key"))?.to_bytes(),
        ))),
        false => None,
    };
    let backends = Backends {
        storage,
        rpc_url: Some(args.rpc_url.clone()),
        vrf_key,
        secrets: Some(Arc::new(args.secrets.iter().cloned().collect::<BTreeMap<_, _>>())),
        http_test_admit: args.http_admit_loopback_for_tests.clone(),
    };
    for addr in &args.http_admit_loopback_for_tests {
        if !addr.ip().is_loopback() {
            anyhow::bail!("--http-admit-loopback-for-tests admits loopback addresses only, not {addr}");
        }
        eprintln!("warning: TEST-ONLY --http-admit-loopback-for-tests: granted http may reach {addr} (SSRF protection bypassed for it)");
    }
    let payment = PaymentGrant { currency: Currency::UsdMicro, attached: args.attached_usd_micro, budget: 0 };
    let grants = Grants::build(&wanted, &backends, payment)?.allow_http(&http_hosts)?;

    let cache_dir = (!args.no_cache).then(|| args.data_dir.join("cache"));
    let runtime = Runtime::new(RuntimeConfig { cache_dir, ..Default::default() })?;
    let prepared = {
        let runtime = runtime.clone();
        tokio::task::spawn_blocking(move || runtime.prepare(&wasm)).await??
    };
    let report = runtime.execute(&prepared, ExecutionRequest { input, limits, grants, context }).await?;

    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&report.output)?;
    stdout.flush()?;
    let mut stderr = std::io::stderr().lock();
    stderr.write_all(&report.stderr)?;
    writeln!(stderr, "{}", summary(&report, &prepared))?;
    Ok(if report.outcome.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_GUEST_FAILED) })
}

/// The one-line JSON summary: outcome (with its details), counters, and only the host calls
/// that happened.
fn summary(report: &outlayer_host::ExecutionReport, prepared: &outlayer_host::Prepared) -> serde_json::Value {
    let mut v = serde_json::to_value(&report.outcome).expect("outcome serialises");
    let calls = serde_json::to_value(&report.host_calls).expect("stats serialise");
    let used: serde_json::Map<_, _> = calls
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, s)| s.as_object().is_some_and(|o| o.values().any(|n| n.as_u64() != Some(0))))
        .map(|(k, s)| (k.clone(), s.clone()))
        .collect();
    v["instructions"] = report.instructions.into();
    v["wall_ms"] = (report.wall.as_millis() as u64).into();
    v["peak_memory_bytes"] = report.peak_memory_bytes.into();
    if let Some(r) = report.refund {
        v["refund"] = r.to_string().into();
    }
    if !used.is_empty() {
        v["host_calls"] = used.into();
    }
    v["shape"] = prepared.shape().into();
    v["cache"] = format!("{:?}", prepared.cache_status).to_lowercase().into();
    v
}
