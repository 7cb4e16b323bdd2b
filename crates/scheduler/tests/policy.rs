//! The policy stepped with an injected clock: placement, the three queue orders, backfill that
//! never delays the head, preemption and its guards, progress kept across a preemption, and
//! random runs that never over-allocate and always finish.

use scheduler::sim::{mixed_cluster, simulate, synthetic_trace, Rng, SimOptions, TraceJob};
use scheduler::{Cluster, Config, Decision, JobRequest, Node, PolicyKind, Scheduler};

const MIN: i64 = 60_000;

fn node(id: &str, gpu_type: &str, gpus: u32) -> Node {
    Node { id: id.into(), gpu_type: gpu_type.into(), gpus, gpu_memory_gib: 80.0 }
}

fn job(id: &str, user: &str, gpus: u32, minutes: i64, priority: u32, at: i64) -> JobRequest {
    JobRequest {
        id: id.into(),
        user: user.into(),
        project: None,
        gpu_type: None,
        gpus,
        gpu_memory_gib: 0.0,
        priority,
        preemptible: false,
        expected_ms: minutes * MIN,
        submitted_at: at,
        groups: vec![format!("user {user}")],
    }
}

fn started(decisions: &[Decision]) -> Vec<String> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Start { job, .. } => Some(job.clone()),
            _ => None,
        })
        .collect()
}

fn preempted(decisions: &[Decision]) -> Vec<String> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Preempt { job, .. } => Some(job.clone()),
            _ => None,
        })
        .collect()
}

fn sched(kind: PolicyKind, nodes: Vec<Node>) -> Scheduler {
    Scheduler::new(Config::new(kind), Cluster::new(nodes))
}

#[test]
fn a_gang_goes_on_one_node_when_one_has_room_and_impossible_jobs_are_refused_saying_why() {
    let mut s = sched(PolicyKind::Tunery, vec![node("a", "A100", 8), node("b", "A100", 4), node("c", "H100", 8)]);
    s.submit(job("four", "u", 4, 10, 1, 0)).unwrap();
    let d = s.tick(0);
    // The tightest node that holds all four: b.
    assert_eq!(d, vec![Decision::Start { job: "four".into(), placement: vec![scheduler::Allocation { node: "b".into(), gpus: 4 }] }]);
    let mut twelve = job("twelve", "u", 12, 10, 1, 0);
    twelve.gpu_type = Some("A100".into());
    s.submit(twelve).unwrap();
    assert!(s.tick(0).is_empty(), "only 8 A100s are free");
    s.finished("four", 5 * MIN);
    match &s.tick(5 * MIN)[..] {
        [Decision::Start { placement, .. }] => {
            assert_eq!(placement.iter().map(|a| a.gpus).sum::<u32>(), 12);
            assert!(placement.iter().all(|a| a.node != "c"), "an A100 job on an H100 node: {placement:?}");
        }
        other => panic!("{other:?}"),
    }
    let mut nope = job("nope", "u", 1, 1, 1, 0);
    nope.gpu_type = Some("TPU".into());
    assert!(s.submit(nope).unwrap_err().contains("no node has GPUs of type TPU"));
    assert!(s.submit(job("huge", "u", 64, 1, 1, 0)).unwrap_err().contains("64 GPUs"));
    assert!(s.submit(job("back", "u", 1, -1, 1, 0)).unwrap_err().contains("negative"));
}

