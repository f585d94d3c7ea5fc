//! `hakmem demo` (being built).

/// Arguments of `hakmem demo`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `hakmem demo`.
pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`hakmem demo` is not built yet")
}
