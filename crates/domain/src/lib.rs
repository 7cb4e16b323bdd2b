//! Tunery's vocabulary: roles and permissions, validated input values, visibility rules,
//! the audit hash chain, the token bucket, the base-model catalog, training estimates and the
//! training job's configuration and state machine.
//!
//! This crate does no I/O and depends on no async runtime, database or web crate
//! (checked by `tests/dependency_fence.rs`). Everything here is a pure function of its inputs;
//! time and randomness are passed in.

pub mod audit;
pub mod auto;
pub mod calendar;
pub mod catalog;
pub mod estimate;
pub mod estimate_check;
pub mod ids;
pub mod model_spec;
pub mod permissions;
pub mod rate_limit;
pub mod resources;
pub mod schema;
pub mod stats;
pub mod suggestions;
pub mod training;
pub mod validate;
pub mod visibility;

pub use permissions::{Permission, Role};
pub use validate::ValidationError;
pub use visibility::Visibility;
