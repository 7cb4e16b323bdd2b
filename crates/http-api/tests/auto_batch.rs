//! `micro_batch_size: "auto"` and `gradient_checkpointing: "auto"` in estimates: the largest
//! micro-batch whose estimate fills at most 90% of the device (at most an epoch's rows),
//! checkpointing only when nothing fits without it, and the smallest try, marked as not
//! fitting, when nothing fits at all. (A submission stores what they chose: `training.rs`.)

mod common;

use common::TestApp;
use serde_json::{json, Value};

const GIB: f64 = (1u64 << 30) as f64;

async fn estimate(app: &TestApp, token: &str, model: &str, device: &str, seq_len: u32, mb: Value, gc: Value, tokens: u64) -> Value {
    let body = json!({
        "catalog_repo_id": model, "device_type": device, "dataset_tokens": tokens,
        "config": {"method": {"kind": "lora"}, "data": {"max_seq_length": seq_len}, "hyperparameters": {"micro_batch_size": mb, "gradient_checkpointing": gc}},
    });
    app.post("/api/v1/estimates", token, body).await.expect(200).clone()
}

fn memory(e: &Value) -> f64 {
    e["memory"]["total_bytes"].as_f64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_takes_the_largest_micro_batch_that_fits_with_a_tenth_spare_and_checkpointing_only_when_needed() {
    let app = TestApp::new(test_support::Backend::Sqlite).await;
    let (_, root) = app.bootstrap().await;
    let model = "Qwen/Qwen2.5-1.5B-Instruct";
    let tokens = 100_000_000;

    // Without checkpointing: the chosen micro-batch fits in 90% of a 24 GB card, twice it does not.
    let auto = estimate(&app, &root, model, "L4", 2048, json!("auto"), json!(false), tokens).await;
    let (mb, room) = (auto["micro_batch_size"].as_u64().unwrap(), auto["selected"]["memory_gib"].as_f64().unwrap() * GIB * 0.9);
    assert!((1..64).contains(&mb) && auto["gradient_checkpointing"] == false, "{auto}");
    assert!(memory(&auto) <= room && auto["selected"]["fits"] == true, "{auto}");
    let twice = estimate(&app, &root, model, "L4", 2048, json!(mb * 2), json!(false), tokens).await;
    assert!(memory(&twice) > room, "{twice}");
    assert_eq!(memory(&estimate(&app, &root, model, "L4", 2048, json!(mb), json!(false), tokens).await), memory(&auto));

    // A sequence so long that one row does not fit without checkpointing but does with it:
    // auto turns it on, and takes the largest micro-batch that fits so.
    let mut found = false;
    for seq_len in [4096, 8192, 16384, 32768] {
        let off = estimate(&app, &root, model, "L4", seq_len, json!(1), json!(false), tokens).await;
        let on = estimate(&app, &root, model, "L4", seq_len, json!(1), json!(true), tokens).await;
        if memory(&off) <= room || memory(&on) > room {
            continue;
        }
        found = true;
        let auto = estimate(&app, &root, model, "L4", seq_len, json!("auto"), json!("auto"), tokens).await;
        assert_eq!(auto["gradient_checkpointing"], true, "{auto}");
        let mb = auto["micro_batch_size"].as_u64().unwrap();
        assert!(memory(&auto) <= room, "{auto}");
        let twice = estimate(&app, &root, model, "L4", seq_len, json!(mb * 2), json!(true), tokens).await;
        assert!(mb == 64 || memory(&twice) > room, "{twice}");
        break;
    }
    assert!(found, "no sequence length needs checkpointing for {model} on an L4");

    // With room to spare, checkpointing stays off; the micro-batch is at most an epoch's rows
    // (3 rows of 512 tokens: 2).
    let small = estimate(&app, &root, "HuggingFaceTB/SmolLM2-135M-Instruct", "A100-80GB", 512, json!("auto"), json!("auto"), 1536).await;
    assert_eq!((small["micro_batch_size"].as_u64(), small["gradient_checkpointing"].as_bool()), (Some(2), Some(false)), "{small}");

    // Nothing fits: the smallest try (one row, checkpointing on), saying it does not fit.
    let body = json!({
        "catalog_repo_id": "meta-llama/Llama-3.1-70B-Instruct", "device_type": "T4", "dataset_tokens": tokens,
        "config": {"method": {"kind": "full"}, "hyperparameters": {"micro_batch_size": "auto", "gradient_checkpointing": "auto"}},
    });
    let none = app.post("/api/v1/estimates", &root, body).await.expect(200).clone();
    assert_eq!((none["micro_batch_size"].as_u64(), none["gradient_checkpointing"].as_bool()), (Some(1), Some(true)), "{none}");
    assert_eq!(none["selected"]["fits"], false, "{none}");

    // Anything else is refused, naming the field.
    let body = json!({"catalog_repo_id": model, "config": {"hyperparameters": {"micro_batch_size": "big"}}});
    let a = app.post("/api/v1/estimates", &root, body).await;
    assert_eq!(a.status.as_u16(), 400, "{}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("micro_batch_size"), "{}", a.body);
}

/// `precision: "auto"` on the CPU: bf16 only where this server's CPU multiplies bfloat16 in
/// hardware (the runtime picks the same way), with the smaller memory and shorter time that
/// follow; an explicit precision is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_estimate_assumes_bf16_only_where_the_servers_cpu_multiplies_it() {
    let body = |precision: &str| {
        json!({
            "catalog_repo_id": "HuggingFaceTB/SmolLM2-135M-Instruct", "device_type": "cpu", "dataset_tokens": 100_000,
            "config": {"method": {"kind": "lora"}, "data": {"max_seq_length": 512}, "hyperparameters": {"micro_batch_size": 1, "precision": precision}},
        })
    };
    let mut auto = vec![];
    for native in [false, true] {
        let mut settings = services::Settings::default();
        settings.training.cpu_native_bf16 = native;
        let app = TestApp::with_settings(test_support::Backend::Sqlite, settings).await;
        let (_, root) = app.bootstrap().await;
        let fp32 = app.post("/api/v1/estimates", &root, body("fp32")).await.expect(200).clone();
        assert_eq!(fp32["precision"], "fp32", "{fp32}");
        auto.push(app.post("/api/v1/estimates", &root, body("auto")).await.expect(200).clone());
    }
    let [plain, native] = [&auto[0], &auto[1]];
    assert_eq!((plain["precision"].as_str(), native["precision"].as_str()), (Some("fp32"), Some("bf16")));
    assert!(memory(native) < memory(plain), "{native} vs {plain}");
    let seconds = |e: &Value| e["selected"]["seconds"].as_f64().unwrap();
    assert!(seconds(native) < seconds(plain), "{native} vs {plain}");
}

/// Every device type in an estimate is estimated as a run there would train: on a CPU
/// installation a QLoRA of a 7B model needs its block linears dequantized on the CPU, not on a
/// GPU, so the GPUs need less; a GPU's `auto` is bf16 where it has it (a T4 has not: fp32
/// activations need more than an A100's bf16). The CPU's entry is this machine's memory, in
/// the list as in `selected`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_device_type_is_estimated_in_its_own_precision_and_memory() {
    let app = TestApp::with_settings(test_support::Backend::Sqlite, services::Settings::default()).await;
    let (_, root) = app.bootstrap().await;
    let body = json!({
        "catalog_repo_id": "meta-llama/Llama-2-7b-hf", "device_type": "cpu", "dataset_tokens": 1_000_000,
        "config": {"method": {"kind": "qlora"}, "data": {"max_seq_length": 1024}, "hyperparameters": {"micro_batch_size": 1, "gradient_checkpointing": true}},
    });
    let est = app.post("/api/v1/estimates", &root, body).await.expect(200).clone();
    let device = |name: &str| est["devices"].as_array().unwrap().iter().find(|d| d["device"] == name).cloned().unwrap();
    let need = |d: &Value| d["memory_needed_gib"].as_f64().unwrap();
    let (cpu, t4, a100) = (device("cpu"), device("T4"), device("A100-80GB"));
    assert_eq!(cpu["memory_gib"], est["selected"]["memory_gib"], "{est}");
    assert_eq!(need(&cpu), est["memory"]["total_gib"].as_f64().unwrap(), "{est}");
    assert!(need(&a100) < need(&cpu) / 2.0, "a GPU does not hold dequantized weights: {a100} vs {cpu}");
    assert!(need(&a100) < need(&t4), "bf16 on an A100, fp32 on a T4: {a100} vs {t4}");
    assert_eq!(a100["fits"], true, "{a100}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_chooses_the_micro_batch_and_checkpointing_of_each_device_type_for_its_own_memory() {
    let app = TestApp::new(test_support::Backend::Sqlite).await;
    let (_, root) = app.bootstrap().await;
    let (model, tokens) = ("Qwen/Qwen2.5-1.5B-Instruct", 100_000_000);
    let est = estimate(&app, &root, model, "A100-80GB", 2048, json!("auto"), json!("auto"), tokens).await;
    let device = |name: &str| est["devices"].as_array().unwrap().iter().find(|d| d["device"] == name).cloned().unwrap();
    let (a100, t4) = (device("A100-80GB"), device("T4"));
    // The selected device keeps the estimate's own choice.
    assert_eq!((&a100["micro_batch_size"], &a100["gradient_checkpointing"]), (&est["micro_batch_size"], &est["gradient_checkpointing"]));
    // A 16 GB card gets what auto would choose there: the same as estimating for it directly,
    // smaller than the A100's, and it fits (before, it inherited the A100's micro-batch and did not).
    let direct = estimate(&app, &root, model, "T4", 2048, json!("auto"), json!("auto"), tokens).await;
    assert_eq!(
        (&t4["micro_batch_size"], &t4["gradient_checkpointing"]),
        (&direct["micro_batch_size"], &direct["gradient_checkpointing"]),
        "{t4} vs {direct}"
    );
    assert!(t4["micro_batch_size"].as_u64() < a100["micro_batch_size"].as_u64(), "{t4} vs {a100}");
    assert_eq!(t4["fits"], true, "{t4}");
    assert!(
        (t4["memory_needed_gib"].as_f64().unwrap() - direct["selected"]["memory_needed_gib"].as_f64().unwrap()).abs() < 1e-9,
        "{t4} vs {direct}"
    );
    // A fixed micro-batch is every device's.
    let fixed = estimate(&app, &root, model, "A100-80GB", 2048, json!(8), json!(false), tokens).await;
    assert!(
        fixed["devices"].as_array().unwrap().iter().all(|d| d["micro_batch_size"] == 8 && d["gradient_checkpointing"] == false),
        "{fixed}"
    );
}
