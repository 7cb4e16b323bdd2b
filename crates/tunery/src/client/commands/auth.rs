//! `register`, `login`, `logout` and `whoami`: accounts and the profile's login session.

use crate::client::context::Context;
use crate::client::http::ApiError;
use crate::client::output::{self, print_kv, s, time, yes_no};
use crate::client::password::PasswordSource;
use anyhow::Result;
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// The token of an invitation (needed unless the organization is open or the install is new).
    #[arg(long)]
    pub invitation_token: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Default: the email the profile last logged in with.
    #[arg(long)]
    pub email: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

pub async fn register(ctx: &Context, a: RegisterArgs) -> Result<u8> {
    let password = PasswordSource { from_stdin: a.password_stdin, confirm: true }.read("Password: ")?;
    let mut api = ctx.anonymous()?;
    let mut body = json!({ "email": a.email, "name": a.name, "password": password });
    if let Some(token) = a.invitation_token {
        body["invitation_token"] = json!(token);
    }
    let user = api.post("/api/v1/auth/register", &body).await?;
    if ctx.json {
        output::json(&user);
        return Ok(0);
    }
    println!("Registered {} ({}) at {}", s(&user, "email"), s(&user, "id"), api.server());
    println!("Organization role: {}", s(&user, "role"));
    if user.get("is_instance_admin").and_then(Value::as_bool).unwrap_or(false) {
        println!("This account is an instance administrator.");
    }
    println!("Next: tunery login --email {}{}", s(&user, "email"), ctx.profile_flag());
    Ok(0)
}

pub async fn login(ctx: &Context, a: LoginArgs) -> Result<u8> {
    let profile = ctx.load_profile()?;
    let Some(email) = a.email.or(profile.email.clone()) else {
        anyhow::bail!("which account? pass --email");
    };
    let password = PasswordSource { from_stdin: a.password_stdin, confirm: false }.read("Password: ")?;
    let mut api = ctx.anonymous()?;
    let tokens = api.post("/api/v1/auth/login", &json!({ "email": email, "password": password })).await?;
    let token = |key: &str| tokens.get(key).and_then(Value::as_str).map(str::to_string);
    let (Some(access), Some(refresh)) = (token("access_token"), token("refresh_token")) else {
        anyhow::bail!("the server's login answer has no tokens");
    };
    let server = api.server().to_string();
    ctx.store.update_profile(&ctx.profile, |p| {
        p.server = Some(server.clone());
        p.email = Some(email.clone());
        p.access_token = Some(access);
        p.refresh_token = Some(refresh);
    })?;
    if ctx.json {
        output::json(&json!({
            "email": email,
            "server": server,
            "profile": ctx.profile,
            "user_id": tokens.get("user_id"),
            "expires_in": tokens.get("expires_in"),
        }));
    } else {
        println!("Logged in as {email} at {server} (profile {})", ctx.profile);
    }
    Ok(0)
}

/// Ends the session on the server and removes the tokens from the profile (even when the
/// server could not be told; that is then reported and the exit code is 1).
pub async fn logout(ctx: &Context) -> Result<u8> {
    let profile = ctx.load_profile()?;
    let server = ctx.server(&profile);
    let ended = match ctx.session_api(profile) {
        Ok(None) => {
            println!("Not logged in (profile {})", ctx.profile);
            return Ok(0);
        }
        Ok(Some(mut api)) => match api.request(Method::POST, "/api/v1/auth/logout", &[], None).await {
            Ok(_) => Ok(()),
            // The session had already ended (revoked, expired): nothing is left to end.
            Err(e) if ApiError::find(&e).is_some_and(|a| a.status == 401) => Ok(()),
            Err(e) => Err(e),
        },
        Err(e) => return Err(e),
    };
    ctx.store.update_profile(&ctx.profile, |p| {
        p.access_token = None;
        p.refresh_token = None;
    })?;
    match ended {
        Ok(()) => {
            if ctx.json {
                output::json(&json!({ "logged_out": true, "server": server, "profile": ctx.profile }));
            } else {
                println!("Logged out of {server} (profile {})", ctx.profile);
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("error: the server was not told to end the session: {e:#}");
            eprintln!("the tokens were removed from profile {} anyway", ctx.profile);
            Ok(1)
        }
    }
}

pub async fn whoami(ctx: &Context) -> Result<u8> {
    let mut api = ctx.authenticated()?;
    let me = api.get("/api/v1/me", &[]).await?;
    if ctx.json {
        output::json(&me);
        return Ok(0);
    }
    let user = me.get("user").cloned().unwrap_or(Value::Null);
    let org = me.get("organization").cloned().unwrap_or(Value::Null);
    let auth = match s(&me, "auth").as_str() {
        "api_key" => format!("API key {}", s(&me, "api_key_id")),
        other => other.to_string(),
    };
    let projects: Vec<String> = me
        .get("projects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| format!("{} ({})", s(m, "project_id"), s(m, "role")))
        .collect();
    let mut pairs = vec![
        ("user", format!("{} <{}>", s(&user, "name"), s(&user, "email"))),
        ("id", s(&user, "id")),
        ("role", s(&user, "role")),
        ("instance admin", yes_no(&user, "is_instance_admin")),
        ("organization", format!("{} ({})", s(&org, "name"), s(&org, "id"))),
        ("auth", auth),
        ("server", api.server().to_string()),
        ("member since", time(&user, "created_at")),
        ("permissions", output::list(&me, "permissions")),
        ("projects", if projects.is_empty() { "-".into() } else { projects.join(", ") }),
    ];
    if me.get("project_restriction").is_some_and(|v| !v.is_null()) {
        pairs.push(("limited to project", s(&me, "project_restriction")));
    }
    print_kv(&pairs);
    Ok(0)
}
