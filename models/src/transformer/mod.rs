//! The bidirectional transformer shared by every checkpoint family: token embedding, decoder
//! layers (RMSNorm, rotary grouped-query attention without a causal mask, SwiGLU MLP), final
//! norm and output head.
//!
//! Passes take explicit position ids, and attention takes the keys and values of other columns
//! from outside the layer, so the approximate KV cache of a denoising run ([`KvCache`]) feeds
//! the same layers as a full pass.

mod attention;
#[cfg(feature = "bench")]
mod autoregressive;
mod cache_reuse;
mod dense;
mod head;
mod kv_cache;
mod layer;
mod mlp;
#[cfg(any(test, feature = "bench"))]
mod random;
mod rotary;
mod weights;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use self::attention::Past;
use self::head::OutputHead;
use self::layer::DecoderLayer;
use self::rotary::RotaryEmbedding;
use self::weights::{Matrix, Weights};
use crate::config::ArchConfig;
use crate::error::{Error, Result};
use crate::kernels::panels::ProductPrecision;
use crate::quant::{QuantKind, QuantizedMatrix};
use crate::threads::on_pool;

pub use self::kv_cache::KvCache;
pub(crate) use self::weights::{tensor_specs, LayerTensor, WeightNames};

pub struct Transformer {
    cfg: ArchConfig,
    dtype: DType,
    device: Device,
    embed: Tensor,
    layers: Vec<DecoderLayer>,
    head: OutputHead,
    rotary: RotaryEmbedding,
}

impl Transformer {
    /// Builds the model from named tensors (already checked against `tensor_specs`).
    pub(crate) fn from_tensors(
        cfg: ArchConfig,
        tensors: HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
        precision: ProductPrecision,
    ) -> Result<Self> {
        let weights = Weights::new(&cfg, tensors);
        Self::from_weights(cfg, weights, dtype, device, precision, None)
    }

    /// Builds the model from named tensors and matrices quantized as they were loaded (see
    /// [`crate::checkpoint::load_quantized`]). A head tied to the embedding is quantized to
    /// `tied_head`.
    pub(crate) fn from_quantized(
        cfg: ArchConfig,
        tensors: HashMap<String, Tensor>,
        quantized: HashMap<String, QuantizedMatrix>,
        device: &Device,
        tied_head: QuantKind,
    ) -> Result<Self> {
        let weights = Weights::with_quantized(&cfg, tensors, quantized);
        let precision = ProductPrecision::F32;
        Self::from_weights(cfg, weights, DType::F32, device, precision, Some(tied_head))
    }

    fn from_weights(
        cfg: ArchConfig,
        mut weights: Weights,
        dtype: DType,
        device: &Device,
        precision: ProductPrecision,
        tied_head: Option<QuantKind>,
    ) -> Result<Self> {
        let embed = weights.embed()?;
        let final_norm = weights.final_norm()?;
        let head = match cfg.tie_word_embeddings {
            true => match tied_head {
                Some(kind) => Matrix::Quantized(QuantizedMatrix::quantize_tensor(kind, &embed)?),
                None => Matrix::Plain(embed.clone()),
            },
            false => weights.head_matrix()?,
        };
        let head = match head {
            Matrix::Plain(w) => OutputHead::new(final_norm, w, cfg.rms_norm_eps, precision)?,
            Matrix::Quantized(q) => OutputHead::quantized(final_norm, &q, cfg.rms_norm_eps),
        };
        // Every layer has tensors: never reserve more layers than there are tensors.
        let mut layers = Vec::with_capacity(cfg.num_layers.min(weights.remaining()));
        for l in 0..cfg.num_layers {
            layers.push(DecoderLayer::new(&cfg, &mut weights, l, precision)?);
        }
        Ok(Transformer {
            head,
            rotary: RotaryEmbedding::new(&cfg, dtype, device),
            cfg,
            dtype,
            device: device.clone(),
            embed,
            layers,
        })
    }

    /// Bytes the weights hold in memory: embedding, layers and head, each once.
    pub fn resident_bytes(&self) -> usize {
        let size = |t: &Tensor| t.elem_count() * t.dtype().size_in_bytes();
        let stored = match self.head.stored() {
            Some(w) if !self.cfg.tie_word_embeddings => size(w),
            _ => 0,
        };
        let layers: usize = self.layers.iter().map(DecoderLayer::bytes).sum();
        size(&self.embed) + layers + self.head.bytes() + stored
    }

