//! Reading result bundles from disk.
//!
//! Entry point: [`Bundle::load`]. A bundle is a directory with `manifest.json` and `samples.jsonl`
//! (see [`crate::model`]). Reading is tolerant where a crash of the writer can leave damage and strict where
//! guessing would mislead:
//! - a missing directory or manifest, an unparsable manifest, or a `format_version` other than
//!   [`BUNDLE_FORMAT_VERSION`] is an error;
//! - an empty, truncated or corrupt `samples.jsonl` line is skipped with a warning naming `file:line`
//!   (a killed driver leaves at most a torn last line; everything before it is still good).
//!
//! Invariant: `samples` holds exactly the lines that parsed, in file order.

use crate::error::ReportError;
use crate::model::{Manifest, Sample, BUNDLE_FORMAT_VERSION, MANIFEST_FILE, SAMPLES_FILE};
use std::path::{Path, PathBuf};

/// A result bundle read from disk.
#[derive(Clone, Debug, PartialEq)]
pub struct Bundle {
    /// The bundle directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Its samples, in file order.
    pub samples: Vec<Sample>,
    /// What was skipped while reading, one human-readable line each (`file:line: cause`).
    pub warnings: Vec<String>,
}

impl Bundle {
    /// Reads the bundle at `path`: its directory, or the `manifest.json` / `samples.jsonl` inside it.
    pub fn load(path: &Path) -> Result<Bundle, ReportError> {
        if !path.exists() {
            return Err(ReportError::MissingBundle {
                path: path.to_path_buf(),
            });
        }
        let dir = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&manifest_path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ReportError::BadManifest {
                    path: manifest_path.clone(),
                    reason: "missing: is this a bundle directory written by `hakmem replay`?"
                        .into(),
                }
            } else {
                ReportError::Io {
                    path: manifest_path.clone(),
                    cause: source,
                }
            }
        })?;
        let manifest = parse_manifest(&manifest_path, &text)?;
        let samples_path = dir.join(SAMPLES_FILE);
        let (samples, warnings) = match std::fs::read_to_string(&samples_path) {
            Ok(text) => parse_samples(&samples_path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                Vec::new(),
                vec![format!(
                    "{}: missing; the bundle has no samples (did the replay start?)",
                    samples_path.display()
                )],
            ),
            Err(source) => {
                return Err(ReportError::Io {
                    path: samples_path,
                    cause: source,
                })
            }
        };
        let mut bundle = Bundle {
            dir,
            manifest,
            samples,
            warnings,
        };
        bundle.group_by_node_kind();
        Ok(bundle)
    }

    /// Where the samples of one bundle come from machines with different CPU models (a plan run on a
    /// heterogeneous cluster and merged by `hakmem collect`), a ratio that pools them compares nodes, not
    /// allocators. Each such workload is split into one per node kind, named `WORKLOAD @ CPU MODEL` (its
    /// manifest entry copied), so every summary, ratio and chart stays within one kind; a note says so.
    /// Samples that do not name their CPU keep their workload. Returns whether anything was split.
    pub fn group_by_node_kind(&mut self) -> bool {
        let mut kinds: Vec<String> = Vec::new();
        for s in &self.samples {
            if !s.cpu.is_empty() && !kinds.contains(&s.cpu) {
                kinds.push(s.cpu.clone());
            }
        }
        if kinds.len() < 2 {
            return false;
        }
        let mut split: Vec<(String, String)> = Vec::new();
        for s in &mut self.samples {
            if s.cpu.is_empty() {
                continue;
            }
            let pair = (s.workload.clone(), s.cpu.clone());
            s.workload = format!("{} @ {}", s.workload, s.cpu);
            if !split.contains(&pair) {
                split.push(pair);
            }
        }
        let mut workloads = Vec::new();
        for w in &self.manifest.workloads {
            let mut any = false;
            for kind in &kinds {
                if split.contains(&(w.name.clone(), kind.clone())) {
                    let mut copy = w.clone();
                    copy.name = format!("{} @ {kind}", w.name);
                    workloads.push(copy);
                    any = true;
                }
            }
            if !any || self.samples.iter().any(|s| s.workload == w.name) {
                workloads.push(w.clone());
            }
        }
        self.manifest.workloads = workloads;
        self.manifest.notes.push(format!(
            "samples come from {} node kinds ({}): each workload is shown once per CPU model, ratios within one kind",
            kinds.len(),
            kinds.join("; ")
        ));
        true
    }

    /// Fills the workload descriptions a writer left empty (no profile, or zero ops, threads or peak live
    /// bytes) from `describe(path)`, which returns `hakmem info --json`-style JSON for a workload file, and
    /// notes in the manifest that it did so. Relative paths are tried as given, then beside the bundle.
    /// Returns how many workloads were filled.
    pub fn fill_profiles(
        &mut self,
        describe: &dyn Fn(&Path) -> Option<serde_json::Value>,
    ) -> usize {
        let mut filled = Vec::new();
        for w in &mut self.manifest.workloads {
            let incomplete =
                w.profile.is_null() || w.ops == 0 || w.threads == 0 || w.peak_live_bytes == 0;
            if !incomplete || w.path.is_empty() {
                continue;
            }
            let given = PathBuf::from(&w.path);
            let candidates = [
                given.clone(),
                self.dir.join(&given),
                self.dir.join("..").join(&given),
            ];
            let Some(path) = candidates.iter().find(|p| p.is_file()) else {
                continue;
            };
            let Some(v) = describe(path) else { continue };
            let num = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
            if w.ops == 0 {
                w.ops = num("ops");
            }
            if w.threads == 0 {
                w.threads = u32::try_from(num("threads")).unwrap_or(0);
            }
            if w.peak_live_bytes == 0 {
                w.peak_live_bytes = num("peak_live_bytes");
            }
            if w.profile.is_null() {
                w.profile = v;
            }
            filled.push(w.name.clone());
        }
        if !filled.is_empty() {
            self.manifest.notes.push(format!(
                "workload description of {} read at report time with `hakmem info --json` (the bundle had none)",
                filled.join(", ")
            ));
        }
        filled.len()
    }

    /// A name for this bundle in reports: its directory name.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.dir.display().to_string())
    }
}

