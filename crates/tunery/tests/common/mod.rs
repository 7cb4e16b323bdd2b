//! Helpers for the end-to-end tests of the `tunery` binary: a real server process
//! ([`ServerProcess`]) and the command-line client run against it in a private configuration
//! directory ([`Cli`]). Each test file uses some of them, so unused ones are allowed.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The binary under test.
pub fn tunery_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tunery")
}

/// How long a server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Removes the `TUNERY_*` variables of the test's own environment (and `XDG_CONFIG_HOME`) from
/// a command, so that only what the test sets reaches the process.
fn scrub_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TUNERY_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("XDG_CONFIG_HOME");
}

/// A `tunery serve` process.
///
/// It listens on `127.0.0.1:0` (a free port) with its SQLite database in a temporary data
/// directory that it owns and deletes on drop; an `--listen` or `--data-dir` in `args` replaces
/// that default (the caller then owns the directory). The process gets no `TUNERY_*`
/// variables from the test's environment except those passed to [`ServerProcess::start_with_env`].
/// Its standard error (the logs) is collected for [`ServerProcess::logs`]. Drop kills it.
pub struct ServerProcess {
    /// `http://127.0.0.1:PORT`, from the line the server prints once it is ready.
    pub url: String,
    /// The data directory in use.
    pub data_dir: PathBuf,
    child: Child,
    logs: Arc<Mutex<String>>,
    _owned_dir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// Starts `tunery serve` with the defaults above followed by `args`, and waits until it
    /// listens. Panics (with the server's logs) when it does not start.
    pub fn start(args: &[&str]) -> ServerProcess {
        ServerProcess::start_with_env(args, &[])
    }

    /// Like [`ServerProcess::start`], with environment variables set for the server.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        ServerProcess::start_in(None, args, env)
    }

    /// Like [`ServerProcess::start_with_env`], started in `cwd` (relative paths in `args` are
    /// relative to it, as for a user who runs `scripts/run.sh`).
    pub fn start_in(cwd: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let has = |flag: &str| args.iter().any(|a| *a == flag || a.starts_with(&format!("{flag}=")));
        let mut cmd = Command::new(tunery_bin());
        scrub_env(&mut cmd);
        cmd.arg("serve");
        if !has("--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let (owned_dir, data_dir) = if has("--data-dir") {
            let given = flag_value(args, "--data-dir").map(PathBuf::from).unwrap_or_default();
            (None, cwd.map(|c| c.join(&given)).unwrap_or(given))
        } else {
            let dir = tempfile::tempdir().expect("create a data directory");
            cmd.arg("--data-dir").arg(dir.path());
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        };
        cmd.args(args).envs(env.iter().copied()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start the tunery server");

        let logs = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("server stderr");
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("log buffer").push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("tunery listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let mut server = ServerProcess { url: String::new(), data_dir, child, logs, _owned_dir: owned_dir };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => server.url = url,
            Err(_) => {
                let status = server.child.try_wait().ok().flatten();
                panic!("the server did not start (exit status: {status:?}); its logs:\n{}", server.logs());
            }
        }
        server
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote to standard error so far.
    pub fn logs(&self) -> String {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Kills the server at once (SIGKILL) and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the server to stop (SIGTERM) and waits for it to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status;
        }
        let sent = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM {} failed", self.pid());
        self.child.wait().expect("wait for the server")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The value after `flag` in `args` (`--flag VALUE` or `--flag=VALUE`).
fn flag_value<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    let prefix = format!("{flag}=");
    args.iter().enumerate().find_map(|(i, a)| if *a == flag { args.get(i + 1).copied() } else { a.strip_prefix(prefix.as_str()) })
}

/// The command-line client with its own configuration directory (`TUNERY_CONFIG_HOME`) and
/// `HOME`, both temporary, talking to one server (`--server`).
pub struct Cli {
    pub server: String,
    config_home: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl Cli {
    pub fn new(server: &str) -> Cli {
        Cli {
            server: server.to_string(),
            config_home: tempfile::tempdir().expect("config dir"),
            home: tempfile::tempdir().expect("home dir"),
        }
    }

    /// The client's configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.config_home.path().join("config.toml")
    }

    pub fn config_home(&self) -> &Path {
        self.config_home.path()
    }

    /// The configuration file, parsed.
    pub fn config(&self) -> toml::Table {
        let text = std::fs::read_to_string(self.config_path()).expect("read the client config");
        toml::from_str(&text).expect("parse the client config")
    }

    /// A string field of a profile in the configuration file.
    pub fn profile_field(&self, profile: &str, key: &str) -> Option<String> {
        let config = self.config();
        let value = config.get("profiles")?.get(profile)?.get(key)?;
        value.as_str().map(str::to_string)
    }

    /// Runs `tunery --server URL ARGS…` with `stdin` as its standard input.
    pub fn run_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        self.run_in(None, args, stdin, env)
    }

    /// Runs a command in the working directory `dir` that must succeed; its standard output.
    pub fn ok_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run_in(Some(dir), args, "", &[]);
        assert!(out.status.success(), "tunery {args:?} in {} failed ({}):\n{}", dir.display(), out.status, describe(&out));
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Like [`Cli::run_with`], in the working directory `dir` when one is given.
    pub fn run_in(&self, dir: Option<&Path>, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(tunery_bin());
        if let Some(dir) = dir {
            cmd.current_dir(dir);
        }
        scrub_env(&mut cmd);
        cmd.env("TUNERY_CONFIG_HOME", self.config_home.path())
            .env("HOME", self.home.path())
            .envs(env.iter().copied())
            .args(["--server", &self.server])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run the tunery client");
        let mut input = child.stdin.take().expect("client stdin");
        // A client that does not read its input may exit first: ignore a broken pipe.
        let _ = input.write_all(stdin.as_bytes());
        drop(input);
        child.wait_with_output().expect("wait for the tunery client")
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, "", &[])
    }

    /// Runs a command that must succeed; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, "")
    }

    /// Runs a command that must succeed, with standard input; its standard output.
    pub fn ok_with(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run_with(args, stdin, &[]);
        assert!(out.status.success(), "tunery {args:?} failed ({}):\n{}", out.status, describe(&out));
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs a command with `--json` that must succeed; its output, parsed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("tunery {args:?} printed no JSON ({e}):\n{text}"))
    }

    /// Runs a command that must fail with `code`; its standard error.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "tunery {args:?} should exit {code}:\n{}", describe(&out));
        String::from_utf8(out.stderr).expect("utf-8 output")
    }
}

