//! Validation benchmark: validation + statistics + token counting of a generated chat JSONL
//! with the SmolLM2 tokenizer, against a straightforward Python pipeline doing the same
//! counting (`json.loads` per line, `tokenizers` `encode_batch` in batches of 1000 texts, the same
//! tokenizer file). Goal: Tunery ≥ 3× faster, with peak RSS under 300 MB and flat in file size.
//!
//! For each size (MiB, default 100 and 1000) it
//!
//! - writes a deterministic mixed English/Chinese chat JSONL of that size in a temp dir
//!   (`generate.rs`);
//! - runs Tunery's pass as a child process (this binary with `--tunery-pass FILE TOKENIZER`):
//!   `datasets::scan` over a `BufReader<File>` with the `tokenizer` crate's counter (fast path),
//!   printing its peak RSS (`VmHWM`) at the end;
//! - runs the Python pass as a child process with the venv of
//!   `scripts/fetch-smollm2-tokenizer.sh` (which has `tokenizers`), printing its peak RSS
//!   (`ru_maxrss`);
//! - times both as wall clock of the child (start-up and tokenizer loading included), checks
//!   that records and total tokens are equal (fails loudly if not), and prints the table.
//!
//! Usage: `cargo run --release -p tunery-bench-validate -- [--sizes 100,1000] [--tokenizer PATH]
//! [--python PATH] [--dir PATH]`; `-- --generate FILE MIB` only writes the data. The tokenizer defaults to `$TUNERY_SMOLLM2_TOKENIZER`, else
//! where the fetch script puts it; the Python to the `venv` beside it.

mod generate;

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use datasets::{scan, ScanOptions};
use tokenizer::{CountPath, ModelTokenizer, DEFAULT_CACHE_ENTRIES};

const MIB: u64 = 1024 * 1024;
const SEED: u64 = 0x5EED_7E57;

/// The Python pipeline: the same counting, written the straightforward way.
const PYTHON_PASS: &str = r#"
import json, resource, sys
from tokenizers import Tokenizer

path, tokenizer_path = sys.argv[1], sys.argv[2]
tokenizer = Tokenizer.from_file(tokenizer_path)
records = 0
tokens = 0
batch = []

def flush():
    global tokens
    for encoding in tokenizer.encode_batch(batch, add_special_tokens=False):
        tokens += len(encoding.ids)
    batch.clear()

with open(path, encoding="utf-8") as f:
    for line in f:
        if not line.strip():
            continue
        record = json.loads(line)
        records += 1
        for message in record["messages"]:
            batch.append(message["content"])
            if len(batch) >= 1000:
                flush()
flush()
print(f"records={records} tokens={tokens} rss_kib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
"#;

struct Options {
    sizes: Vec<u64>,
    tokenizer: PathBuf,
    python: PathBuf,
    dir: PathBuf,
    cache_entries: usize,
}

fn default_tokenizer() -> PathBuf {
    if let Some(path) = std::env::var_os("TUNERY_SMOLLM2_TOKENIZER") {
        return path.into();
    }
    let cache = std::env::var_os("TUNERY_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tunery"));
    cache.join("models/smollm2-135m-instruct/tokenizer.json")
}

