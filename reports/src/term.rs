//! The terminal: whether stdout/stderr is one, and its width (through the `terminal_size` crate).

use std::io::IsTerminal;

/// Whether stdout is a terminal (colour and width apply only then).
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether stderr is a terminal (progress bars are drawn only then).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Width of the terminal on stdout (`fd` 1) or stderr (any other `fd`), if it is one; `COLUMNS` overrides.
pub fn width(fd: i32) -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
    {
        return Some(c);
    }
    let size = if fd == 1 {
        terminal_size::terminal_size_of(std::io::stdout())
    } else {
        terminal_size::terminal_size_of(std::io::stderr())
    };
    size.map(|(w, _)| usize::from(w.0)).filter(|&w| w > 0)
}
