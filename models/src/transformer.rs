//! The bidirectional transformer shared by every checkpoint family: RMSNorm, rotary positions,
//! grouped-query attention without a causal mask, SwiGLU MLP.
//!
//! The forward pass takes explicit position ids and splits each attention layer into "project
//! keys/values" and "attend", so an approximate KV cache of the context (keys and values of the
//! prefix and suffix kept across denoising steps) can be added by feeding cached keys and values
//! to `attend` without rewriting the layer.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use crate::dense::Dense;
use crate::kernels::activation::silu_mul;

use crate::checkpoint::TensorSpec;
use crate::config::{ArchConfig, Family};
use crate::error::{Error, Result};
use crate::kernels::panels::ProductPrecision;
use crate::threads::on_pool;

/// Weight names of one family. Both map onto the same tensors; only names differ.
pub(crate) struct WeightNames {
    pub embed: String,
    pub final_norm: String,
    pub head: String,
    layer: fn(usize, LayerTensor) -> String,
    /// What every layer tensor's name starts with, before the layer's index.
    layer_prefix: &'static str,
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum LayerTensor {
    AttnNorm,
    Q,
    K,
    V,
    QBias,
    KBias,
    VBias,
    O,
    MlpNorm,
    Gate,
    Up,
    Down,
}

fn dream_layer(i: usize, t: LayerTensor) -> String {
    use LayerTensor::*;
    let p = format!("model.layers.{i}");
    match t {
        AttnNorm => format!("{p}.input_layernorm.weight"),
        Q => format!("{p}.self_attn.q_proj.weight"),
        K => format!("{p}.self_attn.k_proj.weight"),
        V => format!("{p}.self_attn.v_proj.weight"),
        QBias => format!("{p}.self_attn.q_proj.bias"),
        KBias => format!("{p}.self_attn.k_proj.bias"),
        VBias => format!("{p}.self_attn.v_proj.bias"),
        O => format!("{p}.self_attn.o_proj.weight"),
        MlpNorm => format!("{p}.post_attention_layernorm.weight"),
        Gate => format!("{p}.mlp.gate_proj.weight"),
        Up => format!("{p}.mlp.up_proj.weight"),
        Down => format!("{p}.mlp.down_proj.weight"),
    }
}

fn llada_layer(i: usize, t: LayerTensor) -> String {
    use LayerTensor::*;
    let p = format!("model.transformer.blocks.{i}");
    let name = match t {
        AttnNorm => "attn_norm",
        Q | QBias => "q_proj",
        K | KBias => "k_proj",
        V | VBias => "v_proj",
        O => "attn_out",
        MlpNorm => "ff_norm",
        Gate => "ff_proj",
        Up => "up_proj",
        Down => "ff_out",
    };
    let suffix = if matches!(t, QBias | KBias | VBias) {
        "bias"
    } else {
        "weight"
    };
    format!("{p}.{name}.{suffix}")
}

impl WeightNames {
    pub fn of(family: Family) -> Self {
        match family {
            Family::Dream => WeightNames {
                embed: "model.embed_tokens.weight".into(),
                final_norm: "model.norm.weight".into(),
                head: "lm_head.weight".into(),
                layer: dream_layer,
                layer_prefix: "model.layers.",
            },
            Family::Llada => WeightNames {
                embed: "model.transformer.wte.weight".into(),
                final_norm: "model.transformer.ln_f.weight".into(),
                head: "model.transformer.ff_out.weight".into(),
                layer: llada_layer,
                layer_prefix: "model.transformer.blocks.",
            },
        }
    }

    pub fn layer(&self, i: usize, t: LayerTensor) -> String {
        (self.layer)(i, t)
    }

