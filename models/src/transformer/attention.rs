//! Grouped-query self-attention without a causal mask (a diffusion model sees the whole
//! canvas), with keys and values of columns outside the rows supplied by a cache ([`Past`]):
//! the layer is the same whether it runs over a whole canvas or a window of it.

use candle_core::{DType, Tensor};

use super::dense::Dense;
use super::rotary::Rotary;
use super::weights::{LayerTensor, Weights};
use crate::config::ArchConfig;
use crate::error::Result;
use crate::kernels::attention::attend_cpu_f32;
use crate::kernels::panels::ProductPrecision;
use crate::kernels::softmax::softmax_last_dim;

pub(super) struct Attention {
    /// The query, key and value projections fused into one matrix: one product instead of
    /// three, which matters most for the small windows of cached steps, where a product's
    /// dispatch costs about as much as its arithmetic.
    qkv: Dense,
    o: Dense,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
}

/// Keys and values from a cache for the rows to attend to, besides their own.
pub(super) enum Past<'a> {
    /// Nothing: the rows are the whole sequence.
    None,
    /// Autoregressive decoding: the cached columns come before the rows.
    #[cfg(feature = "bench")]
    Before {
        keys: &'a Tensor,
        values: &'a Tensor,
    },
    /// A window of an approximate cache: the rows replace the cached columns at `columns`
    /// (`[1, kv_heads, rows, head_dim]` indices), whose copies are stale.
    Replacing {
        keys: &'a Tensor,
        values: &'a Tensor,
        columns: &'a Tensor,
        write: CacheWrite,
    },
}

/// Where a window's fresh keys and values go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CacheWrite {
    /// Into the cached tensors themselves: no copy of the whole cache per layer and step.
    InPlace,
    /// Into a copy the window attends to; the cache stays as it was.
    Copy,
}

impl Attention {
    pub fn new(
        cfg: &ArchConfig,
        weights: &mut Weights,
        layer: usize,
        precision: ProductPrecision,
    ) -> Result<Self> {
        use LayerTensor::*;
        let mut projections = Vec::with_capacity(3);
        let mut biases = Vec::with_capacity(3);
        for (w, b) in [(Q, QBias), (K, KBias), (V, VBias)] {
            projections.push(weights.layer_matrix(layer, w)?);
            biases.push(weights.layer_bias(layer, b)?);
        }
        Ok(Attention {
            qkv: Dense::fused_matrices(projections, &biases, precision)?,
            o: Dense::from_matrix(weights.layer_matrix(layer, O)?, None, precision)?,
            num_heads: cfg.num_heads,
            num_kv_heads: cfg.num_kv_heads,
            head_dim: cfg.head_dim,
        })
    }

    /// Bytes the projections hold.
    pub fn bytes(&self) -> usize {
        self.qkv.bytes() + self.o.bytes()
    }

    /// Attention over the rows of `x` (normed hidden states), with `past` keys and values as
    /// described there and an optional additive `bias` on the scores. Returns the output and
    /// the keys and values the rows attended to (for a cache to keep).
    pub fn forward(
        &self,
        x: &Tensor,
        rotary: &Rotary,
        bias: Option<&Tensor>,
        past: Past,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let (q, k, v) = self.project_qkv(x, rotary)?;
        let (k, v) = match past {
            Past::None => (k, v),
            #[cfg(feature = "bench")]
            Past::Before { keys, values } => {
                (Tensor::cat(&[keys, &k], 2)?, Tensor::cat(&[values, &v], 2)?)
            }
            Past::Replacing {
                keys,
                values,
                columns,
                write: CacheWrite::InPlace,
            } => {
                keys.scatter_set(columns, &k, 2)?;
                values.scatter_set(columns, &v, 2)?;
                (keys.clone(), values.clone())
            }
            Past::Replacing {
                keys,
                values,
                columns,
                write: CacheWrite::Copy,
            } => (
                keys.scatter(columns, &k, 2)?,
                values.scatter(columns, &v, 2)?,
            ),
        };
        let attn = self.attend(&q, &k, &v, bias)?;
        Ok((self.o.forward(&attn)?, k, v))
    }

    /// Queries `[b, heads, t, d]` and rotated keys / values `[b, kv_heads, t, d]`.
    fn project_qkv(&self, x: &Tensor, rotary: &Rotary) -> Result<(Tensor, Tensor, Tensor)> {
        let (b, t, _) = x.dims3()?;
        let (d, nq, nkv) = (self.head_dim, self.num_heads, self.num_kv_heads);
        // [b, t, (nq + 2 nkv) * d] -> [b, nq + 2 nkv, t, d]: each head's columns are one slice.
        let all = self
            .qkv
            .forward(x)?
            .reshape((b, t, nq + 2 * nkv, d))?
            .transpose(1, 2)?;
        let heads =
            |from: usize, n: usize| -> Result<Tensor> { Ok(all.narrow(1, from, n)?.contiguous()?) };
        let q = heads(0, nq)?;
        let k = heads(nq, nkv)?;
        let v = heads(nq + nkv, nkv)?;
        Ok((rotary.apply(&q)?, rotary.apply(&k)?, v))
    }

    /// Full grouped-query attention; returns `[b, t, heads * d]`.
    ///
    /// Query heads that share a key/value head are stacked into one matrix, so keys and values
    /// are never copied per head.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let (b, heads, t, d) = q.dims4()?;
        let k = &k.contiguous()?;
        let v = &v.contiguous()?;
        if bias.is_none() {
            if let Some(out) = attend_cpu_f32(&q.contiguous()?, k, v) {
                return Ok(out?);
            }
        }
        let kv_heads = self.num_kv_heads;
        let group = heads / kv_heads;
        // Scaling the queries (t x d) is cheaper than scaling the scores (t x keys).
        let q = (q.reshape((b, kv_heads, group * t, d))? * (1.0 / (d as f64).sqrt()))?;
        let scores = q.matmul(&k.t()?)?.to_dtype(DType::F32)?;
        let scores = match bias {
            Some(bias) => scores.broadcast_add(bias)?,
            None => scores,
        };
        let probs = softmax_last_dim(&scores)?.to_dtype(v.dtype())?;
        let out = probs.matmul(v)?.reshape((b, heads, t, d))?;
        Ok(out.transpose(1, 2)?.reshape((b, t, heads * d))?)
    }
}
