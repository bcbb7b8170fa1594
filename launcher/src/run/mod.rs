//! Running the app: spawning, signals, supervision, restarts; or in place of the launcher (`exec`).

pub(crate) mod exec;
pub(crate) mod gitenv;
pub(crate) mod relaunch;
pub(crate) mod restart;
pub(crate) mod signals;
pub(crate) mod spawn;
pub(crate) mod supervise;
