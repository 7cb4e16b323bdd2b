//! The only place with SQL. One set of queries serves SQLite and PostgreSQL through sqlx's
//! `Any` driver: every query uses `$n` placeholders (both engines accept them), integers are
//! 64-bit, times are Unix milliseconds, and flags are 0/1 integers. Each engine has its own
//! migrations folder with the same tables.
//!
//! Writes go through [`Db::begin_write`]: on SQLite it serialises writers inside the process
//! (SQLite has one writer anyway; queuing here avoids `SQLITE_BUSY`), on PostgreSQL it is a
//! plain transaction and row locks do the rest.

pub mod annotations;
pub mod api_keys;
pub mod audit;
pub mod base_models;
pub mod datasets;
pub mod deployments;
pub mod evaluation_runs;
pub mod evaluations;
pub mod gpu_prices;
pub mod human_evals;
pub mod inference;
pub mod instance;
pub mod invitations;
pub mod job_runs;
pub mod job_templates;
pub mod jobs;
pub mod models;
pub mod openai;
pub mod operations;
pub mod organizations;
pub mod projects;
pub mod quotas;
pub mod safety;
pub mod scheduler_lease;
pub mod sessions;
pub mod traffic;
pub mod uploads;
pub mod users;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use sqlx::AnyConnection as Conn;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("unsupported database url '{0}': use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("the database schema is {0} migration(s) behind this build: run `tunery migrate` first")]
    SchemaBehind(usize),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Maps unique-key violations to `Conflict`, keeping other errors as they are.
pub(crate) fn conflict_on_unique(e: sqlx::Error, what: &str) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(what.to_string()),
        _ => Error::Sqlx(e),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    writer: Option<Arc<Mutex<()>>>,
}

/// A read-only transaction that sees one consistent snapshot of the database (repeatable read
/// on PostgreSQL; on SQLite in WAL mode, a read transaction).
pub struct Snapshot {
    tx: sqlx::Transaction<'static, sqlx::Any>,
}

impl Snapshot {
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.tx
    }

    /// Ends the snapshot (nothing was written).
    pub async fn finish(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// A write transaction; dropping it without [`WriteTx::commit`] rolls back.
pub struct WriteTx {
    /// None once committed.
    tx: Option<sqlx::Transaction<'static, sqlx::Any>>,
    writer: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub fn conn(&mut self) -> &mut Conn {
        self.tx.as_mut().expect("a write transaction is open until it commits")
    }

    pub async fn commit(mut self) -> Result<()> {
        if let Some(tx) = self.tx.take() {
            tx.commit().await?;
        }
        Ok(())
    }
}

impl Drop for WriteTx {
    /// A transaction dropped without a commit (an error path) is rolled back before the writer
    /// lock is released. sqlx would roll it back only when its connection is next used, and on
    /// SQLite the write lock it holds until then makes the next writer fail with "database is
    /// locked" instead of waiting.
    fn drop(&mut self) {
        let Some(tx) = self.tx.take() else { return };
        let writer = self.writer.take();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(e) = tx.rollback().await {
                        tracing::warn!("rolling back a dropped write transaction failed: {e}");
                    }
                    drop(writer);
                });
            }
            Err(_) => drop((tx, writer)),
        }
    }
}

impl Db {
    /// Connects to `url` (`sqlite://PATH` creates the file; `postgres://…`), then runs migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(Error::UnsupportedUrl(url.to_string()));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        if backend == Backend::Sqlite {
            // WAL is a property of the database file: readers never block the writer.
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        let writer = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Db { pool, backend, writer })
    }

    /// Opens an existing database to read only: SQLite read-only (the file must exist and is
    /// never created), PostgreSQL in read-only transactions. Refuses a database whose schema is
    /// not this build's (`tunery migrate` first): nothing is migrated.
    pub async fn open_read_only(url: &str) -> Result<Db> {
        let db = if url.starts_with("sqlite:") {
            sqlx::any::install_default_drivers();
            let url = format!("{url}{}mode=ro", if url.contains('?') { '&' } else { '?' });
            let pool = AnyPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _| Box::pin(async move { conn.execute("PRAGMA busy_timeout = 10000;").await.map(|_| ()) }))
                .connect_with(AnyConnectOptions::from_str(&url)?)
                .await?;
            Db { pool, backend: Backend::Sqlite, writer: None }
        } else {
            // Reads go through `snapshot`, a READ ONLY transaction.
            Db::connect(url, 2).await?
        };
        let pending = db.pending_migrations().await?;
        if pending > 0 {
            return Err(Error::SchemaBehind(pending));
        }
        Ok(db)
    }

    fn migrator(&self) -> sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        self.migrator().run(&self.pool).await?;
        Ok(())
    }

    /// How many of this build's migrations the database has not applied.
    pub async fn pending_migrations(&self) -> Result<usize> {
        let applied: Vec<i64> = match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(&self.pool).await {
            Ok(v) => v,
            Err(sqlx::Error::Database(_)) => Vec::new(), // no migrations table: nothing applied
            Err(e) => return Err(e.into()),
        };
        Ok(self.migrator().iter().filter(|m| !applied.contains(&m.version)).count())
    }

    /// A read-only snapshot: every read through it sees the database as of its first read.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
        }
        Ok(Snapshot { tx })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.pool.acquire().await?)
    }

    pub async fn begin_write(&self) -> Result<WriteTx> {
        let guard = match &self.writer {
            Some(m) => Some(m.clone().lock_owned().await),
            None => None,
        };
        let tx = self.pool.begin().await?;
        Ok(WriteTx { tx: Some(tx), writer: guard })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Converts a stored 0/1 flag.
pub(crate) fn flag(v: i64) -> bool {
    v != 0
}
