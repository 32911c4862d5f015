//! Benchmark: where an inline completion's time goes in a 10,000-line file — the server's own
//! work (snapshot, syntax tree, span choice, prompt, syntax check) against the engine call
//! (tokenizing, denoising, decoding). The target is under 5 ms of server overhead at the median.
//!
//!     cargo run --release -p dllm-ls --example bench_overhead [-- --lines 10000 --requests 40]
//!
//! The model is the tiny fixture checkpoint: the engine's time is reported but is not the point;
//! the overhead does not depend on the model's size.

// The allocator the server runs with (see `server/src/main.rs`), so timings are its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::time::{Duration, Instant};

use dllm_ls::config::Config;
use dllm_ls::document::{Document, Encoding};
use dllm_ls::engine::Engine;
use dllm_ls::infiller::Infiller;
use dllm_ls::pipeline::{self, Snapshot, Task};
use dllm_models::CancelFlag;
use tower_lsp_server::ls_types::{Position, Range, TextDocumentContentChangeEvent};

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

/// A 10,000-line Python module of ordinary functions.
fn source(lines: usize) -> String {
    let mut s = String::from("import os\nimport sys\n\n");
    let mut n = 0;
    while s.lines().count() < lines {
        s.push_str(&format!(
            "def function_{n}(items, limit=10):\n    \"\"\"Return the first items above zero.\"\"\"\n    result = []\n    for item in items:\n        if item > 0 and len(result) < limit:\n            result.append(item * {n})\n    return result\n\n\n"
        ));
        n += 1;
    }
    s
}

fn main() {
    // Before any thread exists: candle's per-product core count is costly (see the function).
    dllm_models::pin_thread_count();
    let lines = arg("--lines", 10_000);
    let requests = arg("--requests", 40);
    let text = source(lines);
    let mut doc = Document::new("python", 1, &text);
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/dream-tiny");
    let engine = Engine::start();
    let infiller = Infiller::Local(engine.clone());
    engine
        .load_blocking(Some(model.display().to_string()), Default::default())
        .expect("fixture model");
    let config = Config {
        max_tokens_inline: 8,
        ..Config::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let (mut overhead, mut engine_time, mut change_time) = (vec![], vec![], vec![]);
    for i in 0..requests {
        // Start a new statement inside a function in the middle of the file, as a user would:
        // a new line "    total = ", cursor at its end.
        // Line 5 + 9k is a "    result = []" line: the new line lands inside a function body.
        let line = (5 + 9 * (lines / 18 + i * 3)) as u32;
        let change = TextDocumentContentChangeEvent {
            range: Some(Range {
                start: Position { line, character: 0 },
                end: Position { line, character: 0 },
            }),
            range_length: None,
            text: "    total = \n".into(),
        };
        let t = Instant::now();
        doc.apply_changes(i as i32 + 2, &[change], Encoding::Utf16)
            .unwrap();
        change_time.push(t.elapsed());

        let started = Instant::now();
        let snapshot = Snapshot::from_document(&doc);
        let offset = doc
            .offset(
                Position {
                    line,
                    character: 12,
                },
                Encoding::Utf16,
            )
            .unwrap();
        let out = rt.block_on(pipeline::run(
            &infiller,
            &snapshot,
            &Task::Inline { offset },
            &config,
            &CancelFlag::new(),
        ));
        let total = started.elapsed();
        let model = out.expect("the pipeline runs").model_time;
        engine_time.push(model);
        overhead.push(total.saturating_sub(model));
    }
    println!("inline completion in a {lines}-line Python file, {requests} requests, each after an edit that starts a new line");
    println!("| part | p50 ms | p95 ms |");
    println!("|---|---|---|");
    println!(
        "| didChange (rope edit + incremental reparse) | {:.2} | {:.2} |",
        percentile(&mut change_time, 0.5),
        percentile(&mut change_time, 0.95)
    );
    println!(
        "| server overhead (snapshot, span, prompt, check) | {:.2} | {:.2} |",
        percentile(&mut overhead, 0.5),
        percentile(&mut overhead, 0.95)
    );
    println!(
        "| engine (tokenize, denoise, decode; tiny fixture model) | {:.2} | {:.2} |",
        percentile(&mut engine_time, 0.5),
        percentile(&mut engine_time, 0.95)
    );
}