#[test]
fn on_a_one_node_cluster_a_gang_never_spans_nodes_and_a_request_beyond_the_largest_node_is_refused() {
    let cluster = Cluster::new(vec![node("a", "A100", 4), node("b", "A100", 4)]).one_node_only();
    let mut s = Scheduler::new(Config::new(PolicyKind::Tunery), cluster);
    let e = s.submit(job("eight", "u", 8, 10, 1, 0)).unwrap_err();
    assert!(e.contains("8 GPUs requested; a run here stays on one node, and the largest suitable node has 4"), "{e}");
    s.submit(job("three", "u", 3, 10, 1, 0)).unwrap();
    s.submit(job("two", "v", 2, 10, 1, 0)).unwrap();
    let d = s.tick(0);
    // Two would fit only as 1 + 1 across the nodes after three takes a: it waits for b whole.
    let placements: Vec<_> =
        d.iter().filter_map(|d| if let Decision::Start { placement, .. } = d { Some(placement.len()) } else { None }).collect();
    assert!(placements.iter().all(|&n| n == 1), "{d:?}");
    assert_eq!(started(&d).len(), 2, "three on one node, two on the other: {d:?}");
    s.submit(job("four", "w", 4, 10, 1, 0)).unwrap();
    assert!(started(&s.tick(0)).is_empty(), "1 + 2 GPUs are free, but on two nodes");
}

#[test]
fn fifo_blocks_behind_the_head_and_backfill_fills_only_what_cannot_delay_it() {
    for kind in [PolicyKind::Fifo, PolicyKind::Backfill] {
        let mut s = sched(kind, vec![node("a", "A100", 8)]);
        s.submit(job("running", "u", 6, 60, 1, 0)).unwrap();
        assert_eq!(started(&s.tick(0)), ["running"]);
        s.submit(job("head", "u", 8, 60, 1, MIN)).unwrap();
        s.submit(job("short", "v", 2, 30, 1, 2 * MIN)).unwrap(); // ends before the head can start
        s.submit(job("long", "w", 2, 120, 1, 3 * MIN)).unwrap(); // would delay the head
        let d = s.tick(3 * MIN);
        match kind {
            PolicyKind::Fifo => assert!(d.is_empty(), "{d:?}"),
            _ => assert_eq!(started(&d), ["short"], "{kind:?}"),
        }
        assert_eq!(s.queue_order().first().map(String::as_str), Some("head"));
    }
}

#[test]
fn tunery_orders_by_priority_then_fair_share() {
    let mut s = sched(PolicyKind::Tunery, vec![node("a", "A100", 2)]);
    // Alice has used the cluster; Bob has not.
    s.submit(job("alice-1", "alice", 2, 60, 1, 0)).unwrap();
    assert_eq!(started(&s.tick(0)), ["alice-1"]);
    s.finished("alice-1", 60 * MIN);
    s.submit(job("alice-2", "alice", 2, 10, 1, 61 * MIN)).unwrap();
    s.submit(job("bob-1", "bob", 2, 10, 1, 62 * MIN)).unwrap();
    s.submit(job("low", "carol", 2, 10, 0, 60 * MIN)).unwrap();
    s.submit(job("urgent", "alice", 2, 10, 3, 63 * MIN)).unwrap();
    assert_eq!(s.queue_order(), ["urgent", "bob-1", "alice-2", "low"]);
    // FIFO would have taken them by arrival.
    let mut f = sched(PolicyKind::Fifo, vec![node("a", "A100", 2)]);
    for (id, at) in [("x", 2), ("y", 1)] {
        f.submit(job(id, "u", 1, 1, if id == "x" { 3 } else { 0 }, at)).unwrap();
    }
    assert_eq!(f.queue_order(), ["y", "x"]);
}

