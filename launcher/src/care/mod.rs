//! Looking after the cache: background checks, clean-up, health marks, verification.

pub(crate) mod background;
pub(crate) mod gc;
pub(crate) mod health;
pub(crate) mod verify;
