//! The last touches on the generated OpenAPI document, where the schema derive says less than
//! the server does:
//!
//! - Every request body of the API refuses fields it does not know (`deny_unknown_fields` on
//!   every request type, multipart forms included); the document says so: each object schema
//!   with named properties reachable from a request body gets `additionalProperties: false`
//!   unless it states its own (a map's value schema). Variants of a tagged enum and multipart
//!   forms are such objects, which the derive leaves open.
//!   The gateway's requests are the exception (`OPEN_REQUEST_SCHEMAS`): it forwards fields it
//!   does not know to the backend, which judges them, so those schemas say
//!   `additionalProperties: true`.
//! - Unsigned integers are spelled `uint32` and `uint64` (the derive writes `u-int32`), with
//!   their largest value as `maximum` where no smaller one is stated: the signed
//!   `int32`/`int64` would promise a smaller range than the server takes, and no bound at all a
//!   larger one.

use serde_json::Value;
use std::collections::BTreeSet;

/// The document as served and committed.
pub fn finish(doc: utoipa::openapi::OpenApi) -> Value {
    let mut v = serde_json::to_value(&doc).expect("the OpenAPI document serializes");
    spell_unsigned_formats(&mut v);
    close_request_schemas(&mut v);
    v
}

fn spell_unsigned_formats(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(format)) = map.get_mut("format") {
                if let Some(bits) = format.strip_prefix("u-int") {
                    let largest = match bits {
                        "8" => Value::from(u8::MAX),
                        "16" => Value::from(u16::MAX),
                        "32" => Value::from(u32::MAX),
                        _ => Value::from(u64::MAX),
                    };
                    *format = format!("uint{bits}");
                    map.entry("maximum").or_insert(largest);
                }
            }
            map.values_mut().for_each(spell_unsigned_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(spell_unsigned_formats),
        _ => {}
    }
}

/// Request schemas that take fields beyond their properties: the gateway forwards them to the
/// backend (OpenAI's API has many; each backend supports its own).
const OPEN_REQUEST_SCHEMAS: [&str; 3] = ["ChatCompletionRequest", "CompletionRequest", "ChatMessage"];

/// Closes every object schema reachable from a request body (but the open ones).
fn close_request_schemas(v: &mut Value) {
    for name in OPEN_REQUEST_SCHEMAS {
        if let Some(Value::Object(schema)) = v.pointer_mut(&format!("/components/schemas/{name}")) {
            schema.insert("additionalProperties".into(), Value::Bool(true));
        }
    }
    let mut names = BTreeSet::new();
    let mut pending: Vec<Value> = Vec::new();
    if let Some(paths) = v["paths"].as_object() {
        for item in paths.values() {
            for op in item.as_object().into_iter().flat_map(|o| o.values()) {
                for media in op["requestBody"]["content"].as_object().into_iter().flat_map(|c| c.values()) {
                    pending.push(media["schema"].clone());
                }
            }
        }
    }
    // The component names reachable from request bodies.
    while let Some(schema) = pending.pop() {
        collect_refs(&schema, &mut |name| {
            if names.insert(name.to_string()) {
                pending.push(v["components"]["schemas"][name].clone());
            }
        });
    }
    for name in &names {
        if let Some(schema) = v.pointer_mut(&format!("/components/schemas/{name}")) {
            close(schema);
        }
    }
    if let Some(paths) = v["paths"].as_object_mut() {
        for item in paths.values_mut() {
            for op in item.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
                let content = op.get_mut("requestBody").and_then(|b| b.get_mut("content")).and_then(Value::as_object_mut);
                for media in content.into_iter().flat_map(|c| c.values_mut()) {
                    if let Some(schema) = media.get_mut("schema") {
                        close(schema);
                    }
                }
            }
        }
    }
}

fn collect_refs(schema: &Value, found: &mut impl FnMut(&str)) {
    match schema {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                if let Some(name) = r.strip_prefix("#/components/schemas/") {
                    found(name);
                }
            }
            map.values().for_each(|v| collect_refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, found)),
        _ => {}
    }
}

/// Sets `additionalProperties: false` on this schema and every inline schema in it that names
/// properties and says nothing of others.
fn close(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(close);
        }
        Value::Array(items) => items.iter_mut().for_each(close),
        _ => {}
    }
}
