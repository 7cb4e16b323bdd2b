//! `tunery datasets upload`: always the resumable upload API, so that big files work and an
//! interruption costs only the part in flight.
//!
//! 1. The file is hashed once (streaming SHA-256).
//! 2. `<config dir>/uploads/<sha256>.json` remembers the upload of that content (server, id,
//!    part size). When it names an upload the server still holds, the run resumes it: the
//!    server lists the parts it has, and only the others are sent. Otherwise an upload is
//!    created and the state file written.
//! 3. Each part is read (one at a time: memory holds one part), hashed and sent with its
//!    checksum; transport failures and server errors are retried a few times.
//! 4. Complete (the ordered parts, the whole file's hash, what it becomes), then poll until
//!    the server has processed it. The state file goes when the upload completes or fails;
//!    an upload the server put back to `pending` (a name taken, …) keeps it, so the same
//!    command, corrected, completes it without sending the file again.

use super::{error_counts, format_name, version_by_id, VISIBILITIES};
use crate::client::context::Context;
use crate::client::http::{seg, Api, ApiError};
use crate::client::output::{self, print_kv, s};
use crate::client::profile::write_private;
use crate::client::progress::Progress;
use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The server accepts at most this many parts.
const MAX_PARTS: u64 = 10_000;
const MIB: f64 = 1024.0 * 1024.0;
/// A part is held in memory while it is sent.
const MAX_PART_BYTES: u64 = 1 << 30;
const MIN_PART_BYTES: u64 = 1024;
/// Attempts per part before giving up (the run can still be resumed).
const PART_ATTEMPTS: u32 = 3;

#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// The file: JSONL, JSON array, CSV or TXT.
    pub file: PathBuf,
    /// The new dataset's name.
    #[arg(long, required_unless_present = "dataset")]
    pub name: Option<String>,
    #[arg(long, conflicts_with = "dataset")]
    pub description: Option<String>,
    /// Put the dataset in this project.
    #[arg(long, value_name = "PROJECT_ID", conflicts_with = "dataset")]
    pub project: Option<String>,
    /// Who sees it: you alone, the project's members, the organization, or named users.
    #[arg(long, value_parser = VISIBILITIES, conflicts_with = "dataset")]
    pub visibility: Option<String>,
    /// The users who see it (visibility `users`), comma-separated ids.
    #[arg(long, value_name = "USER_IDS", value_delimiter = ',', conflicts_with = "dataset")]
    pub shared_with: Vec<String>,
    /// The format instead of detection, e.g. '{"container":"csv","schema":"alpaca"}'.
    #[arg(long, value_name = "JSON")]
    pub format_json: Option<String>,
    /// Add the file as a new version of this dataset instead of creating one.
    #[arg(long, value_name = "DATASET_ID", conflicts_with = "name")]
    pub dataset: Option<String>,
    /// Size of each part in MiB (fractions allowed); raised when the file would need more
    /// than 10000 parts. A resumed upload keeps the part size it started with.
    #[arg(long, value_name = "MIB", default_value = "16", value_parser = parse_part_size)]
    pub part_size: u64,
    /// Testing: stop after sending this many parts, as an interruption would.
    #[arg(long, hide = true, value_name = "N")]
    pub stop_after_parts: Option<u64>,
}

/// MiB (fractions allowed) to bytes, within the limits of a part.
fn parse_part_size(text: &str) -> std::result::Result<u64, String> {
    let mib: f64 = text.trim().parse().map_err(|_| format!("not a number of MiB: '{text}'"))?;
    let bytes = (mib * MIB).round();
    if !(bytes >= MIN_PART_BYTES as f64 && bytes <= MAX_PART_BYTES as f64) {
        return Err(format!("must be between 0.001 (1 KiB) and 1024 MiB (got {text})"));
    }
    Ok(bytes as u64)
}

/// What `<config dir>/uploads/<sha256>.json` remembers of an upload in progress.
#[derive(Debug, Serialize, Deserialize)]
struct UploadState {
    server: String,
    upload_id: String,
    sha256: String,
    bytes: u64,
    part_bytes: u64,
    /// The file as named when the upload started (for people reading the state file).
    file: String,
    started_at: i64,
}

