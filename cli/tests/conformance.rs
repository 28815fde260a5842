//! `outlayer conformance --guests DIR`: the suite reads its guests from the directory it is
//! given (the binary carries none), in process and against `outlayer serve --conformance-listen`.

use outlayer_guest_artifacts as g;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Passes with the `echo` guest.
const ECHO_CASE: &str = r#"
description = "echo echoes"
guest = "echo"
[[run]]
input = "same"
[run.expect]
outcome = "ok"
output = "same"
"#;

/// Names a guest that the directory of the test does not hold.
const COUNTER_CASE: &str = r#"
description = "needs the counter guest"
guest = "counter"
[[run]]
[run.expect]
outcome = "ok"
"#;

fn conformance(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outlayer"))
        .arg("conformance")
        .args(args)
        .env_remove("OUTLAYER_CONFORMANCE_HOST")
        .output()
        .expect("run outlayer conformance")
}

/// A folder of cases and a directory of guests holding only `echo.wasm`.
fn fixtures(root: &Path, cases: &[(&str, &str)]) -> (String, String) {
    let guests = root.join("guests");
    std::fs::create_dir(&guests).unwrap();
    std::fs::copy(g::ECHO, guests.join("echo.wasm")).unwrap();
    let dir = root.join("cases");
    for (name, text) in cases {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        std::fs::write(dir.join(name).join("case.toml"), text).unwrap();
    }
    let s = |p: &Path| p.to_str().unwrap().to_string();
    (s(&dir), s(&guests))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn runs_cases_with_the_guests_of_the_given_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (cases, guests) = fixtures(tmp.path(), &[("echo", ECHO_CASE)]);
    let out = conformance(&["--cases", &cases, "--guests", &guests]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().last(), Some("1 passed, 0 failed"));

    // A guest the directory lacks fails its case, naming the directory: nothing else is looked at.
    let tmp = tempfile::tempdir().unwrap();
    let (cases, guests) = fixtures(tmp.path(), &[("a-echo", ECHO_CASE), ("b-counter", COUNTER_CASE)]);
    let out = conformance(&["--cases", &cases, "--guests", &guests]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains(&format!(r#"no guest named "counter" in {guests}"#)), "{table}");
    assert_eq!(table.lines().last(), Some("1 passed, 1 failed"));
}

#[test]
fn a_guests_directory_that_does_not_exist_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (cases, _) = fixtures(tmp.path(), &[("echo", ECHO_CASE)]);
    let missing = tmp.path().join("no-such-dir");
    let out = conformance(&["--cases", &cases, "--guests", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is not a directory of built guests"), "{stderr}");
}

/// `outlayer serve` killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn runs_against_serve_conformance_listen() {
    let tmp = tempfile::tempdir().unwrap();
    let (cases, guests) = fixtures(tmp.path(), &[("echo", ECHO_CASE)]);
    let endpoint = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_outlayer"))
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--conformance-listen", &endpoint, "--data-dir"])
        .arg(tmp.path().join("data"))
        .env("OUTLAYER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn outlayer serve");
    let _serve = Serve(child);
    let up = (0..300).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        TcpStream::connect(&endpoint).is_ok()
    });
    assert!(up, "the conformance endpoint {endpoint} did not come up");

    let url = format!("http://{endpoint}");
    let out = conformance(&["--host", &url, "--cases", &cases, "--guests", &guests]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().last(), Some("1 passed, 0 failed"));
}
