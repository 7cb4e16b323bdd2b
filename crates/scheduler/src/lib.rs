//! The scheduling policy, pure: no clock, no I/O, no database. The caller (the server's queue,
//! or the simulator) tells it what was submitted, what finished, stopped or checkpointed, and
//! calls [`Scheduler::tick`] with the time; it answers which jobs to start where and which to
//! preempt. The same code runs live and in `sim`, so the simulator's figures are the policy's.
//!
//! - `cluster`: nodes with GPUs of a type, and gang placement of a job's GPUs on them.
//! - `policy`: the queue order (priority class, then weighted fair share), placement, EASY
//!   backfill behind the head's reservation, and preemption with its guards.
//! - `sim`: a virtual clock replaying a trace through a policy; a synthetic trace generator.
//! - `files`: the simulator's trace (JSON Lines) and cluster (JSON) files.

pub mod cluster;
pub mod files;
pub mod policy;
pub mod sim;

pub use cluster::{Allocation, Cluster, Node};
pub use policy::{Config, Decision, History, JobRequest, Limit, PolicyKind, RunningJob, Scheduler, Wait};

/// Milliseconds on the caller's clock (Unix time live, virtual time in the simulator).
pub type Millis = i64;
