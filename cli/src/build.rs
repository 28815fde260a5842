//! `outlayer build <dir>`: cargo build for wasm32-wasip2, print the component's path. Adds the
//! wasm32-wasip2 target with `rustup target add` first when the toolchain lacks it.

use anyhow::{Context, bail};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

/// The target guests are built for: it emits a component directly.
const TARGET: &str = "wasm32-wasip2";

/// Arguments of `outlayer build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// The guest crate's directory (holding its Cargo.toml).
    dir: PathBuf,
    /// Build in debug mode instead of release.
    #[arg(long)]
    debug: bool,
}

pub fn main(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let manifest = args.dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("{} has no Cargo.toml", args.dir.display());
    }
    // In the crate's folder, so that a rust-toolchain.toml there picks the toolchain to complete.
    outlayer_conformance::guest_build::ensure_targets(&args.dir, &[TARGET])?;
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg("build").arg("--manifest-path").arg(&manifest).args(["--target", TARGET, "--message-format=json-render-diagnostics"]);
    if !args.debug {
        cmd.arg("--release");
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().context("running cargo")?;
    let mut artifacts = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if msg["reason"] == "compiler-artifact" {
            let files = msg["filenames"].as_array().cloned().unwrap_or_default();
            artifacts.extend(files.iter().filter_map(|f| f.as_str()).filter(|f| f.ends_with(".wasm")).map(PathBuf::from));
        }
    }
    if !child.wait()?.success() {
        bail!("cargo build failed");
    }
    match artifacts.last() {
        Some(path) => {
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        None => bail!("the build produced no .wasm (is it a bin or cdylib crate?)"),
    }
}
