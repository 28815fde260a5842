//! Quote providers against a fake kernel (configfs-tsm in a temp dir, with FIFOs so the test
//! answers `inblob` writes like the kernel) and a fake dstack agent on a temp unix socket.
#![cfg(all(feature = "providers", unix))]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;

use outlayer_attest::providers::*;
use outlayer_attest::testdata::*;
use outlayer_attest::*;

/// The report data the sample quote carries (the only one a real quote can be shown with).
fn sample_report_data() -> [u8; 64] {
    QUOTE[48 + 520..48 + 584].try_into().unwrap()
}

fn collateral_file(dir: &Path) -> FileCollateral {
    let path = dir.join("collateral.json");
    fs::write(&path, COLLATERAL_JSON).unwrap();
    FileCollateral::new(path)
}

fn policy() -> Policy {
    Policy::new(vec![sample_measurements()])
}

/// Lays out a configfs-tsm report entry and plays the kernel for `rounds` inblob writes: each
/// write bumps `generation` by the round's step (1 = only our write; 2 = someone else wrote
/// too), then `outblob` yields the sample quote. Returns the inblobs the kernel received.
fn fake_kernel(entry: PathBuf, provider: &str, steps: Vec<u64>) -> thread::JoinHandle<Vec<Vec<u8>>> {
    fs::create_dir_all(&entry).unwrap();
    fs::write(entry.join("provider"), format!("{provider}\n")).unwrap();
    fs::write(entry.join("generation"), "0\n").unwrap();
    for fifo in ["inblob", "outblob"] {
        assert!(Command::new("mkfifo").arg(entry.join(fifo)).status().unwrap().success());
    }
    thread::spawn(move || {
        let mut generation = 0;
        let mut inblobs = Vec::new();
        for step in steps {
            let mut inblob = Vec::new();
            fs::File::open(entry.join("inblob")).unwrap().read_to_end(&mut inblob).unwrap();
            inblobs.push(inblob);
            generation += step;
            fs::write(entry.join("generation"), format!("{generation}\n")).unwrap();
            let mut out = fs::OpenOptions::new().write(true).open(entry.join("outblob")).unwrap();
            out.write_all(QUOTE).unwrap();
        }
        inblobs
    })
}

#[test]
fn configfs_tsm_quote_verifies_with_file_collateral() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tsm/report");
    let kernel = fake_kernel(root.join("r0"), "tdx_guest", vec![1]);
    let provider = ConfigfsTsm::with_root(&root, collateral_file(dir.path())).entry_name("r0");
    let evidence = provider.evidence(sample_report_data()).unwrap();
    assert_eq!(kernel.join().unwrap(), vec![sample_report_data().to_vec()]);
    let verified = verify_evidence(&evidence, &policy(), VERIFY_AT_SECS).unwrap();
    assert_eq!(verified.tee, Tee::Tdx);
    assert_eq!(verified.report_data, sample_report_data());
}

#[test]
fn configfs_tsm_retries_when_generation_shows_another_writer() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tsm/report");
    // First attempt: someone else wrote too (generation +2); second attempt is clean.
    let kernel = fake_kernel(root.join("r1"), "tdx_guest", vec![2, 1]);
    let provider = ConfigfsTsm::with_root(&root, collateral_file(dir.path())).entry_name("r1");
    provider.evidence(sample_report_data()).unwrap();
    assert_eq!(kernel.join().unwrap().len(), 2);
}

#[test]
fn configfs_tsm_refuses_after_repeated_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tsm/report");
    let steps = vec![3; MAX_GENERATION_ATTEMPTS as usize];
    let kernel = fake_kernel(root.join("r2"), "tdx_guest", steps);
    let provider = ConfigfsTsm::with_root(&root, collateral_file(dir.path())).entry_name("r2");
    let err = provider.evidence(sample_report_data()).unwrap_err();
    assert!(matches!(err, ProviderError::Conflict { attempts: MAX_GENERATION_ATTEMPTS }), "{err}");
    kernel.join().unwrap();
}

#[test]
fn configfs_tsm_refuses_other_providers_and_foreign_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tsm/report");
    fs::create_dir_all(root.join("sev")).unwrap();
    fs::write(root.join("sev/provider"), "sev_guest\n").unwrap();
    let provider = ConfigfsTsm::with_root(&root, collateral_file(dir.path())).entry_name("sev");
    let err = provider.evidence([0; 64]).unwrap_err();
    assert!(matches!(err, ProviderError::WrongProvider { .. }), "{err}");

    // The kernel answers with a quote for other report data: refused, not passed on.
    let kernel = fake_kernel(root.join("r3"), "tdx_guest", vec![1]);
    let provider = ConfigfsTsm::with_root(&root, collateral_file(dir.path())).entry_name("r3");
    let err = provider.evidence([0xaa; 64]).unwrap_err();
    assert!(matches!(err, ProviderError::ReportDataMismatch { .. }), "{err}");
    kernel.join().unwrap();
}