#[test]
fn an_urgent_job_preempts_the_spot_job_losing_least_and_the_victim_resumes_with_its_progress() {
    let mut s = sched(PolicyKind::Tunery, vec![node("a", "A100", 4)]);
    let spot = |id: &str, at| JobRequest { preemptible: true, ..job(id, "spot-user", 2, 600, 0, at) };
    s.submit(spot("old-checkpoint", 0)).unwrap();
    s.submit(spot("fresh-checkpoint", 0)).unwrap();
    assert_eq!(started(&s.tick(0)).len(), 2);
    s.checkpointed("old-checkpoint", 5 * MIN);
    s.checkpointed("fresh-checkpoint", 25 * MIN);
    // Before the minimum run time nothing is preempted.
    s.submit(job("urgent", "boss", 2, 30, 3, 8 * MIN)).unwrap();
    assert!(s.tick(8 * MIN).is_empty());
    // After it: the one that loses the least work since its checkpoint.
    let d = s.tick(30 * MIN);
    assert_eq!(preempted(&d), ["fresh-checkpoint"], "{d:?}");
    assert!(s.tick(30 * MIN + 1).is_empty(), "no second victim while the first stops");
    s.stopped("fresh-checkpoint", 31 * MIN);
    assert_eq!(s.progress("fresh-checkpoint"), Some(25 * MIN), "work up to its checkpoint is kept");
    assert_eq!(started(&s.tick(31 * MIN)), ["urgent"]);
    s.finished("urgent", 61 * MIN);
    assert_eq!(started(&s.tick(61 * MIN)), ["fresh-checkpoint"]);
    assert_eq!(s.progress("fresh-checkpoint"), Some(25 * MIN));
}

#[test]
fn preemption_guards_hold_no_thrashing_no_cycles_no_non_preemptible_victims() {
    let mut s = sched(PolicyKind::Tunery, vec![node("a", "A100", 2)]);
    s.submit(job("steady", "u", 2, 600, 0, 0)).unwrap(); // not preemptible
    s.tick(0);
    s.submit(job("urgent", "v", 2, 10, 3, MIN)).unwrap();
    assert!(preempted(&s.tick(60 * MIN)).is_empty(), "a non-preemptible job was preempted");
    s.remove("steady");
    s.remove("urgent");

    // A job is preempted at most max_preemptions times.
    let mut config = Config::new(PolicyKind::Tunery);
    config.max_preemptions = 1;
    let mut s = Scheduler::new(config, Cluster::new(vec![node("a", "A100", 2)]));
    s.submit(JobRequest { preemptible: true, ..job("victim", "u", 2, 600, 0, 0) }).unwrap();
    s.tick(0);
    s.submit(job("first", "v", 2, 10, 3, MIN)).unwrap();
    assert_eq!(preempted(&s.tick(20 * MIN)), ["victim"]);
    s.stopped("victim", 21 * MIN);
    assert_eq!(started(&s.tick(21 * MIN)), ["first"]);
    s.finished("first", 31 * MIN);
    assert_eq!(started(&s.tick(31 * MIN)), ["victim"]);
    s.submit(job("second", "w", 2, 10, 3, 32 * MIN)).unwrap();
    assert!(preempted(&s.tick(60 * MIN)).is_empty(), "preempted twice with max_preemptions 1");
}

