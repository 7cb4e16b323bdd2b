//! The MiniJinja environment set up the way transformers sets up Jinja2 for chat templates
//! (`transformers.utils.chat_template_utils._compile_jinja_template`):
//!
//! ```python
//! jinja_env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
//!                                           extensions=[AssistantTracker, jinja2.ext.loopcontrols])
//! jinja_env.filters["tojson"] = tojson            # json.dumps(ensure_ascii=False, …)
//! jinja_env.globals["raise_exception"] = raise_exception
//! jinja_env.globals["strftime_now"] = strftime_now
//! ```
//!
//! plus what Jinja2 does by itself that MiniJinja needs to be told: Python's string and dict
//! methods (`.strip()`, `.split()`, `.items()`, … via `minijinja_contrib::pycompat`), no
//! autoescaping, values printed as Python prints them (`None`, `True`, `1.0`, `['a']`; also
//! for `|string`), and `\r\n`/`\r` in the source read as `\n`.
//! `AssistantTracker`'s `{% generation %}…{% endgeneration %}` block renders its body
//! unchanged; [`rewrite_generation_tags`] turns it into an always-true `if` block, which has the
//! same whitespace behaviour (both are block tags under `trim_blocks`/`lstrip_blocks`).

use std::borrow::Cow;
use std::fmt;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::ValueKind;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, Value};

use crate::json::{self, python_float_repr};
use crate::strftime::{strftime, DateTime};

/// The name the template is stored under; errors mention it.
pub(crate) const TEMPLATE_NAME: &str = "chat_template";

/// Work one render may do, in MiniJinja fuel units (about one per instruction, one per 64 bytes
/// of data created). Real chat templates use tens to a few hundred per message, so this allows
/// conversations of tens of thousands of messages or megabytes of text, and stops a template
/// that loops or builds strings without end within a fraction of a second (optimised build).
pub(crate) const FUEL: u64 = 10_000_000;

/// The error `raise_exception(message)` raises; found again in the error chain after rendering.
#[derive(Debug)]
pub(crate) struct Raised(pub String);

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

pub(crate) fn environment(source: &str) -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).keep_trailing_newline(false).build()?;
    env.set_syntax(syntax);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(FUEL));
    env.set_unknown_method_callback(|state, value, method, args| match (value.kind(), method, args) {
        (ValueKind::String, "title", []) => Ok(Value::from(python_title(value.as_str().unwrap_or_default()))),
        _ => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args),
    });
    env.set_formatter(|out, _state, value| {
        out.write_str(&python_str(value)).map_err(|_| Error::new(ErrorKind::WriteFailure, "cannot write output"))
    });
    env.add_filter("tojson", json::tojson);
    env.add_filter("string", |value: &Value| Value::from(python_str(value)));
    env.add_filter("title", |value: &Value| Value::from(jinja_title(&python_str(value))));
    env.add_function("raise_exception", |message: Value| -> Result<Value, Error> {
        let message = python_str(&message);
        Err(Error::new(ErrorKind::InvalidOperation, message.clone()).with_source(Raised(message)))
    });
    env.add_function("strftime_now", |format: &str| strftime(format, &DateTime::now_utc()));
    // Jinja2 turns `\r\n` and `\r` into `\n` in template text and string literals.
    let source = source.replace("\r\n", "\n").replace('\r', "\n");
    env.add_template_owned(TEMPLATE_NAME, rewrite_generation_tags(&source).into_owned())?;
    Ok(env)
}

