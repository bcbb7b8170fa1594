//! Progress on stderr, only for long jobs.
//!
//! A bar is drawn only when stderr is a terminal and the work is at least [`THRESHOLD`] bytes:
//! small builds finish before a bar would be readable, and pipelines and logs get no control
//! characters. A long `build` whose stderr is not a terminal (CI logs) prints one line per
//! stage instead ([`Stages`]); `--quiet` silences both. stdout is never touched, so
//! `inspect --json | jq` stays clean.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

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

/// The stages of a long job: a bar with the stage as its label on a terminal, one
/// `sea-pack: <stage>` line per stage otherwise, nothing when quiet or small.
#[derive(Debug)]
pub(crate) struct Stages {
    mode: Mode,
    start: Instant,
    /// The current stage's label: entering it again prints nothing.
    current: std::sync::Mutex<String>,
}

#[derive(Debug)]
enum Mode {
    Silent,
    Lines,
    Bar(ProgressBar),
}

impl Stages {
    /// Stages of a job over `total` bytes.
    pub(crate) fn new(quiet: bool, total: u64) -> Self {
        let mode = if quiet || total < THRESHOLD {
            Mode::Silent
        } else if wanted() {
            let template = "{msg:>12} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})";
            let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
            Mode::Bar(ProgressBar::new(total).with_style(style.progress_chars("=> ")))
        } else {
            Mode::Lines
        };
        Self { mode, start: Instant::now(), current: std::sync::Mutex::new(String::new()) }
    }

    /// Enters a stage: `label` on the bar, or the line `sea-pack: <line>`.
    pub(crate) fn stage(&self, label: &str, line: &str) {
        if let Ok(mut current) = self.current.lock() {
            if *current == label {
                return;
            }
            label.clone_into(&mut current);
        }
        match &self.mode {
            Mode::Silent => {}
            Mode::Lines => eprintln!("sea-pack: {line}"),
            Mode::Bar(bar) => bar.set_message(label.to_owned()),
        }
    }

    /// Sets the bytes done.
    pub(crate) fn set(&self, done: u64) {
        if let Mode::Bar(bar) = &self.mode {
            bar.set_position(done);
        }
    }

    /// Ends the job: removes the bar, or prints `sea-pack: done in <seconds> s`.
    pub(crate) fn done(&self) {
        match &self.mode {
            Mode::Silent => {}
            Mode::Lines => eprintln!("sea-pack: done in {:.1} s", self.start.elapsed().as_secs_f64()),
            Mode::Bar(bar) => bar.finish_and_clear(),
        }
    }
}

impl Drop for Stages {
    fn drop(&mut self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}

/// Regular files under `root` and their total size (links not followed; unreadable parts count
/// as nothing: the packer reports them properly when it reaches them).
pub(crate) fn tree_stats(root: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(root) else { return (0, 0) };
    let (mut files, mut bytes) = (0u64, 0u64);
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            let (f, b) = tree_stats(&entry.path());
            files += f;
            bytes = bytes.saturating_add(b);
        } else if kind.is_file() {
            files += 1;
            bytes = bytes.saturating_add(entry.metadata().map_or(0, |m| m.len()));
        }
    }
    (files, bytes)
}
