//! Importing a base model: the runtime converts the source (a GGUF file is dequantized; a
//! Hugging Face directory is checked by loading it; an archive of one is extracted safely
//! first) into a Hugging Face directory in a work folder; its files go into the blob store and
//! the row becomes `ready`. An uploaded archive waits in the blob store (encrypted, named by
//! the row's `source_ref`, `sha256:<blob id>/<file name>`) until its import ends.

use crate::audit::{append, AuditEvent};
use crate::datasets::internal;
use crate::error::OrNotFound;
use crate::models::files::StoredFile;
use crate::models::BaseModel;
use crate::{now_ms, Error, Principal, RequestContext, Result, Services};
use database::base_models::BaseModelRow;
use domain::ids::IdKind;
use domain::{validate, Permission, ValidationError};
use executors::local::Message;
use executors::protocol::{EventKind, ImportSource, ImportSpec, SPEC_VERSION};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where an import reads from: a path on the server's machine, or a Hub repository.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ImportSourceRequest {
    /// A GGUF file (dequantized to float weights on import).
    Gguf { path: String },
    /// A Hugging Face model directory (config.json, safetensors, tokenizer files).
    Directory { path: String },
    /// A tar or zip archive of such a directory.
    Archive { path: String },
    /// A repository of the Hugging Face Hub (or the configured mirror), pinned to the commit
    /// its revision (default `main`) points at when the import starts.
    Hub { repo_id: String, revision: Option<String> },
}

/// Where an import reads from, once checked.
#[derive(Debug, Clone)]
enum Source {
    /// A file or directory the runtime reads directly.
    Local(ImportSource),
    /// Downloaded from the hub first, then read as a directory.
    Hub { repo_id: String, revision: String },
    /// An archive uploaded into the blob store: written out for the runtime, then deleted.
    Uploaded { blob_id: String, filename: String },
}

