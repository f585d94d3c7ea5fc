//! The result bundle: what `hakmem replay` and `hakmem bench` write and `hakmem report` reads.
//!
//! A bundle is a directory holding `manifest.json` (one [`Manifest`]) and `samples.jsonl` (one [`Sample`]
//! per line, appended as each child finishes, so a crash of the driver loses nothing already measured).
//! Unknown fields are ignored on read so that newer writers stay readable; `format_version` says when a
//! change is incompatible.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the bundle layout written by this crate.
pub const BUNDLE_FORMAT_VERSION: u32 = 1;
/// File name of the manifest inside a bundle directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of the samples inside a bundle directory.
pub const SAMPLES_FILE: &str = "samples.jsonl";

/// Where a bundle came from: enough to reproduce it and to tell two runs apart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`BUNDLE_FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// `"replay"`, `"bench"` or `"live"` (a `live --record` bundle holds live and replay samples; each
    /// sample says which with its own `kind`).
    pub kind: String,
    /// The full command line that produced the bundle.
    pub command: Vec<String>,
    /// Version of the `hakmem` tool.
    pub tool_version: String,
    /// Start of the run, RFC 3339 UTC.
    pub date: String,
    /// The machine: host name, CPU model, cores, memory, kernel.
    pub machine: Machine,
    /// The workloads replayed (or the live benchmark's parameters).
    pub workloads: Vec<WorkloadInfo>,
    /// The allocator configurations measured, one per distinct `config` label in the samples.
    pub allocators: Vec<AllocatorInfo>,
    /// Repeats requested per allocator × workload.
    pub repeats: u32,
    /// Children run at once.
    pub jobs: u32,
    /// Memory touching mode: `none`, `first`, `line` or `all`.
    pub touch: String,
    /// Whether `--check` contract checking was on.
    pub check: bool,
    /// Free-form notes (for example "parallel children shared cores").
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The machine a bundle was measured on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Host name.
    pub hostname: String,
    /// CPU model name from /proc/cpuinfo.
    pub cpu: String,
    /// Online cores.
    pub cores: u32,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// Kernel release (`uname -r`).
    pub kernel: String,
}

/// One workload of a bundle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadInfo {
    /// Short name used in samples' `workload` field (file stem, or `random-mixed(...)` for live benches).
    pub name: String,
    /// Path of the `.hkw` file (empty for live benchmarks).
    pub path: String,
    /// Hex SHA-256 (or other stated hash) of the workload file; empty for live benchmarks.
    pub hash: String,
    /// Threads in the workload.
    pub threads: u32,
    /// Allocator calls in the workload.
    pub ops: u64,
    /// Peak live requested bytes ("ideal RSS").
    pub peak_live_bytes: u64,
    /// The workload's profile (`hakmem info --json` output) for the report's trace section.
    #[serde(default)]
    pub profile: serde_json::Value,
    /// `live` for a command run by `hakmem live` (its `name` is the command line), empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// For a workload recorded by `hakmem live --record`: the name of the live workload (the command) whose
    /// recording it is, so that reports can set its replay against the live runs (fidelity).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub live_workload: String,
}

/// One allocator configuration of a bundle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AllocatorInfo {
    /// Backend name: `hakmem`, `system`, `mimalloc`, `preload`.
    pub allocator: String,
    /// Configuration label, unique in the bundle, e.g. `hakmem:HAKMEM_TINY_UNIFIED_C7=128` or `system`.
    pub config: String,
    /// Knobs of this configuration (empty for baselines).
    #[serde(default)]
    pub knobs: BTreeMap<String, String>,
    /// Version string of the allocator (crate version, glibc version, library path and build id...).
    pub version: String,
    /// Path of the preloaded library, if any.
    #[serde(default)]
    pub path: String,
}

/// Outcome of one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The child replayed the whole workload.
    Ok,
    /// The child died on a signal (named in `error`).
    Crashed,
    /// The child was killed after `--timeout` seconds.
    Timeout,
    /// An allocation returned NULL where the recording had a pointer.
    AllocFailed,
    /// `--check` found contract violations (listed in `violations`); figures are still valid.
    CheckFailed,
    /// The child could not start or reported another error (in `error`).
    Error,
    /// A live run whose exit status or standard output differs from the system allocator's run of the same
    /// command: the allocator changed the program's result (details in `error`).
    OutputDiffers,
}

