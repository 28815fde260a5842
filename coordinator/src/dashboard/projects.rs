//! Projects: list and create (with grants), a project's versions (upload with drag-and-drop or
//! the file input, set active), its secrets (not available yet) and its recent calls.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;

use super::Dashboard;
use super::calls::{CALLS_PAGE, calls_section, page_of};
use super::layout::{self, bytes, csrf_field, short, time};
use super::session::field;
use crate::db::ProjectRow;
use crate::db::registry::ProjectOrigin;
use crate::error::ApiError;
use crate::limits::{MAX_WASM_BYTES, valid_name};
use crate::model::Capability;
use crate::state::{AppState, now_ms};
use outlayer_protocol::receipt::sha256_hex;

/// `GET /ui/projects`.
pub async fn list(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = dash.ctx(&headers);
    let owner = match ctx.owner() {
        Ok(o) => o.to_owned(),
        Err(r) => return Ok(r),
    };
    let projects = state.db.projects_of(&owner).await?;
    let origins: HashMap<String, ProjectOrigin> = state.db.project_origins(&owner).await?.into_iter().collect();
    let body = html! {
        @if projects.is_empty() {
            p { "No projects yet: create one below, then upload a " code { ".wasm" } " version." }
        } @else {
            div.scroll { table {
                caption.hint { "Your projects" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Origin" } th scope="col" { "Grants" } th scope="col" { "Active version" } th.hide-narrow scope="col" { "Created" } } }
                tbody {
                    @for p in &projects {
                        tr {
                            td { a href={ "/ui/projects/" (p.name) } { (p.name) } }
                            td { (origin_label(origins.get(&p.name).copied().unwrap_or(ProjectOrigin::Dev))) }
                            td { (grants_text(&p.grants)) }
                            td { @match &p.active_version { Some(v) => (short(v)), None => "none" } }
                            td.hide-narrow { (time(p.created_ms)) }
                        }
                    }
                }
            } }
        }
        h2 #new { "New project" }
        form method="post" action="/ui/projects" aria-labelledby="new" {
            (csrf_field(&ctx))
            label for="name" { "Name" }
            input #name type="text" name="name" required pattern="[a-z0-9._\\-]{2,64}" aria-describedby="name-hint";
            p #name-hint .hint { "2–64 characters of a–z, 0–9, " code { "." } ", " code { "_" } ", " code { "-" } "." }
            fieldset {
                legend { "Grants (capabilities every call of this project gets; nothing is granted by default)" }
                @for c in Capability::ALL {
                    label { input type="checkbox" name="grants" value=(c.name()); (c.name()) }
                }
            }
            button type="submit" { "Create project" }
        }
    };
    Ok(layout::page(&ctx, "Projects", body))
}

/// `chain` (synced from the OutLayer contract, its record) or `dev (off-chain)`.
fn origin_label(origin: ProjectOrigin) -> &'static str {
    match origin {
        ProjectOrigin::Chain => "chain",
        ProjectOrigin::Dev => "dev (off-chain)",
    }
}

/// Why the dashboard may not change `project`'s versions (a chain project), if so.
async fn chain_refusal(state: &AppState, project: &ProjectRow) -> Result<Option<&'static str>, ApiError> {
    Ok((state.db.project_origin(&project.id).await? == ProjectOrigin::Chain)
        .then_some("This project is registered on the OutLayer contract, which is its record: change its versions there."))
}

