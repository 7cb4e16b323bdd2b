//! End to end: `tunery datasets …` against a real `tunery serve` process — a resumable upload
//! in several parts, the located errors, previews, statistics, a byte-identical download, an
//! interrupted upload resumed with only the missing parts, a second version, and deletion.

mod common;

use common::{Cli, ServerProcess};
use serde_json::Value;
use std::path::{Path, PathBuf};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";
/// About 10 KiB per part: the test files take several parts.
const PART_SIZE: &str = "0.01";
/// `PART_SIZE` in bytes (0.01 MiB, rounded).
const PART_BYTES: u64 = 10_486;

fn register_and_login(cli: &Cli) {
    cli.ok_with(&["register", "--email", EMAIL, "--name", "Ada Lovelace", "--password-stdin"], &format!("{PASSWORD}\n"));
    cli.ok_with(&["login", "--email", EMAIL, "--password-stdin"], &format!("{PASSWORD}\n"));
}

/// `count` chat records, one per line; `broken` lines (1-based) are replaced: line 3 by bad
/// JSON, any other by a record whose assistant turn is empty.
fn chat_file(dir: &Path, name: &str, count: usize, topic: &str, broken: &[usize]) -> PathBuf {
    let mut text = String::new();
    for i in 1..=count {
        let line = if broken.contains(&i) && i == 3 {
            r#"{"messages": [{"role": "user", "content": "this line is cut"#.to_string()
        } else {
            let answer = if broken.contains(&i) { String::new() } else { format!("{} is the answer about {topic}.", i * 7) };
            serde_json::json!({"messages": [
                {"role": "system", "content": "You answer briefly."},
                {"role": "user", "content": format!("Question {i} about {topic}: what is {i} times 7?")},
                {"role": "assistant", "content": answer},
            ]})
            .to_string()
        };
        text.push_str(&line);
        text.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the dataset file");
    path
}

/// The upload state files the client keeps in its configuration directory.
fn state_files(cli: &Cli) -> Vec<PathBuf> {
    match std::fs::read_dir(cli.config_home().join("uploads")) {
        Ok(dir) => dir.map(|e| e.expect("directory entry").path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Lines of progress for sent parts (standard error is not a terminal: one line per part).
fn sent_parts(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with("sent "))
        .map(|l| l.rsplit("part ").next().unwrap_or_default().split('/').next().unwrap_or_default().to_string())
        .collect()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

#[test]
fn upload_inspect_download_resume_version_and_delete() {
    let server = ServerProcess::start(&[]);
    let cli = Cli::new(&server.url);
    register_and_login(&cli);
    let files = tempfile::tempdir().expect("temp dir");

    // An upload in several parts: 300 records, two of them broken.
    let chats = chat_file(files.path(), "chats.jsonl", 300, "arithmetic", &[3, 7]);
    let size = std::fs::metadata(&chats).expect("file").len();
    assert!(size > 30 * 1024, "the file spans several parts: {size} bytes");
    let path = chats.to_str().expect("utf-8 path");
    let out = cli.run(&["--json", "datasets", "upload", path, "--name", "chats", "--description", "arithmetic", "--part-size", PART_SIZE]);
    assert!(out.status.success(), "{}", common::describe(&out));
    let uploaded: Value = serde_json::from_slice(&out.stdout).expect("upload JSON");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let parts = sent_parts(&stderr);
    assert!(parts.len() >= 3, "one progress line per part:\n{stderr}");
    assert!(stderr.contains("MiB/s"), "{stderr}");
    let version = &uploaded["version"];
    assert_eq!(
        (version["records"].as_i64(), version["valid_records"].as_i64(), version["invalid_records"].as_i64()),
        (Some(300), Some(298), Some(2))
    );
    assert_eq!(version["error_counts"]["invalid_json"], 1, "{version}");
    assert_eq!(version["error_counts"]["empty_assistant_turn"], 1, "{version}");
    assert_eq!(version["version"], 1);
    assert_eq!(version["bytes"].as_u64(), Some(size));
    assert_eq!(uploaded["upload"]["status"], "completed");
    assert_eq!(uploaded["dataset"]["name"], "chats");
    let id = str_of(&uploaded["dataset"], "id").to_string();
    assert!(state_files(&cli).is_empty(), "the state file is removed once the upload completes: {:?}", state_files(&cli));

    // Validation names both errors with their lines.
    let table = cli.ok(&["datasets", "validate", &id]);
    assert!(table.contains("300 records: 298 valid, 2 invalid"), "{table}");
    let header = table.lines().find(|l| l.starts_with("LINE")).unwrap_or_else(|| panic!("a table:\n{table}"));
    for column in ["FIELD", "CODE", "MESSAGE"] {
        assert!(header.contains(column), "{table}");
    }
    let rows: Vec<&str> = table.lines().skip_while(|l| !l.starts_with("LINE")).skip(1).collect();
    let row = |code: &str| rows.iter().find(|l| l.contains(code)).unwrap_or_else(|| panic!("{code} listed:\n{table}")).to_string();
    assert!(row(" invalid_json ").starts_with("3:"), "line 3 (with its column):\n{table}");
    let empty = row(" empty_assistant_turn ");
    assert!(empty.starts_with("7 ") && empty.contains("messages[2].content"), "line 7, the assistant's content:\n{table}");
    let validation = cli.json(&["datasets", "validate", &id, "--version", "1"]);
    let lines: Vec<(i64, &str)> = validation["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| (e["line"].as_i64().unwrap_or(0), e["code"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(lines, [(3, "invalid_json"), (7, "empty_assistant_turn")], "{validation}");
    assert_eq!(validation["has_more"], false);

    // Preview: records 1 and 2 (lines 2 and 3), the second one broken.
    let preview = cli.ok(&["datasets", "preview", &id, "--offset", "1", "--limit", "2"]);
    assert!(preview.contains("Record 1 (line 2): valid"), "{preview}");
    assert!(preview.contains("user: Question 2 about arithmetic: what is 2 times 7?"), "{preview}");
    assert!(preview.contains("assistant: 14 is the answer about arithmetic."), "{preview}");
    assert!(preview.contains("Record 2 (line 3): 1 error(s)") && preview.contains("(invalid_json)"), "{preview}");
    assert!(!preview.contains("Record 3 "), "{preview}");
    let previewed = cli.json(&["datasets", "preview", &id, "--offset", "1", "--limit", "2"]);
    let indices: Vec<i64> = previewed["data"].as_array().expect("data").iter().map(|r| r["index"].as_i64().unwrap_or(-1)).collect();
    assert_eq!(indices, [1, 2], "{previewed}");

    // Statistics.
    let stats = cli.ok(&["datasets", "stats", &id]);
    for expected in [
        "records:     300 (298 valid, 2 invalid)",
        "empty_assistant_turn 1",
        "invalid_json 1",
        "turns:",
        "p50",
        "languages:",
        "duplicates:",
    ] {
        assert!(stats.contains(expected), "{expected:?} in:\n{stats}");
    }
    let stats = cli.json(&["datasets", "stats", &id, "--version", "1"]);
    assert_eq!(stats["stats"]["valid_rows"], 298, "{stats}");

    // Download: the same bytes; an existing file is kept unless --force.
    let copy = files.path().join("copy.jsonl");
    let copy_path = copy.to_str().expect("utf-8 path");
    cli.ok(&["datasets", "download", &id, "-o", copy_path]);
    assert_eq!(std::fs::read(&copy).expect("downloaded"), std::fs::read(&chats).expect("original"));
    let err = cli.fails(&["datasets", "download", &id, "-o", copy_path], 1);
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    std::fs::write(&copy, "old").expect("overwrite");
    cli.ok(&["datasets", "download", &id, "--version", "1", "-o", copy_path, "--force"]);
    assert_eq!(std::fs::read(&copy).expect("downloaded"), std::fs::read(&chats).expect("original"));
    // Without -o: the uploaded name (from Content-Disposition), in the working directory.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    cli.ok_in(elsewhere.path(), &["datasets", "download", &id]);
    assert_eq!(std::fs::read(elsewhere.path().join("chats.jsonl")).expect("downloaded"), std::fs::read(&chats).expect("original"));
    let leftovers: Vec<_> = std::fs::read_dir(elsewhere.path()).expect("ls").collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");

    let versions = cli.ok(&["datasets", "versions", &id]);
    assert!(versions.contains("VERSION") && versions.contains("chats.jsonl") && versions.contains("jsonl/chat"), "{versions}");

    // An interrupted upload resumes with the parts the server lacks.
    let more = chat_file(files.path(), "more.jsonl", 250, "geography", &[]);
    let more_path = more.to_str().expect("utf-8 path");
    let upload_more = ["datasets", "upload", more_path, "--name", "more", "--part-size", PART_SIZE];
    let mut interrupted = upload_more.to_vec();
    interrupted.extend(["--stop-after-parts", "2"]);
    let out = cli.run(&interrupted);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{}", common::describe(&out));
    assert!(stderr.contains("stopped after 2 parts"), "{stderr}");
    assert_eq!(sent_parts(&stderr), ["1", "2"], "{stderr}");
    let states = state_files(&cli);
    assert_eq!(states.len(), 1, "{states:?}");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&states[0]).expect("state file")).expect("state JSON");
    let upload_id = str_of(&state, "upload_id").to_string();
    assert_eq!(str_of(&state, "server"), server.url);

    let out = cli.run(&upload_more);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{}", common::describe(&out));
    assert!(stderr.contains(&format!("Resuming upload {upload_id}")), "{stderr}");
    let total = std::fs::metadata(&more).expect("file").len().div_ceil(PART_BYTES);
    assert!(stderr.contains(&format!("The server has 2 of {total} parts")), "{stderr}");
    let expected: Vec<String> = (3..=total).map(|n| n.to_string()).collect();
    assert_eq!(sent_parts(&stderr), expected, "only the missing parts are sent:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("records:  250 (250 valid, 0 invalid)") && stdout.contains("tunery datasets validate"), "{stdout}");
    assert!(state_files(&cli).is_empty(), "{:?}", state_files(&cli));
    let listed = cli.json(&["datasets", "list"]);
    let more_id = listed["data"]
        .as_array()
        .expect("datasets")
        .iter()
        .find(|d| d["name"] == "more")
        .map(|d| str_of(d, "id").to_string())
        .unwrap_or_else(|| panic!("the resumed upload made a dataset: {listed}"));
    let shown = cli.json(&["datasets", "show", &more_id]);
    assert_eq!(shown["latest_version"], 1);
    let v = cli.json(&["datasets", "versions", &more_id]);
    assert_eq!(v["data"][0]["records"], 250, "{v}");

    // A second file as a new version of the first dataset.
    let fixed = chat_file(files.path(), "chats-fixed.jsonl", 120, "arithmetic, fixed", &[]);
    let added = cli.json(&["datasets", "upload", fixed.to_str().expect("utf-8 path"), "--dataset", &id, "--part-size", PART_SIZE]);
    assert_eq!(added["version"]["version"], 2, "{added}");
    assert_eq!(added["version"]["invalid_records"], 0, "{added}");
    assert_eq!(added["dataset"]["id"], id.as_str());
    let versions = cli.json(&["datasets", "versions", &id, "--limit", "1", "--all"]);
    let numbers: Vec<i64> = versions["data"].as_array().expect("versions").iter().map(|v| v["version"].as_i64().unwrap_or(0)).collect();
    assert_eq!(numbers.len(), 2, "{versions}");
    assert!(numbers.contains(&1) && numbers.contains(&2), "{versions}");
    assert_eq!(cli.json(&["datasets", "stats", &id])["summary"]["records"], 120, "the latest version by default");
    let lineage = cli.ok(&["datasets", "lineage", &id]);
    assert!(lineage.contains("Version 2 of dataset") && lineage.contains("this"), "{lineage}");

    let rendered = cli.ok(&["datasets", "preview", &id, "--limit", "1", "--template", "chatml"]);
    assert!(rendered.contains("<|im_start|>user") && rendered.contains("<|im_end|>⟧"), "{rendered}");

    // Clean version 2 with a recipe file into version 3, then compare the two.
    let recipe = files.path().join("recipe.json");
    std::fs::write(&recipe, r#"{"version": 1, "steps": [{"step": "filter", "max_chars": 120}, {"step": "mask_pii"}]}"#)
        .expect("write recipe");
    let cleaned = cli.json(&["datasets", "preprocess", &id, "--recipe", recipe.to_str().expect("path")]);
    assert_eq!(cleaned["status"], "completed", "{cleaned}");
    let v3 = cli.json(&["datasets", "versions", &id, "--all"]);
    let v3 = v3["data"].as_array().expect("versions").iter().find(|v| v["version"] == 3).cloned().expect("version 3");
    assert_eq!(cleaned["version_id"], v3["id"], "{cleaned}");
    assert_eq!(v3["parent_version_id"], added["version"]["id"], "{v3}");
    let steps = cli.ok(&["datasets", "preprocess", &id, "--version", "2", "--recipe", r#"{"version":1,"steps":[{"step":"dedup_exact"}]}"#]);
    assert!(steps.contains("made from version 2") && steps.contains("dedup_exact"), "{steps}");
    let diff = cli.json(&["datasets", "diff", &id, "--version", "3", "--against", "2"]);
    let kept = v3["records"].as_i64().unwrap_or(-1);
    assert_eq!(diff["unchanged"].as_i64().unwrap_or(-1) + diff["removed"].as_i64().unwrap_or(-1), 120, "{diff}");
    assert_eq!(diff["unchanged"].as_i64().unwrap_or(-1) + diff["added"].as_i64().unwrap_or(-1), kept, "{diff}");
    let bad = cli.fails(&["datasets", "preprocess", &id, "--recipe", r#"{"version":1,"steps":[{"step":"teleport"}]}"#], 1);
    assert!(bad.contains("recipe"), "{bad}");
    let nothing = cli.fails(&["datasets", "preprocess", &id, "--recipe", r#"{"version":1,"steps":[{"step":"filter","max_chars":1}]}"#], 1);
    assert!(nothing.contains("the recipe failed") && nothing.contains("kept none"), "{nothing}");

    // Update, then delete.
    let renamed = cli.json(&["datasets", "update", &id, "--name", "chats v2", "--visibility", "organization"]);
    assert_eq!((renamed["name"].as_str(), renamed["visibility"].as_str()), (Some("chats v2"), Some("organization")));
    cli.fails(&["datasets", "update", &id], 2);
    let out = cli.ok(&["datasets", "delete", &more_id]);
    assert!(out.contains(&more_id), "{out}");
    let err = cli.fails(&["datasets", "show", &more_id], 1);
    assert!(err.contains("not_found"), "{err}");
    let list = cli.ok(&["datasets", "list"]);
    assert!(list.contains("chats v2") && !list.contains(&more_id), "{list}");
}
