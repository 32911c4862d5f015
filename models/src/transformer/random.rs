//! Models with random weights of a given shape, for benchmarks (speed does not depend on the
//! weights) and unit tests. Not usable models.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use half::bf16;
use rand::{Rng, SeedableRng};

use super::weights::tensor_specs;
use super::Transformer;
use crate::config::ArchConfig;
use crate::error::Result;
use crate::kernels::panels::ProductPrecision;
use crate::quant::{QuantKind, QuantizedMatrix};

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
        let mut tensors = HashMap::new();
        for_each_random(&cfg, seed, &mut |name, t| {
            tensors.insert(name, t.to_dtype(dtype)?);
            Ok(())
        })?;
        Self::from_tensors(cfg, tensors, dtype, &device, precision)
    }

    /// A random model loaded as `dtype` `q8` or `q4` would load it: each matrix quantized as it
    /// is made (the head and a tied head in q8), the embedding in bf16.
    pub fn random_quantized(cfg: ArchConfig, kind: QuantKind, seed: u64) -> Result<Self> {
        let names = super::weights::WeightNames::of(cfg.family);
        let (mut tensors, mut quantized) = (HashMap::new(), HashMap::new());
        for_each_random(&cfg, seed, &mut |name, t| {
            if let (&[_, _], false) = (t.dims(), name == names.embed) {
                let kind = if name == names.head {
                    QuantKind::Q8
                } else {
                    kind
                };
                quantized.insert(name, QuantizedMatrix::quantize_tensor(kind, &t)?);
            } else {
                let dtype = if name == names.embed {
                    DType::BF16
                } else {
                    DType::F32
                };
                tensors.insert(name, t.to_dtype(dtype)?);
            }
            Ok(())
        })?;
        Self::from_quantized(cfg, tensors, quantized, &Device::Cpu, QuantKind::Q8)
    }
}

/// Each tensor of a random model in turn, bf16 values: uniform with the spread of a 0.02
/// normal, norms ones.
fn for_each_random(
    cfg: &ArchConfig,
    seed: u64,
    take: &mut dyn FnMut(String, Tensor) -> Result<()>,
) -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let bound = 0.02 * 3f32.sqrt();
    for spec in tensor_specs(cfg) {
        let n: usize = spec.shape.iter().product();
        // Norm weights are ones, as a freshly initialised model's.
        // Made in bf16 directly: no f32 copy of the largest tensor (the embedding).
        let values: Vec<bf16> = if spec.shape.len() == 1 && !spec.name.ends_with("bias") {
            vec![bf16::ONE; n]
        } else {
            (0..n)
                .map(|_| bf16::from_f32(rng.random_range(-bound..bound)))
                .collect()
        };
        take(
            spec.name,
            Tensor::from_vec(values, spec.shape.as_slice(), &Device::Cpu)?,
        )?;
    }
    Ok(())
}
