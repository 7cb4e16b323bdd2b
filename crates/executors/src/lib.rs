//! Executors run the Python runtime (`runtime/`) for a job and turn what it prints into events.
//! They meet the runtime only at `protocol/`: a spec file in, JSON-line events out, the exit
//! code as the final word. The local executor (child processes on this machine) is the default;
//! Ray and Kubernetes executors will deliver the same events through the same parser
//! (`kubernetes` generates the manifests of a run; submitting them is not built yet).

pub mod kubernetes;
pub mod local;
pub mod protocol;
pub mod text_metrics;

pub use local::{start_program, Exit, Message, Running, RuntimeCommand, StartError};
pub use protocol::{parse_event, Event, EventKind, ImportSource, ImportSpec, ServeAdapter, ServeSpec, SpecInputs, TrainSpec};
pub use text_metrics::{score_text, TextExample, TextMetric, TextScores};