/// Parses a manifest, checking the version first so that a newer layout gets the version message rather than
/// a confusing field error.
fn parse_manifest(path: &Path, text: &str) -> Result<Manifest, ReportError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ReportError::BadManifest {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let version = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64);
    match version {
        None => {
            return Err(ReportError::BadManifest {
                path: path.to_path_buf(),
                reason: "no `format_version` field".into(),
            })
        }
        Some(v) if v != u64::from(BUNDLE_FORMAT_VERSION) => {
            return Err(ReportError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: u32::try_from(v).unwrap_or(u32::MAX),
                supported: BUNDLE_FORMAT_VERSION,
            })
        }
        Some(_) => {}
    }
    serde_json::from_value(value).map_err(|e| ReportError::BadManifest {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Parses `samples.jsonl`, skipping bad lines with a warning each (the final newline ends the last line and
/// is not a blank line).
fn parse_samples(path: &Path, text: &str) -> (Vec<Sample>, Vec<String>) {
    let mut samples = Vec::new();
    let mut warnings = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        if line.trim().is_empty() {
            warnings.push(format!("{}:{lineno}: empty line skipped", path.display()));
            continue;
        }
        match serde_json::from_str::<Sample>(line) {
            Ok(s) => samples.push(s),
            Err(e) => warnings.push(format!(
                "{}:{lineno}: corrupt sample skipped ({e}); a replay killed mid-write leaves a torn last line",
                path.display()
            )),
        }
    }
    (samples, warnings)
}

/// Writes `bundle`'s manifest and samples into `dir` (created if needed), in the layout [`Bundle::load`]
/// reads. Used by tests and tools that build bundles; the replayer writes its own incrementally.
pub fn write_bundle(
    dir: &Path,
    manifest: &Manifest,
    samples: &[Sample],
) -> Result<(), ReportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| ReportError::Write { path, cause }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mpath = dir.join(MANIFEST_FILE);
    let text = serde_json::to_string_pretty(manifest).expect("a manifest always serialises");
    std::fs::write(&mpath, text + "\n").map_err(io(&mpath))?;
    let spath = dir.join(SAMPLES_FILE);
    let mut out = String::new();
    for s in samples {
        out.push_str(&serde_json::to_string(s).expect("a sample always serialises"));
        out.push('\n');
    }
    std::fs::write(&spath, out).map_err(io(&spath))?;
    Ok(())
}
