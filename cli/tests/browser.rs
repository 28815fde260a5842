//! The dashboard in a real browser: `outlayer serve`, Debian's headless `chromium` driven over
//! WebDriver (`chromedriver`, fantoccini). Signs in, creates a project, uploads the echo guest,
//! creates a key, calls with the page's `curl`, sees the call with its receipt verified (the
//! verdict's layers), revokes the key, signs out; a second user sees none of it; a form POST
//! without the CSRF token is refused. Screenshots of each page go to `target/screenshots/`.
//!
//! Without chromium / chromedriver (and no way to install them) the test fails when `CI=true`
//! and is skipped with a printed reason otherwise.

mod common;
use common::{Proc, free_port};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n))).find(|p| p.is_file())
}

/// `(chromium, chromedriver)`, installing Debian's packages when missing and possible.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let find = || Some((which(&["chromium", "chromium-browser"])?, which(&["chromedriver"])?));
    if let Some(t) = find() {
        return Ok(t);
    }
    let installed = Command::new("apt-get")
        .args(["install", "-y", "chromium", "chromium-driver"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    find().ok_or_else(|| format!("chromium and chromedriver are not installed (apt-get install ran: {installed})"))
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

async fn wait_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {port}");
}

/// The element's text, finding it again if the page replaced it between finding and reading
/// (a navigation still in flight makes the first element stale).
async fn text(c: &Client, css: &str) -> String {
    for _ in 0..50 {
        match find(c, css).await.text().await {
            Ok(text) => return text,
            Err(e) if e.is_stale_element_reference() => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{css}: {e}"),
        }
    }
    panic!("{css}: the element kept going stale")
}

/// The element, waiting for it (a click's navigation may still be loading).
async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"))
}

async fn sign_in(c: &Client, base: &str, token: &str) {
    c.goto(&format!("{base}/")).await.unwrap();
    find(c, "#token").await.send_keys(token).await.unwrap();
    find(c, "form[action='/ui/signin'] button").await.click().await.unwrap();
    find(c, "form.signout button").await; // signed in: the next navigation cannot race the sign-in's redirect
}

async fn sign_out(c: &Client) {
    find(c, "form.signout button").await.click().await.unwrap();
    find(c, "#token").await; // signed out: the sign-in form again
}

