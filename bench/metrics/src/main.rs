//! The metrics crate against the Python reference packages (sacreBLEU 2.5.1, rouge-score
//! 0.1.2 with and without its stemmer, NLTK 3.10's METEOR without and with WordNet 3.0, the
//! SQuAD v1.1 script, scikit-learn 1.9.1) on 10,000 generated hypothesis/reference
//! pairs in English (10,000 in Chinese for BLEU's `zh` tokenizer, and 10,000 of WordNet's own
//! words with synonyms swapped in for METEOR's synonym stage): every score must equal
//! the reference's to 1e-6 (the largest difference is printed; a larger one fails the run) and
//! each metric should run at least 20× faster (both times printed). The Python side runs once,
//! timing only the scoring; the Rust side is the best of three, on one thread and on every core
//! (the scores must be equal).
//!
//! Usage: tunery-bench-metrics [--pairs 10000] [--python PATH] [--wordnet DIR] (defaults: the
//! environment `scripts/cached-venv.sh metrics-reference bench/metrics/requirements.txt` makes,
//! the WordNet `scripts/fetch-wordnet.sh` fetches).

use metrics::suite::{self, Example};
use metrics::BleuTokenizer;
use serde_json::{json, Value};
use std::time::Instant;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// About 3,000 word forms from syllables, a few with capitals, digits or punctuation attached.
fn vocabulary(rng: &mut Rng) -> Vec<String> {
    let syllables = ["ka", "lo", "mi", "ren", "sta", "pu", "vor", "the", "an", "qu", "ix", "el", "dar", "so", "ne", "tri"];
    (0..3000)
        .map(|i| {
            let mut w: String = (0..1 + rng.below(3)).map(|_| syllables[rng.below(syllables.len())]).collect();
            match i % 50 {
                0 => w = w.to_uppercase(),
                1 => w.push(','),
                2 => w.push('.'),
                3 => w = format!("{}", rng.below(10_000)),
                4 => w.push_str("'s"),
                _ => {}
            }
            w
        })
        .collect()
}

/// A reference and a prediction edited from it (substitutions, deletions, insertions; some
/// identical, some empty).
fn pair(rng: &mut Rng, words: &[String]) -> (String, String) {
    let n = 5 + rng.below(36);
    let reference: Vec<&str> = (0..n).map(|_| words[rng.below(words.len())].as_str()).collect();
    if rng.chance(0.05) {
        return (reference.join(" "), reference.join(" "));
    }
    if rng.chance(0.01) {
        return (reference.join(" "), String::new());
    }
    let mut prediction = Vec::new();
    for w in &reference {
        if rng.chance(0.1) {
            continue;
        }
        prediction.push(if rng.chance(0.15) { words[rng.below(words.len())].as_str() } else { w });
        if rng.chance(0.05) {
            prediction.push(words[rng.below(words.len())].as_str());
        }
    }
    (reference.join(" "), prediction.join(" "))
}

fn chinese_pair(rng: &mut Rng) -> (String, String) {
    let n = 8 + rng.below(30);
    let reference: Vec<char> = (0..n)
        .map(|k| if k % 11 == 10 { '，' } else { char::from_u32(0x4E00 + rng.below(1500) as u32).expect("a CJK character") })
        .collect();
    let mut prediction: Vec<char> = reference
        .iter()
        .map(|c| if rng.chance(0.2) { char::from_u32(0x4E00 + rng.below(1500) as u32).expect("a CJK character") } else { *c })
        .collect();
    prediction.retain(|_| !rng.chance(0.05));
    let mut reference: String = reference.into_iter().collect();
    reference.push('。');
    (reference, prediction.into_iter().collect())
}

