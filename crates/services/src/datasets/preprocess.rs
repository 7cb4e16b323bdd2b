//! Cleaning and preprocessing: a recipe applied to one version makes a new version of the same
//! dataset (and, with a split step, the first version of a validation dataset), each recording
//! its parent and the recipe — the lineage.

use crate::audit::{append, AuditEvent};
use crate::datasets::access::DatasetAccess;
use crate::datasets::blobs::internal;
use crate::datasets::versions::NewDataset;
use crate::error::OrNotFound;
use crate::{now_ms, Error, Principal, RequestContext, Result, Services};
use blob_store::BlobInfo;
use database::datasets::VersionRow;
use database::operations::OperationRow;
use datasets::{Container, FormatSpec, Recipe, RecipeError, RecipeOutputs, RecipeTools, Schema};
use domain::{Permission, ValidationError};
use std::io::Read;

/// How far a running operation has read (shared by its reader and whoever asks).
#[derive(Debug)]
pub struct OperationProgress {
    /// Bytes of the input read in the current pass.
    bytes_read: std::sync::atomic::AtomicU64,
    /// The current pass: 0 before the input is opened, then 1, or 2 for the second pass of a
    /// split by count.
    pass: std::sync::atomic::AtomicU64,
    /// The input's size (one pass).
    total_bytes: u64,
    /// Passes the recipe reads the input (see [`Recipe::reads_twice`]).
    passes: u64,
}

impl OperationProgress {
    fn snapshot(&self) -> ProgressSnapshot {
        use std::sync::atomic::Ordering::Relaxed;
        ProgressSnapshot {
            bytes_read: self.bytes_read.load(Relaxed),
            total_bytes: self.total_bytes,
            pass: self.pass.load(Relaxed).max(1),
            passes: self.passes,
        }
    }
}

/// A snapshot of [`OperationProgress`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgressSnapshot {
    pub bytes_read: u64,
    pub total_bytes: u64,
    pub pass: u64,
    pub passes: u64,
}

