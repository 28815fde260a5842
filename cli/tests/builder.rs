//! Builds from source end to end: `outlayer serve` (in-process builder) and `outlayer
//! coordinator` + `outlayer builder` (remote builder with the builder token), against local git
//! repositories (file://). The built version is then called like an uploaded one.

mod common;
use common::{Proc, free_port, wait_healthy};

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"))
}

fn outlayer(args: &[&str], data_dir: &Path, env: &[(&str, &str)]) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_outlayer"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("OUTLAYER_LOG", "warn")
        .env("OUTLAYER_BUILDER_CARGO_HOME", cargo_home())
        .env("OUTLAYER_BUILDER_ALLOW_SCHEMES", "file")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn outlayer");
    Proc(child)
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").args(["-c", "user.name=t", "-c", "user.email=t@t"]).args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A repository holding a guest crate printing `output`; its URL and commit.
fn guest_repo(dir: &Path, output: &str) -> (String, String) {
    std::fs::create_dir_all(dir.join("guest/src")).unwrap();
    std::fs::write(
        dir.join("guest/Cargo.toml"),
        "[package]\nname = \"built\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(dir.join("guest/src/main.rs"), format!("fn main() {{ print!(\"{{}}\", r#\"{output}\"#); }}\n")).unwrap();
    let out = Command::new("cargo").args(["generate-lockfile", "--offline"]).current_dir(dir.join("guest")).output().unwrap();
    assert!(out.status.success());
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "guest"]);
    (format!("file://{}", dir.display()), git(dir, &["rev-parse", "HEAD"]))
}

struct Owner {
    http: reqwest::Client,
    url: String,
    name: String,
    token: String,
}

