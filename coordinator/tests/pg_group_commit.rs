//! PostgreSQL group commit: concurrent reserve / settle statements share transactions, and one
//! failing statement fails only its own operation (the real server on 127.0.0.1, a fresh schema).

mod common;

use anyhow::Result;
use common::{PG_URL, random_name};
use outlayer_coordinator::db::{Backend, CallRow, Enqueued, KeyRow, PostgresBackend};
use outlayer_coordinator::model::CallStatus;

const RESERVED: i64 = 1_000;

fn call(id: &str) -> CallRow {
    CallRow {
        id: id.into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        project_id: "p".into(),
        project_owner: "owner".into(),
        project_name: "echo".into(),
        wasm_sha256: "00".repeat(32),
        key_owner: "payer".into(),
        key_nonce: 1,
        input: "{}".into(),
        max_instructions: 1_000_000,
        max_memory_mb: 64,
        max_execution_seconds: 1,
        grants: Vec::new(),
        http_allowlist: Vec::new(),
        secrets_ref: None,
        attached_deposit: 0,
        compute_limit: RESERVED,
        reserved: RESERVED,
        status: CallStatus::Queued,
        lease_id: None,
        worker_id: None,
        lease_expires_ms: None,
        attempts: 0,
        created_ms: 1,
        completed_ms: None,
        result: None,
    }
}

async fn drop_schema(schema: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(PG_URL).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))).execute(&pool).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_statement_fails_only_its_own_call() -> Result<()> {
    let schema = random_name("group_commit_");
    let result = scenario(&schema).await;
    drop_schema(&schema).await;
    result
}

async fn scenario(schema: &str) -> Result<()> {
    let db = PostgresBackend::connect(PG_URL, Some(schema)).await?;
    db.create_owner("payer", "token-hash", 1).await?;
    let key = KeyRow {
        owner: "payer".into(),
        nonce: 1,
        secret_hash: "secret-hash".into(),
        balance: 1_000_000,
        spent: 0,
        reserved: 0,
        allowed_projects: Vec::new(),
        max_per_call: None,
        revoked: false,
        created_ms: 1,
    };
    assert!(db.create_key(&key).await?);
    let taken = uuid::Uuid::new_v4().to_string();
    assert_eq!(db.enqueue(&call(&taken), None).await?, Enqueued::Queued);

    // 40 reservations at once (they queue up behind each other's commits and share
    // transactions); one of them reuses a call id, which the database refuses.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let db = db.clone();
        let id = if i == 20 { taken.clone() } else { uuid::Uuid::new_v4().to_string() };
        tasks.push(tokio::spawn(async move { (i, db.enqueue(&call(&id), None).await) }));
    }
    let mut queued = 0;
    for task in tasks {
        let (i, outcome) = task.await?;
        match outcome {
            Ok(Enqueued::Queued) => queued += 1,
            Ok(other) => panic!("call {i}: {other:?}"),
            Err(e) => assert_eq!(i, 20, "call {i} failed: {e}"),
        }
    }
    assert_eq!(queued, 39, "every call but the duplicate is queued");
    // Reserved once per queued call: the refused one reserved nothing, none was applied twice.
    let key = db.key("payer", 1).await?.expect("the key");
    assert_eq!(key.reserved, 40 * RESERVED);
    let lines = db.ledger("payer", 1, 0, 1_000).await?;
    assert_eq!(lines.iter().filter(|l| l.kind == "reserve").count(), 40);
    db.close().await;
    Ok(())
}
