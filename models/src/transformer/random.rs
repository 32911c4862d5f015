//! Models with random weights of a given shape, for benchmarks (speed does not depend on the
//! weights) and unit tests. Not usable models.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};

use super::weights::tensor_specs;
use super::Transformer;
use crate::config::ArchConfig;
use crate::error::Result;
use crate::kernels::panels::ProductPrecision;

impl Transformer {
    /// Deterministic for a seed: weights are uniform with the spread of a 0.02 normal, rounded
    /// to bf16 as a shipped checkpoint's are (so f32 models take the same products as one).
    pub fn random(cfg: ArchConfig, dtype: DType, seed: u64) -> Result<Self> {
        Self::random_with(cfg, dtype, seed, ProductPrecision::F32)
    }

    /// [`random`](Self::random) with products of the given precision.
    pub fn random_with(
        cfg: ArchConfig,
        dtype: DType,
        seed: u64,
        precision: ProductPrecision,
    ) -> Result<Self> {
        let device = Device::Cpu;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let bound = 0.02 * 3f32.sqrt();
        let mut tensors = HashMap::new();
        for spec in tensor_specs(&cfg) {
            let n: usize = spec.shape.iter().product();
            // Norm weights are ones, as a freshly initialised model's.
            let values: Vec<f32> = if spec.shape.len() == 1 && !spec.name.ends_with("bias") {
                vec![1.0; n]
            } else {
                (0..n).map(|_| rng.random_range(-bound..bound)).collect()
            };
            let t = Tensor::from_vec(values, spec.shape.as_slice(), &device)?
                .to_dtype(DType::BF16)?
                .to_dtype(dtype)?;
            tensors.insert(spec.name, t);
        }
        Self::from_tensors(cfg, tensors, dtype, &device, precision)
    }
}
