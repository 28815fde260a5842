//! The module layout of `host/src` has no import circles.
//!
//! Reads every `host/src/**/*.rs`, builds the graph "file A imports file B" and fails, naming
//! the circle, when it is not acyclic. The rules:
//!
//! - An edge is a *path* in code: `use` trees (`use crate::caps::{self, guard::CallGuard}`) and
//!   paths in expressions and types (`crate::context::v01_env(..)`). A path starting with
//!   `crate`, `self`, `super` or the name of a child module declared in the file (`mod x;` then
//!   `x::Item`) is resolved to the deepest module *file* it names: `crate::caps::storage::X` is
//!   `caps/storage.rs`, `crate::caps::Grants` is `caps/mod.rs`.
//! - `super::Item` in `caps/storage.rs` is an edge to the parent's file `caps/mod.rs`: a child
//!   using its parent's items depends on it like on any other module. (Shared items therefore
//!   live in a leaf sibling, `caps/guard.rs`, not in `caps/mod.rs`.)
//! - `mod x;` declarations are not edges (a parent owning a child is not an import), nor are
//!   paths into the file's own inline modules (`mod tests { use super::*; }`), comments, doc
//!   comments or string literals.
//! - Other crates (`outlayer_storage::..`, `wasmtime::..`) are outside the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A token of Rust source: an identifier or a punctuation the parser cares about.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    PathSep,
    Open,
    Close,
    Semi,
    Comma,
    Star,
    Other,
}

