//! `hakmem compile RAW… -o OUT.hkw`: compile raw traces (one per recorded process) into one workload. The
//! library side is `traces::compile`.

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use traces::compile::{compile_files_to, CompileOptions};

/// Arguments of `hakmem compile`.
#[derive(clap::Args)]
pub struct Args {
    /// Raw trace files, or directories written by `hakmem record -o DIR` (every regular file inside that
    /// is not a workload is taken as a raw trace).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output workload file (created 0600).
    #[arg(short = 'o', long = "out", alias = "output", value_name = "FILE")]
    output: PathBuf,
    /// Log-inversion window in microseconds: how late another thread's free of an address may be logged
    /// after the address was handed out again and still be attributed to the earlier object.
    #[arg(long, default_value = "10000", value_name = "MICROSECONDS", value_parser = replayer::options::inversion_window_us)]
    inversion_window_us: u64,
    /// Print phase timings and throughput.
    #[arg(long)]
    stats: bool,
    /// Print every note (one per input file, e.g. how its recording ended), not only the summary.
    #[arg(short, long)]
    verbose: bool,
}

/// Runs `hakmem compile`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let mut files = Vec::new();
    for p in &args.inputs {
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("{}: cannot list directory", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_none_or(|x| x != "hkw"))
                .collect();
            if inside.is_empty() {
                anyhow::bail!("{}: directory holds no raw trace", p.display());
            }
            inside.sort();
            files.extend(inside);
        } else {
            files.push(p.clone());
        }
    }
    let opts = CompileOptions {
        inversion_window_ns: args.inversion_window_us.saturating_mul(1000),
        ..CompileOptions::default()
    };
    let t = std::time::Instant::now();
    let c = compile_files_to(&files, &opts, &args.output)?;
    let s = &c.summary;
    let secs = t.elapsed().as_secs_f64();
    let st = &c.workload.stats;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote {}: {} events from {} file{} -> {} ops, {} threads, {} object slots, {} bytes ({:.2} bytes/op in the op streams)",
        args.output.display(),
        c.events,
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        s.ops,
        c.workload.threads.len(),
        s.object_slots,
        s.bytes,
        // Op-stream bytes per op, the figure `hakmem info` prints (the file adds a header).
        if s.ops == 0 {
            0.0
        } else {
            c.workload.threads.iter().map(|t| t.len).sum::<u64>() as f64 / s.ops as f64
        }
    )?;
    writeln!(
        out,
        "  cross-thread frees {}, reallocs {}; unknown frees {}, double frees {}, inversions repaired {}, \
         missing frees {}, failed allocs {}",
        st.cross_thread_frees,
        st.cross_thread_reallocs,
        st.unknown_frees,
        st.double_frees,
        st.inversions_repaired,
        st.missing_frees,
        st.failed_allocs
    )?;
    // One line per input file says how its recording ended; a clean end is the rule, so without -v
    // only the other notes are printed, and the clean ones are counted.
    let clean = |n: &&String| {
        (n.contains(": clean exit:") || n.contains(": ended by exec:")) && n.ends_with(" chunks")
    };
    let quiet_clean = c.workload.notes.iter().filter(clean).count();
    for n in c
        .workload
        .notes
        .iter()
        .filter(|n| args.verbose || !clean(n))
    {
        writeln!(out, "  note: {n}")?;
    }
    if !args.verbose && quiet_clean > 0 {
        writeln!(
            out,
            "  {quiet_clean} trace{} ended cleanly (-v prints a note per file)",
            if quiet_clean == 1 { "" } else { "s" }
        )?;
    }
    if args.stats {
        let ph: Vec<String> = c
            .phases
            .iter()
            .map(|(n, s)| format!("{n} {s:.3} s"))
            .collect();
        writeln!(
            out,
            "  {:.3} s total ({}), {:.1} M events/s; peak RSS {} MiB ({:.1} bytes per peak live object), \
             scratch file {} MiB",
            secs,
            ph.join(", "),
            c.events as f64 / secs / 1e6,
            replayer::sysinfo::peak_rss_bytes() >> 20,
            replayer::sysinfo::peak_rss_bytes() as f64 / st.peak_live_objects.max(1) as f64,
            c.spill_bytes >> 20
        )?;
    }
    Ok(0)
}
