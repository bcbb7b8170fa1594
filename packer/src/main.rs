//! sea-pack: the release-pipeline tool of sea.
//!
//! `build` packs an app (a directory or a release archive) behind the `sea-launcher` stub into one
//! executable; `inspect`, `verify` and `extract` read such executables back; `keygen` and
//! `release` make the minisign key and the signed update feed the launcher downloads from.
//!
//! # Structure
//! [`cli`] declares the command line; each subcommand lives in its own module and receives its
//! parsed arguments and stdout; errors travel up as `anyhow` errors with context naming the path
//! and what to do, and this file alone turns them into `sea-pack: <message>` on stderr and exit
//! code 1 (clap's own usage errors exit with 2). Nothing here panics on bad input: every
//! corrupt file is an error value.

mod build;
mod cli;
mod container;
mod duration;
mod extract;
mod input;
mod inspect;
mod interpreter;
mod keygen;
mod output;
mod progress;
mod release;
mod sign;
mod stub;
mod trust;
mod verify;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run(&cli.command, &mut out).and_then(|()| out.flush().map_err(Into::into)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sea-pack: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, outermost first. Many error types already print their
/// source in their own message; a cause whose text is already shown is not repeated.
fn one_line(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || message.contains(text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(text);
    }
    message.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

/// Dispatches to the subcommand.
fn run(command: &Command, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        Command::Build(args) => build::run(args, out),
        Command::Inspect(args) => inspect::run(args, out),
        Command::Verify(args) => verify::run(args, out),
        Command::Extract(args) => extract::run(args, out),
        Command::Keygen(args) => keygen::run(args, out),
        Command::Release(args) => release::run(args, out),
        Command::Trust(args) => trust::run(args, out),
    }
}
