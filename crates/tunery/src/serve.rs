//! `serve`, `migrate` and `audit verify`.

use crate::config::{ServeArgs, ServerConfig};
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

pub async fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    let cfg = args.resolve()?;
    crate::telemetry::init(cfg.log_format);
    let db = open_database(&cfg).await?;
    let services = services::Services::new(db.clone(), cfg.services.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = http_api::router(services, &cfg.http);
    let listener = tokio::net::TcpListener::bind(&cfg.listen).await.with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = %redact(&cfg.database_url), "tunery listening");
    // Tests and scripts read this line to learn the port when listening on port 0.
    println!("tunery listening on http://{addr}");
    http_api::serve(listener, app, shutdown_signal()).await.context("server failed")?;
    tracing::info!("shutting down: in-flight requests finished");
    db.close().await;
    Ok(0)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

pub async fn migrate(args: ServeArgs) -> anyhow::Result<u8> {
    let cfg = args.resolve()?;
    crate::telemetry::init(cfg.log_format);
    let db = open_database(&cfg).await?;
    db.close().await;
    println!("database is up to date: {}", redact(&cfg.database_url));
    Ok(0)
}

pub async fn verify_audit(args: ServeArgs) -> anyhow::Result<u8> {
    let cfg = args.resolve()?;
    let db = open_database(&cfg).await?;
    let services = services::Services::new(db.clone(), cfg.services.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let report = services.verify_audit_chain().await.map_err(|e| anyhow::anyhow!("{e}"))?;
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