    /// The layer a tensor name belongs to, if it names a layer's tensor.
    pub fn layer_index(&self, name: &str) -> Option<usize> {
        let rest = name.strip_prefix(self.layer_prefix)?;
        let (index, _) = rest.split_once('.')?;
        // Digits only: `usize::from_str` would also take a leading `+`.
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        index.parse().ok()
    }
}

/// Every tensor the config implies, with its expected shape.
pub(crate) fn tensor_specs(cfg: &ArchConfig) -> Vec<TensorSpec> {
    use LayerTensor::*;
    let names = WeightNames::of(cfg.family);
    let (h, i, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
    let q = cfg.num_heads * cfg.head_dim;
    let kv = cfg.num_kv_heads * cfg.head_dim;
    let mut specs = vec![
        TensorSpec {
            name: names.embed.clone(),
            shape: vec![v, h],
        },
        TensorSpec {
            name: names.final_norm.clone(),
            shape: vec![h],
        },
    ];
    if !cfg.tie_word_embeddings {
        specs.push(TensorSpec {
            name: names.head.clone(),
            shape: vec![v, h],
        });
    }
    for l in 0..cfg.num_layers {
        let mut layer = vec![
            (AttnNorm, vec![h]),
            (Q, vec![q, h]),
            (K, vec![kv, h]),
            (V, vec![kv, h]),
            (O, vec![h, q]),
            (MlpNorm, vec![h]),
            (Gate, vec![i, h]),
            (Up, vec![i, h]),
            (Down, vec![h, i]),
        ];
        if cfg.qkv_bias {
            layer.extend([(QBias, vec![q]), (KBias, vec![kv]), (VBias, vec![kv])]);
        }
        specs.extend(layer.into_iter().map(|(t, shape)| TensorSpec {
            name: names.layer(l, t),
            shape,
        }));
    }
    specs
}

/// One layer's weights. The query, key and value projections are fused into one matrix: one
/// product instead of three, which matters most for the small windows of cached steps, where a
/// product's dispatch costs about as much as its arithmetic. (Fusing the MLP's gate and up
/// projections too made the full pass slower: the halves of the fused output are strided, and
/// candle runs SiLU and the product on strided tensors on one thread.)
struct Layer {
    attn_norm: Tensor,
    qkv: Dense,
    o: Dense,
    mlp_norm: Tensor,
    gate: Dense,
    up: Dense,
    down: Dense,
}

/// Rotary angles for a set of positions, in the model's dtype.
pub(crate) struct Rotary {
    cos: Tensor,
    sin: Tensor,
}

/// Keys and values from a cache for one layer's rows to attend to, besides their own.
enum Past<'a> {
    /// Nothing: the rows are the whole sequence.
    None,
    /// Autoregressive decoding: the cached columns come before the rows.
    Before {
        keys: &'a Tensor,
        values: &'a Tensor,
    },
    /// A window of an approximate cache: the rows replace the cached columns at `columns`
    /// (`[1, kv_heads, rows, head_dim]` indices), whose copies are stale. With `in_place` the
    /// cached tensors themselves are overwritten (no copy of the whole cache per layer and step).
    Replacing {
        keys: &'a Tensor,
        values: &'a Tensor,
        columns: &'a Tensor,
        in_place: bool,
    },
}

pub struct Transformer {
    cfg: ArchConfig,
    dtype: DType,
    device: Device,
    embed: Tensor,
    layers: Vec<Layer>,
    final_norm: Tensor,
    /// The output head as stored, `[vocab, hidden]`: where the head is not on bf16 panels, a
    /// single row's product reads it fastest.
    head: Tensor,
    /// The same as a layer (see `Dense`): bf16 panels, or else transposed for several rows
    /// (1.8x faster over 8 rows and 1.1x over 33). Costs one more copy of the head in memory
    /// (in f32, 12.6 MB for the default model and 545 MB for a 0.5B one; half that in bf16).
    head_layer: Dense,
    inv_freq: Vec<f64>,
}

impl Transformer {
    /// Builds the model from named tensors (already checked against `tensor_specs`).
    pub(crate) fn from_tensors(
        cfg: ArchConfig,
        mut tensors: HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
        precision: ProductPrecision,
    ) -> Result<Self> {
        use LayerTensor::*;
        let names = WeightNames::of(cfg.family);
        // Every layer has tensors: never reserve more layers than there are tensors.
        let layer_room = cfg.num_layers.min(tensors.len());
        let mut take = |name: String| {
            tensors.remove(&name).ok_or(Error::MissingTensor {
                path: "<weights>".into(),
                name,
            })
        };
        let embed = take(names.embed.clone())?;
        let final_norm = take(names.final_norm.clone())?;
        let head = if cfg.tie_word_embeddings {
            embed.clone()
        } else {
            take(names.head.clone())?
        };
        let mut layers = Vec::with_capacity(layer_room);
        for l in 0..cfg.num_layers {
            // Bias tensors exist only for q, k and v, and only in configs that say so.
            let mut pair = |w: LayerTensor, b: Option<LayerTensor>| -> Result<_> {
                let weight = take(names.layer(l, w))?;
                let bias = match b {
                    Some(b) if cfg.qkv_bias => Some(take(names.layer(l, b))?),
                    _ => None,
                };
                Ok((weight, bias))
            };
            let (qkv_weights, qkv_biases): (Vec<Tensor>, Vec<Option<Tensor>>) =
                [(Q, QBias), (K, KBias), (V, VBias)]
                    .into_iter()
                    .map(|(w, b)| pair(w, Some(b)))
                    .collect::<Result<Vec<_>>>()?
                    .into_iter()
                    .unzip();
            let qkv = Dense::fused(&qkv_weights, &qkv_biases, precision)?;
            let mut lin = |w: LayerTensor| -> Result<Dense> {
                let (weight, bias) = pair(w, None)?;
                Dense::new(&weight, bias, precision)
            };
            let o = lin(O)?;
            let gate = lin(Gate)?;
            let up = lin(Up)?;
            let down = lin(Down)?;
            layers.push(Layer {
                attn_norm: take(names.layer(l, AttnNorm))?,
                qkv,
                o,
                mlp_norm: take(names.layer(l, MlpNorm))?,
                gate,
                up,
                down,
            });
        }
        let half = cfg.head_dim / 2;
        let inv_freq = (0..half)
            .map(|j| 1.0 / cfg.rope_theta.powf((2 * j) as f64 / cfg.head_dim as f64))
            .collect();
        Ok(Transformer {
            cfg,
            dtype,
            device: device.clone(),
            embed,
            layers,
            final_norm,
            head_layer: Dense::new(&head, None, precision)?,
            head,
            inv_freq,
        })
    }

