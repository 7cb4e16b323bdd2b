-- /v1/uploads: an OpenAI upload is a resumable upload (same id) with what the facade adds:
-- the purpose, the id its file will have, and a counter that numbers its parts as they arrive
-- (OpenAI parts are ordered only at completion, by their ids).
CREATE TABLE openai_uploads (
    upload_id TEXT PRIMARY KEY REFERENCES uploads(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    purpose TEXT NOT NULL,
    file_id TEXT NOT NULL UNIQUE,
    parts_numbered INTEGER NOT NULL DEFAULT 0
);

-- A paused fine-tuning job: its training job was stopped with a checkpoint (cancelled) and
-- continues from it on resume. Null when not paused.
ALTER TABLE openai_fine_tuning_jobs ADD COLUMN paused_at INTEGER;
