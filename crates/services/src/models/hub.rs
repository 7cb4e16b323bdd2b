//! Downloads a model repository from the Hugging Face Hub (or a mirror with its layout):
//! revision-pinned (the branch or tag is resolved to its commit first), resumable (a partial
//! file continues with an HTTP range request), and checksummed (LFS files by their SHA-256,
//! small files by their git blob id). Files land in a download cache keyed by repository and
//! commit; the import then stores them in the blob store and removes the cache.

use crate::datasets::internal;
use crate::{Error, Result};
use domain::ValidationError;
use futures_util::StreamExt;
use sha2::Digest;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The files an import needs: weights, configuration, tokenizer.
fn wanted(name: &str, has_safetensors: bool) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    if name.contains('/') {
        return false;
    }
    matches!(
        base,
        "config.json"
            | "generation_config.json"
            | "tokenizer.json"
            | "tokenizer_config.json"
            | "special_tokens_map.json"
            | "chat_template.jinja"
            | "chat_template.json"
            | "tokenizer.model"
            | "vocab.json"
            | "merges.txt"
            | "added_tokens.json"
            | "model.safetensors.index.json"
            | "pytorch_model.bin.index.json"
    ) || base.ends_with(".safetensors")
        || (!has_safetensors && base.starts_with("pytorch_model") && base.ends_with(".bin"))
}

