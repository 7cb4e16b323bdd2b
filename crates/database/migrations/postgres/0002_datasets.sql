-- Datasets: immutable versions over content-addressed, encrypted blobs; resumable uploads;
-- per-organization storage accounting.
ALTER TABLE organizations ADD COLUMN storage_used_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN storage_reserved_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN storage_quota_bytes BIGINT;

CREATE TABLE datasets (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    project_id TEXT REFERENCES projects(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    visibility TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users(id),
    latest_version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization_id, name)
);
CREATE INDEX datasets_org ON datasets(organization_id, id);

CREATE TABLE dataset_shares (
    dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (dataset_id, user_id)
);

CREATE TABLE dataset_versions (
    id TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    version BIGINT NOT NULL,
    blob_id TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    filename TEXT NOT NULL,
    format TEXT NOT NULL,
    parent_version_id TEXT REFERENCES dataset_versions(id),
    recipe TEXT,
    records BIGINT NOT NULL,
    valid_records BIGINT NOT NULL,
    invalid_records BIGINT NOT NULL,
    error_counts TEXT NOT NULL,
    report_blob_id TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    UNIQUE (dataset_id, version)
);
CREATE INDEX dataset_versions_blob ON dataset_versions(blob_id);

CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    filename TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    mime_type TEXT,
    status TEXT NOT NULL,
    error TEXT,
    processed_bytes BIGINT NOT NULL DEFAULT 0,
    target TEXT,
    dataset_id TEXT,
    dataset_version_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX uploads_org ON uploads(organization_id, id);

CREATE TABLE upload_parts (
    upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    part_number BIGINT NOT NULL,
    blob_id TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
CREATE INDEX upload_parts_blob ON upload_parts(blob_id);
