//! The golden fixtures of `protocol/` (shared with the runtime's Python tests): every valid spec
//! reads into the Rust spec type and writes back the same values; every event line of every
//! stream parses, with the fields the executor relies on.

use executors::protocol::{parse_event, EventKind, TrainSpec};
use std::path::PathBuf;

fn protocol_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../protocol")
}

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(protocol_dir().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixtures in protocol/{dir}");
    out
}

#[test]
fn every_valid_spec_fixture_reads_and_round_trips() {
    for path in files("spec", "json") {
        let text = std::fs::read_to_string(&path).unwrap();
        let spec: TrainSpec = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(spec.spec_version, 1);
        let again: TrainSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(again, spec, "{}", path.display());
    }
}

#[test]
fn structurally_invalid_spec_fixtures_are_refused_by_the_rust_type_too() {
    // Unknown keys and wrong types are the type's business; ranges are the runtime's.
    for name in [
        "unknown-top-level-key.json",
        "unknown-training-key.json",
        "unknown-lora-key.json",
        "unknown-method-kind.json",
        "unknown-objective.json",
        "missing-model.json",
        "not-an-object.json",
        "micro-batch-fractional.json",
        "gradient-checkpointing-string.json",
    ] {
        let text = std::fs::read_to_string(protocol_dir().join("spec-invalid").join(name)).unwrap();
        assert!(serde_json::from_str::<TrainSpec>(&text).is_err(), "{name} was accepted");
    }
}

#[test]
fn every_event_fixture_line_parses_with_its_fields() {
    let mut seen = std::collections::BTreeSet::new();
    for path in files("events", "jsonl") {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut last = None;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let event = parse_event(line).unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1));
            assert_eq!(event.raw["event"], event.kind.name());
            assert!(event.time > 1_700_000_000_000, "time is Unix milliseconds");
            seen.insert(event.kind.name());
            last = Some(event.kind);
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        match last.expect("a stream has events") {
            EventKind::Finished { .. } => assert!(name == "completed" || name == "import-model", "{name}"),
            // A training run stops with its checkpoint; a serving runtime has none to save.
            EventKind::Stopped { checkpoint, .. } => assert_eq!(checkpoint.is_some(), !name.starts_with("serve-"), "{name}"),
            EventKind::Failed { code, .. } => assert!(!code.is_empty()),
            other => panic!("{name} ends with {other:?}"),
        }
    }
    for kind in ["started", "progress", "eval", "system", "checkpoint", "artifact", "log", "ready", "finished", "stopped", "failed"] {
        assert!(seen.contains(kind), "no fixture has a {kind} event");
    }
}

#[test]
fn malformed_lines_say_what_is_wrong() {
    assert!(parse_event("not json").is_err());
    assert_eq!(parse_event(r#"{"time": 1}"#).unwrap_err().to_string(), "event has no \"event\" field");
    assert!(parse_event(r#"{"event": "progress", "time": 1}"#).unwrap_err().to_string().contains("\"step\""));
    assert!(parse_event(r#"{"event": "teleport", "time": 1}"#).unwrap_err().to_string().contains("teleport"));
}