    /// A model with random weights of the given shape (for benchmarks; not a usable model).
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
        use rand::{Rng, SeedableRng};
        let device = Device::Cpu;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let bound = 0.02 * 3f32.sqrt();
        let mut tensors = HashMap::new();
        for spec in tensor_specs(&cfg) {
            let n: usize = spec.shape.iter().product();
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

    pub fn config(&self) -> &ArchConfig {
        &self.cfg
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub(crate) fn rotary(&self, positions: &[usize]) -> Result<Rotary> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for &p in positions {
            for &f in &self.inv_freq {
                let angle = p as f64 * f;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let shape = (positions.len(), half);
        Ok(Rotary {
            cos: Tensor::from_vec(cos, shape, &self.device)?.to_dtype(self.dtype)?,
            sin: Tensor::from_vec(sin, shape, &self.device)?.to_dtype(self.dtype)?,
        })
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

    /// [`forward`](Self::forward) for one sequence that also returns every layer's keys and
    /// values, to be reused by [`forward_window`](Self::forward_window) in later steps.
    pub fn forward_caching(
        &self,
        tokens: &Tensor,
        positions: &[usize],
        head_rows: Option<&[usize]>,
    ) -> Result<(Tensor, KvCache)> {
        let mut cache = KvCache {
            layers: Vec::with_capacity(self.layers.len()),
            len: positions.len(),
        };
        let logits = self.forward_inner(tokens, positions, None, head_rows, Some(&mut cache))?;
        Ok((logits, cache))
    }

    /// One sequence, recomputing only the columns `window` (canvas columns, sorted, distinct) of
    /// a canvas whose keys and values from an earlier pass are in `cache`: the window's queries
    /// attend to the cached keys of every other column and to their own fresh keys (which
    /// replace the cached copies of the window's columns). Everything outside the window is seen as
    /// it was when the cache was made: this is the approximate KV cache of Fast-dLLM, exact when
    /// nothing outside the window changed since.
    ///
    /// `window_tokens` / `window_positions`: token and position id of each window column.
    /// `head_rows`: indices into the window. Returns logits `[1, rows, vocab]` and, when
    /// `update` is set, writes the window's fresh keys and values into the cache.
    pub fn forward_window(
        &self,
        cache: &mut KvCache,
        window: &[usize],
        window_tokens: &[u32],
        window_positions: &[usize],
        head_rows: &[usize],
        update: bool,
    ) -> Result<Tensor> {
        on_pool(|| {
            self.forward_window_here(
                cache,
                window,
                window_tokens,
                window_positions,
                head_rows,
                update,
            )
        })
    }

    fn forward_window_here(
        &self,
        cache: &mut KvCache,
        window: &[usize],
        window_tokens: &[u32],
        window_positions: &[usize],
        head_rows: &[usize],
        update: bool,
    ) -> Result<Tensor> {
        let m = window.len();
        if window_tokens.len() != m || window_positions.len() != m {
            return Err(Error::InvalidRequest(format!(
                "window of {m} columns with {} tokens and {} positions",
                window_tokens.len(),
                window_positions.len()
            )));
        }
        if let Some(&c) = window.iter().find(|&&c| c >= cache.len) {
            return Err(Error::InvalidRequest(format!(
                "window column {c} outside a cache of {}",
                cache.len
            )));
        }
        // Each fresh column replaces its cached copy: a repeated column would be written twice.
        if window.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::InvalidRequest(
                "window columns must be sorted and distinct".into(),
            ));
        }
        self.check_tokens(window_tokens)?;
        // The window's fresh keys and values take the place of their stale cached copies, so
        // the queries attend to exactly one copy of each column and need no mask.
        let (kv_heads, d) = (self.cfg.num_kv_heads, self.cfg.head_dim);
        let columns = Tensor::from_vec(
            window.iter().map(|&c| c as u32).collect::<Vec<_>>(),
            (1, 1, m, 1),
            &self.device,
        )?
        .broadcast_as((1, kv_heads, m, d))?
        .contiguous()?;
        let rotary = self.rotary(window_positions)?;
        let ids = Tensor::from_slice(window_tokens, m, &self.device)?;
        let mut x = self.embed.index_select(&ids, 0)?.reshape((1, m, ()))?;
        // With `update` each layer writes its fresh keys and values into the cache's own
        // tensors (`Past::Replacing { in_place }`); without, it attends to a copy.
        for (layer, (past_k, past_v)) in self.layers.iter().zip(&cache.layers) {
            let past = Past::Replacing {
                keys: past_k,
                values: past_v,
                columns: &columns,
                in_place: update,
            };
            x = self.layer_forward(layer, &x, &rotary, None, past)?.0;
        }
        self.head_logits(&x, Some(head_rows))
    }

    /// The autoregressive baseline on the same weights (benchmarks only): a causal pass over
    /// `tokens` `[1, seq]` that fills a cache, for [`forward_append`](Self::forward_append).
    pub fn forward_causal_caching(
        &self,
        tokens: &Tensor,
        positions: &[usize],
        head_rows: Option<&[usize]>,
    ) -> Result<(Tensor, KvCache)> {
        let seq = positions.len();
        // `attend` stacks the query heads that share a key head: rows are (head in group, i).
        let group = self.cfg.num_heads / self.cfg.num_kv_heads;
        let causal: Vec<f32> = (0..group * seq)
            .flat_map(|r| (0..seq).map(move |j| if j <= r % seq { 0.0 } else { f32::NEG_INFINITY }))
            .collect();
        let bias = Tensor::from_vec(causal, (1, 1, group * seq, seq), &self.device)?;
        let mut cache = KvCache {
            layers: Vec::with_capacity(self.layers.len()),
            len: seq,
        };
        let logits =
            self.run_layers(tokens, positions, Some(&bias), head_rows, Some(&mut cache))?;
        Ok((logits, cache))
    }

    /// One autoregressive decoding step: the token at `position` attends to the cache and to
    /// itself, and its keys and values are appended. Returns its logits `[1, 1, vocab]`.
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
        let rotary = self.rotary(&[position])?;
        let ids = Tensor::from_slice(&[token], 1, &self.device)?;
        let mut x = self.embed.index_select(&ids, 0)?.reshape((1, 1, ()))?;
        for (layer, (past_k, past_v)) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let past = Past::Before {
                keys: past_k,
                values: past_v,
            };
            let (next, k, v) = self.layer_forward(layer, &x, &rotary, None, past)?;
            x = next;
            (*past_k, *past_v) = (k, v);
        }
        cache.len += 1;
        self.head_logits(&x, None)
    }

