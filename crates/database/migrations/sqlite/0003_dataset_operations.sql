-- Long-running work on a dataset (applying a recipe), observable while it runs.
CREATE TABLE dataset_operations (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    from_version INTEGER NOT NULL,
    recipe TEXT NOT NULL,
    version_id TEXT,
    validation_dataset_id TEXT,
    report_blob_id TEXT,
    error TEXT,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX dataset_operations_dataset ON dataset_operations(dataset_id, id);
