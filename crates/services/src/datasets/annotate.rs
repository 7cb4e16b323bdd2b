//! People annotating a dataset version: a task shares the version's records among its
//! annotators (round-robin), each record gets labels from the task's set, a flag, a note, and
//! may be corrected (an assistant answer written or fixed, a preference pair's chosen and
//! rejected answers picked); completing the task makes a new version of the dataset — every
//! record as corrected, flagged ones and those filtered by label left out — with the task in its
//! lineage.

use super::export::CheckedTarget;
use super::{internal, scan_version, DatasetAccess, VersionOrigin};
use crate::audit::{append, AuditEvent};
use crate::error::OrNotFound;
use crate::{now_ms, Error, Principal, RequestContext, Result, Services};
use database::annotations::{AnnotationRow, TaskRow};
use database::datasets::VersionRow;
use datasets::Record;
use domain::ids::IdKind;
use domain::{validate, Permission, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The most records one task covers (annotate a sample of a larger version).
pub const MAX_TASK_RECORDS: i64 = 100_000;
const MAX_LABELS: usize = 50;
const MAX_ANNOTATORS: usize = 50;

/// A new annotation task over a version.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAnnotationTask {
    #[schema(schema_with = domain::schema::name)]
    pub name: String,
    /// Shown to annotators with every record.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub instructions: String,
    /// The labels annotators choose from (0 to 50, each 1 to 64 characters, distinct).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Users of the organization who annotate (1 to 50); records are shared among them in turn.
    pub assignee_ids: Vec<String>,
}

/// An annotator's share and how much of it is done.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnnotatorProgress {
    pub user_id: String,
    pub name: String,
    pub email: String,
    /// Records in their share.
    pub assigned: u64,
    /// Records of their share annotated (by anyone).
    pub done: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationState {
    Open,
    /// A new version is being made from it.
    Completing,
    Completed,
}

/// A task with its progress.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnnotationTask {
    pub id: String,
    pub dataset_id: String,
    /// The version annotated.
    pub version: i64,
    pub name: String,
    pub instructions: String,
    pub labels: Vec<String>,
    pub annotators: Vec<AnnotatorProgress>,
    /// Records of the version (invalid ones are shown but not annotated).
    pub records: u64,
    pub annotated: u64,
    pub flagged: u64,
    /// Records whose content was corrected.
    pub edited: u64,
    /// Per label, the records that carry it.
    pub label_counts: BTreeMap<String, u64>,
    pub state: AnnotationState,
    /// The version completing the task made.
    pub result_version: Option<i64>,
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// What an annotator said about a record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnnotationView {
    pub labels: Vec<String>,
    pub flagged: bool,
    pub note: String,
    /// The record's content was corrected.
    pub edited: bool,
    pub annotator_id: String,
    /// Unix seconds.
    pub updated_at: i64,
}

/// One record of a task: as uploaded, as corrected, and its annotation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnnotatedRecord {
    pub index: u64,
    /// 1-based line where it starts in the file.
    pub line: u64,
    /// Whose share it is in.
    pub assignee_id: String,
    /// The record as read; None when it is invalid (see `errors`).
    pub original: Option<Record>,
    /// The record as it will be in the new version (the correction, else the original).
    pub record: Option<Record>,
    /// Why the record is invalid (it is left out of the new version and cannot be annotated).
    pub errors: Vec<String>,
    pub annotation: Option<AnnotationView>,
}

/// An annotation of one record; sent again, it replaces the previous one.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnnotationInput {
    /// Labels of the task's set.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Flagged records are left out of the new version (unless completion keeps them).
    #[serde(default)]
    pub flagged: bool,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: String,
    /// The record corrected, of the same type as the original (absent: unchanged).
    pub record: Option<Record>,
}

/// How completion makes the new version.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteAnnotation {
    /// Keep flagged records (default: they are left out).
    #[serde(default)]
    pub keep_flagged: bool,
    /// Keep only records carrying one of these labels (default: every record).
    #[serde(default)]
    pub keep_labels: Vec<String>,
    /// Leave out records carrying one of these labels.
    #[serde(default)]
    pub drop_labels: Vec<String>,
}

