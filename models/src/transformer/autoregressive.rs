//! The autoregressive baseline on the same weights, for benchmarks that compare a diffusion
//! request with decoding the same tokens left to right: a causal pass that fills a cache, then
//! one token at a time appended to it. Not a usable decoder of a diffusion model.

use candle_core::Tensor;

use super::attention::Past;
use super::kv_cache::KvCache;
use super::Transformer;
use crate::error::Result;
use crate::threads::on_pool;

impl Transformer {
    /// A causal pass over `tokens` `[1, seq]` that fills a cache, for
    /// [`forward_append`](Self::forward_append).
    pub fn forward_causal_caching(
        &self,
        tokens: &Tensor,
        positions: &[usize],
        head_rows: Option<&[usize]>,
    ) -> Result<(Tensor, KvCache)> {
        let seq = positions.len();
        // Attention stacks the query heads that share a key head: rows are (head in group, i).
        let group = self.cfg.num_heads / self.cfg.num_kv_heads;
        let causal: Vec<f32> = (0..group * seq)
            .flat_map(|r| (0..seq).map(move |j| if j <= r % seq { 0.0 } else { f32::NEG_INFINITY }))
            .collect();
        let bias = Tensor::from_vec(causal, (1, 1, group * seq, seq), &self.device)?;
        let mut cache = KvCache::recording(seq, self.layers.len());
        let logits =
            self.run_layers(tokens, positions, Some(&bias), head_rows, Some(&mut cache))?;
        Ok((logits, cache))
    }

    /// One decoding step: the token at `position` attends to the cache and to itself, and its
    /// keys and values are appended. Returns its logits `[1, 1, vocab]`.
    pub fn forward_append(
        &self,
        cache: &mut KvCache,
        token: u32,
        position: usize,
    ) -> Result<Tensor> {
        on_pool(|| self.forward_append_here(cache, token, position))
    }

    fn forward_append_here(
        &self,
        cache: &mut KvCache,
        token: u32,
        position: usize,
    ) -> Result<Tensor> {
        self.check_tokens(&[token])?;
        let rotary = self.rotary.at(&[position])?;
        let ids = Tensor::from_slice(&[token], 1, &self.device)?;
        let mut x = self.embed(&ids, 1, 1)?;
        for (layer, (keys, values)) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let past = Past::Before { keys, values };
            let (next, k, v) = layer.forward(&x, &rotary, None, past)?;
            x = next;
            (*keys, *values) = (k, v);
        }
        cache.len += 1;
        self.head.forward(&x, None)
    }
}
