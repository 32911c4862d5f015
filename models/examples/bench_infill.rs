//! Benchmark (issue 6): an infill request of 8, 32 and 128 tokens with 1,000 and 4,000 tokens of
//! context, decoded by diffusion without a cache, with the approximate KV cache, and with the
//! cache plus parallel decoding; beside the same number of tokens decoded autoregressively by a
//! causal transformer of identical shape with a KV cache (context encoding included for both);
//! and the achieved GFLOP/s of a full denoising step next to a plain matrix product, all in one
//! run. Two shapes, random weights (speed does not depend on the weights): the default model's
//! and Qwen2.5-0.5B's.
//!
//! It also prices every request at this machine's floors: each pass at the measured matmul
//! ceiling or at the measured read bandwidth (weights, head and cached keys and values read
//! once), whichever binds. No implementation can beat a floor, so a target below it is out of
//! reach at that many tokens per step; the run prints how many tokens per step issue 6's
//! targets would need.
//!
//!     cargo run --release -p dllm-models --features bench --example bench_infill [-- --reps 5 --tokens-per-step 2.5 --quick --default-only]
//!
//! One cell of the grid (a long one, say): `--shape qwen --contexts 4000 --spans 128`
//! (`--shape default|qwen|dream-7b|llada-8b`, comma-separated `--contexts` and `--spans`).
//! `--layers N` keeps the first N layers of each shape: a 7B shape is timed at 1 and 2 layers
//! and extrapolated per layer (docs/benchmarks.md, "Real checkpoints").
//!
//! Every figure is measured. A configuration that would take too long to run whole (the 0.5B
//! shape without a cache: one full pass per token) is composed from its measured parts (full
//! passes, cached steps, autoregressive steps, each timed `--reps` times) and marked `≈`.
//! `--tokens-per-step` sets the parallel decoding rows (steps = tokens / that): take it from the
//! default model's evaluation (`evaluate --json`: mean tokens / mean steps), since random
//! weights are never confident. `--bf16-products` loads both shapes as the server does
//! (`LoadOptions::bf16_products`); without it the products are exact f32, as the library's default.
//! The autoregressive baseline runs on the same weights either way.

// The allocator the server runs with (see `server/src/main.rs`), so timings are its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use dllm_models::{
    sample, sample_with_cache, ArchConfig, CancelFlag, Canvas, KvCache, ProductPrecision,
    SamplerOptions, SpecialTokens, TokenPredictor, Transformer,
};

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// A comma-separated list of sizes (`--spans 8,32`); absent: `default`.
fn list(name: &str, default: &[usize]) -> Vec<usize> {
    let v: String = arg(name, String::new());
    if v.is_empty() {
        return default.to_vec();
    }
    v.split(',')
        .map(|x| {
            x.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: not a number: {x}"))
        })
        .collect()
}

/// Resident memory of this process now (VmRSS), in MiB.
fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Dream-v0-7B's shape, shared by DiffuCoder-7B and Dream-Coder-v0-7B (their config.json:
/// Qwen2.5-7B's layers, an untied head).
fn dream_7b() -> ArchConfig {
    ArchConfig {
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
    }
}

/// LLaDA-8B's shape (its config.json: d_model 4096, 32 layers, 32 heads and as many KV heads,
/// MLP 12288, embedding 126464, no biases).
fn llada_8b() -> ArchConfig {
    ArchConfig {
        family: dllm_models::Family::Llada,
        vocab_size: 126_464,
        hidden_size: 4096,
        intermediate_size: 12_288,
        num_layers: 32,
        num_heads: 32,
        num_kv_heads: 32,
        head_dim: 128,
        rms_norm_eps: 1e-5,
        rope_theta: 500_000.0,
        max_positions: 8192,
        tie_word_embeddings: false,
        qkv_bias: false,
    }
}

fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Times `f` `reps` times (after one warm-up run), in milliseconds.
fn time<F: FnMut()>(reps: usize, mut f: F) -> Vec<f64> {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// Read bandwidth in GB/s, the best of `reps` runs: every thread sums its share of a 512 MB buffer (too big for any
/// cache), the floor of a pass that must read its weights and cached keys and values.
fn read_gbps(reps: usize) -> f64 {
    let data = vec![1f32; 128 << 20];
    let threads = candle_core::utils::get_num_threads().max(1);
    let chunk = data.len().div_ceil(threads);
    let ms = time(reps, || {
        let total: f32 = std::thread::scope(|s| {
            let parts: Vec<_> = data
                .chunks(chunk)
                .map(|c| s.spawn(move || c.chunks(16).map(|x| x.iter().sum::<f32>()).sum::<f32>()))
                .collect();
            parts.into_iter().map(|p| p.join().unwrap()).sum()
        });
        std::hint::black_box(total);
    });
    (data.len() * 4) as f64 / (percentile(&ms, 0.0) / 1e3) / 1e9
}

/// The least time a pass can take on this machine: its FLOPs at the matmul ceiling or its bytes
/// at the read bandwidth, whichever is longer (ms).
struct Machine {
    gflops: f64,
    gbps: f64,
}

impl Machine {
    fn floor_ms(&self, flops: f64, bytes: f64) -> f64 {
        (flops / self.gflops).max(bytes / self.gbps) / 1e6
    }
}

/// Floors (ms) of a request for `n` tokens in the middle of `context`, at `tps` tokens per
/// step: (autoregressive with a KV cache, diffusion cold with the cache, diffusion warm), each
/// pass priced by `Machine::floor_ms` from the shape's FLOPs and bytes: weights in bf16 (as
/// checkpoints ship them and the engine reads them on AVX-512 CPUs, `panels.rs`), cached keys
/// and values in f32.
fn floors(cfg: &ArchConfig, m: &Machine, context: usize, n: usize, tps: f64) -> (f64, f64, f64) {
    let len = context + n;
    let bytes = |keys: usize, head: bool| {
        let head = if head { cfg.head_weights() } else { 0.0 };
        2.0 * (cfg.layer_weights() + head) + 4.0 * cfg.cache_values(keys)
    };
    let weights = bytes(0, true);
    // Causal encode: on average a query sees half the context; then one column per token.
    let mut ar = m.floor_ms(cfg.window_flops(context, context / 2, 1), weights);
    for i in 0..n {
        let keys = context + i;
        ar += m.floor_ms(cfg.window_flops(1, keys, 1), bytes(keys, true));
    }
    // Diffusion: step s asks about the positions still masked, plus the columns committed the
    // step before (recomputed once, `cache_masked_only`).
    let steps = ((n as f64) / tps).ceil() as usize;
    let step = |s: usize| -> f64 {
        let masked = n - ((s as f64 * tps).round() as usize).min(n - 1);
        let recent = if s == 0 { 0 } else { tps.round() as usize };
        m.floor_ms(
            cfg.window_flops(masked + recent, len, masked),
            bytes(len, true),
        )
    };
    let cached_steps = |from: usize| -> f64 { (from..steps).map(step).sum() };
    let cold = m.floor_ms(cfg.window_flops(len, len, n), weights) + cached_steps(1);
    // Warm: the changed column and the span recomputed against the reused cache, then every
    // step cached.
    let warm = m.floor_ms(cfg.window_flops(n + 1, len, 0), bytes(len, false)) + cached_steps(0);
    (ar, cold, warm)
}

/// GFLOP/s of a plain f32 matrix product, the best of `reps` runs: a ceiling is what the
/// machine can do, and on a shared machine a median undershoots it.
fn matmul_gflops(n: usize, reps: usize) -> f64 {
    let a = Tensor::randn(0f32, 1.0, (n, n), &Device::Cpu).unwrap();
    let b = Tensor::randn(0f32, 1.0, (n, n), &Device::Cpu).unwrap();
    let ms = time(reps, || {
        a.matmul(&b).unwrap();
    });
    2.0 * (n as f64).powi(3) / (percentile(&ms, 0.0) / 1e3) / 1e9
}

/// A random-weight transformer as the sampler's predictor (Dream's shifted logits).
struct Random {
    t: Transformer,
    special: SpecialTokens,
}

impl Random {
    fn rows(positions: &[usize]) -> Vec<usize> {
        positions.iter().map(|&p| p.saturating_sub(1)).collect()
    }
}

impl TokenPredictor for Random {
    fn predict(&self, canvas: &[u32], positions: &[usize]) -> dllm_models::Result<Tensor> {
        self.t.logits_at(canvas, &Self::rows(positions))
    }
    fn predict_cached(
        &self,
        canvas: &[u32],
        positions: &[usize],
        window: &[usize],
        cache: &mut Option<KvCache>,
    ) -> dllm_models::Result<Tensor> {
        self.t
            .logits_at_cached(canvas, &Self::rows(positions), window, cache)
    }
    fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }
}

