//! One module per subcommand. Each has `Args` (or a subcommand enum) and `run(args) -> Result<u8>`, the
//! process exit code on success.

pub mod bench;
pub mod child;
pub mod collect;
pub mod compile;
pub mod demo;
pub mod gen;
pub mod info;
pub mod plan;
pub mod record;
pub mod replay;
pub mod report;
pub mod run_job;

/// What `replay` and `bench` check before any child starts: the allocator specs parse, every HAKMEM knob
/// and value is valid, and the run limits make sense. Returns the configurations and the timeout.
pub fn checked_run_setup(
    allocs: &[String],
    repeats: u32,
    timeout_secs: f64,
) -> anyhow::Result<(Vec<replayer::spec::AllocSpec>, std::time::Duration)> {
    let configs = replayer::spec::parse_specs(allocs, &replayer::hakmem_backend::knob_names())?;
    for c in &configs {
        replayer::hakmem_backend::validate(&c.label, &c.knobs)?;
    }
    anyhow::ensure!(repeats >= 1, "--repeats must be at least 1");
    anyhow::ensure!(
        timeout_secs > 0.0 && timeout_secs.is_finite(),
        "--timeout must be a positive number of seconds"
    );
    Ok((configs, std::time::Duration::from_secs_f64(timeout_secs)))
}
