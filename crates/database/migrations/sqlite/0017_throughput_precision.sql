-- A finished job's training speed is keyed by the precision it ran in as well: a bf16 run on a
-- CPU with AVX512-BF16 is about twice an fp32 run's speed, and one must not stand for the other
-- in an estimate. Rows from before carry no precision and are dropped; the next job of each
-- kind measures again (until then its estimate is assumed, as for a model never trained).
DROP TABLE throughput_measurements;
CREATE TABLE throughput_measurements (
    base_model_id TEXT NOT NULL REFERENCES base_models(id),
    device_type TEXT NOT NULL,
    method TEXT NOT NULL,
    -- fp32, bf16 or fp16: what the run trained in (its finished summary's precision).
    precision TEXT NOT NULL,
    tokens_per_second DOUBLE PRECISION NOT NULL,
    job_id TEXT NOT NULL,
    measured_at INTEGER NOT NULL,
    PRIMARY KEY (base_model_id, device_type, method, precision)
);
