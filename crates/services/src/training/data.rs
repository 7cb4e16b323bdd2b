//! The training data of a job: a dataset version's valid records written as the runtime's
//! canonical JSONL (`protocol/README.md`), keeping only the records the objective trains on.

use crate::datasets::internal;
use crate::{Result, Services};
use database::datasets::VersionRow;
use datasets::Record;
use domain::training::Objective;
use std::io::Write;
use std::path::Path;

/// How many records went in and how many were skipped as the wrong kind.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Written {
    pub records: u64,
    pub skipped: u64,
}

fn canonical_line(objective: Objective, record: &Record) -> Option<String> {
    let line = match (objective, record) {
        (Objective::Sft, Record::Chat { messages }) => serde_json::json!({ "messages": messages }),
        (Objective::Cpt, Record::Text { text }) => serde_json::json!({ "text": text }),
        (Objective::Dpo, Record::Preference { prompt, chosen, rejected }) => {
            serde_json::json!({ "prompt": prompt, "chosen": chosen, "rejected": rejected })
        }
        _ => return None,
    };
    Some(line.to_string())
}

impl Services {
    /// Writes a version's records for `objective` to `path` (blocking work on a blocking thread).
    pub(crate) async fn write_training_data(&self, version: &VersionRow, objective: Objective, path: &Path) -> Result<Written> {
        let (blobs, version, path) = (self.blobs_handle(), version.clone(), path.to_path_buf());
        tokio::task::spawn_blocking(move || -> Result<Written> {
            let tmp = path.with_extension("partial");
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(internal)?);
            let mut written = Written::default();
            let mut error = None;
            crate::datasets::scan_version(&blobs, &version, |_, _, record| {
                if error.is_some() {
                    return;
                }
                match canonical_line(objective, record) {
                    Some(line) => {
                        if let Err(e) = writeln!(out, "{line}") {
                            error = Some(e);
                        }
                        written.records += 1;
                    }
                    None => written.skipped += 1,
                }
            })?;
            if let Some(e) = error {
                return Err(internal(e));
            }
            out.flush().map_err(internal)?;
            drop(out);
            std::fs::rename(&tmp, &path).map_err(internal)?;
            Ok(written)
        })
        .await
        .map_err(internal)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datasets::{Message, Role};

    #[test]
    fn records_become_the_runtime_canonical_lines_for_their_objective() {
        let mut assistant = Message::new(Role::Assistant, "hi");
        assistant.weight = Some(0);
        let chat = Record::Chat { messages: vec![Message::new(Role::User, "hello"), assistant] };
        let line: serde_json::Value = serde_json::from_str(&canonical_line(Objective::Sft, &chat).unwrap()).unwrap();
        assert_eq!(
            line,
            serde_json::json!({"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi", "weight": 0}]})
        );
        assert!(canonical_line(Objective::Cpt, &chat).is_none());
        let text = Record::Text { text: "raw".into() };
        assert_eq!(canonical_line(Objective::Cpt, &text).unwrap(), r#"{"text":"raw"}"#);
        let pair = Record::Preference {
            prompt: vec![Message::new(Role::User, "q")],
            chosen: vec![Message::new(Role::Assistant, "good")],
            rejected: vec![Message::new(Role::Assistant, "bad")],
        };
        let line: serde_json::Value = serde_json::from_str(&canonical_line(Objective::Dpo, &pair).unwrap()).unwrap();
        assert_eq!(line["chosen"][0]["content"], "good");
        assert_eq!(line["prompt"][0]["role"], "user");
    }
}
