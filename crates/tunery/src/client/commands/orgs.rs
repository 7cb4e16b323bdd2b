//! `tunery orgs …`: organizations (tenants).

use super::users::ROLES;
use crate::client::context::Context;
use crate::client::http::seg;
use crate::client::output::{self, print_kv, s, time, yes_no, Table};
use crate::client::paging::{self, ListArgs};
use crate::client::password::PasswordSource;
use anyhow::Result;
use serde_json::{json, Value};

#[derive(Debug, clap::Subcommand)]
pub enum OrgsCommand {
    /// List organizations (yours; instance administrators: all).
    List(ListArgs),
    /// Show an organization.
    Show { id: String },
    /// Create an organization, optionally with its first administrator (instance administrators).
    Create {
        name: String,
        /// The first administrator's email; their password comes from --password-stdin,
        /// TUNERY_PASSWORD or a prompt.
        #[arg(long, requires = "admin_name")]
        admin_email: Option<String>,
        #[arg(long, requires = "admin_email")]
        admin_name: Option<String>,
        /// Read the administrator's password from the first line of standard input.
        #[arg(long, requires = "admin_email")]
        password_stdin: bool,
    },
    /// Change an organization's name or registration policy.
    #[command(group(clap::ArgGroup::new("changes").required(true).multiple(true).args(["name", "open_registration", "default_role"])))]
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Let anyone register into the organization (with the default role).
        #[arg(long, value_name = "true|false")]
        open_registration: Option<bool>,
        /// The role of users who join by open registration.
        #[arg(long, value_parser = ROLES)]
        default_role: Option<String>,
    },
}

pub async fn run(ctx: &Context, cmd: OrgsCommand) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    match cmd {
        OrgsCommand::List(args) => {
            let list = paging::fetch(&mut api, "/api/v1/organizations", &[], &args).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["ID", "NAME", "OPEN REGISTRATION", "DEFAULT ROLE"]);
                for o in output::items(&list) {
                    t.row(vec![s(o, "id"), s(o, "name"), yes_no(o, "open_registration"), s(o, "default_role")]);
                }
                t.print();
                paging::hint_more(&list);
            }
        }
        OrgsCommand::Show { id } => show_org(ctx, &api.get(&format!("/api/v1/organizations/{}", seg(&id)), &[]).await?),
        OrgsCommand::Create { name, admin_email, admin_name, password_stdin } => {
            let mut body = json!({ "name": name });
            if let (Some(email), Some(admin_name)) = (admin_email, admin_name) {
                let password = PasswordSource { from_stdin: password_stdin, confirm: true }.read("Administrator's password: ")?;
                body["admin"] = json!({ "email": email, "name": admin_name, "password": password });
            }
            let created = api.post("/api/v1/organizations", &body).await?;
            if ctx.json {
                output::json(&created);
            } else {
                let mut pairs = org_pairs(&created);
                if let Some(admin) = created.get("admin").filter(|a| !a.is_null()) {
                    pairs.push(("administrator", format!("{} <{}> ({})", s(admin, "name"), s(admin, "email"), s(admin, "id"))));
                }
                print_kv(&pairs);
            }
        }
        OrgsCommand::Update { id, name, open_registration, default_role } => {
            let mut body = json!({});
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            if let Some(o) = open_registration {
                body["open_registration"] = json!(o);
            }
            if let Some(r) = default_role {
                body["default_role"] = json!(r);
            }
            show_org(ctx, &api.patch(&format!("/api/v1/organizations/{}", seg(&id)), &body).await?);
        }
    }
    Ok(0)
}

fn show_org(ctx: &Context, o: &Value) {
    if ctx.json {
        output::json(o);
    } else {
        print_kv(&org_pairs(o));
    }
}

fn org_pairs(o: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("id", s(o, "id")),
        ("name", s(o, "name")),
        ("open registration", yes_no(o, "open_registration")),
        ("default role", s(o, "default_role")),
        ("created", time(o, "created_at")),
        ("updated", time(o, "updated_at")),
    ]
}
