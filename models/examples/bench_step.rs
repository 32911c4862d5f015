//! Benchmark: milliseconds per denoising step of a Qwen2.5-0.5B-shaped model (random weights) on a
//! 512-token canvas, in f32 and bf16, with peak memory, and the achieved GFLOP/s of a step next to
//! a plain large matrix product timed in the same run (the machine's practical ceiling).
//!
//!     cargo run --release -p dllm-models --features bench --example bench_step [-- --canvas 512 --masked 32 --reps 3]
//!     cargo run --release -p dllm-models --features bench --example bench_step -- --model models/default
//!     cargo run --release -p dllm-models --features bench --example bench_step -- --weights [--canvas 1032 --reps 3] [--shape dream-7b --layers 2]
//!
//! `--weights`: the weight formats side by side (f32 products, bf16 products, q8, q4), each in a
//! child process of its own so each peak RSS is its own: a full pass over the canvas (head on
//! 32 rows, keys and values kept), then cached steps over 33 columns.

// The allocator the server runs with (see `server/src/main.rs`), so timings are its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use dllm_models::{ArchConfig, ProductPrecision, QuantKind, Transformer};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn time_matmul(n: usize, dtype: DType, reps: usize) -> f64 {
    let a = Tensor::randn(0f32, 1.0, (n, n), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    let b = Tensor::randn(0f32, 1.0, (n, n), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    a.matmul(&b).unwrap();
    let times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            a.matmul(&b).unwrap();
            t.elapsed().as_secs_f64()
        })
        .collect();
    2.0 * (n as f64).powi(3) / median(times) / 1e9
}

/// `--model DIR`: the forward pass of that checkpoint on a canvas (issue 3's speed budget for the
/// default model: a 512-token canvas in at most 100 ms).
fn bench_checkpoint(dir: &str, canvas: usize, masked: usize, reps: usize) {
    let model = dllm_models::DiffusionModel::load_dir(
        std::path::Path::new(dir),
        &dllm_models::LoadOptions::default(),
    )
    .expect("the checkpoint loads");
    let cfg = model.config();
    let canvas = canvas.min(cfg.max_positions);
    let tokens: Vec<u32> = (0..canvas as u32)
        .map(|i| 3 + (i * 7919) % (cfg.vocab_size as u32 - 3))
        .collect();
    let rows: Vec<usize> = (canvas - masked..canvas).collect();
    let transformer = model.transformer();
    transformer.logits_at(&tokens, &rows).unwrap();
    let times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            transformer.logits_at(&tokens, &rows).unwrap();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let bytes: u64 = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{dir}: {:.1}M parameters, {:.1} MB on disk; one forward over {canvas} tokens (head on {masked} rows): {:.1} ms median of {reps} ({} threads)",
        cfg.parameter_count() as f64 / 1e6,
        bytes as f64 / 1e6,
        median(times),
        candle_core::utils::get_num_threads()
    );
}

fn main() {
    // Before any thread exists: candle's per-product core count is costly (see the function).
    dllm_models::pin_thread_count();
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--variant") {
        let variant = args.get(i + 1).expect("--variant NAME");
        bench_variant(variant, arg("--canvas", 1032), arg("--reps", 3).max(1));
        return;
    }
    if args.iter().any(|a| a == "--weights") {
        bench_weights(arg("--canvas", 1032), arg("--reps", 3).max(1));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--model") {
        let dir = args.get(i + 1).expect("--model DIR");
        bench_checkpoint(
            dir,
            arg("--canvas", 512),
            arg("--masked", 32),
            arg("--reps", 7),
        );
        return;
    }
    let canvas = arg("--canvas", 512);
    let masked = arg("--masked", 32).min(canvas);
    let reps = arg("--reps", 3).max(1);
    let cfg = ArchConfig::qwen2_5_0_5b();
    println!(
        "Qwen2.5-0.5B-shaped bidirectional model: {:.0}M parameters, canvas {canvas} tokens, {masked} masked, {reps} timed steps (median), {} threads",
        cfg.parameter_count() as f64 / 1e6,
        candle_core::utils::get_num_threads()
    );
    let tokens: Vec<u32> = (0..canvas as u32)
        .map(|i| (i * 7919) % cfg.vocab_size as u32)
        .collect();
    let tokens = Tensor::from_vec(tokens, (1, canvas), &Device::Cpu).unwrap();
    let positions: Vec<usize> = (0..canvas).collect();
    let rows: Vec<usize> = (canvas - masked..canvas).collect();

    println!("| dtype | head rows | ms / step | GFLOP/s | matmul ceiling GFLOP/s | share of ceiling | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|");
    for dtype in [DType::BF16, DType::F32] {
        let ceiling = time_matmul(2048, dtype, reps);
        let model = Transformer::random(cfg.clone(), dtype, 0).unwrap();
        for head_rows in [masked, canvas] {
            let want: Option<&[usize]> = if head_rows == canvas {
                None
            } else {
                Some(&rows)
            };
            model.forward(&tokens, &positions, None, want).unwrap();
            let times: Vec<f64> = (0..reps)
                .map(|_| {
                    let t = Instant::now();
                    model.forward(&tokens, &positions, None, want).unwrap();
                    t.elapsed().as_secs_f64()
                })
                .collect();
            let secs = median(times);
            let gflops = cfg.forward_flops(canvas, head_rows) / secs / 1e9;
            println!(
                "| {dtype:?} | {head_rows} | {:.0} | {gflops:.1} | {ceiling:.1} | {:.0}% | {:.0} |",
                secs * 1e3,
                100.0 * gflops / ceiling,
                peak_mib()
            );
        }
    }
    println!("(peak RSS is the process high-water mark so far: bf16 runs first, so the f32 rows include it)");
}

