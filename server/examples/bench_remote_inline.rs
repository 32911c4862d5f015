//! Benchmark: end-to-end inline-completion latency, the same prompts through the server's pipeline
//! (snapshot, span, prompt, engine, checks) on the local diffusion engine and on a local llama.cpp
//! server (`scripts/llama-server.sh serve`, api `llama-infill`), both running the default model.
//!
//!     cargo run --release -p dllm-ls --example bench_remote_inline [-- --prompts 30]
//!
//! Prompts: lines of the repository's Python files (models/train, tests/remote) that assign
//! something, cut after `= ` with the rest of the line removed, the cursor at the cut.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dllm_ls::config::Config;
use dllm_ls::document::Document;
use dllm_ls::engine::Engine;
use dllm_ls::infiller::Infiller;
use dllm_ls::pipeline::{self, Snapshot, Task};
use dllm_ls::remote::{Api, RemoteEngine, RemoteSettings};
use dllm_models::CancelFlag;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(xs: &mut [Duration], p: f64) -> f64 {
    xs.sort();
    xs[((xs.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

/// A document and the byte offset of its cursor.
struct Prompt {
    text: String,
    offset: usize,
}

/// Up to `n` prompts, spread over the files' assignment lines.
fn prompts(root: &Path, n: usize) -> Vec<Prompt> {
    let mut files: Vec<PathBuf> = ["models/train", "tests/remote"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root.join(dir)).into_iter().flatten())
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            if let Some(cut) = line.find(" = ").filter(|_| line.trim_end().len() > 12) {
                let offset = start + cut + 3;
                let rest = start + line.trim_end_matches('\n').len();
                all.push(Prompt {
                    text: format!("{}{}", &text[..offset], &text[rest..]),
                    offset,
                });
            }
            start += line.len();
        }
    }
    let step = (all.len() / n.max(1)).max(1);
    all.into_iter().step_by(step).take(n).collect()
}

/// llama.cpp's server on the default model, stopped when dropped.
struct LlamaServer(Child, u16);

impl LlamaServer {
    fn start(root: &Path) -> Self {
        let mut child = Command::new("bash")
            .arg(root.join("scripts/llama-server.sh"))
            .arg("serve")
            .stdout(Stdio::piped())
            .spawn()
            .expect("bash scripts/llama-server.sh serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| {
            panic!("llama.cpp's server did not start: run `bash scripts/llama-server.sh install`")
        });
        LlamaServer(child, port)
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Each prompt's whole inline completion, in milliseconds, and how many gave a suggestion.
fn run(infiller: &Infiller, prompts: &[Prompt], config: &Config) -> (Vec<Duration>, usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut times, mut answered) = (vec![], 0);
    for p in prompts {
        let doc = Document::new("python", 1, &p.text);
        let started = Instant::now();
        let snapshot = Snapshot::from_document(&doc);
        let task = Task::Inline { offset: p.offset };
        let out = rt.block_on(pipeline::run(
            infiller,
            &snapshot,
            &task,
            config,
            &CancelFlag::new(),
        ));
        times.push(started.elapsed());
        answered += usize::from(out.is_ok_and(|o| !o.edits.is_empty()));
    }
    (times, answered)
}

fn main() {
    dllm_models::pin_thread_count();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let prompts = prompts(&root, arg("--prompts", 30));
    let config = Config::default();
    let engine = Engine::start();
    engine
        .load_blocking(None, Default::default())
        .expect("the default model");
    let local = Infiller::Local(engine);
    let server = LlamaServer::start(&root);
    let settings = RemoteSettings {
        endpoint: Some(format!("http://127.0.0.1:{}", server.1)),
        api: Api::LlamaInfill,
        model: None,
        api_key_env: None,
        timeout: Duration::from_secs(60),
    };
    let remote = Infiller::Remote(RemoteEngine::new(settings, Arc::default()));
    // One warm-up request each (first-touch allocations, llama.cpp's first decode).
    run(&local, &prompts[..1], &config);
    run(&remote, &prompts[..1], &config);
    println!(
        "inline completion, {} prompts, maxTokensInline {}",
        prompts.len(),
        config.max_tokens_inline
    );
    println!("| engine | p50 ms | p95 ms | suggestions |");
    println!("|---|---|---|---|");
    for (name, infiller) in [
        ("local diffusion (default settings)", &local),
        ("llama.cpp /infill (1 thread)", &remote),
    ] {
        let (mut times, answered) = run(infiller, &prompts, &config);
        println!(
            "| {name} | {:.1} | {:.1} | {answered}/{} |",
            percentile(&mut times, 0.5),
            percentile(&mut times, 0.95),
            prompts.len()
        );
    }
}
