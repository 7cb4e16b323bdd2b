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