    pub fn config(&self) -> &ArchConfig {
        &self.cfg
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Logits `[batch, rows, vocab]` (f32) for the hidden states at `head_rows` (all rows when
    /// `None`), position-aligned: row i comes from the hidden state at i. The family's logit
    /// shift is applied by the caller, which knows which tokens it asks about.
    ///
    /// `tokens`: `[batch, seq]` u32. `positions`: the position id of each column (usually 0..seq).
    /// `keep`: optional `[batch][seq]` padding mask; keys where it is false are not attended to.
    pub fn forward(
        &self,
        tokens: &Tensor,
        positions: &[usize],
        keep: Option<&[Vec<bool>]>,
        head_rows: Option<&[usize]>,
    ) -> Result<Tensor> {
        self.forward_inner(tokens, positions, keep, head_rows, None)
    }

    /// Logits `[rows.len(), vocab]` for the hidden states at `rows` of one canvas.
    pub fn logits_at(&self, canvas: &[u32], rows: &[usize]) -> Result<Tensor> {
        let t = Tensor::from_slice(canvas, (1, canvas.len()), &self.device)?;
        let all: Vec<usize> = (0..canvas.len()).collect();
        Ok(self.forward(&t, &all, None, Some(rows))?.squeeze(0)?)
    }

    /// Checks token ids before they index the embedding.
    pub(crate) fn check_tokens(&self, tokens: &[u32]) -> Result<()> {
        match tokens.iter().find(|&&t| t as usize >= self.cfg.vocab_size) {
            Some(t) => Err(Error::InvalidRequest(format!(
                "token id {t} is outside the vocabulary of {}",
                self.cfg.vocab_size
            ))),
            None => Ok(()),
        }
    }

    /// [`forward`](Self::forward) that, with `record`, keeps every layer's keys and values.
    fn forward_inner(
        &self,
        tokens: &Tensor,
        positions: &[usize],
        keep: Option<&[Vec<bool>]>,
        head_rows: Option<&[usize]>,
        record: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (batch, seq) = tokens.dims2()?;
        if positions.len() != seq {
            return Err(Error::InvalidRequest(format!(
                "{} position ids for {seq} tokens",
                positions.len()
            )));
        }
        let bias = match keep {
            Some(keep) => Some(self.padding_bias(keep, batch, seq)?),
            None => None,
        };
        self.run_layers(tokens, positions, bias.as_ref(), head_rows, record)
    }

    /// Every layer and the head over `tokens`, on a pool thread (see `threads::on_pool`).
    fn run_layers(
        &self,
        tokens: &Tensor,
        positions: &[usize],
        bias: Option<&Tensor>,
        head_rows: Option<&[usize]>,
        record: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        on_pool(|| self.run_layers_here(tokens, positions, bias, head_rows, record))
    }

    fn run_layers_here(
        &self,
        tokens: &Tensor,
        positions: &[usize],
        bias: Option<&Tensor>,
        head_rows: Option<&[usize]>,
        mut record: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (batch, seq) = tokens.dims2()?;
        let rotary = self.rotary.at(positions)?;
        let mut x = self.embed(&tokens.flatten_all()?, batch, seq)?;
        for layer in &self.layers {
            let (next, k, v) = layer.forward(&x, &rotary, bias, Past::None)?;
            x = next;
            if let Some(cache) = record.as_mut() {
                cache.layers.push((k, v));
            }
        }
        self.head.forward(&x, head_rows)
    }

    /// Embeddings of `ids` (`batch * seq` of them), `[batch, seq, hidden]`.
    fn embed(&self, ids: &Tensor, batch: usize, seq: usize) -> Result<Tensor> {
        // A quantized model keeps its embedding in bf16 and computes in f32.
        let rows = self.embed.index_select(ids, 0)?.to_dtype(self.dtype)?;
        Ok(rows.reshape((batch, seq, ()))?)
    }

    fn padding_bias(&self, keep: &[Vec<bool>], batch: usize, seq: usize) -> Result<Tensor> {
        if keep.len() != batch || keep.iter().any(|row| row.len() != seq) {
            return Err(Error::InvalidRequest(format!(
                "padding mask must be {batch} rows of {seq}"
            )));
        }
        let flat: Vec<f32> = keep
            .iter()
            .flatten()
            .map(|&k| if k { 0.0 } else { f32::NEG_INFINITY })
            .collect();
        Ok(Tensor::from_vec(flat, (batch, 1, 1, seq), &self.device)?)
    }
}
