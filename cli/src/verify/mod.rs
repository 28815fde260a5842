//! `outlayer verify`: the tool a sceptical caller runs on a result (issue 9).
//!
//! The checks themselves are [`outlayer_attest::verdict`] (pure, shared with the coordinator and
//! the dashboard); this module gets the data and prints the answer.
//!
//! # Layout
//!
//! - this file: the arguments (parsed here, so a usage error exits 3, not clap's 2) and `main`.
//! - [`fetch`]: the coordinator's public endpoints (`/calls/{id}/receipt`,
//!   `/workers/{id}/attestation`, `POST /call/...`).
//! - [`policy`]: the measurement policy from `--measurements FILE` or a register contract.
//! - [`bundle`]: the self-contained evidence file (`--bundle F`, `verify bundle F`).
//! - [`render`]: table, `--short` and `--json` from the same [`Verdict`].
//! - [`tx`]: `verify tx HASH`, an on-chain result from its `resolve_execution` transaction,
//!   and its bundle.
//! - [`vrf`]: `verify --vrf`, a vrf proof checked offline (ECVRF, RFC 9381).

pub mod bundle;
pub mod fetch;
pub mod policy;
pub mod render;
pub mod tx;
pub mod vrf;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use outlayer_attest::verdict::{AttestedWorker, MeasurementPolicy, Options, Subject, Verdict, verify};
use outlayer_attest::{DEFAULT_ACCEPTED_TCB_STATUSES, TcbStatus};

/// Exit status of a usage error (0, 1, 2 are the verdict's: proven, failed, unproven).
pub const EXIT_USAGE: u8 = 3;
/// Exit status when the data could not be obtained (nothing was proven).
pub const EXIT_NOT_OBTAINED: u8 = 2;

/// `outlayer verify ARGS...`: the arguments are parsed by [`VerifyCli`] so that usage errors
/// exit with [`EXIT_USAGE`].
#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct RawArgs {
    /// `call ID`, `run OWNER/PROJECT`, `tx HASH` or `bundle FILE` and their options (see `outlayer verify --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<String>,
}

/// Verify a call's result: authenticity (the TDX quote's chain to Intel's root), identity (its
/// measurements against a policy) and binding (the signed receipt, its key, the payloads).
/// Exit status: 0 all proven, 1 a layer failed, 2 something unproven (nothing failed), 3 usage.
///
/// `outlayer verify --vrf --pubkey HEX (--alpha S | --request-id ID --seed S) --proof HEX
/// [--output HEX]` checks a vrf proof offline instead (see `outlayer verify --vrf --help`).
#[derive(Parser)]
#[command(name = "outlayer verify")]
struct VerifyCli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Verify a finished call by id (fetches its receipt and the worker's attestation).
    Call(CallArgs),
    /// Make a call, keep the exact input and output bytes, and verify the result.
    Run(RunArgs),
    /// Verify an on-chain result from its `resolve_execution` transaction (over NEAR RPC).
    Tx(TxArgs),
    /// Re-verify a saved evidence bundle (recomputes every check from the bundle's data).
    Bundle(BundleArgs),
}

