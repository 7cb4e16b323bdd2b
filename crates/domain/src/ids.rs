//! Object ids are opaque strings with a readable prefix (`usr_…`, `org_…`), so that a log line
//! or a support ticket says what kind of object an id names.

/// The kinds of objects that carry ids, with their prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Organization,
    User,
    Project,
    ApiKey,
    Session,
    Invitation,
    AuditEvent,
    Dataset,
    DatasetVersion,
    Upload,
    Operation,
    BaseModel,
    Model,
    Job,
    Checkpoint,
    Deployment,
    TrafficSplit,
    SafetyEvent,
    Evaluation,
    AbTest,
    HumanEval,
    /// A file of the OpenAI-compatible API.
    File,
    /// A fine-tuning job of the OpenAI-compatible API.
    FineTuningJob,
    /// One run of a job on GPUs (or CPU slots).
    JobRun,
    /// One run of an evaluation (a runner holding it).
    EvaluationRun,
    /// A configuration template of fine-tuning jobs.
    JobTemplate,
    /// People's annotation of a dataset version.
    AnnotationTask,
}

impl IdKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::Organization => "org",
            IdKind::User => "usr",
            IdKind::Project => "prj",
            IdKind::ApiKey => "key",
            IdKind::Session => "ses",
            IdKind::Invitation => "inv",
            IdKind::AuditEvent => "aud",
            IdKind::Dataset => "ds",
            IdKind::DatasetVersion => "dsv",
            IdKind::Upload => "upl",
            IdKind::Operation => "op",
            IdKind::BaseModel => "bm",
            IdKind::Model => "mdl",
            IdKind::Job => "job",
            IdKind::Checkpoint => "ckpt",
            IdKind::Deployment => "dep",
            IdKind::TrafficSplit => "ab",
            IdKind::SafetyEvent => "sfe",
            IdKind::Evaluation => "eval",
            IdKind::AbTest => "abt",
            IdKind::HumanEval => "heval",
            IdKind::File => "file",
            IdKind::FineTuningJob => "ftjob",
            IdKind::JobRun => "run",
            IdKind::EvaluationRun => "erun",
            IdKind::JobTemplate => "tmpl",
            IdKind::AnnotationTask => "ann",
        }
    }
}

/// Builds an id from a kind and random bytes (the caller supplies the randomness).
pub fn format_id(kind: IdKind, random: [u8; 12]) -> String {
    format!("{}_{}", kind.prefix(), hex::encode(random))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_24_hex_digits() {
        let id = format_id(IdKind::Project, [0xab; 12]);
        assert_eq!(id, format!("prj_{}", "ab".repeat(12)));
    }
}
