//! Executors run the Python runtime (`runtime/`) for a job and turn what it prints into events.
//! They meet the runtime only at `protocol/`: a spec file in, JSON-line events out, the exit
//! code as the final word. The local executor (child processes on this machine) is the default;
//! the Ray executor submits the same command as a Ray job and reads the same lines back from its
//! logs, through the same parser; the Kubernetes executor creates a run's workload through the
//! Kubernetes API and streams its main pod's log through the same parser.

pub mod kubernetes;
pub mod local;
pub mod protocol;
pub mod ray;
pub mod remote;
mod tail;
pub mod text_metrics;

pub use local::{start_program, Exit, Message, Running, RuntimeCommand, StartError};
pub use protocol::{parse_event, Event, EventKind, ImportSource, ImportSpec, ServeAdapter, ServeSpec, SpecInputs, TrainSpec};
pub use text_metrics::{score_text, TextExample, TextMetric, TextScores};

/// A started run of the runtime, on whichever executor: one way to read its messages, stop it
/// and wait for its end.
#[derive(Debug)]
pub enum Execution {
    Local(Running),
    Ray(ray::RayRun),
    Kubernetes(kubernetes::KubeRun),
}

impl Execution {
    pub fn messages(&mut self) -> &mut tokio::sync::mpsc::Receiver<Message> {
        match self {
            Execution::Local(r) => &mut r.messages,
            Execution::Ray(r) => &mut r.messages,
            Execution::Kubernetes(r) => &mut r.messages,
        }
    }

    /// Asks the runtime to stop at the next step boundary (it saves a checkpoint first).
    pub fn terminate(&self) {
        match self {
            Execution::Local(r) => r.terminate(),
            Execution::Ray(r) => r.terminate(),
            Execution::Kubernetes(r) => r.terminate(),
        }
    }

    /// Ends the run at once (on Ray: the stop asked for again; Ray kills the run once the grace
    /// period given at submission is over; on Kubernetes: the run's pods deleted with no grace).
    pub fn kill(&self) {
        match self {
            Execution::Local(r) => r.kill(),
            Execution::Ray(r) => r.terminate(),
            Execution::Kubernetes(r) => r.kill(),
        }
    }

    pub async fn wait(self) -> Exit {
        match self {
            Execution::Local(r) => r.wait().await,
            Execution::Ray(r) => r.wait().await,
            Execution::Kubernetes(r) => r.wait().await,
        }
    }
}
