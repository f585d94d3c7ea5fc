//! One module per subcommand. Each has `Args` (or a subcommand enum) and `run(args) -> Result<u8>`, the
//! process exit code on success.

pub mod bench;
pub mod child;
pub mod collect;
pub mod compile;
pub mod demo;
pub mod gen;
pub mod info;
pub mod live;
pub mod plan;
pub mod record;
pub mod replay;
pub mod report;
pub mod run_job;

/// What `replay` and `bench` check before any child starts: the allocator specs parse, every HAKMEM knob
/// and value is valid, and the baseline (if given) names one of the configurations. Numeric limits are
/// checked earlier, by the parsers of [`replayer::options`]. Returns the configurations.
pub fn checked_run_setup(
    allocs: &[String],
    baseline: Option<&str>,
) -> anyhow::Result<Vec<replayer::spec::AllocSpec>> {
    let configs = replayer::spec::parse_specs(allocs, &replayer::hakmem_backend::knob_names())?;
    for c in &configs {
        replayer::hakmem_backend::validate(&c.label, &c.knobs)?;
    }
    if let Some(b) = baseline {
        let known = configs
            .iter()
            .any(|c| c.label == b || c.backend.name() == b);
        if !known {
            let labels: Vec<&str> = configs.iter().map(|c| c.label.as_str()).collect();
            anyhow::bail!(
                "--baseline `{b}` is not one of the configurations measured: {}",
                labels.join(", ")
            );
        }
    }
    Ok(configs)
}