/// Tokens of `src` without comments, strings and character literals.
fn tokens(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 1;
            i += 2;
            while i < c.len() && depth > 0 {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' || (ch == 'b' && next == Some('"')) {
            i += if ch == 'b' { 2 } else { 1 };
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(Tok::Other);
        } else if (ch == 'r' || ch == 'b') && matches!(next, Some('#') | Some('"')) && raw_string_start(&c, i).is_some() {
            let (hashes, body) = raw_string_start(&c, i).expect("checked");
            i = body;
            loop {
                if i >= c.len() {
                    break;
                }
                if c[i] == '"' && (0..hashes).all(|k| c.get(i + 1 + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            out.push(Tok::Other);
        } else if ch == '\'' {
            // A character literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
            out.push(Tok::Other);
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else if ch == ':' && next == Some(':') {
            out.push(Tok::PathSep);
            i += 2;
        } else {
            out.push(match ch {
                '{' => Tok::Open,
                '}' => Tok::Close,
                ';' => Tok::Semi,
                ',' => Tok::Comma,
                '*' => Tok::Star,
                c if c.is_whitespace() => {
                    i += 1;
                    continue;
                }
                _ => Tok::Other,
            });
            i += 1;
        }
    }
    out
}

/// For `r"`, `r#"`, `br#"` at `i`: the number of `#` and the index after the opening quote.
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if c[j] == 'b' {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

/// What one file says: child modules declared `mod x;`, and every path it uses, each with the
/// inline modules (`mod tests { .. }`) it appears in.
#[derive(Default)]
struct FileRefs {
    children: BTreeSet<String>,
    paths: Vec<(Vec<String>, Vec<String>)>,
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

/// Expand a `use` tree starting at `toks[*i]` with `prefix`, pushing full paths to `out`.
fn use_tree(toks: &[Tok], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(s)) => {
                path.push(s.clone());
                *i += 1;
                if toks.get(*i) == Some(&Tok::PathSep) {
                    *i += 1;
                    continue;
                }
                if ident(toks.get(*i)) == Some("as") {
                    *i += 2; // `as name`
                }
                out.push(path);
                return;
            }
            Some(Tok::Star) => {
                *i += 1;
                out.push(path);
                return;
            }
            Some(Tok::Open) => {
                *i += 1;
                loop {
                    match toks.get(*i) {
                        Some(Tok::Close) => {
                            *i += 1;
                            return;
                        }
                        Some(Tok::Comma) => *i += 1,
                        None => return,
                        _ => use_tree(toks, i, path.clone(), out),
                    }
                }
            }
            _ => {
                out.push(path);
                return;
            }
        }
    }
}

fn scan(src: &str) -> FileRefs {
    let toks = tokens(src);
    let mut refs = FileRefs::default();
    // Inline modules we are in, with the brace depth at which each closes.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_inline: Option<String> = None;
    let mut i = 0;
    while i < toks.len() {
        let here = inline.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        match &toks[i] {
            Tok::Ident(kw) if kw == "mod" => {
                if let Some(name) = ident(toks.get(i + 1)) {
                    match toks.get(i + 2) {
                        Some(Tok::Semi) if inline.is_empty() => {
                            refs.children.insert(name.to_string());
                        }
                        Some(Tok::Open) => pending_inline = Some(name.to_string()),
                        _ => {}
                    }
                }
                i += 2;
                continue;
            }
            Tok::Ident(kw) if kw == "use" => {
                i += 1;
                let mut found = Vec::new();
                use_tree(&toks, &mut i, Vec::new(), &mut found);
                refs.paths.extend(found.into_iter().map(|p| (here.clone(), p)));
                continue;
            }
            Tok::Open => {
                depth += 1;
                if let Some(name) = pending_inline.take() {
                    inline.push((name, depth));
                }
            }
            Tok::Close => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(first) if toks.get(i + 1) == Some(&Tok::PathSep) && i.checked_sub(1).is_none_or(|p| toks[p] != Tok::PathSep) => {
                let mut path = vec![first.clone()];
                let mut j = i + 1;
                while toks.get(j) == Some(&Tok::PathSep) {
                    match ident(toks.get(j + 1)) {
                        Some(s) => path.push(s.to_string()),
                        None => break,
                    }
                    j += 2;
                }
                refs.paths.push((here, path));
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    refs
}

/// The module path of a file under `src`: `lib.rs` -> [], `caps/mod.rs` -> [caps],
/// `caps/storage.rs` -> [caps, storage].
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let file = parts.pop().expect("a file name");
    match file.as_str() {
        "lib.rs" | "main.rs" | "mod.rs" => {}
        f => parts.push(f.trim_end_matches(".rs").to_string()),
    }
    parts
}

/// Module graph: file name -> files it imports.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// Build the graph of `files` (relative path, source).
fn graph(files: &[(PathBuf, String)]) -> Graph {
    let modules: BTreeMap<Vec<String>, String> =
        files.iter().map(|(rel, _)| (module_path(rel), rel.to_string_lossy().replace('\\', "/"))).collect();
    let mut g = Graph::new();
    for (rel, src) in files {
        let me = module_path(rel);
        let name = modules[&me].clone();
        let refs = scan(src);
        let edges = g.entry(name.clone()).or_default();
        for (inline, path) in refs.paths {
            let Some(first) = path.first() else { continue };
            // Where the path starts, as a module path (possibly inside an inline module).
            let mut here = me.clone();
            here.extend(inline.iter().cloned());
            let (mut at, rest) = match first.as_str() {
                "crate" => (Vec::new(), &path[1..]),
                "self" => (here.clone(), &path[1..]),
                "super" => {
                    let mut at = here.clone();
                    let mut k = 0;
                    while path.get(k).is_some_and(|s| s == "super") {
                        at.pop();
                        k += 1;
                    }
                    (at, &path[k..])
                }
                child if inline.is_empty() && refs.children.contains(child) => {
                    let mut at = me.clone();
                    at.push(child.to_string());
                    (at, &path[1..])
                }
                _ => continue,
            };
            for seg in rest {
                let mut deeper = at.clone();
                deeper.push(seg.clone());
                if !modules.contains_key(&deeper) {
                    break;
                }
                at = deeper;
            }
            // The deepest module file on the way (an inline module belongs to its file).
            while !modules.contains_key(&at) {
                at.pop();
            }
            let target = &modules[&at];
            if *target != name {
                edges.insert(target.clone());
            }
        }
    }
    g
}

/// A cycle of `g`, as `a -> b -> .. -> a`, if there is one.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(n: &str, g: &Graph, state: &mut BTreeMap<String, u8>, stack: &mut Vec<String>) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|s| s == m).expect("on the stack");
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, g, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

fn read_tree(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("reading src").map(|e| e.expect("dir entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_tree(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let src = std::fs::read_to_string(&path).expect("reading a source file");
            out.push((path.strip_prefix(root).expect("under src").to_path_buf(), src));
        }
    }
}

fn files(list: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
    list.iter().map(|(p, s)| (PathBuf::from(p), s.to_string())).collect()
}

#[test]
fn host_src_has_no_import_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = Vec::new();
    read_tree(&root, &root, &mut sources);
    assert!(sources.len() > 10, "found the sources: {}", sources.len());
    let g = graph(&sources);
    // The graph is not trivially empty: the known edges are seen.
    assert!(g["runtime.rs"].contains("state.rs"), "{g:#?}");
    assert!(g["caps/storage.rs"].contains("caps/guard.rs"), "{g:#?}");
    assert!(g["state.rs"].contains("caps/mod.rs"), "{g:#?}");
    if let Some(cycle) = find_cycle(&g) {
        panic!("import cycle in host/src: {}\n(rules: host/tests/layout.rs)", cycle.join(" -> "));
    }
}

#[test]
fn capability_modules_never_import_the_store() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = Vec::new();
    read_tree(&root, &root, &mut sources);
    let g = graph(&sources);
    for (file, deps) in &g {
        if file.starts_with("caps/") {
            assert!(!deps.contains("state.rs") && !deps.contains("runtime.rs"), "{file} imports the store: {deps:?}");
        }
    }
}

#[test]
fn a_planted_cycle_is_found_and_named() {
    let g = graph(&files(&[
        ("lib.rs", "pub mod a; pub mod b;\n// use crate::b; in a comment is no edge\n"),
        ("a/mod.rs", "pub mod child;\nuse crate::b::{self, Thing};\nfn f() { let s = \"crate::nothing::here\"; }"),
        ("a/child.rs", "use super::Shared;\n#[cfg(test)] mod tests { use super::*; }"),
        ("b.rs", "pub fn g() { crate::a::child::h(); }"),
    ]));
    assert_eq!(g["lib.rs"], BTreeSet::new(), "mod declarations are not edges");
    assert_eq!(g["a/mod.rs"], BTreeSet::from(["b.rs".to_string()]));
    assert_eq!(g["a/child.rs"], BTreeSet::from(["a/mod.rs".to_string()]), "super:: is the parent, inline tests are not");
    let cycle = find_cycle(&g).expect("a cycle").join(" -> ");
    assert_eq!(cycle, "a/child.rs -> a/mod.rs -> b.rs -> a/child.rs");
}

#[test]
fn child_paths_and_use_groups_are_edges() {
    let g = graph(&files(&[
        ("lib.rs", "pub mod caps; pub mod state;\npub use caps::{Grants, guard::{CallGuard as G}};"),
        ("caps/mod.rs", "pub mod guard;\npub struct Caps { g: guard::CallGuard }"),
        ("caps/guard.rs", "pub struct CallGuard; impl X for S { fn f<'a>(c: char) { let q = '\"'; } }"),
        ("state.rs", "struct S { c: crate::caps::Caps }"),
    ]));
    assert_eq!(g["lib.rs"], BTreeSet::from(["caps/mod.rs".to_string(), "caps/guard.rs".to_string()]));
    assert_eq!(g["caps/mod.rs"], BTreeSet::from(["caps/guard.rs".to_string()]));
    assert_eq!(g["state.rs"], BTreeSet::from(["caps/mod.rs".to_string()]));
    assert!(find_cycle(&g).is_none());
}
