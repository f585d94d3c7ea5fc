//! End-to-end tests of the `hakmem` binary, one module per area.

/// `hakmem bench`: the live benchmarks.
mod bench;
/// The contract of every subcommand: extreme and malformed values, one spelling per concept, private
/// files (issue 13).
mod cli_contract;
/// `hakmem compile`, `info` and `gen` on real files, including bad input.
mod cli_traces;
/// `hakmem plan`, `run-job` and `collect`: a plan run by GNU parallel, killed jobs, refusals.
mod cluster;
/// Helpers shared by the modules: programs and preloads built with gcc, paths and outputs.
mod common;
/// `hakmem demo`.
mod demo;
/// `hakmem live`: real programs under each allocator, `--record` and fidelity.
mod live;
/// `hakmem record` on real programs.
mod record;
/// `hakmem replay`: backends, sync points, failures as data, `--check`.
mod replay;
/// `hakmem report`: exporters and HTML.
mod report;
