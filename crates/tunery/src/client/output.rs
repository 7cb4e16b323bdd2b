//! What the client prints: raw JSON for scripts (`--json`), otherwise aligned tables and
//! key-value blocks, with times as UTC `YYYY-MM-DD HH:MM`.

use serde_json::Value;

/// Prints a JSON value, pretty, on standard output.
pub fn json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()));
}

/// A table with a header row; columns padded to their widest cell.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// `key: value` lines with the values aligned.
pub fn kv(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(&format!("{:<width$}  {v}\n", format!("{k}:"), width = width + 1));
    }
    out
}

pub fn print_kv(pairs: &[(&str, String)]) {
    print!("{}", kv(pairs));
}

/// A text field, or `-` when absent or null.
pub fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A boolean field as yes/no.
pub fn yes_no(v: &Value, key: &str) -> String {
    if v.get(key).and_then(Value::as_bool).unwrap_or(false) { "yes" } else { "no" }.into()
}

/// A time field (Unix seconds) as UTC text, or `-`.
pub fn time(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_i64).map(format_unix).unwrap_or_else(|| "-".into())
}

/// A list-of-strings field joined with commas, or `-`.
pub fn list(v: &Value, key: &str) -> String {
    let items: Vec<&str> = v.get(key).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if items.is_empty() {
        "-".into()
    } else {
        items.join(",")
    }
}

/// A byte count for people: `512 B`, `1.5 KiB`, `16.0 MiB`, `2.25 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit >= 2 && value < 10.0 {
        format!("{value:.2} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The items of a list answer.
pub fn items(list: &Value) -> &[Value] {
    list.get("data").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// The current time in Unix seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Unix seconds as UTC `YYYY-MM-DD HH:MM`.
pub fn format_unix(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = domain::calendar::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rem / 3600, rem % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_utc_minutes() {
        assert_eq!(format_unix(0), "1970-01-01 00:00");
        assert_eq!(format_unix(-1), "1969-12-31 23:59");
        assert_eq!(format_unix(951_782_400), "2000-02-29 00:00");
        assert_eq!(format_unix(1_709_164_800), "2024-02-29 00:00");
        assert_eq!(format_unix(1_735_689_599), "2024-12-31 23:59");
    }

    #[test]
    fn tables_are_aligned() {
        let mut t = Table::new(&["ID", "NAME"]);
        t.row(vec!["usr_1".into(), "Ada".into()]);
        t.row(vec!["u2".into(), "Grace Hopper".into()]);
        assert_eq!(t.render(), "ID     NAME\nusr_1  Ada\nu2     Grace Hopper\n");
    }

    #[test]
    fn byte_counts_read_well() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(16 << 20), "16.0 MiB");
        assert_eq!(bytes(9 << 29), "4.50 GiB");
    }

    #[test]
    fn fields_render() {
        let v = json!({"a": "x", "b": null, "c": true, "t": 0, "l": ["p", "q"], "e": []});
        assert_eq!((s(&v, "a"), s(&v, "b"), s(&v, "zz")), ("x".into(), "-".into(), "-".into()));
        assert_eq!(yes_no(&v, "c"), "yes");
        assert_eq!(time(&v, "t"), "1970-01-01 00:00");
        assert_eq!((list(&v, "l"), list(&v, "e")), ("p,q".into(), "-".into()));
        assert_eq!(kv(&[("id", "1".into()), ("email", "e".into())]), "id:     1\nemail:  e\n");
    }
}
