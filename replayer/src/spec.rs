//! Allocator specs as written on the command line, and their expansion into configurations.
//!
//! Grammar: `system` | `mimalloc` | `hakmem` | `hakmem:KEY=VALUE,KEY=VALUE…` | `preload:PATH.so` |
//! `mimalloc2` | `jemalloc` | `tcmalloc` (the last three are preloads of a known library, see
//! [`named_library`]).
//! A value may be a sweep `V1|V2|…`; several sweeps in one spec expand to their cartesian product, one
//! [`AllocSpec`] each, labelled with its concrete knobs (`hakmem:HAKMEM_TINY_UNIFIED_C7=128`).
//!
//! Entry point: [`parse_specs`]. Invariant: labels of the returned configurations are unique.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The backend a configuration runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// The linked-in HAKMEM crate.
    Hakmem,
    /// The C library's malloc.
    System,
    /// The mimalloc crate (built from source).
    Mimalloc,
    /// The C library's symbols with `LD_PRELOAD=PATH` in the child.
    Preload,
}

impl BackendKind {
    /// Backend name as written in results.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Hakmem => "hakmem",
            BackendKind::System => "system",
            BackendKind::Mimalloc => "mimalloc",
            BackendKind::Preload => "preload",
        }
    }
}

/// Names accepted as the backend part of a spec.
pub const VALID_NAMES: &str =
    "hakmem, hakmem:KEY=VALUE,…, system, mimalloc, mimalloc2, jemalloc, tcmalloc, preload:PATH.so";

/// Preloadable builds of the workspace, found next to the `hakmem` executable: `(spec name, file, how to
/// build it)`. `mimalloc` is exactly the mimalloc version the `libmimalloc-sys` crate vendors (what replay
/// links in), `mimalloc2` its 2.x line.
pub const WORKSPACE_LIBRARIES: &[(&str, &str, &str)] = &[
    (
        "hakmem",
        "libhakmem.so",
        "cargo build --release -p hakmem-preload",
    ),
    (
        "mimalloc",
        "libhakmem_mimalloc.so",
        "cargo build --release --workspace",
    ),
    (
        "mimalloc2",
        "libhakmem_mimalloc2.so",
        "cargo build --release --workspace",
    ),
];

/// Allocators of the distribution named by a spec: `(spec name, path, how to install it)`.
pub const SYSTEM_LIBRARIES: &[(&str, &str, &str)] = &[
    (
        "jemalloc",
        "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
        "apt-get install libjemalloc2 libtcmalloc-minimal4",
    ),
    (
        "tcmalloc",
        "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
        "apt-get install libjemalloc2 libtcmalloc-minimal4",
    ),
];

/// The preloadable library of a named allocator (`hakmem`, `mimalloc`, `mimalloc2`, `jemalloc`,
/// `tcmalloc`), or an error naming the missing file and the command that provides it. `None` for other
/// names. Workspace libraries are looked up next to the running `hakmem` executable.
pub fn named_library(name: &str) -> Option<Result<PathBuf, SpecError>> {
    let missing = |path: PathBuf, fix: &str| SpecError::MissingLibrary {
        spec: name.to_string(),
        path: path.display().to_string(),
        fix: fix.to_string(),
    };
    if let Some((_, file, fix)) = WORKSPACE_LIBRARIES.iter().find(|l| l.0 == name) {
        let dir = std::fs::read_link("/proc/self/exe")
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_default();
        let path = dir.join(file);
        return Some(if path.is_file() {
            Ok(path)
        } else {
            Err(missing(path, &format!("build it with `{fix}`")))
        });
    }
    let (_, path, fix) = SYSTEM_LIBRARIES.iter().find(|l| l.0 == name)?;
    let path = PathBuf::from(path);
    Some(if path.is_file() {
        // The link's target, as ld.so maps it (the child checks /proc/self/maps for it).
        Ok(std::fs::canonicalize(&path).unwrap_or(path))
    } else {
        Err(missing(path, &format!("install it with `{fix}`")))
    })
}

/// The same configuration called the way a program calls its allocator: through the C library's symbols
/// with the allocator's `.so` preloaded (`hakmem` → `libhakmem.so` with the configuration's knobs in the
/// environment, `mimalloc` → `libhakmem_mimalloc.so`), keeping its label. `system` and `preload:` specs are
/// already called that way and come back unchanged.
pub fn preloaded(spec: &AllocSpec) -> Result<AllocSpec, SpecError> {
    let name = match spec.backend {
        BackendKind::System | BackendKind::Preload => return Ok(spec.clone()),
        BackendKind::Hakmem => "hakmem",
        BackendKind::Mimalloc => "mimalloc",
    };
    let path = named_library(name).expect("hakmem and mimalloc are named libraries")?;
    Ok(AllocSpec {
        backend: BackendKind::Preload,
        knobs: spec.knobs.clone(),
        path: Some(path),
        label: spec.label.clone(),
    })
}