/// `kind` of a live sample (the real program run under the allocator).
pub const KIND_LIVE: &str = "live";
/// `kind` of a replay sample (also what an empty `kind` means, in bundles written before live runs).
pub const KIND_REPLAY: &str = "replay";

/// Latency percentiles of one call kind, in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Calls sampled.
    pub samples: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
}

/// One measurement: one child process replaying one workload through one allocator configuration, or
/// (`kind` = `live`) one run of the real program under it.
///
/// For a live sample `seconds` is the program's wall time (start to the end of its last process),
/// `ops_per_sec` is runs per second (`1 / seconds`, so ratios read as for replays: above 1 is faster),
/// `ops` is 0, `cpu_seconds` = `user_seconds + sys_seconds`, and the memory and fault figures are the
/// program's from `wait4`'s rusage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// `live` or `replay` (empty = `replay`, as in bundles written before live runs existed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Backend name (as [`AllocatorInfo::allocator`]).
    pub allocator: String,
    /// Configuration label (as [`AllocatorInfo::config`]).
    pub config: String,
    /// Workload name (as [`WorkloadInfo::name`]).
    pub workload: String,
    /// Repeat index, from 0.
    pub repeat: u32,
    /// Outcome.
    pub status: Option<Status>,
    /// Why the sample failed, if it did.
    #[serde(default)]
    pub error: String,
    /// Allocator calls performed in the timed region.
    pub ops: u64,
    /// Wall seconds of the timed region.
    pub seconds: f64,
    /// `ops / seconds`.
    pub ops_per_sec: f64,
    /// CPU seconds (user + system) of the child's timed region.
    pub cpu_seconds: f64,
    /// Peak resident set size of the child (VmHWM), bytes.
    pub peak_rss_bytes: u64,
    /// Resident set size after the workload freed everything it frees, bytes.
    pub post_rss_bytes: u64,
    /// RSS of the child (VmRSS) just before the timed region, after decoding the workload and allocating
    /// the object table: the harness's own share of `peak_rss_bytes`. Right after reading it the child
    /// resets VmHWM (`echo 5 > /proc/self/clear_refs`, Linux ≥ 4.0), so `peak_rss_bytes` is the peak of
    /// the timed region and `peak_rss_bytes - baseline_rss_bytes` ("heap peak") is the allocator's own
    /// peak memory. 0 = unknown (bundles written before this field).
    #[serde(default)]
    pub baseline_rss_bytes: u64,
    /// Minor page faults in the timed region.
    pub minor_faults: u64,
    /// Major page faults in the timed region.
    pub major_faults: u64,
    /// Sampled latency percentiles per call kind (`malloc`, `free`, ...).
    #[serde(default)]
    pub latency_ns: BTreeMap<String, Percentiles>,
    /// For HAKMEM: per-box statistics, `box name -> counter name -> value`.
    #[serde(default)]
    pub box_stats: BTreeMap<String, BTreeMap<String, u64>>,
    /// `--check` violations found, as human-readable lines (capped).
    #[serde(default)]
    pub violations: Vec<String>,
    /// CPUs the child was pinned to.
    #[serde(default)]
    pub cpus: Vec<u32>,
    /// Host name of the machine that took the sample (samples of one bundle can come from several nodes
    /// when a plan ran on a cluster: `hakmem collect`). Empty in bundles written before this field.
    #[serde(default)]
    pub host: String,
    /// CPU model of that machine (its "node kind": the report groups samples by it when kinds mix).
    #[serde(default)]
    pub cpu: String,
    /// Replays with `--walk N`: N, the youngest generation's walk period in allocations (0 = no walks).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub walk: u64,
    /// Walks the replay threads made (`--walk`).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub walks: u64,
    /// Live blocks those walks read (a deterministic count: the workload's and N's, not the allocator's).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub walked_blocks: u64,
    /// Live runs: user CPU seconds of the program (all of its processes that were waited for).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub user_seconds: f64,
    /// Live runs: system CPU seconds of the program.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sys_seconds: f64,
    /// Live runs: the program's exit code (`None` when it died on a signal or did not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Live runs: SHA-256 of everything the program wrote on stdout, and its length (`sha256:HEX/LEN`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout_hash: String,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn is_zero_u64(x: &u64) -> bool {
    *x == 0
}

impl Sample {
    /// Whether this is a live sample.
    pub fn is_live(&self) -> bool {
        self.kind == KIND_LIVE
    }
}
