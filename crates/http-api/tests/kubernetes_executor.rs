//! The Kubernetes executor against `test_support::kube::KubeApi`, an HTTP server that answers as
//! the Kubernetes API documents (no real cluster can run on these machines). First the client
//! alone — access check, create, follow the main pod's log through streams that end early,
//! stop — with the pods' states and logs set by the test; then the whole journey through the
//! server with the fake kubelet running each pod's command (the real runtime): a tiny-model job
//! runs as a Job, an urgent job preempts it (the Job deleted, SIGTERM, checkpoint), it resumes
//! as a new Job from its checkpoint, and a cancel deletes that one.

mod common;

use common::{cancel_and_wait, job_ended, last_checkpoint_step, queue_env, queue_job, queue_submit, runs_of, wait_resumed_past};
use executors::kubernetes::{KubeCluster, KubeConnection, WorkloadKind};
use executors::Message;
use serde_json::{json, Value};
use std::time::Duration;
use test_support::kube::{Container, KubeApi, Kubelet, TOKEN};

fn connection(api: &KubeApi) -> KubeConnection {
    KubeConnection { api_server: api.url.clone(), token_file: Some(api.token_file()), ca_file: None, namespace: "ml".into() }
}

fn job(name: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "ml"},
           "spec": {"template": {"metadata": {"labels": {"tunery.io/run": name, "tunery.io/role": "single"}}}}})
}

fn line(stamp: &str, text: &str) -> (String, String) {
    (stamp.to_string(), text.to_string())
}

async fn next_lines(messages: &mut tokio::sync::mpsc::Receiver<Message>, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.recv()).await.expect("a message in time").expect("open");
        got.push(match m {
            Message::Event(e) => format!("event:{}", e.raw["message"].as_str().unwrap_or_default()),
            Message::Stderr(l) => l,
            other => panic!("unexpected {other:?}"),
        });
    }
    got
}

