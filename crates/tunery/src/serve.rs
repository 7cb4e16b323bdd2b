//! `serve`, `migrate` and `audit verify`.

use crate::config::{BlobStoreConfig, ServeArgs, ServerConfig, ServerRole};
use anyhow::Context;
use database::Db;

async fn open_database(cfg: &ServerConfig) -> anyhow::Result<Db> {
    if cfg.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("cannot create data directory {}", cfg.data_dir.display()))?;
    }
    let db = Db::connect(&cfg.database_url, cfg.db_max_connections)
        .await
        .with_context(|| format!("cannot open database {}", redact(&cfg.database_url)))?;
    db.migrate().await.context("database migration failed")?;
    Ok(db)
}

/// The URL without its password, for messages and logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The master key: `TUNERY_MASTER_KEY` if set, else the key file (created on first start).
fn master_key(cfg: &ServerConfig) -> anyhow::Result<blob_store::MasterKey> {
    if let Some(key) = existing_master_key(cfg)? {
        return Ok(key);
    }
    let path = &cfg.master_key_file;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let key = blob_store::MasterKey::generate(path).with_context(|| format!("cannot create the master key {}", path.display()))?;
    tracing::warn!(path = %path.display(), "created a new master key: back it up; without it the stored data cannot be read");
    Ok(key)
}

/// The master key if there is one (`TUNERY_MASTER_KEY`, or the key file); never creates it.
fn existing_master_key(cfg: &ServerConfig) -> anyhow::Result<Option<blob_store::MasterKey>> {
    if let Ok(value) = std::env::var("TUNERY_MASTER_KEY") {
        let key =
            blob_store::MasterKey::parse(&value).context("TUNERY_MASTER_KEY is not a valid key (32 bytes as 64 hex digits or base64)")?;
        return Ok(Some(key));
    }
    let path = &cfg.master_key_file;
    if !path.exists() {
        return Ok(None);
    }
    let key = blob_store::MasterKey::from_file(path).with_context(|| format!("cannot read the master key {}", path.display()))?;
    Ok(Some(key))
}

/// `current` and the previous master keys named in the configuration.
fn keyring(cfg: &ServerConfig, current: blob_store::MasterKey) -> anyhow::Result<blob_store::Keyring> {
    let mut keyring = blob_store::Keyring::new(current);
    for p in &cfg.previous_master_key_files {
        keyring
            .previous
            .push(blob_store::MasterKey::from_file(p).with_context(|| format!("cannot read the previous master key {}", p.display()))?);
    }
    Ok(keyring)
}

fn open_blobs(cfg: &ServerConfig) -> anyhow::Result<blob_store::BlobStore> {
    let keyring = keyring(cfg, master_key(cfg)?)?;
    match &cfg.blob_store {
        BlobStoreConfig::Local => {
            let root = cfg.data_dir.join("blobs");
            blob_store::BlobStore::open(&root, keyring).with_context(|| format!("cannot open the blob store {}", root.display()))
        }
        BlobStoreConfig::S3 { bucket, prefix, endpoint, region, allow_http } => {
            open_s3(bucket, prefix, endpoint, region, *allow_http, keyring, cfg.data_dir.join("blob-tmp"))
        }
    }
}

#[cfg(feature = "s3")]
fn open_s3(
    bucket: &str,
    prefix: &str,
    endpoint: &str,
    region: &str,
    allow_http: bool,
    keyring: blob_store::Keyring,
    tmp: std::path::PathBuf,
) -> anyhow::Result<blob_store::BlobStore> {
    let secret = |name: &str| std::env::var(name).with_context(|| format!("--blob-store s3://… needs {name} in the environment"));
    let config = blob_store::S3Config {
        endpoint: endpoint.to_string(),
        bucket: bucket.to_string(),
        region: region.to_string(),
        access_key_id: secret("TUNERY_S3_ACCESS_KEY_ID")?,
        secret_access_key: secret("TUNERY_S3_SECRET_ACCESS_KEY")?,
        prefix: prefix.to_string(),
        allow_http,
    };
    blob_store::BlobStore::open_s3(config, keyring, tmp)
        .with_context(|| format!("cannot open the blob store s3://{bucket}/{prefix} at {endpoint}"))
}

#[cfg(not(feature = "s3"))]
fn open_s3(
    bucket: &str,
    _: &str,
    _: &str,
    _: &str,
    _: bool,
    _: blob_store::Keyring,
    _: std::path::PathBuf,
) -> anyhow::Result<blob_store::BlobStore> {
    anyhow::bail!("--blob-store s3://{bucket}: this build has no S3 support; build with `cargo build --release -p tunery --features s3`")
}

/// Opens the blob store on a blocking thread (an S3 store runs its own client runtime).
async fn open_blobs_blocking(cfg: &ServerConfig) -> anyhow::Result<blob_store::BlobStore> {
    let cfg = cfg.clone();
    tokio::task::spawn_blocking(move || open_blobs(&cfg)).await?
}

