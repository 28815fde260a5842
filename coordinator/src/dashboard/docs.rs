//! The documentation pages: the repository's own Markdown (README.md, docs/*.md,
//! contracts/README.md, coordinator/README.md), embedded with `include_str!` and rendered with
//! pulldown-cmark, so the dashboard shows the same text as the repository. Links between these
//! files are rewritten to their dashboard pages; other relative links point at the repository.
//! Raw HTML inside the Markdown is shown as text, not interpreted.

use std::sync::Arc;

use axum::Extension;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{Markup, PreEscaped, html};
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

use super::Dashboard;
use super::layout;

const README: &str = include_str!("../../../README.md");
const COORDINATOR_README: &str = include_str!("../../README.md");
const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// One documentation page.
pub struct Doc {
    /// URL segment under `/ui/docs/`.
    pub slug: &'static str,
    /// Title in the index.
    pub title: &'static str,
    /// Repository path of the source file (for link rewriting and the "source" note).
    pub path: &'static str,
    /// The Markdown.
    pub text: &'static str,
}

/// Every page, in reading order (the API and limits pages are built from parts of these).
pub const DOCS: &[Doc] = &[
    Doc { slug: "quick-start", title: "Quick start", path: "README.md", text: README },
    Doc {
        slug: "guests-rust",
        title: "Writing guests in Rust",
        path: "docs/guests-rust.md",
        text: include_str!("../../../docs/guests-rust.md"),
    },
    Doc {
        slug: "guests-python",
        title: "Writing guests in Python",
        path: "docs/guests-python.md",
        text: include_str!("../../../docs/guests-python.md"),
    },
    Doc {
        slug: "guests-javascript",
        title: "Writing guests in JavaScript",
        path: "docs/guests-javascript.md",
        text: include_str!("../../../docs/guests-javascript.md"),
    },
    Doc {
        slug: "contracts",
        title: "Calling from a contract",
        path: "contracts/README.md",
        text: include_str!("../../../contracts/README.md"),
    },
    Doc { slug: "api", title: "The HTTPS API", path: "coordinator/README.md", text: COORDINATOR_README },
    Doc { slug: "architecture", title: "Architecture", path: "docs/architecture.md", text: include_str!("../../../docs/architecture.md") },
    Doc { slug: "near-worker", title: "The NEAR worker", path: "docs/near-worker.md", text: include_str!("../../../docs/near-worker.md") },
    Doc {
        slug: "compat-v0.1",
        title: "v0.1 compatibility",
        path: "docs/compat-v0.1.md",
        text: include_str!("../../../docs/compat-v0.1.md"),
    },
];

/// Slug of the generated "Limits and errors" page.
pub const LIMITS_SLUG: &str = "limits-errors";

/// Markdown to HTML, with links between the embedded files rewritten and raw HTML escaped.
pub fn render(markdown: &str, from_path: &str) -> String {
    let dir = from_path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(|event| match event {
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: rewrite(&dest_url, dir).into(), title, id })
        }
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        e => e,
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, parser);
    out
}

fn rewrite<'a>(dest: &CowStr<'a>, dir: &str) -> String {
    let d: &str = dest;
    if d.contains("://") || d.starts_with('#') || d.starts_with('/') || d.starts_with("mailto:") {
        return d.to_owned();
    }
    let (file, anchor) = d.split_once('#').map(|(f, a)| (f, format!("#{a}"))).unwrap_or((d, String::new()));
    let mut parts: Vec<&str> = if dir.is_empty() { Vec::new() } else { dir.split('/').collect() };
    for seg in file.split('/') {
        match seg {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            s => parts.push(s),
        }
    }
    let path = parts.join("/");
    match DOCS.iter().find(|doc| doc.path == path) {
        Some(doc) => format!("/ui/docs/{}{anchor}", doc.slug),
        None => format!("https://github.com/outlayer/outlayer/blob/main/{path}{anchor}"),
    }
}

/// The part of `markdown` from the heading line `heading` up to the next heading of the same or
/// a higher level.
pub fn section<'a>(markdown: &'a str, heading: &str) -> &'a str {
    let Some(start) = markdown.find(heading) else { return "" };
    let level = heading.chars().take_while(|c| *c == '#').count();
    let rest = &markdown[start + heading.len()..];
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes > 0 && hashes <= level && line[hashes..].starts_with(' ') {
            return &markdown[start..start + heading.len() + offset];
        }
        offset += line.len();
    }
    &markdown[start..]
}

/// The endpoints of the served OpenAPI document as a table.
fn openapi_table() -> Markup {
    let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap_or_default();
    let mut rows = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, ops) in paths {
            if let Some(ops) = ops.as_object() {
                for (method, op) in ops {
                    let summary = op["summary"].as_str().or_else(|| op["description"].as_str()).unwrap_or("").to_owned();
                    rows.push((method.to_uppercase(), path.clone(), summary));
                }
            }
        }
    }
    html! {
        h2 #openapi { "Endpoints (from " a href="/openapi.json" { "/openapi.json" } ")" }
        div.scroll { table aria-labelledby="openapi" {
            thead { tr { th scope="col" { "Method" } th scope="col" { "Path" } th scope="col" { "Summary" } } }
            tbody { @for (m, p, s) in &rows { tr { td { code { (m) } } td { code { (p) } } td { (s) } } } }
        } }
    }
}

fn nav() -> Markup {
    html! {
        nav aria-label="Documentation" {
            ul.docnav {
                @for d in DOCS { li { a href={ "/ui/docs/" (d.slug) } { (d.title) } } }
                li { a href={ "/ui/docs/" (LIMITS_SLUG) } { "Limits and errors" } }
            }
        }
    }
}

/// `GET /ui/docs`.
pub async fn index(Extension(dash): Extension<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let ctx = dash.ctx(&headers);
    let body = html! {
        p { "The repository's documentation, as shipped with this binary." }
        (nav())
    };
    layout::page(&ctx, "Docs", body)
}

/// `GET /ui/docs/{slug}`.
pub async fn page(Extension(dash): Extension<Arc<Dashboard>>, headers: HeaderMap, Path(slug): Path<String>) -> Response {
    let ctx = dash.ctx(&headers);
    if slug == LIMITS_SLUG {
        let md = format!("{}\n\n{}", section(README, "### Limits"), section(COORDINATOR_README, "## Error codes"));
        let body = html! {
            (nav())
            p.hint { "From README.md (Limits) and coordinator/README.md (Error codes)." }
            article.doc { (PreEscaped(render(&md, "README.md"))) }
        };
        return layout::page(&ctx, "Limits and errors", body);
    }
    let Some(doc) = DOCS.iter().find(|d| d.slug == slug) else { return layout::not_found(&ctx, "No such documentation page.") };
    let body = html! {
        (nav())
        p.hint { "Source: " code { (doc.path) } }
        article.doc { (PreEscaped(render(doc.text, doc.path))) }
        @if doc.slug == "api" { (openapi_table()) }
    };
    layout::page(&ctx, doc.title, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_sections() {
        let html = render("See [rust](docs/guests-rust.md#x) and <script>x</script>", "README.md");
        assert!(html.contains("href=\"/ui/docs/guests-rust#x\""), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert_eq!(rewrite(&"../README.md".into(), "docs"), "/ui/docs/quick-start");
        let md = "# A\n## B\ntext\n### C\nmore\n## D\n";
        assert_eq!(section(md, "## B"), "## B\ntext\n### C\nmore\n");
        assert!(section(README, "### Limits").contains("Limits"));
        assert!(section(COORDINATOR_README, "## Error codes").contains("payment_key_revoked"));
    }
}
