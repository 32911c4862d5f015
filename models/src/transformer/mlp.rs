//! The SwiGLU MLP: `down(silu(gate(x)) * up(x))`.

use candle_core::Tensor;

use super::dense::Dense;
use super::weights::{LayerTensor, Weights};
use crate::error::Result;
use crate::kernels::activation::silu_mul;
use crate::kernels::panels::ProductPrecision;

/// Gate and up stay two products: fused into one, the halves of its output are strided, and
/// candle runs SiLU and the product on strided tensors on one thread.
pub(super) struct Mlp {
    gate: Dense,
    up: Dense,
    down: Dense,
}

impl Mlp {
    pub fn new(weights: &mut Weights, layer: usize, precision: ProductPrecision) -> Result<Self> {
        let mut dense =
            |t: LayerTensor| Dense::from_matrix(weights.layer_matrix(layer, t)?, None, precision);
        Ok(Mlp {
            gate: dense(LayerTensor::Gate)?,
            up: dense(LayerTensor::Up)?,
            down: dense(LayerTensor::Down)?,
        })
    }

    pub fn bytes(&self) -> usize {
        self.gate.bytes() + self.up.bytes() + self.down.bytes()
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let hidden = silu_mul(&self.gate.forward(x)?, &self.up.forward(x)?)?;
        self.down.forward(&hidden)
    }
}
