//! `outlayer new <name>`: scaffold a guest crate that `outlayer build` turns into a component.
//!
//! The crate is standalone (its own `[workspace]` table) and depends on `outlayer-sdk`:
//! - from crates.io, at this `outlayer`'s version (`outlayer-sdk = "<version>"`), by default;
//! - by path, when `--sdk-path DIR` is given: the `sdk/` folder of an OutLayer checkout, or an
//!   unpacked `outlayer-sdk` package (both ship the WIT the bindings are generated from).

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const CARGO_TOML: &str = include_str!("../templates/guest/Cargo.toml.tmpl");
const MAIN_RS: &str = include_str!("../templates/guest/main.rs.tmpl");
const LIB_RS: &str = include_str!("../templates/guest/lib.rs.tmpl");
const GITIGNORE: &str = include_str!("../templates/guest/gitignore.tmpl");
const README: &str = include_str!("../templates/guest/README.md.tmpl");

/// Arguments of `outlayer new`.
#[derive(clap::Args)]
pub struct NewArgs {
    /// Name of the guest crate (letters, digits, `-` and `_`, starting with a letter).
    name: String,
    /// Directory to create (default: `./<name>`); it must not exist or be empty.
    #[arg(long)]
    path: Option<PathBuf>,
    /// A typed guest (world `outlayer:guest/typed`: a cdylib exporting `run`) instead of a WASI
    /// command (stdin → stdout).
    #[arg(long)]
    typed: bool,
    /// Depend on the SDK at this path (e.g. the `sdk/` folder of an OutLayer checkout) instead of
    /// `outlayer-sdk = "<this outlayer's version>"` from crates.io.
    #[arg(long)]
    sdk_path: Option<PathBuf>,
}

/// Write the guest crate and print what to do next.
pub fn main(args: NewArgs) -> anyhow::Result<ExitCode> {
    validate_name(&args.name)?;
    let dir = args.path.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?.next().is_some() {
        bail!("{} already exists and is not empty", dir.display());
    }
    let sdk = sdk_dependency(args.sdk_path.as_deref())?;
    for (path, contents) in files(&args.name, args.typed, &sdk) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("file in a folder"))?;
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    let kind = if args.typed { "typed guest" } else { "guest" };
    println!("created {kind} `{}` in {}", args.name, dir.display());
    println!("build it with: outlayer build {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// A Cargo package name that is also a valid crate name once `-` becomes `_`.
fn validate_name(name: &str) -> anyhow::Result<()> {
    let starts_with_letter = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if !starts_with_letter || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        bail!("invalid guest name {name:?}: use letters, digits, `-` and `_`, starting with a letter");
    }
    const RESERVED: &[&str] = &["std", "core", "alloc", "test", "proc_macro", "self", "crate", "super"];
    if RESERVED.contains(&name.replace('-', "_").as_str()) {
        bail!("invalid guest name {name:?}: it is reserved by Rust");
    }
    Ok(())
}

/// The `outlayer-sdk = ...` line of the generated Cargo.toml.
fn sdk_dependency(explicit: Option<&Path>) -> anyhow::Result<String> {
    let Some(p) = explicit else {
        return Ok(format!("outlayer-sdk = \"{}\"", env!("CARGO_PKG_VERSION")));
    };
    let p = p.canonicalize().with_context(|| format!("--sdk-path {}", p.display()))?;
    if !p.join("Cargo.toml").is_file() {
        bail!("--sdk-path {} has no Cargo.toml", p.display());
    }
    let p = p.to_str().context("the SDK path is not UTF-8")?;
    Ok(format!("outlayer-sdk = {{ path = {} }}", toml_string(p)))
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `(relative path, contents)` of every file of the new crate.
fn files(name: &str, typed: bool, sdk_dependency: &str) -> Vec<(&'static str, String)> {
    let crate_name = name.replace('-', "_");
    let (lib_section, kind_description, wasm_file) = if typed {
        (
            "\n[lib]\ncrate-type = [\"cdylib\"]\n",
            "a typed guest (world `outlayer:guest/typed`), see `src/lib.rs`",
            format!("{crate_name}.wasm"),
        )
    } else {
        ("", "a WASI command (JSON on stdin, JSON on stdout), see `src/main.rs`", format!("{name}.wasm"))
    };
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{lib_section}}", lib_section)
            .replace("{{sdk_dependency}}", sdk_dependency)
            .replace("{{kind_description}}", kind_description)
            .replace("{{wasm_path}}", &format!("target/wasm32-wasip2/release/{wasm_file}"))
    };
    let source = if typed { ("src/lib.rs", fill(LIB_RS)) } else { ("src/main.rs", fill(MAIN_RS)) };
    vec![("Cargo.toml", fill(CARGO_TOML)), source, (".gitignore", GITIGNORE.to_string()), ("README.md", fill(README))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_crate_names() {
        assert!(validate_name("my-guest_2").is_ok());
        for bad in ["", "2fast", "-x", "has space", "dot.ted", "std", "proc-macro"] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn typed_guests_are_cdylibs_with_a_lib_rs() {
        let files = files("my-guest", true, "outlayer-sdk = \"0.2.0\"");
        let names: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
        assert_eq!(names, ["Cargo.toml", "src/lib.rs", ".gitignore", "README.md"]);
        assert!(files[0].1.contains("crate-type = [\"cdylib\"]"));
        assert!(files[3].1.contains("target/wasm32-wasip2/release/my_guest.wasm"));
        let command = files_of("my-guest", false);
        assert!(!command[0].1.contains("cdylib"));
        assert_eq!(command[1].0, "src/main.rs");
    }

    #[test]
    fn no_placeholder_is_left_unfilled() {
        for typed in [false, true] {
            for (path, contents) in files_of("g", typed) {
                assert!(!contents.contains("{{"), "{path} (typed: {typed}) still has a placeholder");
            }
        }
    }

    #[test]
    fn the_sdk_comes_from_crates_io_unless_a_path_is_given() {
        let default = sdk_dependency(None).unwrap();
        assert_eq!(default, format!("outlayer-sdk = \"{}\"", env!("CARGO_PKG_VERSION")));
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
        let local = sdk_dependency(Some(&sdk)).unwrap();
        assert!(local.starts_with("outlayer-sdk = { path = \"/"), "{local}");
        assert!(local.ends_with("/sdk\" }"), "{local}");
        let no_crate = sdk_dependency(Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path()));
        assert!(no_crate.unwrap_err().to_string().contains("has no Cargo.toml"));
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string(r#"C:\a "b""#), r#""C:\\a \"b\"""#);
    }

    fn files_of(name: &str, typed: bool) -> Vec<(&'static str, String)> {
        files(name, typed, "outlayer-sdk = \"0.2.0\"")
    }
}