    /// Logits `[rows.len(), vocab]` for the hidden states at `rows` of one canvas.
    pub fn logits_at(&self, canvas: &[u32], rows: &[usize]) -> Result<Tensor> {
        let t = Tensor::from_slice(canvas, (1, canvas.len()), &self.device)?;
        let all: Vec<usize> = (0..canvas.len()).collect();
        Ok(self.forward(&t, &all, None, Some(rows))?.squeeze(0)?)
    }

    /// [`logits_at`](Self::logits_at) through an approximate KV cache: with `cache` empty (or
    /// made for a canvas of another length) a full pass answers and fills it; otherwise only
    /// the columns in `window` and `rows` are recomputed (see
    /// [`forward_window`](Self::forward_window)), and their fresh keys and values are written
    /// back, so a column that leaves the window keeps what it last computed.
    pub fn logits_at_cached(
        &self,
        canvas: &[u32],
        rows: &[usize],
        window: &[usize],
        cache: &mut Option<KvCache>,
    ) -> Result<Tensor> {
        let Some(kv) = cache.as_mut().filter(|kv| kv.len() == canvas.len()) else {
            let t = Tensor::from_slice(canvas, (1, canvas.len()), &self.device)?;
            let all: Vec<usize> = (0..canvas.len()).collect();
            let (logits, kv) = self.forward_caching(&t, &all, Some(rows))?;
            *cache = Some(kv);
            return Ok(logits.squeeze(0)?);
        };
        let mut cols: Vec<usize> = window.iter().chain(rows).copied().collect();
        cols.sort_unstable();
        cols.dedup();
        if let Some(&c) = cols.iter().find(|&&c| c >= canvas.len()) {
            return Err(Error::InvalidRequest(format!(
                "window column {c} outside a canvas of {}",
                canvas.len()
            )));
        }
        let tokens: Vec<u32> = cols.iter().map(|&c| canvas[c]).collect();
        let head: Vec<usize> = rows
            .iter()
            .map(|r| cols.binary_search(r).expect("rows are in the window"))
            .collect();
        Ok(self
            .forward_window(kv, &cols, &tokens, &cols, &head, true)?
            .squeeze(0)?)
    }