/// Random submissions, finishes, checkpoints and stops on a mixed cluster: never over-allocated
/// (the cluster panics if so), never a GPU given to a job of another type, and every job ends.
#[test]
fn random_runs_never_over_allocate_never_exceed_quotas_and_every_job_ends() {
    for seed in 0..20u64 {
        let mut rng = Rng::new(seed);
        let kind = [PolicyKind::Fifo, PolicyKind::Backfill, PolicyKind::Tunery][seed as usize % 3];
        let nodes = vec![node("a", "A100", 8), node("b", "A100", 8), node("c", "H100", 4)];
        let mut s = sched(kind, nodes.clone());
        // u0 runs at most 2 jobs at once, u1 at most 8 GPUs at once.
        s.set_limit("user u0", scheduler::Limit { max_jobs: Some(2), max_gpus: None, also_running: 0 });
        s.set_limit("user u1", scheduler::Limit { max_jobs: None, max_gpus: Some(8), also_running: 0 });
        let mut owners: std::collections::HashMap<String, (String, u32)> = Default::default();
        let mut running: Vec<(String, i64)> = Vec::new();
        let mut submitted = 0;
        let mut done = 0;
        let mut now = 0;
        while done < 60 {
            now += MIN;
            if submitted < 60 && rng.unit() < 0.7 {
                let mut j = job(
                    &format!("j{submitted}"),
                    &format!("u{}", rng.next_u64() % 4),
                    [1, 2, 4, 8, 16][(rng.next_u64() % 5) as usize],
                    1 + (rng.next_u64() % 30) as i64,
                    (rng.next_u64() % 4) as u32,
                    now,
                );
                j.preemptible = rng.unit() < 0.5;
                if rng.unit() < 0.3 && j.gpus <= 4 {
                    j.gpu_type = Some("H100".into());
                }
                if j.user == "u1" {
                    j.gpus = j.gpus.min(8);
                }
                owners.insert(j.id.clone(), (j.user.clone(), j.gpus));
                s.submit(j).unwrap();
                submitted += 1;
            }
            for (id, _) in &running {
                if rng.unit() < 0.3 {
                    s.checkpointed(id, now);
                }
            }
            let ending: Vec<String> = running.iter().filter(|(_, end)| *end <= now).map(|(id, _)| id.clone()).collect();
            for id in ending {
                s.finished(&id, now);
                running.retain(|(r, _)| *r != id);
                done += 1;
            }
            for d in s.tick(now) {
                match d {
                    Decision::Start { job, placement } => {
                        let j: u32 = placement.iter().map(|a| a.gpus).sum();
                        assert!(j > 0);
                        for a in &placement {
                            assert!(nodes.iter().any(|n| n.id == a.node));
                        }
                        running.push((job, now + (1 + rng.next_u64() % 30) as i64 * MIN));
                    }
                    Decision::Preempt { job, .. } => {
                        s.stopped(&job, now);
                        running.retain(|(r, _)| *r != job);
                    }
                }
            }
            let used: u64 = s.running().map(|(_, p)| p.iter().map(|a| u64::from(a.gpus)).sum::<u64>()).sum();
            assert_eq!(used + s.cluster().free_gpus(), s.cluster().total_gpus(), "seed {seed}");
            let of = |user: &str| s.running().filter(|(id, _)| owners[*id].0 == user).map(|(id, _)| owners[id].1).collect::<Vec<u32>>();
            assert!(of("u0").len() <= 2, "seed {seed}: u0 runs {:?}", of("u0"));
            assert!(of("u1").iter().sum::<u32>() <= 8, "seed {seed}: u1 holds {:?}", of("u1"));
            assert!(now < 100_000 * MIN, "seed {seed}: jobs never end ({kind:?})");
        }
    }
}

#[test]
fn the_simulator_replays_a_trace_and_tunery_beats_fifo_on_completion_time() {
    let types = ["A100-80GB", "H100-80GB"];
    let nodes = mixed_cluster(32, &types);
    let trace = synthetic_trace(400, 10, &types, 32, 0.9, 7);
    assert!(trace.iter().filter(|j| j.gpus == 1).count() > 200, "mostly 1-GPU jobs");
    let options = SimOptions::default();
    let fifo = simulate(nodes.clone(), &trace, Config::new(PolicyKind::Fifo), options).unwrap();
    let tunery = simulate(nodes.clone(), &trace, Config::new(PolicyKind::Tunery), options).unwrap();
    assert_eq!((fifo.jobs, tunery.jobs), (400, 400));
    assert!(fifo.utilization > 0.0 && fifo.utilization <= 1.0 + 1e-9, "{fifo:?}");
    assert!(tunery.mean_completion_s < fifo.mean_completion_s, "tunery {tunery:?}\nfifo {fifo:?}");
    assert!((0.0..=1.0 + 1e-9).contains(&tunery.jain_fairness), "{tunery:?}");
    // A trace of one job: it waits for nothing and its completion time is its duration.
    let one = [TraceJob {
        id: "only".into(),
        arrival_ms: 5,
        user: "u".into(),
        gpus: 2,
        gpu_type: None,
        duration_ms: 10 * MIN,
        priority: 1,
        preemptible: false,
    }];
    let r = simulate(nodes, &one, Config::new(PolicyKind::Tunery), options).unwrap();
    assert_eq!((r.mean_wait_s, r.mean_completion_s, r.preemptions), (0.0, 600.0, 0));
}

