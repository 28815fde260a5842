//! Issue 13: a result spooled by a coordinator that died (DATA_DIR/held) settles its call in the
//! next process even when the call is leased again before that process's reaper has loaded the
//! spool (its first tick, a second after start): the job is not handed out a second time.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{ECHO_COST, Server, small_limits};
use outlayer_protocol::SettledResult;
use serde_json::json;

#[tokio::test]
async fn a_spooled_result_settles_a_call_leased_again_before_the_spool_is_loaded() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let spool = dir.path().join("held");
    let mut config = common::sqlite_config(&dir);
    config.held_spool = Some(spool.clone());
    // A lease lasts max_execution_seconds (1) + grace (1): it has expired when the next process starts.
    config.lease_duration = Duration::from_secs(1);
    config.lease_grace = Duration::from_secs(1);

    let first = Server::start(config.clone()).await?;
    let (owner, token) = first.owner().await?;
    first.project(&owner, &token, "pp").await?;
    let key = first.key(&token, json!({ "initial_balance": 1_000_000 })).await?;
    let (s, b) = first.call(&owner, "pp", &key, &[], &json!({ "input": 1, "async": true, "resource_limits": small_limits() })).await?;
    assert_eq!(s.as_u16(), 202, "{b}");
    let id = b["call_id"].as_str().unwrap().to_owned();
    let worker = first.worker().await?;
    let job = worker.lease(Duration::from_secs(2)).await?.expect("the job");
    first.stop().await;

    // What the first process spooled for the worker's verified result before it died.
    let result = SettledResult {
        output: Some(json!(7)),
        output_base64: Some(b"7".to_vec()),
        error: None,
        cost: ECHO_COST as u64,
        charged: ECHO_COST as u64,
        instructions: common::ECHO_INSTRUCTIONS,
        time_ms: common::ECHO_WALL_MS,
        refund: 0,
        peak_memory_bytes: 0,
        http: None,
        worker: None,
        receipt: None,
    };
    let spooled = json!({
        "call_id": id, "lease_id": job.lease_id, "status": "completed", "result": result,
        "charged": ECHO_COST, "earnings": 24, "now_ms": 1,
    });
    std::fs::create_dir_all(&spool)?;
    std::fs::write(spool.join(format!("{id}.json")), serde_json::to_vec(&spooled)?)?;
    tokio::time::sleep(Duration::from_millis(2_100)).await;

    // The next process: its first lease, at once, finds the call's lease expired.
    let next = Server::start(config).await?;
    let worker = next.worker().await?;
    let leased = worker.lease(Duration::from_secs(1)).await?;
    assert!(leased.is_none(), "the job of a call with a spooled result was handed out again: {leased:?}");
    let view = next.wait_final(&key, &id).await?;
    assert_eq!((view["status"].as_str(), &view["output"]), (Some("completed"), &json!(7)), "{view}");
    let settles = next.ledger(&key).await?.iter().filter(|e| e["call_id"] == id.as_str() && e["kind"] == "settle").count();
    assert_eq!(settles, 1);
    let state = next.key_state(&key).await?;
    assert_eq!((state["spent"].as_i64(), state["reserved"].as_i64()), (Some(ECHO_COST), Some(0)));
    assert!(std::fs::read_dir(&spool)?.next().is_none(), "the settled result left the spool");
    next.stop().await;
    Ok(())
}