fn state_of(row: &TaskRow) -> Result<AnnotationState> {
    Ok(match row.state.as_str() {
        "open" => AnnotationState::Open,
        "completing" => AnnotationState::Completing,
        "completed" => AnnotationState::Completed,
        other => return Err(Error::Internal(format!("annotation task {}: unknown stored state '{other}'", row.id))),
    })
}

fn json_list(row_id: &str, column: &str, text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("annotation task {row_id}: the stored {column} do not parse: {e}")))
}

fn stored_annotation(a: &AnnotationRow) -> Result<(Vec<String>, Option<Record>)> {
    let corrupt = |what: &str, e: serde_json::Error| {
        Error::Internal(format!("annotation of record {} in task {}: the stored {what} does not parse: {e}", a.record_index, a.task_id))
    };
    let labels = serde_json::from_str(&a.labels).map_err(|e| corrupt("labels", e))?;
    let record = a.record.as_deref().map(serde_json::from_str).transpose().map_err(|e| corrupt("record", e))?;
    Ok((labels, record))
}

fn kind(r: &Record) -> &'static str {
    match r {
        Record::Chat { .. } => "chat",
        Record::Preference { .. } => "preference",
        Record::Text { .. } => "text",
    }
}

/// A correction must keep the record's type and hold something to train on.
fn check_correction(original: &Record, corrected: &Record) -> Result<()> {
    if kind(original) != kind(corrected) {
        return Err(ValidationError::unprocessable(
            "record.type",
            format!("a {} record stays a {} record (got {})", kind(original), kind(original), kind(corrected)),
        )
        .into());
    }
    let answered = |m: &[datasets::Message]| m.iter().any(|m| m.role == datasets::Role::Assistant && !m.content.trim().is_empty());
    let problem = match corrected {
        Record::Chat { messages } if !answered(messages) => Some(("record.messages", "needs an assistant message with content")),
        Record::Preference { prompt, .. } if prompt.is_empty() => Some(("record.prompt", "must not be empty")),
        Record::Preference { chosen, .. } if !answered(chosen) => Some(("record.chosen", "needs an assistant message with content")),
        Record::Preference { rejected, .. } if !answered(rejected) => Some(("record.rejected", "needs an assistant message with content")),
        Record::Preference { chosen, rejected, .. } if chosen == rejected => Some(("record.chosen", "must differ from record.rejected")),
        Record::Text { text } if text.trim().is_empty() => Some(("record.text", "must not be empty")),
        _ => None,
    };
    match problem {
        Some((field, message)) => Err(ValidationError::unprocessable(field, message).into()),
        None => Ok(()),
    }
}

/// Labels must be distinct and of `allowed`; `field` names them in errors.
fn check_labels(field: &str, labels: &[String], allowed: &[String]) -> Result<()> {
    for (i, l) in labels.iter().enumerate() {
        if !allowed.contains(l) {
            return Err(ValidationError::unprocessable(
                &format!("{field}[{i}]"),
                format!("'{l}' is not a label of the task ({})", allowed.join(", ")),
            )
            .into());
        }
    }
    no_repeats(field, labels)
}

/// 422 at `field[i]` for the first item given a second time.
fn no_repeats(field: &str, items: &[String]) -> Result<()> {
    match items.iter().enumerate().find(|(i, item)| items[..*i].contains(item)) {
        Some((i, item)) => Err(ValidationError::unprocessable(&format!("{field}[{i}]"), format!("'{item}' is given twice")).into()),
        None => Ok(()),
    }
}