pub async fn run(ctx: &Context, api: &mut Api, args: UploadArgs) -> Result<u8> {
    let format = match &args.format_json {
        Some(text) => {
            let spec: Value = serde_json::from_str(text).with_context(|| format!("--format-json is not JSON: {text}"))?;
            anyhow::ensure!(
                spec.is_object(),
                "--format-json must be a JSON object, e.g. '{{\"container\":\"jsonl\",\"schema\":\"chat\"}}'"
            );
            Some(spec)
        }
        None => None,
    };
    let target = target(&args, format);
    let path = args.file.clone();
    let meta = std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(meta.is_file(), "{} is not a file", path.display());
    let size = meta.len();
    anyhow::ensure!(size > 0, "{} is empty: there is nothing to upload", path.display());
    let filename = path.file_name().map(|n| n.to_string_lossy().into_owned()).context("the file has no name")?;
    let file = Arc::new(File::open(&path).with_context(|| format!("cannot open {}", path.display()))?);

    let sha256 = hash_file(Arc::clone(&file), size, &filename).await?;
    let state_path = ctx.store.dir().join("uploads").join(format!("{sha256}.json"));

    let (state, mut upload) = match resume(api, &state_path, &sha256, size).await? {
        Some(found) => found,
        None => {
            let body = json!({ "filename": filename, "bytes": size });
            let upload = api.post("/api/v1/uploads", &body).await?;
            let part_bytes = args.part_size.max(size.div_ceil(MAX_PARTS));
            let state = UploadState {
                server: api.server().to_string(),
                upload_id: s(&upload, "id"),
                sha256: sha256.clone(),
                bytes: size,
                part_bytes,
                file: path.display().to_string(),
                started_at: output::now_unix(),
            };
            save_state(&state_path, &state)?;
            let parts = size.div_ceil(part_bytes);
            eprintln!(
                "Started upload {} ({}, {parts} part{}); if it is interrupted, run the same command again to resume.",
                state.upload_id,
                output::bytes(size),
                if parts == 1 { "" } else { "s" }
            );
            (state, upload)
        }
    };
    let upload_path = format!("/api/v1/uploads/{}", seg(&state.upload_id));

    if s(&upload, "status") == "pending" {
        send_parts(api, &upload_path, &file, &state, &upload, args.stop_after_parts).await?;
        let parts: Vec<u64> = (1..=part_count(&state)).collect();
        let body = json!({ "part_numbers": parts, "sha256": sha256, "dataset": target });
        if let Err(e) = api.post(&format!("{upload_path}/complete"), &body).await {
            // Completed meanwhile by another run of the same command: wait for it like this one.
            let conflict = ApiError::find(&e).is_some_and(|a| a.status == 409);
            let taken_over = conflict && api.get(&upload_path, &[]).await.is_ok_and(|u| s(&u, "status") != "pending");
            if !taken_over {
                return Err(e.context(format!(
                    "the upload could not be completed; its parts stay on the server until it expires (a day after it started): correct the command and run it again to \
                     complete the upload without sending the file again (state: {})",
                    state_path.display()
                )));
            }
        }
    }
    upload = wait_until_processed(api, &upload_path, size).await?;

    match s(&upload, "status").as_str() {
        "completed" => {
            remove_state(&state_path);
            let dataset_id = s(&upload, "dataset_id");
            let dataset = api.get(&format!("/api/v1/datasets/{}", seg(&dataset_id)), &[]).await?;
            let version = version_by_id(api, &dataset_id, &s(&upload, "dataset_version_id")).await?;
            if ctx.json {
                output::json(&json!({ "upload": upload, "dataset": dataset, "version": version }));
            } else {
                print_result(&filename, &dataset, &version);
            }
            Ok(0)
        }
        "failed" | "cancelled" => {
            remove_state(&state_path);
            let why = upload.get("error").and_then(Value::as_str).unwrap_or("no reason given");
            anyhow::bail!("upload {} {}: {why}", state.upload_id, s(&upload, "status"))
        }
        status => {
            let why = upload.get("error").and_then(Value::as_str).unwrap_or("no reason given");
            anyhow::bail!(
                "upload {} is {status}: {why}. Its parts stay on the server until it expires (a day after it started): correct the command and run it again to complete \
                 the upload without sending the file again",
                state.upload_id
            )
        }
    }
}

/// What the file becomes: a new version of `--dataset`, or a new dataset.
fn target(args: &UploadArgs, format: Option<Value>) -> Value {
    let mut t = match &args.dataset {
        Some(id) => json!({ "dataset_id": id }),
        None => {
            let mut t = json!({ "name": args.name.clone().unwrap_or_default() });
            crate::client::http::set_given(
                &mut t,
                [
                    ("description", args.description.as_ref()),
                    ("project_id", args.project.as_ref()),
                    ("visibility", args.visibility.as_ref()),
                ],
            );
            if !args.shared_with.is_empty() {
                t["shared_with"] = json!(args.shared_with);
            }
            t
        }
    };
    if let Some(f) = format {
        t["format"] = f;
    }
    t
}

