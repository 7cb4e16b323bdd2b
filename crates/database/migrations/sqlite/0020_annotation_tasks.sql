-- Annotation of a dataset version by people: a task (its labels, instructions and annotators;
-- records are shared among them round-robin) and one annotation per record (labels, a flag, a
-- note, and the record as corrected, JSON in canonical form; NULL: unchanged). Completing a task
-- makes a new version of the dataset with the annotation task in its lineage.
CREATE TABLE annotation_tasks (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    version_id TEXT NOT NULL,
    name TEXT NOT NULL,
    instructions TEXT NOT NULL,
    labels TEXT NOT NULL,
    assignees TEXT NOT NULL,
    records INTEGER NOT NULL,
    state TEXT NOT NULL,
    result_version_id TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX annotation_tasks_by_dataset ON annotation_tasks (dataset_id, created_at);

CREATE TABLE annotations (
    task_id TEXT NOT NULL REFERENCES annotation_tasks(id) ON DELETE CASCADE,
    record_index INTEGER NOT NULL,
    annotator_id TEXT NOT NULL,
    labels TEXT NOT NULL,
    flagged INTEGER NOT NULL,
    note TEXT NOT NULL,
    record TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (task_id, record_index)
);
