//! `hakmem replay` (being built).

/// Arguments of `hakmem replay`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `hakmem replay`.
pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`hakmem replay` is not built yet")
}
