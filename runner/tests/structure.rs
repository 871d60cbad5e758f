//! The code's shape, checked: layers point down (no import cycle among the files of a
//! crate, a folder module naming its own children aside), no product file grows past
//! 900 lines, and no observation key is spelled as a bare string outside `proto`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 900;
const CRATES: &[&str] = &[
    "suite/src",
    "runner/src",
    "proto/src",
    "report/src",
    "nvsci-model/src",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

type Module = Vec<String>;

/// `a/b.rs` and `a/b/mod.rs` are module `a::b`; `lib.rs`/`main.rs` the crate root.
/// Binaries under `bin/` are their own crates: left out.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).expect("under src").with_extension("");
        let mut parts: Module = rel
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        if parts.first().is_some_and(|p| p == "bin") {
            continue;
        }
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        if parts == ["lib"] || parts == ["main"] {
            parts.clear();
        }
        out.insert(parts, f);
    }
    out
}

/// The code of a file without comments and without its `#[cfg(test)]` tail (tests may
/// reach anywhere).
fn product_code(text: &str) -> String {
    let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..cut]
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn resolve(mods: &BTreeMap<Module, PathBuf>, path: &[String]) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| mods.contains_key(p))
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `crate::a::b`, `crate::a::{b, c::d}` and `super::x` paths in `code`, as module paths.
fn referenced_paths(code: &str, here: &Module) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = [code[i..].find("crate::"), code[i..].find("super::")]
        .into_iter()
        .flatten()
        .min()
    {
        let start = i + off;
        i = start + 1;
        // Part of a longer path (`x::crate`, the second `super` of `super::super`).
        if code[..start].ends_with("::") || code[..start].chars().next_back().is_some_and(is_ident)
        {
            continue;
        }
        let mut base: Vec<String>;
        let mut rest = &code[start..];
        if let Some(r) = rest.strip_prefix("crate::") {
            base = Vec::new();
            rest = r;
        } else {
            // In `a/b.rs` and in `a/b/mod.rs` alike, `super` is `a`.
            base = here.clone();
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
        }
        // Segments until something that is not `ident::`.
        loop {
            let seg: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !seg.is_empty() {
                base.push(seg.clone());
                rest = &rest[seg.len()..];
                match rest.strip_prefix("::") {
                    Some(r) => rest = r,
                    None => {
                        out.push(base.clone());
                        break;
                    }
                }
            } else if let Some(r) = rest.strip_prefix('{') {
                let end = r.find('}').unwrap_or(r.len());
                for item in r[..end].split(',') {
                    let item = item.split_whitespace().next().unwrap_or("");
                    let mut p = base.clone();
                    p.extend(
                        item.split("::")
                            .filter(|s| !s.is_empty() && *s != "self" && *s != "*")
                            .map(str::to_string),
                    );
                    out.push(p);
                }
                break;
            } else {
                out.push(base.clone());
                break;
            }
        }
    }
    out
}

