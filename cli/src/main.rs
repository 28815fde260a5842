//! `outlayer`: run guests locally, build guest crates, and (with the coordinator) serve the API.

mod build;
mod builder;
mod hardening;
mod keys;
mod keystore;
mod login;
mod new;
mod run;
mod secrets;
mod serve;
mod verify;

use clap::{Parser, Subcommand};

/// OutLayer: verifiable off-chain computation for NEAR smart contracts.
#[derive(Parser)]
#[command(name = "outlayer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a component (or a WASI preview1 module) locally under limits.
    Run(run::RunArgs),
    /// Build a guest crate into a wasm32-wasip2 component and print its path.
    Build(build::BuildArgs),
    /// Create a guest crate (a WASI command, or a typed guest with --typed) using outlayer-sdk.
    New(new::NewArgs),
    /// Run the coordinator and a worker in one process (SQLite by default): the HTTPS API.
    Serve(serve::ServeArgs),
    /// Run the coordinator (API server and job queue) alone.
    Coordinator(serve::CoordinatorArgs),
    /// Run a worker that leases jobs from a coordinator.
    Worker(serve::WorkerArgs),
    /// Run a builder: leases builds from source from a coordinator and builds them in a
    /// bubblewrap sandbox (never on a worker that holds secrets).
    Builder(builder::BuilderArgs),
    /// Run the keystore: derives every key from one master secret and releases secrets,
    /// project storage keys and the VRF key only to attested workers (default port 8081).
    Keystore(keystore::KeystoreArgs),
    /// Seal secrets locally for a keystore (`outlayer secrets seal --help`).
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Run the conformance suite against this host or a running one (--host URL), with the
    /// guests of --guests DIR, or built on demand in the checkout it runs in.
    Conformance(outlayer_conformance::ConformanceArgs),
    /// Verify a call's result: authenticity (TDX quote to Intel's root), identity (measurements
    /// against a policy), binding (signed receipt, key, payloads). Exit 0 proven, 1 failed,
    /// 2 unproven, 3 usage; `outlayer verify --help` for the modes (call, run, tx, bundle, --vrf).
    Verify(verify::RawArgs),
    /// Sign in to a coordinator as a NEAR account (NEP-413, a full-access key from --key-file)
    /// and print the owner token.
    Login(login::LoginArgs),
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("OUTLAYER_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::main(args),
        Command::Build(args) => build::main(args),
        Command::New(args) => new::main(args),
        Command::Serve(args) => serve::serve(args),
        Command::Coordinator(args) => serve::coordinator(args),
        Command::Worker(args) => serve::worker(args),
        Command::Builder(args) => builder::main(args),
        Command::Keystore(args) => keystore::main(args),
        Command::Secrets(command) => secrets::main(command),
        Command::Conformance(args) => outlayer_conformance::cli::main_blocking(args).map_err(Into::into),
        Command::Verify(args) => Ok(verify::main(args)),
        Command::Login(args) => login::main(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
