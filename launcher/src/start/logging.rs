//! Structured logs on stderr, off unless `<PREFIX>_LOG` asks for them.
//!
//! Set `<PREFIX>_LOG` to `error`, `warn`, `info`, `debug` or `trace`. Each event is one line:
//! `<name>[<pid>] <+ms since start> <LEVEL> <message> key=value …`. Nothing is installed when the
//! variable is unset, so logging costs nothing on the warm path: the `tracing` macros then only
//! check a global flag.
//!
//! This is a minimal `tracing` subscriber rather than `tracing-subscriber`'s formatter: the stub
//! has a size budget, and it needs one format, no spans and no filtering beyond a level.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber, span};

/// Starts logging if `level` names a level; returns a warning for a value it does not understand.
pub(crate) fn init(level: Option<&str>, var: &str, app: &str) -> Option<String> {
    let level = level?;
    let max = match level.to_ascii_lowercase().as_str() {
        "off" | "0" | "" => return None,
        "error" => Level::ERROR,
        "warn" => Level::WARN,
        "info" | "1" => Level::INFO,
        "debug" => Level::DEBUG,
        "trace" => Level::TRACE,
        other => {
            return Some(format!(
                "{var}={other:?} is not a log level (error, warn, info, debug, trace); logging stays off"
            ));
        }
    };
    let logger = StderrLogger { max, prefix: format!("{app}[{}]", std::process::id()), start: Instant::now() };
    let _ = tracing::subscriber::set_global_default(logger);
    None
}

struct StderrLogger {
    max: Level,
    prefix: String,
    start: Instant,
}

/// Collects an event's message and fields into one line.
struct Line(String);

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn new_span(&self, _span: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _span: &span::Id, _values: &span::Record<'_>) {}

    fn record_follows_from(&self, _span: &span::Id, _follows: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let mut line = Line(format!("{} +{ms:.3}ms {}", self.prefix, event.metadata().level()));
        event.record(&mut line);
        line.0.push('\n');
        let _ = std::io::stderr().lock().write_all(line.0.as_bytes());
    }

    fn enter(&self, _span: &span::Id) {}

    fn exit(&self, _span: &span::Id) {}
}