impl Source {
    /// The source of a row left `importing` by a stopped process.
    fn of_row(row: &BaseModelRow) -> Source {
        let path = || row.source_ref.clone().into();
        match row.source_kind.as_str() {
            "directory" => Source::Local(ImportSource::Directory { path: path() }),
            "archive" => Source::Local(ImportSource::Archive { path: path() }),
            "hub" => {
                let (repo_id, revision) = row.source_ref.split_once('@').unwrap_or((&row.source_ref, "main"));
                Source::Hub { repo_id: repo_id.to_string(), revision: revision.to_string() }
            }
            "upload" => {
                let rest = row.source_ref.strip_prefix("sha256:").unwrap_or(&row.source_ref);
                let (blob_id, filename) = rest.split_once('/').unwrap_or((rest, "model.tar"));
                Source::Uploaded { blob_id: blob_id.to_string(), filename: filename.to_string() }
            }
            _ => Source::Local(ImportSource::Gguf { path: path() }),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    pub name: String,
    pub source: ImportSourceRequest,
}

/// The instance-wide built-in model's name.
pub const BUILTIN_NAME: &str = "SmolLM2-135M-Instruct";

fn absolute_existing(field: &str, path: &str, want_dir: bool) -> Result<PathBuf> {
    let p = PathBuf::from(path);
    if !p.is_absolute() {
        return Err(ValidationError::new(field, format!("must be an absolute path on the server (got '{path}')")).into());
    }
    let ok = if want_dir { p.is_dir() } else { p.is_file() };
    if !ok {
        let what = if want_dir { "directory" } else { "file" };
        return Err(ValidationError::unprocessable(field, format!("no such {what} on the server: '{path}'")).into());
    }
    Ok(p)
}

impl Services {
    /// Starts importing a model for the caller's organization (202; the row is `importing`
    /// until the background import finishes).
    pub async fn import_base_model(&self, principal: &Principal, req: ImportRequest, ctx: &RequestContext) -> Result<BaseModel> {
        // Base models are shared by the whole organization, and paths name files on the server:
        // importing is for those who manage its resources.
        principal.require(Permission::ManageResources)?;
        let name = validate::name("name", &req.name)?;
        let (kind, source) = match &req.source {
            ImportSourceRequest::Gguf { path } => {
                ("gguf", Source::Local(ImportSource::Gguf { path: absolute_existing("source.path", path, false)? }))
            }
            ImportSourceRequest::Directory { path } => {
                let dir = absolute_existing("source.path", path, true)?;
                if !dir.join("config.json").is_file() {
                    let message = format!("'{path}' has no config.json: not a Hugging Face model directory");
                    return Err(ValidationError::unprocessable("source.path", message).into());
                }
                ("directory", Source::Local(ImportSource::Directory { path: dir }))
            }
            ImportSourceRequest::Archive { path } => {
                ("archive", Source::Local(ImportSource::Archive { path: absolute_existing("source.path", path, false)? }))
            }
            ImportSourceRequest::Hub { repo_id, revision } => {
                super::hub::check_repo_id(repo_id)?;
                let revision = revision.clone().unwrap_or_else(|| "main".into());
                if revision.is_empty() || revision.chars().count() > 200 || revision.chars().any(|c| c.is_control() || c == ' ') {
                    return Err(ValidationError::new("source.revision", format!("is not a branch, tag or commit: '{revision}'")).into());
                }
                ("hub", Source::Hub { repo_id: repo_id.clone(), revision })
            }
        };
        self.start_import(principal, &name, kind, source, ctx).await
    }

    /// Checks that the caller may import and starts streaming an archive upload into the blob
    /// store (at most the per-file upload limit); [`Services::import_uploaded_archive`] follows.
    pub async fn begin_model_archive_upload(&self, principal: &Principal, name: &str) -> Result<crate::datasets::BlobUpload> {
        principal.require(Permission::ManageResources)?;
        validate::name("name", name)?;
        self.blob_upload(&principal.organization_id, false, self.settings().max_upload_bytes)
    }

    /// Imports the archive `upload` received (202, like any import): the model is `importing`
    /// until its weights are stored; the archive itself is deleted once the import ends.
    pub async fn import_uploaded_archive(
        &self,
        principal: &Principal,
        name: &str,
        upload: crate::datasets::BlobUpload,
        filename: &str,
        ctx: &RequestContext,
    ) -> Result<BaseModel> {
        let filename = crate::datasets::safe_filename(filename)?;
        let (blob, hold) = upload.finish().await?;
        let source = Source::Uploaded { blob_id: blob.id.clone(), filename };
        let started = self.start_import(principal, &validate::name("name", name)?, "upload", source, ctx).await;
        drop(hold);
        if started.is_err() {
            self.collect_blobs(vec![blob.id]).await;
        }
        started
    }

    /// Deletes an imported model (`manage_resources`): refused while it imports and while any
    /// training job names it (its lineage); the built-in model belongs to the installation (409). Its files leave the blob store unless another model
    /// holds the same bytes, and its decrypted copy leaves the model cache.
    pub async fn delete_base_model(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<()> {
        principal.require(Permission::ManageResources)?;
        let org = &principal.organization_id;
        let mut tx = self.db().begin_write().await?;
        let row = database::base_models::get(tx.conn(), org, id).await.or_not_found("base model")?;
        if row.organization_id.is_none() {
            return Err(Error::Conflict("the built-in model belongs to the installation and cannot be deleted".into()));
        }
        if row.status == "importing" {
            return Err(Error::Conflict(format!("base model {id} is still importing; delete it once the import has ended")));
        }
        let files = database::base_models::delete(tx.conn(), org, id).await?;
        let event = AuditEvent::by(principal, "base_model.delete")
            .target("base_model", id)
            .details(serde_json::json!({"name": row.name, "bytes": row.size_bytes}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        let released = super::files::parse_manifest(&format!("base model {id}"), &files)?;
        self.collect_blobs(released.into_iter().map(|f| f.blob_id).collect()).await;
        let cached = self.settings().training.model_cache_dir.join(id);
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(cached)).await;
        Ok(())
    }

    async fn start_import(&self, principal: &Principal, name: &str, kind: &str, source: Source, ctx: &RequestContext) -> Result<BaseModel> {
        let row = new_row(Some(principal.organization_id.clone()), name, kind, &source, Some(principal.user_id.clone()));
        let mut tx = self.db().begin_write().await?;
        database::base_models::insert(tx.conn(), &row).await?;
        let event = AuditEvent::by(principal, "base_model.import")
            .target("base_model", &row.id)
            .details(serde_json::json!({"name": name, "source_kind": kind}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        self.spawn_import(row.clone(), source);
        BaseModel::of(row)
    }

    /// At start: imports the built-in model from its GGUF file unless it is there already;
    /// imports a stopped process left unfinished are started again.
    pub async fn ensure_builtin_model(&self, gguf: Option<&Path>) -> Result<Option<String>> {
        for stuck in database::base_models::importing(&mut *self.db().read().await?).await? {
            // An import runtime the stopped server left running would write into the same
            // work directory: stop it first.
            let workdir = self.settings().training.work_dir.join(format!("import-{}", stuck.id));
            for pid in executors::local::processes_in(&workdir) {
                tracing::warn!(base_model = %stuck.id, pid, "stopping an import left running by an earlier server");
                executors::local::stop_orphan(pid, &workdir, std::time::Duration::from_secs(5)).await;
            }
            let source = Source::of_row(&stuck);
            self.spawn_import(stuck, source);
        }
        let existing = database::base_models::instance_model(&mut *self.db().read().await?, BUILTIN_NAME).await?;
        if let Some(row) = existing {
            return Ok(Some(row.id));
        }
        let Some(gguf) = gguf.filter(|p| p.is_file()) else { return Ok(None) };
        let source = Source::Local(ImportSource::Gguf { path: gguf.to_path_buf() });
        let row = new_row(None, BUILTIN_NAME, "builtin", &source, None);
        let mut tx = self.db().begin_write().await?;
        database::base_models::insert(tx.conn(), &row).await?;
        let event =
            AuditEvent::system(None, "base_model.import").target("base_model", &row.id).details(serde_json::json!({"builtin": true}));
        append(tx.conn(), self.derived_keys(), event, &RequestContext::default()).await?;
        tx.commit().await?;
        let id = row.id.clone();
        self.spawn_import(row, source);
        Ok(Some(id))
    }

    fn spawn_import(&self, row: BaseModelRow, source: Source) {
        let services = self.clone();
        tokio::spawn(async move {
            let uploaded = match &source {
                Source::Uploaded { blob_id, .. } => Some(blob_id.clone()),
                _ => None,
            };
            let mut done = row.clone();
            if let Err(e) = services.run_import(&row, source).await {
                tracing::warn!(base_model = %row.id, error = %e, "base model import failed");
                done.status = "failed".into();
                done.error = Some(e.to_string());
                done.updated_at = now_ms();
                if let Err(e) = services.finish_import(&done).await {
                    tracing::error!(error = %e, "could not record a failed import");
                }
            }
            // The row is no longer importing: its uploaded archive is not needed any more.
            if let Some(blob_id) = uploaded {
                services.collect_blobs(vec![blob_id]).await;
            }
        });
    }

    async fn finish_import(&self, row: &BaseModelRow) -> Result<()> {
        let mut tx = self.db().begin_write().await?;
        database::base_models::finish_import(tx.conn(), row).await?;
        let org = row.organization_id.as_deref();
        let event = AuditEvent::system(org, if row.status == "ready" { "base_model.imported" } else { "base_model.import_failed" })
            .target("base_model", &row.id)
            .details(serde_json::json!({"error": row.error}));
        append(tx.conn(), self.derived_keys(), event, &RequestContext::default()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn run_import(&self, row: &BaseModelRow, source: Source) -> Result<()> {
        let training = &self.settings().training;
        let runtime = training.runtime.clone().ok_or_else(|| Error::Unavailable(RUNTIME_MISSING.into()))?;
        let mut row = row.clone();
        // A directory written for this import: removed after it (a hub download only after a
        // success, so that a retry resumes it; a decrypted archive always).
        let (source, written, keep_on_failure) = match source {
            Source::Local(local) => (local, None, false),
            Source::Uploaded { blob_id, filename } => {
                let dir = training.work_dir.join(format!("upload-{}", row.id));
                let file = StoredFile { path: filename.clone(), blob_id, size_bytes: 0 };
                self.materialize(std::slice::from_ref(&file), &dir).await?;
                (ImportSource::Archive { path: dir.join(&filename) }, Some(dir), false)
            }
            Source::Hub { repo_id, revision } => {
                let hub = super::hub::Hub::new(&training.hub_base_url, training.hub_token.clone())?;
                let d = hub.download(&repo_id, &revision, &training.work_dir.join("hub-cache")).await?;
                tracing::info!(repo = %repo_id, commit = %d.commit, bytes = d.fetched_bytes, "downloaded from the hub");
                row.source_ref = format!("{repo_id}@{}", d.commit);
                (ImportSource::Directory { path: d.dir.clone() }, Some(d.dir), true)
            }
        };
        let outcome = self.import_with_runtime(&runtime, &row, source, written.as_deref()).await;
        if let Some(dir) = written.filter(|_| outcome.is_err() && !keep_on_failure) {
            let _ = std::fs::remove_dir_all(dir);
        }
        outcome
    }

    /// Converts `source` with the runtime and stores the result. `written` (a directory made for
    /// this import) and the work directory are removed once the result is stored, before the
    /// model reads `ready`: nothing of a finished import is left behind it.
    async fn import_with_runtime(
        &self,
        runtime: &executors::RuntimeCommand,
        row: &BaseModelRow,
        source: ImportSource,
        written: Option<&std::path::Path>,
    ) -> Result<()> {
        let training = &self.settings().training;
        let workdir = training.work_dir.join(format!("import-{}", row.id));
        let _ = std::fs::remove_dir_all(&workdir);
        std::fs::create_dir_all(&workdir).map_err(internal)?;
        let output_dir = workdir.join("model");
        let spec = ImportSpec { spec_version: SPEC_VERSION, source, output_dir: output_dir.clone() };
        let spec_path = workdir.join("spec.json");
        std::fs::write(&spec_path, serde_json::to_vec_pretty(&spec).map_err(internal)?).map_err(internal)?;
        let outcome = async {
            let mut running = runtime.start("import-model", &spec_path, &workdir).map_err(|e| Error::Unavailable(e.to_string()))?;
            let mut failure = None;
            while let Some(m) = running.messages.recv().await {
                match m {
                    Message::Event(e) => {
                        if let EventKind::Failed { code, message, hint } = e.kind {
                            failure = Some(format!("{code}: {message}{}", hint.map(|h| format!(" ({h})")).unwrap_or_default()));
                        }
                    }
                    Message::Stderr(line) | Message::Output(line) => tracing::debug!(target: "runtime", "{line}"),
                    Message::BadLine { line, .. } => tracing::warn!(target: "runtime", "unexpected output: {line}"),
                }
            }
            let exit = running.wait().await;
            if exit.code != Some(0) {
                let reason = failure.unwrap_or_else(|| format!("the runtime exited with {:?}: {}", exit.code, exit.stderr_tail));
                return Err(Error::Internal(format!("import failed: {reason}")));
            }
            let config: serde_json::Value =
                serde_json::from_slice(&std::fs::read(output_dir.join("config.json")).map_err(internal)?).map_err(internal)?;
            let spec = domain::model_spec::from_config(&config).map_err(Error::Internal)?;
            // transformers 5 writes the template to chat_template.jinja; older saves keep it in
            // tokenizer_config.json.
            let chat_template = std::fs::read_to_string(output_dir.join("chat_template.jinja")).ok().or_else(|| {
                std::fs::read(output_dir.join("tokenizer_config.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|v| v.get("chat_template").and_then(|t| t.as_str()).map(str::to_string))
            });
            let super::files::StoredDirectory { files, size, holds } = self.store_directory(&output_dir).await?;
            for dir in written.into_iter().chain([workdir.as_path()]) {
                let _ = std::fs::remove_dir_all(dir);
            }
            let catalog = domain::catalog::catalog().into_iter().find(|m| {
                m.spec.architecture == spec.architecture
                    && m.spec.layers == spec.layers
                    && m.spec.hidden_size == spec.hidden_size
                    && m.spec.vocab_size == spec.vocab_size
                    && m.spec.intermediate_size == spec.intermediate_size
            });
            let mut done = row.clone();
            done.status = "ready".into();
            done.parameters = Some(spec.parameter_counts().total() as i64);
            done.spec = Some(serde_json::to_string(&spec).map_err(internal)?);
            done.license = catalog.as_ref().map(|c| c.license.to_string());
            done.catalog_repo_id = catalog.map(|c| c.repo_id.to_string());
            done.chat_template = chat_template;
            done.files = serde_json::to_string(&files).map_err(internal)?;
            done.size_bytes = size as i64;
            done.updated_at = now_ms();
            let finished = self.finish_import(&done).await;
            drop(holds);
            finished
        }
        .await;
        let _ = std::fs::remove_dir_all(&workdir);
        outcome
    }
}

pub(crate) const RUNTIME_MISSING: &str =
    "the training runtime is not configured on this server: run scripts/runtime-env.sh and start the server with --runtime-python";

fn new_row(organization_id: Option<String>, name: &str, kind: &str, source: &Source, created_by: Option<String>) -> BaseModelRow {
    let source_ref = match source {
        Source::Local(ImportSource::Gguf { path } | ImportSource::Directory { path } | ImportSource::Archive { path }) => {
            path.to_string_lossy().into_owned()
        }
        Source::Hub { repo_id, revision } => format!("{repo_id}@{revision}"),
        Source::Uploaded { blob_id, filename } => format!("sha256:{blob_id}/{filename}"),
    };
    let now = now_ms();
    BaseModelRow {
        id: crate::crypto::new_id(IdKind::BaseModel),
        organization_id,
        name: name.to_string(),
        source_kind: kind.to_string(),
        source_ref,
        status: "importing".into(),
        error: None,
        catalog_repo_id: None,
        spec: None,
        parameters: None,
        license: None,
        chat_template: None,
        files: "[]".into(),
        size_bytes: 0,
        created_by,
        created_at: now,
        updated_at: now,
    }
}
