//! The committed OpenAPI document matches the code; run `tunery openapi` after changing the API.

use std::process::Command;

#[test]
fn committed_openapi_document_is_current() {
    let out = Command::new(env!("CARGO_BIN_EXE_tunery")).args(["openapi", "--output", "-"]).output().expect("tunery runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let generated = String::from_utf8(out.stdout).expect("utf-8");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(generated == committed, "docs/openapi.json is stale: run `tunery openapi` (cargo run -p tunery -- openapi) and commit it");
    let doc: serde_json::Value = serde_json::from_str(&generated).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/me"]["get"].is_object());
}

/// Generated clients (the web UI's types among them) name operations by their ids.
#[test]
fn every_operation_id_is_unique() {
    let doc = http_api::openapi();
    let mut seen = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if let Some(id) = op["operationId"].as_str() {
                if let Some(earlier) = seen.insert(id.to_string(), format!("{method} {path}")) {
                    panic!("operationId {id} names both {earlier} and {method} {path}");
                }
            }
        }
    }
    assert!(seen.len() > 100, "{} operations", seen.len());
}
