//! The commands: one module per mode `main` dispatches to.

pub(crate) mod error;
pub(crate) mod info;
pub(crate) mod run;