/// English pairs for METEOR's WordNet stage: words from WordNet's own index (some inflected, so
/// that its morphology works), predictions edited from the reference with a WordNet synonym in
/// place of some words (the stage's matches) besides the edits of [`pair`].
fn english_pairs(rng: &mut Rng, wordnet: &metrics::wordnet::WordNet, dir: &std::path::Path, n: usize) -> Vec<(String, String)> {
    let mut lemmas: Vec<String> = Vec::new();
    for part in ["noun", "verb", "adj", "adv"] {
        let index = std::fs::read_to_string(dir.join(format!("index.{part}"))).expect("read WordNet's index");
        lemmas.extend(
            index
                .lines()
                .filter(|l| !l.starts_with(' '))
                .filter_map(|l| l.split(' ').next())
                .filter(|w| w.len() > 2 && w.bytes().all(|b| b.is_ascii_lowercase()))
                .map(str::to_string),
        );
    }
    let words: Vec<String> = (0..4000)
        .map(|_| {
            let w = &lemmas[rng.below(lemmas.len())];
            match rng.below(10) {
                0 | 1 => format!("{w}s"),
                2 => format!("{w}ed"),
                3 => format!("{w}ing"),
                _ => w.clone(),
            }
        })
        .collect();
    (0..n)
        .map(|_| {
            let (reference, prediction) = pair(rng, &words);
            let edited: Vec<String> = prediction
                .split(' ')
                .map(|w| {
                    if !rng.chance(0.25) {
                        return w.to_string();
                    }
                    let mut synonyms: Vec<String> = wordnet.synonyms(w).into_iter().filter(|s| s != w).collect();
                    synonyms.sort();
                    if synonyms.is_empty() {
                        w.to_string()
                    } else {
                        synonyms[rng.below(synonyms.len())].clone()
                    }
                })
                .collect();
            (reference, edited.join(" "))
        })
        .collect()
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// Best of three runs: (seconds, value).
fn best_of_three<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut value = None;
    for _ in 0..3 {
        let start = Instant::now();
        let v = f();
        best = best.min(start.elapsed().as_secs_f64());
        value = Some(v);
    }
    (best, value.expect("three runs"))
}