impl AllocSpec {
    /// The allocator as results name it (a sample's and the manifest's `allocator`): the backend's name,
    /// except that a preloaded `libhakmem.so` is `hakmem` (however it was asked for: `hakmem` replayed
    /// through its preload, or `preload:…/libhakmem.so`), so that reports find HAKMEM's rows — its
    /// verdict, knob sweeps and per-box statistics — whichever way it was called.
    pub fn allocator_name(&self) -> &'static str {
        let is_hakmem = |p: &PathBuf| {
            WORKSPACE_LIBRARIES.iter().any(|(name, file, _)| {
                *name == "hakmem" && p.file_name().is_some_and(|f| f == *file)
            })
        };
        match (&self.backend, &self.path) {
            (BackendKind::Preload, Some(p)) if is_hakmem(p) => BackendKind::Hakmem.name(),
            (b, _) => b.name(),
        }
    }
}

/// One allocator configuration to measure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocSpec {
    /// Backend.
    pub backend: BackendKind,
    /// HAKMEM knobs, in the order given.
    pub knobs: Vec<(String, String)>,
    /// The preloaded library (absolute), for `preload`.
    pub path: Option<PathBuf>,
    /// Unique label used as the `config` of samples.
    pub label: String,
}

/// A spec that cannot be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// Unknown backend name.
    #[error("unknown allocator `{0}`; valid: {VALID_NAMES}")]
    UnknownName(String),
    /// Malformed `KEY=VALUE` list.
    #[error("allocator spec `{spec}`: `{item}` is not KEY=VALUE")]
    BadKnob {
        /// The whole spec.
        spec: String,
        /// The offending item.
        item: String,
    },
    /// A knob the allocator does not have.
    #[error("allocator spec `{spec}`: unknown HAKMEM knob `{knob}`; valid knobs: {valid}")]
    UnknownKnob {
        /// The whole spec.
        spec: String,
        /// The unknown knob.
        knob: String,
        /// The valid knob names, comma-separated.
        valid: String,
    },
    /// The preload library does not exist or is not a file.
    #[error("allocator spec `{spec}`: preload library {path}: {cause}")]
    BadPreload {
        /// The whole spec.
        spec: String,
        /// The path given.
        path: String,
        /// Why it cannot be used.
        cause: String,
    },
    /// A named allocator's library is not there.
    #[error("allocator spec `{spec}`: {path} is missing; {fix}")]
    MissingLibrary {
        /// The whole spec.
        spec: String,
        /// Where the library should be.
        path: String,
        /// How to get it.
        fix: String,
    },
    /// Two configurations would carry the same label.
    #[error("allocator configuration `{0}` is given twice")]
    Duplicate(String),
}

/// Parses and expands every spec; `valid_knobs` are the HAKMEM knob names.
pub fn parse_specs(specs: &[String], valid_knobs: &[&str]) -> Result<Vec<AllocSpec>, SpecError> {
    let mut out: Vec<AllocSpec> = Vec::new();
    for s in specs {
        for spec in parse_one(s, valid_knobs)? {
            if out.iter().any(|o| o.label == spec.label) {
                return Err(SpecError::Duplicate(spec.label));
            }
            out.push(spec);
        }
    }
    Ok(out)
}

fn parse_one(s: &str, valid_knobs: &[&str]) -> Result<Vec<AllocSpec>, SpecError> {
    let (name, rest) = match s.split_once(':') {
        Some((n, r)) => (n, Some(r)),
        None => (s, None),
    };
    // The label is the backend's name (`hakmem:` with no knob is plain `hakmem`, not a configuration of
    // its own).
    let simple = |backend: BackendKind| {
        Ok(vec![AllocSpec {
            backend,
            knobs: Vec::new(),
            path: None,
            label: backend.name().to_string(),
        }])
    };
    match (name, rest) {
        ("system", None) => simple(BackendKind::System),
        ("mimalloc", None) => simple(BackendKind::Mimalloc),
        ("hakmem", None) | ("hakmem", Some("")) => simple(BackendKind::Hakmem),
        ("mimalloc2" | "jemalloc" | "tcmalloc", None) => {
            let path = named_library(name).expect("a named library")?;
            Ok(vec![AllocSpec {
                backend: BackendKind::Preload,
                knobs: Vec::new(),
                path: Some(path),
                label: s.to_string(),
            }])
        }
        ("hakmem", Some(list)) => parse_knobs(s, list, valid_knobs),
        ("preload", Some(path)) if !path.is_empty() => {
            let bad = |cause: String| SpecError::BadPreload {
                spec: s.into(),
                path: path.into(),
                cause,
            };
            let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
            if !meta.is_file() {
                return Err(bad("not a regular file".into()));
            }
            let abs = std::fs::canonicalize(path).map_err(|e| bad(e.to_string()))?;
            crate::elf::check_defines_malloc(&abs).map_err(bad)?;
            Ok(vec![AllocSpec {
                backend: BackendKind::Preload,
                knobs: Vec::new(),
                path: Some(abs),
                label: s.to_string(),
            }])
        }
        _ => Err(SpecError::UnknownName(s.to_string())),
    }
}

