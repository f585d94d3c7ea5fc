//! `hakmem compile` (being built).

/// Arguments of `hakmem compile`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `hakmem compile`.
pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`hakmem compile` is not built yet")
}
