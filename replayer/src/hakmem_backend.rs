//! The HAKMEM backend: the linked-in `hakmem-allocator` crate, configured from a spec's knobs before its
//! first allocation, and its per-box statistics.
//!
//! Entry points: [`configure`], [`run`], [`box_stats`], [`knob_names`].

use crate::child::Job;
use crate::engine::{Options, Outcome};
use crate::program::Program;
use std::collections::BTreeMap;

/// Names of the HAKMEM knobs a spec may set.
pub fn knob_names() -> Vec<&'static str> {
    Vec::new()
}

/// Applies `knobs` on top of the environment's configuration and initialises HAKMEM.
pub fn configure(_knobs: &[(String, String)]) -> anyhow::Result<()> {
    anyhow::bail!(
        "the hakmem backend is not linked into this build yet (hakmem-allocator has no API yet)"
    )
}

/// Runs a job through HAKMEM.
pub fn run(_job: &Job, _program: Option<&Program>, _opts: Options) -> Outcome {
    Outcome::default()
}

/// HAKMEM's per-box counters.
pub fn box_stats() -> BTreeMap<String, BTreeMap<String, u64>> {
    BTreeMap::new()
}
