//! `hakmem record` (being built).

/// Arguments of `hakmem record`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `hakmem record`.
pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`hakmem record` is not built yet")
}
