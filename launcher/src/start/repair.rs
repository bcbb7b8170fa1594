//! The one recipe for installing or repairing a tree outside a launch: under the tree's shared
//! usage lock, [`extract::ensure_tree`]. Used by `--sea-verify`'s repair, update installs and
//! delta installs.
//!
//! # Implementation
//! The shared lock is what every launcher running the tree holds, so a clean-up (which needs it
//! exclusive, without waiting) cannot remove the tree while it is being made; one already running
//! is waited for, up to [`CLEANUP_WAIT`]. The launch itself takes that lock once for its whole
//! life (`commands::run`), then calls [`extract::ensure_tree`] directly.

use std::time::Duration;

use crate::start::dirs::Dirs;
use crate::start::extract::{self, ExtractError, ExtractOptions, Extracted, TreeSource};
use crate::start::lock::{self, Mode};
use crate::start::tree::TreePaths;

/// How long an install or repair waits for a clean-up of the same tree to finish.
pub(crate) const CLEANUP_WAIT: Duration = Duration::from_secs(120);

/// Makes `tree` complete from `source` (see [`extract::ensure_tree`]) while holding its shared
/// usage lock.
pub(crate) fn ensure_tree_in_use(
    source: &dyn TreeSource,
    tree: &TreePaths,
    dirs: &Dirs,
    options: &ExtractOptions<'_>,
) -> Result<Extracted, ExtractError> {
    let _usage = lock::acquire(&tree.lock, Mode::Shared, CLEANUP_WAIT, "cleaning up", &mut || {})?;
    extract::ensure_tree(source, tree, dirs, options)
}
