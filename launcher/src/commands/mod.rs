//! The commands: one module per mode `main` dispatches to, each the only place that turns what
//! its domain modules did into messages and an exit status (`error` maps every error).

pub(crate) mod error;
pub(crate) mod gc;
pub(crate) mod info;
pub(crate) mod install;
pub(crate) mod run;
pub(crate) mod update;
pub(crate) mod verify;
