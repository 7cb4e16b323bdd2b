//! Paged lists: `--limit`, `--after` and `--all`, which follows `has_more` to the end and
//! answers one list with every item.

use super::http::Api;
use anyhow::Result;
use serde_json::{json, Value};

#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Items per page, 1 to 100 (server default 20).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: Option<u32>,
    /// Start after this id (the last id of the previous page).
    #[arg(long)]
    pub after: Option<String>,
    /// Fetch every page (--limit then sets the page size).
    #[arg(long)]
    pub all: bool,
}

/// GETs a list endpoint (with `query` besides the paging parameters).
pub async fn fetch(api: &mut Api, path: &str, query: &[(&str, String)], args: &ListArgs) -> Result<Value> {
    fetch_by(api, path, query, args, "id").await
}

/// Like [`fetch`], for a list whose cursor (`after`) is the item's field `cursor` (a dataset's
/// versions page by version number).
pub async fn fetch_by(api: &mut Api, path: &str, query: &[(&str, String)], args: &ListArgs, cursor: &str) -> Result<Value> {
    let limit = args.limit.or(args.all.then_some(100));
    let mut after = args.after.clone();
    let mut data = Vec::new();
    loop {
        let mut q = query.to_vec();
        if let Some(l) = limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(a) = &after {
            q.push(("after", a.clone()));
        }
        let page = api.get(path, &q).await?;
        let has_more = page.get("has_more").and_then(Value::as_bool).unwrap_or(false);
        let items = match page.get("data") {
            Some(Value::Array(items)) => items.clone(),
            _ => anyhow::bail!("the server's answer to {path} is not a list"),
        };
        // The cursor as text: ids are strings, version numbers are numbers.
        let last_id = items.last().map(|i| super::output::s(i, cursor)).filter(|c| c != "-");
        data.extend(items);
        match last_id {
            Some(id) if args.all && has_more => after = Some(id),
            _ => return Ok(json!({ "object": "list", "data": data, "has_more": has_more && !args.all })),
        }
    }
}

/// Tells (on standard error) how to get the next page, when there is one.
pub fn hint_more(list: &Value) {
    hint_more_by(list, "id");
}

/// Like [`hint_more`], for a list whose cursor is the item's field `cursor`.
pub fn hint_more_by(list: &Value, cursor: &str) {
    if list.get("has_more").and_then(Value::as_bool).unwrap_or(false) {
        let last = super::output::items(list).last().map(|i| super::output::s(i, cursor)).unwrap_or_default();
        eprintln!("(more: add --after {last}, or --all)");
    }
}
