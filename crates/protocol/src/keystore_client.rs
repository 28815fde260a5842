//! The HTTP client of a keystore (feature `client`): what workers (sessions, releases) and
//! developers (`outlayer secrets seal --keystore`) call. Answers stay sealed: opening them is the
//! caller's business.

use std::time::Duration;

use outlayer_attest::Challenge;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::ClientError;
use crate::secrets::{OpenSession, ReleaseRequest, Released, SealingKey, SecretAccessor, SessionOpened, VrfKey};

/// How long one keystore request may take (a release may read NEAR).
pub const KEYSTORE_TIMEOUT: Duration = Duration::from_secs(30);

/// A keystore at one base URL.
#[derive(Debug, Clone)]
pub struct KeystoreClient {
    http: reqwest::Client,
    base: String,
}

impl KeystoreClient {
    /// The keystore at `base` (e.g. `http://127.0.0.1:8081`).
    pub fn new(base: &str) -> Result<Self, ClientError> {
        Ok(Self { http: reqwest::Client::builder().timeout(KEYSTORE_TIMEOUT).build()?, base: base.trim_end_matches('/').to_owned() })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: Option<&impl Serialize>) -> Result<T, ClientError> {
        let mut req = self.http.post(format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(body);
        }
        crate::client::decode(req.send().await?).await
    }

    /// `POST /sessions/challenge`.
    pub async fn challenge(&self) -> Result<Challenge, ClientError> {
        self.post("/sessions/challenge", None::<&()>).await
    }

    /// `POST /sessions`.
    pub async fn open_session(&self, req: &OpenSession) -> Result<SessionOpened, ClientError> {
        self.post("/sessions", Some(req)).await
    }

    /// `POST /release`.
    pub async fn release(&self, req: &ReleaseRequest) -> Result<Released, ClientError> {
        self.post("/release", Some(req)).await
    }

    /// `GET /pubkey?accessor=…`.
    pub async fn sealing_key(&self, accessor: &SecretAccessor) -> Result<SealingKey, ClientError> {
        let resp = self.http.get(format!("{}/pubkey", self.base)).query(&[("accessor", accessor.to_string())]).send().await?;
        crate::client::decode(resp).await
    }

    /// `GET /vrf/pubkey`.
    pub async fn vrf_key(&self) -> Result<VrfKey, ClientError> {
        crate::client::decode(self.http.get(format!("{}/vrf/pubkey", self.base)).send().await?).await
    }
}
