//! One module per group of commands; each maps its arguments to API calls and prints the
//! answers (raw JSON with `--json`).

pub mod audit;
pub mod auth;
pub mod chat;
pub mod cluster;
pub mod datasets;
pub mod deploy;
pub mod estimate;
pub mod eval;
pub mod human_eval;
pub mod jobs;
pub mod keys;
pub mod models;
pub mod orgs;
pub mod prices;
pub mod projects;
pub mod quotas;
pub mod safety;
pub mod templates;
mod training_args;
pub mod users;