async fn open_services(cfg: &ServerConfig) -> anyhow::Result<(Db, services::Services)> {
    let db = open_database(cfg).await?;
    let blobs = open_blobs_blocking(cfg).await?;
    let services = services::Services::new(db.clone(), blobs, cfg.services.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(path) = &cfg.tokenizer_file {
        let counter = tokenizer::counter_for(path).with_context(|| format!("cannot load the tokenizer {}", path.display()))?;
        services.set_token_counter(std::sync::Arc::from(counter));
        tracing::info!(tokenizer = %path.display(), "dataset statistics count tokens with this tokenizer");
    }
    Ok((db, services))
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    let cfg = args.resolve()?;
    crate::telemetry::init(cfg.log_format);
    let (db, services) = open_services(&cfg).await?;
    let failed = services.recover_operations().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if failed > 0 {
        tracing::warn!(operations = failed, "dataset operations interrupted by the last stop are marked failed");
    }
    let recovered = services.recover_uploads().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if recovered > 0 {
        tracing::warn!(uploads = recovered, "uploads interrupted by the last stop are pending again");
    }
    let failed = services.recover_fine_tuning_jobs().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if failed > 0 {
        tracing::warn!(fine_tuning_jobs = failed, "fine-tuning jobs whose files were being validated at the last stop are marked failed");
    }
    spawn_housekeeping(services.clone());
    if let Some(url) = &cfg.redis_url {
        let store = services::deployments::CounterStore::redis(url).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        services.use_counter_store(store).map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::info!("inference rate limits are counted in Redis, shared by every replica");
    }
    spawn_serving(services.clone()).await?;
    services.connect_ray().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    services.connect_kubernetes().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if cfg.role != ServerRole::Api {
        services.start_training().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    services.start_evaluations().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    match services.ensure_builtin_model(cfg.builtin_model_gguf.as_deref()).await {
        Ok(Some(id)) => tracing::info!(base_model = %id, "built-in base model present or importing"),
        Ok(None) => tracing::info!("no built-in base model (set --builtin-model-gguf)"),
        Err(e) => tracing::warn!(error = %e, "could not start importing the built-in base model"),
    }
    let app = match cfg.role {
        ServerRole::Scheduler => http_api::system_router(services.clone(), &cfg.http),
        ServerRole::All | ServerRole::Api => http_api::router(services.clone(), &cfg.http),
    };
    let listener = tokio::net::TcpListener::bind(&cfg.listen).await.with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = %redact(&cfg.database_url), "tunery listening");
    let signal = shutdown_signal()?;
    let stopping = services.clone();
    // Running jobs save a checkpoint and go back to the queue before the server stops.
    let shutdown = async move {
        signal.await;
        stopping.stop_training().await;
        stopping.stop_evaluations().await;
        stopping.stop_serving().await;
        stopping.flush_usage().await;
    };
    // Tests and scripts read this line to learn the port when listening on port 0.
    println!("tunery listening on http://{addr}");
    http_api::serve(listener, app, shutdown).await.context("server failed")?;
    tracing::info!("shutting down: in-flight requests finished");
    db.close().await;
    Ok(0)
}

/// Serving: deployments that were serving started again, and idle ones scaled to zero
/// (checked every second).
async fn spawn_serving(services: services::Services) -> anyhow::Result<()> {
    services.restore_deployments().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            if let Err(e) = services.scale_idle_deployments().await {
                tracing::warn!(error = %e, "could not scale idle deployments to zero");
            }
        }
    });
    Ok(())
}

/// Periodic upkeep: cancels expired uploads (releasing their storage) every ten minutes.
fn spawn_housekeeping(services: services::Services) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            every.tick().await;
            match services.sweep_expired_uploads().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(uploads = n, "cancelled expired uploads and released their storage"),
                Err(e) => tracing::warn!(error = %e, "could not sweep expired uploads"),
            }
        }
    });
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called (not when the
/// future is first polled), so a signal that arrives right after start-up is not lost.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
    })
}

pub async fn migrate(args: ServeArgs) -> anyhow::Result<u8> {
    let cfg = args.resolve()?;
    crate::telemetry::init(cfg.log_format);
    let db = open_database(&cfg).await?;
    db.close().await;
    println!("database is up to date: {}", redact(&cfg.database_url));
    Ok(0)
}

/// Verifies the audit chain directly in the database, read-only: nothing is migrated, written
/// or created (not even a master key: without one the command fails).
pub async fn verify_audit(args: ServeArgs) -> anyhow::Result<u8> {
    let cfg = args.resolve()?;
    let current = existing_master_key(&cfg)?.with_context(|| {
        format!(
            "no master key: {} does not exist and TUNERY_MASTER_KEY is not set (the audit key derives from it)",
            cfg.master_key_file.display()
        )
    })?;
    let keyring = keyring(&cfg, current)?;
    let db = database::Db::open_read_only(&cfg.database_url)
        .await
        .with_context(|| format!("cannot open database {} read-only", redact(&cfg.database_url)))?;
    let report = services::audit::verify_read_only(&db, &keyring).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    db.close().await;
    match report.broken {
        None => {
            println!("audit chain intact: {} records verified", report.records);
            Ok(0)
        }
        Some(b) => {
            println!("audit chain BROKEN at record {}: {} ({} records verified before it)", b.seq, b.reason, report.records);
            Ok(1)
        }
    }
}

/// Re-wraps every blob's data key under a new master key (the data is not rewritten).
pub async fn rotate_master_key(args: ServeArgs, new_key_file: std::path::PathBuf) -> anyhow::Result<u8> {
    let cfg = args.resolve()?;
    let store = open_blobs_blocking(&cfg).await?;
    let new_key = blob_store::MasterKey::from_file(&new_key_file)
        .with_context(|| format!("cannot read the new master key {}", new_key_file.display()))?;
    let id = new_key.id().to_string();
    let report = tokio::task::spawn_blocking(move || store.rotate(new_key)).await?.context("rotation failed")?;
    println!(
        "re-wrapped {} blobs under master key {id} ({} already used it); point --master-key-file at the new key and keep the old one until every server uses it",
        report.rewrapped, report.already_current
    );
    Ok(0)
}
