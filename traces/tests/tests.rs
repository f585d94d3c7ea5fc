//! Integration tests of the trace formats, one module per area.

/// Shared helpers: temporary files, compiling in-memory events, decoding workloads.
mod util;

/// Bad input to both readers: empty, truncated, bit-flipped, wrong magic/version, directories, missing
/// paths, random bytes (fuzzing as property tests).
mod bad_input;
/// The compiler: hand-written scenarios (address reuse, cross-thread frees, realloc moves, inversions,
/// unknown/double frees, failures) and random multi-threaded traces checked against a reference model.
mod compile;
/// Generators: defaults, determinism, bytes per op, sync structure.
mod gen;
/// The streaming compiler: same bytes as the in-memory compiler of before (golden hashes), whatever its
/// memory budgets; `info` on a raw trace describes what the compile writes.
mod streaming;
/// The workload format: encode → write → map → decode round trips (property tests), header checks.
mod workload;
