//! `--sea-install <FILE>`: installs a release from a file, without a network
//! ([`crate::update::install`] does the work), and says what happened.

use std::ffi::OsStr;
use std::path::Path;

use crate::app::App;
use crate::commands::error::{LauncherError, code};
use crate::update::UpdateError;
use crate::update::install::{self, Installed};

/// Exit 0 when installed or already installed.
pub(crate) fn run(app: &App, file: Option<&OsStr>) -> Result<i32, LauncherError> {
    let name = app.name();
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return Err(UpdateError::Usage(format!(
            "--sea-install needs a file: `{name} --sea-install <FILE>` (a .sea artifact of a release directory, or a packed executable of {name})"
        ))
        .into());
    };
    let path = Path::new(file);
    match install::install_file(app, path)? {
        Installed::New(version) => {
            crate::say::say!("{name}: installed {version} from {}; it is used from the next start", path.display());
            if !app.settings.auto_update.clone().unwrap_or(true) {
                let var = app.vars.name(crate::start::vars::AUTO_UPDATE);
                crate::say::say!(
                    "{name}: note: {var} is off, which runs the bundled version only; unset it to run {version}"
                );
            }
        }
        Installed::Already(version) => {
            crate::say::say!("{name}: {version} from {} is already installed; nothing to do", path.display());
        }
    }
    Ok(code::OK)
}