#[test]
fn traces_and_clusters_round_trip_through_their_files_and_bad_lines_are_named() {
    use scheduler::files::{parse_cluster, parse_trace, write_cluster, write_trace};
    let types = ["A100-80GB", "L4"];
    let nodes = mixed_cluster(16, &types);
    let trace = synthetic_trace(50, 5, &types, 16, 1.0, 3);
    assert_eq!(parse_trace(&write_trace(&trace)).unwrap(), trace);
    assert_eq!(parse_cluster(&write_cluster(&nodes)).unwrap(), nodes);
    let bad = "{\"id\":\"a\",\"arrival_s\":0,\"user\":\"u\",\"gpus\":1,\"duration_s\":60}\n\n{\"id\":\"b\",\"arrival_s\":-1,\"user\":\"u\",\"gpus\":1,\"duration_s\":60}\n";
    assert_eq!(parse_trace(bad).unwrap_err(), "line 3: \"arrival_s\" must be 0 or more (got -1)");
    let bad = "{\"id\":\"a\",\"arrival_s\":0,\"user\":\"u\",\"gpus\":1,\"duration_s\":60,\"priority\":\"vip\"}";
    assert!(parse_trace(bad).unwrap_err().starts_with("line 1: \"priority\" 'vip' is not one of low, normal, high, urgent"));
    assert!(parse_cluster("{\"nodes\":[{\"id\":\"n\",\"gpu_type\":\"L4\",\"gpus\":0,\"gpu_memory_gib\":24}]}")
        .unwrap_err()
        .starts_with("nodes[0]: \"gpus\""));
    assert_eq!(parse_trace("\n").unwrap_err(), "the trace has no jobs");
}

#[test]
fn a_scheduler_rebuilt_from_stored_state_decides_as_the_live_one_and_says_why_jobs_wait() {
    use scheduler::{History, RunningJob};
    let nodes = vec![node("a", "A100", 4)];
    // A spot job runs on 3 GPUs, a normal job needs all 4, a 1-GPU job fits now.
    let mut spot = job("spot", "u1", 3, 600, 0, 0);
    spot.preemptible = true;
    let mut config = Config::new(PolicyKind::Tunery);
    config.min_run_ms = 0;
    config.preempt_after_wait_ms = 0;
    let mut rebuilt = Scheduler::new(config.clone(), Cluster::new(nodes.clone()));
    rebuilt
        .restore_running(RunningJob {
            req: spot.clone(),
            history: History { done_ms: 5 * MIN, preemptions: 1, preempted_by: vec!["old".into()], waiting_since: None },
            placement: vec![scheduler::Allocation { node: "a".into(), gpus: 3 }],
            started_at: 0,
            last_checkpoint_at: 2 * MIN,
            stopping_for: None,
        })
        .unwrap();
    // Its GPUs are taken: the same placement again is refused, naming the job.
    let again = rebuilt.restore_running(RunningJob {
        req: job("twin", "u1", 3, 10, 0, 0),
        history: History::default(),
        placement: vec![scheduler::Allocation { node: "a".into(), gpus: 3 }],
        started_at: 0,
        last_checkpoint_at: 0,
        stopping_for: None,
    });
    assert!(again.unwrap_err().contains("twin"));
    rebuilt.restore_waiting(job("normal", "u2", 4, 10, 1, MIN), History::default()).unwrap();
    rebuilt.restore_waiting(job("small", "u3", 1, 5, 0, 2 * MIN), History::default()).unwrap();
    let d = rebuilt.tick(3 * MIN);
    // The normal job preempts the spot job; the small one would take a GPU it needs.
    assert_eq!(preempted(&d), vec!["spot".to_string()]);
    assert!(started(&d).is_empty(), "{d:?}");
    let why = rebuilt.wait_reason("normal").unwrap();
    assert_eq!(why.code, "preempting");
    assert!(why.message.contains("spot"), "{}", why.message);
    let small = rebuilt.wait_reason("small").unwrap();
    assert_eq!(small.code, "reserved_for_head", "{}", small.message);
    // Rebuilt again with the decided stop: the decision stands, nothing more is preempted.
    let mut again = Scheduler::new(config, Cluster::new(nodes));
    again
        .restore_running(RunningJob {
            req: spot,
            history: History::default(),
            placement: vec![scheduler::Allocation { node: "a".into(), gpus: 3 }],
            started_at: 0,
            last_checkpoint_at: 2 * MIN,
            stopping_for: Some("normal".into()),
        })
        .unwrap();
    again.restore_waiting(job("normal", "u2", 4, 10, 1, MIN), History::default()).unwrap();
    assert!(again.tick(4 * MIN).is_empty());
    assert_eq!(again.wait_reason("normal").unwrap().code, "preempting");
}

