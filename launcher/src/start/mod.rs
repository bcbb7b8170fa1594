//! What a start does before the app runs: inputs, directories, version choice, extraction.

pub(crate) mod dirs;
pub(crate) mod extract;
pub(crate) mod flush;
pub(crate) mod lock;
pub(crate) mod logging;
pub(crate) mod process;
pub(crate) mod repair;
pub(crate) mod select;
pub(crate) mod settings;
pub(crate) mod signer;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) mod startup;
pub(crate) mod state;
pub(crate) mod stub;
pub(crate) mod tree;
pub(crate) mod vars;