impl Owner {
    async fn new(url: &str) -> Self {
        let http = reqwest::Client::new();
        let name = format!("o{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let r: Value = http.post(format!("{url}/owners")).json(&json!({ "owner": name })).send().await.unwrap().json().await.unwrap();
        Self { http, url: url.into(), name, token: r["token"].as_str().unwrap().into() }
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self.http.post(format!("{}{path}", self.url)).bearer_auth(&self.token).json(&body).send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        self.http.get(format!("{}{path}", self.url)).send().await.unwrap().json().await.unwrap()
    }

    async fn wait_build(&self, id: &str) -> Value {
        for _ in 0..2400 {
            let v = self.get(&format!("/builds/{id}")).await;
            if v["status"] == "succeeded" || v["status"] == "failed" {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("build {id} did not finish");
    }
}

/// Asks for a version of `project` built from `source`, waits for the build.
async fn build_version(owner: &Owner, project: &str, source: Value) -> Value {
    let (status, body) = owner.post(&format!("/projects/{}/{project}/versions", owner.name), json!({ "source": source })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["build_id"].as_str().unwrap().to_owned();
    assert_eq!(body["poll_url"], format!("/builds/{id}"));
    owner.wait_build(&id).await
}

async fn call(owner: &Owner, project: &str) -> Value {
    let (status, key) = owner.post("/payment-keys", json!({ "initial_balance": 10_000_000 })).await;
    assert!(status.is_success(), "{key}");
    let r = owner
        .http
        .post(format!("{}/call/{}/{project}", owner.url, owner.name))
        .header("x-payment-key", key["key"].as_str().unwrap())
        .json(&json!({ "input": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test]
async fn serve_builds_a_version_from_git_and_calls_it() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, commit) = guest_repo(&dir.path().join("repo"), r#"{"built":"from git"}"#);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _serve = outlayer(&["serve", "--listen", &format!("127.0.0.1:{port}")], &dir.path().join("data"), &[]);
    let http = reqwest::Client::new();
    wait_healthy(&http, &url).await;
    let owner = Owner::new(&url).await;
    let (status, _) = owner.post("/projects", json!({ "name": "built" })).await;
    assert_eq!(status, StatusCode::CREATED);

    // Hostile input is refused with a typed error before anything is queued.
    let (status, body) = owner
        .post(
            &format!("/projects/{}/built/versions", owner.name),
            json!({ "source": { "git": "--upload-pack=touch /tmp/x", "commit": commit } }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_source");
    let (status, body) =
        owner.post(&format!("/projects/{}/built/versions", owner.name), json!({ "source": { "git": repo, "commit": "main" } })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_source");

    let source = json!({ "git": repo, "commit": commit, "path": "guest" });
    let build = build_version(&owner, "built", source.clone()).await;
    assert_eq!(build["status"], "succeeded", "{build}");
    assert_eq!(build["cache_hit"], false);
    assert!(build["log"].as_str().unwrap().contains("cargo build --release --locked --offline"), "{build}");
    let sha = build["wasm_sha256"].as_str().unwrap().to_owned();
    assert!(build["toolchain"].as_str().unwrap().starts_with("rustc 1.95.0"));
    let project = owner.get(&format!("/projects/{}/built", owner.name)).await;
    assert_eq!(project["active_version"], sha.as_str());
    let result = call(&owner, "built").await;
    assert_eq!(result["output"], json!({ "built": "from git" }), "{result}");

    // Asked again: a cache hit with the same hash; forced: rebuilt, same hash.
    let again = build_version(&owner, "built", source.clone()).await;
    assert_eq!(
        (again["status"].as_str(), again["cache_hit"].as_bool(), again["wasm_sha256"].as_str()),
        (Some("succeeded"), Some(true), Some(sha.as_str()))
    );
    let (status, body) =
        owner.post(&format!("/projects/{}/built/versions", owner.name), json!({ "source": source, "force_rebuild": true })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let forced = owner.wait_build(body["build_id"].as_str().unwrap()).await;
    assert_eq!(forced["cache_hit"], false);
    assert_eq!(forced["reproducible"], true, "{forced}");
    assert_eq!(forced["wasm_sha256"], sha.as_str());

    // A typed failure, with the log.
    let missing: String = commit.chars().map(|c| if c == 'a' { 'b' } else { 'a' }).collect();
    let failed = build_version(&owner, "built", json!({ "git": repo, "commit": missing })).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "commit_not_found", "{failed}");
    let unknown = owner.http.get(format!("{url}/builds/nope")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(unknown.json::<Value>().await.unwrap()["error"]["code"], "build_not_found");
}

#[tokio::test]
async fn a_remote_builder_leases_with_the_builder_token() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, commit) = guest_repo(&dir.path().join("repo"), r#"{"remote":1}"#);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let token = "builder-secret-token";
    let _coordinator = outlayer(
        &["coordinator", "--listen", &format!("127.0.0.1:{port}"), "--dev-owners"],
        &dir.path().join("coord"),
        &[("OUTLAYER_BUILDER_TOKEN", token)],
    );
    let http = reqwest::Client::new();
    wait_healthy(&http, &url).await;
    // Without the token: refused, typed.
    let r = http.post(format!("{url}/builder/lease")).bearer_auth("wrong").json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "invalid_builder_token");

    let owner = Owner::new(&url).await;
    owner.post("/projects", json!({ "name": "remote" })).await;
    let (status, body) = owner
        .post(&format!("/projects/{}/remote/versions", owner.name), json!({ "source": { "git": repo, "commit": commit, "path": "guest" } }))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = body["build_id"].as_str().unwrap().to_owned();
    assert_eq!(owner.get(&format!("/builds/{id}")).await["status"], "queued");

    let _builder = outlayer(&["builder", "--coordinator", &url], &dir.path().join("builder"), &[("OUTLAYER_BUILDER_TOKEN", token)]);
    let build = owner.wait_build(&id).await;
    assert_eq!(build["status"], "succeeded", "{build}");
    let project = owner.get(&format!("/projects/{}/remote", owner.name)).await;
    assert_eq!(project["active_version"], build["wasm_sha256"]);
    assert_eq!(project["versions"][0]["wasm_sha256"], build["wasm_sha256"]);
}
