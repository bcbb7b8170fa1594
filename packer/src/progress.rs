//! Progress bars on stderr, only where a person is watching a long job.
//!
//! A bar is drawn only when stderr is a terminal and the work is at least [`THRESHOLD`] bytes:
//! small builds finish before a bar would be readable, and pipelines and logs get no control
//! characters. stdout is never touched, so `inspect --json | jq` stays clean.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

/// Work below this size gets no bar.
pub(crate) const THRESHOLD: u64 = 32 * 1024 * 1024;

/// A byte-count progress bar, or nothing.
#[derive(Debug)]
pub(crate) struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar for `total` bytes labelled `label`, if one is wanted (see the module docs).
    pub(crate) fn bytes(label: &str, total: u64) -> Self {
        if !wanted() || total < THRESHOLD {
            return Self(None);
        }
        let template = "{msg:>10} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})";
        let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::new(total).with_style(style.progress_chars("=> ")).with_message(label.to_owned());
        Self(Some(bar))
    }

    /// Sets the bytes done.
    pub(crate) fn set(&self, done: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(done);
        }
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Whether a bar could be shown at all (stderr is a terminal).
pub(crate) fn wanted() -> bool {
    std::io::stderr().is_terminal()
}

/// Sum of the regular files' sizes under `root`, for a bar's total. Unreadable parts count as
/// zero: the packer reports them properly when it reaches them.
pub(crate) fn tree_size(root: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(root) else { return 0 };
    let mut total = 0u64;
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            total = total.saturating_add(tree_size(&entry.path()));
        } else if kind.is_file() {
            total = total.saturating_add(entry.metadata().map_or(0, |m| m.len()));
        }
    }
    total
}
