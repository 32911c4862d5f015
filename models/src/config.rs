//! `config.json` → one architecture description for both checkpoint families.
//!
//! Dream-family checkpoints (Dream, DiffuCoder, Dream-Coder, Open-dCoder) use Qwen2 field and weight
//! names and predict token i from the hidden state at i-1; LLaDA uses OLMo field and weight names and
//! predicts at the same position. Everything else is one transformer.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// The checkpoint family: decides weight names, the logit shift and where config fields live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Qwen2 weight names, q/k/v biases, shifted logits.
    Dream,
    /// OLMo-style weight names, no biases, logits at the same position.
    Llada,
}

impl Family {
    /// Whether the token at position i is read from the logits at i-1.
    pub fn shifted_logits(self) -> bool {
        matches!(self, Family::Dream)
    }
}

/// Upper bounds on the sizes in `config.json`. The largest public checkpoints sit well inside
/// them (405B-class: 126 layers, hidden 16,384, MLP 53,248, 128 heads of 128; vocabularies to
/// ~260k; contexts to ~10M). A number beyond them is a damaged or hostile file, refused before
/// any list of layers or tensors is sized from it; they also keep every product of sizes far
/// below `usize::MAX`.
pub const MAX_LAYERS: usize = 1024;
pub const MAX_HIDDEN: usize = 65_536;
pub const MAX_INTERMEDIATE: usize = 262_144;
pub const MAX_HEADS: usize = 1024;
pub const MAX_HEAD_DIM: usize = 1024;
pub const MAX_VOCAB: usize = 4 * 1024 * 1024;
pub const MAX_POSITIONS: usize = 16 * 1024 * 1024;
pub const MAX_ROPE_THETA: f64 = 1e12;
/// An epsilon is added to a mean square of order one: anything above 1 is not an epsilon.
pub const MAX_RMS_NORM_EPS: f64 = 1.0;

/// The architecture, normalised over both families.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchConfig {
    pub family: Family,
    /// Rows of the embedding and output head (LLaDA may pad this beyond the tokenizer's size).
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub max_positions: usize,
    pub tie_word_embeddings: bool,
    pub qkv_bias: bool,
}

/// Special token ids named in `config.json` itself (the other files are consulted later).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigTokenIds {
    pub mask: Option<u32>,
    pub eos: Vec<u32>,
    pub pad: Option<u32>,
    pub bos: Option<u32>,
}

struct Fields<'a> {
    path: &'a Path,
    json: &'a Value,
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.json.get(key).filter(|v| !v.is_null())
    }

    /// A positive integer no larger than `limit`.
    fn size(&self, key: &str, limit: usize) -> Result<usize> {
        let v = self.get(key).ok_or_else(|| Error::MissingConfigField {
            path: self.path.to_path_buf(),
            field: key.to_string(),
        })?;
        let n = v
            .as_u64()
            .filter(|&n| n > 0)
            .ok_or_else(|| self.unsupported(key, v, "expected a positive integer"))?;
        if n > limit as u64 {
            return Err(out_of_range(self.path, key, n, limit));
        }
        Ok(n as usize)
    }

    fn size_or(&self, key: &str, default: usize, limit: usize) -> Result<usize> {
        match self.get(key) {
            Some(_) => self.size(key, limit),
            None => Ok(default),
        }
    }

    /// A positive finite number no larger than `limit`.
    fn f64_or(&self, key: &str, default: f64, limit: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite() && *x > 0.0 && *x <= limit)
                .ok_or_else(|| {
                    let reason = format!("expected a positive number up to {limit:e}");
                    self.unsupported(key, v, &reason)
                }),
        }
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.unsupported(key, v, "expected true or false")),
        }
    }

    /// Rejects a field whose value this engine does not implement, instead of ignoring it.
    fn require(&self, key: &str, ok: impl Fn(&Value) -> bool, reason: &str) -> Result<()> {
        match self.get(key) {
            Some(v) if !ok(v) => Err(self.unsupported(key, v, reason)),
            _ => Ok(()),
        }
    }

    fn unsupported(&self, key: &str, v: &Value, reason: &str) -> Error {
        Error::UnsupportedConfig {
            path: self.path.to_path_buf(),
            field: key.to_string(),
            value: v.to_string(),
            reason: reason.to_string(),
        }
    }

    fn token_id(&self, key: &str) -> Option<u32> {
        self.token_ids(key).into_iter().next()
    }

    /// `eos_token_id` may be one id or a list of them.
    fn token_ids(&self, key: &str) -> Vec<u32> {
        match self.get(key) {
            Some(Value::Number(n)) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_u64)
                .map(|n| n as u32)
                .collect(),
            _ => vec![],
        }
    }
}

