//! How each checkpoint family spells its `config.json`: which family a config is, the fields
//! it must not set (features this engine does not implement), and where its sizes live.

use std::path::Path;

use serde_json::Value;

use super::fields::{Expect, Fields, Rule};
use super::{
    ArchConfig, Family, MAX_HEADS, MAX_HEAD_DIM, MAX_HIDDEN, MAX_INTERMEDIATE, MAX_LAYERS,
    MAX_POSITIONS, MAX_RMS_NORM_EPS, MAX_ROPE_THETA, MAX_VOCAB,
};
use crate::error::{Error, Result};

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

const SWIGLU_ONLY: &str = "only SiLU (SwiGLU) MLPs are implemented";

const DREAM_RULES: &[Rule] = &[
    ("hidden_act", Expect::Str("silu"), SWIGLU_ONLY),
    (
        "rope_scaling",
        Expect::Absent,
        "rope scaling is not implemented",
    ),
    (
        "use_sliding_window",
        Expect::Bool(false),
        "sliding-window attention is not implemented",
    ),
];

const LLADA_RULES: &[Rule] = &[
    ("activation_type", Expect::Str("silu"), SWIGLU_ONLY),
    (
        "block_type",
        Expect::Str("llama"),
        "only LLaMA-style blocks are implemented",
    ),
    (
        "layer_norm_type",
        Expect::Str("rms"),
        "only RMSNorm is implemented",
    ),
    (
        "include_bias",
        Expect::Bool(false),
        "biases in LLaDA blocks are not implemented",
    ),
    ("alibi", Expect::Bool(false), "ALiBi is not implemented"),
    (
        "rope",
        Expect::Bool(true),
        "only rotary positions are implemented",
    ),
    (
        "attention_layer_norm",
        Expect::Bool(false),
        "query/key norms are not implemented",
    ),
    (
        "scale_logits",
        Expect::Bool(false),
        "logit scaling is not implemented",
    ),
    (
        "clip_qkv",
        Expect::Absent,
        "q/k/v clipping is not implemented",
    ),
    (
        "input_emb_norm",
        Expect::Bool(false),
        "input embedding norm is not implemented",
    ),
];

/// A Dream-family config (Qwen2 field names).
pub(super) fn dream(f: &Fields) -> Result<ArchConfig> {
    f.require_all(DREAM_RULES)?;
    let hidden = f.size("hidden_size", MAX_HIDDEN)?;
    let heads = f.size("num_attention_heads", MAX_HEADS)?;
    Ok(ArchConfig {
        family: Family::Dream,
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
    })
}

/// A LLaDA config (OLMo field names).
pub(super) fn llada(f: &Fields) -> Result<ArchConfig> {
    f.require_all(LLADA_RULES)?;
    let hidden = f.size("d_model", MAX_HIDDEN)?;
    let heads = f.size("n_heads", MAX_HEADS)?;
    let vocab = match f.get("embedding_size") {
        Some(_) => f.size("embedding_size", MAX_VOCAB)?,
        None => f.size("vocab_size", MAX_VOCAB)?,
    };
    Ok(ArchConfig {
        family: Family::Llada,
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
    })
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