fn options(args: &[String]) -> anyhow::Result<Options> {
    let mut sizes = vec![100, 1000];
    let mut tokenizer = default_tokenizer();
    let mut python = None;
    let mut dir = std::env::temp_dir();
    let mut cache_entries = DEFAULT_CACHE_ENTRIES;
    let mut args = args.iter();
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--sizes" => {
                sizes = value()?
                    .split(',')
                    .map(|s| s.trim().parse::<u64>())
                    .collect::<Result<_, _>>()
                    .context("--sizes takes MiB, like 100,1000")?
            }
            "--tokenizer" => tokenizer = value()?.into(),
            "--python" => python = Some(PathBuf::from(value()?)),
            "--dir" => dir = value()?.into(),
            "--cache-entries" => cache_entries = value()?.parse().context("--cache-entries takes a number")?,
            other => {
                bail!("unknown argument {other} (expected --sizes 100,1000 --tokenizer PATH --python PATH --dir PATH --cache-entries N)")
            }
        }
    }
    ensure!(!sizes.is_empty() && sizes.iter().all(|&s| s > 0), "--sizes must list sizes of at least 1 MiB");
    ensure!(tokenizer.is_file(), "no tokenizer at {} (run scripts/fetch-smollm2-tokenizer.sh)", tokenizer.display());
    let python = python.unwrap_or_else(|| tokenizer.with_file_name("venv/bin/python"));
    ensure!(python.is_file(), "no Python at {} (run scripts/fetch-smollm2-tokenizer.sh, or pass --python)", python.display());
    Ok(Options { sizes, tokenizer, python, dir, cache_entries })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--tunery-pass") {
        return match &args[1..] {
            [file, tokenizer, entries] => tunery_pass(Path::new(file), Some((Path::new(tokenizer), entries.parse()?))),
            [file] => tunery_pass(Path::new(file), None),
            _ => bail!("usage: --tunery-pass FILE [TOKENIZER CACHE_ENTRIES]"),
        };
    }
    if args.first().map(String::as_str) == Some("--generate") {
        let [_, file, mib] = &args[..] else { bail!("usage: --generate FILE MIB") };
        let mut out = BufWriter::new(File::create(file)?);
        let (records, bytes) = generate::Generator::new(SEED).write(&mut out, mib.parse::<u64>().context("MIB")? * MIB)?;
        out.flush()?;
        println!("wrote {records} records, {bytes} bytes to {file}");
        return Ok(());
    }
    let o = options(&args)?;
    let dir = tempfile::Builder::new().prefix("tunery-bench-validate-").tempdir_in(&o.dir).context("temp dir")?;
    let script = dir.path().join("python_pass.py");
    std::fs::write(&script, PYTHON_PASS)?;
    println!("validate: tokenizer {}", o.tokenizer.display());
    println!("validate: python {} (tokenizers {})", o.python.display(), python_tokenizers_version(&o.python)?);
    println!(
        "validate: {} CPU cores, load average {}; files under {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        dir.path().display()
    );
    let mut rows = Vec::new();
    for &mib in &o.sizes {
        let file = dir.path().join(format!("chat-{mib}MiB.jsonl"));
        let started = Instant::now();
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&file)?);
        let (records, bytes) = generate::Generator::new(SEED).write(&mut out, mib * MIB)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        println!(
            "validate: {mib} MiB: wrote {records} records, {bytes} bytes in {:.1} s; running Tunery, then Python",
            started.elapsed().as_secs_f64()
        );

        let exe = std::env::current_exe()?;
        let (tunery_s, tunery) =
            run_child(Command::new(&exe).arg("--tunery-pass").arg(&file).arg(&o.tokenizer).arg(o.cache_entries.to_string()))?;
        println!("  tunery: {tunery_s:.1} s  {tunery}");
        let (scan_s, scan_only) = run_child(Command::new(&exe).arg("--tunery-pass").arg(&file))?;
        println!("  tunery without token counting: {scan_s:.1} s  {scan_only}");
        let (python_s, python) = run_child(Command::new(&o.python).arg(&script).arg(&file).arg(&o.tokenizer))?;
        println!("  python: {python_s:.1} s  {python}");

        let t_records = field(&tunery, "valid")?;
        let t_tokens = field(&tunery, "tokens")?;
        let p_records = field(&python, "records")?;
        let p_tokens = field(&python, "tokens")?;
        println!("  tokens: tunery {t_tokens}, python {p_tokens}; records: tunery {t_records} valid, python {p_records}");
        ensure!(
            t_records == records && p_records == records,
            "RECORD COUNTS DIFFER: wrote {records}, tunery {t_records}, python {p_records}"
        );
        ensure!(t_tokens == p_tokens, "TOKEN COUNTS DIFFER: tunery {t_tokens}, python {p_tokens}");
        rows.push((mib, records, t_tokens, python_s, tunery_s, field(&python, "rss_kib")?, field(&tunery, "rss_kib")?));
        std::fs::remove_file(&file)?;
    }

    println!();
    println!("| size | records | tokens (equal) | Python | Tunery | ratio | Python peak RSS | Tunery peak RSS |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for &(mib, records, tokens, python_s, tunery_s, python_rss, tunery_rss) in &rows {
        println!(
            "| {mib} MiB | {records} | {tokens} | {python_s:.1} s | {tunery_s:.1} s | {:.2}× | {} MB | {} MB |",
            python_s / tunery_s,
            python_rss / 1024,
            tunery_rss / 1024
        );
    }
    let worst_ratio = rows.iter().map(|r| r.3 / r.4).fold(f64::INFINITY, f64::min);
    let max_rss = rows.iter().map(|r| r.6).max().unwrap_or(0) / 1024;
    println!();
    println!("goal ratio >= 3: {} (lowest {worst_ratio:.2}×)", if worst_ratio >= 3.0 { "met" } else { "NOT met" });
    println!("goal Tunery peak RSS < 300 MB: {} (highest {max_rss} MB)", if max_rss < 300 { "met" } else { "NOT met" });
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        if rows.len() > 1 {
            println!(
                "Tunery peak RSS {} MiB → {} MiB: {} MB → {} MB ({:+.0}% for {:.0}× the data)",
                first.0,
                last.0,
                first.6 / 1024,
                last.6 / 1024,
                (last.6 as f64 / first.6 as f64 - 1.0) * 100.0,
                last.0 as f64 / first.0 as f64
            );
        }
    }
    Ok(())
}

