//! Messages to the user on stderr, each written with a single `write(2)`.
//!
//! stderr is unbuffered, so `eprintln!` issues one write per formatted piece, and a message can be
//! cut in the middle by another process writing to the same terminal or pipe (the app, another
//! launcher). Formatting first and writing once keeps every line whole (lines up to `PIPE_BUF`
//! are atomic on pipes).

use std::io::Write;

/// Writes `line` and a newline to stderr in one call; errors are ignored (there is nowhere left
/// to report them).
pub(crate) fn line(line: &str) {
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `eprintln!`, whole-line.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::say::line(&format!($($arg)*))
    };
}

pub(crate) use say;