fn parse_knobs(spec: &str, list: &str, valid_knobs: &[&str]) -> Result<Vec<AllocSpec>, SpecError> {
    let mut axes: Vec<(String, Vec<String>)> = Vec::new();
    // A comma separates knobs only when `KEY=` follows it; otherwise it belongs to the value, so that
    // `HAKMEM_TINY_PAGE_BOX_CLASSES=5,6,7` keeps its class list.
    let mut items: Vec<String> = Vec::new();
    for part in list.split(',') {
        match items.last_mut() {
            Some(last) if !part.contains('=') => {
                last.push(',');
                last.push_str(part);
            }
            _ => items.push(part.to_string()),
        }
    }
    for item in items.iter().map(String::as_str).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(SpecError::BadKnob {
                spec: spec.into(),
                item: item.into(),
            });
        };
        let k = k.trim();
        if !valid_knobs.contains(&k) {
            return Err(SpecError::UnknownKnob {
                spec: spec.into(),
                knob: k.into(),
                valid: valid_knobs.join(", "),
            });
        }
        let values: Vec<String> = v.split('|').map(|x| x.trim().to_string()).collect();
        if k.is_empty() || values.iter().any(|x| x.is_empty()) {
            return Err(SpecError::BadKnob {
                spec: spec.into(),
                item: item.into(),
            });
        }
        axes.push((k.to_string(), values));
    }
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (k, values) in &axes {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((k.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    Ok(combos
        .into_iter()
        .map(|knobs| {
            let label = if knobs.is_empty() {
                "hakmem".to_string()
            } else {
                let kv: Vec<String> = knobs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("hakmem:{}", kv.join(","))
            };
            AllocSpec {
                backend: BackendKind::Hakmem,
                knobs,
                path: None,
                label,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    const KNOBS: &[&str] = &["HAKMEM_TINY_UNIFIED_C7", "HAKMEM_TINY_REFILL_BATCH"];

    fn labels(specs: &[&str]) -> Vec<String> {
        let s: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        parse_specs(&s, KNOBS)
            .unwrap()
            .into_iter()
            .map(|a| a.label)
            .collect()
    }

    #[test]
    fn sweeps_expand_to_the_cartesian_product() {
        assert_eq!(
            labels(&[
                "hakmem:HAKMEM_TINY_UNIFIED_C7=64|128,HAKMEM_TINY_REFILL_BATCH=16|32",
                "system"
            ]),
            [
                "hakmem:HAKMEM_TINY_UNIFIED_C7=64,HAKMEM_TINY_REFILL_BATCH=16",
                "hakmem:HAKMEM_TINY_UNIFIED_C7=64,HAKMEM_TINY_REFILL_BATCH=32",
                "hakmem:HAKMEM_TINY_UNIFIED_C7=128,HAKMEM_TINY_REFILL_BATCH=16",
                "hakmem:HAKMEM_TINY_UNIFIED_C7=128,HAKMEM_TINY_REFILL_BATCH=32",
                "system"
            ]
        );
    }

    #[test]
    fn a_comma_without_a_key_after_it_stays_in_the_value() {
        let knobs = ["HAKMEM_TINY_PAGE_BOX_CLASSES", "HAKMEM_TINY_UNIFIED_C7"];
        let specs = parse_specs(
            &["hakmem:HAKMEM_TINY_PAGE_BOX_CLASSES=5,6,7|7,HAKMEM_TINY_UNIFIED_C7=64".into()],
            &knobs,
        )
        .unwrap();
        let got: Vec<_> = specs.iter().map(|a| a.knobs.clone()).collect();
        let kv = |c: &str| {
            vec![
                ("HAKMEM_TINY_PAGE_BOX_CLASSES".to_string(), c.to_string()),
                ("HAKMEM_TINY_UNIFIED_C7".to_string(), "64".to_string()),
            ]
        };
        assert_eq!(got, vec![kv("5,6,7"), kv("7")]);
    }

    #[test]
    fn errors_name_the_valid_choices() {
        let e = parse_specs(&["nosuchalloc".into()], KNOBS)
            .unwrap_err()
            .to_string();
        assert!(e.contains("valid: hakmem"), "{e}");
        let e = parse_specs(&["hakmem:NOPE=1".into()], KNOBS)
            .unwrap_err()
            .to_string();
        assert!(e.contains("HAKMEM_TINY_REFILL_BATCH"), "{e}");
        let e = parse_specs(&["preload:/no/such.so".into()], KNOBS)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such.so"), "{e}");
        let e = parse_specs(&["system".into(), "system".into()], KNOBS)
            .unwrap_err()
            .to_string();
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn hakmem_colon_is_plain_hakmem_not_a_configuration_of_its_own() {
        assert_eq!(labels(&["hakmem:"]), ["hakmem"]);
        let e = parse_specs(&["hakmem".into(), "hakmem:".into()], KNOBS)
            .unwrap_err()
            .to_string();
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn a_preload_that_defines_no_malloc_is_refused() {
        let e = parse_specs(&["preload:/lib/x86_64-linux-gnu/libm.so.6".into()], KNOBS)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `malloc`"), "{e}");
    }
}
