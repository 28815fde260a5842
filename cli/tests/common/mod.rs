//! Helpers shared by the integration tests that start `outlayer` processes (each test binary
//! compiles this module; not every binary uses every helper).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits (up to 30 s) until `url/healthz` answers 2xx; panics otherwise.
pub async fn wait_healthy(http: &reqwest::Client, url: &str) {
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{url}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not become healthy");
}

/// `outlayer ARGS --data-dir DATA_DIR`, quiet (warnings only, output discarded).
pub fn outlayer(args: &[&str], data_dir: &Path) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_outlayer"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("OUTLAYER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn outlayer");
    Proc(child)
}
