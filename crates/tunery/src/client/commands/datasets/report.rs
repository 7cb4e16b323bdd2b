//! Readable forms of a version's report: statistics, the located errors, and previews.

use super::error_counts;
use crate::client::output::{print_kv, s, Table};
use serde_json::Value;

/// Characters of one message shown in a preview before it is cut.
const PREVIEW_CHARS: usize = 1000;

/// `stats` (`{summary, stats}`) as a key-value block.
pub fn print_stats(answer: &Value) {
    let none = Value::Null;
    let summary = answer.get("summary").unwrap_or(&none);
    let stats = answer.get("stats").unwrap_or(&none);
    println!("Dataset {}, version {}", s(answer, "dataset_id"), s(answer, "version"));
    let n = |k: &str| summary.get(k).and_then(Value::as_u64).unwrap_or(0);
    let records = format!("{} ({} valid, {} invalid)", n("records"), n("valid_records"), n("invalid_records"));
    let mut rows: Vec<(&str, String)> = vec![("records", records), ("errors", errors_line(summary))];
    if let Some(e) = summary.get("file_error").filter(|e| !e.is_null()) {
        rows.push(("file error", file_error(e)));
    }
    rows.push(("kinds", counts(stats.get("kinds"), &["chat", "preference", "text"])));
    rows.push(("turns", distribution(stats.get("turns"))));
    rows.push(("characters", distribution(stats.get("chars"))));
    if let Some(tokens) = stats.get("tokens").filter(|t| !t.is_null()) {
        rows.push(("tokens", token_line(tokens)));
        let counted_by =
            answer.get("tokenizer").and_then(Value::as_str).map_or("the server's tokenizer".into(), |bm| format!("base model {bm}"));
        rows.push(("counted by", counted_by));
    }
    rows.push(("languages", counts(stats.get("languages"), &["en", "zh", "other", "none"])));
    rows.push(("duplicates", stats.get("duplicates").and_then(Value::as_u64).map_or("not counted".into(), |d| d.to_string())));
    rows.push(("roles", counts(stats.get("roles"), &["system", "user", "assistant"])));
    if let Some(fields) = stats.get("fields").and_then(Value::as_object).filter(|f| !f.is_empty()) {
        let list: Vec<String> = fields
            .iter()
            .map(|(name, c)| {
                let n = |k: &str| c.get(k).and_then(Value::as_u64).unwrap_or(0);
                format!("{name} {} ({} empty, {} missing)", n("present"), n("empty"), n("missing"))
            })
            .collect();
        rows.push(("fields", list.join("; ")));
    }
    print_kv(&rows);
    println!("(the statistics describe the valid records; see each error with `tunery datasets validate`)");
}

/// `validate`: the counts, then one row per error saying where and what.
pub fn print_validation(answer: &Value, id: &str, version: i64, offset: u64) {
    let none = Value::Null;
    let summary = answer.get("summary").unwrap_or(&none);
    println!("Dataset {id}, version {version}: {}", records_line(summary));
    if let Some(e) = summary.get("file_error").filter(|e| !e.is_null()) {
        println!("File error: {}", file_error(e));
    }
    let errors = answer.get("errors").and_then(Value::as_array).cloned().unwrap_or_default();
    if errors.is_empty() {
        if offset == 0 {
            println!("No record errors.");
        } else {
            println!("No errors after the first {offset}.");
        }
        return;
    }
    println!("Errors: {}", errors_line(summary));
    println!();
    let mut t = Table::new(&["LINE", "RECORD", "FIELD", "CODE", "MESSAGE"]);
    for e in &errors {
        t.row(vec![location(e), s(e, "index"), s(e, "field"), s(e, "code"), s(e, "message")]);
    }
    t.print();
    if answer.get("has_more").and_then(Value::as_bool).unwrap_or(false) {
        eprintln!("(more errors: add --offset {})", offset + errors.len() as u64);
    }
}

