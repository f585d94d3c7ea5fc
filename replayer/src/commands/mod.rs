//! One module per subcommand. Each has `Args` (or a subcommand enum) and `run(args) -> Result<u8>`, the
//! process exit code on success.

pub mod bench;
pub mod child;
pub mod compile;
pub mod demo;
pub mod gen;
pub mod info;
pub mod record;
pub mod replay;
pub mod report;
