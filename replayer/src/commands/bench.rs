//! `hakmem bench` (being built).

/// Subcommands of `hakmem bench`.
#[derive(clap::Subcommand)]
pub enum Bench {}

/// Runs `hakmem bench`.
pub fn run(args: Bench) -> anyhow::Result<u8> {
    match args {}
}