/// Current resident memory (VmRSS), in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

const VARIANTS: [&str; 4] = ["f32", "bf16-products", "q8", "q4"];

/// `--shape qwen` (the default: Qwen2.5-0.5B's) or `dream-7b` (Dream-7B's, from its
/// config.json, as `bench_infill` has it), cut to `--layers N` when given.
fn weights_shape() -> (String, ArchConfig) {
    let args: Vec<String> = std::env::args().collect();
    let shape = args
        .iter()
        .position(|a| a == "--shape")
        .and_then(|i| args.get(i + 1))
        .map_or("qwen", String::as_str);
    let mut cfg = match shape {
        "qwen" => ArchConfig::qwen2_5_0_5b(),
        "dream-7b" => ArchConfig {
            vocab_size: 152_064,
            hidden_size: 3584,
            intermediate_size: 18_944,
            num_layers: 28,
            num_heads: 28,
            num_kv_heads: 4,
            head_dim: 128,
            max_positions: 8192,
            tie_word_embeddings: false,
            ..ArchConfig::qwen2_5_0_5b()
        },
        other => panic!("unknown shape {other}: qwen or dream-7b"),
    };
    let layers = arg("--layers", cfg.num_layers);
    cfg.num_layers = cfg.num_layers.min(layers);
    (format!("{shape}, {} layers", cfg.num_layers), cfg)
}

/// Runs each variant in a child process and prints the table.
fn bench_weights(canvas: usize, reps: usize) {
    let (name, cfg) = weights_shape();
    println!(
        "{name} ({:.0}M parameters, random weights), full pass over {canvas} tokens (head on 32 rows), cached step over 33 columns; {reps} timed runs each (median), {} threads",
        cfg.parameter_count() as f64 / 1e6,
        candle_core::utils::get_num_threads()
    );
    println!("| weights | resident weights MB | RSS after load MiB | peak RSS MiB | full pass ms | cached step ms |");
    println!("|---|---|---|---|---|---|");
    let exe = std::env::current_exe().expect("own path");
    for v in VARIANTS {
        let passed: Vec<String> = std::env::args()
            .skip(1)
            .skip_while(|a| a != "--shape")
            .take(2)
            .chain(
                std::env::args()
                    .skip(1)
                    .skip_while(|a| a != "--layers")
                    .take(2),
            )
            .collect();
        let out = std::process::Command::new(&exe)
            .args(passed)
            .args([
                "--variant",
                v,
                "--canvas",
                &canvas.to_string(),
                "--reps",
                &reps.to_string(),
            ])
            .output()
            .expect("the child runs");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            println!(
                "| {v} | failed: {} |",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
}

fn bench_variant(variant: &str, canvas: usize, reps: usize) {
    let (_, cfg) = weights_shape();
    let model = match variant {
        "f32" => Transformer::random(cfg.clone(), DType::F32, 0),
        "bf16-products" => {
            Transformer::random_with(cfg.clone(), DType::F32, 0, ProductPrecision::Bf16)
        }
        "q8" => Transformer::random_quantized(cfg.clone(), QuantKind::Q8, 0),
        "q4" => Transformer::random_quantized(cfg.clone(), QuantKind::Q4, 0),
        other => panic!("unknown variant {other}; one of {VARIANTS:?}"),
    }
    .unwrap();
    let loaded = rss_mib();
    let tokens: Vec<u32> = (0..canvas as u32)
        .map(|i| (i * 7919) % cfg.vocab_size as u32)
        .collect();
    let t = Tensor::from_vec(tokens.clone(), (1, canvas), &Device::Cpu).unwrap();
    let positions: Vec<usize> = (0..canvas).collect();
    let window: Vec<usize> = (canvas - 33..canvas).collect();
    let rows: Vec<usize> = (0..32).collect();
    let head: Vec<usize> = window[..32].to_vec();
    let mut cache = None;
    let full: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            let (_, kv) = model.forward_caching(&t, &positions, Some(&head)).unwrap();
            cache = Some(kv);
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let mut kv = cache.expect("a full pass ran");
    let wt: Vec<u32> = window.iter().map(|&c| tokens[c]).collect();
    let step: Vec<f64> = (0..reps + 2)
        .map(|_| {
            let start = Instant::now();
            model
                .forward_window(&mut kv, &window, &wt, &window, &rows)
                .unwrap();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    println!(
        "| {variant} | {:.0} | {loaded:.0} | {:.0} | {:.0} | {:.1} |",
        model.resident_bytes() as f64 / 1e6,
        peak_mib(),
        median(full),
        median(step)
    );
}
