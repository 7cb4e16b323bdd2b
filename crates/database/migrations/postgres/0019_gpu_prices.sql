-- Prices per GPU-hour by GPU type, set by an instance administrator through the API; they
-- override the configuration file's `[scheduling] prices`. A run keeps the price it started at.
CREATE TABLE gpu_prices (
    gpu_type TEXT PRIMARY KEY,
    on_demand DOUBLE PRECISION NOT NULL,
    spot DOUBLE PRECISION,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