fn out_of_range(path: &Path, field: &str, value: u64, limit: usize) -> Error {
    Error::ConfigOutOfRange {
        path: path.to_path_buf(),
        field: field.to_string(),
        value,
        limit: limit as u64,
    }
}

/// The `config.json` keys a family spells the sizes checked against the weights with, so an
/// error names the field the user would edit.
pub(crate) struct SizeKeys {
    pub vocab: &'static str,
    pub hidden: &'static str,
    pub layers: &'static str,
}

impl SizeKeys {
    pub(crate) fn of(family: Family, json: &Value) -> Self {
        match family {
            Family::Dream => SizeKeys {
                vocab: "vocab_size",
                hidden: "hidden_size",
                layers: "num_hidden_layers",
            },
            Family::Llada => SizeKeys {
                vocab: match json.get("embedding_size").filter(|v| !v.is_null()) {
                    Some(_) => "embedding_size",
                    None => "vocab_size",
                },
                hidden: "d_model",
                layers: "n_layers",
            },
        }
    }
}

/// Reads and parses a JSON file with errors that name it.
pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the special token ids a JSON file names (`config.json`, `generation_config.json`).
pub(crate) fn token_ids_in(path: &Path, json: &Value) -> ConfigTokenIds {
    let f = Fields { path, json };
    ConfigTokenIds {
        mask: f.token_id("mask_token_id"),
        eos: f.token_ids("eos_token_id"),
        pad: f.token_id("pad_token_id"),
        bos: f.token_id("bos_token_id"),
    }
}

/// Detects the family of a parsed `config.json`.
pub fn detect_family(path: &Path, json: &Value) -> Result<Family> {
    let model_type = json
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let archs: Vec<String> = json
        .get("architectures")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    let arch_has = |needle: &str| archs.iter().any(|a| a.contains(needle));
    if model_type == "llada" || arch_has("llada") {
        Ok(Family::Llada)
    } else if model_type == "dream" || arch_has("dream") || model_type == "qwen2" {
        // A plain causal Qwen2 checkpoint has no mask token and is rejected when its special
        // tokens are resolved; Qwen2-named diffusion checkpoints (Open-dCoder) load here.
        Ok(Family::Dream)
    } else {
        Err(Error::UnknownFamily {
            path: path.to_path_buf(),
            reason: format!("model_type {model_type:?}, architectures {archs:?}"),
        })
    }
}

