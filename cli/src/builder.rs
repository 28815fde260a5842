//! `outlayer builder`: a builder process leasing builds from a coordinator, and the in-process
//! builder of `outlayer serve` (same sandbox, same limits).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use outlayer_builder::{Builder, BuilderConfig};
use outlayer_protocol::build::{BuildSource, BuilderClient};

/// How builds run (shared by `outlayer builder` and `outlayer serve`).
#[derive(clap::Args, Clone, Debug)]
pub struct BuilderOpts {
    /// Working directory of the builder (build directories, the result cache); default
    /// DATA_DIR/builder.
    #[arg(long, env = "OUTLAYER_BUILDER_WORK_DIR")]
    builder_work_dir: Option<PathBuf>,
    /// The cargo home whose registry builds share (the dependency fetch writes it, builds only
    /// read it); default $CARGO_HOME or ~/.cargo.
    #[arg(long, env = "OUTLAYER_BUILDER_CARGO_HOME")]
    builder_cargo_home: Option<PathBuf>,
    /// The pinned rustup toolchain builds use.
    #[arg(long, env = "OUTLAYER_BUILDER_TOOLCHAIN", default_value = outlayer_builder::PINNED_TOOLCHAIN)]
    builder_toolchain: String,
    /// Wall time of one build (clone, fetch, compile), seconds; past it the build is killed.
    #[arg(long, env = "OUTLAYER_BUILD_TIMEOUT_SECS", default_value_t = outlayer_builder::config::DEFAULT_BUILD_TIMEOUT.as_secs())]
    build_timeout_secs: u64,
    /// Address-space limit of every build process, MiB.
    #[arg(long, env = "OUTLAYER_BUILD_MEMORY_MB", default_value_t = outlayer_builder::config::DEFAULT_MEMORY_BYTES >> 20)]
    build_memory_mb: u64,
    /// Largest wasm a build may produce, bytes.
    #[arg(long, env = "OUTLAYER_BUILD_MAX_WASM_BYTES", default_value_t = outlayer_builder::config::DEFAULT_MAX_WASM_BYTES)]
    build_max_wasm_bytes: u64,
    /// URL schemes git may fetch from (repeat; default https). `file` is for tests and local
    /// development only.
    #[arg(long = "builder-allow-scheme", env = "OUTLAYER_BUILDER_ALLOW_SCHEMES", value_delimiter = ',', default_value = "https")]
    builder_allow_schemes: Vec<String>,
    /// The bubblewrap binary (builds never run without it).
    #[arg(long, env = "OUTLAYER_BWRAP", default_value = "/usr/bin/bwrap")]
    bwrap: PathBuf,
}

impl BuilderOpts {
    fn config(&self, data_dir: &Path) -> anyhow::Result<BuilderConfig> {
        let cargo_home = match &self.builder_cargo_home {
            Some(dir) => dir.clone(),
            None => match std::env::var_os("CARGO_HOME") {
                Some(dir) => PathBuf::from(dir),
                None => PathBuf::from(std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?).join(".cargo"),
            },
        };
        let mut config = BuilderConfig::new(self.builder_work_dir.clone().unwrap_or_else(|| data_dir.join("builder")), cargo_home);
        config.toolchain = self.builder_toolchain.clone();
        config.limits.timeout = Duration::from_secs(self.build_timeout_secs.max(1));
        config.limits.memory_bytes = self.build_memory_mb.max(1) << 20;
        config.limits.max_wasm_bytes = self.build_max_wasm_bytes;
        config.allowed_schemes = self.builder_allow_schemes.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        config.bwrap = self.bwrap.clone();
        for scheme in &config.allowed_schemes {
            if scheme != "https" {
                eprintln!("warning: the builder fetches from {scheme}:// URLs too (development and tests only)");
            }
        }
        Ok(config)
    }
}

/// `outlayer builder`.
#[derive(clap::Args)]
pub struct BuilderArgs {
    /// Coordinator base URL.
    #[arg(long, env = "OUTLAYER_COORDINATOR_URL")]
    coordinator: String,
    /// The coordinator's builder token (its `--builder-token`).
    #[arg(long, env = "OUTLAYER_BUILDER_TOKEN", hide_env_values = true)]
    builder_token: String,
    #[command(flatten)]
    opts: BuilderOpts,
    /// Where local state lives.
    #[arg(long, env = "OUTLAYER_DATA_DIR", default_value = ".outlayer")]
    data_dir: PathBuf,
}

/// Runs `outlayer builder` until Ctrl-C.
pub fn main(args: BuilderArgs) -> anyhow::Result<ExitCode> {
    tokio::runtime::Runtime::new()?.block_on(async move {
        let builder = Builder::new(args.opts.config(&args.data_dir)?).await.context("starting the builder")?;
        eprintln!("OutLayer builder ({}) leasing builds from {}", builder.toolchain().version, args.coordinator);
        let source: Arc<dyn BuildSource> = Arc::new(BuilderClient::new(&args.coordinator, &args.builder_token)?);
        outlayer_builder::run_builder(source, Arc::new(builder), crate::serve::shutdown_signal()).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Starts the in-process builder of `outlayer serve` on the coordinator `state`; `None` (with a
/// warning) when it cannot start (no bubblewrap, no toolchain): serve still runs, builds wait.
pub async fn embedded(
    state: outlayer_coordinator::AppState,
    opts: &BuilderOpts,
    data_dir: &Path,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Option<tokio::task::JoinHandle<()>> {
    let config = match opts.config(data_dir) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("warning: no in-process builder: {e:#}");
            return None;
        }
    };
    match Builder::new(config).await {
        Ok(builder) => {
            let source: Arc<dyn BuildSource> = Arc::new(outlayer_coordinator::builds::EmbeddedBuildSource::new(state));
            Some(tokio::spawn(outlayer_builder::run_builder(source, Arc::new(builder), stop)))
        }
        Err(e) => {
            eprintln!("warning: no in-process builder (versions from source stay queued): {e}");
            None
        }
    }
}
