//! The command-line client (being written).

#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Show who is logged in.
    Whoami,
}

pub async fn run(_global: GlobalArgs, _cmd: ClientCommand) -> anyhow::Result<u8> {
    anyhow::bail!("the client is not built yet")
}