    /// Keys and values for `new_tokens` made from a cache of `old_tokens` (the last request's
    /// canvas in the same document): the common prefix is kept, the common suffix is kept with
    /// its keys rotated to their new positions (rotary embeddings compose, so a shift by `d`
    /// is one more rotation by `d`), and the columns between are returned as stale, to be
    /// recomputed (see [`refresh_columns`](Self::refresh_columns)). `None` when less than
    /// half of the new canvas can be reused: a full pass is then as good.
    pub fn reuse_cache(
        &self,
        old: &KvCache,
        old_tokens: &[u32],
        new_tokens: &[u32],
    ) -> Result<Option<(KvCache, Vec<usize>)>> {
        if old.len != old_tokens.len() || new_tokens.len() > self.cfg.max_positions {
            return Ok(None);
        }
        let (old_len, new_len) = (old_tokens.len(), new_tokens.len());
        let prefix = old_tokens
            .iter()
            .zip(new_tokens)
            .take_while(|(a, b)| a == b)
            .count();
        let room = old_len.min(new_len) - prefix;
        let suffix = old_tokens
            .iter()
            .rev()
            .zip(new_tokens.iter().rev())
            .take(room)
            .take_while(|(a, b)| a == b)
            .count();
        if 2 * (prefix + suffix) < new_len {
            return Ok(None);
        }
        let stale: Vec<usize> = (prefix..new_len - suffix).collect();
        let delta = new_len as f64 - old_len as f64;
        let rotation = if suffix > 0 && delta != 0.0 {
            let half = self.inv_freq.len();
            let (mut cos, mut sin) = (Vec::with_capacity(half), Vec::with_capacity(half));
            for f in &self.inv_freq {
                cos.push((delta * f).cos() as f32);
                sin.push((delta * f).sin() as f32);
            }
            let row = |v: Vec<f32>| -> Result<Tensor> {
                Ok(Tensor::from_vec(v, (1, half), &self.device)?
                    .to_dtype(self.dtype)?
                    .repeat((suffix, 1))?)
            };
            Some((row(cos)?, row(sin)?))
        } else {
            None
        };
        let mut layers = Vec::with_capacity(old.layers.len());
        for (k, v) in &old.layers {
            let (b, h, _, d) = k.dims4()?;
            let gap = Tensor::zeros((b, h, stale.len(), d), k.dtype(), &self.device)?;
            let join = |t: &Tensor, rotate: bool| -> Result<Tensor> {
                let head = t.narrow(2, 0, prefix)?;
                let mut tail = t.narrow(2, old_len - suffix, suffix)?;
                if let (true, Some((cos, sin))) = (rotate, &rotation) {
                    tail = crate::kernels::rope::rope(&tail.contiguous()?, cos, sin)?;
                }
                Ok(Tensor::cat(&[&head, &gap, &tail], 2)?)
            };
            layers.push((join(k, true)?, join(v, false)?));
        }
        Ok(Some((
            KvCache {
                layers,
                len: new_len,
            },
            stale,
        )))
    }

