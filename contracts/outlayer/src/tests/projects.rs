use near_sdk::serde_json::{self, json};

use super::*;

const ONE_NEAR: u128 = 1_000_000_000_000_000_000_000_000;

#[test]
fn creating_a_project_charges_storage_and_refunds_the_rest() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    assert_eq!(c.create_project("app".into()), "dev.near/app");
    assert_eq!(event("project_created"), json!({"project_id": "dev.near/app", "owner": "dev.near"}));
    let refunds = transfers();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].0, "dev.near");
    let charged = ONE_NEAR - refunds[0].1;
    assert!(charged > 0 && charged < ONE_NEAR / 100, "charged {charged}");
    let project = c.get_project("dev.near/app".into()).unwrap();
    assert_eq!(project.owner, acc("dev.near"));
    assert_eq!(project.active_version, None);
}

#[test]
#[should_panic(expected = "Attached deposit 0 yoctoNEAR does not cover the storage cost")]
fn creating_a_project_without_deposit_fails() {
    let mut c = setup();
    set(&ctx("dev.near", 0));
    c.create_project("app".into());
}

#[test]
#[should_panic(expected = "Project dev.near/app already exists")]
fn project_names_are_unique_per_owner() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    c.create_project("app".into());
}

#[test]
#[should_panic(expected = "Project name must be 1-64 characters of a-z, 0-9, '-' or '_'")]
fn project_names_are_validated() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("App/1".into());
}

#[test]
fn versions_are_added_and_activated() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    c.add_version("app".into(), "AA".repeat(32), "https://x.org/1.wasm".into(), None);
    assert_eq!(
        event("version_added"),
        json!({"project_id": "dev.near/app", "wasm_sha256": "aa".repeat(32), "source_url": "https://x.org/1.wasm", "active": true})
    );
    set(&ctx("dev.near", ONE_NEAR));
    c.add_version("app".into(), "bb".repeat(32), "ipfs://bafy".into(), None);
    assert_eq!(event("version_added")["active"], false);
    let project = c.get_project("dev.near/app".into()).unwrap();
    assert_eq!(project.active_version, Some("aa".repeat(32)));
    assert_eq!(project.versions.len(), 2);

    set(&ctx("dev.near", 0));
    c.set_active_version("app".into(), "bb".repeat(32));
    assert_eq!(event("active_version_set"), json!({"project_id": "dev.near/app", "wasm_sha256": "bb".repeat(32)}));
    assert_eq!(c.get_project("dev.near/app".into()).unwrap().active_version, Some("bb".repeat(32)));
    assert_eq!(c.list_projects(None, None).len(), 1);
}

#[test]
#[should_panic(expected = "Project mallory.near/app not found")]
fn only_the_owner_adds_versions() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    set(&ctx("mallory.near", ONE_NEAR));
    c.add_version("app".into(), "aa".repeat(32), "https://x.org/1.wasm".into(), None);
}

#[test]
#[should_panic(expected = "Version aaaa")]
fn duplicate_versions_are_refused() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    c.add_version("app".into(), "aa".repeat(32), "https://x.org/1.wasm".into(), None);
    c.add_version("app".into(), "aa".repeat(32), "https://x.org/2.wasm".into(), None);
}

#[test]
#[should_panic(expected = "not found in dev.near/app")]
fn activating_an_unknown_version_fails() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    c.set_active_version("app".into(), "cc".repeat(32));
}

#[test]
#[should_panic(expected = "Source URL must start with https:// or ipfs:// and be at most 512 bytes")]
fn version_urls_are_validated() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    c.add_version("app".into(), "aa".repeat(32), "ftp://x".into(), None);
}

#[test]
#[should_panic(expected = "Project dev.near/app has no active version")]
fn a_project_without_versions_cannot_run() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    c.request_execution(
        ExecutionSource::Project { project_id: "dev.near/app".into(), version_key: None },
        None,
        None,
        None,
        None,
        None,
        None,
    );
}

#[test]
#[should_panic(expected = "Project mallory.near/app not found")]
fn only_the_owner_activates_versions() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    c.add_version("app".into(), "aa".repeat(32), "https://x.org/1.wasm".into(), None);
    set(&ctx("mallory.near", 0));
    c.set_active_version("app".into(), "aa".repeat(32));
}

#[test]
fn the_owner_sets_and_clears_the_http_allowlist() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    assert!(c.get_project("dev.near/app".into()).unwrap().http_allowlist.is_empty());

    set(&ctx("dev.near", ONE_NEAR));
    let hosts = vec![" api.example.com ".to_owned(), "*.example.org:8443".into(), "http://plain.example".into(), "api.example.com".into()];
    c.set_project_http_allowlist("app".into(), hosts);
    let stored = vec!["api.example.com".to_owned(), "*.example.org:8443".into(), "http://plain.example".into()];
    assert_eq!(event("project_http_allowlist_set"), json!({"project_id": "dev.near/app", "hosts": stored}));
    let refunds = transfers();
    assert_eq!(refunds.len(), 1);
    assert!(refunds[0].1 < ONE_NEAR, "the storage was charged");
    assert_eq!(c.get_project_http_allowlist("dev.near/app".into()), stored);
    let project = c.get_project("dev.near/app".into()).unwrap();
    assert_eq!(project.http_allowlist, stored);
    let view = serde_json::to_value(&project).unwrap();
    assert_eq!(view["http_allowlist"], json!(stored));
    assert_eq!(c.list_projects(None, None)[0].http_allowlist, stored);
    assert!(c.get_project_http_allowlist("dev.near/other".into()).is_empty());

    set(&ctx("dev.near", 0));
    c.set_project_http_allowlist("app".into(), vec![]);
    assert_eq!(event("project_http_allowlist_set"), json!({"project_id": "dev.near/app", "hosts": []}));
    assert!(c.get_project_http_allowlist("dev.near/app".into()).is_empty());
    assert!(c.get_project("dev.near/app".into()).unwrap().http_allowlist.is_empty());
}

