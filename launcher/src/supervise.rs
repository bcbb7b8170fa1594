//! SHIM — replaced by the supervision branch. Spawns and waits, no signal relay.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::signals::{self, SignalRelay};

#[derive(Debug)]
pub(crate) struct Spawn {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: BTreeMap<OsString, OsString>,
    pub(crate) cwd: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
}

#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) exit: Exit,
    pub(crate) ran_for: Duration,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SuperviseError {
    #[error("cannot run {}: {source}", path.display())]
    Spawn { path: PathBuf, source: std::io::Error },
}

impl SuperviseError {
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, SuperviseError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

pub(crate) fn run(
    spawn: &Spawn,
    _relay: &SignalRelay,
    on_spawned: &mut dyn FnMut(),
) -> Result<Outcome, SuperviseError> {
    use std::os::unix::process::ExitStatusExt;
    let mut cmd = std::process::Command::new(&spawn.program);
    cmd.args(&spawn.args).env_clear().envs(&spawn.env);
    if let Some(cwd) = &spawn.cwd {
        cmd.current_dir(cwd);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|source| SuperviseError::Spawn { path: spawn.program.clone(), source })?;
    on_spawned();
    let status = child.wait().map_err(|source| SuperviseError::Spawn { path: spawn.program.clone(), source })?;
    let exit = match (status.code(), status.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(s)) => Exit::Signal(s),
        _ => Exit::Code(1),
    };
    Ok(Outcome { exit, ran_for: start.elapsed() })
}

pub(crate) fn mirror(exit: Exit) -> ! {
    match exit {
        Exit::Code(c) => std::process::exit(c),
        Exit::Signal(s) => signals::die_of(s),
    }
}
