//! End-to-end tests: one test binary (as in ripgrep and rustup), one module per area.
//!
//! Every test builds real packed executables in its own [`sea_tests::Sandbox`] and runs them as
//! processes; tests run in parallel and clean up after themselves.

mod cachepath;
mod deltas;
mod faults;
mod freshness;
mod gc;
mod gitenv;
mod hostile;
mod index;
mod inplace;
mod launch;
mod netpath;
mod nodecli;
mod pack;
mod release;
mod restart;
mod signing;
mod supervise;
mod trust;
mod trust_client;
mod update;