#[tokio::test]
async fn a_run_is_created_followed_line_by_line_through_broken_streams_and_ends_with_its_exit_code() {
    let api = KubeApi::start(None).await;
    let k = KubeCluster::new(&connection(&api)).unwrap();
    k.check_access().await.unwrap();
    std::fs::write(api.token_file(), "rotated-wrong").unwrap();
    let refused = k.check_access().await.unwrap_err().to_string();
    assert!(refused.contains("refused GET /apis/batch/v1/namespaces/ml/jobs (401): Unauthorized"), "{refused}");
    // The token is read again at every call (Kubernetes rotates it).
    std::fs::write(api.token_file(), TOKEN).unwrap();

    k.create(WorkloadKind::Job, &job("tunery-run-1")).await.unwrap();
    k.create(WorkloadKind::Job, &job("tunery-run-1")).await.expect("an existing workload (a lost answer) is taken as created");
    let mut run = k.follow(WorkloadKind::Job, "tunery-run-1".into(), Duration::from_millis(50));
    {
        let mut c = api.cluster();
        let p = c.pod("tunery-run-1");
        p.container = Container::Running;
        p.log.push(line("2026-12-06T10:00:00.100000000Z", r#"{"event":"log","time":1,"level":"info","message":"loading"}"#));
        p.log.push(line("2026-12-06T10:00:00.2Z", "warming up"));
    }
    assert_eq!(next_lines(&mut run.messages, 2).await, ["event:loading", "warming up"]);
    {
        let mut c = api.cluster();
        let p = c.pod("tunery-run-1");
        p.log.push(line("2026-12-06T10:00:00.2Z", "same instant"));
        p.log.push(line("2026-12-06T10:00:01.000000001Z", "step 1"));
    }
    assert_eq!(next_lines(&mut run.messages, 2).await, ["same instant", "step 1"]);
    {
        let mut c = api.cluster();
        let p = c.pod("tunery-run-1");
        p.log.push(line("2026-12-06T10:00:02Z", "done"));
        p.container = Container::Terminated(0);
    }
    assert_eq!(next_lines(&mut run.messages, 1).await, ["done"]);
    let exit = tokio::time::timeout(Duration::from_secs(10), run.wait()).await.unwrap();
    assert_eq!(exit.code, Some(0), "{exit:?}");
    assert!(exit.stderr_tail.ends_with("warming up\nsame instant\nstep 1\ndone"), "each line once: {}", exit.stderr_tail);
    assert!(api.cluster().log_reads >= 3, "the streams that ended were opened again");
}

#[tokio::test]
async fn a_stopped_run_is_deleted_in_the_foreground_and_reads_as_stopped() {
    let api = KubeApi::start(None).await;
    let k = KubeCluster::new(&connection(&api)).unwrap();
    k.create(WorkloadKind::Job, &job("tunery-run-2")).await.unwrap();
    let mut run = k.follow(WorkloadKind::Job, "tunery-run-2".into(), Duration::from_millis(50));
    {
        let mut c = api.cluster();
        let p = c.pod("tunery-run-2");
        p.container = Container::Running;
        p.log.push(line("2026-12-06T10:00:00Z", "training"));
    }
    assert_eq!(next_lines(&mut run.messages, 1).await, ["training"]);
    run.terminate();
    let exit = tokio::time::timeout(Duration::from_secs(10), run.wait()).await.unwrap();
    assert_eq!(exit.code, Some(executors::protocol::EXIT_STOPPED), "{exit:?}");
    let foreground = json!({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"});
    // The stop's deletion, then the ended run's (nothing of a stopped run is left behind).
    assert_eq!(api.cluster().deletes, [("tunery-run-2".to_string(), foreground.clone()), ("tunery-run-2".to_string(), foreground)]);
    // Nothing is left to stop again.
    k.stop_and_wait(WorkloadKind::Job, "tunery-run-2", Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn a_cluster_without_the_training_operator_refuses_a_pytorchjob_naming_it() {
    let api = KubeApi::start(None).await;
    let k = KubeCluster::new(&connection(&api)).unwrap();
    let e = k.create(WorkloadKind::PyTorchJob, &json!({"kind": "PyTorchJob"})).await.unwrap_err().to_string();
    assert!(e.contains("no PyTorchJob API (for a PyTorchJob, install the Kubeflow training operator)"), "{e}");
    let gone = k.follow(WorkloadKind::Job, "tunery-run-missing".into(), Duration::from_millis(50)).wait().await;
    assert!(gone.code.is_none() && gone.stderr_tail.ends_with("the workload tunery-run-missing is gone from Kubernetes"), "{gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_jobs_run_as_kubernetes_jobs_with_events_preemption_resume_and_cancel() {
    let Some(runtime) = test_support::runtime_command() else { return };
    let api = KubeApi::start(Some(Kubelet { python: runtime.python.clone(), runtime_dir: runtime.runtime_dir.clone() })).await;
    let connection = connection(&api);
    let Some(e) = queue_env(test_support::Backend::Sqlite, |s| {
        s.scheduling.nodes = vec![scheduler::Node { id: "cpu-pool-1".into(), gpu_type: "cpu".into(), gpus: 1, gpu_memory_gib: 0.0 }];
        s.scheduling.kubernetes = Some(services::settings::KubernetesSettings {
            connection: connection.clone(),
            image: "registry.example.com/tunery-runtime:test".into(),
            queue: None,
            node_selectors: Default::default(),
            spot_taint: Some(("spot".into(), "true".into(), "NoSchedule".into())),
            data_claim: "tunery-data".into(),
            cpus_per_gpu: 2,
            memory_gib_per_gpu: 4,
        });
    })
    .await
    else {
        return;
    };

    // A spot job runs as a Job; its progress comes back from its pod's log.
    let spot = queue_submit(&e, &e.admin, queue_job(&e, "spot", 400, json!({"priority": "low", "preemptible": true}))).await;
    e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{spot}"), |b| b["current_step"].as_i64().unwrap_or(0) >= 3 || job_ended(b), 180).await;
    let first_run = runs_of(&e, &spot).await.remove(0);
    let name = executors::kubernetes::object_name(&first_run);
    let manifest = api.cluster().workloads.get(&name).cloned().expect("the run's Job");
    assert_eq!(manifest["metadata"]["labels"]["tunery.io/job-id"].as_str(), Some(spot.as_str()), "{manifest}");
    let pod = &manifest["spec"]["template"]["spec"];
    assert_eq!(pod["tolerations"], json!([{"key": "spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]), "{pod}");
    assert_eq!(pod["containers"][0]["resources"]["requests"], json!({"cpu": "2", "memory": "4Gi"}), "{pod}");
    let logs = e.app.get(&format!("/api/v1/jobs/{spot}/logs?limit=500"), &e.admin).await.expect(200).clone();
    assert!(logs.to_string().contains(&format!("submitted to Kubernetes (namespace ml) as Job {name}")), "{logs}");

    // An urgent job preempts it: its Job is deleted, the pod gets SIGTERM and the runtime saves
    // a checkpoint; the urgent job runs as its own Job and succeeds.
    let urgent = queue_submit(&e, &e.admin, queue_job(&e, "urgent", 2, json!({"priority": "urgent"}))).await;
    let waiting = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{spot}"), |b| b["preemptions"] == 1 || job_ended(b), 180).await;
    assert!(!job_ended(&waiting), "{waiting}");
    assert!(!api.cluster().workloads.contains_key(&name), "the preempted run's Job is gone");
    let stopped_at = last_checkpoint_step(&e, &spot).await;
    let done = e.app.wait_for(&e.admin, &format!("/api/v1/jobs/{urgent}"), job_ended, 180).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(done["model_id"].is_string(), "{done}");

    // Resumed as a new Job from its checkpoint; then cancelled, which deletes that Job.
    wait_resumed_past(&e, &spot, stopped_at).await;
    let second_run = runs_of(&e, &spot).await.pop().unwrap();
    assert_ne!(second_run, first_run);
    cancel_and_wait(&e, &spot).await;
    // The cancelled run's Job goes once its pod has ended (foreground deletion); the urgent
    // job's finished Job stays until its time to live.
    let urgent_job = executors::kubernetes::object_name(&runs_of(&e, &urgent).await.remove(0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while api.cluster().workloads.contains_key(&executors::kubernetes::object_name(&second_run)) {
        assert!(tokio::time::Instant::now() < deadline, "the cancelled run's Job is deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(api.cluster().workloads.keys().collect::<Vec<_>>(), [&urgent_job]);
    assert_eq!(api.cluster().workloads[&urgent_job]["spec"]["ttlSecondsAfterFinished"], 3600);
    // The first run's Job: created, deleted by the preemption, deleted again once that run had
    // ended, and once more (confirmed gone) before the resumed run's Job was created
    // (invariant 20); the second run's: created, deleted by the cancel and after its end.
    let second = executors::kubernetes::object_name(&second_run);
    let history: Vec<String> = api.cluster().history.iter().filter(|h| h.ends_with(&name) || h.ends_with(&second)).cloned().collect();
    let (first_post, first_delete) = (format!("POST {name}"), format!("DELETE {name}"));
    let (second_post, second_delete) = (format!("POST {second}"), format!("DELETE {second}"));
    assert_eq!(
        history.iter().collect::<Vec<_>>(),
        [&first_post, &first_delete, &first_delete, &first_delete, &second_post, &second_delete, &second_delete],
        "{history:?}"
    );
}
