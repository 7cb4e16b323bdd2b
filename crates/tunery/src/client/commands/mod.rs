//! One module per group of commands; each maps its arguments to API calls and prints the
//! answers (raw JSON with `--json`).

pub mod audit;
pub mod auth;
pub mod datasets;
pub mod keys;
pub mod orgs;
pub mod projects;
pub mod users;