fn main() {
    let pairs: usize = arg("--pairs").map(|p| p.parse().expect("--pairs N")).unwrap_or(10_000);
    let python = arg("--python").unwrap_or_else(|| {
        let out = std::process::Command::new("scripts/cached-venv.sh")
            .args(["metrics-reference", "bench/metrics/requirements.txt"])
            .output()
            .expect("run scripts/cached-venv.sh from the repository root (or pass --python)");
        assert!(out.status.success(), "scripts/cached-venv.sh failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("a path").lines().last().expect("the environment's python").to_string()
    });
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let words = vocabulary(&mut rng);
    let labels = ["billing", "shipping", "returns", "account", "other"];
    let dir = std::env::temp_dir().join(format!("tunery-bench-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("pairs.jsonl");
    let mut lines = String::new();
    let (mut en, mut zh, mut gold, mut guessed, mut positive, mut scores) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..pairs {
        let (reference, prediction) = pair(&mut rng, &words);
        let label = labels[rng.below(labels.len())];
        let predicted = if rng.chance(0.7) { label } else { labels[rng.below(labels.len())] };
        let is_positive = rng.chance(0.4);
        let score = ((rng.below(100) as f64 + if is_positive { 30.0 } else { 0.0 }) / 130.0 * 100.0).round() / 100.0;
        lines.push_str(
            &json!({"lang": "en", "prediction": prediction, "reference": reference, "label": label,
            "predicted_label": predicted, "positive": i32::from(is_positive), "score": score})
            .to_string(),
        );
        lines.push('\n');
        en.push(Example { prediction, references: vec![reference] });
        gold.push(label);
        guessed.push(predicted);
        positive.push(is_positive);
        scores.push(score);
    }
    for _ in 0..pairs {
        let (reference, prediction) = chinese_pair(&mut rng);
        lines.push_str(&json!({"lang": "zh", "prediction": prediction, "reference": reference}).to_string());
        lines.push('\n');
        zh.push(Example { prediction, references: vec![reference] });
    }
    let wordnet_dir = arg("--wordnet").unwrap_or_else(|| {
        let out =
            std::process::Command::new("scripts/fetch-wordnet.sh").output().expect("run scripts/fetch-wordnet.sh (or pass --wordnet)");
        assert!(out.status.success(), "scripts/fetch-wordnet.sh failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("a path").lines().last().expect("the WordNet folder").to_string()
    });
    let wordnet = metrics::wordnet::load(std::path::Path::new(&wordnet_dir)).expect("WordNet loads");
    let mut wn = Vec::new();
    for (reference, prediction) in english_pairs(&mut rng, wordnet, std::path::Path::new(&wordnet_dir), pairs) {
        lines.push_str(&json!({"lang": "wn", "prediction": prediction, "reference": reference}).to_string());
        lines.push('\n');
        wn.push(Example { prediction, references: vec![reference] });
    }
    std::fs::write(&file, lines).expect("write the pairs");
    println!(
        "{pairs} English and {pairs} Chinese pairs, {} MiB; the Python reference runs once, the metrics crate best of 3\n",
        std::fs::metadata(&file).map(|m| m.len() >> 20).unwrap_or(0)
    );

    let out = std::process::Command::new(&python)
        .arg("bench/metrics/reference.py")
        .arg(&file)
        .arg(&wordnet_dir)
        .output()
        .expect("run the Python reference");
    assert!(out.status.success(), "the Python reference failed: {}", String::from_utf8_lossy(&out.stderr));
    let reference: Value = serde_json::from_slice(&out.stdout).expect("the reference's JSON");
    let _ = std::fs::remove_dir_all(&dir);

    let classified: Vec<Example> =
        gold.iter().zip(&guessed).map(|(g, p)| Example { prediction: p.to_string(), references: vec![g.to_string()] }).collect();
    let one = |examples: &[Example], name: &str, tok: BleuTokenizer| -> f64 {
        suite::score(examples, name, tok, None).expect("a score")[0].score
    };
    let with_wordnet = suite::TextOptions { tokenize: BleuTokenizer::ThirteenA, stemmer: false, wordnet: Some(wordnet) };
    let measure = || -> Vec<(&str, f64, (f64, f64))> {
        vec![
            ("bleu", reference["bleu"]["seconds"].as_f64().unwrap(), best_of_three(|| one(&en, "bleu", BleuTokenizer::ThirteenA))),
            ("bleu_zh", reference["bleu_zh"]["seconds"].as_f64().unwrap(), best_of_three(|| one(&zh, "bleu", BleuTokenizer::Zh))),
            ("chrf", reference["chrf"]["seconds"].as_f64().unwrap(), best_of_three(|| one(&en, "chrf", BleuTokenizer::ThirteenA))),
            ("chrf++", reference["chrf++"]["seconds"].as_f64().unwrap(), best_of_three(|| one(&en, "chrf++", BleuTokenizer::ThirteenA))),
            (
                "exact_match",
                reference["exact_match"]["seconds"].as_f64().unwrap(),
                best_of_three(|| one(&en, "exact_match", BleuTokenizer::ThirteenA)),
            ),
            ("f1", reference["f1"]["seconds"].as_f64().unwrap(), best_of_three(|| one(&en, "f1", BleuTokenizer::ThirteenA))),
            ("meteor", reference["meteor"]["seconds"].as_f64().unwrap(), best_of_three(|| one(&en, "meteor", BleuTokenizer::ThirteenA))),
            (
                "meteor+wn",
                reference["meteor+wn"]["seconds"].as_f64().unwrap(),
                best_of_three(|| suite::score(&wn, "meteor", with_wordnet, None).expect("a score")[0].score),
            ),
            (
                "accuracy",
                reference["accuracy"]["seconds"].as_f64().unwrap(),
                best_of_three(|| one(&classified, "accuracy", BleuTokenizer::None)),
            ),
            (
                "macro_f1",
                reference["macro_f1"]["seconds"].as_f64().unwrap(),
                best_of_three(|| one(&classified, "macro_f1", BleuTokenizer::None)),
            ),
            (
                "auc_roc",
                reference["auc_roc"]["seconds"].as_f64().unwrap(),
                best_of_three(|| metrics::auc_roc(&positive, &scores).expect("an AUC")),
            ),
            (
                "distinct-2",
                reference["distinct-2"]["seconds"].as_f64().unwrap(),
                best_of_three(|| one(&en, "distinct-2", BleuTokenizer::None)),
            ),
        ]
    };
    // One thread first, then every core.
    metrics::parallel::set_threads(1);
    let rows_one = measure();
    let stemmed = suite::TextOptions { tokenize: BleuTokenizer::ThirteenA, stemmer: true, wordnet: None };
    let (rouge_one_seconds, rouge_one) = best_of_three(|| suite::score(&en, "rouge", BleuTokenizer::ThirteenA, None).expect("ROUGE"));
    let (stem_one_seconds, stem_one) = best_of_three(|| suite::score(&en, "rouge", stemmed, None).expect("ROUGE"));
    metrics::parallel::set_threads(0);
    let rows = measure();
    let (rouge_seconds, rouge) = best_of_three(|| suite::score(&en, "rouge", BleuTokenizer::ThirteenA, None).expect("ROUGE"));
    let (stem_seconds, stem) = best_of_three(|| suite::score(&en, "rouge", stemmed, None).expect("ROUGE"));
    metrics::parallel::set_threads(0);
    let cores = metrics::parallel::threads();
    println!(
        "{:<12} {:>10} {:>12} {:>12} {:>9} {:>9} {:>20} {:>20} {:>9}",
        "metric",
        "python s",
        "rust s 1",
        &format!("rust s {cores}"),
        "speedup1",
        &format!("speedup{cores}"),
        "python score",
        "rust score",
        "|diff|"
    );
    let mut worst_diff = 0.0f64;
    let (mut slowest_one, mut slowest_all) = (f64::INFINITY, f64::INFINITY);
    let mut print = |name: &str, py_s: f64, one_s: f64, all_s: f64, py: f64, rust: f64| {
        let diff = (py - rust).abs();
        worst_diff = worst_diff.max(diff);
        slowest_one = slowest_one.min(py_s / one_s);
        slowest_all = slowest_all.min(py_s / all_s);
        println!(
            "{name:<12} {py_s:>10.4} {one_s:>12.5} {all_s:>12.5} {:>8.1}× {:>8.1}× {py:>20.14} {rust:>20.14} {diff:>9.2e}",
            py_s / one_s,
            py_s / all_s
        );
    };
    for ((name, py_s, (one_s, one)), (_, _, (all_s, all))) in rows_one.into_iter().zip(rows) {
        assert_eq!(one, all, "{name}: one thread and {cores} disagree");
        print(name, py_s, one_s, all_s, reference[name]["score"].as_f64().unwrap(), all);
    }
    let rouge_py_s = reference["rouge"]["seconds"].as_f64().unwrap();
    for (m, one) in rouge.iter().zip(&rouge_one) {
        // One rouge-score call computes the four; so does one suite call: the time is shared.
        assert_eq!(m.score, one.score);
        print(&m.name, rouge_py_s, rouge_one_seconds, rouge_seconds, reference["rouge"]["score"][&m.name].as_f64().unwrap(), m.score);
    }
    let stem_py_s = reference["rouge_stem"]["seconds"].as_f64().unwrap();
    for (m, one) in stem.iter().zip(&stem_one) {
        assert_eq!(m.score, one.score);
        let py = reference["rouge_stem"]["score"][&m.name].as_f64().unwrap();
        print(&format!("{}+stem", m.name), stem_py_s, stem_one_seconds, stem_seconds, py, m.score);
    }
    println!("\nlargest difference {worst_diff:.2e} (goal ≤ 1e-6: {})", if worst_diff <= 1e-6 { "met" } else { "NOT met" });
    println!(
        "smallest speedup {slowest_all:.1}× with {cores} threads, {slowest_one:.1}× on one (goal ≥ 20×: {})",
        if slowest_all >= 20.0 { "met" } else { "NOT met" }
    );
    if worst_diff > 1e-6 {
        std::process::exit(1);
    }
}
