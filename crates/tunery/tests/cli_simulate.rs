//! `tunery simulate`: a synthetic trace and cluster written by `--generate`, replayed through
//! each policy by the binary with no server; a trace with a bad line refused naming it.

mod common;

use common::Cli;

#[test]
fn a_generated_trace_replays_through_each_policy_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let (trace, cluster) = (dir.path().join("trace.jsonl"), dir.path().join("cluster.json"));
    let (trace, cluster) = (trace.to_str().unwrap(), cluster.to_str().unwrap());
    // Nothing listens there: the command never calls a server.
    let cli = Cli::new("http://127.0.0.1:9");
    let made = cli.ok(&["simulate", "--generate", "--jobs", "300", "--users", "8", "--gpus", "32", "--trace", trace, "--cluster", cluster]);
    assert!(made.contains("wrote 300 jobs") && made.contains("4 nodes"), "{made}");
    let run = |policy: &str| cli.json(&["simulate", "--trace", trace, "--cluster", cluster, "--policy", policy]);
    let (fifo, tunery) = (run("fifo"), run("tunery"));
    for r in [&fifo, &tunery] {
        assert_eq!(r["jobs"], 300, "{r}");
        let u = r["utilization"].as_f64().unwrap();
        assert!(u > 0.0 && u <= 1.0, "{r}");
    }
    assert!(tunery["mean_completion_s"].as_f64() < fifo["mean_completion_s"].as_f64(), "tunery {tunery}\nfifo {fifo}");
    let table = cli.ok(&["simulate", "--trace", trace, "--cluster", cluster, "--policy", "backfill"]);
    assert!(table.contains("policy backfill: 300 jobs") && table.contains("fairness (Jain)"), "{table}");

    // A bad line is named, with its field.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\":\"a\",\"arrival_s\":0,\"user\":\"u\",\"gpus\":1,\"duration_s\":60}\n{\"id\":\"b\",\"arrival_s\":0,\"user\":\"u\",\"gpus\":0,\"duration_s\":60}\n").unwrap();
    let refused = cli.fails(&["simulate", "--trace", bad.to_str().unwrap(), "--cluster", cluster], 1);
    assert!(refused.contains("line 2") && refused.contains("\"gpus\""), "{refused}");
    // A job no node can hold is refused naming it.
    std::fs::write(&bad, "{\"id\":\"big\",\"arrival_s\":0,\"user\":\"u\",\"gpus\":64,\"duration_s\":60}\n").unwrap();
    let refused = cli.fails(&["simulate", "--trace", bad.to_str().unwrap(), "--cluster", cluster], 1);
    assert!(refused.contains("job big") && refused.contains("64 GPUs"), "{refused}");
}
