//! Issue 13: a client may not hold a connection by sending its request head slowly (or not at
//! all). The head must arrive within the configured time from the connection's first byte (or
//! from the connection itself); an idle keep-alive connection between requests is not timed, and
//! a slow body or a long call is not either.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A SQLite coordinator whose clients get `timeout` to send a request head.
async fn server(timeout: Duration) -> Result<(Server, tempfile::TempDir, String)> {
    let dir = tempfile::tempdir()?;
    let mut config = common::sqlite_config(&dir);
    config.admission.request_head_timeout = timeout;
    let server = Server::start(config).await?;
    let addr = server.base.trim_start_matches("http://").to_owned();
    Ok((server, dir, addr))
}

/// Reads until the server closes the connection (or 20 s pass: then the connection was held).
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read).await.is_ok()
}

/// Sends `head` (a `GET /healthz` head, or the rest of one) on `stream` and reads the answer
/// (keep-alive: up to its content-length); returns its status line, lower-cased.
async fn answer(stream: &mut TcpStream, head: &[u8]) -> Result<String> {
    stream.write_all(head).await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let length: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(Ok(0), |v| v.trim().parse())?;
            if got.len() >= end + 4 + length {
                return Ok(head.lines().next().unwrap_or_default().to_owned());
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await??;
        anyhow::ensure!(n > 0, "closed before the answer: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";

#[tokio::test]
async fn a_head_sent_too_slowly_or_never_closes_the_connection() -> Result<()> {
    let (server, _dir, addr) = server(Duration::from_secs(1)).await?;

    // Half a head, then nothing.
    let mut partial = TcpStream::connect(&addr).await?;
    partial.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").await?;
    // Connected, nothing sent.
    let mut silent = TcpStream::connect(&addr).await?;
    // A head trickled a byte every 100 ms: 3.4 s for the whole head, past the 1 s allowed.
    let mut trickle = TcpStream::connect(&addr).await?;
    let trickling = async {
        for b in b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n" {
            if trickle.write_all(&[*b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    let cut_off = trickling.await;

    assert!(closed_by_server(&mut partial).await, "a half-sent head held its connection");
    assert!(closed_by_server(&mut silent).await, "a silent connection was held");
    assert!(cut_off || closed_by_server(&mut trickle).await, "a trickled head held its connection");
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn prompt_heads_idle_keep_alive_and_a_head_within_the_time_are_served() -> Result<()> {
    let (server, _dir, addr) = server(Duration::from_secs(1)).await?;
    let mut conn = TcpStream::connect(&addr).await?;
    assert_eq!(answer(&mut conn, HEALTHZ).await?, "http/1.1 200 ok");
    // Idle for twice the head timeout between requests: the same connection still serves.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(answer(&mut conn, HEALTHZ).await?, "http/1.1 200 ok");
    // A head in two parts, well within the time.
    conn.write_all(b"GET /healthz HTTP/1.1\r\nho").await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(answer(&mut conn, b"st: x\r\n\r\n").await?, "http/1.1 200 ok");
    // Its clock restarted per request: a third request after the idle period still works.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(answer(&mut conn, HEALTHZ).await?, "http/1.1 200 ok");
    server.stop().await;
    Ok(())
}
