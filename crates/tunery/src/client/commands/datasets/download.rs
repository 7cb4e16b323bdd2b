//! `tunery datasets download`: streams a version's file to disk (or standard output) with
//! progress, checking its size and SHA-256 against the version. The bytes go to a temporary
//! file next to the target, renamed into place once complete, so an interrupted download
//! never leaves a partial file under the real name.

use super::{resolve_version, version_path};
use crate::client::context::Context;
use crate::client::http::Api;
use crate::client::output::{self, s};
use crate::client::progress::Progress;
use anyhow::{Context as _, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Lines of progress when standard error is not a terminal: one per this many bytes.
const LOG_EVERY: u64 = 16 << 20;

#[derive(Debug, clap::Args)]
pub struct DownloadArgs {
    pub id: String,
    /// The version number [default: the latest].
    #[arg(long)]
    pub version: Option<i64>,
    /// Where to write it [default: the uploaded file's name, in the current directory];
    /// `-` for standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
}

pub async fn run(ctx: &Context, api: &mut Api, args: DownloadArgs) -> Result<u8> {
    let to_stdout = args.output.as_deref() == Some(Path::new("-"));
    if let Some(out) = args.output.as_deref().filter(|_| !to_stdout) {
        refuse_overwrite(out, args.force)?;
    }
    let v = resolve_version(api, &args.id, args.version).await?;
    let version = api.get(&version_path(&args.id, v), &[]).await?;
    let mut response = api.download(&format!("{}/download", version_path(&args.id, v))).await?;
    let expected_bytes = response.content_length().or_else(|| version.get("bytes").and_then(Value::as_u64)).unwrap_or(0);
    let disposition = response.headers().get("content-disposition").and_then(|h| h.to_str().ok()).and_then(disposition_filename);

    let dest = match args.output {
        Some(out) => out,
        None => {
            let name = disposition.or_else(|| safe_name(&s(&version, "filename"))).unwrap_or_else(|| format!("{}-v{v}", args.id));
            PathBuf::from(name)
        }
    };
    let (mut sink, tmp): (Box<dyn Write>, Option<PathBuf>) = if to_stdout {
        (Box::new(std::io::stdout().lock()), None)
    } else {
        refuse_overwrite(&dest, args.force)?;
        let tmp = temporary_next_to(&dest);
        let file =
            OpenOptions::new().write(true).create_new(true).open(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        (Box::new(BufWriter::with_capacity(1 << 20, file)), Some(tmp))
    };

    let streamed = async {
        let mut hasher = Sha256::new();
        let mut progress = Progress::new("received", expected_bytes, 0);
        let mut logged = 0u64;
        while let Some(chunk) = response.chunk().await.context("the download was interrupted")? {
            sink.write_all(&chunk).context("cannot write the file")?;
            hasher.update(&chunk);
            progress.advance(chunk.len() as u64);
            if progress.is_tty() {
                progress.tick("");
            } else if progress.done() - logged >= LOG_EVERY {
                logged = progress.done();
                progress.step("");
            }
        }
        sink.flush().context("cannot write the file")?;
        if !progress.is_tty() && progress.done() != logged {
            progress.step("");
        }
        progress.finish();
        anyhow::Ok((progress.done(), format!("{:x}", hasher.finalize())))
    }
    .await;
    drop(sink);
    let checked = streamed.and_then(|(bytes, sha)| {
        let want_sha = s(&version, "sha256");
        let want_bytes = version.get("bytes").and_then(Value::as_u64).unwrap_or(bytes);
        anyhow::ensure!(bytes == want_bytes, "the download ended after {bytes} of {want_bytes} bytes; try again");
        anyhow::ensure!(sha == want_sha, "the downloaded bytes have SHA-256 {sha}, not the version's {want_sha}; try again");
        Ok((bytes, sha))
    });
    let (bytes, sha) = match (checked, &tmp) {
        (Ok(done), Some(tmp)) => {
            if let Err(e) = finish(tmp, &dest, args.force) {
                let _ = std::fs::remove_file(tmp);
                return Err(e);
            }
            done
        }
        (Ok(done), None) => done,
        (Err(e), tmp) => {
            if let Some(tmp) = tmp {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(e);
        }
    };

    let shown = if to_stdout { "standard output".to_string() } else { dest.display().to_string() };
    if ctx.json && !to_stdout {
        output::json(&json!({
            "object": "dataset.download", "dataset_id": args.id, "version": v, "path": shown, "bytes": bytes, "sha256": sha,
        }));
    } else {
        eprintln!("Downloaded dataset {} version {v} to {shown} ({}, SHA-256 checked)", args.id, output::bytes(bytes));
    }
    Ok(0)
}

fn refuse_overwrite(path: &Path, force: bool) -> Result<()> {
    if !force && std::fs::symlink_metadata(path).is_ok() {
        anyhow::bail!("{} already exists; add --force to replace it, or choose another name with -o", path.display());
    }
    Ok(())
}

/// `.NAME.PID.part` in the target's directory (same file system, so the rename is atomic).
fn temporary_next_to(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "download".into());
    dest.with_file_name(format!(".{name}.{}.part", std::process::id()))
}

/// Moves the complete temporary file to its name (checking again that none appeared).
fn finish(tmp: &Path, dest: &Path, force: bool) -> Result<()> {
    File::open(tmp).and_then(|f| f.sync_all()).with_context(|| format!("cannot write {}", tmp.display()))?;
    refuse_overwrite(dest, force)?;
    std::fs::rename(tmp, dest).with_context(|| format!("cannot move the download to {}", dest.display()))
}

/// The file name of `attachment; filename="data.jsonl"`, made safe to create in the current
/// directory.
fn disposition_filename(header: &str) -> Option<String> {
    let (_, rest) = header.split_once("filename=")?;
    let name = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => rest.split(';').next()?.trim(),
    };
    safe_name(name)
}

/// The last path component, without control characters; `None` when nothing usable is left.
fn safe_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next()?.trim();
    if base.is_empty() || base == "." || base == ".." || base == "-" || base.chars().any(char::is_control) {
        return None;
    }
    Some(base.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_disposition() {
        assert_eq!(disposition_filename("attachment; filename=\"data.jsonl\"").as_deref(), Some("data.jsonl"));
        assert_eq!(disposition_filename("attachment; filename=plain.csv; size=3").as_deref(), Some("plain.csv"));
        assert_eq!(disposition_filename("attachment; filename=\"../../etc/passwd\"").as_deref(), Some("passwd"));
        assert_eq!(disposition_filename("attachment; filename=\"..\""), None);
        assert_eq!(disposition_filename("attachment"), None);
    }
}