    /// [`reuse_cache`](Self::reuse_cache), then the stale columns and those of `spans` are
    /// recomputed: a cache for `new_tokens`, and how many of its columns were reused. The spans'
    /// tokens are masks in both canvases, but their keys and values came from the old context,
    /// and a sampler in blocks would keep them until each block starts (warm 2-8 line answers
    /// came out shorter: ES 21.2 against 24.5 with them recomputed). A span is a few dozen columns.
    pub fn reuse_and_refresh(
        &self,
        old: &KvCache,
        old_tokens: &[u32],
        new_tokens: &[u32],
        spans: &[std::ops::Range<usize>],
    ) -> Result<Option<(KvCache, usize)>> {
        let Some((mut kv, mut stale)) = self.reuse_cache(old, old_tokens, new_tokens)? else {
            return Ok(None);
        };
        stale.extend(spans.iter().flat_map(|r| r.clone()));
        stale.sort_unstable();
        stale.dedup();
        self.refresh_columns(&mut kv, new_tokens, &stale)?;
        Ok(Some((kv, new_tokens.len() - stale.len())))
    }

    /// Recomputes the keys and values of `cols` of `canvas` against the rest of `cache`.
    pub fn refresh_columns(
        &self,
        cache: &mut KvCache,
        canvas: &[u32],
        cols: &[usize],
    ) -> Result<()> {
        if cols.is_empty() {
            return Ok(());
        }
        let tokens: Vec<u32> = cols.iter().map(|&c| canvas[c]).collect();
        self.forward_window(cache, cols, &tokens, cols, &[0], true)?;
        Ok(())
    }

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
        let rotary = self.rotary(positions)?;
        let mut x = self
            .embed
            .index_select(&tokens.flatten_all()?, 0)?
            .reshape((batch, seq, ()))?;
        for layer in &self.layers {
            let (next, k, v) = self.layer_forward(layer, &x, &rotary, bias, Past::None)?;
            x = next;
            if let Some(cache) = record.as_mut() {
                cache.layers.push((k, v));
            }
        }
        self.head_logits(&x, head_rows)
    }

    /// Final norm and output head on the chosen rows of `x` `[b, t, hidden]`.
    fn head_logits(&self, x: &Tensor, head_rows: Option<&[usize]>) -> Result<Tensor> {
        let x = match head_rows {
            Some(rows) => {
                let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
                let idx = Tensor::from_vec(idx, rows.len(), &self.device)?;
                x.index_select(&idx, 1)?
            }
            None => x.clone(),
        };
        let x = candle_nn::ops::rms_norm(
            &x.contiguous()?,
            &self.final_norm,
            self.cfg.rms_norm_eps as f32,
        )?;
        // Without panels a single row reads the head as stored (see `head_layer`).
        let one_row = x.dims().iter().rev().skip(1).product::<usize>() == 1;
        let logits = if one_row && !self.head_layer.on_panels() {
            x.broadcast_matmul(&self.head.t()?)?
        } else {
            self.head_layer.forward(&x)?
        };
        Ok(logits.to_dtype(DType::F32)?)
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

    /// One layer over the rows of `x`, with `past` keys and values as described there. Returns
    /// the output and the keys and values the rows attended to (for a cache to keep).
    fn layer_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        rotary: &Rotary,
        bias: Option<&Tensor>,
        past: Past,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let eps = self.cfg.rms_norm_eps as f32;
        let h = candle_nn::ops::rms_norm(x, &layer.attn_norm, eps)?;
        let (q, k, v) = self.project_qkv(layer, &h, rotary)?;
        let (k, v) = match past {
            Past::None => (k, v),
            Past::Before { keys, values } => {
                (Tensor::cat(&[keys, &k], 2)?, Tensor::cat(&[values, &v], 2)?)
            }
            Past::Replacing {
                keys,
                values,
                columns,
                in_place: true,
            } => {
                keys.scatter_set(columns, &k, 2)?;
                values.scatter_set(columns, &v, 2)?;
                (keys.clone(), values.clone())
            }
            Past::Replacing {
                keys,
                values,
                columns,
                in_place: false,
            } => (
                keys.scatter(columns, &k, 2)?,
                values.scatter(columns, &v, 2)?,
            ),
        };
        let attn = self.attend(&q, &k, &v, bias)?;
        let x = (x + layer.o.forward(&attn)?)?;
        let h = candle_nn::ops::rms_norm(&x, &layer.mlp_norm, eps)?;
        let mlp = layer
            .down
            .forward(&silu_mul(&layer.gate.forward(&h)?, &layer.up.forward(&h)?)?)?;
        Ok(((x + mlp)?, k, v))
    }

