//! `domain` must stay pure: no async runtime, database, web or HTTP crate may enter its tree.

use std::process::Command;

#[test]
fn domain_depends_on_no_io_crate() {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "-p", "domain", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    let forbidden = ["tokio", "sqlx", "axum", "hyper", "reqwest", "async-std", "mio", "tower"];
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        assert!(!forbidden.contains(&name), "domain depends on {name}: {line}");
    }
    assert!(tree.lines().count() > 1, "cargo tree printed nothing: {tree}");
}
