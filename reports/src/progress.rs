//! Progress bars on stderr (the `indicatif` crate), drawn only when stderr is a terminal and hidden when
//! piped, as hyperfine's `--style auto`.
//!
//! Entry point: [`Progress::auto`]; then [`Progress::set`] as work advances and [`Progress::finish`].

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::{Duration, Instant};

/// One progress bar.
pub struct Progress {
    bar: ProgressBar,
    enabled: bool,
    start: Instant,
}

impl Progress {
    /// A bar for `total` units of work, drawn only if stderr is a terminal.
    pub fn auto(label: &str, total: u64) -> Progress {
        Progress::new(label, total, crate::term::stderr_is_terminal())
    }

    /// A bar drawn only if `enabled`.
    pub fn new(label: &str, total: u64, enabled: bool) -> Progress {
        let target = if enabled {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:24}] {pos}/{len} {elapsed_precise} {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-");
        bar.set_style(style);
        bar.set_prefix(label.to_owned());
        Progress {
            bar,
            enabled,
            start: Instant::now(),
        }
    }

    /// Whether the bar is drawn.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Seconds since the bar started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Records progress (`done` of the total) with a short message (redrawn at most ten times a second).
    pub fn set(&mut self, done: u64, msg: &str) {
        self.bar
            .set_position(done.min(self.bar.length().unwrap_or(u64::MAX)));
        self.bar.set_message(msg.to_owned());
    }

    /// Clears the bar (on a terminal) and prints `msg` as a normal line on stderr (always).
    pub fn finish(&mut self, msg: &str) {
        self.bar.finish_and_clear();
        if !msg.is_empty() {
            eprintln!("{msg}");
        }
    }
}
