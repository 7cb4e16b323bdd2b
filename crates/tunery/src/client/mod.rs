//! The command-line client for a running server: global flags, the command tree, and
//! dispatch. `run` answers the process exit code; errors become `error: …` and exit 1 in main.

mod commands;
mod context;
mod http;
mod output;
mod paging;
mod password;
mod profile;
mod progress;

use commands::{
    audit, auth, chat, cluster, datasets, deploy, estimate, eval, jobs, keys, models, orgs, prices, projects, quotas, safety, templates,
    users,
};

/// Flags of every client command (`--server`, `--profile`, `--json`, `--api-key`).
#[derive(Clone, clap::Args)]
#[command(next_help_heading = "Client options")]
pub struct GlobalArgs {
    /// The server's URL [default: the profile's server, else http://127.0.0.1:8080].
    #[arg(long, env = "TUNERY_SERVER", global = true, value_name = "URL")]
    pub server: Option<String>,
    /// The profile in the configuration file that holds the server and login.
    #[arg(long, env = "TUNERY_PROFILE", global = true, default_value = "default", value_name = "NAME")]
    pub profile: String,
    /// Print the server's JSON answers instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Authenticate with this API key instead of the profile's login.
    #[arg(long, env = "TUNERY_API_KEY", global = true, hide_env_values = true, value_name = "KEY")]
    pub api_key: Option<String>,
}

/// Shows whether an API key is set, never the key.
impl std::fmt::Debug for GlobalArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalArgs")
            .field("server", &self.server)
            .field("profile", &self.profile)
            .field("json", &self.json)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Create an account (the first one of a new install becomes its administrator).
    Register(auth::RegisterArgs),
    /// Log in and keep the session's tokens in the profile.
    Login(auth::LoginArgs),
    /// End the session and forget its tokens.
    Logout,
    /// Show who is logged in (or whose API key is used).
    Whoami,
    /// Users of the organization and invitations.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Projects and their members.
    #[command(subcommand)]
    Projects(projects::ProjectsCommand),
    /// Organizations.
    #[command(subcommand)]
    Orgs(orgs::OrgsCommand),
    /// The organization's audit log (administrators).
    AuditEvents(audit::AuditArgs),
    /// Datasets: upload (resumable), list, versions, statistics, validation errors, previews,
    /// downloads.
    #[command(subcommand)]
    Datasets(datasets::DatasetsCommand),
    /// Base models (catalog, imported, compare, import) and fine-tuned models.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Memory, time and cost of a fine-tuning run before submitting it (exit code 3 when it
    /// does not fit this installation's device).
    Estimate(estimate::EstimateArgs),
    /// Fine-tuning jobs: create, list, show, cancel, resume, logs, watch.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Configuration templates of fine-tuning jobs, per project (`jobs create --template`).
    #[command(subcommand)]
    Templates(templates::TemplatesCommand),
    /// The cluster: nodes and free GPUs, running jobs, and the queue with why each job waits.
    Cluster,
    /// Quotas and budgets of the organization, projects and users, with this month's use.
    #[command(subcommand)]
    Quotas(quotas::QuotasCommand),
    /// Prices per GPU-hour by GPU type, which costs, estimates and budgets use.
    #[command(subcommand)]
    Prices(prices::PricesCommand),
    /// Deployments: serve a model behind the OpenAI-compatible gateway (/v1/chat/completions).
    #[command(subcommand)]
    Deploy(deploy::DeployCommand),
    /// Chat with a model (a deployment, or any fine-tuned or base model, deployed on demand).
    Chat(chat::ChatArgs),
    /// Usage: inference requests, tokens and latency per minute or day; training GPU-hours and cost.
    Usage(deploy::UsageArgs),
    /// Content safety: the organization's content policy and what it did.
    #[command(subcommand)]
    Safety(safety::SafetyCommand),
    /// Evaluation: score a predictions file here (BLEU, chrF, ROUGE, exact match, F1, …; no
    /// server needed), or evaluate models on test sets on the server.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
}

pub async fn run(global: GlobalArgs, cmd: ClientCommand) -> anyhow::Result<u8> {
    let ctx = context::Context::new(global)?;
    match cmd {
        ClientCommand::Register(a) => auth::register(&ctx, a).await,
        ClientCommand::Login(a) => auth::login(&ctx, a).await,
        ClientCommand::Logout => auth::logout(&ctx).await,
        ClientCommand::Whoami => auth::whoami(&ctx).await,
        ClientCommand::Users(c) => users::run(&ctx, c).await,
        ClientCommand::Keys(c) => keys::run(&ctx, c).await,
        ClientCommand::Projects(c) => projects::run(&ctx, c).await,
        ClientCommand::Orgs(c) => orgs::run(&ctx, c).await,
        ClientCommand::AuditEvents(a) => audit::run(&ctx, a).await,
        ClientCommand::Datasets(c) => datasets::run(&ctx, c).await,
        ClientCommand::Models(c) => models::run(&ctx, c).await,
        ClientCommand::Estimate(a) => estimate::run(&ctx, a).await,
        ClientCommand::Jobs(c) => jobs::run(&ctx, c).await,
        ClientCommand::Templates(c) => templates::run(&ctx, c).await,
        ClientCommand::Cluster => cluster::run(&ctx).await,
        ClientCommand::Quotas(c) => quotas::run(&ctx, c).await,
        ClientCommand::Prices(c) => prices::run(&ctx, c).await,
        ClientCommand::Deploy(c) => deploy::run(&ctx, c).await,
        ClientCommand::Chat(a) => chat::run(&ctx, a).await,
        ClientCommand::Usage(a) => deploy::usage(&ctx, a).await,
        ClientCommand::Safety(c) => safety::run(&ctx, c).await,
        ClientCommand::Eval(c) => eval::run(&ctx, c).await,
    }
}
