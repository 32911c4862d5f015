//! `config.json` → one architecture description for both checkpoint families.
//!
//! Dream-family checkpoints (Dream, DiffuCoder, Dream-Coder, Open-dCoder) use Qwen2 field and
//! weight names and predict token i from the hidden state at i-1; LLaDA uses OLMo field and
//! weight names and predicts at the same position. Everything else is one transformer.

mod cost;
mod families;
mod fields;

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use fields::{out_of_range, Fields};

pub use families::detect_family;
pub(crate) use families::SizeKeys;
pub use fields::ConfigTokenIds;
pub(crate) use fields::{read_json, token_ids_in};

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

impl ArchConfig {
    /// Parses `config.json` of either family and rejects fields this engine does not implement.
    pub fn from_json(path: &Path, json: &Value) -> Result<Self> {
        let f = Fields { path, json };
        let cfg = match detect_family(path, json)? {
            Family::Dream => families::dream(&f)?,
            Family::Llada => families::llada(&f)?,
        };
        cfg.validate(path)?;
        Ok(cfg)
    }

    pub(crate) fn validate(&self, path: &Path) -> Result<()> {
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