    /// Queries `[b, heads, t, d]` and rotated keys / values `[b, kv_heads, t, d]`.
    fn project_qkv(
        &self,
        layer: &Layer,
        h: &Tensor,
        rotary: &Rotary,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let (b, t, _) = h.dims3()?;
        let d = self.cfg.head_dim;
        let (nq, nkv) = (self.cfg.num_heads, self.cfg.num_kv_heads);
        // [b, t, (nq + 2 nkv) * d] -> [b, nq + 2 nkv, t, d]: each head's columns are one slice.
        let all = layer
            .qkv
            .forward(h)?
            .reshape((b, t, nq + 2 * nkv, d))?
            .transpose(1, 2)?;
        let heads =
            |from: usize, n: usize| -> Result<Tensor> { Ok(all.narrow(1, from, n)?.contiguous()?) };
        let q = heads(0, nq)?;
        let k = heads(nq, nkv)?;
        let v = heads(nq + nkv, nkv)?;
        let q = crate::kernels::rope::rope(&q, &rotary.cos, &rotary.sin)?;
        let k = crate::kernels::rope::rope(&k, &rotary.cos, &rotary.sin)?;
        Ok((q, k, v))
    }

    /// Full (non-causal) grouped-query attention; returns `[b, t, heads * d]`.
    ///
    /// Query heads that share a key/value head are stacked into one matrix, so keys and values
    /// are never copied per head.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let (b, heads, t, d) = q.dims4()?;
        let k = &k.contiguous()?;
        let v = &v.contiguous()?;
        if bias.is_none() {
            if let Some(out) = crate::kernels::attention::attend_cpu_f32(&q.contiguous()?, k, v) {
                return Ok(out?);
            }
        }
        let kv_heads = self.cfg.num_kv_heads;
        let group = heads / kv_heads;
        // Scaling the queries (t x d) is cheaper than scaling the scores (t x keys).
        let q = (q.reshape((b, kv_heads, group * t, d))? * (1.0 / (d as f64).sqrt()))?;
        let scores = q.matmul(&k.t()?)?.to_dtype(DType::F32)?;
        let scores = match bias {
            Some(bias) => scores.broadcast_add(bias)?,
            None => scores,
        };
        let probs = crate::kernels::softmax::softmax_last_dim(&scores)?.to_dtype(self.dtype)?;
        let out = probs.matmul(v)?.reshape((b, heads, t, d))?;
        Ok(out.transpose(1, 2)?.reshape((b, t, heads * d))?)
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
}

/// Keys and values of every layer for one canvas (`[1, kv_heads, len, head_dim]` each, keys
/// rotated), from [`Transformer::forward_caching`].
///
/// Not `Clone`: windows write into the tensors in place, and a clone would share their
/// storage. [`duplicate`](Self::duplicate) makes an independent copy.
#[derive(Debug)]
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
}

impl KvCache {
    /// A copy that owns its storage: later windows on either leave the other as it was.
    pub fn duplicate(&self) -> Result<KvCache> {
        let layers = self
            .layers
            .iter()
            .map(|(k, v)| Ok((k.copy()?, v.copy()?)))
            .collect::<Result<_>>()?;
        Ok(KvCache {
            layers,
            len: self.len,
        })
    }