/// Counts the bytes read through it into an operation's progress.
struct CountingReader<R> {
    inner: R,
    progress: std::sync::Arc<OperationProgress>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes_read.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// A recipe checked against a version, ready to run.
struct Prepared {
    access: DatasetAccess,
    source: VersionRow,
    parsed: Recipe,
    validation_name: Option<String>,
    /// Counts tokens for the recipe's token filters (its `tokenizer`, or the server's).
    tokens: Option<std::sync::Arc<dyn datasets::TokenCounter>>,
    /// The client of the recipe's `augment` step.
    augmenter: Option<super::augment::OpenAiAugmenter>,
}

/// What a preprocess run made.
#[derive(Debug, Clone)]
pub struct Preprocessed {
    pub version: VersionRow,
    /// The validation split, as the first version of a new dataset.
    pub validation: Option<(DatasetAccess, VersionRow)>,
    /// Per-step counts and examples of what was dropped or changed.
    pub report: serde_json::Value,
}

fn recipe_error(e: RecipeError) -> Error {
    match e {
        RecipeError::Parse(m) => ValidationError::new("recipe", m).into(),
        RecipeError::Invalid(c) if c.unprocessable => ValidationError::unprocessable("recipe", c.to_string()).into(),
        RecipeError::Invalid(c) => ValidationError::new("recipe", c.to_string()).into(),
        RecipeError::File(f) => super::ingest::file_error(&f),
        other => Error::Internal(other.to_string()),
    }
}

impl Services {
    /// Checks a recipe against a version and starts applying it in the background (the caller
    /// answers 202 and the client polls [`Services::get_operation`]). The output is canonical chat
    /// JSONL, stored (encrypted) as a new version whose parent is the input version.
    pub async fn start_preprocess(
        &self,
        principal: &Principal,
        dataset_id: &str,
        version: i64,
        recipe: serde_json::Value,
        ctx: &RequestContext,
    ) -> Result<OperationRow> {
        let prepared = self.prepare_preprocess(principal, dataset_id, version, &recipe).await?;
        let op = OperationRow {
            id: crate::crypto::new_id(domain::ids::IdKind::Operation),
            organization_id: principal.organization_id.clone(),
            dataset_id: dataset_id.to_string(),
            kind: "preprocess".into(),
            status: "running".into(),
            from_version: version,
            recipe: recipe.to_string(),
            version_id: None,
            validation_dataset_id: None,
            report_blob_id: None,
            error: None,
            created_by: principal.user_id.clone(),
            created_at: now_ms(),
            finished_at: None,
        };
        let mut tx = self.db().begin_write().await?;
        database::operations::insert(tx.conn(), &op).await?;
        let event = AuditEvent::by(principal, "dataset.preprocess_start")
            .target("dataset", dataset_id)
            .details(serde_json::json!({"operation_id": op.id, "from_version": version, "recipe": recipe}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        let (services, principal, ctx, started) = (self.clone(), principal.clone(), ctx.clone(), op.clone());
        let progress = std::sync::Arc::new(OperationProgress {
            bytes_read: 0.into(),
            pass: 0.into(),
            total_bytes: prepared.source.size_bytes.max(0) as u64,
            passes: if prepared.parsed.reads_twice() { 2 } else { 1 },
        });
        self.inner_progress().lock().unwrap_or_else(|e| e.into_inner()).insert(op.id.clone(), progress.clone());
        tokio::spawn(async move {
            let outcome = services.run_preprocess(&principal, prepared, recipe, &ctx, progress).await;
            services.inner_progress().lock().unwrap_or_else(|e| e.into_inner()).remove(&started.id);
            if let Err(e) = services.finish_operation(started, outcome).await {
                tracing::error!(error = %e, "could not record the outcome of a preprocess operation");
            }
        });
        Ok(op)
    }

    /// An operation on a dataset the caller can see, with its report once it is done.
    pub async fn get_operation(
        &self,
        principal: &Principal,
        dataset_id: &str,
        id: &str,
    ) -> Result<(OperationRow, Option<serde_json::Value>, Option<ProgressSnapshot>)> {
        self.visible_dataset(principal, dataset_id).await?;
        let op = database::operations::get(&mut *self.db().read().await?, &principal.organization_id, dataset_id, id)
            .await
            .or_not_found("operation")?;
        let progress = if op.status == "running" { self.operation_progress(&op.id) } else { None };
        let report = match &op.report_blob_id {
            Some(blob) => Some(self.read_report(blob).await?),
            None => None,
        };
        Ok((op, report, progress))
    }

    fn operation_progress(&self, id: &str) -> Option<ProgressSnapshot> {
        self.inner_progress().lock().unwrap_or_else(|e| e.into_inner()).get(id).map(|p| p.snapshot())
    }

    async fn finish_operation(&self, mut op: OperationRow, outcome: Result<Preprocessed>) -> Result<()> {
        // The report blob is held until the operation row that references it commits.
        let mut held = None;
        match outcome {
            Ok(done) => {
                let (blobs, holds) = (self.blobs_handle(), self.blob_holds());
                let report = done.report.clone();
                let (blob, hold) = tokio::task::spawn_blocking(move || -> Result<_> {
                    let mut writer = blobs.writer().map_err(internal)?;
                    serde_json::to_writer(&mut writer, &report).map_err(internal)?;
                    let (info, hold) = crate::blob_holds::commit_held(&holds, writer.seal().map_err(internal)?)?;
                    Ok((info.id, hold))
                })
                .await
                .map_err(internal)??;
                held = Some(hold);
                op.status = "completed".into();
                op.version_id = Some(done.version.id);
                op.validation_dataset_id = done.validation.map(|(d, _)| d.dataset.id);
                op.report_blob_id = Some(blob);
            }
            Err(e) => {
                op.status = "failed".into();
                op.error = Some(e.to_string());
            }
        }
        let mut tx = self.db().begin_write().await?;
        database::operations::finish(tx.conn(), &op, now_ms()).await?;
        tx.commit().await?;
        drop(held);
        Ok(())
    }

    /// At start: operations a stopped process left running are marked failed.
    pub async fn recover_operations(&self) -> Result<usize> {
        let stuck = database::operations::running(&mut *self.db().read().await?).await?;
        let mut tx = self.db().begin_write().await?;
        for mut op in stuck.iter().cloned() {
            op.status = "failed".into();
            op.error = Some("interrupted by a server restart; apply the recipe again".into());
            database::operations::finish(tx.conn(), &op, now_ms()).await?;
        }
        tx.commit().await?;
        Ok(stuck.len())
    }

    /// Everything checked before any work starts: permissions, the version, the recipe.
    async fn prepare_preprocess(
        &self,
        principal: &Principal,
        dataset_id: &str,
        version: i64,
        recipe: &serde_json::Value,
    ) -> Result<Prepared> {
        let access = self.dataset_with(principal, dataset_id, Permission::UploadDataset).await?;
        let source = self.get_version(principal, dataset_id, version).await?;
        let recipe_bytes = serde_json::to_vec(recipe).map_err(internal)?;
        let parsed = Recipe::from_json(&recipe_bytes).map_err(recipe_error)?;
        // The split-off dataset's name carries the source version and a digest of the recipe,
        // so running another recipe never collides with an earlier split.
        let digest = crate::crypto::sha256_hex(&String::from_utf8_lossy(&recipe_bytes));
        let validation_name =
            parsed.split().map(|_| format!("{} (validation of v{}, {})", access.dataset.name, source.version, &digest[..8]));
        if let Some(name) = &validation_name {
            let n = NewDataset { name: name.clone(), project_id: access.dataset.project_id.clone(), ..NewDataset::default() };
            self.authorize_new_dataset(principal, &n).await?;
        }
        let tokens = match parsed.token_filter() {
            None => None,
            Some((i, field)) => {
                let org = &principal.organization_id;
                let choice = self.token_counter_for(org, parsed.tokenizer.as_deref(), "recipe.tokenizer").await?;
                let Some(choice) = choice else {
                    return Err(ValidationError::unprocessable(
                        "recipe",
                        format!(
                            "steps[{i}].{field}: token filters need a tokenizer: name a base model in the recipe's `tokenizer` \
                             (this server has no --tokenizer-file)"
                        ),
                    )
                    .into());
                };
                Some(choice.counter)
            }
        };
        let augmenter = parsed
            .steps
            .iter()
            .enumerate()
            .find_map(|(i, s)| match s {
                datasets::recipe::Step::Augment(a) => Some((i, a)),
                _ => None,
            })
            .map(|(i, a)| super::augment::OpenAiAugmenter::new(&a.endpoint, &self.settings().augment_endpoints, i))
            .transpose()?;
        Ok(Prepared { access, source, parsed, validation_name, tokens, augmenter })
    }

    async fn run_preprocess(
        &self,
        principal: &Principal,
        prepared: Prepared,
        recipe: serde_json::Value,
        ctx: &RequestContext,
        progress: std::sync::Arc<OperationProgress>,
    ) -> Result<Preprocessed> {
        let Prepared { access, source, parsed, validation_name, tokens, augmenter } = prepared;
        let spec: FormatSpec = serde_json::from_str(&source.format).map_err(internal)?;
        let blobs = self.blobs_handle();
        let blob_id = source.blob_id.clone();
        let has_split = validation_name.is_some();
        let holds = self.blob_holds();
        type Held = (BlobInfo, crate::blob_holds::BlobHold);
        let (main, validation, report) = tokio::task::spawn_blocking(move || -> Result<(Held, Option<Held>, serde_json::Value)> {
            let open = || -> std::io::Result<Box<dyn Read>> {
                use std::sync::atomic::Ordering::Relaxed;
                let reader = blobs.reader(&blob_id).map_err(std::io::Error::other)?;
                progress.bytes_read.store(0, Relaxed);
                progress.pass.fetch_add(1, Relaxed);
                let counted = CountingReader { inner: reader, progress: progress.clone() };
                Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, counted)))
            };
            let mut main = blobs.writer().map_err(internal)?;
            let mut validation = if has_split { Some(blobs.writer().map_err(internal)?) } else { None };
            let outputs = RecipeOutputs { main: &mut main, validation: validation.as_mut().map(|w| w as &mut dyn std::io::Write) };
            let random = crate::datasets::blobs::random_access(&blobs, &blob_id, Some(spec.container))?;
            let augmenter = augmenter.as_ref().map(|a| a as &dyn datasets::recipe::augment::Augmenter);
            let tools = RecipeTools { tokens: tokens.as_deref(), augmenter, random_access: random.as_ref() };
            let report = datasets::apply_recipe(&open, &spec, &parsed, outputs, tools).map_err(recipe_error)?;
            let commit = |w: blob_store::BlobWriter| crate::blob_holds::commit_held(&holds, w.seal().map_err(internal)?);
            let main = commit(main)?;
            let validation = validation.map(commit).transpose()?;
            Ok((main, validation, serde_json::to_value(&report).map_err(internal)?))
        })
        .await
        .map_err(internal)??;
        // Held until the versions that reference them are written (or the outputs dropped).
        let (main, main_hold) = main;
        let (validation, validation_hold) = validation.unzip();
        let made: Vec<String> = std::iter::once(main.id.clone()).chain(validation.as_ref().map(|v| v.id.clone())).collect();
        if report["records_out"].as_u64() == Some(0) {
            drop((main_hold, validation_hold));
            self.collect_blobs(made).await;
            let dropped: Vec<String> = report["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| format!("{} dropped {}", s["step"].as_str().unwrap_or("?"), s["dropped"]))
                .collect();
            return Err(ValidationError::unprocessable(
                "recipe",
                format!("kept none of the {} records ({}); no version was made", report["records_in"], dropped.join(", ")),
            )
            .into());
        }
        let result = self.store_outputs(principal, &access, &source, recipe, main, validation, validation_name, &report, ctx).await;
        drop((main_hold, validation_hold));
        if result.is_err() {
            self.collect_blobs(made).await;
        }
        result.map(|(version, validation)| Preprocessed { version, validation, report })
    }