#[test]
#[should_panic(expected = "Project mallory.near/app not found")]
fn only_the_owner_sets_the_http_allowlist() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    set(&ctx("mallory.near", ONE_NEAR));
    c.set_project_http_allowlist("app".into(), vec!["evil.example".into()]);
}

#[test]
#[should_panic(expected = "Attached deposit 0 yoctoNEAR does not cover the storage cost")]
fn an_http_allowlist_needs_a_storage_deposit() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    set(&ctx("dev.near", 0));
    c.set_project_http_allowlist("app".into(), vec!["api.example.com".into()]);
}

#[test]
fn http_allowlist_entries_are_checked() {
    let refused = [
        ("ftp://x.org", "the only schemes allowed are http:// and https://"),
        ("api.*.example.com", "a wildcard is allowed only as a leading `*.`"),
        ("*", "a wildcard is allowed only as a leading `*.`"),
        ("*.", "empty host"),
        ("x.org/path", "expected host[:port], without a path, user or query"),
        ("user@x.org", "expected host[:port], without a path, user or query"),
        ("http://", "empty host"),
        (":443", "empty host"),
    ];
    for (entry, reason) in refused {
        assert_eq!(crate::projects::check_http_entry(entry), Err(reason), "{entry}");
    }
    for entry in ["api.example.com", "*.example.org:8443", "HTTP://Plain.Example", "https://x.org", "203.0.113.7:8080", "[2001:db8::1]:443"]
    {
        assert_eq!(crate::projects::check_http_entry(entry), Ok(()), "{entry}");
    }
    let long = format!("{}.org", "a".repeat(300));
    assert_eq!(crate::projects::check_http_entry(&long), Err("longer than 300 bytes"));
}

#[test]
#[should_panic(expected = "Invalid http allowlist entry `x.org/path`: expected host[:port], without a path, user or query")]
fn an_invalid_http_allowlist_entry_is_refused() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    set(&ctx("dev.near", ONE_NEAR));
    c.set_project_http_allowlist("app".into(), vec!["api.example.com".into(), "x.org/path".into()]);
}

#[test]
#[should_panic(expected = "An http allowlist holds at most 64 entries")]
fn an_http_allowlist_is_bounded() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    set(&ctx("dev.near", ONE_NEAR));
    c.set_project_http_allowlist("app".into(), (0..65).map(|i| format!("h{i}.example")).collect());
}

#[test]
fn the_owner_sets_project_grants_and_the_views_show_them() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    c.set_project_http_allowlist("app".into(), vec!["api.example.com".into()]);
    assert_eq!(c.get_project("dev.near/app".into()).unwrap().grants, ProjectGrants::default());
    set(&ctx("dev.near", 0));
    c.set_project_grants("app".into(), ProjectGrants { storage: true, rpc: false, vrf: true });
    assert_eq!(event("project_grants_set"), json!({"project_id": "dev.near/app", "grants": {"storage": true, "rpc": false, "vrf": true}}));
    // The view's JSON (what the coordinator syncs): grants and http_allowlist included.
    let view = serde_json::to_value(c.get_project("dev.near/app".into()).unwrap()).unwrap();
    assert_eq!(view["grants"], json!({"storage": true, "rpc": false, "vrf": true}));
    assert_eq!(view["http_allowlist"], json!(["api.example.com"]));
    let listed = serde_json::to_value(c.list_projects(None, None)).unwrap();
    assert_eq!(listed[0]["grants"], view["grants"]);
    assert_eq!(c.get_project_http_allowlist("dev.near/app".into()), vec!["api.example.com".to_owned()]);
    // All false again: cleared.
    c.set_project_grants("app".into(), ProjectGrants::default());
    assert!(c.project_grants.get("dev.near/app").is_none());
    assert_eq!(c.get_project("dev.near/app".into()).unwrap().grants, ProjectGrants::default());
}

#[test]
#[should_panic(expected = "Project mallory.near/app not found")]
fn only_the_owner_sets_project_grants() {
    let mut c = setup();
    set(&ctx("dev.near", ONE_NEAR));
    c.create_project("app".into());
    // The name is taken relative to the caller: another account reaches only its own projects.
    set(&ctx("mallory.near", 0));
    c.set_project_grants("app".into(), ProjectGrants { storage: true, rpc: true, vrf: true });
}