/// The SHA-256 of the whole file, read in 1 MiB chunks on a blocking thread.
async fn hash_file(file: Arc<File>, size: u64, filename: &str) -> Result<String> {
    let mut progress = Progress::new("hashed", size, 0);
    let (digest, mut progress) = tokio::task::spawn_blocking(move || -> std::io::Result<(String, Progress)> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut offset = 0u64;
        loop {
            let n = file.read_at(&mut buf, offset)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            offset += n as u64;
            progress.advance(n as u64);
            progress.tick("computing SHA-256");
        }
        progress.step("SHA-256 computed");
        Ok((format!("{:x}", hasher.finalize()), progress))
    })
    .await
    .context("the hashing thread failed")?
    .with_context(|| format!("cannot read {filename}"))?;
    progress.finish();
    Ok(digest)
}

/// The upload that the state file remembers for this content, if the server still holds it
/// in a state worth continuing (pending, processing or completed).
async fn resume(api: &mut Api, state_path: &Path, sha256: &str, size: u64) -> Result<Option<(UploadState, Value)>> {
    let text = match std::fs::read_to_string(state_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", state_path.display())),
    };
    let state: UploadState = match serde_json::from_str(&text) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("Ignoring the unreadable upload state {} ({e}); starting a new upload.", state_path.display());
            return Ok(None);
        }
    };
    if state.server != api.server() || state.sha256 != sha256 || state.bytes != size {
        // The same content started on another server: this run starts its own (and this
        // state file now follows it).
        return Ok(None);
    }
    let upload = match api.get(&format!("/api/v1/uploads/{}", seg(&state.upload_id)), &[]).await {
        Ok(upload) => upload,
        Err(e) if ApiError::find(&e).is_some_and(|a| a.status == 404) => {
            eprintln!("The earlier upload {} of this file is gone from the server; starting a new one.", state.upload_id);
            return Ok(None);
        }
        Err(e) => return Err(e.context(format!("cannot look up the earlier upload {} to resume it", state.upload_id))),
    };
    let expired = upload.get("expires_at").and_then(Value::as_i64).is_some_and(|t| t <= output::now_unix());
    match s(&upload, "status").as_str() {
        "pending" if expired => {
            eprintln!("The earlier upload {} of this file expired; starting a new one.", state.upload_id);
            Ok(None)
        }
        "pending" | "processing" | "completed" => {
            eprintln!("Resuming upload {} of {} (started {} UTC).", state.upload_id, state.file, output::format_unix(state.started_at));
            Ok(Some((state, upload)))
        }
        other => {
            eprintln!("The earlier upload {} of this file is {other}; starting a new one.", state.upload_id);
            Ok(None)
        }
    }
}

fn part_count(state: &UploadState) -> u64 {
    state.bytes.div_ceil(state.part_bytes)
}

/// Part `n` (from 1): its offset and length in the file.
fn part_range(state: &UploadState, n: u64) -> (u64, u64) {
    let offset = (n - 1) * state.part_bytes;
    (offset, state.part_bytes.min(state.bytes - offset))
}

/// Sends the parts the server does not have (or has with another size).
async fn send_parts(
    api: &mut Api,
    upload_path: &str,
    file: &Arc<File>,
    state: &UploadState,
    upload: &Value,
    stop_after: Option<u64>,
) -> Result<()> {
    let have: HashMap<u64, u64> = upload
        .get("parts")
        .and_then(Value::as_array)
        .map(|parts| parts.iter().filter_map(|p| Some((p.get("part_number")?.as_u64()?, p.get("bytes")?.as_u64()?))).collect())
        .unwrap_or_default();
    let total = part_count(state);
    let missing: Vec<u64> = (1..=total).filter(|n| have.get(n) != Some(&part_range(state, *n).1)).collect();
    let present_bytes: u64 = (1..=total).filter(|n| !missing.contains(n)).map(|n| part_range(state, n).1).sum();
    if missing.is_empty() {
        eprintln!("The server has all {total} parts ({}).", output::bytes(present_bytes));
    } else if !have.is_empty() {
        eprintln!(
            "The server has {} of {total} parts ({}); sending the {} missing.",
            total - missing.len() as u64,
            output::bytes(present_bytes),
            missing.len()
        );
    }
    let mut progress = Progress::new("sent", state.bytes, present_bytes);
    for (i, &n) in missing.iter().enumerate() {
        if stop_after.is_some_and(|stop| i as u64 >= stop) {
            progress.finish();
            anyhow::bail!(
                "stopped after {i} parts as asked (--stop-after-parts); run the same command again to send the other {}",
                missing.len() - i
            );
        }
        let (offset, len) = part_range(state, n);
        let reader = Arc::clone(file);
        let (data, sha) = tokio::task::spawn_blocking(move || -> std::io::Result<(Vec<u8>, String)> {
            let mut data = vec![0u8; len as usize];
            reader.read_exact_at(&mut data, offset)?;
            let sha = format!("{:x}", Sha256::digest(&data));
            Ok((data, sha))
        })
        .await
        .context("the reading thread failed")?
        .with_context(|| format!("cannot read part {n} of {}", state.file))?;
        progress.tick(&format!("part {n}/{total}"));
        send_part(api, &format!("{upload_path}/parts/{n}"), &data, &sha, &mut progress)
            .await
            .with_context(|| format!("part {n} of {total} could not be sent; run the same command again to resume from there"))?;
        progress.advance(len);
        progress.step(&format!("part {n}/{total}"));
    }
    progress.finish();
    Ok(())
}

