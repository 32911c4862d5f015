//! One decoder layer: RMSNorm and attention, then RMSNorm and MLP, each added to the residual
//! stream.

use candle_core::Tensor;
use candle_nn::ops::rms_norm;

use super::attention::{Attention, Past};
use super::mlp::Mlp;
use super::rotary::Rotary;
use super::weights::{LayerTensor, Weights};
use crate::config::ArchConfig;
use crate::error::Result;
use crate::kernels::panels::ProductPrecision;

pub(super) struct DecoderLayer {
    attn_norm: Tensor,
    attention: Attention,
    mlp_norm: Tensor,
    mlp: Mlp,
    eps: f32,
}

impl DecoderLayer {
    pub fn new(
        cfg: &ArchConfig,
        weights: &mut Weights,
        layer: usize,
        precision: ProductPrecision,
    ) -> Result<Self> {
        Ok(DecoderLayer {
            attn_norm: weights.layer(layer, LayerTensor::AttnNorm)?,
            attention: Attention::new(cfg, weights, layer, precision)?,
            mlp_norm: weights.layer(layer, LayerTensor::MlpNorm)?,
            mlp: Mlp::new(weights, layer, precision)?,
            eps: cfg.rms_norm_eps as f32,
        })
    }

    /// Bytes the layer's weights hold.
    pub fn bytes(&self) -> usize {
        let norms = (self.attn_norm.elem_count() + self.mlp_norm.elem_count()) * 4;
        self.attention.bytes() + self.mlp.bytes() + norms
    }

    /// The layer over the rows of `x` `[b, t, hidden]`. Returns the output and the keys and
    /// values the rows attended to (see [`Attention::forward`]).
    pub fn forward(
        &self,
        x: &Tensor,
        rotary: &Rotary,
        bias: Option<&Tensor>,
        past: Past,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let h = rms_norm(x, &self.attn_norm, self.eps)?;
        let (attn, k, v) = self.attention.forward(&h, rotary, bias, past)?;
        let x = (x + attn)?;
        let h = rms_norm(&x, &self.mlp_norm, self.eps)?;
        let mlp = self.mlp.forward(&h)?;
        Ok(((x + mlp)?, k, v))
    }
}
