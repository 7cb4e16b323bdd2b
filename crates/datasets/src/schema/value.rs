//! Reading typed fields out of JSON objects, with `missing_field` and `wrong_type` issues that
//! name the field, the expected type and the value found.

use serde_json::{Map, Value};

use super::Issue;
use crate::errors::ErrorCode;

/// "a number: 42" — the JSON type and a short preview of the value.
pub(crate) fn describe(v: &Value) -> String {
    let kind = match v {
        Value::Null => return "null".to_owned(),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    let mut text = serde_json::to_string(v).unwrap_or_default();
    if text.chars().count() > 40 {
        text = text.chars().take(40).collect::<String>() + "…";
    }
    format!("{kind}: {text}")
}

/// A value that carries nothing: null, "", whitespace, [] or {}.
pub(crate) fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A string field. Absent or null: `missing_field` when `required`, else `None` quietly.
pub(crate) fn string_field<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
    required: bool,
    issues: &mut Vec<Issue>,
) -> Option<&'a str> {
    match obj.get(key) {
        Some(Value::String(s)) => Some(s),
        None | Some(Value::Null) => {
            if required {
                issues.push(Issue::new(path, ErrorCode::MissingField, format!("required field `{path}` is missing")));
            }
            None
        }
        Some(other) => {
            issues.push(Issue::new(path, ErrorCode::WrongType, format!("`{path}` must be a string, found {}", describe(other))));
            None
        }
    }
}

/// A required list field.
pub(crate) fn list_field<'a>(obj: &'a Map<String, Value>, key: &str, path: &str, issues: &mut Vec<Issue>) -> Option<&'a [Value]> {
    match obj.get(key) {
        Some(Value::Array(a)) => Some(a),
        None | Some(Value::Null) => {
            issues.push(Issue::new(path, ErrorCode::MissingField, format!("required field `{path}` is missing")));
            None
        }
        Some(other) => {
            issues.push(Issue::new(path, ErrorCode::WrongType, format!("`{path}` must be a list, found {}", describe(other))));
            None
        }
    }
}