#[derive(Args)]
struct TxArgs {
    /// The transaction hash (base58) of the worker's `resolve_execution`.
    hash: String,
    /// The account that signed it (the OutLayer contract's account for worker keys).
    #[arg(long)]
    signer: String,
    /// The exact input bytes the guest read; without it the input digest is unproven.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Write a self-contained evidence bundle here (it records the node's `tx` answer).
    #[arg(long)]
    bundle: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct CallArgs {
    /// The call id.
    id: String,
    /// The coordinator.
    #[arg(long, env = "OUTLAYER_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The exact input bytes sent (the JSON text of the request's `input` as the coordinator
    /// serialized it); without it the input digest is unproven.
    #[arg(long)]
    input: Option<PathBuf>,
    /// The exact output bytes received (decoded `output_base64`); without it the output digest
    /// is unproven.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Write a self-contained evidence bundle here.
    #[arg(long)]
    bundle: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct RunArgs {
    /// `owner/project`.
    project: String,
    /// The call's input, as JSON text (e.g. '{"x":1}').
    #[arg(long)]
    input: String,
    /// The payment key paying for the call.
    #[arg(long, env = "OUTLAYER_PAYMENT_KEY", hide_env_values = true)]
    payment_key: String,
    /// The coordinator.
    #[arg(long, env = "OUTLAYER_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Write a self-contained evidence bundle here.
    #[arg(long)]
    bundle: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct BundleArgs {
    /// The bundle file.
    file: PathBuf,
    /// Use no network at all (refuses --register-contract).
    #[arg(long, conflicts_with = "register_contract")]
    offline: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct Common {
    /// Verify as of this unix time (seconds): the collateral must be valid then. Default: now
    /// (for a bundle: the time it was verified when written).
    #[arg(long)]
    at: Option<u64>,
    /// Count dev attestation (not a TEE) as authentic; it is still reported as dev.
    #[arg(long)]
    allow_dev_attestation: bool,
    /// The allowed measurements: the operator's allowlist JSON file `[{"mrtd":…, "rtmr0":…, …}]`.
    #[arg(long, conflicts_with = "register_contract")]
    measurements: Option<PathBuf>,
    /// The allowed measurements: a register contract's approved list (needs --rpc).
    #[arg(long, requires = "rpc")]
    register_contract: Option<String>,
    /// NEAR JSON-RPC endpoint: for --register-contract, and where `verify tx` reads the
    /// transaction.
    #[arg(long)]
    rpc: Option<String>,
    /// Accepted TCB statuses (repeatable; default UpToDate).
    #[arg(long = "accept-tcb", value_parser = parse_tcb)]
    accept_tcb: Vec<TcbStatus>,
    /// One line per layer.
    #[arg(long, conflicts_with = "json")]
    short: bool,
    /// Machine output (the same data as the table).
    #[arg(long)]
    json: bool,
}

fn parse_tcb(s: &str) -> Result<TcbStatus, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("unknown TCB status {s} (e.g. UpToDate, SWHardeningNeeded)"))
}

/// A usage error: bad arguments or files the caller named that cannot be read.
#[derive(Debug)]
struct Usage(anyhow::Error);

/// Runs `outlayer verify`; the exit status is the verdict's (or 3 for usage).
pub fn main(raw: RawArgs) -> ExitCode {
    if let Some(args) = vrf_mode(&raw.args) {
        return ExitCode::from(vrf::main(args));
    }
    let cli = match VerifyCli::try_parse_from(std::iter::once("outlayer verify".to_owned()).chain(raw.args)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli.mode)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => match e.downcast::<Usage>() {
            Ok(Usage(e)) => {
                eprintln!("usage error: {e:#}");
                ExitCode::from(EXIT_USAGE)
            }
            Err(e) => {
                eprintln!("error: {e:#}\nnothing was proven");
                ExitCode::from(EXIT_NOT_OBTAINED)
            }
        },
    }
}

/// The arguments of `verify --vrf` (without the flag) when `--vrf` was given outside a
/// subcommand.
fn vrf_mode(args: &[String]) -> Option<Vec<String>> {
    let subcommand = args.first().is_some_and(|a| ["call", "run", "tx", "bundle", "help"].contains(&a.as_str()));
    (!subcommand && args.iter().any(|a| a == "--vrf")).then(|| args.iter().filter(|a| *a != "--vrf").cloned().collect())
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(e: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(Usage(e))
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn read_file(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {what} {}", path.display())).map_err(usage)
}

/// The options of the checks from the flags (`policy` already resolved).
fn options(common: &Common, at: u64, policy: MeasurementPolicy) -> Options {
    let accepted = if common.accept_tcb.is_empty() { DEFAULT_ACCEPTED_TCB_STATUSES.to_vec() } else { common.accept_tcb.clone() };
    Options { at, allow_dev: common.allow_dev_attestation, accepted_tcb_statuses: accepted, policy }
}

/// `--rpc` is only used with `--register-contract` outside `verify tx`.
fn no_lone_rpc(common: &Common) -> anyhow::Result<()> {
    if common.rpc.is_some() && common.register_contract.is_none() {
        return Err(usage(anyhow::anyhow!("--rpc is only used with --register-contract here")));
    }
    Ok(())
}

async fn run(mode: Mode) -> anyhow::Result<u8> {
    match &mode {
        Mode::Call(CallArgs { common, .. }) | Mode::Run(RunArgs { common, .. }) | Mode::Bundle(BundleArgs { common, .. }) => {
            no_lone_rpc(common)?
        }
        Mode::Tx(_) => {}
    }
    match mode {
        Mode::Call(args) => {
            let input = args.input.as_ref().map(|p| read_file(p, "--input")).transpose()?;
            let output = args.output.as_ref().map(|p| read_file(p, "--output")).transpose()?;
            let flag_policy = policy::from_flags(&args.common).await.map_err(usage)?;
            let client = fetch::Client::new(&args.url);
            let fetched = client.receipt(&args.id).await?;
            let worker = client.attestation(&fetched.attestation_url).await?;
            let case = Case {
                receipt: fetched.receipt,
                worker,
                input,
                output,
                call_id: Some(args.id.clone()),
                project: None,
                source: args.url.clone(),
            };
            let at = args.common.at.unwrap_or_else(now);
            finish(
                case,
                &args.common,
                at,
                flag_policy.unwrap_or(MeasurementPolicy::None),
                args.bundle.as_deref(),
                &format!("call {}", args.id),
            )
        }
        Mode::Run(args) => {
            let value: serde_json::Value = serde_json::from_str(&args.input).context("--input is not JSON").map_err(usage)?;
            if !args.project.contains('/') {
                return Err(usage(anyhow::anyhow!("the project must be OWNER/PROJECT, got {}", args.project)));
            }
            let flag_policy = policy::from_flags(&args.common).await.map_err(usage)?;
            let client = fetch::Client::new(&args.url);
            let call = client.call(&args.project, &value, &args.payment_key).await?;
            let worker = client.attestation(&fetch::attestation_path(&call.receipt.receipt.worker_id)).await?;
            let case = Case {
                input: Some(call.input),
                output: Some(call.output),
                call_id: Some(call.call_id.clone()),
                project: Some(args.project.clone()),
                receipt: call.receipt,
                worker,
                source: args.url.clone(),
            };
            let at = args.common.at.unwrap_or_else(now);
            let title = format!("call {} of {}", call.call_id, args.project);
            finish(case, &args.common, at, flag_policy.unwrap_or(MeasurementPolicy::None), args.bundle.as_deref(), &title)
        }
        Mode::Tx(args) => run_tx(args).await,
        Mode::Bundle(args) => {
            let text = read_file(&args.file, "bundle")?;
            if serde_json::from_slice::<serde_json::Value>(&text).ok().and_then(|v| v["format"].as_str().map(str::to_owned)).as_deref()
                == Some(tx::FORMAT)
            {
                return tx_bundle(&args, &text).await;
            }
            let saved = bundle::Bundle::from_json(&text).map_err(usage)?;
            let flag_policy = policy::from_flags(&args.common).await.map_err(usage)?;
            let at = args.common.at.unwrap_or(saved.verified_at);
            let policy = flag_policy.unwrap_or_else(|| saved.recorded_policy());
            let case = saved.case().map_err(usage)?;
            let verdict = case.verdict(&options(&args.common, at, policy));
            render::print(&verdict, &format!("bundle {}", args.file.display()), args.common.short, args.common.json);
            Ok(verdict.exit_code())
        }
    }
}

/// Everything a verdict is computed from (what a bundle holds).
pub struct Case {
    /// The signed receipt.
    pub receipt: outlayer_attest::receipt::SignedReceipt,
    /// The attested worker (record from the coordinator).
    pub worker: fetch::WorkerRecord,
    /// The exact input bytes, if kept.
    pub input: Option<Vec<u8>>,
    /// The exact output bytes, if kept.
    pub output: Option<Vec<u8>>,
    /// The call asked about.
    pub call_id: Option<String>,
    /// The project called.
    pub project: Option<String>,
    /// Where it came from (coordinator URL).
    pub source: String,
}

impl Case {
    /// Runs every check.
    pub fn verdict(&self, options: &Options) -> Verdict {
        let worker: &AttestedWorker = &self.worker.attested;
        let subject = Subject {
            receipt: &self.receipt,
            worker,
            input: self.input.as_deref(),
            output: self.output.as_deref(),
            call_id: self.call_id.as_deref(),
            project: self.project.as_deref(),
        };
        verify(&subject, options)
    }
}

fn finish(case: Case, common: &Common, at: u64, policy: MeasurementPolicy, bundle_path: Option<&Path>, title: &str) -> anyhow::Result<u8> {
    let options = options(common, at, policy);
    let verdict = case.verdict(&options);
    if let Some(path) = bundle_path {
        let saved = bundle::Bundle::new(&case, &options, &verdict);
        std::fs::write(path, saved.to_json()).with_context(|| format!("writing the bundle {}", path.display()))?;
        if !common.json {
            eprintln!("evidence bundle written to {} (re-verify: outlayer verify bundle {} --offline)", path.display(), path.display());
        }
    }
    render::print(&verdict, title, common.short, common.json);
    Ok(verdict.exit_code())
}

/// `verify tx HASH --signer ACCOUNT --rpc URL [--register-contract ACCOUNT]`.
async fn run_tx(args: TxArgs) -> anyhow::Result<u8> {
    let Some(rpc) = args.common.rpc.clone() else {
        return Err(usage(anyhow::anyhow!("verify tx needs --rpc URL (a NEAR JSON-RPC endpoint)")));
    };
    let input = args.input.as_ref().map(|p| read_file(p, "--input")).transpose()?;
    let policy = policy::from_flags(&args.common).await.map_err(usage)?.unwrap_or(MeasurementPolicy::None);
    let client = outlayer_near::RpcClient::new(&rpc);
    let status = tx::fetch_status(&client, &args.hash, &args.signer).await?;
    let resolution = tx::resolution(&status, &args.hash).map_err(not_a_resolution)?;
    let register = match &args.common.register_contract {
        Some(account) => Some(tx::read_register(&client, &rpc, account, &resolution.signer_public_key).await),
        None => None,
    };
    let at = args.common.at.unwrap_or_else(now);
    let verdict = tx::verdict(&resolution, register.as_ref(), input.as_deref(), at, &policy);
    if let Some(path) = &args.bundle {
        use base64::Engine;
        let saved = tx::TxBundle {
            format: tx::FORMAT.to_owned(),
            verified_at: at,
            rpc: rpc.clone(),
            tx_hash: args.hash.clone(),
            signer_id: args.signer.clone(),
            tx_status: status,
            register,
            input_base64: input.as_ref().map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
            policy,
            verdict: Some(verdict.clone()),
        };
        std::fs::write(path, saved.to_json()).with_context(|| format!("writing the bundle {}", path.display()))?;
        if !args.common.json {
            eprintln!("evidence bundle written to {} (re-verify: outlayer verify bundle {} --offline)", path.display(), path.display());
        }
    }
    let title = format!("transaction {} (request {} on {})", args.hash, resolution.request_id, resolution.contract_id);
    render::print(&verdict, &title, args.common.short, args.common.json);
    Ok(verdict.exit_code())
}

/// `verify bundle FILE` of a transaction bundle: every check recomputed from the recorded `tx`
/// answer and register contract record.
async fn tx_bundle(args: &BundleArgs, text: &[u8]) -> anyhow::Result<u8> {
    let saved = tx::TxBundle::from_json(text).map_err(usage)?;
    let flag_policy = policy::from_flags(&args.common).await.map_err(usage)?;
    let at = args.common.at.unwrap_or(saved.verified_at);
    let policy = flag_policy.unwrap_or_else(|| saved.recorded_policy());
    let verdict = saved.verdict(at, &policy).map_err(not_a_resolution)?;
    let title = format!("bundle {} (transaction {})", args.file.display(), saved.tx_hash);
    render::print(&verdict, &title, args.common.short, args.common.json);
    Ok(verdict.exit_code())
}

/// A transaction that is not a `resolve_execution` is the caller's mistake (exit 3).
fn not_a_resolution(e: anyhow::Error) -> anyhow::Error {
    if tx::is_not_a_resolution(&e) { usage(e.context("verify tx takes the hash of a worker's resolve_execution transaction")) } else { e }
}
