//! The keystore's HTTP API (axum 0.8). Every error is `{"error": {"code", "message"}}`.
//!
//! | method | path | body → answer |
//! |---|---|---|
//! | GET | `/healthz` | → `{status, derivation, fingerprint?, vrf_public_key}` |
//! | GET | `/pubkey?accessor=project:{owner}/{name}` | → [`SealingKey`](outlayer_protocol::secrets::SealingKey) |
//! | GET | `/vrf/pubkey` | → [`VrfKey`](outlayer_protocol::secrets::VrfKey) |
//! | POST | `/sessions/challenge` | → `Challenge` |
//! | POST | `/sessions` | [`OpenSession`] → [`SessionOpened`](outlayer_protocol::secrets::SessionOpened) |
//! | POST | `/release` | [`ReleaseRequest`] → [`Released`](outlayer_protocol::secrets::Released) |
//! | POST | `/replica/challenge` | → `Challenge` |
//! | POST | `/replica/join` | [`ReplicaJoin`] → [`ReplicaMaster`](outlayer_protocol::secrets::ReplicaMaster) |

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use outlayer_protocol::secrets::{OpenSession, ReleaseRequest, ReplicaJoin, SecretAccessor};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::{Keystore, KeystoreError};

/// Largest request body (evidence with its collateral is the big one).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The router.
pub fn router(keystore: Arc<Keystore>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/pubkey", get(pubkey))
        .route("/vrf/pubkey", get(vrf_pubkey))
        .route("/sessions/challenge", post(challenge))
        .route("/sessions", post(open_session))
        .route("/release", post(release))
        .route("/replica/challenge", post(replica_challenge))
        .route("/replica/join", post(replica_join))
        .fallback(|| async { KeystoreError::bad("not_found", "no such endpoint") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(keystore)
}

type Ks = State<Arc<Keystore>>;

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, KeystoreError> {
    serde_json::from_slice(body).map_err(|e| KeystoreError::bad("invalid_json", e.to_string()))
}

async fn healthz(State(ks): Ks) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "derivation": ks.derivation().id(),
        "fingerprint": ks.derivation().master().map(|m| m.fingerprint()),
        "vrf_public_key": ks.vrf_key().public_key,
        "dev_attestation": ks.config().policy.allow_dev,
    }))
}

#[derive(Deserialize)]
struct PubkeyQuery {
    accessor: Option<String>,
}

async fn pubkey(
    State(ks): Ks,
    query: Result<Query<PubkeyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, KeystoreError> {
    let accessor = query
        .ok()
        .and_then(|q| q.0.accessor)
        .ok_or_else(|| KeystoreError::bad("invalid_accessor", "give ?accessor=project:{owner}/{name} or wasm:{sha256}"))?;
    let accessor: SecretAccessor =
        accessor.parse().map_err(|e: outlayer_protocol::secrets::ScopeError| KeystoreError::bad("invalid_accessor", e.to_string()))?;
    Ok(Json(serde_json::to_value(ks.sealing_key(&accessor)).expect("serializes")))
}

async fn vrf_pubkey(State(ks): Ks) -> Json<serde_json::Value> {
    Json(serde_json::to_value(ks.vrf_key()).expect("serializes"))
}

async fn challenge(State(ks): Ks) -> Result<Json<serde_json::Value>, KeystoreError> {
    Ok(Json(serde_json::to_value(ks.challenge()?).expect("serializes")))
}

async fn open_session(State(ks): Ks, body: Bytes) -> Result<Json<serde_json::Value>, KeystoreError> {
    let req: OpenSession = parse(&body)?;
    Ok(Json(serde_json::to_value(ks.open_session(&req)?).expect("serializes")))
}

async fn release(State(ks): Ks, body: Bytes) -> Result<Json<serde_json::Value>, KeystoreError> {
    let req: ReleaseRequest = parse(&body)?;
    Ok(Json(serde_json::to_value(ks.release(&req).await?).expect("serializes")))
}

async fn replica_challenge(State(ks): Ks) -> Result<Json<serde_json::Value>, KeystoreError> {
    Ok(Json(serde_json::to_value(ks.replica_challenges.challenge((ks.now_ms() / 1000) as u64)?).expect("serializes")))
}

async fn replica_join(State(ks): Ks, body: Bytes) -> Result<Json<serde_json::Value>, KeystoreError> {
    let req: ReplicaJoin = parse(&body)?;
    Ok(Json(serde_json::to_value(ks.answer_join(&req)?).expect("serializes")))
}