    /// Canvas columns covered.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The dtype in which tensors are computed, chosen by the caller.
pub fn parse_dtype(name: &str) -> Option<DType> {
    match name {
        "f32" | "float32" => Some(DType::F32),
        "bf16" | "bfloat16" => Some(DType::BF16),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::max_diff;

    fn small() -> Transformer {
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

    fn cache_of(t: &Transformer, tokens: &[u32]) -> KvCache {
        let x = Tensor::from_slice(tokens, (1, tokens.len()), &Device::Cpu).unwrap();
        let all: Vec<usize> = (0..tokens.len()).collect();
        t.forward_caching(&x, &all, Some(&[0])).unwrap().1
    }

    #[test]
    fn reused_suffix_keys_are_rotated_to_their_new_positions() {
        // Layer 0's keys and values depend only on the token and its position, so after an
        // insertion the reused (rotated) suffix must equal a fresh computation exactly there.
        let t = small();
        let old: Vec<u32> = (0..40).map(|i| (i * 7 + 3) % 60 + 2).collect();
        let mut new = old.clone();
        new.insert(10, 5);
        new.insert(11, 9);
        let (reused, stale) = t
            .reuse_cache(&cache_of(&t, &old), &old, &new)
            .unwrap()
            .expect("most of the canvas is shared");
        assert_eq!(stale, vec![10, 11]);
        let fresh = cache_of(&t, &new);
        let (rk, rv) = &reused.layers[0];
        let (fk, fv) = &fresh.layers[0];
        for (what, r, f) in [("keys", rk, fk), ("values", rv, fv)] {
            let prefix = max_diff(&r.narrow(2, 0, 10).unwrap(), &f.narrow(2, 0, 10).unwrap());
            let suffix = max_diff(&r.narrow(2, 12, 30).unwrap(), &f.narrow(2, 12, 30).unwrap());
            assert!(prefix < 1e-5 && suffix < 1e-5, "{what}: {prefix} {suffix}");
        }
        // Deleting tokens shifts the other way.
        let shorter: Vec<u32> = old[..5].iter().chain(&old[8..]).copied().collect();
        let (reused, stale) = t
            .reuse_cache(&cache_of(&t, &old), &old, &shorter)
            .unwrap()
            .unwrap();
        assert!(stale.is_empty(), "{stale:?}");
        let fresh = cache_of(&t, &shorter);
        let d = max_diff(&reused.layers[0].0, &fresh.layers[0].0);
        assert!(d < 1e-5, "{d}");
    }

    #[test]
    fn a_window_writes_its_cache_in_place_and_leaves_a_duplicate_alone() {
        let t = small();
        let tokens: Vec<u32> = (0..20).map(|i| i % 60 + 2).collect();
        let mut cache = cache_of(&t, &tokens);
        let kept = cache.duplicate().unwrap();
        let before = cache.layers[1].0.copy().unwrap();
        t.forward_window(&mut cache, &[4, 5], &[7, 9], &[4, 5], &[0], true)
            .unwrap();
        // The windowed columns changed in the cache itself...
        let changed = |a: &Tensor| {
            max_diff(
                &a.narrow(2, 4, 2).unwrap(),
                &before.narrow(2, 4, 2).unwrap(),
            )
        };
        assert!(changed(&cache.layers[1].0) > 1e-4);
        // ...and nowhere else, and not in the duplicate.
        assert!(
            max_diff(
                &cache.layers[1].0.narrow(2, 6, 14).unwrap(),
                &before.narrow(2, 6, 14).unwrap()
            ) == 0.0
        );
        assert!(max_diff(&kept.layers[1].0, &before) == 0.0);
        // Without `update` neither the cache nor its tensors change.
        let after = cache.layers[1].0.copy().unwrap();
        t.forward_window(&mut cache, &[8], &[11], &[8], &[0], false)
            .unwrap();
        assert!(max_diff(&cache.layers[1].0, &after) == 0.0);
    }

    #[test]
    fn a_window_must_name_distinct_columns_in_order() {
        let t = small();
        let tokens: Vec<u32> = (0..20).map(|i| i % 60 + 2).collect();
        let mut cache = cache_of(&t, &tokens);
        for window in [[4usize, 4], [5, 4]] {
            let err = t
                .forward_window(&mut cache, &window, &[3, 3], &window, &[0], true)
                .unwrap_err();
            assert!(matches!(err, Error::InvalidRequest(_)), "{window:?}");
        }
        assert!(t
            .forward_window(&mut cache, &[4, 5], &[3, 3], &[4, 5], &[0], true)
            .is_ok());
    }

    #[test]
    fn a_canvas_that_shares_little_is_not_reused() {
        let t = small();
        let old: Vec<u32> = (0..40).map(|i| i % 60 + 2).collect();
        let new: Vec<u32> = (0..40).map(|i| (i * 11) % 60 + 2).collect();
        assert!(t
            .reuse_cache(&cache_of(&t, &old), &old, &new)
            .unwrap()
            .is_none());
    }
}
