//! The local HTTP test server a case may ask for (`[http_server]` in `case.toml`): routes with a
//! status, headers, a body (or a body made by repetition, or an echo of the request) and a delay,
//! served on `127.0.0.1:<free port>` for the case's duration. The runner writes its address into
//! the case's inputs and allowlist (`{http_server}`) and asks the host to admit it with the
//! test-only loopback setting (`admit_loopback_for_tests` in the request's http grant).

use crate::case::{HttpServerSpec, RouteSpec};
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What `{http_server}` in a case's inputs and allowlist becomes: `127.0.0.1:<port>`.
pub const PLACEHOLDER: &str = "{http_server}";

/// A running test server, stopped when dropped.
pub struct TestServer {
    /// Where it listens (always loopback).
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start the server of `spec` on a free loopback port (within the current tokio runtime).
pub async fn start(spec: &HttpServerSpec) -> std::io::Result<TestServer> {
    let routes: Arc<[RouteSpec]> = spec.route.clone().into();
    let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let routes = routes.clone();
        async move { answer(&routes, method, uri, headers, body).await }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(TestServer { addr, task })
}

async fn answer(routes: &[RouteSpec], method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let route = routes.iter().find(|r| r.path == uri.path() && r.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method.as_str())));
    let Some(route) = route else {
        return (StatusCode::NOT_FOUND, format!("no route {} {}", method, uri.path())).into_response();
    };
    if let Some(ms) = route.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let status = StatusCode::from_u16(route.status.unwrap_or(200)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let bytes: Vec<u8> = if route.echo {
        let text = String::from_utf8_lossy(&body).into_owned();
        let echoed_headers: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("x-") || *name == "content-type")
            .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into()))
            .collect();
        let json = serde_json::from_str::<serde_json::Value>(&text).unwrap_or(serde_json::Value::Null);
        serde_json::json!({ "method": method.as_str(), "path": uri.path(), "headers": echoed_headers, "body": text, "json": json })
            .to_string()
            .into_bytes()
    } else if let Some(r) = &route.body_repeat {
        r.text.repeat(r.count).into_bytes()
    } else {
        route.body.clone().unwrap_or_default().into_bytes()
    };
    let mut response = (status, bytes).into_response();
    if route.echo {
        response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    }
    for (name, value) in &route.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
            response.headers_mut().insert(n, v);
        }
    }
    response
}
