//! `POST /auth/challenge` and `POST /auth/signin`: owners sign in with a NEAR account
//! (NEP-413, see [`crate::signin`]).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;

use super::json_body;
use crate::error::ApiError;
use crate::signin::{self, SigninChallenge, SigninRequest, SigninResponse};
use crate::state::AppState;

pub(super) async fn challenge(State(state): State<AppState>) -> Result<Json<SigninChallenge>, ApiError> {
    Ok(Json(signin::issue_challenge(&state).await?))
}

pub(super) async fn signin(State(state): State<AppState>, body: Body) -> Result<(StatusCode, Json<SigninResponse>), ApiError> {
    let req: SigninRequest = json_body(body).await?;
    let done = signin::sign_in(&state, &req).await?;
    Ok((if done.created { StatusCode::CREATED } else { StatusCode::OK }, Json(done)))
}