/// Runs a child to the end: (wall-clock seconds, its last line of output).
fn run_child(command: &mut Command) -> anyhow::Result<(f64, String)> {
    let started = Instant::now();
    let output = command.output().with_context(|| format!("run {command:?}"))?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(output.status.success(), "{command:?} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default().to_string();
    Ok((seconds, last))
}

/// The number after `name=` in a `key=value …` line.
fn field(line: &str, name: &str) -> anyhow::Result<u64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
        .with_context(|| format!("no {name}= in {line:?}"))?
        .parse()
        .with_context(|| format!("{name} in {line:?}"))
}

fn python_tokenizers_version(python: &Path) -> anyhow::Result<String> {
    let output = Command::new(python).args(["-c", "import tokenizers; print(tokenizers.__version__)"]).output()?;
    ensure!(output.status.success(), "{} cannot import tokenizers", python.display());
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The child: one scan, with token counting when given a tokenizer (and the cache size);
/// prints its counts and peak RSS.
fn tunery_pass(file: &Path, tokenizer: Option<(&Path, usize)>) -> anyhow::Result<()> {
    let started = Instant::now();
    let counter = match tokenizer {
        Some((path, entries)) => Some(ModelTokenizer::from_file(path)?.with_cache_entries(entries)),
        None => None,
    };
    if let Some(counter) = &counter {
        ensure!(counter.path() == CountPath::Fast, "no fast path: {:?}", counter.fast_path_refusal());
    }
    let options = ScanOptions {
        filename: Some("chat.jsonl".into()),
        token_counter: counter.as_ref().map(|c| c as &dyn datasets::TokenCounter),
        max_tokens: Some(2048),
        ..ScanOptions::default()
    };
    let report = scan(BufReader::with_capacity(1 << 20, File::open(file)?), &options, |_, _, _| {})?;
    let tokens = report.stats.tokens.as_ref().map(|t| t.total).unwrap_or(0);
    let cache = counter.as_ref().and_then(ModelTokenizer::cache_stats).unwrap_or_default();
    let status = std::fs::read_to_string("/proc/self/status")?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")?;
    std::io::stdout().flush()?;
    println!(
        "records={} valid={} invalid={} tokens={tokens} over_2048={} duplicates={} cache_hits={} cache_misses={} cache_entries={} seconds={:.2} rss_kib={rss_kib}",
        report.summary.records,
        report.summary.valid_records,
        report.summary.invalid_records,
        report.stats.tokens.as_ref().map(|t| t.over_max_tokens).unwrap_or(0),
        report.stats.duplicates.unwrap_or(0),
        cache.hits,
        cache.misses,
        cache.entries,
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}
