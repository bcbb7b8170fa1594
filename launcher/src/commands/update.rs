//! `--sea-update`: checks the feed, downloads, verifies and installs now ([`crate::update`] does
//! the work), and says what happened.

use crate::app::App;
use crate::commands::error::{LauncherError, code};
use crate::update::{self, Outcome};

/// Exit 0 when installed or already current.
pub(crate) fn run(app: &App) -> Result<i32, LauncherError> {
    let outcome = update::update_now(app)?;
    let name = app.name();
    match outcome {
        Outcome::UpToDate { current, newest_offered } => {
            crate::say::say!("{name} is up to date ({current})");
            if let Some(offered) = newest_offered.filter(|o| *o < current) {
                crate::say::say!("{name}: the feed offers {offered}, older than {current}: refusing to go back");
            }
        }
        Outcome::Installed { version, launcher, download } => {
            crate::say::say!("{name}: {}", download.line(&version));
            crate::say::say!("{name}: installed {version}; it is used from the next start");
            if let Some(l) = launcher {
                crate::say::say!("{name}: the launcher was updated to {l}");
            }
        }
    }
    Ok(code::OK)
}
