//! `hakmem info` (being built).

/// Arguments of `hakmem info`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `hakmem info`.
pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`hakmem info` is not built yet")
}
