//! The boxes call one way: every module of `allocator/src/` may name (`use crate::x`, `crate::x::…`) only
//! modules below it in [`ORDER`], so a malloc miss goes down gatekeeper → unified_cache → page_box →
//! warm_pool → shared_pool → … → os and returns up without calling back into a box above (mimalloc's
//! page → segment → arena). The order is the one written in docs/ARCHITECTURE.md ("Allocator: who calls
//! whom"). The test reads the sources, so it fails on the commit that adds an upward import.

use std::collections::BTreeSet;
use std::path::Path;

/// The boxes, top (the entrance) to bottom (the kernel). `lib.rs` (the facade) may name any of them.
const ORDER: &[&str] = &[
    "gatekeeper",
    "check",
    "stats",
    "heap",
    "unified_cache",
    "page_box",
    "warm_pool",
    "idle_release",
    "shared_pool",
    "release_guard",
    "tier",
    "prefault",
    "large",
    "mid",
    "superslab",
    "route",
    "config",
    "os",
];

/// Upward imports that remain, each with why. The list must be exact: an upward import not listed fails, and
/// so does a listed one that is gone (take it off the list).
const UPWARD: &[(&str, &str, &str)] = &[
    (
        "check",
        "gatekeeper",
        "level 2 pads every block: its malloc/free wrap the gatekeeper's raw calls",
    ),
    (
        "superslab",
        "check",
        "misuse checks carve the 8 B class in 16 B blocks, forget a slab's poison tags on unassign, and encode/check its free-list links (level 2)",
    ),
    (
        "mid",
        "check",
        "misuse checks of Mid blocks run under the Mid class lock (key, free-list walk, level-2 link encoding)",
    ),
    (
        "heap",
        "stats",
        "start-up registers the statistics printer with atexit (a callback at process exit)",
    ),
];

/// Strips `//` comments (doc comments included: an intra-doc link is not a call) and string literals.
fn code_of(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for line in src.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !in_str && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                kept.push(c);
            }
            prev = c;
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// The modules a source names through `crate::`: `crate::a::…`, `use crate::a;` and `use crate::{a, b::c}`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let before_ok = i == 0 || {
            let b = rest.as_bytes()[i - 1];
            !(b.is_ascii_alphanumeric() || b == b'_')
        };
        if before_ok {
            if let Some(group) = after.strip_prefix('{') {
                let mut depth = 1;
                let end = group
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '{' => 1,
                            '}' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map_or(group.len(), |(j, _)| j);
                // Top-level items of the group: split on commas outside nested braces.
                let mut depth = 0;
                let mut start = 0;
                let g = &group[..end];
                for (j, c) in g.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.insert(ident(&g[start..j]));
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                out.insert(ident(&g[start..]));
            } else {
                out.insert(ident(after));
            }
        }
        rest = after;
    }
    out.remove("");
    out.remove("self");
    out
}

fn src_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every module of `src/`, with the modules it names.
fn edges() -> Vec<(String, BTreeSet<String>)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(src_dir()).expect("read allocator/src") {
        let path = e.expect("dir entry").path();
        if path.extension().and_then(|x| x.to_str()) != Some("rs") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let src = std::fs::read_to_string(&path).expect("read a source");
        v.push((name, named_modules(&code_of(&src))));
    }
    v.sort();
    v
}

#[test]
fn every_box_imports_only_boxes_below_it() {
    let rank = |m: &str| ORDER.iter().position(|&o| o == m);
    let mut found = BTreeSet::new();
    let mut errors = Vec::new();
    for (module, names) in edges() {
        if module == "lib" {
            continue;
        }
        let Some(r) = rank(&module) else {
            errors.push(format!(
                "allocator/src/{module}.rs is not in the layer order: add it to ORDER (tests/layers.rs) and \
                 to docs/ARCHITECTURE.md"
            ));
            continue;
        };
        for n in names {
            let Some(rn) = rank(&n) else {
                errors.push(format!(
                    "{module}.rs names crate::{n}, which is not a box: name the box that defines it"
                ));
                continue;
            };
            if rn < r {
                found.insert((module.clone(), n.clone()));
                if !UPWARD.iter().any(|&(a, b, _)| a == module && b == n) {
                    errors.push(format!(
                        "{module}.rs imports {n}, a box above it: pass what it needs down as an argument, or \
                         return to the caller and let it call {n}"
                    ));
                }
            }
        }
    }
    for &(a, b, _) in UPWARD {
        if !found.contains(&(a.to_string(), b.to_string())) {
            errors.push(format!(
                "{a}.rs no longer imports {b}: take ({a}, {b}) off the UPWARD list"
            ));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_parser_sees_every_form_of_import() {
    let code = code_of(
        "use crate::heap::Heap;\nuse crate::{os, page_box::{self, X}, stats};\nlet x = crate::mid::f();\n\
         // crate::large in a comment\n/// [`crate::tier`]\nlet s = \"crate::route\";\n",
    );
    let got: Vec<String> = named_modules(&code).into_iter().collect();
    assert_eq!(got, ["heap", "mid", "os", "page_box", "stats"]);
}

#[test]
fn an_upward_import_is_caught() {
    // What the main test does with one source: superslab naming the page box is upward.
    let rank = |m: &str| ORDER.iter().position(|&o| o == m).unwrap();
    let names = named_modules(&code_of("use crate::page_box::attach;\n"));
    assert!(names.iter().any(|n| rank(n) < rank("superslab")));
}
