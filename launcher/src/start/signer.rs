//! Who signed a package: its manifest signature checked against the release keys a trust
//! statement names. Used at every cold start (`extract`), by `--sea-verify` and for every update;
//! what is trusted comes from [`crate::update::trust`], which this module does not import.

use sea_payload::Package;
use sea_payload::package::{PackageError, PackageErrorKind};
use sea_payload::signature::SignatureError;
use sea_payload::trust::{TrustError, Trusted};

/// Checks a package's signature over its manifest with the release keys `trusted` names (none:
/// only says whether it is signed); returns the key that signed it.
pub(crate) fn check_package(package: &Package, trusted: Option<&Trusted>) -> Result<Option<String>, PackageError> {
    let Some(trusted) = trusted else {
        package.check_signature(None)?;
        return Ok(None);
    };
    let error = |kind| PackageError { path: package.path().to_owned(), kind: Box::new(kind) };
    let signature = package.signature().ok_or_else(|| error(PackageErrorKind::Unsigned))?;
    trusted.verify_release(package.manifest_bytes(), signature).map(Some).map_err(|e| {
        error(PackageErrorKind::Signature(match e {
            TrustError::Signature(e) => e,
            _ => SignatureError::OtherKey,
        }))
    })
}
