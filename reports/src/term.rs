//! The terminal: whether stdout/stderr is one, and its width. The only `unsafe` of this crate (one ioctl).

use std::io::IsTerminal;

/// Whether stdout is a terminal (colour and width apply only then).
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether stderr is a terminal (progress bars are drawn only then).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Width of the terminal on `fd`, if it is one; `COLUMNS` overrides.
pub fn width(fd: i32) -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(c);
    }
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points to a live, writable local;
    // on a descriptor that is not a terminal it fails with ENOTTY and writes nothing.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws as *mut libc::winsize) };
    (r == 0 && ws.ws_col > 0).then_some(usize::from(ws.ws_col))
}
