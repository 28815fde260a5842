//! What a build script sees: nothing outside its build directory, no secret of the builder's
//! environment, no network while compiling, no writes to the checkout. The probe's findings are
//! compiled into the guest and read back by running it.

mod common;

use std::time::Duration;

use common::*;
use outlayer_protocol::build::BuildTarget;

const SECRET_ENV: &str = "OUTLAYER_BUILDER_TEST_SECRET";

#[tokio::test]
async fn a_build_script_finds_no_file_outside_its_directory_no_secret_and_no_network() {
    // SAFETY: the only test of this binary; set before any thread of ours reads the environment.
    unsafe { std::env::set_var(SECRET_ENV, "hunter2") };
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    let escape = dir.path().join("escaped.txt");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let home = std::env::var("HOME").unwrap();
    let build_rs = format!(
        r#"use std::time::Duration;
fn seen(found: bool) -> &'static str {{ if found {{ "present" }} else {{ "absent" }} }}
fn main() {{
    let checks = [
        ("secret-file", std::fs::read_to_string({secret:?}).is_ok()),
        ("secret-env", std::env::var({SECRET_ENV:?}).is_ok()),
        ("host-home", std::fs::read_dir({home:?}).is_ok()),
        ("host-work", std::path::Path::new("/work").exists()),
        ("network", std::net::TcpStream::connect_timeout(&"127.0.0.1:{port}".parse().unwrap(), Duration::from_secs(2)).is_ok()),
        ("write-outside", std::fs::write({escape:?}, "x").is_ok()),
        ("write-checkout", std::fs::write("written-by-build-rs", "x").is_ok()),
        ("own-manifest", std::fs::read_to_string("Cargo.toml").is_ok()),
    ];
    let report: Vec<String> = checks.iter().map(|(name, found)| format!("{{name}}={{}}", seen(*found))).collect();
    let report = report.join(" ");
    println!("cargo:warning=probe {{report}}");
    println!("cargo:rustc-env=PROBE={{report}}");
}}
"#
    );
    let (url, commit) = locked_repo(
        &dir.path().join("repo"),
        &[
            ("Cargo.toml", &manifest("probe", "").replace("edition", "build = \"build.rs\"\nedition")),
            ("src/main.rs", "fn main() { print!(\"{}\", env!(\"PROBE\")); }\n"),
            ("build.rs", &build_rs),
        ],
    );
    let builder = builder(dir.path(), Duration::from_secs(300)).await;
    let report = builder.build(&job("s1", &url, &commit, BuildTarget::Wasip2, false)).await;
    let built = report.result.as_ref().unwrap_or_else(|e| panic!("{e:?}\n{}", report.log));
    let seen = String::from_utf8(run(&built.wasm, b"").await).unwrap();
    assert_eq!(
        seen,
        "secret-file=absent secret-env=absent host-home=absent host-work=absent network=absent \
         write-outside=absent write-checkout=absent own-manifest=present"
    );
    assert!(!escape.exists());
    assert!(!dir.path().join("repo/written-by-build-rs").exists());
    drop(listener);
}
