//! `outlayer run` as a user runs it: output on stdout, a one-line JSON summary on stderr, the
//! exit status telling success from failure.

use outlayer_guest_artifacts as g;
use serde_json::Value;
use std::process::{Command, Output};

fn run(args: &[&str], data_dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outlayer")).arg("run").args(args).arg("--data-dir").arg(data_dir).output().expect("run outlayer")
}

fn summary(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    serde_json::from_str(stderr.lines().last().expect("summary line")).expect("summary is JSON")
}

#[test]
fn echo_prints_its_input_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[g::ECHO, "--input", "hello"], dir.path());
    assert!(out.status.success());
    assert_eq!(out.stdout, b"hello");
    let s = summary(&out);
    assert_eq!(s["outcome"], "ok");
    assert!(s["instructions"].as_u64().unwrap() > 0);
    assert_eq!(s["shape"], "command");
    assert_eq!(s["cache"], "compiled");
    // Second run: the compiled artifact comes from the disk cache.
    assert_eq!(summary(&run(&[g::ECHO, "--input", "x"], dir.path()))["cache"], "disk");
}

#[test]
fn input_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.txt");
    std::fs::write(&file, "from a file").unwrap();
    let out = run(&[g::ECHO, "--input", &format!("@{}", file.display())], dir.path());
    assert_eq!(out.stdout, b"from a file");
}

#[test]
fn a_limit_hit_fails_with_a_typed_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[g::LOOP_FOREVER, "--max-instructions", "1000000"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let s = summary(&out);
    assert_eq!(s["outcome"], "out-of-instructions");
    assert_eq!(s["instructions"], 1_000_000);
}

#[test]
fn storage_is_durable_across_runs_and_denied_without_grant() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run(&[g::COUNTER, "--grant", "storage"], dir.path()).stdout, b"1");
    assert_eq!(run(&[g::COUNTER, "--grant", "storage", "--input", "2"], dir.path()).stdout, b"3");
    let out = run(&[g::COUNTER], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let s = summary(&out);
    assert_eq!(s["outcome"], "denied");
    assert_eq!(s["capabilities"], serde_json::json!(["storage"]));
}

#[test]
fn secrets_flag_grants_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[g::SECRET_READER, "--secret", "TOKEN=abc", "--input", "TOKEN"], dir.path());
    assert_eq!(out.stdout, b"abc");
}

#[test]
fn bad_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["/nonexistent.wasm"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading /nonexistent.wasm"));
    let out = run(&[g::ECHO, "--grant", "teleport"], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown capability"));
    let out = run(&[g::ECHO, "--timeout-ms", "99999999"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_wall_ms"));
}