/// A process's output, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!("--- stdout\n{}--- stderr\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// An access token for `email` (registered first when `register`; the first account of a fresh
/// server becomes its administrator), through the real HTTP API.
pub async fn access_token(http: &reqwest::Client, url: &str, email: &str, password: &str, register: bool) -> String {
    if register {
        let r = http
            .post(format!("{url}/api/v1/auth/register"))
            .json(&serde_json::json!({"email": email, "name": "Admin", "password": password}))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201);
    }
    let login: serde_json::Value = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("a JSON answer");
    login["access_token"].as_str().expect("an access token").to_string()
}

/// Processes whose command line names `needle` (a work directory).
pub fn processes(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle)))
        .collect()
}

/// Runs `tunery ARGS --json` until `done` holds for its answer, at most `seconds`.
pub fn wait_json(cli: &Cli, args: &[&str], done: impl Fn(&serde_json::Value) -> bool, seconds: u64) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let v = cli.json(args);
        if done(&v) {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out on tunery {args:?}: {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Imports the tiny test model and uploads 24 short chats through the CLI: (base model id,
/// dataset id). `dir` holds the dataset file.
pub fn tiny_model_and_chats(cli: &Cli, dir: &Path) -> (String, String) {
    let tiny = test_support::tiny_model_dir().expect("the tiny test model");
    let base = cli.json(&["models", "import", "--name", "tiny", "--dir", tiny.to_str().unwrap(), "--wait"]);
    assert_eq!(base["status"], "ready", "{base}");
    let records: String = (0..24)
        .map(|i| {
            serde_json::json!({"messages": [{"role": "user", "content": format!("{i}?")}, {"role": "assistant", "content": format!("{i}!")}]})
                .to_string()
                + "\n"
        })
        .collect();
    let file = dir.join("chat.jsonl");
    std::fs::write(&file, records).expect("write the dataset");
    let ds = cli.json(&["datasets", "upload", file.to_str().unwrap(), "--name", "chat"]);
    let ds = ds["dataset"]["id"].as_str().or(ds["id"].as_str()).expect("a dataset id").to_string();
    (base["id"].as_str().expect("a model id").to_string(), ds)
}

/// Submits a small LoRA job of `steps` steps on the tiny model (checkpoint every 10 steps).
pub fn tiny_lora_job(cli: &Cli, base: &str, ds: &str, steps: &str) -> serde_json::Value {
    cli.json(&[
        "jobs",
        "create",
        "--model",
        base,
        "--dataset",
        ds,
        "--method",
        "lora",
        "--rank",
        "4",
        "--seq-len",
        "64",
        "--batch",
        "2",
        "--max-steps",
        steps,
        "--lr",
        "0.01",
        "--checkpoint-every",
        "10",
    ])
}

/// A free loopback port (for a server whose URL a test names before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port()
}

/// `tunery serve` with the real runtime (`python`) on `port`, data in `data`, and `extra` flags
/// and environment.
pub fn runtime_server(python: &Path, data: &Path, port: u16, extra: &[&str], env: &[(&str, &str)]) -> ServerProcess {
    let listen = format!("127.0.0.1:{port}");
    let runtime = test_support::runtime_dir();
    let mut args = vec![
        "--listen",
        &listen,
        "--data-dir",
        data.to_str().expect("a UTF-8 path"),
        "--runtime-python",
        python.to_str().expect("a UTF-8 path"),
        "--runtime-dir",
        runtime.to_str().expect("a UTF-8 path"),
    ];
    args.extend_from_slice(extra);
    ServerProcess::start_with_env(&args, env)
}