/// PUTs one part, retrying transport failures, server errors and checksum mismatches.
async fn send_part(api: &mut Api, path: &str, data: &[u8], sha: &str, progress: &mut Progress) -> Result<Value> {
    let mut attempt = 1;
    loop {
        match api.put_octets(path, data, &[("x-content-sha256", sha)]).await {
            Ok(part) => return Ok(part),
            Err(e) if attempt < PART_ATTEMPTS && retryable(&e) => {
                progress.note(&format!("{e:#}; trying again ({}/{PART_ATTEMPTS})", attempt + 1));
                tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn retryable(e: &anyhow::Error) -> bool {
    match ApiError::find(e) {
        None => true,
        Some(a) => a.status >= 500 || a.code.as_deref() == Some("checksum_mismatch"),
    }
}

/// Polls the upload while the server joins and reads it; the upload as it ended.
async fn wait_until_processed(api: &mut Api, upload_path: &str, size: u64) -> Result<Value> {
    let mut progress = Progress::new("processed", size, 0);
    let mut interval = Duration::from_millis(200);
    let mut announced = false;
    loop {
        let upload = api.get(upload_path, &[]).await?;
        if s(&upload, "status") != "processing" {
            progress.finish();
            return Ok(upload);
        }
        if !announced && !progress.is_tty() {
            eprintln!("Processing on the server (joining the parts, validating the records)…");
            announced = true;
        }
        let processed = upload.get("processed_bytes").and_then(Value::as_u64).unwrap_or(0);
        progress.advance(processed.saturating_sub(progress.done()));
        progress.tick("validating");
        tokio::time::sleep(interval).await;
        interval = (interval * 3 / 2).min(Duration::from_secs(2));
    }
}

fn print_result(filename: &str, dataset: &Value, version: &Value) {
    let id = s(dataset, "id");
    let v = s(version, "version");
    println!("Uploaded {filename} to dataset {id} ({}), version {v}", s(dataset, "name"));
    let n = |k: &str| version.get(k).and_then(Value::as_u64).unwrap_or(0);
    print_kv(&[
        ("dataset", id.clone()),
        ("version", format!("{v} ({})", s(version, "id"))),
        ("records", format!("{} ({} valid, {} invalid)", n("records"), n("valid_records"), n("invalid_records"))),
        ("errors", error_counts(version.get("error_counts"))),
        ("format", format_name(version)),
        ("size", output::bytes(n("bytes"))),
        ("sha256", s(version, "sha256")),
    ]);
    if n("invalid_records") > 0 {
        println!("See each error with its line and field: tunery datasets validate {id} --version {v}");
    } else {
        println!("Every record is valid; check them with: tunery datasets validate {id} --version {v}");
    }
}

fn save_state(path: &Path, state: &UploadState) -> Result<()> {
    let text = serde_json::to_string_pretty(state).context("cannot encode the upload state")?;
    write_private(path, &text).with_context(|| format!("cannot write the upload state {}", path.display()))
}

fn remove_state(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!("warning: cannot remove the upload state {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_parse_in_mib() {
        assert_eq!(parse_part_size("16"), Ok(16 << 20));
        assert_eq!(parse_part_size("0.5"), Ok(512 << 10));
        assert!(parse_part_size("0").is_err());
        assert!(parse_part_size("2048").is_err());
        assert!(parse_part_size("x").is_err());
    }

    #[test]
    fn parts_cover_the_file() {
        let state = UploadState {
            server: String::new(),
            upload_id: String::new(),
            sha256: String::new(),
            bytes: 10,
            part_bytes: 4,
            file: String::new(),
            started_at: 0,
        };
        assert_eq!(part_count(&state), 3);
        assert_eq!((part_range(&state, 1), part_range(&state, 3)), ((0, 4), (8, 2)));
    }
}