#[test]
fn configfs_tsm_without_configfs_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let provider = ConfigfsTsm::with_root(dir.path().join("missing"), collateral_file(dir.path()));
    let err = provider.evidence([0; 64]).unwrap_err();
    assert!(matches!(err, ProviderError::Io { .. }), "{err}");
}

/// A fake dstack agent: answers one request with `status` and `body`, returns the request.
fn fake_agent(socket: &Path, status: &'static str, body: String) -> thread::JoinHandle<String> {
    let listener = UnixListener::bind(socket).unwrap();
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Read headers, then the Content-Length body.
        loop {
            let n = conn.read(&mut buf).unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize =
                    text.lines().find_map(|l| l.strip_prefix("Content-Length: ")).map(|v| v.trim().parse().unwrap()).unwrap_or(0);
                if request.len() >= end + 4 + len {
                    break;
                }
            }
        }
        let response = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        conn.write_all(response.as_bytes()).unwrap();
        String::from_utf8(request).unwrap()
    })
}

#[test]
fn dstack_agent_quote_verifies_and_keeps_the_event_log() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("dstack.sock");
    let body = serde_json::json!({
        "quote": hex::encode(QUOTE),
        "event_log": "[{\"imr\":3,\"event\":\"app-id\"}]",
        "report_data": hex::encode(sample_report_data()),
        "vm_config": "{}",
    })
    .to_string();
    let agent = fake_agent(&socket, "200 OK", body);
    let provider = DstackAgent::with_socket(&socket, AgentApi::Dstack, collateral_file(dir.path()));
    let evidence = provider.evidence(sample_report_data()).unwrap();
    let request = agent.join().unwrap();
    assert!(request.starts_with("POST /GetQuote HTTP/1.1\r\n"), "{request}");
    assert!(request.ends_with(&format!("{{\"report_data\":\"{}\"}}", hex::encode(sample_report_data()))), "{request}");
    let Evidence::Tdx { event_log, .. } = &evidence else { panic!("not tdx") };
    assert_eq!(event_log.as_deref(), Some("[{\"imr\":3,\"event\":\"app-id\"}]"));
    let verified = verify_evidence(&evidence, &policy(), VERIFY_AT_SECS).unwrap();
    assert_eq!(verified.tee, Tee::Tdx);
}

#[test]
fn tappd_agent_uses_the_raw_quote_call() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("tappd.sock");
    let body = serde_json::json!({ "quote": hex::encode(QUOTE), "event_log": "[]" }).to_string();
    let agent = fake_agent(&socket, "200 OK", body);
    let provider = DstackAgent::with_socket(&socket, AgentApi::Tappd, collateral_file(dir.path()));
    provider.evidence(sample_report_data()).unwrap();
    assert!(agent.join().unwrap().starts_with("POST /prpc/Tappd.RawQuote HTTP/1.1\r\n"));
}

#[test]
fn dstack_agent_errors_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("dstack.sock");
    let agent = fake_agent(&socket, "500 Internal Server Error", r#"{"error":"no tdx"}"#.into());
    let provider = DstackAgent::with_socket(&socket, AgentApi::Dstack, collateral_file(dir.path()));
    let err = provider.evidence([0; 64]).unwrap_err();
    assert!(matches!(&err, ProviderError::Agent { status: 500, body } if body.contains("no tdx")), "{err}");
    agent.join().unwrap();

    let err = DstackAgent::with_socket(dir.path().join("none.sock"), AgentApi::Dstack, collateral_file(dir.path()))
        .evidence([0; 64])
        .unwrap_err();
    assert!(matches!(err, ProviderError::Io { .. }), "{err}");
}

#[test]
fn dev_provider_evidence_is_marked_and_refused_by_default() {
    let provider = DevProvider { measurements: sample_measurements() };
    let evidence = provider.evidence([5; 64]).unwrap();
    assert_eq!(serde_json::to_value(&evidence).unwrap()["note"], DEV_NOTE);
    assert_eq!(verify_evidence(&evidence, &policy(), 0).unwrap_err().code(), "dev_not_allowed");
    let dev = Policy { allow_dev: true, ..policy() };
    assert_eq!(verify_evidence(&evidence, &dev, 0).unwrap().tee, Tee::Dev);
}