/// `preview`: each record with its location, its canonical messages and its errors.
pub fn print_preview(answer: &Value) {
    let records = answer.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
    if records.is_empty() {
        println!("No records there (the offset is past the end).");
        return;
    }
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let errors = r.get("errors").and_then(Value::as_array).cloned().unwrap_or_default();
        let verdict = if errors.is_empty() { "valid".to_string() } else { format!("{} error(s)", errors.len()) };
        println!("Record {} (line {}): {verdict}", s(r, "index"), s(r, "line"));
        match r.get("record").filter(|x| !x.is_null()) {
            Some(record) => print_record(record),
            None => {
                let mut raw = cut(r.get("raw").and_then(Value::as_str).unwrap_or(""));
                if r.get("raw_truncated").and_then(Value::as_bool).unwrap_or(false) && !raw.ends_with('…') {
                    raw.push('…');
                }
                print_text("raw", &raw);
            }
        }
        for e in &errors {
            let field = e.get("field").and_then(Value::as_str).map(|f| format!(" {f}")).unwrap_or_default();
            println!("  ! line {}{field}: {} ({})", location(e), s(e, "message"), s(e, "code"));
        }
        if let Some(rendered) = r.get("rendered").filter(|x| !x.is_null()) {
            println!("  as the model sees it (trained text between ⟦ and ⟧):");
            println!("{}", mark_trained(rendered));
        }
        if let Some(e) = r.get("render_error").and_then(Value::as_str) {
            println!("  ! the chat template refused this record: {e}");
        }
    }
}

