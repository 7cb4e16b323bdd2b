-- The OpenAI-compatible fine-tuning facade: files are dataset versions (purpose fine-tune) or a
-- job's step metrics (purpose fine-tune-results, made when read); fine-tuning jobs become
-- training jobs once their files validate.
CREATE TABLE openai_files (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    -- fine-tune | fine-tune-results
    purpose TEXT NOT NULL,
    filename TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    -- fine-tune: the dataset version holding the file
    dataset_version_id TEXT REFERENCES dataset_versions(id) ON DELETE CASCADE,
    -- fine-tune-results: the training job whose metrics it holds
    job_id TEXT REFERENCES jobs(id) ON DELETE CASCADE,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL
);
CREATE INDEX openai_files_org ON openai_files(organization_id, id);
-- One results file per job.
CREATE UNIQUE INDEX openai_files_job ON openai_files(job_id);

CREATE TABLE openai_fine_tuning_jobs (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    project_id TEXT REFERENCES projects(id),
    created_by TEXT NOT NULL REFERENCES users(id),
    -- The request as accepted (model, files, suffix, seed, method, metadata, integrations), JSON.
    request TEXT NOT NULL,
    -- validating_files, then failed (the files did not validate) or the training job's states
    status TEXT NOT NULL,
    -- The training job, once the files validated.
    job_id TEXT REFERENCES jobs(id) ON DELETE CASCADE,
    -- {code, message, param} when the files did not validate, JSON
    error TEXT,
    -- What the facade itself reported (file validation, ignored integrations): JSON list of
    -- {created_at, level, message}
    messages TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX openai_fine_tuning_jobs_org ON openai_fine_tuning_jobs(organization_id, id);
CREATE INDEX openai_fine_tuning_jobs_job ON openai_fine_tuning_jobs(job_id);