fn edges(mods: &BTreeMap<Module, PathBuf>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut g = BTreeMap::new();
    for (m, path) in mods {
        let text = std::fs::read_to_string(path).expect("read source");
        let code = product_code(&text);
        let targets: BTreeSet<Module> = referenced_paths(&code, m)
            .iter()
            .filter_map(|p| resolve(mods, p))
            // A folder module naming its own children is how Rust folders work.
            .filter(|t| t != m && !(t.len() > m.len() && t[..m.len()] == m[..]))
            .collect();
        g.insert(m.clone(), targets);
    }
    g
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(g: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct St<'a> {
        g: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on: BTreeSet<&'a Module>,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut St<'a>, v: &'a Module) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        let g = s.g;
        for w in g.get(v).into_iter().flatten() {
            let Some((w, _)) = g.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.out.push(comp);
            }
        }
    }
    let mut s = St {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

#[test]
fn no_import_cycle_among_the_files_of_a_crate() {
    let mut found = Vec::new();
    for krate in CRATES {
        let mods = modules(&root().join(krate));
        let g = edges(&mods);
        for comp in cycles(&g) {
            let set: BTreeSet<&Module> = comp.iter().collect();
            let mut lines = vec![format!(
                "{krate}: {}",
                comp.iter().map(name).collect::<Vec<_>>().join(", ")
            )];
            for a in &comp {
                for b in &g[a] {
                    if set.contains(b) {
                        lines.push(format!("    {} -> {}", name(a), name(b)));
                    }
                }
            }
            found.push(lines.join("\n"));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_allows_a_folder_naming_its_children() {
    let m = |s: &str| -> Module {
        s.split("::")
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mods: BTreeMap<Module, PathBuf> = ["a", "b", "c", "c::d"]
        .iter()
        .map(|x| (m(x), PathBuf::new()))
        .collect();
    let refs = referenced_paths(
        "use crate::{b::X, c::d::Y};\nfn f() { super::super::a::g() }",
        &m("c::d"),
    );
    let got: BTreeSet<Module> = refs.iter().filter_map(|p| resolve(&mods, p)).collect();
    assert_eq!(got, [m("b"), m("c::d"), m("a")].into_iter().collect());
    let mut g: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    g.insert(m("a"), [m("b")].into());
    g.insert(m("b"), [m("a")].into());
    g.insert(m("c"), BTreeSet::new());
    g.insert(m("c::d"), [m("c")].into());
    let found = cycles(&g);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].len(), 2);
}

#[test]
fn no_product_file_over_900_lines() {
    let mut over = Vec::new();
    for krate in CRATES {
        let mut files = Vec::new();
        rust_files(&root().join(krate), &mut files);
        for f in files {
            let n = std::fs::read_to_string(&f).expect("read").lines().count();
            if n > MAX_LINES {
                over.push(format!(
                    "{} ({n} lines)",
                    f.strip_prefix(root()).unwrap_or(&f).display()
                ));
            }
        }
    }
    assert!(over.is_empty(), "files over {MAX_LINES} lines: {over:?}");
}

#[test]
fn no_observation_key_is_a_bare_string_outside_proto() {
    let keys: BTreeSet<&str> = hil_proto::key::ALL.iter().map(|k| k.as_str()).collect();
    // Keys that are also ordinary words of the code (a param named `key`, a field `name`)
    // are checked only where they name an observation.
    let protocol: Vec<&str> = hil_proto::key::ALL
        .iter()
        .take_while(|k| **k != hil_proto::key::ACTUAL_PERM)
        .map(|k| k.as_str())
        .collect();
    let mut bare = Vec::new();
    for krate in ["suite/src", "runner/src"] {
        let mut files = Vec::new();
        rust_files(&root().join(krate), &mut files);
        for f in files {
            // A module of tests (`tests.rs`) may spell what it expects.
            if f.ends_with("tests.rs") {
                continue;
            }
            let text = product_code(&std::fs::read_to_string(&f).expect("read"));
            for (n, line) in text.lines().enumerate() {
                let observation_site = ["Observation::new(\"", "key == \"", "key: \"", "obs(\""]
                    .iter()
                    .any(|p| line.contains(p));
                // A row parameter may share a key's name (`code`).
                let row_param = line.contains("params:") || line.contains(".param_");
                let names_protocol_key =
                    !row_param && protocol.iter().any(|k| line.contains(&format!("\"{k}\"")));
                let literal_key = keys.iter().any(|k| line.contains(&format!("\"{k}\"")));
                if names_protocol_key || (observation_site && literal_key) {
                    bare.push(format!(
                        "{}:{}: {}",
                        f.strip_prefix(root()).unwrap_or(&f).display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        bare.is_empty(),
        "observation keys spelled as strings (use hil_proto::key::…):\n{}",
        bare.join("\n")
    );
}