/// A repository id: `owner/name` of letters, digits, `-`, `_`, `.`.
pub(crate) fn check_repo_id(repo: &str) -> Result<()> {
    let ok_part = |p: &str| !p.is_empty() && p != "." && p != ".." && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    let parts: Vec<&str> = repo.split('/').collect();
    if parts.len() != 2 || !parts.iter().all(|p| ok_part(p)) {
        return Err(ValidationError::new("source.repo_id", format!("must be owner/name (got '{repo}')")).into());
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct RemoteFile {
    name: String,
    size: Option<u64>,
    /// SHA-256 of an LFS file.
    sha256: Option<String>,
    /// The git blob id (SHA-1 of `blob <len>\0<content>`) of a small file.
    git_blob: Option<String>,
}

/// What a download made: the directory, the commit it is pinned to, and the bytes fetched
/// (less than the total when a partial download was resumed).
#[derive(Debug, Clone)]
pub struct Downloaded {
    pub dir: PathBuf,
    pub commit: String,
    pub fetched_bytes: u64,
}

pub(crate) struct Hub {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

fn hub_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("hub download: {what}: {e}"))
}

impl Hub {
    pub(crate) fn new(base: &str, token: Option<String>) -> Result<Hub> {
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_secs(120))
            .user_agent(concat!("tunery/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(internal)?;
        Ok(Hub { client, base: base.trim_end_matches('/').to_string(), token })
    }

    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let req = self.client.get(url);
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Resolves a revision to its commit and lists the repository's files.
    async fn list(&self, repo: &str, revision: &str) -> Result<(String, Vec<RemoteFile>)> {
        let url = format!("{}/api/models/{repo}/revision/{}?blobs=true", self.base, urlencode(revision));
        let resp = self.get(&url).send().await.map_err(|e| hub_error("listing the repository", e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(ValidationError::unprocessable(
                "source.repo_id",
                format!("the hub has no repository '{repo}' at revision '{revision}' (or it is gated: set a hub token)"),
            )
            .into());
        }
        if !status.is_success() {
            return Err(hub_error("listing the repository", format!("HTTP {status}")));
        }
        let info: serde_json::Value = resp.json().await.map_err(|e| hub_error("listing the repository", e))?;
        let commit = info["sha"].as_str().ok_or_else(|| hub_error("listing the repository", "no commit sha in the answer"))?.to_string();
        let files = info["siblings"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|f| {
                        Some(RemoteFile {
                            name: f["rfilename"].as_str()?.to_string(),
                            size: f["lfs"]["size"].as_u64().or(f["size"].as_u64()),
                            sha256: f["lfs"]["sha256"].as_str().map(str::to_string),
                            git_blob: f["blobId"].as_str().map(str::to_string),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((commit, files))
    }

    /// Downloads the files an import needs into `cache/<owner>/<name>/<commit>/`.
    pub(crate) async fn download(&self, repo: &str, revision: &str, cache: &Path) -> Result<Downloaded> {
        let (commit, files) = self.list(repo, revision).await?;
        let has_safetensors = files.iter().any(|f| f.name.ends_with(".safetensors"));
        let files: Vec<RemoteFile> = files.into_iter().filter(|f| wanted(&f.name, has_safetensors)).collect();
        if !files.iter().any(|f| f.name == "config.json") {
            return Err(ValidationError::unprocessable(
                "source.repo_id",
                format!("'{repo}' has no config.json at {commit}: not a transformers model"),
            )
            .into());
        }
        let dir = cache.join(repo).join(&commit);
        std::fs::create_dir_all(&dir).map_err(internal)?;
        let mut fetched = 0;
        for f in &files {
            fetched += self.fetch(repo, &commit, f, &dir).await?;
        }
        Ok(Downloaded { dir, commit, fetched_bytes: fetched })
    }

    /// One file, resumed from its partial copy when there is one; returns the bytes fetched.
    async fn fetch(&self, repo: &str, commit: &str, f: &RemoteFile, dir: &Path) -> Result<u64> {
        let done = dir.join(&f.name);
        if done.is_file() {
            return Ok(0);
        }
        let partial = dir.join(format!("{}.partial", f.name));
        let mut fetched = 0;
        for attempt in 0..4 {
            let have = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
            let url = format!("{}/{repo}/resolve/{commit}/{}", self.base, f.name);
            let mut req = self.get(&url);
            if have > 0 {
                req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
            }
            let outcome = async {
                let resp = req.send().await.map_err(|e| hub_error(&f.name, e))?;
                let status = resp.status();
                let append = status == reqwest::StatusCode::PARTIAL_CONTENT;
                if !status.is_success() {
                    return Err(hub_error(&f.name, format!("HTTP {status}")));
                }
                let mut out = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .append(append)
                    .truncate(!append)
                    .open(&partial)
                    .map_err(internal)?;
                let mut body = resp.bytes_stream();
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(|e| hub_error(&f.name, e))?;
                    out.write_all(&chunk).map_err(internal)?;
                    fetched += chunk.len() as u64;
                }
                out.sync_all().map_err(internal)?;
                Ok::<(), Error>(())
            }
            .await;
            match outcome {
                Ok(()) => break,
                Err(e) if attempt < 3 => tracing::warn!(file = %f.name, error = %e, "hub download interrupted; resuming"),
                Err(e) => return Err(e),
            }
        }
        verify(f, &partial)?;
        std::fs::rename(&partial, &done).map_err(internal)?;
        Ok(fetched)
    }
}

fn verify(f: &RemoteFile, path: &Path) -> Result<()> {
    let bytes_on_disk = std::fs::metadata(path).map_err(internal)?.len();
    if let Some(size) = f.size {
        if size != bytes_on_disk {
            let _ = std::fs::remove_file(path);
            return Err(Error::ChecksumMismatch(format!("{}: {bytes_on_disk} bytes downloaded, the hub lists {size}", f.name)));
        }
    }
    let mut file = std::fs::File::open(path).map_err(internal)?;
    let mismatch = match (&f.sha256, &f.git_blob) {
        (Some(expected), _) => {
            let mut h = sha2::Sha256::new();
            std::io::copy(&mut file, &mut h).map_err(internal)?;
            let got = hex::encode(h.finalize());
            (got != *expected).then(|| format!("SHA-256 {got}, the hub lists {expected}"))
        }
        (None, Some(expected)) => {
            let mut h = sha1::Sha1::new();
            h.update(format!("blob {bytes_on_disk}\0").as_bytes());
            std::io::copy(&mut file, &mut h).map_err(internal)?;
            let got = hex::encode(h.finalize());
            (got != *expected).then(|| format!("git blob {got}, the hub lists {expected}"))
        }
        (None, None) => None,
    };
    if let Some(why) = mismatch {
        let _ = std::fs::remove_file(path);
        return Err(Error::ChecksumMismatch(format!("{}: {why}", f.name)));
    }
    Ok(())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_model_files_are_fetched() {
        assert!(wanted("model.safetensors", true));
        assert!(wanted("model-00001-of-00002.safetensors", true));
        assert!(wanted("tokenizer.json", true));
        assert!(!wanted("pytorch_model.bin", true));
        assert!(wanted("pytorch_model.bin", false));
        assert!(!wanted("README.md", true));
        assert!(!wanted("onnx/model.onnx", true));
        assert!(!wanted("model.Q4.gguf", true));
    }

    #[test]
    fn repo_ids_are_owner_slash_name() {
        assert!(check_repo_id("HuggingFaceTB/SmolLM2-135M-Instruct").is_ok());
        for bad in ["noslash", "a/b/c", "../x", "a/..", "a/b c", "/a"] {
            assert!(check_repo_id(bad).is_err(), "{bad}");
        }
    }
}