impl Services {
    /// Starts an annotation task over a version (`upload_dataset` on the dataset: completing it
    /// makes a new version).
    pub async fn create_annotation_task(
        &self,
        principal: &Principal,
        dataset_id: &str,
        version: i64,
        n: NewAnnotationTask,
        ctx: &RequestContext,
    ) -> Result<AnnotationTask> {
        self.dataset_with(principal, dataset_id, Permission::UploadDataset).await?;
        let v = self.get_version(principal, dataset_id, version).await?;
        let name = validate::name("name", &n.name)?;
        let instructions = validate::description("instructions", &n.instructions)?;
        // Rules beyond the schema: 422.
        if n.labels.len() > MAX_LABELS {
            return Err(ValidationError::unprocessable("labels", format!("at most {MAX_LABELS} labels (got {})", n.labels.len())).into());
        }
        for (i, l) in n.labels.iter().enumerate() {
            let chars = l.chars().count();
            if l.trim().is_empty() || chars > 64 || l.chars().any(char::is_control) {
                return Err(ValidationError::unprocessable(&format!("labels[{i}]"), "must be 1 to 64 characters, not only spaces").into());
            }
        }
        no_repeats("labels", &n.labels)?;
        if n.assignee_ids.is_empty() || n.assignee_ids.len() > MAX_ANNOTATORS {
            return Err(ValidationError::unprocessable("assignee_ids", format!("name 1 to {MAX_ANNOTATORS} annotators")).into());
        }
        no_repeats("assignee_ids", &n.assignee_ids)?;
        let mut conn = self.db().read().await?;
        let mut annotators = Vec::with_capacity(n.assignee_ids.len());
        for (i, id) in n.assignee_ids.iter().enumerate() {
            let field = format!("assignee_ids[{i}]");
            match database::users::get(&mut conn, &principal.organization_id, id).await {
                Ok(u) if u.disabled == 0 => annotators.push((field, u)),
                Ok(_) => return Err(ValidationError::unprocessable(&field, format!("user {id} is disabled")).into()),
                Err(database::Error::NotFound) => {
                    return Err(ValidationError::unprocessable(&field, format!("no user {id} in the organization")).into())
                }
                Err(e) => return Err(e.into()),
            }
        }
        drop(conn);
        // An annotator must be able to see the records: the dataset's visibility and their
        // `view_dataset` where it lives, as they would when they open the task.
        for (field, user) in annotators {
            let who = format!("{} ({})", user.email, user.id);
            match self.visible_dataset(&crate::auth::acting_as(user)?, dataset_id).await {
                Ok(_) => {}
                Err(Error::NotFound(_) | Error::PermissionDenied(_)) => {
                    return Err(ValidationError::unprocessable(
                        &field,
                        format!("{who} cannot see dataset {dataset_id}: share it with them or add them to its project first"),
                    )
                    .into())
                }
                Err(e) => return Err(e),
            }
        }
        if v.records > MAX_TASK_RECORDS {
            return Err(ValidationError::unprocessable(
                "version",
                format!("version {version} has {} records; a task covers at most {MAX_TASK_RECORDS} (make a sample first)", v.records),
            )
            .into());
        }
        let now = now_ms();
        let row = TaskRow {
            id: crate::crypto::new_id(IdKind::AnnotationTask),
            organization_id: principal.organization_id.clone(),
            dataset_id: dataset_id.to_string(),
            version_id: v.id.clone(),
            name,
            instructions,
            labels: serde_json::to_string(&n.labels).map_err(internal)?,
            assignees: serde_json::to_string(&n.assignee_ids).map_err(internal)?,
            records: v.records,
            state: "open".into(),
            result_version_id: None,
            created_by: principal.user_id.clone(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db().begin_write().await?;
        database::annotations::insert_task(tx.conn(), &row).await?;
        let event = AuditEvent::by(principal, "annotation_task.create").target("annotation_task", &row.id).details(serde_json::json!({
            "dataset_id": dataset_id, "version": version, "name": row.name, "annotators": n.assignee_ids, "labels": n.labels,
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        self.annotation_view(row).await
    }

    /// A dataset's annotation tasks, newest first (to whoever sees the dataset).
    pub async fn list_annotation_tasks(&self, principal: &Principal, dataset_id: &str) -> Result<Vec<AnnotationTask>> {
        self.visible_dataset(principal, dataset_id).await?;
        let rows = database::annotations::tasks_of_dataset(&mut *self.db().read().await?, &principal.organization_id, dataset_id).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.annotation_view(row).await?);
        }
        Ok(out)
    }

    pub async fn get_annotation_task(&self, principal: &Principal, id: &str) -> Result<AnnotationTask> {
        let (row, _) = self.visible_task(principal, id).await?;
        self.annotation_view(row).await
    }

    /// Records of a task in index order: `offset..offset+limit` of all of them, or of one
    /// annotator's share.
    pub async fn annotation_records(
        &self,
        principal: &Principal,
        id: &str,
        offset: u64,
        limit: u64,
        assignee: Option<&str>,
    ) -> Result<Vec<AnnotatedRecord>> {
        if !(1..=100).contains(&limit) {
            return Err(ValidationError::new("limit", format!("must be between 1 and 100 (got {limit})")).into());
        }
        let (row, _) = self.visible_task(principal, id).await?;
        let assignees = json_list(&row.id, "assignees", &row.assignees)?;
        let n = assignees.len() as u64;
        let indices: Vec<u64> = match assignee {
            None => (offset..(offset + limit).min(row.records as u64)).collect(),
            Some(user) => {
                let k = assignees
                    .iter()
                    .position(|a| a == user)
                    .ok_or_else(|| ValidationError::unprocessable("assignee", format!("{user} is not an annotator of task {id}")))?
                    as u64;
                (0..limit).map(|p| k + (offset + p) * n).take_while(|&i| i < row.records as u64).collect()
            }
        };
        let (Some(&first), Some(&last)) = (indices.first(), indices.last()) else { return Ok(Vec::new()) };
        let version = self.task_version(principal, &row).await?;
        let mut read = Vec::new();
        let mut at = first;
        while at <= last {
            let count = (last + 1 - at).min(100);
            read.extend(self.preview_version(principal, &row.dataset_id, version.version, at as usize, count as usize, None).await?);
            at += count;
        }
        let annotations: HashMap<i64, AnnotationRow> =
            database::annotations::in_range(&mut *self.db().read().await?, &row.id, first as i64, last as i64 + 1)
                .await?
                .into_iter()
                .map(|a| (a.record_index, a))
                .collect();
        let mut out = Vec::with_capacity(indices.len());
        for item in read.into_iter().filter(|p| indices.contains(&(p.record.index as u64))) {
            let p = item.record;
            let valid = p.errors.is_empty();
            let original = if valid { p.record } else { None };
            let annotation = annotations.get(&(p.index as i64));
            let (view, corrected) = match annotation {
                Some(a) => {
                    let (labels, record) = stored_annotation(a)?;
                    let view = AnnotationView {
                        labels,
                        flagged: a.flagged != 0,
                        note: a.note.clone(),
                        edited: record.is_some(),
                        annotator_id: a.annotator_id.clone(),
                        updated_at: a.updated_at / 1000,
                    };
                    (Some(view), record)
                }
                None => (None, None),
            };
            out.push(AnnotatedRecord {
                index: p.index as u64,
                line: p.line,
                assignee_id: assignees[p.index % assignees.len()].clone(),
                record: corrected.or_else(|| original.clone()),
                original,
                errors: p.errors.iter().map(|e| e.message.clone()).collect(),
                annotation: view,
            });
        }
        Ok(out)
    }

    /// Saves an annotation of one record (an annotator of the task, or someone who may upload
    /// to the dataset), while the task is open.
    pub async fn annotate_record(
        &self,
        principal: &Principal,
        id: &str,
        index: u64,
        input: AnnotationInput,
        ctx: &RequestContext,
    ) -> Result<AnnotatedRecord> {
        let (row, access) = self.visible_task(principal, id).await?;
        let assignees = json_list(&row.id, "assignees", &row.assignees)?;
        if !assignees.contains(&principal.user_id) && !access.my_permissions.contains(Permission::UploadDataset) {
            return Err(Error::Forbidden(format!("you are not an annotator of task {id}")));
        }
        if state_of(&row)? != AnnotationState::Open {
            return Err(ValidationError::unprocessable(
                "id",
                format!("annotation task {id} is {}: it takes no more annotations", row.state),
            )
            .into());
        }
        if index >= row.records as u64 {
            return Err(Error::NotFound("record"));
        }
        check_labels("labels", &input.labels, &json_list(&row.id, "labels", &row.labels)?)?;
        let note = validate::description("note", &input.note)?;
        let version = self.task_version(principal, &row).await?;
        let current = self.preview_version(principal, &row.dataset_id, version.version, index as usize, 1, None).await?;
        let original = match current.into_iter().next().map(|p| p.record) {
            Some(p) if p.errors.is_empty() && p.record.is_some() => p.record.expect("checked"),
            Some(p) => {
                let why: Vec<String> = p.errors.iter().map(|e| e.message.clone()).collect();
                return Err(ValidationError::unprocessable(
                    "index",
                    format!("record {index} is invalid ({}): it is left out, not annotated", why.join("; ")),
                )
                .into());
            }
            None => return Err(Error::NotFound("record")),
        };
        let corrected = match input.record {
            Some(r) if r != original => {
                check_correction(&original, &r)?;
                Some(r)
            }
            _ => None,
        };
        let a = AnnotationRow {
            task_id: row.id.clone(),
            record_index: index as i64,
            annotator_id: principal.user_id.clone(),
            labels: serde_json::to_string(&input.labels).map_err(internal)?,
            flagged: i64::from(input.flagged),
            note,
            record: corrected.as_ref().map(serde_json::to_string).transpose().map_err(internal)?,
            updated_at: now_ms(),
        };
        let mut tx = self.db().begin_write().await?;
        // Checked again in the writing transaction: completion may have begun meanwhile.
        if state_of(&database::annotations::task(tx.conn(), &principal.organization_id, id).await.or_not_found("annotation task")?)?
            != AnnotationState::Open
        {
            return Err(ValidationError::unprocessable("id", format!("annotation task {id} is no longer open")).into());
        }
        database::annotations::upsert(tx.conn(), &a).await?;
        let event = AuditEvent::by(principal, "annotation.save").target("annotation_task", id).details(serde_json::json!({
            "index": index, "labels": input.labels, "flagged": input.flagged, "edited": corrected.is_some(),
        }));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(AnnotatedRecord {
            index,
            line: 0,
            assignee_id: assignees[index as usize % assignees.len()].clone(),
            record: Some(corrected.clone().unwrap_or_else(|| original.clone())),
            original: Some(original),
            errors: Vec::new(),
            annotation: Some(AnnotationView {
                labels: input.labels,
                flagged: input.flagged,
                note: a.note,
                edited: corrected.is_some(),
                annotator_id: a.annotator_id,
                updated_at: a.updated_at / 1000,
            }),
        })
    }

    /// Completes a task (`upload_dataset` on the dataset): a new version of the dataset with
    /// every valid record as corrected, less flagged ones (unless kept) and those the label
    /// filters leave out, with the task in its lineage. The task then takes no more annotations.
    pub async fn complete_annotation_task(
        &self,
        principal: &Principal,
        id: &str,
        how: CompleteAnnotation,
        ctx: &RequestContext,
    ) -> Result<(AnnotationTask, DatasetAccess, VersionRow)> {
        let (row, access) = self.visible_task(principal, id).await?;
        access.require(Permission::UploadDataset)?;
        let labels = json_list(&row.id, "labels", &row.labels)?;
        check_labels("keep_labels", &how.keep_labels, &labels)?;
        check_labels("drop_labels", &how.drop_labels, &labels)?;
        let version = self.task_version(principal, &row).await?;
        let mut tx = self.db().begin_write().await?;
        if !database::annotations::set_state(tx.conn(), &row.id, "open", "completing", None, now_ms()).await? {
            return Err(ValidationError::unprocessable("id", format!("annotation task {id} is {}, not open", row.state)).into());
        }
        tx.commit().await?;
        let made = self.make_annotated_version(principal, &row, &version, &how, ctx).await;
        let mut tx = self.db().begin_write().await?;
        match made {
            Ok((access, v)) => {
                database::annotations::set_state(tx.conn(), &row.id, "completing", "completed", Some(&v.id), now_ms()).await?;
                let event = AuditEvent::by(principal, "annotation_task.complete")
                    .target("annotation_task", id)
                    .details(serde_json::json!({"dataset_id": row.dataset_id, "version": v.version}));
                append(tx.conn(), self.derived_keys(), event, ctx).await?;
                tx.commit().await?;
                let row = database::annotations::task(&mut *self.db().read().await?, &principal.organization_id, id)
                    .await
                    .or_not_found("annotation task")?;
                Ok((self.annotation_view(row).await?, access, v))
            }
            Err(e) => {
                database::annotations::set_state(tx.conn(), &row.id, "completing", "open", None, now_ms()).await?;
                tx.commit().await?;
                Err(e)
            }
        }
    }

    async fn make_annotated_version(
        &self,
        principal: &Principal,
        row: &TaskRow,
        version: &VersionRow,
        how: &CompleteAnnotation,
        ctx: &RequestContext,
    ) -> Result<(DatasetAccess, VersionRow)> {
        let mut annotations = HashMap::new();
        for a in database::annotations::all(&mut *self.db().read().await?, &row.id).await? {
            let (labels, record) = stored_annotation(&a)?;
            annotations.insert(a.record_index as usize, (labels, a.flagged != 0, record));
        }
        let (blobs, v, keep_flagged) = (self.blobs_handle(), version.clone(), how.keep_flagged);
        let (keep, drop_labels) = (how.keep_labels.clone(), how.drop_labels.clone());
        let (lines, counts) = tokio::task::spawn_blocking(move || {
            let mut lines = Vec::new();
            let (mut kept, mut flagged, mut by_label, mut edited) = (0u64, 0u64, 0u64, 0u64);
            scan_version(&blobs, &v, |index, _, original| {
                let (labels, is_flagged, corrected) = match annotations.get(&index) {
                    Some((l, f, r)) => (l.as_slice(), *f, r.as_ref()),
                    None => (&[][..], false, None),
                };
                if is_flagged && !keep_flagged {
                    flagged += 1;
                    return;
                }
                let labelled = |set: &[String]| labels.iter().any(|l| set.contains(l));
                if (!keep.is_empty() && !labelled(&keep)) || labelled(&drop_labels) {
                    by_label += 1;
                    return;
                }
                edited += u64::from(corrected.is_some());
                lines.extend_from_slice(corrected.unwrap_or(original).to_openai_json().as_bytes());
                lines.push(b'\n');
                kept += 1;
            })?;
            Ok::<_, Error>((lines, (kept, flagged, by_label, edited)))
        })
        .await
        .map_err(internal)??;
        let (kept, flagged, by_label, edited) = counts;
        if kept == 0 {
            return Err(ValidationError::unprocessable(
                "keep_labels",
                format!("no record would be left ({flagged} flagged, {by_label} left out by label)"),
            )
            .into());
        }
        let recipe = serde_json::json!({
            "annotation_task_id": row.id, "name": row.name, "records": kept, "edited": edited,
            "left_out_flagged": flagged, "left_out_by_label": by_label,
            "keep_flagged": how.keep_flagged, "keep_labels": how.keep_labels, "drop_labels": how.drop_labels,
        });
        let origin = VersionOrigin { parent: Some(version), recipe: Some(&recipe), deployment_id: None };
        let filename = format!("{}-annotated-v{}.jsonl", row.id, version.version);
        self.store_export(principal, CheckedTarget::Version(row.dataset_id.clone()), lines, &filename, origin, ctx).await
    }

    /// Deletes a task and its annotations (`upload_dataset` on the dataset); a version it made stays.
    pub async fn delete_annotation_task(&self, principal: &Principal, id: &str, ctx: &RequestContext) -> Result<()> {
        let (row, access) = self.visible_task(principal, id).await?;
        access.require(Permission::UploadDataset)?;
        let mut tx = self.db().begin_write().await?;
        if !database::annotations::delete_task(tx.conn(), &principal.organization_id, id).await? {
            return Err(Error::NotFound("annotation task"));
        }
        let event = AuditEvent::by(principal, "annotation_task.delete")
            .target("annotation_task", id)
            .details(serde_json::json!({"name": row.name}));
        append(tx.conn(), self.derived_keys(), event, ctx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A task whose dataset the caller sees; 404 otherwise.
    async fn visible_task(&self, principal: &Principal, id: &str) -> Result<(TaskRow, DatasetAccess)> {
        let row = database::annotations::task(&mut *self.db().read().await?, &principal.organization_id, id)
            .await
            .or_not_found("annotation task")?;
        let access = self.visible_dataset(principal, &row.dataset_id).await.or_not_found("annotation task")?;
        Ok((row, access))
    }

    async fn task_version(&self, principal: &Principal, row: &TaskRow) -> Result<VersionRow> {
        database::datasets::version_by_id(&mut *self.db().read().await?, &principal.organization_id, &row.version_id)
            .await
            .or_not_found("dataset version")
    }

    async fn annotation_view(&self, row: TaskRow) -> Result<AnnotationTask> {
        let mut conn = self.db().read().await?;
        let labels = json_list(&row.id, "labels", &row.labels)?;
        let assignees = json_list(&row.id, "assignees", &row.assignees)?;
        let annotations = database::annotations::summaries(&mut conn, &row.id).await?;
        let version =
            database::datasets::version_by_id(&mut conn, &row.organization_id, &row.version_id).await.or_not_found("dataset version")?;
        let result_version = match &row.result_version_id {
            Some(v) => {
                Some(database::datasets::version_by_id(&mut conn, &row.organization_id, v).await.or_not_found("dataset version")?.version)
            }
            None => None,
        };
        let n = assignees.len().max(1) as i64;
        let mut done = vec![0u64; assignees.len()];
        let (mut flagged, mut edited) = (0u64, 0u64);
        let mut label_counts: BTreeMap<String, u64> = labels.iter().map(|l| (l.clone(), 0)).collect();
        for a in &annotations {
            if let Some(d) = done.get_mut((a.record_index % n) as usize) {
                *d += 1;
            }
            flagged += u64::from(a.flagged != 0);
            edited += u64::from(a.edited != 0);
            let labels: Vec<String> = serde_json::from_str(&a.labels).map_err(|e| {
                Error::Internal(format!("annotation of record {} in task {}: the stored labels do not parse: {e}", a.record_index, row.id))
            })?;
            for l in labels {
                *label_counts.entry(l).or_default() += 1;
            }
        }
        let mut annotators = Vec::with_capacity(assignees.len());
        for (k, user_id) in assignees.iter().enumerate() {
            let (name, email) = match database::users::get(&mut conn, &row.organization_id, user_id).await {
                Ok(u) => (u.name, u.email),
                Err(database::Error::NotFound) => (String::new(), String::new()),
                Err(e) => return Err(e.into()),
            };
            let assigned = ((row.records - k as i64) + n - 1).max(0) / n;
            annotators.push(AnnotatorProgress { user_id: user_id.clone(), name, email, assigned: assigned as u64, done: done[k] });
        }
        Ok(AnnotationTask {
            state: state_of(&row)?,
            id: row.id,
            dataset_id: row.dataset_id,
            version: version.version,
            name: row.name,
            instructions: row.instructions,
            labels,
            annotators,
            records: row.records as u64,
            annotated: annotations.len() as u64,
            flagged,
            edited,
            label_counts,
            result_version,
            created_by: row.created_by,
            created_at: row.created_at / 1000,
            updated_at: row.updated_at / 1000,
        })
    }
}
