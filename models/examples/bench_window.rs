//! Benchmark for A/B runs of kernel changes: repeats one pass of the default model's shape
//! (random weights) over a 1,032-token canvas for a few seconds and prints its mean time.
//!
//!     cargo run --release -p dllm-models --features bench --example bench_window [-- --pass step --columns 32 --seconds 2 --bf16-products]
//!
//! `--pass step`: a cached step over `--columns` masked columns (and the row before the first,
//! as the sampler asks for them); `--pass full`: the full pass that fills the cache. To compare
//! two builds, copy each build's binary aside and run them alternately: this machine's speed
//! drifts by up to 20% within an hour, so only runs taken side by side compare.

// The allocator the server runs with (see `server/src/main.rs`), so timings are its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use candle_core::DType;
use dllm_models::{ArchConfig, ProductPrecision, Transformer};

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // Before any thread exists: candle's per-product core count is costly (see the function).
    dllm_models::pin_thread_count();
    let pass: String = arg("--pass", "step".to_string());
    let columns: usize = arg("--columns", 32).clamp(1, 500);
    let seconds: f64 = arg("--seconds", 2.0);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("default/config.json");
    let text = std::fs::read_to_string(&path).expect("models/default/config.json is readable");
    let cfg = ArchConfig::from_json(&path, &serde_json::from_str(&text).expect("valid JSON"))
        .expect("models/default/config.json parses");
    let vocab = cfg.vocab_size as u32;
    let precision = match std::env::args().any(|a| a == "--bf16-products") {
        true => ProductPrecision::Bf16,
        false => ProductPrecision::F32,
    };
    let t = Transformer::random_with(cfg, DType::F32, 1, precision).expect("random weights");
    // Text tokens that are never the mask or end token; the span sits in the middle.
    let canvas: Vec<u32> = (0..1032u32).map(|i| 3 + (i * 7) % (vocab - 3)).collect();
    let window: Vec<usize> = (500..500 + columns).collect();
    let rows: Vec<usize> = window.iter().map(|&c| c - 1).collect();
    // A full pass fills the cache.
    let mut cache = None;
    t.logits_at_cached(&canvas, &rows, &[], &mut cache)
        .expect("full pass");
    let mut run = || match pass.as_str() {
        "full" => t.logits_at_cached(&canvas, &rows, &[], &mut None),
        _ => t.logits_at_cached(&canvas, &rows, &window, &mut cache),
    };
    run().expect("pass");
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed().as_secs_f64() < seconds {
        run().expect("pass");
        n += 1;
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / n as f64;
    println!("{pass} over {columns} columns of 1032: {n} runs, {ms:.2} ms each");
}