impl ArchConfig {
    /// Parses `config.json` of either family and rejects fields this engine does not implement.
    pub fn from_json(path: &Path, json: &Value) -> Result<Self> {
        let family = detect_family(path, json)?;
        let f = Fields { path, json };
        let cfg = match family {
            Family::Dream => {
                f.require(
                    "hidden_act",
                    |v| v == "silu",
                    "only SiLU (SwiGLU) MLPs are implemented",
                )?;
                f.require("rope_scaling", |_| false, "rope scaling is not implemented")?;
                f.require(
                    "use_sliding_window",
                    |v| v == false,
                    "sliding-window attention is not implemented",
                )?;
                let hidden = f.size("hidden_size", MAX_HIDDEN)?;
                let heads = f.size("num_attention_heads", MAX_HEADS)?;
                ArchConfig {
                    family,
                    vocab_size: f.size("vocab_size", MAX_VOCAB)?,
                    hidden_size: hidden,
                    intermediate_size: f.size("intermediate_size", MAX_INTERMEDIATE)?,
                    num_layers: f.size("num_hidden_layers", MAX_LAYERS)?,
                    num_heads: heads,
                    num_kv_heads: f.size_or("num_key_value_heads", heads, MAX_HEADS)?,
                    head_dim: f.size_or("head_dim", hidden / heads, MAX_HEAD_DIM)?,
                    rms_norm_eps: f.f64_or("rms_norm_eps", 1e-6, MAX_RMS_NORM_EPS)?,
                    rope_theta: f.f64_or("rope_theta", 10_000.0, MAX_ROPE_THETA)?,
                    max_positions: f.size_or("max_position_embeddings", 32_768, MAX_POSITIONS)?,
                    tie_word_embeddings: f.bool_or("tie_word_embeddings", false)?,
                    qkv_bias: true,
                }
            }
            Family::Llada => {
                f.require(
                    "activation_type",
                    |v| v == "silu",
                    "only SiLU (SwiGLU) MLPs are implemented",
                )?;
                f.require(
                    "block_type",
                    |v| v == "llama",
                    "only LLaMA-style blocks are implemented",
                )?;
                f.require(
                    "layer_norm_type",
                    |v| v == "rms",
                    "only RMSNorm is implemented",
                )?;
                f.require(
                    "include_bias",
                    |v| v == false,
                    "biases in LLaDA blocks are not implemented",
                )?;
                f.require("alibi", |v| v == false, "ALiBi is not implemented")?;
                f.require(
                    "rope",
                    |v| v == true,
                    "only rotary positions are implemented",
                )?;
                f.require(
                    "attention_layer_norm",
                    |v| v == false,
                    "query/key norms are not implemented",
                )?;
                f.require(
                    "scale_logits",
                    |v| v == false,
                    "logit scaling is not implemented",
                )?;
                f.require("clip_qkv", |_| false, "q/k/v clipping is not implemented")?;
                f.require(
                    "input_emb_norm",
                    |v| v == false,
                    "input embedding norm is not implemented",
                )?;
                let hidden = f.size("d_model", MAX_HIDDEN)?;
                let heads = f.size("n_heads", MAX_HEADS)?;
                let vocab = match f.get("embedding_size") {
                    Some(_) => f.size("embedding_size", MAX_VOCAB)?,
                    None => f.size("vocab_size", MAX_VOCAB)?,
                };
                ArchConfig {
                    family,
                    vocab_size: vocab,
                    hidden_size: hidden,
                    intermediate_size: f.size("mlp_hidden_size", MAX_INTERMEDIATE)?,
                    num_layers: f.size("n_layers", MAX_LAYERS)?,
                    num_heads: heads,
                    num_kv_heads: f.size_or("n_kv_heads", heads, MAX_HEADS)?,
                    head_dim: hidden / heads,
                    rms_norm_eps: f.f64_or("rms_norm_eps", 1e-5, MAX_RMS_NORM_EPS)?,
                    rope_theta: f.f64_or("rope_theta", 10_000.0, MAX_ROPE_THETA)?,
                    max_positions: f.size_or("max_sequence_length", 4096, MAX_POSITIONS)?,
                    tie_word_embeddings: f.bool_or("weight_tying", false)?,
                    qkv_bias: false,
                }
            }
        };
        cfg.validate(path)?;
        Ok(cfg)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, value: usize, reason: &str| Error::UnsupportedConfig {
            path: path.to_path_buf(),
            field: field.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(bad(
                "num_key_value_heads",
                self.num_kv_heads,
                "must divide the number of heads",
            ));
        }
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) {
            return Err(bad(
                "head_dim",
                self.head_dim,
                "rotary positions need an even, positive head size",
            ));
        }
        // Derived from the hidden size when the config does not give it.
        if self.head_dim > MAX_HEAD_DIM {
            return Err(out_of_range(
                path,
                "head_dim",
                self.head_dim as u64,
                MAX_HEAD_DIM,
            ));
        }
        // Within the bounds this cannot fail on 64 bits; on 32 it can, and must not wrap.
        if self.checked_parameter_count().is_none() {
            return Err(bad(
                "num_hidden_layers",
                self.num_layers,
                "the model's size overflows this machine's address space",
            ));
        }
        Ok(())
    }

    /// Parameters, for reports and memory estimates (`usize::MAX` if they overflow it).
    pub fn parameter_count(&self) -> usize {
        self.checked_parameter_count().unwrap_or(usize::MAX)
    }

    /// Parameters, or `None` when counting them overflows.
    pub fn checked_parameter_count(&self) -> Option<usize> {
        let (h, i, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let mul = |a: usize, b: usize| a.checked_mul(b);
        let sum = |terms: &[usize]| terms.iter().try_fold(0usize, |a, &b| a.checked_add(b));
        let q = mul(self.num_heads, self.head_dim)?;
        let kv = mul(self.num_kv_heads, self.head_dim)?;
        let bias = if self.qkv_bias { sum(&[q, kv, kv])? } else { 0 };
        let (hq, hkv, hi) = (mul(h, q)?, mul(h, kv)?, mul(h, i)?);
        let layer = sum(&[hq, hkv, hkv, hq, bias, hi, hi, hi, h, h])?;
        let embed = mul(v, h)?;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        sum(&[embed, mul(self.num_layers, layer)?, h, head])
    }

    /// FLOPs of one forward pass over `seq` tokens with the output head on `head_rows` rows
    /// (matmuls only: projections, MLP, attention scores and weighted values, head), for
    /// benchmarks that report GFLOP/s against the machine's matmul ceiling.
    pub fn forward_flops(&self, seq: usize, head_rows: usize) -> f64 {
        self.window_flops(seq, seq, head_rows)
    }

    /// FLOPs of a pass over `cols` columns whose queries attend to `keys` keys (a cached step:
    /// the window against the whole canvas; an autoregressive step: one column against its
    /// prefix), with the output head on `head_rows` rows. Matmuls only, as `forward_flops`.
    pub fn window_flops(&self, cols: usize, keys: usize, head_rows: usize) -> f64 {
        let (h, i) = (self.hidden_size as f64, self.intermediate_size as f64);
        let q = self.num_heads as f64 * self.head_dim as f64;
        let kv = self.num_kv_heads as f64 * self.head_dim as f64;
        let c = cols as f64;
        let proj = 2.0 * c * (h * q + 2.0 * h * kv + q * h + 3.0 * h * i);
        let attn = 2.0 * 2.0 * c * keys as f64 * q;
        let head = 2.0 * head_rows as f64 * h * self.vocab_size as f64;
        self.num_layers as f64 * (proj + attn) + head
    }

    /// Bytes a pass must read at least once: the layers' weights, the output head when any
    /// row asks for logits, and the keys and values of `keys` cached columns, at
    /// `bytes_per_value` (4 for f32). The floor of a pass that is memory-bound.
    /// In f64, which is exact below 2^53 and cannot overflow for any config.
    pub fn pass_bytes(&self, keys: usize, head: bool, bytes_per_value: usize) -> f64 {
        let (h, i) = (self.hidden_size as f64, self.intermediate_size as f64);
        let q = self.num_heads as f64 * self.head_dim as f64;
        let kv = self.num_kv_heads as f64 * self.head_dim as f64;
        let layers = self.num_layers as f64;
        let layer = h * q + 2.0 * h * kv + q * h + 3.0 * h * i;
        let head = if head {
            self.vocab_size as f64 * h
        } else {
            0.0
        };
        let cache = layers * 2.0 * keys as f64 * kv;
        (layers * layer + head + cache) * bytes_per_value as f64
    }

    /// A Qwen2.5-0.5B-shaped Dream config (Open-dCoder's shape), used by benchmarks.
    pub fn qwen2_5_0_5b() -> Self {
        ArchConfig {
            family: Family::Dream,
            vocab_size: 151_936,
            hidden_size: 896,
            intermediate_size: 4864,
            num_layers: 24,
            num_heads: 14,
            num_kv_heads: 2,
            head_dim: 64,
            rms_norm_eps: 1e-6,
            rope_theta: 1_000_000.0,
            max_positions: 32_768,
            tie_word_embeddings: true,
            qkv_bias: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_costs_add_up() {
        let cfg = ArchConfig::qwen2_5_0_5b();
        // A full pass is a window of every column against every column.
        assert_eq!(cfg.forward_flops(100, 3), cfg.window_flops(100, 100, 3));
        // Linear in the columns at a fixed number of keys; the head costs per row.
        let one = cfg.window_flops(1, 500, 0);
        assert!((cfg.window_flops(8, 500, 0) - 8.0 * one).abs() < 1.0);
        let head = cfg.window_flops(1, 500, 1) - one;
        assert_eq!(head, 2.0 * 896.0 * 151_936.0);
        // Per column, without attention, two FLOPs per weight of the layers.
        let per_column = cfg.window_flops(1, 0, 0);
        let weights = cfg.pass_bytes(0, false, 1);
        assert_eq!(per_column, 2.0 * weights);
        // Weights and head are the whole model but its norms and biases (tied embedding).
        let all = cfg.pass_bytes(0, true, 1);
        let params = cfg.parameter_count() as f64;
        assert!(all <= params && all > 0.999 * params, "{all} of {params}");
        // The cache: keys and values of every layer, at 4 bytes each in f32.
        let cache = cfg.pass_bytes(10, false, 4) - cfg.pass_bytes(0, false, 4);
        assert_eq!(cache, (24 * 2 * 10 * 128 * 4) as f64);
    }
}
