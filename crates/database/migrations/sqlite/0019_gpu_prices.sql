-- Prices per GPU-hour by GPU type, set by an instance administrator through the API; they
-- override the configuration file's `[scheduling] prices`. A run keeps the price it started at.
CREATE TABLE gpu_prices (
    gpu_type TEXT PRIMARY KEY,
    on_demand REAL NOT NULL,
    spot REAL,
    updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
