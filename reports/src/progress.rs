//! A progress bar on stderr, drawn only when stderr is a terminal (hidden when piped, as hyperfine's
//! `--style auto`). Hand-rolled: one line redrawn with `\r`, at most ten times a second.
//!
//! Entry point: [`Progress::auto`]; then [`Progress::set`] as work advances and [`Progress::finish`].

use std::io::Write;
use std::time::{Duration, Instant};

/// One progress bar.
pub struct Progress {
    enabled: bool,
    label: String,
    total: u64,
    done: u64,
    start: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    /// A bar for `total` units of work, drawn only if stderr is a terminal.
    pub fn auto(label: &str, total: u64) -> Progress {
        Progress::new(label, total, crate::term::stderr_is_terminal())
    }

    /// A bar drawn only if `enabled`.
    pub fn new(label: &str, total: u64, enabled: bool) -> Progress {
        Progress {
            enabled,
            label: label.to_owned(),
            total,
            done: 0,
            start: Instant::now(),
            last_draw: None,
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

    /// Records progress (`done` of `total`) with a short message, redrawing at most every 100 ms.
    pub fn set(&mut self, done: u64, msg: &str) {
        self.done = done.min(self.total);
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        self.last_draw = Some(now);
        self.draw(msg);
    }

    fn draw(&self, msg: &str) {
        let width = crate::term::width(2).unwrap_or(80).clamp(40, 200);
        let bar_w = 24usize;
        let filled = if self.total == 0 {
            0
        } else {
            (self.done as usize * bar_w) / self.total as usize
        };
        let head = format!(
            "{} [{}{}] {}/{} {:.1}s ",
            self.label,
            "#".repeat(filled),
            "-".repeat(bar_w - filled),
            self.done,
            self.total,
            self.start.elapsed().as_secs_f64()
        );
        let room = width.saturating_sub(head.chars().count() + 1);
        let msg: String = msg.chars().take(room).collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{head}{msg}");
        let _ = err.flush();
    }

    /// Clears the bar (on a terminal) and prints `msg` as a normal line on stderr (always).
    pub fn finish(&mut self, msg: &str) {
        let mut err = std::io::stderr().lock();
        if self.enabled {
            let _ = write!(err, "\r\x1b[2K");
        }
        if !msg.is_empty() {
            let _ = writeln!(err, "{msg}");
        }
        let _ = err.flush();
    }
}