    async fn store_outputs(
        &self,
        principal: &Principal,
        access: &DatasetAccess,
        source: &VersionRow,
        recipe: serde_json::Value,
        main: BlobInfo,
        validation: Option<BlobInfo>,
        validation_name: Option<String>,
        report: &serde_json::Value,
        ctx: &RequestContext,
    ) -> Result<(VersionRow, Option<(DatasetAccess, VersionRow)>)> {
        let org = &principal.organization_id;
        let total = main.size as i64 + validation.as_ref().map(|v| v.size as i64).unwrap_or(0);
        if !self.reserve_storage(org, total).await? {
            return Err(self.quota_error(org, total).await);
        }
        let canonical = FormatSpec::new(Container::Jsonl, Schema::Chat);
        let lineage = serde_json::json!({"recipe": recipe, "from_version": source.version, "records_in": report["records_in"], "records_out": report["records_out"]});
        let base = access.dataset.name.replace(['/', '\\'], "_");
        let main_size = main.size as i64;
        let version = self
            .add_version_from_blob(
                principal,
                &access.dataset.id,
                main,
                &format!("{base}.jsonl"),
                crate::datasets::VersionOrigin { parent: Some(source), recipe: Some(&lineage), deployment_id: None },
                Some(canonical.clone()),
                main_size,
                ctx,
            )
            .await;
        let version = match version {
            Ok(v) => v,
            Err(e) => {
                self.release_storage(org, total).await?;
                return Err(e);
            }
        };
        let validation = match (validation, validation_name) {
            (Some(blob), Some(name)) => {
                let size = blob.size as i64;
                let n = NewDataset {
                    name,
                    description: Some(format!("validation split of {} v{}", access.dataset.name, source.version)),
                    project_id: access.dataset.project_id.clone(),
                    visibility: Some(access.dataset.visibility.clone()),
                    shared_with: access.shared_with.clone(),
                    format: Some(canonical),
                };
                let made = self
                    .create_dataset_from_blob(principal, n, blob, &format!("{base}-validation.jsonl"), size, Default::default(), ctx)
                    .await;
                match made {
                    Ok((dataset, mut v)) => {
                        self.link_parent(org, &v.id, source, &lineage).await?;
                        v.parent_version_id = Some(source.id.clone());
                        v.recipe = Some(lineage.to_string());
                        Some((dataset, v))
                    }
                    Err(e) => {
                        self.release_storage(org, size).await?;
                        return Err(e);
                    }
                }
            }
            _ => None,
        };
        self.record_event(
            AuditEvent::by(principal, "dataset.preprocess").target("dataset", &access.dataset.id).details(serde_json::json!({
                "from_version": source.version, "to_version": version.version, "records_in": report["records_in"],
                "records_out": report["records_out"], "validation_dataset": validation.as_ref().map(|(d, _)| d.dataset.id.clone()),
            })),
            ctx,
        )
        .await?;
        Ok((version, validation))
    }

    /// Records that a version (the first of a split-off dataset) was derived from `parent`.
    async fn link_parent(&self, org: &str, version_id: &str, parent: &VersionRow, recipe: &serde_json::Value) -> Result<()> {
        let mut tx = self.db().begin_write().await?;
        database::datasets::set_parent(tx.conn(), org, version_id, &parent.id, &recipe.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }
}