#[test]
fn fifo_names_the_head_that_blocks_and_the_head_says_what_it_needs() {
    let mut s = sched(PolicyKind::Fifo, vec![node("a", "A100", 2)]);
    s.submit(job("running", "u", 2, 60, 1, 0)).unwrap();
    assert_eq!(started(&s.tick(0)), vec!["running".to_string()]);
    let mut typed = job("head", "u", 2, 10, 1, 1);
    typed.gpu_type = Some("A100".into());
    s.submit(typed).unwrap();
    s.submit(job("next", "u", 1, 10, 1, 2)).unwrap();
    assert!(s.tick(MIN).is_empty());
    let head = s.wait_reason("head").unwrap();
    assert_eq!(head.code, "no_room");
    assert_eq!(head.message, "needs 2 GPU(s) of type A100; 0 of 2 such free now");
    assert_eq!(head.expected_start, Some(60 * MIN));
    let next = s.wait_reason("next").unwrap();
    assert_eq!((next.code, next.message.as_str()), ("behind_head", "first in, first out: behind job head"));
}

#[test]
fn a_job_over_its_quota_waits_saying_which_without_holding_up_others() {
    let mut s = sched(PolicyKind::Fifo, vec![node("a", "A100", 8)]);
    s.set_limit("user u", scheduler::Limit { max_jobs: None, max_gpus: Some(2), also_running: 0 });
    s.submit(job("first", "u", 2, 60, 1, 0)).unwrap();
    s.submit(job("second", "u", 1, 60, 1, 1)).unwrap();
    s.submit(job("other", "v", 4, 60, 1, 2)).unwrap();
    // FIFO, but the quota-blocked second job does not block the other user's job behind it.
    assert_eq!(started(&s.tick(0)), vec!["first".to_string(), "other".to_string()]);
    let why = s.wait_reason("second").unwrap();
    assert_eq!(why.code, "quota");
    assert_eq!(why.message, "the quota of user u: at most 2 GPU(s) at once; 2 in use and this job needs 1");
    s.finished("first", 10 * MIN);
    assert_eq!(started(&s.tick(10 * MIN)), vec!["second".to_string()]);
}

#[test]
fn work_running_outside_the_scheduler_takes_places_of_a_jobs_at_once_limit() {
    let mut s = sched(PolicyKind::Fifo, vec![node("a", "A100", 8)]);
    // One of user u's two places is taken by an evaluation: one job starts, the next waits.
    s.set_limit("user u", scheduler::Limit { max_jobs: Some(2), max_gpus: None, also_running: 1 });
    s.submit(job("first", "u", 1, 60, 1, 0)).unwrap();
    s.submit(job("second", "u", 1, 60, 1, 1)).unwrap();
    assert_eq!(started(&s.tick(0)), vec!["first".to_string()]);
    let why = s.wait_reason("second").unwrap();
    assert_eq!(why.code, "quota");
    assert_eq!(why.message, "the quota of user u: at most 2 job(s) running at once; 1 running and 1 evaluation(s)");
    // The evaluation ended: its place is free.
    s.set_limit("user u", scheduler::Limit { max_jobs: Some(2), max_gpus: None, also_running: 0 });
    assert_eq!(started(&s.tick(MIN)), vec!["second".to_string()]);
}

