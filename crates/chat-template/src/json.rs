//! The `tojson` filter as transformers defines it for chat templates:
//!
//! ```python
//! def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
//!     return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
//! ```
//!
//! so the output is Python's `json.dumps` byte for byte: `", "` and `": "` between items by
//! default (`","` once `indent` is given), non-ASCII characters kept as they are, no HTML
//! escaping (Jinja's own `tojson` and MiniJinja's escape `<`, `>`, `&` and `'`), floats as
//! Python's `repr` writes them (`1.0`, `1e+16`, `NaN`, `Infinity`), keys in insertion order
//! unless `sort_keys`. Arguments may be positional in that order, as in Python.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, ErrorKind, Value};

/// How `json.dumps` is asked to write.
struct Options {
    ensure_ascii: bool,
    indent: Option<String>,
    item_separator: String,
    key_separator: String,
    sort_keys: bool,
}

/// The filter: `value|tojson`, `value|tojson(indent=2)`, `value|tojson(false, 4)`, …
pub(crate) fn tojson(value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let mut positional: Vec<Value> = args.to_vec();
    if positional.len() > 4 {
        return Err(Error::new(ErrorKind::TooManyArguments, "tojson takes at most 4 arguments"));
    }
    let mut named = |index: usize, name: &str| -> Result<Option<Value>, Error> {
        let from_kwargs = if kwargs.has(name) { Some(kwargs.get::<Value>(name)?) } else { None };
        match (positional.get_mut(index).map(std::mem::take), from_kwargs) {
            (Some(_), Some(_)) => Err(Error::new(ErrorKind::InvalidOperation, format!("tojson got multiple values for argument '{name}'"))),
            (Some(value), None) => Ok(Some(value)),
            (None, value) => Ok(value),
        }
    };
    let ensure_ascii = named(0, "ensure_ascii")?.is_some_and(|v| v.is_true());
    let indent = match named(1, "indent")? {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => Some(indent_string(&v)?),
    };
    let (item_separator, key_separator) = match named(2, "separators")? {
        Some(v) if !v.is_none() && !v.is_undefined() => separators(&v)?,
        _ => (if indent.is_some() { "," } else { ", " }.to_string(), ": ".to_string()),
    };
    let sort_keys = named(3, "sort_keys")?.is_some_and(|v| v.is_true());
    kwargs.assert_all_used()?;
    let options = Options { ensure_ascii, indent, item_separator, key_separator, sort_keys };
    let mut out = String::new();
    write_value(&mut out, value, &options, 0)?;
    Ok(Value::from(out))
}

/// Python: an int is that many spaces (a bool counts as 0 or 1), a string is used as it is.
fn indent_string(value: &Value) -> Result<String, Error> {
    match value.kind() {
        ValueKind::String => Ok(value.as_str().unwrap_or_default().to_string()),
        ValueKind::Bool => Ok(if value.is_true() { " ".to_string() } else { String::new() }),
        ValueKind::Number if value.is_integer() => {
            let n = i64::try_from(value.clone())?;
            Ok(" ".repeat(usize::try_from(n.clamp(0, 1024)).unwrap_or(0)))
        }
        _ => Err(Error::new(ErrorKind::InvalidOperation, format!("tojson indent must be an integer or a string, not {}", value.kind()))),
    }
}

/// `separators=(item_separator, key_separator)`.
fn separators(value: &Value) -> Result<(String, String), Error> {
    let parts: Vec<Value> = value.try_iter()?.collect();
    match parts.as_slice() {
        [item, key] if item.kind() == ValueKind::String && key.kind() == ValueKind::String => {
            Ok((item.as_str().unwrap_or_default().to_string(), key.as_str().unwrap_or_default().to_string()))
        }
        _ => Err(Error::new(ErrorKind::InvalidOperation, "tojson separators must be a pair of strings")),
    }
}

