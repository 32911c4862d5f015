//! The output head: the final norm, then logits for the rows a caller asks about (a denoising
//! step needs a few rows of the canvas, never all of it).

use candle_core::{DType, Device, Tensor};
use candle_nn::ops::rms_norm;

use super::dense::Dense;
use crate::error::Result;
use crate::kernels::panels::ProductPrecision;
use crate::quant::QuantizedMatrix;

pub(super) struct OutputHead {
    norm: Tensor,
    eps: f32,
    /// The head as stored, `[vocab, hidden]`: where the head is not on bf16 panels, a single
    /// row's product reads it fastest. `None` for a quantized head.
    weight: Option<Tensor>,
    /// The same as a layer (see `Dense`): bf16 panels, or else transposed, which is faster for
    /// several rows. Costs a second copy of the head where it is not on panels.
    dense: Dense,
    device: Device,
}

impl OutputHead {
    pub fn new(
        norm: Tensor,
        weight: Tensor,
        eps: f64,
        precision: ProductPrecision,
    ) -> Result<Self> {
        Ok(OutputHead {
            dense: Dense::new(&weight, None, precision)?,
            device: weight.device().clone(),
            norm,
            eps: eps as f32,
            weight: Some(weight),
        })
    }

    /// A head of quantized weights.
    pub fn quantized(norm: Tensor, weight: &QuantizedMatrix, eps: f64) -> Self {
        OutputHead {
            dense: Dense::quantized(weight, None),
            device: norm.device().clone(),
            norm,
            eps: eps as f32,
            weight: None,
        }
    }

    /// Bytes the norm and the product's weights hold (not [`stored`](Self::stored)).
    pub fn bytes(&self) -> usize {
        self.norm.elem_count() * 4 + self.dense.bytes()
    }

    /// The head as stored, kept beside the product's weights (it may be the embedding).
    pub fn stored(&self) -> Option<&Tensor> {
        self.weight.as_ref()
    }

    /// Logits (f32) for the hidden states of `x` `[b, t, hidden]` at `rows` (all when `None`).
    pub fn forward(&self, x: &Tensor, rows: Option<&[usize]>) -> Result<Tensor> {
        let x = match rows {
            Some(rows) => {
                let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
                let idx = Tensor::from_vec(idx, rows.len(), &self.device)?;
                x.index_select(&idx, 1)?
            }
            None => x.clone(),
        };
        let x = rms_norm(&x.contiguous()?, &self.norm, self.eps)?;
        let one_row = x.dims().iter().rev().skip(1).product::<usize>() == 1;
        let logits = match &self.weight {
            Some(w) if one_row && !self.dense.on_panels() => x.broadcast_matmul(&w.t()?)?,
            _ => self.dense.forward(&x)?,
        };
        Ok(logits.to_dtype(DType::F32)?)
    }
}
