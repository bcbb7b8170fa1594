//! A one-line progress display on stderr for long work (unpacking a large payload, downloading an
//! update), shown only when stderr is a terminal.
//!
//! The launcher's needs are one bar at a time with a byte count, so a dozen lines do it; a full
//! progress-bar library would cost the stub more than everything else here.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Redraws at most this often.
const REDRAW: Duration = Duration::from_millis(100);

/// A progress line; cleared when finished or dropped.
#[derive(Debug)]
pub(crate) struct Progress {
    label: String,
    total: u64,
    last: Mutex<Option<Instant>>,
}

impl Progress {
    /// A progress line for `total` bytes, or `None` when stderr is not a terminal.
    pub(crate) fn new(label: String, total: u64) -> Option<Self> {
        std::io::stderr().is_terminal().then(|| Self { label, total: total.max(1), last: Mutex::new(None) })
    }

    /// Shows `done` of the total (rate-limited; callable from any thread).
    pub(crate) fn set(&self, done: u64) {
        let Ok(mut last) = self.last.lock() else { return };
        if last.is_some_and(|t| t.elapsed() < REDRAW) {
            return;
        }
        *last = Some(Instant::now());
        let percent = done.min(self.total) * 100 / self.total;
        let width = 30;
        let filled = (percent as usize * width) / 100;
        let line = format!(
            "\r{} [{}{}] {:>3}% {:.1}/{:.1} MB",
            self.label,
            "=".repeat(filled),
            " ".repeat(width - filled),
            percent,
            done as f64 / 1e6,
            self.total as f64 / 1e6
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        let drew = self.last.lock().is_ok_and(|l| l.is_some());
        if drew {
            // Erase the line, so the app's own output starts on a clean line.
            let _ = std::io::stderr().write_all(b"\r\x1b[2K");
        }
    }
}