fn not_serializable(value: &Value) -> Error {
    let type_name = match value.kind() {
        ValueKind::Undefined => "Undefined".to_string(),
        kind => kind.to_string(),
    };
    Error::new(ErrorKind::InvalidOperation, format!("Object of type {type_name} is not JSON serializable"))
}

fn write_value(out: &mut String, value: &Value, options: &Options, level: usize) -> Result<(), Error> {
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => write_number(out, value)?,
        ValueKind::String => write_string(out, value.as_str().unwrap_or_default(), options.ensure_ascii),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            write_container(out, '[', ']', &items, options, level, |out, item, level| write_value(out, item, options, level))?;
        }
        ValueKind::Map => {
            let mut entries = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                entries.push((key_string(&key)?, item));
            }
            if options.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            write_container(out, '{', '}', &entries, options, level, |out, (key, item), level| {
                write_string(out, key, options.ensure_ascii);
                out.push_str(&options.key_separator);
                write_value(out, item, options, level)
            })?;
        }
        _ => return Err(not_serializable(value)),
    }
    Ok(())
}

/// Python's `_iterencode_list` / `_iterencode_dict`: empty containers stay `[]`/`{}`; with an
/// indent every item goes on its own line, indented one level deeper than the brackets.
fn write_container<T>(
    out: &mut String,
    open: char,
    close: char,
    items: &[T],
    options: &Options,
    level: usize,
    mut write_item: impl FnMut(&mut String, &T, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    out.push(open);
    if items.is_empty() {
        out.push(close);
        return Ok(());
    }
    let inner = level + 1;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&options.item_separator);
        }
        if let Some(indent) = &options.indent {
            out.push('\n');
            out.push_str(&indent.repeat(inner));
        }
        write_item(out, item, inner)?;
    }
    if let Some(indent) = &options.indent {
        out.push('\n');
        out.push_str(&indent.repeat(level));
    }
    out.push(close);
    Ok(())
}

/// Python converts str, int, float, bool and None keys to strings; anything else is an error.
fn key_string(key: &Value) -> Result<String, Error> {
    match key.kind() {
        ValueKind::String => Ok(key.as_str().unwrap_or_default().to_string()),
        ValueKind::None => Ok("null".to_string()),
        ValueKind::Bool => Ok(if key.is_true() { "true" } else { "false" }.to_string()),
        ValueKind::Number => {
            let mut s = String::new();
            write_number(&mut s, key)?;
            Ok(s)
        }
        _ => Err(Error::new(ErrorKind::InvalidOperation, format!("keys must be str, int, float, bool or None, not {}", key.kind()))),
    }
}

fn write_number(out: &mut String, value: &Value) -> Result<(), Error> {
    if value.is_integer() {
        out.push_str(&value.to_string());
    } else {
        out.push_str(&python_float_repr(f64::try_from(value.clone())?));
    }
    Ok(())
}

/// `float.__repr__` as `json.dumps` writes it: the shortest round-tripping digits, fixed
/// notation for decimal exponents from -4 to 15, scientific (`1e+16`, `1.5e-05`) outside.
pub(crate) fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits: `-1.2345e-7`, `1e16`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if (-4..16).contains(&exponent) {
        let point = exponent + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat(point.unsigned_abs() as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{int}.{frac}")
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{first}{fraction}e{exp_sign}{:02}", exponent.unsigned_abs())
    }
}

/// Python's `json` string escaping: `"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other control
/// characters as `\u00XX`; with `ensure_ascii` everything outside `' '..='~'` as `\uXXXX`
/// (lower-case hex, UTF-16 surrogate pairs above U+FFFF).
fn write_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ensure_ascii && !(' '..='~').contains(&c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::python_float_repr;

    #[test]
    fn floats_print_like_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e15, "1000000000000000.0"),
            (-0.0, "-0.0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (6.02e23, "6.02e+23"),
            (2.5e-4, "0.00025"),
            (1e-300, "1e-300"),
        ];
        for (value, expected) in cases {
            assert_eq!(python_float_repr(value), expected, "{value:?}");
        }
    }
}