fn grants_text(grants: &[Capability]) -> String {
    if grants.is_empty() { "none".into() } else { grants.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ") }
}

/// `POST /ui/projects` (`csrf`, `name`, `grants`…).
pub async fn create(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let (ctx, owner) = match dash.checked_owner(&headers, field(&form, "csrf")) {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    if state.config.near.is_some() && !state.config.signin.dev_owners {
        return Ok(layout::invalid(
            &ctx,
            "/ui/projects",
            "Create projects on the OutLayer contract: this coordinator serves its projects.",
        ));
    }
    let name = field(&form, "name").unwrap_or_default().trim().to_owned();
    if !valid_name(&name) {
        return Ok(layout::invalid(&ctx, "/ui/projects", "A project name is 2–64 characters of a–z, 0–9, '.', '_' and '-'."));
    }
    let mut grants = Vec::new();
    for (_, g) in form.iter().filter(|(k, _)| k == "grants") {
        match g.parse::<Capability>() {
            Ok(c) => grants.push(c),
            Err(e) => return Ok(layout::invalid(&ctx, "/ui/projects", &e.to_string())),
        }
    }
    grants.sort_by_key(|c| c.name());
    grants.dedup();
    match crate::admission::check_project_quota(&state, &owner).await {
        Err(e) if !e.status.is_server_error() => return Ok(layout::invalid(&ctx, "/ui/projects", &e.message)),
        other => other?,
    }
    let project = ProjectRow {
        id: uuid::Uuid::new_v4().to_string(),
        owner,
        name: name.clone(),
        active_version: None,
        grants,
        http_allowlist: Vec::new(),
        created_ms: now_ms(),
    };
    if !state.db.create_project(&project).await? {
        return Ok(layout::invalid(&ctx, "/ui/projects", &format!("You already have a project named {name}.")));
    }
    Ok(layout::redirect(&ctx, &format!("/ui/projects/{name}")))
}

/// `GET /ui/projects/{name}[?before=<cursor>]`.
pub async fn show(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let ctx = dash.ctx(&headers);
    let owner = match ctx.owner() {
        Ok(o) => o.to_owned(),
        Err(r) => return Ok(r),
    };
    let Some(p) = state.db.project(&owner, &name).await? else {
        return Ok(layout::not_found(&ctx, &format!("You have no project named {name}.")));
    };
    let versions = state.db.versions(&p.id).await?;
    let origin = state.db.project_origin(&p.id).await?;
    let profiles = state.db.secret_profiles(&p.id).await?;
    let page = page_of(&q);
    let calls = state.db.calls_by_project(&p.id, &page).await?;
    let here = format!("/ui/projects/{name}");
    let body = html! {
        dl {
            dt { "Project" } dd { code { (p.owner) "/" (p.name) } }
            dt { "Id" } dd { code { (p.id) } }
            dt { "Origin" } dd #origin { (origin_label(origin)) }
            dt { "Grants" } dd #grants { (grants_text(&p.grants)) }
            dt { "Created" } dd { (time(p.created_ms)) }
        }
        h2 #versions { "Versions" }
        @if versions.is_empty() {
            p { "No version yet. Upload a " code { ".wasm" } " component: the first upload becomes active." }
        } @else {
            div.scroll { table aria-labelledby="versions" {
                thead { tr { th scope="col" { "sha256" } th.num scope="col" { "Size" } th.hide-narrow scope="col" { "Uploaded" } th scope="col" { "State" } } }
                tbody {
                    @for v in versions.iter().rev() {
                        tr {
                            td { code.sha { (v.wasm_sha256) } }
                            td.num { (bytes(v.size)) }
                            td.hide-narrow { (time(v.created_ms)) }
                            td {
                                @if p.active_version.as_deref() == Some(v.wasm_sha256.as_str()) {
                                    (layout::status("active"))
                                } @else {
                                    form method="post" action={ (here) "/active" } {
                                        (csrf_field(&ctx))
                                        input type="hidden" name="version" value=(v.wasm_sha256);
                                        button.secondary type="submit" { "Set active" }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
        }
        h2 #upload { "Upload a version" }
        form method="post" action={ (here) "/versions" } enctype="multipart/form-data" aria-labelledby="upload" {
            (csrf_field(&ctx))
            div.drop {
                label for="wasm" { "WebAssembly file (drop it here or choose it)" }
                input #wasm type="file" name="wasm" accept=".wasm,application/wasm" required;
                p.hint { "Selected: " span data-file-name { "no file chosen" } " · at most " (bytes(MAX_WASM_BYTES as i64)) "." }
            }
            button type="submit" { "Upload" }
        }
        h2 #secrets { "Sealed secret profiles" }
        @if profiles.is_empty() {
            p.notice { "No sealed secrets yet. Seal them on your machine (the values never leave it) and store the result:" }
        } @else {
            ul { @for profile in &profiles { li { code { (profile) } " (sealed; only an attested worker's keystore request opens it)" } } }
        }
        pre { code { "outlayer secrets seal --keystore " (state.config.keystore_url.as_deref().unwrap_or("KEYSTORE_URL"))
            " --scope 'project:" (owner) "/" (name) "|" (owner) "|default' --json '{\"API_KEY\":\"…\"}' > sealed.json\n"
            "curl -X PUT …/projects/" (owner) "/" (name) "/secrets/default -H 'authorization: Bearer TOKEN' --data-binary @sealed.json" } }
        (calls_section(&calls, &page, &here, CALLS_PAGE))
    };
    Ok(layout::page(&ctx, &format!("Project {name}"), body))
}

/// `POST /ui/projects/{name}/versions` (multipart: `csrf` first, then the `wasm` file).
pub async fn upload(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, ApiError> {
    // The CSRF field precedes the file in the form, so it is checked before the upload is read.
    let first = multipart.next_field().await.ok().flatten();
    let csrf = match first {
        Some(f) if f.name() == Some("csrf") => f.text().await.ok(),
        _ => None,
    };
    let ctx = match dash.checked(&headers, csrf.as_deref()) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let owner = match ctx.owner() {
        Ok(o) => o.to_owned(),
        Err(r) => return Ok(r),
    };
    let here = format!("/ui/projects/{name}");
    let Some(project) = state.db.project(&owner, &name).await? else {
        return Ok(layout::not_found(&ctx, &format!("You have no project named {name}.")));
    };
    if let Some(refusal) = chain_refusal(&state, &project).await? {
        return Ok(layout::invalid(&ctx, &here, refusal));
    }
    let mut wasm = None;
    while let Ok(Some(f)) = multipart.next_field().await {
        if f.name() == Some("wasm") {
            match f.bytes().await {
                Ok(b) => wasm = Some(b),
                Err(_) => {
                    return Ok(layout::invalid(&ctx, &here, &format!("The upload failed or exceeds {}.", bytes(MAX_WASM_BYTES as i64))));
                }
            }
        }
    }
    let Some(wasm) = wasm else { return Ok(layout::invalid(&ctx, &here, "Choose a .wasm file to upload.")) };
    // The API's admission checks: the wasm validator, then the owner's quotas.
    let sha = sha256_hex(&wasm);
    let admitted = match crate::admission::validate_wasm(&wasm) {
        Ok(()) => crate::admission::check_version_quota(&state, &owner, &project.id, &sha, wasm.len() as u64).await,
        Err(e) => Err(e),
    };
    if let Err(e) = admitted {
        if e.status.is_server_error() {
            return Err(e);
        }
        return Ok(layout::invalid(&ctx, &here, &e.message));
    }
    state.db.add_version(&project.id, &sha, &wasm, now_ms()).await?;
    if project.active_version.is_none() {
        state.db.set_active(&project.id, &sha).await?;
    }
    Ok(layout::redirect(&ctx, &here))
}

/// `POST /ui/projects/{name}/active` (`csrf`, `version`).
pub async fn set_active(
    State(state): State<AppState>,
    Extension(dash): Extension<Arc<Dashboard>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let (ctx, owner) = match dash.checked_owner(&headers, field(&form, "csrf")) {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let here = format!("/ui/projects/{name}");
    let Some(project) = state.db.project(&owner, &name).await? else {
        return Ok(layout::not_found(&ctx, &format!("You have no project named {name}.")));
    };
    if let Some(refusal) = chain_refusal(&state, &project).await? {
        return Ok(layout::invalid(&ctx, &here, refusal));
    }
    if !state.db.set_active(&project.id, field(&form, "version").unwrap_or_default()).await? {
        return Ok(layout::invalid(&ctx, &here, "That is not a version of this project."));
    }
    Ok(layout::redirect(&ctx, &here))
}