async fn new_owner(http: &reqwest::Client, base: &str, prefix: &str) -> (String, String) {
    let owner = format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let r: Value = http.post(format!("{base}/owners")).json(&json!({ "owner": owner })).send().await.unwrap().json().await.unwrap();
    (owner, r["token"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_chromium() {
    let (chromium, chromedriver) = match browser_tools() {
        Ok(t) => t,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("browser test cannot run in CI: {why}"),
        Err(why) => {
            eprintln!("SKIPPED dashboard_in_chromium: {why}");
            return;
        }
    };
    // Several rustls crypto providers are linked into this test; pick one for the WebDriver client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _serve = Proc(
        Command::new(env!("CARGO_BIN_EXE_outlayer"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data.path())
            .env("OUTLAYER_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn outlayer serve"),
    );
    let driver_port = free_port();
    let _driver = Proc(
        Command::new(&chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver"),
    );
    wait_port(port).await;
    wait_port(driver_port).await;

    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.path().display()),
                     "--window-size=1280,900"],
        }),
    );
    let c = ClientBuilder::rustls()
        .expect("rustls")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("webdriver session");
    let http = reqwest::Client::new();
    let (alice, alice_token) = new_owner(&http, &base, "alice").await;
    let (_bob, bob_token) = new_owner(&http, &base, "bob").await;

    // Sign in.
    c.goto(&format!("{base}/")).await.unwrap();
    shot(&c, "01-sign-in").await;
    sign_in(&c, &base, &alice_token).await;
    assert_eq!(text(&c, "#account").await, alice);

    // A project with a grant, then the echo guest uploaded through the file input.
    c.goto(&format!("{base}/ui/projects")).await.unwrap();
    find(&c, "#name").await.send_keys("echo").await.unwrap();
    find(&c, "input[name=grants][value=storage]").await.click().await.unwrap();
    find(&c, "form[action='/ui/projects'] button").await.click().await.unwrap();
    assert_eq!(text(&c, "#grants").await, "storage");
    find(&c, "#wasm").await.send_keys(outlayer_guest_artifacts::ECHO).await.unwrap();
    find(&c, "form[enctype='multipart/form-data'] button").await.click().await.unwrap();
    let wasm = std::fs::read(outlayer_guest_artifacts::ECHO).unwrap();
    let sha = text(&c, "code.sha").await;
    assert_eq!(sha.len(), 64);
    assert!(c.source().await.unwrap().contains(">active<"));
    shot(&c, "03-project").await;
    c.goto(&format!("{base}/ui/projects")).await.unwrap();
    shot(&c, "02-projects").await;
    assert!(wasm.len() > 8);

    // A key: the secret once, and a curl that works as shown.
    c.goto(&format!("{base}/ui/keys")).await.unwrap();
    find(&c, "form[action='/ui/keys'] button").await.click().await.unwrap();
    let key = text(&c, "#secret").await;
    assert!(key.starts_with(&format!("{alice}:1:")));
    let curl = text(&c, "#curl").await;
    assert!(curl.contains(&format!("/call/{alice}/echo")) && curl.contains(&key), "{curl}");
    shot(&c, "04-key-created").await;
    let output = match which(&["curl"]) {
        Some(_) => String::from_utf8(Command::new("sh").arg("-c").arg(&curl).output().expect("run curl").stdout).unwrap(),
        None => http
            .post(format!("{base}/call/{alice}/echo"))
            .header("X-Payment-Key", &key)
            .json(&json!({ "input": { "hello": "world" } }))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    };
    let called: Value = serde_json::from_str(&output).unwrap_or_else(|e| panic!("{e}: {output}"));
    assert_eq!(called["status"], "completed", "{called}");
    let call_id = called["call_id"].as_str().unwrap().to_owned();

    // The call on the key page, then its page with the receipt checked.
    c.goto(&format!("{base}/ui/keys/1")).await.unwrap();
    find(&c, &format!("a[href='/ui/calls/{call_id}']")).await.click().await.unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("badge PASS") && !page.contains("badge FAIL") && !page.contains("badge UNPROVEN"), "receipt checks");
    // The verdict of `outlayer verify`'s checks, run by the server: `serve` allows dev evidence
    // (PASS, noted as dev) and its policy holds the dev measurements.
    for layer in ["authenticity", "identity", "binding"] {
        let badge = find(&c, &format!("#layer-{layer} .badge")).await.text().await.unwrap();
        assert_eq!(badge, "PASS", "{layer}");
    }
    assert!(page.contains("dev attestation: not a TEE (accepted because dev was allowed)"), "{page}");
    assert!(page.contains(&format!("outlayer verify call {call_id}")), "{page}");
    assert!(page.contains("hello"));
    shot(&c, "05-call").await;
    c.execute("document.getElementById('checks').scrollIntoView()", vec![]).await.unwrap();
    shot(&c, "05-call-checks").await;
    c.execute("document.getElementById('layer-binding').scrollIntoView()", vec![]).await.unwrap();
    shot(&c, "05-call-binding").await;

    // CSRF: the same session posting a form without the token is refused.
    let status = c
        .execute_async(
            "const done = arguments[0]; fetch('/ui/projects', {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'name=nocsrf'}).then(r => done(r.status));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, json!(403));

    // The overview, on a desktop and on a phone-sized window; the public pages.
    c.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(text(&c, "#stat-calls").await, "1");
    shot(&c, "00-overview").await;
    c.set_window_size(390, 844).await.unwrap();
    shot(&c, "00-overview-phone").await;
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&format!("{base}/ui/workers")).await.unwrap();
    shot(&c, "07-workers").await;
    c.goto(&format!("{base}/ui/docs/quick-start")).await.unwrap();
    shot(&c, "08-docs").await;

    // Revoke: the key no longer pays.
    c.goto(&format!("{base}/ui/keys/1")).await.unwrap();
    find(&c, "button.danger").await.click().await.unwrap();
    assert_eq!(text(&c, "#key-state").await, "revoked");
    shot(&c, "06-key").await;
    let r = http.post(format!("{base}/call/{alice}/echo")).header("X-Payment-Key", &key).json(&json!({ "input": 1 })).send().await.unwrap();
    assert_eq!(r.status(), 401);
    sign_out(&c).await;

    // Another owner sees none of alice's keys or calls.
    sign_in(&c, &base, &bob_token).await;
    c.goto(&format!("{base}/ui/calls/{call_id}")).await.unwrap();
    assert_eq!(text(&c, "h1").await, "Not found");
    c.goto(&format!("{base}/ui/keys")).await.unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("No payment keys yet") && !page.contains(&key[..alice.len() + 2]));
    sign_out(&c).await;
    // Ending the WebDriver session is cleanup, not part of what is tested (chromedriver is killed
    // when `Proc` drops either way); under load it has failed once in five runs after every
    // assertion had passed.
    if let Err(e) = c.close().await {
        eprintln!("closing the browser session failed (after every check passed): {e}");
    }
}
