//! Helpers shared by the crate's unit tests.

use candle_core::{DType, Device, Tensor};

use crate::config::ArchConfig;
use crate::transformer::{KvCache, Transformer};

/// max |a - b| over all elements (f32 tensors of one shape).
pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// `n` values in [-1, 1) from a small deterministic generator (no RNG state to thread through).
pub(crate) fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            let x = i
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(97));
            (x >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

/// A tiny random transformer (two layers, grouped heads) for tests of the passes.
pub(crate) fn small_transformer() -> Transformer {
    let cfg = ArchConfig {
        vocab_size: 64,
        hidden_size: 32,
        intermediate_size: 48,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 8,
        rope_theta: 500.0,
        max_positions: 128,
        ..ArchConfig::qwen2_5_0_5b()
    };
    Transformer::random(cfg, DType::F32, 3).unwrap()
}

/// The cache of a full pass over `tokens`.
pub(crate) fn cache_of(t: &Transformer, tokens: &[u32]) -> KvCache {
    let x = Tensor::from_slice(tokens, (1, tokens.len()), &Device::Cpu).unwrap();
    let all: Vec<usize> = (0..tokens.len()).collect();
    t.forward_caching(&x, &all, Some(&[0])).unwrap().1
}
