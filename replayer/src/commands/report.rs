//! `hakmem report` (being built).

/// Arguments of `hakmem report`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `hakmem report`.
pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`hakmem report` is not built yet")
}
