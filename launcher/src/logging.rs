//! Structured logs on stderr, off unless `<PREFIX>_LOG` asks for them.
//!
//! Set `<PREFIX>_LOG` to `error`, `warn`, `info`, `debug` or `trace`. Nothing is initialised when
//! it is unset, so logging costs nothing on the warm path; `tracing` macros then only check a
//! global level.

use tracing_subscriber::filter::LevelFilter;

/// Starts logging if `level` names a level; returns a warning for a value it does not understand.
pub(crate) fn init(level: Option<&str>, var: &str) -> Option<String> {
    let level = level?;
    let filter = match level.to_ascii_lowercase().as_str() {
        "off" | "0" | "" => return None,
        "error" => LevelFilter::ERROR,
        "warn" => LevelFilter::WARN,
        "info" | "1" => LevelFilter::INFO,
        "debug" => LevelFilter::DEBUG,
        "trace" => LevelFilter::TRACE,
        other => {
            return Some(format!(
                "{var}={other:?} is not a log level (error, warn, info, debug, trace); logging stays off"
            ));
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(filter)
        .with_target(false)
        .with_ansi(false)
        .try_init();
    None
}