/// `{% generation %}` → `{% if true %}`, `{% endgeneration %}` → `{% endif %}`, keeping the
/// whitespace-control marks (`{%-`, `-%}`, `+`).
pub(crate) fn rewrite_generation_tags(source: &str) -> Cow<'_, str> {
    if !source.contains("generation") {
        return Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(open) = rest.find("{%") {
        out.push_str(&rest[..open]);
        let tag = &rest[open..];
        match parse_generation_tag(tag) {
            Some((len, opening, left, right)) => {
                let body = if opening { "if true" } else { "endif" };
                out.push_str(&format!("{{%{left} {body} {right}%}}"));
                rest = &tag[len..];
            }
            None => {
                out.push_str("{%");
                rest = &tag[2..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// For `{%[-+]? (end)?generation [-+]?%}` at the start of `tag`: its length, whether it opens,
/// and the two whitespace marks.
fn parse_generation_tag(tag: &str) -> Option<(usize, bool, &str, &str)> {
    let after_open = &tag[2..];
    let left = if after_open.starts_with(['-', '+']) { &after_open[..1] } else { "" };
    let inner = after_open[left.len()..].trim_start();
    let (opening, after_name) = if let Some(rest) = inner.strip_prefix("endgeneration") {
        (false, rest)
    } else if let Some(rest) = inner.strip_prefix("generation") {
        (true, rest)
    } else {
        return None;
    };
    let trimmed = after_name.trim_start();
    if trimmed.len() == after_name.len() && !after_name.starts_with(['-', '+', '%']) {
        return None; // `generationx`: some other name
    }
    let right = if trimmed.starts_with(['-', '+']) { &trimmed[..1] } else { "" };
    let close = trimmed[right.len()..].strip_prefix("%}")?;
    Some((tag.len() - close.len(), opening, left, right))
}

/// Python's `str.title()`: a cased character is upper-cased when the character before it is
/// not cased (a letter with case), lower-cased otherwise: `"it's"` → `"It'S"`.
fn python_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut previous_is_cased = false;
    for c in s.chars() {
        if previous_is_cased {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        previous_is_cased = c.is_lowercase() || c.is_uppercase();
    }
    out
}

/// Jinja2's `|title` filter: words begin after `-`, whitespace, `(`, `{`, `[` or `<`; each
/// word's first character is upper-cased and the rest lower-cased: `"it's"` → `"It's"`.
fn jinja_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut word_start = true;
    for c in s.chars() {
        if c.is_whitespace() || matches!(c, '-' | '(' | '{' | '[' | '<') {
            out.push(c);
            word_start = true;
        } else if word_start {
            out.extend(c.to_uppercase());
            word_start = false;
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Python's `str(value)`, which Jinja2 uses to print `{{ value }}` and for `|string`.
pub(crate) fn python_str(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::String => value.as_str().unwrap_or_default().to_string(),
        _ => python_repr(value),
    }
}

/// Python's `repr(value)` for the types chat templates handle.
fn python_repr(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::None => "None".to_string(),
        ValueKind::Bool => if value.is_true() { "True" } else { "False" }.to_string(),
        ValueKind::Number if value.is_integer() => value.to_string(),
        ValueKind::Number => match f64::try_from(value.clone()) {
            Ok(f) if f.is_nan() => "nan".to_string(),
            Ok(f) if f.is_infinite() => if f > 0.0 { "inf" } else { "-inf" }.to_string(),
            Ok(f) => python_float_repr(f),
            Err(_) => value.to_string(),
        },
        ValueKind::String => python_string_repr(value.as_str().unwrap_or_default()),
        ValueKind::Seq => match value.try_iter() {
            Ok(items) => format!("[{}]", items.map(|item| python_repr(&item)).collect::<Vec<_>>().join(", ")),
            Err(_) => value.to_string(),
        },
        ValueKind::Map => match value.try_iter() {
            Ok(keys) => {
                let entries: Vec<String> = keys
                    .map(|key| {
                        let item = value.get_item(&key).unwrap_or_default();
                        format!("{}: {}", python_repr(&key), python_repr(&item))
                    })
                    .collect();
                format!("{{{}}}", entries.join(", "))
            }
            Err(_) => value.to_string(),
        },
        _ => value.to_string(),
    }
}

/// `repr(str)`: single quotes unless the text has a single quote and no double quote;
/// backslash escapes for the quote, `\\`, `\t`, `\n`, `\r` and other control characters.
fn python_string_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::rewrite_generation_tags;

    #[test]
    fn generation_tags_become_if_blocks() {
        assert_eq!(
            rewrite_generation_tags("a{% generation %}b{%- endgeneration -%}c{%+generation+%}{% generations %}{%endgeneration%}"),
            "a{% if true %}b{%- endif -%}c{%+ if true +%}{% generations %}{% endif %}"
        );
        assert_eq!(rewrite_generation_tags("{% if x %}{{ 'generation' }}{% endif %}"), "{% if x %}{{ 'generation' }}{% endif %}");
    }
}