#[test]
fn time_slicing_makes_a_user_over_their_share_yield_at_a_checkpoint_so_a_waiting_user_starts_in_bounded_time() {
    let mut config = Config::new(PolicyKind::Tunery);
    config.time_slice_ms = Some(30 * MIN);
    config.min_run_ms = 0;
    let mut s = Scheduler::new(config, Cluster::new(vec![node("a", "A100", 4)]));
    // A takes the whole node with four long, non-preemptible jobs; B arrives a minute later.
    for k in 0..4 {
        s.submit(job(&format!("a{k}"), "A", 1, 24 * 60, 1, 0)).unwrap();
    }
    assert_eq!(started(&s.tick(0)).len(), 4);
    s.submit(job("b", "B", 1, 60, 1, MIN)).unwrap();
    // Before a slice has gone by, B waits.
    for t in [MIN, 10 * MIN, 30 * MIN] {
        assert!(s.tick(t).is_empty(), "at {t}");
    }
    // A slice later, but no A job checkpointed recently: still nothing (it would lose work).
    assert!(s.tick(32 * MIN).is_empty());
    // a2 checkpoints: it yields to b at that boundary.
    s.checkpointed("a2", 33 * MIN);
    let d = s.tick(33 * MIN);
    assert_eq!(d, vec![Decision::Preempt { job: "a2".into(), for_job: "b".into(), time_slice: true }]);
    assert_eq!(s.wait_reason("b").unwrap().code, "preempting");
    s.stopped("a2", 34 * MIN);
    assert_eq!(started(&s.tick(34 * MIN)), vec!["b".to_string()]);
    // Now A holds 3 of 4 GPUs (over its share of 2) and waits with a2; B holds 1: a2 never takes
    // b's GPU back through time-slicing (it preempted a2), and nothing else yields to A.
    for t in [70 * MIN, 120 * MIN] {
        s.checkpointed("a0", t);
        assert!(s.tick(t).is_empty(), "at {t}");
    }
}

#[test]
fn projects_share_fairly_before_users_and_weights_tilt_the_share() {
    let with_project =
        |id: &str, user: &str, project: &str, at| JobRequest { project: Some(project.into()), ..job(id, user, 1, 60, 1, at) };
    let mut s = sched(PolicyKind::Tunery, vec![node("a", "A100", 1)]);
    // Project p1 ran for an hour (u1); p2 never ran. u3 of p1 never ran either.
    s.restore_usage(
        std::collections::HashMap::from([("u1".to_string(), 60.0 * MIN as f64)]),
        std::collections::HashMap::from([("p1".to_string(), 60.0 * MIN as f64)]),
        0,
    );
    s.submit(with_project("p1-fresh-user", "u3", "p1", 0)).unwrap();
    s.submit(with_project("p2-job", "u2", "p2", 1)).unwrap();
    assert_eq!(s.queue_order(), vec!["p2-job".to_string(), "p1-fresh-user".to_string()]);
    // With four times the weight, p1's hour counts as a quarter of p2's equal hour.
    let mut config = Config::new(PolicyKind::Tunery);
    config.project_weights.insert("p1".into(), 4.0);
    let mut s = Scheduler::new(config, Cluster::new(vec![node("a", "A100", 1)]));
    let hour = 60.0 * MIN as f64;
    s.restore_usage(Default::default(), std::collections::HashMap::from([("p1".to_string(), hour), ("p2".to_string(), hour)]), 0);
    s.submit(with_project("p2-job", "u2", "p2", 0)).unwrap();
    s.submit(with_project("p1-job", "u1", "p1", 1)).unwrap();
    assert_eq!(s.queue_order(), vec!["p1-job".to_string(), "p2-job".to_string()]);
}
