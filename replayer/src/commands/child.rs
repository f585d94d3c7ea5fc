//! `hakmem child` (being built).

/// Arguments of `hakmem child`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `hakmem child`.
pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`hakmem child` is not built yet")
}
