//! `tunery projects …`: projects and their members.

use super::users::ROLES;
use crate::client::context::Context;
use crate::client::http::seg;
use crate::client::output::{self, print_kv, s, time, Table};
use crate::client::paging::{self, ListArgs};
use anyhow::Result;
use serde_json::{json, Value};

const VISIBILITIES: [&str; 3] = ["project", "organization", "private"];

#[derive(Debug, clap::Subcommand)]
pub enum ProjectsCommand {
    /// List the projects you can see.
    List(ListArgs),
    /// Create a project; you become its admin.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Who sees it: its members (project, the default), the whole organization, or you alone.
        #[arg(long, value_parser = VISIBILITIES)]
        visibility: Option<String>,
    },
    /// Show a project.
    Show { id: String },
    /// Change a project's name, description or visibility.
    #[command(group(clap::ArgGroup::new("changes").required(true).multiple(true).args(["name", "description", "visibility"])))]
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_parser = VISIBILITIES)]
        visibility: Option<String>,
    },
    /// Delete a project.
    Delete { id: String },
    /// List a project's members.
    Members { id: String },
    /// Add a user of the organization to a project.
    AddMember {
        id: String,
        /// The user's id, or the email they sign in with.
        #[arg(long, value_name = "USER_ID_OR_EMAIL")]
        user: String,
        #[arg(long, value_parser = ROLES)]
        role: String,
    },
    /// Change a member's project role.
    SetRole {
        id: String,
        #[arg(long, value_name = "USER_ID")]
        user: String,
        #[arg(long, value_parser = ROLES)]
        role: String,
    },
    /// Remove a member from a project.
    RemoveMember {
        id: String,
        #[arg(long, value_name = "USER_ID")]
        user: String,
    },
}

pub async fn run(ctx: &Context, cmd: ProjectsCommand) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    let project_path = |id: &str| format!("/api/v1/projects/{}", seg(id));
    match cmd {
        ProjectsCommand::List(args) => {
            let list = paging::fetch(&mut api, "/api/v1/projects", &[], &args).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["ID", "NAME", "VISIBILITY", "MY ROLE"]);
                for p in output::items(&list) {
                    t.row(vec![s(p, "id"), s(p, "name"), s(p, "visibility"), s(p, "my_role")]);
                }
                t.print();
                paging::hint_more(&list);
            }
        }
        ProjectsCommand::Create { name, description, visibility } => {
            let mut body = json!({ "name": name });
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            if let Some(v) = visibility {
                body["visibility"] = json!(v);
            }
            show_project(ctx, &api.post("/api/v1/projects", &body).await?);
        }
        ProjectsCommand::Show { id } => show_project(ctx, &api.get(&project_path(&id), &[]).await?),
        ProjectsCommand::Update { id, name, description, visibility } => {
            let mut body = json!({});
            crate::client::http::set_given(&mut body, [("name", name), ("description", description), ("visibility", visibility)]);
            show_project(ctx, &api.patch(&project_path(&id), &body).await?);
        }
        ProjectsCommand::Delete { id } => {
            api.delete(&project_path(&id)).await?;
            if ctx.json {
                output::json(&json!({ "id": id, "object": "project", "deleted": true }));
            } else {
                println!("Deleted project {id}");
            }
        }
        ProjectsCommand::Members { id } => {
            let list = api.get(&format!("{}/members", project_path(&id)), &[]).await?;
            if ctx.json {
                output::json(&list);
            } else {
                let mut t = Table::new(&["USER", "NAME", "EMAIL", "ROLE", "ADDED"]);
                for m in output::items(&list) {
                    t.row(vec![s(m, "user_id"), s(m, "name"), s(m, "email"), s(m, "role"), time(m, "added_at")]);
                }
                t.print();
            }
        }
        ProjectsCommand::AddMember { id, user, role } => {
            let who = if user.contains('@') { json!({ "email": user, "role": role }) } else { json!({ "user_id": user, "role": role }) };
            let m = api.post(&format!("{}/members", project_path(&id)), &who).await?;
            show_member(ctx, &m, "Added");
        }
        ProjectsCommand::SetRole { id, user, role } => {
            let m = api.patch(&format!("{}/members/{}", project_path(&id), seg(&user)), &json!({ "role": role })).await?;
            show_member(ctx, &m, "Updated");
        }
        ProjectsCommand::RemoveMember { id, user } => {
            api.delete(&format!("{}/members/{}", project_path(&id), seg(&user))).await?;
            if ctx.json {
                output::json(&json!({ "object": "project.member", "project_id": id, "user_id": user, "deleted": true }));
            } else {
                println!("Removed {user} from project {id}");
            }
        }
    }
    Ok(0)
}

fn show_project(ctx: &Context, p: &Value) {
    if ctx.json {
        output::json(p);
        return;
    }
    print_kv(&[
        ("id", s(p, "id")),
        ("name", s(p, "name")),
        ("description", s(p, "description")),
        ("visibility", s(p, "visibility")),
        ("my role", s(p, "my_role")),
        ("my permissions", output::list(p, "my_permissions")),
        ("created by", s(p, "created_by")),
        ("created", time(p, "created_at")),
        ("updated", time(p, "updated_at")),
    ]);
}

fn show_member(ctx: &Context, m: &Value, verb: &str) {
    if ctx.json {
        output::json(m);
    } else {
        println!(
            "{verb} {} <{}> ({}) in project {}: role {}",
            s(m, "name"),
            s(m, "email"),
            s(m, "user_id"),
            s(m, "project_id"),
            s(m, "role")
        );
    }
}
