//! Integration tests of the reports crate, one module per area.

/// Reading bundles from disk, including bad input.
mod bundle_read;
/// Exporters: snapshots of the text formats, round trips of JSON and CSV.
mod exports;
/// Fidelity of a replay against live runs; too short to rank.
mod fidelity;
/// Constructed bundles shared by the other modules.
mod fixture;
/// The HTML report: every section, self-contained.
mod html;
/// Summaries: quartiles, ratios, significance, sweeps, box highlights.
mod summary;
