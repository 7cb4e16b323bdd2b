-- Base models (imported weights in the blob store), training jobs with their event stream and
-- checkpoints, fine-tuned models, and measured training throughput for later estimates.
CREATE TABLE base_models (
    id TEXT PRIMARY KEY,
    -- NULL: an instance-wide model (the built-in one), visible to every organization.
    organization_id TEXT REFERENCES organizations(id),
    name TEXT NOT NULL,
    source_kind TEXT NOT NULL,
    source_ref TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    catalog_repo_id TEXT,
    spec TEXT,
    parameters BIGINT,
    license TEXT,
    chat_template TEXT,
    -- JSON list of {path, blob_id, size_bytes}: the model directory's files, each an encrypted blob.
    files TEXT NOT NULL DEFAULT '[]',
    size_bytes BIGINT NOT NULL DEFAULT 0,
    created_by TEXT REFERENCES users(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX base_models_name ON base_models(COALESCE(organization_id, ''), name);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    project_id TEXT REFERENCES projects(id),
    name TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users(id),
    base_model_id TEXT NOT NULL REFERENCES base_models(id),
    dataset_version_id TEXT NOT NULL REFERENCES dataset_versions(id),
    validation_version_id TEXT REFERENCES dataset_versions(id),
    config TEXT NOT NULL,
    device TEXT NOT NULL,
    estimate TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt BIGINT NOT NULL DEFAULT 0,
    max_restarts BIGINT NOT NULL,
    resume_checkpoint_id TEXT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    current_step BIGINT NOT NULL DEFAULT 0,
    total_steps BIGINT,
    latest_loss DOUBLE PRECISION,
    error_code TEXT,
    error_message TEXT,
    error_hint TEXT,
    model_id TEXT,
    runner_pid BIGINT,
    runner_instance TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_org ON jobs(organization_id, id);
CREATE INDEX jobs_state ON jobs(state, created_at);
CREATE INDEX jobs_dataset_version ON jobs(dataset_version_id);

-- Everything a job reports, in order: state changes, progress, evaluations, system samples,
-- checkpoints, artifacts and log lines. `seq` is the SSE event id.
CREATE TABLE job_events (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    step BIGINT,
    time BIGINT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX job_events_kind ON job_events(job_id, kind, seq);

CREATE TABLE job_checkpoints (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    step BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    files TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (job_id, step)
);

CREATE TABLE models (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    project_id TEXT REFERENCES projects(id),
    name TEXT NOT NULL,
    base_model_id TEXT NOT NULL REFERENCES base_models(id),
    job_id TEXT NOT NULL REFERENCES jobs(id),
    dataset_version_id TEXT NOT NULL REFERENCES dataset_versions(id),
    kind TEXT NOT NULL,
    files TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    config TEXT NOT NULL,
    metrics TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL
);
CREATE INDEX models_org ON models(organization_id, id);
CREATE INDEX models_dataset_version ON models(dataset_version_id);

CREATE TABLE throughput_measurements (
    base_model_id TEXT NOT NULL REFERENCES base_models(id),
    device_type TEXT NOT NULL,
    method TEXT NOT NULL,
    tokens_per_second DOUBLE PRECISION NOT NULL,
    job_id TEXT NOT NULL,
    measured_at BIGINT NOT NULL,
    PRIMARY KEY (base_model_id, device_type, method)
);
