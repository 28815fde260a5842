//! Money has a source (issue 12), on SQLite and PostgreSQL: payment keys are credited by on-chain
//! deposits (the deposit watcher against a local NEAR node), by admin grants, or — only on a
//! `--dev-owners` coordinator — by their owner; owners' withdrawals of earnings are requested,
//! then settled or rejected by the operator. The ledger names every credit's source.
//!
//! The local node answers on 127.0.0.1 with NEAR's recorded RPC answers
//! (`crates/near/tests/data/rpc`) and, for the deposit itself, answers assembled from them
//! (`tests/data/deposits/PROVENANCE.md`).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use common::{Server, drop_schema, pg_config, small_limits, spawn_workers, sqlite_config, stop_workers};
use outlayer_coordinator::db::money::{DEPOSIT_CURSOR, DepositStatus};
use outlayer_coordinator::deposits::{DepositWatcher, DepositsConfig, PassReport};
use outlayer_coordinator::{CoordinatorConfig, DatabaseConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CONTRACT: &str = "outlayer.testnet";
/// The owner the recorded deposit names (and who paid it).
const OWNER: &str = "sender.testnet";
const ADMIN: &str = "admin-secret";
/// 2.5 NEAR at 3 500 000 micro-USD per NEAR.
const CREDIT: i64 = 8_750_000;

fn file(path: &str) -> Value {
    let path = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// A recorded NEAR answer (`crates/near/tests/data/rpc`).
fn recorded(name: &str) -> Value {
    file(&format!("../crates/near/tests/data/rpc/{name}"))
}

/// An assembled answer of this test (`tests/data/deposits`).
fn fixture(name: &str) -> Value {
    file(&format!("tests/data/deposits/{name}"))
}

fn recorded_height() -> u64 {
    recorded("block.response.json")["result"]["header"]["height"].as_u64().unwrap()
}

/// A distinct base58 32-byte hash per number (the recorded hashes for the recorded block).
fn hash(kind: u8, height: u64) -> String {
    let mut bytes = [kind; 32];
    bytes[..8].copy_from_slice(&height.to_le_bytes());
    outlayer_near::tx::PublicKey(bytes).to_string().trim_start_matches("ed25519:").to_owned()
}

fn block_hash(height: u64) -> String {
    if height == recorded_height() {
        recorded("block.response.json")["result"]["header"]["hash"].as_str().unwrap().to_owned()
    } else {
        hash(1, height)
    }
}

fn chunk_hash(height: u64) -> String {
    if height == recorded_height() {
        recorded("chunk.response.json")["result"]["header"]["chunk_hash"].as_str().unwrap().to_owned()
    } else {
        hash(2, height)
    }
}

/// The `tx` answer of the recorded deposit.
fn deposit_tx() -> Value {
    fixture("top_up.tx.response.json")
}

/// The receipt id of the recorded deposit.
fn deposit_receipt() -> String {
    deposit_tx()["result"]["receipts_outcome"][0]["id"].as_str().unwrap().to_owned()
}

/// What the local node knows.
struct Chain {
    /// The final height.
    final_height: u64,
    /// Heights that have a block → the `tx` answers of the transactions in its chunk.
    blocks: BTreeMap<u64, Vec<Value>>,
    /// Heights → the ids of `top_up_payment_key` receipts from another contract in its chunk.
    receipts: BTreeMap<u64, Vec<String>>,
    /// What `get_payment_rate` returns.
    rate: &'static str,
    /// Every request, in order.
    seen: Vec<Value>,
}

#[derive(Clone)]
struct Node(Arc<Mutex<Chain>>);

impl Node {
    /// A node whose final block is the recorded one, holding the recorded deposit, after two
    /// blocks without it.
    async fn start() -> (Node, String) {
        let h = recorded_height();
        let blocks = BTreeMap::from([(h - 2, vec![]), (h - 1, vec![]), (h, vec![deposit_tx()])]);
        let node =
            Node(Arc::new(Mutex::new(Chain { final_height: h, blocks, receipts: BTreeMap::new(), rate: "3500000", seen: Vec::new() })));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().route("/", post(answer)).with_state(node.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (node, url)
    }

    fn chain(&self) -> std::sync::MutexGuard<'_, Chain> {
        self.0.lock().unwrap()
    }

    fn calls_of(&self, method: &str) -> usize {
        self.chain().seen.iter().filter(|r| r["method"] == method).count()
    }
}

fn node_error(cause: &str, info: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": "dontcare", "error": {"name": "HANDLER_ERROR", "cause": {"name": cause, "info": info}, "code": -32000, "message": "Server error", "data": cause}})
}

/// A `top_up_payment_key` receipt from another contract: the recorded `EXPERIMENTAL_receipt`
/// answer's receipt with `receiver_id` = the contract and the deposit transaction's action.
fn contract_receipt(id: &str) -> Value {
    let mut receipt = recorded("receipt.response.json")["result"].clone();
    receipt["receipt_id"] = json!(id);
    receipt["receiver_id"] = json!(CONTRACT);
    receipt["predecessor_id"] = json!("wallet-contract.testnet");
    receipt["receipt"]["Action"]["actions"] = deposit_tx()["result"]["transaction"]["actions"].clone();
    receipt
}

/// `EXPERIMENTAL_light_client_proof` of such a receipt: `outcome_proof` is the deposit's
/// receipt outcome (an `ExecutionOutcomeWithIdView`, the same log) under this receipt's id; the
/// other members follow NEAR's published schema and are not read by the watcher.
fn receipt_proof(id: &str) -> Value {
    let mut outcome = deposit_tx()["result"]["receipts_outcome"][0].clone();
    outcome["id"] = json!(id);
    json!({"jsonrpc": "2.0", "id": "dontcare", "result": {
        "outcome_proof": outcome, "outcome_root_proof": [], "block_header_lite": {}, "block_proof": [],
    }})
}

fn block_at(height: u64) -> Value {
    let mut block = recorded("block.response.json");
    block["result"]["header"]["height"] = json!(height);
    block["result"]["header"]["hash"] = json!(block_hash(height));
    block["result"]["chunks"][0]["height_included"] = json!(height);
    block["result"]["chunks"][0]["chunk_hash"] = json!(chunk_hash(height));
    block
}

async fn answer(State(node): State<Node>, axum::Json(request): axum::Json<Value>) -> axum::Json<Value> {
    let mut chain = node.chain();
    chain.seen.push(request.clone());
    let p = &request["params"];
    let answer = match request["method"].as_str().unwrap_or_default() {
        "block" if p["finality"] == "final" => block_at(chain.final_height),
        "block" => match p["block_id"].as_u64() {
            Some(h) if h <= chain.final_height && chain.blocks.contains_key(&h) => block_at(h),
            _ => node_error("UNKNOWN_BLOCK", json!({"block_reference": {"block_id": p["block_id"]}})),
        },
        "chunk" => {
            let found = chain.blocks.iter().find(|(h, _)| p["chunk_id"] == chunk_hash(**h));
            match found {
                Some((h, txs)) => {
                    let mut chunk = fixture("top_up.chunk.response.json");
                    chunk["result"]["header"]["chunk_hash"] = json!(chunk_hash(*h));
                    chunk["result"]["header"]["height_included"] = json!(h);
                    chunk["result"]["header"]["height_created"] = json!(h);
                    chunk["result"]["transactions"] = txs.iter().map(|t| t["result"]["transaction"].clone()).collect();
                    let receipts = chain.receipts.get(h).cloned().unwrap_or_default();
                    chunk["result"]["receipts"] = receipts.iter().map(|id| contract_receipt(id)).collect();
                    chunk
                }
                None => node_error("UNKNOWN_CHUNK", json!({"chunk_hash": p["chunk_id"]})),
            }
        }
        "tx" => {
            assert_eq!(p["wait_until"], "FINAL", "deposits are read from final outcomes");
            let found = chain.blocks.values().flatten().find(|t| t["result"]["transaction"]["hash"] == p["tx_hash"]).cloned();
            match found {
                Some(t) => {
                    assert_eq!(p["sender_account_id"], t["result"]["transaction"]["signer_id"]);
                    t
                }
                None => node_error("UNKNOWN_TRANSACTION", json!({"requested_transaction_hash": p["tx_hash"]})),
            }
        }
        "EXPERIMENTAL_light_client_proof" => {
            assert_eq!((&p["type"], &p["receiver_id"]), (&json!("receipt"), &json!(CONTRACT)));
            assert_eq!(p["light_client_head"], json!(block_hash(chain.final_height)), "proved against the final head");
            assert!(chain.receipts.values().flatten().any(|id| p["receipt_id"] == json!(id)), "a receipt of the chain: {p}");
            receipt_proof(p["receipt_id"].as_str().unwrap())
        }
        "query" if p["request_type"] == "call_function" && p["method_name"] == "get_payment_rate" => {
            assert_eq!(p["account_id"], CONTRACT);
            let receipt_block = deposit_tx()["result"]["receipts_outcome"][0]["block_hash"].clone();
            assert_eq!(p["block_id"], receipt_block, "the rate is read at the deposit's block");
            let mut view = fixture("get_payment_rate.response.json");
            view["result"]["result"] = json!(serde_json::to_vec(&json!(chain.rate)).unwrap());
            view
        }
        other => panic!("unexpected request {other}: {request}"),
    };
    axum::Json(answer)
}

/// A watcher over `db` starting two blocks before the recorded block.
fn watcher(db: Arc<dyn outlayer_coordinator::db::Backend>, url: &str) -> DepositWatcher {
    let mut deposits = DepositsConfig::new(url, CONTRACT);
    deposits.start_height = Some(recorded_height() - 2);
    DepositWatcher::new(&deposits, db)
}

/// A coordinator without dev owners (owners are NEAR accounts), with an admin token, and the
/// owner of the recorded deposit with its API token.
async fn production(mut config: CoordinatorConfig) -> Result<(Server, String)> {
    config.signin.dev_owners = false;
    config.admin_token = Some(ADMIN.into());
    let server = Server::start(config).await?;
    let token = create_owner(&server, OWNER).await?;
    Ok((server, token))
}

/// An owner as sign-in leaves it (a NEAR account with an API token), written directly: sign-in
/// itself is tested in signin.rs.
async fn create_owner(server: &Server, name: &str) -> Result<String> {
    let token = outlayer_coordinator::auth::new_secret("olo_");
    assert!(server.state.db.create_owner(name, &outlayer_coordinator::auth::hash_secret(&token), 1).await?);
    Ok(token)
}

async fn bearer_post(server: &Server, path: &str, token: &str, body: Value) -> Result<(StatusCode, Value)> {
    server.post(path, Some(token), &body).await
}

async fn ledger_of(server: &Server, token: &str, nonce: i64) -> Result<Vec<Value>> {
    let (s, b) = server.get(&format!("/payment-keys/{OWNER}/{nonce}/ledger"), &[("Authorization", &format!("Bearer {token}"))]).await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(b["entries"].as_array().cloned().unwrap_or_default())
}

async fn balance_of(server: &Server, token: &str, nonce: i64) -> Result<i64> {
    let (s, b) = server.get(&format!("/payment-keys/{OWNER}/{nonce}"), &[("Authorization", &format!("Bearer {token}"))]).await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(b["balance"].as_i64().unwrap())
}

/// Moves the watcher's cursor back, as if the coordinator had died after crediting a block and
/// before saving the cursor.
async fn rewind_cursor(config: &CoordinatorConfig, height: u64) -> Result<()> {
    let sql = "UPDATE chain_cursors SET height = $1 WHERE name = $2";
    match &config.database {
        DatabaseConfig::Sqlite { path } => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await?;
            sqlx::query(sql).bind(height as i64).bind(DEPOSIT_CURSOR).execute(&pool).await?;
            pool.close().await;
        }
        DatabaseConfig::Postgres { url, schema } => {
            let options: sqlx::postgres::PgConnectOptions = url.parse()?;
            let options = options.options([("search_path", schema.as_deref().unwrap_or("public"))]);
            let pool = sqlx::PgPool::connect_with(options).await?;
            sqlx::query(sql).bind(height as i64).bind(DEPOSIT_CURSOR).execute(&pool).await?;
            pool.close().await;
        }
    }
    Ok(())
}

/// A recorded deposit is credited once: by the first pass; not again when the pass is repeated,
/// when the same transaction shows up in a later block, nor after a restart that re-reads the
/// block (cursor moved back). The ledger names the deposit's receipt.
async fn deposit_is_credited_once(config: CoordinatorConfig) -> Result<()> {
    let (node, url) = Node::start().await;
    let (server, token) = production(config.clone()).await?;
    let (s, key) = bearer_post(&server, "/payment-keys", &token, json!({ "nonce": 1, "initial_balance": 0 })).await?;
    assert_eq!((s, key["balance"].as_i64()), (StatusCode::CREATED, Some(0)), "{key}");

    let watch = watcher(server.state.db.clone(), &url);
    let h = recorded_height();
    let report = watch.pass(1_000).await?;
    assert_eq!(
        report,
        PassReport { final_height: h, cursor: h, blocks: 3, events: 1, credited: 1, ..PassReport::default() },
        "the first pass reads the three blocks from the start height and credits the deposit"
    );
    assert_eq!(balance_of(&server, &token, 1).await?, CREDIT);
    let ledger = ledger_of(&server, &token, 1).await?;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(
        (&ledger[0]["kind"], &ledger[0]["amount"], &ledger[0]["source"], &ledger[0]["source_ref"]),
        (&json!("top_up"), &json!(CREDIT), &json!("deposit"), &json!(deposit_receipt()))
    );

    // Caught up: nothing is read again.
    let txs = node.calls_of("tx");
    let report = watch.pass(2_000).await?;
    assert_eq!((report.blocks, report.events), (0, 0));
    assert_eq!(node.calls_of("tx"), txs);

    // The same deposit seen in a later block: recorded once, credited once.
    {
        let mut chain = node.chain();
        chain.blocks.insert(h + 1, vec![deposit_tx()]);
        chain.final_height = h + 1;
    }
    let report = watch.pass(3_000).await?;
    assert_eq!((report.blocks, report.events, report.already_seen, report.credited), (1, 1, 1, 0), "{report:?}");
    assert_eq!(balance_of(&server, &token, 1).await?, CREDIT);

    // A restart that re-reads the deposit's block (the cursor moved back as if the process died
    // before saving it): the watcher runs in the background of the new coordinator.
    server.stop().await;
    rewind_cursor(&config, h - 1).await?;
    let mut restarted = config.clone();
    let mut deposits = DepositsConfig::new(&url, CONTRACT);
    deposits.poll_interval = Duration::from_millis(50);
    restarted.deposits = Some(deposits);
    restarted.signin.dev_owners = false;
    let server = Server::start(restarted).await?;
    let db = server.state.db.clone();
    let mut cursor = None;
    for _ in 0..200 {
        cursor = db.chain_cursor(DEPOSIT_CURSOR).await?;
        if cursor == Some((h + 1) as i64) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cursor, Some((h + 1) as i64), "the restarted watcher caught up");
    assert!(node.calls_of("tx") >= txs + 3, "the restart read the deposit's two blocks again");
    assert_eq!(balance_of(&server, &token, 1).await?, CREDIT, "still credited once");
    let ledger = ledger_of(&server, &token, 1).await?;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    let deposits = db.deposits_of_key(OWNER, 1).await?;
    assert_eq!(deposits.len(), 1);
    assert_eq!((deposits[0].status, deposits[0].micro_usd, deposits[0].rate.as_str()), (DepositStatus::Credited, CREDIT, "3500000"));
    assert_eq!((deposits[0].amount_yocto.as_str(), deposits[0].payer.as_str()), ("2500000000000000000000000", OWNER));
    server.stop().await;
    Ok(())
}

/// A deposit for a key that does not exist yet is kept pending and credited, in the same
/// transaction, when its owner creates that key; a deposit made while the contract has no rate
/// is kept unpriced and credits nothing; logs of other accounts and failed receipts are not
/// deposits.
async fn pending_unpriced_and_forged(config: CoordinatorConfig) -> Result<()> {
    let (node, url) = Node::start().await;
    let h = recorded_height();
    {
        // Block h-1: the deposit's log line, but the receipt was executed by another account
        // (anyone can log an EVENT_JSON line); and the deposit receipt failing.
        let mut forged = deposit_tx();
        forged["result"]["transaction"]["hash"] = json!(hash(3, 1));
        forged["result"]["receipts_outcome"][0]["outcome"]["executor_id"] = json!("mimic.testnet");
        let mut failed = deposit_tx();
        failed["result"]["transaction"]["hash"] = json!(hash(3, 2));
        failed["result"]["receipts_outcome"][0]["outcome"]["status"] = json!({"Failure": {"ActionError": {"index": 0, "kind": {"FunctionCallError": {"ExecutionError": "Smart contract panicked: paused"}}}}});
        node.chain().blocks.insert(h - 1, vec![forged, failed]);
    }
    let (server, token) = production(config.clone()).await?;
    let watch = watcher(server.state.db.clone(), &url);
    let report = watch.pass(1_000).await?;
    assert_eq!((report.events, report.pending, report.credited), (1, 1, 0), "only the real deposit counts: {report:?}");
    let (s, key) = bearer_post(&server, "/payment-keys", &token, json!({ "nonce": 1, "initial_balance": 0 })).await?;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    assert_eq!(key["balance"].as_i64(), Some(CREDIT), "the pending deposit is credited with the key");
    let ledger = ledger_of(&server, &token, 1).await?;
    assert_eq!((ledger.len(), &ledger[0]["source"], &ledger[0]["source_ref"]), (1, &json!("deposit"), &json!(deposit_receipt())));
    assert_eq!(watch.pass(2_000).await?.claimed, 0, "nothing left to claim");
    assert_eq!(balance_of(&server, &token, 1).await?, CREDIT);
    server.stop().await;

    // The same deposit on a fresh database while the contract's rate is "0": kept, not credited.
    let (node, url) = Node::start().await;
    node.chain().rate = "0";
    let fresh = match &config.database {
        DatabaseConfig::Sqlite { path } => {
            CoordinatorConfig { database: DatabaseConfig::Sqlite { path: path.with_file_name("unpriced.db") }, ..config.clone() }
        }
        DatabaseConfig::Postgres { .. } => pg_config(),
    };
    let result = async {
        let (server, token) = production(fresh.clone()).await?;
        bearer_post(&server, "/payment-keys", &token, json!({ "nonce": 1, "initial_balance": 0 })).await?;
        let report = watcher(server.state.db.clone(), &url).pass(1_000).await?;
        assert_eq!((report.events, report.refused, report.credited), (1, 1, 0), "{report:?}");
        assert_eq!(balance_of(&server, &token, 1).await?, 0);
        let deposits = server.state.db.deposits_of_key(OWNER, 1).await?;
        assert_eq!((deposits.len(), deposits[0].status), (1, DepositStatus::Unpriced));
        server.stop().await;
        anyhow::Ok(())
    }
    .await;
    drop_schema(&fresh).await;
    result
}

/// A top-up made by another contract (a receipt to the contract, not a transaction) is read
/// through its light-client proof and credited like a transaction's, once.
async fn deposit_by_another_contract(config: CoordinatorConfig) -> Result<()> {
    let (node, url) = Node::start().await;
    let h = recorded_height();
    let receipt_id = hash(4, 1);
    {
        let mut chain = node.chain();
        chain.blocks.insert(h, vec![]);
        chain.receipts.insert(h - 1, vec![receipt_id.clone()]);
    }
    let (server, token) = production(config).await?;
    bearer_post(&server, "/payment-keys", &token, json!({ "nonce": 1, "initial_balance": 0 })).await?;
    let watch = watcher(server.state.db.clone(), &url);
    let report = watch.pass(1_000).await?;
    assert_eq!((report.events, report.credited), (1, 1), "{report:?}");
    assert_eq!(node.calls_of("EXPERIMENTAL_light_client_proof"), 1);
    assert_eq!(balance_of(&server, &token, 1).await?, CREDIT);
    let ledger = ledger_of(&server, &token, 1).await?;
    assert_eq!((ledger.len(), &ledger[0]["source_ref"]), (1, &json!(receipt_id)));
    server.stop().await;
    Ok(())
}

/// Outside dev mode an owner cannot credit its own key (403 self_credit_not_allowed, nothing
/// credited); a zero initial balance is fine. In dev mode it can, and the ledger says so.
async fn owners_cannot_mint(config: CoordinatorConfig) -> Result<()> {
    let (server, token) = production(config.clone()).await?;
    let (s, b) = bearer_post(&server, "/payment-keys", &token, json!({ "nonce": 1, "initial_balance": 1_000_000_000_000_000u64 })).await?;
    assert_eq!((s, &b["error"]["code"]), (StatusCode::FORBIDDEN, &json!("self_credit_not_allowed")), "{b}");
    let (s, b) = bearer_post(&server, "/payment-keys", &token, json!({ "nonce": 1, "initial_balance": 0 })).await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = bearer_post(&server, &format!("/payment-keys/{OWNER}/1/top-up"), &token, json!({ "amount": 5 })).await?;
    assert_eq!((s, &b["error"]["code"]), (StatusCode::FORBIDDEN, &json!("self_credit_not_allowed")), "{b}");
    assert_eq!(balance_of(&server, &token, 1).await?, 0);
    assert!(ledger_of(&server, &token, 1).await?.is_empty());
    server.stop().await;

    // The same requests on a --dev-owners coordinator (its own database).
    let dev_config = match &config.database {
        DatabaseConfig::Sqlite { path } => {
            CoordinatorConfig { database: DatabaseConfig::Sqlite { path: path.with_file_name("dev.db") }, ..config.clone() }
        }
        DatabaseConfig::Postgres { .. } => pg_config(),
    };
    let result = async {
        let server = Server::start(dev_config.clone()).await?;
        let (owner, token) = server.owner().await?;
        let (s, b) = bearer_post(&server, "/payment-keys", &token, json!({ "nonce": 1, "initial_balance": 700 })).await?;
        assert_eq!((s, b["balance"].as_i64()), (StatusCode::CREATED, Some(700)), "{b}");
        let (s, b) = bearer_post(&server, &format!("/payment-keys/{owner}/1/top-up"), &token, json!({ "amount": 5 })).await?;
        assert_eq!((s, b["balance"].as_i64()), (StatusCode::OK, Some(705)), "{b}");
        let (s, b) = server.get(&format!("/payment-keys/{owner}/1/ledger"), &[("Authorization", &format!("Bearer {token}"))]).await?;
        assert_eq!(s, StatusCode::OK);
        let lines: Vec<(Value, Value, Value)> =
            b["entries"].as_array().unwrap().iter().map(|l| (l["kind"].clone(), l["amount"].clone(), l["source"].clone())).collect();
        assert_eq!(lines, [(json!("top_up"), json!(700), json!("dev_credit")), (json!("top_up"), json!(5), json!("dev_credit"))]);
        server.stop().await;
        anyhow::Ok(())
    }
    .await;
    drop_schema(&dev_config).await;
    result
}

/// `POST /admin/grants` takes the admin token, credits the key and records the reason.
async fn admin_grant(config: CoordinatorConfig) -> Result<()> {
    let (server, token) = production(config).await?;
    bearer_post(&server, "/payment-keys", &token, json!({ "nonce": 1, "initial_balance": 0 })).await?;
    let grant = json!({ "key": format!("{OWNER}:1"), "amount": 250_000, "reason": "beta credit" });
    let (s, b) = bearer_post(&server, "/admin/grants", &token, grant.clone()).await?;
    assert_eq!((s, &b["error"]["code"]), (StatusCode::UNAUTHORIZED, &json!("invalid_token")), "an owner is not the admin: {b}");
    let (s, b) = server.post("/admin/grants", None, &grant).await?;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let (s, b) = bearer_post(&server, "/admin/grants", ADMIN, grant.clone()).await?;
    assert_eq!((s, b["balance"].as_i64(), &b["reason"]), (StatusCode::CREATED, Some(250_000), &json!("beta credit")), "{b}");
    let (s, b) = bearer_post(&server, "/admin/grants", ADMIN, json!({ "key": format!("{OWNER}:9"), "amount": 1, "reason": "x" })).await?;
    assert_eq!((s, &b["error"]["code"]), (StatusCode::NOT_FOUND, &json!("key_not_found")), "{b}");
    let (s, b) = bearer_post(&server, "/admin/grants", ADMIN, json!({ "key": OWNER, "amount": 1, "reason": "x" })).await?;
    assert_eq!((s, &b["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("invalid_key")), "{b}");
    let (s, b) = bearer_post(&server, "/admin/grants", ADMIN, json!({ "key": format!("{OWNER}:1"), "amount": 1, "reason": " " })).await?;
    assert_eq!((s, &b["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("invalid_reason")), "{b}");
    // The admin's top-up route is a grant too.
    let (s, b) = bearer_post(&server, &format!("/payment-keys/{OWNER}/1/top-up"), ADMIN, json!({ "amount": 50 })).await?;
    assert_eq!((s, b["balance"].as_i64()), (StatusCode::OK, Some(250_050)), "{b}");
    let ledger = ledger_of(&server, &token, 1).await?;
    let lines: Vec<(Value, Value, Value)> =
        ledger.iter().map(|l| (l["amount"].clone(), l["source"].clone(), l["source_ref"].clone())).collect();
    assert_eq!(lines, [(json!(250_000), json!("admin_grant"), json!("beta credit")), (json!(50), json!("admin_grant"), json!("top-up"))]);
    server.stop().await;
    Ok(())
}

/// An owner with earnings asks for a withdrawal (not more than available: 409), the operator
/// settles it with the payment's transaction hash (once: 409 after), rejects another (its amount
/// is available again); `GET /earnings` shows each state.
async fn withdrawals(config: CoordinatorConfig) -> Result<()> {
    let (server, _) = production(config).await?;
    let workers = spawn_workers(&server, 1).await?;
    let dev = "dev.testnet";
    let dev_token = create_owner(&server, dev).await?;
    server.project(dev, &dev_token, "echo").await?;
    // A payer funded by the operator calls the project once with a 500 deposit it keeps.
    let payer_token = create_owner(&server, "payer.testnet").await?;
    let (_, key) = bearer_post(&server, "/payment-keys", &payer_token, json!({ "nonce": 1, "initial_balance": 0 })).await?;
    bearer_post(&server, "/admin/grants", ADMIN, json!({ "key": "payer.testnet:1", "amount": 100_000, "reason": "test" })).await?;
    let key = key["key"].as_str().unwrap().to_owned();
    let (s, b) = server
        .call(dev, "echo", &key, &[("X-Attached-Deposit", "500".into())], &json!({ "input": {"n": 1}, "resource_limits": small_limits() }))
        .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    stop_workers(workers);
    let earned = (common::ECHO_COST - 1_000) * 8 / 10 + 500;
    let auth = format!("Bearer {dev_token}");
    let earnings = || async { server.get("/earnings", &[("Authorization", &auth)]).await };
    let (s, e) = earnings().await?;
    assert_eq!((s, e["total"].as_i64(), e["available"].as_i64()), (StatusCode::OK, Some(earned), Some(earned)), "{e}");

    let (s, b) = bearer_post(&server, "/earnings/withdrawals", &dev_token, json!({ "amount": earned + 1, "to": dev })).await?;
    assert_eq!((s, &b["error"]["code"]), (StatusCode::CONFLICT, &json!("insufficient_earnings")), "{b}");
    let (s, b) = bearer_post(&server, "/earnings/withdrawals", &dev_token, json!({ "amount": 100, "to": "Not An Account" })).await?;
    assert_eq!((s, &b["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("invalid_account")), "{b}");
    let (s, first) = bearer_post(&server, "/earnings/withdrawals", &dev_token, json!({ "amount": 300, "to": dev })).await?;
    assert_eq!((s, &first["status"], &first["amount"]), (StatusCode::CREATED, &json!("pending"), &json!(300)), "{first}");
    let (_, e) = earnings().await?;
    assert_eq!((e["available"].as_i64(), e["withdrawals_pending"].as_i64()), (Some(earned - 300), Some(300)), "{e}");
    let (s, b) = bearer_post(&server, "/earnings/withdrawals", &dev_token, json!({ "amount": earned - 299, "to": dev })).await?;
    assert_eq!(
        (s, &b["error"]["code"]),
        (StatusCode::CONFLICT, &json!("insufficient_earnings")),
        "a pending withdrawal is not available: {b}"
    );

    let id = first["id"].as_str().unwrap();
    let tx_hash = deposit_tx()["result"]["transaction"]["hash"].as_str().unwrap().to_owned();
    let settle = format!("/admin/withdrawals/{id}/settle");
    let (s, b) = bearer_post(&server, &settle, &dev_token, json!({ "tx_hash": tx_hash })).await?;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the owner cannot settle: {b}");
    let (s, b) = bearer_post(&server, &settle, ADMIN, json!({ "tx_hash": "nope" })).await?;
    assert_eq!((s, &b["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("invalid_tx_hash")), "{b}");
    let (s, b) = bearer_post(&server, &settle, ADMIN, json!({ "tx_hash": tx_hash })).await?;
    assert_eq!((s, &b["status"], &b["tx_hash"]), (StatusCode::OK, &json!("settled"), &json!(tx_hash)), "{b}");
    assert!(b["finished_at_ms"].as_i64().is_some());
    let (s, b) = bearer_post(&server, &settle, ADMIN, json!({ "tx_hash": tx_hash })).await?;
    assert_eq!((s, &b["error"]["code"]), (StatusCode::CONFLICT, &json!("withdrawal_not_pending")), "{b}");
    let (s, b) = bearer_post(&server, "/admin/withdrawals/no-such-id/settle", ADMIN, json!({ "tx_hash": tx_hash })).await?;
    assert_eq!((s, &b["error"]["code"]), (StatusCode::NOT_FOUND, &json!("withdrawal_not_found")), "{b}");

    let (_, second) = bearer_post(&server, "/earnings/withdrawals", &dev_token, json!({ "amount": 100, "to": "treasury.testnet" })).await?;
    let (s, b) = bearer_post(
        &server,
        &format!("/admin/withdrawals/{}/reject", second["id"].as_str().unwrap()),
        ADMIN,
        json!({ "reason": "wrong account" }),
    )
    .await?;
    assert_eq!((s, &b["status"], &b["note"]), (StatusCode::OK, &json!("rejected"), &json!("wrong account")), "{b}");

    let (_, e) = earnings().await?;
    assert_eq!(
        (e["total"].as_i64(), e["withdrawals_pending"].as_i64(), e["withdrawals_settled"].as_i64(), e["available"].as_i64()),
        (Some(earned), Some(0), Some(300), Some(earned - 300)),
        "{e}"
    );
    let listed: Vec<(Value, Value)> =
        e["withdrawals"].as_array().unwrap().iter().map(|w| (w["status"].clone(), w["amount"].clone())).collect();
    assert_eq!(listed, [(json!("rejected"), json!(100)), (json!("settled"), json!(300))], "newest first");
    server.stop().await;
    Ok(())
}

async fn on_postgres<F, Fut>(f: F) -> Result<()>
where
    F: FnOnce(CoordinatorConfig) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    use futures::FutureExt as _;
    let config = pg_config();
    let result = std::panic::AssertUnwindSafe(f(config.clone())).catch_unwind().await;
    drop_schema(&config).await;
    match result {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() -> anyhow::Result<()> {
                    let dir = tempfile::tempdir()?;
                    super::$scenario(super::sqlite_config(&dir)).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() -> anyhow::Result<()> {
                    super::on_postgres(super::$scenario).await
                }
            )*
        }
    };
}

on_both!(deposit_is_credited_once, deposit_by_another_contract, pending_unpriced_and_forged, owners_cannot_mint, admin_grant, withdrawals);
