//! `hakmem gen` (being built).

/// Subcommands of `hakmem gen`.
#[derive(clap::Subcommand)]
pub enum Gen {}

/// Runs `hakmem gen`.
pub fn run(args: Gen) -> anyhow::Result<u8> {
    match args {}
}
