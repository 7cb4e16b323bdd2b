//! `tunery users …`: the organization's users and invitations.

use crate::client::context::Context;
use crate::client::http::seg;
use crate::client::output::{self, print_kv, s, time, yes_no, Table};
use crate::client::paging::{self, ListArgs};
use crate::client::password::PasswordSource;
use anyhow::Result;
use serde_json::{json, Value};

pub const ROLES: [&str; 4] = ["admin", "researcher", "developer", "viewer"];

#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// List the organization's users.
    List(ListArgs),
    /// Create a user (password from --password-stdin, TUNERY_PASSWORD or a prompt).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ROLES)]
        role: String,
        /// Read the new user's password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Show a user.
    Show { id: String },
    /// Change a user's name or role.
    #[command(group(clap::ArgGroup::new("changes").required(true).multiple(true).args(["name", "role"])))]
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = ROLES)]
        role: Option<String>,
    },
    /// Disable a user: their sessions and API keys stop working.
    Disable { id: String },
    /// Enable a disabled user.
    Enable { id: String },
    /// Invite someone by email; prints the one-time token they register with.
    Invite {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ROLES)]
        role: String,
    },
    /// List invitations.
    Invitations(ListArgs),
    /// Revoke an invitation that has not been used.
    RevokeInvitation { id: String },
}

pub async fn run(ctx: &Context, cmd: UsersCommand) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    match cmd {
        UsersCommand::List(args) => {
            let list = paging::fetch(&mut api, "/api/v1/users", &[], &args).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["ID", "EMAIL", "NAME", "ROLE", "DISABLED"]);
                for u in output::items(&list) {
                    t.row(vec![s(u, "id"), s(u, "email"), s(u, "name"), s(u, "role"), yes_no(u, "disabled")]);
                }
                t.print();
                paging::hint_more(&list);
            }
        }
        UsersCommand::Create { email, name, role, password_stdin } => {
            let password = PasswordSource { from_stdin: password_stdin, confirm: true }.read("Password for the new user: ")?;
            let body = json!({ "email": email, "name": name, "role": role, "password": password });
            show_user(ctx, &api.post("/api/v1/users", &body).await?);
        }
        UsersCommand::Show { id } => show_user(ctx, &api.get(&format!("/api/v1/users/{}", seg(&id)), &[]).await?),
        UsersCommand::Update { id, name, role } => {
            let mut body = json!({});
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            if let Some(role) = role {
                body["role"] = json!(role);
            }
            show_user(ctx, &api.patch(&format!("/api/v1/users/{}", seg(&id)), &body).await?);
        }
        UsersCommand::Disable { id } => {
            show_user(ctx, &api.patch(&format!("/api/v1/users/{}", seg(&id)), &json!({ "disabled": true })).await?)
        }
        UsersCommand::Enable { id } => {
            show_user(ctx, &api.patch(&format!("/api/v1/users/{}", seg(&id)), &json!({ "disabled": false })).await?)
        }
        UsersCommand::Invite { email, role } => {
            let inv = api.post("/api/v1/invitations", &json!({ "email": email, "role": role })).await?;
            if ctx.json {
                output::json(&inv);
            } else {
                println!(
                    "Invited {} as {} (invitation {}, expires {} UTC)",
                    s(&inv, "email"),
                    s(&inv, "role"),
                    s(&inv, "id"),
                    time(&inv, "expires_at")
                );
                println!();
                println!("    {}", s(&inv, "token"));
                println!();
                println!("This token is shown only now. The invitee registers with:");
                println!("    tunery register --server {} --email {} --name NAME --invitation-token TOKEN", api.server(), s(&inv, "email"));
            }
        }
        UsersCommand::Invitations(args) => {
            let list = paging::fetch(&mut api, "/api/v1/invitations", &[], &args).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["ID", "EMAIL", "ROLE", "CREATED", "EXPIRES", "STATUS"]);
                for i in output::items(&list) {
                    t.row(vec![
                        s(i, "id"),
                        s(i, "email"),
                        s(i, "role"),
                        time(i, "created_at"),
                        time(i, "expires_at"),
                        invitation_status(i),
                    ]);
                }
                t.print();
                paging::hint_more(&list);
            }
        }
        UsersCommand::RevokeInvitation { id } => {
            api.delete(&format!("/api/v1/invitations/{}", seg(&id))).await?;
            if ctx.json {
                output::json(&json!({ "id": id, "object": "invitation", "revoked": true }));
            } else {
                println!("Revoked invitation {id}");
            }
        }
    }
    Ok(0)
}

fn show_user(ctx: &Context, u: &Value) {
    if ctx.json {
        output::json(u);
        return;
    }
    print_kv(&[
        ("id", s(u, "id")),
        ("email", s(u, "email")),
        ("name", s(u, "name")),
        ("role", s(u, "role")),
        ("instance admin", yes_no(u, "is_instance_admin")),
        ("disabled", yes_no(u, "disabled")),
        ("locked until", time(u, "locked_until")),
        ("organization", s(u, "organization_id")),
        ("created", time(u, "created_at")),
        ("updated", time(u, "updated_at")),
    ]);
}

fn invitation_status(i: &Value) -> String {
    let set = |key: &str| i.get(key).is_some_and(|v| !v.is_null());
    if set("accepted_at") {
        "accepted".into()
    } else if set("revoked_at") {
        "revoked".into()
    } else if i.get("expires_at").and_then(Value::as_i64).is_some_and(|e| e <= output::now_unix()) {
        "expired".into()
    } else {
        "pending".into()
    }
}
