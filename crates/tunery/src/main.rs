//! `tunery`: the server (`serve`), database tools (`migrate`, `audit verify`), the OpenAPI
//! export, the scheduling simulator (`simulate`), and the command-line client for a running server (`login`, `users`, `keys`, …).
//!
//! Only this binary reads the environment and configuration files; the libraries take typed
//! settings.

mod client;
mod config;
mod scheduling_config;
mod serve;
mod simulate;
mod telemetry;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "tunery", version, about = "Tunery: self-hosted fine-tuning platform (server and CLI)")]
struct Cli {
    #[command(flatten)]
    global: client::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(config::ServeArgs),
    /// Apply database migrations and exit.
    Migrate(config::ServeArgs),
    /// Write the OpenAPI document generated from the code.
    Openapi {
        /// Where to write it; `-` for standard output.
        #[arg(long, default_value = "docs/openapi.json")]
        output: String,
    },
    /// Audit log tools that read the database directly.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Encrypted blob storage tools.
    #[command(subcommand)]
    Blobs(BlobsCommand),
    /// Replay a job trace through a scheduling policy on a virtual clock (no server needed).
    Simulate(simulate::SimulateArgs),
    #[command(flatten)]
    Client(client::ClientCommand),
}

#[derive(Debug, Subcommand)]
enum BlobsCommand {
    /// Re-wrap every blob's data key under a new master key (generate one with
    /// `head -c 32 /dev/urandom | xxd -p -c 64 > new.key`).
    RotateKey {
        #[arg(long)]
        new_key_file: std::path::PathBuf,
        #[command(flatten)]
        server: config::ServeArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the audit log's hash chain; exits 1 if any record was altered or removed.
    Verify(config::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::serve(args).await,
            Command::Migrate(args) => serve::migrate(args).await,
            Command::Openapi { output } => write_openapi(&output),
            Command::Audit(AuditCommand::Verify(args)) => serve::verify_audit(args).await,
            Command::Blobs(BlobsCommand::RotateKey { new_key_file, server }) => serve::rotate_master_key(server, new_key_file).await,
            Command::Simulate(args) => simulate::run(args, cli.global.json),
            Command::Client(cmd) => client::run(cli.global, cmd).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn write_openapi(output: &str) -> anyhow::Result<u8> {
    let json = openapi_json()?;
    if output == "-" {
        print!("{json}");
    } else {
        std::fs::write(output, json).map_err(|e| anyhow::anyhow!("cannot write {output}: {e}"))?;
        eprintln!("wrote {output}");
    }
    Ok(0)
}

/// The OpenAPI document as committed in docs/openapi.json.
pub fn openapi_json() -> anyhow::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(&http_api::openapi())?))
}