struct Row {
    method: &'static str,
    steps: usize,
    ms: Vec<f64>,
    composed: bool,
}

fn main() {
    // Before any thread exists: candle's per-product core count is costly (see the function).
    dllm_models::pin_thread_count();
    let reps: usize = arg("--reps", 5).max(1);
    let tps: f64 = arg("--tokens-per-step", 2.5f64).max(1.0);
    let quick = flag("--quick");
    let bf16_products = flag("--bf16-products");
    let precision = match bf16_products {
        true => ProductPrecision::Bf16,
        false => ProductPrecision::F32,
    };
    // Runs longer than this (estimated from the parts) are composed instead of run whole.
    let budget_ms: f64 = arg("--budget-ms", 15_000.0);
    // The shipped default model's shape (its config.json), with room for 4,000 tokens of
    // context: the speed of a shape does not depend on how far it was trained.
    let config_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("default/config.json");
    let mut default_shape = match std::fs::read_to_string(&config_path) {
        Ok(text) => ArchConfig::from_json(&config_path, &serde_json::from_str(&text).unwrap())
            .expect("models/default/config.json parses"),
        Err(_) => ArchConfig {
            vocab_size: 12_288,
            hidden_size: 256,
            intermediate_size: 768,
            num_layers: 4,
            num_heads: 4,
            num_kv_heads: 2,
            head_dim: 64,
            rope_theta: 10_000.0,
            ..ArchConfig::qwen2_5_0_5b()
        },
    };
    default_shape.max_positions = 8192;
    let default_name = format!(
        "default ({:.1}M)",
        default_shape.parameter_count() as f64 / 1e6
    );
    let only_shape: String = arg("--shape", String::new());
    let mut shapes = match only_shape.as_str() {
        "dream-7b" => vec![("Dream-7B".to_string(), dream_7b())],
        "llada-8b" => vec![("LLaDA-8B".to_string(), llada_8b())],
        _ => vec![
            (default_name, default_shape),
            ("Qwen2.5-0.5B".to_string(), ArchConfig::qwen2_5_0_5b()),
        ],
    };
    // A 7B shape does not fit a small machine's memory whole, nor its time budget: run the
    // first layers only, and extrapolate per layer from two such runs (docs/benchmarks.md).
    let layers: usize = arg("--layers", 0);
    if layers > 0 {
        for (name, cfg) in &mut shapes {
            *name = format!("{name}, {layers} of {} layers", cfg.num_layers);
            cfg.num_layers = cfg.num_layers.min(layers);
        }
    }
    let contexts = list("--contexts", if quick { &[1000] } else { &[1000, 4000] });
    let spans = list("--spans", if quick { &[32] } else { &[8, 32, 128] });

    println!(
        "threads {}, reps {reps}, parallel decoding at {tps} tokens/step, bf16 products {bf16_products}; ms are p50 / p95 over reps",
        candle_core::utils::get_num_threads()
    );
    // The ceilings are measured again at the end, and the better of the two is used.
    let ceiling_reps = reps.max(5);
    let ceiling_start = matmul_gflops(2048, ceiling_reps);
    println!(
        "plain f32 matmul 2048³: {ceiling_start:.1} GFLOP/s (the ceiling; best of {ceiling_reps})"
    );
    let bandwidth_start = read_gbps(ceiling_reps);
    println!("read bandwidth (512 MB, all threads): {bandwidth_start:.1} GB/s (best of {ceiling_reps})\n");
    // (shape, context, span, measured p50 ms: autoregressive, cached one token per step,
    // cached parallel, warm parallel)
    let mut measured: Vec<(String, ArchConfig, usize, usize, [f64; 4])> = Vec::new();
    println!("| model | context | span | method | steps | tokens/step | ms p50 | ms p95 | tokens/s | vs autoregressive |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut step_rows = Vec::new();
    let default_only = flag("--default-only");
    for (name, cfg) in &shapes {
        let (name, cfg) = (name.as_str(), cfg.clone());
        let is_qwen = name.starts_with("Qwen");
        if (default_only || only_shape == "default") && is_qwen || only_shape == "qwen" && !is_qwen
        {
            continue;
        }
        let special = SpecialTokens {
            mask: 1,
            end: vec![], // random weights: no early end, every run takes its steps
            pad: 0,
            bos: None,
            add_bos: false,
        };
        let model = Random {
            t: Transformer::random_with(cfg.clone(), DType::F32, 0, precision).unwrap(),
            special,
        };
        eprintln!(
            "  {name}: {:.0} M parameters, resident after building it: {:.0} MiB",
            cfg.parameter_count() as f64 / 1e6,
            resident_mib()
        );
        for &context in &contexts {
            for &n in &spans {
                let len = context + n;
                // Text tokens that are never the mask / end token; the span sits in the middle.
                let tokens: Vec<u32> = (0..len as u32)
                    .map(|i| 2 + (i * 7919) % (cfg.vocab_size as u32 - 2))
                    .collect();
                let start = context / 2;
                let span = start..start + n;
                let rows: Vec<usize> = span.clone().map(|p| p - 1).collect();
                // The parts.
                let full = time(reps, || {
                    model.t.logits_at(&tokens, &rows).unwrap();
                });
                let mut cache = None;
                model
                    .t
                    .logits_at_cached(&tokens, &rows, &[], &mut cache)
                    .unwrap();
                let window: Vec<usize> = span.clone().collect();
                let cached = time(reps, || {
                    model
                        .t
                        .logits_at_cached(&tokens, &rows, &window, &mut cache)
                        .unwrap();
                });
                let ctx =
                    Tensor::from_slice(&tokens[..context], (1, context), &Device::Cpu).unwrap();
                let positions: Vec<usize> = (0..context).collect();
                let mut ar_cache = None;
                let encode = time(reps, || {
                    ar_cache = Some(
                        model
                            .t
                            .forward_causal_caching(&ctx, &positions, Some(&[context - 1]))
                            .unwrap()
                            .1,
                    );
                });
                let base = ar_cache.take().unwrap();
                // Autoregressive steps: n tokens appended to a fresh copy of the context cache.
                let mut ar_step = Vec::new();
                let ar_total: Vec<f64> = (0..reps.min(3))
                    .map(|_| {
                        let mut kv = base.duplicate().unwrap();
                        let t0 = Instant::now();
                        let mut token = 5u32;
                        for i in 0..n {
                            let s = Instant::now();
                            let logits =
                                model.t.forward_append(&mut kv, token, context + i).unwrap();
                            token = logits
                                .flatten_all()
                                .unwrap()
                                .argmax(0)
                                .unwrap()
                                .to_scalar::<u32>()
                                .unwrap();
                            ar_step.push(s.elapsed().as_secs_f64() * 1e3);
                        }
                        t0.elapsed().as_secs_f64() * 1e3
                    })
                    .collect();
                let ar: Vec<f64> = ar_total
                    .iter()
                    .zip(encode.iter().cycle())
                    .map(|(d, e)| d + e)
                    .collect();
                if context == contexts[0] && n == spans[spans.len() / 2] {
                    // The full pass, and a cached step over the span and the row before it.
                    let full_flops = cfg.forward_flops(len, n);
                    let step_flops = cfg.window_flops(n + 1, len, n);
                    step_rows.push((
                        name,
                        "full pass",
                        len,
                        n,
                        percentile(&full, 0.5),
                        full_flops,
                    ));
                    step_rows.push((
                        name,
                        "cached step",
                        n + 1,
                        n,
                        percentile(&cached, 0.5),
                        step_flops,
                    ));
                }

                let parallel_steps = ((n as f64) / tps).ceil() as usize;
                let p50 = |v: &[f64]| percentile(v, 0.5);
                let compose = |steps: usize, first: &[f64], each: &[f64]| -> Vec<f64> {
                    first
                        .iter()
                        .zip(each.iter().cycle())
                        .map(|(f, e)| f + (steps - 1) as f64 * e)
                        .collect()
                };
                let mut rows_out = vec![Row {
                    method: "autoregressive + KV cache",
                    steps: n,
                    ms: ar,
                    composed: false,
                }];
                for (method, steps, use_cache) in [
                    ("diffusion, no cache", n, false),
                    ("diffusion + cache", n, true),
                    ("diffusion + cache + parallel", parallel_steps, true),
                ] {
                    let estimate = if use_cache {
                        p50(&full) + (steps - 1) as f64 * p50(&cached)
                    } else {
                        steps as f64 * p50(&full)
                    };
                    let (ms, composed) = if estimate <= budget_ms {
                        let options = SamplerOptions {
                            steps: Some(steps),
                            kv_cache: use_cache,
                            ..Default::default()
                        };
                        let canvas = Canvas::new(tokens.clone(), vec![span.clone()]);
                        let runs = reps.min(if estimate > 2000.0 { 2 } else { reps });
                        let ms: Vec<f64> = (0..runs)
                            .map(|_| {
                                let t = Instant::now();
                                let out = sample(
                                    &model,
                                    canvas.clone(),
                                    &options,
                                    &CancelFlag::new(),
                                    None,
                                )
                                .unwrap();
                                assert_eq!(out.steps, steps);
                                t.elapsed().as_secs_f64() * 1e3
                            })
                            .collect();
                        (ms, false)
                    } else if use_cache {
                        (compose(steps, &full, &cached), true)
                    } else {
                        (full.iter().map(|f| f * steps as f64).collect(), true)
                    };
                    rows_out.push(Row {
                        method,
                        steps,
                        ms,
                        composed,
                    });
                }
                // Warm: the same request a keystroke later (one more token before the span), with
                // the last request's cache reused: shared keys kept (the suffix's rotated), the
                // changed columns recomputed, then the cached, parallel steps.
                let warm_estimate = p50(&cached) * (parallel_steps + 1) as f64;
                let (ms, composed) = if warm_estimate <= budget_ms {
                    let options = SamplerOptions {
                        steps: Some(parallel_steps),
                        kv_cache: true,
                        ..Default::default()
                    };
                    let mut typed = tokens.clone();
                    typed.insert(start, 77);
                    let typed_span = start + 1..start + 1 + n;
                    let first = Canvas::new(tokens.clone(), vec![span.clone()]);
                    let (_, kv) =
                        sample_with_cache(&model, first, &options, &CancelFlag::new(), None, None)
                            .unwrap();
                    let kv = kv.unwrap();
                    let mut base = tokens.clone();
                    for p in span.clone() {
                        base[p] = 1; // the canvas the cache was made for: span masked
                    }
                    let mut masked = typed.clone();
                    for p in typed_span.clone() {
                        masked[p] = 1;
                    }
                    let ms: Vec<f64> = (0..reps)
                        .map(|_| {
                            let t = Instant::now();
                            let (warm, _) = model
                                .t
                                .reuse_and_refresh(
                                    &kv,
                                    &base,
                                    &masked,
                                    std::slice::from_ref(&typed_span),
                                )
                                .unwrap()
                                .expect("reusable");
                            let canvas = Canvas::new(typed.clone(), vec![typed_span.clone()]);
                            let (out, _) = sample_with_cache(
                                &model,
                                canvas,
                                &options,
                                &CancelFlag::new(),
                                None,
                                Some(warm),
                            )
                            .unwrap();
                            assert_eq!(out.steps, parallel_steps);
                            t.elapsed().as_secs_f64() * 1e3
                        })
                        .collect();
                    (ms, false)
                } else {
                    (
                        cached
                            .iter()
                            .map(|c| c * (parallel_steps + 1) as f64)
                            .collect(),
                        true,
                    )
                };
                rows_out.push(Row {
                    method: "diffusion + cache + parallel, warm (next keystroke)",
                    steps: parallel_steps,
                    ms,
                    composed,
                });
                let ar_p50 = p50(&rows_out[0].ms);
                measured.push((
                    name.to_string(),
                    cfg.clone(),
                    context,
                    n,
                    [
                        ar_p50,
                        p50(&rows_out[2].ms),
                        p50(&rows_out[3].ms),
                        p50(&rows_out[4].ms),
                    ],
                ));
                for r in &rows_out {
                    let mark = if r.composed { "≈" } else { "" };
                    let m = p50(&r.ms);
                    println!(
                        "| {name} | {context} | {n} | {} | {} | {:.1} | {mark}{:.0} | {mark}{:.0} | {:.0} | {:.2}x |",
                        r.method,
                        r.steps,
                        n as f64 / r.steps as f64,
                        m,
                        percentile(&r.ms, 0.95),
                        n as f64 / (m / 1e3),
                        ar_p50 / m
                    );
                }
                eprintln!(
                    "  parts ({name}, {context}+{n}): full pass {:.1} ms, cached step {:.1} ms, causal encode {:.1} ms, autoregressive step {:.2} ms",
                    p50(&full),
                    p50(&cached),
                    p50(&encode),
                    p50(&ar_step)
                );
            }
        }
    }
    let ceiling_end = matmul_gflops(2048, ceiling_reps);
    let bandwidth_end = read_gbps(ceiling_reps);
    let ceiling = ceiling_start.max(ceiling_end);
    let machine = Machine {
        gflops: ceiling,
        gbps: bandwidth_start.max(bandwidth_end),
    };
    println!(
        "\nceilings again at the end: {ceiling_end:.1} GFLOP/s, {bandwidth_end:.1} GB/s; used: {:.1} GFLOP/s, {:.1} GB/s",
        machine.gflops, machine.gbps
    );
    // What this machine allows at best: each pass at the matmul ceiling or the read bandwidth.
    println!("\nFloors: every pass at the matmul ceiling or the read bandwidth, whichever binds (ms; measured p50 beside, ≈ composed)");
    println!("\n| model | context | span | tokens/step | autoregressive floor | measured | diffusion cold floor | measured | warm floor | measured | cold floor vs autoregressive floor |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, cfg, context, n, [ar, one, par, warm]) in &measured {
        for (t, cold_measured, warm_measured) in
            [(1.0, Some(*one), None), (tps, Some(*par), Some(*warm))]
        {
            let (ar_floor, cold_floor, warm_floor) = floors(cfg, &machine, *context, *n, t);
            let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
            println!(
                "| {name} | {context} | {n} | {t} | {ar_floor:.1} | {ar:.0} | {cold_floor:.1} | {} | {warm_floor:.1} | {} | {:.2}x |",
                show(cold_measured),
                show(warm_measured),
                ar_floor / cold_floor
            );
        }
    }

    // Issue 6's targets, for a 32-token span with 1,000 tokens of context: at the floors, how
    // many tokens per step each needs (the default model commits about 1).
    for (name, cfg, context, n, _) in measured.iter().filter(|m| m.2 == 1000 && m.3 == 32) {
        let need = |ok: &dyn Fn(f64, f64, f64) -> bool| -> String {
            (1..=*n)
                .map(|t| t as f64)
                .find(|&t| {
                    let (a, c, w) = floors(cfg, &machine, *context, *n, t);
                    ok(a, c, w)
                })
                .map_or("more than the span (never)".to_string(), |t| format!("{t}"))
        };
        println!(
            "\n{name}, {context}+{n}: tokens per step needed at the floors: cold <= 150 ms: {}; warm <= 30 ms: {}; cold 2x faster than autoregressive: {}",
            need(&|_, c, _| c <= 150.0),
            need(&|_, _, w| w <= 30.0),
            need(&|a, c, _| 2.0 * c <= a)
        );
    }

    println!(
        "\n| model | pass | columns computed | head rows | ms | GFLOP/s | share of matmul ceiling |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, pass, cols, n, ms, flops) in step_rows {
        let g = flops / (ms / 1e3) / 1e9;
        println!(
            "| {name} | {pass} | {cols} | {n} | {ms:.1} | {g:.1} | {:.0}% |",
            100.0 * g / ceiling
        );
    }
}
