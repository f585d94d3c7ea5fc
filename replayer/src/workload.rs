//! Adapter between the trace crate's workload format and the engine's [`Program`], and the source of the
//! live random-mixed step sequence.
//!
//! Entry points: [`load_program`] (map, decode and validate a `.hkw` before the start barrier) and
//! [`random_mixed_steps`] (the step generator the live bench shares with `hakmem gen random-mixed`, so that
//! live and replayed runs make the same calls).

use crate::engine::{RandomMixed, SplitMix64};
use crate::program::Program;
use std::path::Path;

/// Loads, decodes and validates a workload.
pub fn load_program(path: &Path) -> anyhow::Result<Program> {
    anyhow::bail!(
        "{}: the workload decoder (traces::workload) is not in this build yet",
        path.display()
    )
}

/// The `(slot, size)` steps of random-mixed with parameters `p`.
pub fn random_mixed_steps(p: &RandomMixed) -> impl FnMut() -> (u32, u32) {
    let mut rng = SplitMix64(p.seed);
    let ws = p.ws.max(1) as u64;
    let lo = p.min.min(p.max) as u64;
    let span = p.max.max(p.min) as u64 - lo + 1;
    move || {
        let slot = (rng.next() % ws) as u32;
        let size = (lo + rng.next() % span) as u32;
        (slot, size)
    }
}

/// Describes each workload for the manifest and the plan; an unreadable one becomes an `Err` reason
/// (its samples are recorded as failed, the others still run).
pub fn inputs(paths: &[std::path::PathBuf]) -> Vec<crate::session::Input> {
    let mut names: Vec<String> = Vec::new();
    paths
        .iter()
        .map(|p| {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string());
            let mut name = stem.clone();
            let mut n = 2;
            while names.contains(&name) {
                name = format!("{stem}#{n}");
                n += 1;
            }
            names.push(name.clone());
            let mut info = reports::model::WorkloadInfo {
                name,
                path: p.display().to_string(),
                ..Default::default()
            };
            let source =
                describe(p, &mut info).map(|()| crate::child::Source::Workload { path: p.clone() });
            crate::session::Input {
                info,
                source: source.map_err(|e| format!("workload {}: {e:#}", p.display())),
            }
        })
        .collect()
}

fn describe(path: &Path, info: &mut reports::model::WorkloadInfo) -> anyhow::Result<()> {
    use anyhow::Context;
    info.hash = format!(
        "sha256:{}",
        crate::sysinfo::sha256_file(path).context("cannot read")?
    );
    let _ = load_program(path)?;
    Ok(())
}
