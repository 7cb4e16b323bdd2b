//! End to end: the command-line client against a real `tunery serve` process (SQLite in a
//! temporary directory), with its configuration in another temporary directory.

mod common;

use common::{Cli, ServerProcess};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

const ADMIN_EMAIL: &str = "ada@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// Registers the first user (the administrator) and logs in.
fn register_and_login(cli: &Cli) {
    let out =
        cli.ok_with(&["register", "--email", ADMIN_EMAIL, "--name", "Ada Lovelace", "--password-stdin"], &format!("{ADMIN_PASSWORD}\n"));
    assert!(out.contains(ADMIN_EMAIL), "{out}");
    let out = cli.ok_with(&["login", "--email", ADMIN_EMAIL, "--password-stdin"], &format!("{ADMIN_PASSWORD}\n"));
    assert_eq!(out.trim(), format!("Logged in as {ADMIN_EMAIL} at {} (profile default)", cli.server));
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

#[test]
fn accounts_keys_projects_and_logout() {
    let mut server = ServerProcess::start(&[]);
    let cli = Cli::new(&server.url);

    // Nobody is logged in yet.
    let err = cli.fails(&["whoami"], 1);
    assert!(err.contains("not logged in: run `tunery login`"), "{err}");

    register_and_login(&cli);

    let me = cli.json(&["whoami"]);
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);
    assert_eq!(me["user"]["role"], "admin");
    assert_eq!(me["auth"], "session");
    let admin_id = me["user"]["id"].as_str().expect("user id").to_string();
    let human = cli.ok(&["whoami"]);
    assert!(human.contains(ADMIN_EMAIL) && human.contains("session"), "{human}");

    // The configuration file is private and holds tokens, never the password.
    let mode = std::fs::metadata(cli.config_path()).expect("config file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let config = std::fs::read_to_string(cli.config_path()).expect("config");
    assert!(!config.contains(ADMIN_PASSWORD), "{config}");
    assert!(cli.profile_field("default", "access_token").is_some());
    assert_eq!(cli.profile_field("default", "server").as_deref(), Some(server.url.as_str()));
    assert_eq!(cli.profile_field("default", "email").as_deref(), Some(ADMIN_EMAIL));

    // Users.
    let bob = cli.ok_with(
        &["--json", "users", "create", "--email", "bob@example.com", "--name", "Bob", "--role", "researcher", "--password-stdin"],
        "bob's password 123\n",
    );
    let bob: Value = serde_json::from_str(&bob).expect("user JSON");
    let bob_id = id_of(&bob);
    assert_eq!(bob["role"], "researcher");
    let table = cli.ok(&["users", "list"]);
    let header = table.lines().next().expect("header");
    for column in ["ID", "EMAIL", "NAME", "ROLE", "DISABLED"] {
        assert!(header.contains(column), "{table}");
    }
    assert!(table.contains("bob@example.com") && table.contains(ADMIN_EMAIL) && table.contains(&bob_id), "{table}");
    let all = cli.json(&["users", "list", "--limit", "1", "--all"]);
    assert_eq!(all["data"].as_array().map(Vec::len), Some(2), "{all}");
    assert_eq!(all["has_more"], false);
    let one = cli.json(&["users", "list", "--limit", "1"]);
    assert_eq!((one["data"].as_array().map(Vec::len), &one["has_more"]), (Some(1), &Value::Bool(true)), "{one}");
    let shown = cli.json(&["users", "show", &bob_id]);
    assert_eq!(shown["email"], "bob@example.com");
    // An update without changes is a usage error.
    cli.fails(&["users", "update", &bob_id], 2);

    // API keys: the secret is printed once, and works until revoked.
    let created = cli.ok(&["keys", "create", "--name", "ci"]);
    assert_eq!(created.matches("tk_").count(), 1, "the key is printed once:\n{created}");
    let key = created.split_whitespace().find(|w| w.starts_with("tk_")).expect("a key").to_string();
    assert!(created.contains("only now"), "{created}");
    let listed = cli.ok(&["keys", "list"]);
    assert!(listed.contains("ci") && !listed.contains(&key), "{listed}");
    let keys = cli.json(&["keys", "list"]);
    let key_id = id_of(&keys["data"][0]);
    assert!(keys["data"][0].get("key").is_none(), "{keys}");

    let as_key = cli.json(&["whoami", "--api-key", &key]);
    assert_eq!(as_key["auth"], "api_key");
    assert_eq!(as_key["user"]["email"], ADMIN_EMAIL);
    let out = cli.run_with(&["--json", "whoami"], "", &[("TUNERY_API_KEY", &key)]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("api_key"), "{}", common::describe(&out));

    let revoked = cli.ok(&["keys", "revoke", &key_id]);
    assert!(revoked.contains(&key_id), "{revoked}");
    let err = cli.fails(&["whoami", "--api-key", &key], 1);
    assert!(err.contains("api_key_revoked") && err.starts_with("error: "), "{err}");

    // Projects and members.
    let project = cli.json(&["projects", "create", "Demo", "--description", "the demo project"]);
    let project_id = id_of(&project);
    assert_eq!(project["my_role"], "admin");
    let projects = cli.ok(&["projects", "list"]);
    assert!(projects.contains("Demo") && projects.contains(&project_id) && projects.contains("MY ROLE"), "{projects}");
    // By the email Bob signs in with; the answer names him by id.
    let added = cli.ok(&["projects", "add-member", &project_id, "--user", "bob@example.com", "--role", "viewer"]);
    assert!(added.contains(&bob_id) && added.contains("Bob"), "{added}");
    let members = cli.ok(&["projects", "members", &project_id]);
    let bob_line = members.lines().find(|l| l.contains(&bob_id)).unwrap_or_else(|| panic!("bob is a member:\n{members}"));
    assert!(bob_line.contains("viewer") && members.contains("EMAIL"), "{members}");
    assert!(members.contains(&admin_id), "{members}");
    cli.ok(&["projects", "set-role", &project_id, "--user", &bob_id, "--role", "developer"]);
    let members = cli.json(&["projects", "members", &project_id]);
    let roles: Vec<(&str, &str)> = members["data"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["user_id"].as_str().unwrap_or(""), m["role"].as_str().unwrap_or("")))
        .collect();
    assert!(roles.contains(&(bob_id.as_str(), "developer")), "{members}");
    cli.ok(&["projects", "remove-member", &project_id, "--user", &bob_id]);
    let members = cli.ok(&["projects", "members", &project_id]);
    assert!(!members.contains(&bob_id), "{members}");
    let err = cli.fails(&["projects", "show", "prj_does_not_exist"], 1);
    assert!(err.contains("(not_found)"), "{err}");

    // Prices: the administrator (the instance's first) sets one and resets it.
    let set = cli.json(&["prices", "set", "cpu", "--on-demand", "0.75", "--spot", "0.25"]);
    assert_eq!((set["on_demand"].as_f64(), set["spot"].as_f64(), set["source"].as_str()), (Some(0.75), Some(0.25), Some("set")), "{set}");
    let listed = cli.ok(&["prices", "list"]);
    assert!(listed.lines().any(|l| l.starts_with("cpu") && l.contains("0.7500") && l.contains("0.2500") && l.contains("set")), "{listed}");
    let reset = cli.ok(&["prices", "reset", "cpu"]);
    assert!(reset.starts_with("cpu:") && !reset.contains("(set)"), "{reset}");
    let err = cli.fails(&["prices", "reset", "cpu"], 1);
    assert!(err.contains("(not_found)"), "{err}");

    // The audit log saw all of it.
    let audit = cli.ok(&["audit-events", "--limit", "100"]);
    assert!(audit.contains("SEQ") && audit.contains("project.create") && audit.contains("api_key"), "{audit}");

    // Logout forgets the tokens; then nothing works without logging in again.
    let out = cli.ok(&["logout"]);
    assert!(out.contains("Logged out"), "{out}");
    assert!(cli.profile_field("default", "access_token").is_none());
    assert!(cli.profile_field("default", "refresh_token").is_none());
    let err = cli.fails(&["whoami"], 1);
    assert!(err.contains("not logged in"), "{err}");

    let status = server.terminate();
    assert!(status.success(), "the server stops cleanly on SIGTERM: {status}\n{}", server.logs());
}

#[test]
fn an_expired_access_token_is_refreshed() {
    let server = ServerProcess::start(&["--access-token-ttl-s", "1"]);
    let cli = Cli::new(&server.url);
    register_and_login(&cli);
    let access = cli.profile_field("default", "access_token").expect("access token");
    let refresh = cli.profile_field("default", "refresh_token").expect("refresh token");

    std::thread::sleep(std::time::Duration::from_secs(2));
    let me = cli.json(&["whoami"]);
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);

    let new_refresh = cli.profile_field("default", "refresh_token").expect("refresh token");
    assert_ne!(new_refresh, refresh, "the refresh token was rotated and saved");
    assert_ne!(cli.profile_field("default", "access_token").expect("access token"), access);
    let mode = std::fs::metadata(cli.config_path()).expect("config file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
