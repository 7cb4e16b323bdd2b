//! The OpenAI-compatible fine-tuning API, a facade over datasets and training (not a second
//! implementation): `/v1/files` are dataset versions (`files.rs`), `/v1/fine_tuning/jobs` are
//! training jobs once their files validate (`jobs.rs`), `/v1/uploads` are resumable uploads
//! (`uploads.rs`); their fine-tuned models and checkpoints
//! are called by their `ft:` names through the gateway, which deploys them on demand.

pub mod estimate;
pub mod files;
pub mod jobs;
pub mod uploads;

pub use estimate::{FineTuningEstimate, FineTuningFigures};
pub use files::{check_purpose, FileContent, OpenAiFile, FINE_TUNE, RESULTS};
pub use jobs::{FineTuningCheckpoint, FineTuningEvent, FineTuningHyperparameters, FineTuningJob, FineTuningJobError, NewFineTuningJob};
pub use uploads::{OpenAiUpload, OpenAiUploadPart};