/// The rendered text with the trained spans wrapped in ⟦…⟧.
fn mark_trained(rendered: &Value) -> String {
    let text = rendered.get("text").and_then(Value::as_str).unwrap_or("");
    let mut spans: Vec<(usize, usize)> = rendered
        .get("spans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|sp| sp.get("trained").and_then(Value::as_bool) == Some(true))
        .filter_map(|sp| Some((sp.get("start")?.as_u64()? as usize, sp.get("end")?.as_u64()? as usize)))
        .filter(|(a, b)| a <= b && *b <= text.len() && text.is_char_boundary(*a) && text.is_char_boundary(*b))
        .collect();
    spans.sort();
    let (mut out, mut at) = (String::new(), 0);
    for (a, b) in spans {
        if a < at {
            continue;
        }
        out.push_str(&text[at..a]);
        out.push('⟦');
        out.push_str(&text[a..b]);
        out.push('⟧');
        at = b;
    }
    out.push_str(&text[at..]);
    out
}

fn print_record(record: &Value) {
    let messages = |key: &str| record.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    match record.get("type").and_then(Value::as_str) {
        Some("chat") => print_messages("", &messages("messages")),
        Some("preference") => {
            print_messages("prompt ", &messages("prompt"));
            print_messages("chosen ", &messages("chosen"));
            print_messages("rejected ", &messages("rejected"));
        }
        Some("text") => print_text("text", &cut(record.get("text").and_then(Value::as_str).unwrap_or(""))),
        _ => print_text("record", &record.to_string()),
    }
}

fn print_messages(prefix: &str, messages: &[Value]) {
    for m in messages {
        let mut role = format!("{prefix}{}", s(m, "role"));
        if m.get("weight").and_then(Value::as_u64) == Some(0) {
            role.push_str(" (weight 0)");
        }
        print_text(&role, &cut(m.get("content").and_then(Value::as_str).unwrap_or("")));
    }
}

/// `  role: text`, continuation lines indented under the text.
fn print_text(label: &str, text: &str) {
    let indent = " ".repeat(label.chars().count() + 4);
    let mut lines = text.lines();
    println!("  {label}: {}", lines.next().unwrap_or(""));
    for line in lines {
        println!("{indent}{line}");
    }
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(PREVIEW_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// `12`, `12:7` (with a column) or `12 (row 11)` (CSV).
fn location(e: &Value) -> String {
    let mut out = s(e, "line");
    if let Some(c) = e.get("column").and_then(Value::as_u64) {
        out.push_str(&format!(":{c}"));
    }
    if let Some(r) = e.get("row").and_then(Value::as_u64) {
        out.push_str(&format!(" (row {r})"));
    }
    out
}

/// `300 records: 298 valid, 2 invalid`
fn records_line(summary: &Value) -> String {
    let n = |k: &str| summary.get(k).and_then(Value::as_u64).unwrap_or(0);
    format!("{} records: {} valid, {} invalid", n("records"), n("valid_records"), n("invalid_records"))
}

fn errors_line(summary: &Value) -> String {
    let mut line = error_counts(summary.get("error_counts"));
    if summary.get("errors_truncated").and_then(Value::as_bool).unwrap_or(false) {
        line.push_str(" (more errors than the report keeps: only the first are listed)");
    }
    line
}

fn file_error(e: &Value) -> String {
    let line = e.get("line").and_then(Value::as_u64).map(|l| format!(" at line {l}")).unwrap_or_default();
    format!("{}{line} ({})", s(e, "message"), s(e, "code"))
}

/// `chat 298, preference 0` in the order given, skipping zeros unless all are zero.
fn counts(v: Option<&Value>, keys: &[&str]) -> String {
    let Some(v) = v else { return "-".into() };
    let pairs: Vec<String> =
        keys.iter().filter_map(|k| v.get(*k).and_then(Value::as_u64).filter(|n| *n > 0).map(|n| format!("{k} {n}"))).collect();
    if pairs.is_empty() {
        "none".into()
    } else {
        pairs.join(", ")
    }
}

/// `p50 2, p95 4, max 6, mean 2.3` or `-` when nothing was counted.
fn distribution(d: Option<&Value>) -> String {
    let Some(d) = d.filter(|d| d.get("count").and_then(Value::as_u64).unwrap_or(0) > 0) else { return "-".into() };
    let mean = d.get("mean").and_then(Value::as_f64).map(|m| format!(", mean {m:.1}")).unwrap_or_default();
    format!("p50 {}, p95 {}, max {}{mean}", s(d, "p50"), s(d, "p95"), s(d, "max"))
}

fn token_line(t: &Value) -> String {
    let mut line = format!("total {}; per record {}", s(t, "total"), distribution(t.get("per_record")));
    if let Some(max) = t.get("max_tokens").and_then(Value::as_u64) {
        let share = t.get("over_max_tokens_share").and_then(Value::as_f64).unwrap_or(0.0) * 100.0;
        line.push_str(&format!("; over {max}: {} ({share:.1}%)", s(t, "over_max_tokens")));
    }
    line
}

/// The outcome of a preprocess run: the new version(s) and what each step did.
pub fn print_preprocess(done: &Value, v: &Value, from: i64) {
    println!(
        "Version {} made from version {from}: {} records ({} kept of {} read)",
        s(v, "version"),
        s(v, "records"),
        s(&done["report"], "records_out"),
        s(&done["report"], "records_in")
    );
    if let Some(val) = done.get("validation_dataset_id").and_then(Value::as_str) {
        println!("Validation split: dataset {val} with {} records", s(&done["report"], "validation_out"));
    }
    let mut t = Table::new(&["STEP", "IN", "KEPT", "DROPPED", "MODIFIED", "DETAILS"]);
    for step in done["report"]["steps"].as_array().cloned().unwrap_or_default() {
        let details: Vec<String> = ["dropped_by", "modified_by"]
            .iter()
            .filter_map(|k| step.get(*k).and_then(Value::as_object))
            .flat_map(|m| m.iter().map(|(k, n)| format!("{k} {n}")))
            .collect();
        t.row(vec![
            s(&step, "step"),
            s(&step, "records_in"),
            s(&step, "kept"),
            s(&step, "dropped"),
            s(&step, "modified"),
            details.join(", "),
        ]);
    }
    t.print();
}

/// Records added and removed between two versions.
pub fn print_diff(d: &Value) {
    println!(
        "Version {} against version {}: {} added, {} removed, {} unchanged",
        s(d, "to_version"),
        s(d, "from_version"),
        s(d, "added"),
        s(d, "removed"),
        s(d, "unchanged")
    );
    for (key, label) in [("added_examples", "+"), ("removed_examples", "-")] {
        for e in d.get(key).and_then(Value::as_array).cloned().unwrap_or_default() {
            println!("{label} line {}: {}", s(&e, "line"), s(&e, "excerpt"));
        }
    }
}
